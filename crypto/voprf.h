/* The VOPRF of RFC 9497 (mode 0x01) over any group of grp.h: the crypto of
 * Privacy Pass token types 0x0001 (P384-SHA384, RFC 9578 section 5) and
 * 0x0005 (ristretto255-SHA512, draft-ietf-privacypass-batched-tokens),
 * single and amortized batch issuance alike.
 *
 * Issuer side: a voprf_key holds skS, pkS and the ComputeComposites seed.
 * BlindEvaluate answers n blinded elements with one DLEQ proof
 * (ComputeCompositesFast with skS); Evaluate recomputes a token's
 * authenticator at redemption.
 * Client side (tests, the test client): Blind, VerifyProof, Finalize.
 *
 * Byte layouts: elements are Ne-byte SerializeElement encodings, scalars
 * Ns-byte SerializeScalar encodings, a proof is c || s (2 * Ns bytes), an
 * output or authenticator Nh bytes. A batch of n elements is their n
 * encodings back to back (what vtok_batch_request_decode returns).
 *
 * Errors: PP_ERR_LENGTH (a length is not what the group needs, or an input
 * longer than 65535 bytes), PP_ERR_MSG_RANGE (an encoding that is not a
 * valid element or non-zero scalar, or an identity result),
 * PP_ERR_ARG (n == 0, n > max_n, NULL pointers), PP_ERR_BUFFER (output
 * capacity too small), PP_ERR_VERIFY (proof or authenticator does not
 * verify), PP_ERR_NOMEM, PP_ERR_INTERNAL. Outputs are zeroed on failure:
 * a failure never looks like a result. */
#ifndef PP_VOPRF_H
#define PP_VOPRF_H

#include <stddef.h>
#include <stdint.h>

#include "grp.h"

#define VOPRF_MODE 0x01
/* Composite indices are encoded on 2 bytes: no batch may be larger. */
#define VOPRF_MAX_BATCH 65535
/* Longest PrivateInput (its length is encoded on 2 bytes). */
#define VOPRF_MAX_INPUT 65535

/* ---- issuer side ---- */

/* Opaque. Holds the secret scalar in memory from sodium_malloc (guarded,
 * wiped by voprf_key_free). Immutable once made: any number of threads may
 * use one key at once through the const functions below, as long as none
 * frees it meanwhile (the caller's reference counting or snapshot decides
 * when that is). */
struct voprf_key;

/* A key from a serialized secret scalar (Ns bytes, canonical, non-zero).
 * Computes pkS = skS * G. *out is NULL on failure; free with
 * voprf_key_free. Returns 0, PP_ERR_LENGTH, PP_ERR_MSG_RANGE, PP_ERR_NOMEM,
 * PP_ERR_INTERNAL. */
int voprf_key_new(const struct grp_impl *g, const uint8_t *sk, size_t sk_len,
		  struct voprf_key **out);
/* A fresh random key. */
int voprf_key_generate(const struct grp_impl *g, struct voprf_key **out);
/* DeriveKeyPair(seed, info) (RFC 9497 section 3.2.1), for tests and
 * deterministic fixtures. seed_len <= 1024 and info_len <= 65535, else
 * PP_ERR_LENGTH. */
int voprf_key_derive(const struct grp_impl *g, const uint8_t *seed,
		     size_t seed_len, const uint8_t *info, size_t info_len,
		     struct voprf_key **out);
/* Wipes and frees; NULL is fine. */
void voprf_key_free(struct voprf_key *k);

const struct grp_impl *voprf_key_group(const struct voprf_key *k);
/* pkS encoded (Ne bytes), valid as long as the key. */
const uint8_t *voprf_key_public(const struct voprf_key *k);
/* WARNING: writes skS (Ns bytes) to out, for the key store to save.
 * Wipe out after use. PP_ERR_BUFFER when out_cap < Ns. */
int voprf_key_secret(const struct voprf_key *k, uint8_t *out, size_t out_cap);

