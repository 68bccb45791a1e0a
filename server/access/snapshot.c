/* access snapshot: what the decision endpoint answers from, and the thread
 * that rebuilds it when something it holds changes.
 *
 * A snapshot holds the parsed policies and, indexed for lookups by a
 * certificate's serial or fingerprint, by UPN and by id, every device's
 * facts and the directory. It is immutable once published: the builder
 * thread makes a new one and swaps a pointer under swap_lock; each worker
 * of the endpoint keeps a reference and takes the new one only when the
 * generation it reads (one atomic load per request) moved, so the hot path
 * takes no lock and touches no shared cache line that changes. The devices
 * and the directory (a fleet) are read again only when one of them changed;
 * a snapshot built for a policy change shares the fleet before it.
 *
 * What must take effect on the very next request — a device's compliance
 * state and reason, its offboarding — is not in the snapshot but in slots,
 * one per device, written in place from the bus as a seqlock. Slots are
 * allocated in chunks that never move and live as long as the module, so a
 * snapshot refers to its devices' slots by number. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "server/access/access-internal.h"
#include "server/bus.h"
#include "server/db/db.h"
#include "server/enroll/enroll.h"
#include "server/log.h"
#include "server/manage/compliance-service.h"
#include "server/manage/manage.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define ARENA_BLOCK 65536
#define BUILD_GAP_MS 100        /* rebuilds come at most this often; changes in between are taken together */
#define BUILD_SHARE 4           /* ... and wait 4 times as long as the last build took: at most a fifth of a core */

/* ---- helpers ---- */

static uint64_t hash_mem(const void *p, size_t n)
{
        const unsigned char *s = p;
        uint64_t h = 1469598103934665603ull;

        for (size_t i = 0; i < n; i++)
                h = (h ^ s[i]) * 1099511628211ull;
        return h;
}

static uint64_t hash_folded(const char *s, size_t n)
{
        uint64_t h = 1469598103934665603ull;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 1099511628211ull;
        }
        return h;
}

/* Writes serial (hex, any case, colons allowed) into out as lower-case hex
 * without leading zeros. Returns 0, or -EINVAL if it is not hex or longer
 * than 40 digits. */
static int serial_normalize(const char *s, size_t len, char out[static 41])
{
        size_t n = 0;
        bool lead = true;

        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c == ':')
                        continue;
                if (c >= 'A' && c <= 'F')
                        c = (char)(c + 32);
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                        return -EINVAL;
                if (lead && c == '0')
                        continue;
                lead = false;
                if (n >= 40)
                        return -EINVAL;
                out[n++] = c;
        }
        if (n == 0) {
                if (lead && len == 0)
                        return -EINVAL;
                out[n++] = '0';
        }
        out[n] = '\0';
        return 0;
}

struct access_arena_block {
        struct access_arena_block *next;
        size_t used;
        char data[ARENA_BLOCK];
};

static void *arena_alloc(struct access_arena_block **a, size_t n)
{
        struct access_arena_block *b = *a;

        n = (n + 7) & ~(size_t)7;
        if (n > ARENA_BLOCK)
                return NULL;
        if (!b || ARENA_BLOCK - b->used < n) {
                b = malloc(sizeof(*b));
                if (!b)
                        return NULL;
                b->next = *a;
                b->used = 0;
                *a = b;
        }
        b->used += n;
        return b->data + b->used - n;
}

static const char *arena_str(struct access_arena_block **a, const char *s, bool fold)
{
        size_t n = s ? strlen(s) : 0;
        char *p = arena_alloc(a, n + 1);

        if (!p)
                return NULL;
        for (size_t i = 0; i < n; i++)
                p[i] = fold && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        p[n] = '\0';
        return p;
}

static int index_init(struct access_index *x, size_t n)
{
        size_t size = 16;

        while (size < 2 * n + 2)
                size *= 2;
        x->v = calloc(size, sizeof(*x->v));
        x->mask = size - 1;
        return x->v ? 0 : -ENOMEM;
}

static void index_put(struct access_index *x, uint64_t h, uint32_t i)
{
        size_t p = h & x->mask;

        while (x->v[p])
                p = (p + 1) & x->mask;
        x->v[p] = i + 1;
}

#define INDEX_EACH(x, h, i)                                                                        \
        for (size_t p_ = (h) & (x)->mask; (x)->v && (x)->v[p_] && ((i) = (x)->v[p_] - 1, 1);        \
             p_ = (p_ + 1) & (x)->mask)

/* ---- slots ---- */

