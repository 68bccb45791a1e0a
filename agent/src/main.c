/* vigil-agent: onboard this device, then run the agent. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/src/agent.h"

static void usage(FILE *f)
{
        fputs("usage: vigil-agent onboard FILE [--state-dir DIR] [--name NAME] [--force]\n"
              "       vigil-agent run [--state-dir DIR] [--once]\n"
              "       vigil-agent status [--state-dir DIR]\n"
              "       vigil-agent events [--sensor=auto|bpf|cnproc] [--filter EXPR] [--count N]\n"
              "                          [--duration SECONDS] [--watch PATH]...\n"
              "       vigil-agent --version\n"
              "The state directory defaults to " AGENT_STATE_DIR_DEFAULT ".\n", f);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "state-dir", required_argument, NULL, 's' },
                { "name", required_argument, NULL, 'n' },
                { "force", no_argument, NULL, 'f' },
                { "once", no_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *state_dir = AGENT_STATE_DIR_DEFAULT, *name = NULL, *cmd;
        bool force = false, once = false;
        int c;

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
        if (strcmp(cmd, "events") == 0)
                return agent_events(argc - 1, argv + 1);
        optind = 2;
        while ((c = getopt_long(argc, argv, "s:n:foh", opts, NULL)) != -1) {
                switch (c) {
                case 's': state_dir = optarg; break;
                case 'n': name = optarg; break;
                case 'f': force = true; break;
                case 'o': once = true; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (strcmp(cmd, "onboard") == 0) {
                if (optind != argc - 1) {
                        fprintf(stderr, "vigil-agent onboard: name one onboarding package file\n");
                        return 2;
                }
                return agent_onboard(argv[optind], state_dir, name, force);
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        if (strcmp(cmd, "run") == 0)
                return agent_run(state_dir, once);
        if (strcmp(cmd, "status") == 0) {
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
                if (agent_state_offboarded(&s))
                        return 1;
                return 0;
        }
        fprintf(stderr, "vigil-agent: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
}
