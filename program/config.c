#include "program/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "program/cfgtab.h"
#include "program/config_int.h"

#define S(f) CT_STR, offsetof(struct cfg, f)
#define L(f) CT_LONG, offsetof(struct cfg, f)
#define B(f) CT_BOOL, offsetof(struct cfg, f)

/* The last field: may be set in an entry of the issuers section. */
static const struct ct_item cfg_items[] = {
	{ "listen", S(listen), "127.0.0.1:8080", 0, 0, "address and port to listen on", 0 },
	{ "data-dir", S(data_dir), "./data", 0, 0, "keys and stores live under this directory", 0 },
	{ "public-url", S(public_url), NULL, 0, 0, "base URL for the absolute issuer-request-uri", 1 },
	{ "threads", L(threads), "0", 0, 256, "worker threads (0 = one per CPU)", 0 },
	{ "max-connections", L(max_connections), "4096", 1, 1000000, "open connections at most", 0 },
	{ "connection-timeout", L(connection_timeout), "10", 1, 3600, "seconds an idle or slow connection is kept", 0 },
	{ "request-timeout", L(request_timeout), "10", 1, 3600, "seconds a whole request (headers and body) may take from its first byte", 0 },
	{ "connection-memory", L(connection_memory), "16384", 4096, 1048576, "bytes of buffer per connection", 0 },
	{ "directory-max-age", L(directory_max_age), "3600", 0, 604800, "Cache-Control max-age of the directory (seconds)", 0 },
	{ "reload-interval", L(reload_interval), "2", 1, 3600, "seconds between key-store change checks", 0 },
	{ "shutdown-timeout", L(shutdown_timeout), "10", 0, 600, "seconds in-flight requests get on SIGTERM", 0 },
	{ "max-published", L(max_published), "2", 1, 16, "keys per token type in the directory", 1 },
	{ "max-published-keys", L(max_published_keys), "0", 0, 256, "keys of all types the directory may publish before a warning and the ppissuer_issuer_keys_over_max gauge (0 = no check; each extra key splits clients into smaller anonymity sets)", 1 },
	{ "max-batch", L(max_batch), "100", 1, 1000, "token requests in one generic batch (larger batches: 422; the body cap follows)", 0 },
	{ "max-amortized-batch", L(max_amortized_batch), "100", 1, 1000, "blinded elements in one amortized batch (larger batches: 422; the body cap follows)", 0 },
	{ "token-types", S(token_types), "2", 0, 0, "token types served, comma-separated: numbers (2, 0x0002) or names (blind-rsa-2048)", 1 },
	{ "log-requests", B(log_requests), "true", 0, 0, "one JSON line per request on stderr", 0 },
	{ "log-client-address", B(log_client_address), "false", 0, 0, "include the client address in request logs", 0 },
	{ "spent-backend", S(spent_backend), "lmdb", 0, 0, "spent-token store: lmdb or redis", 0 },
	{ "redis-host", S(redis_host), "127.0.0.1", 0, 0, "Redis host (spent-backend redis)", 0 },
	{ "redis-port", L(redis_port), "6379", 1, 65535, "Redis port", 0 },
	{ "redis-password", S(redis_password), NULL, 0, 0, "Redis AUTH password", 0 },
	{ "redis-db", L(redis_db), "0", 0, 65535, "Redis database number", 0 },
	{ "redis-prefix", S(redis_prefix), "ppissuer:spent:", 0, 0, "prefix of spent-token keys in Redis", 0 },
	{ "redis-timeout-ms", L(redis_timeout_ms), "500", 10, 60000, "Redis connect and command timeout", 0 },
	{ "redis-cluster", S(redis_cluster), NULL, 0, 0, "Redis Cluster seed nodes HOST:PORT[,HOST:PORT...] (instead of redis-host/redis-port)", 0 },
	{ "redis-min-replicas", L(redis_min_replicas), "-1", -1, 16, "replicas WAIT must confirm before a redemption is answered 200 (-1 = 0 for a single Redis, 1 for a cluster)", 0 },
	{ "lmdb-map-mb", L(lmdb_map_mb), "1024", 1, 1048576, "LMDB map size in MiB at start", 0 },
	{ "lmdb-map-max-mb", L(lmdb_map_max_mb), "16384", 1, 1048576, "LMDB map size in MiB it may grow to; past it redemptions answer 503", 0 },
	{ "redis-allow-volatile", B(redis_allow_volatile), "false", 0, 0, "serve redemptions on a Redis that can lose acknowledged records (no AOF fsync)", 0 },
	{ "key-secret-file", S(key_secret_file), NULL, 0, 0, "file with the key-encryption secret", 0 },
	{ "auto-rotate", B(auto_rotate), "false", 0, 0, "rotate keys on the schedule below", 1 },
	{ "rotate-lifetime", S(rotate_lifetime), "7d", 0, 0, "how long a key signs", 1 },
	{ "rotate-lead", S(rotate_lead), "1d", 0, 0, "how long a new key is published before it signs", 1 },
	{ "rotate-overlap", S(rotate_overlap), "8d", 0, 0, "how long a key verifies after it stops signing", 1 },
	{ "require-auth", B(require_auth), "false", 0, 0, "refuse to start without registered clients", 1 },
	{ "metrics-auth", B(metrics_auth), "false", 0, 0, "/metrics needs a registered client's credentials", 0 },
	{ "global-rate", L(global_rate), "0", 0, 1000000, "token requests and redemptions per second, all clients (0 = unlimited)", 1 },
	{ "max-connections-per-ip", L(max_connections_per_ip), "0", 0, 1000000, "open connections per client address (0 = no limit; behind a proxy all share one)", 0 },
	{ "global-burst", L(global_burst), "0", 0, 1000000, "burst of the global limit (0 = the global rate)", 1 },
	{ "tls-listen", S(tls_listen), NULL, 0, 0, "address and port of the HTTPS (mutual TLS) listener", 0 },
	{ "tls-cert", S(tls_cert), NULL, 0, 0, "server certificate chain for tls-listen (PEM)", 0 },
	{ "tls-key", S(tls_key), NULL, 0, 0, "server private key for tls-listen (PEM, mode 0600)", 0 },
	{ "tls-client-ca", S(tls_client_ca), NULL, 0, 0, "CA certificates that issue client certificates (PEM)", 0 },
	{ "ext-allowed-types", S(ext_allowed_types), "0x0001", 0, 0, "token type 0xDA7A: extension types an attester may request, comma-separated (0x0001 = expiration; empty = none)", 1 },
	{ "ext-expiry-precisions", S(ext_expiry_precisions), "3600,86400", 0, 0, "token type 0xDA7A: expiration precisions (seconds) signed, comma-separated", 1 },
	{ "ext-expiry-max-future", L(ext_expiry_max_future), "604800", 1, 31536000, "token type 0xDA7A: seconds an expiration may lie in the future", 1 },
	{ "pkcs11-module", S(pkcs11_module), NULL, 0, 0, "PKCS#11 module (.so) whose token holds the signing keys; new keys are made there", 0 },
	{ "pkcs11-token", S(pkcs11_token), NULL, 0, 0, "label of the PKCS#11 token", 0 },
	{ "pkcs11-pin-file", S(pkcs11_pin_file), NULL, 0, 0, "file with the token's user PIN, mode 0600 (or PPISSUER_PKCS11_PIN)", 0 },
};

