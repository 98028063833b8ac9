/* Token redemption: decode, find the key, match the challenge, verify, spend.
 * See redemption.h for the contract. */
#include "issuer/redemption.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/bsig.h"
#include "crypto/pp_err.h"
#include "crypto/token.h"
#include "issuer/spent.h"
#include "keys/keyset.h"

static int rdm_invalid(struct rdm_result *out, const char *reason, int code)
{
	out->verdict = RDM_INVALID;
	out->reason = reason;
	out->code = code;
	return 0;
}

/* Whether the token was made for this challenge: the same token type, and
 * challenge_digest = SHA-256 of the challenge exactly as given. */
static int rdm_challenge_check(const struct tok_token *t,
			       const uint8_t *challenge, size_t challenge_len,
			       struct rdm_result *out, int *matched)
{
	struct tok_challenge c;
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int rc;

	*matched = 0;
	rc = tok_challenge_decode(challenge, challenge_len, &c);
	if (rc != 0)
		return rdm_invalid(out, "malformed", rc);
	if (c.token_type != t->token_type)
		return rdm_invalid(out, "challenge_mismatch", PP_ERR_CHALLENGE);
	if (EVP_Digest(challenge, challenge_len, digest, &dlen, EVP_sha256(),
		       NULL) != 1 || dlen != TOK_DIGEST_LEN)
		return PP_ERR_INTERNAL;
	if (CRYPTO_memcmp(digest, t->challenge_digest, TOK_DIGEST_LEN) != 0)
		return rdm_invalid(out, "challenge_mismatch", PP_ERR_CHALLENGE);
	*matched = 1;
	return 0;
}

/* Everything before the store: fills out and returns 0 with a verdict when
 * the token is settled without the store, returns 0 with RDM_NONE and *key
 * set when it verified and the store must answer, or an error. */
static int rdm_check(const struct rdm_service *svc, const struct ks_keyset *ks,
		     const uint8_t *token, size_t token_len,
		     const uint8_t *challenge, size_t challenge_len,
		     struct rdm_result *out, const struct ks_entry **key)
{
	const struct ks_entry *e;
	struct tok_token t;
	int rc, matched;

	*key = NULL;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (svc == NULL || svc->store == NULL || ks == NULL || out == NULL ||
	    (token == NULL && token_len != 0))
		return PP_ERR_ARG;

	if (token == NULL) {
		rc = rdm_invalid(out, "malformed", PP_ERR_TRUNCATED);
		goto cleanup;
	}
	rc = tok_token_decode(token, token_len, &t);
	if (rc == PP_ERR_TOKEN_TYPE) {
		rc = rdm_invalid(out, "unsupported_token_type", rc);
		goto cleanup;
	}
	if (rc != 0) {
		rc = rdm_invalid(out, "malformed", rc);
		goto cleanup;
	}
	out->token_type = t.token_type;
	memcpy(out->key_id, t.token_key_id, sizeof(out->key_id));
	memcpy(out->nonce, t.nonce, sizeof(out->nonce));

