/* Key-set snapshots: directory JSON shape and order, ETag, signing and
 * verification contexts, keys that fail to load, and the shared current
 * snapshot under concurrent swaps. */
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "crypto/b64.h"
#include "crypto/bsig.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "keys/keyset.h"
#include "keys/lifecycle.h"
#include "keys/store.h"
#include "tu.h"
#include "tu_keys.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

TestSuite(keyset, .fini = tu_leak_check);

#define T0 1700000000
#define D KL_DAY
#define T2 TOK_TYPE_BLIND_RSA

static char *dir;
static struct ks_store *st;
static char err[512];
static const struct ks_keyset_opts opts = {
	.issuer_request_uri = "https://issuer.example/token-request",
	.signer_slots = 2,
};

static void setup(void)
{
	dir = tu_keys_tmpdir();
	st = tu_keys_open(dir, NULL);
	err[0] = '\0';
}

static void teardown(void)
{
	ks_store_close(st);
	tu_keys_rmrf(dir);
}

static struct ks_meta gen(int64_t created, int64_t nb)
{
	struct ks_meta m;
	int rc = ks_store_generate(st, T2, created, nb, &m, err, sizeof(err));

	cr_assert_eq(rc, 0, "generate: %s", err);
	return m;
}

static struct ks_keyset *build(int64_t now)
{
	struct ks_keyset *ks = NULL;
	int rc = ks_keyset_build(st, &opts, now, &ks, err, sizeof(err));

	cr_assert_eq(rc, 0, "build: %d %s", rc, err);
	cr_assert_not_null(ks);
	return ks;
}

/* Checks the directory's shape and returns its token-keys in order. */
static json_t *directory_keys(const struct ks_keyset *ks)
{
	json_error_t jerr;
	json_t *root, *keys;
	size_t i;

	cr_assert_eq(strlen(ks->directory), ks->directory_len);
	root = json_loadb(ks->directory, ks->directory_len, 0, &jerr);
	cr_assert_not_null(root, "directory is not JSON: %s", jerr.text);
	cr_assert_eq(json_object_size(root), 2);
	cr_assert_str_eq(json_string_value(json_object_get(root,
							   "issuer-request-uri")),
			 opts.issuer_request_uri);
	keys = json_object_get(root, "token-keys");
	cr_assert(json_is_array(keys));
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);

		cr_assert_eq(json_object_size(k), 3);
		cr_assert(json_is_integer(json_object_get(k, "token-type")));
		cr_assert_eq(json_integer_value(json_object_get(k, "token-type")), 2);
		cr_assert(json_is_integer(json_object_get(k, "not-before")),
			  "not-before must be an integer");
		cr_assert(json_is_string(json_object_get(k, "token-key")));
	}
	json_incref(keys);
	json_decref(root);
	return keys;
}

/* Whether token-keys[i] is key m. */
static void assert_dir_key(json_t *keys, size_t i, const struct ks_meta *m)
{
	json_t *k = json_array_get(keys, i);
	const char *s = json_string_value(json_object_get(k, "token-key"));
	uint8_t spki[SPKI_MAX_LEN], id[32];
	size_t len = 0;

	cr_assert_not_null(s, "token-keys[%zu] missing", i);
	cr_assert_eq(strlen(s) % 4, 0, "the key is padded base64url");
	cr_assert(strpbrk(s, "+/") == NULL, "the key is base64url");
	cr_assert_eq(b64_decode(s, strlen(s), spki, sizeof(spki), &len), 0);
	spki_key_id(spki, len, id);
	cr_assert_arr_eq(id, m->key_id, 32, "token-keys[%zu] is another key", i);
	cr_assert_eq(json_integer_value(json_object_get(k, "not-before")),
		     m->not_before);
}

