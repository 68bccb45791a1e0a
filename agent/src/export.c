/* export: `vigil-agent export-cert`, the device's certificate and key for
 * browsers and command-line tools that reach resources behind a proxy
 * asking for the device certificate.
 *
 * --pkcs12 writes a PKCS#12 file: one bag with the device certificate and,
 * when the state directory holds it, the device CA, encrypted with PBES2
 * AES-256; one bag with the key as a PKCS#8 shrouded key (PBES2 AES-256);
 * the device certificate and the key carry the same friendly name and local
 * key id so that importers pair them; an HMAC-SHA-256 covers the whole.
 * --pem writes the certificate and the unencrypted key in one PEM file.
 * Every output is created with O_EXCL and mode 0600 before any is written,
 * so an existing file is never overwritten, and all of them are removed if
 * any cannot be written in full. The key and the password are wiped from
 * memory once used. Exit status: 0, 1 on a failure, 2 on bad usage. */
#include "agent/src/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/pkcs12.h>
#include <gnutls/x509.h>

#include "crypto/crypto.h"
#include "util/strutil.h"

#define PASSWORD_MAX 1024               /* bytes of a PKCS#12 password */
#define KEY_ID_MAX 64
#define FRIENDLY_MAX 400
#define OUTPUTS_MAX 2
#define PKCS_CIPHER GNUTLS_PKCS_PBES2_AES_256

struct export_opts {
        const char *state_dir;
        const char *pkcs12;             /* --pkcs12 FILE, or NULL */
        const char *pem;                /* --pem FILE, or NULL */
        const char *password_file;
        const char *password_env;
        bool no_password;
};

/* What the export takes from the state directory. */
struct export_identity {
        char device_id[AGENT_ID_MAX + 1];
        char *cert;                     /* device.pem */
        size_t cert_len;
        char *key;                      /* device.key, wiped when released */
        size_t key_len;
        char *ca;                       /* device-ca.pem; NULL when absent or not the issuer */
        size_t ca_len;
};

/* One file to write: created (O_EXCL, 0600) before any is written. */
struct output {
        const char *path;
        const unsigned char *data;
        size_t len;
        int fd;                         /* -1 until created */
};

static void usage(FILE *f)
{
        fputs("usage: vigil-agent export-cert [--state-dir DIR] [--pkcs12 FILE] [--pem FILE]\n"
              "                               [--password-file F | --password-env VAR | --no-password]\n"
              "Exports this device's certificate and key for browsers and command-line tools.\n"
              "  --pkcs12 FILE        a PKCS#12 file (certificate, key, device CA), encrypted with\n"
              "                       the password; needs one of the password options\n"
              "  --pem FILE           the certificate and the unencrypted key, PEM, in one file\n"
              "  --password-file F    the PKCS#12 password is the first line of F\n"
              "  --password-env VAR   the PKCS#12 password is the value of the variable VAR\n"
              "  --no-password        an empty PKCS#12 password (for tools that need one)\n"
              "Files are created with mode 0600 and never overwritten.\n", f);
}

/* Parses the options. Returns 0, 1 after --help, or -EINVAL after saying
 * what was wrong. */
