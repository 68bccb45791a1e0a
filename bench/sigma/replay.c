/* bench-sigma-replay: how fast the Sigma engine matches a recorded event mix.
 *
 * Loads Sigma rules (directories or files) for the agent's schema
 * (detect_schema), prints what loaded, what was unsupported and why rules
 * were rejected, then compiles two matchers from the same ruleset: the
 * indexed one the agent uses and SIGMA_MATCHER_NAIVE, which evaluates every
 * rule of the event's category (the baseline). It reads a recording made by
 * bench/sigma/record.sh (JSON lines as `vigil-agent events` prints them,
 * plain, .zst or .gz) into memory once, through detect_event_from_json(), as
 * one arena of field arrays; parsing is not timed.
 *
 * Then, pinned to one CPU:
 *   - a verification pass: every event through both matchers, the rules each
 *     reports compared event by event; per-rule match counts;
 *   - R rounds, alternating the two matchers (a-b, then b-a), each replaying
 *     all events and then the process_creation events alone; events/s is the
 *     median of the rounds, by wall clock and by the thread's CPU time;
 *   - a latency pass per matcher timing each event alone with
 *     clock_gettime(CLOCK_MONOTONIC) (the timer's own cost is measured and
 *     printed beside it).
 * Events without a category the rules read (fork, exit, ...) stay in the
 * replay: they cost a category check, as in the agent, and count in the
 * events/s of "all events"; figures per event with a category are printed
 * too. The matcher's memory is VmRSS and malloc's in-use bytes before and
 * after each compile.
 *
 * --matcher and --no-verify narrow a run down for a profiler.
 *
 * Prints figures and exits 0 whatever they are; 1 when it cannot run (no
 * rules loaded, unreadable recording, the engine returning errors). A
 * difference between the two matchers is printed loudly and makes the exit
 * status 3. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/src/detect.h"
#include "sigma/sigma.h"

extern char **environ;

#define ROUNDS_DEFAULT 5
#define TOP_DEFAULT 30
#define PATHS_MAX 32
#define REASONS_MAX 4096
#define TYPES_MAX 64
#define CHUNK_BYTES (64u << 20)         /* arena chunk */
#define CONVERT_BUF (1u << 20)          /* detect_event_from_json's text buffer */
#define LINE_MAX_BYTES (16u << 20)      /* a longer recorded line is skipped */
#define MISMATCH_SHOWN 10
#define RULE_MATCHES_MAX 4096           /* rules reported for one event in verification */
#define TIMER_SAMPLES 1000000
#define CAT_NONE UINT32_MAX

/* --- small helpers ------------------------------------------------------- */

