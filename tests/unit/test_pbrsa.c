/* Partially blind RSA (token type 0xDA7A): the draft's four vectors byte for
 * byte, the privacypass-ts 0xDA7A issuance vector, safe-prime keys, the
 * derived-key cache (hits, eviction, threads) and the error paths. */
#include "crypto/ext.h"
#include "crypto/pbrsa.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "tu.h"
#include "tu_keys.h"
#include "tu_rsa.h"

#include <criterion/criterion.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

TestSuite(pbrsa, .fini = tu_leak_check);

#define DRAFT_FILE "draft-irtf-cfrg-partially-blind-rsa-vectors.json"
#define DA7A_FILE "unofficial-privacypass-ts-type-da7a-vector.json"
#define FIXTURE_KEY "keys/pbrsa-safe2048.pem"

static void assert_bytes(const uint8_t *got, const uint8_t *want, size_t len,
			 const char *label, const char *what)
{
	size_t i;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	cr_assert(i == len, "%s: %s differs at byte %zu of %zu", label, what,
		  i, len);
}

static uint8_t *field(json_t *vec, const char *name, size_t *len)
{
	return tu_hex_field(vec, name, len);
}

/* One draft vector, every intermediate value compared. */
static void draft_vector(json_t *vec, size_t idx)
{
	uint8_t ep[PBRSA_EPRIME_LEN], blinded[256], inv[256], bsig[256];
	uint8_t sig[256];
	size_t msg_len, info_len, salt_len, l;
	uint8_t *msg = field(vec, "msg", &msg_len);
	uint8_t *info = field(vec, "info", &info_len);
	uint8_t *want_ep = field(vec, "eprime", &l);
	uint8_t *r, *salt, *want;
	struct pbrsa_signer *s = NULL;
	EVP_PKEY *sk = tu_rsa_from_pqed(vec);
	char label[32];

	snprintf(label, sizeof(label), "vector %zu", idx + 1);
	cr_assert_eq(l, PBRSA_EPRIME_LEN, "%s: eprime length", label);
	cr_assert_eq(pbrsa_check_safe_primes(sk), 0, "%s: safe primes", label);
	cr_assert_eq(pbrsa_eprime(sk, info, info_len, ep), 0);
	assert_bytes(ep, want_ep, l, label, "eprime");

	r = field(vec, "r", &l);
	salt = field(vec, "salt", &salt_len);
	cr_assert_eq(salt_len, PBRSA_SALT_LEN);
	cr_assert_eq(pbrsa_blind(sk, msg, msg_len, info, info_len, salt, r, l,
				 blinded, inv, sizeof(blinded)), 0,
		     "%s: blind", label);
	want = field(vec, "blind_msg", &l);
	cr_assert_eq(l, 256);
	assert_bytes(blinded, want, 256, label, "blind_msg");
	free(want);

	cr_assert_eq(pbrsa_signer_new(sk, 0, 2, &s), 0);
	cr_assert_eq(pbrsa_blind_sign(s, blinded, 256, info, info_len, bsig,
				      sizeof(bsig)), 0, "%s: blind sign", label);
	want = field(vec, "blind_sig", &l);
	assert_bytes(bsig, want, 256, label, "blind_sig");
	free(want);

	cr_assert_eq(pbrsa_finalize(sk, msg, msg_len, info, info_len, bsig, inv,
				    sig, sizeof(sig)), 0, "%s: finalize", label);
	want = field(vec, "sig", &l);
	assert_bytes(sig, want, 256, label, "sig");
	free(want);
	cr_assert_eq(pbrsa_verify(sk, msg, msg_len, info, info_len, sig, 256),
		     0, "%s: verify", label);
	/* the metadata is bound: another info does not verify */
	cr_assert_eq(pbrsa_verify(sk, msg, msg_len, (const uint8_t *)"x", 1,
				  sig, 256), PP_ERR_VERIFY, "%s", label);

	pbrsa_signer_free(s);
	EVP_PKEY_free(sk);
	free(msg);
	free(info);
	free(want_ep);
	free(r);
	free(salt);
}

