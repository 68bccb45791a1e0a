/* netprotect-tool: the test driver of netprotect.sh. It calls the agent's
 * network protection module (agent/src/netprotect.h), one function per
 * subcommand; the network probes are isolate-tool's.
 *
 *   [--state DIR] [--caps agent|no-net-admin] COMMAND ...
 *     --caps agent          first keep only the agent's capabilities
 *                           (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_NET_ADMIN)
 *     --caps no-net-admin   first keep only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH
 *
 *   parse FILE         netprotect_policy_parse: print the canonical entries, one a line
 *   apply FILE URL     parse, netprotect_policy_set_server(URL), netprotect_apply
 *   remove             netprotect_remove
 *   restore            netprotect_restore: print "installed" or "no policy"
 *   refresh            netprotect_refresh: print "refreshed" or "no policy"
 *   report             netprotect_report: print the report's JSON (or "null")
 *
 * Exit status 0 on success, 1 on failure (message on stderr), 2 on bad
 * usage, 3 when the VIGIL_TEST_NETNS_ONLY guard refuses. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/netprotect.h"
#include "agent/src/privs.h"
#include "util/strutil.h"

static int usage(void)
{
        fprintf(stderr, "usage: netprotect-tool [--state DIR] [--caps agent|no-net-admin] "
                "parse FILE | apply FILE URL | remove | restore | refresh | report\n");
        return 2;
}

static int done(const char *what, int r, const char *err)
{
        if (r == -EPERM && strstr(err, "VIGIL_TEST_NETNS_ONLY")) {
                printf("refused: %s\n", err);
                return 3;
        }
        if (r < 0) {
                fprintf(stderr, "netprotect-tool: %s: %s\n", what, err);
                return 1;
        }
        return 0;
}

static int load(const char *file, struct netprotect_policy **ret, char *err, size_t err_size)
{
        char *text;
        size_t len;
        int r;

        r = util_file_read(file, NETPROTECT_JSON_MAX + 1, &text, &len);
        if (r < 0) {
                snprintf(err, err_size, "cannot read '%s': %s", file, strerror(-r));
                return r;
        }
        r = netprotect_policy_parse(text, len, ret, err, err_size);
        free(text);
        return r;
}

static int parse(const char *file)
{
        struct netprotect_policy *p = NULL;
        char err[512], t[NETPROTECT_ENTRY_MAX];
        int r;

        r = load(file, &p, err, sizeof(err));
        if (r < 0)
                return done("parse", r, err);
        for (size_t i = 0; i < p->n; i++) {
                netprotect_entry_text(&p->entries[i], t);
                printf("%s\n", t);
        }
        netprotect_policy_free(p);
        return 0;
}

static int apply(const char *state, const char *file, const char *url)
{
        struct netprotect_policy *p = NULL;
        char err[512];
        int r;

        r = load(file, &p, err, sizeof(err));
        if (r == 0)
                r = netprotect_policy_set_server(p, url, err, sizeof(err));
        if (r == 0)
                r = netprotect_apply(state, p, err, sizeof(err));
        netprotect_policy_free(p);
        return done("apply", r, err);
}

static int state_cmd(const char *state, const char *cmd)
{
        char err[512] = "";
        json_t *rep = NULL;
        int r;

        if (strcmp(cmd, "remove") == 0)
                return done(cmd, netprotect_remove(state, err, sizeof(err)), err);
        if (strcmp(cmd, "restore") == 0 || strcmp(cmd, "refresh") == 0) {
                r = cmd[2] == 's' ? netprotect_restore(state, err, sizeof(err))
                                  : netprotect_refresh(state, err, sizeof(err));
                if (r >= 0)
                        printf("%s\n", r == 0 ? "no policy" : cmd[2] == 's' ? "installed" : "refreshed");
                return done(cmd, r, err);
        }
        if (strcmp(cmd, "report") != 0)
                return usage();
        r = netprotect_report(state, &rep, err, sizeof(err));
        if (r == 0) {
                char *text = rep ? json_dumps(rep, JSON_INDENT(2)) : NULL;

                printf("%s\n", text ? text : "null");
                free(text);
                json_decref(rep);
        }
        return done(cmd, r, err);
}

int main(int argc, char **argv)
{
        int agent[] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_NET_ADMIN };
        const char *state = NULL;
        char err[256];
        int i = 1;

        for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
                if (strcmp(argv[i], "--state") == 0) {
                        state = argv[i + 1];
                } else if (strcmp(argv[i], "--caps") == 0 &&
                           (strcmp(argv[i + 1], "agent") == 0 || strcmp(argv[i + 1], "no-net-admin") == 0)) {
                        if (privs_keep_only(agent, strcmp(argv[i + 1], "agent") == 0 ? 3 : 2, err, sizeof(err)) < 0)
                                return done("cannot drop capabilities", -EPERM, err);
                } else {
                        return usage();
                }
        }
        if (i >= argc)
                return usage();
        if (strcmp(argv[i], "parse") == 0 && i + 2 == argc)
                return parse(argv[i + 1]);
        if (!state)
                return usage();
        if (strcmp(argv[i], "apply") == 0 && i + 3 == argc)
                return apply(state, argv[i + 1], argv[i + 2]);
        if (i + 1 == argc)
                return state_cmd(state, argv[i]);
        return usage();
}
