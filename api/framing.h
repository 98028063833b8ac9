/* Request framing checks (RFC 9112 sec. 3.2, 5, 6), kept free of HTTP
 * libraries so they can be unit tested and fuzzed. A request whose length a
 * proxy in front and this server could read differently is refused before
 * its body is read, and its connection closed (request smuggling). */
#ifndef PP_API_FRAMING_H
#define PP_API_FRAMING_H

#include <stddef.h>

/* One header field line as received (name as sent, value without its
 * leading whitespace). */
struct api_framing_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	int folded;            /* the line was continued (obs-fold) */
};

enum api_framing_verdict {
	API_FRAMING_OK = 0,
	API_FRAMING_OBS_FOLD = -1,    /* a field continued on the next line */
	API_FRAMING_BAD_NAME = -2,    /* empty, or not a token (space before the colon, CTLs) */
	API_FRAMING_BAD_VALUE = -3,   /* a control character in a field value */
	API_FRAMING_TE_AND_CL = -4,   /* Transfer-Encoding together with Content-Length */
	API_FRAMING_BAD_TE = -5,      /* Transfer-Encoding other than one plain "chunked" */
	API_FRAMING_TE_HTTP10 = -6,   /* Transfer-Encoding in an HTTP/1.0 request */
	API_FRAMING_BAD_CL = -7,      /* Content-Length not 1 to 19 plain digits */
	API_FRAMING_DUP_CL = -8,      /* more than one Content-Length line */
	API_FRAMING_NO_HOST = -9,     /* HTTP/1.1 without Host */
	API_FRAMING_DUP_HOST = -10,   /* more than one Host line */
	API_FRAMING_BAD_HOST = -11,   /* Host with characters no authority has */
};
#define API_FRAMING_VERDICT_MIN API_FRAMING_BAD_HOST

/* The verdict on a request's header fields f[0..n) (n may be 0).
 * version is the request line's protocol ("HTTP/1.0"; anything else gets
 * the HTTP/1.1 rules). */
enum api_framing_verdict api_framing_check(const struct api_framing_field *f,
					   size_t n, const char *version);
/* A short static description of a verdict, for logs and tests. */
const char *api_framing_verdict_str(enum api_framing_verdict v);

#endif
