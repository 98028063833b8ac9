/* ppgclient: the gate benchmark's client, on the project's own client code
 * (crypto/authhdr.h, bsig.h, spki.h, token.h, b64.h).
 *
 *   ppgclient tokens GATE_URL ISSUER_URL N OUTFILE [JOBS]
 *       GETs GATE_URL (e.g. http://127.0.0.1:8090/gate, or a page behind
 *       nginx) without credentials, which must answer 401 with a
 *       PrivateToken challenge of type 0x0002; then N tokens made for that
 *       challenge (its token-key, its TokenChallenge digest), issued by
 *       ISSUER_URL/token-request, finalized and verified here, written as
 *       padded base64url, one per line of PPG_TOKEN_LINE bytes (the same
 *       lines as `ppclient tokens`). JOBS threads (default 4), each with its
 *       own keep-alive connection to the issuer.
 *
 * With PPGCLIENT_BEARER set, token requests carry Authorization: Bearer
 * with its value (an issuer with attesters registered). Exits 0 on success,
 * 1 with a message on stderr otherwise: any failed or non-200 issuance, or
 * a gate that does not challenge for type 2, fails the whole command. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/authhdr.h"
#include "crypto/b64.h"
#include "crypto/bsig.h"
#include "crypto/spki.h"
#include "crypto/token.h"

#define PPG_MAX_N 10000000UL
#define PPG_MAX_JOBS 64
#define PPG_HDR_CAP 8192            /* the gate's WWW-Authenticate value */
#define PPG_CH_MAX 1024             /* a TokenChallenge */
#define PPG_CHALLENGES 8
#define PPG_RESP_CAP 1024           /* token response body */
#define PPG_B64_TOKEN 472           /* padded base64 of 354 bytes */
#define PPG_TOKEN_LINE (PPG_B64_TOKEN + 1)

struct ppg_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* What the gate's challenge gives the client. */
struct ppg_challenge {
	uint8_t spki[SPKI_MAX_LEN];
	size_t spki_len;
	uint8_t key_id[SPKI_KEY_ID_LEN];
	uint8_t digest[TOK_DIGEST_LEN];  /* SHA-256 of the TokenChallenge */
};

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ppgclient: ");
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
	struct ppg_buf *b = ud;
	size_t n = size * nmemb;

	if (n > b->cap - b->len)
		return 0;
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	return n;
}

static size_t on_discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

/* Keeps the WWW-Authenticate header's value (the last one, NUL-terminated,
 * line end dropped). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	static const char name[] = "WWW-Authenticate:";
	struct ppg_buf *b = ud;
	size_t n = size * nmemb, v;

	if (n > sizeof(name) - 1 && !strncasecmp(ptr, name, sizeof(name) - 1)) {
		v = sizeof(name) - 1;
		while (v < n && (ptr[v] == ' ' || ptr[v] == '\t'))
			v++;
		while (n > v && (ptr[n - 1] == '\r' || ptr[n - 1] == '\n'))
			n--;
		if (n - v >= b->cap)
			return 0;
		memcpy(b->p, ptr + v, n - v);
		b->p[n - v] = '\0';
		b->len = n - v;
	}
	return size * nmemb;
}

/* GET the gate without credentials and keep its type-2 challenge. */
static void challenge_fetch(const char *gate_url, struct ppg_challenge *out)
{
	static uint8_t hdr[PPG_HDR_CAP];
	struct ppg_buf h = { hdr, 0, sizeof(hdr) };
	struct ah_challenge c[PPG_CHALLENGES];
	uint8_t ch[PPG_CH_MAX];
	struct tok_challenge tc;
	CURL *curl = curl_easy_init();
	size_t n = 0, i, ch_len;
	long status = 0;

	memset(out, 0, sizeof(*out));
	if (!curl)
		die("%s", "out of memory");
	curl_easy_setopt(curl, CURLOPT_URL, gate_url);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_discard);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
	if (curl_easy_perform(curl) != CURLE_OK)
		die("cannot fetch %s", gate_url);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (status != 401 || h.len == 0)
		die("%s answered %ld%s, not 401 with a challenge", gate_url, status,
		    h.len ? "" : " without WWW-Authenticate");
	if (ah_parse_www_authenticate((const char *)hdr, h.len, c, PPG_CHALLENGES, &n) != 0)
		die("cannot parse the challenge: %s", (const char *)hdr);
	for (i = 0; i < n; i++) {
		if (b64_decode(c[i].challenge, c[i].challenge_len, ch, sizeof(ch),
			       &ch_len) != 0 ||
		    tok_challenge_decode(ch, ch_len, &tc) != 0)
			die("a challenge does not decode: %s", (const char *)hdr);
		if (tc.token_type != TOK_TYPE_BLIND_RSA)
			continue;
		if (b64_decode(c[i].token_key, c[i].token_key_len, out->spki,
			       sizeof(out->spki), &out->spki_len) != 0)
			die("the type-2 token-key does not decode: %s", (const char *)hdr);
		spki_key_id(out->spki, out->spki_len, out->key_id);
		SHA256(ch, ch_len, out->digest);
		return;
	}
	die("no challenge for token type 2: %s", (const char *)hdr);
}

static EVP_PKEY *key_public(const struct ppg_challenge *k)
{
	EVP_PKEY *pk = NULL;

	if (spki_decode(k->spki, k->spki_len, &pk) != 0)
		die("%s", "the token-key is not in RFC 9578 form");
	return pk;
}

