#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "issuer/redeem_body.h"
#include "tu.h"

TestSuite(redeem_body, .fini = tu_leak_check);

/* The exact form {"token":"..."} is read without jansson; the same JSON with
 * a space after the brace goes through jansson. Both must give the same
 * answer for every token text. */
Test(redeem_body, exact_form_agrees_with_jansson_when_token_text_varies)
{
	static const char *const texts[] = {
		"QUJD", "QUI", "QUI=", "QQ", "QQ==", "", "AB==", "Zh", "Zm9=",
		"A", "AAAAA", "A===", "QUJD=", "-_8=", "_---", "QU=D", "====",
		"Zm9vYmFy", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct rdm_input fast, slow;
		char a[256], b[256];
		const char *ea, *eb;
		int na = snprintf(a, sizeof(a), "{\"token\":\"%s\"}", texts[i]);
		int nb = snprintf(b, sizeof(b), "{ \"token\":\"%s\"}", texts[i]);

		memset(&fast, 0xa5, sizeof(fast));
		memset(&slow, 0x5a, sizeof(slow));
		ea = rdm_body_parse((const uint8_t *)a, (size_t)na, &fast);
		eb = rdm_body_parse((const uint8_t *)b, (size_t)nb, &slow);
		cr_expect((ea == NULL) == (eb == NULL), "'%s': %s vs %s", texts[i],
			  ea ? ea : "ok", eb ? eb : "ok");
		if (ea && eb)
			cr_expect_str_eq(ea, eb, "'%s'", texts[i]);
		cr_expect_eq(fast.token_len, slow.token_len, "'%s'", texts[i]);
		cr_expect_eq(memcmp(fast.token, slow.token, fast.token_len), 0, "'%s'",
			     texts[i]);
		cr_expect_eq(fast.challenge_len, 0);
		cr_expect_eq(fast.spend, 1);
	}
}

/* Bodies close to the exact form but not in it still parse as JSON. */
Test(redeem_body, near_forms_parse_as_json_when_not_exact)
{
	static const struct {
		const char *body;
		int ok;
		size_t token_len;
		int spend;
	} cases[] = {
		{ "{\"token\":\"QUJD\"}", 1, 3, 1 },
		{ "{\"token\":\"QUJD\"}\n", 1, 3, 1 },
		{ "{\"token\":\"QUJD\",\"spend\":false}", 1, 3, 0 },
		{ "{\"token\":\"QU\\u004aD\"}", 1, 3, 1 },
		{ "{\"token\":\"QUJD\"}}", 0, 0, 1 },
		{ "{\"token\":\"QUJD\"", 0, 0, 1 },
		{ "{\"token\":\"QU JD\"}", 0, 0, 1 },
		{ "{\"token\":\"QUJD\",\"token\":\"QUJD\"}", 0, 0, 1 },
		{ "{\"token\":\"\"}", 1, 0, 1 }, /* empty: the redemption says malformed */
		{ "{\"token\":\"\"}x", 0, 0, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rdm_input in;
		const char *err = rdm_body_parse((const uint8_t *)cases[i].body,
							strlen(cases[i].body), &in);

		cr_expect_eq(err == NULL, cases[i].ok, "%s: %s", cases[i].body,
			     err ? err : "ok");
		if (err == NULL) {
			cr_expect_eq(in.token_len, cases[i].token_len, "%s", cases[i].body);
			cr_expect_eq(memcmp(in.token, "ABC", in.token_len), 0, "%s",
				     cases[i].body);
			cr_expect_eq(in.spend, cases[i].spend, "%s", cases[i].body);
		}
	}
}

/* A 0xDA7A token's Extensions inside the forwarded authorization
 * (extensions= parameter) count as the "extensions" member; both at once
 * are refused. */
Test(redeem_body, authorization_carries_extensions)
{
	struct rdm_input in;
	const char *err;
	const char *b1 = "{\"authorization\":\"PrivateToken token=\\\"QUJD\\\", "
			 "extensions=\\\"AAQAAQAA\\\"\"}";
	const char *b2 = "{\"authorization\":\"PrivateToken token=QUJD, "
			 "extensions=AAQAAQAA\",\"extensions\":\"AAQAAQAA\"}";
	const char *b3 = "{\"authorization\":\"PrivateToken token=QUJD\","
			 "\"extensions\":\"AAQAAQAA\"}";
	const char *b4 = "{\"authorization\":\"PrivateToken token=QUJD, "
			 "extensions=\\\"A A\\\"\"}";
	const char *b5 = "{\"authorization\":\"PrivateToken token=QUJD\"}";

	err = rdm_body_parse((const uint8_t *)b1, strlen(b1), &in);
	cr_assert_null(err, "%s: %s", b1, err);
	cr_expect_eq(in.token_len, 3);
	cr_expect(in.has_extensions);
	cr_expect_eq(in.extensions_len, 6);
	cr_expect_eq(memcmp(in.extensions, "\x00\x04\x00\x01\x00\x00", 6), 0);
	err = rdm_body_parse((const uint8_t *)b2, strlen(b2), &in);
	cr_expect(err && strstr(err, "not both"), "%s", b2);
	err = rdm_body_parse((const uint8_t *)b3, strlen(b3), &in);
	cr_assert_null(err, "%s: %s", b3, err);
	cr_expect(in.has_extensions && in.extensions_len == 6);
	err = rdm_body_parse((const uint8_t *)b4, strlen(b4), &in);
	cr_expect_not_null(err, "%s", b4);
	err = rdm_body_parse((const uint8_t *)b5, strlen(b5), &in);
	cr_assert_null(err, "%s: %s", b5, err);
	cr_expect(!in.has_extensions);
}
