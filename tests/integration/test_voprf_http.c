/* Token types 0x0005 and 0x0001 over real HTTP against the real server
 * started with --token-types 2,5,1: the directory lists all three; requests
 * made by our own VOPRF client (crypto/voprf.h) are evaluated, the proofs
 * verify, the tokens redeem once (200, then 409) and a tampered token is
 * refused (403); malformed requests get 4xx, never 5xx. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/tu.h"
#include "crypto/b64.h"
#include "crypto/grp.h"
#include "crypto/token.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"
#include "th.h"

#define CT_REQ "Content-Type: application/private-token-request"
#define DIR_PATH "/.well-known/private-token-issuer-directory"

TestSuite(voprf_http, .timeout = 120, .fini = tu_leak_check);

static const char *const types_251[] = { "--token-types", "2,5,1", NULL };

/* Our client for one VOPRF type: the issuer's key from the directory, and
 * one token in the making. */
struct vclient {
	uint16_t type;
	const struct grp_impl *g;
	const struct vtok_sizes *sz;
	uint8_t pk[GRP_MAX_NE];
	uint8_t key_id[32];
	uint8_t challenge[64];
	size_t challenge_len;
	uint8_t input[VTOK_INPUT_LEN];
	uint8_t blind[GRP_MAX_NS];
	uint8_t request[3 + GRP_MAX_NE];
	size_t request_len;
};

/* The directory's key of type, as bytes; fails the test when absent. */
static void directory_key(const struct th_server *s, uint16_t type,
			  uint8_t *pk, size_t cap, size_t *len)
{
	json_t *dir, *keys;
	char *body = NULL;
	size_t i;

	cr_assert_eq(th_get(s, DIR_PATH, &body), 200);
	dir = json_loads(body, 0, NULL);
	cr_assert_not_null(dir, "directory is not JSON: %s", body);
	keys = json_object_get(dir, "token-keys");
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		const char *key;

		if (json_integer_value(json_object_get(k, "token-type")) != type)
			continue;
		key = json_string_value(json_object_get(k, "token-key"));
		cr_assert_not_null(key);
		cr_assert_eq(b64_decode(key, strlen(key), pk, cap, len), 0);
		json_decref(dir);
		free(body);
		return;
	}
	cr_assert_fail("no key of type %u in the directory: %s", type, body);
}

static void vclient_init(struct vclient *c, const struct th_server *s,
			 uint16_t type)
{
	struct tok_challenge ch = { 0 };
	size_t pk_len = 0;

	memset(c, 0, sizeof(*c));
	c->type = type;
	c->g = vtok_group(type);
	c->sz = vtok_sizes(type);
	cr_assert(c->g && c->sz);
	directory_key(s, type, c->pk, sizeof(c->pk), &pk_len);
	cr_assert_eq(pk_len, c->g->ne, "type %u: token-key is %zu bytes", type,
		     pk_len);
	SHA256(c->pk, pk_len, c->key_id);
	ch.token_type = type;
	ch.issuer_name = (const uint8_t *)"issuer.example";
	ch.issuer_name_len = strlen("issuer.example");
	cr_assert_eq(tok_challenge_encode(&ch, c->challenge,
					  sizeof(c->challenge),
					  &c->challenge_len), 0);
}

/* A fresh token input (random nonce), blinded into c->request. */
static void vclient_request(struct vclient *c)
{
	uint8_t nonce[32], digest[32];

	cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
	SHA256(c->challenge, c->challenge_len, digest);
	tok_token_input(c->type, nonce, digest, c->key_id, c->input);
	cr_assert_eq(voprf_blind(c->g, c->input, sizeof(c->input), NULL,
				 c->blind, c->request + 3), 0);
	cr_assert_eq(vtok_request_encode(c->type, c->key_id[31], c->request + 3,
					 c->request, sizeof(c->request),
					 &c->request_len), 0);
}

/* Verifies the proof and finalizes: the token (98 + Nk bytes) into tok. */
static int vclient_finalize(struct vclient *c, const uint8_t *resp,
			    size_t len, uint8_t *tok, size_t *tok_len)
{
	const uint8_t *inputs[1] = { c->input };
	size_t lens[1] = { VTOK_INPUT_LEN };
	struct vtok_response r;
	int rc;

	if ((rc = vtok_response_decode(c->type, resp, len, &r)) != 0)
		return rc;
	memcpy(tok, c->input, VTOK_INPUT_LEN);
	rc = voprf_finalize(c->g, c->pk, c->g->ne, 1, inputs, lens, c->blind,
			    c->request + 3, r.evaluated, r.proof, 2 * c->sz->ns,
			    tok + VTOK_INPUT_LEN, c->sz->nk);
	*tok_len = VTOK_INPUT_LEN + c->sz->nk;
	return rc;
}

