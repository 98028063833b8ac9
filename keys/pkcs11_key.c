/* Key objects in a PKCS#11 token: finding them by CKA_ID, the raw RSA
 * operation behind a signer, and creating keys in the token (generation,
 * and import for migration). */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/rsakey.h"
#include "crypto/spki.h"
#include "crypto/token_types.h"
#include "keys/pkcs11_int.h"

#define P11_MOD_MAX 512
#define P11_NEW_ID_LEN 16

/* A key object as a signer uses it: its handle is looked up again after
 * every reconnection of the backend. */
struct p11_key {
	struct p11 *b;
	uint8_t id[KS_P11_ID_MAX];
	size_t id_len;
	size_t mod_len;
	pthread_mutex_t mu;
	unsigned gen;               /* b->gen the handle belongs to */
	CK_OBJECT_HANDLE h;
	int have_h;
	atomic_int use_decrypt;     /* the module refuses C_Sign for it */
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The objects of a class carrying id (at most cap). */
static CK_RV find_by_id(struct p11 *b, CK_SESSION_HANDLE sh,
			CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
			CK_OBJECT_HANDLE *h, CK_ULONG cap, CK_ULONG *n)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)(uintptr_t)id, (CK_ULONG)id_len },
	};
	CK_RV rv;

	*n = 0;
	rv = b->f->C_FindObjectsInit(sh, t, 2);
	if (rv != CKR_OK)
		return rv;
	rv = b->f->C_FindObjects(sh, h, cap, n);
	b->f->C_FindObjectsFinal(sh);
	return rv;
}

/* A session of the pool, or NULL with why saying the token cannot answer. */
static struct p11_sess *sess_or_why(struct p11 *b, char *why, size_t whylen)
{
	struct p11_sess *s = p11_sess_get(b);

	if (s == NULL)
		pp_errf(why, whylen, "PKCS#11 token '%s' is unavailable", b->token);
	return s;
}

/* The RFC 9578 public form of the RSA key object h (modulus and public
 * exponent as the token gives them). */
static int pub_of(struct p11 *b, CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE h,
		  uint8_t *pub, size_t cap, size_t *pub_len, size_t *mod_len,
		  CK_RV *rv_out)
{
	uint8_t n[P11_MOD_MAX], e[16];
	CK_ATTRIBUTE t[] = {
		{ CKA_MODULUS, n, sizeof(n) },
		{ CKA_PUBLIC_EXPONENT, e, sizeof(e) },
	};
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	int rc = PP_ERR_KEY;

	*pub_len = 0;
	*rv_out = b->f->C_GetAttributeValue(sh, h, t, 2);
	if (*rv_out != CKR_OK)
		return PP_ERR_UNAVAILABLE;
	bn = BN_bin2bn(n, (int)t[0].ulValueLen, NULL);
	be = BN_bin2bn(e, (int)t[1].ulValueLen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto cleanup;
	*mod_len = (size_t)BN_num_bytes(bn);
	rc = spki_encode(pk, pub, cap, pub_len);
cleanup:
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	ERR_clear_error();
	return rc;
}

/* The private key object of k in session s, for the backend's current
 * connection. */
static CK_RV key_handle(struct p11_key *k, struct p11_sess *s,
			CK_OBJECT_HANDLE *h)
{
	unsigned gen = atomic_load(&k->b->gen);
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&k->mu);
	if (!k->have_h || k->gen != gen) {
		rv = find_by_id(k->b, s->h, CKO_PRIVATE_KEY, k->id, k->id_len,
				found, 2, &n);
		if (rv == CKR_OK && n != 1)
			rv = CKR_KEY_HANDLE_INVALID;   /* gone, or ambiguous */
		if (rv == CKR_OK) {
			k->h = found[0];
			k->gen = gen;
			k->have_h = 1;
		}
	}
	*h = k->h;
	pthread_mutex_unlock(&k->mu);
	return rv;
}

