/* The embedded spent-token store: LMDB under <data_dir>/spent/ with group
 * commit.
 *
 * Layout: the main database, key = key_id || nonce (64 bytes), value =
 * expires_at (8 bytes, big-endian, for spent_purge_expired; SPENT_NO_EXPIRY
 * is INT64_MAX and never expires). Two small named databases beside it:
 * "retired" holds the tombstones of dropped key ids (spent_lmdb_sweep.c)
 * and "meta" the health probe's record (spent_lmdb_health.c); their entries
 * in the main database are the only keys there that are not 64 bytes. LMDB keeps
 * keys sorted, so all records of one key id are a contiguous range and
 * spent_drop_key is a cursor walk over that range. One database per key id
 * (dropped with mdb_drop) was the alternative; it was not taken because named
 * databases need a fixed MDB_maxdbs, handles that must be opened in a write
 * transaction and that readers would race with when a drop closes them, and
 * retirement is rare enough that a range delete in bounded chunks is cheap.
 *
 * Group commit: spent_submit puts a request (its pair and its callback, on
 * the heap) on a queue and returns. One writer thread takes everything
 * queued (up to max_batch), applies it in one write transaction with
 * MDB_NOOVERWRITE (a pair already present, or put earlier in the same batch,
 * answers "spent": the first in queue order wins), commits with a sync, and
 * only then runs each request's callback with its answer, outside the queue
 * lock. While it syncs, new requests gather for the next batch, so batches
 * grow with load and the cost of a sync is shared. If anything in the
 * transaction fails, every request of the batch gets PP_ERR_UNAVAILABLE and
 * nothing of it is kept. Lookups (spent_contains_submit) never queue: they
 * read in a read transaction and answer before returning, since a read never
 * waits on a sync.
 *
 * The environment uses the default (synced) commit mode: no MDB_NOSYNC,
 * MDB_NOMETASYNC or MDB_MAPASYNC, so a commit returns after fdatasync.
 *
 * Map size: when a transaction hits MDB_MAP_FULL it is aborted, the map is
 * doubled (never past map_max, the real maximum) and the batch retried; at
 * its limit the batch is answered PP_ERR_UNAVAILABLE and the failure
 * reported (spent_lmdb_health.c). Each growth is logged. Redemptions may
 * use the map up to map_max less a reserve (an eighth, at least 4 pages, at
 * most 64 MiB); only the sweeps (drop, purge) may grow into it, because a
 * full map is exactly when records must be removed and a delete needs new
 * pages too (copy-on-write), as does the tombstone that comes with it. mdb_env_set_mapsize needs
 * no transaction in the process, so every transaction holds txn_lock shared
 * and a resize takes it exclusively. */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "base/pp_err.h"
#include "issuer/log.h"
#include "issuer/spent_lmdb_int.h"

#define LM_DEFAULT_MAP ((size_t)256 << 20)
#define LM_DEFAULT_MAP_MAX ((size_t)64 << 30)
#define LM_MIN_MAP ((size_t)64 << 10)
#define LM_DEFAULT_BATCH 4096u
#define LM_MAX_BATCH 65536u
#define LM_MAX_READERS 1024u
#define LM_MAX_DBS 4u
#define LM_MIN_RESERVE ((size_t)16 << 10)
#define LM_MAX_RESERVE ((size_t)64 << 20)

/* A queued request: allocated by lm_submit, freed by the writer after cb
 * has run. */
struct lm_request {
	uint8_t key[LM_KEY_LEN];
	int64_t expires_at;
	int result;
	void (*cb)(void *arg, int rc);
	void *cb_arg;
	struct lm_request *next;
};

static void lm_key(uint8_t out[LM_KEY_LEN], const uint8_t *key_id,
		   const uint8_t *nonce)
{
	memcpy(out, key_id, SPENT_KEY_ID_LEN);
	memcpy(out + SPENT_KEY_ID_LEN, nonce, SPENT_NONCE_LEN);
}

void lm_be64(uint8_t out[8], int64_t v)
{
	uint64_t u = (uint64_t)v;
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(u & 0xff);
		u >>= 8;
	}
}

int64_t lm_be64_read(const uint8_t in[8])
{
	uint64_t u = 0;
	int i;

	for (i = 0; i < 8; i++)
		u = u << 8 | in[i];
	return (int64_t)u;
}

