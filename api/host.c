/* Several issuers behind one listener: the Host header names the issuer
 * (port ignored, case-insensitive, [IPv6] literals kept in brackets). The
 * table of hosts is the issuer layer's (issuer/tenant.h); a request holds
 * the table it was routed with until it completes, so a reload that
 * removes its issuer never pulls the services from under it. */
#include <microhttpd.h>

#include "api/req.h"
#include "issuer/tenant.h"

int api_host_pick(struct api_req *r, enum api_err *why)
{
	const struct api_opts *o = &r->srv->o;
	const struct tn_parts *p;
	char host[TN_HOST_MAX + 1];
	const char *h;

	*why = API_ERR_MISDIRECTED;
	if (!o->issuers) {
		r->svc = o->svc;
		r->clients = o->clients;
		r->limits = o->limits;
		r->require_auth = o->require_auth;
		return 0;
	}
	if (!r->tab)
		r->tab = tn_current_get(o->issuers);
	h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_HOST);
	if (!h || !*h) {
		*why = API_ERR_NO_HOST;
		return 1;
	}
	if (tn_host_normalize(h, host) < 0) {
		*why = API_ERR_NO_HOST;
		return 1;
	}
	p = tn_table_find(r->tab, host);
	if (!p)
		return 1;
	r->issuer = p->name;
	r->svc = p->svc;
	r->clients = p->clients;
	r->limits = p->limits;
	r->require_auth = p->require_auth;
	return 0;
}

int api_route_any_host(const struct api_route *rt, const struct api_opts *o)
{
	switch (rt->metric) {
	case MET_ROUTE_HEALTHZ:
	case MET_ROUTE_READYZ:
		return 1;
	case MET_ROUTE_METRICS:
		return !o->metrics_auth;
	default:
		return 0;
	}
}
