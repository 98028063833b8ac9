#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "base/pp_err.h"
#include "tu.h"

TestSuite(b64, .fini = tu_leak_check);

/* RFC 4648 section 10, plus bytes that use the URL-safe symbols. */
static const struct {
	const char *bin;
	size_t len;
	const char *text;
} b64_known[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg==" },
	{ "fo", 2, "Zm8=" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg==" },
	{ "fooba", 5, "Zm9vYmE=" },
	{ "foobar", 6, "Zm9vYmFy" },
	{ "\xfb\xff", 2, "-_8=" },
	{ "\xff\xef\xbe", 3, "_---" },
};

Test(b64, encode_matches_rfc4648_when_known_input)
{
	for (size_t i = 0; i < sizeof(b64_known) / sizeof(b64_known[0]); i++) {
		char out[32];
		size_t n = 99;

		cr_assert_eq(b64_encode((const uint8_t *)b64_known[i].bin,
					b64_known[i].len, out, sizeof(out), &n),
			     0, "case %zu", i);
		cr_expect_str_eq(out, b64_known[i].text, "case %zu", i);
		cr_expect_eq(n, strlen(b64_known[i].text), "case %zu", i);
		cr_expect_eq(b64_encoded_len(b64_known[i].len), n, "case %zu", i);
	}
}

Test(b64, decode_accepts_padded_and_unpadded_when_known_input)
{
	for (size_t i = 0; i < sizeof(b64_known) / sizeof(b64_known[0]); i++) {
		const char *t = b64_known[i].text;
		size_t tl = strlen(t), unpadded = tl;
		uint8_t out[32];
		size_t n = 99;

		while (unpadded > 0 && t[unpadded - 1] == '=')
			unpadded--;
		cr_assert_eq(b64_decode(t, tl, out, sizeof(out), &n), 0,
			     "padded case %zu", i);
		cr_expect_eq(n, b64_known[i].len, "case %zu", i);
		cr_expect(memcmp(out, b64_known[i].bin, n) == 0, "case %zu", i);
		n = 99;
		cr_assert_eq(b64_decode(t, unpadded, out, sizeof(out), &n), 0,
			     "unpadded case %zu", i);
		cr_expect_eq(n, b64_known[i].len, "case %zu", i);
		cr_expect(memcmp(out, b64_known[i].bin, n) == 0, "case %zu", i);
	}
}

Test(b64, round_trips_when_every_length_up_to_300)
{
	uint8_t in[300], back[300];
	char text[512];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 151 + 7);
	for (size_t len = 0; len <= sizeof(in); len++) {
		size_t tl = 0, n = 0;

		cr_assert_eq(b64_encode(in, len, text, sizeof(text), &tl), 0);
		cr_assert_eq(tl, b64_encoded_len(len));
		cr_assert_eq(tl % 4, 0);
		cr_assert_eq(strlen(text), tl);
		cr_assert_eq(strpbrk(text, "+/"), NULL, "len %zu: %s", len, text);
		cr_assert_eq(b64_decode(text, tl, back, len, &n), 0, "len %zu", len);
		cr_assert_eq(n, len);
		cr_assert(memcmp(in, back, len) == 0, "len %zu", len);
	}
}

