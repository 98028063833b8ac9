/* Key store files: layout and modes, listing, loading, generation with
 * truncated-id collision avoidance, import, atomic writes, corrupt
 * entries, fingerprint. */
#include "crypto/rsakey.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "keys/store.h"
#include "keys/store_int.h"
#include "tu.h"
#include "tu_keys.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/evp.h>

TestSuite(store, .fini = tu_leak_check);

#define NOW 1700000000
#define T2 TOK_TYPE_BLIND_RSA

static char *dir;
static struct ks_store *st;
static char err[512];

static void setup(void)
{
	dir = tu_keys_tmpdir();
	st = tu_keys_open(dir, NULL);
	err[0] = '\0';
}

static void teardown(void)
{
	ks_store_close(st);
	tu_keys_rmrf(dir);
}

static struct ks_meta gen(int64_t nb)
{
	struct ks_meta m;
	int rc = ks_store_generate(st, T2, NOW, nb, &m, err, sizeof(err));

	cr_assert_eq(rc, 0, "generate: %d %s", rc, err);
	return m;
}

static mode_t mode_of(const char *name)
{
	char path[1024];
	struct stat sb;

	tu_keys_path(dir, name, path, sizeof(path));
	cr_assert_eq(stat(path, &sb), 0, "stat %s", path);
	return sb.st_mode & 07777;
}

