/* base64url (RFC 4648 section 5) over libsodium's codec.
 * Output is padded; input may be padded or unpadded. */
#ifndef PP_B64_H
#define PP_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of len bytes including padding, excluding the NUL. */
size_t b64_encoded_len(size_t len);

/* Encodes in[0..len) as padded base64url into out, NUL-terminated.
 * out_cap must be >= b64_encoded_len(len) + 1. *out_len (optional) gets the
 * length without the NUL. Returns 0 or PP_ERR_BUFFER. */
int b64_encode(const uint8_t *in, size_t len, char *out, size_t out_cap,
	       size_t *out_len);

/* Decodes base64url text in[0..len) (padded or unpadded; no whitespace, no
 * '+' or '/') into out. Returns 0, PP_ERR_BASE64 for bad text, or
 * PP_ERR_BUFFER when the result does not fit out_cap. *out_len is 0 on error. */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
	       size_t *out_len);

#endif
