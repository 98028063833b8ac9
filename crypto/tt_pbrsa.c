/* Token type 0xDA7A: public metadata with partially blind RSA
 * (RSAPBSSA-SHA384-PSS-Deterministic over RSA-2048 with safe primes,
 * draft-irtf-cfrg-partially-blind-rsa; draft-ietf-privacypass-public-
 * metadata-issuance, the privacypass-ts "pub_verif_with_metadata" layout).
 *
 * Private form: PKCS#8 DER of an RSA-2048 key whose primes are 1024-bit safe
 * primes; public form: the RFC 9578 SubjectPublicKeyInfo, as type 0x0002
 * (crypto/spki.c). A request is an ExtendedTokenRequest (TokenRequest ||
 * Extensions); the serialized Extensions are the signature's info, and a
 * token verifies only with exactly those Extensions. */
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>

#include "base/pp_err.h"
#include "crypto/ext.h"
#include "crypto/pbrsa.h"
#include "crypto/rsakey.h"
#include "crypto/spki.h"
#include "crypto/token_types.h"

/* Parses and checks a private form: an RSA-2048 key with e = 65537 whose
 * primes are safe (0.1-0.2 s). */
static int pb_private(const uint8_t *priv, size_t len, EVP_PKEY **out,
		      char *why, size_t whylen)
{
	int rc = rsakey_load(priv, len, out, why, whylen);

	if (rc != 0)
		return rc;
	rc = pbrsa_check_safe_primes(*out);
	if (rc == PP_ERR_KEY)
		snprintf(why, whylen, "the key's primes are not safe primes, "
			 "which token type 0xDA7A needs; make one with "
			 "ppissuer keys generate --type 0xDA7A");
	if (rc != 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	ERR_clear_error();
	return rc;
}

static int pb_import(const uint8_t *in, size_t len, struct tt_secret **out,
		     char *why, size_t whylen)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	*out = NULL;
	rc = pb_private(in, len, &pkey, why, whylen);
	if (rc == 0)
		rc = rsakey_to_der(pkey, out);
	EVP_PKEY_free(pkey);
	return rc;
}

static int pb_check(const uint8_t *priv, size_t len, char *why, size_t whylen)
{
	EVP_PKEY *pkey = NULL;
	int rc = pb_private(priv, len, &pkey, why, whylen);

	EVP_PKEY_free(pkey);
	return rc;
}

struct pb_progress {
	void (*fn)(void *arg);
	void *arg;
};

/* OpenSSL calls back for every candidate and every test round; pass on one
 * call per candidate prime found (phase 0 counts candidates). */
static void pb_progress_cb(int phase, int count, void *arg)
{
	struct pb_progress *p = arg;

	(void)count;
	if (phase == 0 && p->fn)
		p->fn(p->arg);
}

static int pb_generate_progress(void (*progress)(void *arg), void *arg,
				struct tt_secret **out)
{
	struct pb_progress p = { progress, arg };
	EVP_PKEY *pkey = NULL;
	int rc;

	*out = NULL;
	rc = pbrsa_generate(PBRSA_BITS, pb_progress_cb, &p, &pkey);
	if (rc == 0)
		rc = rsakey_to_der(pkey, out);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

static int pb_generate(struct tt_secret **out)
{
	return pb_generate_progress(NULL, NULL, out);
}

static int pb_public_form(const uint8_t *priv, size_t len, uint8_t *pub,
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

static int pb_public_check(const uint8_t *pub, size_t len)
{
	EVP_PKEY *pkey = NULL;
	int rc = spki_decode(pub, len, &pkey);

	if (rc == 0 && EVP_PKEY_get_bits(pkey) != PBRSA_BITS)
		rc = PP_ERR_SPKI;
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

static int pb_signer_new(const uint8_t *priv, size_t len, unsigned slots,
			 void **impl)
{
	struct pbrsa_signer *s = NULL;
	EVP_PKEY *pkey = NULL;
	char why[200];
	int rc;

	*impl = NULL;
	rc = rsakey_parse(priv, len, &pkey);
	if (rc == 0)
		rc = rsakey_check(pkey, why, sizeof(why));
	/* pbrsa_signer_new checks the primes are safe */
	if (rc == 0)
		rc = pbrsa_signer_new(pkey, 0, slots, &s);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	*impl = s;
	return rc;
}

/* A verifier is the public key; each token derives its key from its info. */
static int pb_verifier_new(const uint8_t *pub, size_t pub_len,
			   const uint8_t *priv, size_t priv_len, void **impl)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	(void)priv;
	(void)priv_len;
	*impl = NULL;
	rc = spki_decode(pub, pub_len, &pkey);
	if (rc == 0 && EVP_PKEY_get_bits(pkey) != PBRSA_BITS) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		rc = PP_ERR_KEY;
	}
	ERR_clear_error();
	*impl = pkey;
	return rc;
}

static void pb_signer_free(void *impl)
{
	pbrsa_signer_free(impl);
}

static void pb_verifier_free(void *impl)
{
	EVP_PKEY_free(impl);
}

static int pb_issue(void *signer, const uint8_t *req, size_t len, uint8_t *out,
		    size_t cap, size_t *out_len)
{
	struct ext_token_request tr;
	int rc;

	*out_len = 0;
	rc = ext_token_request_decode(req, len, 0, &tr);
	if (rc != 0)
		return rc;
	rc = pbrsa_blind_sign(signer, tr.blinded_msg, EXT_NK, tr.extensions,
			      tr.extensions_len, out, cap);
	ERR_clear_error();
	if (rc == 0)
		*out_len = EXT_NK;
	return rc;
}

static int pb_verify(void *verifier, const uint8_t *input, size_t input_len,
		     const uint8_t *auth, size_t auth_len, const uint8_t *info,
		     size_t info_len)
{
	int rc;

	/* a 0xDA7A token is bound to its Extensions: none given, no answer
	 * but "does not verify" */
	if (info == NULL || input_len != EXT_TOKEN_INPUT_LEN)
		return PP_ERR_VERIFY;
	rc = pbrsa_verify(verifier, input, input_len, info, info_len, auth,
			  auth_len);
	/* a signature that is not one is as bad as a wrong one, and so is
	 * info too long to be Extensions */
	if (rc == PP_ERR_MSG_RANGE || rc == PP_ERR_LENGTH)
		rc = PP_ERR_VERIFY;
	ERR_clear_error();
	return rc;
}

const struct tt_ops tt_pbrsa = {
	.type = EXT_TOKEN_TYPE_PBRSA,
	.name = "pbrsa-2048",
	.request_len = EXT_REQUEST_LEN,
	.request_variable = 1,
	.response_len = EXT_NK,
	.nk = EXT_NK,
	.private_verify = 0,
	.slow_issue = 1,            /* a key derivation and a 2048-bit
				     * signature with a 2048-bit exponent */
	.generate = pb_generate,
	.generate_progress = pb_generate_progress,
	.import = pb_import,
	.check = pb_check,
	.public_form = pb_public_form,
	.public_check = pb_public_check,
	.signer_new = pb_signer_new,
	.verifier_new = pb_verifier_new,
	.signer_free = pb_signer_free,
	.verifier_free = pb_verifier_free,
	.issue = pb_issue,
	.verify = pb_verify,
};