static struct access_slot *slot_at(struct access *a, uint32_t i)
{
        return &a->chunks[i >> ACCESS_SLOT_CHUNK_BITS][i & (ACCESS_SLOT_CHUNK - 1)];
}

/* The slot of a device id, or -ENOENT. slots_lock held. */
static int64_t slot_find(struct access *a, const char *id)
{
        uint64_t h = util_str_hash(id);
        size_t mask = a->slot_map_size - 1;

        if (!a->slot_map)
                return -ENOENT;
        for (size_t p = h & mask; a->slot_map[p]; p = (p + 1) & mask)
                if (strcmp(slot_at(a, a->slot_map[p] - 1)->id, id) == 0)
                        return a->slot_map[p] - 1;
        return -ENOENT;
}

static int slot_map_grow(struct access *a)
{
        size_t size = a->slot_map_size ? a->slot_map_size * 2 : 1024;
        uint32_t *v = calloc(size, sizeof(*v)), n = atomic_load(&a->n_slots);

        if (!v)
                return -ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
                size_t p = util_str_hash(slot_at(a, i)->id) & (size - 1);
                while (v[p])
                        p = (p + 1) & (size - 1);
                v[p] = i + 1;
        }
        free(a->slot_map);
        a->slot_map = v;
        a->slot_map_size = size;
        return 0;
}

/* The slot of a device id, made (with *ret_created set) if it has none.
 * slots_lock held. Returns the slot, -E2BIG past the slots' bound, or
 * -ENOMEM. */
static int64_t slot_get(struct access *a, const char *id, bool *ret_created)
{
        int64_t i = slot_find(a, id);
        uint32_t n = atomic_load(&a->n_slots);
        struct access_slot *s;
        int r;

        *ret_created = false;
        if (i >= 0)
                return i;
        if (strlen(id) > 36)
                return -EINVAL;
        if (n >= (uint32_t)ACCESS_SLOT_CHUNKS * ACCESS_SLOT_CHUNK)
                return -E2BIG;
        if ((size_t)(n + 1) * 2 > a->slot_map_size && (r = slot_map_grow(a)) < 0)
                return r;
        if (!a->chunks[n >> ACCESS_SLOT_CHUNK_BITS]) {
                a->chunks[n >> ACCESS_SLOT_CHUNK_BITS] = calloc(ACCESS_SLOT_CHUNK, sizeof(struct access_slot));
                if (!a->chunks[n >> ACCESS_SLOT_CHUNK_BITS])
                        return -ENOMEM;
        }
        s = slot_at(a, n);
        snprintf(s->id, sizeof(s->id), "%s", id);
        atomic_store(&s->state, (uint8_t)COMPLIANCE_NOT_EVALUATED);
        size_t p = util_str_hash(id) & (a->slot_map_size - 1);
        while (a->slot_map[p])
                p = (p + 1) & (a->slot_map_size - 1);
        a->slot_map[p] = n + 1;
        atomic_store(&a->n_slots, n + 1);
        *ret_created = true;
        return n;
}

/* Writes a slot (slots_lock held). reason NULL keeps the one there. */
static void slot_write(struct access_slot *s, enum compliance_state state, bool offboarded, const char *reason)
{
        uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);

        atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&s->state, (uint8_t)state, memory_order_relaxed);
        atomic_store_explicit(&s->offboarded, offboarded, memory_order_relaxed);
        if (reason)
                snprintf(s->reason, sizeof(s->reason), "%s", reason);
        atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void access_slot_read(struct access *a, uint32_t i, struct access_slot_view *v, bool with_reason)
{
        struct access_slot *s = slot_at(a, i);
        uint32_t seq;

        for (;;) {
                seq = atomic_load_explicit(&s->seq, memory_order_acquire);
                if (seq & 1)
                        continue;
                v->state = (enum compliance_state)atomic_load_explicit(&s->state, memory_order_relaxed);
                v->offboarded = atomic_load_explicit(&s->offboarded, memory_order_relaxed);
                if (with_reason)
                        memcpy(v->reason, s->reason, sizeof(v->reason));
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->seq, memory_order_relaxed) == seq)
                        break;
        }
        if (with_reason)
                v->reason[sizeof(v->reason) - 1] = '\0';
        else
                v->reason[0] = '\0';
}

/* ---- snapshots ---- */

static void fleet_put(struct access_fleet *s)
{
        if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
                return;
        free(s->devs);
        free(s->users);
        free(s->groups);
        free(s->by_serial.v);
        free(s->by_fpr.v);
        free(s->by_device.v);
        free(s->by_upn.v);
        free(s->by_user.v);
        free(s->by_group_name.v);
        free(s->by_group_id.v);
        while (s->arena) {
                struct access_arena_block *b = s->arena->next;
                free(s->arena);
                s->arena = b;
        }
        free(s);
}

