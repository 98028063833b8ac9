/* The gate's settings table and its loader (see gate_config.h). */
#include "program/gate_config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/pp_err.h"

#define GCFG_ENV_PREFIX "PPISSUER_GATE_"

enum gcfg_type { GCFG_STR, GCFG_LONG, GCFG_BOOL };

struct gcfg_item {
	const char *name;      /* flag and JSON key; env PPISSUER_GATE_<NAME> */
	enum gcfg_type type;
	size_t offset;
	const char *def;
	long min, max;
	const char *help;
};

#define S(f) GCFG_STR, offsetof(struct gcfg, f)
#define L(f) GCFG_LONG, offsetof(struct gcfg, f)
#define B(f) GCFG_BOOL, offsetof(struct gcfg, f)

static const struct gcfg_item gcfg_items[] = {
	{ "listen", S(listen), "127.0.0.1:8090", 0, 0, "address and port to listen on" },
	{ "issuer", S(issuer), NULL, 0, 0, "the issuer's base URL (required); its host is the issuer name in challenges" },
	{ "data-dir", S(data_dir), "./gate-data", 0, 0, "the gate's secret (gate.secret) and spent store (spent/)" },
	{ "origin-info", S(origin_info), NULL, 0, 0, "origin names bound into challenges, comma-separated (required)" },
	{ "token-types", S(token_types), NULL, 0, 0, "token types to challenge for (default: every type the directory lists that the gate can check)" },
	{ "challenge-window", L(challenge_window), "300", 1, 86400, "seconds per challenge window; tokens for the current and the previous window are accepted" },
	{ "redeem-secret-file", S(redeem_secret_file), NULL, 0, 0, "file with the origin's bearer secret for the issuer's /redeem (privately verifiable types)" },
	{ "session-ttl", L(session_ttl), "0", 0, 604800, "seconds a session cookie lets a client through after a token (0 = no sessions)" },
	{ "cookie-secure", B(cookie_secure), "true", 0, 0, "mark the session cookie Secure (HTTPS only)" },
	{ "issuer-timeout-ms", L(issuer_timeout_ms), "3000", 100, 60000, "timeout of requests to the issuer (directory, /redeem)" },
	{ "threads", L(threads), "0", 0, 256, "event-loop threads (0 = one per CPU)" },
	{ "max-connections", L(max_connections), "4096", 1, 1000000, "open connections at most" },
	{ "connection-timeout", L(connection_timeout), "10", 1, 3600, "seconds an idle connection is kept" },
	{ "request-timeout", L(request_timeout), "10", 1, 3600, "seconds a request may take to arrive" },
	{ "shutdown-timeout", L(shutdown_timeout), "10", 0, 600, "seconds in-flight requests get on SIGTERM" },
	{ "log-requests", B(log_requests), "true", 0, 0, "one JSON line per request on stderr" },
	{ "spent-backend", S(spent_backend), "lmdb", 0, 0, "spent-token store: lmdb or redis (several gates)" },
	{ "redis-host", S(redis_host), "127.0.0.1", 0, 0, "Redis host (spent-backend redis)" },
	{ "redis-port", L(redis_port), "6379", 1, 65535, "Redis port" },
	{ "redis-password", S(redis_password), NULL, 0, 0, "Redis AUTH password" },
	{ "redis-db", L(redis_db), "0", 0, 65535, "Redis database number" },
	{ "redis-prefix", S(redis_prefix), "ppgate:spent:", 0, 0, "prefix of spent-token keys in Redis" },
	{ "redis-timeout-ms", L(redis_timeout_ms), "500", 10, 60000, "Redis connect and command timeout" },
	{ "redis-allow-volatile", B(redis_allow_volatile), "false", 0, 0, "use a Redis that can lose acknowledged records" },
	{ "lmdb-map-mb", L(lmdb_map_mb), "64", 1, 1048576, "LMDB map size in MiB at start" },
	{ "lmdb-map-max-mb", L(lmdb_map_max_mb), "4096", 1, 1048576, "LMDB map size in MiB it may grow to" },
};

#define N_ITEMS (sizeof(gcfg_items) / sizeof(gcfg_items[0]))

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

static void str_free(char *v)
{
	if (v == NULL)
		return;
	sodium_memzero(v, strlen(v));
	free(v);
}

static int item_set(struct gcfg *c, const struct gcfg_item *it, const char *v,
		    const char *source, char *err, size_t errlen)
{
	char *base = (char *)c;

	switch (it->type) {
	case GCFG_STR: {
		char **slot = (char **)(base + it->offset);
		char *dup = v ? strdup(v) : NULL;

		if (v && !dup)
			return PP_ERR_NOMEM;
		str_free(*slot);
		*slot = dup;
		return 0;
	}
	case GCFG_LONG: {
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
	case GCFG_BOOL:
		if (parse_bool(v, (int *)(base + it->offset)) != 0) {
			pp_errf(err, errlen, "%s: expected true or false, got '%s'", source, v);
			return PP_ERR_CONFIG;
		}
		return 0;
	}
	return PP_ERR_INTERNAL;
}

void gcfg_init(struct gcfg *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < N_ITEMS; i++)
		if (gcfg_items[i].def && item_set(c, &gcfg_items[i], gcfg_items[i].def,
						  "default", NULL, 0) != 0)
			abort(); /* the table's own defaults must parse */
}

void gcfg_free(struct gcfg *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < N_ITEMS; i++)
		if (gcfg_items[i].type == GCFG_STR) {
			char **slot = (char **)((char *)c + gcfg_items[i].offset);

			str_free(*slot);
			*slot = NULL;
		}
	free(c->config_file);
	c->config_file = NULL;
}

