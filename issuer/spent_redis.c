/* The shared spent-token store: Redis, for several issuers behind a load
 * balancer.
 *
 * One key per record, <prefix><key id hex>:<nonce hex>, so records spread
 * over a Redis Cluster's slots. Check-and-record is a single
 * SET <key> 1 NX EXAT <expires_at> (Redis >= 6.2): "OK" means recorded, nil
 * means it was there already. Redis applies it atomically, so of concurrent
 * redemptions of one token exactly one gets "OK", across every issuer. The
 * expiry is the key's retirement, after which the token no longer verifies
 * and its record is not needed.
 *
 * Connections: a small pool, one mutex each; a caller takes a free one (or
 * waits for one). Connect and command timeouts are both timeout_ms. Any
 * failure (refused, timed out, error reply, lost connection) answers
 * PP_ERR_UNAVAILABLE and drops the connection; the next call on that slot
 * reconnects. After a failed connect, calls fail fast for a short back-off
 * instead of each waiting out a connect timeout. A timed-out SET may still
 * have been applied; answering "unavailable" is the safe side of that: the
 * client retries and gets "spent", never a second "valid".
 *
 * Every new connection first checks that the server can keep what it
 * acknowledges (spent_redis_health.c); a volatile one is refused (cause
 * "volatile") unless allow_volatile, and connects are then retried after a
 * longer back-off. Every failure is reported with its cause; a successful
 * write marks the store healthy. Records of a key with no scheduled
 * retirement (SPENT_NO_EXPIRY) get no EXAT. A dropped key leaves
 * <prefix>retired:<key id hex>, without expiry, set before the sweep. */
#include <errno.h>
#include <hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "crypto/pp_err.h"
#include "issuer/spent_impl.h"
#include "issuer/spent_redis_int.h"

#define RD_DEFAULT_HOST "127.0.0.1"
#define RD_DEFAULT_PORT 6379u
#define RD_DEFAULT_PREFIX "pp:spent:"
#define RD_DEFAULT_TIMEOUT_MS 500u
#define RD_MAX_TIMEOUT_MS 60000u
#define RD_DEFAULT_POOL 8u
#define RD_MAX_POOL 256u
#define RD_BACKOFF_MS 100
#define RD_VOLATILE_BACKOFF_MS 1000  /* each try costs INFO and CONFIG */
#define RD_PROBE_PX "60000"          /* the probe key's lifetime */
#define RD_SCAN_COUNT "1000"
#define RD_HOST_MAX 255
#define RD_PASSWORD_MAX 512
/* <prefix><64 hex>:<64 hex> */
#define RD_KEY_MAX (SPENT_PREFIX_MAX + 2 * SPENT_KEY_ID_LEN + 1 + 2 * SPENT_NONCE_LEN + 1)
/* <prefix>retired:<64 hex> */
#define RD_TOMB_MAX (SPENT_PREFIX_MAX + 8 + 2 * SPENT_KEY_ID_LEN + 1)
/* the MATCH pattern escapes every prefix byte at worst */
#define RD_PATTERN_MAX (2 * SPENT_PREFIX_MAX + 2 * SPENT_KEY_ID_LEN + 3)

struct rd_conn {
	pthread_mutex_t mu;
	redisContext *c;     /* NULL while disconnected */
};

struct rd_store {
	char *host;
	int port;
	char *password;       /* NULL when unset */
	unsigned db;
	char prefix[SPENT_PREFIX_MAX + 1];
	size_t prefix_len;
	struct timeval tv;
	unsigned n;
	struct rd_conn *conns;
	unsigned n_mu_ok;     /* conns[0..n_mu_ok) have an initialised mutex */
	atomic_uint next;     /* where the next caller starts looking */
	atomic_llong down_until_ms; /* monotonic; no connect attempt before */
	atomic_ullong reconnects;
	atomic_int live;      /* connections up */
	struct rd_where where; /* for failure reports */
};

static long long rd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rd_reply_free(redisReply *r)
{
	if (r != NULL)
		freeReplyObject(r);
}

static int rd_reply_is_ok(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STATUS &&
	       strcmp(r->str, "OK") == 0;
}

