/* RFC 9497 VOPRF, issuer side: the key object, BlindEvaluate (batched, one
 * proof) and Evaluate for redemption. The proof is in voprf_proof.c. */
#include "voprf.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <openssl/crypto.h>

#include "base/pp_err.h"
#include "voprf_int.h"

#define VOPRF_MAX_SEED 1024

struct voprf_key {
	const struct grp_impl *g;
	struct grp_scalar sk;
	struct grp_elem pk;
	uint8_t pk_enc[GRP_MAX_NE];
	uint8_t seed[GRP_MAX_NH]; /* ComputeComposites seed, from pkS */
};

/* Copies sk into a new key and derives pkS and the composite seed. */
static int key_make(const struct grp_impl *g, const struct grp_scalar *sk,
		    struct voprf_key **out)
{
	struct voprf_key *k = NULL;
	int rc;

	if (sodium_init() < 0)
		return PP_ERR_INTERNAL;
	if ((k = sodium_malloc(sizeof(*k))) == NULL)
		return PP_ERR_NOMEM;
	memset(k, 0, sizeof(*k));
	k->g = g;
	k->sk = *sk;
	if ((rc = g->elem_mul_gen(&k->pk, &k->sk)) != 0)
		goto cleanup;
	g->elem_encode(&k->pk, k->pk_enc);
	if ((rc = voprf_composite_seed(g, k->pk_enc, k->seed)) != 0)
		goto cleanup;
	*out = k;
	k = NULL;
cleanup:
	voprf_key_free(k);
	return rc;
}

int voprf_key_new(const struct grp_impl *g, const uint8_t *sk, size_t sk_len,
		  struct voprf_key **out)
{
	struct grp_scalar s;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	if (g == NULL || sk == NULL)
		return PP_ERR_ARG;
	if ((rc = g->scalar_decode(&s, sk, sk_len)) == 0)
		rc = key_make(g, &s, out);
	grp_scalar_wipe(&s);
	return rc;
}

int voprf_key_generate(const struct grp_impl *g, struct voprf_key **out)
{
	struct grp_scalar s;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	if (g == NULL)
		return PP_ERR_ARG;
	if ((rc = g->scalar_random(&s)) == 0)
		rc = key_make(g, &s, out);
	grp_scalar_wipe(&s);
	return rc;
}

/* DeriveKeyPair: skS = HashToScalar(seed || I2OSP(len(info), 2) || info ||
 * I2OSP(counter, 1), "DeriveKeyPair" || contextString) for the first
 * counter in 0..255 that gives a non-zero scalar. */
int voprf_key_derive(const struct grp_impl *g, const uint8_t *seed,
		     size_t seed_len, const uint8_t *info, size_t info_len,
		     struct voprf_key **out)
{
	uint8_t dst[VOPRF_DST_MAX];
	uint8_t *buf = NULL;
	size_t dst_len, len;
	struct grp_scalar s;
	unsigned counter;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	memset(&s, 0, sizeof(s));
	if (g == NULL || (seed == NULL && seed_len > 0) ||
	    (info == NULL && info_len > 0))
		return PP_ERR_ARG;
	if (seed_len > VOPRF_MAX_SEED || info_len > 0xffff)
		return PP_ERR_LENGTH;
	len = seed_len + 2 + info_len + 1;
	if ((buf = malloc(len)) == NULL)
		return PP_ERR_NOMEM;
	if (seed_len > 0)
		memcpy(buf, seed, seed_len);
	buf[seed_len] = (uint8_t)(info_len >> 8);
	buf[seed_len + 1] = (uint8_t)info_len;
	if (info_len > 0)
		memcpy(buf + seed_len + 2, info, info_len);
	dst_len = voprf_dst(g, "DeriveKeyPair", dst);
	rc = PP_ERR_INTERNAL; /* DeriveKeyPairError: 256 zero scalars */
	for (counter = 0; counter <= 255; counter++) {
		buf[len - 1] = (uint8_t)counter;
		if ((rc = g->hash_to_scalar(&s, buf, len, dst, dst_len)) != 0)
			goto cleanup;
		if (!g->scalar_is_zero(&s))
			break;
		rc = PP_ERR_INTERNAL;
	}
	if (rc == 0)
		rc = key_make(g, &s, out);
cleanup:
	grp_scalar_wipe(&s);
	OPENSSL_clear_free(buf, len);
	return rc;
}

