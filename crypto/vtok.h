/* Privacy Pass wire structures of the VOPRF token types:
 * 0x0001 VOPRF(P-384, SHA-384) (RFC 9578 section 5) and
 * 0x0005 VOPRF(ristretto255, SHA-512) (draft-ietf-privacypass-batched-tokens),
 * single and amortized batch issuance (draft-07 section 4), and their
 * tokens. Pure byte parsing: elements are not checked here (that is
 * grp elem_decode's job, called by voprf_blind_evaluate).
 *
 * Decoders return views into the input (nothing is copied or allocated; the
 * views live as long as the input), clear *out on entry, and reject
 * trailing bytes. Checks run in wire order:
 *   PP_ERR_TRUNCATED   input ends before the 2 type bytes, or inside a
 *                      later field;
 *   PP_ERR_TOKEN_TYPE  type not 0x0001 or 0x0005 (whatever the length);
 *   PP_ERR_LENGTH      fixed-size structure of the wrong size; a batch
 *                      length prefix that is not minimal, not a multiple
 *                      of Ne, zero, or above the caller's max_count;
 *   PP_ERR_TRAILING    bytes after a batch structure.
 *
 * Amortized batch wire format, as the draft-07 vectors have it: the
 * `<V>` vectors are prefixed with their byte length as a QUIC varint
 * (RFC 9000 section 16), minimal encoding required:
 *   request:  token_type(2) || truncated_key_id(1) || varint(n * Ne) ||
 *             n * Ne blinded elements
 *   response: varint(n * Ne) || n * Ne evaluated elements || c || s */
#ifndef PP_VTOK_H
#define PP_VTOK_H

#include <stddef.h>
#include <stdint.h>

#define VTOK_TYPE_VOPRF_P384 0x0001
#define VTOK_TYPE_VOPRF_R255 0x0005

#define VTOK_MAX_NE 49
#define VTOK_MAX_NS 48
#define VTOK_MAX_NK 64
#define VTOK_NONCE_LEN 32
#define VTOK_DIGEST_LEN 32
#define VTOK_KEY_ID_LEN 32
#define VTOK_INPUT_LEN 98 /* type || nonce || challenge digest || key id */

/* Sizes of a VOPRF token type: Ne, Ns, Nk (the authenticator, = Nh). */
struct vtok_sizes {
	uint16_t token_type;
	size_t ne;
	size_t ns;
	size_t nk;
};

/* The sizes of token_type, or NULL when it is not a VOPRF type. */
const struct vtok_sizes *vtok_sizes(uint16_t token_type);

/* The VOPRF group of token_type (grp_p384 for 0x0001, grp_ristretto255
 * for 0x0005), or NULL. */
struct grp_impl;
const struct grp_impl *vtok_group(uint16_t token_type);

/* TokenRequest: type(2) || truncated_key_id(1) || blinded_msg(Ne):
 * 35 bytes for 0x0005, 52 for 0x0001. */
struct vtok_request {
	uint16_t token_type;
	uint8_t truncated_key_id;
	const uint8_t *blinded; /* Ne bytes */
};

int vtok_request_decode(const uint8_t *in, size_t len,
			struct vtok_request *out);
/* blinded is Ne bytes of token_type. PP_ERR_TOKEN_TYPE, PP_ERR_BUFFER. */
int vtok_request_encode(uint16_t token_type, uint8_t truncated_key_id,
			const uint8_t *blinded, uint8_t *out, size_t out_cap,
			size_t *out_len);

/* TokenResponse: evaluate_msg(Ne) || evaluate_proof(2 * Ns):
 * 96 bytes for 0x0005, 145 for 0x0001. */
struct vtok_response {
	const uint8_t *evaluated; /* Ne bytes (n * Ne in a batch) */
	size_t count;             /* 1, or n in a batch */
	const uint8_t *proof;     /* 2 * Ns bytes */
};

int vtok_response_decode(uint16_t token_type, const uint8_t *in, size_t len,
			 struct vtok_response *out);
int vtok_response_encode(uint16_t token_type, const uint8_t *evaluated,
			 const uint8_t *proof, uint8_t *out, size_t out_cap,
			 size_t *out_len);

/* AmortizedBatchTokenRequest. max_count bounds n (>= 1). */
struct vtok_batch_request {
	uint16_t token_type;
	uint8_t truncated_key_id;
	const uint8_t *blinded;   /* count * Ne bytes */
	size_t count;
};

int vtok_batch_request_decode(const uint8_t *in, size_t len, size_t max_count,
			      struct vtok_batch_request *out);
/* count >= 1 elements of Ne bytes in blinded. PP_ERR_ARG for count 0. */
int vtok_batch_request_encode(uint16_t token_type, uint8_t truncated_key_id,
			      const uint8_t *blinded, size_t count,
			      uint8_t *out, size_t out_cap, size_t *out_len);
/* Encoded sizes (0 for an unknown type or count 0). */
size_t vtok_batch_request_len(uint16_t token_type, size_t count);
size_t vtok_batch_response_len(uint16_t token_type, size_t count);

/* AmortizedBatchTokenResponse (the token type is not on the wire). */
int vtok_batch_response_decode(uint16_t token_type, const uint8_t *in,
			       size_t len, size_t max_count,
			       struct vtok_response *out);
int vtok_batch_response_encode(uint16_t token_type, const uint8_t *evaluated,
			       size_t count, const uint8_t *proof,
			       uint8_t *out, size_t out_cap, size_t *out_len);

/* Token (RFC 9577 section 2.2) of a VOPRF type: type || nonce(32) ||
 * challenge_digest(32) || token_key_id(32) || authenticator(Nk):
 * 146 bytes for 0x0001, 162 for 0x0005. */
struct vtok_token {
	uint16_t token_type;
	const uint8_t *nonce;
	const uint8_t *challenge_digest;
	const uint8_t *token_key_id;
	const uint8_t *authenticator;  /* Nk bytes */
	size_t authenticator_len;
	const uint8_t *input;          /* the first 98 bytes: the VOPRF input */
};

int vtok_token_decode(const uint8_t *in, size_t len, struct vtok_token *out);

#endif
