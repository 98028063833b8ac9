/* The HTTP front end: a libmicrohttpd daemon that bounds and parses requests,
 * calls the issuer services, and maps their results to statuses and short
 * JSON bodies. It never touches OpenSSL and never sees a private key. */
#ifndef PP_API_H
#define PP_API_H

#include <stddef.h>
#include <stdint.h>

struct svc;
struct cl_current;
struct rl_limiter;
struct tn_current;

struct api_opts {
	const char *host;             /* numeric address or name to bind */
	uint16_t port;                /* 0 = any free port */
	unsigned threads;             /* 0 = one per CPU */
	unsigned max_connections;
	unsigned connection_timeout;  /* seconds */
	unsigned request_timeout;     /* seconds from a request's first byte to its last */
	size_t connection_memory;     /* bytes */
	long directory_max_age;       /* seconds */
	int log_requests;
	int log_client_address;
	unsigned max_batch;           /* items in a generic batch */
	unsigned max_amortized_batch; /* elements in an amortized batch */
	struct svc *svc;              /* the issuer's services (issuer/service.h);
				       * borrowed: outlives the server */
	/* Several issuers (issuer/tenant.h): each request goes to the issuer
	 * its Host names, with that issuer's svc, clients, limits and
	 * require-auth; svc, clients, limits and require_auth below are then
	 * unused. NULL: one issuer, svc. Borrowed. */
	struct tn_current *issuers;
	/* clients (api/auth.c) */
	struct cl_current *clients;   /* borrowed; NULL: nobody registered */
	struct rl_limiter *limits;    /* borrowed; NULL: no limits */
	int require_auth;             /* never open, even with no clients */
	int metrics_auth;             /* /metrics needs a client's credentials */
	unsigned per_ip_connections;  /* per client address; 0 = no limit */
	/* mutual-TLS listener (api/tls.c); tls_host NULL: none */
	const char *tls_host;
	uint16_t tls_port;
	const char *tls_cert_file;    /* PEM chain */
	const char *tls_key_file;     /* PEM key; refused if group/other can read */
	const char *tls_client_ca_file; /* PEM CAs of client certificates, or NULL */
};

struct api_server;

/* Starts listening. Returns 0 or PP_ERR_* with err filled. */
int api_server_start(const struct api_opts *o, struct api_server **out,
		     char *err, size_t errlen);
/* The bound port (useful with port 0). */
uint16_t api_server_port(const struct api_server *s);
/* The TLS listener's bound port, or 0 when there is none. */
uint16_t api_server_tls_port(const struct api_server *s);
/* Stops accepting and lets in-flight requests finish for at most timeout_s
 * seconds; the threads keep serving open connections. */
void api_server_drain(struct api_server *s, unsigned timeout_s);
/* Graceful stop: api_server_drain, then closes every connection and frees s.
 * A redemption still waiting for the spent store would be resumed on a
 * freed connection: shut the store down (spent_shutdown) between the two. */
void api_server_stop(struct api_server *s, unsigned timeout_s);

#endif