Test(keyset, single_key_builds_a_directory, .init = setup, .fini = teardown)
{
	struct ks_meta a = gen(T0, T0);
	struct ks_keyset *ks = build(T0 + 5);
	json_t *keys = directory_keys(ks);
	size_t i;

	cr_assert_eq(json_array_size(keys), 1);
	assert_dir_key(keys, 0, &a);
	json_decref(keys);
	cr_assert_eq(ks->n, 1);
	cr_assert_eq(ks->entries[0].state, KS_ACTIVE);
	cr_assert(ks->entries[0].published);
	cr_assert_not_null(ks->entries[0].signer);
	cr_assert_not_null(ks->entries[0].verifier);
	cr_assert_eq(ks->entries[0].pub_len, a.pub_len);
	cr_assert_eq(ks->next_change, 0);
	cr_assert_eq(ks->last_modified, T0);
	cr_assert_eq(strlen(ks->fingerprint), 64);
	/* strong ETag: quoted lowercase hex */
	cr_assert_eq(strlen(ks->etag), 34);
	cr_assert_eq(ks->etag[0], '"');
	cr_assert_eq(ks->etag[33], '"');
	for (i = 1; i < 33; i++)
		cr_assert(strchr("0123456789abcdef", ks->etag[i]) != NULL);
	cr_assert_eq(ks_keyset_signer(ks, T2, a.truncated_id), &ks->entries[0]);
	cr_assert_null(ks_keyset_signer(ks, T2, (uint8_t)(a.truncated_id + 1)));
	cr_assert_null(ks_keyset_signer(ks, 1, a.truncated_id));
	cr_assert_eq(ks_keyset_verifier(ks, a.key_id), &ks->entries[0]);
	ks_keyset_unref(ks);
}

/* A token through the snapshot's contexts: blind with the published key,
 * sign with the signer found by truncated id, verify with the verifier
 * found by key id. */
Test(keyset, snapshot_signs_and_verifies, .init = setup, .fini = teardown)
{
	struct ks_meta a = gen(T0, T0);
	struct ks_keyset *ks = build(T0);
	const struct ks_entry *e = ks_keyset_signer(ks, T2, a.truncated_id);
	uint8_t msg[] = "token input", blinded[256], inv[256], bsig[256],
		sig[256], req[TOK_REQUEST_LEN];
	EVP_PKEY *pub = NULL;
	size_t len = 0;

	cr_assert_not_null(e);
	cr_assert_eq(spki_decode(e->pub, e->pub_len, &pub), 0);
	cr_assert_eq(bsig_blind(pub, BSIG_SHA384_PSS_DETERMINISTIC, msg,
				sizeof(msg), NULL, NULL, 0, blinded, inv,
				sizeof(blinded)), 0);
	tok_request_encode(a.truncated_id, blinded, req);
	cr_assert_eq(tt_issue(e->signer, req, sizeof(req), bsig, sizeof(bsig), &len), 0);
	cr_assert_eq(len, sizeof(bsig));
	cr_assert_eq(bsig_finalize(pub, BSIG_SHA384_PSS_DETERMINISTIC, msg,
				   sizeof(msg), bsig, inv, sig, sizeof(sig)), 0);
	e = ks_keyset_verifier(ks, a.key_id);
	cr_assert_not_null(e);
	cr_assert_eq(tt_verify(e->verifier, msg, sizeof(msg), sig, sizeof(sig),
			       NULL, 0), 0);
	sig[10] ^= 1;
	cr_assert_eq(tt_verify(e->verifier, msg, sizeof(msg), sig, sizeof(sig),
			       NULL, 0), PP_ERR_VERIFY);
	EVP_PKEY_free(pub);
	ks_keyset_unref(ks);
}

