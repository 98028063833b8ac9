#include "issuer/issuance.h"
#include "issuer/issuance_int.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "issuer/ext_policy.h"
#include "issuer/metrics.h"
#include "issuer/service_int.h"
#include "keys/keyset.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static enum iss_verdict iss_verdict_of(int rc)
{
	switch (rc) {
	case 0: return ISS_OK;
	case PP_ERR_TOKEN_TYPE: return ISS_UNSUPPORTED_TYPE;
	case PP_ERR_LENGTH:
	case PP_ERR_TRUNCATED:
	case PP_ERR_TRAILING: return ISS_BAD_LENGTH;
	case PP_ERR_UNKNOWN_KEY: return ISS_UNKNOWN_KEY;
	case PP_ERR_MSG_RANGE: return ISS_BAD_ELEMENT;
	case PP_ERR_CORRUPT: return ISS_BAD_EXTENSIONS; /* ext.h's order rule */
	case PP_ERR_UNAVAILABLE: return ISS_UNAVAILABLE;
	default: return ISS_ERROR;
	}
}

/* The single issuance path. quick: decline (return 1, out->verdict
 * ISS_NONE) what takes milliseconds, a slow_issue type or a key in a
 * PKCS#11 token, before any of it is done. Else 0, out answered. */
static int iss_issue_at(struct svc *s, struct ks_keyset *ks, const uint8_t *req,
			size_t len, int quick, struct iss_result *out)
{
	const struct tt_ops *tt;
	const struct ks_entry *e;
	uint8_t tid;
	uint64_t t0;
	int rc;

	out->verdict = ISS_NONE;
	out->token_type = 0;
	out->key_id[0] = '\0';
	out->response_len = 0;
	rc = tok_request_header(req, len, &tt, &tid);
	if (rc != 0) {
		out->verdict = iss_verdict_of(rc);
		return 0;
	}
	if (quick && tt->slow_issue)
		return 1;
	out->token_type = tt->type;
	if (tt->request_variable) {
		/* TokenRequest || Extensions: the policy decides before any
		 * key is touched */
		static const enum iss_verdict extp_verdicts[] = {
			[EXTP_OK] = ISS_OK,
			[EXTP_INVALID] = ISS_BAD_EXTENSIONS,
			[EXTP_NOT_ALLOWED] = ISS_EXT_NOT_ALLOWED,
			[EXTP_EXPIRY_RANGE] = ISS_EXPIRY_RANGE,
		};
		enum extp_verdict v = extp_check(&s->extp, req + tt->request_len,
						 len - tt->request_len,
						 (int64_t)time(NULL));

		if (v != EXTP_OK) {
			out->verdict = extp_verdicts[v];
			return 0;
		}
	}
	e = ks_keyset_signer(ks, tt->type, tid);
	if (e == NULL) {
		rc = PP_ERR_UNKNOWN_KEY;
		goto cleanup;
	}
	if (quick && e->meta.external) {
		out->token_type = 0;
		return 1;   /* a network HSM answers in milliseconds */
	}
	t0 = now_us();
	rc = tt_issue(e->signer, req, len, out->response, sizeof(out->response),
		      &out->response_len);
	if (rc != 0)
		goto cleanup;
	met_sign_latency(now_us() - t0);
	met_token_issued(e->meta.key_id);
	met_scope_issued(&s->scope, 1);
	memcpy(out->key_id, e->meta.id_hex, sizeof(out->key_id));
cleanup:
	if (rc != 0) {
		OPENSSL_cleanse(out->response, sizeof(out->response));
		out->response_len = 0;
		ERR_clear_error();
	}
	out->verdict = iss_verdict_of(rc);
	return 0;
}

void iss_issue_in(struct svc *s, struct ks_keyset *ks, const uint8_t *req,
		  size_t len, struct iss_result *out)
{
	(void)iss_issue_at(s, ks, req, len, 0, out);
}

void iss_issue(struct svc *s, const uint8_t *req, size_t len,
	       struct iss_result *out)
{
	struct ks_keyset *ks = ks_current_get(s->keys);

	iss_issue_in(s, ks, req, len, out);
	ks_keyset_unref(ks);
}

int iss_issue_quick(struct svc *s, const uint8_t *req, size_t len,
		    struct iss_result *out)
{
	struct ks_keyset *ks = ks_current_get(s->keys);
	int declined = iss_issue_at(s, ks, req, len, 1, out);

	ks_keyset_unref(ks);
	return declined;
}
