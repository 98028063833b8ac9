/* Requests that arrive together on many keep-alive connections are all
 * answered promptly. This is the pattern a group commit produces: every
 * waiting redemption is answered at once, and every client sends its next
 * request at once. An event loop that reads readiness in fixed-size batches
 * must not wait for more events after a full batch while the ones it holds
 * are unserved (libmicrohttpd 0.9.75's epoll loop did, for the connection
 * timeout, when exactly 128 became ready together). */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "th.h"

#define N_CONNS 300
#define DEADLINE_S 3.0

TestSuite(burst, .timeout = 90, .fini = tu_leak_check);

static const char get_health[] =
	"GET /healthz HTTP/1.1\r\nHost: burst\r\n\r\n";

/* Sends the request on conns [0, n) while the server is stopped, so that all
 * n become readable in the same instant, then expects every answer within
 * DEADLINE_S. Returns how many were answered in time. */
static int burst(const struct th_server *s, const int *fd, int n, double *slowest)
{
	int i, answered = 0;
	double t0, deadline;

	cr_assert_eq(kill(s->pid, SIGSTOP), 0);
	for (i = 0; i < n; i++)
		cr_assert_eq(send(fd[i], get_health, sizeof(get_health) - 1, MSG_NOSIGNAL),
			     (ssize_t)(sizeof(get_health) - 1));
	usleep(50000);   /* every segment has reached the server's socket */
	t0 = th_now_s();
	deadline = t0 + DEADLINE_S;
	cr_assert_eq(kill(s->pid, SIGCONT), 0);
	*slowest = 0;
	for (i = 0; i < n; i++) {
		if (th_read_status(fd[i], deadline) == 200)
			answered++;
		if (th_now_s() - t0 > *slowest)
			*slowest = th_now_s() - t0;
	}
	return answered;
}

Test(burst, simultaneous_requests_on_many_connections_are_all_answered_promptly)
{
	struct th_server s;
	int fd[N_CONNS], i, sizes[] = { 128, 256, 127, 129, N_CONNS }, k, got;
	double slowest;

	th_dir_init(&s);
	/* one worker thread holds every connection; the connection timeout is
	 * long, so a stalled loop shows as missing answers, not closed sockets */
	th_server_start(&s, (const char *[]){ "--threads", "1", "--connection-timeout", "60",
					      "--log-requests", "false", NULL }, NULL);
	for (i = 0; i < N_CONNS; i++) {
		fd[i] = th_connect(s.port);
		/* each connection is accepted and idle before the bursts */
		cr_assert_eq(send(fd[i], get_health, sizeof(get_health) - 1, MSG_NOSIGNAL),
			     (ssize_t)(sizeof(get_health) - 1));
		cr_assert_eq(th_read_status(fd[i], th_now_s() + 10), 200, "connection %d", i);
	}
	for (k = 0; k < (int)(sizeof(sizes) / sizeof(sizes[0])); k++) {
		got = burst(&s, fd, sizes[k], &slowest);
		cr_assert_eq(got, sizes[k],
			     "burst of %d: %d answered within %.0f s", sizes[k], got, DEADLINE_S);
		cr_log_info("burst of %d requests: all answered in %.0f ms", sizes[k],
			    slowest * 1000);
	}
	for (i = 0; i < N_CONNS; i++)
		close(fd[i]);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* Connections opened together are spread over the loop threads and every
 * one is accepted: a thread leaves accepting to those holding fewer
 * connections, so none may stop while the others wait for it. */
Test(burst, connections_opened_together_are_all_accepted_by_many_threads)
{
	struct th_server s;
	int fd[200], i, n = 200, got = 0;
	double deadline;

	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--threads", "4", "--connection-timeout", "60",
					      "--log-requests", "false", NULL }, NULL);
	for (i = 0; i < n; i++)
		fd[i] = th_connect(s.port);   /* completes from the backlog */
	for (i = 0; i < n; i++)
		cr_assert_eq(send(fd[i], get_health, sizeof(get_health) - 1, MSG_NOSIGNAL),
			     (ssize_t)(sizeof(get_health) - 1));
	deadline = th_now_s() + DEADLINE_S;
	for (i = 0; i < n; i++)
		if (th_read_status(fd[i], deadline) == 200)
			got++;
	cr_assert_eq(got, n, "%d of %d connections answered within %.0f s", got, n, DEADLINE_S);
	for (i = 0; i < n; i++)
		close(fd[i]);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}
