/* harness: starts a real vigild for integration tests — a fresh data
 * directory from 'vigild init', 'vigild run' on a free loopback port — and
 * stops it and removes everything afterwards. The binaries come from the
 * environment (VIGILD, VIGIL_AGENT), which meson sets. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "httpc/httpc.h"

struct harness {
        char dir[256];          /* temporary root: DIR/data is the data directory */
        char data[300];
        char url[64];
        char ca[320];           /* DIR/data/server-ca.pem */
        char token[128];        /* the first admin token */
        unsigned access_port;   /* the decision endpoint's port; 0 when it listens on a unix socket */
        bool access_flag;       /* run with --access-listen 127.0.0.1:0 (extra_config did not set access_listen) */
        pid_t pid;
        struct httpc *admin;    /* a client for the admin API */
};

/* Returns 0, or -1 after printing why. extra_config is appended to vigild.conf (may be NULL);
 * the decision endpoint listens on a free loopback port unless it sets access_listen. */
int harness_start(struct harness *h, const char *extra_config);
/* Stops vigild; returns -1 (after printing its log) if it did not exit cleanly. */
int harness_stop(struct harness *h);

/* Admin request with the first admin token (or bearer if given). Returns the HTTP
 * status (or -1 on transport failure); *ret_json as httpc_request. */
long harness_admin(struct harness *h, const char *method, const char *path, const char *bearer,
                   const char *body, json_t **ret_json);

/* A device enrolled through the real API (a one-use onboarding package, a
 * key and CSR made here), with a client presenting its certificate. */
struct harness_device {
        char id[40];
        char cert[400], key[400];       /* DIR/NAME.pem, DIR/NAME.key */
        struct httpc *c;
};

/* Enrolls a device named name. Returns 0, or -1 after printing why. */
int harness_enroll(struct harness *h, struct harness_device *dev, const char *name);

/* Uploads, as dev, one new sigma alert id (a bash process_creation seen now)
 * of rule rule_id titled title, at severity. Returns the HTTP status, or -1
 * after printing why the request could not be made. */
long harness_alert_upload(struct harness_device *dev, const char *id, const char *rule_id, const char *title,
                          const char *severity);
/* A new admin token of role named name (may be NULL), malloc'd, and its id
 * in *ret_id (malloc'd; ret_id may be NULL); NULL after printing why. */
char *harness_new_token(struct harness *h, const char *role, const char *name, char **ret_id);

/* Starts vigild again on the same data directory and port, once the caller
 * has stopped or killed it and reaped it; access_port is the decision
 * endpoint's new port. Returns 0, or -1 after printing why. */
int harness_restart(struct harness *h);

/* Runs the CLI ($VIGIL) with args (shell words) as the first admin; returns
 * its exit status (-1 if it could not run) and its output, stdout and
 * stderr, in *ret_out (heap, at most 64 KiB). */
int harness_cli(struct harness *h, const char *args, char **ret_out);

/* Writes text to DIR/name and returns the path in out. */
int harness_write(struct harness *h, const char *name, const char *text, char *out, size_t size);
