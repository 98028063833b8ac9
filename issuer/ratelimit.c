/* Limits as GCRA (the "virtual scheduling" form of a token bucket): each
 * bucket keeps one number, the theoretical arrival time (tat) of the next
 * request at the sustained rate. A request at time t is admitted when
 * max(tat, t) + T - t <= burst * T, where T = 1/rate; that is exactly a
 * bucket of `burst` tokens refilled at `rate`, with integer arithmetic. */
#include "issuer/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"

#define RL_TABLE 1024          /* hash chains */
#define RL_MAX_ENTRIES 65536   /* names are registry names: a few thousand */
#define RL_NAME_MAX 64
#define NS_PER_S 1000000000LL
#define DAY_S 86400

struct rl_bucket {
	int64_t tat;           /* ns on the monotonic clock */
};

struct rl_entry {
	struct rl_entry *next;
	char name[RL_NAME_MAX + 1];
	pthread_mutex_t mu;
	struct rl_bucket bucket;
	int64_t day;           /* UTC day number of used */
	unsigned long used;
};

struct rl_limiter {
	struct rl_opts o;
	pthread_rwlock_t table_lock;
	struct rl_entry *table[RL_TABLE];
	size_t n;
	pthread_mutex_t global_mu;
	struct rl_bucket global;
};

static void system_clock(void *ctx, struct rl_time *now)
{
	struct timespec m, w;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &w);
	now->mono_ns = (int64_t)m.tv_sec * NS_PER_S + m.tv_nsec;
	now->unix_s = (int64_t)w.tv_sec;
}

int rl_new(const struct rl_opts *o, struct rl_limiter **out)
{
	struct rl_limiter *l;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return PP_ERR_NOMEM;
	if (o)
		l->o = *o;
	if (!l->o.clock)
		l->o.clock = system_clock;
	if (pthread_rwlock_init(&l->table_lock, NULL) != 0) {
		free(l);
		return PP_ERR_INTERNAL;
	}
	if (pthread_mutex_init(&l->global_mu, NULL) != 0) {
		pthread_rwlock_destroy(&l->table_lock);
		free(l);
		return PP_ERR_INTERNAL;
	}
	*out = l;
	return 0;
}

void rl_free(struct rl_limiter *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < RL_TABLE; i++) {
		struct rl_entry *e = l->table[i], *next;

		for (; e; e = next) {
			next = e->next;
			pthread_mutex_destroy(&e->mu);
			free(e);
		}
	}
	pthread_mutex_destroy(&l->global_mu);
	pthread_rwlock_destroy(&l->table_lock);
	free(l);
}

static size_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % RL_TABLE;
}

