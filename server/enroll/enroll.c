/* enroll: key material of the data directory, start and stop, and the
 * device-certificate check of the agent hot path. */
#include "server/enroll/enroll-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/db/db.h"
#include "server/log.h"
#include "server/vigild.h"
#include "util/strutil.h"

#define CA_DAYS 3650
#define SERVER_CERT_DAYS 825
#define NAMES_MAX 32
#define FLUSH_BATCH 4096

static int write_file(const char *dir, const char *name, const void *data, size_t len,
                      unsigned mode, char *err, size_t err_size)
{
        char path[4200];
        int r = util_path_join(path, sizeof(path), dir, name);

        if (r == 0)
                r = util_file_write(path, data, len, mode);
        if (r < 0)
                snprintf(err, err_size, "cannot write '%s': %s", path, strerror(-r));
        return r;
}

/* Makes a CA and writes NAME.pem (0644) and private/NAME.key (0600). */
static int make_ca(const char *dir, const char *name, const char *cn, char *err, size_t err_size,
                   char **ret_cert, size_t *ret_cert_len, char **ret_key, size_t *ret_key_len)
{
        char file[64];
        int r;

        r = crypto_ca_create(cn, CA_DAYS, ret_cert, ret_cert_len, ret_key, ret_key_len);
        if (r < 0) {
                snprintf(err, err_size, "cannot create the %s: %s", cn, strerror(-r));
                return r;
        }
        snprintf(file, sizeof(file), "%s.pem", name);
        r = write_file(dir, file, *ret_cert, *ret_cert_len, 0644, err, err_size);
        if (r < 0)
                return r;
        snprintf(file, sizeof(file), "private/%s.key", name);
        return write_file(dir, file, *ret_key, *ret_key_len, 0600, err, err_size);
}

static int make_server_cert(const char *dir, const char *ca_cert, size_t ca_cert_len,
                            const char *ca_key, size_t ca_key_len, const char *const *names,
                            size_t n_names, char *err, size_t err_size)
{
        const char *all[NAMES_MAX + 3];
        struct crypto_ca *ca = NULL;
        char *key = NULL, *cert = NULL;
        size_t key_len, cert_len, n = 0;
        int r;

        for (size_t i = 0; i < n_names && n < NAMES_MAX; i++)
                all[n++] = names[i];
        all[n++] = "localhost";
        all[n++] = "127.0.0.1";
        all[n++] = "::1";
        r = crypto_ca_load(ca_cert, ca_cert_len, ca_key, ca_key_len, &ca);
        if (r == 0)
                r = crypto_key_generate(&key, &key_len);
        if (r == 0)
                r = crypto_ca_issue_server(ca, key, key_len, all, n, SERVER_CERT_DAYS, &cert, &cert_len);
        if (r < 0) {
                snprintf(err, err_size, "cannot create the server certificate: %s", strerror(-r));
                goto out;
        }
        r = write_file(dir, "private/server.key", key, key_len, 0600, err, err_size);
        if (r == 0)
                r = write_file(dir, "server.pem", cert, cert_len, 0644, err, err_size);
out:
        crypto_ca_free(ca);
        free(key);
        free(cert);
        return r;
}