int lm_grow(struct lm_store *s, size_t seen, int sweep)
{
	size_t next = 0, limit = 0;
	int rc = 0, grown = 0;

	pthread_rwlock_wrlock(&s->txn_lock);
	if (s->map_size > seen)
		goto cleanup;
	limit = sweep ? s->map_max : s->map_max - s->reserve;
	if (s->map_size >= limit) {
		rc = -1;
		goto cleanup;
	}
	next = s->map_size > limit / 2 ? limit : s->map_size * 2;
	if (mdb_env_set_mapsize(s->env, next) != 0) {
		rc = -1;
		goto cleanup;
	}
	s->map_size = next;
	grown = 1;
	pthread_mutex_lock(&s->mu);
	s->grows++;
	pthread_mutex_unlock(&s->mu);

cleanup:
	pthread_rwlock_unlock(&s->txn_lock);
	if (grown && sweep && next > s->map_max - s->reserve)
		log_warn("spent store: map grown into the room kept for removing "
			 "records (%zu KiB of at most %zu KiB) to drop or purge "
			 "records", next >> 10, s->map_max >> 10);
	else if (grown && next >= limit)
		log_warn("spent store: map grown to its maximum of %zu MiB "
			 "(lmdb-map-max-mb, less %zu KiB kept for removing records); "
			 "when that fills, redemptions answer 503: raise "
			 "lmdb-map-max-mb before then", s->map_max >> 20,
			 s->reserve >> 10);
	else if (grown)
		log_info("spent store: map grown to %zu MiB of at most %zu MiB",
			 next >> 20, s->map_max >> 20);
	return rc;
}

/* One write transaction over the batch; sets each request's result. Returns
 * 0 or the LMDB error that made the whole batch fail. *seen gets the map size
 * the attempt ran with. */
static int lm_batch_apply(struct lm_store *s, struct lm_request *batch,
			  size_t *seen)
{
	MDB_txn *txn = NULL;
	struct lm_request *w;
	uint8_t val[8];
	int rc;

	pthread_rwlock_rdlock(&s->txn_lock);
	*seen = s->map_size;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		goto cleanup;
	for (w = batch; w != NULL; w = w->next) {
		MDB_val k = { .mv_size = LM_KEY_LEN, .mv_data = w->key };
		MDB_val v = { .mv_size = sizeof(val), .mv_data = val };

		lm_be64(val, w->expires_at);
		rc = mdb_put(txn, s->dbi, &k, &v, MDB_NOOVERWRITE);
		if (rc == 0) {
			w->result = 0;
		} else if (rc == MDB_KEYEXIST) {
			w->result = PP_ERR_SPENT;
			rc = 0;
		} else {
			goto cleanup;
		}
	}
	rc = mdb_txn_commit(txn);   /* synced: the env has no NOSYNC flags */
	txn = NULL;

cleanup:
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->txn_lock);
	return rc;
}

static void *lm_writer_main(void *arg)
{
	struct lm_store *s = arg;

	(void)pthread_setname_np(pthread_self(), "pp-lmdb-commit");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct lm_request *batch, *last, *w, *next;
		size_t n = 0, seen = 0;
		int rc;

		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->wake, &s->mu);
		if (s->head == NULL)
			break; /* stopping, and nothing left to answer */

		/* take up to max_batch requests, in queue order */
		batch = last = s->head;
		n = 1;
		while (last->next != NULL && n < s->max_batch) {
			last = last->next;
			n++;
		}
		s->head = last->next;
		if (s->head == NULL)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);

		for (;;) {
			rc = lm_batch_apply(s, batch, &seen);
			if (rc != MDB_MAP_FULL || lm_grow(s, seen, 0) != 0)
				break;
		}
		if (rc == 0) {
			spent_status_ok(s->status);
		} else {
			char what[64];

			snprintf(what, sizeof(what), "recording %zu redemption%s", n,
				 n == 1 ? "" : "s");
			lm_report(s, rc, what);
		}

		if (rc == 0) {
			pthread_mutex_lock(&s->mu);
			s->commits++;
			s->commit_records += n;
			if (n > s->max_seen)
				s->max_seen = n;
			pthread_mutex_unlock(&s->mu);
		}
		/* the batch is off the queue and ours: answer it unlocked, in
		 * queue order */
		for (w = batch; w != NULL; w = next) {
			next = w->next;
			w->cb(w->cb_arg, rc == 0 ? w->result : PP_ERR_UNAVAILABLE);
			free(w);
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Appends w to the queue; the caller holds mu and has checked stopping. */
static void lm_enqueue(struct lm_store *s, struct lm_request *w)
{
	if (s->tail != NULL) {
		s->tail->next = w;
	} else {
		s->head = w;
		/* the writer only sleeps on an empty queue */
		pthread_cond_signal(&s->wake);
	}
	s->tail = w;
}

static void lm_submit(void *impl, const uint8_t *key_id, const uint8_t *nonce,
		      int64_t expires_at, void (*cb)(void *arg, int rc),
		      void *arg)
{
	struct lm_store *s = impl;
	struct lm_request *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		cb(arg, PP_ERR_UNAVAILABLE);
		return;
	}
	lm_key(w->key, key_id, nonce);
	w->expires_at = expires_at;
	w->cb = cb;
	w->cb_arg = arg;
	pthread_mutex_lock(&s->mu);
	if (s->stopping || !s->writer_running) {
		pthread_mutex_unlock(&s->mu);
		free(w);
		cb(arg, PP_ERR_UNAVAILABLE);
		return;
	}
	lm_enqueue(s, w);
	pthread_mutex_unlock(&s->mu);
}

