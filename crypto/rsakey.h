/* RSA private keys as the RSA token types keep them: PKCS#8 DER in guarded
 * memory, parsed on demand. Shared by the blind RSA types' table entries. */
#ifndef PP_RSAKEY_H
#define PP_RSAKEY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "crypto/token_types.h"

#define RSAKEY_BITS 2048

/* Parses a private key (PEM or DER, PKCS#8 or PKCS#1; never prompts for a
 * passphrase). PP_ERR_CORRUPT when it is none. Free with EVP_PKEY_free. */
int rsakey_parse(const uint8_t *in, size_t len, EVP_PKEY **out);
/* Its PKCS#8 DER, in a tt_secret. */
int rsakey_to_der(const EVP_PKEY *pkey, struct tt_secret **out);
/* Checks an issuer key: plain RSA (not RSA-PSS), RSAKEY_BITS bits,
 * e = 65537. PP_ERR_KEY with why filled otherwise. */
int rsakey_check(const EVP_PKEY *pkey, char *why, size_t whylen);
/* rsakey_parse and rsakey_check together, with why saying what is wrong:
 * the private form of an RSA token type's key. *out is NULL on failure. */
int rsakey_load(const uint8_t *in, size_t len, EVP_PKEY **out, char *why,
		size_t whylen);
/* A fresh RSAKEY_BITS key with e = 65537, as PKCS#8 DER. */
int rsakey_generate(struct tt_secret **out);

#endif
