/* RFC 9578 section 6.5 key form: encoding, strict decoding, key ids. */
#include "crypto/bsig.h"
#include "base/pp_err.h"
#include "crypto/spki.h"
#include "tu.h"
#include "tu_rsa.h"

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

TestSuite(spki, .fini = tu_leak_check);

#define T2_FILE "rfc9578-type2-blindrsa-vectors.json"
/* offset of n's leading zero byte in a 2048-bit encoding: everything before
 * it is structure (headers and the AlgorithmIdentifier) */
#define PKS_HDR_END 80

/* pkS of the type-2 vectors, into buf (which holds SPKI_MAX_LEN + 1). */
static size_t load_pks(uint8_t *buf)
{
	json_t *vecs = tu_vectors(T2_FILE);
	size_t len;
	uint8_t *p = tu_hex_field(json_array_get(vecs, 0), "pkS", &len);

	cr_assert_eq(len, SPKI_RSA2048_LEN);
	memcpy(buf, p, len);
	free(p);
	json_decref(vecs);
	return len;
}

static int decode_rc(const uint8_t *in, size_t len)
{
	EVP_PKEY *pk = (EVP_PKEY *)1;
	int rc = spki_decode(in, len, &pk);

	if (rc != 0)
		cr_assert_null(pk, "output set on failure");
	EVP_PKEY_free(pk);
	cr_assert_eq(ERR_peek_error(), 0, "error queue left behind");
	return rc;
}

Test(spki, encode_reproduces_pks_when_rfc9578_key)
{
	uint8_t want[SPKI_MAX_LEN + 1], out[SPKI_MAX_LEN];
	size_t want_len = load_pks(want), len = 0;
	EVP_PKEY *sk = tu_rsa_type2_key();

	cr_assert_eq(spki_encode(sk, out, sizeof(out), &len), 0);
	cr_assert_eq(len, want_len);
	cr_assert(memcmp(out, want, len) == 0);
	/* exactly enough room is enough; one byte less is not */
	cr_assert_eq(spki_encode(sk, out, want_len, &len), 0);
	cr_assert_eq(spki_encode(sk, out, want_len - 1, &len), PP_ERR_BUFFER);
	cr_assert_eq(len, 0);
	EVP_PKEY_free(sk);
}

Test(spki, decode_gives_plain_rsa_key_when_pks)
{
	uint8_t pks[SPKI_MAX_LEN + 1], out[SPKI_MAX_LEN];
	uint8_t m[256] = { 0 }, c[256];
	size_t len = load_pks(pks), out_len = 0, c_len = sizeof(c);
	EVP_PKEY *sk = tu_rsa_type2_key(), *pk = NULL;
	EVP_PKEY_CTX *ctx;

	cr_assert_eq(spki_decode(pks, len, &pk), 0);
	cr_assert(EVP_PKEY_eq(pk, sk) == 1);
	cr_assert_eq(EVP_PKEY_get_base_id(pk), EVP_PKEY_RSA);
	cr_assert_eq(EVP_PKEY_get_bits(pk), 2048);
	/* raw operations work on it (an RSA-PSS typed key refuses them) */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	cr_assert(ctx != NULL);
	m[255] = 2;
	cr_assert(EVP_PKEY_encrypt_init(ctx) > 0);
	cr_assert(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) > 0);
	cr_assert(EVP_PKEY_encrypt(ctx, c, &c_len, m, sizeof(m)) > 0);
	cr_assert_eq(c_len, 256);
	EVP_PKEY_CTX_free(ctx);
	/* and it encodes back to the same bytes */
	cr_assert_eq(spki_encode(pk, out, sizeof(out), &out_len), 0);
	cr_assert_eq(out_len, len);
	cr_assert(memcmp(out, pks, len) == 0);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(sk);
}

