/* hash_to_curve P384_XMD:SHA-384_SSWU_RO_ (RFC 9380 sections 5, 6.6.2 and
 * appendix F.2) and HashToScalar for P384-SHA384 (RFC 9497 section 4.4).
 *
 * The map is the straight-line simplified SWU of appendix F.2 with the
 * sqrt_ratio of F.2.1.2 (p = 3 mod 4): no branch depends on u; choices
 * are conditional moves over fixed-width byte strings. P-384 needs no
 * isogeny (A != 0) and its cofactor is 1. */
#include "crypto/p384.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto/p384_int.h"
#include "base/pp_err.h"
#include "crypto/xmd.h"

#define H2F_L 72 /* ceil((ceil(log2(p)) + k) / 8), k = 192 */

/* ---- field arithmetic mod p over BIGNUM ---- */

struct fe_env {
	const struct p384_ctx *g;
	BN_CTX *bn;
	BIGNUM *t;    /* scratch for fe_sub */
	BIGNUM *zero;
};

static int fe_mul(struct fe_env *e, BIGNUM *r, const BIGNUM *a,
		  const BIGNUM *b)
{
	return BN_mod_mul(r, a, b, e->g->p, e->bn) == 1;
}

static int fe_sqr(struct fe_env *e, BIGNUM *r, const BIGNUM *a)
{
	return BN_mod_sqr(r, a, e->g->p, e->bn) == 1;
}

static int fe_add(struct fe_env *e, BIGNUM *r, const BIGNUM *a,
		  const BIGNUM *b)
{
	return BN_mod_add_quick(r, a, b, e->g->p) == 1;
}

/* r = a - b = a + (p - b); p - b is in [1, p], a + (p - b) < 2p, reduced by
 * the fixed-width select of BN_mod_add_quick. */
static int fe_sub(struct fe_env *e, BIGNUM *r, const BIGNUM *a,
		  const BIGNUM *b)
{
	return BN_sub(e->t, e->g->p, b) == 1 &&
	       BN_mod_add_quick(r, a, e->t, e->g->p) == 1;
}

static int fe_neg(struct fe_env *e, BIGNUM *r, const BIGNUM *a)
{
	return fe_sub(e, r, e->zero, a);
}

static int fe_pow(struct fe_env *e, BIGNUM *r, const BIGNUM *a,
		  const BIGNUM *x)
{
	return BN_mod_exp_mont_consttime(r, a, x, e->g->p, e->bn,
					 e->g->mont_p) == 1;
}

/* r = c ? b : a, over 48-byte fixed-width forms. r may alias a or b. */
static int fe_cmov(BIGNUM *r, const BIGNUM *a, const BIGNUM *b, unsigned c)
{
	uint8_t x[P384_FIELD_LEN], y[P384_FIELD_LEN];
	uint8_t m = (uint8_t)(0u - (c & 1u));
	size_t i;
	int ok;

	ok = BN_bn2binpad(a, x, sizeof(x)) == (int)sizeof(x) &&
	     BN_bn2binpad(b, y, sizeof(y)) == (int)sizeof(y);
	for (i = 0; i < sizeof(x); i++)
		x[i] = (uint8_t)(x[i] ^ (m & (x[i] ^ y[i])));
	ok = ok && BN_bin2bn(x, sizeof(x), r) != NULL;
	OPENSSL_cleanse(x, sizeof(x));
	OPENSSL_cleanse(y, sizeof(y));
	return ok;
}

/* a == b as field elements (both reduced): 1 or 0, or -1 on failure. */
static int fe_eq(const BIGNUM *a, const BIGNUM *b)
{
	uint8_t x[P384_FIELD_LEN], y[P384_FIELD_LEN];
	int r = -1;

	if (BN_bn2binpad(a, x, sizeof(x)) == (int)sizeof(x) &&
	    BN_bn2binpad(b, y, sizeof(y)) == (int)sizeof(y))
		r = CRYPTO_memcmp(x, y, sizeof(x)) == 0;
	return r;
}

/* sgn0 for m = 1 (RFC 9380 4.1): the parity of the reduced value. */
static unsigned fe_sgn0(const BIGNUM *a)
{
	return (unsigned)BN_is_odd(a);
}

/* ---- simplified SWU (RFC 9380 F.2, sqrt_ratio F.2.1.2) ---- */

