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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/iplimit.h"
#include "api/req.h"
#include "crypto/pp_err.h"
#include "issuer/log.h"

#define LIS_BACKLOG 1024

struct api_listener_thread {
	struct api_listener *l;
	struct MHD_Daemon *d;
	int mhd_epoll;               /* the daemon's epoll fd: readable when it has work */
	int wake;                    /* eventfd: resume, quiesce or stop */
	atomic_uint conns;           /* open connections of this thread's daemon */
	unsigned limit;              /* its share of the connection limit */
	uint64_t accept_pause_until; /* api_now_us; after running out of descriptors */
	struct api_ipcount *pending; /* counted by the accept policy, not yet
					adopted by a started connection */
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

/* Accept policy: the per-address count, shared by every thread. */
static enum MHD_Result lis_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct api_listener_thread *w = cls;

	/* a connection counted earlier that never started */
	api_iplimit_give(w->l->ipl, w->pending);
	w->pending = NULL;
	return api_iplimit_take(w->l->ipl, addr, len, &w->pending) ? MHD_YES : MHD_NO;
}

/* The daemon starts a connection on the same thread right after accepting
 * it: the connection adopts the count, and gives it back when it closes. */
static void lis_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
		       enum MHD_ConnectionNotificationCode code)
{
	struct api_listener_thread *w = cls;

	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_ctx = w->pending;
		w->pending = NULL;
		atomic_fetch_add(&w->conns, 1);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		api_iplimit_give(w->l->ipl, *socket_ctx);
		*socket_ctx = NULL;
		atomic_fetch_sub(&w->conns, 1);
	}
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
			return;   /* EAGAIN: another thread took it */
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

static void *lis_run(void *arg)
{
	struct api_listener_thread *w = arg;
	struct api_listener *l = w->l;
	struct pollfd p[3];
	MHD_UNSIGNED_LONG_LONG to;
	uint64_t v;
	int ms, np;

	lis_self = w;
	p[0] = (struct pollfd){ .fd = w->mhd_epoll, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = w->wake, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
	while (!atomic_load(&l->stop)) {
		ms = -1;
		if (MHD_get_timeout(w->d, &to) == MHD_YES)
			ms = to > INT_MAX ? INT_MAX : (int)to;
		np = 2;
		if (lis_may_accept(w))
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
		if (p[2].revents & POLLIN || w->accept_pause_until)
			lis_accept_some(w);
		/* processes what is ready, never waits */
		MHD_run(w->d);
		api_iplimit_give(l->ipl, w->pending);
		w->pending = NULL;
	}
	return NULL;
}

struct api_listener_thread *api_listener_self(void)
{
	return lis_self;
}

void api_listener_resume(struct api_listener_thread *t, struct MHD_Connection *conn)
{
	uint64_t one = 1;

	MHD_resume_connection(conn);
	/* after the resume is recorded: the loop's next run sees it */
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
	if (w->wake < 0) {
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
		MHD_OPTION_NOTIFY_COMPLETED, c->completed, c->completed_cls,
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
		l->w[i].wake = -1;
	l->n = c->threads;
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

		if (w->d)
			MHD_stop_daemon(w->d);
		if (w->wake >= 0)
			close(w->wake);
		api_iplimit_give(l->ipl, w->pending);
	}
	if (l->fd >= 0)
		close(l->fd);
	api_iplimit_free(l->ipl);
	free(l->w);
	free(l);
}
