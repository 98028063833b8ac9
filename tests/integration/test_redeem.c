/* POST /redeem over real HTTP against the real server, with the embedded
 * LMDB store and with a real redis-server: every answer, concurrency, crash
 * durability (SIGKILL under load), and a two-server fleet. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "../unit/tu_redis.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "th.h"

#define CT_JSON "Content-Type: application/json"

TestSuite(redeem, .timeout = 120, .fini = tu_leak_check);

static const char *str(json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

Test(redeem, every_answer_with_the_embedded_store)
{
	struct th_server s;
	struct th_client c;
	char tok[600], json[2048], hexid[65];
	json_t *j;
	int i;

	th_dir_init(&s);
	th_server_start(&s, NULL, NULL);
	th_client_init(&c, &s);
	for (i = 0; i < 32; i++)
		snprintf(hexid + 2 * i, 3, "%02x", c.key_id[i]);

	/* valid, then spent */
	th_issue(&s, &c, tok, sizeof(tok));
	cr_assert_eq(th_redeem_token(&s, tok, &j), 200);
	cr_assert_str_eq(str(j, "result"), "valid");
	cr_assert_eq(json_integer_value(json_object_get(j, "token_type")), 2);
	cr_assert_str_eq(str(j, "token_key_id"), hexid);
	json_decref(j);
	cr_assert_eq(th_redeem_token(&s, tok, &j), 409);
	cr_assert_str_eq(str(j, "result"), "spent");
	json_decref(j);

	/* the client's Authorization header value, unpadded token */
	th_issue(&s, &c, tok, sizeof(tok));
	{
		char unpadded[600];
		size_t n = strcspn(tok, "=");

		memcpy(unpadded, tok, n);
		unpadded[n] = '\0';
		snprintf(json, sizeof(json),
			 "{\"authorization\":\"PrivateToken token=\\\"%s\\\"\"}", unpadded);
	}
	cr_assert_eq(th_redeem_json(&s, json, &j), 200);
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, json, &j), 409);
	json_decref(j);

	/* spend=false verifies without consuming */
	th_issue(&s, &c, tok, sizeof(tok));
	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"spend\":false}", tok);
	cr_assert_eq(th_redeem_json(&s, json, &j), 200);
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, json, &j), 200);
	json_decref(j);
	cr_assert_eq(th_redeem_token(&s, tok, &j), 200);
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, json, &j), 409, "spend=false must see a spent token");
	json_decref(j);

	/* bad signature: flip a byte of the authenticator */
	th_issue(&s, &c, tok, sizeof(tok));
	{
		uint8_t raw[TOK_TOKEN_LEN];
		size_t n;

		cr_assert_eq(b64_decode(tok, strlen(tok), raw, sizeof(raw), &n), 0);
		raw[200] ^= 1;
		cr_assert_eq(b64_encode(raw, n, tok, sizeof(tok), NULL), 0);
	}
	cr_assert_eq(th_redeem_token(&s, tok, &j), 403);
	cr_assert_str_eq(str(j, "result"), "invalid");
	cr_assert_str_eq(str(j, "reason"), "bad_signature");
	json_decref(j);

	/* unknown key: change the key id */
	th_issue(&s, &c, tok, sizeof(tok));
	{
		uint8_t raw[TOK_TOKEN_LEN];
		size_t n;

		cr_assert_eq(b64_decode(tok, strlen(tok), raw, sizeof(raw), &n), 0);
		raw[66] ^= 0xff;
		cr_assert_eq(b64_encode(raw, n, tok, sizeof(tok), NULL), 0);
	}
	cr_assert_eq(th_redeem_token(&s, tok, &j), 403);
	cr_assert_str_eq(str(j, "reason"), "unknown_key");
	json_decref(j);

	/* challenge: the harness's tokens name this TokenChallenge */
	{
		static const uint8_t ch[] = "\x00\x02\x00\x09localhost\x00\x00\x00";
		static const uint8_t other[] = "\x00\x02\x00\x09otherhost\x00\x00\x00";
		char chb64[64], otherb64[64];

		b64_encode(ch, sizeof(ch) - 1, chb64, sizeof(chb64), NULL);
		b64_encode(other, sizeof(other) - 1, otherb64, sizeof(otherb64), NULL);
		th_issue(&s, &c, tok, sizeof(tok));
		snprintf(json, sizeof(json), "{\"token\":\"%s\",\"challenge\":\"%s\"}", tok, otherb64);
		cr_assert_eq(th_redeem_json(&s, json, &j), 403);
		cr_assert_str_eq(str(j, "reason"), "challenge_mismatch");
		json_decref(j);
		snprintf(json, sizeof(json), "{\"token\":\"%s\",\"challenge\":\"%s\"}", tok, chb64);
		cr_assert_eq(th_redeem_json(&s, json, &j), 200);
		json_decref(j);
	}

	/* malformed input */
	cr_assert_eq(th_redeem_json(&s, "{\"token\":", &j), 400);
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, "[]", &j), 400);
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, "{\"token\":\"***\"}", &j), 400);
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, "{\"token\":\"AAIA\"}", &j), 400);
	cr_assert_str_eq(str(j, "error"), "bad_request");
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, "{\"token\":12}", &j), 400);
	json_decref(j);
	cr_assert_eq(th_redeem_json(&s, "{\"authorization\":\"Basic abc\"}", &j), 400);
	json_decref(j);
	snprintf(json, sizeof(json), "{\"token\":\"%s\",\"spend\":\"no\"}", tok);
	cr_assert_eq(th_redeem_json(&s, json, &j), 400);
	json_decref(j);
	{
		struct th_resp r;
		char big[9000];

		cr_assert_eq(th_http(&s, "POST", "/redeem",
				     (const char *[]){ "Content-Type: text/plain", NULL }, "{}", 2, &r), 0);
		cr_assert_eq(r.status, 415);
		th_resp_free(&r);
		memset(big, ' ', sizeof(big));
		cr_assert_eq(th_http(&s, "POST", "/redeem", (const char *[]){ CT_JSON, NULL },
				     big, sizeof(big), &r), 0);
		cr_assert_eq(r.status, 413);
		th_resp_free(&r);
		cr_assert_eq(th_http(&s, "GET", "/redeem", NULL, NULL, 0, &r), 0);
		cr_assert_eq(r.status, 405);
		th_resp_free(&r);
	}
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