static void snapshot_free(struct access_snapshot *s)
{
        if (!s)
                return;
        access_policy_index_free(s->pindex);
        for (size_t i = 0; i < s->n_policies; i++)
                access_policy_free(s->policies[i]);
        free(s->policies);
        free(s->pinfo);
        free(s->policy_set);
        fleet_put(s->fleet);
        free(s);
}

void access_snapshot_put(struct access_snapshot *s)
{
        if (s && atomic_fetch_sub(&s->refs, 1) == 1)
                snapshot_free(s);
}

struct access_snapshot *access_snapshot_get(struct access *a)
{
        struct access_snapshot *s;

        pthread_mutex_lock(&a->swap_lock);
        s = a->live;
        if (s)
                atomic_fetch_add(&s->refs, 1);
        pthread_mutex_unlock(&a->swap_lock);
        return s;
}

struct access_snapshot *access_worker_snapshot(struct access *a, unsigned worker)
{
        struct access_worker *w = &a->workers[worker];
        uint64_t gen = atomic_load_explicit(&a->live_gen, memory_order_acquire);

        if (w->gen != gen || !w->snap) {
                struct access_snapshot *old = w->snap;
                pthread_mutex_lock(&a->swap_lock);
                w->snap = a->live;
                if (w->snap)
                        atomic_fetch_add(&w->snap->refs, 1);
                w->gen = atomic_load(&a->live_gen);
                pthread_mutex_unlock(&a->swap_lock);
                access_snapshot_put(old);
        }
        return w->snap;
}

const struct access_snap_device *access_snap_device_by_serial(const struct access_snapshot *snap, const char *serial,
                                                              size_t len)
{
        const struct access_fleet *s = snap->fleet;
        char norm[41];
        uint32_t i;

        if (serial_normalize(serial, len, norm) < 0)
                return NULL;
        INDEX_EACH(&s->by_serial, util_str_hash(norm), i)
                if (strcmp(s->devs[i].serial, norm) == 0)
                        return &s->devs[i];
        return NULL;
}

const struct access_snap_device *access_snap_device_by_fpr(const struct access_snapshot *snap, const uint8_t fpr[32])
{
        const struct access_fleet *s = snap->fleet;
        uint32_t i;

        INDEX_EACH(&s->by_fpr, hash_mem(fpr, 32), i)
                if (memcmp(s->devs[i].fpr, fpr, 32) == 0)
                        return &s->devs[i];
        return NULL;
}

const struct access_snap_device *access_snap_device_by_id(const struct access_snapshot *snap, const char *id)
{
        const struct access_fleet *s = snap->fleet;
        uint32_t i;

        INDEX_EACH(&s->by_device, util_str_hash(id), i)
                if (strcmp(s->devs[i].id, id) == 0)
                        return &s->devs[i];
        return NULL;
}

const struct access_snap_user *access_snap_user(const struct access_snapshot *snap, const char *key, size_t len)
{
        const struct access_fleet *s = snap->fleet;
        uint32_t i;

        INDEX_EACH(&s->by_upn, hash_folded(key, len), i)
                if (strlen(s->users[i].upn) == len && strncasecmp(s->users[i].upn, key, len) == 0)
                        return &s->users[i];
        /* ids in any case too: a policy compares its entries to a name
         * without regard to case, so an id in capitals must be its user */
        INDEX_EACH(&s->by_user, hash_folded(key, len), i)
                if (strlen(s->users[i].id) == len && strncasecmp(s->users[i].id, key, len) == 0)
                        return &s->users[i];
        return NULL;
}

const struct access_snap_group *access_snap_group_by_name(const struct access_snapshot *snap, const char *name)
{
        const struct access_fleet *s = snap->fleet;
        uint32_t i;

        INDEX_EACH(&s->by_group_name, util_str_hash(name), i)
                if (strcmp(s->groups[i].name, name) == 0)
                        return &s->groups[i];
        return NULL;
}

const struct access_snap_group *access_snap_group_by_id(const struct access_snapshot *snap, const char *id, size_t len)
{
        const struct access_fleet *s = snap->fleet;
        uint32_t i;

        INDEX_EACH(&s->by_group_id, hash_folded(id, len), i)
                if (strlen(s->groups[i].id) == len && strncasecmp(s->groups[i].id, id, len) == 0)
                        return &s->groups[i];
        return NULL;
}