static CK_RV raw_op(struct p11 *b, CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE h,
		    int decrypt, const uint8_t *in, size_t len, uint8_t *out,
		    CK_ULONG *out_len)
{
	CK_MECHANISM mech = { CKM_RSA_X_509, NULL, 0 };
	CK_BYTE_PTR data = (CK_BYTE_PTR)(uintptr_t)in;
	CK_RV rv;

	if (decrypt) {
		rv = b->f->C_DecryptInit(sh, &mech, h);
		if (rv == CKR_OK)
			rv = b->f->C_Decrypt(sh, data, (CK_ULONG)len, out,
					     out_len);
	} else {
		rv = b->f->C_SignInit(sh, &mech, h);
		if (rv == CKR_OK)
			rv = b->f->C_Sign(sh, data, (CK_ULONG)len, out, out_len);
	}
	return rv;
}

/* The tt_raw_op behind a token key's signer: out = in^d mod n. */
static int p11_key_sign(void *ctx, const uint8_t *in, size_t len,
			uint8_t *out, size_t cap)
{
	struct p11_key *k = ctx;
	uint8_t buf[P11_MOD_MAX];
	CK_ULONG got = sizeof(buf);
	CK_OBJECT_HANDLE h = 0;
	struct p11_sess *s;
	uint64_t t0 = now_us();
	const char *what = "C_Sign";
	CK_RV rv;
	int dec;

	if (len != k->mod_len || cap < k->mod_len)
		return PP_ERR_LENGTH;
	s = p11_sess_get(k->b);
	if (s == NULL) {
		p11_count_sign(0, 0);
		return PP_ERR_UNAVAILABLE;
	}
	rv = key_handle(k, s, &h);
	if (rv != CKR_OK) {
		what = "finding the key";
		goto done;
	}
	dec = atomic_load(&k->use_decrypt);
	rv = raw_op(k->b, s->h, h, dec, in, len, buf, &got);
	if (!dec && (rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
		     rv == CKR_MECHANISM_INVALID ||
		     rv == CKR_KEY_TYPE_INCONSISTENT)) {
		/* some modules offer CKM_RSA_X_509 only for decryption */
		got = sizeof(buf);
		rv = raw_op(k->b, s->h, h, 1, in, len, buf, &got);
		if (rv == CKR_OK)
			atomic_store(&k->use_decrypt, 1);
		what = "C_Decrypt";
	}
done:
	p11_sess_put(s);
	if (rv != CKR_OK || got > k->mod_len) {
		p11_count_sign(0, 0);
		sodium_memzero(buf, sizeof(buf));
		if (rv != CKR_OK && p11_rv_fatal(rv)) {
			p11_fault(k->b, what, rv);
			return PP_ERR_UNAVAILABLE;
		}
		return PP_ERR_INTERNAL;
	}
	/* RSA_X_509 may drop leading zero bytes */
	memset(out, 0, k->mod_len - got);
	memcpy(out + (k->mod_len - got), buf, got);
	sodium_memzero(buf, sizeof(buf));
	p11_count_sign(now_us() - t0, 1);
	return 0;
}

static void p11_key_release(void *ctx)
{
	struct p11_key *k = ctx;

	if (k == NULL)
		return;
	pthread_mutex_destroy(&k->mu);
	free(k);
}

/* Finds m's key in the token and checks it is the key m names. */
static int key_open(struct p11 *b, const struct ks_meta *m,
		    struct p11_key **out, char *why, size_t whylen)
{
	uint8_t pub[SPKI_MAX_LEN];
	size_t pub_len = 0, mod_len = 0;
	CK_OBJECT_HANDLE h[2];
	struct p11_key *k = NULL;
	struct p11_sess *s;
	CK_ULONG n = 0;
	CK_RV rv;
	int rc;

