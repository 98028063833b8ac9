/* The request deadline (request-timeout): a client that sends its request
 * one byte at a time is closed once the request has taken request-timeout
 * from its first byte, whatever connection-timeout says (that one restarts
 * on every byte); an idle keep-alive connection and a redemption waiting on
 * the spent store are not cut off; and with the default settings 2,000
 * trickling connections from one address leave a normal client every answer
 * with a p99 under 10 ms. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "../unit/tu_redis.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "th.h"

#define N_TRICKLE 2000
#define ATTACK_S 15.0

TestSuite(trickle, .timeout = 90, .fini = tu_leak_check);

static const char trickle_text[] = "GET /healthz HTTP/1.1\r\nHost: trickle\r\nX-Pad: ";
static const char get_health[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

/* The byte a trickler sends as its k-th: the request line, then a header
 * that never ends. */
static char trickle_byte(size_t k)
{
	return k < sizeof(trickle_text) - 1 ? trickle_text[k] : 'a';
}

/* Whether the server closed fd, waiting at most ms. */
static int closed_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char buf[256];
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return 0;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Trickles one byte a second on fd until the server closes it (or limit_s
 * passes). Returns the seconds from the first byte to the close, or -1. */
static double trickle_until_closed(int fd, double limit_s)
{
	double t0 = th_now_s();
	size_t k;

	for (k = 0; th_now_s() - t0 < limit_s; k++) {
		char b = trickle_byte(k);

		if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || closed_within(fd, 1000))
			return th_now_s() - t0;
	}
	return -1;
}

Test(trickle, trickling_request_is_closed_at_the_request_timeout)
{
	struct th_server s;
	double took;
	int fd;

	th_dir_init(&s);
	/* connection-timeout stays 10 s: each byte restarts it */
	th_server_start(&s, (const char *[]){ "--request-timeout", "3", NULL }, NULL);
	fd = th_connect(s.port);
	took = trickle_until_closed(fd, 8);
	cr_assert(took > 0, "a trickling request was still open after 8 s");
	cr_assert(took >= 2.5 && took < 4.5, "closed %.2f s after its first byte; "
		  "request-timeout is 3 s", took);
	cr_log_info("trickler closed %.2f s after its first byte (request-timeout 3 s)", took);
	fprintf(stderr, "trickle: a trickler was closed %.2f s after its first byte "
		"(request-timeout 3 s)\n", took);
	close(fd);
	/* the server logs what it closed, once per interval */
	cr_assert(th_log_contains(&s, "request-timeout"));
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(trickle, idle_keepalive_connection_is_left_to_the_connection_timeout)
{
	struct th_server s;
	double took;
	int fd;

	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--request-timeout", "2",
					      "--connection-timeout", "6", NULL }, NULL);
	fd = th_connect(s.port);
	cr_assert_eq(send(fd, get_health, sizeof(get_health) - 1, MSG_NOSIGNAL),
		     (ssize_t)(sizeof(get_health) - 1));
	cr_assert_eq(th_read_status(fd, th_now_s() + 5), 200);
	/* idle past the request timeout, within the connection timeout */
	cr_assert_not(closed_within(fd, 3500), "an idle keep-alive connection was closed "
		      "by the request timeout");
	cr_assert_eq(send(fd, get_health, sizeof(get_health) - 1, MSG_NOSIGNAL),
		     (ssize_t)(sizeof(get_health) - 1));
	cr_assert_eq(th_read_status(fd, th_now_s() + 5), 200,
		     "the kept-alive connection was not served");
	/* its next request is under the deadline again, from its own first byte */
	usleep(500000);
	took = trickle_until_closed(fd, 6);
	cr_assert(took >= 1.5 && took < 3.5, "second request closed after %.2f s "
		  "(request-timeout 2 s)", took);
	close(fd);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

struct redeem_call {
	const struct th_server *s;
	const char *json;
	long status;
	double took;
};

static void *redeem_run(void *arg)
{
	struct redeem_call *rc = arg;
	struct th_resp r;
	double t0 = th_now_s();

	rc->status = th_http(rc->s, "POST", "/redeem",
			     (const char *[]){ "Content-Type: application/json", NULL },
			     rc->json, strlen(rc->json), &r) == 0 ? r.status : -1;
	rc->took = th_now_s() - t0;
	if (rc->status > 0)
		th_resp_free(&r);
	return NULL;
}

/* The redemption's request arrives at once; then it waits suspended on a
 * stopped Redis for twice the request timeout, and still gets its answer. */
