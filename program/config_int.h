/* Shared by program/config*.c: the settings table seen from outside
 * config.c, and the config file as JSON. */
#ifndef PP_CONFIG_INT_H
#define PP_CONFIG_INT_H

#include <jansson.h>

#include "program/config.h"

#define CFG_ISSUERS_KEY "issuers"

struct ct_item;

/* The setting of this name, or NULL (the table's loader is cfgtab.h). */
const struct ct_item *cfg_item_find(const char *name);
/* Parses an issuers section on top of base (config_issuers.c). */
int cfg_issuers_parse(const struct cfg *base, json_t *section,
		      struct cfg_issuer **out, size_t *n, char *err,
		      size_t errlen);

#endif