static void rd_conn_drop(struct rd_store *s, struct rd_conn *c)
{
	if (c->c == NULL)
		return;
	redisFree(c->c);
	c->c = NULL;
	if (atomic_fetch_sub(&s->live, 1) == 1)
		spent_status_connected(s->where.st, 0);
}

/* Takes a pooled connection: the first free one from a rotating start, or
 * waits for the start one when all are busy. Returned locked. */
static struct rd_conn *rd_conn_take(struct rd_store *s)
{
	unsigned start = atomic_fetch_add(&s->next, 1) % s->n, i;
	struct rd_conn *c;

	for (i = 0; i < s->n; i++) {
		c = &s->conns[(start + i) % s->n];
		if (pthread_mutex_trylock(&c->mu) == 0)
			return c;
	}
	c = &s->conns[start];
	pthread_mutex_lock(&c->mu);
	return c;
}

static void rd_conn_give(struct rd_conn *c)
{
	pthread_mutex_unlock(&c->mu);
}

/* Connects the slot when it is not, with AUTH and SELECT as configured,
 * then checks the server's durability. Failures are reported, except the
 * fast ones inside a back-off (the store already says why). */
static int rd_conn_ready(struct rd_store *s, struct rd_conn *c)
{
	redisContext *ctx = NULL;
	redisReply *r = NULL;
	long long backoff = RD_BACKOFF_MS;
	int rc = PP_ERR_UNAVAILABLE;

	if (c->c != NULL)
		return 0;
	if (rd_now_ms() < atomic_load(&s->down_until_ms))
		return PP_ERR_UNAVAILABLE;
	errno = 0;
	ctx = redisConnectWithTimeout(s->host, s->port, s->tv);
	if (ctx == NULL || ctx->err != 0) {
		rd_report(&s->where, ctx, NULL, errno, "connecting");
		goto cleanup;
	}
	if (redisSetTimeout(ctx, s->tv) != REDIS_OK) {
		rd_report(&s->where, ctx, NULL, errno, "connecting");
		goto cleanup;
	}
	(void)redisEnableKeepAlive(ctx);
	if (s->password != NULL) {
		r = redisCommand(ctx, "AUTH %s", s->password);
		if (!rd_reply_is_ok(r)) {
			rd_report(&s->where, ctx, r, errno, "authenticating");
			goto cleanup;
		}
		rd_reply_free(r);
		r = NULL;
	}
	if (s->db != 0) {
		r = redisCommand(ctx, "SELECT %u", s->db);
		if (!rd_reply_is_ok(r)) {
			rd_report(&s->where, ctx, r, errno, "selecting redis-db");
			goto cleanup;
		}
		rd_reply_free(r);
		r = NULL;
	}
	if (rd_durability_check(&s->where, ctx) != 0) {
		if (ctx->err == 0)
			backoff = RD_VOLATILE_BACKOFF_MS;
		goto cleanup;
	}
	c->c = ctx;
	ctx = NULL;
	atomic_fetch_add(&s->reconnects, 1);
	if (atomic_fetch_add(&s->live, 1) == 0)
		spent_status_connected(s->where.st, 1);
	rc = 0;

cleanup:
	rd_reply_free(r);
	if (ctx != NULL) {
		redisFree(ctx);
		atomic_store(&s->down_until_ms, rd_now_ms() + backoff);
	}
	return rc;
}

/* Drops every idle pooled connection but c: after one died (Redis
 * restarted, a proxy cut them) the others most likely did too, and each
 * would otherwise cost a failed request (or a probe second) to find out. */
static void rd_pool_drop_idle(struct rd_store *s, const struct rd_conn *c)
{
	unsigned i;

	for (i = 0; i < s->n; i++) {
		struct rd_conn *o = &s->conns[i];

		if (o == c || pthread_mutex_trylock(&o->mu) != 0)
			continue;
		rd_conn_drop(s, o);
		pthread_mutex_unlock(&o->mu);
	}
}

/* After a command: NULL means the connection failed (I/O error, timeout,
 * closed); an error reply means the server refused. Either way the failure
 * is reported and the slot dropped so the next call starts clean. */
