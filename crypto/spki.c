/* RFC 9578 section 6.5 key form: SubjectPublicKeyInfo with id-RSASSA-PSS and
 * explicit RSASSA-PSS-params, DER written and read by hand.
 *
 *   SEQUENCE {
 *     AlgorithmIdentifier (fixed bytes, below)
 *     BIT STRING { 0 unused bits, RSAPublicKey SEQUENCE { INTEGER n, INTEGER e } }
 *   }
 *
 * The decoder accepts exactly what the encoder produces: after reading n and
 * e it encodes them again and compares the bytes, so every non-canonical DER
 * form (long lengths, padded or negative integers) is refused. */
#include "spki.h"
#include "base/pp_err.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define DER_SEQUENCE 0x30
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define SPKI_MAX_INT 1025 /* 8192-bit modulus plus a leading zero byte */

/* AlgorithmIdentifier { id-RSASSA-PSS, RSASSA-PSS-params {
 *   [0] hashAlgorithm sha384, [1] maskGenAlgorithm mgf1(sha384),
 *   [2] saltLength 48 } }, the algorithms without NULL parameters. */
static const uint8_t spki_alg_id[] = {
	0x30, 0x3d,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
	0x30, 0x30,
	0xa0, 0x0d, 0x30, 0x0b,
	0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
	0xa1, 0x1a, 0x30, 0x18,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
	0x30, 0x0b,
	0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
	0xa2, 0x03, 0x02, 0x01, 0x30,
};

/* Bytes taken by a DER header (tag + length) for content of len bytes. */
static size_t der_hdr_len(size_t len)
{
	if (len < 0x80)
		return 2;
	if (len <= 0xff)
		return 3;
	return 4; /* lengths here stay below 64 KiB */
}

static uint8_t *der_put_hdr(uint8_t *p, uint8_t tag, size_t len)
{
	*p++ = tag;
	if (len >= 0x100) {
		*p++ = 0x82;
		*p++ = (uint8_t)(len >> 8);
	} else if (len >= 0x80) {
		*p++ = 0x81;
	}
	*p++ = (uint8_t)len;
	return p;
}

/* Content length of a positive INTEGER whose magnitude is mag (no leading
 * zeros, at least one byte): a zero byte goes first when the top bit is set. */
static size_t der_int_len(const uint8_t *mag, size_t mag_len)
{
	return mag_len + ((mag[0] & 0x80) ? 1 : 0);
}

static uint8_t *der_put_int(uint8_t *p, const uint8_t *mag, size_t mag_len)
{
	p = der_put_hdr(p, DER_INTEGER, der_int_len(mag, mag_len));
	if (mag[0] & 0x80)
		*p++ = 0x00;
	memcpy(p, mag, mag_len);
	return p + mag_len;
}

/* Writes the encoding of (n, e), given as minimal big-endian magnitudes. */
static int spki_write(const uint8_t *n, size_t n_len, const uint8_t *e,
		      size_t e_len, uint8_t *out, size_t out_cap,
		      size_t *out_len)
{
	size_t n_int = der_int_len(n, n_len), e_int = der_int_len(e, e_len);
	size_t rsa_body = der_hdr_len(n_int) + n_int + der_hdr_len(e_int) + e_int;
	size_t rsa_all = der_hdr_len(rsa_body) + rsa_body;
	size_t bits_body = 1 + rsa_all;
	size_t body = sizeof(spki_alg_id) + der_hdr_len(bits_body) + bits_body;
	size_t total = der_hdr_len(body) + body;
	uint8_t *p = out;

	if (total > out_cap || total > SPKI_MAX_LEN)
		return PP_ERR_BUFFER;
	p = der_put_hdr(p, DER_SEQUENCE, body);
	memcpy(p, spki_alg_id, sizeof(spki_alg_id));
	p += sizeof(spki_alg_id);
	p = der_put_hdr(p, DER_BIT_STRING, bits_body);
	*p++ = 0x00; /* unused bits */
	p = der_put_hdr(p, DER_SEQUENCE, rsa_body);
	p = der_put_int(p, n, n_len);
	p = der_put_int(p, e, e_len);
	if ((size_t)(p - out) != total)
		abort(); /* the length arithmetic above is wrong */
	*out_len = total;
	return 0;
}

static int spki_encode_bn(const BIGNUM *n, const BIGNUM *e, uint8_t *out,
			  size_t out_cap, size_t *out_len)
{
	uint8_t nb[SPKI_MAX_INT], eb[SPKI_MAX_INT];
	int n_len = BN_num_bytes(n), e_len = BN_num_bytes(e);

	if (BN_is_negative(n) || BN_is_negative(e) || n_len < 1 || e_len < 1 ||
	    n_len >= SPKI_MAX_INT || e_len >= SPKI_MAX_INT)
		return PP_ERR_KEY;
	if (BN_bn2bin(n, nb) != n_len || BN_bn2bin(e, eb) != e_len)
		return PP_ERR_INTERNAL;
	return spki_write(nb, (size_t)n_len, eb, (size_t)e_len, out, out_cap,
			  out_len);
}

