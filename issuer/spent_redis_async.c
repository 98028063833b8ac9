/* The Redis store's I/O thread: every per-redemption command (SET NX,
 * EXISTS, the probe) goes through it, so an HTTP loop thread that submits
 * one only takes a lock, appends to a list and writes an eventfd.
 *
 * The thread owns one async hiredis connection per node
 * (spent_redis_conn.c): the single Redis, or each master of a Redis
 * Cluster (routed by the key's slot; spent_redis_cluster.c keeps the
 * topology). On each connection it pipelines: whatever is queued when it
 * wakes is written in one go, and the replies are matched in order. Each
 * request carries a deadline of timeout_ms from its submission, which the
 * thread enforces:
 *   - the oldest command on the wire past its deadline fails it and drops
 *     the connection; a command whose reply did not come is never answered
 *     "recorded" unless a retry proves the record is ours (below);
 *   - a connect or hand-shake that does not finish in time fails the same
 *     way, with the requests waiting for it.
 *
 * Retries without false "spent": a redemption is SET <key> <id> NX GET,
 * where <id> is a random request id. A command whose reply was lost (the
 * connection reset after it was sent) is re-sent once, on a new connection
 * made at once, while its deadline allows: a nil reply means we wrote it
 * now, our own id means the lost try wrote it (0), another value is
 * someone else's redemption (PP_ERR_SPENT). So the first request on a
 * connection that died with a Redis restart or a failover does not answer
 * 503 when Redis is back in time.
 *
 * Durable acknowledgement: with min_replicas > 0, each pipeline of SETs
 * written to a node is followed by one WAIT min_replicas <time left>; a SET
 * that applied is answered only by the WAIT behind it: 0 when enough
 * replicas confirmed, else PP_ERR_UNAVAILABLE (the record stays; a retry of
 * the token gets PP_ERR_SPENT, which is safe).
 *
 * Cluster: MOVED re-routes the slot and the request (and asks for a fresh
 * topology), ASK re-sends it once to the node named, after ASKING. A lost
 * node's queued requests follow the next topology.
 *
 * After a connection failure (and no retry pending) new requests of that
 * node fail at once for a short back-off (longer when the server refused
 * us: AUTH, SELECT, durability); the probe (about once a second while
 * unhealthy) ignores the back-off, which is how an idle store finds Redis
 * again. An error reply (OOM, READONLY, MISCONF, ...) fails its own request
 * only; the connection then takes no new commands and is replaced once its
 * last reply came.
 *
 * Requests queued or in flight are bounded by RD_QUEUE_MAX; past it
 * spent_submit answers PP_ERR_UNAVAILABLE at once (and a warning is
 * logged), so a stalled Redis cannot make the issuer hold unbounded memory.
 *
 * Every done runs on this thread (or, for an immediate refusal, in the
 * submitter). Stopping answers what is left, closes the connections and
 * joins the thread; spent.c stops only once nothing is pending. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/spent_redis_int.h"

#define RD_PROBE_PX "60000"          /* the probe key's lifetime */

struct rd_req {
	struct rd_req *next;
	enum rd_kind kind;
	size_t klen;
	int64_t expires_at;
	long long deadline_ms;       /* monotonic */
	long long sent_us;           /* monotonic, for the node's latency */
	void (*done)(void *arg, int rc);
	void *arg;
	int *lost;
	unsigned tries;              /* re-sent after a lost reply */
	unsigned redirects;          /* MOVED / ASK hops */
	int asking;                  /* send ASKING first (an ASK) */
	char id[RD_ID_LEN + 1];      /* RD_SET: the value that names us */
	char key[RD_KEY_MAX];
};

struct rd_fifo {
	struct rd_req *head, *tail;
};

enum rd_state { RD_DOWN, RD_HANDSHAKE, RD_READY };

struct rd_io;

/* One Redis node: the single Redis, or a cluster master. Its connection
 * state is the I/O thread's own; the counters are read by metrics. */
struct rd_node {
	struct rd_io *io;
	struct rd_addr addr;
	struct rd_where where;       /* reports name this node */
	struct rd_ev ev;             /* ev.owner = this node */
	enum rd_state state;
	struct rd_fifo waiting;      /* not sent yet */
	struct rd_fifo inflight;     /* sent, in reply order */
	struct rd_fifo acked;        /* SETs applied, waiting for a WAIT */
	struct rd_fifo retry;        /* lost replies, to re-send once */
	long long conn_deadline;     /* of the connect and hand-shake */
	long long backoff_until;
	int failed;                  /* the connection failed (reported) */
	long long fail_backoff;
	int dropping;                /* we are freeing it */
	int stale;                   /* no new commands; replace when idle */
	int counted;                 /* in s->live */
	atomic_int master;           /* serves slots now */
	atomic_int up;
	atomic_ullong commands, errors, latency_us;
};