static void env_name(const char *name, char *out, size_t outlen)
{
	size_t i, j = 0;

	for (i = 0; GCFG_ENV_PREFIX[i] && j + 1 < outlen; i++)
		out[j++] = GCFG_ENV_PREFIX[i];
	for (i = 0; name[i] && j + 1 < outlen; i++)
		out[j++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	out[j] = '\0';
}

static const struct gcfg_item *item_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_ITEMS; i++)
		if (!strcmp(gcfg_items[i].name, name))
			return &gcfg_items[i];
	return NULL;
}

static int load_file(struct gcfg *c, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	const char *key;
	json_t *val;
	int rc = 0;

	if (!root) {
		pp_errf(err, errlen, "config file %s:%d: %s", path, jerr.line, jerr.text);
		return PP_ERR_CONFIG;
	}
	if (!json_is_object(root)) {
		pp_errf(err, errlen, "config file %s: top level must be an object", path);
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	json_object_foreach(root, key, val) {
		const struct gcfg_item *it = item_find(key);
		char buf[64], source[300];
		const char *text;

		if (!it) {
			pp_errf(err, errlen, "config file %s: unknown setting '%s'", path, key);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		snprintf(source, sizeof(source), "config file setting '%s'", key);
		if (json_is_string(val))
			text = json_string_value(val);
		else if (json_is_integer(val)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(val));
			text = buf;
		} else if (json_is_boolean(val))
			text = json_is_true(val) ? "true" : "false";
		else if (json_is_null(val) && it->type == GCFG_STR)
			text = NULL;
		else {
			pp_errf(err, errlen, "%s: must be a string, integer or boolean", source);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		rc = item_set(c, it, text, source, err, errlen);
		if (rc)
			goto cleanup;
	}
cleanup:
	json_object_foreach(root, key, val)
		if (json_is_string(val))
			sodium_memzero((char *)(uintptr_t)json_string_value(val),
				       json_string_length(val));
	json_decref(root);
	return rc;
}

static const char *bool_value(int argc, char **argv, const struct gcfg_item *it)
{
	int b;

	if (it->type != GCFG_BOOL || optarg)
		return optarg;
	if (optind < argc && parse_bool(argv[optind], &b) == 0)
		return argv[optind++];
	return "true";
}

void gcfg_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: ppissuer gate --issuer URL --origin-info NAME [options]\n\n"
		   "Options (flag / " GCFG_ENV_PREFIX " environment variable / config file key):\n"
		   "  --config FILE              JSON config file (" GCFG_ENV_PREFIX "CONFIG)\n");
	for (i = 0; i < N_ITEMS; i++) {
		const struct gcfg_item *it = &gcfg_items[i];
		char flag[64], env[64];

		snprintf(flag, sizeof(flag), "--%s %s", it->name,
			 it->type == GCFG_LONG ? "N" : it->type == GCFG_BOOL ? "BOOL" : "VALUE");
		env_name(it->name, env, sizeof(env));
		fprintf(f, "  %-26s %s\n  %-26s   [%s; default: %s]\n", flag, it->help,
			"", env, it->def ? it->def : "unset");
	}
	fprintf(f, "  --help                     this text\n\n"
		   "Flags override the environment, which overrides the config file.\n");
}

int gcfg_load(struct gcfg *c, int argc, char **argv, char *err, size_t errlen)
{
	struct option opts[N_ITEMS + 3];
	const char *file = getenv(GCFG_ENV_PREFIX "CONFIG");
	size_t i;
	int rc, ch, idx;

	if (err && errlen)
		err[0] = '\0';
	for (i = 0; i < N_ITEMS; i++) {
		opts[i].name = gcfg_items[i].name;
		opts[i].has_arg = gcfg_items[i].type == GCFG_BOOL ? optional_argument :
				  required_argument;
		opts[i].flag = NULL;
		opts[i].val = 1000 + (int)i;
	}
	opts[N_ITEMS] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[N_ITEMS + 1] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[N_ITEMS + 2] = (struct option){ NULL, 0, NULL, 0 };

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, &idx)) != -1) {
		if (ch >= 1000)
			bool_value(argc, argv, &gcfg_items[ch - 1000]);
		if (ch == 'c')
			file = optarg;
		else if (ch == 'h') {
			gcfg_usage(stdout);
			return 1;
		}
	}
	if (file) {
		free(c->config_file);
		c->config_file = strdup(file);
		rc = load_file(c, file, err, errlen);
		if (rc)
			return rc;
	}
	for (i = 0; i < N_ITEMS; i++) {
		char env[64], source[96];
		const char *v;

		env_name(gcfg_items[i].name, env, sizeof(env));
		v = getenv(env);
		if (!v)
			continue;
		snprintf(source, sizeof(source), "environment %s", env);
		rc = item_set(c, &gcfg_items[i], v, source, err, errlen);
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
			pp_errf(err, errlen, "unknown option or missing value: %s; see ppissuer gate --help",
				argv[optind - 1]);
			return PP_ERR_CONFIG;
		}
		snprintf(source, sizeof(source), "--%s", gcfg_items[ch - 1000].name);
		rc = item_set(c, &gcfg_items[ch - 1000],
			      bool_value(argc, argv, &gcfg_items[ch - 1000]), source,
			      err, errlen);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		pp_errf(err, errlen, "unexpected argument '%s'; see ppissuer gate --help",
			argv[optind]);
		return PP_ERR_CONFIG;
	}
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
