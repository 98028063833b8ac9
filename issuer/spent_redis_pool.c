/* The Redis store's blocking connections, for the calls that are rare and
 * take several round trips: spent_drop_key (SET the tombstone, then SCAN
 * and UNLINK page by page) and spent_key_dropped. They run on the
 * maintenance paths (key retirement), never on an HTTP loop thread; the
 * per-redemption commands go through the I/O thread (spent_redis_async.c).
 *
 * A small pool, one mutex each; a caller takes a free one (or waits for
 * one). Connect and command timeouts are both timeout_ms. Any failure
 * (refused, timed out, error reply, lost connection) answers
 * PP_ERR_UNAVAILABLE and drops the connection; the next call on that slot
 * reconnects. After a failed connect, calls fail fast for a short back-off
 * instead of each waiting out a connect timeout. Every new connection runs
 * AUTH, SELECT and the durability check, as the async one does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/spent_redis_int.h"

#define RD_SCAN_COUNT "1000"

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
	rd_live_add(s, -1);
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

redisContext *rd_blocking_connect(struct rd_store *s, const struct rd_where *w,
				  int *refused)
{
	redisContext *ctx = NULL;
	redisReply *r = NULL;

	*refused = 0;
	errno = 0;
	ctx = redisConnectWithTimeout(w->host, w->port, s->tv);
	if (ctx == NULL || ctx->err != 0) {
		rd_report(w, ctx, NULL, errno, "connecting");
		goto fail;
	}
	if (redisSetTimeout(ctx, s->tv) != REDIS_OK) {
		rd_report(w, ctx, NULL, errno, "connecting");
		goto fail;
	}
	(void)redisEnableKeepAlive(ctx);
	if (s->password != NULL) {
		r = redisCommand(ctx, "AUTH %s", s->password);
		if (!rd_reply_is_ok(r)) {
			rd_report(w, ctx, r, errno, "authenticating");
			goto fail;
		}
		rd_reply_free(r);
		r = NULL;
	}
	if (s->db != 0 && !s->cluster) {
		r = redisCommand(ctx, "SELECT %u", s->db);
		if (!rd_reply_is_ok(r)) {
			rd_report(w, ctx, r, errno, "selecting redis-db");
			goto fail;
		}
		rd_reply_free(r);
		r = NULL;
	}
	if (rd_durability_check(w, ctx) != 0)
		goto fail;
	return ctx;

fail:
	if (ctx != NULL && ctx->err == 0)
		*refused = 1;
	rd_reply_free(r);
	if (ctx != NULL)
		redisFree(ctx);
	return NULL;
}

/* Connects the slot when it is not, with AUTH and SELECT as configured,
 * then checks the server's durability. Failures are reported, except the
 * fast ones inside a back-off (the store already says why). */
static int rd_conn_ready(struct rd_store *s, struct rd_conn *c)
{
	redisContext *ctx;
	int refused;

	if (c->c != NULL)
		return 0;
	if (rd_now_ms() < atomic_load(&s->down_until_ms))
		return PP_ERR_UNAVAILABLE;
	ctx = rd_blocking_connect(s, &s->where, &refused);
	if (ctx == NULL) {
		atomic_store(&s->down_until_ms, rd_now_ms() +
			     (refused ? RD_VOLATILE_BACKOFF_MS : RD_BACKOFF_MS));
		return PP_ERR_UNAVAILABLE;
	}
	c->c = ctx;
	atomic_fetch_add(&s->reconnects, 1);
	rd_live_add(s, 1);
	return 0;
}

/* Drops every idle pooled connection but c: after one died (Redis
 * restarted, a proxy cut them) the others most likely did too. */
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

/* UNLINKs the keys of one SCAN page; adds what Redis removed to *removed.
 * In a cluster the keys of a page lie in many slots, and a multi-key
 * UNLINK would be refused (CROSSSLOT): one UNLINK per key, pipelined. */
