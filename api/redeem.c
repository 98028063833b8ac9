#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "api/listener.h"
#include "api/req.h"
#include "issuer/redemption.h"

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

/* The one table of /redeem answers, by verdict: status, metric, and for
 * verdicts that carry no reason of their own the message. */
static const struct {
	unsigned status;
	enum met_redeem metric;
} rdm_answers[RDM_VERDICT_COUNT] = {
	[RDM_VALID] = { 200, MET_REDEEM_VALID },
	[RDM_SPENT] = { 409, MET_REDEEM_SPENT },
	[RDM_INVALID] = { 403, MET_REDEEM_INVALID },
	[RDM_MALFORMED] = { 400, MET_REDEEM_COUNT },
	[RDM_UNAVAILABLE] = { 503, MET_REDEEM_UNAVAILABLE },
};

static const char *const rdm_unavailable_msg[RDM_REASON_COUNT] = {
	[RDM_R_KEY_UNAVAILABLE] = "the token's key cannot be read now; retry later",
	[RDM_R_STORE_UNAVAILABLE] = "the spent-token store cannot answer; retry later",
	[RDM_R_INTERNAL] = "the token cannot be checked now; retry later",
};

static enum MHD_Result redeem_answer(struct api_req *r);

/* Runs where the redemption is decided (the spent store's thread, or
 * inline): keep the result, then wake the connection. */
static void on_redeemed(void *arg, const struct rdm_result *res)
{
	struct api_req *r = arg;

	r->rdm = *res;
	api_job_finished(r);
}

/* The verification and the spend, started from the loop thread after the
 * daemon's run. */
static void redeem_start(struct api_deferred *d)
{
	struct api_req *r = api_req_of(d);

	if (rdm_submit(r->svc, r->body, r->body_len, on_redeemed, r) != 0) {
		r->rdm_failed = 1;
		api_job_finished(r);
	}
}

/* POST /redeem: the body goes to the redemption service as it is. The
 * connection is suspended at once: the verification runs after the loop
 * thread's current run (api_listener_defer), and the spend waits for a
 * durable commit meanwhile, while the thread serves others; on_redeemed
 * resumes it and libmicrohttpd calls this handler again to answer. */
enum MHD_Result api_redeem(struct api_req *r)
{
	if (atomic_load(&r->job_done))
		return r->rdm_failed ? api_respond_error(r, API_ERR_INTERNAL)
				     : redeem_answer(r);
	r->loop = api_listener_self();
	r->resume.conn = r->conn;
	r->defer.run = redeem_start;
	MHD_suspend_connection(r->conn);
	api_listener_defer(&r->defer);
	return MHD_YES;
}

/* The answer once the redemption is decided (the handler's second call). */
static enum MHD_Result redeem_answer(struct api_req *r)
{
	const struct rdm_result *res = &r->rdm;
	const char *reason = rdm_reason_name(res->reason);
	char body[320], idhex[65];
	int n;

	if ((unsigned)res->verdict >= RDM_VERDICT_COUNT || res->verdict == RDM_NONE)
		return api_respond_error(r, API_ERR_INTERNAL);
	if (res->verdict == RDM_MALFORMED)
		return malformed(r, res->detail ? res->detail
						: "token is not a well-formed Token");
	met_redeemed(rdm_answers[res->verdict].metric);
	hex(res->key_id, sizeof(res->key_id), idhex);
	switch (res->verdict) {
	case RDM_VALID:
		memcpy(r->key_id, idhex, sizeof(r->key_id));
		n = snprintf(body, sizeof(body),
			     "{\"result\":\"valid\",\"token_type\":%u,"
			     "\"token_key_id\":\"%s\",\"spent\":%s}",
			     res->token_type, idhex, res->spend ? "true" : "false");
		break;
	case RDM_SPENT:
		memcpy(r->key_id, idhex, sizeof(r->key_id));
		r->err_code = "spent";
		n = snprintf(body, sizeof(body), "{\"result\":\"spent\"}");
		break;
	case RDM_INVALID:
		r->err_code = reason;
		n = snprintf(body, sizeof(body),
			     "{\"result\":\"invalid\",\"reason\":\"%s\"}", reason);
		break;
	default:
		r->err_code = "unavailable";
		n = snprintf(body, sizeof(body),
			     "{\"result\":\"unavailable\",\"error\":\"unavailable\","
			     "\"message\":\"%s\"}",
			     rdm_unavailable_msg[res->reason]
				     ? rdm_unavailable_msg[res->reason]
				     : rdm_unavailable_msg[RDM_R_INTERNAL]);
		break;
	}
	return json_answer(r, rdm_answers[res->verdict].status, body, n);
}
