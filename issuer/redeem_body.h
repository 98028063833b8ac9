/* Parsing of the POST /redeem body, kept free of HTTP so it can be fuzzed:
 *   {"token": "<b64url>"} or {"authorization": "PrivateToken token=..."},
 *   optional "challenge": "<b64url>", "spend": true|false and
 *   "extensions": "<b64url>" (the serialized Extensions a token of type
 *   0xDA7A is bound to, its 2-byte length included; or the extensions=
 *   parameter of the authorization, never both). */
#ifndef PP_REDEEM_BODY_H
#define PP_REDEEM_BODY_H

#include <stddef.h>
#include <stdint.h>

#define REDEEM_MAX_TOKEN 1024      /* decoded bytes; a type-2 token is 354 */
#define REDEEM_MAX_CHALLENGE 4096
#define REDEEM_MAX_EXTENSIONS 4096 /* more than an issuance body holds */

struct rdm_input {
	uint8_t token[REDEEM_MAX_TOKEN];
	size_t token_len;
	uint8_t challenge[REDEEM_MAX_CHALLENGE];
	size_t challenge_len;       /* 0: no challenge given */
	int spend;
	uint8_t extensions[REDEEM_MAX_EXTENSIONS];
	size_t extensions_len;
	int has_extensions;         /* "extensions" was given */
};

/* Returns NULL on success, or a short static message saying what is wrong
 * (for a 400 answer). */
const char *rdm_body_parse(const uint8_t *body, size_t len,
				  struct rdm_input *out);

#endif
