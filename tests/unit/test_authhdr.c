#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/authhdr.h"
#include "crypto/b64.h"
#include "base/pp_err.h"
#include "crypto/token.h"
#include "tu.h"

TestSuite(authhdr, .fini = tu_leak_check);

#define HEADER_VECTORS "rfc9577-http-header-vectors.json"
#define TYPE2_VECTORS "rfc9578-type2-blindrsa-vectors.json"
#define MAX_CH 8

/* A copy without the NUL, so a read past len shows under ASan. */
static char *exact_copy(const char *s, size_t len)
{
	char *c = malloc(len ? len : 1);

	cr_assert(c != NULL);
	memcpy(c, s, len);
	return c;
}

static int view_is(const char *p, size_t len, const char *want)
{
	return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

/* base64url text -> bytes equal to hex field `field` of v */
static void expect_b64_matches(const char *text, size_t len, json_t *v,
			       const char *field, size_t vec)
{
	size_t want_len, got_len = 0;
	uint8_t *want = tu_hex_field(v, field, &want_len);
	uint8_t *got = malloc(len + 1);

	cr_assert(got != NULL);
	cr_assert_eq(b64_decode(text, len, got, len + 1, &got_len), 0,
		     "vector %zu %s: bad base64url", vec, field);
	cr_expect(got_len == want_len && memcmp(got, want, got_len) == 0,
		  "vector %zu: %s bytes differ", vec, field);
	free(got);
	free(want);
}

static char *field_name(char *buf, size_t cap, const char *base, size_t idx)
{
	snprintf(buf, cap, "%s-%zu", base, idx);
	return buf;
}

static size_t vector_challenge_count(json_t *v)
{
	char name[48];
	size_t n = 0;

	while (json_object_get(v, field_name(name, sizeof(name),
					     "token-challenge", n)) != NULL)
		n++;
	return n;
}

/* Checks parsed challenges against the indexed fields of vector v. */
static void expect_challenges_match(const struct ah_challenge *ch, size_t count,
				    json_t *v, size_t vec)
{
	char name[48];

	cr_assert_eq(count, vector_challenge_count(v), "vector %zu", vec);
	for (size_t k = 0; k < count; k++) {
		json_t *type = json_object_get(v, field_name(name, sizeof(name),
							     "token-type", k));
		json_t *age = json_object_get(v, field_name(name, sizeof(name),
							    "max-age", k));
		uint8_t raw[512];
		size_t raw_len = 0;

		expect_b64_matches(ch[k].challenge, ch[k].challenge_len, v,
				   field_name(name, sizeof(name),
					      "token-challenge", k), vec);
		expect_b64_matches(ch[k].token_key, ch[k].token_key_len, v,
				   field_name(name, sizeof(name), "token-key", k),
				   vec);
		cr_expect_eq(ch[k].max_age,
			     age ? (long)json_integer_value(age) : -1,
			     "vector %zu challenge %zu max-age", vec, k);
		/* the challenge's own type field agrees with token-type-N */
		cr_assert_eq(b64_decode(ch[k].challenge, ch[k].challenge_len,
					raw, sizeof(raw), &raw_len), 0);
		cr_assert(json_is_integer(type));
		cr_expect_eq(raw_len >= 2 ? raw[0] << 8 | raw[1] : -1,
			     json_integer_value(type), "vector %zu challenge %zu",
			     vec, k);
	}
}

Test(authhdr, www_authenticate_matches_fields_when_rfc9577_vectors)
{
	json_t *vs = tu_vectors(HEADER_VECTORS);
	size_t i, seen = 0, total = 0;
	json_t *v;

	cr_assert_eq(json_array_size(vs), 3);
	json_array_foreach(vs, i, v) {
		const char *hdr = json_string_value(
			json_object_get(v, "WWW-Authenticate"));
		struct ah_challenge ch[MAX_CH];
		size_t count = 0;
		char *copy;

		cr_assert(hdr != NULL, "vector %zu", i);
		copy = exact_copy(hdr, strlen(hdr));
		cr_assert_eq(ah_parse_www_authenticate(copy, strlen(hdr), ch,
						       MAX_CH, &count), 0,
			     "vector %zu", i);
		expect_challenges_match(ch, count, v, i);
		/* type-2 challenges decode as TokenChallenges */
		for (size_t k = 0; k < count; k++) {
			uint8_t raw[512];
			size_t raw_len = 0;
			struct tok_challenge tc;

			cr_assert_eq(b64_decode(ch[k].challenge,
						ch[k].challenge_len, raw,
						sizeof(raw), &raw_len), 0);
			if (raw[0] == 0 && raw[1] == 2)
				cr_expect_eq(tok_challenge_decode(raw, raw_len,
								  &tc), 0);
		}
		total += count;
		seen++;
		free(copy);
	}
	cr_expect_eq(seen, 3);
	cr_expect_eq(total, 5);
	json_decref(vs);
}

/* Format each vector's challenges from the fields, join, parse back. */
Test(authhdr, formatted_challenges_parse_back_when_rfc9577_vectors)
{
	json_t *vs = tu_vectors(HEADER_VECTORS);
	size_t i, seen = 0;
	json_t *v;

	json_array_foreach(vs, i, v) {
		size_t n = vector_challenge_count(v), pos = 0;
		char hdr[8192], one[4096], name[48];
		struct ah_challenge ch[MAX_CH];
		size_t count = 0;

		hdr[0] = '\0';
		for (size_t k = 0; k < n; k++) {
			size_t cl, kl, ol = 0;
			uint8_t *c = tu_hex_field(v, field_name(name, sizeof(name),
				"token-challenge", k), &cl);
			uint8_t *key = tu_hex_field(v, field_name(name,
				sizeof(name), "token-key", k), &kl);
			json_t *age = json_object_get(v, field_name(name,
				sizeof(name), "max-age", k));

			cr_assert_eq(ah_format_challenge(c, cl, key, kl,
				     age ? (long)json_integer_value(age) : -1,
				     one, sizeof(one), &ol), 0);
			cr_assert_eq(ol, strlen(one));
			pos += (size_t)snprintf(hdr + pos, sizeof(hdr) - pos,
						"%s%s", k ? ", " : "", one);
			cr_assert(pos < sizeof(hdr));
			free(c);
			free(key);
		}
		cr_assert_eq(ah_parse_www_authenticate(hdr, pos, ch, MAX_CH,
						       &count), 0,
			     "vector %zu: %s", i, hdr);
		expect_challenges_match(ch, count, v, i);
		seen++;
	}
	cr_expect_eq(seen, 3);
	json_decref(vs);
}

Test(authhdr, format_challenge_writes_rfc9577_form_when_max_age_given)
{
	char out[128];
	size_t n = 0;

	cr_assert_eq(ah_format_challenge((const uint8_t *)"foo", 3,
					 (const uint8_t *)"fo", 2, 10, out,
					 sizeof(out), &n), 0);
	cr_expect_str_eq(out, "PrivateToken challenge=\"Zm9v\", "
			      "token-key=\"Zm8=\", max-age=\"10\"");
	cr_expect_eq(n, strlen(out));
	cr_assert_eq(ah_format_challenge((const uint8_t *)"foo", 3,
					 (const uint8_t *)"fo", 2, -1, out,
					 sizeof(out), &n), 0);
	cr_expect_str_eq(out, "PrivateToken challenge=\"Zm9v\", "
			      "token-key=\"Zm8=\"");
	cr_expect_eq(ah_format_challenge(NULL, 0, (const uint8_t *)"fo", 2,
					 -1, out, sizeof(out), &n),
		     PP_ERR_ARG);
}

Test(authhdr, format_reports_buffer_when_any_cap_too_small)
{
	char full[128], out[128];
	size_t need = 0, n;

	cr_assert_eq(ah_format_challenge((const uint8_t *)"foo", 3,
					 (const uint8_t *)"fo", 2, 12345, full,
					 sizeof(full), &need), 0);
	for (size_t cap = 1; cap <= need; cap++) {
		n = 99;
		cr_expect_eq(ah_format_challenge((const uint8_t *)"foo", 3,
						 (const uint8_t *)"fo", 2,
						 12345, out, cap, &n),
			     PP_ERR_BUFFER, "cap %zu", cap);
		cr_expect_eq(n, 0);
		cr_expect_eq(out[0], '\0');
	}
	cr_expect_eq(ah_format_challenge((const uint8_t *)"foo", 3,
					 (const uint8_t *)"fo", 2, 12345, out,
					 need + 1, &n), 0);
	cr_expect_str_eq(out, full);

	cr_assert_eq(ah_format_authorization((const uint8_t *)"foob", 4, full,
					     sizeof(full), &need), 0);
	cr_expect_str_eq(full, "PrivateToken token=\"Zm9vYg==\"");
	for (size_t cap = 1; cap <= need; cap++)
		cr_expect_eq(ah_format_authorization((const uint8_t *)"foob", 4,
						     out, cap, &n),
			     PP_ERR_BUFFER, "cap %zu", cap);
	cr_expect_eq(ah_format_authorization((const uint8_t *)"foob", 4, out,
					     need + 1, &n), 0);
	cr_expect_eq(n, need);
}

/* Valid WWW-Authenticate values; the first PrivateToken challenge and the
 * count are checked. */
Test(authhdr, www_authenticate_parses_when_syntax_varies)
{
	static const struct {
		const char *name;
		const char *value;
		size_t count;
		const char *challenge, *token_key;
		long max_age;
	} cases[] = {
		{ "plain", "PrivateToken challenge=\"abc\", token-key=\"def\"",
		  1, "abc", "def", -1 },
		{ "case-insensitive names",
		  "privatetoken CHALLENGE=\"abc\", Token-Key=\"def\", MAX-AGE=5",
		  1, "abc", "def", 5 },
		{ "OWS around = and ,",
		  "PrivateToken challenge = \"abc\" ,token-key=\tdef\t, max-age =\"7\"",
		  1, "abc", "def", 7 },
		{ "unquoted values with padding",
		  "PrivateToken challenge=abc=, token-key=de==, max-age=0",
		  1, "abc=", "de==", 0 },
		{ "empty list elements",
		  " , ,PrivateToken challenge=\"a\",,token-key=\"b\",, ,", 1,
		  "a", "b", -1 },
		{ "Basic first",
		  "Basic realm=\"x\", PrivateToken challenge=\"a\", token-key=\"b\", max-age=\"10\"",
		  1, "a", "b", 10 },
		{ "token68 scheme first",
		  "Bearer abc.def/g+h==, PrivateToken challenge=\"a\", token-key=\"b\"",
		  1, "a", "b", -1 },
		{ "token68 scheme last",
		  "PrivateToken challenge=\"a\", token-key=\"b\", Negotiate YII=",
		  1, "a", "b", -1 },
		{ "bare scheme first",
		  "Negotiate, PrivateToken challenge=\"a\", token-key=\"b\"", 1,
		  "a", "b", -1 },
		{ "bare scheme last",
		  "PrivateToken challenge=\"a\", token-key=\"b\", Negotiate", 1,
		  "a", "b", -1 },
		{ "scheme, space, empty elements, params",
		  "PrivateToken , challenge=\"a\", token-key=\"b\"", 1, "a", "b",
		  -1 },
		{ "quoted-pair in another scheme's param",
		  "Digest realm=\"a\\\"b, PrivateToken challenge=\\\"x\", nonce=y, PrivateToken challenge=\"a\", token-key=\"b\"",
		  1, "a", "b", -1 },
		{ "unknown params, quoted-pair and commas inside",
		  "PrivateToken x=\"1, 2\\\\\", challenge=\"a\", y=\"q\\\"z\", token-key=\"b\", z=tok",
		  1, "a", "b", -1 },
		{ "two PrivateToken challenges",
		  "PrivateToken challenge=\"a\", token-key=\"b\", max-age=1, PrivateToken challenge=\"c\", token-key=\"d\"",
		  2, "a", "b", 1 },
		{ "Basic between",
		  "PrivateToken challenge=\"a\", token-key=\"b\", Basic realm=x, PrivateToken token-key=\"d\", challenge=\"c\"",
		  2, "a", "b", -1 },
		{ "tabs and obs-text in unknown param",
		  "Basic\trealm=\"caf\xc3\xa9\"\t,\tPrivateToken\tchallenge=\"a\",\ttoken-key=\"b\"",
		  1, "a", "b", -1 },
		{ "max-age leading zeros", "PrivateToken challenge=a, token-key=b, max-age=\"0042\"",
		  1, "a", "b", 42 },
		{ "similar scheme is not PrivateToken",
		  "PrivateTokens challenge=\"x\", PrivateToken challenge=\"a\", token-key=\"b\"",
		  1, "a", "b", -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].value), count = 99;
		char *copy = exact_copy(cases[i].value, len);
		struct ah_challenge ch[MAX_CH];
		int rc = ah_parse_www_authenticate(copy, len, ch, MAX_CH, &count);

		cr_expect_eq(rc, 0, "%s: got %d", cases[i].name, rc);
		if (rc == 0) {
			cr_expect_eq(count, cases[i].count, "%s", cases[i].name);
			cr_expect(view_is(ch[0].challenge, ch[0].challenge_len,
					  cases[i].challenge), "%s",
				  cases[i].name);
			cr_expect(view_is(ch[0].token_key, ch[0].token_key_len,
					  cases[i].token_key), "%s",
				  cases[i].name);
			cr_expect_eq(ch[0].max_age, cases[i].max_age, "%s",
				     cases[i].name);
		}
		free(copy);
	}
}

