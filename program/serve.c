/* `ppissuer serve`: the composition root. Reads the configuration, opens
 * each issuer (one, or one per entry of the issuers section: key store,
 * key-set snapshot, spent store, clients; program/serve_issuer.c), starts
 * the HTTP daemon, and then waits for signals: SIGHUP (or a change noticed
 * on disk, or a due key transition) rebuilds snapshots off the request path
 * and swaps them in, and with several issuers rereads the issuers section
 * (program/serve_issuers.c); SIGTERM/SIGINT drain in-flight requests and
 * exit 0. */
#include "program/serve.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "base/pp_err.h"
#include "issuer/log.h"
#include "issuer/tenant.h"
#include "keys/pkcs11.h"
#include "program/config.h"
#include "program/serve_int.h"
#include "program/serve_issuer.h"

static void srv_tick(struct srv *s)
{
	size_t i;

	for (i = 0; i < s->n_units; i++)
		srv_issuer_tick(s->units[i]);
	if (s->table) {
		srv_issuers_check(s);
		srv_issuers_reap(s);
	}
}

static void srv_hup(struct srv *s)
{
	struct cfg_issuer *v = NULL;
	char err[512] = "";
	size_t i, n = 0;

	for (i = 0; i < s->n_units; i++)
		srv_issuer_reload(s->units[i], "SIGHUP");
	if (s->table) {
		srv_issuers_reload(s, "SIGHUP");
		return;
	}
	/* one issuer: an issuers section added since start needs a restart */
	if (s->cfg.config_file &&
	    cfg_issuers_reload(&s->cfg, &v, &n, err, sizeof(err)) == 0 && n > 0)
		log_error("the config file now has an issuers section; going from "
			  "one issuer to several needs a restart");
	cfg_issuers_free(v, n);
}

