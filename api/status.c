#include "api/status.h"

#include "issuer/issuance.h"

static const struct api_error api_errors[API_ERR_COUNT] = {
	[API_ERR_NOT_FOUND] = { 404, "not_found", "no such resource" },
	[API_ERR_METHOD] = { 405, "method_not_allowed", "method not allowed for this resource" },
	[API_ERR_MEDIA_TYPE] = { 415, "unsupported_media_type", "wrong or missing Content-Type" },
	[API_ERR_TOO_LARGE] = { 413, "payload_too_large", "request body too large" },
	[API_ERR_TOKEN_TYPE] = { 422, "unsupported_token_type", "token type not supported by this issuer" },
	[API_ERR_REQUEST_LENGTH] = { 422, "invalid_request_length", "TokenRequest is not the size its token type requires" },
	[API_ERR_UNKNOWN_KEY] = { 422, "unknown_token_key", "truncated_token_key_id matches no signing key" },
	[API_ERR_MSG_RANGE] = { 422, "invalid_blinded_message", "blinded message or element is not acceptable for the key (RSA: not below the modulus; VOPRF: not a valid group element)" },
	[API_ERR_BAD_REQUEST] = { 400, "bad_request", "malformed request" },
	[API_ERR_NOT_READY] = { 503, "not_ready", "no usable signing key" },
	[API_ERR_UNAVAILABLE] = { 503, "unavailable", "a backing store is unavailable; retry later" },
	[API_ERR_INTERNAL] = { 500, "internal_error", "internal error" },
	[API_ERR_UNAUTHORIZED] = { 401, "unauthorized", "missing or invalid client credentials" },
	[API_ERR_REVOKED] = { 401, "credentials_revoked", "these client credentials were revoked" },
	[API_ERR_FORBIDDEN] = { 403, "forbidden", "this client's role may not use this resource" },
	[API_ERR_RATE] = { 429, "rate_limited", "too many requests; retry after the Retry-After delay" },
	[API_ERR_QUOTA] = { 429, "quota_exceeded", "daily quota used up; retry after the Retry-After delay" },
	[API_ERR_EXTENSIONS] = { 422, "invalid_extensions", "Extensions are malformed, or their types are not in strictly increasing order" },
	[API_ERR_EXT_NOT_ALLOWED] = { 422, "extension_not_allowed", "an extension type or expiration precision this issuer does not sign" },
	[API_ERR_EXPIRY_RANGE] = { 422, "expiry_out_of_range", "the expiration is in the past or further ahead than this issuer signs" },
	[API_ERR_BATCH_MALFORMED] = { 422, "invalid_batch", "malformed batch: length prefix, truncated or wrong-size request, trailing bytes, or no request" },
	[API_ERR_BATCH_TOO_LARGE] = { 422, "batch_too_large", "more requests in the batch than this issuer takes at once" },
	[API_ERR_BATCH_NONE_ISSUED] = { 400, "no_tokens_issued", "no request in the batch could be issued" },
	[API_ERR_BATCH_ELEMENT] = { 422, "invalid_blinded_element", "a blinded element of the batch is not acceptable" },
	[API_ERR_MISDIRECTED] = { 421, "misdirected_request", "no issuer here answers for this host name" },
	[API_ERR_NO_HOST] = { 400, "missing_host", "a Host header naming the issuer is required" },
};

const struct api_error *api_error_get(enum api_err e)
{
	if ((unsigned)e >= API_ERR_COUNT)
		e = API_ERR_INTERNAL;
	return &api_errors[e];
}

/* Issuance verdicts to answers. */
static const enum api_err api_issue_errors[ISS_VERDICT_COUNT] = {
	[ISS_NONE] = API_ERR_INTERNAL,
	[ISS_OK] = API_ERR_INTERNAL,   /* not an error; never asked */
	[ISS_UNSUPPORTED_TYPE] = API_ERR_TOKEN_TYPE,
	[ISS_BAD_LENGTH] = API_ERR_REQUEST_LENGTH,
	[ISS_UNKNOWN_KEY] = API_ERR_UNKNOWN_KEY,
	[ISS_BAD_ELEMENT] = API_ERR_MSG_RANGE,
	[ISS_UNAVAILABLE] = API_ERR_UNAVAILABLE,
	[ISS_ERROR] = API_ERR_INTERNAL,
	[ISS_BAD_EXTENSIONS] = API_ERR_EXTENSIONS,
	[ISS_EXT_NOT_ALLOWED] = API_ERR_EXT_NOT_ALLOWED,
	[ISS_EXPIRY_RANGE] = API_ERR_EXPIRY_RANGE,
};

enum api_err api_err_from_issuance(enum iss_verdict v)
{
	return (unsigned)v < ISS_VERDICT_COUNT ? api_issue_errors[v]
					       : API_ERR_INTERNAL;
}

/* Batch verdicts to answers (200 and 206 are not errors). */
static const enum api_err api_batch_errors[ISSB_VERDICT_COUNT] = {
	[ISSB_NONE] = API_ERR_INTERNAL,
	[ISSB_ALL] = API_ERR_INTERNAL,    /* not an error; never asked */
	[ISSB_SOME] = API_ERR_INTERNAL,   /* not an error; never asked */
	[ISSB_NONE_ISSUED] = API_ERR_BATCH_NONE_ISSUED,
	[ISSB_MALFORMED] = API_ERR_BATCH_MALFORMED,
	[ISSB_UNSUPPORTED_TYPE] = API_ERR_TOKEN_TYPE,
	[ISSB_TOO_MANY] = API_ERR_BATCH_TOO_LARGE,
	[ISSB_UNKNOWN_KEY] = API_ERR_UNKNOWN_KEY,
	[ISSB_BAD_ELEMENT] = API_ERR_BATCH_ELEMENT,
	[ISSB_LIMITED] = API_ERR_RATE,
	[ISSB_ERROR] = API_ERR_INTERNAL,
};

enum api_err api_err_from_batch(enum issb_verdict v)
{
	return (unsigned)v < ISSB_VERDICT_COUNT ? api_batch_errors[v]
						: API_ERR_INTERNAL;
}
