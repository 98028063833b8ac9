/* Partially blind RSA (draft-irtf-cfrg-partially-blind-rsa-01):
 * DerivePublicKey, the augmented message, and the client side (Blind,
 * Finalize, verification). The client operations are RFC 9474's under the
 * derived public key (n, e') over msg_prime, so they reuse bsig's. The
 * issuer's BlindSign and its derived-key cache live in pbrsa_sign.c. */
#include "pbrsa.h"
#include "pbrsa_int.h"
#include "bsig.h"
#include "base/pp_err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

#define PBRSA_HKDF_LEN (PBRSA_EPRIME_LEN + 16) /* lambda_len + 16 */
#define PBRSA_MSG_TAG "msg"
#define PBRSA_KEY_TAG "key"
#define PBRSA_HKDF_INFO "PBRSA"

int pbrsa_key_n(const EVP_PKEY *pk, BIGNUM **n_out)
{
	BIGNUM *n = NULL;

	*n_out = NULL;
	if (pk == NULL)
		return PP_ERR_ARG;
	if ((!EVP_PKEY_is_a(pk, "RSA") && !EVP_PKEY_is_a(pk, "RSA-PSS")) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    BN_num_bits(n) != PBRSA_BITS) {
		BN_free(n);
		ERR_clear_error();
		return PP_ERR_KEY;
	}
	*n_out = n;
	return 0;
}

int pbrsa_eprime_n(const BIGNUM *n, const uint8_t *info, size_t info_len,
		   uint8_t eprime[PBRSA_EPRIME_LEN])
{
	uint8_t salt[PBRSA_MODULUS_LEN], okm[PBRSA_HKDF_LEN];
	uint8_t *ikm = NULL;
	size_t ikm_len = sizeof(PBRSA_KEY_TAG) - 1 + info_len + 1;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	int rc = PP_ERR_INTERNAL;

	memset(eprime, 0, PBRSA_EPRIME_LEN);
	if (info == NULL && info_len != 0)
		return PP_ERR_ARG;
	if (info_len > PBRSA_MAX_INFO)
		return PP_ERR_LENGTH;
	/* hkdf_input = "key" || info || 0x00; hkdf_salt = I2OSP(n, 256) */
	ikm = OPENSSL_malloc(ikm_len);
	if (ikm == NULL)
		return PP_ERR_NOMEM;
	memcpy(ikm, PBRSA_KEY_TAG, sizeof(PBRSA_KEY_TAG) - 1);
	if (info_len)
		memcpy(ikm + sizeof(PBRSA_KEY_TAG) - 1, info, info_len);
	ikm[ikm_len - 1] = 0x00;
	if (BN_bn2binpad(n, salt, sizeof(salt)) < 0)
		goto cleanup;
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (kctx == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)"SHA384", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm,
						      ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						      salt, sizeof(salt));
	params[3] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_INFO, (char *)PBRSA_HKDF_INFO,
		sizeof(PBRSA_HKDF_INFO) - 1);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, okm, sizeof(okm), params) <= 0)
		goto cleanup;
	/* the first lambda_len bytes, top two bits cleared, made odd: an odd
	 * e' below 2^1022 < p' and q', hence prime to phi = 4 p' q' */
	okm[0] &= 0x3f;
	okm[PBRSA_EPRIME_LEN - 1] |= 0x01;
	memcpy(eprime, okm, PBRSA_EPRIME_LEN);
	rc = 0;
cleanup:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	OPENSSL_free(ikm);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int pbrsa_eprime(const EVP_PKEY *pk, const uint8_t *info, size_t info_len,
		 uint8_t eprime[PBRSA_EPRIME_LEN])
{
	BIGNUM *n = NULL;
	int rc;

	if (eprime == NULL)
		return PP_ERR_ARG;
	memset(eprime, 0, PBRSA_EPRIME_LEN);
	rc = pbrsa_key_n(pk, &n);
	if (rc == 0)
		rc = pbrsa_eprime_n(n, info, info_len, eprime);
	BN_free(n);
	return rc;
}

