/* Helpers for the key-store tests: temporary data dirs, test key files,
 * stores opened or the test fails. */
#ifndef PP_TU_KEYS_H
#define PP_TU_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "keys/store.h"

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path. */
char *tu_keys_tmpdir(void);
/* Removes a directory tree (never follows symlinks) and frees path. */
void tu_keys_rmrf(char *path);
/* "<repo>/tests/data/<rel>" ($PP_SRC, else the current directory). */
void tu_keys_data_path(const char *rel, char *buf, size_t cap);
/* A private key from a PEM file under tests/data. */
EVP_PKEY *tu_keys_pem(const char *rel);
/* Opens dir's key store or fails the test with the store's message. */
struct ks_store *tu_keys_open(const char *dir, const struct ks_secret *s);
/* "<dir>/keys/<name>" into buf. */
void tu_keys_path(const char *dir, const char *name, char *buf, size_t cap);
/* Writes len bytes to path (truncating), mode 0600. */
void tu_keys_write(const char *path, const void *data, size_t len);

#endif
