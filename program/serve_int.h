/* Private to program/serve*.c: the server's state. */
#ifndef PP_SERVE_INT_H
#define PP_SERVE_INT_H

#include <stddef.h>

#include "program/config.h"

struct p11;
struct srv_issuer;
struct tn_current;

struct srv {
	struct cfg cfg;
	struct p11 *p11;              /* keys in a PKCS#11 token, or NULL */
	struct srv_issuer **units;    /* the issuers serving (one when cfg has
				       * no issuers section) */
	size_t n_units;
	/* Several issuers: the table api/ routes with, and issuers a reload
	 * removed or replaced, closed once no request holds them. */
	struct tn_current *table;
	struct srv_issuer **leaving;
	size_t n_leaving;
	int shared_key_logged;        /* srv_issuers_check said so already */
};

/* Opens every issuer of s->cfg.issuers and the table (serve_issuers.c).
 * 0, or PP_ERR_CONFIG / another code with err filled. */
int srv_issuers_open(struct srv *s, char *err, size_t errlen);
/* Rereads the issuers section and applies it: issuers added, changed
 * (reopened on their stores) and removed, one table swap. A failure keeps
 * everything as it was and is logged. */
void srv_issuers_reload(struct srv *s, const char *why);
/* Logs (once) a key that two issuers hold, as srv_issuers_open refuses. */
void srv_issuers_check(struct srv *s);
/* Closes the removed issuers no request holds any more. */
void srv_issuers_reap(struct srv *s);
/* Frees everything; only after the HTTP server stopped. */
void srv_issuers_close(struct srv *s);

#endif