Test(spki, round_trips_when_4096_bit_key)
{
	json_t *vecs = tu_vectors("rfc9474-rsabssa-vectors.json");
	size_t n_len, e_len, len = 0, len2 = 0;
	uint8_t *n = tu_hex_field(json_array_get(vecs, 0), "n", &n_len);
	uint8_t *e = tu_hex_field(json_array_get(vecs, 0), "e", &e_len);
	uint8_t out[SPKI_MAX_LEN], again[SPKI_MAX_LEN];
	EVP_PKEY *pk = tu_rsa_public(n, n_len, e, e_len), *back = NULL;

	cr_assert_eq(spki_encode(pk, out, sizeof(out), &len), 0);
	/* 4 + 63 (alg id) + 4 + 1 + 4 + (4 + 513) + (2 + 3) */
	cr_assert_eq(len, 598);
	cr_assert_eq(spki_decode(out, len, &back), 0);
	cr_assert(EVP_PKEY_eq(pk, back) == 1);
	cr_assert_eq(spki_encode(back, again, sizeof(again), &len2), 0);
	cr_assert_eq(len2, len);
	cr_assert(memcmp(out, again, len) == 0);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(back);
	free(n);
	free(e);
	json_decref(vecs);
}

Test(spki, encode_rejects_key_when_not_rsa)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	uint8_t out[SPKI_MAX_LEN];
	size_t len = 7;

	cr_assert(ec != NULL);
	cr_assert_eq(spki_encode(ec, out, sizeof(out), &len), PP_ERR_KEY);
	cr_assert_eq(len, 0);
	EVP_PKEY_free(ec);
}

/* OpenSSL's own SPKI for the key says rsaEncryption: not the RFC 9578 form. */
Test(spki, decode_rejects_spki_when_rsa_encryption_oid)
{
	EVP_PKEY *sk = tu_rsa_type2_key();
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(sk, &der);

	cr_assert(len > 0);
	cr_assert_eq(decode_rc(der, (size_t)len), PP_ERR_SPKI);
	OPENSSL_free(der);
	EVP_PKEY_free(sk);
}

/* Single-byte edits of pkS, each a different rule. */
Test(spki, decode_rejects_spki_when_field_altered)
{
	static const struct {
		const char *what;
		size_t off;
		uint8_t val;
	} edits[] = {
		{ "OID rsaEncryption instead of id-RSASSA-PSS", 16, 0x01 },
		{ "hash sha256 instead of sha384", 33, 0x01 },
		{ "MGF1 hash sha256", 61, 0x01 },
		{ "MGF1 OID changed", 48, 0x07 },
		{ "salt length 32", 66, 0x20 },
		{ "salt length 0", 66, 0x00 },
		{ "bit string with unused bits", 71, 0x01 },
		{ "outer tag not SEQUENCE", 0, 0x31 },
		{ "outer length one short", 3, 0x51 },
		{ "outer length one long", 3, 0x53 },
		{ "modulus even", SPKI_RSA2048_LEN - 6, 0x00 },
		{ "modulus negative (no leading zero)", PKS_HDR_END, 0x80 },
		{ "exponent even", SPKI_RSA2048_LEN - 1, 0x00 },
	};
	uint8_t pks[SPKI_MAX_LEN + 1];
	size_t len = load_pks(pks), i;

	cr_assert_eq(decode_rc(pks, len), 0);
	/* the fixed offsets above assume this shape */
	cr_assert_eq(pks[16], 0x0a);
	cr_assert_eq(pks[33], 0x02);
	cr_assert_eq(pks[48], 0x08);
	cr_assert_eq(pks[61], 0x02);
	cr_assert_eq(pks[66], 0x30);
	cr_assert_eq(pks[PKS_HDR_END], 0x00);
	cr_assert_eq(pks[SPKI_RSA2048_LEN - 4], 0x03); /* e: 02 03 01 00 01 */
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		uint8_t save = pks[edits[i].off];

		pks[edits[i].off] = edits[i].val;
		if (strcmp(edits[i].what, "modulus even") == 0)
			pks[edits[i].off] = save & 0xfe;
		cr_assert_eq(decode_rc(pks, len), PP_ERR_SPKI, "%s accepted",
			     edits[i].what);
		pks[edits[i].off] = save;
	}
}

