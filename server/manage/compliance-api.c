/* compliance api: compliance policies as admins apply them
 * (/api/v1/compliance-policies...), each device's compliance and its
 * history, the report by policy and state, and the tenant settings.
 * docs/COMPLIANCE.md ("In vigild") and docs/API.md have the reference. */
#include "server/manage/compliance-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define SETTINGS_BODY_MAX 1024

static bool started(struct vigild *d, struct http_reply *rep)
{
        if (d->compliance)
                return true;
        http_reply_error(rep, 503, "compliance_unavailable", "the compliance module is not running");
        return false;
}

/* RFC 3339 with milliseconds. */
static json_t *time_ms_json(int64_t ms)
{
        char buf[21], out[32];

        if (ms <= 0)
                return json_null();
        util_time_format(ms / 1000, buf);
        buf[19] = '\0';
        snprintf(out, sizeof(out), "%s.%03lldZ", buf, (long long)(ms % 1000));
        return json_string(out);
}

static json_t *text_or_null(struct db_stmt *st, int col)
{
        return db_column_is_null(st, col) ? json_null() : json_string(db_column_text(st, col, NULL));
}

/* A policy as the API shows it. lock held. */
static json_t *entry_json(const struct compliance_entry *e)
{
        return json_pack("{s:s,s:s,s:I,s:o,s:s,s:o,s:s,s:b,s:o}", "id", e->id, "name", e->policy->name,
                         "version", (json_int_t)e->version, "created_at", http_time_or_null(e->created_at),
                         "created_by", e->created_by, "updated_at", http_time_or_null(e->updated_at), "updated_by",
                         e->updated_by, "needs_security_admin", compliance_policy_needs_security_admin(e->policy),
                         "document", compliance_policy_to_json(e->policy));
}

static void reply_entry(struct compliance_service *s, const char *id, unsigned status, const char *result,
                        struct http_reply *rep)
{
        const struct compliance_entry *e;
        json_t *j = NULL;

        pthread_rwlock_rdlock(&s->lock);
        e = compliance_entry_find(s, id);
        if (e)
                j = entry_json(e);
        pthread_rwlock_unlock(&s->lock);
        if (!j) {
                http_reply_error(rep, 404, "policy_not_found", "no compliance policy with id '%s'", id);
                return;
        }
        if (result)
                json_object_set_new(j, "result", json_string(result));
        http_reply_json(rep, status, j);
}

/* Compiles the request's document and checks its assignments and the
 * caller's role. Returns a new entry (version 0, no id) or NULL with rep filled. */
static struct compliance_entry *entry_read(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct compliance_entry *e = calloc(1, sizeof(*e));
        char err[COMPLIANCE_REASON_MAX + 64];
        int r;

        if (!e) {
                http_reply_error(rep, 500, "internal", "out of memory");
                return NULL;
        }
        r = compliance_policy_parse(req->body, req->body_len, &e->policy, err, sizeof(err));
        if (r == -E2BIG) {
                http_reply_error(rep, 413, "policy_too_large", "%s", err);
                goto fail;
        }
        if (r < 0) {
                http_reply_error_at(rep, 400, "invalid_policy", "%s", err);
                goto fail;
        }
        if (e->policy->assignments) {
                char aerr[256];

                if (manage_assignment_parse(d, e->policy->assignments, &e->assign, aerr, sizeof(aerr)) < 0) {
                        http_reply_error_at(rep, 400, "invalid_policy", "assignments: %s", aerr);
                        goto fail;
                }
        }
        if (compliance_policy_needs_security_admin(e->policy) && !(req->who->role & ROLE_SECURITY_ADMIN)) {
                http_reply_error(rep, 403, "forbidden", "policy '%s' has an isolate action: only a security_admin "
                                 "may apply it", e->policy->name);
                goto fail;
        }
        snprintf(e->updated_by, sizeof(e->updated_by), "%s", req->who->token_id);
        e->updated_at = util_now();
        return e;
fail:
        compliance_entry_free(e);
        return NULL;
}