struct rd_io {
	struct rd_store *s;
	int wake_fd;
	pthread_t thread;
	/* submitted requests, newest first: pushed without a lock, so a
	 * submitter never waits for a thread that was preempted holding one */
	_Atomic(struct rd_req *) incoming;
	atomic_int stopping;
	atomic_uint pending;         /* submitted, not yet answered */
	struct rd_node *nodes[RD_NODES_MAX];
	atomic_uint n_nodes;         /* nodes[0..n) are set, never removed */
	/* the I/O thread's own */
	struct rd_fifo unrouted;     /* cluster: no topology yet */
	int16_t slots[RD_SLOTS];     /* node of each slot, -1 = unknown */
	unsigned topo_gen;
	int16_t new_slots[RD_SLOTS]; /* scratch for rd_topo_take */
	struct rd_addr new_addrs[RD_NODES_MAX];
};

static long long rd_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void rd_fifo_push(struct rd_fifo *f, struct rd_req *r)
{
	r->next = NULL;
	if (f->tail != NULL)
		f->tail->next = r;
	else
		f->head = r;
	f->tail = r;
}

static struct rd_req *rd_fifo_pop(struct rd_fifo *f)
{
	struct rd_req *r = f->head;

	if (r != NULL) {
		f->head = r->next;
		if (f->head == NULL)
			f->tail = NULL;
		r->next = NULL;
	}
	return r;
}

/* Appends b to a and empties b. */
static void rd_fifo_splice(struct rd_fifo *a, struct rd_fifo *b)
{
	if (b->head == NULL)
		return;
	if (a->tail != NULL)
		a->tail->next = b->head;
	else
		a->head = b->head;
	a->tail = b->tail;
	b->head = NULL;
	b->tail = NULL;
}

/* Puts b in front of a and empties b. */
static void rd_fifo_prepend(struct rd_fifo *a, struct rd_fifo *b)
{
	rd_fifo_splice(b, a);
	*a = *b;
	b->head = NULL;
	b->tail = NULL;
}

static const char *rd_what(const struct rd_req *r)
{
	switch (r->kind) {
	case RD_SET:
		return "recording a redemption";
	case RD_EXISTS:
		return "looking up a token";
	case RD_WAIT:
		return "waiting for replicas (WAIT)";
	case RD_ASKING:
		return "following an ASK redirection";
	default:
		return "probing whether writes work again";
	}
}

static int rd_internal(const struct rd_req *r)
{
	return r->kind == RD_WAIT || r->kind == RD_ASKING;
}

/* Answers one request and frees it (internal ones are only freed). */
static void rd_req_answer(struct rd_io *io, struct rd_req *r, int rc, int lost)
{
	if (rd_internal(r)) {
		free(r);
		return;
	}
	if (r->lost != NULL)
		*r->lost = lost;
	r->done(r->arg, rc);
	free(r);
	atomic_fetch_sub(&io->pending, 1);
}

static void rd_fail_all(struct rd_io *io, struct rd_fifo *f)
{
	struct rd_req *r;

	while ((r = rd_fifo_pop(f)) != NULL)
		rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
}

/* The node of host:port, added when new (NULL when the table is full or
 * out of memory). */
static struct rd_node *rd_node_get(struct rd_io *io, const struct rd_addr *a)
{
	unsigned i, n = atomic_load(&io->n_nodes);
	struct rd_node *nd;

	for (i = 0; i < n; i++) {
		nd = io->nodes[i];
		if (nd->addr.port == a->port && strcmp(nd->addr.host, a->host) == 0)
			return nd;
	}
	if (n >= RD_NODES_MAX)
		return NULL;
	nd = calloc(1, sizeof(*nd));
	if (nd == NULL)
		return NULL;
	nd->io = io;
	nd->addr = *a;
	nd->where = io->s->where;
	nd->where.host = nd->addr.host;
	nd->where.port = nd->addr.port;
	nd->ev.fd = -1;
	nd->ev.owner = nd;
	atomic_init(&nd->master, 0);
	atomic_init(&nd->up, 0);
	atomic_init(&nd->commands, 0);
	atomic_init(&nd->errors, 0);
	atomic_init(&nd->latency_us, 0);
	io->nodes[n] = nd;
	atomic_store(&io->n_nodes, n + 1);
	return nd;
}

static int rd_node_index(const struct rd_io *io, const struct rd_node *nd)
{
	unsigned i;

	for (i = 0; i < RD_NODES_MAX; i++)
		if (io->nodes[i] == nd)
			return (int)i;
	return -1;
}

/* Queues r on the node that serves its key (cluster: by slot; no topology
 * yet: on unrouted, and a topology read is asked for). */
