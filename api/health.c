#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/req.h"
#include "issuer/ready.h"
#include "issuer/service.h"
#include "issuer/spent.h"
#include "issuer/tenant.h"

enum MHD_Result api_healthz(struct api_req *r)
{
	static const char body[] = "{\"status\":\"ok\"}";

	return api_respond(r, 200, "application/json", body, sizeof(body) - 1,
			   "no-store");
}

/* The spent store's state as readyz reports it. */
static json_t *api_spent_json(const struct spent_health *h)
{
	json_t *o = json_pack("{s:s, s:b}", "backend", h->backend, "healthy",
			      h->healthy);

	if (o && !h->healthy) {
		if (h->cause != SPENT_CAUSE_NONE)
			json_object_set_new(o, "cause",
					    json_string(spent_cause_name(h->cause)));
		if (h->since > 0)
			json_object_set_new(o, "since", json_integer(h->since));
		json_object_set_new(o, "message", json_string(h->message));
	}
	return o;
}

/* Several issuers, asked on a host of none of them (a load balancer's
 * probe): ready when every issuer is; the message names the first that is
 * not. */
static void ready_all(struct api_req *r, struct rdy_state *st)
{
	size_t i, n = tn_table_count(r->tab);

	memset(st, 0, sizeof(*st));
	st->ready = 1;
	for (i = 0; i < n && st->ready; i++) {
		const struct tn_parts *p = tn_table_at(r->tab, i);
		struct rdy_state one;

		rdy_check(p->svc, &one);
		if (one.ready)
			continue;
		*st = one;
		snprintf(st->message, sizeof(st->message), "issuer '%.32s': %.380s",
			 p->name, one.message);
	}
	st->has_store = 0;   /* per issuer: ask on its host */
}

/* Ready when a key can sign and the spent store (when /redeem is on) can
 * record: a load balancer should send no traffic to an instance that would
 * answer every redemption with 503. The body names the failing component
 * and always carries the store's state. */
enum MHD_Result api_readyz(struct api_req *r)
{
	struct rdy_state st;
	json_t *body = NULL;
	enum MHD_Result ret;
	char *text;

	if (r->svc)
		rdy_check(r->svc, &st);
	else
		ready_all(r, &st);
	if (st.ready)
		body = json_pack("{s:s}", "status", "ready");
	else
		body = json_pack("{s:s, s:s}", "error", "not_ready", "message",
				 st.message);
	if (body && st.has_store)
		json_object_set_new(body, "spent_store", api_spent_json(&st.store));
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return api_respond_error(r, API_ERR_INTERNAL);
	if (!st.ready)
		r->err_code = "not_ready";
	ret = api_respond(r, st.ready ? 200 : 503, "application/json", text,
			  strlen(text), "no-store");
	free(text);
	return ret;
}

/* Every issuer's series after the process-wide ones: /metrics without
 * metrics-auth is the operator's view of the whole process. */
static char *all_issuers_metrics(struct api_req *r, size_t *len)
{
	size_t i, n = tn_table_count(r->tab);
	struct svc **v = calloc(n ? n : 1, sizeof(*v));
	char *text;

	*len = 0;
	if (!v)
		return NULL;
	for (i = 0; i < n; i++)
		v[i] = tn_table_at(r->tab, i)->svc;
	text = svc_metrics_render_issuers(v, n, 1, len);
	free(v);
	return text;
}

enum MHD_Result api_metrics(struct api_req *r)
{
	struct MHD_Response *resp;
	size_t len;
	char *text;

	if (!r->tab)
		text = svc_metrics_render(r->svc, &len);
	else if (r->srv->o.metrics_auth)
		/* a client of one issuer sees that issuer's series only */
		text = svc_metrics_render_issuers(&r->svc, 1, 0, &len);
	else
		text = all_issuers_metrics(r, &len);

	if (!text)
		return api_respond_error(r, API_ERR_INTERNAL);
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return api_queue(r, 200, resp);
}
