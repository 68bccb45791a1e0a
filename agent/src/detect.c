/* detect: Sigma rules and built-in detectors over the agent's events (see
 * detect.h; the user's view is docs/DETECTION.md).
 *
 * For speed the matcher is asked once, when it is made, which fields the
 * rules of each category read; per event only those are filled, into an
 * array of sigma_str that stays all-NULL between events (the filled entries
 * are cleared after the match), so an event costs the fields its rules use
 * and no allocation. Matches are collected first and turned into alerts
 * after the match, because building an alert's JSON reuses the field
 * context's arena that the match reads. */
#include "agent/src/detect.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/src/detect_builtin.h"
#include "agent/src/event_json.h"

#define MATCHES_MAX 256                 /* rules one event can raise alerts for */
#define TAGS_MAX 64                     /* tags of a rule read into an alert */

const struct sigma_schema detect_schema = {
        .product = "linux",
        .fields = event_field_names,
        .n_fields = EVENT_FIELD_COUNT,
        .categories = event_category_names,
        .n_categories = EVENT_CATEGORY_COUNT,
};

struct detect {
        struct detect_config cfg;
        struct sigma_ruleset *rs;
        struct sigma_matcher *m;
        struct sigma_scratch *scratch;
        struct event_json *ej;          /* alert JSON; its field context serves matching too */
        struct event_fields *f;
        struct alert_table *alerts;
        struct detect_builtin *builtin;
        /* per category: the fields some rule reads, and whether any rule exists */
        uint16_t used[EVENT_CATEGORY_COUNT][EVENT_FIELD_COUNT];
        uint16_t n_used[EVENT_CATEGORY_COUNT];
        bool has_rules[EVENT_CATEGORY_COUNT];
        struct sigma_str values[EVENT_FIELD_COUNT];
        const struct sigma_rule *matches[MATCHES_MAX];
        size_t n_matches;
        struct detect_stats stats;
};

/* ---- events from JSON ---- */

/* The text of a scalar: strings as they are, numbers and booleans as text
 * in buf at *used. Returns 0, -ENOENT (null, array, object) or -ENOBUFS. */
static int json_scalar_text(const json_t *v, char *buf, size_t buf_size, size_t *used,
                            struct sigma_str *ret)
{
        char *p = buf + *used;
        size_t room = buf_size - *used;
        int n;

        switch (json_typeof(v)) {
        case JSON_STRING:
                *ret = (struct sigma_str){ json_string_value(v), (uint32_t)json_string_length(v) };
                return 0;
        case JSON_TRUE:
                *ret = (struct sigma_str){ "true", 4 };
                return 0;
        case JSON_FALSE:
                *ret = (struct sigma_str){ "false", 5 };
                return 0;
        case JSON_INTEGER:
                n = snprintf(p, room, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                n = snprintf(p, room, "%.17g", json_real_value(v));
                break;
        default:
                return -ENOENT;
        }
        if (n < 0 || (size_t)n >= room)
                return -ENOBUFS;
        *ret = (struct sigma_str){ p, (uint32_t)n };
        *used += (size_t)n + 1;
        return 0;
}

int detect_event_from_json(const json_t *event, struct sigma_str *fields, uint32_t *ret_category,
                           char *buf, size_t buf_size)
{
        const json_t *cat = json_object_get(event, "Category");
        size_t used = 0;
        int c, r;

        if (!json_is_object(event))
                return -EINVAL;
        if (!json_is_string(cat))
                return -ENOENT;
        c = event_category_find(json_string_value(cat), json_string_length(cat));
        if (c < 0)
                return -ENOENT;
        for (size_t i = 0; i < EVENT_FIELD_COUNT; i++) {
                const json_t *v = json_object_get(event, event_field_names[i]);

                fields[i] = (struct sigma_str){ NULL, 0 };
                if (!v)
                        continue;
                r = json_scalar_text(v, buf, buf_size, &used, &fields[i]);
                if (r == -ENOBUFS)
                        return r;
        }
        if (c == EVENT_CATEGORY_PROCESS_ACCESS && !fields[EVENT_FIELD_SOURCE_IMAGE].ptr)
                fields[EVENT_FIELD_SOURCE_IMAGE] = fields[EVENT_FIELD_IMAGE];
        *ret_category = (uint32_t)c;
        return 0;
}

/* ---- loading ---- */

int detect_rules_add(struct sigma_ruleset *rs, const char *path, sigma_diag_fn fn, void *userdata)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return sigma_ruleset_add_dir(rs, path, fn, userdata);
        return sigma_ruleset_add_file(rs, path, fn, userdata);
}