static void rd_route(struct rd_io *io, struct rd_req *r)
{
	int idx;

	if (!io->s->cluster) {
		rd_fifo_push(&io->nodes[0]->waiting, r);
		return;
	}
	idx = io->slots[rd_slot(r->key, r->klen)];
	if (idx < 0) {
		rd_fifo_push(&io->unrouted, r);
		rd_topo_request(io->s);
		return;
	}
	rd_fifo_push(&io->nodes[idx]->waiting, r);
}

/* Closes the connection after a failure that was reported; its commands
 * get their NULL replies inside. Also safe from a reply callback (hiredis
 * then frees it once the callback returned). */
static void rd_node_drop(struct rd_node *nd, long long backoff_ms)
{
	if (nd->ev.ac == NULL || nd->dropping)
		return;
	if (!nd->failed) {
		nd->failed = 1;
		nd->fail_backoff = backoff_ms;
	}
	nd->dropping = 1;
	redisAsyncFree(nd->ev.ac);
}

/* After hiredis let go of the context: requests whose reply was lost get
 * one more try at once on a new connection (within their deadline);
 * otherwise the waiting requests fail with the connection when it failed
 * (they would otherwise wait out a reconnect that is likely to fail too),
 * and new ones fail fast for the back-off; in a cluster they wait for the
 * next topology instead (a failover moves the slots). SETs applied but not yet
 * confirmed by a WAIT answer PP_ERR_UNAVAILABLE (their record stays). */
static void rd_node_after_gone(struct rd_io *io, struct rd_node *nd)
{
	if (nd->state == RD_DOWN || nd->ev.ac != NULL)
		return;
	if (nd->inflight.head != NULL)
		abort();   /* hiredis answers every command before cleanup */
	if (nd->counted) {
		nd->counted = 0;
		atomic_store(&nd->up, 0);
		rd_live_add(io->s, -1);
	}
	nd->state = RD_DOWN;
	rd_fail_all(io, &nd->acked);
	if (nd->retry.head != NULL) {
		/* a reset after sending: reconnect now and re-send once; in a
		 * cluster the slot may have moved, so ask for the topology */
		rd_fifo_prepend(&nd->waiting, &nd->retry);
		nd->backoff_until = 0;
		if (io->s->cluster)
			rd_topo_request(io->s);
	} else if (nd->failed && io->s->cluster) {
		/* the node died or is a replica now (a failover): what waited
		 * for it follows the next topology, within its deadline */
		nd->backoff_until = rd_now_ms() + nd->fail_backoff;
		rd_fifo_splice(&io->unrouted, &nd->waiting);
		rd_topo_request(io->s);
	} else if (nd->failed) {
		nd->backoff_until = rd_now_ms() + nd->fail_backoff;
		rd_fail_all(io, &nd->waiting);
	}
	nd->failed = 0;
	nd->dropping = 0;
	nd->stale = 0;
}

/* A redirection: re-queues r to the node named (MOVED also updates the
 * slot). 1 when r was taken, 0 when it is to be answered. */
static int rd_redirect(struct rd_io *io, struct rd_req *r, const char *err)
{
	struct rd_addr to;
	struct rd_node *nd;
	unsigned slot;
	int moved, idx;

	if (!io->s->cluster)
		return 0;
	if (rd_redirect_parse(err, "MOVED", &slot, &to))
		moved = 1;
	else if (rd_redirect_parse(err, "ASK", &slot, &to))
		moved = 0;
	else
		return 0;
	atomic_fetch_add(moved ? &io->s->moved : &io->s->ask, 1);
	nd = rd_node_get(io, &to);
	if (moved) {
		idx = nd != NULL ? rd_node_index(io, nd) : -1;
		if (idx >= 0 && slot < RD_SLOTS) {
			io->slots[slot] = (int16_t)idx;
			atomic_store(&nd->master, 1);
		}
		rd_topo_request(io->s);
	}
	if (nd == NULL || r->redirects >= RD_MAX_REDIRECTS ||
	    rd_now_ms() >= r->deadline_ms)
		return 0;
	r->redirects++;
	r->asking = !moved;
	rd_fifo_push(&nd->waiting, r);
	return 1;
}

/* Answers the SETs that a WAIT covered. */
static void rd_wait_reply(struct rd_io *io, struct rd_node *nd,
			  const redisReply *rep)
{
	struct rd_store *s = io->s;
	struct rd_req *a;
	int rc = 0;

	atomic_fetch_add(&s->waits, 1);
	if (rep->integer < s->min_replicas) {
		rc = PP_ERR_UNAVAILABLE;
		atomic_fetch_add(&s->wait_failures, 1);
		atomic_fetch_add(&nd->errors, 1);
		if (nd->acked.head != NULL)
			spent_status_fail(s->where.st, SPENT_CAUSE_REPLICAS, 0,
					  "redis at %s:%d confirmed records on %lld of "
					  "%d replicas in time (WAIT); those redemptions "
					  "answer 503 and their records stay; check the "
					  "replicas and their links, or lower "
					  "redis-min-replicas", nd->addr.host,
					  nd->addr.port, (long long)rep->integer,
					  s->min_replicas);
	} else if (nd->acked.head != NULL) {
		spent_status_ok(s->where.st);
	}
	while ((a = rd_fifo_pop(&nd->acked)) != NULL)
		rd_req_answer(io, a, rc, 0);
}

