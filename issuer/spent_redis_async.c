/* The Redis store's I/O thread: every per-redemption command (SET NX,
 * EXISTS, the probe) goes through it, so an HTTP loop thread that submits
 * one only takes a lock, appends to a list and writes an eventfd.
 *
 * The thread owns one async hiredis connection (spent_redis_conn.c) and
 * pipelines: whatever is queued when it wakes is written in one go, and the
 * replies are matched in order. Each request carries a deadline of
 * timeout_ms from its submission, which the thread enforces:
 *   - the oldest command on the wire past its deadline fails it and every
 *     command behind it (PP_ERR_UNAVAILABLE, cause "timeout"), drops the
 *     connection and reconnects; a command whose reply did not come is
 *     never answered "recorded" (it may still have been applied: the client
 *     retries and gets "spent", never a second "valid");
 *   - a connect or hand-shake that does not finish in time fails the same
 *     way, with the requests waiting for it.
 * A lost connection fails what was on it. After any connection failure new
 * requests fail at once for a short back-off (longer when the server
 * refused us: AUTH, SELECT, durability), as the blocking pool does; the
 * probe (about once a second while unhealthy) ignores the back-off, which
 * is how an idle store finds Redis again. An error reply (OOM, READONLY,
 * MISCONF, ...) fails its own request only; the connection then takes no
 * new commands and is replaced once its last reply came, so the next
 * requests run on a connection whose hand-shake was checked again.
 *
 * Requests queued or in flight are bounded by RD_QUEUE_MAX; past it
 * spent_submit answers PP_ERR_UNAVAILABLE at once (and a warning is
 * logged), so a stalled Redis cannot make the issuer hold unbounded memory.
 *
 * Every done runs on this thread (or, for an immediate refusal, in the
 * submitter). Stopping answers what is left, closes the connection and
 * joins the thread; spent.c stops only once nothing is pending. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/spent_redis_int.h"

#define RD_PROBE_PX "60000"          /* the probe key's lifetime */

struct rd_req {
	struct rd_req *next;
	enum rd_kind kind;
	size_t klen;
	int64_t expires_at;
	long long deadline_ms;       /* monotonic */
	void (*done)(void *arg, int rc);
	void *arg;
	int *lost;
	char key[RD_KEY_MAX];
};

struct rd_fifo {
	struct rd_req *head, *tail;
};

enum rd_state { RD_DOWN, RD_HANDSHAKE, RD_READY };

struct rd_io {
	struct rd_store *s;
	int wake_fd;
	pthread_t thread;
	/* submitted requests, newest first: pushed without a lock, so a
	 * submitter never waits for a thread that was preempted holding one */
	_Atomic(struct rd_req *) incoming;
	atomic_int stopping;
	atomic_uint pending;         /* submitted, not yet answered */
	/* the I/O thread's own */
	struct rd_ev ev;
	enum rd_state state;
	struct rd_fifo waiting;      /* not sent yet */
	struct rd_fifo inflight;     /* sent, in reply order */
	long long conn_deadline;     /* of the connect and hand-shake */
	long long backoff_until;
	int failed;                  /* the connection failed (reported) */
	long long fail_backoff;
	int dropping;                /* we are freeing it */
	int stale;                   /* no new commands; replace when idle */
	int counted;                 /* in s->live */
};

static void rd_fifo_push(struct rd_fifo *f, struct rd_req *r)
{
	r->next = NULL;
	if (f->tail != NULL)
		f->tail->next = r;
	else
		f->head = r;
	f->tail = r;
}

static struct rd_req *rd_fifo_pop(struct rd_fifo *f)
{
	struct rd_req *r = f->head;

	if (r != NULL) {
		f->head = r->next;
		if (f->head == NULL)
			f->tail = NULL;
		r->next = NULL;
	}
	return r;
}

/* Appends b to a and empties b. */
static void rd_fifo_splice(struct rd_fifo *a, struct rd_fifo *b)
{
	if (b->head == NULL)
		return;
	if (a->tail != NULL)
		a->tail->next = b->head;
	else
		a->head = b->head;
	a->tail = b->tail;
	b->head = NULL;
	b->tail = NULL;
}

static const char *rd_what(const struct rd_req *r)
{
	switch (r->kind) {
	case RD_SET:
		return "recording a redemption";
	case RD_EXISTS:
		return "looking up a token";
	default:
		return "probing whether writes work again";
	}
}

/* Answers one request and frees it. */
static void rd_req_answer(struct rd_io *io, struct rd_req *r, int rc, int lost)
{
	if (r->lost != NULL)
		*r->lost = lost;
	r->done(r->arg, rc);
	free(r);
	atomic_fetch_sub(&io->pending, 1);
}