static void rd_after_failure(struct rd_store *s, struct rd_conn *c,
			     const redisReply *r, int err_no, const char *what)
{
	rd_report(&s->where, c->c, r, err_no, what);
	rd_conn_drop(s, c);
	if (r == NULL) {
		atomic_store(&s->down_until_ms, rd_now_ms() + RD_BACKOFF_MS);
		rd_pool_drop_idle(s, c);
	}
}

static size_t rd_key(const struct rd_store *s, const uint8_t *key_id,
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

static int rd_check_and_record(void *impl, const uint8_t *key_id,
			       const uint8_t *nonce, int64_t expires_at)
{
	struct rd_store *s = impl;
	struct rd_conn *c;
	redisReply *r = NULL;
	char key[RD_KEY_MAX];
	size_t klen = rd_key(s, key_id, nonce, key);
	int rc = PP_ERR_UNAVAILABLE;

	c = rd_conn_take(s);
	if (rd_conn_ready(s, c) != 0)
		goto cleanup;
	errno = 0;
	if (expires_at == SPENT_NO_EXPIRY)
		r = redisCommand(c->c, "SET %b 1 NX", key, klen);
	else
		r = redisCommand(c->c, "SET %b 1 NX EXAT %lld", key, klen,
				 (long long)expires_at);
	if (r != NULL && r->type == REDIS_REPLY_NIL)
		rc = PP_ERR_SPENT;
	else if (rd_reply_is_ok(r))
		rc = 0;
	else
		rd_after_failure(s, c, r, errno, "recording a redemption");
	/* "spent" is a write the server took too (it answered the NX) */
	if (rc == 0 || rc == PP_ERR_SPENT)
		spent_status_ok(s->where.st);

cleanup:
	rd_reply_free(r);
	rd_conn_give(c);
	return rc;
}

/* Redis answers in one round trip, so this simply runs the blocking call. */
static void rd_submit(void *impl, const uint8_t *key_id, const uint8_t *nonce,
		      int64_t expires_at, void (*cb)(void *arg, int rc),
		      void *arg)
{
	cb(arg, rd_check_and_record(impl, key_id, nonce, expires_at));
}

static int rd_contains(void *impl, const uint8_t *key_id, const uint8_t *nonce)
{
	struct rd_store *s = impl;
	struct rd_conn *c;
	redisReply *r = NULL;
	char key[RD_KEY_MAX];
	size_t klen = rd_key(s, key_id, nonce, key);
	int rc = PP_ERR_UNAVAILABLE;

	c = rd_conn_take(s);
	if (rd_conn_ready(s, c) != 0)
		goto cleanup;
	errno = 0;
	r = redisCommand(c->c, "EXISTS %b", key, klen);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		rc = r->integer > 0 ? PP_ERR_SPENT : 0;
	else
		rd_after_failure(s, c, r, errno, "looking up a token");

cleanup:
	rd_reply_free(r);
	rd_conn_give(c);
	return rc;
}

/* <prefix>retired:<key id hex>, NUL-terminated. */
static void rd_tomb_key(const struct rd_store *s, const uint8_t *key_id,
			char out[RD_TOMB_MAX])
{
	memcpy(out, s->prefix, s->prefix_len);
	memcpy(out + s->prefix_len, "retired:", 8);
	spent_hex(key_id, SPENT_KEY_ID_LEN, out + s->prefix_len + 8);
}

/* A SCAN MATCH pattern for every record of key_id: the prefix with its glob
 * characters escaped, the key id in hex, then ":*". */
static void rd_pattern(const struct rd_store *s, const uint8_t *key_id,
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

/* UNLINKs the keys of one SCAN page; adds what Redis removed to *removed. */
static int rd_unlink_page(struct rd_conn *c, const redisReply *keys,
			  uint64_t *removed)
{
	const char **argv = NULL;
	size_t *lens = NULL, i;
	redisReply *r = NULL;
	int rc = PP_ERR_UNAVAILABLE;

	if (keys->elements == 0)
		return 0;
	if (keys->elements > 100000)   /* far above COUNT: not a sane reply */
		return PP_ERR_UNAVAILABLE;
	argv = calloc(keys->elements + 1, sizeof(*argv));
	lens = calloc(keys->elements + 1, sizeof(*lens));
	if (argv == NULL || lens == NULL)
		goto cleanup;
	argv[0] = "UNLINK";
	lens[0] = 6;
	for (i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];

		if (k == NULL || k->type != REDIS_REPLY_STRING)
			goto cleanup;
		argv[i + 1] = k->str;
		lens[i + 1] = k->len;
	}
	r = redisCommandArgv(c->c, (int)keys->elements + 1, argv, lens);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		goto cleanup;
	*removed += r->integer > 0 ? (uint64_t)r->integer : 0;
	rc = 0;

cleanup:
	rd_reply_free(r);
	free(argv);
	free(lens);
	return rc;
}

/* SCAN MATCH <prefix><key id>:* and UNLINK page by page. SCAN may return a
 * key twice; UNLINK of a missing key counts 0, so the total stays right.
 * On any failure the connection is dropped (a fresh one is cheap, and it
 * may be mid-reply). */
static int rd_drop_key(void *impl, const uint8_t *key_id, uint64_t *removed)
{
	struct rd_store *s = impl;
	struct rd_conn *c;
	redisReply *r = NULL;
	char pattern[RD_PATTERN_MAX], tomb[RD_TOMB_MAX];
	char cursor[32] = "0";
	int rc = PP_ERR_UNAVAILABLE;

	*removed = 0;
	rd_pattern(s, key_id, pattern);
	rd_tomb_key(s, key_id, tomb);
	c = rd_conn_take(s);
	if (rd_conn_ready(s, c) != 0)
		goto cleanup;
	/* the tombstone first: a sweep cut short must not leave records gone
	 * without it. NX keeps the time of the first drop. */
	errno = 0;
	r = redisCommand(c->c, "SET %s %lld NX", tomb, (long long)time(NULL));
	if (r == NULL || (r->type != REDIS_REPLY_NIL && !rd_reply_is_ok(r))) {
		rd_after_failure(s, c, r, errno, "writing a retired key's tombstone");
		goto cleanup;
	}
	rd_reply_free(r);
	r = NULL;
	for (;;) {
		const redisReply *next, *keys;

		errno = 0;
		r = redisCommand(c->c, "SCAN %s MATCH %s COUNT " RD_SCAN_COUNT,
				 cursor, pattern);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			rd_after_failure(s, c, r, errno, "sweeping a retired key's records");
			goto cleanup;
		}
		next = r->element[0];
		keys = r->element[1];
		if (next == NULL || next->type != REDIS_REPLY_STRING ||
		    next->len == 0 || next->len >= sizeof(cursor) ||
		    keys == NULL || keys->type != REDIS_REPLY_ARRAY ||
		    rd_unlink_page(c, keys, removed) != 0) {
			rd_report(&s->where, c->c, NULL, errno,
				  "sweeping a retired key's records");
			rd_conn_drop(s, c);
			goto cleanup;
		}
		memcpy(cursor, next->str, next->len);
		cursor[next->len] = '\0';
		rd_reply_free(r);
		r = NULL;
		if (strcmp(cursor, "0") == 0)
			break;
	}
	spent_status_ok(s->where.st);
	rc = 0;

cleanup:
	rd_reply_free(r);
	rd_conn_give(c);
	return rc;
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
	struct rd_store *s = impl;
	struct rd_conn *c;
	redisReply *r = NULL;
	char tomb[RD_TOMB_MAX];
	int rc = PP_ERR_UNAVAILABLE;

	rd_tomb_key(s, key_id, tomb);
	c = rd_conn_take(s);
	if (rd_conn_ready(s, c) != 0)
		goto cleanup;
	errno = 0;
	r = redisCommand(c->c, "EXISTS %s", tomb);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		rc = r->integer > 0 ? 1 : 0;
	else
		rd_after_failure(s, c, r, errno, "looking up a retired key");

cleanup:
	rd_reply_free(r);
	rd_conn_give(c);
	return rc;
}

