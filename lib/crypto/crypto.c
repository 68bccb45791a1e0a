/* crypto: the X.509 and hashing work of Vigil, over GnuTLS.
 *
 * Keys are ECDSA P-256; certificates are X.509 v3 signed with SHA-256, with
 * random 16-byte serials, subject and authority key identifiers, and the
 * usages each kind of certificate needs and no more. Anything read from
 * outside (CSRs, certificates) is bounded by CRYPTO_PEM_MAX before GnuTLS
 * sees it. Every GnuTLS allocation handed back is copied into plain malloc()
 * memory first, so callers only ever free(). GnuTLS (>= 3.3) initialises
 * itself when loaded, so callers need no gnutls_global_init(). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "crypto/crypto.h"
#include "util/strutil.h"

#define SERIAL_LEN 16
#define BACKDATE_SECONDS 60            /* tolerate clocks a little behind ours */
#define DAY_SECONDS 86400
#define DAYS_MAX (100 * 366)
#define KEY_ID_MAX 64
#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 8192              /* bigger keys only cost us verification time */
#define DNS_NAME_MAX 253
#define SAN_COUNT_MAX 64

struct crypto_ca {
        gnutls_x509_crt_t crt;
        gnutls_x509_privkey_t key;
};

/* GnuTLS reports running out of memory in its own way; everything else
 * becomes the caller's choice of errno. */
static int map_err(int gr, int fallback)
{
        return gr == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : fallback;
}

static bool datum_from(gnutls_datum_t *d, const void *data, size_t len)
{
        if (!data || len == 0 || len > CRYPTO_PEM_MAX)
                return false;
        d->data = (unsigned char *)data;
        d->size = (unsigned)len;
        return true;
}

/* Moves GnuTLS-allocated bytes into a NUL-terminated malloc() string. The
 * GnuTLS copy is freed in every case, and wiped first if it held a secret. */
static int datum_take(gnutls_datum_t *d, bool secret, char **ret, size_t *ret_len)
{
        size_t n = d->size;
        char *s;

        s = malloc(n + 1);
        if (s) {
                memcpy(s, d->data, n);
                s[n] = '\0';
        }
        if (secret)
                gnutls_memset(d->data, 0, n);
        gnutls_free(d->data);
        d->data = NULL;
        d->size = 0;
        if (!s)
                return -ENOMEM;
        *ret = s;
        *ret_len = n;
        return 0;
}

int crypto_random(void *buf, size_t n)
{
        if (n == 0)
                return 0;
        return gnutls_rnd(GNUTLS_RND_KEY, buf, n) < 0 ? -EIO : 0;
}

int crypto_uuid4(char out[static 37])
{
        static const size_t groups[] = { 4, 2, 2, 2, 6 };
        uint8_t b[16];
        char hex[33];
        size_t src = 0, dst = 0;

        if (gnutls_rnd(GNUTLS_RND_RANDOM, b, sizeof(b)) < 0)
                return -EIO;
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);        /* version 4 */
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);        /* RFC 4122 variant */
        util_hex_encode(b, sizeof(b), hex);
        for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
                if (i > 0)
                        out[dst++] = '-';
                memcpy(out + dst, hex + src, 2 * groups[i]);
                src += 2 * groups[i];
                dst += 2 * groups[i];
        }
        out[dst] = '\0';
        return 0;
}

int crypto_sha256(const void *data, size_t n, uint8_t out[static CRYPTO_SHA256_LEN])
{
        if (n == 0)
                data = "";
        return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, out) < 0 ? -EIO : 0;
}

int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                       uint8_t out[static CRYPTO_SHA256_LEN])
{
        if (key_len == 0)
                key = "";
        if (n == 0)
                data = "";
        return gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, data, n, out) < 0 ? -EIO : 0;
}

/* ---- keys ---- */

static int key_new(gnutls_x509_privkey_t *ret)
{
        gnutls_x509_privkey_t key;
        int r;

        r = gnutls_x509_privkey_init(&key);
        if (r < 0)
                return -ENOMEM;
        r = gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                          0, NULL, 0);
        if (r < 0) {
                gnutls_x509_privkey_deinit(key);
                return map_err(r, -EIO);
        }
        *ret = key;
        return 0;
}

