/* The optional HTTPS listener (libmicrohttpd over GnuTLS) and client
 * certificates: loads the server certificate, key and client CA, gives the
 * daemon options, and reads and verifies the certificate a client presented
 * on a connection. */
#ifndef PP_API_TLS_H
#define PP_API_TLS_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "issuer/clients.h"

struct api_opts;
struct api_tls;

/* Reads o->tls_cert_file, o->tls_key_file (refused when group or others can
 * read it) and o->tls_client_ca_file (optional), each capped at 1 MiB.
 * Returns 0 or PP_ERR_* with err filled. */
int api_tls_load(const struct api_opts *o, struct api_tls **out, char *err,
		 size_t errlen);
/* Wipes the key and frees t (NULL is fine). Only after the daemon stopped. */
void api_tls_free(struct api_tls *t);
/* MHD options for the TLS daemon, ending with MHD_OPTION_END; valid while t
 * lives. With a client CA, clients are asked for a certificate. */
const struct MHD_OptionItem *api_tls_options(const struct api_tls *t);

struct api_tls_peer {
	uint8_t spki_sha256[32];            /* SHA-256 of the SPKI DER */
	char subject[CL_SUBJECT_MAX + 1];   /* RFC 4514 DN, "" if too long */
	int64_t not_after;                  /* unix seconds */
};

/* The verified client certificate of conn. PP_ERR_NOT_FOUND when conn is
 * not TLS or no certificate was sent; PP_ERR_AUTH when one was sent but
 * does not verify against the client CA (untrusted, expired, not for client
 * authentication) or cannot be read. */
int api_tls_peer_get(struct MHD_Connection *conn, struct api_tls_peer *out);

#endif
