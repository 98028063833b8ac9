/* P-384 with SHA-384 for RFC 9497 (section 4.4), wrapping crypto/p384.h.
 *
 * Values: an element is kept as 0x04 || x || y (p384.h's affine form
 * behind a marker byte; a zeroed struct is the identity), so that encoding to
 * the 49-byte compressed wire form needs no arithmetic and turning it back
 * into an EC_POINT needs no square root. A scalar is its 48-byte
 * big-endian encoding (< n). Each operation makes its own EC_POINT,
 * BIGNUM and BN_CTX handles and frees them (scalars wiped) before it
 * returns: the cost is small beside a P-384 scalar multiplication.
 *
 * The curve constants (struct p384_ctx) are made once, on first use, and
 * kept for the life of the process: an immutable table like the group
 * tables themselves, shared read-only by all threads. */
#include "grp.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "p384.h"
#include "base/pp_err.h"

#define P384_UNCOMPRESSED (1 + 2 * P384_FIELD_LEN)

static CRYPTO_ONCE p384_once = CRYPTO_ONCE_STATIC_INIT;
static struct p384_ctx *p384_shared;

static void p384_shared_init(void)
{
	if (p384_ctx_new(&p384_shared) != 0)
		p384_shared = NULL;
}

static const struct p384_ctx *ctx(void)
{
	if (!CRYPTO_THREAD_run_once(&p384_once, p384_shared_init))
		return NULL;
	return p384_shared;
}

/* Maps p384.h's "invalid value" to the group contract's code. */
static int value_rc(int rc)
{
	return rc == PP_ERR_ARG ? PP_ERR_MSG_RANGE : rc;
}

/* Per-operation handles: a BN_CTX, two points and two scalars. */
struct op {
	const struct p384_ctx *c;
	BN_CTX *bn;
	EC_POINT *p, *q;
	BIGNUM *s, *t;
};

static int op_begin(struct op *o)
{
	memset(o, 0, sizeof(*o));
	if ((o->c = ctx()) == NULL)
		return PP_ERR_INTERNAL;
	o->bn = BN_CTX_new();
	o->p = p384_point_new(o->c);
	o->q = p384_point_new(o->c);
	o->s = p384_scalar_new();
	o->t = p384_scalar_new();
	if (o->bn == NULL || o->p == NULL || o->q == NULL || o->s == NULL ||
	    o->t == NULL)
		return PP_ERR_NOMEM;
	return 0;
}

static void op_end(struct op *o)
{
	p384_point_free(o->p);
	p384_point_free(o->q);
	p384_scalar_free(o->s);
	p384_scalar_free(o->t);
	BN_CTX_free(o->bn);
	ERR_clear_error();
}

static int elem_get(struct op *o, const struct grp_elem *e, EC_POINT *out)
{
	if (e->v[0] != 0x04)
		return PP_ERR_MSG_RANGE; /* the identity */
	return value_rc(p384_point_from_affine(o->c, e->v + 1, out, o->bn));
}

static int elem_put(struct op *o, const EC_POINT *p, struct grp_elem *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = value_rc(p384_point_to_affine(o->c, p, out->v + 1,
						o->bn))) != 0) {
		memset(out, 0, sizeof(*out));
		return rc; /* PP_ERR_MSG_RANGE for the identity */
	}
	out->v[0] = 0x04;
	return 0;
}

static int scalar_get(struct op *o, const struct grp_scalar *s, BIGNUM *out)
{
	return value_rc(p384_scalar_decode(o->c, s->v, P384_SCALAR_LEN, out));
}

static int scalar_put(struct op *o, const BIGNUM *s, struct grp_scalar *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = p384_scalar_encode(o->c, s, out->v)) != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

