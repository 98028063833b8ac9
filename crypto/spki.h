/* RFC 9578 section 6.5 public key form for token type 0x0002: a DER
 * SubjectPublicKeyInfo with the id-RSASSA-PSS OID and explicit parameters
 * (SHA-384, MGF1-SHA-384, salt length 48). OpenSSL's i2d_PUBKEY does not
 * produce it, so it is built here byte by byte. */
#ifndef PP_SPKI_H
#define PP_SPKI_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define SPKI_RSA2048_LEN 342   /* encoded length for a 2048-bit modulus, e = 65537 */
#define SPKI_MAX_LEN 1100      /* room for moduli up to 8192 bits */
#define SPKI_KEY_ID_LEN 32

/* Encodes the public half of an RSA key (any EVP_PKEY of type RSA or RSA-PSS)
 * into out. Returns 0, PP_ERR_KEY, or PP_ERR_BUFFER. */
int spki_encode(const EVP_PKEY *pkey, uint8_t *out, size_t out_cap,
		size_t *out_len);

/* token_key_id = SHA-256(spki). */
void spki_key_id(const uint8_t *spki, size_t len, uint8_t id[SPKI_KEY_ID_LEN]);

/* The truncated key id used in TokenRequest: the last byte of the key id. */
uint8_t spki_truncated_id(const uint8_t id[SPKI_KEY_ID_LEN]);

/* Parses a key in the RFC 9578 form (exactly: re-encoding n and e must give
 * back the same bytes) into a plain RSA public key usable for raw operations
 * and PSS verification. The caller frees *out with EVP_PKEY_free.
 * Returns 0 or PP_ERR_SPKI. */
int spki_decode(const uint8_t *in, size_t len, EVP_PKEY **out);

#endif
