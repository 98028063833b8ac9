/* RSA blind signatures (RFC 9474), client side: Prepare, EMSA-PSS encoding,
 * Blind and Finalize. The issuer never runs this code; tests, the CLI and
 * benchmarks do. r and inv are the client's secrets: they live in BIGNUMs
 * flagged constant-time and are cleared when freed. */
#include "bsig.h"
#include "bsig_int.h"
#include "base/pp_err.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>

#define BSIG_RAND_TRIES 64 /* a non-invertible random r has probability ~2^-1000 */

int bsig_prepare(enum bsig_variant v, const uint8_t *msg, size_t msg_len,
		 const uint8_t *prefix, uint8_t *out, size_t out_cap,
		 size_t *out_len)
{
	size_t plen = bsig_is_randomized(v) ? BSIG_PREFIX_LEN : 0;

	if (out_len == NULL)
		return PP_ERR_ARG;
	*out_len = 0;
	if (out == NULL || (msg == NULL && msg_len != 0))
		return PP_ERR_ARG;
	if (msg_len > SIZE_MAX - plen || out_cap < msg_len + plen)
		return PP_ERR_BUFFER;
	if (msg_len)
		memmove(out + plen, msg, msg_len);
	if (plen && prefix)
		memcpy(out, prefix, plen);
	else if (plen && RAND_bytes(out, (int)plen) != 1) {
		ERR_clear_error();
		OPENSSL_cleanse(out, msg_len + plen);
		return PP_ERR_INTERNAL;
	}
	*out_len = msg_len + plen;
	return 0;
}

/* MGF1-SHA-384 (RFC 8017 B.2.1): XORs the mask of seed into buf. */
static int mgf1_xor(const EVP_MD *md, const uint8_t *seed, size_t seed_len,
		    uint8_t *buf, size_t len)
{
	uint8_t in[BSIG_HASH_LEN + 4], t[EVP_MAX_MD_SIZE];
	size_t done = 0, i, take;
	uint32_t counter = 0;
	unsigned t_len = 0;
	int rc = PP_ERR_INTERNAL;

	if (seed_len != BSIG_HASH_LEN)
		return PP_ERR_ARG;
	memcpy(in, seed, seed_len);
	while (done < len) {
		in[seed_len + 0] = (uint8_t)(counter >> 24);
		in[seed_len + 1] = (uint8_t)(counter >> 16);
		in[seed_len + 2] = (uint8_t)(counter >> 8);
		in[seed_len + 3] = (uint8_t)counter;
		if (!EVP_Digest(in, sizeof(in), t, &t_len, md, NULL) ||
		    t_len != BSIG_HASH_LEN)
			goto cleanup;
		take = len - done < t_len ? len - done : t_len;
		for (i = 0; i < take; i++)
			buf[done + i] ^= t[i];
		done += take;
		counter++;
	}
	rc = 0;
cleanup:
	OPENSSL_cleanse(t, sizeof(t));
	return rc;
}

int bsig_pss_encode(const uint8_t *msg, size_t msg_len, const uint8_t *salt,
		    size_t salt_len, size_t mod_bits, uint8_t *out,
		    size_t out_cap, size_t *out_len)
{
	/* M' = 8 zero bytes || mHash || salt */
	uint8_t mprime[8 + BSIG_HASH_LEN + BSIG_SALT_LEN], h[EVP_MAX_MD_SIZE];
	const EVP_MD *md = EVP_sha384();
	size_t em_bits, em_len, db_len;
	unsigned h_len = 0;
	int rc = PP_ERR_INTERNAL;

	if (out_len == NULL)
		return PP_ERR_ARG;
	*out_len = 0;
	if (out == NULL || (msg == NULL && msg_len != 0) ||
	    (salt == NULL && salt_len != 0) || salt_len > BSIG_SALT_LEN ||
	    mod_bits < 2)
		return PP_ERR_ARG;
	em_bits = mod_bits - 1;
	em_len = (em_bits + 7) / 8;
	if (em_len > out_cap)
		return PP_ERR_BUFFER;
	if (em_len < BSIG_HASH_LEN + salt_len + 2)
		return PP_ERR_ENCODE;

	memset(mprime, 0, 8);
	if (!EVP_Digest(msg, msg_len, mprime + 8, &h_len, md, NULL) ||
	    h_len != BSIG_HASH_LEN)
		goto cleanup;
	if (salt_len)
		memcpy(mprime + 8 + BSIG_HASH_LEN, salt, salt_len);
	if (!EVP_Digest(mprime, 8 + BSIG_HASH_LEN + salt_len, h, &h_len, md,
			NULL))
		goto cleanup;

	/* EM = maskedDB || H || 0xbc, DB = PS (zeros) || 0x01 || salt */
	db_len = em_len - BSIG_HASH_LEN - 1;
	memset(out, 0, db_len);
	out[db_len - salt_len - 1] = 0x01;
	if (salt_len)
		memcpy(out + db_len - salt_len, salt, salt_len);
	rc = mgf1_xor(md, h, BSIG_HASH_LEN, out, db_len);
	if (rc != 0)
		goto cleanup;
	/* clear the bits above emBits so EM < 2^emBits <= n */
	out[0] &= (uint8_t)(0xff >> (8 * em_len - em_bits));
	memcpy(out + db_len, h, BSIG_HASH_LEN);
	out[em_len - 1] = 0xbc;
	*out_len = em_len;
	rc = 0;
cleanup:
	if (rc != 0) {
		OPENSSL_cleanse(out, em_len);
		ERR_clear_error();
	}
	OPENSSL_cleanse(mprime, sizeof(mprime));
	return rc;
}

