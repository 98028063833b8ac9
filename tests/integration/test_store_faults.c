/* The spent store's failures seen from outside, against the real server:
 * a full disk (a small tmpfs as the store's directory) and a full map at
 * lmdb-map-max-mb give 503, a log line naming the cause, a metric and a
 * failing /readyz, and readiness comes back once space is freed; a Redis
 * that cannot keep acknowledged records is refused unless
 * --redis-allow-volatile; with AOF (always, everysec) redeemed tokens stay
 * redeemed across a kill -9 of Redis. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "../unit/tu_redis.h"
#include "../unit/tu_spent.h"
#include "crypto/b64.h"
#include "base/pp_err.h"
#include "crypto/token.h"
#include "issuer/spent.h"
#include "th.h"


TestSuite(store_faults, .timeout = 90, .fini = tu_leak_check);

/* Polls /readyz until it answers want (up to secs); returns the body. */
static char *sf_readyz_until(const struct th_server *s, long want, double secs)
{
	long status = 0;
	char *body = NULL;
	int i;

	for (i = 0; i < (int)(secs * 10); i++) {
		free(body);
		status = th_get(s, "/readyz", &body);
		if (status == want)
			return body;
		th_sleep_ms(100);
	}
	cr_assert_fail("/readyz stayed %ld, wanted %ld: %s", status, want, body);
	return NULL;
}

/* Writes zeros to path until the file system is full. */
static void sf_fill(const char *path)
{
	static char block[65536];
	size_t sizes[] = { sizeof(block), 4096, 512, 1 };
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t i;

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		while (write(fd, block, sizes[i]) == (ssize_t)sizes[i])
			;
	cr_assert_eq(errno, ENOSPC, "filling %s: %s", path, strerror(errno));
	fsync(fd);
	close(fd);
}

/* A full file system under the spent store: 503 (never 200), a log line
 * naming the cause, the metric, /readyz 503 naming the store; after space
 * is freed, /readyz 200 without any redemption, and redemptions 200. */
Test(store_faults, lmdb_disk_full_is_seen_and_recovers)
{
	struct th_server s;
	struct th_client c;
	char spent[400], filler[420], tok[600], *body;
	long st = 200;
	int i, ok = 0;

	th_dir_init(&s);
	cr_assert_eq(mkdir(s.data_dir, 0700), 0);
	snprintf(spent, sizeof(spent), "%s/spent", s.data_dir);
	cr_assert_eq(mkdir(spent, 0700), 0);
	if (mount("tmpfs", spent, "tmpfs", 0, "size=2m,mode=0700") != 0) {
		int e = errno;

		th_dir_cleanup(&s);
		cr_skip_test("cannot mount a tmpfs for the full-disk test (%s); "
			     "run the suite as root with CAP_SYS_ADMIN", strerror(e));
	}
	th_server_start(&s, (const char *[]){ "--lmdb-map-mb", "1", NULL }, NULL);
	th_client_init(&c, &s);
	free(sf_readyz_until(&s, 200, 5));

	snprintf(filler, sizeof(filler), "%s/filler", spent);
	sf_fill(filler);
	/* pages LMDB already has are reused for a while; new ones fail */
	for (i = 0; i < 400 && st == 200; i++) {
		th_issue(&s, &c, tok, sizeof(tok));
		st = th_redeem(&s, tok, NULL, 0);
		ok += st == 200;
	}
	cr_assert_eq(st, 503, "after %d redemptions", i);
	/* the failed token was not recorded: it redeems once space is back */
	cr_expect(th_log_contains(&s, "[disk_full]: disk full (No space left on device)"),
		  "no log line names the cause");
	cr_expect(th_log_contains(&s, "free space on that file system"));
	cr_expect_gt(th_metric_value(&s, "ppissuer_spent_store_errors_total{backend=\"lmdb\",cause=\"disk_full\"} "),
		     0);
	cr_expect_eq(th_metric_value(&s, "ppissuer_spent_store_healthy{backend=\"lmdb\"} "), 0);
	cr_assert_eq(th_get(&s, "/readyz", &body), 503);
	cr_expect(strstr(body, "\"error\":\"not_ready\"") != NULL, "%s", body);
	cr_expect(strstr(body, "spent store cannot record: disk full") != NULL, "%s", body);
	cr_expect(strstr(body, "\"spent_store\":{\"backend\":\"lmdb\",\"healthy\":false,"
			       "\"cause\":\"disk_full\"") != NULL, "%s", body);
	free(body);

	cr_assert_eq(unlink(filler), 0);
	/* no redemption in between: the probe notices */
	body = sf_readyz_until(&s, 200, 5);
	cr_expect_str_eq(body, "{\"status\":\"ready\",\"spent_store\":"
			       "{\"backend\":\"lmdb\",\"healthy\":true}}");
	free(body);
	cr_expect_eq(th_metric_value(&s, "ppissuer_spent_store_healthy{backend=\"lmdb\"} "), 1);
	cr_expect(th_log_contains(&s, "spent store (lmdb) recovered"));
	cr_expect_eq(th_redeem(&s, tok, NULL, 0), 200);
	cr_expect_eq(th_redeem(&s, tok, NULL, 0), 409);
	th_issue(&s, &c, tok, sizeof(tok));
	cr_expect_eq(th_redeem(&s, tok, NULL, 0), 200);

	th_client_free(&c);
	cr_expect_eq(th_server_stop(&s), 0);
	umount2(spent, MNT_DETACH);
	th_dir_cleanup(&s);
}

