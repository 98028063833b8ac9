/* Key lifecycle over an injected clock: effective states, publication,
 * preference order, next transition, rotation timing; durations and times. */
#include "base/pp_err.h"
#include "keys/lifecycle.h"
#include "tu.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

TestSuite(lifecycle, .fini = tu_leak_check);

#define D KL_DAY
#define OVL KL_DEFAULT_OVERLAP

static struct ks_meta key(const char *name, int64_t created, int64_t nb,
			  enum ks_state st, int64_t retire_after)
{
	struct ks_meta m;

	memset(&m, 0, sizeof(m));
	snprintf(m.id_hex, sizeof(m.id_hex), "%s", name);
	m.token_type = 2;
	m.created = created;
	m.not_before = nb;
	m.state = st;
	m.retire_after = retire_after;
	return m;
}

static void eval(const struct ks_meta *m, size_t n, int64_t now,
		 struct kl_view *v)
{
	kl_evaluate(m, n, now, OVL, 0, v);
}

Test(lifecycle, single_key_pending_then_active)
{
	struct ks_meta m = key("a", 0, 100, KS_PENDING, 0);
	struct kl_view v;

	eval(&m, 1, 99, &v);
	cr_assert_eq(v.state, KS_PENDING);
	cr_assert(v.published, "a pending key is announced before it signs");
	eval(&m, 1, 100, &v);
	cr_assert_eq(v.state, KS_ACTIVE);
	eval(&m, 1, 100 + 1000 * D, &v);
	cr_assert_eq(v.state, KS_ACTIVE, "the only key never retires by the clock");
}

/* Three rotations on the default schedule, checked at each instant. */
Test(lifecycle, states_follow_rotations_over_time)
{
	struct ks_meta m[3] = {
		key("a", 0, 0, KS_ACTIVE, 7 * D + OVL),  /* rotate recorded */
		key("b", 6 * D, 7 * D, KS_PENDING, 0),
		key("c", 13 * D, 14 * D, KS_PENDING, 0), /* no record on b */
	};
	static const struct {
		int64_t now;
		enum ks_state a, b, c;
		int pa, pb, pc;
	} rows[] = {
		{ 6 * D, KS_ACTIVE, KS_PENDING, KS_PENDING, 1, 1, 0 },
		{ 7 * D - 1, KS_ACTIVE, KS_PENDING, KS_PENDING, 1, 1, 0 },
		{ 7 * D, KS_RETIRING, KS_ACTIVE, KS_PENDING, 1, 1, 0 },
		{ 14 * D, KS_RETIRING, KS_RETIRING, KS_ACTIVE, 0, 1, 1 },
		{ 15 * D - 1, KS_RETIRING, KS_RETIRING, KS_ACTIVE, 0, 1, 1 },
		{ 15 * D, KS_RETIRED, KS_RETIRING, KS_ACTIVE, 0, 1, 1 },
		{ 14 * D + OVL - 1, KS_RETIRED, KS_RETIRING, KS_ACTIVE, 0, 1, 1 },
		{ 14 * D + OVL, KS_RETIRED, KS_RETIRED, KS_ACTIVE, 0, 0, 1 },
	};
	struct kl_view v[3];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* c exists only from its creation on */
		size_t n = rows[i].now >= 13 * D ? 3 : 2;

		eval(m, n, rows[i].now, v);
		cr_assert_eq(v[0].state, rows[i].a, "row %zu: a is %s", i,
			     ks_state_name(v[0].state));
		cr_assert_eq(v[1].state, rows[i].b, "row %zu: b is %s", i,
			     ks_state_name(v[1].state));
		cr_assert_eq(v[0].published, rows[i].pa, "row %zu: a published", i);
		cr_assert_eq(v[1].published, rows[i].pb, "row %zu: b published", i);
		if (n == 3) {
			cr_assert_eq(v[2].state, rows[i].c, "row %zu: c", i);
			cr_assert_eq(v[2].published, rows[i].pc, "row %zu", i);
		}
	}
	/* b's retirement was not recorded: successor's not-before + overlap */
	eval(m, 3, 14 * D, v);
	cr_assert_eq(v[1].retire_after, 14 * D + OVL);
	cr_assert(v[1].superseded);
	cr_assert_eq(v[0].retire_after, 7 * D + OVL);
}

