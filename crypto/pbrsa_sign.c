/* Partially blind RSA, issuer side: BlindSign with derived keys
 * (draft-irtf-cfrg-partially-blind-rsa-01, DeriveKeyPair and BlindSign).
 *
 * A derived key for one info value costs a modular inverse mod phi(n) and
 * the setup of an OpenSSL key, so it is made once and kept in a bounded
 * cache keyed by SHA-256(info), evicted by the clock (second chance) rule.
 * The cache mutex is held only to look up, insert and evict: never while a
 * key is derived or a message signed. An entry is reference-counted so that
 * eviction never frees a key a signer is using; the last reference frees it,
 * and freeing an OpenSSL RSA key clears its private numbers.
 *
 * As in bsig.c, each entry signs through slots that own a copy of the key
 * and prepared contexts (OpenSSL 3.0's RSA blinding locks a shared key);
 * an entry starts with one slot and grows up to key_slots under load. */
#include "pbrsa.h"
#include "pbrsa_int.h"
#include "pp_err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PBRSA_MAX_CACHE 65536
#define PBRSA_MAX_KEY_SLOTS 64
#define PBRSA_ID_LEN SHA256_DIGEST_LENGTH

struct pbrsa_slot {
	pthread_mutex_t mu;
	EVP_PKEY *pkey;      /* this slot's own copy of the derived key */
	EVP_PKEY_CTX *op;    /* raw private operation with d' (CRT) */
	EVP_PKEY_CTX *check; /* raw public operation with e' */
};

struct pbrsa_entry {
	uint8_t id[PBRSA_ID_LEN]; /* SHA-256(info) */
	unsigned long refs;       /* the cache's and each signature's */
	EVP_PKEY *pkey;           /* (n, e', d', p, q, d'p, d'q, qinv) */
	pthread_mutex_t grow;     /* serialises adding slots */
	struct pbrsa_slot **slots; /* max_slots pointers, nslots made */
	atomic_uint nslots;
	atomic_uint next;
	unsigned max_slots;
	/* under the signer's mutex: */
	int used;   /* clock bit: looked up since the hand last passed */
	long chain; /* next table index in the same bucket, -1 ends */
};

struct pbrsa_signer {
	pthread_mutex_t mu;          /* guards everything below it */
	struct pbrsa_entry **table;  /* cap entries; the first count in use */
	long *buckets;               /* nbuckets chain heads (table indices) */
	unsigned cap, count, hand, nbuckets;
	struct pbrsa_stats stats;
	/* read-only after creation: */
	unsigned key_slots;
	BIGNUM *n, *p, *q, *phi, *p1, *q1, *qinv;
	uint8_t n_bytes[PBRSA_MODULUS_LEN];
};

/* ---- slots and entries ---- */

static void slot_free(struct pbrsa_slot *sl)
{
	if (sl == NULL)
		return;
	EVP_PKEY_CTX_free(sl->op);
	EVP_PKEY_CTX_free(sl->check);
	EVP_PKEY_free(sl->pkey); /* RSA_free clears d', d'p, d'q */
	pthread_mutex_destroy(&sl->mu);
	OPENSSL_free(sl);
}

static struct pbrsa_slot *slot_new(EVP_PKEY *pkey)
{
	struct pbrsa_slot *sl = OPENSSL_zalloc(sizeof(*sl));

	if (sl == NULL)
		return NULL;
	if (pthread_mutex_init(&sl->mu, NULL) != 0) {
		OPENSSL_free(sl);
		return NULL;
	}
	sl->pkey = EVP_PKEY_dup(pkey);
	if (sl->pkey)
		sl->op = EVP_PKEY_CTX_new_from_pkey(NULL, sl->pkey, NULL);
	if (sl->pkey)
		sl->check = EVP_PKEY_CTX_new_from_pkey(NULL, sl->pkey, NULL);
	/* RSASP1 and RSAVP1: raw modular exponentiation, no padding */
	if (sl->op == NULL || sl->check == NULL ||
	    EVP_PKEY_sign_init(sl->op) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(sl->op, RSA_NO_PADDING) <= 0 ||
	    EVP_PKEY_verify_recover_init(sl->check) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(sl->check, RSA_NO_PADDING) <= 0) {
		slot_free(sl);
		ERR_clear_error();
		return NULL;
	}
	return sl;
}