/* One write while unhealthy: connects (with the durability check) and sets
 * the probe key, so readiness recovers without traffic. */
static void rd_probe(void *impl)
{
	struct rd_store *s = impl;
	struct rd_conn *c;
	redisReply *r = NULL;
	char key[SPENT_PREFIX_MAX + 8];

	int attempt;

	snprintf(key, sizeof(key), "%sprobe", s->prefix);
	c = rd_conn_take(s);
	/* a pooled connection may have died unnoticed: then one more try on
	 * a fresh one */
	for (attempt = 0; attempt < 2; attempt++) {
		/* the probe is what retries a connect: never inside a back-off */
		atomic_store(&s->down_until_ms, 0);
		if (rd_conn_ready(s, c) != 0)
			goto cleanup;
		errno = 0;
		r = redisCommand(c->c, "SET %s 1 PX " RD_PROBE_PX, key);
		if (rd_reply_is_ok(r)) {
			spent_status_ok(s->where.st);
			goto cleanup;
		}
		rd_after_failure(s, c, r, errno, "probing whether writes work again");
		if (r != NULL)
			goto cleanup;
	}

cleanup:
	rd_reply_free(r);
	rd_conn_give(c);
}

static void rd_stats(void *impl, struct spent_stats *out)
{
	struct rd_store *s = impl;

	out->reconnects = atomic_load(&s->reconnects);
}

