/* Private key files: PKCS#8 DER encoding, sealing, loading and the checks a
 * key must pass before it may sign. Decoded key bytes only ever sit in
 * sodium_malloc'd buffers and are wiped as soon as OpenSSL has parsed them. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/pp_err.h"
#include "crypto/spki.h"
#include "keys/store_int.h"

int ks_pkey_check(const EVP_PKEY *pkey, char *err, size_t errlen)
{
	BIGNUM *e = NULL;
	int rc = PP_ERR_KEY;

	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		ks_errf(err, errlen, "the key is not a plain RSA key (rsaEncryption)");
		goto cleanup;
	}
	if (EVP_PKEY_get_bits(pkey) != KS_KEY_BITS) {
		ks_errf(err, errlen, "the key has %d bits; issuer keys must be "
			"RSA-%d", EVP_PKEY_get_bits(pkey), KS_KEY_BITS);
		goto cleanup;
	}
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    !BN_is_word(e, 65537)) {
		ks_errf(err, errlen, "the key's public exponent is not 65537");
		goto cleanup;
	}
	rc = 0;
cleanup:
	BN_free(e);
	return rc;
}

int ks_pkey_to_der(const EVP_PKEY *pkey, struct ks_buf *out)
{
	OSSL_ENCODER_CTX *ctx;
	unsigned char *data = NULL;
	size_t len = 0;
	int rc = PP_ERR_INTERNAL;

	out->p = NULL;
	out->len = 0;
	out->secure = 1;
	ctx = OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR,
					    "DER", "PrivateKeyInfo", NULL);
	if (ctx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ctx) == 0 ||
	    !OSSL_ENCODER_to_data(ctx, &data, &len))
		goto cleanup;
	out->p = sodium_malloc(len);
	if (out->p == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	memcpy(out->p, data, len);
	out->len = len;
	rc = 0;
cleanup:
	if (data)
		OPENSSL_clear_free(data, len);
	OSSL_ENCODER_CTX_free(ctx);
	return rc;
}

/* Refuses passphrase-protected keys instead of letting OpenSSL prompt. */
static int no_passphrase(char *pass, size_t size, size_t *len,
			 const OSSL_PARAM params[], void *arg)
{
	(void)pass;
	(void)size;
	(void)params;
	(void)arg;
	*len = 0;
	return 0;
}

int ks_pkey_parse(const uint8_t *in, size_t len, EVP_PKEY **out)
{
	OSSL_DECODER_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = in;
	size_t left = len;
	int rc = PP_ERR_CORRUPT;

	*out = NULL;
	ctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, "RSA",
					    OSSL_KEYMGMT_SELECT_KEYPAIR, NULL,
					    NULL);
	if (ctx == NULL) {
		rc = PP_ERR_INTERNAL;
		goto cleanup;
	}
	OSSL_DECODER_CTX_set_passphrase_cb(ctx, no_passphrase, NULL);
	if (!OSSL_DECODER_from_data(ctx, &p, &left) || pkey == NULL)
		goto cleanup;
	*out = pkey;
	pkey = NULL;
	rc = 0;
cleanup:
	EVP_PKEY_free(pkey);
	OSSL_DECODER_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int ks_pkey_meta(const EVP_PKEY *pkey, struct ks_meta *m)
{
	int rc;

	rc = spki_encode(pkey, m->spki, sizeof(m->spki), &m->spki_len);
	if (rc != 0)
		return rc;
	ks_meta_set_ids(m);
	return 0;
}

