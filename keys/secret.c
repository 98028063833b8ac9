/* The key-encryption secret and sealing of private key files.
 *
 * A sealed file is "PPKSEAL1" || 24-byte nonce || XChaCha20-Poly1305
 * ciphertext and tag. The associated data binds the magic and the key id, so
 * a sealed key copied over another key's file fails to open rather than
 * loading under the wrong metadata. Random 192-bit nonces make nonce reuse
 * under one key negligible without any counter state on disk. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "keys/store_int.h"

#define SECRET_FILE_CAP 1024
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define AD_CAP 160

struct ks_secret {
	uint8_t *key;   /* KS_KEK_LEN bytes (raw secret), or NULL */
	char *pass;     /* passphrase, NUL-terminated, or NULL */
	size_t pass_len;
};

void ks_secret_free(struct ks_secret *s)
{
	if (s == NULL)
		return;
	sodium_free(s->key);
	sodium_free(s->pass);
	free(s);
}

static struct ks_secret *secret_alloc(void)
{
	if (sodium_init() < 0)
		return NULL;
	return calloc(1, sizeof(struct ks_secret));
}

int ks_secret_from_bytes(const uint8_t key[32], struct ks_secret **out)
{
	struct ks_secret *s;

	*out = NULL;
	s = secret_alloc();
	if (s == NULL)
		return PP_ERR_NOMEM;
	s->key = sodium_malloc(KS_KEK_LEN);
	if (s->key == NULL) {
		ks_secret_free(s);
		return PP_ERR_NOMEM;
	}
	memcpy(s->key, key, KS_KEK_LEN);
	*out = s;
	return 0;
}

int ks_secret_from_passphrase(const char *pass, struct ks_secret **out,
			      char *err, size_t errlen)
{
	struct ks_secret *s;
	size_t len;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	len = pass ? strlen(pass) : 0;
	if (len == 0 || len > SECRET_FILE_CAP) {
		pp_errf(err, errlen, "the key passphrase must be 1 to %d bytes",
			SECRET_FILE_CAP);
		return PP_ERR_CONFIG;
	}
	s = secret_alloc();
	if (s == NULL)
		return PP_ERR_NOMEM;
	s->pass = sodium_malloc(len + 1);
	if (s->pass == NULL) {
		ks_secret_free(s);
		return PP_ERR_NOMEM;
	}
	memcpy(s->pass, pass, len + 1);
	s->pass_len = len;
	*out = s;
	return 0;
}

/* Length without trailing whitespace (a newline from echo or an editor). */
static size_t trimmed_len(const char *t, size_t len)
{
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' ||
			   t[len - 1] == ' ' || t[len - 1] == '\t'))
		len--;
	return len;
}

static int decode_text(const char *t, size_t len, uint8_t key[KS_KEK_LEN])
{
	static const int variants[] = {
		sodium_base64_VARIANT_ORIGINAL,
		sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
		sodium_base64_VARIANT_URLSAFE,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING,
	};
	size_t got = 0, i;

	if (len == 2 * KS_KEK_LEN &&
	    sodium_hex2bin(key, KS_KEK_LEN, t, len, NULL, &got, NULL) == 0 &&
	    got == KS_KEK_LEN)
		return 0;
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		if (sodium_base642bin(key, KS_KEK_LEN, t, len, NULL, &got, NULL,
				      variants[i]) == 0 &&
		    got == KS_KEK_LEN)
			return 0;
	}
	sodium_memzero(key, KS_KEK_LEN);
	return PP_ERR_CONFIG;
}

static int from_text_len(const char *text, size_t len, const char *origin,
			 struct ks_secret **out, char *err, size_t errlen)
{
	uint8_t *key;
	int rc;

	if (sodium_init() < 0)
		return PP_ERR_INTERNAL;
	key = sodium_malloc(KS_KEK_LEN);
	if (key == NULL)
		return PP_ERR_NOMEM;
	rc = decode_text(text, trimmed_len(text, len), key);
	if (rc != 0) {
		pp_errf(err, errlen, "%s must hold a 32-byte key as 64 hex "
			"digits or base64 (make one with: openssl rand -hex 32)",
			origin);
		goto cleanup;
	}
	rc = ks_secret_from_bytes(key, out);
cleanup:
	sodium_free(key);
	return rc;
}

int ks_secret_from_text(const char *text, struct ks_secret **out, char *err,
			size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	return from_text_len(text, strlen(text), "the key secret", out, err,
			     errlen);
}

