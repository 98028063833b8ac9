/* Lifecycle operations on the store (see maintain.h). Every operation
 * settles first: transitions are written down before anything is added or
 * removed, so a key's retirement never moves when another key goes away. */
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "keys/maintain.h"
#include "keys/store_int.h"

struct snapshot {
	struct ks_meta *m;
	struct kl_view *v;
	size_t n;
};

static void snap_free(struct snapshot *s)
{
	free(s->m);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Lists and evaluates the store; corrupt entries go to the reporter. */
static int snap_take(struct ks_store *st, int64_t now, int64_t overlap,
		     struct snapshot *s, char *err, size_t errlen)
{
	char lerr[256];
	int rc;

	memset(s, 0, sizeof(*s));
	rc = ks_store_list(st, &s->m, &s->n, lerr, sizeof(lerr));
	if (rc != 0) {
		pp_errf(err, errlen, "%s", lerr);
		return rc;
	}
	if (s->n == 0)
		return 0;
	s->v = calloc(s->n, sizeof(*s->v));
	if (s->v == NULL) {
		snap_free(s);
		return PP_ERR_NOMEM;
	}
	kl_evaluate(s->m, s->n, now, overlap, 0, s->v);
	return 0;
}

static int state_rank(enum ks_state st)
{
	switch (st) {
	case KS_PENDING: return 0;
	case KS_ACTIVE: return 1;
	case KS_RETIRING: return 2;
	case KS_RETIRED: return 3;
	}
	return 0;
}

int ks_store_settle(struct ks_store *st, int64_t now, int64_t overlap,
		    size_t *changed, char *err, size_t errlen)
{
	struct snapshot s;
	size_t i, cnt = 0;
	int rc;

	if (changed)
		*changed = 0;
	if (err && errlen)
		err[0] = '\0';
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = snap_take(st, now, overlap, &s, err, errlen);
	for (i = 0; rc == 0 && i < s.n; i++) {
		struct ks_meta m = s.m[i];

		/* only forward: a clock set back does not revive keys */
		if (state_rank(s.v[i].state) <= state_rank(m.state))
			continue;
		m.state = s.v[i].state;
		if (m.state == KS_RETIRING || m.state == KS_RETIRED)
			m.retire_after = s.v[i].retire_after;
		rc = ks_store_update(st, &m, err, errlen);
		cnt++;
	}
	if (changed)
		*changed = cnt;
	snap_free(&s);
	ks_store_unlock(st);
	return rc;
}

/* Settles, then lists and evaluates: the common start of each operation.
 * The caller holds the lock. */
static int begin(struct ks_store *st, int64_t now, int64_t overlap,
		 struct snapshot *s, char *err, size_t errlen)
{
	int rc;

	rc = ks_store_settle(st, now, overlap, NULL, err, errlen);
	if (rc == 0)
		rc = snap_take(st, now, overlap, s, err, errlen);
	return rc;
}

static long find_pending(const struct snapshot *s, uint16_t type)
{
	long best = -1;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->m[i].token_type == type && s->v[i].state == KS_PENDING &&
		    (best < 0 || s->m[i].not_before < s->m[best].not_before))
			best = (long)i;
	}
	return best;
}

int ks_store_rotate(struct ks_store *st, uint16_t type, int64_t now,
		    const struct kl_schedule *sch, int if_due,
		    struct ks_rotation *out, char *err, size_t errlen)
{
	struct snapshot s = { 0 };
	long active, pending;
	int64_t nb;
	int rc, due;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = begin(st, now, sch->overlap, &s, err, errlen);
	if (rc != 0)
		goto cleanup;
	due = kl_rotation_due(s.m, s.v, s.n, now, sch, type, &out->due_at);
	if (if_due && !due)
		goto cleanup;
	pending = find_pending(&s, type);
	if (pending >= 0) {
		char when[32];

		kl_time_format(s.m[pending].not_before, when, sizeof(when));
		pp_errf(err, errlen, "key %.16s is already waiting to sign from "
			"%s; rotate again after that, or retire it first",
			s.m[pending].id_hex, when);
		rc = PP_ERR_STATE;
		goto cleanup;
	}
	active = kl_active(s.m, s.v, s.n, type);
	/* with no key signing there is no client to keep working: start now */
	nb = active >= 0 ? now + sch->lead : now;
	rc = ks_store_generate(st, type, now, nb, &out->added, err, errlen);
	if (rc != 0)
		goto cleanup;
	out->rotated = 1;
	if (active >= 0) {
		out->previous = s.m[active];
		out->previous.retire_after = nb + sch->overlap;
		out->had_active = 1;
		rc = ks_store_update(st, &out->previous, err, errlen);
	}
cleanup:
	snap_free(&s);
	ks_store_unlock(st);
	return rc;
}