int ks_pkey_store(struct ks_store *st, const EVP_PKEY *pkey,
		  const struct ks_meta *m, char *err, size_t errlen)
{
	struct ks_buf der = { 0 };
	uint8_t *sealed = NULL;
	const uint8_t *data;
	size_t sealed_len = 0, len;
	char key_name[80], meta_name[80];
	int rc;

	if (st->sealed && st->kek == NULL) {
		ks_errf(err, errlen, "the key store %s is sealed; give its "
			"key-encryption secret (--key-secret-file, "
			"PPISSUER_KEY_SECRET or PPISSUER_KEY_PASSPHRASE)", st->dir);
		return PP_ERR_CONFIG;
	}
	ks_key_name(m->id_hex, key_name, sizeof(key_name));
	ks_meta_name(m->id_hex, meta_name, sizeof(meta_name));
	if (faccessat(st->dirfd, meta_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		ks_errf(err, errlen, "key %s is already in the store",
			m->id_hex);
		return PP_ERR_EXISTS;
	}
	rc = ks_pkey_to_der(pkey, &der);
	if (rc != 0)
		goto cleanup;
	data = der.p;
	len = der.len;
	if (st->sealed) {
		rc = ks_seal(st->kek, m->id_hex, der.p, der.len, &sealed,
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
	ks_buf_free(&der);
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
		ks_errf(err, errlen, "the private key file %s/%s is missing; "
			"retire the key (ppissuer keys retire %.16s)", st->dir,
			name, m->id_hex);
		return PP_ERR_NOT_FOUND;
	}
	if (!S_ISREG(sb.st_mode)) {
		ks_errf(err, errlen, "%s/%s is not a regular file", st->dir,
			name);
		return PP_ERR_CORRUPT;
	}
	if ((sb.st_mode & 077) != 0) {
		ks_errf(err, errlen, "%s/%s is mode %04o; run chmod 600 %s/%s",
			st->dir, name, (unsigned)(sb.st_mode & 07777), st->dir,
			name);
		return PP_ERR_PERM;
	}
	return 0;
}

int ks_store_key_load(struct ks_store *st, const struct ks_meta *m,
		      EVP_PKEY **out, char *err, size_t errlen)
{
	struct ks_buf file = { 0 }, plain = { 0 };
	const struct ks_buf *der = &file;
	uint8_t id[SPKI_KEY_ID_LEN];
	struct ks_meta got;
	EVP_PKEY *pkey = NULL;
	char name[80], why[200] = "";
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	ks_key_name(m->id_hex, name, sizeof(name));
	rc = ks_file_read(st, name, KS_KEYFILE_CAP, 1, &file, NULL, err, errlen);
	if (rc == PP_ERR_NOT_FOUND)
		ks_errf(err, errlen, "the private key file %s/%s is missing",
			st->dir, name);
	if (rc != 0)
		goto cleanup;
	if (ks_is_sealed_blob(file.p, file.len)) {
		if (st->kek == NULL) {
			ks_errf(err, errlen, "%s/%s is sealed; give the key "
				"store's key-encryption secret (--key-secret-file, "
				"PPISSUER_KEY_SECRET or PPISSUER_KEY_PASSPHRASE)",
				st->dir, name);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		rc = ks_unseal(st->kek, m->id_hex, file.p, file.len, &plain);
		if (rc == PP_ERR_DECRYPT)
			ks_errf(err, errlen, "cannot unseal %s/%s: the file was "
				"altered or sealed for another key", st->dir,
				name);
		if (rc != 0)
			goto cleanup;
		der = &plain;
	} else if (st->sealed) {
		ks_errf(err, errlen, "%s/%s is not sealed, but the store is; "
			"if you put it there, run ppissuer keys seal", st->dir,
			name);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	rc = ks_pkey_parse(der->p, der->len, &pkey);
	if (rc != 0) {
		ks_errf(err, errlen, "%s/%s is not a valid private key", st->dir,
			name);
		goto cleanup;
	}
	rc = ks_pkey_check(pkey, why, sizeof(why));
	if (rc != 0) {
		ks_errf(err, errlen, "%s/%s: %s", st->dir, name, why);
		goto cleanup;
	}
	memset(&got, 0, sizeof(got));
	rc = ks_pkey_meta(pkey, &got);
	memcpy(id, got.key_id, sizeof(id));
	if (rc != 0 || sodium_memcmp(id, m->key_id, sizeof(id)) != 0) {
		ks_errf(err, errlen, "%s/%s does not hold the key its metadata "
			"names", st->dir, name);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	*out = pkey;
	pkey = NULL;
cleanup:
	EVP_PKEY_free(pkey);
	ks_buf_free(&file);
	ks_buf_free(&plain);
	return rc;
}
