/* Parsing of the POST /redeem body, kept free of HTTP so it can be fuzzed:
 *   {"token": "<b64url>"} or {"authorization": "PrivateToken token=..."},
 *   optional "challenge": "<b64url>" and "spend": true|false. */
#ifndef PP_REDEEM_BODY_H
#define PP_REDEEM_BODY_H

#include <stddef.h>
#include <stdint.h>

#define REDEEM_MAX_TOKEN 1024      /* decoded bytes; a type-2 token is 354 */
#define REDEEM_MAX_CHALLENGE 4096

struct rdm_input {
	uint8_t token[REDEEM_MAX_TOKEN];
	size_t token_len;
	uint8_t challenge[REDEEM_MAX_CHALLENGE];
	size_t challenge_len;       /* 0: no challenge given */
	int spend;
};

/* Returns NULL on success, or a short static message saying what is wrong
 * (for a 400 answer). */
const char *rdm_body_parse(const uint8_t *body, size_t len,
				  struct rdm_input *out);

#endif
