#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/framing.h"
#include "api/listener.h"
#include "api/req.h"
#include "api/tls.h"
#include "api/workers.h"
#include "base/pp_err.h"
#include "issuer/log.h"
#include "issuer/publish.h"
#include "issuer/service.h"
#include "issuer/tenant.h"

/* Past the body cap, a little more is read and dropped so the 413 can be
 * sent on a sane connection; beyond this the connection is simply closed. */
#define API_DISCARD_MAX (64 * 1024)

static atomic_int api_draining;
/* Requests started and not yet completed: what a graceful stop waits for
 * (idle keep-alive connections are not worth waiting for). */
static atomic_long api_inflight;

static enum MHD_Result add_common_headers(struct MHD_Response *resp)
{
	if (MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES)
		return MHD_NO;
	if (atomic_load(&api_draining) &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
		return MHD_NO;
	return MHD_YES;
}

enum MHD_Result api_queue(struct api_req *r, unsigned status,
			  struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (add_common_headers(resp) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	if (status == 405 && r->route)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->route->allow);
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->responded = 1;
	return ret;
}

enum MHD_Result api_respond(struct api_req *r, unsigned status,
			    const char *content_type, const void *body,
			    size_t len, const char *cache_control)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (cache_control)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
	return api_queue(r, status, resp);
}

enum MHD_Result api_respond_error_hdr(struct api_req *r, enum api_err e,
				      const char *name, const char *value)
{
	const struct api_error *ae = api_error_get(e);
	struct MHD_Response *resp;
	char body[256];
	int n;

	n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}",
		     ae->code, ae->message);
	r->err_code = ae->code;
	resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (name)
		MHD_add_response_header(resp, name, value);
	return api_queue(r, ae->status, resp);
}

enum MHD_Result api_respond_error(struct api_req *r, enum api_err e)
{
	return api_respond_error_hdr(r, e, NULL, NULL);
}

static unsigned method_bit(const char *m)
{
	if (!strcmp(m, MHD_HTTP_METHOD_GET))
		return API_M_GET;
	if (!strcmp(m, MHD_HTTP_METHOD_HEAD))
		return API_M_HEAD;
	if (!strcmp(m, MHD_HTTP_METHOD_POST))
		return API_M_POST;
	return 0;
}

/* Most requests have fewer header lines; more are counted and allocated. */
#define API_FRAMING_FIELDS 32
/* Whitespace between a colon and its value that still counts as in place. */
#define API_FRAMING_OWS_MAX 128

struct framing_fields {
	struct api_framing_field *f;
	size_t n, cap;
};

/* libmicrohttpd 0.9.75 parses a header line in place: the name, its colon
 * turned into a NUL, optional SP/HTAB, the value. An obs-fold line is glued
 * onto the previous line's *name* ("Content-Length: 5\r\n 0" arrives as
 * "Content-Length0: 5"), which is copied elsewhere in the connection's
 * pool; so a name that does not sit right before its value was folded. */
static int framing_folded(const char *name, size_t name_len, const char *value)
{
	uintptr_t end = (uintptr_t)name + name_len, v = (uintptr_t)value;
	size_t i;

	if (v <= end || v - end > API_FRAMING_OWS_MAX)
		return 1;
	for (i = 0; i < v - end; i++) {
		char c = name[name_len + i];

		if (i == 0 ? c != '\0' : (c != ' ' && c != '\t'))
			return 1;
	}
	return 0;
}

static enum MHD_Result framing_collect(void *cls, enum MHD_ValueKind kind,
				       const char *key, size_t key_size,
				       const char *value, size_t value_size)
{
	struct framing_fields *ff = cls;
	struct api_framing_field *f;

	(void)kind;
	if (ff->n == ff->cap)
		return MHD_NO;
	f = &ff->f[ff->n++];
	f->name = key;
	f->name_len = key_size;
	f->value = value ? value : "";
	f->value_len = value ? value_size : 0;
	f->folded = value ? framing_folded(key, key_size, value) : 0;
	return MHD_YES;
}

/* Framing before anything else (api/framing.c): a request a proxy in front
 * could have read with another length gets 400 and its connection closed,
 * so no byte after it is ever taken as a request. Sets r->responded when it
 * answered. */
static enum MHD_Result framing_check(struct api_req *r, const char *version)
{
	struct api_framing_field local[API_FRAMING_FIELDS];
	struct framing_fields ff = { local, 0, API_FRAMING_FIELDS };
	enum api_framing_verdict v;
	enum MHD_Result ret = MHD_NO;
	int count;

	count = MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, NULL, NULL);
	if (count > API_FRAMING_FIELDS) {
		ff.cap = (size_t)count;
		ff.f = calloc(ff.cap, sizeof(*ff.f));
		if (!ff.f)
			goto cleanup;
	}
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, framing_collect, &ff);
	v = api_framing_check(ff.f, ff.n, version);
	if (v == API_FRAMING_OK) {
		ret = MHD_YES;
		goto cleanup;
	}
	/* Queued on the first call, so libmicrohttpd reads no body and closes
	 * after the answer; the header says so to the client. */
	ret = api_respond_error_hdr(r, API_ERR_BAD_REQUEST, MHD_HTTP_HEADER_CONNECTION,
				    "close");
