/* The extension policy of issuance; see ext_policy.h. */
#include "issuer/ext_policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "crypto/ext.h"

void extp_default(struct ext_policy *p)
{
	char err[128];

	if (extp_parse(EXTP_DEFAULT_TYPES, EXTP_DEFAULT_PRECISIONS,
		       EXTP_DEFAULT_MAX_FUTURE, p, err, sizeof(err)) != 0)
		abort();   /* the defaults must parse */
}

/* Parses a comma-separated list of unsigned numbers (decimal or 0x hex)
 * each in 1..max (types: 0..max); *n gets how many. */
static int parse_list(const char *text, const char *name, uint64_t min,
		      uint64_t max, uint64_t *out, size_t cap, size_t *n,
		      char *err, size_t errlen)
{
	const char *p = text ? text : "";

	*n = 0;
	while (*p) {
		unsigned long long v;
		char *end;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '-' || *p == '+') {
			pp_errf(err, errlen, "%s: '%s' is not a list of numbers",
				name, text);
			return PP_ERR_CONFIG;
		}
		errno = 0;
		v = strtoull(p, &end, 0);
		if (errno || end == p || (*end && *end != ',' && *end != ' ') ||
		    v < min || v > max) {
			pp_errf(err, errlen, "%s: '%s' is not a list of numbers "
				"in %llu..%llu", name, text,
				(unsigned long long)min, (unsigned long long)max);
			return PP_ERR_CONFIG;
		}
		if (*n == cap) {
			pp_errf(err, errlen, "%s: at most %zu values", name, cap);
			return PP_ERR_CONFIG;
		}
		out[(*n)++] = v;
		p = end;
	}
	return 0;
}

int extp_parse(const char *types, const char *precisions, long max_future,
	       struct ext_policy *out, char *err, size_t errlen)
{
	uint64_t t[EXTP_MAX_TYPES];
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse_list(types, "ext-allowed-types", 0, 0xffff, t,
			EXTP_MAX_TYPES, &out->n_types, err, errlen);
	if (rc == 0)
		rc = parse_list(precisions, "ext-expiry-precisions", 1,
				(uint64_t)365 * 86400, out->precisions,
				EXTP_MAX_PRECISIONS, &out->n_precisions, err,
				errlen);
	if (rc != 0)
		goto cleanup;
	for (i = 0; i < out->n_types; i++)
		out->types[i] = (uint16_t)t[i];
	if (max_future <= 0) {
		pp_errf(err, errlen, "ext-expiry-max-future must be > 0 seconds");
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	out->max_future = max_future;
	for (i = 0; i < out->n_types; i++)
		if (out->types[i] == EXT_TYPE_EXPIRATION)
			break;
	if (i < out->n_types && out->n_precisions == 0) {
		pp_errf(err, errlen, "ext-expiry-precisions: name at least one "
			"precision when expirations are allowed");
		rc = PP_ERR_CONFIG;
	}
cleanup:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

static int type_allowed(const struct ext_policy *p, uint16_t type)
{
	size_t i;

	for (i = 0; i < p->n_types; i++)
		if (p->types[i] == type)
			return 1;
	return 0;
}

static enum extp_verdict check_expiration(const struct ext_policy *p,
					  const struct ext_entry *e,
					  int64_t now)
{
	struct ext_expiration x;
	size_t i;

	if (ext_expiration_decode(e->data, e->len, &x) != 0)
		return EXTP_INVALID;
	for (i = 0; i < p->n_precisions; i++)
		if (p->precisions[i] == x.precision)
			break;
	if (i == p->n_precisions)
		return EXTP_NOT_ALLOWED;
	if (now < 0 || x.timestamp <= (uint64_t)now ||
	    x.timestamp - (uint64_t)now > (uint64_t)p->max_future)
		return EXTP_EXPIRY_RANGE;
	return EXTP_OK;
}

enum extp_verdict extp_check(const struct ext_policy *p, const uint8_t *ext,
			     size_t len, int64_t now)
{
	struct ext_list l;
	enum extp_verdict v;
	size_t i;

	/* strictly increasing types: a repeat would be two policies */
	if (p == NULL || ext == NULL || ext_decode(ext, len, 0, &l) != 0)
		return EXTP_INVALID;
	for (i = 0; i < l.count; i++) {
		const struct ext_entry *e = &l.entries[i];

		if (!type_allowed(p, e->type))
			return EXTP_NOT_ALLOWED;
		if (e->type == EXT_TYPE_EXPIRATION) {
			v = check_expiration(p, e, now);
			if (v != EXTP_OK)
				return v;
		}
	}
	return EXTP_OK;
}

const char *extp_verdict_name(enum extp_verdict v)
{
	switch (v) {
	case EXTP_OK: return "ok";
	case EXTP_INVALID: return "invalid_extensions";
	case EXTP_NOT_ALLOWED: return "extension_not_allowed";
	case EXTP_EXPIRY_RANGE: return "expiry_out_of_range";
	}
	return "invalid_extensions";
}
