/* Token types 0x0005 (VOPRF(ristretto255, SHA-512),
 * draft-ietf-privacypass-batched-tokens-07) and 0x0001 (VOPRF(P-384,
 * SHA-384), RFC 9578 section 5): two table entries over one implementation
 * on the group interface (grp.h) and the VOPRF of voprf.h.
 *
 * Private form: the secret scalar skS, SerializeScalar (32 bytes for type 5,
 * 48 for type 1), canonical and non-zero. Public form: pkS, SerializeElement
 * (32 bytes; 49-byte compressed SEC1), which the directory publishes; the
 * token_key_id is SHA-256 of it (tt_key_id).
 *
 * import takes the raw scalar (exactly Ns bytes) or the same as hex (2 * Ns
 * hex digits, either case, with at most one trailing newline); anything
 * else is refused.
 *
 * Tokens verify only with skS (private_verify): signer and verifier are each
 * a voprf_key made from the private form, immutable and shared read-only by
 * every thread that issues or redeems. */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sodium.h>

#include "base/pp_err.h"
#include "crypto/grp.h"
#include "crypto/token_types.h"
#include "crypto/varint.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"

/* A prepared key: the VOPRF key and what the request path checks. */
struct tv_key {
	uint16_t type;
	const struct grp_impl *g;
	struct voprf_key *k;
	uint8_t truncated_id;
};

static int tv_generate(const struct grp_impl *g, struct tt_secret **out)
{
	uint8_t sk[GRP_MAX_NS];
	struct voprf_key *k = NULL;
	int rc;

	*out = NULL;
	if ((rc = voprf_key_generate(g, &k)) != 0)
		goto cleanup;
	if ((rc = voprf_key_secret(k, sk, sizeof(sk))) != 0)
		goto cleanup;
	rc = tt_secret_new(sk, g->ns, out);
cleanup:
	OPENSSL_cleanse(sk, sizeof(sk));
	voprf_key_free(k);
	return rc;
}

static int tv_check(const struct grp_impl *g, const char *name,
		    const uint8_t *priv, size_t len, char *why, size_t whylen)
{
	struct grp_scalar s;
	int rc;

	if (len != g->ns) {
		snprintf(why, whylen, "a %s private key is the %zu-byte secret "
			 "scalar, not %zu bytes", name, g->ns, len);
		return PP_ERR_KEY;
	}
	rc = g->scalar_decode(&s, priv, len);
	grp_scalar_wipe(&s);
	if (rc != 0) {
		snprintf(why, whylen, "the %s secret scalar is zero or not "
			 "below the group order", name);
		return PP_ERR_KEY;
	}
	return 0;
}

static int tv_import(const struct grp_impl *g, const char *name,
		     const uint8_t *in, size_t len, struct tt_secret **out,
		     char *why, size_t whylen)
{
	uint8_t sk[GRP_MAX_NS];
	const char *end = NULL;
	size_t bin_len = 0;
	int rc;

	*out = NULL;
	if (len == 2 * g->ns + 1 && in[len - 1] == '\n')
		len--;
	if (len == 2 * g->ns) {
		/* sodium_hex2bin runs in time independent of the digits */
		if (sodium_hex2bin(sk, sizeof(sk), (const char *)in, len, NULL,
				   &bin_len, &end) != 0 || bin_len != g->ns ||
		    end != (const char *)in + len) {
			snprintf(why, whylen, "a %s key file holds the secret "
				 "scalar as %zu raw bytes or %zu hex digits",
				 name, g->ns, 2 * g->ns);
			rc = PP_ERR_KEY;
			goto cleanup;
		}
	} else if (len == g->ns) {
		memcpy(sk, in, len);
	} else {
		snprintf(why, whylen, "a %s key file holds the secret scalar as "
			 "%zu raw bytes or %zu hex digits, not %zu bytes", name,
			 g->ns, 2 * g->ns, len);
		rc = PP_ERR_KEY;
		goto cleanup;
	}
	if ((rc = tv_check(g, name, sk, g->ns, why, whylen)) == 0)
		rc = tt_secret_new(sk, g->ns, out);
cleanup:
	OPENSSL_cleanse(sk, sizeof(sk));
	return rc;
}

static int tv_public_form(const struct grp_impl *g, const uint8_t *priv,
			  size_t len, uint8_t *pub, size_t cap, size_t *pub_len)
{
	struct voprf_key *k = NULL;
	int rc;

	*pub_len = 0;
	if (cap < g->ne)
		return PP_ERR_BUFFER;
	if ((rc = voprf_key_new(g, priv, len, &k)) != 0)
		return rc == PP_ERR_MSG_RANGE || rc == PP_ERR_LENGTH ? PP_ERR_KEY
								     : rc;
	memcpy(pub, voprf_key_public(k), g->ne);
	*pub_len = g->ne;
	voprf_key_free(k);
	return 0;
}