static void entry_unref(struct pbrsa_entry *e)
{
	unsigned i;

	if (e == NULL || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (e->slots) {
		for (i = 0; i < atomic_load(&e->nslots); i++)
			slot_free(e->slots[i]);
		OPENSSL_free(e->slots);
	}
	EVP_PKEY_free(e->pkey);
	pthread_mutex_destroy(&e->grow);
	OPENSSL_clear_free(e, sizeof(*e));
}

/* A free slot of e, else a new one while e has fewer than max_slots, else
 * a wait on one. Returns the slot locked. */
static struct pbrsa_slot *entry_acquire(struct pbrsa_entry *e)
{
	unsigned start = atomic_fetch_add(&e->next, 1);
	unsigned n = atomic_load(&e->nslots), i;
	struct pbrsa_slot *sl;

	for (i = 0; i < n; i++) {
		sl = e->slots[(start + i) % n];
		if (pthread_mutex_trylock(&sl->mu) == 0)
			return sl;
	}
	if (n < e->max_slots && pthread_mutex_trylock(&e->grow) == 0) {
		n = atomic_load(&e->nslots);
		sl = n < e->max_slots ? slot_new(e->pkey) : NULL;
		if (sl && pthread_mutex_lock(&sl->mu) == 0) {
			e->slots[n] = sl;
			atomic_store(&e->nslots, n + 1); /* publishes slots[n] */
			pthread_mutex_unlock(&e->grow);
			return sl;
		}
		slot_free(sl);
		pthread_mutex_unlock(&e->grow);
		n = atomic_load(&e->nslots);
	}
	sl = e->slots[start % n];
	if (pthread_mutex_lock(&sl->mu) != 0)
		abort(); /* a broken mutex is a broken invariant */
	return sl;
}

/* DeriveKeyPair: e' from info, d' = e'^-1 mod phi, and the CRT form
 * (d'p = d' mod (p-1), d'q = d' mod (q-1), qinv as the base key's). */
static int derive_pkey(const struct pbrsa_signer *s, const uint8_t *info,
		       size_t info_len, EVP_PKEY **out)
{
	uint8_t ep[PBRSA_EPRIME_LEN];
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *e = BN_new(), *d = BN_secure_new();
	BIGNUM *dp = BN_secure_new(), *dq = BN_secure_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	OSSL_PARAM *params = NULL;
	int rc = PP_ERR_NOMEM;

	if (!ctx || !e || !d || !dp || !dq || !bld || !pctx)
		goto cleanup;
	rc = pbrsa_eprime_n(s->n, info, info_len, ep);
	if (rc != 0)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	BN_set_flags(d, BN_FLG_CONSTTIME);
	if (BN_bin2bn(ep, sizeof(ep), e) == NULL)
		goto cleanup;
	/* with safe primes the inverse always exists (see pbrsa_eprime_n) */
	if (BN_mod_inverse(d, e, s->phi, ctx) == NULL) {
		rc = PP_ERR_KEY;
		goto cleanup;
	}
	if (!BN_mod(dp, d, s->p1, ctx) || !BN_mod(dq, d, s->q1, ctx))
		goto cleanup;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, s->n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, s->p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, s->q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
				    s->qinv))
		goto cleanup;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, out, EVP_PKEY_KEYPAIR, params) <= 0)
		goto cleanup;
	rc = 0;
cleanup:
	OSSL_PARAM_free(params); /* the secret numbers are in its secure part */
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(pctx);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_CTX_free(ctx);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

