/* The spent-token store: remembers which (token key id, nonce) pairs have been
 * redeemed, so a token is accepted at most once.
 *
 * Records are keyed on the key id and the nonce, never on the authenticator:
 * PSS signs with a random salt, so one token input can carry many valid
 * signatures, and keying on those bytes would let each of them be redeemed
 * once. The nonce under its key names the token itself. A record lives as
 * long as its key can verify: spent_drop_key() removes every record of a
 * retired key, and backends that can expire records (Redis) also expire them
 * at expires_at, so the store stays bounded by the keys in use.
 *
 * Dropping a key's records leaves a tombstone for its key id in the same
 * store (spent_key_dropped), so that a key store restored from an old backup
 * cannot make its redeemed tokens valid again: callers refuse tokens of a
 * tombstoned key forever.
 *
 * Health: every write outcome is recorded (spent_health_get); the first
 * failure of each cause is logged with what to do (then at most once per
 * 10 s per cause, with a count of the others), and so is the recovery. While
 * the store is unhealthy a background probe retries about once a second, so
 * readiness comes back without traffic.
 *
 * Backends:
 *   "lmdb"  (default) embedded, under <data_dir>/spent/. An answer of 0 is
 *           given only after the record is synced to disk. Concurrent requests
 *           share one write transaction and one sync (group commit).
 *   "redis" one SET <key> <request id> NX GET [EXAT] per redemption, for
 *           several issuers sharing one store: a single Redis, or a Redis
 *           Cluster (redis_cluster: one connection per master, slots from
 *           CLUSTER SLOTS, MOVED/ASK followed). The store's own I/O thread
 *           pipelines the commands, so submitting never waits for Redis.
 *           A command whose reply was lost is re-sent once, on a new
 *           connection, within its time budget: finding its own request id
 *           it answers 0, another's PP_ERR_SPENT. With redis_min_replicas
 *           N > 0, a 0 also waits for WAIT N to confirm the record on N
 *           replicas (else PP_ERR_UNAVAILABLE; the record stays). Any other
 *           error, timeout (redis_timeout_ms per command, from submission)
 *           or lost connection answers PP_ERR_UNAVAILABLE; the next request
 *           reconnects. At most 65536 requests wait at once; past that
 *           they are answered PP_ERR_UNAVAILABLE at once. Opening this
 *           backend sets SIGPIPE to SIG_IGN if it is still SIG_DFL (hiredis
 *           writes to sockets with plain write(2); a dead server must not
 *           kill us).
 *
 * Redemptions and lookups have one path each, and neither blocks:
 * spent_submit and spent_contains_submit queue the request and answer
 * through a callback. spent_drop_key, spent_purge_expired(_if) and
 * spent_key_dropped do block (a sweep, a tombstone lookup over a pooled
 * connection): call them from maintenance or start-up threads, never from
 * an event-loop thread or a done callback.
 *
 * Every function below is safe to call from many threads at once on one
 * store, except spent_open and spent_close. */
#ifndef PP_SPENT_H
#define PP_SPENT_H

#include <stddef.h>
#include <stdint.h>

#define SPENT_KEY_ID_LEN 32
#define SPENT_NONCE_LEN 32
#define SPENT_PREFIX_MAX 64          /* redis key prefix, bytes */

struct spent_config {
	const char *backend;         /* "lmdb" (also when NULL) or "redis" */

	/* lmdb */
	const char *data_dir;        /* the env lives in <data_dir>/spent/ */
	size_t lmdb_map_size;        /* initial map size in bytes; 0 = 256 MiB */
	size_t lmdb_map_max;         /* the map grows (doubling) up to this;
				      * 0 = 64 GiB; below map_size = map_size */
	unsigned lmdb_max_batch;     /* records per write transaction; 0 = 4096 */

