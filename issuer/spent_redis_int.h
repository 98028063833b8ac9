/* Private to issuer/spent_redis*.c: the Redis store's shared state and the
 * pieces its files call in each other.
 *
 *   spent_redis.c         settings, open/stop/free, key names, the ops table,
 *                         the probe's wait for the I/O thread
 *   spent_redis_async.c   the I/O thread: request queue, pipelined commands,
 *                         deadlines, reconnects (one async connection)
 *   spent_redis_conn.c    the async connection's hand-shake (AUTH, SELECT,
 *                         durability check) and its event adapter
 *   spent_redis_pool.c    blocking connections for the rare multi-step
 *                         calls (spent_drop_key, spent_key_dropped)
 *   spent_redis_health.c  failure classification and the durability rules
 *   spent_redis_cluster.c Redis Cluster: slots, redirections, the topology
 *                         thread, the sweep over every master */
#ifndef PP_SPENT_REDIS_INT_H
#define PP_SPENT_REDIS_INT_H

#include <async.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>

#include "issuer/spent_impl.h"

#define RD_BACKOFF_MS 100
#define RD_VOLATILE_BACKOFF_MS 1000  /* each try costs INFO and CONFIG */
#define RD_QUEUE_MAX 65536u          /* requests queued or in flight */
#define RD_NODES_MAX SPENT_NODES_MAX /* nodes of a cluster we track */
#define RD_SLOTS 16384
#define RD_HOST_MAX 255
#define RD_ID_LEN 32                 /* a request id: 32 hex digits */
#define RD_MAX_REDIRECTS 5           /* MOVED/ASK hops of one request */
#define RD_MAX_REPLICAS 16
/* <prefix><64 hex>:<64 hex> */
#define RD_KEY_MAX (SPENT_PREFIX_MAX + 2 * SPENT_KEY_ID_LEN + 1 + 2 * SPENT_NONCE_LEN + 1)
/* <prefix>retired:<64 hex> */
#define RD_TOMB_MAX (SPENT_PREFIX_MAX + 8 + 2 * SPENT_KEY_ID_LEN + 1)
/* the MATCH pattern escapes every prefix byte at worst */
#define RD_PATTERN_MAX (2 * SPENT_PREFIX_MAX + 2 * SPENT_KEY_ID_LEN + 3)

/* spent_status_warn topics of the Redis store */
enum { RD_WARN_CONFIG, RD_WARN_VOLATILE_ALLOWED, RD_WARN_REPLICAS,
       RD_WARN_QUEUE_FULL, RD_WARN_TOPOLOGY, RD_WARN_EVERYSEC };

/* What the connection code knows when it reports. */
struct rd_where {
	struct spent_status *st;
	const char *host;
	int port;
	unsigned timeout_ms;
	int allow_volatile;
	int min_replicas;     /* WAIT is used when > 0 */
};

struct rd_conn {
	pthread_mutex_t mu;
	redisContext *c;     /* NULL while disconnected */
};

struct rd_io;   /* spent_redis_async.c */
struct rd_topo; /* spent_redis_cluster.c */

/* host:port of a cluster node */
struct rd_addr {
	char host[RD_HOST_MAX + 1];
	int port;
};

struct rd_store {
	char *host;
	int port;
	char *password;       /* NULL when unset */
	unsigned db;
	char prefix[SPENT_PREFIX_MAX + 1];
	size_t prefix_len;
	unsigned timeout_ms;
	struct timeval tv;    /* timeout_ms, for the blocking connections */
	/* blocking pool (spent_redis_pool.c) */
	unsigned n;
	struct rd_conn *conns;
	unsigned n_mu_ok;     /* conns[0..n_mu_ok) have an initialised mutex */
	atomic_uint next;     /* where the next caller starts looking */
	atomic_llong down_until_ms; /* monotonic; no connect attempt before */
	/* shared */
	atomic_ullong reconnects;
	atomic_int live;      /* connections up, async and pooled */
	struct rd_where where; /* for failure reports */
	struct rd_io *io;     /* the I/O thread; NULL until started */
	/* request ids: <instance hex><counter hex> */
	char instance[RD_ID_LEN / 2 + 1];
	atomic_ullong next_id;
	int min_replicas;
	/* cluster (spent_redis_cluster.c); cluster == 0: a single Redis */
	int cluster;
	struct rd_addr seeds[RD_NODES_MAX];
	unsigned n_seeds;
	struct rd_topo *topo;
	atomic_ullong retries, retried_own, moved, ask, topologies, waits,
		wait_failures;
	atomic_uint topologies_tried;   /* rotates the first node asked */
};

