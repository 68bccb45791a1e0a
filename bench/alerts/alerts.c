/* bench-alerts: what vigild's alert intake can do. Starts a fresh vigild
 * (the integration tests' harness: VIGILD names the binary), enrolls D
 * devices, then:
 *
 * 1. throughput: T threads, each one device on its own mTLS connection,
 *    upload batches of K new alerts for S seconds; prints alerts committed
 *    per second (each answered 200 only after its commit);
 *    with --suppressions R, R enabled suppression rules that match none of
 *    these alerts are made first, so every new alert is tried against all;
 * 2. latency: N times, one new high alert is uploaded to a device whose risk
 *    is none, then the device is read through the admin API until its risk is
 *    high; prints p50/p99 of upload-to-risk-visible, then resolves the alert.
 *
 * The time from an alert raised on the agent to the upload is the agent's
 * side (bench figure of tests/integration/alerts-uplink.sh). Prints figures;
 * exits 1 only if the benchmark could not run. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "tests/integration/harness.h"
#include "util/strutil.h"

#define THREADS_MAX 64

static struct harness H;

struct dev {
        char id[40];
        struct httpc *c;
        pthread_t thread;
        uint64_t committed;
        int batch, seconds;
        int failed;
};

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int enroll(struct dev *d, int n)
{
        char *key = NULL, *csr = NULL, *body = NULL, certp[400], keyp[400], name[64];
        struct httpc_options o = { 0 };
        size_t kl, cl;
        json_t *j = NULL, *req = NULL;
        int r = -1;

        if (harness_admin(&H, "POST", "/api/v1/onboarding-packages", NULL, "{\"uses\":1}", &j) != 201 ||
            crypto_key_generate(&key, &kl) < 0 || crypto_csr_create(key, kl, "bench", &csr, &cl) < 0)
                goto out;
        req = json_pack("{s:s,s:s}", "token", json_string_value(json_object_get(json_object_get(j, "package"),
                        "enrollment_token")), "csr", csr);
        body = json_dumps(req, JSON_COMPACT);
        json_decref(j);
        j = NULL;
        if (harness_admin(&H, "POST", "/agent/v1/enroll", "", body, &j) != 201)
                goto out;
        snprintf(d->id, sizeof(d->id), "%s", json_string_value(json_object_get(j, "device_id")));
        snprintf(name, sizeof(name), "d%d.pem", n);
        harness_write(&H, name, json_string_value(json_object_get(j, "certificate")), certp, sizeof(certp));
        snprintf(name, sizeof(name), "d%d.key", n);
        harness_write(&H, name, key, keyp, sizeof(keyp));
        o.ca_file = H.ca;
        o.cert_file = certp;
        o.key_file = keyp;
        r = httpc_new(H.url, &o, &d->c);
out:
        json_decref(j);
        json_decref(req);
        free(body);
        free(key);
        free(csr);
        return r;
}

static json_t *alert(const char *severity)
{
        char id[37];

        crypto_uuid4(id);
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:s,s:s,s:s,s:i,s:{s:i,s:i},"
                         "s:{s:i,s:s,s:s},s:{s:s,s:s}}",
                         "change", "new", "id", id, "rule_id", "bench-rule", "title", "Bench alert",
                         "source", "sigma", "severity", severity, "rule_level", severity, "techniques", "T1059.004",
                         "tactics", "execution", "category", "process_creation",
                         "first_seen", "2026-11-30T03:32:53.828575511Z", "last_seen", "2026-11-30T03:32:53.828575511Z",
                         "count", 1, "tree", "pid", 10, "start_ticks", 5, "process", "pid", 11, "image",
                         "/usr/bin/bash", "command_line", "bash -c 'echo bench'", "event", "EventType",
                         "process_exec", "Image", "/usr/bin/bash");
}

static long post(struct dev *d, json_t *alerts, json_t **ret)
{
        json_t *b = json_pack("{s:o}", "alerts", alerts);
        char *text = json_dumps(b, JSON_COMPACT), err[256];
        json_t *resp = NULL;
        long st = -1;

        if (httpc_request(d->c, "POST", "/agent/v1/alerts", NULL, text, strlen(text), &st, &resp, err,
                          sizeof(err)) < 0)
                st = -1;
        if (ret)
                *ret = resp;
        else
                json_decref(resp);
        free(text);
        json_decref(b);
        return st;
}

static void *uploader(void *arg)
{
        struct dev *d = arg;
        double end = now_ms() + d->seconds * 1e3;

        while (now_ms() < end) {
                json_t *arr = json_array();
                for (int i = 0; i < d->batch; i++)
                        json_array_append_new(arr, alert("low"));
                if (post(d, arr, NULL) != 200) {
                        d->failed++;
                        continue;
                }
                d->committed += (uint64_t)d->batch;
        }
        return NULL;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static int latency(struct dev *d, int n)
{
        double *t = calloc((size_t)n, sizeof(double));
        char path[128], body[256];

        if (!t)
                return -1;
        snprintf(path, sizeof(path), "/api/v1/devices/%s", d->id);
        snprintf(body, sizeof(body), "{\"device_id\":\"%s\",\"comment\":\"bench\"}", d->id);
        for (int i = 0; i < n; i++) {
                double t0 = now_ms();
                json_t *j = NULL;
                bool high = false;

                if (post(d, json_pack("[o]", alert("high")), NULL) != 200)
                        goto fail;
                while (!high) {
                        if (harness_admin(&H, "GET", path, NULL, NULL, &j) != 200)
                                goto fail;
                        high = strcmp(json_string_value(json_object_get(j, "risk_level")), "high") == 0;
                        json_decref(j);
                }
                t[i] = now_ms() - t0;
                if (harness_admin(&H, "POST", "/api/v1/alerts/resolve", NULL, body, NULL) != 200)
                        goto fail;
        }
        qsort(t, (size_t)n, sizeof(double), cmp);
        printf("latency: upload of a high alert until the device's risk reads high, %d trials: "
               "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", n, t[n / 2], t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1],
               t[n - 1]);
        free(t);
        return 0;
fail:
        free(t);
        return -1;
}

/* n enabled rules, each failing on its image glob only after a scan. */
static int suppressions_create(int n)
{
        char body[256];

        for (int i = 0; i < n; i++) {
                snprintf(body, sizeof(body), "{\"name\":\"bench %d\",\"comment\":\"bench\",\"conditions\":"
                         "{\"image\":\"*/bench-nomatch-%d\",\"command_line\":\"*\"}}", i, i);
                if (harness_admin(&H, "POST", "/api/v1/suppressions", NULL, body, NULL) != 201)
                        return -1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "threads", required_argument, NULL, 't' }, { "batch", required_argument, NULL, 'b' },
                { "seconds", required_argument, NULL, 's' }, { "trials", required_argument, NULL, 'n' },
                { "suppressions", required_argument, NULL, 'r' }, { 0 } };
        struct dev devs[THREADS_MAX + 1] = { 0 };
        int threads = 8, batch = 100, seconds = 10, trials = 200, rules = 0, opt, r = 1;
        uint64_t total = 0, failed = 0;
        double t0, el;

        while ((opt = getopt_long(argc, argv, "t:b:s:n:r:", opts, NULL)) != -1) {
                int v = (int)strtol(optarg, NULL, 10);
                if (opt == 't' && v >= 1 && v <= THREADS_MAX) threads = v;
                else if (opt == 'b' && v >= 1 && v <= 500) batch = v;
                else if (opt == 's' && v >= 1) seconds = v;
                else if (opt == 'n' && v >= 1) trials = v;
                else if (opt == 'r' && v >= 0 && v <= 1000) rules = v;
                else {
                        fprintf(stderr, "usage: bench-alerts [--threads 1-64] [--batch 1-500] [--seconds S] [--trials N] "
                                "[--suppressions 0-1000]\n");
                        return 2;
                }
        }
        if (harness_start(&H, NULL) < 0)
                return 1;
        for (int i = 0; i <= threads; i++)
                if (enroll(&devs[i], i) < 0) {
                        fprintf(stderr, "bench-alerts: enrollment failed\n");
                        goto out;
                }
        if (suppressions_create(rules) < 0) {
                fprintf(stderr, "bench-alerts: cannot create the suppression rules\n");
                goto out;
        }
        t0 = now_ms();
        for (int i = 0; i < threads; i++) {
                devs[i].batch = batch;
                devs[i].seconds = seconds;
                pthread_create(&devs[i].thread, NULL, uploader, &devs[i]);
        }
        for (int i = 0; i < threads; i++) {
                pthread_join(devs[i].thread, NULL);
                total += devs[i].committed;
                failed += (uint64_t)devs[i].failed;
        }
        el = (now_ms() - t0) / 1e3;
        printf("throughput: %d devices uploading batches of %d, %d suppression rules: %" PRIu64 " alerts committed "
               "in %.1f s = %.0f alerts/s (%" PRIu64 " failed requests)\n", threads, batch, rules, total, el, total / el,
               failed);
        r = latency(&devs[threads], trials) < 0 ? 1 : 0;
out:
        for (int i = 0; i <= threads; i++)
                httpc_free(devs[i].c);
        harness_stop(&H);
        return r;
}
