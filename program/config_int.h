/* Shared by program/config*.c: the settings table seen from outside
 * config.c, and the config file as JSON. */
#ifndef PP_CONFIG_INT_H
#define PP_CONFIG_INT_H

#include <jansson.h>

#include "program/config.h"

#define CFG_ISSUERS_KEY "issuers"

struct cfg_item;

/* The setting of this name, or NULL. */
const struct cfg_item *cfg_item_find(const char *name);
/* Whether an issuers entry may set it. */
int cfg_item_per_issuer(const struct cfg_item *it);
/* Sets it from a JSON scalar; source names it in errors. */
int cfg_set_json(struct cfg *c, const struct cfg_item *it, json_t *val,
		 const char *source, char *err, size_t errlen);
/* Reads a config file whose top level must be an object. */
int cfg_file_read(const char *path, json_t **out, char *err, size_t errlen);
/* Wipes every string in v (nested too). */
void cfg_json_wipe(json_t *v);
/* Parses an issuers section on top of base (config_issuers.c). */
int cfg_issuers_parse(const struct cfg *base, json_t *section,
		      struct cfg_issuer **out, size_t *n, char *err,
		      size_t errlen);

#endif