long long rd_now_ms(void);
/* One more (or one less) connection up; tells the status on 0 <-> 1. */
void rd_live_add(struct rd_store *s, int delta);

/* ---- the I/O thread (spent_redis_async.c) ---- */

enum rd_kind {
	RD_SET,       /* SET key <id> NX GET [EXAT expires_at] */
	RD_EXISTS,    /* EXISTS key */
	RD_PROBE,     /* SET <prefix>probe 1 PX 60000, outside any back-off */
	RD_WAIT,      /* internal: WAIT n t behind a pipeline of SETs */
	RD_ASKING,    /* internal: ASKING before a redirected command */
};

/* Starts the I/O thread of s; 0 or PP_ERR_INTERNAL / PP_ERR_NOMEM. */
int rd_io_start(struct rd_store *s);
/* Answers whatever is still queued (PP_ERR_UNAVAILABLE), closes the
 * connection and joins the thread. NULL and repeated calls are fine. */
void rd_io_stop(struct rd_store *s);
/* Queues one command (key: klen bytes, copied) and returns at once.
 * done(arg, rc) runs exactly once: on the I/O thread with 0,
 * PP_ERR_SPENT or PP_ERR_UNAVAILABLE, or before this returns with
 * PP_ERR_UNAVAILABLE (queue full, stopping, out of memory). When conn_lost
 * is not NULL it is set, before done runs, to whether a failure was the
 * connection's (lost, timed out, never made) rather than a reply's. */
void rd_io_submit(struct rd_store *s, enum rd_kind kind, const char *key,
		  size_t klen, int64_t expires_at,
		  void (*done)(void *arg, int rc), void *arg, int *conn_lost);
/* Whether the caller is the I/O thread (a done callback). */
int rd_io_on_thread(const struct rd_store *s);
/* Requests queued or in flight. */
unsigned rd_io_pending(struct rd_store *s);
/* Wakes the I/O thread (a new topology is published). */
void rd_io_wake(struct rd_store *s);
size_t rd_io_nodes(struct rd_store *s, struct spent_node_stats *out,
		   size_t max);

/* ---- the async connection (spent_redis_conn.c) ---- */

/* How the hand-shake ended: ok, or refused by the server's replies (AUTH,
 * SELECT, durability: retried after the longer back-off), or a failed
 * connection (retried after the short one). */
enum rd_hs_end { RD_HS_OK, RD_HS_REFUSED, RD_HS_FAILED,
		 RD_HS_LOADING };   /* Redis is loading its data: retry soon */
#define RD_LOADING_BACKOFF_MS 20

struct rd_ev {                 /* the event adapter's state */
	redisAsyncContext *ac;     /* NULL once hiredis cleaned up */
	int fd;
	int want_read, want_write; /* what hiredis waits for */
	int connect_errno;         /* of a failed connect */
	void *owner;               /* the I/O thread's state */
};

/* Starts a non-blocking connect, attaches the adapter to ev and queues the
 * hand-shake. done(ctx, end) runs on the I/O thread once the hand-shake
 * ended (failures are reported before). Returns the context, or NULL after
 * reporting an immediate failure. ac->data is left to the caller. */
redisAsyncContext *rd_conn_open(struct rd_store *s, const struct rd_where *w,
				struct rd_ev *ev,
				void (*done)(void *ctx, enum rd_hs_end end),
				void *ctx);

/* Waits up to timeout_ms (-1: no limit) for wake_fd or what hiredis waits
 * for on the n sockets of evs, and hands socket events to hiredis (whose
 * callbacks run inside). Returns whether wake_fd is readable. */
int rd_ev_wait(struct rd_ev *const *evs, unsigned n, int wake_fd,
	       int timeout_ms);

/* A blocking connection to host:port with AUTH, SELECT (single Redis) and
 * the durability check; failures reported against w. NULL on failure,
 * *refused set when the server refused us (not the network). */
redisContext *rd_blocking_connect(struct rd_store *s, const struct rd_where *w,
				  int *refused);

/* ---- the blocking pool (spent_redis_pool.c) ---- */

int rd_pool_init(struct rd_store *s);
void rd_pool_free(struct rd_store *s);
int rd_pool_drop_key(struct rd_store *s, const uint8_t *key_id,
		     uint64_t *removed);
int rd_pool_key_dropped(struct rd_store *s, const uint8_t *key_id);

/* ---- Redis Cluster (spent_redis_cluster.c) ---- */

/* The slot of a key (CRC16 of the key, or of its {hash tag}). */
unsigned rd_slot(const char *key, size_t len);
/* Parses "MOVED <slot> <host>:<port>" / "ASK ...": 1 and the parts, or 0. */
int rd_redirect_parse(const char *err, const char *word, unsigned *slot,
		      struct rd_addr *to);
