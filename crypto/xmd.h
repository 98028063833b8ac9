/* expand_message_xmd, RFC 9380 section 5.3.1, over any fixed-output
 * OpenSSL digest (SHA-384 for P-384, SHA-512 for ristretto255).
 *
 * Pure and reentrant: no state outside the call, safe from many threads.
 * Runs in time that depends only on the lengths, never on the bytes of msg
 * or dst; intermediate blocks are wiped before returning. */
#ifndef PP_XMD_H
#define PP_XMD_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

/* Longest output the RFC allows from one call (ell <= 255 also applies:
 * 255 * the digest size, e.g. 12240 bytes for SHA-384). */
#define XMD_MAX_OUT 65535
/* A DST longer than this is first hashed (RFC 9380 section 5.3.3). */
#define XMD_MAX_DST 255

/* Writes out_len uniform bytes derived from msg and dst into out:
 * expand_message_xmd(msg, DST, out_len) with hash md.
 * msg may be NULL when msg_len is 0. dst must be non-empty; a dst longer
 * than 255 bytes is replaced by H("H2C-OVERSIZE-DST-" || dst) as the RFC
 * says. md must be a fixed-output digest (not an XOF such as SHAKE).
 * Returns 0; PP_ERR_ARG for a NULL pointer, an empty dst, out_len 0, an XOF
 * digest, out_len > 65535 or ell = ceil(out_len / digest size) > 255;
 * PP_ERR_INTERNAL when the digest fails. On error out is zeroed. */
int xmd_expand(const EVP_MD *md, const uint8_t *msg, size_t msg_len,
	       const uint8_t *dst, size_t dst_len, uint8_t *out,
	       size_t out_len);

#endif
