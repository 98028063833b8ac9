/* ppvclient: the benchmark's client for the VOPRF token types 0x0005 and
 * 0x0001, on the project's own client code (crypto/voprf.h, vtok.h, b64.h).
 *
 *   ppvclient requests URL TYPE N OUTFILE
 *       N fresh single TokenRequests of TYPE (5 or 1) for the directory's
 *       key of that type, written as N fixed-size raw records (35 or 52
 *       bytes; bench/voprf_issue.lua slices them).
 *   ppvclient tokens URL TYPE N OUTFILE [JOBS]
 *       N tokens issued by the server (proof verified, finalized here),
 *       written as padded base64url, one per line, every line the same
 *       width (216 or 196 characters and a newline). JOBS threads (default
 *       4), each with its own keep-alive connection.
 *
 * URL is the server's base, e.g. http://127.0.0.1:8080. Exits 0 on success,
 * 1 with a message on stderr otherwise: any failed or non-200 request fails
 * the whole command. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "crypto/grp.h"
#include "crypto/token.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"

#define PPV_MAX_N 10000000UL
#define PPV_MAX_JOBS 64
#define PPV_DIR_CAP (256 * 1024)
#define PPV_RESP_CAP 1024
#define PPV_LINE_MAX 256   /* padded base64 of a token and its newline */
#define PPV_REQ_MAX (3 + GRP_MAX_NE)

/* The challenge the tokens are made for (issuer "localhost", no context,
 * no origin info); its first two bytes get the token type. */
static uint8_t ppv_challenge[] = {
	0x00, 0x00, 0x00, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
	0x00, 0x00, 0x00
};

struct ppv_key {
	uint16_t type;
	const struct grp_impl *g;
	const struct vtok_sizes *sz;
	uint8_t pk[GRP_MAX_NE];
	uint8_t key_id[32];
	uint8_t digest[32];   /* SHA-256 of the challenge */
};

/* One token in the making. */
struct ppv_pending {
	uint8_t input[VTOK_INPUT_LEN];
	uint8_t blind[GRP_MAX_NS];
	uint8_t req[PPV_REQ_MAX];
	size_t req_len;
};

struct ppv_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ppvclient: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static unsigned long parse_count(const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		die("bad count '%s'", s);
	return v;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct ppv_buf *b = ud;
	size_t n = size * nmemb;

	if (n > b->cap - b->len)
		return 0;   /* curl fails the transfer */
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	return n;
}

/* GET the directory and keep its first key of type. */
static void key_fetch(const char *base, const char *type_text,
		      struct ppv_key *k)
{
	struct ppv_buf b = { NULL, 0, PPV_DIR_CAP };
	CURL *c = curl_easy_init();
	json_t *root, *keys;
	char url[1024];
	long status = 0;
	size_t i, len = 0;

	memset(k, 0, sizeof(*k));
	k->type = (uint16_t)parse_count(type_text, 0xffff);
	k->g = vtok_group(k->type);
	k->sz = vtok_sizes(k->type);
	if (k->g == NULL || k->sz == NULL)
		die("type %s is not a VOPRF token type (5 or 1)", type_text);
	b.p = malloc(b.cap);
	if (!c || !b.p)
		die("%s", "out of memory");
	snprintf(url, sizeof(url), "%s/.well-known/private-token-issuer-directory",
		 base);
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
	root = json_loadb((const char *)b.p, b.len, 0, NULL);
	keys = json_object_get(root, "token-keys");
	for (i = 0; i < json_array_size(keys); i++) {
		json_t *e = json_array_get(keys, i);
		const char *text;

		if (json_integer_value(json_object_get(e, "token-type")) !=
		    k->type)
			continue;
		text = json_string_value(json_object_get(e, "token-key"));
		if (text && b64_decode(text, strlen(text), k->pk, sizeof(k->pk),
				       &len) == 0 && len == k->g->ne)
			break;
		len = 0;
	}
	if (len == 0)
		die("the directory has no usable key of type %u", k->type);
	SHA256(k->pk, len, k->key_id);
	ppv_challenge[0] = (uint8_t)(k->type >> 8);
	ppv_challenge[1] = (uint8_t)k->type;
	SHA256(ppv_challenge, sizeof(ppv_challenge), k->digest);
	json_decref(root);
	free(b.p);
}

static void request_make(const struct ppv_key *k, struct ppv_pending *p)
{
	uint8_t nonce[32];

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		die("%s", "RAND_bytes failed");
	tok_token_input(k->type, nonce, k->digest, k->key_id, p->input);
	if (voprf_blind(k->g, p->input, sizeof(p->input), NULL, p->blind,
			p->req + 3) != 0 ||
	    vtok_request_encode(k->type, k->key_id[31], p->req + 3, p->req,
				sizeof(p->req), &p->req_len) != 0)
		die("%s", "blinding failed");
}

static void write_all(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		die("cannot create %s", path);
	if (fwrite(p, 1, len, f) != len || fclose(f) != 0)
		die("cannot write %s", path);
}

