/* A Redis that stops answering for a second (DEBUG SLEEP 1) must not stall
 * the HTTP loop: with one loop thread (--threads 1), GET of the directory
 * and POST /token-request keep answering while redemptions wait for Redis,
 * and the redemptions submitted during the sleep are answered afterwards
 * (200) or after the timeout (503), never 200 without the record (redeeming
 * again answers 409). The latencies measured during the sleep are printed.
 *
 * Against a server whose Redis commands run on the loop thread, every
 * request behind a waiting redemption waits with it, and the p99 assertion
 * fails. */
#include <criterion/criterion.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/tu.h"
#include "../unit/tu_redis.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "th.h"

#define CT_REQ "Content-Type: application/private-token-request"
#define CT_JSON "Content-Type: application/json"
#define DIR_PATH "/.well-known/private-token-issuer-directory"
#define RP_TOKENS 48          /* redeemed during the sleep, at most */
#define RP_REDEEMERS 8        /* client threads redeeming during the sleep */
#define RP_SAMPLES 2000
#define RP_INTERVAL_MS 5      /* one timed request due every 5 ms */
#define RP_ATTEMPTS 3         /* sleeps measured at most (see rp_run) */

TestSuite(redis_pause, .timeout = 120, .fini = tu_leak_check);

static double rp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rp_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Issues one token (POST /token-request); returns the HTTP status and
 * fills b64 when it is 200. */
static long rp_issue(const struct th_server *s, struct th_client *c, char *b64,
		     size_t cap)
{
	struct th_resp r;
	uint8_t token[TOK_TOKEN_LEN];
	long status;

	th_client_request(c);
	if (th_http(s, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
		    c->request, sizeof(c->request), &r) != 0)
		return 0;
	status = r.status;
	if (status == 200 && b64 != NULL) {
		cr_assert_eq(th_client_finalize(c, r.body, r.len, token), 0);
		cr_assert_eq(b64_encode(token, sizeof(token), b64, cap, NULL), 0);
	}
	th_resp_free(&r);
	return status;
}

static long rp_redeem(const struct th_server *s, const char *b64)
{
	struct th_resp r;
	char json[1024];
	long status;

	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", b64);
	if (th_http(s, "POST", "/redeem", (const char *[]){ CT_JSON, NULL },
		    json, strlen(json), &r) != 0)
		return 0;
	status = r.status;
	th_resp_free(&r);
	return status;
}

static long rp_get(const struct th_server *s, const char *path)
{
	struct th_resp r;
	long status;

	if (th_http(s, "GET", path, NULL, NULL, 0, &r) != 0)
		return 0;
	status = r.status;
	th_resp_free(&r);
	return status;
}

/* ---- DEBUG SLEEP from a thread of its own ---- */

struct rp_sleeper {
	unsigned port;
	pthread_t th;
	atomic_int connected;      /* DEBUG SLEEP is about to be sent */
	double started, ended;
	int ok;
};

static void *rp_sleeper_main(void *arg)
{
	struct rp_sleeper *sl = arg;
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)sl->port, tv);
	redisReply *r;

	if (c == NULL || c->err != 0) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	sl->started = rp_now();
	atomic_store(&sl->connected, 1);
	r = redisCommand(c, "DEBUG SLEEP 1");
	sl->ended = rp_now();
	sl->ok = r != NULL && r->type == REDIS_REPLY_STATUS;
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return NULL;
}

/* ---- redemptions during the sleep ---- */

struct rp_redeemers {
	const struct th_server *s;
	char (*toks)[600];
	long first[RP_TOKENS];     /* the answer during the sleep; 0 = not sent */
	double took[RP_TOKENS];
	atomic_int next;
	double until;              /* start no redemption after this */
};

static void *rp_redeemer_main(void *arg)
{
	struct rp_redeemers *rd = arg;
	int i;

	while ((i = atomic_fetch_add(&rd->next, 1)) < RP_TOKENS) {
		double t0 = rp_now();

		if (t0 > rd->until)
			break;
		rd->first[i] = rp_redeem(rd->s, rd->toks[i]);
		rd->took[i] = rp_now() - t0;
	}
	return NULL;
}

static int rp_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* What one DEBUG SLEEP showed. */
struct rp_result {
	int n, bad, sent, ok200, ok503;
	double p50, p99, max, slept;
};

/* One DEBUG SLEEP 1 on the running server's Redis: redemptions wait for
 * it from RP_REDEEMERS threads while GET directory / POST /token-request
 * are timed. Checks every redemption's answer. */
