/* P-384 group: context, handles, encodings, scalar and point arithmetic.
 * Hashing lives in p384_h2c.c. */
#include "crypto/p384.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include "crypto/p384_int.h"
#include "base/pp_err.h"

unsigned p384_bytes_lt(const uint8_t *a, const uint8_t *m, size_t len)
{
	unsigned borrow = 0;
	size_t i = len;

	/* borrow of a - m, from the least significant byte up */
	while (i-- > 0)
		borrow = ((unsigned)a[i] - (unsigned)m[i] - borrow) >> 31;
	return borrow;
}

/* 1 when all len bytes are zero, else 0; constant-time. */
static unsigned bytes_zero(const uint8_t *a, size_t len)
{
	unsigned acc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		acc |= a[i];
	return (acc - 1) >> 31;
}

void p384_ctx_free(struct p384_ctx *g)
{
	if (g == NULL)
		return;
	EC_GROUP_free(g->group);
	BN_free(g->p);
	BN_free(g->n);
	BN_free(g->n_minus_2);
	BN_free(g->p_minus_2);
	BN_free(g->a);
	BN_free(g->b);
	BN_free(g->z);
	BN_free(g->c1);
	BN_free(g->c2);
	BN_MONT_CTX_free(g->mont_p);
	BN_MONT_CTX_free(g->mont_n);
	OPENSSL_free(g);
}

int p384_ctx_new(struct p384_ctx **out)
{
	struct p384_ctx *g = NULL;
	BN_CTX *bn = NULL;
	BIGNUM *t = NULL;
	int rc = PP_ERR_NOMEM;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	g = OPENSSL_zalloc(sizeof(*g));
	bn = BN_CTX_new();
	t = BN_new();
	if (g == NULL || bn == NULL || t == NULL)
		goto cleanup;
	g->group = EC_GROUP_new_by_curve_name(NID_secp384r1);
	g->p = BN_new();
	g->n = BN_new();
	g->n_minus_2 = BN_new();
	g->p_minus_2 = BN_new();
	g->a = BN_new();
	g->b = BN_new();
	g->z = BN_new();
	g->c1 = BN_new();
	g->c2 = BN_new();
	g->mont_p = BN_MONT_CTX_new();
	g->mont_n = BN_MONT_CTX_new();
	if (g->group == NULL || g->p == NULL || g->n == NULL ||
	    g->n_minus_2 == NULL || g->p_minus_2 == NULL || g->a == NULL ||
	    g->b == NULL || g->z == NULL || g->c1 == NULL || g->c2 == NULL ||
	    g->mont_p == NULL || g->mont_n == NULL)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	if (EC_GROUP_get_curve(g->group, g->p, g->a, g->b, bn) != 1 ||
	    BN_copy(g->n, EC_GROUP_get0_order(g->group)) == NULL ||
	    BN_num_bytes(g->p) != P384_FIELD_LEN ||
	    BN_num_bytes(g->n) != P384_SCALAR_LEN)
		goto cleanup;
	BN_set_flags(g->p, BN_FLG_CONSTTIME);
	BN_set_flags(g->n, BN_FLG_CONSTTIME);
	if (BN_MONT_CTX_set(g->mont_p, g->p, bn) != 1 ||
	    BN_MONT_CTX_set(g->mont_n, g->n, bn) != 1 ||
	    BN_copy(g->n_minus_2, g->n) == NULL ||
	    BN_sub_word(g->n_minus_2, 2) != 1 ||
	    BN_copy(g->p_minus_2, g->p) == NULL ||
	    BN_sub_word(g->p_minus_2, 2) != 1 ||
	    /* Z = -12 */
	    BN_copy(g->z, g->p) == NULL || BN_sub_word(g->z, 12) != 1 ||
	    /* c1 = (p - 3) / 4 */
	    BN_copy(g->c1, g->p) == NULL || BN_sub_word(g->c1, 3) != 1 ||
	    BN_rshift(g->c1, g->c1, 2) != 1 ||
	    /* c2 = sqrt(-Z) = 12^((p + 1) / 4), checked below */
	    BN_copy(t, g->p) == NULL || BN_add_word(t, 1) != 1 ||
	    BN_rshift(t, t, 2) != 1 || BN_set_word(g->c2, 12) != 1 ||
	    BN_mod_exp_mont_consttime(g->c2, g->c2, t, g->p, bn,
				      g->mont_p) != 1 ||
	    BN_mod_sqr(t, g->c2, g->p, bn) != 1 || !BN_is_word(t, 12) ||
	    BN_bn2binpad(g->p, g->p_bytes, P384_FIELD_LEN) != P384_FIELD_LEN ||
	    BN_bn2binpad(g->n, g->n_bytes, P384_SCALAR_LEN) !=
		    P384_SCALAR_LEN)
		goto cleanup;
	*out = g;
	g = NULL;
	rc = 0;

cleanup:
	p384_ctx_free(g);
	BN_free(t);
	BN_CTX_free(bn);
	return rc;
}