Test(lifecycle, order_lists_newest_not_before_first)
{
	struct ks_meta m[3] = {
		key("a", 0, 0, KS_ACTIVE, 0),
		key("b", 6 * D, 7 * D, KS_PENDING, 0),
		key("c", 13 * D, 14 * D, KS_PENDING, 0),
	};
	struct kl_view v[3];
	size_t idx[3], n;

	/* before b signs: b (pending, listed first so clients switch at its
	 * not-before), then a */
	eval(m, 2, 6 * D, v);
	n = kl_order(m, v, 2, idx);
	cr_assert_eq(n, 2);
	cr_assert_eq(idx[0], 1);
	cr_assert_eq(idx[1], 0);
	/* after c signs: c, b published; a only verifies, last */
	eval(m, 3, 14 * D, v);
	n = kl_order(m, v, 3, idx);
	cr_assert_eq(n, 3);
	cr_assert_eq(idx[0], 2);
	cr_assert_eq(idx[1], 1);
	cr_assert_eq(idx[2], 0);
	cr_assert(!v[0].published);
}

Test(lifecycle, max_published_caps_each_type)
{
	struct ks_meta m[4] = {
		key("a", 0, 0, KS_ACTIVE, 0),
		key("b", 1, 10, KS_ACTIVE, 0),
		key("c", 2, 20, KS_ACTIVE, 0),
		key("x", 0, 0, KS_ACTIVE, 0),
	};
	struct kl_view v[4];

	m[3].token_type = 1; /* another type is counted separately */
	kl_evaluate(m, 4, 25, OVL, 1, v);
	cr_assert_eq(v[2].state, KS_ACTIVE);
	cr_assert(v[2].published && !v[1].published && !v[0].published);
	cr_assert_eq(v[3].state, KS_ACTIVE);
	cr_assert(v[3].published);
	kl_evaluate(m, 4, 25, OVL, 3, v);
	cr_assert(v[0].published && v[1].published && v[2].published);
	/* pending outranks retiring for the last slot */
	m[2].not_before = 100;
	kl_evaluate(m, 3, 25, OVL, 2, v);
	cr_assert_eq(v[2].state, KS_PENDING);
	cr_assert(v[1].published && v[2].published && !v[0].published);
}

Test(lifecycle, operator_retirement_is_kept)
{
	struct ks_meta m[2] = {
		key("a", 0, 0, KS_RETIRING, 50),
		key("b", 0, 10, KS_RETIRED, 10),
	};
	struct kl_view v[2];

	eval(m, 2, 20, v);
	cr_assert_eq(v[0].state, KS_RETIRING, "a retired key never signs again");
	cr_assert_eq(v[1].state, KS_RETIRED);
	cr_assert_eq(kl_active(m, v, 2, 2), -1);
	eval(m, 2, 50, v);
	cr_assert_eq(v[0].state, KS_RETIRED);
}

Test(lifecycle, next_change_is_the_soonest_transition)
{
	struct ks_meta m[2] = {
		key("a", 0, 0, KS_ACTIVE, 7 * D + OVL),
		key("b", 6 * D, 7 * D, KS_PENDING, 0),
	};
	struct kl_view v[2];

	eval(m, 2, 6 * D, v);
	cr_assert_eq(kl_next_change(m, v, 2, 6 * D), 7 * D);
	eval(m, 2, 7 * D, v);
	cr_assert_eq(kl_next_change(m, v, 2, 7 * D), 7 * D + OVL);
	eval(m, 2, 7 * D + OVL, v);
	cr_assert_eq(kl_next_change(m, v, 2, 7 * D + OVL), 0);
}

Test(lifecycle, ties_resolve_the_same_way_everywhere)
{
	/* same not-before: the later creation wins, then the larger id */
	struct ks_meta m[2] = {
		key("bb", 5, 10, KS_ACTIVE, 0),
		key("aa", 5, 10, KS_ACTIVE, 0),
	};
	struct kl_view v[2];

	eval(m, 2, 10, v);
	cr_assert_eq(kl_active(m, v, 2, 2), 0);
	cr_assert_eq(v[1].state, KS_RETIRING);
	m[1].created = 6;
	eval(m, 2, 10, v);
	cr_assert_eq(kl_active(m, v, 2, 2), 1);
}

Test(lifecycle, rotation_due_follows_the_schedule)
{
	struct kl_schedule s;
	struct ks_meta m[2] = {
		key("a", 0, 0, KS_ACTIVE, 0),
		key("b", 6 * D, 7 * D, KS_PENDING, 0),
	};
	struct kl_view v[2];
	int64_t due = -1;

	kl_schedule_default(&s);
	cr_assert_eq(kl_rotation_due(m, v, 0, 123, &s, 2, &due), 1);
	cr_assert_eq(due, 123, "an empty store needs a key now");
	eval(m, 1, 6 * D - 1, v);
	cr_assert_eq(kl_rotation_due(m, v, 1, 6 * D - 1, &s, 2, &due), 0);
	cr_assert_eq(due, 6 * D);
	eval(m, 1, 6 * D, v);
	cr_assert_eq(kl_rotation_due(m, v, 1, 6 * D, &s, 2, &due), 1);
	/* a waiting successor defers the next rotation until after it */
	eval(m, 2, 6 * D + 5, v);
	cr_assert_eq(kl_rotation_due(m, v, 2, 6 * D + 5, &s, 2, &due), 0);
	cr_assert_eq(due, 13 * D);
}

