/* Several issuers: the issuers section of the config file (names, hosts,
 * per-issuer settings, what is refused and what the message says), the
 * routing form of Host values, and the issuer table's routing and hold
 * counting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/tenant.h"
#include "program/config.h"
#include "tu.h"

TestSuite(issuers, .fini = tu_leak_check, .timeout = 30);

/* Loads a config file holding text (an unnamed temporary file, opened again
 * through /proc/self/fd); returns cfg_load's code, err filled. */
static int load(const char *text, struct cfg *c, char *err, size_t cap)
{
	FILE *f = tmpfile();
	char path[64];
	char *argv[] = { "serve", "--config", path, NULL };
	int rc;

	cr_assert(f);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(f));
	fputs(text, f);
	cr_assert_eq(fflush(f), 0);
	cfg_init(c);
	err[0] = '\0';
	rc = cfg_load(c, 3, argv, err, cap);
	fclose(f);
	return rc;
}

Test(issuers, section_gives_each_issuer_its_settings_and_directory)
{
	struct cfg c;
	char err[512];

	cr_assert_eq(load("{\"data-dir\":\"/srv/pp\",\"token-types\":\"2\","
			  "\"issuers\":[{\"name\":\"a\",\"hosts\":[\"A.Example.\"]},"
			  "{\"name\":\"tier-2\",\"hosts\":[\"b.example\",\"[::1]\"],"
			  "\"token-types\":\"2,5\",\"max-published-keys\":3,"
			  "\"require-auth\":true}]}", &c, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(c.n_issuers, 2);
	cr_assert_str_eq(c.issuers[0].name, "a");
	cr_assert_eq(c.issuers[0].n_hosts, 1);
	cr_assert_str_eq(c.issuers[0].hosts[0], "a.example");
	cr_assert_str_eq(c.issuers[0].cfg.data_dir, "/srv/pp/issuers/a");
	cr_assert_str_eq(c.issuers[0].cfg.token_types, "2");
	cr_assert_eq(c.issuers[0].cfg.require_auth, 0);
	cr_assert_str_eq(c.issuers[1].cfg.data_dir, "/srv/pp/issuers/tier-2");
	cr_assert_str_eq(c.issuers[1].hosts[1], "[::1]");
	cr_assert_str_eq(c.issuers[1].cfg.token_types, "2,5");
	cr_assert_eq(c.issuers[1].cfg.max_published_keys, 3);
	cr_assert_eq(c.issuers[1].cfg.require_auth, 1);
	/* the server's own settings are untouched */
	cr_assert_str_eq(c.data_dir, "/srv/pp");
	cr_assert_eq(c.require_auth, 0);
	cfg_free(&c);
}

Test(issuers, no_section_means_one_issuer)
{
	struct cfg c;
	char err[512];

	cr_assert_eq(load("{\"data-dir\":\"/srv/pp\"}", &c, err, sizeof(err)), 0);
	cr_assert_eq(c.n_issuers, 0);
	cr_assert_null(c.issuers);
	cfg_free(&c);
}

/* Every mistake is refused at start with a message naming it. */
Test(issuers, bad_sections_are_refused_with_what_to_fix)
{
	static const struct { const char *json, *says; } cases[] = {
		{ "{\"issuers\":[]}", "1 to 64 issuers" },
		{ "{\"issuers\":{\"name\":\"a\"}}", "must be a list" },
		{ "{\"issuers\":[\"a\"]}", "must be an object" },
		{ "{\"issuers\":[{\"hosts\":[\"a.example\"]}]}", "'name' must be" },
		{ "{\"issuers\":[{\"name\":\"A\",\"hosts\":[\"a.example\"]}]}", "got 'A'" },
		{ "{\"issuers\":[{\"name\":\"-a\",\"hosts\":[\"a.example\"]}]}", "got '-a'" },
		{ "{\"issuers\":[{\"name\":\"a/../b\",\"hosts\":[\"a.example\"]}]}", "got 'a/../b'" },
		{ "{\"issuers\":[{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"hosts\":[\"a.example\"]}]}",
		  "'name' must be 1 to 32" },
		{ "{\"issuers\":[{\"name\":\"a\"}]}", "'hosts' must be a list" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[]}]}", "'hosts' must be a list" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a example\"]}]}", "is not a host name" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a..example\"]}]}", "is not a host name" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[7]}]}", "(not a string)" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example:8080\"]}]}", "has a port" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\",\"A.example\"]}]}",
		  "listed twice" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"]},"
		  "{\"name\":\"b\",\"hosts\":[\"A.EXAMPLE.\"]}]}",
		  "host 'a.example' is already issuer 'a''s" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"]},"
		  "{\"name\":\"a\",\"hosts\":[\"b.example\"]}]}", "'a' is used twice" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"],\"colour\":1}]}",
		  "issuers[0] ('a'): unknown setting 'colour'" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"],\"listen\":\"0.0.0.0:1\"}]}",
		  "'listen' is a server-wide setting" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"],\"data-dir\":\"/x\"}]}",
		  "'data-dir' is a server-wide setting" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"],\"global-rate\":-1}]}",
		  "expected an integer" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"],\"public-url\":\"ftp://x\"}]}",
		  "public-url must start" },
		{ "{\"issuers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"],\"auto-rotate\":[1]}]}",
		  "must be a string, integer or boolean" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg c;
		char err[512];

		cr_assert_eq(load(cases[i].json, &c, err, sizeof(err)), PP_ERR_CONFIG,
			     "accepted: %s", cases[i].json);
		cr_assert(strstr(err, cases[i].says), "%s: said '%s', not '%s'",
			  cases[i].json, err, cases[i].says);
		cr_assert_null(c.issuers);
		cfg_free(&c);
	}
}

