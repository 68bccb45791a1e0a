/* access internals shared by the module's files: the module's state. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/access/access.h"

struct vigild;

struct access {
        struct vigild *d;
        pthread_mutex_t lock;           /* guards asked, built, stop */
        pthread_cond_t cond;            /* signalled on every change of them */
        uint64_t asked;                 /* changes signalled */
        uint64_t built;                 /* changes in the live snapshot */
        bool stop;
};
