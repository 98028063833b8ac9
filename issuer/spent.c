/* The spent-store front: picks the backend, checks arguments, counts
 * answers, gates shutdown so that no caller is inside a backend when it
 * stops or is freed, and runs the probe thread that retries an unhealthy
 * store about once a second (a load balancer sends no traffic to an unready
 * instance, so without it readiness would never come back). */
#include "issuer/spent.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/spent_impl.h"

struct spent_store {
	const struct spent_ops *ops;
	void *impl;
	/* Callers get in and out with atomics only: a submitter on an HTTP
	 * loop thread never waits for a lock another thread was preempted
	 * holding. mu and idle are for shutdown's wait. */
	atomic_ulong inflight;   /* callers inside the backend */
	atomic_int stopping;
	atomic_ullong requests, recorded, spent, unavailable; /* answers */
	pthread_mutex_t mu;      /* guards stopped, the waits on idle/probe_cv */
	pthread_cond_t idle;     /* signalled when inflight drops to 0 */
	int stopped;             /* ops->stop has run */
	struct spent_status *status;
	pthread_cond_t probe_cv; /* wakes the probe thread to stop */
	int probe_cv_ok;
	int prober_running;
	pthread_t prober;
};

#define SPENT_PROBE_MS 1000

void spent_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* Counts the answer of a spent_submit request. */
static void spent_count(struct spent_store *s, int rc)
{
	atomic_fetch_add(&s->requests, 1);
	if (rc == 0)
		atomic_fetch_add(&s->recorded, 1);
	else if (rc == PP_ERR_SPENT)
		atomic_fetch_add(&s->spent, 1);
	else
		atomic_fetch_add(&s->unavailable, 1);
}

/* Lets a caller out; the last one out wakes a waiting shutdown (under mu,
 * so the wake cannot fall between its check and its wait). */
static void spent_leave(struct spent_store *s)
{
	if (atomic_fetch_sub(&s->inflight, 1) == 1 && atomic_load(&s->stopping)) {
		pthread_mutex_lock(&s->mu);
		pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->mu);
	}
}

/* Admits a caller unless the store is shutting down. With seq_cst
 * atomics, either shutdown sees this caller in inflight or this caller
 * sees stopping. */
static int spent_enter(struct spent_store *s)
{
	atomic_fetch_add(&s->inflight, 1);
	if (!atomic_load(&s->stopping))
		return 1;
	spent_leave(s);
	return 0;
}

/* Probes the store while it is unhealthy: at once (a redis store starts
 * "not connected yet"), then every SPENT_PROBE_MS, until shutdown. */
