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

/* Creates a signer from an RSA private key (type RSA, not RSA-PSS; e odd;
 * 2048..4096 bits; with its CRT factors). pkey is not taken over: each slot keeps its own copy, so
 * threads never share one RSA object (OpenSSL's blinding locks it).
 * nslots is the number of independent signing contexts (0 = twice the online
 * CPUs, at most 1024); concurrent signers beyond that wait briefly.
 * Returns 0, PP_ERR_KEY, PP_ERR_ARG or PP_ERR_NOMEM. The signer's copies of
 * the private key are cleared when freed with bsig_signer_free. */
int bsig_signer_new(EVP_PKEY *pkey, unsigned nslots, struct bsig_signer **out);
void bsig_signer_free(struct bsig_signer *s);

/* A raw RSA private operation done outside the process (a PKCS#11 token):
 * sign writes out = in^d mod n, mod_len bytes each, or returns a PP_ERR_*
 * (PP_ERR_UNAVAILABLE when the device cannot answer now). It is called from
 * many threads at once. release (may be NULL) is called with ctx when the
 * signer is freed. */
struct bsig_raw {
	int (*sign)(void *ctx, const uint8_t *in, size_t len, uint8_t *out,
		    size_t cap);
	void (*release)(void *ctx);
	void *ctx;
};

/* A signer whose private operation is raw->sign, for the public key pub
 * (type RSA, as spki_decode gives; not taken over). bsig_blind_sign runs the
 * same range check before and the same s^e mod n == m check after, in
 * software, on every signature. The signer owns raw->ctx from the call on,
 * also when it fails (release is called). */
int bsig_signer_new_raw(const EVP_PKEY *pub, const struct bsig_raw *raw,
			unsigned nslots, struct bsig_signer **out);
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
 * (random when prefix is NULL); for Deterministic variants out = msg and
 * prefix is ignored. out_cap must be >= msg_len + 32 (Randomized) or msg_len
 * (Deterministic), else PP_ERR_BUFFER. */
int bsig_prepare(enum bsig_variant v, const uint8_t *msg, size_t msg_len,
		 const uint8_t *prefix, uint8_t *out, size_t out_cap,
		 size_t *out_len);

/* Blind: EMSA-PSS-encodes msg (already prepared) with salt (48 bytes, random
 * when NULL; ignored for PSSZERO), picks r (random in [1, n) and invertible
 * when r is NULL), and writes blinded = encoded * r^e mod n and
 * inv = r^-1 mod n, each modulus_len bytes. A given r (r_len bytes,
 * big-endian) must be in [1, n) and invertible, else PP_ERR_ARG.
 * pk is an RSA public key (e.g. from spki_decode). WARNING: inv unblinds;
 * keep it secret and wipe it after bsig_finalize.
 * Returns 0, PP_ERR_KEY, PP_ERR_BUFFER, PP_ERR_ARG, PP_ERR_ENCODE (modulus
 * too small, or the encoding shares a factor with n). */
int bsig_blind(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
	       size_t msg_len, const uint8_t *salt, const uint8_t *r,
	       size_t r_len, uint8_t *blinded, uint8_t *inv, size_t out_cap);

/* EMSA-PSS-ENCODE (RFC 8017 9.1.1) with SHA-384 and MGF1-SHA-384 for a
 * modulus of mod_bits bits (emBits = mod_bits - 1): writes
 * emLen = ceil(emBits / 8) bytes to out. salt_len is 0..48 (salt may be NULL
 * when it is 0). bsig_blind() calls it; exposed so the RFC 9474 encoded_msg
 * vectors can be checked on their own.
 * Returns 0, PP_ERR_ENCODE (modulus too small), PP_ERR_BUFFER or PP_ERR_ARG. */
int bsig_pss_encode(const uint8_t *msg, size_t msg_len, const uint8_t *salt,
		    size_t salt_len, size_t mod_bits, uint8_t *out,
		    size_t out_cap, size_t *out_len);

/* Finalize: sig = blind_sig * inv mod n, then verifies sig over msg.
 * blind_sig and inv are modulus_len bytes. Returns 0 or PP_ERR_VERIFY (also
 * for blind_sig >= n); PP_ERR_KEY, PP_ERR_BUFFER, PP_ERR_ARG (inv not in
 * [1, n)) for caller errors. On failure sig is zeroed. */
int bsig_finalize(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
		  size_t msg_len, const uint8_t *blind_sig, const uint8_t *inv,
		  uint8_t *sig, size_t sig_cap);

/* Verify: RSASSA-PSS verification of sig over msg with SHA-384, MGF1-SHA-384
 * and the variant's salt length (exactly). sig_len must equal the modulus
 * length and sig < n. Returns 0, PP_ERR_VERIFY, PP_ERR_LENGTH,
 * PP_ERR_MSG_RANGE, or PP_ERR_KEY (key outside the rules of the signer). */
int bsig_verify(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
		size_t msg_len, const uint8_t *sig, size_t sig_len);

/* A prepared verifier for a public key, safe to share between threads
 * (used on the redemption path; avoids per-request key setup). pk is not
 * taken over. bsig_verifier_verify returns what bsig_verify returns. */
struct bsig_verifier;
int bsig_verifier_new(const EVP_PKEY *pk, enum bsig_variant v,
		      struct bsig_verifier **out);
void bsig_verifier_free(struct bsig_verifier *vf);
int bsig_verifier_verify(struct bsig_verifier *vf, const uint8_t *msg,
			 size_t msg_len, const uint8_t *sig, size_t sig_len);

#endif
