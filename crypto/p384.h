/* The P-384 prime-order group for VOPRF(P-384, SHA-384) (RFC 9497) and
 * Privacy Pass token type 0x0001, on OpenSSL 3 (EC_GROUP, EC_POINT,
 * BIGNUM), plus hash_to_curve P384_XMD:SHA-384_SSWU_RO_ (RFC 9380) and
 * RFC 9497's HashToScalar for P384-SHA384.
 *
 * Encodings: an element is the 49-byte compressed SEC1 form (0x02/0x03 ||
 * x); a scalar is 48 bytes big-endian, < the group order n. The identity
 * has no encoding here: decoders refuse it and encoders fail on it.
 *
 * Objects and ownership:
 * - struct p384_ctx is immutable after p384_ctx_new(): one per process (or
 *   per key set) is enough, and any number of threads may use it at once.
 *   p384_ctx_free() frees it; nothing else may be in use with it then.
 * - Elements are EC_POINT handles made by p384_point_new() (free with
 *   p384_point_free()); scalars are BIGNUM handles made by
 *   p384_scalar_new() (free with p384_scalar_free(), which wipes). The
 *   caller owns every handle; functions write into handles the caller
 *   passes and never keep a reference. Output handles may alias inputs.
 * - BN_CTX: every function that computes takes `BN_CTX *bn`, a scratch
 *   context the caller owns and uses from one thread at a time (keep one per
 *   thread or per request), or NULL to have the function allocate and free
 *   one for the call (simpler, a little slower). A BN_CTX is never shared
 *   between threads.
 *
 * Errors: 0 or a negative PP_ERR_* (base/pp_err.h). Bad input gives
 * PP_ERR_LENGTH (wrong size), PP_ERR_ARG (invalid value); PP_ERR_NOMEM or
 * PP_ERR_INTERNAL mean the library failed. On error, byte outputs are zeroed
 * and handle outputs hold an unspecified valid value: never use them.
 *
 * Constant time (secret scalars are the private key, blinds and proof
 * nonces):
 * - p384_point_mul() and p384_point_mul_base() use OpenSSL 3.0's Montgomery
 *   ladder for a single scalar (ec_mult.c, ossl_ec_scalar_mul_ladder), which
 *   is constant-time in the scalar. No double-scalar multiplication is
 *   offered: OpenSSL's is variable-time (and EC_POINTs_mul deprecated).
 * - p384_scalar_invert() is Fermat's a^(n-2) with BN_mod_exp_mont_consttime;
 *   scalar add/sub/mul reduce with BN_FLG_CONSTTIME moduli and never branch
 *   on values; p384_scalar_decode() compares with n without branching;
 *   p384_scalar_encode() uses BN_bn2binpad (constant-time in OpenSSL 3).
 * - hash_to_curve follows RFC 9380's straight-line simplified SWU (appendix
 *   F.2, sqrt_ratio for p = 3 mod 4) with byte-level conditional moves and
 *   no branch on data; its modular arithmetic is BIGNUM (BN_mod_mul with a
 *   BN_FLG_CONSTTIME modulus, BN_mod_exp_mont_consttime), which avoids the
 *   known data-dependent paths but is not an audited constant-time field
 *   implementation. In Privacy Pass its inputs are public (token input).
 * - Element decode/encode, point add and point comparison are
 *   variable-time: they only handle public values.
 *
 * Costs (OpenSSL 3.0.19, x86-64, measured on a loaded 2-core machine):
 * point mul (ladder) ~1.5-2 ms, hash_to_curve ~0.5 ms, element decode
 * ~0.15 ms (a square root), scalar inversion ~0.1 ms, element encode and
 * the affine form ~1 us. Decode each input once and keep handles (or the
 * affine form) through a batch rather than re-decoding per operation.
 *
 * WARNING: a scalar from p384_scalar_decode() may be zero; use
 * p384_scalar_decode_nonzero() for keys and blinds. Multiplying by zero
 * gives the identity, which p384_element_encode() refuses. */
#ifndef PP_P384_H
#define PP_P384_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/bn.h>
#include <openssl/ec.h>

