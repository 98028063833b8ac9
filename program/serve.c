/* `ppissuer serve`: the composition root. Reads the configuration, opens the
 * key store, builds the first key-set snapshot, starts the HTTP daemon, and
 * then waits for signals: SIGHUP (or a change noticed on disk, or a due key
 * transition) rebuilds the snapshot off the request path and swaps it in;
 * SIGTERM/SIGINT drain in-flight requests and exit 0. */
#include "program/serve.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "base/pp_err.h"
#include "program/config.h"
#include "issuer/ext_policy.h"
#include "issuer/log.h"
#include "issuer/metrics.h"
#include "issuer/retire.h"
#include "issuer/service.h"
#include "crypto/token_types.h"
#include "program/serve_clients.h"
#include "issuer/spent.h"
#include "keys/keyset.h"
#include "keys/lifecycle.h"
#include "keys/maintain.h"
#include "keys/pkcs11.h"
#include "keys/store.h"

struct srv {
	struct cfg cfg;
	struct kl_schedule sched;
	struct ks_store *store;
	struct spent_store *spent;
	struct ks_current *current;
	struct ks_keyset_opts kopts;
	char *request_uri;
	int64_t next_purge;
	struct srv_clients clients;  /* registry and limits (serve_clients.c) */
	struct rt_tracker retire;    /* retired keys and their records */
	const struct tt_ops *types[16];  /* token types served (token-types) */
	size_t n_types;
	struct svc *svc;             /* what api/ calls */
	struct p11 *p11;             /* keys in a PKCS#11 token, or NULL */
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Builds a new snapshot and swaps it in. A failure keeps the old one. */
static int srv_reload(struct srv *s, const char *why)
{
	struct ks_keyset *ks = NULL, *old;
	char err[512] = "";
	int rc;

	old = ks_current_get(s->current);
	s->kopts.prev = old;   /* keys that cannot be read now keep their entry */
	rc = ks_keyset_build(s->store, &s->kopts, now_s(), &ks, err, sizeof(err));
	s->kopts.prev = NULL;
	ks_keyset_unref(old);
	if (rc != 0) {
		met_reload(0);
		log_error("key reload (%s) failed, still serving the previous key set: %s",
			  why, err[0] ? err : pp_err_str(rc));
		return rc;
	}
	if (err[0])
		log_warn("key reload (%s): %s", why, err);
	log_info("key set loaded (%s): %zu keys, etag %s", why, ks->n, ks->etag);
	ks_current_swap(s->current, ks);
	met_reload(1);
	ks = ks_current_get(s->current);
	rt_drop_retired(&s->retire, s->store, ks, &s->kopts, now_s());
	ks_keyset_unref(ks);
	return 0;
}

/* Called every reload-interval: rebuild when the store changed on disk or a
 * scheduled state transition (a pending key activating, a retiring key
 * expiring) is due. */
static void srv_tick(struct srv *s)
{
	char err[512] = "";
	struct ks_keyset *cur;
	size_t i;
	int stale;

	srv_clients_tick(&s->clients);
	/* Records whose key retired while no server was running are removed by
	 * their expiry: purge once at start-up and then daily. */
	if (s->spent && now_s() >= s->next_purge) {
		uint64_t removed = 0;

		if (rt_purge_expired(&s->retire, s->store, &s->kopts, now_s(),
				     &removed) == 0 && removed)
			log_info("spent store: %llu expired records purged",
				 (unsigned long long)removed);
		s->next_purge = now_s() + 86400;
	}
	for (i = 0; s->cfg.auto_rotate && i < s->n_types; i++) {
		struct ks_rotation rot;

		/* Every server sharing the data dir may try; the store's writer
		 * lock and if-due make exactly one of them add the key. */
		if (ks_store_rotate(s->store, s->types[i]->type, now_s(), &s->sched,
				    1, &rot, err, sizeof(err)) != 0)
			log_error("scheduled rotation of %s keys failed: %s",
				  s->types[i]->name, err);
		else if (rot.rotated)
			log_info("rotated: %s key %s signs from %lld",
				 s->types[i]->name, rot.added.id_hex,
				 (long long)rot.added.not_before);
	}

	cur = ks_current_get(s->current);
	stale = ks_keyset_stale(cur, s->store, now_s());
	ks_keyset_unref(cur);
	if (stale)
		srv_reload(s, "key store changed or a key transition is due");
}

/* Slow key generation at start (a 0xDA7A key searches for safe primes):
 * say so once, then every 30 s, so a quiet start is not taken for a hang. */
static void srv_keygen_progress(void *ctx)
{
	int64_t *last = ctx;

	if (*last == 0)
		log_info("generating a key with safe primes; this takes seconds "
			 "to minutes (import one with ppissuer keys import to "
			 "skip this)");
	else if (now_s() - *last >= 30)
		log_info("still searching for safe primes");
	else
		return;
	*last = now_s();
}

static void srv_report(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("key store: %s", msg);
}

static int srv_duration(const char *name, const char *text, int64_t *out,
			char *err, size_t errlen)
{
	if (kl_duration_parse(text, out) != 0 || *out <= 0) {
		snprintf(err, errlen, "%s: '%s' is not a duration (e.g. 90s, 15m, 12h, 7d)",
			 name, text);
		return PP_ERR_CONFIG;
	}
	return 0;
}

static int srv_schedule(struct srv *s, char *err, size_t errlen)
{
	if (srv_duration("rotate-lifetime", s->cfg.rotate_lifetime, &s->sched.lifetime,
			 err, errlen) ||
	    srv_duration("rotate-lead", s->cfg.rotate_lead, &s->sched.lead, err, errlen) ||
	    srv_duration("rotate-overlap", s->cfg.rotate_overlap, &s->sched.overlap,
			 err, errlen))
		return PP_ERR_CONFIG;
	if (s->cfg.auto_rotate)
		return kl_schedule_check(&s->sched, s->cfg.directory_max_age, err, errlen);
	return 0;
}

/* token-types: the types this server makes keys for and rotates, each
 * named by number or by its entry's name in the token-type table. */
static int srv_types(struct srv *s, char *err, size_t errlen)
{
	char *list = strdup(s->cfg.token_types ? s->cfg.token_types : "2");
	char *save = NULL, *tok;
	int rc = 0;

	if (list == NULL)
		return PP_ERR_NOMEM;
	for (tok = strtok_r(list, ", ", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ", ", &save)) {
		const struct tt_ops *tt = tt_parse(tok);
		size_t i;

		if (tt == NULL) {
			snprintf(err, errlen, "token-types: '%s' is not a token "
				 "type this issuer serves", tok);
			rc = PP_ERR_CONFIG;
			break;
		}
		for (i = 0; i < s->n_types && s->types[i] != tt; i++)
			;
		if (i == s->n_types && s->n_types < sizeof(s->types) / sizeof(s->types[0]))
			s->types[s->n_types++] = tt;
	}
	if (rc == 0 && s->n_types == 0) {
		snprintf(err, errlen, "token-types: name at least one type");
		rc = PP_ERR_CONFIG;
	}
	free(list);
	return rc;
}

static int srv_open_spent(struct srv *s, char *err, size_t errlen)
{
	struct spent_config sc;

	memset(&sc, 0, sizeof(sc));
	sc.backend = s->cfg.spent_backend;
	sc.data_dir = s->cfg.data_dir;
	sc.lmdb_map_size = (size_t)s->cfg.lmdb_map_mb << 20;
	sc.lmdb_map_max = (size_t)s->cfg.lmdb_map_max_mb << 20;
	sc.redis_allow_volatile = s->cfg.redis_allow_volatile;
	sc.redis_host = s->cfg.redis_host;
	sc.redis_port = (unsigned)s->cfg.redis_port;
	sc.redis_password = s->cfg.redis_password;
	sc.redis_db = (unsigned)s->cfg.redis_db;
	sc.redis_prefix = s->cfg.redis_prefix;
	sc.redis_timeout_ms = (unsigned)s->cfg.redis_timeout_ms;
	sc.redis_cluster = s->cfg.redis_cluster;
	sc.redis_min_replicas = (int)s->cfg.redis_min_replicas;
	return spent_open(&sc, &s->spent, err, errlen);
}

static char *request_uri(const struct cfg *c)
{
	const char *path = "/token-request";
	size_t n;
	char *u;

	if (!c->public_url)
		return strdup(path);
	n = strlen(c->public_url);
	while (n > 0 && c->public_url[n - 1] == '/')
		n--;
	u = malloc(n + strlen(path) + 1);
	if (!u)
		return NULL;
	memcpy(u, c->public_url, n);
	strcpy(u + n, path);
	return u;
}

static int srv_wait(struct srv *s)
{
	sigset_t set;
	siginfo_t info;
	struct timespec ts;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		ts.tv_sec = s->cfg.reload_interval;
		ts.tv_nsec = 0;
		sig = sigtimedwait(&set, &info, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig == SIGHUP) {
			srv_reload(s, "SIGHUP");
			srv_clients_reload(&s->clients, "SIGHUP");
		}
		else if (sig < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		else
			srv_tick(s);
		/* request lines gathered while a request stays in flight */
		log_flush();
	}
}

int srv_main(int argc, char **argv)
{
	struct srv s;
	struct api_server *api = NULL;
	struct api_opts ao;
	struct ks_keyset *ks = NULL;
	struct ks_secret *secret = NULL;
	struct ks_meta first;
	struct ext_policy extp;
	int64_t keygen_last = 0;
	char err[512] = "", host[256], tls_host[256];
	uint16_t port, tls_port = 0;
	sigset_t set;
	int rc, ret = 1, sig, created = 0;
	size_t i;

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
	/* Before anything is created: a server that must not run open stops
	 * here, and an unreadable registry never means "open". */
	rc = srv_clients_open(&s.clients, &s.cfg, err, sizeof(err));
	if (rc != 0) {
		log_error("%s", err);
		ret = rc == PP_ERR_CONFIG ? 2 : 1;
		goto cleanup;
	}
	if (srv_schedule(&s, err, sizeof(err)) != 0 ||
	    srv_types(&s, err, sizeof(err)) != 0 ||
	    extp_parse(s.cfg.ext_allowed_types, s.cfg.ext_expiry_precisions,
		       s.cfg.ext_expiry_max_future, &extp, err,
		       sizeof(err)) != 0) {
		fprintf(stderr, "ppissuer serve: %s\n", err);
		ret = 2;
		goto cleanup;
	}
	if (s.cfg.key_secret_file)
		rc = ks_secret_from_file(s.cfg.key_secret_file, &secret, err, sizeof(err));
	else
		rc = ks_secret_from_env(&secret, err, sizeof(err));
	if (rc != 0) {
		log_error("key secret: %s", err);
		goto cleanup;
	}
	rc = ks_store_open(s.cfg.data_dir, secret, &s.store, err, sizeof(err));
	ks_secret_free(secret);
	secret = NULL;
	if (rc != 0) {
		log_error("cannot open the key store: %s", err);
		goto cleanup;
	}
	ks_store_set_reporter(s.store, srv_report, NULL);
	ks_store_set_progress(s.store, srv_keygen_progress, &keygen_last);
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
		/* first keys and scheduled rotations are made in the token */
		p11_store_attach(s.p11, s.store);
		log_info("pkcs11: token '%s' of %s: new keys are made in the "
			 "token", s.cfg.pkcs11_token, s.cfg.pkcs11_module);
	}
	for (i = 0; i < s.n_types; i++) {
		rc = ks_store_ensure_key(s.store, s.types[i]->type, now_s(),
					 s.sched.overlap, &first, &created, err,
					 sizeof(err));
		if (rc != 0) {
			log_error("cannot create the first %s key: %s",
				  s.types[i]->name, err);
			goto cleanup;
		}
		if (created)
			log_info("no %s key signed: generated key %s (truncated "
				 "id 0x%02x)", s.types[i]->name, first.id_hex,
				 first.truncated_id);
	}
	rc = srv_open_spent(&s, err, sizeof(err));
	if (rc != 0) {
		log_error("cannot open the spent-token store: %s", err);
		goto cleanup;
	}
	s.request_uri = request_uri(&s.cfg);
	if (!s.request_uri)
		goto cleanup;
	s.kopts.issuer_request_uri = s.request_uri;
	s.kopts.signer_slots = 0;
	s.kopts.max_published = (unsigned)s.cfg.max_published;
	s.kopts.overlap = s.sched.overlap;
	s.kopts.p11 = s.p11;
	rt_init(&s.retire, s.spent);
	s.kopts.retired_before = rt_retired_before;
	s.kopts.retired_ctx = &s.retire;
	err[0] = '\0';
	rc = ks_keyset_build(s.store, &s.kopts, now_s(), &ks, err, sizeof(err));
	if (rc != 0) {
		log_error("cannot load keys: %s", err[0] ? err : pp_err_str(rc));
		goto cleanup;
	}
	if (err[0])
		log_warn("%s", err);
	log_info("key set loaded: %zu keys, etag %s", ks->n, ks->etag);
	rc = ks_current_new(ks, &s.current);
	if (rc != 0)
		goto cleanup;
	/* keys that retired while no server ran */
	rt_drop_retired(&s.retire, s.store, ks, &s.kopts, now_s());
	ks = NULL;

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
	rc = svc_new(s.current, s.spent, &s.svc);
	if (rc != 0)
		goto cleanup;
	svc_set_ext_policy(s.svc, &extp);
	ao.svc = s.svc;
	/* Clients, limits and the mutual-TLS listener (issue 6). */
	ao.clients = s.clients.current;
	ao.limits = s.clients.limits;
	ao.require_auth = s.cfg.require_auth;
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
	log_info("listening on %s:%u", host, api_server_port(api));
	sig = srv_wait(&s);
	log_info("%s received, draining in-flight requests",
		 sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "error");
	api_server_drain(api, (unsigned)s.cfg.shutdown_timeout);
	/* spends still queued past the drain are answered while the loops
	 * that hold their connections run */
	spent_shutdown(s.spent);
	api_server_stop(api, 0);
	api = NULL;
	spent_close(s.spent);
	s.spent = NULL;
	log_info("stopped");
	ret = sig < 0 ? 1 : 0;
cleanup:
	api_server_stop(api, 0);
	ks_keyset_unref(ks);
	ks_current_free(s.current);
	srv_clients_close(&s.clients);
	svc_free(s.svc);
	rt_free(&s.retire);
	spent_close(s.spent);
	ks_store_close(s.store);
	p11_close(s.p11);   /* after every snapshot that signs with it */
	free(s.request_uri);
	cfg_free(&s.cfg);
	return ret;
}
