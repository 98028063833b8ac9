/* Structured logging: one JSON object per line on stderr, written with a
 * single write(2) so lines from different threads never interleave.
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

/* Writes a pre-built JSON object (without newline) as one line. */
void log_line(const char *json, size_t len);

/* Appends s to out as JSON string content (no quotes), escaping as needed;
 * returns the new length (bounded by cap - 1, always NUL-terminated). */
size_t log_escape(char *out, size_t len, size_t cap, const char *s);

#endif
