/* evsrc_cnproc: being written */