int spki_encode(const EVP_PKEY *pkey, uint8_t *out, size_t out_cap,
		size_t *out_len)
{
	BIGNUM *n = NULL, *e = NULL;
	int rc;

	if (out_len == NULL)
		return PP_ERR_ARG;
	*out_len = 0;
	if (pkey == NULL || out == NULL)
		return PP_ERR_ARG;
	if ((!EVP_PKEY_is_a(pkey, "RSA") && !EVP_PKEY_is_a(pkey, "RSA-PSS")) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
		rc = PP_ERR_KEY;
		goto cleanup;
	}
	rc = spki_encode_bn(n, e, out, out_cap, out_len);
cleanup:
	BN_free(n);
	BN_free(e);
	ERR_clear_error();
	return rc;
}

void spki_key_id(const uint8_t *spki, size_t len, uint8_t id[SPKI_KEY_ID_LEN])
{
	if (SHA256(spki, len, id) == NULL)
		abort(); /* SHA-256 missing from the default provider */
}

uint8_t spki_truncated_id(const uint8_t id[SPKI_KEY_ID_LEN])
{
	return id[SPKI_KEY_ID_LEN - 1];
}

/* Reads a tag and a definite length (short form, 0x81 or 0x82) and checks
 * the content fits in what is left. Advances *p past the header. */
static int der_get_hdr(const uint8_t **p, const uint8_t *end, uint8_t tag,
		       size_t *len)
{
	const uint8_t *q = *p;
	size_t n;

	if (end - q < 2 || q[0] != tag)
		return PP_ERR_SPKI;
	n = q[1];
	q += 2;
	if (n == 0x81 || n == 0x82) {
		size_t k = n - 0x80, i;

		if ((size_t)(end - q) < k)
			return PP_ERR_SPKI;
		for (n = 0, i = 0; i < k; i++)
			n = n << 8 | q[i];
		q += k;
	} else if (n >= 0x80) {
		return PP_ERR_SPKI;
	}
	if ((size_t)(end - q) < n)
		return PP_ERR_SPKI;
	*p = q;
	*len = n;
	return 0;
}

static int der_get_uint(const uint8_t **p, const uint8_t *end, BIGNUM **out)
{
	size_t len;

	if (der_get_hdr(p, end, DER_INTEGER, &len) != 0 || len == 0 ||
	    len > SPKI_MAX_INT)
		return PP_ERR_SPKI;
	*out = BN_bin2bn(*p, (int)len, NULL);
	*p += len;
	return *out ? 0 : PP_ERR_NOMEM;
}

static int spki_pkey_from(const BIGNUM *n, const BIGNUM *e, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = PP_ERR_NOMEM;

	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto cleanup;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL)
		goto cleanup;
	rc = PP_ERR_SPKI;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto cleanup;
	rc = 0;
cleanup:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int spki_decode(const uint8_t *in, size_t len, EVP_PKEY **out)
{
	uint8_t again[SPKI_MAX_LEN];
	const uint8_t *p = in, *end;
	BIGNUM *n = NULL, *e = NULL;
	size_t body, again_len = 0;
	EVP_PKEY *pkey = NULL;
	int rc = PP_ERR_SPKI;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	if (in == NULL || len > SPKI_MAX_LEN)
		return PP_ERR_SPKI;
	end = in + len;
	/* walk down to the two integers; lengths are re-checked below */
	if (der_get_hdr(&p, end, DER_SEQUENCE, &body) != 0 ||
	    (size_t)(end - p) < sizeof(spki_alg_id) ||
	    memcmp(p, spki_alg_id, sizeof(spki_alg_id)) != 0)
		goto cleanup;
	p += sizeof(spki_alg_id);
	if (der_get_hdr(&p, end, DER_BIT_STRING, &body) != 0 || body < 1 ||
	    *p != 0x00)
		goto cleanup;
	p++;
	if (der_get_hdr(&p, end, DER_SEQUENCE, &body) != 0 ||
	    der_get_uint(&p, end, &n) != 0 || der_get_uint(&p, end, &e) != 0)
		goto cleanup;
	/* an RSA modulus and exponent are odd and above 1 */
	if (!BN_is_odd(n) || BN_is_one(n) || !BN_is_odd(e) || BN_is_one(e))
		goto cleanup;
	if (spki_encode_bn(n, e, again, sizeof(again), &again_len) != 0 ||
	    again_len != len || memcmp(again, in, len) != 0)
		goto cleanup;
	rc = spki_pkey_from(n, e, &pkey);
	if (rc != 0)
		goto cleanup;
	*out = pkey;
	pkey = NULL;
cleanup:
	EVP_PKEY_free(pkey);
	BN_free(n);
	BN_free(e);
	ERR_clear_error();
	return rc;
}