/* An existing policy with isolate may be changed or deleted by a security_admin only. */
static bool may_replace(const struct compliance_entry *old, const struct http_request *req, struct http_reply *rep)
{
        if (!compliance_policy_needs_security_admin(old->policy) || (req->who->role & ROLE_SECURITY_ADMIN))
                return true;
        http_reply_error(rep, 403, "forbidden", "policy '%s' has an isolate action: only a security_admin may "
                         "change or delete it", old->policy->name);
        return false;
}

enum apply_result { APPLY_CREATED, APPLY_UPDATED, APPLY_UNCHANGED };
static const char *const apply_names[] = { "created", "updated", "unchanged" };

/* Stores e as policy old_id (NULL: a new policy). change held. Takes e in
 * every case. Returns 0 with the result, or -1 with rep filled. */
static int entry_put(struct compliance_service *s, struct compliance_entry *e, const char *old_id,
                     const struct http_request *req, struct http_reply *rep, enum apply_result *ret)
{
        const struct compliance_entry *old, *named;
        size_t a_len, b_len;
        int r;

        pthread_rwlock_rdlock(&s->lock);
        old = old_id ? compliance_entry_find(s, old_id) : NULL;
        named = compliance_entry_find_name(s, e->policy->name);
        if (old_id && !old) {
                pthread_rwlock_unlock(&s->lock);
                http_reply_error(rep, 404, "policy_not_found", "no compliance policy with id '%s'", old_id);
                goto fail;
        }
        if (named && named != old) {
                pthread_rwlock_unlock(&s->lock);
                http_reply_error(rep, 409, "policy_exists", "a compliance policy named '%s' exists already (%s)",
                                 e->policy->name, named->id);
                goto fail;
        }
        if (old && !may_replace(old, req, rep)) {
                pthread_rwlock_unlock(&s->lock);
                goto fail;
        }
        if (old) {
                const char *a = compliance_policy_canonical(old->policy, &a_len);
                const char *b = compliance_policy_canonical(e->policy, &b_len);

                if (a_len == b_len && memcmp(a, b, a_len) == 0) {
                        pthread_rwlock_unlock(&s->lock);
                        compliance_entry_free(e);
                        *ret = APPLY_UNCHANGED;
                        return 0;
                }
                memcpy(e->id, old->id, sizeof(e->id));
                e->version = old->version + 1;
                e->created_at = old->created_at;
                memcpy(e->created_by, old->created_by, sizeof(e->created_by));
        }
        pthread_rwlock_unlock(&s->lock);
        if (!old) {
                if (crypto_uuid4(e->id) < 0) {
                        http_reply_error(rep, 500, "internal", "cannot make a policy id");
                        goto fail;
                }
                e->version = 1;
                e->created_at = e->updated_at;
                memcpy(e->created_by, e->updated_by, sizeof(e->created_by));
        }
        r = compliance_entry_store_take(s, e, !old);
        if (r == -E2BIG) {
                http_reply_error(rep, 409, "too_many_policies", "at most %d compliance policies may exist",
                                 COMPLIANCE_POLICIES_MAX);
                goto fail;
        }
        if (r < 0) {
                http_reply_error(rep, 500, "database_error", "cannot store the compliance policy");
                goto fail;
        }
        *ret = old ? APPLY_UPDATED : APPLY_CREATED;
        return 0;
fail:
        compliance_entry_free(e);
        return -1;
}

/* POST /api/v1/compliance-policies (create), POST .../apply (by name),
 * PUT .../{id} (replace). */