static long post_request(const struct th_server *s, const uint8_t *body,
			 size_t len, struct th_resp *r)
{
	cr_assert_eq(th_http(s, "POST", "/token-request",
			     (const char *[]){ CT_REQ, NULL }, body, len, r), 0);
	return r->status;
}

/* One token of c's type, issued and finalized, as padded base64url. */
static void vclient_issue(struct vclient *c, const struct th_server *s,
			  char *b64, size_t cap)
{
	uint8_t tok[VTOK_INPUT_LEN + VTOK_MAX_NK];
	struct th_resp r;
	size_t tok_len = 0;
	char ct[128];

	vclient_request(c);
	cr_assert_eq(post_request(s, c->request, c->request_len, &r), 200,
		     "type %u: %.*s", c->type, (int)r.len, r.body);
	cr_assert_not_null(th_header(&r, "Content-Type", ct, sizeof(ct)));
	cr_assert_str_eq(ct, "application/private-token-response");
	cr_assert_eq(r.len, c->sz->ne + 2 * c->sz->ns);
	cr_assert_eq(vclient_finalize(c, r.body, r.len, tok, &tok_len), 0,
		     "type %u: the proof does not verify", c->type);
	th_resp_free(&r);
	cr_assert_eq(b64_encode(tok, tok_len, b64, cap, NULL), 0);
}

Test(voprf_http, directory_lists_the_three_types)
{
	struct th_server s;
	json_t *dir, *keys;
	char *body = NULL;
	int seen[6] = { 0 };
	size_t i;

	th_dir_init(&s);
	th_server_start(&s, types_251, NULL);
	cr_assert_eq(th_get(&s, DIR_PATH, &body), 200);
	dir = json_loads(body, 0, NULL);
	cr_assert_not_null(dir);
	keys = json_object_get(dir, "token-keys");
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		json_int_t t = json_integer_value(json_object_get(k, "token-type"));
		const char *key = json_string_value(json_object_get(k, "token-key"));
		const struct grp_impl *g = vtok_group((uint16_t)t);
		uint8_t pk[1100];
		struct grp_elem e;
		size_t len = 0;

		cr_assert(t == 1 || t == 2 || t == 5, "type %lld listed",
			  (long long)t);
		seen[t]++;
		cr_assert_not_null(key);
		cr_assert_eq(b64_decode(key, strlen(key), pk, sizeof(pk), &len),
			     0);
		if (g != NULL) {
			cr_assert_eq(len, g->ne);
			cr_assert_eq(g->elem_decode(&e, pk, len), 0,
				     "type %lld: token-key is no element",
				     (long long)t);
		}
	}
	cr_assert(seen[1] == 1 && seen[2] == 1 && seen[5] == 1, "%s", body);
	json_decref(dir);
	free(body);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

static void issue_and_redeem(const struct th_server *s, uint16_t type)
{
	struct vclient c;
	char tok[400], bad[400], hexid[65];
	json_t *j;
	int i;

	vclient_init(&c, s, type);
	for (i = 0; i < 32; i++)
		snprintf(hexid + 2 * i, 3, "%02x", c.key_id[i]);
	for (i = 0; i < 3; i++) {
		vclient_issue(&c, s, tok, sizeof(tok));
		cr_assert_eq(th_redeem_token(s, tok, &j), 200, "type %u", type);
		cr_assert_str_eq(json_string_value(json_object_get(j, "result")),
				 "valid");
		cr_assert_eq(json_integer_value(json_object_get(j, "token_type")),
			     type);
		cr_assert_str_eq(json_string_value(json_object_get(j,
						   "token_key_id")), hexid);
		json_decref(j);
		cr_assert_eq(th_redeem_token(s, tok, NULL), 409, "type %u",
			     type);
	}

	/* spend=false checks without consuming */
	vclient_issue(&c, s, tok, sizeof(tok));
	cr_assert_eq(th_redeem_check(s, tok), 200);
	cr_assert_eq(th_redeem_token(s, tok, NULL), 200);
	cr_assert_eq(th_redeem_check(s, tok), 409);

	/* tampered: the authenticator's last byte, then the nonce */
	vclient_issue(&c, s, tok, sizeof(tok));
	{
		uint8_t raw[VTOK_INPUT_LEN + VTOK_MAX_NK];
		size_t len = 0;

		cr_assert_eq(b64_decode(tok, strlen(tok), raw, sizeof(raw),
					&len), 0);
		raw[len - 1] ^= 1;
		cr_assert_eq(b64_encode(raw, len, bad, sizeof(bad), NULL), 0);
		cr_assert_eq(th_redeem_token(s, bad, &j), 403);
		cr_assert_str_eq(json_string_value(json_object_get(j, "reason")),
				 "bad_signature");
		json_decref(j);
		raw[len - 1] ^= 1;
		raw[3] ^= 1;
		cr_assert_eq(b64_encode(raw, len, bad, sizeof(bad), NULL), 0);
		cr_assert_eq(th_redeem_token(s, bad, NULL), 403);
		raw[3] ^= 1;
		/* one byte short: malformed */
		cr_assert_eq(b64_encode(raw, len - 1, bad, sizeof(bad), NULL),
			     0);
		cr_assert_eq(th_redeem_token(s, bad, NULL), 400);
	}
	/* the untampered token is still good */
	cr_assert_eq(th_redeem_token(s, tok, NULL), 200);
}

