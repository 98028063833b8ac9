/* Token redemption: decode, find the key, match the challenge, verify,
 * spend. See redemption.h for the contract. */
#include "issuer/redemption.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/ext.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "issuer/redeem_body.h"
#include "issuer/service_int.h"
#include "issuer/spent.h"
#include "keys/keyset.h"

/* One redemption waiting for the store. */
struct rdm_pending {
	struct rdm_result res;
	rdm_done_fn done;
	void *arg;
};

static void rdm_finish(struct rdm_pending *pd, enum rdm_verdict v,
		       enum rdm_reason why)
{
	pd->res.verdict = v;
	pd->res.reason = why;
	pd->done(pd->arg, &pd->res);
	free(pd);
}

/* The store's answer; runs where the store answers. */
static void rdm_stored(void *p, int rc)
{
	struct rdm_pending *pd = p;

	if (rc == 0)
		rdm_finish(pd, RDM_VALID, RDM_R_NONE);
	else if (rc == PP_ERR_SPENT)
		rdm_finish(pd, RDM_SPENT, RDM_R_NONE);
	else
		rdm_finish(pd, RDM_UNAVAILABLE, RDM_R_STORE_UNAVAILABLE);
}

/* Everything before the store. Returns the key the token verified under, or
 * NULL with the verdict set in res. */
static const struct ks_entry *rdm_check(const struct ks_keyset *ks,
					const uint8_t *token, size_t token_len,
					const uint8_t *challenge,
					size_t challenge_len,
					const uint8_t *info, size_t info_len,
					struct rdm_result *res)
{
	const struct ks_entry *e;
	struct tok_token t;
	int rc;

	rc = tok_token_decode(token, token_len, &t);
	if (rc == PP_ERR_TOKEN_TYPE) {
		res->verdict = RDM_INVALID;
		res->reason = RDM_R_UNSUPPORTED_TYPE;
		return NULL;
	}
	if (rc != 0) {
		res->verdict = RDM_MALFORMED;
		res->reason = RDM_R_BAD_TOKEN;
		return NULL;
	}
	res->token_type = t.token_type;
	memcpy(res->key_id, t.token_key_id, sizeof(res->key_id));
	memcpy(res->nonce, t.nonce, sizeof(res->nonce));

	e = ks_keyset_verifier(ks, t.token_key_id);
	if (e == NULL && ks_keyset_unavailable(ks, t.token_key_id)) {
		/* the key exists but its files cannot be read now: whether the
		 * token is genuine cannot be known, and "unknown" would be a
		 * false answer */
		res->verdict = RDM_UNAVAILABLE;
		res->reason = RDM_R_KEY_UNAVAILABLE;
		return NULL;
	}
	if (e == NULL || e->meta.token_type != t.token_type) {
		res->verdict = RDM_INVALID;
		res->reason = RDM_R_UNKNOWN_KEY;
		return NULL;
	}
	if (challenge != NULL) {
		rc = tok_challenge_matches(&t, challenge, challenge_len);
		if (rc != 0) {
			res->verdict = rc == PP_ERR_CHALLENGE ? RDM_INVALID
							      : RDM_MALFORMED;
			res->reason = rc == PP_ERR_CHALLENGE
					      ? RDM_R_CHALLENGE_MISMATCH
					      : RDM_R_BAD_BODY;
			res->detail = "challenge is not a TokenChallenge";
			return NULL;
		}
	}
	/* types whose requests carry Extensions bind the token to them */
	if (e->tt->request_variable != (info != NULL)) {
		res->verdict = RDM_INVALID;
		res->reason = info ? RDM_R_UNEXPECTED_EXTENSIONS
				   : RDM_R_MISSING_EXTENSIONS;
		return NULL;
	}
	rc = tt_verify(e->verifier, t.input, TOK_INPUT_LEN, t.authenticator,
		       t.authenticator_len, info, info_len);
	/* failed verifications leave entries behind; do not let them leak
	 * into the next request on this thread */
	ERR_clear_error();
	if (rc == PP_ERR_VERIFY) {
		res->verdict = RDM_INVALID;
		res->reason = RDM_R_BAD_SIGNATURE;
		return NULL;
	}
	if (rc != 0) {
		res->verdict = RDM_UNAVAILABLE;
		res->reason = RDM_R_INTERNAL;
		return NULL;
	}
	/* genuine Extensions: an expired token is refused, and not spent */
	if (info != NULL &&
	    (rc = ext_check_expiry(info, info_len, (int64_t)time(NULL))) != 0) {
		res->verdict = RDM_INVALID;
		res->reason = rc == PP_ERR_STATE ? RDM_R_EXPIRED
						 : RDM_R_BAD_EXTENSIONS;
		return NULL;
	}
	return e;   /* genuine: only now may the store be asked */
}

int rdm_submit_token(struct svc *s, const uint8_t *token, size_t token_len,
		     const uint8_t *challenge, size_t challenge_len, int spend,
		     rdm_done_fn done, void *arg)
{
	return rdm_submit_token_ext(s, token, token_len, challenge,
				    challenge_len, NULL, 0, spend, done, arg);
}

