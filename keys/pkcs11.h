/* Signing keys in a PKCS#11 token (an HSM, or SoftHSM2 for tests): the
 * module is loaded with dlopen, the token found by its label, the user
 * logged in with a PIN read from a file or PPISSUER_PKCS11_PIN (never
 * logged, never kept: it is read again for every login and wiped), and raw
 * RSA done with CKM_RSA_X_509 through C_Sign (C_Decrypt where a module
 * allows only that). Sessions are pooled so request threads do not queue
 * on one. The RFC 9474 check of every signature stays in software
 * (crypto/bsig.c): a token's answer is never sent unchecked.
 *
 * No private key material of a token key ever exists in this process; the
 * key store keeps the public key, the token reference (struct ks_p11_ref)
 * and the lifecycle metadata, so states, schedule, directory and hot
 * reload work as for file keys.
 *
 * Faults (a failing module, a removed token, a broken session) make signing
 * answer PP_ERR_UNAVAILABLE and p11_health report it; the backend reopens
 * its sessions and logs in again, at most twice a second, when a request
 * or a health check finds it broken. */
#ifndef PP_KS_PKCS11_H
#define PP_KS_PKCS11_H

#include <stddef.h>
#include <stdint.h>

#include "keys/store.h"

struct tt_key;

struct p11_config {
	const char *module;    /* path of the PKCS#11 module (.so) */
	const char *token;     /* token label */
	const char *pin_file;  /* the user PIN (mode 0600), or NULL:
				* PPISSUER_PKCS11_PIN */
	unsigned sessions;     /* pool size (0 = 2 x CPUs, 2..32) */
};

struct p11;

/* Loads the module, finds the token and logs in. Refuses (with what to do
 * in err) a module that does not load, a missing token, a missing or wrong
 * PIN. Free with p11_close. */
int p11_open(const struct p11_config *c, struct p11 **out, char *err,
	     size_t errlen);
/* Closes every session; finalizes the module once no backend uses it. */
void p11_close(struct p11 *b);

/* 0 when the token answers and the sessions are logged in; else
 * PP_ERR_UNAVAILABLE with why in msg. Probes one idle session, and tries
 * to recover a broken backend (rate limited). */
int p11_health(struct p11 *b, char *msg, size_t msglen);

/* A signer (crypto/token_types.h) for the token key m names: finds its
 * private key object by CKA_ID, checks that the token's modulus and
 * exponent give m's public key, and wraps the raw operation. slots as
 * for tt_signer_new. why says what is wrong. */
int p11_signer_new(struct p11 *b, const struct ks_meta *m, unsigned slots,
		   struct tt_key **out, char *why, size_t whylen);
/* Only the check of p11_signer_new (is the key there, and the right one). */
int p11_key_check(struct p11 *b, const struct ks_meta *m, char *why,
		  size_t whylen);

/* Makes the store create new keys in the token (keys generate/rotate
 * --pkcs11, and a server with a module configured) and import keys into
 * it (keys import --pkcs11): RSA-2048, private key sensitive and not
 * extractable, labelled "ppissuer-<id>" with a random 16-byte CKA_ID. */
void p11_store_attach(struct p11 *b, struct ks_store *st);

/* Process-wide counters of the PKCS#11 backend, for /metrics. */
#define P11_LAT_BUCKETS 10
struct p11_stats {
	uint64_t ops;            /* signatures asked of a token */
	uint64_t errors;         /* of which failed */
	uint64_t recoveries;     /* sessions reopened after a fault */
	uint64_t lat_bucket[P11_LAT_BUCKETS + 1];  /* cumulative: <= le */
	uint64_t lat_sum_us;
	uint64_t lat_count;
};
/* Upper bounds of the latency buckets, microseconds. */
extern const uint64_t p11_lat_le_us[P11_LAT_BUCKETS];
void p11_stats_get(struct p11_stats *out);
/* Whether a backend was ever opened in this process. */
int p11_in_use(void);

#endif
