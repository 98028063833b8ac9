/* Per-client counters for /metrics: tokens issued per attester, redemptions
 * per origin, refusals by limit, authentication failures by reason, and the
 * expiry of each client's certificate.
 *
 * Counters live in an open-addressed table of atomic pointers: a lookup is a
 * few loads and string compares, without a lock; only the first update for a
 * name takes a mutex to insert it. Entries are never freed (names come from
 * the registry and are bounded by MET_CLIENTS_MAX), so a pointer once seen
 * stays valid. */
#include "issuer/metrics.h"
#include "issuer/metrics_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MET_CLIENTS_MAX 4096
#define MET_SLOTS 8192           /* power of two, twice the maximum */
#define MET_NAME_MAX 64

struct met_client {
	char name[MET_NAME_MAX + 1];
	atomic_ullong issued;
	atomic_ullong redeemed[MET_REDEEM_COUNT];
	atomic_ullong limited[MET_LIMIT_COUNT];
	_Atomic int64_t cert_not_after;  /* 0 = never presented */
};

static struct {
	_Atomic(struct met_client *) slot[MET_SLOTS];
	size_t n;
	pthread_mutex_t lock;
	atomic_ullong anon_limited[MET_LIMIT_COUNT];
	atomic_ullong auth_fail[MET_AUTH_COUNT];
} mc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *limit_names[MET_LIMIT_COUNT] = { "rate", "quota", "global" };
static const char *redeem_names[MET_REDEEM_COUNT] = {
	"valid", "spent", "invalid", "unavailable",
};
static const char *auth_names[MET_AUTH_COUNT] = {
	"missing", "invalid", "revoked", "role", "certificate",
};

static size_t slot_of(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h & (MET_SLOTS - 1);
}

/* The counters of name, created on first use; NULL when the table is full
 * or the name is too long. */
static struct met_client *client_get(const char *name)
{
	struct met_client *c = NULL;
	size_t i, probes;

	if (!name || strlen(name) > MET_NAME_MAX)
		return NULL;
	i = slot_of(name);
	for (probes = 0; probes < MET_SLOTS; probes++, i = (i + 1) & (MET_SLOTS - 1)) {
		c = atomic_load_explicit(&mc.slot[i], memory_order_acquire);
		if (!c)
			break;
		if (!strcmp(c->name, name))
			return c;
	}
	pthread_mutex_lock(&mc.lock);
	/* Probe again: another thread may have inserted it meanwhile. */
	for (i = slot_of(name), probes = 0; probes < MET_SLOTS;
	     probes++, i = (i + 1) & (MET_SLOTS - 1)) {
		c = atomic_load_explicit(&mc.slot[i], memory_order_acquire);
		if (!c || !strcmp(c->name, name))
			break;
	}
	if (!c && probes < MET_SLOTS && mc.n < MET_CLIENTS_MAX) {
		c = calloc(1, sizeof(*c));
		if (c) {
			memcpy(c->name, name, strlen(name) + 1);
			atomic_store_explicit(&mc.slot[i], c, memory_order_release);
			mc.n++;
		}
	}
	pthread_mutex_unlock(&mc.lock);
	return c;
}

static void bump(atomic_ullong *v)
{
	atomic_fetch_add_explicit(v, 1, memory_order_relaxed);
}

void met_client_issued(const char *client)
{
	struct met_client *c = client_get(client);

	if (c)
		bump(&c->issued);
}

void met_client_redeemed(const char *client, enum met_redeem result)
{
	struct met_client *c;

	if (result >= MET_REDEEM_COUNT)
		return;
	c = client_get(client);
	if (c)
		bump(&c->redeemed[result]);
}

void met_client_limited(const char *client, enum met_limit why)
{
	struct met_client *c;

	if (why >= MET_LIMIT_COUNT)
		return;
	if (!client) {
		bump(&mc.anon_limited[why]);
		return;
	}
	c = client_get(client);
	if (c)
		bump(&c->limited[why]);
}