Test(authhdr, www_authenticate_fails_with_specific_error_when_malformed)
{
	static const struct {
		const char *name;
		const char *value;
		size_t len; /* 0: strlen */
		int err;
	} cases[] = {
		{ "empty", "", 0, PP_ERR_NO_CHALLENGE },
		{ "only separators", " ,\t, ", 0, PP_ERR_NO_CHALLENGE },
		{ "other schemes only", "Basic realm=\"x\", Bearer abc", 0,
		  PP_ERR_NO_CHALLENGE },
		{ "unterminated quote",
		  "PrivateToken challenge=\"abc, token-key=\"def", 0,
		  PP_ERR_HEADER },
		{ "unterminated at end", "PrivateToken challenge=\"abc", 0,
		  PP_ERR_HEADER },
		{ "backslash at end", "PrivateToken challenge=\"abc\\", 0,
		  PP_ERR_HEADER },
		{ "quote cut by len",
		  "PrivateToken challenge=\"a\", token-key=\"b\"", 40,
		  PP_ERR_HEADER },
		{ "missing =", "PrivateToken challenge \"abc\", token-key=\"d\"", 0,
		  PP_ERR_HEADER },
		{ "missing value", "PrivateToken challenge=, token-key=\"d\"", 0,
		  PP_ERR_HEADER },
		{ "missing comma between params",
		  "PrivateToken challenge=\"a\" token-key=\"b\"", 0,
		  PP_ERR_HEADER },
		{ "challenge without token-key",
		  "PrivateToken challenge=\"abc\", max-age=10", 0, PP_ERR_HEADER },
		{ "token-key without challenge",
		  "PrivateToken token-key=\"abc\"", 0, PP_ERR_HEADER },
		{ "bare PrivateToken", "PrivateToken", 0, PP_ERR_HEADER },
		{ "PrivateToken token68", "PrivateToken abc==", 0, PP_ERR_HEADER },
		{ "valid then incomplete",
		  "PrivateToken challenge=\"a\", token-key=\"b\", PrivateToken challenge=\"c\"",
		  0, PP_ERR_HEADER },
		{ "duplicate challenge",
		  "PrivateToken challenge=\"a\", challenge=\"c\", token-key=\"b\"",
		  0, PP_ERR_HEADER },
		{ "empty challenge", "PrivateToken challenge=\"\", token-key=\"b\"",
		  0, PP_ERR_HEADER },
		{ "escaped challenge",
		  "PrivateToken challenge=\"a\\bc\", token-key=\"b\"", 0,
		  PP_ERR_HEADER },
		{ "negative max-age",
		  "PrivateToken challenge=a, token-key=b, max-age=\"-1\"", 0,
		  PP_ERR_HEADER },
		{ "max-age not a number",
		  "PrivateToken challenge=a, token-key=b, max-age=ten", 0,
		  PP_ERR_HEADER },
		{ "max-age empty",
		  "PrivateToken challenge=a, token-key=b, max-age=\"\"", 0,
		  PP_ERR_HEADER },
		{ "max-age with space",
		  "PrivateToken challenge=a, token-key=b, max-age=\"1 0\"", 0,
		  PP_ERR_HEADER },
		{ "max-age overflow",
		  "PrivateToken challenge=a, token-key=b, max-age=99999999999999999999999",
		  0, PP_ERR_HEADER },
		{ "scheme followed by =", "PrivateToken=abc", 0, PP_ERR_HEADER },
		{ "param after bare scheme", "Basic,realm=x", 0, PP_ERR_HEADER },
		{ "garbage", "@@@ ###", 0, PP_ERR_HEADER },
		{ "quoted scheme", "\"PrivateToken\" challenge=a", 0,
		  PP_ERR_HEADER },
		{ "lone =", "=", 0, PP_ERR_HEADER },
		{ "control char in quotes",
		  "PrivateToken challenge=\"a\x01\", token-key=b", 0,
		  PP_ERR_HEADER },
		{ "DEL in quotes", "Basic realm=\"\x7f\"", 0, PP_ERR_HEADER },
		{ "NUL inside", "PrivateToken challenge=a\0, token-key=b", 39,
		  PP_ERR_HEADER },
		{ "CRLF", "PrivateToken challenge=a,\r\n token-key=b", 0,
		  PP_ERR_HEADER },
		{ "junk after token68", "Bearer abc def", 0, PP_ERR_HEADER },
		{ "junk after token68 padding", "Bearer abc==x y", 0,
		  PP_ERR_HEADER },
		{ "junk after quoted value",
		  "PrivateToken challenge=\"a\"x, token-key=b", 0, PP_ERR_HEADER },
		{ "bad syntax after a valid challenge",
		  "PrivateToken challenge=a, token-key=b, Basic realm=\"x", 0,
		  PP_ERR_HEADER },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].value);
		size_t count = 99;
		char *copy = exact_copy(cases[i].value, len);
		struct ah_challenge ch[MAX_CH];
		int rc;

		memset(ch, 0x5a, sizeof(ch));
		rc = ah_parse_www_authenticate(copy, len, ch, MAX_CH, &count);
		cr_expect_eq(rc, cases[i].err, "%s: got %d (%s)", cases[i].name,
			     rc, pp_err_str(rc));
		cr_expect_eq(count, 0, "%s", cases[i].name);
		cr_expect_null(ch[0].challenge, "%s: out not cleared",
			       cases[i].name);
		free(copy);
	}
}

