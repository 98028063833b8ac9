/* The PKCS#11 key backend against SoftHSM2: the RFC 9578 type-2 vector key
 * imported into a token and the vector's blind signature reproduced byte
 * for byte through the token; login and key-lookup failures. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "keys/maintain.h"
#include "keys/pkcs11.h"
#include "keys/store.h"
#include "tu.h"
#include "tu_keys.h"
#include "tu_p11.h"

static struct tu_p11 tok;
static int have_hsm;

static void setup(void)
{
	have_hsm = tu_p11_init(&tok) == 0;
}

static void teardown(void)
{
	tu_p11_cleanup(&tok);
	tu_leak_check();
}

#define NEED_HSM() do { if (!have_hsm) \
	cr_skip_test("softhsm2 is not installed (apt-get install softhsm2)"); \
	} while (0)

TestSuite(pkcs11, .init = setup, .fini = teardown, .timeout = 60);

static struct p11 *open_token(const char *pin_file)
{
	struct p11_config c = { tok.module, TU_P11_TOKEN, pin_file, 2 };
	struct p11 *b = NULL;
	char err[512] = "";

	cr_assert_eq(p11_open(&c, &b, err, sizeof(err)), 0, "%s", err);
	return b;
}

/* A fresh key store on the test token, with its first key made in it. */
static struct ks_store *token_store(char **dir, struct p11 **b, struct ks_meta *m)
{
	struct ks_store *st;
	char err[512] = "";

	*dir = tu_keys_tmpdir();
	st = tu_keys_open(*dir, NULL);
	*b = open_token(tok.pin_file);
	p11_store_attach(*b, st);
	cr_assert_eq(ks_store_generate(st, 2, 1000, 1000, m, err, sizeof(err)),
		     0, "%s", err);
	return st;
}

Test(pkcs11, vector_blind_signature_reproduced_through_token)
{
	json_t *v, *c;
	uint8_t *sk, *req, *resp, out[512];
	size_t sk_len, req_len, resp_len, out_len = 0, i;
	struct ks_store *st;
	struct ks_meta m;
	struct tt_key *key = NULL;
	struct p11 *b;
	char *dir, err[512] = "";

	NEED_HSM();
	v = tu_vectors("rfc9578-type2-blindrsa-vectors.json");
	for (i = 0; i < json_array_size(v); i++) {
		c = json_array_get(v, i);
		sk = tu_hex_field(c, "skS", &sk_len);
		req = tu_hex_field(c, "token_request", &req_len);
		resp = tu_hex_field(c, "token_response", &resp_len);
		dir = tu_keys_tmpdir();
		st = tu_keys_open(dir, NULL);
		b = open_token(tok.pin_file);
		p11_store_attach(b, st);
		cr_assert_eq(ks_store_import(st, sk, sk_len, 2, 1000, 1000, &m,
					     err, sizeof(err)), 0, "%s", err);
		cr_assert(m.external, "the key went to a key file");
		cr_assert_eq(p11_signer_new(b, &m, 2, &key, err, sizeof(err)), 0,
			     "%s", err);
		cr_assert_eq(tt_issue(key, req, req_len, out, sizeof(out),
				      &out_len), 0);
		cr_assert_eq(out_len, resp_len);
		cr_assert_eq(memcmp(out, resp, resp_len), 0,
			     "vector %zu: the token's blind signature differs", i);
		tt_key_free(key);
		ks_store_close(st);
		p11_close(b);
		tu_keys_rmrf(dir);
		free(sk);
		free(req);
		free(resp);
		/* a fresh token per vector: the same key cannot go in twice */
		tu_p11_cleanup(&tok);
		cr_assert_eq(tu_p11_init(&tok), 0);
	}
	json_decref(v);
}

Test(pkcs11, generated_key_is_sensitive_and_signs)
{
	uint8_t req[259], out[512];
	size_t out_len = 0;
	struct ks_store *st;
	struct ks_meta m;
	struct tt_key *key = NULL;
	struct p11 *b;
	char *dir, err[512] = "", cmd[600];

	NEED_HSM();
	st = token_store(&dir, &b, &m);
	cr_assert(m.external);
	cr_assert_eq(strcmp(m.p11.token, TU_P11_TOKEN), 0);
	cr_assert_eq(m.p11.id_len, 16);
	cr_assert_eq(p11_signer_new(b, &m, 2, &key, err, sizeof(err)), 0, "%s",
		     err);
	/* a blinded message m < n: the check passes only if s^e == m */
	memset(req, 0, sizeof(req));
	req[1] = 2;
	req[2] = m.truncated_id;
	req[10] = 7;
	cr_assert_eq(tt_issue(key, req, sizeof(req), out, sizeof(out), &out_len),
		     0);
	/* never extractable: pkcs11-tool shows it */
	snprintf(cmd, sizeof(cmd), "pkcs11-tool --module %s --token-label %s "
		 "--login --pin %s -O 2>/dev/null | grep -q 'never extractable'",
		 tok.module, TU_P11_TOKEN, TU_P11_PIN);
	if (system("command -v pkcs11-tool >/dev/null") == 0)
		cr_assert_eq(system(cmd), 0, "the private key is extractable");
	tt_key_free(key);
	ks_store_close(st);
	p11_close(b);
	tu_keys_rmrf(dir);
}

