/* RFC 9110 section 11 auth-header parsing for the PrivateToken scheme.
 *
 *   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param  = token BWS "=" BWS ( token / quoted-string )
 *
 * The one hard question is where a challenge ends inside a #challenge list,
 * since both challenges and parameters are separated by commas. After each
 * comma run we look ahead: `token OWS "="` continues the current
 * challenge's parameters, anything else starts a new challenge (a scheme is
 * never followed by '='). Everything works on (pointer, length) with a
 * cursor that is checked before every read, and nothing is allocated. */
#include "authhdr.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "b64.h"
#include "base/pp_err.h"

struct ah_cur {
	const char *s;
	size_t len;
	size_t pos;
};

struct ah_view {
	const char *p; /* NULL: absent */
	size_t len;
};

struct ah_param {
	struct ah_view name;
	struct ah_view value; /* without the quotes */
	int escaped;          /* value holds a quoted-pair */
};

/* The parts of one challenge (or credentials) that PrivateToken uses. */
struct ah_fields {
	int is_private_token;
	struct ah_view challenge;
	struct ah_view token_key;
	struct ah_view max_age;
	struct ah_view token;
	struct ah_view extensions;   /* draft-ietf-privacypass-auth-scheme-extensions */
};

static int ah_is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9');
}

static int ah_is_tchar(unsigned char ch)
{
	return ah_is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

static int ah_is_t68char(unsigned char ch)
{
	return ah_is_alnum(ch) || (ch != '\0' && strchr("-._~+/", ch));
}

/* qdtext and the second octet of a quoted-pair: HTAB, SP, VCHAR, obs-text. */
static int ah_is_qchar(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int ah_at(const struct ah_cur *c, char ch)
{
	return c->pos < c->len && c->s[c->pos] == ch;
}

static size_t ah_skip_ows(struct ah_cur *c)
{
	size_t start = c->pos;

	while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'))
		c->pos++;
	return c->pos - start;
}

/* Skips OWS and commas: the separators and empty elements of a list. */
static void ah_skip_list_sep(struct ah_cur *c)
{
	while (c->pos < c->len && (c->s[c->pos] == ' ' ||
				   c->s[c->pos] == '\t' || c->s[c->pos] == ','))
		c->pos++;
}

static size_t ah_token_end(const struct ah_cur *c, size_t from)
{
	while (from < c->len && ah_is_tchar((unsigned char)c->s[from]))
		from++;
	return from;
}

/* ASCII case-insensitive, independent of the locale. */
static int ah_view_is(struct ah_view v, const char *lit)
{
	size_t i, n = strlen(lit);

	if (v.len != n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char a = (unsigned char)v.p[i], b = (unsigned char)lit[i];

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (unsigned char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return 1;
}

/* True when a token68 starts at c->pos and fills the rest of the element:
 * 1*t68char *"=" then OWS then ',' or the end. *end gets where it stops. */
static int ah_token68_at(const struct ah_cur *c, size_t *end)
{
	size_t p = c->pos;

	while (p < c->len && ah_is_t68char((unsigned char)c->s[p]))
		p++;
	if (p == c->pos)
		return 0;
	while (p < c->len && c->s[p] == '=')
		p++;
	*end = p;
	while (p < c->len && (c->s[p] == ' ' || c->s[p] == '\t'))
		p++;
	return p == c->len || c->s[p] == ',';
}

/* True when `token OWS "="` starts at c->pos: a parameter, not a scheme. */
static int ah_param_ahead(const struct ah_cur *c)
{
	size_t p = ah_token_end(c, c->pos);

	if (p == c->pos)
		return 0;
	while (p < c->len && (c->s[p] == ' ' || c->s[p] == '\t'))
		p++;
	return p < c->len && c->s[p] == '=';
}

/* c->pos is at the opening DQUOTE. */
static int ah_quoted_parse(struct ah_cur *c, struct ah_view *v, int *escaped)
{
	size_t start = ++c->pos;

	while (c->pos < c->len) {
		unsigned char ch = (unsigned char)c->s[c->pos];

		if (ch == '"') {
			v->p = c->s + start;
			v->len = c->pos - start;
			c->pos++;
			return 0;
		}
		if (ch == '\\') {
			if (c->pos + 1 >= c->len ||
			    !ah_is_qchar((unsigned char)c->s[c->pos + 1]))
				return PP_ERR_HEADER;
			*escaped = 1;
			c->pos += 2;
			continue;
		}
		if (!ah_is_qchar(ch))
			return PP_ERR_HEADER;
		c->pos++;
	}
	return PP_ERR_HEADER; /* unterminated */
}

/* name BWS "=" BWS value. An unquoted value is a token; trailing '=' are
 * also taken so that unquoted padded base64url, which clients do send,
 * parses (RFC 9110 would only allow it quoted). */
static int ah_param_parse(struct ah_cur *c, struct ah_param *p)
{
	size_t end = ah_token_end(c, c->pos);

	memset(p, 0, sizeof(*p));
	if (end == c->pos)
		return PP_ERR_HEADER;
	p->name.p = c->s + c->pos;
	p->name.len = end - c->pos;
	c->pos = end;
	ah_skip_ows(c);
	if (!ah_at(c, '='))
		return PP_ERR_HEADER;
	c->pos++;
	ah_skip_ows(c);
	if (ah_at(c, '"'))
		return ah_quoted_parse(c, &p->value, &p->escaped);
	end = ah_token_end(c, c->pos);
	if (end == c->pos)
		return PP_ERR_HEADER;
	while (end < c->len && c->s[end] == '=')
		end++;
	p->value.p = c->s + c->pos;
	p->value.len = end - c->pos;
	c->pos = end;
	return 0;
}

/* A known parameter must appear once, be non-empty, and need no unescaping
 * (the views point into the input, and base64url and digits never need a
 * quoted-pair). */
static int ah_field_set(struct ah_view *slot, const struct ah_param *p)
{
	if (slot->p != NULL || p->escaped || p->value.len == 0)
		return PP_ERR_HEADER;
	*slot = p->value;
	return 0;
}

static int ah_fields_take(struct ah_fields *f, const struct ah_param *p)
{
	if (!f->is_private_token)
		return 0;
	if (ah_view_is(p->name, "challenge"))
		return ah_field_set(&f->challenge, p);
	if (ah_view_is(p->name, "token-key"))
		return ah_field_set(&f->token_key, p);
	if (ah_view_is(p->name, "max-age"))
		return ah_field_set(&f->max_age, p);
	if (ah_view_is(p->name, "token"))
		return ah_field_set(&f->token, p);
	if (ah_view_is(p->name, "extensions"))
		return ah_field_set(&f->extensions, p);
	return 0; /* unknown parameters are ignored */
}

/* Parses one challenge at c->pos. On return c->pos is at the separator that
 * ends it (OWS, ',' or the end); the caller checks what follows. */
static int ah_challenge_parse(struct ah_cur *c, struct ah_fields *f)
{
	struct ah_view scheme;
	struct ah_param p;
	size_t end, save;
	int rc;

	memset(f, 0, sizeof(*f));
	end = ah_token_end(c, c->pos);
	if (end == c->pos)
		return PP_ERR_HEADER;
	scheme.p = c->s + c->pos;
	scheme.len = end - c->pos;
	c->pos = end;
	f->is_private_token = ah_view_is(scheme, "PrivateToken");

	if (ah_skip_ows(c) == 0) {
		/* a bare scheme; "scheme=..." is not a challenge */
		return c->pos == c->len || ah_at(c, ',') ? 0 : PP_ERR_HEADER;
	}
	if (ah_token68_at(c, &end)) {
		c->pos = end;
		return 0;
	}
	for (;;) {
		if (c->pos < c->len && !ah_at(c, ',')) {
			if ((rc = ah_param_parse(c, &p)) != 0)
				return rc;
			if ((rc = ah_fields_take(f, &p)) != 0)
				return rc;
			ah_skip_ows(c);
			if (c->pos < c->len && !ah_at(c, ','))
				return PP_ERR_HEADER; /* no comma after a value */
		}
		save = c->pos;
		ah_skip_list_sep(c);
		if (c->pos == c->len || !ah_param_ahead(c)) {
			c->pos = save; /* the end, or the next challenge */
			return 0;
		}
	}
}

/* max-age: 1*DIGIT, quoted or not, that fits a long. */
static int ah_max_age_parse(struct ah_view v, long *out)
{
	long n = 0;
	size_t i;

	*out = -1;
	if (v.p == NULL)
		return 0;
	for (i = 0; i < v.len; i++) {
		int d = v.p[i] - '0';

		if (d < 0 || d > 9 || n > (LONG_MAX - d) / 10)
			return PP_ERR_HEADER;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

int ah_parse_www_authenticate(const char *value, size_t len,
			      struct ah_challenge *out, size_t cap,
			      size_t *count)
{
	struct ah_cur c = { value, value ? len : 0, 0 };
	struct ah_fields f;
	size_t n = 0;
	long max_age;
	int rc = 0;

	*count = 0;
	if (out != NULL && cap > 0)
		memset(out, 0, cap * sizeof(*out));
	for (;;) {
		ah_skip_list_sep(&c);
		if (c.pos == c.len)
			break;
		if ((rc = ah_challenge_parse(&c, &f)) != 0)
			goto cleanup;
		ah_skip_ows(&c);
		if (c.pos < c.len && !ah_at(&c, ',')) {
			rc = PP_ERR_HEADER;
			goto cleanup;
		}
		if (!f.is_private_token)
			continue;
		/* also catches the token68 form, which has no parameters */
		if (f.challenge.p == NULL || f.token_key.p == NULL) {
			rc = PP_ERR_HEADER;
			goto cleanup;
		}
		if ((rc = ah_max_age_parse(f.max_age, &max_age)) != 0)
			goto cleanup;
		/* keep going past cap: the whole value must parse */
		if (out != NULL && n < cap) {
			out[n].challenge = f.challenge.p;
			out[n].challenge_len = f.challenge.len;
			out[n].token_key = f.token_key.p;
			out[n].token_key_len = f.token_key.len;
			out[n].max_age = max_age;
		}
		n++;
	}
	if (n == 0)
		rc = PP_ERR_NO_CHALLENGE;
	else if (n > cap || out == NULL)
		rc = PP_ERR_BUFFER;
	else
		*count = n;
cleanup:
	if (rc != 0 && out != NULL && cap > 0)
		memset(out, 0, cap * sizeof(*out));
	return rc;
}

int ah_parse_authorization(const char *value, size_t len, const char **token,
			   size_t *token_len)
{
	const char *ext;
	size_t ext_len;

	return ah_parse_authorization_ext(value, len, token, token_len, &ext,
					  &ext_len);
}

int ah_parse_authorization_ext(const char *value, size_t len,
			       const char **token, size_t *token_len,
			       const char **ext, size_t *ext_len)
{
	struct ah_cur c = { value, value ? len : 0, 0 };
	struct ah_fields f;
	int rc;

	*token = NULL;
	*token_len = 0;
	*ext = NULL;
	*ext_len = 0;
	ah_skip_ows(&c);
	if (c.pos == c.len)
		return PP_ERR_NO_CHALLENGE;
	if ((rc = ah_challenge_parse(&c, &f)) != 0)
		return rc;
	/* credentials are one element: only empty list elements may follow */
	ah_skip_list_sep(&c);
	if (c.pos != c.len)
		return PP_ERR_HEADER;
	if (!f.is_private_token || f.token.p == NULL)
		return PP_ERR_NO_CHALLENGE;
	*token = f.token.p;
	*token_len = f.token.len;
	*ext = f.extensions.p;
	*ext_len = f.extensions.len;
	return 0;
}

/* Appends n bytes at *pos, keeping room for the NUL. */
static int ah_put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (cap - *pos <= n)
		return PP_ERR_BUFFER;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
	return 0;
}

static int ah_put_str(char *out, size_t cap, size_t *pos, const char *s)
{
	return ah_put(out, cap, pos, s, strlen(s));
}

static int ah_put_b64(char *out, size_t cap, size_t *pos, const uint8_t *in,
		      size_t len)
{
	size_t n = 0;
	int rc = b64_encode(in, len, out + *pos, cap - *pos, &n);

	if (rc == 0)
		*pos += n;
	return rc;
}

int ah_format_challenge(const uint8_t *challenge, size_t challenge_len,
			const uint8_t *token_key, size_t token_key_len,
			long max_age, char *out, size_t out_cap,
			size_t *out_len)
{
	char num[24];
	size_t pos = 0;
	int rc;

	if (out_len)
		*out_len = 0;
	if (out == NULL || out_cap == 0)
		return PP_ERR_BUFFER;
	out[0] = '\0';
	if (challenge == NULL || challenge_len == 0 || token_key == NULL ||
	    token_key_len == 0)
		return PP_ERR_ARG;
	if ((rc = ah_put_str(out, out_cap, &pos,
			     "PrivateToken challenge=\"")) != 0 ||
	    (rc = ah_put_b64(out, out_cap, &pos, challenge,
			     challenge_len)) != 0 ||
	    (rc = ah_put_str(out, out_cap, &pos, "\", token-key=\"")) != 0 ||
	    (rc = ah_put_b64(out, out_cap, &pos, token_key,
			     token_key_len)) != 0 ||
	    (rc = ah_put_str(out, out_cap, &pos, "\"")) != 0)
		goto cleanup;
	if (max_age >= 0) {
		snprintf(num, sizeof(num), "%ld", max_age);
		if ((rc = ah_put_str(out, out_cap, &pos, ", max-age=\"")) != 0 ||
		    (rc = ah_put_str(out, out_cap, &pos, num)) != 0 ||
		    (rc = ah_put_str(out, out_cap, &pos, "\"")) != 0)
			goto cleanup;
	}
	if (out_len)
		*out_len = pos;
cleanup:
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

int ah_format_authorization(const uint8_t *token, size_t token_len, char *out,
			    size_t out_cap, size_t *out_len)
{
	size_t pos = 0;
	int rc;

	if (out_len)
		*out_len = 0;
	if (out == NULL || out_cap == 0)
		return PP_ERR_BUFFER;
	out[0] = '\0';
	if (token == NULL || token_len == 0)
		return PP_ERR_ARG;
	if ((rc = ah_put_str(out, out_cap, &pos,
			     "PrivateToken token=\"")) != 0 ||
	    (rc = ah_put_b64(out, out_cap, &pos, token, token_len)) != 0 ||
	    (rc = ah_put_str(out, out_cap, &pos, "\"")) != 0)
		goto cleanup;
	if (out_len)
		*out_len = pos;
cleanup:
	if (rc != 0)
		out[0] = '\0';
	return rc;
}
