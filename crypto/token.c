/* Codecs for TokenChallenge, Token, TokenRequest and TokenResponse.
 *
 * Decoders read the wire in order and report the first rule broken:
 * a length prefix's value is checked as soon as the prefix is read, before
 * the bytes it announces (so an empty issuer_name is PP_ERR_ISSUER_NAME
 * even when the input stops right after it). Fixed-size structures check
 * the token type first and the total size second. */
#include "token.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/pp_err.h"
#include "token_types.h"

/* A read cursor that never moves past len. */
struct tok_cur {
	const uint8_t *p;
	size_t left;
};

static int tok_cur_take(struct tok_cur *c, size_t n, const uint8_t **out)
{
	if (c->left < n)
		return PP_ERR_TRUNCATED;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

static int tok_cur_u8(struct tok_cur *c, size_t *v)
{
	const uint8_t *b;
	int rc = tok_cur_take(c, 1, &b);

	if (rc == 0)
		*v = b[0];
	return rc;
}

static int tok_cur_u16(struct tok_cur *c, size_t *v)
{
	const uint8_t *b;
	int rc = tok_cur_take(c, 2, &b);

	if (rc == 0)
		*v = (size_t)b[0] << 8 | b[1];
	return rc;
}

static void tok_put_u16(uint8_t *out, uint16_t v)
{
	out[0] = (uint8_t)(v >> 8);
	out[1] = (uint8_t)v;
}

static uint16_t tok_get_u16(const uint8_t *in)
{
	return (uint16_t)(in[0] << 8 | in[1]);
}

int tok_challenge_decode(const uint8_t *in, size_t len,
			 struct tok_challenge *out)
{
	struct tok_cur c = { in, in ? len : 0 };
	size_t v;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = tok_cur_u16(&c, &v)) != 0)
		goto cleanup;
	out->token_type = (uint16_t)v;

	if ((rc = tok_cur_u16(&c, &out->issuer_name_len)) != 0)
		goto cleanup;
	if (out->issuer_name_len == 0) {
		rc = PP_ERR_ISSUER_NAME;
		goto cleanup;
	}
	if ((rc = tok_cur_take(&c, out->issuer_name_len,
			       &out->issuer_name)) != 0)
		goto cleanup;

	if ((rc = tok_cur_u8(&c, &out->redemption_context_len)) != 0)
		goto cleanup;
	if (out->redemption_context_len != 0 &&
	    out->redemption_context_len != TOK_REDEMPTION_CONTEXT_LEN) {
		rc = PP_ERR_REDEMPTION_CONTEXT;
		goto cleanup;
	}
	if ((rc = tok_cur_take(&c, out->redemption_context_len,
			       &out->redemption_context)) != 0)
		goto cleanup;

	if ((rc = tok_cur_u16(&c, &out->origin_info_len)) != 0)
		goto cleanup;
	if ((rc = tok_cur_take(&c, out->origin_info_len,
			       &out->origin_info)) != 0)
		goto cleanup;

	if (c.left != 0)
		rc = PP_ERR_TRAILING;
cleanup:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

size_t tok_challenge_encoded_len(const struct tok_challenge *c)
{
	return 2 + 2 + c->issuer_name_len + 1 + c->redemption_context_len +
	       2 + c->origin_info_len;
}

static int tok_challenge_check(const struct tok_challenge *c)
{
	if (c->issuer_name_len == 0 || c->issuer_name_len > UINT16_MAX ||
	    c->issuer_name == NULL)
		return PP_ERR_ARG;
	if (c->redemption_context_len != 0 &&
	    c->redemption_context_len != TOK_REDEMPTION_CONTEXT_LEN)
		return PP_ERR_ARG;
	if (c->redemption_context_len > 0 && c->redemption_context == NULL)
		return PP_ERR_ARG;
	if (c->origin_info_len > UINT16_MAX ||
	    (c->origin_info_len > 0 && c->origin_info == NULL))
		return PP_ERR_ARG;
	return 0;
}

int tok_challenge_encode(const struct tok_challenge *c, uint8_t *out,
			 size_t out_cap, size_t *out_len)
{
	size_t n, pos = 0;
	int rc;

	if (out_len)
		*out_len = 0;
	if ((rc = tok_challenge_check(c)) != 0)
		return rc;
	n = tok_challenge_encoded_len(c);
	if (out == NULL || out_cap < n)
		return PP_ERR_BUFFER;

	tok_put_u16(out + pos, c->token_type);
	pos += 2;
	tok_put_u16(out + pos, (uint16_t)c->issuer_name_len);
	pos += 2;
	memcpy(out + pos, c->issuer_name, c->issuer_name_len);
	pos += c->issuer_name_len;
	out[pos++] = (uint8_t)c->redemption_context_len;
	if (c->redemption_context_len > 0)
		memcpy(out + pos, c->redemption_context,
		       c->redemption_context_len);
	pos += c->redemption_context_len;
	tok_put_u16(out + pos, (uint16_t)c->origin_info_len);
	pos += 2;
	if (c->origin_info_len > 0)
		memcpy(out + pos, c->origin_info, c->origin_info_len);
	pos += c->origin_info_len;

	if (out_len)
		*out_len = pos;
	return 0;
}