/* Parses an unencrypted private key (PKCS#8 or the traditional forms) and
 * checks that its public half matches its private half, so that comparing
 * key identifiers later means something. Returns 0, -EINVAL, -ENOMEM. */
static int key_import(const char *pem, size_t len, gnutls_x509_privkey_t *ret)
{
        gnutls_x509_privkey_t key;
        gnutls_datum_t d;
        int r;

        if (!datum_from(&d, pem, len))
                return -EINVAL;
        r = gnutls_x509_privkey_init(&key);
        if (r < 0)
                return -ENOMEM;
        r = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (r >= 0)
                r = gnutls_x509_privkey_verify_params(key);
        if (r < 0) {
                gnutls_x509_privkey_deinit(key);
                return map_err(r, -EINVAL);
        }
        *ret = key;
        return 0;
}

static int key_export(gnutls_x509_privkey_t key, char **ret_pem, size_t *ret_len)
{
        gnutls_datum_t d = { NULL, 0 };
        int r;

        r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                              GNUTLS_PKCS_PLAIN, &d);
        if (r < 0)
                return map_err(r, -EIO);
        return datum_take(&d, true, ret_pem, ret_len);
}

int crypto_key_generate(char **ret_pem, size_t *ret_len)
{
        gnutls_x509_privkey_t key;
        int r;

        r = key_new(&key);
        if (r < 0)
                return r;
        r = key_export(key, ret_pem, ret_len);
        gnutls_x509_privkey_deinit(key);
        return r;
}

/* ---- certificates: reading ---- */

static int crt_import(const void *data, size_t len, gnutls_x509_crt_fmt_t fmt,
                      gnutls_x509_crt_t *ret)
{
        gnutls_x509_crt_t crt;
        gnutls_datum_t d;
        int r;

        if (!datum_from(&d, data, len))
                return -EBADMSG;
        r = gnutls_x509_crt_init(&crt);
        if (r < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(crt, &d, fmt);
        if (r < 0) {
                gnutls_x509_crt_deinit(crt);
                return map_err(r, -EBADMSG);
        }
        *ret = crt;
        return 0;
}

static bool crt_is_ca(gnutls_x509_crt_t crt)
{
        unsigned critical = 0;

        return gnutls_x509_crt_get_ca_status(crt, &critical) > 0;
}

/* Identities are compared by CN, so a CN that would have to be truncated or
 * that hides a NUL is refused rather than shortened. */
static int crt_get_cn(gnutls_x509_crt_t crt, char out[static CRYPTO_CN_MAX + 1])
{
        char cn[CRYPTO_CN_MAX + 1];
        size_t n = sizeof(cn);
        int r;

        r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &n);
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
                out[0] = '\0';
                return 0;
        }
        if (r < 0 || n > CRYPTO_CN_MAX || memchr(cn, '\0', n))
                return map_err(r, -EBADMSG);
        memcpy(out, cn, n);
        out[n] = '\0';
        return 0;
}

static int crt_get_serial(gnutls_x509_crt_t crt, char out[static CRYPTO_SERIAL_MAX_HEX + 1])
{
        unsigned char serial[CRYPTO_SERIAL_MAX_HEX];
        unsigned char *p = serial;
        size_t n = sizeof(serial);

        if (gnutls_x509_crt_get_serial(crt, serial, &n) < 0)
                return -EBADMSG;
        /* the DER integer carries a zero octet before a set top bit */
        while (n > 1 && p[0] == 0) {
                p++;
                n--;
        }
        if (n == 0 || n > CRYPTO_SERIAL_MAX_HEX / 2)
                return -EBADMSG;
        util_hex_encode(p, n, out);
        return 0;
}

