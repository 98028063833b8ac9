#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/req.h"
#include "crypto/authhdr.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "issuer/redemption.h"
#include "keys/keyset.h"

#define REDEEM_MAX_TOKEN 1024      /* decoded bytes; a type-2 token is 354 */
#define REDEEM_MAX_CHALLENGE 4096

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

/* Decodes an optional base64url string member into out. Returns 0 when
 * absent (*len = 0), 1 when decoded, -1 when malformed. */
static int b64_member(json_t *obj, const char *name, uint8_t *out, size_t cap,
		      size_t *len)
{
	json_t *v = json_object_get(obj, name);
	const char *s;

	*len = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	return b64_decode(s, json_string_length(v), out, cap, len) == 0 ? 1 : -1;
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
	MHD_resume_connection(r->conn);
}

/* POST /redeem: {"token": b64url} or {"authorization": "PrivateToken
 * token=..."}, optional "challenge" (b64url TokenChallenge) and "spend". */
enum MHD_Result api_redeem(struct api_req *r)
{
	uint8_t token[REDEEM_MAX_TOKEN], challenge[REDEEM_MAX_CHALLENGE];
	size_t token_len = 0, challenge_len = 0;
	struct rdm_service svc = { .store = r->srv->o.spent, .default_horizon = 0 };
	struct ks_keyset *ks;
	json_error_t jerr;
	json_t *root, *spend_v, *auth_v;
	int spend = 1, rc;

	if (atomic_load(&r->rdm_done))
		return redeem_answer(r);
	root = json_loadb((const char *)r->body, r->body_len,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return malformed(r, "body must be a JSON object");
	}
	auth_v = json_object_get(root, "authorization");
	if (auth_v && json_object_get(root, "token")) {
		json_decref(root);
		return malformed(r, "give token or authorization, not both");
	}
	if (auth_v) {
		const char *t;
		size_t tl;

		if (!json_is_string(auth_v) ||
		    ah_parse_authorization(json_string_value(auth_v),
					   json_string_length(auth_v), &t, &tl) != 0 ||
		    b64_decode(t, tl, token, sizeof(token), &token_len) != 0) {
			json_decref(root);
			return malformed(r, "authorization is not a PrivateToken credential");
		}
	} else if (b64_member(root, "token", token, sizeof(token), &token_len) != 1) {
		json_decref(root);
		return malformed(r, "token must be a base64url string");
	}
	if (b64_member(root, "challenge", challenge, sizeof(challenge),
		       &challenge_len) < 0) {
		json_decref(root);
		return malformed(r, "challenge must be a base64url string");
	}
	spend_v = json_object_get(root, "spend");
	if (spend_v && !json_is_boolean(spend_v)) {
		json_decref(root);
		return malformed(r, "spend must be true or false");
	}
	if (spend_v)
		spend = json_is_true(spend_v);
	json_decref(root);

	/* The spend waits for a durable group commit: suspend the connection so
	 * the worker thread serves others meanwhile; on_redeemed resumes it and
	 * libmicrohttpd calls this handler again to answer. */
	r->spend = spend;
	MHD_suspend_connection(r->conn);
	ks = ks_current_get(r->srv->o.keys);
	rc = rdm_redeem_submit(&svc, ks, token, token_len,
			       challenge_len ? challenge : NULL, challenge_len, spend,
			       on_redeemed, r);
	ks_keyset_unref(ks);
	if (rc != 0) {
		MHD_resume_connection(r->conn);
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
					   "\"message\":\"the spent-token store cannot answer; retry later\"}"));
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
