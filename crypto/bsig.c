/* RSA blind signatures (RFC 9474): the issuer's BlindSign and the prepared
 * RSASSA-PSS verifier. The client side (prepare, blind, finalize) lives in
 * bsig_client.c.
 *
 * Both the signer and the verifier own a pool of slots. A slot holds its own
 * copy of the key and contexts prepared once, so the hot path allocates
 * nothing. Each slot has its own key copy because OpenSSL 3.0's RSA blinding
 * takes a lock on the RSA object when threads share it. */
#include "bsig.h"
#include "bsig_int.h"
#include "base/pp_err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BSIG_MAX_SLOTS 1024
#define BSIG_MAX_BITS (BSIG_MAX_MODULUS * 8)

struct bsig_slot {
	pthread_mutex_t mu;
	EVP_PKEY *pkey;      /* this slot's own copy */
	EVP_PKEY_CTX *op;    /* raw private op (signer) or PSS verify */
	EVP_PKEY_CTX *check; /* raw public op for the signer's check */
};

struct bsig_pool {
	struct bsig_slot **slots;
	unsigned nslots;
	atomic_uint next; /* round-robin start, spreads threads over slots */
};

struct bsig_signer {
	struct bsig_pool pool;
	struct bsig_raw raw;  /* raw.sign set: the private op is elsewhere */
	size_t mod_len;
	uint8_t n[BSIG_MAX_MODULUS]; /* big-endian modulus, for the range check */
};

struct bsig_verifier {
	struct bsig_pool pool;
	EVP_MD *md;
	size_t mod_len;
	uint8_t n[BSIG_MAX_MODULUS];
};

size_t bsig_salt_len(enum bsig_variant v)
{
	switch (v) {
	case BSIG_SHA384_PSS_RANDOMIZED:
	case BSIG_SHA384_PSS_DETERMINISTIC:
		return BSIG_SALT_LEN;
	case BSIG_SHA384_PSSZERO_RANDOMIZED:
	case BSIG_SHA384_PSSZERO_DETERMINISTIC:
		return 0;
	}
	abort(); /* not a variant: caller bug */
}

int bsig_is_randomized(enum bsig_variant v)
{
	switch (v) {
	case BSIG_SHA384_PSS_RANDOMIZED:
	case BSIG_SHA384_PSSZERO_RANDOMIZED:
		return 1;
	case BSIG_SHA384_PSS_DETERMINISTIC:
	case BSIG_SHA384_PSSZERO_DETERMINISTIC:
		return 0;
	}
	abort();
}

EVP_PKEY *bsig_pkey_unconst(const EVP_PKEY *pk)
{
	/* through uintptr_t: -Wcast-qual is right everywhere else */
	return (EVP_PKEY *)(uintptr_t)pk;
}

int bsig_key_public(const EVP_PKEY *pk, BIGNUM **n_out, BIGNUM **e_out)
{
	BIGNUM *n = NULL, *e = NULL;
	int bits, rc = PP_ERR_KEY;

	if (n_out)
		*n_out = NULL;
	if (e_out)
		*e_out = NULL;
	if (pk == NULL)
		return PP_ERR_ARG;
	if (!EVP_PKEY_is_a(pk, "RSA") && !EVP_PKEY_is_a(pk, "RSA-PSS"))
		goto cleanup;
	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e))
		goto cleanup;
	bits = BN_num_bits(n);
	if (bits < BSIG_MIN_BITS || bits > BSIG_MAX_BITS)
		goto cleanup;
	/* an even e has no inverse mod phi(n); e = 1 signs nothing */
	if (!BN_is_odd(e) || BN_is_one(e) || BN_is_negative(e))
		goto cleanup;
	if (n_out) {
		*n_out = n;
		n = NULL;
	}
	if (e_out) {
		*e_out = e;
		e = NULL;
	}
	rc = 0;
cleanup:
	BN_free(n);
	BN_free(e);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

/* ---- slot pool ---- */

static unsigned pool_default_slots(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		cpus = 1;
	if (cpus > BSIG_MAX_SLOTS / 2)
		cpus = BSIG_MAX_SLOTS / 2;
	return (unsigned)cpus * 2;
}

static void slot_free(struct bsig_slot *sl)
{
	if (sl == NULL)
		return;
	EVP_PKEY_CTX_free(sl->op);
	EVP_PKEY_CTX_free(sl->check);
	EVP_PKEY_free(sl->pkey); /* RSA_free clears the private numbers */
	pthread_mutex_destroy(&sl->mu);
	OPENSSL_free(sl);
}

