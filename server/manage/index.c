/* index: manage's in-memory membership index. Devices sit in slots (a hash of
 * their ids finds the slot); each group holds one bit per slot. A change of a
 * device's facts re-evaluates every dynamic group for that one device; a
 * change of a rule re-evaluates that rule over every device. Both report
 * which devices' sets of groups changed. */
#include "server/manage/manage-internal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

#include "server/vigild.h"
#include "util/strutil.h"

#define DEVS_INITIAL 1024

int manage_changed_add(struct manage_changed *c, const char *id)
{
        if (c->n > 0 && strcmp(c->ids[c->n - 1], id) == 0)
                return 0;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 16;
                void *p = realloc(c->ids, cap * sizeof(c->ids[0]));
                if (!p)
                        return -ENOMEM;
                c->ids = p;
                c->cap = cap;
        }
        snprintf(c->ids[c->n++], sizeof(c->ids[0]), "%s", id);
        return 0;
}

void manage_changed_release(struct manage_changed *c)
{
        free(c->ids);
        *c = (struct manage_changed){ 0 };
}

static uint32_t id_hash(const char *id)
{
        uint32_t h = 2166136261u;

        for (; *id; id++)
                h = (h ^ (uint8_t)*id) * 16777619u;
        return h;
}

static bool bit_get(const uint64_t *bits, size_t k)
{
        return bits[k / 64] >> (k % 64) & 1;
}

static void bit_put(struct manage_index_group *g, size_t k, bool on)
{
        uint64_t m = (uint64_t)1 << (k % 64);

        if (on == bit_get(g->bits, k))
                return;
        g->bits[k / 64] ^= m;
        if (on)
                g->n_members++;
        else
                g->n_members--;
}

int manage_index_init(struct manage_index *x)
{
        *x = (struct manage_index){ 0 };
        return -pthread_rwlock_init(&x->lock, NULL);
}

static void device_release(struct manage_index_device *dv)
{
        free(dv->blob);
        for (size_t i = 0; i < dv->n_tags; i++)
                free(dv->tags[i]);
        free(dv->tags);
}

static void group_free(struct manage_index_group *g)
{
        if (!g)
                return;
        manage_expr_free(g->rule);
        free(g->bits);
        free(g);
}

void manage_index_release(struct manage_index *x)
{
        for (size_t i = 0; i < x->n_devs; i++)
                device_release(&x->devs[i]);
        for (size_t i = 0; i < x->n_groups; i++)
                group_free(x->groups[i]);
        free(x->devs);
        free(x->hash);
        free(x->groups);
        pthread_rwlock_destroy(&x->lock);
}

/* The slot of a device, or -1. */
static ssize_t slot_find(const struct manage_index *x, const char *id)
{
        if (!x->hash_size)
                return -1;
        for (size_t h = id_hash(id) & (x->hash_size - 1);; h = (h + 1) & (x->hash_size - 1)) {
                uint32_t s = x->hash[h];
                if (s == 0)
                        return -1;
                if (strcmp(x->devs[s - 1].id, id) == 0)
                        return (ssize_t)s - 1;
        }
}

static void hash_put(struct manage_index *x, size_t slot)
{
        size_t h = id_hash(x->devs[slot].id) & (x->hash_size - 1);

        while (x->hash[h])
                h = (h + 1) & (x->hash_size - 1);
        x->hash[h] = (uint32_t)slot + 1;
}

/* Room for one more device: slots, the hash and every group's bits. */
static int devs_grow(struct manage_index *x)
{
        size_t cap = x->cap_devs ? x->cap_devs * 2 : DEVS_INITIAL, words = cap / 64, old = x->cap_devs / 64;
        struct manage_index_device *devs;
        uint32_t *hash;

        devs = realloc(x->devs, cap * sizeof(*devs));
        if (!devs)
                return -ENOMEM;
        x->devs = devs;
        for (size_t i = 0; i < x->n_groups; i++) {
                uint64_t *b = realloc(x->groups[i]->bits, words * sizeof(uint64_t));
                if (!b)
                        return -ENOMEM;
                memset(b + old, 0, (words - old) * sizeof(uint64_t));
                x->groups[i]->bits = b;
        }
        hash = calloc(cap * 2, sizeof(*hash));
        if (!hash)
                return -ENOMEM;
        free(x->hash);
        x->hash = hash;
        x->hash_size = cap * 2;
        x->cap_devs = cap;
        for (size_t s = 0; s < x->n_devs; s++)
                hash_put(x, s);
        return 0;
}

static bool group_wants(const struct manage_index_group *g, const struct manage_index_device *dv)
{
        return !dv->offboarded && manage_expr_eval(g->rule, &dv->facts);
}