Test(b64, decode_rejects_when_text_is_malformed)
{
	static const struct {
		const char *name;
		const char *text;
		size_t len; /* 0: strlen */
	} cases[] = {
		{ "one symbol", "A", 0 },
		{ "len % 4 == 1", "AAAAA", 0 },
		{ "len % 4 == 1 padded", "AAAAA===", 0 },
		{ "three pads", "A===", 0 },
		{ "only pads", "====", 0 },
		{ "single pad after two", "AA=", 0 },
		{ "pad in the middle", "AA==AA==", 0 },
		{ "pad then data", "AA=A", 0 },
		{ "leading pad", "=AAA", 0 },
		{ "too many pads", "AA===", 0 },
		{ "pad on a full quad", "AAAA=", 0 },
		{ "plus", "a+bc", 0 },
		{ "slash", "ab/c", 0 },
		{ "standard alphabet padded", "+/8=", 0 },
		{ "inner space", "Zm9v YmFy", 0 },
		{ "leading space", " Zm9v", 0 },
		{ "trailing newline", "Zm9v\n", 0 },
		{ "tab", "Zm\t9v", 0 },
		{ "CRLF", "Zm9v\r\n", 0 },
		{ "non-zero unused bits", "AB==", 0 },
		{ "non-zero unused bits unpadded", "Zh", 0 },
		{ "non-zero unused bits 2 bytes", "Zm9=", 0 },
		{ "embedded NUL", "Zm\0v", 4 },
		{ "high byte", "Zm\xc3\xa9", 0 },
		{ "dot", "Zm9.", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		uint8_t out[64];
		size_t n = 99;
		char *copy = malloc(len); /* no NUL: overreads show under ASan */

		cr_assert(copy != NULL);
		memcpy(copy, cases[i].text, len);
		cr_expect_eq(b64_decode(copy, len, out, sizeof(out), &n),
			     PP_ERR_BASE64, "%s", cases[i].name);
		cr_expect_eq(n, 0, "%s: out_len not cleared", cases[i].name);
		free(copy);
	}
}

/* Only A-Z a-z 0-9 '-' '_' are symbols, whatever the byte's sign. */
Test(b64, decode_accepts_only_urlsafe_alphabet_when_any_byte_value)
{
	for (int ch = 0; ch < 256; ch++) {
		char text[4] = { 'Z', 'm', '9', (char)ch };
		int symbol = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
		uint8_t out[3];
		size_t n = 99;

		cr_expect_eq(b64_decode(text, 4, out, sizeof(out), &n),
			     symbol ? 0 : PP_ERR_BASE64, "byte 0x%02x", ch);
		cr_expect_eq(n, symbol ? 3u : 0u, "byte 0x%02x", ch);
	}
}

Test(b64, decode_reports_buffer_when_output_does_not_fit)
{
	uint8_t out[6];
	size_t n = 99;

	cr_expect_eq(b64_decode("Zm9vYmFy", 8, out, 5, &n), PP_ERR_BUFFER);
	cr_expect_eq(n, 0);
	cr_expect_eq(b64_decode("Zm9vYmE", 7, out, 4, &n), PP_ERR_BUFFER);
	cr_expect_eq(b64_decode("Zm9vYmE=", 8, out, 4, &n), PP_ERR_BUFFER);
	cr_expect_eq(b64_decode("Zm9vYmE=", 8, out, 5, &n), 0);
	cr_expect_eq(n, 5);
	cr_expect_eq(b64_decode("Zm9vYmFy", 8, out, 6, &n), 0);
	cr_expect_eq(n, 6);
	cr_expect_eq(b64_decode("", 0, NULL, 0, &n), 0);
	cr_expect_eq(n, 0);
}

Test(b64, encode_reports_buffer_when_no_room_for_nul)
{
	char out[16];
	size_t n = 99;

	memset(out, 'x', sizeof(out));
	cr_expect_eq(b64_encode((const uint8_t *)"foob", 4, out, 8, &n),
		     PP_ERR_BUFFER);
	cr_expect_eq(n, 0);
	cr_expect_eq(out[0], '\0');
	cr_expect_eq(b64_encode((const uint8_t *)"foob", 4, out, 9, &n), 0);
	cr_expect_str_eq(out, "Zm9vYg==");
	cr_expect_eq(b64_encode((const uint8_t *)"", 0, out, 0, &n),
		     PP_ERR_BUFFER);
	cr_expect_eq(b64_encode(NULL, 0, out, 1, &n), 0);
	cr_expect_str_eq(out, "");
}

Test(b64, encoded_len_saturates_when_input_is_huge)
{
	cr_expect_eq(b64_encoded_len(SIZE_MAX), SIZE_MAX);
	cr_expect_eq(b64_encoded_len(SIZE_MAX / 4 * 3), SIZE_MAX / 4 * 4);
}

/* The decoder as it was before its rewrite: the shape rules, an alphabet
 * check, then libsodium's decoder. The rewrite must agree with it on every
 * text, valid or not. */
static int ref_decode(const char *in, size_t len, uint8_t *out, size_t cap,
		      size_t *out_len)
{
	size_t data_len = len, pad = 0, need, got = 0, i;

	*out_len = 0;
	if (len == 0)
		return 0;
	while (pad < 2 && data_len > 0 && in[data_len - 1] == '=') {
		data_len--;
		pad++;
	}
	if (data_len % 4 == 1)
		return PP_ERR_BASE64;
	if (pad > 0 && (len % 4 != 0 || data_len % 4 + pad != 4))
		return PP_ERR_BASE64;
	for (i = 0; i < data_len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return PP_ERR_BASE64;
	}
	need = data_len / 4 * 3 + (data_len % 4 == 0 ? 0 : data_len % 4 - 1);
	if (need > cap)
		return PP_ERR_BUFFER;
	if (sodium_base642bin(out, cap, in, len, NULL, &got, NULL,
			      pad > 0 ? sodium_base64_VARIANT_URLSAFE :
					sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    got != need)
		return PP_ERR_BASE64;
	*out_len = got;
	return 0;
}

Test(b64, decode_agrees_with_libsodium_when_random_texts)
{
	/* mostly symbols, with padding, the standard alphabet's symbols, a
	 * space and a high byte mixed in; a fixed seed so a failure repeats */
	static const char pool[] = "AQgwZmz09-_AAAA====+/ \x80";
	uint32_t x = 0x9e3779b9u;
	int i;

	for (i = 0; i < 200000; i++) {
		char text[64];
		uint8_t got[48], want[48];
		size_t len, j, n_got = 99, n_want = 99;
		int rc_got, rc_want;

		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		len = i < 100000 ? x % 13 : x % sizeof(text);
		for (j = 0; j < len; j++) {
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			text[j] = pool[x % (sizeof(pool) - 1)];
		}
		rc_got = b64_decode(text, len, got, sizeof(got), &n_got);
		rc_want = ref_decode(text, len, want, sizeof(want), &n_want);
		cr_assert_eq(rc_got, rc_want, "text '%.*s'", (int)len, text);
		cr_assert_eq(n_got, n_want, "text '%.*s'", (int)len, text);
		if (rc_got == 0)
			cr_assert_eq(memcmp(got, want, n_got), 0, "text '%.*s'",
				     (int)len, text);
	}
}

/* The table decoder for public text answers exactly as the constant-time
 * one: every single byte in every position of short texts, and random
 * texts over the alphabet, '=' and a few other bytes. */
Test(b64, public_decoder_agrees_when_any_text)
{
	static const char pool[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ \"\\";
	uint8_t a[64], b[64];
	char text[48];
	size_t la, lb, len, pos, i;
	unsigned ch, seed = 12345, round;
	int ra, rb;

	for (len = 1; len <= 9; len++) {
		for (pos = 0; pos < len; pos++) {
			for (ch = 0; ch < 256; ch++) {
				memset(text, 'Q', len);
				text[pos] = (char)ch;
				ra = b64_decode(text, len, a, sizeof(a), &la);
				rb = b64_decode_public(text, len, b, sizeof(b), &lb);
				cr_assert_eq(ra, rb, "len %zu pos %zu byte %u", len, pos, ch);
				cr_assert_eq(la, lb);
				cr_assert(ra != 0 || memcmp(a, b, la) == 0);
			}
		}
	}
	for (round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(text);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			text[i] = pool[(seed >> 16) % (sizeof(pool) - 1)];
		}
		ra = b64_decode(text, len, a, sizeof(a), &la);
		rb = b64_decode_public(text, len, b, sizeof(b), &lb);
		cr_assert_eq(ra, rb, "round %u", round);
		cr_assert_eq(la, lb);
		cr_assert(ra != 0 || memcmp(a, b, la) == 0);
	}
}