static int crt_info(gnutls_x509_crt_t crt, struct crypto_cert_info *ret)
{
        struct crypto_cert_info info;
        unsigned char fpr[CRYPTO_SHA256_LEN];
        size_t n = sizeof(fpr);
        time_t t;
        int r;

        memset(&info, 0, sizeof(info));
        r = crt_get_cn(crt, info.cn);
        if (r < 0)
                return r;
        r = crt_get_serial(crt, info.serial_hex);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fpr, &n);
        if (r < 0 || n != sizeof(fpr))
                return map_err(r, -EBADMSG);
        util_hex_encode(fpr, sizeof(fpr), info.fpr_hex);
        /* (time_t)-1 is both GnuTLS's error and its "no expiry"; neither is
         * something Vigil should act on. */
        t = gnutls_x509_crt_get_activation_time(crt);
        if (t == (time_t)-1)
                return -EBADMSG;
        info.not_before = t;
        t = gnutls_x509_crt_get_expiration_time(crt);
        if (t == (time_t)-1)
                return -EBADMSG;
        info.not_after = t;
        *ret = info;
        return 0;
}

int crypto_cert_info_pem(const char *pem, size_t len, struct crypto_cert_info *ret)
{
        gnutls_x509_crt_t crt;
        int r;

        r = crt_import(pem, len, GNUTLS_X509_FMT_PEM, &crt);
        if (r < 0)
                return r;
        r = crt_info(crt, ret);
        gnutls_x509_crt_deinit(crt);
        return r;
}

int crypto_cert_info_der(const void *der, size_t len, struct crypto_cert_info *ret)
{
        gnutls_x509_crt_t crt;
        int r;

        r = crt_import(der, len, GNUTLS_X509_FMT_DER, &crt);
        if (r < 0)
                return r;
        r = crt_info(crt, ret);
        gnutls_x509_crt_deinit(crt);
        return r;
}

/* Key identifiers are hashes of the public key: equal identifiers, equal
 * public keys. They are not secret, but compare them in constant time anyway. */
static bool crt_key_match(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
        unsigned char a[KEY_ID_MAX], b[KEY_ID_MAX];
        size_t na = sizeof(a), nb = sizeof(b);

        if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &na) < 0)
                return false;
        if (gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &nb) < 0)
                return false;
        return na == nb && util_ct_equal(a, b, na);
}

bool crypto_cert_key_match(const char *cert_pem, size_t cert_len,
                           const char *key_pem, size_t key_len)
{
        gnutls_x509_crt_t crt;
        gnutls_x509_privkey_t key;
        bool match;

        if (crt_import(cert_pem, cert_len, GNUTLS_X509_FMT_PEM, &crt) < 0)
                return false;
        if (key_import(key_pem, key_len, &key) < 0) {
                gnutls_x509_crt_deinit(crt);
                return false;
        }
        match = crt_key_match(crt, key);
        gnutls_x509_privkey_deinit(key);
        gnutls_x509_crt_deinit(crt);
        return match;
}

static bool crt_valid_at(gnutls_x509_crt_t crt, int64_t now)
{
        time_t nb = gnutls_x509_crt_get_activation_time(crt);
        time_t na = gnutls_x509_crt_get_expiration_time(crt);

        if (nb == (time_t)-1 || na == (time_t)-1)
                return false;
        return now >= (int64_t)nb && now <= (int64_t)na;
}

/* GnuTLS checks validity periods against its own clock only, so the chain is
 * verified with time checks off and the times are checked here against now,
 * for the certificate and for the CA. A CA certificate (the CA's own, say)
 * is never accepted as a leaf. */
int crypto_cert_verify_der(const char *ca_pem, size_t ca_len, const void *der, size_t len,
                           int64_t now)
{
        const unsigned flags = GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                               GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS |
                               GNUTLS_VERIFY_DO_NOT_ALLOW_SAME;
        gnutls_x509_crt_t ca, crt;
        unsigned status = 0;
        int r;

        r = crt_import(ca_pem, ca_len, GNUTLS_X509_FMT_PEM, &ca);
        if (r < 0)
                return r;
        r = crt_import(der, len, GNUTLS_X509_FMT_DER, &crt);
        if (r < 0)
                goto free_ca;
        r = gnutls_x509_crt_verify(crt, &ca, 1, flags, &status);
        if (r < 0)
                r = map_err(r, -EKEYREJECTED);
        else if (status != 0 || crt_is_ca(crt) || !crt_valid_at(crt, now) ||
                 !crt_valid_at(ca, now))
                r = -EKEYREJECTED;
        else
                r = 0;
        gnutls_x509_crt_deinit(crt);
free_ca:
        gnutls_x509_crt_deinit(ca);
        return r;
}

