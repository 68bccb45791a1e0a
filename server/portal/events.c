/* portal events: server-sent events for the portal's pages. Subscribes to
 * the bus and writes each event it cares about, as one "event:/id:/data:"
 * block, to every open stream of GET /api/v1/events at once (the bus calls
 * in the publishing thread; a stream's connection is woken at the write).
 * A keepalive thread sends a comment line to every stream each
 * KEEPALIVE_S, which is also when a stream whose session expired is closed
 * and when a client that went away is noticed (a revoked token's streams
 * and a signed-out session's end at once). At most portal_sse_clients
 * streams are open at once; a request past that writes a comment to every
 * stream, so that the places of clients that went away are freed for its
 * retry. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api/api.h"
#include "server/bus.h"
#include "server/log.h"
#include "server/portal/portal.h"
#include "server/vigild.h"

#define KEEPALIVE_S 15
#define KEEPALIVE_LINE ": keepalive\n\n"
#define PING_LINE ": ping\n\n"          /* written to every stream when one more is refused */
#define STREAM_CAP (256 * 1024)         /* bytes queued for a client that does not read; past it the stream ends */
#define EVENT_MAX 4096

struct client {
        struct portal_events *pe;
        struct http_stream *st;
        char token_id[40];
        bool session;
        uint8_t session_hash[CRYPTO_SHA256_LEN];
        struct client *prev, *next;
};

struct portal_events {
        struct vigild *d;
        pthread_mutex_t lock;           /* clients, n_clients, seq; taken before a stream's */
        struct client *clients;
        unsigned n_clients;
        uint64_t seq;
        pthread_t thread;
        pthread_cond_t cond;
        bool stopping, running;
};

/* Writes one event to every stream; pe->lock held. */
static void broadcast_locked(struct portal_events *pe, const char *name, json_t *data)
{
        char block[EVENT_MAX];
        char *text;
        int n;

        if (!data)
                return;
        text = json_dumps(data, JSON_COMPACT);
        json_decref(data);
        if (!text)
                return;
        n = snprintf(block, sizeof(block), "event: %s\nid: %llu\ndata: %s\n\n", name,
                     (unsigned long long)++pe->seq, text);
        free(text);
        if (n < 0 || (size_t)n >= sizeof(block)) {
                log_warn("portal: a '%s' event longer than %d bytes was not streamed", name, EVENT_MAX);
                return;
        }
        for (struct client *c = pe->clients; c; c = c->next)
                http_stream_write(c->st, block, (size_t)n);      /* a full stream ends itself */
}

/* "s?" of json_pack takes NULL as null; these fields may be unset. */
static void on_event(const struct bus_event *ev, void *userdata)
{
        struct portal_events *pe = userdata;
        const char *name = NULL;
        json_t *data = NULL;

        switch (ev->type) {
        case BUS_RISK_CHANGED:
                name = "risk";
                data = json_pack("{s:s,s:s?,s:s?}", "device_id", ev->device_id, "risk_level", ev->risk_changed.to,
                                 "previous", ev->risk_changed.from);
                break;
        case BUS_COMPLIANCE_CHANGED:
                name = "compliance";
                data = json_pack("{s:s,s:s?,s:s?}", "device_id", ev->device_id, "state", ev->compliance_changed.to,
                                 "previous", ev->compliance_changed.from);
                break;
        case BUS_EXPOSURE_CHANGED:
                name = "exposure";
                data = json_pack("{s:s,s:s?,s:s?}", "device_id", ev->device_id, "exposure_level",
                                 ev->exposure_changed.to, "previous", ev->exposure_changed.from);
                break;
        case BUS_ALERT_RAISED:
                name = "alert";
                data = json_pack("{s:s?,s:s,s:s?,s:s?}", "alert_id", ev->alert_raised.alert_id,
                                 "device_id", ev->device_id, "severity", ev->alert_raised.severity,
                                 "title", ev->alert_raised.title);
                break;
        case BUS_DEVICE_ENROLLED:
        case BUS_DEVICE_OFFBOARDED:
        case BUS_INVENTORY_CHANGED:
                name = "device";
                data = json_pack("{s:s,s:s}", "device_id", ev->device_id, "change",
                                 ev->type == BUS_DEVICE_ENROLLED ? "enrolled" :
                                 ev->type == BUS_DEVICE_OFFBOARDED ? "offboarded" : "inventory");
                break;
        case BUS_ACTION_CHANGED:
                name = "action";
                data = json_pack("{s:s,s:s,s:s,s:s}", "action_id", ev->action_changed.action_id,
                                 "device_id", ev->device_id, "type", ev->action_changed.action_type,
                                 "status", ev->action_changed.status);
                break;
        default:
                return;
        }
        if (!ev->device_id) {
                json_decref(data);
                return;
        }
        pthread_mutex_lock(&pe->lock);
        broadcast_locked(pe, name, data);
        pthread_mutex_unlock(&pe->lock);
}

