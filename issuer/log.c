#include "issuer/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4095
/* Request lines gather here under load and go out in one write(2): a write
 * per request cost more than the rest of the request logging together. */
#define LOG_BATCH_CAP (32 * 1024)
#define LOG_BATCH_US (LOG_FLUSH_MS * 1000)   /* a gathered line's longest wait */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_batch[LOG_BATCH_CAP];
static size_t log_batch_len;
static uint64_t log_batch_since;  /* when the oldest gathered line came */

static uint64_t log_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A failed log write must not take the service down: errors other than
 * EINTR drop the rest. */
static void log_write(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Caller holds log_mu. */
static void log_batch_flush_locked(void)
{
	log_write(log_batch, log_batch_len);
	log_batch_len = 0;
}

size_t log_escape(char *out, size_t len, size_t cap, const char *s)
{
	for (; *s && len + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[len++] = '\\';
			out[len++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			len += (size_t)snprintf(out + len, cap - len, "\\u%04x", ch);
		} else {
			out[len++] = (char)ch;
		}
	}
	out[len] = '\0';
	return len;
}

void log_line(const char *json, size_t len)
{
	char buf[LOG_LINE_MAX + 1];

	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;
	memcpy(buf, json, len);
	buf[len++] = '\n';
	/* gathered lines first, so the order on stderr is the order of events;
	 * one write per line keeps lines whole */
	pthread_mutex_lock(&log_mu);
	if (log_batch_len)
		log_batch_flush_locked();
	log_write(buf, len);
	pthread_mutex_unlock(&log_mu);
}

void log_line_batched(const char *json, size_t len, int flush)
{
	uint64_t now = log_now_us();

	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;
	pthread_mutex_lock(&log_mu);
	if (log_batch_len + len + 1 > sizeof(log_batch))
		log_batch_flush_locked();
	if (log_batch_len == 0)
		log_batch_since = now;
	memcpy(log_batch + log_batch_len, json, len);
	log_batch[log_batch_len + len] = '\n';
	log_batch_len += len + 1;
	if (flush || now - log_batch_since >= LOG_BATCH_US)
		log_batch_flush_locked();
	pthread_mutex_unlock(&log_mu);
}

void log_flush(void)
{
	pthread_mutex_lock(&log_mu);
	if (log_batch_len)
		log_batch_flush_locked();
	pthread_mutex_unlock(&log_mu);
}

size_t log_begin(char *out, size_t cap, const char *level)
{
	/* the date and time to the second, formatted once per second and
	 * thread (gmtime_r and the long format showed in request profiles) */
	static _Thread_local time_t cached_sec = (time_t)-1;
	static _Thread_local char cached[40];
	struct timeval tv;
	int n;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&tv.tv_sec, &tm);
		snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec);
		cached_sec = tv.tv_sec;
	}
	n = snprintf(out, cap, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\"", cached,
		     (int)(tv.tv_usec / 1000), level);
	return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

void log_msg(const char *level, const char *fmt, ...)
{
	char msg[2048], line[4096];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = log_begin(line, sizeof(line), level);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"msg\":\"");
	n = log_escape(line, n, sizeof(line) - 3, msg);
	line[n++] = '"';
	line[n++] = '}';
	line[n] = '\0';
	log_line(line, n);
}
