/* The spent store's health record: the outcome of its writes, counted by
 * cause, and the log lines that tell an operator what broke and what to do.
 *
 * Backends report every write outcome; serve's /readyz and /metrics read it
 * through spent_health_get. Logging is rate-limited per cause so a full disk
 * under load gives one line per 10 s with a count, not one per request. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/log.h"
#include "issuer/spent_impl.h"

#define ST_WARN_TOPICS 8

struct spent_status {
	const char *backend;     /* static */
	atomic_int healthy;      /* read without the lock on the hot path */
	pthread_mutex_t mu;      /* guards everything below */
	int connected;
	enum spent_cause cause;
	int sys_errno;
	int64_t since;
	uint64_t errors[SPENT_CAUSE_COUNT];
	uint64_t spell_failures;               /* failures since the last success */
	long long last_log_ms[SPENT_CAUSE_COUNT];
	uint64_t held[SPENT_CAUSE_COUNT];      /* lines not logged since then */
	long long last_warn_ms[ST_WARN_TOPICS];
	char message[SPENT_MESSAGE_MAX];
};

static const char *st_cause_names[SPENT_CAUSE_COUNT] = {
	[SPENT_CAUSE_NONE] = "none",
	[SPENT_CAUSE_DISK_FULL] = "disk_full",
	[SPENT_CAUSE_MAP_FULL] = "map_full",
	[SPENT_CAUSE_IO] = "io_error",
	[SPENT_CAUSE_REFUSED] = "refused",
	[SPENT_CAUSE_TIMEOUT] = "timeout",
	[SPENT_CAUSE_DISCONNECTED] = "disconnected",
	[SPENT_CAUSE_AUTH] = "auth",
	[SPENT_CAUSE_VOLATILE] = "volatile",
	[SPENT_CAUSE_OOM] = "oom",
	[SPENT_CAUSE_READONLY] = "readonly",
	[SPENT_CAUSE_MISCONF] = "misconf",
	[SPENT_CAUSE_ERROR] = "error",
	[SPENT_CAUSE_REPLICAS] = "replicas",
	[SPENT_CAUSE_CLUSTER] = "cluster",
};

const char *spent_cause_name(enum spent_cause c)
{
	return (unsigned)c < SPENT_CAUSE_COUNT ? st_cause_names[c] : "error";
}

static long long st_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int spent_status_new(const char *backend, int healthy,
		     struct spent_status **out)
{
	struct spent_status *st;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return PP_ERR_NOMEM;
	if (pthread_mutex_init(&st->mu, NULL) != 0) {
		free(st);
		return PP_ERR_INTERNAL;
	}
	st->backend = backend;
	atomic_init(&st->healthy, healthy ? 1 : 0);
	st->connected = healthy;
	if (!healthy)
		snprintf(st->message, sizeof(st->message),
			 "%s: not connected yet", backend);
	*out = st;
	return 0;
}

void spent_status_free(struct spent_status *st)
{
	if (st == NULL)
		return;
	pthread_mutex_destroy(&st->mu);
	free(st);
}

void spent_status_fail(struct spent_status *st, enum spent_cause cause,
		       int sys_errno, const char *fmt, ...)
{
	char msg[SPENT_MESSAGE_MAX];
	long long now = st_now_ms();
	uint64_t held = 0;
	int log_it = 0;
	va_list ap;

	if ((unsigned)cause >= SPENT_CAUSE_COUNT || cause == SPENT_CAUSE_NONE)
		cause = SPENT_CAUSE_IO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&st->mu);
	st->errors[cause]++;
	st->spell_failures++;
	if (atomic_load(&st->healthy) || st->since == 0)
		st->since = (int64_t)time(NULL);
	atomic_store(&st->healthy, 0);
	st->cause = cause;
	st->sys_errno = sys_errno;
	memcpy(st->message, msg, sizeof(st->message));
	if (st->last_log_ms[cause] == 0 ||
	    now - st->last_log_ms[cause] >= SPENT_LOG_INTERVAL_MS) {
		log_it = 1;
		held = st->held[cause];
		st->held[cause] = 0;
		st->last_log_ms[cause] = now;
	} else {
		st->held[cause]++;
	}
	pthread_mutex_unlock(&st->mu);

	if (!log_it)
		return;
	if (held > 0)
		log_error("spent store (%s) cannot record [%s]: %s "
			  "(%llu more like this in the last %d s)", st->backend,
			  spent_cause_name(cause), msg, (unsigned long long)held,
			  SPENT_LOG_INTERVAL_MS / 1000);
	else
		log_error("spent store (%s) cannot record [%s]: %s", st->backend,
			  spent_cause_name(cause), msg);
}

void spent_status_ok(struct spent_status *st)
{
	uint64_t failures;
	int64_t since;

	if (atomic_load_explicit(&st->healthy, memory_order_acquire))
		return;
	pthread_mutex_lock(&st->mu);
	if (atomic_load(&st->healthy)) {
		pthread_mutex_unlock(&st->mu);
		return;
	}
	failures = st->spell_failures;
	since = st->since;
	st->spell_failures = 0;
	st->since = 0;
	st->cause = SPENT_CAUSE_NONE;
	st->sys_errno = 0;
	st->message[0] = '\0';
	st->connected = 1;
	atomic_store(&st->healthy, 1);
	pthread_mutex_unlock(&st->mu);
	if (failures > 0)
		log_info("spent store (%s) recovered: writes succeed again after "
			 "%llu failures over %lld s", st->backend,
			 (unsigned long long)failures,
			 (long long)((int64_t)time(NULL) - since));
	else
		log_info("spent store (%s) ready", st->backend);
}

void spent_status_connected(struct spent_status *st, int up)
{
	pthread_mutex_lock(&st->mu);
	st->connected = up;
	pthread_mutex_unlock(&st->mu);
}

int spent_status_healthy(struct spent_status *st)
{
	return atomic_load(&st->healthy);
}

void spent_status_get(struct spent_status *st, struct spent_health *out)
{
	pthread_mutex_lock(&st->mu);
	out->backend = st->backend;
	out->healthy = atomic_load(&st->healthy);
	out->connected = st->connected;
	out->cause = st->cause;
	out->sys_errno = st->sys_errno;
	out->since = st->since;
	memcpy(out->errors, st->errors, sizeof(out->errors));
	memcpy(out->message, st->message, sizeof(out->message));
	pthread_mutex_unlock(&st->mu);
}

void spent_status_warn(struct spent_status *st, unsigned topic,
		       const char *fmt, ...)
{
	char msg[SPENT_MESSAGE_MAX];
	long long now = st_now_ms();
	int log_it = 0;
	va_list ap;

	topic %= ST_WARN_TOPICS;
	pthread_mutex_lock(&st->mu);
	if (st->last_warn_ms[topic] == 0 ||
	    now - st->last_warn_ms[topic] >= SPENT_LOG_INTERVAL_MS) {
		st->last_warn_ms[topic] = now;
		log_it = 1;
	}
	pthread_mutex_unlock(&st->mu);
	if (!log_it)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("spent store (%s): %s", st->backend, msg);
}
