/* Request smuggling over one raw TCP connection: a request whose framing a
 * proxy in front could read differently (RFC 9112 sec. 3.2, 5, 6) gets a
 * single 400 with Connection: close, the server then closes, and the bytes
 * sent after it (a pipelined GET /healthz) are never answered. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "crypto/token.h"
#include "th.h"

/* well below the server's 10 s connection timeout: a close seen by then
 * was the server's answer, not an idle connection timing out */
#define FR_WAIT_MS 3000

#define SMUGGLED "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
#define POST_TR "POST /token-request HTTP/1.1\r\nHost: x\r\n" \
	"Content-Type: application/private-token-request\r\n"

static struct th_server srv;

static void fr_start(void)
{
	th_dir_init(&srv);
	th_server_start(&srv, NULL, NULL);
}

static void fr_stop(void)
{
	int st = srv.pid > 0 ? th_server_stop(&srv) : 0;

	th_dir_cleanup(&srv);
	cr_assert_eq(st, 0, "server did not exit 0 on SIGTERM (status %d)", st);
	tu_leak_check();
}

TestSuite(framing_http, .init = fr_start, .fini = fr_stop, .timeout = 90);

static long fr_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Sends req on a fresh connection and reads until the server closes it or
 * FR_WAIT_MS pass. out gets what arrived, NUL-terminated. Returns 1 when
 * the server closed the connection (EOF or reset), 0 when it is still open. */
static int fr_exchange(const char *req, size_t len, char *out, size_t cap, size_t *out_len)
{
	struct timespec t0;
	int fd = th_connect(srv.port), closed = 0;
	size_t n = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* the server may close before taking it all: that is an answer too */
	(void)send(fd, req, len, MSG_NOSIGNAL);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = FR_WAIT_MS - fr_ms_since(&t0);
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			break;
		r = recv(fd, out + n, cap - 1 - n, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET)) {
			closed = 1;
			break;
		}
		cr_assert(r > 0, "recv: %s", strerror(errno));
		n += (size_t)r;
		cr_assert(n < cap - 1, "more than %zu bytes of answer", cap);
	}
	out[n] = '\0';
	*out_len = n;
	close(fd);
	return closed;
}

static size_t fr_count(const char *hay, const char *needle)
{
	size_t c = 0;

	for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
		c++;
	return c;
}

/* Whether the header block at the start of resp has name: value (any case). */
static int fr_has_header(const char *resp, const char *name, const char *value)
{
	const char *end = strstr(resp, "\r\n\r\n"), *p = resp;
	size_t nl = strlen(name), vl = strlen(value);

	while (end && (p = strstr(p, "\r\n")) && p < end) {
		p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':' &&
		    !strncasecmp(p + nl + 1 + strspn(p + nl + 1, " "), value, vl))
			return 1;
	}
	return 0;
}

/* The request (with SMUGGLED after it) is refused by this server's framing
 * check: exactly one 400 with Connection: close and the JSON error body,
 * nothing after it, and the connection closed. */
static void fr_expect_refused(const char *what, const char *req)
{
	char *msg = NULL, out[8192];
	const char *body, *p;
	size_t len, clen;
	int closed;

	cr_assert(asprintf(&msg, "%s" SMUGGLED, req) > 0);
	closed = fr_exchange(msg, strlen(msg), out, sizeof(out), &len);
	free(msg);
	cr_expect(closed, "%s: connection still open after %d ms: %s", what, FR_WAIT_MS, out);
	cr_expect_eq(fr_count(out, "HTTP/1."), 1, "%s: want one status line: %s", what, out);
	cr_expect_eq(strncmp(out, "HTTP/1.1 400 ", 13), 0, "%s: %s", what, out);
	cr_expect(fr_has_header(out, "Connection", "close"), "%s: no Connection: close: %s",
		  what, out);
	cr_expect(fr_has_header(out, "Content-Type", "application/json"), "%s: %s", what, out);
	body = strstr(out, "\r\n\r\n");
	cr_assert(body, "%s: no complete header block: %s", what, out);
	body += 4;
	cr_expect_str_eq(body, "{\"error\":\"bad_request\",\"message\":\"malformed request\"}",
			 "%s", what);
	/* nothing follows the one answer: its Content-Length covers the rest */
	p = strcasestr(out, "\r\nContent-Length:");
	cr_assert(p && sscanf(p + 17, "%zu", &clen) == 1, "%s: %s", what, out);
	cr_expect_eq(clen, strlen(body), "%s: bytes after the answer: %s", what, out);
	cr_expect_null(strstr(out, "200 OK"), "%s: the smuggled request was answered", what);
}