	/* redis */
	const char *redis_host;      /* NULL = "127.0.0.1" */
	unsigned redis_port;         /* 0 = 6379 */
	const char *redis_password;  /* NULL or "" = no AUTH */
	unsigned redis_db;           /* SELECT when non-zero */
	const char *redis_prefix;    /* NULL = "pp:spent:"; at most 64 bytes */
	unsigned redis_timeout_ms;   /* connect and command timeout; 0 = 500 */
	unsigned redis_pool_size;    /* blocking connections for spent_drop_key
				      * and spent_key_dropped (opened when
				      * used); 0 = 8, at most 256 */
	/* 0: at every (re)connect check INFO persistence / CONFIG GET
	 * appendfsync and refuse (PP_ERR_UNAVAILABLE, cause "volatile") unless
	 * AOF is on with appendfsync always or everysec and the server is a
	 * master. 1: accept any Redis (a crash may forget redeemed tokens). */
	int redis_allow_volatile;
	/* Redis Cluster: "HOST:PORT[,HOST:PORT...]" seed nodes, or NULL/"" for
	 * a single Redis (redis_host/redis_port). With a cluster, redis_db must
	 * be 0; the topology is read with CLUSTER SLOTS at start and again
	 * after MOVED or a lost node. */
	const char *redis_cluster;
	/* Replicas that must confirm a record (WAIT) before it is answered 0:
	 * < 0 = the default (0 for a single Redis, 1 for a cluster). When WAIT
	 * cannot confirm them in time the answer is PP_ERR_UNAVAILABLE and the
	 * record stays (a retry then gets PP_ERR_SPENT). At most 16. */
	int redis_min_replicas;
};

/* expires_at for a record of a key with no scheduled retirement: lmdb keeps
 * it until spent_drop_key, redis sets it without EXAT. */
#define SPENT_NO_EXPIRY INT64_MAX

/* Why the store could not write. The names (spent_cause_name) are metric
 * labels and stay stable. */
enum spent_cause {
	SPENT_CAUSE_NONE = 0,
	SPENT_CAUSE_DISK_FULL,     /* ENOSPC or EDQUOT */
	SPENT_CAUSE_MAP_FULL,      /* lmdb map at lmdb_map_max */
	SPENT_CAUSE_IO,            /* other I/O or LMDB error */
	SPENT_CAUSE_REFUSED,       /* redis: connection refused or unreachable */
	SPENT_CAUSE_TIMEOUT,       /* redis: connect or command timed out */
	SPENT_CAUSE_DISCONNECTED,  /* redis: connection lost mid-command */
	SPENT_CAUSE_AUTH,          /* redis: AUTH failed or required */
	SPENT_CAUSE_VOLATILE,      /* redis: cannot keep an acknowledged record */
	SPENT_CAUSE_OOM,           /* redis: maxmemory reached */
	SPENT_CAUSE_READONLY,      /* redis: a replica, or writes refused */
	SPENT_CAUSE_MISCONF,       /* redis: its own persistence is failing */
	SPENT_CAUSE_ERROR,         /* redis: another error reply */
	SPENT_CAUSE_REPLICAS,      /* redis: WAIT saw too few replicas in time */
	SPENT_CAUSE_CLUSTER,       /* redis cluster: no topology, CLUSTERDOWN,
				    * too many redirections */
	SPENT_CAUSE_COUNT
};

#define SPENT_MESSAGE_MAX 384

/* What the store knows of its own state. */
struct spent_health {
	const char *backend;       /* "lmdb" or "redis" */
	int healthy;               /* 1: the last write succeeded (or the store
				    * has not failed yet and can write) */
	int connected;             /* redis: a connection is up; lmdb: 1 */
	enum spent_cause cause;    /* of the last failure; NONE when healthy */
	int sys_errno;             /* errno of the last failure, or 0 */
	int64_t since;             /* unix seconds of the first failure of the
				    * current unhealthy spell, or 0 */
	uint64_t errors[SPENT_CAUSE_COUNT]; /* failures by cause since open */
	char message[SPENT_MESSAGE_MAX];    /* what failed and what to do;
					     * "" when healthy */
};

/* Counters since open. For lmdb, records / commits is the group-commit
 * batching factor. */
