/* The client registry on disk: <data-dir>/clients.json, read with a size cap
 * and a permission check, written atomically. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/clients.h"
#include "issuer/clients_int.h"

#define CL_FORMAT_VERSION 1

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? PP_ERR_ARG : 0;
}

static void fingerprint_of(const struct stat *sb, char out[CL_FP_LEN])
{
	snprintf(out, CL_FP_LEN, "%llx:%llx:%llx:%lld.%09ld:%lld.%09ld",
		 (unsigned long long)sb->st_dev, (unsigned long long)sb->st_ino,
		 (unsigned long long)sb->st_size, (long long)sb->st_mtim.tv_sec,
		 sb->st_mtim.tv_nsec, (long long)sb->st_ctim.tv_sec,
		 sb->st_ctim.tv_nsec);
}

int cl_file_fingerprint(const char *data_dir, char out[CL_FP_LEN])
{
	char path[4096];
	struct stat sb;

	snprintf(out, CL_FP_LEN, "none");
	if (path_join(path, sizeof(path), data_dir, CL_FILE) != 0)
		return PP_ERR_ARG;
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : PP_ERR_IO;
	fingerprint_of(&sb, out);
	return 0;
}

static int read_capped(int fd, size_t size, char **out)
{
	char *buf = malloc(size + 1);
	size_t got = 0;

	*out = NULL;
	if (!buf)
		return PP_ERR_NOMEM;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != size) {
		free(buf);
		return PP_ERR_IO;
	}
	buf[got] = '\0';
	*out = buf;
	return 0;
}

static int get_hex32(json_t *o, const char *field, int required, uint8_t out[32],
		     int *present)
{
	json_t *v = json_object_get(o, field);

	*present = 0;
	if (!v)
		return required ? PP_ERR_CORRUPT : 0;
	if (!json_is_string(v) || cl_hex32_parse(json_string_value(v), out) != 0)
		return PP_ERR_CORRUPT;
	*present = 1;
	return 0;
}

static int get_uint(json_t *o, const char *field, long long max,
		    unsigned long long *out)
{
	json_t *v = json_object_get(o, field);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max)
		return PP_ERR_CORRUPT;
	*out = (unsigned long long)json_integer_value(v);
	return 0;
}

static int decode_client(json_t *o, struct cl_client *c, const char **bad)
{
	json_t *v;
	unsigned long long u;
	int present;

	memset(c, 0, sizeof(*c));
	*bad = "name";
	v = json_object_get(o, "name");
	if (!json_is_string(v) || !cl_name_valid(json_string_value(v)))
		return PP_ERR_CORRUPT;
	memcpy(c->name, json_string_value(v), strlen(json_string_value(v)) + 1);
	*bad = "role";
	if (cl_role_parse(json_string_value(json_object_get(o, "role")), &c->role) != 0)
		return PP_ERR_CORRUPT;
	*bad = "secret_blake2b";
	if (get_hex32(o, "secret_blake2b", 1, c->secret_hash, &present) != 0)
		return PP_ERR_CORRUPT;
	*bad = "rate";
	v = json_object_get(o, "rate");
	if (v && !json_is_number(v))
		return PP_ERR_CORRUPT;
	c->rate = v ? json_number_value(v) : 0;
	*bad = "burst";
	if (get_uint(o, "burst", 1000000000ll, &u) != 0)
		return PP_ERR_CORRUPT;
	c->burst = (unsigned long)u;
	*bad = "quota";
	if (get_uint(o, "quota", 1000000000000ll, &u) != 0)
		return PP_ERR_CORRUPT;
	c->quota = (unsigned long)u;
	*bad = "created";
	if (get_uint(o, "created", INT64_MAX, &u) != 0)
		return PP_ERR_CORRUPT;
	c->created = (int64_t)u;
	*bad = "revoked";
	if (get_uint(o, "revoked", INT64_MAX, &u) != 0)
		return PP_ERR_CORRUPT;
	c->revoked = (int64_t)u;
	*bad = "cert_spki_sha256";
	if (get_hex32(o, "cert_spki_sha256", 0, c->cert_spki, &c->has_cert_spki) != 0)
		return PP_ERR_CORRUPT;
	*bad = "cert_subject";
	v = json_object_get(o, "cert_subject");
	if (v && (!json_is_string(v) ||
		  cl_client_set_subject(c, json_string_value(v)) != 0))
		return PP_ERR_CORRUPT;
	*bad = "limits";
	return cl_client_check(c) == 0 ? 0 : PP_ERR_CORRUPT;
}

static int decode(const char *text, size_t len, struct cl_registry *r,
		  const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *arr, *item;
	size_t i;
	int rc = PP_ERR_CORRUPT;

	if (!root) {
		pp_errf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
		return PP_ERR_CORRUPT;
	}
	arr = json_object_get(root, "clients");
	if (!json_is_object(root) ||
	    json_integer_value(json_object_get(root, "version")) != CL_FORMAT_VERSION ||
	    !json_is_array(arr)) {
		pp_errf(err, errlen, "%s: expected {\"version\": %d, \"clients\": [...]}",
		     path, CL_FORMAT_VERSION);
		goto cleanup;
	}
	json_array_foreach(arr, i, item) {
		struct cl_client c;
		const char *bad = "";

		memset(&c, 0, sizeof(c));
		if (!json_is_object(item) || decode_client(item, &c, &bad) != 0) {
			free(c.cert_subject);
			pp_errf(err, errlen, "%s: client #%zu: missing or invalid '%s'",
			     path, i + 1, bad);
			goto cleanup;
		}
		rc = cl_registry_add(r, &c);
		free(c.cert_subject);
		sodium_memzero(&c, sizeof(c));
		if (rc) {
			pp_errf(err, errlen, "%s: client #%zu: %s", path, i + 1,
			     rc == PP_ERR_EXISTS ? "duplicate name" : pp_err_str(rc));
			rc = rc == PP_ERR_NOMEM ? rc : PP_ERR_CORRUPT;
			goto cleanup;
		}
	}
	rc = 0;
cleanup:
	json_decref(root);
	return rc;
}

int cl_registry_load(const char *data_dir, struct cl_registry **out,
		     char *err, size_t errlen)
{
	struct cl_registry *r = NULL;
	char path[4096], *text = NULL;
	struct stat sb;
	int fd = -1, rc;

	*out = NULL;
	if (path_join(path, sizeof(path), data_dir, CL_FILE) != 0) {
		pp_errf(err, errlen, "data dir path too long");
		return PP_ERR_ARG;
	}
	rc = cl_registry_new(&r);
	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			snprintf(r->fingerprint, sizeof(r->fingerprint), "none");
			goto done;
		}
		pp_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		pp_errf(err, errlen, "%s is not a regular file", path);
		rc = PP_ERR_IO;
		goto cleanup;
	}
	if (sb.st_mode & 077) {
		pp_errf(err, errlen, "%s is mode %04o; run chmod 600 %s", path,
		     (unsigned)(sb.st_mode & 07777), path);
		rc = PP_ERR_PERM;
		goto cleanup;
	}
	if ((unsigned long long)sb.st_size > CL_FILE_CAP) {
		pp_errf(err, errlen, "%s is larger than %u bytes", path, CL_FILE_CAP);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	fingerprint_of(&sb, r->fingerprint);
	rc = read_capped(fd, (size_t)sb.st_size, &text);
	if (rc) {
		pp_errf(err, errlen, "cannot read %s", path);
		goto cleanup;
	}
	rc = decode(text, (size_t)sb.st_size, r, path, err, errlen);
	if (rc)
		goto cleanup;
done:
	*out = r;
	r = NULL;
cleanup:
	if (fd >= 0)
		close(fd);
	free(text);
	cl_registry_unref(r);
	return rc;
}

static json_t *encode_client(const struct cl_client *c)
{
	char hex[65];
	json_t *o = json_object();

	if (!o)
		return NULL;
	sodium_bin2hex(hex, sizeof(hex), c->secret_hash, sizeof(c->secret_hash));
	if (json_object_set_new(o, "name", json_string(c->name)) ||
	    json_object_set_new(o, "role", json_string(cl_role_name(c->role))) ||
	    json_object_set_new(o, "secret_blake2b", json_string(hex)) ||
	    json_object_set_new(o, "rate", json_real(c->rate)) ||
	    json_object_set_new(o, "burst", json_integer((json_int_t)c->burst)) ||
	    json_object_set_new(o, "quota", json_integer((json_int_t)c->quota)) ||
	    json_object_set_new(o, "created", json_integer(c->created)) ||
	    json_object_set_new(o, "revoked", json_integer(c->revoked)))
		goto fail;
	if (c->cert_subject &&
	    json_object_set_new(o, "cert_subject", json_string(c->cert_subject)))
		goto fail;
	if (c->has_cert_spki) {
		sodium_bin2hex(hex, sizeof(hex), c->cert_spki, sizeof(c->cert_spki));
		if (json_object_set_new(o, "cert_spki_sha256", json_string(hex)))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return PP_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_atomic(const char *data_dir, const char *text, size_t len,
			char *err, size_t errlen)
{
	char path[4096], tmp[4096], rnd[17];
	uint8_t rb[8];
	int fd = -1, dfd = -1, rc = PP_ERR_IO;

	randombytes_buf(rb, sizeof(rb));
	sodium_bin2hex(rnd, sizeof(rnd), rb, sizeof(rb));
	if (path_join(path, sizeof(path), data_dir, CL_FILE) != 0 ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp-%s", data_dir, CL_FILE, rnd) >=
		    (int)sizeof(tmp)) {
		pp_errf(err, errlen, "data dir path too long");
		return PP_ERR_ARG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		pp_errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return PP_ERR_IO;
	}
	if (write_all(fd, text, len) != 0 || fsync(fd) != 0) {
		pp_errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (close(fd) != 0) {
		fd = -1;
		pp_errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		pp_errf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto cleanup;
	}
	tmp[0] = '\0';
	/* The rename is durable only once the directory entry is on disk. */
	dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		pp_errf(err, errlen, "cannot sync directory %s: %s", data_dir, strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp[0])
		unlink(tmp);
	return rc;
}

