/* HTTP translation of the gate (see api/gate.h). */
#include "api/gate.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/listener.h"
#include "base/pp_err.h"
#include "issuer/gate.h"
#include "issuer/gate_dir.h"
#include "issuer/log.h"

#define GATE_BODY_DISCARD_MAX (64 * 1024)

struct api_gate {
	struct api_gate_opts o;
	struct api_listener *l;
	atomic_long inflight;
};

/* Per request: made in the access handler, freed in the completion
 * callback. */
struct gate_areq {
	struct api_gate *s;
	struct MHD_Connection *conn;
	struct api_listener_thread *loop;
	struct api_resume resume;
	struct api_deferred defer;    /* the decision, after the daemon's run */
	const char *auth, *cookie;    /* its headers; the connection holds them */
	uint64_t t0_us;
	size_t discarded;
	int submitted;
	atomic_int decided;
	struct gate_result res;
	unsigned status;
	const char *reason;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The one table from verdicts to statuses. */
static const unsigned gate_status[GATE_VERDICT_COUNT] = {
	[GATE_NONE] = 500,
	[GATE_ALLOW] = 200,
	[GATE_DENY] = 401,
	[GATE_UNAVAILABLE] = 503,
};

static enum MHD_Result answer(struct gate_areq *r, unsigned status,
			      const char *result, const char *reason,
			      struct MHD_Response **out_resp)
{
	struct MHD_Response *resp;
	char body[160];
	int n;

	n = snprintf(body, sizeof(body), "{\"result\":\"%s\"%s%s%s}", result,
		     reason ? ",\"reason\":\"" : "", reason ? reason : "",
		     reason ? "\"" : "");
	resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (reason)
		MHD_add_response_header(resp, "Privacy-Pass-Reason", reason);
	r->status = status;
	r->reason = reason;
	*out_resp = resp;
	return MHD_YES;
}

static enum MHD_Result queue(struct gate_areq *r, struct MHD_Response *resp)
{
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);

	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result simple(struct gate_areq *r, unsigned status,
			      const char *result, const char *reason)
{
	struct MHD_Response *resp = NULL;

	if (answer(r, status, result, reason, &resp) != MHD_YES)
		return MHD_NO;
	return queue(r, resp);
}

/* The decision is known: write it. */
static enum MHD_Result gate_answer(struct gate_areq *r)
{
	const struct gate_result *res = &r->res;
	struct MHD_Response *resp = NULL;
	unsigned status = (unsigned)res->verdict < GATE_VERDICT_COUNT ?
				  gate_status[res->verdict] : 500;
	char hdr[GATE_CHALLENGE_MAX];

	if (status == 200) {
		if (answer(r, 200, "allow", NULL, &resp) != MHD_YES)
			return MHD_NO;
		if (res->session) {
			MHD_add_response_header(resp, "Privacy-Pass-Session", "1");
		} else {
			snprintf(hdr, sizeof(hdr), "%u", res->token_type);
			MHD_add_response_header(resp, "Privacy-Pass-Token-Type", hdr);
			MHD_add_response_header(resp, "Privacy-Pass-Token-Key-Id", res->key_id);
		}
		if (res->cookie[0]) {
			snprintf(hdr, sizeof(hdr),
				 GATE_COOKIE_NAME "=%s; Max-Age=%ld; Path=/; HttpOnly; "
				 "SameSite=Lax%s", res->cookie, res->cookie_max_age,
				 r->s->o.cookie_secure ? "; Secure" : "");
			MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, hdr);
		}
		return queue(r, resp);
	}
	if (status == 401) {
		/* a denial carries a fresh challenge, or it cannot be made */
		if (gate_challenge_header(r->s->o.gate, hdr, sizeof(hdr)) != 0)
			return simple(r, 503, "unavailable",
				      gate_reason_name(GATE_R_NO_DIRECTORY));
		if (answer(r, 401, "deny", gate_reason_name(res->reason), &resp) != MHD_YES)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, hdr);
		return queue(r, resp);
	}
	if (answer(r, status, "unavailable", gate_reason_name(res->reason), &resp) != MHD_YES)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return queue(r, resp);
}

/* Where the decision is made (inline, the spent store's thread or the
 * remote redeemer's): keep it, wake the connection. */
static void on_decided(void *arg, const struct gate_result *res)
{
	struct gate_areq *r = arg;

	r->res = *res;
	atomic_store(&r->decided, 1);
	api_listener_resume(r->loop, &r->resume);
}

/* The verification and the spend, started from the loop thread after the
 * daemon's run. */