/* Re-evaluates every dynamic group for one slot; notes a change. */
static int device_evaluate(struct manage_index *x, size_t slot, struct manage_changed *changed)
{
        const struct manage_index_device *dv = &x->devs[slot];
        bool differs = false;

        for (size_t i = 0; i < x->n_groups; i++) {
                struct manage_index_group *g = x->groups[i];
                bool was = bit_get(g->bits, slot), now = g->rule ? group_wants(g, dv) : was && !dv->offboarded;

                if (was != now) {
                        bit_put(g, slot, now);
                        differs = true;
                }
        }
        return differs && changed ? manage_changed_add(changed, dv->id) : 0;
}

/* Copies the facts' strings into one blob and points the facts at it. */
static int facts_copy(struct manage_index_device *dv, const struct manage_device_facts *f)
{
        const char *src[] = { f->platform, f->os_name, f->os_version, f->name, f->architecture, f->kernel };
        const char **dst[] = { &dv->facts.platform, &dv->facts.os_name, &dv->facts.os_version, &dv->facts.name,
                               &dv->facts.architecture, &dv->facts.kernel };
        size_t len[6], total = 0;
        char *blob, *p;

        for (size_t i = 0; i < 6; i++) {
                len[i] = src[i] ? strlen(src[i]) : 0;
                total += len[i] + 1;
        }
        blob = p = malloc(total);
        if (!blob)
                return -ENOMEM;
        for (size_t i = 0; i < 6; i++) {
                memcpy(p, src[i] ? src[i] : "", len[i] + 1);
                *dst[i] = p;
                p += len[i] + 1;
        }
        free(dv->blob);
        dv->blob = blob;
        return 0;
}

static int device_set_locked(struct manage_index *x, const struct manage_device_facts *f, bool offboarded,
                             size_t max_devices, struct manage_changed *changed)
{
        ssize_t slot = slot_find(x, f->id);
        struct manage_index_device *dv;
        int r;

        if (slot < 0) {
                if (x->n_devs >= max_devices)
                        return -E2BIG;
                if (x->n_devs == x->cap_devs && (r = devs_grow(x)) < 0)
                        return r;
                slot = (ssize_t)x->n_devs;
                dv = &x->devs[slot];
                *dv = (struct manage_index_device){ 0 };
                snprintf(dv->id, sizeof(dv->id), "%s", f->id);
                r = facts_copy(dv, f);
                if (r < 0)
                        return r;
                x->n_devs++;
                hash_put(x, (size_t)slot);
        } else {
                r = facts_copy(&x->devs[slot], f);
                if (r < 0)
                        return r;
        }
        dv = &x->devs[slot];
        dv->offboarded = offboarded;
        dv->facts.id = dv->id;
        dv->facts.tags = (const char *const *)dv->tags;
        dv->facts.n_tags = dv->n_tags;
        return device_evaluate(x, (size_t)slot, changed);
}

int manage_index_device_set(struct manage_index *x, const struct manage_device_facts *f, bool offboarded,
                            size_t max_devices, struct manage_changed *changed)
{
        int r;

        pthread_rwlock_wrlock(&x->lock);
        r = device_set_locked(x, f, offboarded, max_devices, changed);
        pthread_rwlock_unlock(&x->lock);
        return r;
}

static char **tags_copy(const char *const *tags, size_t n)
{
        char **t = calloc(n ? n : 1, sizeof(*t));

        for (size_t i = 0; t && i < n; i++) {
                t[i] = strdup(tags[i]);
                if (!t[i]) {
                        while (i--)
                                free(t[i]);
                        free(t);
                        return NULL;
                }
        }
        return t;
}

int manage_index_tags_set(struct manage_index *x, const char *device_id, const char *const *tags, size_t n,
                          struct manage_changed *changed)
{
        char **copy = tags_copy(tags, n);
        struct manage_index_device *dv;
        ssize_t slot;
        int r;

        if (!copy)
                return -ENOMEM;
        pthread_rwlock_wrlock(&x->lock);
        slot = slot_find(x, device_id);
        if (slot < 0) {
                pthread_rwlock_unlock(&x->lock);
                for (size_t i = 0; i < n; i++)
                        free(copy[i]);
                free(copy);
                return -ENOENT;
        }
        dv = &x->devs[slot];
        for (size_t i = 0; i < dv->n_tags; i++)
                free(dv->tags[i]);
        free(dv->tags);
        dv->tags = copy;
        dv->n_tags = n;
        dv->facts.tags = (const char *const *)copy;
        dv->facts.n_tags = n;
        r = device_evaluate(x, (size_t)slot, changed);
        pthread_rwlock_unlock(&x->lock);
        return r;
}

static ssize_t group_find(const struct manage_index *x, const char *id)
{
        for (size_t i = 0; i < x->n_groups; i++)
                if (strcmp(x->groups[i]->id, id) == 0)
                        return (ssize_t)i;
        return -1;
}

