/* Token type 0x0002: Blind RSA (RSABSSA-SHA384-PSS-Deterministic over
 * RSA-2048, RFC 9474 and RFC 9578 section 6). Private form: PKCS#8 DER;
 * public form: the RFC 9578 SubjectPublicKeyInfo (crypto/spki.c). */
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>

#include "crypto/bsig.h"
#include "base/pp_err.h"
#include "crypto/rsakey.h"
#include "crypto/spki.h"
#include "crypto/token.h"
#include "crypto/token_types.h"

static int br_import(const uint8_t *in, size_t len, struct tt_secret **out,
		     char *why, size_t whylen)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	*out = NULL;
	rc = rsakey_load(in, len, &pkey, why, whylen);
	if (rc == 0)
		rc = rsakey_to_der(pkey, out);
	EVP_PKEY_free(pkey);
	return rc;
}

static int br_check(const uint8_t *priv, size_t len, char *why, size_t whylen)
{
	EVP_PKEY *pkey = NULL;
	int rc = rsakey_load(priv, len, &pkey, why, whylen);

	EVP_PKEY_free(pkey);
	return rc;
}

static int br_public_form(const uint8_t *priv, size_t len, uint8_t *pub,
			  size_t cap, size_t *pub_len)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	*pub_len = 0;
	rc = rsakey_parse(priv, len, &pkey);
	if (rc == 0)
		rc = spki_encode(pkey, pub, cap, pub_len);
	EVP_PKEY_free(pkey);
	return rc;
}

static int br_public_check(const uint8_t *pub, size_t len)
{
	EVP_PKEY *pkey = NULL;
	int rc = spki_decode(pub, len, &pkey);

	if (rc == 0 && EVP_PKEY_get_bits(pkey) != RSAKEY_BITS)
		rc = PP_ERR_SPKI;
	EVP_PKEY_free(pkey);
	return rc;
}

static int br_signer_new(const uint8_t *priv, size_t len, unsigned slots,
			 void **impl)
{
	struct bsig_signer *s = NULL;
	EVP_PKEY *pkey = NULL;
	char why[160];
	int rc;

	*impl = NULL;
	rc = rsakey_load(priv, len, &pkey, why, sizeof(why));
	if (rc == 0)
		rc = bsig_signer_new(pkey, slots, &s);
	EVP_PKEY_free(pkey);
	*impl = s;
	return rc;
}

/* The private operation in an HSM; the public key from the public form. */
static int br_signer_new_ext(const uint8_t *pub, size_t pub_len,
			     const struct tt_raw_op *raw, unsigned slots,
			     void **impl)
{
	struct bsig_raw br = { raw->sign, raw->release, raw->ctx };
	struct bsig_signer *s = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	*impl = NULL;
	rc = br_public_check(pub, pub_len);
	if (rc == 0)
		rc = spki_decode(pub, pub_len, &pkey);
	if (rc != 0) {
		if (raw->release)
			raw->release(raw->ctx);
		ERR_clear_error();
		return rc;
	}
	rc = bsig_signer_new_raw(pkey, &br, slots, &s);
	EVP_PKEY_free(pkey);
	*impl = s;
	return rc;
}

static int br_verifier_new(const uint8_t *pub, size_t pub_len,
			   const uint8_t *priv, size_t priv_len, void **impl)
{
	struct bsig_verifier *v = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	(void)priv;
	(void)priv_len;
	*impl = NULL;
	rc = spki_decode(pub, pub_len, &pkey);
	if (rc == 0)
		rc = bsig_verifier_new(pkey, BSIG_SHA384_PSS_DETERMINISTIC, &v);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	*impl = v;
	return rc;
}

static void br_signer_free(void *impl)
{
	bsig_signer_free(impl);
}

static void br_verifier_free(void *impl)
{
	bsig_verifier_free(impl);
}

static int br_issue(void *signer, const uint8_t *req, size_t len, uint8_t *out,
		    size_t cap, size_t *out_len)
{
	struct tok_request tr;
	int rc;

	*out_len = 0;
	rc = tok_request_decode(req, len, &tr);
	if (rc != 0)
		return rc;
	rc = bsig_blind_sign(signer, tr.blinded_msg, TOK_NK, out, cap);
	if (rc == 0)
		*out_len = TOK_RESPONSE_LEN;
	return rc;
}

static int br_verify(void *verifier, const uint8_t *input, size_t input_len,
		     const uint8_t *auth, size_t auth_len, const uint8_t *info,
		     size_t info_len)
{
	int rc;

	if (info != NULL || info_len != 0)
		return PP_ERR_VERIFY;   /* type 2 binds nothing else */
	rc = bsig_verifier_verify(verifier, input, input_len, auth, auth_len);

	/* a signature that is not one is as bad as a wrong one */
	if (rc == PP_ERR_MSG_RANGE || rc == PP_ERR_LENGTH)
		rc = PP_ERR_VERIFY;
	ERR_clear_error();
	return rc;
}

const struct tt_ops tt_blind_rsa = {
	.type = TOK_TYPE_BLIND_RSA,
	.name = "blind-rsa-2048",
	.request_len = TOK_REQUEST_LEN,
	.response_len = TOK_RESPONSE_LEN,
	.nk = TOK_NK,
	.private_verify = 0,
	.generate = rsakey_generate,
	.import = br_import,
	.check = br_check,
	.public_form = br_public_form,
	.public_check = br_public_check,
	.signer_new = br_signer_new,
	.signer_new_ext = br_signer_new_ext,
	.verifier_new = br_verifier_new,
	.signer_free = br_signer_free,
	.verifier_free = br_verifier_free,
	.issue = br_issue,
	.verify = br_verify,
};
