/* RFC 9474 blind RSA: known-answer tests from both published vector files,
 * round trips with fresh randomness, the error paths, and concurrent signing. */
#include "crypto/bsig.h"
#include "base/pp_err.h"
#include "tu.h"
#include "tu_rsa.h"

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

TestSuite(bsig, .fini = tu_leak_check);

#define RFC_FILE "rfc9474-rsabssa-vectors.json"
#define CIRCL_FILE "circl-test_vectors_rfc9474.json"

static const struct {
	const char *name;
	enum bsig_variant v;
} variants[] = {
	{ "RSABSSA-SHA384-PSS-Randomized", BSIG_SHA384_PSS_RANDOMIZED },
	{ "RSABSSA-SHA384-PSSZERO-Randomized", BSIG_SHA384_PSSZERO_RANDOMIZED },
	{ "RSABSSA-SHA384-PSS-Deterministic", BSIG_SHA384_PSS_DETERMINISTIC },
	{ "RSABSSA-SHA384-PSSZERO-Deterministic", BSIG_SHA384_PSSZERO_DETERMINISTIC },
};

static enum bsig_variant variant_of(json_t *vec, const char *label)
{
	const char *name = json_string_value(json_object_get(vec, "name"));
	size_t i;

	cr_assert(name != NULL, "%s: no name", label);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		if (strcmp(name, variants[i].name) == 0)
			return variants[i].v;
	cr_assert_fail("%s: unknown variant %s", label, name);
	return BSIG_SHA384_PSS_RANDOMIZED;
}

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len,
			 const char *label, const char *what)
{
	size_t i;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	cr_assert(i == len, "%s: %s differs at byte %zu of %zu", label, what,
		  i, len);
}

/* inv from the vector as modulus_len bytes, and r = inv^-1 mod n. */
static void vector_r(json_t *vec, const uint8_t *n, size_t mod_len,
		     uint8_t *inv_out, uint8_t **r, size_t *r_len)
{
	size_t inv_len;
	uint8_t *inv = tu_hex_field(vec, "inv", &inv_len);
	BIGNUM *ib = BN_bin2bn(inv, (int)inv_len, NULL);
	BIGNUM *nb = BN_bin2bn(n, (int)mod_len, NULL);
	BIGNUM *rb = BN_new();
	BN_CTX *ctx = BN_CTX_new();

	cr_assert(ib && nb && rb && ctx);
	cr_assert(BN_mod_inverse(rb, ib, nb, ctx) != NULL);
	cr_assert(BN_bn2binpad(ib, inv_out, (int)mod_len) == (int)mod_len);
	*r_len = (size_t)BN_num_bytes(rb);
	*r = malloc(*r_len);
	cr_assert(*r != NULL);
	BN_bn2bin(rb, *r);
	free(inv);
	BN_free(ib);
	BN_free(nb);
	BN_free(rb);
	BN_CTX_free(ctx);
}

/* Every step of RFC 9474 against one vector: BlindSign, Prepare, the
 * EMSA-PSS encoding, Blind with the vector's r, Finalize and Verify. */
static void check_vector(const char *file, size_t idx,
			 enum bsig_variant want)
{
	char label[128];
	json_t *vecs = tu_vectors(file), *vec;
	int circl = strcmp(file, CIRCL_FILE) == 0;
	size_t n_len, e_len, msg_len, pre_len, prep_len, salt_len, bm_len;
	size_t bs_len, sig_len, em_len = 0, out_len = 0, r_len = 0;
	uint8_t *n, *e, *msg, *prefix, *prepared, *salt, *bm, *bs, *sig, *r;
	uint8_t buf[BSIG_MAX_MODULUS], inv[BSIG_MAX_MODULUS];
	uint8_t inv_got[BSIG_MAX_MODULUS];
	struct bsig_signer *signer = NULL;
	struct bsig_verifier *vf = NULL;
	EVP_PKEY *sk, *pk;
	enum bsig_variant v;