	*out = NULL;
	if (!m->external || strcmp(m->p11.token, b->token) != 0) {
		pp_errf(why, whylen, "key %.16s is in PKCS#11 token '%s', not "
			"in the configured token '%s'", m->id_hex, m->p11.token,
			b->token);
		return PP_ERR_CONFIG;
	}
	s = sess_or_why(b, why, whylen);
	if (s == NULL)
		return PP_ERR_UNAVAILABLE;
	rv = find_by_id(b, s->h, CKO_PRIVATE_KEY, m->p11.id, m->p11.id_len,
			h, 2, &n);
	if (rv == CKR_OK && n == 1)
		rc = pub_of(b, s->h, h[0], pub, sizeof(pub), &pub_len,
			    &mod_len, &rv);
	else
		rc = rv == CKR_OK ? PP_ERR_NOT_FOUND : PP_ERR_UNAVAILABLE;
	p11_sess_put(s);
	if (rv != CKR_OK && p11_rv_fatal(rv))
		p11_fault(b, "finding a key", rv);
	if (rc == PP_ERR_NOT_FOUND)
		pp_errf(why, whylen, "PKCS#11 token '%s' holds %s private key "
			"with the id of key %.16s (label %s)", b->token,
			n ? "more than one" : "no", m->id_hex, m->p11.label);
	else if (rc == 0 && (pub_len != m->pub_len ||
			     memcmp(pub, m->pub, pub_len) != 0)) {
		pp_errf(why, whylen, "the key with the id of key %.16s in "
			"PKCS#11 token '%s' is another key", m->id_hex,
			b->token);
		rc = PP_ERR_CORRUPT;
	} else if (rc != 0)
		pp_errf(why, whylen, "cannot read key %.16s from PKCS#11 token "
			"'%s' (%s)", m->id_hex, b->token, p11_rv_name(rv));
	if (rc != 0)
		return rc;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return PP_ERR_NOMEM;
	pthread_mutex_init(&k->mu, NULL);
	k->b = b;
	memcpy(k->id, m->p11.id, m->p11.id_len);
	k->id_len = m->p11.id_len;
	k->mod_len = mod_len;
	*out = k;
	return 0;
}

int p11_key_check(struct p11 *b, const struct ks_meta *m, char *why,
		  size_t whylen)
{
	struct p11_key *k = NULL;
	int rc = key_open(b, m, &k, why, whylen);

	p11_key_release(k);
	return rc;
}

int p11_signer_new(struct p11 *b, const struct ks_meta *m, unsigned slots,
		   struct tt_key **out, char *why, size_t whylen)
{
	const struct tt_ops *tt = tt_find(m->token_type);
	struct p11_key *k = NULL;
	struct tt_raw_op raw;
	int rc;

	*out = NULL;
	if (tt == NULL || tt->signer_new_ext == NULL) {
		pp_errf(why, whylen, "token type %u cannot sign in a PKCS#11 "
			"token", (unsigned)m->token_type);
		return PP_ERR_KEY;
	}
	rc = key_open(b, m, &k, why, whylen);
	if (rc != 0)
		return rc;
	raw.sign = p11_key_sign;
	raw.release = p11_key_release;
	raw.ctx = k;
	rc = tt_signer_new_ext(tt, m->pub, m->pub_len, &raw, slots, out);
	if (rc != 0)
		pp_errf(why, whylen, "cannot prepare key %.16s (%s)", m->id_hex,
			pp_err_str(rc));
	return rc;
}

/* ---- creating keys in the token (ks_external) ---- */

static void ref_new(struct p11 *b, struct ks_meta *m)
{
	char hex[2 * P11_NEW_ID_LEN + 1];

	m->external = 1;
	snprintf(m->p11.token, sizeof(m->p11.token), "%s", b->token);
	randombytes_buf(m->p11.id, P11_NEW_ID_LEN);
	m->p11.id_len = P11_NEW_ID_LEN;
	sodium_bin2hex(hex, sizeof(hex), m->p11.id, P11_NEW_ID_LEN);
	snprintf(m->p11.label, sizeof(m->p11.label), "ppissuer-%s", hex);
}

/* Destroys the key's private and public objects (found by CKA_ID) until
 * none is left; a token other than the key's is refused, not searched. */
