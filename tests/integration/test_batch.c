/* Batched issuance over real HTTP (draft-ietf-privacypass-batched-tokens-07):
 * generic batches of type 0x0002 at every status (200, 206, 400, 413, 415,
 * 422), the max-batch limit and its body cap, per-key metrics, and amortized
 * batches of types 0x0005 and 0x0001 whose proofs verify and whose tokens
 * redeem once. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/tu.h"
#include "crypto/b64.h"
#include "crypto/batch.h"
#include "crypto/grp.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "crypto/varint.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"
#include "th.h"

#define CT_GENERIC "Content-Type: application/private-token-generic-batch-request"
#define CT_AMORTIZED "Content-Type: application/private-token-amortized-batch-request"
#define N_MAX 8

static struct th_server srv;

static void stop(void)
{
	int st = srv.pid > 0 ? th_server_stop(&srv) : 0;

	th_dir_cleanup(&srv);
	cr_assert_eq(st, 0, "server did not exit 0 on SIGTERM (status %d)", st);
	tu_leak_check();
}

static void start_default(void)
{
	th_dir_init(&srv);
	th_server_start(&srv, NULL, NULL);
}

TestSuite(batch, .fini = stop, .timeout = 90);

static void expect_error(const struct th_resp *r, long status, const char *code)
{
	json_error_t err;
	json_t *j;

	cr_assert_eq(r->status, status, "status %ld, want %ld (body %.*s)", r->status,
		     status, (int)r->len, r->body ? (const char *)r->body : "");
	j = json_loadb((const char *)r->body, r->len, 0, &err);
	cr_assert(j, "body is not JSON: %s", err.text);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), code);
	json_decref(j);
}

static void post(const char *ct, const void *body, size_t len, struct th_resp *r)
{
	const char *hdr[] = { ct, NULL };

	cr_assert_eq(th_http(&srv, "POST", "/token-request", hdr, body, len, r), 0);
}

/* n type-2 clients and their requests as one generic batch; bad marks the
 * requests whose truncated key id is changed to one no key has. */
static size_t make_generic(struct th_client *c, size_t n, const int *bad,
			   uint8_t *out, size_t cap)
{
	const uint8_t *reqs[N_MAX];
	size_t lens[N_MAX], len = 0, i;

	for (i = 0; i < n; i++) {
		th_client_init(&c[i], &srv);
		th_client_request(&c[i]);
		if (bad && bad[i])
			c[i].request[2] ^= 0x5a;
		reqs[i] = c[i].request;
		lens[i] = sizeof(c[i].request);
	}
	cr_assert_eq(gbatch_request_encode(reqs, lens, n, out, cap, &len), 0);
	return len;
}

Test(batch, generic_all_issued_answers_200_and_every_token_verifies,
     .init = start_default)
{
	struct th_client c[3];
	struct gbatch_response_item it[3];
	struct th_resp r;
	uint8_t body[1024];
	char ct[128];
	size_t len, i;

	len = make_generic(c, 3, NULL, body, sizeof(body));
	post(CT_GENERIC, body, len, &r);
	cr_assert_eq(r.status, 200, "status %ld", r.status);
	cr_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)),
			 "application/private-token-generic-batch-response");
	cr_assert_eq(gbatch_response_decode(r.body, r.len, it, 3), 0);
	for (i = 0; i < 3; i++) {
		cr_assert(it[i].present);
		cr_assert_eq(it[i].token_type, 2);
		cr_assert_eq(th_client_finalize(&c[i], it[i].response,
						it[i].response_len, NULL), 0);
	}
	th_resp_free(&r);
	/* counted per key, as single requests are */
	{
		char want[160], hex[65];

		for (i = 0; i < 32; i++)
			sprintf(hex + 2 * i, "%02x", c[0].key_id[i]);
		snprintf(want, sizeof(want),
			 "ppissuer_tokens_issued_total{key_id=\"%s\"}", hex);
		cr_assert_eq(th_metric_value(&srv, want), 3.0);
	}
	for (i = 0; i < 3; i++)
		th_client_free(&c[i]);
}

