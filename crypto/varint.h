/* QUIC variable-length integers (RFC 9000 section 16): the two top bits of
 * the first byte give the length (1, 2, 4 or 8 bytes), the rest is the
 * value, big-endian; values up to 2^62 - 1. Used as the length prefix of
 * `<V>` vectors in draft-ietf-privacypass-batched-tokens. */
#ifndef PP_VARINT_H
#define PP_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VI_MAX UINT64_C(0x3fffffffffffffff)
#define VI_MAX_LEN 8

/* Length of the minimal encoding of v (1, 2, 4 or 8), 0 when v > VI_MAX. */
size_t vi_encoded_len(uint64_t v);

/* Writes the minimal encoding of v. Returns 0, PP_ERR_ARG (v > VI_MAX) or
 * PP_ERR_BUFFER. *out_len (optional) gets the length, 0 on error. */
int vi_encode(uint64_t v, uint8_t *out, size_t out_cap, size_t *out_len);

/* Reads one varint from in[0..len). *v gets the value and *used (optional)
 * the bytes read; both 0 on error. PP_ERR_TRUNCATED when the input is
 * shorter than the length the first byte announces (or empty);
 * PP_ERR_LENGTH when require_minimal is set and a shorter encoding of the
 * value exists (e.g. 0x4001 for 1). */
int vi_decode(const uint8_t *in, size_t len, int require_minimal,
	      uint64_t *v, size_t *used);

#endif
