/* Attesters and origins over real HTTP against the real server: bearer
 * secrets (none, wrong, malformed, revoked, wrong role, valid), open mode and
 * require-auth, changes on a running server, per-client and global limits
 * with Retry-After, per-client metrics and log lines, /metrics restriction. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "th.h"

#define CT_REQ "Content-Type: application/private-token-request"
#define CT_JSON "Content-Type: application/json"
#define DIR_PATH "/.well-known/private-token-issuer-directory"

TestSuite(auth, .timeout = 90, .fini = tu_leak_check);

/* POST /token-request with a fresh TokenRequest and an optional secret (or a
 * whole Authorization header when secret contains a space). */
static long token_request(const struct th_server *s, struct th_client *c,
			  const char *secret, struct th_resp *r)
{
	char authz[256];
	const char *hdrs[3] = { CT_REQ, NULL, NULL };

	if (secret) {
		snprintf(authz, sizeof(authz), "Authorization: %s%s",
			 strchr(secret, ' ') ? "" : "Bearer ", secret);
		hdrs[1] = authz;
	}
	th_client_request(c);
	cr_assert_eq(th_http(s, "POST", "/token-request", hdrs, c->request,
			     sizeof(c->request), r), 0);
	return r->status;
}

static void expect_error(const struct th_resp *r, long status, const char *code)
{
	json_error_t err;
	json_t *j;

	cr_assert_eq(r->status, status, "status %ld, want %ld (body %.*s)", r->status,
		     status, (int)r->len, r->body ? (const char *)r->body : "");
	j = json_loadb((const char *)r->body, r->len, 0, &err);
	cr_assert(j, "error body is not JSON");
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), code);
	json_decref(j);
}

static void expect_challenge(const struct th_resp *r)
{
	char v[128];

	cr_assert(th_header(r, "WWW-Authenticate", v, sizeof(v)), "401 without WWW-Authenticate");
	cr_assert_eq(strncmp(v, "Bearer", 6), 0, "WWW-Authenticate: %s", v);
}

/* A token request that must succeed, with a token that verifies. */
static void expect_token(const struct th_server *s, struct th_client *c,
			 const char *secret, uint8_t *token)
{
	struct th_resp r;

	cr_assert_eq(token_request(s, c, secret, &r), 200, "status %ld: %.*s", r.status,
		     (int)r.len, r.body ? (const char *)r.body : "");
	cr_assert_eq(th_client_finalize(c, r.body, r.len, token), 0);
	th_resp_free(&r);
}

static void start(struct th_server *s, const char *const *args)
{
	th_server_start(s, args, NULL);
}

static void finish(struct th_server *s, struct th_client *c)
{
	int st;

	if (c)
		th_client_free(c);
	st = th_server_stop(s);
	th_dir_cleanup(s);
	cr_assert_eq(st, 0, "server did not exit 0 (status %d)", st);
}

