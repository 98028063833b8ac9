/* The redemption service with real tokens: keys generated here, tokens made
 * by the client-side blind RSA functions and signed by the issuer-side
 * signer, a key-set snapshot holding the key, and a real spent store. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/bsig.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "crypto/rsakey.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "issuer/redemption.h"
#include "issuer/service.h"
#include "issuer/spent.h"
#include "keys/keyset.h"
#include "keys/maintain.h"
#include "tu.h"
#include "tu_redis.h"
#include "tu_spent.h"

/* An issuer key as the test uses it: the client's public key and the
 * issuer's signer. */
struct issuer_key {
	EVP_PKEY *sk;             /* only for keys made outside the store */
	EVP_PKEY *pk;             /* the public key as a client gets it */
	struct tt_key *signer;
	int own_signer;           /* signer made here, not the key set's */
	uint8_t spki[SPKI_MAX_LEN];
	size_t spki_len;
	uint8_t id[32];
};

static struct ks_store *t_ks_store;  /* <t_dir>/keys */
static struct ks_keyset *t_ks;       /* snapshot with one active key */
static struct issuer_key t_key;      /* that key */
static struct spent_store *t_store;  /* <t_dir>/spent */
/* The store a redemption goes to; the key set is given per call. */
struct t_rsvc {
	struct spent_store *store;
};
static struct t_rsvc t_svc;
static char t_dir[64];

/* A signer for k->sk made here, as the key set would make it. */
static void signer_own(struct issuer_key *k)
{
	struct tt_secret *der = NULL;

	cr_assert_eq(rsakey_to_der(k->sk, &der), 0);
	cr_assert_eq(tt_signer_new(tt_find(TOK_TYPE_BLIND_RSA), der, 1, &k->signer), 0);
	tt_secret_free(der);
	k->own_signer = 1;
}

/* A key that no key set of this test holds. */
static void key_make(struct issuer_key *k)
{
	memset(k, 0, sizeof(*k));
	k->sk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	cr_assert_not_null(k->sk);
	cr_assert_eq(spki_encode(k->sk, k->spki, sizeof(k->spki), &k->spki_len), 0);
	spki_key_id(k->spki, k->spki_len, k->id);
	cr_assert_eq(spki_decode(k->spki, k->spki_len, &k->pk), 0);
	signer_own(k);
}

/* The client's view of a key-set entry, signing with its signer. */
static void key_from_entry(struct issuer_key *k, const struct ks_entry *e)
{
	memset(k, 0, sizeof(*k));
	cr_assert_not_null(e->signer);
	memcpy(k->spki, e->pub, e->pub_len);
	k->spki_len = e->pub_len;
	memcpy(k->id, e->meta.key_id, 32);
	cr_assert_eq(spki_decode(k->spki, k->spki_len, &k->pk), 0);
	k->signer = e->signer;
}

static void key_free(struct issuer_key *k)
{
	if (k->own_signer)
		tt_key_free(k->signer);
	EVP_PKEY_free(k->pk);
	EVP_PKEY_free(k->sk);
	memset(k, 0, sizeof(*k));
}

static struct ks_keyset *keyset_build(void)
{
	struct ks_keyset_opts o = { .issuer_request_uri = "/token-request" };
	struct ks_keyset *ks = NULL;
	char err[256] = "";

	cr_assert_eq(ks_keyset_build(t_ks_store, &o, (int64_t)time(NULL), &ks,
				     err, sizeof(err)), 0, "%s", err);
	return ks;
}