/* Answers in line from a read transaction: a read never waits on a sync,
 * so this is quick enough for a loop thread. */
static void lm_contains_submit(void *impl, const uint8_t *key_id,
			       const uint8_t *nonce,
			       void (*cb)(void *arg, int rc), void *arg)
{
	struct lm_store *s = impl;
	uint8_t key[LM_KEY_LEN];
	MDB_val k = { .mv_size = LM_KEY_LEN, .mv_data = key }, v;
	MDB_txn *txn = NULL;
	int rc;

	lm_key(key, key_id, nonce);
	pthread_rwlock_rdlock(&s->txn_lock);
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == 0)
		rc = PP_ERR_SPENT;
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = PP_ERR_UNAVAILABLE;

cleanup:
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->txn_lock);
	cb(arg, rc);
}

static void lm_stats(void *impl, struct spent_stats *out)
{
	struct lm_store *s = impl;

	pthread_mutex_lock(&s->mu);
	out->commits = s->commits;
	out->commit_records = s->commit_records;
	out->max_batch = s->max_seen;
	out->map_grows = s->grows;
	pthread_mutex_unlock(&s->mu);
}

/* Stops the writer after it has answered everything queued. */
static void lm_stop(void *impl)
{
	struct lm_store *s = impl;
	int join;

	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	join = s->writer_running;
	s->writer_running = 0;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	if (join)
		pthread_join(s->writer, NULL);
}

static void lm_free(void *impl)
{
	struct lm_store *s = impl;

	if (s == NULL)
		return;
	if (s->mu_ok && s->wake_ok)
		lm_stop(s);
	if (s->env != NULL)
		mdb_env_close(s->env);
	if (s->wake_ok)
		pthread_cond_destroy(&s->wake);
	if (s->mu_ok)
		pthread_mutex_destroy(&s->mu);
	if (s->txn_lock_ok)
		pthread_rwlock_destroy(&s->txn_lock);
	free(s);
}

/* Creates <data_dir>/spent with mode 0700, or checks the one there. */
static int lm_dir_prepare(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		pp_errf(err, errlen, "cannot create %s: %s; check that the data directory exists and is writable",
			      path, strerror(errno));
		return PP_ERR_IO;
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		pp_errf(err, errlen, "%s is not a directory; move it away", path);
		return PP_ERR_IO;
	}
	if ((st.st_mode & 077) != 0) {
		pp_errf(err, errlen, "%s is mode %04o; run chmod 700 %s",
			      path, (unsigned)(st.st_mode & 07777), path);
		return PP_ERR_PERM;
	}
	return 0;
}

static int lm_env_open(struct lm_store *s, const char *path, char *err,
		       size_t errlen)
{
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	int rc;

	rc = mdb_env_create(&s->env);
	if (rc != 0)
		goto fail;
	rc = mdb_env_set_mapsize(s->env, s->map_size);
	if (rc != 0)
		goto fail;
	rc = mdb_env_set_maxreaders(s->env, LM_MAX_READERS);
	if (rc != 0)
		goto fail;
	rc = mdb_env_set_maxdbs(s->env, LM_MAX_DBS);
	if (rc != 0)
		goto fail;
	/* NOTLS: read transactions are not tied to a thread, so a reader slot
	 * is released when a lookup finishes, whatever the thread pool */
	rc = mdb_env_open(s->env, path, MDB_NOTLS, 0600);
	if (rc != 0)
		goto fail;
	/* an existing env may already hold more than configured: LMDB maps at
	 * least what is in use, and that cannot shrink */
	if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
		s->map_size = info.me_mapsize;
	if (s->map_max - s->reserve < s->map_size) {
		log_warn("spent store in %s already uses %zu MiB, more than "
			 "lmdb-map-max-mb (%zu MiB) allows; it will not grow further: "
			 "raise lmdb-map-max-mb", path, s->map_size >> 20,
			 s->map_max >> 20);
		s->map_max = s->map_size + s->reserve;
	}
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		goto fail;
	rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
	if (rc != 0)
		goto fail;
	rc = mdb_dbi_open(txn, "retired", MDB_CREATE, &s->tomb);
	if (rc != 0)
		goto fail;
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
	if (rc != 0)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	return 0;

fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	pp_errf(err, errlen, "cannot open the spent store in %s: %s",
		      path, mdb_strerror(rc));
	return PP_ERR_IO;
}

