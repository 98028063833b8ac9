/* Request limits: a token bucket (rate and burst) and a daily quota per
 * client, plus one global bucket over all requests that are limited.
 *
 * State is kept by client name, so it survives a registry reload and a
 * change of a client's limits takes effect on its next request. Limits are
 * passed with each call rather than stored. Each client has its own mutex;
 * the name table is behind a read-write lock taken for reading on the hot
 * path. */
#ifndef PP_RATELIMIT_H
#define PP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct rl_limits {
	double rate;          /* requests per second; 0 = no rate limit */
	unsigned long burst;  /* bucket size; 0 = max(1, ceil(rate)) */
	unsigned long quota;  /* requests per UTC day; 0 = no quota */
};

struct rl_time {
	int64_t mono_ns;      /* monotonic clock, for buckets */
	int64_t unix_s;       /* wall clock, for the UTC day of quotas */
};

struct rl_opts {
	struct rl_limits global;  /* quota is ignored here */
	/* Test hook: the clock (NULL = the system clocks). */
	void (*clock)(void *ctx, struct rl_time *now);
	void *clock_ctx;
};

enum rl_why {
	RL_OK = 0,
	RL_RATE,      /* the client's bucket is empty */
	RL_QUOTA,     /* the client's daily quota is used up */
	RL_GLOBAL,    /* the global bucket is empty */
};

struct rl_limiter;

int rl_new(const struct rl_opts *o, struct rl_limiter **out);
void rl_free(struct rl_limiter *l);

/* Admits one request of client (NULL: anonymous, only the global bucket
 * applies) under lim (NULL: no per-client limit). Returns 0 when admitted
 * (and counted against every limit), PP_ERR_RATE when refused: nothing is
 * counted, *why says which limit, *retry_after_s when to try again (whole
 * seconds, >= 1). PP_ERR_NOMEM when a new client's state cannot be made. */
int rl_take(struct rl_limiter *l, const char *client,
	    const struct rl_limits *lim, enum rl_why *why,
	    unsigned *retry_after_s);

/* The same for n units at once (a batch of n tokens): admitted whole, or
 * refused with nothing counted. */
int rl_take_n(struct rl_limiter *l, const char *client,
	      const struct rl_limits *lim, unsigned long n, enum rl_why *why,
	      unsigned *retry_after_s);

/* Gives back n units taken earlier today (a batch refused after its first
 * token was charged with its headers). */
void rl_refund(struct rl_limiter *l, const char *client,
	       const struct rl_limits *lim, unsigned long n);

/* Requests admitted today (UTC) for client; 0 when unknown. */
unsigned long rl_used_today(struct rl_limiter *l, const char *client);

#endif