static void rdm_init(void)
{
	struct spent_config cfg;
	struct ks_meta m;
	int64_t now = (int64_t)time(NULL);
	char err[256] = "";
	size_t i;

	snprintf(t_dir, sizeof(t_dir), "/tmp/pp-rdm-XXXXXX");
	cr_assert_not_null(mkdtemp(t_dir));
	cr_assert_eq(ks_store_open(t_dir, NULL, &t_ks_store, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(ks_store_generate(t_ks_store, TOK_TYPE_BLIND_RSA, now, now,
				       &m, err, sizeof(err)), 0, "%s", err);
	t_ks = keyset_build();
	for (i = 0; i < t_ks->n; i++)
		if (memcmp(t_ks->entries[i].meta.key_id, m.key_id, 32) == 0)
			key_from_entry(&t_key, &t_ks->entries[i]);
	cr_assert_arr_eq(t_key.id, m.key_id, 32, "the new key is not signing");

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = "lmdb";
	cfg.data_dir = t_dir;
	cr_assert_eq(spent_open(&cfg, &t_store, err, sizeof(err)), 0, "%s", err);
	t_svc.store = t_store;
}

static void rdm_fini(void)
{
	spent_close(t_store);
	t_store = NULL;
	key_free(&t_key);
	ks_keyset_unref(t_ks);
	t_ks = NULL;
	ks_store_close(t_ks_store);
	t_ks_store = NULL;
	tu_rm_rf(t_dir);
	tu_leak_check();
}

TestSuite(redemption, .init = rdm_init, .fini = rdm_fini, .timeout = 120);

/* An encoded TokenChallenge for this issuer. */
static size_t challenge_make(uint16_t type, const char *origin, uint8_t *out,
			     size_t cap)
{
	static const uint8_t ctx[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct tok_challenge c = {
		.token_type = type,
		.issuer_name = (const uint8_t *)"issuer.example",
		.issuer_name_len = 14,
		.redemption_context = ctx,
		.redemption_context_len = 32,
		.origin_info = (const uint8_t *)origin,
		.origin_info_len = strlen(origin),
	};
	size_t len = 0;

	cr_assert_eq(tok_challenge_encode(&c, out, cap, &len), 0);
	return len;
}

/* The whole client + issuer round: a token over (nonce, SHA-256(challenge),
 * key id), blinded, blind-signed by k, unblinded. */
static void token_make(const struct issuer_key *k, const uint8_t *challenge,
		       size_t challenge_len, uint8_t token[TOK_TOKEN_LEN])
{
	uint8_t nonce[TOK_NONCE_LEN], digest[TOK_DIGEST_LEN], input[TOK_INPUT_LEN];
	uint8_t blinded[TOK_NK], inv[TOK_NK], blind_sig[TOK_NK], sig[TOK_NK];
	uint8_t req[TOK_REQUEST_LEN];
	unsigned int dlen = 0;
	size_t len = 0;

	cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
	cr_assert_eq(EVP_Digest(challenge, challenge_len, digest, &dlen,
				EVP_sha256(), NULL), 1);
	tok_token_input(TOK_TYPE_BLIND_RSA, nonce, digest, k->id, input);
	cr_assert_eq(bsig_blind(k->pk, BSIG_SHA384_PSS_DETERMINISTIC, input,
				sizeof(input), NULL, NULL, 0, blinded, inv,
				sizeof(blinded)), 0);
	tok_request_encode(k->id[31], blinded, req);
	cr_assert_eq(tt_issue(k->signer, req, sizeof(req), blind_sig,
			      sizeof(blind_sig), &len), 0);
	cr_assert_eq(bsig_finalize(k->pk, BSIG_SHA384_PSS_DETERMINISTIC, input,
				   sizeof(input), blind_sig, inv, sig,
				   sizeof(sig)), 0);
	tok_token_encode(input, sig, token);
}

/* A token for the default challenge; *clen gets the challenge's length. */
static void token_default(uint8_t token[TOK_TOKEN_LEN], uint8_t *chal,
			  size_t cap, size_t *clen)
{
	*clen = challenge_make(TOK_TYPE_BLIND_RSA, "origin.example", chal, cap);
	token_make(&t_key, chal, *clen, token);
}

static void expect_verdict(const struct rdm_result *r, enum rdm_verdict v,
			   const char *reason, const char *what)
{
	const char *got = rdm_reason_name(r->reason);

	cr_expect_eq(r->verdict, v, "%s: verdict %s, want %s", what,
		     rdm_verdict_name(r->verdict), rdm_verdict_name(v));
	cr_expect_str_eq(got, reason ? reason : "", "%s: reason %s, want %s",
			 what, got, reason ? reason : "(none)");
}

/* Submits through the service, over key set ks and the store of ts, as the
 * server does; done runs when the redemption is decided. */
static int t_submit(const struct t_rsvc *ts, struct ks_keyset *ks,
		    const uint8_t *token, size_t len, const uint8_t *chal,
		    size_t clen, int spend, rdm_done_fn done, void *arg)
{
	struct ks_current *cur = NULL;
	struct svc *s = NULL;
	int rc;

	cr_assert_eq(ks_current_new(ks_keyset_ref(ks), &cur), 0);
	cr_assert_eq(svc_new(cur, ts->store, &s), 0);
	rc = rdm_submit_token(s, token, len, chal, clen, spend, done, arg);
	svc_free(s);
	ks_current_free(cur);
	return rc;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	struct rdm_result res;
};

static void waiter_done(void *arg, const struct rdm_result *r)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->res = *r;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The same, waiting for the answer. */
static int t_redeem(const struct t_rsvc *ts, struct ks_keyset *ks,
		    const uint8_t *token, size_t len, const uint8_t *chal,
		    size_t clen, int spend, struct rdm_result *out)
{
	struct waiter w;
	int rc;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	rc = t_submit(ts, ks, token, len, chal, clen, spend, waiter_done, &w);
	pthread_mutex_lock(&w.mu);
	while (rc == 0 && !w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	*out = w.res;
	return rc;
}

/* Check-and-record calls the store answered. The store counts one just
 * after its answer reached us, so wait a little for a count that is due. */
static uint64_t store_requests(void)
{
	struct spent_stats st;
	int i;

	for (i = 0; i < 20; i++) {
		spent_stats_get(t_store, &st);
		if (st.requests > 0)
			break;
		usleep(10000);
	}
	return st.requests;
}

Test(redemption, valid_when_first_redeemed)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	struct rdm_result r;
	size_t clen;

	token_default(token, chal, sizeof(chal), &clen);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen,
				1, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "first");
	cr_expect_eq(r.token_type, TOK_TYPE_BLIND_RSA);
	cr_expect_arr_eq(r.key_id, t_key.id, 32);
	cr_expect_arr_eq(r.nonce, token + 2, 32);
	/* recorded under (key id, nonce) */
	cr_expect_eq(tu_spent_contains(t_store, t_key.id, token + 2), PP_ERR_SPENT);

	/* without a challenge, any other fresh token is valid too */
	token_default(token, chal, sizeof(chal), &clen);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), NULL, 0, 1, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "no challenge");
}

