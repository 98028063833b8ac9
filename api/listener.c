#include "api/listener.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/iplimit.h"
#include "api/req.h"
#include "base/pp_err.h"
#include "issuer/log.h"

/* Connections the kernel completes before a thread accepts them. Thousands
 * of clients may reconnect at once (every connection of a crowd closed by the
 * request timeout together); past the backlog their SYNs are dropped and
 * retried only after a second, for a normal client among them too. The
 * kernel caps it at net.core.somaxconn. */
#define LIS_BACKLOG 4096
/* A full thread closes a connection to make room for a new one only when its
 * request has been arriving this long: a client's request normally arrives
 * in milliseconds, so only the slow ones are taken. */
#define LIS_EVICT_AGE_US 1000000u
/* The soft descriptor limit set at start when the hard one is unlimited. */
#define LIS_NOFILE_CAP 1048576u
/* Descriptors besides connections: listeners, stores, logs, key files. */
#define LIS_NOFILE_SPARE 64u
#define LIS_REPORT_US 10000000u

/* One connection, from the accept policy until libmicrohttpd closes it.
 *
 * The request deadline runs from the first byte of a request to its
 * completion. The first byte is seen through the thread's own epoll set, in
 * which each connection waiting for a request is armed once (EPOLLONESHOT)
 * for readability: at accept, and again when a request completes. An idle
 * keep-alive connection is never armed into a deadline, so it stays under
 * connection-timeout alone. A first byte libmicrohttpd reads before the loop
 * sees it (pipelined behind the previous request, or arriving while the
 * daemon gathers a burst of events) leaves nothing to report: the deadline
 * then starts at a later byte, late by a trickler's interval, never early. */
struct lis_conn {
	struct lis_conn *prev, *next;  /* in the thread's deadline list */
	struct MHD_Connection *conn;
	struct api_ipcount *ipc;       /* the per-address count it holds */
	uint64_t deadline;             /* api_now_us; 0 = not listed */
	int fd;
	int closing;                   /* shut down by the loop */
};

struct api_listener_thread {
	struct api_listener *l;
	struct MHD_Daemon *d;
	int mhd_epoll;               /* the daemon's epoll fd: readable when it has work */
	int wake;                    /* eventfd: resume, quiesce or stop */
	/* connections to resume, pushed by any thread (newest first); the
	 * push onto an empty list writes wake */
	_Atomic(struct api_resume *) resume;
	/* the same, pushed by this thread itself (a decision made inline) */
	struct api_resume *self_resume;
	/* work deferred by handlers of this thread (only it touches it) */
	struct api_dq dq;
	int first_ep;                /* epoll fd: a connection's request began */
	atomic_uint conns;           /* open connections of this thread's daemon */
	unsigned limit;              /* its share of the connection limit */
	uint64_t accept_pause_until; /* api_now_us; after running out of descriptors */
	struct lis_conn *pending;    /* counted by the accept policy, not yet
					adopted by a started connection */
	/* Requests arriving, by deadline. Every deadline is the moment it
	 * was set plus the same timeout, so appending keeps the order. Only
	 * this thread touches the list (and libmicrohttpd's callbacks, which
	 * run on it, or after it ended). */
	struct lis_conn *dl_head, *dl_tail;
	unsigned timed_out, evicted; /* since the last report */
	uint64_t next_report;
	pthread_t th;
	int running;
};

/* The loop thread running on this thread, if any. */
static _Thread_local struct api_listener_thread *lis_self;

struct api_listener {
	int fd;
	uint16_t port;
	unsigned n;
	struct api_listener_thread *w;
	struct api_iplimit *ipl;
	uint64_t request_timeout_us;  /* 0 = no request deadline */
	MHD_RequestCompletedCallback completed;
	void *completed_cls;
	atomic_int quiesce;
	atomic_int stop;
};

