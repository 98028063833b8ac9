/* Token type 0xDA7A through its token-type table entry: the privacypass-ts
 * vector issued byte for byte and verified, keys refused without safe
 * primes, requests and tokens bound to their Extensions; and the issuance
 * extension policy (issuer/ext_policy.c) as accept/reject tables. */
#include "base/pp_err.h"
#include "crypto/ext.h"
#include "crypto/pbrsa.h"
#include "crypto/spki.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "issuer/ext_policy.h"
#include "issuer/redeem_body.h"
#include "tu.h"
#include "tu_keys.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tt_secret lives in sodium_malloc'd memory */
static void setup(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(tt_pbrsa, .init = setup, .fini = tu_leak_check);

#define DA7A_FILE "unofficial-privacypass-ts-type-da7a-vector.json"
#define FIXTURE_KEY "keys/pbrsa-safe2048.pem"
#define UNSAFE_KEY "keys/tid37-a.pem"

static const struct tt_ops *ops(void)
{
	const struct tt_ops *tt = tt_find(0xDA7A);

	cr_assert(tt != NULL, "0xDA7A is in the table");
	return tt;
}

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len,
			 const char *what)
{
	size_t i;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	cr_assert(i == len, "%s differs at byte %zu of %zu", what, i, len);
}

/* A file under tests/data into a malloc'd buffer. */
static uint8_t *data_file(const char *rel, size_t *len)
{
	char path[1024];

	tu_keys_data_path(rel, path, sizeof(path));
	return (uint8_t *)tu_read_file(path, len);
}

/* The fixture key's private form, and a signer and verifier made from it. */
struct fixture {
	struct tt_secret *priv;
	uint8_t pub[TT_PUB_MAX];
	size_t pub_len;
	uint8_t tid;
	struct tt_key *signer, *verifier;
};

static void fixture_open(struct fixture *f)
{
	const struct tt_ops *tt = ops();
	size_t len;
	uint8_t *pem = data_file(FIXTURE_KEY, &len), id[32];
	char why[200] = "";

	memset(f, 0, sizeof(*f));
	cr_assert_eq(tt->import(pem, len, &f->priv, why, sizeof(why)), 0,
		     "fixture import: %s", why);
	free(pem);
	cr_assert_eq(tt->public_form(f->priv->p, f->priv->len, f->pub,
				     sizeof(f->pub), &f->pub_len), 0);
	tt_key_id(f->pub, f->pub_len, id);
	f->tid = tt_truncated_id(id);
	cr_assert_eq(tt_signer_new(tt, f->priv, 2, &f->signer), 0);
	cr_assert_eq(tt_verifier_new(tt, f->pub, f->pub_len, NULL,
				     &f->verifier), 0);
}

static void fixture_close(struct fixture *f)
{
	tt_key_free(f->signer);
	tt_key_free(f->verifier);
	tt_secret_free(f->priv);
}

Test(tt_pbrsa, entry_has_the_wire_sizes_of_0xda7a)
{
	const struct tt_ops *tt = ops();

	cr_expect_eq(tt->request_len, 259);
	cr_expect(tt->request_variable);
	cr_expect_eq(tt->response_len, 256);
	cr_expect_eq(tt->nk, 256);
	cr_expect(!tt->private_verify);
	cr_expect(tt->generate_progress != NULL);
	cr_expect_eq(tt_parse("0xDA7A"), tt);
	cr_expect_eq(tt_parse("pbrsa-2048"), tt);
	cr_expect_eq(tt_parse("55930"), tt);
}