Test(redemption, spent_when_redeemed_twice)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	struct rdm_result r;
	size_t clen;

	token_default(token, chal, sizeof(chal), &clen);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "first");
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_SPENT, NULL, "second");
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), NULL, 0, 0, &r), 0);
	expect_verdict(&r, RDM_SPENT, NULL, "check only");
}

Test(redemption, does_not_consume_when_spend_false)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	struct rdm_result r;
	size_t clen;

	token_default(token, chal, sizeof(chal), &clen);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 0, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "check 1");
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 0, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "check 2");
	cr_expect_eq(store_requests(), 0);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "spend");
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 0, &r), 0);
	expect_verdict(&r, RDM_SPENT, NULL, "check after spend");
}

/* Tampered tokens fail verification and never reach the store. */
Test(redemption, invalid_when_signature_bad)
{
	static const struct {
		const char *what;
		size_t off;      /* byte to change */
		int fill_ff;     /* authenticator all 0xff: above n */
	} cases[] = {
		{ "authenticator bit", TOK_INPUT_LEN + 100, 0 },
		{ "last authenticator byte", TOK_TOKEN_LEN - 1, 0 },
		{ "nonce bit", 2 + 5, 0 },
		{ "challenge digest bit", 2 + 32 + 3, 0 },
		{ "signature >= n", 0, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t token[TOK_TOKEN_LEN], chal[256];
		struct rdm_result r;
		size_t clen;

		token_default(token, chal, sizeof(chal), &clen);
		if (cases[i].fill_ff)
			memset(token + TOK_INPUT_LEN, 0xff, TOK_NK);
		else
			token[cases[i].off] ^= 0x10;
		/* no challenge: the digest case must be caught by the signature */
		cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), NULL, 0,
					1, &r), 0, "%s", cases[i].what);
		expect_verdict(&r, RDM_INVALID, "bad_signature", cases[i].what);
		cr_expect_eq(tu_spent_contains(t_store, t_key.id, token + 2), 0,
			     "%s", cases[i].what);
	}
	cr_expect_eq(store_requests(), 0, "a bad token reached the store");
}

