#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "crypto/p384.h"
#include "base/pp_err.h"
#include "tu.h"

TestSuite(p384, .fini = tu_leak_check);

static struct p384_ctx *new_ctx(void)
{
	struct p384_ctx *g = NULL;

	cr_assert_eq(p384_ctx_new(&g), 0);
	cr_assert(g != NULL);
	return g;
}

/* Hex with or without 0x into exactly len bytes. */
static void hex_exact(const char *hex, uint8_t *out, size_t len)
{
	size_t n;
	uint8_t *b = tu_hex(hex, &n);

	cr_assert_eq(n, len, "hex of %zu bytes, want %zu", n, len);
	memcpy(out, b, len);
	free(b);
}

/* Checks that p has the affine coordinates of a {"x","y"} JSON object. */
static void expect_point(const struct p384_ctx *g, const EC_POINT *p,
			 json_t *xy, const char *what, size_t i)
{
	BIGNUM *x = BN_new(), *y = BN_new();
	uint8_t gx[48], gy[48], wx[48], wy[48];

	cr_assert(x != NULL && y != NULL);
	cr_assert(EC_POINT_get_affine_coordinates(p384_ctx_group(g), p, x, y,
						  NULL) == 1);
	cr_assert(BN_bn2binpad(x, gx, 48) == 48 && BN_bn2binpad(y, gy, 48) == 48);
	hex_exact(json_string_value(json_object_get(xy, "x")), wx, 48);
	hex_exact(json_string_value(json_object_get(xy, "y")), wy, 48);
	cr_expect(memcmp(gx, wx, 48) == 0, "vector %zu %s.x", i, what);
	cr_expect(memcmp(gy, wy, 48) == 0, "vector %zu %s.y", i, what);
	BN_free(x);
	BN_free(y);
}

/* RFC 9380 J.3.1: u, Q0, Q1 and P of every vector. */
Test(p384, hash_to_curve_matches_rfc9380_when_published_vectors)
{
	json_t *v = tu_vectors("rfc9380-p384-xmd-sha384-sswu-ro.json");
	const char *dst = json_string_value(json_object_get(v, "dst"));
	json_t *vecs = json_object_get(v, "vectors");
	struct p384_ctx *g = new_ctx();
	EC_POINT *p = p384_point_new(g);
	BN_CTX *bn = BN_CTX_new();
	size_t i, n = json_array_size(vecs);

	cr_assert(dst != NULL && n == 5 && p != NULL && bn != NULL);
	for (i = 0; i < n; i++) {
		json_t *t = json_array_get(vecs, i);
		const char *msg = json_string_value(json_object_get(t, "msg"));
		json_t *u = json_object_get(t, "u");
		uint8_t u0[48], u1[48], w[48], enc[49];
		size_t ml = strlen(msg), dl = strlen(dst);

		cr_assert_eq(p384_hash_to_field(g, (const uint8_t *)msg, ml,
						(const uint8_t *)dst, dl, u0,
						u1, bn),
			     0);
		hex_exact(json_string_value(json_array_get(u, 0)), w, 48);
		cr_expect(memcmp(u0, w, 48) == 0, "vector %zu u0", i);
		hex_exact(json_string_value(json_array_get(u, 1)), w, 48);
		cr_expect(memcmp(u1, w, 48) == 0, "vector %zu u1", i);

		cr_assert_eq(p384_map_to_curve(g, u0, p, bn), 0);
		expect_point(g, p, json_object_get(t, "Q0"), "Q0", i);
		cr_assert_eq(p384_map_to_curve(g, u1, p, NULL), 0);
		expect_point(g, p, json_object_get(t, "Q1"), "Q1", i);

		cr_assert_eq(p384_hash_to_curve(g, (const uint8_t *)msg, ml,
						(const uint8_t *)dst, dl, p,
						bn),
			     0);
		expect_point(g, p, json_object_get(t, "P"), "P", i);

		/* the byte form agrees with the handle form and decodes back */
		cr_assert_eq(p384_hash_to_curve_bytes(g, (const uint8_t *)msg,
						      ml, (const uint8_t *)dst,
						      dl, enc, NULL),
			     0);
		cr_assert_eq(p384_element_decode(g, enc, sizeof(enc), p, bn), 0);
		expect_point(g, p, json_object_get(t, "P"), "P decoded", i);
	}
	p384_point_free(p);
	BN_CTX_free(bn);
	p384_ctx_free(g);
	json_decref(v);
}