static int tv_public_check(const struct grp_impl *g, const uint8_t *pub,
			   size_t len)
{
	struct grp_elem e;

	if (len != g->ne)
		return PP_ERR_KEY;
	return g->elem_decode(&e, pub, len) == 0 ? 0 : PP_ERR_KEY;
}

static void tv_key_free(void *impl)
{
	struct tv_key *t = impl;

	if (t == NULL)
		return;
	voprf_key_free(t->k);
	OPENSSL_free(t);
}

/* A prepared key from the private form; when pub is given it must be the
 * key's public form. */
static int tv_key_new(uint16_t type, const struct grp_impl *g,
		      const uint8_t *priv, size_t len, const uint8_t *pub,
		      size_t pub_len, void **impl)
{
	struct tv_key *t = NULL;
	uint8_t id[32];
	int rc;

	*impl = NULL;
	if (priv == NULL)
		return PP_ERR_ARG;
	if ((t = OPENSSL_zalloc(sizeof(*t))) == NULL)
		return PP_ERR_NOMEM;
	t->type = type;
	t->g = g;
	if ((rc = voprf_key_new(g, priv, len, &t->k)) != 0) {
		if (rc == PP_ERR_MSG_RANGE || rc == PP_ERR_LENGTH)
			rc = PP_ERR_KEY;
		goto cleanup;
	}
	if (pub != NULL && (pub_len != g->ne ||
			    memcmp(pub, voprf_key_public(t->k), g->ne) != 0)) {
		rc = PP_ERR_KEY;   /* metadata and key file disagree */
		goto cleanup;
	}
	tt_key_id(voprf_key_public(t->k), g->ne, id);
	t->truncated_id = tt_truncated_id(id);
	*impl = t;
	t = NULL;
cleanup:
	tv_key_free(t);
	return rc;
}

/* ---- the request path (shared by both types) ---- */

static int tv_issue(void *signer, const uint8_t *req, size_t len, uint8_t *out,
		    size_t cap, size_t *out_len)
{
	const struct tv_key *t = signer;
	const struct grp_impl *g = t->g;
	uint8_t proof[2 * GRP_MAX_NS];
	struct vtok_request r;
	int rc;

	*out_len = 0;
	if ((rc = vtok_request_decode(req, len, &r)) != 0)
		return rc;
	if (r.token_type != t->type)
		return PP_ERR_TOKEN_TYPE;
	if (r.truncated_key_id != t->truncated_id)
		return PP_ERR_UNKNOWN_KEY;
	if (cap < g->ne + 2 * g->ns)
		return PP_ERR_BUFFER;
	/* the element is decoded (and refused) before any secret work */
	rc = voprf_blind_evaluate(t->k, r.blinded, 1, 1, out, cap, proof,
				  sizeof(proof));
	if (rc == 0) {
		memcpy(out + g->ne, proof, 2 * g->ns);
		*out_len = g->ne + 2 * g->ns;
	} else {
		OPENSSL_cleanse(out, g->ne);
	}
	OPENSSL_cleanse(proof, sizeof(proof));
	return rc;
}

static int tv_issue_batch(void *signer, const uint8_t *req, size_t len,
			  unsigned max_n, uint8_t *out, size_t cap,
			  size_t *out_len)
{
	const struct tv_key *t = signer;
	const struct grp_impl *g = t->g;
	struct vtok_batch_request r;
	size_t want, vi = 0, limit;
	int rc;

	*out_len = 0;
	if (max_n == 0)
		return PP_ERR_ARG;
	limit = max_n < VOPRF_MAX_BATCH ? max_n : VOPRF_MAX_BATCH;
	if ((rc = vtok_batch_request_decode(req, len, limit, &r)) != 0)
		return rc;
	if (r.token_type != t->type)
		return PP_ERR_TOKEN_TYPE;
	if (r.truncated_key_id != t->truncated_id)
		return PP_ERR_UNKNOWN_KEY;
	want = vtok_batch_response_len(t->type, r.count);
	if (want == 0 || cap < want)
		return PP_ERR_BUFFER;
	/* varint(n * Ne) || n evaluated elements || c || s, written in place:
	 * one element that does not decode fails the whole batch */
	if ((rc = vi_encode((uint64_t)r.count * g->ne, out, cap, &vi)) != 0)
		return rc;
	rc = voprf_blind_evaluate(t->k, r.blinded, r.count, limit, out + vi,
				  r.count * g->ne, out + vi + r.count * g->ne,
				  2 * g->ns);
	if (rc != 0) {
		OPENSSL_cleanse(out, want);
		return rc;
	}
	*out_len = want;
	return 0;
}

static int tv_verify(void *verifier, const uint8_t *input, size_t input_len,
		     const uint8_t *auth, size_t auth_len, const uint8_t *info,
		     size_t info_len)
{
	const struct tv_key *t = verifier;
	int rc;

	if (info != NULL || info_len != 0)
		return PP_ERR_VERIFY;   /* these types bind nothing else */
	if (input == NULL || input_len != VTOK_INPUT_LEN ||
	    (((unsigned)input[0] << 8) | input[1]) != t->type)
		return PP_ERR_VERIFY;
	rc = voprf_authenticator_check(t->k, input, input_len, auth, auth_len);
	/* an input that cannot be evaluated is no genuine token either */
	if (rc == PP_ERR_MSG_RANGE || rc == PP_ERR_LENGTH)
		rc = PP_ERR_VERIFY;
	ERR_clear_error();
	return rc;
}

