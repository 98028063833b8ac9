/* Opening a key store: the directory and its permissions, store.json (is the
 * store sealed, and does the given secret open it), writer locking, and
 * cleanup of temp files left by interrupted writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/b64.h"
#include "base/pp_err.h"
#include "keys/store_int.h"

#define STORE_FORMAT 1
#define CHECK_AD "store-check"
#define CHECK_TEXT "ppissuer key store"
/* Argon2id cost for passphrases: every CLI call and server start pays it
 * once; 64 MiB and 3 passes take well under a second. Recorded in
 * store.json, so it can be raised for new stores without breaking old ones. */
#define PWHASH_OPS 3ULL
#define PWHASH_MEM (64UL << 20)

struct store_conf {
	int exists;
	int sealed;
	int passphrase;
	uint8_t salt[KS_SALT_LEN];
	unsigned long long ops;
	size_t mem;
	uint8_t check[128];
	size_t check_len;
};

static const char *const secret_hint =
	"--key-secret-file, PPISSUER_KEY_SECRET or PPISSUER_KEY_PASSPHRASE";

const char *ks_store_dir(const struct ks_store *st)
{
	return st->dir;
}

int ks_store_is_sealed(const struct ks_store *st)
{
	return st->sealed;
}

void ks_store_set_reporter(struct ks_store *st,
			   void (*fn)(void *ctx, const char *msg), void *ctx)
{
	st->report = fn;
	st->report_ctx = ctx;
}

int ks_store_lock(struct ks_store *st, char *err, size_t errlen)
{
	if (st->lock_depth > 0) {
		st->lock_depth++;
		return 0;
	}
	while (flock(st->lock_fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		pp_errf(err, errlen, "cannot lock %s/%s: %s", st->dir,
			KS_LOCK_FILE, strerror(errno));
		return PP_ERR_IO;
	}
	st->lock_depth = 1;
	return 0;
}

void ks_store_unlock(struct ks_store *st)
{
	if (st->lock_depth == 0)
		abort(); /* unbalanced unlock is a bug */
	if (--st->lock_depth == 0)
		flock(st->lock_fd, LOCK_UN);
}

void ks_store_close(struct ks_store *st)
{
	if (st == NULL)
		return;
	if (st->dirfd >= 0)
		close(st->dirfd);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock too */
	sodium_free(st->kek);
	free(st->dir);
	free(st);
}

/* Whether any key metadata file exists. */
static int store_has_keys(struct ks_store *st)
{
	struct dirent *de;
	char id[65];
	DIR *d;
	int fd, found = 0;

	fd = dup(st->dirfd);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while (!found && (de = readdir(d)) != NULL)
		found = ks_meta_name_parse(de->d_name, id);
	closedir(d);
	return found;
}

/* Removes temp files of interrupted writes, unless a writer is active. */
static void remove_stale_temps(struct ks_store *st)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return;
	fd = dup(st->dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		goto cleanup;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, KS_TMP_PREFIX,
			    strlen(KS_TMP_PREFIX)) == 0)
			unlinkat(st->dirfd, de->d_name, 0);
	}
	closedir(d);
	fsync(st->dirfd);
cleanup:
	flock(st->lock_fd, LOCK_UN);
}

static int b64_field(json_t *o, const char *name, uint8_t *out, size_t cap,
		     size_t *len)
{
	const char *s = json_string_value(json_object_get(o, name));

	if (s == NULL)
		return PP_ERR_CORRUPT;
	return b64_decode(s, strlen(s), out, cap, len) == 0 ? 0
							     : PP_ERR_CORRUPT;
}

