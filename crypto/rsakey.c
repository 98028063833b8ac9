/* RSA private key encoding and checks. Decoded key bytes live only in
 * tt_secret buffers; OpenSSL's own copies are cleared when freed. */
#include "crypto/rsakey.h"

#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>

#include "base/pp_err.h"

/* Refuses passphrase-protected keys instead of letting OpenSSL prompt. */
static int no_passphrase(char *pass, size_t size, size_t *len,
			 const OSSL_PARAM params[], void *arg)
{
	(void)pass;
	(void)size;
	(void)params;
	(void)arg;
	*len = 0;
	return 0;
}

int rsakey_parse(const uint8_t *in, size_t len, EVP_PKEY **out)
{
	OSSL_DECODER_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = in;
	size_t left = len;
	int rc = PP_ERR_CORRUPT;

	*out = NULL;
	ctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, "RSA",
					    OSSL_KEYMGMT_SELECT_KEYPAIR, NULL,
					    NULL);
	if (ctx == NULL) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	OSSL_DECODER_CTX_set_passphrase_cb(ctx, no_passphrase, NULL);
	if (!OSSL_DECODER_from_data(ctx, &p, &left) || pkey == NULL)
		goto cleanup;
	*out = pkey;
	pkey = NULL;
	rc = 0;
cleanup:
	EVP_PKEY_free(pkey);
	OSSL_DECODER_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int rsakey_to_der(const EVP_PKEY *pkey, struct tt_secret **out)
{
	OSSL_ENCODER_CTX *ctx;
	unsigned char *data = NULL;
	size_t len = 0;
	int rc = PP_ERR_INTERNAL;

	*out = NULL;
	ctx = OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR,
					    "DER", "PrivateKeyInfo", NULL);
	if (ctx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ctx) == 0 ||
	    !OSSL_ENCODER_to_data(ctx, &data, &len))
		goto cleanup;
	rc = tt_secret_new(data, len, out);
cleanup:
	if (data)
		OPENSSL_clear_free(data, len);
	OSSL_ENCODER_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int rsakey_check(const EVP_PKEY *pkey, char *why, size_t whylen)
{
	BIGNUM *e = NULL;
	int rc = PP_ERR_KEY;

	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		snprintf(why, whylen, "the key is not a plain RSA key (rsaEncryption)");
		goto cleanup;
	}
	if (EVP_PKEY_get_bits(pkey) != RSAKEY_BITS) {
		snprintf(why, whylen, "the key has %d bits; issuer keys must be "
			 "RSA-%d", EVP_PKEY_get_bits(pkey), RSAKEY_BITS);
		goto cleanup;
	}
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    !BN_is_word(e, 65537)) {
		snprintf(why, whylen, "the key's public exponent is not 65537");
		goto cleanup;
	}
	rc = 0;
cleanup:
	BN_free(e);
	ERR_clear_error();
	return rc;
}

int rsakey_load(const uint8_t *in, size_t len, EVP_PKEY **out, char *why,
		size_t whylen)
{
	int rc = rsakey_parse(in, len, out);

	if (rc != 0) {
		snprintf(why, whylen, "not an unencrypted RSA private key in "
			 "PEM or DER (PKCS#8 or PKCS#1)");
		return rc;
	}
	rc = rsakey_check(*out, why, whylen);
	if (rc != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	return rc;
}

int rsakey_generate(struct tt_secret **out)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSAKEY_BITS);
	int rc;

	*out = NULL;
	if (pkey == NULL) {
		ERR_clear_error();
		return PP_ERR_INTERNAL;
	}
	rc = rsakey_to_der(pkey, out);
	EVP_PKEY_free(pkey);
	return rc;
}