int cl_registry_save(const char *data_dir, const struct cl_registry *r,
		     char *err, size_t errlen)
{
	json_t *root = json_object(), *arr = json_array();
	char *text = NULL;
	size_t i;
	int rc = PP_ERR_NOMEM;

	if (!root || !arr)
		goto cleanup;
	for (i = 0; i < r->n; i++) {
		json_t *o = encode_client(&r->clients[i]);

		if (!o || json_array_append_new(arr, o) != 0)
			goto cleanup;
	}
	if (json_object_set_new(root, "version", json_integer(CL_FORMAT_VERSION)) ||
	    json_object_set(root, "clients", arr))
		goto cleanup;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		goto cleanup;
	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
		pp_errf(err, errlen, "cannot create %s: %s", data_dir, strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	rc = write_atomic(data_dir, text, strlen(text), err, errlen);
cleanup:
	if (rc == PP_ERR_NOMEM)
		pp_errf(err, errlen, "out of memory");
	free(text);
	json_decref(arr);
	json_decref(root);
	return rc;
}

int cl_lock(const char *data_dir, int *fd, char *err, size_t errlen)
{
	char path[4096];
	int f;

	*fd = -1;
	if (path_join(path, sizeof(path), data_dir, CL_LOCK_FILE) != 0) {
		pp_errf(err, errlen, "data dir path too long");
		return PP_ERR_ARG;
	}
	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
		pp_errf(err, errlen, "cannot create %s: %s", data_dir, strerror(errno));
		return PP_ERR_IO;
	}
	f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0) {
		pp_errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return PP_ERR_IO;
	}
	while (flock(f, LOCK_EX) != 0) {
		if (errno != EINTR) {
			pp_errf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
			close(f);
			return PP_ERR_IO;
		}
	}
	*fd = f;
	return 0;
}

void cl_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing drops the flock */
}
