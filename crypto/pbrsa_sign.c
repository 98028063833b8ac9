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
 * The derived keys themselves are made in pbrsa_derive.c. */
#include "pbrsa.h"
#include "pbrsa_int.h"
#include "base/pp_err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PBRSA_MAX_CACHE 65536
#define PBRSA_MAX_KEY_SLOTS 64

struct pbrsa_signer {
	pthread_mutex_t mu;          /* guards everything below it */
	struct pbrsa_entry **table;  /* cap entries; the first count in use */
	long *buckets;               /* nbuckets chain heads (table indices) */
	unsigned cap, count, hand, nbuckets;
	struct pbrsa_stats stats;
	/* read-only after creation: */
	unsigned key_slots;
	struct pbrsa_numbers k;
	uint8_t n_bytes[PBRSA_MODULUS_LEN];
};

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

	rc = pbrsa_entry_new(&s->k, s->key_slots, info, info_len, id,
			     &mine); /* no lock held */
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
	pbrsa_entry_unref(victim);
	pbrsa_entry_unref(mine);
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
	int rc = pbrsa_key_n(pkey, &s->k.n);

	if (rc != 0)
		return rc;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &s->k.p) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, &s->k.q))
		return PP_ERR_KEY;
	rc = pbrsa_check_safe_primes(pkey);
	if (rc != 0)
		return rc;
	ctx = BN_CTX_secure_new();
	s->k.phi = BN_secure_new();
	s->k.p1 = BN_secure_new();
	s->k.q1 = BN_secure_new();
	s->k.qinv = BN_secure_new();
	if (!ctx || !s->k.phi || !s->k.p1 || !s->k.q1 || !s->k.qinv) {
		BN_CTX_free(ctx);
		return PP_ERR_NOMEM;
	}
	BN_set_flags(s->k.p, BN_FLG_CONSTTIME);
	BN_set_flags(s->k.q, BN_FLG_CONSTTIME);
	BN_set_flags(s->k.phi, BN_FLG_CONSTTIME);
	rc = BN_sub(s->k.p1, s->k.p, BN_value_one()) &&
	     BN_sub(s->k.q1, s->k.q, BN_value_one()) &&
	     BN_mul(s->k.phi, s->k.p1, s->k.q1, ctx) &&
	     BN_mod_inverse(s->k.qinv, s->k.q, s->k.p, ctx) != NULL &&
	     BN_bn2binpad(s->k.n, s->n_bytes, PBRSA_MODULUS_LEN) > 0 ?
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
			pbrsa_entry_unref(s->table[i]);
		OPENSSL_free(s->table);
	}
	OPENSSL_free(s->buckets);
	BN_free(s->k.n);
	BN_clear_free(s->k.p);
	BN_clear_free(s->k.q);
	BN_clear_free(s->k.phi);
	BN_clear_free(s->k.p1);
	BN_clear_free(s->k.q1);
	BN_clear_free(s->k.qinv);
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
	sl = pbrsa_entry_acquire(e);
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
		pbrsa_slot_release(sl);
	pbrsa_entry_unref(e);
	if (rc != 0) {
		OPENSSL_cleanse(out, PBRSA_MODULUS_LEN);
		ERR_clear_error();
	}
	OPENSSL_cleanse(back, sizeof(back));
	return rc;
}
