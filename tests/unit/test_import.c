/* Importing existing private keys: the forms OpenSSL writes, and the keys
 * that must be refused. */
#include "crypto/token.h"
#include "base/pp_err.h"
#include "keys/store.h"
#include "tu.h"
#include "tu_keys.h"

#include <criterion/criterion.h>
#include <string.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>

TestSuite(keys_import, .fini = tu_leak_check);

#define NOW 1700000000
#define T2 TOK_TYPE_BLIND_RSA

static char *dir;
static struct ks_store *st;
static char err[512];

static void setup(void)
{
	dir = tu_keys_tmpdir();
	st = tu_keys_open(dir, NULL);
	err[0] = '\0';
}

static void teardown(void)
{
	ks_store_close(st);
	tu_keys_rmrf(dir);
}

/* A private key encoded by OpenSSL: type "PEM" or "DER", structure
 * "PrivateKeyInfo" (PKCS#8) or "type-specific" (PKCS#1). */
static unsigned char *encode(EVP_PKEY *pk, const char *type,
			     const char *structure, size_t *len)
{
	OSSL_ENCODER_CTX *ctx = OSSL_ENCODER_CTX_new_for_pkey(
		pk, OSSL_KEYMGMT_SELECT_KEYPAIR, type, structure, NULL);
	unsigned char *out = NULL;

	*len = 0;
	cr_assert(ctx != NULL);
	cr_assert(OSSL_ENCODER_to_data(ctx, &out, len));
	OSSL_ENCODER_CTX_free(ctx);
	return out;
}

Test(keys_import, pem_and_der_forms_are_accepted, .init = setup, .fini = teardown)
{
	static const struct { const char *type, *structure; } forms[] = {
		{ "PEM", "PrivateKeyInfo" }, { "PEM", "type-specific" },
		{ "DER", "PrivateKeyInfo" }, { "DER", "type-specific" },
	};
	EVP_PKEY *pk = tu_keys_pem("keys/tid37-a.pem");
	struct ks_meta m;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t len;
		unsigned char *b = encode(pk, forms[i].type, forms[i].structure,
					  &len);
		int rc = ks_store_import(st, b, len, T2, NOW, NOW, &m, err,
					 sizeof(err));

		OPENSSL_free(b);
		cr_assert_eq(rc, 0, "%s %s: %s", forms[i].type,
			     forms[i].structure, err);
		cr_assert_eq(m.truncated_id, 0x37);
		cr_assert_str_eq(m.id_hex, "ea773e2c6e8ceb5b5e6eeddc90a7544f"
			"0821f83ddc14b5f0f95ac89a96500037");
		cr_assert_eq(ks_store_delete(st, m.id_hex, err, sizeof(err)), 0);
	}
	EVP_PKEY_free(pk);
}

Test(keys_import, unusable_keys_are_refused, .init = setup, .fini = teardown)
{
	EVP_PKEY *big = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *pk = tu_keys_pem("keys/tid37-a.pem");
	OSSL_ENCODER_CTX *ctx;
	unsigned char *b = NULL;
	struct ks_meta m;
	size_t len = 0;

	b = encode(big, "PEM", "PrivateKeyInfo", &len);
	cr_assert_eq(ks_store_import(st, b, len, T2, NOW, NOW, &m, err,
				     sizeof(err)), PP_ERR_KEY);
	cr_assert(strstr(err, "3072 bits") != NULL, "%s", err);
	OPENSSL_free(b);
	b = encode(ec, "PEM", "PrivateKeyInfo", &len);
	cr_assert_neq(ks_store_import(st, b, len, T2, NOW, NOW, &m, err,
				      sizeof(err)), 0);
	OPENSSL_free(b);
	cr_assert_eq(ks_store_import(st, (const uint8_t *)"junk", 4, T2, NOW,
				     NOW, &m, err, sizeof(err)), PP_ERR_CORRUPT);
	/* a passphrase-protected key is refused, not prompted for */
	ctx = OSSL_ENCODER_CTX_new_for_pkey(pk, OSSL_KEYMGMT_SELECT_KEYPAIR,
					    "PEM", "PrivateKeyInfo", NULL);
	cr_assert(OSSL_ENCODER_CTX_set_cipher(ctx, "AES-256-CBC", NULL));
	cr_assert(OSSL_ENCODER_CTX_set_passphrase(ctx,
						  (const unsigned char *)"pw", 2));
	b = NULL;
	len = 0;
	cr_assert(OSSL_ENCODER_to_data(ctx, &b, &len));
	OSSL_ENCODER_CTX_free(ctx);
	cr_assert_eq(ks_store_import(st, b, len, T2, NOW, NOW, &m, err,
				     sizeof(err)), PP_ERR_CORRUPT);
	OPENSSL_free(b);
	EVP_PKEY_free(big);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(pk);
}

