/* RFC 9497 section 2.2: the DLEQ proof (GenerateProof, VerifyProof) with
 * ComputeCompositesFast on the issuer and ComputeComposites on the client,
 * and the transcripts and DSTs they hash. Both loops stream over the batch:
 * each element is decoded, used and dropped, so nothing is allocated
 * whatever n is. */
#include "voprf_int.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/pp_err.h"
#include "voprf.h"

/* Room for the largest transcripts (P-384: Ne 49, Nh 48; SHA-512: 64). */
#define COMPOSITE_MAX (2 + GRP_MAX_NH + 2 + 2 * (2 + GRP_MAX_NE) + 9)
#define CHALLENGE_MAX (5 * (2 + GRP_MAX_NE) + 9)

static uint8_t *put_u16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* I2OSP(len, 2) || data */
static uint8_t *put_lv(uint8_t *p, const uint8_t *data, size_t len)
{
	p = put_u16(p, len);
	memcpy(p, data, len);
	return p + len;
}

static uint8_t *put_str(uint8_t *p, const char *s)
{
	size_t len = strlen(s);

	memcpy(p, s, len);
	return p + len;
}

size_t voprf_dst(const struct grp_impl *g, const char *prefix,
		 uint8_t out[VOPRF_DST_MAX])
{
	size_t plen = strlen(prefix), ilen = strlen(g->id);
	uint8_t *p = out;

	if (plen + 9 + ilen > VOPRF_DST_MAX)
		abort(); /* the group ids and prefixes are constants */
	p = put_str(p, prefix);
	p = put_str(p, "OPRFV1-");
	*p++ = VOPRF_MODE;
	*p++ = '-';
	p = put_str(p, g->id);
	return (size_t)(p - out);
}

int voprf_composite_seed(const struct grp_impl *g, const uint8_t *pk_enc,
			 uint8_t seed[GRP_MAX_NH])
{
	uint8_t dst[VOPRF_DST_MAX], buf[2 + GRP_MAX_NE + 2 + VOPRF_DST_MAX];
	size_t dst_len = voprf_dst(g, "Seed-", dst);
	uint8_t *p = buf;
	unsigned int len = 0;

	memset(seed, 0, GRP_MAX_NH);
	p = put_lv(p, pk_enc, g->ne);
	p = put_lv(p, dst, dst_len);
	if (EVP_Digest(buf, (size_t)(p - buf), seed, &len, g->md(), NULL) != 1
	    || len != g->nh) {
		memset(seed, 0, GRP_MAX_NH);
		return PP_ERR_INTERNAL;
	}
	return 0;
}

/* d_i = HashToScalar(I2OSP(Nh, 2) || seed || I2OSP(i, 2) || I2OSP(Ne, 2) ||
 * C_i || I2OSP(Ne, 2) || D_i || "Composite"). */
static int composite_scalar(const struct grp_impl *g, const uint8_t *seed,
			    size_t i, const uint8_t *ci, const uint8_t *di_enc,
			    const uint8_t *dst, size_t dst_len,
			    struct grp_scalar *out)
{
	uint8_t buf[COMPOSITE_MAX];
	uint8_t *p = buf;

	p = put_lv(p, seed, g->nh);
	p = put_u16(p, i);
	p = put_lv(p, ci, g->ne);
	p = put_lv(p, di_enc, g->ne);
	p = put_str(p, "Composite");
	return g->hash_to_scalar(out, buf, (size_t)(p - buf), dst, dst_len);
}

/* c = HashToScalar(lv(pkS) || lv(M) || lv(Z) || lv(t2) || lv(t3) ||
 * "Challenge"). */
static int challenge_scalar(const struct grp_impl *g, const uint8_t *pk_enc,
			    const struct grp_elem *m, const struct grp_elem *z,
			    const struct grp_elem *t2,
			    const struct grp_elem *t3, const uint8_t *dst,
			    size_t dst_len, struct grp_scalar *out)
{
	uint8_t buf[CHALLENGE_MAX], enc[GRP_MAX_NE];
	const struct grp_elem *elems[4] = { m, z, t2, t3 };
	uint8_t *p = buf;
	size_t i;

	p = put_lv(p, pk_enc, g->ne);
	for (i = 0; i < 4; i++) {
		g->elem_encode(elems[i], enc);
		p = put_lv(p, enc, g->ne);
	}
	p = put_str(p, "Challenge");
	return g->hash_to_scalar(out, buf, (size_t)(p - buf), dst, dst_len);
}

/* acc = (i == 0) ? x : acc + x */
static int accumulate(const struct grp_impl *g, struct grp_elem *acc,
		      const struct grp_elem *x, size_t i)
{
	if (i == 0) {
		*acc = *x;
		return 0;
	}
	return g->elem_add(acc, acc, x);
}

