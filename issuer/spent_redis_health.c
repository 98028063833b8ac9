/* The Redis store's failures, named so an operator can act on them, and
 * the check that the server can keep what it acknowledges.
 *
 * Durability, as decided here: a 200 is sent after Redis answered the SET.
 * With AOF and appendfsync always, Redis fsyncs the AOF before it replies,
 * so the record survives a crash of Redis or of the host. With everysec it
 * write(2)s the AOF before replying (the record survives a kill -9 of the
 * Redis process, being in the page cache) and fsyncs about once a second,
 * so a power failure or kernel crash can lose up to about a second of
 * records (Redis may also hold back the write for up to 2 s while a slow
 * fsync is still running, so a process crash on an overloaded disk can lose
 * those too). With appendfsync no, or without AOF (RDB snapshots only, or
 * nothing), a crash loses everything since the last snapshot: refused
 * unless allow_volatile. Replication is asynchronous: with min_replicas 0
 * (WAIT not used) a failover to a replica can lose the last acknowledged
 * records; with min_replicas N every 0 waits for WAIT to see N replicas
 * holding the record (spent_redis_async.c). A replica itself is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/pp_err.h"
#include "issuer/spent_redis_int.h"

static int rd_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The cause of an error reply, by its code word. */
static enum spent_cause rd_reply_cause(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ERROR || r->str == NULL)
		return SPENT_CAUSE_ERROR;
	if (rd_starts(r->str, "NOAUTH") || rd_starts(r->str, "WRONGPASS") ||
	    rd_starts(r->str, "NOPERM") || rd_starts(r->str, "ERR AUTH") ||
	    rd_starts(r->str, "ERR invalid password"))
		return SPENT_CAUSE_AUTH;
	if (rd_starts(r->str, "OOM"))
		return SPENT_CAUSE_OOM;
	if (rd_starts(r->str, "READONLY"))
		return SPENT_CAUSE_READONLY;
	if (rd_starts(r->str, "MISCONF"))
		return SPENT_CAUSE_MISCONF;
	return SPENT_CAUSE_ERROR;
}

static enum spent_cause rd_ctx_cause(const redisContext *ctx, int err_no)
{
	if (ctx == NULL)
		return SPENT_CAUSE_ERROR;   /* out of memory in hiredis */
	switch (ctx->err) {
	case REDIS_ERR_EOF:
		return SPENT_CAUSE_DISCONNECTED;
	case REDIS_ERR_IO:
		if (err_no == EAGAIN || err_no == EWOULDBLOCK ||
		    err_no == ETIMEDOUT || err_no == EINPROGRESS)
			return SPENT_CAUSE_TIMEOUT;
		if (err_no == ECONNREFUSED || err_no == EHOSTUNREACH ||
		    err_no == ENETUNREACH || err_no == EHOSTDOWN ||
		    err_no == EADDRNOTAVAIL)
			return SPENT_CAUSE_REFUSED;
		return SPENT_CAUSE_DISCONNECTED;
	case REDIS_ERR_OTHER:
		/* hiredis 0.14: name resolution and connect set-up failures */
		return SPENT_CAUSE_REFUSED;
	default:
		return SPENT_CAUSE_ERROR;
	}
}

static void rd_report_timeout_errno(const struct rd_where *w,
				    const char *what, int err_no)
{
	spent_status_fail(w->st, SPENT_CAUSE_TIMEOUT, err_no,
			  "redis at %s:%d did not answer within %u ms while %s; "
			  "check the network and whether Redis is stalled (slow "
			  "disk, a long command), or raise redis-timeout-ms",
			  w->host, w->port, w->timeout_ms, what);
}

void rd_report_timeout(const struct rd_where *w, const char *what)
{
	rd_report_timeout_errno(w, what, ETIMEDOUT);
}