Test(authhdr, www_authenticate_reports_buffer_when_more_than_cap)
{
	const char *v = "PrivateToken challenge=a, token-key=b, "
			"PrivateToken challenge=c, token-key=d";
	struct ah_challenge ch[2];
	size_t count = 99;

	cr_expect_eq(ah_parse_www_authenticate(v, strlen(v), ch, 1, &count),
		     PP_ERR_BUFFER);
	cr_expect_eq(count, 0);
	cr_expect_null(ch[0].challenge);
	cr_expect_eq(ah_parse_www_authenticate(v, strlen(v), NULL, 0, &count),
		     PP_ERR_BUFFER);
	cr_expect_eq(ah_parse_www_authenticate(v, strlen(v), ch, 2, &count), 0);
	cr_expect_eq(count, 2);
	cr_expect(view_is(ch[1].challenge, ch[1].challenge_len, "c"));
	cr_expect(view_is(ch[1].token_key, ch[1].token_key_len, "d"));
}

Test(authhdr, authorization_parses_when_variants)
{
	static const struct {
		const char *name;
		const char *value;
		size_t len; /* 0: strlen */
		int err;
		const char *token;
	} cases[] = {
		{ "quoted", "PrivateToken token=\"abc\"", 0, 0, "abc" },
		{ "unquoted", "PrivateToken token=abc", 0, 0, "abc" },
		{ "unquoted with padding", "PrivateToken token=abc=", 0, 0,
		  "abc=" },
		{ "case-insensitive", "privateTOKEN TOKEN=\"ab-_\"", 0, 0,
		  "ab-_" },
		{ "OWS everywhere", " \tPrivateToken  token = \"abc\" \t", 0, 0,
		  "abc" },
		{ "extra params",
		  "PrivateToken foo=bar, token=\"abc\", baz=\"q\\\"x, y\"", 0, 0,
		  "abc" },
		{ "trailing empty elements", "PrivateToken token=\"abc\", ,", 0, 0,
		  "abc" },
		{ "other scheme, token68", "Basic dXNlcjpwYXNz", 0,
		  PP_ERR_NO_CHALLENGE, NULL },
		{ "other scheme with token param", "Bearer token=\"abc\"", 0,
		  PP_ERR_NO_CHALLENGE, NULL },
		{ "missing token", "PrivateToken foo=\"bar\"", 0,
		  PP_ERR_NO_CHALLENGE, NULL },
		{ "bare scheme", "PrivateToken", 0, PP_ERR_NO_CHALLENGE, NULL },
		{ "token68 form", "PrivateToken abc==", 0, PP_ERR_NO_CHALLENGE,
		  NULL },
		{ "token= with nothing is token68", "PrivateToken token=", 0,
		  PP_ERR_NO_CHALLENGE, NULL },
		{ "empty", "", 0, PP_ERR_NO_CHALLENGE, NULL },
		{ "blank", "  ", 0, PP_ERR_NO_CHALLENGE, NULL },
		{ "two credentials", "PrivateToken token=\"a\", Basic x", 0,
		  PP_ERR_HEADER, NULL },
		{ "unterminated", "PrivateToken token=\"abc", 0, PP_ERR_HEADER,
		  NULL },
		{ "cut by len", "PrivateToken token=\"abc\"", 23, PP_ERR_HEADER,
		  NULL },
		{ "duplicate token", "PrivateToken token=a, token=b", 0,
		  PP_ERR_HEADER, NULL },
		{ "empty token", "PrivateToken token=\"\"", 0, PP_ERR_HEADER,
		  NULL },
		{ "missing =", "PrivateToken token \"abc\"", 0, PP_ERR_HEADER,
		  NULL },
		{ "missing comma", "PrivateToken token=a foo=b", 0, PP_ERR_HEADER,
		  NULL },
		{ "leading comma", ", PrivateToken token=a", 0, PP_ERR_HEADER,
		  NULL },
		{ "garbage", "\x01\x02", 0, PP_ERR_HEADER, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].value);
		char *copy = exact_copy(cases[i].value, len);
		const char *tok = (const char *)1;
		size_t tok_len = 99;
		int rc = ah_parse_authorization(copy, len, &tok, &tok_len);

		cr_expect_eq(rc, cases[i].err, "%s: got %d (%s)", cases[i].name,
			     rc, pp_err_str(rc));
		if (cases[i].token != NULL && rc == 0) {
			cr_expect(view_is(tok, tok_len, cases[i].token), "%s",
				  cases[i].name);
			cr_expect(tok >= copy && tok + tok_len <= copy + len);
		} else {
			cr_expect_null(tok, "%s", cases[i].name);
			cr_expect_eq(tok_len, 0, "%s", cases[i].name);
		}
		free(copy);
	}
}

