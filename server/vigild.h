/* vigild: the server's shared context and configuration.
 *
 * One struct vigild lives for the whole run and is handed to every module's
 * handlers. Modules keep their own state behind opaque pointers here and
 * reach each other only through their public functions. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct access;
struct bus;
struct compliance_service;
struct connector;
struct db;
struct defend_suppressions;
struct enroll;
struct http_server;
struct manage;
struct portal_events;
struct profiles;
struct tvm_feeds;
struct tvm_results;
struct webhook;

#define VIGILD_LISTEN_DEFAULT "127.0.0.1:8443"
#define VIGILD_CONFIG_FILE "vigild.conf"
#define VIGILD_DB_FILE "vigild.db"

struct vigild_config {
        char listen[80];
        char public_url[256];           /* what agents and packages use to reach us */
        int64_t heartbeat_interval;     /* seconds, told to agents */
        int64_t inactive_after;         /* seconds without heartbeat before 'inactive' */
        uint64_t body_max;              /* bytes; larger bodies get 413 */
        unsigned threads;               /* HTTP worker threads */
        unsigned device_cert_days;
        unsigned connection_timeout;    /* idle seconds before a connection is closed */
        unsigned max_devices;
        unsigned max_connections;       /* open HTTPS connections at once */
        unsigned connection_memory;     /* bytes of request/response buffers per connection */
        int log_level;
        unsigned webhook_max_attempts;  /* attempts of a delivery before it is failed */
        unsigned webhook_retry_base_ms; /* wait after the first failed attempt; doubles after each */
        int64_t webhook_retry_max;      /* seconds: longest wait between attempts */
        int64_t webhook_timeout;        /* seconds an attempt may take */
        unsigned webhook_queue_max;     /* pending deliveries at most; the oldest are failed past it */
        int64_t webhook_retention;      /* seconds a finished delivery stays in the log */
        char access_listen[128];        /* decision endpoint: "ADDR:PORT" or "unix:PATH" */
        unsigned access_threads;        /* its worker threads */
        unsigned access_max_connections; /* its open connections at once */
        char access_proxy_secret[129];  /* "": trust only loopback and unix-socket peers */
        char access_user_header[65];    /* trusted header naming the user; "": none */
        char access_jwks_file[1024];    /* "": bearer tokens are not read */
        char access_jwt_issuer[257];
        char access_jwt_audience[257];
        int64_t access_log_retention;   /* seconds an access log row is kept */
        unsigned access_log_max;        /* decisions held in memory for the log at most */
        int64_t portal_session_idle;    /* seconds a portal session lives without a request */
        int64_t portal_session_max;     /* seconds a portal session lives at most */
        unsigned portal_sse_clients;    /* event streams (GET /api/v1/events) open at once at most */
        char tvm_feed_paths[1025];      /* advisory feeds to re-import: "PATH-or-https-URL, ..."; "": none */
        int64_t tvm_feed_interval;      /* seconds between re-imports */
        char tvm_feed_ca_file[1024];    /* CAs that verify https:// feeds; "": the system's */
        bool tvm_count_open;            /* advisories with no fix yet make a device vulnerable */
        bool tvm_count_undetermined;    /* so do those not yet determined */
};

struct vigild {
        char data_dir[4096];
        struct vigild_config cfg;
        struct db *db;
        struct enroll *enroll;
        struct bus *bus;                /* in-process events (bus.h) */
        struct defend_suppressions *suppressions; /* defend's compiled suppression rules */
        struct webhook *webhook;        /* outgoing webhooks (webhook/webhook.h) */
        struct connector *connector;    /* partner risk for compliance (connector/connector.h) */
        struct manage *manage;          /* groups' membership index (manage/manage.h) */
        struct compliance_service *compliance; /* compliance evaluation (manage/compliance-service.h) */
        struct http_server *http;       /* the listener once started, for waking long-polls; else NULL */
        struct profiles *profiles;      /* configuration profiles in memory (manage/profiles.h) */
        struct access *access;          /* conditional access once started (access/access.h); else NULL */
        struct portal_events *portal_events; /* the portal's event streams once started (portal/portal.h) */
        struct tvm_feeds *tvm_feeds;    /* the scheduled feed re-import once started (tvm/feeds.h); else NULL */
        struct tvm_results *tvm_results; /* vulnerability matching once started (tvm/results.h); else NULL */
};

/* Fills cfg with the defaults. */
void vigild_config_defaults(struct vigild_config *cfg);

/* Parses a configuration file's text ("key = value" lines, '#' comments) over
 * the values already in cfg. Returns 0, or -EINVAL with "line N: reason" in
 * err; cfg is unchanged on error. */
int vigild_config_parse(const char *text, size_t len, struct vigild_config *cfg,
                        char *err, size_t err_size);

/* Reads DIR/vigild.conf if it exists (a missing file is fine). Returns 0 or
 * a negative errno with a message naming the file in err. */
int vigild_config_load(const char *data_dir, struct vigild_config *cfg, char *err, size_t err_size);
