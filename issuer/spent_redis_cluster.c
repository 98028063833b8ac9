/* Redis Cluster for the spent store: key slots (CRC16-CCITT/XMODEM of the
 * key or of its {hash tag}, mod 16384), the MOVED/ASK replies, the
 * topology thread, and the maintenance calls that must reach every master.
 *
 * The topology thread reads CLUSTER SLOTS over a short-lived blocking
 * connection, from the masters it knows and then the seeds (the first that
 * answers wins), at start, when the I/O thread asks (a MOVED, a lost node,
 * a request with no route; at most once per RD_TOPO_MIN_MS) and every
 * RD_TOPO_EVERY_MS. It publishes the slot table under a mutex and wakes
 * the I/O thread, which takes it (rd_topo_take) between two polls; so no
 * redemption ever waits on a blocking call.
 *
 * spent_drop_key over a cluster writes the tombstone on the master of its
 * slot (following one MOVED), WAITs for redis-min-replicas, then sweeps
 * every master with SCAN + UNLINK. spent_key_dropped asks the tombstone's
 * master. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/spent_redis_int.h"

struct rd_topo {
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* CLOCK_MONOTONIC */
	int want, stop, running;
	pthread_t thread;
	/* the published topology */
	unsigned gen;                /* 0: none yet */
	int16_t slots[RD_SLOTS];     /* index into addrs, -1: none */
	struct rd_addr addrs[RD_NODES_MAX];
	unsigned n;
	/* the reading thread's scratch */
	int16_t scratch_slots[RD_SLOTS];
	struct rd_addr scratch_addrs[RD_NODES_MAX];
};