void met_auth_failure(enum met_auth why)
{
	if (why < MET_AUTH_COUNT)
		bump(&mc.auth_fail[why]);
}

void met_client_cert_expiry(const char *client, int64_t not_after)
{
	struct met_client *c = client_get(client);

	if (c)
		atomic_store_explicit(&c->cert_not_after, not_after, memory_order_relaxed);
}

#define put met_buf_printf

/* One family: HELP and TYPE, then a line per client with a non-zero value
 * of field (an offset into struct met_client). */
static void family(struct met_buf *b, const char *name, const char *help,
		   size_t field)
{
	size_t i;

	put(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < MET_SLOTS; i++) {
		struct met_client *c = atomic_load(&mc.slot[i]);
		unsigned long long v;

		if (!c)
			continue;
		v = atomic_load((atomic_ullong *)(void *)((char *)c + field));
		if (v)
			put(b, "%s{client=\"%s\"} %llu\n", name, c->name, v);
	}
}

void met_clients_render_into(struct met_buf *b)
{
	size_t i, k;

	family(b, "ppissuer_client_tokens_issued_total",
	       "Tokens issued, by the attester that asked for them.",
	       offsetof(struct met_client, issued));
	put(b, "# HELP ppissuer_client_redemptions_total Redemptions, by the origin that "
		"asked and result.\n# TYPE ppissuer_client_redemptions_total counter\n");
	for (i = 0; i < MET_SLOTS; i++) {
		struct met_client *c = atomic_load(&mc.slot[i]);

		for (k = 0; c && k < MET_REDEEM_COUNT; k++) {
			unsigned long long v = atomic_load(&c->redeemed[k]);

			if (v)
				put(b, "ppissuer_client_redemptions_total{client=\"%s\",result=\"%s\"} %llu\n",
				    c->name, redeem_names[k], v);
		}
	}
	put(b, "# HELP ppissuer_client_limited_total Requests refused by a limit, by "
		"client (\"-\" = anonymous) and limit.\n"
		"# TYPE ppissuer_client_limited_total counter\n");
	for (k = 0; k < MET_LIMIT_COUNT; k++) {
		unsigned long long v = atomic_load(&mc.anon_limited[k]);

		if (v)
			put(b, "ppissuer_client_limited_total{client=\"-\",limit=\"%s\"} %llu\n",
			    limit_names[k], v);
	}
	for (i = 0; i < MET_SLOTS; i++) {
		struct met_client *c = atomic_load(&mc.slot[i]);

		for (k = 0; c && k < MET_LIMIT_COUNT; k++) {
			unsigned long long v = atomic_load(&c->limited[k]);

			if (v)
				put(b, "ppissuer_client_limited_total{client=\"%s\",limit=\"%s\"} %llu\n",
				    c->name, limit_names[k], v);
		}
	}
	put(b, "# HELP ppissuer_auth_failures_total Requests refused for their "
		"credentials, by reason.\n# TYPE ppissuer_auth_failures_total counter\n");
	for (k = 0; k < MET_AUTH_COUNT; k++)
		put(b, "ppissuer_auth_failures_total{reason=\"%s\"} %llu\n", auth_names[k],
		    (unsigned long long)atomic_load(&mc.auth_fail[k]));
	put(b, "# HELP ppissuer_client_cert_not_after_seconds Expiry (notAfter) of the "
		"certificate each client last presented.\n"
		"# TYPE ppissuer_client_cert_not_after_seconds gauge\n");
	for (i = 0; i < MET_SLOTS; i++) {
		struct met_client *c = atomic_load(&mc.slot[i]);
		int64_t t = c ? atomic_load(&c->cert_not_after) : 0;

		if (t)
			put(b, "ppissuer_client_cert_not_after_seconds{client=\"%s\"} %lld\n",
			    c->name, (long long)t);
	}
}