static void rd_stop(void *impl)
{
	(void)impl; /* nothing runs in the background */
}

static void rd_free(void *impl)
{
	struct rd_store *s = impl;
	unsigned i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_mu_ok; i++) {
		rd_conn_drop(s, &s->conns[i]);
		pthread_mutex_destroy(&s->conns[i].mu);
	}
	free(s->conns);
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
		spent_err_set(err, errlen, "redis host must be 1..%d characters",
			      RD_HOST_MAX);
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_port > 65535) {
		spent_err_set(err, errlen, "redis port %u is out of range (1..65535)",
			      cfg->redis_port);
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_password != NULL &&
	    strlen(cfg->redis_password) > RD_PASSWORD_MAX) {
		spent_err_set(err, errlen, "redis password is longer than %d bytes",
			      RD_PASSWORD_MAX);
		return PP_ERR_CONFIG;
	}
	if (strlen(prefix) > SPENT_PREFIX_MAX) {
		spent_err_set(err, errlen, "redis key prefix is longer than %d bytes",
			      SPENT_PREFIX_MAX);
		return PP_ERR_CONFIG;
	}
	for (i = 0; prefix[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)prefix[i];

		if (ch <= ' ' || ch >= 0x7f) {
			spent_err_set(err, errlen, "redis key prefix may hold only printable ASCII without spaces");
			return PP_ERR_CONFIG;
		}
	}
	if (cfg->redis_timeout_ms > RD_MAX_TIMEOUT_MS) {
		spent_err_set(err, errlen, "redis timeout %u ms is above %u ms",
			      cfg->redis_timeout_ms, RD_MAX_TIMEOUT_MS);
		return PP_ERR_CONFIG;
	}
	if (cfg->redis_pool_size > RD_MAX_POOL) {
		spent_err_set(err, errlen, "redis pool size %u is above %u",
			      cfg->redis_pool_size, RD_MAX_POOL);
		return PP_ERR_CONFIG;
	}
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
		spent_err_set(err, errlen, "cannot ignore SIGPIPE for the redis connections");
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
	s->n = cfg->redis_pool_size != 0 ? cfg->redis_pool_size : RD_DEFAULT_POOL;
	s->conns = calloc(s->n, sizeof(*s->conns));
	if (s->conns == NULL)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	for (s->n_mu_ok = 0; s->n_mu_ok < s->n; s->n_mu_ok++)
		if (pthread_mutex_init(&s->conns[s->n_mu_ok].mu, NULL) != 0)
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
	*impl = s;
	s = NULL;
	rc = 0;

cleanup:
	rd_free(s);
	return rc;
}

const struct spent_ops spent_redis_ops = {
	.name = "redis",
	.check_and_record = rd_check_and_record,
	.submit = rd_submit,
	.contains = rd_contains,
	.drop_key = rd_drop_key,
	.purge_expired = rd_purge_expired,
	.key_dropped = rd_key_dropped,
	.probe = rd_probe,
	.stats = rd_stats,
	.stop = rd_stop,
	.free = rd_free,
};
