/* Slow issuance runs off the event loop (api/workers.h). With one loop
 * thread, six generic batches of 100 type-2 requests are sent at once, and
 * health checks are timed while they are signed: no check may wait for a
 * batch (each under a quarter of one batch's time alone). Signed on the
 * loop, the first check waited for all six (185 ms against 39 ms for one
 * batch alone). Then every batch
 * is answered 200 and its tokens verify. Timed: a solo suite. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "crypto/batch.h"
#include "crypto/token.h"
#include "th.h"

#define CT_GENERIC "Content-Type: application/private-token-generic-batch-request"

TestSuite(workers, .timeout = 120, .fini = tu_leak_check);

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The whole answer of a Connection: close request on fd, into *out. */
static size_t read_all(int fd, char **out)
{
	char *raw = NULL;
	size_t got = 0, cap = 0;
	ssize_t n;

	do {
		if (got + 4096 > cap) {
			cap = cap ? 2 * cap : 65536;
			raw = realloc(raw, cap);
			cr_assert_not_null(raw);
		}
		n = read(fd, raw + got, cap - got);
		if (n > 0)
			got += (size_t)n;
	} while (n > 0);
	*out = raw;
	return got;
}

Test(workers, batches_do_not_hold_up_the_event_loop)
{
	enum { CONNS = 6, ITEMS = 100, CHECKS = 9 };
	static const char *const args[] = { "--threads", "1", "--log-requests", "false",
					    NULL };
	static uint8_t body[ITEMS * 300];
	const uint8_t *reqs[ITEMS];
	size_t lens[ITEMS], len = 0, i;
	struct gbatch_response_item *it;
	double alone, t0, lat[CHECKS];
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	const char *hdr[] = { CT_GENERIC, NULL };
	int fd[CONNS];

	th_dir_init(&s);
	th_server_start(&s, args, NULL);
	th_client_init(&c, &s);
	th_client_request(&c);
	for (i = 0; i < ITEMS; i++) {
		reqs[i] = c.request;
		lens[i] = sizeof(c.request);
	}
	cr_assert_eq(gbatch_request_encode(reqs, lens, ITEMS, body, sizeof(body), &len), 0);

	/* one batch alone: the time a check would wait behind it */
	t0 = now_ms();
	cr_assert_eq(th_http(&s, "POST", "/token-request", hdr, body, len, &r), 0);
	alone = now_ms() - t0;
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);

	for (i = 0; i < CONNS; i++) {
		fd[i] = th_connect(s.port);
		dprintf(fd[i], "POST /token-request HTTP/1.1\r\nHost: x\r\n%s\r\n"
			       "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			CT_GENERIC, len);
		cr_assert_eq(write(fd[i], body, len), (ssize_t)len);
	}
	th_sleep_ms(5);
	for (i = 0; i < CHECKS; i++) {
		t0 = now_ms();
		cr_assert_eq(th_http(&s, "GET", "/healthz", NULL, NULL, 0, &r), 0);
		lat[i] = now_ms() - t0;
		cr_assert_eq(r.status, 200);
		th_resp_free(&r);
		th_sleep_ms(5);
	}
	qsort(lat, CHECKS, sizeof(lat[0]), cmp_double);
	fprintf(stderr, "workers: one batch of %d alone %.1f ms; health checks while %d "
		"are signed: median %.2f ms, max %.2f ms\n", ITEMS, alone, CONNS,
		lat[CHECKS / 2], lat[CHECKS - 1]);
	cr_expect_lt(lat[CHECKS - 1], alone / 4, "a health check waited for batches: "
		     "%.2f ms, a batch alone %.1f ms", lat[CHECKS - 1], alone);

	/* every batch answered in full, its tokens genuine */
	it = calloc(ITEMS, sizeof(*it));
	cr_assert_not_null(it);
	for (i = 0; i < CONNS; i++) {
		char *raw = NULL, *sep;
		size_t got = read_all(fd[i], &raw);

		close(fd[i]);
		cr_assert(got > 12 && !memcmp(raw, "HTTP/1.1 200", 12), "batch %zu: %.*s", i,
			  (int)(got < 80 ? got : 80), raw);
		sep = memmem(raw, got, "\r\n\r\n", 4);
		cr_assert_not_null(sep);
		sep += 4;
		cr_assert_eq(gbatch_response_decode((uint8_t *)sep, got - (size_t)(sep - raw), it,
						    ITEMS), 0, "batch %zu", i);
		cr_assert(it[0].present && it[ITEMS - 1].present);
		cr_assert_eq(th_client_finalize(&c, it[ITEMS - 1].response,
						it[ITEMS - 1].response_len, NULL), 0,
			     "batch %zu: the last token does not verify", i);
		free(raw);
	}
	free(it);
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}
