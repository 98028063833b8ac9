/* Token type 0xDA7A against the real binary: the committed safe-prime key
 * imported with `keys import --type 0xDA7A` (the server never searches for
 * primes here), served beside type 2 (--token-types 2,0xDA7A); tokens with
 * an expiration extension issued and redeemed (200, then 409), altered,
 * missing or misplaced extensions 403, expired tokens 403, policy refusals
 * 422, and malformed input 4xx, never 5xx. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/b64.h"
#include "crypto/ext.h"
#include "crypto/pbrsa.h"
#include "crypto/spki.h"
#include "crypto/token.h"
#include "../unit/tu.h"
#include "../unit/tu_keys.h"
#include "th.h"

TestSuite(da7a, .fini = tu_leak_check, .timeout = 120);

#define CT_REQ "Content-Type: application/private-token-request"
#define CT_JSON "Content-Type: application/json"

/* A server serving types 2 and 0xDA7A with the fixture key; extra flags
 * after the defaults (NULL-terminated, may be NULL). */
static void da7a_start(struct th_server *s, const char *const *extra)
{
	const char *args[24] = { "--token-types", "2,0xDA7A", "--log-requests",
				 "false" };
	char key[1024];
	size_t n = 4, i;

	tu_keys_data_path("keys/pbrsa-safe2048.pem", key, sizeof(key));
	th_dir_init(s);
	th_keys_cmd(s, (const char *[]){ "import", "--type", "0xDA7A", key,
					 NULL });
	for (i = 0; extra && extra[i] && n < 22; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	th_server_start(s, args, NULL);
}

static void da7a_stop(struct th_server *s)
{
	cr_expect_eq(th_server_stop(s), 0);
	th_dir_cleanup(s);
}

/* The public key of the directory's first key of a type. */
static size_t dir_key(const struct th_server *s, int type, uint8_t *spki,
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

/* A 0xDA7A client: the key, and per token its input and unblinder. */
struct dclient {
	uint8_t spki[1100];
	size_t spki_len;
	uint8_t key_id[32];
	EVP_PKEY *pk;
	uint8_t input[EXT_TOKEN_INPUT_LEN];
	uint8_t inv[256];
	uint8_t req[EXT_REQUEST_LEN + 512];
	size_t req_len;
};

static void dclient_init(struct dclient *c, const struct th_server *s)
{
	memset(c, 0, sizeof(*c));
	c->spki_len = dir_key(s, 0xDA7A, c->spki, sizeof(c->spki));
	SHA256(c->spki, c->spki_len, c->key_id);
	cr_assert_eq(spki_decode(c->spki, c->spki_len, &c->pk), 0);
}

static void dclient_free(struct dclient *c)
{
	EVP_PKEY_free(c->pk);
}

/* An ExtendedTokenRequest for a fresh token input with these Extensions
 * (taken as they are: the client does not judge them). */
static void dclient_request(struct dclient *c, const uint8_t *ext,
			    size_t ext_len)
{
	uint8_t nonce[32], digest[32], blinded[256];

	cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
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

/* POST /token-request with c's request; the status, and on 200 the token
 * (finalized and verified) as base64url into b64. On other statuses the
 * answer's "error" into err (may be NULL). */
static long dclient_issue(struct dclient *c, const struct th_server *s,
			  const uint8_t *ext, size_t ext_len, char *b64,
			  size_t cap, char *err, size_t errcap)
{
	struct th_resp r;
	uint8_t sig[256], token[EXT_TOKEN_LEN];
	long status;

	cr_assert_eq(th_http(s, "POST", "/token-request",
			     (const char *[]){ CT_REQ, NULL }, c->req,
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

/* Serialized Extensions with one expiration. */
static size_t exp_ext(uint64_t precision, uint64_t ts, uint8_t *out)
{
	struct ext_expiration x = { precision, ts };
	uint8_t data[EXT_EXPIRATION_LEN];
	struct ext_entry e = { EXT_TYPE_EXPIRATION, EXT_EXPIRATION_LEN, data };
	size_t len = 0;

	cr_assert_eq(ext_expiration_encode(&x, data), 0);
	cr_assert_eq(ext_encode(&e, 1, 0, out, 64, &len), 0);
	return len;
}

static uint64_t next_multiple(uint64_t t, uint64_t p)
{
	return (t / p + 1) * p;
}

/* POST /redeem {"token":..., "extensions":...}; the status, and the
 * answer's reason (or result) into why. ext NULL: no extensions member. */
static long redeem_ext(const struct th_server *s, const char *tok_b64,
		       const uint8_t *ext, size_t ext_len, char *why,
		       size_t cap)
{
	char json[4096], e64[1024];
	json_t *j = NULL;
	long status;

	if (ext) {
		cr_assert_eq(b64_encode(ext, ext_len, e64, sizeof(e64), NULL), 0);
		snprintf(json, sizeof(json),
			 "{\"token\":\"%s\",\"extensions\":\"%s\"}", tok_b64,
			 e64);
	} else {
		snprintf(json, sizeof(json), "{\"token\":\"%s\"}", tok_b64);
	}
	status = th_redeem_json(s, json, &j);
	if (why) {
		json_t *r = json_object_get(j, "reason");

		snprintf(why, cap, "%s", json_string_value(r ? r :
				json_object_get(j, "result")));
	}
	json_decref(j);
	return status;
}

Test(da7a, tokens_with_expiration_issue_redeem_once_and_only_with_their_extensions)
{
	struct th_server s;
	struct dclient c;
	uint8_t ext[64], other[64];
	size_t ext_len, other_len;
	char tok[600], why[64];
	const uint64_t now = (uint64_t)time(NULL);
	int i;

	da7a_start(&s, NULL);
	dclient_init(&c, &s);
	ext_len = exp_ext(3600, next_multiple(now, 3600), ext);
	other_len = exp_ext(3600, next_multiple(now, 3600) + 3600, other);
	for (i = 0; i < 3; i++) {
		dclient_request(&c, ext, ext_len);
		cr_assert_eq(dclient_issue(&c, &s, ext, ext_len, tok, sizeof(tok),
					   NULL, 0), 200);
		/* altered Extensions: another derived key */
		cr_expect_eq(redeem_ext(&s, tok, other, other_len, why,
					sizeof(why)), 403);
		cr_expect_str_eq(why, "bad_signature");
		/* none at all */
		cr_expect_eq(redeem_ext(&s, tok, NULL, 0, why, sizeof(why)), 403);
		cr_expect_str_eq(why, "missing_extensions");
		/* its own: valid once, then spent */
		cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)),
			     200);
		cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)),
			     409);
		cr_expect_str_eq(why, "spent");
	}
	/* a day's precision is allowed too */
	ext_len = exp_ext(86400, next_multiple(now, 86400), ext);
	dclient_request(&c, ext, ext_len);
	cr_assert_eq(dclient_issue(&c, &s, ext, ext_len, tok, sizeof(tok), NULL,
				   0), 200);
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 200);
	dclient_free(&c);
	da7a_stop(&s);
}