void rd_report(const struct rd_where *w, const redisContext *ctx,
	       const redisReply *r, int err_no, const char *what)
{
	enum spent_cause cause;
	const char *text;

	if (r != NULL) {
		cause = rd_reply_cause(r);
		text = r->type == REDIS_REPLY_ERROR && r->str != NULL ? r->str :
		       "an unexpected reply";
	} else {
		cause = rd_ctx_cause(ctx, err_no);
		text = ctx != NULL && ctx->errstr[0] != '\0' ? ctx->errstr :
		       "out of memory";
		err_no = ctx != NULL && ctx->err == REDIS_ERR_IO ? err_no : 0;
	}
	switch (cause) {
	case SPENT_CAUSE_REFUSED:
		spent_status_fail(w->st, cause, err_no,
				  "cannot reach redis at %s:%d while %s (%s); start Redis "
				  "or fix redis-host/redis-port; redemptions answer 503 "
				  "until it is back", w->host, w->port, what, text);
		break;
	case SPENT_CAUSE_TIMEOUT:
		rd_report_timeout_errno(w, what, err_no);
		break;
	case SPENT_CAUSE_DISCONNECTED:
		spent_status_fail(w->st, cause, err_no,
				  "lost the connection to redis at %s:%d while %s (%s); "
				  "it reconnects on the next request; check whether Redis "
				  "restarted or a proxy closes idle connections",
				  w->host, w->port, what, text);
		break;
	case SPENT_CAUSE_AUTH:
		spent_status_fail(w->st, cause, 0,
				  "redis at %s:%d refused us while %s (%s); set "
				  "redis-password (or PPISSUER_REDIS_PASSWORD) to the "
				  "server's requirepass, and give its user +set +exists "
				  "+scan +unlink +info", w->host, w->port, what, text);
		break;
	case SPENT_CAUSE_OOM:
		spent_status_fail(w->st, cause, 0,
				  "redis at %s:%d is out of memory while %s (%s); raise "
				  "maxmemory, and use maxmemory-policy noeviction (an "
				  "evicting policy would drop spent records)",
				  w->host, w->port, what, text);
		break;
	case SPENT_CAUSE_READONLY:
		spent_status_fail(w->st, cause, 0,
				  "redis at %s:%d refuses writes while %s (%s); point "
				  "redis-host at the master", w->host, w->port, what, text);
		break;
	case SPENT_CAUSE_MISCONF:
		spent_status_fail(w->st, cause, 0,
				  "redis at %s:%d stopped accepting writes because its "
				  "own persistence fails while %s (%s); free disk space "
				  "for Redis and check its log", w->host, w->port, what,
				  text);
		break;
	default:
		spent_status_fail(w->st, cause, 0,
				  "redis at %s:%d answered an error while %s (%s)",
				  w->host, w->port, what, text);
		break;
	}
}

/* The value of "name:" in an INFO reply, copied into out (or "" if absent). */
static void rd_info_field(const char *info, const char *name, char *out,
			  size_t cap)
{
	size_t n = strlen(name), len;
	const char *p = info;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			len = strcspn(p, "\r\n");
			if (len >= cap)
				len = cap - 1;
			memcpy(out, p, len);
			out[len] = '\0';
			return;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
}


/* Whether r is INFO text; else reports it (or the failed connection). */
static int rd_info_ok(const struct rd_where *w, const redisContext *ctx,
		      const redisReply *r, int err_no)
{
	if (r != NULL && r->type == REDIS_REPLY_STRING && r->str != NULL)
		return 1;
	rd_report(w, ctx, r, err_no, "reading INFO at connect");
	return 0;
}

int rd_durability_replication(const struct rd_where *w,
			      const redisContext *ctx, const redisReply *r,
			      int err_no, struct rd_durability *d)
{
	if (!rd_info_ok(w, ctx, r, err_no))
		return PP_ERR_UNAVAILABLE;
	rd_info_field(r->str, "role", d->role, sizeof(d->role));
	rd_info_field(r->str, "connected_slaves", d->slaves, sizeof(d->slaves));
	return 0;
}

int rd_durability_persistence(const struct rd_where *w,
			      const redisContext *ctx, const redisReply *r,
			      int err_no, struct rd_durability *d)
{
	if (!rd_info_ok(w, ctx, r, err_no))
		return PP_ERR_UNAVAILABLE;
	rd_info_field(r->str, "aof_enabled", d->aof, sizeof(d->aof));
	rd_info_field(r->str, "loading", d->loading, sizeof(d->loading));
	return 0;
}

/* appendfsync as CONFIG GET tells it, or "" when CONFIG is refused
 * (renamed, or not permitted for this user): reason gets the reply. */
void rd_durability_appendfsync(const redisReply *r, struct rd_durability *d)
{
	d->fsync[0] = '\0';
	snprintf(d->reason, sizeof(d->reason), "no answer");
	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING)
		snprintf(d->fsync, sizeof(d->fsync), "%s", r->element[1]->str);
	else if (r->type == REDIS_REPLY_ERROR && r->str != NULL)
		snprintf(d->reason, sizeof(d->reason), "%s", r->str);
	else
		snprintf(d->reason, sizeof(d->reason), "an unexpected reply");
}

/* A replica is refused; replicas of a master are worth a warning. */
static int rd_judge_role(const struct rd_where *w, const struct rd_durability *d)
{
	if (strcmp(d->role, "slave") == 0) {
		spent_status_fail(w->st, SPENT_CAUSE_READONLY, 0,
				  "redis at %s:%d is a replica (role:slave): records "
				  "written there do not reach the master; point redis-host "
				  "at the master", w->host, w->port);
		return PP_ERR_UNAVAILABLE;
	}
	if (atoi(d->slaves) > 0 && w->min_replicas == 0)
		spent_status_warn(w->st, RD_WARN_REPLICAS,
				  "redis at %s:%d has %d replica(s); replication is "
				  "asynchronous and redis-min-replicas is 0 (WAIT not "
				  "used), so a failover can lose the last acknowledged "
				  "records",
				  w->host, w->port, atoi(d->slaves));
	return 0;
}