Test(pbrsa, draft_vectors_match_byte_for_byte)
{
	json_t *vecs = tu_vectors(DRAFT_FILE);
	size_t i;

	cr_assert_eq(json_array_size(vecs), 4, "the draft has 4 vectors");
	for (i = 0; i < json_array_size(vecs); i++)
		draft_vector(json_array_get(vecs, i), i);
	json_decref(vecs);
}

Test(pbrsa, da7a_vector_request_gives_response_and_token_verifies)
{
	json_t *vecs = tu_vectors(DA7A_FILE), *v;
	uint8_t id[SPKI_KEY_ID_LEN], blinded[256], inv[256], bsig[256];
	uint8_t sig[256];
	size_t req_len, resp_len, tok_len, ext_len, pks_len, l;
	uint8_t *req, *resp, *tok, *exts, *pks, *salt, *blind;
	struct ext_token_request tr;
	struct ext_token t;
	struct pbrsa_signer *s = NULL;
	EVP_PKEY *sk, *pk = NULL;

	cr_assert_eq(json_array_size(vecs), 1);
	v = json_array_get(vecs, 0);
	sk = tu_rsa_from_pem_hex(v, "skS");
	req = field(v, "token_request", &req_len);
	resp = field(v, "token_response", &resp_len);
	tok = field(v, "token", &tok_len);
	exts = field(v, "extensions", &ext_len);
	pks = field(v, "pkS", &pks_len);

	/* issuer: ExtendedTokenRequest -> TokenResponse */
	cr_assert_eq(ext_token_request_decode(req, req_len, 0, &tr), 0);
	cr_assert_eq(tr.extensions_len, ext_len);
	assert_bytes(tr.extensions, exts, ext_len, "da7a", "extensions");
	cr_assert_eq(pbrsa_check_safe_primes(sk), 0);
	cr_assert_eq(pbrsa_signer_new(sk, 0, 0, &s), 0);
	cr_assert_eq(pbrsa_blind_sign(s, tr.blinded_msg, 256, tr.extensions,
				      tr.extensions_len, bsig, sizeof(bsig)), 0);
	cr_assert_eq(resp_len, 256);
	assert_bytes(bsig, resp, 256, "da7a", "token_response");

	/* the key id is SHA-256 of the RFC 9578 key form */
	cr_assert_eq(spki_decode(pks, pks_len, &pk), 0);
	spki_key_id(pks, pks_len, id);
	cr_assert_eq(tr.truncated_key_id, spki_truncated_id(id));

	/* origin: the token verifies under its extensions, and only them */
	cr_assert_eq(ext_token_decode(tok, tok_len, &t), 0);
	assert_bytes(t.token_key_id, id, 32, "da7a", "token_key_id");
	cr_assert_eq(pbrsa_verify(pk, t.input, EXT_TOKEN_INPUT_LEN, exts,
				  ext_len, t.authenticator, 256), 0);
	cr_assert_eq(pbrsa_verify(pk, t.input, EXT_TOKEN_INPUT_LEN, exts + 2,
				  ext_len - 2, t.authenticator, 256),
		     PP_ERR_VERIFY, "info is the Extensions with its length");

	/* client: the token input blinded with the vector's r and salt gives
	 * the request, and finalizing the response gives the token */
	salt = field(v, "salt", &l);
	blind = field(v, "blind", &l);
	cr_assert_eq(pbrsa_blind(pk, t.input, EXT_TOKEN_INPUT_LEN, exts,
				 ext_len, salt, blind, l, blinded, inv, 256), 0);
	assert_bytes(blinded, tr.blinded_msg, 256, "da7a", "blinded_msg");
	cr_assert_eq(pbrsa_finalize(pk, t.input, EXT_TOKEN_INPUT_LEN, exts,
				    ext_len, bsig, inv, sig, 256), 0);
	assert_bytes(sig, t.authenticator, 256, "da7a", "authenticator");

	pbrsa_signer_free(s);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(pk);
	free(req);
	free(resp);
	free(tok);
	free(exts);
	free(pks);
	free(salt);
	free(blind);
	json_decref(vecs);
}

