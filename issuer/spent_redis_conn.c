/* The Redis store's async connection: a non-blocking connect with hiredis's
 * async API, the hand-shake every new connection runs before it carries a
 * redemption, and the small event adapter that lets the I/O thread drive
 * hiredis with poll(2).
 *
 * Hand-shake: AUTH (when redis-password is set), SELECT (when redis-db is
 * not 0), INFO replication, INFO persistence and CONFIG GET appendfsync are
 * queued at once behind the connect and sent in one write; their replies
 * come in that order. The durability rules are spent_redis_health.c's, the
 * same the blocking connections apply.
 *
 * Adapter: hiredis calls addRead/delRead/addWrite/delWrite to say what it
 * waits for and cleanup when the context goes; rd_ev_wait polls the socket
 * for that (and the I/O thread's eventfd) and calls redisAsyncHandleRead /
 * redisAsyncHandleWrite. ac->data points at the rd_ev. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "issuer/spent_redis_int.h"

enum rd_step { RD_STEP_AUTH, RD_STEP_SELECT, RD_STEP_REPL, RD_STEP_PERS,
	       RD_STEP_FSYNC, RD_STEPS };

static const char *const rd_step_what[RD_STEPS] = {
	[RD_STEP_AUTH] = "authenticating",
	[RD_STEP_SELECT] = "selecting redis-db",
	[RD_STEP_REPL] = "reading INFO at connect",
	[RD_STEP_PERS] = "reading INFO at connect",
	[RD_STEP_FSYNC] = "reading CONFIG GET appendfsync at connect",
};

/* One hand-shake: lives until the last of its replies (or the NULL each
 * gets when the connection goes) has come. */
struct rd_hs {
	struct rd_store *s;
	const struct rd_where *w;   /* the node's, for reports */
	struct rd_ev *ev;
	void (*done)(void *ctx, enum rd_hs_end end);
	void *ctx;
	enum rd_step steps[RD_STEPS];
	unsigned n, at;        /* steps queued; the next reply's step */
	int ended;             /* done has run */
	struct rd_durability d;
};

/* ---- the adapter ---- */

static void rd_ev_add_read(void *p)
{
	((struct rd_ev *)p)->want_read = 1;
}

static void rd_ev_del_read(void *p)
{
	((struct rd_ev *)p)->want_read = 0;
}

static void rd_ev_add_write(void *p)
{
	((struct rd_ev *)p)->want_write = 1;
}

static void rd_ev_del_write(void *p)
{
	((struct rd_ev *)p)->want_write = 0;
}

/* hiredis frees the context right after this. */
static void rd_ev_cleanup(void *p)
{
	struct rd_ev *ev = p;

	ev->want_read = 0;
	ev->want_write = 0;
	ev->fd = -1;
	ev->ac = NULL;
}

static void rd_ev_attach(struct rd_ev *ev, redisAsyncContext *ac)
{
	ev->ac = ac;
	ev->fd = ac->c.fd;
	ev->want_read = 0;
	ev->want_write = 0;
	ev->connect_errno = 0;
	ac->ev.data = ev;
	ac->ev.addRead = rd_ev_add_read;
	ac->ev.delRead = rd_ev_del_read;
	ac->ev.addWrite = rd_ev_add_write;
	ac->ev.delWrite = rd_ev_del_write;
	ac->ev.cleanup = rd_ev_cleanup;
	ac->data = ev;
}

int rd_ev_wait(struct rd_ev *const *evs, unsigned n, int wake_fd,
	       int timeout_ms)
{
	struct pollfd p[RD_NODES_MAX + 1];
	unsigned i;
	int got;

	if (n > RD_NODES_MAX)
		abort();
	p[0].fd = wake_fd;
	p[0].events = POLLIN;
	p[0].revents = 0;
	for (i = 0; i < n; i++) {
		const struct rd_ev *ev = evs[i];
		short want = 0;

		if (ev->ac != NULL)
			want = (short)((ev->want_read ? POLLIN : 0) |
				       (ev->want_write ? POLLOUT : 0));
		/* a socket nobody waits on is left out: its HUP would spin
		 * the loop */
		p[i + 1].fd = want != 0 ? ev->fd : -1;
		p[i + 1].events = want;
		p[i + 1].revents = 0;
	}
	got = poll(p, n + 1, timeout_ms);
	if (got <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		struct rd_ev *ev = evs[i];
		short re = p[i + 1].revents;

		if (re == 0 || ev->ac == NULL)
			continue;
		if (ev->want_read && (re & (POLLIN | POLLERR | POLLHUP)))
			redisAsyncHandleRead(ev->ac);
		/* the read may have ended the context */
		if (ev->ac != NULL && ev->want_write &&
		    (re & (POLLOUT | POLLERR | POLLHUP)))
			redisAsyncHandleWrite(ev->ac);
	}
	return (p[0].revents & POLLIN) != 0;
}

/* ---- the hand-shake ---- */

static int rd_reply_is_ok(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STATUS &&
	       strcmp(r->str, "OK") == 0;
}

static void rd_hs_end(struct rd_hs *hs, enum rd_hs_end end)
{
	hs->ended = 1;
	hs->done(hs->ctx, end);
}

/* Takes the reply of one step; the last one decides. */
static void rd_hs_step(struct rd_hs *hs, redisAsyncContext *ac,
		       enum rd_step step, const redisReply *r, int err_no)
{
	const struct rd_where *w = hs->w;
	int rc = 0;