	vec = json_array_get(vecs, idx);
	cr_assert(vec != NULL, "%s has no vector %zu", file, idx);
	snprintf(label, sizeof(label), "%s[%zu] %s", file, idx,
		 json_string_value(json_object_get(vec, "name")));
	v = variant_of(vec, label);
	cr_assert_eq(v, want, "%s: not the variant this test expects", label);
	n = tu_hex_field(vec, "n", &n_len);
	e = tu_hex_field(vec, "e", &e_len);
	msg = tu_hex_field(vec, "msg", &msg_len);
	prefix = tu_hex_field(vec, "msg_prefix", &pre_len);
	prepared = tu_hex_field(vec, circl ? "input_msg" : "prepared_msg",
				&prep_len);
	salt = tu_hex_field(vec, "salt", &salt_len);
	bm = tu_hex_field(vec, "blinded_msg", &bm_len);
	bs = tu_hex_field(vec, "blind_sig", &bs_len);
	sig = tu_hex_field(vec, "sig", &sig_len);
	cr_assert(n_len == 512 && bm_len == n_len && bs_len == n_len &&
		  sig_len == n_len, "%s: sizes", label);
	cr_assert(salt_len == bsig_salt_len(v), "%s: salt length", label);
	cr_assert(pre_len == (bsig_is_randomized(v) ? BSIG_PREFIX_LEN : 0),
		  "%s: prefix length", label);
	if (circl) {
		/* this file states the parameters too: they must agree */
		size_t l1, l2;
		uint8_t *slen = tu_hex_field(vec, "sLen", &l1);
		uint8_t *rnd = tu_hex_field(vec, "is_randomized", &l2);

		cr_assert(l1 == 1 && slen[0] == bsig_salt_len(v), "%s", label);
		cr_assert(l2 == 1 && rnd[0] == bsig_is_randomized(v), "%s", label);
		free(slen);
		free(rnd);
	}
	sk = tu_rsa_from_pqed(vec);
	pk = tu_rsa_public(n, n_len, e, e_len);

	/* issuer: BlindSign reproduces blind_sig */
	cr_assert_eq(bsig_signer_new(sk, 2, &signer), 0, "%s", label);
	cr_assert_eq(bsig_signer_modulus_len(signer), n_len);
	cr_assert_eq(bsig_blind_sign(signer, bm, bm_len, buf, sizeof(buf)), 0,
		     "%s: blind_sign", label);
	assert_bytes(buf, bs, n_len, label, "blind_sig");

	/* client: Prepare */
	cr_assert_eq(bsig_prepare(v, msg, msg_len, pre_len ? prefix : NULL,
				  buf, sizeof(buf), &out_len), 0, "%s", label);
	cr_assert_eq(out_len, prep_len, "%s: prepared length", label);
	assert_bytes(buf, prepared, prep_len, label, "prepared_msg");

	/* EMSA-PSS-ENCODE, where the file has it */
	if (json_object_get(vec, "encoded_msg")) {
		uint8_t *em = tu_hex_field(vec, "encoded_msg", &em_len);

		cr_assert_eq(bsig_pss_encode(prepared, prep_len, salt, salt_len,
					     4096, buf, sizeof(buf), &out_len),
			     0, "%s", label);
		cr_assert_eq(out_len, em_len, "%s: encoded length", label);
		assert_bytes(buf, em, em_len, label, "encoded_msg");
		free(em);
	}

	/* Blind with the vector's salt and r = inv^-1 mod n */
	vector_r(vec, n, n_len, inv, &r, &r_len);
	cr_assert_eq(bsig_blind(pk, v, prepared, prep_len,
				salt_len ? salt : NULL, r, r_len, buf, inv_got,
				sizeof(buf)), 0, "%s: blind", label);
	assert_bytes(buf, bm, n_len, label, "blinded_msg");
	assert_bytes(inv_got, inv, n_len, label, "inv");

