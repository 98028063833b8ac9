/* The token-type table: for every token type the issuer serves, its code
 * point, wire sizes, key forms and the functions that make keys, issue and
 * verify. The key store, the key-set snapshot, issuance, redemption, the
 * directory, the CLI and the metrics dispatch through it; nothing else
 * switches on a type code (in the manner of OpenSSH's sshkey_impl table).
 *
 * A new type is one entry: its own files in crypto/ (tt_<name>.c with a
 * `const struct tt_ops`, and its math), one line in tt_table
 * (token_types.c), its vectors in tests/vectors/ and its tests.
 *
 * Key forms are bytes, so keys/ stores every type alike:
 *  - private form: what the key file holds (sealed or not), e.g. PKCS#8 DER
 *    for RSA types, the secret scalar for VOPRF types. Always in a
 *    tt_secret (sodium_malloc'd, wiped on free).
 *  - public form: what the directory publishes as token-key (base64url);
 *    token_key_id = SHA-256 of it. */
#ifndef PP_TOKEN_TYPES_H
#define PP_TOKEN_TYPES_H

#include <stddef.h>
#include <stdint.h>

#define TT_PUB_MAX 1100     /* bytes of any public form */
#define TT_PRIV_MAX 16384   /* bytes of any private form */

/* Private key bytes in guarded memory; tt_secret_free wipes them. */
struct tt_secret {
	uint8_t *p;
	size_t len;
};
int tt_secret_new(const uint8_t *data, size_t len, struct tt_secret **out);
void tt_secret_free(struct tt_secret *s);

/* A private operation done outside the process (keys/pkcs11.c: an HSM), for
 * types that can sign with one: for RSA types, out = in^d mod n over
 * modulus-length byte strings. sign is called from many threads at once;
 * release (may be NULL) frees ctx when the signer goes. crypto/ never
 * loads or calls the device itself: the callback comes from keys/. */
struct tt_raw_op {
	int (*sign)(void *ctx, const uint8_t *in, size_t len, uint8_t *out,
		    size_t cap);
	void (*release)(void *ctx);
	void *ctx;
};

struct tt_ops {
	uint16_t type;              /* code point */
	const char *name;           /* "blind-rsa-2048": logs, CLI, metrics */
	size_t request_len;         /* a whole single TokenRequest; for types
				     * whose requests carry more (0xDA7A's
				     * Extensions) the least it can be */
	int request_variable;       /* requests longer than request_len are
				     * checked by issue itself */
	size_t response_len;        /* its TokenResponse */
	size_t nk;                  /* a token's authenticator */
	int private_verify;         /* tokens verify only with the private key
				     * (redeemed at the issuer) */
	int slow_issue;             /* issuing one takes milliseconds (several
				     * RSA or P-384 operations): the server
				     * runs it off its event loop */

	/* ---- keys (never on the request path) ---- */
	/* A fresh private key, in its private form. */
	int (*generate)(struct tt_secret **out);
	/* The same for types whose generation is slow (0xDA7A searches for
	 * safe primes: seconds to minutes): progress, when not NULL, is called
	 * now and then while it searches, for a CLI to show it is alive. NULL
	 * for types that generate at once. */
	int (*generate_progress)(void (*progress)(void *arg), void *arg,
				 struct tt_secret **out);
	/* Turns an operator's key file (PEM or DER, or the type's own form)
	 * into the private form; why says what is wrong. */
	int (*import)(const uint8_t *in, size_t len, struct tt_secret **out,
		      char *why, size_t whylen);
	/* Checks a private form is a usable key of this type. */
	int (*check)(const uint8_t *priv, size_t len, char *why, size_t whylen);
	/* The public form of a private key. */
	int (*public_form)(const uint8_t *priv, size_t len, uint8_t *pub,
			   size_t cap, size_t *pub_len);
	/* Checks a public form (as read from metadata). */
	int (*public_check)(const uint8_t *pub, size_t len);

