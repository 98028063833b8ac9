/* The spent store's answers in line, for tests: submit through the one path
 * the server uses (spent_submit, spent_contains_submit) and wait on a
 * condition variable for done. Never call these from a done callback: the
 * thread that runs done would wait for itself. */
#ifndef PP_TU_SPENT_H
#define PP_TU_SPENT_H

#include <stdint.h>

#include "issuer/spent.h"

/* spent_submit, then waits for done: returns done's rc (0, PP_ERR_SPENT or
 * PP_ERR_UNAVAILABLE), or spent_submit's own PP_ERR_ARG (done not called).
 * The request is counted in spent_stats by the time this returns. */
int tu_spent_record(struct spent_store *s,
		    const uint8_t key_id[SPENT_KEY_ID_LEN],
		    const uint8_t nonce[SPENT_NONCE_LEN], int64_t expires_at);

/* spent_contains_submit, then waits for done: 0 (not spent), PP_ERR_SPENT,
 * PP_ERR_UNAVAILABLE, or PP_ERR_ARG. */
int tu_spent_contains(struct spent_store *s,
		      const uint8_t key_id[SPENT_KEY_ID_LEN],
		      const uint8_t nonce[SPENT_NONCE_LEN]);

#endif
