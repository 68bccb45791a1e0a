/* event_json: being written */