static int conf_read(struct ks_store *st, struct store_conf *c, char *err,
		     size_t errlen)
{
	struct ks_buf b;
	json_error_t jerr;
	json_t *o = NULL, *v;
	const char *kdf;
	size_t salt_len = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = ks_file_read(st, KS_STORE_FILE, KS_META_CAP, 0, &b, NULL, err,
			  errlen);
	if (rc == PP_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	c->exists = 1;
	o = json_loadb((const char *)b.p, b.len, JSON_REJECT_DUPLICATES, &jerr);
	ks_buf_free(&b);
	rc = PP_ERR_CORRUPT;
	v = json_object_get(o, "format");
	if (o == NULL || !json_is_integer(v) ||
	    json_integer_value(v) != STORE_FORMAT ||
	    !json_is_boolean(json_object_get(o, "sealed")))
		goto cleanup;
	c->sealed = json_is_true(json_object_get(o, "sealed"));
	if (!c->sealed) {
		rc = 0;
		goto cleanup;
	}
	kdf = json_string_value(json_object_get(o, "kdf"));
	if (kdf == NULL || (strcmp(kdf, "raw") && strcmp(kdf, "argon2id")))
		goto cleanup;
	c->passphrase = strcmp(kdf, "argon2id") == 0;
	if (c->passphrase) {
		json_int_t ops = json_integer_value(json_object_get(o, "opslimit"));
		json_int_t mem = json_integer_value(json_object_get(o, "memlimit"));

		if (b64_field(o, "salt", c->salt, sizeof(c->salt), &salt_len) ||
		    salt_len != KS_SALT_LEN || ops <= 0 || mem <= 0)
			goto cleanup;
		c->ops = (unsigned long long)ops;
		c->mem = (size_t)mem;
	}
	if (b64_field(o, "check", c->check, sizeof(c->check), &c->check_len))
		goto cleanup;
	rc = 0;
cleanup:
	if (rc != 0)
		pp_errf(err, errlen, "%s/%s is damaged; restore it from a "
			"backup", st->dir, KS_STORE_FILE);
	json_decref(o);
	return rc;
}

/* Writes a new store.json; for a sealed store, derives st->kek from secret
 * with a fresh salt and stores a sealed check value. */
int ks_conf_create(struct ks_store *st, const struct ks_secret *secret,
		   char *err, size_t errlen)
{
	uint8_t salt[KS_SALT_LEN], *check = NULL;
	char salt_b64[64], *check_b64 = NULL, *text = NULL;
	size_t check_len = 0;
	json_t *o = NULL;
	int rc;

	if (secret == NULL) {
		o = json_pack("{s:i, s:b}", "format", STORE_FORMAT, "sealed", 0);
	} else {
		randombytes_buf(salt, sizeof(salt));
		st->kek = sodium_malloc(KS_KEK_LEN);
		if (st->kek == NULL)
			return PP_ERR_NOMEM;
		rc = ks_secret_derive(secret, salt, PWHASH_OPS, PWHASH_MEM,
				      st->kek);
		if (rc == 0)
			rc = ks_seal(st->kek, CHECK_AD,
				     (const uint8_t *)CHECK_TEXT,
				     strlen(CHECK_TEXT), &check, &check_len);
		if (rc != 0)
			goto cleanup;
		check_b64 = malloc(b64_encoded_len(check_len) + 1);
		if (check_b64 == NULL) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
		b64_encode(check, check_len, check_b64,
			   b64_encoded_len(check_len) + 1, NULL);
		b64_encode(salt, sizeof(salt), salt_b64, sizeof(salt_b64), NULL);
		if (ks_secret_is_passphrase(secret))
			o = json_pack("{s:i, s:b, s:s, s:s, s:I, s:I, s:s}",
				      "format", STORE_FORMAT, "sealed", 1,
				      "kdf", "argon2id", "salt", salt_b64,
				      "opslimit", (json_int_t)PWHASH_OPS,
				      "memlimit", (json_int_t)PWHASH_MEM,
				      "check", check_b64);
		else
			o = json_pack("{s:i, s:b, s:s, s:s}", "format",
				      STORE_FORMAT, "sealed", 1, "kdf", "raw",
				      "check", check_b64);
	}
	rc = PP_ERR_NOMEM;
	if (o == NULL || (text = json_dumps(o, JSON_INDENT(2) |
					    JSON_PRESERVE_ORDER)) == NULL)
		goto cleanup;
	rc = ks_file_write(st, KS_STORE_FILE, (const uint8_t *)text,
			   strlen(text), 1, err, errlen);
	if (rc == 0)
		st->sealed = secret != NULL;
cleanup:
	if (rc != 0 && st->kek) {
		sodium_free(st->kek);
		st->kek = NULL;
	}
	free(check);
	free(check_b64);
	free(text);
	json_decref(o);
	return rc;
}

/* Derives the key-encryption key of a sealed store and checks it. */
static int conf_unlock(struct ks_store *st, const struct store_conf *c,
		       const struct ks_secret *secret, char *err, size_t errlen)
{
	struct ks_buf plain = { 0 };
	int rc;

	if (c->passphrase != ks_secret_is_passphrase(secret)) {
		pp_errf(err, errlen, "the key store %s is sealed with a %s; "
			"give that (%s) instead", st->dir,
			c->passphrase ? "passphrase (PPISSUER_KEY_PASSPHRASE)"
				      : "32-byte key (PPISSUER_KEY_SECRET or "
					"--key-secret-file)",
			c->passphrase ? "not a key" : "not a passphrase");
		return PP_ERR_DECRYPT;
	}
	st->kek = sodium_malloc(KS_KEK_LEN);
	if (st->kek == NULL)
		return PP_ERR_NOMEM;
	rc = ks_secret_derive(secret, c->salt, c->ops, c->mem, st->kek);
	if (rc == PP_ERR_CORRUPT)
		pp_errf(err, errlen, "%s/%s has invalid passphrase parameters",
			st->dir, KS_STORE_FILE);
	if (rc == 0)
		rc = ks_unseal(st->kek, CHECK_AD, c->check, c->check_len, &plain);
	if (rc == 0 && (plain.len != strlen(CHECK_TEXT) ||
			memcmp(plain.p, CHECK_TEXT, plain.len) != 0))
		rc = PP_ERR_DECRYPT;
	if (rc == PP_ERR_DECRYPT || rc == PP_ERR_CORRUPT)
		pp_errf(err, errlen, "wrong key-encryption secret for the key "
			"store %s (check %s); nothing was changed", st->dir,
			secret_hint);
	ks_buf_free(&plain);
	if (rc != 0) {
		sodium_free(st->kek);
		st->kek = NULL;
		return rc == PP_ERR_CORRUPT ? PP_ERR_DECRYPT : rc;
	}
	return 0;
}

static int store_configure(struct ks_store *st, const struct ks_secret *secret,
			   char *err, size_t errlen)
{
	struct store_conf c;
	int rc, has_keys, locked = 0;

	rc = conf_read(st, &c, err, errlen);
	if (rc != 0)
		return rc;
	if (!c.exists || (!c.sealed && secret)) {
		/* creating or sealing store.json: decide under the lock */
		rc = ks_store_lock(st, err, errlen);
		if (rc != 0)
			return rc;
		locked = 1;
		rc = conf_read(st, &c, err, errlen);
		if (rc != 0)
			goto cleanup;
	}
	if (!c.exists || (!c.sealed && secret)) {
		has_keys = store_has_keys(st);
		if (has_keys < 0) {
			pp_errf(err, errlen, "cannot read %s: %s", st->dir,
				strerror(errno));
			rc = PP_ERR_IO;
			goto cleanup;
		}
		if (secret && has_keys) {
			pp_errf(err, errlen, "the keys in %s are not sealed, "
				"but a key-encryption secret was given; seal "
				"them with ppissuer keys seal, or give no "
				"secret", st->dir);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		rc = ks_conf_create(st, secret, err, errlen);
		goto cleanup;
	}
	st->sealed = c.sealed;
	if (c.sealed && secret)
		rc = conf_unlock(st, &c, secret, err, errlen);
cleanup:
	if (locked)
		ks_store_unlock(st);
	sodium_memzero(&c, sizeof(c));
	return rc;
}

static int open_dir(struct ks_store *st, const char *data_dir, char *err,
		    size_t errlen)
{
	struct stat sb;
	size_t len = strlen(data_dir) + sizeof("/keys");

	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
		pp_errf(err, errlen, "cannot create the data directory %s: %s",
			data_dir, strerror(errno));
		return PP_ERR_IO;
	}
	st->dir = malloc(len);
	if (st->dir == NULL)
		return PP_ERR_NOMEM;
	snprintf(st->dir, len, "%s/keys", data_dir);
	if (mkdir(st->dir, 0700) != 0 && errno != EEXIST) {
		pp_errf(err, errlen, "cannot create %s: %s", st->dir,
			strerror(errno));
		return PP_ERR_IO;
	}
	st->dirfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			 O_NOFOLLOW);
	if (st->dirfd < 0 || fstat(st->dirfd, &sb) != 0) {
		pp_errf(err, errlen, "cannot open %s: %s%s", st->dir,
			strerror(errno), errno == ELOOP || errno == ENOTDIR ?
			" (it must be a directory, not a symlink)" : "");
		return errno == EACCES ? PP_ERR_PERM : PP_ERR_IO;
	}
	if ((sb.st_mode & 077) != 0) {
		pp_errf(err, errlen, "%s is mode %04o; run chmod 700 %s",
			st->dir, (unsigned)(sb.st_mode & 07777), st->dir);
		return PP_ERR_PERM;
	}
	if (sb.st_uid != geteuid()) {
		/* files we create would be unreadable to the owner's server */
		pp_errf(err, errlen, "%s belongs to uid %u, not to this user "
			"(uid %u); run ppissuer as its owner", st->dir,
			(unsigned)sb.st_uid, (unsigned)geteuid());
		return PP_ERR_PERM;
	}
	st->lock_fd = openat(st->dirfd, KS_LOCK_FILE,
			     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (st->lock_fd < 0) {
		pp_errf(err, errlen, "cannot open %s/%s: %s", st->dir,
			KS_LOCK_FILE, strerror(errno));
		return PP_ERR_IO;
	}
	return 0;
}

int ks_store_open(const char *data_dir, const struct ks_secret *secret,
		  struct ks_store **out, char *err, size_t errlen)
{
	struct ks_store *st;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (data_dir == NULL || data_dir[0] == '\0') {
		pp_errf(err, errlen, "no data directory given (--data-dir)");
		return PP_ERR_ARG;
	}
	if (sodium_init() < 0)
		return PP_ERR_INTERNAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return PP_ERR_NOMEM;
	st->dirfd = -1;
	st->lock_fd = -1;
	rc = open_dir(st, data_dir, err, errlen);
	if (rc == 0)
		rc = store_configure(st, secret, err, errlen);
	if (rc != 0) {
		ks_store_close(st);
		return rc;
	}
	remove_stale_temps(st);
	*out = st;
	return 0;
}
