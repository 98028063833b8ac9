#include "program/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "program/config_int.h"

enum cfg_type { CFG_STR, CFG_LONG, CFG_BOOL };

struct cfg_item {
	const char *name;      /* flag and JSON key; env is PPISSUER_<NAME> */
	enum cfg_type type;
	size_t offset;
	const char *def;
	long min, max;
	const char *help;
	int per_issuer;        /* may be set in an entry of the issuers section */
};

#define S(f) CFG_STR, offsetof(struct cfg, f)
#define L(f) CFG_LONG, offsetof(struct cfg, f)
#define B(f) CFG_BOOL, offsetof(struct cfg, f)

static const struct cfg_item cfg_items[] = {
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

#define N_ITEMS (sizeof(cfg_items) / sizeof(cfg_items[0]))

static int parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "off")) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* Settings may be secrets (redis-password): none is left in freed memory. */
static void cfg_str_free(char *v)
{
	if (v == NULL)
		return;
	sodium_memzero(v, strlen(v));
	free(v);
}

/* Sets one item from text; the single place values are checked. */
static int item_set(struct cfg *c, const struct cfg_item *it, const char *v,
		    const char *source, char *err, size_t errlen)
{
	char *base = (char *)c;

	switch (it->type) {
	case CFG_STR: {
		char **slot = (char **)(base + it->offset);
		char *dup = v ? strdup(v) : NULL;

		if (v && !dup)
			return PP_ERR_NOMEM;
		cfg_str_free(*slot);
		*slot = dup;
		return 0;
	}
	case CFG_LONG: {
		char *end;
		long n;

		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end != '\0' || n < it->min || n > it->max) {
			pp_errf(err, errlen, "%s: expected an integer in %ld..%ld, got '%s'",
			     source, it->min, it->max, v);
			return PP_ERR_CONFIG;
		}
		*(long *)(base + it->offset) = n;
		return 0;
	}
	case CFG_BOOL:
		if (parse_bool(v, (int *)(base + it->offset)) != 0) {
			pp_errf(err, errlen, "%s: expected true or false, got '%s'", source, v);
			return PP_ERR_CONFIG;
		}
		return 0;
	}
	return PP_ERR_INTERNAL;
}

void cfg_init(struct cfg *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < N_ITEMS; i++)
		if (cfg_items[i].def && item_set(c, &cfg_items[i], cfg_items[i].def,
						 "default", NULL, 0) != 0)
			abort(); /* the table's own defaults must parse */
}

void cfg_free(struct cfg *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < N_ITEMS; i++)
		if (cfg_items[i].type == CFG_STR) {
			char **slot = (char **)((char *)c + cfg_items[i].offset);

			cfg_str_free(*slot);
			*slot = NULL;
		}
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
	for (i = 0; i < N_ITEMS; i++)
		if (cfg_items[i].type == CFG_STR) {
			char **slot = (char **)((char *)dst + cfg_items[i].offset);

			*slot = NULL;
		}
	dst->config_file = NULL;
	dst->issuers = NULL;
	dst->n_issuers = 0;
	for (i = 0; i < N_ITEMS; i++)
		if (cfg_items[i].type == CFG_STR) {
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

static void env_name(const char *name, char *out, size_t outlen)
{
	size_t i, j = 0;
	const char *pfx = "PPISSUER_";

	for (i = 0; pfx[i] && j + 1 < outlen; i++)
		out[j++] = pfx[i];
	for (i = 0; name[i] && j + 1 < outlen; i++)
		out[j++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	out[j] = '\0';
}

const struct cfg_item *cfg_item_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_ITEMS; i++)
		if (!strcmp(cfg_items[i].name, name))
			return &cfg_items[i];
	return NULL;
}

int cfg_item_per_issuer(const struct cfg_item *it)
{
	return it->per_issuer;
}

int cfg_set_json(struct cfg *c, const struct cfg_item *it, json_t *val,
		 const char *source, char *err, size_t errlen)
{
	char buf[64];
	const char *text;

	if (json_is_string(val))
		text = json_string_value(val);
	else if (json_is_integer(val)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(val));
		text = buf;
	} else if (json_is_boolean(val))
		text = json_is_true(val) ? "true" : "false";
	else if (json_is_null(val) && it->type == CFG_STR)
		text = NULL;
	else {
		pp_errf(err, errlen, "%s: must be a string, integer or boolean", source);
		return PP_ERR_CONFIG;
	}
	return item_set(c, it, text, source, err, errlen);
}

/* The JSON strings of a config file may be secrets: wiped before jansson
 * frees them, in nested objects and arrays too. */
void cfg_json_wipe(json_t *v)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_string(v)) {
		sodium_memzero((char *)(uintptr_t)json_string_value(v),
			       json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, val) {
			cfg_json_wipe(val);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val) {
			cfg_json_wipe(val);
		}
	}
}

int cfg_file_read(const char *path, json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	*out = NULL;
	if (!root) {
		char where[600];

		snprintf(where, sizeof(where), "%s:%d", path, jerr.line);
		pp_errf(err, errlen, "config file %s: %s", where, jerr.text);
		return PP_ERR_CONFIG;
	}
	if (!json_is_object(root)) {
		pp_errf(err, errlen, "config file %s: top level must be an object", path);
		cfg_json_wipe(root);
		json_decref(root);
		return PP_ERR_CONFIG;
	}
	*out = root;
	return 0;
}