static size_t count_prefix(const char *prefix)
{
	char path[1024];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/keys", dir);
	d = opendir(path);
	cr_assert(d != NULL);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

Test(store, open_creates_a_private_directory, .init = setup, .fini = teardown)
{
	cr_assert_eq(mode_of(""), 0700);
	cr_assert_eq(mode_of("store.json"), 0600);
	cr_assert(!ks_store_is_sealed(st));
}

Test(store, open_refuses_a_directory_others_can_read, .init = setup,
     .fini = teardown)
{
	struct ks_store *st2 = (struct ks_store *)1;
	char path[1024];

	tu_keys_path(dir, "", path, sizeof(path));
	cr_assert_eq(chmod(path, 0750), 0);
	cr_assert_eq(ks_store_open(dir, NULL, &st2, err, sizeof(err)),
		     PP_ERR_PERM);
	cr_assert_null(st2);
	cr_assert(strstr(err, "is mode 0750; run chmod 700") != NULL, "%s", err);
}

/* The private key of m, parsed. */
static int load_pkey(const struct ks_meta *m, EVP_PKEY **out)
{
	struct tt_secret *priv = NULL;
	int rc = ks_store_key_load(st, m, &priv, err, sizeof(err));

	*out = NULL;
	if (rc == 0)
		rc = rsakey_parse(priv->p, priv->len, out);
	tt_secret_free(priv);
	return rc;
}

Test(store, generated_key_lists_and_loads, .init = setup, .fini = teardown)
{
	struct ks_meta m = gen(NOW), *list = NULL;
	uint8_t spki[SPKI_MAX_LEN], id[32];
	size_t n = 0, len = 0;
	char name[80];
	EVP_PKEY *pk = NULL;

	cr_assert_eq(m.state, KS_ACTIVE);
	cr_assert_eq(m.created, NOW);
	spki_key_id(m.pub, m.pub_len, id);
	cr_assert_arr_eq(id, m.key_id, 32);
	cr_assert_eq(m.truncated_id, m.key_id[31]);
	snprintf(name, sizeof(name), "%s.key", m.id_hex);
	cr_assert_eq(mode_of(name), 0600);
	snprintf(name, sizeof(name), "%s.json", m.id_hex);
	cr_assert_eq(mode_of(name), 0600);

	cr_assert_eq(ks_store_list(st, &list, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(list[0].id_hex, m.id_hex);
	cr_assert_eq(list[0].not_before, NOW);
	cr_assert_eq(list[0].pub_len, m.pub_len);
	free(list);

	cr_assert_eq(load_pkey(&m, &pk), 0, "%s", err);
	cr_assert(EVP_PKEY_is_a(pk, "RSA"));
	cr_assert_eq(EVP_PKEY_get_bits(pk), 2048);
	cr_assert_eq(spki_encode(pk, spki, sizeof(spki), &len), 0);
	cr_assert_eq(len, m.pub_len);
	cr_assert_arr_eq(spki, m.pub, len);
	EVP_PKEY_free(pk);
}

Test(store, future_not_before_is_stored_pending, .init = setup,
     .fini = teardown)
{
	struct ks_meta m = gen(NOW + 3600);

	cr_assert_eq(m.state, KS_PENDING);
	cr_assert_eq(m.not_before, NOW + 3600);
}

Test(store, load_refuses_a_key_file_others_can_read, .init = setup,
     .fini = teardown)
{
	struct ks_meta m = gen(NOW);
	struct tt_secret *pk = (struct tt_secret *)1;
	char path[1024], name[80], want[1200];

	snprintf(name, sizeof(name), "%s.key", m.id_hex);
	tu_keys_path(dir, name, path, sizeof(path));
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(ks_store_key_load(st, &m, &pk, err, sizeof(err)),
		     PP_ERR_PERM);
	cr_assert_null(pk);
	snprintf(want, sizeof(want), "is mode 0644; run chmod 600 %s", path);
	cr_assert(strstr(err, want) != NULL, "%s", err);
	cr_assert_eq(chmod(path, 0600), 0);
	cr_assert_eq(ks_store_key_load(st, &m, &pk, err, sizeof(err)), 0);
	tt_secret_free(pk);
}

/* keygen hook: hands out the keys in ctx in turn, then fresh ones */
struct keyq {
	EVP_PKEY *keys[4];
	size_t n, next, calls;
};

static int keyq_next(void *ctx, uint16_t type, struct tt_secret **out)
{
	struct keyq *q = ctx;

	cr_assert_eq(type, T2);
	q->calls++;
	if (q->next < q->n)
		return rsakey_to_der(q->keys[q->next++], out);
	return rsakey_generate(out);
}

static void import_pkey(EVP_PKEY *pk, int64_t nb, struct ks_meta *m)
{
	struct tt_secret *der = NULL;
	int rc;

	cr_assert_eq(rsakey_to_der(pk, &der), 0);
	rc = ks_store_import(st, der->p, der->len, T2, NOW, nb, m, err,
			     sizeof(err));
	tt_secret_free(der);
	cr_assert_eq(rc, 0, "import: %d %s", rc, err);
}

Test(store, generation_retries_a_taken_truncated_id, .init = setup,
     .fini = teardown)
{
	struct keyq q = { .n = 2 };
	struct ks_meta a, m;
	int rc;

	EVP_PKEY *ka = tu_keys_pem("keys/tid37-a.pem");

	q.keys[0] = tu_keys_pem("keys/tid37-b.pem");
	q.keys[1] = tu_keys_pem("keys/tid37-b.pem");
	import_pkey(ka, NOW, &a);
	EVP_PKEY_free(ka);
	cr_assert_eq(a.truncated_id, 0x37);
	ks_store_set_keygen(st, keyq_next, &q);
	rc = ks_store_generate(st, T2, NOW, NOW + 10, &m, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	/* both colliding draws were refused; the random third one may itself
	 * collide (1 in 256), hence at least 3 */
	cr_assert_geq(q.calls, 3, "both colliding draws were refused");
	cr_assert_neq(m.truncated_id, 0x37);
	EVP_PKEY_free(q.keys[0]);
	EVP_PKEY_free(q.keys[1]);
}

/* keygen hook that always returns the same key */
static int same_key(void *ctx, uint16_t type, struct tt_secret **out)
{
	(void)type;
	return rsakey_to_der(ctx, out);
}

Test(store, exhausted_truncated_ids_give_a_clear_error, .init = setup,
     .fini = teardown)
{
	EVP_PKEY *a = tu_keys_pem("keys/tid37-a.pem");
	struct ks_meta m;

	import_pkey(a, NOW, &m);
	ks_store_set_keygen(st, same_key, a);
	cr_assert_eq(ks_store_generate(st, T2, NOW, NOW, &m, err, sizeof(err)),
		     PP_ERR_EXISTS);
	cr_assert(strstr(err, "prune") != NULL, "%s", err);
	EVP_PKEY_free(a);
}

Test(store, retired_keys_free_their_truncated_id, .init = setup,
     .fini = teardown)
{
	EVP_PKEY *b = tu_keys_pem("keys/tid37-b.pem");
	EVP_PKEY *ka = tu_keys_pem("keys/tid37-a.pem");
	struct ks_meta a, m;
	struct keyq q = { .n = 1 };

	import_pkey(ka, NOW, &a);
	EVP_PKEY_free(ka);
	/* a live key blocks an import that shares its truncated id */
	{
		struct tt_secret *der = NULL;

		cr_assert_eq(rsakey_to_der(b, &der), 0);
		cr_assert_eq(ks_store_import(st, der->p, der->len, T2, NOW, NOW,
					     &m, err, sizeof(err)),
			     PP_ERR_EXISTS);
		tt_secret_free(der);
		cr_assert(strstr(err, "0x37") != NULL, "%s", err);
	}
	a.state = KS_RETIRED;
	a.retire_after = NOW;
	cr_assert_eq(ks_store_update(st, &a, err, sizeof(err)), 0);
	q.keys[0] = b;
	ks_store_set_keygen(st, keyq_next, &q);
	cr_assert_eq(ks_store_generate(st, T2, NOW, NOW, &m, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(q.calls, 1);
	cr_assert_eq(m.truncated_id, 0x37);
	EVP_PKEY_free(b);
}

static void die_before_rename(const char *tmp)
{
	(void)tmp;
	_exit(0);
}

Test(store, interrupted_write_leaves_the_old_state, .init = setup,
     .fini = teardown)
{
	struct ks_meta m = gen(NOW), got;
	char fp_before[65], fp_after[65];
	struct ks_meta *list = NULL;
	size_t n = 0;
	pid_t pid;
	int status;

	cr_assert_eq(ks_store_fingerprint(st, fp_before), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* a crash after the new contents are written and synced but
		 * before the rename that would publish them */
		struct ks_meta x = m;

		ks_file_before_rename = die_before_rename;
		x.state = KS_RETIRED;
		ks_store_update(st, &x, NULL, 0);
		_exit(3);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the child did not stop at the rename");
	cr_assert_eq(count_prefix(KS_TMP_PREFIX), 1, "the temp file is left");
	/* readers see the old state and ignore the leftover */
	cr_assert_eq(ks_store_find(st, m.id_hex, &got, err, sizeof(err)), 0);
	cr_assert_eq(got.state, KS_ACTIVE);
	cr_assert_eq(ks_store_fingerprint(st, fp_after), 0);
	cr_assert_str_eq(fp_before, fp_after);
	/* the next open cleans it up */
	ks_store_close(st);
	st = tu_keys_open(dir, NULL);
	cr_assert_eq(count_prefix(KS_TMP_PREFIX), 0);
	cr_assert_eq(ks_store_list(st, &list, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(list[0].state, KS_ACTIVE);
	free(list);
}

Test(store, temp_files_stay_while_a_writer_holds_the_lock, .init = setup,
     .fini = teardown)
{
	struct ks_store *other;
	char path[1024];

	tu_keys_path(dir, KS_TMP_PREFIX "x.json.1.2", path, sizeof(path));
	tu_keys_write(path, "{", 1);
	cr_assert_eq(ks_store_lock(st, err, sizeof(err)), 0);
	other = tu_keys_open(dir, NULL);
	cr_assert_eq(count_prefix(KS_TMP_PREFIX), 1,
		     "a temp file of a live writer must not be removed");
	ks_store_unlock(st);
	ks_store_close(other);
	other = tu_keys_open(dir, NULL);
	cr_assert_eq(count_prefix(KS_TMP_PREFIX), 0);
	ks_store_close(other);
}

static void collect(void *ctx, const char *msg)
{
	char *buf = ctx;

	if (buf[0] == '\0')
		snprintf(buf, 512, "%s", msg);
}

Test(store, corrupt_entries_are_skipped_and_reported, .init = setup,
     .fini = teardown)
{
	static const char *const bad[] = {
		"not json",
		"{\"format\":1}",
		"{\"format\":2,\"token-type\":2}",
	};
	struct ks_meta good = gen(NOW), *list = NULL;
	char path[1024], name[128], reported[512];
	size_t i, n = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reported[0] = '\0';
		ks_store_set_reporter(st, collect, reported);
		snprintf(name, sizeof(name), "%064zx.json", i + 1);
		tu_keys_path(dir, name, path, sizeof(path));
		tu_keys_write(path, bad[i], strlen(bad[i]));
		cr_assert_eq(ks_store_list(st, &list, &n, err, sizeof(err)), 0);
		cr_assert_eq(n, 1, "the good key is still listed");
		cr_assert_str_eq(list[0].id_hex, good.id_hex);
		free(list);
		cr_assert(strstr(reported, "skipping key 000000000000000") !=
			  NULL, "reported: %s", reported);
		cr_assert(err[0] != '\0');
		remove(path);
	}
	/* metadata whose public key does not match its id */
	snprintf(name, sizeof(name), "%s.json", good.id_hex);
	tu_keys_path(dir, name, path, sizeof(path));
	{
		size_t len;
		char *text = tu_read_file(path, &len), *p;

		p = strstr(text, "\"public-key\": \"") + 20;
		*p = *p == 'A' ? 'B' : 'A';
		tu_keys_write(path, text, len);
		free(text);
	}
	reported[0] = '\0';
	cr_assert_eq(ks_store_list(st, &list, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 0);
	cr_assert(strstr(reported, "public key") != NULL, "%s", reported);
}

Test(store, find_by_prefix, .init = setup, .fini = teardown)
{
	struct ks_meta a = gen(NOW), b = gen(NOW + 10), got;
	char pfx[65], absent[65];
	size_t k = 0, i;

	cr_assert_eq(ks_store_find(st, a.id_hex, &got, err, sizeof(err)), 0);
	cr_assert_str_eq(got.id_hex, a.id_hex);
	/* the shortest prefix (at least 4) that tells a from b, upper case */
	while (a.id_hex[k] == b.id_hex[k])
		k++;
	k = k + 1 < 4 ? 4 : k + 1;
	for (i = 0; i < k; i++)
		pfx[i] = (char)(a.id_hex[i] >= 'a' ? a.id_hex[i] - 32
						   : a.id_hex[i]);
	pfx[k] = '\0';
	cr_assert_eq(ks_store_find(st, pfx, &got, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_str_eq(got.id_hex, a.id_hex);
	/* a prefix of neither */
	memcpy(absent, a.id_hex, 65);
	for (i = 0; i < 4; i++)
		absent[i] = a.id_hex[i] == b.id_hex[i] && a.id_hex[i] != 'f'
			    ? 'f' : (a.id_hex[i] == '0' || b.id_hex[i] == '0'
				     ? (a.id_hex[i] == '1' || b.id_hex[i] == '1'
					? '2' : '1') : '0');
	absent[4] = '\0';
	cr_assert_eq(ks_store_find(st, absent, &got, err, sizeof(err)),
		     PP_ERR_NOT_FOUND, "%s", absent);
	cr_assert(strstr(err, "keys list") != NULL, "%s", err);
	cr_assert_eq(ks_store_find(st, "abc", &got, err, sizeof(err)),
		     PP_ERR_ARG);
	cr_assert_eq(ks_store_find(st, "xyz0", &got, err, sizeof(err)),
		     PP_ERR_ARG);
}

Test(store, delete_removes_both_files, .init = setup, .fini = teardown)
{
	struct ks_meta m = gen(NOW);
	struct ks_meta *list = NULL;
	size_t n = 0;

	cr_assert_eq(ks_store_delete(st, m.id_hex, err, sizeof(err)), 0);
	cr_assert_eq(count_prefix(m.id_hex), 0);
	cr_assert_eq(ks_store_list(st, &list, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(ks_store_delete(st, m.id_hex, err, sizeof(err)),
		     PP_ERR_NOT_FOUND);
}

Test(store, fingerprint_changes_with_the_keys, .init = setup,
     .fini = teardown)
{
	char f0[65], f1[65], f2[65], f3[65], f4[65];
	struct ks_meta m;

	cr_assert_eq(ks_store_fingerprint(st, f0), 0);
	m = gen(NOW);
	cr_assert_eq(ks_store_fingerprint(st, f1), 0);
	cr_assert_eq(ks_store_fingerprint(st, f2), 0);
	cr_assert_str_neq(f0, f1);
	cr_assert_str_eq(f1, f2, "no change, same fingerprint");
	m.retire_after = NOW + 5;
	cr_assert_eq(ks_store_update(st, &m, err, sizeof(err)), 0);
	cr_assert_eq(ks_store_fingerprint(st, f3), 0);
	cr_assert_str_neq(f2, f3);
	cr_assert_eq(ks_store_delete(st, m.id_hex, err, sizeof(err)), 0);
	cr_assert_eq(ks_store_fingerprint(st, f4), 0);
	cr_assert_str_eq(f0, f4);
	cr_assert_eq(strlen(f4), 64);
}
