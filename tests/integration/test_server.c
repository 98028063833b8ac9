/* `ppissuer serve` over real HTTP: directory, issuance, every documented
 * error, health and metrics, configuration precedence, graceful stop. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "crypto/b64.h"
#include "crypto/spki.h"
#include "th.h"

#define DIR_PATH "/.well-known/private-token-issuer-directory"
#define CT_REQ "Content-Type: application/private-token-request"

static struct th_server srv;

static void start_default(void)
{
	th_dir_init(&srv);
	th_server_start(&srv, NULL, NULL);
}

static void stop_default(void)
{
	int st = srv.pid > 0 ? th_server_stop(&srv) : 0;

	th_dir_cleanup(&srv);
	cr_assert_eq(st, 0, "server did not exit 0 on SIGTERM (status %d)", st);
	tu_leak_check();
}

TestSuite(server, .init = start_default, .fini = stop_default, .timeout = 60);

static json_t *body_json(const struct th_resp *r)
{
	json_error_t err;
	json_t *j = json_loadb((const char *)r->body, r->len, 0, &err);

	cr_assert(j, "body is not JSON: %s", err.text);
	return j;
}

static void expect_error(const struct th_resp *r, long status, const char *code)
{
	char ct[128];
	json_t *j;

	cr_assert_eq(r->status, status, "status %ld, want %ld (body %.*s)", r->status,
		     status, (int)r->len, r->body ? (const char *)r->body : "");
	cr_assert(th_header(r, "Content-Type", ct, sizeof(ct)));
	cr_assert_str_eq(ct, "application/json");
	j = body_json(r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), code);
	cr_assert(json_is_string(json_object_get(j, "message")));
	json_decref(j);
}

Test(server, directory_lists_the_key_in_rfc9578_form)
{
	struct th_resp r;
	char ct[128], cc[128], etag[128], lm[128];
	json_t *j, *keys, *k;
	uint8_t spki[1100], id[32];
	size_t len;
	EVP_PKEY *pk = NULL;
	const char *b64;

	cr_assert_eq(th_http(&srv, "GET", DIR_PATH, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)),
			 "application/private-token-issuer-directory");
	cr_assert_str_eq(th_header(&r, "Cache-Control", cc, sizeof(cc)),
			 "public, max-age=3600");
	cr_assert(th_header(&r, "ETag", etag, sizeof(etag)));
	cr_assert(etag[0] == '"' && etag[strlen(etag) - 1] == '"', "ETag must be strong");
	cr_assert(th_header(&r, "Last-Modified", lm, sizeof(lm)));
	j = body_json(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "issuer-request-uri")),
			 "/token-request");
	keys = json_object_get(j, "token-keys");
	cr_assert(json_is_array(keys) && json_array_size(keys) == 1);
	k = json_array_get(keys, 0);
	cr_assert_eq(json_integer_value(json_object_get(k, "token-type")), 2);
	cr_assert(json_is_integer(json_object_get(k, "not-before")),
		  "not-before must be integer seconds");
	b64 = json_string_value(json_object_get(k, "token-key"));
	cr_assert(b64 && strlen(b64) % 4 == 0, "token-key must be padded base64url");
	cr_assert(!strpbrk(b64, "+/"), "token-key must be base64url");
	cr_assert_eq(b64_decode(b64, strlen(b64), spki, sizeof(spki), &len), 0);
	cr_assert_eq(len, SPKI_RSA2048_LEN);
	cr_assert_eq(spki_decode(spki, len, &pk), 0);
	spki_key_id(spki, len, id);
	EVP_PKEY_free(pk);
	json_decref(j);
	th_resp_free(&r);
}

Test(server, directory_head_and_conditional_requests)
{
	struct th_resp r;
	char etag[128], lm[128], h1[200], h2[200];

	cr_assert_eq(th_http(&srv, "GET", DIR_PATH, NULL, NULL, 0, &r), 0);
	th_header(&r, "ETag", etag, sizeof(etag));
	th_header(&r, "Last-Modified", lm, sizeof(lm));
	th_resp_free(&r);

	cr_assert_eq(th_http(&srv, "HEAD", DIR_PATH, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, 0);
	cr_assert_str_eq(th_header(&r, "ETag", h1, sizeof(h1)), etag);
	th_resp_free(&r);

	snprintf(h1, sizeof(h1), "If-None-Match: %s", etag);
	cr_assert_eq(th_http(&srv, "GET", DIR_PATH, (const char *[]){ h1, NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 304);
	cr_assert_eq(r.len, 0);
	cr_assert_str_eq(th_header(&r, "ETag", h2, sizeof(h2)), etag);
	th_resp_free(&r);

	snprintf(h1, sizeof(h1), "If-None-Match: \"other\", W/%s", etag);
	cr_assert_eq(th_http(&srv, "GET", DIR_PATH, (const char *[]){ h1, NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 304, "weak comparison must match W/ tags");
	th_resp_free(&r);

	cr_assert_eq(th_http(&srv, "GET", DIR_PATH,
			     (const char *[]){ "If-None-Match: \"nope\"", NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);

	snprintf(h1, sizeof(h1), "If-Modified-Since: %s", lm);
	cr_assert_eq(th_http(&srv, "GET", DIR_PATH, (const char *[]){ h1, NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 304);
	th_resp_free(&r);

	cr_assert_eq(th_http(&srv, "GET", DIR_PATH,
			     (const char *[]){ "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT", NULL },
			     NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
}

Test(server, token_request_is_signed_and_finalizes)
{
	struct th_client c;
	struct th_resp r;
	char ct[128];
	int i;

	th_client_init(&c, &srv);
	for (i = 0; i < 5; i++) {
		th_client_request(&c);
		cr_assert_eq(th_http(&srv, "POST", "/token-request",
				     (const char *[]){ i % 2 ? CT_REQ : "Content-Type: Application/Private-Token-Request; charset=x", NULL },
				     c.request, sizeof(c.request), &r), 0);
		cr_assert_eq(r.status, 200, "status %ld: %.*s", r.status, (int)r.len, r.body);
		cr_assert_str_eq(th_header(&r, "Content-Type", ct, sizeof(ct)),
				 "application/private-token-response");
		cr_assert_eq(r.len, 256);
		cr_assert_eq(th_client_finalize(&c, r.body, r.len, NULL), 0,
			     "token does not verify under the published key");
		th_resp_free(&r);
	}
	th_client_free(&c);
}

Test(server, token_request_errors_are_documented_4xx)
{
	struct th_client c;
	struct th_resp r;
	uint8_t req[300], big[5000];

	th_client_init(&c, &srv);
	th_client_request(&c);

	/* wrong and missing media type */
	cr_assert_eq(th_http(&srv, "POST", "/token-request",
			     (const char *[]){ "Content-Type: application/octet-stream", NULL },
			     c.request, 259, &r), 0);
	expect_error(&r, 415, "unsupported_media_type");
	th_resp_free(&r);
	cr_assert_eq(th_http(&srv, "POST", "/token-request",
			     (const char *[]){ "Content-Type:", NULL }, c.request, 259, &r), 0);
	expect_error(&r, 415, "unsupported_media_type");
	th_resp_free(&r);

	/* a token type this issuer does not serve */
	memcpy(req, c.request, 259);
	req[0] = 0x0a;
	req[1] = 0x0a;
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     req, 259, &r), 0);
	expect_error(&r, 422, "unsupported_token_type");
	th_resp_free(&r);

	/* truncated key id of no key */
	memcpy(req, c.request, 259);
	req[2] ^= 0x5a;
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     req, 259, &r), 0);
	expect_error(&r, 422, "unknown_token_key");
	th_resp_free(&r);

	/* wrong lengths */
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     c.request, 258, &r), 0);
	expect_error(&r, 422, "invalid_request_length");
	th_resp_free(&r);
	memcpy(req, c.request, 259);
	req[259] = 0;
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     req, 260, &r), 0);
	expect_error(&r, 422, "invalid_request_length");
	th_resp_free(&r);
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     "", 0, &r), 0);
	expect_error(&r, 422, "invalid_request_length");
	th_resp_free(&r);

	/* blinded message >= n */
	memcpy(req, c.request, 3);
	memset(req + 3, 0xff, 256);
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     req, 259, &r), 0);
	expect_error(&r, 422, "invalid_blinded_message");
	th_resp_free(&r);

	/* body over the cap */
	memset(big, 'a', sizeof(big));
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     big, sizeof(big), &r), 0);
	expect_error(&r, 413, "payload_too_large");
	th_resp_free(&r);

	/* methods and paths */
	cr_assert_eq(th_http(&srv, "GET", "/token-request", NULL, NULL, 0, &r), 0);
	expect_error(&r, 405, "method_not_allowed");
	{
		char allow[64];

		cr_assert_str_eq(th_header(&r, "Allow", allow, sizeof(allow)), "POST");
	}
	th_resp_free(&r);
	cr_assert_eq(th_http(&srv, "PUT", DIR_PATH, NULL, "x", 1, &r), 0);
	expect_error(&r, 405, "method_not_allowed");
	th_resp_free(&r);
	cr_assert_eq(th_http(&srv, "DELETE", "/token-request", NULL, NULL, 0, &r), 0);
	expect_error(&r, 405, "method_not_allowed");
	th_resp_free(&r);
	cr_assert_eq(th_http(&srv, "GET", "/nope", NULL, NULL, 0, &r), 0);
	expect_error(&r, 404, "not_found");
	th_resp_free(&r);
	cr_assert_eq(th_http(&srv, "GET", "/../../etc/passwd", NULL, NULL, 0, &r), 0);
	cr_assert(r.status == 404 || r.status == 400);
	th_resp_free(&r);

	/* still serving */
	th_client_request(&c);
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     c.request, 259, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	th_client_free(&c);
}