static void *spent_prober_main(void *arg)
{
	struct spent_store *s = arg;
	struct timespec until;
	int first = 1;

	(void)pthread_setname_np(pthread_self(), "pp-spent-probe");
	pthread_mutex_lock(&s->mu);
	while (!atomic_load(&s->stopping)) {
		if (!first) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += SPENT_PROBE_MS / 1000;
			until.tv_nsec += (long)(SPENT_PROBE_MS % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->probe_cv, &s->mu, &until);
			if (atomic_load(&s->stopping))
				break;
		}
		first = 0;
		if (spent_status_healthy(s->status))
			continue;
		pthread_mutex_unlock(&s->mu);
		if (spent_enter(s)) {
			s->ops->probe(s->impl);
			spent_leave(s);
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int spent_open(const struct spent_config *cfg, struct spent_store **out,
	       char *err, size_t errlen)
{
	struct spent_store *s = NULL;
	const char *backend;
	pthread_condattr_t ca;
	int rc, mu_ok = 0, cond_ok = 0, impl_ok = 0;

	if (out != NULL)
		*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL || out == NULL)
		return PP_ERR_ARG;
	backend = cfg->backend != NULL ? cfg->backend : "lmdb";

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PP_ERR_NOMEM;
	atomic_init(&s->inflight, 0);
	atomic_init(&s->stopping, 0);
	atomic_init(&s->requests, 0);
	atomic_init(&s->recorded, 0);
	atomic_init(&s->spent, 0);
	atomic_init(&s->unavailable, 0);
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	mu_ok = 1;
	if (pthread_cond_init(&s->idle, NULL) != 0) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	cond_ok = 1;
	/* the probe waits on the monotonic clock: a clock step must not stall
	 * or hurry it */
	if (pthread_condattr_init(&ca) != 0) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	s->probe_cv_ok = pthread_cond_init(&s->probe_cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!s->probe_cv_ok) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}

	if (strcmp(backend, "lmdb") == 0) {
		s->ops = &spent_lmdb_ops;
		rc = spent_status_new("lmdb", 1, &s->status);
		if (rc == 0)
			rc = spent_lmdb_open(cfg, s->status, &s->impl, err, errlen);
	} else if (strcmp(backend, "redis") == 0) {
		s->ops = &spent_redis_ops;
		rc = spent_status_new("redis", 0, &s->status);
		if (rc == 0)
			rc = spent_redis_open(cfg, s->status, &s->impl, err, errlen);
	} else {
		pp_errf(err, errlen,
			      "unknown spent store backend \"%s\"; use \"lmdb\" or \"redis\"",
			      backend);
		rc = PP_ERR_CONFIG;
	}
	if (rc != 0)
		goto cleanup;
	impl_ok = 1;
	if (pthread_create(&s->prober, NULL, spent_prober_main, s) != 0) {
		pp_errf(err, errlen, "cannot start the spent store probe thread");
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	s->prober_running = 1;
	*out = s;
	s = NULL;
	rc = 0;

cleanup:
	if (s != NULL) {
		if (impl_ok) {
			s->ops->stop(s->impl);
			s->ops->free(s->impl);
		}
		spent_status_free(s->status);
		if (s->probe_cv_ok)
			pthread_cond_destroy(&s->probe_cv);
		if (cond_ok)
			pthread_cond_destroy(&s->idle);
		if (mu_ok)
			pthread_mutex_destroy(&s->mu);
		free(s);
	}
	return rc;
}

/* What spent.c keeps of an asynchronous request until its answer. */
struct spent_pending {
	struct spent_store *s;
	void (*done)(void *arg, int rc);
	void *arg;
	int counted;       /* a spent_submit (counted), or a lookup */
};

static void spent_pending_done(void *p, int rc)
{
	struct spent_pending *pd = p;
	struct spent_store *s = pd->s;
	void (*done)(void *arg, int rc) = pd->done;
	void *arg = pd->arg;
	int counted = pd->counted;

	free(pd);
	/* a backend must never turn an unexpected failure into "recorded" */
	if (rc != 0 && rc != PP_ERR_SPENT)
		rc = PP_ERR_UNAVAILABLE;
	/* counted before the answer, so a caller that has it sees it counted */
	if (counted)
		spent_count(s, rc);
	/* leave only after the caller's callback: shutdown waits for it */
	done(arg, rc);
	spent_leave(s);
}

/* Admits an asynchronous request: returns its pending record, or NULL
 * after answering it (PP_ERR_UNAVAILABLE: shutting down, out of memory). */
static struct spent_pending *spent_pending_new(struct spent_store *s,
					       int counted,
					       void (*done)(void *arg, int rc),
					       void *arg)
{
	struct spent_pending *pd;

	if (!spent_enter(s)) {
		if (counted)
			spent_count(s, PP_ERR_UNAVAILABLE);
		done(arg, PP_ERR_UNAVAILABLE);
		return NULL;
	}
	pd = malloc(sizeof(*pd));
	if (pd == NULL) {
		if (counted)
			spent_count(s, PP_ERR_UNAVAILABLE);
		done(arg, PP_ERR_UNAVAILABLE);
		spent_leave(s);
		return NULL;
	}
	pd->s = s;
	pd->done = done;
	pd->arg = arg;
	pd->counted = counted;
	return pd;
}

int spent_submit(struct spent_store *s, const uint8_t key_id[SPENT_KEY_ID_LEN],
		 const uint8_t nonce[SPENT_NONCE_LEN], int64_t expires_at,
		 void (*done)(void *arg, int rc), void *arg)
{
	struct spent_pending *pd;

	if (s == NULL || key_id == NULL || nonce == NULL || expires_at <= 0 ||
	    done == NULL)
		return PP_ERR_ARG;
	pd = spent_pending_new(s, 1, done, arg);
	if (pd != NULL)
		s->ops->submit(s->impl, key_id, nonce, expires_at,
			       spent_pending_done, pd);
	return 0;
}

int spent_contains_submit(struct spent_store *s,
			  const uint8_t key_id[SPENT_KEY_ID_LEN],
			  const uint8_t nonce[SPENT_NONCE_LEN],
			  void (*done)(void *arg, int rc), void *arg)
{
	struct spent_pending *pd;

	if (s == NULL || key_id == NULL || nonce == NULL || done == NULL)
		return PP_ERR_ARG;
	pd = spent_pending_new(s, 0, done, arg);
	if (pd != NULL)
		s->ops->contains_submit(s->impl, key_id, nonce,
					spent_pending_done, pd);
	return 0;
}

int spent_drop_key(struct spent_store *s,
		   const uint8_t key_id[SPENT_KEY_ID_LEN], uint64_t *removed)
{
	uint64_t n = 0;
	int rc;

	if (removed != NULL)
		*removed = 0;
	if (s == NULL || key_id == NULL)
		return PP_ERR_ARG;
	if (!spent_enter(s))
		return PP_ERR_UNAVAILABLE;
	rc = s->ops->drop_key(s->impl, key_id, &n);
	if (rc != 0)
		rc = PP_ERR_UNAVAILABLE;
	spent_leave(s);
	if (removed != NULL)
		*removed = n;
	return rc;
}

int spent_purge_expired(struct spent_store *s, int64_t now, uint64_t *removed)
{
	return spent_purge_expired_if(s, now, NULL, NULL, removed);
}

int spent_purge_expired_if(struct spent_store *s, int64_t now,
			   int (*may_drop)(void *ctx,
					   const uint8_t key_id[SPENT_KEY_ID_LEN]),
			   void *ctx, uint64_t *removed)
{
	uint64_t n = 0;
	int rc;

	if (removed != NULL)
		*removed = 0;
	if (s == NULL)
		return PP_ERR_ARG;
	if (!spent_enter(s))
		return PP_ERR_UNAVAILABLE;
	rc = s->ops->purge_expired(s->impl, now, may_drop, ctx, &n);
	if (rc != 0)
		rc = PP_ERR_UNAVAILABLE;
	spent_leave(s);
	if (removed != NULL)
		*removed = n;
	return rc;
}

int spent_key_dropped(struct spent_store *s,
		      const uint8_t key_id[SPENT_KEY_ID_LEN])
{
	int rc;

	if (s == NULL || key_id == NULL)
		return PP_ERR_ARG;
	if (!spent_enter(s))
		return PP_ERR_UNAVAILABLE;
	rc = s->ops->key_dropped(s->impl, key_id);
	if (rc != 0 && rc != 1)
		rc = PP_ERR_UNAVAILABLE;
	spent_leave(s);
	return rc;
}

void spent_health_get(struct spent_store *s, struct spent_health *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if (s == NULL) {
		out->backend = "none";
		out->healthy = 1;
		return;
	}
	spent_status_get(s->status, out);
	if (atomic_load(&s->stopping)) {
		out->healthy = 0;
		snprintf(out->message, sizeof(out->message), "%s: shutting down",
			 out->backend);
	}
}

void spent_stats_get(struct spent_store *s, struct spent_stats *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	out->requests = atomic_load(&s->requests);
	out->recorded = atomic_load(&s->recorded);
	out->spent = atomic_load(&s->spent);
	out->unavailable = atomic_load(&s->unavailable);
	s->ops->stats(s->impl, out);
}

size_t spent_nodes_get(struct spent_store *s, struct spent_node_stats *out,
		       size_t max)
{
	if (out != NULL && max > 0)
		memset(out, 0, max * sizeof(*out));
	if (s == NULL || s->ops->nodes == NULL || out == NULL)
		return 0;
	return s->ops->nodes(s->impl, out, max);
}

const char *spent_backend_name(const struct spent_store *s)
{
	return s != NULL ? s->ops->name : "none";
}

void spent_shutdown(struct spent_store *s)
{
	int run_stop;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stopping, 1);
	pthread_cond_broadcast(&s->probe_cv);
	while (atomic_load(&s->inflight) > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	run_stop = !s->stopped;
	s->stopped = 1;
	pthread_mutex_unlock(&s->mu);
	if (!run_stop)
		return;
	if (s->prober_running)
		pthread_join(s->prober, NULL);
	s->prober_running = 0;
	s->ops->stop(s->impl);
}

void spent_close(struct spent_store *s)
{
	if (s == NULL)
		return;
	spent_shutdown(s);
	s->ops->free(s->impl);
	spent_status_free(s->status);
	pthread_cond_destroy(&s->probe_cv);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