	e = ks_keyset_verifier(ks, t.token_key_id);
	if (e == NULL && ks_keyset_unavailable(ks, t.token_key_id)) {
		/* the key exists but its files cannot be read now: whether the
		 * token is genuine cannot be known, and "unknown" would be a
		 * false answer */
		out->verdict = RDM_UNAVAILABLE;
		out->reason = "key_unavailable";
		out->code = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	if (e == NULL || e->verifier == NULL || e->meta.token_type != t.token_type) {
		rc = rdm_invalid(out, "unknown_key", PP_ERR_UNKNOWN_KEY);
		goto cleanup;
	}

	if (challenge != NULL) {
		rc = rdm_challenge_check(&t, challenge, challenge_len, out, &matched);
		if (rc != 0 || !matched)
			goto cleanup;
	}

	rc = bsig_verifier_verify(e->verifier, t.input, TOK_INPUT_LEN,
				  t.authenticator, TOK_NK);
	if (rc == PP_ERR_VERIFY || rc == PP_ERR_MSG_RANGE || rc == PP_ERR_LENGTH) {
		rc = rdm_invalid(out, "bad_signature", rc);
		goto cleanup;
	}
	if (rc == 0)
		*key = e;   /* genuine: only now may the store be asked */

cleanup:
	/* failed verifications leave entries behind; do not let them leak into
	 * the next request on this thread */
	ERR_clear_error();
	if (rc != 0)
		out->verdict = RDM_NONE;
	return rc;
}

/* Turns the store's answer into the verdict. */
static void rdm_store_answer(struct rdm_result *out, int rc)
{
	if (rc == 0) {
		out->verdict = RDM_VALID;
		out->code = 0;
	} else if (rc == PP_ERR_SPENT) {
		out->verdict = RDM_SPENT;
		out->code = rc;
	} else {
		out->verdict = RDM_UNAVAILABLE;
		out->code = PP_ERR_UNAVAILABLE;
	}
}

int rdm_redeem(const struct rdm_service *svc, const struct ks_keyset *ks,
	       const uint8_t *token, size_t token_len,
	       const uint8_t *challenge, size_t challenge_len, int spend,
	       struct rdm_result *out)
{
	const struct ks_entry *e;
	int rc;

	rc = rdm_check(svc, ks, token, token_len, challenge, challenge_len, out, &e);
	if (rc != 0 || e == NULL)
		return rc;
	if (spend)
		rc = spent_check_and_record(svc->store, out->key_id, out->nonce,
					    rdm_record_expiry(&e->meta,
							      (int64_t)time(NULL)));
	else
		rc = spent_contains(svc->store, out->key_id, out->nonce);
	rdm_store_answer(out, rc);
	return 0;
}

/* An asynchronous redemption waiting for the store. */
struct rdm_pending {
	struct rdm_result res;
	void (*done)(void *arg, int rc, const struct rdm_result *r);
	void *arg;
};

static void rdm_pending_done(void *p, int rc)
{
	struct rdm_pending *pd = p;

	rdm_store_answer(&pd->res, rc);
	pd->done(pd->arg, 0, &pd->res);
	free(pd);
}

int rdm_redeem_submit(const struct rdm_service *svc, const struct ks_keyset *ks,
		      const uint8_t *token, size_t token_len,
		      const uint8_t *challenge, size_t challenge_len, int spend,
		      void (*done)(void *arg, int rc, const struct rdm_result *r),
		      void *arg)
{
	struct rdm_pending *pd = NULL;
	const struct ks_entry *e;
	struct rdm_result res;
	int64_t expires_at;
	int rc;

	if (done == NULL)
		return PP_ERR_ARG;
	rc = rdm_check(svc, ks, token, token_len, challenge, challenge_len, &res, &e);
	if (rc == PP_ERR_ARG)
		return rc;
	if (rc != 0 || e == NULL) {
		done(arg, rc, &res);
		return 0;
	}
	if (!spend) {
		/* a read: no sync to wait for */
		rdm_store_answer(&res, spent_contains(svc->store, res.key_id,
						      res.nonce));
		done(arg, 0, &res);
		return 0;
	}
	expires_at = rdm_record_expiry(&e->meta, (int64_t)time(NULL));
	pd = malloc(sizeof(*pd));
	if (pd == NULL) {
		rdm_store_answer(&res, PP_ERR_UNAVAILABLE);
		done(arg, 0, &res);
		return 0;
	}
	pd->res = res;
	pd->done = done;
	pd->arg = arg;
	/* pd->res holds its own copies of the key id and nonce */
	rc = spent_submit(svc->store, pd->res.key_id, pd->res.nonce, expires_at,
			  rdm_pending_done, pd);
	if (rc != 0) {   /* cannot happen with the arguments checked above */
		rdm_store_answer(&pd->res, PP_ERR_UNAVAILABLE);
		pd->done(pd->arg, 0, &pd->res);
		free(pd);
	}
	return 0;
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
	switch (v) {
	case RDM_VALID: return "valid";
	case RDM_SPENT: return "spent";
	case RDM_INVALID: return "invalid";
	case RDM_UNAVAILABLE: return "unavailable";
	case RDM_NONE: break;
	}
	return "none";
}