int ks_store_ensure_key(struct ks_store *st, uint16_t type, int64_t now,
			int64_t overlap, struct ks_meta *out, int *created,
			char *err, size_t errlen)
{
	struct snapshot s = { 0 };
	struct ks_meta added;
	long active;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (created)
		*created = 0;
	if (err && errlen)
		err[0] = '\0';
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	/* read-only look first: a server must not rewrite a shared store
	 * just by starting */
	rc = snap_take(st, now, overlap, &s, err, errlen);
	if (rc != 0)
		goto cleanup;
	active = kl_active(s.m, s.v, s.n, type);
	if (active >= 0) {
		if (out)
			*out = s.m[active];
		goto cleanup;
	}
	rc = ks_store_generate(st, type, now, now, &added, err, errlen);
	if (rc != 0)
		goto cleanup;
	if (out)
		*out = added;
	if (created)
		*created = 1;
cleanup:
	snap_free(&s);
	ks_store_unlock(st);
	return rc;
}

int ks_store_retire(struct ks_store *st, const char *id, int64_t now,
		    int64_t overlap, int immediately, struct ks_meta *out,
		    char *err, size_t errlen)
{
	struct snapshot s = { 0 };
	struct ks_meta m;
	size_t i;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = ks_store_find(st, id, &m, err, errlen);
	if (rc == 0)
		rc = begin(st, now, overlap, &s, err, errlen);
	if (rc != 0)
		goto cleanup;
	for (i = 0; i < s.n; i++) {
		if (strcmp(s.m[i].id_hex, m.id_hex) == 0)
			break;
	}
	if (i == s.n) {
		pp_errf(err, errlen, "key %s disappeared while retiring it",
			m.id_hex);
		rc = PP_ERR_NOT_FOUND;
		goto cleanup;
	}
	m = s.m[i];
	if (s.v[i].state == KS_RETIRED) {
		pp_errf(err, errlen, "key %.16s is already retired; remove it "
			"with ppissuer keys prune", m.id_hex);
		rc = PP_ERR_STATE;
		goto cleanup;
	}
	if (immediately || s.v[i].state == KS_PENDING) {
		m.state = KS_RETIRED;
		m.retire_after = now;
	} else if (s.v[i].state == KS_RETIRING &&
		   s.v[i].retire_after <= now + overlap) {
		char when[32];

		kl_time_format(s.v[i].retire_after, when, sizeof(when));
		pp_errf(err, errlen, "key %.16s is already retiring (until %s); "
			"add --immediately to retire it now", m.id_hex, when);
		rc = PP_ERR_STATE;
		goto cleanup;
	} else {
		m.state = KS_RETIRING;
		m.retire_after = now + overlap;
	}
	rc = ks_store_update(st, &m, err, errlen);
	if (rc == 0 && out)
		*out = m;
cleanup:
	snap_free(&s);
	ks_store_unlock(st);
	return rc;
}

void ks_prune_free(struct ks_prune *p)
{
	free(p->removed);
	free(p->kept);
	memset(p, 0, sizeof(*p));
}

int ks_store_prune(struct ks_store *st, int64_t now, int64_t overlap,
		   struct ks_prune *out, char *err, size_t errlen)
{
	struct snapshot s = { 0 };
	char why[256] = "";
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = begin(st, now, overlap, &s, err, errlen);
	if (rc != 0 || s.n == 0)
		goto cleanup;
	out->removed = calloc(s.n, sizeof(*out->removed));
	out->kept = calloc(s.n, sizeof(*out->kept));
	if (out->removed == NULL || out->kept == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < s.n; i++) {
		if (s.v[i].state != KS_RETIRED)
			continue;
		if (s.m[i].external) {
			if (st->ext.drop == NULL) {
				out->kept[out->n_kept++] = s.m[i];
				continue;
			}
			/* objects first: a failure leaves the metadata, so a
			 * later prune finds the key again */
			rc = st->ext.drop(st->ext.ctx, &s.m[i], why, sizeof(why));
			if (rc != 0) {
				pp_errf(err, errlen, "%s", why);
				goto cleanup;
			}
		}
		rc = ks_store_delete(st, s.m[i].id_hex, err, errlen);
		if (rc != 0)
			goto cleanup;
		out->removed[out->n_removed++] = s.m[i];
	}
cleanup:
	snap_free(&s);
	ks_store_unlock(st);
	return rc;
}