Test(pbrsa, safe_prime_check_accepts_fixture_and_refuses_ordinary_keys)
{
	EVP_PKEY *fix = tu_keys_pem(FIXTURE_KEY);
	EVP_PKEY *plain = tu_keys_pem("keys/tid37-a.pem");
	EVP_PKEY *fresh = EVP_RSA_gen(2048);
	struct pbrsa_signer *s = (struct pbrsa_signer *)1;
	uint8_t n[256], e[3] = { 1, 0, 1 };
	BIGNUM *nb = tu_rsa_bn(fix, "n");
	EVP_PKEY *pub;

	cr_assert(fresh != NULL);
	cr_assert_eq(pbrsa_check_safe_primes(fix), 0);
	cr_assert_eq(pbrsa_check_safe_primes(plain), PP_ERR_KEY);
	cr_assert_eq(pbrsa_check_safe_primes(fresh), PP_ERR_KEY);
	cr_assert_eq(pbrsa_signer_new(plain, 0, 0, &s), PP_ERR_KEY);
	cr_assert_null(s);
	/* a public key has no primes to check */
	cr_assert(BN_bn2binpad(nb, n, 256) == 256);
	pub = tu_rsa_public(n, 256, e, 3);
	cr_assert_eq(pbrsa_check_safe_primes(pub), PP_ERR_KEY);
	cr_assert_eq(pbrsa_signer_new(pub, 0, 0, &s), PP_ERR_KEY);
	cr_assert_eq(pbrsa_check_safe_primes(NULL), PP_ERR_ARG);
	EVP_PKEY_free(pub);
	cr_assert_eq(pbrsa_generate(1024, NULL, NULL, &pub), PP_ERR_ARG);
	cr_assert_null(pub);
	BN_free(nb);
	EVP_PKEY_free(fix);
	EVP_PKEY_free(plain);
	EVP_PKEY_free(fresh);
}

/* ---- the derived-key cache ---- */

struct fixture {
	EVP_PKEY *sk;
	struct pbrsa_signer *s;
};

static void fixture_open(struct fixture *f, unsigned cap, unsigned slots)
{
	f->sk = tu_keys_pem(FIXTURE_KEY);
	f->s = NULL;
	cr_assert_eq(pbrsa_signer_new(f->sk, cap, slots, &f->s), 0);
}

static void fixture_close(struct fixture *f)
{
	pbrsa_signer_free(f->s);
	EVP_PKEY_free(f->sk);
}

/* A full round: blind msg under info, sign, finalize; 0 when it verifies. */
static int round_trip(struct fixture *f, const uint8_t *info, size_t info_len,
		      uint8_t bsig_out[256])
{
	uint8_t msg[EXT_TOKEN_INPUT_LEN], blinded[256], inv[256], sig[256];
	int rc;

	cr_assert(RAND_bytes(msg, sizeof(msg)) == 1);
	cr_assert_eq(pbrsa_blind(f->sk, msg, sizeof(msg), info, info_len, NULL,
				 NULL, 0, blinded, inv, 256), 0);
	rc = pbrsa_blind_sign(f->s, blinded, 256, info, info_len, bsig_out,
			      256);
	if (rc == 0)
		rc = pbrsa_finalize(f->sk, msg, sizeof(msg), info, info_len,
				    bsig_out, inv, sig, 256);
	return rc;
}

Test(pbrsa, cache_derives_once_when_same_info_twice)
{
	struct pbrsa_stats st;
	struct fixture f;
	uint8_t bsig[256];

	fixture_open(&f, 0, 1);
	cr_assert_eq(round_trip(&f, (const uint8_t *)"a", 1, bsig), 0);
	cr_assert_eq(round_trip(&f, (const uint8_t *)"a", 1, bsig), 0);
	pbrsa_signer_stats(f.s, &st);
	cr_assert_eq(st.derivations, 1);
	cr_assert_eq(st.hits, 1);
	cr_assert_eq(st.entries, 1);
	/* empty info is a value of its own */
	cr_assert_eq(round_trip(&f, NULL, 0, bsig), 0);
	pbrsa_signer_stats(f.s, &st);
	cr_assert_eq(st.derivations, 2);
	fixture_close(&f);
}