Test(batch, generic_some_issued_answers_206_with_0x00_in_place,
     .init = start_default)
{
	static const int bad[3] = { 0, 1, 0 };
	struct th_client c[3];
	struct gbatch_response_item it[3];
	struct th_resp r;
	uint8_t body[1024];
	size_t len, i;

	len = make_generic(c, 3, bad, body, sizeof(body));
	post(CT_GENERIC, body, len, &r);
	cr_assert_eq(r.status, 206, "status %ld", r.status);
	cr_assert_eq(gbatch_response_decode(r.body, r.len, it, 3), 0);
	cr_assert(it[0].present && !it[1].present && it[2].present);
	cr_assert_eq(th_client_finalize(&c[0], it[0].response, it[0].response_len, NULL), 0);
	cr_assert_eq(th_client_finalize(&c[2], it[2].response, it[2].response_len, NULL), 0);
	for (i = 0; i < 3; i++)
		th_client_free(&c[i]);
	th_resp_free(&r);
}

Test(batch, generic_none_issued_answers_400, .init = start_default)
{
	static const int bad[2] = { 1, 1 };
	struct th_client c[2];
	struct th_resp r;
	uint8_t body[1024];
	size_t len;

	len = make_generic(c, 2, bad, body, sizeof(body));
	post(CT_GENERIC, body, len, &r);
	expect_error(&r, 400, "no_tokens_issued");
	th_resp_free(&r);
	th_client_free(&c[0]);
	th_client_free(&c[1]);
}

Test(batch, registered_type_not_served_is_not_issued, .init = start_default)
{
	/* a type-5 request (registered, 35 bytes) beside a type-2 one on an
	 * issuer that serves type 2 only */
	struct th_client c;
	struct gbatch_response_item it[2];
	struct th_resp r;
	uint8_t t5[35] = { 0x00, 0x05, 0x01 }, body[1024];
	const uint8_t *reqs[2];
	size_t lens[2] = { 259, sizeof(t5) }, len;

	th_client_init(&c, &srv);
	th_client_request(&c);
	reqs[0] = c.request;
	reqs[1] = t5;
	cr_assert_eq(gbatch_request_encode(reqs, lens, 2, body, sizeof(body), &len), 0);
	post(CT_GENERIC, body, len, &r);
	cr_assert_eq(r.status, 206, "status %ld", r.status);
	cr_assert_eq(gbatch_response_decode(r.body, r.len, it, 2), 0);
	cr_assert(it[0].present && !it[1].present);
	th_resp_free(&r);
	th_client_free(&c);
}

Test(batch, wrong_media_type_answers_415, .init = start_default)
{
	struct th_client c[1];
	struct th_resp r;
	uint8_t body[1024];
	size_t len;

	len = make_generic(c, 1, NULL, body, sizeof(body));
	post("Content-Type: application/private-token-batch-request", body, len, &r);
	expect_error(&r, 415, "unsupported_media_type");
	th_resp_free(&r);
	/* a batch body sent as a single TokenRequest: its prefix is read as
	 * a token type (0x4103), which is none */
	post("Content-Type: application/private-token-request", body, len, &r);
	expect_error(&r, 422, "unsupported_token_type");
	th_resp_free(&r);
	th_client_free(&c[0]);
}

