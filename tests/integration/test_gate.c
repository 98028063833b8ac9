/* `ppissuer gate` end to end: Debian's nginx in front of a static page with
 * deploy/nginx-gate.conf (its ports and directories replaced by the
 * test's), the gate behind its auth_request, `ppissuer serve` as issuer
 * with a registered attester and origin. The test plays client and
 * attester: it reads the challenge from the 401, builds a TokenRequest over
 * it, has the issuer sign it with the attester's secret, and retries. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include "crypto/spki.h"
#include "crypto/token.h"
#include "issuer/gate.h"
#include "tests/unit/tu.h"
#include "th.h"

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
 * (so th_http can talk to it). */
static void gate_start(struct th_server *g, const char *dir, uint16_t issuer_port,
		       const char *secret_file)
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
	gate_start(&gate, iss.dir, iss.port, path);
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
	gate_start(&gate, dir.dir, free_port(), NULL);
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