static double now_s(clockid_t clk)
{
        struct timespec ts;

        clock_gettime(clk, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 1234567 -> "1,234,567" (one of 16 rotating buffers, so a printf may use several). */
static const char *grp(double v)
{
        static char bufs[16][32];
        static unsigned k;
        char *out = bufs[k++ % 16], tmp[32];
        int n = snprintf(tmp, sizeof(tmp), "%.0f", v), o = 0;

        for (int i = 0; i < n; i++) {
                out[o++] = tmp[i];
                if (tmp[i] != '-' && (n - i - 1) > 0 && (n - i - 1) % 3 == 0)
                        out[o++] = ',';
        }
        out[o] = '\0';
        return out;
}

static long rss_kib(void)
{
        char line[256];
        long kib = -1;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

struct mem_mark {
        long rss_kib;
        size_t heap;            /* malloc in use: arena + mmapped chunks */
};

static struct mem_mark mem_mark(void)
{
        struct mallinfo2 mi = mallinfo2();

        return (struct mem_mark){ .rss_kib = rss_kib(), .heap = mi.uordblks + mi.hblkhd };
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static double median(const double *v, size_t n)
{
        double s[64];

        if (n == 0)
                return 0;
        if (n > 64)
                n = 64;
        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), cmp_double);
        return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Percentile p (0..100) of sorted v, nearest rank. */
static uint32_t pct(const uint32_t *v, size_t n, double p)
{
        size_t i;

        if (n == 0)
                return 0;
        i = (size_t)(p / 100.0 * (double)n + 0.999999);
        if (i < 1)
                i = 1;
        if (i > n)
                i = n;
        return v[i - 1];
}

/* --- the event arena ----------------------------------------------------- */

struct chunk {
        struct chunk *next;
        size_t used;
        char data[];
};

struct arena {
        struct chunk *head;
        size_t bytes;           /* allocated in chunks */
};

static void *arena_alloc(struct arena *a, size_t n, size_t align)
{
        struct chunk *c = a->head;
        size_t off;

        if (c) {
                off = (c->used + align - 1) & ~(align - 1);
                if (off + n <= CHUNK_BYTES - sizeof(*c)) {
                        c->used = off + n;
                        return c->data + off;
                }
        }
        if (n > CHUNK_BYTES - sizeof(*c))
                return NULL;
        c = malloc(CHUNK_BYTES);
        if (!c)
                return NULL;
        c->next = a->head;
        c->used = n;
        a->head = c;
        a->bytes += CHUNK_BYTES;
        return c->data;
}

static void arena_release(struct arena *a)
{
        while (a->head) {
                struct chunk *c = a->head;

                a->head = c->next;
                free(c);
        }
        a->bytes = 0;
}

struct event {
        const struct sigma_str *fields; /* NULL when cat == CAT_NONE */
        uint32_t cat;                   /* schema category, or CAT_NONE */
        uint32_t type;                  /* index into the EventType table */
        uint64_t line;                  /* line of the recording */
};

struct recording {
        struct arena arena;
        struct event *ev;
        size_t n, cap;
        size_t n_cat;                   /* events with a category */
        size_t by_cat[SIGMA_CATEGORIES_MAX];
        char *types[TYPES_MAX];
        size_t by_type[TYPES_MAX], by_type_cat[TYPES_MAX];
        unsigned n_types;
        uint64_t lines, bad_json, convert_errors, too_long;
        size_t text_bytes;
};

static uint32_t type_index(struct recording *rec, const char *name)
{
        for (unsigned i = 0; i < rec->n_types; i++)
                if (strcmp(rec->types[i], name) == 0)
                        return i;
        if (rec->n_types == TYPES_MAX)
                return TYPES_MAX - 1;
        rec->types[rec->n_types] = strdup(name);
        if (!rec->types[rec->n_types])
                return TYPES_MAX - 1;
        return rec->n_types++;
}

/* Copies one converted event into the arena: the field array and its text. */
static int store_fields(struct recording *rec, const struct sigma_str *tmp, size_t n_fields,
                        const struct sigma_str **ret)
{
        struct sigma_str *f = arena_alloc(&rec->arena, n_fields * sizeof(*f), _Alignof(struct sigma_str));

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n_fields; i++) {
                char *t;

                f[i] = tmp[i];
                if (!tmp[i].ptr)
                        continue;
                t = arena_alloc(&rec->arena, tmp[i].len ? tmp[i].len : 1, 1);
                if (!t)
                        return -ENOMEM;
                memcpy(t, tmp[i].ptr, tmp[i].len);
                f[i].ptr = t;
                rec->text_bytes += tmp[i].len;
        }
        *ret = f;
        return 0;
}

static int add_line(struct recording *rec, const char *line, size_t len,
                    struct sigma_str *tmp, char *buf)
{
        json_error_t jerr;
        json_t *o = json_loadb(line, len, 0, &jerr);
        struct event e = { .cat = CAT_NONE, .line = rec->lines };
        const char *type;
        uint32_t cat;
        int r;

        if (!o || !json_is_object(o)) {
                rec->bad_json++;
                json_decref(o);
                return 0;
        }
        type = json_string_value(json_object_get(o, "EventType"));
        e.type = type_index(rec, type ? type : "(none)");
        memset(tmp, 0, detect_schema.n_fields * sizeof(*tmp));
        r = detect_event_from_json(o, tmp, &cat, buf, CONVERT_BUF);
        if (r == 0 && cat < detect_schema.n_categories) {
                r = store_fields(rec, tmp, detect_schema.n_fields, &e.fields);
                if (r < 0) {
                        json_decref(o);
                        return r;
                }
                e.cat = cat;
                rec->n_cat++;
                rec->by_cat[cat]++;
                rec->by_type_cat[e.type]++;
        } else if (r != -ENOENT) {
                if (rec->convert_errors++ < 5)
                        fprintf(stderr, "replay: line %" PRIu64 ": detect_event_from_json: %s\n",
                                rec->lines, strerror(r < 0 ? -r : EINVAL));
        }
        json_decref(o);
        if (rec->n == rec->cap) {
                size_t cap = rec->cap ? rec->cap * 2 : 1u << 16;
                struct event *ev = realloc(rec->ev, cap * sizeof(*ev));

                if (!ev)
                        return -ENOMEM;
                rec->ev = ev;
                rec->cap = cap;
        }
        rec->ev[rec->n++] = e;
        rec->by_type[e.type]++;
        return 0;
}

/* Opens the recording, through zstd or gzip when its name says so. */
static FILE *recording_open(const char *path, pid_t *ret_pid)
{
        size_t n = strlen(path);
        const char *tool = NULL;
        int fds[2];
        pid_t pid;
        posix_spawn_file_actions_t fa;

        *ret_pid = 0;
        if (n > 4 && strcmp(path + n - 4, ".zst") == 0)
                tool = "zstd";
        else if (n > 3 && strcmp(path + n - 3, ".gz") == 0)
                tool = "gzip";
        if (!tool)
                return fopen(path, "re");
        if (access(path, R_OK) < 0 || pipe2(fds, O_CLOEXEC) < 0)
                return NULL;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        char *argv[] = { (char *)tool, (char *)"-dc", (char *)"--", (char *)path, NULL };
        int r = posix_spawnp(&pid, tool, &fa, NULL, argv, environ);

        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        if (r != 0) {
                close(fds[0]);
                errno = r;
                return NULL;
        }
        *ret_pid = pid;
        return fdopen(fds[0], "r");
}

static int recording_load(struct recording *rec, const char *path, uint64_t limit)
{
        pid_t pid;
        FILE *f = recording_open(path, &pid);
        struct sigma_str *tmp = calloc(detect_schema.n_fields, sizeof(*tmp));
        char *buf = malloc(CONVERT_BUF), *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int r = 0;

        if (!f || !tmp || !buf) {
                r = f ? -ENOMEM : -errno;
                goto out;
        }
        while ((len = getline(&line, &cap, f)) > 0) {
                if (limit && rec->n >= limit)
                        break;
                rec->lines++;
                if ((size_t)len > LINE_MAX_BYTES) {
                        rec->too_long++;
                        continue;
                }
                r = add_line(rec, line, (size_t)len, tmp, buf);
                if (r < 0)
                        break;
        }
out:
        free(line);
        free(buf);
        free(tmp);
        if (f)
                fclose(f);
        if (pid > 0) {
                int st;

                if (limit)
                        kill(pid, SIGTERM);
                waitpid(pid, &st, 0);
        }
        return r;
}

/* --- rules --------------------------------------------------------------- */

struct reason {
        char *text;
        unsigned count;
};

struct load_stats {
        unsigned docs[PATHS_MAX][3];    /* per path: by sigma_load_status */
        unsigned cur;
        struct reason reasons[REASONS_MAX];
        unsigned n_reasons, reasons_lost;
        bool verbose;
};

static void on_diag(const struct sigma_diag *d, void *userdata)
{
        struct load_stats *st = userdata;
        unsigned i;

        if ((unsigned)d->status <= SIGMA_REJECTED)
                st->docs[st->cur][d->status]++;
        if (st->verbose && d->status != SIGMA_LOADED)
                printf("  %s %s:%u: %s\n", d->status == SIGMA_REJECTED ? "rejected" : "unsupported",
                       d->file, d->line, d->reason);
        if (d->status != SIGMA_REJECTED)
                return;
        for (i = 0; i < st->n_reasons; i++)
                if (strcmp(st->reasons[i].text, d->reason) == 0)
                        break;
        if (i == st->n_reasons) {
                if (i == REASONS_MAX || !(st->reasons[i].text = strdup(d->reason))) {
                        st->reasons_lost++;
                        return;
                }
                st->n_reasons++;
        }
        st->reasons[i].count++;
}

static int cmp_reason(const void *a, const void *b)
{
        const struct reason *x = a, *y = b;

        return (int)y->count - (int)x->count;
}

struct unknown_field {
        const char *name;
        unsigned rules;
};

static void print_rules_summary(const struct sigma_ruleset *rs)
{
        size_t n = sigma_ruleset_count(rs), by_cat[SIGMA_CATEGORIES_MAX] = { 0 }, with_unknown = 0;
        size_t by_level[6] = { 0 };
        struct unknown_field uf[256];
        unsigned n_uf = 0;

        for (size_t i = 0; i < n; i++) {
                const struct sigma_rule *r = sigma_ruleset_rule(rs, i);
                size_t nu = sigma_rule_unknown_field_count(r);

                if (sigma_rule_category(r) < SIGMA_CATEGORIES_MAX)
                        by_cat[sigma_rule_category(r)]++;
                if ((unsigned)sigma_rule_level(r) <= 5)
                        by_level[sigma_rule_level(r)]++;
                with_unknown += nu > 0;
                for (size_t j = 0; j < nu; j++) {
                        const char *name = sigma_rule_unknown_field(r, j);
                        unsigned k;

                        for (k = 0; k < n_uf; k++)
                                if (strcmp(uf[k].name, name) == 0)
                                        break;
                        if (k == n_uf && n_uf < 256)
                                uf[n_uf++] = (struct unknown_field){ .name = name };
                        if (k < n_uf)
                                uf[k].rules++;
                }
        }
        printf("rules loaded by category:");
        for (size_t c = 0; c < detect_schema.n_categories; c++)
                printf(" %s %zu", detect_schema.categories[c], by_cat[c]);
        printf("\nrules loaded by level:");
        for (int l = SIGMA_LEVEL_INFORMATIONAL; l <= SIGMA_LEVEL_CRITICAL; l++)
                printf(" %s %zu", sigma_level_name(l), by_level[l]);
        printf("\nrules naming a field the agent does not produce: %zu", with_unknown);
        if (n_uf) {
                printf(" (");
                for (unsigned printed = 0; printed < 10 && printed < n_uf; printed++) {
                        unsigned best = 0;

                        for (unsigned k = 1; k < n_uf; k++)
                                if (uf[k].rules > uf[best].rules)
                                        best = k;
                        printf("%s%s %u", printed ? ", " : "", uf[best].name, uf[best].rules);
                        uf[best].rules = 0;     /* printed */
                }
                printf("%s)", n_uf > 10 ? ", ..." : "");
        }
        printf("\n");
}

static int rules_load(struct sigma_ruleset *rs, char **paths, unsigned n_paths, bool verbose)
{
        static struct load_stats st;
        unsigned tot[3] = { 0 };
        double t0 = now_s(CLOCK_MONOTONIC);

        st.verbose = verbose;
        printf("rules:\n");
        for (unsigned p = 0; p < n_paths; p++) {
                int r;

                st.cur = p;
                r = detect_rules_add(rs, paths[p], on_diag, &st);      /* as the agent loads them */
                if (r < 0) {
                        printf("  %-60s error: %s\n", paths[p], strerror(-r));
                        if (r == -ENOSYS)
                                return r;
                        continue;
                }
                printf("  %-60s %5u documents: %5u loaded, %5u unsupported, %5u rejected\n", paths[p],
                       st.docs[p][0] + st.docs[p][1] + st.docs[p][2], st.docs[p][0], st.docs[p][1], st.docs[p][2]);
                for (int k = 0; k < 3; k++)
                        tot[k] += st.docs[p][k];
        }
        printf("  %-60s %5u documents: %5u loaded, %5u unsupported, %5u rejected (%.2f s)\n", "total",
               tot[0] + tot[1] + tot[2], tot[0], tot[1], tot[2], now_s(CLOCK_MONOTONIC) - t0);
        printf("  in the ruleset: %zu rules\n", sigma_ruleset_count(rs));
        qsort(st.reasons, st.n_reasons, sizeof(st.reasons[0]), cmp_reason);
        if (st.n_reasons)
                printf("rejections by reason (%u distinct%s):\n", st.n_reasons, st.n_reasons > 15 ? ", top 15" : "");
        for (unsigned i = 0; i < st.n_reasons && i < 15; i++)
                printf("  %5u  %s\n", st.reasons[i].count, st.reasons[i].text);
        print_rules_summary(rs);
        return sigma_ruleset_count(rs) > 0 ? 0 : -ENOENT;
}

/* --- replay -------------------------------------------------------------- */

static int count_match(const struct sigma_rule *rule, void *userdata)
{
        (*(uint64_t *)userdata)++;
        return 0;
}

struct pass {
        double wall_s, cpu_s;
        uint64_t matches, errors;
};

/* The timed loop: every event of the list through m, as the agent would. */
static struct pass replay(const struct sigma_matcher *m, struct sigma_scratch *s,
                          const struct event *const *list, size_t n)
{
        struct pass p = { 0 };
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);

        for (size_t i = 0; i < n; i++) {
                const struct event *e = list[i];
                struct sigma_event se;

                if (e->cat == CAT_NONE)
                        continue;
                se.category = e->cat;
                se.fields = e->fields;
                if (sigma_matcher_match(m, s, &se, count_match, &p.matches) < 0)
                        p.errors++;
        }
        p.cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        p.wall_s = now_s(CLOCK_MONOTONIC) - w0;
        return p;
}

/* Per-event latency of the events with a category, in ns, into lat[] (the
 * same order as list, CAT_NONE skipped). */
static size_t latency_pass(const struct sigma_matcher *m, struct sigma_scratch *s,
                           const struct event *const *list, size_t n, uint32_t *lat, uint32_t *cat_of)
{
        uint64_t matches = 0;
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                const struct event *e = list[i];
                struct sigma_event se = { .category = e->cat, .fields = e->fields };
                uint64_t t0, t1;

                if (e->cat == CAT_NONE)
                        continue;
                t0 = mono_ns();
                sigma_matcher_match(m, s, &se, count_match, &matches);
                t1 = mono_ns();
                lat[k] = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
                cat_of[k++] = e->cat;
        }
        return k;
}