	/* ---- prepared keys, built once per snapshot ---- */
	int (*signer_new)(const uint8_t *priv, size_t len, unsigned slots,
			  void **impl);
	/* A signer from the public form and an external private operation,
	 * which it takes over (released also on failure). Whatever checks
	 * the type runs on its own signatures run on these too. NULL for
	 * types that cannot sign outside the process. */
	int (*signer_new_ext)(const uint8_t *pub, size_t pub_len,
			      const struct tt_raw_op *raw, unsigned slots,
			      void **impl);
	/* priv is NULL unless private_verify. */
	int (*verifier_new)(const uint8_t *pub, size_t pub_len,
			    const uint8_t *priv, size_t priv_len, void **impl);
	void (*signer_free)(void *impl);
	void (*verifier_free)(void *impl);

	/* ---- the request path ---- */
	/* Answers a whole TokenRequest (req starts with the type). out gets
	 * response_len bytes. PP_ERR_LENGTH, PP_ERR_MSG_RANGE and other
	 * PP_ERR_* for requests that are not acceptable. */
	int (*issue)(void *signer, const uint8_t *req, size_t len, uint8_t *out,
		     size_t cap, size_t *out_len);
	/* Checks a token's authenticator over its input (type || nonce ||
	 * challenge digest || key id). info is what the token was bound to
	 * besides its input (0xDA7A: the serialized Extensions), NULL for
	 * types that bind nothing else. 0, or PP_ERR_VERIFY. */
	int (*verify)(void *verifier, const uint8_t *input, size_t input_len,
		      const uint8_t *auth, size_t auth_len, const uint8_t *info,
		      size_t info_len);
	/* Answers a whole amortized batch request (one proof for the batch),
	 * at most max_n items; NULL for types without amortized batches. */
	int (*issue_batch)(void *signer, const uint8_t *req, size_t len,
			   unsigned max_n, uint8_t *out, size_t cap,
			   size_t *out_len);
};

/* token_key_id = SHA-256 of the public form; the truncated id is its last
 * byte (RFC 9578). */
void tt_key_id(const uint8_t *pub, size_t len, uint8_t id[32]);
uint8_t tt_truncated_id(const uint8_t id[32]);

/* The entry of a type, or NULL when the issuer does not serve it. */
const struct tt_ops *tt_find(uint16_t type);
/* The entries, in table order; *n gets their number. */
const struct tt_ops *const *tt_all(size_t *n);
/* Parses "2", "0x0002", "0xDA7A", or an entry's name. NULL when unknown. */
const struct tt_ops *tt_parse(const char *text);

/* A prepared key: a signer (issues) or a verifier (checks tokens). Shared
 * by reference between snapshots; safe to use from many threads. */
struct tt_key;

int tt_signer_new(const struct tt_ops *ops, const struct tt_secret *priv,
		  unsigned slots, struct tt_key **out);
/* A signer over an external private operation (ops->signer_new_ext), which
 * it takes over, also on failure. PP_ERR_KEY when the type has none. */
int tt_signer_new_ext(const struct tt_ops *ops, const uint8_t *pub,
		      size_t pub_len, const struct tt_raw_op *raw,
		      unsigned slots, struct tt_key **out);
/* priv may be NULL unless ops->private_verify. */
int tt_verifier_new(const struct tt_ops *ops, const uint8_t *pub,
		    size_t pub_len, const struct tt_secret *priv,
		    struct tt_key **out);
struct tt_key *tt_key_ref(struct tt_key *k);
void tt_key_free(struct tt_key *k);
const struct tt_ops *tt_key_ops(const struct tt_key *k);

int tt_issue(struct tt_key *signer, const uint8_t *req, size_t len,
	     uint8_t *out, size_t cap, size_t *out_len);
int tt_verify(struct tt_key *verifier, const uint8_t *input, size_t input_len,
	      const uint8_t *auth, size_t auth_len, const uint8_t *info,
	      size_t info_len);
/* PP_ERR_TOKEN_TYPE when the type has no amortized batches. */
int tt_issue_batch(struct tt_key *signer, const uint8_t *req, size_t len,
		   unsigned max_n, uint8_t *out, size_t cap, size_t *out_len);

#endif
