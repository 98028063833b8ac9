/* QUIC variable-length integers, RFC 9000 section 16. */
#include "varint.h"

#include "base/pp_err.h"

size_t vi_encoded_len(uint64_t v)
{
	if (v <= 63)
		return 1;
	if (v <= 16383)
		return 2;
	if (v <= 1073741823)
		return 4;
	if (v <= VI_MAX)
		return 8;
	return 0;
}

int vi_encode(uint64_t v, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t n = vi_encoded_len(v), i;
	static const uint8_t prefix[9] = { 0, 0x00, 0x40, 0, 0x80,
					   0, 0, 0, 0xc0 };

	if (out_len != NULL)
		*out_len = 0;
	if (n == 0)
		return PP_ERR_ARG;
	if (out == NULL || out_cap < n)
		return PP_ERR_BUFFER;
	for (i = 0; i < n; i++)
		out[n - 1 - i] = (uint8_t)(v >> (8 * i));
	out[0] |= prefix[n];
	if (out_len != NULL)
		*out_len = n;
	return 0;
}

int vi_decode(const uint8_t *in, size_t len, int require_minimal,
	      uint64_t *v, size_t *used)
{
	uint64_t x;
	size_t n, i;

	*v = 0;
	if (used != NULL)
		*used = 0;
	if (in == NULL || len == 0)
		return PP_ERR_TRUNCATED;
	n = (size_t)1 << (in[0] >> 6);
	if (len < n)
		return PP_ERR_TRUNCATED;
	x = in[0] & 0x3f;
	for (i = 1; i < n; i++)
		x = x << 8 | in[i];
	if (require_minimal && vi_encoded_len(x) != n)
		return PP_ERR_LENGTH;
	*v = x;
	if (used != NULL)
		*used = n;
	return 0;
}
