/* bench-suppress-match: what defend's suppression matching costs per alert.
 * Stores R rules in an in-memory database through defend's own tables,
 * compiles them as vigild does at start (defend_suppress_open), then times
 * defend_suppress_match() on one alert that none of them matches, for two
 * sets: (1) rules whose image glob's literal tail differs from the alert's
 * image (the usual case: turned away without running the glob); (2) rules
 * whose command-line glob shares the alert's literal head and tail, so that
 * each glob runs in full (the worst case). Prints µs per alert.
 *
 * Usage: bench-suppress-match [RULES (1-1000, default 1000)] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/db/db.h"
#include "server/defend/defend-internal.h"
#include "server/vigild.h"

/* n rules of the usual (full false) or the worst kind (full true). */
static int rules_store(struct vigild *d, int n, bool full)
{
        char id[48], cond[160];
        int r = 0;

        db_lock(d->db);
        db_exec(d->db, "DELETE FROM defend_suppressions");
        for (int i = 0; i < n && r == 0; i++) {
                snprintf(id, sizeof(id), "bench-%d", i);
                if (full)
                        snprintf(cond, sizeof(cond), "{\"command_line\":\"bash -c *nomatch-%d*'\"}", i);
                else
                        snprintf(cond, sizeof(cond), "{\"image\":\"*/bench-nomatch-%d\",\"command_line\":\"*\"}", i);
                r = db_exec_params(d->db, "INSERT INTO defend_suppressions (id, name, comment, enabled, conditions, "
                                   "created_at, created_by, created_by_name, updated_at, updated_by, updated_by_name) "
                                   "VALUES ($1, $1, 'bench', 1, $2, 0, '', '', 0, '', '')",
                                   DB_PARAMS(db_param_text(id, strlen(id)), db_param_text(cond, strlen(cond))));
        }
        db_unlock(d->db);
        defend_suppress_close(d);
        return r < 0 ? r : defend_suppress_open(d);
}

static double time_match(struct vigild *d, const json_t *alert, int loops)
{
        struct defend_suppress_device dev = { .device_id = "6d1e068f-a298-449c-ae65-efd4002fd234" };
        struct timespec t0, t1;
        int hits = 0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < loops; i++)
                hits += defend_suppress_match(d, &dev, alert, 1) != NULL;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (hits)
                fprintf(stderr, "bench-suppress-match: %d unexpected matches\n", hits);
        return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / loops / 1e3;
}

int main(int argc, char **argv)
{
        struct vigild d = { 0 };
        int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000, r;
        json_t *alert;

        if (n < 1 || n > DEFEND_SUPPRESSIONS_MAX) {
                fprintf(stderr, "usage: bench-suppress-match [RULES (1-%d)]\n", DEFEND_SUPPRESSIONS_MAX);
                return 2;
        }
        r = db_open(":memory:", &d.db);
        if (r == 0)
                r = defend_migrate(&d);
        if (r == 0)
                r = rules_store(&d, n, false);
        if (r < 0) {
                fprintf(stderr, "bench-suppress-match: cannot set up: %s\n", strerror(-r));
                return 1;
        }
        alert = json_pack("{s:s,s:{s:s,s:s}}", "rule_id", "r1", "process", "image", "/usr/bin/bash",
                          "command_line", "bash -c 'for i in 1 2 3; do echo $i; done'");
        printf("%d rules turned away on the image glob's tail: %.1f us per alert\n", n, time_match(&d, alert, 20000));
        r = rules_store(&d, n, true);
        if (r == 0)
                printf("%d rules whose command-line glob runs in full: %.1f us per alert\n", n,
                       time_match(&d, alert, 2000));
        json_decref(alert);
        defend_suppress_close(&d);
        db_close(d.db);
        return r < 0 ? 1 : 0;
}
