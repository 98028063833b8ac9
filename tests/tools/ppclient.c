/* ppclient: the benchmark's client, built on the project's own client code
 * (crypto/bsig.h, spki.h, token.h, b64.h).
 *
 *   ppclient requests URL N OUTFILE
 *       N fresh TokenRequests for the directory's first key, written as
 *       N * 259 raw bytes (fixed-size records; bench/issue.lua slices them).
 *   ppclient batches URL N SIZE OUTFILE
 *       N generic batch bodies (crypto/batch.h), each of SIZE fresh
 *       TokenRequests for the directory's first key, written back to back:
 *       every body has the same length (varint prefix + SIZE * 259), so the
 *       file is N fixed-size records (bench/batch.sh replays them).
 *   ppclient tokens URL N OUTFILE [JOBS]
 *       N tokens issued by the server, finalized and verified here, written
 *       base64url (padded), one per line, each line PPC_TOKEN_LINE bytes.
 *       JOBS threads (default 4), each with its own keep-alive connection.
 *   ppclient conns HOST:PORT N SECONDS
 *       Opens N keep-alive connections, sends GET /healthz on each, checks
 *       every answer is 200, prints "open N", then holds them SECONDS.
 *
 * URL is the server's base, e.g. http://127.0.0.1:8080. Exits 0 on success,
 * 1 with a message on stderr otherwise: the harness depends on the exit
 * code, so any failed or non-200 request fails the whole command. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/b64.h"
#include "crypto/batch.h"
#include "crypto/bsig.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "crypto/token.h"

#define PPC_MAX_N 10000000UL        /* requests or tokens per command */
#define PPC_MAX_BATCH 1000UL        /* requests per batch: the server's bound */
#define PPC_MAX_BATCH_REQS 1000000UL /* requests in all the batches of a file */
#define PPC_MAX_JOBS 64
#define PPC_MAX_CONNS 20000
#define PPC_DIR_CAP (256 * 1024)    /* directory body */
#define PPC_RESP_CAP 1024           /* token response body */
#define PPC_B64_TOKEN 472           /* padded base64 of 354 bytes */
#define PPC_TOKEN_LINE (PPC_B64_TOKEN + 1)

/* The challenge the tokens are made for (issuer "localhost", no context,
 * no origin info); redemption without a challenge does not look at it. */
static const uint8_t ppc_challenge[] = {
	0x00, 0x02, 0x00, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
	0x00, 0x00, 0x00
};

struct ppc_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	int overflow;
};

