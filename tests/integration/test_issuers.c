/* Several issuers in one server (the issuers section): each host name gets
 * its own directory, keys, clients and spent records, and nothing one
 * issuer's client sends reaches another issuer; rotation of one issuer
 * leaves the others' directories alone; a reload adds and removes issuers
 * while the others keep serving. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "../unit/tu_redis.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "th.h"

TestSuite(issuers, .fini = tu_leak_check, .timeout = 120);

#define CT_REQ "Content-Type: application/private-token-request"
#define CT_JSON "Content-Type: application/json"
#define DIR_PATH "/.well-known/private-token-issuer-directory"

static void write_config(const struct th_server *s, const char *json)
{
	char path[400], tmp[420];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config.json", s->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	cr_assert(f);
	fputs(json, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, path), 0);
}

static void start(struct th_server *s, const char *const *extra)
{
	char cfg[400];
	const char *args[16] = { "--config", cfg, "--reload-interval", "1" };
	size_t n = 4, i;

	snprintf(cfg, sizeof(cfg), "%s/config.json", s->dir);
	for (i = 0; extra && extra[i] && n < 15; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	th_server_start(s, args, NULL);
}

static void host_hdr(char *buf, size_t cap, const char *host)
{
	snprintf(buf, cap, "Host: %s", host);
}

/* GET the directory of host: status, and its body and ETag when 200. */
static long dir_get(const struct th_server *s, const char *host, char **body,
		    char etag[64])
{
	char h[300];
	struct th_resp r;
	long st;

	host_hdr(h, sizeof(h), host);
	cr_assert_eq(th_http(s, "GET", DIR_PATH, (const char *[]){ h, NULL }, NULL, 0,
			     &r), 0);
	st = r.status;
	if (body)
		*body = strndup((const char *)r.body, r.len);
	if (etag && !th_header(&r, "ETag", etag, 64))
		etag[0] = '\0';
	th_resp_free(&r);
	return st;
}

/* A client of host's issuer: its first published key. */
static void client_of(struct th_client *c, const struct th_server *s,
		      const char *host)
{
	json_t *root, *key;
	uint8_t spki[1100];
	size_t len;
	char *body;
	const char *b64;

	cr_assert_eq(dir_get(s, host, &body, NULL), 200);
	root = json_loads(body, 0, NULL);
	cr_assert(root);
	key = json_array_get(json_object_get(root, "token-keys"), 0);
	b64 = json_string_value(json_object_get(key, "token-key"));
	cr_assert(b64);
	cr_assert_eq(b64_decode(b64, strlen(b64), spki, sizeof(spki), &len), 0);
	th_client_from_spki(c, spki, len);
	json_decref(root);
	free(body);
}

/* POST /token-request of c's fresh request to host (with a bearer secret
 * unless NULL); the status, and the token in b64 when 200 and it verifies. */
static long issue_at(const struct th_server *s, const char *host,
		     struct th_client *c, const char *secret, char *b64,
		     size_t cap)
{
	char h[300], auth[300];
	const char *hdrs[4] = { CT_REQ, h, NULL, NULL };
	uint8_t token[TOK_TOKEN_LEN];
	struct th_resp r;
	long st;

	host_hdr(h, sizeof(h), host);
	if (secret) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
		hdrs[2] = auth;
	}
	th_client_request(c);
	cr_assert_eq(th_http(s, "POST", "/token-request", hdrs, c->request,
			     sizeof(c->request), &r), 0);
	st = r.status;
	if (st == 200 && b64) {
		cr_assert_eq(th_client_finalize(c, r.body, r.len, token), 0,
			     "a 200 from %s that does not verify", host);
		cr_assert_eq(b64_encode(token, sizeof(token), b64, cap, NULL), 0);
	}
	th_resp_free(&r);
	return st;
}

/* POST /redeem of a token at host; the status and the answer's text. */
static long redeem_at(const struct th_server *s, const char *host,
		      const char *secret, const char *b64, char *text, size_t cap)
{
	char h[300], auth[300], json[1024];
	const char *hdrs[4] = { CT_JSON, h, NULL, NULL };
	struct th_resp r;
	long st;

	host_hdr(h, sizeof(h), host);
	if (secret) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
		hdrs[2] = auth;
	}
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", b64);
	cr_assert_eq(th_http(s, "POST", "/redeem", hdrs, json, strlen(json), &r), 0);
	st = r.status;
	if (text)
		snprintf(text, cap, "%.*s", (int)r.len, (const char *)r.body);
	th_resp_free(&r);
	return st;
}