	/* Finalize reproduces sig, which verifies; a flipped byte does not */
	cr_assert_eq(bsig_finalize(pk, v, prepared, prep_len, bs, inv, buf,
				   sizeof(buf)), 0, "%s: finalize", label);
	assert_bytes(buf, sig, n_len, label, "sig");
	cr_assert_eq(bsig_verify(pk, v, prepared, prep_len, sig, n_len), 0,
		     "%s: verify", label);
	cr_assert_eq(bsig_verifier_new(pk, v, &vf), 0);
	cr_assert_eq(bsig_verifier_verify(vf, prepared, prep_len, sig, n_len), 0,
		     "%s: verifier", label);
	sig[n_len - 1] ^= 0x01;
	cr_assert_eq(bsig_verify(pk, v, prepared, prep_len, sig, n_len),
		     PP_ERR_VERIFY, "%s: flipped sig accepted", label);
	cr_assert_eq(bsig_verifier_verify(vf, prepared, prep_len, sig, n_len),
		     PP_ERR_VERIFY, "%s: flipped sig accepted", label);
	sig[n_len - 1] ^= 0x01;
	/* the signature is over the prepared message, not the bare one */
	if (bsig_is_randomized(v))
		cr_assert_eq(bsig_verify(pk, v, msg, msg_len, sig, n_len),
			     PP_ERR_VERIFY, "%s", label);

	bsig_verifier_free(vf);
	bsig_signer_free(signer);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(pk);
	free(n);
	free(e);
	free(msg);
	free(prefix);
	free(prepared);
	free(salt);
	free(bm);
	free(bs);
	free(sig);
	free(r);
	json_decref(vecs);
}

/* One test per vector, so a failure names it. */
#define KAT_PER_FILE 4

Test(bsig, kat_a1_pss_randomized_when_rfc_file)
{
	check_vector(RFC_FILE, 0, BSIG_SHA384_PSS_RANDOMIZED);
}

Test(bsig, kat_a2_psszero_randomized_when_rfc_file)
{
	check_vector(RFC_FILE, 1, BSIG_SHA384_PSSZERO_RANDOMIZED);
}

Test(bsig, kat_a3_pss_deterministic_when_rfc_file)
{
	check_vector(RFC_FILE, 2, BSIG_SHA384_PSS_DETERMINISTIC);
}

Test(bsig, kat_a4_psszero_deterministic_when_rfc_file)
{
	check_vector(RFC_FILE, 3, BSIG_SHA384_PSSZERO_DETERMINISTIC);
}

Test(bsig, kat_pss_randomized_when_circl_file)
{
	check_vector(CIRCL_FILE, 0, BSIG_SHA384_PSS_RANDOMIZED);
}

Test(bsig, kat_psszero_randomized_when_circl_file)
{
	check_vector(CIRCL_FILE, 1, BSIG_SHA384_PSSZERO_RANDOMIZED);
}

Test(bsig, kat_pss_deterministic_when_circl_file)
{
	check_vector(CIRCL_FILE, 2, BSIG_SHA384_PSS_DETERMINISTIC);
}

/* differs from A.4 in r, blinded_msg and blind_sig (see vectors/README.md) */
Test(bsig, kat_psszero_deterministic_when_circl_file_other_r)
{
	check_vector(CIRCL_FILE, 3, BSIG_SHA384_PSSZERO_DETERMINISTIC);
}

/* The tests above cover every vector in both files. */
Test(bsig, vector_files_hold_the_expected_count)
{
	const char *files[] = { RFC_FILE, CIRCL_FILE };
	size_t i;

	for (i = 0; i < 2; i++) {
		json_t *vecs = tu_vectors(files[i]);

		cr_assert_eq(json_array_size(vecs), KAT_PER_FILE, "%s", files[i]);
		json_decref(vecs);
	}
}

/* ---- round trips with fresh randomness (2048-bit key, as type 2) ---- */

struct fixture {
	EVP_PKEY *sk, *pk;
	struct bsig_signer *signer;
	uint8_t n[256];
};

static void fixture_open(struct fixture *f)
{
	uint8_t e[8];
	BIGNUM *n, *eb;
	int e_len;

	memset(f, 0, sizeof(*f));
	f->sk = tu_rsa_type2_key();
	n = tu_rsa_bn(f->sk, OSSL_PKEY_PARAM_RSA_N);
	eb = tu_rsa_bn(f->sk, OSSL_PKEY_PARAM_RSA_E);
	cr_assert(BN_bn2binpad(n, f->n, sizeof(f->n)) == sizeof(f->n));
	e_len = BN_bn2bin(eb, e);
	BN_free(n);
	BN_free(eb);
	/* the client side works from the public half only */
	f->pk = tu_rsa_public(f->n, sizeof(f->n), e, (size_t)e_len);
	cr_assert_eq(bsig_signer_new(f->sk, 0, &f->signer), 0);
}