Test(tt_pbrsa, vector_issues_byte_for_byte_and_its_token_verifies)
{
	const struct tt_ops *tt = ops();
	json_t *vecs = tu_vectors(DA7A_FILE), *v = json_array_get(vecs, 0);
	size_t sk_len, pk_len, req_len, resp_len, tok_len, ext_len, out_len;
	uint8_t *sk = tu_hex_field(v, "skS", &sk_len);
	uint8_t *pk = tu_hex_field(v, "pkS", &pk_len);
	uint8_t *req = tu_hex_field(v, "token_request", &req_len);
	uint8_t *resp = tu_hex_field(v, "token_response", &resp_len);
	uint8_t *tok = tu_hex_field(v, "token", &tok_len);
	uint8_t *ext = tu_hex_field(v, "extensions", &ext_len);
	uint8_t pub[TT_PUB_MAX], out[512], bad[64];
	struct tt_secret *priv = NULL;
	struct tt_key *signer = NULL, *verifier = NULL;
	struct tok_token t;
	size_t pub_len;
	char why[200] = "";

	cr_assert_eq(tt->import(sk, sk_len, &priv, why, sizeof(why)), 0,
		     "vector key import: %s", why);
	cr_assert_eq(tt->check(priv->p, priv->len, why, sizeof(why)), 0);
	cr_assert_eq(tt->public_form(priv->p, priv->len, pub, sizeof(pub),
				     &pub_len), 0);
	cr_assert_eq(pub_len, pk_len);
	assert_bytes(pub, pk, pk_len, "public form (pkS)");
	cr_assert_eq(tt->public_check(pk, pk_len), 0);

	/* issuer: ExtendedTokenRequest -> TokenResponse, byte for byte */
	cr_assert_eq(tt_signer_new(tt, priv, 0, &signer), 0);
	cr_assert_eq(tt_issue(signer, req, req_len, out, sizeof(out),
			      &out_len), 0);
	cr_assert_eq(out_len, resp_len);
	assert_bytes(out, resp, resp_len, "token_response");
	/* again: a derived-key cache hit gives the same answer */
	cr_assert_eq(tt_issue(signer, req, req_len, out, sizeof(out),
			      &out_len), 0);
	assert_bytes(out, resp, resp_len, "token_response (cached)");

	/* origin: the token verifies with its Extensions and only them */
	cr_assert_eq(tok_token_decode(tok, tok_len, &t), 0);
	cr_assert_eq(t.token_type, 0xDA7A);
	cr_assert_eq(tt_verifier_new(tt, pk, pk_len, NULL, &verifier), 0);
	cr_expect_eq(tt_verify(verifier, t.input, TOK_INPUT_LEN,
			       t.authenticator, t.authenticator_len, ext,
			       ext_len), 0);
	cr_expect_eq(tt_verify(verifier, t.input, TOK_INPUT_LEN,
			       t.authenticator, t.authenticator_len, NULL, 0),
		     PP_ERR_VERIFY, "no Extensions: does not verify");
	cr_expect_eq(tt_verify(verifier, t.input, TOK_INPUT_LEN,
			       t.authenticator, t.authenticator_len, ext + 2,
			       ext_len - 2), PP_ERR_VERIFY,
		     "info is the Extensions with its length");
	memcpy(bad, ext, ext_len);
	bad[ext_len - 1] ^= 1;
	cr_expect_eq(tt_verify(verifier, t.input, TOK_INPUT_LEN,
			       t.authenticator, t.authenticator_len, bad,
			       ext_len), PP_ERR_VERIFY, "altered Extensions");
	memcpy(bad, ext, ext_len);
	cr_expect_eq(tt_verify(verifier, t.input, TOK_INPUT_LEN,
			       t.authenticator, t.authenticator_len, bad, 0),
		     PP_ERR_VERIFY, "empty info");

	tt_key_free(signer);
	tt_key_free(verifier);
	tt_secret_free(priv);
	free(sk);
	free(pk);
	free(req);
	free(resp);
	free(tok);
	free(ext);
	json_decref(vecs);
}

