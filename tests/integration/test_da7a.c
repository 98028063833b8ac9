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
#include "th_da7a.h"

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
	struct th_dc c;
	uint8_t ext[64], other[64];
	size_t ext_len, other_len;
	char tok[600], why[64];
	const uint64_t now = (uint64_t)time(NULL);
	int i;

	da7a_start(&s, NULL);
	th_dc_init(&c, &s);
	ext_len = th_exp_ext(3600, th_next_multiple(now, 3600), ext);
	other_len = th_exp_ext(3600, th_next_multiple(now, 3600) + 3600, other);
	for (i = 0; i < 3; i++) {
		th_dc_request(&c, ext, ext_len, NULL, 0);
		cr_assert_eq(th_dc_issue(&c, &s, ext, ext_len, tok, sizeof(tok),
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
	ext_len = th_exp_ext(86400, th_next_multiple(now, 86400), ext);
	th_dc_request(&c, ext, ext_len, NULL, 0);
	cr_assert_eq(th_dc_issue(&c, &s, ext, ext_len, tok, sizeof(tok), NULL,
				   0), 200);
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 200);
	th_dc_free(&c);
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
	spki_len = th_dir_key(&s, 2, spki, sizeof(spki));
	th_client_from_spki(&c2, spki, spki_len);
	th_issue(&s, &c2, tok, sizeof(tok));
	ext_len = th_exp_ext(3600, th_next_multiple((uint64_t)time(NULL), 3600), ext);
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 403);
	cr_expect_str_eq(why, "unexpected_extensions");
	cr_expect_eq(redeem_ext(&s, tok, NULL, 0, why, sizeof(why)), 200);
	th_client_free(&c2);
	da7a_stop(&s);
}

Test(da7a, expired_token_is_403_and_not_spent)
{
	struct th_server s;
	struct th_dc c;
	uint8_t ext[64];
	size_t ext_len;
	char tok[600], why[64];

	/* precision 1 s, so a token can expire within the test */
	da7a_start(&s, (const char *[]){ "--ext-expiry-precisions", "1,3600",
					 NULL });
	th_dc_init(&c, &s);
	ext_len = th_exp_ext(1, (uint64_t)time(NULL) + 2, ext);
	th_dc_request(&c, ext, ext_len, NULL, 0);
	cr_assert_eq(th_dc_issue(&c, &s, ext, ext_len, tok, sizeof(tok), NULL,
				   0), 200);
	th_sleep_ms(3100);
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 403);
	cr_expect_str_eq(why, "expired");
	cr_expect_eq(redeem_ext(&s, tok, ext, ext_len, why, sizeof(why)), 403,
		     "still expired, never spent");
	cr_expect_str_eq(why, "expired");
	th_dc_free(&c);
	da7a_stop(&s);
}

Test(da7a, policy_refusals_are_422_with_a_reason_and_no_signature)
{
	static const uint8_t type2_ext[] = { 0, 5, 0, 2, 0, 1, 7 };
	static const uint8_t unsorted[] = { 0, 10, 0, 2, 0, 1, 7, 0, 1, 0, 1, 7 };
	static const uint8_t trailing[] = { 0, 0, 0 };
	static const uint8_t short_list[] = { 0, 9, 0, 1 };
	struct th_server s;
	struct th_dc c;
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
	th_dc_init(&c, &s);
	cases[n].what = "precision 60";
	cases[n].len = th_exp_ext(60, th_next_multiple(now, 60) + 60, cases[n].ext);
	cases[n++].error = "extension_not_allowed";
	cases[n].what = "8 days ahead";
	cases[n].len = th_exp_ext(86400, th_next_multiple(now, 86400) + 7 * 86400,
			       cases[n].ext);
	cases[n++].error = "expiry_out_of_range";
	cases[n].what = "an hour ago";
	cases[n].len = th_exp_ext(3600, th_next_multiple(now, 3600) - 7200,
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
		th_dc_request(&c, cases[i].ext, cases[i].len, NULL, 0);
		err[0] = '\0';
		cr_expect_eq(th_dc_issue(&c, &s, cases[i].ext, cases[i].len,
					   tok, sizeof(tok), err, sizeof(err)),
			     422, "%s", cases[i].what);
		cr_expect_str_eq(err, cases[i].error, "%s", cases[i].what);
	}
	/* an empty Extensions list is permitted */
	cases[0].ext[0] = cases[0].ext[1] = 0;
	th_dc_request(&c, cases[0].ext, 2, NULL, 0);
	cr_expect_eq(th_dc_issue(&c, &s, cases[0].ext, 2, tok, sizeof(tok),
				   NULL, 0), 200);
	th_dc_free(&c);
	da7a_stop(&s);
}

Test(da7a, malformed_requests_and_redemptions_are_4xx_never_5xx)
{
	struct th_server s;
	struct th_dc c;
	struct th_resp r;
	uint8_t body[4200], ext[64];
	size_t ext_len, len;
	char tok[600], json[6000], big[5600];
	long st;
	int i;

	da7a_start(&s, NULL);
	th_dc_init(&c, &s);
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

	ext_len = th_exp_ext(3600, th_next_multiple((uint64_t)time(NULL), 3600), ext);
	th_dc_request(&c, ext, ext_len, NULL, 0);
	cr_assert_eq(th_dc_issue(&c, &s, ext, ext_len, tok, sizeof(tok), NULL,
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
	th_dc_free(&c);
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
