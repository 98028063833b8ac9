/* A 0xDA7A client for the integration tests (see th_da7a.h). */
#include "th_da7a.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "crypto/pbrsa.h"
#include "crypto/spki.h"
#include "crypto/token.h"

#define TH_DA7A_CT_REQ "Content-Type: application/private-token-request"

size_t th_dir_key(const struct th_server *s, int type, uint8_t *spki,
		  size_t cap)
{
	json_t *root, *keys, *k;
	json_error_t err;
	char *body = NULL;
	size_t i, len = 0;

	cr_assert_eq(th_get(s, "/.well-known/private-token-issuer-directory",
			    &body), 200);
	root = json_loads(body, 0, &err);
	cr_assert(root != NULL);
	keys = json_object_get(root, "token-keys");
	json_array_foreach(keys, i, k) {
		const char *t;

		if (json_integer_value(json_object_get(k, "token-type")) != type)
			continue;
		t = json_string_value(json_object_get(k, "token-key"));
		cr_assert_eq(b64_decode(t, strlen(t), spki, cap, &len), 0);
		break;
	}
	cr_assert(len > 0, "no key of type %d in the directory: %s", type, body);
	json_decref(root);
	free(body);
	return len;
}

void th_dc_init(struct th_dc *c, const struct th_server *s)
{
	memset(c, 0, sizeof(*c));
	c->spki_len = th_dir_key(s, 0xDA7A, c->spki, sizeof(c->spki));
	SHA256(c->spki, c->spki_len, c->key_id);
	cr_assert_eq(spki_decode(c->spki, c->spki_len, &c->pk), 0);
}

void th_dc_free(struct th_dc *c)
{
	EVP_PKEY_free(c->pk);
}

void th_dc_request(struct th_dc *c, const uint8_t *ext, size_t ext_len,
		   const uint8_t *challenge, size_t challenge_len)
{
	uint8_t nonce[32], digest[32], blinded[256];

	cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
	if (challenge)
		SHA256(challenge, challenge_len, digest);
	else
		cr_assert_eq(RAND_bytes(digest, sizeof(digest)), 1);
	tok_token_input(0xDA7A, nonce, digest, c->key_id, c->input);
	cr_assert_eq(pbrsa_blind(c->pk, c->input, sizeof(c->input), ext,
				 ext_len, NULL, NULL, 0, blinded, c->inv, 256),
		     0);
	c->req[0] = 0xDA;
	c->req[1] = 0x7A;
	c->req[2] = c->key_id[31];
	memcpy(c->req + 3, blinded, 256);
	cr_assert(ext_len <= sizeof(c->req) - EXT_REQUEST_LEN);
	memcpy(c->req + EXT_REQUEST_LEN, ext, ext_len);
	c->req_len = EXT_REQUEST_LEN + ext_len;
}

long th_dc_issue(struct th_dc *c, const struct th_server *s,
		 const uint8_t *ext, size_t ext_len, char *b64, size_t cap,
		 char *err, size_t errcap)
{
	struct th_resp r;
	uint8_t sig[256], token[EXT_TOKEN_LEN];
	long status;

	cr_assert_eq(th_http(s, "POST", "/token-request",
			     (const char *[]){ TH_DA7A_CT_REQ, NULL }, c->req,
			     c->req_len, &r), 0);
	status = r.status;
	if (status == 200) {
		cr_assert_eq(r.len, 256);
		cr_assert_eq(pbrsa_finalize(c->pk, c->input, sizeof(c->input),
					    ext, ext_len, r.body, c->inv, sig,
					    sizeof(sig)), 0,
			     "the signature verifies under the Extensions");
		memcpy(token, c->input, sizeof(c->input));
		memcpy(token + sizeof(c->input), sig, sizeof(sig));
		cr_assert_eq(b64_encode(token, sizeof(token), b64, cap, NULL), 0);
	} else if (err) {
		json_error_t je;
		json_t *j = json_loadb((const char *)r.body, r.len, 0, &je);

		cr_assert(j != NULL, "error answer is JSON: %.*s", (int)r.len,
			  r.body);
		snprintf(err, errcap, "%s",
			 json_string_value(json_object_get(j, "error")));
		json_decref(j);
	}
	th_resp_free(&r);
	return status;
}

size_t th_exp_ext(uint64_t precision, uint64_t ts, uint8_t *out)
{
	struct ext_expiration x = { precision, ts };
	uint8_t data[EXT_EXPIRATION_LEN];
	struct ext_entry e = { EXT_TYPE_EXPIRATION, EXT_EXPIRATION_LEN, data };
	size_t len = 0;

	cr_assert_eq(ext_expiration_encode(&x, data), 0);
	cr_assert_eq(ext_encode(&e, 1, 0, out, 64, &len), 0);
	return len;
}

uint64_t th_next_multiple(uint64_t t, uint64_t p)
{
	return (t / p + 1) * p;
}