static void rp_attempt(const struct th_server *s, struct th_client *c,
		       unsigned redis_port, struct rp_result *res)
{
	static char toks[RP_TOKENS][600];
	struct rp_sleeper sl;
	struct rp_redeemers rd;
	pthread_t rth[RP_REDEEMERS];
	double *lat, t0;
	long st;
	int i, again;
	size_t k;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < RP_TOKENS; i++)
		cr_assert_eq(rp_issue(s, c, toks[i], sizeof(toks[i])), 200);
	memset(&sl, 0, sizeof(sl));
	sl.port = redis_port;
	atomic_init(&sl.connected, 0);
	cr_assert_eq(pthread_create(&sl.th, NULL, rp_sleeper_main, &sl), 0);
	for (i = 0; i < 5000 && !atomic_load(&sl.connected); i++)
		rp_sleep_ms(1);
	rp_sleep_ms(20);            /* DEBUG SLEEP is running */
	t0 = rp_now();
	memset(&rd, 0, sizeof(rd));
	rd.s = s;
	rd.toks = toks;
	atomic_init(&rd.next, 0);
	rd.until = t0 + 0.8;
	for (i = 0; i < RP_REDEEMERS; i++)
		cr_assert_eq(pthread_create(&rth[i], NULL, rp_redeemer_main, &rd), 0);

	/* GET directory and POST /token-request, alternately, one due every
	 * RP_INTERVAL_MS until the sleep is about to end. Each latency counts
	 * from when the request was due, not from when it could be sent: a
	 * request stuck behind a stalled loop also delays the ones due after
	 * it, as it would for clients arriving at that rate (measuring from
	 * the send would hide a stall behind one slow sample). */
	lat = calloc(RP_SAMPLES, sizeof(*lat));
	cr_assert_not_null(lat);
	for (k = 0; k < RP_SAMPLES; k++) {
		double due = t0 + 0.010 + (double)k * RP_INTERVAL_MS / 1e3, now;

		if (due > t0 + 0.85)
			break;
		now = rp_now();
		if (now < due)
			rp_sleep_ms((long)((due - now) * 1e3));
		st = (res->n % 2 == 0) ? rp_get(s, DIR_PATH) : rp_issue(s, c, NULL, 0);
		lat[res->n++] = rp_now() - due;
		res->bad += st != 200;
	}
	pthread_join(sl.th, NULL);
	for (i = 0; i < RP_REDEEMERS; i++)
		pthread_join(rth[i], NULL);
	cr_assert(sl.ok, "DEBUG SLEEP failed (is the debug command enabled?)");
	qsort(lat, (size_t)res->n, sizeof(*lat), rp_cmp);
	res->p50 = lat[res->n / 2];
	res->p99 = lat[(res->n * 99) / 100];
	res->max = lat[res->n - 1];
	res->slept = sl.ended - sl.started;
	free(lat);

	/* every redemption was answered: 200 once Redis was back, or 503 */
	for (i = 0; i < RP_TOKENS; i++) {
		if (rd.first[i] == 0)
			continue;
		res->sent++;
		res->ok200 += rd.first[i] == 200;
		res->ok503 += rd.first[i] == 503;
		cr_expect(rd.first[i] == 200 || rd.first[i] == 503,
			  "redemption %d answered %ld", i, rd.first[i]);
	}
	/* never 200 without the record: the same token again is 409 */
	for (i = 0; i < RP_TOKENS; i++) {
		if (rd.first[i] != 200)
			continue;
		again = (int)rp_redeem(s, toks[i]);
		cr_expect_eq(again, 409, "token %d answered 200 during the sleep "
			     "but %d when redeemed again", i, again);
	}
	cr_expect_eq(res->bad, 0, "%d requests during the sleep were not 200",
		     res->bad);
	cr_expect_gt(res->sent, 0);
}

/* A server with one loop thread and this redis-timeout-ms. The p99 must
 * stay under 50 ms during a sleep; as this machine is shared (builds and
 * other suites take the CPUs), a sleep whose p99 missed is tried again up
 * to RP_ATTEMPTS times. A loop that waits for Redis misses by hundreds of
 * milliseconds on every attempt. */
static void rp_run(const char *timeout_ms, const char *label)
{
	static const char *const debug[] = { "--enable-debug-command", "yes", NULL };
	struct tu_redis redis;
	struct th_server s;
	struct th_client c;
	struct rp_result res;
	char port[16], warm[600];
	int i, attempt;
	size_t k;

	memset(&redis, 0, sizeof(redis));
	for (k = 0; debug[k] != NULL; k++)
		redis.extra[k] = debug[k];
	tu_redis_start(&redis);     /* AOF with everysec: the store accepts it */
	snprintf(port, sizeof(port), "%u", redis.port);
	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--spent-backend", "redis",
					      "--redis-port", port,
					      "--redis-timeout-ms", timeout_ms,
					      "--threads", "1", NULL }, NULL);
	th_client_init(&c, &s);
	for (i = 0; i < 50 && rp_get(&s, "/readyz") != 200; i++)
		rp_sleep_ms(100);
	cr_assert_eq(rp_get(&s, "/readyz"), 200, "the store never became ready");
	/* one redemption before: the connection is up and checked */
	cr_assert_eq(rp_issue(&s, &c, warm, sizeof(warm)), 200);
	cr_assert_eq(rp_redeem(&s, warm), 200);

	for (attempt = 1; attempt <= RP_ATTEMPTS; attempt++) {
		rp_attempt(&s, &c, redis.port, &res);
		fprintf(stderr, "redis_pause %s (redis-timeout-ms %s), sleep %d: %d "
			"requests (one due every %d ms) during a %.2f s DEBUG SLEEP on "
			"one loop thread: p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d "
			"redemptions sent during it: %d x 200, %d x 503\n", label,
			timeout_ms, attempt, res.n, RP_INTERVAL_MS, res.slept,
			res.p50 * 1e3, res.p99 * 1e3, res.max * 1e3, res.sent,
			res.ok200, res.ok503);
		if (res.p99 < 0.050)
			break;
		/* let whatever took the CPUs pass, and Redis catch up */
		rp_sleep_ms(500);
	}
	cr_expect_lt(res.p99, 0.050, "p99 %.1f ms during the sleep (p50 %.1f ms) "
		     "on each of %d sleeps", res.p99 * 1e3, res.p50 * 1e3,
		     RP_ATTEMPTS);

	th_client_free(&c);
	cr_expect_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
	tu_redis_free(&redis);
}

/* A timeout longer than the sleep: the redemptions wait it out and are
 * answered 200 once Redis answers. */
Test(redis_pause, loop_answers_while_redemptions_wait_for_redis)
{
	rp_run("3000", "long timeout");
}

/* A timeout shorter than the sleep: the redemptions are answered 503 after
 * it (or 200 when Redis answered in time). */
Test(redis_pause, loop_answers_while_redemptions_time_out)
{
	rp_run("300", "short timeout");
}
