/* `ppissuer keys ...` end to end: the real binary on a temporary data dir,
 * with stdout and stderr captured separately. */
#include "crypto/b64.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "tests/unit/tu.h"
#include "tests/unit/tu_keys.h"
#include "th.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(cli_keys, .fini = tu_leak_check);

static struct th_server dirs;  /* its temporary directory only: no server runs */
static const char *tmp, *data;

struct run {
	int status;
	char *out;
	char *err;
};

static void setup(void)
{
	th_dir_init(&dirs);
	tmp = dirs.dir;
	data = dirs.data_dir;
	unsetenv("PPISSUER_KEY_SECRET");
	unsetenv("PPISSUER_KEY_PASSPHRASE");
	unsetenv("PPISSUER_KEY_SECRET_FILE");
	unsetenv("PPISSUER_DATA_DIR");
}

static void teardown(void)
{
	th_dir_cleanup(&dirs);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Runs `ppissuer keys <args...> --data-dir <data>`. */
static struct run keys(const char *const *args)
{
	const char *bin = getenv("PP_BIN");
	const char *argv[32];
	char out_path[1100], err_path[1100];
	struct run r;
	size_t n = 0, i;
	pid_t pid;
	int st;

	cr_assert(bin != NULL, "PP_BIN is not set (run through make test)");
	argv[n++] = bin;
	argv[n++] = "keys";
	for (i = 0; args[i] && n < 28; i++)
		argv[n++] = args[i];
	argv[n++] = "--data-dir";
	argv[n++] = data;
	argv[n] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/out", tmp);
	snprintf(err_path, sizeof(err_path), "%s/err", tmp);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fo < 0 || fe < 0)
			_exit(126);
		dup2(fo, STDOUT_FILENO);
		dup2(fe, STDERR_FILENO);
		execv(bin, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "ppissuer keys %s did not exit", args[0]);
	r.status = WEXITSTATUS(st);
	r.out = tu_read_file(out_path, NULL);
	r.err = tu_read_file(err_path, NULL);
	return r;
}

/* Runs and expects exit status want; returns the run. */
static struct run expect(int want, const char *const *args)
{
	struct run r = keys(args);

	cr_assert_eq(r.status, want, "ppissuer keys %s: exit %d\nstdout: %s\n"
		     "stderr: %s", args[0], r.status, r.out, r.err);
	return r;
}

#define RUN(want, ...) expect(want, (const char *const[]){ __VA_ARGS__, NULL })

/* `keys list --json` at time when ("now" for the clock). */
static json_t *list_at(const char *when)
{
	struct run r = RUN(0, "list", "--json", "--now", when);
	json_error_t jerr;
	json_t *j = json_loads(r.out, 0, &jerr);

	cr_assert(json_is_array(j), "list --json: %s\n%s", jerr.text, r.out);
	run_free(&r);
	return j;
}

static const char *field_s(json_t *list, size_t i, const char *f)
{
	return json_string_value(json_object_get(json_array_get(list, i), f));
}

static long long field_i(json_t *list, size_t i, const char *f)
{
	return json_integer_value(json_object_get(json_array_get(list, i), f));
}

/* Index of the key with this id in a listing. */
static size_t index_of(json_t *list, const char *id)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++) {
		if (strcmp(field_s(list, i, "id"), id) == 0)
			return i;
	}
	cr_assert_fail("key %s not listed", id);
	return 0;
}

