/* Who is calling: a bearer secret (Authorization: Bearer) or a client
 * certificate on the TLS listener, mapped to a registered client; whether
 * that client's role may use the route; and whether its limits admit the
 * request. All of it runs before any body byte is read.
 *
 * Open mode: with no client registered and require-auth off, requests carry
 * no identity and only the global limit applies. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/req.h"
#include "api/tls.h"
#include "base/pp_err.h"
#include "issuer/clients.h"
#include "issuer/metrics.h"
#include "issuer/ratelimit.h"

/* Longer bearer values are not ours and are not looked at further. */
#define AUTH_BEARER_MAX 256

static const char auth_challenge[] = "Bearer realm=\"ppissuer\"";

/* The token of "Bearer <token>" (scheme case-insensitive), or NULL. */
static const char *bearer_token(const char *v, size_t *len)
{
	size_t n;

	*len = 0;
	if (strncasecmp(v, "Bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
		return NULL;
	v += 6;
	while (*v == ' ' || *v == '\t')
		v++;
	n = strnlen(v, AUTH_BEARER_MAX + 1);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n > AUTH_BEARER_MAX)
		return NULL;
	*len = n;
	return v;
}

/* Finds the client behind the request's credentials. 0 and *out, or
 * PP_ERR_STATE (revoked) / PP_ERR_AUTH with *why for the metric. */
static int identify(struct api_req *r, const struct cl_registry *reg,
		    const struct cl_client **out, enum met_auth *why)
{
	struct api_tls_peer peer;
	const char *authz, *tok;
	size_t len;
	int rc;

	*out = NULL;
	authz = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					    MHD_HTTP_HEADER_AUTHORIZATION);
	if (authz) {
		tok = bearer_token(authz, &len);
		rc = tok ? cl_registry_authenticate(reg, tok, len, out) : PP_ERR_AUTH;
		*why = rc == PP_ERR_STATE ? MET_AUTH_REVOKED : MET_AUTH_INVALID;
		return rc;
	}
	rc = api_tls_peer_get(r->conn, &peer);
	if (rc == PP_ERR_NOT_FOUND) {
		*why = MET_AUTH_MISSING;
		return PP_ERR_AUTH;
	}
	if (rc) {
		*why = MET_AUTH_CERT;
		return PP_ERR_AUTH;
	}
	rc = cl_registry_match_cert(reg, peer.spki_sha256,
				    peer.subject[0] ? peer.subject : NULL, out);
	if (rc == 0)
		met_client_cert_expiry((*out)->name, peer.not_after);
	*why = rc == PP_ERR_STATE ? MET_AUTH_REVOKED : MET_AUTH_CERT;
	return rc;
}

enum MHD_Result api_auth_refuse(struct api_req *r, enum rl_why why,
				unsigned retry)
{
	static const enum met_limit met_of[] = {
		[RL_RATE] = MET_LIMIT_RATE, [RL_QUOTA] = MET_LIMIT_QUOTA,
		[RL_GLOBAL] = MET_LIMIT_GLOBAL,
	};
	char val[16];

	met_client_limited(r->has_lim ? r->client : NULL, met_of[why]);
	snprintf(val, sizeof(val), "%u", retry);
	return api_respond_error_hdr(r, why == RL_QUOTA ? API_ERR_QUOTA : API_ERR_RATE,
				     MHD_HTTP_HEADER_RETRY_AFTER, val);
}

int api_auth_take(struct api_req *r, unsigned long n, enum rl_why *why,
		  unsigned *retry)
{
	*why = RL_OK;
	*retry = 0;
	if (!r->limits || n == 0)
		return 0;
	return rl_take_n(r->limits, r->has_lim ? r->client : NULL,
			 r->has_lim ? &r->lim : NULL, n, why, retry);
}

void api_auth_refund(struct api_req *r, unsigned long n)
{
	if (r->limits)
		rl_refund(r->limits, r->has_lim ? r->client : NULL,
			  r->has_lim ? &r->lim : NULL, n);
}

static enum MHD_Result limit(struct api_req *r, const struct cl_client *c)
{
	enum rl_why why;
	unsigned retry;
	int rc;

	if (c) {
		r->lim.rate = c->rate;
		r->lim.burst = c->burst;
		r->lim.quota = c->quota;
		r->has_lim = 1;
	}
	/* a batch pays for its other tokens once it is read (api_auth_take) */
	rc = api_auth_take(r, 1, &why, &retry);
	if (rc == 0)
		return MHD_YES;
	if (rc != PP_ERR_RATE)
		return api_respond_error(r, API_ERR_INTERNAL);
	return api_auth_refuse(r, why, retry);
}

static int role_allows(enum api_role need, enum cl_role have)
{
	switch (need) {
	case API_ROLE_ATTESTER: return have == CL_ROLE_ATTESTER;
	case API_ROLE_ORIGIN: return have == CL_ROLE_ORIGIN;
	case API_ROLE_METRICS: return 1;
	case API_ROLE_NONE: return 1;
	}
	return 0;
}

enum MHD_Result api_auth_check(struct api_req *r)
{
	const struct api_opts *o = &r->srv->o;
	enum api_role need = r->route->role;
	struct cl_registry *reg = NULL;
	const struct cl_client *c = NULL;
	enum met_auth why = MET_AUTH_MISSING;
	enum MHD_Result ret;
	int rc;

	if (need == API_ROLE_NONE || (need == API_ROLE_METRICS && !o->metrics_auth))
		return MHD_YES;
	reg = r->clients ? cl_current_get(r->clients) : NULL;
	if (cl_registry_count(reg) == 0 && !r->require_auth) {
		ret = need == API_ROLE_METRICS ? MHD_YES : limit(r, NULL);
		goto cleanup;
	}
	rc = identify(r, reg, &c, &why);
	if (rc) {
		met_auth_failure(why);
		ret = api_respond_error_hdr(r, rc == PP_ERR_STATE ? API_ERR_REVOKED :
					    API_ERR_UNAUTHORIZED,
					    MHD_HTTP_HEADER_WWW_AUTHENTICATE, auth_challenge);
		goto cleanup;
	}
	/* Names are [A-Za-z0-9._-]: safe in the JSON log line as they are. */
	memcpy(r->client, c->name, strlen(c->name) + 1);
	if (!role_allows(need, c->role)) {
		met_auth_failure(MET_AUTH_ROLE);
		ret = api_respond_error(r, API_ERR_FORBIDDEN);
		goto cleanup;
	}
	ret = need == API_ROLE_METRICS ? MHD_YES : limit(r, c);
	r->authorized = !r->responded;
cleanup:
	cl_registry_unref(reg);
	return ret;
}

void api_auth_done(const struct api_req *r)
{
	if (!r->authorized || !r->route)
		return;
	if (r->route->role == API_ROLE_ATTESTER && r->status == 200)
		met_client_issued(r->client);
	else if (r->route->role == API_ROLE_ORIGIN)
		/* The redeem handler's answers: 200 valid, 409 spent, 503 store
		 * down, anything else a token or request that did not verify. */
		met_client_redeemed(r->client, r->status == 200 ? MET_REDEEM_VALID :
					       r->status == 409 ? MET_REDEEM_SPENT :
					       r->status == 503 ? MET_REDEEM_UNAVAILABLE :
					       MET_REDEEM_INVALID);
}
