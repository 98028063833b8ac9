/* Redemption of privately verifiable tokens (types whose tokens only the
 * issuer can check) at the issuer's POST /redeem, with the origin's bearer
 * secret. One thread of its own makes the requests (libcurl, one kept-alive
 * connection), so event-loop threads never wait on the issuer. */
#ifndef PP_GATE_REMOTE_H
#define PP_GATE_REMOTE_H

#include <stddef.h>

#define GATE_REMOTE_QUEUE_MAX 4096

struct gate_remote;

/* bearer may be NULL (an issuer in open mode); it is copied into guarded
 * memory and wiped on close. */
int gate_remote_open(const char *issuer_url, const char *bearer,
		     unsigned timeout_ms, struct gate_remote **out);
/* Answers every queued request PP_ERR_UNAVAILABLE, stops the thread, frees.
 * NULL is accepted. */
void gate_remote_close(struct gate_remote *r);

/* Queues a redemption of token (base64url) for challenge (base64url of the
 * TokenChallenge it must match). done(arg, rc) runs once, on the thread or
 * before this returns: 0 (valid and now spent at the issuer), PP_ERR_SPENT,
 * PP_ERR_VERIFY (the issuer says invalid: bad signature, unknown key, other
 * challenge), PP_ERR_UNAVAILABLE (anything else: the issuer is down,
 * answers 5xx, refuses our credentials, the queue is full). Returns 0, or
 * PP_ERR_ARG / PP_ERR_NOMEM (done not called). */
int gate_remote_redeem(struct gate_remote *r, const char *token,
		       const char *challenge, void (*done)(void *arg, int rc),
		       void *arg);

#endif