/* z = a * b mod n in Montgomery form, which does not branch on the values
 * as BN_mod_mul does; a and b must be in [0, n). b is overwritten. */
static int mont_mul(BIGNUM *z, const BIGNUM *a, BIGNUM *b, BN_MONT_CTX *mont,
		    BN_CTX *ctx)
{
	return BN_to_montgomery(b, b, mont, ctx) &&
	       BN_mod_mul_montgomery(z, a, b, mont, ctx);
}

/* r given: must be in [1, n) and invertible. Otherwise drawn uniformly. */
static int blind_factor(const uint8_t *r, size_t r_len, const BIGNUM *n,
			BIGNUM *rb, BIGNUM *ib, BN_CTX *ctx)
{
	int tries;

	BN_set_flags(rb, BN_FLG_CONSTTIME);
	if (r != NULL) {
		if (r_len == 0 || r_len > BSIG_MAX_MODULUS ||
		    BN_bin2bn(r, (int)r_len, rb) == NULL)
			return PP_ERR_ARG;
		if (BN_is_zero(rb) || BN_cmp(rb, n) >= 0 ||
		    BN_mod_inverse(ib, rb, n, ctx) == NULL)
			return PP_ERR_ARG;
		return 0;
	}
	for (tries = 0; tries < BSIG_RAND_TRIES; tries++) {
		if (!BN_priv_rand_range_ex(rb, n, 0, ctx))
			return PP_ERR_INTERNAL;
		if (!BN_is_zero(rb) && BN_mod_inverse(ib, rb, n, ctx) != NULL)
			return 0;
		ERR_clear_error(); /* "no inverse": try another r */
	}
	return PP_ERR_INTERNAL;
}

