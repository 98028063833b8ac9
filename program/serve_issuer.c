/* One issuer of `ppissuer serve`: opened at start (or when a reload adds
 * it), ticked every reload-interval, reloaded on SIGHUP, closed when the
 * server stops or a reload removes it and its last request is done. */
#include "program/serve_issuer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "issuer/ext_policy.h"
#include "issuer/log.h"
#include "issuer/metrics.h"
#include "issuer/service.h"
#include "issuer/spent.h"
#include "issuer/tenant.h"
#include "keys/maintain.h"
#include "keys/pkcs11.h"
#include "keys/store.h"

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Keys the directory lists, of all types: every one more splits the
 * clients into smaller anonymity sets (RFC 9576), so past the configured
 * maximum the operator hears of it (log, and a gauge in /metrics). */
static void check_published(struct srv_issuer *u, const struct ks_keyset *ks)
{
	size_t i, n = 0;

	for (i = 0; i < ks->n; i++)
		n += ks->entries[i].published ? 1 : 0;
	u->published = n;
	if (u->cfg.max_published_keys > 0 && n > (size_t)u->cfg.max_published_keys)
		log_warn("%sthe directory publishes %zu keys, more than "
			 "max-published-keys %ld: each key splits the clients "
			 "into smaller anonymity sets; retire keys or serve fewer "
			 "token types", u->label, n, u->cfg.max_published_keys);
}

/* Builds a new snapshot and swaps it in. A failure keeps the old one. */
static int unit_reload_keys(struct srv_issuer *u, const char *why)
{
	struct ks_keyset *ks = NULL, *old;
	char err[512] = "";
	int rc;

	old = ks_current_get(u->current);
	u->kopts.prev = old;   /* keys that cannot be read now keep their entry */
	rc = ks_keyset_build(u->store, &u->kopts, now_s(), &ks, err, sizeof(err));
	u->kopts.prev = NULL;
	ks_keyset_unref(old);
	if (rc != 0) {
		met_reload(0);
		log_error("%skey reload (%s) failed, still serving the previous "
			  "key set: %s", u->label, why, err[0] ? err : pp_err_str(rc));
		return rc;
	}
	if (err[0])
		log_warn("%skey reload (%s): %s", u->label, why, err);
	log_info("%skey set loaded (%s): %zu keys, etag %s", u->label, why, ks->n,
		 ks->etag);
	ks_current_swap(u->current, ks);
	met_reload(1);
	ks = ks_current_get(u->current);
	check_published(u, ks);
	rt_drop_retired(&u->retire, u->store, ks, &u->kopts, now_s());
	ks_keyset_unref(ks);
	return 0;
}

void srv_issuer_reload(struct srv_issuer *u, const char *why)
{
	unit_reload_keys(u, why);
	srv_clients_reload(&u->clients, why);
}

/* Rebuild when the store changed on disk or a scheduled state transition
 * (a pending key activating, a retiring key expiring) is due. */
void srv_issuer_tick(struct srv_issuer *u)
{
	char err[512] = "";
	struct ks_keyset *cur;
	size_t i;
	int stale;

	srv_clients_tick(&u->clients);
	/* Records whose key retired while no server was running are removed by
	 * their expiry: purge once at start-up and then daily. */
	if (u->spent && now_s() >= u->next_purge) {
		uint64_t removed = 0;

		if (rt_purge_expired(&u->retire, u->store, &u->kopts, now_s(),
				     &removed) == 0 && removed)
			log_info("%sspent store: %llu expired records purged",
				 u->label, (unsigned long long)removed);
		u->next_purge = now_s() + 86400;
	}
	for (i = 0; u->cfg.auto_rotate && i < u->n_types; i++) {
		struct ks_rotation rot;

		/* Every server sharing the data dir may try; the store's writer
		 * lock and if-due make exactly one of them add the key. */
		if (ks_store_rotate(u->store, u->types[i]->type, now_s(), &u->sched,
				    1, &rot, err, sizeof(err)) != 0)
			log_error("%sscheduled rotation of %s keys failed: %s",
				  u->label, u->types[i]->name, err);
		else if (rot.rotated)
			log_info("%srotated: %s key %s signs from %lld", u->label,
				 u->types[i]->name, rot.added.id_hex,
				 (long long)rot.added.not_before);
	}

	cur = ks_current_get(u->current);
	stale = ks_keyset_stale(cur, u->store, now_s());
	ks_keyset_unref(cur);
	if (stale)
		unit_reload_keys(u, "key store changed or a key transition is due");
}

/* Slow key generation at start (a 0xDA7A key searches for safe primes):
 * say so once, then every 30 s, so a quiet start is not taken for a hang. */