int voprf_evaluate_and_prove(const struct grp_impl *g,
			     const struct grp_scalar *k, const uint8_t *pk_enc,
			     const uint8_t *seed, const uint8_t *blinded,
			     size_t n, const struct grp_scalar *r,
			     uint8_t *evaluated, uint8_t *proof)
{
	uint8_t dst[VOPRF_DST_MAX];
	size_t dst_len = voprf_dst(g, "HashToScalar-", dst), i;
	struct grp_elem c, d, m, z, t2, t3;
	struct grp_scalar di, rr, cc, s;
	int rc;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < n; i++) {
		const uint8_t *ci = blinded + i * g->ne;
		uint8_t *de = evaluated + i * g->ne;

		if ((rc = g->elem_decode(&c, ci, g->ne)) != 0 ||
		    (rc = g->elem_mul(&d, k, &c)) != 0)
			goto cleanup;
		g->elem_encode(&d, de);
		if ((rc = composite_scalar(g, seed, i, ci, de, dst, dst_len,
					   &di)) != 0 ||
		    (rc = g->elem_mul(&d, &di, &c)) != 0 ||
		    (rc = accumulate(g, &m, &d, i)) != 0)
			goto cleanup;
	}
	if ((rc = g->elem_mul(&z, k, &m)) != 0)
		goto cleanup;
	if (r != NULL)
		rr = *r;
	else if ((rc = g->scalar_random(&rr)) != 0)
		goto cleanup;
	if ((rc = g->elem_mul_gen(&t2, &rr)) != 0 ||
	    (rc = g->elem_mul(&t3, &rr, &m)) != 0 ||
	    (rc = challenge_scalar(g, pk_enc, &m, &z, &t2, &t3, dst, dst_len,
				   &cc)) != 0)
		goto cleanup;
	if ((rc = g->scalar_mul(&s, &cc, k)) != 0 ||
	    (rc = g->scalar_sub(&s, &rr, &s)) != 0)
		goto cleanup;
	g->scalar_encode(&cc, proof);
	g->scalar_encode(&s, proof + g->ns);
	rc = 0;
cleanup:
	if (rc != 0) {
		OPENSSL_cleanse(evaluated, n * g->ne);
		OPENSSL_cleanse(proof, 2 * g->ns);
	}
	grp_scalar_wipe(&rr);
	grp_scalar_wipe(&s);
	grp_scalar_wipe(&di);
	return rc;
}

int voprf_proof_check(const struct grp_impl *g, const uint8_t *pk_enc,
		      const uint8_t *blinded, const uint8_t *evaluated,
		      size_t n, const uint8_t *proof)
{
	uint8_t dst[VOPRF_DST_MAX], seed[GRP_MAX_NH];
	uint8_t want[GRP_MAX_NS], got[GRP_MAX_NS];
	size_t dst_len = voprf_dst(g, "HashToScalar-", dst), i;
	struct grp_elem pk, c, d, m, z, t2, t3, x;
	struct grp_scalar di, cc, s, expect;
	int rc;

	memset(&m, 0, sizeof(m));
	memset(&z, 0, sizeof(z));
	if ((rc = g->elem_decode(&pk, pk_enc, g->ne)) != 0 ||
	    (rc = g->scalar_decode(&cc, proof, g->ns)) != 0 ||
	    (rc = g->scalar_decode(&s, proof + g->ns, g->ns)) != 0 ||
	    (rc = voprf_composite_seed(g, pk_enc, seed)) != 0)
		goto cleanup;
	/* M = sum d_i * C_i, Z = sum d_i * D_i */
	for (i = 0; i < n; i++) {
		const uint8_t *ci = blinded + i * g->ne;
		const uint8_t *de = evaluated + i * g->ne;

		if ((rc = g->elem_decode(&c, ci, g->ne)) != 0 ||
		    (rc = g->elem_decode(&d, de, g->ne)) != 0 ||
		    (rc = composite_scalar(g, seed, i, ci, de, dst, dst_len,
					   &di)) != 0)
			goto cleanup;
		rc = PP_ERR_VERIFY; /* an identity sum: not a valid proof */
		if (g->elem_mul(&x, &di, &c) != 0 ||
		    accumulate(g, &m, &x, i) != 0 ||
		    g->elem_mul(&x, &di, &d) != 0 ||
		    accumulate(g, &z, &x, i) != 0)
			goto cleanup;
	}
	/* t2 = s * G + c * pkS, t3 = s * M + c * Z */
	rc = PP_ERR_VERIFY;
	if (g->elem_mul_gen(&t2, &s) != 0 || g->elem_mul(&x, &cc, &pk) != 0 ||
	    g->elem_add(&t2, &t2, &x) != 0 || g->elem_mul(&t3, &s, &m) != 0 ||
	    g->elem_mul(&x, &cc, &z) != 0 || g->elem_add(&t3, &t3, &x) != 0)
		goto cleanup;
	if ((rc = challenge_scalar(g, pk_enc, &m, &z, &t2, &t3, dst, dst_len,
				   &expect)) != 0)
		goto cleanup;
	g->scalar_encode(&expect, want);
	g->scalar_encode(&cc, got);
	rc = CRYPTO_memcmp(want, got, g->ns) == 0 ? 0 : PP_ERR_VERIFY;
cleanup:
	return rc;
}

int voprf_finalize_hash(const struct grp_impl *g, const uint8_t *input,
			size_t input_len, const uint8_t *elem_enc,
			uint8_t *out)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t len[2];
	unsigned int olen = 0;
	int rc = PP_ERR_INTERNAL;

	memset(out, 0, g->nh);
	if (input_len > VOPRF_MAX_INPUT)
		return PP_ERR_LENGTH;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return PP_ERR_NOMEM;
	put_u16(len, input_len);
	if (EVP_DigestInit_ex(ctx, g->md(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, len, 2) != 1 ||
	    (input_len > 0 && EVP_DigestUpdate(ctx, input, input_len) != 1))
		goto cleanup;
	put_u16(len, g->ne);
	if (EVP_DigestUpdate(ctx, len, 2) != 1 ||
	    EVP_DigestUpdate(ctx, elem_enc, g->ne) != 1 ||
	    EVP_DigestUpdate(ctx, "Finalize", 8) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &olen) != 1 || olen != g->nh) {
		memset(out, 0, g->nh);
		goto cleanup;
	}
	rc = 0;
cleanup:
	EVP_MD_CTX_free(ctx);
	return rc;
}
