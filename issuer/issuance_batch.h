/* Batched issuance (draft-ietf-privacypass-batched-tokens-07) on top of the
 * single issuance path (issuance.h): one key-set snapshot reference for a
 * whole batch, per-item verdicts sized by the batch, and one response
 * buffer per batch, capped by the batch's own size.
 *
 *  - generic batches: TokenRequests of any types and keys; each item is
 *    issued or not on its own (0x00 in the response);
 *  - amortized batches: Nr blinded elements of one VOPRF type and key and
 *    one proof for all (the token-type table's issue_batch); one element
 *    that is not acceptable fails the whole batch. */
#ifndef PP_ISSUANCE_BATCH_H
#define PP_ISSUANCE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "issuer/issuance.h"

struct svc;

/* Limits of the settings max-batch and max-amortized-batch. */
#define ISSB_MAX_ITEMS 1000

/* ISSB_NONE is what a cleared result holds. */
enum issb_verdict {
	ISSB_NONE = 0,
	ISSB_ALL,               /* every item issued (HTTP 200) */
	ISSB_SOME,              /* generic: some items issued (206) */
	ISSB_NONE_ISSUED,       /* generic: well formed, none issued (400) */
	ISSB_MALFORMED,         /* length prefix, truncation, an item of the
				 * wrong size, trailing bytes, empty batch */
	ISSB_UNSUPPORTED_TYPE,  /* generic: an item whose size is not known
				 * (the rest cannot be read); amortized: a type
				 * without amortized batches */
	ISSB_TOO_MANY,          /* more items than the limit */
	ISSB_UNKNOWN_KEY,       /* amortized: no signing key with that id */
	ISSB_BAD_ELEMENT,       /* amortized: an element is not acceptable */
	ISSB_LIMITED,           /* the admission hook refused the batch */
	ISSB_ERROR,             /* the issuer's fault */
	ISSB_VERDICT_COUNT
};

struct iss_batch {
	enum issb_verdict verdict;
	uint16_t token_type;        /* amortized: the batch's type */
	size_t count;               /* items in the request; 0 if unread */
	size_t issued;              /* tokens issued */
	enum iss_verdict *items;    /* generic: count verdicts, request order */
	uint8_t *response;          /* the batch response when ALL or SOME */
	size_t response_len;
	char key_id[65];            /* hex id of the first key used, or "" */
};

/* Called once a batch's size is known and before anything is signed, so
 * that rate limits and quotas count tokens, not requests: returns 0 to go
 * on, non-zero to refuse the batch (ISSB_LIMITED). NULL: admit all. */
struct iss_admit {
	int (*fn)(void *ctx, size_t items);
	void *ctx;
};

/* Answers a GenericBatchTokenRequest of at most max_n items. out is always
 * filled; release it with iss_batch_clear. */
void iss_batch_generic(struct svc *s, const uint8_t *req, size_t len,
		       unsigned max_n, const struct iss_admit *admit,
		       struct iss_batch *out);
/* Answers an AmortizedBatchTokenRequest of at most max_n elements. */
void iss_batch_amortized(struct svc *s, const uint8_t *req, size_t len,
			 unsigned max_n, const struct iss_admit *admit,
			 struct iss_batch *out);
/* Wipes and frees what a result holds and clears it. Accepts a cleared or
 * zeroed result. */
void iss_batch_clear(struct iss_batch *b);

/* The largest request bodies of max_n items: generic, of the largest
 * fixed-size TokenRequest the issuer knows; amortized, of the largest
 * element of a type with amortized batches. */
size_t iss_batch_generic_body_cap(unsigned max_n);
size_t iss_batch_amortized_body_cap(unsigned max_n);

#endif