/* ---- CSRs ---- */

static int csr_import(const char *pem, size_t len, gnutls_x509_crq_t *ret)
{
        gnutls_x509_crq_t crq;
        gnutls_datum_t d;
        int r;

        if (!datum_from(&d, pem, len))
                return -EBADMSG;
        r = gnutls_x509_crq_init(&crq);
        if (r < 0)
                return -ENOMEM;
        r = gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM);
        if (r < 0) {
                gnutls_x509_crq_deinit(crq);
                return map_err(r, -EBADMSG);
        }
        *ret = crq;
        return 0;
}

/* Vigil accepts ECDSA on P-256 or P-384, or RSA of 2048 to 8192 bits.
 * Returns 0, -EPERM, -EBADMSG (a key that claims a known type but does not
 * parse as one), -ENOMEM. */
static int pubkey_allowed(gnutls_pubkey_t pub)
{
        gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
        gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
        unsigned bits = 0;
        int alg, r;

        alg = gnutls_pubkey_get_pk_algorithm(pub, &bits);
        if (alg == GNUTLS_PK_RSA)
                return bits >= RSA_BITS_MIN && bits <= RSA_BITS_MAX ? 0 : -EPERM;
        if (alg != GNUTLS_PK_ECDSA)
                return -EPERM;
        r = gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, &y, 0);
        if (r < 0)
                return map_err(r, -EBADMSG);
        gnutls_free(x.data);
        gnutls_free(y.data);
        if (curve != GNUTLS_ECC_CURVE_SECP256R1 && curve != GNUTLS_ECC_CURVE_SECP384R1)
                return -EPERM;
        return 0;
}

/* The key type is judged before the signature, so that no verification code
 * runs for key types Vigil refuses anyway. gnutls_x509_crq_verify() accepts
 * SHA-1 signatures, so the signature algorithm gets the policy GnuTLS applies
 * to certificates. */
static int csr_check(gnutls_x509_crq_t crq, gnutls_pubkey_t *ret_pub)
{
        gnutls_pubkey_t pub;
        int alg, sig, r;

        alg = gnutls_x509_crq_get_pk_algorithm(crq, NULL);
        if (alg != GNUTLS_PK_RSA && alg != GNUTLS_PK_ECDSA)
                return alg == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EPERM;
        sig = gnutls_x509_crq_get_signature_algorithm(crq);
        if (sig < 0)
                return map_err(sig, -EBADMSG);
        if (!gnutls_sign_is_secure2((gnutls_sign_algorithm_t)sig, GNUTLS_SIGN_FLAG_SECURE_FOR_CERTS))
                return -EPERM;
        r = gnutls_pubkey_init(&pub);
        if (r < 0)
                return -ENOMEM;
        r = gnutls_pubkey_import_x509_crq(pub, crq, 0);
        if (r < 0) {
                r = map_err(r, -EBADMSG);
                goto free_pub;
        }
        r = pubkey_allowed(pub);
        if (r < 0)
                goto free_pub;
        r = gnutls_x509_crq_verify(crq, 0);
        switch (r) {
        case 0:
                break;
        case GNUTLS_E_MEMORY_ERROR:
                r = -ENOMEM;
                goto free_pub;
        case GNUTLS_E_INSUFFICIENT_SECURITY:
        case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
        case GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM:
        case GNUTLS_E_CONSTRAINT_ERROR:
                r = -EPERM;     /* a signature algorithm we refuse, e.g. SHA-1 */
                goto free_pub;
        default:
                r = -EKEYREJECTED;
                goto free_pub;
        }
        if (ret_pub) {
                *ret_pub = pub;
                return 0;
        }
free_pub:
        gnutls_pubkey_deinit(pub);
        return r;
}