void voprf_key_free(struct voprf_key *k)
{
	if (k != NULL)
		sodium_free(k); /* wipes the whole allocation */
}

const struct grp_impl *voprf_key_group(const struct voprf_key *k)
{
	return k->g;
}

const uint8_t *voprf_key_public(const struct voprf_key *k)
{
	return k->pk_enc;
}

int voprf_key_secret(const struct voprf_key *k, uint8_t *out, size_t out_cap)
{
	if (k == NULL || out == NULL)
		return PP_ERR_ARG;
	if (out_cap < k->g->ns)
		return PP_ERR_BUFFER;
	k->g->scalar_encode(&k->sk, out);
	return 0;
}

static int blind_evaluate(const struct voprf_key *k, const uint8_t *blinded,
			  size_t n, size_t max_n, const struct grp_scalar *r,
			  uint8_t *evaluated, size_t evaluated_cap,
			  uint8_t *proof, size_t proof_cap)
{
	const struct grp_impl *g;

	if (k == NULL || blinded == NULL || evaluated == NULL || proof == NULL)
		return PP_ERR_ARG;
	g = k->g;
	if (n == 0 || n > max_n || max_n > VOPRF_MAX_BATCH)
		return PP_ERR_ARG;
	if (evaluated_cap / g->ne < n || proof_cap < 2 * g->ns)
		return PP_ERR_BUFFER;
	return voprf_evaluate_and_prove(g, &k->sk, k->pk_enc, k->seed, blinded,
					n, r, evaluated, proof);
}

int voprf_blind_evaluate(const struct voprf_key *k, const uint8_t *blinded,
			 size_t n, size_t max_n, uint8_t *evaluated,
			 size_t evaluated_cap, uint8_t *proof,
			 size_t proof_cap)
{
	return blind_evaluate(k, blinded, n, max_n, NULL, evaluated,
			      evaluated_cap, proof, proof_cap);
}

int voprf_blind_evaluate_with_r(const struct voprf_key *k,
				const uint8_t *blinded, size_t n,
				size_t max_n, const uint8_t *r, size_t r_len,
				uint8_t *evaluated, size_t evaluated_cap,
				uint8_t *proof, size_t proof_cap)
{
	struct grp_scalar rr;
	int rc;

	if (k == NULL || r == NULL)
		return PP_ERR_ARG;
	if ((rc = k->g->scalar_decode(&rr, r, r_len)) == 0)
		rc = blind_evaluate(k, blinded, n, max_n, &rr, evaluated,
				    evaluated_cap, proof, proof_cap);
	grp_scalar_wipe(&rr);
	return rc;
}

int voprf_evaluate(const struct voprf_key *k, const uint8_t *input,
		   size_t input_len, uint8_t *out, size_t out_cap)
{
	uint8_t dst[VOPRF_DST_MAX], enc[GRP_MAX_NE];
	const struct grp_impl *g;
	struct grp_elem e;
	size_t dst_len;
	int rc;

	if (k == NULL || out == NULL || (input == NULL && input_len > 0))
		return PP_ERR_ARG;
	g = k->g;
	if (out_cap < g->nh)
		return PP_ERR_BUFFER;
	memset(out, 0, g->nh);
	if (input_len > VOPRF_MAX_INPUT)
		return PP_ERR_LENGTH;
	dst_len = voprf_dst(g, "HashToGroup-", dst);
	if ((rc = g->hash_to_group(&e, input, input_len, dst, dst_len)) != 0 ||
	    (rc = g->elem_mul(&e, &k->sk, &e)) != 0)
		goto cleanup;
	g->elem_encode(&e, enc);
	rc = voprf_finalize_hash(g, input, input_len, enc, out);
cleanup:
	OPENSSL_cleanse(enc, sizeof(enc));
	OPENSSL_cleanse(&e, sizeof(e));
	return rc;
}

int voprf_authenticator_check(const struct voprf_key *k, const uint8_t *input,
			      size_t input_len, const uint8_t *auth,
			      size_t auth_len)
{
	uint8_t want[GRP_MAX_NH];
	int rc;

	if (k == NULL || auth == NULL)
		return PP_ERR_ARG;
	if (auth_len != k->g->nh)
		return PP_ERR_VERIFY;
	rc = voprf_evaluate(k, input, input_len, want, sizeof(want));
	if (rc == 0 && CRYPTO_memcmp(want, auth, auth_len) != 0)
		rc = PP_ERR_VERIFY;
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}