static int rd_unlink_page(redisContext *c, int cluster,
			  const redisReply *keys, uint64_t *removed)
{
	const char **argv = NULL;
	size_t *lens = NULL, i;
	redisReply *r = NULL;
	int rc = PP_ERR_UNAVAILABLE;

	if (keys->elements == 0)
		return 0;
	if (keys->elements > 100000)   /* far above COUNT: not a sane reply */
		return PP_ERR_UNAVAILABLE;
	for (i = 0; i < keys->elements; i++)
		if (keys->element[i] == NULL ||
		    keys->element[i]->type != REDIS_REPLY_STRING)
			return PP_ERR_UNAVAILABLE;
	if (cluster) {
		for (i = 0; i < keys->elements; i++)
			if (redisAppendCommand(c, "UNLINK %b", keys->element[i]->str,
					       keys->element[i]->len) != REDIS_OK)
				return PP_ERR_UNAVAILABLE;
		for (i = 0; i < keys->elements; i++) {
			void *rep = NULL;

			if (redisGetReply(c, &rep) != REDIS_OK || rep == NULL)
				return PP_ERR_UNAVAILABLE;
			r = rep;
			if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
				*removed += (uint64_t)r->integer;
			else if (r->type != REDIS_REPLY_INTEGER)
				rc = 1;   /* read the rest, then fail */
			freeReplyObject(r);
			r = NULL;
		}
		return rc == 1 ? PP_ERR_UNAVAILABLE : 0;
	}
	argv = calloc(keys->elements + 1, sizeof(*argv));
	lens = calloc(keys->elements + 1, sizeof(*lens));
	if (argv == NULL || lens == NULL)
		goto cleanup;
	argv[0] = "UNLINK";
	lens[0] = 6;
	for (i = 0; i < keys->elements; i++) {
		argv[i + 1] = keys->element[i]->str;
		lens[i + 1] = keys->element[i]->len;
	}
	r = redisCommandArgv(c, (int)keys->elements + 1, argv, lens);
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

/* SCAN MATCH pattern and UNLINK page by page. SCAN may return a key
 * twice; UNLINK of a missing key counts 0, so the total stays right. */
int rd_sweep(struct rd_store *s, const struct rd_where *w, redisContext *c,
	     const char *pattern, uint64_t *removed)
{
	redisReply *r = NULL;
	char cursor[32] = "0";
	int rc = PP_ERR_UNAVAILABLE;

	for (;;) {
		const redisReply *next, *keys;

		errno = 0;
		r = redisCommand(c, "SCAN %s MATCH %s COUNT " RD_SCAN_COUNT,
				 cursor, pattern);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			rd_report(w, c, r, errno, "sweeping a retired key's records");
			goto cleanup;
		}
		next = r->element[0];
		keys = r->element[1];
		if (next == NULL || next->type != REDIS_REPLY_STRING ||
		    next->len == 0 || next->len >= sizeof(cursor) ||
		    keys == NULL || keys->type != REDIS_REPLY_ARRAY ||
		    rd_unlink_page(c, s->cluster, keys, removed) != 0) {
			rd_report(w, c, NULL, errno,
				  "sweeping a retired key's records");
			goto cleanup;
		}
		memcpy(cursor, next->str, next->len);
		cursor[next->len] = '\0';
		rd_reply_free(r);
		r = NULL;
		if (strcmp(cursor, "0") == 0)
			break;
	}
	rc = 0;

cleanup:
	rd_reply_free(r);
	return rc;
}

/* The tombstone, then SCAN MATCH <prefix><key id>:* and UNLINK. On any
 * failure the connection is dropped (a fresh one is cheap, and it may be
 * mid-reply). */
int rd_pool_drop_key(struct rd_store *s, const uint8_t *key_id,
		     uint64_t *removed)
{
	struct rd_conn *c;
	redisReply *r = NULL;
	char pattern[RD_PATTERN_MAX], tomb[RD_TOMB_MAX];
	int rc = PP_ERR_UNAVAILABLE;

	*removed = 0;
	if (s->cluster)
		return rd_cluster_drop_key(s, key_id, removed);
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
	if (rd_sweep(s, &s->where, c->c, pattern, removed) != 0) {
		rd_conn_drop(s, c);
		goto cleanup;
	}
	spent_status_ok(s->where.st);
	rc = 0;

cleanup:
	rd_reply_free(r);
	rd_conn_give(c);
	return rc;
}

int rd_pool_key_dropped(struct rd_store *s, const uint8_t *key_id)
{
	struct rd_conn *c;
	redisReply *r = NULL;
	char tomb[RD_TOMB_MAX];
	int rc = PP_ERR_UNAVAILABLE;

	if (s->cluster)
		return rd_cluster_key_dropped(s, key_id);
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

int rd_pool_init(struct rd_store *s)
{
	s->conns = calloc(s->n, sizeof(*s->conns));
	if (s->conns == NULL)
		return PP_ERR_NOMEM;
	for (s->n_mu_ok = 0; s->n_mu_ok < s->n; s->n_mu_ok++)
		if (pthread_mutex_init(&s->conns[s->n_mu_ok].mu, NULL) != 0)
			return PP_ERR_INTERNAL;
	return 0;
}

void rd_pool_free(struct rd_store *s)
{
	unsigned i;

	for (i = 0; i < s->n_mu_ok; i++) {
		rd_conn_drop(s, &s->conns[i]);
		pthread_mutex_destroy(&s->conns[i].mu);
	}
	free(s->conns);
	s->conns = NULL;
	s->n_mu_ok = 0;
}