/* ---- per-type entry points ---- */

#define R255_NAME "voprf-ristretto255"
#define P384_NAME "voprf-p384"

static int r255_generate(struct tt_secret **out)
{
	return tv_generate(&grp_ristretto255, out);
}

static int r255_import(const uint8_t *in, size_t len, struct tt_secret **out,
		       char *why, size_t whylen)
{
	return tv_import(&grp_ristretto255, R255_NAME, in, len, out, why,
			 whylen);
}

static int r255_check(const uint8_t *priv, size_t len, char *why,
		      size_t whylen)
{
	return tv_check(&grp_ristretto255, R255_NAME, priv, len, why, whylen);
}

static int r255_public_form(const uint8_t *priv, size_t len, uint8_t *pub,
			    size_t cap, size_t *pub_len)
{
	return tv_public_form(&grp_ristretto255, priv, len, pub, cap, pub_len);
}

static int r255_public_check(const uint8_t *pub, size_t len)
{
	return tv_public_check(&grp_ristretto255, pub, len);
}

static int r255_signer_new(const uint8_t *priv, size_t len, unsigned slots,
			   void **impl)
{
	(void)slots;   /* one key serves every thread */
	return tv_key_new(VTOK_TYPE_VOPRF_R255, &grp_ristretto255, priv, len,
			  NULL, 0, impl);
}

static int r255_verifier_new(const uint8_t *pub, size_t pub_len,
			     const uint8_t *priv, size_t priv_len, void **impl)
{
	return tv_key_new(VTOK_TYPE_VOPRF_R255, &grp_ristretto255, priv,
			  priv_len, pub, pub_len, impl);
}

static int p384_generate(struct tt_secret **out)
{
	return tv_generate(&grp_p384, out);
}

static int p384_import(const uint8_t *in, size_t len, struct tt_secret **out,
		       char *why, size_t whylen)
{
	return tv_import(&grp_p384, P384_NAME, in, len, out, why, whylen);
}

static int p384_check(const uint8_t *priv, size_t len, char *why,
		      size_t whylen)
{
	return tv_check(&grp_p384, P384_NAME, priv, len, why, whylen);
}

static int p384_public_form(const uint8_t *priv, size_t len, uint8_t *pub,
			    size_t cap, size_t *pub_len)
{
	return tv_public_form(&grp_p384, priv, len, pub, cap, pub_len);
}

static int p384_public_check(const uint8_t *pub, size_t len)
{
	return tv_public_check(&grp_p384, pub, len);
}

static int p384_signer_new(const uint8_t *priv, size_t len, unsigned slots,
			   void **impl)
{
	(void)slots;
	return tv_key_new(VTOK_TYPE_VOPRF_P384, &grp_p384, priv, len, NULL, 0,
			  impl);
}

static int p384_verifier_new(const uint8_t *pub, size_t pub_len,
			     const uint8_t *priv, size_t priv_len, void **impl)
{
	return tv_key_new(VTOK_TYPE_VOPRF_P384, &grp_p384, priv, priv_len, pub,
			  pub_len, impl);
}

const struct tt_ops tt_voprf_ristretto255 = {
	.type = VTOK_TYPE_VOPRF_R255,
	.name = R255_NAME,
	.request_len = 3 + 32,
	.response_len = 32 + 2 * 32,
	.nk = 64,
	.private_verify = 1,
	.generate = r255_generate,
	.import = r255_import,
	.check = r255_check,
	.public_form = r255_public_form,
	.public_check = r255_public_check,
	.signer_new = r255_signer_new,
	.verifier_new = r255_verifier_new,
	.signer_free = tv_key_free,
	.verifier_free = tv_key_free,
	.issue = tv_issue,
	.verify = tv_verify,
	.issue_batch = tv_issue_batch,
};

const struct tt_ops tt_voprf_p384 = {
	.type = VTOK_TYPE_VOPRF_P384,
	.name = P384_NAME,
	.request_len = 3 + 49,
	.response_len = 49 + 2 * 48,
	.nk = 48,
	.private_verify = 1,
	.slow_issue = 1,            /* five P-384 scalar multiplications */
	.generate = p384_generate,
	.import = p384_import,
	.check = p384_check,
	.public_form = p384_public_form,
	.public_check = p384_public_check,
	.signer_new = p384_signer_new,
	.verifier_new = p384_verifier_new,
	.signer_free = tv_key_free,
	.verifier_free = tv_key_free,
	.issue = tv_issue,
	.verify = tv_verify,
	.issue_batch = tv_issue_batch,
};
