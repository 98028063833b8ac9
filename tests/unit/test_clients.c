/* The client registry: secrets, lookup, revocation, certificate mapping, the
 * file format and its safety checks, the shared snapshot, and the parsers
 * behind the CLI's options. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/clients.h"
#include "tu.h"

static char tdir[64];

static void setup(void)
{
	cr_assert(sodium_init() >= 0);
	snprintf(tdir, sizeof(tdir), "/tmp/pp-clients-XXXXXX");
	cr_assert(mkdtemp(tdir) != NULL);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tdir);
	tu_leak_check();
}

TestSuite(clients, .init = setup, .fini = teardown, .timeout = 30);

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tdir, name);
}

static void write_text(const char *name, const char *text, mode_t mode)
{
	char p[256];
	FILE *f;

	path_of(p, sizeof(p), name);
	f = fopen(p, "w");
	cr_assert(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(p, mode), 0);
}

/* Adds a client with a fresh secret; returns the secret text. */
static void add_client(struct cl_registry *r, const char *name, enum cl_role role,
		       char secret[CL_SECRET_TEXT_LEN + 1])
{
	struct cl_client c;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "%s", name);
	c.role = role;
	c.created = 1700000000;
	cr_assert_eq(cl_secret_new(secret, c.secret_hash), 0);
	cr_assert_eq(cl_registry_add(r, &c), 0);
}

Test(clients, secret_has_prefix_and_authenticates_its_client)
{
	struct cl_registry *r = NULL;
	char s1[CL_SECRET_TEXT_LEN + 1], s2[CL_SECRET_TEXT_LEN + 1];
	const struct cl_client *c = NULL;

	cr_assert_eq(cl_registry_new(&r), 0);
	add_client(r, "att1", CL_ROLE_ATTESTER, s1);
	add_client(r, "org1", CL_ROLE_ORIGIN, s2);
	cr_assert_eq(strlen(s1), CL_SECRET_TEXT_LEN);
	cr_assert_eq(strncmp(s1, CL_SECRET_PREFIX, strlen(CL_SECRET_PREFIX)), 0);
	cr_assert_str_neq(s1, s2);
	cr_assert_eq(cl_registry_authenticate(r, s1, strlen(s1), &c), 0);
	cr_assert_str_eq(c->name, "att1");
	cr_assert_eq(c->role, CL_ROLE_ATTESTER);
	cr_assert_eq(cl_registry_authenticate(r, s2, strlen(s2), &c), 0);
	cr_assert_str_eq(c->name, "org1");
	cl_registry_unref(r);
}

Test(clients, authenticate_refuses_anything_but_a_registered_secret)
{
	struct cl_registry *r = NULL;
	char s[CL_SECRET_TEXT_LEN + 1], other[CL_SECRET_TEXT_LEN + 1], buf[128];
	uint8_t h[CL_HASH_LEN];
	const struct cl_client *c;
	size_t plen = strlen(CL_SECRET_PREFIX), i;

	cr_assert_eq(cl_registry_new(&r), 0);
	add_client(r, "att1", CL_ROLE_ATTESTER, s);
	cr_assert_eq(cl_secret_new(other, h), 0);
	{
		struct { const char *what; char text[128]; } cases[8];
		size_t n = 0;

		snprintf(cases[n].text, 128, "%s", other); cases[n++].what = "unregistered";
		snprintf(cases[n].text, 128, "%.*s", (int)(CL_SECRET_TEXT_LEN - 1), s);
		cases[n++].what = "truncated";
		snprintf(cases[n].text, 128, "%sA", s); cases[n++].what = "one extra char";
		snprintf(cases[n].text, 128, "xxissuer_%s", s + plen); cases[n++].what = "wrong prefix";
		snprintf(cases[n].text, 128, "%s", s); cases[n].text[plen + 3] = '+';
		cases[n++].what = "non-url alphabet";
		snprintf(cases[n].text, 128, "%s", s);
		cases[n].text[CL_SECRET_TEXT_LEN - 5] ^= 1; /* one bit of the secret */
		cases[n++].what = "one bit off";
		cases[n].text[0] = '\0'; cases[n++].what = "empty";
		snprintf(cases[n].text, 128, "%s", CL_SECRET_PREFIX); cases[n++].what = "prefix only";
		for (i = 0; i < n; i++) {
			c = (const struct cl_client *)1;
			cr_assert_eq(cl_registry_authenticate(r, cases[i].text,
							      strlen(cases[i].text), &c),
				     PP_ERR_AUTH, "%s accepted", cases[i].what);
			cr_assert_null(c, "%s left a result", cases[i].what);
		}
	}
	/* The same secret with a bad length argument is not accepted. */
	snprintf(buf, sizeof(buf), "%s", s);
	cr_assert_eq(cl_registry_authenticate(r, buf, strlen(buf) - 1, &c), PP_ERR_AUTH);
	cl_registry_unref(r);
}