static void policy_write(struct vigild *d, const struct http_request *req, struct http_reply *rep, bool create,
                         const char *id)
{
        struct compliance_service *s = d->compliance;
        struct compliance_entry *e;
        enum apply_result res;
        char eid[COMPLIANCE_ID_LEN + 1], name[COMPLIANCE_NAME_MAX + 1];
        const struct compliance_entry *named;

        if (!started(d, rep))
                return;
        e = entry_read(d, req, rep);
        if (!e)
                return;
        snprintf(name, sizeof(name), "%s", e->policy->name);
        pthread_mutex_lock(&s->change);
        if (!create && !id) {
                pthread_rwlock_rdlock(&s->lock);
                named = compliance_entry_find_name(s, name);
                if (named)
                        memcpy(eid, named->id, sizeof(eid));
                pthread_rwlock_unlock(&s->lock);
                id = named ? eid : NULL;
        }
        if (entry_put(s, e, id, req, rep, &res) < 0) {
                pthread_mutex_unlock(&s->change);
                return;
        }
        pthread_rwlock_rdlock(&s->lock);
        named = compliance_entry_find_name(s, name);
        if (named)
                memcpy(eid, named->id, sizeof(eid));
        pthread_rwlock_unlock(&s->lock);
        pthread_mutex_unlock(&s->change);
        if (res != APPLY_UNCHANGED)
                log_info("compliance: policy '%s' (%s) %s by token %s", name, eid, apply_names[res],
                         req->who->token_id);
        reply_entry(s, eid, res == APPLY_CREATED ? 201 : 200, apply_names[res], rep);
}

/* A create of a name that exists is refused (409); apply updates it. */
static void handle_create(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        policy_write(d, req, rep, true, NULL);
}

static void handle_apply(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        policy_write(d, req, rep, false, NULL);
}

static void handle_replace(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        policy_write(d, req, rep, false, req->params[0]);
}

/* GET /api/v1/compliance-policies?limit=&offset= */
static void handle_list(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct compliance_service *s = d->compliance;
        uint64_t limit, offset;
        json_t *arr;
        size_t total;

        if (!started(d, rep) ||
            http_request_paging(req, LIST_LIMIT_DEFAULT, COMPLIANCE_POLICIES_MAX, &limit, &offset, rep) < 0)
                return;
        arr = json_array();
        pthread_rwlock_rdlock(&s->lock);
        total = s->n_policies;
        for (size_t i = (size_t)offset; arr && i < s->n_policies && i < offset + limit; i++)
                json_array_append_new(arr, entry_json(s->policies[i]));
        pthread_rwlock_unlock(&s->lock);
        http_reply_json(rep, 200, json_pack("{s:I,s:o,s:o}", "count", (json_int_t)total, "value", arr,
                                            "next_offset", http_page_next(json_array_size(arr), (int64_t)total,
                                                                          offset)));
}

static void handle_show(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        if (started(d, rep))
                reply_entry(d->compliance, req->params[0], 200, NULL, rep);
}

static void handle_delete(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct compliance_service *s = d->compliance;
        const struct compliance_entry *e;
        char name[COMPLIANCE_NAME_MAX + 1] = "";
        bool allowed = true;
        int r;

        if (!started(d, rep))
                return;
        pthread_mutex_lock(&s->change);
        pthread_rwlock_rdlock(&s->lock);
        e = compliance_entry_find(s, req->params[0]);
        if (e) {
                snprintf(name, sizeof(name), "%s", e->policy->name);
                allowed = may_replace(e, req, rep);
        }
        pthread_rwlock_unlock(&s->lock);
        r = !e ? -ENOENT : allowed ? compliance_entry_delete(s, req->params[0]) : -EPERM;
        pthread_mutex_unlock(&s->change);
        if (r == -ENOENT) {
                http_reply_error(rep, 404, "policy_not_found", "no compliance policy with id '%s'", req->params[0]);
        } else if (r == 0) {
                log_info("compliance: policy '%s' (%s) deleted by token %s", name, req->params[0], req->who->token_id);
                http_reply_json(rep, 200, json_pack("{s:s,s:s,s:b}", "id", req->params[0], "name", name,
                                                    "deleted", 1));
        } else if (r != -EPERM) {
                http_reply_error(rep, 500, "database_error", "cannot delete the compliance policy");
        }
}