struct timer_cost {
        uint32_t p50, p99;
};

static struct timer_cost timer_overhead(uint32_t *tmp)
{
        struct timer_cost tc;

        for (size_t i = 0; i < TIMER_SAMPLES; i++) {
                uint64_t t0 = mono_ns(), t1 = mono_ns();

                tmp[i] = (uint32_t)(t1 - t0);
        }
        qsort(tmp, TIMER_SAMPLES, sizeof(*tmp), cmp_u32);
        tc.p50 = pct(tmp, TIMER_SAMPLES, 50);
        tc.p99 = pct(tmp, TIMER_SAMPLES, 99);
        return tc;
}

/* --- verification: both matchers, rule by rule -------------------------- */

struct rule_ref {
        const struct sigma_rule *rule;
        uint32_t index;
};

struct collect {
        const struct rule_ref *refs;
        size_t n_refs;
        uint32_t ids[RULE_MATCHES_MAX];
        unsigned n;
};

static int cmp_ref(const void *a, const void *b)
{
        const struct rule_ref *x = a, *y = b;

        return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int collect_match(const struct sigma_rule *rule, void *userdata)
{
        struct collect *c = userdata;
        struct rule_ref key = { .rule = rule };
        const struct rule_ref *ref = bsearch(&key, c->refs, c->n_refs, sizeof(key), cmp_ref);

        if (c->n < RULE_MATCHES_MAX)
                c->ids[c->n++] = ref ? ref->index : UINT32_MAX;
        return 0;
}

static void print_mismatch(const struct sigma_ruleset *rs, const struct event *e,
                           const struct collect *a, const struct collect *b)
{
        int img = sigma_ruleset_field_id(rs, "Image"), cmd = sigma_ruleset_field_id(rs, "CommandLine");

        printf("  !! line %" PRIu64 " (%s): indexed %u rules, naive %u rules\n", e->line,
               detect_schema.categories[e->cat], a->n, b->n);
        if (img >= 0 && e->fields[img].ptr)
                printf("     Image %.*s\n", (int)e->fields[img].len, e->fields[img].ptr);
        if (cmd >= 0 && e->fields[cmd].ptr)
                printf("     CommandLine %.*s\n", (int)(e->fields[cmd].len > 300 ? 300 : e->fields[cmd].len),
                       e->fields[cmd].ptr);
        for (int side = 0; side < 2; side++) {
                const struct collect *x = side ? b : a, *y = side ? a : b;

                for (unsigned i = 0; i < x->n; i++) {
                        bool found = false;

                        for (unsigned j = 0; j < y->n && !found; j++)
                                found = x->ids[i] == y->ids[j];
                        if (!found && x->ids[i] != UINT32_MAX) {
                                const struct sigma_rule *r = sigma_ruleset_rule(rs, x->ids[i]);

                                printf("     only %s: %s (%s:%u)\n", side ? "naive" : "indexed",
                                       sigma_rule_title(r), sigma_rule_file(r), sigma_rule_line(r));
                        }
                }
        }
}

struct rule_count {
        uint32_t index;
        uint64_t count;
};

static int cmp_count(const void *a, const void *b)
{
        const struct rule_count *x = a, *y = b;

        return x->count < y->count ? 1 : x->count > y->count ? -1 : (int)x->index - (int)y->index;
}

/* Every event with a category through both matchers; compares the rules
 * reported. Returns the number of events on which they differ. */
static uint64_t verify(const struct sigma_ruleset *rs, const struct sigma_matcher *mi, struct sigma_scratch *si,
                       const struct sigma_matcher *mn, struct sigma_scratch *sn,
                       const struct recording *rec, unsigned top)
{
        size_t n_rules = sigma_ruleset_count(rs);
        struct rule_ref *refs = calloc(n_rules, sizeof(*refs));
        struct rule_count *cnt = calloc(n_rules, sizeof(*cnt));
        uint64_t *cnt_naive = calloc(n_rules, sizeof(*cnt_naive));
        static struct collect a, b;
        uint64_t mismatched = 0, total_i = 0, total_n = 0, events_matched = 0, per_rule_diff = 0;
        size_t rules_matched = 0;

        if (!refs || !cnt || !cnt_naive) {
                fprintf(stderr, "replay: out of memory\n");
                exit(1);
        }
        for (size_t i = 0; i < n_rules; i++) {
                refs[i] = (struct rule_ref){ sigma_ruleset_rule(rs, i), (uint32_t)i };
                cnt[i].index = (uint32_t)i;
        }
        qsort(refs, n_rules, sizeof(*refs), cmp_ref);
        a.refs = b.refs = refs;
        a.n_refs = b.n_refs = n_rules;
        for (size_t i = 0; i < rec->n; i++) {
                const struct event *e = &rec->ev[i];
                struct sigma_event se = { .category = e->cat, .fields = e->fields };
                bool same;

                if (e->cat == CAT_NONE)
                        continue;
                a.n = b.n = 0;
                sigma_matcher_match(mi, si, &se, collect_match, &a);
                sigma_matcher_match(mn, sn, &se, collect_match, &b);
                same = a.n == b.n && memcmp(a.ids, b.ids, a.n * sizeof(a.ids[0])) == 0;
                if (!same && mismatched++ < MISMATCH_SHOWN)
                        print_mismatch(rs, e, &a, &b);
                total_i += a.n;
                total_n += b.n;
                events_matched += a.n > 0;
                for (unsigned k = 0; k < a.n; k++)
                        if (a.ids[k] != UINT32_MAX)
                                cnt[a.ids[k]].count++;
                for (unsigned k = 0; k < b.n; k++)
                        if (b.ids[k] != UINT32_MAX)
                                cnt_naive[b.ids[k]]++;
        }
        for (size_t i = 0; i < n_rules; i++) {
                rules_matched += cnt[i].count > 0;
                per_rule_diff += cnt[i].count != cnt_naive[i];
        }
        printf("\nmatches (verification pass, every event with a category through both matchers):\n");
        printf("  indexed: %s matches on %s events; naive: %s matches\n", grp((double)total_i),
               grp((double)events_matched), grp((double)total_n));
        printf("  rules that matched at least once: %zu of %zu\n", rules_matched, n_rules);
        if (mismatched || total_i != total_n || per_rule_diff)
                printf("\n  !!!!!!!! MISMATCH: the indexed and naive matchers disagree on %s events, "
                       "%s rules' counts differ (%s vs %s matches) !!!!!!!!\n\n",
                       grp((double)mismatched), grp((double)per_rule_diff), grp((double)total_i), grp((double)total_n));
        else
                printf("  the two matchers agree: same rules on every event (%s matches)\n", grp((double)total_i));
        qsort(cnt, n_rules, sizeof(*cnt), cmp_count);
        printf("  matches per rule (top %u of %zu that matched; count, level, title, file):\n",
               top < rules_matched ? top : (unsigned)rules_matched, rules_matched);
        for (size_t i = 0; i < n_rules && i < top && cnt[i].count; i++) {
                const struct sigma_rule *r = sigma_ruleset_rule(rs, cnt[i].index);
                const char *file = sigma_rule_file(r), *slash = strrchr(file, '/');

                printf("  %10s  %-13s %s  [%s]\n", grp((double)cnt[i].count), sigma_level_name(sigma_rule_level(r)),
                       sigma_rule_title(r), slash ? slash + 1 : file);
        }
        free(cnt_naive);
        free(cnt);
        free(refs);
        return mismatched + per_rule_diff + (total_i != total_n);
}

/* --- main ---------------------------------------------------------------- */

enum { M_INDEXED, M_NAIVE, M_COUNT };
static const char *const matcher_name[M_COUNT] = { "indexed", "naive" };

struct opts {
        char *rules[PATHS_MAX];
        unsigned n_rules;
        const char *events;
        unsigned rounds, top;
        int cpu;
        uint64_t limit;
        bool verbose, no_verify;
        int only;                       /* -1: both matchers, else M_INDEXED or M_NAIVE */
};

static void usage(FILE *f)
{
        fputs("usage: bench-sigma-replay --events FILE --rules PATH [--rules PATH]... [--rounds N]\n"
              "                          [--cpu C] [--top K] [--limit N] [--verbose]\n"
              "                          [--matcher indexed|naive] [--no-verify]\n"
              "  --events FILE  recording of bench/sigma/record.sh (.zst, .gz or plain JSON lines)\n"
              "  --rules PATH   a rule directory (recursive) or file; repeatable\n"
              "  --rounds N     timed rounds per matcher (default 5)\n"
              "  --cpu C        the CPU to pin to (default: the last)\n"
              "  --top K        rules shown in the per-rule match counts (default 30)\n"
              "  --limit N      read only the first N events\n"
              "  --verbose      print every unsupported or rejected rule\n"
              "  --matcher M    time only M (indexed or naive), for profiling\n"
              "  --no-verify    skip the verification pass, for profiling\n", f);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
        static const struct option lo[] = {
                { "events", required_argument, NULL, 'e' }, { "rules", required_argument, NULL, 'r' },
                { "rounds", required_argument, NULL, 'n' }, { "cpu", required_argument, NULL, 'c' },
                { "top", required_argument, NULL, 't' },    { "limit", required_argument, NULL, 'l' },
                { "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
                { "matcher", required_argument, NULL, 'm' }, { "no-verify", no_argument, NULL, 'V' },
                { 0 },
        };
        int c;

        *o = (struct opts){ .rounds = ROUNDS_DEFAULT, .top = TOP_DEFAULT, .cpu = -1, .only = -1 };
        while ((c = getopt_long(argc, argv, "e:r:n:c:t:l:vh", lo, NULL)) != -1) {
                switch (c) {
                case 'e': o->events = optarg; break;
                case 'r':
                        if (o->n_rules == PATHS_MAX)
                                return -E2BIG;
                        o->rules[o->n_rules++] = optarg;
                        break;
                case 'n': o->rounds = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'c': o->cpu = (int)strtol(optarg, NULL, 10); break;
                case 't': o->top = (unsigned)strtoul(optarg, NULL, 10); break;
                case 'l': o->limit = strtoull(optarg, NULL, 10); break;
                case 'v': o->verbose = true; break;
                case 'V': o->no_verify = true; break;
                case 'm':
                        if (strcmp(optarg, "indexed") == 0)
                                o->only = M_INDEXED;
                        else if (strcmp(optarg, "naive") == 0)
                                o->only = M_NAIVE;
                        else
                                return -EINVAL;
                        break;
                case 'h': usage(stdout); exit(0);
                default: usage(stderr); return -EINVAL;
                }
        }
        if (!o->events || !o->n_rules || o->rounds < 1 || o->rounds > 64 || optind != argc) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

static int pin(int cpu)
{
        cpu_set_t set;

        if (cpu < 0)
                cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
                return -errno;
        return cpu;
}

static void print_recording(const struct recording *rec, double secs)
{
        printf("\nrecording: %s events (%s lines; %s not JSON, %s not converted, %s too long) read in %.1f s\n",
               grp((double)rec->n), grp((double)rec->lines), grp((double)rec->bad_json),
               grp((double)rec->convert_errors), grp((double)rec->too_long), secs);
        printf("  by EventType (events, of which with a category):\n");
        for (unsigned i = 0; i < rec->n_types; i++)
                printf("    %-20s %10s %5.1f %%  %10s\n", rec->types[i], grp((double)rec->by_type[i]),
                       100.0 * (double)rec->by_type[i] / (double)rec->n, grp((double)rec->by_type_cat[i]));
        printf("  by Category:");
        for (size_t c = 0; c < detect_schema.n_categories; c++)
                if (rec->by_cat[c])
                        printf(" %s %s (%.1f %%)", detect_schema.categories[c], grp((double)rec->by_cat[c]),
                               100.0 * (double)rec->by_cat[c] / (double)rec->n);
        printf("; none %s (%.1f %%)\n", grp((double)(rec->n - rec->n_cat)),
               100.0 * (double)(rec->n - rec->n_cat) / (double)rec->n);
        printf("  arena: %s MiB (%s MiB of field text; %zu fields of %zu B per event with a category)\n",
               grp((double)rec->arena.bytes / 1048576.0), grp((double)rec->text_bytes / 1048576.0),
               detect_schema.n_fields, sizeof(struct sigma_str));
}

/* The text the matcher reads: per category, the bytes of the fields some
 * rule reads (what the matcher lowercases and the index scans). */
static void print_text_stats(const struct sigma_matcher *m, const struct recording *rec)
{
        printf("  text the rules read, per event (bytes of the fields used, mean / p99 / max; the longest field):\n");
        for (size_t c = 0; c < detect_schema.n_categories; c++) {
                uint32_t *len = malloc((rec->by_cat[c] + 1) * sizeof(*len));
                uint64_t sum = 0, by_field[SIGMA_FIELDS_MAX] = { 0 };
                size_t k = 0, best = 0;

                if (!len || !rec->by_cat[c]) {
                        free(len);
                        continue;
                }
                for (size_t i = 0; i < rec->n; i++) {
                        const struct event *e = &rec->ev[i];
                        uint64_t t = 0;

                        if (e->cat != c)
                                continue;
                        for (size_t f = 0; f < detect_schema.n_fields && f < SIGMA_FIELDS_MAX; f++)
                                if (e->fields[f].ptr && sigma_matcher_field_used(m, (uint32_t)c, (uint32_t)f)) {
                                        t += e->fields[f].len;
                                        by_field[f] += e->fields[f].len;
                                }
                        len[k++] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
                        sum += t;
                }
                for (size_t f = 1; f < detect_schema.n_fields && f < SIGMA_FIELDS_MAX; f++)
                        if (by_field[f] > by_field[best])
                                best = f;
                qsort(len, k, sizeof(*len), cmp_u32);
                printf("    %-20s %8.0f %8u %8u   %s %.0f (mean)\n", detect_schema.categories[c], (double)sum / (double)k,
                       pct(len, k, 99), len[k - 1], detect_schema.fields[best], (double)by_field[best] / (double)k);
                free(len);
        }
}

struct subset {
        const char *name;
        const struct event **list;
        size_t n, n_cat;
};


struct results {
        double wall[2][M_COUNT][64], cpu[2][M_COUNT][64];
        uint64_t matches[2][M_COUNT][64], errors;
        long nivcsw;
};

static void run_rounds(const struct opts *o, struct sigma_matcher *m[M_COUNT], struct sigma_scratch *s[M_COUNT],
                       const struct subset sub[2], struct results *res)
{
        struct rusage ru0, ru1;

        getrusage(RUSAGE_THREAD, &ru0);
        for (unsigned r = 0; r < o->rounds; r++) {
                for (int k = 0; k < 2; k++) {
                        for (int j = 0; j < M_COUNT; j++) {
                                int w = (r % 2) ? M_COUNT - 1 - j : j;  /* a-b, then b-a */
                                struct pass p;

                                if (o->only >= 0 && w != o->only)
                                        continue;
                                p = replay(m[w], s[w], sub[k].list, sub[k].n);

                                res->wall[k][w][r] = p.wall_s;
                                res->cpu[k][w][r] = p.cpu_s;
                                res->matches[k][w][r] = p.matches;
                                res->errors += p.errors;
                        }
                }
                fprintf(stderr, "replay: round %u of %u: indexed %.3f s, naive %.3f s (all events)\n", r + 1,
                        o->rounds, res->wall[0][M_INDEXED][r], res->wall[0][M_NAIVE][r]);
        }
        getrusage(RUSAGE_THREAD, &ru1);
        res->nivcsw = ru1.ru_nivcsw - ru0.ru_nivcsw;
}

static void print_throughput(const struct opts *o, const struct subset sub[2], const struct results *res)
{
        double med[2][M_COUNT];

        printf("\nthroughput, one core, median of %u rounds; wall clock, and the thread's own CPU time\n"
               "(CLOCK_THREAD_CPUTIME_ID: what a core would do unshared; the machine is shared):\n", o->rounds);
        printf("  %-17s %-8s %12s %12s %9s %9s %12s   %s\n", "events", "matcher", "events/s", "events/s",
               "ns/event", "ns/event", "ns/event", "rounds, wall s");
        printf("  %-17s %-8s %12s %12s %9s %9s %12s\n", "", "", "wall", "CPU", "wall", "CPU", "w/ cat, CPU");
        for (int k = 0; k < 2; k++) {
                for (int w = 0; w < M_COUNT; w++) {
                        double wall = median(res->wall[k][w], o->rounds), cpu = median(res->cpu[k][w], o->rounds);
                        char rounds[512];
                        int len = 0;

                        if (o->only >= 0 && w != o->only)
                                continue;
                        for (unsigned r = 0; r < o->rounds && len < (int)sizeof(rounds) - 16; r++)
                                len += snprintf(rounds + len, sizeof(rounds) - (size_t)len, "%s%.3f", r ? " " : "",
                                                res->wall[k][w][r]);
                        med[k][w] = cpu;
                        printf("  %-17s %-8s %12s %12s %9.1f %9.1f %12.1f   %s\n", sub[k].name, matcher_name[w],
                               grp((double)sub[k].n / wall), grp((double)sub[k].n / cpu),
                               wall * 1e9 / (double)sub[k].n, cpu * 1e9 / (double)sub[k].n,
                               sub[k].n_cat ? cpu * 1e9 / (double)sub[k].n_cat : 0, rounds);
                }
                if (o->only < 0)
                        printf("  %-17s ratio indexed/naive, events/s (CPU): %.2f; (wall): %.2f\n", sub[k].name,
                               med[k][M_NAIVE] / med[k][M_INDEXED],
                               median(res->wall[k][M_NAIVE], o->rounds) / median(res->wall[k][M_INDEXED], o->rounds));
        }
        for (int k = 0; k < 2; k++) {
                int w0 = o->only >= 0 ? o->only : M_INDEXED;
                bool same = true;

                for (unsigned r = 0; r < o->rounds; r++)
                        for (int w = 0; w < M_COUNT; w++)
                                if (o->only < 0 || w == o->only)
                                        same = same && res->matches[k][w][r] == res->matches[k][w0][0];
                if (same)
                        printf("  match count, %s: %s in every round%s\n", sub[k].name,
                               grp((double)res->matches[k][w0][0]), o->only < 0 ? ", both matchers" : "");
                else
                        printf("\n  !!!!!!!! MISMATCH in the timed rounds, %s: indexed %s, naive %s matches !!!!!!!!\n\n",
                               sub[k].name, grp((double)res->matches[k][M_INDEXED][0]),
                               grp((double)res->matches[k][M_NAIVE][0]));
        }
        printf("  involuntary context switches during the rounds: %ld\n", res->nivcsw);
}

static void print_latency(const char *label, uint32_t *lat, size_t n)
{
        uint64_t sum = 0;

        if (n == 0)
                return;
        qsort(lat, n, sizeof(*lat), cmp_u32);
        for (size_t i = 0; i < n; i++)
                sum += lat[i];
        printf("  %-28s %10s %9.0f %9u %9u %9u %10u\n", label, grp((double)n), (double)sum / (double)n,
               pct(lat, n, 50), pct(lat, n, 99), pct(lat, n, 99.9), lat[n - 1]);
}

static void run_latency(struct sigma_matcher *m[M_COUNT], struct sigma_scratch *s[M_COUNT],
                        const struct subset *all, size_t n_cat, int only)
{
        uint32_t *lat = malloc((n_cat > TIMER_SAMPLES ? n_cat : TIMER_SAMPLES) * sizeof(*lat));
        uint32_t *cat_of = malloc(n_cat * sizeof(*cat_of)), *sel = malloc(n_cat * sizeof(*sel));
        struct timer_cost tc;

        if (!lat || !cat_of || !sel) {
                fprintf(stderr, "replay: out of memory\n");
                exit(1);
        }
        tc = timer_overhead(lat);
        printf("\nlatency per event, ns (a separate pass timing each event with clock_gettime(CLOCK_MONOTONIC);\n"
               "the figures include the timer, whose back-to-back cost here is p50 %u ns, p99 %u ns):\n",
               tc.p50, tc.p99);
        printf("  %-28s %10s %9s %9s %9s %9s %10s\n", "", "events", "mean", "p50", "p99", "p99.9", "max");
        for (int w = 0; w < M_COUNT; w++) {
                size_t n;
                char label[64];

                if (only >= 0 && w != only)
                        continue;
                n = latency_pass(m[w], s[w], all->list, all->n, lat, cat_of);

                memcpy(sel, lat, n * sizeof(*sel));
                snprintf(label, sizeof(label), "%s, with a category", matcher_name[w]);
                print_latency(label, sel, n);
                for (size_t c = 0; c < detect_schema.n_categories; c++) {
                        size_t k = 0;

                        for (size_t i = 0; i < n; i++)
                                if (cat_of[i] == c)
                                        sel[k++] = lat[i];
                        snprintf(label, sizeof(label), "%s, %s", matcher_name[w], detect_schema.categories[c]);
                        print_latency(label, sel, k);
                }
        }
        free(sel);
        free(cat_of);
        free(lat);
}

static void print_mem(const char *what, struct mem_mark a, struct mem_mark b, double secs)
{
        double drss = (double)(b.rss_kib - a.rss_kib), dheap = ((double)b.heap - (double)a.heap) / 1024.0;

        printf("  %-34s RSS %8s -> %8s KiB (%s%s KiB), malloc in use %s%s KiB, %.3f s\n", what,
               grp((double)a.rss_kib), grp((double)b.rss_kib), drss >= 0 ? "+" : "", grp(drss),
               dheap >= 0 ? "+" : "", grp(dheap), secs);
}

static void print_fields_used(const struct sigma_matcher *m)
{
        printf("  fields any rule reads, by category (of %zu):", detect_schema.n_fields);
        for (size_t c = 0; c < detect_schema.n_categories; c++) {
                unsigned used = 0;

                for (size_t f = 0; f < detect_schema.n_fields; f++)
                        used += sigma_matcher_field_used(m, (uint32_t)c, (uint32_t)f);
                printf(" %s %u", detect_schema.categories[c], used);
        }
        printf("\n");
}

static void print_start(int cpu)
{
        char la[128] = "?\n";
        FILE *f = fopen("/proc/loadavg", "re");

        if (f) {
                if (!fgets(la, sizeof(la), f))
                        la[0] = '\0';
                fclose(f);
        }
        printf("bench-sigma-replay: pinned to CPU %d of %ld; load average at start %s", cpu,
               sysconf(_SC_NPROCESSORS_ONLN), la);
}

/* Both matchers and their scratch spaces, with the memory each took. */
static int compile(const struct sigma_ruleset *rs, struct mem_mark before, struct sigma_matcher *m[M_COUNT],
                   struct sigma_scratch *s[M_COUNT])
{
        static const char *const what[M_COUNT] = { "compile, indexed matcher", "compile, naive matcher" };
        struct mem_mark prev = before, cur;

        for (int w = 0; w < M_COUNT; w++) {
                double t0 = now_s(CLOCK_MONOTONIC);
                int r = sigma_matcher_new(rs, w == M_NAIVE ? SIGMA_MATCHER_NAIVE : 0, &m[w]);

                if (r < 0) {
                        fprintf(stderr, "replay: sigma_matcher_new (%s): %s\n", matcher_name[w], strerror(-r));
                        return r;
                }
                cur = mem_mark();
                print_mem(what[w], prev, cur, now_s(CLOCK_MONOTONIC) - t0);
                prev = cur;
        }
        for (int w = 0; w < M_COUNT; w++) {
                int r = sigma_scratch_new(m[w], &s[w]);

                if (r < 0) {
                        fprintf(stderr, "replay: sigma_scratch_new: %s\n", strerror(-r));
                        return r;
                }
        }
        cur = mem_mark();
        print_mem("two scratch spaces", prev, cur, 0);
        print_fields_used(m[M_INDEXED]);
        return 0;
}

/* sub[0]: every event, in recorded order; sub[1]: the process_creation ones. */
static int subsets_build(const struct recording *rec, struct subset sub[2])
{
        int pc = -1;

        for (size_t c = 0; c < detect_schema.n_categories; c++)
                if (strcmp(detect_schema.categories[c], "process_creation") == 0)
                        pc = (int)c;
        sub[0].list = malloc(rec->n * sizeof(*sub[0].list));
        sub[1].list = malloc(rec->n * sizeof(*sub[1].list));
        if (!sub[0].list || !sub[1].list)
                return -ENOMEM;
        for (size_t i = 0; i < rec->n; i++) {
                sub[0].list[sub[0].n++] = &rec->ev[i];
                if (rec->ev[i].cat != CAT_NONE)
                        sub[0].n_cat++;
                if (pc >= 0 && rec->ev[i].cat == (uint32_t)pc)
                        sub[1].list[sub[1].n++] = &rec->ev[i];
        }
        sub[1].n_cat = sub[1].n;
        return 0;
}

int main(int argc, char **argv)
{
        static struct recording rec;
        static struct results res;
        struct opts o;
        struct sigma_ruleset *rs = NULL;
        struct sigma_matcher *m[M_COUNT] = { 0 };
        struct sigma_scratch *s[M_COUNT] = { 0 };
        struct subset sub[2] = { { .name = "all events" }, { .name = "process_creation" } };
        struct mem_mark m0, m1;
        int cpu, r;
        uint64_t bad;
        double t0;

        if (parse_opts(argc, argv, &o) < 0)
                return 2;
        setvbuf(stdout, NULL, _IOLBF, 0);       /* in order with the progress on stderr */
        cpu = pin(o.cpu);
        if (cpu < 0) {
                fprintf(stderr, "replay: sched_setaffinity: %s\n", strerror(-cpu));
                return 1;
        }
        print_start(cpu);
        m0 = mem_mark();
        t0 = now_s(CLOCK_MONOTONIC);
        r = sigma_ruleset_new(&detect_schema, &rs);
        if (r >= 0)
                r = rules_load(rs, o.rules, o.n_rules, o.verbose);
        if (r < 0) {
                fprintf(stderr, "replay: no rules loaded: %s%s\n", strerror(-r),
                        r == -ENOSYS ? " (the engine is still the stub)" : "");
                return 1;
        }
        m1 = mem_mark();
        printf("\nmemory:\n");
        print_mem("ruleset (parsed rules)", m0, m1, now_s(CLOCK_MONOTONIC) - t0);
        if (compile(rs, m1, m, s) < 0)
                return 1;

        t0 = now_s(CLOCK_MONOTONIC);
        r = recording_load(&rec, o.events, o.limit);
        if (r < 0 || rec.n == 0) {
                fprintf(stderr, "replay: cannot read '%s': %s\n", o.events, r < 0 ? strerror(-r) : "no events");
                return 1;
        }
        print_recording(&rec, now_s(CLOCK_MONOTONIC) - t0);
        print_text_stats(m[M_INDEXED], &rec);
        if (subsets_build(&rec, sub) < 0)
                return 1;

        bad = o.no_verify ? 0 : verify(rs, m[M_INDEXED], s[M_INDEXED], m[M_NAIVE], s[M_NAIVE], &rec, o.top);
        run_rounds(&o, m, s, sub, &res);
        print_throughput(&o, sub, &res);
        if (res.errors)
                printf("  !! sigma_matcher_match returned an error %s times\n", grp((double)res.errors));
        run_latency(m, s, &sub[0], sub[0].n_cat, o.only);

        for (int w = 0; w < M_COUNT; w++) {
                sigma_scratch_free(s[w]);
                sigma_matcher_free(m[w]);
        }
        sigma_ruleset_free(rs);
        arena_release(&rec.arena);
        free(rec.ev);
        free(sub[0].list);
        free(sub[1].list);
        for (unsigned i = 0; i < rec.n_types; i++)
                free(rec.types[i]);
        return bad ? 3 : res.errors ? 1 : 0;
}