int rdm_submit_token_ext(struct svc *s, const uint8_t *token,
			 size_t token_len, const uint8_t *challenge,
			 size_t challenge_len, const uint8_t *info,
			 size_t info_len, int spend, rdm_done_fn done,
			 void *arg)
{
	struct rdm_pending *pd;
	const struct ks_entry *e;
	struct ks_keyset *ks;
	int64_t expires_at = 0;

	if (s == NULL || done == NULL || (token == NULL && token_len != 0) ||
	    (info == NULL && info_len != 0))
		return PP_ERR_ARG;
	pd = calloc(1, sizeof(*pd));
	if (pd == NULL) {
		struct rdm_result r = { .verdict = RDM_UNAVAILABLE,
					.reason = RDM_R_INTERNAL, .spend = spend };

		done(arg, &r);
		return 0;
	}
	pd->done = done;
	pd->arg = arg;
	pd->res.spend = spend;
	if (s->spent == NULL) {
		rdm_finish(pd, RDM_UNAVAILABLE, RDM_R_STORE_UNAVAILABLE);
		return 0;
	}
	ks = ks_current_get(s->keys);
	e = rdm_check(ks, token, token_len, challenge, challenge_len, info,
		      info_len, &pd->res);
	if (e != NULL)
		expires_at = rdm_record_expiry(&e->meta, (int64_t)time(NULL));
	ks_keyset_unref(ks);
	if (e == NULL) {
		rdm_finish(pd, pd->res.verdict, pd->res.reason);
		return 0;
	}
	if (!spend) {
		/* a read: answered where the store answers, never blocking a
		 * loop thread on a remote store */
		if (spent_contains_submit(s->spent, pd->res.key_id, pd->res.nonce,
					  rdm_stored, pd) != 0)
			rdm_stored(pd, PP_ERR_UNAVAILABLE);
		return 0;
	}
	/* pd->res holds its own copies of the key id and nonce */
	if (spent_submit(s->spent, pd->res.key_id, pd->res.nonce, expires_at,
			 rdm_stored, pd) != 0)
		rdm_stored(pd, PP_ERR_UNAVAILABLE);  /* arguments were checked */
	return 0;
}

int rdm_submit(struct svc *s, const uint8_t *body, size_t len,
	       rdm_done_fn done, void *arg)
{
	struct rdm_input in;
	const char *bad;
	int rc;

	if (s == NULL || done == NULL || (body == NULL && len != 0))
		return PP_ERR_ARG;
	bad = rdm_body_parse(body, len, &in);
	if (bad) {
		struct rdm_result r = { .verdict = RDM_MALFORMED,
					.reason = RDM_R_BAD_BODY, .detail = bad };

		done(arg, &r);
		return 0;
	}
	rc = rdm_submit_token_ext(s, in.token, in.token_len,
				  in.challenge_len ? in.challenge : NULL,
				  in.challenge_len,
				  in.has_extensions ? in.extensions : NULL,
				  in.extensions_len, in.spend, done, arg);
	return rc;
}

int64_t rdm_record_expiry(const struct ks_meta *meta, int64_t now)
{
	int64_t exp;

	/* a key that may verify for ever keeps its records until it retires
	 * (spent_drop_key): no horizon could be known to outlast it */
	if (meta == NULL || meta->retire_after <= 0)
		return SPENT_NO_EXPIRY;
	exp = meta->retire_after;
	if (exp < now + RDM_MIN_RECORD_TTL)
		exp = now + RDM_MIN_RECORD_TTL;
	return exp;
}

const char *rdm_verdict_name(enum rdm_verdict v)
{
	static const char *const names[RDM_VERDICT_COUNT] = {
		[RDM_NONE] = "none", [RDM_VALID] = "valid",
		[RDM_SPENT] = "spent", [RDM_INVALID] = "invalid",
		[RDM_MALFORMED] = "malformed", [RDM_UNAVAILABLE] = "unavailable",
	};

	return (unsigned)v < RDM_VERDICT_COUNT ? names[v] : "none";
}

const char *rdm_reason_name(enum rdm_reason r)
{
	static const char *const names[RDM_REASON_COUNT] = {
		[RDM_R_NONE] = "",
		[RDM_R_BAD_BODY] = "bad_request",
		[RDM_R_BAD_TOKEN] = "malformed",
		[RDM_R_UNSUPPORTED_TYPE] = "unsupported_token_type",
		[RDM_R_UNKNOWN_KEY] = "unknown_key",
		[RDM_R_CHALLENGE_MISMATCH] = "challenge_mismatch",
		[RDM_R_BAD_SIGNATURE] = "bad_signature",
		[RDM_R_KEY_UNAVAILABLE] = "key_unavailable",
		[RDM_R_STORE_UNAVAILABLE] = "store_unavailable",
		[RDM_R_INTERNAL] = "internal",
		[RDM_R_MISSING_EXTENSIONS] = "missing_extensions",
		[RDM_R_UNEXPECTED_EXTENSIONS] = "unexpected_extensions",
		[RDM_R_BAD_EXTENSIONS] = "invalid_extensions",
		[RDM_R_EXPIRED] = "expired",
	};

	return (unsigned)r < RDM_REASON_COUNT ? names[r] : "";
}
