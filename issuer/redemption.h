/* The redemption service: checks a Token (RFC 9577 2.2) of any served type
 * against the current key set and, unless asked not to, spends it.
 *
 * Order: decode, find the key, check the optional challenge, verify the
 * authenticator through the type's table entry, and only then touch the
 * spent store, so tokens that do not verify never reach (or fill) it. A
 * token is "valid" only once its spend is recorded durably; a store or a
 * key that cannot answer gives "unavailable", never "valid".
 *
 * One path: every redemption is one pending record and one completion
 * call, whether the store answers at once or from its own thread. */
#ifndef PP_REDEMPTION_H
#define PP_REDEMPTION_H

#include <stddef.h>
#include <stdint.h>

#include "keys/store.h"

struct svc;

/* The least a record is kept: a key past its retire_after may still verify
 * in a snapshot that is not reloaded yet, here or on another instance. */
#define RDM_MIN_RECORD_TTL ((int64_t)24 * 3600)

/* RDM_NONE is what a cleared result holds: never mistake it for valid. */
enum rdm_verdict {
	RDM_NONE = 0,
	RDM_VALID,        /* verifies; first redemption, now recorded (or, with
			   * spend = 0, not spent yet) */
	RDM_SPENT,        /* verifies, but its nonce was already redeemed */
	RDM_INVALID,      /* does not verify here: see reason */
	RDM_MALFORMED,    /* the request or the token is not well formed */
	RDM_UNAVAILABLE,  /* cannot be judged now: see reason */
	RDM_VERDICT_COUNT
};

enum rdm_reason {
	RDM_R_NONE = 0,
	RDM_R_BAD_BODY,            /* MALFORMED: the JSON body; see detail */
	RDM_R_BAD_TOKEN,           /* MALFORMED: not a Token */
	RDM_R_UNSUPPORTED_TYPE,    /* INVALID */
	RDM_R_UNKNOWN_KEY,         /* INVALID: unknown, pending or retired */
	RDM_R_CHALLENGE_MISMATCH,  /* INVALID */
	RDM_R_BAD_SIGNATURE,       /* INVALID: the authenticator is wrong */
	RDM_R_KEY_UNAVAILABLE,     /* UNAVAILABLE: its key cannot be read now */
	RDM_R_STORE_UNAVAILABLE,   /* UNAVAILABLE: the spent store */
	RDM_R_INTERNAL,            /* UNAVAILABLE: the issuer's fault */
	/* tokens bound to Extensions (request_variable types, 0xDA7A) */
	RDM_R_MISSING_EXTENSIONS,  /* INVALID: the type binds Extensions and
				    * none were given */
	RDM_R_UNEXPECTED_EXTENSIONS, /* INVALID: Extensions given for a type
				    * that binds none (0x0002) */
	RDM_R_BAD_EXTENSIONS,      /* INVALID: signed, but not Extensions this
				    * issuer accepts (malformed, repeated) */
	RDM_R_EXPIRED,             /* INVALID: its expiration has passed */
	RDM_REASON_COUNT
};

struct rdm_result {
	enum rdm_verdict verdict;
	enum rdm_reason reason;
	const char *detail;       /* RDM_R_BAD_BODY: what is wrong (static) */
	int spend;                /* whether the request asked to spend */
	uint16_t token_type;      /* set once the token decoded */
	uint8_t key_id[32];
	uint8_t nonce[32];
};

/* done gets the result (valid only during the call), exactly once, from the
 * caller's thread or the spent store's; it must be quick and must not call
 * into the store. */
typedef void (*rdm_done_fn)(void *arg, const struct rdm_result *r);

/* Redeems the POST /redeem body (JSON: {"token": b64url} or
 * {"authorization": "PrivateToken token=..."}, optional "challenge",
 * "spend" and "extensions"; see redeem_body.h). Returns 0 (done will be or was called) or
 * PP_ERR_ARG for a caller bug (done is not called). */
int rdm_submit(struct svc *s, const uint8_t *body, size_t len,
	       rdm_done_fn done, void *arg);

/* The same from a decoded token: challenge (an encoded TokenChallenge) may
 * be NULL; spend = 0 checks without consuming. */
int rdm_submit_token(struct svc *s, const uint8_t *token, size_t token_len,
		     const uint8_t *challenge, size_t challenge_len, int spend,
		     rdm_done_fn done, void *arg);

/* The same for a token bound to Extensions: info is the serialized
 * Extensions (NULL: none given). A type that binds Extensions verifies only
 * with exactly those, and a token whose expiration extension has passed is
 * RDM_R_EXPIRED; Extensions given for a type that binds none are refused
 * (RDM_R_UNEXPECTED_EXTENSIONS), never ignored. */
int rdm_submit_token_ext(struct svc *s, const uint8_t *token,
			 size_t token_len, const uint8_t *challenge,
			 size_t challenge_len, const uint8_t *info,
			 size_t info_len, int spend, rdm_done_fn done,
			 void *arg);

/* When a spend recorded now (unix seconds) may be forgotten: the key's
 * retire_after, at least now + RDM_MIN_RECORD_TTL, or SPENT_NO_EXPIRY when
 * no retirement is scheduled (the record stays until the key retires). */
int64_t rdm_record_expiry(const struct ks_meta *meta, int64_t now);

/* Stable names: "valid", "spent", "invalid", "malformed", "unavailable",
 * "none"; reasons "unknown_key", "bad_signature", ... ("" for none). */
const char *rdm_verdict_name(enum rdm_verdict v);
const char *rdm_reason_name(enum rdm_reason r);

#endif
