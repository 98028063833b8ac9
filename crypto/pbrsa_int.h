/* Internal to the pbrsa module (pbrsa.c, pbrsa_derive.c, pbrsa_sign.c):
 * not for other layers. */
#ifndef PP_PBRSA_INT_H
#define PP_PBRSA_INT_H

#include "pbrsa.h"

#include <openssl/bn.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>

/* DerivePublicKey on a modulus already checked to be 2048 bits.
 * Returns 0, PP_ERR_LENGTH (info too long), PP_ERR_NOMEM, PP_ERR_INTERNAL. */
int pbrsa_eprime_n(const BIGNUM *n, const uint8_t *info, size_t info_len,
		   uint8_t eprime[PBRSA_EPRIME_LEN]);

/* n of an RSA or RSA-PSS key, refused (PP_ERR_KEY) unless 2048 bits. */
int pbrsa_key_n(const EVP_PKEY *pk, BIGNUM **n);

#define PBRSA_ID_LEN SHA256_DIGEST_LENGTH

/* The signer's secret numbers, read-only after pbrsa_signer_new. */
struct pbrsa_numbers {
	BIGNUM *n, *p, *q, *phi, *p1, *q1, *qinv; /* p1 = p - 1, q1 = q - 1 */
};

/* One signing context: its own copy of a derived key, prepared contexts. */
struct pbrsa_slot {
	pthread_mutex_t mu;
	EVP_PKEY *pkey;      /* this slot's own copy of the derived key */
	EVP_PKEY_CTX *op;    /* raw private operation with d' (CRT) */
	EVP_PKEY_CTX *check; /* raw public operation with e' */
};

/* A derived key for one info value (pbrsa_derive.c); the cache fields are
 * the signer's (pbrsa_sign.c), under its mutex. */
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

/* DeriveKeyPair for info into a new entry (one reference, one slot ready).
 * Returns 0, PP_ERR_KEY (no inverse: not a safe-prime key), PP_ERR_LENGTH,
 * PP_ERR_NOMEM, PP_ERR_INTERNAL. Holds no lock of the signer. */
int pbrsa_entry_new(const struct pbrsa_numbers *k, unsigned max_slots,
		    const uint8_t *info, size_t info_len,
		    const uint8_t id[PBRSA_ID_LEN], struct pbrsa_entry **out);
/* Drops a reference; the last frees the entry and clears its keys. */
void pbrsa_entry_unref(struct pbrsa_entry *e);
/* A slot of e, locked: a free one, a new one while fewer than max_slots,
 * else a wait. Release with pbrsa_slot_release. */
struct pbrsa_slot *pbrsa_entry_acquire(struct pbrsa_entry *e);
void pbrsa_slot_release(struct pbrsa_slot *sl);

#endif