/* Parses "host:port" (the last colon). 0 or PP_ERR_CONFIG. */
int rd_addr_parse(const char *text, size_t len, struct rd_addr *out);
/* Starts / stops the topology thread (cluster only). */
int rd_topo_start(struct rd_store *s);
/* Joins the thread (the I/O thread may still ask: ignored); then the I/O
 * thread stops, then rd_topo_free. */
void rd_topo_stop(struct rd_store *s);
void rd_topo_free(struct rd_store *s);
#define RD_TOPO_MIN_MS 100
#define RD_TOPO_EVERY_MS 5000   /* read again even without a reason */
/* Asks the topology thread for a fresh CLUSTER SLOTS (at most one read
 * per RD_TOPO_MIN_MS); never blocks for long. */
void rd_topo_request(struct rd_store *s);
/* If a topology newer than *gen was published: copies it (the master of
 * each slot as an index into addrs, -1 = none; the masters' addresses) and
 * returns 1. */
int rd_topo_take(struct rd_store *s, unsigned *gen, int16_t *slots,
		 struct rd_addr *addrs, unsigned *n_addrs);
/* spent_drop_key and spent_key_dropped over a cluster. */
int rd_cluster_drop_key(struct rd_store *s, const uint8_t *key_id,
			uint64_t *removed);
int rd_cluster_key_dropped(struct rd_store *s, const uint8_t *key_id);
/* SCAN MATCH pattern + UNLINK on one connection; 0 or PP_ERR_UNAVAILABLE
 * (reported). */
int rd_sweep(struct rd_store *s, const struct rd_where *w, redisContext *c,
	     const char *pattern, uint64_t *removed);

/* ---- names (spent_redis.c) ---- */

size_t rd_key(const struct rd_store *s, const uint8_t *key_id,
	      const uint8_t *nonce, char out[RD_KEY_MAX]);
void rd_tomb_key(const struct rd_store *s, const uint8_t *key_id,
		 char out[RD_TOMB_MAX]);
void rd_pattern(const struct rd_store *s, const uint8_t *key_id,
		char out[RD_PATTERN_MAX]);

/* ---- failures and durability (spent_redis_health.c) ---- */

/* Reports a failed connect or command: r NULL means the connection failed
 * (ctx->err, with err_no the errno right after the call), else r is the
 * error (or unexpected) reply. what: "connecting", "recording a
 * redemption", ... */
void rd_report(const struct rd_where *w, const redisContext *ctx,
	       const redisReply *r, int err_no, const char *what);
/* Reports that no answer came within timeout_ms while what. */
void rd_report_timeout(const struct rd_where *w, const char *what);

/* What the durability check reads from the server. */
struct rd_durability {
	char role[32];
	char slaves[32];
	char aof[8];
	char loading[8];    /* "1" while Redis loads its AOF or RDB */
	char fsync[32];     /* "" when CONFIG GET was refused */
	char reason[160];   /* why fsync is unknown */
};

/* Takes the reply to INFO replication / INFO persistence into d. A reply
 * that is not INFO text is reported ("reading INFO at connect"): then
 * PP_ERR_UNAVAILABLE. */
int rd_durability_replication(const struct rd_where *w,
			      const redisContext *ctx, const redisReply *r,
			      int err_no, struct rd_durability *d);
int rd_durability_persistence(const struct rd_where *w,
			      const redisContext *ctx, const redisReply *r,
			      int err_no, struct rd_durability *d);
/* Takes the reply to CONFIG GET appendfsync (an error reply or NULL leaves
 * fsync unknown, with the reason). */
void rd_durability_appendfsync(const redisReply *r, struct rd_durability *d);
/* Decides on what d holds: 0 when a 200 may rely on the server (AOF on with
 * appendfsync always or everysec, or appendfsync unknown because CONFIG is
 * refused, which is logged), or when allow_volatile is set (logged too).
 * Else reports SPENT_CAUSE_VOLATILE (or READONLY for a replica) with what
 * to change and returns PP_ERR_UNAVAILABLE. */
int rd_durability_judge(const struct rd_where *w, const struct rd_durability *d);
/* rd_durability_judge's answer while Redis is still loading its data set
 * (it reports aof_enabled:0 then): reported as a failure that passes. */
#define RD_DURABILITY_LOADING 1

/* The same check over a blocking connection (INFO replication, INFO
 * persistence, CONFIG GET appendfsync). */
int rd_durability_check(const struct rd_where *w, redisContext *ctx);

#endif