Test(auth, token_request_needs_a_valid_attester_secret)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char *att, *org, *mon, wrong[128];
	uint8_t token[TOK_TOKEN_LEN];

	th_dir_init(&s);
	att = th_clients_add(&s, "att1", "attester", NULL);
	org = th_clients_add(&s, "org1", "origin", NULL);
	mon = th_clients_add(&s, "mon1", "monitor", NULL);
	start(&s, NULL);
	th_client_init(&c, &s); /* the directory stays public */

	{
		static const char *const bad[] = {
			"Basic YXR0MTpzZWNyZXQ=", "Bearer", "Bearer ", "bearer nonsense",
			"Bearer ppissuer_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		};
		size_t i;

		cr_assert_eq(token_request(&s, &c, NULL, &r), 401);
		expect_error(&r, 401, "unauthorized");
		expect_challenge(&r);
		th_resp_free(&r);
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			token_request(&s, &c, bad[i], &r);
			expect_error(&r, 401, "unauthorized");
			expect_challenge(&r);
			th_resp_free(&r);
		}
	}
	/* The attester's secret with one character changed. */
	snprintf(wrong, sizeof(wrong), "%s", att);
	wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
	token_request(&s, &c, wrong, &r);
	expect_error(&r, 401, "unauthorized");
	th_resp_free(&r);
	/* Registered, but not attesters. */
	token_request(&s, &c, org, &r);
	expect_error(&r, 403, "forbidden");
	th_resp_free(&r);
	token_request(&s, &c, mon, &r);
	expect_error(&r, 403, "forbidden");
	th_resp_free(&r);
	expect_token(&s, &c, att, token);
	expect_token(&s, &c, att, token);

	/* Public routes stay public. */
	cr_assert_eq(th_http(&s, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	cr_assert_eq(th_http(&s, "GET", "/readyz", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	{
		char *m = th_metrics_wait(&s, "ppissuer_client_tokens_issued_total{client=\"att1\"} 2\n");

		cr_assert(strstr(m, "ppissuer_client_tokens_issued_total{client=\"att1\"} 2\n"), "%s", m);
		cr_assert(strstr(m, "ppissuer_auth_failures_total{reason=\"missing\"} 1\n"), "%s", m);
		cr_assert(strstr(m, "ppissuer_auth_failures_total{reason=\"invalid\"} 6\n"), "%s", m);
		cr_assert(strstr(m, "ppissuer_auth_failures_total{reason=\"role\"} 2\n"), "%s", m);
		free(m);
	}
	cr_assert(th_log_wait(&s, "\"status\":200,", 2000));
	cr_assert(th_log_wait(&s, "\"client\":\"att1\"", 2000), "the request log does not name the client");
	cr_assert(th_log_wait(&s, "\"client\":\"org1\"", 2000), "a 403 does not name the client");
	cr_assert(!th_log_contains(&s, att + 9), "a secret reached the log");
	free(att);
	free(org);
	free(mon);
	finish(&s, &c);
}

Test(auth, redeem_needs_an_origin_and_is_counted_per_origin)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char *att, *org, json[1024], b64[600], authz[160];
	uint8_t token[TOK_TOKEN_LEN];

	th_dir_init(&s);
	att = th_clients_add(&s, "att1", "attester", NULL);
	org = th_clients_add(&s, "org-1", "origin", NULL);
	start(&s, NULL);
	th_client_init(&c, &s);
	expect_token(&s, &c, att, token);
	cr_assert_eq(b64_encode(token, sizeof(token), b64, sizeof(b64), NULL), 0);
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", b64);

	cr_assert_eq(th_http(&s, "POST", "/redeem", (const char *[]){ CT_JSON, NULL },
			     json, strlen(json), &r), 0);
	expect_error(&r, 401, "unauthorized");
	expect_challenge(&r);
	th_resp_free(&r);
	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", att);
	cr_assert_eq(th_http(&s, "POST", "/redeem", (const char *[]){ CT_JSON, authz, NULL },
			     json, strlen(json), &r), 0);
	expect_error(&r, 403, "forbidden");
	th_resp_free(&r);
	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", org);
	cr_assert_eq(th_http(&s, "POST", "/redeem", (const char *[]){ CT_JSON, authz, NULL },
			     json, strlen(json), &r), 0);
	cr_assert_eq(r.status, 200, "%.*s", (int)r.len, r.body);
	th_resp_free(&r);
	cr_assert_eq(th_http(&s, "POST", "/redeem", (const char *[]){ CT_JSON, authz, NULL },
			     json, strlen(json), &r), 0);
	cr_assert_eq(r.status, 409, "a spent token was accepted again");
	th_resp_free(&r);
	{
		char *m = th_metrics_wait(&s, "ppissuer_client_redemptions_total{client=\"org-1\",result=\"spent\"} 1\n");

		cr_assert(strstr(m, "ppissuer_client_redemptions_total{client=\"org-1\",result=\"valid\"} 1\n"), "%s", m);
		cr_assert(strstr(m, "ppissuer_client_redemptions_total{client=\"org-1\",result=\"spent\"} 1\n"), "%s", m);
		cr_assert(!strstr(m, "ppissuer_client_redemptions_total{client=\"att1\""), "%s", m);
		free(m);
	}
	cr_assert(th_log_wait(&s, "\"route\":\"/redeem\",\"status\":200", 2000));
	cr_assert(th_log_wait(&s, "\"client\":\"org-1\"", 2000));
	free(att);
	free(org);
	finish(&s, &c);
}

Test(auth, revocation_takes_effect_on_a_running_server_within_seconds)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char *att, *other;
	uint8_t token[TOK_TOKEN_LEN];
	double t0;
	long status = 200;

	th_dir_init(&s);
	att = th_clients_add(&s, "att1", "attester", NULL);
	other = th_clients_add(&s, "att2", "attester", NULL);
	start(&s, (const char *[]){ "--reload-interval", "1", NULL });
	th_client_init(&c, &s);
	expect_token(&s, &c, att, token);
	cr_assert_eq(th_clients(&s, (const char *[]){ "revoke", "att1", NULL }), 0);
	t0 = th_now_s();
	while (th_now_s() - t0 < 5) {
		status = token_request(&s, &c, att, &r);
		if (status == 401)
			break;
		th_resp_free(&r);
		th_sleep_ms(100);
	}
	cr_assert_eq(status, 401, "a revoked secret still works after 5 s");
	expect_error(&r, 401, "credentials_revoked");
	expect_challenge(&r);
	th_resp_free(&r);
	/* Other clients are unaffected. */
	expect_token(&s, &c, other, token);
	cr_assert(th_log_contains(&s, "clients loaded (clients file changed): 2 registered"));
	free(att);
	free(other);
	finish(&s, &c);
}

Test(auth, sighup_applies_registry_changes_at_once)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char *first, *added;
	uint8_t token[TOK_TOKEN_LEN];
	double t0;
	long status = 0;

	th_dir_init(&s);
	first = th_clients_add(&s, "att1", "attester", NULL);
	start(&s, (const char *[]){ "--reload-interval", "3600", NULL });
	th_client_init(&c, &s);
	added = th_clients_add(&s, "att2", "attester", NULL);
	token_request(&s, &c, added, &r);
	expect_error(&r, 401, "unauthorized"); /* not yet known */
	th_resp_free(&r);
	kill(s.pid, SIGHUP);
	t0 = th_now_s();
	while (th_now_s() - t0 < 3) {
		status = token_request(&s, &c, added, &r);
		th_resp_free(&r);
		if (status == 200)
			break;
		th_sleep_ms(50);
	}
	cr_assert_eq(status, 200, "SIGHUP did not load the new client");
	expect_token(&s, &c, first, token);
	free(first);
	free(added);
	finish(&s, &c);
}

