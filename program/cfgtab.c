/* The settings-table loader shared by `serve` and `gate` (see cfgtab.h). */
#include "program/cfgtab.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/pp_err.h"

static int ct_parse_bool(const char *v, int *out)
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
static void ct_str_free(char *v)
{
	if (v == NULL)
		return;
	sodium_memzero(v, strlen(v));
	free(v);
}

/* The single place values are checked. */
int ct_set(void *base, const struct ct_item *it, const char *v,
	   const char *source, char *err, size_t errlen)
{
	char *b = base;

	switch (it->type) {
	case CT_STR: {
		char **slot = (char **)(b + it->offset);
		char *dup = v ? strdup(v) : NULL;

		if (v && !dup)
			return PP_ERR_NOMEM;
		ct_str_free(*slot);
		*slot = dup;
		return 0;
	}
	case CT_LONG: {
		char *end;
		long n;

		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end != '\0' || n < it->min || n > it->max) {
			pp_errf(err, errlen, "%s: expected an integer in %ld..%ld, got '%s'",
				source, it->min, it->max, v);
			return PP_ERR_CONFIG;
		}
		*(long *)(b + it->offset) = n;
		return 0;
	}
	case CT_BOOL:
		if (ct_parse_bool(v, (int *)(b + it->offset)) != 0) {
			pp_errf(err, errlen, "%s: expected true or false, got '%s'", source, v);
			return PP_ERR_CONFIG;
		}
		return 0;
	}
	return PP_ERR_INTERNAL;
}

void ct_init(const struct ct_table *t, void *base)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->items[i].def && ct_set(base, &t->items[i], t->items[i].def,
					      "default", NULL, 0) != 0)
			abort(); /* the table's own defaults must parse */
}

void ct_free(const struct ct_table *t, void *base)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->items[i].type == CT_STR) {
			char **slot = (char **)((char *)base + t->items[i].offset);

			ct_str_free(*slot);
			*slot = NULL;
		}
}

const struct ct_item *ct_find(const struct ct_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->items[i].name, name))
			return &t->items[i];
	return NULL;
}

static void ct_env_name(const struct ct_table *t, const char *name, char *out,
			size_t outlen)
{
	size_t i, j = 0;

	for (i = 0; t->env_prefix[i] && j + 1 < outlen; i++)
		out[j++] = t->env_prefix[i];
	for (i = 0; name[i] && j + 1 < outlen; i++)
		out[j++] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
	out[j] = '\0';
}

int ct_set_json(void *base, const struct ct_item *it, json_t *val,
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
	else if (json_is_null(val) && it->type == CT_STR)
		text = NULL;
	else {
		pp_errf(err, errlen, "%s: must be a string, integer or boolean", source);
		return PP_ERR_CONFIG;
	}
	return ct_set(base, it, text, source, err, errlen);
}

void ct_json_wipe(json_t *v)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_string(v)) {
		sodium_memzero((char *)(uintptr_t)json_string_value(v),
			       json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, val) {
			ct_json_wipe(val);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val) {
			ct_json_wipe(val);
		}
	}
}

int ct_file_read(const char *path, json_t **out, char *err, size_t errlen)
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
		ct_json_wipe(root);
		json_decref(root);
		return PP_ERR_CONFIG;
	}
	*out = root;
	return 0;
}

/* The file's settings into base; its t->file_extra member (a new
 * reference, or NULL) into *extra, to be read once every other source has
 * been. */