/* What a build gathers before the snapshot's indexes are made. */
struct build {
        struct access *a;
        struct access_snapshot *s;
        struct access_fleet *f;         /* being built; NULL when the live one is kept */
        size_t cap_devs, cap_users, cap_groups;
        /* certificates by device id, from enroll */
        struct cert { const char *id; char serial[41]; uint8_t fpr[32]; bool offboarded; } *certs;
        size_t n_certs, cap_certs;
        struct access_index by_cert;
        /* the user being read and its groups */
        const char **ugroups;
        size_t n_ugroups, cap_ugroups;
        char err[512];
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
        if (n < *cap)
                return 0;
        size_t c = *cap ? *cap * 2 : 64;
        void *p = realloc(*v, c * size);
        if (!p)
                return -ENOMEM;
        *v = p;
        *cap = c;
        return 0;
}

static int on_cert(const char *id, const char *serial_hex, const char *fpr_hex, bool offboarded, void *userdata)
{
        struct build *b = userdata;
        struct cert *c;

        if (grow((void **)&b->certs, &b->cap_certs, b->n_certs, sizeof(*b->certs)) < 0)
                return -ENOMEM;
        c = &b->certs[b->n_certs];
        memset(c, 0, sizeof(*c));
        c->id = arena_str(&b->f->arena, id, false);
        if (!c->id)
                return -ENOMEM;
        /* a row without a usable certificate cannot be matched: kept, never found */
        if (!serial_hex || serial_normalize(serial_hex, strlen(serial_hex), c->serial) < 0)
                c->serial[0] = '\0';
        if (!fpr_hex || util_hex_decode(fpr_hex, strlen(fpr_hex), c->fpr, sizeof(c->fpr)) != 32)
                memset(c->fpr, 0, sizeof(c->fpr));
        c->offboarded = offboarded;
        b->n_certs++;
        return 0;
}

static int on_state(const char *device_id, enum compliance_state state, const char *reason, void *userdata)
{
        struct build *b = userdata;
        bool created;
        int64_t i;

        pthread_mutex_lock(&b->a->slots_lock);
        i = slot_get(b->a, device_id, &created);
        if (i >= 0 && created)
                slot_write(slot_at(b->a, (uint32_t)i), state, false, reason ? reason : "");
        pthread_mutex_unlock(&b->a->slots_lock);
        return i < 0 ? (int)i : 0;
}

/* Closes the user being read: its groups are copied into the arena. */
static int user_close(struct build *b)
{
        struct access_snap_user *u;

        if (b->f->n_users == 0)
                return 0;
        u = &b->f->users[b->f->n_users - 1];
        if (u->groups || b->n_ugroups == 0)
                return 0;
        u->groups = arena_alloc(&b->f->arena, b->n_ugroups * sizeof(*u->groups));
        if (!u->groups)
                return -ENOMEM;
        memcpy(u->groups, b->ugroups, b->n_ugroups * sizeof(*u->groups));
        u->n_groups = b->n_ugroups;
        b->n_ugroups = 0;
        return 0;
}

static int on_user(const char *user_id, const char *upn, bool enabled, const char *group_id, void *userdata)
{
        struct build *b = userdata;
        struct access_fleet *s = b->f;
        int r;

        if (s->n_users == 0 || strcmp(s->users[s->n_users - 1].id, user_id) != 0) {
                if ((r = user_close(b)) < 0 ||
                    (r = grow((void **)&s->users, &b->cap_users, s->n_users, sizeof(*s->users))) < 0)
                        return r;
                struct access_snap_user *u = &s->users[s->n_users++];
                memset(u, 0, sizeof(*u));
                u->id = arena_str(&s->arena, user_id, false);
                u->upn = arena_str(&s->arena, upn, true);
                u->enabled = enabled;
                if (!u->id || !u->upn)
                        return -ENOMEM;
        }
        if (group_id) {
                if (grow((void **)&b->ugroups, &b->cap_ugroups, b->n_ugroups, sizeof(*b->ugroups)) < 0)
                        return -ENOMEM;
                b->ugroups[b->n_ugroups] = arena_str(&s->arena, group_id, false);
                if (!b->ugroups[b->n_ugroups++])
                        return -ENOMEM;
        }
        return 0;
}

