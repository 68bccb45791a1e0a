/* detect_cmd: the detection commands of vigil-agent.
 *
 *   detect      the sensor, the process table and detection; alerts as JSON
 *               lines (or text) on stdout, what runs on stderr
 *   scan-rules  loads rules and says what loaded, what was rejected and why
 *   test-rules  runs rules over recorded events (JSON lines) and prints the
 *               matches, for data-driven tests
 *
 * Also the detection set-up that `run` shares (agent_detect_setup).
 * docs/DETECTION.md is the user's view. */
#include "agent/src/agent.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/src/detect.h"
#include "agent/src/pipeline.h"
#include "util/strutil.h"

#define EVENT_LINE_MAX (1u << 20)       /* bytes of one recorded event */

static atomic_int stop_signal;      /* lock-free: set by the signal handler */

static void on_stop(int sig)
{
        atomic_store(&stop_signal, sig);
}

/* ---- set-up shared with run ---- */

static void log_diag(const struct sigma_diag *diag, void *userdata)
{
        if (diag->status != SIGMA_REJECTED)
                return;
        if (diag->line)
                agent_log("warning", "rule rejected: %s:%u: %s", diag->file, diag->line, diag->reason);
        else
                agent_log("warning", "rule rejected: %s: %s", diag->file, diag->reason);
}

/* "process_creation 3, network_connection 1, ..." */
static void categories_format(const struct detect_load_stats *st, char *buf, size_t size)
{
        size_t n = 0;

        buf[0] = '\0';
        for (int c = 0; c < EVENT_CATEGORY_COUNT && n < size; c++) {
                int k = snprintf(buf + n, size - n, "%s%s %llu", c ? ", " : "", event_category_names[c],
                                 (unsigned long long)st->loaded_by_category[c]);
                if (k < 0)
                        break;
                n += (size_t)k;
        }
}

int agent_detect_setup(const char *const *rules, size_t n_rules, detect_alert_fn fn, void *userdata,
                       struct detect **ret)
{
        static const char *const dflt[] = { VIGIL_RULES_DIR };
        struct detect_config cfg = {
                .rule_paths = rules, .n_rule_paths = n_rules, .diag_fn = log_diag,
                .alert_fn = fn, .alert_userdata = userdata,
        };
        struct detect_stats st;
        struct stat sb;
        char err[512], cats[256];
        int r;

        if (n_rules == 0) {
                cfg.rule_paths = dflt;
                cfg.n_rule_paths = 1;
                if (stat(VIGIL_RULES_DIR, &sb) < 0) {
                        agent_log("warning", "no rules at '%s' (%s); only the built-in detectors run",
                                  VIGIL_RULES_DIR, strerror(errno));
                        cfg.n_rule_paths = 0;
                }
        }
        r = detect_new(&cfg, ret, err, sizeof(err));
        if (r < 0) {
                agent_log("error", "%s", err);
                return r;
        }
        detect_stats_get(*ret, &st);
        categories_format(&st.load, cats, sizeof(cats));
        agent_log("info", "rules: loaded %llu (%s), unsupported-logsource %llu, rejected %llu",
                  (unsigned long long)st.load.loaded, cats, (unsigned long long)st.load.unsupported,
                  (unsigned long long)st.load.rejected);
        return 0;
}

/* ---- vigil-agent detect ---- */

struct detect_opts {
        struct pipeline_opts p;         /* --sensor, --count (alert lines), --duration, --watch */
        const char *rules[AGENT_RULES_MAX];
        size_t n_rules;
        bool text;
};

struct detect_run {
        struct proctable *pt;
        struct detect *det;
        uint64_t printed, limit;
        bool text;
        int error;                      /* negative errno once output failed */
        char *line;                     /* ALERT_LINE_MAX bytes */
};

static void detect_usage(FILE *f)
{
        fputs("usage: vigil-agent detect [--rules PATH]... [--sensor=auto|bpf|cnproc] [--duration S]\n"
              "                          [--count N] [--output json|text] [--watch PATH]...\n"
              "Runs the sensor and detection; prints alerts (new ones and fold updates) on stdout.\n"
              "  --rules PATH    a Sigma rule file or directory (repeatable; default " VIGIL_RULES_DIR ")\n"
              "  --count N       stop after N alert lines\n"
              "  --output text   one line per alert instead of JSON\n"
              "  --watch PATH    watch files under PATH (repeatable; replaces the default list,\n"
              "                  which adds /tmp/, /var/tmp/ and /dev/shm/ to the sensor's own)\n", f);
}

