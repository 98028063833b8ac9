/* RFC 9497 VOPRF (mode 0x01): the RFC's vectors byte for byte (key
 * derivation, Blind, BlindEvaluate with the published proof randomness,
 * Finalize, Evaluate), and the Privacy Pass vectors of token types 0x0005
 * and 0x0001, single (RFC 9578 A.1, batched-tokens draft-07) and amortized
 * (draft-07): the evaluated elements byte for byte, the proofs through
 * VerifyProof (their randomness is not published), the authenticators
 * recomputed from skS. */
#include "crypto/grp.h"
#include "base/pp_err.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"
#include "tu.h"

#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

TestSuite(voprf_rfc, .fini = tu_leak_check);
TestSuite(voprf_pp, .fini = tu_leak_check);

#define MAX_ITEMS 8

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len,
			 const char *label, const char *what)
{
	size_t i;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	cr_assert(i == len, "%s: %s differs at byte %zu of %zu", label, what,
		  i, len);
}

/* A comma-separated hex list: items[i] (malloc'd) and lens[i]. */
static size_t hex_list(json_t *obj, const char *field,
		       uint8_t *items[MAX_ITEMS], size_t lens[MAX_ITEMS])
{
	const char *s = json_string_value(json_object_get(obj, field));
	char part[1024];
	size_t n = 0;

	cr_assert(s != NULL, "vector field %s missing", field);
	while (*s != '\0') {
		size_t k = strcspn(s, ",");

		cr_assert(n < MAX_ITEMS && k < sizeof(part));
		memcpy(part, s, k);
		part[k] = '\0';
		items[n] = tu_hex(part, &lens[n]);
		n++;
		s += k;
		if (*s == ',')
			s++;
	}
	return n;
}

static void free_list(uint8_t *items[MAX_ITEMS], size_t n)
{
	while (n > 0)
		free(items[--n]);
}

static const struct grp_impl *group_of(const char *id)
{
	if (strcmp(id, grp_ristretto255.id) == 0)
		return &grp_ristretto255;
	if (strcmp(id, grp_p384.id) == 0)
		return &grp_p384;
	return NULL;
}

static unsigned rfc_checked;

/* One RFC 9497 test vector (Batch 1 or 2) under key k. */
static void rfc_vector(const struct voprf_key *k, json_t *v, const char *label)
{
	const struct grp_impl *g = voprf_key_group(k);
	uint8_t *in[MAX_ITEMS], *bl[MAX_ITEMS], *be[MAX_ITEMS], *ee[MAX_ITEMS],
		*outs[MAX_ITEMS];
	size_t in_len[MAX_ITEMS], bl_len[MAX_ITEMS], be_len[MAX_ITEMS],
	       ee_len[MAX_ITEMS], out_len[MAX_ITEMS];
	uint8_t blinded[MAX_ITEMS * GRP_MAX_NE], evaluated[MAX_ITEMS * GRP_MAX_NE];
	uint8_t blinds[MAX_ITEMS * GRP_MAX_NS], proof[2 * GRP_MAX_NS];
	uint8_t out[MAX_ITEMS * GRP_MAX_NH], one[GRP_MAX_NH];
	uint8_t *want_proof, *r;
	size_t n, i, proof_len, r_len;
	json_t *pj = json_object_get(v, "Proof");

	n = hex_list(v, "Input", in, in_len);
	cr_assert(hex_list(v, "Blind", bl, bl_len) == n);
	cr_assert(hex_list(v, "BlindedElement", be, be_len) == n);
	cr_assert(hex_list(v, "EvaluationElement", ee, ee_len) == n);
	cr_assert(hex_list(v, "Output", outs, out_len) == n);
	cr_assert((size_t)json_integer_value(json_object_get(v, "Batch")) == n);
	want_proof = tu_hex_field(pj, "proof", &proof_len);
	r = tu_hex_field(pj, "r", &r_len);
	cr_assert(proof_len == 2 * g->ns);

	for (i = 0; i < n; i++) {
		uint8_t b[GRP_MAX_NS];

		cr_assert(be_len[i] == g->ne && bl_len[i] == g->ns);
		cr_assert(voprf_blind(g, in[i], in_len[i], bl[i], b,
				      blinded + i * g->ne) == 0, "%s", label);
		assert_bytes(blinded + i * g->ne, be[i], g->ne, label,
			     "BlindedElement");
		assert_bytes(b, bl[i], g->ns, label, "Blind");
		memcpy(blinds + i * g->ns, b, g->ns);
	}
	cr_assert(voprf_blind_evaluate_with_r(k, blinded, n, MAX_ITEMS, r,
					      r_len, evaluated,
					      sizeof(evaluated), proof,
					      sizeof(proof)) == 0, "%s", label);
	for (i = 0; i < n; i++)
		assert_bytes(evaluated + i * g->ne, ee[i], g->ne, label,
			     "EvaluationElement");
	assert_bytes(proof, want_proof, proof_len, label, "proof");
	cr_assert(voprf_verify_proof(g, voprf_key_public(k), g->ne, blinded,
				     evaluated, n, proof, proof_len) == 0);
	cr_assert(voprf_finalize(g, voprf_key_public(k), g->ne, n,
				 (const uint8_t *const *)in, in_len, blinds,
				 blinded, evaluated, proof, proof_len, out,
				 sizeof(out)) == 0, "%s", label);
	for (i = 0; i < n; i++) {
		cr_assert(out_len[i] == g->nh);
		assert_bytes(out + i * g->nh, outs[i], g->nh, label, "Output");
		/* Evaluate (no blinding) gives the same output. */
		cr_assert(voprf_evaluate(k, in[i], in_len[i], one,
					 sizeof(one)) == 0);
		assert_bytes(one, outs[i], g->nh, label, "Evaluate output");
		cr_assert(voprf_authenticator_check(k, in[i], in_len[i],
						    outs[i], g->nh) == 0);
	}
	rfc_checked++;
	free(want_proof);
	free(r);
	free_list(in, n);
	free_list(bl, n);
	free_list(be, n);
	free_list(ee, n);
	free_list(outs, n);
}

