/* `ppissuer gate` end to end: Debian's nginx in front of a static page with
 * deploy/nginx-gate.conf (its ports and directories replaced by the
 * test's), the gate behind its auth_request, `ppissuer serve` as issuer
 * with a registered attester and origin. The test plays client and
 * attester: it reads the challenge from the 401, builds a TokenRequest over
 * it, has the issuer sign it with the attester's secret, and retries.
 * private_type5 asks /gate directly (no nginx) with type-5 (VOPRF) tokens,
 * which the gate redeems at the issuer's /redeem with the origin's secret. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/authhdr.h"
#include "crypto/b64.h"
#include "crypto/bsig.h"
#include "crypto/grp.h"
#include "crypto/spki.h"
#include "crypto/token.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"
#include "issuer/gate.h"
#include "tests/unit/tu.h"
#include "tests/unit/tu_keys.h"
#include "th.h"
#include "th_da7a.h"

#define PAGE "the protected page\n"
#define ORIGIN "shop.example"

struct proc {
	pid_t pid;
};

static uint16_t free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

static pid_t spawn(const char *const *argv, const char *log)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	int st, i;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		th_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* `ppissuer gate` on a free port, its log in dir/gate.log; g gets its port
 * (so th_http can talk to it). extra: more arguments, NULL-terminated, may
 * be NULL. */
