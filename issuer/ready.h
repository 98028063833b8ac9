/* Readiness: whether this instance should get traffic. Ready when a key of
 * the current key set can sign and the spent store (when redemption is on)
 * can record spends. */
#ifndef PP_READY_H
#define PP_READY_H

#include "issuer/spent.h"

struct svc;

struct rdy_state {
	int ready;
	int keys_ok;                 /* an active key can sign */
	int has_store;               /* redemption is on */
	struct spent_health store;   /* when has_store */
	char message[SPENT_MESSAGE_MAX + 64];  /* what fails, or "" */
};

void rdy_check(struct svc *s, struct rdy_state *out);

#endif
