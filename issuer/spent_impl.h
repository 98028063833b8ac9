/* Private to issuer/spent*.c: the table each spent-store backend fills.
 * spent.c owns the shared part (argument checks, the shutdown gate, the
 * answer counters); a backend only does the storage work. */
#ifndef PP_SPENT_IMPL_H
#define PP_SPENT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "base/pp_err.h"

#include "issuer/spent.h"

struct spent_status;

struct spent_ops {
	const char *name;
	/* Queues a check-and-record; calls done(arg, rc) exactly once, maybe
	 * before returning, with 0 only once the record is durable. */
	void (*submit)(void *impl, const uint8_t *key_id, const uint8_t *nonce,
		       int64_t expires_at, void (*done)(void *arg, int rc),
		       void *arg);
	/* Whether the pair is recorded: done(arg, rc) exactly once, maybe
	 * before returning (lmdb answers from a read transaction in line), with
	 * 0 (absent), PP_ERR_SPENT or PP_ERR_UNAVAILABLE. */
	void (*contains_submit)(void *impl, const uint8_t *key_id,
				const uint8_t *nonce,
				void (*done)(void *arg, int rc), void *arg);
	/* writes the tombstone first; 0 or PP_ERR_UNAVAILABLE */
	int (*drop_key)(void *impl, const uint8_t *key_id, uint64_t *removed);
	/* may_drop NULL: every key id */
	int (*purge_expired)(void *impl, int64_t now,
			     int (*may_drop)(void *ctx, const uint8_t *key_id),
			     void *ctx, uint64_t *removed);
	/* 1, 0 or PP_ERR_UNAVAILABLE */
	int (*key_dropped)(void *impl, const uint8_t *key_id);
	/* Called about once a second from the front's probe thread while the
	 * store is unhealthy: one cheap write that reports its outcome to the
	 * status (ok or fail), so readiness recovers without traffic. */
	void (*probe)(void *impl);
	/* Adds the backend's own counters (commits, reconnects, ...) to out. */
	void (*stats)(void *impl, struct spent_stats *out);
	/* Copies per-node counters (may be NULL: no nodes). */
	size_t (*nodes)(void *impl, struct spent_node_stats *out, size_t max);
	/* Called once no caller is inside the backend any more. */
	void (*stop)(void *impl);
	void (*free)(void *impl);
};

/* A backend reports every write outcome into st (owned by the front, alive
 * until after ops->free). */
int spent_lmdb_open(const struct spent_config *cfg, struct spent_status *st,
		    void **impl, char *err, size_t errlen);
int spent_redis_open(const struct spent_config *cfg, struct spent_status *st,
		     void **impl, char *err, size_t errlen);
extern const struct spent_ops spent_lmdb_ops;
extern const struct spent_ops spent_redis_ops;

/* ---- the health record (spent_status.c) ----
 * One per store. Failures are counted by cause, make the store unhealthy,
 * and are logged with what to do: the first of a cause at once, then at
 * most one line per cause per SPENT_LOG_INTERVAL_MS with the number of
 * lines held back. The first success after a failure logs the recovery. */
#define SPENT_LOG_INTERVAL_MS 10000

/* healthy: the state before the first write (lmdb 1; redis 0, "not
 * connected yet", until the first connection). */
int spent_status_new(const char *backend, int healthy,
		     struct spent_status **out);
void spent_status_free(struct spent_status *st);
/* A write (or probe) failed. fmt says what failed and what to do. */
void spent_status_fail(struct spent_status *st, enum spent_cause cause,
		       int sys_errno, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A write (or probe) succeeded; one atomic load when already healthy. */
void spent_status_ok(struct spent_status *st);
/* redis: whether any pooled connection is up (for the health report). */
void spent_status_connected(struct spent_status *st, int up);
int spent_status_healthy(struct spent_status *st);
void spent_status_get(struct spent_status *st, struct spent_health *out);
/* A warning that is not a failure (say, CONFIG not permitted), logged at
 * most once per SPENT_LOG_INTERVAL_MS per topic (0..7). */
void spent_status_warn(struct spent_status *st, unsigned topic,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void spent_hex(const uint8_t *in, size_t n, char *out);

#endif
