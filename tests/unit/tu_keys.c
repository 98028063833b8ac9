#include "tu_keys.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>

char *tu_keys_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	p = malloc(strlen(base) + sizeof("/pp-keys-XXXXXX"));
	cr_assert(p != NULL);
	sprintf(p, "%s/pp-keys-XXXXXX", base);
	cr_assert(mkdtemp(p) != NULL, "mkdtemp failed");
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void tu_keys_rmrf(char *path)
{
	if (path == NULL)
		return;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

void tu_keys_data_path(const char *rel, char *buf, size_t cap)
{
	const char *src = getenv("PP_SRC");

	snprintf(buf, cap, "%s/tests/data/%s", src && *src ? src : ".", rel);
}

EVP_PKEY *tu_keys_pem(const char *rel)
{
	char path[4096];
	EVP_PKEY *pk;
	FILE *f;

	tu_keys_data_path(rel, path, sizeof(path));
	f = fopen(path, "r");
	cr_assert(f != NULL, "cannot open %s (run from the repository root "
		  "or set PP_SRC)", path);
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert(pk != NULL, "%s is not a PEM private key", path);
	return pk;
}

struct ks_store *tu_keys_open(const char *dir, const struct ks_secret *s)
{
	struct ks_store *st = NULL;
	char err[512] = "";
	int rc = ks_store_open(dir, s, &st, err, sizeof(err));

	cr_assert_eq(rc, 0, "ks_store_open(%s): %d %s", dir, rc, err);
	return st;
}

void tu_keys_path(const char *dir, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/keys/%s", dir, name);
}

void tu_keys_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0, "cannot write %s", path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}