/* CRC16-CCITT (XMODEM), as Redis Cluster hashes keys. */
static unsigned rd_crc16(const char *buf, size_t len)
{
	unsigned crc = 0;
	size_t i;
	int b;

	for (i = 0; i < len; i++) {
		crc ^= (unsigned)(unsigned char)buf[i] << 8;
		for (b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc;
}

unsigned rd_slot(const char *key, size_t len)
{
	size_t s, e;

	/* the first '{' and the first '}' after it, with something between */
	for (s = 0; s < len && key[s] != '{'; s++)
		;
	if (s < len) {
		for (e = s + 1; e < len && key[e] != '}'; e++)
			;
		if (e < len && e != s + 1)
			return rd_crc16(key + s + 1, e - s - 1) & (RD_SLOTS - 1);
	}
	return rd_crc16(key, len) & (RD_SLOTS - 1);
}

int rd_addr_parse(const char *text, size_t len, struct rd_addr *out)
{
	size_t colon;
	char port[8];
	char *end;
	long p;

	memset(out, 0, sizeof(*out));
	for (colon = len; colon > 0 && text[colon - 1] != ':'; colon--)
		;
	if (colon < 2 || colon - 1 > RD_HOST_MAX || len - colon == 0 ||
	    len - colon >= sizeof(port))
		return PP_ERR_CONFIG;
	memcpy(out->host, text, colon - 1);
	out->host[colon - 1] = '\0';
	memcpy(port, text + colon, len - colon);
	port[len - colon] = '\0';
	errno = 0;
	p = strtol(port, &end, 10);
	if (*end != '\0' || errno != 0 || p < 1 || p > 65535)
		return PP_ERR_CONFIG;
	out->port = (int)p;
	return 0;
}

int rd_redirect_parse(const char *err, const char *word, unsigned *slot,
		      struct rd_addr *to)
{
	size_t n = strlen(word);
	const char *p, *sp;
	char *end;
	unsigned long v;

	if (strncmp(err, word, n) != 0 || err[n] != ' ')
		return 0;
	p = err + n + 1;
	v = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || v >= RD_SLOTS)
		return 0;
	p = end + 1;
	sp = p + strcspn(p, " \r\n");
	if (rd_addr_parse(p, (size_t)(sp - p), to) != 0)
		return 0;
	*slot = (unsigned)v;
	return 1;
}

static struct timespec rd_deadline_in(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* A plain connection for reading the topology: AUTH only (no durability
 * check: nothing is written). */
static redisContext *rd_topo_connect(struct rd_store *s, const struct rd_addr *a)
{
	/* a dead node must not hold up the read for long: at most 250 ms a
	 * try (a cluster's nodes are on one network) */
	struct timeval tv = s->tv;
	redisContext *c;
	redisReply *r;

	if (tv.tv_sec > 0 || tv.tv_usec > 250000) {
		tv.tv_sec = 0;
		tv.tv_usec = 250000;
	}
	c = redisConnectWithTimeout(a->host, a->port, tv);
	if (c == NULL || c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK)
		goto fail;
	if (s->password != NULL) {
		r = redisCommand(c, "AUTH %s", s->password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return c;

fail:
	if (c != NULL)
		redisFree(c);
	return NULL;
}

/* The index of a in addrs[0..*n), added when new; -1 when full. */
static int rd_addr_index(struct rd_addr *addrs, unsigned *n,
			 const struct rd_addr *a)
{
	unsigned i;

	for (i = 0; i < *n; i++)
		if (addrs[i].port == a->port && strcmp(addrs[i].host, a->host) == 0)
			return (int)i;
	if (*n >= RD_NODES_MAX)
		return -1;
	addrs[*n] = *a;
	return (int)(*n)++;
}

/* Parses a CLUSTER SLOTS reply into slots/addrs; 0 or -1. A node that
 * announces no address ("" or "?") is the one we asked. */
static int rd_slots_parse(const redisReply *r, const struct rd_addr *asked,
			  int16_t *slots, struct rd_addr *addrs, unsigned *n)
{
	size_t i;
	unsigned covered = 0;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return -1;
	for (i = 0; i < RD_SLOTS; i++)
		slots[i] = -1;
	*n = 0;
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *m;
		struct rd_addr a;
		long long lo, hi, k;
		int idx;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER)
			return -1;
		m = e->element[2];
		if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
		    m->element[0]->type != REDIS_REPLY_STRING ||
		    m->element[1]->type != REDIS_REPLY_INTEGER)
			return -1;
		memset(&a, 0, sizeof(a));
		if (m->element[0]->len == 0 || strcmp(m->element[0]->str, "?") == 0)
			memcpy(a.host, asked->host, sizeof(a.host));
		else if (m->element[0]->len > RD_HOST_MAX)
			return -1;
		else
			memcpy(a.host, m->element[0]->str, m->element[0]->len);
		a.port = (int)m->element[1]->integer;
		if (a.port < 1 || a.port > 65535)
			return -1;
		idx = rd_addr_index(addrs, n, &a);
		if (idx < 0)
			return -1;
		lo = e->element[0]->integer;
		hi = e->element[1]->integer;
		if (lo < 0 || hi >= RD_SLOTS || lo > hi)
			return -1;
		for (k = lo; k <= hi; k++) {
			slots[k] = (int16_t)idx;
			covered++;
		}
	}
	return covered > 0 ? 0 : -1;
}

/* Reads CLUSTER SLOTS from the known masters, then the seeds. 0 with
 * slots/addrs filled, or PP_ERR_UNAVAILABLE (warned). */
static int rd_topo_fetch(struct rd_store *s, int16_t *slots,
			 struct rd_addr *addrs, unsigned *n)
{
	struct rd_topo *t = s->topo;
	struct rd_addr cand[2 * RD_NODES_MAX];
	unsigned nc = 0, i, k, start;

	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->n; i++)
		cand[nc++] = t->addrs[i];
	pthread_mutex_unlock(&t->mu);
	for (i = 0; i < s->n_seeds; i++)
		cand[nc++] = s->seeds[i];
	/* each read starts at another candidate, so one dead node is not
	 * always asked first */
	start = nc > 0 ? (unsigned)atomic_fetch_add(&s->topologies_tried, 1) % nc : 0;
	for (k = 0; k < nc; k++) {
		redisContext *c;
		redisReply *r;
		int ok;

		i = (start + k) % nc;
		c = rd_topo_connect(s, &cand[i]);
		if (c == NULL)
			continue;
		r = redisCommand(c, "CLUSTER SLOTS");
		ok = rd_slots_parse(r, &cand[i], slots, addrs, n) == 0;
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		if (ok) {
			atomic_fetch_add(&s->topologies, 1);
			return 0;
		}
	}
	spent_status_warn(s->where.st, RD_WARN_TOPOLOGY,
			  "no redis cluster node answered CLUSTER SLOTS (seeds "
			  "%s:%d and %u more); check redis-cluster and that the "
			  "cluster is up", s->seeds[0].host, s->seeds[0].port,
			  s->n_seeds - 1);
	return PP_ERR_UNAVAILABLE;
}

