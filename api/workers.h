/* Threads for requests whose work takes milliseconds (batches, token types
 * whose issuance costs several RSA or P-384 operations). Run on a loop
 * thread, such work holds up every other connection of that thread: with
 * two connections sending batches of 100, a directory GET waited 35 ms
 * (p50) instead of 0.07 ms. Handed here, it runs while the loop threads go
 * on answering; the job resumes its connection when done.
 *
 * The threads run at a lower priority (nice +5) than the loop threads, so
 * when both want the CPU the cheap requests go first; when only they want
 * it, they have all of it. Jobs run first in first out. */
#ifndef PP_API_WORKERS_H
#define PP_API_WORKERS_H

#include <stddef.h>

#include "api/listener.h"

struct api_workers;

/* Starts n threads (>= 1). 0 or PP_ERR_NOMEM with err filled. */
int api_workers_start(unsigned n, struct api_workers **out, char *err,
		      size_t errlen);
/* Queues d; one of the threads runs d->run(d). d lives in the request, whose
 * connection the job resumes. Any thread. */
void api_workers_submit(struct api_workers *w, struct api_deferred *d);
/* Runs what is queued, ends the threads and frees w. Call before the loop
 * threads go (jobs resume connections on them). Accepts NULL. */
void api_workers_stop(struct api_workers *w);

#endif