Test(tt_pbrsa, import_and_check_refuse_a_key_without_safe_primes)
{
	const struct tt_ops *tt = ops();
	const struct tt_ops *t2 = tt_find(TOK_TYPE_BLIND_RSA);
	struct tt_secret *priv = NULL;
	size_t len;
	uint8_t *pem = data_file(UNSAFE_KEY, &len);
	char why[200] = "";
	struct tt_key *signer = NULL;

	cr_assert_eq(tt->import(pem, len, &priv, why, sizeof(why)), PP_ERR_KEY);
	cr_expect(priv == NULL);
	cr_expect(strstr(why, "safe primes") != NULL, "why: %s", why);
	/* the same key as a type-2 private form: check and signer refuse it */
	cr_assert_eq(t2->import(pem, len, &priv, why, sizeof(why)), 0);
	why[0] = '\0';
	cr_expect_eq(tt->check(priv->p, priv->len, why, sizeof(why)),
		     PP_ERR_KEY);
	cr_expect(strstr(why, "safe primes") != NULL, "why: %s", why);
	cr_expect_eq(tt_signer_new(tt, priv, 0, &signer), PP_ERR_KEY);
	cr_expect(signer == NULL);
	tt_secret_free(priv);
	cr_expect_eq(tt->import((const uint8_t *)"nonsense", 8, &priv, why,
				sizeof(why)), PP_ERR_CORRUPT);
	free(pem);
}

/* An ExtendedTokenRequest for the fixture key with these bytes as its
 * Extensions, written by hand (the encoder refuses bad ones). */
static size_t make_request(const struct fixture *f, const uint8_t *ext,
			   size_t ext_len, uint8_t *out, size_t cap)
{
	cr_assert(cap >= EXT_REQUEST_LEN + ext_len);
	out[0] = 0xDA;
	out[1] = 0x7A;
	out[2] = f->tid;
	memset(out + 3, 0x11, EXT_NK);   /* below any 2048-bit n */
	memcpy(out + EXT_REQUEST_LEN, ext, ext_len);
	return EXT_REQUEST_LEN + ext_len;
}

Test(tt_pbrsa, issue_refuses_requests_whose_extensions_do_not_decode)
{
	struct fixture f;
	uint8_t req[600], out[512];
	static const uint8_t good[] = { 0, 5, 0, 2, 0, 1, 7 };
	static const uint8_t unsorted[] = { 0, 10, 0, 2, 0, 1, 7, 0, 1, 0, 1, 7 };
	size_t len, out_len;

	fixture_open(&f);
	len = make_request(&f, good, sizeof(good), req, sizeof(req));
	cr_expect_eq(tt_issue(f.signer, req, len, out, sizeof(out), &out_len),
		     0);
	cr_expect_eq(out_len, 256);
	/* a TokenRequest without its Extensions */
	cr_expect_eq(tt_issue(f.signer, req, 259, out, sizeof(out), &out_len),
		     PP_ERR_TRUNCATED);
	cr_expect_eq(out_len, 0);
	/* a byte after them */
	req[len] = 0;
	cr_expect_eq(tt_issue(f.signer, req, len + 1, out, sizeof(out),
			      &out_len), PP_ERR_TRAILING);
	len = make_request(&f, unsorted, sizeof(unsorted), req, sizeof(req));
	cr_expect_eq(tt_issue(f.signer, req, len, out, sizeof(out), &out_len),
		     PP_ERR_CORRUPT);
	/* the blinded message must be below n */
	len = make_request(&f, good, sizeof(good), req, sizeof(req));
	memset(req + 3, 0xff, EXT_NK);
	cr_expect_eq(tt_issue(f.signer, req, len, out, sizeof(out), &out_len),
		     PP_ERR_MSG_RANGE);
	fixture_close(&f);
}

/* The serialized Extensions holding one expiration. */
static size_t expiration_ext(uint64_t precision, uint64_t ts, uint8_t *out)
{
	int i;

	out[0] = 0;
	out[1] = 4 + EXT_EXPIRATION_LEN;
	out[2] = 0;
	out[3] = EXT_TYPE_EXPIRATION;
	out[4] = 0;
	out[5] = EXT_EXPIRATION_LEN;
	for (i = 0; i < 8; i++) {
		out[6 + i] = (uint8_t)(precision >> (56 - 8 * i));
		out[14 + i] = (uint8_t)(ts >> (56 - 8 * i));
	}
	return 6 + EXT_EXPIRATION_LEN;
}