Test(redemption, invalid_when_key_unknown)
{
	struct issuer_key other;
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	struct rdm_result r;
	size_t clen;

	/* a genuine token from an issuer key this key set does not hold */
	key_make(&other);
	clen = challenge_make(TOK_TYPE_BLIND_RSA, "origin.example", chal, sizeof(chal));
	token_make(&other, chal, clen, token);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_INVALID, "unknown_key", "other issuer");
	cr_expect_arr_eq(r.key_id, other.id, 32);
	key_free(&other);
	cr_expect_eq(store_requests(), 0);
}

/* Keys the store holds but that do not verify: a pending key (it never
 * signed anything) and a retired one. */
Test(redemption, invalid_when_key_pending_or_retired)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	int64_t now = (int64_t)time(NULL);
	struct ks_keyset *ks;
	struct issuer_key pk;
	struct ks_meta pend;
	struct rdm_result r;
	char err[256] = "", hex[65];
	size_t clen, i;

	cr_assert_eq(ks_store_generate(t_ks_store, TOK_TYPE_BLIND_RSA, now,
				       now + 86400, &pend, err, sizeof(err)),
		     0, "%s", err);
	memset(&pk, 0, sizeof(pk));
	{
		struct tt_secret *priv = NULL;

		cr_assert_eq(ks_store_key_load(t_ks_store, &pend, &priv, err,
					       sizeof(err)), 0, "%s", err);
		cr_assert_eq(rsakey_parse(priv->p, priv->len, &pk.sk), 0);
		tt_secret_free(priv);
	}
	signer_own(&pk);
	memcpy(pk.spki, pend.pub, pend.pub_len);
	pk.spki_len = pend.pub_len;
	memcpy(pk.id, pend.key_id, 32);
	cr_assert_eq(spki_decode(pk.spki, pk.spki_len, &pk.pk), 0);

	ks = keyset_build();
	clen = challenge_make(TOK_TYPE_BLIND_RSA, "origin.example", chal, sizeof(chal));
	token_make(&pk, chal, clen, token);
	cr_assert_eq(t_redeem(&t_svc, ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_INVALID, "unknown_key", "pending key");
	key_free(&pk);

	/* the signing key verifies until it is retired */
	token_make(&t_key, chal, clen, token);
	cr_assert_eq(t_redeem(&t_svc, ks, token, sizeof(token), chal, clen, 0, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "before retirement");
	ks_keyset_unref(ks);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", t_key.id[i]);
	cr_assert_eq(ks_store_retire(t_ks_store, hex, now, 0, 1, NULL, err,
				     sizeof(err)), 0, "%s", err);
	ks = keyset_build();
	cr_assert_eq(t_redeem(&t_svc, ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_INVALID, "unknown_key", "retired key");
	ks_keyset_unref(ks);
	cr_expect_eq(store_requests(), 0);
}

Test(redemption, invalid_when_challenge_does_not_match)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256], other[256], type1[256];
	struct rdm_result r;
	size_t clen, olen, tlen;

	token_default(token, chal, sizeof(chal), &clen);

	/* another origin's challenge */
	olen = challenge_make(TOK_TYPE_BLIND_RSA, "elsewhere.example", other, sizeof(other));
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), other, olen, 1, &r), 0);
	expect_verdict(&r, RDM_INVALID, "challenge_mismatch", "other origin");

	/* the right challenge with one byte changed */
	memcpy(other, chal, clen);
	other[clen - 1] ^= 1;
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), other, clen, 1, &r), 0);
	expect_verdict(&r, RDM_INVALID, "challenge_mismatch", "changed byte");

	/* not a challenge at all */
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, 5, 1, &r), 0);
	expect_verdict(&r, RDM_MALFORMED, "bad_request", "truncated challenge");
	cr_expect_eq(store_requests(), 0);

	/* the right one still works afterwards */
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_VALID, NULL, "right challenge");

	/* a type-2 token made over a challenge for token type 1: the digest
	 * matches, the type does not */
	tlen = challenge_make(0x0001, "origin.example", type1, sizeof(type1));
	token_make(&t_key, type1, tlen, token);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), type1, tlen, 1, &r), 0);
	expect_verdict(&r, RDM_INVALID, "challenge_mismatch", "type 1 challenge");
	cr_expect_eq(store_requests(), 1);
}

