/* Several issuers in one process: the table that maps a request's Host to
 * one issuer's services (its svc, its clients and its limits).
 *
 * The table is immutable and reference counted, like the key-set snapshot:
 * a request takes a reference for its whole life (tn_current_get), a reload
 * builds a new table off the request path and swaps one pointer
 * (tn_current_swap), and the old table goes when its last request is done.
 * An issuer counts the tables that hold it (tn_issuer_in_use): the program
 * closes an issuer it removed only once no table, and so no request, holds
 * it any more; releasing a table never closes an issuer itself, so no
 * event-loop thread ever waits for a store to close.
 *
 * Names and hosts come from the configuration only (names are metric
 * labels, so their number is bounded by it). With one issuer and no
 * `issuers` section there is no table at all: requests go to the one
 * service as before. */
#ifndef PP_TENANT_H
#define PP_TENANT_H

#include <stddef.h>

#define TN_NAME_MAX 32          /* [a-z0-9-], not starting with '-' */
#define TN_HOST_MAX 253         /* a DNS name, an IPv4 or a [IPv6] literal */
#define TN_HOSTS_MAX 16         /* host names of one issuer */
#define TN_ISSUERS_MAX 64       /* issuers in one process */

struct svc;
struct cl_current;
struct rl_limiter;

/* What an issuer is made of, as the HTTP layer needs it. Everything is
 * borrowed: the program keeps it alive until tn_issuer_in_use says 0. */
struct tn_parts {
	const char *name;
	struct svc *svc;
	struct cl_current *clients;  /* NULL: nobody registered */
	struct rl_limiter *limits;   /* NULL: no limits */
	int require_auth;
};

struct tn_issuer;

/* Copies name; hosts[0..n) must be normalized (tn_host_normalize) and are
 * copied. Returns 0, PP_ERR_ARG (a bad name or host) or PP_ERR_NOMEM. */
int tn_issuer_new(const struct tn_parts *p, const char *const *hosts,
		  size_t n_hosts, struct tn_issuer **out);
/* Frees an issuer no table holds (aborts if one still does). NULL is
 * accepted. */
void tn_issuer_free(struct tn_issuer *t);
/* How many tables hold it now; 0 once the last request of the last table
 * that named it is complete. */
long tn_issuer_in_use(const struct tn_issuer *t);
const struct tn_parts *tn_issuer_parts(const struct tn_issuer *t);
size_t tn_issuer_hosts(const struct tn_issuer *t, const char *const **hosts);

struct tn_table;

/* A table of n issuers (each at most once, hosts unique across them:
 * else PP_ERR_ARG). The caller owns one reference. */
int tn_table_new(struct tn_issuer *const *issuers, size_t n,
		 struct tn_table **out);
struct tn_table *tn_table_ref(struct tn_table *t);
void tn_table_unref(struct tn_table *t);
size_t tn_table_count(const struct tn_table *t);
const struct tn_parts *tn_table_at(const struct tn_table *t, size_t i);
/* The issuer serving a normalized host, or NULL. */
const struct tn_parts *tn_table_find(const struct tn_table *t,
				     const char *host);

/* The current table, shared by all request threads. */
struct tn_current;
/* Takes over the caller's reference to initial (not NULL). */
int tn_current_new(struct tn_table *initial, struct tn_current **out);
void tn_current_free(struct tn_current *c);
/* A new reference to the current table (never NULL). */
struct tn_table *tn_current_get(struct tn_current *c);
/* Installs t (taking over the caller's reference). */
void tn_current_swap(struct tn_current *c, struct tn_table *t);

/* Whether name is a valid issuer name: 1 or 0. */
int tn_name_valid(const char *name);

/* The routing form of a Host header value or a configured host name:
 * lower case, without the port and without a trailing dot; an IPv6 literal
 * keeps its brackets. Accepts reg-names of [a-z0-9._-], IPv4 and [IPv6]
 * literals and an optional :PORT (digits). Writes into out (TN_HOST_MAX + 1
 * bytes) and returns 0, 1 when a port was given (stripped), or PP_ERR_ARG
 * for anything else (empty, too long, other characters, a bad port). */
int tn_host_normalize(const char *in, char out[TN_HOST_MAX + 1]);

#endif