/* Takes a reply: answers r, or keeps it (a SET waiting for its WAIT, a
 * redirected command). An unexpected reply is reported and makes the
 * connection stale. */
static void rd_reply_take(struct rd_node *nd, redisAsyncContext *ac,
			  struct rd_req *r, const redisReply *rep, int err_no)
{
	struct rd_io *io = nd->io;
	struct rd_store *s = io->s;
	struct spent_status *st = s->where.st;

	if (rep->type == REDIS_REPLY_ERROR && rep->str != NULL &&
	    s->cluster && !rd_internal(r)) {
		if (rd_redirect(io, r, rep->str))
			return;
		if (strncmp(rep->str, "CLUSTERDOWN", 11) == 0 ||
		    strncmp(rep->str, "TRYAGAIN", 8) == 0 ||
		    strncmp(rep->str, "MOVED", 5) == 0 ||
		    strncmp(rep->str, "ASK", 3) == 0) {
			/* the cluster's state, not this connection's */
			atomic_fetch_add(&nd->errors, 1);
			spent_status_fail(st, SPENT_CAUSE_CLUSTER, 0,
					  "redis cluster node %s:%d answered \"%.80s\" "
					  "while %s; the cluster is failing over or "
					  "resharding: redemptions answer 503 until it "
					  "settles", nd->addr.host, nd->addr.port,
					  rep->str, rd_what(r));
			rd_topo_request(s);
			rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
			return;
		}
	}
	switch (r->kind) {
	case RD_SET:
		/* SET NX GET: nil = it was absent and is ours now; our own id
		 * = a retry found what the lost try wrote; any other value =
		 * someone else's redemption */
		if (rep->type == REDIS_REPLY_NIL ||
		    (rep->type == REDIS_REPLY_STRING && rep->len == RD_ID_LEN &&
		     memcmp(rep->str, r->id, RD_ID_LEN) == 0)) {
			if (rep->type != REDIS_REPLY_NIL)
				atomic_fetch_add(&s->retried_own, 1);
			if (s->min_replicas > 0) {
				rd_fifo_push(&nd->acked, r);
				return;
			}
			spent_status_ok(st);
			rd_req_answer(io, r, 0, 0);
			return;
		}
		if (rep->type == REDIS_REPLY_STRING) {
			/* "spent" is a write the server took too (it answered
			 * the NX) */
			spent_status_ok(st);
			rd_req_answer(io, r, PP_ERR_SPENT, 0);
			return;
		}
		break;
	case RD_EXISTS:
		if (rep->type == REDIS_REPLY_INTEGER) {
			rd_req_answer(io, r, rep->integer > 0 ? PP_ERR_SPENT : 0, 0);
			return;
		}
		break;
	case RD_WAIT:
		if (rep->type == REDIS_REPLY_INTEGER) {
			rd_wait_reply(io, nd, rep);
			free(r);
			return;
		}
		rd_fail_all(io, &nd->acked);
		break;
	case RD_ASKING:
		if (rep->type == REDIS_REPLY_STATUS) {
			free(r);   /* its command follows */
			return;
		}
		break;
	default:
		if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
			spent_status_ok(st);
			rd_req_answer(io, r, 0, 0);
			return;
		}
		break;
	}
	atomic_fetch_add(&nd->errors, 1);
	rd_report(&nd->where, &ac->c, rep, err_no, rd_what(r));
	nd->stale = 1;
	rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
}

static void rd_cmd_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	int err_no = errno;
	struct rd_node *nd = ((struct rd_ev *)ac->data)->owner;
	struct rd_io *io = nd->io;
	struct rd_req *r = rd_fifo_pop(&nd->inflight);

	if (r == NULL || r != privdata)
		abort();   /* replies out of order: hiredis broke */
	if (reply == NULL) {
		atomic_fetch_add(&nd->errors, 1);
		if (!nd->failed && ac->c.err != 0) {
			rd_report(&nd->where, &ac->c, NULL, err_no, rd_what(r));
			nd->failed = 1;
			nd->fail_backoff = RD_BACKOFF_MS;
		}
		/* lost after sending: once more, if there is time */
		if (!rd_internal(r) && r->tries == 0 &&
		    rd_now_ms() + 1 < r->deadline_ms) {
			r->tries++;
			r->asking = 0;
			atomic_fetch_add(&io->s->retries, 1);
			rd_fifo_push(&nd->retry, r);
			return;
		}
		rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 1);
		return;
	}
	atomic_fetch_add(&nd->commands, 1);
	atomic_fetch_add(&nd->latency_us, (unsigned long long)(rd_now_us() - r->sent_us));
	rd_reply_take(nd, ac, r, reply, err_no);
}

