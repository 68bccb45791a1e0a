/* enroll's private state, shared by its files. */
#pragma once

#include <pthread.h>

#include "crypto/crypto.h"
#include "server/enroll/enroll.h"
#include "server/enroll/registry.h"
#include "server/enroll/token.h"

struct enroll {
        char server_id[ENROLL_ID_LEN + 1];
        uint8_t enroll_key[ENROLL_KEY_LEN];
        char *server_cert_pem, *server_key_pem;
        char *server_ca_pem, *device_ca_pem;
        size_t device_ca_len;
        struct crypto_ca *device_ca;
        pthread_mutex_t ca_lock;        /* GnuTLS does not promise concurrent signing with one key */
        struct registry registry;
        enroll_device_json_fn json_hooks[ENROLL_DEVICE_JSON_HOOKS_MAX];
        size_t n_json_hooks;
        enroll_package_user_check_fn user_check;
};

/* devices.c: the devices table and its JSON. */
int devices_migrate(struct vigild *d);
int devices_load_registry(struct vigild *d);
json_t *devices_to_json_one(struct vigild *d, const char *id);
json_t *devices_to_json_list(struct vigild *d, size_t top, size_t skip, size_t *ret_total);
