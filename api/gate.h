/* The gate's HTTP side (`ppissuer gate`): a forward-auth endpoint for a
 * reverse proxy (nginx auth_request, Caddy forward_auth, Traefik
 * ForwardAuth), on the same event loop as the issuer (api/listener.h).
 *
 *   /gate (any method)  200 allow, 401 + WWW-Authenticate deny, 503 cannot
 *                       decide (the proxy must deny: nginx answers 500)
 *   /healthz            200 while the process runs
 *   /readyz             200 once the issuer's directory was read, else 503
 *
 * The decision is the issuer/ service's (issuer/gate.h); this file only
 * reads the Authorization and Cookie headers and writes the answer. */
#ifndef PP_API_GATE_H
#define PP_API_GATE_H

#include <stddef.h>
#include <stdint.h>

struct gate;
struct gate_dir;

struct api_gate_opts {
	const char *host;
	uint16_t port;                /* 0 = any free port */
	unsigned threads;             /* 0 = one per CPU */
	unsigned max_connections;
	unsigned connection_timeout;  /* seconds */
	unsigned request_timeout;     /* seconds */
	int log_requests;
	int cookie_secure;            /* Set-Cookie carries Secure */
	struct gate *gate;            /* borrowed */
	struct gate_dir *dir;         /* borrowed: readiness */
};

struct api_gate;

int api_gate_start(const struct api_gate_opts *o, struct api_gate **out,
		   char *err, size_t errlen);
uint16_t api_gate_port(const struct api_gate *s);
/* Stops accepting, lets in-flight requests finish for up to timeout_s,
 * then closes everything and frees s. Shut the spent store down after the
 * drain and before this frees the loops (as for the issuer). NULL is
 * accepted. */
void api_gate_drain(struct api_gate *s, unsigned timeout_s);
void api_gate_stop(struct api_gate *s);

#endif