static void unit_keygen_progress(void *ctx)
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

static void unit_report(void *ctx, const char *msg)
{
	const struct srv_issuer *u = ctx;

	log_warn("%skey store: %s", u->label, msg);
}

static int unit_duration(const char *name, const char *text, int64_t *out,
			 char *err, size_t errlen)
{
	if (kl_duration_parse(text, out) != 0 || *out <= 0) {
		snprintf(err, errlen, "%s: '%s' is not a duration (e.g. 90s, 15m, 12h, 7d)",
			 name, text);
		return PP_ERR_CONFIG;
	}
	return 0;
}

static int unit_schedule(struct srv_issuer *u, char *err, size_t errlen)
{
	if (unit_duration("rotate-lifetime", u->cfg.rotate_lifetime,
			  &u->sched.lifetime, err, errlen) ||
	    unit_duration("rotate-lead", u->cfg.rotate_lead, &u->sched.lead, err,
			  errlen) ||
	    unit_duration("rotate-overlap", u->cfg.rotate_overlap,
			  &u->sched.overlap, err, errlen))
		return PP_ERR_CONFIG;
	if (u->cfg.auto_rotate)
		return kl_schedule_check(&u->sched, u->cfg.directory_max_age, err,
					 errlen);
	return 0;
}

/* token-types: the types this issuer makes keys for and rotates, each
 * named by number or by its entry's name in the token-type table. */
static int unit_types(struct srv_issuer *u, char *err, size_t errlen)
{
	char *list = strdup(u->cfg.token_types ? u->cfg.token_types : "2");
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
		for (i = 0; i < u->n_types && u->types[i] != tt; i++)
			;
		if (i == u->n_types &&
		    u->n_types < sizeof(u->types) / sizeof(u->types[0]))
			u->types[u->n_types++] = tt;
	}
	if (rc == 0 && u->n_types == 0) {
		snprintf(err, errlen, "token-types: name at least one type");
		rc = PP_ERR_CONFIG;
	}
	free(list);
	return rc;
}

static int unit_open_spent(struct srv_issuer *u, char *err, size_t errlen)
{
	const struct cfg *c = &u->cfg;
	struct spent_config sc;
	char prefix[SPENT_PREFIX_MAX + 64];

	memset(&sc, 0, sizeof(sc));
	sc.backend = c->spent_backend;
	sc.data_dir = c->data_dir;
	sc.lmdb_map_size = (size_t)c->lmdb_map_mb << 20;
	sc.lmdb_map_max = (size_t)c->lmdb_map_max_mb << 20;
	sc.redis_allow_volatile = c->redis_allow_volatile;
	sc.redis_host = c->redis_host;
	sc.redis_port = (unsigned)c->redis_port;
	sc.redis_password = c->redis_password;
	sc.redis_db = (unsigned)c->redis_db;
	sc.redis_prefix = c->redis_prefix;
	/* An issuer's records and tombstones under its own prefix: a record
	 * of one issuer never answers for another, even with one Redis. */
	if (u->name) {
		snprintf(prefix, sizeof(prefix), "%s%s:",
			 c->redis_prefix ? c->redis_prefix : "pp:spent:", u->name);
		sc.redis_prefix = prefix;
	}
	sc.redis_timeout_ms = (unsigned)c->redis_timeout_ms;
	sc.redis_cluster = c->redis_cluster;
	sc.redis_min_replicas = (int)c->redis_min_replicas;
	return spent_open(&sc, &u->spent, err, errlen);
}

static char *request_uri(const struct cfg *c)
{
	const char *path = "/token-request";
	size_t n;
	char *uri;

	if (!c->public_url)
		return strdup(path);
	n = strlen(c->public_url);
	while (n > 0 && c->public_url[n - 1] == '/')
		n--;
	uri = malloc(n + strlen(path) + 1);
	if (!uri)
		return NULL;
	memcpy(uri, c->public_url, n);
	strcpy(uri + n, path);
	return uri;
}

