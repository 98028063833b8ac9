/* Privacy Pass wire structures (RFC 9577 section 2, RFC 9578 section 6)
 * for token type 0x0002 (Blind RSA, 2048-bit).
 *
 * Decoders return views into the input buffer (no copies, nothing to free;
 * the views live as long as the input), clear *out on entry, reject trailing
 * bytes, and say which rule failed through the error code. */
#ifndef PP_TOKEN_H
#define PP_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOK_TYPE_BLIND_RSA 0x0002
#define TOK_NONCE_LEN 32
#define TOK_DIGEST_LEN 32
#define TOK_KEY_ID_LEN 32
#define TOK_NK 256                 /* authenticator / blind signature size */
#define TOK_INPUT_LEN 98           /* type || nonce || digest || key id */
#define TOK_TOKEN_LEN (TOK_INPUT_LEN + TOK_NK)   /* 354 */
#define TOK_REQUEST_LEN (2 + 1 + TOK_NK)         /* 259 */
#define TOK_RESPONSE_LEN TOK_NK                  /* 256 */
#define TOK_REDEMPTION_CONTEXT_LEN 32

/* struct TokenChallenge (RFC 9577 2.1.1). */
struct tok_challenge {
	uint16_t token_type;
	const uint8_t *issuer_name;        /* 1..65535 bytes */
	size_t issuer_name_len;
	const uint8_t *redemption_context; /* 0 or 32 bytes */
	size_t redemption_context_len;
	const uint8_t *origin_info;        /* 0..65535 bytes */
	size_t origin_info_len;
};

/* Decodes a TokenChallenge. Any token type is accepted here (the caller
 * checks); lengths are checked in wire order, each length prefix as soon as
 * it is read: PP_ERR_TRUNCATED (input ends inside a field),
 * PP_ERR_ISSUER_NAME (empty), PP_ERR_REDEMPTION_CONTEXT (not 0 or 32),
 * PP_ERR_TRAILING (bytes after origin_info). *out is zeroed on error. */
int tok_challenge_decode(const uint8_t *in, size_t len,
			 struct tok_challenge *out);
/* Encodes; the same rules apply (PP_ERR_ARG for a value that breaks one,
 * PP_ERR_BUFFER when out_cap is short). *out_len is optional. */
int tok_challenge_encode(const struct tok_challenge *c, uint8_t *out,
			 size_t out_cap, size_t *out_len);
/* Encoded length of c (no checks). */
size_t tok_challenge_encoded_len(const struct tok_challenge *c);

struct tt_ops;

/* struct Token (RFC 9577 2.2), of any type in the token-type table. */
struct tok_token {
	uint16_t token_type;
	const uint8_t *nonce;            /* 32 */
	const uint8_t *challenge_digest; /* 32: SHA-256(TokenChallenge) */
	const uint8_t *token_key_id;     /* 32 */
	const uint8_t *authenticator;    /* the type's Nk bytes */
	size_t authenticator_len;
	const uint8_t *input;            /* the first 98 bytes: what was signed */
};

/* Fixed-size structures (Token, TokenRequest) check in this order:
 * PP_ERR_TRUNCATED when fewer than the 2 type bytes are present,
 * PP_ERR_TOKEN_TYPE when the type is not in the token-type table (the HTTP
 * layer answers 422 "unsupported token type"; a greased token is this error
 * whatever its length), then PP_ERR_LENGTH when the total size is wrong for
 * the type, short or long alike (one size rule; short and long are not told
 * apart). */
int tok_token_decode(const uint8_t *in, size_t len, struct tok_token *out);
/* Whether token t was made for challenge (an encoded TokenChallenge, as the
 * origin sent it): the same token type, and challenge_digest = SHA-256 of
 * exactly these bytes. 0 when it was; PP_ERR_CHALLENGE when not; the
 * decoder's error when the challenge is malformed. Constant time in the
 * digest. */
int tok_challenge_matches(const struct tok_token *t, const uint8_t *challenge,
			  size_t len);
/* Writes the 98-byte token input (what the client blinds). */
void tok_token_input(uint16_t token_type, const uint8_t nonce[TOK_NONCE_LEN],
		     const uint8_t digest[TOK_DIGEST_LEN],
		     const uint8_t key_id[TOK_KEY_ID_LEN],
		     uint8_t out[TOK_INPUT_LEN]);
/* Writes a full token: input || authenticator (354 bytes). */
void tok_token_encode(const uint8_t input[TOK_INPUT_LEN],
		      const uint8_t authenticator[TOK_NK],
		      uint8_t out[TOK_TOKEN_LEN]);

/* struct TokenRequest (RFC 9578 6.1). */
struct tok_request {
	uint16_t token_type;
	uint8_t truncated_key_id;
	const uint8_t *blinded_msg; /* 256 */
};

/* The type and truncated key id of a single TokenRequest of any type in
 * the table, checked in tok_token_decode's order: PP_ERR_TRUNCATED,
 * PP_ERR_TOKEN_TYPE, PP_ERR_LENGTH (not the type's request size). */
int tok_request_header(const uint8_t *in, size_t len, const struct tt_ops **tt,
		       uint8_t *truncated_key_id);
/* A type 0x0002 TokenRequest, in the same order: PP_ERR_TRUNCATED (< 2
 * bytes), PP_ERR_TOKEN_TYPE, PP_ERR_LENGTH (not 259 bytes). */
int tok_request_decode(const uint8_t *in, size_t len, struct tok_request *out);
void tok_request_encode(uint8_t truncated_key_id,
			const uint8_t blinded_msg[TOK_NK],
			uint8_t out[TOK_REQUEST_LEN]);

/* struct TokenResponse (RFC 9578 6.2): exactly 256 bytes of blind_sig.
 * PP_ERR_LENGTH when len != 256 (*blind_sig is then NULL). */
int tok_response_decode(const uint8_t *in, size_t len, const uint8_t **blind_sig);

#endif
