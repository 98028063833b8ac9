/* Shared helpers for the criterion suite: vector files, hex, leak checks. */
#ifndef PP_TU_H
#define PP_TU_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Loads tests/vectors/<name> (directory from $PP_VECTOR_DIR); aborts the
 * test with a clear message when missing. Caller json_decref()s. */
json_t *tu_vectors(const char *name);

/* Decodes hex (optionally "0x"-prefixed) from a JSON string field into a
 * malloc'd buffer; *len gets its size. Fails the test when absent/bad. */
uint8_t *tu_hex_field(json_t *obj, const char *field, size_t *len);
/* Same, from a C string. */
uint8_t *tu_hex(const char *hex, size_t *len);

/* Reads a whole file into a malloc'd NUL-terminated buffer. */
char *tu_read_file(const char *path, size_t *len);

/* Run as a suite's .fini: under the sanitizer build, fails the test when
 * LeakSanitizer finds a leak (criterion would otherwise exit 0). */
void tu_leak_check(void);

#endif
