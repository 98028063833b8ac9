#include <string.h>

#include "api/req.h"
#include "crypto/token.h"
#include "issuer/issuance.h"
#include "keys/keyset.h"

/* POST /token-request: 259-byte TokenRequest in, 256-byte TokenResponse out
 * (RFC 9578 section 6). */
enum MHD_Result api_token_request(struct api_req *r)
{
	uint8_t resp[TOK_RESPONSE_LEN];
	const struct ks_entry *used = NULL;
	struct ks_keyset *ks = ks_current_get(r->srv->o.keys);
	enum MHD_Result ret;
	int rc;

	rc = iss_sign(ks, r->body, r->body_len, resp, &used);
	if (rc == 0)
		memcpy(r->key_id, used->meta.id_hex, sizeof(r->key_id));
	ks_keyset_unref(ks);
	if (rc != 0)
		return api_respond_error(r, api_err_from_issuance(rc));
	ret = api_respond(r, 200, "application/private-token-response", resp,
			  sizeof(resp), "no-store");
	memset(resp, 0, sizeof(resp));
	return ret;
}