static int on_group(const char *group_id, const char *name, void *userdata)
{
        struct build *b = userdata;
        struct access_fleet *s = b->f;
        int r;

        if ((r = user_close(b)) < 0 ||
            (r = grow((void **)&s->groups, &b->cap_groups, s->n_groups, sizeof(*s->groups))) < 0)
                return r;
        s->groups[s->n_groups].id = arena_str(&s->arena, group_id, false);
        s->groups[s->n_groups].name = arena_str(&s->arena, name, false);
        if (!s->groups[s->n_groups].id || !s->groups[s->n_groups].name)
                return -ENOMEM;
        s->n_groups++;
        return 0;
}

static const struct cert *cert_find(const struct build *b, const char *id)
{
        uint32_t i;

        INDEX_EACH(&b->by_cert, util_str_hash(id), i)
                if (strcmp(b->certs[i].id, id) == 0)
                        return &b->certs[i];
        return NULL;
}

static int on_facts(const struct manage_device_facts *f, bool offboarded, void *userdata)
{
        struct build *b = userdata;
        struct access_fleet *s = b->f;
        const struct cert *c = cert_find(b, f->id);
        struct access_snap_device *dv;
        bool created;
        int64_t slot;

        if (!c)
                return 0;       /* known to manage before enroll committed it: the next build has it */
        pthread_mutex_lock(&b->a->slots_lock);
        slot = slot_get(b->a, f->id, &created);
        if (slot >= 0) {
                struct access_slot *sl = slot_at(b->a, (uint32_t)slot);
                bool off = offboarded || c->offboarded;
                if (created)
                        slot_write(sl, COMPLIANCE_NOT_EVALUATED, off, "");
                else if (off && !atomic_load(&sl->offboarded))
                        slot_write(sl, (enum compliance_state)atomic_load(&sl->state), true, NULL);
        }
        pthread_mutex_unlock(&b->a->slots_lock);
        if (slot < 0)
                return (int)slot;
        if (grow((void **)&s->devs, &b->cap_devs, s->n_devs, sizeof(*s->devs)) < 0)
                return -ENOMEM;
        dv = &s->devs[s->n_devs];
        memset(dv, 0, sizeof(*dv));
        dv->id = c->id;
        dv->slot = (uint32_t)slot;
        memcpy(dv->serial, c->serial, sizeof(dv->serial));
        memcpy(dv->fpr, c->fpr, sizeof(dv->fpr));
        dv->facts.id = dv->id;
        dv->facts.platform = arena_str(&s->arena, f->platform, false);
        dv->facts.os_name = arena_str(&s->arena, f->os_name, false);
        dv->facts.os_version = arena_str(&s->arena, f->os_version, false);
        dv->facts.name = arena_str(&s->arena, f->name, false);
        dv->facts.architecture = arena_str(&s->arena, f->architecture, false);
        dv->facts.kernel = arena_str(&s->arena, f->kernel, false);
        if (!dv->facts.platform || !dv->facts.os_name || !dv->facts.os_version || !dv->facts.name ||
            !dv->facts.architecture || !dv->facts.kernel)
                return -ENOMEM;
        if (f->n_tags) {
                const char **tags = arena_alloc(&s->arena, f->n_tags * sizeof(*tags));
                if (!tags)
                        return -ENOMEM;
                for (size_t i = 0; i < f->n_tags; i++)
                        if (!(tags[i] = arena_str(&s->arena, f->tags[i], false)))
                                return -ENOMEM;
                dv->facts.tags = tags;
                dv->facts.n_tags = f->n_tags;
        }
        s->n_devs++;
        return 0;
}

