#include "issuer/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "issuer/metrics_int.h"
#include "issuer/spent.h"
#include "keys/keyset.h"
#include "keys/pkcs11.h"

/* The statuses the server can answer with; anything else counts as "other".
 * 0 is a request whose client left before the answer ("closed"): one a
 * worker thread was still signing, or one cut off while it arrived. */
static const unsigned met_statuses[] = {
	0, 200, 206, 304, 400, 401, 403, 404, 405, 409, 413, 415, 421, 422, 429,
	500, 503,
};
#define N_STATUS (sizeof(met_statuses) / sizeof(met_statuses[0]) + 1)

/* Signing latency buckets in microseconds (upper bounds). */
static const uint64_t met_buckets[] = {
	250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 25000, 100000,
};
#define N_BUCKETS (sizeof(met_buckets) / sizeof(met_buckets[0]))

/* Tokens issued per key: one slot per truncated key id (unique among the
 * keys that can sign), holding the full id so a later key that reuses the
 * truncated id after retirement starts its own count. */
struct met_key_count {
	uint8_t key_id[32];
	atomic_ullong n;
};

static struct {
	atomic_ullong requests[MET_ROUTE_COUNT][N_STATUS];
	atomic_ullong sign_bucket[N_BUCKETS + 1];
	atomic_ullong sign_sum_us;
	atomic_ullong sign_count;
	atomic_ullong redeemed[MET_REDEEM_COUNT];
	atomic_ullong reload_ok, reload_fail;
	_Atomic(struct met_key_count *) issued[256];
	pthread_mutex_t issued_lock;
	time_t start;
} met = { .issued_lock = PTHREAD_MUTEX_INITIALIZER, .start = 0 };

static const char *route_names[MET_ROUTE_COUNT] = {
	"directory", "token_request", "redeem", "healthz", "readyz", "metrics", "other",
};
static const char *redeem_names[MET_REDEEM_COUNT] = {
	"valid", "spent", "invalid", "unavailable",
};

const char *met_route_name(enum met_route r)
{
	return r < MET_ROUTE_COUNT ? route_names[r] : "other";
}

_Static_assert(N_STATUS == MET_STATUS_SLOTS, "met_scope has a slot per status");

size_t met_status_slot(unsigned status)
{
	size_t i;

	for (i = 0; i < N_STATUS - 1; i++)
		if (met_statuses[i] == status)
			return i;
	return N_STATUS - 1;
}

void met_status_label(size_t slot, char out[8])
{
	if (slot < N_STATUS - 1 && met_statuses[slot] == 0)
		snprintf(out, 8, "closed");
	else if (slot < N_STATUS - 1)
		snprintf(out, 8, "%u", met_statuses[slot] % 1000u);  /* 3 digits */
	else
		snprintf(out, 8, "other");
}

void met_request(enum met_route r, unsigned status, uint64_t dur_us)
{
	(void)dur_us;
	if (r >= MET_ROUTE_COUNT)
		r = MET_ROUTE_OTHER;
	atomic_fetch_add_explicit(&met.requests[r][met_status_slot(status)], 1,
				  memory_order_relaxed);
}

void met_sign_latency(uint64_t us)
{
	size_t i = 0;

	while (i < N_BUCKETS && us > met_buckets[i])
		i++;
	atomic_fetch_add_explicit(&met.sign_bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&met.sign_sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&met.sign_count, 1, memory_order_relaxed);
}

void met_token_issued(const uint8_t key_id[32])
{
	_Atomic(struct met_key_count *) *slot = &met.issued[key_id[31]];
	struct met_key_count *c = atomic_load_explicit(slot, memory_order_acquire);

	if (!c || memcmp(c->key_id, key_id, 32) != 0) {
		/* Rare: first token of a key. The replaced counter is kept (never
		 * freed) because another thread may still be adding to it. */
		pthread_mutex_lock(&met.issued_lock);
		c = atomic_load_explicit(slot, memory_order_acquire);
		if (!c || memcmp(c->key_id, key_id, 32) != 0) {
			struct met_key_count *nc = calloc(1, sizeof(*nc));

			if (nc) {
				memcpy(nc->key_id, key_id, 32);
				atomic_store_explicit(slot, nc, memory_order_release);
			}
			c = nc;
		}
		pthread_mutex_unlock(&met.issued_lock);
		if (!c)
			return;
	}
	atomic_fetch_add_explicit(&c->n, 1, memory_order_relaxed);
}

void met_redeemed(enum met_redeem result)
{
	if (result < MET_REDEEM_COUNT)
		atomic_fetch_add_explicit(&met.redeemed[result], 1, memory_order_relaxed);
}