static int ext_drop(void *ctx, const struct ks_meta *m, char *why,
		    size_t whylen)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY,
						   CKO_PUBLIC_KEY };
	struct p11 *b = ctx;
	CK_OBJECT_HANDLE h[4];
	struct p11_sess *s;
	CK_ULONG n = 0, i;
	CK_RV rv = CKR_OK;
	size_t c;
	int rounds;

	if (!m->external)
		return 0;
	if (strcmp(m->p11.token, b->token) != 0) {
		pp_errf(why, whylen, "key %.16s is in PKCS#11 token '%s', not "
			"'%s'; give --pkcs11-token %s", m->id_hex, m->p11.token,
			b->token, m->p11.token);
		return PP_ERR_STATE;
	}
	s = sess_or_why(b, why, whylen);
	if (s == NULL)
		return PP_ERR_UNAVAILABLE;
	for (c = 0; c < 2 && rv == CKR_OK; c++) {
		/* bounded: a token that keeps answering with objects it does
		 * not destroy must not hold the command forever */
		for (rounds = 0; rounds < 16 && rv == CKR_OK; rounds++) {
			rv = find_by_id(b, s->h, classes[c], m->p11.id,
					m->p11.id_len, h, 4, &n);
			if (rv != CKR_OK || n == 0)
				break;
			for (i = 0; i < n && rv == CKR_OK; i++)
				rv = b->f->C_DestroyObject(s->h, h[i]);
		}
		if (rv == CKR_OK && n > 0)
			rv = CKR_GENERAL_ERROR;
	}
	if (rv != CKR_OK && p11_rv_fatal(rv))
		p11_fault(b, "C_DestroyObject", rv);
	p11_sess_put(s);
	if (rv != CKR_OK) {
		pp_errf(why, whylen, "PKCS#11 token '%s' did not destroy the "
			"objects of key %.16s (%s)", b->token, m->id_hex,
			p11_rv_name(rv));
		return PP_ERR_UNAVAILABLE;
	}
	return 0;
}

static int ext_make(void *ctx, const struct tt_ops *tt, struct ks_meta *m,
		    char *why, size_t whylen)
{
	struct p11 *b = ctx;
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = RSAKEY_BITS;
	CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
	struct p11_sess *s;
	size_t mod_len = 0;
	CK_RV rv;
	int rc;

	(void)tt;
	ref_new(b, m);
	{
		CK_ATTRIBUTE pubt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
			{ CKA_PUBLIC_EXPONENT, e, sizeof(e) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_ENCRYPT, &yes, sizeof(yes) },
			{ CKA_ID, m->p11.id, (CK_ULONG)m->p11.id_len },
			{ CKA_LABEL, m->p11.label, (CK_ULONG)strlen(m->p11.label) },
		};
		CK_ATTRIBUTE privt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },
			{ CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_DECRYPT, &yes, sizeof(yes) },
			{ CKA_ID, m->p11.id, (CK_ULONG)m->p11.id_len },
			{ CKA_LABEL, m->p11.label, (CK_ULONG)strlen(m->p11.label) },
		};

		s = sess_or_why(b, why, whylen);
		if (s == NULL)
			return PP_ERR_UNAVAILABLE;
		rv = b->f->C_GenerateKeyPair(s->h, &mech, pubt, 8, privt, 8,
					     &hpub, &hpriv);
	}
	if (rv == CKR_OK)
		rc = pub_of(b, s->h, hpub, m->pub, sizeof(m->pub), &m->pub_len,
			    &mod_len, &rv);
	else
		rc = PP_ERR_UNAVAILABLE;
	p11_sess_put(s);
	if (rc != 0) {
		pp_errf(why, whylen, "PKCS#11 token '%s' could not make an "
			"RSA-%d key pair (%s)", b->token, RSAKEY_BITS,
			p11_rv_name(rv));
		if (rv == CKR_OK || !p11_rv_fatal(rv))
			(void)ext_drop(b, m, NULL, 0);
		else
			p11_fault(b, "C_GenerateKeyPair", rv);
	}
	return rc;
}