static struct rl_entry *chain_find(struct rl_entry *e, const char *name)
{
	for (; e; e = e->next)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

/* Entries are never removed while the limiter lives, so a pointer found
 * under the read lock stays valid after it is released. */
static struct rl_entry *entry_get(struct rl_limiter *l, const char *name,
				  int create)
{
	size_t h = name_hash(name);
	struct rl_entry *e;

	pthread_rwlock_rdlock(&l->table_lock);
	e = chain_find(l->table[h], name);
	pthread_rwlock_unlock(&l->table_lock);
	if (e || !create || strlen(name) > RL_NAME_MAX)
		return e;
	pthread_rwlock_wrlock(&l->table_lock);
	e = chain_find(l->table[h], name);
	if (!e && l->n < RL_MAX_ENTRIES) {
		e = calloc(1, sizeof(*e));
		if (e && pthread_mutex_init(&e->mu, NULL) != 0) {
			free(e);
			e = NULL;
		}
		if (e) {
			memcpy(e->name, name, strlen(name) + 1);
			e->next = l->table[h];
			l->table[h] = e;
			l->n++;
		}
	}
	pthread_rwlock_unlock(&l->table_lock);
	return e;
}

static unsigned ceil_seconds(int64_t ns)
{
	int64_t s = (ns + NS_PER_S - 1) / NS_PER_S;

	if (s < 1)
		return 1;
	return s > 86400 * 366 ? 86400u * 366 : (unsigned)s;
}

/* Checks one bucket at now; on admission *next is its new tat, on refusal
 * *wait_ns is how long until a request would be admitted. */
static int bucket_check(const struct rl_bucket *b, double rate,
			unsigned long burst, unsigned long n, int64_t now,
			int64_t *next, int64_t *wait_ns)
{
	double t_d = (double)NS_PER_S / rate;
	int64_t t, tau, tat;

	if (!burst)
		burst = rate < 1 ? 1 : (unsigned long)ceil(rate);
	/* Clamp so that very slow rates and huge bursts cannot overflow. */
	t = t_d > (double)(DAY_S * 366LL * NS_PER_S) ? DAY_S * 366LL * NS_PER_S :
	    t_d < 1 ? 1 : (int64_t)t_d;
	tau = burst > (unsigned long)(INT64_MAX / 4 / t) ? INT64_MAX / 4 :
	      (int64_t)burst * t;
	tat = b->tat > now ? b->tat : now;
	/* n units cost n emission intervals; more than a burst never fits */
	if (n > (unsigned long)(tau / t)) {
		*wait_ns = tau;
		return 0;
	}
	t *= (int64_t)n;
	if (tat + t - now > tau) {
		*wait_ns = tat + t - now - tau;
		return 0;
	}
	*next = tat + t;
	return 1;
}

int rl_take(struct rl_limiter *l, const char *client,
	    const struct rl_limits *lim, enum rl_why *why,
	    unsigned *retry_after_s)
{
	return rl_take_n(l, client, lim, 1, why, retry_after_s);
}

int rl_take_n(struct rl_limiter *l, const char *client,
	      const struct rl_limits *lim, unsigned long n, enum rl_why *why,
	      unsigned *retry_after_s)
{
	struct rl_entry *e = NULL;
	struct rl_time now;
	int64_t c_next = 0, g_next = 0, wait = 0, day;
	int limited_client = client && lim && (lim->rate > 0 || lim->quota > 0);
	int rc = 0;

	*why = RL_OK;
	*retry_after_s = 0;
	l->o.clock(l->o.clock_ctx, &now);
	day = now.unix_s >= 0 ? now.unix_s / DAY_S : 0;
	if (client) {
		/* Every named client gets state, so usage is known even for
		 * clients without limits and a limit added later starts fresh. */
		e = entry_get(l, client, 1);
		if (!e)
			return PP_ERR_NOMEM;
		pthread_mutex_lock(&e->mu);
		if (e->day != day) {
			e->day = day;
			e->used = 0;
		}
	}
	if (limited_client && lim->quota && (e->used >= lim->quota ||
					     n > lim->quota - e->used)) {
		*why = RL_QUOTA;
		*retry_after_s = ceil_seconds((DAY_S - now.unix_s % DAY_S) * NS_PER_S);
		rc = PP_ERR_RATE;
		goto cleanup;
	}
	if (limited_client && lim->rate > 0 &&
	    !bucket_check(&e->bucket, lim->rate, lim->burst, n, now.mono_ns,
			  &c_next, &wait)) {
		*why = RL_RATE;
		*retry_after_s = ceil_seconds(wait);
		rc = PP_ERR_RATE;
		goto cleanup;
	}
	/* Lock order: a client's mutex, then the global one. */
	if (l->o.global.rate > 0) {
		pthread_mutex_lock(&l->global_mu);
		if (!bucket_check(&l->global, l->o.global.rate, l->o.global.burst,
				  n, now.mono_ns, &g_next, &wait)) {
			pthread_mutex_unlock(&l->global_mu);
			*why = RL_GLOBAL;
			*retry_after_s = ceil_seconds(wait);
			rc = PP_ERR_RATE;
			goto cleanup;
		}
		l->global.tat = g_next;
		pthread_mutex_unlock(&l->global_mu);
	}
	if (limited_client && lim->rate > 0)
		e->bucket.tat = c_next;
	if (e)
		e->used += n;
cleanup:
	if (e)
		pthread_mutex_unlock(&e->mu);
	return rc;
}

/* One unit's emission interval at rate (see bucket_check). */
static int64_t interval_ns(double rate)
{
	double t_d = (double)NS_PER_S / rate;

	return t_d > (double)(DAY_S * 366LL * NS_PER_S) ? DAY_S * 366LL * NS_PER_S :
	       t_d < 1 ? 1 : (int64_t)t_d;
}

void rl_refund(struct rl_limiter *l, const char *client,
	       const struct rl_limits *lim, unsigned long n)
{
	struct rl_entry *e = client ? entry_get(l, client, 0) : NULL;

	if (n == 0)
		return;
	if (e) {
		pthread_mutex_lock(&e->mu);
		e->used = e->used > n ? e->used - n : 0;
		if (lim && lim->rate > 0)
			e->bucket.tat -= (int64_t)n * interval_ns(lim->rate);
		pthread_mutex_unlock(&e->mu);
	}
	if (l->o.global.rate > 0) {
		pthread_mutex_lock(&l->global_mu);
		l->global.tat -= (int64_t)n * interval_ns(l->o.global.rate);
		pthread_mutex_unlock(&l->global_mu);
	}
}

unsigned long rl_used_today(struct rl_limiter *l, const char *client)
{
	struct rl_entry *e = entry_get(l, client, 0);
	struct rl_time now;
	unsigned long used = 0;

	if (!e)
		return 0;
	l->o.clock(l->o.clock_ctx, &now);
	pthread_mutex_lock(&e->mu);
	if (e->day == (now.unix_s >= 0 ? now.unix_s / DAY_S : 0))
		used = e->used;
	pthread_mutex_unlock(&e->mu);
	return used;
}
