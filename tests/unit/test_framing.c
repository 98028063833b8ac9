#include <criterion/criterion.h>
#include <string.h>

#include "api/framing.h"
#include "tu.h"

TestSuite(framing, .fini = tu_leak_check);

#define MAXF 6

struct fcase {
	const char *what;
	const char *version;
	struct {
		const char *name, *value;
		int folded;
	} f[MAXF];                   /* up to the first NULL name */
	enum api_framing_verdict want;
};

#define V11 "HTTP/1.1"
#define V10 "HTTP/1.0"
#define HOST { "Host", "issuer.example", 0 }

static const struct fcase cases[] = {
	/* accepted */
	{ "plain GET", V11, { HOST }, API_FRAMING_OK },
	{ "POST with a length", V11, { HOST, { "Content-Length", "259", 0 } }, API_FRAMING_OK },
	{ "length 0", V11, { HOST, { "Content-Length", "0", 0 } }, API_FRAMING_OK },
	{ "leading zeros", V11, { HOST, { "content-length", "0005", 0 } }, API_FRAMING_OK },
	{ "19 digits", V11, { HOST, { "Content-Length", "9999999999999999999", 0 } },
	  API_FRAMING_OK },
	{ "chunked", V11, { HOST, { "Transfer-Encoding", "chunked", 0 } }, API_FRAMING_OK },
	{ "chunked in capitals", V11, { HOST, { "TRANSFER-ENCODING", "Chunked", 0 } },
	  API_FRAMING_OK },
	{ "HTTP/1.0 without Host", V10, { { "Content-Length", "3", 0 } }, API_FRAMING_OK },
	{ "HTTP/1.0 without any field", V10, { { NULL, NULL, 0 } }, API_FRAMING_OK },
	{ "Host with port", V11, { { "Host", "127.0.0.1:8080", 0 } }, API_FRAMING_OK },
	{ "Host IPv6 literal", V11, { { "Host", "[::1]:8080", 0 } }, API_FRAMING_OK },
	{ "empty Host", V11, { { "Host", "", 0 } }, API_FRAMING_OK },
	{ "Host with trailing space", V11, { { "Host", "x \t", 0 } }, API_FRAMING_OK },
	{ "token punctuation in a name", V11, { HOST, { "X-A!#$%&'*+.^_`|~9", "v", 0 } },
	  API_FRAMING_OK },
	{ "obs-text and tab in a value", V11, { HOST, { "X-A", "caf\xc3\xa9\tx", 0 } },
	  API_FRAMING_OK },
	{ "empty value", V11, { HOST, { "X-A", "", 0 } }, API_FRAMING_OK },
	{ "unknown version is held to 1.1", "HTTP/1.2", { HOST }, API_FRAMING_OK },

	/* the four reported cases and the missing Host */
	{ "chunked and a length", V11,
	  { HOST, { "Transfer-Encoding", "chunked", 0 }, { "Content-Length", "5", 0 } },
	  API_FRAMING_TE_AND_CL },
	{ "length then chunked", V11,
	  { HOST, { "Content-Length", "5", 0 }, { "Transfer-Encoding", "chunked", 0 } },
	  API_FRAMING_TE_AND_CL },
	{ "two different lengths", V11,
	  { HOST, { "Content-Length", "5", 0 }, { "Content-Length", "40", 0 } },
	  API_FRAMING_DUP_CL },
	{ "two equal lengths", V11,
	  { HOST, { "Content-Length", "5", 0 }, { "content-length", "5", 0 } },
	  API_FRAMING_DUP_CL },
	{ "space before the colon", V11, { HOST, { "Content-Length ", "5", 0 } },
	  API_FRAMING_BAD_NAME },
	{ "tab before the colon", V11, { HOST, { "Transfer-Encoding\t", "chunked", 0 } },
	  API_FRAMING_BAD_NAME },
	{ "length list", V11, { HOST, { "Content-Length", "5, 5", 0 } }, API_FRAMING_BAD_CL },
	{ "HTTP/1.1 without Host", V11, { { "Content-Length", "0", 0 } },
	  API_FRAMING_NO_HOST },
	{ "HTTP/1.1 without any field", V11, { { NULL, NULL, 0 } }, API_FRAMING_NO_HOST },

	/* Transfer-Encoding other than exactly chunked */
	{ "gzip, chunked", V11, { HOST, { "Transfer-Encoding", "gzip, chunked", 0 } },
	  API_FRAMING_BAD_TE },
	{ "chunked, identity", V11, { HOST, { "Transfer-Encoding", "chunked, identity", 0 } },
	  API_FRAMING_BAD_TE },
	{ "xchunked", V11, { HOST, { "Transfer-Encoding", "xchunked", 0 } },
	  API_FRAMING_BAD_TE },
	{ "chunked with trailing space", V11, { HOST, { "Transfer-Encoding", "chunked ", 0 } },
	  API_FRAMING_BAD_TE },
	{ "identity", V11, { HOST, { "Transfer-Encoding", "identity", 0 } }, API_FRAMING_BAD_TE },
	{ "empty coding", V11, { HOST, { "Transfer-Encoding", "", 0 } }, API_FRAMING_BAD_TE },
	{ "chunked twice", V11,
	  { HOST, { "Transfer-Encoding", "chunked", 0 }, { "Transfer-Encoding", "chunked", 0 } },
	  API_FRAMING_BAD_TE },
	{ "chunked in HTTP/1.0", V10, { { "Transfer-Encoding", "chunked", 0 } },
	  API_FRAMING_TE_HTTP10 },

	/* Content-Length that is not plain digits */
	{ "plus sign", V11, { HOST, { "Content-Length", "+5", 0 } }, API_FRAMING_BAD_CL },
	{ "minus sign", V11, { HOST, { "Content-Length", "-1", 0 } }, API_FRAMING_BAD_CL },
	{ "space inside", V11, { HOST, { "Content-Length", "1 0", 0 } }, API_FRAMING_BAD_CL },
	{ "trailing space", V11, { HOST, { "Content-Length", "5 ", 0 } }, API_FRAMING_BAD_CL },
	{ "hex", V11, { HOST, { "Content-Length", "0x10", 0 } }, API_FRAMING_BAD_CL },
	{ "empty", V11, { HOST, { "Content-Length", "", 0 } }, API_FRAMING_BAD_CL },
	{ "20 digits", V11, { HOST, { "Content-Length", "18446744073709551616", 0 } },
	  API_FRAMING_BAD_CL },
	{ "overflow", V11, { HOST, { "Content-Length", "99999999999999999999999", 0 } },
	  API_FRAMING_BAD_CL },

	/* obs-fold, field names and values */
	{ "folded length", V11, { HOST, { "Content-Length0", "5", 1 } }, API_FRAMING_OBS_FOLD },
	{ "folded other field", V11, { HOST, { "X-Abar", "foo", 1 } }, API_FRAMING_OBS_FOLD },
	{ "leading space in a name (fold of the first line)", V11,
	  { HOST, { " Content-Length", "5", 0 } }, API_FRAMING_BAD_NAME },
	{ "empty name", V11, { HOST, { "", "x", 0 } }, API_FRAMING_BAD_NAME },
	{ "control character in a name", V11, { HOST, { "Content\x01Length", "5", 0 } },
	  API_FRAMING_BAD_NAME },
	{ "DEL in a name", V11, { HOST, { "X\x7f", "5", 0 } }, API_FRAMING_BAD_NAME },
	{ "non-ASCII name", V11, { HOST, { "X-\xc3\xa9", "5", 0 } }, API_FRAMING_BAD_NAME },
	{ "separator in a name", V11, { HOST, { "X(A)", "5", 0 } }, API_FRAMING_BAD_NAME },
	{ "bare CR in a value", V11, { HOST, { "X-A", "a\rContent-Length: 5", 0 } },
	  API_FRAMING_BAD_VALUE },
	{ "DEL in a value", V11, { HOST, { "X-A", "a\x7f", 0 } }, API_FRAMING_BAD_VALUE },

	/* Host */
	{ "two Hosts", V11, { HOST, { "host", "other.example", 0 } }, API_FRAMING_DUP_HOST },
	{ "two Hosts in HTTP/1.0", V10, { HOST, HOST }, API_FRAMING_DUP_HOST },
	{ "Host with a space", V11, { { "Host", "a b", 0 } }, API_FRAMING_BAD_HOST },
	{ "Host with userinfo", V11, { { "Host", "user@x", 0 } }, API_FRAMING_BAD_HOST },
	{ "Host with a path", V11, { { "Host", "x/y", 0 } }, API_FRAMING_BAD_HOST },
};

