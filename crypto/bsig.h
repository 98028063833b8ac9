/* RSA blind signatures, RFC 9474, the four SHA-384 variants.
 *
 * Issuer side: a bsig_signer holds a private key and prepared contexts; it is
 * safe to call bsig_blind_sign() from many threads on one signer at once.
 * Client side: prepare, blind, finalize, verify (used by tests, the CLI and
 * benchmarks; the issuer never unblinds).
 *
 * All big-endian byte strings are exactly modulus_len bytes long. */
#ifndef PP_BSIG_H
#define PP_BSIG_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

enum bsig_variant {
	BSIG_SHA384_PSS_RANDOMIZED,
	BSIG_SHA384_PSSZERO_RANDOMIZED,
	BSIG_SHA384_PSS_DETERMINISTIC,     /* Privacy Pass token type 0x0002 */
	BSIG_SHA384_PSSZERO_DETERMINISTIC,
};

#define BSIG_PREFIX_LEN 32   /* msg_prefix of the Randomized variants */
#define BSIG_SALT_LEN 48     /* PSS salt (0 for PSSZERO) */
#define BSIG_MAX_MODULUS 512 /* bytes; 4096-bit keys (RFC 9474 vectors) */

/* Salt length of a variant: 48 or 0. */
size_t bsig_salt_len(enum bsig_variant v);
/* Whether a variant prepends a 32-byte random prefix. */
int bsig_is_randomized(enum bsig_variant v);

/* ---- issuer side ---- */
struct bsig_signer; /* opaque; holds the private key */

/* Creates a signer from an RSA private key (type RSA, e odd, >= 2048 bits).
 * pkey is not taken over (the signer keeps its own references/copies).
 * nslots is the number of independent signing contexts (0 = a default that
 * suits the machine); concurrent signers beyond that wait briefly.
 * Returns 0, PP_ERR_KEY, or PP_ERR_NOMEM. Free with bsig_signer_free. */
int bsig_signer_new(EVP_PKEY *pkey, unsigned nslots, struct bsig_signer **out);
void bsig_signer_free(struct bsig_signer *s);
size_t bsig_signer_modulus_len(const struct bsig_signer *s);

/* BlindSign: blind_sig = blinded^d mod n, via CRT with blinding, followed by
 * the mandatory check blind_sig^e mod n == blinded. blinded_len must equal the
 * modulus length (else PP_ERR_LENGTH) and blinded < n (else PP_ERR_MSG_RANGE).
 * On any failure out is zeroed and nothing usable is returned
 * (PP_ERR_SIGN_CHECK if the check failed). out_cap >= modulus length. */
int bsig_blind_sign(struct bsig_signer *s, const uint8_t *blinded,
		    size_t blinded_len, uint8_t *out, size_t out_cap);

/* ---- client side ---- */

/* Prepare: for Randomized variants out = prefix || msg with a 32-byte prefix
 * (random when prefix is NULL); for Deterministic variants out = msg.
 * out_cap must be >= msg_len + 32. */
int bsig_prepare(enum bsig_variant v, const uint8_t *msg, size_t msg_len,
		 const uint8_t *prefix, uint8_t *out, size_t out_cap,
		 size_t *out_len);

/* Blind: EMSA-PSS-encodes msg (already prepared) with salt (random when NULL;
 * ignored for PSSZERO), picks r (random when r is NULL), and writes
 * blinded = encoded * r^e mod n and inv = r^-1 mod n, each modulus_len bytes.
 * pk is an RSA public key (e.g. from spki_decode). */
int bsig_blind(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
	       size_t msg_len, const uint8_t *salt, const uint8_t *r,
	       size_t r_len, uint8_t *blinded, uint8_t *inv, size_t out_cap);

/* Finalize: sig = blind_sig * inv mod n, then verifies sig over msg.
 * Returns 0 or PP_ERR_VERIFY (sig zeroed). */
int bsig_finalize(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
		  size_t msg_len, const uint8_t *blind_sig, const uint8_t *inv,
		  uint8_t *sig, size_t sig_cap);

/* Verify: RSASSA-PSS verification of sig over msg with SHA-384, MGF1-SHA-384
 * and the variant's salt length. sig_len must equal the modulus length and
 * sig < n. Returns 0, PP_ERR_VERIFY, PP_ERR_LENGTH or PP_ERR_MSG_RANGE. */
int bsig_verify(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
		size_t msg_len, const uint8_t *sig, size_t sig_len);

/* A prepared verifier for a public key, safe to share between threads
 * (used on the redemption path; avoids per-request key setup). */
struct bsig_verifier;
int bsig_verifier_new(const EVP_PKEY *pk, enum bsig_variant v,
		      struct bsig_verifier **out);
void bsig_verifier_free(struct bsig_verifier *vf);
int bsig_verifier_verify(struct bsig_verifier *vf, const uint8_t *msg,
			 size_t msg_len, const uint8_t *sig, size_t sig_len);

#endif