int spent_lmdb_open(const struct spent_config *cfg, struct spent_status *st,
		    void **impl, char *err, size_t errlen)
{
	struct lm_store *s = NULL;
	pthread_rwlockattr_t ra;
	char path[LM_PATH_MAX];
	int rc, n;

	*impl = NULL;
	if (cfg->data_dir == NULL || cfg->data_dir[0] == '\0') {
		pp_errf(err, errlen, "the lmdb spent store needs a data directory (--data-dir)");
		return PP_ERR_CONFIG;
	}
	n = snprintf(path, sizeof(path), "%s/spent", cfg->data_dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		pp_errf(err, errlen, "data directory path is too long");
		return PP_ERR_CONFIG;
	}
	if (cfg->lmdb_max_batch > LM_MAX_BATCH) {
		pp_errf(err, errlen, "lmdb max batch %u is above %u",
			      cfg->lmdb_max_batch, LM_MAX_BATCH);
		return PP_ERR_CONFIG;
	}
	if (cfg->lmdb_map_size != 0 && cfg->lmdb_map_size < LM_MIN_MAP) {
		pp_errf(err, errlen, "lmdb map size %zu is below %zu bytes",
			      cfg->lmdb_map_size, LM_MIN_MAP);
		return PP_ERR_CONFIG;
	}

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PP_ERR_NOMEM;
	s->map_size = cfg->lmdb_map_size != 0 ? cfg->lmdb_map_size : LM_DEFAULT_MAP;
	s->map_max = cfg->lmdb_map_max != 0 ? cfg->lmdb_map_max : LM_DEFAULT_MAP_MAX;
	s->reserve = s->map_max / 8;
	if (s->reserve < LM_MIN_RESERVE)
		s->reserve = LM_MIN_RESERVE;
	if (s->reserve > LM_MAX_RESERVE)
		s->reserve = LM_MAX_RESERVE;
	if (s->reserve > s->map_max / 2)
		s->reserve = s->map_max / 2;
	/* the maximum is real: a larger starting size is cut down to it */
	if (s->map_size > s->map_max - s->reserve)
		s->map_size = s->map_max - s->reserve;
	s->status = st;
	memcpy(s->path, path, (size_t)n + 1);
	s->max_batch = cfg->lmdb_max_batch != 0 ? cfg->lmdb_max_batch : LM_DEFAULT_BATCH;

	rc = PP_ERR_INTERNAL;
	/* prefer the resizer, so a steady stream of readers cannot starve it */
	if (pthread_rwlockattr_init(&ra) != 0)
		goto cleanup;
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	s->txn_lock_ok = pthread_rwlock_init(&s->txn_lock, &ra) == 0;
	pthread_rwlockattr_destroy(&ra);
	if (!s->txn_lock_ok)
		goto cleanup;
	s->mu_ok = pthread_mutex_init(&s->mu, NULL) == 0;
	if (!s->mu_ok)
		goto cleanup;
	s->wake_ok = pthread_cond_init(&s->wake, NULL) == 0;
	if (!s->wake_ok)
		goto cleanup;

	rc = lm_dir_prepare(path, err, errlen);
	if (rc != 0)
		goto cleanup;
	rc = lm_env_open(s, path, err, errlen);
	if (rc != 0)
		goto cleanup;
	if (pthread_create(&s->writer, NULL, lm_writer_main, s) != 0) {
		pp_errf(err, errlen, "cannot start the spent store writer thread");
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	s->writer_running = 1;
	*impl = s;
	s = NULL;
	rc = 0;

cleanup:
	lm_free(s);
	return rc;
}

const struct spent_ops spent_lmdb_ops = {
	.name = "lmdb",
	.submit = lm_submit,
	.contains_submit = lm_contains_submit,
	.drop_key = lm_drop_key,
	.purge_expired = lm_purge_expired,
	.key_dropped = lm_key_dropped,
	.probe = lm_probe,
	.stats = lm_stats,
	.stop = lm_stop,
	.free = lm_free,
};
