/* Issuance: turns one TokenRequest of any served token type into its
 * TokenResponse with the key set's signing key, dispatching through the
 * token-type table. No allocation, no lock, no key setup on this path. */
#ifndef PP_ISSUANCE_H
#define PP_ISSUANCE_H

#include <stddef.h>
#include <stdint.h>

struct svc;

/* ISS_NONE is what a cleared result holds. */
enum iss_verdict {
	ISS_NONE = 0,
	ISS_OK,                 /* response holds the TokenResponse */
	ISS_UNSUPPORTED_TYPE,   /* not a token type this issuer serves */
	ISS_BAD_LENGTH,         /* not the type's TokenRequest size */
	ISS_UNKNOWN_KEY,        /* no signing key with that truncated id */
	ISS_BAD_ELEMENT,        /* the blinded element is not acceptable */
	ISS_UNAVAILABLE,        /* the key's signer cannot answer now (an HSM
				 * token away): retry later */
	ISS_ERROR,              /* the issuer's fault */
	/* types whose requests carry Extensions (request_variable, 0xDA7A):
	 * the extension policy refused them (issuer/ext_policy.h) */
	ISS_BAD_EXTENSIONS,     /* malformed, unsorted or repeated */
	ISS_EXT_NOT_ALLOWED,    /* a type or precision the policy forbids */
	ISS_EXPIRY_RANGE,       /* expiry in the past or too far ahead */
	ISS_VERDICT_COUNT
};

#define ISS_RESPONSE_MAX 512   /* a single TokenResponse of any type */

struct iss_result {
	enum iss_verdict verdict;
	uint16_t token_type;          /* set once the type is known */
	char key_id[65];              /* hex id of the key used, or "" */
	size_t response_len;
	uint8_t response[ISS_RESPONSE_MAX];
};

/* Answers req (len bytes, a whole TokenRequest; for request_variable
 * types a TokenRequest followed by the serialized Extensions, which the
 * service's extension policy judges before any signing). out is always
 * filled; its response is zeroed unless the verdict is ISS_OK. */
void iss_issue(struct svc *s, const uint8_t *req, size_t len,
	       struct iss_result *out);

/* The same for a caller on an event loop: answers at once what is quick
 * (returns 0), but declines, before doing any of it, what may take
 * milliseconds: a type whose issuance is slow (the token-type table's
 * slow_issue) or a key whose signatures come from a PKCS#11 token (a
 * network HSM answers in milliseconds). Then it returns 1, out->verdict is
 * ISS_NONE, and the caller runs iss_issue off its loop. */
int iss_issue_quick(struct svc *s, const uint8_t *req, size_t len,
		    struct iss_result *out);

#endif