static int entry_new(const struct pbrsa_signer *s, const uint8_t *info,
		     size_t info_len, const uint8_t id[PBRSA_ID_LEN],
		     struct pbrsa_entry **out)
{
	struct pbrsa_entry *e = OPENSSL_zalloc(sizeof(*e));
	int rc;

	*out = NULL;
	if (e == NULL)
		return PP_ERR_NOMEM;
	if (pthread_mutex_init(&e->grow, NULL) != 0) {
		OPENSSL_free(e);
		return PP_ERR_NOMEM;
	}
	e->refs = 1;
	memcpy(e->id, id, PBRSA_ID_LEN);
	e->max_slots = s->key_slots;
	e->chain = -1;
	rc = derive_pkey(s, info, info_len, &e->pkey);
	if (rc != 0)
		goto cleanup;
	rc = PP_ERR_NOMEM;
	e->slots = OPENSSL_zalloc(e->max_slots * sizeof(*e->slots));
	if (e->slots == NULL)
		goto cleanup;
	e->slots[0] = slot_new(e->pkey);
	if (e->slots[0] == NULL)
		goto cleanup;
	atomic_store(&e->nslots, 1);
	*out = e;
	e = NULL;
	rc = 0;
cleanup:
	entry_unref(e);
	return rc;
}

/* ---- the cache (all under s->mu) ---- */

static unsigned bucket_of(const struct pbrsa_signer *s,
			  const uint8_t id[PBRSA_ID_LEN])
{
	uint32_t h = (uint32_t)id[0] | (uint32_t)id[1] << 8 |
		     (uint32_t)id[2] << 16 | (uint32_t)id[3] << 24;

	return h & (s->nbuckets - 1);
}

static struct pbrsa_entry *cache_find(struct pbrsa_signer *s,
				      const uint8_t id[PBRSA_ID_LEN])
{
	long i;

	for (i = s->buckets[bucket_of(s, id)]; i >= 0; i = s->table[i]->chain)
		if (memcmp(s->table[i]->id, id, PBRSA_ID_LEN) == 0)
			return s->table[i];
	return NULL;
}

/* Unlinks table[idx] from its bucket and returns it (the cache's ref). */
static struct pbrsa_entry *cache_take(struct pbrsa_signer *s, unsigned idx)
{
	struct pbrsa_entry *victim = s->table[idx];
	long *link = &s->buckets[bucket_of(s, victim->id)];

	while (*link != (long)idx)
		link = &s->table[*link]->chain;
	*link = victim->chain;
	s->table[idx] = NULL;
	return victim;
}

/* Inserts e (taking one reference for the cache). When full, the clock
 * hand picks a victim: the first entry not looked up since it last passed.
 * The victim is returned for the caller to drop after unlocking. */
static struct pbrsa_entry *cache_insert(struct pbrsa_signer *s,
					struct pbrsa_entry *e)
{
	struct pbrsa_entry *victim = NULL;
	unsigned idx, b;

	if (s->count < s->cap) {
		idx = s->count++;
	} else {
		while (s->table[s->hand]->used) {
			s->table[s->hand]->used = 0;
			s->hand = (s->hand + 1) % s->cap;
		}
		idx = s->hand;
		s->hand = (s->hand + 1) % s->cap;
		victim = cache_take(s, idx);
		s->stats.evictions++;
	}
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	b = bucket_of(s, e->id);
	e->used = 1;
	e->chain = s->buckets[b];
	s->buckets[b] = (long)idx;
	s->table[idx] = e;
	return victim;
}

static void lock(pthread_mutex_t *mu)
{
	if (pthread_mutex_lock(mu) != 0)
		abort();
}

static void unlock(pthread_mutex_t *mu)
{
	if (pthread_mutex_unlock(mu) != 0)
		abort();
}

/* The cached entry for info, derived on a miss; the caller unrefs it. Two
 * threads that miss on the same info at once both derive; the first to
 * insert wins and the other's copy is dropped. */