/* ---- JOBS threads, each issuing its own slice ---- */

struct ppg_job {
	pthread_t th;
	const char *url;
	const char *auth;              /* "Authorization: Bearer ..." or NULL */
	const struct ppg_challenge *ch;
	char *out;                     /* this slice's first line */
	unsigned long n;
	int failed;
	char why[160];
};

static void *job_run(void *arg)
{
	struct ppg_job *j = arg;
	uint8_t nonce[TOK_NONCE_LEN], input[TOK_INPUT_LEN], inv[TOK_NK];
	uint8_t blinded[TOK_NK], req[TOK_REQUEST_LEN], sig[TOK_NK];
	uint8_t token[TOK_TOKEN_LEN], body[PPG_RESP_CAP];
	struct ppg_buf b = { body, 0, sizeof(body) };
	struct curl_slist *hl = NULL;
	EVP_PKEY *pk = key_public(j->ch); /* one per thread: nothing shared */
	CURL *c = curl_easy_init();
	unsigned long i;
	size_t enc_len;

	hl = curl_slist_append(hl, "Content-Type: application/private-token-request");
	hl = curl_slist_append(hl, "Expect:");
	if (j->auth)
		hl = curl_slist_append(hl, j->auth);
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

		if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
			snprintf(j->why, sizeof(j->why), "RAND_bytes failed");
			j->failed = 1;
			break;
		}
		tok_token_input(TOK_TYPE_BLIND_RSA, nonce, j->ch->digest, j->ch->key_id, input);
		if (bsig_blind(pk, BSIG_SHA384_PSS_DETERMINISTIC, input, TOK_INPUT_LEN,
			       NULL, NULL, 0, blinded, inv, sizeof(blinded)) != 0) {
			snprintf(j->why, sizeof(j->why), "blinding failed");
			j->failed = 1;
			break;
		}
		tok_request_encode(spki_truncated_id(j->ch->key_id), blinded, req);
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
		if (b64_encode(token, sizeof(token), j->out + i * PPG_TOKEN_LINE,
			       PPG_B64_TOKEN + 1, &enc_len) != 0 ||
		    enc_len != PPG_B64_TOKEN) {
			snprintf(j->why, sizeof(j->why), "base64 encoding failed");
			j->failed = 1;
			break;
		}
		j->out[i * PPG_TOKEN_LINE + PPG_B64_TOKEN] = '\n';
	}
cleanup:
	OPENSSL_cleanse(inv, sizeof(inv));
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	EVP_PKEY_free(pk);
	return NULL;
}

static void write_all(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		die("cannot create %s", path);
	if (fwrite(p, 1, len, f) != len || fclose(f) != 0)
		die("cannot write %s", path);
}

static int cmd_tokens(const char *gate_url, const char *issuer, const char *count,
		      const char *path, const char *jobs_s)
{
	unsigned long n = parse_count(count, PPG_MAX_N), done = 0, i;
	unsigned long jobs = jobs_s ? parse_count(jobs_s, PPG_MAX_JOBS) : 4;
	const char *bearer = getenv("PPGCLIENT_BEARER");
	struct ppg_challenge ch;
	struct ppg_job *js;
	char url[1024], auth[512], *out;
	int failed = 0;

	if (jobs > n)
		jobs = n;
	challenge_fetch(gate_url, &ch);
	snprintf(url, sizeof(url), "%s/token-request", issuer);
	if (bearer && bearer[0])
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
	/* one extra byte: b64_encode writes its NUL past the last line */
	out = malloc(n * PPG_TOKEN_LINE + 1);
	js = calloc(jobs, sizeof(*js));
	if (!out || !js)
		die("%s", "out of memory");
	for (i = 0; i < jobs; i++) {
		unsigned long lo = n * i / jobs, hi = n * (i + 1) / jobs;

		js[i].url = url;
		js[i].auth = bearer && bearer[0] ? auth : NULL;
		js[i].ch = &ch;
		js[i].out = out + lo * PPG_TOKEN_LINE;
		js[i].n = hi - lo;
		if (pthread_create(&js[i].th, NULL, job_run, &js[i]) != 0)
			die("%s", "cannot start a thread");
	}
	for (i = 0; i < jobs; i++) {
		pthread_join(js[i].th, NULL);
		if (js[i].failed && !failed) {
			fprintf(stderr, "ppgclient: %s\n", js[i].why);
			failed = 1;
		}
		done += js[i].n;
	}
	OPENSSL_cleanse(auth, sizeof(auth));
	if (failed)
		exit(1);
	write_all(path, out, done * PPG_TOKEN_LINE);
	free(out);
	free(js);
	printf("%lu tokens for the gate's challenge issued, finalized and verified; "
	       "written to %s\n", done, path);
	return 0;
}

_Noreturn static void usage(void)
{
	fprintf(stderr, "usage: ppgclient tokens GATE_URL ISSUER_URL N OUTFILE [JOBS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 6 || argc > 7 || strcmp(argv[1], "tokens"))
		usage();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		die("%s", "curl_global_init failed");
	rc = cmd_tokens(argv[2], argv[3], argv[4], argv[5], argc == 7 ? argv[6] : NULL);
	curl_global_cleanup();
	return rc;
}