int rd_durability_judge(const struct rd_where *w, const struct rd_durability *d)
{
	const char *aof = d->aof, *fsync = d->fsync;

	if (rd_judge_role(w, d) != 0)
		return PP_ERR_UNAVAILABLE;
	if (strcmp(d->loading, "1") == 0) {
		/* a restarted Redis reports aof_enabled:0 until its AOF is
		 * loaded: not a volatile server, only not ready yet */
		spent_status_fail(w->st, SPENT_CAUSE_ERROR, 0,
				  "redis at %s:%d is loading its data set after a "
				  "restart; redemptions answer 503 until it is done",
				  w->host, w->port);
		return RD_DURABILITY_LOADING;
	}
	if (strcmp(aof, "1") != 0) {
		if (w->allow_volatile) {
			spent_status_warn(w->st, RD_WARN_VOLATILE_ALLOWED,
					  "redis at %s:%d keeps no append-only file "
					  "(aof_enabled:%s) and redis-allow-volatile is set: a "
					  "crash or restart of Redis forgets redeemed tokens, "
					  "which are then accepted again", w->host, w->port,
					  aof[0] ? aof : "?");
			return 0;
		}
		spent_status_fail(w->st, SPENT_CAUSE_VOLATILE, 0,
				  "redis at %s:%d keeps no append-only file "
				  "(aof_enabled:%s), so a crash or restart of Redis forgets "
				  "redeemed tokens and they would be accepted again; set "
				  "\"appendonly yes\" and \"appendfsync always\" (or "
				  "\"everysec\") in redis.conf (or CONFIG SET appendonly yes), "
				  "or start ppissuer with --redis-allow-volatile to accept "
				  "the risk", w->host, w->port, aof[0] ? aof : "?");
		return PP_ERR_UNAVAILABLE;
	}
	if (fsync[0] == '\0') {
		spent_status_warn(w->st, RD_WARN_CONFIG,
				  "cannot read appendfsync of redis at %s:%d: CONFIG GET "
				  "answered \"%s\" (CONFIG renamed, or not permitted for "
				  "this user); AOF is on, appendfsync is unknown: make sure "
				  "it is \"always\" or \"everysec\" (the default), not \"no\"",
				  w->host, w->port, d->reason);
		return 0;
	}
	if (strcasecmp(fsync, "always") == 0)
		return 0;
	if (strcasecmp(fsync, "everysec") == 0) {
		/* accepted (Redis's default), but not "loses nothing" */
		spent_status_warn(w->st, RD_WARN_EVERYSEC,
				  "redis at %s:%d has appendfsync everysec: a crash of "
				  "the host, or of Redis while a slow fsync holds back "
				  "its AOF writes, can forget tokens redeemed in the last "
				  "2 s, which would then be accepted again; set "
				  "\"appendfsync always\" to lose none", w->host, w->port);
		return 0;
	}
	if (w->allow_volatile) {
		spent_status_warn(w->st, RD_WARN_VOLATILE_ALLOWED,
				  "redis at %s:%d has appendfsync %s and "
				  "redis-allow-volatile is set: a crash of the host can "
				  "forget redeemed tokens", w->host, w->port, fsync);
		return 0;
	}
	spent_status_fail(w->st, SPENT_CAUSE_VOLATILE, 0,
			  "redis at %s:%d has appendfsync %s: the OS decides "
			  "when acknowledged records reach the disk, so a crash "
			  "can forget redeemed tokens; set \"appendfsync always\" "
			  "(or \"everysec\"), or start ppissuer with "
			  "--redis-allow-volatile to accept the risk",
			  w->host, w->port, fsync);
	return PP_ERR_UNAVAILABLE;
}

int rd_durability_check(const struct rd_where *w, redisContext *ctx)
{
	struct rd_durability d;
	redisReply *r;
	int rc;

	memset(&d, 0, sizeof(d));
	errno = 0;
	r = redisCommand(ctx, "INFO replication");
	rc = rd_durability_replication(w, ctx, r, errno, &d);
	if (r != NULL)
		freeReplyObject(r);
	if (rc != 0)
		return rc;
	/* a replica is refused before asking more */
	if (rd_judge_role(w, &d) != 0)
		return PP_ERR_UNAVAILABLE;
	errno = 0;
	r = redisCommand(ctx, "INFO persistence");
	rc = rd_durability_persistence(w, ctx, r, errno, &d);
	if (r != NULL)
		freeReplyObject(r);
	if (rc != 0)
		return rc;
	errno = 0;
	r = redisCommand(ctx, "CONFIG GET appendfsync");
	rd_durability_appendfsync(r, &d);
	if (r != NULL)
		freeReplyObject(r);
	if (ctx->err != 0) {
		rd_report(w, ctx, NULL, errno, "reading CONFIG GET appendfsync at connect");
		return PP_ERR_UNAVAILABLE;
	}
	/* the role was judged (and a replica warning given) above: judge the
	 * rest without warning twice */
	d.slaves[0] = '\0';
	return rd_durability_judge(w, &d);
}
