/* The spent-token store, both backends: the same behaviour checks run on an
 * LMDB store in a temp dir and on a Redis store backed by a private
 * redis-server; then each backend's own failure modes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/spent.h"
#include "tu.h"
#include "tu_redis.h"
#include "tu_spent.h"

#define RACE_THREADS 16

static char t_dir[64];            /* lmdb data dir of this test */
static struct tu_redis t_redis;   /* redis server of this test */

static void lmdb_init(void)
{
	snprintf(t_dir, sizeof(t_dir), "/tmp/pp-spent-XXXXXX");
	cr_assert(mkdtemp(t_dir) != NULL);
}

static void lmdb_fini(void)
{
	tu_rm_rf(t_dir);
	tu_leak_check();
}

static void redis_init(void)
{
	memset(&t_redis, 0, sizeof(t_redis));
	tu_redis_start(&t_redis);
}

static void redis_fini(void)
{
	tu_redis_free(&t_redis);
	tu_leak_check();
}

TestSuite(spent_lmdb, .init = lmdb_init, .fini = lmdb_fini, .timeout = 120);
TestSuite(spent_redis, .init = redis_init, .fini = redis_fini, .timeout = 120);
TestSuite(spent, .fini = tu_leak_check);

static int64_t t_later(void)
{
	return (int64_t)time(NULL) + 3600;
}

static double t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A key id filled with one byte, and a nonce that encodes a counter. */
static void t_key(uint8_t id[SPENT_KEY_ID_LEN], uint8_t fill)
{
	memset(id, fill, SPENT_KEY_ID_LEN);
}

static void t_nonce(uint8_t n[SPENT_NONCE_LEN], uint32_t i, uint8_t salt)
{
	memset(n, salt, SPENT_NONCE_LEN);
	n[0] = (uint8_t)(i >> 24);
	n[1] = (uint8_t)(i >> 16);
	n[2] = (uint8_t)(i >> 8);
	n[3] = (uint8_t)i;
}

static struct spent_store *t_open_cfg(const struct spent_config *cfg)
{
	struct spent_store *s = NULL;
	char err[256];
	int rc = spent_open(cfg, &s, err, sizeof(err));

	cr_assert_eq(rc, 0, "spent_open: %s (%s)", pp_err_str(rc), err);
	cr_assert_not_null(s);
	return s;
}

static void t_lmdb_cfg(struct spent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = "lmdb";
	cfg->data_dir = t_dir;
}

static void t_redis_cfg(struct spent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = "redis";
	cfg->redis_host = "127.0.0.1";
	cfg->redis_port = t_redis.port;
	cfg->redis_timeout_ms = 300;
}

static struct spent_store *t_open_lmdb(void)
{
	struct spent_config cfg;

	t_lmdb_cfg(&cfg);
	return t_open_cfg(&cfg);
}

static struct spent_store *t_open_redis(void)
{
	struct spent_config cfg;

	t_redis_cfg(&cfg);
	return t_open_cfg(&cfg);
}

/* ---- shared behaviour --------------------------------------------------- */

static void check_first_then_spent(struct spent_store *s)
{
	uint8_t k1[32], k2[32], n1[32], n2[32];
	int64_t exp = t_later();

	t_key(k1, 0x11);
	t_key(k2, 0x22);
	t_nonce(n1, 1, 0xa5);
	t_nonce(n2, 2, 0xa5);

	cr_expect_eq(tu_spent_contains(s, k1, n1), 0);
	cr_expect_eq(tu_spent_record(s, k1, n1, exp), 0);
	cr_expect_eq(tu_spent_record(s, k1, n1, exp), PP_ERR_SPENT);
	cr_expect_eq(tu_spent_record(s, k1, n1, exp), PP_ERR_SPENT);
	cr_expect_eq(tu_spent_contains(s, k1, n1), PP_ERR_SPENT);
	/* the same nonce under another key is another token */
	cr_expect_eq(tu_spent_record(s, k2, n1, exp), 0);
	cr_expect_eq(tu_spent_record(s, k2, n1, exp), PP_ERR_SPENT);
	/* another nonce under the first key */
	cr_expect_eq(tu_spent_contains(s, k1, n2), 0);
	cr_expect_eq(tu_spent_record(s, k1, n2, exp), 0);
	/* a record without an expiry is a caller bug */
	cr_expect_eq(tu_spent_record(s, k1, n2, 0), PP_ERR_ARG);
	cr_expect_eq(tu_spent_record(s, k2, n2, -5), PP_ERR_ARG);
	cr_expect_eq(tu_spent_contains(s, k2, n2), 0);
}

struct race_arg {
	struct spent_store *s;
	pthread_barrier_t *go;
	unsigned tid;
	unsigned pairs;
	unsigned rounds;
	atomic_uint *wins;     /* per pair */
	atomic_uint *others;   /* answers that were neither 0 nor SPENT */
};

static void race_pair(unsigned p, uint8_t key[32], uint8_t nonce[32])
{
	t_key(key, (uint8_t)(0x40 + p % 4));
	t_nonce(nonce, p, 0x3c);
}

/* Every thread redeems every pair (spent_submit, then waits for done),
 * each starting at a different pair so the threads collide all the time. */
static void *race_main(void *arg)
{
	struct race_arg *a = arg;
	int64_t exp = t_later();
	unsigned r, i;

	pthread_barrier_wait(a->go);
	for (r = 0; r < a->rounds; r++) {
		for (i = 0; i < a->pairs; i++) {
			unsigned p = (i + a->tid * 7 + r) % a->pairs;
			uint8_t key[32], nonce[32];
			int rc;

			race_pair(p, key, nonce);
			rc = tu_spent_record(a->s, key, nonce, exp);
			if (rc == 0)
				atomic_fetch_add(&a->wins[p], 1);
			else if (rc != PP_ERR_SPENT)
				atomic_fetch_add(a->others, 1);
		}
	}
	return NULL;
}

static void check_race(struct spent_store *s, unsigned pairs, unsigned rounds)
{
	pthread_t th[RACE_THREADS];
	struct race_arg args[RACE_THREADS];
	pthread_barrier_t go;
	atomic_uint *wins = calloc(pairs, sizeof(*wins));
	atomic_uint others = 0;
	unsigned i;

	cr_assert_not_null(wins);
	pthread_barrier_init(&go, NULL, RACE_THREADS);
	for (i = 0; i < RACE_THREADS; i++) {
		args[i] = (struct race_arg){ s, &go, i, pairs, rounds, wins, &others };
		cr_assert_eq(pthread_create(&th[i], NULL, race_main, &args[i]), 0);
	}
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);

	cr_expect_eq(atomic_load(&others), 0, "unexpected answers: %u",
		     atomic_load(&others));
	for (i = 0; i < pairs; i++)
		cr_expect_eq(atomic_load(&wins[i]), 1, "pair %u won %u times", i,
			     atomic_load(&wins[i]));
	free(wins);
}

struct fill_arg {
	struct spent_store *s;
	uint8_t key[32];
	uint8_t salt;
	uint32_t from, to;    /* nonce counters [from, to) */
	atomic_uint *bad;     /* answers other than 0 */
};

static void *fill_main(void *arg)
{
	struct fill_arg *a = arg;
	int64_t exp = t_later();
	uint32_t i;

	for (i = a->from; i < a->to; i++) {
		uint8_t nonce[32];

		t_nonce(nonce, i, a->salt);
		if (tu_spent_record(a->s, a->key, nonce, exp) != 0)
			atomic_fetch_add(a->bad, 1);
	}
	return NULL;
}

/* Records count fresh nonces under key (salt picks a nonce family) from
 * nthreads threads; all must answer 0. */
static void fill(struct spent_store *s, const uint8_t key[32], uint8_t salt,
		 uint32_t count, unsigned nthreads)
{
	pthread_t th[RACE_THREADS];
	struct fill_arg args[RACE_THREADS];
	atomic_uint bad = 0;
	unsigned i;

	cr_assert(nthreads >= 1 && nthreads <= RACE_THREADS);
	for (i = 0; i < nthreads; i++) {
		args[i].s = s;
		memcpy(args[i].key, key, 32);
		args[i].salt = salt;
		args[i].from = (uint32_t)((uint64_t)count * i / nthreads);
		args[i].to = (uint32_t)((uint64_t)count * (i + 1) / nthreads);
		args[i].bad = &bad;
		cr_assert_eq(pthread_create(&th[i], NULL, fill_main, &args[i]), 0);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&bad), 0, "%u of %u records failed",
		     atomic_load(&bad), count);
}

/* Records of the dropped key go; records of other keys, including the key
 * ids right next to it in sort order, stay. */
static void check_drop_key(struct spent_store *s, uint32_t count)
{
	uint8_t victim[32], below[32], above[32], other[32], nonce[32];
	uint64_t removed = 99;
	uint32_t i;

	t_key(victim, 0x80);
	memcpy(below, victim, 32);
	below[31] = 0x7f;
	memcpy(above, victim, 32);
	above[31] = 0x81;
	t_key(other, 0x01);

	fill(s, victim, 0x01, count, 8);
	fill(s, below, 0x01, 10, 1);
	fill(s, above, 0x01, 10, 1);
	fill(s, other, 0x01, 10, 1);

	cr_assert_eq(spent_drop_key(s, victim, &removed), 0);
	cr_expect_eq(removed, count);
	for (i = 0; i < count; i += count / 50 + 1) {
		t_nonce(nonce, i, 0x01);
		cr_expect_eq(tu_spent_contains(s, victim, nonce), 0, "nonce %u", i);
	}
	for (i = 0; i < 10; i++) {
		t_nonce(nonce, i, 0x01);
		cr_expect_eq(tu_spent_contains(s, below, nonce), PP_ERR_SPENT);
		cr_expect_eq(tu_spent_contains(s, above, nonce), PP_ERR_SPENT);
		cr_expect_eq(tu_spent_contains(s, other, nonce), PP_ERR_SPENT);
	}
	/* nothing left: a second drop removes nothing */
	cr_expect_eq(spent_drop_key(s, victim, &removed), 0);
	cr_expect_eq(removed, 0);
	/* the key's tokens could be recorded again (were it to verify) */
	t_nonce(nonce, 0, 0x01);
	cr_expect_eq(tu_spent_record(s, victim, nonce, t_later()), 0);
}

/* ---- lmdb ------------------------------------------------------------------ */

Test(spent_lmdb, records_once_when_redeemed_twice)
{
	struct spent_store *s = t_open_lmdb();

	cr_expect_str_eq(spent_backend_name(s), "lmdb");
	check_first_then_spent(s);
	spent_close(s);
}

Test(spent_lmdb, exactly_one_wins_when_threads_race)
{
	struct spent_store *s = t_open_lmdb();
	struct spent_stats st;

	check_race(s, 200, 3);
	spent_stats_get(s, &st);
	cr_expect_eq(st.requests, (uint64_t)RACE_THREADS * 200 * 3);
	cr_expect_eq(st.recorded, 200);
	cr_expect_eq(st.spent, st.requests - 200);
	cr_expect_eq(st.unavailable, 0);
	spent_close(s);
}

Test(spent_lmdb, drops_only_that_key_when_key_retired)
{
	struct spent_store *s = t_open_lmdb();

	/* more than one drop transaction's worth (10000) */
	check_drop_key(s, 12345);
	spent_close(s);
}

