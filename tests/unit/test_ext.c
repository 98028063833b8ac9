/* Privacy Pass Extensions: round trips, every rejection of the decoder,
 * the order rule, the expiration extension and the 0xDA7A structures. */
#include "crypto/ext.h"
#include "base/pp_err.h"
#include "tu.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(ext, .fini = tu_leak_check);

static const struct {
	const char *name;
	const char *hex;
	int rc;        /* ext_decode, strict */
	int rc_repeat; /* with EXT_ALLOW_REPEATS */
	size_t count;
} cases[] = {
	{ "empty list", "0000", 0, 0, 0 },
	{ "da7a vector", "000700010003010203", 0, 0, 1 },
	{ "empty entry", "000400050000", 0, 0, 1 },
	{ "two sorted", "000b0001000101000200020202", 0, 0, 2 },
	{ "no length", "", PP_ERR_TRUNCATED, PP_ERR_TRUNCATED, 0 },
	{ "half length", "00", PP_ERR_TRUNCATED, PP_ERR_TRUNCATED, 0 },
	{ "truncated list", "0007000100030102", PP_ERR_TRUNCATED,
	  PP_ERR_TRUNCATED, 0 },
	{ "trailing byte", "00070001000301020300", PP_ERR_TRAILING,
	  PP_ERR_TRAILING, 0 },
	{ "entry data short", "0006000100030102", PP_ERR_LENGTH,
	  PP_ERR_LENGTH, 0 },
	{ "header cut", "0002000100", PP_ERR_TRAILING, PP_ERR_TRAILING, 0 },
	{ "header overruns list", "00020001", PP_ERR_LENGTH, PP_ERR_LENGTH, 0 },
	{ "leftover inside list", "00080001000301020300", PP_ERR_LENGTH,
	  PP_ERR_LENGTH, 0 },
	{ "unsorted", "000b0002000101000100020202", PP_ERR_CORRUPT,
	  PP_ERR_CORRUPT, 0 },
	{ "duplicate", "000b0001000101000100020202", PP_ERR_CORRUPT, 0, 2 },
	{ "huge length", "ffff0001", PP_ERR_TRUNCATED, PP_ERR_TRUNCATED, 0 },
};

Test(ext, decode_follows_the_table)
{
	struct ext_list l;
	size_t i, len;
	uint8_t *in;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in = tu_hex(cases[i].hex, &len);
		memset(&l, 0x5a, sizeof(l));
		rc = ext_decode(in, len, 0, &l);
		cr_assert_eq(rc, cases[i].rc, "%s: got %d", cases[i].name, rc);
		if (rc == 0)
			cr_assert_eq(l.count, cases[i].count, "%s", cases[i].name);
		else
			cr_assert_eq(l.count, 0, "%s: out not cleared",
				     cases[i].name);
		rc = ext_decode(in, len, EXT_ALLOW_REPEATS, &l);
		cr_assert_eq(rc, cases[i].rc_repeat, "%s (repeats): got %d",
			     cases[i].name, rc);
		free(in);
	}
}

Test(ext, decode_then_encode_gives_the_same_bytes)
{
	uint8_t out[64];
	struct ext_list l;
	size_t i, len, out_len;
	uint8_t *in;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].rc != 0)
			continue;
		in = tu_hex(cases[i].hex, &len);
		cr_assert_eq(ext_decode(in, len, 0, &l), 0);
		cr_assert_eq(ext_encode(l.entries, l.count, 0, out, sizeof(out),
					&out_len), 0, "%s", cases[i].name);
		cr_assert_eq(out_len, len, "%s", cases[i].name);
		cr_assert(memcmp(out, in, len) == 0, "%s", cases[i].name);
		free(in);
	}
}

Test(ext, encode_refuses_unsorted_duplicate_overlong_and_short_buffer)
{
	static uint8_t big[65535];
	const uint8_t d[2] = { 1, 2 };
	struct ext_entry e[2] = { { 2, 2, d }, { 1, 2, d } };
	uint8_t out[16];
	size_t out_len = 7;

	cr_assert_eq(ext_encode(e, 2, 0, out, sizeof(out), &out_len),
		     PP_ERR_ARG);
	cr_assert_eq(out_len, 0);
	e[1].type = 2;
	cr_assert_eq(ext_encode(e, 2, 0, out, sizeof(out), &out_len),
		     PP_ERR_ARG);
	cr_assert_eq(ext_encode(e, 2, EXT_ALLOW_REPEATS, out, sizeof(out),
				&out_len), 0);
	cr_assert_eq(out_len, 14);
	cr_assert_eq(ext_encode(e, 2, EXT_ALLOW_REPEATS, out, 13, &out_len),
		     PP_ERR_BUFFER);
	/* 4 + 65535 bytes do not fit a uint16 list length */
	e[0] = (struct ext_entry){ 1, 65535, big };
	cr_assert_eq(ext_encode(e, 1, 0, out, sizeof(out), &out_len),
		     PP_ERR_LENGTH);
	e[0] = (struct ext_entry){ 1, 65531, big };
	cr_assert_eq(ext_encode(e, 1, 0, out, sizeof(out), &out_len),
		     PP_ERR_BUFFER, "65531 + 4 fits the length, not out");
	e[0] = (struct ext_entry){ 1, 3, NULL };
	cr_assert_eq(ext_encode(e, 1, 0, out, sizeof(out), &out_len),
		     PP_ERR_ARG);
}

