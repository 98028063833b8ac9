/* RFC 9497 VOPRF, client side: Blind, VerifyProof, Finalize (batched).
 * Used by tests and the test client; the issuer never unblinds. */
#include "voprf.h"

#include <string.h>
#include <openssl/crypto.h>

#include "base/pp_err.h"
#include "voprf_int.h"

int voprf_blind(const struct grp_impl *g, const uint8_t *input,
		size_t input_len, const uint8_t *blind_in, uint8_t *blind_out,
		uint8_t *blinded_out)
{
	uint8_t dst[VOPRF_DST_MAX];
	struct grp_scalar b;
	struct grp_elem e;
	size_t dst_len;
	int rc;

	if (g == NULL || blind_out == NULL || blinded_out == NULL ||
	    (input == NULL && input_len > 0))
		return PP_ERR_ARG;
	memset(blind_out, 0, g->ns);
	memset(blinded_out, 0, g->ne);
	memset(&b, 0, sizeof(b));
	if (input_len > VOPRF_MAX_INPUT)
		return PP_ERR_LENGTH;
	if (blind_in != NULL)
		rc = g->scalar_decode(&b, blind_in, g->ns);
	else
		rc = g->scalar_random(&b);
	if (rc != 0)
		goto cleanup;
	dst_len = voprf_dst(g, "HashToGroup-", dst);
	/* HashToGroup never returns the identity (InvalidInputError). */
	if ((rc = g->hash_to_group(&e, input, input_len, dst, dst_len)) != 0 ||
	    (rc = g->elem_mul(&e, &b, &e)) != 0)
		goto cleanup;
	g->elem_encode(&e, blinded_out);
	g->scalar_encode(&b, blind_out);
cleanup:
	grp_scalar_wipe(&b);
	return rc;
}

int voprf_verify_proof(const struct grp_impl *g, const uint8_t *pk,
		       size_t pk_len, const uint8_t *blinded,
		       const uint8_t *evaluated, size_t n,
		       const uint8_t *proof, size_t proof_len)
{
	if (g == NULL || pk == NULL || blinded == NULL || evaluated == NULL ||
	    proof == NULL || n == 0 || n > VOPRF_MAX_BATCH)
		return PP_ERR_ARG;
	if (pk_len != g->ne || proof_len != 2 * g->ns)
		return PP_ERR_LENGTH;
	return voprf_proof_check(g, pk, blinded, evaluated, n, proof);
}

int voprf_finalize(const struct grp_impl *g, const uint8_t *pk, size_t pk_len,
		   size_t n, const uint8_t *const *inputs,
		   const size_t *input_lens, const uint8_t *blinds,
		   const uint8_t *blinded, const uint8_t *evaluated,
		   const uint8_t *proof, size_t proof_len, uint8_t *outputs,
		   size_t outputs_cap)
{
	uint8_t enc[GRP_MAX_NE];
	struct grp_scalar b, inv;
	struct grp_elem e;
	size_t i;
	int rc;

	if (g == NULL || inputs == NULL || input_lens == NULL ||
	    blinds == NULL || outputs == NULL)
		return PP_ERR_ARG;
	memset(&b, 0, sizeof(b));
	memset(&inv, 0, sizeof(inv));
	if (n == 0 || n > VOPRF_MAX_BATCH)
		return PP_ERR_ARG;
	if (outputs_cap / g->nh < n)
		return PP_ERR_BUFFER;
	memset(outputs, 0, n * g->nh);
	rc = voprf_verify_proof(g, pk, pk_len, blinded, evaluated, n, proof,
				proof_len);
	if (rc != 0)
		goto cleanup;
	for (i = 0; i < n; i++) {
		if ((rc = g->scalar_decode(&b, blinds + i * g->ns,
					   g->ns)) != 0 ||
		    (rc = g->scalar_inv(&inv, &b)) != 0 ||
		    (rc = g->elem_decode(&e, evaluated + i * g->ne,
					 g->ne)) != 0 ||
		    (rc = g->elem_mul(&e, &inv, &e)) != 0)
			goto cleanup;
		g->elem_encode(&e, enc);
		if ((inputs[i] == NULL && input_lens[i] > 0) ||
		    input_lens[i] > VOPRF_MAX_INPUT) {
			rc = PP_ERR_LENGTH;
			goto cleanup;
		}
		rc = voprf_finalize_hash(g, inputs[i], input_lens[i], enc,
					 outputs + i * g->nh);
		if (rc != 0)
			goto cleanup;
	}
cleanup:
	if (rc != 0)
		OPENSSL_cleanse(outputs, n * g->nh);
	grp_scalar_wipe(&b);
	grp_scalar_wipe(&inv);
	return rc;
}