/* The four reported openings and HTTP/1.1 without Host. */
Test(framing_http, reported_cases_get_one_400_and_close)
{
	fr_expect_refused("Transfer-Encoding with Content-Length",
			  POST_TR "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
				  "0\r\n\r\n");
	fr_expect_refused("two different Content-Length",
			  POST_TR "Content-Length: 5\r\nContent-Length: 40\r\n\r\nhello");
	fr_expect_refused("space before the colon",
			  POST_TR "Content-Length : 5\r\n\r\nhello");
	fr_expect_refused("HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n");
}

/* "Content-Length: 5, 5", and any Content-Length with a non-digit when no
 * Transfer-Encoding is present, is refused by libmicrohttpd 0.9.75 itself
 * before the access handler is called: its own HTML 400 (413 for a number
 * over 64 bits) and a close. Its state machine then writes the status line
 * and header block twice (fixed in libmicrohttpd 1.0), so only "every status
 * line is the refusal" can be asserted; nothing smuggled is answered. */
Test(framing_http, content_length_list_is_refused_and_closed)
{
	static const struct {
		const char *what, *cl, *status;
	} cases[] = {
		{ "list", "5, 5", "HTTP/1.1 400 " },
		{ "plus sign", "+5", "HTTP/1.1 400 " },
		{ "hex", "0x5", "HTTP/1.1 400 " },
		{ "trailing space", "5 ", "HTTP/1.1 400 " },
		{ "overflow", "99999999999999999999999", "HTTP/1.1 413 " },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *msg = NULL, out[8192];
		size_t len, lines;
		const char *p;

		cr_assert(asprintf(&msg, POST_TR "Content-Length: %s\r\n\r\nhello" SMUGGLED,
				   cases[i].cl) > 0);
		cr_expect(fr_exchange(msg, strlen(msg), out, sizeof(out), &len),
			  "%s: connection still open: %s", cases[i].what, out);
		free(msg);
		lines = fr_count(out, "HTTP/1.");
		cr_expect(lines >= 1 && lines == fr_count(out, cases[i].status),
			  "%s: want only %s: %s", cases[i].what, cases[i].status, out);
		cr_expect(fr_has_header(out, "Connection", "close"), "%s: %s", cases[i].what, out);
		p = strstr(out, "\r\n\r\n");
		cr_expect(p && !strstr(p, "200 OK") && !strstr(p, "\"status\""),
			  "%s: the smuggled request was answered: %s", cases[i].what, out);
	}
}