struct spent_stats {
	uint64_t requests;     /* spent_submit requests answered */
	uint64_t recorded;     /* answered 0 (first redemption, now durable) */
	uint64_t spent;        /* answered PP_ERR_SPENT */
	uint64_t unavailable;  /* answered PP_ERR_UNAVAILABLE */
	uint64_t commits;      /* lmdb: write transactions committed */
	uint64_t commit_records; /* lmdb: records answered by those commits */
	uint64_t max_batch;    /* lmdb: most records in one transaction */
	uint64_t map_grows;    /* lmdb: times the map was enlarged */
	uint64_t reconnects;   /* redis: connections (re)established */
	uint64_t retries;      /* redis: commands re-sent after a lost reply */
	uint64_t retried_own;  /* redis: retries that found our own record (0) */
	uint64_t moved;        /* redis cluster: MOVED redirections */
	uint64_t ask;          /* redis cluster: ASK redirections */
	uint64_t topology;     /* redis cluster: topology reads that succeeded */
	uint64_t waits;        /* redis: WAIT commands answered */
	uint64_t wait_failures; /* redis: WAITs that saw too few replicas */
};

#define SPENT_NODE_ADDR_MAX 272   /* "host:port" */
#define SPENT_NODES_MAX 32        /* redis nodes (cluster masters) tracked */

/* One Redis node the store talks to (the single Redis, or a cluster
 * master), for metrics. */
struct spent_node_stats {
	char addr[SPENT_NODE_ADDR_MAX];
	int master;            /* serves slots in the current topology */
	int connected;
	uint64_t commands;     /* replies received (SET, EXISTS, WAIT, ...) */
	uint64_t errors;       /* error replies and lost or timed-out commands */
	uint64_t latency_us;   /* sum of send-to-reply times of the replies */
};

struct spent_store; /* opaque */

/* Opens the configured backend. On failure returns PP_ERR_CONFIG (bad
 * settings), PP_ERR_IO (the lmdb directory or env), PP_ERR_INTERNAL or
 * PP_ERR_NOMEM, and writes what to do into err (first error wins).
 *
 * The redis backend does not need the server at open: it checks the settings
 * and connects on first use, so the issuer can start (and keep issuing) while
 * Redis is down; redemptions answer PP_ERR_UNAVAILABLE until it is back.
 * Free with spent_close. */
int spent_open(const struct spent_config *cfg, struct spent_store **out,
	       char *err, size_t errlen);

/* Stops accepting: every later call answers PP_ERR_UNAVAILABLE (a later
 * spent_submit or spent_contains_submit through its done, before it
 * returns). Returns once every request already queued has been answered
 * (lmdb: written and synced) and its done has returned. Idempotent. */
void spent_shutdown(struct spent_store *s);

/* spent_shutdown, then frees the store. Calls already inside the store are
 * answered first; none may start once spent_close begins. NULL is
 * accepted. */
void spent_close(struct spent_store *s);

/* The atomic check-and-record step, and the store's only way to record a
 * redemption. It never blocks the caller: it queues the request and returns.
 * expires_at (unix seconds, > 0) is when the record may go: the key's
 * retirement, or SPENT_NO_EXPIRY.
 *
 * done(arg, rc) is called exactly once with the answer: 0 when (key_id,
 * nonce) was not recorded before and now is (durably: lmdb has synced the
 * transaction holding it, redis has acknowledged the SET), PP_ERR_SPENT
 * when it already was, PP_ERR_UNAVAILABLE when the store cannot answer
 * (nothing is known to be recorded; never treat this as valid). Every
 * failure (I/O, map full, timeout, lost connection, shutting down, queue
 * full, out of memory) is PP_ERR_UNAVAILABLE. Of any number of concurrent
 * submissions of one pair, exactly one is answered 0.
 *
 * Where done runs: for lmdb on the store's writer thread once the batch
 * holding the request is synced, for redis on the store's I/O thread once
 * Redis answered (or the command timed out, or the connection failed), and
 * when the store refuses at once (shutting down, redis queue full) before
 * spent_submit returns. done must be quick and must not call back into the
 * store; it typically hands the answer over and wakes the request (for
 * libmicrohttpd: suspend the connection before submitting, resume it in
 * done). A caller that needs the answer in line (a test, a tool) waits for
 * done on a condition variable, never on the thread that runs done. With a
 * small HTTP thread pool this is what lets many requests share one commit:
 * a blocked pool thread could only contribute one record to it.
 *
 * The request is counted in spent_stats before done runs. Returns 0 (done
 * will be or was called) or PP_ERR_ARG for a NULL argument or expires_at
 * <= 0 (done is not called, nothing is counted). spent_shutdown waits for
 * every pending done to return. */
