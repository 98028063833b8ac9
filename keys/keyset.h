/* The key-set snapshot: an immutable view of the issuer's keys at one moment,
 * with prepared signing and verification contexts and the serialized issuer
 * directory. Requests take a reference, use it without locks, and drop it;
 * a reload builds a new snapshot off the request path and swaps it in whole
 * (ks_current_swap), so the directory and its ETag change exactly when the key
 * set does. */
#ifndef PP_KEYSET_H
#define PP_KEYSET_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "keys/store.h"

struct tt_ops;
struct tt_key;
struct p11;

struct ks_entry {
	struct ks_meta meta;            /* id, truncated id, type, times;
					 * retire_after is the effective one */
	enum ks_state state;            /* effective state at build time */
	uint8_t *pub;                   /* the type's public key form (points
					 * into meta) */
	size_t pub_len;
	int published;                  /* listed in the directory */
	const struct tt_ops *tt;        /* its token type's table entry */
	struct tt_key *signer;          /* the active key; also see below */
	struct tt_key *verifier;        /* non-NULL while tokens may be redeemed */
	/* Hand-over without a failed request: a published pending key is
	 * prepared ahead and signs (and verifies) from its not-before, before
	 * the snapshot that makes it active is built; the key it replaces keeps
	 * signing for KS_HANDOVER_GRACE seconds after that, for clients that
	 * chose it a moment earlier. 0 = no bound. Checked at request time. */
	int64_t usable_from;
	int64_t sign_until;
};

/* Seconds a superseded key still signs after its successor's not-before. */
#define KS_HANDOVER_GRACE 30

struct ks_keyset {
	struct ks_entry *entries;   /* most preferred first */
	size_t n;
	char *directory;            /* JSON body of the issuer directory */
	size_t directory_len;
	char etag[48];              /* strong ETag, quoted: "\"...\"" */
	time_t last_modified;       /* newest key event (creation, activation,
				     * retirement) at or before the build */
	char fingerprint[65];       /* hex digest of the on-disk state it reflects */
	/* Keys that exist but cannot be used now (their files cannot be read
	 * and no earlier snapshot had them loaded, or the spent store could not
	 * say whether they were retired): their tokens cannot be judged, so a
	 * redemption answers "unavailable", never "unknown" or "valid". */
	struct ks_failed_id *unavailable;
	size_t n_unavailable;
	size_t n_kept;              /* entries kept from the previous snapshot
				     * because their files could not be read */
	int64_t next_change;        /* when a state transition is due (0 = none) */
	struct p11 *p11;            /* the PKCS#11 backend its token keys sign
				     * with (not owned), or NULL */
	int n_token_signers;        /* active keys that sign in a token */
	/* reference count; private to keyset.c */
	unsigned long refs_;
};

struct ks_keyset_opts {
	const char *issuer_request_uri; /* "/token-request" or an absolute URL */
	unsigned signer_slots;          /* bsig_signer_new nslots (0 = default) */
	unsigned max_published;         /* per token type (default 2) */
	int64_t overlap;                /* seconds a superseded key verifies
					 * when its retire-after was not
					 * recorded (0 = KL_DEFAULT_OVERLAP) */
	/* The snapshot being replaced, or NULL. A key whose files cannot be
	 * read now (a wrong mode, a symlink, a truncated or missing file)
	 * keeps the entry it had there, signer included: a transient fault
	 * of a key file changes nothing a client sees. */
	const struct ks_keyset *prev;
	/* The PKCS#11 backend (keys/pkcs11.h) for keys whose metadata puts
	 * them in a token; NULL: such keys cannot sign (they still verify).
	 * It must outlive every snapshot built with it. */
	struct p11 *p11;
	/* Asked for every key the snapshot would hold (may be NULL): 1 when the
	 * key was retired before and its spent records dropped (it is left out
	 * for good, whatever its metadata says now, e.g. after a restore from
	 * an old backup), 0 when not, < 0 when that cannot be known now (its
	 * tokens are then unavailable). */
	int (*retired_before)(void *ctx, const uint8_t key_id[32]);
	void *retired_ctx;
};

/* Builds a snapshot of the store's keys as of now (unix seconds). Problems
 * with single keys are reported in err and to the store's reporter (the
 * snapshot still builds): the private keys of the active key and of
 * published pending keys are loaded (the latter only to check them, so a
 * key that cannot sign is never announced). A key whose files cannot be
 * read keeps its entry of o->prev; without one, a key whose metadata cannot
 * be read is listed as unavailable, and a key whose private key cannot be
 * loaded stops signing (the lifecycle is re-evaluated without it) but still
 * verifies from its metadata. No fault of a key file ever makes a key look
 * retired. The fingerprint is taken
 * before the keys are read, so a change racing with the build shows up as
 * a changed fingerprint at the next poll.
 * Returns 0, or an error when nothing usable could be read (no key at all
 * could be loaded). The caller owns one reference. */
int ks_keyset_build(struct ks_store *st, const struct ks_keyset_opts *o,
		    int64_t now, struct ks_keyset **out, char *err,
		    size_t errlen);
struct ks_keyset *ks_keyset_ref(struct ks_keyset *ks);
/* Whether ks should be rebuilt at now: a state transition is due
 * (now >= next_change) or the store's fingerprint moved on. Cheap enough
 * to poll every few seconds (reads only the metadata files). Returns 1 or
 * 0, or 1 when the fingerprint cannot be taken (a rebuild reports why). */
int ks_keyset_stale(const struct ks_keyset *ks, struct ks_store *st,
		    int64_t now);
void ks_keyset_unref(struct ks_keyset *ks);

/* The key that signs requests carrying this truncated id, or NULL. */
const struct ks_entry *ks_keyset_signer(const struct ks_keyset *ks,
					uint16_t token_type,
					uint8_t truncated_id);
/* The key whose tokens verify under this full key id, or NULL (pending keys
 * never signed anything; retired keys no longer verify). */
const struct ks_entry *ks_keyset_verifier(const struct ks_keyset *ks,
					  const uint8_t key_id[32]);

/* Whether key_id names a key that exists but cannot be used now (see
 * ks_keyset.unavailable): 1 or 0. */
int ks_keyset_unavailable(const struct ks_keyset *ks, const uint8_t key_id[32]);

/* The same at an explicit instant (unix seconds; 0 = the system clock). */
const struct ks_entry *ks_keyset_signer_at(const struct ks_keyset *ks,
					   uint16_t token_type,
					   uint8_t truncated_id, int64_t now);
const struct ks_entry *ks_keyset_verifier_at(const struct ks_keyset *ks,
					     const uint8_t key_id[32],
					     int64_t now);

/* The current snapshot, shared by all request threads. */
struct ks_current;
/* Takes over the caller's reference to initial (which must not be NULL,
 * else PP_ERR_ARG). ks_current_free drops the current snapshot. */
int ks_current_new(struct ks_keyset *initial, struct ks_current **out);
void ks_current_free(struct ks_current *c);
/* Returns a new reference to the current snapshot (never NULL). */
struct ks_keyset *ks_current_get(struct ks_current *c);
/* Installs ks (taking over the caller's reference); the old snapshot is
 * released once its last user is done. */
void ks_current_swap(struct ks_current *c, struct ks_keyset *ks);

#endif