static int detect_opts_parse(int argc, char **argv, struct detect_opts *o)
{
        static const struct option longopts[] = {
                PIPELINE_LONGOPTS,
                { "rules", required_argument, NULL, 'r' },
                { "output", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        int c;

        o->p.sensor = "auto";
        optind = 1;
        while ((c = getopt_long(argc, argv, "r:s:c:d:w:o:h", longopts, NULL)) != -1) {
                if (pipeline_opt_parse("detect", c, optarg, &o->p) == -EINVAL)
                        return -EINVAL;
                if (c == 'r' && o->n_rules == AGENT_RULES_MAX) {
                        fprintf(stderr, "vigil-agent detect: more than %d --rules\n", AGENT_RULES_MAX);
                        return -EINVAL;
                }
                if (c == 'r') {
                        o->rules[o->n_rules++] = optarg;
                } else if (c == 'o') {
                        if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
                                fprintf(stderr, "vigil-agent detect: --output '%s': json or text\n", optarg);
                                return -EINVAL;
                        }
                        o->text = strcmp(optarg, "text") == 0;
                } else if (c == 'h') {
                        detect_usage(stdout);
                        return 1;
                } else if (c == '?') {
                        detect_usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind != argc) {
                detect_usage(stderr);
                return -EINVAL;
        }
        return 0;
}

static void detect_print(const struct alert *a, enum alert_change change, void *userdata)
{
        struct detect_run *run = userdata;
        char ts[EVENT_TIMESTAMP_MAX];
        size_t n;
        int r;

        if (run->error || (run->limit && run->printed >= run->limit))
                return;
        if (run->text) {
                event_timestamp_format(a->last.wall_ns, ts);
                alert_summary(a, change, run->line, ALERT_LINE_MAX - 1);
                r = printf("%s %s\n", ts, run->line) < 0 ? -EIO : 0;
        } else {
                r = alert_to_line(a, change, run->line, ALERT_LINE_MAX, &n);
                if (r == 0 && fwrite(run->line, 1, n, stdout) != n)
                        r = errno == EPIPE ? -EPIPE : -EIO;
        }
        if (r == -E2BIG || r == -ENOMEM) {
                agent_log("warning", "alert %s could not be written: %s", a->id, strerror(-r));
                return;
        }
        if (r < 0)
                run->error = r;
        else
                run->printed++;
}

static void detect_on_event(const struct agent_event *ev, void *ctx)
{
        struct detect_run *run = ctx;

        if (atomic_load(&stop_signal) || run->error || (run->limit && run->printed >= run->limit))
                return;
        proctable_feed(run->pt, ev);
        detect_event(run->det, ev, run->pt);
}

static int detect_after_poll(void *ctx, uint64_t now)
{
        struct detect_run *run = ctx;

        detect_tick(run->det, now);
        if (fflush(stdout) == EOF && !run->error)
                run->error = errno == EPIPE ? -EPIPE : -EIO;
        if (run->error == -EPIPE) {
                agent_log("info", "stdout was closed");
                return 1;
        }
        if (run->error) {
                agent_log("error", "cannot write an alert: %s", strerror(-run->error));
                return -1;
        }
        return run->limit && run->printed >= run->limit ? 1 : 0;
}

static void detect_log_end(struct detect_run *run, struct evsrc *src)
{
        struct detect_stats st;

        detect_stats_get(run->det, &st);
        agent_log("info", "events seen: %llu, matched: %llu, alerts: %llu new, %llu updates, "
                  "dropped by the sensor: %llu",
                  (unsigned long long)st.events, (unsigned long long)st.matched,
                  (unsigned long long)st.alerts_new, (unsigned long long)st.alerts_updated,
                  (unsigned long long)src->ops->dropped(src));
}

/* The sensor part of `detect`, once the rules are loaded. */
static int detect_sensor_run(const struct detect_opts *o, struct detect_run *run)
{
        const char *watch[EVSRC_WATCH_MAX + 1];
        struct evsrc *src = NULL;
        uint64_t end = 0;
        int r, code;

        pipeline_detect_watch_paths(watch);
        r = pipeline_sensor_open(o->p.sensor, o->p.nwatch ? o->p.watch : watch, &src);
        if (r < 0)
                return r == -EOPNOTSUPP ? PIPELINE_EXIT_UNSUPPORTED : 1;
        detect_sensor_set(run->det, src->ops->name);
        r = pipeline_table_seed(run->pt);
        pipeline_privs_drop(NULL, 0, NULL);
        pipeline_log_running(src, r);
        if (o->p.duration_s)
                end = pipeline_mono_ns() + (uint64_t)o->p.duration_s * 1000000000ull;
        code = pipeline_loop(src, run->pt, detect_on_event, run, end, &stop_signal, detect_after_poll);
        detect_log_end(run, src);
        src->ops->close(src);
        return code;
}

int agent_detect(int argc, char **argv)
{
        struct detect_opts o = { 0 };
        struct detect_run run = { 0 };
        struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART };
        int r, code = 1;

        r = detect_opts_parse(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : 2;
        run.limit = o.p.count;
        run.text = o.text;
        run.line = malloc(ALERT_LINE_MAX);
        run.pt = proctable_new(0, 0);
        if (!run.line || !run.pt) {
                agent_log("error", "out of memory");
                goto out;
        }
        if (agent_detect_setup(o.rules, o.n_rules, detect_print, &run, &run.det) < 0)
                goto out;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        code = detect_sensor_run(&o, &run);
out:
        detect_free(run.det);
        proctable_free(run.pt);
        free(run.line);
        return code;
}

/* ---- vigil-agent scan-rules ---- */

struct scan {
        bool verbose;
        struct detect_load_stats st;
};

static void scan_diag(const struct sigma_diag *diag, void *userdata)
{
        struct scan *sc = userdata;

        detect_load_stats_add(&sc->st, diag);
        if (diag->status == SIGMA_REJECTED && diag->line)
                printf("%s:%u: %s\n", diag->file, diag->line, diag->reason);
        else if (diag->status == SIGMA_REJECTED)
                printf("%s: %s\n", diag->file, diag->reason);
        else if (diag->status == SIGMA_UNSUPPORTED && sc->verbose && diag->line)
                printf("%s:%u: unsupported: %s\n", diag->file, diag->line, diag->reason);
        else if (diag->status == SIGMA_UNSUPPORTED && sc->verbose)
                printf("%s: unsupported: %s\n", diag->file, diag->reason);
}

/* Rules that name fields no event carries: they load, but such a
 * condition never holds. Returns how many. */
static size_t scan_unknown_fields(const struct sigma_ruleset *rs)
{
        size_t n = sigma_ruleset_count(rs), found = 0;

        for (size_t i = 0; i < n; i++) {
                const struct sigma_rule *r = sigma_ruleset_rule(rs, i);
                size_t k = sigma_rule_unknown_field_count(r);

                if (k == 0)
                        continue;
                found++;
                printf("%s:%u: fields no event carries:", sigma_rule_file(r), sigma_rule_line(r));
                for (size_t j = 0; j < k; j++)
                        printf("%s %s", j ? "," : "", sigma_rule_unknown_field(r, j));
                printf("\n");
        }
        return found;
}

int agent_scan_rules(int argc, char **argv)
{
        struct scan sc = { 0 };
        struct sigma_ruleset *rs = NULL;
        char cats[256];
        size_t unknown;
        int i, r;

        for (i = 1; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
                        sc.verbose = true;
                } else {
                        fprintf(stderr, "usage: vigil-agent scan-rules [--verbose] PATH...\n");
                        return 2;
                }
        }
        if (i == argc) {
                fprintf(stderr, "usage: vigil-agent scan-rules [--verbose] PATH...\n");
                return 2;
        }
        r = sigma_ruleset_new(&detect_schema, &rs);
        if (r < 0) {
                fprintf(stderr, "vigil-agent scan-rules: cannot create a ruleset: %s\n", strerror(-r));
                return 1;
        }
        for (; i < argc; i++) {
                r = detect_rules_add(rs, argv[i], scan_diag, &sc);
                if (r < 0) {
                        printf("%s: cannot read: %s\n", argv[i], strerror(-r));
                        sc.st.rejected++;
                }
        }
        detect_load_stats_categories(&sc.st, rs);
        unknown = scan_unknown_fields(rs);
        categories_format(&sc.st, cats, sizeof(cats));
        printf("loaded %llu, unsupported-logsource %llu, rejected %llu\n", (unsigned long long)sc.st.loaded,
               (unsigned long long)sc.st.unsupported, (unsigned long long)sc.st.rejected);
        printf("loaded by category: %s\n", cats);
        printf("rules naming fields no event carries: %zu\n", unknown);
        sigma_ruleset_free(rs);
        return sc.st.rejected ? 1 : 0;
}

/* ---- vigil-agent test-rules ---- */

struct test_run {
        struct sigma_matcher *m;
        struct sigma_scratch *scratch;
        bool json;
        unsigned long line;
        int error;
};

static void test_usage(FILE *f)
{
        fputs("usage: vigil-agent test-rules [--format lines|json] RULES EVENTS.jsonl\n"
              "Runs the rules (a file or directory) over recorded events, one JSON object per line\n"
              "as 'vigil-agent events' prints them, and prints each match:\n"
              "  lines: LINE<TAB>RULE_ID<TAB>LEVEL<TAB>TITLE     json: one object per match\n", f);
}

static json_t *tags_json(const struct sigma_rule *rule)
{
        json_t *arr = json_array();

        for (size_t i = 0; arr && i < sigma_rule_tag_count(rule); i++)
                if (json_array_append_new(arr, json_string(sigma_rule_tag(rule, i))) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        return arr;
}

static int test_print(const struct sigma_rule *rule, void *userdata)
{
        struct test_run *t = userdata;
        const char *level = sigma_level_name(sigma_rule_level(rule));
        json_t *o;
        char *text;

        if (!t->json) {
                printf("%lu\t%s\t%s\t%s\n", t->line, sigma_rule_id(rule), level, sigma_rule_title(rule));
                return 0;
        }
        o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:o*}", "line", (json_int_t)t->line, "rule_id",
                      sigma_rule_id(rule), "level", level, "title", sigma_rule_title(rule),
                      "file", sigma_rule_file(rule), "tags", tags_json(rule));
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text)
                printf("%s\n", text);
        else
                t->error = -ENOMEM;
        free(text);
        json_decref(o);
        return 0;
}