static int opts_parse(int argc, char **argv, struct export_opts *o)
{
        static const struct option longopts[] = {
                { "state-dir", required_argument, NULL, 's' },
                { "pkcs12", required_argument, NULL, 'p' },
                { "pem", required_argument, NULL, 'P' },
                { "password-file", required_argument, NULL, 'f' },
                { "password-env", required_argument, NULL, 'e' },
                { "no-password", no_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "s:p:P:f:e:nh", longopts, NULL)) != -1) {
                switch (c) {
                case 's': o->state_dir = optarg; break;
                case 'p': o->pkcs12 = optarg; break;
                case 'P': o->pem = optarg; break;
                case 'f': o->password_file = optarg; break;
                case 'e': o->password_env = optarg; break;
                case 'n': o->no_password = true; break;
                case 'h': usage(stdout); return 1;
                default: usage(stderr); return -EINVAL;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

/* Checks how the options go together. Returns 0 or -EINVAL after saying why. */
static int opts_check(const struct export_opts *o)
{
        int n_pass = !!o->password_file + !!o->password_env + o->no_password;

        if (!o->pkcs12 && !o->pem) {
                fprintf(stderr, "vigil-agent export-cert: name the file to write with --pkcs12 FILE or "
                        "--pem FILE (or both)\n");
                return -EINVAL;
        }
        if (o->pkcs12 && o->pem && strcmp(o->pkcs12, o->pem) == 0) {
                fprintf(stderr, "vigil-agent export-cert: --pkcs12 and --pem name the same file '%s'\n", o->pem);
                return -EINVAL;
        }
        if (n_pass > 1) {
                fprintf(stderr, "vigil-agent export-cert: give only one of --password-file, --password-env "
                        "and --no-password\n");
                return -EINVAL;
        }
        if (o->pkcs12 && n_pass == 0) {
                fprintf(stderr, "vigil-agent export-cert: a PKCS#12 file needs a password: give "
                        "--password-file FILE (its first line), --password-env VAR, or --no-password "
                        "for an empty one\n");
                return -EINVAL;
        }
        if (!o->pkcs12 && n_pass > 0) {
                fprintf(stderr, "vigil-agent export-cert: the password options are for --pkcs12; "
                        "the --pem file holds the key unencrypted\n");
                return -EINVAL;
        }
        return 0;
}

/* Reads the first line of path (without its "\n" or "\r\n") into out,
 * which holds size bytes, NUL-terminated. Returns the line's length,
 * -E2BIG when it does not fit, or a negative errno from open/read; out is
 * wiped on failure. */
static int first_line_read(const char *path, char *out, size_t size)
{
        size_t len = 0;
        char *nl = NULL;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (len < size - 1 && !nl) {
                ssize_t n = read(fd, out + len, size - 1 - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                nl = memchr(out + len, '\n', (size_t)n);
                len += (size_t)n;
        }
        close(fd);
        if (r == 0 && !nl && len == size - 1)
                r = -E2BIG;
        if (r < 0) {
                explicit_bzero(out, size);
                return r;
        }
        len = nl ? (size_t)(nl - out) : len;
        if (len > 0 && out[len - 1] == '\r')
                len--;
        explicit_bzero(out + len, size - len);
        return (int)len;
}

/* Fills pass (size bytes) with the first line of path. Returns 0 or
 * -EINVAL after saying what was wrong. */
static int password_from_file(const char *path, char *pass, size_t size)
{
        int r = first_line_read(path, pass, size);

        if (r < 0) {
                fprintf(stderr, "vigil-agent export-cert: cannot read the password file '%s': %s\n", path,
                        r == -E2BIG ? "its first line is too long" : strerror(-r));
                return -EINVAL;
        }
        if (strlen(pass) != (size_t)r) {
                fprintf(stderr, "vigil-agent export-cert: the first line of the password file '%s' holds a "
                        "NUL byte\n", path);
                explicit_bzero(pass, size);
                return -EINVAL;
        }
        return 0;
}

/* Fills pass (size bytes) with the value of the variable name. Returns 0 or
 * -EINVAL after saying what was wrong. */
static int password_from_env(const char *name, char *pass, size_t size)
{
        const char *v = getenv(name);

        if (!v) {
                fprintf(stderr, "vigil-agent export-cert: the environment variable '%s' is not set\n", name);
                return -EINVAL;
        }
        if (strlen(v) >= size) {
                fprintf(stderr, "vigil-agent export-cert: the password in '%s' is longer than %d bytes\n",
                        name, PASSWORD_MAX);
                return -EINVAL;
        }
        memcpy(pass, v, strlen(v) + 1);
        return 0;
}

/* Fills pass (PASSWORD_MAX + 3 bytes) from the option given: the first line
 * of --password-file, the value of --password-env, or "" for --no-password.
 * Returns 0 or -EINVAL after saying what was wrong. */
static int password_get(const struct export_opts *o, char *pass, size_t size)
{
        const char *src = o->password_file ? o->password_file : o->password_env;

        pass[0] = '\0';
        if (o->no_password)
                return 0;
        if (o->password_file ? password_from_file(src, pass, size) < 0 : password_from_env(src, pass, size) < 0)
                return -EINVAL;
        if (pass[0] == '\0') {
                fprintf(stderr, "vigil-agent export-cert: the password from '%s' is empty (give --no-password "
                        "to write a file with an empty password)\n", src);
                return -EINVAL;
        }
        if (strlen(pass) > PASSWORD_MAX || !util_str_printable(pass, PASSWORD_MAX)) {
                fprintf(stderr, "vigil-agent export-cert: the password from '%s' must be at most %d bytes of "
                        "printable ASCII (PKCS#12 tools disagree on how to encode other characters)\n",
                        src, PASSWORD_MAX);
                explicit_bzero(pass, size);
                return -EINVAL;
        }
        return 0;
}

int agent_cert_issued_by(const char *cert_pem, size_t cert_len, const char *ca_pem, size_t ca_len)
{
        gnutls_x509_crt_t crt = NULL, ca = NULL;
        gnutls_datum_t d;
        unsigned status = 0;
        int r = -EBADMSG;

        if (cert_len == 0 || cert_len > CRYPTO_PEM_MAX || ca_len == 0 || ca_len > CRYPTO_PEM_MAX)
                return -EBADMSG;
        if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_init(&ca) < 0) {
                r = -ENOMEM;
                goto free_crts;
        }
        d = (gnutls_datum_t){ .data = (unsigned char *)cert_pem, .size = (unsigned)cert_len };
        if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0)
                goto free_crts;
        d = (gnutls_datum_t){ .data = (unsigned char *)ca_pem, .size = (unsigned)ca_len };
        if (gnutls_x509_crt_import(ca, &d, GNUTLS_X509_FMT_PEM) < 0)
                goto free_crts;
        /* whether the CA signed it, not whether it is valid today */
        r = gnutls_x509_crt_verify(crt, &ca, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                                   GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS, &status);
        r = r == 0 && status == 0 ? 0 : -EKEYREJECTED;
free_crts:
        if (ca)
                gnutls_x509_crt_deinit(ca);
        if (crt)
                gnutls_x509_crt_deinit(crt);
        return r;
}

static void identity_release(struct export_identity *id)
{
        if (id->key)
                explicit_bzero(id->key, id->key_len);
        free(id->key);
        free(id->cert);
        free(id->ca);
        *id = (struct export_identity){ 0 };
}

/* Reads the state file name of s, of at most max bytes, into *ret. Returns 0
 * or a negative errno after saying what was wrong unless quiet_enoent and
 * the file does not exist. */
static int state_file_read(const struct agent_state *s, const char *name, size_t max, bool quiet_enoent,
                           char **ret, size_t *ret_len)
{
        char path[4200];
        int r = agent_state_path(s, name, path, sizeof(path));

        if (r == 0)
                r = util_file_read(path, max, ret, ret_len);
        if (r < 0 && !(quiet_enoent && r == -ENOENT))
                fprintf(stderr, "vigil-agent export-cert: cannot read '%s': %s%s\n", path,
                        r == -E2BIG ? "too large" : strerror(-r),
                        r == -EACCES ? " (run as root: the device's key is readable by root only)" : "");
        return r;
}

/* Says why agent_state_load() failed with r. */
static void state_load_error(const char *dir, int r, const char *err)
{
        struct stat st;

        if (r == -ENOENT && stat(dir, &st) < 0 && errno == ENOENT)
                fprintf(stderr, "vigil-agent export-cert: this device is not onboarded: the state directory "
                        "'%s' does not exist (run 'vigil-agent onboard', or name the directory with "
                        "--state-dir)\n", dir);
        else if (r == -ENOENT)
                fprintf(stderr, "vigil-agent export-cert: this device is not onboarded: '%s' holds no "
                        "agent.json (run 'vigil-agent onboard' first)\n", dir);
        else if (r == -EACCES)
                fprintf(stderr, "vigil-agent export-cert: cannot read the state directory '%s': %s "
                        "(run as root)\n", dir, strerror(-r));
        else
                fprintf(stderr, "vigil-agent export-cert: %s\n", err);
}

/* Keeps the device CA of the state directory in id when it is there and
 * issued the device certificate; says so when it is not. */
static void identity_ca_load(const struct agent_state *s, struct export_identity *id)
{
        int r = state_file_read(s, "device-ca.pem", CRYPTO_PEM_MAX, true, &id->ca, &id->ca_len);

        if (r == -ENOENT)
                fprintf(stderr, "vigil-agent export-cert: note: '%s' holds no device CA (devices onboarded "
                        "by earlier agents lack device-ca.pem); the PKCS#12 file holds no CA certificate\n", s->dir);
        if (r == 0 && agent_cert_issued_by(id->cert, id->cert_len, id->ca, id->ca_len) < 0) {
                fprintf(stderr, "vigil-agent export-cert: note: the device CA in '%s' did not issue the "
                        "device certificate; it is left out\n", s->dir);
                free(id->ca);
                id->ca = NULL;
                id->ca_len = 0;
        }
}

/* Loads the identity of the device onboarded in dir, with its CA when
 * with_ca. Returns 0, or -1 after saying what was wrong. */
static int identity_load(const char *dir, bool with_ca, struct export_identity *id)
{
        struct agent_state s = { 0 };
        char err[512];
        int r;

        if (strlen(dir) >= sizeof(s.dir) - 64) {
                fprintf(stderr, "vigil-agent export-cert: state directory path too long\n");
                return -1;
        }
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        r = agent_state_load(&s, err, sizeof(err));
        if (r < 0) {
                state_load_error(dir, r, err);
                return -1;
        }
        if (agent_state_offboarded(&s)) {
                fprintf(stderr, "vigil-agent export-cert: the server offboarded this device (%s): its "
                        "certificate is revoked and nothing was exported\n", s.device_id);
                return -1;
        }
        memcpy(id->device_id, s.device_id, sizeof(id->device_id));
        if (state_file_read(&s, "device.pem", CRYPTO_PEM_MAX, false, &id->cert, &id->cert_len) < 0 ||
            state_file_read(&s, "device.key", CRYPTO_PEM_MAX, false, &id->key, &id->key_len) < 0)
                return -1;
        if (!crypto_cert_key_match(id->cert, id->cert_len, id->key, id->key_len)) {
                fprintf(stderr, "vigil-agent export-cert: '%s/device.key' is not the key of "
                        "'%s/device.pem' (onboard again with --force)\n", dir, dir);
                return -1;
        }
        if (with_ca)
                identity_ca_load(&s, id);
        return 0;
}

/* The friendly name importers show: the host name and the device id. */
static void friendly_name(const struct export_identity *id, char out[static FRIENDLY_MAX])
{
        struct utsname u;

        if (uname(&u) == 0 && util_str_printable(u.nodename, 255))
                snprintf(out, FRIENDLY_MAX, "%s (Vigil device %s)", u.nodename, id->device_id);
        else
                snprintf(out, FRIENDLY_MAX, "Vigil device %s", id->device_id);
}

/* Adds the bag of certificates to p12: the device's, named and with its key
 * id, then the CA's if any; encrypted with pass. Returns 0 or a GnuTLS
 * error code. */
static int p12_cert_bag_add(gnutls_pkcs12_t p12, gnutls_x509_crt_t crt, gnutls_x509_crt_t ca,
                            const char *name, const gnutls_datum_t *key_id, const char *pass)
{
        gnutls_pkcs12_bag_t bag;
        int r, idx;

        r = gnutls_pkcs12_bag_init(&bag);
        if (r < 0)
                return r;
        r = idx = gnutls_pkcs12_bag_set_crt(bag, crt);
        if (r >= 0)
                r = gnutls_pkcs12_bag_set_friendly_name(bag, (unsigned)idx, name);
        if (r >= 0)
                r = gnutls_pkcs12_bag_set_key_id(bag, (unsigned)idx, key_id);
        if (r >= 0 && ca)
                r = gnutls_pkcs12_bag_set_crt(bag, ca);
        if (r >= 0)
                r = gnutls_pkcs12_bag_encrypt(bag, pass, PKCS_CIPHER);
        if (r >= 0)
                r = gnutls_pkcs12_set_bag(p12, bag);
        gnutls_pkcs12_bag_deinit(bag);
        return r < 0 ? r : 0;
}

/* Adds the bag of the key to p12: a PKCS#8 shrouded key encrypted with
 * pass, named and with its key id. Returns 0 or a GnuTLS error code. */
static int p12_key_bag_add(gnutls_pkcs12_t p12, gnutls_x509_privkey_t key, const char *name,
                           const gnutls_datum_t *key_id, const char *pass)
{
        gnutls_datum_t enc = { 0 };
        gnutls_pkcs12_bag_t bag;
        int r, idx;

        r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER, pass, PKCS_CIPHER, &enc);
        if (r < 0)
                return r;
        r = gnutls_pkcs12_bag_init(&bag);
        if (r < 0)
                goto wipe_enc;
        r = idx = gnutls_pkcs12_bag_set_data(bag, GNUTLS_BAG_PKCS8_ENCRYPTED_KEY, &enc);
        if (r >= 0)
                r = gnutls_pkcs12_bag_set_friendly_name(bag, (unsigned)idx, name);
        if (r >= 0)
                r = gnutls_pkcs12_bag_set_key_id(bag, (unsigned)idx, key_id);
        if (r >= 0)
                r = gnutls_pkcs12_set_bag(p12, bag);
        gnutls_pkcs12_bag_deinit(bag);
wipe_enc:
        gnutls_memset(enc.data, 0, enc.size);
        gnutls_free(enc.data);
        return r < 0 ? r : 0;
}

