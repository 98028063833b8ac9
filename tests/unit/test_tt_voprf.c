/* Token types 0x0005 and 0x0001 through their token-type table entries
 * (crypto/tt_voprf.c): the draft-07 type-5 and RFC 9578 type-1 vectors for
 * key forms, key ids, issue (evaluated elements byte for byte; proofs
 * checked by VerifyProof, since their randomness is not published) and the
 * verification of the vectors' tokens; the draft-07 amortized vectors
 * through issue_batch; and what the entries refuse. */
#include "base/pp_err.h"
#include "crypto/grp.h"
#include "crypto/token_types.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"
#include "tu.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The program calls sodium_init() at start; tt_secret_new needs it. */
static void tt_voprf_init(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(tt_voprf, .init = tt_voprf_init, .fini = tu_leak_check);

#define MAX_ITEMS 8
#define OUT_CAP 512
#define T5_FILE "draft-ietf-privacypass-batched-tokens-07-type5-voprf-ristretto255.json"
#define T1_FILE "rfc9578-type1-voprf-p384-vectors.json"
#define A5_FILE "draft-ietf-privacypass-batched-tokens-07-amortized-type5-voprf-ristretto255.json"
#define A1_FILE "draft-ietf-privacypass-batched-tokens-07-amortized-type1-voprf-p384.json"

/* The group orders, as each group serializes scalars. */
static const char r255_order[] =
	"edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
static const char p384_order[] =
	"ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
	"581a0db248b0a77aecec196accc52973";

struct suite {
	uint16_t type;
	const struct grp_impl *g;
	const char *order;
};

static const struct suite suites[] = {
	{ VTOK_TYPE_VOPRF_R255, &grp_ristretto255, r255_order },
	{ VTOK_TYPE_VOPRF_P384, &grp_p384, p384_order },
};

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len,
			 const char *label, const char *what)
{
	size_t i;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	cr_assert(i == len, "%s: %s differs at byte %zu of %zu", label, what,
		  i, len);
}

/* The entry's signer and verifier for a private form. */
static void keys_from(const struct tt_ops *tt, const uint8_t *sk,
		      size_t sk_len, struct tt_key **signer,
		      struct tt_key **verifier)
{
	struct tt_secret *priv = NULL;
	uint8_t pub[TT_PUB_MAX];
	size_t pub_len;

	cr_assert(tt_secret_new(sk, sk_len, &priv) == 0);
	cr_assert(tt->public_form(sk, sk_len, pub, sizeof(pub), &pub_len) == 0);
	cr_assert(tt_signer_new(tt, priv, 0, signer) == 0);
	cr_assert(tt_verifier_new(tt, pub, pub_len, priv, verifier) == 0);
	tt_secret_free(priv);
}