Test(trickle, suspended_redemption_is_not_cut_off)
{
	struct tu_redis rd;
	struct th_server s;
	struct th_client c;
	struct redeem_call call;
	char b64[600], json[700], port_env[64];
	pthread_t th;

	memset(&rd, 0, sizeof(rd));
	tu_redis_start(&rd);
	snprintf(port_env, sizeof(port_env), "PPISSUER_REDIS_PORT=%u", rd.port);
	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--spent-backend", "redis",
					      "--redis-timeout-ms", "15000",
					      "--request-timeout", "2", NULL },
			(const char *[]){ port_env, NULL });
	th_client_init(&c, &s);
	th_issue(&s, &c, b64, sizeof(b64));
	snprintf(json, sizeof(json), "{\"token\":\"%s\"}", b64);

	tu_redis_signal(&rd, SIGSTOP);
	call = (struct redeem_call){ .s = &s, .json = json };
	cr_assert_eq(pthread_create(&th, NULL, redeem_run, &call), 0);
	sleep(4);
	tu_redis_signal(&rd, SIGCONT);
	pthread_join(th, NULL);
	cr_assert_eq(call.status, 200, "the suspended redemption got %ld after %.2f s",
		     call.status, call.took);
	cr_assert(call.took >= 3.5, "answered after %.2f s, before Redis resumed", call.took);
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
	tu_redis_free(&rd);
}

/* ---- 2,000 tricklers ---- */

struct tconn {
	int fd;
	size_t sent;
	double first;      /* when its first byte went out */
	double next;       /* when it sends its next byte */
};

struct attack {
	uint16_t port;
	int ep;
	struct tconn c[N_TRICKLE];
	atomic_int stop;
	atomic_int open;          /* tricklers connected now */
	atomic_int closed;        /* closed by the server */
	double min_life, max_life;
	unsigned seed;
};

static double jitter(struct attack *a)
{
	return 1.0 + (double)rand_r(&a->seed) / RAND_MAX;   /* 1-2 s */
}

static void attack_connect(struct attack *a, int i)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i };
	struct tconn *t = &a->c[i];

	t->fd = th_connect(a->port);
	t->sent = 0;
	t->first = 0;
	t->next = th_now_s() + (double)rand_r(&a->seed) / RAND_MAX;
	cr_assert_eq(epoll_ctl(a->ep, EPOLL_CTL_ADD, t->fd, &ev), 0);
	atomic_fetch_add(&a->open, 1);
}

/* Sends each connection's next byte when due, and reconnects the ones the
 * server closed, as an attacker would. */
static void *attack_run(void *arg)
{
	struct attack *a = arg;
	struct epoll_event ev[256];
	double now;
	int n, i;

	while (!atomic_load(&a->stop)) {
		n = epoll_wait(a->ep, ev, 256, 20);
		now = th_now_s();
		for (i = 0; i < n; i++) {
			struct tconn *t = &a->c[ev[i].data.u32];
			double life = now - t->first;

			if (t->fd < 0)
				continue;
			if (!t->sent)
				life = 0;
			close(t->fd);   /* no response comes: it was closed */
			t->fd = -1;
			atomic_fetch_sub(&a->open, 1);
			atomic_fetch_add(&a->closed, 1);
			if (life > 0 && life < a->min_life)
				a->min_life = life;
			if (life > a->max_life)
				a->max_life = life;
			attack_connect(a, (int)ev[i].data.u32);
		}
		for (i = 0; i < N_TRICKLE; i++) {
			struct tconn *t = &a->c[i];
			char b;

			if (t->fd < 0 || now < t->next)
				continue;
			b = trickle_byte(t->sent);
			if (send(t->fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
				if (!t->sent++)
					t->first = now;
			}
			t->next = now + jitter(a);
		}
	}
	return NULL;
}

/* GET /healthz on a fresh connection; returns the seconds to its status
 * line, or -1 when no answer came within 5 s. */
static double normal_request(uint16_t port)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: n\r\nConnection: close\r\n\r\n";
	double t0 = th_now_s();
	int fd = th_connect(port), st;

	cr_assert_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(req) - 1));
	st = th_read_status(fd, th_now_s() + 5);
	close(fd);
	return st == 200 ? th_now_s() - t0 : -1;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* The soft "Max open files" of process pid. */
static long proc_nofile(pid_t pid)
{
	char path[64], line[256];
	long soft = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max open files", 14))
			soft = strtol(line + 14, NULL, 10);
	fclose(f);
	return soft;
}

/* Open descriptors of process pid (its connections, mostly). */
static int proc_fds(pid_t pid)
{
	char cmd[96], *out = NULL;
	int n;

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
	if (th_sh(cmd, &out) != 0 || !out)
		n = -1;
	else
		n = atoi(out);
	free(out);
	return n;
}

