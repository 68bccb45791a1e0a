/* Fuzzes the check of a configuration profile document (what `vigil profiles
 * create -f FILE.json` sends). A refusal must be -EINVAL or -E2BIG with a
 * reason that names the field; an accepted document must hold to its limits,
 * and merging it with itself must deliver its settings without conflict,
 * merging it with a profile of the same type setting everything differently
 * must hold every setting the two share. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/manage/profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_merge(const struct profile_doc *p)
{
        struct profile_merge_in in[2] = { { p->type, p->settings }, { p->type, p->settings } };
        json_t *settings, *held, *other = json_object();
        const char *key;
        json_t *v;
        bool conflict[2];

        if (profiles_merge(in, 2, &settings, &held, conflict) != 0)
                abort();
        if (conflict[0] || conflict[1] || json_array_size(held) != 0 ||
            !json_equal(json_object_get(settings, profile_type_name(p->type)), p->settings))
                abort();
        json_decref(settings);
        json_decref(held);
        json_object_foreach(p->settings, key, v)
                json_object_set_new(other, key, json_string("different"));
        in[1].settings = other;
        if (profiles_merge(in, 2, &settings, &held, conflict) != 0)
                abort();
        if (json_object_size(p->settings) && (!conflict[0] || !conflict[1] ||
                                              json_array_size(held) != json_object_size(p->settings)))
                abort();
        json_decref(settings);
        json_decref(held);
        json_decref(other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct profile_doc *p = NULL;
        char err[512] = "";
        int r = profile_doc_parse((const char *)data, size, &p, err, sizeof(err));

        if (r != 0) {
                if ((r != -EINVAL && r != -E2BIG && r != -ENOMEM) || !err[0] || p)
                        abort();
                return 0;
        }
        if (!p->name[0] || strlen(p->name) > PROFILES_NAME_MAX || !*profile_type_name(p->type) ||
            !json_is_object(p->settings) || (p->assignments && !json_is_object(p->assignments)))
                abort();
        check_merge(p);
        profile_doc_free(p);
        return 0;
}