struct ppc_key {
	uint8_t spki[SPKI_MAX_LEN];
	size_t spki_len;
	uint8_t key_id[SPKI_KEY_ID_LEN];
};

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ppclient: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static unsigned long parse_count(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		die("bad count '%s'", s);
	return v;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct ppc_buf *b = ud;
	size_t n = size * nmemb;

	if (n > b->cap - b->len) {
		b->overflow = 1;
		return 0;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	return n;
}

/* GET the directory and keep its first token-key. */
static void key_fetch(const char *base, struct ppc_key *k)
{
	struct ppc_buf b = { NULL, 0, PPC_DIR_CAP, 0 };
	char url[1024];
	CURL *c = curl_easy_init();
	json_error_t jerr;
	json_t *root, *key;
	const char *text;
	long status = 0;

	memset(k, 0, sizeof(*k));
	b.p = malloc(b.cap);
	if (!c || !b.p)
		die("%s", "out of memory");
	snprintf(url, sizeof(url), "%s/.well-known/private-token-issuer-directory", base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (curl_easy_perform(c) != CURLE_OK)
		die("cannot fetch %s", url);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (status != 200)
		die("%s did not answer 200", url);
	root = json_loadb((const char *)b.p, b.len, 0, &jerr);
	key = json_array_get(json_object_get(root, "token-keys"), 0);
	text = json_string_value(json_object_get(key, "token-key"));
	if (!text || b64_decode(text, strlen(text), k->spki, sizeof(k->spki),
				&k->spki_len) != 0)
		die("%s", "the directory has no usable token-key");
	spki_key_id(k->spki, k->spki_len, k->key_id);
	json_decref(root);
	free(b.p);
}

static EVP_PKEY *key_public(const struct ppc_key *k)
{
	EVP_PKEY *pk = NULL;

	if (spki_decode(k->spki, k->spki_len, &pk) != 0)
		die("%s", "the token-key is not in RFC 9578 form");
	return pk;
}

/* A fresh token input and its TokenRequest; inv is kept to finalize. */
static void request_make(EVP_PKEY *pk, const struct ppc_key *k,
			 uint8_t input[TOK_INPUT_LEN], uint8_t inv[TOK_NK],
			 uint8_t req[TOK_REQUEST_LEN])
{
	uint8_t nonce[TOK_NONCE_LEN], digest[TOK_DIGEST_LEN], blinded[TOK_NK];

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		die("%s", "RAND_bytes failed");
	SHA256(ppc_challenge, sizeof(ppc_challenge), digest);
	tok_token_input(TOK_TYPE_BLIND_RSA, nonce, digest, k->key_id, input);
	if (bsig_blind(pk, BSIG_SHA384_PSS_DETERMINISTIC, input, TOK_INPUT_LEN,
		       NULL, NULL, 0, blinded, inv, sizeof(blinded)) != 0)
		die("%s", "blinding failed");
	tok_request_encode(spki_truncated_id(k->key_id), blinded, req);
}

static void write_all(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		die("cannot create %s", path);
	if (fwrite(p, 1, len, f) != len || fclose(f) != 0)
		die("cannot write %s", path);
}

static int cmd_requests(const char *base, const char *count, const char *path)
{
	unsigned long n = parse_count(count, PPC_MAX_N), i;
	uint8_t input[TOK_INPUT_LEN], inv[TOK_NK];
	struct ppc_key k;
	uint8_t *out;
	EVP_PKEY *pk;

	key_fetch(base, &k);
	pk = key_public(&k);
	out = malloc(n * TOK_REQUEST_LEN);
	if (!out)
		die("%s", "out of memory");
	for (i = 0; i < n; i++)
		request_make(pk, &k, input, inv, out + i * TOK_REQUEST_LEN);
	OPENSSL_cleanse(inv, sizeof(inv));
	write_all(path, out, n * TOK_REQUEST_LEN);
	free(out);
	EVP_PKEY_free(pk);
	printf("%lu token requests written to %s\n", n, path);
	return 0;
}

/* ---- batches: generic batch bodies of type-2 requests ---- */

static int cmd_batches(const char *base, const char *count, const char *size_s,
		       const char *path)
{
	unsigned long n = parse_count(count, PPC_MAX_BATCH_REQS);
	unsigned long size = parse_count(size_s, PPC_MAX_BATCH), i, j;
	uint8_t input[TOK_INPUT_LEN], inv[TOK_NK];
	const uint8_t *items[PPC_MAX_BATCH];
	size_t lens[PPC_MAX_BATCH];
	size_t rec_cap = GBATCH_PREFIX_MAX + size * TOK_REQUEST_LEN;
	size_t rec_len = 0, len, total = 0;
	uint8_t *reqs, *out;
	struct ppc_key k;
	EVP_PKEY *pk;
	int rc;

	if (n * size > PPC_MAX_BATCH_REQS)
		die("%lu batches of %lu requests: over %lu requests in all", n, size,
		    PPC_MAX_BATCH_REQS);
	key_fetch(base, &k);
	pk = key_public(&k);
	reqs = malloc(size * TOK_REQUEST_LEN);
	out = malloc(n * rec_cap);
	if (!reqs || !out)
		die("%s", "out of memory");
	for (j = 0; j < size; j++) {
		items[j] = reqs + j * TOK_REQUEST_LEN;
		lens[j] = TOK_REQUEST_LEN;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < size; j++)
			request_make(pk, &k, input, inv, reqs + j * TOK_REQUEST_LEN);
		rc = gbatch_request_encode(items, lens, size, out + total, rec_cap, &len);
		if (rc != 0)
			die("cannot encode a batch: %s", pp_err_str(rc));
		/* the prefix is minimal: same size, same length */
		if (i > 0 && len != rec_len)
			die("batch %lu is %zu bytes, the first %zu", i, len, rec_len);
		rec_len = len;
		total += len;
	}
	OPENSSL_cleanse(inv, sizeof(inv));
	write_all(path, out, total);
	free(out);
	free(reqs);
	EVP_PKEY_free(pk);
	printf("%lu generic batches of %lu token requests (%zu bytes each) written to %s\n",
	       n, size, rec_len, path);
	return 0;
}

/* ---- tokens: JOBS threads, each issuing its own slice ---- */

struct ppc_job {
	pthread_t th;
	const char *url;
	const struct ppc_key *key;
	char *out;            /* this slice's first line */
	unsigned long n;
	int failed;
	char why[160];
};

static void *job_run(void *arg)
{
	struct ppc_job *j = arg;
	uint8_t input[TOK_INPUT_LEN], inv[TOK_NK], req[TOK_REQUEST_LEN];
	uint8_t sig[TOK_NK], token[TOK_TOKEN_LEN], body[PPC_RESP_CAP];
	struct ppc_buf b = { body, 0, sizeof(body), 0 };
	struct curl_slist *hl = NULL;
	EVP_PKEY *pk = key_public(j->key); /* one per thread: nothing shared */
	CURL *c = curl_easy_init();
	unsigned long i;
	size_t enc_len;

	hl = curl_slist_append(hl, "Content-Type: application/private-token-request");
	hl = curl_slist_append(hl, "Expect:");
	if (!c || !hl) {
		snprintf(j->why, sizeof(j->why), "out of memory");
		j->failed = 1;
		goto cleanup;
	}
	curl_easy_setopt(c, CURLOPT_URL, j->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)TOK_REQUEST_LEN);
	for (i = 0; i < j->n; i++) {
		long status = 0;
		CURLcode cc;

		request_make(pk, j->key, input, inv, req);
		b.len = 0;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
		cc = curl_easy_perform(c);
		if (cc != CURLE_OK) {
			snprintf(j->why, sizeof(j->why), "token request failed: %s",
				 curl_easy_strerror(cc));
			j->failed = 1;
			break;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200 || b.len != TOK_RESPONSE_LEN) {
			snprintf(j->why, sizeof(j->why),
				 "token request answered %ld with %zu bytes", status, b.len);
			j->failed = 1;
			break;
		}
		if (bsig_finalize(pk, BSIG_SHA384_PSS_DETERMINISTIC, input,
				  TOK_INPUT_LEN, body, inv, sig, sizeof(sig)) != 0) {
			snprintf(j->why, sizeof(j->why), "a blind signature did not verify");
			j->failed = 1;
			break;
		}
		tok_token_encode(input, sig, token);
		if (b64_encode(token, sizeof(token), j->out + i * PPC_TOKEN_LINE,
			       PPC_B64_TOKEN + 1, &enc_len) != 0 ||
		    enc_len != PPC_B64_TOKEN) {
			snprintf(j->why, sizeof(j->why), "base64 encoding failed");
			j->failed = 1;
			break;
		}
		j->out[i * PPC_TOKEN_LINE + PPC_B64_TOKEN] = '\n';
	}
cleanup:
	OPENSSL_cleanse(inv, sizeof(inv));
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	EVP_PKEY_free(pk);
	return NULL;
}