static void fixture_close(struct fixture *f)
{
	bsig_signer_free(f->signer);
	EVP_PKEY_free(f->sk);
	EVP_PKEY_free(f->pk);
}

Test(bsig, round_trip_verifies_when_salt_r_and_prefix_random)
{
	static const uint8_t msg[] = "a message to sign blindly";
	uint8_t prep[sizeof(msg) + BSIG_PREFIX_LEN], b1[256], b2[256];
	uint8_t inv[256], inv2[256], bs[256], sig[256];
	struct fixture f;
	size_t i, prep_len;

	fixture_open(&f);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		enum bsig_variant v = variants[i].v;

		cr_assert_eq(bsig_prepare(v, msg, sizeof(msg), NULL, prep,
					  sizeof(prep), &prep_len), 0);
		cr_assert_eq(bsig_blind(f.pk, v, prep, prep_len, NULL, NULL, 0,
					b1, inv, sizeof(b1)), 0);
		/* a second blinding of the same message looks unrelated */
		cr_assert_eq(bsig_blind(f.pk, v, prep, prep_len, NULL, NULL, 0,
					b2, inv2, sizeof(b2)), 0);
		cr_assert(memcmp(b1, b2, sizeof(b1)) != 0, "%s", variants[i].name);
		cr_assert_eq(bsig_blind_sign(f.signer, b1, sizeof(b1), bs,
					     sizeof(bs)), 0);
		cr_assert_eq(bsig_finalize(f.pk, v, prep, prep_len, bs, inv, sig,
					   sizeof(sig)), 0, "%s", variants[i].name);
		cr_assert_eq(bsig_verify(f.pk, v, prep, prep_len, sig,
					 sizeof(sig)), 0);
		/* the private key works as a verification key too */
		cr_assert_eq(bsig_verify(f.sk, v, prep, prep_len, sig,
					 sizeof(sig)), 0);
	}
	fixture_close(&f);
}