Test(voprf_rfc, mode1_vectors_match_byte_for_byte)
{
	json_t *all = tu_vectors("rfc9497-voprf-vectors.json");
	unsigned suites = 0;
	size_t i, j;

	rfc_checked = 0;
	for (i = 0; i < json_array_size(all); i++) {
		json_t *s = json_array_get(all, i);
		const char *id = json_string_value(json_object_get(s, "identifier"));
		const struct grp_impl *g = group_of(id);
		uint8_t *seed, *info, *sk, *pk, *gdst, secret[GRP_MAX_NS];
		size_t seed_len, info_len, sk_len, pk_len, gdst_len;
		struct voprf_key *k = NULL;
		char label[96];

		if (g == NULL ||
		    json_integer_value(json_object_get(s, "mode")) != 1)
			continue;
		seed = tu_hex_field(s, "seed", &seed_len);
		info = tu_hex_field(s, "keyInfo", &info_len);
		sk = tu_hex_field(s, "skSm", &sk_len);
		pk = tu_hex_field(s, "pkSm", &pk_len);
		gdst = tu_hex_field(s, "groupDST", &gdst_len);
		cr_assert(gdst_len == 12 + 9 + strlen(g->id) &&
			  memcmp(gdst, "HashToGroup-OPRFV1-\x01-", 21) == 0 &&
			  memcmp(gdst + 21, g->id, strlen(g->id)) == 0,
			  "%s: groupDST is not ours", id);
		cr_assert(voprf_key_derive(g, seed, seed_len, info, info_len,
					   &k) == 0, "%s: DeriveKeyPair", id);
		cr_assert(voprf_key_secret(k, secret, sizeof(secret)) == 0);
		cr_assert(sk_len == g->ns && pk_len == g->ne);
		assert_bytes(secret, sk, sk_len, id, "skSm");
		assert_bytes(voprf_key_public(k), pk, pk_len, id, "pkSm");
		for (j = 0; j < json_array_size(json_object_get(s, "vectors"));
		     j++) {
			snprintf(label, sizeof(label), "%s vector %zu", id, j + 1);
			rfc_vector(k, json_array_get(json_object_get(s, "vectors"),
						     j), label);
		}
		voprf_key_free(k);
		free(seed);
		free(info);
		free(sk);
		free(pk);
		free(gdst);
		suites++;
	}
	cr_assert(suites == 2 && rfc_checked == 6, "%u suites, %u vectors",
		  suites, rfc_checked);
	json_decref(all);
}

/* ---- Privacy Pass token types ---- */

/* Token input: type || nonce || SHA-256(challenge) || SHA-256(pkS). */
static void token_input(uint16_t type, const uint8_t *nonce,
			const uint8_t *challenge, size_t challenge_len,
			const uint8_t *key_id, uint8_t out[VTOK_INPUT_LEN])
{
	out[0] = (uint8_t)(type >> 8);
	out[1] = (uint8_t)type;
	memcpy(out + 2, nonce, 32);
	SHA256(challenge, challenge_len, out + 34);
	memcpy(out + 66, key_id, 32);
}

