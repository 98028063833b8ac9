/* A table of settings and the one loader behind `serve` and `gate`: each
 * setting is a flag, an environment variable and a config-file key, with a
 * type, a range and a default. Flags override the environment, which
 * overrides the config file. */
#ifndef PP_CFGTAB_H
#define PP_CFGTAB_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

enum ct_type { CT_STR, CT_LONG, CT_BOOL };

struct ct_item {
	const char *name;      /* flag and JSON key; env is <prefix><NAME> */
	enum ct_type type;
	size_t offset;         /* of a char *, long or int in the settings */
	const char *def;
	long min, max;
	const char *help;
	int per_issuer;        /* may be set in an entry of the issuers section */
};

struct ct_table {
	const struct ct_item *items;
	size_t n;
	const char *command;   /* "serve": for usage and messages */
	const char *synopsis;  /* what follows "usage: ppissuer " */
	const char *env_prefix; /* "PPISSUER_" */
	/* a config-file member the loader hands back instead of setting it
	 * (the issuers section), or NULL */
	const char *file_extra;
};

/* Every setting to its default; aborts when the table's own default does
 * not parse. base is the settings struct. */
void ct_init(const struct ct_table *t, void *base);
/* Frees (wiping first: settings may be secrets) every string setting. */
void ct_free(const struct ct_table *t, void *base);
/* The setting of this name, or NULL. */
const struct ct_item *ct_find(const struct ct_table *t, const char *name);
/* Sets it from text (NULL: unset a string); source names it in errors. */
int ct_set(void *base, const struct ct_item *it, const char *v,
	   const char *source, char *err, size_t errlen);
/* Sets it from a JSON scalar. */
int ct_set_json(void *base, const struct ct_item *it, json_t *val,
		const char *source, char *err, size_t errlen);
/* Reads a config file whose top level must be an object. */
int ct_file_read(const char *path, json_t **out, char *err, size_t errlen);
/* Wipes every string in v (nested too) before jansson frees it. */
void ct_json_wipe(json_t *v);
void ct_usage(const struct ct_table *t, FILE *f);
/* The config file (--config or <prefix>CONFIG; its path into
 * *config_file), then the environment, then the flags of argv. Returns 0,
 * 1 after printing --help, or an error. *extra (when t->file_extra) gets
 * that member of the file, a new reference, or NULL. */
int ct_load(const struct ct_table *t, void *base, char **config_file,
	    int argc, char **argv, json_t **extra, char *err, size_t errlen);

#endif