Test(auth, open_mode_serves_anyone_and_warns)
{
	struct th_server s;
	struct th_client c;
	uint8_t token[TOK_TOKEN_LEN];

	th_dir_init(&s);
	start(&s, NULL);
	th_client_init(&c, &s);
	expect_token(&s, &c, NULL, token);
	cr_assert(th_log_contains(&s, "OPEN MODE"), "no start-up warning in open mode");
	finish(&s, &c);
}

Test(auth, require_auth_refuses_to_start_open)
{
	struct th_server s;
	char *out = NULL;
	int rc;

	th_dir_init(&s);
	rc = th_run((const char *[]){ "serve", "--listen", "127.0.0.1:0", "--data-dir",
				      s.data_dir, "--require-auth", NULL }, &out);
	cr_assert_neq(rc, 0, "started open with --require-auth");
	cr_assert(strstr(out, "ppissuer clients add"), "message does not say what to do: %s", out);
	cr_assert(!strstr(out, "listening on"));
	free(out);
	/* The environment and the config file say the same. */
	{
		char cfgpath[400], cmd[600];

		snprintf(cfgpath, sizeof(cfgpath), "%s/cfg.json", s.dir);
		snprintf(cmd, sizeof(cmd), "printf '{\"require-auth\": true}' > %s", cfgpath);
		cr_assert_eq(th_sh(cmd, NULL), 0);
		rc = th_run((const char *[]){ "serve", "--listen", "127.0.0.1:0", "--data-dir",
					      s.data_dir, "--config", cfgpath, NULL }, &out);
		cr_assert_neq(rc, 0);
		cr_assert(strstr(out, "ppissuer clients add"), "%s", out);
		free(out);
	}
	/* With a client it starts, and nobody else gets in. */
	free(th_clients_add(&s, "att1", "attester", NULL));
	start(&s, (const char *[]){ "--require-auth", NULL });
	cr_assert(!th_log_contains(&s, "OPEN MODE"));
	finish(&s, NULL);
}

Test(auth, unsafe_registry_file_stops_the_server)
{
	struct th_server s;
	char path[400], *out = NULL;
	int rc;

	th_dir_init(&s);
	free(th_clients_add(&s, "att1", "attester", NULL));
	snprintf(path, sizeof(path), "%s/clients.json", s.data_dir);
	cr_assert_eq(chmod(path, 0644), 0);
	rc = th_run((const char *[]){ "serve", "--listen", "127.0.0.1:0", "--data-dir",
				      s.data_dir, NULL }, &out);
	cr_assert_neq(rc, 0, "served with a world-readable registry");
	cr_assert(strstr(out, "chmod 600"), "%s", out);
	free(out);
	th_dir_cleanup(&s);
}