/* Parses the stored locations and policies into s. */
static int build_policies(struct build *b)
{
        struct access_stored *locs = NULL, *pols = NULL;
        struct access_location *parsed = NULL;
        size_t n_locs = 0, n_pols = 0;
        struct access_snapshot *s = b->s;
        json_t *set = NULL;
        char err[384];
        int r;

        r = access_store_read(b->a->d, &locs, &n_locs, &pols, &n_pols);
        if (r < 0) {
                snprintf(b->err, sizeof(b->err), "cannot read the stored policies: %s", strerror(-r));
                return r;
        }
        parsed = n_locs ? calloc(n_locs, sizeof(*parsed)) : NULL;
        s->policies = n_pols ? calloc(n_pols, sizeof(*s->policies)) : NULL;
        s->pinfo = n_pols ? calloc(n_pols, sizeof(*s->pinfo)) : NULL;
        set = json_array();
        if ((n_locs && !parsed) || (n_pols && (!s->policies || !s->pinfo)) || !set) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n_locs; i++) {
                r = access_location_parse(locs[i].doc, locs[i].doc_len, &parsed[i], err, sizeof(err));
                if (r < 0) {
                        snprintf(b->err, sizeof(b->err), "stored location %s: %s", locs[i].id, err);
                        goto out;
                }
        }
        for (size_t i = 0; i < n_pols; i++) {
                r = access_policy_parse(pols[i].doc, pols[i].doc_len, parsed, n_locs, &s->policies[i], err,
                                        sizeof(err));
                if (r < 0) {
                        snprintf(b->err, sizeof(b->err), "stored policy %s: %s", pols[i].id, err);
                        goto out;
                }
                s->n_policies++;
                snprintf(s->pinfo[i].id, sizeof(s->pinfo[i].id), "%s", pols[i].id);
                s->pinfo[i].name = access_policy_name(s->policies[i]);
                s->pinfo[i].state = access_policy_state(s->policies[i]);
                json_array_append_new(set, json_pack("{s:s, s:s, s:s}", "id", s->pinfo[i].id, "name",
                                                     s->pinfo[i].name, "state",
                                                     access_state_name(s->pinfo[i].state)));
        }
        s->policy_set = json_dumps(set, JSON_COMPACT);
        r = s->policy_set ? access_policy_index_build((const struct access_policy *const *)s->policies,
                                                       s->n_policies, &s->pindex)
                          : -ENOMEM;
        if (r < 0)
                snprintf(b->err, sizeof(b->err), "out of memory");
out:
        json_decref(set);
        free(parsed);
        access_stored_free(locs, n_locs);
        access_stored_free(pols, n_pols);
        return r;
}

static int build_indexes(struct access_fleet *s)
{
        if (index_init(&s->by_serial, s->n_devs) < 0 || index_init(&s->by_fpr, s->n_devs) < 0 ||
            index_init(&s->by_device, s->n_devs) < 0 || index_init(&s->by_upn, s->n_users) < 0 ||
            index_init(&s->by_user, s->n_users) < 0 || index_init(&s->by_group_name, s->n_groups) < 0 ||
            index_init(&s->by_group_id, s->n_groups) < 0)
                return -ENOMEM;
        for (uint32_t i = 0; i < s->n_devs; i++) {
                const struct access_snap_device *dv = &s->devs[i];
                static const uint8_t zero[32];
                if (dv->serial[0])
                        index_put(&s->by_serial, util_str_hash(dv->serial), i);
                if (memcmp(dv->fpr, zero, 32) != 0)
                        index_put(&s->by_fpr, hash_mem(dv->fpr, 32), i);
                index_put(&s->by_device, util_str_hash(dv->id), i);
        }
        for (uint32_t i = 0; i < s->n_users; i++) {
                index_put(&s->by_upn, hash_folded(s->users[i].upn, strlen(s->users[i].upn)), i);
                index_put(&s->by_user, hash_folded(s->users[i].id, strlen(s->users[i].id)), i);
        }
        for (uint32_t i = 0; i < s->n_groups; i++) {
                index_put(&s->by_group_name, util_str_hash(s->groups[i].name), i);
                index_put(&s->by_group_id, hash_folded(s->groups[i].id, strlen(s->groups[i].id)), i);
        }
        return 0;
}

/* Reads every device, its certificate and the directory into a new fleet
 * (b->f). Returns 0 or a negative errno with the reason in b->err. */
static int build_fleet(struct build *b)
{
        struct vigild *d = b->a->d;
        int r;

        b->f = calloc(1, sizeof(*b->f));
        if (!b->f) {
                snprintf(b->err, sizeof(b->err), "out of memory");
                return -ENOMEM;
        }
        atomic_init(&b->f->refs, 1);
        db_lock(d->db);
        r = enroll_device_certs_each(d, on_cert, b);
        if (r == 0)
                r = compliance_device_states_each(d, on_state, b);
        if (r == 0)
                r = manage_directory_each(d, on_user, on_group, b);
        if (r == 0)
                r = user_close(b);
        db_unlock(d->db);
        if (r < 0 && !b->err[0])
                snprintf(b->err, sizeof(b->err), "cannot read devices and the directory: %s",
                         r == -ENOMEM ? "out of memory" : db_errmsg(d->db));
        if (r == 0) {
                r = index_init(&b->by_cert, b->n_certs);
                for (uint32_t i = 0; r == 0 && i < b->n_certs; i++)
                        index_put(&b->by_cert, util_str_hash(b->certs[i].id), i);
                if (r == 0)
                        r = manage_device_facts_each(d, on_facts, b);
                if (r == 0)
                        r = build_indexes(b->f);
                if (r < 0 && !b->err[0])
                        snprintf(b->err, sizeof(b->err), "cannot index devices: %s", strerror(-r));
        }
        free(b->certs);
        free(b->by_cert.v);
        free(b->ugroups);
        return r;
}

