/* Partially blind RSA keys (draft-irtf-cfrg-partially-blind-rsa, section
 * "Key Generation"): the modulus MUST be the product of two safe primes, so
 * that every derived exponent e' has an inverse mod phi(n). Generation and
 * the check of a key that claims to be such a key. */
#include "pbrsa.h"
#include "base/pp_err.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdint.h>

#define PBRSA_E 65537

/* p and (p - 1) / 2 both prime, p of exactly bits bits. */
static int is_safe_prime(const BIGNUM *p, int bits, BIGNUM *t, BN_CTX *ctx)
{
	if (BN_num_bits(p) != bits || !BN_is_odd(p))
		return 0;
	if (BN_check_prime(p, ctx, NULL) != 1)
		return 0;
	if (!BN_rshift1(t, p))
		return -1;
	return BN_check_prime(t, ctx, NULL) == 1;
}

int pbrsa_check_safe_primes(const EVP_PKEY *pk)
{
	BIGNUM *n = NULL, *p = NULL, *q = NULL, *t = NULL;
	BN_CTX *ctx = NULL;
	int rc = PP_ERR_KEY, half, r;

	if (pk == NULL)
		return PP_ERR_ARG;
	if (!EVP_PKEY_is_a(pk, "RSA") ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR1, &p) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR2, &q))
		goto cleanup;
	if (BN_num_bits(n) != PBRSA_BITS) /* the only size this module signs */
		goto cleanup;
	half = PBRSA_BITS / 2;
	ctx = BN_CTX_new();
	t = BN_new();
	if (ctx == NULL || t == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	if (!BN_mul(t, p, q, ctx)) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	if (BN_cmp(t, n) != 0 || BN_cmp(p, q) == 0)
		goto cleanup;
	r = is_safe_prime(p, half, t, ctx);
	if (r == 1)
		r = is_safe_prime(q, half, t, ctx);
	if (r < 0)
		rc = PP_ERR_INTERNAL;
	else if (r == 1)
		rc = 0;
cleanup:
	BN_free(n);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(t);
	BN_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

struct gen_progress {
	void (*fn)(int phase, int count, void *arg);
	void *arg;
};

static int gen_cb(int phase, int count, BN_GENCB *cb)
{
	struct gen_progress *g = BN_GENCB_get_arg(cb);

	if (g->fn)
		g->fn(phase, count, g->arg);
	return 1;
}

/* The key from its numbers; d and the CRT exponents are computed here. */
static int assemble(const BIGNUM *p, const BIGNUM *q, BN_CTX *ctx,
		    EVP_PKEY **out)
{
	BIGNUM *n = BN_new(), *e = BN_new(), *phi = BN_secure_new();
	BIGNUM *d = BN_secure_new(), *dp = BN_secure_new();
	BIGNUM *dq = BN_secure_new(), *qinv = BN_secure_new();
	BIGNUM *p1 = BN_secure_new(), *q1 = BN_secure_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	OSSL_PARAM *params = NULL;
	int rc = PP_ERR_NOMEM;

	if (!n || !e || !phi || !d || !dp || !dq || !qinv || !p1 || !q1 ||
	    !bld || !pctx)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	BN_set_flags(phi, BN_FLG_CONSTTIME);
	if (!BN_set_word(e, PBRSA_E) || !BN_mul(n, p, q, ctx) ||
	    !BN_sub(p1, p, BN_value_one()) || !BN_sub(q1, q, BN_value_one()) ||
	    !BN_mul(phi, p1, q1, ctx) ||
	    BN_mod_inverse(d, e, phi, ctx) == NULL ||
	    !BN_mod(dp, d, p1, ctx) || !BN_mod(dq, d, q1, ctx) ||
	    BN_mod_inverse(qinv, q, p, ctx) == NULL)
		goto cleanup;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
				    qinv))
		goto cleanup;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, out, EVP_PKEY_KEYPAIR, params) <= 0)
		goto cleanup;
	rc = 0;
cleanup:
	OSSL_PARAM_free(params); /* secret numbers sit in its secure part */
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(pctx);
	BN_free(n);
	BN_free(e);
	BN_clear_free(phi);
	BN_clear_free(d);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_clear_free(qinv);
	BN_clear_free(p1);
	BN_clear_free(q1);
	return rc;
}

int pbrsa_generate(unsigned bits,
		   void (*progress)(int phase, int count, void *arg),
		   void *arg, EVP_PKEY **out)
{
	struct gen_progress g = { progress, arg };
	BIGNUM *p = NULL, *q = NULL, *n = NULL;
	BN_GENCB *cb = NULL;
	BN_CTX *ctx = NULL;
	int rc = PP_ERR_NOMEM;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	if (bits != PBRSA_BITS)
		return PP_ERR_ARG;
	ctx = BN_CTX_secure_new();
	cb = BN_GENCB_new();
	p = BN_secure_new();
	q = BN_secure_new();
	n = BN_new();
	if (!ctx || !cb || !p || !q || !n)
		goto cleanup;
	BN_GENCB_set(cb, gen_cb, &g);
	rc = PP_ERR_INTERNAL;
	/* safe = 1: (p - 1) / 2 is prime too. The top two bits are set, so
	 * the product has exactly `bits` bits; checked all the same. */
	do {
		if (!BN_generate_prime_ex2(p, (int)bits / 2, 1, NULL, NULL, cb,
					   ctx))
			goto cleanup;
		do {
			if (!BN_generate_prime_ex2(q, (int)bits / 2, 1, NULL,
						   NULL, cb, ctx))
				goto cleanup;
		} while (BN_cmp(p, q) == 0);
		if (!BN_mul(n, p, q, ctx))
			goto cleanup;
	} while (BN_num_bits(n) != (int)bits);
	/* OpenSSL's CRT uses qinv = q^-1 mod p with p the first factor;
	 * either order works, keep p > q as most keys do */
	if (BN_cmp(p, q) < 0)
		BN_swap(p, q);
	rc = assemble(p, q, ctx, out);
cleanup:
	BN_clear_free(p);
	BN_clear_free(q);
	BN_free(n);
	BN_GENCB_free(cb);
	BN_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}