Test(trickle, two_thousand_tricklers_leave_a_normal_client_fast_answers)
{
	struct th_server s;
	struct attack *a = calloc(1, sizeof(*a));
	struct rlimit orig, rl;
	pthread_t th;
	double *lat, t0, mid_open = 0;
	size_t n = 0, cap = 100000, failed = 0, i;
	int server_fds = -1;

	lat = calloc(cap, sizeof(*lat));
	cr_assert(a && lat);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &orig), 0);
	if (orig.rlim_max < N_TRICKLE + 200)
		cr_skip_test("the hard descriptor limit (%llu) is below %d",
			     (unsigned long long)orig.rlim_max, N_TRICKLE + 200);
	/* The server starts with the usual soft limit of 1024 and must raise
	 * it itself; this process then takes what it needs. */
	rl = orig;
	rl.rlim_cur = 1024;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	th_dir_init(&s);
	th_server_start(&s, NULL, NULL);   /* every setting at its default */
	rl.rlim_cur = orig.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_geq(proc_nofile(s.pid), N_TRICKLE + 200,
		      "the server left its descriptor limit at %ld", proc_nofile(s.pid));

	a->port = s.port;
	a->ep = epoll_create1(EPOLL_CLOEXEC);
	a->min_life = 1e9;
	a->seed = 12345;
	cr_assert(a->ep >= 0);
	for (i = 0; i < N_TRICKLE; i++) {
		attack_connect(a, (int)i);
		if (i % 100 == 99)
			usleep(20000);   /* under the listen backlog */
	}
	cr_assert_eq(pthread_create(&th, NULL, attack_run, a), 0);
	usleep(2000000);   /* every trickler has started its request */

	t0 = th_now_s();
	while (th_now_s() - t0 < ATTACK_S && n < cap) {
		double d = normal_request(s.port);

		if (d < 0)
			failed++;
		else
			lat[n++] = d;
		if (server_fds < 0 && th_now_s() - t0 > ATTACK_S / 2) {
			server_fds = proc_fds(s.pid);
			mid_open = atomic_load(&a->open);
		}
		usleep(3000);
	}
	atomic_store(&a->stop, 1);
	pthread_join(th, NULL);

	qsort(lat, n, sizeof(*lat), cmp_double);
	fprintf(stderr, "trickle: %d tricklers (%.0f open mid-run, server holding %d "
		"descriptors), %d closed by the server %.2f-%.2f s after their first byte; "
		"normal client: %zu answered, %zu failed, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		N_TRICKLE, mid_open, server_fds, atomic_load(&a->closed),
		a->min_life < 1e9 ? a->min_life : 0, a->max_life, n, failed,
		n ? lat[n / 2] * 1000 : 0, n ? lat[n * 99 / 100] * 1000 : 0,
		n ? lat[n - 1] * 1000 : 0);
	cr_assert_eq(failed, 0, "%zu of %zu requests got no answer", failed, failed + n);
	cr_assert_gt(n, 1000);
	cr_assert(lat[n * 99 / 100] < 0.010, "p99 %.2f ms next to %d tricklers",
		  lat[n * 99 / 100] * 1000, N_TRICKLE);
	cr_assert_geq(mid_open, N_TRICKLE * 9 / 10, "tricklers were refused: %.0f open", mid_open);
	/* the default request-timeout (10 s) closed them, none early */
	cr_assert_gt(atomic_load(&a->closed), N_TRICKLE / 2);
	cr_assert(a->min_life >= 9.0, "a trickler was closed %.2f s after its first byte",
		  a->min_life);

	for (i = 0; i < N_TRICKLE; i++)
		if (a->c[i].fd >= 0)
			close(a->c[i].fd);
	close(a->ep);
	free(a);
	free(lat);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &orig), 0);
}

/* With every slot taken by tricklers, a new client still gets in: the
 * connection whose request has been arriving longest makes room. */
Test(trickle, full_server_makes_room_for_a_new_connection)
{
	struct th_server s;
	int fd[40], i, closed = 0;
	double d;

	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--max-connections", "40", "--threads", "2",
					      NULL }, NULL);
	for (i = 0; i < 40; i++) {
		fd[i] = th_connect(s.port);
		cr_assert_eq(send(fd[i], "G", 1, MSG_NOSIGNAL), 1);
	}
	usleep(1500000);
	for (i = 0; i < 40; i++)
		cr_assert_eq(send(fd[i], "E", 1, MSG_NOSIGNAL), 1);
	d = normal_request(s.port);
	cr_assert(d >= 0 && d < 1.0, "a new client waited %.3f s for a full server", d);
	for (i = 0; i < 40; i++) {
		closed += closed_within(fd[i], 0);
		close(fd[i]);
	}
	cr_assert_geq(closed, 1, "no trickler made room");
	fprintf(stderr, "trickle: full server answered a new client in %.2f ms, "
		"closing %d slow connections\n", d * 1000, closed);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}