Test(bsig, prepare_adds_prefix_only_when_randomized)
{
	static const uint8_t msg[] = { 1, 2, 3 };
	uint8_t out[64], small[34];
	size_t len = 99;

	cr_assert_eq(bsig_prepare(BSIG_SHA384_PSS_DETERMINISTIC, msg, 3, NULL,
				  out, 3, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert(memcmp(out, msg, 3) == 0);
	cr_assert_eq(bsig_prepare(BSIG_SHA384_PSSZERO_RANDOMIZED, msg, 3, NULL,
				  out, sizeof(out), &len), 0);
	cr_assert_eq(len, 35);
	cr_assert(memcmp(out + 32, msg, 3) == 0);
	cr_assert_eq(bsig_prepare(BSIG_SHA384_PSS_RANDOMIZED, msg, 3, NULL,
				  small, sizeof(small), &len), PP_ERR_BUFFER);
	cr_assert_eq(len, 0);
}

/* ---- issuer-side rejections ---- */

Test(bsig, blind_sign_rejects_blinded_when_length_wrong)
{
	static const size_t lens[] = { 0, 1, 255, 257, 512 };
	uint8_t in[512], out[256];
	struct fixture f;
	size_t i;

	fixture_open(&f);
	memset(in, 0x11, sizeof(in));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(out, 0xaa, sizeof(out));
		cr_assert_eq(bsig_blind_sign(f.signer, in, lens[i], out,
					     sizeof(out)), PP_ERR_LENGTH,
			     "length %zu", lens[i]);
		cr_assert(out[0] == 0 && out[255] == 0, "output not cleared");
	}
	cr_assert_eq(bsig_blind_sign(f.signer, in, 256, out, 255), PP_ERR_BUFFER);
	fixture_close(&f);
}

Test(bsig, blind_sign_rejects_blinded_when_not_below_n)
{
	uint8_t in[256], out[256];
	struct fixture f;
	size_t i;

	fixture_open(&f);
	/* n itself, n + 1 (n is odd: no carry), and 2^2048 - 1 */
	for (i = 0; i < 3; i++) {
		memcpy(in, f.n, sizeof(in));
		if (i == 1)
			in[255]++;
		if (i == 2)
			memset(in, 0xff, sizeof(in));
		memset(out, 0xaa, sizeof(out));
		cr_assert_eq(bsig_blind_sign(f.signer, in, sizeof(in), out,
					     sizeof(out)), PP_ERR_MSG_RANGE,
			     "case %zu", i);
		cr_assert(out[0] == 0 && out[255] == 0);
	}
	/* n - 1 is in range */
	memcpy(in, f.n, sizeof(in));
	in[255]--;
	cr_assert_eq(bsig_blind_sign(f.signer, in, sizeof(in), out, sizeof(out)), 0);
	fixture_close(&f);
}

Test(bsig, signer_new_rejects_key_when_1024_bits)
{
	EVP_PKEY *small = EVP_RSA_gen(1024);
	struct bsig_signer *s = (struct bsig_signer *)1;
	uint8_t sig[128] = { 0 };

	cr_assert(small != NULL);
	cr_assert_eq(bsig_signer_new(small, 1, &s), PP_ERR_KEY);
	cr_assert_null(s);
	cr_assert_eq(bsig_verify(small, BSIG_SHA384_PSS_DETERMINISTIC,
				 sig, 1, sig, sizeof(sig)), PP_ERR_KEY);
	EVP_PKEY_free(small);
}

Test(bsig, signer_new_rejects_key_when_e_even_public_only_or_no_factors)
{
	struct bsig_signer *s = NULL;
	uint8_t blinded[256], inv[256];
	struct fixture f;
	BIGNUM *n, *e, *d;
	EVP_PKEY *even, *even_pub, *no_crt;

	fixture_open(&f);
	n = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_N);
	d = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_D);
	e = BN_new();
	cr_assert(e && BN_set_word(e, 65538));
	even = tu_rsa_from_bn(n, e, d, NULL, NULL, NULL, NULL, NULL);
	even_pub = tu_rsa_from_bn(n, e, NULL, NULL, NULL, NULL, NULL, NULL);
	cr_assert_eq(bsig_signer_new(even, 1, &s), PP_ERR_KEY);
	cr_assert_eq(bsig_blind(even_pub, BSIG_SHA384_PSS_DETERMINISTIC,
				blinded, 1, NULL, NULL, 0, blinded, inv,
				sizeof(blinded)), PP_ERR_KEY);
	cr_assert_eq(bsig_signer_new(f.pk, 1, &s), PP_ERR_KEY);
	cr_assert_null(s);
	/* n, e, d alone: no CRT, refused */
	BN_free(e);
	e = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_E);
	no_crt = tu_rsa_from_bn(n, e, d, NULL, NULL, NULL, NULL, NULL);
	cr_assert_eq(bsig_signer_new(no_crt, 1, &s), PP_ERR_KEY);
	cr_assert_null(s);
	cr_assert_eq(ERR_peek_error(), 0, "error queue left behind");
	EVP_PKEY_free(no_crt);
	EVP_PKEY_free(even);
	EVP_PKEY_free(even_pub);
	BN_free(n);
	BN_clear_free(d);
	BN_free(e);
	fixture_close(&f);
}

/* A fault in the private operation must not leave BlindSign: with wrong CRT
 * exponent and wrong d, OpenSSL's own fallback gives a wrong value too, and
 * the mandatory s^e == m check has to catch it. */
Test(bsig, blind_sign_fails_closed_when_private_op_faulty)
{
	BIGNUM *n, *e, *d, *p, *q, *dp, *dq, *qi;
	struct bsig_signer *s = NULL;
	uint8_t in[256], out[256];
	struct fixture f;
	EVP_PKEY *bad;

	fixture_open(&f);
	n = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_N);
	e = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_E);
	d = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_D);
	p = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_FACTOR1);
	q = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_FACTOR2);
	dp = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_EXPONENT1);
	dq = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_EXPONENT2);
	qi = tu_rsa_bn(f.sk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
	cr_assert(BN_add_word(dp, 2) && BN_add_word(d, 2));
	bad = tu_rsa_from_bn(n, e, d, p, q, dp, dq, qi);
	cr_assert_eq(bsig_signer_new(bad, 1, &s), 0);
	memset(in, 0x42, sizeof(in));
	memset(out, 0xaa, sizeof(out));
	cr_assert_eq(bsig_blind_sign(s, in, sizeof(in), out, sizeof(out)),
		     PP_ERR_SIGN_CHECK);
	cr_assert(memcmp(out, (uint8_t[256]){ 0 }, sizeof(out)) == 0,
		  "faulty signature left in the output");
	cr_assert_eq(ERR_peek_error(), 0, "error queue left behind");
	/* the good key signs the same input */
	cr_assert_eq(bsig_blind_sign(f.signer, in, sizeof(in), out, sizeof(out)), 0);
	bsig_signer_free(s);
	EVP_PKEY_free(bad);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_clear_free(qi);
	fixture_close(&f);
}

