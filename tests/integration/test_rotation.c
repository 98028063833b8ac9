/* Key rotation against the running server: `ppissuer keys rotate` while a
 * load of issuance requests runs (zero failures allowed), verification of
 * tokens through a key's retirement, SIGHUP reload, convergence of servers
 * sharing a data dir, and a corrupt key file. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "th.h"

#define DIR_PATH "/.well-known/private-token-issuer-directory"
#define CT_REQ "Content-Type: application/private-token-request"
#define CT_JSON "Content-Type: application/json"

TestSuite(rotation, .timeout = 180, .fini = tu_leak_check);

/* The directory as a client sees it: keys in order, with not-before. */
struct dir_key {
	uint8_t spki[1100];
	size_t len;
	long long not_before;
};

static size_t fetch_directory(const struct th_server *s, struct dir_key *out,
			      size_t cap, char *etag, size_t etag_cap)
{
	struct th_resp r;
	json_error_t jerr;
	json_t *root, *keys, *k;
	size_t i, n = 0;

	cr_assert_eq(th_http(s, "GET", DIR_PATH, NULL, NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	if (etag)
		cr_assert(th_header(&r, "ETag", etag, etag_cap));
	root = json_loadb((const char *)r.body, r.len, 0, &jerr);
	cr_assert(root);
	keys = json_object_get(root, "token-keys");
	json_array_foreach(keys, i, k) {
		const char *b64 = json_string_value(json_object_get(k, "token-key"));
		json_t *nb = json_object_get(k, "not-before");

		if (n == cap)
			break;
		cr_assert(json_is_integer(nb), "not-before must be integer seconds");
		cr_assert_eq(json_integer_value(json_object_get(k, "token-type")), 2);
		out[n].not_before = json_integer_value(nb);
		cr_assert_eq(b64_decode(b64, strlen(b64), out[n].spki, sizeof(out[n].spki),
					&out[n].len), 0);
		n++;
	}
	json_decref(root);
	th_resp_free(&r);
	return n;
}

/* RFC 9578: a client uses the first listed key whose not-before has passed. */
static const struct dir_key *choose_key(const struct dir_key *k, size_t n)
{
	long long now = (long long)time(NULL);
	size_t i;

	for (i = 0; i < n; i++)
		if (k[i].not_before <= now)
			return &k[i];
	return NULL;
}

struct load {
	const struct th_server *s;
	atomic_int stop;
	atomic_long ok, failed, bad_tokens;
	char first_fail[512];
	pthread_mutex_t lock;
	/* one token per distinct key, kept to check verification later */
	char tokens[16][600];
	uint8_t token_key[16][32];
	int ntokens;
};

static void *load_worker(void *arg)
{
	struct load *l = arg;

	while (!atomic_load(&l->stop)) {
		struct dir_key keys[8];
		struct th_client c;
		struct th_resp r;
		uint8_t token[TOK_TOKEN_LEN];
		const struct dir_key *k;
		size_t n = fetch_directory(l->s, keys, 8, NULL, 0);
		int i;

		k = choose_key(keys, n);
		cr_assert(k, "no usable key in the directory");
		th_client_from_spki(&c, k->spki, k->len);
		for (i = 0; i < 5; i++) {
			th_client_request(&c);
			if (th_http(l->s, "POST", "/token-request",
				    (const char *[]){ CT_REQ, NULL }, c.request,
				    sizeof(c.request), &r) != 0 || r.status != 200) {
				pthread_mutex_lock(&l->lock);
				if (!l->first_fail[0])
					snprintf(l->first_fail, sizeof(l->first_fail),
						 "status %ld: %.*s", r.status, (int)r.len,
						 r.body ? (const char *)r.body : "");
				pthread_mutex_unlock(&l->lock);
				atomic_fetch_add(&l->failed, 1);
			} else if (th_client_finalize(&c, r.body, r.len, token) != 0) {
				atomic_fetch_add(&l->bad_tokens, 1);
			} else {
				int j, seen = 0;

				atomic_fetch_add(&l->ok, 1);
				pthread_mutex_lock(&l->lock);
				for (j = 0; j < l->ntokens; j++)
					seen |= !memcmp(l->token_key[j], c.key_id, 32);
				if (!seen && l->ntokens < 16) {
					memcpy(l->token_key[l->ntokens], c.key_id, 32);
					b64_encode(token, sizeof(token), l->tokens[l->ntokens],
						   sizeof(l->tokens[0]), NULL);
					l->ntokens++;
				}
				pthread_mutex_unlock(&l->lock);
			}
			th_resp_free(&r);
		}
		th_client_free(&c);
	}
	return NULL;
}

/* What the store and the server's log say about keys, for a failure. */
static void dump_keys(const struct th_server *s)
{
	char *out = NULL, line[512];
	FILE *f;

	th_run((const char *[]){ "keys", "list", "--data-dir", s->data_dir, NULL }, &out);
	fprintf(stderr, "keys list at %lld:\n%s", (long long)time(NULL), out ? out : "");
	free(out);
	f = fopen(s->log, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "key") || strstr(line, "rotat"))
			fputs(line, stderr);
	if (f)
		fclose(f);
}

Test(rotation, rotations_under_load_fail_no_request)
{
	enum { W = 3, ROUNDS = 3 };
	struct th_server s;
	static struct load l;
	pthread_t t[W];
	char first_token[600];
	int i, round;
	long long t0;

	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--reload-interval", "1", "--directory-max-age", "1",
					      "--log-requests", "false", NULL }, NULL);
	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.lock, NULL);
	l.s = &s;
	for (i = 0; i < W; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, load_worker, &l), 0);
	while (atomic_load(&l.ok) < 20)
		usleep(10000);
	pthread_mutex_lock(&l.lock);
	strcpy(first_token, l.tokens[0]);
	pthread_mutex_unlock(&l.lock);

	t0 = (long long)time(NULL);
	for (round = 0; round < ROUNDS; round++) {
		struct dir_key keys[8];
		size_t n;

		th_keys_cmd(&s, (const char *[]){ "rotate", "--lead", "2s", "--overlap", "3s",
					          "--max-age", "1", NULL });
		/* the new key shows up first, with a future not-before: within
		 * a reload or two (give a slow, sanitized build on a busy
		 * machine 10 s) */
		for (i = 0; i < 100; i++) {
			usleep(100000);
			n = fetch_directory(&s, keys, 8, NULL, 0);
			if (n >= 2)
				break;
		}
		if (n < 2)
			dump_keys(&s);
		cr_assert(n >= 2, "round %d: directory lists %zu keys", round, n);
		cr_assert(keys[0].not_before > keys[1].not_before,
			  "the next key must be listed first");
		/* the first token's key verifies while retiring */
		if (round == 0)
			cr_assert_eq(th_redeem_check(&s, first_token), 200);
		usleep(2500000); /* past activation, through a reload */
	}
	/* let the last replaced keys retire (overlap 3 s + a reload) */
	sleep(5);
	atomic_store(&l.stop, 1);
	for (i = 0; i < W; i++)
		pthread_join(t[i], NULL);

	printf("rotation under load: %ld requests, %ld failed, %d keys used, %lld s\n",
	       atomic_load(&l.ok) + atomic_load(&l.failed), atomic_load(&l.failed),
	       l.ntokens, (long long)time(NULL) - t0);
	cr_assert_eq(atomic_load(&l.failed), 0, "%ld failed requests; first: %s",
		     atomic_load(&l.failed), l.first_fail);
	cr_assert_eq(atomic_load(&l.bad_tokens), 0);
	cr_assert_geq(l.ntokens, ROUNDS + 1, "tokens were issued under %d keys only",
		      l.ntokens);
	/* the first key has retired: its tokens no longer verify; the newest
	 * key's token does */
	cr_assert_eq(th_redeem_check(&s, first_token), 403);
	cr_assert_eq(th_redeem_check(&s, l.tokens[l.ntokens - 1]), 200);
	th_keys_cmd(&s, (const char *[]){ "prune", NULL });
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(rotation, sighup_reloads_and_servers_sharing_a_dir_converge)
{
	struct th_server a, b;
	struct dir_key keys[8];
	char etag_a[128], etag_b[128], etag0[128];
	const char *slow[] = { "--reload-interval", "3600", NULL };
	int i;

	th_dir_init(&a);
	th_server_start(&a, slow, NULL);
	th_dir_init(&b);
	strcpy(b.data_dir, a.data_dir);
	th_server_start(&b, (const char *[]){ "--reload-interval", "1", NULL }, NULL);
	fetch_directory(&a, keys, 8, etag0, sizeof(etag0));

	th_keys_cmd(&a, (const char *[]){ "rotate", "--lead", "1h", NULL });
	/* a only polls hourly: SIGHUP applies the change at once */
	kill(a.pid, SIGHUP);
	for (i = 0; i < 50; i++) {
		fetch_directory(&a, keys, 8, etag_a, sizeof(etag_a));
		if (strcmp(etag_a, etag0))
			break;
		usleep(20000);
	}
	cr_assert_str_neq(etag_a, etag0, "SIGHUP did not reload the key set");
	cr_assert_eq(fetch_directory(&a, keys, 8, NULL, 0), 2);
	/* b notices by itself within a few seconds and serves the same bytes */
	for (i = 0; i < 50; i++) {
		fetch_directory(&b, keys, 8, etag_b, sizeof(etag_b));
		if (!strcmp(etag_a, etag_b))
			break;
		usleep(100000);
	}
	cr_assert_str_eq(etag_a, etag_b, "servers sharing a data dir did not converge");
	cr_assert_eq(th_server_stop(&a), 0);
	cr_assert_eq(th_server_stop(&b), 0);
	th_dir_cleanup(&b);
	th_dir_cleanup(&a);
}

