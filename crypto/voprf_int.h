/* Internal to the voprf module (voprf.c, voprf_proof.c, voprf_client.c). */
#ifndef PP_VOPRF_INT_H
#define PP_VOPRF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "grp.h"

/* Longest DST built here: "HashToScalar-" || contextString. */
#define VOPRF_DST_MAX 96

/* prefix || contextString, contextString = "OPRFV1-" || 0x01 || "-" || id.
 * Returns the length written (the group ids are short constants; a
 * broken one aborts). */
size_t voprf_dst(const struct grp_impl *g, const char *prefix,
		 uint8_t out[VOPRF_DST_MAX]);

/* The ComputeComposites seed, Hash(I2OSP(Ne, 2) || pkS ||
 * I2OSP(len(seedDST), 2) || seedDST); nh bytes into seed. */
int voprf_composite_seed(const struct grp_impl *g, const uint8_t *pk_enc,
			 uint8_t seed[GRP_MAX_NH]);

/* Evaluates n blinded elements with k (evaluated: n * Ne bytes) and proves
 * it (GenerateProof with ComputeCompositesFast): proof = c || s. r is the
 * proof randomness or NULL for a random one. Outputs zeroed on failure. */
int voprf_evaluate_and_prove(const struct grp_impl *g,
			     const struct grp_scalar *k, const uint8_t *pk_enc,
			     const uint8_t *seed, const uint8_t *blinded,
			     size_t n, const struct grp_scalar *r,
			     uint8_t *evaluated, uint8_t *proof);

/* VerifyProof with ComputeComposites: 0, PP_ERR_VERIFY, PP_ERR_MSG_RANGE
 * (an element or proof scalar does not decode). */
int voprf_proof_check(const struct grp_impl *g, const uint8_t *pk_enc,
		      const uint8_t *blinded, const uint8_t *evaluated,
		      size_t n, const uint8_t *proof);

/* Hash(I2OSP(len(input), 2) || input || I2OSP(Ne, 2) || elem || "Finalize")
 * into out (nh bytes). input_len <= VOPRF_MAX_INPUT. */
int voprf_finalize_hash(const struct grp_impl *g, const uint8_t *input,
			size_t input_len, const uint8_t *elem_enc,
			uint8_t *out);

#endif