static int cmd_requests(const char *base, const char *type, const char *count,
			const char *path)
{
	unsigned long n = parse_count(count, PPV_MAX_N), i;
	struct ppv_pending p;
	struct ppv_key k;
	uint8_t *out;
	size_t rec;

	key_fetch(base, type, &k);
	rec = 3 + k.g->ne;
	out = malloc(n * rec);
	if (!out)
		die("%s", "out of memory");
	for (i = 0; i < n; i++) {
		request_make(&k, &p);
		memcpy(out + i * rec, p.req, rec);
	}
	OPENSSL_cleanse(&p, sizeof(p));
	write_all(path, out, n * rec);
	free(out);
	return 0;
}

struct ppv_job {
	const char *base;
	const struct ppv_key *k;
	unsigned long lo, hi;
	char *lines;         /* the whole output; this job fills [lo, hi) */
	size_t width;        /* of one line, newline included */
	const char *err;
};

static void *tokens_run(void *arg)
{
	struct ppv_job *j = arg;
	const struct ppv_key *k = j->k;
	uint8_t resp[PPV_RESP_CAP], tok[VTOK_INPUT_LEN + VTOK_MAX_NK];
	struct ppv_buf b = { resp, 0, sizeof(resp) };
	struct curl_slist *hdr = NULL;
	struct ppv_pending p;
	CURL *c = curl_easy_init();
	char url[1024];
	unsigned long i;

	hdr = curl_slist_append(hdr,
		"Content-Type: application/private-token-request");
	if (!c || !hdr) {
		j->err = "out of memory";
		goto cleanup;
	}
	snprintf(url, sizeof(url), "%s/token-request", j->base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	for (i = j->lo; i < j->hi; i++) {
		const uint8_t *inputs[1] = { p.input };
		size_t lens[1] = { VTOK_INPUT_LEN }, n = 0;
		struct vtok_response r;
		long status = 0;
		char *line = j->lines + i * j->width;

		request_make(k, &p);
		b.len = 0;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, p.req);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)p.req_len);
		if (curl_easy_perform(c) != CURLE_OK) {
			j->err = "a token request failed";
			goto cleanup;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		memcpy(tok, p.input, VTOK_INPUT_LEN);
		if (status != 200 ||
		    vtok_response_decode(k->type, resp, b.len, &r) != 0 ||
		    voprf_finalize(k->g, k->pk, k->g->ne, 1, inputs, lens,
				   p.blind, p.req + 3, r.evaluated, r.proof,
				   2 * k->sz->ns, tok + VTOK_INPUT_LEN,
				   k->sz->nk) != 0) {
			j->err = "a token response was refused or its proof "
				 "does not verify";
			goto cleanup;
		}
		if (b64_encode(tok, VTOK_INPUT_LEN + k->sz->nk, line, j->width,
			       &n) != 0 || n + 1 != j->width) {
			j->err = "base64url encoding failed";
			goto cleanup;
		}
		line[n] = '\n';
	}
cleanup:
	OPENSSL_cleanse(&p, sizeof(p));
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return NULL;
}

static int cmd_tokens(const char *base, const char *type, const char *count,
		      const char *path, const char *jobs_text)
{
	unsigned long n = parse_count(count, PPV_MAX_N), jobs = 4, i;
	struct ppv_job job[PPV_MAX_JOBS];
	pthread_t t[PPV_MAX_JOBS];
	struct ppv_key k;
	size_t width;
	char *lines;

	if (jobs_text)
		jobs = parse_count(jobs_text, PPV_MAX_JOBS);
	if (jobs > n)
		jobs = n;
	key_fetch(base, type, &k);
	width = b64_encoded_len(VTOK_INPUT_LEN + k.sz->nk) + 1;
	if (width > PPV_LINE_MAX)
		die("%s", "token line too wide");
	lines = malloc(n * width + 1);   /* + 1: b64_encode's NUL */
	if (!lines)
		die("%s", "out of memory");
	for (i = 0; i < jobs; i++) {
		job[i] = (struct ppv_job){ base, &k, n * i / jobs,
					   n * (i + 1) / jobs, lines, width,
					   NULL };
		if (pthread_create(&t[i], NULL, tokens_run, &job[i]) != 0)
			die("%s", "cannot start a thread");
	}
	for (i = 0; i < jobs; i++) {
		pthread_join(t[i], NULL);
		if (job[i].err)
			die("%s", job[i].err);
	}
	write_all(path, lines, n * width);
	free(lines);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die("%s", "curl_global_init failed");
	if (argc == 6 && strcmp(argv[1], "requests") == 0)
		rc = cmd_requests(argv[2], argv[3], argv[4], argv[5]);
	else if ((argc == 6 || argc == 7) && strcmp(argv[1], "tokens") == 0)
		rc = cmd_tokens(argv[2], argv[3], argv[4], argv[5],
				argc == 7 ? argv[6] : NULL);
	else {
		fprintf(stderr,
			"usage: ppvclient requests URL TYPE N OUTFILE\n"
			"       ppvclient tokens URL TYPE N OUTFILE [JOBS]\n");
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