/* Imports a PEM certificate, or leaves *ret NULL when pem is NULL.
 * Returns 0 or a GnuTLS error code. */
static int crt_import(const char *pem, size_t len, gnutls_x509_crt_t *ret)
{
        gnutls_datum_t d = { .data = (unsigned char *)pem, .size = (unsigned)len };
        int r;

        *ret = NULL;
        if (!pem)
                return 0;
        r = gnutls_x509_crt_init(ret);
        if (r == 0)
                r = gnutls_x509_crt_import(*ret, &d, GNUTLS_X509_FMT_PEM);
        if (r < 0 && *ret) {
                gnutls_x509_crt_deinit(*ret);
                *ret = NULL;
        }
        return r;
}

/* Fills p12 with the bags of id and its MAC (HMAC-SHA-256). Returns 0 or a
 * GnuTLS error code. */
static int p12_fill(gnutls_pkcs12_t p12, const struct export_identity *id, gnutls_x509_privkey_t key,
                    const char *pass)
{
        gnutls_x509_crt_t crt = NULL, ca = NULL;
        unsigned char kid[KEY_ID_MAX];
        size_t kid_len = sizeof(kid);
        gnutls_datum_t key_id;
        char name[FRIENDLY_MAX];
        int r;

        friendly_name(id, name);
        r = crt_import(id->cert, id->cert_len, &crt);
        if (r >= 0)
                r = crt_import(id->ca, id->ca_len, &ca);
        /* SHA-1 of the public key: what certtool and browsers use to pair them */
        if (r >= 0)
                r = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kid_len);
        key_id = (gnutls_datum_t){ .data = kid, .size = (unsigned)kid_len };
        if (r >= 0)
                r = p12_cert_bag_add(p12, crt, ca, name, &key_id, pass);
        if (r >= 0)
                r = p12_key_bag_add(p12, key, name, &key_id, pass);
        if (r >= 0)
                r = gnutls_pkcs12_generate_mac2(p12, GNUTLS_MAC_SHA256, pass);
        if (ca)
                gnutls_x509_crt_deinit(ca);
        if (crt)
                gnutls_x509_crt_deinit(crt);
        return r < 0 ? r : 0;
}

