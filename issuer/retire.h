/* Retired keys and their spent records: when records may be dropped (see
 * retire.c), and the key-set hook that keeps keys retired before out. Used
 * by the serve loop's thread only. */
#ifndef PP_RETIRE_H
#define PP_RETIRE_H

#include <stddef.h>
#include <stdint.h>

struct spent_store;
struct ks_store;
struct ks_keyset;
struct ks_keyset_opts;

struct rt_set {
	uint8_t (*v)[32];
	size_t n;
};

struct rt_tracker {
	struct spent_store *spent;  /* borrowed; NULL: nothing to do */
	struct rt_set dropped;      /* keys with a tombstone */
	struct rt_set clear;        /* keys known to have none */
};

void rt_init(struct rt_tracker *t, struct spent_store *spent);
void rt_free(struct rt_tracker *t);

/* For ks_keyset_opts.retired_before (ctx: the tracker): 1 when the spent
 * store holds the key's tombstone, 0 when not, -1 when it cannot say. */
int rt_retired_before(void *ctx, const uint8_t key_id[32]);

/* Drops the spent records of every key that the store's metadata says is
 * retired at now and that serving does not verify, once per key; ko gives
 * the lifecycle settings the key set uses. Failures are logged and tried
 * again at the next call. */
void rt_drop_retired(struct rt_tracker *t, struct ks_store *st,
		     const struct ks_keyset *serving,
		     const struct ks_keyset_opts *ko, int64_t now);

/* Removes expired records of keys that are retired or no longer in the
 * store (never of a key that is listed and not retired, or that exists but
 * cannot be read). Returns 0 or PP_ERR_*; *removed gets the count. */
int rt_purge_expired(struct rt_tracker *t, struct ks_store *st,
		     const struct ks_keyset_opts *ko, int64_t now,
		     uint64_t *removed);

#endif