/* Builds a new snapshot: its policies always, its fleet too unless keep
 * (the live snapshot's, shared, when only policies changed). Returns 0
 * with *ret, or a negative errno with the reason in err. */
static int build(struct access *a, uint64_t gen, struct access_fleet *keep, struct access_snapshot **ret, char *err,
                 size_t err_size)
{
        struct build b = { .a = a };
        int r;

        b.s = calloc(1, sizeof(*b.s));
        if (!b.s) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        atomic_init(&b.s->refs, 1);
        b.s->gen = gen;
        r = build_policies(&b);
        if (r == 0 && keep) {
                atomic_fetch_add(&keep->refs, 1);
                b.s->fleet = keep;
        } else if (r == 0) {
                r = build_fleet(&b);
                b.s->fleet = b.f;
        }
        if (r < 0) {
                snprintf(err, err_size, "%s", b.err);
                snapshot_free(b.s);
                return r;
        }
        *ret = b.s;
        return 0;
}

static void publish(struct access *a, struct access_snapshot *s)
{
        struct access_snapshot *old;

        access_log_policy_set(a, s);
        pthread_mutex_lock(&a->swap_lock);
        old = a->live;
        a->live = s;
        atomic_fetch_add_explicit(&a->live_gen, 1, memory_order_release);
        pthread_mutex_unlock(&a->swap_lock);
        access_snapshot_put(old);
}

