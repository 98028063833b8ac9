/* The extension policy of issuance: which Extensions (token type 0xDA7A's
 * public metadata, draft-ietf-privacypass-auth-scheme-extensions) an
 * attester may have signed. The issuance service asks it before any
 * signing; a request it refuses never gets a signature.
 *
 * Every distinct Extensions value is a distinct derived key, and so a
 * distinct anonymity set: the policy keeps the values few (only listed
 * types, expirations rounded to listed precisions, not too far ahead). */
#ifndef PP_EXT_POLICY_H
#define PP_EXT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define EXTP_MAX_TYPES 16
#define EXTP_MAX_PRECISIONS 16

/* Defaults: the expiration extension only, precisions of an hour or a day,
 * an expiry at most 7 days ahead. */
#define EXTP_DEFAULT_TYPES "0x0001"
#define EXTP_DEFAULT_PRECISIONS "3600,86400"
#define EXTP_DEFAULT_MAX_FUTURE 604800

struct ext_policy {
	uint16_t types[EXTP_MAX_TYPES];     /* extension types permitted */
	size_t n_types;
	uint64_t precisions[EXTP_MAX_PRECISIONS]; /* expiration precisions
						   * permitted (seconds) */
	size_t n_precisions;
	int64_t max_future;                 /* seconds an expiry may lie ahead */
};

/* Why a request's Extensions were refused. */
enum extp_verdict {
	EXTP_OK = 0,
	EXTP_INVALID,        /* malformed: lengths, trailing bytes, unsorted or
			      * repeated types, an expiration that does not
			      * decode */
	EXTP_NOT_ALLOWED,    /* a type, or an expiration precision, the policy
			      * does not permit */
	EXTP_EXPIRY_RANGE,   /* the expiry is not after now, or lies further
			      * ahead than max_future */
};

/* The defaults above. */
void extp_default(struct ext_policy *p);

/* Builds a policy from its settings: types and precisions are
 * comma-separated lists ("0x0001,2", "3600,86400"; an empty types list
 * permits no extension at all, only an empty Extensions), max_future in
 * seconds (> 0). PP_ERR_CONFIG with err saying what is wrong. */
int extp_parse(const char *types, const char *precisions, long max_future,
	       struct ext_policy *out, char *err, size_t errlen);

/* Judges a serialized Extensions (its 2-byte length included) at now (unix
 * seconds). */
enum extp_verdict extp_check(const struct ext_policy *p, const uint8_t *ext,
			     size_t len, int64_t now);

/* "invalid_extensions", "extension_not_allowed", "expiry_out_of_range",
 * "ok". */
const char *extp_verdict_name(enum extp_verdict v);

#endif
