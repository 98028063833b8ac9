/* Encryption at rest: key-encryption secrets from bytes, text, files, the
 * environment and passphrases; sealed round trip, wrong secret, tampering,
 * and sealing an existing store. */
#include "crypto/token.h"
#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "keys/store.h"
#include "keys/store_int.h"
#include "tu.h"
#include "tu_keys.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>

TestSuite(seal, .fini = tu_leak_check);

#define NOW 1700000000
#define T2 TOK_TYPE_BLIND_RSA

static char *dir;
static char err[512];
static struct ks_secret *sec, *other;

static void setup(void)
{
	uint8_t k1[32], k2[32];

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	dir = tu_keys_tmpdir();
	cr_assert_eq(ks_secret_from_bytes(k1, &sec), 0);
	cr_assert_eq(ks_secret_from_bytes(k2, &other), 0);
	err[0] = '\0';
}

static void teardown(void)
{
	ks_secret_free(sec);
	ks_secret_free(other);
	tu_keys_rmrf(dir);
}

static struct ks_meta gen_in(struct ks_store *st)
{
	struct ks_meta m;
	int rc = ks_store_generate(st, T2, NOW, NOW, &m, err, sizeof(err));

	cr_assert_eq(rc, 0, "generate: %s", err);
	return m;
}

static char *key_path(const struct ks_meta *m)
{
	char name[80], *path = malloc(1024);

	cr_assert(path != NULL);
	snprintf(name, sizeof(name), "%s.key", m->id_hex);
	tu_keys_path(dir, name, path, 1024);
	return path;
}

static int load_rc(struct ks_store *st, const struct ks_meta *m)
{
	struct tt_secret *pk = NULL;
	int rc = ks_store_key_load(st, m, &pk, err, sizeof(err));

	cr_assert((rc == 0) == (pk != NULL));
	tt_secret_free(pk);
	return rc;
}

Test(seal, sealed_keys_round_trip, .init = setup, .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, sec);
	struct ks_meta m = gen_in(st);
	char *path = key_path(&m), *text;
	size_t len;

	cr_assert(ks_store_is_sealed(st));
	text = tu_read_file(path, &len);
	cr_assert_eq(memcmp(text, KS_SEAL_MAGIC, KS_SEAL_MAGIC_LEN), 0);
	free(text);
	ks_store_close(st);
	st = tu_keys_open(dir, sec);
	cr_assert_eq(load_rc(st, &m), 0, "%s", err);
	ks_store_close(st);
	free(path);
}

Test(seal, wrong_secret_is_refused_and_nothing_is_written, .init = setup,
     .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, sec), *st2 = (void *)1;
	struct ks_meta m = gen_in(st);
	char before[65], after[65], spath[1024];
	char *conf_before, *conf_after;

	cr_assert_eq(ks_store_fingerprint(st, before), 0);
	tu_keys_path(dir, "store.json", spath, sizeof(spath));
	conf_before = tu_read_file(spath, NULL);
	cr_assert_eq(ks_store_open(dir, other, &st2, err, sizeof(err)),
		     PP_ERR_DECRYPT);
	cr_assert_null(st2);
	cr_assert(strstr(err, "wrong key-encryption secret") != NULL, "%s", err);
	cr_assert(strstr(err, "nothing was changed") != NULL, "%s", err);
	conf_after = tu_read_file(spath, NULL);
	cr_assert_str_eq(conf_before, conf_after);
	cr_assert_eq(ks_store_fingerprint(st, after), 0);
	cr_assert_str_eq(before, after);
	cr_assert_eq(load_rc(st, &m), 0);
	free(conf_before);
	free(conf_after);
	ks_store_close(st);
}

Test(seal, sealed_store_without_secret_lists_but_cannot_sign,
     .init = setup, .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, sec);
	struct ks_meta m = gen_in(st), *list = NULL, m2;
	size_t n = 0;

	ks_store_close(st);
	st = tu_keys_open(dir, NULL);
	cr_assert(ks_store_is_sealed(st));
	cr_assert_eq(ks_store_list(st, &list, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 1);
	free(list);
	cr_assert_eq(load_rc(st, &m), PP_ERR_CONFIG);
	cr_assert(strstr(err, "PPISSUER_KEY_SECRET") != NULL, "%s", err);
	cr_assert_eq(ks_store_generate(st, T2, NOW, NOW, &m2, err, sizeof(err)),
		     PP_ERR_CONFIG);
	ks_store_close(st);
}