#define P384_ELEMENT_LEN 49 /* compressed SEC1 */
#define P384_SCALAR_LEN 48
#define P384_FIELD_LEN 48

struct p384_ctx; /* opaque, immutable, shareable between threads */

/* Creates the context: the curve and the field and order constants.
 * Returns 0, PP_ERR_NOMEM or PP_ERR_INTERNAL; *out is NULL on error. */
int p384_ctx_new(struct p384_ctx **out);
void p384_ctx_free(struct p384_ctx *g);
/* The curve, for callers that need plain OpenSSL calls. Owned by g. */
const EC_GROUP *p384_ctx_group(const struct p384_ctx *g);

/* ---- handles ---- */

/* A new element (the identity until written), or NULL when out of memory.
 * p384_point_free wipes it and accepts NULL. */
EC_POINT *p384_point_new(const struct p384_ctx *g);
void p384_point_free(EC_POINT *p);
/* A new scalar (zero, flagged BN_FLG_CONSTTIME), or NULL when out of
 * memory. p384_scalar_free wipes it (BN_clear_free) and accepts NULL. */
BIGNUM *p384_scalar_new(void);
void p384_scalar_free(BIGNUM *s);

/* ---- encodings ---- */

/* Decodes a compressed element: in_len must be 49 (else PP_ERR_LENGTH); the
 * prefix 0x02 or 0x03, x < p, x the abscissa of a point on the curve, not
 * the identity (else PP_ERR_ARG). Variable-time (public input). */
int p384_element_decode(const struct p384_ctx *g, const uint8_t *in,
			size_t in_len, EC_POINT *out, BN_CTX *bn);
/* Encodes p compressed into out[49]; PP_ERR_ARG for the identity. */
int p384_element_encode(const struct p384_ctx *g, const EC_POINT *p,
			uint8_t out[P384_ELEMENT_LEN], BN_CTX *bn);

/* Decodes a scalar: in_len must be 48 (else PP_ERR_LENGTH), big-endian, < n
 * (else PP_ERR_ARG). Zero is accepted. Constant-time in the value. */
int p384_scalar_decode(const struct p384_ctx *g, const uint8_t *in,
		       size_t in_len, BIGNUM *out);
/* As p384_scalar_decode, and zero is refused with PP_ERR_ARG. */
int p384_scalar_decode_nonzero(const struct p384_ctx *g, const uint8_t *in,
			       size_t in_len, BIGNUM *out);
/* Writes s (which must be < n, else PP_ERR_ARG) as 48 bytes big-endian. */
int p384_scalar_encode(const struct p384_ctx *g, const BIGNUM *s,
		       uint8_t out[P384_SCALAR_LEN]);

/* Internal fixed-size form for callers that keep elements as bytes between
 * operations (e.g. a group table with stack buffers): affine x || y, 48
 * bytes each, big-endian. Unlike the compressed form it needs no square
 * root to load (an on-curve check only), so it is cheap to convert back and
 * forth. to_affine fails with PP_ERR_ARG on the identity; from_affine checks
 * x, y < p and that the point is on the curve (PP_ERR_ARG), so it is also
 * safe on untrusted bytes. Not a wire format: never send it. */
#define P384_AFFINE_LEN 96
int p384_point_to_affine(const struct p384_ctx *g, const EC_POINT *p,
			 uint8_t out[P384_AFFINE_LEN], BN_CTX *bn);
int p384_point_from_affine(const struct p384_ctx *g,
			   const uint8_t in[P384_AFFINE_LEN], EC_POINT *out,
			   BN_CTX *bn);

/* ---- scalars (mod n) ---- */

/* A uniformly random scalar in [1, n) from OpenSSL's private DRBG. */
int p384_scalar_random(const struct p384_ctx *g, BIGNUM *out, BN_CTX *bn);
/* out = a^-1 mod n; a must be in [1, n) (zero gives PP_ERR_ARG). */
int p384_scalar_invert(const struct p384_ctx *g, BIGNUM *out,
		       const BIGNUM *a, BN_CTX *bn);
/* out = a + b, a - b, a * b mod n; a and b must be in [0, n) (else
 * PP_ERR_ARG). */