static void rd_fail_all(struct rd_io *io, struct rd_fifo *f)
{
	struct rd_req *r;

	while ((r = rd_fifo_pop(f)) != NULL)
		rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
}

/* Closes the connection after a failure that was reported; its commands
 * get their NULL replies (and PP_ERR_UNAVAILABLE) inside. Also safe from
 * a reply callback (hiredis then frees it once the callback returned). */
static void rd_io_drop(struct rd_io *io, long long backoff_ms)
{
	if (io->ev.ac == NULL || io->dropping)
		return;
	if (!io->failed) {
		io->failed = 1;
		io->fail_backoff = backoff_ms;
	}
	io->dropping = 1;
	redisAsyncFree(io->ev.ac);
}

/* After hiredis let go of the context: the waiting requests fail with the
 * connection when it failed (they would otherwise wait out a reconnect
 * that is likely to fail too), and new ones fail fast for the back-off. */
static void rd_io_after_gone(struct rd_io *io)
{
	if (io->state == RD_DOWN || io->ev.ac != NULL)
		return;
	if (io->inflight.head != NULL)
		abort();   /* hiredis answers every command before cleanup */
	if (io->counted) {
		io->counted = 0;
		rd_live_add(io->s, -1);
	}
	io->state = RD_DOWN;
	if (io->failed) {
		io->backoff_until = rd_now_ms() + io->fail_backoff;
		rd_fail_all(io, &io->waiting);
	}
	io->failed = 0;
	io->dropping = 0;
	io->stale = 0;
}

/* The answer a reply gives; an unexpected one is reported and makes the
 * connection stale. */
static int rd_reply_rc(struct rd_io *io, redisAsyncContext *ac,
		       const struct rd_req *r, const redisReply *rep, int err_no)
{
	struct spent_status *st = io->s->where.st;

	switch (r->kind) {
	case RD_SET:
		if (rep->type == REDIS_REPLY_NIL) {
			/* "spent" is a write the server took too (it answered
			 * the NX) */
			spent_status_ok(st);
			return PP_ERR_SPENT;
		}
		if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
			spent_status_ok(st);
			return 0;
		}
		break;
	case RD_EXISTS:
		if (rep->type == REDIS_REPLY_INTEGER)
			return rep->integer > 0 ? PP_ERR_SPENT : 0;
		break;
	default:
		if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
			spent_status_ok(st);
			return 0;
		}
		break;
	}
	rd_report(&io->s->where, &ac->c, rep, err_no, rd_what(r));
	io->stale = 1;
	return PP_ERR_UNAVAILABLE;
}

static void rd_cmd_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	int err_no = errno;
	struct rd_io *io = ((struct rd_ev *)ac->data)->owner;
	struct rd_req *r = rd_fifo_pop(&io->inflight);

	if (r == NULL || r != privdata)
		abort();   /* replies out of order: hiredis broke */
	if (reply == NULL) {
		if (!io->failed && ac->c.err != 0) {
			rd_report(&io->s->where, &ac->c, NULL, err_no, rd_what(r));
			io->failed = 1;
			io->fail_backoff = RD_BACKOFF_MS;
		}
		rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 1);
		return;
	}
	rd_req_answer(io, r, rd_reply_rc(io, ac, r, reply, err_no), 0);
}

/* The hand-shake ended (called inside hiredis). */
static void rd_io_hs_done(void *ctx, enum rd_hs_end end)
{
	struct rd_io *io = ctx;

	switch (end) {
	case RD_HS_OK:
		io->state = RD_READY;
		io->counted = 1;
		atomic_fetch_add(&io->s->reconnects, 1);
		rd_live_add(io->s, 1);
		break;
	case RD_HS_REFUSED:
		rd_io_drop(io, RD_VOLATILE_BACKOFF_MS);
		break;
	default:
		/* the context is already going; it was reported (or we
		 * closed it ourselves) */
		if (!io->failed) {
			io->failed = 1;
			io->fail_backoff = RD_BACKOFF_MS;
		}
		break;
	}
}