Test(batch, malformed_batches_answer_422, .init = start_default)
{
	struct th_client c[2];
	struct th_resp r;
	uint8_t body[1024], bad[1100];
	size_t len;

	len = make_generic(c, 2, NULL, body, sizeof(body));
	cr_assert_eq(len, 2 + 518);
	/* non-minimal prefix: 518 on 4 bytes */
	bad[0] = 0x80; bad[1] = 0; bad[2] = 0x02; bad[3] = 0x06;
	memcpy(bad + 4, body + 2, 518);
	post(CT_GENERIC, bad, 4 + 518, &r);
	expect_error(&r, 422, "invalid_batch");
	th_resp_free(&r);
	/* a length past the body */
	post(CT_GENERIC, body, len - 1, &r);
	expect_error(&r, 422, "invalid_batch");
	th_resp_free(&r);
	/* trailing bytes after the vector */
	memcpy(bad, body, len);
	bad[len] = 0;
	post(CT_GENERIC, bad, len + 1, &r);
	expect_error(&r, 422, "invalid_batch");
	th_resp_free(&r);
	/* an inner request one byte short: the prefix covers 517 bytes */
	bad[0] = 0x42; bad[1] = 0x05;
	memcpy(bad + 2, body + 2, 517);
	post(CT_GENERIC, bad, 519, &r);
	expect_error(&r, 422, "invalid_batch");
	th_resp_free(&r);
	/* empty batch, and a truncated prefix */
	bad[0] = 0x00;
	post(CT_GENERIC, bad, 1, &r);
	expect_error(&r, 422, "invalid_batch");
	th_resp_free(&r);
	bad[0] = 0x42;
	post(CT_GENERIC, bad, 1, &r);
	expect_error(&r, 422, "invalid_batch");
	th_resp_free(&r);
	/* an unregistered (greased) type: the rest cannot be delimited */
	memcpy(bad, body, len);
	bad[2 + 259] = 0x0a; bad[2 + 260] = 0x0a;
	post(CT_GENERIC, bad, len, &r);
	expect_error(&r, 422, "unsupported_token_type");
	th_resp_free(&r);
	th_client_free(&c[0]);
	th_client_free(&c[1]);
}

static void start_max3(void)
{
	static const char *const args[] = { "--max-batch", "3",
					    "--max-amortized-batch", "3", NULL };

	th_dir_init(&srv);
	th_server_start(&srv, args, NULL);
}

Test(batch, past_max_batch_answers_422_and_past_its_body_cap_413,
     .init = start_max3)
{
	struct th_client c[4];
	struct th_resp r;
	uint8_t body[2048];
	size_t len, i;

	len = make_generic(c, 3, NULL, body, sizeof(body));
	post(CT_GENERIC, body, len, &r);
	cr_assert_eq(r.status, 200, "status %ld", r.status);
	th_resp_free(&r);
	for (i = 0; i < 3; i++)
		th_client_free(&c[i]);
	/* 4 type-5 requests fit in the cap of 3 type-2 ones: counted */
	{
		uint8_t t5[4][35];
		const uint8_t *reqs[4];
		size_t lens[4];

		for (i = 0; i < 4; i++) {
			memset(t5[i], 0, sizeof(t5[i]));
			t5[i][1] = 5;
			reqs[i] = t5[i];
			lens[i] = sizeof(t5[i]);
		}
		cr_assert_eq(gbatch_request_encode(reqs, lens, 4, body, sizeof(body),
						   &len), 0);
		post(CT_GENERIC, body, len, &r);
		expect_error(&r, 422, "batch_too_large");
		th_resp_free(&r);
	}
	/* 4 amortized elements: counted before any key is looked up */
	{
		uint8_t el[4 * 32];

		memset(el, 0, sizeof(el));
		cr_assert_eq(vtok_batch_request_encode(5, 0, el, 4, body,
						       sizeof(body), &len), 0);
		post(CT_AMORTIZED, body, len, &r);
		expect_error(&r, 422, "batch_too_large");
		th_resp_free(&r);
	}
	/* 4 type-2 requests are past the body cap: refused before reading */
	len = make_generic(c, 4, NULL, body, sizeof(body));
	post(CT_GENERIC, body, len, &r);
	expect_error(&r, 413, "payload_too_large");
	th_resp_free(&r);
	for (i = 0; i < 4; i++)
		th_client_free(&c[i]);
}

/* ---- amortized batches (types 0x0005 and 0x0001) ---- */

static void start_voprf(void)
{
	static const char *const args[] = { "--token-types", "2,5,1", NULL };

	th_dir_init(&srv);
	th_server_start(&srv, args, NULL);
}

