/* The one table of HTTP error answers: status, stable code, short message. */
#ifndef PP_API_STATUS_H
#define PP_API_STATUS_H

#include "issuer/issuance.h"
#include "issuer/issuance_batch.h"

enum api_err {
	API_ERR_NOT_FOUND,
	API_ERR_METHOD,
	API_ERR_MEDIA_TYPE,
	API_ERR_TOO_LARGE,
	API_ERR_TOKEN_TYPE,
	API_ERR_REQUEST_LENGTH,
	API_ERR_UNKNOWN_KEY,
	API_ERR_MSG_RANGE,
	API_ERR_BAD_REQUEST,
	API_ERR_NOT_READY,
	API_ERR_UNAVAILABLE,
	API_ERR_INTERNAL,
	API_ERR_UNAUTHORIZED,
	API_ERR_REVOKED,
	API_ERR_FORBIDDEN,
	API_ERR_RATE,
	API_ERR_QUOTA,
	API_ERR_EXTENSIONS,
	API_ERR_EXT_NOT_ALLOWED,
	API_ERR_EXPIRY_RANGE,
	API_ERR_BATCH_MALFORMED,
	API_ERR_BATCH_TOO_LARGE,
	API_ERR_BATCH_NONE_ISSUED,
	API_ERR_BATCH_ELEMENT,
	API_ERR_MISDIRECTED,
	API_ERR_NO_HOST,
	API_ERR_COUNT
};

struct api_error {
	unsigned status;
	const char *code;
	const char *message;
};

const struct api_error *api_error_get(enum api_err e);
/* The answer to an issuance verdict other than ISS_OK. */
enum api_err api_err_from_issuance(enum iss_verdict v);
/* The answer to a batch verdict other than ISSB_ALL and ISSB_SOME. */
enum api_err api_err_from_batch(enum issb_verdict v);

#endif