static struct bsig_slot *slot_new(EVP_PKEY *pkey)
{
	struct bsig_slot *sl = OPENSSL_zalloc(sizeof(*sl));

	if (sl == NULL)
		return NULL;
	if (pthread_mutex_init(&sl->mu, NULL) != 0) {
		OPENSSL_free(sl);
		return NULL;
	}
	sl->pkey = EVP_PKEY_dup(pkey);
	if (sl->pkey == NULL) {
		slot_free(sl);
		return NULL;
	}
	return sl;
}

static void pool_free(struct bsig_pool *p)
{
	unsigned i;

	if (p->slots == NULL)
		return;
	for (i = 0; i < p->nslots; i++)
		slot_free(p->slots[i]);
	OPENSSL_free(p->slots);
	p->slots = NULL;
}

/* Any free slot, starting from a rotating position; when all are busy, waits
 * on one. Returns the slot locked. */
static struct bsig_slot *pool_acquire(struct bsig_pool *p)
{
	unsigned start = atomic_fetch_add_explicit(&p->next, 1,
						   memory_order_relaxed);
	struct bsig_slot *sl;
	unsigned i;

	for (i = 0; i < p->nslots; i++) {
		sl = p->slots[(start + i) % p->nslots];
		if (pthread_mutex_trylock(&sl->mu) == 0)
			return sl;
	}
	sl = p->slots[start % p->nslots];
	if (pthread_mutex_lock(&sl->mu) != 0)
		abort(); /* a broken mutex is a broken invariant */
	return sl;
}

static void pool_release(struct bsig_slot *sl)
{
	if (pthread_mutex_unlock(&sl->mu) != 0)
		abort();
}

/* ---- issuer: BlindSign ---- */

static int signer_slot_prepare(struct bsig_slot *sl, int raw)
{
	if (!raw)
		sl->op = EVP_PKEY_CTX_new_from_pkey(NULL, sl->pkey, NULL);
	sl->check = EVP_PKEY_CTX_new_from_pkey(NULL, sl->pkey, NULL);
	if ((!raw && sl->op == NULL) || sl->check == NULL)
		return PP_ERR_NOMEM;
	/* RSASP1 and RSAVP1: raw modular exponentiation, no padding */
	if ((!raw && (EVP_PKEY_sign_init(sl->op) <= 0 ||
		      EVP_PKEY_CTX_set_rsa_padding(sl->op, RSA_NO_PADDING) <= 0)) ||
	    EVP_PKEY_verify_recover_init(sl->check) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(sl->check, RSA_NO_PADDING) <= 0)
		return PP_ERR_KEY;
	return 0;
}