int spent_submit(struct spent_store *s, const uint8_t key_id[SPENT_KEY_ID_LEN],
		 const uint8_t nonce[SPENT_NONCE_LEN], int64_t expires_at,
		 void (*done)(void *arg, int rc), void *arg);

/* Whether the pair is already recorded, without recording it, with
 * spent_submit's done contract: done(arg, rc) runs exactly once with 0 (not
 * spent), PP_ERR_SPENT or PP_ERR_UNAVAILABLE; for redis on the store's I/O
 * thread once Redis answered (EXISTS), for lmdb (a read that never waits on
 * a sync) before this returns. Not counted in spent_stats. Returns 0 (done
 * will be or was called) or PP_ERR_ARG (done is not called). spent_shutdown
 * waits for every pending done. */
int spent_contains_submit(struct spent_store *s,
			  const uint8_t key_id[SPENT_KEY_ID_LEN],
			  const uint8_t nonce[SPENT_NONCE_LEN],
			  void (*done)(void *arg, int rc), void *arg);

/* Removes every record of key_id (call when the key is retired: its tokens
 * no longer verify, so their records are no longer needed). First records a
 * durable tombstone for key_id (lmdb: in the transaction of the first
 * deletion chunk; redis: SET <prefix>retired:<hex key id>, no expiry, before
 * the sweep), so a failure part-way leaves the tombstone, never records
 * without one. Returns 0 or PP_ERR_UNAVAILABLE; *removed (may be NULL) gets
 * the number of records removed, also on a partial failure. With Redis
 * Cluster the tombstone goes to the master of its slot and every master is
 * swept. */
int spent_drop_key(struct spent_store *s,
		   const uint8_t key_id[SPENT_KEY_ID_LEN], uint64_t *removed);

/* Removes every record whose expires_at is before now (unix seconds): the
 * safety net for keys whose retirement was not seen by spent_drop_key (the
 * server was down, or the drop failed). lmdb walks the whole store in
 * bounded transactions, so run it at start-up and then now and then (say
 * daily), not per request; redis expires records itself and answers 0 with
 * nothing removed. Returns 0 or PP_ERR_UNAVAILABLE; *removed as for
 * spent_drop_key. */
int spent_purge_expired(struct spent_store *s, int64_t now, uint64_t *removed);

/* spent_purge_expired, but only for key ids for which may_drop(ctx, key_id)
 * returns non-zero (may_drop NULL: every key id), and with a tombstone
 * written for each key id whose records it removes, in the same
 * transaction. may_drop runs inside a write transaction (lmdb): it must be
 * quick and must not call into the store. It is asked once per key id per
 * transaction. Redis answers 0 with nothing removed (it expires records
 * itself; records written with SPENT_NO_EXPIRY stay until spent_drop_key,
 * which leaves the tombstone). */
int spent_purge_expired_if(struct spent_store *s, int64_t now,
			   int (*may_drop)(void *ctx,
					   const uint8_t key_id[SPENT_KEY_ID_LEN]),
			   void *ctx, uint64_t *removed);

/* Whether spent_drop_key (or a purge) left a tombstone for key_id: 1 yes,
 * 0 no, PP_ERR_UNAVAILABLE when the store cannot answer (treat as "refuse"),
 * PP_ERR_ARG for NULL arguments. */
int spent_key_dropped(struct spent_store *s,
		      const uint8_t key_id[SPENT_KEY_ID_LEN]);

/* Copies the store's health (out is cleared first). A store shutting down
 * reports unhealthy. NULL s: out->backend "none", healthy. */
void spent_health_get(struct spent_store *s, struct spent_health *out);

/* The metric label of a cause: "disk_full", "map_full", ... */
const char *spent_cause_name(enum spent_cause c);

/* Copies the counters (out is cleared first). */
void spent_stats_get(struct spent_store *s, struct spent_stats *out);

/* Copies up to max nodes' counters into out (cleared first) and returns
 * how many there are (0 for lmdb). */
size_t spent_nodes_get(struct spent_store *s, struct spent_node_stats *out,
		       size_t max);

/* "lmdb" or "redis". */
const char *spent_backend_name(const struct spent_store *s);

#endif