static int ct_load_file(const struct ct_table *t, void *base, const char *path,
			json_t **extra, char *err, size_t errlen)
{
	json_t *root = NULL;
	const char *key;
	json_t *val;
	int rc;

	*extra = NULL;
	rc = ct_file_read(path, &root, err, errlen);
	if (rc)
		return rc;
	json_object_foreach(root, key, val) {
		const struct ct_item *it = ct_find(t, key);
		char source[300];

		if (t->file_extra && !strcmp(key, t->file_extra)) {
			*extra = json_incref(val);
			continue;
		}
		if (!it) {
			pp_errf(err, errlen, "config file %s: unknown setting '%s'", path, key);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		snprintf(source, sizeof(source), "config file setting '%s'", key);
		rc = ct_set_json(base, it, val, source, err, errlen);
		if (rc)
			goto cleanup;
	}
cleanup:
	if (rc) {
		json_decref(*extra);
		*extra = NULL;
	}
	/* the file may hold secrets: wipe its strings before jansson frees them
	 * (the extra member's once its reader is done) */
	json_object_foreach(root, key, val)
		if (!t->file_extra || strcmp(key, t->file_extra) != 0 || rc)
			ct_json_wipe(val);
	json_decref(root);
	return rc;
}

/* The value of the option getopt just returned: optarg, or for a switch
 * given without "=", the next argument when it is a boolean word (which is
 * then consumed), else "true". */
static const char *ct_bool_value(int argc, char **argv, const struct ct_item *it)
{
	int b;

	if (it->type != CT_BOOL || optarg)
		return optarg;
	if (optind < argc && ct_parse_bool(argv[optind], &b) == 0)
		return argv[optind++];
	return "true";
}

void ct_usage(const struct ct_table *t, FILE *f)
{
	size_t i;

	fprintf(f, "usage: ppissuer %s\n\n"
		   "Options (flag / %s environment variable / config file key):\n"
		   "  --config FILE              JSON config file (%sCONFIG)\n",
		t->synopsis, t->env_prefix, t->env_prefix);
	for (i = 0; i < t->n; i++) {
		const struct ct_item *it = &t->items[i];
		char flag[64], env[64];

		snprintf(flag, sizeof(flag), "--%s %s", it->name,
			 it->type == CT_LONG ? "N" : it->type == CT_BOOL ? "BOOL" : "VALUE");
		ct_env_name(t, it->name, env, sizeof(env));
		fprintf(f, "  %-26s %s\n  %-26s   [%s; default: %s]\n", flag, it->help,
			"", env, it->def ? it->def : "unset");
	}
	fprintf(f, "  --help                     this text\n\n"
		   "Flags override the environment, which overrides the config file.\n");
}

int ct_load(const struct ct_table *t, void *base, char **config_file,
	    int argc, char **argv, json_t **extra, char *err, size_t errlen)
{
	struct option *opts;
	char env[64];
	const char *file;
	size_t i;
	int rc = 0, ch, idx;

	*extra = NULL;
	if (err && errlen)
		err[0] = '\0';
	opts = calloc(t->n + 3, sizeof(*opts));
	if (opts == NULL)
		return PP_ERR_NOMEM;
	for (i = 0; i < t->n; i++) {
		opts[i].name = t->items[i].name;
		/* A switch may stand alone (--require-auth) or take a value
		 * (--require-auth false, --require-auth=false). */
		opts[i].has_arg = t->items[i].type == CT_BOOL ? optional_argument :
				  required_argument;
		opts[i].val = 1000 + (int)i;
	}
	opts[t->n] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[t->n + 1] = (struct option){ "help", no_argument, NULL, 'h' };

	ct_env_name(t, "config", env, sizeof(env));
	file = getenv(env);
	/* First pass: only --config and --help, so the file loads before flags. */
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", opts, &idx)) != -1) {
		if (ch >= 1000)
			ct_bool_value(argc, argv, &t->items[ch - 1000]);
		if (ch == 'c')
			file = optarg;
		else if (ch == 'h') {
			ct_usage(t, stdout);
			rc = 1;
			goto cleanup;
		}
	}
	if (file) {
		free(*config_file);
		*config_file = strdup(file);
		rc = ct_load_file(t, base, file, extra, err, errlen);
		if (rc)
			goto cleanup;
	}
	for (i = 0; i < t->n; i++) {
		char source[96];
		const char *v;

		ct_env_name(t, t->items[i].name, env, sizeof(env));
		v = getenv(env);
		if (!v)
			continue;
		snprintf(source, sizeof(source), "environment %s", env);
		rc = ct_set(base, &t->items[i], v, source, err, errlen);
		if (rc)
			goto cleanup;
	}
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", opts, &idx)) != -1) {
		char source[96];

		if (ch == 'c' || ch == 'h')
			continue;
		if (ch == '?' || ch == ':') {
			pp_errf(err, errlen, "unknown option or missing value: %s; see ppissuer %s --help",
				argv[optind - 1], t->command);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		snprintf(source, sizeof(source), "--%s", t->items[ch - 1000].name);
		rc = ct_set(base, &t->items[ch - 1000],
			    ct_bool_value(argc, argv, &t->items[ch - 1000]), source,
			    err, errlen);
		if (rc)
			goto cleanup;
	}
	if (optind < argc) {
		pp_errf(err, errlen, "unexpected argument '%s'; see ppissuer %s --help",
			argv[optind], t->command);
		rc = PP_ERR_CONFIG;
	}
cleanup:
	free(opts);
	if (rc != 0) {
		ct_json_wipe(*extra);
		json_decref(*extra);
		*extra = NULL;
	}
	return rc;
}
