#include "tu_rcluster.h"

#include <criterion/criterion.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double tu_rc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tu_rc_sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

/* Whether nothing listens on 127.0.0.1:port (a bind succeeds). */
static int tu_rc_port_free(unsigned port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* A port in 12000..22699 whose bus port (+ 10000) is free too, not one
 * of the cluster's already. Both stay below the kernel's ephemeral range
 * (32768 up), where an outgoing connection could take one between this
 * check and the node's bind. */
static unsigned tu_rc_port(const struct tu_rcluster *c, int upto)
{
	unsigned seed = (unsigned)getpid() * 7919u + (unsigned)time(NULL);
	int tries, i, clash;

	for (tries = 0; tries < 2000; tries++) {
		unsigned p = 12000 + (seed + (unsigned)tries * 104729u) % 10700;

		seed = seed * 1103515245u + 12345u;
		clash = 0;
		for (i = 0; i < upto; i++)
			if (c->node[i].port == p || c->node[i].port + 10000 == p ||
			    c->node[i].port == p + 10000)
				clash = 1;
		if (!clash && tu_rc_port_free(p) && tu_rc_port_free(p + 10000))
			return p;
	}
	cr_assert_fail("no free port pair for a cluster node");
	return 0;
}

static redisContext *tu_rc_conn(const struct tu_redis *r)
{
	struct timeval tv = { 1, 0 };
	redisContext *x;

	if (r->pid <= 0)
		return NULL;
	x = redisConnectWithTimeout("127.0.0.1", (int)r->port, tv);
	if (x == NULL || x->err != 0) {
		if (x != NULL)
			redisFree(x);
		return NULL;
	}
	redisSetTimeout(x, tv);
	return x;
}

/* The text of INFO <section> or CLUSTER INFO of node i ("" when it does
 * not answer), into out. */
static void tu_rc_text(struct tu_rcluster *c, int i, const char *cmd,
		       char *out, size_t cap)
{
	redisContext *x = tu_rc_conn(&c->node[i]);
	redisReply *r;

	out[0] = '\0';
	if (x == NULL)
		return;
	r = redisCommand(x, cmd);
	if (r != NULL && r->type == REDIS_REPLY_STRING)
		snprintf(out, cap, "%s", r->str);
	if (r != NULL)
		freeReplyObject(r);
	redisFree(x);
}

int tu_rcluster_is_master(struct tu_rcluster *c, int i)
{
	char info[4096];

	tu_rc_text(c, i, "INFO replication", info, sizeof(info));
	return strstr(info, "role:master") != NULL;
}

long long tu_rcluster_dbsize(struct tu_rcluster *c, int i)
{
	redisContext *x = tu_rc_conn(&c->node[i]);
	redisReply *r;
	long long n = -1;

	if (x == NULL)
		return -1;
	r = redisCommand(x, "DBSIZE");
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	if (r != NULL)
		freeReplyObject(r);
	redisFree(x);
	return n;
}

int tu_rcluster_master_of(struct tu_rcluster *c, unsigned slot)
{
	int i;

	for (i = 0; i < TU_RC_NODES; i++) {
		redisContext *x;
		redisReply *r;
		size_t k;
		int found = -1;

		if (c->node[i].pid <= 0 || (x = tu_rc_conn(&c->node[i])) == NULL)
			continue;
		r = redisCommand(x, "CLUSTER SLOTS");
		for (k = 0; r != NULL && r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
			redisReply *e = r->element[k];
			long long port;
			int j;

			if (e->elements < 3 || (unsigned long long)e->element[0]->integer > slot ||
			    (unsigned long long)e->element[1]->integer < slot)
				continue;
			port = e->element[2]->element[1]->integer;
			for (j = 0; j < TU_RC_NODES; j++)
				if (c->node[j].port == (unsigned)port)
					found = j;
		}
		if (r != NULL)
			freeReplyObject(r);
		redisFree(x);
		if (found >= 0)
			return found;
	}
	return -1;
}

int tu_rcluster_wait_ok(struct tu_rcluster *c, double secs)
{
	double until = tu_rc_now() + secs;
	char text[8192];

	while (tu_rc_now() < until) {
		int i, ok = 1, masters = 0;

		for (i = 0; i < TU_RC_NODES && ok; i++) {
			if (c->node[i].pid <= 0)
				continue;
			tu_rc_text(c, i, "CLUSTER INFO", text, sizeof(text));
			if (strstr(text, "cluster_state:ok") == NULL) {
				ok = 0;
				break;
			}
			tu_rc_text(c, i, "INFO replication", text, sizeof(text));
			if (strstr(text, "role:master") != NULL) {
				masters++;
			} else if (strstr(text, "master_link_status:up") == NULL) {
				ok = 0;   /* a replica still syncing */
			}
		}
		if (ok && masters >= 3)
			return 1;
		tu_rc_sleep_ms(50);
	}
	return 0;
}

void tu_rcluster_start(struct tu_rcluster *c)
{
	char cmd[1024], dir[64];
	size_t off;
	int i, rc;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < TU_RC_NODES; i++) {
		struct tu_redis *r = &c->node[i];

		r->port = tu_rc_port(c, i);
		r->extra[0] = "--cluster-enabled";
		r->extra[1] = "yes";
		r->extra[2] = "--cluster-config-file";
		r->extra[3] = "nodes.conf";
		r->extra[4] = "--cluster-node-timeout";
		r->extra[5] = "1000";
		/* a replica whose master died fails over however long the
		 * cluster was idle */
		r->extra[6] = "--cluster-replica-validity-factor";
		r->extra[7] = "0";
		/* a returning node syncs at once (the default waits 5 s for
		 * more replicas before a diskless transfer) */
		r->extra[8] = "--repl-diskless-sync-delay";
		r->extra[9] = "0";
		r->extra[10] = NULL;
		tu_redis_start(r);
	}
	snprintf(c->seeds, sizeof(c->seeds), "127.0.0.1:%u,127.0.0.1:%u",
		 c->node[0].port, c->node[1].port);
	snprintf(dir, sizeof(dir), "%s", c->node[0].dir);
	off = (size_t)snprintf(cmd, sizeof(cmd), "redis-cli --cluster create");
	for (i = 0; i < TU_RC_NODES; i++)
		off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, " 127.0.0.1:%u",
					c->node[i].port);
	snprintf(cmd + off, sizeof(cmd) - off,
		 " --cluster-replicas 1 --cluster-yes >%s/create.log 2>&1 </dev/null",
		 dir);
	rc = system(cmd);
	cr_assert_eq(rc, 0, "redis-cli --cluster create failed (see %s/create.log)",
		     dir);
	cr_assert(tu_rcluster_wait_ok(c, 20.0), "the cluster did not become ok");
}

void tu_rcluster_free(struct tu_rcluster *c)
{
	int i;

	for (i = 0; i < TU_RC_NODES; i++)
		tu_redis_free(&c->node[i]);
}

unsigned tu_rcluster_slot(const char *key, size_t len)
{
	size_t s, e, i, from = 0, n = len;
	unsigned crc = 0;
	int b;

	for (s = 0; s < len && key[s] != '{'; s++)
		;
	if (s < len) {
		for (e = s + 1; e < len && key[e] != '}'; e++)
			;
		if (e < len && e != s + 1) {
			from = s + 1;
			n = e - s - 1;
		}
	}
	for (i = from; i < from + n; i++) {
		crc ^= (unsigned)(unsigned char)key[i] << 8;
		for (b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc & 16383;
}