const EC_GROUP *p384_ctx_group(const struct p384_ctx *g)
{
	return g->group;
}

EC_POINT *p384_point_new(const struct p384_ctx *g)
{
	return EC_POINT_new(g->group);
}

void p384_point_free(EC_POINT *p)
{
	EC_POINT_clear_free(p);
}

BIGNUM *p384_scalar_new(void)
{
	BIGNUM *s = BN_new();

	if (s != NULL)
		BN_set_flags(s, BN_FLG_CONSTTIME);
	return s;
}

void p384_scalar_free(BIGNUM *s)
{
	BN_clear_free(s);
}

/* ---- encodings ---- */

int p384_element_decode(const struct p384_ctx *g, const uint8_t *in,
			size_t in_len, EC_POINT *out, BN_CTX *bn)
{
	if (in == NULL || out == NULL)
		return PP_ERR_ARG;
	if (in_len != P384_ELEMENT_LEN)
		return PP_ERR_LENGTH;
	if (in[0] != 0x02 && in[0] != 0x03)
		return PP_ERR_ARG;
	if (!p384_bytes_lt(in + 1, g->p_bytes, P384_FIELD_LEN))
		return PP_ERR_ARG;
	/* oct2point decompresses: it fails when x^3 + ax + b has no root. */
	if (EC_POINT_oct2point(g->group, out, in, in_len, bn) != 1) {
		ERR_clear_error();
		return PP_ERR_ARG;
	}
	if (EC_POINT_is_at_infinity(g->group, out) ||
	    EC_POINT_is_on_curve(g->group, out, bn) != 1)
		return PP_ERR_ARG;
	return 0;
}

int p384_element_encode(const struct p384_ctx *g, const EC_POINT *p,
			uint8_t out[P384_ELEMENT_LEN], BN_CTX *bn)
{
	memset(out, 0, P384_ELEMENT_LEN);
	if (p == NULL)
		return PP_ERR_ARG;
	if (EC_POINT_is_at_infinity(g->group, p))
		return PP_ERR_ARG;
	if (EC_POINT_point2oct(g->group, p, POINT_CONVERSION_COMPRESSED, out,
			       P384_ELEMENT_LEN, bn) != P384_ELEMENT_LEN) {
		memset(out, 0, P384_ELEMENT_LEN);
		return PP_ERR_INTERNAL;
	}
	return 0;
}