int crypto_csr_check(const char *csr_pem, size_t csr_len)
{
        gnutls_x509_crq_t crq;
        int r;

        r = csr_import(csr_pem, csr_len, &crq);
        if (r < 0)
                return r;
        r = csr_check(crq, NULL);
        gnutls_x509_crq_deinit(crq);
        return r;
}

static bool cn_valid(const char *cn)
{
        return cn && util_str_printable(cn, CRYPTO_CN_MAX);
}

int crypto_csr_create(const char *key_pem, size_t key_len, const char *cn,
                      char **ret_csr_pem, size_t *ret_csr_len)
{
        gnutls_x509_privkey_t key;
        gnutls_x509_crq_t crq;
        gnutls_datum_t d = { NULL, 0 };
        int r;

        if (!cn_valid(cn))
                return -EINVAL;
        if (key_len > CRYPTO_PEM_MAX)
                return -E2BIG;
        r = key_import(key_pem, key_len, &key);
        if (r < 0)
                return r;
        r = gnutls_x509_crq_init(&crq);
        if (r < 0) {
                r = -ENOMEM;
                goto free_key;
        }
        r = gnutls_x509_crq_set_version(crq, 1);
        if (r >= 0)
                r = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
                                                  cn, (unsigned)strlen(cn));
        if (r >= 0)
                r = gnutls_x509_crq_set_key(crq, key);
        if (r >= 0)
                r = gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0);
        if (r >= 0)
                r = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &d);
        if (r < 0) {
                r = map_err(r, -EIO);
                goto free_crq;
        }
        r = datum_take(&d, false, ret_csr_pem, ret_csr_len);
free_crq:
        gnutls_x509_crq_deinit(crq);
free_key:
        gnutls_x509_privkey_deinit(key);
        return r;
}

/* ---- certificates: issuing ---- */

/* Starts a certificate with what every Vigil certificate shares: version 3,
 * a random positive 16-byte serial, CN=cn, valid from a minute ago for days. */
static int crt_start(const char *cn, unsigned days, gnutls_x509_crt_t *ret)
{
        unsigned char serial[SERIAL_LEN];
        gnutls_x509_crt_t crt;
        time_t now = time(NULL);
        int r;

        if (!cn_valid(cn) || days == 0 || days > DAYS_MAX)
                return -EINVAL;
        if (gnutls_rnd(GNUTLS_RND_RANDOM, serial, sizeof(serial)) < 0)
                return -EIO;
        serial[0] &= 0x7f;              /* positive */
        if (serial[0] == 0)
                serial[0] = 0x40;       /* no leading zero octet: keeps the DER minimal */
        r = gnutls_x509_crt_init(&crt);
        if (r < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_set_version(crt, 3);
        if (r >= 0)
                r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
        if (r >= 0)
                r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                                  cn, (unsigned)strlen(cn));
        if (r >= 0)
                r = gnutls_x509_crt_set_activation_time(crt, now - BACKDATE_SECONDS);
        if (r >= 0)
                r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * DAY_SECONDS);
        if (r < 0) {
                gnutls_x509_crt_deinit(crt);
                return map_err(r, -EIO);
        }
        *ret = crt;
        return 0;
}

/* Sets the subject key identifier from crt's public key and the authority
 * key identifier from the issuer (itself when issuer is NULL). */
static int crt_set_key_ids(gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer)
{
        unsigned char id[KEY_ID_MAX];
        size_t n = sizeof(id);
        unsigned critical = 0;
        int r;

        r = gnutls_x509_crt_get_key_id(crt, 0, id, &n);
        if (r >= 0)
                r = gnutls_x509_crt_set_subject_key_id(crt, id, n);
        if (r >= 0 && issuer) {
                n = sizeof(id);
                r = gnutls_x509_crt_get_subject_key_id(issuer, id, &n, &critical);
                if (r < 0) {
                        n = sizeof(id);
                        r = gnutls_x509_crt_get_key_id(issuer, 0, id, &n);
                }
        }
        if (r >= 0)
                r = gnutls_x509_crt_set_authority_key_id(crt, id, n);
        return r < 0 ? map_err(r, -EIO) : 0;
}