int p384_scalar_add(const struct p384_ctx *g, BIGNUM *out, const BIGNUM *a,
		    const BIGNUM *b, BN_CTX *bn);
int p384_scalar_sub(const struct p384_ctx *g, BIGNUM *out, const BIGNUM *a,
		    const BIGNUM *b, BN_CTX *bn);
int p384_scalar_mul(const struct p384_ctx *g, BIGNUM *out, const BIGNUM *a,
		    const BIGNUM *b, BN_CTX *bn);

/* ---- elements ---- */

/* out = k * p (constant-time in k); k must be in [0, n). */
int p384_point_mul(const struct p384_ctx *g, EC_POINT *out, const BIGNUM *k,
		   const EC_POINT *p, BN_CTX *bn);
/* out = k * G, the generator (constant-time in k); k in [0, n). */
int p384_point_mul_base(const struct p384_ctx *g, EC_POINT *out,
			const BIGNUM *k, BN_CTX *bn);
/* out = a + b (variable-time; public elements). */
int p384_point_add(const struct p384_ctx *g, EC_POINT *out,
		   const EC_POINT *a, const EC_POINT *b, BN_CTX *bn);
/* 1 when a == b, 0 when not, negative PP_ERR_* on failure
 * (variable-time). */
int p384_point_equal(const struct p384_ctx *g, const EC_POINT *a,
		     const EC_POINT *b, BN_CTX *bn);

/* ---- hashing (RFC 9380, RFC 9497) ---- */

/* hash_to_curve with suite P384_XMD:SHA-384_SSWU_RO_ and the caller's DST
 * (non-empty; over 255 bytes it is hashed as RFC 9380 5.3.3 says), e.g.
 * "HashToGroup-" || contextString for RFC 9497. msg may be NULL when
 * msg_len is 0. The result is never the identity in practice; if it were,
 * PP_ERR_ARG. */
int p384_hash_to_curve(const struct p384_ctx *g, const uint8_t *msg,
		       size_t msg_len, const uint8_t *dst, size_t dst_len,
		       EC_POINT *out, BN_CTX *bn);
/* HashToScalar of RFC 9497 for P384-SHA384: hash_to_field(msg, 1) into
 * Z/nZ with expand_message_xmd(SHA-384), L = 72, the caller's DST (e.g.
 * "HashToScalar-" || contextString). The result may be zero. */
int p384_hash_to_scalar(const struct p384_ctx *g, const uint8_t *msg,
			size_t msg_len, const uint8_t *dst, size_t dst_len,
			BIGNUM *out, BN_CTX *bn);

/* The two steps of hash_to_curve, exposed for tests against RFC 9380:
 * hash_to_field(msg, 2) over GF(p), each element 48 bytes big-endian, and
 * the simplified SWU map of one field element u (u < p, else PP_ERR_ARG)
 * to a point. hash_to_curve = map(u0) + map(u1) (the cofactor is 1). */
int p384_hash_to_field(const struct p384_ctx *g, const uint8_t *msg,
		       size_t msg_len, const uint8_t *dst, size_t dst_len,
		       uint8_t u0[P384_FIELD_LEN], uint8_t u1[P384_FIELD_LEN],
		       BN_CTX *bn);
int p384_map_to_curve(const struct p384_ctx *g,
		      const uint8_t u[P384_FIELD_LEN], EC_POINT *out,
		      BN_CTX *bn);

/* ---- byte-level shortcuts (decode, operate, encode in one call) ---- */

/* out = k * in for a non-zero scalar k[48] and an element in[49]: the
 * BlindEvaluate step. PP_ERR_LENGTH/PP_ERR_ARG for bad encodings. */
int p384_element_mul_bytes(const struct p384_ctx *g, const uint8_t *k,
			   size_t k_len, const uint8_t *in, size_t in_len,
			   uint8_t out[P384_ELEMENT_LEN], BN_CTX *bn);
/* out = encode(hash_to_curve(msg, dst)). */
int p384_hash_to_curve_bytes(const struct p384_ctx *g, const uint8_t *msg,
			     size_t msg_len, const uint8_t *dst,
			     size_t dst_len, uint8_t out[P384_ELEMENT_LEN],
			     BN_CTX *bn);

#endif