Test(ext, decode_refuses_more_entries_than_the_cap)
{
	uint8_t in[2 + 4 * (EXT_MAX_ENTRIES + 1)];
	struct ext_list l;
	size_t i, n;

	for (n = EXT_MAX_ENTRIES; n <= EXT_MAX_ENTRIES + 1; n++) {
		in[0] = (uint8_t)((4 * n) >> 8);
		in[1] = (uint8_t)(4 * n);
		for (i = 0; i < n; i++) {
			in[2 + 4 * i] = 0;
			in[3 + 4 * i] = (uint8_t)(i + 1);
			in[4 + 4 * i] = 0;
			in[5 + 4 * i] = 0;
		}
		cr_assert_eq(ext_decode(in, 2 + 4 * n, 0, &l),
			     n == EXT_MAX_ENTRIES ? 0 : PP_ERR_LENGTH,
			     "%zu entries", n);
	}
}

Test(ext, find_gives_the_entry_or_not_found)
{
	const struct ext_entry *e = (const struct ext_entry *)1;
	size_t len;
	uint8_t *in = tu_hex("000b0001000101000200020202", &len);
	struct ext_list l;

	cr_assert_eq(ext_decode(in, len, 0, &l), 0);
	cr_assert_eq(ext_find(&l, 2, &e), 0);
	cr_assert_eq(e->len, 2);
	cr_assert_eq(e->data[1], 2);
	cr_assert_eq(ext_find(&l, 3, &e), PP_ERR_NOT_FOUND);
	cr_assert_null(e);
	free(in);
}

Test(ext, expiration_round_trips_and_matches_the_draft_example)
{
	/* the draft's example: precision 3600, 1688583600 */
	static const uint8_t want[EXT_EXPIRATION_LEN] = {
		0, 0, 0, 0, 0, 0, 0x0e, 0x10,
		0, 0, 0, 0, 0x64, 0xa5, 0xbd, 0xb0,
	};
	struct ext_expiration x = { 3600, 1688583600 }, y;
	uint8_t out[EXT_EXPIRATION_LEN];

	cr_assert_eq(ext_expiration_encode(&x, out), 0);
	cr_assert(memcmp(out, want, sizeof(want)) == 0);
	cr_assert_eq(ext_expiration_decode(out, sizeof(out), &y), 0);
	cr_assert_eq(y.precision, 3600);
	cr_assert_eq(y.timestamp, 1688583600);
	x.timestamp = UINT64_MAX - (UINT64_MAX % 60);
	x.precision = 60;
	cr_assert_eq(ext_expiration_encode(&x, out), 0);
	cr_assert_eq(ext_expiration_decode(out, sizeof(out), &y), 0);
	cr_assert_eq(y.timestamp, x.timestamp);
}

Test(ext, expiration_refuses_bad_length_zero_precision_and_unrounded)
{
	struct ext_expiration x = { 0, 0 }, y = { 1, 1 };
	uint8_t out[EXT_EXPIRATION_LEN + 1] = { 0 };

	cr_assert_eq(ext_expiration_encode(&x, out), PP_ERR_ARG);
	x = (struct ext_expiration){ 3600, 1688583601 };
	cr_assert_eq(ext_expiration_encode(&x, out), PP_ERR_ARG);
	cr_assert_eq(ext_expiration_decode(out, 15, &y), PP_ERR_LENGTH);
	cr_assert_eq(y.precision, 0, "out is cleared");
	cr_assert_eq(ext_expiration_decode(out, 17, &y), PP_ERR_LENGTH);
	cr_assert_eq(ext_expiration_decode(out, 16, &y), PP_ERR_CORRUPT,
		     "precision 0");
	out[7] = 10;
	out[15] = 5;
	cr_assert_eq(ext_expiration_decode(out, 16, &y), PP_ERR_CORRUPT,
		     "5 is not a multiple of 10");
	out[15] = 20;
	cr_assert_eq(ext_expiration_decode(out, 16, &y), 0);
	/* the 0xDA7A vector's type-1 entry is not a valid expiration */
	cr_assert_eq(ext_expiration_decode(out, 3, &y), PP_ERR_LENGTH);
}

