/* base64url over libsodium's codec. This file checks the shape (length,
 * padding count, alphabet) and picks the padded or unpadded variant;
 * libsodium decodes and checks the unused low bits. */
#include "b64.h"

#include <sodium.h>
#include <stdint.h>

#include "pp_err.h"

size_t b64_encoded_len(size_t len)
{
	size_t groups = len / 3 + (len % 3 != 0);

	if (groups > SIZE_MAX / 4)
		return SIZE_MAX;
	return groups * 4;
}

int b64_encode(const uint8_t *in, size_t len, char *out, size_t out_cap,
	       size_t *out_len)
{
	size_t need = b64_encoded_len(len);

	if (out_len)
		*out_len = 0;
	if (out && out_cap > 0)
		out[0] = '\0';
	/* sodium_bin2base64 aborts on a short buffer: check first */
	if (out == NULL || need == SIZE_MAX || out_cap < need + 1)
		return PP_ERR_BUFFER;
	if (len > 0 && in == NULL)
		return PP_ERR_ARG;
	sodium_bin2base64(out, out_cap, len > 0 ? in : (const uint8_t *)"",
			  len, sodium_base64_VARIANT_URLSAFE);
	if (out_len)
		*out_len = need;
	return 0;
}

static int b64_is_urlsafe(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
	       size_t *out_len)
{
	size_t data_len = len, pad = 0, need, got = 0, i;
	int variant;

	if (out_len)
		*out_len = 0;
	if (len == 0)
		return 0;
	if (in == NULL)
		return PP_ERR_ARG;
	while (pad < 2 && data_len > 0 && in[data_len - 1] == '=') {
		data_len--;
		pad++;
	}
	/* One 6-bit symbol cannot hold a byte; padded text comes in quads and
	 * carries exactly the '=' its last group needs ("AA=" and "A===" fail
	 * here or in libsodium). Any other '=' is left in the data and fails
	 * the alphabet check. */
	if (data_len % 4 == 1)
		return PP_ERR_BASE64;
	if (pad > 0 && (len % 4 != 0 || data_len % 4 + pad != 4))
		return PP_ERR_BASE64;
	/* libsodium 1.0.18 reads the text as signed char and takes every byte
	 * >= 0x80 for '_' in the URL-safe alphabet: check the alphabet here */
	for (i = 0; i < data_len; i++)
		if (!b64_is_urlsafe((unsigned char)in[i]))
			return PP_ERR_BASE64;
	need = data_len / 4 * 3 + (data_len % 4 == 0 ? 0 : data_len % 4 - 1);
	if (need > out_cap || (need > 0 && out == NULL))
		return PP_ERR_BUFFER;
	variant = pad > 0 ? sodium_base64_VARIANT_URLSAFE :
			    sodium_base64_VARIANT_URLSAFE_NO_PADDING;
	/* no ignore set: whitespace is an error; NULL end: all must be used */
	if (sodium_base642bin(out, out_cap, in, len, NULL, &got, NULL,
			      variant) != 0 || got != need)
		return PP_ERR_BASE64;
	if (out_len)
		*out_len = got;
	return 0;
}