Test(clients, revoked_client_is_reported_as_revoked)
{
	struct cl_registry *r = NULL;
	char s[CL_SECRET_TEXT_LEN + 1];
	const struct cl_client *c = NULL;

	cr_assert_eq(cl_registry_new(&r), 0);
	add_client(r, "att1", CL_ROLE_ATTESTER, s);
	cl_registry_find_mut(r, "att1")->revoked = 1700000100;
	cr_assert_eq(cl_registry_authenticate(r, s, strlen(s), &c), PP_ERR_STATE);
	cr_assert_null(c);
	cl_registry_unref(r);
}

Test(clients, certificate_maps_by_spki_then_subject)
{
	struct cl_registry *r = NULL;
	struct cl_client *m;
	char s[CL_SECRET_TEXT_LEN + 1];
	uint8_t spki[32], other[32];
	const struct cl_client *c = NULL;

	memset(spki, 0xa5, sizeof(spki));
	memset(other, 0x5a, sizeof(other));
	cr_assert_eq(cl_registry_new(&r), 0);
	add_client(r, "by-spki", CL_ROLE_ATTESTER, s);
	add_client(r, "by-subject", CL_ROLE_ORIGIN, s);
	add_client(r, "no-cert", CL_ROLE_ATTESTER, s);
	m = cl_registry_find_mut(r, "by-spki");
	memcpy(m->cert_spki, spki, 32);
	m->has_cert_spki = 1;
	cr_assert_eq(cl_client_set_subject(cl_registry_find_mut(r, "by-subject"),
					   "CN=origin,O=Example"), 0);

	cr_assert_eq(cl_registry_match_cert(r, spki, "CN=whatever", &c), 0);
	cr_assert_str_eq(c->name, "by-spki");
	cr_assert_eq(cl_registry_match_cert(r, other, "CN=origin,O=Example", &c), 0);
	cr_assert_str_eq(c->name, "by-subject");
	cr_assert_eq(cl_registry_match_cert(r, other, "CN=origin,O=Example2", &c), PP_ERR_AUTH);
	cr_assert_null(c);
	cr_assert_eq(cl_registry_match_cert(r, other, NULL, &c), PP_ERR_AUTH);
	/* An all-zero SPKI hash must not match clients that have none. */
	memset(other, 0, sizeof(other));
	cr_assert_eq(cl_registry_match_cert(r, other, NULL, &c), PP_ERR_AUTH);
	m->revoked = 5;
	cr_assert_eq(cl_registry_match_cert(r, spki, NULL, &c), PP_ERR_STATE);
	cl_registry_unref(r);
}

Test(clients, add_refuses_duplicates_and_invalid_entries)
{
	struct cl_registry *r = NULL;
	struct cl_client c;
	char s[CL_SECRET_TEXT_LEN + 1];

	cr_assert_eq(cl_registry_new(&r), 0);
	add_client(r, "att1", CL_ROLE_ATTESTER, s);
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "att1");
	c.role = CL_ROLE_ORIGIN;
	cr_assert_eq(cl_registry_add(r, &c), PP_ERR_EXISTS);
	snprintf(c.name, sizeof(c.name), "bad name");
	cr_assert_eq(cl_registry_add(r, &c), PP_ERR_ARG);
	snprintf(c.name, sizeof(c.name), "ok");
	c.role = 0;
	cr_assert_eq(cl_registry_add(r, &c), PP_ERR_ARG);
	c.role = CL_ROLE_MONITOR;
	c.rate = -1;
	cr_assert_eq(cl_registry_add(r, &c), PP_ERR_ARG);
	c.rate = 0;
	cr_assert_eq(cl_registry_add(r, &c), 0);
	cr_assert_eq(cl_registry_count(r), 2);
	cl_registry_unref(r);
}