Test(p384, element_roundtrips_when_valid)
{
	struct p384_ctx *g = new_ctx();
	BIGNUM *k = p384_scalar_new();
	EC_POINT *p = p384_point_new(g), *q = p384_point_new(g);
	uint8_t enc[49], enc2[49];

	for (int i = 0; i < 8; i++) {
		cr_assert_eq(p384_scalar_random(g, k, NULL), 0);
		cr_assert_eq(p384_point_mul_base(g, p, k, NULL), 0);
		cr_assert_eq(p384_element_encode(g, p, enc, NULL), 0);
		cr_expect(enc[0] == 0x02 || enc[0] == 0x03);
		cr_assert_eq(p384_element_decode(g, enc, 49, q, NULL), 0);
		cr_expect_eq(p384_point_equal(g, p, q, NULL), 1);
		cr_assert_eq(p384_element_encode(g, q, enc2, NULL), 0);
		cr_expect(memcmp(enc, enc2, 49) == 0);
		/* the affine form round-trips, and a changed y is refused */
		uint8_t aff[P384_AFFINE_LEN];
		cr_assert_eq(p384_point_to_affine(g, p, aff, NULL), 0);
		cr_assert_eq(p384_point_from_affine(g, aff, q, NULL), 0);
		cr_expect_eq(p384_point_equal(g, p, q, NULL), 1);
		aff[95] ^= 1;
		cr_expect_eq(p384_point_from_affine(g, aff, q, NULL), PP_ERR_ARG);
		memset(aff + 48, 0xff, 48);
		cr_expect_eq(p384_point_from_affine(g, aff, q, NULL), PP_ERR_ARG);
	}
	cr_assert(EC_POINT_set_to_infinity(p384_ctx_group(g), p) == 1);
	{
		uint8_t aff[P384_AFFINE_LEN];
		cr_expect_eq(p384_point_to_affine(g, p, aff, NULL), PP_ERR_ARG);
	}
	p384_scalar_free(k);
	p384_point_free(p);
	p384_point_free(q);
	p384_ctx_free(g);
}

