/* Internals shared by the key store's files (store.c, fsio.c, secret.c,
 * meta.c, keyfile.c). Not for use outside keys/ except by tests. */
#ifndef PP_KS_STORE_INT_H
#define PP_KS_STORE_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "keys/store.h"

struct tt_ops;

#define KS_META_CAP 8192       /* bytes; a metadata file is ~700 */
#define KS_KEYFILE_CAP 16384   /* bytes; a PKCS#8 RSA-2048 key is ~1220
				* (== TT_PRIV_MAX) */
#define KS_KEK_LEN 32
#define KS_SALT_LEN 16
#define KS_TMP_PREFIX ".tmp-"
#define KS_STORE_FILE "store.json"
#define KS_LOCK_FILE ".lock"

struct ks_store {
	char *dir;           /* "<data_dir>/keys" */
	int dirfd;           /* that directory, O_DIRECTORY */
	int sealed;          /* store.json says keys are sealed */
	uint8_t *kek;        /* sodium_malloc'd key-encryption key, or NULL */
	int lock_fd;
	unsigned lock_depth;
	void (*report)(void *ctx, const char *msg);
	void *report_ctx;
	int (*keygen)(void *ctx, uint16_t token_type, struct tt_secret **out);
	void *keygen_ctx;
	void (*progress)(void *ctx);   /* slow key generation is alive */
	void *progress_ctx;
	struct ks_external ext;        /* ext.make set: new keys in a token */
};

/* Reports a problem with one entry to the store's reporter and to err. */
void ks_report(struct ks_store *st, char *err, size_t errlen,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* store.c: writes a new store.json, unsealed for a NULL secret; else
 * sealed, deriving st->kek with a fresh salt. The caller holds the lock. */
int ks_conf_create(struct ks_store *st, const struct ks_secret *secret,
		   char *err, size_t errlen);

/* ---- fsio.c: bounded reads and atomic writes inside the keys dir ---- */

/* A file's contents; secure buffers come from sodium_malloc. */
struct ks_buf {
	uint8_t *p;
	size_t len;
	int secure;
};
void ks_buf_free(struct ks_buf *b);

/* Reads name (relative to st->dir; no symlinks) into out, refusing files
 * larger than cap. With private_file set, refuses group/other-accessible
 * modes (PP_ERR_PERM, naming the chmod) and reads into a secure buffer.
 * PP_ERR_NOT_FOUND when the file does not exist. sb (optional) gets its
 * stat. */
int ks_file_read(struct ks_store *st, const char *name, size_t cap,
		 int private_file, struct ks_buf *out, struct stat *sb,
		 char *err, size_t errlen);

/* Replaces name with data: temp file created O_EXCL mode 0600, written,
 * fsynced, renamed over name, then the directory fsynced. Without
 * replace, fails with PP_ERR_EXISTS when name exists. A failure leaves the
 * old file intact and removes the temp file. */
int ks_file_write(struct ks_store *st, const char *name, const uint8_t *data,
		  size_t len, int replace, char *err, size_t errlen);

/* Removes name (ENOENT is not an error) and fsyncs the directory. */
int ks_file_remove(struct ks_store *st, const char *name, char *err,
		   size_t errlen);

/* Test hook: called with the temp file name after it is written and synced
 * and before the rename; a test makes it _exit() to simulate a crash. */
extern void (*ks_file_before_rename)(const char *tmp_name);

/* ---- secret.c: sealing ---- */
#define KS_SEAL_MAGIC "PPKSEAL1"
#define KS_SEAL_MAGIC_LEN 8

/* Derives the key-encryption key from a secret: a raw key as is, a
 * passphrase with Argon2id(salt, opslimit, memlimit). kek: KS_KEK_LEN bytes. */
int ks_secret_derive(const struct ks_secret *s, const uint8_t *salt,
		     unsigned long long opslimit, size_t memlimit, uint8_t *kek);
int ks_secret_is_passphrase(const struct ks_secret *s);

/* Seals pt under kek with ad bound in: magic || nonce || ciphertext+tag.
 * *out is malloc'd (the sealed form is not secret). */
int ks_seal(const uint8_t *kek, const char *ad, const uint8_t *pt,
	    size_t len, uint8_t **out, size_t *out_len);
/* Opens a sealed blob into a secure buffer. PP_ERR_DECRYPT when the key is
 * wrong or the blob was altered, PP_ERR_CORRUPT when it is not sealed. */
int ks_unseal(const uint8_t *kek, const char *ad, const uint8_t *in,
	      size_t len, struct ks_buf *out);
int ks_is_sealed_blob(const uint8_t *in, size_t len);

/* ---- meta.c: metadata files ---- */

/* "<id_hex>.json" and "<id_hex>.key". */
void ks_meta_name(const char *id_hex, char *out, size_t cap);
void ks_key_name(const char *id_hex, char *out, size_t cap);
/* Whether name is "<64 lowercase hex>.json"; copies the id into id_hex. */
int ks_meta_name_parse(const char *name, char id_hex[65]);

/* Fills ids from m->pub (key_id, id_hex, truncated_id). */
void ks_meta_set_ids(struct ks_meta *m);
/* Serializes m as JSON (malloc'd, NUL-terminated). */
int ks_meta_encode(const struct ks_meta *m, char **out, size_t *len);
/* Parses and validates a metadata file; expect_id is the id its name
 * carries. PP_ERR_CORRUPT with a message naming what is wrong. */
int ks_meta_decode(const uint8_t *buf, size_t len, const char *expect_id,
		   struct ks_meta *out, char *err, size_t errlen);
int ks_meta_write(struct ks_store *st, const struct ks_meta *m, int replace,
		  char *err, size_t errlen);
int ks_meta_read(struct ks_store *st, const char *id_hex, struct ks_meta *out,
		 char *err, size_t errlen);

/* ---- keyfile.c: private key files ---- */

/* Fills m's public key and ids from a private key of type tt. */
int ks_key_meta(const struct tt_ops *tt, const struct tt_secret *priv,
		struct ks_meta *m);
/* Writes a private key file (sealed when the store is), then its
 * metadata. */
int ks_key_store(struct ks_store *st, const struct tt_secret *priv,
		 const struct ks_meta *m, char *err, size_t errlen);

#endif
