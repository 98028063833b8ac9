/* The Redis store over a real six-node Redis Cluster (tu_rcluster): records
 * spread over every master, each answered once; MOVED and ASK followed
 * while a slot migrates; a master killed with kill -9 under load while
 * redis-min-replicas is 1: the run goes on, and no token answered 0 is ever
 * accepted again. */
#include <criterion/criterion.h>
#include <hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/spent.h"
#include "tu.h"
#include "tu_rcluster.h"
#include "tu_spent.h"

static struct tu_rcluster t_rc;

static void rc_init(void)
{
	tu_rcluster_start(&t_rc);
}

static void rc_fini(void)
{
	tu_rcluster_free(&t_rc);
	tu_leak_check();
}

TestSuite(spent_cluster, .init = rc_init, .fini = rc_fini, .timeout = 90);

static double rc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rc_sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

static void rc_nonce(uint8_t n[SPENT_NONCE_LEN], uint32_t i, uint8_t salt)
{
	memset(n, salt, SPENT_NONCE_LEN);
	n[0] = (uint8_t)(i >> 24);
	n[1] = (uint8_t)(i >> 16);
	n[2] = (uint8_t)(i >> 8);
	n[3] = (uint8_t)i;
}

static struct spent_store *rc_open(int min_replicas, unsigned timeout_ms)
{
	struct spent_config cfg;
	struct spent_store *s = NULL;
	char err[256];
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = "redis";
	cfg.redis_cluster = t_rc.seeds;
	cfg.redis_prefix = "rc:";
	cfg.redis_timeout_ms = timeout_ms;
	cfg.redis_min_replicas = min_replicas;
	rc = spent_open(&cfg, &s, err, sizeof(err));
	cr_assert_eq(rc, 0, "spent_open: %s (%s)", pp_err_str(rc), err);
	return s;
}

/* The record's key name, as the store writes it. */
static void rc_key_name(const uint8_t key[32], const uint8_t nonce[32],
			char out[200])
{
	size_t off = (size_t)snprintf(out, 200, "rc:");
	int i;

	for (i = 0; i < 32; i++)
		off += (size_t)snprintf(out + off, 200 - off, "%02x", key[i]);
	out[off++] = ':';
	for (i = 0; i < 32; i++)
		off += (size_t)snprintf(out + off, 200 - off, "%02x", nonce[i]);
}

Test(spent_cluster, spreads_over_masters_and_answers_spent_afterwards)
{
	/* a replica's first WAIT acknowledgement can take a while on a busy
	 * machine: give it the time a real deployment would */
	struct spent_store *s = rc_open(-1, 5000), *other;
	struct spent_node_stats nodes[SPENT_NODES_MAX];
	struct spent_stats st;
	uint8_t key[32], nonce[32];
	uint64_t removed = 0;
	size_t n, i, masters = 0;
	uint32_t k;
	int m;

	memset(key, 0x5a, sizeof(key));
	for (k = 0; k < 300; k++) {
		rc_nonce(nonce, k, 0x11);
		cr_assert_eq(tu_spent_record(s, key, nonce, (int64_t)time(NULL) + 3600),
			     0, "token %u", k);
	}
	/* every master holds some, and answers 409 for them, from another
	 * instance too */
	for (m = 0; m < TU_RC_NODES; m++)
		if (tu_rcluster_is_master(&t_rc, m)) {
			masters++;
			cr_expect_gt(tu_rcluster_dbsize(&t_rc, m), 50, "master %d", m);
		}
	cr_expect_eq(masters, 3);
	other = rc_open(-1, 5000);
	for (k = 0; k < 300; k++) {
		rc_nonce(nonce, k, 0x11);
		cr_expect_eq(tu_spent_record(s, key, nonce, (int64_t)time(NULL) + 3600),
			     PP_ERR_SPENT, "token %u", k);
		cr_expect_eq(tu_spent_record(other, key, nonce, (int64_t)time(NULL) + 3600),
			     PP_ERR_SPENT, "token %u", k);
		cr_expect_eq(tu_spent_contains(other, key, nonce), PP_ERR_SPENT);
	}
	spent_stats_get(s, &st);
	cr_expect_eq(st.recorded, 300);
	cr_expect_eq(st.spent, 300);
	cr_expect_geq(st.waits, 1, "redis-min-replicas defaults to 1 on a cluster");
	cr_expect_eq(st.wait_failures, 0);
	cr_expect_geq(st.topology, 1);
	n = spent_nodes_get(s, nodes, SPENT_NODES_MAX);
	cr_expect_eq(n, 3, "one connection per master");
	for (i = 0; i < n && i < SPENT_NODES_MAX; i++) {
		cr_expect(nodes[i].master && nodes[i].connected, "%s", nodes[i].addr);
		cr_expect_gt(nodes[i].commands, 50, "%s", nodes[i].addr);
	}
	/* the drop sweeps every master and leaves the tombstone */
	cr_expect_eq(spent_key_dropped(other, key), 0);
	cr_expect_eq(spent_drop_key(other, key, &removed), 0);
	cr_expect_eq(removed, 300);
	cr_expect_eq(spent_key_dropped(s, key), 1);
	rc_nonce(nonce, 7, 0x11);
	cr_expect_eq(tu_spent_contains(s, key, nonce), 0);
	spent_close(other);
	spent_close(s);
}