/* The directory's first key of type, decoded into pub (its public form). */
static size_t dir_key(uint16_t type, uint8_t *pub, size_t cap)
{
	struct th_resp r;
	json_error_t jerr;
	json_t *root, *keys, *k;
	size_t i, len = 0;
	const char *b64;

	cr_assert_eq(th_http(&srv, "GET", "/.well-known/private-token-issuer-directory",
			     NULL, NULL, 0, &r), 0);
	root = json_loadb((const char *)r.body, r.len, 0, &jerr);
	cr_assert(root);
	keys = json_object_get(root, "token-keys");
	json_array_foreach(keys, i, k) {
		if (json_integer_value(json_object_get(k, "token-type")) != type)
			continue;
		b64 = json_string_value(json_object_get(k, "token-key"));
		cr_assert_eq(b64_decode(b64, strlen(b64), pub, cap, &len), 0);
		break;
	}
	json_decref(root);
	th_resp_free(&r);
	cr_assert(len > 0, "no key of type %u in the directory", type);
	return len;
}

static void amortized_round(uint16_t type, size_t n)
{
	const struct vtok_sizes *vs = vtok_sizes(type);
	const struct grp_impl *g = vtok_group(type);
	static const uint8_t challenge[] = "\x00\x05\x00\x09localhost\x00\x00\x00";
	uint8_t pub[256], key_id[32], digest[32], nonce[32];
	uint8_t *inputs, *blinds, *blinded, *body, *outs, token[256];
	const uint8_t *in_ptr[100];
	size_t in_lens[100], pub_len, len, i, vi;
	struct vtok_response resp;
	struct th_resp r;
	char b64[512], text[512];
	uint8_t ch[sizeof(challenge) - 1];

	cr_assert(vs && g && n <= 100);
	pub_len = dir_key(type, pub, sizeof(pub));
	tt_key_id(pub, pub_len, key_id);
	memcpy(ch, challenge, sizeof(ch));
	ch[1] = (uint8_t)type;
	SHA256(ch, sizeof(ch), digest);
	inputs = malloc(n * 98);
	blinds = malloc(n * vs->ns);
	blinded = malloc(n * vs->ne);
	body = malloc(16 + n * vs->ne);
	outs = malloc(n * vs->nk);
	cr_assert(inputs && blinds && blinded && body && outs);
	for (i = 0; i < n; i++) {
		cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
		tok_token_input(type, nonce, digest, key_id, inputs + i * 98);
		in_ptr[i] = inputs + i * 98;
		in_lens[i] = 98;
		cr_assert_eq(voprf_blind(g, in_ptr[i], 98, NULL, blinds + i * vs->ns,
					 blinded + i * vs->ne), 0);
	}
	cr_assert_eq(vtok_batch_request_encode(type, key_id[31], blinded, n, body,
					       16 + n * vs->ne, &len), 0);
	post(CT_AMORTIZED, body, len, &r);
	cr_assert_eq(r.status, 200, "type %u n %zu: status %ld (%.*s)", type, n,
		     r.status, (int)r.len, (const char *)r.body);
	cr_assert(th_header(&r, "Content-Type", text, sizeof(text)));
	cr_assert_str_eq(text, "application/private-token-amortized-batch-response");
	cr_assert_eq(vtok_batch_response_decode(type, r.body, r.len, n, &resp), 0);
	cr_assert_eq(resp.count, n);
	cr_assert_eq(voprf_verify_proof(g, pub, pub_len, blinded, resp.evaluated, n,
					resp.proof, 2 * vs->ns), 0);
	cr_assert_eq(voprf_finalize(g, pub, pub_len, n, in_ptr, in_lens, blinds,
				    blinded, resp.evaluated, resp.proof,
				    2 * vs->ns, outs, n * vs->nk), 0);
	th_resp_free(&r);
	for (i = 0; i < n; i++) {
		memcpy(token, inputs + i * 98, 98);
		memcpy(token + 98, outs + i * vs->nk, vs->nk);
		cr_assert_eq(b64_encode(token, 98 + vs->nk, b64, sizeof(b64), &vi), 0);
		cr_assert_eq(th_redeem(&srv, b64, text, sizeof(text)), 200,
			     "type %u token %zu: %s", type, i, text);
		cr_assert_eq(th_redeem(&srv, b64, text, sizeof(text)), 409);
	}
	free(inputs);
	free(blinds);
	free(blinded);
	free(body);
	free(outs);
}