static void rd_topo_publish(struct rd_store *s, const int16_t *slots,
			    const struct rd_addr *addrs, unsigned n)
{
	struct rd_topo *t = s->topo;

	pthread_mutex_lock(&t->mu);
	memcpy(t->slots, slots, sizeof(t->slots));
	memcpy(t->addrs, addrs, n * sizeof(*addrs));
	t->n = n;
	t->gen++;
	pthread_mutex_unlock(&t->mu);
	rd_io_wake(s);
}

static void *rd_topo_main(void *arg)
{
	struct rd_store *s = arg;
	struct rd_topo *t = s->topo;
	struct timespec until;
	unsigned n = 0;

	(void)pthread_setname_np(pthread_self(), "pp-rc-topology");
	pthread_mutex_lock(&t->mu);
	t->want = 1;   /* at start */
	while (!t->stop) {
		if (!t->want) {
			until = rd_deadline_in(RD_TOPO_EVERY_MS);
			while (!t->stop && !t->want &&
			       pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
				;
			if (t->stop)
				break;
		}
		t->want = 0;
		pthread_mutex_unlock(&t->mu);
		if (rd_topo_fetch(s, t->scratch_slots, t->scratch_addrs, &n) == 0)
			rd_topo_publish(s, t->scratch_slots, t->scratch_addrs, n);
		pthread_mutex_lock(&t->mu);
		/* at most one read per RD_TOPO_MIN_MS */
		until = rd_deadline_in(RD_TOPO_MIN_MS);
		while (!t->stop &&
		       pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

void rd_topo_request(struct rd_store *s)
{
	struct rd_topo *t = s->topo;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	if (!t->want) {
		t->want = 1;
		pthread_cond_signal(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
}

int rd_topo_take(struct rd_store *s, unsigned *gen, int16_t *slots,
		 struct rd_addr *addrs, unsigned *n_addrs)
{
	struct rd_topo *t = s->topo;
	int got = 0;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->mu);
	if (t->gen != *gen) {
		memcpy(slots, t->slots, sizeof(t->slots));
		memcpy(addrs, t->addrs, t->n * sizeof(*addrs));
		*n_addrs = t->n;
		*gen = t->gen;
		got = 1;
	}
	pthread_mutex_unlock(&t->mu);
	return got;
}

int rd_topo_start(struct rd_store *s)
{
	struct rd_topo *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	unsigned i;

	if (t == NULL)
		return PP_ERR_NOMEM;
	for (i = 0; i < RD_SLOTS; i++)
		t->slots[i] = -1;
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t);
		return PP_ERR_INTERNAL;
	}
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&t->cv, &ca) != 0) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return PP_ERR_INTERNAL;
	}
	pthread_condattr_destroy(&ca);
	s->topo = t;
	if (pthread_create(&t->thread, NULL, rd_topo_main, s) != 0) {
		s->topo = NULL;
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return PP_ERR_INTERNAL;
	}
	t->running = 1;
	return 0;
}

void rd_topo_stop(struct rd_store *s)
{
	struct rd_topo *t = s->topo;

	if (t == NULL || !t->running)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	t->running = 0;
}

void rd_topo_free(struct rd_store *s)
{
	struct rd_topo *t = s->topo;

	if (t == NULL)
		return;
	rd_topo_stop(s);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
	s->topo = NULL;
}

/* ---- maintenance over every master ---- */

/* The published topology, or a fresh read when there is none. */
static int rd_topo_now(struct rd_store *s, int16_t *slots,
		       struct rd_addr *addrs, unsigned *n)
{
	unsigned gen = 0;

	if (rd_topo_take(s, &gen, slots, addrs, n) && *n > 0)
		return 0;
	return rd_topo_fetch(s, slots, addrs, n);
}

static void rd_where_at(const struct rd_store *s, const struct rd_addr *a,
			struct rd_where *w)
{
	*w = s->where;
	w->host = a->host;
	w->port = a->port;
}

/* Runs a one-key command on the master of key's slot, following one
 * MOVED. Returns the reply (the caller frees it) or NULL (reported). */
