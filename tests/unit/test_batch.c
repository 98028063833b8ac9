/* Generic batches (crypto/batch.c) against the draft-07 generic-batch
 * vectors and pat-go's copy with salts: requests and responses decode and
 * re-encode byte for byte; type-2 items signed with the vector's key give
 * the vector's bytes (whole responses when every item is type 2); VOPRF
 * items (types 1 and 5) through their table entries give the vector's
 * evaluated element and a proof that verifies. Then what the parsers
 * refuse. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "crypto/batch.h"
#include "crypto/token_types.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"
#include "tu.h"

/* The program calls sodium_init() at start; tt_secret_new needs it. */
static void batch_init(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(batch, .init = batch_init, .fini = tu_leak_check);

#define MAX_ITEMS 8

static const char *const files[] = {
	"draft-ietf-privacypass-batched-tokens-07-generic-batch.json",
	"pat-go-generic-batch-vectors-with-salt.json",
};

static uint16_t hex_type(json_t *item)
{
	return (uint16_t)strtoul(json_string_value(json_object_get(item, "type")),
				 NULL, 16);
}

Test(batch, vectors_decode_and_reencode_byte_for_byte)
{
	size_t f, v, i, n, count, rlen, plen, len;
	json_t *root, *vec, *iss;

	for (f = 0; f < 2; f++) {
		root = tu_vectors(files[f]);
		json_array_foreach(root, v, vec) {
			uint8_t *req = tu_hex_field(vec, "token_request", &rlen);
			uint8_t *resp = tu_hex_field(vec, "token_response", &plen);
			const uint8_t *items[MAX_ITEMS];
			size_t lens[MAX_ITEMS];
			struct gbatch_response_item it[MAX_ITEMS];
			struct gbatch_reader rd;
			struct gbatch_writer w;
			uint8_t out[4096];

			iss = json_object_get(vec, "issuance");
			n = json_array_size(iss);
			cr_assert(n > 0 && n <= MAX_ITEMS);
			cr_assert_eq(gbatch_request_open(req, rlen, &rd, &count), 0,
				     "%s #%zu", files[f], v);
			cr_assert_eq(count, n);
			for (i = 0; i < n; i++) {
				cr_assert_eq(gbatch_request_next(&rd, &items[i], &lens[i]), 0);
				cr_assert_eq(items[i][0] << 8 | items[i][1],
					     hex_type(json_array_get(iss, i)));
			}
			cr_assert_eq(gbatch_request_next(&rd, &items[0], &lens[0]),
				     PP_ERR_TRUNCATED);
			cr_assert_eq(gbatch_request_open(req, rlen, &rd, &count), 0);
			for (i = 0; i < n; i++)
				(void)gbatch_request_next(&rd, &items[i], &lens[i]);
			cr_assert_eq(gbatch_request_encode(items, lens, n, out, sizeof(out),
							   &len), 0);
			cr_assert_eq(len, rlen);
			cr_assert_arr_eq(out, req, rlen);

			cr_assert_eq(gbatch_response_decode(resp, plen, it, n), 0,
				     "%s #%zu", files[f], v);
			gbatch_response_begin(&w, out, sizeof(out));
			for (i = 0; i < n; i++) {
				cr_assert(it[i].present);
				cr_assert_eq(it[i].token_type,
					     hex_type(json_array_get(iss, i)));
				gbatch_response_add(&w, it[i].token_type,
						    it[i].response, it[i].response_len);
			}
			cr_assert_eq(gbatch_response_end(&w, &len), 0);
			cr_assert_eq(len, plen);
			cr_assert_arr_eq(out, resp, plen);
			free(req);
			free(resp);
		}
		json_decref(root);
	}
}

/* A signer of the vector item's key through its table entry. */
static struct tt_key *vector_signer(json_t *item)
{
	const struct tt_ops *tt = tt_find(hex_type(item));
	struct tt_secret *priv = NULL;
	struct tt_key *k = NULL;
	uint8_t *sk;
	size_t len;
	char why[256] = "";

	cr_assert(tt, "type %04x is not in the table", hex_type(item));
	sk = tu_hex_field(item, "skS", &len);
	cr_assert_eq(tt->import(sk, len, &priv, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(tt_signer_new(tt, priv, 1, &k), 0);
	tt_secret_free(priv);
	free(sk);
	return k;
}

Test(batch, issuer_output_matches_the_vectors_for_types_1_2_and_5)
{
	size_t f, v, i, n, count, rlen, plen, len, whole;
	json_t *root, *vec, *iss, *item;
	int mixed_seen = 0;

	for (f = 0; f < 2; f++) {
		root = tu_vectors(files[f]);
		json_array_foreach(root, v, vec) {
			uint8_t *req = tu_hex_field(vec, "token_request", &rlen);
			uint8_t *resp = tu_hex_field(vec, "token_response", &plen);
			struct gbatch_response_item it[MAX_ITEMS];
			struct gbatch_reader rd;
			struct gbatch_writer w;
			uint8_t out[4096], one[512];
			int all_type2 = 1, types = 0;

			iss = json_object_get(vec, "issuance");
			n = json_array_size(iss);
			cr_assert_eq(gbatch_request_open(req, rlen, &rd, &count), 0);
			cr_assert_eq(gbatch_response_decode(resp, plen, it, n), 0);
			gbatch_response_begin(&w, out, sizeof(out));
			for (i = 0; i < n; i++) {
				const uint8_t *r;
				size_t rl;
				struct tt_key *k;
				uint16_t type;

				item = json_array_get(iss, i);
				type = hex_type(item);
				types |= type == 1 ? 1 : type == 2 ? 2 : type == 5 ? 4 : 0;
				cr_assert_eq(gbatch_request_next(&rd, &r, &rl), 0);
				k = vector_signer(item);
				cr_assert_eq(tt_issue(k, r, rl, one, sizeof(one), &len), 0);
				cr_assert_eq(len, it[i].response_len);
				if (type == 2) {
					/* deterministic: the blind signature itself */
					cr_assert_arr_eq(one, it[i].response, len,
							 "%s #%zu item %zu", files[f], v, i);
				} else {
					/* the evaluated element is skS * blinded; the
					 * proof is randomized: it must verify */
					const struct vtok_sizes *vs = vtok_sizes(type);
					uint8_t *pk;
					size_t pk_len;

					all_type2 = 0;
					pk = tu_hex_field(item, "pkS", &pk_len);
					cr_assert_arr_eq(one, it[i].response, vs->ne);
					cr_assert_eq(voprf_verify_proof(vtok_group(type), pk,
									pk_len, r + 3, one, 1,
									one + vs->ne,
									2 * vs->ns), 0);
					free(pk);
				}
				gbatch_response_add(&w, type, one, len);
				tt_key_free(k);
			}
			cr_assert_eq(gbatch_response_end(&w, &whole), 0);
			if (all_type2) {
				cr_assert_eq(whole, plen);
				cr_assert_arr_eq(out, resp, plen);
			}
			if (types == 7)
				mixed_seen = 1;
			free(req);
			free(resp);
		}
		json_decref(root);
	}
	cr_assert(mixed_seen, "no vector mixes types 1, 2 and 5");
}

/* ---- what the parsers refuse ---- */

struct reject {
	const char *name;
	const char *hex;    /* the whole body; "T2" stands for a 259-byte type-2
			     * TokenRequest, "T5" for a 35-byte type-5 one,
			     * "U2" for a type-2 one a byte short */
	int rc;
};

static const struct reject rejects[] = {
	{ "empty body", "", PP_ERR_TRUNCATED },
	{ "truncated 2-byte prefix", "41", PP_ERR_TRUNCATED },
	{ "empty batch", "00", PP_ERR_LENGTH },
	{ "non-minimal prefix (35 on 2 bytes)", "4023T5", PP_ERR_LENGTH },
	{ "non-minimal prefix (259 on 4 bytes)", "80000103T2", PP_ERR_LENGTH },
	{ "non-minimal empty prefix", "4000", PP_ERR_LENGTH },
	{ "length past the body", "4104T2", PP_ERR_TRUNCATED },
	{ "trailing byte", "4103T200", PP_ERR_TRAILING },
	{ "inner request one byte short", "4102U2", PP_ERR_TRUNCATED },
	{ "short request before a full one (shifts into type 0x0211)", "4205U2T2", PP_ERR_TOKEN_TYPE },
	{ "inner request one byte long", "24T500", PP_ERR_TRUNCATED },
	{ "greased type", "030a0a00", PP_ERR_TOKEN_TYPE },
	{ "variable-size type 0xDA7A", "03da7a00", PP_ERR_TOKEN_TYPE },
	{ "type cut in half", "4104T200", PP_ERR_TRUNCATED },
};

static uint8_t *expand(const char *hex, size_t *len)
{
	char buf[4096];
	size_t i, o = 0;

	for (i = 0; hex[i]; ) {
		if (hex[i] == 'T' || hex[i] == 'U') {
			/* U: one byte short of T */
			const char *t = hex[i + 1] == '2' ? "0002" : "0005";
			size_t body = (hex[i + 1] == '2' ? 257 : 33) -
				      (hex[i] == 'U'), k;

			memcpy(buf + o, t, 4);
			o += 4;
			for (k = 0; k < body; k++, o += 2)
				memcpy(buf + o, "11", 2);
			i += 2;
		} else {
			buf[o++] = hex[i++];
		}
	}
	buf[o] = '\0';
	if (o == 0) {
		*len = 0;
		return calloc(1, 1);
	}
	return tu_hex(buf, len);
}

Test(batch, malformed_requests_are_refused_with_the_rule_they_break)
{
	struct gbatch_reader rd;
	size_t i, len, count = 99;
	uint8_t *in;

	for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		in = expand(rejects[i].hex, &len);
		cr_assert_eq(gbatch_request_open(in, len, &rd, &count), rejects[i].rc,
			     "%s", rejects[i].name);
		cr_assert_eq(count, 0, "%s", rejects[i].name);
		cr_assert_null(rd.p);
		free(in);
	}
	/* and the well-formed neighbours of those */
	in = expand("4229T2T2T5", &len);
	cr_assert_eq(gbatch_request_open(in, len, &rd, &count), 0);
	cr_assert_eq(count, 3);
	free(in);
}

Test(batch, malformed_responses_are_refused)
{
	static const struct { const char *hex; size_t n; int rc; } bad[] = {
		{ "0100", 2, PP_ERR_LENGTH },      /* fewer items than requests */
		{ "020000", 1, PP_ERR_LENGTH },    /* more items than requests */
		{ "0102", 1, PP_ERR_LENGTH },      /* presence byte 2 */
		{ "03010002", 1, PP_ERR_TRUNCATED },/* type 2 without its signature */
		{ "04010a0a00", 1, PP_ERR_TOKEN_TYPE },
		{ "0200", 1, PP_ERR_TRUNCATED },   /* prefix past the body */
		{ "010000", 1, PP_ERR_TRAILING },
	};
	struct gbatch_response_item it[2];
	size_t i, len;
	uint8_t *in;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in = tu_hex(bad[i].hex, &len);
		cr_assert_eq(gbatch_response_decode(in, len, it, bad[i].n), bad[i].rc,
			     "%s", bad[i].hex);
		cr_assert_eq(it[0].present, 0);
		free(in);
	}
}

Test(batch, writer_fails_closed_when_the_buffer_is_short)
{
	uint8_t buf[8], resp[256] = { 0 };
	struct gbatch_writer w;
	size_t len = 1;

	gbatch_response_begin(&w, buf, sizeof(buf));
	gbatch_response_add(&w, 2, resp, sizeof(resp));
	cr_assert_eq(gbatch_response_end(&w, &len), PP_ERR_BUFFER);
	cr_assert_eq(len, 0);
	gbatch_response_begin(&w, buf, sizeof(buf));
	gbatch_response_add(&w, 0, NULL, 0);
	gbatch_response_add(&w, 0, NULL, 0);
	cr_assert_eq(gbatch_response_end(&w, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert_eq(buf[0], 2);
	cr_assert_eq(buf[1], 0);
	cr_assert_eq(buf[2], 0);
}
