/* The client registry: attesters (who may ask for tokens), origins (who may
 * redeem them) and monitors (who may scrape /metrics when that is
 * restricted), stored in <data-dir>/clients.json.
 *
 * Each client has a name, a role, limits, an optional client-certificate
 * mapping and a bearer secret of which only a hash is stored. Requests use
 * an immutable, reference-counted snapshot of the registry (struct
 * cl_registry) that a reload swaps whole (cl_current_swap), like the key set.
 *
 * WARNING: a secret text from cl_secret_new() is shown to the operator once
 * and must never be logged or stored; wipe it after printing. */
#ifndef PP_CLIENTS_H
#define PP_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#define CL_FILE "clients.json"
#define CL_LOCK_FILE ".clients.lock"
#define CL_NAME_MAX 64            /* [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
#define CL_SUBJECT_MAX 1024       /* a certificate subject DN string */
#define CL_MAX_CLIENTS 4096
#define CL_FILE_CAP (4u << 20)    /* bytes; a client entry is ~400 */
#define CL_HASH_LEN 32
#define CL_SECRET_BYTES 32
#define CL_SECRET_PREFIX "ppissuer_"
/* prefix + 43 unpadded base64url characters for 32 bytes */
#define CL_SECRET_TEXT_LEN (sizeof(CL_SECRET_PREFIX) - 1 + 43)
#define CL_FP_LEN 96              /* fingerprint text incl. NUL */

enum cl_role {
	CL_ROLE_ATTESTER = 1,
	CL_ROLE_ORIGIN = 2,
	CL_ROLE_MONITOR = 3,
};

struct cl_client {
	char name[CL_NAME_MAX + 1];
	enum cl_role role;
	uint8_t secret_hash[CL_HASH_LEN];
	double rate;                /* requests per second; 0 = unlimited */
	unsigned long burst;        /* 0 = derived from rate */
	unsigned long quota;        /* requests per UTC day; 0 = unlimited */
	char *cert_subject;         /* client-certificate subject DN, or NULL */
	int has_cert_spki;
	uint8_t cert_spki[32];      /* SHA-256 of the certificate's SPKI */
	int64_t created;            /* unix seconds */
	int64_t revoked;            /* unix seconds; 0 = active */
};

struct cl_registry;

/* Loads <data_dir>/clients.json. A missing file is an empty registry. A file
 * that group or others can access is refused (PP_ERR_PERM, err names the
 * chmod), as is one that is malformed (PP_ERR_CORRUPT) or too large. The
 * caller owns one reference. */
int cl_registry_load(const char *data_dir, struct cl_registry **out,
		     char *err, size_t errlen);
/* An empty registry (one reference). */
int cl_registry_new(struct cl_registry **out);
/* Writes r to <data_dir>/clients.json atomically (temp file O_EXCL 0600,
 * fsync, rename, directory fsync); creates data_dir (0700) if missing. */
int cl_registry_save(const char *data_dir, const struct cl_registry *r,
		     char *err, size_t errlen);

struct cl_registry *cl_registry_ref(struct cl_registry *r);
void cl_registry_unref(struct cl_registry *r);

size_t cl_registry_count(const struct cl_registry *r);
const struct cl_client *cl_registry_at(const struct cl_registry *r, size_t i);
const struct cl_client *cl_registry_find(const struct cl_registry *r,
					 const char *name);
/* The fingerprint of the file this snapshot was read from ("" if built in
 * memory, "none" if the file did not exist). */
const char *cl_registry_fingerprint(const struct cl_registry *r);

/* Editing, for the CLI only: r must not be shared (one reference).
 * cl_registry_add copies c (and its subject) and fails with PP_ERR_EXISTS
 * when the name is taken, PP_ERR_ARG when c is invalid. */
int cl_registry_add(struct cl_registry *r, const struct cl_client *c);
struct cl_client *cl_registry_find_mut(struct cl_registry *r, const char *name);
/* Replaces c's certificate subject (NULL clears it). */
int cl_client_set_subject(struct cl_client *c, const char *subject);

/* Authenticates a presented secret text: 0 and *out for an active client,
 * PP_ERR_STATE when the secret belongs to a revoked client, PP_ERR_AUTH
 * otherwise. Every entry is compared, in constant time per entry. */
int cl_registry_authenticate(const struct cl_registry *r, const char *secret,
			     size_t len, const struct cl_client **out);
/* Finds the client a verified client certificate maps to, by SPKI hash
 * first, then by subject (either may be NULL). Same results as above. */
int cl_registry_match_cert(const struct cl_registry *r,
			   const uint8_t spki_sha256[32], const char *subject,
			   const struct cl_client **out);

/* A fresh secret: 32 random bytes as CL_SECRET_PREFIX + base64url (text,
 * NUL-terminated), and the hash to store. */
int cl_secret_new(char text[CL_SECRET_TEXT_LEN + 1],
		  uint8_t hash[CL_HASH_LEN]);

/* Cheap change detection: identity, size and times of clients.json, as
 * text ("none" when missing). Compare with cl_registry_fingerprint(). */
int cl_file_fingerprint(const char *data_dir, char out[CL_FP_LEN]);

/* Serializes cross-process edits of the registry: an exclusive lock on
 * <data_dir>/.clients.lock; *fd is closed by cl_unlock. */
int cl_lock(const char *data_dir, int *fd, char *err, size_t errlen);
void cl_unlock(int fd);

int cl_name_valid(const char *name);
/* "attester", "origin", "monitor". */
const char *cl_role_name(enum cl_role role);
int cl_role_parse(const char *s, enum cl_role *out);
/* "10", "10/s", "600/m", "600/min", "36000/h": requests per second. */
int cl_rate_parse(const char *s, double *out);
/* "5000", "5000/day", "5000/d". */
int cl_quota_parse(const char *s, unsigned long *out);
/* 64 hex digits to 32 bytes (either case). */
int cl_hex32_parse(const char *s, uint8_t out[32]);

/* The snapshot shared by request threads. */
struct cl_current;
int cl_current_new(struct cl_registry *initial, struct cl_current **out);
void cl_current_free(struct cl_current *c);
/* A new reference to the current registry (never NULL). */
struct cl_registry *cl_current_get(struct cl_current *c);
/* Installs r, taking over the caller's reference. */
void cl_current_swap(struct cl_current *c, struct cl_registry *r);

#endif
