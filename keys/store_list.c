/* Reading and changing the set of keys: listing, lookup by id, metadata
 * updates, deletion, and the fingerprint that tells a server the store
 * changed. */
#include <dirent.h>
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

#define LIST_CAP 4096   /* keys; far beyond any sane rotation history */
#define NAME_CAP 128

/* Directory entry names, sorted. */
struct names {
	char **v;
	size_t n;
};

static void names_free(struct names *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_read(struct ks_store *st, struct names *ns, char *err,
		      size_t errlen)
{
	struct dirent *de;
	size_t cap = 0;
	DIR *d = NULL;
	int fd, rc = 0;

	ns->v = NULL;
	ns->n = 0;
	fd = dup(st->dirfd);
	if (fd >= 0)
		d = fdopendir(fd);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		pp_errf(err, errlen, "cannot read %s: %s", st->dir,
			strerror(errno));
		return PP_ERR_IO;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= NAME_CAP)
			continue;
		if (ns->n == cap) {
			char **nv;

			if (cap >= 4 * LIST_CAP) {
				pp_errf(err, errlen, "%s holds too many files",
					st->dir);
				rc = PP_ERR_IO;
				break;
			}
			cap = cap ? 2 * cap : 16;
			nv = realloc(ns->v, cap * sizeof(*nv));
			if (nv == NULL) {
				rc = PP_ERR_NOMEM;
				break;
			}
			ns->v = nv;
		}
		ns->v[ns->n] = strdup(de->d_name);
		if (ns->v[ns->n] == NULL) {
			rc = PP_ERR_NOMEM;
			break;
		}
		ns->n++;
	}
	closedir(d);
	if (rc != 0) {
		names_free(ns);
		return rc;
	}
	if (ns->n > 1)
		qsort(ns->v, ns->n, sizeof(*ns->v), cmp_name);
	return 0;
}

static int cmp_meta(const void *a, const void *b)
{
	const struct ks_meta *x = a, *y = b;

	if (x->token_type != y->token_type)
		return x->token_type < y->token_type ? -1 : 1;
	if (x->not_before != y->not_before)
		return x->not_before < y->not_before ? -1 : 1;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id_hex, y->id_hex);
}

/* The id of a "<id>.key" file name, like ks_meta_name_parse. */
static int key_name_parse(const char *name, char id_hex[65])
{
	char meta[NAME_CAP];

	if (strlen(name) != 64 + 4 || strcmp(name + 64, ".key") != 0)
		return 0;
	memcpy(meta, name, 64);
	strcpy(meta + 64, ".json");
	return ks_meta_name_parse(meta, id_hex);
}

static int failed_add(struct ks_failed_id **v, size_t *n, const char *id)
{
	struct ks_failed_id *nv;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i].id_hex, id) == 0)
			return 0;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (nv == NULL)
		return PP_ERR_NOMEM;
	memset(&nv[*n], 0, sizeof(nv[*n]));
	memcpy(nv[*n].id_hex, id, 65);
	if (sodium_hex2bin(nv[*n].key_id, sizeof(nv[*n].key_id), id, 64, NULL,
			   NULL, NULL) != 0)
		return PP_ERR_INTERNAL;
	*v = nv;
	(*n)++;
	return 0;
}