cleanup:
	if (ff.f != local)
		free(ff.f);
	return ret;
}

/* First call for a request: route, method, media type and declared length
 * are checked before any body byte is read. */
/* The largest body any media type of the route accepts: a declared length
 * past it is refused before the type is looked at, as before. */
static size_t media_cap_max(const struct api_req *r)
{
	size_t m = r->route->body_cap, i, c;

	for (i = 0; i < r->route->n_media; i++) {
		c = r->route->media[i].cap_fn(&r->srv->o);
		if (c > m)
			m = c;
	}
	return m;
}

/* Picks the handler and body cap of the media type ct names; 0 when the
 * route takes no such type. */
static int media_select(struct api_req *r, const char *ct)
{
	const struct api_media *m;
	size_t i;

	if (api_media_type_is(ct, r->route->content_type)) {
		r->body_cap = r->route->body_cap;
		r->handler = r->route->handler;
		return 1;
	}
	for (i = 0; i < r->route->n_media; i++) {
		m = &r->route->media[i];
		if (!api_media_type_is(ct, m->content_type))
			continue;
		r->body_cap = m->cap_fn(&r->srv->o);
		r->handler = m->handler;
		return r->body_cap > 0;
	}
	return 0;
}

static enum MHD_Result on_headers(struct api_req *r, const char *url)
{
	unsigned long long declared = 0;
	const char *ct, *cl;

	enum api_err why;
	int no_issuer = api_host_pick(r, &why);

	/* With no issuer named, /redeem is looked up as if served, so that
	 * every issuer route of an unknown host gets the same 421. */
	r->route = api_route_find(url, r->svc ? svc_redeem_enabled(r->svc) : 1);
	if (no_issuer && (!r->route || !api_route_any_host(r->route, &r->srv->o)))
		return api_respond_error(r, why);
	if (!r->route)
		return api_respond_error(r, API_ERR_NOT_FOUND);
	if (!(r->route->methods & r->method))
		return api_respond_error(r, API_ERR_METHOD);
	/* Credentials, role and limits (api/auth.c), before any body byte. */
	if (r->route->role != API_ROLE_NONE) {
		enum MHD_Result ret = api_auth_check(r);

		if (r->responded || ret != MHD_YES)
			return ret;
	}
	r->handler = r->route->handler;
	if (!r->route->body_cap)
		return MHD_YES;
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;

		errno = 0;
		declared = strtoull(cl, &end, 10);
		if (errno || end == cl || declared > media_cap_max(r))
			return api_respond_error(r, API_ERR_TOO_LARGE);
	}
	ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!media_select(r, ct))
		return api_respond_error(r, API_ERR_MEDIA_TYPE);
	if (cl && declared > r->body_cap)
		return api_respond_error(r, API_ERR_TOO_LARGE);
	r->body = malloc(r->body_cap);
	if (!r->body)
		return MHD_NO;
	return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_size, void **con_cls)
{
	struct api_req *r = *con_cls;

	if (!r) {
		enum MHD_Result ret;

		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = cls;
		r->conn = conn;
		r->t0_us = api_now_us();
		r->method = method_bit(method);
		*con_cls = r;
		atomic_fetch_add(&api_inflight, 1);
		ret = framing_check(r, version);
		if (r->responded || ret != MHD_YES)
			return ret;
		return on_headers(r, url);
	}
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (r->responded || r->too_large) {
			r->discarded += n;
			return r->discarded > API_DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (n > r->body_cap - r->body_len) {
			r->too_large = 1;
			r->discarded = n;
			return MHD_YES;
		}
		memcpy(r->body + r->body_len, upload_data, n);
		r->body_len += n;
		return MHD_YES;
	}
	if (r->responded)
		return MHD_YES;
	if (r->too_large)
		return api_respond_error(r, API_ERR_TOO_LARGE);
	return r->handler(r);
}

/* last: nothing else is in flight, so the line need not wait for others */
static void log_request(struct api_req *r, const char *method, int last)
{
	char line[1024];
	uint64_t dur = api_now_us() - r->t0_us;
	int n;

	n = (int)log_begin(line, sizeof(line), "info");
	n += snprintf(line + n, sizeof(line) - (size_t)n,
		     ",\"msg\":\"request\",\"method\":\"%s\","
		     "\"route\":\"%s\",\"status\":%u,\"dur_us\":%llu",
		     method, r->route ? r->route->path : "other", r->status,
		     (unsigned long long)dur);
	if (r->err_code && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"error\":\"%s\"",
			      r->err_code);
	if (r->key_id[0] && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"key_id\":\"%s\"",
			      r->key_id);
	if (r->issuer && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"issuer\":\"%s\"",
			      r->issuer);
	if (r->client[0] && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"client\":\"%s\"",
			      r->client);
	if (r->srv->o.log_client_address && n < (int)sizeof(line)) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char host[NI_MAXHOST];

		if (ci && ci->client_addr &&
		    getnameinfo(ci->client_addr,
				ci->client_addr->sa_family == AF_INET6 ?
					sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
				host, sizeof(host), NULL, 0, NI_NUMERICHOST) == 0)
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      ",\"client_addr\":\"%s\"", host);
	}
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '}';
	log_line_batched(line, (size_t)n, last);
}

