/* access snapshot: what the decision endpoint answers from, and the thread
 * that rebuilds it when something it holds changes. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "server/access/access-internal.h"
#include "server/vigild.h"

void access_changed(struct vigild *d)
{
        struct access *a = d->access;

        if (!a)
                return;
        pthread_mutex_lock(&a->lock);
        a->asked++;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
}

bool access_settle(struct vigild *d, unsigned timeout_ms)
{
        struct access *a = d->access;
        struct timespec until;
        bool done;
        int r = 0;

        if (!a)
                return true;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&a->lock);
        uint64_t want = a->asked;
        while (a->built < want && !a->stop && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&a->cond, &a->lock, &until);
        done = a->built >= want;
        pthread_mutex_unlock(&a->lock);
        return done;
}