static int cmd_tokens(const char *base, const char *count, const char *path,
		      const char *jobs_s)
{
	unsigned long n = parse_count(count, PPC_MAX_N), done = 0;
	unsigned long jobs = jobs_s ? parse_count(jobs_s, PPC_MAX_JOBS) : 4;
	struct ppc_job *js;
	struct ppc_key k;
	char url[1024], *out;
	unsigned long i;
	int failed = 0;

	if (jobs > n)
		jobs = n;
	key_fetch(base, &k);
	snprintf(url, sizeof(url), "%s/token-request", base);
	/* one extra byte: b64_encode writes its NUL past the last line */
	out = malloc(n * PPC_TOKEN_LINE + 1);
	js = calloc(jobs, sizeof(*js));
	if (!out || !js)
		die("%s", "out of memory");
	for (i = 0; i < jobs; i++) {
		unsigned long lo = n * i / jobs, hi = n * (i + 1) / jobs;

		js[i].url = url;
		js[i].key = &k;
		js[i].out = out + lo * PPC_TOKEN_LINE;
		js[i].n = hi - lo;
		if (pthread_create(&js[i].th, NULL, job_run, &js[i]) != 0)
			die("%s", "cannot start a thread");
	}
	for (i = 0; i < jobs; i++) {
		pthread_join(js[i].th, NULL);
		if (js[i].failed && !failed) {
			fprintf(stderr, "ppclient: %s\n", js[i].why);
			failed = 1;
		}
		done += js[i].n;
	}
	if (failed)
		exit(1);
	write_all(path, out, done * PPC_TOKEN_LINE);
	free(out);
	free(js);
	printf("%lu tokens issued, finalized and verified; written to %s\n", done, path);
	return 0;
}