Test(seal, tampered_or_swapped_files_do_not_open, .init = setup,
     .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, sec);
	struct ks_meta a = gen_in(st), b;
	char *pa = key_path(&a), *pb, *text;
	size_t len;

	b = a;
	cr_assert_eq(ks_store_generate(st, T2, NOW, NOW + 100, &b, err,
				       sizeof(err)), 0);
	pb = key_path(&b);
	/* a's sealed file under b's name: the key id is bound in */
	text = tu_read_file(pa, &len);
	tu_keys_write(pb, text, len);
	cr_assert_eq(load_rc(st, &b), PP_ERR_DECRYPT);
	cr_assert(strstr(err, "altered") != NULL, "%s", err);
	/* one flipped bit in a's ciphertext */
	text[len - 20] ^= 1;
	tu_keys_write(pa, text, len);
	cr_assert_eq(load_rc(st, &a), PP_ERR_DECRYPT);
	/* truncated */
	tu_keys_write(pa, text, KS_SEAL_MAGIC_LEN + 4);
	cr_assert_neq(load_rc(st, &a), 0);
	free(text);
	free(pa);
	free(pb);
	ks_store_close(st);
}

Test(seal, plain_key_in_sealed_store_is_refused_until_sealed,
     .init = setup, .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, sec);
	struct ks_meta m = gen_in(st);
	char *path = key_path(&m);
	struct tt_secret *der = NULL;
	size_t n = 0;

	/* the plain private form, as an unsealed store would hold it */
	cr_assert_eq(ks_store_key_load(st, &m, &der, err, sizeof(err)), 0);
	tu_keys_write(path, der->p, der->len);
	tt_secret_free(der);
	cr_assert_eq(load_rc(st, &m), PP_ERR_CORRUPT);
	cr_assert(strstr(err, "ppissuer keys seal") != NULL, "%s", err);
	ks_store_close(st);
	/* an interrupted seal is finished by running it again */
	cr_assert_eq(ks_store_seal(dir, sec, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 1);
	st = tu_keys_open(dir, sec);
	cr_assert_eq(load_rc(st, &m), 0, "%s", err);
	ks_store_close(st);
	free(path);
}

Test(seal, existing_plain_store_is_sealed_on_request, .init = setup,
     .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, NULL), *st2 = (void *)1;
	struct ks_meta a = gen_in(st), b;
	size_t n = 0;

	cr_assert_eq(ks_store_generate(st, T2, NOW, NOW + 100, &b, err,
				       sizeof(err)), 0);
	ks_store_close(st);
	cr_assert_eq(ks_store_open(dir, sec, &st2, err, sizeof(err)),
		     PP_ERR_CONFIG);
	cr_assert_null(st2);
	cr_assert(strstr(err, "ppissuer keys seal") != NULL, "%s", err);
	cr_assert_eq(ks_store_seal(dir, sec, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 2);
	st = tu_keys_open(dir, sec);
	cr_assert(ks_store_is_sealed(st));
	cr_assert_eq(load_rc(st, &a), 0, "%s", err);
	cr_assert_eq(load_rc(st, &b), 0, "%s", err);
	ks_store_close(st);
	/* sealing again with the wrong secret is refused */
	cr_assert_eq(ks_store_seal(dir, other, &n, err, sizeof(err)),
		     PP_ERR_DECRYPT);
	st = tu_keys_open(dir, NULL);
	cr_assert_eq(load_rc(st, &a), PP_ERR_CONFIG);
	ks_store_close(st);
}

Test(seal, empty_plain_store_becomes_sealed, .init = setup, .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, NULL);

	cr_assert(!ks_store_is_sealed(st));
	ks_store_close(st);
	st = tu_keys_open(dir, sec);
	cr_assert(ks_store_is_sealed(st));
	ks_store_close(st);
}

Test(seal, passphrase_store, .init = setup, .fini = teardown)
{
	struct ks_secret *pw = NULL, *bad = NULL;
	struct ks_store *st, *st2 = (void *)1;
	struct ks_meta m;
	char spath[1024], *conf;

	cr_assert_eq(ks_secret_from_passphrase("correct horse", &pw, err,
					       sizeof(err)), 0);
	cr_assert_eq(ks_secret_from_passphrase("wrong horse", &bad, err,
					       sizeof(err)), 0);
	st = tu_keys_open(dir, pw);
	m = gen_in(st);
	ks_store_close(st);
	tu_keys_path(dir, "store.json", spath, sizeof(spath));
	conf = tu_read_file(spath, NULL);
	cr_assert(strstr(conf, "argon2id") != NULL);
	cr_assert(strstr(conf, "correct") == NULL);
	free(conf);
	cr_assert_eq(ks_store_open(dir, bad, &st2, err, sizeof(err)),
		     PP_ERR_DECRYPT);
	cr_assert_eq(ks_store_open(dir, sec, &st2, err, sizeof(err)),
		     PP_ERR_DECRYPT);
	cr_assert(strstr(err, "PPISSUER_KEY_PASSPHRASE") != NULL, "%s", err);
	st = tu_keys_open(dir, pw);
	cr_assert_eq(load_rc(st, &m), 0, "%s", err);
	ks_store_close(st);
	ks_secret_free(pw);
	ks_secret_free(bad);
	cr_assert_eq(ks_secret_from_passphrase("", &bad, err, sizeof(err)),
		     PP_ERR_CONFIG);
	cr_assert_null(bad);
}

