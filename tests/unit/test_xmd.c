#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

#include "base/pp_err.h"
#include "crypto/xmd.h"
#include "tu.h"

TestSuite(xmd, .fini = tu_leak_check);

/* RFC 9380 K.3: every expand_message_xmd(SHA-512) vector, byte for byte. */
Test(xmd, sha512_matches_rfc9380_when_published_vectors)
{
	json_t *v = tu_vectors("rfc9380-expand-message-xmd-sha512.json");
	const char *dst = json_string_value(json_object_get(v, "DST"));
	json_t *tests = json_object_get(v, "tests");
	size_t i, n = json_array_size(tests);

	cr_assert(dst != NULL && n == 10);
	for (i = 0; i < n; i++) {
		json_t *t = json_array_get(tests, i);
		const char *msg = json_string_value(json_object_get(t, "msg"));
		const char *lstr =
			json_string_value(json_object_get(t, "len_in_bytes"));
		size_t want_len, len = strtoul(lstr, NULL, 16);
		uint8_t *want = tu_hex_field(t, "uniform_bytes", &want_len);
		uint8_t out[256];

		cr_assert_eq(len, want_len, "vector %zu", i);
		cr_assert(len <= sizeof(out));
		cr_assert_eq(xmd_expand(EVP_sha512(), (const uint8_t *)msg,
					strlen(msg), (const uint8_t *)dst,
					strlen(dst), out, len),
			     0, "vector %zu", i);
		cr_expect(memcmp(out, want, len) == 0, "vector %zu", i);
		free(want);
	}
	json_decref(v);
}

/* RFC 9380 J.3.1: hash_to_field(msg, 2) for P-384 is
 * xmd_sha384(msg, DST, 144) in two 72-byte halves, each mod p. */
Test(xmd, sha384_gives_p384_field_elements_when_published_vectors)
{
	json_t *v = tu_vectors("rfc9380-p384-xmd-sha384-sswu-ro.json");
	const char *dst = json_string_value(json_object_get(v, "dst"));
	json_t *vecs = json_object_get(v, "vectors");
	BIGNUM *p = NULL, *e = BN_new();
	BN_CTX *bn = BN_CTX_new();
	size_t i, k, n = json_array_size(vecs);

	cr_assert(dst != NULL && n == 5 && e != NULL && bn != NULL);
	cr_assert(BN_hex2bn(&p, json_string_value(json_object_get(
					json_object_get(v, "field"), "p")) + 2) > 0);
	for (i = 0; i < n; i++) {
		json_t *t = json_array_get(vecs, i);
		const char *msg = json_string_value(json_object_get(t, "msg"));
		json_t *u = json_object_get(t, "u");
		uint8_t out[144], fe[48];

		cr_assert_eq(xmd_expand(EVP_sha384(), (const uint8_t *)msg,
					strlen(msg), (const uint8_t *)dst,
					strlen(dst), out, sizeof(out)),
			     0, "vector %zu", i);
		for (k = 0; k < 2; k++) {
			size_t want_len;
			uint8_t *want = tu_hex(json_string_value(
						       json_array_get(u, k)),
					       &want_len);

			cr_assert(BN_bin2bn(out + 72 * k, 72, e) != NULL);
			cr_assert(BN_nnmod(e, e, p, bn) == 1);
			cr_assert(BN_bn2binpad(e, fe, sizeof(fe)) == 48);
			cr_assert_eq(want_len, 48);
			cr_expect(memcmp(fe, want, 48) == 0,
				  "vector %zu u[%zu]", i, k);
			free(want);
		}
	}
	BN_free(p);
	BN_free(e);
	BN_CTX_free(bn);
	json_decref(v);
}

/* RFC 9380 5.3.3: a DST over 255 bytes acts as H("H2C-OVERSIZE-DST-" || DST). */
Test(xmd, long_dst_is_hashed_when_over_255_bytes)
{
	static const char pre[] = "H2C-OVERSIZE-DST-";
	uint8_t dst[300], buf[sizeof(pre) - 1 + sizeof(dst)], h[64];
	uint8_t a[100], b[100];
	unsigned hl = 0;

	memset(dst, 'D', sizeof(dst));
	memcpy(buf, pre, sizeof(pre) - 1);
	memcpy(buf + sizeof(pre) - 1, dst, sizeof(dst));
	cr_assert(EVP_Digest(buf, sizeof(buf), h, &hl, EVP_sha512(), NULL) == 1);
	cr_assert_eq(xmd_expand(EVP_sha512(), (const uint8_t *)"abc", 3, dst,
				sizeof(dst), a, sizeof(a)), 0);
	cr_assert_eq(xmd_expand(EVP_sha512(), (const uint8_t *)"abc", 3, h, hl,
				b, sizeof(b)), 0);
	cr_expect(memcmp(a, b, sizeof(a)) == 0);
	/* 255 bytes is used as is. */
	cr_assert_eq(xmd_expand(EVP_sha512(), (const uint8_t *)"abc", 3, dst,
				255, b, sizeof(b)), 0);
	cr_expect(memcmp(a, b, sizeof(a)) != 0);
}

Test(xmd, rejects_when_bounds_exceeded)
{
	static uint8_t out[XMD_MAX_OUT + 1];
	const uint8_t dst[] = "D";

	/* ell = ceil(len / 48) must be <= 255: 12240 is the last that fits. */
	cr_expect_eq(xmd_expand(EVP_sha384(), NULL, 0, dst, 1, out, 255 * 48), 0);
	cr_expect_eq(xmd_expand(EVP_sha384(), NULL, 0, dst, 1, out,
				255 * 48 + 1), PP_ERR_ARG);
	cr_expect_eq(xmd_expand(EVP_sha512(), NULL, 0, dst, 1, out,
				255 * 64 + 1), PP_ERR_ARG);
	cr_expect_eq(xmd_expand(EVP_sha512(), NULL, 0, dst, 1, out,
				XMD_MAX_OUT + 1), PP_ERR_ARG);
	cr_expect_eq(xmd_expand(EVP_sha512(), NULL, 0, dst, 1, out, 0),
		     PP_ERR_ARG);
	cr_expect_eq(xmd_expand(EVP_sha512(), NULL, 0, dst, 0, out, 32),
		     PP_ERR_ARG);
	cr_expect_eq(xmd_expand(EVP_sha512(), NULL, 3, dst, 1, out, 32),
		     PP_ERR_ARG);
	cr_expect_eq(xmd_expand(EVP_shake256(), NULL, 0, dst, 1, out, 32),
		     PP_ERR_ARG);
	cr_expect_eq(xmd_expand(NULL, NULL, 0, dst, 1, out, 32), PP_ERR_ARG);
}