/* Key forms, key id and truncated id of a vector's skS and pkS. */
static void check_key_forms(const struct tt_ops *tt, const uint8_t *sk,
			    size_t sk_len, const uint8_t *pk, size_t pk_len,
			    uint8_t tid, const char *label)
{
	char why[200] = "", hex[2 * GRP_MAX_NS + 2];
	struct tt_secret *imp = NULL;
	uint8_t pub[TT_PUB_MAX], id[32];
	size_t pub_len, i;

	cr_assert(tt->check(sk, sk_len, why, sizeof(why)) == 0, "%s: %s",
		  label, why);
	cr_assert(tt->public_form(sk, sk_len, pub, sizeof(pub), &pub_len) == 0);
	cr_assert(pub_len == pk_len, "%s: public form length", label);
	assert_bytes(pub, pk, pk_len, label, "public form");
	cr_assert(tt->public_check(pk, pk_len) == 0, "%s", label);
	tt_key_id(pub, pub_len, id);
	cr_assert(tt_truncated_id(id) == tid, "%s: truncated key id", label);

	/* import: the raw scalar, and the same as hex with a newline */
	cr_assert(tt->import(sk, sk_len, &imp, why, sizeof(why)) == 0, "%s: %s",
		  label, why);
	cr_assert(imp->len == sk_len);
	assert_bytes(imp->p, sk, sk_len, label, "imported raw scalar");
	tt_secret_free(imp);
	for (i = 0; i < sk_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", sk[i]);
	hex[2 * sk_len] = '\n';
	cr_assert(tt->import((const uint8_t *)hex, 2 * sk_len + 1, &imp, why,
			     sizeof(why)) == 0, "%s: %s", label, why);
	assert_bytes(imp->p, sk, sk_len, label, "imported hex scalar");
	tt_secret_free(imp);
}

/* A token of the vectors: the authenticator verifies, a flipped bit or a
 * binding to anything else does not. */
static void check_token(struct tt_key *verifier, const struct tt_ops *tt,
			const uint8_t *tok, size_t tok_len, const char *label)
{
	uint8_t bad[VTOK_INPUT_LEN + VTOK_MAX_NK];

	cr_assert(tok_len == VTOK_INPUT_LEN + tt->nk, "%s: token size", label);
	cr_assert(tt_verify(verifier, tok, VTOK_INPUT_LEN, tok + VTOK_INPUT_LEN,
			    tt->nk, NULL, 0) == 0, "%s: token does not verify",
		  label);
	cr_assert(tt_verify(verifier, tok, VTOK_INPUT_LEN, tok + VTOK_INPUT_LEN,
			    tt->nk, tok, 1) == PP_ERR_VERIFY);
	cr_assert(tt_verify(verifier, tok, VTOK_INPUT_LEN, tok + VTOK_INPUT_LEN,
			    tt->nk - 1, NULL, 0) == PP_ERR_VERIFY);
	memcpy(bad, tok, tok_len);
	bad[tok_len - 1] ^= 1;
	cr_assert(tt_verify(verifier, bad, VTOK_INPUT_LEN, bad + VTOK_INPUT_LEN,
			    tt->nk, NULL, 0) == PP_ERR_VERIFY);
	memcpy(bad, tok, tok_len);
	bad[5] ^= 0x80;   /* the nonce */
	cr_assert(tt_verify(verifier, bad, VTOK_INPUT_LEN, bad + VTOK_INPUT_LEN,
			    tt->nk, NULL, 0) == PP_ERR_VERIFY);
}

static void single_vector(const struct suite *su, json_t *v, const char *label)
{
	const struct tt_ops *tt = tt_find(su->type);
	const struct grp_impl *g = su->g;
	uint8_t *sk, *pk, *req, *resp, *tok, out[OUT_CAP];
	size_t sk_len, pk_len, req_len, resp_len, tok_len, out_len;
	struct tt_key *signer = NULL, *verifier = NULL;

	cr_assert(tt != NULL, "type %u is not in the table", su->type);
	sk = tu_hex_field(v, "skS", &sk_len);
	pk = tu_hex_field(v, "pkS", &pk_len);
	req = tu_hex_field(v, "token_request", &req_len);
	resp = tu_hex_field(v, "token_response", &resp_len);
	tok = tu_hex_field(v, "token", &tok_len);
	cr_assert(req_len == tt->request_len && resp_len == tt->response_len,
		  "%s: entry sizes", label);
	check_key_forms(tt, sk, sk_len, pk, pk_len, req[2], label);
	keys_from(tt, sk, sk_len, &signer, &verifier);

	cr_assert(tt_issue(signer, req, req_len, out, sizeof(out), &out_len) ==
		  0, "%s: issue", label);
	cr_assert(out_len == tt->response_len);
	assert_bytes(out, resp, g->ne, label, "evaluated element");
	cr_assert(voprf_verify_proof(g, pk, pk_len, req + 3, out, 1,
				     out + g->ne, 2 * g->ns) == 0,
		  "%s: our proof does not verify", label);
	cr_assert(voprf_verify_proof(g, pk, pk_len, req + 3, resp, 1,
				     resp + g->ne, 2 * g->ns) == 0,
		  "%s: the vector's proof does not verify", label);
	/* the signer cannot verify and the verifier cannot sign */
	cr_assert(tt_issue(verifier, req, req_len, out, sizeof(out),
			   &out_len) == PP_ERR_ARG && out_len == 0);
	check_token(verifier, tt, tok, tok_len, label);

	tt_key_free(signer);
	tt_key_free(verifier);
	free(sk);
	free(pk);
	free(req);
	free(resp);
	free(tok);
}

static void amortized_vector(const struct suite *su, json_t *v,
			     const char *label)
{
	const struct tt_ops *tt = tt_find(su->type);
	const struct grp_impl *g = su->g;
	uint8_t *sk, *pk, *req, *resp, out[4096];
	size_t sk_len, pk_len, req_len, resp_len, out_len, i, n;
	struct tt_key *signer = NULL, *verifier = NULL;
	struct vtok_batch_request br;
	struct vtok_response ours, theirs;
	json_t *toks = json_object_get(v, "tokens");

	sk = tu_hex_field(v, "skS", &sk_len);
	pk = tu_hex_field(v, "pkS", &pk_len);
	req = tu_hex_field(v, "token_request", &req_len);
	resp = tu_hex_field(v, "token_response", &resp_len);
	keys_from(tt, sk, sk_len, &signer, &verifier);
	cr_assert(vtok_batch_request_decode(req, req_len, MAX_ITEMS, &br) == 0);
	n = br.count;
	cr_assert(n >= 1 && n == json_array_size(toks), "%s: count", label);

	cr_assert(tt_issue_batch(signer, req, req_len, MAX_ITEMS, out,
				 sizeof(out), &out_len) == 0, "%s: issue_batch",
		  label);
	cr_assert(out_len == resp_len, "%s: response length %zu, want %zu",
		  label, out_len, resp_len);
	cr_assert(vtok_batch_response_decode(su->type, out, out_len, MAX_ITEMS,
					     &ours) == 0);
	cr_assert(vtok_batch_response_decode(su->type, resp, resp_len,
					     MAX_ITEMS, &theirs) == 0);
	cr_assert(ours.count == n && theirs.count == n);
	/* the length prefix and every evaluated element, byte for byte */
	assert_bytes(out, resp, resp_len - 2 * g->ns, label,
		     "evaluated elements");
	cr_assert(voprf_verify_proof(g, pk, pk_len, br.blinded, ours.evaluated,
				     n, ours.proof, 2 * g->ns) == 0,
		  "%s: our batch proof does not verify", label);
	/* one proof for the whole batch: it does not cover a single item */
	if (n > 1)
		cr_assert(voprf_verify_proof(g, pk, pk_len, br.blinded,
					     ours.evaluated, 1, ours.proof,
					     2 * g->ns) == PP_ERR_VERIFY);
	/* a batch above the caller's bound is refused before any work */
	if (n > 1)
		cr_assert(tt_issue_batch(signer, req, req_len,
					 (unsigned)n - 1, out, sizeof(out),
					 &out_len) == PP_ERR_LENGTH &&
			  out_len == 0);
	cr_assert(tt_issue_batch(signer, req, req_len, MAX_ITEMS, out,
				 resp_len - 1, &out_len) == PP_ERR_BUFFER);
	for (i = 0; i < n; i++) {
		size_t tok_len;
		uint8_t *tok = tu_hex(json_string_value(json_array_get(toks, i)),
				      &tok_len);

		check_token(verifier, tt, tok, tok_len, label);
		free(tok);
	}
	tt_key_free(signer);
	tt_key_free(verifier);
	free(sk);
	free(pk);
	free(req);
	free(resp);
}

static void each_vector(const char *file, const struct suite *su,
			size_t expect, int amortized)
{
	json_t *all = tu_vectors(file);
	char label[200];
	size_t i;

	cr_assert(json_array_size(all) == expect, "%s: %zu vectors", file,
		  json_array_size(all));
	for (i = 0; i < json_array_size(all); i++) {
		snprintf(label, sizeof(label), "%s vector %zu", file, i + 1);
		if (amortized)
			amortized_vector(su, json_array_get(all, i), label);
		else
			single_vector(su, json_array_get(all, i), label);
	}
	json_decref(all);
}

Test(tt_voprf, type5_vectors_through_the_table)
{
	each_vector(T5_FILE, &suites[0], 10, 0);
}

Test(tt_voprf, type1_vectors_through_the_table)
{
	each_vector(T1_FILE, &suites[1], 5, 0);
}

Test(tt_voprf, type5_amortized_vectors_through_issue_batch)
{
	each_vector(A5_FILE, &suites[0], 10, 1);
}

Test(tt_voprf, type1_amortized_vectors_through_issue_batch)
{
	each_vector(A1_FILE, &suites[1], 10, 1);
}

Test(tt_voprf, entries_have_the_draft_and_rfc_sizes)
{
	const struct tt_ops *t5 = tt_find(5), *t1 = tt_find(1);

	cr_assert(t5 && t1);
	cr_assert(t5->request_len == 35 && t5->response_len == 96 &&
		  t5->nk == 64 && t5->private_verify && !t5->request_variable);
	cr_assert(t1->request_len == 52 && t1->response_len == 145 &&
		  t1->nk == 48 && t1->private_verify && !t1->request_variable);
	cr_assert(t5->issue_batch && t1->issue_batch);
	cr_assert(tt_parse("5") == t5 && tt_parse("0x0005") == t5 &&
		  tt_parse("voprf-ristretto255") == t5);
	cr_assert(tt_parse("1") == t1 && tt_parse("0x0001") == t1 &&
		  tt_parse("voprf-p384") == t1);
}

/* ---- keys ---- */

Test(tt_voprf, generated_keys_are_canonical_and_distinct)
{
	size_t s;

	for (s = 0; s < 2; s++) {
		const struct tt_ops *tt = tt_find(suites[s].type);
		struct tt_secret *a = NULL, *b = NULL;
		uint8_t pub[TT_PUB_MAX];
		size_t pub_len;
		char why[200];

		cr_assert(tt->generate(&a) == 0 && tt->generate(&b) == 0);
		cr_assert(a->len == suites[s].g->ns);
		cr_assert(tt->check(a->p, a->len, why, sizeof(why)) == 0);
		cr_assert(memcmp(a->p, b->p, a->len) != 0);
		cr_assert(tt->public_form(a->p, a->len, pub, sizeof(pub),
					  &pub_len) == 0);
		cr_assert(pub_len == suites[s].g->ne);
		cr_assert(tt->public_check(pub, pub_len) == 0);
		cr_assert(tt->public_form(a->p, a->len, pub, pub_len - 1,
					  &pub_len) == PP_ERR_BUFFER &&
			  pub_len == 0);
		tt_secret_free(a);
		tt_secret_free(b);
	}
}

/* Private forms that check and import refuse, per group. */
Test(tt_voprf, bad_secret_scalars_are_refused)
{
	size_t s;

	for (s = 0; s < 2; s++) {
		const struct tt_ops *tt = tt_find(suites[s].type);
		const size_t ns = suites[s].g->ns;
		uint8_t *order, zero[GRP_MAX_NS] = { 0 }, ff[GRP_MAX_NS];
		uint8_t pub[TT_PUB_MAX];
		struct tt_secret *out = NULL;
		char why[200], hex[2 * GRP_MAX_NS + 8];
		size_t order_len, pub_len;
		const struct { const uint8_t *p; size_t len; } bad[] = {
			{ zero, ns },   /* zero */
			{ NULL, ns },   /* the order itself (set below) */
			{ ff, ns },     /* far above the order */
			{ zero, ns - 1 },
			{ ff, ns + 1 },
		};
		size_t i;

		memset(ff, 0xff, sizeof(ff));
		order = tu_hex(suites[s].order, &order_len);
		cr_assert(order_len == ns);
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			const uint8_t *p = bad[i].p ? bad[i].p : order;

			why[0] = '\0';
			cr_assert(tt->check(p, bad[i].len, why, sizeof(why)) ==
				  PP_ERR_KEY, "%s: bad key %zu passes check",
				  tt->name, i);
			cr_assert(why[0] != '\0');
			cr_assert(tt->import(p, bad[i].len, &out, why,
					     sizeof(why)) != 0 && out == NULL,
				  "%s: bad key %zu imports", tt->name, i);
			cr_assert(tt->public_form(p, bad[i].len, pub,
						  sizeof(pub), &pub_len) != 0 &&
				  pub_len == 0);
		}
		/* the order as hex, hex with a bad digit, two newlines */
		cr_assert(strlen(suites[s].order) == 2 * ns);
		cr_assert(tt->import((const uint8_t *)suites[s].order, 2 * ns,
				     &out, why, sizeof(why)) == PP_ERR_KEY);
		for (i = 0; i < 2 * ns; i++)
			hex[i] = i % 2 ? '1' : '0';
		hex[7] = 'g';
		cr_assert(tt->import((const uint8_t *)hex, 2 * ns, &out, why,
				     sizeof(why)) == PP_ERR_KEY && out == NULL);
		hex[7] = '1';
		hex[2 * ns] = '\n';
		hex[2 * ns + 1] = '\n';
		cr_assert(tt->import((const uint8_t *)hex, 2 * ns + 2, &out, why,
				     sizeof(why)) == PP_ERR_KEY);
		cr_assert(tt->import((const uint8_t *)hex, 2 * ns + 1, &out, why,
				     sizeof(why)) == 0);
		tt_secret_free(out);
		free(order);
	}
}

