/* One issuer of `ppissuer serve`: its key store, key-set snapshot, spent
 * store, retired-key tracker, clients and limits, and the service handle
 * api/ calls. A server without an issuers section has exactly one, named
 * NULL, on the data directory itself (as it always was); with the section,
 * one per entry, each on <data-dir>/issuers/<name>/ with nothing shared. */
#ifndef PP_SERVE_ISSUER_H
#define PP_SERVE_ISSUER_H

#include <stdint.h>

#include "issuer/retire.h"
#include "keys/keyset.h"
#include "keys/lifecycle.h"
#include "program/config.h"
#include "program/serve_clients.h"

struct tt_ops;
struct p11;
struct svc;
struct tn_issuer;

struct srv_issuer {
	char *name;                  /* NULL: the only issuer, unnamed */
	char label[48];              /* "" or "issuer 'a': ", for log lines */
	struct cfg cfg;              /* its settings (own copy) */
	char *canon;                 /* its config entry (reloads compare) */
	char **hosts;                /* routing forms; multi-issuer only */
	size_t n_hosts;
	struct kl_schedule sched;
	struct ks_store *store;
	struct spent_store *spent;
	struct ks_current *current;
	struct ks_keyset_opts kopts;
	char *request_uri;
	int64_t next_purge;
	int64_t keygen_last;
	struct srv_clients clients;  /* registry and limits */
	struct rt_tracker retire;    /* retired keys and their records */
	const struct tt_ops *types[16];
	size_t n_types;
	struct svc *svc;             /* what api/ calls */
	struct tn_issuer *tn;        /* its entry in the issuer table, or NULL */
	size_t published;            /* keys the current directory lists */
	/* A changed entry reopens the issuer on the same stores: the old one
	 * drains with them, and the new one closes them once it is gone. */
	struct srv_issuer *pred;     /* draining predecessor, or NULL */
	int handed_over;             /* store, spent, clients moved on */
	int took_clients;            /* its clients came from pred */
};

/* Opens an issuer with settings c (copied). name NULL: the single issuer.
 * inherit (may be NULL) is the running issuer of the same name, whose key
 * store, spent store and clients are taken over (its limiter too, when the
 * limits did not change). Returns 0, PP_ERR_CONFIG (err says what to fix)
 * or another PP_ERR_*. */
int srv_issuer_open(const struct cfg *c, const char *name,
		    const char *const *hosts, size_t n_hosts, const char *canon,
		    struct p11 *p11, struct srv_issuer *inherit,
		    struct srv_issuer **out, char *err, size_t errlen);
/* Every reload-interval: clients file, purge, scheduled rotation, key set. */
void srv_issuer_tick(struct srv_issuer *u);
/* SIGHUP: rebuilds the key set and rereads the clients. */
void srv_issuer_reload(struct srv_issuer *u, const char *why);
/* Undoes srv_issuer_open's take-over of u->pred (a reload that cannot
 * complete): the predecessor owns its stores and clients again; the caller
 * then closes u. */
void srv_issuer_give_back(struct srv_issuer *u);
/* Stops its spent store (answers what is queued); before api stops. */
void srv_issuer_shutdown(struct srv_issuer *u);
/* Frees it; only once no request can reach it. NULL is accepted. */
void srv_issuer_close(struct srv_issuer *u);

#endif
