/* Shared by cli_keys.c (options, dispatch) and cli_keys_cmds.c (the
 * subcommands). */
#ifndef PP_CLI_KEYS_INT_H
#define PP_CLI_KEYS_INT_H

#include <stdint.h>

#include "keys/lifecycle.h"
#include "keys/store.h"

#define CLI_ERR_LEN 512

struct tt_ops;
struct p11;

struct cli_keys {
	/* options */
	const char *data_dir;
	const char *issuer;        /* --issuer: DIR/issuers/NAME */
	const char *secret_file;
	const char *not_before;    /* text, parsed by the command */
	const char *format;        /* export: spki-b64url or pem */
	const char *arg;           /* the positional ID or FILE */
	const struct tt_ops *tt;   /* --type: the token type of new keys */
	int pkcs11;                /* --pkcs11: new keys go into the token */
	const char *p11_module;    /* --pkcs11-module (PPISSUER_PKCS11_MODULE) */
	const char *p11_token;     /* --pkcs11-token (PPISSUER_PKCS11_TOKEN) */
	const char *p11_pin_file;  /* --pkcs11-pin-file (..._PIN_FILE) */
	struct p11 *p11;           /* open while a --pkcs11 command runs */
	int json;
	int if_due;
	int immediately;
	int64_t now;
	int64_t max_age;
	unsigned max_published;
	struct kl_schedule sched;
	/* state */
	struct ks_secret *secret;  /* NULL when none is configured */
	struct ks_store *st;
	char err[CLI_ERR_LEN];
	/* progress of slow key generation (dots on stderr) */
	unsigned long progress_calls;
	int64_t progress_last_ms;
	int progress_dots;
};

/* Reads the key secret (if one is configured) into k->secret, then opens
 * the store named by the options with it (unless open_store is 0),
 * printing the reason and returning non-zero on failure. */
int cli_keys_open(struct cli_keys *k, int open_store);

int cli_keys_generate(struct cli_keys *k);
int cli_keys_list(struct cli_keys *k);
int cli_keys_rotate(struct cli_keys *k);
int cli_keys_retire(struct cli_keys *k);
int cli_keys_prune(struct cli_keys *k);
int cli_keys_export(struct cli_keys *k);
int cli_keys_import(struct cli_keys *k);
int cli_keys_seal(struct cli_keys *k);

/* Prints "ppissuer keys: <msg>" to stderr; returns 1. */
int cli_keys_fail(const struct cli_keys *k, const char *what, int rc);

#endif