/* x = p - 1, x = 0 and the x of a valid point with no curve point. */
Test(p384, element_decode_rejects_when_bad_encoding)
{
	struct p384_ctx *g = new_ctx();
	BIGNUM *k = p384_scalar_new(), *x = BN_new(), *pb = BN_new();
	EC_POINT *p = p384_point_new(g);
	uint8_t good[49], bad[49], pbytes[48];
	int found = 0;

	cr_assert(k != NULL && x != NULL && pb != NULL && p != NULL);
	cr_assert(BN_set_word(k, 7) == 1);
	cr_assert_eq(p384_point_mul_base(g, p, k, NULL), 0);
	cr_assert_eq(p384_element_encode(g, p, good, NULL), 0);
	cr_assert(EC_GROUP_get_curve(p384_ctx_group(g), pb, NULL, NULL, NULL) == 1);
	cr_assert(BN_bn2binpad(pb, pbytes, 48) == 48);

	/* wrong prefixes: uncompressed, identity, hybrid, junk */
	static const uint8_t prefixes[] = { 0x00, 0x01, 0x04, 0x06, 0x07, 0xff };
	for (size_t i = 0; i < sizeof(prefixes); i++) {
		memcpy(bad, good, 49);
		bad[0] = prefixes[i];
		cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL),
			     PP_ERR_ARG, "prefix %02x", prefixes[i]);
	}
	/* the identity's own one-byte encoding, and all zeros */
	bad[0] = 0x00;
	cr_expect_eq(p384_element_decode(g, bad, 1, p, NULL), PP_ERR_LENGTH);
	memset(bad, 0, 49);
	cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL), PP_ERR_ARG);
	/* truncated, too long, empty */
	cr_expect_eq(p384_element_decode(g, good, 48, p, NULL), PP_ERR_LENGTH);
	cr_expect_eq(p384_element_decode(g, good, 0, p, NULL), PP_ERR_LENGTH);
	{
		uint8_t longer[50];

		memcpy(longer, good, 49);
		longer[49] = 0;
		cr_expect_eq(p384_element_decode(g, longer, 50, p, NULL),
			     PP_ERR_LENGTH);
	}
	/* x = p and x = 2^384 - 1: not field elements */
	bad[0] = 0x02;
	memcpy(bad + 1, pbytes, 48);
	cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL), PP_ERR_ARG);
	memset(bad + 1, 0xff, 48);
	cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL), PP_ERR_ARG);
	/* small x: one on the curve, whose x + p (< 2^384) is the same point
	 * written non-canonically, and one off the curve */
	int on = 0, off = 0;
	for (unsigned w = 1; w < 64 && !(on && off); w++) {
		cr_assert(BN_set_word(x, w) == 1);
		bad[0] = 0x02;
		cr_assert(BN_bn2binpad(x, bad + 1, 48) == 48);
		if (EC_POINT_oct2point(p384_ctx_group(g), p, bad, 49, NULL) == 1) {
			if (on)
				continue;
			on = 1;
			cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL),
				     0, "x = %u on the curve", w);
			cr_assert(BN_add(x, x, pb) == 1);
			cr_assert(BN_bn2binpad(x, bad + 1, 48) == 48);
			cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL),
				     PP_ERR_ARG, "x = %u + p", w);
		} else if (!off) {
			off = 1;
			cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL),
				     PP_ERR_ARG, "x = %u off the curve", w);
			bad[0] = 0x03;
			cr_expect_eq(p384_element_decode(g, bad, 49, p, NULL),
				     PP_ERR_ARG);
		}
	}
	found = on && off;
	cr_expect(found, "no x on and off the curve below 64");
	ERR_clear_error();
	/* the valid encoding still decodes */
	cr_expect_eq(p384_element_decode(g, good, 49, p, NULL), 0);

	p384_scalar_free(k);
	BN_free(x);
	BN_free(pb);
	p384_point_free(p);
	p384_ctx_free(g);
}

Test(p384, element_encode_rejects_when_identity)
{
	struct p384_ctx *g = new_ctx();
	EC_POINT *p = p384_point_new(g);
	BIGNUM *k = p384_scalar_new();
	uint8_t out[49];

	cr_assert(EC_POINT_set_to_infinity(p384_ctx_group(g), p) == 1);
	cr_expect_eq(p384_element_encode(g, p, out, NULL), PP_ERR_ARG);
	/* 0 * P is the identity */
	cr_assert_eq(p384_point_mul_base(g, p, k, NULL), 0);
	cr_expect_eq(p384_element_encode(g, p, out, NULL), PP_ERR_ARG);
	p384_point_free(p);
	p384_scalar_free(k);
	p384_ctx_free(g);
}

Test(p384, scalar_decode_rejects_when_not_canonical_or_zero)
{
	struct p384_ctx *g = new_ctx();
	BIGNUM *s = p384_scalar_new(), *n = BN_new();
	uint8_t nb[48], b[48], out[48];

	cr_assert(s != NULL && n != NULL);
	cr_assert(BN_copy(n, EC_GROUP_get0_order(p384_ctx_group(g))) != NULL);
	cr_assert(BN_bn2binpad(n, nb, 48) == 48);
	/* n, n + 1, all ones: not canonical */
	cr_expect_eq(p384_scalar_decode(g, nb, 48, s), PP_ERR_ARG);
	memcpy(b, nb, 48);
	b[47]++;
	cr_expect_eq(p384_scalar_decode(g, b, 48, s), PP_ERR_ARG);
	memset(b, 0xff, 48);
	cr_expect_eq(p384_scalar_decode(g, b, 48, s), PP_ERR_ARG);
	/* n - 1: the largest canonical scalar */
	memcpy(b, nb, 48);
	b[47]--;
	cr_expect_eq(p384_scalar_decode_nonzero(g, b, 48, s), 0);
	cr_assert_eq(p384_scalar_encode(g, s, out), 0);
	cr_expect(memcmp(out, b, 48) == 0);
	/* zero: plain decode accepts, the nonzero variant refuses */
	memset(b, 0, 48);
	cr_expect_eq(p384_scalar_decode(g, b, 48, s), 0);
	cr_expect(BN_is_zero(s));
	cr_expect_eq(p384_scalar_decode_nonzero(g, b, 48, s), PP_ERR_ARG);
	b[47] = 1;
	cr_expect_eq(p384_scalar_decode_nonzero(g, b, 48, s), 0);
	/* lengths */
	cr_expect_eq(p384_scalar_decode(g, b, 47, s), PP_ERR_LENGTH);
	cr_expect_eq(p384_scalar_decode(g, b, 49, s), PP_ERR_LENGTH);
	/* encode refuses n */
	cr_expect_eq(p384_scalar_encode(g, n, out), PP_ERR_ARG);
	p384_scalar_free(s);
	BN_free(n);
	p384_ctx_free(g);
}