Test(batch, amortized_batches_of_1_10_100_verify_and_redeem_once,
     .init = start_voprf)
{
	static const size_t ns[] = { 1, 10, 100 };
	size_t i;

	for (i = 0; i < 3; i++) {
		amortized_round(0x0005, ns[i]);
		amortized_round(0x0001, ns[i]);
	}
}

Test(batch, amortized_refusals_answer_422_and_415, .init = start_voprf)
{
	uint8_t pub[256], key_id[32], body[256], el[49];
	size_t len, pub_len;
	struct th_resp r;

	pub_len = dir_key(0x0005, pub, sizeof(pub));
	tt_key_id(pub, pub_len, key_id);
	memset(el, 0xff, sizeof(el)); /* not a canonical ristretto255 encoding */
	cr_assert_eq(vtok_batch_request_encode(0x0005, key_id[31], el, 1, body,
					       sizeof(body), &len), 0);
	post(CT_AMORTIZED, body, len, &r);
	expect_error(&r, 422, "invalid_blinded_element");
	th_resp_free(&r);
	body[2] ^= 0x5a;                       /* unknown key */
	post(CT_AMORTIZED, body, len, &r);
	expect_error(&r, 422, "unknown_token_key");
	th_resp_free(&r);
	body[2] ^= 0x5a;
	body[0] = 0; body[1] = 2;              /* type 2 has no amortized batches */
	post(CT_AMORTIZED, body, len, &r);
	expect_error(&r, 422, "unsupported_token_type");
	th_resp_free(&r);
	body[1] = 5;
	post(CT_AMORTIZED, body, len - 1, &r); /* truncated */
	expect_error(&r, 422, "invalid_batch");
	th_resp_free(&r);
	post("Content-Type: application/octet-stream", body, len, &r);
	expect_error(&r, 415, "unsupported_media_type");
	th_resp_free(&r);
}

/* Limits count tokens, not requests: a batch of n tokens uses n of an
 * attester's quota, is refused whole (429, nothing signed) when fewer are
 * left, and a refused batch uses none. */
static void post_as(const char *secret, const void *body, size_t len,
		    struct th_resp *r)
{
	char auth[128];
	const char *hdr[] = { CT_GENERIC, auth, NULL };

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
	cr_assert_eq(th_http(&srv, "POST", "/token-request", hdr, body, len, r), 0);
}

Test(batch, tokens_of_a_batch_count_against_the_quota, .init = start_default)
{
	struct th_client c[3];
	struct th_resp r;
	uint8_t body[1024];
	char *secret;
	size_t len, i;

	secret = th_clients_add(&srv, "batcher", "attester",
				(const char *[]){ "--quota", "5/day", NULL });
	/* the registry is reloaded within reload-interval */
	th_sleep_ms(2500);
	len = make_generic(c, 3, NULL, body, sizeof(body));
	post_as(secret, body, len, &r);
	cr_assert_eq(r.status, 200, "first batch of 3: %ld", r.status);
	th_resp_free(&r);
	for (i = 0; i < 3; i++)
		th_client_free(&c[i]);

	/* 2 left: a batch of 3 is refused whole */
	len = make_generic(c, 3, NULL, body, sizeof(body));
	post_as(secret, body, len, &r);
	expect_error(&r, 429, "quota_exceeded");
	th_resp_free(&r);
	for (i = 0; i < 3; i++)
		th_client_free(&c[i]);

	/* the refused batch used nothing: 2 still fit, then nothing */
	len = make_generic(c, 2, NULL, body, sizeof(body));
	post_as(secret, body, len, &r);
	cr_assert_eq(r.status, 200, "batch of the last 2: %ld", r.status);
	th_resp_free(&r);
	for (i = 0; i < 2; i++)
		th_client_free(&c[i]);
	len = make_generic(c, 1, NULL, body, sizeof(body));
	post_as(secret, body, len, &r);
	expect_error(&r, 429, "quota_exceeded");
	th_resp_free(&r);
	th_client_free(&c[0]);
	free(secret);
}
