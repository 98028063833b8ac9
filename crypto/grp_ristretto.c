/* ristretto255 with SHA-512 for RFC 9497 (section 4.1), on libsodium.
 *
 * An element is kept as its canonical 32-byte encoding (libsodium's
 * functions work on encodings); a scalar as 32 little-endian bytes < L.
 *
 * libsodium 1.0.18 accepts encodings RFC 9496 refuses: its canonicity test
 * ignores the top bit, and crypto_core_ristretto255_is_valid_point accepts
 * the identity. elem_decode therefore refuses the top bit and the identity
 * itself and re-encodes each point to prove the input was canonical. */
#include "grp.h"

#include <string.h>
#include <sodium.h>
#include <openssl/evp.h>

#include "base/pp_err.h"
#include "xmd.h"

#define R255_BYTES 32
#define R255_UNIFORM 64 /* bytes of xmd output for from_hash and reduce */

/* The group order L = 2^252 + 27742317777372353535851937790883648493,
 * little-endian. */
static const uint8_t r255_order[R255_BYTES] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

static const uint8_t r255_identity[R255_BYTES];

/* 1 when the 32 bytes are all zero; constant time. */
static int r255_bytes_zero(const uint8_t *b)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < R255_BYTES; i++)
		acc |= b[i];
	return (int)(((unsigned)acc - 1U) >> 8 & 1U);
}

/* 1 when the little-endian s is below L; constant time (the borrow of
 * s - L). */
static int r255_scalar_below_order(const uint8_t *s)
{
	unsigned borrow = 0;
	size_t i;

	for (i = 0; i < R255_BYTES; i++)
		borrow = ((unsigned)s[i] - r255_order[i] - borrow) >> 8 & 1U;
	return (int)borrow;
}

static int r255_elem_decode(struct grp_elem *out, const uint8_t *in,
			    size_t len)
{
	uint8_t again[R255_BYTES];

	memset(out, 0, sizeof(*out));
	if (len != R255_BYTES)
		return PP_ERR_LENGTH;
	if ((in[R255_BYTES - 1] & 0x80) != 0 || r255_bytes_zero(in) ||
	    crypto_core_ristretto255_is_valid_point(in) != 1)
		return PP_ERR_MSG_RANGE;
	/* Decoding and encoding again must give back the input. */
	if (crypto_core_ristretto255_add(again, in, r255_identity) != 0 ||
	    sodium_memcmp(again, in, R255_BYTES) != 0)
		return PP_ERR_MSG_RANGE;
	memcpy(out->v, in, R255_BYTES);
	return 0;
}

static void r255_elem_encode(const struct grp_elem *e, uint8_t *out)
{
	memcpy(out, e->v, R255_BYTES);
}

static int r255_scalar_decode(struct grp_scalar *out, const uint8_t *in,
			      size_t len)
{
	memset(out, 0, sizeof(*out));
	if (len != R255_BYTES)
		return PP_ERR_LENGTH;
	if ((r255_scalar_below_order(in) & (1 - r255_bytes_zero(in))) != 1)
		return PP_ERR_MSG_RANGE;
	memcpy(out->v, in, R255_BYTES);
	return 0;
}

static void r255_scalar_encode(const struct grp_scalar *s, uint8_t *out)
{
	memcpy(out, s->v, R255_BYTES);
}

static int r255_scalar_random(struct grp_scalar *out)
{
	memset(out, 0, sizeof(*out));
	/* libsodium draws until the value is canonical and non-zero. */
	crypto_core_ristretto255_scalar_random(out->v);
	return 0;
}

static int r255_scalar_inv(struct grp_scalar *out, const struct grp_scalar *a)
{
	uint8_t t[R255_BYTES];

	if (crypto_core_ristretto255_scalar_invert(t, a->v) != 0) {
		memset(out, 0, sizeof(*out));
		return PP_ERR_MSG_RANGE;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->v, t, R255_BYTES);
	sodium_memzero(t, sizeof(t));
	return 0;
}

static int r255_scalar_add(struct grp_scalar *out, const struct grp_scalar *a,
			   const struct grp_scalar *b)
{
	crypto_core_ristretto255_scalar_add(out->v, a->v, b->v);
	return 0;
}

static int r255_scalar_sub(struct grp_scalar *out, const struct grp_scalar *a,
			   const struct grp_scalar *b)
{
	crypto_core_ristretto255_scalar_sub(out->v, a->v, b->v);
	return 0;
}