/* The answers to a window of submissions. */
struct sf_window {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned answered, failed;
};

static void sf_window_done(void *arg, int rc)
{
	struct sf_window *w = arg;

	pthread_mutex_lock(&w->mu);
	w->answered++;
	if (rc != 0)
		w->failed++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Submits n fresh nonces under key at once, so that they share commits, and
 * waits for every answer; returns how many failed. */
static unsigned sf_record_window(struct spent_store *sp, const uint8_t key[32],
				 uint32_t *next, unsigned n, int64_t exp)
{
	struct sf_window w = { .answered = 0, .failed = 0 };
	uint8_t nonce[32];
	unsigned i;

	cr_assert_eq(pthread_mutex_init(&w.mu, NULL), 0);
	cr_assert_eq(pthread_cond_init(&w.cv, NULL), 0);
	for (i = 0; i < n; i++) {
		memset(nonce, 0, sizeof(nonce));
		memcpy(nonce, next, sizeof(*next));
		(*next)++;
		cr_assert_eq(spent_submit(sp, key, nonce, exp, sf_window_done, &w), 0);
	}
	pthread_mutex_lock(&w.mu);
	while (w.answered < n)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return w.failed;
}

/* Fills the lmdb store under data_dir (1 MiB map, at its maximum) through
 * the library: windows of submissions (they share commits) while they fit,
 * then single records until one does not. */
static void sf_fill_store(const char *data_dir)
{
	int64_t exp = (int64_t)time(NULL) + 86400;
	struct spent_config cfg;
	struct spent_store *sp = NULL;
	uint8_t key[32], nonce[32];
	uint32_t next = 0;
	char err[256];
	int rc = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dir = data_dir;
	cfg.lmdb_map_size = 1 << 20;
	cfg.lmdb_map_max = 1 << 20;
	cr_assert_eq(spent_open(&cfg, &sp, err, sizeof(err)), 0, "%s", err);
	memset(key, 0x42, sizeof(key));
	while (next < 100000 && sf_record_window(sp, key, &next, 256, exp) == 0)
		;
	while (next < 100000 && rc == 0) {
		memset(nonce, 0, sizeof(nonce));
		memcpy(nonce, &next, sizeof(next));
		next++;
		rc = tu_spent_record(sp, key, nonce, exp);
	}
	cr_assert_eq(rc, PP_ERR_UNAVAILABLE);
	spent_close(sp);
}

/* A store filled to lmdb-map-max-mb: 503 with the cause and what to do in
 * the log; the data file never grows past the maximum. The store is filled
 * beforehand through the library, which is much faster than HTTP. */
Test(store_faults, lmdb_map_full_at_its_maximum)
{
	struct th_server s;
	struct th_client c;
	char tok[600], path[420], *body;
	struct stat fst;
	unsigned i;

	th_dir_init(&s);
	cr_assert_eq(mkdir(s.data_dir, 0700), 0);
	sf_fill_store(s.data_dir);

	th_server_start(&s, (const char *[]){ "--lmdb-map-mb", "1",
					      "--lmdb-map-max-mb", "1", NULL }, NULL);
	th_client_init(&c, &s);
	/* a reopened store may have a few pages free again: redeem until the
	 * maximum is reached, which must be soon and must answer 503 */
	for (i = 0; i < 50; i++) {
		long st;

		th_issue(&s, &c, tok, sizeof(tok));
		st = th_redeem(&s, tok, NULL, 0);
		if (st == 503)
			break;
		cr_assert_eq(st, 200, "redemption %u answered %ld", i, st);
	}
	cr_assert_lt(i, 50, "the store never reached its maximum");
	cr_expect(th_log_contains(&s, "[map_full]: spent store full at its maximum of 1 MiB"),
		  "no log line names the cause");
	cr_expect(th_log_contains(&s, "raise lmdb-map-max-mb"));
	cr_expect_gt(th_metric_value(&s, "ppissuer_spent_store_errors_total{backend=\"lmdb\",cause=\"map_full\"} "),
		     0);
	cr_assert_eq(th_get(&s, "/readyz", &body), 503);
	cr_expect(strstr(body, "\"cause\":\"map_full\"") != NULL, "%s", body);
	free(body);
	snprintf(path, sizeof(path), "%s/spent/data.mdb", s.data_dir);
	cr_assert_eq(stat(path, &fst), 0);
	cr_expect_leq(fst.st_size, 1 << 20, "data file %lld bytes", (long long)fst.st_size);

	th_client_free(&c);
	cr_expect_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

static void sf_redis_start(struct tu_redis *rd, const char *const *extra)
{
	size_t i;

	memset(rd, 0, sizeof(*rd));
	for (i = 0; extra != NULL && extra[i] != NULL && i < 8; i++)
		rd->extra[i] = extra[i];
	tu_redis_start(rd);
}

static void sf_server_redis(struct th_server *s, const struct tu_redis *rd,
			    int allow_volatile)
{
	char port[16];

	snprintf(port, sizeof(port), "%u", rd->port);
	th_dir_init(s);
	th_server_start(s, (const char *[]){ "--spent-backend", "redis",
					     "--redis-port", port,
					     allow_volatile ? "--redis-allow-volatile" : NULL,
					     NULL }, NULL);
}

/* Persistence off (RDB off, no AOF): refused with what to change, seen in
 * readyz and metrics; with --redis-allow-volatile accepted. */
Test(store_faults, redis_without_persistence_refused_unless_allowed)
{
	static const char *const off[] = { "--appendonly", "no", NULL };
	struct tu_redis rd;
	struct th_server s;
	struct th_client c;
	char tok[600], *body;

	sf_redis_start(&rd, off);
	sf_server_redis(&s, &rd, 0);
	th_client_init(&c, &s);
	th_issue(&s, &c, tok, sizeof(tok));
	cr_expect_eq(th_redeem(&s, tok, NULL, 0), 503);
	cr_expect(th_log_contains(&s, "[volatile]: redis at 127.0.0.1:"));
	cr_expect(th_log_contains(&s, "set \\\"appendonly yes\\\" and \\\"appendfsync always\\\""));
	cr_expect(th_log_contains(&s, "--redis-allow-volatile"));
	cr_assert_eq(th_get(&s, "/readyz", &body), 503);
	cr_expect(strstr(body, "\"spent_store\":{\"backend\":\"redis\",\"healthy\":false,"
			       "\"cause\":\"volatile\"") != NULL, "%s", body);
	free(body);
	cr_expect_gt(th_metric_value(&s, "ppissuer_spent_store_errors_total{backend=\"redis\",cause=\"volatile\"} "),
		     0);
	cr_expect_eq(th_metric_value(&s, "ppissuer_spent_store_healthy{backend=\"redis\"} "), 0);
	th_client_free(&c);
	cr_expect_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);

	sf_server_redis(&s, &rd, 1);
	th_client_init(&c, &s);
	th_issue(&s, &c, tok, sizeof(tok));
	cr_expect_eq(th_redeem(&s, tok, NULL, 0), 200);
	cr_expect_eq(th_redeem(&s, tok, NULL, 0), 409);
	free(sf_readyz_until(&s, 200, 3));
	cr_expect(th_log_contains(&s, "redis-allow-volatile is set"));
	th_client_free(&c);
	cr_expect_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
	tu_redis_free(&rd);
}

/* AOF with appendfsync always, then everysec: redeem N tokens, kill -9
 * Redis, restart it on the same directory: every token is still spent.
 * With always at once. With everysec Redis may hold back its AOF write for
 * up to 2 s while a background fsync is slow (a busy disk, as on a loaded
 * test machine), replying meanwhile: those records die with the process,
 * which is why the server warns about everysec; the kill waits them out. */
Test(store_faults, redis_aof_keeps_redeemed_tokens_across_kill_9)
{
	static const char *const modes[][3] = {
		{ "--appendfsync", "always", NULL },
		{ "--appendfsync", "everysec", NULL },
	};
	enum { N = 40 };
	static char toks[N][600];
	size_t m;

	for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct tu_redis rd;
		struct th_server s;
		struct th_client c;
		int i, again = 0;

		sf_redis_start(&rd, modes[m]);
		sf_server_redis(&s, &rd, 0);
		th_client_init(&c, &s);
		free(sf_readyz_until(&s, 200, 5));
		for (i = 0; i < N; i++) {
			th_issue(&s, &c, toks[i], sizeof(toks[i]));
			cr_assert_eq(th_redeem(&s, toks[i], NULL, 0), 200, "%s: token %d",
				     modes[m][1], i);
		}
		if (m == 1) {
			cr_expect(th_log_wait(&s, "appendfsync everysec", 3000),
				  "no warning about everysec");
			th_sleep_ms(3500);
		} else {
			cr_expect(!th_log_contains(&s, "appendfsync everysec"),
				  "a warning about everysec with always");
		}
		tu_redis_signal(&rd, SIGKILL);
		cr_expect_eq(th_redeem(&s, toks[0], NULL, 0), 503);
		/* readiness follows the store */
		free(sf_readyz_until(&s, 503, 3));
		tu_redis_start(&rd);   /* same port and directory */
		free(sf_readyz_until(&s, 200, 5));
		for (i = 0; i < N; i++)
			again += th_redeem(&s, toks[i], NULL, 0) != 409;
		cr_expect_eq(again, 0, "%s: %d of %d redeemed tokens were not "
			     "409 after kill -9 of redis", modes[m][1], again, N);
		th_client_free(&c);
		cr_expect_eq(th_server_stop(&s), 0);
		th_dir_cleanup(&s);
		tu_redis_free(&rd);
	}
}