int ks_secret_from_file(const char *path, struct ks_secret **out, char *err,
			size_t errlen)
{
	struct stat s;
	char *buf = NULL;
	ssize_t got = 0;
	int fd, rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (sodium_init() < 0)
		return PP_ERR_INTERNAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pp_errf(err, errlen, "cannot open key secret file %s: %s", path,
			strerror(errno));
		return PP_ERR_CONFIG;
	}
	if (fstat(fd, &s) != 0 || !S_ISREG(s.st_mode)) {
		pp_errf(err, errlen, "key secret file %s is not a regular file",
			path);
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	if ((s.st_mode & 077) != 0) {
		pp_errf(err, errlen, "%s is mode %04o; run chmod 600 %s", path,
			(unsigned)(s.st_mode & 07777), path);
		rc = PP_ERR_PERM;
		goto cleanup;
	}
	buf = sodium_malloc(SECRET_FILE_CAP + 1);
	if (buf == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	do {
		got = read(fd, buf, SECRET_FILE_CAP + 1);
	} while (got < 0 && errno == EINTR);
	if (got < 0 || got > SECRET_FILE_CAP) {
		pp_errf(err, errlen, "cannot read key secret file %s: %s", path,
			got < 0 ? strerror(errno) : "too large");
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	/* exactly 32 bytes is a raw key; any text form is longer */
	if (got == KS_KEK_LEN)
		rc = ks_secret_from_bytes((const uint8_t *)buf, out);
	else
		rc = from_text_len(buf, (size_t)got, path, out, err, errlen);
cleanup:
	sodium_free(buf);
	close(fd);
	return rc;
}

int ks_secret_from_env(struct ks_secret **out, char *err, size_t errlen)
{
	const char *key = getenv("PPISSUER_KEY_SECRET");
	const char *pass = getenv("PPISSUER_KEY_PASSPHRASE");

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (key && *key && pass && *pass) {
		pp_errf(err, errlen, "both PPISSUER_KEY_SECRET and "
			"PPISSUER_KEY_PASSPHRASE are set; unset one");
		return PP_ERR_CONFIG;
	}
	if (key && *key)
		return from_text_len(key, strlen(key), "PPISSUER_KEY_SECRET",
				     out, err, errlen);
	if (pass && *pass)
		return ks_secret_from_passphrase(pass, out, err, errlen);
	return 0;
}

int ks_secret_is_passphrase(const struct ks_secret *s)
{
	return s->pass != NULL;
}

int ks_secret_derive(const struct ks_secret *s, const uint8_t *salt,
		     unsigned long long opslimit, size_t memlimit, uint8_t *kek)
{
	if (s->key) {
		memcpy(kek, s->key, KS_KEK_LEN);
		return 0;
	}
	if (opslimit < crypto_pwhash_OPSLIMIT_MIN ||
	    opslimit > crypto_pwhash_OPSLIMIT_MAX ||
	    memlimit < crypto_pwhash_MEMLIMIT_MIN ||
	    memlimit > crypto_pwhash_MEMLIMIT_MAX)
		return PP_ERR_CORRUPT;
	if (crypto_pwhash(kek, KS_KEK_LEN, s->pass, s->pass_len, salt, opslimit,
			  memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return PP_ERR_NOMEM; /* the only failure is running out of memory */
	return 0;
}

static int make_ad(const char *ad, uint8_t *out, size_t *len)
{
	int n = snprintf((char *)out, AD_CAP, "%s:%s", KS_SEAL_MAGIC, ad);

	if (n < 0 || n >= AD_CAP)
		return PP_ERR_ARG;
	*len = (size_t)n;
	return 0;
}

int ks_is_sealed_blob(const uint8_t *in, size_t len)
{
	return len >= KS_SEAL_MAGIC_LEN &&
	       memcmp(in, KS_SEAL_MAGIC, KS_SEAL_MAGIC_LEN) == 0;
}

int ks_seal(const uint8_t *kek, const char *ad, const uint8_t *pt,
	    size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t adb[AD_CAP], *buf;
	unsigned long long clen = 0;
	size_t adlen, total;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = make_ad(ad, adb, &adlen);
	if (rc != 0)
		return rc;
	if (len > SIZE_MAX - KS_SEAL_MAGIC_LEN - NONCE_LEN - TAG_LEN)
		return PP_ERR_ARG;
	total = KS_SEAL_MAGIC_LEN + NONCE_LEN + len + TAG_LEN;
	buf = malloc(total);
	if (buf == NULL)
		return PP_ERR_NOMEM;
	memcpy(buf, KS_SEAL_MAGIC, KS_SEAL_MAGIC_LEN);
	randombytes_buf(buf + KS_SEAL_MAGIC_LEN, NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		buf + KS_SEAL_MAGIC_LEN + NONCE_LEN, &clen, pt, len, adb, adlen,
		NULL, buf + KS_SEAL_MAGIC_LEN, kek);
	*out = buf;
	*out_len = KS_SEAL_MAGIC_LEN + NONCE_LEN + (size_t)clen;
	return 0;
}

int ks_unseal(const uint8_t *kek, const char *ad, const uint8_t *in,
	      size_t len, struct ks_buf *out)
{
	uint8_t adb[AD_CAP];
	unsigned long long plen = 0;
	size_t adlen, clen;
	int rc;

	out->p = NULL;
	out->len = 0;
	out->secure = 1;
	if (!ks_is_sealed_blob(in, len) ||
	    len < KS_SEAL_MAGIC_LEN + NONCE_LEN + TAG_LEN)
		return PP_ERR_CORRUPT;
	rc = make_ad(ad, adb, &adlen);
	if (rc != 0)
		return rc;
	clen = len - KS_SEAL_MAGIC_LEN - NONCE_LEN;
	out->p = sodium_malloc(clen - TAG_LEN + 1);
	if (out->p == NULL)
		return PP_ERR_NOMEM;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    out->p, &plen, NULL, in + KS_SEAL_MAGIC_LEN + NONCE_LEN, clen,
		    adb, adlen, in + KS_SEAL_MAGIC_LEN, kek) != 0) {
		ks_buf_free(out);
		return PP_ERR_DECRYPT;
	}
	out->len = (size_t)plen;
	return 0;
}
