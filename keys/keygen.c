/* Adding keys to the store: generation and import.
 *
 * A TokenRequest names its key only by the last byte of the key id, so two
 * keys that may both sign or verify must never share that byte: generation
 * draws again until the byte is free among the keys not yet retired, and an
 * import that collides is refused. */
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

/* With at most a few dozen live keys a draw collides with probability
 * < 1/8, so 64 failures in a row mean the id space is exhausted. */
#define KEYGEN_ATTEMPTS 64

void ks_store_set_keygen(struct ks_store *st,
			 int (*fn)(void *ctx, uint16_t token_type,
				   struct tt_secret **out), void *ctx)
{
	st->keygen = fn;
	st->keygen_ctx = ctx;
}

void ks_store_set_progress(struct ks_store *st, void (*fn)(void *ctx),
			   void *ctx)
{
	st->progress = fn;
	st->progress_ctx = ctx;
}

void ks_store_set_external(struct ks_store *st, const struct ks_external *x)
{
	memset(&st->ext, 0, sizeof(st->ext));
	if (x)
		st->ext = *x;
}

/* Whether new keys of tt go to the external maker (a PKCS#11 token). */
static int use_external(const struct ks_store *st, const struct tt_ops *tt)
{
	return st->ext.make != NULL && tt->signer_new_ext != NULL;
}

/* A fresh private key of the type: the test hook, else the type's own
 * generation, with progress where the type reports it. */
static int keygen_one(struct ks_store *st, const struct tt_ops *tt,
		      struct tt_secret **out)
{
	if (st->keygen)
		return st->keygen(st->keygen_ctx, tt->type, out);
	if (tt->generate_progress && st->progress)
		return tt->generate_progress(st->progress, st->progress_ctx,
					     out);
	return tt->generate(out);
}

/* A key still in use at now: neither marked retired nor past a retirement
 * that was decided for it. */
static int key_live(const struct ks_meta *k, int64_t now)
{
	if (k->state == KS_RETIRED)
		return 0;
	if (k->state == KS_RETIRING && k->retire_after != 0 &&
	    k->retire_after <= now)
		return 0;
	return 1;
}

static const struct ks_meta *find_conflict(const struct ks_meta *list,
					   size_t n, const struct ks_meta *m,
					   int64_t now)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (memcmp(list[i].key_id, m->key_id, sizeof(m->key_id)) == 0)
			return &list[i];
		if (key_live(&list[i], now) &&
		    list[i].truncated_id == m->truncated_id)
			return &list[i];
	}
	return NULL;
}

static void meta_init(struct ks_meta *m, uint16_t token_type, int64_t now,
		      int64_t not_before)
{
	memset(m, 0, sizeof(*m));
	m->token_type = token_type;
	m->created = now;
	m->not_before = not_before;
	m->state = not_before > now ? KS_PENDING : KS_ACTIVE;
}

static int check_args(struct ks_store *st, uint16_t token_type, int64_t now,
		      int64_t not_before, char *err, size_t errlen)
{
	if (tt_find(token_type) == NULL) {
		pp_errf(err, errlen, "token type %u (0x%04x) is not served by "
			"this issuer", (unsigned)token_type, (unsigned)token_type);
		return PP_ERR_TOKEN_TYPE;
	}
	if (now < 0 || not_before < 0) {
		pp_errf(err, errlen, "times must not be before 1970");
		return PP_ERR_ARG;
	}
	if (st->sealed && st->kek == NULL) {
		pp_errf(err, errlen, "the key store %s is sealed; give its "
			"key-encryption secret (--key-secret-file, "
			"PPISSUER_KEY_SECRET or PPISSUER_KEY_PASSPHRASE)", st->dir);
		return PP_ERR_CONFIG;
	}
	return 0;
}

int ks_store_generate(struct ks_store *st, uint16_t token_type, int64_t now,
		      int64_t not_before, struct ks_meta *out, char *err,
		      size_t errlen)
{
	const struct tt_ops *tt = tt_find(token_type);
	struct ks_meta *list = NULL, m;
	struct tt_secret *priv = NULL;
	size_t n = 0;
	char lerr[256], why[200] = "";
	int rc, attempt, locked = 0, ext;

	if (out)
		memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	rc = check_args(st, token_type, now, not_before, err, errlen);
	if (rc != 0)
		return rc;
	ext = use_external(st, tt);
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	locked = 1;
	/* entries that fail to parse are reported by the listing itself */
	rc = ks_store_list(st, &list, &n, lerr, sizeof(lerr));
	if (rc != 0) {
		pp_errf(err, errlen, "%s", lerr);
		goto cleanup;
	}
	rc = PP_ERR_EXISTS;
	for (attempt = 0; attempt < KEYGEN_ATTEMPTS; attempt++) {
		tt_secret_free(priv);
		priv = NULL;
		meta_init(&m, token_type, now, not_before);
		if (ext) {
			rc = st->ext.make(st->ext.ctx, tt, &m, why, sizeof(why));
			if (rc == 0)
				ks_meta_set_ids(&m);
		} else {
			rc = keygen_one(st, tt, &priv);
			if (rc == 0 && priv == NULL)
				rc = PP_ERR_INTERNAL;
			if (rc == 0)
				rc = tt->check(priv->p, priv->len, why, sizeof(why));
			if (rc == 0)
				rc = ks_key_meta(tt, priv, &m);
		}
		if (rc != 0) {
			pp_errf(err, errlen, "key generation failed: %s",
				why[0] ? why : pp_err_str(rc));
			goto cleanup;
		}
		if (find_conflict(list, n, &m, now) == NULL)
			break;
		if (ext && st->ext.drop)
			(void)st->ext.drop(st->ext.ctx, &m, NULL, 0);
		rc = PP_ERR_EXISTS;
	}
	if (rc != 0) {
		pp_errf(err, errlen, "no free truncated key id after %d keys; "
			"retire and prune old keys (ppissuer keys prune)",
			KEYGEN_ATTEMPTS);
		goto cleanup;
	}
	if (ext) {
		rc = ks_meta_write(st, &m, 0, err, errlen);
		if (rc != 0 && st->ext.drop)
			(void)st->ext.drop(st->ext.ctx, &m, NULL, 0);
	} else {
		rc = ks_key_store(st, priv, &m, err, errlen);
	}
	if (rc == 0 && out)
		*out = m;
cleanup:
	tt_secret_free(priv);
	free(list);
	if (locked)
		ks_store_unlock(st);
	return rc;
}