/* Parses and matches one line (without its newline). */
static void test_line(struct test_run *t, const char *file, const char *line, size_t len)
{
        struct sigma_str fields[EVENT_FIELD_COUNT];
        char buf[DETECT_JSON_BUF_MIN];
        json_error_t jerr;
        json_t *ev;
        uint32_t cat;
        int r;

        if (len == 0 || line[0] == '#')
                return;
        ev = json_loadb(line, len, 0, &jerr);
        if (!ev || !json_is_object(ev)) {
                fprintf(stderr, "%s:%lu: bad JSON: %s\n", file, t->line, ev ? "not an object" : jerr.text);
                t->error = -EINVAL;
                json_decref(ev);
                return;
        }
        r = detect_event_from_json(ev, fields, &cat, buf, sizeof(buf));
        if (r == 0)
                sigma_matcher_match(t->m, t->scratch, &(struct sigma_event){ cat, fields }, test_print, t);
        else if (r != -ENOENT)
                fprintf(stderr, "%s:%lu: event skipped: %s\n", file, t->line, strerror(-r));
        json_decref(ev);
}

/* Reads the events file line by line, at most EVENT_LINE_MAX bytes a line. */
static int test_events(struct test_run *t, const char *path)
{
        FILE *f = fopen(path, "re");
        char *line = malloc(EVENT_LINE_MAX + 2);
        int r = 0;

        if (!f || !line) {
                r = f ? -ENOMEM : -errno;
                goto out;
        }
        while (fgets(line, EVENT_LINE_MAX + 2, f)) {
                size_t len = strlen(line);
                bool whole = len > 0 && line[len - 1] == '\n';

                t->line++;
                if (!whole && !feof(f)) {
                        int c;

                        fprintf(stderr, "%s:%lu: line longer than %u bytes\n", path, t->line, EVENT_LINE_MAX);
                        t->error = -E2BIG;
                        while ((c = getc(f)) != EOF && c != '\n')
                                ;
                        continue;
                }
                test_line(t, path, line, whole ? len - 1 : len);
        }
        if (ferror(f))
                r = -EIO;
out:
        if (f)
                fclose(f);
        free(line);
        return r;
}

