/* A private redis-server for one test process: started on a free 127.0.0.1
 * port in its own temporary directory, with no RDB snapshots and an
 * append-only file with appendfsync everysec (what the spent store accepts
 * as durable), and killed with the test (also if the test process dies:
 * PR_SET_PDEATHSIG). Several test processes may each run their own at
 * once. */
#ifndef PP_TU_REDIS_H
#define PP_TU_REDIS_H

#include <sys/types.h>

struct tu_redis {
	pid_t pid;          /* 0 when not running */
	unsigned port;
	char dir[64];       /* its working directory (removed by tu_redis_free) */
	char password[64];  /* "" = no requirepass */
	/* more redis-server arguments, after the defaults (so they override
	 * them), NULL-terminated: e.g. "--appendonly", "no" */
	const char *extra[13];
};

/* Starts a server on a free port (or on r->port when non-zero, for a
 * restart). Fails the test when it does not come up within 5 seconds. */
void tu_redis_start(struct tu_redis *r);
/* Sends sig (SIGTERM, SIGKILL, SIGSTOP, SIGCONT) and, unless it is
 * SIGSTOP/SIGCONT, waits for the server to exit. */
void tu_redis_signal(struct tu_redis *r, int sig);
/* Stops the server if running and removes its directory. */
void tu_redis_free(struct tu_redis *r);

/* A 127.0.0.1 TCP port that was free a moment ago (nothing listens). */
unsigned tu_free_port(void);

/* Removes a directory tree (test temp dirs). */
void tu_rm_rf(const char *path);

#endif