static int unit_open_store(struct srv_issuer *u, struct p11 *p11, char *err,
			   size_t errlen)
{
	struct ks_secret *secret = NULL;
	char lerr[512] = "";
	int rc;

	if (u->name) {
		/* <data-dir>/issuers/ first; the key store makes the rest */
		char *parent = strdup(u->cfg.data_dir);
		char *slash = parent ? strrchr(parent, '/') : NULL;

		if (!parent)
			return PP_ERR_NOMEM;
		if (slash)
			*slash = '\0';
		/* <data-dir> itself, then <data-dir>/issuers */
		slash = strrchr(parent, '/');
		if (slash) {
			*slash = '\0';
			if (parent[0] && mkdir(parent, 0700) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create %s: %s", parent,
					 strerror(errno));
				free(parent);
				return PP_ERR_IO;
			}
			*slash = '/';
		}
		if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", parent,
				 strerror(errno));
			free(parent);
			return PP_ERR_IO;
		}
		free(parent);
	}
	if (u->cfg.key_secret_file)
		rc = ks_secret_from_file(u->cfg.key_secret_file, &secret, lerr,
					 sizeof(lerr));
	else
		rc = ks_secret_from_env(&secret, lerr, sizeof(lerr));
	if (rc != 0) {
		snprintf(err, errlen, "key secret: %s", lerr);
		return rc;
	}
	rc = ks_store_open(u->cfg.data_dir, secret, &u->store, lerr, sizeof(lerr));
	ks_secret_free(secret);
	if (rc != 0) {
		snprintf(err, errlen, "cannot open the key store: %s", lerr);
		return rc;
	}
	ks_store_set_reporter(u->store, unit_report, u);
	ks_store_set_progress(u->store, unit_keygen_progress, &u->keygen_last);
	if (p11)
		p11_store_attach(p11, u->store);
	return 0;
}

/* A first key of every type served, as a fresh single server makes one. */
static int unit_first_keys(struct srv_issuer *u, char *err, size_t errlen)
{
	struct ks_meta first;
	char lerr[512] = "";
	size_t i;
	int rc, created = 0;

	for (i = 0; i < u->n_types; i++) {
		rc = ks_store_ensure_key(u->store, u->types[i]->type, now_s(),
					 u->sched.overlap, &first, &created, lerr,
					 sizeof(lerr));
		if (rc != 0) {
			snprintf(err, errlen, "cannot create the first %s key: %s",
				 u->types[i]->name, lerr);
			return rc;
		}
		if (created)
			log_info("%sno %s key signed: generated key %s (truncated "
				 "id 0x%02x)", u->label, u->types[i]->name,
				 first.id_hex, first.truncated_id);
	}
	return 0;
}

static int unit_hosts(struct srv_issuer *u, const char *const *hosts,
		      size_t n_hosts)
{
	size_t i;

	if (n_hosts == 0)
		return 0;
	u->hosts = calloc(n_hosts, sizeof(*u->hosts));
	if (!u->hosts)
		return PP_ERR_NOMEM;
	for (i = 0; i < n_hosts; i++) {
		u->hosts[i] = strdup(hosts[i]);
		if (!u->hosts[i])
			return PP_ERR_NOMEM;
		u->n_hosts = i + 1;
	}
	return 0;
}

/* Takes over the running issuer's stores (an LMDB environment is opened
 * once per process) and, when its limits are unchanged, its clients with
 * their counters. */
static void unit_inherit(struct srv_issuer *u, struct srv_issuer *old)
{
	u->store = old->store;
	u->spent = old->spent;
	u->keygen_last = old->keygen_last;
	ks_store_set_reporter(u->store, unit_report, u);
	ks_store_set_progress(u->store, unit_keygen_progress, &u->keygen_last);
	if (old->cfg.global_rate == u->cfg.global_rate &&
	    old->cfg.global_burst == u->cfg.global_burst &&
	    old->cfg.require_auth == u->cfg.require_auth) {
		u->clients = old->clients;
		u->clients.data_dir = u->cfg.data_dir;
		memset(&old->clients, 0, sizeof(old->clients));
		u->took_clients = 1;
	}
	old->handed_over = 1;
	u->pred = old;
}