#define NOW ((int64_t)1800001234)   /* 2027-01-15, not on a boundary */

Test(tt_pbrsa, policy_accepts_and_refuses_as_its_table_says)
{
	struct ext_policy p;
	const int64_t now = NOW;
	const uint64_t hour = 3600, day = 86400;
	const uint64_t next_hour = ((uint64_t)now / hour + 1) * hour;
	const uint64_t next_day = ((uint64_t)now / day + 1) * day;
	struct {
		const char *what;
		uint64_t precision, ts;
		enum extp_verdict want;
	} exp_cases[] = {
		{ "next hour", hour, next_hour, EXTP_OK },
		{ "next day", day, next_day, EXTP_OK },
		{ "in 7 days", day, next_day + 6 * day, EXTP_OK },
		{ "in 8 days", day, next_day + 7 * day, EXTP_EXPIRY_RANGE },
		{ "an hour ago", hour, next_hour - 2 * hour, EXTP_EXPIRY_RANGE },
		{ "precision 60", 60, next_hour, EXTP_NOT_ALLOWED },
		{ "not rounded", hour, next_hour + 1, EXTP_INVALID },
		{ "precision 0", 0, next_hour, EXTP_INVALID },
	};
	static const struct {
		const char *what;
		uint8_t bytes[32];
		size_t len;
		enum extp_verdict want;
	} raw_cases[] = {
		{ "empty Extensions", { 0, 0 }, 2, EXTP_OK },
		{ "nothing at all", { 0 }, 0, EXTP_INVALID },
		{ "one byte", { 0 }, 1, EXTP_INVALID },
		{ "list longer than the bytes", { 0, 9, 0, 1, 0, 0 }, 6,
		  EXTP_INVALID },
		{ "entry overruns the list", { 0, 4, 0, 1, 0, 5 }, 6,
		  EXTP_INVALID },
		{ "trailing byte", { 0, 0, 0 }, 3, EXTP_INVALID },
		{ "type 2 not allowed", { 0, 5, 0, 2, 0, 1, 7 }, 7,
		  EXTP_NOT_ALLOWED },
		{ "expiration of 3 bytes", { 0, 7, 0, 1, 0, 3, 1, 2, 3 }, 9,
		  EXTP_INVALID },
		{ "unsorted", { 0, 10, 0, 2, 0, 1, 7, 0, 1, 0, 1, 7 }, 12,
		  EXTP_INVALID },
		{ "repeated", { 0, 10, 0, 2, 0, 1, 7, 0, 2, 0, 1, 7 }, 12,
		  EXTP_INVALID },
	};
	uint8_t ext[64];
	size_t i, len;

	extp_default(&p);
	for (i = 0; i < sizeof(exp_cases) / sizeof(exp_cases[0]); i++) {
		len = expiration_ext(exp_cases[i].precision, exp_cases[i].ts,
				     ext);
		cr_expect_eq(extp_check(&p, ext, len, now), exp_cases[i].want,
			     "%s: got %s", exp_cases[i].what,
			     extp_verdict_name(extp_check(&p, ext, len, now)));
	}
	for (i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++)
		cr_expect_eq(extp_check(&p, raw_cases[i].bytes, raw_cases[i].len,
					now), raw_cases[i].want, "%s: got %s",
			     raw_cases[i].what,
			     extp_verdict_name(extp_check(&p, raw_cases[i].bytes,
							  raw_cases[i].len,
							  now)));
	/* an expiry exactly now has passed */
	len = expiration_ext(1, (uint64_t)now, ext);
	cr_assert_eq(extp_parse("1", "1", 60, &p, NULL, 0), 0);
	cr_expect_eq(extp_check(&p, ext, len, now), EXTP_EXPIRY_RANGE);
	len = expiration_ext(1, (uint64_t)now + 60, ext);
	cr_expect_eq(extp_check(&p, ext, len, now), EXTP_OK);
	len = expiration_ext(1, (uint64_t)now + 61, ext);
	cr_expect_eq(extp_check(&p, ext, len, now), EXTP_EXPIRY_RANGE);
	/* a policy that allows other types: unsorted still refused */
	cr_assert_eq(extp_parse("1, 2", "3600", 3600, &p, NULL, 0), 0);
	cr_expect_eq(extp_check(&p, raw_cases[6].bytes, raw_cases[6].len, now),
		     EXTP_OK);
	cr_expect_eq(extp_check(&p, raw_cases[8].bytes, raw_cases[8].len, now),
		     EXTP_INVALID);
	/* no extension at all allowed: only an empty list passes */
	cr_assert_eq(extp_parse("", "3600", 3600, &p, NULL, 0), 0);
	cr_expect_eq(extp_check(&p, raw_cases[0].bytes, 2, now), EXTP_OK);
	len = expiration_ext(hour, next_hour, ext);
	cr_expect_eq(extp_check(&p, ext, len, now), EXTP_NOT_ALLOWED);
	cr_expect_eq(extp_check(NULL, ext, len, now), EXTP_INVALID);
}