Test(redemption, invalid_when_token_malformed)
{
	static const struct {
		const char *what;
		size_t len;         /* bytes passed */
		int set_type;       /* overwrite the type field */
		uint16_t type;
		const char *reason;
	} cases[] = {
		{ "empty", 0, 0, 0, "malformed" },
		{ "one byte", 1, 0, 0, "malformed" },
		{ "type only", 2, 0, 0, "malformed" },
		{ "one byte short", TOK_TOKEN_LEN - 1, 0, 0, "malformed" },
		{ "one byte long", TOK_TOKEN_LEN + 1, 0, 0, "malformed" },
		{ "type 0x0003 (not served)", TOK_TOKEN_LEN, 1, 0x0003, "unsupported_token_type" },
		/* served (pbrsa-2048), but no key of the set has its id */
		{ "type 0xda7a", TOK_TOKEN_LEN, 1, 0xda7a, "unknown_key" },
	};
	uint8_t token[TOK_TOKEN_LEN + 1], chal[256];
	struct rdm_result r;
	size_t i, clen;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		token_default(token, chal, sizeof(chal), &clen);
		token[TOK_TOKEN_LEN] = 0;
		if (cases[i].set_type) {
			token[0] = (uint8_t)(cases[i].type >> 8);
			token[1] = (uint8_t)cases[i].type;
		}
		cr_assert_eq(t_redeem(&t_svc, t_ks, token, cases[i].len, chal,
					clen, 1, &r), 0, "%s", cases[i].what);
		expect_verdict(&r, strcmp(cases[i].reason, "malformed") == 0
				   ? RDM_MALFORMED : RDM_INVALID,
			       cases[i].reason, cases[i].what);
	}
	cr_assert_eq(t_redeem(&t_svc, t_ks, NULL, 0, NULL, 0, 1, &r), 0);
	expect_verdict(&r, RDM_MALFORMED, "malformed", "NULL token");
	cr_expect_eq(store_requests(), 0);
}

/* A store that cannot answer makes a genuine token "unavailable" (never
 * "valid"); a bad token is still just invalid. */
Test(redemption, unavailable_when_store_down)
{
	struct spent_config cfg;
	struct spent_store *down = NULL;
	struct t_rsvc svc;
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	struct rdm_result r;
	char err[256];
	size_t clen;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = "redis";
	cfg.redis_port = tu_free_port();   /* nothing listens there */
	cfg.redis_timeout_ms = 200;
	cr_assert_eq(spent_open(&cfg, &down, err, sizeof(err)), 0, "%s", err);
	svc.store = down;

	token_default(token, chal, sizeof(chal), &clen);
	cr_assert_eq(t_redeem(&svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_UNAVAILABLE, "store_unavailable", "spend");
	cr_assert_eq(t_redeem(&svc, t_ks, token, sizeof(token), chal, clen, 0, &r), 0);
	expect_verdict(&r, RDM_UNAVAILABLE, "store_unavailable", "check only");
	token[TOK_TOKEN_LEN - 1] ^= 1;
	cr_assert_eq(t_redeem(&svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_INVALID, "bad_signature", "bad token, store down");
	spent_close(down);

	/* the same with an LMDB store that is shutting down */
	token[TOK_TOKEN_LEN - 1] ^= 1;
	spent_shutdown(t_store);
	cr_assert_eq(t_redeem(&t_svc, t_ks, token, sizeof(token), chal, clen, 1, &r), 0);
	expect_verdict(&r, RDM_UNAVAILABLE, "store_unavailable", "lmdb shut down");
}

struct race_arg {
	const uint8_t *token;
	pthread_barrier_t *go;
	atomic_uint *valid, *spent, *other;
};

static void *race_main(void *arg)
{
	struct race_arg *a = arg;
	struct rdm_result r;
	int i;

	pthread_barrier_wait(a->go);
	for (i = 0; i < 4; i++) {
		if (t_redeem(&t_svc, t_ks, a->token, TOK_TOKEN_LEN, NULL, 0, 1, &r) != 0)
			atomic_fetch_add(a->other, 1);
		else if (r.verdict == RDM_VALID)
			atomic_fetch_add(a->valid, 1);
		else if (r.verdict == RDM_SPENT)
			atomic_fetch_add(a->spent, 1);
		else
			atomic_fetch_add(a->other, 1);
	}
	return NULL;
}

Test(redemption, valid_once_when_threads_redeem_one_token)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	atomic_uint valid = 0, spent = 0, other = 0;
	pthread_barrier_t go;
	pthread_t th[16];
	struct race_arg a;
	size_t clen;
	int i;

	token_default(token, chal, sizeof(chal), &clen);
	pthread_barrier_init(&go, NULL, 16);
	a = (struct race_arg){ token, &go, &valid, &spent, &other };
	for (i = 0; i < 16; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, race_main, &a), 0);
	for (i = 0; i < 16; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	cr_expect_eq(atomic_load(&valid), 1);
	cr_expect_eq(atomic_load(&spent), 16 * 4 - 1);
	cr_expect_eq(atomic_load(&other), 0);
}

/* ---- asynchronous redemption ---- */

struct verdicts {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned answered, errors;
	unsigned by[RDM_VERDICT_COUNT];
	struct rdm_result last;
};

static void verdicts_init(struct verdicts *v)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
}

