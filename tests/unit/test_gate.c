/* The gate's challenge windows and session cookies (issuer/gate_window.c). */
#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <string.h>

#include "base/pp_err.h"
#include "crypto/token.h"
#include "issuer/gate.h"
#include "tests/unit/tu.h"

static const uint8_t sec_a[GATE_SECRET_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t sec_b[GATE_SECRET_LEN] = { 9, 9, 9 };

TestSuite(gate, .fini = tu_leak_check);

Test(gate, window_number_when_time_passes)
{
	static const struct { int64_t now; unsigned w; uint64_t want; } t[] = {
		{ 0, 300, 0 }, { 299, 300, 0 }, { 300, 300, 1 }, { 1700000000, 300, 5666666 },
		{ 59, 60, 0 }, { 60, 60, 1 }, { -5, 60, 0 }, { 7, 1, 7 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(gate_window_of(t[i].now, t[i].w), t[i].want, "case %zu", i);
}

Test(gate, context_differs_by_window_and_secret)
{
	uint8_t a0[32], a1[32], b0[32], again[32];

	gate_window_context(sec_a, 100, a0);
	gate_window_context(sec_a, 101, a1);
	gate_window_context(sec_b, 100, b0);
	gate_window_context(sec_a, 100, again);
	cr_expect(memcmp(a0, a1, 32) != 0);
	cr_expect(memcmp(a0, b0, 32) != 0);
	cr_expect(memcmp(a0, again, 32) == 0, "a window's context is stable");
}

Test(gate, challenge_decodes_with_its_fields)
{
	uint8_t ch[512], ctx[32];
	struct tok_challenge c;
	size_t len = 0;

	cr_assert_eq(gate_challenge_encode(sec_a, 42, 2, "issuer.example",
					   "shop.example,cdn.example", ch,
					   sizeof(ch), &len), 0);
	cr_assert_eq(tok_challenge_decode(ch, len, &c), 0);
	gate_window_context(sec_a, 42, ctx);
	cr_expect_eq(c.token_type, 2);
	cr_expect_eq(c.issuer_name_len, strlen("issuer.example"));
	cr_expect(!memcmp(c.issuer_name, "issuer.example", c.issuer_name_len));
	cr_expect_eq(c.redemption_context_len, 32);
	cr_expect(!memcmp(c.redemption_context, ctx, 32));
	cr_expect(!memcmp(c.origin_info, "shop.example,cdn.example", c.origin_info_len));
	cr_expect_eq(gate_challenge_encode(sec_a, 42, 2, "issuer.example", "o", ch, 10,
					   &len), PP_ERR_BUFFER);
	cr_expect_eq(gate_challenge_encode(sec_a, 42, 2, "", "o", ch, sizeof(ch), &len),
		     PP_ERR_ARG, "an empty issuer name is refused");
}

/* A token matches the challenge of its own window only: the gate accepts
 * windows w and w - 1, so a token made two windows ago matches neither. */
Test(gate, token_matches_only_its_window)
{
	uint8_t ch[512], other[512], digest[32], input[TOK_INPUT_LEN], tok[TOK_TOKEN_LEN];
	uint8_t nonce[32] = { 7 }, kid[32] = { 8 }, auth[TOK_NK] = { 0 };
	struct tok_token t;
	size_t len, olen;
	uint64_t w;

	cr_assert_eq(gate_challenge_encode(sec_a, 10, 2, "i", "o", ch, sizeof(ch), &len), 0);
	SHA256(ch, len, digest);
	tok_token_input(2, nonce, digest, kid, input);
	tok_token_encode(input, auth, tok);
	cr_assert_eq(tok_token_decode(tok, sizeof(tok), &t), 0);
	for (w = 8; w <= 12; w++) {
		cr_assert_eq(gate_challenge_encode(sec_a, w, 2, "i", "o", other,
						   sizeof(other), &olen), 0);
		cr_expect_eq(tok_challenge_matches(&t, other, olen) == 0, w == 10,
			     "window %llu", (unsigned long long)w);
	}
	cr_assert_eq(gate_challenge_encode(sec_b, 10, 2, "i", "o", other, sizeof(other),
					   &olen), 0);
	cr_expect_neq(tok_challenge_matches(&t, other, olen), 0, "another gate's secret");
	cr_assert_eq(gate_challenge_encode(sec_a, 10, 2, "i", "o2", other, sizeof(other),
					   &olen), 0);
	cr_expect_neq(tok_challenge_matches(&t, other, olen), 0, "another origin");
}

Test(gate, cookie_round_trip)
{
	char v[GATE_COOKIE_MAX];

	cr_assert_eq(gate_cookie_make(sec_a, "shop.example", 1000, v, sizeof(v)), 0);
	cr_expect_eq(gate_cookie_check(sec_a, "shop.example", v, strlen(v), 999), 0);
	cr_expect_eq(gate_cookie_check(sec_a, "shop.example", v, strlen(v), 1000),
		     PP_ERR_VERIFY, "expired at its expiry");
	cr_expect_eq(gate_cookie_check(sec_a, "other.example", v, strlen(v), 999),
		     PP_ERR_VERIFY, "bound to its origin");
	cr_expect_eq(gate_cookie_check(sec_b, "shop.example", v, strlen(v), 999),
		     PP_ERR_VERIFY, "bound to the gate's secret");
}

Test(gate, cookie_refused_when_damaged)
{
	char v[GATE_COOKIE_MAX], bad[GATE_COOKIE_MAX];
	size_t i, n;

	cr_assert_eq(gate_cookie_make(sec_a, "o", 5000, v, sizeof(v)), 0);
	n = strlen(v);
	for (i = 0; i < n; i++) {
		if (v[i] == '=')
			continue;
		memcpy(bad, v, n + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		cr_expect_eq(gate_cookie_check(sec_a, "o", bad, n, 10), PP_ERR_VERIFY,
			     "symbol %zu changed", i);
	}
	cr_expect_eq(gate_cookie_check(sec_a, "o", v, n - 4, 10), PP_ERR_VERIFY);
	cr_expect_eq(gate_cookie_check(sec_a, "o", "", 0, 10), PP_ERR_VERIFY);
	cr_expect_eq(gate_cookie_check(sec_a, "o", "!!!!", 4, 10), PP_ERR_VERIFY);
	cr_expect_eq(gate_cookie_make(sec_a, "o", 5000, v, 8), PP_ERR_BUFFER);
}

Test(gate, cookie_found_in_header)
{
	static const struct { const char *h; const char *want; } t[] = {
		{ "ppgate_session=abc", "abc" },
		{ "a=1; ppgate_session=xyz=; b=2", "xyz=" },
		{ "a=1;ppgate_session=\"q\"", "q" },
		{ "xppgate_session=no", NULL },
		{ "a=ppgate_session=no", NULL },
		{ "", NULL },
	};
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *v = gate_cookie_find(t[i].h, &n);

		if (!t[i].want) {
			cr_expect_null(v, "case %zu", i);
			continue;
		}
		cr_assert_not_null(v, "case %zu", i);
		cr_expect_eq(n, strlen(t[i].want), "case %zu", i);
		cr_expect(!strncmp(v, t[i].want, n), "case %zu", i);
	}
	cr_expect_null(gate_cookie_find(NULL, &n));
}
