/* webhook: signed HTTP callbacks of bus events to outside consumers.
 *
 * Admins register subscriptions (a URL, the event types it wants, a secret,
 * optionally a private CA). When an event of such a type is published on the
 * in-process bus, the bus handler only stores one delivery per matching
 * enabled subscription in the database and wakes the delivery thread, which
 * POSTs the JSON body with libcurl, signed with HMAC-SHA256 under the
 * subscription's secret, and retries with exponential backoff until a 2xx or
 * the last attempt. Deliveries of one subscription go out one at a time in
 * the order of their events; pending ones survive a restart. The details of
 * the wire format are in docs/WEBHOOKS.md.
 *
 * Generic over bus event types: a type becomes subscribable by one entry in
 * the table of event kinds in event.c (its bus type, its name and the
 * function that turns the bus event into the body's "data") and its name in
 * webhook_event_names, at the same index.
 *
 * Owns the tables webhook_subscriptions and webhook_deliveries. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "server/http/http.h"

struct vigild;

#define WEBHOOK_NAME_MAX 128
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_EVENTS_MAX 16
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 256
#define WEBHOOK_SECRET_GEN_BYTES 32             /* a generated secret: 32 random bytes, hex */
#define WEBHOOK_SIGNATURE_HEX_LEN (2 * CRYPTO_SHA256_LEN)
#define WEBHOOK_SUBSCRIPTIONS_MAX 1000

/* A subscription as a POST or PATCH body gives it, checked. Every pointer is
 * borrowed from the JSON it was read from; NULL (or has_* false) for what the
 * body does not hold. events is a bit set: bit k is event kind k. */
struct webhook_sub_input {
        const char *name, *url, *secret, *ca_pem;
        bool has_events, has_enabled, has_ca_pem;       /* has_ca_pem with ca_pem NULL: remove the CA */
        uint32_t events;
        bool enabled;
};

/* Checks a subscription body. partial false: a creation (name, url and
 * events required); true: a change (at least one member). Refuses unknown
 * members, wrong types, over-long values, a URL that is neither https:// nor
 * http:// to a loopback address, credentials or a fragment in the URL, unknown
 * or repeated event names (err then lists the valid ones), a secret outside
 * WEBHOOK_SECRET_MIN..MAX printable characters, a ca_pem that is not a PEM
 * certificate. Fills *ret on success. Returns 0 or -EINVAL with the reason in
 * err. Pure: no database, no network (fuzzed). */
int webhook_sub_check(const json_t *body, bool partial, struct webhook_sub_input *ret,
                      char *err, size_t err_size);

/* Checks a receiver URL alone (as webhook_sub_check does). Returns 0 or
 * -EINVAL with the reason in err. */
int webhook_url_check(const char *url, char *err, size_t err_size);

/* Names of the subscribable event kinds: index k is bit k of
 * webhook_sub_input.events; NULL-terminated. */
extern const char *const webhook_event_names[];

/* X-Vigil-Signature's value without its "sha256=" prefix: lower-case hex of
 * HMAC-SHA256(key, timestamp "." body). out holds WEBHOOK_SIGNATURE_HEX_LEN + 1
 * bytes. Returns 0 or -EIO. */
int webhook_signature(const void *key, size_t key_len, const char *timestamp, size_t ts_len,
                      const char *body, size_t body_len, char out[static WEBHOOK_SIGNATURE_HEX_LEN + 1]);

/* The wait before the attempt after attempts failed ones (attempts >= 1):
 * base_ms * 2^(attempts-1), capped at max_ms, then scaled by a factor from
 * 0.75 to 1.0 given by jitter (0 to UINT32_MAX). In milliseconds. */
int64_t webhook_backoff_ms(unsigned attempts, int64_t base_ms, int64_t max_ms, uint32_t jitter);

/* Creates or updates webhook's tables. Returns 0 or a negative errno (see db_errmsg). */
int webhook_migrate(struct vigild *d);

/* Subscribes to the bus, marks pending deliveries resumable, prunes the
 * delivery log and starts the delivery thread. Call once, after the bus
 * exists and before the HTTP listener starts. Returns 0 or a negative errno
 * with a message in err. */
int webhook_start(struct vigild *d, char *err, size_t err_size);

/* Stops the delivery thread (transfers in progress are abandoned and stay
 * pending, to be sent again at the next start) and frees the module's state.
 * Call after the HTTP listener stopped. Fine if webhook_start() was not called. */
void webhook_stop(struct vigild *d);

extern const struct http_route webhook_routes[];