void met_reload(int ok)
{
	atomic_fetch_add_explicit(ok ? &met.reload_ok : &met.reload_fail, 1,
				  memory_order_relaxed);
}

void met_buf_printf(struct met_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!b->oom) {
		char *np;

		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		np = realloc(b->p, b->cap * 2);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap *= 2;
	}
}

#define out met_buf_printf

static void hex32(const uint8_t id[32], char out_hex[65])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out_hex[2 * i] = digits[id[i] >> 4];
		out_hex[2 * i + 1] = digits[id[i] & 15];
	}
	out_hex[64] = '\0';
}

static const char *state_name(enum ks_state s)
{
	switch (s) {
	case KS_PENDING: return "pending";
	case KS_ACTIVE: return "active";
	case KS_RETIRING: return "retiring";
	case KS_RETIRED: return "retired";
	}
	return "unknown";
}

/* The PKCS#11 backend: operations, errors and the token's own signing
 * latency (the raw operation, without the software check), beside the
 * file-key latency of ppissuer_sign_duration_seconds. Only once a token
 * was opened. */
static void met_hsm_render(struct met_buf *b)
{
	struct p11_stats st;
	size_t i;

	if (!p11_in_use())
		return;
	p11_stats_get(&st);
	out(b, "# HELP ppissuer_hsm_operations_total Raw RSA operations asked of the PKCS#11 token, by result.\n"
	       "# TYPE ppissuer_hsm_operations_total counter\n"
	       "ppissuer_hsm_operations_total{backend=\"pkcs11\",result=\"ok\"} %llu\n"
	       "ppissuer_hsm_operations_total{backend=\"pkcs11\",result=\"error\"} %llu\n"
	       "# HELP ppissuer_hsm_errors_total Failed PKCS#11 operations.\n"
	       "# TYPE ppissuer_hsm_errors_total counter\n"
	       "ppissuer_hsm_errors_total{backend=\"pkcs11\"} %llu\n"
	       "# HELP ppissuer_hsm_recoveries_total PKCS#11 sessions reopened after a fault.\n"
	       "# TYPE ppissuer_hsm_recoveries_total counter\n"
	       "ppissuer_hsm_recoveries_total{backend=\"pkcs11\"} %llu\n"
	       "# HELP ppissuer_hsm_sign_duration_seconds Signing latency in the PKCS#11 token.\n"
	       "# TYPE ppissuer_hsm_sign_duration_seconds histogram\n",
	    (unsigned long long)(st.ops - st.errors),
	    (unsigned long long)st.errors, (unsigned long long)st.errors,
	    (unsigned long long)st.recoveries);
	for (i = 0; i < P11_LAT_BUCKETS; i++)
		out(b, "ppissuer_hsm_sign_duration_seconds_bucket{backend=\"pkcs11\",le=\"%.6f\"} %llu\n",
		    (double)p11_lat_le_us[i] / 1e6,
		    (unsigned long long)st.lat_bucket[i]);
	out(b, "ppissuer_hsm_sign_duration_seconds_bucket{backend=\"pkcs11\",le=\"+Inf\"} %llu\n"
	       "ppissuer_hsm_sign_duration_seconds_sum{backend=\"pkcs11\"} %.6f\n"
	       "ppissuer_hsm_sign_duration_seconds_count{backend=\"pkcs11\"} %llu\n",
	    (unsigned long long)st.lat_bucket[P11_LAT_BUCKETS],
	    (double)st.lat_sum_us / 1e6, (unsigned long long)st.lat_count);
}

/* The Redis store's nodes (the single Redis, or each cluster master seen),
 * its redirections, retries and replication waits; nothing for lmdb. */