static const char *method_name(unsigned m)
{
	return m == API_M_GET ? "GET" : m == API_M_HEAD ? "HEAD" :
	       m == API_M_POST ? "POST" : "OTHER";
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_req *r = *con_cls;
	struct api_server *s = cls;

	(void)conn;
	(void)toe;
	if (!r)
		return;
	*con_cls = NULL;
	met_request(r->route ? r->route->metric : MET_ROUTE_OTHER, r->status,
		    api_now_us() - r->t0_us);
	if (r->tab && r->svc)
		svc_count_request(r->svc, r->route ? r->route->metric : MET_ROUTE_OTHER,
				  r->status);
	api_auth_done(r);
	if (s->o.log_requests)
		log_request(r, method_name(r->method), atomic_load(&api_inflight) <= 1);
	if (r->doc)
		pub_put(r->doc);
	iss_batch_clear(&r->batch);   /* an answer never sent */
	if (r->issued) {
		explicit_bzero(r->issued, sizeof(*r->issued));
		free(r->issued);
	}
	tn_table_unref(r->tab);   /* after the last use of its issuer */
	free(r->body);
	free(r);
	atomic_fetch_sub(&api_inflight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("http: %s", msg);
}

static unsigned cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/* One listener: the same handlers and limits for plain HTTP and for TLS
 * (extra carries the TLS options; NULL for plain). */
static int listener_start(struct api_server *s, const char *host, uint16_t port,
			  const struct MHD_OptionItem *extra,
			  struct api_listener **l, char *err, size_t errlen)
{
	static const struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };
	const struct api_opts *o = &s->o;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)o->connection_memory, NULL },
		{ MHD_OPTION_ARRAY, 0, (void *)(uintptr_t)(extra ? extra : none) },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct api_listener_cfg c = {
		.host = host,
		.port = port,
		.threads = o->threads,
		.max_connections = o->max_connections,
		.per_ip = o->per_ip_connections,
		.request_timeout = o->request_timeout,
		.flags = extra ? MHD_USE_TLS : 0,
		.access = on_access,
		.access_cls = s,
		.completed = on_completed,
		.completed_cls = s,
		.logger = on_mhd_error,
		.opts = opts,
	};

	if (!c.threads)
		c.threads = cpus();
	if (c.threads > c.max_connections)
		c.threads = c.max_connections;
	/* the options are copied by each daemon as it starts */
	return api_listener_start(&c, l, err, errlen);
}

int api_server_start(const struct api_opts *o, struct api_server **out,
		     char *err, size_t errlen)
{
	struct api_server *s = NULL;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return PP_ERR_NOMEM;
	s->o = *o;
	atomic_store(&api_draining, 0);
	/* as many as loop threads: slow issuance may take every core */
	rc = api_workers_start(o->threads ? o->threads : cpus(), &s->workers,
			       err, errlen);
	if (rc)
		goto cleanup;
	rc = listener_start(s, o->host, o->port, NULL, &s->http, err, errlen);
	if (rc)
		goto cleanup;
	if (o->tls_host) {
		rc = api_tls_load(o, &s->tls, err, errlen);
		if (rc)
			goto cleanup;
		rc = listener_start(s, o->tls_host, o->tls_port, api_tls_options(s->tls),
				    &s->https, err, errlen);
		if (rc)
			goto cleanup;
	}
	*out = s;
	s = NULL;
cleanup:
	if (s) {
		api_workers_stop(s->workers);
		api_listener_free(s->https);
		api_listener_free(s->http);
		api_tls_free(s->tls);
	}
	free(s);
	return rc;
}

uint16_t api_server_port(const struct api_server *s)
{
	return api_listener_port(s->http);
}

uint16_t api_server_tls_port(const struct api_server *s)
{
	return s->https ? api_listener_port(s->https) : 0;
}

void api_server_drain(struct api_server *s, unsigned timeout_s)
{
	uint64_t deadline;

	if (!s)
		return;
	atomic_store(&api_draining, 1);
	/* Stop accepting; connections already open finish what they started. */
	api_listener_quiesce(s->http);
	if (s->https)
		api_listener_quiesce(s->https);
	deadline = api_now_us() + (uint64_t)timeout_s * 1000000u;
	for (;;) {
		if (atomic_load(&api_inflight) <= 0 || api_now_us() >= deadline)
			break;
		usleep(20000);
	}
}

void api_server_stop(struct api_server *s, unsigned timeout_s)
{
	if (!s)
		return;
	api_server_drain(s, timeout_s);
	/* jobs still queued run now and resume their connections, whose loop
	 * threads are still there */
	api_workers_stop(s->workers);
	api_listener_free(s->http);
	api_listener_free(s->https);
	api_tls_free(s->tls);
	free(s);
	log_flush();
}
