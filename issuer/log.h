/* Structured logging: one JSON object per line on stderr; lines from
 * different threads never interleave (one lock, whole lines per write).
 * Never pass secrets or key material to these functions. */
#ifndef PP_LOG_H
#define PP_LOG_H

#include <stddef.h>

__attribute__((format(printf, 2, 3)))
void log_msg(const char *level, const char *fmt, ...);
#define log_info(...) log_msg("info", __VA_ARGS__)
#define log_warn(...) log_msg("warn", __VA_ARGS__)
#define log_error(...) log_msg("error", __VA_ARGS__)

/* Writes `{"ts":"<UTC time>","level":"<level>"` into out; returns its
 * length. Callers append fields and the closing brace. */
size_t log_begin(char *out, size_t cap, const char *level);

/* Writes a pre-built JSON object (without newline) as one line, after any
 * lines log_line_batched gathered. */
void log_line(const char *json, size_t len);

/* The same for high-rate lines (one per request): the line is gathered with
 * others and written with them when flush is set, when the gathered lines
 * fill 32 KiB, or when the oldest has waited 50 ms (checked at each call and
 * by the main thread's periodic log_flush).
 * Callers pass flush when nothing else is in progress, so an idle server
 * writes each line at once; a crash can lose what is gathered. */
void log_line_batched(const char *json, size_t len, int flush);

/* How often the program's main thread calls log_flush, so a gathered line
 * waits at most about this long even when no later line comes. */
#define LOG_FLUSH_MS 50

/* Writes out gathered lines (from the main thread's wait, and at shutdown). */
void log_flush(void);

/* Appends s to out as JSON string content (no quotes), escaping as needed;
 * returns the new length (bounded by cap - 1, always NUL-terminated). */
size_t log_escape(char *out, size_t len, size_t cap, const char *s);

#endif