static void gate_start(struct api_deferred *d)
{
	struct gate_areq *r = (struct gate_areq *)(void *)((char *)d -
							   offsetof(struct gate_areq, defer));

	if (gate_decide(r->s->o.gate, r->auth, r->cookie, on_decided, r) != 0) {
		r->res.verdict = GATE_UNAVAILABLE;
		r->res.reason = GATE_R_INTERNAL;
		atomic_store(&r->decided, 1);
		api_listener_resume(r->loop, &r->resume);
	}
}

static enum MHD_Result on_request(struct gate_areq *r, const char *url)
{
	if (atomic_load(&r->decided))
		return gate_answer(r);
	if (!strcmp(url, "/healthz"))
		return simple(r, 200, "ok", NULL);
	if (!strcmp(url, "/readyz"))
		return gate_dir_ready(r->s->o.dir) ?
			       simple(r, 200, "ready", NULL) :
			       simple(r, 503, "not_ready", gate_reason_name(GATE_R_NO_DIRECTORY));
	if (strcmp(url, "/gate"))
		return simple(r, 404, "not_found", NULL);
	if (r->submitted)
		return MHD_YES;
	r->auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					      MHD_HTTP_HEADER_AUTHORIZATION);
	r->cookie = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_COOKIE);
	r->submitted = 1;
	r->loop = api_listener_self();
	r->resume.conn = r->conn;
	r->defer.run = gate_start;
	MHD_suspend_connection(r->conn);
	api_listener_defer(&r->defer);
	return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_size, void **con_cls)
{
	struct gate_areq *r = *con_cls;

	(void)method;
	(void)version;
	(void)upload_data;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->s = cls;
		r->conn = conn;
		r->t0_us = now_us();
		*con_cls = r;
		atomic_fetch_add(&r->s->inflight, 1);
		return MHD_YES;
	}
	if (*upload_size) {
		/* a forward-auth request has no body: what comes is dropped */
		r->discarded += *upload_size;
		*upload_size = 0;
		return r->discarded > GATE_BODY_DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	return on_request(r, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gate_areq *r = *con_cls;
	struct api_gate *s = cls;

	(void)conn;
	(void)toe;
	if (!r)
		return;
	*con_cls = NULL;
	if (s->o.log_requests && r->status) {
		char line[512];
		size_t n = log_begin(line, sizeof(line), "info");

		int key = r->status == 200 && r->res.key_id[0];

		n += (size_t)snprintf(line + n, sizeof(line) - n,
				      ",\"route\":\"/gate\",\"status\":%u,\"dur_us\":%llu",
				      r->status, (unsigned long long)(now_us() - r->t0_us));
		if (r->reason && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n,
					      ",\"reason\":\"%s\"", r->reason);
		if (key && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n,
					      ",\"key_id\":\"%s\"", r->res.key_id);
		if (n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, "}");
		if (n < sizeof(line))
			log_line_batched(line, n, atomic_load(&s->inflight) <= 1);
	}
	free(r);
	atomic_fetch_sub(&s->inflight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("http: %s", msg);
}

int api_gate_start(const struct api_gate_opts *o, struct api_gate **out,
		   char *err, size_t errlen)
{
	struct api_gate *s;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32768, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct api_listener_cfg c;
	int rc;

	*out = NULL;
	if (!o->gate || !o->dir)
		return PP_ERR_ARG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return PP_ERR_NOMEM;
	s->o = *o;
	memset(&c, 0, sizeof(c));
	c.host = o->host;
	c.port = o->port;
	c.threads = o->threads;
	c.max_connections = o->max_connections ? o->max_connections : 4096;
	c.request_timeout = o->request_timeout;
	c.access = on_access;
	c.access_cls = s;
	c.completed = on_completed;
	c.completed_cls = s;
	c.logger = on_mhd_error;
	c.opts = opts;
	if (!c.threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c.threads = n > 0 ? (unsigned)n : 1;
	}
	if (c.threads > c.max_connections)
		c.threads = c.max_connections;
	rc = api_listener_start(&c, &s->l, err, errlen);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

uint16_t api_gate_port(const struct api_gate *s)
{
	return api_listener_port(s->l);
}

void api_gate_drain(struct api_gate *s, unsigned timeout_s)
{
	uint64_t deadline;

	if (!s)
		return;
	api_listener_quiesce(s->l);
	deadline = now_us() + (uint64_t)timeout_s * 1000000u;
	while (atomic_load(&s->inflight) > 0 && now_us() < deadline)
		usleep(20000);
}

void api_gate_stop(struct api_gate *s)
{
	if (!s)
		return;
	api_listener_free(s->l);
	free(s);
	log_flush();
}
