/* The shared spent-token store: Redis (one server, or a Redis Cluster),
 * for several issuers behind a load balancer.
 *
 * One key per record, <prefix><key id hex>:<nonce hex>, so records spread
 * over a Redis Cluster's slots. Check-and-record is a single
 * SET <key> <request id> NX GET EXAT <expires_at> (Redis >= 7.0): nil means
 * recorded by this request, our own id means recorded by this request's
 * earlier try whose reply was lost, any other value means it was there
 * already. Redis applies it atomically, so of concurrent redemptions of one
 * token exactly one gets nil, across every issuer. The
 * expiry is the key's retirement, after which the token no longer verifies
 * and its record is not needed. Records of a key with no scheduled
 * retirement (SPENT_NO_EXPIRY) get no EXAT. A dropped key leaves
 * <prefix>retired:<key id hex>, without expiry, set before the sweep.
 *
 * Where the work runs: redemptions (SET NX), lookups (EXISTS) and the
 * probe go through the store's I/O thread (spent_redis_async.c), which
 * pipelines them over one async connection and enforces timeout_ms per
 * command, so no HTTP loop thread ever waits for Redis; spent_submit and
 * spent_contains_submit only queue. The probe, on the front's probe
 * thread, queues and waits. Dropping a key's records and the tombstone
 * lookup use a small pool of blocking connections (spent_redis_pool.c) on
 * the maintenance paths.
 *
 * Every new connection, async or pooled, runs AUTH and SELECT as
 * configured and first checks that the server can keep what it
 * acknowledges (spent_redis_health.c); a volatile one is refused (cause
 * "volatile") unless allow_volatile. Every failure is reported with its
 * cause; a successful write marks the store healthy. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <sys/random.h>

#include "base/pp_err.h"
#include "issuer/spent_impl.h"
#include "issuer/spent_redis_int.h"

#define RD_DEFAULT_HOST "127.0.0.1"
#define RD_DEFAULT_PORT 6379u
#define RD_DEFAULT_PREFIX "pp:spent:"
#define RD_DEFAULT_TIMEOUT_MS 500u
#define RD_MAX_TIMEOUT_MS 60000u
#define RD_DEFAULT_POOL 8u
#define RD_MAX_POOL 256u
#define RD_PASSWORD_MAX 512

long long rd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rd_live_add(struct rd_store *s, int delta)
{
	int before = atomic_fetch_add(&s->live, delta);

	if (before == 0 && delta > 0)
		spent_status_connected(s->where.st, 1);
	else if (before + delta == 0 && delta < 0)
		spent_status_connected(s->where.st, 0);
}

size_t rd_key(const struct rd_store *s, const uint8_t *key_id,
		     const uint8_t *nonce, char out[RD_KEY_MAX])
{
	size_t off = s->prefix_len;

	memcpy(out, s->prefix, s->prefix_len);
	spent_hex(key_id, SPENT_KEY_ID_LEN, out + off);
	off += 2 * SPENT_KEY_ID_LEN;
	out[off++] = ':';
	spent_hex(nonce, SPENT_NONCE_LEN, out + off);
	off += 2 * SPENT_NONCE_LEN;
	return off;
}

/* A caller waiting for one answer. */
struct rd_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int rc;
};

static void rd_wait_done(void *arg, int rc)
{
	struct rd_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->rc = rc;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* rd_io_submit, then waits for the answer: for the probe, which runs on
 * the front's probe thread. Never from a done callback (that aborts: it
 * would wait for itself). */
static int rd_io_call(struct rd_store *s, enum rd_kind kind, const char *key,
		      size_t klen, int64_t expires_at, int *lost)
{
	struct rd_wait w;

	/* waiting on the thread that answers would never end */
	if (rd_io_on_thread(s))
		abort();
	memset(&w, 0, sizeof(w));
	if (pthread_mutex_init(&w.mu, NULL) != 0)
		return PP_ERR_UNAVAILABLE;
	if (pthread_cond_init(&w.cv, NULL) != 0) {
		pthread_mutex_destroy(&w.mu);
		return PP_ERR_UNAVAILABLE;
	}
	rd_io_submit(s, kind, key, klen, expires_at, rd_wait_done, &w, lost);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return w.rc;
}

