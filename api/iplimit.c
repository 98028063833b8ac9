#include "api/iplimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "base/pp_err.h"

#define IPL_BUCKETS 1024   /* a power of two */

struct api_ipcount {
	struct api_ipcount *next;
	uint8_t addr[16];      /* IPv4 as IPv4-mapped IPv6: one key space */
	unsigned n;
};

struct api_iplimit {
	pthread_mutex_t mu;
	unsigned limit;
	struct api_ipcount *b[IPL_BUCKETS];
};

int api_iplimit_new(unsigned limit, struct api_iplimit **out)
{
	struct api_iplimit *t;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return PP_ERR_NOMEM;
	if (pthread_mutex_init(&t->mu, NULL) != 0) {
		free(t);
		return PP_ERR_NOMEM;
	}
	t->limit = limit;
	*out = t;
	return 0;
}

void api_iplimit_free(struct api_iplimit *t)
{
	struct api_ipcount *c, *next;
	unsigned i;

	if (!t)
		return;
	for (i = 0; i < IPL_BUCKETS; i++)
		for (c = t->b[i]; c; c = next) {
			next = c->next;
			free(c);
		}
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* The address as 16 bytes; 0 when it is neither IPv4 nor IPv6. */
static int ipl_key(const struct sockaddr *sa, socklen_t len, uint8_t key[16])
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &s4->sin_addr, 4);
		return 1;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 1;
	}
	return 0;
}

static unsigned ipl_hash(const uint8_t key[16])
{
	uint32_t h = 2166136261u;   /* FNV-1a */
	unsigned i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h & (IPL_BUCKETS - 1);
}

int api_iplimit_take(struct api_iplimit *t, const struct sockaddr *addr,
		     socklen_t len, struct api_ipcount **held)
{
	uint8_t key[16];
	struct api_ipcount *c;
	unsigned h;
	int ok = 0;

	*held = NULL;
	if (!t->limit || !addr || !ipl_key(addr, len, key))
		return 1;
	h = ipl_hash(key);
	pthread_mutex_lock(&t->mu);
	for (c = t->b[h]; c; c = c->next)
		if (!memcmp(c->addr, key, 16))
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			goto cleanup;   /* cannot count it: refuse */
		memcpy(c->addr, key, 16);
		c->next = t->b[h];
		t->b[h] = c;
	}
	if (c->n < t->limit) {
		c->n++;
		*held = c;
		ok = 1;
	}
cleanup:
	pthread_mutex_unlock(&t->mu);
	return ok;
}

void api_iplimit_give(struct api_iplimit *t, struct api_ipcount *held)
{
	struct api_ipcount **pp;

	if (!held)
		return;
	pthread_mutex_lock(&t->mu);
	if (held->n == 0)
		abort();   /* given back more often than taken */
	if (--held->n == 0) {
		for (pp = &t->b[ipl_hash(held->addr)]; *pp != held; pp = &(*pp)->next)
			;
		*pp = held->next;
		free(held);
	}
	pthread_mutex_unlock(&t->mu);
}