/* Whether the client may still listen: its token is not revoked and its
 * session (if it came with one) has not ended. */
static bool client_valid(struct portal_events *pe, const struct client *c)
{
        struct http_principal who = { 0 };

        if (api_token_get(pe->d, c->token_id, &who) < 0)
                return false;
        return !c->session || portal_session_valid(pe->d, c->session_hash);
}

static void *keepalive_main(void *arg)
{
        struct portal_events *pe = arg;
        struct timespec until;

        pthread_mutex_lock(&pe->lock);
        while (!pe->stopping) {
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += KEEPALIVE_S;
                while (!pe->stopping && pthread_cond_timedwait(&pe->cond, &pe->lock, &until) != ETIMEDOUT)
                        ;
                if (pe->stopping)
                        break;
                for (struct client *c = pe->clients; c; c = c->next) {
                        if (!client_valid(pe, c))
                                http_stream_end(c->st);
                        else
                                http_stream_write(c->st, KEEPALIVE_LINE, sizeof(KEEPALIVE_LINE) - 1);
                }
        }
        pthread_mutex_unlock(&pe->lock);
        return NULL;
}

/* Ends the streams for which match() holds, at once; pe->lock held. */
static void end_matching_locked(struct portal_events *pe, bool (*match)(const struct client *c, const void *arg),
                                const void *arg)
{
        for (struct client *c = pe->clients; c; c = c->next)
                if (match(c, arg))
                        http_stream_end(c->st);
}

static bool client_of_token(const struct client *c, const void *token_id)
{
        return strcmp(c->token_id, token_id) == 0;
}

static bool client_of_session(const struct client *c, const void *hash)
{
        return c->session && memcmp(c->session_hash, hash, CRYPTO_SHA256_LEN) == 0;
}

void portal_events_token_revoked(struct vigild *d, const char *token_id)
{
        struct portal_events *pe = d->portal_events;

        if (!pe)
                return;
        pthread_mutex_lock(&pe->lock);
        end_matching_locked(pe, client_of_token, token_id);
        pthread_mutex_unlock(&pe->lock);
}

void portal_events_session_ended(struct vigild *d, const uint8_t hash[CRYPTO_SHA256_LEN])
{
        struct portal_events *pe = d->portal_events;

        if (!pe)
                return;
        pthread_mutex_lock(&pe->lock);
        end_matching_locked(pe, client_of_session, hash);
        pthread_mutex_unlock(&pe->lock);
}

/* The stream's connection is done: forget the client. */
static void client_close(void *cls)
{
        struct client *c = cls;
        struct portal_events *pe = c->pe;

        pthread_mutex_lock(&pe->lock);
        if (c->prev)
                c->prev->next = c->next;
        else
                pe->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        pe->n_clients--;
        pthread_mutex_unlock(&pe->lock);
        free(c);
}