Test(spent_lmdb, records_survive_when_reopened)
{
	struct spent_store *s = t_open_lmdb();
	uint8_t key[32], nonce[32];
	char path[128];
	struct stat st;
	uint32_t i;

	t_key(key, 0x33);
	fill(s, key, 0x07, 300, 4);
	spent_close(s);

	snprintf(path, sizeof(path), "%s/spent", t_dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);

	s = t_open_lmdb();
	for (i = 0; i < 300; i++) {
		t_nonce(nonce, i, 0x07);
		cr_expect_eq(tu_spent_record(s, key, nonce, t_later()),
			     PP_ERR_SPENT, "nonce %u", i);
	}
	t_nonce(nonce, 300, 0x07);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	spent_close(s);
}

/* Under concurrent load the writer answers many requests per synced
 * transaction. */
Test(spent_lmdb, shares_commits_when_requests_concurrent)
{
	struct spent_store *s = t_open_lmdb();
	struct spent_stats st;
	uint8_t key[32];
	const uint32_t n = 16000;
	double t0, dt;

	t_key(key, 0x44);
	t0 = t_now();
	fill(s, key, 0x02, n, RACE_THREADS);
	dt = t_now() - t0;
	spent_stats_get(s, &st);
	cr_expect_eq(st.recorded, n);
	cr_expect_eq(st.commit_records, n);
	/* at least two records per synced commit on average; on this disk it
	 * is about eight (a sync takes long enough for the others to queue) */
	cr_expect_leq(st.commits * 2, st.commit_records,
		     "%llu commits for %llu records",
		     (unsigned long long)st.commits,
		     (unsigned long long)st.commit_records);
	cr_expect_gt(st.max_batch, 1);
	fprintf(stderr,
		"spent_lmdb group commit: %u records from %d threads in %.3f s "
		"(%.0f/s), %llu commits, %.1f records/commit, largest batch %llu\n",
		n, RACE_THREADS, dt, n / dt, (unsigned long long)st.commits,
		(double)st.commit_records / (double)(st.commits ? st.commits : 1),
		(unsigned long long)st.max_batch);
	spent_close(s);
}

/* A full map that may not grow answers "unavailable", never "valid", and
 * keeps what it had. */
Test(spent_lmdb, answers_unavailable_when_map_full)
{
	struct spent_config cfg;
	struct spent_store *s;
	struct spent_stats st;
	uint8_t key[32], nonce[32];
	uint32_t i, full_at = 0;
	int rc = 0;

	t_lmdb_cfg(&cfg);
	cfg.lmdb_map_size = 64 << 10;
	cfg.lmdb_map_max = 64 << 10;
	s = t_open_cfg(&cfg);
	t_key(key, 0x55);
	for (i = 0; i < 20000; i++) {
		t_nonce(nonce, i, 0x09);
		rc = tu_spent_record(s, key, nonce, t_later());
		if (rc != 0) {
			full_at = i;
			break;
		}
	}
	cr_assert_eq(rc, PP_ERR_UNAVAILABLE, "map never filled");
	cr_assert_gt(full_at, 10);
	/* the failed pair was not recorded; the earlier ones still are */
	cr_expect_eq(tu_spent_contains(s, key, nonce), 0);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()),
		     PP_ERR_UNAVAILABLE);
	for (i = 0; i < full_at; i++) {
		t_nonce(nonce, i, 0x09);
		cr_expect_eq(tu_spent_record(s, key, nonce, t_later()),
			     PP_ERR_SPENT, "nonce %u", i);
	}
	spent_stats_get(s, &st);
	cr_expect_eq(st.map_grows, 0);
	cr_expect_geq(st.unavailable, 2);
	/* dropping the key frees room again */
	cr_expect_eq(spent_drop_key(s, key, NULL), 0);
	t_nonce(nonce, full_at, 0x09);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	spent_close(s);
}

Test(spent_lmdb, grows_map_when_full_below_max)
{
	struct spent_config cfg;
	struct spent_store *s;
	struct spent_stats st;
	uint8_t key[32], nonce[32];
	uint32_t i;

	t_lmdb_cfg(&cfg);
	cfg.lmdb_map_size = 64 << 10;
	cfg.lmdb_map_max = 64 << 20;
	s = t_open_cfg(&cfg);
	t_key(key, 0x66);
	fill(s, key, 0x0a, 8000, 8);
	spent_stats_get(s, &st);
	cr_expect_gt(st.map_grows, 0);
	cr_expect_eq(st.unavailable, 0);
	spent_close(s);

	/* reopening with the small configured size keeps the grown map */
	s = t_open_cfg(&cfg);
	for (i = 0; i < 8000; i += 97) {
		t_nonce(nonce, i, 0x0a);
		cr_expect_eq(tu_spent_contains(s, key, nonce), PP_ERR_SPENT);
	}
	t_nonce(nonce, 8000, 0x0a);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	spent_close(s);
}

struct drain_arg {
	struct spent_store *s;
	uint8_t salt;
	uint32_t ok;          /* answers 0 before the first other answer */
	int last;             /* the answer that ended the loop */
	int late_ok;          /* a 0 after an "unavailable" */
};

static void *drain_main(void *arg)
{
	struct drain_arg *a = arg;
	uint8_t key[32], nonce[32];
	uint32_t i;

	t_key(key, 0x77);
	for (i = 0; i < 1000000; i++) {
		t_nonce(nonce, i, a->salt);
		a->last = tu_spent_record(a->s, key, nonce, t_later());
		if (a->last != 0)
			break;
		a->ok++;
	}
	/* once shut down, it stays shut */
	t_nonce(nonce, i + 1, a->salt);
	a->late_ok = tu_spent_record(a->s, key, nonce, t_later()) == 0;
	return NULL;
}

/* Shutdown under load: everything answered 0 was written, and nothing is
 * answered 0 after shutdown. */
Test(spent_lmdb, keeps_every_answered_record_when_shut_down_under_load)
{
	struct spent_store *s = t_open_lmdb();
	struct drain_arg args[8];
	pthread_t th[8];
	struct spent_stats st;
	struct timespec pause = { 0, 150 * 1000 * 1000 };
	uint8_t key[32], nonce[32];
	uint64_t total = 0;
	unsigned i;
	uint32_t j;

	for (i = 0; i < 8; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].s = s;
		args[i].salt = (uint8_t)(0xd0 + i);
		cr_assert_eq(pthread_create(&th[i], NULL, drain_main, &args[i]), 0);
	}
	nanosleep(&pause, NULL);
	spent_shutdown(s);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(args[i].last, PP_ERR_UNAVAILABLE);
		cr_expect_eq(args[i].late_ok, 0);
		total += args[i].ok;
	}
	cr_expect_gt(total, 0);
	spent_stats_get(s, &st);
	cr_expect_eq(st.recorded, total);
	spent_close(s);

	s = t_open_lmdb();
	t_key(key, 0x77);
	for (i = 0; i < 8; i++) {
		for (j = 0; j < args[i].ok; j++) {
			t_nonce(nonce, j, args[i].salt);
			cr_expect_eq(tu_spent_contains(s, key, nonce), PP_ERR_SPENT,
				     "thread %u nonce %u", i, j);
		}
	}
	spent_close(s);
}

/* ---- asynchronous submission ---- */

struct async_tally {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned answered, ok, spent, other;
	pthread_t writer;        /* the thread the callbacks ran on */
	int mixed_threads;       /* callbacks came from more than one thread */
	int seen_thread;
};

static void tally_init(struct async_tally *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
}

static void tally_destroy(struct async_tally *t)
{
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
}

