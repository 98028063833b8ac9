#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/listener.h"
#include "api/req.h"
#include "api/workers.h"
#include "issuer/issuance.h"
#include "issuer/issuance_batch.h"

#define GENERIC_CT "application/private-token-generic-batch-response"
#define AMORTIZED_CT "application/private-token-amortized-batch-response"

/* Suspends r and hands run to the worker threads (api/workers.h); run ends
 * with job_finished, which resumes r, and libmicrohttpd calls the handler
 * again to answer. */
static enum MHD_Result offload(struct api_req *r, void (*run)(struct api_deferred *d))
{
	r->loop = api_listener_self();
	r->resume.conn = r->conn;
	r->defer.run = run;
	MHD_suspend_connection(r->conn);
	api_workers_submit(r->srv->workers, &r->defer);
	return MHD_YES;
}

static enum MHD_Result single_answer(struct api_req *r, struct iss_result *res)
{
	enum MHD_Result ret;

	if (res->verdict != ISS_OK)
		return api_respond_error(r, api_err_from_issuance(res->verdict));
	memcpy(r->key_id, res->key_id, sizeof(r->key_id));
	ret = api_respond(r, 200, "application/private-token-response",
			  res->response, res->response_len, "no-store");
	explicit_bzero(res->response, res->response_len);
	return ret;
}

static void single_run(struct api_deferred *d)
{
	struct api_req *r = api_req_of(d);

	iss_issue(r->svc, r->body, r->body_len, r->issued);
	api_job_finished(r);
}

/* POST /token-request: a TokenRequest in, its TokenResponse out (RFC 9578
 * sections 5 and 6); the issuance service decides, the table in status.c
 * answers for it. What is quick is answered at once, on the loop; a request
 * that takes milliseconds (iss_issue_quick declines it) goes to the worker
 * threads. */
enum MHD_Result api_token_request(struct api_req *r)
{
	struct iss_result res;

	if (atomic_load(&r->job_done))
		return single_answer(r, r->issued);
	if (iss_issue_quick(r->svc, r->body, r->body_len, &res) == 0)
		return single_answer(r, &res);
	r->issued = malloc(sizeof(*r->issued));
	if (r->issued == NULL)
		return api_respond_error(r, API_ERR_INTERNAL);
	return offload(r, single_run);
}

/* A batch's first token was charged with its headers; the others are
 * charged here, before anything is signed, all or nothing: a refused batch
 * gives its first unit back. */
static int api_batch_admit(void *ctx, size_t items)
{
	struct api_req *r = ctx;

	if (items <= 1 ||
	    api_auth_take(r, items - 1, &r->limit_why, &r->limit_retry) == 0)
		return 0;
	api_auth_refund(r, 1);
	return 1;
}

/* The same URI with a batch (draft-ietf-privacypass-batched-tokens-07):
 * 200 when every request was issued, 206 when some were (generic only),
 * else the table's answer for the verdict. */
static enum MHD_Result api_batch_answer(struct api_req *r, struct iss_batch *b,
					const char *content_type)
{
	enum MHD_Result ret;

	memcpy(r->key_id, b->key_id, sizeof(r->key_id));
	if (b->verdict == ISSB_LIMITED)
		ret = api_auth_refuse(r, r->limit_why, r->limit_retry);
	else if (b->verdict != ISSB_ALL && b->verdict != ISSB_SOME)
		ret = api_respond_error(r, api_err_from_batch(b->verdict));
	else
		ret = api_respond(r, b->verdict == ISSB_ALL ? 200 : 206,
				  content_type, b->response, b->response_len,
				  "no-store");
	iss_batch_clear(b);
	return ret;
}

static void generic_run(struct api_deferred *d)
{
	struct api_req *r = api_req_of(d);
	struct iss_admit admit = { api_batch_admit, r };

	iss_batch_generic(r->svc, r->body, r->body_len, r->srv->o.max_batch,
			  &admit, &r->batch);
	api_job_finished(r);
}

static void amortized_run(struct api_deferred *d)
{
	struct api_req *r = api_req_of(d);
	struct iss_admit admit = { api_batch_admit, r };

	iss_batch_amortized(r->svc, r->body, r->body_len,
			    r->srv->o.max_amortized_batch, &admit, &r->batch);
	api_job_finished(r);
}

/* Batches always take milliseconds (up to max-batch signatures): they go
 * to the worker threads. */
enum MHD_Result api_token_request_generic_batch(struct api_req *r)
{
	if (atomic_load(&r->job_done))
		return api_batch_answer(r, &r->batch, GENERIC_CT);
	return offload(r, generic_run);
}

enum MHD_Result api_token_request_amortized_batch(struct api_req *r)
{
	if (atomic_load(&r->job_done))
		return api_batch_answer(r, &r->batch, AMORTIZED_CT);
	return offload(r, amortized_run);
}

size_t api_generic_batch_cap(const struct api_opts *o)
{
	return iss_batch_generic_body_cap(o->max_batch);
}

size_t api_amortized_batch_cap(const struct api_opts *o)
{
	return iss_batch_amortized_body_cap(o->max_amortized_batch);
}