/* Whether names (sorted) holds name. */
static int names_has(const struct names *ns, const char *name)
{
	size_t lo = 0, hi = ns->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ns->v[mid], name);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int ks_store_list_all(struct ks_store *st, struct ks_meta **out, size_t *n,
		      struct ks_failed_id **failed, size_t *n_failed,
		      char *err, size_t errlen)
{
	struct names ns;
	struct ks_meta *v = NULL;
	struct ks_failed_id *fv = NULL;
	size_t i, cnt = 0, nf = 0;
	char id[65];
	int rc;

	*out = NULL;
	*n = 0;
	if (failed) {
		*failed = NULL;
		*n_failed = 0;
	}
	if (err && errlen)
		err[0] = '\0';
	rc = names_read(st, &ns, err, errlen);
	if (rc != 0)
		return rc;
	for (i = 0; i < ns.n; i++) {
		char why[300] = "", meta[NAME_CAP];

		/* a private key without its metadata: a half-copied or
		 * half-restored store; the key exists but cannot be used */
		if (failed && key_name_parse(ns.v[i], id)) {
			ks_meta_name(id, meta, sizeof(meta));
			if (!names_has(&ns, meta)) {
				ks_report(st, err, errlen, "key %.16s has a private "
					  "key file but no metadata file %s",
					  id, meta);
				rc = failed_add(&fv, &nf, id);
				if (rc != 0)
					goto cleanup;
			}
			continue;
		}
		if (!ks_meta_name_parse(ns.v[i], id))
			continue;
		if (v == NULL) {
			v = calloc(ns.n < LIST_CAP ? ns.n : LIST_CAP, sizeof(*v));
			if (v == NULL) {
				rc = PP_ERR_NOMEM;
				goto cleanup;
			}
		}
		if (cnt == LIST_CAP) {
			ks_report(st, err, errlen, "%s holds more than %d keys; "
				  "the rest are ignored", st->dir, LIST_CAP);
			break;
		}
		rc = ks_meta_read(st, id, &v[cnt], why, sizeof(why));
		if (rc == PP_ERR_NOMEM)
			goto cleanup;
		if (rc != 0) {
			/* skip this key, keep listing the others */
			ks_report(st, err, errlen, "skipping key %.16s: %s", id,
				  why[0] ? why : pp_err_str(rc));
			rc = failed ? failed_add(&fv, &nf, id) : 0;
			if (rc != 0)
				goto cleanup;
			continue;
		}
		cnt++;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_meta);
	if (cnt > 0) {
		*out = v;
		v = NULL;
	}
	*n = cnt;
	if (failed) {
		*failed = fv;
		*n_failed = nf;
		fv = NULL;
	}
cleanup:
	free(v);
	free(fv);
	names_free(&ns);
	return rc;
}

int ks_store_list(struct ks_store *st, struct ks_meta **out, size_t *n,
		  char *err, size_t errlen)
{
	return ks_store_list_all(st, out, n, NULL, NULL, err, errlen);
}

int ks_store_find(struct ks_store *st, const char *id, struct ks_meta *out,
		  char *err, size_t errlen)
{
	struct ks_meta *list = NULL;
	char want[65], lerr[8];
	size_t i, n = 0, len = strlen(id), hits = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (len < 4 || len > 64) {
		pp_errf(err, errlen, "'%s' is not a key id (give at least 4 of "
			"its hex digits; see ppissuer keys list)", id);
		return PP_ERR_ARG;
	}
	for (i = 0; i < len; i++) {
		char c = id[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			pp_errf(err, errlen, "'%s' is not a key id (hex digits "
				"expected)", id);
			return PP_ERR_ARG;
		}
		want[i] = c;
	}
	want[len] = '\0';
	/* unreadable entries are reported by the listing's reporter */
	rc = ks_store_list(st, &list, &n, lerr, sizeof(lerr));
	if (rc != 0) {
		pp_errf(err, errlen, "cannot list %s: %s", st->dir,
			pp_err_str(rc));
		return rc;
	}
	for (i = 0; i < n; i++) {
		if (strncmp(list[i].id_hex, want, len) == 0) {
			if (hits++ == 0)
				*out = list[i];
		}
	}
	free(list);
	if (hits == 1)
		return 0;
	memset(out, 0, sizeof(*out));
	if (hits == 0) {
		pp_errf(err, errlen, "no key %s in %s (see ppissuer keys list)",
			id, st->dir);
		return PP_ERR_NOT_FOUND;
	}
	pp_errf(err, errlen, "'%s' matches %zu keys; give more of the id", id,
		hits);
	return PP_ERR_ARG;
}