/* GET /api/v1/devices/{id}/compliance */
static void handle_device(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        json_t *out, *arr;
        struct db_stmt *st;
        int r;

        if (!started(d, rep))
                return;
        if (!enroll_device_exists(d, id)) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", id);
                return;
        }
        out = json_pack("{s:s,s:s,s:n,s:n,s:n,s:s,s:n,s:n}", "device_id", id, "state", "not_evaluated", "since",
                        "policy_id", "setting", "reason", "the device has not been evaluated yet", "evaluated_at",
                        "next_check");
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT state, since_ms, policy_id, setting, reason, evaluated_at, next_check "
                              "FROM compliance_device_state WHERE device_id = $1", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                if ((r = db_step(st)) == 1) {
                        json_object_set_new(out, "state", json_string(db_column_text(st, 0, NULL)));
                        json_object_set_new(out, "since", time_ms_json(db_column_int64(st, 1)));
                        json_object_set_new(out, "policy_id", text_or_null(st, 2));
                        json_object_set_new(out, "setting", text_or_null(st, 3));
                        json_object_set_new(out, "reason", json_string(db_column_text(st, 4, NULL)));
                        json_object_set_new(out, "evaluated_at", http_time_or_null(db_column_int64(st, 5)));
                        json_object_set_new(out, "next_check", http_time_or_null(db_column_int64(st, 6)));
                }
                db_stmt_done(st);
        }
        db_unlock(d->db);
        arr = r >= 0 ? compliance_live_results(d->compliance, id) : NULL;
        json_object_set_new(out, "policies", arr ? arr : json_array());
        if (r < 0 || !arr) {
                json_decref(out);
                http_reply_error(rep, 500, "database_error", "cannot read the device's compliance");
                return;
        }
        http_reply_json(rep, 200, out);
}

/* GET /api/v1/devices/{id}/compliance/history?limit=&offset=, newest first */
static void handle_history(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *id = req->params[0];
        uint64_t limit, offset;
        int64_t total = 0;
        struct db_stmt *st;
        json_t *arr;
        int r;

        if (!started(d, rep) || http_request_paging(req, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        if (!enroll_device_exists(d, id)) {
                http_reply_error(rep, 404, "device_not_found", "no device with id '%s'", id);
                return;
        }
        arr = json_array();
        db_lock(d->db);
        r = db_prepare(d->db, "SELECT count(*) FROM compliance_history WHERE device_id = $1", &st);
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                if (db_step(st) == 1)
                        total = db_column_int64(st, 0);
                db_stmt_done(st);
                r = db_prepare(d->db, "SELECT at_ms, from_state, to_state, policy_id, setting, reason, risk_as_of_ns "
                                      "FROM compliance_history WHERE device_id = $1 ORDER BY seq DESC "
                                      "LIMIT $2 OFFSET $3", &st);
        }
        if (r == 0) {
                db_bind_text(st, 1, id, strlen(id));
                db_bind_int64(st, 2, (int64_t)limit);
                db_bind_int64(st, 3, (int64_t)offset);
                while ((r = db_step(st)) == 1)
                        json_array_append_new(arr, json_pack("{s:o,s:I,s:o,s:s,s:o,s:o,s:s,s:o}", "at",
                                                             time_ms_json(db_column_int64(st, 0)), "at_ms",
                                                             (json_int_t)db_column_int64(st, 0), "from",
                                                             text_or_null(st, 1), "to", db_column_text(st, 2, NULL),
                                                             "policy_id", text_or_null(st, 3), "setting",
                                                             text_or_null(st, 4), "reason",
                                                             db_column_text(st, 5, NULL), "risk_as_of_ms",
                                                             db_column_int64(st, 6) ?
                                                             json_integer(db_column_int64(st, 6) / 1000000) :
                                                             json_null()));
                db_stmt_done(st);
        }
        db_unlock(d->db);
        if (r < 0) {
                json_decref(arr);
                http_reply_error(rep, 500, "database_error", "cannot read the compliance history");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:I,s:o,s:o}", "count", (json_int_t)total, "value", arr,
                                            "next_offset", http_page_next(json_array_size(arr), total, offset)));
}