static int rd_send(struct rd_io *io, struct rd_req *r)
{
	redisAsyncContext *ac = io->ev.ac;

	switch (r->kind) {
	case RD_SET:
		if (r->expires_at == SPENT_NO_EXPIRY)
			return redisAsyncCommand(ac, rd_cmd_cb, r, "SET %b 1 NX",
						 r->key, r->klen);
		return redisAsyncCommand(ac, rd_cmd_cb, r, "SET %b 1 NX EXAT %lld",
					 r->key, r->klen, (long long)r->expires_at);
	case RD_EXISTS:
		return redisAsyncCommand(ac, rd_cmd_cb, r, "EXISTS %b", r->key,
					 r->klen);
	default:
		return redisAsyncCommand(ac, rd_cmd_cb, r, "SET %b 1 PX " RD_PROBE_PX,
					 r->key, r->klen);
	}
}

/* Moves what can move: connects for waiting requests (or fails them inside
 * a back-off), sends them on a ready connection, replaces a stale one. */
static void rd_io_progress(struct rd_io *io)
{
	struct rd_req *r;

	if (io->state == RD_READY && io->stale && io->inflight.head == NULL &&
	    !io->dropping) {
		io->dropping = 1;   /* not a failure: no back-off */
		redisAsyncFree(io->ev.ac);
		rd_io_after_gone(io);
	}
	if (io->state == RD_DOWN && io->waiting.head != NULL) {
		if (rd_now_ms() < io->backoff_until) {
			rd_fail_all(io, &io->waiting);
			return;
		}
		io->failed = 0;
		io->dropping = 0;
		io->stale = 0;
		io->conn_deadline = rd_now_ms() + io->s->timeout_ms;
		if (rd_conn_open(io->s, &io->ev, rd_io_hs_done, io) == NULL) {
			io->backoff_until = rd_now_ms() + RD_BACKOFF_MS;
			rd_fail_all(io, &io->waiting);
			return;
		}
		io->ev.owner = io;
		io->state = RD_HANDSHAKE;
	}
	if (io->state != RD_READY || io->stale)
		return;
	while ((r = rd_fifo_pop(&io->waiting)) != NULL) {
		if (rd_send(io, r) != REDIS_OK) {
			rd_report(&io->s->where, &io->ev.ac->c, NULL, ENOMEM, rd_what(r));
			rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
			continue;
		}
		rd_fifo_push(&io->inflight, r);
	}
}

/* Enforces the deadlines. */
static void rd_io_expire(struct rd_io *io)
{
	long long now = rd_now_ms();
	struct rd_req *r;
	int reported = 0;

	if (io->state == RD_HANDSHAKE && now >= io->conn_deadline &&
	    !io->dropping) {
		rd_report_timeout(&io->s->where, "connecting");
		io->failed = 1;
		io->fail_backoff = RD_BACKOFF_MS;
		rd_io_drop(io, RD_BACKOFF_MS);
		reported = 1;
	} else if (io->state == RD_READY && io->inflight.head != NULL &&
		   now >= io->inflight.head->deadline_ms && !io->dropping) {
		rd_report_timeout(&io->s->where, rd_what(io->inflight.head));
		io->failed = 1;
		io->fail_backoff = RD_BACKOFF_MS;
		rd_io_drop(io, RD_BACKOFF_MS);
		reported = 1;
	}
	rd_io_after_gone(io);
	/* requests that waited for a connection (a stale one being replaced)
	 * as long as they may */
	while (io->waiting.head != NULL && now >= io->waiting.head->deadline_ms) {
		r = rd_fifo_pop(&io->waiting);
		if (!reported)
			rd_report_timeout(&io->s->where, rd_what(r));
		reported = 1;
		rd_req_answer(io, r, PP_ERR_UNAVAILABLE, 0);
	}
}