static int r255_scalar_mul(struct grp_scalar *out, const struct grp_scalar *a,
			   const struct grp_scalar *b)
{
	crypto_core_ristretto255_scalar_mul(out->v, a->v, b->v);
	return 0;
}

/* crypto_scalarmult_ristretto255* refuse an identity result (s == 0 too). */
static int r255_elem_mul(struct grp_elem *out, const struct grp_scalar *s,
			 const struct grp_elem *e)
{
	uint8_t t[R255_BYTES];

	if (crypto_scalarmult_ristretto255(t, s->v, e->v) != 0) {
		memset(out, 0, sizeof(*out));
		return PP_ERR_MSG_RANGE;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->v, t, R255_BYTES);
	return 0;
}

static int r255_elem_mul_gen(struct grp_elem *out, const struct grp_scalar *s)
{
	uint8_t t[R255_BYTES];

	if (crypto_scalarmult_ristretto255_base(t, s->v) != 0) {
		memset(out, 0, sizeof(*out));
		return PP_ERR_MSG_RANGE;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->v, t, R255_BYTES);
	return 0;
}

static int r255_elem_add(struct grp_elem *out, const struct grp_elem *a,
			 const struct grp_elem *b)
{
	uint8_t t[R255_BYTES];

	if (crypto_core_ristretto255_add(t, a->v, b->v) != 0 ||
	    r255_bytes_zero(t)) {
		memset(out, 0, sizeof(*out));
		return PP_ERR_MSG_RANGE;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->v, t, R255_BYTES);
	return 0;
}

/* HashToGroup: from_hash(expand_message_xmd(SHA-512, msg, dst, 64)). */
static int r255_hash_to_group(struct grp_elem *out, const uint8_t *msg,
			      size_t msg_len, const uint8_t *dst,
			      size_t dst_len)
{
	uint8_t u[R255_UNIFORM];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = xmd_expand(EVP_sha512(), msg, msg_len, dst, dst_len, u,
			sizeof(u));
	if (rc != 0)
		goto cleanup;
	if (crypto_core_ristretto255_from_hash(out->v, u) != 0 ||
	    r255_bytes_zero(out->v)) {
		memset(out, 0, sizeof(*out));
		rc = PP_ERR_MSG_RANGE;
	}
cleanup:
	sodium_memzero(u, sizeof(u));
	return rc;
}

/* HashToScalar: expand_message_xmd(SHA-512, msg, dst, 64) reduced mod L. */
static int r255_hash_to_scalar(struct grp_scalar *out, const uint8_t *msg,
			       size_t msg_len, const uint8_t *dst,
			       size_t dst_len)
{
	uint8_t u[R255_UNIFORM];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = xmd_expand(EVP_sha512(), msg, msg_len, dst, dst_len, u,
			sizeof(u));
	if (rc == 0)
		crypto_core_ristretto255_scalar_reduce(out->v, u);
	sodium_memzero(u, sizeof(u));
	return rc;
}

static int r255_scalar_is_zero(const struct grp_scalar *s)
{
	return r255_bytes_zero(s->v);
}

static int r255_elem_is_identity(const struct grp_elem *e)
{
	return r255_bytes_zero(e->v);
}

const struct grp_impl grp_ristretto255 = {
	.id = "ristretto255-SHA512",
	.ne = R255_BYTES,
	.ns = R255_BYTES,
	.nh = 64,
	.md = EVP_sha512,
	.elem_decode = r255_elem_decode,
	.elem_encode = r255_elem_encode,
	.scalar_decode = r255_scalar_decode,
	.scalar_encode = r255_scalar_encode,
	.scalar_random = r255_scalar_random,
	.scalar_inv = r255_scalar_inv,
	.scalar_add = r255_scalar_add,
	.scalar_sub = r255_scalar_sub,
	.scalar_mul = r255_scalar_mul,
	.elem_mul = r255_elem_mul,
	.elem_mul_gen = r255_elem_mul_gen,
	.elem_add = r255_elem_add,
	.hash_to_group = r255_hash_to_group,
	.hash_to_scalar = r255_hash_to_scalar,
	.scalar_is_zero = r255_scalar_is_zero,
	.elem_is_identity = r255_elem_is_identity,
};
