#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/listener.h"
#include "api/redeem_body.h"
#include "api/req.h"
#include "crypto/token.h"
#include "issuer/redemption.h"
#include "keys/keyset.h"

static enum MHD_Result json_answer(struct api_req *r, unsigned status,
				   const char *body, int n)
{
	if (n < 0)
		return MHD_NO;
	return api_respond(r, status, "application/json", body, (size_t)n, "no-store");
}

static enum MHD_Result malformed(struct api_req *r, const char *what)
{
	char body[256];

	r->err_code = "bad_request";
	return json_answer(r, 400, body,
			   snprintf(body, sizeof(body),
				    "{\"result\":\"malformed\",\"error\":\"bad_request\","
				    "\"message\":\"%s\"}", what));
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static enum MHD_Result redeem_answer(struct api_req *r);

/* Runs on the spent store's writer thread (or inline): record, then wake. */
static void on_redeemed(void *arg, int rc, const struct rdm_result *res)
{
	struct api_req *r = arg;

	r->rdm_rc = rc;
	r->rdm = *res;
	atomic_store(&r->rdm_done, 1);
	api_listener_resume(r->loop, r->conn);
}

/* POST /redeem: {"token": b64url} or {"authorization": "PrivateToken
 * token=..."}, optional "challenge" (b64url TokenChallenge) and "spend". */
enum MHD_Result api_redeem(struct api_req *r)
{
	struct api_redeem_in in;
	struct rdm_service svc = { .store = r->srv->o.spent };
	struct ks_keyset *ks;
	const char *bad;
	int rc;

	if (atomic_load(&r->rdm_done))
		return redeem_answer(r);
	bad = api_redeem_body_parse(r->body, r->body_len, &in);
	if (bad)
		return malformed(r, bad);

	/* The spend waits for a durable group commit: suspend the connection so
	 * the worker thread serves others meanwhile; on_redeemed resumes it and
	 * libmicrohttpd calls this handler again to answer. */
	r->spend = in.spend;
	r->loop = api_listener_self();
	MHD_suspend_connection(r->conn);
	ks = ks_current_get(r->srv->o.keys);
	rc = rdm_redeem_submit(&svc, ks, in.token, in.token_len,
			       in.challenge_len ? in.challenge : NULL, in.challenge_len,
			       in.spend, on_redeemed, r);
	ks_keyset_unref(ks);
	if (rc != 0) {
		api_listener_resume(r->loop, r->conn);
		return api_respond_error(r, API_ERR_INTERNAL);
	}
	return MHD_YES;
}

/* The answer once the redemption is decided (from the handler's second call). */
static enum MHD_Result redeem_answer(struct api_req *r)
{
	const struct rdm_result res = r->rdm;
	int spend = r->spend;
	char body[256], idhex[65];
	enum MHD_Result ret;

	if (r->rdm_rc != 0 && res.verdict == RDM_NONE)
		return api_respond_error(r, API_ERR_INTERNAL);
	hex(res.key_id, sizeof(res.key_id), idhex);
	switch (res.verdict) {
	case RDM_VALID:
		memcpy(r->key_id, idhex, sizeof(r->key_id));
		met_redeemed(MET_REDEEM_VALID);
		ret = json_answer(r, 200, body,
				  snprintf(body, sizeof(body),
					   "{\"result\":\"valid\",\"token_type\":%u,"
					   "\"token_key_id\":\"%s\",\"spent\":%s}",
					   res.token_type, idhex, spend ? "true" : "false"));
		break;
	case RDM_SPENT:
		memcpy(r->key_id, idhex, sizeof(r->key_id));
		met_redeemed(MET_REDEEM_SPENT);
		r->err_code = "spent";
		ret = json_answer(r, 409, body,
				  snprintf(body, sizeof(body), "{\"result\":\"spent\"}"));
		break;
	case RDM_UNAVAILABLE:
		met_redeemed(MET_REDEEM_UNAVAILABLE);
		r->err_code = "unavailable";
		ret = json_answer(r, 503, body,
				  snprintf(body, sizeof(body),
					   "{\"result\":\"unavailable\",\"error\":\"unavailable\","
					   "\"message\":\"%s; retry later\"}",
					   res.reason ? "the token's key cannot be read now"
						      : "the spent-token store cannot answer"));
		break;
	case RDM_INVALID:
		if (res.reason && !strcmp(res.reason, "malformed"))
			return malformed(r, "token is not a well-formed Token");
		met_redeemed(MET_REDEEM_INVALID);
		r->err_code = res.reason;
		ret = json_answer(r, 403, body,
				  snprintf(body, sizeof(body),
					   "{\"result\":\"invalid\",\"reason\":\"%s\"}",
					   res.reason ? res.reason : "invalid"));
		break;
	default:
		ret = api_respond_error(r, API_ERR_INTERNAL);
	}
	return ret;
}