static void tally_done(void *arg, int rc)
{
	struct async_tally *t = arg;

	pthread_mutex_lock(&t->mu);
	if (!t->seen_thread) {
		t->writer = pthread_self();
		t->seen_thread = 1;
	} else if (!pthread_equal(t->writer, pthread_self())) {
		t->mixed_threads = 1;
	}
	if (rc == 0)
		t->ok++;
	else if (rc == PP_ERR_SPENT)
		t->spent++;
	else
		t->other++;
	t->answered++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void tally_wait(struct async_tally *t, unsigned n)
{
	pthread_mutex_lock(&t->mu);
	while (t->answered < n)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

struct submit_arg {
	struct spent_store *s;
	struct async_tally *t;
	uint8_t salt;
	uint32_t count;
	int same_pair;     /* every request names pair 0 */
};

static void *submit_main(void *arg)
{
	struct submit_arg *a = arg;
	uint8_t key[32], nonce[32];
	uint32_t i;

	t_key(key, 0x88);
	for (i = 0; i < a->count; i++) {
		t_nonce(nonce, a->same_pair ? 0 : i, a->salt);
		cr_assert_eq(spent_submit(a->s, key, nonce, t_later(), tally_done, a->t), 0);
	}
	return NULL;
}

/* Two submitting threads (a small HTTP pool) still fill large batches: they
 * never wait for a commit. */
Test(spent_lmdb, batches_widely_when_requests_submitted)
{
	struct spent_store *s = t_open_lmdb();
	struct async_tally t;
	struct submit_arg a[2];
	struct spent_stats st;
	pthread_t th[2];
	const uint32_t per = 10000;
	double t0, dt;
	int i;

	tally_init(&t);
	t0 = t_now();
	for (i = 0; i < 2; i++) {
		a[i] = (struct submit_arg){ s, &t, (uint8_t)(0x60 + i), per, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, submit_main, &a[i]), 0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	tally_wait(&t, 2 * per);
	dt = t_now() - t0;
	cr_expect_eq(t.ok, 2 * per);
	cr_expect_eq(t.other, 0);
	cr_expect_eq(t.mixed_threads, 0, "callbacks ran on several threads");
	cr_expect(!pthread_equal(t.writer, pthread_self()));
	/* each request is counted before its callback runs; shutdown waits
	 * for the callbacks to return */
	spent_shutdown(s);
	spent_stats_get(s, &st);
	cr_expect_eq(st.recorded, 2 * per);
	cr_expect_eq(st.commit_records, 2 * per);
	cr_expect_lt(st.commits * 8, st.commit_records,
		     "%llu commits for %llu records",
		     (unsigned long long)st.commits,
		     (unsigned long long)st.commit_records);
	fprintf(stderr,
		"spent_lmdb async group commit: %u records from 2 threads in %.3f s "
		"(%.0f/s), %llu commits, %.1f records/commit, largest batch %llu\n",
		2 * per, dt, 2 * per / dt, (unsigned long long)st.commits,
		(double)st.commit_records / (double)(st.commits ? st.commits : 1),
		(unsigned long long)st.max_batch);
	spent_close(s);
	tally_destroy(&t);
}

Test(spent_lmdb, one_submission_wins_when_pair_repeated)
{
	struct spent_store *s = t_open_lmdb();
	struct async_tally t;
	struct submit_arg a[4];
	pthread_t th[4];
	int i;

	tally_init(&t);
	for (i = 0; i < 4; i++) {
		a[i] = (struct submit_arg){ s, &t, 0x01, 500, 1 };
		cr_assert_eq(pthread_create(&th[i], NULL, submit_main, &a[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	tally_wait(&t, 2000);
	cr_expect_eq(t.ok, 1);
	cr_expect_eq(t.spent, 1999);
	cr_expect_eq(t.other, 0);
	spent_close(s);
	tally_destroy(&t);
}

/* Shutdown returns only after every submitted request was answered; later
 * submissions are refused at once. */
Test(spent_lmdb, answers_every_submission_when_shut_down)
{
	struct spent_store *s = t_open_lmdb();
	struct async_tally t;
	struct submit_arg a = { s, NULL, 0x02, 3000, 0 };
	uint8_t key[32], nonce[32];

	tally_init(&t);
	a.t = &t;
	submit_main(&a);
	spent_shutdown(s);
	pthread_mutex_lock(&t.mu);
	cr_expect_eq(t.answered, 3000);
	cr_expect_eq(t.ok, 3000);
	pthread_mutex_unlock(&t.mu);

	t_key(key, 0x88);
	t_nonce(nonce, 99999, 0x02);
	cr_expect_eq(spent_submit(s, key, nonce, t_later(), tally_done, &t), 0);
	pthread_mutex_lock(&t.mu);
	cr_expect_eq(t.answered, 3001);
	cr_expect_eq(t.other, 1);
	pthread_mutex_unlock(&t.mu);
	cr_expect_eq(spent_submit(s, key, nonce, 0, tally_done, &t), PP_ERR_ARG);
	cr_expect_eq(spent_submit(s, key, nonce, t_later(), NULL, &t), PP_ERR_ARG);
	spent_close(s);

	/* and they are on disk */
	s = t_open_lmdb();
	t_nonce(nonce, 2999, 0x02);
	cr_expect_eq(tu_spent_contains(s, key, nonce), PP_ERR_SPENT);
	spent_close(s);
	tally_destroy(&t);
}

/* Interleaved expired and live records, more than one purge transaction's
 * worth (50000): only the expired ones go. */
Test(spent_lmdb, purges_only_expired_when_asked)
{
	struct spent_store *s = t_open_lmdb();
	struct async_tally t;
	uint8_t key[32], nonce[32];
	uint64_t removed = 0;
	const uint32_t n = 60000;
	uint32_t i;

	tally_init(&t);
	t_key(key, 0x4e);
	for (i = 0; i < n; i++) {
		t_nonce(nonce, i, 0x11);
		/* even: expired long ago; odd: live */
		cr_assert_eq(spent_submit(s, key, nonce, i % 2 ? t_later() : 1000,
					  tally_done, &t), 0);
	}
	tally_wait(&t, n);
	cr_assert_eq(t.ok, n);

	cr_assert_eq(spent_purge_expired(s, (int64_t)time(NULL), &removed), 0);
	cr_expect_eq(removed, n / 2);
	for (i = 0; i < n; i += 7) {
		t_nonce(nonce, i, 0x11);
		cr_expect_eq(tu_spent_contains(s, key, nonce), i % 2 ? PP_ERR_SPENT : 0,
			     "nonce %u", i);
	}
	cr_expect_eq(spent_purge_expired(s, (int64_t)time(NULL), &removed), 0);
	cr_expect_eq(removed, 0);
	/* an empty store purges nothing */
	cr_expect_eq(spent_drop_key(s, key, &removed), 0);
	cr_expect_eq(removed, n / 2);
	cr_expect_eq(spent_purge_expired(s, (int64_t)time(NULL), &removed), 0);
	cr_expect_eq(removed, 0);
	spent_close(s);
	tally_destroy(&t);
}

Test(spent_lmdb, refuses_when_directory_unusable)
{
	struct spent_config cfg;
	struct spent_store *s = (struct spent_store *)1;
	char err[256], path[128];
	int rc;

	/* a data directory that does not exist */
	t_lmdb_cfg(&cfg);
	snprintf(path, sizeof(path), "%s/missing", t_dir);
	cfg.data_dir = path;
	rc = spent_open(&cfg, &s, err, sizeof(err));
	cr_expect_eq(rc, PP_ERR_IO);
	cr_expect_null(s);
	cr_expect(strstr(err, "missing/spent") != NULL, "err: %s", err);

	/* a spent directory others can read */
	snprintf(path, sizeof(path), "%s/spent", t_dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(chmod(path, 0755), 0);
	t_lmdb_cfg(&cfg);
	rc = spent_open(&cfg, &s, err, sizeof(err));
	cr_expect_eq(rc, PP_ERR_PERM);
	cr_expect(strstr(err, "chmod 700") != NULL, "err: %s", err);

	/* no data directory at all */
	t_lmdb_cfg(&cfg);
	cfg.data_dir = NULL;
	rc = spent_open(&cfg, &s, err, sizeof(err));
	cr_expect_eq(rc, PP_ERR_CONFIG);
	cr_expect(err[0] != '\0');
}

/* ---- health, tombstones, purge with a predicate (lmdb) -------------------- */

/* Waits up to secs for the store's health to be want. */
static void t_wait_health(struct spent_store *s, int want, double secs)
{
	struct spent_health h;
	double t0 = t_now();

	for (;;) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };

		spent_health_get(s, &h);
		if (h.healthy == want)
			return;
		if (t_now() - t0 > secs)
			break;
		nanosleep(&pause, NULL);
	}
	cr_assert_fail("store health stayed %d (%s: %s)", h.healthy,
		       spent_cause_name(h.cause), h.message);
}

/* A full map at its maximum: unhealthy with cause map_full and a message
 * that says what to do; the map never grew past the maximum; a drop that
 * frees records makes it healthy again. */
Test(spent_lmdb, reports_map_full_and_never_grows_past_max)
{
	struct spent_config cfg;
	struct spent_store *s;
	struct spent_health h;
	struct spent_stats st;
	uint8_t key[32], nonce[32];
	char path[128];
	struct stat fst;
	uint32_t i;
	int rc = 0;

	t_lmdb_cfg(&cfg);
	cfg.lmdb_map_size = 64 << 10;
	cfg.lmdb_map_max = 256 << 10;
	s = t_open_cfg(&cfg);
	spent_health_get(s, &h);
	cr_expect_eq(h.healthy, 1);
	cr_expect_str_eq(h.backend, "lmdb");
	t_key(key, 0x5a);
	for (i = 0; i < 100000 && rc == 0; i++) {
		t_nonce(nonce, i, 0x0b);
		rc = tu_spent_record(s, key, nonce, t_later());
	}
	cr_assert_eq(rc, PP_ERR_UNAVAILABLE, "map never filled");
	spent_stats_get(s, &st);
	/* 64 KiB -> 128 KiB -> 224 KiB (256 KiB less the sweeps' reserve) */
	cr_expect_eq(st.map_grows, 2);
	snprintf(path, sizeof(path), "%s/spent/data.mdb", t_dir);
	cr_assert_eq(stat(path, &fst), 0);
	cr_expect_leq(fst.st_size, 256 << 10, "data file %lld bytes", (long long)fst.st_size);
	spent_health_get(s, &h);
	cr_expect_eq(h.healthy, 0);
	cr_expect_eq(h.cause, SPENT_CAUSE_MAP_FULL);
	cr_expect_geq(h.errors[SPENT_CAUSE_MAP_FULL], 1);
	cr_expect_gt(h.since, 0);
	cr_expect(strstr(h.message, "full at its maximum of 256 KiB") != NULL,
		  "%s", h.message);
	cr_expect(strstr(h.message, "lmdb-map-max-mb") != NULL, "%s", h.message);
	cr_expect_str_eq(spent_cause_name(h.cause), "map_full");
	/* the probe does not flip a full map back to healthy */
	sleep(2);
	spent_health_get(s, &h);
	cr_expect_eq(h.healthy, 0);
	/* freeing records does */
	cr_expect_eq(spent_drop_key(s, key, NULL), 0);
	spent_health_get(s, &h);
	cr_expect_eq(h.healthy, 1, "%s", h.message);
	cr_expect_eq(h.cause, SPENT_CAUSE_NONE);
	cr_expect_str_eq(h.message, "");
	cr_expect_geq(h.errors[SPENT_CAUSE_MAP_FULL], 1, "counts stay");
	t_nonce(nonce, 0, 0x0b);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	spent_close(s);
}

/* A starting size above the maximum is cut down to it. */
Test(spent_lmdb, starts_at_max_when_initial_size_above_it)
{
	struct spent_config cfg;
	struct spent_store *s;
	struct spent_stats st;
	uint8_t key[32], nonce[32];
	uint32_t i;
	int rc = 0;

	t_lmdb_cfg(&cfg);
	cfg.lmdb_map_size = 64 << 20;
	cfg.lmdb_map_max = 128 << 10;
	s = t_open_cfg(&cfg);
	t_key(key, 0x5b);
	for (i = 0; i < 100000 && rc == 0; i++) {
		t_nonce(nonce, i, 0x0c);
		rc = tu_spent_record(s, key, nonce, t_later());
	}
	cr_expect_eq(rc, PP_ERR_UNAVAILABLE);
	cr_expect_lt(i, 3000, "%u records fit in 128 KiB", i);
	spent_stats_get(s, &st);
	cr_expect_eq(st.map_grows, 0);
	spent_close(s);
}

static void check_tombstones(struct spent_store *s)
{
	uint8_t a[32], b[32], c[32], nonce[32];
	uint64_t removed = 9;

	t_key(a, 0xa1);
	t_key(b, 0xb2);
	t_key(c, 0xc3);
	cr_expect_eq(spent_key_dropped(s, a), 0);
	cr_expect_eq(spent_key_dropped(s, b), 0);
	fill(s, a, 0x01, 20, 2);
	/* with records */
	cr_assert_eq(spent_drop_key(s, a, &removed), 0);
	cr_expect_eq(removed, 20);
	cr_expect_eq(spent_key_dropped(s, a), 1);
	/* without any record: the tombstone is still written */
	cr_assert_eq(spent_drop_key(s, b, &removed), 0);
	cr_expect_eq(removed, 0);
	cr_expect_eq(spent_key_dropped(s, b), 1);
	cr_expect_eq(spent_key_dropped(s, c), 0);
	/* a second drop keeps it */
	cr_assert_eq(spent_drop_key(s, a, &removed), 0);
	cr_expect_eq(spent_key_dropped(s, a), 1);
	/* tombstones are no records */
	t_nonce(nonce, 0, 0x01);
	cr_expect_eq(tu_spent_contains(s, a, nonce), 0);
	cr_expect_eq(spent_key_dropped(NULL, a), PP_ERR_ARG);
	cr_expect_eq(spent_key_dropped(s, NULL), PP_ERR_ARG);
}

Test(spent_lmdb, leaves_tombstone_when_key_dropped)
{
	struct spent_store *s = t_open_lmdb();
	uint8_t a[32], b[32];

	check_tombstones(s);
	spent_close(s);
	/* durable */
	s = t_open_lmdb();
	t_key(a, 0xa1);
	t_key(b, 0xb2);
	cr_expect_eq(spent_key_dropped(s, a), 1);
	cr_expect_eq(spent_key_dropped(s, b), 1);
	spent_close(s);
}

struct may_drop_ctx {
	uint8_t allow[32];
	unsigned asked;
};

static int t_may_drop(void *ctx, const uint8_t key_id[SPENT_KEY_ID_LEN])
{
	struct may_drop_ctx *m = ctx;

	m->asked++;
	return memcmp(m->allow, key_id, 32) == 0;
}

/* Expired records of allowed key ids go, with a tombstone each; expired
 * records of other key ids and live ones stay; a record without expiry is
 * never purged. More than one purge transaction's worth of records. */
Test(spent_lmdb, purges_only_allowed_keys_and_leaves_tombstones_when_asked)
{
	struct spent_store *s = t_open_lmdb();
	struct async_tally t;
	struct may_drop_ctx m;
	uint8_t a[32], b[32], c[32], nonce[32];
	uint64_t removed = 0;
	const uint32_t n = 30000;
	uint32_t i;

	tally_init(&t);
	t_key(a, 0x21);
	t_key(b, 0x22);
	t_key(c, 0x23);
	for (i = 0; i < n; i++) {
		t_nonce(nonce, i, 0x11);
		cr_assert_eq(spent_submit(s, a, nonce, 1000, tally_done, &t), 0);
		cr_assert_eq(spent_submit(s, b, nonce, 1000, tally_done, &t), 0);
	}
	t_nonce(nonce, 0, 0x11);
	cr_assert_eq(spent_submit(s, c, nonce, SPENT_NO_EXPIRY, tally_done, &t), 0);
	t_nonce(nonce, 1, 0x11);
	cr_assert_eq(spent_submit(s, c, nonce, t_later(), tally_done, &t), 0);
	tally_wait(&t, 2 * n + 2);
	cr_assert_eq(t.ok, 2 * n + 2);

	memset(&m, 0, sizeof(m));
	memcpy(m.allow, a, 32);
	cr_assert_eq(spent_purge_expired_if(s, (int64_t)time(NULL), t_may_drop, &m,
					    &removed), 0);
	cr_expect_eq(removed, n);
	/* once per key id per transaction, not once per record */
	cr_expect_lt(m.asked, 20, "asked %u times", m.asked);
	cr_expect_eq(spent_key_dropped(s, a), 1);
	cr_expect_eq(spent_key_dropped(s, b), 0);
	cr_expect_eq(spent_key_dropped(s, c), 0);
	t_nonce(nonce, 5, 0x11);
	cr_expect_eq(tu_spent_contains(s, a, nonce), 0);
	cr_expect_eq(tu_spent_contains(s, b, nonce), PP_ERR_SPENT);

	/* no predicate: every expired record, with its tombstone */
	cr_assert_eq(spent_purge_expired(s, (int64_t)time(NULL), &removed), 0);
	cr_expect_eq(removed, n);
	cr_expect_eq(spent_key_dropped(s, b), 1);
	cr_expect_eq(tu_spent_contains(s, b, nonce), 0);
	/* far in the future: the live record goes, the one without expiry stays */
	cr_assert_eq(spent_purge_expired(s, INT64_MAX - 1, &removed), 0);
	cr_expect_eq(removed, 1);
	t_nonce(nonce, 0, 0x11);
	cr_expect_eq(tu_spent_contains(s, c, nonce), PP_ERR_SPENT);
	cr_expect_eq(tu_spent_record(s, c, nonce, SPENT_NO_EXPIRY), PP_ERR_SPENT);
	cr_expect_eq(spent_key_dropped(s, c), 1);
	spent_close(s);
	tally_destroy(&t);
}

/* Bytes of data file per record with random nonces (as real tokens have),
 * for the README's sizing figure. */
Test(spent_lmdb, measures_bytes_per_record)
{
	struct spent_store *s = t_open_lmdb();
	struct async_tally t;
	uint8_t key[32], nonce[32];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	const uint32_t n = 200000;
	char path[128];
	struct stat fst;
	uint32_t i;
	size_t j;

	tally_init(&t);
	t_key(key, 0x6e);
	for (i = 0; i < n; i++) {
		for (j = 0; j < 32; j += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(nonce + j, &x, 8);
		}
		cr_assert_eq(spent_submit(s, key, nonce, t_later(), tally_done, &t), 0);
	}
	tally_wait(&t, n);
	cr_assert_eq(t.ok, n);
	spent_close(s);
	snprintf(path, sizeof(path), "%s/spent/data.mdb", t_dir);
	cr_assert_eq(stat(path, &fst), 0);
	fprintf(stderr, "spent_lmdb sizing: %u random records in %lld bytes of "
		"data file: %.1f bytes per record\n", n, (long long)fst.st_size,
		(double)fst.st_size / n);
	cr_expect_lt((double)fst.st_size / n, 320.0);
	tally_destroy(&t);
}

/* ---- redis ----------------------------------------------------------------- */

Test(spent_redis, records_once_when_redeemed_twice)
{
	struct spent_store *s = t_open_redis();

	cr_expect_str_eq(spent_backend_name(s), "redis");
	check_first_then_spent(s);
	spent_close(s);
}

Test(spent_redis, exactly_one_wins_when_threads_race)
{
	struct spent_store *s = t_open_redis();
	struct spent_stats st;

	check_race(s, 200, 2);
	spent_stats_get(s, &st);
	cr_expect_eq(st.recorded, 200);
	cr_expect_eq(st.unavailable, 0);
	spent_close(s);
}

Test(spent_redis, drops_only_that_key_when_key_retired)
{
	struct spent_store *s = t_open_redis();

	/* several SCAN pages */
	check_drop_key(s, 2500);
	spent_close(s);
}

/* Answers come from the store's I/O thread once Redis answered, never in
 * the submitter; a dead server is "unavailable". */
Test(spent_redis, answers_from_io_thread_when_submitted)
{
	struct spent_store *s = t_open_redis();
	struct async_tally t;
	uint8_t key[32], nonce[32];

	tally_init(&t);
	t_key(key, 0x99);
	t_nonce(nonce, 1, 0x00);
	cr_assert_eq(spent_submit(s, key, nonce, t_later(), tally_done, &t), 0);
	tally_wait(&t, 1);
	cr_expect_eq(t.ok, 1);
	cr_assert_eq(spent_submit(s, key, nonce, t_later(), tally_done, &t), 0);
	tally_wait(&t, 2);
	cr_expect_eq(t.spent, 1);
	tu_redis_signal(&t_redis, SIGKILL);
	t_nonce(nonce, 2, 0x00);
	cr_assert_eq(spent_submit(s, key, nonce, t_later(), tally_done, &t), 0);
	tally_wait(&t, 3);
	cr_expect_eq(t.other, 1);
	cr_expect_eq(t.mixed_threads, 0, "callbacks ran on several threads");
	cr_expect(!pthread_equal(t.writer, pthread_self()));
	spent_close(s);
	tally_destroy(&t);
}

/* Redis expires records itself: purging is a no-op that keeps live ones. */
Test(spent_redis, leaves_expiry_to_redis_when_purged)
{
	struct spent_store *s = t_open_redis();
	uint8_t key[32], nonce[32];
	uint64_t removed = 9;

	t_key(key, 0x4e);
	t_nonce(nonce, 1, 0x00);
	cr_assert_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	cr_expect_eq(spent_purge_expired(s, (int64_t)time(NULL), &removed), 0);
	cr_expect_eq(removed, 0);
	cr_expect_eq(tu_spent_contains(s, key, nonce), PP_ERR_SPENT);
	spent_close(s);
}

/* Raw access to the test server, to look behind the store. */
static redisContext *t_raw(unsigned db)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)t_redis.port, tv);
	redisReply *r;

	cr_assert(c != NULL && c->err == 0);
	if (t_redis.password[0] != '\0') {
		r = redisCommand(c, "AUTH %s", t_redis.password);
		cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS);
		freeReplyObject(r);
	}
	r = redisCommand(c, "SELECT %u", db);
	cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	return c;
}

static long long t_raw_int(redisContext *c, const char *cmd, const char *key)
{
	redisReply *r = redisCommand(c, "%s %s", cmd, key);
	long long v;

	cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s", cmd);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

Test(spent_redis, stores_one_key_with_expiry_when_recorded)
{
	struct spent_config cfg;
	struct spent_store *s;
	redisContext *raw;
	uint8_t key[32], nonce[32];
	char name[256];
	int64_t exp = t_later() + 12345;
	size_t i;

	t_redis_cfg(&cfg);
	cfg.redis_prefix = "ppt:";
	s = t_open_cfg(&cfg);
	t_key(key, 0xab);
	t_nonce(nonce, 7, 0xcd);
	cr_assert_eq(tu_spent_record(s, key, nonce, exp), 0);

	strcpy(name, "ppt:");
	for (i = 0; i < 32; i++)
		strcat(name, "ab");
	strcat(name, ":000000");
	strcat(name, "07");
	for (i = 4; i < 32; i++)
		strcat(name, "cd");
	raw = t_raw(0);
	cr_expect_eq(t_raw_int(raw, "EXISTS", name), 1, "key %s", name);
	/* Redis 7: the absolute expiry is what was asked for */
	cr_expect_eq(t_raw_int(raw, "EXPIRETIME", name), exp);
	redisFree(raw);
	spent_close(s);
}

/* SCAN patterns treat * ? [ ] \ specially; a prefix holding them must not
 * make a drop reach another prefix's records. */
Test(spent_redis, drops_only_own_prefix_when_prefix_has_glob_characters)
{
	struct spent_config cfg;
	struct spent_store *a, *b;
	uint8_t key[32], nonce[32];
	uint64_t removed = 0;
	uint32_t i;

	t_redis_cfg(&cfg);
	cfg.redis_prefix = "a*[x]?\\:";
	a = t_open_cfg(&cfg);
	cfg.redis_prefix = "aQxZ:";   /* what the unescaped pattern would match */
	b = t_open_cfg(&cfg);
	t_key(key, 0x12);
	fill(a, key, 0x01, 30, 2);
	fill(b, key, 0x01, 30, 2);
	cr_assert_eq(spent_drop_key(a, key, &removed), 0);
	cr_expect_eq(removed, 30);
	for (i = 0; i < 30; i++) {
		t_nonce(nonce, i, 0x01);
		cr_expect_eq(tu_spent_contains(a, key, nonce), 0);
		cr_expect_eq(tu_spent_contains(b, key, nonce), PP_ERR_SPENT);
	}
	spent_close(a);
	spent_close(b);
}

Test(spent_redis, authenticates_and_selects_when_configured)
{
	struct spent_config cfg;
	struct spent_store *s, *wrong;
	redisContext *raw;
	uint8_t key[32], nonce[32];
	char name[256], hex[65];
	size_t i;

	/* a fresh server that wants a password */
	tu_redis_free(&t_redis);
	memset(&t_redis, 0, sizeof(t_redis));
	strcpy(t_redis.password, "s3cret pass");
	tu_redis_start(&t_redis);

	t_redis_cfg(&cfg);
	cfg.redis_password = "s3cret pass";
	cfg.redis_db = 3;
	cfg.redis_prefix = "db3:";
	s = t_open_cfg(&cfg);
	cfg.redis_password = "wrong";
	wrong = t_open_cfg(&cfg);

	t_key(key, 0x21);
	t_nonce(nonce, 1, 0x00);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), PP_ERR_SPENT);
	cr_expect_eq(tu_spent_record(wrong, key, nonce, t_later()),
		     PP_ERR_UNAVAILABLE);
	cr_expect_eq(tu_spent_contains(wrong, key, nonce), PP_ERR_UNAVAILABLE);

	strcpy(name, "db3:");
	for (i = 0; i < 32; i++)
		strcat(name, "21");
	strcat(name, ":");
	for (i = 0; i < 32; i++)
		hex[2 * i] = '0', hex[2 * i + 1] = '0';
	hex[7] = '1';
	hex[64] = '\0';
	strcat(name, hex);
	raw = t_raw(3);
	cr_expect_eq(t_raw_int(raw, "EXISTS", name), 1, "key %s", name);
	redisFree(raw);
	raw = t_raw(0);
	cr_expect_eq(t_raw_int(raw, "EXISTS", name), 0);
	redisFree(raw);
	spent_close(wrong);
	spent_close(s);
}

/* The time one call takes, and its answer. */
static int t_timed_record(struct spent_store *s, uint32_t i, double *secs)
{
	uint8_t key[32], nonce[32];
	double t0 = t_now();
	int rc;

	t_key(key, 0x31);
	t_nonce(nonce, i, 0x00);
	rc = tu_spent_record(s, key, nonce, t_later());
	*secs = t_now() - t0;
	return rc;
}

/* Polls until a new record succeeds (the back-off is short). */
static void t_wait_recovered(struct spent_store *s, uint32_t from)
{
	double secs;
	uint32_t i;

	for (i = from; i < from + 500; i++) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };

		if (t_timed_record(s, i, &secs) == 0)
			return;
		nanosleep(&pause, NULL);
	}
	cr_assert_fail("the store did not recover");
}

