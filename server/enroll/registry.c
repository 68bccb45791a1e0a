/* registry: open-addressing hash of devices. See registry.h. */
#include "server/enroll/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

enum {
        REG_USED = 1 << 0,
        REG_OFFBOARDED = 1 << 1,
        REG_DIRTY = 1 << 2,
        REG_HAS_INV = 1 << 3,
};

#define REG_INITIAL_CAP 1024

/* Finds the slot of id, or the empty slot where it would go. Lock held. */
static struct reg_entry *slot_find(struct reg_entry *slots, size_t cap, const char *id)
{
        size_t i = (size_t)util_str_hash(id) & (cap - 1);

        for (;;) {
                struct reg_entry *e = &slots[i];
                if (!(e->flags & REG_USED) || strcmp(e->id, id) == 0)
                        return e;
                i = (i + 1) & (cap - 1);
        }
}

int registry_init(struct registry *r, size_t max)
{
        memset(r, 0, sizeof(*r));
        r->slots = calloc(REG_INITIAL_CAP, sizeof(*r->slots));
        if (!r->slots)
                return -ENOMEM;
        r->cap = REG_INITIAL_CAP;
        r->max = max;
        pthread_mutex_init(&r->lock, NULL);
        return 0;
}

void registry_release(struct registry *r)
{
        if (!r->slots)
                return;
        free(r->slots);
        r->slots = NULL;
        pthread_mutex_destroy(&r->lock);
}

/* Doubles the table once it is half full. Lock held. */
static int grow(struct registry *r)
{
        struct reg_entry *slots;
        size_t cap = r->cap * 2;

        if (r->count + 1 <= r->cap / 2)
                return 0;
        slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < r->cap; i++)
                if (r->slots[i].flags & REG_USED)
                        *slot_find(slots, cap, r->slots[i].id) = r->slots[i];
        free(r->slots);
        r->slots = slots;
        r->cap = cap;
        return 0;
}

int registry_put(struct registry *r, const char *id, const char *serial, int64_t last_seen,
                 bool offboarded, const uint8_t *inv_hash)
{
        struct reg_entry *e;
        int ret = 0;

        if (strlen(id) != REG_ID_LEN || strlen(serial) > REG_SERIAL_MAX)
                return -EINVAL;
        pthread_mutex_lock(&r->lock);
        e = slot_find(r->slots, r->cap, id);
        if (!(e->flags & REG_USED)) {
                if (r->count >= r->max) {
                        ret = -E2BIG;
                        goto out;
                }
                ret = grow(r);
                if (ret < 0)
                        goto out;
                e = slot_find(r->slots, r->cap, id);
                r->count++;
        } else if (!(e->flags & REG_OFFBOARDED)) {
                r->active--;
        }
        memset(e, 0, sizeof(*e));
        memcpy(e->id, id, REG_ID_LEN + 1);
        memcpy(e->serial, serial, strlen(serial) + 1);
        e->flags = REG_USED | (offboarded ? REG_OFFBOARDED : 0);
        e->last_seen = last_seen;
        if (inv_hash) {
                memcpy(e->inv_hash, inv_hash, REG_HASH_LEN);
                e->flags |= REG_HAS_INV;
        }
        if (!offboarded)
                r->active++;
out:
        pthread_mutex_unlock(&r->lock);
        return ret;
}

/* Looks id up. Lock held. Returns NULL if absent. */
static struct reg_entry *lookup(struct registry *r, const char *id)
{
        struct reg_entry *e = slot_find(r->slots, r->cap, id);

        return (e->flags & REG_USED) ? e : NULL;
}

int registry_check(struct registry *r, const char *id, const char *serial)
{
        struct reg_entry *e;
        int ret = -EACCES;

        pthread_mutex_lock(&r->lock);
        e = lookup(r, id);
        if (e && !(e->flags & REG_OFFBOARDED) && strcmp(e->serial, serial) == 0)
                ret = 0;
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int registry_touch(struct registry *r, const char *id, int64_t now, const uint8_t *inv_hash,
                   bool *ret_inventory_current)
{
        struct reg_entry *e;
        int ret = -ENOENT;

        pthread_mutex_lock(&r->lock);
        e = lookup(r, id);
        if (e) {
                e->last_seen = now;
                e->flags |= REG_DIRTY;
                if (inv_hash && ret_inventory_current)
                        *ret_inventory_current = (e->flags & REG_HAS_INV) &&
                                memcmp(e->inv_hash, inv_hash, REG_HASH_LEN) == 0;
                ret = 0;
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int registry_set_inventory(struct registry *r, const char *id, const uint8_t hash[REG_HASH_LEN])
{
        struct reg_entry *e;
        int ret = -ENOENT;

        pthread_mutex_lock(&r->lock);
        e = lookup(r, id);
        if (e) {
                memcpy(e->inv_hash, hash, REG_HASH_LEN);
                e->flags |= REG_HAS_INV;
                ret = 0;
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int registry_offboard(struct registry *r, const char *id)
{
        struct reg_entry *e;
        int ret = -ENOENT;

        pthread_mutex_lock(&r->lock);
        e = lookup(r, id);
        if (e && (e->flags & REG_OFFBOARDED)) {
                ret = -EALREADY;
        } else if (e) {
                e->flags |= REG_OFFBOARDED;
                r->active--;
                ret = 0;
        }
        pthread_mutex_unlock(&r->lock);
        return ret;
}

int64_t registry_last_seen(struct registry *r, const char *id)
{
        struct reg_entry *e;
        int64_t t = 0;

        pthread_mutex_lock(&r->lock);
        e = lookup(r, id);
        if (e)
                t = e->last_seen;
        pthread_mutex_unlock(&r->lock);
        return t;
}

bool registry_exists(struct registry *r, const char *id)
{
        bool found;

        if (strlen(id) != REG_ID_LEN)
                return false;
        pthread_mutex_lock(&r->lock);
        found = lookup(r, id) != NULL;
        pthread_mutex_unlock(&r->lock);
        return found;
}

bool registry_onboarded(struct registry *r, const char *id)
{
        const struct reg_entry *e;
        bool on;

        if (strlen(id) != REG_ID_LEN)
                return false;
        pthread_mutex_lock(&r->lock);
        e = lookup(r, id);
        on = e && !(e->flags & REG_OFFBOARDED);
        pthread_mutex_unlock(&r->lock);
        return on;
}

size_t registry_active(struct registry *r)
{
        size_t n;

        pthread_mutex_lock(&r->lock);
        n = r->active;
        pthread_mutex_unlock(&r->lock);
        return n;
}

size_t registry_take_dirty(struct registry *r, struct reg_dirty *out, size_t max)
{
        size_t n = 0;

        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->cap && n < max; i++) {
                struct reg_entry *e = &r->slots[i];
                if (!(e->flags & REG_DIRTY))
                        continue;
                memcpy(out[n].id, e->id, REG_ID_LEN + 1);
                out[n].last_seen = e->last_seen;
                e->flags &= (uint8_t)~REG_DIRTY;
                n++;
        }
        pthread_mutex_unlock(&r->lock);
        return n;
}

bool registry_has_room(struct registry *r)
{
        bool room;

        pthread_mutex_lock(&r->lock);
        room = r->count < r->max;
        pthread_mutex_unlock(&r->lock);
        return room;
}

void registry_reserve(struct registry *r, size_t max)
{
        pthread_mutex_lock(&r->lock);
        if (max > r->max)
                r->max = max;
        pthread_mutex_unlock(&r->lock);
}
