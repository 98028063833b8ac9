/* Bounded reads and atomic writes of files inside the keys directory. All
 * paths are resolved relative to the directory's descriptor and never
 * follow symlinks, so a renamed or replaced data dir cannot redirect a
 * write. */
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

void (*ks_file_before_rename)(const char *tmp_name);

void ks_report(struct ks_store *st, char *err, size_t errlen,
	       const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->report)
		st->report(st->report_ctx, msg);
	pp_errf(err, errlen, "%s", msg);
}

void ks_buf_free(struct ks_buf *b)
{
	if (b == NULL || b->p == NULL)
		return;
	if (b->secure) {
		sodium_free(b->p);
	} else {
		sodium_memzero(b->p, b->len);
		free(b->p);
	}
	b->p = NULL;
	b->len = 0;
}

static int read_all(int fd, uint8_t *buf, size_t want, size_t *got)
{
	size_t off = 0;

	while (off < want) {
		ssize_t r = read(fd, buf + off, want - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		off += (size_t)r;
	}
	*got = off;
	return 0;
}

int ks_file_read(struct ks_store *st, const char *name, size_t cap,
		 int private_file, struct ks_buf *out, struct stat *sb,
		 char *err, size_t errlen)
{
	struct stat s;
	uint8_t *buf = NULL;
	size_t alloc, got = 0;
	int fd, rc;

	out->p = NULL;
	out->len = 0;
	out->secure = 0;
	fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return PP_ERR_NOT_FOUND;
		pp_errf(err, errlen, "cannot open %s/%s: %s%s", st->dir, name,
			strerror(errno),
			errno == ELOOP ? " (key store files must not be symlinks)" : "");
		return errno == EACCES ? PP_ERR_PERM : PP_ERR_IO;
	}
	if (fstat(fd, &s) != 0) {
		pp_errf(err, errlen, "cannot stat %s/%s: %s", st->dir, name,
			strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	if (!S_ISREG(s.st_mode)) {
		pp_errf(err, errlen, "%s/%s is not a regular file; remove it",
			st->dir, name);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	if (private_file && (s.st_mode & 077) != 0) {
		pp_errf(err, errlen, "%s/%s is mode %04o; run chmod 600 %s/%s",
			st->dir, name, (unsigned)(s.st_mode & 07777), st->dir,
			name);
		rc = PP_ERR_PERM;
		goto cleanup;
	}
	if (s.st_size < 0 || (uint64_t)s.st_size > cap) {
		pp_errf(err, errlen, "%s/%s is larger than %zu bytes; it is not "
			"a key store file", st->dir, name, cap);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	/* one spare byte shows a file that grew past its stat size */
	alloc = (size_t)s.st_size + 1;
	buf = private_file ? sodium_malloc(alloc) : malloc(alloc);
	if (buf == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	if (read_all(fd, buf, alloc, &got) != 0) {
		pp_errf(err, errlen, "cannot read %s/%s: %s", st->dir, name,
			strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	if (got > cap) {
		pp_errf(err, errlen, "%s/%s changed while being read", st->dir,
			name);
		rc = PP_ERR_IO;
		goto cleanup;
	}
	out->p = buf;
	out->len = got;
	out->secure = private_file;
	buf = NULL;
	if (sb)
		*sb = s;
	rc = 0;
cleanup:
	if (buf) {
		struct ks_buf tmp = { buf, alloc, private_file };

		ks_buf_free(&tmp);
	}
	close(fd);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int ks_file_write(struct ks_store *st, const char *name, const uint8_t *data,
		  size_t len, int replace, char *err, size_t errlen)
{
	char tmp[256];
	int fd = -1, rc, tmp_made = 0;

	if (snprintf(tmp, sizeof(tmp), KS_TMP_PREFIX "%s.%ld.%08x", name,
		     (long)getpid(), (unsigned)randombytes_random()) >=
	    (int)sizeof(tmp))
		return PP_ERR_ARG;
	fd = openat(st->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		pp_errf(err, errlen, "cannot create a file in %s: %s", st->dir,
			strerror(errno));
		return PP_ERR_IO;
	}
	tmp_made = 1;
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		pp_errf(err, errlen, "cannot write %s/%s: %s", st->dir, name,
			strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		pp_errf(err, errlen, "cannot write %s/%s: %s", st->dir, name,
			strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	if (ks_file_before_rename)
		ks_file_before_rename(tmp);
	if (replace) {
		rc = renameat(st->dirfd, tmp, st->dirfd, name);
	} else {
		/* link() fails on an existing name, where rename() would not */
		rc = linkat(st->dirfd, tmp, st->dirfd, name, 0);
		if (rc != 0 && errno == EEXIST) {
			pp_errf(err, errlen, "%s/%s already exists", st->dir,
				name);
			rc = PP_ERR_EXISTS;
			goto cleanup;
		}
	}
	if (rc != 0) {
		pp_errf(err, errlen, "cannot replace %s/%s: %s", st->dir, name,
			strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	tmp_made = replace ? 0 : 1;
	if (fsync(st->dirfd) != 0) {
		pp_errf(err, errlen, "cannot sync %s: %s", st->dir,
			strerror(errno));
		rc = PP_ERR_IO;
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlinkat(st->dirfd, tmp, 0);
	return rc;
}

int ks_file_remove(struct ks_store *st, const char *name, char *err,
		   size_t errlen)
{
	if (unlinkat(st->dirfd, name, 0) != 0 && errno != ENOENT) {
		pp_errf(err, errlen, "cannot remove %s/%s: %s", st->dir, name,
			strerror(errno));
		return PP_ERR_IO;
	}
	if (fsync(st->dirfd) != 0) {
		pp_errf(err, errlen, "cannot sync %s: %s", st->dir,
			strerror(errno));
		return PP_ERR_IO;
	}
	return 0;
}
