/* Prime-order groups for the VOPRF of RFC 9497: one const table of
 * operations per group (grp_ristretto255, and grp_p384 once it exists),
 * named after the RFC's own operations (section 2.1). Callers never switch
 * on the group; they hold a const struct grp_impl * and call through it.
 *
 * Values: struct grp_elem and struct grp_scalar are plain fixed-size
 * buffers whose contents only the owning group reads (ristretto255 keeps the
 * canonical 32-byte encoding, P-384 its own form). They live on the stack or
 * inside other structs; nothing is allocated and nothing needs freeing.
 * A value made by one group must only be passed to that group.
 *
 * Rules every group keeps:
 * - elem_decode is DeserializeElement with all checks: wrong length, a
 *   non-canonical encoding, a point not in the group, and the identity are
 *   refused. No function returns the identity as a success: an operation
 *   whose result would be the identity fails (PP_ERR_MSG_RANGE).
 * - scalar_decode refuses encodings >= the group order and zero.
 * - Operations on scalars and on secret-scalar multiplication run in time
 *   independent of the scalar's value.
 * - All functions are reentrant and hold no state: any number of threads
 *   may use a group table at once.
 *
 * Error codes: PP_ERR_LENGTH (input length is not Ne / Ns),
 * PP_ERR_MSG_RANGE (not a valid element or scalar, or an identity result),
 * PP_ERR_ARG (bad DST or argument), PP_ERR_INTERNAL (a library call
 * failed). Outputs are cleared on failure. */
#ifndef PP_GRP_H
#define PP_GRP_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define GRP_MAX_NE 49   /* largest element encoding (P-384 compressed) */
#define GRP_MAX_NS 48   /* largest scalar encoding (P-384) */
#define GRP_MAX_NH 64   /* largest hash output (SHA-512) */

struct grp_elem {
	uint8_t v[128];
};

struct grp_scalar {
	uint8_t v[64];
};

struct grp_impl {
	/* RFC 9497 ciphersuite identifier, e.g. "ristretto255-SHA512"; the
	 * contextString is "OPRFV1-" || mode || "-" || id. */
	const char *id;
	size_t ne;                   /* Ne: element encoding length */
	size_t ns;                   /* Ns: scalar encoding length */
	size_t nh;                   /* Nh: hash output length */
	const EVP_MD *(*md)(void);   /* the suite's Hash */

	/* DeserializeElement / SerializeElement (ne bytes out). */
	int (*elem_decode)(struct grp_elem *out, const uint8_t *in,
			   size_t len);
	void (*elem_encode)(const struct grp_elem *e, uint8_t *out);

	/* DeserializeScalar (canonical, non-zero) / SerializeScalar. */
	int (*scalar_decode)(struct grp_scalar *out, const uint8_t *in,
			     size_t len);
	void (*scalar_encode)(const struct grp_scalar *s, uint8_t *out);

	/* RandomScalar: uniform in [1, order). */
	int (*scalar_random)(struct grp_scalar *out);
	/* ScalarInverse (a non-zero). */
	int (*scalar_inv)(struct grp_scalar *out, const struct grp_scalar *a);
	/* out = a + b, a - b, a * b mod the order. out may alias a or b.
	 * These may yield zero (only decode and random refuse it). They fail
	 * only when the library does (PP_ERR_NOMEM, PP_ERR_INTERNAL). */
	int (*scalar_add)(struct grp_scalar *out, const struct grp_scalar *a,
			  const struct grp_scalar *b);
	int (*scalar_sub)(struct grp_scalar *out, const struct grp_scalar *a,
			  const struct grp_scalar *b);
	int (*scalar_mul)(struct grp_scalar *out, const struct grp_scalar *a,
			  const struct grp_scalar *b);

	/* out = s * e, out = s * G (ScalarMultGen), out = a + b. Fail with
	 * PP_ERR_MSG_RANGE when the result is the identity (also for s == 0).
	 * out may alias an input. */
	int (*elem_mul)(struct grp_elem *out, const struct grp_scalar *s,
			const struct grp_elem *e);
	int (*elem_mul_gen)(struct grp_elem *out, const struct grp_scalar *s);
	int (*elem_add)(struct grp_elem *out, const struct grp_elem *a,
			const struct grp_elem *b);

	/* HashToGroup / HashToScalar of msg under dst (RFC 9380 / RFC 9497
	 * section 4). msg may be NULL when msg_len is 0. hash_to_group fails
	 * (PP_ERR_MSG_RANGE) in the negligible case of the identity;
	 * hash_to_scalar may yield zero. */
	int (*hash_to_group)(struct grp_elem *out, const uint8_t *msg,
			     size_t msg_len, const uint8_t *dst,
			     size_t dst_len);
	int (*hash_to_scalar)(struct grp_scalar *out, const uint8_t *msg,
			      size_t msg_len, const uint8_t *dst,
			      size_t dst_len);

	/* 1 when s is zero (constant time). */
	int (*scalar_is_zero)(const struct grp_scalar *s);
	/* 1 when e is the identity. A zeroed struct grp_elem is the identity
	 * in every group; no operation above returns it. */
	int (*elem_is_identity)(const struct grp_elem *e);
};

/* ristretto255 with SHA-512 (RFC 9497 section 4.1), on libsodium. */
extern const struct grp_impl grp_ristretto255;
/* P-384 with SHA-384 (RFC 9497 section 4.4), on crypto/p384.h (OpenSSL). */
extern const struct grp_impl grp_p384;

/* Wipes a scalar (for secrets on the stack). */
void grp_scalar_wipe(struct grp_scalar *s);

#endif