static const struct ct_table cfg_table = {
	.items = cfg_items,
	.n = sizeof(cfg_items) / sizeof(cfg_items[0]),
	.command = "serve",
	.synopsis = "serve [options]",
	.env_prefix = "PPISSUER_",
	.file_extra = CFG_ISSUERS_KEY,
};

void cfg_init(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	ct_init(&cfg_table, c);
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	ct_free(&cfg_table, c);
	free(c->config_file);
	c->config_file = NULL;
	cfg_issuers_free(c->issuers, c->n_issuers);
	c->issuers = NULL;
	c->n_issuers = 0;
}

int cfg_copy(struct cfg *dst, const struct cfg *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, sizeof(*dst));
	for (i = 0; i < cfg_table.n; i++)
		if (cfg_items[i].type == CT_STR) {
			char **slot = (char **)((char *)dst + cfg_items[i].offset);

			*slot = NULL;
		}
	dst->config_file = NULL;
	dst->issuers = NULL;
	dst->n_issuers = 0;
	for (i = 0; i < cfg_table.n; i++)
		if (cfg_items[i].type == CT_STR) {
			const char *v = *(char *const *)((const char *)src +
							 cfg_items[i].offset);
			char **slot = (char **)((char *)dst + cfg_items[i].offset);

			if (v && !(*slot = strdup(v))) {
				cfg_free(dst);
				return PP_ERR_NOMEM;
			}
		}
	if (src->config_file && !(dst->config_file = strdup(src->config_file))) {
		cfg_free(dst);
		return PP_ERR_NOMEM;
	}
	return 0;
}