static int crt_export(gnutls_x509_crt_t crt, char **ret_pem, size_t *ret_len)
{
        gnutls_datum_t d = { NULL, 0 };
        int r;

        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
        if (r < 0)
                return map_err(r, -EIO);
        return datum_take(&d, false, ret_pem, ret_len);
}

/* Finishes an end-entity certificate whose subject, key and names are set:
 * CA:FALSE, digitalSignature (and keyEncipherment for RSA keys, which TLS 1.2
 * RSA key exchange needs), the one extended key usage, key identifiers; then
 * signs it with the CA and exports it. */
static int ca_issue(struct crypto_ca *ca, gnutls_x509_crt_t crt, const char *purpose_oid,
                    char **ret_pem, size_t *ret_len)
{
        unsigned usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
        int r;

        if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) == GNUTLS_PK_RSA)
                usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
        r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        if (r >= 0)
                r = gnutls_x509_crt_set_key_usage(crt, usage);
        if (r >= 0)
                r = gnutls_x509_crt_set_key_purpose_oid(crt, purpose_oid, 0);
        if (r < 0)
                return map_err(r, -EIO);
        r = crt_set_key_ids(crt, ca->crt);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0);
        if (r < 0)
                return map_err(r, -EIO);
        return crt_export(crt, ret_pem, ret_len);
}

int crypto_ca_create(const char *cn, unsigned days,
                     char **ret_cert_pem, size_t *ret_cert_len,
                     char **ret_key_pem, size_t *ret_key_len)
{
        gnutls_x509_privkey_t key;
        gnutls_x509_crt_t crt;
        char *cert_pem, *key_pem;
        size_t cert_len, key_len;
        int r;

        r = crt_start(cn, days, &crt);
        if (r < 0)
                return r;
        r = key_new(&key);
        if (r < 0)
                goto free_crt;
        r = gnutls_x509_crt_set_key(crt, key);
        /* pathLen 0: Vigil's CAs sign end-entity certificates only */
        if (r >= 0)
                r = gnutls_x509_crt_set_basic_constraints(crt, 1, 0);
        if (r >= 0)
                r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
                                                       GNUTLS_KEY_CRL_SIGN);
        if (r < 0) {
                r = map_err(r, -EIO);
                goto free_key;
        }
        r = crt_set_key_ids(crt, NULL);
        if (r < 0)
                goto free_key;
        r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
        if (r < 0) {
                r = map_err(r, -EIO);
                goto free_key;
        }
        r = crt_export(crt, &cert_pem, &cert_len);
        if (r < 0)
                goto free_key;
        r = key_export(key, &key_pem, &key_len);
        if (r < 0) {
                free(cert_pem);
                goto free_key;
        }
        *ret_cert_pem = cert_pem;
        *ret_cert_len = cert_len;
        *ret_key_pem = key_pem;
        *ret_key_len = key_len;
free_key:
        gnutls_x509_privkey_deinit(key);
free_crt:
        gnutls_x509_crt_deinit(crt);
        return r;
}

int crypto_ca_load(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
                   struct crypto_ca **ret)
{
        struct crypto_ca *ca;
        int r;

        ca = calloc(1, sizeof(*ca));
        if (!ca)
                return -ENOMEM;
        r = crt_import(cert_pem, cert_len, GNUTLS_X509_FMT_PEM, &ca->crt);
        if (r < 0) {
                r = r == -ENOMEM ? r : -EINVAL;
                goto free_ca;
        }
        r = key_import(key_pem, key_len, &ca->key);
        if (r < 0)
                goto free_ca;
        if (!crt_is_ca(ca->crt) || !crt_key_match(ca->crt, ca->key)) {
                r = -EINVAL;
                goto free_ca;
        }
        *ret = ca;
        return 0;
free_ca:
        crypto_ca_free(ca);
        return r;
}