Test(seal, secret_text_forms)
{
	static const struct { const char *text; int ok; } rows[] = {
		{ "1111111111111111111111111111111111111111111111111111111111111111", 1 },
		{ "1111111111111111111111111111111111111111111111111111111111111111\n", 1 },
		{ "EREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREQ==", 0 },
		{ "ERERERERERERERERERERERERERERERERERERERERERE=", 1 },
		{ "ERERERERERERERERERERERERERERERERERERERERERE", 1 },
		{ "11111111111111111111111111111111111111111111111111111111111111", 0 },
		{ "not a secret", 0 },
		{ "", 0 },
	};
	uint8_t k1[32];
	size_t i;

	memset(k1, 0x11, sizeof(k1));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ks_secret *s = NULL;
		int rc = ks_secret_from_text(rows[i].text, &s, err, sizeof(err));

		cr_assert_eq(rc == 0, rows[i].ok, "row %zu: %d %s", i, rc, err);
		cr_assert_eq(s != NULL, rows[i].ok);
		if (!rows[i].ok)
			cr_assert(strstr(err, "openssl rand -hex 32") != NULL);
		ks_secret_free(s);
	}
}

/* Every form of the same 32 bytes opens the same sealed store. */
Test(seal, text_file_and_env_forms_are_the_same_key, .init = setup,
     .fini = teardown)
{
	struct ks_store *st = tu_keys_open(dir, sec);
	struct ks_secret *s = NULL;
	uint8_t raw[32];
	char path[1024];

	ks_store_close(st);
	memset(raw, 0x11, sizeof(raw));
	snprintf(path, sizeof(path), "%s/secret", dir);
	tu_keys_write(path, raw, sizeof(raw));
	cr_assert_eq(ks_secret_from_file(path, &s, err, sizeof(err)), 0, "%s", err);
	st = tu_keys_open(dir, s);
	ks_store_close(st);
	ks_secret_free(s);
	tu_keys_write(path, "ERERERERERERERERERERERERERERERERERERERERERE=\n", 45);
	cr_assert_eq(ks_secret_from_file(path, &s, err, sizeof(err)), 0, "%s", err);
	st = tu_keys_open(dir, s);
	ks_store_close(st);
	ks_secret_free(s);
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(ks_secret_from_file(path, &s, err, sizeof(err)),
		     PP_ERR_PERM);
	cr_assert(strstr(err, "run chmod 600") != NULL, "%s", err);
	cr_assert_eq(ks_secret_from_file("/nonexistent/secret", &s, err,
					 sizeof(err)), PP_ERR_CONFIG);

	setenv("PPISSUER_KEY_SECRET",
	       "1111111111111111111111111111111111111111111111111111111111111111",
	       1);
	unsetenv("PPISSUER_KEY_PASSPHRASE");
	cr_assert_eq(ks_secret_from_env(&s, err, sizeof(err)), 0);
	cr_assert_not_null(s);
	st = tu_keys_open(dir, s);
	ks_store_close(st);
	ks_secret_free(s);
	setenv("PPISSUER_KEY_PASSPHRASE", "x", 1);
	cr_assert_eq(ks_secret_from_env(&s, err, sizeof(err)), PP_ERR_CONFIG);
	cr_assert_null(s);
	unsetenv("PPISSUER_KEY_SECRET");
	unsetenv("PPISSUER_KEY_PASSPHRASE");
	cr_assert_eq(ks_secret_from_env(&s, err, sizeof(err)), 0);
	cr_assert_null(s, "no secret configured");
	setenv("PPISSUER_KEY_SECRET", "short", 1);
	cr_assert_eq(ks_secret_from_env(&s, err, sizeof(err)), PP_ERR_CONFIG);
	cr_assert(strstr(err, "PPISSUER_KEY_SECRET") != NULL, "%s", err);
	unsetenv("PPISSUER_KEY_SECRET");
}
