/* The gate's copy of its issuer's directory: fetched over HTTP (libcurl)
 * from <issuer>/.well-known/private-token-issuer-directory by a thread of
 * its own, kept for the answer's Cache-Control max-age, revalidated with
 * If-None-Match, and fetched again early when a token names a key id it
 * does not list (at most once per GATE_DIR_KICK_MIN_S). A failed fetch
 * keeps the copy it has and retries every few seconds. Publicly verifiable
 * keys get a prepared verifier (tt_verifier_new). */
#ifndef PP_GATE_DIR_H
#define PP_GATE_DIR_H

#include <stddef.h>
#include <stdint.h>

#define GATE_DIR_KICK_MIN_S 10   /* early fetches at most this often */
#define GATE_DIR_RETRY_S 2       /* after a failed fetch */
#define GATE_DIR_MAX_AGE_MIN 5   /* a shorter max-age is taken as this */
#define GATE_DIR_MAX_AGE_MAX 86400
#define GATE_DIR_BODY_MAX (256 * 1024)

struct gate_dir;
struct tt_key;

/* Starts the fetch thread; the first fetch begins at once (gate_dir_wait
 * waits for it). url is the issuer's base URL. Never fails because the
 * issuer is down. */
int gate_dir_open(const char *issuer_url, unsigned timeout_ms,
		  struct gate_dir **out, char *err, size_t errlen);
/* Stops the thread and frees everything. NULL is accepted. */
void gate_dir_close(struct gate_dir *d);
/* Waits up to ms milliseconds for a first directory; 1 when there is one. */
int gate_dir_wait(struct gate_dir *d, unsigned ms);
/* 1 once a directory was read. */
int gate_dir_ready(struct gate_dir *d);

/* The verifier of key id (a reference: tt_key_free it). 0;
 * PP_ERR_UNKNOWN_KEY when the directory does not list it (an early fetch is
 * asked for); PP_ERR_TOKEN_TYPE when the key is listed but the gate cannot
 * verify it itself (a privately verifiable type: *out NULL);
 * PP_ERR_UNAVAILABLE when no directory was read yet. */
int gate_dir_verifier(struct gate_dir *d, const uint8_t id[32],
		      struct tt_key **out);
/* The public form of the key of type to challenge with at now: the first
 * listed key of that type whose not-before has passed (else the first of
 * that type). PP_ERR_UNKNOWN_KEY when none; PP_ERR_UNAVAILABLE as above. */
int gate_dir_token_key(struct gate_dir *d, uint16_t type, int64_t now,
		       uint8_t *pub, size_t cap, size_t *len);
/* The token types the directory lists, in order, without repeats. */
int gate_dir_types(struct gate_dir *d, uint16_t *types, size_t cap, size_t *n);

#endif
