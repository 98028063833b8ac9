#include "th.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/b64.h"
#include "crypto/bsig.h"
#include "crypto/spki.h"
#include "crypto/token.h"

static const char *bin_path(void)
{
	const char *b = getenv("PP_BIN");

	cr_assert(b != NULL, "PP_BIN is not set (run through make test)");
	return b;
}

void th_dir_init(struct th_server *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/pp-it-XXXXXX");
	cr_assert(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(s->data_dir, sizeof(s->data_dir), "%s/data", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
}

void th_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

double th_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int th_log_contains(const struct th_server *s, const char *text)
{
	FILE *f = fopen(s->log, "r");
	char *buf;
	long n;
	int found;

	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	cr_assert(buf);
	n = (long)fread(buf, 1, (size_t)n, f);
	fclose(f);
	found = strstr(buf, text) != NULL;
	free(buf);
	return found;
}

static long read_port(const struct th_server *s)
{
	const char *needle = "listening on ";
	FILE *f = fopen(s->log, "r");
	char line[4096];
	long port = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, needle);

		if (p && (p = strrchr(p, ':')))
			port = strtol(p + 1, NULL, 10);
	}
	fclose(f);
	return port;
}

void th_server_start(struct th_server *s, const char *const *args,
		     const char *const *env)
{
	const char *argv[64];
	size_t n = 0, i;
	int waited;

	argv[n++] = bin_path();
	argv[n++] = "serve";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--data-dir";
	argv[n++] = s->data_dir;
	for (i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	unlink(s->log); /* a restart must not read the previous run's port */
	s->pid = fork();
	cr_assert(s->pid >= 0);
	if (s->pid == 0) {
		int fd;

		/* a failed test must not leave servers behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0)
			_exit(127);
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
		for (i = 0; env && env[i]; i++)
			putenv((char *)(uintptr_t)env[i]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	for (waited = 0; waited < 15000; waited += 20) {
		int st;
		long port = read_port(s);

		if (port > 0) {
			s->port = (uint16_t)port;
			return;
		}
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			char *log = NULL;
			FILE *f = fopen(s->log, "r");

			s->pid = 0;
			if (f) {
				log = calloc(1, 65536);
				if (log && fread(log, 1, 65535, f) == 0)
					log[0] = '\0';
				fclose(f);
			}
			cr_assert_fail("server exited during start-up: %s", log ? log : "");
		}
		th_sleep_ms(20);
	}
	kill(s->pid, SIGKILL);
	cr_assert_fail("server did not report its port within 15 s");
}

int th_server_stop(struct th_server *s)
{
	int st, waited;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	for (waited = 0; waited < 15000; waited += 10) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		th_sleep_ms(10);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
	return -1;
}

void th_dir_cleanup(struct th_server *s)
{
	char cmd[400];

	if (s->pid > 0)
		th_server_stop(s);
	if (!s->dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", s->dir);
}

/* Runs argv[0] with argv, capturing stdout and stderr together. */
static int run_capture(const char *const *argv, char **out)
{
	int pipefd[2], st;
	size_t len = 0, cap = 4096;
	char *buf;
	pid_t pid;

	cr_assert(pipe(pipefd) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[1]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(pipefd[1]);
	buf = malloc(cap);
	cr_assert(buf);
	for (;;) {
		ssize_t r;

		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert(buf);
		}
		r = read(pipefd[0], buf + len, cap - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int th_run(const char *const *args, char **out)
{
	const char *argv[64];
	size_t n = 0, i;

	argv[n++] = bin_path();
	for (i = 0; args && args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return run_capture(argv, out);
}

struct grow {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct grow *g = ud;
	size_t n = size * nmemb;
	char *np = realloc(g->p, g->len + n + 1);

	if (!np)
		return 0;
	memcpy(np + g->len, ptr, n);
	g->p = np;
	g->len += n;
	g->p[g->len] = '\0';
	return n;
}

/* Sends one request on c (already set up for TLS where needed) and fills
 * out; takes over and frees c. */
static int perform(CURL *c, const char *url, const char *method,
		   const char *const *headers, const void *body, size_t len,
		   struct th_resp *out)
{
	struct grow b = { NULL, 0 }, h = { NULL, 0 };
	struct curl_slist *hl = NULL;
	CURLcode rc;
	size_t i;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	hl = curl_slist_append(hl, "Expect:");
	for (i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	else
		fprintf(stderr, "%s %s: %s\n", method, url, curl_easy_strerror(rc));
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	out->body = (uint8_t *)b.p;
	out->len = b.len;
	out->headers = h.p;
	return rc == CURLE_OK ? 0 : -1;
}

int th_http(const struct th_server *s, const char *method, const char *path,
	    const char *const *headers, const void *body, size_t len,
	    struct th_resp *out)
{
	char url[512];
	CURL *c = curl_easy_init();

	memset(out, 0, sizeof(*out));
	cr_assert(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", s->port, path);
	return perform(c, url, method, headers, body, len, out);
}

const char *th_header(const struct th_resp *r, const char *name, char *buf,
		      size_t cap)
{
	const char *p = r->headers;
	size_t n = strlen(name);

	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		size_t linelen = eol ? (size_t)(eol - p) : strlen(p);

		if (linelen > n && !strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1;
			size_t vl;

			while (*v == ' ')
				v++;
			vl = (size_t)(p + linelen - v);
			if (vl >= cap)
				vl = cap - 1;
			memcpy(buf, v, vl);
			buf[vl] = '\0';
			return buf;
		}
		p = eol ? eol + 2 : NULL;
	}
	return NULL;
}

void th_resp_free(struct th_resp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

void th_client_from_spki(struct th_client *c, const uint8_t *spki, size_t len)
{
	EVP_PKEY *pk = NULL;

	memset(c, 0, sizeof(*c));
	cr_assert(len <= sizeof(c->spki));
	memcpy(c->spki, spki, len);
	c->spki_len = len;
	spki_key_id(spki, len, c->key_id);
	cr_assert_eq(spki_decode(spki, len, &pk), 0, "token-key is not RFC 9578 form");
	c->pk = pk;
}

void th_client_init(struct th_client *c, const struct th_server *s)
{
	struct th_resp r;
	json_error_t jerr;
	json_t *root, *key;
	uint8_t spki[1100];
	size_t len;
	const char *b64;

	cr_assert_eq(th_http(s, "GET", "/.well-known/private-token-issuer-directory",
			     NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	root = json_loadb((const char *)r.body, r.len, 0, &jerr);
	cr_assert(root, "directory is not JSON: %s", jerr.text);
	key = json_array_get(json_object_get(root, "token-keys"), 0);
	b64 = json_string_value(json_object_get(key, "token-key"));
	cr_assert(b64);
	cr_assert_eq(b64_decode(b64, strlen(b64), spki, sizeof(spki), &len), 0);
	th_client_from_spki(c, spki, len);
	json_decref(root);
	th_resp_free(&r);
}

void th_client_request(struct th_client *c)
{
	uint8_t nonce[32], digest[32], blinded[256];
	static const uint8_t challenge[] = "\x00\x02\x00\x09localhost\x00\x00\x00";

	cr_assert_eq(RAND_bytes(nonce, sizeof(nonce)), 1);
	SHA256(challenge, sizeof(challenge) - 1, digest);
	tok_token_input(TOK_TYPE_BLIND_RSA, nonce, digest, c->key_id, c->input);
	cr_assert_eq(bsig_blind(c->pk, BSIG_SHA384_PSS_DETERMINISTIC, c->input,
				sizeof(c->input), NULL, NULL, 0, blinded, c->inv,
				sizeof(blinded)), 0);
	tok_request_encode(spki_truncated_id(c->key_id), blinded, c->request);
}

int th_client_finalize(struct th_client *c, const uint8_t *resp, size_t len,
		       uint8_t *token)
{
	uint8_t sig[256];
	int rc;

	if (len != 256)
		return -1;
	rc = bsig_finalize(c->pk, BSIG_SHA384_PSS_DETERMINISTIC, c->input,
			   sizeof(c->input), resp, c->inv, sig, sizeof(sig));
	if (rc == 0 && token)
		tok_token_encode(c->input, sig, token);
	return rc;
}

void th_client_free(struct th_client *c)
{
	EVP_PKEY_free(c->pk);
	c->pk = NULL;
}

uint16_t th_log_port(const struct th_server *s, const char *needle)
{
	FILE *f = fopen(s->log, "r");
	char line[4096];
	long port = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, needle);

		if (p && (p = strrchr(p, ':')))
			port = strtol(p + 1, NULL, 10);
	}
	fclose(f);
	return port > 0 && port < 65536 ? (uint16_t)port : 0;
}

int th_sh(const char *cmd, char **out)
{
	const char *argv[4] = { "/bin/sh", "-c", cmd, NULL };

	return run_capture(argv, out);
}

int th_clients(const struct th_server *s, const char *const *args)
{
	const char *argv[40];
	size_t n = 0, i;
	char *out = NULL;
	int rc;

	argv[n++] = "clients";
	for (i = 0; args && args[i] && n < 36; i++)
		argv[n++] = args[i];
	argv[n++] = "--data-dir";
	argv[n++] = s->data_dir;
	argv[n] = NULL;
	rc = th_run(argv, &out);
	if (rc != 0)
		fprintf(stderr, "ppissuer clients %s: %s", args && args[0] ? args[0] : "", out);
	free(out);
	return rc;
}

char *th_clients_add(const struct th_server *s, const char *name,
		     const char *role, const char *const *extra)
{
	const char *argv[40];
	size_t n = 0, i;
	char *out = NULL, *p, *secret;
	int rc;

	argv[n++] = "clients";
	argv[n++] = "add";
	argv[n++] = name;
	argv[n++] = "--role";
	argv[n++] = role;
	for (i = 0; extra && extra[i] && n < 34; i++)
		argv[n++] = extra[i];
	argv[n++] = "--data-dir";
	argv[n++] = s->data_dir;
	argv[n] = NULL;
	rc = th_run(argv, &out);
	cr_assert_eq(rc, 0, "clients add %s failed: %s", name, out);
	p = strstr(out, "ppissuer_");
	cr_assert(p, "no secret printed: %s", out);
	secret = strndup(p, strcspn(p, "\r\n"));
	cr_assert(secret);
	free(out);
	return secret;
}

int th_https(uint16_t port, const struct th_tls *t, const char *method,
	     const char *path, const char *const *headers, const void *body,
	     size_t len, struct th_resp *out)
{
	char url[512];
	CURL *c = curl_easy_init();

	memset(out, 0, sizeof(*out));
	cr_assert(c);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (t->cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, t->cert_file);
		curl_easy_setopt(c, CURLOPT_SSLKEY, t->key_file);
	}
	return perform(c, url, method, headers, body, len, out);
}

int th_connect(uint16_t port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

void th_sh_ok(const char *fmt, ...)
{
	char cmd[4096];
	char *out = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(th_sh(cmd, &out), 0, "%s: %s", cmd, out ? out : "");
	free(out);
}

int th_keys_run(const struct th_server *s, const char *const *args, char **out)
{
	const char *argv[40];
	size_t n = 0, i;

	argv[n++] = "keys";
	for (i = 0; args[i] && n < 36; i++)
		argv[n++] = args[i];
	argv[n++] = "--data-dir";
	argv[n++] = s->data_dir;
	argv[n] = NULL;
	return th_run(argv, out);
}

void th_keys_cmd(const struct th_server *s, const char *const *args)
{
	char *out = NULL;

	cr_assert_eq(th_keys_run(s, args, &out), 0, "ppissuer keys %s failed: %s", args[0],
		     out);
	free(out);
}

#define TH_CT_REQ "Content-Type: application/private-token-request"
#define TH_CT_JSON "Content-Type: application/json"

void th_issue(const struct th_server *s, struct th_client *c, char *b64, size_t cap)
{
	struct th_resp r;
	uint8_t token[TOK_TOKEN_LEN];

	th_client_request(c);
	cr_assert_eq(th_http(s, "POST", "/token-request", (const char *[]){ TH_CT_REQ, NULL },
			     c->request, sizeof(c->request), &r), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(th_client_finalize(c, r.body, r.len, token), 0);
	th_resp_free(&r);
	cr_assert_eq(b64_encode(token, sizeof(token), b64, cap, NULL), 0);
}

long th_redeem_json(const struct th_server *s, const char *json, json_t **out)
{
	struct th_resp r;
	long status;

	cr_assert_eq(th_http(s, "POST", "/redeem", (const char *[]){ TH_CT_JSON, NULL },
			     json, strlen(json), &r), 0);
	status = r.status;
	if (out) {
		json_error_t err;

		*out = json_loadb((const char *)r.body, r.len, 0, &err);
		cr_assert(*out, "answer is not JSON (%ld): %.*s", status, (int)r.len, r.body);
	}
	th_resp_free(&r);
	return status;
}

long th_redeem_token(const struct th_server *s, const char *b64, json_t **out)
{
	char json[1024];

	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", b64);
	return th_redeem_json(s, json, out);
}

long th_redeem(const struct th_server *s, const char *b64, char *body, size_t cap)
{
	struct th_resp r;
	char json[1024];
	long status;

	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", b64);
	cr_assert_eq(th_http(s, "POST", "/redeem", (const char *[]){ TH_CT_JSON, NULL },
			     json, strlen(json), &r), 0);
	status = r.status;
	if (body)
		snprintf(body, cap, "%.*s", (int)r.len, (const char *)r.body);
	th_resp_free(&r);
	return status;
}

long th_redeem_check(const struct th_server *s, const char *b64)
{
	struct th_resp r;
	char json[1024];
	long status;

	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"spend\":false}", b64);
	cr_assert_eq(th_http(s, "POST", "/redeem", (const char *[]){ TH_CT_JSON, NULL },
			     json, strlen(json), &r), 0);
	status = r.status;
	th_resp_free(&r);
	return status;
}

long th_get(const struct th_server *s, const char *path, char **body)
{
	struct th_resp r;
	long status;

	cr_assert_eq(th_http(s, "GET", path, NULL, NULL, 0, &r), 0);
	status = r.status;
	*body = malloc(r.len + 1);
	cr_assert_not_null(*body);
	memcpy(*body, r.body, r.len);
	(*body)[r.len] = '\0';
	th_resp_free(&r);
	return status;
}

char *th_metrics_text(const struct th_server *s, const char *secret)
{
	struct th_resp r;
	char authz[160];
	const char *hdrs[2] = { authz, NULL };
	char *text;

	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", secret ? secret : "");
	cr_assert_eq(th_http(s, "GET", "/metrics", secret ? hdrs : NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	text = strndup((const char *)r.body, r.len);
	th_resp_free(&r);
	return text;
}

char *th_metrics_wait(const struct th_server *s, const char *want)
{
	char *text = NULL;
	int tries;

	for (tries = 0; tries < 100; tries++) {
		free(text);
		text = th_metrics_text(s, NULL);
		if (strstr(text, want))
			break;
		usleep(10000);
	}
	return text;
}

int th_metrics_has(const struct th_server *s, const char *line)
{
	struct th_resp r;
	int found;

	cr_assert_eq(th_http(s, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	found = memmem(r.body, r.len, line, strlen(line)) != NULL;
	th_resp_free(&r);
	return found;
}

double th_metric_value(const struct th_server *s, const char *name)
{
	char *text, *p;
	double v = -1;

	cr_assert_eq(th_get(s, "/metrics", &text), 200);
	p = strstr(text, name);
	if (p != NULL)
		v = strtod(p + strlen(name), NULL);
	free(text);
	return v;
}

int th_log_wait(const struct th_server *s, const char *text, long ms)
{
	long waited;

	for (waited = 0; waited < ms; waited += 100) {
		th_sleep_ms(100);
		if (th_log_contains(s, text))
			return 1;
	}
	return 0;
}

int th_connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, src, &sa.sin_addr), 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", src,
		     strerror(errno));
	sa.sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr), 1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

int th_read_status(int fd, double deadline)
{
	char buf[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int status = 0;
	double left = deadline - th_now_s();

	if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) != 1)
		return 0;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		return 0;
	return status;
}