/* Builds the PKCS#12 file of id (DER) with the password pass ("" for an
 * empty one). Returns 0 with *ret (wipe it, then gnutls_free() it), or -1
 * after saying what failed. */
static int p12_build(const struct export_identity *id, const char *pass, gnutls_datum_t *ret)
{
        gnutls_datum_t kd = { .data = (unsigned char *)id->key, .size = (unsigned)id->key_len };
        gnutls_x509_privkey_t key;
        gnutls_pkcs12_t p12;
        int r;

        r = gnutls_x509_privkey_init(&key);
        if (r < 0)
                goto say;
        r = gnutls_x509_privkey_import(key, &kd, GNUTLS_X509_FMT_PEM);
        if (r < 0)
                goto free_key;
        r = gnutls_pkcs12_init(&p12);
        if (r < 0)
                goto free_key;
        r = p12_fill(p12, id, key, pass);
        if (r >= 0)
                r = gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, ret);
        gnutls_pkcs12_deinit(p12);
free_key:
        gnutls_x509_privkey_deinit(key);
say:
        if (r < 0)
                fprintf(stderr, "vigil-agent export-cert: cannot make the PKCS#12 file: %s\n", gnutls_strerror(r));
        return r < 0 ? -1 : 0;
}

/* The certificate then the key, PEM, in one heap buffer (wipe it, then
 * free() it). Returns 0 or -ENOMEM. */
