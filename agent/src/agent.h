/* vigil-agent: the endpoint agent. This header ties its files together:
 * the onboarding package, the state directory, onboarding and the uplink loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define AGENT_STATE_DIR_DEFAULT "/var/lib/vigil"
#define AGENT_PACKAGE_MAX (64 * 1024)
#define AGENT_URL_MAX 256
#define AGENT_ID_MAX 64

/* What an onboarding package carries (see docs/PROTOCOL.md). */
struct agent_package {
        char server_url[AGENT_URL_MAX + 1];
        char *server_ca;        /* PEM, heap */
        char *token;            /* heap */
};

/* Parses an onboarding package's text. Returns 0, or -EINVAL / -E2BIG with
 * the reason in err; ret is filled only on success (release it with
 * agent_package_release). */
int agent_package_parse(const char *text, size_t len, struct agent_package *ret,
                        char *err, size_t err_size);
void agent_package_release(struct agent_package *p);

/* The state directory: device.key (0600), device.pem, server-ca.pem, agent.json. */
struct agent_state {
        char dir[4096];
        char server_url[AGENT_URL_MAX + 1];
        char device_id[AGENT_ID_MAX + 1];
};

/* Builds "DIR/name" into out. Returns 0 or -ENAMETOOLONG. */
int agent_state_path(const struct agent_state *s, const char *name, char *out, size_t size);

/* Loads agent.json of an onboarded device. Returns 0, -ENOENT if the device is
 * not onboarded, or -EINVAL with the reason in err. */
int agent_state_load(struct agent_state *s, char *err, size_t err_size);

/* Records that the server offboarded this device (file "offboarded").
 * Returns 0 or a negative errno. */
int agent_state_mark_offboarded(const struct agent_state *s);

/* True if the server offboarded this device. */
bool agent_state_offboarded(const struct agent_state *s);

/* 'vigil-agent onboard'. Returns the process exit code. */
int agent_onboard(const char *package_file, const char *state_dir, const char *name, bool force);

/* 'vigil-agent run'. Returns the process exit code. */
int agent_run(const char *state_dir, bool once);

/* 'vigil-agent events' (argv[0] is "events"). Returns the process exit code. */
int agent_events(int argc, char **argv);

/* Logs one line to stderr with a timestamp. */
void agent_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
