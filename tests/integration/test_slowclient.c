/* Slow and idle connections must not hold the server: hundreds of
 * connections trickling one byte at a time (headers, an authenticated body,
 * a TLS handshake) while a well-behaved attester still gets every token
 * promptly; an idle connection is closed after the connection timeout. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "crypto/token.h"
#include "th.h"

#define CT_REQ "Content-Type: application/private-token-request"
#define N_HEADER_SLOW 200   /* never finish their headers */
#define N_BODY_SLOW 100     /* authenticated, then a body at 1 byte a tick */
#define N_TLS_SLOW 50       /* a TLS handshake at 1 byte a tick */
#define N_SLOW (N_HEADER_SLOW + N_BODY_SLOW + N_TLS_SLOW)
#define TICK_MS 50

TestSuite(slowclient, .timeout = 120, .fini = tu_leak_check);

struct trickle {
	int fd[N_SLOW];
	char *text[N_SLOW];
	size_t len[N_SLOW], sent[N_SLOW];
	atomic_int stop;
	atomic_int closed;    /* connections the server dropped meanwhile */
};

static void *trickle_run(void *arg)
{
	struct trickle *t = arg;
	struct timespec tick = { 0, TICK_MS * 1000000L };
	size_t i;

	while (!atomic_load(&t->stop)) {
		for (i = 0; i < N_SLOW; i++) {
			if (t->fd[i] < 0 || t->sent[i] >= t->len[i])
				continue;
			if (send(t->fd[i], t->text[i] + t->sent[i], 1, MSG_NOSIGNAL) == 1) {
				t->sent[i]++;
			} else {
				close(t->fd[i]);
				t->fd[i] = -1;
				atomic_fetch_add(&t->closed, 1);
			}
		}
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static char *header_slow_text(void)
{
	char *s = malloc(4096);
	int n;

	cr_assert(s);
	n = snprintf(s, 4096, "POST /token-request HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ");
	memset(s + n, 'a', 3000);
	s[n + 3000] = '\0';
	return s;
}

static char *body_slow_text(const char *secret, size_t *len)
{
	char *s = malloc(2048);
	int n;

	cr_assert(s);
	n = snprintf(s, 2048, "POST /token-request HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			      "Authorization: Bearer %s\r\n%s\r\nContent-Length: 259\r\n\r\n",
		     secret, CT_REQ);
	memset(s + n, 0x02, 259);
	*len = (size_t)n + 259;
	return s;
}

/* The start of a TLS record that announces 512 bytes, then zeros. */
static char *tls_slow_text(size_t *len)
{
	char *s = calloc(1, 517);

	cr_assert(s);
	memcpy(s, "\x16\x03\x01\x02\x00", 5);
	*len = 517;
	return s;
}

static void make_server_cert(const char *dir, char *cert, char *key, size_t cap)
{
	th_sh_ok("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout server.key -out server.pem -days 2 -subj '/CN=localhost' "
		 "-addext subjectAltName=IP:127.0.0.1 && chmod 600 server.key", dir);
	snprintf(cert, cap, "%s/server.pem", dir);
	snprintf(key, cap, "%s/server.key", dir);
}

Test(slowclient, trickling_connections_do_not_stall_a_good_client)
{
	struct th_server s;
	struct th_client c;
	struct trickle *t = calloc(1, sizeof(*t));
	pthread_t th;
	char *secret, cert[400], key[400], authz[200];
	uint16_t tls_port;
	double worst = 0, t0;
	size_t i;
	int n;

	cr_assert(t);
	th_dir_init(&s);
	secret = th_clients_add(&s, "good", "attester", NULL);
	make_server_cert(s.dir, cert, key, sizeof(cert));
	th_server_start(&s, (const char *[]){ "--connection-timeout", "3",
					      "--tls-listen", "127.0.0.1:0", "--tls-cert", cert,
					      "--tls-key", key, "--log-requests", "false", NULL },
			NULL);
	tls_port = th_log_port(&s, "tls: accepting HTTPS");
	cr_assert_neq(tls_port, 0);
	th_client_init(&c, &s);

	for (i = 0; i < N_SLOW; i++) {
		if (i < N_HEADER_SLOW) {
			t->text[i] = header_slow_text();
			t->len[i] = strlen(t->text[i]);
			t->fd[i] = th_connect(s.port);
		} else if (i < N_HEADER_SLOW + N_BODY_SLOW) {
			t->text[i] = body_slow_text(secret, &t->len[i]);
			t->fd[i] = th_connect(s.port);
		} else {
			t->text[i] = tls_slow_text(&t->len[i]);
			t->fd[i] = th_connect(tls_port);
		}
	}
	cr_assert_eq(pthread_create(&th, NULL, trickle_run, t), 0);
	usleep(500000); /* let every slow connection start */

	snprintf(authz, sizeof(authz), "Authorization: Bearer %s", secret);
	t0 = th_now_s();
	for (n = 0; n < 30; n++) {
		struct th_resp r;
		uint8_t token[TOK_TOKEN_LEN];
		double a = th_now_s(), d;

		th_client_request(&c);
		cr_assert_eq(th_http(&s, "POST", "/token-request",
				     (const char *[]){ CT_REQ, authz, NULL }, c.request,
				     sizeof(c.request), &r), 0);
		d = th_now_s() - a;
		if (d > worst)
			worst = d;
		cr_assert_eq(r.status, 200, "request %d: status %ld", n, r.status);
		cr_assert_eq(th_client_finalize(&c, r.body, r.len, token), 0);
		th_resp_free(&r);
		usleep(100000);
	}
	/* Spread over several seconds, so the slow connections were active
	 * the whole time, yet no request waited long. */
	cr_assert(th_now_s() - t0 >= 3.0);
	cr_assert(worst < 2.0, "a token request took %.3f s next to slow clients", worst);
	atomic_store(&t->stop, 1);
	pthread_join(th, NULL);
	fprintf(stderr, "slowclient: %d trickling connections (%d dropped), worst token "
		"request %.3f s\n", N_SLOW, atomic_load(&t->closed), worst);
	/* The header-slow connections were still being served (not refused
	 * outright): most of them were open until now. */
	cr_assert(atomic_load(&t->closed) < N_SLOW / 2, "%d of %d slow connections were dropped",
		  atomic_load(&t->closed), N_SLOW);
	for (i = 0; i < N_SLOW; i++) {
		if (t->fd[i] >= 0)
			close(t->fd[i]);
		free(t->text[i]);
	}
	free(t);
	free(secret);
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(slowclient, idle_connection_is_closed_after_the_timeout)
{
	struct th_server s;
	struct timeval tv = { 8, 0 };
	char buf[64];
	double t0, waited;
	ssize_t n;
	int fd;

	th_dir_init(&s);
	th_server_start(&s, (const char *[]){ "--connection-timeout", "2", NULL }, NULL);
	fd = th_connect(s.port);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	t0 = th_now_s();
	n = recv(fd, buf, sizeof(buf), 0);
	waited = th_now_s() - t0;
	cr_assert(n <= 0, "the server sent data to an idle connection");
	cr_assert(n == 0 || errno == ECONNRESET, "not closed within 8 s (errno %d)", errno);
	cr_assert(waited >= 1.5 && waited < 6, "closed after %.2f s, timeout is 2 s", waited);
	close(fd);
	/* A connection that sent half a request line is dropped the same way. */
	fd = th_connect(s.port);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	cr_assert_eq(send(fd, "GET /hea", 8, MSG_NOSIGNAL), 8);
	t0 = th_now_s();
	n = recv(fd, buf, sizeof(buf), 0);
	waited = th_now_s() - t0;
	cr_assert(n <= 0 && waited < 6, "half a request held the connection %.2f s", waited);
	close(fd);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* GET /healthz on fd: the status, or -1 when the server closed it. */
static int healthz_on(int fd)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct timeval tv = { 5, 0 };
	char buf[256];
	ssize_t n;

	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		return -1;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
}

Test(slowclient, per_address_limit_keeps_one_address_from_taking_every_slot)
{
	struct th_server s;
	int held[20], fd, st = -1, i;

	th_dir_init(&s);
	/* four loop threads accept in turn: the count must be the address's
	 * over all of them */
	th_server_start(&s, (const char *[]){ "--max-connections-per-ip", "20",
					      "--threads", "4",
					      "--connection-timeout", "30", NULL }, NULL);
	for (i = 0; i < 20; i++)
		held[i] = th_connect_from("127.0.0.1", s.port);
	usleep(300000);
	fd = th_connect_from("127.0.0.1", s.port);
	cr_assert_eq(healthz_on(fd), -1, "a 21st connection from one address was served");
	close(fd);
	fd = th_connect_from("127.0.0.2", s.port);
	cr_assert_eq(healthz_on(fd), 200, "another address was refused");
	close(fd);
	for (i = 0; i < 20; i++)
		close(held[i]);
	for (i = 0; i < 40 && st != 200; i++) {
		usleep(50000);
		fd = th_connect_from("127.0.0.1", s.port);
		st = healthz_on(fd);
		close(fd);
	}
	cr_assert_eq(st, 200, "the address stayed blocked after its connections closed");
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}