static void verdicts_destroy(struct verdicts *v)
{
	pthread_cond_destroy(&v->cv);
	pthread_mutex_destroy(&v->mu);
}

static void verdict_done(void *arg, const struct rdm_result *r)
{
	struct verdicts *v = arg;

	pthread_mutex_lock(&v->mu);
	if (r->verdict == RDM_NONE)
		v->errors++;
	else if (r->verdict < RDM_VERDICT_COUNT)
		v->by[r->verdict]++;
	v->last = *r;
	v->answered++;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

static void verdicts_wait(struct verdicts *v, unsigned n)
{
	pthread_mutex_lock(&v->mu);
	while (v->answered < n)
		pthread_cond_wait(&v->cv, &v->mu);
	pthread_mutex_unlock(&v->mu);
}

Test(redemption, answers_through_callback_when_submitted)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	struct verdicts v;
	size_t clen;

	verdicts_init(&v);
	token_default(token, chal, sizeof(chal), &clen);
	/* check only, then spend, then again */
	cr_assert_eq(t_submit(&t_svc, t_ks, token, sizeof(token), chal,
				       clen, 0, verdict_done, &v), 0);
	verdicts_wait(&v, 1);
	cr_expect_eq(v.by[RDM_VALID], 1);
	cr_assert_eq(t_submit(&t_svc, t_ks, token, sizeof(token), chal,
				       clen, 1, verdict_done, &v), 0);
	verdicts_wait(&v, 2);
	cr_expect_eq(v.by[RDM_VALID], 2);
	cr_expect_arr_eq(v.last.nonce, token + 2, 32);
	cr_expect_arr_eq(v.last.key_id, t_key.id, 32);
	cr_assert_eq(t_submit(&t_svc, t_ks, token, sizeof(token), chal,
				       clen, 1, verdict_done, &v), 0);
	verdicts_wait(&v, 3);
	cr_expect_eq(v.by[RDM_SPENT], 1);

	/* a bad token is answered before the call returns, and not recorded */
	token_default(token, chal, sizeof(chal), &clen);
	token[2] ^= 1;   /* the nonce: the signature no longer covers it */
	cr_assert_eq(t_submit(&t_svc, t_ks, token, sizeof(token), NULL,
				       0, 1, verdict_done, &v), 0);
	cr_expect_eq(v.answered, 4);
	cr_expect_eq(v.by[RDM_INVALID], 1);
	cr_expect_str_eq(rdm_reason_name(v.last.reason), "bad_signature");
	cr_expect_eq(v.errors, 0);
	cr_expect_eq(tu_spent_contains(t_store, t_key.id, token + 2), 0);

	cr_expect_eq(t_submit(&t_svc, t_ks, token, sizeof(token), NULL,
				       0, 1, NULL, &v), PP_ERR_ARG);
	cr_expect_eq(rdm_submit_token(NULL, token, sizeof(token), NULL, 0, 1,
				      verdict_done, &v), PP_ERR_ARG);
	cr_expect_eq(v.answered, 4);

	/* a store that is shutting down answers "unavailable" */
	spent_shutdown(t_store);
	token_default(token, chal, sizeof(chal), &clen);
	cr_assert_eq(t_submit(&t_svc, t_ks, token, sizeof(token), chal,
				       clen, 1, verdict_done, &v), 0);
	verdicts_wait(&v, 5);
	cr_expect_eq(v.by[RDM_UNAVAILABLE], 1);
	verdicts_destroy(&v);
}