/* A chunked body with no Content-Length that grows past the cap. */
Test(server, chunked_body_over_cap_is_refused)
{
	char chunk[1100], resp[2048];
	int fd, i;
	ssize_t n;
	size_t got = 0;

	fd = th_connect(srv.port);
	dprintf(fd, "POST /token-request HTTP/1.1\r\nHost: x\r\n%s\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n", CT_REQ);
	memset(chunk, 'b', sizeof(chunk));
	for (i = 0; i < 8; i++) {
		dprintf(fd, "%zx\r\n", sizeof(chunk));
		if (write(fd, chunk, sizeof(chunk)) < 0 || write(fd, "\r\n", 2) < 0)
			break;
	}
	if (write(fd, "0\r\n\r\n", 5) < 0) {
		/* the server may already have answered and closed */
	}
	while (got < sizeof(resp) - 1 &&
	       (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	cr_assert(strstr(resp, "HTTP/1.1 413") != NULL, "got: %s", resp);
}

Test(server, health_ready_and_metrics)
{
	struct th_client c;
	struct th_resp r;
	char ct[128], needle[200];

	cr_assert_eq(th_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	cr_assert_eq(th_http(&srv, "GET", "/readyz", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);

	th_client_init(&c, &srv);
	th_client_request(&c);
	cr_assert_eq(th_http(&srv, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     c.request, 259, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);

	/* a request is counted when it completes, just after its response is
	 * sent: the next request may overtake that by a moment */
	{
		int tries;

		for (tries = 0; tries < 100; tries++) {
			cr_assert_eq(th_http(&srv, "GET", "/metrics", NULL, NULL, 0, &r), 0);
			if (strstr((const char *)r.body, "ppissuer_http_requests_total{"
				   "route=\"token_request\",status=\"200\"} 1"))
				break;
			th_resp_free(&r);
			usleep(10000);
		}
	}
	cr_assert_eq(r.status, 200);
	cr_assert(th_header(&r, "Content-Type", ct, sizeof(ct)));
	cr_assert(!strncmp(ct, "text/plain", 10));
	{
		char hex[65];
		int i;

		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", c.key_id[i]);
		snprintf(needle, sizeof(needle), "ppissuer_tokens_issued_total{key_id=\"%s\"} 1", hex);
		cr_assert(strstr((const char *)r.body, needle), "metrics lack %s", needle);
		snprintf(needle, sizeof(needle), "ppissuer_key_not_before_seconds{key_id=\"%s\"", hex);
		cr_assert(strstr((const char *)r.body, needle), "metrics lack %s", needle);
	}
	cr_assert(strstr((const char *)r.body,
			 "ppissuer_http_requests_total{route=\"token_request\",status=\"200\"} 1"));
	cr_assert(strstr((const char *)r.body, "ppissuer_sign_duration_seconds_count 1"));
	th_resp_free(&r);
	th_client_free(&c);

	/* the token request may complete while /metrics is in flight, which
	 * gathers its line; the main thread flushes it within 50 ms */
	cr_assert(th_log_wait(&srv, "\"route\":\"/token-request\",\"status\":200", 2000),
		  "request log line missing");
	cr_assert(!th_log_contains(&srv, "127.0.0.1\","), "client address logged by default");
}

/* A request line gathered while another request is in flight reaches the
 * log soon even when nothing else happens (no later request flushes it). */
Test(server, gathered_request_line_is_flushed_when_quiet)
{
	struct th_resp r;
	int fd, seen;

	fd = th_connect(srv.port);
	/* headers complete, body pending: this request stays in flight */
	dprintf(fd, "POST /token-request HTTP/1.1\r\nHost: x\r\n%s\r\n"
		    "Content-Length: 259\r\n\r\n", CT_REQ);
	th_sleep_ms(100);
	cr_assert_eq(th_http(&srv, "GET", "/readyz?quiet-flush", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	/* the reload tick (2 s) is not what flushes it: 500 ms is enough */
	seen = th_log_wait(&srv, "\"route\":\"/readyz\",\"status\":200", 500);
	close(fd);
	cr_assert(seen, "a gathered request line stayed unwritten while the server was quiet");
}

/* The server lets an in-flight request finish after SIGTERM. */
Test(server, sigterm_finishes_in_flight_request)
{
	struct th_client c;
	char resp[1024];
	size_t got = 0;
	ssize_t n;
	int fd, st;

	th_client_init(&c, &srv);
	th_client_request(&c);
	fd = th_connect(srv.port);
	dprintf(fd, "POST /token-request HTTP/1.1\r\nHost: x\r\n%s\r\n"
		    "Content-Length: 259\r\n\r\n", CT_REQ);
	cr_assert(write(fd, c.request, 100) == 100);
	usleep(200000);
	kill(srv.pid, SIGTERM);
	usleep(300000);
	cr_assert(write(fd, c.request + 100, 159) == 159);
	while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	cr_assert(!strncmp(resp, "HTTP/1.1 200", 12), "in-flight request got: %.40s", resp);
	cr_assert(waitpid(srv.pid, &st, 0) == srv.pid);
	srv.pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	th_client_free(&c);
}

/* Separate servers for configuration. */
TestSuite(server_config, .timeout = 60, .fini = tu_leak_check);

static long max_age_of(struct th_server *s)
{
	struct th_resp r;
	char cc[128];
	long v;

	cr_assert_eq(th_http(s, "GET", DIR_PATH, NULL, NULL, 0, &r), 0);
	cr_assert(th_header(&r, "Cache-Control", cc, sizeof(cc)));
	cr_assert(sscanf(cc, "public, max-age=%ld", &v) == 1);
	th_resp_free(&r);
	return v;
}

Test(server_config, flags_override_env_override_file)
{
	struct th_server s;
	char path[400], arg[420];
	FILE *f;

	th_dir_init(&s);
	snprintf(path, sizeof(path), "%s/config.json", s.dir);
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "{\"directory-max-age\": 66, \"public-url\": \"https://issuer.example/\"}\n");
	fclose(f);
	snprintf(arg, sizeof(arg), "%s", path);

	th_server_start(&s, (const char *[]){ "--config", arg, NULL }, NULL);
	cr_assert_eq(max_age_of(&s), 66);
	{
		struct th_resp r;
		json_t *j;

		cr_assert_eq(th_http(&s, "GET", DIR_PATH, NULL, NULL, 0, &r), 0);
		j = body_json(&r);
		cr_assert_str_eq(json_string_value(json_object_get(j, "issuer-request-uri")),
				 "https://issuer.example/token-request");
		json_decref(j);
		th_resp_free(&r);
	}
	cr_assert_eq(th_server_stop(&s), 0);

	th_server_start(&s, (const char *[]){ "--config", arg, NULL },
			(const char *[]){ "PPISSUER_DIRECTORY_MAX_AGE=77", NULL });
	cr_assert_eq(max_age_of(&s), 77);
	cr_assert_eq(th_server_stop(&s), 0);

	th_server_start(&s, (const char *[]){ "--config", arg, "--directory-max-age", "88", NULL },
			(const char *[]){ "PPISSUER_DIRECTORY_MAX_AGE=77", NULL });
	cr_assert_eq(max_age_of(&s), 88);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(server_config, bad_options_fail_with_a_message)
{
	char *out = NULL;

	cr_assert_eq(th_run((const char *[]){ "serve", "--no-such-flag", NULL }, &out), 2);
	cr_assert(strstr(out, "--no-such-flag"), "got: %s", out);
	free(out);
	cr_assert_eq(th_run((const char *[]){ "serve", "--threads", "lots", NULL }, &out), 2);
	cr_assert(strstr(out, "--threads"), "got: %s", out);
	free(out);
	cr_assert_eq(th_run((const char *[]){ "serve", "--listen", "nowhere", NULL }, &out), 2);
	free(out);
	cr_assert_eq(th_run((const char *[]){ "serve", "--help", NULL }, &out), 0);
	cr_assert(strstr(out, "--data-dir") && strstr(out, "PPISSUER_DATA_DIR"));
	free(out);
}