Test(da7a, type2_tokens_still_work_and_refuse_extensions)
{
	struct th_server s;
	struct th_client c2;
	uint8_t spki[1100], ext[64];
	size_t spki_len, ext_len;
	char tok[600], why[64];

	da7a_start(&s, NULL);
	spki_len = dir_key(&s, 2, spki, sizeof(spki));
	th_client_from_spki(&c2, spki, spki_len);
	th_issue(&s, &c2, tok, sizeof(tok));
	ext_len = exp_ext(3600, next_multiple((uint64_t)time(NULL), 3600), ext);
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 403);
	cr_expect_str_eq(why, "unexpected_extensions");
	cr_expect_eq(redeem_ext(&s, tok, NULL, 0, why, sizeof(why)), 200);
	th_client_free(&c2);
	da7a_stop(&s);
}

Test(da7a, expired_token_is_403_and_not_spent)
{
	struct th_server s;
	struct dclient c;
	uint8_t ext[64];
	size_t ext_len;
	char tok[600], why[64];

	/* precision 1 s, so a token can expire within the test */
	da7a_start(&s, (const char *[]){ "--ext-expiry-precisions", "1,3600",
					 NULL });
	dclient_init(&c, &s);
	ext_len = exp_ext(1, (uint64_t)time(NULL) + 2, ext);
	dclient_request(&c, ext, ext_len);
	cr_assert_eq(dclient_issue(&c, &s, ext, ext_len, tok, sizeof(tok), NULL,
				   0), 200);
	th_sleep_ms(3100);
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 403);
	cr_expect_str_eq(why, "expired");
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 403,
		     "still expired, never spent");
	cr_expect_str_eq(why, "expired");
	dclient_free(&c);
	da7a_stop(&s);
}