int ks_store_import(struct ks_store *st, const uint8_t *key, size_t len,
		    uint16_t token_type, int64_t now, int64_t not_before,
		    struct ks_meta *out, char *err, size_t errlen)
{
	const struct tt_ops *tt = tt_find(token_type);
	struct ks_meta *list = NULL, m;
	const struct ks_meta *other;
	struct tt_secret *priv = NULL;
	size_t n = 0;
	char lerr[256], why[200] = "";
	int rc, locked = 0;

	if (out)
		memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	rc = check_args(st, token_type, now, not_before, err, errlen);
	if (rc != 0)
		return rc;
	meta_init(&m, token_type, now, not_before);
	rc = tt->import(key, len, &priv, why, sizeof(why));
	if (rc == PP_ERR_CORRUPT) {
		pp_errf(err, errlen, "%s", why);
		goto cleanup;
	}
	if (rc == 0)
		rc = ks_key_meta(tt, priv, &m);
	if (rc != 0) {
		pp_errf(err, errlen, "cannot import: %s", why[0] ? why :
			pp_err_str(rc));
		goto cleanup;
	}
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		goto cleanup;
	locked = 1;
	rc = ks_store_list(st, &list, &n, lerr, sizeof(lerr));
	if (rc != 0) {
		pp_errf(err, errlen, "%s", lerr);
		goto cleanup;
	}
	other = find_conflict(list, n, &m, now);
	if (other && memcmp(other->key_id, m.key_id, sizeof(m.key_id)) == 0) {
		pp_errf(err, errlen, "key %s is already in the store", m.id_hex);
		rc = PP_ERR_EXISTS;
		goto cleanup;
	}
	if (other) {
		pp_errf(err, errlen, "the key's truncated id 0x%02x is used by "
			"key %.16s (%s); retire and prune that key first, or "
			"import another key", m.truncated_id, other->id_hex,
			ks_state_name(other->state));
		rc = PP_ERR_EXISTS;
		goto cleanup;
	}
	if (st->ext.put && tt->signer_new_ext) {
		/* into the token; the store keeps the metadata only */
		rc = st->ext.put(st->ext.ctx, tt, priv, &m, why, sizeof(why));
		if (rc != 0) {
			pp_errf(err, errlen, "cannot import into the token: %s",
				why[0] ? why : pp_err_str(rc));
			goto cleanup;
		}
		rc = ks_meta_write(st, &m, 0, err, errlen);
		if (rc != 0 && st->ext.drop)
			(void)st->ext.drop(st->ext.ctx, &m, NULL, 0);
	} else {
		rc = ks_key_store(st, priv, &m, err, errlen);
	}
	if (rc == 0 && out)
		*out = m;
cleanup:
	tt_secret_free(priv);
	free(list);
	if (locked)
		ks_store_unlock(st);
	return rc;
}

int ks_store_import_file(struct ks_store *st, const char *path,
			 uint16_t token_type, int64_t now, int64_t not_before,
			 struct ks_meta *out, char *err, size_t errlen)
{
	struct stat sb;
	uint8_t *buf = NULL;
	ssize_t got;
	size_t off = 0;
	int fd, rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pp_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return PP_ERR_IO;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > KS_KEYFILE_CAP) {
		pp_errf(err, errlen, "%s is not a key file (not a regular file, "
			"or larger than %d bytes)", path, KS_KEYFILE_CAP);
		rc = PP_ERR_ARG;
		goto cleanup;
	}
	buf = sodium_malloc(KS_KEYFILE_CAP + 1);
	if (buf == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (;;) {
		got = read(fd, buf + off, KS_KEYFILE_CAP + 1 - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		off += (size_t)got;
		if (off > KS_KEYFILE_CAP)
			break;
	}
	if (got < 0 || off > KS_KEYFILE_CAP) {
		pp_errf(err, errlen, "cannot read %s: %s", path,
			got < 0 ? strerror(errno) : "file too large");
		rc = PP_ERR_IO;
		goto cleanup;
	}
	rc = ks_store_import(st, buf, off, token_type, now, not_before, out,
			     err, errlen);
cleanup:
	sodium_free(buf);
	close(fd);
	return rc;
}
