/* The gate's secret: 32 random bytes in <data_dir>/gate.secret. Challenges
 * and session cookies are HMACs under it, so several gate instances that
 * share the file accept each other's challenges and cookies. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "issuer/gate.h"

static int secret_create(const char *path, char *err, size_t errlen)
{
	uint8_t buf[GATE_SECRET_LEN];
	char tmp[4200];
	int fd = -1, rc = PP_ERR_IO;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		pp_errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	randombytes_buf(buf, sizeof(buf));
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fsync(fd) != 0) {
		pp_errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	/* a second gate starting at once keeps the first file */
	if (link(tmp, path) != 0 && errno != EEXIST) {
		pp_errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	sodium_memzero(buf, sizeof(buf));
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	return rc;
}

int gate_secret_load(const char *data_dir, uint8_t **out, char *err,
		     size_t errlen)
{
	char path[4096];
	struct stat st;
	uint8_t *s = NULL;
	int fd = -1, rc = PP_ERR_IO;
	ssize_t n;

	*out = NULL;
	if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
		pp_errf(err, errlen, "cannot create %s: %s", data_dir, strerror(errno));
		return PP_ERR_IO;
	}
	snprintf(path, sizeof(path), "%s/gate.secret", data_dir);
	if (access(path, F_OK) != 0) {
		rc = secret_create(path, err, errlen);
		if (rc)
			return rc;
		rc = PP_ERR_IO;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		pp_errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (st.st_mode & 077) {
		pp_errf(err, errlen, "%s is mode 0%03o; run chmod 600 %s", path,
			(unsigned)(st.st_mode & 0777), path);
		rc = PP_ERR_PERM;
		goto cleanup;
	}
	if (st.st_size != GATE_SECRET_LEN) {
		pp_errf(err, errlen, "%s must hold exactly %d bytes; remove it to "
			"make a new one (sessions and challenges then restart)",
			path, GATE_SECRET_LEN);
		rc = PP_ERR_CORRUPT;
		goto cleanup;
	}
	s = sodium_malloc(GATE_SECRET_LEN);
	if (!s) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	n = read(fd, s, GATE_SECRET_LEN);
	if (n != GATE_SECRET_LEN) {
		pp_errf(err, errlen, "cannot read %s", path);
		goto cleanup;
	}
	sodium_mprotect_readonly(s);
	*out = s;
	s = NULL;
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	sodium_free(s);
	return rc;
}

void gate_secret_free(uint8_t *secret)
{
	sodium_free(secret);
}