/* ---- verification and finalize rejections ---- */

/* A signature made here over msg with the type-2 key. */
static void sign_fresh(struct fixture *f, enum bsig_variant v,
		       const uint8_t *msg, size_t len, uint8_t sig[256],
		       uint8_t bs[256], uint8_t inv[256])
{
	uint8_t blinded[256];

	cr_assert_eq(bsig_blind(f->pk, v, msg, len, NULL, NULL, 0, blinded, inv,
				256), 0);
	cr_assert_eq(bsig_blind_sign(f->signer, blinded, 256, bs, 256), 0);
	cr_assert_eq(bsig_finalize(f->pk, v, msg, len, bs, inv, sig, 256), 0);
}

Test(bsig, verify_rejects_sig_when_tampered)
{
	static const size_t pos[] = { 0, 1, 100, 200, 254, 255 };
	static const uint8_t msg[] = "token input";
	const enum bsig_variant v = BSIG_SHA384_PSS_DETERMINISTIC;
	uint8_t sig[256], bs[256], inv[256];
	struct bsig_verifier *vf = NULL;
	struct fixture f;
	size_t i;

	fixture_open(&f);
	sign_fresh(&f, v, msg, sizeof(msg), sig, bs, inv);
	cr_assert_eq(bsig_verifier_new(f.pk, v, &vf), 0);
	cr_assert_eq(bsig_verifier_verify(vf, msg, sizeof(msg), sig, 256), 0);
	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		int want;

		sig[pos[i]] ^= 0x04;
		/* a flip in the top byte may push the value past n */
		want = memcmp(sig, f.n, 256) >= 0 ? PP_ERR_MSG_RANGE :
						    PP_ERR_VERIFY;
		cr_assert_eq(bsig_verify(f.pk, v, msg, sizeof(msg), sig, 256),
			     want, "flip at %zu", pos[i]);
		cr_assert_eq(bsig_verifier_verify(vf, msg, sizeof(msg), sig, 256),
			     want, "flip at %zu", pos[i]);
		sig[pos[i]] ^= 0x04;
	}
	/* right signature, other message; right signature, other variant */
	cr_assert_eq(bsig_verifier_verify(vf, msg, sizeof(msg) - 1, sig, 256),
		     PP_ERR_VERIFY);
	cr_assert_eq(bsig_verify(f.pk, BSIG_SHA384_PSSZERO_DETERMINISTIC, msg,
				 sizeof(msg), sig, 256), PP_ERR_VERIFY);
	cr_assert_eq(ERR_peek_error(), 0, "error queue left behind");
	bsig_verifier_free(vf);
	fixture_close(&f);
}

Test(bsig, verify_rejects_sig_when_not_below_n_or_wrong_length)
{
	static const uint8_t msg[] = "m";
	const enum bsig_variant v = BSIG_SHA384_PSS_DETERMINISTIC;
	uint8_t sig[257], bs[256], inv[256], big[256];
	struct bsig_verifier *vf = NULL;
	struct fixture f;

	fixture_open(&f);
	sign_fresh(&f, v, msg, sizeof(msg), sig, bs, inv);
	cr_assert_eq(bsig_verifier_new(f.pk, v, &vf), 0);
	cr_assert_eq(bsig_verify(f.pk, v, msg, sizeof(msg), sig, 255), PP_ERR_LENGTH);
	cr_assert_eq(bsig_verify(f.pk, v, msg, sizeof(msg), sig, 257), PP_ERR_LENGTH);
	cr_assert_eq(bsig_verifier_verify(vf, msg, sizeof(msg), sig, 0), PP_ERR_LENGTH);
	cr_assert_eq(bsig_verify(f.pk, v, msg, sizeof(msg), f.n, 256),
		     PP_ERR_MSG_RANGE);
	cr_assert_eq(bsig_verifier_verify(vf, msg, sizeof(msg), f.n, 256),
		     PP_ERR_MSG_RANGE);
	memset(big, 0xff, sizeof(big));
	cr_assert_eq(bsig_verify(f.pk, v, msg, sizeof(msg), big, 256),
		     PP_ERR_MSG_RANGE);
	bsig_verifier_free(vf);
	fixture_close(&f);
}