static int lis_socket(const char *host, uint16_t port, int *fd_out, uint16_t *bound,
		      char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char portstr[8];
	int fd = -1, one = 1, rc;

	*fd_out = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res) {
		snprintf(err, errlen, "cannot resolve listen address '%s'", host);
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (res->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, LIS_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s (address in use, or not local?)",
			 host, port, strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ?
		       ((struct sockaddr_in6 *)&ss)->sin6_port :
		       ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	fd = -1;
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (res)
		freeaddrinfo(res);
	return rc;
}

static void lis_conn_free(struct api_listener *l, struct lis_conn *c)
{
	if (!c)
		return;
	api_iplimit_give(l->ipl, c->ipc);
	free(c);
}

/* Accept policy: the per-address count, shared by every thread. The
 * connection's record is made here, where a failure can still refuse it. */
static enum MHD_Result lis_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct api_listener_thread *w = cls;
	struct lis_conn *c;

	/* a connection counted earlier that never started */
	lis_conn_free(w->l, w->pending);
	w->pending = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return MHD_NO;
	c->fd = -1;
	if (!api_iplimit_take(w->l->ipl, addr, len, &c->ipc)) {
		free(c);
		return MHD_NO;
	}
	w->pending = c;
	return MHD_YES;
}

static void lis_dl_append(struct api_listener_thread *w, struct lis_conn *c, uint64_t deadline)
{
	c->deadline = deadline;
	c->next = NULL;
	c->prev = w->dl_tail;
	if (w->dl_tail)
		w->dl_tail->next = c;
	else
		w->dl_head = c;
	w->dl_tail = c;
}

static void lis_dl_unlink(struct api_listener_thread *w, struct lis_conn *c)
{
	if (!c->deadline)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->dl_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->dl_tail = c->prev;
	c->prev = c->next = NULL;
	c->deadline = 0;
}

/* Arms c to report the first byte of its next request (once). */
static void lis_arm(struct api_listener_thread *w, struct lis_conn *c, int op)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
				  .data.ptr = c };

	/* on failure the request has no deadline; connection-timeout holds */
	if (w->l->request_timeout_us && c->fd >= 0)
		(void)epoll_ctl(w->first_ep, op, c->fd, &ev);
}

/* The daemon starts a connection on the same thread right after accepting
 * it: the connection adopts the record, and frees it when it closes. */
static void lis_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
		       enum MHD_ConnectionNotificationCode code)
{
	struct api_listener_thread *w = cls;
	struct lis_conn *c;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = w->pending;
		w->pending = NULL;
		*socket_ctx = c;
		atomic_fetch_add(&w->conns, 1);
		if (!c)
			return;
		c->conn = conn;
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci ? ci->connect_fd : -1;
		lis_arm(w, c, EPOLL_CTL_ADD);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		c = *socket_ctx;
		*socket_ctx = NULL;
		atomic_fetch_sub(&w->conns, 1);
		if (!c)
			return;
		lis_dl_unlink(w, c);
		/* still open here; it must not report into a freed record */
		if (w->l->request_timeout_us && c->fd >= 0)
			(void)epoll_ctl(w->first_ep, EPOLL_CTL_DEL, c->fd, NULL);
		lis_conn_free(w->l, c);
	}
}

/* A request ended (answered, or its connection closed): its deadline goes,
 * and the connection waits for the first byte of the next one. */
static void lis_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct api_listener_thread *w = cls;
	const union MHD_ConnectionInfo *ci;
	struct lis_conn *c;

	if (w->l->completed)
		w->l->completed(w->l->completed_cls, conn, con_cls, toe);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	c = ci ? ci->socket_context : NULL;
	if (!c)
		return;
	lis_dl_unlink(w, c);
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && !c->closing)
		lis_arm(w, c, EPOLL_CTL_MOD);
}

/* Connections whose request began since the last look get their deadline. */
static void lis_first_bytes(struct api_listener_thread *w)
{
	struct epoll_event ev[64];
	uint64_t deadline = api_now_us() + w->l->request_timeout_us;
	int n, i;

	do {
		n = epoll_wait(w->first_ep, ev, 64, 0);
		for (i = 0; i < n; i++) {
			struct lis_conn *c = ev[i].data.ptr;

			if (!c->deadline && !c->closing)
				lis_dl_append(w, c, deadline);
		}
	} while (n == 64);
}

