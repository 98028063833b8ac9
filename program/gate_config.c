/* The gate's settings table and its loader (see gate_config.h). */
#include "program/gate_config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "program/cfgtab.h"

#define S(f) CT_STR, offsetof(struct gcfg, f)
#define L(f) CT_LONG, offsetof(struct gcfg, f)
#define B(f) CT_BOOL, offsetof(struct gcfg, f)

static const struct ct_item gcfg_items[] = {
	{ "listen", S(listen), "127.0.0.1:8090", 0, 0, "address and port to listen on", 0 },
	{ "issuer", S(issuer), NULL, 0, 0, "the issuer's base URL (required); its host is the issuer name in challenges", 0 },
	{ "data-dir", S(data_dir), "./gate-data", 0, 0, "the gate's secret (gate.secret) and spent store (spent/)", 0 },
	{ "origin-info", S(origin_info), NULL, 0, 0, "origin names bound into challenges, comma-separated (required)", 0 },
	{ "token-types", S(token_types), NULL, 0, 0, "token types to challenge for (default: every type the directory lists that the gate can check)", 0 },
	{ "challenge-window", L(challenge_window), "300", 1, 86400, "seconds per challenge window; tokens for the current and the previous window are accepted", 0 },
	{ "redeem-secret-file", S(redeem_secret_file), NULL, 0, 0, "file with the origin's bearer secret for the issuer's /redeem (privately verifiable types)", 0 },
	{ "session-ttl", L(session_ttl), "0", 0, 604800, "seconds a session cookie lets a client through after a token (0 = no sessions)", 0 },
	{ "cookie-secure", B(cookie_secure), "true", 0, 0, "mark the session cookie Secure (HTTPS only)", 0 },
	{ "issuer-timeout-ms", L(issuer_timeout_ms), "3000", 100, 60000, "timeout of requests to the issuer (directory, /redeem)", 0 },
	{ "threads", L(threads), "0", 0, 256, "event-loop threads (0 = one per CPU)", 0 },
	{ "max-connections", L(max_connections), "4096", 1, 1000000, "open connections at most", 0 },
	{ "connection-timeout", L(connection_timeout), "10", 1, 3600, "seconds an idle connection is kept", 0 },
	{ "request-timeout", L(request_timeout), "10", 1, 3600, "seconds a request may take to arrive", 0 },
	{ "shutdown-timeout", L(shutdown_timeout), "10", 0, 600, "seconds in-flight requests get on SIGTERM", 0 },
	{ "log-requests", B(log_requests), "true", 0, 0, "one JSON line per request on stderr", 0 },
	{ "spent-backend", S(spent_backend), "lmdb", 0, 0, "spent-token store: lmdb or redis (several gates)", 0 },
	{ "redis-host", S(redis_host), "127.0.0.1", 0, 0, "Redis host (spent-backend redis)", 0 },
	{ "redis-port", L(redis_port), "6379", 1, 65535, "Redis port", 0 },
	{ "redis-password", S(redis_password), NULL, 0, 0, "Redis AUTH password", 0 },
	{ "redis-db", L(redis_db), "0", 0, 65535, "Redis database number", 0 },
	{ "redis-prefix", S(redis_prefix), "ppgate:spent:", 0, 0, "prefix of spent-token keys in Redis", 0 },
	{ "redis-timeout-ms", L(redis_timeout_ms), "500", 10, 60000, "Redis connect and command timeout", 0 },
	{ "redis-allow-volatile", B(redis_allow_volatile), "false", 0, 0, "use a Redis that can lose acknowledged records", 0 },
	{ "lmdb-map-mb", L(lmdb_map_mb), "64", 1, 1048576, "LMDB map size in MiB at start", 0 },
	{ "lmdb-map-max-mb", L(lmdb_map_max_mb), "4096", 1, 1048576, "LMDB map size in MiB it may grow to", 0 },
};

static const struct ct_table gcfg_table = {
	.items = gcfg_items,
	.n = sizeof(gcfg_items) / sizeof(gcfg_items[0]),
	.command = "gate",
	.synopsis = "gate --issuer URL --origin-info NAME [options]",
	.env_prefix = "PPISSUER_GATE_",
};

void gcfg_init(struct gcfg *c)
{
	memset(c, 0, sizeof(*c));
	ct_init(&gcfg_table, c);
}

void gcfg_free(struct gcfg *c)
{
	if (!c)
		return;
	ct_free(&gcfg_table, c);
	free(c->config_file);
	c->config_file = NULL;
}

void gcfg_usage(FILE *f)
{
	ct_usage(&gcfg_table, f);
}

int gcfg_load(struct gcfg *c, int argc, char **argv, char *err, size_t errlen)
{
	json_t *none = NULL;
	int rc;

	rc = ct_load(&gcfg_table, c, &c->config_file, argc, argv, &none, err,
		     errlen);
	if (rc)
		return rc;
	if (!c->issuer || (strncmp(c->issuer, "https://", 8) &&
			   strncmp(c->issuer, "http://", 7))) {
		pp_errf(err, errlen, "issuer: give the issuer's base URL, "
			"e.g. --issuer https://issuer.example.net");
		return PP_ERR_CONFIG;
	}
	if (!c->origin_info || !c->origin_info[0]) {
		pp_errf(err, errlen, "origin-info: name the origin(s) this gate protects, "
			"e.g. --origin-info shop.example.com");
		return PP_ERR_CONFIG;
	}
	if (strcmp(c->spent_backend, "lmdb") && strcmp(c->spent_backend, "redis")) {
		pp_errf(err, errlen, "spent-backend must be lmdb or redis, not '%s'",
			c->spent_backend);
		return PP_ERR_CONFIG;
	}
	return 0;
}