int srv_issuer_open(const struct cfg *c, const char *name,
		    const char *const *hosts, size_t n_hosts, const char *canon,
		    struct p11 *p11, struct srv_issuer *inherit,
		    struct srv_issuer **out, char *err, size_t errlen)
{
	struct srv_issuer *u;
	struct ks_keyset *ks = NULL;
	struct ext_policy extp;
	char lerr[512] = "";
	int rc;

	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return PP_ERR_NOMEM;
	rc = cfg_copy(&u->cfg, c);
	if (rc)
		goto cleanup;
	if (name) {
		snprintf(u->label, sizeof(u->label), "issuer '%s': ", name);
		u->name = strdup(name);
		u->canon = canon ? strdup(canon) : NULL;
		if (!u->name || (canon && !u->canon)) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
	}
	rc = unit_hosts(u, hosts, n_hosts);
	if (rc)
		goto cleanup;
	rc = unit_schedule(u, err, errlen);
	if (rc == 0)
		rc = unit_types(u, err, errlen);
	if (rc == 0)
		rc = extp_parse(u->cfg.ext_allowed_types, u->cfg.ext_expiry_precisions,
				u->cfg.ext_expiry_max_future, &extp, err, errlen);
	if (rc)
		goto cleanup;
	if (inherit)
		unit_inherit(u, inherit);
	if (!u->clients.current) {
		/* Before any key is made: an issuer that must not run open stops
		 * here, and an unreadable registry never means "open". */
		rc = srv_clients_open(&u->clients, &u->cfg, u->label, lerr,
				      sizeof(lerr));
		if (rc) {
			snprintf(err, errlen, "%s%s", u->label, lerr);
			goto cleanup;
		}
	}
	if (!u->store) {
		rc = unit_open_store(u, p11, err, errlen);
		if (rc)
			goto cleanup;
	}
	rc = unit_first_keys(u, err, errlen);
	if (rc)
		goto cleanup;
	if (!u->spent) {
		rc = unit_open_spent(u, lerr, sizeof(lerr));
		if (rc) {
			snprintf(err, errlen, "cannot open the spent-token store: %s",
				 lerr);
			goto cleanup;
		}
	}
	u->request_uri = request_uri(&u->cfg);
	if (!u->request_uri) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	u->kopts.issuer_request_uri = u->request_uri;
	u->kopts.max_published = (unsigned)u->cfg.max_published;
	u->kopts.overlap = u->sched.overlap;
	u->kopts.p11 = p11;
	rt_init(&u->retire, u->spent);
	u->kopts.retired_before = rt_retired_before;
	u->kopts.retired_ctx = &u->retire;
	lerr[0] = '\0';
	{
		/* keys whose files cannot be read now keep their entry */
		struct ks_keyset *prev = inherit ? ks_current_get(inherit->current)
						 : NULL;

		u->kopts.prev = prev;
		rc = ks_keyset_build(u->store, &u->kopts, now_s(), &ks, lerr,
				     sizeof(lerr));
		u->kopts.prev = NULL;
		ks_keyset_unref(prev);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot load keys: %s",
			 lerr[0] ? lerr : pp_err_str(rc));
		goto cleanup;
	}
	if (lerr[0])
		log_warn("%s%s", u->label, lerr);
	log_info("%skey set loaded: %zu keys, etag %s", u->label, ks->n, ks->etag);
	rc = ks_current_new(ks, &u->current);
	if (rc != 0)
		goto cleanup;
	ks = NULL;
	rc = svc_new(u->current, u->spent, &u->svc);
	if (rc != 0)
		goto cleanup;
	svc_set_ext_policy(u->svc, &extp);
	svc_set_name(u->svc, u->name);
	svc_set_max_published(u->svc, (unsigned long)u->cfg.max_published_keys);
	ks = ks_current_get(u->current);
	check_published(u, ks);
	/* keys that retired while no server ran */
	rt_drop_retired(&u->retire, u->store, ks, &u->kopts, now_s());
	ks_keyset_unref(ks);
	ks = NULL;
	*out = u;
	u = NULL;
cleanup:
	ks_keyset_unref(ks);
	if (u && u->pred)
		srv_issuer_give_back(u);
	srv_issuer_close(u);
	return rc;
}

void srv_issuer_give_back(struct srv_issuer *u)
{
	struct srv_issuer *old = u->pred;

	if (!old)
		return;
	if (u->took_clients) {
		old->clients = u->clients;
		old->clients.data_dir = old->cfg.data_dir;
		memset(&u->clients, 0, sizeof(u->clients));
		u->took_clients = 0;
	}
	ks_store_set_reporter(old->store, unit_report, old);
	ks_store_set_progress(old->store, unit_keygen_progress, &old->keygen_last);
	old->handed_over = 0;
	u->store = NULL;
	u->spent = NULL;
	u->pred = NULL;
	u->handed_over = 1;   /* owns no store now */
}

void srv_issuer_shutdown(struct srv_issuer *u)
{
	if (u && !u->handed_over)
		spent_shutdown(u->spent);
}

void srv_issuer_close(struct srv_issuer *u)
{
	size_t i;

	if (!u)
		return;
	tn_issuer_free(u->tn);
	svc_free(u->svc);
	ks_current_free(u->current);
	rt_free(&u->retire);
	srv_clients_close(&u->clients);
	if (!u->handed_over) {
		spent_close(u->spent);
		ks_store_close(u->store);
	}
	free(u->request_uri);
	for (i = 0; i < u->n_hosts; i++)
		free(u->hosts[i]);
	free(u->hosts);
	free(u->name);
	free(u->canon);
	cfg_free(&u->cfg);
	free(u);
}
