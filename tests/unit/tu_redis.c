#include "tu_redis.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_REDIS_BIN "/usr/bin/redis-server"

unsigned tu_free_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void tu_redis_exec(const struct tu_redis *r)
{
	char port[16];
	const char *argv[44];
	int n = 0, fd, i;

	/* die with the test process, whatever happens to it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	snprintf(port, sizeof(port), "%u", r->port);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "yes";
	argv[n++] = "--appendfsync";
	argv[n++] = "everysec";
	argv[n++] = "--dir";
	argv[n++] = r->dir;
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--logfile";
	argv[n++] = "redis.log";
	if (r->password[0] != '\0') {
		argv[n++] = "--requirepass";
		argv[n++] = r->password;
	}
	for (i = 0; i < 12 && r->extra[i] != NULL; i++)
		argv[n++] = r->extra[i];
	argv[n] = NULL;
	execv(TU_REDIS_BIN, (char *const *)(uintptr_t)argv);
	_exit(127);
}

/* Whether the server on r->port answers and is our child (another test
 * process may have raced us to the port). */
static int tu_redis_is_ours(const struct tu_redis *r)
{
	struct timeval tv = { 0, 200000 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)r->port, tv);
	redisReply *rep = NULL;
	char want[48];
	int ok = 0;

	if (c == NULL || c->err != 0)
		goto cleanup;
	if (r->password[0] != '\0') {
		rep = redisCommand(c, "AUTH %s", r->password);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
			goto cleanup;
		freeReplyObject(rep);
	}
	rep = redisCommand(c, "INFO server");
	if (rep == NULL || rep->type != REDIS_REPLY_STRING)
		goto cleanup;
	snprintf(want, sizeof(want), "process_id:%ld\r", (long)r->pid);
	ok = strstr(rep->str, want) != NULL;

cleanup:
	if (rep != NULL)
		freeReplyObject(rep);
	if (c != NULL)
		redisFree(c);
	return ok;
}

void tu_redis_start(struct tu_redis *r)
{
	int fixed = r->port != 0, attempt;

	if (r->dir[0] == '\0') {
		snprintf(r->dir, sizeof(r->dir), "/tmp/pp-redis-XXXXXX");
		cr_assert(mkdtemp(r->dir) != NULL, "mkdtemp: %s", strerror(errno));
	}
	for (attempt = 0; attempt < 5; attempt++) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		int i, status;

		if (!fixed)
			r->port = tu_free_port();
		r->pid = fork();
		cr_assert(r->pid >= 0, "fork: %s", strerror(errno));
		if (r->pid == 0)
			tu_redis_exec(r);
		for (i = 0; i < 500; i++) {
			if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
				r->pid = 0;   /* exited: port taken? try again */
				break;
			}
			if (tu_redis_is_ours(r))
				return;
			nanosleep(&pause, NULL);
		}
		if (r->pid != 0)
			tu_redis_signal(r, SIGKILL);
		if (!fixed)
			continue;
		/* a restart on a fixed port: the old socket may linger */
		nanosleep(&pause, NULL);
	}
	cr_assert_fail("redis-server did not start (see %s/redis.log)", r->dir);
}

void tu_redis_signal(struct tu_redis *r, int sig)
{
	if (r->pid <= 0)
		return;
	kill(r->pid, sig);
	if (sig == SIGSTOP || sig == SIGCONT)
		return;
	if (sig != SIGKILL) {
		/* give it a moment to exit cleanly, then make sure */
		int i, status;

		for (i = 0; i < 200; i++) {
			struct timespec pause = { 0, 10 * 1000 * 1000 };

			if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
				r->pid = 0;
				return;
			}
			nanosleep(&pause, NULL);
		}
		kill(r->pid, SIGKILL);
	}
	waitpid(r->pid, NULL, 0);
	r->pid = 0;
}

static int tu_rm_one(const char *path, const struct stat *st, int flag,
		     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void tu_rm_rf(const char *path)
{
	if (path != NULL && path[0] != '\0')
		nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_redis_free(struct tu_redis *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGCONT);
		tu_redis_signal(r, SIGKILL);
	}
	tu_rm_rf(r->dir);
	r->dir[0] = '\0';
}
