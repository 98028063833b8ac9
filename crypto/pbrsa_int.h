/* Internal to the pbrsa module (pbrsa.c, pbrsa_sign.c): not for other layers. */
#ifndef PP_PBRSA_INT_H
#define PP_PBRSA_INT_H

#include "pbrsa.h"

#include <openssl/bn.h>

/* DerivePublicKey on a modulus already checked to be 2048 bits.
 * Returns 0, PP_ERR_LENGTH (info too long), PP_ERR_NOMEM, PP_ERR_INTERNAL. */
int pbrsa_eprime_n(const BIGNUM *n, const uint8_t *info, size_t info_len,
		   uint8_t eprime[PBRSA_EPRIME_LEN]);

/* n of an RSA or RSA-PSS key, refused (PP_ERR_KEY) unless 2048 bits. */
int pbrsa_key_n(const EVP_PKEY *pk, BIGNUM **n);

#endif
