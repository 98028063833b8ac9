#include "issuer/redeem_body.h"

#include <jansson.h>
#include <string.h>

#include "crypto/authhdr.h"
#include "crypto/b64.h"

/* Decodes an optional base64url string member into out. Returns 0 when
 * absent (*len = 0), 1 when decoded, -1 when malformed. */
static int b64_member(json_t *obj, const char *name, uint8_t *out, size_t cap,
		      size_t *len)
{
	json_t *v = json_object_get(obj, name);

	*len = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -1;
	return b64_decode_public(json_string_value(v), json_string_length(v),
				 out, cap, len) == 0 ? 1 : -1;
}

static const char *parse_object(json_t *root, struct rdm_input *out)
{
	json_t *auth_v = json_object_get(root, "authorization");
	json_t *spend_v = json_object_get(root, "spend");
	int rc;

	if (auth_v && json_object_get(root, "token"))
		return "give token or authorization, not both";
	if (auth_v) {
		const char *t, *e;
		size_t tl, el;

		if (!json_is_string(auth_v) ||
		    ah_parse_authorization_ext(json_string_value(auth_v),
					       json_string_length(auth_v), &t, &tl,
					       &e, &el) != 0 ||
		    b64_decode_public(t, tl, out->token, sizeof(out->token),
				      &out->token_len) != 0)
			return "authorization is not a PrivateToken credential";
		/* the credential's own extensions= (0xDA7A) */
		if (e && json_object_get(root, "extensions"))
			return "give extensions in the authorization or beside it, not both";
		if (e && b64_decode_public(e, el, out->extensions,
					   sizeof(out->extensions),
					   &out->extensions_len) != 0)
			return "the authorization's extensions are not base64url of at most 4096 bytes";
		out->has_extensions = e != NULL;
	} else if (b64_member(root, "token", out->token, sizeof(out->token),
			      &out->token_len) != 1) {
		return "token must be a base64url string";
	}
	if (b64_member(root, "challenge", out->challenge, sizeof(out->challenge),
		       &out->challenge_len) < 0)
		return "challenge must be a base64url string";
	if (!out->has_extensions) {
		rc = b64_member(root, "extensions", out->extensions,
				sizeof(out->extensions), &out->extensions_len);
		if (rc < 0)
			return "extensions must be a base64url string of at most 4096 bytes";
		out->has_extensions = rc == 1;
	}
	if (spend_v && !json_is_boolean(spend_v))
		return "spend must be true or false";
	if (spend_v)
		out->spend = json_is_true(spend_v);
	return NULL;
}

/* The body every client sends, {"token":"<b64url>"} byte for byte, is read
 * without building a JSON tree (jansson's allocations were a tenth of a
 * redemption's CPU time). Returns 1 when the body has that exact form and
 * the token decodes: then jansson would give an object whose only member is
 * that string. Anything else (spaces, escapes, other members, bad base64)
 * goes to jansson, which gives the answer and its message. */
static int fast_token_only(const uint8_t *body, size_t len,
			   struct rdm_input *out)
{
	static const char head[] = "{\"token\":\"";
	const size_t hl = sizeof(head) - 1;

	if (len < hl + 2 || memcmp(body, head, hl) != 0 ||
	    body[len - 2] != '"' || body[len - 1] != '}')
		return 0;
	/* text that decodes holds only the alphabet and trailing '=': no
	 * quote, no escape, so jansson would read the same one member */
	if (b64_decode_public((const char *)body + hl, len - hl - 2, out->token,
			      sizeof(out->token), &out->token_len) != 0) {
		out->token_len = 0;
		return 0;
	}
	return 1;
}

const char *rdm_body_parse(const uint8_t *body, size_t len,
				  struct rdm_input *out)
{
	json_error_t jerr;
	json_t *root;
	const char *err;

	out->token_len = 0;
	out->challenge_len = 0;
	out->spend = 1;
	out->extensions_len = 0;
	out->has_extensions = 0;
	if (fast_token_only(body, len, out))
		return NULL;
	root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return "body must be a JSON object";
	}
	err = parse_object(root, out);
	json_decref(root);
	if (err) {
		out->token_len = out->challenge_len = 0;
		out->extensions_len = 0;
		out->has_extensions = 0;
	}
	return err;
}
