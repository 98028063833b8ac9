/* base64url: libsodium encodes; decoding is done here. This file checks the
 * shape (length, padding count), then decodes four symbols at a time without
 * a branch or a table lookup on the text (secrets pass through here too),
 * checking the alphabet and the unused low bits as it goes. It replaced
 * libsodium's decoder, which goes symbol by symbol and showed up in the
 * redemption profile. */
#include "b64.h"

#include <sodium.h>
#include <stdint.h>

#include "base/pp_err.h"

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

/* The 6-bit value of a base64url symbol, or a value with bit 8 set for any
 * other byte. Ranges are tested with sign masks, not branches. */
__attribute__((always_inline))
static inline unsigned b64_sym(unsigned char ch)
{
	int x = ch;
	/* -1 when lo <= x <= hi, else 0 (arithmetic shift of a negative int) */
#define B64_IN(lo, hi) ((((lo) - 1 - x) & (x - (hi) - 1)) >> 8)
	int upper = B64_IN('A', 'Z'), lower = B64_IN('a', 'z');
	int digit = B64_IN('0', '9'), dash = B64_IN('-', '-');
	int under = B64_IN('_', '_');
#undef B64_IN
	int v = (upper & (x - 'A')) | (lower & (x - 'a' + 26)) |
		(digit & (x - '0' + 52)) | (dash & 62) | (under & 63);
	int valid = upper | lower | digit | dash | under;

	return (unsigned)(v & 63) | ((unsigned)~valid & 0x100u);
}

/* The same values as b64_sym in a table: for public text only (a lookup
 * indexed by the text leaks it through the cache). 0x100: not a symbol. */
static const unsigned short b64_table[256] = {
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x03e, 0x100, 0x100,
	0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03a, 0x03b, 0x03c, 0x03d, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x000, 0x001, 0x002, 0x003, 0x004, 0x005, 0x006, 0x007, 0x008, 0x009, 0x00a, 0x00b, 0x00c, 0x00d, 0x00e,
	0x00f, 0x010, 0x011, 0x012, 0x013, 0x014, 0x015, 0x016, 0x017, 0x018, 0x019, 0x100, 0x100, 0x100, 0x100, 0x03f,
	0x100, 0x01a, 0x01b, 0x01c, 0x01d, 0x01e, 0x01f, 0x020, 0x021, 0x022, 0x023, 0x024, 0x025, 0x026, 0x027, 0x028,
	0x029, 0x02a, 0x02b, 0x02c, 0x02d, 0x02e, 0x02f, 0x030, 0x031, 0x032, 0x033, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
};

__attribute__((always_inline))
static inline unsigned b64_sym_table(unsigned char ch)
{
	return b64_table[ch];
}

/* One decoder, specialized (inlined) for each way to read a symbol. */
__attribute__((always_inline))
static inline int b64_decode_with(unsigned (*sym)(unsigned char),
				  const char *in, size_t len, uint8_t *out,
				  size_t out_cap, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t data_len = len, pad = 0, need, i, o = 0;
	unsigned a, b, c, d, bad = 0;

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
	 * here). Any other '=' is left in the data and fails the alphabet. */
	if (data_len % 4 == 1)
		return PP_ERR_BASE64;
	if (pad > 0 && (len % 4 != 0 || data_len % 4 + pad != 4))
		return PP_ERR_BASE64;
	need = data_len / 4 * 3 + (data_len % 4 == 0 ? 0 : data_len % 4 - 1);
	if (need > out_cap || (need > 0 && out == NULL))
		return PP_ERR_BUFFER;
	for (i = 0; i + 4 <= data_len; i += 4) {
		a = sym(p[i]);
		b = sym(p[i + 1]);
		c = sym(p[i + 2]);
		d = sym(p[i + 3]);
		bad |= a | b | c | d;
		out[o++] = (uint8_t)(a << 2 | (b & 63) >> 4);
		out[o++] = (uint8_t)(b << 4 | (c & 63) >> 2);
		out[o++] = (uint8_t)(c << 6 | (d & 63));
	}
	/* a last group of 2 or 3 symbols: the bits past the last byte must be
	 * zero, so each value has one text */
	if (data_len - i == 2) {
		a = sym(p[i]);
		b = sym(p[i + 1]);
		bad |= a | b | (b & 15) << 8;
		out[o++] = (uint8_t)(a << 2 | (b & 63) >> 4);
	} else if (data_len - i == 3) {
		a = sym(p[i]);
		b = sym(p[i + 1]);
		c = sym(p[i + 2]);
		bad |= a | b | c | (c & 3) << 8;
		out[o++] = (uint8_t)(a << 2 | (b & 63) >> 4);
		out[o++] = (uint8_t)(b << 4 | (c & 63) >> 2);
	}
	if (bad & ~63u)
		return PP_ERR_BASE64;
	if (out_len)
		*out_len = o;
	return 0;
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t out_cap,
	       size_t *out_len)
{
	return b64_decode_with(b64_sym, in, len, out, out_cap, out_len);
}

int b64_decode_public(const char *in, size_t len, uint8_t *out,
		      size_t out_cap, size_t *out_len)
{
	return b64_decode_with(b64_sym_table, in, len, out, out_cap, out_len);
}
