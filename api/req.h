/* Per-request state and the helpers route handlers share. Created in the
 * access handler on a request's first call, freed in the completion
 * callback. */
#ifndef PP_API_REQ_H
#define PP_API_REQ_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/listener.h"
#include "api/status.h"
#include "issuer/issuance.h"
#include "issuer/issuance_batch.h"
#include "issuer/metrics.h"
#include "issuer/ratelimit.h"
#include "issuer/redemption.h"

struct pub_doc;
struct api_req;

typedef enum MHD_Result (*api_handler_fn)(struct api_req *r);

/* Who may call a route (api/auth.c). */
enum api_role {
	API_ROLE_NONE = 0,     /* public */
	API_ROLE_ATTESTER,     /* a registered attester */
	API_ROLE_ORIGIN,       /* a registered origin */
	API_ROLE_METRICS,      /* any registered client, when metrics-auth is on */
};

/* A further media type a route accepts, with its own handler and body cap
 * (cap_fn: the cap follows from the server's options). */
struct api_media {
	const char *content_type;
	size_t (*cap_fn)(const struct api_opts *o);
	api_handler_fn handler;
};

struct api_route {
	const char *path;
	const char *allow;        /* Allow header value */
	unsigned methods;         /* API_M_* bits */
	size_t body_cap;          /* 0: no body accepted */
	const char *content_type; /* required media type of the body, or NULL */
	enum met_route metric;
	api_handler_fn handler;
	enum api_role role;
	const struct api_media *media; /* further media types, or NULL */
	size_t n_media;
};

enum { API_M_GET = 1, API_M_HEAD = 2, API_M_POST = 4 };

struct api_tls;

struct api_listener;
struct api_listener_thread;
struct api_workers;

struct api_server {
	struct api_opts o;
	struct api_listener *http;
	struct api_listener *https;     /* the mutual-TLS listener, or NULL */
	struct api_tls *tls;            /* its certificates (api/tls.c) */
	struct api_workers *workers;    /* slow issuance (api/workers.h) */
};

struct tn_table;

struct api_req {
	struct api_server *srv;
	/* the issuer the request is for (api/host.c) */
	struct tn_table *tab;         /* held for the request's life; NULL with
				       * one issuer */
	const char *issuer;           /* its name, or NULL */
	struct svc *svc;              /* NULL: an operator route on a host of
				       * no issuer */
	struct cl_current *clients;
	struct rl_limiter *limits;
	int require_auth;
	struct MHD_Connection *conn;
	const struct api_route *route;
	unsigned method;
	uint64_t t0_us;
	unsigned status;
	const char *err_code;       /* static string for the log */
	uint8_t *body;
	size_t body_len;
	size_t body_cap;            /* of the media type the body has */
	api_handler_fn handler;     /* the route's handler for that type */
	size_t discarded;           /* body bytes dropped past the cap */
	int too_large;
	int responded;
	struct pub_doc *doc;        /* held while a response points into it */
	char key_id[65];            /* hex of the key used, for the log */
	char client[65];            /* authenticated client name, for the log */
	struct rl_limits lim;       /* its limits, when has_lim */
	int has_lim;
	enum rl_why limit_why;      /* why a batch's tokens were refused */
	unsigned limit_retry;
	int authorized;             /* passed api_auth_check as that client */
	/* a job that answers later, the connection suspended meanwhile: a
	 * redemption (verified after the daemon's run, api_listener_defer,
	 * then waiting on the spent store) or slow issuance (api/workers.h) */
	struct api_listener_thread *loop;  /* resumes the suspended connection */
	struct api_resume resume;          /* its place in loop's resume list */
	struct api_deferred defer;         /* the job */
	_Atomic int job_done;              /* set by api_job_finished */
	int rdm_failed;                    /* rdm_submit refused: a caller bug */
	struct rdm_result rdm;             /* a redemption's answer */
	struct iss_result *issued;         /* a single TokenRequest's answer */
	struct iss_batch batch;            /* a batch's answer */
};

/* The request whose defer d is. */
static inline struct api_req *api_req_of(struct api_deferred *d)
{
	return (struct api_req *)(void *)((char *)d - offsetof(struct api_req, defer));
}

/* A job's last step, on whatever thread ran it: marks it done and resumes
 * the connection, whose handler then answers. */
static inline void api_job_finished(struct api_req *r)
{
	atomic_store(&r->job_done, 1);
	api_listener_resume(r->loop, &r->resume);
}

/* Queues a response; records the status. body is copied. */
enum MHD_Result api_respond(struct api_req *r, unsigned status,
			    const char *content_type, const void *body,
			    size_t len, const char *cache_control);
/* Queues the table's JSON error answer. */
enum MHD_Result api_respond_error(struct api_req *r, enum api_err e);
/* Same, with one extra response header (name NULL: none). */
enum MHD_Result api_respond_error_hdr(struct api_req *r, enum api_err e,
				      const char *name, const char *value);
/* Queues a prepared response (takes care of common headers and status). */
enum MHD_Result api_queue(struct api_req *r, unsigned status,
			  struct MHD_Response *resp);

/* Route handlers. */
enum MHD_Result api_directory(struct api_req *r);
enum MHD_Result api_token_request(struct api_req *r);
enum MHD_Result api_token_request_generic_batch(struct api_req *r);
enum MHD_Result api_token_request_amortized_batch(struct api_req *r);
size_t api_generic_batch_cap(const struct api_opts *o);
size_t api_amortized_batch_cap(const struct api_opts *o);
enum MHD_Result api_healthz(struct api_req *r);
enum MHD_Result api_readyz(struct api_req *r);
enum MHD_Result api_metrics(struct api_req *r);
enum MHD_Result api_redeem(struct api_req *r);

/* Authentication, authorization and limits for routes with a role, before
 * the body is read (api/auth.c). Returns what on_headers returns; when it
 * answered (401, 403, 429), r->responded is set. */
enum MHD_Result api_auth_check(struct api_req *r);
/* Charges n more units (the other tokens of a batch) to the request's
 * client and the global limit: 0, or PP_ERR_RATE with why and retry set
 * (nothing charged). */
int api_auth_take(struct api_req *r, unsigned long n, enum rl_why *why,
		  unsigned *retry);
/* Gives n units back (taken with api_auth_take or with the headers). */
void api_auth_refund(struct api_req *r, unsigned long n);
/* The 429 answer (with Retry-After) for a refusal. */
enum MHD_Result api_auth_refuse(struct api_req *r, enum rl_why why,
				unsigned retry);
/* Per-client counters once a request is complete. */
void api_auth_done(const struct api_req *r);

/* Picks the request's issuer (api/host.c): by Host with several issuers,
 * else the one service. Returns 0, or 1 with *why (421 for a host no issuer
 * serves, 400 without a usable Host) when no issuer is named; the request
 * then has no svc. */
int api_host_pick(struct api_req *r, enum api_err *why);
/* Whether a route is answered without an issuer (health, readiness, and
 * metrics unless they need a client's credentials). */
int api_route_any_host(const struct api_route *rt, const struct api_opts *o);

/* The route for a path, or NULL. */
const struct api_route *api_route_find(const char *path, int redeem_enabled);
/* Whether a Content-Type value names media type want (parameters ignored). */
int api_media_type_is(const char *value, const char *want);

uint64_t api_now_us(void);

#endif
