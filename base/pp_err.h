/* The base module, used by every layer: project-wide error codes, and the
 * "first error wins" message helper.
 *
 * Project-wide error codes. Every fallible function returns 0 or one of
 * these negative values; pp_err_str() renders a code as short text.
 * One meaning per code: add a new code rather than overloading one. */
#ifndef PP_ERR_H
#define PP_ERR_H

enum pp_err {
	PP_OK = 0,
	PP_ERR_NOMEM = -1,          /* allocation failed */
	PP_ERR_INTERNAL = -2,       /* a library call failed unexpectedly */
	PP_ERR_ARG = -3,            /* invalid argument (caller bug or bad config) */
	PP_ERR_BUFFER = -4,         /* output buffer too small */

	/* decoding of wire structures */
	PP_ERR_TRUNCATED = -10,     /* input ends before the structure does */
	PP_ERR_TRAILING = -11,      /* bytes left after the structure */
	PP_ERR_LENGTH = -12,        /* a length field or total length is wrong */
	PP_ERR_TOKEN_TYPE = -13,    /* unsupported token type */
	PP_ERR_ISSUER_NAME = -14,   /* issuer_name empty */
	PP_ERR_REDEMPTION_CONTEXT = -15, /* redemption_context not 0 or 32 bytes */
	PP_ERR_BASE64 = -16,        /* not valid base64url */
	PP_ERR_HEADER = -17,        /* malformed HTTP auth header */
	PP_ERR_NO_CHALLENGE = -18,  /* no PrivateToken challenge/token found */
	PP_ERR_SPKI = -19,          /* not an RFC 9578 RSASSA-PSS public key */

	/* blind RSA */
	PP_ERR_MSG_RANGE = -30,     /* blinded message or signature >= n */
	PP_ERR_SIGN_CHECK = -31,    /* mandatory s^e == m check failed */
	PP_ERR_VERIFY = -32,        /* signature does not verify */
	PP_ERR_KEY = -33,           /* unusable key (size, type, exponent) */
	PP_ERR_ENCODE = -34,        /* EMSA-PSS encoding failed (message too long) */

	/* keys and service */
	PP_ERR_UNKNOWN_KEY = -50,   /* no key with that id */
	PP_ERR_IO = -51,            /* file or directory operation failed */
	PP_ERR_PERM = -52,          /* unsafe file permissions */
	PP_ERR_CORRUPT = -53,       /* stored data is malformed */
	PP_ERR_CONFIG = -54,        /* invalid configuration */
	PP_ERR_DECRYPT = -55,       /* wrong key-encryption secret or tampered file */
	PP_ERR_EXISTS = -56,        /* already exists */
	PP_ERR_NOT_FOUND = -57,     /* does not exist */
	PP_ERR_STATE = -58,         /* operation not allowed in this state */
	PP_ERR_UNAVAILABLE = -59,   /* a backing store is unavailable */
	PP_ERR_SPENT = -60,         /* token already redeemed */
	PP_ERR_CHALLENGE = -61,     /* token does not match the given challenge */
	PP_ERR_AUTH = -62,          /* missing or wrong credentials */
	PP_ERR_FORBIDDEN = -63,     /* authenticated, but not allowed */
	PP_ERR_RATE = -64,          /* rate or quota exceeded */
};

/* Returns a static, human-readable description of code. Never NULL. */
const char *pp_err_str(int code);

#include <stddef.h>

/* Writes a message that says what to do into err (errlen bytes), unless
 * err is NULL or already holds one: the first error wins, so the message
 * names the cause, not its consequences. */
void pp_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