Test(tt_voprf, verifier_refuses_a_public_form_of_another_key)
{
	size_t s;

	for (s = 0; s < 2; s++) {
		const struct tt_ops *tt = tt_find(suites[s].type);
		struct tt_secret *a = NULL, *b = NULL;
		struct tt_key *v = NULL;
		uint8_t pub[TT_PUB_MAX];
		size_t pub_len;

		cr_assert(tt->generate(&a) == 0 && tt->generate(&b) == 0);
		cr_assert(tt->public_form(b->p, b->len, pub, sizeof(pub),
					  &pub_len) == 0);
		cr_assert(tt_verifier_new(tt, pub, pub_len, a, &v) == PP_ERR_KEY
			  && v == NULL);
		/* private_verify: no verifier without the private key */
		cr_assert(tt_verifier_new(tt, pub, pub_len, NULL, &v) ==
			  PP_ERR_ARG && v == NULL);
		cr_assert(tt_verifier_new(tt, pub, pub_len, b, &v) == 0);
		tt_key_free(v);
		tt_secret_free(a);
		tt_secret_free(b);
	}
}

/* ---- requests ---- */

/* A fresh key of su's type: signer, its public element and truncated id. */
struct fixture {
	const struct tt_ops *tt;
	const struct grp_impl *g;
	struct tt_key *signer;
	uint8_t pub[GRP_MAX_NE];
	uint8_t tid;
};