/* How long poll may sleep: until the next deadline, or for ever. */
static int rd_io_timeout(const struct rd_io *io)
{
	long long next = -1, now;

	if (io->state == RD_HANDSHAKE)
		next = io->conn_deadline;
	if (io->inflight.head != NULL &&
	    (next < 0 || io->inflight.head->deadline_ms < next))
		next = io->inflight.head->deadline_ms;
	if (io->waiting.head != NULL &&
	    (next < 0 || io->waiting.head->deadline_ms < next))
		next = io->waiting.head->deadline_ms;
	if (next < 0)
		return -1;
	now = rd_now_ms();
	if (next <= now)
		return 0;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

/* Takes every submitted request, in submission order, onto waiting. */
static void rd_io_take(struct rd_io *io)
{
	struct rd_req *r = atomic_exchange(&io->incoming, NULL), *next;
	struct rd_fifo got = { NULL, NULL };

	got.tail = r;
	while (r != NULL) {          /* newest first: reverse */
		next = r->next;
		r->next = got.head;
		got.head = r;
		if (r->kind == RD_PROBE)
			io->backoff_until = 0;   /* the probe retries a connect */
		r = next;
	}
	rd_fifo_splice(&io->waiting, &got);
}

static void *rd_io_main(void *arg)
{
	struct rd_io *io = arg;
	uint64_t v;
	int woke = 1;

	for (;;) {
		if (woke && read(io->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			abort();   /* an eventfd read cannot fail otherwise */
		if (atomic_load(&io->stopping))
			break;
		rd_io_take(io);
		rd_io_expire(io);
		rd_io_progress(io);
		rd_io_after_gone(io);
		woke = rd_ev_wait(&io->ev, io->wake_fd, rd_io_timeout(io));
		rd_io_after_gone(io);
	}
	/* stopping: nothing new gets in; answer what is left */
	rd_io_take(io);
	rd_fail_all(io, &io->waiting);
	if (io->ev.ac != NULL) {
		io->failed = 1;          /* not a failure to report */
		io->fail_backoff = 0;
		io->dropping = 1;
		redisAsyncFree(io->ev.ac);
	}
	rd_io_after_gone(io);
	return NULL;
}

void rd_io_submit(struct rd_store *s, enum rd_kind kind, const char *key,
		  size_t klen, int64_t expires_at,
		  void (*done)(void *arg, int rc), void *arg, int *lost)
{
	struct rd_io *io = s->io;
	struct rd_req *r, *old;
	uint64_t one = 1;

	if (lost != NULL)
		*lost = 0;
	if (io == NULL || klen > sizeof(r->key))
		goto refuse;
	if (atomic_fetch_add(&io->pending, 1) >= RD_QUEUE_MAX) {
		atomic_fetch_sub(&io->pending, 1);
		spent_status_warn(s->where.st, RD_WARN_QUEUE_FULL,
				  "%u redis requests are queued or in flight; "
				  "answering 503 until Redis catches up (is it slow, "
				  "or redis-timeout-ms too long for this load?)",
				  RD_QUEUE_MAX);
		goto refuse;
	}
	r = malloc(sizeof(*r));
	if (r == NULL) {
		atomic_fetch_sub(&io->pending, 1);
		goto refuse;
	}
	r->kind = kind;
	memcpy(r->key, key, klen);
	r->klen = klen;
	r->expires_at = expires_at;
	r->done = done;
	r->arg = arg;
	r->lost = lost;
	/* spent.c lets nobody in once stopping: this only catches misuse */
	if (atomic_load(&io->stopping)) {
		free(r);
		atomic_fetch_sub(&io->pending, 1);
		goto refuse;
	}
	/* deadlines of concurrent submitters may be a few microseconds out
	 * of list order; the thread checks the oldest on the wire */
	r->deadline_ms = rd_now_ms() + s->timeout_ms;
	old = atomic_load(&io->incoming);
	do
		r->next = old;
	while (!atomic_compare_exchange_weak(&io->incoming, &old, r));
	/* the thread reads the eventfd before it takes the list, so a push
	 * onto an empty list always finds it awake or wakes it */
	if (old == NULL && write(io->wake_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		abort();
	return;

refuse:
	done(arg, PP_ERR_UNAVAILABLE);
}

int rd_io_on_thread(const struct rd_store *s)
{
	return s->io != NULL && pthread_equal(pthread_self(), s->io->thread);
}

unsigned rd_io_pending(struct rd_store *s)
{
	return s->io != NULL ? atomic_load(&s->io->pending) : 0;
}

int rd_io_start(struct rd_store *s)
{
	struct rd_io *io = calloc(1, sizeof(*io));

	if (io == NULL)
		return PP_ERR_NOMEM;
	io->s = s;
	io->ev.fd = -1;
	io->ev.owner = io;
	atomic_init(&io->pending, 0);
	atomic_init(&io->incoming, NULL);
	atomic_init(&io->stopping, 0);
	io->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->wake_fd < 0) {
		free(io);
		return PP_ERR_INTERNAL;
	}
	if (pthread_create(&io->thread, NULL, rd_io_main, io) != 0) {
		close(io->wake_fd);
		free(io);
		return PP_ERR_INTERNAL;
	}
	s->io = io;
	return 0;
}

void rd_io_stop(struct rd_store *s)
{
	struct rd_io *io = s->io;
	uint64_t one = 1;

	if (io == NULL)
		return;
	atomic_store(&io->stopping, 1);
	if (write(io->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort();
	pthread_join(io->thread, NULL);
	/* a push that raced the thread's last look (misuse: spent.c stops
	 * only when nobody is inside) */
	rd_io_take(io);
	rd_fail_all(io, &io->waiting);
	close(io->wake_fd);
	free(io);
	s->io = NULL;
}
