/* Limits with an injected clock: bucket, burst, refill, Retry-After, daily
 * quota across UTC midnight, the global bucket, refusals that count
 * nothing, state that survives a change of limits, and many threads. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "base/pp_err.h"
#include "issuer/ratelimit.h"
#include "tu.h"

TestSuite(ratelimit, .fini = tu_leak_check, .timeout = 30);

#define S_NS 1000000000LL
/* 2023-11-14T22:13:20Z; midnight UTC follows 6400 s later */
#define T0 1700000000LL

struct fake_clock {
	int64_t mono_ns;
	int64_t unix_s;
};

static void fake_now(void *ctx, struct rl_time *t)
{
	const struct fake_clock *c = ctx;

	t->mono_ns = c->mono_ns;
	t->unix_s = c->unix_s;
}

static void advance(struct fake_clock *c, int64_t ns)
{
	c->mono_ns += ns;
	c->unix_s = T0 + c->mono_ns / S_NS;
}

static struct rl_limiter *limiter(struct fake_clock *clk, double grate,
				  unsigned long gburst)
{
	struct rl_opts o;
	struct rl_limiter *l = NULL;

	memset(&o, 0, sizeof(o));
	memset(clk, 0, sizeof(*clk));
	clk->unix_s = T0;
	o.global.rate = grate;
	o.global.burst = gburst;
	o.clock = fake_now;
	o.clock_ctx = clk;
	cr_assert_eq(rl_new(&o, &l), 0);
	return l;
}

/* Takes n requests; returns how many were admitted. */
static unsigned take_n(struct rl_limiter *l, const char *who,
		       const struct rl_limits *lim, unsigned n)
{
	enum rl_why why;
	unsigned retry, ok = 0, i;

	for (i = 0; i < n; i++)
		if (rl_take(l, who, lim, &why, &retry) == 0)
			ok++;
	return ok;
}

Test(ratelimit, burst_is_admitted_then_refused_with_retry_after)
{
	static const struct {
		double rate;
		unsigned long burst;
		unsigned admitted;
		unsigned retry;
	} cases[] = {
		{ 1, 5, 5, 1 },     /* one token per second */
		{ 10, 0, 10, 1 },   /* burst defaults to the rate */
		{ 0.5, 0, 1, 2 },   /* one per two seconds: wait 2 s */
		{ 0.1, 3, 3, 10 },
		{ 1000, 1, 1, 1 },  /* 1 ms to wait still says 1 s */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_clock clk;
		struct rl_limiter *l = limiter(&clk, 0, 0);
		struct rl_limits lim = { cases[i].rate, cases[i].burst, 0 };
		enum rl_why why;
		unsigned retry;

		cr_assert_eq(take_n(l, "a", &lim, cases[i].admitted), cases[i].admitted,
			     "case %zu", i);
		cr_assert_eq(rl_take(l, "a", &lim, &why, &retry), PP_ERR_RATE, "case %zu", i);
		cr_assert_eq(why, RL_RATE);
		cr_assert_eq(retry, cases[i].retry, "case %zu: retry %u", i, retry);
		/* Waiting exactly that long admits one more. */
		advance(&clk, (int64_t)cases[i].retry * S_NS);
		cr_assert_eq(rl_take(l, "a", &lim, &why, &retry), 0, "case %zu", i);
		rl_free(l);
	}
}

Test(ratelimit, bucket_refills_at_the_rate_up_to_the_burst)
{
	struct fake_clock clk;
	struct rl_limiter *l = limiter(&clk, 0, 0);
	struct rl_limits lim = { 2, 4, 0 };

	cr_assert_eq(take_n(l, "a", &lim, 10), 4);
	advance(&clk, S_NS);                  /* two tokens back */
	cr_assert_eq(take_n(l, "a", &lim, 10), 2);
	advance(&clk, 3600 * S_NS);           /* long idle: only the burst */
	cr_assert_eq(take_n(l, "a", &lim, 10), 4);
	advance(&clk, S_NS / 2 - 1);          /* just short of one token */
	cr_assert_eq(take_n(l, "a", &lim, 1), 0);
	advance(&clk, 1);
	cr_assert_eq(take_n(l, "a", &lim, 1), 1);
	rl_free(l);
}

