/* The on-disk key store under <data-dir>/keys/: one PKCS#8 private key file
 * and one metadata file per key, written atomically, mode 0600 in a 0700
 * directory, optionally sealed with a key-encryption secret. The only code
 * that reads or writes key files. */
#ifndef PP_KS_STORE_H
#define PP_KS_STORE_H

#include <stddef.h>
#include <stdint.h>

enum ks_state {
	KS_PENDING,   /* published, not yet signing */
	KS_ACTIVE,    /* the one key per token type that signs */
	KS_RETIRING,  /* no longer signs; its tokens still verify */
	KS_RETIRED,   /* gone from the directory and from verification */
};

struct ks_meta {
	uint8_t key_id[32];
	char id_hex[65];
	uint8_t truncated_id;
	uint16_t token_type;
	int64_t created;        /* unix seconds */
	int64_t not_before;     /* unix seconds */
	int64_t retire_after;   /* unix seconds; 0 = not scheduled */
	enum ks_state state;    /* as stored; see the lifecycle for the effective one */
};

struct ks_store;

#endif