Test(lifecycle, default_schedule_keeps_clients_working)
{
	struct kl_schedule s;
	char err[256] = "";

	kl_schedule_default(&s);
	cr_assert_geq(s.lead, KL_DEFAULT_MAX_AGE);
	cr_assert_geq(s.overlap, s.lifetime + KL_DEFAULT_MAX_AGE);
	cr_assert_eq(kl_schedule_check(&s, KL_DEFAULT_MAX_AGE, err,
				       sizeof(err)), 0);
	s.lead = 600;
	cr_assert_eq(kl_schedule_check(&s, 3600, err, sizeof(err)),
		     PP_ERR_CONFIG);
	cr_assert(strstr(err, "lead") != NULL, "%s", err);
	kl_schedule_default(&s);
	s.overlap = 60;
	cr_assert_eq(kl_schedule_check(&s, 3600, err, sizeof(err)),
		     PP_ERR_CONFIG);
	s.overlap = OVL;
	s.lifetime = 0;
	cr_assert_eq(kl_schedule_check(&s, 3600, err, sizeof(err)),
		     PP_ERR_CONFIG);
}

Test(lifecycle, durations_parse)
{
	static const struct { const char *in; int rc; int64_t secs; } rows[] = {
		{ "90s", 0, 90 }, { "15m", 0, 900 }, { "12h", 0, 43200 },
		{ "7d", 0, 7 * D }, { "2w", 0, 14 * D }, { "3600", 0, 3600 },
		{ "1d12h", 0, D + 43200 }, { "0", 0, 0 }, { "0s", 0, 0 },
		{ "", PP_ERR_ARG, 0 }, { "d", PP_ERR_ARG, 0 },
		{ "-5s", PP_ERR_ARG, 0 }, { "5x", PP_ERR_ARG, 0 },
		{ "1d30", PP_ERR_ARG, 0 }, { "5 s", PP_ERR_ARG, 0 },
		{ "99999999999999999999", PP_ERR_ARG, 0 },
		{ "36501d", PP_ERR_ARG, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t v = -1;
		int rc = kl_duration_parse(rows[i].in, &v);

		cr_assert_eq(rc, rows[i].rc, "'%s' -> %d", rows[i].in, rc);
		cr_assert_eq(v, rows[i].secs, "'%s' -> %lld", rows[i].in,
			     (long long)v);
	}
}

Test(lifecycle, times_parse)
{
	static const struct { const char *in; int rc; int64_t t; } rows[] = {
		{ "now", 0, 1000000 },
		{ "+1d", 0, 1000000 + D },
		{ "+90s", 0, 1000090 },
		{ "1714564800", 0, 1714564800 },
		{ "2024-05-01T12:00:00Z", 0, 1714564800 },
		{ "2024-05-01t12:00:00z", 0, 1714564800 },
		{ "2024-05-01T12:00:00.123Z", 0, 1714564800 },
		{ "2024-05-01T14:00:00+02:00", 0, 1714564800 },
		{ "2024-05-01T10:30:00-01:30", 0, 1714564800 },
		{ "2024-02-29T00:00:00Z", 0, 1709164800 },
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2023-02-29T00:00:00Z", PP_ERR_ARG, 0 },
		{ "2024-05-01T12:00:00", PP_ERR_ARG, 0 },
		{ "2024-13-01T12:00:00Z", PP_ERR_ARG, 0 },
		{ "2024-05-01T24:00:00Z", PP_ERR_ARG, 0 },
		{ "2024-05-01", PP_ERR_ARG, 0 },
		{ "+", PP_ERR_ARG, 0 },
		{ "yesterday", PP_ERR_ARG, 0 },
		{ "", PP_ERR_ARG, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int64_t v = -1;
		int rc = kl_time_parse(rows[i].in, 1000000, &v);

		cr_assert_eq(rc, rows[i].rc, "'%s' -> %d", rows[i].in, rc);
		cr_assert_eq(v, rows[i].t, "'%s' -> %lld", rows[i].in,
			     (long long)v);
	}
}

Test(lifecycle, formats_round_trip)
{
	char buf[32];
	int64_t t = 0;

	kl_time_format(1714564800, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2024-05-01T12:00:00Z");
	cr_assert_eq(kl_time_parse(buf, 0, &t), 0);
	cr_assert_eq(t, 1714564800);
	kl_time_format(0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "-");
	kl_duration_format(8 * D, buf, sizeof(buf));
	cr_assert_str_eq(buf, "8d");
	kl_duration_format(D + 12 * 3600 + 5, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1d12h");
	kl_duration_format(90, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1m30s");
	kl_duration_format(0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0s");
}
