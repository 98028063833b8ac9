#include "issuer/issuance.h"

#include <string.h>
#include <time.h>

#include "crypto/bsig.h"
#include "crypto/pp_err.h"
#include "issuer/metrics.h"
#include "keys/keyset.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int iss_sign(const struct ks_keyset *ks, const uint8_t *req, size_t len,
	     uint8_t out[TOK_RESPONSE_LEN], const struct ks_entry **used)
{
	struct tok_request tr;
	const struct ks_entry *e;
	uint64_t t0;
	int rc;

	memset(out, 0, TOK_RESPONSE_LEN);
	*used = NULL;
	rc = tok_request_decode(req, len, &tr);
	if (rc)
		return rc;
	e = ks_keyset_signer(ks, tr.token_type, tr.truncated_key_id);
	if (!e || !e->signer)
		return PP_ERR_UNKNOWN_KEY;
	t0 = now_us();
	rc = bsig_blind_sign(e->signer, tr.blinded_msg, TOK_NK, out, TOK_RESPONSE_LEN);
	if (rc)
		return rc;
	met_sign_latency(now_us() - t0);
	met_token_issued(e->meta.key_id);
	*used = e;
	return 0;
}