/* The file's settings into c; its issuers section (a new reference, or
 * NULL) into *issuers, to be read once every other source has been. */
static int load_file(struct cfg *c, const char *path, json_t **issuers,
		     char *err, size_t errlen)
{
	json_t *root = NULL;
	const char *key;
	json_t *val;
	int rc;

	*issuers = NULL;
	rc = cfg_file_read(path, &root, err, errlen);
	if (rc)
		return rc;
	json_object_foreach(root, key, val) {
		const struct cfg_item *it = cfg_item_find(key);
		char source[300];

		if (!strcmp(key, CFG_ISSUERS_KEY)) {
			*issuers = json_incref(val);
			continue;
		}
		if (!it) {
			pp_errf(err, errlen, "config file %s: unknown setting '%s'", path, key);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		snprintf(source, sizeof(source), "config file setting '%s'", key);
		rc = cfg_set_json(c, it, val, source, err, errlen);
		if (rc)
			goto cleanup;
	}
cleanup:
	if (rc) {
		json_decref(*issuers);
		*issuers = NULL;
	}
	/* the file may hold secrets: wipe its strings before jansson frees them
	 * (the issuers section's once it has been read) */
	json_object_foreach(root, key, val)
		if (strcmp(key, CFG_ISSUERS_KEY) != 0 || rc)
			cfg_json_wipe(val);
	json_decref(root);
	return rc;
}

/* The value of the option getopt just returned: optarg, or for a switch
 * given without "=", the next argument when it is a boolean word (which is
 * then consumed), else "true". */
static const char *bool_value(int argc, char **argv, const struct cfg_item *it)
{
	int b;

	if (it->type != CFG_BOOL || optarg)
		return optarg;
	if (optind < argc && parse_bool(argv[optind], &b) == 0)
		return argv[optind++];
	return "true";
}

void cfg_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: ppissuer serve [options]\n\n"
		   "Options (flag / PPISSUER_ environment variable / config file key):\n"
		   "  --config FILE              JSON config file (PPISSUER_CONFIG)\n");
	for (i = 0; i < N_ITEMS; i++) {
		const struct cfg_item *it = &cfg_items[i];
		char flag[64], env[64];

		snprintf(flag, sizeof(flag), "--%s %s", it->name,
			 it->type == CFG_LONG ? "N" : it->type == CFG_BOOL ? "BOOL" : "VALUE");
		env_name(it->name, env, sizeof(env));
		fprintf(f, "  %-26s %s\n  %-26s   [%s; default: %s]\n", flag, it->help,
			"", env, it->def ? it->def : "unset");
	}
	fprintf(f, "  --help                     this text\n\n"
		   "Flags override the environment, which overrides the config file.\n");
}

static int cfg_load_sources(struct cfg *c, int argc, char **argv,
			    json_t **issuers, char *err, size_t errlen)
{
	struct option opts[N_ITEMS + 3];
	const char *file = getenv("PPISSUER_CONFIG");
	size_t i;
	int rc, ch, idx;

	if (err && errlen)
		err[0] = '\0';
	for (i = 0; i < N_ITEMS; i++) {
		opts[i].name = cfg_items[i].name;
		/* A switch may stand alone (--require-auth) or take a value
		 * (--require-auth false, --require-auth=false). */
		opts[i].has_arg = cfg_items[i].type == CFG_BOOL ? optional_argument :
				  required_argument;
		opts[i].flag = NULL;
		opts[i].val = 1000 + (int)i;
	}
	opts[N_ITEMS] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[N_ITEMS + 1] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[N_ITEMS + 2] = (struct option){ NULL, 0, NULL, 0 };

	/* First pass: only --config and --help, so the file loads before flags. */
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, &idx)) != -1) {
		if (ch >= 1000)
			bool_value(argc, argv, &cfg_items[ch - 1000]);
		if (ch == 'c')
			file = optarg;
		else if (ch == 'h') {
			cfg_usage(stdout);
			return 1;
		}
	}
	if (file) {
		free(c->config_file);
		c->config_file = strdup(file);
		rc = load_file(c, file, issuers, err, errlen);
		if (rc)
			return rc;
	}
	for (i = 0; i < N_ITEMS; i++) {
		char env[64], source[96];
		const char *v;

		env_name(cfg_items[i].name, env, sizeof(env));
		v = getenv(env);
		if (!v)
			continue;
		snprintf(source, sizeof(source), "environment %s", env);
		rc = item_set(c, &cfg_items[i], v, source, err, errlen);
		if (rc)
			return rc;
	}
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", opts, &idx)) != -1) {
		char source[96];

		if (ch == 'c' || ch == 'h')
			continue;
		if (ch == '?' || ch == ':') {
			pp_errf(err, errlen, "unknown option or missing value: %s; see ppissuer serve --help",
			     argv[optind - 1]);
			return PP_ERR_CONFIG;
		}
		snprintf(source, sizeof(source), "--%s", cfg_items[ch - 1000].name);
		rc = item_set(c, &cfg_items[ch - 1000],
			      bool_value(argc, argv, &cfg_items[ch - 1000]), source,
			      err, errlen);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		pp_errf(err, errlen, "unexpected argument '%s'; see ppissuer serve --help",
		     argv[optind]);
		return PP_ERR_CONFIG;
	}
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
	cfg_json_wipe(issuers);
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