/* Counts by policy and state, then by state over devices. db lock held. */
static int report_counts(struct vigild *d, json_t *policies, json_t *devices)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT p.id, p.name, r.state, count(r.device_id) FROM compliance_policies p "
                              "LEFT JOIN compliance_results r ON r.policy_id = p.id "
                              "GROUP BY p.id, p.name, r.state ORDER BY p.created_at, p.id", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1) {
                const char *pid = db_column_text(st, 0, NULL);
                json_t *p = json_object_get(policies, pid);

                if (!p) {
                        p = json_pack("{s:s,s:s,s:{}}", "id", pid, "name", db_column_text(st, 1, NULL), "counts");
                        json_object_set_new(policies, pid, p);
                }
                if (!db_column_is_null(st, 2))
                        json_object_set_new(json_object_get(p, "counts"), db_column_text(st, 2, NULL),
                                            json_integer(db_column_int64(st, 3)));
        }
        db_stmt_done(st);
        if (r < 0)
                return r;
        r = db_prepare(d->db, "SELECT state, count(*) FROM compliance_device_state GROUP BY state", &st);
        if (r < 0)
                return r;
        while ((r = db_step(st)) == 1)
                json_object_set_new(devices, db_column_text(st, 0, NULL), json_integer(db_column_int64(st, 1)));
        db_stmt_done(st);
        return r;
}

/* A page of devices, of one state or all, into arr; their number to *total. db lock held. */
static int report_devices(struct vigild *d, const char *state, uint64_t limit, uint64_t offset, json_t *arr,
                          int64_t *total)
{
        struct db_stmt *st;
        int r;

        r = db_prepare(d->db, "SELECT count(*) FROM compliance_device_state WHERE $1 IS NULL OR state = $1", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, state, state ? strlen(state) : 0);
        if (db_step(st) == 1)
                *total = db_column_int64(st, 0);
        db_stmt_done(st);
        r = db_prepare(d->db, "SELECT device_id, state, since_ms, policy_id, setting, reason FROM "
                              "compliance_device_state WHERE $1 IS NULL OR state = $1 ORDER BY state, device_id "
                              "LIMIT $2 OFFSET $3", &st);
        if (r < 0)
                return r;
        db_bind_text(st, 1, state, state ? strlen(state) : 0);
        db_bind_int64(st, 2, (int64_t)limit);
        db_bind_int64(st, 3, (int64_t)offset);
        while ((r = db_step(st)) == 1)
                json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:o,s:o,s:s}", "device_id",
                                                     db_column_text(st, 0, NULL), "state",
                                                     db_column_text(st, 1, NULL), "since",
                                                     time_ms_json(db_column_int64(st, 2)), "policy_id",
                                                     text_or_null(st, 3), "setting", text_or_null(st, 4),
                                                     "reason", db_column_text(st, 5, NULL)));
        db_stmt_done(st);
        return r;
}