/* Evaluates a group's rule over every device; notes the devices that
 * changed. */
static int group_evaluate(struct manage_index *x, struct manage_index_group *g, struct manage_changed *changed)
{
        int r = 0;

        for (size_t s = 0; s < x->n_devs; s++) {
                bool now = group_wants(g, &x->devs[s]);

                if (now == bit_get(g->bits, s))
                        continue;
                bit_put(g, s, now);
                if (changed && r == 0)
                        r = manage_changed_add(changed, x->devs[s].id);
        }
        return r;
}

int manage_index_group_add_take(struct manage_index *x, const char *id, struct manage_expr *rule,
                                struct manage_changed *changed)
{
        struct manage_index_group *g = calloc(1, sizeof(*g)), **groups;
        int r = -ENOMEM;

        if (!g) {
                manage_expr_free(rule);
                return -ENOMEM;
        }
        snprintf(g->id, sizeof(g->id), "%s", id);
        g->rule = rule;
        pthread_rwlock_wrlock(&x->lock);
        if (x->n_groups >= MANAGE_GROUPS_MAX) {
                r = -E2BIG;
                goto fail;
        }
        g->bits = calloc(x->cap_devs / 64 + 1, sizeof(uint64_t));
        groups = realloc(x->groups, (x->n_groups + 1) * sizeof(*groups));
        if (!g->bits || !groups)
                goto fail;
        x->groups = groups;
        x->groups[x->n_groups++] = g;
        r = rule ? group_evaluate(x, g, changed) : 0;
        pthread_rwlock_unlock(&x->lock);
        return r;
fail:
        pthread_rwlock_unlock(&x->lock);
        group_free(g);
        return r;
}

int manage_index_group_rule_take(struct manage_index *x, const char *id, struct manage_expr *rule,
                                 struct manage_changed *changed)
{
        ssize_t i;
        int r = -ENOENT;

        pthread_rwlock_wrlock(&x->lock);
        i = group_find(x, id);
        if (i >= 0 && x->groups[i]->rule) {
                manage_expr_free(x->groups[i]->rule);
                x->groups[i]->rule = rule;
                rule = NULL;
                r = group_evaluate(x, x->groups[i], changed);
        }
        pthread_rwlock_unlock(&x->lock);
        manage_expr_free(rule);
        return r;
}

int manage_index_group_remove(struct manage_index *x, const char *id, struct manage_changed *changed)
{
        struct manage_index_group *g;
        ssize_t i;
        int r = 0;

        pthread_rwlock_wrlock(&x->lock);
        i = group_find(x, id);
        if (i < 0) {
                pthread_rwlock_unlock(&x->lock);
                return -ENOENT;
        }
        g = x->groups[i];
        for (size_t s = 0; changed && r == 0 && s < x->n_devs; s++)
                if (bit_get(g->bits, s))
                        r = manage_changed_add(changed, x->devs[s].id);
        memmove(x->groups + i, x->groups + i + 1, (x->n_groups - (size_t)i - 1) * sizeof(*x->groups));
        x->n_groups--;
        pthread_rwlock_unlock(&x->lock);
        group_free(g);
        return r;
}

int manage_index_member_set(struct manage_index *x, const char *group_id, const char *device_id, bool in,
                            struct manage_changed *changed)
{
        ssize_t i, slot;
        int r = -ENOENT;

        pthread_rwlock_wrlock(&x->lock);
        i = group_find(x, group_id);
        slot = slot_find(x, device_id);
        if (i >= 0 && slot >= 0 && !x->groups[i]->rule) {
                bool now = in && !x->devs[slot].offboarded;
                r = 0;
                if (now != bit_get(x->groups[i]->bits, (size_t)slot)) {
                        bit_put(x->groups[i], (size_t)slot, now);
                        if (changed)
                                r = manage_changed_add(changed, device_id);
                }
        }
        pthread_rwlock_unlock(&x->lock);
        return r;
}

int64_t manage_index_group_count(struct manage_index *x, const char *group_id)
{
        int64_t n = -ENOENT;
        ssize_t i;

        pthread_rwlock_rdlock(&x->lock);
        i = group_find(x, group_id);
        if (i >= 0)
                n = (int64_t)x->groups[i]->n_members;
        pthread_rwlock_unlock(&x->lock);
        return n;
}