Test(framing, verdict_matches_table_when_fields_vary)
{
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_framing_field f[MAXF];
		enum api_framing_verdict got;
		size_t n = 0;

		memset(f, 0, sizeof(f));
		for (j = 0; j < MAXF && cases[i].f[j].name; j++) {
			f[j].name = cases[i].f[j].name;
			f[j].name_len = strlen(cases[i].f[j].name);
			f[j].value = cases[i].f[j].value;
			f[j].value_len = strlen(cases[i].f[j].value);
			f[j].folded = cases[i].f[j].folded;
			n++;
		}
		got = api_framing_check(f, n, cases[i].version);
		cr_expect_eq(got, cases[i].want, "%s: got %d (%s), want %d (%s)", cases[i].what,
			     got, api_framing_verdict_str(got), cases[i].want,
			     api_framing_verdict_str(cases[i].want));
	}
}

/* Lengths are taken from the fields, not from NUL terminators: libmicrohttpd
 * hands NUL-terminated strings, but a NUL inside a value must not hide it. */
Test(framing, nul_inside_value_is_refused_when_length_covers_it)
{
	struct api_framing_field f[2] = {
		{ "Host", 4, "x", 1, 0 },
		{ "Content-Length", 14, "5\0" "0", 3, 0 },
	};

	cr_expect_eq(api_framing_check(f, 2, V11), API_FRAMING_BAD_VALUE);
	f[1].value_len = 1;
	cr_expect_eq(api_framing_check(f, 2, V11), API_FRAMING_OK);
}

Test(framing, names_are_matched_by_length_when_prefix_matches)
{
	struct api_framing_field f[3] = {
		{ "Host", 4, "x", 1, 0 },
		{ "Content-Lengthy", 15, "abc", 3, 0 },
		{ "Transfer-Encodings", 18, "gzip", 4, 0 },
	};

	cr_expect_eq(api_framing_check(f, 3, V11), API_FRAMING_OK);
	/* a name given by length without its NUL: "Content-Length" of "...y" */
	f[1].name_len = 14;
	cr_expect_eq(api_framing_check(f, 3, V11), API_FRAMING_BAD_CL);
}

Test(framing, null_version_gets_http11_rules)
{
	cr_expect_eq(api_framing_check(NULL, 0, NULL), API_FRAMING_NO_HOST);
}

Test(framing, every_verdict_has_text)
{
	int v;

	for (v = API_FRAMING_VERDICT_MIN; v <= API_FRAMING_OK; v++)
		cr_expect_str_neq(api_framing_verdict_str((enum api_framing_verdict)v),
				  "unknown verdict", "verdict %d", v);
	cr_expect_str_eq(api_framing_verdict_str((enum api_framing_verdict)1), "unknown verdict");
}