Test(keyset, rotation_lists_the_next_key_first, .init = setup,
     .fini = teardown)
{
	struct ks_meta a = gen(T0, T0), b = gen(T0 + 6 * D, T0 + 7 * D);
	struct ks_keyset *ks = build(T0 + 6 * D);
	json_t *keys = directory_keys(ks);

	/* pending b first: clients skip it until its not-before */
	cr_assert_eq(json_array_size(keys), 2);
	assert_dir_key(keys, 0, &b);
	assert_dir_key(keys, 1, &a);
	json_decref(keys);
	cr_assert_eq(ks->entries[0].state, KS_PENDING);
	/* b is prepared ahead, but neither signs nor verifies before its
	 * not-before; from then on it does, even before the next rebuild */
	cr_assert_not_null(ks->entries[0].signer);
	cr_assert_eq(ks->entries[0].usable_from, T0 + 7 * D);
	cr_assert_null(ks_keyset_signer_at(ks, T2, b.truncated_id, T0 + 7 * D - 1));
	cr_assert_null(ks_keyset_verifier_at(ks, b.key_id, T0 + 7 * D - 1),
		       "pending keys signed nothing");
	cr_assert_not_null(ks_keyset_signer_at(ks, T2, b.truncated_id, T0 + 7 * D));
	cr_assert_not_null(ks_keyset_verifier_at(ks, b.key_id, T0 + 7 * D));
	cr_assert_not_null(ks_keyset_signer_at(ks, T2, a.truncated_id, T0 + 6 * D));
	cr_assert_eq(ks->next_change, T0 + 7 * D);
	cr_assert_eq(ks->last_modified, T0 + 6 * D);
	ks_keyset_unref(ks);

	/* at b's not-before: b signs, a only verifies */
	ks = build(T0 + 7 * D);
	cr_assert_eq(ks->n, 2);
	cr_assert_eq(ks->entries[0].state, KS_ACTIVE);
	cr_assert_eq(ks->entries[1].state, KS_RETIRING);
	/* a hands over: it still signs for the grace period, then not */
	cr_assert_not_null(ks_keyset_signer_at(ks, T2, a.truncated_id, T0 + 7 * D));
	cr_assert_null(ks_keyset_signer_at(ks, T2, a.truncated_id,
					   T0 + 7 * D + KS_HANDOVER_GRACE));
	cr_assert_not_null(ks_keyset_signer_at(ks, T2, b.truncated_id, T0 + 7 * D));
	cr_assert_not_null(ks_keyset_verifier_at(ks, a.key_id, T0 + 7 * D));
	cr_assert_eq(ks->entries[1].meta.retire_after,
		     T0 + 7 * D + KL_DEFAULT_OVERLAP,
		     "the effective retirement is exposed");
	cr_assert_eq(ks->next_change, T0 + 7 * D + KS_HANDOVER_GRACE,
		     "the snapshot is rebuilt when the hand-over ends");
	ks_keyset_unref(ks);

	/* after the hand-over a no longer signs at all */
	ks = build(T0 + 7 * D + KS_HANDOVER_GRACE);
	cr_assert_null(ks->entries[1].signer);
	cr_assert_null(ks_keyset_signer_at(ks, T2, a.truncated_id, T0 + 7 * D + KS_HANDOVER_GRACE));
	cr_assert_eq(ks->next_change, T0 + 7 * D + KL_DEFAULT_OVERLAP);
	ks_keyset_unref(ks);

	/* after the overlap: a is gone */
	ks = build(T0 + 7 * D + KL_DEFAULT_OVERLAP);
	cr_assert_eq(ks->n, 1);
	cr_assert_null(ks_keyset_verifier(ks, a.key_id));
	keys = directory_keys(ks);
	cr_assert_eq(json_array_size(keys), 1);
	json_decref(keys);
	ks_keyset_unref(ks);
}

Test(keyset, etag_changes_exactly_with_the_key_set, .init = setup,
     .fini = teardown)
{
	struct ks_keyset *k1, *k2, *k3, *k4, *k5;
	struct ks_keyset_opts o2 = opts;

	gen(T0, T0);
	gen(T0 + 6 * D, T0 + 7 * D);
	k1 = build(T0 + 6 * D);
	k2 = build(T0 + 6 * D + 100);
	cr_assert_str_eq(k1->etag, k2->etag);
	cr_assert_str_eq(k1->directory, k2->directory);
	/* activation changes states, not the published set */
	k3 = build(T0 + 7 * D);
	cr_assert_str_eq(k1->etag, k3->etag);
	/* a third key changes what is published */
	gen(T0 + 13 * D, T0 + 14 * D);
	k4 = build(T0 + 13 * D);
	cr_assert_str_neq(k3->etag, k4->etag);
	cr_assert_str_neq(k3->fingerprint, k4->fingerprint);
	o2.issuer_request_uri = "/token-request";
	cr_assert_eq(ks_keyset_build(st, &o2, T0 + 13 * D, &k5, err,
				     sizeof(err)), 0);
	cr_assert_str_neq(k4->etag, k5->etag);
	ks_keyset_unref(k1);
	ks_keyset_unref(k2);
	ks_keyset_unref(k3);
	ks_keyset_unref(k4);
	ks_keyset_unref(k5);
}

/* Servers sharing a data dir serve the same bytes, and each notices a
 * change another process makes. */