Test(framing_http, other_framing_errors_get_one_400_and_close)
{
	static const struct {
		const char *what, *req;
	} cases[] = {
		{ "gzip, chunked", POST_TR "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" },
		{ "chunked, identity",
		  POST_TR "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" },
		{ "xchunked", POST_TR "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" },
		{ "chunked twice", POST_TR "Transfer-Encoding: chunked\r\n"
					   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
		{ "Transfer-Encoding in HTTP/1.0",
		  "POST /token-request HTTP/1.0\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
		{ "length and hex length", POST_TR "Content-Length: 5\r\n"
						   "Content-Length: 0x5\r\n\r\nhello" },
		{ "length with a sign beside chunked",
		  POST_TR "Transfer-Encoding: chunked\r\nContent-Length: +5\r\n\r\n0\r\n\r\n" },
		{ "obs-fold of Content-Length", POST_TR "Content-Length: 5\r\n 0\r\n\r\nhello" },
		{ "obs-fold with a tab", POST_TR "X-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n" },
		{ "obs-fold of the first field",
		  "POST /token-request HTTP/1.1\r\n Content-Length: 5\r\nHost: x\r\n\r\nhello" },
		{ "Transfer-Encoding with a tab before the colon",
		  POST_TR "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n" },
		{ "control character in a name", POST_TR "Content\x01Length: 5\r\n\r\nhello" },
		{ "bare CR in a value", POST_TR "X-A: a\rContent-Length: 5\r\n\r\nhello" },
		{ "two Hosts", "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" },
		{ "Host with a space", "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fr_expect_refused(cases[i].what, cases[i].req);
}

/* What the check lets through still works: a chunked token request, then
 * a request with a Content-Length, on one kept-alive connection. */
Test(framing_http, chunked_request_is_served_when_framing_is_plain)
{
	struct th_client c;
	char req[1024], out[8192];
	uint8_t token[TOK_TOKEN_LEN];
	const char *body;
	size_t len = 0;
	int n;

	th_client_init(&c, &srv);
	th_client_request(&c);
	n = snprintf(req, sizeof(req), POST_TR "Transfer-Encoding: chunked\r\n\r\n%x\r\n", 100);
	memcpy(req + n, c.request, 100);
	n += 100;
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n%x\r\n", 159);
	memcpy(req + n, c.request + 100, 159);
	n += 159;
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n0\r\n\r\n" SMUGGLED);
	cr_expect_not(fr_exchange(req, (size_t)n, out, sizeof(out), &len),
		      "the server closed a well-framed connection");
	cr_assert_eq(strncmp(out, "HTTP/1.1 200 ", 13), 0, "%s", out);
	body = strstr(out, "\r\n\r\n");
	cr_assert(body);
	body += 4;
	cr_assert(len - (size_t)(body - out) >= 256, "short answer");
	cr_expect_eq(th_client_finalize(&c, (const uint8_t *)body, 256, token), 0);
	/* the signature may hold NUL bytes: look past it for the second answer */
	cr_expect(len - (size_t)(body - out) > 256 &&
		  strncmp(body + 256, "HTTP/1.1 200 ", 13) == 0,
		  "the pipelined GET /healthz was not answered");
	th_client_free(&c);
}

/* No false alarm from the obs-fold detection (api/server.c looks at where
 * libmicrohttpd left each name and value) or from the field list's heap
 * path: many fields, a long one and wide whitespace, twice on one
 * connection. */
Test(framing_http, many_and_long_fields_are_accepted)
{
	char *req = malloc(16384), out[8192];
	size_t n = 0, len;
	int i, k;

	cr_assert(req);
	for (k = 0; k < 2; k++) {
		n += (size_t)sprintf(req + n, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
		for (i = 0; i < 40; i++)
			n += (size_t)sprintf(req + n, "X-Field-%d:%s%d\r\n", i,
					     i % 3 ? " " : " \t  \t", i);
		n += (size_t)sprintf(req + n, "X-Empty:\r\nX-Blank:   \r\nX-Long: ");
		memset(req + n, 'a', 3000);
		n += 3000;
		n += (size_t)sprintf(req + n, "\r\n\r\n");
	}
	cr_expect_not(fr_exchange(req, n, out, sizeof(out), &len),
		      "the server closed a well-framed connection: %s", out);
	cr_expect_eq(fr_count(out, "HTTP/1.1 200 "), 2, "%s", out);
	cr_expect_eq(fr_count(out, "HTTP/1."), 2, "%s", out);
	free(req);
}