int pbrsa_public_derive(const EVP_PKEY *pk, const uint8_t *info,
			size_t info_len, EVP_PKEY **out)
{
	uint8_t ep[PBRSA_EPRIME_LEN];
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	rc = pbrsa_key_n(pk, &n);
	if (rc == 0)
		rc = pbrsa_eprime_n(n, info, info_len, ep);
	if (rc != 0)
		goto cleanup;
	rc = PP_ERR_NOMEM;
	e = BN_bin2bn(ep, sizeof(ep), NULL);
	bld = OSSL_PARAM_BLD_new();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (e == NULL || bld == NULL || ctx == NULL)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto cleanup;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto cleanup;
	rc = 0;
cleanup:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

/* msg_prime = "msg" || I2OSP(len(info), 4) || info || msg, malloc'd. */
static int msg_prime_new(const uint8_t *msg, size_t msg_len,
			 const uint8_t *info, size_t info_len, uint8_t **out,
			 size_t *out_len)
{
	size_t tag = sizeof(PBRSA_MSG_TAG) - 1;
	uint8_t *b;

	*out = NULL;
	*out_len = 0;
	if ((msg == NULL && msg_len != 0) || (info == NULL && info_len != 0))
		return PP_ERR_ARG;
	if (msg_len > PBRSA_MAX_MSG || info_len > PBRSA_MAX_INFO)
		return PP_ERR_LENGTH;
	b = OPENSSL_malloc(tag + 4 + info_len + msg_len + 1);
	if (b == NULL)
		return PP_ERR_NOMEM;
	memcpy(b, PBRSA_MSG_TAG, tag);
	b[tag + 0] = (uint8_t)(info_len >> 24);
	b[tag + 1] = (uint8_t)(info_len >> 16);
	b[tag + 2] = (uint8_t)(info_len >> 8);
	b[tag + 3] = (uint8_t)info_len;
	if (info_len)
		memcpy(b + tag + 4, info, info_len);
	if (msg_len)
		memcpy(b + tag + 4 + info_len, msg, msg_len);
	*out = b;
	*out_len = tag + 4 + info_len + msg_len;
	return 0;
}

/* The pieces every client operation needs: (n, e') and msg_prime. */
static int client_prepare(const EVP_PKEY *pk, const uint8_t *msg,
			  size_t msg_len, const uint8_t *info, size_t info_len,
			  EVP_PKEY **derived, uint8_t **mp, size_t *mp_len)
{
	int rc = msg_prime_new(msg, msg_len, info, info_len, mp, mp_len);

	if (rc == 0)
		rc = pbrsa_public_derive(pk, info, info_len, derived);
	if (rc != 0) {
		OPENSSL_free(*mp);
		*mp = NULL;
	}
	return rc;
}

int pbrsa_blind(const EVP_PKEY *pk, const uint8_t *msg, size_t msg_len,
		const uint8_t *info, size_t info_len, const uint8_t *salt,
		const uint8_t *r, size_t r_len, uint8_t *blinded, uint8_t *inv,
		size_t out_cap)
{
	EVP_PKEY *derived = NULL;
	uint8_t *mp = NULL;
	size_t mp_len = 0;
	int rc;

	if (blinded == NULL || inv == NULL)
		return PP_ERR_ARG;
	memset(blinded, 0, out_cap);
	memset(inv, 0, out_cap);
	rc = client_prepare(pk, msg, msg_len, info, info_len, &derived, &mp,
			    &mp_len);
	if (rc == 0)
		rc = bsig_blind(derived, BSIG_SHA384_PSS_DETERMINISTIC, mp,
				mp_len, salt, r, r_len, blinded, inv, out_cap);
	OPENSSL_free(mp);
	EVP_PKEY_free(derived);
	return rc;
}

int pbrsa_finalize(const EVP_PKEY *pk, const uint8_t *msg, size_t msg_len,
		   const uint8_t *info, size_t info_len,
		   const uint8_t *blind_sig, const uint8_t *inv, uint8_t *sig,
		   size_t sig_cap)
{
	EVP_PKEY *derived = NULL;
	uint8_t *mp = NULL;
	size_t mp_len = 0;
	int rc;

	if (sig == NULL)
		return PP_ERR_ARG;
	memset(sig, 0, sig_cap);
	rc = client_prepare(pk, msg, msg_len, info, info_len, &derived, &mp,
			    &mp_len);
	if (rc == 0)
		rc = bsig_finalize(derived, BSIG_SHA384_PSS_DETERMINISTIC, mp,
				   mp_len, blind_sig, inv, sig, sig_cap);
	OPENSSL_free(mp);
	EVP_PKEY_free(derived);
	return rc;
}

int pbrsa_verify(const EVP_PKEY *pk, const uint8_t *msg, size_t msg_len,
		 const uint8_t *info, size_t info_len, const uint8_t *sig,
		 size_t sig_len)
{
	EVP_PKEY *derived = NULL;
	uint8_t *mp = NULL;
	size_t mp_len = 0;
	int rc;

	rc = client_prepare(pk, msg, msg_len, info, info_len, &derived, &mp,
			    &mp_len);
	if (rc == 0)
		rc = bsig_verify(derived, BSIG_SHA384_PSS_DETERMINISTIC, mp,
				 mp_len, sig, sig_len);
	OPENSSL_free(mp);
	EVP_PKEY_free(derived);
	return rc;
}
