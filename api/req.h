/* Per-request state and the helpers route handlers share. Created in the
 * access handler on a request's first call, freed in the completion
 * callback. */
#ifndef PP_API_REQ_H
#define PP_API_REQ_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/status.h"
#include "issuer/metrics.h"

struct ks_keyset;
struct api_req;

typedef enum MHD_Result (*api_handler_fn)(struct api_req *r);

struct api_route {
	const char *path;
	const char *allow;        /* Allow header value */
	unsigned methods;         /* API_M_* bits */
	size_t body_cap;          /* 0: no body accepted */
	const char *content_type; /* required media type of the body, or NULL */
	enum met_route metric;
	api_handler_fn handler;
};

enum { API_M_GET = 1, API_M_HEAD = 2, API_M_POST = 4 };

struct api_server {
	struct MHD_Daemon *daemon;
	struct api_opts o;
	uint16_t port;
};

struct api_req {
	struct api_server *srv;
	struct MHD_Connection *conn;
	const struct api_route *route;
	unsigned method;
	uint64_t t0_us;
	unsigned status;
	const char *err_code;       /* static string for the log */
	uint8_t *body;
	size_t body_len;
	size_t discarded;           /* body bytes dropped past the cap */
	int too_large;
	int responded;
	struct ks_keyset *ks;       /* held while a response points into it */
	char key_id[65];            /* hex of the key used, for the log */
};

/* Queues a response; records the status. body is copied. */
enum MHD_Result api_respond(struct api_req *r, unsigned status,
			    const char *content_type, const void *body,
			    size_t len, const char *cache_control);
/* Queues the table's JSON error answer. */
enum MHD_Result api_respond_error(struct api_req *r, enum api_err e);
/* Queues a prepared response (takes care of common headers and status). */
enum MHD_Result api_queue(struct api_req *r, unsigned status,
			  struct MHD_Response *resp);

/* Route handlers. */
enum MHD_Result api_directory(struct api_req *r);
enum MHD_Result api_token_request(struct api_req *r);
enum MHD_Result api_healthz(struct api_req *r);
enum MHD_Result api_readyz(struct api_req *r);
enum MHD_Result api_metrics(struct api_req *r);
enum MHD_Result api_redeem(struct api_req *r);

/* The route for a path, or NULL. */
const struct api_route *api_route_find(const char *path, int redeem_enabled);
/* Whether a Content-Type value names media type want (parameters ignored). */
int api_media_type_is(const char *value, const char *want);

uint64_t api_now_us(void);

#endif