Test(p384, scalar_arithmetic_agrees_when_random)
{
	struct p384_ctx *g = new_ctx();
	BN_CTX *bn = BN_CTX_new();
	BIGNUM *a = p384_scalar_new(), *b = p384_scalar_new();
	BIGNUM *c = p384_scalar_new(), *d = p384_scalar_new();
	EC_POINT *p = p384_point_new(g), *q = p384_point_new(g);
	EC_POINT *r = p384_point_new(g);

	cr_assert(bn && a && b && c && d && p && q && r);
	for (int i = 0; i < 16; i++) {
		cr_assert_eq(p384_scalar_random(g, a, bn), 0);
		cr_assert_eq(p384_scalar_random(g, b, bn), 0);
		if (i == 0)
			BN_zero(b);
		/* (a + b) - b == a */
		cr_assert_eq(p384_scalar_add(g, c, a, b, bn), 0);
		cr_assert_eq(p384_scalar_sub(g, d, c, b, bn), 0);
		cr_expect(BN_cmp(d, a) == 0, "round %d", i);
		/* b - a + a == b */
		cr_assert_eq(p384_scalar_sub(g, c, b, a, NULL), 0);
		cr_assert_eq(p384_scalar_add(g, d, c, a, NULL), 0);
		cr_expect(BN_cmp(d, b) == 0, "round %d", i);
		/* a * a^-1 == 1 */
		cr_assert_eq(p384_scalar_invert(g, c, a, bn), 0);
		cr_assert_eq(p384_scalar_mul(g, d, a, c, bn), 0);
		cr_expect(BN_is_one(d), "round %d", i);
		/* (a * b) G == a (b G); (a + b) G == a G + b G */
		cr_assert_eq(p384_scalar_mul(g, c, a, b, bn), 0);
		cr_assert_eq(p384_point_mul_base(g, p, c, bn), 0);
		cr_assert_eq(p384_point_mul_base(g, q, b, bn), 0);
		cr_assert_eq(p384_point_mul(g, r, a, q, bn), 0);
		cr_expect_eq(p384_point_equal(g, p, r, bn), 1, "round %d", i);
		cr_assert_eq(p384_scalar_add(g, c, a, b, bn), 0);
		cr_assert_eq(p384_point_mul_base(g, p, c, bn), 0);
		cr_assert_eq(p384_point_mul_base(g, r, a, bn), 0);
		cr_assert_eq(p384_point_add(g, r, r, q, bn), 0);
		cr_expect_eq(p384_point_equal(g, p, r, bn), 1, "round %d", i);
	}
	/* 0 - 1 == n - 1; zero has no inverse; out-of-range inputs refused */
	BN_zero(a);
	cr_assert(BN_set_word(b, 1) == 1);
	cr_assert_eq(p384_scalar_sub(g, c, a, b, bn), 0);
	cr_assert(BN_copy(d, EC_GROUP_get0_order(p384_ctx_group(g))) != NULL);
	cr_assert(BN_sub_word(d, 1) == 1);
	cr_expect(BN_cmp(c, d) == 0);
	cr_expect_eq(p384_scalar_invert(g, c, a, bn), PP_ERR_ARG);
	cr_assert(BN_add_word(d, 1) == 1);
	cr_expect_eq(p384_scalar_add(g, c, d, b, bn), PP_ERR_ARG);
	cr_expect_eq(p384_point_mul_base(g, p, d, bn), PP_ERR_ARG);

	p384_scalar_free(a);
	p384_scalar_free(b);
	p384_scalar_free(c);
	p384_scalar_free(d);
	p384_point_free(p);
	p384_point_free(q);
	p384_point_free(r);
	BN_CTX_free(bn);
	p384_ctx_free(g);
}

