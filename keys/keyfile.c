/* Private key files: each type's private form (crypto/token_types.h),
 * sealed when the store is, loaded and checked through the type's table
 * entry. Decoded key bytes only ever sit in sodium_malloc'd buffers. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "keys/store_int.h"

int ks_key_meta(const struct tt_ops *tt, const struct tt_secret *priv,
		struct ks_meta *m)
{
	int rc;

	rc = tt->public_form(priv->p, priv->len, m->pub, sizeof(m->pub),
			     &m->pub_len);
	if (rc != 0)
		return rc;
	ks_meta_set_ids(m);
	return 0;
}

int ks_key_store(struct ks_store *st, const struct tt_secret *priv,
		 const struct ks_meta *m, char *err, size_t errlen)
{
	uint8_t *sealed = NULL;
	const uint8_t *data;
	size_t sealed_len = 0, len;
	char key_name[80], meta_name[80];
	int rc;

	if (st->sealed && st->kek == NULL) {
		pp_errf(err, errlen, "the key store %s is sealed; give its "
			"key-encryption secret (--key-secret-file, "
			"PPISSUER_KEY_SECRET or PPISSUER_KEY_PASSPHRASE)", st->dir);
		return PP_ERR_CONFIG;
	}
	ks_key_name(m->id_hex, key_name, sizeof(key_name));
	ks_meta_name(m->id_hex, meta_name, sizeof(meta_name));
	if (faccessat(st->dirfd, meta_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		pp_errf(err, errlen, "key %s is already in the store",
			m->id_hex);
		return PP_ERR_EXISTS;
	}
	data = priv->p;
	len = priv->len;
	if (st->sealed) {
		rc = ks_seal(st->kek, m->id_hex, priv->p, priv->len, &sealed,
			     &sealed_len);
		if (rc != 0)
			goto cleanup;
		data = sealed;
		len = sealed_len;
	}
	/* Replacing is safe: a key file without metadata is left over from
	 * an interrupted write of this same key. */
	rc = ks_file_write(st, key_name, data, len, 1, err, errlen);
	if (rc != 0)
		goto cleanup;
	rc = ks_meta_write(st, m, 0, err, errlen);
	if (rc != 0)
		ks_file_remove(st, key_name, NULL, 0);
cleanup:
	free(sealed);
	return rc;
}

int ks_store_key_check(struct ks_store *st, const struct ks_meta *m,
		       char *err, size_t errlen)
{
	struct stat sb;
	char name[80];

	if (err && errlen)
		err[0] = '\0';
	ks_key_name(m->id_hex, name, sizeof(name));
	if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
		pp_errf(err, errlen, "the private key file %s/%s is missing; "
			"retire the key (ppissuer keys retire %.16s)", st->dir,
			name, m->id_hex);
		return PP_ERR_NOT_FOUND;
	}
	if (!S_ISREG(sb.st_mode)) {
		pp_errf(err, errlen, "%s/%s is not a regular file", st->dir,
			name);
		return PP_ERR_CORRUPT;
	}
	if ((sb.st_mode & 077) != 0) {
		pp_errf(err, errlen, "%s/%s is mode %04o; run chmod 600 %s/%s",
			st->dir, name, (unsigned)(sb.st_mode & 07777), st->dir,
			name);
		return PP_ERR_PERM;
	}
	return 0;
}

int ks_store_key_load(struct ks_store *st, const struct ks_meta *m,
		      struct tt_secret **out, char *err, size_t errlen)
{
	const struct tt_ops *tt = tt_find(m->token_type);
	struct ks_buf file = { 0 }, plain = { 0 };
	const struct ks_buf *der = &file;
	struct tt_secret *priv = NULL;
	struct ks_meta got;
	char name[80], why[200] = "";
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (tt == NULL)
		return PP_ERR_TOKEN_TYPE;
	ks_key_name(m->id_hex, name, sizeof(name));
	rc = ks_file_read(st, name, KS_KEYFILE_CAP, 1, &file, NULL, err, errlen);
	if (rc == PP_ERR_NOT_FOUND)
		pp_errf(err, errlen, "the private key file %s/%s is missing",
			st->dir, name);
	if (rc != 0)
		goto cleanup;
	if (ks_is_sealed_blob(file.p, file.len)) {
		if (st->kek == NULL) {
			pp_errf(err, errlen, "%s/%s is sealed; give the key "
				"store's key-encryption secret (--key-secret-file, "
				"PPISSUER_KEY_SECRET or PPISSUER_KEY_PASSPHRASE)",
				st->dir, name);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		rc = ks_unseal(st->kek, m->id_hex, file.p, file.len, &plain);
		if (rc == PP_ERR_DECRYPT)
			pp_errf(err, errlen, "cannot unseal %s/%s: the file was "
				"altered or sealed for another key", st->dir,
				name);
		if (rc != 0)
			goto cleanup;
		der = &plain;
	} else if (st->sealed) {
		pp_errf(err, errlen, "%s/%s is not sealed, but the store is; "
			"if you put it there, run ppissuer keys seal", st->dir,
			name);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	rc = tt->check(der->p, der->len, why, sizeof(why));
	if (rc != 0) {
		pp_errf(err, errlen, "%s/%s is not a valid %s private key: %s",
			st->dir, name, tt->name, why);
		goto cleanup;
	}
	rc = tt_secret_new(der->p, der->len, &priv);
	if (rc != 0)
		goto cleanup;
	memset(&got, 0, sizeof(got));
	rc = ks_key_meta(tt, priv, &got);
	if (rc != 0 || sodium_memcmp(got.key_id, m->key_id, sizeof(got.key_id)) != 0) {
		pp_errf(err, errlen, "%s/%s does not hold the key its metadata "
			"names", st->dir, name);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	*out = priv;
	priv = NULL;
cleanup:
	tt_secret_free(priv);
	ks_buf_free(&file);
	ks_buf_free(&plain);
	return rc;
}