static void met_spent_redis_render(struct met_buf *b, struct spent_store *spent)
{
	struct spent_node_stats nodes[SPENT_NODES_MAX];
	struct spent_stats st;
	size_t n, i;

	if (strcmp(spent_backend_name(spent), "redis") != 0)
		return;
	n = spent_nodes_get(spent, nodes, SPENT_NODES_MAX);
	if (n > SPENT_NODES_MAX)
		n = SPENT_NODES_MAX;
	out(b, "# HELP ppissuer_spent_redis_node_commands_total Replies from each Redis node.\n"
	       "# TYPE ppissuer_spent_redis_node_commands_total counter\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_spent_redis_node_commands_total{node=\"%s\"} %llu\n",
		    nodes[i].addr, (unsigned long long)nodes[i].commands);
	out(b, "# HELP ppissuer_spent_redis_node_errors_total Error replies, lost and timed-out commands of each Redis node.\n"
	       "# TYPE ppissuer_spent_redis_node_errors_total counter\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_spent_redis_node_errors_total{node=\"%s\"} %llu\n",
		    nodes[i].addr, (unsigned long long)nodes[i].errors);
	out(b, "# HELP ppissuer_spent_redis_node_latency_seconds_sum Send-to-reply time of each Redis node's replies (with _count: the mean).\n"
	       "# TYPE ppissuer_spent_redis_node_latency_seconds_sum counter\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_spent_redis_node_latency_seconds_sum{node=\"%s\"} %.6f\n"
		       "ppissuer_spent_redis_node_latency_seconds_count{node=\"%s\"} %llu\n",
		    nodes[i].addr, (double)nodes[i].latency_us / 1e6, nodes[i].addr,
		    (unsigned long long)nodes[i].commands);
	out(b, "# HELP ppissuer_spent_redis_node_up 1 while the connection to the node is up; master 1 when it serves slots.\n"
	       "# TYPE ppissuer_spent_redis_node_up gauge\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_spent_redis_node_up{node=\"%s\",master=\"%d\"} %d\n",
		    nodes[i].addr, nodes[i].master, nodes[i].connected);
	spent_stats_get(spent, &st);
	out(b, "# HELP ppissuer_spent_redis_redirections_total Redis Cluster MOVED and ASK replies.\n"
	       "# TYPE ppissuer_spent_redis_redirections_total counter\n"
	       "ppissuer_spent_redis_redirections_total{kind=\"moved\"} %llu\n"
	       "ppissuer_spent_redis_redirections_total{kind=\"ask\"} %llu\n",
	    (unsigned long long)st.moved, (unsigned long long)st.ask);
	out(b, "# HELP ppissuer_spent_redis_retries_total Commands re-sent after a lost reply (own: the retry found our own record).\n"
	       "# TYPE ppissuer_spent_redis_retries_total counter\n"
	       "ppissuer_spent_redis_retries_total{result=\"all\"} %llu\n"
	       "ppissuer_spent_redis_retries_total{result=\"own\"} %llu\n",
	    (unsigned long long)st.retries, (unsigned long long)st.retried_own);
	out(b, "# HELP ppissuer_spent_redis_waits_total WAIT commands (redis-min-replicas), by outcome.\n"
	       "# TYPE ppissuer_spent_redis_waits_total counter\n"
	       "ppissuer_spent_redis_waits_total{result=\"ok\"} %llu\n"
	       "ppissuer_spent_redis_waits_total{result=\"too_few_replicas\"} %llu\n",
	    (unsigned long long)(st.waits - st.wait_failures),
	    (unsigned long long)st.wait_failures);
	out(b, "# HELP ppissuer_spent_redis_topology_reads_total CLUSTER SLOTS reads that succeeded.\n"
	       "# TYPE ppissuer_spent_redis_topology_reads_total counter\n"
	       "ppissuer_spent_redis_topology_reads_total %llu\n",
	    (unsigned long long)st.topology);
}

/* The LMDB store's group commit: records per commit is the batch size, the
 * figure that says whether syncs are shared. */
static void met_spent_lmdb_render(struct met_buf *b, struct spent_store *spent)
{
	struct spent_stats st;

	if (strcmp(spent_backend_name(spent), "lmdb") != 0)
		return;
	spent_stats_get(spent, &st);
	out(b, "# HELP ppissuer_spent_lmdb_commits_total Synced write transactions of redemptions.\n"
	       "# TYPE ppissuer_spent_lmdb_commits_total counter\n"
	       "ppissuer_spent_lmdb_commits_total %llu\n"
	       "# HELP ppissuer_spent_lmdb_commit_records_total Redemptions answered by those commits.\n"
	       "# TYPE ppissuer_spent_lmdb_commit_records_total counter\n"
	       "ppissuer_spent_lmdb_commit_records_total %llu\n"
	       "# HELP ppissuer_spent_lmdb_commit_records_max Most redemptions in one commit.\n"
	       "# TYPE ppissuer_spent_lmdb_commit_records_max gauge\n"
	       "ppissuer_spent_lmdb_commit_records_max %llu\n",
	    (unsigned long long)st.commits, (unsigned long long)st.commit_records,
	    (unsigned long long)st.max_batch);
}

/* The spent store's failures by cause (every cause, zeros included, so a
 * rate() starts from 0) and whether it can record now. */
static void met_spent_render(struct met_buf *b, struct spent_store *spent)
{
	struct spent_health h;
	int c;

	if (!spent)
		return;
	spent_health_get(spent, &h);
	out(b, "# HELP ppissuer_spent_store_errors_total Spent-store write failures by cause.\n"
	       "# TYPE ppissuer_spent_store_errors_total counter\n");
	for (c = SPENT_CAUSE_NONE + 1; c < SPENT_CAUSE_COUNT; c++)
		out(b, "ppissuer_spent_store_errors_total{backend=\"%s\",cause=\"%s\"} %llu\n",
		    h.backend, spent_cause_name((enum spent_cause)c),
		    (unsigned long long)h.errors[c]);
	out(b, "# HELP ppissuer_spent_store_healthy 1 when the spent store can record redemptions.\n"
	       "# TYPE ppissuer_spent_store_healthy gauge\n"
	       "ppissuer_spent_store_healthy{backend=\"%s\"} %d\n",
	    h.backend, h.healthy ? 1 : 0);
	met_spent_lmdb_render(b, spent);
	met_spent_redis_render(b, spent);
}