/* The hand-shake ended (called inside hiredis). */
static void rd_node_hs_done(void *ctx, enum rd_hs_end end)
{
	struct rd_node *nd = ctx;

	switch (end) {
	case RD_HS_OK:
		nd->state = RD_READY;
		nd->counted = 1;
		atomic_store(&nd->up, 1);
		atomic_fetch_add(&nd->io->s->reconnects, 1);
		rd_live_add(nd->io->s, 1);
		break;
	case RD_HS_REFUSED:
		rd_node_drop(nd, RD_VOLATILE_BACKOFF_MS);
		break;
	case RD_HS_LOADING:
		rd_node_drop(nd, RD_LOADING_BACKOFF_MS);
		break;
	default:
		/* the context is already going; it was reported (or we
		 * closed it ourselves) */
		if (!nd->failed) {
			nd->failed = 1;
			nd->fail_backoff = RD_BACKOFF_MS;
		}
		break;
	}
}

static int rd_send(struct rd_node *nd, struct rd_req *r)
{
	redisAsyncContext *ac = nd->ev.ac;

	r->sent_us = rd_now_us();
	switch (r->kind) {
	case RD_SET:
		if (r->expires_at == SPENT_NO_EXPIRY)
			return redisAsyncCommand(ac, rd_cmd_cb, r, "SET %b %s NX GET",
						 r->key, r->klen, r->id);
		return redisAsyncCommand(ac, rd_cmd_cb, r,
					 "SET %b %s NX GET EXAT %lld", r->key,
					 r->klen, r->id, (long long)r->expires_at);
	case RD_EXISTS:
		return redisAsyncCommand(ac, rd_cmd_cb, r, "EXISTS %b", r->key,
					 r->klen);
	case RD_WAIT:
		return redisAsyncCommand(ac, rd_cmd_cb, r, "WAIT %d %lld",
					 nd->io->s->min_replicas,
					 (long long)r->expires_at);
	case RD_ASKING:
		return redisAsyncCommand(ac, rd_cmd_cb, r, "ASKING");
	default:
		return redisAsyncCommand(ac, rd_cmd_cb, r, "SET %b 1 PX " RD_PROBE_PX,
					 r->key, r->klen);
	}
}

/* Sends one internal command (WAIT, ASKING); 0 or -1. */
static int rd_send_internal(struct rd_node *nd, enum rd_kind kind,
			    long long deadline_ms, long long arg)
{
	struct rd_req *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->kind = kind;
	w->deadline_ms = deadline_ms;
	w->expires_at = arg;
	if (rd_send(nd, w) != REDIS_OK) {
		free(w);
		return -1;
	}
	rd_fifo_push(&nd->inflight, w);
	return 0;
}

/* Moves what can move on one node: connects for waiting requests (or
 * fails them inside a back-off), sends them on a ready connection with a
 * WAIT behind the SETs, replaces a stale connection. */
static void rd_node_progress(struct rd_node *nd)
{
	struct rd_io *io = nd->io;
	struct rd_req *r;
	long long wait_deadline = -1;

	if (nd->state == RD_READY && nd->stale && nd->inflight.head == NULL &&
	    !nd->dropping) {
		nd->dropping = 1;   /* not a failure: no back-off */
		redisAsyncFree(nd->ev.ac);
		rd_node_after_gone(io, nd);
	}
	if (nd->state == RD_DOWN && nd->waiting.head != NULL) {
		if (rd_now_ms() < nd->backoff_until) {
			rd_fail_all(io, &nd->waiting);
			return;
		}
		nd->failed = 0;
		nd->dropping = 0;
		nd->stale = 0;
		nd->conn_deadline = rd_now_ms() + io->s->timeout_ms;
		if (rd_conn_open(io->s, &nd->where, &nd->ev, rd_node_hs_done,
				 nd) == NULL) {
			nd->backoff_until = rd_now_ms() + RD_BACKOFF_MS;
			rd_fail_all(io, &nd->waiting);
			return;
		}
		nd->ev.owner = nd;
		nd->state = RD_HANDSHAKE;
	}
	if (nd->state != RD_READY || nd->stale)
		return;
	while ((r = rd_fifo_pop(&nd->waiting)) != NULL) {
		if ((r->asking && rd_send_internal(nd, RD_ASKING, r->deadline_ms, 0) != 0) ||
		    rd_send(nd, r) != REDIS_OK) {
			rd_report(&nd->where, &nd->ev.ac->c, NULL, ENOMEM, rd_what(r));
			rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
			continue;
		}
		r->asking = 0;
		if (r->kind == RD_SET &&
		    (wait_deadline < 0 || r->deadline_ms < wait_deadline))
			wait_deadline = r->deadline_ms;
		rd_fifo_push(&nd->inflight, r);
	}
	if (wait_deadline >= 0 && io->s->min_replicas > 0) {
		/* half the time left: Redis checks a blocked WAIT's timeout
		 * only about every 100 ms (hz 10), and its answer must come
		 * before the SETs' deadline */
		long long t = (wait_deadline - rd_now_ms()) / 2;

		/* WAIT 0 would block for ever */
		if (t < 1)
			t = 1;
		if (rd_send_internal(nd, RD_WAIT, wait_deadline, t) != 0) {
			rd_report(&nd->where, &nd->ev.ac->c, NULL, ENOMEM,
				  "waiting for replicas (WAIT)");
			nd->stale = 1;   /* the SETs' WAIT goes with the conn */
		}
	}
}

