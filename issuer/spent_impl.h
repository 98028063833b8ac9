/* Private to issuer/spent*.c: the table each spent-store backend fills.
 * spent.c owns the shared part (argument checks, the shutdown gate, the
 * answer counters); a backend only does the storage work. */
#ifndef PP_SPENT_IMPL_H
#define PP_SPENT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "issuer/spent.h"

struct spent_ops {
	const char *name;
	/* 0, PP_ERR_SPENT or PP_ERR_UNAVAILABLE */
	int (*check_and_record)(void *impl, const uint8_t *key_id,
				const uint8_t *nonce, int64_t expires_at);
	/* Calls done(arg, rc) exactly once, maybe before returning. */
	void (*submit)(void *impl, const uint8_t *key_id, const uint8_t *nonce,
		       int64_t expires_at, void (*done)(void *arg, int rc),
		       void *arg);
	/* 0 (absent), PP_ERR_SPENT or PP_ERR_UNAVAILABLE */
	int (*contains)(void *impl, const uint8_t *key_id, const uint8_t *nonce);
	int (*drop_key)(void *impl, const uint8_t *key_id, uint64_t *removed);
	int (*purge_expired)(void *impl, int64_t now, uint64_t *removed);
	/* Adds the backend's own counters (commits, reconnects, ...) to out. */
	void (*stats)(void *impl, struct spent_stats *out);
	/* Called once no caller is inside the backend any more. */
	void (*stop)(void *impl);
	void (*free)(void *impl);
};

int spent_lmdb_open(const struct spent_config *cfg, void **impl, char *err,
		    size_t errlen);
int spent_redis_open(const struct spent_config *cfg, void **impl, char *err,
		     size_t errlen);
extern const struct spent_ops spent_lmdb_ops;
extern const struct spent_ops spent_redis_ops;

/* Writes a message into err unless one is already there (first error wins). */
void spent_err_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void spent_hex(const uint8_t *in, size_t n, char *out);

#endif