int tok_token_decode(const uint8_t *in, size_t len, struct tok_token *out)
{
	const struct tt_ops *tt;

	memset(out, 0, sizeof(*out));
	if (in == NULL || len < 2)
		return PP_ERR_TRUNCATED;
	tt = tt_find(tok_get_u16(in));
	if (tt == NULL)
		return PP_ERR_TOKEN_TYPE;
	if (len != TOK_INPUT_LEN + tt->nk)
		return PP_ERR_LENGTH;
	out->token_type = tt->type;
	out->nonce = in + 2;
	out->challenge_digest = out->nonce + TOK_NONCE_LEN;
	out->token_key_id = out->challenge_digest + TOK_DIGEST_LEN;
	out->authenticator = in + TOK_INPUT_LEN;
	out->authenticator_len = tt->nk;
	out->input = in;
	return 0;
}

int tok_challenge_matches(const struct tok_token *t, const uint8_t *challenge,
			  size_t len)
{
	struct tok_challenge c;
	uint8_t digest[TOK_DIGEST_LEN];
	int rc;

	rc = tok_challenge_decode(challenge, len, &c);
	if (rc != 0)
		return rc;
	if (c.token_type != t->token_type)
		return PP_ERR_CHALLENGE;
	if (SHA256(challenge, len, digest) == NULL)
		return PP_ERR_INTERNAL;
	return CRYPTO_memcmp(digest, t->challenge_digest, TOK_DIGEST_LEN) == 0
		       ? 0 : PP_ERR_CHALLENGE;
}

void tok_token_input(uint16_t token_type, const uint8_t nonce[TOK_NONCE_LEN],
		     const uint8_t digest[TOK_DIGEST_LEN],
		     const uint8_t key_id[TOK_KEY_ID_LEN],
		     uint8_t out[TOK_INPUT_LEN])
{
	tok_put_u16(out, token_type);
	memcpy(out + 2, nonce, TOK_NONCE_LEN);
	memcpy(out + 2 + TOK_NONCE_LEN, digest, TOK_DIGEST_LEN);
	memcpy(out + 2 + TOK_NONCE_LEN + TOK_DIGEST_LEN, key_id,
	       TOK_KEY_ID_LEN);
}

void tok_token_encode(const uint8_t input[TOK_INPUT_LEN],
		      const uint8_t authenticator[TOK_NK],
		      uint8_t out[TOK_TOKEN_LEN])
{
	memcpy(out, input, TOK_INPUT_LEN);
	memcpy(out + TOK_INPUT_LEN, authenticator, TOK_NK);
}

int tok_request_header(const uint8_t *in, size_t len, const struct tt_ops **tt,
		       uint8_t *truncated_key_id)
{
	*tt = NULL;
	*truncated_key_id = 0;
	if (in == NULL || len < 2)
		return PP_ERR_TRUNCATED;
	*tt = tt_find(tok_get_u16(in));
	if (*tt == NULL)
		return PP_ERR_TOKEN_TYPE;
	if (len != (*tt)->request_len &&
	    !((*tt)->request_variable && len > (*tt)->request_len)) {
		*tt = NULL;
		return PP_ERR_LENGTH;
	}
	*truncated_key_id = in[2];
	return 0;
}

int tok_request_decode(const uint8_t *in, size_t len, struct tok_request *out)
{
	memset(out, 0, sizeof(*out));
	if (in == NULL || len < 2)
		return PP_ERR_TRUNCATED;
	if (tok_get_u16(in) != TOK_TYPE_BLIND_RSA)
		return PP_ERR_TOKEN_TYPE;
	if (len != TOK_REQUEST_LEN)
		return PP_ERR_LENGTH;
	out->token_type = TOK_TYPE_BLIND_RSA;
	out->truncated_key_id = in[2];
	out->blinded_msg = in + 3;
	return 0;
}

void tok_request_encode(uint8_t truncated_key_id,
			const uint8_t blinded_msg[TOK_NK],
			uint8_t out[TOK_REQUEST_LEN])
{
	tok_put_u16(out, TOK_TYPE_BLIND_RSA);
	out[2] = truncated_key_id;
	memcpy(out + 3, blinded_msg, TOK_NK);
}

int tok_response_decode(const uint8_t *in, size_t len, const uint8_t **blind_sig)
{
	*blind_sig = NULL;
	if (in == NULL || len != TOK_RESPONSE_LEN)
		return PP_ERR_LENGTH;
	*blind_sig = in;
	return 0;
}
