/* One listening socket served by N event-loop threads. Each thread runs its
 * own libmicrohttpd daemon in external epoll mode: the thread waits for
 * events itself, accepts connections and hands them to its daemon, then lets
 * the daemon process what is ready without blocking.
 *
 * Why not libmicrohttpd's own thread pool: in 0.9.75 its epoll loop, after a
 * wait returns a full batch of 128 events, waits again with the connection
 * timeout before serving the batch. When exactly 128 connections become
 * readable together (every connection of a worker answered at once by a
 * group commit, each client sending its next request at once) nothing else
 * arrives, and all of them stall until the timeout closes them. Here the
 * daemon only ever waits with a zero timeout; the blocking wait is ours.
 *
 * Accepting ourselves also balances: a connection is served by the thread
 * that accepted it for its whole life, so only the threads holding the
 * fewest connections accept.
 *
 * The loop also bounds how long a request may take to arrive. libmicrohttpd's
 * connection timeout restarts on every byte, so a client sending one byte a
 * second would hold its connection for ever. Each thread keeps the deadlines
 * of the requests it is receiving, from a request's first byte, and shuts
 * down the connections that pass theirs. A request the handler suspended
 * (waiting on the spent store) has arrived and is not cut off; an idle
 * keep-alive connection has no deadline (connection-timeout closes it).
 *
 * When every thread is full and a connection waits in the backlog, a thread
 * closes its connection whose request has been arriving longest (at least
 * 1 s) to make room; otherwise new connections wait in the kernel's backlog
 * (libmicrohttpd never sees them) until a slot frees. */
#ifndef PP_API_LISTENER_H
#define PP_API_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

struct api_listener_cfg {
	const char *host;             /* numeric address or name to bind */
	uint16_t port;                /* 0 = any free port */
	unsigned threads;             /* >= 1 */
	unsigned max_connections;     /* over all threads */
	unsigned per_ip;              /* per client address; 0 = no limit */
	unsigned request_timeout;     /* seconds from a request's first byte to
					 its end; 0 = no limit */
	unsigned flags;               /* more MHD_USE_* flags (MHD_USE_TLS) */
	MHD_AccessHandlerCallback access;
	void *access_cls;
	MHD_RequestCompletedCallback completed;
	void *completed_cls;
	MHD_LogCallback logger;
	const struct MHD_OptionItem *opts; /* for every daemon; MHD_OPTION_END-terminated */
};

struct api_listener;
struct api_listener_thread;

/* Binds, listens and starts the threads. Raises the process's soft limit of
 * open descriptors to its hard limit (warns when that is below
 * max_connections). Returns 0 or PP_ERR_* with err filled. */
int api_listener_start(const struct api_listener_cfg *c, struct api_listener **out,
		       char *err, size_t errlen);
/* The bound port. */
uint16_t api_listener_port(const struct api_listener *l);
/* Stops accepting; open connections go on being served. */
void api_listener_quiesce(struct api_listener *l);
/* Ends the threads, closes every connection and the socket, frees l.
 * Accepts NULL. */
void api_listener_free(struct api_listener *l);

/* Suspend and resume. A resume is handed to the loop thread that serves the
 * connection, which calls MHD_resume_connection itself right before its next
 * run: the run then sees it (libmicrohttpd's own wake-up can be consumed by a
 * run that started just before a resume from another thread was recorded,
 * and this loop would then block), and the spent store's thread, answering a
 * batch of hundreds, wakes each loop thread once instead of once per
 * connection. */

/* A suspended connection's place in its loop thread's resume list. It lives
 * in the request, which outlives the suspension. */
struct api_resume {
	struct api_resume *next;
	struct MHD_Connection *conn;
};

/* Work a handler hands back to its loop thread, to run after the daemon's
 * current run: the verification of a redemption, before it goes to the spent
 * store. Run inside the run, each such job would hold up every connection
 * after it, answers to resumed connections included (libmicrohttpd serves
 * those last); deferred, the thread runs the jobs one by one, first in first
 * out, and stops while a resume waits, so answers go out before new work
 * starts. It lives in the request, whose connection stays suspended until
 * the job has run and resumed it. */
struct api_deferred {
	struct api_deferred *next;
	void (*run)(struct api_deferred *d);
};

/* A first-in first-out queue of jobs, with no lock of its own: a loop
 * thread's deferred work, and the worker threads' queue (api/workers.c,
 * under its mutex). */
struct api_dq {
	struct api_deferred *head, *tail;
};
void api_dq_push(struct api_dq *q, struct api_deferred *d);
/* The oldest job, off the queue, or NULL. */
struct api_deferred *api_dq_pop(struct api_dq *q);

/* Queues d on the calling loop thread (handlers always run on one). */
void api_listener_defer(struct api_deferred *d);

/* The loop thread the caller runs on (NULL off the loop threads). Taken in
 * the access handler before suspending; valid as long as the listener. */
struct api_listener_thread *api_listener_self(void);
/* Resumes rs->conn on t, the loop thread that serves it, and wakes t if it
 * had nothing else to resume. Any thread; lock-free. */
void api_listener_resume(struct api_listener_thread *t, struct api_resume *rs);

#endif