static void fixture_new(const struct suite *su, struct fixture *f)
{
	struct tt_secret *priv = NULL;
	uint8_t id[32];
	size_t pub_len;

	memset(f, 0, sizeof(*f));
	f->tt = tt_find(su->type);
	f->g = su->g;
	cr_assert(f->tt->generate(&priv) == 0);
	cr_assert(f->tt->public_form(priv->p, priv->len, f->pub,
				     sizeof(f->pub), &pub_len) == 0);
	tt_key_id(f->pub, pub_len, id);
	f->tid = tt_truncated_id(id);
	cr_assert(tt_signer_new(f->tt, priv, 0, &f->signer) == 0);
	tt_secret_free(priv);
}

/* A request for a valid random element. */
static void good_request(const struct fixture *f, uint8_t *req)
{
	uint8_t input[VTOK_INPUT_LEN], blind[GRP_MAX_NS];

	memset(input, 0x5a, sizeof(input));
	req[0] = 0;
	req[1] = (uint8_t)f->tt->type;
	req[2] = f->tid;
	cr_assert(voprf_blind(f->g, input, sizeof(input), NULL, blind,
			      req + 3) == 0);
}

/* x = 1, 2, ...: the first compressed P-384 encoding that is no point. */
static void p384_off_curve(uint8_t *e)
{
	struct grp_elem tmp;
	unsigned x;

	memset(e, 0, 49);
	e[0] = 0x02;
	for (x = 1; x < 256; x++) {
		e[48] = (uint8_t)x;
		if (grp_p384.elem_decode(&tmp, e, 49) == PP_ERR_MSG_RANGE)
			return;
	}
	cr_assert_fail("no x below 256 is off the curve");
}