Test(ratelimit, quota_lasts_until_utc_midnight)
{
	struct fake_clock clk;
	struct rl_limiter *l = limiter(&clk, 0, 0);
	struct rl_limits lim = { 0, 0, 3 };
	enum rl_why why;
	unsigned retry;
	int64_t to_midnight = 86400 - T0 % 86400;

	cr_assert_eq(take_n(l, "a", &lim, 3), 3);
	cr_assert_eq(rl_used_today(l, "a"), 3);
	cr_assert_eq(rl_take(l, "a", &lim, &why, &retry), PP_ERR_RATE);
	cr_assert_eq(why, RL_QUOTA);
	cr_assert_eq(retry, (unsigned)to_midnight);
	advance(&clk, (to_midnight - 1) * S_NS);
	cr_assert_eq(rl_take(l, "a", &lim, &why, &retry), PP_ERR_RATE);
	cr_assert_eq(retry, 1);
	advance(&clk, S_NS);                  /* 00:00:00 UTC */
	cr_assert_eq(rl_used_today(l, "a"), 0);
	cr_assert_eq(take_n(l, "a", &lim, 5), 3);
	rl_free(l);
}

Test(ratelimit, refused_requests_count_against_nothing)
{
	struct fake_clock clk;
	struct rl_limiter *l = limiter(&clk, 0, 0);
	struct rl_limits lim = { 1, 1, 100 };

	cr_assert_eq(take_n(l, "a", &lim, 50), 1);
	cr_assert_eq(rl_used_today(l, "a"), 1, "refusals were counted in the quota");
	advance(&clk, S_NS);
	cr_assert_eq(take_n(l, "a", &lim, 1), 1, "refusals drained the bucket");
	rl_free(l);
}

Test(ratelimit, global_bucket_covers_all_clients_and_anonymous)
{
	struct fake_clock clk;
	struct rl_limiter *l = limiter(&clk, 10, 5);
	struct rl_limits unlimited = { 0, 0, 0 };
	enum rl_why why;
	unsigned retry;

	cr_assert_eq(take_n(l, "a", &unlimited, 3), 3);
	cr_assert_eq(take_n(l, NULL, NULL, 1), 1);
	cr_assert_eq(take_n(l, "b", &unlimited, 1), 1);
	cr_assert_eq(rl_take(l, "c", &unlimited, &why, &retry), PP_ERR_RATE);
	cr_assert_eq(why, RL_GLOBAL);
	cr_assert_eq(retry, 1);
	cr_assert_eq(rl_take(l, NULL, NULL, &why, &retry), PP_ERR_RATE);
	cr_assert_eq(rl_used_today(l, "c"), 0);
	advance(&clk, S_NS / 10);
	cr_assert_eq(take_n(l, "c", &unlimited, 5), 1);
	rl_free(l);
}

Test(ratelimit, global_refusal_leaves_the_clients_bucket_alone)
{
	struct fake_clock clk;
	struct rl_limiter *l = limiter(&clk, 1, 1);
	struct rl_limits lim = { 1, 2, 0 };

	cr_assert_eq(take_n(l, "a", &lim, 1), 1);     /* global now empty */
	cr_assert_eq(take_n(l, "a", &lim, 5), 0);
	advance(&clk, S_NS);                          /* global: 1, client: 2 */
	cr_assert_eq(take_n(l, "a", &lim, 1), 1);
	rl_free(l);
}