static const char two_issuers[] =
	"{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.test\"]},"
	"{\"name\":\"b\",\"hosts\":[\"b.test\",\"www.b.test\"]}]}";

/* A truncated key id is one byte: when a's and b's first keys share it, a
 * request made for a's key is one b can sign (with its own key: the token
 * does not verify, but the answer is 200). Start again with a new b key
 * until they differ, so the refusals below are the isolation's. */
static void start_distinct(struct th_server *s, const char *const *extra,
			   struct th_client *ca, struct th_client *cb)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		start(s, extra);
		client_of(ca, s, "a.test");
		client_of(cb, s, "b.test");
		if (ca->key_id[31] != cb->key_id[31])
			return;
		th_client_free(ca);
		th_client_free(cb);
		cr_assert_eq(th_server_stop(s), 0);
		th_sh_ok("rm -rf %s/issuers/b/keys", s->data_dir);
	}
	cr_assert_fail("a and b kept sharing a truncated key id");
}

Test(issuers, each_host_gets_its_own_issuer_and_unknown_hosts_get_421)
{
	struct th_server s;
	char *da, *db, ea[64], eb[64], ea2[64];
	struct th_resp r;
	struct stat st;
	int fd;
	char buf[512];
	ssize_t n;

	th_dir_init(&s);
	write_config(&s, two_issuers);
	start(&s, NULL);
	cr_assert_eq(dir_get(&s, "a.test", &da, ea), 200);
	cr_assert_eq(dir_get(&s, "b.test", &db, eb), 200);
	cr_assert_str_neq(da, db, "two issuers, one directory");
	cr_assert_str_neq(ea, eb);
	/* port ignored, case-insensitive, a trailing dot, a second name */
	free(db);
	cr_assert_eq(dir_get(&s, "A.TEST.:8443", &db, ea2), 200);
	cr_assert_str_eq(da, db);
	cr_assert_str_eq(ea, ea2);
	free(db);
	cr_assert_eq(dir_get(&s, "www.b.test", NULL, ea2), 200);
	cr_assert_str_eq(eb, ea2);
	/* nothing on disk is shared, and nothing is where one issuer keeps it */
	th_sh_ok("test -d %s/issuers/a/keys && test -d %s/issuers/b/keys && "
		 "test -d %s/issuers/a/spent && test -d %s/issuers/b/spent && "
		 "test ! -e %s/keys && test ! -e %s/spent", s.data_dir, s.data_dir,
		 s.data_dir, s.data_dir, s.data_dir, s.data_dir);
	cr_assert_eq(stat(s.data_dir, &st), 0);

	/* a host no issuer serves: 421, on every issuer route */
	cr_assert_eq(th_http(&s, "GET", DIR_PATH, (const char *[]){ "Host: c.test", NULL },
			     NULL, 0, &r), 0);
	cr_assert_eq(r.status, 421);
	cr_assert(strstr((const char *)r.body, "\"misdirected_request\""));
	th_resp_free(&r);
	cr_assert_eq(th_http(&s, "POST", "/token-request",
			     (const char *[]){ "Host: 127.0.0.1", CT_REQ, NULL }, "x", 1, &r), 0);
	cr_assert_eq(r.status, 421);
	th_resp_free(&r);
	cr_assert_eq(th_http(&s, "POST", "/redeem",
			     (const char *[]){ "Host: c.test", CT_JSON, NULL }, "{}", 2, &r), 0);
	cr_assert_eq(r.status, 421);
	th_resp_free(&r);
	/* a Host that is not a host name */
	cr_assert_eq(th_http(&s, "GET", DIR_PATH,
			     (const char *[]){ "Host: a.test/../b.test", NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 400);
	th_resp_free(&r);
	/* HTTP/1.0 without a Host */
	fd = th_connect(s.port);
	snprintf(buf, sizeof(buf), "GET %s HTTP/1.0\r\n\r\n", DIR_PATH);
	cr_assert(send(fd, buf, strlen(buf), 0) > 0);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	cr_assert(n > 12);
	buf[n] = '\0';
	cr_assert(strstr(buf, " 400 ") && strstr(buf, "missing_host"), "%s", buf);
	close(fd);
	/* the operator's routes answer on any host */
	cr_assert_eq(th_get(&s, "/healthz", &db), 200);
	free(db);
	cr_assert_eq(th_get(&s, "/readyz", &db), 200);
	free(db);
	cr_assert_eq(th_get(&s, "/metrics", &db), 200);
	cr_assert(strstr(db, "ppissuer_issuer_keys_published{issuer=\"a\"} 1"), "%s", db);
	cr_assert(strstr(db, "ppissuer_issuer_keys_published{issuer=\"b\"} 1"));
	cr_assert(strstr(db, "ppissuer_issuer_http_requests_total{issuer=\"a\",route=\"directory\",status=\"200\"} 2"));
	free(db);
	free(da);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* Keys, tokens and spent records: a's never count at b, in either way. */
Test(issuers, keys_tokens_and_spent_records_stay_with_their_issuer)
{
	struct th_server s;
	struct th_client ca, cb;
	char ta[600], tb[600], ta2[600], text[512];

	th_dir_init(&s);
	write_config(&s, two_issuers);
	start_distinct(&s, NULL, &ca, &cb);
	/* a request for a's key at b: b has no such key */
	cr_assert_eq(issue_at(&s, "b.test", &ca, NULL, NULL, 0), 422);
	cr_assert_eq(issue_at(&s, "a.test", &cb, NULL, NULL, 0), 422);
	cr_assert_eq(issue_at(&s, "a.test", &ca, NULL, ta, sizeof(ta)), 200);
	cr_assert_eq(issue_at(&s, "a.test", &ca, NULL, ta2, sizeof(ta2)), 200);
	cr_assert_eq(issue_at(&s, "b.test", &cb, NULL, tb, sizeof(tb)), 200);
	/* a's token at b: unknown key, and nothing is spent */
	cr_assert_eq(redeem_at(&s, "b.test", NULL, ta, text, sizeof(text)), 403);
	cr_assert(strstr(text, "unknown_key"), "%s", text);
	cr_assert_eq(redeem_at(&s, "a.test", NULL, ta, NULL, 0), 200);
	cr_assert_eq(redeem_at(&s, "a.test", NULL, ta, NULL, 0), 409);
	/* a's spent record never answers at b: still unknown there, never 409 */
	cr_assert_eq(redeem_at(&s, "b.test", NULL, ta, text, sizeof(text)), 403);
	cr_assert(strstr(text, "unknown_key"), "%s", text);
	cr_assert_eq(redeem_at(&s, "a.test", NULL, tb, NULL, 0), 403);
	cr_assert_eq(redeem_at(&s, "b.test", NULL, tb, NULL, 0), 200);
	cr_assert_eq(redeem_at(&s, "b.test", NULL, tb, NULL, 0), 409);
	cr_assert_eq(redeem_at(&s, "b.test", NULL, ta2, NULL, 0), 403);
	cr_assert_eq(redeem_at(&s, "a.test", NULL, ta2, NULL, 0), 200);
	th_client_free(&ca);
	th_client_free(&cb);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

static char *clients_add(const struct th_server *s, const char *issuer,
			 const char *name, const char *role)
{
	const char *extra[] = { "--issuer", issuer, NULL };

	return th_clients_add(s, name, role, extra);
}

/* Attesters and origins are an issuer's own: the same client name at two
 * issuers is two clients, and a secret of one is nothing at the other. */
Test(issuers, clients_of_one_issuer_are_strangers_to_another)
{
	struct th_server s;
	struct th_client ca, cb;
	char *att_a, *att_b, *org_a, *org_b, ta[600], tb[600];
	const char *req[] = { "--require-auth", NULL };
	const char *args[] = { "clients", "list", "--issuer", "nosuch", "--data-dir",
			       NULL, NULL };
	char *out = NULL;

	th_dir_init(&s);
	write_config(&s, two_issuers);
	/* the CLI refuses an issuer that has no directory (a typo) */
	args[5] = s.data_dir;
	cr_assert_neq(th_run(args, &out), 0);
	cr_assert(strstr(out, "no issuer 'nosuch'"), "%s", out);
	free(out);
	th_sh_ok("mkdir -m 700 -p %s/issuers/a %s/issuers/b", s.data_dir, s.data_dir);
	att_a = clients_add(&s, "a", "att", "attester");
	att_b = clients_add(&s, "b", "att", "attester");
	org_a = clients_add(&s, "a", "org", "origin");
	org_b = clients_add(&s, "b", "org", "origin");
	start_distinct(&s, req, &ca, &cb);

	cr_assert_eq(issue_at(&s, "a.test", &ca, att_b, NULL, 0), 401);
	cr_assert_eq(issue_at(&s, "b.test", &cb, att_a, NULL, 0), 401);
	cr_assert_eq(issue_at(&s, "a.test", &ca, NULL, NULL, 0), 401);
	/* an origin's secret is no attester's, at its own issuer or another */
	cr_assert_eq(issue_at(&s, "a.test", &ca, org_a, NULL, 0), 403);
	cr_assert_eq(issue_at(&s, "b.test", &cb, org_a, NULL, 0), 401);
	cr_assert_eq(issue_at(&s, "a.test", &ca, att_a, ta, sizeof(ta)), 200);
	cr_assert_eq(issue_at(&s, "b.test", &cb, att_b, tb, sizeof(tb)), 200);
	cr_assert_eq(redeem_at(&s, "a.test", org_b, ta, NULL, 0), 401);
	cr_assert_eq(redeem_at(&s, "b.test", org_a, tb, NULL, 0), 401);
	cr_assert_eq(redeem_at(&s, "a.test", att_a, ta, NULL, 0), 403);
	cr_assert_eq(redeem_at(&s, "a.test", org_a, ta, NULL, 0), 200);
	cr_assert_eq(redeem_at(&s, "b.test", org_b, tb, NULL, 0), 200);
	/* the registries are files of their own */
	th_sh_ok("test -f %s/issuers/a/clients.json && test -f %s/issuers/b/clients.json "
		 "&& test ! -e %s/clients.json", s.data_dir, s.data_dir, s.data_dir);
	free(att_a);
	free(att_b);
	free(org_a);
	free(org_b);
	th_client_free(&ca);
	th_client_free(&cb);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(issuers, rotating_one_issuer_leaves_the_others_directory_alone)
{
	struct th_server s;
	char *a1, *a2, *b1, *b2, ea1[64], ea2[64], eb1[64], eb2[64];
	const char *rot[] = { "rotate", "--issuer", "a", "--lead", "1h", NULL };
	double t0;

	th_dir_init(&s);
	write_config(&s, two_issuers);
	start(&s, NULL);
	cr_assert_eq(dir_get(&s, "a.test", &a1, ea1), 200);
	cr_assert_eq(dir_get(&s, "b.test", &b1, eb1), 200);
	th_keys_cmd(&s, rot);
	/* the server notices the change within its reload interval */
	t0 = th_now_s();
	do {
		th_sleep_ms(200);
		cr_assert_eq(dir_get(&s, "a.test", &a2, ea2), 200);
		if (strcmp(ea1, ea2))
			break;
		free(a2);
		a2 = NULL;
	} while (th_now_s() - t0 < 15);
	cr_assert(a2, "a's directory did not change after its rotation");
	cr_assert_str_neq(a1, a2);
	cr_assert_eq(dir_get(&s, "b.test", &b2, eb2), 200);
	cr_assert_str_eq(eb1, eb2, "b's ETag moved with a's rotation");
	cr_assert_str_eq(b1, b2);
	free(a1);
	free(a2);
	free(b1);
	free(b2);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* Requests to b while a reload removes a and adds c. */
struct load {
	const struct th_server *s;
	atomic_int stop;
	atomic_long ok, failed;
};

struct loader {
	struct load *l;
	struct th_client c;    /* one per thread: a request is its state */
};

static void *load_b(void *p)
{
	struct loader *ld = p;
	struct load *l = ld->l;
	char h[] = "Host: b.test";

	while (!atomic_load(&l->stop)) {
		struct th_resp r;
		uint8_t token[TOK_TOKEN_LEN];
		int good;

		th_client_request(&ld->c);
		good = 0;
		if (th_http(l->s, "POST", "/token-request",
			    (const char *[]){ CT_REQ, h, NULL }, ld->c.request,
			    sizeof(ld->c.request), &r) == 0) {
			good = r.status == 200 &&
			       th_client_finalize(&ld->c, r.body, r.len, token) == 0;
			th_resp_free(&r);
		}
		if (th_http(l->s, "GET", DIR_PATH, (const char *[]){ h, NULL }, NULL, 0,
			    &r) == 0) {
			good = good && r.status == 200;
			th_resp_free(&r);
		} else {
			good = 0;
		}
		atomic_fetch_add(good ? &l->ok : &l->failed, 1);
	}
	return NULL;
}

Test(issuers, reload_adds_and_removes_issuers_without_failing_the_others)
{
	struct th_server s;
	struct load l;
	struct loader ld[2];
	pthread_t t[2];
	char eb1[64], eb2[64];
	long before;
	size_t i;

	th_dir_init(&s);
	write_config(&s, two_issuers);
	start(&s, NULL);
	memset(&l, 0, sizeof(l));
	l.s = &s;
	cr_assert_eq(dir_get(&s, "b.test", NULL, eb1), 200);
	for (i = 0; i < 2; i++) {
		ld[i].l = &l;
		client_of(&ld[i].c, &s, "b.test");
		cr_assert_eq(pthread_create(&t[i], NULL, load_b, &ld[i]), 0);
	}
	th_sleep_ms(500);
	write_config(&s, "{\"issuers\":[{\"name\":\"b\",\"hosts\":[\"b.test\",\"www.b.test\"]},"
			 "{\"name\":\"c\",\"hosts\":[\"c.test\"],\"token-types\":\"2,5\"}]}");
	cr_assert_eq(kill(s.pid, SIGHUP), 0);
	cr_assert(th_log_wait(&s, "issuers reloaded (SIGHUP): 2 serving, 1 added, "
			      "0 changed, 1 removed", 30000));
	cr_assert(th_log_wait(&s, "issuer 'a': removed and closed", 10000));
	before = atomic_load(&l.ok);
	th_sleep_ms(500);
	cr_assert_eq(dir_get(&s, "c.test", NULL, NULL), 200);
	cr_assert_eq(dir_get(&s, "a.test", NULL, NULL), 421);
	/* b again, now with a change of its own: reopened on its own stores */
	write_config(&s, "{\"issuers\":[{\"name\":\"b\",\"hosts\":[\"b.test\",\"www.b.test\"],"
			 "\"max-published-keys\":4},"
			 "{\"name\":\"c\",\"hosts\":[\"c.test\"],\"token-types\":\"2,5\"}]}");
	cr_assert_eq(kill(s.pid, SIGHUP), 0);
	cr_assert(th_log_wait(&s, "0 added, 1 changed, 0 removed", 30000));
	cr_assert(th_log_wait(&s, "issuer 'b': previous settings released", 10000));
	th_sleep_ms(500);
	atomic_store(&l.stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&l.failed), 0, "%ld of b's requests failed",
		     atomic_load(&l.failed));
	cr_assert(atomic_load(&l.ok) > before, "b stopped serving after the reload");
	cr_assert_eq(dir_get(&s, "b.test", NULL, eb2), 200);
	cr_assert_str_eq(eb1, eb2, "b's directory changed with the reload");
	/* a bad section changes nothing */
	write_config(&s, "{\"issuers\":[{\"name\":\"b\",\"hosts\":[\"c.test\"]},"
			 "{\"name\":\"c\",\"hosts\":[\"c.test\"]}]}");
	cr_assert_eq(kill(s.pid, SIGHUP), 0);
	cr_assert(th_log_wait(&s, "issuers reload (SIGHUP) failed, still serving", 10000));
	cr_assert_eq(dir_get(&s, "b.test", NULL, NULL), 200);
	cr_assert_eq(dir_get(&s, "c.test", NULL, NULL), 200);
	th_client_free(&ld[0].c);
	th_client_free(&ld[1].c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(issuers, list_shows_hosts_types_and_published_keys_and_warns_past_the_max)
{
	struct th_server s;
	char cfg[400], *out = NULL, *m;
	const char *args[] = { "issuers", "list", "--config", cfg, "--data-dir", NULL,
			       NULL };

	th_dir_init(&s);
	write_config(&s, "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.test\"]},"
			 "{\"name\":\"b\",\"hosts\":[\"b.test\",\"[::1]\"],"
			 "\"token-types\":\"2,5\",\"max-published-keys\":1}]}");
	snprintf(cfg, sizeof(cfg), "%s/config.json", s.dir);
	args[5] = s.data_dir;
	start(&s, NULL);
	cr_assert(th_log_wait(&s, "issuer 'b': the directory publishes 2 keys, more "
			      "than max-published-keys 1", 5000));
	m = th_metrics_text(&s, NULL);
	cr_assert(strstr(m, "ppissuer_issuer_keys_over_max{issuer=\"b\"} 1"), "%s", m);
	cr_assert(strstr(m, "ppissuer_issuer_keys_over_max{issuer=\"a\"} 0"));
	cr_assert(strstr(m, "ppissuer_issuer_max_published_keys{issuer=\"b\"} 1"));
	free(m);
	cr_assert_eq(th_run(args, &out), 0, "%s", out);
	cr_assert(strstr(out, "NAME") && strstr(out, "KEYS PUBLISHED"), "%s", out);
	cr_assert(strstr(out, "a                    a.test"), "%s", out);
	cr_assert(strstr(out, "b.test,[::1]"), "%s", out);
	cr_assert(strstr(out, "2,5            2  (over max-published-keys)"), "%s", out);
	free(out);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* With metrics-auth, a client of one issuer reads that issuer's series
 * only: nothing of the other issuer, not even its name. */
Test(issuers, metrics_of_one_issuer_are_not_shown_to_another_issuers_client)
{
	struct th_server s;
	const char *req[] = { "--metrics-auth", NULL };
	char *att_a, *att_b, *m, auth[300];
	struct th_resp r;

	th_dir_init(&s);
	write_config(&s, two_issuers);
	th_sh_ok("mkdir -m 700 -p %s/issuers/a %s/issuers/b", s.data_dir, s.data_dir);
	att_a = clients_add(&s, "a", "att", "attester");
	att_b = clients_add(&s, "b", "att", "attester");
	start(&s, req);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", att_a);
	cr_assert_eq(th_http(&s, "GET", "/metrics", (const char *[]){ "Host: b.test", auth,
			     NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 401);
	th_resp_free(&r);
	cr_assert_eq(th_http(&s, "GET", "/metrics", (const char *[]){ "Host: 127.0.0.1",
			     auth, NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 421);
	th_resp_free(&r);
	cr_assert_eq(th_http(&s, "GET", "/metrics", (const char *[]){ "Host: a.test", auth,
			     NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	m = strndup((const char *)r.body, r.len);
	cr_assert(strstr(m, "issuer=\"a\""), "%s", m);
	cr_assert_null(strstr(m, "issuer=\"b\""), "%s", m);
	free(m);
	th_resp_free(&r);
	free(att_a);
	free(att_b);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* Two issuers on one Redis: each writes its records and tombstones under
 * <redis-prefix><name>:, so no record of one can answer for the other. */
Test(issuers, records_in_one_redis_carry_their_issuers_prefix)
{
	struct tu_redis rd;
	struct th_server s;
	struct th_client ca, cb;
	char port_env[64], ta[600], tb[600], *out = NULL;

	memset(&rd, 0, sizeof(rd));
	tu_redis_start(&rd);
	snprintf(port_env, sizeof(port_env), "PPISSUER_REDIS_PORT=%u", rd.port);
	th_dir_init(&s);
	write_config(&s, two_issuers);
	{
		char cfg[400];
		const char *args[] = { "--config", cfg, "--spent-backend", "redis", NULL };

		snprintf(cfg, sizeof(cfg), "%s/config.json", s.dir);
		th_server_start(&s, args, (const char *[]){ port_env, NULL });
	}
	client_of(&ca, &s, "a.test");
	client_of(&cb, &s, "b.test");
	cr_assert_eq(issue_at(&s, "a.test", &ca, NULL, ta, sizeof(ta)), 200);
	cr_assert_eq(issue_at(&s, "b.test", &cb, NULL, tb, sizeof(tb)), 200);
	cr_assert_eq(redeem_at(&s, "a.test", NULL, ta, NULL, 0), 200);
	cr_assert_eq(redeem_at(&s, "a.test", NULL, ta, NULL, 0), 409);
	cr_assert_eq(redeem_at(&s, "b.test", NULL, ta, NULL, 0), 403);
	cr_assert_eq(redeem_at(&s, "b.test", NULL, tb, NULL, 0), 200);
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "redis-cli -p %u --scan --pattern "
			 "'ppissuer:spent:*'", rd.port);
		cr_assert_eq(th_sh(cmd, &out), 0);
	}
	cr_assert(strstr(out, "ppissuer:spent:a:"), "%s", out);
	cr_assert(strstr(out, "ppissuer:spent:b:"), "%s", out);
	{
		/* one record each (beside each store's probe key), and nothing
		 * outside an issuer's prefix */
		size_t lines = 0, in_a = 0, in_b = 0;
		char *p;

		for (p = strtok(out, "\n"); p; p = strtok(NULL, "\n")) {
			cr_assert(!strncmp(p, "ppissuer:spent:a:", 17) ||
				  !strncmp(p, "ppissuer:spent:b:", 17), "%s", p);
			if (strstr(p, ":probe"))
				continue;
			lines++;
			in_a += !strncmp(p, "ppissuer:spent:a:", 17);
			in_b += !strncmp(p, "ppissuer:spent:b:", 17);
		}
		cr_assert_eq(lines, 2, "%zu records", lines);
		cr_assert_eq(in_a, 1);
		cr_assert_eq(in_b, 1);
	}
	free(out);
	th_client_free(&ca);
	th_client_free(&cb);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
	tu_redis_free(&rd);
}

/* A key in two issuers' stores would make one's tokens good at the other:
 * the server refuses to start with it. */
Test(issuers, a_key_held_by_two_issuers_is_refused)
{
	struct th_server s;
	const char *gen[] = { "generate", "--issuer", "a", NULL };
	char cfg[400], *out = NULL;
	const char *args[] = { "serve", "--config", cfg, "--listen", "127.0.0.1:0",
			       "--data-dir", NULL, NULL };
	int rc;

	th_dir_init(&s);
	write_config(&s, two_issuers);
	snprintf(cfg, sizeof(cfg), "%s/config.json", s.dir);
	args[6] = s.data_dir;
	th_sh_ok("mkdir -m 700 -p %s/issuers/a %s/issuers/b", s.data_dir, s.data_dir);
	th_keys_cmd(&s, gen);
	th_sh_ok("cp -a %s/issuers/a/keys %s/issuers/b/keys", s.data_dir, s.data_dir);
	rc = th_run(args, &out);
	cr_assert_eq(rc, 2, "%s", out);
	cr_assert(strstr(out, "issuers 'a' and 'b' both hold key"), "%s", out);
	free(out);
	th_dir_cleanup(&s);
}

/* Without an issuers section the server is what it always was (keys and
 * the spent store in the data dir, any Host), and max-published-keys
 * works there too. */
Test(issuers, single_issuer_keeps_its_paths_any_host_and_the_max_check)
{
	struct th_server s;
	const char *args[] = { "--token-types", "2,5", "--max-published-keys", "1", NULL };
	char *m, *body;
	struct th_resp r;

	th_dir_init(&s);
	th_server_start(&s, args, NULL);
	cr_assert(th_log_wait(&s, "the directory publishes 2 keys, more than "
			      "max-published-keys 1", 5000));
	m = th_metrics_text(&s, NULL);
	cr_assert(strstr(m, "\nppissuer_keys_published 2\n"), "%s", m);
	cr_assert(strstr(m, "\nppissuer_keys_over_max 1\n"));
	cr_assert_null(strstr(m, "issuer="), "labels without an issuers section");
	free(m);
	cr_assert_eq(th_get(&s, DIR_PATH, &body), 200);
	free(body);
	cr_assert_eq(th_http(&s, "GET", DIR_PATH, (const char *[]){ "Host: anything.test",
			     NULL }, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	th_sh_ok("test -d %s/keys && test -d %s/spent && test ! -e %s/issuers",
		 s.data_dir, s.data_dir, s.data_dir);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}