struct race {
	const struct th_server *s;
	const char *tok;
	atomic_int ok, spent, other;
};

static void *race_one(void *arg)
{
	struct race *rc = arg;
	struct th_resp r;
	char json[1024];

	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", rc->tok);
	if (th_http(rc->s, "POST", "/redeem", (const char *[]){ CT_JSON, NULL }, json,
		    strlen(json), &r) == 0) {
		if (r.status == 200)
			atomic_fetch_add(&rc->ok, 1);
		else if (r.status == 409)
			atomic_fetch_add(&rc->spent, 1);
		else
			atomic_fetch_add(&rc->other, 1);
	} else {
		atomic_fetch_add(&rc->other, 1);
	}
	th_resp_free(&r);
	return NULL;
}

static void race_token(const struct th_server *s, const char *tok)
{
	enum { N = 24 };
	pthread_t t[N];
	struct race rc = { .s = s, .tok = tok };
	int i;

	for (i = 0; i < N; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, race_one, &rc), 0);
	for (i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&rc.ok), 1, "%d redemptions of one token succeeded",
		     atomic_load(&rc.ok));
	cr_assert_eq(atomic_load(&rc.spent), N - 1);
	cr_assert_eq(atomic_load(&rc.other), 0);
}

Test(redeem, concurrent_redemptions_of_one_token_exactly_one_wins)
{
	struct th_server s;
	struct th_client c;
	char tok[600];
	int k;

	th_dir_init(&s);
	th_server_start(&s, NULL, NULL);
	th_client_init(&c, &s);
	for (k = 0; k < 5; k++) {
		th_issue(&s, &c, tok, sizeof(tok));
		race_token(&s, tok);
	}
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* Redemptions under load, SIGKILL, restart: every acknowledged token must
 * now be spent. */
struct load {
	const struct th_server *s;
	char (*toks)[600];
	int n;
	atomic_int next;
	atomic_int acked[2000];
};

static void *load_worker(void *arg)
{
	struct load *l = arg;
	int i;

	while ((i = atomic_fetch_add(&l->next, 1)) < l->n) {
		struct th_resp r;
		char json[1024];

		snprintf(json, sizeof(json), "{\"token\":\"%s\"}", l->toks[i]);
		if (th_http(l->s, "POST", "/redeem", (const char *[]){ CT_JSON, NULL }, json,
			    strlen(json), &r) == 0 && r.status == 200)
			atomic_store(&l->acked[i], 1);
		th_resp_free(&r);
	}
	return NULL;
}

Test(redeem, acknowledged_spends_survive_sigkill)
{
	enum { N = 1500, W = 8 };
	struct th_server s;
	struct th_client c;
	static char toks[N][600];
	static struct load l;
	pthread_t t[W];
	int i, acked = 0, lost = 0, st;

	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--log-requests", "false", NULL }, NULL);
	th_client_init(&c, &s);
	for (i = 0; i < N; i++)
		th_issue(&s, &c, toks[i], sizeof(toks[i]));
	memset(&l, 0, sizeof(l));
	l.s = &s;
	l.toks = toks;
	l.n = N;
	for (i = 0; i < W; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, load_worker, &l), 0);
	/* kill once a good part of the load is through */
	while (atomic_load(&l.next) < N / 2)
		usleep(1000);
	kill(s.pid, SIGKILL);
	waitpid(s.pid, &st, 0);
	s.pid = 0;
	for (i = 0; i < W; i++)
		pthread_join(t[i], NULL);
	th_server_start(&s, (const char *[]){ "--log-requests", "false", NULL }, NULL);
	for (i = 0; i < N; i++) {
		json_t *j;

		if (!atomic_load(&l.acked[i]))
			continue;
		acked++;
		if (th_redeem_token(&s, toks[i], &j) != 409)
			lost++;
		json_decref(j);
	}
	cr_log_info("crash durability: %d acknowledged before SIGKILL, %d lost", acked, lost);
	printf("crash durability: %d acknowledged before SIGKILL, %d lost\n", acked, lost);
	cr_assert(acked > 0, "no redemption was acknowledged before the kill");
	cr_assert(acked < N, "the kill came after the load ended");
	cr_assert_eq(lost, 0, "%d acknowledged redemptions were lost", lost);
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

static void redis_env(const struct tu_redis *rd, char *port_env, size_t cap)
{
	snprintf(port_env, cap, "PPISSUER_REDIS_PORT=%u", rd->port);
}

Test(redeem, redis_fleet_shares_spends_and_fails_closed)
{
	struct tu_redis rd;
	struct th_server a, b;
	struct th_client c;
	char tok[600], port_env[64], tok2[600];
	json_t *j;

	memset(&rd, 0, sizeof(rd));
	tu_redis_start(&rd);
	redis_env(&rd, port_env, sizeof(port_env));
	th_dir_init(&a);
	th_server_start(&a, (const char *[]){ "--spent-backend", "redis", NULL },
			(const char *[]){ port_env, NULL });
	/* b shares a's data dir (keys) and the Redis */
	th_dir_init(&b);
	strcpy(b.data_dir, a.data_dir);
	th_server_start(&b, (const char *[]){ "--spent-backend", "redis", NULL },
			(const char *[]){ port_env, NULL });

	th_client_init(&c, &a);
	th_issue(&a, &c, tok, sizeof(tok));
	cr_assert_eq(th_redeem_token(&a, tok, &j), 200);
	json_decref(j);
	cr_assert_eq(th_redeem_token(&b, tok, &j), 409, "the fleet must share spends");
	json_decref(j);
	th_issue(&b, &c, tok2, sizeof(tok2));
	race_token(&b, tok2);

	/* Redis down: redemption fails closed with 503, issuance goes on */
	tu_redis_signal(&rd, SIGKILL);
	th_issue(&a, &c, tok, sizeof(tok));
	cr_assert_eq(th_redeem_token(&a, tok, &j), 503);
	cr_assert_str_eq(str(j, "result"), "unavailable");
	json_decref(j);
	th_issue(&b, &c, tok2, sizeof(tok2));
	/* back up: the same token now redeems once */
	tu_redis_start(&rd);
	{
		long st = 0;
		int tries;

		for (tries = 0; tries < 50; tries++) {
			st = th_redeem_token(&a, tok, &j);
			json_decref(j);
			if (st != 503)
				break;
			usleep(100000);
		}
		cr_assert_eq(st, 200);
	}
	{
		/* b's pooled connections died with the server: it answers 503
		 * until it has reconnected, never 200 */
		long st = 0;
		int tries;

		for (tries = 0; tries < 50; tries++) {
			st = th_redeem_token(&b, tok, &j);
			json_decref(j);
			if (st != 503)
				break;
			usleep(100000);
		}
		cr_assert_eq(st, 409);
	}

	th_client_free(&c);
	cr_assert_eq(th_server_stop(&a), 0);
	cr_assert_eq(th_server_stop(&b), 0);
	th_dir_cleanup(&b);
	th_dir_cleanup(&a);
	tu_redis_free(&rd);
}