Test(ratelimit, clients_are_independent_and_state_survives_new_limits)
{
	struct fake_clock clk;
	struct rl_limiter *l = limiter(&clk, 0, 0);
	struct rl_limits lim = { 1, 3, 10 }, raised = { 1, 3, 20 }, none = { 0, 0, 0 };

	cr_assert_eq(take_n(l, "a", &lim, 5), 3);
	cr_assert_eq(take_n(l, "b", &lim, 5), 3);
	/* A registry reload with a higher quota: the bucket state stays. */
	cr_assert_eq(take_n(l, "a", &raised, 5), 0);
	cr_assert_eq(rl_used_today(l, "a"), 3);
	/* Limits removed: admitted, and still counted. */
	cr_assert_eq(take_n(l, "a", &none, 4), 4);
	cr_assert_eq(rl_used_today(l, "a"), 7);
	cr_assert_eq(rl_used_today(l, "nobody"), 0);
	rl_free(l);
}

struct race {
	struct rl_limiter *l;
	atomic_uint admitted;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	struct rl_limits lim = { 0, 0, 1000 };
	unsigned n = take_n(r->l, "shared", &lim, 500);

	atomic_fetch_add(&r->admitted, n);
	return NULL;
}

Test(ratelimit, quota_holds_exactly_under_concurrency)
{
	struct race r;
	pthread_t th[8];
	size_t i;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(rl_new(NULL, &r.l), 0); /* the real clocks */
	for (i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, racer, &r), 0);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&r.admitted), 1000);
	cr_assert_eq(rl_used_today(r.l, "shared"), 1000);
	rl_free(r.l);
}

/* A batch takes n units at once: admitted whole or refused with nothing
 * counted, by rate, global rate and quota alike; a refund gives them back. */
Test(ratelimit, n_units_are_taken_whole_or_not_at_all)
{
	struct fake_clock clk;
	struct rl_limiter *l = limiter(&clk, 100, 12);
	struct rl_limits lim = { .rate = 10, .burst = 10, .quota = 0 };
	struct rl_limits q = { .rate = 0, .burst = 0, .quota = 8 };
	enum rl_why why;
	unsigned retry;

	cr_expect_eq(rl_take_n(l, "a", &lim, 6, &why, &retry), 0);
	cr_expect_eq(rl_take_n(l, "a", &lim, 5, &why, &retry), PP_ERR_RATE);
	cr_expect_eq(why, RL_RATE);
	cr_expect_geq(retry, 1u);
	cr_expect_eq(rl_take_n(l, "a", &lim, 4, &why, &retry), 0);
	cr_expect_eq(rl_take_n(l, "a", &lim, 1, &why, &retry), PP_ERR_RATE);
	/* more than a burst never fits */
	advance(&clk, 10 * S_NS);
	cr_expect_eq(rl_take_n(l, "a", &lim, 11, &why, &retry), PP_ERR_RATE);
	rl_refund(l, "a", &lim, 4);
	cr_expect_eq(rl_used_today(l, "a"), 6);

	/* the global bucket (burst 12) counts units too */
	advance(&clk, 10 * S_NS);
	cr_expect_eq(rl_take_n(l, "b", NULL, 12, &why, &retry), 0);
	cr_expect_eq(rl_take_n(l, "c", NULL, 1, &why, &retry), PP_ERR_RATE);
	cr_expect_eq(why, RL_GLOBAL);

	/* the quota counts units, and a refused batch uses none */
	advance(&clk, 10 * S_NS);
	cr_expect_eq(rl_take_n(l, "d", &q, 5, &why, &retry), 0);
	cr_expect_eq(rl_take_n(l, "d", &q, 4, &why, &retry), PP_ERR_RATE);
	cr_expect_eq(why, RL_QUOTA);
	cr_expect_eq(rl_used_today(l, "d"), 5);
	cr_expect_eq(rl_take_n(l, "d", &q, 3, &why, &retry), 0);
	cr_expect_eq(rl_used_today(l, "d"), 8);
	rl_free(l);
}
