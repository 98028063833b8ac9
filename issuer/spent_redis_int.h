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
 *   spent_redis_health.c  failure classification and the durability rules */
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
/* <prefix><64 hex>:<64 hex> */
#define RD_KEY_MAX (SPENT_PREFIX_MAX + 2 * SPENT_KEY_ID_LEN + 1 + 2 * SPENT_NONCE_LEN + 1)
/* <prefix>retired:<64 hex> */
#define RD_TOMB_MAX (SPENT_PREFIX_MAX + 8 + 2 * SPENT_KEY_ID_LEN + 1)
/* the MATCH pattern escapes every prefix byte at worst */
#define RD_PATTERN_MAX (2 * SPENT_PREFIX_MAX + 2 * SPENT_KEY_ID_LEN + 3)

/* spent_status_warn topics of the Redis store */
enum { RD_WARN_CONFIG, RD_WARN_VOLATILE_ALLOWED, RD_WARN_REPLICAS,
       RD_WARN_QUEUE_FULL };

/* What the connection code knows when it reports. */
struct rd_where {
	struct spent_status *st;
	const char *host;
	int port;
	unsigned timeout_ms;
	int allow_volatile;
};

struct rd_conn {
	pthread_mutex_t mu;
	redisContext *c;     /* NULL while disconnected */
};

struct rd_io;   /* spent_redis_async.c */

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
};

long long rd_now_ms(void);
/* One more (or one less) connection up; tells the status on 0 <-> 1. */
void rd_live_add(struct rd_store *s, int delta);

/* ---- the I/O thread (spent_redis_async.c) ---- */

enum rd_kind {
	RD_SET,       /* SET key 1 NX [EXAT expires_at] */
	RD_EXISTS,    /* EXISTS key */
	RD_PROBE,     /* SET <prefix>probe 1 PX 60000, outside any back-off */
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

/* ---- the async connection (spent_redis_conn.c) ---- */

/* How the hand-shake ended: ok, or refused by the server's replies (AUTH,
 * SELECT, durability: retried after the longer back-off), or a failed
 * connection (retried after the short one). */
enum rd_hs_end { RD_HS_OK, RD_HS_REFUSED, RD_HS_FAILED };

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
redisAsyncContext *rd_conn_open(struct rd_store *s, struct rd_ev *ev,
				void (*done)(void *ctx, enum rd_hs_end end),
				void *ctx);

/* Waits up to timeout_ms (-1: no limit) for wake_fd or what hiredis waits
 * for on ev's socket, and hands socket events to hiredis (whose callbacks
 * run inside). Returns whether wake_fd is readable. */
int rd_ev_wait(struct rd_ev *ev, int wake_fd, int timeout_ms);

/* ---- the blocking pool (spent_redis_pool.c) ---- */

int rd_pool_init(struct rd_store *s);
void rd_pool_free(struct rd_store *s);
int rd_pool_drop_key(struct rd_store *s, const uint8_t *key_id,
		     uint64_t *removed);
int rd_pool_key_dropped(struct rd_store *s, const uint8_t *key_id);

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

/* The same check over a blocking connection (INFO replication, INFO
 * persistence, CONFIG GET appendfsync). */
int rd_durability_check(const struct rd_where *w, redisContext *ctx);

#endif
