#include "base/pp_err.h"

#include <stdarg.h>
#include <stdio.h>

const char *pp_err_str(int code)
{
	switch (code) {
	case PP_OK: return "success";
	case PP_ERR_NOMEM: return "out of memory";
	case PP_ERR_INTERNAL: return "internal error";
	case PP_ERR_ARG: return "invalid argument";
	case PP_ERR_BUFFER: return "output buffer too small";
	case PP_ERR_TRUNCATED: return "input truncated";
	case PP_ERR_TRAILING: return "trailing bytes after structure";
	case PP_ERR_LENGTH: return "wrong length";
	case PP_ERR_TOKEN_TYPE: return "unsupported token type";
	case PP_ERR_ISSUER_NAME: return "issuer_name must not be empty";
	case PP_ERR_REDEMPTION_CONTEXT: return "redemption_context must be 0 or 32 bytes";
	case PP_ERR_BASE64: return "invalid base64url";
	case PP_ERR_HEADER: return "malformed authentication header";
	case PP_ERR_NO_CHALLENGE: return "no PrivateToken challenge or token";
	case PP_ERR_SPKI: return "not an RFC 9578 RSASSA-PSS public key";
	case PP_ERR_MSG_RANGE: return "value out of range for the modulus";
	case PP_ERR_SIGN_CHECK: return "signature self-check failed";
	case PP_ERR_VERIFY: return "signature verification failed";
	case PP_ERR_KEY: return "unusable key";
	case PP_ERR_ENCODE: return "message encoding failed";
	case PP_ERR_UNKNOWN_KEY: return "unknown key";
	case PP_ERR_IO: return "I/O error";
	case PP_ERR_PERM: return "unsafe file permissions";
	case PP_ERR_CORRUPT: return "corrupt data";
	case PP_ERR_CONFIG: return "invalid configuration";
	case PP_ERR_DECRYPT: return "decryption failed (wrong secret?)";
	case PP_ERR_EXISTS: return "already exists";
	case PP_ERR_NOT_FOUND: return "not found";
	case PP_ERR_STATE: return "not allowed in the current state";
	case PP_ERR_UNAVAILABLE: return "store unavailable";
	case PP_ERR_SPENT: return "token already spent";
	case PP_ERR_CHALLENGE: return "token does not match challenge";
	case PP_ERR_AUTH: return "authentication required";
	case PP_ERR_FORBIDDEN: return "forbidden";
	case PP_ERR_RATE: return "rate limit exceeded";
	}
	return "unknown error";
}

void pp_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0 || err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
