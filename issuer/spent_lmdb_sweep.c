/* The LMDB store's sweeps: dropping a retired key's records, purging
 * expired ones, and the tombstones both leave behind.
 *
 * Tombstones live in the named database "retired" (key id -> unix time of
 * the drop). A drop writes its tombstone in the transaction of the first
 * deletion chunk, so no record of a key is ever gone without one; a purge
 * writes one in each transaction that removes a record of that key id.
 * Both run in the caller's thread: LMDB serialises them with the writer's
 * transactions, and the chunks keep each pause of the writer short.
 *
 * A full map is exactly when a sweep is needed, and a delete needs new
 * pages too (copy-on-write). Sweeps may grow the map into the reserve that
 * redemptions cannot use; and when a chunk still hits MDB_MAP_FULL, it is
 * halved and retried, down to one
 * record: small transactions live on the pages earlier ones freed, and
 * each commit frees more; after a success the chunk doubles again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/spent_lmdb_int.h"

#define LM_DROP_CHUNK 10000u   /* deletes per transaction in drop_key */
#define LM_PURGE_SCAN 50000u   /* records looked at per purge transaction */

int lm_tomb_put(struct lm_store *s, MDB_txn *txn, const uint8_t *key_id)
{
	uint8_t when[8];
	MDB_val k = { .mv_size = SPENT_KEY_ID_LEN, .mv_data = (void *)(uintptr_t)key_id };
	MDB_val v = { .mv_size = sizeof(when), .mv_data = when };
	int rc;

	lm_be64(when, (int64_t)time(NULL));
	/* the first drop's time is kept */
	rc = mdb_put(txn, s->tomb, &k, &v, MDB_NOOVERWRITE);
	return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Deletes up to limit records of key_id in one synced transaction, after
 * putting its tombstone when tomb is set. *n gets the count deleted (only
 * meaningful when 0 is returned). */
static int lm_drop_chunk(struct lm_store *s, const uint8_t *key_id, int tomb,
			 unsigned limit, uint64_t *n, size_t *seen)
{
	uint8_t start[LM_KEY_LEN];
	MDB_val k = { .mv_size = LM_KEY_LEN, .mv_data = start }, v;
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	uint64_t count = 0;
	int rc;

	*n = 0;
	memset(start, 0, sizeof(start));
	memcpy(start, key_id, SPENT_KEY_ID_LEN);
	pthread_rwlock_rdlock(&s->txn_lock);
	*seen = s->map_size;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		goto cleanup;
	if (tomb) {
		rc = lm_tomb_put(s, txn, key_id);
		if (rc != 0)
			goto cleanup;
	}
	rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc != 0)
		goto cleanup;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && count < limit && k.mv_size == LM_KEY_LEN &&
	       memcmp(k.mv_data, key_id, SPENT_KEY_ID_LEN) == 0) {
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			goto cleanup;
		count++;
		/* after a delete the cursor already sits on the next record;
		 * MDB_NEXT returns that one */
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto cleanup;
	mdb_cursor_close(cur);
	cur = NULL;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
		*n = count;

cleanup:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->txn_lock);
	return rc;
}

int lm_drop_key(void *impl, const uint8_t *key_id, uint64_t *removed)
{
	struct lm_store *s = impl;
	unsigned limit = LM_DROP_CHUNK;
	uint64_t n;
	size_t seen;
	int rc, first = 1;

	*removed = 0;
	for (;;) {
		rc = lm_drop_chunk(s, key_id, first, limit, &n, &seen);
		if (rc == MDB_MAP_FULL && lm_grow(s, seen, 1) == 0)
			continue;
		if (rc == MDB_MAP_FULL && limit > 1) {
			limit /= 2;
			continue;
		}
		if (rc != 0) {
			lm_report(s, rc, "dropping the records of a retired key");
			return PP_ERR_UNAVAILABLE;
		}
		spent_status_ok(s->status);
		first = 0;
		*removed += n;
		if (n < limit)
			return 0;
		if (limit < LM_DROP_CHUNK)
			limit *= 2;
	}
}

/* The next start of a scan after key k (not looked at yet): k itself when
 * it is a record key; a shorter key (a named database's entry in the main
 * database) padded with zeros, which sorts right after it and before every
 * record key above it. */
