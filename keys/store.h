/* The on-disk key store under <data-dir>/keys/: one PKCS#8 private key file
 * and one metadata file per key, written atomically, mode 0600 in a 0700
 * directory, optionally sealed with a key-encryption secret. The only code
 * that reads or writes key files.
 *
 * Layout of <data-dir>/keys/:
 *   store.json     format version; whether keys are sealed, and how (KDF
 *                  salt and a sealed check value that detects a wrong secret)
 *   <id>.key       private key: PKCS#8 DER, or a sealed blob of it
 *   <id>.json      metadata: ids, token type, times, stored state, public key
 *   .lock          flock()ed by writers, so several processes sharing one
 *                  data dir never interleave changes
 * where <id> is the 64-hex-digit key id (SHA-256 of the RFC 9578 key form).
 *
 * Every function that a person acts on takes a message buffer (err, errlen;
 * may be NULL): the first error wins and says what to do. */
#ifndef PP_KS_STORE_H
#define PP_KS_STORE_H

#include <stddef.h>
#include <stdint.h>

struct tt_secret;

#define KS_PUB_MAX 1100    /* == TT_PUB_MAX of crypto/token_types.h */

enum ks_state {
	KS_PENDING,   /* published, not yet signing */
	KS_ACTIVE,    /* the one key per token type that signs */
	KS_RETIRING,  /* no longer signs; its tokens still verify */
	KS_RETIRED,   /* gone from the directory and from verification */
};

/* Where a key's private half lives when it is not in a key file: a PKCS#11
 * token (keys/pkcs11.h). Recorded in the metadata (format 2). */
#define KS_P11_LABEL_MAX 64
#define KS_P11_ID_MAX 32
struct ks_p11_ref {
	char token[33];                     /* token label (CK_TOKEN_INFO) */
	char label[KS_P11_LABEL_MAX + 1];   /* CKA_LABEL of the key objects */
	uint8_t id[KS_P11_ID_MAX];          /* CKA_ID of the key objects */
	size_t id_len;
};

struct ks_meta {
	uint8_t key_id[32];
	char id_hex[65];
	uint8_t truncated_id;
	uint16_t token_type;
	int64_t created;        /* unix seconds */
	int64_t not_before;     /* unix seconds */
	int64_t retire_after;   /* unix seconds; 0 = not scheduled */
	enum ks_state state;    /* as stored; see the lifecycle for the effective one */
	uint8_t pub[KS_PUB_MAX];  /* the type's public key form (the directory's
				   * token-key); key id = SHA-256 of it */
	size_t pub_len;
	int external;           /* private key in a token, no key file */
	struct ks_p11_ref p11;  /* when external */
};

/* "pending", "active", "retiring", "retired". */
const char *ks_state_name(enum ks_state s);
/* Parses a state name; returns 0 or PP_ERR_ARG. */
int ks_state_parse(const char *name, enum ks_state *out);

/* ---- key-encryption secret ----
 * WARNING: a ks_secret holds the key that unseals every private key of a
 * store; it lives in sodium_malloc'd memory and is wiped by ks_secret_free. */
struct ks_secret;

/* A raw 32-byte key. */
int ks_secret_from_bytes(const uint8_t key[32], struct ks_secret **out);
/* A passphrase, stretched with Argon2id and the store's salt when the store
 * is opened. Must not be empty. */
int ks_secret_from_passphrase(const char *pass, struct ks_secret **out,
			      char *err, size_t errlen);
/* 32 bytes given as 64 hex digits or as (url-safe or standard) base64. */
int ks_secret_from_text(const char *text, struct ks_secret **out, char *err,
			size_t errlen);
/* A file holding exactly 32 raw bytes, or their hex/base64 text (a final
 * newline is allowed). Refused when group or others can read it. */
int ks_secret_from_file(const char *path, struct ks_secret **out, char *err,
			size_t errlen);
/* From PPISSUER_KEY_SECRET (hex/base64 key) or PPISSUER_KEY_PASSPHRASE.
 * *out stays NULL (and 0 is returned) when neither is set; both set is an
 * error. */