/* Element encodings each group must refuse (ne bytes at out). */
static size_t bad_elements(const struct fixture *f, const uint8_t *good,
			   uint8_t out[][GRP_MAX_NE])
{
	const size_t ne = f->g->ne;
	size_t n = 0;

	memset(out[n++], 0, ne);                 /* the identity / zeros */
	memset(out[n], 0xff, ne);                /* not reduced / no prefix */
	n++;
	if (f->g == &grp_ristretto255) {
		memcpy(out[n], good, ne);        /* the high bit */
		out[n++][31] |= 0x80;
		memset(out[n], 0xff, ne);        /* p = 2^255 - 19 */
		out[n][0] = 0xed;
		out[n++][31] = 0x7f;
		memset(out[n], 0, ne);           /* 1: a negative encoding */
		out[n++][0] = 0x01;
	} else {
		memcpy(out[n], good, ne);        /* uncompressed prefix */
		out[n++][0] = 0x04;
		memcpy(out[n], good, ne);        /* no such prefix */
		out[n++][0] = 0x05;
		p384_off_curve(out[n++]);        /* x of no point */
		memset(out[n], 0xff, ne);        /* x >= p */
		out[n++][0] = 0x02;
	}
	return n;
}

Test(tt_voprf, issue_refuses_bad_requests)
{
	size_t s;

	for (s = 0; s < 2; s++) {
		struct fixture f;
		uint8_t req[3 + GRP_MAX_NE + 1], out[OUT_CAP];
		uint8_t bad[8][GRP_MAX_NE], good[GRP_MAX_NE];
		size_t out_len, i, nbad, len;

		fixture_new(&suites[s], &f);
		len = f.tt->request_len;
		good_request(&f, req);
		memcpy(good, req + 3, f.g->ne);
		cr_assert(tt_issue(f.signer, req, len, out, sizeof(out),
				   &out_len) == 0 &&
			  out_len == f.tt->response_len);
		cr_assert(voprf_verify_proof(f.g, f.pub, f.g->ne, req + 3, out,
					     1, out + f.g->ne, 2 * f.g->ns) ==
			  0);

		nbad = bad_elements(&f, good, bad);
		for (i = 0; i < nbad; i++) {
			memcpy(req + 3, bad[i], f.g->ne);
			memset(out, 0xaa, sizeof(out));
			cr_assert(tt_issue(f.signer, req, len, out, sizeof(out),
					   &out_len) == PP_ERR_MSG_RANGE,
				  "%s: bad element %zu accepted", f.tt->name, i);
			cr_assert(out_len == 0);
		}
		memcpy(req + 3, good, f.g->ne);
		/* sizes: one short, one long, the header alone */
		cr_assert(tt_issue(f.signer, req, len - 1, out, sizeof(out),
				   &out_len) == PP_ERR_LENGTH);
		req[len] = 0;
		cr_assert(tt_issue(f.signer, req, len + 1, out, sizeof(out),
				   &out_len) == PP_ERR_LENGTH);
		cr_assert(tt_issue(f.signer, req, 3, out, sizeof(out),
				   &out_len) == PP_ERR_LENGTH);
		cr_assert(tt_issue(f.signer, req, 1, out, sizeof(out),
				   &out_len) == PP_ERR_TRUNCATED);
		/* another key's truncated id, the other VOPRF type */
		req[2] ^= 1;
		cr_assert(tt_issue(f.signer, req, len, out, sizeof(out),
				   &out_len) == PP_ERR_UNKNOWN_KEY);
		req[2] ^= 1;
		cr_assert(tt_issue(f.signer, req, len, out,
				   f.tt->response_len - 1, &out_len) ==
			  PP_ERR_BUFFER && out_len == 0);
		tt_key_free(f.signer);
	}
}