int64_t manage_index_members_json(struct manage_index *x, const char *group_id, uint64_t limit,
                                  uint64_t offset, json_t *arr)
{
        const struct manage_index_group *g;
        uint64_t seen = 0;
        int64_t total;
        ssize_t i;

        pthread_rwlock_rdlock(&x->lock);
        i = group_find(x, group_id);
        if (i < 0) {
                pthread_rwlock_unlock(&x->lock);
                return -ENOENT;
        }
        g = x->groups[i];
        total = (int64_t)g->n_members;
        for (size_t s = 0; s < x->n_devs && json_array_size(arr) < limit; s++) {
                if (!bit_get(g->bits, s) || seen++ < offset)
                        continue;
                if (json_array_append_new(arr, json_pack("{s:s,s:s}", "id", x->devs[s].id, "name",
                                                         x->devs[s].facts.name)) < 0) {
                        total = -ENOMEM;
                        break;
                }
        }
        pthread_rwlock_unlock(&x->lock);
        return total;
}

/* ---- the public queries (manage.h) ---- */

bool manage_group_exists(struct vigild *d, const char *group_id)
{
        struct manage_index *x = d->manage ? &d->manage->index : NULL;
        bool found;

        if (!x)
                return false;
        pthread_rwlock_rdlock(&x->lock);
        found = group_find(x, group_id) >= 0;
        pthread_rwlock_unlock(&x->lock);
        return found;
}

/* True if the device is in the group at position i. Index lock held. */
static bool member(const struct manage_index *x, ssize_t i, ssize_t slot)
{
        return i >= 0 && slot >= 0 && bit_get(x->groups[i]->bits, (size_t)slot);
}

bool manage_device_in_group(struct vigild *d, const char *group_id, const char *device_id)
{
        struct manage_index *x = d->manage ? &d->manage->index : NULL;
        bool in;

        if (!x)
                return false;
        pthread_rwlock_rdlock(&x->lock);
        in = member(x, group_find(x, group_id), slot_find(x, device_id));
        pthread_rwlock_unlock(&x->lock);
        return in;
}

int manage_device_groups(struct vigild *d, const char *device_id, char (*ret_ids)[MANAGE_ID_LEN + 1],
                         size_t max, size_t *ret_n)
{
        struct manage_index *x = d->manage ? &d->manage->index : NULL;
        size_t n = 0;
        ssize_t slot;

        if (!x)
                return -ENOENT;
        pthread_rwlock_rdlock(&x->lock);
        slot = slot_find(x, device_id);
        for (size_t i = 0; slot >= 0 && i < x->n_groups; i++) {
                if (!bit_get(x->groups[i]->bits, (size_t)slot))
                        continue;
                if (n < max)
                        memcpy(ret_ids[n], x->groups[i]->id, MANAGE_ID_LEN + 1);
                n++;
        }
        pthread_rwlock_unlock(&x->lock);
        if (slot < 0)
                return -ENOENT;
        *ret_n = n;
        return 0;
}

bool manage_assignment_applies(struct vigild *d, const struct manage_assignment *a, const char *device_id)
{
        struct manage_index *x = d->manage ? &d->manage->index : NULL;
        bool in = false;
        ssize_t slot;

        if (!x)
                return false;
        pthread_rwlock_rdlock(&x->lock);
        slot = slot_find(x, device_id);
        if (slot >= 0 && !x->devs[slot].offboarded) {
                in = a->all_devices;
                for (size_t i = 0; !in && i < a->n_include; i++)
                        in = member(x, group_find(x, a->include[i]), slot);
                for (size_t i = 0; in && i < a->n_exclude; i++)
                        in = !member(x, group_find(x, a->exclude[i]), slot);
        }
        pthread_rwlock_unlock(&x->lock);
        return in;
}

void manage_device_json(struct vigild *d, const char *device_id, json_t *device, bool detail)
{
        struct manage_index *x = &d->manage->index;
        json_t *tags = json_array(), *groups = json_array();
        ssize_t slot;

        pthread_rwlock_rdlock(&x->lock);
        slot = slot_find(x, device_id);
        for (size_t i = 0; slot >= 0 && i < x->devs[slot].n_tags; i++)
                json_array_append_new(tags, json_string(x->devs[slot].tags[i]));
        for (size_t i = 0; slot >= 0 && i < x->n_groups; i++)
                if (bit_get(x->groups[i]->bits, (size_t)slot))
                        json_array_append_new(groups, json_string(x->groups[i]->id));
        pthread_rwlock_unlock(&x->lock);
        json_object_set_new(device, "tags", tags);
        json_object_set_new(device, "groups", groups);
}

int manage_device_facts_each(struct vigild *d, manage_device_facts_fn fn, void *userdata)
{
        struct manage_index *x = d->manage ? &d->manage->index : NULL;
        int r = 0;

        if (!x)
                return 0;
        pthread_rwlock_rdlock(&x->lock);
        for (size_t i = 0; i < x->n_devs && r >= 0; i++)
                r = fn(&x->devs[i].facts, x->devs[i].offboarded, userdata);
        pthread_rwlock_unlock(&x->lock);
        return r < 0 ? r : 0;
}