Test(clients, save_then_load_keeps_every_field)
{
	struct cl_registry *r = NULL, *back = NULL;
	struct cl_client *m;
	const struct cl_client *c;
	char s[CL_SECRET_TEXT_LEN + 1], err[512] = "";
	const struct cl_client *who;

	cr_assert_eq(cl_registry_new(&r), 0);
	add_client(r, "att1", CL_ROLE_ATTESTER, s);
	add_client(r, "org.1", CL_ROLE_ORIGIN, s);
	m = cl_registry_find_mut(r, "att1");
	m->rate = 2.5;
	m->burst = 7;
	m->quota = 1000;
	m->has_cert_spki = 1;
	memset(m->cert_spki, 0x3c, 32);
	cr_assert_eq(cl_client_set_subject(m, "CN=att1,O=\"Quoted, Inc.\""), 0);
	cl_registry_find_mut(r, "org.1")->revoked = 1700000500;
	cr_assert_eq(cl_registry_save(tdir, r, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cl_registry_load(tdir, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cl_registry_count(back), 2);
	c = cl_registry_find(back, "att1");
	cr_assert(c);
	cr_assert_eq(c->role, CL_ROLE_ATTESTER);
	cr_assert_float_eq(c->rate, 2.5, 1e-9);
	cr_assert_eq(c->burst, 7);
	cr_assert_eq(c->quota, 1000);
	cr_assert_eq(c->created, 1700000000);
	cr_assert_eq(c->revoked, 0);
	cr_assert(c->has_cert_spki);
	cr_assert_eq(memcmp(c->cert_spki, m->cert_spki, 32), 0);
	cr_assert_str_eq(c->cert_subject, "CN=att1,O=\"Quoted, Inc.\"");
	cr_assert_eq(memcmp(c->secret_hash, cl_registry_find(r, "att1")->secret_hash, 32), 0);
	c = cl_registry_find(back, "org.1");
	cr_assert_eq(c->revoked, 1700000500);
	/* The last secret added (org.1's) still authenticates, as revoked. */
	cr_assert_eq(cl_registry_authenticate(back, s, strlen(s), &who), PP_ERR_STATE);
	cr_assert_str_neq(cl_registry_fingerprint(back), "none");
	cl_registry_unref(r);
	cl_registry_unref(back);
}

Test(clients, save_writes_a_private_file_and_leaves_no_temp_files)
{
	struct cl_registry *r = NULL;
	char s[CL_SECRET_TEXT_LEN + 1], err[512] = "", p[256];
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int files = 0;

	cr_assert_eq(cl_registry_new(&r), 0);
	add_client(r, "att1", CL_ROLE_ATTESTER, s);
	cr_assert_eq(cl_registry_save(tdir, r, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cl_registry_save(tdir, r, err, sizeof(err)), 0, "%s", err);
	path_of(p, sizeof(p), CL_FILE);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	d = opendir(tdir);
	cr_assert(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || strstr(de->d_name, "tmp"))
			files++;
	closedir(d);
	cr_assert_eq(files, 1, "only clients.json should be left");
	/* The secret itself is not in the file. */
	{
		char *text = tu_read_file(p, NULL);

		cr_assert_null(strstr(text, s + strlen(CL_SECRET_PREFIX)));
		cr_assert_null(strstr(text, CL_SECRET_PREFIX));
		free(text);
	}
	cl_registry_unref(r);
}

Test(clients, save_creates_a_missing_data_dir_0700)
{
	struct cl_registry *r = NULL;
	char err[512] = "", p[256];
	struct stat sb;

	cr_assert_eq(cl_registry_new(&r), 0);
	path_of(p, sizeof(p), "fresh");
	cr_assert_eq(cl_registry_save(p, r, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0700);
	cl_registry_unref(r);
}

Test(clients, missing_file_is_an_empty_registry)
{
	struct cl_registry *r = NULL;
	char err[512] = "", fp[CL_FP_LEN];

	cr_assert_eq(cl_registry_load(tdir, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cl_registry_count(r), 0);
	cr_assert_str_eq(cl_registry_fingerprint(r), "none");
	cr_assert_eq(cl_file_fingerprint(tdir, fp), 0);
	cr_assert_str_eq(fp, "none");
	cl_registry_unref(r);
}

Test(clients, load_refuses_a_file_group_or_others_can_read)
{
	static const mode_t modes[] = { 0640, 0604, 0660, 0644 };
	struct cl_registry *r;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		err[0] = '\0';
		r = (struct cl_registry *)1;
		write_text(CL_FILE, "{\"version\":1,\"clients\":[]}", modes[i]);
		cr_assert_eq(cl_registry_load(tdir, &r, err, sizeof(err)), PP_ERR_PERM,
			     "mode %o accepted", (unsigned)modes[i]);
		cr_assert_null(r);
		cr_assert(strstr(err, "chmod 600"), "message does not say what to do: %s", err);
	}
	write_text(CL_FILE, "{\"version\":1,\"clients\":[]}", 0600);
	cr_assert_eq(cl_registry_load(tdir, &r, err, sizeof(err)), 0);
	cl_registry_unref(r);
}

/* Copies tmpl into out with HASH replaced by hash and SHORT by its first
 * 62 digits. */
static void fill(char *out, size_t cap, const char *tmpl, const char *hash)
{
	size_t n = 0;

	while (*tmpl && n + 65 < cap) {
		if (!strncmp(tmpl, "HASH", 4)) {
			memcpy(out + n, hash, 64);
			n += 64;
			tmpl += 4;
		} else if (!strncmp(tmpl, "SHORT", 5)) {
			memcpy(out + n, hash, 62);
			n += 62;
			tmpl += 5;
		} else {
			out[n++] = *tmpl++;
		}
	}
	out[n] = '\0';
}

Test(clients, load_refuses_malformed_files)
{
	static const char hash[] =
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	static const struct { const char *what, *fmt; } cases[] = {
		{ "not JSON", "{" },
		{ "no version", "{\"clients\":[]}" },
		{ "future version", "{\"version\":2,\"clients\":[]}" },
		{ "clients not an array", "{\"version\":1,\"clients\":{}}" },
		{ "bad name", "{\"version\":1,\"clients\":[{\"name\":\"a b\",\"role\":\"origin\",\"secret_blake2b\":\"HASH\"}]}" },
		{ "bad role", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"admin\",\"secret_blake2b\":\"HASH\"}]}" },
		{ "no hash", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\"}]}" },
		{ "short hash", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\",\"secret_blake2b\":\"SHORT\"}]}" },
		{ "negative burst", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\",\"secret_blake2b\":\"HASH\",\"burst\":-1}]}" },
		{ "string rate", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\",\"secret_blake2b\":\"HASH\",\"rate\":\"5\"}]}" },
		{ "negative rate", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\",\"secret_blake2b\":\"HASH\",\"rate\":-5}]}" },
		{ "bad spki", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\",\"secret_blake2b\":\"HASH\",\"cert_spki_sha256\":\"zz\"}]}" },
		{ "empty subject", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\",\"secret_blake2b\":\"HASH\",\"cert_subject\":\"\"}]}" },
		{ "duplicate name", "{\"version\":1,\"clients\":[{\"name\":\"a\",\"role\":\"origin\",\"secret_blake2b\":\"HASH\"},{\"name\":\"a\",\"role\":\"attester\",\"secret_blake2b\":\"HASH\"}]}" },
		{ "duplicate key", "{\"version\":1,\"version\":1,\"clients\":[]}" },
	};
	char text[1024], err[512];
	struct cl_registry *r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fill(text, sizeof(text), cases[i].fmt, hash);
		write_text(CL_FILE, text, 0600);
		err[0] = '\0';
		r = (struct cl_registry *)1;
		cr_assert_eq(cl_registry_load(tdir, &r, err, sizeof(err)), PP_ERR_CORRUPT,
			     "%s: accepted", cases[i].what);
		cr_assert_null(r);
		cr_assert(strstr(err, CL_FILE), "%s: message lacks the file: %s",
			  cases[i].what, err);
	}
}

Test(clients, fingerprint_changes_when_the_file_is_rewritten)
{
	struct cl_registry *r = NULL, *back = NULL;
	char s[CL_SECRET_TEXT_LEN + 1], err[512] = "", fp1[CL_FP_LEN], fp2[CL_FP_LEN];

	cr_assert_eq(cl_registry_new(&r), 0);
	cr_assert_eq(cl_registry_save(tdir, r, err, sizeof(err)), 0);
	cr_assert_eq(cl_file_fingerprint(tdir, fp1), 0);
	cr_assert_eq(cl_registry_load(tdir, &back, err, sizeof(err)), 0);
	cr_assert_str_eq(cl_registry_fingerprint(back), fp1);
	cl_registry_unref(back);
	add_client(r, "att1", CL_ROLE_ATTESTER, s);
	cr_assert_eq(cl_registry_save(tdir, r, err, sizeof(err)), 0);
	cr_assert_eq(cl_file_fingerprint(tdir, fp2), 0);
	cr_assert_str_neq(fp1, fp2);
	cl_registry_unref(r);
}

Test(clients, current_snapshot_outlives_a_swap_for_its_holder)
{
	struct cl_registry *a = NULL, *b = NULL, *held, *now;
	struct cl_current *cur = NULL;
	char s[CL_SECRET_TEXT_LEN + 1];

	cr_assert_eq(cl_registry_new(&a), 0);
	cr_assert_eq(cl_registry_new(&b), 0);
	add_client(b, "att1", CL_ROLE_ATTESTER, s);
	cr_assert_eq(cl_current_new(NULL, &cur), PP_ERR_ARG);
	cr_assert_eq(cl_current_new(a, &cur), 0);
	held = cl_current_get(cur);
	cr_assert_eq(held, a);
	cl_current_swap(cur, b);
	now = cl_current_get(cur);
	cr_assert_eq(now, b);
	cr_assert_eq(cl_registry_count(held), 0); /* still readable */
	cl_registry_unref(held);
	cl_registry_unref(now);
	cl_current_free(cur);
}

Test(clients, name_rules)
{
	static const struct { const char *name; int ok; } cases[] = {
		{ "a", 1 }, { "att-1.prod_eu", 1 }, { "9lives", 1 },
		{ "", 0 }, { "-lead", 0 }, { ".hidden", 0 }, { "sp ace", 0 },
		{ "quo\"te", 0 }, { "slash/", 0 }, { "ünï", 0 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(cl_name_valid(cases[i].name), cases[i].ok, "'%s'", cases[i].name);
}

Test(clients, rate_and_quota_parsing)
{
	static const struct { const char *text; int ok; double per_s; } rates[] = {
		{ "10", 1, 10 }, { "10/s", 1, 10 }, { "600/m", 1, 10 }, { "600/min", 1, 10 },
		{ "3600/h", 1, 1 }, { "0.5/s", 1, 0.5 }, { "0", 1, 0 }, { "1.25", 1, 1.25 },
		{ "", 0, 0 }, { "/s", 0, 0 }, { "-1", 0, 0 }, { "1e3", 0, 0 },
		{ "10/d", 0, 0 }, { "0x10", 0, 0 }, { "10 /s", 0, 0 }, { "2000000", 0, 0 },
		{ "1234567890123456", 0, 0 },
	};
	static const struct { const char *text; int ok; unsigned long v; } quotas[] = {
		{ "5000", 1, 5000 }, { "5000/day", 1, 5000 }, { "5000/d", 1, 5000 },
		{ "0", 1, 0 }, { "", 0, 0 }, { "-1", 0, 0 }, { "5/h", 0, 0 }, { "1.5", 0, 0 },
		{ "99999999999999999999", 0, 0 },
	};
	double d;
	unsigned long u;
	size_t i;

	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		int rc = cl_rate_parse(rates[i].text, &d);

		cr_assert_eq(rc == 0, rates[i].ok, "rate '%s'", rates[i].text);
		if (rates[i].ok)
			cr_assert_float_eq(d, rates[i].per_s, 1e-9, "rate '%s'", rates[i].text);
	}
	for (i = 0; i < sizeof(quotas) / sizeof(quotas[0]); i++) {
		int rc = cl_quota_parse(quotas[i].text, &u);

		cr_assert_eq(rc == 0, quotas[i].ok, "quota '%s'", quotas[i].text);
		if (quotas[i].ok)
			cr_assert_eq(u, quotas[i].v, "quota '%s'", quotas[i].text);
	}
}

Test(clients, role_names_round_trip)
{
	static const enum cl_role roles[] = { CL_ROLE_ATTESTER, CL_ROLE_ORIGIN, CL_ROLE_MONITOR };
	enum cl_role back;
	size_t i;

	for (i = 0; i < 3; i++) {
		cr_assert_eq(cl_role_parse(cl_role_name(roles[i]), &back), 0);
		cr_assert_eq(back, roles[i]);
	}
	cr_assert_eq(cl_role_parse("Attester", &back), PP_ERR_ARG);
	cr_assert_eq(cl_role_parse(NULL, &back), PP_ERR_ARG);
}

Test(clients, lock_serializes_editors)
{
	int fd1 = -1, fd2 = -1;
	char err[256] = "";
	pid_t pid;
	int st;

	cr_assert_eq(cl_lock(tdir, &fd1, err, sizeof(err)), 0, "%s", err);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* Blocks until the parent unlocks; exits 0 once it has the lock.
		 * The inherited descriptor shares the parent's lock: drop it. */
		close(fd1);
		_exit(cl_lock(tdir, &fd2, err, sizeof(err)) == 0 ? 0 : 1);
	}
	usleep(200000);
	cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "second editor got the lock");
	cl_unlock(fd1);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