Test(spki, decode_rejects_spki_when_trailing_or_truncated)
{
	uint8_t pks[SPKI_MAX_LEN + 1];
	size_t len = load_pks(pks), cut;

	pks[len] = 0x00;
	cr_assert_eq(decode_rc(pks, len + 1), PP_ERR_SPKI, "trailing byte");
	for (cut = 0; cut < len; cut++)
		cr_assert_eq(decode_rc(pks, cut), PP_ERR_SPKI, "truncated to %zu",
			     cut);
	cr_assert_eq(decode_rc(NULL, 0), PP_ERR_SPKI);
	cr_assert_eq(decode_rc(pks, SPKI_MAX_LEN + 1), PP_ERR_SPKI);
}

/* Any flipped bit in the structure (not in the numbers) is refused. */
Test(spki, decode_rejects_spki_when_any_header_bit_flipped)
{
	uint8_t pks[SPKI_MAX_LEN + 1];
	size_t len = load_pks(pks), off;
	int bit;

	for (off = 0; off < PKS_HDR_END; off++) {
		for (bit = 0; bit < 8; bit++) {
			pks[off] ^= (uint8_t)(1u << bit);
			cr_assert_eq(decode_rc(pks, len), PP_ERR_SPKI,
				     "flip of bit %d at offset %zu accepted", bit,
				     off);
			pks[off] ^= (uint8_t)(1u << bit);
		}
	}
}

/* A non-minimal DER form of the same key: exponent 65537 written as
 * 02 04 00 01 00 01, lengths adjusted. It is the same key, and still refused. */
Test(spki, decode_rejects_spki_when_integer_not_minimal)
{
	uint8_t pks[SPKI_MAX_LEN + 1], alt[SPKI_MAX_LEN + 1];
	size_t len = load_pks(pks);

	cr_assert(memcmp(pks + len - 5, "\x02\x03\x01\x00\x01", 5) == 0);
	memcpy(alt, pks, len - 5);
	memcpy(alt + len - 5, "\x02\x04\x00\x01\x00\x01", 6);
	/* outer, BIT STRING and RSAPublicKey lengths each grow by one */
	alt[3]++;
	alt[70]++;
	alt[75]++;
	cr_assert_eq(decode_rc(alt, len + 1), PP_ERR_SPKI);
}

/* A different modulus in a well-formed encoding is a different key, not an
 * error: the decoder checks form, not identity. */
Test(spki, decode_accepts_spki_when_modulus_differs)
{
	uint8_t pks[SPKI_MAX_LEN + 1];
	size_t len = load_pks(pks);
	EVP_PKEY *sk = tu_rsa_type2_key(), *pk = NULL;

	pks[200] ^= 0x10;
	cr_assert_eq(spki_decode(pks, len, &pk), 0);
	cr_assert(EVP_PKEY_eq(pk, sk) != 1);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(sk);
}

Test(spki, key_id_is_sha256_and_truncated_id_its_last_byte)
{
	uint8_t pks[SPKI_MAX_LEN + 1], id[SPKI_KEY_ID_LEN], want[32];
	size_t len = load_pks(pks);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int wl = 0;

	spki_key_id(pks, len, id);
	/* against a digest computed a second way (streaming, in two parts) */
	cr_assert(ctx != NULL);
	cr_assert(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL));
	cr_assert(EVP_DigestUpdate(ctx, pks, 100));
	cr_assert(EVP_DigestUpdate(ctx, pks + 100, len - 100));
	cr_assert(EVP_DigestFinal_ex(ctx, want, &wl));
	cr_assert_eq(wl, 32);
	cr_assert(memcmp(id, want, 32) == 0);
	cr_assert_eq(spki_truncated_id(id), want[31]);
	EVP_MD_CTX_free(ctx);
}
