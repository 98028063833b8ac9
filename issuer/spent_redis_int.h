/* Private to issuer/spent_redis*.c: failure classification and the
 * durability check (spent_redis_health.c) that the connection code in
 * spent_redis.c calls. */
#ifndef PP_SPENT_REDIS_INT_H
#define PP_SPENT_REDIS_INT_H

#include <hiredis.h>

#include "issuer/spent_impl.h"

/* What the connection code knows when it reports. */
struct rd_where {
	struct spent_status *st;
	const char *host;
	int port;
	unsigned timeout_ms;
	int allow_volatile;
};

/* Reports a failed connect or command: r NULL means the connection failed
 * (ctx->err, with err_no the errno right after the call), else r is the
 * error (or unexpected) reply. what: "connecting", "recording a
 * redemption", ... */
void rd_report(const struct rd_where *w, const redisContext *ctx,
	       const redisReply *r, int err_no, const char *what);

/* Reads the server's role and persistence over a fresh connection (INFO
 * replication, INFO persistence, CONFIG GET appendfsync). Returns 0 when a
 * 200 may rely on it (AOF on with appendfsync always or everysec, or
 * appendfsync unknown because CONFIG is refused, which is logged), or when
 * allow_volatile is set (logged too). Else reports SPENT_CAUSE_VOLATILE (or
 * READONLY for a replica) with what to change and returns
 * PP_ERR_UNAVAILABLE. */
int rd_durability_check(const struct rd_where *w, redisContext *ctx);

#endif