Test(spent_redis, answers_unavailable_then_recovers_when_server_restarts)
{
	struct spent_store *s = t_open_redis();
	struct spent_stats st;
	uint8_t key[32], nonce[32];
	uint64_t removed;
	double secs;
	uint32_t i;

	cr_assert_eq(t_timed_record(s, 0, &secs), 0);
	tu_redis_signal(&t_redis, SIGKILL);
	for (i = 1; i < 20; i++) {
		cr_expect_eq(t_timed_record(s, i, &secs), PP_ERR_UNAVAILABLE);
		/* bounded by the 300 ms timeout, and in practice much less */
		cr_expect_lt(secs, 1.0, "call %u took %.3f s", i, secs);
	}
	t_key(key, 0x31);
	t_nonce(nonce, 0, 0x00);
	cr_expect_eq(tu_spent_contains(s, key, nonce), PP_ERR_UNAVAILABLE);
	cr_expect_eq(spent_drop_key(s, key, &removed), PP_ERR_UNAVAILABLE);

	tu_redis_start(&t_redis);   /* same port and directory */
	t_wait_recovered(s, 100);
	/* AOF with everysec: the record acknowledged before the kill -9 of
	 * the Redis process is still there (it was written to the AOF before
	 * the reply) */
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), PP_ERR_SPENT);
	t_nonce(nonce, 0, 0x01);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), PP_ERR_SPENT);
	spent_stats_get(s, &st);
	cr_expect_geq(st.reconnects, 2);
	cr_expect_gt(st.unavailable, 0);
	spent_close(s);
}

