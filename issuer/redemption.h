/* The redemption service: checks a Token (RFC 9577 2.2, type 0x0002) against
 * the current key set and, unless asked not to, spends it.
 *
 * Order: decode, find the key, check the optional challenge, verify the
 * signature, and only then touch the spent store, so tokens that do not
 * verify never reach (or fill) it. A token is "valid" only once its spend is
 * recorded durably; a store that cannot answer gives "unavailable", never
 * "valid". */
#ifndef PP_REDEMPTION_H
#define PP_REDEMPTION_H

#include <stddef.h>
#include <stdint.h>

#include "keys/store.h"

struct spent_store;
struct ks_keyset;

/* The least a record is kept: a key past its retire_after may still verify
 * in a snapshot that is not reloaded yet, here or on another instance. */
#define RDM_MIN_RECORD_TTL ((int64_t)24 * 3600)

struct rdm_service {
	struct spent_store *store;  /* not owned */
};

/* RDM_NONE is what a cleared result holds: never mistake it for valid. */
enum rdm_verdict {
	RDM_NONE = 0,
	RDM_VALID,        /* verifies; first redemption, now recorded (or, with
			   * spend = 0, not spent yet) */
	RDM_SPENT,        /* verifies, but its nonce was already redeemed */
	RDM_INVALID,      /* see reason */
	RDM_UNAVAILABLE,  /* verifies, but the spent store cannot answer */
};

struct rdm_result {
	enum rdm_verdict verdict;
	/* for RDM_INVALID: "malformed", "unsupported_token_type", "unknown_key",
	 * "challenge_mismatch" or "bad_signature"; for RDM_UNAVAILABLE
	 * "key_unavailable" when the token's key cannot be read now, NULL when
	 * the store cannot answer (static); NULL otherwise */
	const char *reason;
	int code;                 /* the PP_ERR_* behind the verdict, 0 for valid */
	uint16_t token_type;      /* set once the token decoded */
	uint8_t key_id[32];
	uint8_t nonce[32];
};

/* Redeems token (token_len bytes). challenge (challenge_len bytes, an encoded
 * TokenChallenge) is optional: when not NULL, the token's challenge_digest
 * must equal SHA-256 of it and its token type must match the token's. With
 * spend = 0 the token is checked but not consumed (valid means "would be
 * accepted now"). ks is the caller's snapshot reference.
 *
 * Returns 0 with out->verdict set for every answer about the token,
 * PP_ERR_ARG for a caller bug, or PP_ERR_INTERNAL / PP_ERR_NOMEM / PP_ERR_KEY
 * when verification itself failed (out->verdict is then RDM_NONE). */
int rdm_redeem(const struct rdm_service *svc, const struct ks_keyset *ks,
	       const uint8_t *token, size_t token_len,
	       const uint8_t *challenge, size_t challenge_len, int spend,
	       struct rdm_result *out);

/* The same without blocking on the spent store (see spent_submit): every
 * check up to the signature runs in the caller's thread; then, to spend, the
 * request is queued and done runs from the store's writer thread once the
 * spend is durable. done(arg, rc, r) gets what rdm_redeem would have returned
 * and filled; r is valid only during the call. done runs exactly once, maybe
 * before this returns (invalid tokens, spend = 0, the redis backend, a
 * refusing store); it must be quick and must not call into the store. ks may
 * be released as soon as this returns.
 * Returns 0 (done will be or was called) or PP_ERR_ARG (it is not called). */
int rdm_redeem_submit(const struct rdm_service *svc, const struct ks_keyset *ks,
		      const uint8_t *token, size_t token_len,
		      const uint8_t *challenge, size_t challenge_len, int spend,
		      void (*done)(void *arg, int rc, const struct rdm_result *r),
		      void *arg);

/* When a spend recorded now (unix seconds) may be forgotten: the key's
 * retire_after, at least now + RDM_MIN_RECORD_TTL, or SPENT_NO_EXPIRY when
 * no retirement is scheduled (the record stays until the key retires). */
int64_t rdm_record_expiry(const struct ks_meta *meta, int64_t now);

/* "valid", "spent", "invalid", "unavailable", or "none". */
const char *rdm_verdict_name(enum rdm_verdict v);

#endif