Test(bsig, finalize_rejects_blind_sig_when_wrong)
{
	static const uint8_t msg[] = "finalize me";
	const enum bsig_variant v = BSIG_SHA384_PSS_RANDOMIZED;
	uint8_t sig[256], bs[256], inv[256], other_bs[256], other_inv[256];
	struct fixture f;

	fixture_open(&f);
	sign_fresh(&f, v, msg, sizeof(msg), sig, bs, inv);
	sign_fresh(&f, v, msg, sizeof(msg), sig, other_bs, other_inv);
	/* a flipped byte */
	bs[17] ^= 0x80;
	memset(sig, 0xaa, sizeof(sig));
	cr_assert_eq(bsig_finalize(f.pk, v, msg, sizeof(msg), bs, inv, sig,
				   sizeof(sig)), PP_ERR_VERIFY);
	cr_assert(memcmp(sig, (uint8_t[256]){ 0 }, 256) == 0, "sig not cleared");
	bs[17] ^= 0x80;
	/* the answer to another request */
	cr_assert_eq(bsig_finalize(f.pk, v, msg, sizeof(msg), other_bs, inv,
				   sig, sizeof(sig)), PP_ERR_VERIFY);
	/* a blind signature >= n */
	cr_assert_eq(bsig_finalize(f.pk, v, msg, sizeof(msg), f.n, inv, sig,
				   sizeof(sig)), PP_ERR_VERIFY);
	/* the right pair still works */
	cr_assert_eq(bsig_finalize(f.pk, v, msg, sizeof(msg), bs, inv, sig,
				   sizeof(sig)), 0);
	cr_assert_eq(ERR_peek_error(), 0, "error queue left behind");
	fixture_close(&f);
}

Test(bsig, blind_rejects_r_when_zero_or_not_below_n)
{
	static const uint8_t msg[] = "m", zero[1] = { 0 };
	uint8_t blinded[256], inv[256];
	struct fixture f;

	fixture_open(&f);
	cr_assert_eq(bsig_blind(f.pk, BSIG_SHA384_PSS_DETERMINISTIC, msg, 1,
				NULL, zero, 1, blinded, inv, 256), PP_ERR_ARG);
	cr_assert_eq(bsig_blind(f.pk, BSIG_SHA384_PSS_DETERMINISTIC, msg, 1,
				NULL, f.n, 256, blinded, inv, 256), PP_ERR_ARG);
	cr_assert_eq(bsig_blind(f.pk, BSIG_SHA384_PSS_DETERMINISTIC, msg, 1,
				NULL, NULL, 0, blinded, inv, 255), PP_ERR_BUFFER);
	fixture_close(&f);
}

Test(bsig, pss_encode_rejects_modulus_when_too_small)
{
	uint8_t out[BSIG_MAX_MODULUS], salt[BSIG_SALT_LEN] = { 0 };
	size_t len = 1;

	/* emLen must hold hash (48) + salt (48) + 2 bytes */
	cr_assert_eq(bsig_pss_encode(salt, 0, salt, 48, 8 * 97 + 1, out,
				     sizeof(out), &len), PP_ERR_ENCODE);
	cr_assert_eq(len, 0);
	cr_assert_eq(bsig_pss_encode(salt, 0, salt, 48, 8 * 98 + 1, out,
				     sizeof(out), &len), 0);
	cr_assert_eq(len, 98);
	cr_assert_eq(bsig_pss_encode(salt, 0, salt, 48, 2048, out, 100, &len),
		     PP_ERR_BUFFER);
}

/* ---- many threads, one signer ---- */

#define CT_THREADS 8
#define CT_PER_THREAD 12

