/* events_cmd: being written */