int ks_secret_from_env(struct ks_secret **out, char *err, size_t errlen);
void ks_secret_free(struct ks_secret *s);

/* ---- the store ---- */
struct ks_store;

/* Opens <data_dir>/keys, creating data_dir and keys (mode 0700) when
 * missing. Refuses a keys directory that group or others can access
 * (PP_ERR_PERM, with the chmod to run). With secret non-NULL the store is
 * sealed: a new store becomes sealed; an existing sealed store must match
 * (else PP_ERR_DECRYPT, nothing written); an existing store with unsealed
 * keys is refused (PP_ERR_CONFIG). A sealed store opened without a secret
 * lists and exports public keys but cannot load or create private keys.
 * secret is not taken over and may be freed after the call.
 * Leftover temporary files of interrupted writes are removed when no other
 * process is writing. Free with ks_store_close. */
int ks_store_open(const char *data_dir, const struct ks_secret *secret,
		  struct ks_store **out, char *err, size_t errlen);
void ks_store_close(struct ks_store *st);

/* The keys directory path ("<data_dir>/keys"). */
const char *ks_store_dir(const struct ks_store *st);
/* Whether private keys are stored sealed. */
int ks_store_is_sealed(const struct ks_store *st);

/* Seals the private keys of the store in <data_dir>/keys with secret:
 * store.json is marked sealed first, then each unsealed key file is
 * rewritten sealed, so an interrupted run is finished by running it again.
 * On a store that is already sealed, secret must match; keys left unsealed
 * are sealed. *n_sealed (optional) gets how many files were rewritten. */
int ks_store_seal(const char *data_dir, const struct ks_secret *secret,
		  size_t *n_sealed, char *err, size_t errlen);

/* Where problems with single entries go (corrupt metadata, a key file that
 * will not load) while the operation goes on with the other keys. Without a
 * reporter they only reach the err buffer of the call. */
void ks_store_set_reporter(struct ks_store *st,
			   void (*fn)(void *ctx, const char *msg), void *ctx);

/* Serializes writers across processes (flock on keys/.lock). Recursive
 * within one store handle. Every mutating function below takes it itself;
 * take it around a read-decide-write sequence. */
int ks_store_lock(struct ks_store *st, char *err, size_t errlen);
void ks_store_unlock(struct ks_store *st);

/* Lists the metadata of every key, sorted by token type, not-before,
 * creation time and id. Entries that cannot be read are skipped and
 * reported (never abort the listing). *out is malloc'd (free()); it is NULL
 * with *n == 0 for an empty store. */
int ks_store_list(struct ks_store *st, struct ks_meta **out, size_t *n,
		  char *err, size_t errlen);

/* A key that exists in the store (a metadata or private key file names it)
 * but whose metadata cannot be read now: unreadable, wrong mode, a symlink,
 * truncated, or missing beside its private key. Such a key is neither
 * usable nor known to be retired. */
struct ks_failed_id {
	char id_hex[65];
	uint8_t key_id[32];
};

/* ks_store_list, and also the keys that exist but could not be read
 * (*failed malloc'd, free(); NULL with *n_failed == 0 when none). */
int ks_store_list_all(struct ks_store *st, struct ks_meta **out, size_t *n,
		      struct ks_failed_id **failed, size_t *n_failed,
		      char *err, size_t errlen);

/* Finds a key by its id in hex, or by an unambiguous prefix of at least 4
 * hex digits. PP_ERR_NOT_FOUND, or PP_ERR_ARG when ambiguous. */
int ks_store_find(struct ks_store *st, const char *id, struct ks_meta *out,
		  char *err, size_t errlen);

/* Loads the private key of m in its type's private form: refuses a key file
 * readable by group or others (PP_ERR_PERM), unseals it (PP_ERR_DECRYPT for
 * a wrong secret or a tampered file), checks it with the type's table entry
 * and that its public key matches m's id (PP_ERR_CORRUPT otherwise). The
 * caller frees *out with tt_secret_free (which wipes it). */
int ks_store_key_load(struct ks_store *st, const struct ks_meta *m,
		      struct tt_secret **out, char *err, size_t errlen);