Test(pbrsa, cache_evicts_and_rederives_when_full)
{
	static const char *infos[] = { "one", "two", "three" };
	struct pbrsa_stats st;
	struct fixture f;
	uint8_t bsig[256];
	size_t i;

	fixture_open(&f, 2, 1);
	for (i = 0; i < 3; i++)
		cr_assert_eq(round_trip(&f, (const uint8_t *)infos[i],
					strlen(infos[i]), bsig), 0);
	pbrsa_signer_stats(f.s, &st);
	cr_assert_eq(st.derivations, 3);
	cr_assert_eq(st.evictions, 1);
	cr_assert_eq(st.entries, 2);
	/* the clock passed over both, so "one" went: it is derived again,
	 * and the signature is still right */
	cr_assert_eq(round_trip(&f, (const uint8_t *)"one", 3, bsig), 0);
	pbrsa_signer_stats(f.s, &st);
	cr_assert_eq(st.derivations, 4);
	cr_assert_eq(st.evictions, 2);
	cr_assert_eq(st.hits, 0);
	fixture_close(&f);
}

#define CT_THREADS 4
#define CT_ROUNDS 12

struct ct_job {
	struct fixture *f;
	unsigned seed;
	int failures;
};

static const char *ct_infos[] = { "red", "green", "blue", "", "cyan" };

static void *ct_run(void *arg)
{
	struct ct_job *j = arg;
	uint8_t msg[32], blinded[256], inv[256], bsig[256], sig[256];
	const char *info;
	int i;

	for (i = 0; i < CT_ROUNDS; i++) {
		info = ct_infos[(j->seed + (unsigned)i) % 5];
		if (RAND_bytes(msg, sizeof(msg)) != 1 ||
		    pbrsa_blind(j->f->sk, msg, sizeof(msg),
				(const uint8_t *)info, strlen(info), NULL, NULL,
				0, blinded, inv, 256) != 0 ||
		    pbrsa_blind_sign(j->f->s, blinded, 256,
				     (const uint8_t *)info, strlen(info), bsig,
				     256) != 0 ||
		    pbrsa_finalize(j->f->sk, msg, sizeof(msg),
				   (const uint8_t *)info, strlen(info), bsig,
				   inv, sig, 256) != 0)
			j->failures++;
	}
	return NULL;
}

Test(pbrsa, blind_sign_correct_when_threads_share_signer_and_cache_churns)
{
	struct ct_job jobs[CT_THREADS];
	pthread_t th[CT_THREADS];
	struct pbrsa_stats st;
	struct fixture f;
	size_t t;

	/* 5 infos in a cache of 2, 2 slots per key for 4 threads: eviction
	 * while keys are in use, slot growth and the wait path all run */
	fixture_open(&f, 2, 2);
	for (t = 0; t < CT_THREADS; t++) {
		jobs[t] = (struct ct_job){ &f, (unsigned)t, 0 };
		cr_assert(pthread_create(&th[t], NULL, ct_run, &jobs[t]) == 0);
	}
	for (t = 0; t < CT_THREADS; t++)
		cr_assert(pthread_join(th[t], NULL) == 0);
	for (t = 0; t < CT_THREADS; t++)
		cr_assert_eq(jobs[t].failures, 0, "thread %zu", t);
	pbrsa_signer_stats(f.s, &st);
	cr_assert_eq(st.hits + st.derivations >= CT_THREADS * CT_ROUNDS, 1);
	cr_assert(st.entries <= 2);
	fixture_close(&f);
}

/* ---- errors ---- */