/* (is_qr, y) = sqrt_ratio(u, v): y = sqrt(u / v) when u / v is square,
 * else sqrt(Z * u / v). */
static int sqrt_ratio(struct fe_env *e, int *is_qr, BIGNUM *y,
		      const BIGNUM *u, const BIGNUM *v, BIGNUM *tv1,
		      BIGNUM *tv2, BIGNUM *tv3)
{
	const struct p384_ctx *g = e->g;
	int qr;

	if (!fe_sqr(e, tv1, v) ||            /* 1. tv1 = v^2 */
	    !fe_mul(e, tv2, u, v) ||         /* 2. tv2 = u * v */
	    !fe_mul(e, tv1, tv1, tv2) ||     /* 3. tv1 = tv1 * tv2 */
	    !fe_pow(e, y, tv1, g->c1) ||     /* 4. y1 = tv1^c1 */
	    !fe_mul(e, y, y, tv2) ||         /* 5. y1 = y1 * tv2 */
	    !fe_mul(e, tv1, y, g->c2) ||     /* 6. y2 = y1 * c2 (in tv1) */
	    !fe_sqr(e, tv3, y) ||            /* 7. tv3 = y1^2 */
	    !fe_mul(e, tv3, tv3, v))         /* 8. tv3 = tv3 * v */
		return 0;
	qr = fe_eq(tv3, u);                  /* 9. isQR = tv3 == u */
	if (qr < 0 || !fe_cmov(y, tv1, y, (unsigned)qr)) /* 10. y = CMOV */
		return 0;
	*is_qr = qr;
	return 1;
}

