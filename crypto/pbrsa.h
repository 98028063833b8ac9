/* Partially blind RSA signatures with public metadata (RSAPBSSA,
 * draft-irtf-cfrg-partially-blind-rsa-01), the RSAPBSSA-SHA384-PSS-Deterministic
 * variant over RSA-2048 with safe primes: Privacy Pass token type 0xDA7A.
 *
 * The public metadata `info` selects a per-metadata key: e' from
 * HKDF-SHA384 over (n, info) (DerivePublicKey), d' = e'^-1 mod phi(n)
 * (DeriveKeyPair). A signature is RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48)
 * under (n, e') over msg_prime = "msg" || len(info) (4 bytes) || info || msg.
 *
 * Issuer side: a pbrsa_signer holds the private key and a bounded cache of
 * derived private keys, ready for raw CRT signing; pbrsa_blind_sign() is safe
 * to call from many threads on one signer.
 * Client side (tests, CLI): blind, finalize, verify.
 *
 * Only 2048-bit moduli: the draft needs a power-of-two modulus length, and
 * OpenSSL refuses public exponents over 64 bits for moduli over 3072 bits,
 * while e' has 1022. All big-endian byte strings are PBRSA_MODULUS_LEN long. */
#ifndef PP_PBRSA_H
#define PP_PBRSA_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define PBRSA_BITS 2048
#define PBRSA_MODULUS_LEN 256
#define PBRSA_EPRIME_LEN (PBRSA_MODULUS_LEN / 2) /* lambda_len */
#define PBRSA_SALT_LEN 48
#define PBRSA_MAX_INFO (2 + 65535) /* the largest serialized Extensions */
#define PBRSA_MAX_MSG 65536        /* client side; a token input is 98 */
#define PBRSA_CACHE_DEFAULT 256    /* derived keys kept by a signer */

/* ---- public key derivation ---- */

/* DerivePublicKey: the 128-byte e' for info under pk's modulus (the top two
 * bits cleared, the lowest set). pk: RSA or RSA-PSS public key of 2048 bits.
 * Returns 0, PP_ERR_KEY, PP_ERR_LENGTH (info_len > PBRSA_MAX_INFO),
 * PP_ERR_ARG. On failure eprime is zeroed. */
int pbrsa_eprime(const EVP_PKEY *pk, const uint8_t *info, size_t info_len,
		 uint8_t eprime[PBRSA_EPRIME_LEN]);

/* The derived public key (n, e') as an RSA key, for raw operations and PSS
 * verification. The caller frees *out with EVP_PKEY_free. Returns what
 * pbrsa_eprime returns, or PP_ERR_NOMEM / PP_ERR_INTERNAL. */
int pbrsa_public_derive(const EVP_PKEY *pk, const uint8_t *info,
			size_t info_len, EVP_PKEY **out);

/* ---- issuer side ---- */
struct pbrsa_signer; /* opaque; holds the private key and derived keys */

/* Creates a signer from an RSA private key (type RSA, 2048 bits, with both
 * factors). The key must be a product of two safe primes; that is checked
 * here (0.1-0.2 s of CPU) and refused with PP_ERR_KEY otherwise.
 * cache_cap: derived keys kept (0 = PBRSA_CACHE_DEFAULT, at most 65536).
 * key_slots: independent signing contexts per derived key, each with its own
 * copy of the derived key, made as concurrency demands (0 = twice the online
 * CPUs, at most 64). pkey is not taken over.
 * Returns 0, PP_ERR_KEY, PP_ERR_ARG or PP_ERR_NOMEM. */
int pbrsa_signer_new(EVP_PKEY *pkey, unsigned cache_cap, unsigned key_slots,
		     struct pbrsa_signer **out);
/* Frees the signer and every cached derived key (their private numbers are
 * cleared). No pbrsa_blind_sign() may be running on it. NULL is a no-op. */
void pbrsa_signer_free(struct pbrsa_signer *s);

