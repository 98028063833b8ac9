/* Partially blind RSA, the issuer's derived keys
 * (draft-irtf-cfrg-partially-blind-rsa-01, DeriveKeyPair): d' = e'^-1 mod
 * phi(n) and its CRT form, imported as an OpenSSL key ready for raw signing.
 *
 * As in bsig.c, an entry signs through slots that own a copy of the key and
 * prepared contexts (OpenSSL 3.0's RSA blinding locks a shared key); an
 * entry starts with one slot and grows up to max_slots under load. Freeing
 * an OpenSSL RSA key clears its private numbers. */
#include "pbrsa.h"
#include "pbrsa_int.h"
#include "base/pp_err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

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

void pbrsa_entry_unref(struct pbrsa_entry *e)
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

struct pbrsa_slot *pbrsa_entry_acquire(struct pbrsa_entry *e)
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
static int derive_pkey(const struct pbrsa_numbers *k, const uint8_t *info,
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
	rc = pbrsa_eprime_n(k->n, info, info_len, ep);
	if (rc != 0)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	BN_set_flags(d, BN_FLG_CONSTTIME);
	if (BN_bin2bn(ep, sizeof(ep), e) == NULL)
		goto cleanup;
	/* with safe primes the inverse always exists (see pbrsa_eprime_n) */
	if (BN_mod_inverse(d, e, k->phi, ctx) == NULL) {
		rc = PP_ERR_KEY;
		goto cleanup;
	}
	if (!BN_mod(dp, d, k->p1, ctx) || !BN_mod(dq, d, k->q1, ctx))
		goto cleanup;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, k->n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, k->p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, k->q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
				    k->qinv))
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

int pbrsa_entry_new(const struct pbrsa_numbers *k, unsigned max_slots,
		    const uint8_t *info, size_t info_len,
		    const uint8_t id[PBRSA_ID_LEN], struct pbrsa_entry **out)
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
	e->max_slots = max_slots;
	e->chain = -1;
	rc = derive_pkey(k, info, info_len, &e->pkey);
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
	pbrsa_entry_unref(e);
	return rc;
}

void pbrsa_slot_release(struct pbrsa_slot *sl)
{
	if (pthread_mutex_unlock(&sl->mu) != 0)
		abort();
}
