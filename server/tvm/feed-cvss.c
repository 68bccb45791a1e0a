/* tvm feeds: the CVSS 3.0 and 3.1 base score of a vector, by the formula and
 * rounding of the FIRST specifications (section 7 of each). See feeds.h. */
#include "server/tvm/feeds.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define VECTOR_MAX 256

enum { M_AV, M_AC, M_PR, M_UI, M_S, M_C, M_I, M_A, N_BASE };

/* A base metric: its name and the letters of its values. */
static const struct {
        const char *name;
        const char *values;
} base_metrics[N_BASE] = {
        [M_AV] = { "AV", "NALP" }, [M_AC] = { "AC", "LH" }, [M_PR] = { "PR", "NLH" }, [M_UI] = { "UI", "NR" },
        [M_S] = { "S", "UC" }, [M_C] = { "C", "HLN" }, [M_I] = { "I", "HLN" }, [M_A] = { "A", "HLN" },
};

/* Temporal and environmental metrics: allowed once each, not scored. */
static const char *const other_metrics[] = { "E", "RL", "RC", "CR", "IR", "AR", "MAV", "MAC", "MPR", "MUI",
                                             "MS", "MC", "MI", "MA" };

/* The specification's Roundup: 3.1 rounds the value times 100000 first so
 * that floating point error does not push 4.0 to 4.1; 3.0 is a plain ceiling. */
static double roundup(double x, bool v31)
{
        int64_t i;

        if (!v31)
                return ceil(x * 10) / 10;
        i = (int64_t)llround(x * 100000);
        if (i % 10000 == 0)
                return (double)i / 100000.0;
        return (double)(i / 10000 + 1) / 10.0;
}

/* Reads the metrics after the "CVSS:3.x/" prefix into idx (value letter
 * index per base metric). */
static int metrics_read(const char *p, int idx[N_BASE])
{
        bool seen_other[sizeof(other_metrics) / sizeof(other_metrics[0])] = { false };

        for (int m = 0; m < N_BASE; m++)
                idx[m] = -1;
        while (*p) {
                size_t klen = strcspn(p, ":/"), vlen;
                const char *v;
                bool known = false;

                if (p[klen] != ':')
                        return -EINVAL;
                v = p + klen + 1;
                vlen = strcspn(v, "/");
                if (vlen != 1)
                        return -EINVAL;
                for (int m = 0; m < N_BASE && !known; m++) {
                        const char *at;
                        if (strlen(base_metrics[m].name) != klen || strncmp(p, base_metrics[m].name, klen) != 0)
                                continue;
                        at = strchr(base_metrics[m].values, *v);
                        if (idx[m] >= 0 || !at || !*v)
                                return -EINVAL;
                        idx[m] = (int)(at - base_metrics[m].values);
                        known = true;
                }
                for (size_t o = 0; o < sizeof(other_metrics) / sizeof(other_metrics[0]) && !known; o++) {
                        if (strlen(other_metrics[o]) != klen || strncmp(p, other_metrics[o], klen) != 0)
                                continue;
                        if (seen_other[o])
                                return -EINVAL;
                        seen_other[o] = known = true;
                }
                if (!known)
                        return -EINVAL;
                p = v + 1;
                if (*p == '/' && p[1])
                        p++;
                else if (*p == '/')
                        return -EINVAL;
        }
        for (int m = 0; m < N_BASE; m++)
                if (idx[m] < 0)
                        return -EINVAL;
        return 0;
}

int tvm_cvss3_base_score(const char *vector, double *ret_score)
{
        static const double av[] = { 0.85, 0.62, 0.55, 0.2 }, ac[] = { 0.77, 0.44 }, ui[] = { 0.85, 0.62 };
        static const double pr_unchanged[] = { 0.85, 0.62, 0.27 }, pr_changed[] = { 0.85, 0.68, 0.5 };
        static const double cia[] = { 0.56, 0.22, 0 };
        int idx[N_BASE];
        double iss, impact, expl, score;
        bool v31, changed;

        if (!vector || strlen(vector) > VECTOR_MAX)
                return -EINVAL;
        if (strncmp(vector, "CVSS:3.1/", 9) == 0)
                v31 = true;
        else if (strncmp(vector, "CVSS:3.0/", 9) == 0)
                v31 = false;
        else
                return -EINVAL;
        if (metrics_read(vector + 9, idx) < 0)
                return -EINVAL;
        changed = idx[M_S] == 1;
        iss = 1 - (1 - cia[idx[M_C]]) * (1 - cia[idx[M_I]]) * (1 - cia[idx[M_A]]);
        impact = changed ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15) : 6.42 * iss;
        expl = 8.22 * av[idx[M_AV]] * ac[idx[M_AC]] *
               (changed ? pr_changed : pr_unchanged)[idx[M_PR]] * ui[idx[M_UI]];
        if (impact <= 0)
                score = 0;
        else if (changed)
                score = roundup(fmin(1.08 * (impact + expl), 10), v31);
        else
                score = roundup(fmin(impact + expl, 10), v31);
        *ret_score = score;
        return 0;
}

const char *tvm_cvss_severity(double score)
{
        if (score >= 9.0)
                return "critical";
        if (score >= 7.0)
                return "high";
        if (score >= 4.0)
                return "medium";
        return "low";
}