static int pem_build(const struct export_identity *id, char **ret, size_t *ret_len)
{
        bool nl = id->cert_len > 0 && id->cert[id->cert_len - 1] != '\n';
        size_t len = id->cert_len + nl + id->key_len;
        char *p = malloc(len + 1);

        if (!p)
                return -ENOMEM;
        memcpy(p, id->cert, id->cert_len);
        if (nl)
                p[id->cert_len] = '\n';
        memcpy(p + id->cert_len + nl, id->key, id->key_len);
        p[len] = '\0';
        *ret = p;
        *ret_len = len;
        return 0;
}

/* Removes the outputs created so far. */
static void outputs_remove(struct output *out, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (out[i].fd < 0)
                        continue;
                close(out[i].fd);
                unlink(out[i].path);
                out[i].fd = -1;
        }
}

/* Creates every output (O_EXCL, mode 0600). Returns 0, or -1 after saying
 * why and removing those it created. */
static int outputs_create(struct output *out, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                out[i].fd = open(out[i].path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
                if (out[i].fd >= 0)
                        continue;
                if (errno == EEXIST)
                        fprintf(stderr, "vigil-agent export-cert: '%s' already exists; export-cert never "
                                "overwrites a file (remove it or name another)\n", out[i].path);
                else
                        fprintf(stderr, "vigil-agent export-cert: cannot create '%s': %s\n", out[i].path,
                                strerror(errno));
                outputs_remove(out, i);
                return -1;
        }
        return 0;
}

