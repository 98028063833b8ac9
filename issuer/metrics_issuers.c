/* The per-issuer families of /metrics when one server runs several issuers.
 * Labels are issuer names from the configuration, never request data, so
 * the number of series is bounded by the configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer/metrics.h"
#include "issuer/metrics_int.h"
#include "issuer/spent.h"
#include "keys/keyset.h"

#define out met_buf_printf

void met_scope_request(struct met_scope *m, enum met_route r, unsigned status)
{
	if (r >= MET_ROUTE_COUNT)
		r = MET_ROUTE_OTHER;
	atomic_fetch_add_explicit(&m->requests[r][met_status_slot(status)], 1,
				  memory_order_relaxed);
}

void met_scope_issued(struct met_scope *m, unsigned long n)
{
	atomic_fetch_add_explicit(&m->issued, n, memory_order_relaxed);
}

static size_t published_count(const struct ks_keyset *ks)
{
	size_t i, n = 0;

	for (i = 0; ks && i < ks->n; i++)
		n += ks->entries[i].published ? 1 : 0;
	return n;
}

static void render_requests(struct met_buf *b, const struct met_issuer_view *v,
			    size_t n)
{
	size_t i, r, s;

	out(b, "# HELP ppissuer_issuer_http_requests_total HTTP requests by issuer, route and status.\n"
	       "# TYPE ppissuer_issuer_http_requests_total counter\n");
	for (i = 0; i < n; i++)
		for (r = 0; r < MET_ROUTE_COUNT; r++)
			for (s = 0; s < MET_STATUS_SLOTS; s++) {
				unsigned long long c =
					atomic_load(&v[i].scope->requests[r][s]);
				char code[8];

				if (!c)
					continue;
				met_status_label(s, code);
				out(b, "ppissuer_issuer_http_requests_total{issuer=\"%s\","
				       "route=\"%s\",status=\"%s\"} %llu\n", v[i].name,
				    met_route_name((enum met_route)r), code, c);
			}
	out(b, "# HELP ppissuer_issuer_tokens_issued_total Tokens signed, by issuer.\n"
	       "# TYPE ppissuer_issuer_tokens_issued_total counter\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_issuer_tokens_issued_total{issuer=\"%s\"} %llu\n",
		    v[i].name, (unsigned long long)atomic_load(&v[i].scope->issued));
}

/* How many keys each issuer publishes, against its maximum: every key
 * splits the clients that use it from the others (RFC 9576). */
static void render_keys(struct met_buf *b, const struct met_issuer_view *v,
			size_t n)
{
	size_t i, k;

	out(b, "# HELP ppissuer_issuer_keys_published Keys of all types the issuer's directory lists.\n"
	       "# TYPE ppissuer_issuer_keys_published gauge\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_issuer_keys_published{issuer=\"%s\"} %zu\n",
		    v[i].name, published_count(v[i].ks));
	out(b, "# HELP ppissuer_issuer_max_published_keys The issuer's max-published-keys (0 = no check).\n"
	       "# TYPE ppissuer_issuer_max_published_keys gauge\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_issuer_max_published_keys{issuer=\"%s\"} %lu\n",
		    v[i].name, v[i].max_published);
	out(b, "# HELP ppissuer_issuer_keys_over_max 1 while the issuer publishes more keys than max-published-keys (smaller anonymity sets).\n"
	       "# TYPE ppissuer_issuer_keys_over_max gauge\n");
	for (i = 0; i < n; i++)
		out(b, "ppissuer_issuer_keys_over_max{issuer=\"%s\"} %d\n", v[i].name,
		    v[i].max_published > 0 &&
		    published_count(v[i].ks) > v[i].max_published);
	out(b, "# HELP ppissuer_issuer_key_not_before_seconds Keys loaded: not-before time, by issuer, id and state.\n"
	       "# TYPE ppissuer_issuer_key_not_before_seconds gauge\n");
	for (i = 0; i < n; i++)
		for (k = 0; v[i].ks && k < v[i].ks->n; k++) {
			const struct ks_entry *e = &v[i].ks->entries[k];

			out(b, "ppissuer_issuer_key_not_before_seconds{issuer=\"%s\","
			       "key_id=\"%s\",state=\"%s\",published=\"%d\"} %lld\n",
			    v[i].name, e->meta.id_hex, ks_state_name(e->state),
			    e->published ? 1 : 0, (long long)e->meta.not_before);
		}
	out(b, "# HELP ppissuer_issuer_spent_store_healthy 1 when the issuer's spent store can record redemptions.\n"
	       "# TYPE ppissuer_issuer_spent_store_healthy gauge\n");
	for (i = 0; i < n; i++) {
		struct spent_health h;

		if (!v[i].spent)
			continue;
		spent_health_get(v[i].spent, &h);
		out(b, "ppissuer_issuer_spent_store_healthy{issuer=\"%s\",backend=\"%s\"} %d\n",
		    v[i].name, h.backend, h.healthy ? 1 : 0);
	}
}

char *met_render_published(char *text, size_t *len, const struct ks_keyset *ks,
			   unsigned long max)
{
	struct met_buf b = { .p = text, .len = *len, .cap = *len + 1, .oom = 0 };
	size_t n = published_count(ks);

	if (!text)
		return NULL;
	out(&b, "# HELP ppissuer_keys_published Keys of all types the directory lists.\n"
		"# TYPE ppissuer_keys_published gauge\n"
		"ppissuer_keys_published %zu\n"
		"# HELP ppissuer_keys_over_max 1 while the directory lists more keys than max-published-keys (smaller anonymity sets).\n"
		"# TYPE ppissuer_keys_over_max gauge\n"
		"ppissuer_keys_over_max %d\n", n, max > 0 && n > max);
	if (b.oom) {
		free(b.p);
		*len = 0;
		return NULL;
	}
	*len = b.len;
	return b.p;
}

char *met_render_issuers(const struct met_issuer_view *v, size_t n,
			 int with_global, size_t *len)
{
	struct met_buf b = { .p = NULL, .len = 0, .cap = 0, .oom = 0 };
	size_t glen = 0;

	*len = 0;
	if (with_global) {
		b.p = met_render(NULL, NULL, &glen);
		if (!b.p)
			return NULL;
		b.len = glen;
		b.cap = glen + 1;
	} else {
		b.p = malloc(4096);
		if (!b.p)
			return NULL;
		b.p[0] = '\0';
		b.cap = 4096;
	}
	render_requests(&b, v, n);
	render_keys(&b, v, n);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