Test(auth, rate_limit_answers_429_with_retry_after)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char *att, *free_att, ra[32];
	uint8_t token[TOK_TOKEN_LEN];

	th_dir_init(&s);
	/* One request per 2 s, a burst of 2. */
	att = th_clients_add(&s, "slow", "attester",
			     (const char *[]){ "--rate", "30/m", "--burst", "2", NULL });
	free_att = th_clients_add(&s, "free", "attester", NULL);
	start(&s, NULL);
	th_client_init(&c, &s);
	expect_token(&s, &c, att, token);
	expect_token(&s, &c, att, token);
	token_request(&s, &c, att, &r);
	expect_error(&r, 429, "rate_limited");
	cr_assert(th_header(&r, "Retry-After", ra, sizeof(ra)), "429 without Retry-After");
	cr_assert_str_eq(ra, "2");
	th_resp_free(&r);
	/* Other clients have their own buckets. */
	expect_token(&s, &c, free_att, token);
	expect_token(&s, &c, free_att, token);
	expect_token(&s, &c, free_att, token);
	th_sleep_ms(2100);
	expect_token(&s, &c, att, token);
	{
		char *m = th_metrics_wait(&s, "ppissuer_client_tokens_issued_total{client=\"slow\"} 3\n");

		cr_assert(strstr(m, "ppissuer_client_limited_total{client=\"slow\",limit=\"rate\"} 1\n"), "%s", m);
		cr_assert(strstr(m, "ppissuer_client_tokens_issued_total{client=\"slow\"} 3\n"), "%s", m);
		free(m);
	}
	free(att);
	free(free_att);
	finish(&s, &c);
}

Test(auth, quota_answers_429_until_utc_midnight)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char *att, ra[32];
	uint8_t token[TOK_TOKEN_LEN];
	long want, got;

	th_dir_init(&s);
	att = th_clients_add(&s, "q", "attester", (const char *[]){ "--quota", "2/day", NULL });
	start(&s, NULL);
	th_client_init(&c, &s);
	expect_token(&s, &c, att, token);
	expect_token(&s, &c, att, token);
	token_request(&s, &c, att, &r);
	want = 86400 - (long)(time(NULL) % 86400);
	expect_error(&r, 429, "quota_exceeded");
	cr_assert(th_header(&r, "Retry-After", ra, sizeof(ra)));
	got = strtol(ra, NULL, 10);
	cr_assert(got >= want - 2 && got <= want + 2, "Retry-After %ld, want ~%ld", got, want);
	th_resp_free(&r);
	/* Raising the quota on the running server lets it through again. */
	cr_assert_eq(th_clients(&s, (const char *[]){ "set", "q", "--quota", "3", NULL }), 0);
	kill(s.pid, SIGHUP);
	{
		double t0 = th_now_s();
		long status = 0;

		while (th_now_s() - t0 < 3 && status != 200) {
			status = token_request(&s, &c, att, &r);
			th_resp_free(&r);
			if (status != 200)
				th_sleep_ms(50);
		}
		cr_assert_eq(status, 200);
	}
	token_request(&s, &c, att, &r);
	expect_error(&r, 429, "quota_exceeded");
	th_resp_free(&r);
	free(att);
	finish(&s, &c);
}

Test(auth, global_limit_covers_every_client)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char *a, *b, ra[32];
	uint8_t token[TOK_TOKEN_LEN];

	th_dir_init(&s);
	a = th_clients_add(&s, "a", "attester", NULL);
	b = th_clients_add(&s, "b", "attester", NULL);
	start(&s, (const char *[]){ "--global-rate", "1", "--global-burst", "2", NULL });
	th_client_init(&c, &s);
	expect_token(&s, &c, a, token);
	expect_token(&s, &c, b, token);
	token_request(&s, &c, a, &r);
	expect_error(&r, 429, "rate_limited");
	cr_assert(th_header(&r, "Retry-After", ra, sizeof(ra)));
	cr_assert_str_eq(ra, "1");
	th_resp_free(&r);
	th_sleep_ms(1100);
	expect_token(&s, &c, b, token);
	{
		char *m = th_metrics_text(&s, NULL);

		cr_assert(strstr(m, "ppissuer_client_limited_total{client=\"a\",limit=\"global\"} 1\n"), "%s", m);
		free(m);
	}
	free(a);
	free(b);
	finish(&s, &c);
}

