#include "issuer/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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
	char buf[4096];

	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	memcpy(buf, json, len);
	buf[len++] = '\n';
	/* One write: lines from concurrent threads stay whole. A failed log
	 * write must not take the service down, so the result is ignored. */
	if (write(STDERR_FILENO, buf, len) < 0)
		return;
}

size_t log_begin(char *out, size_t cap, const char *level)
{
	struct timeval tv;
	struct tm tm;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(out, cap,
		     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\"",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), level);
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