int p384_point_to_affine(const struct p384_ctx *g, const EC_POINT *p,
			 uint8_t out[P384_AFFINE_LEN], BN_CTX *bn)
{
	BN_CTX *own = NULL;
	BIGNUM *x, *y;
	int rc = PP_ERR_NOMEM;

	memset(out, 0, P384_AFFINE_LEN);
	if (p == NULL)
		return PP_ERR_ARG;
	if (EC_POINT_is_at_infinity(g->group, p))
		return PP_ERR_ARG;
	if (bn == NULL && (own = bn = BN_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	BN_CTX_start(bn);
	x = BN_CTX_get(bn);
	y = BN_CTX_get(bn);
	if (y == NULL)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	if (EC_POINT_get_affine_coordinates(g->group, p, x, y, bn) != 1 ||
	    BN_bn2binpad(x, out, P384_FIELD_LEN) != P384_FIELD_LEN ||
	    BN_bn2binpad(y, out + P384_FIELD_LEN, P384_FIELD_LEN) !=
		    P384_FIELD_LEN) {
		memset(out, 0, P384_AFFINE_LEN);
		goto cleanup;
	}
	rc = 0;

cleanup:
	BN_CTX_end(bn);
	BN_CTX_free(own);
	return rc;
}

int p384_point_from_affine(const struct p384_ctx *g,
			   const uint8_t in[P384_AFFINE_LEN], EC_POINT *out,
			   BN_CTX *bn)
{
	BN_CTX *own = NULL;
	BIGNUM *x, *y;
	int rc = PP_ERR_NOMEM;

	if (in == NULL || out == NULL)
		return PP_ERR_ARG;
	if (!p384_bytes_lt(in, g->p_bytes, P384_FIELD_LEN) ||
	    !p384_bytes_lt(in + P384_FIELD_LEN, g->p_bytes, P384_FIELD_LEN))
		return PP_ERR_ARG;
	if (bn == NULL && (own = bn = BN_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	BN_CTX_start(bn);
	x = BN_CTX_get(bn);
	y = BN_CTX_get(bn);
	if (y == NULL || BN_bin2bn(in, P384_FIELD_LEN, x) == NULL ||
	    BN_bin2bn(in + P384_FIELD_LEN, P384_FIELD_LEN, y) == NULL)
		goto cleanup;
	/* set_affine_coordinates refuses points off the curve */
	rc = PP_ERR_ARG;
	if (EC_POINT_set_affine_coordinates(g->group, out, x, y, bn) != 1) {
		ERR_clear_error();
		goto cleanup;
	}
	if (EC_POINT_is_at_infinity(g->group, out) ||
	    EC_POINT_is_on_curve(g->group, out, bn) != 1)
		goto cleanup;
	rc = 0;

cleanup:
	BN_CTX_end(bn);
	BN_CTX_free(own);
	return rc;
}

static int scalar_decode(const struct p384_ctx *g, const uint8_t *in,
			 size_t in_len, BIGNUM *out, int nonzero)
{
	unsigned ok;

	if (in == NULL || out == NULL)
		return PP_ERR_ARG;
	if (in_len != P384_SCALAR_LEN)
		return PP_ERR_LENGTH;
	ok = p384_bytes_lt(in, g->n_bytes, P384_SCALAR_LEN);
	if (nonzero)
		ok &= 1u ^ bytes_zero(in, P384_SCALAR_LEN);
	if (!ok)
		return PP_ERR_ARG;
	BN_set_flags(out, BN_FLG_CONSTTIME);
	if (BN_bin2bn(in, (int)in_len, out) == NULL)
		return PP_ERR_NOMEM;
	return 0;
}

int p384_scalar_decode(const struct p384_ctx *g, const uint8_t *in,
		       size_t in_len, BIGNUM *out)
{
	return scalar_decode(g, in, in_len, out, 0);
}

int p384_scalar_decode_nonzero(const struct p384_ctx *g, const uint8_t *in,
			       size_t in_len, BIGNUM *out)
{
	return scalar_decode(g, in, in_len, out, 1);
}

/* Whether 0 <= s < n, without branching on the digits of s (only on its
 * sign and on whether it fits 48 bytes). */
static int scalar_in_range(const struct p384_ctx *g, const BIGNUM *s)
{
	uint8_t buf[P384_SCALAR_LEN];
	unsigned ok;

	if (s == NULL || BN_is_negative(s) ||
	    BN_bn2binpad(s, buf, sizeof(buf)) != (int)sizeof(buf))
		return 0;
	ok = p384_bytes_lt(buf, g->n_bytes, sizeof(buf));
	OPENSSL_cleanse(buf, sizeof(buf));
	return (int)ok;
}

int p384_scalar_encode(const struct p384_ctx *g, const BIGNUM *s,
		       uint8_t out[P384_SCALAR_LEN])
{
	memset(out, 0, P384_SCALAR_LEN);
	if (!scalar_in_range(g, s))
		return PP_ERR_ARG;
	if (BN_bn2binpad(s, out, P384_SCALAR_LEN) != P384_SCALAR_LEN) {
		OPENSSL_cleanse(out, P384_SCALAR_LEN);
		return PP_ERR_INTERNAL;
	}
	return 0;
}

/* ---- scalars ---- */

/* Runs f with the caller's BN_CTX or a fresh one. */
#define WITH_BN(bn, own)                                                   \
	do {                                                               \
		(own) = NULL;                                              \
		if ((bn) == NULL) {                                        \
			(own) = (bn) = BN_CTX_secure_new();                \
			if ((bn) == NULL)                                  \
				return PP_ERR_NOMEM;                       \
		}                                                          \
	} while (0)

int p384_scalar_random(const struct p384_ctx *g, BIGNUM *out, BN_CTX *bn)
{
	BN_CTX *own;
	int rc = PP_ERR_INTERNAL, tries;

	if (out == NULL)
		return PP_ERR_ARG;
	WITH_BN(bn, own);
	BN_set_flags(out, BN_FLG_CONSTTIME);
	/* Zero comes with probability 2^-384; a few tries are plenty. */
	for (tries = 0; tries < 8; tries++) {
		if (BN_priv_rand_range_ex(out, g->n, 0, bn) != 1)
			goto cleanup;
		if (!BN_is_zero(out)) {
			rc = 0;
			goto cleanup;
		}
	}

cleanup:
	if (rc != 0)
		BN_zero(out);
	BN_CTX_free(own);
	return rc;
}

int p384_scalar_invert(const struct p384_ctx *g, BIGNUM *out,
		       const BIGNUM *a, BN_CTX *bn)
{
	BN_CTX *own;
	int rc = PP_ERR_INTERNAL;

	if (out == NULL || !scalar_in_range(g, a) || BN_is_zero(a))
		return PP_ERR_ARG;
	WITH_BN(bn, own);
	BN_set_flags(out, BN_FLG_CONSTTIME);
	if (BN_mod_exp_mont_consttime(out, a, g->n_minus_2, g->n, bn,
				      g->mont_n) == 1)
		rc = 0;
	BN_CTX_free(own);
	return rc;
}

int p384_scalar_add(const struct p384_ctx *g, BIGNUM *out, const BIGNUM *a,
		    const BIGNUM *b, BN_CTX *bn)
{
	(void)bn;
	if (out == NULL || !scalar_in_range(g, a) || !scalar_in_range(g, b))
		return PP_ERR_ARG;
	BN_set_flags(out, BN_FLG_CONSTTIME);
	/* fixed-width add and conditional subtract, no branch on values */
	return BN_mod_add_quick(out, a, b, g->n) == 1 ? 0 : PP_ERR_INTERNAL;
}

int p384_scalar_sub(const struct p384_ctx *g, BIGNUM *out, const BIGNUM *a,
		    const BIGNUM *b, BN_CTX *bn)
{
	BN_CTX *own;
	BIGNUM *t;
	int rc = PP_ERR_INTERNAL;

	if (out == NULL || !scalar_in_range(g, a) || !scalar_in_range(g, b))
		return PP_ERR_ARG;
	WITH_BN(bn, own);
	BN_CTX_start(bn);
	t = BN_CTX_get(bn);
	if (t == NULL)
		goto cleanup;
	BN_set_flags(t, BN_FLG_CONSTTIME);
	BN_set_flags(out, BN_FLG_CONSTTIME);
	/* a - b = a + (n - b): n - b is in [1, n] and a + (n - b) < 2n, which
	 * the fixed-width add-and-select of BN_mod_add_quick reduces without
	 * branching on whether a < b (BN_mod_sub would). */
	if (BN_sub(t, g->n, b) != 1 || BN_mod_add_quick(out, a, t, g->n) != 1)
		goto cleanup;
	rc = 0;

cleanup:
	if (t != NULL)
		BN_clear(t);
	BN_CTX_end(bn);
	BN_CTX_free(own);
	return rc;
}

int p384_scalar_mul(const struct p384_ctx *g, BIGNUM *out, const BIGNUM *a,
		    const BIGNUM *b, BN_CTX *bn)
{
	BN_CTX *own;
	int rc = PP_ERR_INTERNAL;

	if (out == NULL || !scalar_in_range(g, a) || !scalar_in_range(g, b))
		return PP_ERR_ARG;
	WITH_BN(bn, own);
	BN_set_flags(out, BN_FLG_CONSTTIME);
	/* n carries BN_FLG_CONSTTIME, so the reduction takes BN_div's
	 * fixed-top path. */
	if (BN_mod_mul(out, a, b, g->n, bn) == 1)
		rc = 0;
	BN_CTX_free(own);
	return rc;
}

/* ---- elements ---- */

int p384_point_mul(const struct p384_ctx *g, EC_POINT *out, const BIGNUM *k,
		   const EC_POINT *p, BN_CTX *bn)
{
	BN_CTX *own;
	int rc = PP_ERR_INTERNAL;

	if (out == NULL || p == NULL || !scalar_in_range(g, k))
		return PP_ERR_ARG;
	WITH_BN(bn, own);
	/* One point, no generator term: OpenSSL takes the ladder. */
	if (EC_POINT_mul(g->group, out, NULL, p, k, bn) == 1)
		rc = 0;
	BN_CTX_free(own);
	return rc;
}

int p384_point_mul_base(const struct p384_ctx *g, EC_POINT *out,
			const BIGNUM *k, BN_CTX *bn)
{
	BN_CTX *own;
	int rc = PP_ERR_INTERNAL;

	if (out == NULL || !scalar_in_range(g, k))
		return PP_ERR_ARG;
	WITH_BN(bn, own);
	if (EC_POINT_mul(g->group, out, k, NULL, NULL, bn) == 1)
		rc = 0;
	BN_CTX_free(own);
	return rc;
}

int p384_point_add(const struct p384_ctx *g, EC_POINT *out,
		   const EC_POINT *a, const EC_POINT *b, BN_CTX *bn)
{
	if (out == NULL || a == NULL || b == NULL)
		return PP_ERR_ARG;
	return EC_POINT_add(g->group, out, a, b, bn) == 1 ? 0
							    : PP_ERR_INTERNAL;
}

int p384_point_equal(const struct p384_ctx *g, const EC_POINT *a,
		     const EC_POINT *b, BN_CTX *bn)
{
	int r;

	if (a == NULL || b == NULL)
		return PP_ERR_ARG;
	r = EC_POINT_cmp(g->group, a, b, bn);
	if (r < 0)
		return PP_ERR_INTERNAL;
	return r == 0;
}

/* ---- byte-level shortcuts ---- */

int p384_element_mul_bytes(const struct p384_ctx *g, const uint8_t *k,
			   size_t k_len, const uint8_t *in, size_t in_len,
			   uint8_t out[P384_ELEMENT_LEN], BN_CTX *bn)
{
	BN_CTX *own;
	BIGNUM *s = p384_scalar_new();
	EC_POINT *p = p384_point_new(g);
	int rc = PP_ERR_NOMEM;

	memset(out, 0, P384_ELEMENT_LEN);
	own = NULL;
	if (bn == NULL)
		own = bn = BN_CTX_secure_new();
	if (s == NULL || p == NULL || bn == NULL)
		goto cleanup;
	if ((rc = p384_scalar_decode_nonzero(g, k, k_len, s)) != 0 ||
	    (rc = p384_element_decode(g, in, in_len, p, bn)) != 0 ||
	    (rc = p384_point_mul(g, p, s, p, bn)) != 0 ||
	    (rc = p384_element_encode(g, p, out, bn)) != 0)
		goto cleanup;

cleanup:
	p384_scalar_free(s);
	p384_point_free(p);
	BN_CTX_free(own);
	return rc;
}
