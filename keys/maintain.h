/* Lifecycle operations on the key store: the decisions of lifecycle.h
 * applied to the files of store.h. Each takes the store's writer lock, so
 * several processes sharing one data dir (servers rotating by themselves,
 * an operator's cron job) never add two keys for one rotation. */
#ifndef PP_KS_MAINTAIN_H
#define PP_KS_MAINTAIN_H

#include <stddef.h>
#include <stdint.h>

#include "keys/lifecycle.h"
#include "keys/store.h"

/* Records in the store the transitions that time has made: keys whose
 * effective state at now moved on (pending -> active, superseded ->
 * retiring with its retire-after, -> retired) get their metadata
 * rewritten. Afterwards the outcome no longer depends on keys that are
 * later pruned. overlap as for kl_evaluate. *changed (optional) gets the
 * number of keys rewritten. */
int ks_store_settle(struct ks_store *st, int64_t now, int64_t overlap,
		    size_t *changed, char *err, size_t errlen);

struct ks_rotation {
	int rotated;            /* a key was added */
	struct ks_meta added;   /* the new key, when rotated */
	int had_active;         /* a key was signing, and will retire */
	struct ks_meta previous;/* that key, with its new retire-after */
	int64_t due_at;         /* when not rotated: when it will be due */
};

/* Adds the next key of token type `type`: pending with not-before = now + lead
 * while a key signs (that key then retires at not-before + overlap), or
 * active at once when none does. With if_due set it does nothing until
 * kl_rotation_due says so (out->rotated = 0, out->due_at set); without it,
 * a key that is already pending is an error (PP_ERR_STATE). */
int ks_store_rotate(struct ks_store *st, uint16_t type, int64_t now,
		    const struct kl_schedule *s, int if_due,
		    struct ks_rotation *out, char *err, size_t errlen);

/* For server start-up: when no key of token type `type` is active at now,
 * generates one that signs at once. *created (optional) tells whether it
 * did, *out (optional) gets the key that is active afterwards. */
int ks_store_ensure_key(struct ks_store *st, uint16_t type, int64_t now,
			int64_t overlap, struct ks_meta *out, int *created,
			char *err, size_t errlen);

/* Stops a key: a pending key is retired at once (it never signed); an
 * active or retiring key verifies until now + overlap (immediately set:
 * retired now, e.g. after a compromise). *out (optional) gets the key as
 * stored afterwards. */
int ks_store_retire(struct ks_store *st, const char *id, int64_t now,
		    int64_t overlap, int immediately, struct ks_meta *out,
		    char *err, size_t errlen);

/* What ks_store_prune did (free with ks_prune_free). */
struct ks_prune {
	struct ks_meta *removed;   /* keys deleted */
	size_t n_removed;
	struct ks_meta *kept;      /* retired keys in a PKCS#11 token, kept
				    * because the store has no token attached
				    * to destroy their objects with */
	size_t n_kept;
};
void ks_prune_free(struct ks_prune *p);

/* Deletes every key retired at now. A key in a PKCS#11 token goes only with
 * its token objects: they are destroyed first, through the token attached
 * with p11_store_attach; with no token attached the key is kept and listed
 * in out->kept. On a failure
 * out still lists what was deleted before it. */
int ks_store_prune(struct ks_store *st, int64_t now, int64_t overlap,
		   struct ks_prune *out, char *err, size_t errlen);

#endif