Test(cli_keys, lifecycle_through_the_cli, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct run r;
	json_t *l;
	char first[65], second[65];
	size_t i1, i2;

	r = RUN(0, "generate");
	cr_assert(strstr(r.out, "generated key") != NULL, "%s", r.out);
	cr_assert(strstr(r.out, "active") != NULL, "%s", r.out);
	run_free(&r);
	l = list_at("now");
	cr_assert_eq(json_array_size(l), 1);
	cr_assert_str_eq(field_s(l, 0, "state"), "active");
	cr_assert_eq(field_i(l, 0, "truncated-id"),
		     strtol(field_s(l, 0, "id") + 62, NULL, 16));
	cr_assert(json_is_true(json_object_get(json_array_get(l, 0),
					       "published")));
	snprintf(first, sizeof(first), "%s", field_s(l, 0, "id"));
	json_decref(l);

	/* cron: nothing due yet, then due after six days */
	r = RUN(0, "rotate", "--if-due");
	cr_assert(strstr(r.out, "no rotation due") != NULL, "%s", r.out);
	run_free(&r);
	r = RUN(0, "rotate", "--if-due", "--now", "+6d");
	cr_assert(strstr(r.out, "rotated") != NULL, "%s", r.out);
	cr_assert(strstr(r.out, "pending") != NULL, "%s", r.out);
	run_free(&r);
	r = RUN(1, "rotate", "--now", "+6d");
	cr_assert(strstr(r.err, "already waiting") != NULL, "%s", r.err);
	run_free(&r);

	l = list_at("+6d");
	cr_assert_eq(json_array_size(l), 2);
	i1 = index_of(l, first);
	i2 = !i1;
	snprintf(second, sizeof(second), "%s", field_s(l, i2, "id"));
	cr_assert_str_eq(field_s(l, i1, "state"), "active");
	cr_assert_str_eq(field_s(l, i2, "state"), "pending");
	cr_assert_gt(field_i(l, i1, "retire-after"), 0);
	json_decref(l);

	/* a week on: the new key signs, the old one only verifies */
	l = list_at("+7d1h");
	cr_assert_str_eq(field_s(l, index_of(l, first), "state"), "retiring");
	cr_assert_str_eq(field_s(l, index_of(l, second), "state"), "active");
	json_decref(l);

	/* nothing to prune until the overlap is over */
	r = RUN(0, "prune", "--now", "+8d");
	cr_assert(strstr(r.out, "no retired keys") != NULL, "%s", r.out);
	run_free(&r);
	r = RUN(0, "prune", "--now", "+16d");
	cr_assert(strstr(r.out, first) != NULL, "%s", r.out);
	run_free(&r);
	l = list_at("+16d");
	cr_assert_eq(json_array_size(l), 1);
	cr_assert_str_eq(field_s(l, 0, "id"), second);
	json_decref(l);

	/* retire by id prefix, then again */
	{
		char pfx[9];

		snprintf(pfx, sizeof(pfx), "%.8s", second);
		r = RUN(0, "retire", pfx, "--now", "+16d");
		cr_assert(strstr(r.out, "retiring key") != NULL, "%s", r.out);
		cr_assert(strstr(r.err, "no key signs now") != NULL, "%s", r.err);
		run_free(&r);
		r = RUN(1, "retire", pfx, "--now", "+16d");
		cr_assert(strstr(r.err, "--immediately") != NULL, "%s", r.err);
		run_free(&r);
		r = RUN(0, "retire", pfx, "--immediately", "--now", "+16d");
		cr_assert(strstr(r.out, "retired key") != NULL, "%s", r.out);
		run_free(&r);
	}
	r = RUN(1, "retire", "feedface", "--now", "+16d");
	cr_assert(strstr(r.err, "keys list") != NULL, "%s", r.err);
	run_free(&r);
}

Test(cli_keys, usage_errors_say_what_to_do, .init = setup, .fini = teardown)
{
	struct run r;

	r = RUN(2, "frobnicate");
	cr_assert(strstr(r.err, "unknown command") != NULL);
	run_free(&r);
	r = RUN(2, "retire");
	cr_assert(strstr(r.err, "missing argument") != NULL, "%s", r.err);
	run_free(&r);
	r = RUN(2, "list", "--if-due");
	cr_assert(strstr(r.err, "does not apply") != NULL, "%s", r.err);
	run_free(&r);
	r = RUN(2, "rotate", "--lead", "soon");
	cr_assert(strstr(r.err, "duration") != NULL, "%s", r.err);
	run_free(&r);
	r = RUN(1, "rotate", "--lead", "10m");
	cr_assert(strstr(r.err, "max-age") != NULL, "%s", r.err);
	run_free(&r);
	r = RUN(0, "rotate", "--help");
	cr_assert(strstr(r.out, "--if-due") != NULL, "%s", r.out);
	cr_assert(strstr(r.out, "--json") == NULL, "%s", r.out);
	run_free(&r);
	r = RUN(0, "list");
	cr_assert(strstr(r.out, "run ppissuer keys generate") != NULL, "%s",
		  r.out);
	run_free(&r);
}

/* Decodes an exported key, checks the RFC 9578 form, and returns
 * SHA-256(spki) in hex. */
static void exported_id(const char *b64, char hex[65], uint8_t *spki,
			size_t *len)
{
	uint8_t id[32];
	EVP_PKEY *pk = NULL;

	cr_assert_eq(b64_decode(b64, strcspn(b64, "\n"), spki, SPKI_MAX_LEN,
				len), 0, "not base64url: %s", b64);
	cr_assert_eq(*len, SPKI_RSA2048_LEN);
	cr_assert_eq(spki_decode(spki, *len, &pk), 0);
	EVP_PKEY_free(pk);
	spki_key_id(spki, *len, id);
	sodium_bin2hex(hex, 65, id, sizeof(id));
}