static redisReply *rd_cluster_command(struct rd_store *s, const char *key,
				      const char *what, const char *fmt,
				      const char *arg)
{
	int16_t *slots = NULL;
	struct rd_addr addrs[RD_NODES_MAX], at;
	struct rd_where w;
	redisContext *c = NULL;
	redisReply *r = NULL;
	unsigned n = 0, slot = rd_slot(key, strlen(key)), hop;
	int refused;

	slots = malloc(RD_SLOTS * sizeof(*slots));
	if (slots == NULL || rd_topo_now(s, slots, addrs, &n) != 0 ||
	    slots[slot] < 0)
		goto cleanup;
	at = addrs[slots[slot]];
	for (hop = 0; hop < 2; hop++) {
		rd_where_at(s, &at, &w);
		c = rd_blocking_connect(s, &w, &refused);
		if (c == NULL)
			goto cleanup;
		errno = 0;
		r = redisCommand(c, fmt, key, arg);
		if (r != NULL && r->type == REDIS_REPLY_ERROR &&
		    rd_redirect_parse(r->str, "MOVED", &slot, &at)) {
			atomic_fetch_add(&s->moved, 1);
			rd_topo_request(s);
			freeReplyObject(r);
			r = NULL;
			redisFree(c);
			c = NULL;
			continue;
		}
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			rd_report(&w, c, r, errno, what);
			if (r != NULL)
				freeReplyObject(r);
			r = NULL;
			goto cleanup;
		}
		/* WAIT for the tombstone too */
		if (s->min_replicas > 0 && strncmp(fmt, "SET", 3) == 0) {
			redisReply *wr = redisCommand(c, "WAIT %d %u", s->min_replicas,
						      s->timeout_ms);

			if (wr == NULL || wr->type != REDIS_REPLY_INTEGER ||
			    wr->integer < s->min_replicas) {
				spent_status_fail(s->where.st, SPENT_CAUSE_REPLICAS, 0,
						  "redis at %s:%d did not confirm a "
						  "retired key's tombstone on %d replicas "
						  "in time (WAIT)", at.host, at.port,
						  s->min_replicas);
				freeReplyObject(r);
				r = NULL;
			}
			if (wr != NULL)
				freeReplyObject(wr);
		}
		goto cleanup;
	}

cleanup:
	if (c != NULL)
		redisFree(c);
	free(slots);
	return r;
}

int rd_cluster_drop_key(struct rd_store *s, const uint8_t *key_id,
			uint64_t *removed)
{
	int16_t *slots = NULL;
	struct rd_addr addrs[RD_NODES_MAX];
	char pattern[RD_PATTERN_MAX], tomb[RD_TOMB_MAX], now[32];
	redisReply *r;
	unsigned n = 0, i;
	int rc = PP_ERR_UNAVAILABLE;

	*removed = 0;
	rd_pattern(s, key_id, pattern);
	rd_tomb_key(s, key_id, tomb);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	/* the tombstone first: a sweep cut short must not leave records gone
	 * without it. NX keeps the time of the first drop. */
	r = rd_cluster_command(s, tomb, "writing a retired key's tombstone",
			       "SET %s %s NX", now);
	if (r == NULL)
		return PP_ERR_UNAVAILABLE;
	freeReplyObject(r);
	slots = malloc(RD_SLOTS * sizeof(*slots));
	if (slots == NULL || rd_topo_now(s, slots, addrs, &n) != 0)
		goto cleanup;
	for (i = 0; i < n; i++) {
		struct rd_where w;
		redisContext *c;
		int refused;

		rd_where_at(s, &addrs[i], &w);
		c = rd_blocking_connect(s, &w, &refused);
		if (c == NULL)
			goto cleanup;
		if (rd_sweep(s, &w, c, pattern, removed) != 0) {
			redisFree(c);
			goto cleanup;
		}
		redisFree(c);
	}
	spent_status_ok(s->where.st);
	rc = 0;

cleanup:
	free(slots);
	return rc;
}

int rd_cluster_key_dropped(struct rd_store *s, const uint8_t *key_id)
{
	char tomb[RD_TOMB_MAX];
	redisReply *r;
	int rc = PP_ERR_UNAVAILABLE;

	rd_tomb_key(s, key_id, tomb);
	r = rd_cluster_command(s, tomb, "looking up a retired key",
			       "EXISTS %s%s", "");
	if (r == NULL)
		return PP_ERR_UNAVAILABLE;
	if (r->type == REDIS_REPLY_INTEGER)
		rc = r->integer > 0 ? 1 : 0;
	freeReplyObject(r);
	return rc;
}
