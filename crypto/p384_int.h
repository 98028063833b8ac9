/* Inside of struct p384_ctx, shared by p384.c and p384_h2c.c only. */
#ifndef PP_P384_INT_H
#define PP_P384_INT_H

#include <stdint.h>
#include <openssl/bn.h>
#include <openssl/ec.h>

#include "crypto/p384.h"

/* Everything here is written once in p384_ctx_new and only read after. */
struct p384_ctx {
	EC_GROUP *group;
	BIGNUM *p;          /* field prime, BN_FLG_CONSTTIME */
	BIGNUM *n;          /* group order, BN_FLG_CONSTTIME */
	BIGNUM *n_minus_2;  /* Fermat inversion exponent mod n */
	BIGNUM *p_minus_2;  /* Fermat inversion exponent mod p */
	BIGNUM *a, *b;      /* curve y^2 = x^3 + a x + b, a = -3 */
	BIGNUM *z;          /* SSWU Z = -12 mod p */
	BIGNUM *c1;         /* (p - 3) / 4, for sqrt_ratio */
	BIGNUM *c2;         /* sqrt(-Z) = sqrt(12) mod p */
	BN_MONT_CTX *mont_p, *mont_n;
	uint8_t p_bytes[P384_FIELD_LEN];
	uint8_t n_bytes[P384_SCALAR_LEN];
};

/* Constant-time a < m over equal-length big-endian byte strings: 1 or 0. */
unsigned p384_bytes_lt(const uint8_t *a, const uint8_t *m, size_t len);

#endif