/* Whether libmicrohttpd holds c suspended: its request has arrived and waits
 * on us (a redemption on the spent store), so no longer on the client. */
static int lis_conn_suspended(const struct lis_conn *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_SUSPENDED);

	return ci && ci->suspended == MHD_YES;
}

/* Ends c's connection. The daemon owns the descriptor and must close it: a
 * shutdown makes it readable at end of file, and the daemon's next run
 * closes and frees the connection. */
static void lis_conn_kill(struct lis_conn *c)
{
	c->closing = 1;
	(void)shutdown(c->fd, SHUT_RDWR);
}

/* The head of the deadline list, skipping (and unlisting) requests that
 * have arrived and wait suspended. */
static struct lis_conn *lis_dl_first(struct api_listener_thread *w)
{
	struct lis_conn *c;

	while ((c = w->dl_head) && lis_conn_suspended(c))
		lis_dl_unlink(w, c);
	return c;
}

static void lis_expire(struct api_listener_thread *w, uint64_t now)
{
	struct lis_conn *c;

	while ((c = lis_dl_first(w)) && c->deadline <= now) {
		lis_dl_unlink(w, c);
		lis_conn_kill(c);
		w->timed_out++;
	}
}

/* The connection a full thread may close to make room: the one whose request
 * has been arriving longest, if for LIS_EVICT_AGE_US, and only while no
 * thread has room. *wait_ms is lowered to when one becomes old enough. */
static struct lis_conn *lis_evictable(struct api_listener_thread *w, uint64_t now,
				      int *wait_ms)
{
	const struct api_listener *l = w->l;
	struct lis_conn *c;
	uint64_t since, ripe;
	unsigned i;

	if (atomic_load(&l->quiesce) || atomic_load(&w->conns) < w->limit)
		return NULL;
	for (i = 0; i < l->n; i++)
		if (atomic_load(&l->w[i].conns) < l->w[i].limit)
			return NULL;
	c = lis_dl_first(w);
	if (!c || c->closing)
		return NULL;
	since = c->deadline - l->request_timeout_us;
	ripe = since + LIS_EVICT_AGE_US;
	if (now >= ripe)
		return c;
	if (*wait_ms < 0 || (uint64_t)*wait_ms > (ripe - now + 999) / 1000)
		*wait_ms = (int)((ripe - now + 999) / 1000);
	return NULL;
}

/* One warning per interval, not one per connection: an attack closes
 * thousands. */
static void lis_report(struct api_listener_thread *w, uint64_t now)
{
	if ((!w->timed_out && !w->evicted) || now < w->next_report)
		return;
	log_warn("http: closed %u connections whose request took longer than "
		 "request-timeout (%llu s) and %u slow ones to make room for new "
		 "connections", w->timed_out,
		 (unsigned long long)(w->l->request_timeout_us / 1000000u), w->evicted);
	w->timed_out = w->evicted = 0;
	w->next_report = now + LIS_REPORT_US;
}

static void lis_wake_all(struct api_listener *l)
{
	uint64_t one = 1;
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (l->w[i].wake >= 0)
			(void)!write(l->w[i].wake, &one, sizeof(one));
}

/* Whether this thread takes new connections now: only while it holds no more
 * than any other thread. A connection stays on the thread that accepted it,
 * so where connections land is where their requests queue; left to whichever
 * thread wakes first, one thread was seen to take 80 % of them. */
static int lis_may_accept(const struct api_listener_thread *w)
{
	const struct api_listener *l = w->l;
	unsigned mine = atomic_load(&w->conns), i;

	if (atomic_load(&l->quiesce) || mine >= w->limit ||
	    (w->accept_pause_until && api_now_us() < w->accept_pause_until))
		return 0;
	for (i = 0; i < l->n; i++)
		if (atomic_load(&l->w[i].conns) < mine)
			return 0;
	return 1;
}

/* Accepts while this thread may, at most a few per round, and hands each
 * socket to this thread's daemon (which applies the limits). */
