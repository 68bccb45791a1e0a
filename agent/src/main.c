/* vigil-agent: onboard this device, run the agent, export its certificate,
 * and the sensor and detection commands (events, detect, scan-rules,
 * test-rules). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/src/agent.h"

static void usage(FILE *f)
{
        fputs("usage: vigil-agent onboard FILE [--state-dir DIR] [--name NAME] [--force]\n"
              "       vigil-agent run [--state-dir DIR] [--once] [--rules PATH]... [--sensor=auto|bpf|cnproc]\n"
              "                       [--no-detect]\n"
              "       vigil-agent status [--state-dir DIR]\n"
              "       vigil-agent export-cert [--state-dir DIR] [--pkcs12 FILE] [--pem FILE]\n"
              "                               [--password-file F | --password-env VAR | --no-password]\n"
              "       vigil-agent events [--sensor=auto|bpf|cnproc] [--filter EXPR] [--count N]\n"
              "                          [--duration SECONDS] [--watch PATH]...\n"
              "       vigil-agent detect [--rules PATH]... [--sensor=auto|bpf|cnproc] [--duration S]\n"
              "                          [--count N] [--output json|text] [--watch PATH]...\n"
              "       vigil-agent scan-rules [--verbose] PATH...\n"
              "       vigil-agent test-rules [--format lines|json] RULES EVENTS.jsonl\n"
              "       vigil-agent --version\n"
              "The state directory defaults to " AGENT_STATE_DIR_DEFAULT ".\n", f);
}

/* What the state-directory commands (onboard, run, status) were given. */
struct main_opts {
        struct agent_run_opts run;
        const char *name;
        bool force;
};

/* Parses the options of onboard, run and status. Returns 0, 1 after
 * --help, or -EINVAL after saying what was wrong. */
static int main_opts_parse(int argc, char **argv, struct main_opts *o)
{
        static const struct option opts[] = {
                { "state-dir", required_argument, NULL, 's' },
                { "name", required_argument, NULL, 'n' },
                { "force", no_argument, NULL, 'f' },
                { "once", no_argument, NULL, 'o' },
                { "rules", required_argument, NULL, 'r' },
                { "sensor", required_argument, NULL, 'S' },
                { "no-detect", no_argument, NULL, 'D' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        struct agent_run_opts *ro = &o->run;
        int c;

        optind = 2;
        while ((c = getopt_long(argc, argv, "s:n:fohr:S:D", opts, NULL)) != -1) {
                switch (c) {
                case 's': ro->state_dir = optarg; break;
                case 'n': o->name = optarg; break;
                case 'f': o->force = true; break;
                case 'o': ro->once = true; break;
                case 'D': ro->no_detect = true; break;
                case 'S':
                        if (strcmp(optarg, "auto") && strcmp(optarg, "bpf") && strcmp(optarg, "cnproc")) {
                                fprintf(stderr, "vigil-agent: unknown sensor '%s' (auto, bpf or cnproc)\n", optarg);
                                return -EINVAL;
                        }
                        ro->sensor = optarg;
                        break;
                case 'r':
                        if (ro->n_rules == AGENT_RULES_MAX) {
                                fprintf(stderr, "vigil-agent: more than %d --rules\n", AGENT_RULES_MAX);
                                return -EINVAL;
                        }
                        ro->rules[ro->n_rules++] = optarg;
                        break;
                case 'h': usage(stdout); return 1;
                default: usage(stderr); return -EINVAL;
                }
        }
        return 0;
}

static int status(const char *state_dir)
{
        struct agent_state s = { 0 };
        char err[512];

        snprintf(s.dir, sizeof(s.dir), "%s", state_dir);
        if (agent_state_load(&s, err, sizeof(err)) < 0) {
                printf("not onboarded (%s)\n", err);
                return 1;
        }
        printf("%s\ndevice_id: %s\nserver_url: %s\n",
               agent_state_offboarded(&s) ? "offboarded by the server" : "onboarded",
               s.device_id, s.server_url);
        return agent_state_offboarded(&s) ? 1 : 0;
}

/* The commands that parse their own options, or -1. */
static int own_command(const char *cmd, int argc, char **argv)
{
        if (strcmp(cmd, "events") == 0)
                return agent_events(argc - 1, argv + 1);
        if (strcmp(cmd, "detect") == 0)
                return agent_detect(argc - 1, argv + 1);
        if (strcmp(cmd, "scan-rules") == 0)
                return agent_scan_rules(argc - 1, argv + 1);
        if (strcmp(cmd, "test-rules") == 0)
                return agent_test_rules(argc - 1, argv + 1);
        if (strcmp(cmd, "export-cert") == 0)
                return agent_export_cert(argc - 1, argv + 1);
        return -1;
}

int main(int argc, char **argv)
{
        struct main_opts o = { .run = { .state_dir = AGENT_STATE_DIR_DEFAULT, .sensor = "auto" } };
        const char *cmd;
        int r;

        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        cmd = argv[1];
        if (strcmp(cmd, "--version") == 0) {
                printf("vigil-agent %s\n", VIGIL_VERSION);
                return 0;
        }
        if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
                usage(stdout);
                return 0;
        }
        r = own_command(cmd, argc, argv);
        if (r >= 0)
                return r;
        r = main_opts_parse(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : 2;
        if (strcmp(cmd, "onboard") == 0) {
                if (optind != argc - 1) {
                        fprintf(stderr, "vigil-agent onboard: name one onboarding package file\n");
                        return 2;
                }
                return agent_onboard(argv[optind], o.run.state_dir, o.name, o.force);
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        if (strcmp(cmd, "run") == 0)
                return agent_run(&o.run);
        if (strcmp(cmd, "status") == 0)
                return status(o.run.state_dir);
        fprintf(stderr, "vigil-agent: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
}