void crypto_ca_free(struct crypto_ca *ca)
{
        if (!ca)
                return;
        if (ca->key)
                gnutls_x509_privkey_deinit(ca->key);
        if (ca->crt)
                gnutls_x509_crt_deinit(ca->crt);
        free(ca);
}

/* Host names as they appear in TLS: letters, digits, '-', '_', '.', and a
 * leading "*." wildcard label; no empty labels. */
static bool dns_name_valid(const char *s, size_t n)
{
        if (n == 0 || n > DNS_NAME_MAX || s[0] == '.' || s[n - 1] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == '*') {
                        if (i != 0 || n < 3 || s[1] != '.')
                                return false;
                } else if (c == '.') {
                        if (s[i + 1] == '.')
                                return false;
                } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '_')) {
                        return false;
                }
        }
        return true;
}

static int crt_add_san(gnutls_x509_crt_t crt, const char *name)
{
        unsigned char addr[16];
        gnutls_x509_subject_alt_name_t type;
        const void *data = addr;
        size_t n;
        int r;

        if (!name)
                return -EINVAL;
        if (inet_pton(AF_INET, name, addr) == 1) {
                type = GNUTLS_SAN_IPADDRESS;
                n = 4;
        } else if (inet_pton(AF_INET6, name, addr) == 1) {
                type = GNUTLS_SAN_IPADDRESS;
                n = 16;
        } else {
                n = strnlen(name, DNS_NAME_MAX + 1);
                if (!dns_name_valid(name, n))
                        return -EINVAL;
                type = GNUTLS_SAN_DNSNAME;
                data = name;
        }
        r = gnutls_x509_crt_set_subject_alt_name(crt, type, data, (unsigned)n,
                                                 GNUTLS_FSAN_APPEND);
        return r < 0 ? map_err(r, -EIO) : 0;
}

int crypto_ca_issue_server(struct crypto_ca *ca, const char *key_pem, size_t key_len,
                           const char *const *names, size_t n_names, unsigned days,
                           char **ret_cert_pem, size_t *ret_cert_len)
{
        gnutls_x509_privkey_t key;
        gnutls_x509_crt_t crt;
        int r;

        if (!ca || !names || n_names == 0 || n_names > SAN_COUNT_MAX)
                return -EINVAL;
        if (key_len > CRYPTO_PEM_MAX)
                return -E2BIG;
        r = key_import(key_pem, key_len, &key);
        if (r < 0)
                return r;
        r = crt_start(names[0], days, &crt);
        if (r < 0)
                goto free_key;
        r = gnutls_x509_crt_set_key(crt, key);
        if (r < 0) {
                r = map_err(r, -EIO);
                goto free_crt;
        }
        for (size_t i = 0; i < n_names; i++) {
                r = crt_add_san(crt, names[i]);
                if (r < 0)
                        goto free_crt;
        }
        r = ca_issue(ca, crt, GNUTLS_KP_TLS_WWW_SERVER, ret_cert_pem, ret_cert_len);
free_crt:
        gnutls_x509_crt_deinit(crt);
free_key:
        gnutls_x509_privkey_deinit(key);
        return r;
}

int crypto_ca_sign_csr(struct crypto_ca *ca, const char *csr_pem, size_t csr_len,
                       const char *cn, unsigned days,
                       char **ret_cert_pem, size_t *ret_cert_len,
                       struct crypto_cert_info *ret_info)
{
        struct crypto_cert_info info;
        gnutls_x509_crq_t crq;
        gnutls_pubkey_t pub;
        gnutls_x509_crt_t crt;
        char *pem;
        size_t len;
        int r;