int ks_store_update(struct ks_store *st, const struct ks_meta *m, char *err,
		    size_t errlen)
{
	struct ks_meta cur;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = ks_meta_read(st, m->id_hex, &cur, err, errlen);
	if (rc == PP_ERR_NOT_FOUND)
		pp_errf(err, errlen, "no key %s in %s", m->id_hex, st->dir);
	if (rc != 0)
		goto cleanup;
	cur.state = m->state;
	cur.not_before = m->not_before;
	cur.retire_after = m->retire_after;
	rc = ks_meta_write(st, &cur, 1, err, errlen);
cleanup:
	ks_store_unlock(st);
	return rc;
}

int ks_store_delete(struct ks_store *st, const char *id_hex, char *err,
		    size_t errlen)
{
	char name[NAME_CAP], id[65];
	int rc;

	if (err && errlen)
		err[0] = '\0';
	ks_meta_name(id_hex, name, sizeof(name));
	if (!ks_meta_name_parse(name, id)) {
		pp_errf(err, errlen, "'%s' is not a full key id", id_hex);
		return PP_ERR_ARG;
	}
	rc = ks_store_lock(st, err, errlen);
	if (rc != 0)
		return rc;
	if (faccessat(st->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
		pp_errf(err, errlen, "no key %s in %s", id_hex, st->dir);
		rc = PP_ERR_NOT_FOUND;
		goto cleanup;
	}
	/* metadata first: a crash in between leaves an unlisted key file,
	 * never a listed key without its private half */
	rc = ks_file_remove(st, name, err, errlen);
	if (rc != 0)
		goto cleanup;
	ks_key_name(id_hex, name, sizeof(name));
	rc = ks_file_remove(st, name, err, errlen);
cleanup:
	ks_store_unlock(st);
	return rc;
}

static void hash_u64(crypto_hash_sha256_state *h, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	crypto_hash_sha256_update(h, b, sizeof(b));
}

int ks_store_fingerprint(struct ks_store *st, char out[65])
{
	crypto_hash_sha256_state h;
	uint8_t digest[crypto_hash_sha256_BYTES];
	struct names ns;
	size_t i, len;
	int rc;

	out[0] = '\0';
	rc = names_read(st, &ns, NULL, 0);
	if (rc != 0)
		return rc;
	crypto_hash_sha256_init(&h);
	for (i = 0; i < ns.n; i++) {
		const char *name = ns.v[i];
		struct stat sb;
		struct ks_buf b;

		len = strlen(name);
		if (len > 5 && strcmp(name + len - 5, ".json") == 0) {
			if (ks_file_read(st, name, KS_META_CAP, 0, &b, NULL,
					 NULL, 0) != 0)
				continue;
			crypto_hash_sha256_update(&h, (const uint8_t *)name,
						  len + 1);
			hash_u64(&h, b.len);
			crypto_hash_sha256_update(&h, b.p, b.len);
			ks_buf_free(&b);
		} else if (len > 4 && strcmp(name + len - 4, ".key") == 0) {
			if (fstatat(st->dirfd, name, &sb,
				    AT_SYMLINK_NOFOLLOW) != 0)
				continue;
			crypto_hash_sha256_update(&h, (const uint8_t *)name,
						  len + 1);
			hash_u64(&h, (uint64_t)sb.st_size);
			hash_u64(&h, (uint64_t)sb.st_ino);
			hash_u64(&h, (uint64_t)sb.st_mode);
			hash_u64(&h, (uint64_t)sb.st_mtim.tv_sec);
			hash_u64(&h, (uint64_t)sb.st_mtim.tv_nsec);
		}
	}
	names_free(&ns);
	crypto_hash_sha256_final(&h, digest);
	sodium_bin2hex(out, 65, digest, sizeof(digest));
	return 0;
}
