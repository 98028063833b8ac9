#include "api/framing.h"

#include <string.h>
#include <strings.h>

/* 2^64 has 20 digits: 19 always fit the parser behind us, and no body we
 * accept comes near them. */
#define FRAMING_CL_DIGITS_MAX 19

/* tchar of RFC 9110 sec. 5.6.2 */
static int framing_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* uri-host [ ":" port ] of RFC 3986, character by character: enough to
 * refuse spaces, controls, userinfo and paths. */
static int framing_is_host_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("-._~%!$&'()*+,;=:[]", c) != NULL;
}

static int framing_name_is(const struct api_framing_field *f, const char *name)
{
	size_t len = strlen(name);

	return f->name_len == len && strncasecmp(f->name, name, len) == 0;
}

static int framing_name_ok(const struct api_framing_field *f)
{
	size_t i;

	if (!f->name || !f->name_len)
		return 0;
	for (i = 0; i < f->name_len; i++)
		if (!framing_is_tchar((unsigned char)f->name[i]))
			return 0;
	return 1;
}

/* field-value: VCHAR, obs-text, SP and HTAB; a CR, LF or NUL inside would
 * end the line for one parser and not for another. */
static int framing_value_ok(const struct api_framing_field *f)
{
	size_t i;

	if (!f->value)
		return f->value_len == 0;
	for (i = 0; i < f->value_len; i++) {
		unsigned char c = (unsigned char)f->value[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Exactly "chunked", any case, nothing around it: libmicrohttpd reads any
 * other value as a body that runs to the end of the connection. */
static int framing_te_ok(const struct api_framing_field *f)
{
	return f->value_len == 7 && strncasecmp(f->value, "chunked", 7) == 0;
}

static int framing_cl_ok(const struct api_framing_field *f)
{
	size_t i;

	if (!f->value_len || f->value_len > FRAMING_CL_DIGITS_MAX)
		return 0;
	for (i = 0; i < f->value_len; i++)
		if (f->value[i] < '0' || f->value[i] > '9')
			return 0;
	return 1;
}

static int framing_host_ok(const struct api_framing_field *f)
{
	size_t len = f->value_len, i;

	while (len && (f->value[len - 1] == ' ' || f->value[len - 1] == '\t'))
		len--;
	for (i = 0; i < len; i++)
		if (!framing_is_host_char((unsigned char)f->value[i]))
			return 0;
	return 1;
}

enum api_framing_verdict api_framing_check(const struct api_framing_field *f,
					   size_t n, const char *version)
{
	const struct api_framing_field *te = NULL, *cl = NULL, *host = NULL;
	int http10 = version && strcmp(version, "HTTP/1.0") == 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (f[i].folded)
			return API_FRAMING_OBS_FOLD;
		if (!framing_name_ok(&f[i]))
			return API_FRAMING_BAD_NAME;
		if (!framing_value_ok(&f[i]))
			return API_FRAMING_BAD_VALUE;
		if (framing_name_is(&f[i], "Transfer-Encoding")) {
			/* two lines are one list: never a lone "chunked" */
			if (te)
				return API_FRAMING_BAD_TE;
			te = &f[i];
		} else if (framing_name_is(&f[i], "Content-Length")) {
			/* even equal copies: libmicrohttpd reads the first only,
			 * a proxy may have read another */
			if (cl)
				return API_FRAMING_DUP_CL;
			cl = &f[i];
		} else if (framing_name_is(&f[i], "Host")) {
			if (host)
				return API_FRAMING_DUP_HOST;
			host = &f[i];
		}
	}
	if (te && cl)
		return API_FRAMING_TE_AND_CL;
	if (te && http10)
		return API_FRAMING_TE_HTTP10;
	if (te && !framing_te_ok(te))
		return API_FRAMING_BAD_TE;
	if (cl && !framing_cl_ok(cl))
		return API_FRAMING_BAD_CL;
	if (!host && !http10)
		return API_FRAMING_NO_HOST;
	if (host && !framing_host_ok(host))
		return API_FRAMING_BAD_HOST;
	return API_FRAMING_OK;
}

const char *api_framing_verdict_str(enum api_framing_verdict v)
{
	switch (v) {
	case API_FRAMING_OK: return "ok";
	case API_FRAMING_OBS_FOLD: return "obs-fold continuation line";
	case API_FRAMING_BAD_NAME: return "invalid header field name";
	case API_FRAMING_BAD_VALUE: return "control character in a header field value";
	case API_FRAMING_TE_AND_CL: return "both Transfer-Encoding and Content-Length";
	case API_FRAMING_BAD_TE: return "Transfer-Encoding other than chunked";
	case API_FRAMING_TE_HTTP10: return "Transfer-Encoding in HTTP/1.0";
	case API_FRAMING_BAD_CL: return "invalid Content-Length";
	case API_FRAMING_DUP_CL: return "more than one Content-Length";
	case API_FRAMING_NO_HOST: return "HTTP/1.1 request without Host";
	case API_FRAMING_DUP_HOST: return "more than one Host";
	case API_FRAMING_BAD_HOST: return "invalid Host";
	}
	return "unknown verdict";
}