Test(cli_keys, export_both_formats, .init = setup, .fini = teardown)
{
	uint8_t spki[SPKI_MAX_LEN], der[SPKI_MAX_LEN];
	char hex[65], id[65], pem_path[1100], cmd[1300];
	size_t len = 0, dlen = 0;
	struct run r;
	json_t *l;
	char *body, *p, *q;

	run_free((struct run[]){ RUN(0, "generate") });
	l = list_at("now");
	snprintf(id, sizeof(id), "%s", field_s(l, 0, "id"));
	json_decref(l);

	r = RUN(0, "export", id);
	exported_id(r.out, hex, spki, &len);
	cr_assert_str_eq(hex, id, "the exported key's SHA-256 is its id");
	run_free(&r);

	r = RUN(0, "export", id, "--format", "pem");
	cr_assert(strncmp(r.out, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
	/* the PEM body is the same DER in standard base64 */
	body = strdup(r.out + 27);
	cr_assert_not_null(body);
	p = strstr(body, "-----END PUBLIC KEY-----");
	cr_assert_not_null(p);
	*p = '\0';
	for (p = q = body; *p; p++) {
		if (*p != '\n')
			*q++ = *p;
	}
	*q = '\0';
	cr_assert_eq(sodium_base642bin(der, sizeof(der), body, strlen(body),
				       NULL, &dlen, NULL,
				       sodium_base64_VARIANT_ORIGINAL), 0);
	cr_assert_eq(dlen, len);
	cr_assert_arr_eq(der, spki, len);
	free(body);
	/* and OpenSSL reads it as a public key */
	snprintf(pem_path, sizeof(pem_path), "%s/pub.pem", tmp);
	tu_keys_write(pem_path, r.out, strlen(r.out));
	snprintf(cmd, sizeof(cmd), "openssl pkey -pubin -in %s -noout "
		 ">/dev/null 2>&1", pem_path);
	cr_assert_eq(system(cmd), 0, "openssl rejects the PEM export");
	run_free(&r);

	r = RUN(2, "export", id, "--format", "jwk");
	run_free(&r);
}

Test(cli_keys, import_an_openssl_key, .init = setup, .fini = teardown)
{
	char pem[1100], pkcs1[1100], cmd[4000], hex[65];
	uint8_t spki[SPKI_MAX_LEN];
	size_t len = 0;
	struct run r;
	json_t *l;

	snprintf(pem, sizeof(pem), "%s/k.pem", tmp);
	snprintf(pkcs1, sizeof(pkcs1), "%s/k1.pem", tmp);
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm RSA -pkeyopt "
		 "rsa_keygen_bits:2048 -out %s 2>/dev/null && openssl pkey "
		 "-in %s -traditional -out %s 2>/dev/null", pem, pem, pkcs1);
	cr_assert_eq(system(cmd), 0, "openssl could not make a key");

	r = RUN(0, "import", pkcs1);
	cr_assert(strstr(r.out, "imported key") != NULL, "%s", r.out);
	run_free(&r);
	l = list_at("now");
	cr_assert_eq(json_array_size(l), 1);
	cr_assert_str_eq(field_s(l, 0, "state"), "active");
	r = RUN(0, "export", field_s(l, 0, "id"));
	exported_id(r.out, hex, spki, &len);
	cr_assert_str_eq(hex, field_s(l, 0, "id"));
	run_free(&r);
	/* the same key in PKCS#8 is the same key */
	r = RUN(1, "import", pem, "--not-before", "+2d");
	cr_assert(strstr(r.err, "already in the store") != NULL, "%s", r.err);
	run_free(&r);
	json_decref(l);

	r = RUN(1, "import", "/nonexistent.pem");
	cr_assert(strstr(r.err, "cannot open") != NULL, "%s", r.err);
	run_free(&r);
	tu_keys_write(pem, "not a key\n", 10);
	r = RUN(1, "import", pem);
	cr_assert(strstr(r.err, "not an unencrypted RSA private key") != NULL,
		  "%s", r.err);
	run_free(&r);
}

Test(cli_keys, sealed_store_and_wrong_secret, .init = setup,
     .fini = teardown)
{
	static const char k1[] =
		"0101010101010101010101010101010101010101010101010101010101010101";
	static const char k2[] =
		"0202020202020202020202020202020202020202020202020202020202020202";
	char file[1100];
	struct run r;
	json_t *l;

	setenv("PPISSUER_KEY_SECRET", k1, 1);
	run_free((struct run[]){ RUN(0, "generate") });
	l = list_at("now");
	cr_assert_eq(json_array_size(l), 1);
	json_decref(l);

	setenv("PPISSUER_KEY_SECRET", k2, 1);
	r = RUN(1, "list");
	cr_assert(strstr(r.err, "wrong key-encryption secret") != NULL, "%s",
		  r.err);
	run_free(&r);
	unsetenv("PPISSUER_KEY_SECRET");
	r = RUN(1, "rotate");
	cr_assert(strstr(r.err, "sealed") != NULL, "%s", r.err);
	cr_assert(strstr(r.err, "PPISSUER_KEY_SECRET") != NULL, "%s", r.err);
	run_free(&r);

	/* the same secret from a file, which must be private */
	snprintf(file, sizeof(file), "%s/secret", tmp);
	tu_keys_write(file, k1, strlen(k1));
	cr_assert_eq(chmod(file, 0644), 0);
	r = RUN(1, "rotate", "--key-secret-file", file);
	cr_assert(strstr(r.err, "run chmod 600") != NULL, "%s", r.err);
	run_free(&r);
	cr_assert_eq(chmod(file, 0600), 0);
	r = RUN(0, "rotate", "--key-secret-file", file);
	cr_assert(strstr(r.out, "rotated") != NULL, "%s", r.out);
	run_free(&r);
}

Test(cli_keys, seal_an_existing_store, .init = setup, .fini = teardown)
{
	static const char k1[] =
		"0303030303030303030303030303030303030303030303030303030303030303";
	struct run r;

	run_free((struct run[]){ RUN(0, "generate") });
	setenv("PPISSUER_KEY_SECRET", k1, 1);
	r = RUN(1, "list");
	cr_assert(strstr(r.err, "ppissuer keys seal") != NULL, "%s", r.err);
	run_free(&r);
	r = RUN(0, "seal");
	cr_assert(strstr(r.out, "1 key newly sealed") != NULL, "%s", r.out);
	run_free(&r);
	run_free((struct run[]){ RUN(0, "rotate") });
	unsetenv("PPISSUER_KEY_SECRET");
	r = RUN(1, "seal");
	run_free(&r);
}

Test(cli_keys, unsafe_key_file_mode_is_flagged, .init = setup,
     .fini = teardown)
{
	char name[80], path[1200], want[1400];
	struct run r;
	json_t *l;

	run_free((struct run[]){ RUN(0, "generate") });
	l = list_at("now");
	snprintf(name, sizeof(name), "%s.key", field_s(l, 0, "id"));
	json_decref(l);
	tu_keys_path(data, name, path, sizeof(path));
	cr_assert_eq(chmod(path, 0644), 0);
	r = RUN(0, "list");
	snprintf(want, sizeof(want), "is mode 0644; run chmod 600 %s", path);
	cr_assert(strstr(r.err, want) != NULL, "%s", r.err);
	run_free(&r);
	/* and a keys directory others can enter is refused outright */
	tu_keys_path(data, "", path, sizeof(path));
	cr_assert_eq(chmod(path, 0755), 0);
	r = RUN(1, "list");
	cr_assert(strstr(r.err, "run chmod 700") != NULL, "%s", r.err);
	run_free(&r);
}

/* keys list names each key's token type and where its private half is. */
Test(cli_keys, list_shows_type_and_where, .init = setup, .fini = teardown)
{
	struct run r;
	char *row2, *row5;

	run_free((struct run[]){ RUN(0, "generate") });
	run_free((struct run[]){ RUN(0, "generate", "--type", "5") });
	r = RUN(0, "list");
	cr_assert(strstr(r.out, "  TYPE  ") && strstr(r.out, "  IN  "), "%s", r.out);
	row2 = strstr(r.out, "  0x0002  ");
	row5 = strstr(r.out, "  0x0005  ");
	cr_assert(row2 && row5, "%s", r.out);
	cr_assert(!strncmp(strstr(row2, "yes  ") + 5, "file  ", 6), "%s", r.out);
	cr_assert(!strncmp(strstr(row5, "yes  ") + 5, "file  ", 6), "%s", r.out);
	run_free(&r);
	{
		json_t *l = list_at("now");
		size_t i;

		cr_assert_eq(json_array_size(l), 2);
		for (i = 0; i < 2; i++)
			cr_assert_null(json_object_get(json_array_get(l, i), "pkcs11"));
		json_decref(l);
	}
}