void detect_load_stats_add(struct detect_load_stats *st, const struct sigma_diag *diag)
{
        switch (diag->status) {
        case SIGMA_LOADED: st->loaded++; break;
        case SIGMA_UNSUPPORTED: st->unsupported++; break;
        case SIGMA_REJECTED: st->rejected++; break;
        }
}

void detect_load_stats_categories(struct detect_load_stats *st, const struct sigma_ruleset *rs)
{
        size_t n = sigma_ruleset_count(rs);

        memset(st->loaded_by_category, 0, sizeof(st->loaded_by_category));
        for (size_t i = 0; i < n; i++) {
                uint32_t c = sigma_rule_category(sigma_ruleset_rule(rs, i));

                if (c < EVENT_CATEGORY_COUNT)
                        st->loaded_by_category[c]++;
        }
}

static void on_diag(const struct sigma_diag *diag, void *userdata)
{
        struct detect *d = userdata;

        detect_load_stats_add(&d->stats.load, diag);
        if (d->cfg.diag_fn)
                d->cfg.diag_fn(diag, d->cfg.diag_userdata);
}

/* Loads every rule path; a path that cannot be read is an error. */
static int rules_load(struct detect *d, char *err, size_t err_size)
{
        int r;

        r = sigma_ruleset_new(&detect_schema, &d->rs);
        if (r < 0) {
                snprintf(err, err_size, "cannot create a ruleset: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < d->cfg.n_rule_paths; i++) {
                r = detect_rules_add(d->rs, d->cfg.rule_paths[i], on_diag, d);
                if (r < 0) {
                        snprintf(err, err_size, "cannot load rules from '%s': %s",
                                 d->cfg.rule_paths[i], strerror(-r));
                        return r;
                }
        }
        detect_load_stats_categories(&d->stats.load, d->rs);
        return 0;
}

/* Compiles the matcher and notes, per category, the fields it reads. */
static int matcher_make(struct detect *d, char *err, size_t err_size)
{
        int r;

        r = sigma_matcher_new(d->rs, 0, &d->m);
        if (r == 0)
                r = sigma_scratch_new(d->m, &d->scratch);
        if (r < 0) {
                snprintf(err, err_size, "cannot compile the rules: %s", strerror(-r));
                return r;
        }
        for (uint32_t c = 0; c < EVENT_CATEGORY_COUNT; c++) {
                d->has_rules[c] = d->stats.load.loaded_by_category[c] > 0;
                for (uint32_t f = 0; f < EVENT_FIELD_COUNT; f++)
                        if (sigma_matcher_field_used(d->m, c, f))
                                d->used[c][d->n_used[c]++] = (uint16_t)f;
        }
        return 0;
}

int detect_new(const struct detect_config *cfg, struct detect **ret, char *err, size_t err_size)
{
        struct detect *d = calloc(1, sizeof(*d));
        int r = -ENOMEM;

        if (!d)
                goto fail;
        d->cfg = *cfg;
        d->ej = event_json_new(cfg->sensor ? cfg->sensor : "");
        d->alerts = alert_table_new(cfg->alerts_max, cfg->fold_window_ns);
        d->builtin = cfg->no_builtin ? NULL : detect_builtin_new(0, 0, 0);
        if (!d->ej || !d->alerts || (!cfg->no_builtin && !d->builtin)) {
                snprintf(err, err_size, "out of memory");
                goto fail;
        }
        d->f = event_json_fields(d->ej);
        r = rules_load(d, err, err_size);
        if (r == 0 && sigma_ruleset_count(d->rs) > 0)
                r = matcher_make(d, err, err_size);
        if (r < 0)
                goto fail;
        *ret = d;
        return 0;
fail:
        detect_free(d);
        return r;
}

void detect_free(struct detect *d)
{
        if (!d)
                return;
        sigma_scratch_free(d->scratch);
        sigma_matcher_free(d->m);
        sigma_ruleset_free(d->rs);
        detect_builtin_free(d->builtin);
        alert_table_free(d->alerts);
        event_json_free(d->ej);
        free(d);
}

/* ---- alerts ---- */

/* The process an alert folds on: the subject's parent, unless that is
 * unknown or init, then the subject. */
static struct alert_tree tree_of(struct detect *d, const struct agent_event *ev,
                                 const struct proctable *pt)
{
        const struct proctable_proc *self = event_fields_self(d->f);
        const struct proctable_proc *parent = self ? proctable_parent(pt, self) : NULL;
        struct alert_tree t = { ev->proc.pid, ev->proc.start_ticks };

        if (parent && parent->pid > 1)
                t = (struct alert_tree){ parent->pid, parent->start_ticks };
        else if (!t.start_ticks && self)
                t.start_ticks = self->start_ticks;
        return t;
}

/* Copies field ids into o under the given keys, leaving out absent ones. */
static int fields_put(struct event_fields *f, json_t *o, const enum event_field *ids,
                      const char *const *keys, size_t n)
{
        struct event_value v;
        json_t *j;

        for (size_t i = 0; i < n; i++) {
                if (event_fields_value(f, ids[i], &v) < 0)
                        continue;
                j = v.type == EVENT_FIELD_STRING ? json_stringn(v.str, v.len) :
                    v.type == EVENT_FIELD_BOOL ? json_boolean(v.num) : json_integer(v.num);
                event_fields_scratch_reset(f);
                if (json_object_set_new(o, keys[i], j) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static json_t *subject_json(struct event_fields *f)
{
        static const enum event_field ids[] = {
                EVENT_FIELD_PROCESS_ID, EVENT_FIELD_PROCESS_START_TICKS, EVENT_FIELD_IMAGE,
                EVENT_FIELD_COMMAND_LINE, EVENT_FIELD_UID, EVENT_FIELD_USER,
        };
        static const char *const keys[] = { "pid", "start_ticks", "image", "command_line", "uid", "user" };
        json_t *o = json_object();

        if (o && fields_put(f, o, ids, keys, sizeof(ids) / sizeof(ids[0])) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *network_json(struct event_fields *f)
{
        static const enum event_field ids[] = {
                EVENT_FIELD_PROTOCOL, EVENT_FIELD_INITIATED, EVENT_FIELD_SOURCE_IP,
                EVENT_FIELD_SOURCE_PORT, EVENT_FIELD_DESTINATION_IP, EVENT_FIELD_DESTINATION_PORT,
        };
        static const char *const keys[] = {
                "protocol", "initiated", "source_ip", "source_port", "destination_ip", "destination_port",
        };
        json_t *o = json_object();

        if (o && fields_put(f, o, ids, keys, sizeof(ids) / sizeof(ids[0])) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* One ancestor as the alert shows it. */
static json_t *ancestor_json(struct event_fields *f, const struct proctable_proc *p)
{
        const char *image, *cmd;
        size_t image_len, cmd_len;
        json_t *o;

        if (event_fields_utf8(f, p->image, p->image_len + 1, &image, &image_len) < 0 ||
            event_fields_cmdline(f, p->args, p->args_len, &cmd, &cmd_len, NULL) < 0)
                return NULL;
        o = json_pack("{s:I,s:I,s:s%,s:s%}", "pid", (json_int_t)p->pid,
                      "start_ticks", (json_int_t)p->start_ticks, "image", image, image_len,
                      "command_line", cmd, cmd_len);
        event_fields_scratch_reset(f);
        if (o && p->uid != UINT32_MAX &&
            (json_object_set_new(o, "uid", json_integer(p->uid)) < 0 ||
             json_object_set_new(o, "user", json_string(event_fields_user(f, p->uid))) < 0)) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *ancestors_json(struct event_fields *f, const struct proctable *pt)
{
        const struct proctable_proc *anc[PROCTABLE_ANCESTRY_MAX];
        const struct proctable_proc *self = event_fields_self(f);
        unsigned n = self && pt ? proctable_ancestors(pt, self, anc, PROCTABLE_ANCESTRY_MAX) : 0;
        json_t *arr = json_array();

        for (unsigned i = 0; arr && i < n; i++)
                if (json_array_append_new(arr, ancestor_json(f, anc[i])) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        return arr;
}

/* The payload of a new alert: the event (its ancestors are in the alert's
 * own list), the subject, its ancestors and the network peer. */
static int payload_build(struct detect *d, const struct agent_event *ev, const struct proctable *pt,
                         struct alert_payload *p)
{
        int cat = event_category_of(ev);
        int r;

        r = event_json_build(d->ej, ev, pt, &p->event);
        if (r < 0)
                return r;
        json_object_del(p->event, "Ancestors");
        p->category = cat >= 0 ? event_category_names[cat] : NULL;
        p->process = subject_json(d->f);
        p->ancestors = ancestors_json(d->f, pt);
        if (cat == EVENT_CATEGORY_NETWORK_CONNECTION)
                p->network = network_json(d->f);
        if (!p->process || !p->ancestors || (cat == EVENT_CATEGORY_NETWORK_CONNECTION && !p->network))
                return -ENOMEM;
        return 0;
}

static void emit(struct detect *d, const struct alert *a, enum alert_change change)
{
        if (change == ALERT_CHANGE_NEW)
                d->stats.alerts_new++;
        else
                d->stats.alerts_updated++;
        if (d->cfg.alert_fn)
                d->cfg.alert_fn(a, change, d->cfg.alert_userdata);
}

/* Folds the detection into an open alert or opens one; evidence is taken. */
static void raise_alert(struct detect *d, const struct alert_rule *rule, const struct agent_event *ev,
                        const struct proctable *pt, json_t *evidence)
{
        struct alert_time at = { ev->mono_ns, ev->wall_ns };
        struct alert_tree tree = tree_of(d, ev, pt);
        struct alert_payload p = { .evidence = evidence };
        const char *key = rule->id && rule->id[0] ? rule->id : rule->title;
        struct alert *a = alert_table_fold(d->alerts, key, &tree, &at);

        if (a) {
                json_decref(evidence);
                emit(d, a, ALERT_CHANGE_UPDATE);
                return;
        }
        if (payload_build(d, ev, pt, &p) < 0 ||
            alert_table_open(d->alerts, &(struct alert_rule){ .id = key, .title = rule->title,
                             .source = rule->source, .level = rule->level, .tags = rule->tags,
                             .n_tags = rule->n_tags }, &tree, &at, &p, &a) < 0) {
                alert_payload_release(&p);
                d->stats.errors++;
                return;
        }
        emit(d, a, ALERT_CHANGE_NEW);
}

static void raise_sigma(struct detect *d, const struct sigma_rule *r, const struct agent_event *ev,
                        const struct proctable *pt)
{
        const char *tags[TAGS_MAX];
        size_t n = sigma_rule_tag_count(r);
        struct alert_rule rule = {
                .id = sigma_rule_id(r), .title = sigma_rule_title(r), .source = "sigma",
                .level = sigma_rule_level(r), .tags = tags, .n_tags = n < TAGS_MAX ? n : TAGS_MAX,
        };

        for (size_t i = 0; i < rule.n_tags; i++)
                tags[i] = sigma_rule_tag(r, i);
        raise_alert(d, &rule, ev, pt, NULL);
}

static json_t *builtin_evidence(const struct detect_builtin_hit *h)
{
        char at[EVENT_TIMESTAMP_MAX];

        event_timestamp_format(h->written_wall_ns, at);
        return json_pack("{s:s,s:s,s:s,s:{s:I,s:I,s:s}}", "TargetFilename", h->path,
                         "WrittenAt", at, "DownloadedBy", h->why, "Writer",
                         "ProcessId", (json_int_t)h->writer_pid,
                         "ProcessStartTicks", (json_int_t)h->writer_start_ticks,
                         "Comm", h->writer_comm);
}

/* ---- matching ---- */

static int on_match(const struct sigma_rule *rule, void *userdata)
{
        struct detect *d = userdata;

        if (d->n_matches < MATCHES_MAX)
                d->matches[d->n_matches++] = rule;
        return 0;
}

/* Fills the fields the category's rules read, matches, clears them. */
static void sigma_run(struct detect *d, uint32_t cat)
{
        struct sigma_event sev = { .category = cat, .fields = d->values };
        const char *s;
        size_t n;

        for (uint16_t i = 0; i < d->n_used[cat]; i++) {
                uint16_t id = d->used[cat][i];

                if (event_fields_text(d->f, id, &s, &n) == 0)
                        d->values[id] = (struct sigma_str){ s, (uint32_t)n };
        }
        d->n_matches = 0;
        sigma_matcher_match(d->m, d->scratch, &sev, on_match, d);
        for (uint16_t i = 0; i < d->n_used[cat]; i++)
                d->values[d->used[cat][i]].ptr = NULL;
}

int detect_event(struct detect *d, const struct agent_event *ev, const struct proctable *pt)
{
        struct detect_builtin_hit hit;
        int cat = event_category_of(ev);
        int found = 0;

        d->stats.events++;
        event_fields_begin(d->f, ev, pt);
        d->n_matches = 0;
        if (cat >= 0 && d->m && d->has_rules[cat])
                sigma_run(d, (uint32_t)cat);
        for (size_t i = 0; i < d->n_matches; i++)
                raise_sigma(d, d->matches[i], ev, pt);
        found = (int)d->n_matches;
        if (d->builtin && detect_builtin_feed(d->builtin, ev, pt, &hit) > 0) {
                raise_alert(d, hit.rule, ev, pt, builtin_evidence(&hit));
                found++;
        }
        if (found)
                d->stats.matched++;
        return found;
}

void detect_sensor_set(struct detect *d, const char *sensor)
{
        event_fields_sensor_set(d->f, sensor);
}

void detect_tick(struct detect *d, uint64_t now_mono_ns)
{
        alert_table_expire(d->alerts, now_mono_ns);
}

void detect_stats_get(const struct detect *d, struct detect_stats *ret)
{
        *ret = d->stats;
}
