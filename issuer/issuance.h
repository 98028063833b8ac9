/* Issuance: turns one TokenRequest into a TokenResponse with the key set's
 * active key. No allocation, no lock, no key setup on this path. */
#ifndef PP_ISSUANCE_H
#define PP_ISSUANCE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/token.h"

struct ks_keyset;
struct ks_entry;

/* Decodes req, finds the signing key by truncated id, blind-signs.
 * On success out holds the 256-byte TokenResponse and *used the key.
 * Errors (out zeroed): PP_ERR_TOKEN_TYPE, PP_ERR_LENGTH, PP_ERR_UNKNOWN_KEY
 * (no signing key with that truncated id), PP_ERR_MSG_RANGE (blinded
 * message >= n) are the client's; anything else is the issuer's fault. */
int iss_sign(const struct ks_keyset *ks, const uint8_t *req, size_t len,
	     uint8_t out[TOK_RESPONSE_LEN], const struct ks_entry **used);

#endif
