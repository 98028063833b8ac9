/* base64url (RFC 4648 section 5) over libsodium's codec.
 * Output is padded; input may be padded or unpadded. Decoding is strict:
 * only A-Z a-z 0-9 '-' '_' and final padding, no whitespace, no '+' or '/',
 * a padded text has exactly the '=' its last group needs, and the unused
 * low bits of the last symbol must be zero (one text per byte string).
 *
 * libsodium's codec keeps no state, so these functions do not need
 * sodium_init(); the program still calls it once at start for the rest of
 * libsodium. */
#ifndef PP_B64_H
#define PP_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of len bytes including padding, excluding the NUL
 * (SIZE_MAX if that does not fit a size_t). */
size_t b64_encoded_len(size_t len);

/* Encodes in[0..len) as padded base64url into out, NUL-terminated.
 * out_cap must be >= b64_encoded_len(len) + 1. *out_len (optional) gets the
 * length without the NUL. Returns 0, PP_ERR_BUFFER, or PP_ERR_ARG when in is
 * NULL with len > 0. */
int b64_encode(const uint8_t *in, size_t len, char *out, size_t out_cap,
	       size_t *out_len);

/* Decodes base64url text in[0..len) (padded or unpadded; no whitespace, no
 * '+' or '/') into out. Returns 0, PP_ERR_BASE64 for bad text, or
 * PP_ERR_BUFFER when the result does not fit out_cap. *out_len (optional)
 * is 0 on error;
 * out may then hold partial output. Empty text decodes to 0 bytes. */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
	       size_t *out_len);

/* b64_decode for public text (tokens, requests): the same answers, several
 * times faster, through a table lookup per symbol, which a secret must not
 * go through. */
int b64_decode_public(const char *in, size_t len, uint8_t *out,
		      size_t out_cap, size_t *out_len);

#endif
