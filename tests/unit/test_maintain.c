/* Lifecycle operations on a real store with an injected clock: start-up
 * key, rotation (by hand and by schedule over weeks), retirement, pruning,
 * and settling of transitions. */
#include "crypto/token.h"
#include "base/pp_err.h"
#include "keys/lifecycle.h"
#include "keys/maintain.h"
#include "keys/store.h"
#include "tu.h"
#include "tu_keys.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(maintain, .fini = tu_leak_check);

#define T0 1700000000
#define D KL_DAY
#define T2 TOK_TYPE_BLIND_RSA

static char *dir;
static struct ks_store *st;
static char err[512];
static struct kl_schedule sch;

static void setup(void)
{
	dir = tu_keys_tmpdir();
	st = tu_keys_open(dir, NULL);
	kl_schedule_default(&sch);
	err[0] = '\0';
}

static void teardown(void)
{
	ks_store_close(st);
	tu_keys_rmrf(dir);
}

struct state {
	struct ks_meta *m;
	struct kl_view v[64];
	size_t n;
};

static void look(struct state *s, int64_t now)
{
	cr_assert_eq(ks_store_list(st, &s->m, &s->n, err, sizeof(err)), 0);
	cr_assert_leq(s->n, 64);
	kl_evaluate(s->m, s->n, now, sch.overlap, 0, s->v);
}

static long find(const struct state *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->m[i].id_hex, id) == 0)
			return (long)i;
	}
	return -1;
}

Test(maintain, ensure_key_generates_only_when_none_signs, .init = setup,
     .fini = teardown)
{
	struct ks_meta a, b, p;
	int created = -1;

	cr_assert_eq(ks_store_ensure_key(st, TOK_TYPE_BLIND_RSA, T0, sch.overlap, &a, &created, err,
					 sizeof(err)), 0, "%s", err);
	cr_assert_eq(created, 1);
	cr_assert_eq(a.not_before, T0);
	cr_assert_eq(ks_store_ensure_key(st, TOK_TYPE_BLIND_RSA, T0 + 5, sch.overlap, &b, &created,
					 err, sizeof(err)), 0);
	cr_assert_eq(created, 0);
	cr_assert_str_eq(a.id_hex, b.id_hex);
	/* only a pending key: nothing signs yet, so one is made */
	cr_assert_eq(ks_store_retire(st, a.id_hex, T0 + 6, sch.overlap, 1, NULL,
				     err, sizeof(err)), 0);
	cr_assert_eq(ks_store_generate(st, T2, T0 + 6, T0 + D, &p, err,
				       sizeof(err)), 0);
	cr_assert_eq(ks_store_ensure_key(st, TOK_TYPE_BLIND_RSA, T0 + 7, sch.overlap, &b, &created,
					 err, sizeof(err)), 0);
	cr_assert_eq(created, 1);
	cr_assert_eq(b.not_before, T0 + 7);
}