static int p384g_elem_decode(struct grp_elem *out, const uint8_t *in,
			     size_t len)
{
	struct op o;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len != P384_ELEMENT_LEN)
		return PP_ERR_LENGTH;
	if ((rc = op_begin(&o)) == 0 &&
	    (rc = value_rc(p384_element_decode(o.c, in, len, o.p,
					       o.bn))) == 0)
		rc = elem_put(&o, o.p, out);
	op_end(&o);
	return rc;
}

/* Compressed form from the uncompressed one: 0x02 | (y & 1) || x. */
static void p384g_elem_encode(const struct grp_elem *e, uint8_t *out)
{
	if (e->v[0] != 0x04) {
		memset(out, 0, P384_ELEMENT_LEN); /* the identity: never here */
		return;
	}
	out[0] = (uint8_t)(0x02 | (e->v[P384_UNCOMPRESSED - 1] & 1));
	memcpy(out + 1, e->v + 1, P384_FIELD_LEN);
}

static int p384g_scalar_decode(struct grp_scalar *out, const uint8_t *in,
			       size_t len)
{
	struct op o;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len != P384_SCALAR_LEN)
		return PP_ERR_LENGTH;
	if ((rc = op_begin(&o)) == 0 &&
	    (rc = value_rc(p384_scalar_decode_nonzero(o.c, in, len,
						      o.s))) == 0)
		memcpy(out->v, in, P384_SCALAR_LEN);
	op_end(&o);
	return rc;
}

static void p384g_scalar_encode(const struct grp_scalar *s, uint8_t *out)
{
	memcpy(out, s->v, P384_SCALAR_LEN);
}

static int p384g_scalar_random(struct grp_scalar *out)
{
	struct op o;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = op_begin(&o)) == 0 &&
	    (rc = p384_scalar_random(o.c, o.s, o.bn)) == 0)
		rc = scalar_put(&o, o.s, out);
	op_end(&o);
	return rc;
}

static int p384g_scalar_inv(struct grp_scalar *out, const struct grp_scalar *a)
{
	struct op o;
	int rc;

	if ((rc = op_begin(&o)) == 0 && (rc = scalar_get(&o, a, o.s)) == 0 &&
	    (rc = value_rc(p384_scalar_invert(o.c, o.t, o.s, o.bn))) == 0)
		rc = scalar_put(&o, o.t, out);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	op_end(&o);
	return rc;
}

enum scalar_op { SC_ADD, SC_SUB, SC_MUL };

static int scalar_arith(enum scalar_op which, struct grp_scalar *out,
			const struct grp_scalar *a, const struct grp_scalar *b)
{
	struct op o;
	int rc;

	if ((rc = op_begin(&o)) != 0 || (rc = scalar_get(&o, a, o.s)) != 0 ||
	    (rc = scalar_get(&o, b, o.t)) != 0)
		goto cleanup;
	if (which == SC_ADD)
		rc = p384_scalar_add(o.c, o.s, o.s, o.t, o.bn);
	else if (which == SC_SUB)
		rc = p384_scalar_sub(o.c, o.s, o.s, o.t, o.bn);
	else
		rc = p384_scalar_mul(o.c, o.s, o.s, o.t, o.bn);
	if (rc == 0)
		rc = scalar_put(&o, o.s, out);
cleanup:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	op_end(&o);
	return rc;
}

static int p384g_scalar_add(struct grp_scalar *out, const struct grp_scalar *a,
			    const struct grp_scalar *b)
{
	return scalar_arith(SC_ADD, out, a, b);
}

static int p384g_scalar_sub(struct grp_scalar *out, const struct grp_scalar *a,
			    const struct grp_scalar *b)
{
	return scalar_arith(SC_SUB, out, a, b);
}

static int p384g_scalar_mul(struct grp_scalar *out, const struct grp_scalar *a,
			    const struct grp_scalar *b)
{
	return scalar_arith(SC_MUL, out, a, b);
}