/* A server that accepts but never answers: the command timeout ends the
 * wait, and the answer is "unavailable". */
Test(spent_redis, answers_unavailable_within_timeout_when_server_hangs)
{
	struct spent_store *s = t_open_redis();
	double secs;

	cr_assert_eq(t_timed_record(s, 0, &secs), 0);
	tu_redis_signal(&t_redis, SIGSTOP);
	cr_expect_eq(t_timed_record(s, 1, &secs), PP_ERR_UNAVAILABLE);
	cr_expect_geq(secs, 0.25, "took %.3f s", secs);
	cr_expect_lt(secs, 1.5, "took %.3f s", secs);
	tu_redis_signal(&t_redis, SIGCONT);
	t_wait_recovered(s, 100);
	spent_close(s);
}

Test(spent_redis, opens_and_connects_later_when_server_down_at_start)
{
	struct spent_store *s;
	double secs;

	tu_redis_signal(&t_redis, SIGKILL);
	s = t_open_redis();
	cr_expect_eq(t_timed_record(s, 0, &secs), PP_ERR_UNAVAILABLE);
	tu_redis_start(&t_redis);
	t_wait_recovered(s, 100);
	spent_close(s);
}

/* ---- redis: durability, health, tombstones ------------------------------- */

/* Replaces the test server by one started with these extra arguments. */
static void t_redis_restart(const char *const *extra)
{
	size_t i;

	tu_redis_free(&t_redis);
	memset(&t_redis, 0, sizeof(t_redis));
	for (i = 0; extra != NULL && extra[i] != NULL && i < 8; i++)
		t_redis.extra[i] = extra[i];
	tu_redis_start(&t_redis);
}

static struct spent_store *t_open_redis_strict(void)
{
	struct spent_config cfg;

	t_redis_cfg(&cfg);
	cfg.redis_allow_volatile = 0;
	return t_open_cfg(&cfg);
}

static int t_record_one(struct spent_store *s, uint32_t i)
{
	uint8_t key[32], nonce[32];

	t_key(key, 0x3d);
	t_nonce(nonce, i, 0x00);
	return tu_spent_record(s, key, nonce, t_later());
}

/* A Redis without an append-only file, or with appendfsync no, is refused
 * with cause "volatile" and a message that says what to change; with
 * redis_allow_volatile it is used. */
Test(spent_redis, refuses_when_server_cannot_keep_records)
{
	static const char *const no_aof[] = { "--appendonly", "no", NULL };
	static const char *const fsync_no[] = { "--appendfsync", "no", NULL };
	struct spent_config cfg;
	struct spent_store *s;
	struct spent_health h;

	t_redis_restart(no_aof);
	s = t_open_redis_strict();
	cr_expect_eq(t_record_one(s, 1), PP_ERR_UNAVAILABLE);
	spent_health_get(s, &h);
	cr_expect_eq(h.healthy, 0);
	cr_expect_eq(h.cause, SPENT_CAUSE_VOLATILE);
	cr_expect_geq(h.errors[SPENT_CAUSE_VOLATILE], 1);
	cr_expect(strstr(h.message, "appendonly yes") != NULL, "%s", h.message);
	cr_expect(strstr(h.message, "--redis-allow-volatile") != NULL, "%s", h.message);
	spent_close(s);

	t_redis_cfg(&cfg);
	cfg.redis_allow_volatile = 1;
	s = t_open_cfg(&cfg);
	cr_expect_eq(t_record_one(s, 1), 0);
	t_wait_health(s, 1, 3.0);
	spent_close(s);

	t_redis_restart(fsync_no);
	s = t_open_redis_strict();
	cr_expect_eq(t_record_one(s, 2), PP_ERR_UNAVAILABLE);
	spent_health_get(s, &h);
	cr_expect_eq(h.cause, SPENT_CAUSE_VOLATILE);
	cr_expect(strstr(h.message, "appendfsync no") != NULL, "%s", h.message);
	spent_close(s);
}

Test(spent_redis, accepts_when_aof_fsync_always_or_everysec)
{
	static const char *const always[] = { "--appendfsync", "always", NULL };
	struct spent_store *s;

	/* the default test server: AOF with everysec */
	s = t_open_redis_strict();
	cr_expect_eq(t_record_one(s, 1), 0);
	t_wait_health(s, 1, 3.0);
	spent_close(s);

	t_redis_restart(always);
	s = t_open_redis_strict();
	cr_expect_eq(t_record_one(s, 1), 0);
	cr_expect_eq(t_record_one(s, 1), PP_ERR_SPENT);
	spent_close(s);
}

/* CONFIG renamed away: appendfsync is unknown; AOF on is accepted (with a
 * warning in the log), AOF off still refused (INFO tells that). */
Test(spent_redis, decides_on_aof_when_config_is_renamed)
{
	static const char *const renamed[] = { "--rename-command", "CONFIG", "",
					       NULL };
	static const char *const renamed_no_aof[] = { "--rename-command", "CONFIG",
						      "", "--appendonly", "no", NULL };
	struct spent_store *s;
	struct spent_health h;

	t_redis_restart(renamed);
	s = t_open_redis_strict();
	cr_expect_eq(t_record_one(s, 1), 0);
	spent_close(s);

	t_redis_restart(renamed_no_aof);
	s = t_open_redis_strict();
	cr_expect_eq(t_record_one(s, 1), PP_ERR_UNAVAILABLE);
	spent_health_get(s, &h);
	cr_expect_eq(h.cause, SPENT_CAUSE_VOLATILE);
	spent_close(s);
}

/* Turning AOF on at run time is seen without traffic: the probe reconnects
 * and checks again. */
Test(spent_redis, recovers_without_traffic_when_persistence_turned_on)
{
	static const char *const no_aof[] = { "--appendonly", "no", NULL };
	struct spent_store *s;
	redisContext *raw;
	redisReply *r;

	t_redis_restart(no_aof);
	s = t_open_redis_strict();
	t_wait_health(s, 0, 1.0);
	raw = t_raw(0);
	r = redisCommand(raw, "CONFIG SET appendonly yes");
	cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	redisFree(raw);
	t_wait_health(s, 1, 5.0);
	cr_expect_eq(t_record_one(s, 1), 0);
	spent_close(s);
}

/* Down: unhealthy with cause refused; back: healthy again by the probe. */
Test(spent_redis, reports_refused_then_recovers_when_server_restarts)
{
	struct spent_store *s = t_open_redis_strict();
	struct spent_health h;

	t_wait_health(s, 1, 3.0);
	spent_health_get(s, &h);
	cr_expect_eq(h.connected, 1);
	tu_redis_signal(&t_redis, SIGKILL);
	cr_expect_eq(t_record_one(s, 1), PP_ERR_UNAVAILABLE);
	t_wait_health(s, 0, 1.0);
	/* the next attempt (a request or the probe) finds nothing listening */
	cr_expect_eq(t_record_one(s, 2), PP_ERR_UNAVAILABLE);
	{
		struct timespec pause = { 1, 200 * 1000 * 1000 };

		nanosleep(&pause, NULL);
	}
	spent_health_get(s, &h);
	cr_expect_eq(h.healthy, 0);
	cr_expect_eq(h.cause, SPENT_CAUSE_REFUSED, "cause %s: %s",
		     spent_cause_name(h.cause), h.message);
	cr_expect_geq(h.errors[SPENT_CAUSE_REFUSED], 1);
	cr_expect(strstr(h.message, "start Redis") != NULL, "%s", h.message);
	tu_redis_start(&t_redis);
	t_wait_health(s, 1, 5.0);
	cr_expect_eq(t_record_one(s, 3), 0);
	spent_close(s);
}

Test(spent_redis, leaves_tombstone_without_expiry_when_key_dropped)
{
	struct spent_config cfg;
	struct spent_store *s;
	redisContext *raw;
	uint8_t a[32];
	char name[256];
	size_t i;

	t_redis_cfg(&cfg);
	cfg.redis_prefix = "tb:";
	s = t_open_cfg(&cfg);
	check_tombstones(s);
	strcpy(name, "tb:retired:");
	for (i = 0; i < 32; i++)
		strcat(name, "a1");
	raw = t_raw(0);
	cr_expect_eq(t_raw_int(raw, "EXISTS", name), 1, "key %s", name);
	cr_expect_eq(t_raw_int(raw, "TTL", name), -1);
	redisFree(raw);
	t_key(a, 0xa1);
	spent_close(s);
	s = t_open_cfg(&cfg);
	cr_expect_eq(spent_key_dropped(s, a), 1);
	spent_close(s);
	/* down: the store cannot answer */
	tu_redis_signal(&t_redis, SIGKILL);
	s = t_open_cfg(&cfg);
	cr_expect_eq(spent_key_dropped(s, a), PP_ERR_UNAVAILABLE);
	spent_close(s);
}