/* Enforces the deadlines of one node. */
static void rd_node_expire(struct rd_node *nd, long long now, int *reported)
{
	struct rd_io *io = nd->io;
	struct rd_req *r;

	if (nd->state == RD_HANDSHAKE && now >= nd->conn_deadline &&
	    !nd->dropping) {
		rd_report_timeout(&nd->where, "connecting");
		nd->failed = 1;
		nd->fail_backoff = RD_BACKOFF_MS;
		rd_node_drop(nd, RD_BACKOFF_MS);
		*reported = 1;
	} else if (nd->state == RD_READY && nd->inflight.head != NULL &&
		   now >= nd->inflight.head->deadline_ms && !nd->dropping) {
		rd_report_timeout(&nd->where, rd_what(nd->inflight.head));
		atomic_fetch_add(&nd->errors, 1);
		nd->failed = 1;
		nd->fail_backoff = RD_BACKOFF_MS;
		rd_node_drop(nd, RD_BACKOFF_MS);
		*reported = 1;
	}
	rd_node_after_gone(io, nd);
	/* requests that waited for a connection (a stale one being replaced,
	 * a reconnect for a retry) as long as they may */
	while (nd->waiting.head != NULL && now >= nd->waiting.head->deadline_ms) {
		r = rd_fifo_pop(&nd->waiting);
		if (!*reported)
			rd_report_timeout(&nd->where, rd_what(r));
		*reported = 1;
		rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
	}
}

static void rd_io_expire(struct rd_io *io)
{
	unsigned i, n = atomic_load(&io->n_nodes);
	long long now = rd_now_ms();
	int reported = 0;
	struct rd_req *r;

	for (i = 0; i < n; i++)
		rd_node_expire(io->nodes[i], now, &reported);
	while (io->unrouted.head != NULL && now >= io->unrouted.head->deadline_ms) {
		r = rd_fifo_pop(&io->unrouted);
		if (!reported)
			spent_status_fail(io->s->where.st, SPENT_CAUSE_CLUSTER, 0,
					  "no redis cluster master took the request "
					  "within %u ms while %s (a node is down and no "
					  "replica has taken over yet, or no node in "
					  "redis-cluster answers CLUSTER SLOTS); check "
					  "the cluster", io->s->timeout_ms, rd_what(r));
		reported = 1;
		rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
	}
}

