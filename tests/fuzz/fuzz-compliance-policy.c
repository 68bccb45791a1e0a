/* Fuzzes the check of a compliance policy document (what `vigil policy apply
 * -f FILE.json` sends), and of the tenant's compliance settings read from
 * the same bytes. A refusal must be -EINVAL or -E2BIG with a reason
 * that starts with the field's path; an accepted policy must hold to its
 * limits, give a canonical form that parses back to itself, and evaluate
 * (against a passing and a failing device) to states in range, the device's
 * state no better than any of its policies'. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/manage/compliance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_canonical(const struct compliance_policy *p)
{
        struct compliance_policy *q;
        size_t len;
        const char *c = compliance_policy_canonical(p, &len);
        char err[512];

        if (compliance_policy_parse(c, len, &q, err, sizeof(err)) != 0)
                abort();
        if (q->canonical_len != len || memcmp(q->canonical, c, len) != 0)
                abort();
        compliance_policy_free(q);
}

static void check_evaluate(const struct compliance_policy *p)
{
        struct compliance_tenant t = COMPLIANCE_TENANT_DEFAULTS;
        struct compliance_facts f = {
                .platform = "linux", .risk_applicable = true, .inventory_at = 1, .os_version = "12.1",
                .disk_encryption = COMPLIANCE_FACT_YES, .firewall = COMPLIANCE_FACT_YES,
                .secure_boot = COMPLIANCE_FACT_YES, .sensor = COMPLIANCE_SENSOR_BPF, .last_heartbeat = 1000,
                .exposure_available = true, .last_seen = 1000,
        };
        struct compliance_result r[2];
        struct compliance_device_result d;
        json_t *j;

        compliance_evaluate(p, &f, &t, 1000, 0, &r[0]);
        f.risk = DEFEND_LEVEL_HIGH;
        f.firewall = COMPLIANCE_FACT_NO;
        f.exposure = COMPLIANCE_EXPOSURE_HIGH;
        compliance_evaluate(p, &f, &t, 1000 + 100 * 3600, 1000, &r[1]);
        for (int i = 0; i < 2; i++) {
                if (compliance_state_rank(r[i].state) < 0 || r[i].n_due >= p->n_actions + (p->n_actions == 0))
                        abort();
                j = compliance_result_to_json(&r[i]);
                if (!j)
                        abort();
                json_decref(j);
        }
        /* a failing setting starts the clock at the time given, and never later */
        if ((r[1].state == COMPLIANCE_NONCOMPLIANT || r[1].state == COMPLIANCE_IN_GRACE_PERIOD) &&
            r[1].first_noncompliant_at != 1000)
                abort();
        compliance_device_state(r, 2, &t, &f, 1000, &d);
        for (int i = 0; i < 2; i++)
                if (compliance_state_rank(d.state) < compliance_state_rank(r[i].state))
                        abort();
}

/* The tenant settings: a refusal changes nothing, an acceptance stays in range. */
static void check_tenant(const uint8_t *data, size_t size)
{
        struct compliance_tenant t = COMPLIANCE_TENANT_DEFAULTS, before = t;
        json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        char err[512] = "";
        int r;

        if (!j)
                return;
        r = compliance_tenant_apply(j, &t, err, sizeof(err));
        json_decref(j);
        if (r != 0 && (r != -EINVAL || !strstr(err, ": ") || memcmp(&t, &before, sizeof(t)) != 0))
                abort();
        if (r == 0 && (t.validity_days < 1 || t.validity_days > COMPLIANCE_VALIDITY_DAYS_MAX ||
                       t.sensor_timeout_s < COMPLIANCE_SENSOR_TIMEOUT_MIN ||
                       t.sensor_timeout_s > COMPLIANCE_SENSOR_TIMEOUT_MAX ||
                       (t.no_policy_state != COMPLIANCE_COMPLIANT && t.no_policy_state != COMPLIANCE_NONCOMPLIANT)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct compliance_policy *p = NULL;
        char err[512] = "";
        int r = compliance_policy_parse((const char *)data, size, &p, err, sizeof(err));

        check_tenant(data, size);
        if (r != 0) {
                if ((r != -EINVAL && r != -E2BIG) || !strstr(err, ": ") || p)
                        abort();
                return 0;
        }
        if (!*p->name || strlen(p->name) > COMPLIANCE_NAME_MAX || p->n_actions < 1 ||
            p->n_actions > COMPLIANCE_ACTIONS_MAX || p->actions[0].type != COMPLIANCE_ACTION_MARK_NONCOMPLIANT ||
            p->grace_hours > COMPLIANCE_HOURS_MAX || !p->configured)
                abort();
        check_canonical(p);
        check_evaluate(p);
        compliance_policy_free(p);
        return 0;
}