/* A raw command on node i; the reply's text (or integer) into out. */
static void rc_cmd(int i, char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void rc_cmd(int i, char *out, size_t cap, const char *fmt, ...)
{
	struct timeval tv = { 2, 0 };
	redisContext *x = redisConnectWithTimeout("127.0.0.1",
						  (int)t_rc.node[i].port, tv);
	redisReply *r;
	va_list ap;

	cr_assert(x != NULL && x->err == 0);
	va_start(ap, fmt);
	r = redisvCommand(x, fmt, ap);
	va_end(ap);
	cr_assert_not_null(r);
	if (out != NULL) {
		if (r->type == REDIS_REPLY_INTEGER)
			snprintf(out, cap, "%lld", r->integer);
		else
			snprintf(out, cap, "%s", r->str != NULL ? r->str : "");
	}
	cr_assert(r->type != REDIS_REPLY_ERROR, "%s", r->str);
	freeReplyObject(r);
	redisFree(x);
}

Test(spent_cluster, follows_ask_and_moved_when_slot_migrates)
{
	struct spent_store *s = rc_open(0, 1000);
	struct spent_stats st;
	uint8_t key[32], nonce[32], warm[32];
	char name[200], src_id[64], dst_id[64];
	unsigned slot;
	int src, dst, i;

	memset(key, 0x6b, sizeof(key));
	rc_nonce(nonce, 1, 0x22);
	rc_key_name(key, nonce, name);
	slot = tu_rcluster_slot(name, strlen(name));
	src = tu_rcluster_master_of(&t_rc, slot);
	cr_assert_geq(src, 0);
	for (dst = 0; dst < TU_RC_NODES; dst++)
		if (dst != src && tu_rcluster_is_master(&t_rc, dst))
			break;
	cr_assert_lt(dst, TU_RC_NODES);
	/* the store knows the topology */
	rc_nonce(warm, 99, 0x23);
	cr_assert_eq(tu_spent_record(s, key, warm, (int64_t)time(NULL) + 3600), 0);

	rc_cmd(src, src_id, sizeof(src_id), "CLUSTER MYID");
	rc_cmd(dst, dst_id, sizeof(dst_id), "CLUSTER MYID");
	rc_cmd(dst, NULL, 0, "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id);
	rc_cmd(src, NULL, 0, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id);
	/* absent on the source: ASK to the target, after ASKING */
	cr_expect_eq(tu_spent_record(s, key, nonce, (int64_t)time(NULL) + 3600), 0);
	spent_stats_get(s, &st);
	cr_expect_geq(st.ask, 1);
	/* the slot moves for good: the store still sends to the source, which
	 * answers MOVED; the record is on the target, so 409 */
	for (i = 0; i < TU_RC_NODES; i++)
		if (tu_rcluster_is_master(&t_rc, i))
			rc_cmd(i, NULL, 0, "CLUSTER SETSLOT %u NODE %s", slot, dst_id);
	cr_expect_eq(tu_spent_record(s, key, nonce, (int64_t)time(NULL) + 3600),
		     PP_ERR_SPENT);
	spent_stats_get(s, &st);
	cr_expect_geq(st.moved, 1);
	cr_expect_eq(st.unavailable, 0);
	cr_expect_eq(tu_spent_contains(s, key, nonce), PP_ERR_SPENT);
	spent_close(s);
}

/* ---- failover under load ---- */

/* paced (1 ms between a thread's requests, about 8,000/s in all): enough
 * tokens for the checks without starving the suites beside this one */
#define RC_LOAD_THREADS 8
#define RC_MAX_TOKENS 400000u

struct rc_load {
	struct spent_store *s;
	atomic_int stop;
	atomic_uint next;
	int8_t *rc;          /* per token: 1 ok, 2 spent, 3 unavailable */
	double *at;          /* per token: when answered (monotonic) */
};

static void *rc_load_main(void *arg)
{
	struct rc_load *l = arg;
	uint8_t key[32], nonce[32];

	memset(key, 0x7c, sizeof(key));
	while (!atomic_load(&l->stop)) {
		uint32_t i = atomic_fetch_add(&l->next, 1);
		int rc;

		if (i >= RC_MAX_TOKENS)
			break;
		rc_nonce(nonce, i, 0x33);
		rc = tu_spent_record(l->s, key, nonce, (int64_t)time(NULL) + 3600);
		l->at[i] = rc_now();
		l->rc[i] = (int8_t)(rc == 0 ? 1 : rc == PP_ERR_SPENT ? 2 : 3);
		rc_sleep_ms(1);
	}
	return NULL;
}

struct rc_verify {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned answered, spent, again;
};

static void rc_verify_done(void *arg, int rc)
{
	struct rc_verify *v = arg;

	pthread_mutex_lock(&v->mu);
	v->answered++;
	if (rc == PP_ERR_SPENT)
		v->spent++;
	else if (rc == 0)
		v->again++;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
}

/* kill -9 of the master of slot 0 under load: with min_replicas 1 the dead
 * node is restarted after 2.5 s (it rejoins as its promoted replica's
 * replica, so WAIT 1 can succeed there again); with 0 it stays dead.
 * Prints the 503s per half second and the recovery; checks no false 409,
 * no 503 later than 6 s after the kill, and (must_keep) that every 0 is
 * refused afterwards. */
static void rc_failover(int min_replicas, int restart, int must_keep)
{
	struct rc_load l;
	struct rc_verify v;
	pthread_t th[RC_LOAD_THREADS];
	struct spent_store *check;
	uint8_t key[32], nonce[32];
	unsigned ok = 0, spent = 0, unavail = 0, i, n, submitted = 0, unavail_after = 0;
	double t_kill, first_bad = 0, last_bad = 0;
	int victim;

	memset(&l, 0, sizeof(l));
	l.s = rc_open(min_replicas, 500);
	l.rc = calloc(RC_MAX_TOKENS, sizeof(*l.rc));
	l.at = calloc(RC_MAX_TOKENS, sizeof(*l.at));
	cr_assert(l.rc != NULL && l.at != NULL);
	for (i = 0; i < RC_LOAD_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, rc_load_main, &l), 0);
	rc_sleep_ms(1000);
	victim = tu_rcluster_master_of(&t_rc, 0);
	cr_assert_geq(victim, 0);
	t_kill = rc_now();
	tu_redis_signal(&t_rc.node[victim], SIGKILL);
	/* the replica takes over (node timeout 1 s); then the dead node comes
	 * back as its replica, so WAIT 1 can succeed there again */
	rc_sleep_ms(2500);
	if (restart)
		tu_redis_start(&t_rc.node[victim]);
	while (rc_now() < t_kill + 7.0)
		rc_sleep_ms(100);
	atomic_store(&l.stop, 1);
	for (i = 0; i < RC_LOAD_THREADS; i++)
		pthread_join(th[i], NULL);
	n = atomic_load(&l.next);
	if (n > RC_MAX_TOKENS)
		n = RC_MAX_TOKENS;
	for (i = 0; i < n; i++) {
		if (l.rc[i] == 1)
			ok++;
		else if (l.rc[i] == 2)
			spent++;
		else if (l.rc[i] == 3) {
			unavail++;
			if (first_bad == 0 || l.at[i] < first_bad)
				first_bad = l.at[i];
			if (l.at[i] > last_bad)
				last_bad = l.at[i];
			if (l.at[i] > t_kill + 6.0)
				unavail_after++;
		}
	}
	{
		unsigned b[20] = { 0 }, okb[20] = { 0 };
		char line[400];
		size_t off = 0;
		int j;

		for (i = 0; i < n; i++) {
			int k = (int)((l.at[i] - t_kill + 1.0) * 2);

			if (l.at[i] == 0 || k < 0 || k >= 20)
				continue;
			if (l.rc[i] == 3)
				b[k]++;
			else if (l.rc[i] == 1)
				okb[k]++;
		}
		for (j = 0; j < 20; j++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %u/%u",
						okb[j], b[j]);
		fprintf(stderr, "spent_cluster failover (min-replicas %d): 0/503 per "
			"0.5 s from -1 s:%s\n", min_replicas, line);
	}
	fprintf(stderr, "spent_cluster failover (min-replicas %d): %u requests, %u "
		"answered 0, %u 409, %u 503; 503s from %.2f s to %.2f s after the "
		"kill -9\n", min_replicas, n, ok, spent,
		unavail, first_bad > 0 ? first_bad - t_kill : 0.0,
		last_bad > 0 ? last_bad - t_kill : 0.0);
	cr_expect_eq(spent, 0, "every token is new: no false 409");
	cr_expect_gt(ok, 500);
	cr_expect_eq(unavail_after, 0, "the run recovered within 6 s");
	spent_close(l.s);

	/* every token answered 0 is refused now: none of those spends was lost */
	cr_assert(tu_rcluster_wait_ok(&t_rc, 15.0));
	check = rc_open(0, 2000);
	memset(&v, 0, sizeof(v));
	pthread_mutex_init(&v.mu, NULL);
	pthread_cond_init(&v.cv, NULL);
	memset(key, 0x7c, sizeof(key));
	for (i = 0; i < n; i++) {
		if (l.rc[i] != 1)
			continue;
		rc_nonce(nonce, i, 0x33);
		cr_assert_eq(spent_contains_submit(check, key, nonce, rc_verify_done, &v), 0);
		submitted++;
		if (submitted % 2000 == 0) {
			pthread_mutex_lock(&v.mu);
			while (v.answered < submitted)
				pthread_cond_wait(&v.cv, &v.mu);
			pthread_mutex_unlock(&v.mu);
		}
	}
	pthread_mutex_lock(&v.mu);
	while (v.answered < submitted)
		pthread_cond_wait(&v.cv, &v.mu);
	pthread_mutex_unlock(&v.mu);
	fprintf(stderr, "spent_cluster failover (min-replicas %d): %u of %u "
		"acknowledged spends found afterwards, %u lost\n", min_replicas,
		v.spent, submitted, v.again);
	if (must_keep) {
		cr_expect_eq(v.again, 0, "acknowledged spends lost");
		cr_expect_eq(v.spent, submitted);
	}
	spent_close(check);
	pthread_cond_destroy(&v.cv);
	pthread_mutex_destroy(&v.mu);
	free(l.rc);
	free(l.at);
}

Test(spent_cluster, loses_no_acknowledged_spend_when_master_killed_under_load)
{
	rc_failover(1, 1, 1);
}

/* Without WAIT the promoted replica serves at once, with no replica of its
 * own; what the replica had not received when the master died is lost
 * (counted, not asserted: on one machine it is usually nothing). */
Test(spent_cluster, measures_failover_when_min_replicas_zero)
{
	rc_failover(0, 0, 0);
}

/* redis-cli --cluster reshard moves 1000 slots (and their records) between
 * two masters while redemptions run: MOVED and ASK are followed, no answer
 * is wrong (no false 409; every 0 is refused afterwards, from a fresh
 * store). */
Test(spent_cluster, answers_rightly_when_resharded_under_load)
{
	struct rc_load l;
	struct rc_verify v;
	pthread_t th[RC_LOAD_THREADS];
	struct spent_store *check;
	struct spent_stats st;
	uint8_t key[32], nonce[32];
	char cmd[512], src_id[64], dst_id[64];
	unsigned ok = 0, spent = 0, unavail = 0, i, n, submitted = 0;
	int src, dst, rc;

	src = tu_rcluster_master_of(&t_rc, 0);
	dst = tu_rcluster_master_of(&t_rc, 16383);
	cr_assert(src >= 0 && dst >= 0 && src != dst);
	rc_cmd(src, src_id, sizeof(src_id), "CLUSTER MYID");
	rc_cmd(dst, dst_id, sizeof(dst_id), "CLUSTER MYID");
	memset(&l, 0, sizeof(l));
	l.s = rc_open(1, 1000);
	l.rc = calloc(RC_MAX_TOKENS, sizeof(*l.rc));
	l.at = calloc(RC_MAX_TOKENS, sizeof(*l.at));
	cr_assert(l.rc != NULL && l.at != NULL);
	for (i = 0; i < RC_LOAD_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, rc_load_main, &l), 0);
	rc_sleep_ms(500);
	snprintf(cmd, sizeof(cmd), "redis-cli --cluster reshard 127.0.0.1:%u "
		 "--cluster-from %s --cluster-to %s --cluster-slots 1000 "
		 "--cluster-yes --cluster-pipeline 100 >%s/reshard.log 2>&1 </dev/null",
		 t_rc.node[src].port, src_id, dst_id, t_rc.node[0].dir);
	rc = system(cmd);
	cr_expect_eq(rc, 0, "reshard failed (see %s/reshard.log)", t_rc.node[0].dir);
	rc_sleep_ms(500);
	atomic_store(&l.stop, 1);
	for (i = 0; i < RC_LOAD_THREADS; i++)
		pthread_join(th[i], NULL);
	n = atomic_load(&l.next);
	if (n > RC_MAX_TOKENS)
		n = RC_MAX_TOKENS;
	for (i = 0; i < n; i++) {
		if (l.rc[i] == 1)
			ok++;
		else if (l.rc[i] == 2)
			spent++;
		else if (l.rc[i] == 3)
			unavail++;
	}
	spent_stats_get(l.s, &st);
	fprintf(stderr, "spent_cluster reshard: %u requests, %u answered 0, %u 409, "
		"%u 503; %llu MOVED, %llu ASK\n", n, ok, spent, unavail,
		(unsigned long long)st.moved, (unsigned long long)st.ask);
	cr_expect_eq(spent, 0, "every token is new: no false 409");
	cr_expect_gt(st.moved + st.ask, 0, "the slots moved while it ran");
	spent_close(l.s);

	check = rc_open(0, 2000);
	memset(&v, 0, sizeof(v));
	pthread_mutex_init(&v.mu, NULL);
	pthread_cond_init(&v.cv, NULL);
	memset(key, 0x7c, sizeof(key));
	for (i = 0; i < n; i++) {
		if (l.rc[i] != 1)
			continue;
		rc_nonce(nonce, i, 0x33);
		cr_assert_eq(spent_contains_submit(check, key, nonce, rc_verify_done, &v), 0);
		submitted++;
		if (submitted % 2000 == 0) {
			pthread_mutex_lock(&v.mu);
			while (v.answered < submitted)
				pthread_cond_wait(&v.cv, &v.mu);
			pthread_mutex_unlock(&v.mu);
		}
	}
	pthread_mutex_lock(&v.mu);
	while (v.answered < submitted)
		pthread_cond_wait(&v.cv, &v.mu);
	pthread_mutex_unlock(&v.mu);
	cr_expect_eq(v.again, 0, "acknowledged spends lost");
	cr_expect_eq(v.spent, submitted);
	spent_close(check);
	pthread_cond_destroy(&v.cv);
	pthread_mutex_destroy(&v.mu);
	free(l.rc);
	free(l.at);
}