/* Many submissions of one token in flight together: one valid. */
Test(redemption, valid_once_when_token_submitted_many_times_at_once)
{
	uint8_t token[TOK_TOKEN_LEN], chal[256];
	struct verdicts v;
	size_t clen;
	int i;

	verdicts_init(&v);
	token_default(token, chal, sizeof(chal), &clen);
	for (i = 0; i < 200; i++)
		cr_assert_eq(t_submit(&t_svc, t_ks, token, sizeof(token),
					       chal, clen, 1, verdict_done, &v), 0);
	verdicts_wait(&v, 200);
	cr_expect_eq(v.by[RDM_VALID], 1);
	cr_expect_eq(v.by[RDM_SPENT], 199);
	cr_expect_eq(v.errors, 0);
	verdicts_destroy(&v);
}

Test(redemption, keeps_records_until_key_retires)
{
	static const struct {
		const char *what;
		int64_t retire_in;     /* from now; 0 = not scheduled */
		int64_t want_in;       /* expected expiry, from now; 0 = never */
	} cases[] = {
		{ "scheduled", 30 * 86400, 30 * 86400 },
		{ "unscheduled: kept until the key retires", 0, 0 },
		{ "retiring in a minute", 60, RDM_MIN_RECORD_TTL },
		{ "retire time passed", -600, RDM_MIN_RECORD_TTL },
	};
	const int64_t now = 1700000000;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ks_meta meta;
		int64_t want = cases[i].want_in ? now + cases[i].want_in : SPENT_NO_EXPIRY;

		memset(&meta, 0, sizeof(meta));
		meta.retire_after = cases[i].retire_in ? now + cases[i].retire_in : 0;
		cr_expect_eq(rdm_record_expiry(&meta, now), want, "%s", cases[i].what);
	}
}

Test(redemption, refuses_when_arguments_missing)
{
	uint8_t token[TOK_TOKEN_LEN] = { 0 };
	struct ks_current *cur = NULL;
	struct svc *s = NULL;
	struct waiter w;

	memset(&w, 0, sizeof(w));
	cr_assert_eq(ks_current_new(ks_keyset_ref(t_ks), &cur), 0);
	cr_assert_eq(svc_new(cur, t_store, &s), 0);
	cr_expect_eq(rdm_submit_token(NULL, token, sizeof(token), NULL, 0, 1,
				      waiter_done, &w), PP_ERR_ARG);
	cr_expect_eq(rdm_submit_token(s, NULL, 5, NULL, 0, 1, waiter_done, &w),
		     PP_ERR_ARG);
	cr_expect_eq(rdm_submit_token(s, token, sizeof(token), NULL, 0, 1, NULL,
				      &w), PP_ERR_ARG);
	cr_expect_eq(rdm_submit(s, NULL, 3, waiter_done, &w), PP_ERR_ARG);
	cr_expect_eq(w.done, 0, "done ran for a refused call");
	cr_expect_eq(svc_new(NULL, t_store, &s), PP_ERR_ARG);
	svc_free(s);
	ks_current_free(cur);
	cr_expect_str_eq(rdm_verdict_name(RDM_VALID), "valid");
	cr_expect_str_eq(rdm_verdict_name(RDM_SPENT), "spent");
	cr_expect_str_eq(rdm_verdict_name(RDM_INVALID), "invalid");
	cr_expect_str_eq(rdm_verdict_name(RDM_MALFORMED), "malformed");
	cr_expect_str_eq(rdm_verdict_name(RDM_UNAVAILABLE), "unavailable");
	cr_expect_str_eq(rdm_verdict_name(RDM_NONE), "none");
}
