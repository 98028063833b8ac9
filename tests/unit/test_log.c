#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "issuer/log.h"
#include "tu.h"

TestSuite(log, .fini = tu_leak_check);

/* stderr goes to a temporary file for the test; read back what reached it. */
struct capture {
	char path[64];
	int saved;
};

static void capture_start(struct capture *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "/tmp/pp-log-XXXXXX");
	fd = mkstemp(c->path);
	cr_assert(fd >= 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	cr_assert(c->saved >= 0);
	cr_assert(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static char *captured(const struct capture *c)
{
	FILE *f = fopen(c->path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	cr_assert(f && buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void capture_end(struct capture *c)
{
	log_flush();
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	unlink(c->path);
}

static void expect_output(const struct capture *c, const char *want)
{
	char *got = captured(c);

	cr_expect_str_eq(got, want);
	free(got);
}

Test(log, batched_lines_wait_when_not_flushed)
{
	struct capture c;

	capture_start(&c);
	log_line_batched("{\"a\":1}", 7, 0);
	log_line_batched("{\"b\":2}", 7, 0);
	expect_output(&c, "");
	log_flush();
	expect_output(&c, "{\"a\":1}\n{\"b\":2}\n");
	capture_end(&c);
}

Test(log, batched_line_goes_out_when_flush_is_asked)
{
	struct capture c;

	capture_start(&c);
	log_line_batched("{\"a\":1}", 7, 0);
	log_line_batched("{\"b\":2}", 7, 1);
	expect_output(&c, "{\"a\":1}\n{\"b\":2}\n");
	capture_end(&c);
}

Test(log, direct_line_keeps_order_when_lines_are_gathered)
{
	struct capture c;

	capture_start(&c);
	log_line_batched("{\"a\":1}", 7, 0);
	log_line("{\"c\":3}", 7);
	expect_output(&c, "{\"a\":1}\n{\"c\":3}\n");
	capture_end(&c);
}

Test(log, gathered_lines_go_out_when_the_oldest_waited_50ms)
{
	struct capture c;
	struct timespec ts = { 0, 60 * 1000000L };

	capture_start(&c);
	log_line_batched("{\"a\":1}", 7, 0);
	nanosleep(&ts, NULL);
	log_line_batched("{\"b\":2}", 7, 0);
	expect_output(&c, "{\"a\":1}\n{\"b\":2}\n");
	capture_end(&c);
}

Test(log, every_line_arrives_in_order_when_the_batch_overflows)
{
	struct capture c;
	char line[64], *got, *p;
	int i, n;

	capture_start(&c);
	for (i = 0; i < 5000; i++) {
		n = snprintf(line, sizeof(line), "{\"i\":%d}", i);
		log_line_batched(line, (size_t)n, 0);
	}
	got = captured(&c);
	cr_expect(strlen(got) > 0, "32 KiB gathered and nothing written");
	free(got);
	log_flush();
	got = captured(&c);
	p = got;
	for (i = 0; i < 5000; i++) {
		n = snprintf(line, sizeof(line), "{\"i\":%d}\n", i);
		cr_assert_eq(strncmp(p, line, (size_t)n), 0, "line %d out of place", i);
		p += n;
	}
	cr_expect_eq(*p, '\0');
	free(got);
	capture_end(&c);
}
