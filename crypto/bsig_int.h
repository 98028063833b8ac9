/* Internal to the bsig module (bsig.c, bsig_client.c): not for other layers. */
#ifndef PP_BSIG_INT_H
#define PP_BSIG_INT_H

#include <openssl/bn.h>
#include <openssl/evp.h>

#define BSIG_MIN_BITS 2048
#define BSIG_HASH_LEN 48 /* SHA-384 */

/* Extracts n and e from an RSA (or RSA-PSS) key and checks what every bsig
 * operation needs: 2048..4096 bits, e odd and > 1. Either out may be NULL.
 * The caller frees the BIGNUMs. Returns 0, PP_ERR_KEY or PP_ERR_NOMEM. */
int bsig_key_public(const EVP_PKEY *pk, BIGNUM **n, BIGNUM **e);

/* OpenSSL takes EVP_PKEY * for operations that only read the key (context
 * creation, up-ref); this is the one place the const is dropped. */
EVP_PKEY *bsig_pkey_unconst(const EVP_PKEY *pk);

#endif
