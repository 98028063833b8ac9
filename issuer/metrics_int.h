/* Shared by the metrics files: a growable text buffer for rendering. */
#ifndef PP_METRICS_INT_H
#define PP_METRICS_INT_H

#include <stddef.h>

struct met_buf {
	char *p;
	size_t len, cap;
	int oom;      /* set once an allocation failed; later writes are dropped */
};

/* Appends formatted text, growing the buffer. */
__attribute__((format(printf, 2, 3)))
void met_buf_printf(struct met_buf *b, const char *fmt, ...);

/* Appends the per-client families (metrics_clients.c). */
void met_clients_render_into(struct met_buf *b);

#endif