/* Checks, without reading it, that m's private key file exists and only
 * its owner can access it (PP_ERR_NOT_FOUND, PP_ERR_CORRUPT, PP_ERR_PERM,
 * each with the fix in err). For health checks such as keys list. */
int ks_store_key_check(struct ks_store *st, const struct ks_meta *m,
		       char *err, size_t errlen);

/* Generates a key of token_type (any type in the token-type table), created
 * at now and signing from not_before, and stores it (stored state pending or active by
 * not_before). Retries until its truncated id differs from that of every key
 * not retired at now. *out (optional) gets its metadata. */
int ks_store_generate(struct ks_store *st, uint16_t token_type, int64_t now,
		      int64_t not_before, struct ks_meta *out, char *err,
		      size_t errlen);

/* Imports an existing private key of token_type read from path, in a form
 * the type's table entry accepts (for RSA types: PKCS#8 or PKCS#1, PEM or
 * DER, not passphrase-protected). Refused when its truncated id
 * collides with a key not retired at now (PP_ERR_EXISTS) or the key is
 * already stored. */
int ks_store_import_file(struct ks_store *st, const char *path,
			 uint16_t token_type, int64_t now, int64_t not_before,
			 struct ks_meta *out, char *err, size_t errlen);
/* Same, from bytes in memory (not taken over; not wiped). */
int ks_store_import(struct ks_store *st, const uint8_t *key, size_t len,
		    uint16_t token_type, int64_t now, int64_t not_before,
		    struct ks_meta *out, char *err, size_t errlen);

/* Rewrites a key's metadata with m's state, not-before and retire-after
 * (ids, type, creation time and public key cannot change).
 * PP_ERR_NOT_FOUND when the key is not stored. */
int ks_store_update(struct ks_store *st, const struct ks_meta *m, char *err,
		    size_t errlen);

/* Deletes a key's metadata and private key file. */
int ks_store_delete(struct ks_store *st, const char *id_hex, char *err,
		    size_t errlen);

/* A digest (64 hex digits) of what the store holds: store.json, every
 * metadata file's name and contents, and every key file's name, size, inode
 * and modification time. It changes whenever a key is added, changed or
 * removed, so a server can poll it cheaply. */
int ks_store_fingerprint(struct ks_store *st, char out[65]);

/* Where slow key generation (token type 0xDA7A searches for safe primes:
 * seconds to minutes) says it is still alive: fn is called now and then,
 * from the generating thread, while ks_store_generate (also through
 * rotation and ks_store_ensure_key) runs. NULL: say nothing. */
void ks_store_set_progress(struct ks_store *st, void (*fn)(void *ctx),
			   void *ctx);

/* ---- keys whose private half lives outside the store ----
 * With an external maker set (keys/pkcs11.c), ks_store_generate creates
 * new keys through make (which fills m's public key, m->external and
 * m->p11) and ks_store_import writes the key through put; the store then
 * writes only the metadata. drop destroys the key's objects in the token:
 * it undoes make or put when the key is not kept (a truncated-id
 * collision, a failed write), and ks_store_prune uses it for retired keys;
 * 0 when no object of the key is left, else why says what failed. Types
 * without
 * signer_new_ext in the token-type table keep their key files. */
struct tt_ops;
struct ks_external {
	int (*make)(void *ctx, const struct tt_ops *tt, struct ks_meta *m,
		    char *why, size_t whylen);
	int (*put)(void *ctx, const struct tt_ops *tt,
		   const struct tt_secret *priv, struct ks_meta *m, char *why,
		   size_t whylen);
	int (*drop)(void *ctx, const struct ks_meta *m, char *why,
		    size_t whylen);
	void *ctx;
};
/* x NULL: keys go to key files again. x is copied. */
void ks_store_set_external(struct ks_store *st, const struct ks_external *x);

/* ---- test hook ---- */
/* Replaces key generation (NULL restores it): fn returns a new private key
 * of the type, in its private form. Lets tests force truncated-id
 * collisions. */
void ks_store_set_keygen(struct ks_store *st,
			 int (*fn)(void *ctx, uint16_t token_type,
				   struct tt_secret **out), void *ctx);

#endif