void portal_events_handle(struct vigild *d, const struct http_request *req, struct http_reply *rep)
{
        static const char hello[] = "retry: 3000\n\n";
        struct portal_events *pe = d->portal_events;
        struct client *c;

        if (!pe) {
                http_reply_error(rep, 503, "unavailable", "the event streams are not running");
                return;
        }
        if (strcmp(req->method, "HEAD") == 0) {
                /* the headers a stream would have, and no stream */
                static const struct http_bytes none = { .data = "", .len = 0, .type = "text/event-stream" };
                http_reply_bytes(rep, 200, &none);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                http_reply_error(rep, 500, "internal", "out of memory while opening an event stream");
                return;
        }
        c->pe = pe;
        snprintf(c->token_id, sizeof(c->token_id), "%s", req->who->token_id);
        c->session = req->who->session;
        if (c->session)
                memcpy(c->session_hash, req->who->session_hash, sizeof(c->session_hash));
        pthread_mutex_lock(&pe->lock);
        if (pe->n_clients >= pe->d->cfg.portal_sse_clients) {
                /* a client that went away is noticed only when its stream is
                 * written to: write to all now, so that a retry finds its place */
                for (struct client *o = pe->clients; o; o = o->next)
                        http_stream_write(o->st, PING_LINE, sizeof(PING_LINE) - 1);
                pthread_mutex_unlock(&pe->lock);
                free(c);
                http_reply_error(rep, 503, "too_many_streams", "%u event streams are open already, the most "
                                 "portal_sse_clients allows", d->cfg.portal_sse_clients);
                return;
        }
        c->st = http_stream_new(req->server, STREAM_CAP, client_close, c);
        if (!c->st) {
                pthread_mutex_unlock(&pe->lock);
                free(c);
                http_reply_error(rep, 500, "internal", "out of memory while opening an event stream");
                return;
        }
        c->next = pe->clients;
        if (pe->clients)
                pe->clients->prev = c;
        pe->clients = c;
        pe->n_clients++;
        http_stream_write(c->st, hello, sizeof(hello) - 1);
        pthread_mutex_unlock(&pe->lock);
        http_reply_stream(rep, c->st, "text/event-stream");
}

int portal_events_start(struct vigild *d, char *err, size_t err_size)
{
        static const enum bus_event_type types[] = { BUS_RISK_CHANGED, BUS_COMPLIANCE_CHANGED, BUS_ALERT_RAISED,
                                                     BUS_DEVICE_ENROLLED, BUS_DEVICE_OFFBOARDED,
                                                     BUS_INVENTORY_CHANGED, BUS_ACTION_CHANGED,
                                                     BUS_EXPOSURE_CHANGED };
        struct portal_events *pe = calloc(1, sizeof(*pe));
        pthread_condattr_t ca;
        int r = 0;

        if (!pe) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        pe->d = d;
        pthread_mutex_init(&pe->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&pe->cond, &ca);
        pthread_condattr_destroy(&ca);
        d->portal_events = pe;
        for (size_t i = 0; r == 0 && i < sizeof(types) / sizeof(types[0]); i++)
                r = bus_subscribe(d->bus, types[i], on_event, pe);
        if (r < 0) {
                snprintf(err, err_size, "cannot subscribe to the event bus: %s", strerror(-r));
                return r;
        }
        if (pthread_create(&pe->thread, NULL, keepalive_main, pe) != 0) {
                snprintf(err, err_size, "cannot start the keepalive thread of the event streams");
                return -EAGAIN;
        }
        pe->running = true;
        return 0;
}

void portal_events_stop(struct vigild *d)
{
        struct portal_events *pe = d->portal_events;

        if (!pe)
                return;
        pthread_mutex_lock(&pe->lock);
        pe->stopping = true;
        pthread_cond_signal(&pe->cond);
        pthread_mutex_unlock(&pe->lock);
        if (pe->running)
                pthread_join(pe->thread, NULL);
        pthread_cond_destroy(&pe->cond);
        pthread_mutex_destroy(&pe->lock);
        free(pe);
        d->portal_events = NULL;
}