/* GET /api/v1/compliance/report?state=&limit=&offset= */
static void handle_report(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        const char *state = http_request_query(req, "state");
        json_t *policies, *devices, *arr, *list;
        enum compliance_state sv;
        uint64_t limit, offset;
        int64_t total = 0;
        const char *k;
        json_t *v;
        int r;

        if (!started(d, rep) || http_request_paging(req, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &limit, &offset, rep) < 0)
                return;
        if (state && compliance_state_parse(state, &sv) < 0) {
                http_reply_error(rep, 400, "invalid_query", "'state' must be one of compliant, noncompliant, "
                                 "in_grace_period, not_evaluated, error, unknown");
                return;
        }
        policies = json_object();
        devices = json_object();
        arr = json_array();
        db_lock(d->db);
        r = report_counts(d, policies, devices);
        if (r >= 0)
                r = report_devices(d, state, limit, offset, arr, &total);
        db_unlock(d->db);
        list = json_array();
        json_object_foreach(policies, k, v)
                json_array_append(list, v);
        json_decref(policies);
        if (r < 0) {
                json_decref(list);
                json_decref(devices);
                json_decref(arr);
                http_reply_error(rep, 500, "database_error", "cannot read the compliance report");
                return;
        }
        http_reply_json(rep, 200, json_pack("{s:o,s:o,s:I,s:o,s:o}", "policies", list, "devices", devices, "count",
                                            (json_int_t)total, "value", arr, "next_offset",
                                            http_page_next(json_array_size(arr), total, offset)));
}

static void handle_settings_get(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct compliance_tenant t;

        (void)req;
        if (!started(d, rep))
                return;
        pthread_rwlock_rdlock(&d->compliance->lock);
        t = d->compliance->tenant;
        pthread_rwlock_unlock(&d->compliance->lock);
        http_reply_json(rep, 200, compliance_tenant_to_json(&t));
}

/* PATCH /api/v1/compliance/settings */
static void handle_settings_patch(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        struct compliance_service *s = d->compliance;
        struct compliance_tenant t;
        char err[256];
        json_t *body;
        int r;

        if (!started(d, rep))
                return;
        body = http_request_json(req, rep);
        if (!body)
                return;
        pthread_mutex_lock(&s->change);
        pthread_rwlock_rdlock(&s->lock);
        t = s->tenant;
        pthread_rwlock_unlock(&s->lock);
        r = compliance_tenant_apply(body, &t, err, sizeof(err));
        if (r < 0)
                http_reply_error(rep, 400, "invalid_settings", "%s", err);
        else if ((r = compliance_tenant_store(s, &t, req->who->token_id)) < 0)
                http_reply_error(rep, 500, "database_error", "cannot store the compliance settings");
        pthread_mutex_unlock(&s->change);
        json_decref(body);
        if (r < 0)
                return;
        log_info("compliance: tenant settings changed by token %s", req->who->token_id);
        http_reply_json(rep, 200, compliance_tenant_to_json(&t));
}

const struct http_route compliance_routes[] = {
        { "GET", "/api/v1/compliance-policies", HTTP_AUTH_ADMIN, ROLES_ANY, handle_list, 0 },
        { "POST", "/api/v1/compliance-policies", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_create,
          COMPLIANCE_DOCUMENT_MAX },
        { "POST", "/api/v1/compliance-policies/apply", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_apply,
          COMPLIANCE_DOCUMENT_MAX },
        { "GET", "/api/v1/compliance-policies/{id}", HTTP_AUTH_ADMIN, ROLES_ANY, handle_show, 0 },
        { "PUT", "/api/v1/compliance-policies/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_replace,
          COMPLIANCE_DOCUMENT_MAX },
        { "DELETE", "/api/v1/compliance-policies/{id}", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_delete, 0 },
        { "GET", "/api/v1/devices/{id}/compliance", HTTP_AUTH_ADMIN, ROLES_ANY, handle_device, 0 },
        { "GET", "/api/v1/devices/{id}/compliance/history", HTTP_AUTH_ADMIN, ROLES_ANY, handle_history, 0 },
        { "GET", "/api/v1/compliance/report", HTTP_AUTH_ADMIN, ROLES_ANY, handle_report, 0 },
        { "GET", "/api/v1/compliance/settings", HTTP_AUTH_ADMIN, ROLES_ANY, handle_settings_get, 0 },
        { "PATCH", "/api/v1/compliance/settings", HTTP_AUTH_ADMIN, ROLES_ADMIN, handle_settings_patch,
          SETTINGS_BODY_MAX },
        { 0 },
};