static void *builder_main(void *arg)
{
        struct access *a = arg;
        uint64_t gen = 1;
        int64_t last_ms = 0, last_fleet_ms = 0, fleet_took_ms = 0;

        pthread_mutex_lock(&a->lock);
        for (;;) {
                while (!a->stop && a->built >= a->asked)
                        pthread_cond_wait(&a->cond, &a->lock);
                if (a->stop)
                        break;
                bool fleet = a->fleet_built < a->fleet_asked;
                pthread_mutex_unlock(&a->lock);
                /* a fleet rebuild waits four times as long as the last one took;
                 * policies alone are cheap to read again */
                int64_t gap = fleet && fleet_took_ms * BUILD_SHARE > BUILD_GAP_MS ? fleet_took_ms * BUILD_SHARE
                                                                                  : BUILD_GAP_MS;
                int64_t wait_ms = (fleet ? last_fleet_ms : last_ms) + gap - util_mono_ms();
                if (wait_ms > 0)
                        nanosleep(&(struct timespec){ .tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L },
                                  NULL);
                pthread_mutex_lock(&a->lock);
                uint64_t want = a->asked, fleet_want = a->fleet_asked;
                fleet = a->fleet_built < fleet_want;
                pthread_mutex_unlock(&a->lock);

                struct access_snapshot *s = NULL;
                char err[512];
                int64_t t0 = util_mono_ms();
                /* only this thread replaces the live snapshot: reading it needs no lock */
                int r = build(a, ++gen, fleet ? NULL : a->live->fleet, &s, err, sizeof(err));
                last_ms = util_mono_ms();
                if (fleet) {
                        last_fleet_ms = last_ms;
                        fleet_took_ms = last_ms - t0;
                }
                if (r == 0) {
                        publish(a, s);
                        log_debug("access snapshot %llu: %zu policies, %zu devices, %zu users in %lld ms%s",
                                  (unsigned long long)gen, s->n_policies, s->fleet->n_devs, s->fleet->n_users,
                                  (long long)(last_ms - t0), fleet ? "" : " (devices and directory kept)");
                } else {
                        log_error("access snapshot not rebuilt, the previous one stays in use: %s", err);
                }
                pthread_mutex_lock(&a->lock);
                /* a failed build is not retried until something changes again */
                a->built = want;
                a->fleet_built = fleet_want;
                pthread_cond_broadcast(&a->cond);
        }
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

/* ---- bus ---- */

static void on_compliance(const struct bus_event *ev, void *userdata)
{
        struct access *a = ((struct vigild *)userdata)->access;
        enum compliance_state st;
        bool created;
        int64_t i;

        if (!a || !ev->device_id || compliance_state_parse(ev->compliance_changed.to, &st) < 0)
                return;
        pthread_mutex_lock(&a->slots_lock);
        i = slot_get(a, ev->device_id, &created);
        if (i >= 0) {
                struct access_slot *s = slot_at(a, (uint32_t)i);
                slot_write(s, st, atomic_load(&s->offboarded),
                           ev->compliance_changed.reason ? ev->compliance_changed.reason : "");
        }
        pthread_mutex_unlock(&a->slots_lock);
        if (i < 0)
                log_error("access: cannot keep the compliance of device %s: %s", ev->device_id, strerror((int)-i));
}

static void on_offboarded(const struct bus_event *ev, void *userdata)
{
        struct access *a = ((struct vigild *)userdata)->access;
        bool created;
        int64_t i;

        if (!a || !ev->device_id)
                return;
        pthread_mutex_lock(&a->slots_lock);
        i = slot_get(a, ev->device_id, &created);
        if (i >= 0) {
                struct access_slot *s = slot_at(a, (uint32_t)i);
                slot_write(s, (enum compliance_state)atomic_load(&s->state), true, NULL);
        }
        pthread_mutex_unlock(&a->slots_lock);
        if (i < 0)
                log_error("access: cannot mark device %s offboarded: %s", ev->device_id, strerror((int)-i));
}

/* A device, a user or a group changed: the fleet is read again. */
static void on_rebuild(const struct bus_event *ev, void *userdata)
{
        struct access *a = ((struct vigild *)userdata)->access;

        (void)ev;
        if (!a)
                return;
        pthread_mutex_lock(&a->lock);
        a->asked++;
        a->fleet_asked++;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
}

/* ---- start, stop, change ---- */

int access_snapshot_start(struct access *a, char *err, size_t err_size)
{
        static const enum bus_event_type rebuild_on[] = {
                BUS_DEVICE_ENROLLED, BUS_INVENTORY_CHANGED, BUS_GROUPS_CHANGED, BUS_TAGS_CHANGED,
                BUS_DIRECTORY_CHANGED,
        };
        struct vigild *d = a->d;
        struct access_snapshot *s;
        int r;

        r = bus_subscribe(d->bus, BUS_COMPLIANCE_CHANGED, on_compliance, d);
        if (r == 0)
                r = bus_subscribe(d->bus, BUS_DEVICE_OFFBOARDED, on_offboarded, d);
        for (size_t i = 0; r == 0 && i < sizeof(rebuild_on) / sizeof(rebuild_on[0]); i++)
                r = bus_subscribe(d->bus, rebuild_on[i], on_rebuild, d);
        if (r < 0) {
                snprintf(err, err_size, "cannot subscribe to the bus: %s", strerror(-r));
                return r;
        }
        r = build(a, 1, NULL, &s, err, err_size);
        if (r < 0)
                return r;
        publish(a, s);
        log_info("access snapshot: %zu policies, %zu devices, %zu users", s->n_policies, s->fleet->n_devs,
                 s->fleet->n_users);
        r = pthread_create(&a->builder, NULL, builder_main, a);
        if (r == 0)
                pthread_setname_np(a->builder, "access-snapshot");
        if (r != 0) {
                snprintf(err, err_size, "cannot start the snapshot thread: %s", strerror(r));
                return -r;
        }
        a->builder_started = true;
        return 0;
}

void access_snapshot_stop(struct access *a)
{
        if (a->builder_started) {
                pthread_mutex_lock(&a->lock);
                a->stop = true;
                pthread_cond_broadcast(&a->cond);
                pthread_mutex_unlock(&a->lock);
                pthread_join(a->builder, NULL);
                a->builder_started = false;
        }
        for (unsigned i = 0; i < ACCESS_WORKERS_MAX; i++) {
                access_snapshot_put(a->workers[i].snap);
                a->workers[i].snap = NULL;
        }
        access_snapshot_put(a->live);
        a->live = NULL;
        for (size_t i = 0; i < ACCESS_SLOT_CHUNKS; i++) {
                free(a->chunks[i]);
                a->chunks[i] = NULL;
        }
        free(a->slot_map);
        a->slot_map = NULL;
}

void access_changed(struct vigild *d)
{
        struct access *a = d->access;

        if (!a)
                return;
        pthread_mutex_lock(&a->lock);
        a->asked++;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
}

bool access_settle(struct vigild *d, unsigned timeout_ms)
{
        struct access *a = d->access;
        struct timespec until;
        bool done;
        int r = 0;

        if (!a)
                return true;
        until = util_deadline(CLOCK_REALTIME, timeout_ms);
        pthread_mutex_lock(&a->lock);
        uint64_t want = a->asked;
        while (a->built < want && !a->stop && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&a->cond, &a->lock, &until);
        done = a->built >= want;
        pthread_mutex_unlock(&a->lock);
        return done;
}