Test(da7a, policy_refusals_are_422_with_a_reason_and_no_signature)
{
	static const uint8_t type2_ext[] = { 0, 5, 0, 2, 0, 1, 7 };
	static const uint8_t unsorted[] = { 0, 10, 0, 2, 0, 1, 7, 0, 1, 0, 1, 7 };
	static const uint8_t trailing[] = { 0, 0, 0 };
	static const uint8_t short_list[] = { 0, 9, 0, 1 };
	struct th_server s;
	struct dclient c;
	const uint64_t now = (uint64_t)time(NULL);
	struct {
		const char *what;
		uint8_t ext[64];
		size_t len;
		const char *error;
	} cases[10];
	size_t n = 0, i;
	char tok[600], err[64];

	da7a_start(&s, NULL);
	dclient_init(&c, &s);
	cases[n].what = "precision 60";
	cases[n].len = exp_ext(60, next_multiple(now, 60) + 60, cases[n].ext);
	cases[n++].error = "extension_not_allowed";
	cases[n].what = "8 days ahead";
	cases[n].len = exp_ext(86400, next_multiple(now, 86400) + 7 * 86400,
			       cases[n].ext);
	cases[n++].error = "expiry_out_of_range";
	cases[n].what = "an hour ago";
	cases[n].len = exp_ext(3600, next_multiple(now, 3600) - 7200,
			       cases[n].ext);
	cases[n++].error = "expiry_out_of_range";
	cases[n].what = "extension type 2";
	memcpy(cases[n].ext, type2_ext, sizeof(type2_ext));
	cases[n].len = sizeof(type2_ext);
	cases[n++].error = "extension_not_allowed";
	cases[n].what = "unsorted";
	memcpy(cases[n].ext, unsorted, sizeof(unsorted));
	cases[n].len = sizeof(unsorted);
	cases[n++].error = "invalid_extensions";
	cases[n].what = "trailing byte";
	memcpy(cases[n].ext, trailing, sizeof(trailing));
	cases[n].len = sizeof(trailing);
	cases[n++].error = "invalid_extensions";
	cases[n].what = "list longer than the body";
	memcpy(cases[n].ext, short_list, sizeof(short_list));
	cases[n].len = sizeof(short_list);
	cases[n++].error = "invalid_extensions";
	cases[n].what = "no Extensions at all (259 bytes)";
	cases[n].len = 0;
	cases[n++].error = "invalid_extensions";
	for (i = 0; i < n; i++) {
		dclient_request(&c, cases[i].ext, cases[i].len);
		err[0] = '\0';
		cr_expect_eq(dclient_issue(&c, &s, cases[i].ext, cases[i].len,
					   tok, sizeof(tok), err, sizeof(err)),
			     422, "%s", cases[i].what);
		cr_expect_str_eq(err, cases[i].error, "%s", cases[i].what);
	}
	/* an empty Extensions list is permitted */
	cases[0].ext[0] = cases[0].ext[1] = 0;
	dclient_request(&c, cases[0].ext, 2);
	cr_expect_eq(dclient_issue(&c, &s, cases[0].ext, 2, tok, sizeof(tok),
				   NULL, 0), 200);
	dclient_free(&c);
	da7a_stop(&s);
}

Test(da7a, malformed_requests_and_redemptions_are_4xx_never_5xx)
{
	struct th_server s;
	struct dclient c;
	struct th_resp r;
	uint8_t body[4200], ext[64];
	size_t ext_len, len;
	char tok[600], json[6000], big[5600];
	long st;
	int i;

	da7a_start(&s, NULL);
	dclient_init(&c, &s);
	/* random bodies behind a 0xDA7A header, of many lengths */
	for (i = 0; i < 60; i++) {
		len = (size_t)(i < 10 ? i : 250 + (i - 10) * 7);
		cr_assert_eq(RAND_bytes(body, (int)sizeof(body)), 1);
		body[0] = 0xDA;
		body[1] = 0x7A;
		if (len > 2)
			body[2] = c.key_id[31];
		cr_assert_eq(th_http(&s, "POST", "/token-request",
				     (const char *[]){ CT_REQ, NULL }, body, len,
				     &r), 0);
		cr_expect(r.status >= 400 && r.status < 500,
			  "length %zu: status %ld", len, r.status);
		th_resp_free(&r);
	}
	/* a body over the cap */
	memset(body, 0, sizeof(body));
	body[0] = 0xDA;
	body[1] = 0x7A;
	cr_assert_eq(th_http(&s, "POST", "/token-request",
			     (const char *[]){ CT_REQ, NULL }, body, sizeof(body),
			     &r), 0);
	cr_expect_eq(r.status, 413);
	th_resp_free(&r);

	ext_len = exp_ext(3600, next_multiple((uint64_t)time(NULL), 3600), ext);
	dclient_request(&c, ext, ext_len);
	cr_assert_eq(dclient_issue(&c, &s, ext, ext_len, tok, sizeof(tok), NULL,
				   0), 200);
	/* extensions that are not base64url, not a string, too long, or not
	 * Extensions: 400 or 403, never a spend */
	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"extensions\":\"*!\"}",
		 tok);
	cr_expect_eq(th_redeem_json(&s, json, NULL), 400);
	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"extensions\":5}", tok);
	cr_expect_eq(th_redeem_json(&s, json, NULL), 400);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"extensions\":\"%s\"}",
		 tok, big);
	cr_expect_eq(th_redeem_json(&s, json, NULL), 400);
	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"extensions\":\"\"}",
		 tok);
	st = th_redeem_json(&s, json, NULL);
	cr_expect_eq(st, 403, "empty extensions: %ld", st);
	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"extensions\":\"AAEC\"}",
		 tok);
	cr_expect_eq(th_redeem_json(&s, json, NULL), 403);
	/* after all that the token is still unspent */
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, NULL, 0), 200);
	dclient_free(&c);
	da7a_stop(&s);
}

Test(da7a, keys_import_refuses_a_key_without_safe_primes)
{
	struct th_server s;
	char key[1024], *out = NULL;
	int rc;

	th_dir_init(&s);
	tu_keys_data_path("keys/tid37-a.pem", key, sizeof(key));
	rc = th_run((const char *[]){ "keys", "import", "--type", "0xDA7A", key,
				      "--data-dir", s.data_dir, NULL }, &out);
	cr_expect_neq(rc, 0);
	cr_expect(out && strstr(out, "safe primes"), "%s", out);
	free(out);
	th_dir_cleanup(&s);
}
