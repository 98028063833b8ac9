/* Private to issuer/spent_lmdb*.c: the LMDB store's state, shared by the
 * group-commit writer (spent_lmdb.c), the sweeps and tombstones
 * (spent_lmdb_sweep.c) and failure reporting and the probe
 * (spent_lmdb_health.c). */
#ifndef PP_SPENT_LMDB_INT_H
#define PP_SPENT_LMDB_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "issuer/spent_impl.h"

#define LM_KEY_LEN (SPENT_KEY_ID_LEN + SPENT_NONCE_LEN)
#define LM_PATH_MAX 4096

struct lm_request;

struct lm_store {
	MDB_env *env;
	MDB_dbi dbi;               /* records: key_id || nonce -> expires_at */
	MDB_dbi tomb;              /* "retired": key_id -> time dropped */
	MDB_dbi meta;              /* "meta": the probe's record */
	size_t map_size;           /* guarded by txn_lock */
	size_t map_max;            /* never mapped past this */
	size_t reserve;            /* the top of it, for sweeps only */
	unsigned max_batch;
	pthread_rwlock_t txn_lock; /* shared: a transaction; exclusive: resize */
	int txn_lock_ok;
	struct spent_status *status;
	char path[LM_PATH_MAX];    /* <data_dir>/spent */

	pthread_mutex_t mu;        /* the queue, the flags and the counters */
	int mu_ok;
	pthread_cond_t wake;       /* to the writer: work queued, or stop */
	int wake_ok;
	struct lm_request *head, *tail;
	int stopping;
	int writer_running;
	pthread_t writer;
	uint64_t commits, commit_records, max_seen, grows;
};

void lm_be64(uint8_t out[8], int64_t v);
int64_t lm_be64_read(const uint8_t in[8]);

/* Doubles the map unless another thread already grew it past seen, up to
 * map_max - reserve for redemptions, map_max for sweeps. Returns 0 when the
 * map is now larger than seen, -1 when it is at its limit (or cannot be
 * resized). Call without txn_lock held. */
int lm_grow(struct lm_store *s, size_t seen, int sweep);

/* Reports a failed write (rc: an LMDB code or errno) to the status, with
 * what it was doing (what: "recording 12 redemptions") and what to do. */
void lm_report(struct lm_store *s, int rc, const char *what);

/* Puts a tombstone for key_id in txn unless one is there. 0 or an LMDB
 * code. */
int lm_tomb_put(struct lm_store *s, MDB_txn *txn, const uint8_t *key_id);

/* spent_ops entries (spent_lmdb_sweep.c, spent_lmdb_health.c). */
int lm_drop_key(void *impl, const uint8_t *key_id, uint64_t *removed);
int lm_purge_expired(void *impl, int64_t now,
		     int (*may_drop)(void *ctx, const uint8_t *key_id),
		     void *ctx, uint64_t *removed);
int lm_key_dropped(void *impl, const uint8_t *key_id);
void lm_probe(void *impl);

#endif