/* BlindEvaluate of n blinded elements (n * Ne bytes) with one proof:
 * evaluated gets n * Ne bytes, proof 2 * Ns bytes. n must be in
 * [1, max_n] (max_n <= VOPRF_MAX_BATCH), else PP_ERR_ARG; a blinded
 * element that does not decode is PP_ERR_MSG_RANGE. n == 1 is RFC 9497's
 * BlindEvaluate. */
int voprf_blind_evaluate(const struct voprf_key *k, const uint8_t *blinded,
			 size_t n, size_t max_n, uint8_t *evaluated,
			 size_t evaluated_cap, uint8_t *proof,
			 size_t proof_cap);
/* The same with the proof randomness r given (Ns bytes, a valid scalar):
 * for tests against published vectors only. Reusing r leaks skS. */
int voprf_blind_evaluate_with_r(const struct voprf_key *k,
				const uint8_t *blinded, size_t n,
				size_t max_n, const uint8_t *r, size_t r_len,
				uint8_t *evaluated, size_t evaluated_cap,
				uint8_t *proof, size_t proof_cap);

/* Evaluate (RFC 9497 section 3.3.2, server side, no blinding):
 * out = Hash(I2OSP(len(input), 2) || input || I2OSP(Ne, 2) ||
 *            SerializeElement(skS * HashToGroup(input)) || "Finalize"),
 * Nh bytes. For a token of type 0x0001/0x0005 input is the token input
 * (type || nonce || challenge digest || key id) and out its authenticator. */
int voprf_evaluate(const struct voprf_key *k, const uint8_t *input,
		   size_t input_len, uint8_t *out, size_t out_cap);
/* Recomputes the authenticator of input and compares it in constant time
 * with auth: 0 when equal, PP_ERR_VERIFY when not (also when auth_len is
 * not Nh), other codes when the evaluation itself fails. */
int voprf_authenticator_check(const struct voprf_key *k, const uint8_t *input,
			      size_t input_len, const uint8_t *auth,
			      size_t auth_len);

/* ---- client side ---- */

/* Blind: blinded = blind * HashToGroup(input). blind_in is the blind to use
 * (Ns bytes, for vectors) or NULL for a random one; blind_out gets it (Ns
 * bytes; WARNING: it unblinds, keep it secret and wipe it after
 * voprf_finalize), blinded_out Ne bytes. */
int voprf_blind(const struct grp_impl *g, const uint8_t *input,
		size_t input_len, const uint8_t *blind_in, uint8_t *blind_out,
		uint8_t *blinded_out);

/* VerifyProof (ComputeComposites without the secret) of n pairs:
 * 0 or PP_ERR_VERIFY; PP_ERR_MSG_RANGE when pk, an element or a proof
 * scalar does not decode. pk is pkS (Ne bytes). */
int voprf_verify_proof(const struct grp_impl *g, const uint8_t *pk,
		       size_t pk_len, const uint8_t *blinded,
		       const uint8_t *evaluated, size_t n,
		       const uint8_t *proof, size_t proof_len);

/* Finalize of a batch: verifies the proof, then for each i
 * outputs[i] = Hash(I2OSP(len(input_i), 2) || input_i || I2OSP(Ne, 2) ||
 *                   SerializeElement(blind_i^-1 * evaluated_i) || "Finalize")
 * (n * Nh bytes into outputs). inputs/input_lens hold n inputs; blinds
 * n * Ns bytes; blinded and evaluated n * Ne bytes. */
int voprf_finalize(const struct grp_impl *g, const uint8_t *pk, size_t pk_len,
		   size_t n, const uint8_t *const *inputs,
		   const size_t *input_lens, const uint8_t *blinds,
		   const uint8_t *blinded, const uint8_t *evaluated,
		   const uint8_t *proof, size_t proof_len, uint8_t *outputs,
		   size_t outputs_cap);

#endif