Test(pbrsa, blind_sign_rejects_when_length_range_or_buffer_wrong)
{
	uint8_t m[257], out[256];
	struct fixture f;
	BIGNUM *n;

	fixture_open(&f, 0, 1);
	n = tu_rsa_bn(f.sk, "n");
	memset(out, 0xaa, sizeof(out));
	memset(m, 0x01, sizeof(m));
	cr_assert_eq(pbrsa_blind_sign(f.s, m, 255, NULL, 0, out, 256),
		     PP_ERR_LENGTH);
	cr_assert_eq(out[0], 0, "out is cleared on failure");
	cr_assert_eq(pbrsa_blind_sign(f.s, m, 257, NULL, 0, out, 256),
		     PP_ERR_LENGTH);
	cr_assert_eq(pbrsa_blind_sign(f.s, m, 256, NULL, 0, out, 255),
		     PP_ERR_BUFFER);
	cr_assert_eq(pbrsa_blind_sign(f.s, m, 256, NULL, 1, out, 256),
		     PP_ERR_ARG);
	cr_assert_eq(pbrsa_blind_sign(f.s, m, 256, m, PBRSA_MAX_INFO + 1, out,
				      256), PP_ERR_LENGTH);
	/* m = n and m = 0xff..ff are not below n */
	cr_assert(BN_bn2binpad(n, m, 256) == 256);
	cr_assert_eq(pbrsa_blind_sign(f.s, m, 256, NULL, 0, out, 256),
		     PP_ERR_MSG_RANGE);
	memset(m, 0xff, 256);
	cr_assert_eq(pbrsa_blind_sign(f.s, m, 256, NULL, 0, out, 256),
		     PP_ERR_MSG_RANGE);
	BN_free(n);
	fixture_close(&f);
}

Test(pbrsa, verify_rejects_when_tampered_or_wrong_size)
{
	uint8_t msg[16] = "token input", bsig[256], blinded[256], inv[256];
	uint8_t sig[256];
	struct fixture f;
	EVP_PKEY *small = EVP_RSA_gen(1024);

	fixture_open(&f, 0, 1);
	cr_assert_eq(pbrsa_blind(f.sk, msg, sizeof(msg), msg, 4, NULL, NULL, 0,
				 blinded, inv, 256), 0);
	cr_assert_eq(pbrsa_blind_sign(f.s, blinded, 256, msg, 4, bsig, 256), 0);
	cr_assert_eq(pbrsa_finalize(f.sk, msg, sizeof(msg), msg, 4, bsig, inv,
				    sig, 256), 0);
	cr_assert_eq(pbrsa_verify(f.sk, msg, sizeof(msg), msg, 4, sig, 256), 0);
	cr_assert_eq(pbrsa_verify(f.sk, msg, sizeof(msg), msg, 4, sig, 255),
		     PP_ERR_LENGTH);
	cr_assert_eq(pbrsa_verify(f.sk, msg, sizeof(msg) - 1, msg, 4, sig, 256),
		     PP_ERR_VERIFY);
	sig[100] ^= 1;
	cr_assert_eq(pbrsa_verify(f.sk, msg, sizeof(msg), msg, 4, sig, 256),
		     PP_ERR_VERIFY);
	/* signed under another info: the finalize check refuses it */
	cr_assert_eq(pbrsa_finalize(f.sk, msg, sizeof(msg), msg, 3, bsig, inv,
				    sig, 256), PP_ERR_VERIFY);
	cr_assert_eq(sig[0] | sig[255], 0, "sig is cleared on failure");
	/* only 2048-bit keys */
	cr_assert(small != NULL);
	cr_assert_eq(pbrsa_verify(small, msg, sizeof(msg), msg, 4, sig, 128),
		     PP_ERR_KEY);
	cr_assert_eq(pbrsa_eprime(small, msg, 4, inv), PP_ERR_KEY);
	EVP_PKEY_free(small);
	fixture_close(&f);
}

Test(pbrsa, eprime_is_odd_and_below_2_1022_for_any_info)
{
	uint8_t ep[PBRSA_EPRIME_LEN], info[64];
	EVP_PKEY *sk = tu_keys_pem(FIXTURE_KEY);
	size_t i;

	for (i = 0; i < 32; i++) {
		cr_assert(RAND_bytes(info, sizeof(info)) == 1);
		cr_assert_eq(pbrsa_eprime(sk, info, i * 2, ep), 0);
		cr_assert_eq(ep[0] & 0xc0, 0);
		cr_assert_eq(ep[PBRSA_EPRIME_LEN - 1] & 1, 1);
	}
	EVP_PKEY_free(sk);
}