/* How long poll may sleep: until the next deadline, or for ever. */
static int rd_io_timeout(const struct rd_io *io)
{
	unsigned i, n = atomic_load(&io->n_nodes);
	long long next = -1, now;

	for (i = 0; i < n; i++) {
		const struct rd_node *nd = io->nodes[i];

		if (nd->state == RD_HANDSHAKE &&
		    (next < 0 || nd->conn_deadline < next))
			next = nd->conn_deadline;
		if (nd->inflight.head != NULL &&
		    (next < 0 || nd->inflight.head->deadline_ms < next))
			next = nd->inflight.head->deadline_ms;
		if (nd->waiting.head != NULL &&
		    (next < 0 || nd->waiting.head->deadline_ms < next))
			next = nd->waiting.head->deadline_ms;
	}
	if (io->unrouted.head != NULL &&
	    (next < 0 || io->unrouted.head->deadline_ms < next))
		next = io->unrouted.head->deadline_ms;
	if (next < 0)
		return -1;
	now = rd_now_ms();
	if (next <= now)
		return 0;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

/* Takes a newly published cluster topology: the masters' nodes (added when
 * new), the slot table, and re-routes what waits unsent. */
static void rd_io_topology(struct rd_io *io)
{
	unsigned n_addrs = 0, i, n;
	int16_t map[RD_NODES_MAX];
	struct rd_fifo again = { NULL, NULL };
	struct rd_req *r;

	if (!io->s->cluster ||
	    !rd_topo_take(io->s, &io->topo_gen, io->new_slots, io->new_addrs,
			  &n_addrs))
		return;
	n = atomic_load(&io->n_nodes);
	for (i = 0; i < n; i++)
		atomic_store(&io->nodes[i]->master, 0);
	for (i = 0; i < n_addrs; i++) {
		struct rd_node *nd = rd_node_get(io, &io->new_addrs[i]);

		map[i] = nd != NULL ? (int16_t)rd_node_index(io, nd) : -1;
		if (nd != NULL)
			atomic_store(&nd->master, 1);
	}
	for (i = 0; i < RD_SLOTS; i++) {
		int16_t a = io->new_slots[i];

		io->slots[i] = a >= 0 && (unsigned)a < n_addrs ? map[a] : -1;
	}
	/* unsent requests follow the new map (a failed-over master's slots
	 * now live on its promoted replica) */
	rd_fifo_splice(&again, &io->unrouted);
	n = atomic_load(&io->n_nodes);
	for (i = 0; i < n; i++)
		rd_fifo_splice(&again, &io->nodes[i]->waiting);
	while ((r = rd_fifo_pop(&again)) != NULL) {
		r->asking = 0;   /* an ASK target may be stale now */
		rd_route(io, r);
	}
	/* a slot without a master: its requests wait unrouted for a fresh
	 * read (or their deadline) */
}

/* Takes every submitted request, in submission order, onto its node. */
static void rd_io_take(struct rd_io *io)
{
	struct rd_req *r = atomic_exchange(&io->incoming, NULL), *next;
	struct rd_fifo got = { NULL, NULL };
	unsigned i, n;

	got.tail = r;
	while (r != NULL) {          /* newest first: reverse */
		next = r->next;
		r->next = got.head;
		got.head = r;
		if (r->kind == RD_PROBE) {
			/* the probe retries a connect */
			n = atomic_load(&io->n_nodes);
			for (i = 0; i < n; i++)
				io->nodes[i]->backoff_until = 0;
			if (io->s->cluster)
				rd_topo_request(io->s);
		}
		r = next;
	}
	while ((r = rd_fifo_pop(&got)) != NULL)
		rd_route(io, r);
}

static void *rd_io_main(void *arg)
{
	struct rd_io *io = arg;
	struct rd_ev *evs[RD_NODES_MAX];
	unsigned i, n;
	uint64_t v;
	int woke = 1;

	(void)pthread_setname_np(pthread_self(), "pp-redis-io");
	for (;;) {
		if (woke && read(io->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			abort();   /* an eventfd read cannot fail otherwise */
		if (atomic_load(&io->stopping))
			break;
		rd_io_topology(io);
		rd_io_take(io);
		rd_io_expire(io);
		n = atomic_load(&io->n_nodes);
		for (i = 0; i < n; i++) {
			rd_node_progress(io->nodes[i]);
			rd_node_after_gone(io, io->nodes[i]);
			evs[i] = &io->nodes[i]->ev;
		}
		woke = rd_ev_wait(evs, n, io->wake_fd, rd_io_timeout(io));
		for (i = 0; i < n; i++)
			rd_node_after_gone(io, io->nodes[i]);
	}
	/* stopping: nothing new gets in; answer what is left */
	rd_io_take(io);
	rd_fail_all(io, &io->unrouted);
	n = atomic_load(&io->n_nodes);
	for (i = 0; i < n; i++) {
		struct rd_node *nd = io->nodes[i];

		rd_fail_all(io, &nd->waiting);
		if (nd->ev.ac != NULL) {
			nd->failed = 1;          /* not a failure to report */
			nd->fail_backoff = 0;
			nd->dropping = 1;
			redisAsyncFree(nd->ev.ac);
		}
		/* retries of the NULL replies are not taken any more */
		rd_fail_all(io, &nd->retry);
		rd_node_after_gone(io, nd);
		rd_fail_all(io, &nd->waiting);
		rd_fail_all(io, &nd->retry);
	}
	return NULL;
}

void rd_io_submit(struct rd_store *s, enum rd_kind kind, const char *key,
		  size_t klen, int64_t expires_at,
		  void (*done)(void *arg, int rc), void *arg, int *lost)
{
	struct rd_io *io = s->io;
	struct rd_req *r, *old;
	unsigned long long seq;
	uint64_t one = 1;
	unsigned i;

	if (lost != NULL)
		*lost = 0;
	if (io == NULL || klen > sizeof(r->key))
		goto refuse;
	if (atomic_fetch_add(&io->pending, 1) >= RD_QUEUE_MAX) {
		atomic_fetch_sub(&io->pending, 1);
		spent_status_warn(s->where.st, RD_WARN_QUEUE_FULL,
				  "%u redis requests are queued or in flight; "
				  "answering 503 until Redis catches up (is it slow, "
				  "or redis-timeout-ms too long for this load?)",
				  RD_QUEUE_MAX);
		goto refuse;
	}
	/* not calloc: a submitter on an HTTP loop thread pays for every byte
	 * (the key buffer is most of it); every field is set below */
	r = malloc(sizeof(*r));
	if (r == NULL) {
		atomic_fetch_sub(&io->pending, 1);
		goto refuse;
	}
	r->next = NULL;
	r->kind = kind;
	memcpy(r->key, key, klen);
	r->klen = klen;
	r->expires_at = expires_at;
	r->sent_us = 0;
	r->done = done;
	r->arg = arg;
	r->lost = lost;
	r->tries = 0;
	r->redirects = 0;
	r->asking = 0;
	/* the id: this store's random instance part and a counter, in hex */
	seq = atomic_fetch_add(&s->next_id, 1);
	memcpy(r->id, s->instance, RD_ID_LEN / 2);
	for (i = 0; i < RD_ID_LEN / 2; i++)
		r->id[RD_ID_LEN - 1 - i] = "0123456789abcdef"[(seq >> (4 * i)) & 0xf];
	r->id[RD_ID_LEN] = '\0';
	/* spent.c lets nobody in once stopping: this only catches misuse */
	if (atomic_load(&io->stopping)) {
		free(r);
		atomic_fetch_sub(&io->pending, 1);
		goto refuse;
	}
	/* deadlines of concurrent submitters may be a few microseconds out
	 * of list order; the thread checks the oldest on the wire */
	r->deadline_ms = rd_now_ms() + s->timeout_ms;
	old = atomic_load(&io->incoming);
	do
		r->next = old;
	while (!atomic_compare_exchange_weak(&io->incoming, &old, r));
	/* the thread reads the eventfd before it takes the list, so a push
	 * onto an empty list always finds it awake or wakes it */
	if (old == NULL && write(io->wake_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		abort();
	return;

refuse:
	done(arg, PP_ERR_UNAVAILABLE);
}

int rd_io_on_thread(const struct rd_store *s)
{
	return s->io != NULL && pthread_equal(pthread_self(), s->io->thread);
}

unsigned rd_io_pending(struct rd_store *s)
{
	return s->io != NULL ? atomic_load(&s->io->pending) : 0;
}

void rd_io_wake(struct rd_store *s)
{
	uint64_t one = 1;

	if (s->io != NULL && write(s->io->wake_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		abort();
}

size_t rd_io_nodes(struct rd_store *s, struct spent_node_stats *out,
		   size_t max)
{
	struct rd_io *io = s->io;
	unsigned i, n;

	if (io == NULL)
		return 0;
	n = atomic_load(&io->n_nodes);
	for (i = 0; i < n && i < max; i++) {
		struct rd_node *nd = io->nodes[i];

		snprintf(out[i].addr, sizeof(out[i].addr), "%s:%d", nd->addr.host,
			 nd->addr.port);
		out[i].master = s->cluster ? atomic_load(&nd->master) : 1;
		out[i].connected = atomic_load(&nd->up);
		out[i].commands = atomic_load(&nd->commands);
		out[i].errors = atomic_load(&nd->errors);
		out[i].latency_us = atomic_load(&nd->latency_us);
	}
	return n;
}

int rd_io_start(struct rd_store *s)
{
	struct rd_io *io = calloc(1, sizeof(*io));
	struct rd_addr a;
	unsigned i;

	if (io == NULL)
		return PP_ERR_NOMEM;
	io->s = s;
	atomic_init(&io->pending, 0);
	atomic_init(&io->incoming, NULL);
	atomic_init(&io->stopping, 0);
	atomic_init(&io->n_nodes, 0);
	for (i = 0; i < RD_SLOTS; i++)
		io->slots[i] = -1;
	if (!s->cluster) {
		memset(&a, 0, sizeof(a));
		snprintf(a.host, sizeof(a.host), "%s", s->host);
		a.port = s->port;
		if (rd_node_get(io, &a) == NULL) {
			free(io);
			return PP_ERR_NOMEM;
		}
	}
	io->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->wake_fd < 0) {
		free(io->nodes[0]);
		free(io);
		return PP_ERR_INTERNAL;
	}
	s->io = io;
	if (pthread_create(&io->thread, NULL, rd_io_main, io) != 0) {
		s->io = NULL;
		close(io->wake_fd);
		free(io->nodes[0]);
		free(io);
		return PP_ERR_INTERNAL;
	}
	return 0;
}

void rd_io_stop(struct rd_store *s)
{
	struct rd_io *io = s->io;
	uint64_t one = 1;
	unsigned i, n;

	if (io == NULL)
		return;
	atomic_store(&io->stopping, 1);
	if (write(io->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
	pthread_join(io->thread, NULL);
	/* a push that raced the thread's last look (misuse: spent.c stops
	 * only when nobody is inside) */
	rd_io_take(io);
	rd_fail_all(io, &io->unrouted);
	n = atomic_load(&io->n_nodes);
	for (i = 0; i < n; i++) {
		rd_fail_all(io, &io->nodes[i]->waiting);
		free(io->nodes[i]);
	}
	close(io->wake_fd);
	free(io);
	s->io = NULL;
}