const struct ct_item *cfg_item_find(const char *name)
{
	return ct_find(&cfg_table, name);
}

void cfg_usage(FILE *f)
{
	ct_usage(&cfg_table, f);
}

/* The settings every source gives, checked together; the issuers section
 * (a new reference, or NULL) into *issuers. */
static int cfg_load_sources(struct cfg *c, int argc, char **argv,
			    json_t **issuers, char *err, size_t errlen)
{
	int rc;

	rc = ct_load(&cfg_table, c, &c->config_file, argc, argv, issuers, err,
		     errlen);
	if (rc)
		return rc;
	if (strcmp(c->spent_backend, "lmdb") && strcmp(c->spent_backend, "redis")) {
		pp_errf(err, errlen, "spent-backend must be lmdb or redis, not '%s'",
		     c->spent_backend);
		return PP_ERR_CONFIG;
	}
	if (c->public_url && strncmp(c->public_url, "https://", 8) &&
	    strncmp(c->public_url, "http://", 7)) {
		pp_errf(err, errlen, "public-url must start with https:// or http:// (got '%s')",
		     c->public_url);
		return PP_ERR_CONFIG;
	}
	if (c->tls_listen && (!c->tls_cert || !c->tls_key)) {
		pp_errf(err, errlen, "tls-listen needs tls-cert and tls-key");
		return PP_ERR_CONFIG;
	}
	if ((c->pkcs11_module != NULL) != (c->pkcs11_token != NULL) ||
	    (c->pkcs11_pin_file && !c->pkcs11_module)) {
		pp_errf(err, errlen, "pkcs11-module and pkcs11-token go together "
			"(pkcs11-pin-file needs them)");
		return PP_ERR_CONFIG;
	}
	if (!c->tls_listen && (c->tls_cert || c->tls_key || c->tls_client_ca)) {
		pp_errf(err, errlen, "tls-cert, tls-key and tls-client-ca need tls-listen");
		return PP_ERR_CONFIG;
	}
	return 0;
}

int cfg_load(struct cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	json_t *issuers = NULL;
	int rc;

	rc = cfg_load_sources(c, argc, argv, &issuers, err, errlen);
	/* an issuer's settings go on top of every other source */
	if (rc == 0 && issuers)
		rc = cfg_issuers_parse(c, issuers, &c->issuers, &c->n_issuers,
				       err, errlen);
	ct_json_wipe(issuers);
	json_decref(issuers);
	return rc;
}

int cfg_listen_addr(const struct cfg *c, char *host, size_t hostlen,
		    uint16_t *port)
{
	return cfg_addr_parse(c->listen, host, hostlen, port);
}

int cfg_addr_parse(const char *addr, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t hl;
	char *end;
	long p;

	if (!colon)
		return PP_ERR_CONFIG;
	hl = (size_t)(colon - h);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= hostlen)
		return PP_ERR_CONFIG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		return PP_ERR_CONFIG;
	*port = (uint16_t)p;
	return 0;
}