/* One single or amortized vector (nonces/blinds are lists of n). */
static void pp_vector(const struct grp_impl *g, uint16_t type, json_t *v,
		      int amortized, const char *label)
{
	uint8_t *sk, *pk, *chal, *req, *resp, *nonce[MAX_ITEMS], *bl[MAX_ITEMS],
		*tok[MAX_ITEMS];
	size_t sk_len, pk_len, chal_len, req_len, resp_len, i, n,
	       nonce_len[MAX_ITEMS], bl_len[MAX_ITEMS], tok_len[MAX_ITEMS];
	uint8_t key_id[32], input[MAX_ITEMS][VTOK_INPUT_LEN];
	const uint8_t *inputs[MAX_ITEMS];
	size_t input_lens[MAX_ITEMS];
	uint8_t blinded[MAX_ITEMS * GRP_MAX_NE], ev[MAX_ITEMS * GRP_MAX_NE];
	uint8_t proof[2 * GRP_MAX_NS], auth[MAX_ITEMS * GRP_MAX_NH];
	uint8_t enc[1024], b[GRP_MAX_NS];
	size_t enc_len;
	struct vtok_response r;
	struct voprf_key *k = NULL;
	const uint8_t *blinded_wire;
	uint8_t tkid;

	sk = tu_hex_field(v, "skS", &sk_len);
	pk = tu_hex_field(v, "pkS", &pk_len);
	chal = tu_hex_field(v, "token_challenge", &chal_len);
	req = tu_hex_field(v, "token_request", &req_len);
	resp = tu_hex_field(v, "token_response", &resp_len);
	if (amortized) {
		json_t *a;

		a = json_object_get(v, "nonces");
		n = json_array_size(a);
		cr_assert(n >= 1 && n <= MAX_ITEMS);
		for (i = 0; i < n; i++) {
			nonce[i] = tu_hex(json_string_value(json_array_get(a, i)),
					  &nonce_len[i]);
			bl[i] = tu_hex(json_string_value(json_array_get(
				json_object_get(v, "blinds"), i)), &bl_len[i]);
			tok[i] = tu_hex(json_string_value(json_array_get(
				json_object_get(v, "tokens"), i)), &tok_len[i]);
		}
	} else {
		n = 1;
		nonce[0] = tu_hex_field(v, "nonce", &nonce_len[0]);
		bl[0] = tu_hex_field(v, "blind", &bl_len[0]);
		tok[0] = tu_hex_field(v, "token", &tok_len[0]);
	}
	cr_assert(voprf_key_new(g, sk, sk_len, &k) == 0, "%s: skS", label);
	cr_assert(pk_len == g->ne);
	assert_bytes(voprf_key_public(k), pk, pk_len, label, "pkS");
	SHA256(pk, pk_len, key_id);

	/* The request: type, truncated key id, the blinded elements. */
	if (amortized) {
		struct vtok_batch_request br;

		cr_assert(vtok_batch_request_decode(req, req_len, MAX_ITEMS,
						    &br) == 0, "%s", label);
		cr_assert(br.token_type == type && br.count == n);
		tkid = br.truncated_key_id;
		blinded_wire = br.blinded;
		cr_assert(vtok_batch_request_encode(type, tkid, br.blinded, n,
						    enc, sizeof(enc),
						    &enc_len) == 0);
	} else {
		struct vtok_request sr;

		cr_assert(vtok_request_decode(req, req_len, &sr) == 0, "%s",
			  label);
		cr_assert(sr.token_type == type);
		tkid = sr.truncated_key_id;
		blinded_wire = sr.blinded;
		cr_assert(vtok_request_encode(type, tkid, sr.blinded, enc,
					      sizeof(enc), &enc_len) == 0);
	}
	cr_assert(enc_len == req_len);
	assert_bytes(enc, req, req_len, label, "re-encoded request");
	cr_assert(tkid == key_id[31], "%s: truncated key id", label);

	for (i = 0; i < n; i++) {
		cr_assert(nonce_len[i] == 32 && bl_len[i] == g->ns);
		token_input(type, nonce[i], chal, chal_len, key_id, input[i]);
		inputs[i] = input[i];
		input_lens[i] = VTOK_INPUT_LEN;
		cr_assert(voprf_blind(g, input[i], VTOK_INPUT_LEN, bl[i], b,
				      blinded + i * g->ne) == 0);
		assert_bytes(blinded + i * g->ne, blinded_wire + i * g->ne,
			     g->ne, label, "blinded element");
	}

	/* The response: evaluated elements byte for byte, proofs verify. */
	if (amortized)
		cr_assert(vtok_batch_response_decode(type, resp, resp_len,
						     MAX_ITEMS, &r) == 0);
	else
		cr_assert(vtok_response_decode(type, resp, resp_len, &r) == 0);
	cr_assert(r.count == n);
	cr_assert(voprf_blind_evaluate(k, blinded, n, MAX_ITEMS, ev,
				       sizeof(ev), proof, sizeof(proof)) == 0);
	assert_bytes(ev, r.evaluated, n * g->ne, label, "evaluated elements");
	cr_assert(voprf_verify_proof(g, pk, pk_len, blinded, r.evaluated, n,
				     r.proof, 2 * g->ns) == 0,
		  "%s: the vector's proof does not verify", label);
	cr_assert(voprf_verify_proof(g, pk, pk_len, blinded, ev, n, proof,
				     2 * g->ns) == 0);
	if (amortized)
		cr_assert(vtok_batch_response_encode(type, ev, n, r.proof, enc,
						     sizeof(enc),
						     &enc_len) == 0);
	else
		cr_assert(vtok_response_encode(type, ev, r.proof, enc,
					       sizeof(enc), &enc_len) == 0);
	cr_assert(enc_len == resp_len);
	assert_bytes(enc, resp, resp_len, label, "re-encoded response");

	/* Finalize (client) and Evaluate (issuer) give the authenticators. */
	for (i = 0; i < n; i++)
		memcpy(enc + i * g->ns, bl[i], g->ns);
	cr_assert(voprf_finalize(g, pk, pk_len, n, inputs, input_lens, enc,
				 blinded, r.evaluated, r.proof, 2 * g->ns,
				 auth, sizeof(auth)) == 0, "%s", label);
	for (i = 0; i < n; i++) {
		struct vtok_token t;
		uint8_t again[GRP_MAX_NH];

		cr_assert(vtok_token_decode(tok[i], tok_len[i], &t) == 0);
		cr_assert(t.token_type == type && t.authenticator_len == g->nh);
		assert_bytes(t.input, input[i], VTOK_INPUT_LEN, label,
			     "token input");
		assert_bytes(auth + i * g->nh, t.authenticator, g->nh, label,
			     "Finalize authenticator");
		cr_assert(voprf_evaluate(k, t.input, VTOK_INPUT_LEN, again,
					 sizeof(again)) == 0);
		assert_bytes(again, t.authenticator, g->nh, label,
			     "Evaluate authenticator");
		cr_assert(voprf_authenticator_check(k, t.input, VTOK_INPUT_LEN,
						    t.authenticator,
						    t.authenticator_len) == 0);
		again[g->nh - 1] ^= 1;
		cr_assert(voprf_authenticator_check(k, t.input, VTOK_INPUT_LEN,
						    again, g->nh) ==
			  PP_ERR_VERIFY);
	}
	voprf_key_free(k);
	free(sk);
	free(pk);
	free(chal);
	free(req);
	free(resp);
	free_list(nonce, n);
	free_list(bl, n);
	free_list(tok, n);
}

