/* RFC 9578 Appendix A.2 (token type 0x0002, Blind RSA 2048): the whole
 * issuance flow against each published vector, client and issuer side. */
#include "crypto/bsig.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "crypto/token.h"
#include "tu.h"
#include "tu_rsa.h"

#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

TestSuite(type2, .fini = tu_leak_check);

#define T2_FILE "rfc9578-type2-blindrsa-vectors.json"
#define T2_COUNT 5

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len,
			 size_t idx, const char *what)
{
	size_t i;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	cr_assert(i == len, "vector %zu: %s differs at byte %zu of %zu",
		  idx + 1, what, i, len); /* 1-based, as in the test names */
}

static void check_type2(size_t idx)
{
	const enum bsig_variant v = BSIG_SHA384_PSS_DETERMINISTIC;
	json_t *vecs = tu_vectors(T2_FILE), *vec = json_array_get(vecs, idx);
	const size_t no = idx + 1; /* as in the test names */
	size_t pks_len, ch_len, nonce_len, r_len, salt_len, req_len, resp_len;
	size_t tok_len, spki_len = 0;
	uint8_t *pks, *ch, *nonce, *r, *salt, *req, *resp, *tok;
	uint8_t spki[SPKI_MAX_LEN], key_id[SPKI_KEY_ID_LEN], digest[32];
	uint8_t input[TOK_INPUT_LEN], blinded[TOK_NK], inv[TOK_NK];
	uint8_t request[TOK_REQUEST_LEN], bsig[TOK_NK], auth[TOK_NK];
	uint8_t token[TOK_TOKEN_LEN];
	struct bsig_signer *signer = NULL;
	struct tok_token parsed;
	EVP_PKEY *sk, *pk = NULL;

	cr_assert(vec != NULL, "no vector %zu", no);
	sk = tu_rsa_from_pem_hex(vec, "skS");
	pks = tu_hex_field(vec, "pkS", &pks_len);
	ch = tu_hex_field(vec, "token_challenge", &ch_len);
	nonce = tu_hex_field(vec, "nonce", &nonce_len);
	r = tu_hex_field(vec, "blind", &r_len);
	salt = tu_hex_field(vec, "salt", &salt_len);
	req = tu_hex_field(vec, "token_request", &req_len);
	resp = tu_hex_field(vec, "token_response", &resp_len);
	tok = tu_hex_field(vec, "token", &tok_len);
	cr_assert(pks_len == SPKI_RSA2048_LEN && nonce_len == TOK_NONCE_LEN &&
		  salt_len == BSIG_SALT_LEN && req_len == TOK_REQUEST_LEN &&
		  resp_len == TOK_RESPONSE_LEN && tok_len == TOK_TOKEN_LEN,
		  "vector %zu: field sizes", no);

	/* the key form: encoding the private key's public half gives pkS */
	cr_assert_eq(spki_encode(sk, spki, sizeof(spki), &spki_len), 0);
	cr_assert_eq(spki_len, pks_len, "vector %zu: SPKI length", no);
	assert_bytes(spki, pks, pks_len, idx, "pkS");
	/* key id = SHA-256(pkS); the token carries it, the request its last byte */
	spki_key_id(pks, pks_len, key_id);
	assert_bytes(tok + 2 + TOK_NONCE_LEN + TOK_DIGEST_LEN, key_id,
		     SPKI_KEY_ID_LEN, idx, "token_key_id");
	cr_assert_eq(spki_truncated_id(key_id), req[2],
		     "vector %zu: truncated key id", no);
	cr_assert_eq(spki_truncated_id(key_id), key_id[SPKI_KEY_ID_LEN - 1]);

	/* client: decode pkS, build token_input, blind with the given salt, r */
	cr_assert_eq(spki_decode(pks, pks_len, &pk), 0, "vector %zu", no);
	cr_assert(EVP_PKEY_eq(pk, sk) == 1, "vector %zu: decoded key differs", no);
	SHA256(ch, ch_len, digest);
	tok_token_input(TOK_TYPE_BLIND_RSA, nonce, digest, key_id, input);
	assert_bytes(input, tok, TOK_INPUT_LEN, idx, "token_input");
	cr_assert_eq(bsig_blind(pk, v, input, sizeof(input), salt, r, r_len,
				blinded, inv, TOK_NK), 0, "vector %zu: blind", no);
	tok_request_encode(spki_truncated_id(key_id), blinded, request);
	assert_bytes(request, req, TOK_REQUEST_LEN, idx, "token_request");

	/* issuer: BlindSign of the request's blinded message */
	cr_assert_eq(bsig_signer_new(sk, 1, &signer), 0);
	cr_assert_eq(bsig_blind_sign(signer, req + 3, TOK_NK, bsig, sizeof(bsig)),
		     0, "vector %zu: blind_sign", no);
	assert_bytes(bsig, resp, TOK_RESPONSE_LEN, idx, "token_response");

	/* client: Finalize gives the published token, which verifies */
	cr_assert_eq(bsig_finalize(pk, v, input, sizeof(input), resp, inv, auth,
				   sizeof(auth)), 0, "vector %zu: finalize", no);
	tok_token_encode(input, auth, token);
	assert_bytes(token, tok, TOK_TOKEN_LEN, idx, "token");
	cr_assert_eq(tok_token_decode(tok, tok_len, &parsed), 0);
	cr_assert_eq(bsig_verify(pk, v, parsed.input, TOK_INPUT_LEN,
				 parsed.authenticator, TOK_NK), 0,
		     "vector %zu: token does not verify", no);
	/* a token for another nonce does not */
	tok[2] ^= 0x01;
	cr_assert_eq(tok_token_decode(tok, tok_len, &parsed), 0);
	cr_assert_eq(bsig_verify(pk, v, parsed.input, TOK_INPUT_LEN,
				 parsed.authenticator, TOK_NK), PP_ERR_VERIFY,
		     "vector %zu: altered token verifies", no);

	bsig_signer_free(signer);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(pk);
	free(pks);
	free(ch);
	free(nonce);
	free(r);
	free(salt);
	free(req);
	free(resp);
	free(tok);
	json_decref(vecs);
}