Test(ext, token_request_decodes_and_rejects)
{
	uint8_t req[EXT_REQUEST_LEN + 16], out[EXT_REQUEST_LEN + 16];
	const uint8_t exts[9] = { 0, 7, 0, 1, 0, 3, 1, 2, 3 };
	uint8_t blinded[EXT_NK];
	struct ext_token_request tr;
	size_t len;

	memset(blinded, 0x42, sizeof(blinded));
	cr_assert_eq(ext_token_request_encode(0x59, blinded, exts, 9, req,
					      sizeof(req), &len), 0);
	cr_assert_eq(len, EXT_REQUEST_LEN + 9);
	cr_assert_eq(ext_token_request_decode(req, len, 0, &tr), 0);
	cr_assert_eq(tr.token_type, 0xDA7A);
	cr_assert_eq(tr.truncated_key_id, 0x59);
	cr_assert_eq(tr.blinded_msg, req + 3);
	cr_assert_eq(tr.extensions_len, 9);
	cr_assert_eq(tr.ext.count, 1);
	cr_assert_eq(tr.ext.entries[0].type, 1);

	cr_assert_eq(ext_token_request_decode(req, 1, 0, &tr), PP_ERR_TRUNCATED);
	cr_assert_eq(ext_token_request_decode(req, EXT_REQUEST_LEN, 0, &tr),
		     PP_ERR_TRUNCATED, "the Extensions are not optional");
	cr_assert_eq(ext_token_request_decode(req, len - 1, 0, &tr),
		     PP_ERR_TRUNCATED);
	cr_assert_eq(tr.blinded_msg, NULL, "out is cleared");
	req[len] = 0;
	cr_assert_eq(ext_token_request_decode(req, len + 1, 0, &tr),
		     PP_ERR_TRAILING);
	req[1] = 0x02; /* a type-2 request */
	cr_assert_eq(ext_token_request_decode(req, len, 0, &tr),
		     PP_ERR_TOKEN_TYPE);
	/* encode refuses malformed Extensions and a short buffer */
	cr_assert_eq(ext_token_request_encode(0x59, blinded, exts, 8, out,
					      sizeof(out), &len), PP_ERR_ARG);
	cr_assert_eq(ext_token_request_encode(0x59, blinded, exts, 9, out,
					      EXT_REQUEST_LEN + 8, &len),
		     PP_ERR_BUFFER);
}

Test(ext, token_decodes_only_da7a_of_354_bytes)
{
	uint8_t tok[EXT_TOKEN_LEN + 1] = { 0xda, 0x7a };
	struct ext_token t;

	cr_assert_eq(ext_token_decode(tok, EXT_TOKEN_LEN, &t), 0);
	cr_assert_eq(t.input, tok);
	cr_assert_eq(t.nonce, tok + 2);
	cr_assert_eq(t.challenge_digest, tok + 34);
	cr_assert_eq(t.token_key_id, tok + 66);
	cr_assert_eq(t.authenticator, tok + 98);
	cr_assert_eq(ext_token_decode(tok, EXT_TOKEN_LEN - 1, &t),
		     PP_ERR_LENGTH);
	cr_assert_eq(ext_token_decode(tok, EXT_TOKEN_LEN + 1, &t),
		     PP_ERR_LENGTH);
	cr_assert_eq(ext_token_decode(tok, 1, &t), PP_ERR_TRUNCATED);
	tok[1] = 0x02;
	cr_assert_eq(ext_token_decode(tok, EXT_TOKEN_LEN, &t),
		     PP_ERR_TOKEN_TYPE);
	cr_assert_null(t.input);
}

/* A verified token's Extensions at redemption (issuer and gate): no
 * expiration holds, one after now holds, one at or before now has passed,
 * and what does not decode is not Extensions this issuer signs. */
Test(ext, check_expiry_at_now)
{
	struct ext_expiration x = { 60, 1200 };
	uint8_t data[EXT_EXPIRATION_LEN], enc[64], other[4] = { 0, 2, 0, 0 };
	struct ext_entry e = { EXT_TYPE_EXPIRATION, EXT_EXPIRATION_LEN, data };
	size_t len = 0;

	cr_assert_eq(ext_expiration_encode(&x, data), 0);
	cr_assert_eq(ext_encode(&e, 1, 0, enc, sizeof(enc), &len), 0);
	cr_expect_eq(ext_check_expiry(enc, len, 1199), 0);
	cr_expect_eq(ext_check_expiry(enc, len, 1200), PP_ERR_STATE);
	cr_expect_eq(ext_check_expiry(enc, len, 5000), PP_ERR_STATE);
	cr_expect_eq(ext_check_expiry(enc, len, -1), PP_ERR_STATE);
	/* an empty list, and a list without an expiration */
	cr_expect_eq(ext_check_expiry((const uint8_t *)"\0\0", 2, 5000), 0);
	{
		uint8_t one[6] = { 0, 4, 0, 7, 0, 0 };

		cr_expect_eq(ext_check_expiry(one, sizeof(one), 5000), 0);
	}
	/* not Extensions; an expiration entry of the wrong length */
	cr_expect_eq(ext_check_expiry(other, 3, 0), PP_ERR_CORRUPT);
	enc[5] = 15;
	cr_expect_eq(ext_check_expiry(enc, len, 0), PP_ERR_CORRUPT);
}
