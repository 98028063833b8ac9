/* Retired keys and their spent records. A token stays spent for as long as
 * its key could verify it, so records are dropped under one rule only: the
 * key store's own metadata says the key is retired (its retirement time has
 * passed, or an operator retired it), and the serving snapshot no longer
 * verifies it. A key that is missing from a snapshot, or whose files cannot
 * be read for a moment, is never taken for retired.
 *
 * Dropping a key's records leaves a tombstone in the spent store; a key with
 * a tombstone is kept out of every later snapshot, so a key store restored
 * from an old backup cannot make the key's redeemed tokens valid again. */
#include "issuer/retire.h"

#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "issuer/log.h"
#include "issuer/spent.h"
#include "keys/keyset.h"
#include "keys/lifecycle.h"

void rt_init(struct rt_tracker *t, struct spent_store *spent)
{
	memset(t, 0, sizeof(*t));
	t->spent = spent;
}

void rt_free(struct rt_tracker *t)
{
	free(t->dropped.v);
	free(t->clear.v);
	memset(t, 0, sizeof(*t));
}

static int set_has(const struct rt_set *s, const uint8_t id[32])
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (memcmp(s->v[i], id, 32) == 0)
			return 1;
	return 0;
}

/* Remembering is an optimisation: a failed add only means asking again. */
static void set_add(struct rt_set *s, const uint8_t id[32])
{
	uint8_t (*nv)[32];

	if (set_has(s, id))
		return;
	nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return;
	s->v = nv;
	memcpy(s->v[s->n++], id, 32);
}

int rt_retired_before(void *ctx, const uint8_t key_id[32])
{
	struct rt_tracker *t = ctx;
	int rc;

	if (t->spent == NULL)
		return 0;
	if (set_has(&t->dropped, key_id))
		return 1;
	if (set_has(&t->clear, key_id))
		return 0;
	rc = spent_key_dropped(t->spent, key_id);
	if (rc == 1)
		set_add(&t->dropped, key_id);
	else if (rc == 0)
		set_add(&t->clear, key_id);
	return rc == 0 || rc == 1 ? rc : -1;
}

/* The store's keys with their state at now, as the key set sees them. */
static int rt_list(struct ks_store *st, int64_t now,
		   const struct ks_keyset_opts *ko, struct ks_meta **m,
		   struct kl_view **v, size_t *n, struct ks_failed_id **failed,
		   size_t *n_failed)
{
	char err[256] = "";
	int rc;

	*v = NULL;
	rc = ks_store_list_all(st, m, n, failed, n_failed, err, sizeof(err));
	if (rc != 0 || *n == 0)
		return rc;
	*v = calloc(*n, sizeof(**v));
	if (*v == NULL)
		return PP_ERR_NOMEM;
	kl_evaluate(*m, *n, now, ko->overlap > 0 ? ko->overlap : KL_DEFAULT_OVERLAP,
		    ko->max_published, *v);
	return 0;
}

void rt_drop_retired(struct rt_tracker *t, struct ks_store *st,
		     const struct ks_keyset *serving,
		     const struct ks_keyset_opts *ko, int64_t now)
{
	struct ks_meta *m = NULL;
	struct kl_view *v = NULL;
	struct ks_failed_id *failed = NULL;
	size_t i, n = 0, n_failed = 0;

	if (t->spent == NULL ||
	    rt_list(st, now, ko, &m, &v, &n, &failed, &n_failed) != 0)
		goto cleanup;
	for (i = 0; i < n; i++) {
		uint64_t removed = 0;

		/* a retired key could still verify in a snapshot that was built
		 * before a change to its metadata: wait for the next one */
		if (v[i].state != KS_RETIRED || set_has(&t->dropped, m[i].key_id) ||
		    ks_keyset_verifier(serving, m[i].key_id) ||
		    ks_keyset_unavailable(serving, m[i].key_id))
			continue;
		if (spent_drop_key(t->spent, m[i].key_id, &removed) == 0) {
			set_add(&t->dropped, m[i].key_id);
			log_info("key %s retired: %llu spent records dropped",
				 m[i].id_hex, (unsigned long long)removed);
		} else {
			log_warn("key %s retired: dropping its spent records "
				 "failed; trying again at the next reload",
				 m[i].id_hex);
		}
	}
cleanup:
	free(m);
	free(v);
	free(failed);
}

/* Purging expired records: only records of keys that no longer stand in the
 * store (pruned while no server ran) may go by their expiry; a key that is
 * listed and not retired, or that exists but cannot be read, keeps them. */
struct rt_keep {
	struct ks_meta *m;
	struct kl_view *v;
	size_t n;
	struct ks_failed_id *failed;
	size_t n_failed;
};

static int rt_may_purge(void *ctx, const uint8_t key_id[32])
{
	const struct rt_keep *k = ctx;
	size_t i;

	for (i = 0; i < k->n_failed; i++)
		if (memcmp(k->failed[i].key_id, key_id, 32) == 0)
			return 0;
	for (i = 0; i < k->n; i++)
		if (memcmp(k->m[i].key_id, key_id, 32) == 0)
			return k->v[i].state == KS_RETIRED;
	return 1;
}

int rt_purge_expired(struct rt_tracker *t, struct ks_store *st,
		     const struct ks_keyset_opts *ko, int64_t now,
		     uint64_t *removed)
{
	struct rt_keep k;
	int rc;

	*removed = 0;
	if (t->spent == NULL)
		return 0;
	memset(&k, 0, sizeof(k));
	/* without a listing nothing is known to be gone: keep everything */
	rc = rt_list(st, now, ko, &k.m, &k.v, &k.n, &k.failed, &k.n_failed);
	if (rc == 0)
		rc = spent_purge_expired_if(t->spent, now, rt_may_purge, &k,
					    removed);
	free(k.m);
	free(k.v);
	free(k.failed);
	return rc;
}