Test(tt_voprf, issue_refuses_the_other_voprf_type)
{
	struct fixture f5, f1;
	uint8_t req[3 + GRP_MAX_NE], out[OUT_CAP];
	size_t out_len;

	fixture_new(&suites[0], &f5);
	fixture_new(&suites[1], &f1);
	good_request(&f1, req);   /* a type-1 request (52 bytes) */
	cr_assert(tt_issue(f5.signer, req, 52, out, sizeof(out), &out_len) ==
		  PP_ERR_TOKEN_TYPE);
	good_request(&f5, req);   /* a type-5 request (35 bytes) */
	cr_assert(tt_issue(f1.signer, req, 35, out, sizeof(out), &out_len) ==
		  PP_ERR_TOKEN_TYPE);
	req[1] = 2;
	cr_assert(tt_issue(f5.signer, req, 35, out, sizeof(out), &out_len) ==
		  PP_ERR_TOKEN_TYPE);
	tt_key_free(f5.signer);
	tt_key_free(f1.signer);
}

/* One element that does not decode fails the whole batch, and nothing of
 * the response is left in the output. */
Test(tt_voprf, one_bad_element_fails_the_batch)
{
	size_t s;

	for (s = 0; s < 2; s++) {
		struct fixture f;
		uint8_t one[3 + GRP_MAX_NE], blinded[4 * GRP_MAX_NE];
		uint8_t req[512], out[1024], zero[1024] = { 0 };
		size_t req_len, out_len, i;

		fixture_new(&suites[s], &f);
		for (i = 0; i < 4; i++) {
			good_request(&f, one);
			memcpy(blinded + i * f.g->ne, one + 3, f.g->ne);
		}
		cr_assert(vtok_batch_request_encode(f.tt->type, f.tid, blinded,
						    4, req, sizeof(req),
						    &req_len) == 0);
		cr_assert(tt_issue_batch(f.signer, req, req_len, 4, out,
					 sizeof(out), &out_len) == 0);
		cr_assert(out_len == vtok_batch_response_len(f.tt->type, 4));
		cr_assert(tt_issue_batch(f.signer, req, req_len, 0, out,
					 sizeof(out), &out_len) == PP_ERR_ARG);
		/* the third element zeroed: the identity */
		memset(req + req_len - 2 * f.g->ne, 0, f.g->ne);
		memset(out, 0xaa, sizeof(out));
		cr_assert(tt_issue_batch(f.signer, req, req_len, 4, out,
					 sizeof(out), &out_len) ==
			  PP_ERR_MSG_RANGE && out_len == 0);
		cr_assert(memcmp(out, zero,
				 vtok_batch_response_len(f.tt->type, 4)) == 0);
		/* a single TokenRequest is not a batch */
		cr_assert(tt_issue_batch(f.signer, one, f.tt->request_len, 4,
					 out, sizeof(out), &out_len) != 0);
		tt_key_free(f.signer);
	}
}

Test(tt_voprf, public_check_refuses_bad_elements)
{
	size_t s;

	for (s = 0; s < 2; s++) {
		struct fixture f;
		uint8_t bad[8][GRP_MAX_NE];
		size_t i, n;

		fixture_new(&suites[s], &f);
		cr_assert(f.tt->public_check(f.pub, f.g->ne) == 0);
		cr_assert(f.tt->public_check(f.pub, f.g->ne - 1) != 0);
		n = bad_elements(&f, f.pub, bad);
		for (i = 0; i < n; i++)
			cr_assert(f.tt->public_check(bad[i], f.g->ne) != 0,
				  "%s: bad public form %zu accepted",
				  f.tt->name, i);
		tt_key_free(f.signer);
	}
}