Test(keyset, servers_sharing_a_store_converge, .init = setup,
     .fini = teardown)
{
	struct ks_store *other = tu_keys_open(dir, NULL);
	struct ks_keyset *k1, *k2 = NULL, *k3;

	gen(T0, T0);
	k1 = build(T0 + 50);
	cr_assert_eq(ks_keyset_build(other, &opts, T0 + 50, &k2, err,
				     sizeof(err)), 0);
	cr_assert_str_eq(k1->directory, k2->directory);
	cr_assert_str_eq(k1->etag, k2->etag);
	cr_assert_eq(k1->last_modified, k2->last_modified);
	cr_assert_str_eq(k1->fingerprint, k2->fingerprint);
	cr_assert_eq(ks_keyset_stale(k2, other, T0 + 60), 0);
	/* another process adds the next key */
	gen(T0 + 100, T0 + 100 + D);
	cr_assert_eq(ks_keyset_stale(k2, other, T0 + 101), 1);
	ks_keyset_unref(k2);
	cr_assert_eq(ks_keyset_build(other, &opts, T0 + 101, &k2, err,
				     sizeof(err)), 0);
	k3 = build(T0 + 101);
	cr_assert_str_eq(k2->etag, k3->etag);
	cr_assert_str_neq(k1->etag, k3->etag);
	/* and the clock alone makes it stale at the activation */
	cr_assert_eq(ks_keyset_stale(k3, st, T0 + 100 + D - 1), 0);
	cr_assert_eq(ks_keyset_stale(k3, st, T0 + 100 + D), 1);
	ks_keyset_unref(k1);
	ks_keyset_unref(k2);
	ks_keyset_unref(k3);
	ks_store_close(other);
}

Test(keyset, max_published_limits_the_directory, .init = setup,
     .fini = teardown)
{
	struct ks_keyset_opts o1 = opts;
	struct ks_keyset *ks = NULL;
	struct ks_meta b;
	json_t *keys;

	gen(T0, T0);
	b = gen(T0 + 1, T0 + 10);
	o1.max_published = 1;
	cr_assert_eq(ks_keyset_build(st, &o1, T0 + 20, &ks, err, sizeof(err)),
		     0);
	keys = directory_keys(ks);
	cr_assert_eq(json_array_size(keys), 1);
	assert_dir_key(keys, 0, &b);
	json_decref(keys);
	cr_assert_eq(ks->n, 2, "the unpublished retiring key still verifies");
	cr_assert(!ks->entries[1].published);
	cr_assert_not_null(ks->entries[1].verifier);
	ks_keyset_unref(ks);
}

static void corrupt_key_file(const struct ks_meta *m, const char *with)
{
	char name[80], path[1024];

	snprintf(name, sizeof(name), "%s.key", m->id_hex);
	tu_keys_path(dir, name, path, sizeof(path));
	tu_keys_write(path, with, strlen(with));
}

static void collect(void *ctx, const char *msg)
{
	char *buf = ctx;
	size_t len = strlen(buf);

	snprintf(buf + len, 2048 - len, "%s\n", msg);
}

Test(keyset, a_broken_key_is_left_out_and_the_rest_serve, .init = setup,
     .fini = teardown)
{
	struct ks_meta a = gen(T0, T0), b = gen(T0 + 1, T0 + 10);
	char reported[2048] = "", name[80], path[1024];
	struct ks_keyset *ks;
	json_t *keys;

	ks_store_set_reporter(st, collect, reported);
	corrupt_key_file(&b, "garbage");
	/* and a metadata file that is not even JSON */
	snprintf(name, sizeof(name), "%064x.json", 7);
	tu_keys_path(dir, name, path, sizeof(path));
	tu_keys_write(path, "{oops", 5);
	ks = build(T0 + 20);
	cr_assert(strstr(err, "skipping key 0000000000000000") != NULL, "%s", err);
	{
		char want[64];

		snprintf(want, sizeof(want), "key %.16s cannot sign", b.id_hex);
		cr_assert(strstr(reported, want) != NULL, "%s", reported);
	}
	cr_assert(strstr(reported, "not a valid blind-rsa-2048 private key") != NULL, "%s",
		  reported);
	/* a signs again: b could not, but its tokens still verify */
	cr_assert_eq(ks->n, 2);
	cr_assert_not_null(ks_keyset_signer(ks, T2, a.truncated_id));
	cr_assert_null(ks_keyset_signer(ks, T2, b.truncated_id));
	cr_assert_not_null(ks_keyset_verifier(ks, b.key_id));
	cr_assert(ks_keyset_unavailable(ks, (const uint8_t[32]){ 0 }) == 0);
	keys = directory_keys(ks);
	cr_assert_eq(json_array_size(keys), 1);
	assert_dir_key(keys, 0, &a);
	json_decref(keys);
	ks_keyset_unref(ks);
}