Test(tt_pbrsa, policy_settings_parse_or_say_what_is_wrong)
{
	static const struct {
		const char *types, *precisions;
		long max_future;
		int ok;
		const char *says;
	} cases[] = {
		{ "0x0001", "3600,86400", 604800, 1, NULL },
		{ "1,2,0xffff", "60", 1, 1, NULL },
		{ "", "", 10, 1, NULL },
		{ "1", "", 10, 0, "ext-expiry-precisions" },
		{ "0x10000", "60", 10, 0, "ext-allowed-types" },
		{ "-1", "60", 10, 0, "ext-allowed-types" },
		{ "one", "60", 10, 0, "ext-allowed-types" },
		{ "1", "0", 10, 0, "ext-expiry-precisions" },
		{ "1", "60x", 10, 0, "ext-expiry-precisions" },
		{ "1", "60", 0, 0, "ext-expiry-max-future" },
		{ "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "60", 10, 0,
		  "at most" },
	};
	struct ext_policy p;
	char err[200];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		err[0] = '\0';
		rc = extp_parse(cases[i].types, cases[i].precisions,
				cases[i].max_future, &p, err, sizeof(err));
		if (cases[i].ok) {
			cr_expect_eq(rc, 0, "'%s' '%s': %s", cases[i].types,
				     cases[i].precisions, err);
		} else {
			cr_expect_eq(rc, PP_ERR_CONFIG, "'%s' '%s' accepted",
				     cases[i].types, cases[i].precisions);
			cr_expect(strstr(err, cases[i].says) != NULL,
				  "'%s' '%s': %s", cases[i].types,
				  cases[i].precisions, err);
			cr_expect_eq(p.n_types, 0);
		}
	}
	cr_expect_str_eq(extp_verdict_name(EXTP_INVALID), "invalid_extensions");
	cr_expect_str_eq(extp_verdict_name(EXTP_NOT_ALLOWED),
			 "extension_not_allowed");
	cr_expect_str_eq(extp_verdict_name(EXTP_EXPIRY_RANGE),
			 "expiry_out_of_range");
}

/* The fixture key signs a fresh request; the unblinded token verifies with
 * its Extensions through the table, not with others. */
