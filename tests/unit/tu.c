#include "tu.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PP_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif

json_t *tu_vectors(const char *name)
{
	const char *dir = getenv("PP_VECTOR_DIR");
	char path[4096];
	json_error_t err;
	json_t *j;

	cr_assert(dir != NULL, "PP_VECTOR_DIR is not set (run through make test)");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	j = json_load_file(path, 0, &err);
	cr_assert(j != NULL, "cannot load %s: %s", path, err.text);
	return j;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint8_t *tu_hex(const char *hex, size_t *len)
{
	size_t n, i;
	uint8_t *out;

	if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
		hex += 2;
	n = strlen(hex);
	cr_assert(n % 2 == 0, "odd-length hex string");
	out = malloc(n / 2 + 1);
	cr_assert(out != NULL);
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		cr_assert(hi >= 0 && lo >= 0, "bad hex digit");
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

uint8_t *tu_hex_field(json_t *obj, const char *field, size_t *len)
{
	json_t *v = json_object_get(obj, field);

	cr_assert(json_is_string(v), "vector field %s missing", field);
	return tu_hex(json_string_value(v), len);
}

char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert(buf != NULL);
	cr_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

void tu_leak_check(void)
{
#ifdef PP_SANITIZE
	/* criterion's worker would otherwise exit 0 after printing leaks */
	if (__lsan_do_recoverable_leak_check() != 0) {
		fprintf(stderr, "LeakSanitizer reported leaks\n");
		abort();
	}
#endif
}