static int test_rules_load(const char *path, struct sigma_ruleset **ret_rs, struct test_run *t)
{
        int r = sigma_ruleset_new(&detect_schema, ret_rs);

        if (r == 0)
                r = detect_rules_add(*ret_rs, path, log_diag, NULL);
        if (r < 0) {
                fprintf(stderr, "vigil-agent test-rules: cannot load rules from '%s': %s\n", path, strerror(-r));
                return r;
        }
        r = sigma_matcher_new(*ret_rs, 0, &t->m);
        if (r == 0)
                r = sigma_scratch_new(t->m, &t->scratch);
        if (r < 0)
                fprintf(stderr, "vigil-agent test-rules: cannot compile the rules: %s\n", strerror(-r));
        return r;
}

int agent_test_rules(int argc, char **argv)
{
        struct test_run t = { 0 };
        struct sigma_ruleset *rs = NULL;
        int i = 1, r, code = 1;

        if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                test_usage(stdout);
                return 0;
        }
        if (argc > 2 && strcmp(argv[1], "--format") == 0) {
                if (strcmp(argv[2], "lines") && strcmp(argv[2], "json")) {
                        fprintf(stderr, "vigil-agent test-rules: --format '%s': lines or json\n", argv[2]);
                        return 2;
                }
                t.json = strcmp(argv[2], "json") == 0;
                i = 3;
        }
        if (argc - i != 2) {
                test_usage(stderr);
                return 2;
        }
        if (test_rules_load(argv[i], &rs, &t) < 0)
                goto out;
        r = test_events(&t, argv[i + 1]);
        if (r < 0)
                fprintf(stderr, "vigil-agent test-rules: cannot read '%s': %s\n", argv[i + 1], strerror(-r));
        else if (fflush(stdout) == 0 && !t.error)
                code = 0;
out:
        sigma_scratch_free(t.scratch);
        sigma_matcher_free(t.m);
        sigma_ruleset_free(rs);
        return code;
}