/* ---- conns: many idle keep-alive connections ---- */

static int cmd_conns(const char *hostport, const char *count, const char *secs)
{
	unsigned long n = parse_count(count, PPC_MAX_CONNS), i;
	unsigned long hold = parse_count(secs, 3600);
	struct sockaddr_in sa;
	char host[64], req[128], resp[2048];
	const char *colon = strrchr(hostport, ':');
	int *fds, len;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		die("bad address '%s' (want HOST:PORT)", hostport);
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)parse_count(colon + 1, 65535));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("bad IPv4 address '%s'", host);
	len = snprintf(req, sizeof(req),
		       "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", hostport);
	fds = calloc(n, sizeof(*fds));
	if (!fds)
		die("%s", "out of memory");
	/* all requests first, then all answers: the server holds n at once */
	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0)
			die("connect: %s", strerror(errno));
		if (write(fds[i], req, (size_t)len) != len)
			die("write: %s", strerror(errno));
	}
	for (i = 0; i < n; i++) {
		ssize_t r = read(fds[i], resp, sizeof(resp) - 1);

		if (r < 12 || memcmp(resp, "HTTP/1.1 200", 12) != 0)
			die("%s", "a connection did not get a 200");
	}
	printf("open %lu\n", n);
	fflush(stdout);
	sleep((unsigned)hold);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

_Noreturn static void usage(void)
{
	fprintf(stderr,
		"usage: ppclient requests URL N OUTFILE\n"
		"       ppclient batches URL N SIZE OUTFILE\n"
		"       ppclient tokens URL N OUTFILE [JOBS]\n"
		"       ppclient conns HOST:PORT N SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "conns")) {
		if (argc != 5)
			usage();
		return cmd_conns(argv[2], argv[3], argv[4]);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die("%s", "curl_global_init failed");
	if (!strcmp(argv[1], "requests") && argc == 5)
		rc = cmd_requests(argv[2], argv[3], argv[4]);
	else if (!strcmp(argv[1], "batches") && argc == 6)
		rc = cmd_batches(argv[2], argv[3], argv[4], argv[5]);
	else if (!strcmp(argv[1], "tokens") && (argc == 5 || argc == 6))
		rc = cmd_tokens(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
	else
		usage();
	curl_global_cleanup();
	return rc;
}
