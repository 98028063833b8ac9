/* A 0xDA7A (public metadata) client for the integration tests, our own
 * client code over crypto/pbrsa: blinds a token input under a directory key
 * and Extensions, asks the issuer, finalizes and verifies. */
#ifndef PP_TH_DA7A_H
#define PP_TH_DA7A_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/ext.h"
#include "th.h"

/* The key, and per token its input and unblinder. */
struct th_dc {
	uint8_t spki[1100];
	size_t spki_len;
	uint8_t key_id[32];
	EVP_PKEY *pk;
	uint8_t input[EXT_TOKEN_INPUT_LEN];
	uint8_t inv[256];
	uint8_t req[EXT_REQUEST_LEN + 512];
	size_t req_len;
};

/* The public key of the directory's first key of a type; its length. */
size_t th_dir_key(const struct th_server *s, int type, uint8_t *spki,
		  size_t cap);
/* Takes s's 0xDA7A directory key. */
void th_dc_init(struct th_dc *c, const struct th_server *s);
void th_dc_free(struct th_dc *c);
/* An ExtendedTokenRequest for a fresh token input with these Extensions
 * (taken as they are: the client does not judge them), for a
 * TokenChallenge (its SHA-256 is the digest) or, challenge NULL, a random
 * digest. */
void th_dc_request(struct th_dc *c, const uint8_t *ext, size_t ext_len,
		   const uint8_t *challenge, size_t challenge_len);
/* POST /token-request with c's request; the status, and on 200 the token
 * (finalized and verified) as base64url into b64. On other statuses the
 * answer's "error" into err (may be NULL). */
long th_dc_issue(struct th_dc *c, const struct th_server *s,
		 const uint8_t *ext, size_t ext_len, char *b64, size_t cap,
		 char *err, size_t errcap);
/* Serialized Extensions with one expiration; its length. */
size_t th_exp_ext(uint64_t precision, uint64_t ts, uint8_t *out);
/* The first multiple of p after t. */
uint64_t th_next_multiple(uint64_t t, uint64_t p);

#endif
