#include "tu_rsa.h"
#include "tu.h"

#include <criterion/criterion.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdlib.h>

static BIGNUM *hex_bn(json_t *vec, const char *field)
{
	size_t len;
	uint8_t *b = tu_hex_field(vec, field, &len);
	BIGNUM *bn = BN_bin2bn(b, (int)len, NULL);

	cr_assert(bn != NULL);
	free(b);
	return bn;
}

EVP_PKEY *tu_rsa_from_bn(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d,
			 const BIGNUM *p, const BIGNUM *q, const BIGNUM *dmp1,
			 const BIGNUM *dmq1, const BIGNUM *iqmp)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;

	cr_assert(bld != NULL && ctx != NULL);
	cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n));
	cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e));
	if (d)
		cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d));
	if (p && q) {
		cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p));
		cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q));
	}
	if (dmp1 && dmq1 && iqmp) {
		cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1));
		cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1));
		cr_assert(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp));
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	cr_assert(params != NULL);
	cr_assert(EVP_PKEY_fromdata_init(ctx) > 0);
	cr_assert(EVP_PKEY_fromdata(ctx, &pk, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
				    params) > 0, "EVP_PKEY_fromdata failed");
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

EVP_PKEY *tu_rsa_from_pqed(json_t *vec)
{
	BIGNUM *p = hex_bn(vec, "p"), *q = hex_bn(vec, "q");
	BIGNUM *e = hex_bn(vec, "e"), *d = hex_bn(vec, "d");
	BIGNUM *n = BN_new(), *dmp1 = BN_new(), *dmq1 = BN_new();
	BIGNUM *iqmp = BN_new(), *t = BN_new();
	BN_CTX *ctx = BN_CTX_new();
	EVP_PKEY *pk;

	cr_assert(n && dmp1 && dmq1 && iqmp && t && ctx);
	/* dmp1 = d mod (p-1), dmq1 = d mod (q-1), iqmp = q^-1 mod p */
	cr_assert(BN_mul(n, p, q, ctx));
	cr_assert(BN_sub(t, p, BN_value_one()) && BN_mod(dmp1, d, t, ctx));
	cr_assert(BN_sub(t, q, BN_value_one()) && BN_mod(dmq1, d, t, ctx));
	cr_assert(BN_mod_inverse(iqmp, q, p, ctx) != NULL);
	pk = tu_rsa_from_bn(n, e, d, p, q, dmp1, dmq1, iqmp);
	BN_free(p);
	BN_free(q);
	BN_free(e);
	BN_free(d);
	BN_free(n);
	BN_free(dmp1);
	BN_free(dmq1);
	BN_free(iqmp);
	BN_free(t);
	BN_CTX_free(ctx);
	return pk;
}

EVP_PKEY *tu_rsa_public(const uint8_t *n, size_t n_len, const uint8_t *e,
			size_t e_len)
{
	BIGNUM *nb = BN_bin2bn(n, (int)n_len, NULL);
	BIGNUM *eb = BN_bin2bn(e, (int)e_len, NULL);
	EVP_PKEY *pk;

	cr_assert(nb != NULL && eb != NULL);
	pk = tu_rsa_from_bn(nb, eb, NULL, NULL, NULL, NULL, NULL, NULL);
	BN_free(nb);
	BN_free(eb);
	return pk;
}

EVP_PKEY *tu_rsa_from_pem_hex(json_t *vec, const char *field)
{
	size_t len;
	uint8_t *pem = tu_hex_field(vec, field, &len);
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk;

	cr_assert(bio != NULL);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	cr_assert(pk != NULL, "cannot parse the PEM key in %s", field);
	BIO_free(bio);
	free(pem);
	return pk;
}

EVP_PKEY *tu_rsa_type2_key(void)
{
	json_t *vecs = tu_vectors("rfc9578-type2-blindrsa-vectors.json");
	EVP_PKEY *pk;

	cr_assert(json_array_size(vecs) > 0);
	pk = tu_rsa_from_pem_hex(json_array_get(vecs, 0), "skS");
	json_decref(vecs);
	return pk;
}

BIGNUM *tu_rsa_bn(const EVP_PKEY *pk, const char *name)
{
	BIGNUM *bn = NULL;

	cr_assert(EVP_PKEY_get_bn_param(pk, name, &bn), "key has no %s", name);
	return bn;
}
