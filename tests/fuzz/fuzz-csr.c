/* Fuzz harness for the parsers of lib/crypto that read outside input: CSRs
 * sent by devices, and certificates in PEM or DER (as a proxy forwards them).
 * Results are only checked for consistency; leaks and crashes are the bugs. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct crypto_cert_info info;
        int r;

        r = crypto_csr_check((const char *)data, size);
        if (r > 0)
                abort();
        if (crypto_cert_info_pem((const char *)data, size, &info) == 0 &&
            (strlen(info.fpr_hex) != CRYPTO_FPR_HEX_LEN || strlen(info.cn) > CRYPTO_CN_MAX))
                abort();
        if (crypto_cert_info_der(data, size, &info) == 0 &&
            (strlen(info.fpr_hex) != CRYPTO_FPR_HEX_LEN || info.serial_hex[0] == '\0'))
                abort();
        return 0;
}
