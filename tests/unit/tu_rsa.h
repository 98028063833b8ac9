/* RSA key helpers for the blind-signature and key-form tests. Each aborts the
 * test (criterion assertion) when the key cannot be built. */
#ifndef PP_TU_RSA_H
#define PP_TU_RSA_H

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

/* A private key from p, q, e, d (hex fields of a vector), with the CRT
 * parameters computed here. */
EVP_PKEY *tu_rsa_from_pqed(json_t *vec);

/* A private key from raw numbers, with no consistency check at all (for
 * tests that need a broken key). dmp1 etc. may be NULL. */
EVP_PKEY *tu_rsa_from_bn(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d,
			 const BIGNUM *p, const BIGNUM *q, const BIGNUM *dmp1,
			 const BIGNUM *dmq1, const BIGNUM *iqmp);

/* A public key from big-endian n and e. */
EVP_PKEY *tu_rsa_public(const uint8_t *n, size_t n_len, const uint8_t *e,
			size_t e_len);

/* The private key of a vector's skS field (hex of PEM PKCS#8 text). */
EVP_PKEY *tu_rsa_from_pem_hex(json_t *vec, const char *field);

/* The RFC 9578 type-2 issuer key (2048 bits), from the vector file. */
EVP_PKEY *tu_rsa_type2_key(void);

/* A BIGNUM parameter of a key; the caller frees it. */
BIGNUM *tu_rsa_bn(const EVP_PKEY *pk, const char *name);

#endif