static void gate_start(struct th_server *g, const char *dir, uint16_t issuer_port,
		       const char *secret_file, const char *const *extra)
{
	char issuer[64], data[400];
	const char *argv[32];
	int n = 0, i;

	memset(g, 0, sizeof(*g));
	snprintf(g->log, sizeof(g->log), "%s/gate.log", dir);
	snprintf(issuer, sizeof(issuer), "http://127.0.0.1:%u", issuer_port);
	snprintf(data, sizeof(data), "%s/gate", dir);
	argv[n++] = getenv("PP_BIN");
	argv[n++] = "gate";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--issuer";
	argv[n++] = issuer;
	argv[n++] = "--data-dir";
	argv[n++] = data;
	argv[n++] = "--origin-info";
	argv[n++] = ORIGIN;
	argv[n++] = "--session-ttl";
	argv[n++] = "60";
	argv[n++] = "--cookie-secure";
	argv[n++] = "false";
	argv[n++] = "--issuer-timeout-ms";
	argv[n++] = "1000";
	argv[n++] = "--threads";
	argv[n++] = "2";
	if (secret_file) {
		argv[n++] = "--redeem-secret-file";
		argv[n++] = secret_file;
	}
	for (i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	g->pid = spawn(argv, g->log);
	for (i = 0; i < 1000 && !g->port; i++) {
		g->port = th_log_port(g, "listening on");
		if (!g->port)
			th_sleep_ms(10);
	}
	cr_assert(g->port, "the gate did not start");
}

/* nginx with deploy/nginx-gate.conf, ports and paths replaced. */
static void nginx_start(struct th_server *ng, const char *dir, uint16_t gate_port)
{
	char *conf, path[400], cmd[1600], early[400];
	const char *argv[8];
	size_t len;
	FILE *f;
	int i, fd = -1;

	memset(ng, 0, sizeof(*ng));
	ng->port = free_port();
	snprintf(path, sizeof(path), "%s/deploy/nginx-gate.conf", getenv("PP_SRC"));
	conf = tu_read_file(path, &len);
	cr_assert(conf, "cannot read %s", path);
	snprintf(path, sizeof(path), "%s/nginx.conf", dir);
	f = fopen(path, "w");
	cr_assert(f);
	fwrite(conf, 1, len, f);
	fclose(f);
	free(conf);
	snprintf(cmd, sizeof(cmd),
		 "sed -i -e 's#listen 127.0.0.1:8000;#listen 127.0.0.1:%u;#' "
		 "-e 's#server 127.0.0.1:8090;#server 127.0.0.1:%u;#' "
		 "-e 's#/var/www/protected#%s/www#' -e 's#/tmp/nginx-gate#%s/ngx#g' %s && "
		 "mkdir -p %s/www %s/ngx && printf '%%s' '" PAGE "' > %s/www/index.html && "
		 "chmod 755 %s %s/www && chmod 644 %s/www/index.html",
		 ng->port, gate_port, dir, dir, path, dir, dir, dir, dir, dir, dir);
	th_sh_ok("%s", cmd);
	snprintf(early, sizeof(early), "%s/ngx/early.log", dir);
	snprintf(ng->log, sizeof(ng->log), "%s/ngx/stderr.log", dir);
	argv[0] = "/usr/sbin/nginx";
	argv[1] = "-e";
	argv[2] = early;
	argv[3] = "-c";
	argv[4] = path;
	argv[5] = "-g";
	argv[6] = "daemon off;";
	argv[7] = NULL;
	ng->pid = spawn(argv, ng->log);
	for (i = 0; i < 500; i++) {
		struct sockaddr_in a;

		fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons(ng->port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			break;
		close(fd);
		fd = -1;
		th_sleep_ms(10);
	}
	cr_assert(fd >= 0, "nginx did not start (see %s)", ng->log);
	close(fd);
}

/* The first PrivateToken challenge of a 401, raw. */
static void challenge_of(const struct th_resp *r, uint8_t *ch, size_t *ch_len,
			 uint8_t *key, size_t *key_len)
{
	char hdr[4096];
	struct ah_challenge c[4];
	size_t n = 0;

	cr_assert_eq(r->status, 401);
	cr_assert(th_header(r, "WWW-Authenticate", hdr, sizeof(hdr)), "401 without a challenge");
	cr_assert_eq(ah_parse_www_authenticate(hdr, strlen(hdr), c, 4, &n), 0, "%s", hdr);
	cr_assert_eq(b64_decode(c[0].challenge, c[0].challenge_len, ch, 1024, ch_len), 0);
	cr_assert_eq(b64_decode(c[0].token_key, c[0].token_key_len, key, 1100, key_len), 0);
}

/* Client and attester: a type-2 token for challenge ch, signed by the
 * issuer for the attester with secret att; padded base64url into b64. */
static void token_for(const struct th_server *iss, const char *att,
		      const uint8_t *key, size_t key_len, const uint8_t *ch,
		      size_t ch_len, char *b64, size_t cap)
{
	struct th_client c;
	struct th_resp r;
	uint8_t nonce[32], digest[32], blinded[256], token[TOK_TOKEN_LEN];
	char auth[128];

	th_client_from_spki(&c, key, key_len);
	cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
	SHA256(ch, ch_len, digest);
	tok_token_input(TOK_TYPE_BLIND_RSA, nonce, digest, c.key_id, c.input);
	cr_assert_eq(bsig_blind(c.pk, BSIG_SHA384_PSS_DETERMINISTIC, c.input,
				sizeof(c.input), NULL, NULL, 0, blinded, c.inv,
				sizeof(blinded)), 0);
	tok_request_encode(spki_truncated_id(c.key_id), blinded, c.request);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", att);
	cr_assert_eq(th_http(iss, "POST", "/token-request",
			     (const char *[]){ "Content-Type: application/private-token-request",
					       auth, NULL },
			     c.request, sizeof(c.request), &r), 0);
	cr_assert_eq(r.status, 200, "the issuer refused the attester: %ld", r.status);
	cr_assert_eq(th_client_finalize(&c, r.body, r.len, token), 0);
	th_resp_free(&r);
	th_client_free(&c);
	cr_assert_eq(b64_encode(token, sizeof(token), b64, cap, NULL), 0);
}

static long get_with(const struct th_server *s, const char *path, const char *hname,
		     const char *value, struct th_resp *out)
{
	char h[2048];

	snprintf(h, sizeof(h), "%s: %s", hname, value);
	cr_assert_eq(th_http(s, "GET", path, (const char *[]){ h, NULL }, NULL, 0, out), 0);
	return out->status;
}

static long with_token(const struct th_server *s, const char *path, const char *b64)
{
	struct th_resp r;
	char v[1024];
	long st;

	snprintf(v, sizeof(v), "PrivateToken token=\"%s\"", b64);
	st = get_with(s, path, "Authorization", v, &r);
	if (st == 200 && !strcmp(path, "/"))
		cr_expect(r.len == strlen(PAGE) && !memcmp(r.body, PAGE, r.len),
			  "200 without the page");
	if (st != 200)
		cr_expect(st != 401 || th_header(&r, "WWW-Authenticate", v, sizeof(v)),
			  "a 401 carries a fresh challenge");
	th_resp_free(&r);
	return st;
}

TestSuite(gate, .fini = tu_leak_check, .timeout = 60);

Test(gate, nginx_end_to_end)
{
	struct th_server iss, gate, ng;
	struct th_resp r;
	uint8_t ch[1024], key[1100], other[1024], *secret;
	size_t ch_len, key_len, other_len, slen;
	struct tok_challenge c;
	char *att, *org, tok[1024], tok2[1024], spare[1024], cookie[256], path[400], *p;
	uint64_t w;

	th_dir_init(&iss);
	att = th_clients_add(&iss, "edge-attester", "attester", NULL);
	org = th_clients_add(&iss, "shop", "origin", NULL);
	th_server_start(&iss, NULL, NULL);
	th_sh_ok("printf '%%s\\n' '%s' > %s/origin.secret && chmod 600 %s/origin.secret",
		 org, iss.dir, iss.dir);
	snprintf(path, sizeof(path), "%s/origin.secret", iss.dir);
	gate_start(&gate, iss.dir, iss.port, path, NULL);
	nginx_start(&ng, iss.dir, gate.port);

	/* 401 with a challenge, then the token made for it passes */
	cr_assert_eq(th_http(&ng, "GET", "/", NULL, NULL, 0, &r), 0);
	challenge_of(&r, ch, &ch_len, key, &key_len);
	th_resp_free(&r);
	cr_assert_eq(tok_challenge_decode(ch, ch_len, &c), 0);
	cr_expect_eq(c.origin_info_len, strlen(ORIGIN));
	cr_expect_eq(c.issuer_name_len, strlen("127.0.0.1"));
	token_for(&iss, att, key, key_len, ch, ch_len, tok, sizeof(tok));
	{
		char v[1024];

		snprintf(v, sizeof(v), "PrivateToken token=\"%s\"", tok);
		cr_assert_eq(get_with(&ng, "/", "Authorization", v, &r), 200);
		cr_assert(th_header(&r, "Set-Cookie", cookie, sizeof(cookie)),
			  "no session cookie");
		th_resp_free(&r);
	}
	/* the same token again */
	cr_expect_eq(with_token(&ng, "/", tok), 401, "a spent token passed");

	/* the session cookie alone passes; a forged one does not */
	p = strchr(cookie, ';');
	if (p)
		*p = '\0';
	cr_expect_eq(get_with(&ng, "/", "Cookie", cookie, &r), 200);
	th_resp_free(&r);
	cr_expect_eq(get_with(&ng, "/", "Cookie", "ppgate_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			      &r), 401);
	th_resp_free(&r);

	/* a token for another origin's challenge */
	c.origin_info = (const uint8_t *)"other.example";
	c.origin_info_len = strlen("other.example");
	cr_assert_eq(tok_challenge_encode(&c, other, sizeof(other), &other_len), 0);
	token_for(&iss, att, key, key_len, other, other_len, tok2, sizeof(tok2));
	cr_expect_eq(with_token(&ng, "/", tok2), 401, "another origin's token passed");

	/* a token from a stale window (two windows back), made with the gate's
	 * own secret */
	snprintf(path, sizeof(path), "%s/gate/gate.secret", iss.dir);
	secret = (uint8_t *)tu_read_file(path, &slen);
	cr_assert(secret && slen == GATE_SECRET_LEN);
	w = gate_window_of((int64_t)time(NULL), 300);
	cr_assert_eq(gate_challenge_encode(secret, w - 2, 2, "127.0.0.1", ORIGIN, other,
					   sizeof(other), &other_len), 0);
	token_for(&iss, att, key, key_len, other, other_len, tok2, sizeof(tok2));
	cr_expect_eq(with_token(&ng, "/", tok2), 401, "a stale token passed");
	/* the previous window is still accepted */
	cr_assert_eq(gate_challenge_encode(secret, w - 1, 2, "127.0.0.1", ORIGIN, other,
					   sizeof(other), &other_len), 0);
	token_for(&iss, att, key, key_len, other, other_len, tok2, sizeof(tok2));
	cr_expect_eq(with_token(&ng, "/", tok2), 200, "the previous window's token");
	free(secret);

	/* a tampered token; the untouched one still passes afterwards */
	token_for(&iss, att, key, key_len, ch, ch_len, tok2, sizeof(tok2));
	{
		char bad[1024];
		size_t n = strlen(tok2);

		memcpy(bad, tok2, n + 1);
		bad[n - 10] = bad[n - 10] == 'A' ? 'B' : 'A';
		cr_expect_eq(with_token(&ng, "/", bad), 401, "a tampered token passed");
		bad[0] = bad[0] == 'A' ? 'B' : 'A';   /* the type bytes */
		cr_expect_eq(with_token(&ng, "/", bad), 401);
		cr_expect_eq(with_token(&ng, "/", "!!!"), 401);
	}
	cr_expect_eq(with_token(&ng, "/", tok2), 200);

	/* the issuer goes down: a cached directory still checks type 2 */
	token_for(&iss, att, key, key_len, ch, ch_len, spare, sizeof(spare));
	cr_assert_eq(th_server_stop(&iss), 0);
	cr_expect_eq(with_token(&ng, "/", spare), 200, "local verification with the issuer down");
	cr_expect_eq(with_token(&ng, "/", spare), 401);

	stop(ng.pid);
	stop(gate.pid);
	cr_expect(th_log_contains(&gate, "\"reason\":\"spent\""));
	th_dir_cleanup(&iss);
	free(att);
	free(org);
}

/* No directory can be read: the gate answers 503, nginx denies (500). */
Test(gate, issuer_unreachable_denies)
{
	struct th_server dir, gate, ng;
	struct th_resp r;

	th_dir_init(&dir);
	gate_start(&gate, dir.dir, free_port(), NULL, NULL);
	nginx_start(&ng, dir.dir, gate.port);
	cr_assert_eq(th_http(&gate, "GET", "/gate", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 503);
	th_resp_free(&r);
	cr_expect_eq(with_token(&gate, "/gate", "AAIAAAAA"), 503);
	cr_assert_eq(th_http(&ng, "GET", "/", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 500, "nginx must deny when the gate cannot decide");
	cr_expect(r.len != strlen(PAGE) || memcmp(r.body, PAGE, r.len));
	th_resp_free(&r);
	cr_assert_eq(th_http(&gate, "GET", "/readyz", NULL, NULL, 0, &r), 0);
	cr_expect_eq(r.status, 503);
	th_resp_free(&r);
	stop(ng.pid);
	stop(gate.pid);
	th_dir_cleanup(&dir);
}

/* The PrivateToken challenge of a 401 for token type `type`, raw (the
 * TokenChallenge and the token key); fails the test when there is none. */
static void challenge_of_type(const struct th_resp *r, uint16_t type, uint8_t *ch,
			      size_t *ch_len, uint8_t *key, size_t key_cap,
			      size_t *key_len)
{
	char hdr[4096];
	struct ah_challenge c[GATE_TYPES_MAX];
	struct tok_challenge tc;
	size_t n = 0, i;

	cr_assert_eq(r->status, 401);
	cr_assert(th_header(r, "WWW-Authenticate", hdr, sizeof(hdr)), "401 without a challenge");
	cr_assert_eq(ah_parse_www_authenticate(hdr, strlen(hdr), c, GATE_TYPES_MAX, &n), 0,
		     "%s", hdr);
	for (i = 0; i < n; i++) {
		cr_assert_eq(b64_decode(c[i].challenge, c[i].challenge_len, ch, 1024, ch_len), 0);
		cr_assert_eq(tok_challenge_decode(ch, *ch_len, &tc), 0);
		if (tc.token_type != type)
			continue;
		cr_assert_eq(b64_decode(c[i].token_key, c[i].token_key_len, key, key_cap,
					key_len), 0);
		return;
	}
	cr_assert_fail("no challenge for type %u: %s", type, hdr);
}

/* Client and attester for type 5 (VOPRF over ristretto255, our own client
 * code): a token for challenge ch under the issuer's public key pk, issued
 * for the attester with secret att, its proof verified; padded base64url
 * into b64. */
static void token5_for(const struct th_server *iss, const char *att, const uint8_t *pk,
		       size_t pk_len, const uint8_t *ch, size_t ch_len, char *b64,
		       size_t cap)
{
	const struct grp_impl *g = vtok_group(VTOK_TYPE_VOPRF_R255);
	const struct vtok_sizes *sz = vtok_sizes(VTOK_TYPE_VOPRF_R255);
	uint8_t nonce[32], digest[32], key_id[32], input[VTOK_INPUT_LEN];
	uint8_t blind[GRP_MAX_NS], blinded[GRP_MAX_NE], req[3 + GRP_MAX_NE];
	uint8_t tok[VTOK_INPUT_LEN + VTOK_MAX_NK];
	const uint8_t *inputs[1] = { input };
	size_t lens[1] = { VTOK_INPUT_LEN }, req_len = 0;
	struct vtok_response vr;
	struct th_resp r;
	char auth[128];

	cr_assert(g && sz);
	cr_assert_eq(pk_len, g->ne, "the type-5 token-key is %zu bytes", pk_len);
	SHA256(pk, pk_len, key_id);
	cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
	SHA256(ch, ch_len, digest);
	tok_token_input(VTOK_TYPE_VOPRF_R255, nonce, digest, key_id, input);
	cr_assert_eq(voprf_blind(g, input, sizeof(input), NULL, blind, blinded), 0);
	cr_assert_eq(vtok_request_encode(VTOK_TYPE_VOPRF_R255, key_id[31], blinded, req,
					 sizeof(req), &req_len), 0);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", att);
	cr_assert_eq(th_http(iss, "POST", "/token-request",
			     (const char *[]){ "Content-Type: application/private-token-request",
					       auth, NULL },
			     req, req_len, &r), 0);
	cr_assert_eq(r.status, 200, "the issuer refused a type-5 request: %ld %.*s", r.status,
		     (int)r.len, r.body);
	cr_assert_eq(vtok_response_decode(VTOK_TYPE_VOPRF_R255, r.body, r.len, &vr), 0);
	memcpy(tok, input, VTOK_INPUT_LEN);
	cr_assert_eq(voprf_finalize(g, pk, pk_len, 1, inputs, lens, blind, blinded,
				    vr.evaluated, vr.proof, 2 * sz->ns, tok + VTOK_INPUT_LEN,
				    sz->nk), 0, "the type-5 proof does not verify");
	th_resp_free(&r);
	OPENSSL_cleanse(blind, sizeof(blind));
	cr_assert_eq(b64_encode(tok, VTOK_INPUT_LEN + sz->nk, b64, cap, NULL), 0);
}

/* GET /gate with a token: the status; reason (may be NULL) gets
 * Privacy-Pass-Reason or "", type (may be NULL) Privacy-Pass-Token-Type or
 * "". */
static long gate_ask(const struct th_server *gate, const char *b64, char *reason,
		     size_t rcap, char *type, size_t tcap)
{
	struct th_resp r;
	char v[1024];
	long st;

	snprintf(v, sizeof(v), "PrivateToken token=\"%s\"", b64);
	st = get_with(gate, "/gate", "Authorization", v, &r);
	if (reason && !th_header(&r, "Privacy-Pass-Reason", reason, rcap))
		reason[0] = '\0';
	if (type && !th_header(&r, "Privacy-Pass-Token-Type", type, tcap))
		type[0] = '\0';
	if (st == 401)
		cr_expect(th_header(&r, "WWW-Authenticate", v, sizeof(v)),
			  "a 401 carries a fresh challenge");
	th_resp_free(&r);
	return st;
}

/* A privately verifiable type through the gate: the issuer serves 2 and 5
 * with an attester and an origin registered; the gate (the origin's secret
 * in a 0600 file) challenges for both, a type-5 token made for its
 * challenge passes once, then is spent; a tampered one is refused; with
 * the issuer stopped, type 5 cannot be decided (503) while type 2 is still
 * checked locally. */
Test(gate, private_type5)
{
	static const char *const types25[] = { "--token-types", "2,5", NULL };
	struct th_server iss, gate, gate2;
	struct th_resp r;
	uint8_t ch5[1024], pk5[1100], ch2[1024], key2[1100], dpk[1100];
	size_t ch5_len, pk5_len, ch2_len, key2_len, dpk_len = 0;
	char *att, *org, *body = NULL, path[400], dir2[400], reason[64], type[16];
	char tok[1024], bad[1024], spare5[1024], spare2[1024];
	uint8_t raw[VTOK_INPUT_LEN + VTOK_MAX_NK];
	size_t raw_len = 0;
	json_t *d, *keys;
	size_t i;

	th_dir_init(&iss);
	att = th_clients_add(&iss, "edge-attester", "attester", NULL);
	org = th_clients_add(&iss, "shop", "origin", NULL);
	th_server_start(&iss, types25, NULL);
	th_sh_ok("printf '%%s\\n' '%s' > %s/origin.secret && chmod 600 %s/origin.secret",
		 org, iss.dir, iss.dir);
	snprintf(path, sizeof(path), "%s/origin.secret", iss.dir);
	gate_start(&gate, iss.dir, iss.port, path, types25);

	/* the 401 challenges for type 5 with the directory's type-5 key */
	cr_assert_eq(th_http(&gate, "GET", "/gate", NULL, NULL, 0, &r), 0);
	challenge_of_type(&r, VTOK_TYPE_VOPRF_R255, ch5, &ch5_len, pk5, sizeof(pk5), &pk5_len);
	challenge_of_type(&r, TOK_TYPE_BLIND_RSA, ch2, &ch2_len, key2, sizeof(key2), &key2_len);
	th_resp_free(&r);
	cr_assert_eq(th_get(&iss, "/.well-known/private-token-issuer-directory", &body), 200);
	d = json_loads(body, 0, NULL);
	cr_assert_not_null(d, "%s", body);
	keys = json_object_get(d, "token-keys");
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		const char *text = json_string_value(json_object_get(k, "token-key"));

		if (json_integer_value(json_object_get(k, "token-type")) == 5 && text)
			cr_assert_eq(b64_decode(text, strlen(text), dpk, sizeof(dpk), &dpk_len), 0);
	}
	json_decref(d);
	free(body);
	cr_expect(dpk_len == pk5_len && !memcmp(dpk, pk5, pk5_len),
		  "the type-5 challenge does not carry the directory's key");

	/* without --token-types the gate challenges for 5 too (it has a
	 * redeemer for privately verifiable types) */
	snprintf(dir2, sizeof(dir2), "%s/g2", iss.dir);
	th_sh_ok("mkdir -p %s", dir2);
	gate_start(&gate2, dir2, iss.port, path, NULL);
	cr_assert_eq(th_http(&gate2, "GET", "/gate", NULL, NULL, 0, &r), 0);
	{
		uint8_t c[1024], k[1100];
		size_t cl, kl;

		challenge_of_type(&r, VTOK_TYPE_VOPRF_R255, c, &cl, k, sizeof(k), &kl);
	}
	th_resp_free(&r);
	stop(gate2.pid);

	/* a type-5 token made for the challenge passes once, then is spent */
	token5_for(&iss, att, pk5, pk5_len, ch5, ch5_len, tok, sizeof(tok));
	cr_expect_eq(gate_ask(&gate, tok, reason, sizeof(reason), type, sizeof(type)), 200,
		     "a type-5 token made for the gate's challenge: %s", reason);
	cr_expect_str_eq(type, "5");
	cr_expect_eq(gate_ask(&gate, tok, reason, sizeof(reason), NULL, 0), 401,
		     "a spent type-5 token passed");
	cr_expect_str_eq(reason, "spent");

	/* tampered: the authenticator's last byte, then the nonce; the
	 * untouched token passes afterwards */
	token5_for(&iss, att, pk5, pk5_len, ch5, ch5_len, tok, sizeof(tok));
	cr_assert_eq(b64_decode(tok, strlen(tok), raw, sizeof(raw), &raw_len), 0);
	raw[raw_len - 1] ^= 1;
	cr_assert_eq(b64_encode(raw, raw_len, bad, sizeof(bad), NULL), 0);
	cr_expect_eq(gate_ask(&gate, bad, reason, sizeof(reason), NULL, 0), 401,
		     "a tampered type-5 token passed");
	cr_expect_str_eq(reason, "bad_signature");
	raw[raw_len - 1] ^= 1;
	raw[10] ^= 1;
	cr_assert_eq(b64_encode(raw, raw_len, bad, sizeof(bad), NULL), 0);
	cr_expect_eq(gate_ask(&gate, bad, reason, sizeof(reason), NULL, 0), 401);
	cr_expect_str_eq(reason, "bad_signature");
	cr_expect_eq(gate_ask(&gate, tok, NULL, 0, NULL, 0), 200,
		     "the untampered type-5 token after the tampered ones");

	/* a type-5 token for a type-2 challenge: the challenge does not match */
	token5_for(&iss, att, pk5, pk5_len, ch2, ch2_len, bad, sizeof(bad));
	cr_expect_eq(gate_ask(&gate, bad, reason, sizeof(reason), NULL, 0), 401);
	cr_expect_str_eq(reason, "challenge_mismatch");

	/* the issuer stops: type 5 cannot be decided (503, a denial at the
	 * proxy), type 2 is still checked and spent locally */
	token5_for(&iss, att, pk5, pk5_len, ch5, ch5_len, spare5, sizeof(spare5));
	token_for(&iss, att, key2, key2_len, ch2, ch2_len, spare2, sizeof(spare2));
	cr_assert_eq(th_server_stop(&iss), 0);
	cr_expect_eq(gate_ask(&gate, spare5, reason, sizeof(reason), NULL, 0), 503,
		     "a type-5 token with the issuer down");
	cr_expect_str_eq(reason, "issuer_unavailable");
	cr_expect_eq(gate_ask(&gate, spare2, NULL, 0, type, sizeof(type)), 200,
		     "a type-2 token with the issuer down");
	cr_expect_str_eq(type, "2");
	cr_expect_eq(gate_ask(&gate, spare2, reason, sizeof(reason), NULL, 0), 401);
	cr_expect_str_eq(reason, "spent");

	stop(gate.pid);
	cr_expect(th_log_contains(&gate, "/redeem cannot be reached"));
	th_dir_cleanup(&iss);
	free(att);
	free(org);
}

/* GET /gate with a token and its extensions= (ext may be NULL); the status,
 * and the reason (Privacy-Pass-Reason or "") into reason. */
static long gate_ask_ext(const struct th_server *gate, const char *b64, const char *ext,
			 char *reason, size_t rcap)
{
	struct th_resp r;
	char v[2048];
	long st;

	snprintf(v, sizeof(v), "PrivateToken token=\"%s\"%s%s%s", b64,
		 ext ? ", extensions=\"" : "", ext ? ext : "", ext ? "\"" : "");
	st = get_with(gate, "/gate", "Authorization", v, &r);
	if (!th_header(&r, "Privacy-Pass-Reason", reason, rcap))
		reason[0] = '\0';
	th_resp_free(&r);
	return st;
}

/* Token type 0xDA7A through the gate: it challenges for 0xDA7A with the
 * directory's key, verifies a token under the key derived from the
 * extensions= the client sends, and spends it once; a token without its
 * extensions, with other ones, or expired is refused and stays unspent;
 * extensions beside a type-2 token are refused; and the same through
 * nginx. */
Test(gate, public_metadata_da7a, .timeout = 90)
{
	static const char *const args[] = { "--token-types", "2,0xDA7A",
					    "--ext-expiry-precisions", "3600,2", NULL };
	struct th_server iss, gate;
	struct th_resp r;
	struct th_dc c;
	uint8_t ch[1024], key[1100], ch2[1024], key2[1100], ext[64], other[64], soon[64];
	size_t ch_len, key_len, ch2_len, key2_len, ext_len, other_len, soon_len;
	char keyfile[1024], tok[1024], tok2[1024], tok_soon[1024], e64[128], o64[128],
		s64[128], reason[64];
	uint64_t now = (uint64_t)time(NULL), soon_ts;

	th_dir_init(&iss);
	tu_keys_data_path("keys/pbrsa-safe2048.pem", keyfile, sizeof(keyfile));
	th_keys_cmd(&iss, (const char *[]){ "import", "--type", "0xDA7A", keyfile, NULL });
	th_server_start(&iss, args, NULL);
	gate_start(&gate, iss.dir, iss.port, NULL, NULL);

	/* the gate challenges for 0xDA7A (the directory lists it) with its key */
	cr_assert_eq(th_http(&gate, "GET", "/gate", NULL, NULL, 0, &r), 0);
	challenge_of_type(&r, 0xDA7A, ch, &ch_len, key, sizeof(key), &key_len);
	challenge_of_type(&r, TOK_TYPE_BLIND_RSA, ch2, &ch2_len, key2, sizeof(key2), &key2_len);
	th_resp_free(&r);
	th_dc_init(&c, &iss);
	cr_assert(key_len == c.spki_len && !memcmp(key, c.spki, key_len),
		  "the 0xDA7A challenge does not carry the directory's key");

	ext_len = th_exp_ext(3600, th_next_multiple(now + 60, 3600), ext);
	other_len = th_exp_ext(3600, th_next_multiple(now + 60, 3600) + 3600, other);
	cr_assert_eq(b64_encode(ext, ext_len, e64, sizeof(e64), NULL), 0);
	cr_assert_eq(b64_encode(other, other_len, o64, sizeof(o64), NULL), 0);
	th_dc_request(&c, ext, ext_len, ch, ch_len);
	cr_assert_eq(th_dc_issue(&c, &iss, ext, ext_len, tok, sizeof(tok), NULL, 0), 200);

	cr_expect_eq(gate_ask_ext(&gate, tok, NULL, reason, sizeof(reason)), 401);
	cr_expect_str_eq(reason, "missing_extensions");
	cr_expect_eq(gate_ask_ext(&gate, tok, o64, reason, sizeof(reason)), 401);
	cr_expect_str_eq(reason, "bad_signature", "other Extensions than signed");
	cr_expect_eq(gate_ask_ext(&gate, tok, "%%%", reason, sizeof(reason)), 401);
	cr_expect_str_eq(reason, "malformed");
	cr_expect_eq(gate_ask_ext(&gate, tok, e64, reason, sizeof(reason)), 200,
		     "a 0xDA7A token with its extensions: %s", reason);
	cr_expect_eq(gate_ask_ext(&gate, tok, e64, reason, sizeof(reason)), 401);
	cr_expect_str_eq(reason, "spent");

	/* extensions= beside a type-2 token */
	token_for(&iss, "none", key2, key2_len, ch2, ch2_len, tok2, sizeof(tok2));
	cr_expect_eq(gate_ask_ext(&gate, tok2, e64, reason, sizeof(reason)), 401);
	cr_expect_str_eq(reason, "unexpected_extensions");
	cr_expect_eq(gate_ask_ext(&gate, tok2, NULL, reason, sizeof(reason)), 200,
		     "the type-2 token was spent by the refused attempt: %s", reason);

	/* an expiration that passes while the token waits (3 or 4 s ahead,
	 * far enough that the issuer still signs it): refused, unspent */
	now = (uint64_t)time(NULL);
	soon_ts = th_next_multiple(now + 2, 2);
	soon_len = th_exp_ext(2, soon_ts, soon);
	cr_assert_eq(b64_encode(soon, soon_len, s64, sizeof(s64), NULL), 0);
	th_dc_request(&c, soon, soon_len, ch, ch_len);
	cr_assert_eq(th_dc_issue(&c, &iss, soon, soon_len, tok_soon, sizeof(tok_soon), NULL, 0),
		     200);
	while ((uint64_t)time(NULL) <= soon_ts)
		th_sleep_ms(200);
	cr_expect_eq(gate_ask_ext(&gate, tok_soon, s64, reason, sizeof(reason)), 401);
	cr_expect_str_eq(reason, "expired");

	/* through nginx (deploy/nginx-gate.conf): the auth subrequest carries
	 * the whole Authorization, extensions= included */
	{
		struct th_server ng;
		char v[2048];

		nginx_start(&ng, iss.dir, gate.port);
		th_dc_request(&c, ext, ext_len, ch, ch_len);
		cr_assert_eq(th_dc_issue(&c, &iss, ext, ext_len, tok, sizeof(tok), NULL, 0), 200);
		cr_expect_eq(with_token(&ng, "/", tok), 401, "no extensions= passed nginx");
		snprintf(v, sizeof(v), "PrivateToken token=\"%s\", extensions=\"%s\"", tok, e64);
		cr_expect_eq(get_with(&ng, "/", "Authorization", v, &r), 200);
		cr_expect(r.len == strlen(PAGE) && !memcmp(r.body, PAGE, r.len), "200 without the page");
		th_resp_free(&r);
		cr_expect_eq(get_with(&ng, "/", "Authorization", v, &r), 401, "spent, through nginx");
		th_resp_free(&r);
		stop(ng.pid);
	}

	th_dc_free(&c);
	stop(gate.pid);
	cr_expect_eq(th_server_stop(&iss), 0);
	th_dir_cleanup(&iss);
}