static int map_to_curve_bn(const struct p384_ctx *g, const BIGNUM *u,
			   EC_POINT *out, BN_CTX *bn)
{
	struct fe_env e = { g, bn, NULL, NULL };
	BIGNUM *tv1, *tv2, *tv3, *tv4, *tv5, *tv6, *x, *y, *s1, *s2, *s3;
	int rc = PP_ERR_INTERNAL, is_qr = 0, is0;
	unsigned e1;

	BN_CTX_start(bn);
	e.t = BN_CTX_get(bn);
	e.zero = BN_CTX_get(bn);
	tv1 = BN_CTX_get(bn);
	tv2 = BN_CTX_get(bn);
	tv3 = BN_CTX_get(bn);
	tv4 = BN_CTX_get(bn);
	tv5 = BN_CTX_get(bn);
	tv6 = BN_CTX_get(bn);
	x = BN_CTX_get(bn);
	y = BN_CTX_get(bn);
	s1 = BN_CTX_get(bn);
	s2 = BN_CTX_get(bn);
	s3 = BN_CTX_get(bn);
	if (s3 == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	BN_zero(e.zero);
	if (!fe_sqr(&e, tv1, u) ||              /* 1. tv1 = u^2 */
	    !fe_mul(&e, tv1, g->z, tv1) ||      /* 2. tv1 = Z * tv1 */
	    !fe_sqr(&e, tv2, tv1) ||            /* 3. tv2 = tv1^2 */
	    !fe_add(&e, tv2, tv2, tv1) ||       /* 4. tv2 = tv2 + tv1 */
	    !BN_one(s1) ||
	    !fe_add(&e, tv3, tv2, s1) ||        /* 5. tv3 = tv2 + 1 */
	    !fe_mul(&e, tv3, g->b, tv3) ||      /* 6. tv3 = B * tv3 */
	    !fe_neg(&e, tv4, tv2))              /* 7. tv4 = CMOV(Z, -tv2, */
		goto cleanup;
	is0 = fe_eq(tv2, e.zero);               /*        tv2 != 0) */
	if (is0 < 0 || !fe_cmov(tv4, g->z, tv4, (unsigned)(1 - is0)))
		goto cleanup;
	if (!fe_mul(&e, tv4, g->a, tv4) ||      /* 8. tv4 = A * tv4 */
	    !fe_sqr(&e, tv2, tv3) ||            /* 9. tv2 = tv3^2 */
	    !fe_sqr(&e, tv6, tv4) ||            /* 10. tv6 = tv4^2 */
	    !fe_mul(&e, tv5, g->a, tv6) ||      /* 11. tv5 = A * tv6 */
	    !fe_add(&e, tv2, tv2, tv5) ||       /* 12. tv2 = tv2 + tv5 */
	    !fe_mul(&e, tv2, tv2, tv3) ||       /* 13. tv2 = tv2 * tv3 */
	    !fe_mul(&e, tv6, tv6, tv4) ||       /* 14. tv6 = tv6 * tv4 */
	    !fe_mul(&e, tv5, g->b, tv6) ||      /* 15. tv5 = B * tv6 */
	    !fe_add(&e, tv2, tv2, tv5) ||       /* 16. tv2 = tv2 + tv5 */
	    !fe_mul(&e, x, tv1, tv3) ||         /* 17. x = tv1 * tv3 */
	    /* 18. (is_gx1_square, y1) = sqrt_ratio(tv2, tv6), y1 in s1 */
	    !sqrt_ratio(&e, &is_qr, s1, tv2, tv6, s2, s3, tv5) ||
	    !fe_mul(&e, y, tv1, u) ||           /* 19. y = tv1 * u */
	    !fe_mul(&e, y, y, s1) ||            /* 20. y = y * y1 */
	    /* 21. x = CMOV(x, tv3, is_gx1_square) */
	    !fe_cmov(x, x, tv3, (unsigned)is_qr) ||
	    /* 22. y = CMOV(y, y1, is_gx1_square) */
	    !fe_cmov(y, y, s1, (unsigned)is_qr))
		goto cleanup;
	/* 23. e1 = sgn0(u) == sgn0(y); 24. y = CMOV(-y, y, e1) */
	e1 = 1u ^ (fe_sgn0(u) ^ fe_sgn0(y));
	if (!fe_neg(&e, s2, y) || !fe_cmov(y, s2, y, e1) ||
	    /* 25. x = x / tv4 (tv4 != 0: A != 0 and Z * (Z - 1) != 0) */
	    !fe_pow(&e, s3, tv4, g->p_minus_2) || !fe_mul(&e, x, x, s3))
		goto cleanup;
	/* set_affine_coordinates also checks that (x, y) is on the curve. */
	if (EC_POINT_set_affine_coordinates(g->group, out, x, y, bn) != 1)
		goto cleanup;
	rc = 0;

cleanup:
	BN_CTX_end(bn);
	return rc;
}

int p384_map_to_curve(const struct p384_ctx *g,
		      const uint8_t u[P384_FIELD_LEN], EC_POINT *out,
		      BN_CTX *bn)
{
	BN_CTX *own = NULL;
	BIGNUM *ub;
	int rc = PP_ERR_NOMEM;

	if (u == NULL || out == NULL)
		return PP_ERR_ARG;
	if (!p384_bytes_lt(u, g->p_bytes, P384_FIELD_LEN))
		return PP_ERR_ARG;
	if (bn == NULL && (own = bn = BN_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	BN_CTX_start(bn);
	ub = BN_CTX_get(bn);
	if (ub == NULL || BN_bin2bn(u, P384_FIELD_LEN, ub) == NULL)
		goto cleanup;
	rc = map_to_curve_bn(g, ub, out, bn);

cleanup:
	BN_CTX_end(bn);
	BN_CTX_free(own);
	return rc;
}

/* ---- hash_to_field ---- */

/* count elements of Z/mZ from msg: each is L = 72 bytes of
 * expand_message_xmd(SHA-384) reduced mod m (a BN_FLG_CONSTTIME modulus). */
static int hash_to_field_bn(const uint8_t *msg, size_t msg_len,
			    const uint8_t *dst, size_t dst_len,
			    const BIGNUM *m, BIGNUM **outs, size_t count,
			    BN_CTX *bn)
{
	uint8_t buf[2 * H2F_L];
	size_t i;
	int rc;

	if (count > 2)
		return PP_ERR_ARG;
	rc = xmd_expand(EVP_sha384(), msg, msg_len, dst, dst_len, buf,
			count * H2F_L);
	for (i = 0; rc == 0 && i < count; i++) {
		BN_set_flags(outs[i], BN_FLG_CONSTTIME);
		if (BN_bin2bn(buf + i * H2F_L, H2F_L, outs[i]) == NULL ||
		    BN_nnmod(outs[i], outs[i], m, bn) != 1)
			rc = PP_ERR_INTERNAL;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int p384_hash_to_field(const struct p384_ctx *g, const uint8_t *msg,
		       size_t msg_len, const uint8_t *dst, size_t dst_len,
		       uint8_t u0[P384_FIELD_LEN], uint8_t u1[P384_FIELD_LEN],
		       BN_CTX *bn)
{
	BN_CTX *own = NULL;
	BIGNUM *u[2];
	int rc = PP_ERR_NOMEM;

	memset(u0, 0, P384_FIELD_LEN);
	memset(u1, 0, P384_FIELD_LEN);
	if (bn == NULL && (own = bn = BN_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	BN_CTX_start(bn);
	u[0] = BN_CTX_get(bn);
	u[1] = BN_CTX_get(bn);
	if (u[1] == NULL)
		goto cleanup;
	rc = hash_to_field_bn(msg, msg_len, dst, dst_len, g->p, u, 2, bn);
	if (rc == 0 &&
	    (BN_bn2binpad(u[0], u0, P384_FIELD_LEN) != P384_FIELD_LEN ||
	     BN_bn2binpad(u[1], u1, P384_FIELD_LEN) != P384_FIELD_LEN))
		rc = PP_ERR_INTERNAL;
	if (rc != 0) {
		memset(u0, 0, P384_FIELD_LEN);
		memset(u1, 0, P384_FIELD_LEN);
	}

cleanup:
	BN_CTX_end(bn);
	BN_CTX_free(own);
	return rc;
}

int p384_hash_to_curve(const struct p384_ctx *g, const uint8_t *msg,
		       size_t msg_len, const uint8_t *dst, size_t dst_len,
		       EC_POINT *out, BN_CTX *bn)
{
	BN_CTX *own = NULL;
	EC_POINT *q1 = NULL;
	BIGNUM *u[2];
	int rc = PP_ERR_NOMEM;

	if (out == NULL)
		return PP_ERR_ARG;
	if (bn == NULL && (own = bn = BN_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	BN_CTX_start(bn);
	u[0] = BN_CTX_get(bn);
	u[1] = BN_CTX_get(bn);
	q1 = EC_POINT_new(g->group);
	if (u[1] == NULL || q1 == NULL)
		goto cleanup;
	/* u = hash_to_field(msg, 2); Q0 = map(u0); Q1 = map(u1);
	 * P = clear_cofactor(Q0 + Q1) = Q0 + Q1 (h = 1) */
	if ((rc = hash_to_field_bn(msg, msg_len, dst, dst_len, g->p, u, 2,
				   bn)) != 0 ||
	    (rc = map_to_curve_bn(g, u[0], out, bn)) != 0 ||
	    (rc = map_to_curve_bn(g, u[1], q1, bn)) != 0)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	if (EC_POINT_add(g->group, out, out, q1, bn) != 1)
		goto cleanup;
	rc = EC_POINT_is_at_infinity(g->group, out) ? PP_ERR_ARG : 0;

cleanup:
	EC_POINT_free(q1);
	BN_CTX_end(bn);
	BN_CTX_free(own);
	return rc;
}

int p384_hash_to_scalar(const struct p384_ctx *g, const uint8_t *msg,
			size_t msg_len, const uint8_t *dst, size_t dst_len,
			BIGNUM *out, BN_CTX *bn)
{
	BN_CTX *own = NULL;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	if (bn == NULL && (own = bn = BN_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	rc = hash_to_field_bn(msg, msg_len, dst, dst_len, g->n, &out, 1, bn);
	if (rc != 0)
		BN_zero(out);
	BN_CTX_free(own);
	return rc;
}

int p384_hash_to_curve_bytes(const struct p384_ctx *g, const uint8_t *msg,
			     size_t msg_len, const uint8_t *dst,
			     size_t dst_len, uint8_t out[P384_ELEMENT_LEN],
			     BN_CTX *bn)
{
	BN_CTX *own = NULL;
	EC_POINT *p = NULL;
	int rc = PP_ERR_NOMEM;

	memset(out, 0, P384_ELEMENT_LEN);
	if (bn == NULL && (own = bn = BN_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	p = EC_POINT_new(g->group);
	if (p == NULL)
		goto cleanup;
	if ((rc = p384_hash_to_curve(g, msg, msg_len, dst, dst_len, p,
				     bn)) == 0)
		rc = p384_element_encode(g, p, out, bn);

cleanup:
	EC_POINT_free(p);
	BN_CTX_free(own);
	return rc;
}