Test(pkcs11, wrong_pin_is_refused_with_what_to_do)
{
	struct p11_config c = { NULL, TU_P11_TOKEN, NULL, 2 };
	struct p11 *b = NULL;
	char err[512] = "", bad[400];
	FILE *f;

	NEED_HSM();
	c.module = tok.module;
	snprintf(bad, sizeof(bad), "%s/badpin", tok.dir);
	f = fopen(bad, "w");
	fputs("9999\n", f);
	fclose(f);
	chmod(bad, 0600);
	c.pin_file = bad;
	cr_assert_eq(p11_open(&c, &b, err, sizeof(err)), PP_ERR_AUTH);
	cr_assert_null(b);
	cr_assert(strstr(err, "CKR_PIN_INCORRECT") && strstr(err, "--pkcs11-pin-file"),
		  "%s", err);
	cr_assert_null(strstr(err, "9999"), "the PIN leaked into a message");
	chmod(bad, 0644);
	err[0] = '\0';
	cr_assert_eq(p11_open(&c, &b, err, sizeof(err)), PP_ERR_PERM);
	cr_assert(strstr(err, "chmod 600"), "%s", err);
	err[0] = '\0';
	c.token = "no-such-token";
	cr_assert_eq(p11_open(&c, &b, err, sizeof(err)), PP_ERR_NOT_FOUND);
	cr_assert(strstr(err, "--pkcs11-token"), "%s", err);
}

Test(pkcs11, missing_or_foreign_key_object_is_refused)
{
	struct ks_meta m;
	struct tt_key *key = NULL;
	struct p11 *b;
	char err[512] = "";

	NEED_HSM();
	b = open_token(tok.pin_file);
	memset(&m, 0, sizeof(m));
	m.token_type = 2;
	m.external = 1;
	strcpy(m.p11.token, TU_P11_TOKEN);
	m.p11.id_len = 4;
	memcpy(m.p11.id, "\1\2\3\4", 4);
	cr_assert_eq(p11_signer_new(b, &m, 2, &key, err, sizeof(err)),
		     PP_ERR_NOT_FOUND, "%s", err);
	cr_assert_null(key);
	strcpy(m.p11.token, "other");
	err[0] = '\0';
	cr_assert_eq(p11_key_check(b, &m, err, sizeof(err)), PP_ERR_CONFIG);
	p11_close(b);
}

/* keys prune goes through the key's own token only: attached to another
 * token it stops with what to do and keeps the key and its objects. */
Test(pkcs11, prune_refuses_a_key_of_another_token)
{
	struct p11_config c = { NULL, "pp-other", NULL, 2 };
	struct ks_store *st;
	struct ks_meta m;
	struct ks_prune pr;
	struct p11 *b, *other = NULL;
	char *dir, err[512] = "", cmd[300];

	NEED_HSM();
	snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label "
		 "pp-other --pin %s --so-pin 5678 >/dev/null", TU_P11_PIN);
	cr_assert_eq(system(cmd), 0);
	c.module = tok.module;
	c.pin_file = tok.pin_file;
	cr_assert_eq(p11_open(&c, &other, err, sizeof(err)), 0, "%s", err);
	st = token_store(&dir, &b, &m);
	cr_assert_eq(ks_store_retire(st, m.id_hex, 1001, 100, 1, NULL, err,
				     sizeof(err)), 0, "%s", err);
	p11_store_attach(other, st);
	err[0] = '\0';
	cr_assert_eq(ks_store_prune(st, 1002, 100, &pr, err, sizeof(err)),
		     PP_ERR_STATE);
	cr_assert(strstr(err, "'pp-test', not 'pp-other'") &&
		  strstr(err, "--pkcs11-token pp-test"), "%s", err);
	cr_assert_eq(pr.n_removed, 0);
	ks_prune_free(&pr);
	/* the key and its objects are still there: its own token removes both */
	cr_assert_eq(p11_key_check(b, &m, err, sizeof(err)), 0, "%s", err);
	p11_store_attach(b, st);
	cr_assert_eq(ks_store_prune(st, 1002, 100, &pr, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(pr.n_removed, 1);
	cr_assert_str_eq(pr.removed[0].id_hex, m.id_hex);
	ks_prune_free(&pr);
	err[0] = '\0';
	cr_assert_neq(p11_key_check(b, &m, err, sizeof(err)), 0,
		      "the private key object is still in the token");
	ks_store_close(st);
	p11_close(b);
	p11_close(other);
	tu_keys_rmrf(dir);
}
