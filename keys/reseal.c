/* Sealing the keys of a store that was created without a secret. The store
 * is marked sealed before any key is rewritten: a run cut short leaves a
 * sealed store with some plain key files, which refuse to load with a hint
 * to run the command again, and the next run finishes the job. */
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "keys/store_int.h"

/* Rewrites one key file sealed unless it already is. *done is set when it
 * was rewritten. A file that does not hold a private key is reported and
 * left alone. */
static int seal_one(struct ks_store *st, const struct ks_meta *m, int *done,
		    char *err, size_t errlen)
{
	const struct tt_ops *tt = tt_find(m->token_type);
	struct ks_buf file = { 0 };
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	char name[80], why[300] = "";
	int rc;

	*done = 0;
	ks_key_name(m->id_hex, name, sizeof(name));
	rc = ks_file_read(st, name, KS_KEYFILE_CAP, 1, &file, NULL, why,
			  sizeof(why));
	if (rc == PP_ERR_NOMEM)
		goto cleanup;
	if (rc != 0) {
		ks_report(st, err, errlen, "key %.16s not sealed: %s", m->id_hex,
			  why[0] ? why : pp_err_str(rc));
		rc = 0;
		goto cleanup;
	}
	if (ks_is_sealed_blob(file.p, file.len))
		goto cleanup;
	if (tt == NULL || tt->check(file.p, file.len, why, sizeof(why)) != 0) {
		ks_report(st, err, errlen, "key %.16s not sealed: %s/%s is not "
			  "a valid private key", m->id_hex, st->dir, name);
		goto cleanup;
	}
	rc = ks_seal(st->kek, m->id_hex, file.p, file.len, &sealed,
		     &sealed_len);
	if (rc == 0)
		rc = ks_file_write(st, name, sealed, sealed_len, 1, err, errlen);
	*done = rc == 0;
cleanup:
	ks_buf_free(&file);
	free(sealed);
	return rc;
}

int ks_store_seal(const char *data_dir, const struct ks_secret *secret,
		  size_t *n_sealed, char *err, size_t errlen)
{
	struct ks_store *st = NULL;
	struct ks_meta *list = NULL;
	size_t i, n = 0, cnt = 0;
	char lerr[8];
	int rc, locked = 0;

	if (n_sealed)
		*n_sealed = 0;
	rc = ks_store_open(data_dir, NULL, &st, err, errlen);
	if (rc != 0)
		return rc;
	if (st->sealed) {
		/* reopen with the secret, which checks it */
		ks_store_close(st);
		st = NULL;
		rc = ks_store_open(data_dir, secret, &st, err, errlen);
		if (rc != 0)
			return rc;
	}
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		goto cleanup;
	locked = 1;
	if (!st->sealed) {
		rc = ks_conf_create(st, secret, err, errlen);
		if (rc != 0)
			goto cleanup;
	}
	rc = ks_store_list(st, &list, &n, lerr, sizeof(lerr));
	for (i = 0; rc == 0 && i < n; i++) {
		int done = 0;

		rc = seal_one(st, &list[i], &done, err, errlen);
		cnt += (size_t)done;
	}
cleanup:
	if (n_sealed)
		*n_sealed = cnt;
	free(list);
	if (locked)
		ks_store_unlock(st);
	ks_store_close(st);
	return rc;
}