static int entry_get(struct pbrsa_signer *s, const uint8_t *info,
		     size_t info_len, struct pbrsa_entry **out)
{
	uint8_t id[PBRSA_ID_LEN];
	struct pbrsa_entry *e, *mine = NULL, *victim = NULL;
	int rc;

	*out = NULL;
	if (SHA256(info_len ? info : (const uint8_t *)"", info_len, id) ==
	    NULL)
		return PP_ERR_INTERNAL;
	lock(&s->mu);
	e = cache_find(s, id);
	if (e) {
		e->used = 1;
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
		s->stats.hits++;
	}
	unlock(&s->mu);
	if (e) {
		*out = e;
		return 0;
	}

	rc = entry_new(s, info, info_len, id, &mine); /* no lock held */
	if (rc != 0)
		return rc;
	lock(&s->mu);
	s->stats.derivations++;
	e = cache_find(s, id);
	if (e) {
		e->used = 1;
		__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
	} else {
		victim = cache_insert(s, mine);
		e = mine;
		mine = NULL;
	}
	unlock(&s->mu);
	entry_unref(victim);
	entry_unref(mine);
	*out = e;
	return 0;
}

/* ---- signer ---- */

static unsigned default_key_slots(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		cpus = 1;
	if (cpus > PBRSA_MAX_KEY_SLOTS / 2)
		cpus = PBRSA_MAX_KEY_SLOTS / 2;
	return (unsigned)cpus * 2;
}

static int signer_numbers(struct pbrsa_signer *s, EVP_PKEY *pkey)
{
	BN_CTX *ctx = NULL;
	int rc = pbrsa_key_n(pkey, &s->n);

	if (rc != 0)
		return rc;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &s->p) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, &s->q))
		return PP_ERR_KEY;
	rc = pbrsa_check_safe_primes(pkey);
	if (rc != 0)
		return rc;
	ctx = BN_CTX_secure_new();
	s->phi = BN_secure_new();
	s->p1 = BN_secure_new();
	s->q1 = BN_secure_new();
	s->qinv = BN_secure_new();
	if (!ctx || !s->phi || !s->p1 || !s->q1 || !s->qinv) {
		BN_CTX_free(ctx);
		return PP_ERR_NOMEM;
	}
	BN_set_flags(s->p, BN_FLG_CONSTTIME);
	BN_set_flags(s->q, BN_FLG_CONSTTIME);
	BN_set_flags(s->phi, BN_FLG_CONSTTIME);
	rc = BN_sub(s->p1, s->p, BN_value_one()) &&
	     BN_sub(s->q1, s->q, BN_value_one()) &&
	     BN_mul(s->phi, s->p1, s->q1, ctx) &&
	     BN_mod_inverse(s->qinv, s->q, s->p, ctx) != NULL &&
	     BN_bn2binpad(s->n, s->n_bytes, PBRSA_MODULUS_LEN) > 0 ?
		     0 : PP_ERR_INTERNAL;
	BN_CTX_free(ctx);
	return rc;
}

int pbrsa_signer_new(EVP_PKEY *pkey, unsigned cache_cap, unsigned key_slots,
		     struct pbrsa_signer **out)
{
	struct pbrsa_signer *s = NULL;
	unsigned i;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	if (pkey == NULL || cache_cap > PBRSA_MAX_CACHE ||
	    key_slots > PBRSA_MAX_KEY_SLOTS)
		return PP_ERR_ARG;
	/* a key typed RSA-PSS refuses raw operations */
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
		return PP_ERR_KEY;
	s = OPENSSL_zalloc(sizeof(*s));
	if (s == NULL)
		return PP_ERR_NOMEM;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		OPENSSL_free(s);
		return PP_ERR_NOMEM;
	}
	s->cap = cache_cap ? cache_cap : PBRSA_CACHE_DEFAULT;
	s->key_slots = key_slots ? key_slots : default_key_slots();
	for (s->nbuckets = 16; s->nbuckets < 2 * s->cap; s->nbuckets *= 2)
		;
	rc = signer_numbers(s, pkey);
	if (rc != 0)
		goto cleanup;
	rc = PP_ERR_NOMEM;
	s->table = OPENSSL_zalloc(s->cap * sizeof(*s->table));
	s->buckets = OPENSSL_malloc(s->nbuckets * sizeof(*s->buckets));
	if (s->table == NULL || s->buckets == NULL)
		goto cleanup;
	for (i = 0; i < s->nbuckets; i++)
		s->buckets[i] = -1;
	*out = s;
	s = NULL;
	rc = 0;