Test(spent_redis, sets_no_expiry_when_key_has_no_retirement)
{
	struct spent_store *s = t_open_redis();
	redisContext *raw;
	uint8_t key[32], nonce[32];
	uint64_t removed = 7;
	char name[256];
	size_t i;

	t_key(key, 0xee);
	t_nonce(nonce, 1, 0xee);
	cr_assert_eq(tu_spent_record(s, key, nonce, SPENT_NO_EXPIRY), 0);
	cr_expect_eq(tu_spent_record(s, key, nonce, SPENT_NO_EXPIRY), PP_ERR_SPENT);
	strcpy(name, "pp:spent:");
	for (i = 0; i < 32; i++)
		strcat(name, "ee");
	strcat(name, ":00000001");
	for (i = 4; i < 32; i++)
		strcat(name, "ee");
	raw = t_raw(0);
	cr_expect_eq(t_raw_int(raw, "EXISTS", name), 1, "key %s", name);
	cr_expect_eq(t_raw_int(raw, "TTL", name), -1);
	redisFree(raw);
	cr_expect_eq(spent_purge_expired_if(s, INT64_MAX - 1, NULL, NULL, &removed), 0);
	cr_expect_eq(removed, 0);
	cr_expect_eq(tu_spent_contains(s, key, nonce), PP_ERR_SPENT);
	spent_close(s);
}

/* ---- redis: the I/O thread ---------------------------------------------- */

/* One submitted request's answer, for checks per request. */
struct slot {
	atomic_int rc;         /* 1 until answered */
	struct slot_set *set;
};

struct slot_set {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned answered;
	struct slot *slots;
	uint32_t n;
};

static void slots_init(struct slot_set *ss, uint32_t n)
{
	uint32_t i;

	memset(ss, 0, sizeof(*ss));
	pthread_mutex_init(&ss->mu, NULL);
	pthread_cond_init(&ss->cv, NULL);
	ss->slots = calloc(n, sizeof(*ss->slots));
	cr_assert_not_null(ss->slots);
	ss->n = n;
	for (i = 0; i < n; i++) {
		atomic_init(&ss->slots[i].rc, 1);
		ss->slots[i].set = ss;
	}
}

static void slots_free(struct slot_set *ss)
{
	free(ss->slots);
	pthread_cond_destroy(&ss->cv);
	pthread_mutex_destroy(&ss->mu);
}

static void slot_done(void *arg, int rc)
{
	struct slot *sl = arg;
	struct slot_set *ss = sl->set;

	cr_assert_eq(atomic_exchange(&sl->rc, rc), 1, "answered twice");
	pthread_mutex_lock(&ss->mu);
	ss->answered++;
	pthread_cond_broadcast(&ss->cv);
	pthread_mutex_unlock(&ss->mu);
}

static unsigned slots_answered(struct slot_set *ss)
{
	unsigned n;

	pthread_mutex_lock(&ss->mu);
	n = ss->answered;
	pthread_mutex_unlock(&ss->mu);
	return n;
}

/* Waits until n answers came, up to secs; returns whether they did. */
static int slots_wait(struct slot_set *ss, unsigned n, double secs)
{
	double until = t_now() + secs;
	int ok;

	pthread_mutex_lock(&ss->mu);
	while (ss->answered < n && t_now() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ss->cv, &ss->mu, &ts);
	}
	ok = ss->answered >= n;
	pthread_mutex_unlock(&ss->mu);
	return ok;
}

/* Request i of a slot set names key 0x5c, nonce i with this salt. */
#define PAUSE_KEY 0x5c

struct pause_arg {
	struct spent_store *s;
	struct slot_set *ss;
	uint8_t salt;
	uint32_t from, to;        /* slots [from, to) */
	unsigned gap_us;          /* between submissions */
	double max_call;          /* seconds, the slowest spent_submit that
				   * the scheduler did not preempt */
	double max_preempted;     /* the slowest one it did */
	unsigned preempted;       /* calls with an involuntary switch */
};

/* Context switches of this thread so far: involuntary (the scheduler ran
 * another thread) and voluntary (a write to a full stderr pipe, a page
 * fault's I/O, a malloc arena lock). */
static long t_preemptions(void)
{
	struct rusage ru;

	cr_assert_eq(getrusage(RUSAGE_THREAD, &ru), 0);
	return ru.ru_nivcsw + ru.ru_nvcsw;
}

