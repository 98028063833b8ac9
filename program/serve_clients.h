/* The client side of `ppissuer serve`: the registry snapshot and the limiter
 * the HTTP layer checks requests against, loaded at start-up and reloaded in
 * the same tick and SIGHUP path as the key set. */
#ifndef PP_SERVE_CLIENTS_H
#define PP_SERVE_CLIENTS_H

#include <stddef.h>

#include "issuer/clients.h"

struct cfg;
struct rl_limiter;

struct srv_clients {
	const char *data_dir;        /* borrowed from the config */
	struct cl_current *current;  /* the registry requests use */
	struct rl_limiter *limits;
	char fingerprint[CL_FP_LEN]; /* of the file current was read from */
	char label[48];              /* "issuer 'a': " or "", for log lines */
};

/* Loads the registry and makes the limiter. Refuses (PP_ERR_CONFIG, err
 * says to run `ppissuer clients add`) when require-auth is set and no client
 * is registered; warns loudly when the server will run open. A registry
 * that cannot be read is an error: the server never falls back to open. */
int srv_clients_open(struct srv_clients *sc, const struct cfg *c,
		     const char *label, char *err, size_t errlen);
/* Rereads the registry; a failure keeps the previous one and is logged. */
void srv_clients_reload(struct srv_clients *sc, const char *why);
/* Rereads it when the file changed since the last load. */
void srv_clients_tick(struct srv_clients *sc);
/* Frees everything; sc may be zeroed. Only after the HTTP server stopped. */
void srv_clients_close(struct srv_clients *sc);

#endif