int bsig_signer_new(EVP_PKEY *pkey, unsigned nslots, struct bsig_signer **out)
{
	struct bsig_signer *s = NULL;
	BIGNUM *n = NULL, *d = NULL, *p = NULL;
	unsigned i;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	if (pkey == NULL || nslots > BSIG_MAX_SLOTS)
		return PP_ERR_ARG;
	/* a key typed RSA-PSS refuses raw operations */
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
		return PP_ERR_KEY;
	rc = bsig_key_public(pkey, &n, NULL);
	if (rc != 0)
		goto cleanup;
	/* a private key, with its CRT factors: without them every signature
	 * would take the slow path */
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &p)) {
		rc = PP_ERR_KEY;
		goto cleanup;
	}
	s = OPENSSL_zalloc(sizeof(*s));
	if (s == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	s->mod_len = (size_t)BN_num_bytes(n);
	if (BN_bn2binpad(n, s->n, (int)s->mod_len) < 0) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	s->pool.nslots = nslots ? nslots : pool_default_slots();
	s->pool.slots = OPENSSL_zalloc(s->pool.nslots * sizeof(*s->pool.slots));
	if (s->pool.slots == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < s->pool.nslots; i++) {
		s->pool.slots[i] = slot_new(pkey);
		if (s->pool.slots[i] == NULL) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
		rc = signer_slot_prepare(s->pool.slots[i], 0);
		if (rc != 0)
			goto cleanup;
	}
	*out = s;
	s = NULL;
	rc = 0;
cleanup:
	BN_free(n);
	BN_clear_free(d);
	BN_clear_free(p);
	bsig_signer_free(s);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int bsig_signer_new_raw(const EVP_PKEY *pub, const struct bsig_raw *raw,
			unsigned nslots, struct bsig_signer **out)
{
	struct bsig_signer *s = NULL;
	EVP_PKEY *pk = bsig_pkey_unconst(pub);
	BIGNUM *n = NULL;
	unsigned i;
	int rc;

	if (out == NULL || raw == NULL || raw->sign == NULL)
		abort(); /* misuse: nothing would own raw->ctx */
	*out = NULL;
	if (pub == NULL || nslots > BSIG_MAX_SLOTS) {
		rc = PP_ERR_ARG;
		goto cleanup;
	}
	if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA) {
		rc = PP_ERR_KEY;
		goto cleanup;
	}
	rc = bsig_key_public(pub, &n, NULL);
	if (rc != 0)
		goto cleanup;
	s = OPENSSL_zalloc(sizeof(*s));
	if (s == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	s->raw = *raw;
	raw = NULL;   /* s owns the context now */
	s->mod_len = (size_t)BN_num_bytes(n);
	if (BN_bn2binpad(n, s->n, (int)s->mod_len) < 0) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	s->pool.nslots = nslots ? nslots : pool_default_slots();
	s->pool.slots = OPENSSL_zalloc(s->pool.nslots * sizeof(*s->pool.slots));
	if (s->pool.slots == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < s->pool.nslots; i++) {
		s->pool.slots[i] = slot_new(pk);
		if (s->pool.slots[i] == NULL) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
		rc = signer_slot_prepare(s->pool.slots[i], 1);
		if (rc != 0)
			goto cleanup;
	}
	*out = s;
	s = NULL;
	rc = 0;
cleanup:
	if (raw && raw->release)
		raw->release(raw->ctx);
	BN_free(n);
	bsig_signer_free(s);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

void bsig_signer_free(struct bsig_signer *s)
{
	if (s == NULL)
		return;
	if (s->raw.release)
		s->raw.release(s->raw.ctx);
	pool_free(&s->pool);
	OPENSSL_free(s);
}

size_t bsig_signer_modulus_len(const struct bsig_signer *s)
{
	return s->mod_len;
}

int bsig_blind_sign(struct bsig_signer *s, const uint8_t *blinded,
		    size_t blinded_len, uint8_t *out, size_t out_cap)
{
	uint8_t back[BSIG_MAX_MODULUS];
	struct bsig_slot *sl = NULL;
	size_t sig_len, back_len = sizeof(back);
	int rc;

	if (s == NULL || out == NULL)
		return PP_ERR_ARG;
	memset(out, 0, out_cap < s->mod_len ? out_cap : s->mod_len);
	if (out_cap < s->mod_len)
		return PP_ERR_BUFFER;
	if (blinded == NULL || blinded_len != s->mod_len)
		return PP_ERR_LENGTH;
	/* equal lengths, big-endian: byte order is numeric order */
	if (memcmp(blinded, s->n, s->mod_len) >= 0)
		return PP_ERR_MSG_RANGE;

	sig_len = s->mod_len;
	if (s->raw.sign) {
		/* the device does RSASP1; no slot is held while it works */
		rc = s->raw.sign(s->raw.ctx, blinded, blinded_len, out, out_cap);
		if (rc != 0)
			goto cleanup;
		sl = pool_acquire(&s->pool);
	} else {
		sl = pool_acquire(&s->pool);
		if (EVP_PKEY_sign(sl->op, out, &sig_len, blinded,
				  blinded_len) <= 0 || sig_len != s->mod_len) {
			rc = PP_ERR_INTERNAL;
			goto cleanup;
		}
	}
	/* RFC 9474 4.3: a fault in the CRT computation must never leave
	 * the process, it would reveal a factor of n */
	if (EVP_PKEY_verify_recover(sl->check, back, &back_len, out,
				    sig_len) <= 0 ||
	    back_len != s->mod_len ||
	    CRYPTO_memcmp(back, blinded, s->mod_len) != 0) {
		rc = PP_ERR_SIGN_CHECK;
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (sl)
		pool_release(sl);
	if (rc != 0) {
		OPENSSL_cleanse(out, s->mod_len);
		ERR_clear_error();
	}
	OPENSSL_cleanse(back, sizeof(back));
	return rc;
}

/* ---- verification ---- */

static int verify_ctx_prepare(EVP_PKEY_CTX *ctx, enum bsig_variant v,
			      const EVP_MD *md)
{
	if (EVP_PKEY_verify_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)bsig_salt_len(v)) <= 0)
		return PP_ERR_KEY;
	return 0;
}

/* The checks and the hash, done before any slot is taken. */
static int verify_digest(const EVP_MD *md, const uint8_t *n, size_t mod_len,
			 const uint8_t *msg, size_t msg_len, const uint8_t *sig,
			 size_t sig_len, uint8_t h[EVP_MAX_MD_SIZE],
			 unsigned *h_len)
{
	if ((msg == NULL && msg_len != 0) || sig == NULL)
		return PP_ERR_ARG;
	if (sig_len != mod_len)
		return PP_ERR_LENGTH;
	if (memcmp(sig, n, mod_len) >= 0)
		return PP_ERR_MSG_RANGE;
	if (!EVP_Digest(msg, msg_len, h, h_len, md, NULL)) {
		ERR_clear_error();
		return PP_ERR_INTERNAL;
	}
	return 0;
}

static int verify_final(EVP_PKEY_CTX *ctx, const uint8_t *sig, size_t sig_len,
			const uint8_t *h, unsigned h_len)
{
	if (EVP_PKEY_verify(ctx, sig, sig_len, h, h_len) != 1) {
		ERR_clear_error();
		return PP_ERR_VERIFY;
	}
	return 0;
}

static int modulus_bytes(const EVP_PKEY *pk, uint8_t n_out[BSIG_MAX_MODULUS],
			 size_t *mod_len)
{
	BIGNUM *n = NULL;
	int rc = bsig_key_public(pk, &n, NULL);

	if (rc != 0)
		return rc;
	*mod_len = (size_t)BN_num_bytes(n);
	rc = BN_bn2binpad(n, n_out, (int)*mod_len) < 0 ? PP_ERR_INTERNAL : 0;
	BN_free(n);
	return rc;
}

int bsig_verify(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
		size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	uint8_t n[BSIG_MAX_MODULUS], h[EVP_MAX_MD_SIZE];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_MD *md = NULL;
	size_t mod_len = 0;
	unsigned h_len = 0;
	int rc;

	rc = modulus_bytes(pk, n, &mod_len);
	if (rc != 0)
		goto cleanup;
	md = EVP_MD_fetch(NULL, "SHA384", NULL);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, bsig_pkey_unconst(pk), NULL);
	if (md == NULL || ctx == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	rc = verify_ctx_prepare(ctx, v, md);
	if (rc != 0)
		goto cleanup;
	rc = verify_digest(md, n, mod_len, msg, msg_len, sig, sig_len, h, &h_len);
	if (rc == 0)
		rc = verify_final(ctx, sig, sig_len, h, h_len);
cleanup:
	EVP_PKEY_CTX_free(ctx);
	EVP_MD_free(md);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int bsig_verifier_new(const EVP_PKEY *pk, enum bsig_variant v,
		      struct bsig_verifier **out)
{
	struct bsig_verifier *vf = NULL;
	struct bsig_slot *sl;
	unsigned i;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	vf = OPENSSL_zalloc(sizeof(*vf));
	if (vf == NULL)
		return PP_ERR_NOMEM;
	rc = modulus_bytes(pk, vf->n, &vf->mod_len);
	if (rc != 0)
		goto cleanup;
	vf->md = EVP_MD_fetch(NULL, "SHA384", NULL);
	vf->pool.nslots = pool_default_slots();
	vf->pool.slots = OPENSSL_zalloc(vf->pool.nslots * sizeof(*vf->pool.slots));
	if (vf->md == NULL || vf->pool.slots == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < vf->pool.nslots; i++) {
		sl = slot_new(bsig_pkey_unconst(pk));
		vf->pool.slots[i] = sl;
		if (sl == NULL) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
		sl->op = EVP_PKEY_CTX_new_from_pkey(NULL, sl->pkey, NULL);
		if (sl->op == NULL) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
		rc = verify_ctx_prepare(sl->op, v, vf->md);
		if (rc != 0)
			goto cleanup;
	}
	*out = vf;
	vf = NULL;
	rc = 0;
cleanup:
	bsig_verifier_free(vf);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

void bsig_verifier_free(struct bsig_verifier *vf)
{
	if (vf == NULL)
		return;
	pool_free(&vf->pool);
	EVP_MD_free(vf->md);
	OPENSSL_free(vf);
}

int bsig_verifier_verify(struct bsig_verifier *vf, const uint8_t *msg,
			 size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned h_len = 0;
	struct bsig_slot *sl;
	int rc;

	if (vf == NULL)
		return PP_ERR_ARG;
	rc = verify_digest(vf->md, vf->n, vf->mod_len, msg, msg_len, sig,
			   sig_len, h, &h_len);
	if (rc != 0)
		return rc;
	sl = pool_acquire(&vf->pool);
	rc = verify_final(sl->op, sig, sig_len, h, h_len);
	pool_release(sl);
	return rc;
}
