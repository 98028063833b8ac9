/* Privacy Pass wire structures (RFC 9577 section 2, RFC 9578 section 6)
 * for token type 0x0002 (Blind RSA, 2048-bit).
 *
 * Decoders return views into the input buffer (no copies, nothing to free),
 * reject trailing bytes, and say which rule failed through the error code. */
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
 * checks); lengths are checked: PP_ERR_TRUNCATED, PP_ERR_TRAILING,
 * PP_ERR_ISSUER_NAME (empty), PP_ERR_REDEMPTION_CONTEXT (not 0 or 32). */
int tok_challenge_decode(const uint8_t *in, size_t len,
			 struct tok_challenge *out);
/* Encodes; the same rules apply (PP_ERR_ARG for a value that breaks one). */
int tok_challenge_encode(const struct tok_challenge *c, uint8_t *out,
			 size_t out_cap, size_t *out_len);
/* Encoded length of c (no checks). */
size_t tok_challenge_encoded_len(const struct tok_challenge *c);

/* struct Token (RFC 9577 2.2) for token type 0x0002. */
struct tok_token {
	uint16_t token_type;
	const uint8_t *nonce;            /* 32 */
	const uint8_t *challenge_digest; /* 32: SHA-256(TokenChallenge) */
	const uint8_t *token_key_id;     /* 32 */
	const uint8_t *authenticator;    /* 256 */
	const uint8_t *input;            /* the first 98 bytes: what was signed */
};

/* PP_ERR_TRUNCATED, PP_ERR_TOKEN_TYPE (type is not 0x0002), PP_ERR_LENGTH
 * (wrong total size), PP_ERR_TRAILING. */
int tok_token_decode(const uint8_t *in, size_t len, struct tok_token *out);
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

/* PP_ERR_TRUNCATED / PP_ERR_LENGTH (not 259 bytes), PP_ERR_TOKEN_TYPE. */
int tok_request_decode(const uint8_t *in, size_t len, struct tok_request *out);
void tok_request_encode(uint8_t truncated_key_id,
			const uint8_t blinded_msg[TOK_NK],
			uint8_t out[TOK_REQUEST_LEN]);

/* struct TokenResponse (RFC 9578 6.2): exactly 256 bytes of blind_sig.
 * PP_ERR_LENGTH when len != 256. */
int tok_response_decode(const uint8_t *in, size_t len, const uint8_t **blind_sig);

#endif