	if (r == NULL) {
		/* a connection we close ourselves (a timeout, a stop) was
		 * reported by whoever closed it */
		if (ac->c.err != 0) {
			if (hs->ev->connect_errno != 0)
				err_no = hs->ev->connect_errno;
			rd_report(w, &ac->c, NULL, err_no,
				  ac->c.flags & REDIS_CONNECTED ? rd_step_what[step] :
				  "connecting");
		}
		rd_hs_end(hs, RD_HS_FAILED);
		return;
	}
	switch (step) {
	case RD_STEP_AUTH:
	case RD_STEP_SELECT:
		if (!rd_reply_is_ok(r)) {
			rd_report(w, &ac->c, r, err_no, rd_step_what[step]);
			rc = PP_ERR_UNAVAILABLE;
		}
		break;
	case RD_STEP_REPL:
		rc = rd_durability_replication(w, &ac->c, r, err_no, &hs->d);
		break;
	case RD_STEP_PERS:
		rc = rd_durability_persistence(w, &ac->c, r, err_no, &hs->d);
		break;
	case RD_STEP_FSYNC:
		rd_durability_appendfsync(r, &hs->d);
		rc = rd_durability_judge(w, &hs->d);
		if (rc == 0) {
			rd_hs_end(hs, RD_HS_OK);
			return;
		}
		if (rc == RD_DURABILITY_LOADING) {
			rd_hs_end(hs, RD_HS_LOADING);
			return;
		}
		break;
	default:
		abort();
	}
	if (rc != 0)
		rd_hs_end(hs, RD_HS_REFUSED);
}

static void rd_hs_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	int err_no = errno;
	struct rd_hs *hs = privdata;
	enum rd_step step;

	if (hs->at >= hs->n)
		abort();   /* more replies than commands: hiredis broke */
	step = hs->steps[hs->at++];
	if (!hs->ended)
		rd_hs_step(hs, ac, step, reply, err_no);
	if (hs->at == hs->n)
		free(hs);
}

/* Keeps the socket error of a failed connect: the reply callbacks that
 * follow may see another errno. */
static void rd_on_connect(const redisAsyncContext *cac, int status)
{
	struct rd_ev *ev = cac->data;

	if (status != REDIS_OK) {
		ev->connect_errno = errno;
		return;
	}
	if (ev->ac != NULL)
		(void)redisEnableKeepAlive(&ev->ac->c);
}

/* Queues one step's command. */
static int rd_hs_queue(struct rd_hs *hs, redisAsyncContext *ac,
		       enum rd_step step)
{
	const struct rd_store *s = hs->s;
	int rc;

	hs->steps[hs->n++] = step;
	switch (step) {
	case RD_STEP_AUTH:
		rc = redisAsyncCommand(ac, rd_hs_cb, hs, "AUTH %s", s->password);
		break;
	case RD_STEP_SELECT:
		rc = redisAsyncCommand(ac, rd_hs_cb, hs, "SELECT %u", s->db);
		break;
	case RD_STEP_REPL:
		rc = redisAsyncCommand(ac, rd_hs_cb, hs, "INFO replication");
		break;
	case RD_STEP_PERS:
		rc = redisAsyncCommand(ac, rd_hs_cb, hs, "INFO persistence");
		break;
	default:
		rc = redisAsyncCommand(ac, rd_hs_cb, hs, "CONFIG GET appendfsync");
		break;
	}
	if (rc != REDIS_OK)
		hs->n--;
	return rc == REDIS_OK ? 0 : PP_ERR_NOMEM;
}

redisAsyncContext *rd_conn_open(struct rd_store *s, const struct rd_where *w,
				struct rd_ev *ev,
				void (*done)(void *ctx, enum rd_hs_end end),
				void *ctx)
{
	redisAsyncContext *ac;
	struct rd_hs *hs;
	int err_no;

	hs = calloc(1, sizeof(*hs));
	if (hs == NULL) {
		spent_status_fail(w->st, SPENT_CAUSE_ERROR, ENOMEM,
				  "out of memory connecting to redis at %s:%d",
				  w->host, w->port);
		return NULL;
	}
	errno = 0;
	ac = redisAsyncConnect(w->host, w->port);
	err_no = errno;
	if (ac == NULL || ac->err != 0) {
		rd_report(w, ac != NULL ? &ac->c : NULL, NULL, err_no,
			  "connecting");
		if (ac != NULL)
			redisAsyncFree(ac);
		free(hs);
		return NULL;
	}
	rd_ev_attach(ev, ac);
	(void)redisAsyncSetConnectCallback(ac, rd_on_connect);
	hs->s = s;
	hs->w = w;
	hs->ev = ev;
	hs->done = done;
	hs->ctx = ctx;
	if ((s->password != NULL && rd_hs_queue(hs, ac, RD_STEP_AUTH) != 0) ||
	    (s->db != 0 && !s->cluster &&
	     rd_hs_queue(hs, ac, RD_STEP_SELECT) != 0) ||
	    rd_hs_queue(hs, ac, RD_STEP_REPL) != 0 ||
	    rd_hs_queue(hs, ac, RD_STEP_PERS) != 0 ||
	    rd_hs_queue(hs, ac, RD_STEP_FSYNC) != 0) {
		spent_status_fail(w->st, SPENT_CAUSE_ERROR, ENOMEM,
				  "out of memory connecting to redis at %s:%d",
				  w->host, w->port);
		/* the steps queued so far get their NULL now and count down */
		hs->ended = 1;
		if (hs->n == 0) {
			free(hs);
			hs = NULL;
		}
		redisAsyncFree(ac);
		return NULL;
	}
	return ac;
}
