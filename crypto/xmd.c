/* expand_message_xmd, RFC 9380 section 5.3.1 (and 5.3.3 for long DSTs). */
#include "crypto/xmd.h"

#include <string.h>
#include <openssl/crypto.h>

#include "base/pp_err.h"

static const char oversize_prefix[] = "H2C-OVERSIZE-DST-";

/* One digest of up to three byte strings followed by DST_prime. */
static int digest_parts(EVP_MD_CTX *ctx, const EVP_MD *md,
			const uint8_t *a, size_t a_len,
			const uint8_t *b, size_t b_len,
			const uint8_t *c, size_t c_len,
			const uint8_t *dst, size_t dst_len, uint8_t *h)
{
	uint8_t dlen = (uint8_t)dst_len;

	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    (a_len > 0 && EVP_DigestUpdate(ctx, a, a_len) != 1) ||
	    (b_len > 0 && EVP_DigestUpdate(ctx, b, b_len) != 1) ||
	    (c_len > 0 && EVP_DigestUpdate(ctx, c, c_len) != 1) ||
	    EVP_DigestUpdate(ctx, dst, dst_len) != 1 ||
	    EVP_DigestUpdate(ctx, &dlen, 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, h, NULL) != 1)
		return PP_ERR_INTERNAL;
	return 0;
}

int xmd_expand(const EVP_MD *md, const uint8_t *msg, size_t msg_len,
	       const uint8_t *dst, size_t dst_len, uint8_t *out,
	       size_t out_len)
{
	static const uint8_t zeros[256]; /* Z_pad: up to a SHA-3 rate */
	EVP_MD_CTX *ctx = NULL;
	uint8_t short_dst[EVP_MAX_MD_SIZE];
	uint8_t b0[EVP_MAX_MD_SIZE], bi[EVP_MAX_MD_SIZE], x[EVP_MAX_MD_SIZE];
	uint8_t lib[3], idx;
	size_t b_len, s_len, ell, i, j, off;
	int bsz, ssz, rc = PP_ERR_ARG;

	if (out != NULL && out_len > 0)
		memset(out, 0, out_len);
	if (md == NULL || out == NULL || out_len == 0 ||
	    out_len > XMD_MAX_OUT || dst == NULL || dst_len == 0 ||
	    (msg == NULL && msg_len > 0) ||
	    (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) != 0)
		return PP_ERR_ARG;
	bsz = EVP_MD_get_size(md);
	ssz = EVP_MD_get_block_size(md);
	/* The block must hold at least one digest and Z_pad lives in zeros. */
	if (bsz <= 0 || bsz > EVP_MAX_MD_SIZE || ssz < bsz ||
	    (size_t)ssz > sizeof(zeros))
		return PP_ERR_ARG;
	b_len = (size_t)bsz;
	s_len = (size_t)ssz;
	ell = (out_len + b_len - 1) / b_len;
	if (ell > 255)
		return PP_ERR_ARG;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return PP_ERR_NOMEM;
	rc = PP_ERR_INTERNAL;
	if (dst_len > XMD_MAX_DST) {
		/* DST = H("H2C-OVERSIZE-DST-" || a_very_long_DST) */
		if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
		    EVP_DigestUpdate(ctx, oversize_prefix,
				     sizeof(oversize_prefix) - 1) != 1 ||
		    EVP_DigestUpdate(ctx, dst, dst_len) != 1 ||
		    EVP_DigestFinal_ex(ctx, short_dst, NULL) != 1)
			goto cleanup;
		dst = short_dst;
		dst_len = b_len;
	}

	/* b_0 = H(Z_pad || msg || I2OSP(len_in_bytes, 2) || I2OSP(0, 1) ||
	 *         DST_prime) */
	lib[0] = (uint8_t)(out_len >> 8);
	lib[1] = (uint8_t)out_len;
	lib[2] = 0;
	if (digest_parts(ctx, md, zeros, s_len, msg, msg_len, lib, 3, dst,
			 dst_len, b0) != 0)
		goto cleanup;

	/* b_1 = H(b_0 || I2OSP(1, 1) || DST_prime);
	 * b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime) */
	off = 0;
	for (i = 1; i <= ell; i++) {
		size_t take = out_len - off < b_len ? out_len - off : b_len;

		if (i == 1) {
			memcpy(x, b0, b_len);
		} else {
			for (j = 0; j < b_len; j++)
				x[j] = (uint8_t)(b0[j] ^ bi[j]);
		}
		idx = (uint8_t)i;
		if (digest_parts(ctx, md, x, b_len, &idx, 1, NULL, 0, dst,
				 dst_len, bi) != 0)
			goto cleanup;
		memcpy(out + off, bi, take);
		off += take;
	}
	rc = 0;

cleanup:
	if (rc != 0)
		OPENSSL_cleanse(out, out_len);
	OPENSSL_cleanse(b0, sizeof(b0));
	OPENSSL_cleanse(bi, sizeof(bi));
	OPENSSL_cleanse(x, sizeof(x));
	EVP_MD_CTX_free(ctx);
	return rc;
}
