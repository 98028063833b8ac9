/* Internals of the PKCS#11 backend (pkcs11.c: module, sessions, login,
 * health; pkcs11_key.c: key objects, signing, creation). */
#ifndef PP_KS_PKCS11_INT_H
#define PP_KS_PKCS11_INT_H

#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdatomic.h>

#include "keys/pkcs11.h"

struct p11_sess {
	pthread_mutex_t mu;
	CK_SESSION_HANDLE h;
	int open;
};

struct p11 {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int finalize;              /* this backend initialized the module */
	char *module;
	char token[33];
	char *pin_file;            /* NULL: PPISSUER_PKCS11_PIN */
	CK_SLOT_ID slot;
	pthread_mutex_t mu;        /* held while (re)connecting */
	atomic_uint gen;           /* bumped by every (re)connection */
	atomic_int healthy;
	atomic_llong last_try_ms;  /* last recovery attempt */
	char why[256];             /* last fault, under mu */
	struct p11_sess *s;
	unsigned n;
	atomic_uint next;
};

/* Whether rv means the token, the slot or the session is gone or broken
 * (as opposed to a refusal of this one request). */
int p11_rv_fatal(CK_RV rv);
const char *p11_rv_name(CK_RV rv);

/* A session of the pool, locked, or NULL when the backend is broken and
 * does not recover now (PP_ERR_UNAVAILABLE). */
struct p11_sess *p11_sess_get(struct p11 *b);
void p11_sess_put(struct p11_sess *s);
/* Records a fault seen by an operation (rv in what) and marks the
 * backend broken; the next request or health check recovers it. */
void p11_fault(struct p11 *b, const char *what, CK_RV rv);

/* counters */
void p11_count_sign(uint64_t us, int ok);

#endif