Test(rotation, corrupt_key_file_is_reported_and_serving_goes_on)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	struct dir_key keys[8];
	char cmd[700];
	FILE *f;
	int i, reported = 0;

	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--reload-interval", "1", NULL }, NULL);
	th_client_init(&c, &s);
	th_keys_cmd(&s, (const char *[]){ "rotate", "--lead", "1h", NULL });
	for (i = 0; i < 50 && fetch_directory(&s, keys, 8, NULL, 0) < 2; i++)
		usleep(100000);
	cr_assert_eq(fetch_directory(&s, keys, 8, NULL, 0), 2);

	/* corrupt the pending key's private key file (the newest .key file) */
	snprintf(cmd, sizeof(cmd), "ls -t %s/keys/*.key | head -1", s.data_dir);
	f = popen(cmd, "r");
	cr_assert(f);
	cr_assert(fgets(cmd, sizeof(cmd), f));
	pclose(f);
	cmd[strcspn(cmd, "\n")] = '\0';
	f = fopen(cmd, "r+");
	cr_assert(f, "cannot open %s", cmd);
	fseek(f, 40, SEEK_SET);
	fputs("garbage garbage garbage", f);
	fclose(f);
	kill(s.pid, SIGHUP);
	reported = th_log_wait(&s, "cannot be loaded now", 5000);
	cr_assert(reported, "the corrupt key was not reported in the log");
	/* a fault of a key file changes nothing clients see: the key keeps
	 * the entry it had, prepared signer included */
	cr_assert_eq(fetch_directory(&s, keys, 8, NULL, 0), 2,
		     "the key that was loaded before keeps its entry");
	th_client_request(&c);
	cr_assert_eq(th_http(&s, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     c.request, sizeof(c.request), &r), 0);
	cr_assert_eq(r.status, 200, "the server must keep serving with its other key");
	cr_assert_eq(th_client_finalize(&c, r.body, r.len, NULL), 0);
	th_resp_free(&r);
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}