Test(voprf_http, type5_and_type1_issue_redeem_once_and_refuse_tampering)
{
	struct th_server s;

	th_dir_init(&s);
	th_server_start(&s, types_251, NULL);
	issue_and_redeem(&s, VTOK_TYPE_VOPRF_R255);
	issue_and_redeem(&s, VTOK_TYPE_VOPRF_P384);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

static void expect_error(const struct th_server *s, const uint8_t *body,
			 size_t len, long status, const char *error,
			 const char *what)
{
	struct th_resp r;
	json_t *j;

	cr_assert_eq(post_request(s, body, len, &r), status, "%s: %ld %.*s",
		     what, r.status, (int)r.len, r.body);
	j = json_loadb((const char *)r.body, r.len, 0, NULL);
	cr_assert_not_null(j, "%s: answer is not JSON", what);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), error,
			 "%s", what);
	json_decref(j);
	th_resp_free(&r);
}

static void malformed_requests(const struct th_server *s, uint16_t type)
{
	struct vclient c;
	uint8_t req[64];
	size_t len;

	vclient_init(&c, s, type);
	vclient_request(&c);
	len = c.request_len;
	memcpy(req, c.request, len);
	expect_error(s, req, len - 1, 422, "invalid_request_length", "short");
	req[len] = 0;
	expect_error(s, req, len + 1, 422, "invalid_request_length", "long");
	expect_error(s, req, 3, 422, "invalid_request_length", "header only");
	req[2] ^= 0xff;
	expect_error(s, req, len, 422, "unknown_token_key", "truncated id");
	req[2] ^= 0xff;
	/* the identity (all zeros) and an encoding no element has */
	memset(req + 3, 0, len - 3);
	expect_error(s, req, len, 422, "invalid_blinded_message", "identity");
	memset(req + 3, 0xff, len - 3);
	expect_error(s, req, len, 422, "invalid_blinded_message", "0xff..");
	memcpy(req, c.request, len);
	if (type == VTOK_TYPE_VOPRF_R255)
		req[len - 1] |= 0x80;   /* the high bit */
	else
		req[3] = 0x04;          /* an uncompressed prefix */
	expect_error(s, req, len, 422, "invalid_blinded_message", "encoding");
}

Test(voprf_http, malformed_requests_are_4xx_never_5xx)
{
	struct th_server s;
	uint8_t other[64] = { 0 };

	th_dir_init(&s);
	th_server_start(&s, types_251, NULL);
	malformed_requests(&s, VTOK_TYPE_VOPRF_R255);
	malformed_requests(&s, VTOK_TYPE_VOPRF_P384);
	/* a type-5 header on a type-1 sized body and the reverse */
	other[1] = 5;
	expect_error(&s, other, 52, 422, "invalid_request_length", "5 as 1");
	other[1] = 1;
	expect_error(&s, other, 35, 422, "invalid_request_length", "1 as 5");
	other[1] = 3;
	expect_error(&s, other, 35, 422, "unsupported_token_type", "type 3");
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* A server that serves only type 2 knows no VOPRF key: 422, not 5xx. */
Test(voprf_http, types_not_served_get_unknown_key)
{
	struct th_server s, s5;
	struct vclient c;
	const char *const only5[] = { "--token-types", "5", NULL };

	th_dir_init(&s5);
	th_server_start(&s5, only5, NULL);
	vclient_init(&c, &s5, VTOK_TYPE_VOPRF_R255);
	vclient_request(&c);
	th_dir_init(&s);
	th_server_start(&s, NULL, NULL);
	expect_error(&s, c.request, c.request_len, 422, "unknown_token_key",
		     "type 5 at a type-2 server");
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
	cr_assert_eq(th_server_stop(&s5), 0);
	th_dir_cleanup(&s5);
}