static void lis_accept_some(struct api_listener_thread *w)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, k, taken = 0;

	if (w->accept_pause_until) {
		if (api_now_us() < w->accept_pause_until)
			return;
		w->accept_pause_until = 0;
	}
	for (k = 0; k < 16 && lis_may_accept(w); k++) {
		len = sizeof(ss);
		fd = accept4(w->l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* the socket stays readable: wait, not spin */
				log_warn("http: cannot accept a connection: %s; "
					 "raise the descriptor limit (ulimit -n) or "
					 "lower max-connections", strerror(errno));
				w->accept_pause_until = api_now_us() + 100000;
				return;
			}
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
			    errno == EPERM)
				continue;
			break;   /* EAGAIN: another thread took it */
		}
		/* on refusal (limits) the daemon closes fd itself */
		(void)MHD_add_connection(w->d, fd, (struct sockaddr *)&ss, len);
		taken++;
	}
	/* A thread that stopped listening because another held fewer
	 * connections may hold the fewest now: every thread looks again. */
	if (taken)
		lis_wake_all(w->l);
}

/* ms, lowered to the time until deadline (rounded up). */
static int lis_wait_ms(int ms, uint64_t now, uint64_t deadline)
{
	uint64_t left = deadline > now ? (deadline - now + 999) / 1000 : 0;

	if (left > INT_MAX)
		left = INT_MAX;
	return ms < 0 || (uint64_t)ms > left ? (int)left : ms;
}

/* Resumes every connection of a list (newest first), oldest first. */
static int lis_resume_list(struct api_resume *rs)
{
	struct api_resume *fifo = NULL, *next;
	int n = 0;

	for (; rs != NULL; rs = next) {
		next = rs->next;
		rs->next = fifo;
		fifo = rs;
	}
	for (rs = fifo; rs != NULL; rs = next) {
		next = rs->next;   /* rs may be reused once resumed */
		MHD_resume_connection(rs->conn);
		n++;
	}
	return n;
}

/* Resumes every connection pushed so far. Returns how many. */
static int lis_resume_pending(struct api_listener_thread *w)
{
	struct api_resume *mine = w->self_resume;

	w->self_resume = NULL;
	return lis_resume_list(mine) +
	       lis_resume_list(atomic_exchange(&w->resume, NULL));
}

void api_dq_push(struct api_dq *q, struct api_deferred *d)
{
	d->next = NULL;
	if (q->tail != NULL)
		q->tail->next = d;
	else
		q->head = d;
	q->tail = d;
}

struct api_deferred *api_dq_pop(struct api_dq *q)
{
	struct api_deferred *d = q->head;

	if (d != NULL) {
		q->head = d->next;
		if (q->head == NULL)
			q->tail = NULL;
		d->next = NULL;
	}
	return d;
}

/* Runs deferred work in order while no resume from another thread waits
 * (the store's answers: the next round writes them first). A job decided
 * inline resumes onto the thread's own list, which does not stop the others:
 * those answers wait for this round's jobs, as they would in one run. */
static void lis_run_deferred(struct api_listener_thread *w)
{
	struct api_deferred *d;

	while (atomic_load_explicit(&w->resume, memory_order_acquire) == NULL &&
	       (d = api_dq_pop(&w->dq)) != NULL)
		d->run(d);
}

