/* procfs: being written */
