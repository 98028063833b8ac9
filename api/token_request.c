#include <string.h>

#include "api/req.h"
#include "issuer/issuance.h"

/* POST /token-request: a TokenRequest in, its TokenResponse out (RFC 9578
 * sections 5 and 6); the issuance service decides, the table in status.c
 * answers for it. */
enum MHD_Result api_token_request(struct api_req *r)
{
	struct iss_result res;
	enum MHD_Result ret;

	iss_issue(r->srv->o.svc, r->body, r->body_len, &res);
	if (res.verdict != ISS_OK)
		return api_respond_error(r, api_err_from_issuance(res.verdict));
	memcpy(r->key_id, res.key_id, sizeof(r->key_id));
	ret = api_respond(r, 200, "application/private-token-response",
			  res.response, res.response_len, "no-store");
	memset(res.response, 0, res.response_len);
	return ret;
}