/* The extensions= parameter (draft-ietf-privacypass-auth-scheme-extensions):
 * a view beside the token, absent when not sent, refused when repeated or
 * empty. */
Test(authhdr, authorization_extensions_parameter)
{
	static const struct {
		const char *value;
		int err;
		const char *token, *ext;
	} cases[] = {
		{ "PrivateToken token=\"abc=\", extensions=\"AAA=\"", 0, "abc=", "AAA=" },
		{ "PrivateToken extensions=\"AAQA\",token=abc", 0, "abc", "AAQA" },
		{ "privatetoken TOKEN=abc, EXTENSIONS=\"AAA=\"", 0, "abc", "AAA=" },
		{ "PrivateToken token=abc", 0, "abc", NULL },
		{ "PrivateToken token=abc, extensions=\"\"", PP_ERR_HEADER, NULL, NULL },
		{ "PrivateToken token=abc, extensions=a, extensions=b", PP_ERR_HEADER, NULL, NULL },
		{ "PrivateToken extensions=\"AAA=\"", PP_ERR_NO_CHALLENGE, NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].value);
		char *copy = exact_copy(cases[i].value, len);
		const char *tok = NULL, *ext = (const char *)1;
		size_t tok_len = 0, ext_len = 99;
		int rc = ah_parse_authorization_ext(copy, len, &tok, &tok_len, &ext,
						    &ext_len);

		cr_expect_eq(rc, cases[i].err, "%s: got %d", cases[i].value, rc);
		if (rc == 0) {
			cr_expect(view_is(tok, tok_len, cases[i].token), "%s", cases[i].value);
			if (cases[i].ext) {
				cr_expect(ext && view_is(ext, ext_len, cases[i].ext), "%s",
					  cases[i].value);
				cr_expect(ext >= copy && ext + ext_len <= copy + len);
			} else {
				cr_expect(ext == NULL && ext_len == 0, "%s", cases[i].value);
			}
		} else {
			cr_expect(ext == NULL && ext_len == 0, "%s", cases[i].value);
		}
		free(copy);
	}
}

/* A real type-2 token through the Authorization header and back. */
Test(authhdr, authorization_round_trips_when_rfc9578_tokens)
{
	json_t *vs = tu_vectors(TYPE2_VECTORS);
	size_t i, seen = 0;
	json_t *v;

	json_array_foreach(vs, i, v) {
		size_t tkl, n = 0, tl = 0, back_len = 0;
		uint8_t *tok = tu_hex_field(v, "token", &tkl);
		char hdr[1024];
		const char *text = NULL;
		uint8_t back[TOK_TOKEN_LEN];
		struct tok_token t;

		cr_assert_eq(ah_format_authorization(tok, tkl, hdr, sizeof(hdr),
						     &n), 0);
		cr_assert_eq(ah_parse_authorization(hdr, n, &text, &tl), 0);
		cr_assert_eq(b64_decode(text, tl, back, sizeof(back),
					&back_len), 0);
		cr_expect(back_len == tkl && memcmp(back, tok, tkl) == 0,
			  "vector %zu", i);
		cr_expect_eq(tok_token_decode(back, back_len, &t), 0);
		seen++;
		free(tok);
	}
	cr_expect_eq(seen, 5);
	json_decref(vs);
}