Test(issuers, host_values_take_their_routing_form)
{
	static const struct { const char *in, *out; int rc; } cases[] = {
		{ "a.example", "a.example", 0 },
		{ "A.Example.", "a.example", 0 },
		{ "a.example:8080", "a.example", 1 },
		{ "127.0.0.1:80", "127.0.0.1", 1 },
		{ "[::1]", "[::1]", 0 },
		{ "[2001:DB8::1]:443", "[2001:db8::1]", 1 },
		{ "localhost", "localhost", 0 },
		{ "", NULL, PP_ERR_ARG },
		{ ":80", NULL, PP_ERR_ARG },
		{ "a.example:", NULL, PP_ERR_ARG },
		{ "a.example:123456", NULL, PP_ERR_ARG },
		{ "a.example:99999", NULL, PP_ERR_ARG },
		{ "a.example:8o", NULL, PP_ERR_ARG },
		{ "a example", NULL, PP_ERR_ARG },
		{ "a.example/x", NULL, PP_ERR_ARG },
		{ "user@a.example", NULL, PP_ERR_ARG },
		{ ".a.example", NULL, PP_ERR_ARG },
		{ "a..", NULL, PP_ERR_ARG },
		{ ".", NULL, PP_ERR_ARG },
		{ "[::1", NULL, PP_ERR_ARG },
		{ "[]", NULL, PP_ERR_ARG },
		{ "[::g]", NULL, PP_ERR_ARG },
		{ "[::1]x", NULL, PP_ERR_ARG },
		{ "a.example\r\nX: y", NULL, PP_ERR_ARG },
	};
	char out[TN_HOST_MAX + 1], big[400];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(tn_host_normalize(cases[i].in, out), cases[i].rc,
			     "'%s'", cases[i].in);
		if (cases[i].out)
			cr_assert_str_eq(out, cases[i].out, "'%s'", cases[i].in);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(tn_host_normalize(big, out), PP_ERR_ARG);
	cr_assert_eq(tn_host_normalize(NULL, out), PP_ERR_ARG);
}

/* A fake service handle: the table only compares and hands out pointers. */
static struct svc *fake_svc(int n)
{
	return (struct svc *)(uintptr_t)(0x1000 + n);
}

Test(issuers, table_routes_hosts_and_counts_its_holds)
{
	const char *ha[] = { "a.example", "[::1]" }, *hb[] = { "b.example" };
	const char *hc[] = { "b.example" }, *bad[] = { "B.example" };
	struct tn_parts pa = { "a", fake_svc(1), NULL, NULL, 0 };
	struct tn_parts pb = { "b", fake_svc(2), NULL, NULL, 1 };
	struct tn_parts pc = { "c", fake_svc(3), NULL, NULL, 0 };
	struct tn_issuer *a, *b, *c, *x = NULL;
	struct tn_table *t1, *t2, *held, *dup = NULL;
	struct tn_current *cur;

	cr_assert_eq(tn_issuer_new(&pa, ha, 2, &a), 0);
	cr_assert_eq(tn_issuer_new(&pb, hb, 1, &b), 0);
	cr_assert_eq(tn_issuer_new(&pc, hc, 1, &c), 0);
	/* hosts must already be in routing form */
	cr_assert_eq(tn_issuer_new(&pc, bad, 1, &x), PP_ERR_ARG);
	cr_assert_null(x);
	cr_assert_eq(tn_table_new((struct tn_issuer *[]){ a, b }, 2, &t1), 0);
	cr_assert_eq(tn_table_find(t1, "a.example")->svc, fake_svc(1));
	cr_assert_eq(tn_table_find(t1, "[::1]")->svc, fake_svc(1));
	cr_assert_eq(tn_table_find(t1, "b.example")->require_auth, 1);
	cr_assert_null(tn_table_find(t1, "c.example"));
	cr_assert_null(tn_table_find(t1, NULL));
	/* one host, one issuer */
	cr_assert_eq(tn_table_new((struct tn_issuer *[]){ b, c }, 2, &dup), PP_ERR_ARG);
	cr_assert_eq(tn_table_new((struct tn_issuer *[]){ a, a }, 2, &dup), PP_ERR_ARG);
	cr_assert_null(dup);

	cr_assert_eq(tn_current_new(t1, &cur), 0);
	held = tn_current_get(cur);       /* a request in flight */
	cr_assert_eq(tn_table_new((struct tn_issuer *[]){ a }, 1, &t2), 0);
	tn_current_swap(cur, t2);         /* a reload removes b */
	cr_assert_eq(tn_issuer_in_use(b), 1, "the request still holds b");
	cr_assert_eq(tn_issuer_in_use(a), 2);
	tn_table_unref(held);             /* the request completes */
	cr_assert_eq(tn_issuer_in_use(b), 0);
	cr_assert_eq(tn_issuer_in_use(a), 1);
	tn_issuer_free(b);
	tn_issuer_free(c);
	tn_current_free(cur);
	cr_assert_eq(tn_issuer_in_use(a), 0);
	tn_issuer_free(a);
}

Test(issuers, names_are_bounded_and_plain)
{
	cr_assert(tn_name_valid("a"));
	cr_assert(tn_name_valid("tier-2"));
	cr_assert(tn_name_valid("0123456789abcdef0123456789abcdef"));
	cr_assert_not(tn_name_valid("0123456789abcdef0123456789abcdef0"));
	cr_assert_not(tn_name_valid(""));
	cr_assert_not(tn_name_valid("-a"));
	cr_assert_not(tn_name_valid("a_b"));
	cr_assert_not(tn_name_valid("a.b"));
	cr_assert_not(tn_name_valid("A"));
	cr_assert_not(tn_name_valid("a\"b"));
	cr_assert_not(tn_name_valid(NULL));
}