Test(tt_pbrsa, fixture_key_tokens_verify_only_with_their_extensions)
{
	struct fixture f;
	uint8_t ext[64], other[64], req[600], out[512], input[TOK_INPUT_LEN];
	uint8_t nonce[32], dg[32], id[32], blinded[256], inv[256], sig[256];
	size_t ext_len, other_len, len, out_len;
	EVP_PKEY *pk = NULL;

	fixture_open(&f);
	ext_len = expiration_ext(3600, 1800003600, ext);
	other_len = expiration_ext(3600, 1800007200, other);
	memset(nonce, 7, sizeof(nonce));
	memset(dg, 9, sizeof(dg));
	tt_key_id(f.pub, f.pub_len, id);
	tok_token_input(0xDA7A, nonce, dg, id, input);
	cr_assert_eq(spki_decode(f.pub, f.pub_len, &pk), 0);
	cr_assert_eq(pbrsa_blind(pk, input, sizeof(input), ext, ext_len, NULL,
				 NULL, 0, blinded, inv, 256), 0);
	cr_assert_eq(ext_token_request_encode(f.tid, blinded, ext, ext_len, req,
					      sizeof(req), &len), 0);
	cr_assert_eq(tt_issue(f.signer, req, len, out, sizeof(out), &out_len),
		     0);
	cr_assert_eq(pbrsa_finalize(pk, input, sizeof(input), ext, ext_len, out,
				    inv, sig, sizeof(sig)), 0);
	cr_expect_eq(tt_verify(f.verifier, input, sizeof(input), sig, 256, ext,
			       ext_len), 0);
	cr_expect_eq(tt_verify(f.verifier, input, sizeof(input), sig, 256,
			       other, other_len), PP_ERR_VERIFY);
	cr_expect_eq(tt_verify(f.verifier, input, sizeof(input), sig, 256, NULL,
			       0), PP_ERR_VERIFY);
	/* a type-2 verifier of the same public key refuses any info */
	{
		struct tt_key *v2 = NULL;

		cr_assert_eq(tt_verifier_new(tt_find(TOK_TYPE_BLIND_RSA), f.pub,
					     f.pub_len, NULL, &v2), 0);
		cr_expect_eq(tt_verify(v2, input, sizeof(input), sig, 256, ext,
				       ext_len), PP_ERR_VERIFY);
		tt_key_free(v2);
	}
	EVP_PKEY_free(pk);
	fixture_close(&f);
}

/* POST /redeem's "extensions" member: base64url, bounded, told apart from
 * its absence. */
Test(tt_pbrsa, redeem_body_reads_extensions)
{
	static const struct {
		const char *body;
		int ok, has;
		size_t len;
	} cases[] = {
		{ "{\"token\":\"QUJD\"}", 1, 0, 0 },
		{ "{\"token\":\"QUJD\",\"extensions\":\"AAA\"}", 1, 1, 2 },
		{ "{\"token\":\"QUJD\",\"extensions\":\"AAA=\"}", 1, 1, 2 },
		{ "{\"extensions\":\"\",\"token\":\"QUJD\"}", 1, 1, 0 },
		{ "{\"token\":\"QUJD\",\"extensions\":\"A+A=\"}", 0, 0, 0 },
		{ "{\"token\":\"QUJD\",\"extensions\":null}", 0, 0, 0 },
		{ "{\"token\":\"QUJD\",\"extensions\":[]}", 0, 0, 0 },
		{ "{\"token\":\"QUJD\",\"extensions\":\"AAA\",\"extensions\":\"AAA\"}",
		  0, 0, 0 },
	};
	struct rdm_input in;
	char *big;
	size_t i, n = 4 * (REDEEM_MAX_EXTENSIONS / 3 + 2);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = rdm_body_parse((const uint8_t *)cases[i].body,
						 strlen(cases[i].body), &in);

		cr_expect_eq(err == NULL, cases[i].ok, "%s: %s", cases[i].body,
			     err ? err : "ok");
		cr_expect_eq(in.has_extensions, cases[i].has, "%s",
			     cases[i].body);
		cr_expect_eq(in.extensions_len, cases[i].len, "%s",
			     cases[i].body);
	}
	/* past the cap: refused, not truncated */
	big = malloc(n + 64);
	cr_assert(big != NULL);
	i = (size_t)snprintf(big, 64, "{\"token\":\"QUJD\",\"extensions\":\"");
	memset(big + i, 'A', n);
	memcpy(big + i + n, "\"}", 3);
	cr_expect(rdm_body_parse((const uint8_t *)big, strlen(big), &in) != NULL);
	cr_expect_eq(in.has_extensions, 0);
	free(big);
}