static int64_t srv_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int srv_wait(struct srv *s)
{
	sigset_t set;
	siginfo_t info;
	struct timespec ts;
	int64_t next_tick;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* short waits: request lines gathered while another request was in
	 * flight reach stderr within LOG_FLUSH_MS even on a quiet server */
	ts.tv_sec = 0;
	ts.tv_nsec = LOG_FLUSH_MS * 1000000L;
	next_tick = srv_now_ms() + (int64_t)s->cfg.reload_interval * 1000;
	for (;;) {
		sig = sigtimedwait(&set, &info, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig == SIGHUP)
			srv_hup(s);
		else if (sig < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		else if (srv_now_ms() >= next_tick) {
			srv_tick(s);
			next_tick = srv_now_ms() + (int64_t)s->cfg.reload_interval * 1000;
		}
		log_flush();
	}
}

static void srv_shutdown_stores(struct srv *s)
{
	size_t i;

	for (i = 0; i < s->n_units; i++)
		srv_issuer_shutdown(s->units[i]);
	for (i = 0; i < s->n_leaving; i++)
		srv_issuer_shutdown(s->leaving[i]);
}

int srv_main(int argc, char **argv)
{
	struct srv s;
	struct api_server *api = NULL;
	struct api_opts ao;
	char err[768] = "", host[256], tls_host[256];
	uint16_t port, tls_port = 0;
	sigset_t set;
	int rc, ret = 1, sig;

	memset(&s, 0, sizeof(s));
	cfg_init(&s.cfg);
	/* Signals are taken synchronously by the main thread; every thread
	 * started later inherits this mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = cfg_load(&s.cfg, argc, argv, err, sizeof(err));
	if (rc == 1) {
		ret = 0;
		goto cleanup;
	}
	if (rc != 0 || cfg_listen_addr(&s.cfg, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "ppissuer serve: %s\n",
			err[0] ? err : "listen must be ADDR:PORT, e.g. 127.0.0.1:8080");
		ret = 2;
		goto cleanup;
	}
	if (sodium_init() < 0) {
		log_error("libsodium failed to initialise");
		goto cleanup;
	}
	if (s.cfg.pkcs11_module) {
		struct p11_config pc = { s.cfg.pkcs11_module, s.cfg.pkcs11_token,
					 s.cfg.pkcs11_pin_file, 0 };

		rc = p11_open(&pc, &s.p11, err, sizeof(err));
		if (rc != 0) {
			log_error("cannot use the PKCS#11 token: %s", err);
			ret = rc == PP_ERR_CONFIG || rc == PP_ERR_AUTH ||
			      rc == PP_ERR_PERM ? 2 : 1;
			goto cleanup;
		}
		log_info("pkcs11: token '%s' of %s: new keys are made in the "
			 "token", s.cfg.pkcs11_token, s.cfg.pkcs11_module);
	}
	if (s.cfg.n_issuers)
		rc = srv_issuers_open(&s, err, sizeof(err));
	else if (!(s.units = calloc(1, sizeof(*s.units))))
		rc = PP_ERR_NOMEM;
	else if ((rc = srv_issuer_open(&s.cfg, NULL, NULL, 0, NULL, s.p11, NULL,
				       &s.units[0], err, sizeof(err))) == 0)
		s.n_units = 1;
	if (rc != 0) {
		if (rc == PP_ERR_CONFIG)
			fprintf(stderr, "ppissuer serve: %s\n", err);
		else
			log_error("%s", err[0] ? err : pp_err_str(rc));
		ret = rc == PP_ERR_CONFIG ? 2 : 1;
		goto cleanup;
	}

	memset(&ao, 0, sizeof(ao));
	ao.host = host;
	ao.port = port;
	ao.threads = (unsigned)s.cfg.threads;
	ao.max_connections = (unsigned)s.cfg.max_connections;
	ao.connection_timeout = (unsigned)s.cfg.connection_timeout;
	ao.request_timeout = (unsigned)s.cfg.request_timeout;
	ao.connection_memory = (size_t)s.cfg.connection_memory;
	ao.directory_max_age = s.cfg.directory_max_age;
	ao.log_requests = s.cfg.log_requests;
	ao.log_client_address = s.cfg.log_client_address;
	ao.max_batch = (unsigned)s.cfg.max_batch;
	ao.max_amortized_batch = (unsigned)s.cfg.max_amortized_batch;
	if (s.table) {
		ao.issuers = s.table;
	} else {
		/* Clients, limits and the mutual-TLS listener (issue 6). */
		ao.svc = s.units[0]->svc;
		ao.clients = s.units[0]->clients.current;
		ao.limits = s.units[0]->clients.limits;
		ao.require_auth = s.cfg.require_auth;
	}
	ao.metrics_auth = s.cfg.metrics_auth;
	ao.per_ip_connections = (unsigned)s.cfg.max_connections_per_ip;
	if (s.cfg.tls_listen) {
		if (cfg_addr_parse(s.cfg.tls_listen, tls_host, sizeof(tls_host), &tls_port)) {
			fprintf(stderr, "ppissuer serve: tls-listen must be ADDR:PORT\n");
			ret = 2;
			goto cleanup;
		}
		ao.tls_host = tls_host;
		ao.tls_port = tls_port;
		ao.tls_cert_file = s.cfg.tls_cert;
		ao.tls_key_file = s.cfg.tls_key;
		ao.tls_client_ca_file = s.cfg.tls_client_ca;
	}
	rc = api_server_start(&ao, &api, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		goto cleanup;
	}
	if (api_server_tls_port(api))
		log_info("tls: accepting HTTPS%s on %s:%u", s.cfg.tls_client_ca ?
			 " with client certificates" : "", tls_host, api_server_tls_port(api));
	if (s.table)
		log_info("serving %zu issuers", s.n_units);
	log_info("listening on %s:%u", host, api_server_port(api));
	sig = srv_wait(&s);
	log_info("%s received, draining in-flight requests",
		 sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "error");
	api_server_drain(api, (unsigned)s.cfg.shutdown_timeout);
	/* spends still queued past the drain are answered while the loops
	 * that hold their connections run */
	srv_shutdown_stores(&s);
	api_server_stop(api, 0);
	api = NULL;
	log_info("stopped");
	ret = sig < 0 ? 1 : 0;
cleanup:
	api_server_stop(api, 0);
	srv_issuers_close(&s);
	p11_close(s.p11);   /* after every snapshot that signs with it */
	cfg_free(&s.cfg);
	return ret;
}