static void pp_file(const char *file, const struct grp_impl *g, uint16_t type,
		    int amortized, size_t expect)
{
	json_t *all = tu_vectors(file);
	char label[160];
	size_t i;

	cr_assert(json_array_size(all) == expect, "%s: %zu vectors", file,
		  json_array_size(all));
	for (i = 0; i < json_array_size(all); i++) {
		snprintf(label, sizeof(label), "%s vector %zu", file, i + 1);
		pp_vector(g, type, json_array_get(all, i), amortized, label);
	}
	json_decref(all);
}

Test(voprf_pp, type5_single_vectors)
{
	pp_file("draft-ietf-privacypass-batched-tokens-07-type5-voprf-ristretto255.json",
		&grp_ristretto255, VTOK_TYPE_VOPRF_R255, 0, 10);
}

Test(voprf_pp, type5_amortized_vectors)
{
	pp_file("draft-ietf-privacypass-batched-tokens-07-amortized-type5-voprf-ristretto255.json",
		&grp_ristretto255, VTOK_TYPE_VOPRF_R255, 1, 10);
}

Test(voprf_pp, type1_single_vectors)
{
	pp_file("rfc9578-type1-voprf-p384-vectors.json", &grp_p384,
		VTOK_TYPE_VOPRF_P384, 0, 5);
}

Test(voprf_pp, type1_amortized_vectors)
{
	pp_file("draft-ietf-privacypass-batched-tokens-07-amortized-type1-voprf-p384.json",
		&grp_p384, VTOK_TYPE_VOPRF_P384, 1, 10);
}