char *met_render(const struct ks_keyset *ks, struct spent_store *spent,
		 size_t *len)
{
	struct met_buf b = { .p = malloc(8192), .len = 0, .cap = 8192, .oom = 0 };
	unsigned long long cum = 0;
	size_t r, s, i;

	*len = 0;
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	out(&b, "# HELP ppissuer_http_requests_total HTTP requests by route and status.\n"
		"# TYPE ppissuer_http_requests_total counter\n");
	for (r = 0; r < MET_ROUTE_COUNT; r++)
		for (s = 0; s < N_STATUS; s++) {
			unsigned long long v = atomic_load(&met.requests[r][s]);
			char code[8];

			if (!v)
				continue;
			met_status_label(s, code);
			out(&b, "ppissuer_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
			    route_names[r], code, v);
		}
	out(&b, "# HELP ppissuer_tokens_issued_total Tokens signed, by token key id.\n"
		"# TYPE ppissuer_tokens_issued_total counter\n");
	for (i = 0; i < 256; i++) {
		struct met_key_count *c = atomic_load(&met.issued[i]);
		char hex[65];

		if (!c)
			continue;
		hex32(c->key_id, hex);
		out(&b, "ppissuer_tokens_issued_total{key_id=\"%s\"} %llu\n", hex,
		    (unsigned long long)atomic_load(&c->n));
	}
	out(&b, "# HELP ppissuer_sign_duration_seconds Blind-signing latency.\n"
		"# TYPE ppissuer_sign_duration_seconds histogram\n");
	for (i = 0; i <= N_BUCKETS; i++) {
		cum += atomic_load(&met.sign_bucket[i]);
		if (i < N_BUCKETS)
			out(&b, "ppissuer_sign_duration_seconds_bucket{le=\"%.6f\"} %llu\n",
			    (double)met_buckets[i] / 1e6, cum);
		else
			out(&b, "ppissuer_sign_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
	}
	out(&b, "ppissuer_sign_duration_seconds_sum %.6f\n"
		"ppissuer_sign_duration_seconds_count %llu\n",
	    (double)atomic_load(&met.sign_sum_us) / 1e6,
	    (unsigned long long)atomic_load(&met.sign_count));
	out(&b, "# HELP ppissuer_redemptions_total Redemptions by result.\n"
		"# TYPE ppissuer_redemptions_total counter\n");
	for (i = 0; i < MET_REDEEM_COUNT; i++)
		out(&b, "ppissuer_redemptions_total{result=\"%s\"} %llu\n", redeem_names[i],
		    (unsigned long long)atomic_load(&met.redeemed[i]));
	out(&b, "# HELP ppissuer_key_reloads_total Key-set reloads by outcome.\n"
		"# TYPE ppissuer_key_reloads_total counter\n"
		"ppissuer_key_reloads_total{result=\"ok\"} %llu\n"
		"ppissuer_key_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)atomic_load(&met.reload_ok),
	    (unsigned long long)atomic_load(&met.reload_fail));
	out(&b, "# HELP ppissuer_keys_unreadable Keys whose files cannot be read now: kept from the previous key set (kept) or never loaded, their tokens answered 503 (unavailable).\n"
		"# TYPE ppissuer_keys_unreadable gauge\n"
		"ppissuer_keys_unreadable{kind=\"kept\"} %zu\n"
		"ppissuer_keys_unreadable{kind=\"unavailable\"} %zu\n",
	    ks ? ks->n_kept : 0, ks ? ks->n_unavailable : 0);
	out(&b, "# HELP ppissuer_key_not_before_seconds Keys loaded: not-before time, by id and state.\n"
		"# TYPE ppissuer_key_not_before_seconds gauge\n");
	for (i = 0; ks && i < ks->n; i++) {
		const struct ks_entry *e = &ks->entries[i];

		out(&b, "ppissuer_key_not_before_seconds{key_id=\"%s\",state=\"%s\",published=\"%d\"} %lld\n",
		    e->meta.id_hex, state_name(e->state), e->published ? 1 : 0,
		    (long long)e->meta.not_before);
	}
	met_spent_render(&b, spent);
	met_hsm_render(&b);
	met_clients_render_into(&b);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
