/* The PrivateToken HTTP authentication scheme (RFC 9577 section 2):
 * WWW-Authenticate challenges and the Authorization credential.
 *
 * Parsers follow RFC 9110 section 11 syntax: a header value may hold several
 * challenges of any scheme, parameters are token or quoted-string, optional
 * whitespace around '=' and ',' is tolerated, unknown parameters are ignored,
 * scheme and parameter names are case-insensitive, empty list elements are
 * skipped. Values returned are views into the input, valid as long as it is;
 * nothing is allocated and nothing past len is read.
 *
 * Deliberate choices: an unquoted value may end in '=' padding (clients send
 * `token=abc=` although RFC 9110 wants it quoted); the PrivateToken
 * parameters (challenge, token-key, max-age, token, extensions) must be
 * non-empty, occur once, and hold no quoted-pair (a view cannot unescape;
 * base64url and digits never need one), else PP_ERR_HEADER. Quoted-pairs
 * in other parameters are skipped correctly. */
#ifndef PP_AUTHHDR_H
#define PP_AUTHHDR_H

#include <stddef.h>
#include <stdint.h>

struct ah_challenge {
	const char *challenge;  /* base64url TokenChallenge text */
	size_t challenge_len;
	const char *token_key;  /* base64url key text */
	size_t token_key_len;
	long max_age;           /* -1 when absent */
};

/* Parses a WWW-Authenticate value and returns the PrivateToken challenges in
 * order (other schemes skipped). A PrivateToken challenge lacking challenge=
 * or token-key= is PP_ERR_HEADER. Returns 0 with *count >= 1,
 * PP_ERR_NO_CHALLENGE when none is present, PP_ERR_HEADER on bad syntax,
 * PP_ERR_BUFFER when more than cap were found. */
int ah_parse_www_authenticate(const char *value, size_t len,
			      struct ah_challenge *out, size_t cap,
			      size_t *count);

/* Formats one challenge:
 *   PrivateToken challenge="<b64>", token-key="<b64>"[, max-age="<n>"]
 * from raw bytes (max_age < 0 omits it). NUL-terminated; join several with
 * ", ". PP_ERR_BUFFER when out_cap is short (out is then ""), PP_ERR_ARG for
 * empty inputs. *out_len is optional. */
int ah_format_challenge(const uint8_t *challenge, size_t challenge_len,
			const uint8_t *token_key, size_t token_key_len,
			long max_age, char *out, size_t out_cap,
			size_t *out_len);

/* Parses an Authorization value `PrivateToken token="<b64>"` (quoted or not;
 * other parameters ignored). Returns a view of the base64url text; *token is
 * NULL and *token_len 0 on error. Syntax is checked first: PP_ERR_HEADER on
 * bad syntax or a second credentials element; then PP_ERR_NO_CHALLENGE if the
 * value is empty, the scheme is not PrivateToken, or token= is missing
 * (including the token68 form `PrivateToken abc==`). */
int ah_parse_authorization(const char *value, size_t len, const char **token,
			   size_t *token_len);

/* The same, also returning the extensions= parameter
 * (draft-ietf-privacypass-auth-scheme-extensions-03: the base64url
 * Extensions a token of type 0xDA7A is bound to), a view like the token's;
 * *ext is NULL when the parameter is absent. A second or empty extensions=
 * is PP_ERR_HEADER, as for token=. */
int ah_parse_authorization_ext(const char *value, size_t len,
			       const char **token, size_t *token_len,
			       const char **ext, size_t *ext_len);

/* Formats `PrivateToken token="<b64>"`, NUL-terminated; errors as above. */
int ah_format_authorization(const uint8_t *token, size_t token_len, char *out,
			    size_t out_cap, size_t *out_len);

#endif