/* Creates and writes every output in full. Returns 0, or -1 after saying
 * why; then no output is left behind. */
static int outputs_write(struct output *out, size_t n)
{
        size_t i;
        int r = 0;

        if (outputs_create(out, n) < 0)
                return -1;
        for (i = 0; i < n && r == 0; i++) {
                r = util_fd_write(out[i].fd, out[i].data, out[i].len);
                if (r == 0 && fsync(out[i].fd) < 0)
                        r = -errno;
                if (close(out[i].fd) < 0 && r == 0)
                        r = -errno;
                out[i].fd = -1;
        }
        if (r == 0)
                return 0;
        fprintf(stderr, "vigil-agent export-cert: cannot write '%s': %s; nothing was exported\n",
                out[i - 1].path, strerror(-r));
        for (i = 0; i < n; i++) {
                if (out[i].fd >= 0)
                        close(out[i].fd);
                unlink(out[i].path);
        }
        return -1;
}

/* Says what was written. */
static void report(const struct export_opts *o, const struct export_identity *id)
{
        struct crypto_cert_info ci;
        char until[21] = "?";

        if (crypto_cert_info_pem(id->cert, id->cert_len, &ci) == 0)
                util_time_format(ci.not_after, until);
        else
                snprintf(ci.serial_hex, sizeof(ci.serial_hex), "?");
        if (o->pkcs12)
                printf("wrote '%s': PKCS#12 with the certificate and key of device %s%s%s\n", o->pkcs12,
                       id->device_id, id->ca ? " and the device CA" : "",
                       o->no_password ? ", empty password" : "");
        if (o->pem)
                printf("wrote '%s': PEM with the certificate and unencrypted key of device %s\n", o->pem,
                       id->device_id);
        printf("certificate serial %s, valid until %s\n", ci.serial_hex, until);
}

/* Builds the outputs of id and writes them. Returns the exit code. */
static int export_write(const struct export_opts *o, const struct export_identity *id, const char *pass)
{
        struct output out[OUTPUTS_MAX];
        gnutls_datum_t p12 = { 0 };
        char *pem = NULL;
        size_t n = 0, pem_len = 0;
        int rc = 1;

        if (o->pkcs12) {
                if (p12_build(id, pass, &p12) < 0)
                        goto wipe;
                out[n++] = (struct output){ .path = o->pkcs12, .data = p12.data, .len = p12.size, .fd = -1 };
        }
        if (o->pem) {
                if (pem_build(id, &pem, &pem_len) < 0) {
                        fprintf(stderr, "vigil-agent export-cert: out of memory\n");
                        goto wipe;
                }
                out[n++] = (struct output){ .path = o->pem, .data = (unsigned char *)pem, .len = pem_len,
                                            .fd = -1 };
        }
        if (outputs_write(out, n) == 0) {
                report(o, id);
                rc = 0;
        }
wipe:
        if (pem)
                explicit_bzero(pem, pem_len);
        free(pem);
        if (p12.data)
                gnutls_memset(p12.data, 0, p12.size);
        gnutls_free(p12.data);
        return rc;
}

int agent_export_cert(int argc, char **argv)
{
        struct export_opts o = { .state_dir = AGENT_STATE_DIR_DEFAULT };
        struct export_identity id = { 0 };
        char pass[PASSWORD_MAX + 3];
        int r;

        r = opts_parse(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : 2;
        if (opts_check(&o) < 0)
                return 2;
        if (o.pkcs12 && password_get(&o, pass, sizeof(pass)) < 0)
                return 1;
        r = 1;
        if (identity_load(o.state_dir, o.pkcs12 != NULL, &id) == 0)
                r = export_write(&o, &id, o.pkcs12 ? pass : NULL);
        identity_release(&id);
        explicit_bzero(pass, sizeof(pass));
        return r;
}
