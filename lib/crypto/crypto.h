/* crypto: the X.509 and hashing work of Vigil, over GnuTLS.
 *
 * One library for the server and the agent: the device CA and the server CA
 * (self-signed ECDSA P-256), device and server certificates, CSRs made on the
 * device, fingerprints, SHA-256, HMAC-SHA-256 and random bytes. PEM text
 * crosses this interface with its length; heap results are the caller's to
 * free() (gnutls_free() is never needed by callers). No logging, no exit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_FPR_HEX_LEN 64          /* SHA-256 fingerprint, lower-case hex */
#define CRYPTO_SERIAL_MAX_HEX 40       /* serials are at most 20 bytes */
#define CRYPTO_CN_MAX 64
#define CRYPTO_PEM_MAX (64 * 1024)     /* no PEM input larger than this is parsed */
#define CRYPTO_SIGNED_MAX (16u << 20)  /* bytes of data crypto_sign() and crypto_signed_verify() take */

/* What Vigil reads off a certificate. */
struct crypto_cert_info {
        char cn[CRYPTO_CN_MAX + 1];                  /* subject common name, "" if none */
        char serial_hex[CRYPTO_SERIAL_MAX_HEX + 1];  /* lower-case hex, no separators */
        char fpr_hex[CRYPTO_FPR_HEX_LEN + 1];        /* SHA-256 over the DER */
        int64_t not_before;
        int64_t not_after;
};

/* Fills buf with n cryptographically random bytes. Returns 0 or -EIO. */
int crypto_random(void *buf, size_t n);

/* Writes a random (version 4) UUID, lower case, into out. Returns 0 or -EIO. */
int crypto_uuid4(char out[static 37]);

/* SHA-256 of data. Returns 0 or -EIO. */
int crypto_sha256(const void *data, size_t n, uint8_t out[static CRYPTO_SHA256_LEN]);

/* HMAC-SHA-256 of data under key. Returns 0 or -EIO. */
int crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                       uint8_t out[static CRYPTO_SHA256_LEN]);

/* Generates an ECDSA P-256 private key as PKCS#8 PEM (unencrypted).
 * Returns 0, -ENOMEM or -EIO. */
int crypto_key_generate(char **ret_pem, size_t *ret_len);

/* Creates a self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign,
 * cRLSign) with subject CN=cn, valid for days, and its new key.
 * Returns 0 or a negative errno. */
int crypto_ca_create(const char *cn, unsigned days,
                     char **ret_cert_pem, size_t *ret_cert_len,
                     char **ret_key_pem, size_t *ret_key_len);

/* A loaded CA: its certificate and key, ready to sign. */
struct crypto_ca;

/* Loads a CA from PEM. Returns 0, -EINVAL if either does not parse, the key
 * does not belong to the certificate or the certificate is not a CA, -ENOMEM. */
int crypto_ca_load(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
                   struct crypto_ca **ret);
void crypto_ca_free(struct crypto_ca *ca);

/* Issues a TLS server certificate (serverAuth, digitalSignature) for a key
 * the caller made: CN is the first name, SANs are every entry of names — each
 * one added as an IP address if it parses as IPv4/IPv6, else as a DNS name.
 * Returns 0 or a negative errno. */
int crypto_ca_issue_server(struct crypto_ca *ca, const char *key_pem, size_t key_len,
                           const char *const *names, size_t n_names, unsigned days,
                           char **ret_cert_pem, size_t *ret_cert_len);

/* Makes a PKCS#10 CSR with subject CN=cn signed by the given private key.
 * Returns 0 or a negative errno. */
int crypto_csr_create(const char *key_pem, size_t key_len, const char *cn,
                      char **ret_csr_pem, size_t *ret_csr_len);

/* Checks a CSR from outside: it parses (PEM, at most CRYPTO_PEM_MAX bytes),
 * its self-signature verifies (so the requester holds the key), and the key
 * is ECDSA P-256/P-384 or RSA of 2048 to 8192 bits.
 * Returns 0, -EBADMSG (does not parse), -EKEYREJECTED (signature does not
 * verify: the key does not match), or -EPERM (key type or size refused, or a
 * weak signature algorithm such as SHA-1). */
int crypto_csr_check(const char *csr_pem, size_t csr_len);

/* Issues a client certificate (clientAuth, digitalSignature, CA:FALSE) for the
 * key in a CSR that crypto_csr_check() accepts. The subject is CN=cn whatever
 * the CSR asked for; the serial is 16 random bytes; valid for days.
 * Returns 0 with the PEM and its info, or the errors of crypto_csr_check(). */
int crypto_ca_sign_csr(struct crypto_ca *ca, const char *csr_pem, size_t csr_len,
                       const char *cn, unsigned days,
                       char **ret_cert_pem, size_t *ret_cert_len,
                       struct crypto_cert_info *ret_info);

/* Reads a certificate's info from PEM or from DER.
 * Returns 0 or -EBADMSG. */
int crypto_cert_info_pem(const char *pem, size_t len, struct crypto_cert_info *ret);
int crypto_cert_info_der(const void *der, size_t len, struct crypto_cert_info *ret);

/* True if the private key (PEM) belongs to the certificate (PEM). */
bool crypto_cert_key_match(const char *cert_pem, size_t cert_len,
                           const char *key_pem, size_t key_len);

/* Verifies that a certificate (DER) was issued by the CA in ca_pem and is
 * within its validity period at time now (and so is the CA); a CA certificate,
 * the CA's own included, is never accepted.
 * Returns 0, -EBADMSG (does not parse), -EKEYREJECTED (not issued by this CA,
 * or expired / not yet valid). */
int crypto_cert_verify_der(const char *ca_pem, size_t ca_len, const void *der, size_t len,
                           int64_t now);

/* Signs n bytes of data (1 to CRYPTO_SIGNED_MAX) with the private key in
 * key_pem (ECDSA or RSA), SHA-256. Returns 0 with the signature in *ret_sig
 * (the caller frees it) and its length in *ret_len, -EINVAL (no data, or a
 * key that does not parse), -ENOMEM or -EIO. */
int crypto_sign(const char *key_pem, size_t key_len, const void *data, size_t n, uint8_t **ret_sig,
                size_t *ret_len);

/* Verifies that sig is a signature of data by the key of the certificate in
 * cert_pem, and that this certificate was issued by the CA in ca_pem and is
 * valid at now (crypto_cert_verify_der's rules: a CA certificate is never
 * accepted as the signer). Returns 0, -EBADMSG (a certificate or the
 * signature is missing or does not parse, data is empty or too large), or
 * -EKEYREJECTED (not issued by that CA, out of its validity, or the
 * signature does not match the data). */
int crypto_signed_verify(const char *ca_pem, size_t ca_len, const char *cert_pem, size_t cert_len,
                         const void *data, size_t n, const void *sig, size_t sig_len, int64_t now);