/* Queues the SET; done runs on the I/O thread once Redis answered. */
static void rd_submit(void *impl, const uint8_t *key_id, const uint8_t *nonce,
		      int64_t expires_at, void (*cb)(void *arg, int rc),
		      void *arg)
{
	struct rd_store *s = impl;
	char key[RD_KEY_MAX];
	size_t klen = rd_key(s, key_id, nonce, key);

	rd_io_submit(s, RD_SET, key, klen, expires_at, cb, arg, NULL);
}

/* Queues the EXISTS; done runs on the I/O thread once Redis answered. */
static void rd_contains_submit(void *impl, const uint8_t *key_id,
			       const uint8_t *nonce,
			       void (*cb)(void *arg, int rc), void *arg)
{
	struct rd_store *s = impl;
	char key[RD_KEY_MAX];
	size_t klen = rd_key(s, key_id, nonce, key);

	rd_io_submit(s, RD_EXISTS, key, klen, 0, cb, arg, NULL);
}

void rd_tomb_key(const struct rd_store *s, const uint8_t *key_id,
			char out[RD_TOMB_MAX])
{
	memcpy(out, s->prefix, s->prefix_len);
	memcpy(out + s->prefix_len, "retired:", 8);
	spent_hex(key_id, SPENT_KEY_ID_LEN, out + s->prefix_len + 8);
}

/* A SCAN MATCH pattern for every record of key_id: the prefix with its glob
 * characters escaped, the key id in hex, then ":*". */
void rd_pattern(const struct rd_store *s, const uint8_t *key_id,
		       char out[RD_PATTERN_MAX])
{
	size_t i, off = 0;

	for (i = 0; i < s->prefix_len; i++) {
		char ch = s->prefix[i];

		if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\')
			out[off++] = '\\';
		out[off++] = ch;
	}
	spent_hex(key_id, SPENT_KEY_ID_LEN, out + off);
	off += 2 * SPENT_KEY_ID_LEN;
	out[off++] = ':';
	out[off++] = '*';
	out[off] = '\0';
}

static int rd_drop_key(void *impl, const uint8_t *key_id, uint64_t *removed)
{
	return rd_pool_drop_key(impl, key_id, removed);
}

/* Redis drops each record at its EXAT by itself. */
static int rd_purge_expired(void *impl, int64_t now,
			    int (*may_drop)(void *ctx, const uint8_t *key_id),
			    void *ctx, uint64_t *removed)
{
	(void)impl;
	(void)now;
	(void)may_drop;
	(void)ctx;
	*removed = 0;
	return 0;
}

static int rd_key_dropped(void *impl, const uint8_t *key_id)
{
	return rd_pool_key_dropped(impl, key_id);
}

/* One write while unhealthy, through the I/O thread and outside its
 * back-off: (re)connects with the durability check and sets the probe key,
 * so readiness recovers without traffic. A connection that died unnoticed
 * (no FIN seen) gets one more try on a fresh one. */
static void rd_probe(void *impl)
{
	struct rd_store *s = impl;
	char key[SPENT_PREFIX_MAX + 8];
	int attempt, lost = 0, n;

	n = snprintf(key, sizeof(key), "%sprobe", s->prefix);
	for (attempt = 0; attempt < 2; attempt++) {
		if (rd_io_call(s, RD_PROBE, key, (size_t)n, 0, &lost) == 0 || !lost)
			break;
	}
}

static void rd_stats(void *impl, struct spent_stats *out)
{
	struct rd_store *s = impl;

	out->reconnects = atomic_load(&s->reconnects);
	out->retries = atomic_load(&s->retries);
	out->retried_own = atomic_load(&s->retried_own);
	out->moved = atomic_load(&s->moved);
	out->ask = atomic_load(&s->ask);
	out->topology = atomic_load(&s->topologies);
	out->waits = atomic_load(&s->waits);
	out->wait_failures = atomic_load(&s->wait_failures);
}

static size_t rd_nodes(void *impl, struct spent_node_stats *out, size_t max)
{
	return rd_io_nodes(impl, out, max);
}

/* Called once nothing is pending: the I/O thread answers anything left
 * and exits. */
static void rd_stop(void *impl)
{
	struct rd_store *s = impl;

	/* the topology thread wakes the I/O thread: it stops first */
	rd_topo_stop(s);
	rd_io_stop(s);
}

