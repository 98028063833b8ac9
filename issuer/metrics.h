/* Process-wide counters for /metrics (Prometheus text format). Updates are
 * relaxed atomic adds: no lock on the request path; values are summed when
 * scraped. */
#ifndef PP_METRICS_H
#define PP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum met_route {
	MET_ROUTE_DIRECTORY,
	MET_ROUTE_TOKEN_REQUEST,
	MET_ROUTE_REDEEM,
	MET_ROUTE_HEALTHZ,
	MET_ROUTE_READYZ,
	MET_ROUTE_METRICS,
	MET_ROUTE_OTHER,
	MET_ROUTE_COUNT
};

enum met_redeem {
	MET_REDEEM_VALID,
	MET_REDEEM_SPENT,
	MET_REDEEM_INVALID,
	MET_REDEEM_UNAVAILABLE,
	MET_REDEEM_COUNT
};

struct ks_keyset;
struct spent_store;

const char *met_route_name(enum met_route r);

void met_request(enum met_route r, unsigned status, uint64_t dur_us);
/* Counts one token signed with the key of this id. */
void met_token_issued(const uint8_t key_id[32]);
void met_sign_latency(uint64_t dur_us);
void met_redeemed(enum met_redeem result);
void met_reload(int ok);

/* ---- per client (metrics_clients.c) ----
 * Clients are registry names (short, [A-Za-z0-9._-]); counters are kept for
 * at most a few thousand names, beyond which updates are dropped. */
enum met_limit { MET_LIMIT_RATE, MET_LIMIT_QUOTA, MET_LIMIT_GLOBAL, MET_LIMIT_COUNT };
enum met_auth {
	MET_AUTH_MISSING,   /* no credentials */
	MET_AUTH_INVALID,   /* unknown secret or malformed header */
	MET_AUTH_REVOKED,   /* a revoked client's secret or certificate */
	MET_AUTH_ROLE,      /* a client of the wrong role */
	MET_AUTH_CERT,      /* a client certificate that does not verify or map */
	MET_AUTH_COUNT
};
void met_client_issued(const char *client);
/* A redemption request the origin was authorized for, by its answer. */
void met_client_redeemed(const char *client, enum met_redeem result);
/* client NULL: an anonymous request (open mode) refused by the global limit. */
void met_client_limited(const char *client, enum met_limit why);
void met_auth_failure(enum met_auth why);
/* Records the notAfter (unix seconds) of the certificate client presented. */
void met_client_cert_expiry(const char *client, int64_t not_after);

/* ---- per issuer (metrics_issuers.c), with several issuers ----
 * Each issuer's service keeps its own counters; they are rendered with an
 * issuer="<name>" label whose values come from the configuration only. */
#define MET_STATUS_SLOTS 18       /* the statuses counted, and "other" */
struct met_scope {
	atomic_ullong requests[MET_ROUTE_COUNT][MET_STATUS_SLOTS];
	atomic_ullong issued;
};
void met_scope_request(struct met_scope *m, enum met_route r, unsigned status);
void met_scope_issued(struct met_scope *m, unsigned long n);

/* One issuer as the metrics see it. */
struct met_issuer_view {
	const char *name;
	const struct ks_keyset *ks;
	struct spent_store *spent;
	const struct met_scope *scope;
	unsigned long max_published;   /* max-published-keys; 0 = no check */
};

/* The issuer families for v[0..n) (malloc'd; caller frees), after the
 * process-wide ones when with_global. NULL when out of memory. */
char *met_render_issuers(const struct met_issuer_view *v, size_t n,
			 int with_global, size_t *len);
/* Appends to text (met_render's, len bytes; taken over, NULL passes
 * through) the one issuer's published-key gauges: ppissuer_keys_published
 * and ppissuer_keys_over_max (max 0: no check). NULL when out of memory. */
char *met_render_published(char *text, size_t *len, const struct ks_keyset *ks,
			   unsigned long max);
/* The index of status in met_scope.requests' second dimension, and the
 * label of an index. */
size_t met_status_slot(unsigned status);
void met_status_label(size_t slot, char out[8]);

/* Renders every metric into a malloc'd buffer (caller frees). Key gauges
 * come from ks (may be NULL), the spent store's errors and health from
 * spent (may be NULL: not rendered). Returns NULL when out of memory. */
char *met_render(const struct ks_keyset *ks, struct spent_store *spent,
		 size_t *len);

#endif