struct ct_job {
	struct bsig_signer *signer;
	struct bsig_verifier *vf;
	const uint8_t (*blinded)[256];
	uint8_t (*sigs)[256];
	const uint8_t (*final)[256]; /* verifier phase input */
	const uint8_t (*msgs)[16];
	int rc[CT_PER_THREAD];
};

static void *ct_sign(void *arg)
{
	struct ct_job *j = arg;
	int i;

	for (i = 0; i < CT_PER_THREAD; i++)
		j->rc[i] = bsig_blind_sign(j->signer, j->blinded[i], 256,
					   j->sigs[i], 256);
	return NULL;
}

static void *ct_verify(void *arg)
{
	struct ct_job *j = arg;
	int i;

	for (i = 0; i < CT_PER_THREAD; i++)
		j->rc[i] = bsig_verifier_verify(j->vf, j->msgs[i], 16,
						j->final[i], 256);
	return NULL;
}

Test(bsig, blind_sign_correct_when_threads_share_signer)
{
	static uint8_t msgs[CT_THREADS * CT_PER_THREAD][16];
	static uint8_t blinded[CT_THREADS * CT_PER_THREAD][256];
	static uint8_t invs[CT_THREADS * CT_PER_THREAD][256];
	static uint8_t bsigs[CT_THREADS * CT_PER_THREAD][256];
	static uint8_t sigs[CT_THREADS * CT_PER_THREAD][256];
	const enum bsig_variant v = BSIG_SHA384_PSS_DETERMINISTIC;
	struct ct_job jobs[CT_THREADS];
	pthread_t th[CT_THREADS];
	struct bsig_signer *s = NULL;
	struct bsig_verifier *vf = NULL;
	struct fixture f;
	size_t t, i, k;

	fixture_open(&f);
	/* fewer slots than threads: both the trylock and the wait path run */
	cr_assert_eq(bsig_signer_new(f.sk, 3, &s), 0);
	cr_assert_eq(bsig_verifier_new(f.pk, v, &vf), 0);
	for (k = 0; k < CT_THREADS * CT_PER_THREAD; k++) {
		cr_assert(RAND_bytes(msgs[k], 16) == 1);
		cr_assert_eq(bsig_blind(f.pk, v, msgs[k], 16, NULL, NULL, 0,
					blinded[k], invs[k], 256), 0);
	}
	for (t = 0; t < CT_THREADS; t++) {
		memset(&jobs[t], 0, sizeof(jobs[t]));
		jobs[t].signer = s;
		jobs[t].vf = vf;
		jobs[t].blinded = (const uint8_t(*)[256])blinded[t * CT_PER_THREAD];
		jobs[t].sigs = &bsigs[t * CT_PER_THREAD];
		jobs[t].final = (const uint8_t(*)[256])sigs[t * CT_PER_THREAD];
		jobs[t].msgs = (const uint8_t(*)[16])msgs[t * CT_PER_THREAD];
		cr_assert(pthread_create(&th[t], NULL, ct_sign, &jobs[t]) == 0);
	}
	for (t = 0; t < CT_THREADS; t++)
		cr_assert(pthread_join(th[t], NULL) == 0);
	for (t = 0; t < CT_THREADS; t++) {
		for (i = 0; i < CT_PER_THREAD; i++) {
			k = t * CT_PER_THREAD + i;
			cr_assert_eq(jobs[t].rc[i], 0, "thread %zu job %zu", t, i);
			cr_assert_eq(bsig_finalize(f.pk, v, msgs[k], 16, bsigs[k],
						   invs[k], sigs[k], 256), 0,
				     "thread %zu job %zu: does not verify", t, i);
		}
	}
	/* and the shared verifier, from all threads at once */
	for (t = 0; t < CT_THREADS; t++)
		cr_assert(pthread_create(&th[t], NULL, ct_verify, &jobs[t]) == 0);
	for (t = 0; t < CT_THREADS; t++)
		cr_assert(pthread_join(th[t], NULL) == 0);
	for (t = 0; t < CT_THREADS; t++)
		for (i = 0; i < CT_PER_THREAD; i++)
			cr_assert_eq(jobs[t].rc[i], 0, "verify %zu/%zu", t, i);
	bsig_verifier_free(vf);
	bsig_signer_free(s);
	fixture_close(&f);
}