Test(auth, metrics_auth_restricts_only_metrics)
{
	struct th_server s;
	struct th_resp r;
	char *mon, *att, *text;

	th_dir_init(&s);
	mon = th_clients_add(&s, "prometheus", "monitor", NULL);
	att = th_clients_add(&s, "att1", "attester", NULL);
	start(&s, (const char *[]){ "--metrics-auth", NULL });
	cr_assert_eq(th_http(&s, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	expect_error(&r, 401, "unauthorized");
	expect_challenge(&r);
	th_resp_free(&r);
	text = th_metrics_text(&s, mon);
	cr_assert(strstr(text, "ppissuer_http_requests_total"));
	free(text);
	text = th_metrics_text(&s, att); /* any registered client may read it */
	free(text);
	cr_assert_eq(th_http(&s, "GET", DIR_PATH, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	cr_assert_eq(th_http(&s, "GET", "/healthz", NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	free(mon);
	free(att);
	finish(&s, NULL);
}

Test(auth, clients_cli_lists_changes_and_revokes_without_showing_secrets)
{
	struct th_server s;
	char *secret, *out = NULL, hash_field[] = "secret_blake2b";
	json_t *arr, *c;
	json_error_t jerr;
	size_t i;

	th_dir_init(&s);
	cr_assert_eq(th_run((const char *[]){ "clients", "list", "--data-dir", s.data_dir, NULL },
			    &out), 0);
	cr_assert(strstr(out, "no clients registered"), "%s", out);
	free(out);
	secret = th_clients_add(&s, "att1", "attester",
				(const char *[]){ "--rate", "600/m", "--quota", "5000/day", NULL });
	free(th_clients_add(&s, "org1", "origin", NULL));
	/* Bad input is a usage error (2) and changes nothing. */
	{
		static const char *const bad[][8] = {
			{ "add", "att1", "--role", "attester", NULL },          /* exists: 1 */
			{ "add", "new", "--role", "admin", NULL },
			{ "add", "bad name", "--role", "origin", NULL },
			{ "add", "new", "--role", "origin", "--rate", "fast", NULL },
			{ "set", "att1", "--cert-spki-sha256", "abc", NULL },
			{ "set", "att1", "--burst", "-1", NULL },
			{ "set", "nobody", "--rate", "1", NULL },                /* 1 */
			{ "frobnicate", NULL },
		};
		static const int want[] = { 1, 2, 2, 2, 2, 2, 1, 2 };

		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			const char *argv[12];
			size_t n = 0, k;

			argv[n++] = "clients";
			for (k = 0; bad[i][k]; k++)
				argv[n++] = bad[i][k];
			argv[n++] = "--data-dir";
			argv[n++] = s.data_dir;
			argv[n] = NULL;
			cr_assert_eq(th_run(argv, NULL), want[i], "case %zu", i);
		}
	}
	cr_assert_eq(th_clients(&s, (const char *[]){ "set", "att1", "--burst", "20",
						      "--cert-subject", "CN=att1", NULL }), 0);
	cr_assert_eq(th_clients(&s, (const char *[]){ "revoke", "org1", NULL }), 0);
	cr_assert_eq(th_run((const char *[]){ "clients", "list", "--json", "--data-dir",
					      s.data_dir, NULL }, &out), 0);
	arr = json_loads(out, 0, &jerr);
	cr_assert(json_is_array(arr), "%s", out);
	cr_assert_eq(json_array_size(arr), 2);
	json_array_foreach(arr, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));

		cr_assert_null(json_object_get(c, hash_field));
		if (!strcmp(name, "att1")) {
			cr_assert_str_eq(json_string_value(json_object_get(c, "role")), "attester");
			cr_assert_str_eq(json_string_value(json_object_get(c, "state")), "active");
			cr_assert_float_eq(json_real_value(json_object_get(c, "rate")), 10.0, 1e-9);
			cr_assert_eq(json_integer_value(json_object_get(c, "burst")), 20);
			cr_assert_eq(json_integer_value(json_object_get(c, "quota")), 5000);
			cr_assert_str_eq(json_string_value(json_object_get(c, "cert_subject")), "CN=att1");
		} else {
			cr_assert_str_eq(name, "org1");
			cr_assert_str_eq(json_string_value(json_object_get(c, "state")), "revoked");
		}
	}
	json_decref(arr);
	cr_assert_null(strstr(out, secret + 9));
	free(out);
	/* A new secret replaces the old one. */
	{
		char *again = NULL, *p;

		cr_assert_eq(th_run((const char *[]){ "clients", "set", "att1", "--new-secret",
						      "--data-dir", s.data_dir, NULL }, &again), 0);
		p = strstr(again, "ppissuer_");
		cr_assert(p, "%s", again);
		cr_assert_neq(strncmp(p, secret, strlen(secret)), 0);
		free(again);
	}
	free(secret);
	th_dir_cleanup(&s);
}