static void rd_free(void *impl)
{
	struct rd_store *s = impl;

	if (s == NULL)
		return;
	rd_topo_stop(s);
	rd_io_stop(s);
	rd_topo_free(s);
	rd_pool_free(s);
	free(s->host);
	if (s->password != NULL) {
		/* the password is a credential: do not leave it in freed memory */
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

/* hiredis writes with write(2): without this a Redis restart would kill the
 * process with SIGPIPE. Leaves any handler the program installed alone. */
static int rd_sigpipe_ignore(void)
{
	struct sigaction cur, ign;

	if (sigaction(SIGPIPE, NULL, &cur) != 0)
		return -1;
	if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) {
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigemptyset(&ign.sa_mask);
		if (sigaction(SIGPIPE, &ign, NULL) != 0)
			return -1;
	}
	return 0;
}

static int rd_config_check(const struct spent_config *cfg, char *err,
			   size_t errlen)
{
	const char *prefix = cfg->redis_prefix != NULL ? cfg->redis_prefix :
			     RD_DEFAULT_PREFIX;
	size_t i;

	if (cfg->redis_host != NULL &&
	    (cfg->redis_host[0] == '\0' || strlen(cfg->redis_host) > RD_HOST_MAX)) {
		pp_errf(err, errlen, "redis host must be 1..%d characters",
			      RD_HOST_MAX);
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_port > 65535) {
		pp_errf(err, errlen, "redis port %u is out of range (1..65535)",
			      cfg->redis_port);
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_password != NULL &&
	    strlen(cfg->redis_password) > RD_PASSWORD_MAX) {
		pp_errf(err, errlen, "redis password is longer than %d bytes",
			      RD_PASSWORD_MAX);
		return PP_ERR_CONFIG;
	}
	if (strlen(prefix) > SPENT_PREFIX_MAX) {
		pp_errf(err, errlen, "redis key prefix is longer than %d bytes",
			      SPENT_PREFIX_MAX);
		return PP_ERR_CONFIG;
	}
	for (i = 0; prefix[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)prefix[i];

		if (ch <= ' ' || ch >= 0x7f) {
			pp_errf(err, errlen, "redis key prefix may hold only printable ASCII without spaces");
			return PP_ERR_CONFIG;
		}
	}
	if (cfg->redis_timeout_ms > RD_MAX_TIMEOUT_MS) {
		pp_errf(err, errlen, "redis timeout %u ms is above %u ms",
			      cfg->redis_timeout_ms, RD_MAX_TIMEOUT_MS);
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_min_replicas > RD_MAX_REPLICAS) {
		pp_errf(err, errlen, "redis-min-replicas %d is above %d",
			cfg->redis_min_replicas, RD_MAX_REPLICAS);
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_cluster != NULL && cfg->redis_cluster[0] != '\0' &&
	    cfg->redis_db != 0) {
		pp_errf(err, errlen, "redis-db must be 0 with redis-cluster (a "
			"cluster has only database 0)");
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_pool_size > RD_MAX_POOL) {
		pp_errf(err, errlen, "redis pool size %u is above %u",
			      cfg->redis_pool_size, RD_MAX_POOL);
		return PP_ERR_CONFIG;
	}
	return 0;
}

/* "HOST:PORT[,HOST:PORT...]" into s->seeds. */
static int rd_seeds_parse(struct rd_store *s, const char *list, char *err,
			  size_t errlen)
{
	const char *p = list;

	s->n_seeds = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		if (s->n_seeds >= RD_NODES_MAX) {
			pp_errf(err, errlen, "redis-cluster names more than %d seed nodes",
				RD_NODES_MAX);
			return PP_ERR_CONFIG;
		}
		if (rd_addr_parse(p, len, &s->seeds[s->n_seeds]) != 0) {
			pp_errf(err, errlen, "redis-cluster: \"%.*s\" is not HOST:PORT "
				"(port 1..65535)", (int)(len > 300 ? 300 : len), p);
			return PP_ERR_CONFIG;
		}
		s->n_seeds++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (s->n_seeds == 0) {
		pp_errf(err, errlen, "redis-cluster names no seed node; give HOST:PORT[,HOST:PORT...]");
		return PP_ERR_CONFIG;
	}
	return 0;
}

/* The random half of this store's request ids: two stores (two issuers)
 * never share one. */
static int rd_instance_init(struct rd_store *s)
{
	uint8_t rnd[RD_ID_LEN / 4];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(rnd)) {
		n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return PP_ERR_INTERNAL;
		got += (size_t)n;
	}
	spent_hex(rnd, sizeof(rnd), s->instance);
	atomic_init(&s->next_id, 0);
	return 0;
}