Test(maintain, rotate_adds_a_pending_successor, .init = setup,
     .fini = teardown)
{
	struct ks_rotation r;
	struct ks_meta a;
	struct state s;
	int64_t now = T0 + 6 * D;
	long ia, ib;

	cr_assert_eq(ks_store_ensure_key(st, TOK_TYPE_BLIND_RSA, T0, sch.overlap, &a, NULL, err,
					 sizeof(err)), 0);
	cr_assert_eq(ks_store_rotate(st, TOK_TYPE_BLIND_RSA, now, &sch, 0, &r, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert(r.rotated && r.had_active);
	cr_assert_eq(r.added.not_before, now + sch.lead);
	cr_assert_str_eq(r.previous.id_hex, a.id_hex);
	cr_assert_eq(r.previous.retire_after, now + sch.lead + sch.overlap);
	cr_assert_neq(r.added.truncated_id, a.truncated_id);
	look(&s, now);
	ia = find(&s, a.id_hex);
	ib = find(&s, r.added.id_hex);
	cr_assert_eq(s.v[ia].state, KS_ACTIVE);
	cr_assert_eq(s.v[ib].state, KS_PENDING);
	cr_assert(s.v[ia].published && s.v[ib].published);
	cr_assert_eq(s.m[ia].retire_after, r.previous.retire_after);
	free(s.m);
	/* one successor at a time */
	cr_assert_eq(ks_store_rotate(st, TOK_TYPE_BLIND_RSA, now + 1, &sch, 0, &r, err, sizeof(err)),
		     PP_ERR_STATE);
	cr_assert(strstr(err, "already waiting") != NULL, "%s", err);
	/* the cron form waits for the schedule */
	cr_assert_eq(ks_store_rotate(st, TOK_TYPE_BLIND_RSA, now + 3600, &sch, 1, &r, err,
				     sizeof(err)), 0);
	cr_assert(!r.rotated);
	cr_assert_eq(r.due_at, now + sch.lead + sch.lifetime - sch.lead);
}

Test(maintain, rotate_on_an_empty_store_signs_at_once, .init = setup,
     .fini = teardown)
{
	struct ks_rotation r;

	cr_assert_eq(ks_store_rotate(st, TOK_TYPE_BLIND_RSA, T0, &sch, 1, &r, err, sizeof(err)), 0);
	cr_assert(r.rotated && !r.had_active);
	cr_assert_eq(r.added.not_before, T0);
	cr_assert_eq(r.added.state, KS_ACTIVE);
}

/* An hourly cron job over five weeks: at every hour exactly one key signs,
 * it was announced at least the lead before it started, at most two keys
 * are published, live truncated ids are distinct, and prune only ever
 * deletes keys whose overlap has passed. */
Test(maintain, scheduled_rotation_keeps_one_signing_key, .init = setup,
     .fini = teardown, .timeout = 120)
{
	int64_t now;
	size_t rotations = 0, pruned = 0;

	for (now = T0; now < T0 + 35 * D; now += 3600) {
		struct ks_rotation r;
		struct ks_prune pr;
		struct state s;
		size_t i, j, published = 0;
		long act;

		cr_assert_eq(ks_store_rotate(st, TOK_TYPE_BLIND_RSA, now, &sch, 1, &r, err,
					     sizeof(err)), 0, "%s", err);
		rotations += (size_t)r.rotated;
		cr_assert_eq(ks_store_prune(st, now, sch.overlap, &pr, err,
					    sizeof(err)), 0);
		for (i = 0; i < pr.n_removed; i++)
			cr_assert_leq(pr.removed[i].retire_after, now);
		cr_assert_eq(pr.n_kept, 0);
		pruned += pr.n_removed;
		ks_prune_free(&pr);
		look(&s, now);
		act = kl_active(s.m, s.v, s.n, T2);
		cr_assert_geq(act, 0, "no key signs at +%llds",
			      (long long)(now - T0));
		cr_assert(s.v[act].published);
		if (s.m[act].not_before > T0)
			cr_assert_leq(s.m[act].created,
				      s.m[act].not_before - sch.lead);
		for (i = 0; i < s.n; i++) {
			published += (size_t)s.v[i].published;
			cr_assert_neq(s.v[i].state, KS_RETIRED,
				      "pruned at once");
			for (j = i + 1; j < s.n; j++)
				cr_assert_neq(s.m[i].truncated_id,
					      s.m[j].truncated_id);
		}
		cr_assert_leq(published, 2);
		cr_assert_leq(s.n, 4);
		free(s.m);
	}
	/* day 0, then days 6, 13, 20, 27 and 34 */
	cr_assert_eq(rotations, 6, "rotations: %zu", rotations);
	cr_assert_geq(pruned, 2);
}

Test(maintain, retire_moves_keys_on, .init = setup, .fini = teardown)
{
	struct ks_meta a, p, out;
	struct state s;

	cr_assert_eq(ks_store_ensure_key(st, TOK_TYPE_BLIND_RSA, T0, sch.overlap, &a, NULL, err,
					 sizeof(err)), 0);
	cr_assert_eq(ks_store_generate(st, T2, T0, T0 + D, &p, err,
				       sizeof(err)), 0);
	/* a pending key never signed: retired at once */
	cr_assert_eq(ks_store_retire(st, p.id_hex, T0 + 10, sch.overlap, 0, &out,
				     err, sizeof(err)), 0);
	cr_assert_eq(out.state, KS_RETIRED);
	/* the active key keeps verifying for the overlap */
	cr_assert_eq(ks_store_retire(st, a.id_hex, T0 + 10, sch.overlap, 0, &out,
				     err, sizeof(err)), 0);
	cr_assert_eq(out.state, KS_RETIRING);
	cr_assert_eq(out.retire_after, T0 + 10 + sch.overlap);
	look(&s, T0 + 11);
	cr_assert_eq(kl_active(s.m, s.v, s.n, T2), -1);
	free(s.m);
	cr_assert_eq(ks_store_retire(st, a.id_hex, T0 + 12, sch.overlap, 0, &out,
				     err, sizeof(err)), PP_ERR_STATE);
	cr_assert(strstr(err, "--immediately") != NULL, "%s", err);
	cr_assert_eq(ks_store_retire(st, a.id_hex, T0 + 12, sch.overlap, 1, &out,
				     err, sizeof(err)), 0);
	cr_assert_eq(out.state, KS_RETIRED);
	cr_assert_eq(ks_store_retire(st, a.id_hex, T0 + 13, sch.overlap, 1, &out,
				     err, sizeof(err)), PP_ERR_STATE);
	cr_assert_eq(ks_store_retire(st, "ffff", T0 + 13, sch.overlap, 1, &out,
				     err, sizeof(err)), PP_ERR_NOT_FOUND);
}

/* Settling records a superseded key's retirement, so deleting the key that
 * superseded it cannot bring it back to signing. */
Test(maintain, settled_retirement_survives_pruning_the_successor,
     .init = setup, .fini = teardown)
{
	struct ks_meta a, b;
	struct ks_prune pr;
	struct state s;
	size_t changed = 0;
	long ia;

	cr_assert_eq(ks_store_generate(st, T2, T0, T0, &a, err, sizeof(err)), 0);
	cr_assert_eq(ks_store_generate(st, T2, T0, T0 + 10, &b, err,
				       sizeof(err)), 0);
	cr_assert_eq(ks_store_settle(st, T0 + 20, sch.overlap, &changed, err,
				     sizeof(err)), 0);
	cr_assert_eq(changed, 2, "a retiring, b active");
	cr_assert_eq(ks_store_settle(st, T0 + 21, sch.overlap, &changed, err,
				     sizeof(err)), 0);
	cr_assert_eq(changed, 0, "settling twice changes nothing");
	cr_assert_eq(ks_store_retire(st, b.id_hex, T0 + 30, sch.overlap, 1, NULL,
				     err, sizeof(err)), 0);
	cr_assert_eq(ks_store_prune(st, T0 + 31, sch.overlap, &pr, err,
				    sizeof(err)), 0);
	cr_assert_eq(pr.n_removed, 1);
	cr_assert_str_eq(pr.removed[0].id_hex, b.id_hex);
	ks_prune_free(&pr);
	look(&s, T0 + 32);
	ia = find(&s, a.id_hex);
	cr_assert_eq(s.v[ia].state, KS_RETIRING);
	cr_assert_eq(s.m[ia].retire_after, T0 + 10 + sch.overlap);
	free(s.m);
	/* and prune takes it once its overlap is over */
	cr_assert_eq(ks_store_prune(st, T0 + 10 + sch.overlap, sch.overlap,
				    &pr, err, sizeof(err)), 0);
	cr_assert_eq(pr.n_removed, 1);
	ks_prune_free(&pr);
}
