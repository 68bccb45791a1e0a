/* proctable: being written */