int enroll_data_init(const char *dir, const char *const *names, size_t n_names,
                     char *err, size_t err_size)
{
        char *cert = NULL, *key = NULL, *dcert = NULL, *dkey = NULL;
        size_t cert_len, key_len, dcert_len, dkey_len;
        uint8_t ekey[ENROLL_KEY_LEN];
        char path[4200], id[37];
        int r;

        if (n_names > NAMES_MAX) {
                snprintf(err, err_size, "at most %d --hostname names", NAMES_MAX);
                return -E2BIG;
        }
        r = util_path_join(path, sizeof(path), dir, "private");
        if (r == 0 && mkdir(path, 0700) < 0)
                r = -errno;
        if (r < 0) {
                snprintf(err, err_size, "cannot create '%s': %s", path, strerror(-r));
                return r;
        }
        r = make_ca(dir, "server-ca", "Vigil Server CA", err, err_size, &cert, &cert_len, &key, &key_len);
        if (r == 0)
                r = make_server_cert(dir, cert, cert_len, key, key_len, names, n_names, err, err_size);
        if (r == 0)
                r = make_ca(dir, "device-ca", "Vigil Device CA", err, err_size,
                            &dcert, &dcert_len, &dkey, &dkey_len);
        if (r < 0)
                goto out;
        if (crypto_random(ekey, sizeof(ekey)) < 0 || crypto_uuid4(id) < 0) {
                snprintf(err, err_size, "no random numbers");
                r = -EIO;
                goto out;
        }
        r = write_file(dir, "private/enroll.key", ekey, sizeof(ekey), 0600, err, err_size);
        if (r == 0)
                r = write_file(dir, "server-id", id, strlen(id), 0644, err, err_size);
out:
        explicit_bzero(ekey, sizeof(ekey));
        free(cert);
        free(key);
        free(dcert);
        free(dkey);
        return r;
}

static int read_file(const char *dir, const char *name, size_t max, char **ret, size_t *ret_len,
                     char *err, size_t err_size)
{
        char path[4200];
        int r = util_path_join(path, sizeof(path), dir, name);

        if (r == 0)
                r = util_file_read(path, max, ret, ret_len);
        if (r < 0)
                snprintf(err, err_size, "cannot read '%s': %s", path, strerror(-r));
        return r;
}

static int load_material(struct enroll *e, const char *dir, char *err, size_t err_size)
{
        char *dkey = NULL, *ekey = NULL, *id = NULL;
        size_t len, dkey_len, cert_len;
        int r;

        r = read_file(dir, "server.pem", CRYPTO_PEM_MAX, &e->server_cert_pem, &cert_len, err, err_size);
        if (r == 0)
                r = read_file(dir, "private/server.key", CRYPTO_PEM_MAX, &e->server_key_pem, &len, err, err_size);
        if (r == 0)
                r = read_file(dir, "server-ca.pem", CRYPTO_PEM_MAX, &e->server_ca_pem, &len, err, err_size);
        if (r == 0)
                r = read_file(dir, "device-ca.pem", CRYPTO_PEM_MAX, &e->device_ca_pem, &e->device_ca_len, err, err_size);
        if (r == 0)
                r = read_file(dir, "private/device-ca.key", CRYPTO_PEM_MAX, &dkey, &dkey_len, err, err_size);
        if (r == 0)
                r = read_file(dir, "private/enroll.key", ENROLL_KEY_LEN, &ekey, &len, err, err_size);
        if (r == 0 && len != ENROLL_KEY_LEN) {
                snprintf(err, err_size, "'%s/private/enroll.key' is damaged (%zu bytes)", dir, len);
                r = -EINVAL;
        }
        if (r == 0)
                r = read_file(dir, "server-id", ENROLL_ID_LEN, &id, &len, err, err_size);
        if (r == 0 && (len != ENROLL_ID_LEN || !util_str_printable(id, ENROLL_ID_LEN))) {
                snprintf(err, err_size, "'%s/server-id' is damaged", dir);
                r = -EINVAL;
        }
        if (r < 0)
                goto out;
        memcpy(e->enroll_key, ekey, ENROLL_KEY_LEN);
        memcpy(e->server_id, id, ENROLL_ID_LEN + 1);
        r = crypto_ca_load(e->device_ca_pem, e->device_ca_len, dkey, dkey_len, &e->device_ca);
        if (r < 0)
                snprintf(err, err_size, "the device CA in '%s' does not load (key and certificate must match)", dir);
out:
        if (dkey)
                explicit_bzero(dkey, dkey_len);
        if (ekey)
                explicit_bzero(ekey, ENROLL_KEY_LEN);
        free(dkey);
        free(ekey);
        free(id);
        return r;
}