Test(type2, issuance_reproduced_when_rfc9578_vector_1)
{
	check_type2(0);
}

Test(type2, issuance_reproduced_when_rfc9578_vector_2)
{
	check_type2(1);
}

Test(type2, issuance_reproduced_when_rfc9578_vector_3)
{
	check_type2(2);
}

Test(type2, issuance_reproduced_when_rfc9578_vector_4)
{
	check_type2(3);
}

Test(type2, issuance_reproduced_when_rfc9578_vector_5)
{
	check_type2(4);
}

/* The five tests above cover the whole file. */
Test(type2, vector_file_holds_the_expected_count)
{
	json_t *vecs = tu_vectors(T2_FILE);

	cr_assert_eq(json_array_size(vecs), T2_COUNT);
	json_decref(vecs);
}

/* RFC 9577's vectors list the key id of the same key (computed there). */
Test(type2, key_id_matches_rfc9577_vectors_when_same_key)
{
	json_t *t2 = tu_vectors(T2_FILE);
	json_t *auth = tu_vectors("rfc9577-token-challenge-and-token-vectors.json");
	uint8_t id[SPKI_KEY_ID_LEN], *pks, *want;
	size_t pks_len, want_len, i, seen = 0;

	pks = tu_hex_field(json_array_get(t2, 0), "pkS", &pks_len);
	spki_key_id(pks, pks_len, id);
	for (i = 0; i < json_array_size(auth); i++) {
		json_t *vec = json_array_get(auth, i);

		if (!json_object_get(vec, "token_key_id"))
			continue; /* the greased entry */
		want = tu_hex_field(vec, "token_key_id", &want_len);
		cr_assert_eq(want_len, SPKI_KEY_ID_LEN);
		assert_bytes(id, want, SPKI_KEY_ID_LEN, i, "token_key_id");
		free(want);
		seen++;
	}
	cr_assert(seen >= 5, "only %zu vectors with a key id", seen);
	free(pks);
	json_decref(t2);
	json_decref(auth);
}