/* One BIGNUM parameter of key, big-endian in guarded memory. */
static int bn_param(const EVP_PKEY *key, const char *name, uint8_t **out,
		    size_t *len)
{
	BIGNUM *v = NULL;
	int rc = PP_ERR_KEY;

	*out = NULL;
	*len = 0;
	if (!EVP_PKEY_get_bn_param(key, name, &v))
		goto cleanup;
	*len = (size_t)BN_num_bytes(v);
	*out = sodium_malloc(*len ? *len : 1);
	if (*out == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	BN_bn2bin(v, *out);
	rc = 0;
cleanup:
	BN_clear_free(v);
	return rc;
}

static int ext_put(void *ctx, const struct tt_ops *tt,
		   const struct tt_secret *priv, struct ks_meta *m, char *why,
		   size_t whylen)
{
	static const char *const names[8] = {
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	static const CK_ATTRIBUTE_TYPE types[8] = {
		CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT,
		CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
		CKA_COEFFICIENT,
	};
	struct p11 *b = ctx;
	CK_OBJECT_CLASS cpriv = CKO_PRIVATE_KEY, cpub = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[18];
	CK_OBJECT_HANDLE h;
	uint8_t *v[8] = { NULL };
	size_t vl[8] = { 0 }, i;
	struct p11_sess *s = NULL;
	EVP_PKEY *key = NULL;
	CK_ULONG nt = 0;
	CK_RV rv = CKR_OK;
	int rc;

	(void)tt;
	rc = rsakey_parse(priv->p, priv->len, &key);
	for (i = 0; rc == 0 && i < 8; i++)
		rc = bn_param(key, names[i], &v[i], &vl[i]);
	if (rc != 0) {
		pp_errf(why, whylen, "the key lacks its CRT parameters");
		goto cleanup;
	}
	ref_new(b, m);
#define A(ty, p, l) t[nt++] = (CK_ATTRIBUTE){ ty, (void *)(p), (CK_ULONG)(l) }
	A(CKA_CLASS, &cpriv, sizeof(cpriv));
	A(CKA_KEY_TYPE, &kt, sizeof(kt));
	A(CKA_TOKEN, &yes, sizeof(yes));
	A(CKA_PRIVATE, &yes, sizeof(yes));
	A(CKA_SENSITIVE, &yes, sizeof(yes));
	A(CKA_EXTRACTABLE, &no, sizeof(no));
	A(CKA_SIGN, &yes, sizeof(yes));
	A(CKA_DECRYPT, &yes, sizeof(yes));
	A(CKA_ID, m->p11.id, m->p11.id_len);
	A(CKA_LABEL, m->p11.label, strlen(m->p11.label));
	for (i = 0; i < 8; i++)
		A(types[i], v[i], vl[i]);
	s = sess_or_why(b, why, whylen);
	if (s == NULL) {
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	rv = b->f->C_CreateObject(s->h, t, nt, &h);
	if (rv == CKR_OK) {
		nt = 0;
		A(CKA_CLASS, &cpub, sizeof(cpub));
		A(CKA_KEY_TYPE, &kt, sizeof(kt));
		A(CKA_TOKEN, &yes, sizeof(yes));
		A(CKA_VERIFY, &yes, sizeof(yes));
		A(CKA_ENCRYPT, &yes, sizeof(yes));
		A(CKA_ID, m->p11.id, m->p11.id_len);
		A(CKA_LABEL, m->p11.label, strlen(m->p11.label));
		A(CKA_MODULUS, v[0], vl[0]);
		A(CKA_PUBLIC_EXPONENT, v[1], vl[1]);
		rv = b->f->C_CreateObject(s->h, t, nt, &h);
	}
#undef A
	p11_sess_put(s);
	if (rv != CKR_OK) {
		pp_errf(why, whylen, "PKCS#11 token '%s' refused the key (%s)",
			b->token, p11_rv_name(rv));
		rc = PP_ERR_UNAVAILABLE;
		(void)ext_drop(b, m, NULL, 0);
	}
cleanup:
	sodium_memzero(t, sizeof(t));
	for (i = 0; i < 8; i++)
		sodium_free(v[i]);   /* wipes */
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

void p11_store_attach(struct p11 *b, struct ks_store *st)
{
	struct ks_external x = { ext_make, ext_put, ext_drop, b };

	ks_store_set_external(st, b ? &x : NULL);
}
