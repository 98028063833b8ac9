/* The LMDB store's failures, said so an operator can act on them, and the
 * probe that notices when writing works again.
 *
 * A failed write transaction is classified by its code: MDB_MAP_FULL after
 * the map could not grow (it is at lmdb_map_max), ENOSPC/EDQUOT (the file
 * system is full: LMDB extends its data file with pwrite as pages are
 * needed), EIO and anything else. MDB_PANIC means LMDB refuses the
 * environment after a failed meta-page write; only a restart clears it.
 *
 * The probe runs while the store is unhealthy (from the front's probe
 * thread): after a full disk it first makes sure the file system takes new
 * blocks again (a probe transaction alone can succeed on reused pages while
 * a real batch still needs new ones), then commits a one-record transaction
 * with a sync. A full map is not probed: nothing but a real commit or a
 * sweep that frees records can change it, and both report their outcome. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/spent_lmdb_int.h"

#define LM_PROBE_BYTES ((off_t)256 << 10)   /* free room a probe asks for */
#define LM_PROBE_NAME "probe.tmp"

/* A size as the config gives it (MiB), or in KiB below 1 MiB (tests). */
static void lm_size_text(size_t bytes, char *out, size_t cap)
{
	if (bytes >= ((size_t)1 << 20))
		snprintf(out, cap, "%zu MiB", bytes >> 20);
	else
		snprintf(out, cap, "%zu KiB", bytes >> 10);
}

void lm_report(struct lm_store *s, int rc, const char *what)
{
	char max[32];

	pthread_rwlock_rdlock(&s->txn_lock);
	lm_size_text(s->map_max, max, sizeof(max));
	pthread_rwlock_unlock(&s->txn_lock);

	switch (rc) {
	case MDB_MAP_FULL:
		spent_status_fail(s->status, SPENT_CAUSE_MAP_FULL, 0,
				  "spent store full at its maximum of %s while %s "
				  "(less a small reserve kept for removing records); "
				  "raise lmdb-map-max-mb (the file grows only as records "
				  "need it, so check the disk has room) and restart, or "
				  "retire keys whose tokens need no more records; "
				  "redemptions answer 503 until then",
				  max, what);
		break;
	case ENOSPC:
	case EDQUOT:
		spent_status_fail(s->status, SPENT_CAUSE_DISK_FULL, rc,
				  "disk full (%s) while %s in %s; free space on that "
				  "file system (or move data-dir to a larger one); "
				  "redemptions answer 503 until a write succeeds",
				  strerror(rc), what, s->path);
		break;
	case EIO:
		spent_status_fail(s->status, SPENT_CAUSE_IO, rc,
				  "I/O error while %s in %s; check the disk (dmesg, "
				  "smartctl); redemptions answer 503 until a write succeeds",
				  what, s->path);
		break;
	case MDB_PANIC:
		spent_status_fail(s->status, SPENT_CAUSE_IO, 0,
				  "LMDB refuses the environment in %s after a failed "
				  "write (%s) while %s; fix the disk, then restart "
				  "ppissuer", s->path, mdb_strerror(rc), what);
		break;
	default:
		spent_status_fail(s->status, SPENT_CAUSE_IO, rc > 0 ? rc : 0,
				  "write failed while %s in %s: %s; check the disk and "
				  "the directory's permissions", what, s->path,
				  mdb_strerror(rc));
		break;
	}
}

/* Whether the file system under the store takes LM_PROBE_BYTES of new
 * blocks: 0 or an errno. */
static int lm_probe_room(struct lm_store *s)
{
	char path[LM_PATH_MAX + 16];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/" LM_PROBE_NAME, s->path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	rc = posix_fallocate(fd, 0, LM_PROBE_BYTES);
	close(fd);
	unlink(path);
	return rc;
}

/* One synced transaction that writes the probe's record. */
static int lm_probe_write(struct lm_store *s)
{
	static const char name[] = "probe";
	uint8_t when[8];
	MDB_val k = { .mv_size = sizeof(name) - 1, .mv_data = (void *)(uintptr_t)name };
	MDB_val v = { .mv_size = sizeof(when), .mv_data = when };
	MDB_txn *txn = NULL;
	int rc;

	lm_be64(when, (int64_t)time(NULL));
	pthread_rwlock_rdlock(&s->txn_lock);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		goto cleanup;
	rc = mdb_put(txn, s->meta, &k, &v, 0);
	if (rc != 0)
		goto cleanup;
	rc = mdb_txn_commit(txn);
	txn = NULL;

cleanup:
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->txn_lock);
	return rc;
}

void lm_probe(void *impl)
{
	struct lm_store *s = impl;
	struct spent_health h;
	int rc;

	spent_status_get(s->status, &h);
	if (h.healthy || h.cause == SPENT_CAUSE_MAP_FULL)
		return;
	rc = lm_probe_room(s);
	if (rc == 0)
		rc = lm_probe_write(s);
	if (rc == 0)
		spent_status_ok(s->status);
	else
		lm_report(s, rc, "probing whether writes work again");
}