/* RFC 9497 P384-SHA384 mode 1 (VOPRF): DeriveKeyPair gives skSm and pkSm
 * (HashToScalar), and for each single-input vector blind * HashToGroup
 * (input) is BlindedElement and skSm * BlindedElement is
 * EvaluationElement. */
static const char ctx_string[] = "OPRFV1-\x01-P384-SHA384";

Test(p384, voprf_pieces_match_rfc9497_when_p384_sha384_mode1)
{
	json_t *all = tu_vectors("rfc9497-voprf-vectors.json"), *suite = NULL;
	struct p384_ctx *g = new_ctx();
	BN_CTX *bn = BN_CTX_new();
	BIGNUM *sk = p384_scalar_new(), *r = p384_scalar_new();
	EC_POINT *pk = p384_point_new(g), *p = p384_point_new(g);
	uint8_t *seed, *info, *want, in[256], dst[64], enc[49], sb[48];
	size_t seed_len, info_len, want_len, ctx_len = sizeof(ctx_string) - 1;
	size_t i, in_len, dst_len, checked = 0;
	unsigned counter;

	cr_assert(bn && sk && r && pk && p);
	for (i = 0; i < json_array_size(all); i++) {
		json_t *s = json_array_get(all, i);

		if (strcmp(json_string_value(json_object_get(s, "identifier")),
			   "P384-SHA384") == 0 &&
		    json_integer_value(json_object_get(s, "mode")) == 1)
			suite = s;
	}
	cr_assert(suite != NULL);

	/* DeriveKeyPair(seed, info), RFC 9497 3.2.1 */
	seed = tu_hex_field(suite, "seed", &seed_len);
	info = tu_hex_field(suite, "keyInfo", &info_len);
	cr_assert(seed_len + 2 + info_len + 1 <= sizeof(in));
	memcpy(in, seed, seed_len);
	in[seed_len] = (uint8_t)(info_len >> 8);
	in[seed_len + 1] = (uint8_t)info_len;
	memcpy(in + seed_len + 2, info, info_len);
	in_len = seed_len + 2 + info_len + 1;
	dst_len = strlen("DeriveKeyPair") + ctx_len;
	memcpy(dst, "DeriveKeyPair", strlen("DeriveKeyPair"));
	memcpy(dst + strlen("DeriveKeyPair"), ctx_string, ctx_len);
	BN_zero(sk);
	for (counter = 0; BN_is_zero(sk); counter++) {
		cr_assert(counter <= 255);
		in[in_len - 1] = (uint8_t)counter;
		cr_assert_eq(p384_hash_to_scalar(g, in, in_len, dst, dst_len,
						 sk, bn),
			     0);
	}
	cr_assert_eq(p384_scalar_encode(g, sk, sb), 0);
	want = tu_hex_field(suite, "skSm", &want_len);
	cr_assert_eq(want_len, 48);
	cr_expect(memcmp(sb, want, 48) == 0, "skSm");
	free(want);
	cr_assert_eq(p384_point_mul_base(g, pk, sk, bn), 0);
	cr_assert_eq(p384_element_encode(g, pk, enc, bn), 0);
	want = tu_hex_field(suite, "pkSm", &want_len);
	cr_assert_eq(want_len, 49);
	cr_expect(memcmp(enc, want, 49) == 0, "pkSm");
	free(want);

	/* HashToGroup DST as given, and as built from the context string */
	{
		uint8_t *gdst = tu_hex_field(suite, "groupDST", &dst_len);

		cr_assert(dst_len == strlen("HashToGroup-") + ctx_len);
		cr_expect(memcmp(gdst, "HashToGroup-", 12) == 0 &&
			  memcmp(gdst + 12, ctx_string, ctx_len) == 0);
		memcpy(dst, gdst, dst_len);
		free(gdst);
	}
	json_t *vecs = json_object_get(suite, "vectors");
	for (i = 0; i < json_array_size(vecs); i++) {
		json_t *t = json_array_get(vecs, i);
		uint8_t *input, *blind, *be, *ee;
		size_t il, bl, bel, eel;

		if (json_integer_value(json_object_get(t, "Batch")) != 1)
			continue;
		input = tu_hex_field(t, "Input", &il);
		blind = tu_hex_field(t, "Blind", &bl);
		be = tu_hex_field(t, "BlindedElement", &bel);
		ee = tu_hex_field(t, "EvaluationElement", &eel);
		cr_assert_eq(p384_scalar_decode_nonzero(g, blind, bl, r), 0);
		cr_assert_eq(p384_hash_to_curve(g, input, il, dst, dst_len, p,
						bn),
			     0);
		cr_assert_eq(p384_point_mul(g, p, r, p, bn), 0);
		cr_assert_eq(p384_element_encode(g, p, enc, bn), 0);
		cr_assert_eq(bel, 49);
		cr_expect(memcmp(enc, be, 49) == 0, "vector %zu blinded", i);
		/* BlindEvaluate through the byte shortcut */
		cr_assert_eq(p384_element_mul_bytes(g, sb, 48, be, bel, enc,
						    NULL),
			     0);
		cr_assert_eq(eel, 49);
		cr_expect(memcmp(enc, ee, 49) == 0, "vector %zu evaluated", i);
		/* unblinding: r^-1 * EvaluationElement == skSm * H(input) */
		cr_assert_eq(p384_scalar_invert(g, r, r, bn), 0);
		cr_assert_eq(p384_element_decode(g, ee, eel, p, bn), 0);
		cr_assert_eq(p384_point_mul(g, p, r, p, bn), 0);
		cr_assert_eq(p384_hash_to_curve(g, input, il, dst, dst_len, pk,
						bn),
			     0);
		cr_assert_eq(p384_point_mul(g, pk, sk, pk, bn), 0);
		cr_expect_eq(p384_point_equal(g, p, pk, bn), 1, "vector %zu", i);
		checked++;
		free(input);
		free(blind);
		free(be);
		free(ee);
	}
	cr_expect(checked >= 2, "only %zu single-input vectors", checked);

	free(seed);
	free(info);
	p384_scalar_free(sk);
	p384_scalar_free(r);
	p384_point_free(pk);
	p384_point_free(p);
	BN_CTX_free(bn);
	p384_ctx_free(g);
	json_decref(all);
}