int spent_redis_open(const struct spent_config *cfg, struct spent_status *st,
		     void **impl, char *err, size_t errlen)
{
	struct rd_store *s = NULL;
	unsigned timeout_ms;
	const char *prefix;
	int rc;

	*impl = NULL;
	rc = rd_config_check(cfg, err, errlen);
	if (rc != 0)
		return rc;
	if (rd_sigpipe_ignore() != 0) {
		pp_errf(err, errlen, "cannot ignore SIGPIPE for the redis connections");
		return PP_ERR_INTERNAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PP_ERR_NOMEM;
	rc = PP_ERR_NOMEM;
	s->host = strdup(cfg->redis_host != NULL ? cfg->redis_host : RD_DEFAULT_HOST);
	if (s->host == NULL)
		goto cleanup;
	if (cfg->redis_password != NULL && cfg->redis_password[0] != '\0') {
		s->password = strdup(cfg->redis_password);
		if (s->password == NULL)
			goto cleanup;
	}
	s->port = (int)(cfg->redis_port != 0 ? cfg->redis_port : RD_DEFAULT_PORT);
	s->db = cfg->redis_db;
	prefix = cfg->redis_prefix != NULL ? cfg->redis_prefix : RD_DEFAULT_PREFIX;
	s->prefix_len = strlen(prefix);
	memcpy(s->prefix, prefix, s->prefix_len + 1);
	timeout_ms = cfg->redis_timeout_ms != 0 ? cfg->redis_timeout_ms :
		     RD_DEFAULT_TIMEOUT_MS;
	s->tv.tv_sec = (time_t)(timeout_ms / 1000);
	s->tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
	s->timeout_ms = timeout_ms;
	s->n = cfg->redis_pool_size != 0 ? cfg->redis_pool_size : RD_DEFAULT_POOL;
	rc = rd_pool_init(s);
	if (rc != 0)
		goto cleanup;
	atomic_init(&s->next, 0);
	atomic_init(&s->down_until_ms, 0);
	atomic_init(&s->reconnects, 0);
	atomic_init(&s->live, 0);
	s->where.st = st;
	s->where.host = s->host;
	s->where.port = s->port;
	s->where.timeout_ms = timeout_ms;
	s->where.allow_volatile = cfg->redis_allow_volatile;
	if (cfg->redis_cluster != NULL && cfg->redis_cluster[0] != '\0') {
		rc = rd_seeds_parse(s, cfg->redis_cluster, err, errlen);
		if (rc != 0)
			goto cleanup;
		s->cluster = 1;
	}
	s->min_replicas = cfg->redis_min_replicas >= 0 ? cfg->redis_min_replicas :
			  s->cluster ? 1 : 0;
	s->where.min_replicas = s->min_replicas;
	rc = rd_instance_init(s);
	if (rc != 0) {
		pp_errf(err, errlen, "cannot read random bytes for redis request ids");
		goto cleanup;
	}
	if (s->cluster) {
		rc = rd_topo_start(s);
		if (rc != 0) {
			pp_errf(err, errlen, "cannot start the redis cluster topology thread");
			goto cleanup;
		}
	}
	rc = rd_io_start(s);
	if (rc != 0) {
		pp_errf(err, errlen, "cannot start the redis I/O thread");
		goto cleanup;
	}
	*impl = s;
	s = NULL;
	rc = 0;

cleanup:
	rd_free(s);
	return rc;
}

const struct spent_ops spent_redis_ops = {
	.name = "redis",
	.submit = rd_submit,
	.contains_submit = rd_contains_submit,
	.drop_key = rd_drop_key,
	.purge_expired = rd_purge_expired,
	.key_dropped = rd_key_dropped,
	.probe = rd_probe,
	.stats = rd_stats,
	.nodes = rd_nodes,
	.stop = rd_stop,
	.free = rd_free,
};
