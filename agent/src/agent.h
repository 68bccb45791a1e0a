/* vigil-agent: the endpoint agent. This header ties its files together:
 * the onboarding package, the state directory, onboarding, the uplink loop
 * and the commands. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "agent/src/detect.h"
#include "util/vbuf.h"

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

/* The state directory: device.key (0600), device.pem, server-ca.pem,
 * device-ca.pem (the CA that issued device.pem; absent on devices onboarded
 * by earlier agents), agent.json. */
struct agent_state {
        char dir[4096];
        char server_url[AGENT_URL_MAX + 1];
        char device_id[AGENT_ID_MAX + 1];
};

/* Builds "DIR/name" into out. Returns 0 or -ENAMETOOLONG. */
int agent_state_path(const struct agent_state *s, const char *name, char *out, size_t size);

/* A client of the server for the device in s: its CA, certificate and key;
 * timeout_s per request (0: 30 s). Returns 0 or a negative errno. */
struct httpc;
int agent_state_httpc(const struct agent_state *s, long timeout_s, struct httpc **ret);

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

/* Checks that the CA certificate in ca_pem signed the
 * certificate in cert_pem (PEM both, at most CRYPTO_PEM_MAX bytes each),
 * whatever the date. Returns 0, -EBADMSG if either does not parse,
 * -EKEYREJECTED if the CA did not sign it, or -ENOMEM. */
int agent_cert_issued_by(const char *cert_pem, size_t cert_len, const char *ca_pem, size_t ca_len);

/* 'vigil-agent export-cert' (argv[0] is "export-cert"): the device's
 * certificate and key as a PKCS#12 and/or a PEM file. Returns the process
 * exit code. */
int agent_export_cert(int argc, char **argv);

#define AGENT_RULES_MAX 64             /* --rules given to one command */

/* What 'vigil-agent run' was asked to do. */
struct agent_run_opts {
        const char *state_dir;
        bool once;                      /* one uplink round, no detection */
        bool no_detect;                 /* no sensor and no detection */
        const char *sensor;             /* "auto" (default), "bpf" or "cnproc" */
        const char *rules[AGENT_RULES_MAX];     /* none: VIGIL_RULES_DIR */
        size_t n_rules;
};

/* Collects the inventory as canonical JSON (sorted keys, compact, with the
 * agent's version), so that equal inventories hash alike: *ret_text
 * (malloc'd) and its SHA-256 in hex. Returns 0 or a negative errno (logged). */
int agent_inventory_text(char **ret_text, char ret_hex[static 65]);

/* The sensor the agent runs, as the inventory reports it ({"sensor":
 * {"name": ...}}): "bpf", "cnproc" or "none" (the default: detection off
 * or not started). name must be a static string. Any thread. */
void agent_sensor_set(const char *name);

/* 'vigil-agent run'. Returns the process exit code. */
int agent_run(const struct agent_run_opts *o);

/* The sensor and detection of 'run', in a thread of their own, spooling
 * alerts into spool (not taken; it must outlive the thread) and waking
 * uplink (may be NULL) after each. Returns 0 and a handle, or a negative
 * errno after logging why (the agent then goes on without detection). */
struct run_detect;
struct spool;
struct alert_uplink;
int agent_detect_start(const struct agent_run_opts *o, struct spool *spool, struct alert_uplink *uplink,
                       struct run_detect **ret);

/* Stops the detection thread and frees it; NULL is fine. */
void agent_detect_stop(struct run_detect *rd);

/* Threat defense on or off (a configuration profile). Off, the sensor stays
 * attached (attaching it again would need the privileges the agent dropped)
 * but its events go no further than the process table: no detection, no
 * alerts, nothing recorded for investigation. Any thread; NULL is fine. */
void agent_detect_set_enabled(struct run_detect *rd, bool on);

/* Loads the rules at the given paths (none: the default rules) into a new
 * detection engine, in the calling thread, and hands it to the detection
 * thread, which takes it in place of the old at its next poll (within
 * PIPELINE_POLL_MS), keeping the sensor. Returns 0, -ENOTCONN without a
 * detection thread, or the error of agent_detect_setup() (logged; the old
 * rules stay). rules must stay valid until the next reload or the stop. */
int agent_detect_reload(struct run_detect *rd, const char *const *rules, size_t n_rules);

/* 'vigil-agent detect', 'scan-rules' and 'test-rules' (argv[0] is the
 * command). Return the process exit code. */
int agent_detect(int argc, char **argv);
int agent_scan_rules(int argc, char **argv);
int agent_test_rules(int argc, char **argv);

/* Loads the rules at the given paths (none: VIGIL_RULES_DIR, or only the
 * built-in detectors when it is absent), logging rejections and a summary,
 * and makes the detect that reports to fn. Returns 0 or a negative errno
 * (logged). */
int agent_detect_setup(const char *const *rules, size_t n_rules, detect_alert_fn fn, void *userdata,
                       struct detect **ret);

/* 'vigil-agent events' (argv[0] is "events"). Returns the process exit code. */
int agent_events(int argc, char **argv);

/* Logs one line to stderr with a timestamp, and keeps it in a ring of the
 * last 256 KiB of log lines (for the investigation package). Thread-safe. */
void agent_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the ring's log lines, oldest first, to out; when they do not all
 * fit in what out may still hold, the newest whole lines that fit. Safe
 * from any thread. Returns 0, 1 when older lines were left out, or
 * -ENOMEM. */
int agent_log_recent(struct vbuf *out);

/* Appends the detection thread's recent events (the last
 * AGENT_RECENT_EVENTS, each with at most AGENT_RECENT_TEXT bytes of image,
 * working directory and arguments or path; what was cut is flagged) to
 * out as JSON lines, oldest first, as `vigil-agent events` writes them;
 * when they do not all fit in what out may still hold, the newest that
 * fit. They are rendered here, not when seen: their lineage comes from a
 * process table seeded from /proc and fed the recorded events in order, so
 * a process that started before the oldest recorded event and has exited
 * since shows without ancestors. Safe from any thread while rd lives.
 * Returns 0, 1 when older events were left out, or -ENOMEM. */
#define AGENT_RECENT_EVENTS 4096
#define AGENT_RECENT_TEXT 1536
int agent_detect_recent_events(struct run_detect *rd, struct vbuf *out);