int bsig_blind(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
	       size_t msg_len, const uint8_t *salt, const uint8_t *r,
	       size_t r_len, uint8_t *blinded, uint8_t *inv, size_t out_cap)
{
	uint8_t em[BSIG_MAX_MODULUS], salt_buf[BSIG_SALT_LEN];
	size_t salt_len = bsig_salt_len(v), em_len = 0, mod_len;
	BIGNUM *n = NULL, *e = NULL, *m = NULL, *rb = NULL, *ib = NULL;
	BIGNUM *x = NULL, *z = NULL;
	BN_MONT_CTX *mont = NULL;
	BN_CTX *ctx = NULL;
	int rc;

	if (blinded == NULL || inv == NULL)
		return PP_ERR_ARG;
	memset(blinded, 0, out_cap);
	memset(inv, 0, out_cap);
	rc = bsig_key_public(pk, &n, &e);
	if (rc != 0)
		goto cleanup;
	mod_len = (size_t)BN_num_bytes(n);
	if (out_cap < mod_len) {
		rc = PP_ERR_BUFFER;
		goto cleanup;
	}
	if (salt_len && salt == NULL) {
		if (RAND_bytes(salt_buf, (int)salt_len) != 1) {
			rc = PP_ERR_INTERNAL;
			goto cleanup;
		}
		salt = salt_buf;
	}
	rc = bsig_pss_encode(msg, msg_len, salt_len ? salt : NULL, salt_len,
			     (size_t)BN_num_bits(n), em, sizeof(em), &em_len);
	if (rc != 0)
		goto cleanup;

	rc = PP_ERR_NOMEM;
	ctx = BN_CTX_secure_new();
	mont = BN_MONT_CTX_new();
	m = BN_secure_new();
	rb = BN_secure_new();
	ib = BN_secure_new();
	x = BN_secure_new();
	z = BN_new();
	if (!ctx || !mont || !m || !rb || !ib || !x || !z)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	BN_set_flags(m, BN_FLG_CONSTTIME);
	BN_set_flags(ib, BN_FLG_CONSTTIME);
	if (BN_bin2bn(em, (int)em_len, m) == NULL ||
	    !BN_MONT_CTX_set(mont, n, ctx))
		goto cleanup;
	/* RFC 9474 4.2: a message sharing a factor with n is refused */
	if (!BN_gcd(x, m, n, ctx))
		goto cleanup;
	if (!BN_is_one(x)) {
		rc = PP_ERR_ENCODE;
		goto cleanup;
	}
	rc = blind_factor(r, r_len, n, rb, ib, ctx);
	if (rc != 0)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	/* blinded = m * r^e mod n; rb's flag selects the constant-time path */
	if (!BN_mod_exp_mont(x, rb, e, n, ctx, mont) ||
	    !mont_mul(z, m, x, mont, ctx) ||
	    BN_bn2binpad(z, blinded, (int)mod_len) < 0 ||
	    BN_bn2binpad(ib, inv, (int)mod_len) < 0)
		goto cleanup;
	rc = 0;
cleanup:
	if (rc != 0) {
		OPENSSL_cleanse(blinded, out_cap);
		OPENSSL_cleanse(inv, out_cap);
		ERR_clear_error();
	}
	OPENSSL_cleanse(em, sizeof(em));
	OPENSSL_cleanse(salt_buf, sizeof(salt_buf));
	BN_free(n);
	BN_free(e);
	BN_clear_free(m);
	BN_clear_free(rb);
	BN_clear_free(ib);
	BN_clear_free(x);
	BN_free(z);
	BN_MONT_CTX_free(mont);
	BN_CTX_free(ctx);
	return rc;
}

int bsig_finalize(const EVP_PKEY *pk, enum bsig_variant v, const uint8_t *msg,
		  size_t msg_len, const uint8_t *blind_sig, const uint8_t *inv,
		  uint8_t *sig, size_t sig_cap)
{
	BIGNUM *n = NULL, *z = NULL, *ib = NULL, *s = NULL;
	BN_MONT_CTX *mont = NULL;
	BN_CTX *ctx = NULL;
	size_t mod_len = 0;
	int rc;

	if (sig == NULL || blind_sig == NULL || inv == NULL)
		return PP_ERR_ARG;
	memset(sig, 0, sig_cap);
	rc = bsig_key_public(pk, &n, NULL);
	if (rc != 0)
		goto cleanup;
	mod_len = (size_t)BN_num_bytes(n);
	if (sig_cap < mod_len) {
		rc = PP_ERR_BUFFER;
		goto cleanup;
	}
	rc = PP_ERR_NOMEM;
	ctx = BN_CTX_secure_new();
	mont = BN_MONT_CTX_new();
	z = BN_new();
	ib = BN_secure_new();
	s = BN_new();
	if (!ctx || !mont || !z || !ib || !s)
		goto cleanup;
	rc = PP_ERR_INTERNAL;
	BN_set_flags(ib, BN_FLG_CONSTTIME);
	if (BN_bin2bn(blind_sig, (int)mod_len, z) == NULL ||
	    BN_bin2bn(inv, (int)mod_len, ib) == NULL ||
	    !BN_MONT_CTX_set(mont, n, ctx))
		goto cleanup;
	/* the issuer's answer is untrusted input */
	if (BN_cmp(z, n) >= 0) {
		rc = PP_ERR_VERIFY;
		goto cleanup;
	}
	if (BN_is_zero(ib) || BN_cmp(ib, n) >= 0) {
		rc = PP_ERR_ARG;
		goto cleanup;
	}
	if (!mont_mul(s, z, ib, mont, ctx) ||
	    BN_bn2binpad(s, sig, (int)mod_len) < 0)
		goto cleanup;
	/* RFC 9474 4.4: only a signature that verifies leaves Finalize */
	rc = bsig_verify(pk, v, msg, msg_len, sig, mod_len) == 0 ? 0 :
								   PP_ERR_VERIFY;
cleanup:
	if (rc != 0) {
		OPENSSL_cleanse(sig, sig_cap);
		ERR_clear_error();
	}
	BN_free(n);
	BN_free(z);
	BN_clear_free(ib);
	BN_free(s);
	BN_MONT_CTX_free(mont);
	BN_CTX_free(ctx);
	return rc;
}