int enroll_open(struct vigild *d, char *err, size_t err_size)
{
        struct enroll *e;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        d->enroll = e;
        pthread_mutex_init(&e->ca_lock, NULL);
        /* offboarded devices stay in the registry: leave room for them */
        r = registry_init(&e->registry, (size_t)d->cfg.max_devices * 4);
        if (r == 0)
                r = load_material(e, d->data_dir, err, err_size);
        if (r < 0)
                return r;
        r = devices_migrate(d);
        if (r < 0) {
                snprintf(err, err_size, "cannot migrate enroll's tables: %s", db_errmsg(d->db));
                return r;
        }
        r = devices_load_registry(d);
        if (r < 0)
                snprintf(err, err_size, "cannot load devices: %s", strerror(-r));
        return r;
}

void enroll_close(struct vigild *d)
{
        struct enroll *e = d->enroll;

        if (!e)
                return;
        if (e->registry.slots && d->db)
                enroll_flush(d);
        registry_release(&e->registry);
        crypto_ca_free(e->device_ca);
        pthread_mutex_destroy(&e->ca_lock);
        if (e->server_key_pem)
                explicit_bzero(e->server_key_pem, strlen(e->server_key_pem));
        free(e->server_cert_pem);
        free(e->server_key_pem);
        free(e->server_ca_pem);
        free(e->device_ca_pem);
        explicit_bzero(e->enroll_key, sizeof(e->enroll_key));
        free(e);
        d->enroll = NULL;
}

const char *enroll_server_cert_pem(const struct vigild *d)
{
        return d->enroll->server_cert_pem;
}

const char *enroll_server_key_pem(const struct vigild *d)
{
        return d->enroll->server_key_pem;
}

const char *enroll_device_ca_pem(const struct vigild *d)
{
        return d->enroll->device_ca_pem;
}

int enroll_device_auth(struct vigild *d, struct http_principal *who)
{
        return registry_check(&d->enroll->registry, who->device_id, who->cert.serial_hex);
}

bool enroll_device_exists(struct vigild *d, const char *device_id)
{
        return registry_exists(&d->enroll->registry, device_id);
}

bool enroll_device_onboarded(struct vigild *d, const char *device_id)
{
        return registry_onboarded(&d->enroll->registry, device_id);
}

size_t enroll_device_count(struct vigild *d)
{
        return registry_active(&d->enroll->registry);
}

int enroll_flush(struct vigild *d)
{
        static struct reg_dirty batch[FLUSH_BATCH];
        static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
        struct db_stmt *st = NULL;
        size_t n;
        int r = 0;

        /* one flusher at a time: the batch buffer is shared */
        pthread_mutex_lock(&flush_lock);
        while ((n = registry_take_dirty(&d->enroll->registry, batch, FLUSH_BATCH)) > 0 && r == 0) {
                db_lock(d->db);
                r = db_begin(d->db);
                if (r == 0)
                        r = db_prepare(d->db, "UPDATE devices SET last_seen = $1 WHERE id = $2", &st);
                for (size_t i = 0; r == 0 && i < n; i++) {
                        db_bind_int64(st, 1, batch[i].last_seen);
                        db_bind_text(st, 2, batch[i].id, strlen(batch[i].id));
                        r = db_step(st);
                        db_stmt_reset(st);
                }
                if (st)
                        db_stmt_done(st);
                st = NULL;
                if (r == 0)
                        r = db_commit(d->db);
                else
                        db_rollback(d->db);
                if (r < 0)
                        log_error("cannot record %zu heartbeats: %s", n, db_errmsg(d->db));
                db_unlock(d->db);
                if (n < FLUSH_BATCH)
                        break;
        }
        pthread_mutex_unlock(&flush_lock);
        return r;
}