/* BlindSign: blind_sig = blinded^d' mod n with the derived key for info
 * (derived once, then cached), via CRT, followed by the mandatory check
 * blind_sig^e' mod n == blinded. blinded_len must be 256 (else
 * PP_ERR_LENGTH) and blinded < n (else PP_ERR_MSG_RANGE); info_len <=
 * PBRSA_MAX_INFO (else PP_ERR_LENGTH). out_cap >= 256 (else PP_ERR_BUFFER).
 * On any failure out is zeroed (PP_ERR_SIGN_CHECK if the check failed).
 * Cost: e' has 1022 bits, so a public operation costs about twice the CRT
 * private one, and a signature holds two (OpenSSL checks its CRT result with
 * e', then the mandatory check): about 7 times a type-0x0002 signature.
 * A cache miss adds about 0.25 ms of derivation (the modular inverse is
 * 0.16 ms) and the key's first-use setup (its blinding factor r^e' mod n,
 * about one more public operation); each slot added under load pays that
 * setup once. */
int pbrsa_blind_sign(struct pbrsa_signer *s, const uint8_t *blinded,
		     size_t blinded_len, const uint8_t *info, size_t info_len,
		     uint8_t *out, size_t out_cap);

/* Counters of a signer's derived-key cache (for tests and metrics). */
struct pbrsa_stats {
	uint64_t derivations; /* derived private keys computed */
	uint64_t hits;        /* signatures served from the cache */
	uint64_t evictions;   /* derived keys dropped to make room */
	unsigned entries;     /* derived keys held now */
};
void pbrsa_signer_stats(struct pbrsa_signer *s, struct pbrsa_stats *out);

/* ---- keys ---- */

/* 0 when pk is an RSA private key of 2048 bits whose factors p and q are
 * 1024-bit safe primes (p, q, (p-1)/2, (q-1)/2 prime; n = p*q; p != q),
 * PP_ERR_KEY otherwise (also for a public key), PP_ERR_ARG, PP_ERR_NOMEM. */
int pbrsa_check_safe_primes(const EVP_PKEY *pk);

/* Generates an RSA-2048 key with two safe 1024-bit primes and e = 65537,
 * as an RSA (rsaEncryption) key with its CRT numbers. bits must be 2048
 * (else PP_ERR_ARG). This takes from seconds to minutes: progress, when not
 * NULL, is called with OpenSSL's BN_GENCB (phase, count) as the search goes
 * on, for a CLI to show it is alive. The caller frees *out. */
int pbrsa_generate(unsigned bits,
		   void (*progress)(int phase, int count, void *arg),
		   void *arg, EVP_PKEY **out);

/* ---- client side ---- */

/* Blind: msg_prime = "msg" || len(info) || info || msg, EMSA-PSS-encoded
 * with salt (48 bytes, random when NULL), blinded with r (random when NULL,
 * else r_len big-endian bytes in [1, n) and invertible, else PP_ERR_ARG)
 * under (n, e'): blinded = m * r^e' mod n, inv = r^-1 mod n, each 256 bytes.
 * WARNING: inv unblinds; keep it secret and wipe it after pbrsa_finalize.
 * Returns 0, PP_ERR_KEY, PP_ERR_LENGTH (msg or info too long),
 * PP_ERR_BUFFER, PP_ERR_ARG, PP_ERR_ENCODE, PP_ERR_NOMEM. */
int pbrsa_blind(const EVP_PKEY *pk, const uint8_t *msg, size_t msg_len,
		const uint8_t *info, size_t info_len, const uint8_t *salt,
		const uint8_t *r, size_t r_len, uint8_t *blinded, uint8_t *inv,
		size_t out_cap);

/* Finalize: sig = blind_sig * inv mod n, then verifies sig over msg and
 * info. Returns 0, PP_ERR_VERIFY (also for blind_sig >= n), or a caller
 * error as pbrsa_blind. On failure sig is zeroed. */
int pbrsa_finalize(const EVP_PKEY *pk, const uint8_t *msg, size_t msg_len,
		   const uint8_t *info, size_t info_len,
		   const uint8_t *blind_sig, const uint8_t *inv, uint8_t *sig,
		   size_t sig_cap);

/* Verify: RSASSA-PSS-VERIFY under (n, e') over msg_prime, SHA-384,
 * MGF1-SHA-384, salt length exactly 48. sig_len must be 256 and sig < n.
 * Returns 0, PP_ERR_VERIFY, PP_ERR_LENGTH, PP_ERR_MSG_RANGE, PP_ERR_KEY. */
int pbrsa_verify(const EVP_PKEY *pk, const uint8_t *msg, size_t msg_len,
		 const uint8_t *info, size_t info_len, const uint8_t *sig,
		 size_t sig_len);

#endif