static void lm_scan_from(uint8_t from[LM_KEY_LEN], const MDB_val *k)
{
	size_t n = k->mv_size < LM_KEY_LEN ? k->mv_size : LM_KEY_LEN;

	memset(from, 0, LM_KEY_LEN);
	memcpy(from, k->mv_data, n);
}

/* One purge transaction: looks at up to limit records from *from
 * (inclusive; all zero = the start) and deletes those expired before now
 * whose key id may_drop allows, with a tombstone per key id. Sets *from to
 * where the next one starts and *done when the end was reached. */
static int lm_purge_chunk(struct lm_store *s, int64_t now,
			  int (*may_drop)(void *ctx, const uint8_t *key_id),
			  void *ctx, unsigned limit, uint8_t from[LM_KEY_LEN],
			  int *done, uint64_t *n, size_t *seen)
{
	uint8_t start[LM_KEY_LEN], asked[SPENT_KEY_ID_LEN], tombed[SPENT_KEY_ID_LEN];
	MDB_val k = { .mv_size = LM_KEY_LEN, .mv_data = start }, v;
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	uint64_t count = 0;
	unsigned looked = 0;
	int rc, have_asked = 0, allowed = 0, have_tomb = 0;

	*n = 0;
	*done = 0;
	memcpy(start, from, LM_KEY_LEN);
	pthread_rwlock_rdlock(&s->txn_lock);
	*seen = s->map_size;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		goto cleanup;
	rc = mdb_cursor_open(txn, s->dbi, &cur);
	if (rc != 0)
		goto cleanup;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && looked < limit) {
		looked++;
		/* records only: named databases also have an entry here */
		if (k.mv_size == LM_KEY_LEN && v.mv_size == 8 &&
		    lm_be64_read(v.mv_data) < now) {
			/* records are sorted by key id: ask once per run of one */
			if (!have_asked || memcmp(asked, k.mv_data, SPENT_KEY_ID_LEN) != 0) {
				memcpy(asked, k.mv_data, SPENT_KEY_ID_LEN);
				have_asked = 1;
				allowed = may_drop == NULL || may_drop(ctx, asked) != 0;
			}
			if (allowed) {
				if (!have_tomb || memcmp(tombed, asked, SPENT_KEY_ID_LEN) != 0) {
					rc = lm_tomb_put(s, txn, asked);
					if (rc != 0)
						goto cleanup;
					memcpy(tombed, asked, SPENT_KEY_ID_LEN);
					have_tomb = 1;
				}
				rc = mdb_cursor_del(cur, 0);
				if (rc != 0)
					goto cleanup;
				count++;
			}
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND) {
		*done = 1;
		rc = 0;
	} else if (rc != 0) {
		goto cleanup;
	} else {
		lm_scan_from(from, &k);
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
		*n = count;

cleanup:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->txn_lock);
	return rc;
}

int lm_purge_expired(void *impl, int64_t now,
		     int (*may_drop)(void *ctx, const uint8_t *key_id),
		     void *ctx, uint64_t *removed)
{
	struct lm_store *s = impl;
	uint8_t from[LM_KEY_LEN];
	unsigned limit = LM_PURGE_SCAN;
	uint64_t n;
	size_t seen;
	int rc, done = 0;

	*removed = 0;
	memset(from, 0, sizeof(from));
	while (!done) {
		rc = lm_purge_chunk(s, now, may_drop, ctx, limit, from, &done, &n,
				    &seen);
		if (rc == MDB_MAP_FULL && lm_grow(s, seen, 1) == 0)
			continue;
		if (rc == MDB_MAP_FULL && limit > 1) {
			limit /= 2;
			continue;
		}
		if (rc != 0) {
			lm_report(s, rc, "purging expired records");
			return PP_ERR_UNAVAILABLE;
		}
		spent_status_ok(s->status);
		*removed += n;
		if (limit < LM_PURGE_SCAN)
			limit *= 2;
	}
	return 0;
}

int lm_key_dropped(void *impl, const uint8_t *key_id)
{
	struct lm_store *s = impl;
	MDB_val k = { .mv_size = SPENT_KEY_ID_LEN, .mv_data = (void *)(uintptr_t)key_id }, v;
	MDB_txn *txn = NULL;
	int rc;

	pthread_rwlock_rdlock(&s->txn_lock);
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	rc = mdb_get(txn, s->tomb, &k, &v);
	if (rc == 0)
		rc = 1;
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	else
		rc = PP_ERR_UNAVAILABLE;

cleanup:
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->txn_lock);
	return rc;
}