static void *lis_run(void *arg)
{
	struct api_listener_thread *w = arg;
	struct api_listener *l = w->l;
	struct pollfd p[3];
	struct lis_conn *victim;
	struct api_deferred *d;
	MHD_UNSIGNED_LONG_LONG to;
	uint64_t v, now;
	int ms, np, resumed = 0;

	(void)pthread_setname_np(pthread_self(), "pp-http");
	lis_self = w;
	p[0] = (struct pollfd){ .fd = w->mhd_epoll, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = w->wake, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
	while (!atomic_load(&l->stop)) {
		now = api_now_us();
		ms = -1;
		if (MHD_get_timeout(w->d, &to) == MHD_YES)
			ms = to > INT_MAX ? INT_MAX : (int)to;
		/* a connection resumed last round may need a second run to
		 * be answered, and deferred work or a resume may wait (pushed
		 * by this thread, which does not wake itself): do not sleep */
		if (resumed || w->dq.head || w->self_resume || atomic_load(&w->resume))
			ms = 0;
		if (lis_dl_first(w))
			ms = lis_wait_ms(ms, now, w->dl_head->deadline);
		victim = lis_evictable(w, now, &ms);
		np = 2;
		if (victim || lis_may_accept(w))
			np = 3;
		else if (w->accept_pause_until && (ms < 0 || ms > 100))
			ms = 100;
		p[2].revents = 0;
		if (poll(p, (nfds_t)np, ms) < 0 && errno != EINTR) {
			log_warn("http: poll: %s", strerror(errno));
			usleep(10000);
		}
		if (p[1].revents & POLLIN)
			(void)!read(w->wake, &v, sizeof(v));
		/* after the wake is read: a push from now on writes it again */
		resumed = lis_resume_pending(w);
		if (victim && (p[2].revents & POLLIN)) {
			/* full, and a connection waits in the backlog: once the
			 * daemon has closed the victim, the next round accepts */
			lis_dl_unlink(w, victim);
			lis_conn_kill(victim);
			w->evicted++;
		} else if (p[2].revents & POLLIN || w->accept_pause_until) {
			lis_accept_some(w);
		}
		now = api_now_us();
		lis_expire(w, now);
		/* Right before the daemon reads: a byte it reads first leaves
		 * nothing in the socket to report. Every round, as a byte that
		 * arrived after poll returned is read by this run. */
		if (l->request_timeout_us)
			lis_first_bytes(w);
		/* processes what is ready, never waits */
		MHD_run(w->d);
		/* a resumed connection's handler queues its answer in the run
		 * above, and the daemon writes it only in its next run: make
		 * that run now, before any deferred work */
		if (resumed)
			MHD_run(w->d);
		lis_conn_free(l, w->pending);
		w->pending = NULL;
		lis_run_deferred(w);
		lis_report(w, now);
	}
	/* stopping: what was deferred still runs, so that every suspended
	 * connection is answered or resumed */
	while ((d = api_dq_pop(&w->dq)) != NULL)
		d->run(d);
	return NULL;
}

struct api_listener_thread *api_listener_self(void)
{
	return lis_self;
}

void api_listener_defer(struct api_deferred *d)
{
	api_dq_push(&lis_self->dq, d);
}

void api_listener_resume(struct api_listener_thread *t, struct api_resume *rs)
{
	struct api_resume *head;
	uint64_t one = 1;

	if (t == lis_self) {
		/* no wake: the thread looks at its own list before it sleeps */
		rs->next = t->self_resume;
		t->self_resume = rs;
		return;
	}
	head = atomic_load(&t->resume);
	do {
		rs->next = head;
	} while (!atomic_compare_exchange_weak(&t->resume, &head, rs));
	/* only the push onto an empty list wakes: the others ride along */
	if (head == NULL)
		(void)!write(t->wake, &one, sizeof(one));
}

static int lis_worker_start(struct api_listener *l, struct api_listener_thread *w,
			    const struct api_listener_cfg *c, unsigned limit,
			    char *err, size_t errlen)
{
	const union MHD_DaemonInfo *di;

	w->l = l;
	w->limit = limit;
	w->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->first_ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->wake < 0 || w->first_ep < 0) {
		snprintf(err, errlen, "cannot start the HTTP threads: %s", strerror(errno));
		return PP_ERR_IO;
	}
	/* the thread accepts; the daemon serves what it is handed */
	w->d = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG | MHD_USE_TURBO | c->flags, 0, lis_accept, w,
		c->access, c->access_cls,
		MHD_OPTION_EXTERNAL_LOGGER, c->logger, NULL,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_NOTIFY_CONNECTION, lis_notify, w,
		MHD_OPTION_NOTIFY_COMPLETED, lis_completed, w,
		MHD_OPTION_ARRAY, c->opts,
		MHD_OPTION_END);
	if (!w->d) {
		snprintf(err, errlen, "cannot start the HTTP daemon for %s:%u%s",
			 c->host, l->port, (c->flags & MHD_USE_TLS) ? " with TLS" : "");
		return PP_ERR_IO;
	}
	di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di) {
		snprintf(err, errlen, "the HTTP daemon has no epoll descriptor");
		return PP_ERR_INTERNAL;
	}
	w->mhd_epoll = di->epoll_fd;
	if (pthread_create(&w->th, NULL, lis_run, w) != 0) {
		snprintf(err, errlen, "cannot start the HTTP threads");
		return PP_ERR_NOMEM;
	}
	w->running = 1;
	return 0;
}