cleanup:
	pbrsa_signer_free(s);
	ERR_clear_error();
	return rc;
}

void pbrsa_signer_free(struct pbrsa_signer *s)
{
	unsigned i;

	if (s == NULL)
		return;
	if (s->table) {
		for (i = 0; i < s->cap; i++)
			entry_unref(s->table[i]);
		OPENSSL_free(s->table);
	}
	OPENSSL_free(s->buckets);
	BN_free(s->n);
	BN_clear_free(s->p);
	BN_clear_free(s->q);
	BN_clear_free(s->phi);
	BN_clear_free(s->p1);
	BN_clear_free(s->q1);
	BN_clear_free(s->qinv);
	pthread_mutex_destroy(&s->mu);
	OPENSSL_free(s);
}

void pbrsa_signer_stats(struct pbrsa_signer *s, struct pbrsa_stats *out)
{
	lock(&s->mu);
	*out = s->stats;
	out->entries = s->count;
	unlock(&s->mu);
}

int pbrsa_blind_sign(struct pbrsa_signer *s, const uint8_t *blinded,
		     size_t blinded_len, const uint8_t *info, size_t info_len,
		     uint8_t *out, size_t out_cap)
{
	uint8_t back[PBRSA_MODULUS_LEN];
	struct pbrsa_entry *e = NULL;
	struct pbrsa_slot *sl = NULL;
	size_t sig_len = PBRSA_MODULUS_LEN, back_len = sizeof(back);
	int rc;

	if (s == NULL || out == NULL)
		return PP_ERR_ARG;
	memset(out, 0, out_cap < PBRSA_MODULUS_LEN ? out_cap : PBRSA_MODULUS_LEN);
	if (out_cap < PBRSA_MODULUS_LEN)
		return PP_ERR_BUFFER;
	if (info == NULL && info_len != 0)
		return PP_ERR_ARG;
	if (blinded == NULL || blinded_len != PBRSA_MODULUS_LEN ||
	    info_len > PBRSA_MAX_INFO)
		return PP_ERR_LENGTH;
	/* equal lengths, big-endian: byte order is numeric order */
	if (memcmp(blinded, s->n_bytes, PBRSA_MODULUS_LEN) >= 0)
		return PP_ERR_MSG_RANGE;

	rc = entry_get(s, info, info_len, &e);
	if (rc != 0)
		goto cleanup;
	sl = entry_acquire(e);
	if (EVP_PKEY_sign(sl->op, out, &sig_len, blinded, blinded_len) <= 0 ||
	    sig_len != PBRSA_MODULUS_LEN) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	/* the draft's step 4-5: s^e' mod n must give m back, else a fault
	 * in the CRT computation could reveal a factor of n */
	if (EVP_PKEY_verify_recover(sl->check, back, &back_len, out,
				    sig_len) <= 0 ||
	    back_len != PBRSA_MODULUS_LEN ||
	    CRYPTO_memcmp(back, blinded, PBRSA_MODULUS_LEN) != 0) {
		rc = PP_ERR_SIGN_CHECK;
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (sl)
		unlock(&sl->mu);
	entry_unref(e);
	if (rc != 0) {
		OPENSSL_cleanse(out, PBRSA_MODULUS_LEN);
		ERR_clear_error();
	}
	OPENSSL_cleanse(back, sizeof(back));
	return rc;
}