        if (!ca)
                return -EINVAL;
        r = csr_import(csr_pem, csr_len, &crq);
        if (r < 0)
                return r;
        r = csr_check(crq, &pub);
        if (r < 0)
                goto free_crq;
        /* only the key is taken from the request: subject and extensions are ours */
        r = crt_start(cn, days, &crt);
        if (r < 0)
                goto free_pub;
        r = gnutls_x509_crt_set_pubkey(crt, pub);
        if (r < 0) {
                r = map_err(r, -EIO);
                goto free_crt;
        }
        r = ca_issue(ca, crt, GNUTLS_KP_TLS_WWW_CLIENT, &pem, &len);
        if (r < 0)
                goto free_crt;
        /* read back from the bytes handed out, so the info describes exactly them */
        r = crypto_cert_info_pem(pem, len, &info);
        if (r < 0) {
                free(pem);
                r = r == -ENOMEM ? r : -EIO;
                goto free_crt;
        }
        *ret_cert_pem = pem;
        *ret_cert_len = len;
        if (ret_info)
                *ret_info = info;
free_crt:
        gnutls_x509_crt_deinit(crt);
free_pub:
        gnutls_pubkey_deinit(pub);
free_crq:
        gnutls_x509_crq_deinit(crq);
        return r;
}

/* ---- signatures ---- */

/* Signed data is not PEM: it has a cap of its own. */
static bool data_datum(gnutls_datum_t *d, const void *data, size_t len)
{
        if (!data || len == 0 || len > CRYPTO_SIGNED_MAX)
                return false;
        d->data = (unsigned char *)data;
        d->size = (unsigned)len;
        return true;
}

int crypto_sign(const char *key_pem, size_t key_len, const void *data, size_t n, uint8_t **ret_sig,
                size_t *ret_len)
{
        gnutls_x509_privkey_t xkey;
        gnutls_privkey_t key;
        gnutls_datum_t in, sig = { NULL, 0 };
        char *out;
        size_t out_len;
        int r;

        if (!data_datum(&in, data, n))
                return -EINVAL;
        r = key_import(key_pem, key_len, &xkey);
        if (r < 0)
                return r;
        if (gnutls_privkey_init(&key) < 0) {
                gnutls_x509_privkey_deinit(xkey);
                return -ENOMEM;
        }
        r = gnutls_privkey_import_x509(key, xkey, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
        if (r < 0) {
                gnutls_x509_privkey_deinit(xkey);
                r = map_err(r, -EINVAL);
                goto free_key;
        }
        r = gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &in, &sig);
        if (r < 0) {
                r = map_err(r, -EIO);
                goto free_key;
        }
        r = datum_take(&sig, false, &out, &out_len);
        if (r == 0) {
                *ret_sig = (uint8_t *)out;
                *ret_len = out_len;
        }
free_key:
        gnutls_privkey_deinit(key);
        return r;
}

/* The signature algorithm of a key of the certificate's type with SHA-256. */
static gnutls_sign_algorithm_t sign_algorithm(gnutls_pubkey_t pub)
{
        return gnutls_pk_to_sign(gnutls_pubkey_get_pk_algorithm(pub, NULL), GNUTLS_DIG_SHA256);
}

int crypto_signed_verify(const char *ca_pem, size_t ca_len, const char *cert_pem, size_t cert_len,
                         const void *data, size_t n, const void *sig, size_t sig_len, int64_t now)
{
        gnutls_x509_crt_t crt;
        gnutls_pubkey_t pub;
        gnutls_datum_t der = { NULL, 0 }, in, s;
        int r;

        if (cert_len > CRYPTO_PEM_MAX || !data_datum(&in, data, n) || !datum_from(&s, sig, sig_len))
                return -EBADMSG;
        r = crt_import(cert_pem, cert_len, GNUTLS_X509_FMT_PEM, &crt);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
        if (r < 0) {
                r = map_err(r, -EBADMSG);
                goto free_crt;
        }
        r = crypto_cert_verify_der(ca_pem, ca_len, der.data, der.size, now);
        gnutls_free(der.data);
        if (r < 0)
                goto free_crt;
        if (gnutls_pubkey_init(&pub) < 0) {
                r = -ENOMEM;
                goto free_crt;
        }
        r = gnutls_pubkey_import_x509(pub, crt, 0);
        if (r >= 0)
                r = gnutls_pubkey_verify_data2(pub, sign_algorithm(pub), 0, &in, &s);
        r = r < 0 ? map_err(r, -EKEYREJECTED) : 0;
        gnutls_pubkey_deinit(pub);
free_crt:
        gnutls_x509_crt_deinit(crt);
        return r;
}