static void *pause_submit_main(void *arg)
{
	struct pause_arg *a = arg;
	uint8_t key[32], nonce[32];
	uint32_t i;

	t_key(key, PAUSE_KEY);
	for (i = a->from; i < a->to; i++) {
		double t0, dt;

		long sw;

		t_nonce(nonce, i, a->salt);
		sw = t_preemptions();
		t0 = t_now();
		cr_assert_eq(spent_submit(a->s, key, nonce, t_later(), slot_done,
					  &a->ss->slots[i]), 0);
		dt = t_now() - t0;
		/* with more threads than CPUs the scheduler may run another
		 * thread in the middle of a call, and the refusal's log line
		 * may wait for stderr: that is not the call waiting for Redis
		 * (which would take the whole timeout) */
		if (t_preemptions() != sw) {
			a->preempted++;
			if (dt > a->max_preempted)
				a->max_preempted = dt;
		} else if (dt > a->max_call) {
			a->max_call = dt;
		}
		if (a->gap_us > 0) {
			struct timespec ts = { 0, (long)a->gap_us * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* Every call returned at once: within 5 ms unless switched out, and within
 * 50 ms even then (a call that waited for Redis takes the timeout, seconds).
 * Sanitizers slow every call down: ten times more, still far below it. */
#ifdef PP_SANITIZE
#define PAUSE_QUICK 0.050
#else
#define PAUSE_QUICK 0.005
#endif

static void pause_expect_quick(const struct pause_arg *a, unsigned n)
{
	double worst = 0, worst_pre = 0;
	unsigned i, pre = 0;

	for (i = 0; i < n; i++) {
		if (a[i].max_call > worst)
			worst = a[i].max_call;
		if (a[i].max_preempted > worst_pre)
			worst_pre = a[i].max_preempted;
		pre += a[i].preempted;
	}
	cr_expect_lt(worst, PAUSE_QUICK, "a spent_submit took %.3f ms",
		     worst * 1e3);
	cr_expect_lt(worst_pre, 10 * PAUSE_QUICK,
		     "a switched-out spent_submit took %.3f ms", worst_pre * 1e3);
	fprintf(stderr, "  slowest spent_submit %.3f ms; %u calls switched out "
		"(preempted or blocked), slowest of those %.3f ms\n", worst * 1e3, pre,
		worst_pre * 1e3);
}

/* Submits ss->n requests from nthreads threads (gap_us apart in each) and
 * checks that each call returned at once. */
static void pause_submit(struct spent_store *s, struct slot_set *ss,
			 uint8_t salt, unsigned nthreads, unsigned gap_us)
{
	pthread_t th[RACE_THREADS];
	struct pause_arg a[RACE_THREADS];
	unsigned i;

	cr_assert(nthreads >= 1 && nthreads <= RACE_THREADS);
	for (i = 0; i < nthreads; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].s = s;
		a[i].ss = ss;
		a[i].salt = salt;
		a[i].from = (uint32_t)((uint64_t)ss->n * i / nthreads);
		a[i].to = (uint32_t)((uint64_t)ss->n * (i + 1) / nthreads);
		a[i].gap_us = gap_us;
		cr_assert_eq(pthread_create(&th[i], NULL, pause_submit_main, &a[i]), 0);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pause_expect_quick(a, nthreads);
}

/* The raw key of request i (default prefix). */
static void pause_key_name(uint32_t i, uint8_t salt, char out[160])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t key[32], nonce[32];
	size_t off, j;

	t_key(key, PAUSE_KEY);
	t_nonce(nonce, i, salt);
	strcpy(out, "pp:spent:");
	off = strlen(out);
	for (j = 0; j < 32; j++) {
		out[off++] = hex[key[j] >> 4];
		out[off++] = hex[key[j] & 15];
	}
	out[off++] = ':';
	for (j = 0; j < 32; j++) {
		out[off++] = hex[nonce[j] >> 4];
		out[off++] = hex[nonce[j] & 15];
	}
	out[off] = '\0';
}

/* Every request answered 0 has its record in Redis (GET), and records
 * again as "spent". Returns the number answered 0. */
static uint32_t pause_check_records(struct spent_store *s, struct slot_set *ss,
				    uint8_t salt)
{
	redisContext *raw = t_raw(0);
	uint8_t key[32], nonce[32];
	uint32_t i, ok = 0;

	t_key(key, PAUSE_KEY);
	for (i = 0; i < ss->n; i++) {
		int rc = atomic_load(&ss->slots[i].rc);
		char name[160];
		redisReply *r;

		cr_assert(rc == 0 || rc == PP_ERR_UNAVAILABLE, "request %u: %d", i, rc);
		if (rc != 0)
			continue;
		ok++;
		pause_key_name(i, salt, name);
		r = redisCommand(raw, "GET %s", name);
		cr_assert(r != NULL);
		cr_expect(r->type == REDIS_REPLY_STRING,
			  "request %u answered 0 but %s is not in redis", i, name);
		freeReplyObject(r);
		t_nonce(nonce, i, salt);
		cr_expect_eq(tu_spent_record(s, key, nonce, t_later()),
			     PP_ERR_SPENT, "request %u", i);
	}
	redisFree(raw);
	return ok;
}

static struct spent_store *t_open_redis_timeout(unsigned ms)
{
	struct spent_config cfg;

	t_redis_cfg(&cfg);
	cfg.redis_timeout_ms = ms;
	return t_open_cfg(&cfg);
}

/* Redis stopped (SIGSTOP) for 600 ms, a timeout longer than that: submits
 * from 8 threads return at once, nothing is answered while Redis sleeps,
 * and everything is recorded once it is back. */
Test(spent_redis, queues_without_waiting_and_records_after_pause)
{
	struct spent_store *s = t_open_redis_timeout(5000);
	struct slot_set ss;
	double t0;
	struct timespec pause = { 0, 600 * 1000 * 1000 };

	cr_assert_eq(t_record_one(s, 1), 0);    /* connected */
	slots_init(&ss, 4000);
	tu_redis_signal(&t_redis, SIGSTOP);
	t0 = t_now();
	pause_submit(s, &ss, 0x01, 8, 0);
	nanosleep(&pause, NULL);
	cr_expect_eq(slots_answered(&ss), 0, "answered while redis was stopped");
	tu_redis_signal(&t_redis, SIGCONT);
	cr_assert(slots_wait(&ss, ss.n, 10.0), "only %u of %u answered",
		  slots_answered(&ss), ss.n);
	fprintf(stderr, "spent_redis pause: 4000 submits from 8 threads; all "
		"answered %.3f s after the first\n", t_now() - t0);
	cr_expect_eq(pause_check_records(s, &ss, 0x01), ss.n);
	slots_free(&ss);
	spent_close(s);
}

/* Submitting all the time while Redis stops for 700 ms with a 200 ms
 * timeout: every call returns at once, every request is answered, the
 * ones during the stop "unavailable" after the timeout, and none is
 * answered 0 without its record in Redis. */
Test(spent_redis, never_answers_recorded_without_reply_when_paused)
{
	struct spent_store *s = t_open_redis_timeout(200);
	struct slot_set ss;
	pthread_t th[4];
	struct pause_arg args[4];
	struct timespec lead = { 0, 200 * 1000 * 1000 };
	struct timespec stop = { 0, 700 * 1000 * 1000 };
	uint32_t ok, i;

	cr_assert_eq(t_record_one(s, 1), 0);
	slots_init(&ss, 4 * 600);
	for (i = 0; i < 4; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].s = s;
		args[i].ss = &ss;
		args[i].salt = 0x02;
		args[i].from = i * 600;
		args[i].to = (i + 1) * 600;
		args[i].gap_us = 2000;     /* about 1.2 s of submitting */
		cr_assert_eq(pthread_create(&th[i], NULL, pause_submit_main, &args[i]), 0);
	}
	nanosleep(&lead, NULL);
	tu_redis_signal(&t_redis, SIGSTOP);
	nanosleep(&stop, NULL);
	tu_redis_signal(&t_redis, SIGCONT);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert(slots_wait(&ss, ss.n, 10.0), "only %u of %u answered",
		  slots_answered(&ss), ss.n);
	ok = pause_check_records(s, &ss, 0x02);
	fprintf(stderr, "spent_redis pause with timeout: %u requests, %u recorded, "
		"%u unavailable\n", ss.n, ok, ss.n - ok);
	pause_expect_quick(args, 4);
	cr_expect_gt(ok, 0);
	cr_expect_lt(ok, ss.n, "nothing timed out during a 700 ms stop");
	slots_free(&ss);
	spent_close(s);
}

/* Past 65536 requests queued or in flight, a submission is answered
 * "unavailable" at once; the queued ones are all recorded later. */
Test(spent_redis, refuses_at_once_when_queue_full)
{
	struct spent_store *s = t_open_redis_timeout(20000);
	struct slot_set ss;
	const uint32_t bound = 65536, extra = 100;
	uint32_t i, refused = 0;

	cr_assert_eq(t_record_one(s, 1), 0);
	slots_init(&ss, bound + extra);
	tu_redis_signal(&t_redis, SIGSTOP);
	pause_submit(s, &ss, 0x03, 1, 0);
	cr_expect_eq(slots_answered(&ss), extra);
	for (i = 0; i < ss.n; i++)
		refused += atomic_load(&ss.slots[i].rc) == PP_ERR_UNAVAILABLE;
	cr_expect_eq(refused, extra);
	tu_redis_signal(&t_redis, SIGCONT);
	cr_assert(slots_wait(&ss, ss.n, 30.0), "only %u of %u answered",
		  slots_answered(&ss), ss.n);
	refused = 0;
	for (i = 0; i < ss.n; i++)
		refused += atomic_load(&ss.slots[i].rc) != 0;
	cr_expect_eq(refused, extra);
	slots_free(&ss);
	spent_close(s);
}

/* Shutdown with requests queued behind a stopped Redis: it returns once
 * each was answered (after the timeout), and later ones are refused. */
Test(spent_redis, answers_every_submission_when_shut_down)
{
	struct spent_store *s = t_open_redis_timeout(300);
	struct slot_set ss;
	struct async_tally t;
	uint8_t key[32], nonce[32];
	double t0, dt;

	cr_assert_eq(t_record_one(s, 1), 0);
	slots_init(&ss, 500);
	tu_redis_signal(&t_redis, SIGSTOP);
	pause_submit(s, &ss, 0x04, 2, 0);
	t0 = t_now();
	spent_shutdown(s);
	dt = t_now() - t0;
	cr_expect_eq(slots_answered(&ss), ss.n);
	cr_expect_lt(dt, 2.0, "shutdown took %.3f s", dt);
	tu_redis_signal(&t_redis, SIGCONT);
	tally_init(&t);
	t_key(key, PAUSE_KEY);
	t_nonce(nonce, 9999, 0x04);
	cr_expect_eq(spent_submit(s, key, nonce, t_later(), tally_done, &t), 0);
	cr_expect_eq(t.answered, 1);
	cr_expect_eq(t.other, 1);
	cr_expect_eq(spent_contains_submit(s, key, nonce, tally_done, &t), 0);
	cr_expect_eq(t.answered, 2);
	cr_expect_eq(t.other, 2);
	spent_close(s);
	tally_destroy(&t);
	slots_free(&ss);
}

/* An error reply (here OOM: maxmemory far below what is used) fails its
 * own request, and the store recovers once Redis accepts writes again. */
Test(spent_redis, answers_unavailable_when_server_refuses_writes)
{
	struct spent_store *s = t_open_redis();
	struct spent_health h;
	redisContext *raw;
	redisReply *r;

	cr_assert_eq(t_record_one(s, 1), 0);
	raw = t_raw(0);
	r = redisCommand(raw, "CONFIG SET maxmemory 1");
	cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	cr_expect_eq(t_record_one(s, 2), PP_ERR_UNAVAILABLE);
	spent_health_get(s, &h);
	cr_expect_eq(h.cause, SPENT_CAUSE_OOM, "%s", h.message);
	r = redisCommand(raw, "CONFIG SET maxmemory 0");
	cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	redisFree(raw);
	cr_expect_eq(t_record_one(s, 2), 0);
	cr_expect_eq(t_record_one(s, 2), PP_ERR_SPENT);
	t_wait_health(s, 1, 3.0);
	spent_close(s);
}

/* spent_contains_submit: the lookup's answer through done. */
static void check_contains_submit(struct spent_store *s)
{
	struct async_tally t;
	uint8_t key[32], nonce[32];

	tally_init(&t);
	t_key(key, 0x6c);
	t_nonce(nonce, 1, 0x00);
	cr_assert_eq(spent_contains_submit(s, key, nonce, tally_done, &t), 0);
	tally_wait(&t, 1);
	cr_expect_eq(t.ok, 1);
	cr_assert_eq(tu_spent_record(s, key, nonce, t_later()), 0);
	cr_assert_eq(spent_contains_submit(s, key, nonce, tally_done, &t), 0);
	tally_wait(&t, 2);
	cr_expect_eq(t.spent, 1);
	cr_expect_eq(spent_contains_submit(s, key, nonce, NULL, &t), PP_ERR_ARG);
	cr_expect_eq(spent_contains_submit(NULL, key, nonce, tally_done, &t), PP_ERR_ARG);
	cr_expect_eq(spent_contains_submit(s, NULL, nonce, tally_done, &t), PP_ERR_ARG);
	tally_destroy(&t);
}

Test(spent_redis, looks_up_without_waiting_when_contains_submitted)
{
	struct spent_store *s = t_open_redis();
	struct spent_stats st;

	check_contains_submit(s);
	spent_stats_get(s, &st);
	cr_expect_eq(st.requests, 1, "lookups are not counted");
	spent_close(s);
}

Test(spent_lmdb, looks_up_when_contains_submitted)
{
	struct spent_store *s = t_open_lmdb();

	check_contains_submit(s);
	spent_close(s);
}

/* ---- configuration --------------------------------------------------------- */

Test(spent, refuses_when_config_bad)
{
	static const struct {
		const char *backend;
		const char *prefix;
		unsigned port, pool, timeout;
		size_t map;
	} cases[] = {
		{ "memcached", NULL, 0, 0, 0, 0 },
		{ "redis", "0123456789012345678901234567890123456789012345678901234567890123456789",
		  0, 0, 0, 0 },
		{ "redis", "has space", 0, 0, 0, 0 },
		{ "redis", NULL, 70000, 0, 0, 0 },
		{ "redis", NULL, 0, 100000, 0, 0 },
		{ "redis", NULL, 0, 0, 3600000, 0 },
		{ "lmdb", NULL, 0, 0, 0, 4096 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spent_config cfg;
		struct spent_store *s = (struct spent_store *)1;
		char err[256] = "stale";

		memset(&cfg, 0, sizeof(cfg));
		cfg.backend = cases[i].backend;
		cfg.data_dir = "/nonexistent";
		cfg.redis_prefix = cases[i].prefix;
		cfg.redis_port = cases[i].port;
		cfg.redis_pool_size = cases[i].pool;
		cfg.redis_timeout_ms = cases[i].timeout;
		cfg.lmdb_map_size = cases[i].map;
		cr_expect_eq(spent_open(&cfg, &s, err, sizeof(err)), PP_ERR_CONFIG,
			     "case %zu", i);
		cr_expect_null(s, "case %zu", i);
		cr_expect(err[0] != '\0' && strcmp(err, "stale") != 0,
			  "case %zu: %s", i, err);
	}
}

Test(spent, accepts_null_when_closed_or_asked)
{
	struct spent_stats st;
	uint8_t key[32] = { 0 }, nonce[32] = { 0 };
	uint64_t removed = 5;

	spent_close(NULL);
	spent_shutdown(NULL);
	spent_stats_get(NULL, &st);
	cr_expect_eq(st.requests, 0);
	cr_expect_eq(tu_spent_record(NULL, key, nonce, 1), PP_ERR_ARG);
	cr_expect_eq(tu_spent_contains(NULL, key, nonce), PP_ERR_ARG);
	cr_expect_eq(spent_drop_key(NULL, key, &removed), PP_ERR_ARG);
	cr_expect_eq(removed, 0);
	removed = 5;
	cr_expect_eq(spent_purge_expired(NULL, 1, &removed), PP_ERR_ARG);
	cr_expect_eq(removed, 0);
	removed = 5;
	cr_expect_eq(spent_purge_expired_if(NULL, 1, NULL, NULL, &removed), PP_ERR_ARG);
	cr_expect_eq(removed, 0);
	cr_expect_eq(spent_key_dropped(NULL, key), PP_ERR_ARG);
}

/* ---- redis: retries that tell our write from another's ------------------ */

/* One answer through done, waited for later. */
struct t_async {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc;
};

static void t_async_done(void *arg, int rc)
{
	struct t_async *a = arg;

	pthread_mutex_lock(&a->mu);
	a->rc = rc;
	a->done = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static int t_async_wait(struct t_async *a)
{
	pthread_mutex_lock(&a->mu);
	while (!a->done)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	return a->rc;
}

/* The client id of the store's one connection (the only client but raw). */
static long long t_store_client_id(redisContext *raw)
{
	redisReply *me = redisCommand(raw, "CLIENT ID"), *list;
	long long other = -1;
	char *line;

	cr_assert(me != NULL && me->type == REDIS_REPLY_INTEGER);
	list = redisCommand(raw, "CLIENT LIST TYPE normal");
	cr_assert(list != NULL && list->type == REDIS_REPLY_STRING);
	for (line = list->str; line != NULL && *line != '\0';) {
		long long id = strtoll(line + 3, NULL, 10);

		if (strncmp(line, "id=", 3) == 0 && id != me->integer)
			other = id;
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	freeReplyObject(me);
	freeReplyObject(list);
	cr_assert_geq(other, 0, "the store's connection is not listed");
	return other;
}

/* Sends a command on raw without waiting for the reply (the server may be
 * stopped). */
static void t_raw_send(redisContext *raw, const char *cmd, long long id)
{
	int done = 0;

	cr_assert_eq(redisAppendCommand(raw, cmd, id), REDIS_OK);
	while (!done)
		cr_assert_eq(redisBufferWrite(raw, &done), REDIS_OK);
}

static void t_raw_reply(redisContext *raw)
{
	void *r = NULL;

	cr_assert_eq(redisGetReply(raw, &r), REDIS_OK);
	freeReplyObject(r);
}

static void t_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

/* The connection is killed right after our SET was sent: both wait in the
 * stopped server's socket buffers and are handled in one pass. Redis takes
 * the two sockets in either order (measured: the SET first in about half of
 * the scenes), so the SET was applied and its reply lost, or never read;
 * either way the retry must answer 0 (our own id, or a fresh write), never
 * 409. The scene is played up to 8 times, until the SET went first once. */
Test(spent_redis, answers_recorded_when_reply_lost_after_our_write)
{
	struct spent_store *s = t_open_redis_timeout(3000);
	struct spent_stats st;
	redisContext *raw;
	uint8_t key[32], nonce[32];
	uint32_t round;
	long long id;

	/* the killer connects before the store: Redis then more often
	 * handles the store's socket first */
	raw = t_raw(0);
	t_key(key, 0x3d);
	for (round = 0; round < 8; round++) {
		struct t_async a;

		cr_assert_eq(t_record_one(s, 1000 + round), 0);   /* connected */
		id = t_store_client_id(raw);
		memset(&a, 0, sizeof(a));
		pthread_mutex_init(&a.mu, NULL);
		pthread_cond_init(&a.cv, NULL);
		t_nonce(nonce, 2 + round, 0x00);
		tu_redis_signal(&t_redis, SIGSTOP);
		cr_assert_eq(spent_submit(s, key, nonce, t_later(), t_async_done, &a), 0);
		t_ms(50);                          /* the SET is on the wire */
		t_raw_send(raw, "CLIENT KILL ID %lld", id);
		t_ms(30);
		tu_redis_signal(&t_redis, SIGCONT);
		cr_expect_eq(t_async_wait(&a), 0, "round %u: our own write", round);
		t_raw_reply(raw);
		pthread_cond_destroy(&a.cv);
		pthread_mutex_destroy(&a.mu);
		cr_expect_eq(tu_spent_record(s, key, nonce, t_later()), PP_ERR_SPENT);
		spent_stats_get(s, &st);
		if (st.retried_own > 0)
			break;
	}
	fprintf(stderr, "spent_redis lost reply: %llu retries in %u scene(s), %llu "
		"found our own id\n", (unsigned long long)st.retries,
		round < 8 ? round + 1 : 8, (unsigned long long)st.retried_own);
	cr_expect_geq(st.retries, 1);
	redisFree(raw);
	spent_close(s);
}

/* Our connection is killed before our SET is read, and another issuer
 * records the token meanwhile: the retry sees another's id and answers
 * 409. */
Test(spent_redis, answers_spent_when_reply_lost_and_another_wrote)
{
	struct spent_store *s = t_open_redis_timeout(3000);
	struct spent_stats st;
	struct t_async a;
	redisContext *raw, *raw2;
	uint8_t key[32], nonce[32];
	char name[256];
	long long id;
	int done = 0;
	size_t i;

	cr_assert_eq(t_record_one(s, 1), 0);
	raw = t_raw(0);
	id = t_store_client_id(raw);
	raw2 = t_raw(0);   /* a client too: the kill names our id */
	memset(&a, 0, sizeof(a));
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	t_key(key, 0x3d);
	t_nonce(nonce, 3, 0x00);
	strcpy(name, "pp:spent:");
	for (i = 0; i < 32; i++)
		strcat(name, "3d");
	strcat(name, ":00000003");
	for (i = 4; i < 32; i++)
		strcat(name, "00");

	tu_redis_signal(&t_redis, SIGSTOP);
	t_raw_send(raw, "CLIENT KILL ID %lld", id);
	t_ms(50);
	cr_assert_eq(spent_submit(s, key, nonce, t_later(), t_async_done, &a), 0);
	t_ms(100);
	cr_assert_eq(redisAppendCommand(raw2, "SET %s another-issuer NX", name), REDIS_OK);
	while (!done)
		cr_assert_eq(redisBufferWrite(raw2, &done), REDIS_OK);
	t_ms(50);
	tu_redis_signal(&t_redis, SIGCONT);
	cr_expect_eq(t_async_wait(&a), PP_ERR_SPENT, "another issuer's record");
	t_raw_reply(raw);
	t_raw_reply(raw2);
	spent_stats_get(s, &st);
	cr_expect_eq(st.retries, 1);
	cr_expect_eq(st.retried_own, 0);
	redisFree(raw2);
	redisFree(raw);
	pthread_cond_destroy(&a.cv);
	pthread_mutex_destroy(&a.mu);
	spent_close(s);
}

/* redis-min-replicas 1 on a Redis without replicas: WAIT cannot confirm,
 * so the answer is 503, and the record stays (409 afterwards: safe). */
Test(spent_redis, answers_unavailable_and_keeps_record_when_replicas_missing)
{
	struct spent_config cfg;
	struct spent_store *s, *plain;
	struct spent_health h;
	struct spent_stats st;

	t_redis_cfg(&cfg);
	cfg.redis_min_replicas = 1;
	s = t_open_cfg(&cfg);
	cr_expect_eq(t_record_one(s, 1), PP_ERR_UNAVAILABLE);
	spent_stats_get(s, &st);
	cr_expect_eq(st.waits, 1);
	cr_expect_eq(st.wait_failures, 1);
	spent_health_get(s, &h);
	cr_expect_str_eq(spent_cause_name(h.cause), "replicas", "%s", h.message);
	cfg.redis_min_replicas = -1;   /* a single Redis: 0 */
	plain = t_open_cfg(&cfg);
	cr_expect_eq(t_record_one(plain, 1), PP_ERR_SPENT);
	cr_expect_eq(t_record_one(plain, 2), 0);
	spent_stats_get(plain, &st);
	cr_expect_eq(st.waits, 0);
	spent_close(plain);
	spent_close(s);
}

/* Redis killed and restarted under load: 503s only inside the restart
 * window (the outage and AOF load, then the 100 ms back-off and a
 * reconnect: none later than 0.5 s after Redis has loaded), the first
 * request on the dead connection is retried rather than failed, no false
 * 409, and every 0 answers 409 afterwards. */
#define RS_THREADS 8
#define RS_MAX 400000u

struct rs_load {
	struct spent_store *s;
	atomic_int stop;
	atomic_uint next;
	int8_t *rc;
	double *at;
};

static void *rs_main(void *arg)
{
	struct rs_load *l = arg;
	uint8_t key[32], nonce[32];

	t_key(key, 0x4e);
	while (!atomic_load(&l->stop)) {
		uint32_t i = atomic_fetch_add(&l->next, 1);
		int rc;

		if (i >= RS_MAX)
			break;
		t_nonce(nonce, i, 0x44);
		rc = tu_spent_record(l->s, key, nonce, t_later());
		l->at[i] = t_now();
		l->rc[i] = (int8_t)(rc == 0 ? 1 : rc == PP_ERR_SPENT ? 2 : 3);
		t_ms(1);   /* paced: the suites beside this one keep their CPU */
	}
	return NULL;
}

Test(spent_redis, answers_unavailable_only_in_restart_window_when_restarted_under_load)
{
	struct rs_load l;
	pthread_t th[RS_THREADS];
	uint8_t key[32], nonce[32];
	unsigned i, n, ok = 0, spent = 0, bad = 0, late = 0, lost = 0;
	double t_down, t_up, last_bad = 0;

	memset(&l, 0, sizeof(l));
	l.s = t_open_redis_timeout(500);
	l.rc = calloc(RS_MAX, sizeof(*l.rc));
	l.at = calloc(RS_MAX, sizeof(*l.at));
	cr_assert(l.rc != NULL && l.at != NULL);
	for (i = 0; i < RS_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, rs_main, &l), 0);
	t_ms(700);
	t_down = t_now();
	tu_redis_signal(&t_redis, SIGKILL);
	tu_redis_start(&t_redis);          /* same port and directory */
	/* the restart ends when Redis has loaded its AOF (it answers LOADING
	 * before) */
	for (i = 0; i < 500; i++) {
		redisContext *raw = t_raw(0);
		redisReply *r = redisCommand(raw, "INFO persistence");
		int loading = r == NULL || r->str == NULL ||
			      strstr(r->str, "loading:0") == NULL;

		if (r != NULL)
			freeReplyObject(r);
		redisFree(raw);
		if (!loading)
			break;
		t_ms(5);
	}
	t_up = t_now();
	t_ms(1500);
	atomic_store(&l.stop, 1);
	for (i = 0; i < RS_THREADS; i++)
		pthread_join(th[i], NULL);
	n = atomic_load(&l.next);
	if (n > RS_MAX)
		n = RS_MAX;
	for (i = 0; i < n; i++) {
		if (l.rc[i] == 1)
			ok++;
		else if (l.rc[i] == 2)
			spent++;
		else if (l.rc[i] == 3) {
			bad++;
			if (l.at[i] > last_bad)
				last_bad = l.at[i];
			/* past the restart, the back-off and a reconnect
			 * (about 100-250 ms; generous: the CPU is shared) */
			if (l.at[i] > t_up + 0.5)
				late++;
		}
	}
	{
		unsigned bk[20] = { 0 }, okk[20] = { 0 };
		char line[400];
		size_t off = 0;
		int j;

		for (i = 0; i < n; i++) {
			int k = (int)((l.at[i] - t_up + 0.2) * 10);

			if (l.at[i] == 0 || k < 0 || k >= 20)
				continue;
			if (l.rc[i] == 3)
				bk[k]++;
			else if (l.rc[i] == 1)
				okk[k]++;
		}
		for (j = 0; j < 20; j++)
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %u/%u",
						okk[j], bk[j]);
		fprintf(stderr, "spent_redis restart: 0/503 per 100 ms from -0.2 s:%s\n",
			line);
	}
	fprintf(stderr, "spent_redis restart under load: %u requests, %u answered 0, "
		"%u 409, %u 503; redis down (restart and AOF load) for %.0f ms; last "
		"503 %.0f ms after it was back\n", n, ok, spent, bad, (t_up - t_down) * 1000,
		last_bad > 0 ? (last_bad - t_up) * 1000 : 0.0);
	cr_expect_eq(spent, 0, "no false 409");
	cr_expect_eq(late, 0, "503s after the restart window");
	/* AOF everysec survives a kill -9 of the process: every 0 stays */
	t_key(key, 0x4e);
	for (i = 0; i < n; i++) {
		if (l.rc[i] != 1)
			continue;
		t_nonce(nonce, i, 0x44);
		if (tu_spent_contains(l.s, key, nonce) != PP_ERR_SPENT)
			lost++;
	}
	cr_expect_eq(lost, 0, "acknowledged spends lost");
	spent_close(l.s);
	free(l.rc);
	free(l.at);
}
