/* The issuer directory body (RFC 9578 section 4) of a key set, and its
 * ETag. Internal to keys/. */
#ifndef PP_KS_DIRECTORY_H
#define PP_KS_DIRECTORY_H

#include <stddef.h>

#include "keys/keyset.h"

/* Serializes the published entries of e[0..n), in their order, as
 *   {"issuer-request-uri": uri, "token-keys": [{"token-type": 2,
 *    "token-key": "<padded base64url key>", "not-before": <seconds>}, ...]}
 * compact and deterministic, so servers sharing a store serve the same
 * bytes. *body is malloc'd. etag gets the quoted hex of the first 16 bytes
 * of SHA-256(body). */
int ks_directory_build(const char *uri, const struct ks_entry *e, size_t n,
		       char **body, size_t *len, char etag[48]);

#endif