Test(keyset, unsafe_key_file_mode_is_reported, .init = setup,
     .fini = teardown)
{
	struct ks_meta a = gen(T0, T0);
	char name[80], path[1024];
	struct ks_keyset *ks = NULL;

	snprintf(name, sizeof(name), "%s.key", a.id_hex);
	tu_keys_path(dir, name, path, sizeof(path));
	cr_assert_eq(chmod(path, 0640), 0);
	cr_assert_eq(ks_keyset_build(st, &opts, T0, &ks, err, sizeof(err)),
		     PP_ERR_NOT_FOUND);
	cr_assert_null(ks);
	cr_assert(strstr(err, "is mode 0640; run chmod 600") != NULL, "%s", err);
}

Test(keyset, empty_store_says_what_to_do, .init = setup, .fini = teardown)
{
	struct ks_keyset *ks = NULL;

	cr_assert_eq(ks_keyset_build(st, &opts, T0, &ks, err, sizeof(err)),
		     PP_ERR_NOT_FOUND);
	cr_assert_null(ks);
	cr_assert(strstr(err, "ppissuer keys generate") != NULL, "%s", err);
}

Test(keyset, sealed_store_without_secret_cannot_sign, .init = setup,
     .fini = teardown)
{
	struct ks_secret *sec = NULL;
	struct ks_keyset *ks = NULL;
	uint8_t k[32] = { 1 };

	ks_store_close(st);
	tu_keys_rmrf(dir);
	dir = tu_keys_tmpdir();
	cr_assert_eq(ks_secret_from_bytes(k, &sec), 0);
	st = tu_keys_open(dir, sec);
	gen(T0, T0);
	ks_store_close(st);
	st = tu_keys_open(dir, NULL);
	cr_assert_neq(ks_keyset_build(st, &opts, T0, &ks, err, sizeof(err)), 0);
	cr_assert(strstr(err, "sealed") != NULL, "%s", err);
	ks_store_close(st);
	st = tu_keys_open(dir, sec);
	ks = build(T0);
	cr_assert_not_null(ks->entries[0].signer);
	ks_keyset_unref(ks);
	ks_secret_free(sec);
}

struct reader {
	struct ks_current *cur;
	volatile int *stop;
	unsigned long reads;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!*r->stop) {
		struct ks_keyset *ks = ks_current_get(r->cur);

		/* touch the snapshot: a freed one trips ASan */
		if (ks->n == 0 || ks->directory[0] != '{' ||
		    ks->entries[0].meta.token_type != T2)
			abort();
		ks_keyset_unref(ks);
		r->reads++;
	}
	return NULL;
}

Test(keyset, current_swaps_under_concurrent_readers, .init = setup,
     .fini = teardown, .timeout = 60)
{
	struct ks_keyset *first, *held, *next;
	struct ks_current *cur = NULL;
	struct reader r[4];
	pthread_t th[4];
	volatile int stop = 0;
	size_t i;

	gen(T0, T0);
	first = build(T0);
	cr_assert_eq(ks_current_new(NULL, &cur), PP_ERR_ARG);
	cr_assert_eq(ks_current_new(first, &cur), 0);
	held = ks_current_get(cur);
	cr_assert_eq(held, first);
	for (i = 0; i < 4; i++) {
		r[i] = (struct reader){ cur, &stop, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, read_loop, &r[i]), 0);
	}
	for (i = 0; i < 2000; i++) {
		/* ks_keyset_ref of one snapshot stands in for fresh builds */
		next = ks_keyset_ref(i % 2 ? first : held);
		ks_current_swap(cur, next);
	}
	for (i = 0; i < 200; i++)
		ks_current_swap(cur, build(T0 + (int64_t)i));
	stop = 1;
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_gt(r[i].reads, 0);
	}
	/* the reference taken before all the swaps is still good */
	cr_assert_eq(held->directory[0], '{');
	ks_keyset_unref(held);
	ks_current_free(cur);
	ks_current_free(NULL);
	ks_keyset_unref(NULL);
}