/* Every connection holds a descriptor, and the usual soft limit (1024) is
 * reached long before max-connections: then accept fails and new clients
 * wait in the backlog. The hard limit is the administrator's; take it all. */
static void lis_nofile_raise(unsigned max_connections)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY ? LIS_NOFILE_CAP : rl.rlim_max;
	if (rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur < (rlim_t)max_connections + LIS_NOFILE_SPARE)
		log_warn("http: the descriptor limit (%llu) is below max-connections (%u) "
			 "plus %u; raise the hard limit (ulimit -Hn, LimitNOFILE=) or "
			 "lower max-connections", (unsigned long long)rl.rlim_cur,
			 max_connections, LIS_NOFILE_SPARE);
}

int api_listener_start(const struct api_listener_cfg *c, struct api_listener **out,
		       char *err, size_t errlen)
{
	struct api_listener *l;
	unsigned i, share;
	int rc;

	*out = NULL;
	if (c->threads == 0 || c->max_connections < c->threads)
		return PP_ERR_ARG;
	l = calloc(1, sizeof(*l));
	if (!l)
		return PP_ERR_NOMEM;
	l->fd = -1;
	l->w = calloc(c->threads, sizeof(*l->w));
	if (!l->w) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < c->threads; i++)
		l->w[i].wake = l->w[i].first_ep = -1;
	l->n = c->threads;
	l->request_timeout_us = (uint64_t)c->request_timeout * 1000000u;
	l->completed = c->completed;
	l->completed_cls = c->completed_cls;
	lis_nofile_raise(c->max_connections);
	rc = api_iplimit_new(c->per_ip, &l->ipl);
	if (rc)
		goto cleanup;
	rc = lis_socket(c->host, c->port, &l->fd, &l->port, err, errlen);
	if (rc)
		goto cleanup;
	for (i = 0; i < l->n; i++) {
		/* the connection limit split as evenly as it goes */
		share = c->max_connections / l->n + (i < c->max_connections % l->n);
		rc = lis_worker_start(l, &l->w[i], c, share, err, errlen);
		if (rc)
			goto cleanup;
	}
	*out = l;
	l = NULL;
cleanup:
	api_listener_free(l);
	return rc;
}

uint16_t api_listener_port(const struct api_listener *l)
{
	return l->port;
}

void api_listener_quiesce(struct api_listener *l)
{
	atomic_store(&l->quiesce, 1);
	lis_wake_all(l);
}

void api_listener_free(struct api_listener *l)
{
	unsigned i;

	if (!l)
		return;
	atomic_store(&l->stop, 1);
	lis_wake_all(l);
	for (i = 0; i < l->n; i++)
		if (l->w[i].running)
			pthread_join(l->w[i].th, NULL);
	for (i = 0; i < l->n; i++) {
		struct api_listener_thread *w = &l->w[i];

		/* a daemon stops cleanly only with no connection suspended */
		if (w->d) {
			lis_resume_pending(w);
			MHD_stop_daemon(w->d);
		}
		if (w->wake >= 0)
			close(w->wake);
		if (w->first_ep >= 0)
			close(w->first_ep);
		lis_conn_free(l, w->pending);
	}
	if (l->fd >= 0)
		close(l->fd);
	api_iplimit_free(l->ipl);
	free(l->w);
	free(l);
}