/* out = s * e, or s * G when e is NULL. */
static int mul(struct grp_elem *out, const struct grp_scalar *s,
	       const struct grp_elem *e)
{
	struct op o;
	int rc;

	if ((rc = op_begin(&o)) != 0 || (rc = scalar_get(&o, s, o.s)) != 0)
		goto cleanup;
	if (e != NULL) {
		if ((rc = elem_get(&o, e, o.p)) != 0 ||
		    (rc = p384_point_mul(o.c, o.q, o.s, o.p, o.bn)) != 0)
			goto cleanup;
	} else if ((rc = p384_point_mul_base(o.c, o.q, o.s, o.bn)) != 0) {
		goto cleanup;
	}
	rc = elem_put(&o, o.q, out);
cleanup:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	op_end(&o);
	return rc;
}

static int p384g_elem_mul(struct grp_elem *out, const struct grp_scalar *s,
			  const struct grp_elem *e)
{
	return mul(out, s, e);
}

static int p384g_elem_mul_gen(struct grp_elem *out, const struct grp_scalar *s)
{
	return mul(out, s, NULL);
}

static int p384g_elem_add(struct grp_elem *out, const struct grp_elem *a,
			  const struct grp_elem *b)
{
	struct op o;
	int rc;

	if ((rc = op_begin(&o)) == 0 && (rc = elem_get(&o, a, o.p)) == 0 &&
	    (rc = elem_get(&o, b, o.q)) == 0 &&
	    (rc = p384_point_add(o.c, o.p, o.p, o.q, o.bn)) == 0)
		rc = elem_put(&o, o.p, out);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	op_end(&o);
	return rc;
}

static int p384g_hash_to_group(struct grp_elem *out, const uint8_t *msg,
			       size_t msg_len, const uint8_t *dst,
			       size_t dst_len)
{
	struct op o;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = op_begin(&o)) == 0 &&
	    (rc = value_rc(p384_hash_to_curve(o.c, msg, msg_len, dst, dst_len,
					      o.p, o.bn))) == 0)
		rc = elem_put(&o, o.p, out);
	op_end(&o);
	return rc;
}

static int p384g_hash_to_scalar(struct grp_scalar *out, const uint8_t *msg,
				size_t msg_len, const uint8_t *dst,
				size_t dst_len)
{
	struct op o;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = op_begin(&o)) == 0 &&
	    (rc = p384_hash_to_scalar(o.c, msg, msg_len, dst, dst_len, o.s,
				      o.bn)) == 0)
		rc = scalar_put(&o, o.s, out);
	op_end(&o);
	return rc;
}

static int p384g_scalar_is_zero(const struct grp_scalar *s)
{
	unsigned acc = 0;
	size_t i;

	for (i = 0; i < P384_SCALAR_LEN; i++)
		acc |= s->v[i];
	return (int)((acc - 1U) >> 31);
}

static int p384g_elem_is_identity(const struct grp_elem *e)
{
	return e->v[0] != 0x04;
}

const struct grp_impl grp_p384 = {
	.id = "P384-SHA384",
	.ne = P384_ELEMENT_LEN,
	.ns = P384_SCALAR_LEN,
	.nh = 48,
	.md = EVP_sha384,
	.elem_decode = p384g_elem_decode,
	.elem_encode = p384g_elem_encode,
	.scalar_decode = p384g_scalar_decode,
	.scalar_encode = p384g_scalar_encode,
	.scalar_random = p384g_scalar_random,
	.scalar_inv = p384g_scalar_inv,
	.scalar_add = p384g_scalar_add,
	.scalar_sub = p384g_scalar_sub,
	.scalar_mul = p384g_scalar_mul,
	.elem_mul = p384g_elem_mul,
	.elem_mul_gen = p384g_elem_mul_gen,
	.elem_add = p384g_elem_add,
	.hash_to_group = p384g_hash_to_group,
	.hash_to_scalar = p384g_hash_to_scalar,
	.scalar_is_zero = p384g_scalar_is_zero,
	.elem_is_identity = p384g_elem_is_identity,
};