/* One shared context, four threads, each with its own BN_CTX or none. */
struct mt_arg {
	const struct p384_ctx *g;
	uint8_t want[49];
	int ok;
};

static void *mt_run(void *arg)
{
	struct mt_arg *a = arg;
	BN_CTX *bn = BN_CTX_new();
	uint8_t enc[49];

	a->ok = bn != NULL;
	for (int i = 0; i < 20 && a->ok; i++)
		a->ok = p384_hash_to_curve_bytes(a->g, (const uint8_t *)"abc", 3,
						 (const uint8_t *)"D", 1, enc,
						 (i & 1) ? bn : NULL) == 0 &&
			memcmp(enc, a->want, 49) == 0;
	BN_CTX_free(bn);
	return NULL;
}

Test(p384, shared_ctx_works_when_threads_use_it_at_once)
{
	struct p384_ctx *g = new_ctx();
	struct mt_arg args[4];
	pthread_t th[4];
	uint8_t want[49];

	cr_assert_eq(p384_hash_to_curve_bytes(g, (const uint8_t *)"abc", 3,
					      (const uint8_t *)"D", 1, want,
					      NULL), 0);
	for (int i = 0; i < 4; i++) {
		args[i].g = g;
		memcpy(args[i].want, want, 49);
		cr_assert(pthread_create(&th[i], NULL, mt_run, &args[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect(args[i].ok, "thread %d", i);
	}
	p384_ctx_free(g);
}

Test(p384, ctx_free_accepts_null)
{
	p384_ctx_free(NULL);
	p384_point_free(NULL);
	p384_scalar_free(NULL);
}
