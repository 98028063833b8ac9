/* What the VOPRF code refuses: bad element and scalar encodings in both
 * groups, misuse of the batch API, tampered proofs and authenticators, bad
 * wire structures and non-minimal varints; and one key shared by threads. */
#include "crypto/grp.h"
#include "base/pp_err.h"
#include "crypto/varint.h"
#include "crypto/voprf.h"
#include "crypto/vtok.h"
#include "tu.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

TestSuite(voprf_grp, .fini = tu_leak_check);
TestSuite(voprf_misuse, .fini = tu_leak_check);
TestSuite(voprf_wire, .fini = tu_leak_check);

static const struct grp_impl *const groups[] = { &grp_ristretto255,
						  &grp_p384 };

/* A valid element of g (k * G for a random k). */
static void some_element(const struct grp_impl *g, uint8_t *out)
{
	struct grp_scalar s;
	struct grp_elem e;

	cr_assert(g->scalar_random(&s) == 0);
	cr_assert(g->elem_mul_gen(&e, &s) == 0);
	g->elem_encode(&e, out);
}

Test(voprf_grp, ristretto255_refuses_bad_elements)
{
	const struct grp_impl *g = &grp_ristretto255;
	uint8_t b[33], ok[32];
	struct grp_elem e;
	size_t i;

	some_element(g, ok);
	cr_assert(g->elem_decode(&e, ok, 32) == 0);
	cr_assert(g->elem_decode(&e, ok, 31) == PP_ERR_LENGTH);
	memcpy(b, ok, 32);
	b[32] = 0;
	cr_assert(g->elem_decode(&e, b, 33) == PP_ERR_LENGTH);
	/* the high bit, which libsodium 1.0.18 ignores */
	b[31] |= 0x80;
	cr_assert(g->elem_decode(&e, b, 32) == PP_ERR_MSG_RANGE);
	cr_assert(g->elem_is_identity(&e));
	/* the identity */
	memset(b, 0, 32);
	cr_assert(g->elem_decode(&e, b, 32) == PP_ERR_MSG_RANGE);
	/* p = 2^255 - 19, p + 2 and 2^255 - 1: field elements not reduced */
	memset(b, 0xff, 32);
	b[31] = 0x7f;
	cr_assert(g->elem_decode(&e, b, 32) == PP_ERR_MSG_RANGE);
	b[0] = 0xed;
	cr_assert(g->elem_decode(&e, b, 32) == PP_ERR_MSG_RANGE);
	b[0] = 0xef;
	cr_assert(g->elem_decode(&e, b, 32) == PP_ERR_MSG_RANGE);
	/* a negative (odd) s */
	memcpy(b, ok, 32);
	b[0] ^= 1;
	cr_assert(g->elem_decode(&e, b, 32) == PP_ERR_MSG_RANGE);
	/* small values: at most a few even ones decode; odd ones never */
	for (i = 1; i < 64; i += 2) {
		memset(b, 0, 32);
		b[0] = (uint8_t)i;
		cr_assert(g->elem_decode(&e, b, 32) == PP_ERR_MSG_RANGE);
	}
}

Test(voprf_grp, p384_refuses_bad_elements)
{
	const struct grp_impl *g = &grp_p384;
	uint8_t b[49], ok[49];
	struct grp_elem e;

	some_element(g, ok);
	cr_assert(g->elem_decode(&e, ok, 49) == 0);
	cr_assert(g->elem_decode(&e, ok, 48) == PP_ERR_LENGTH);
	memcpy(b, ok, 49);
	b[0] = 0x04; /* uncompressed prefix on a compressed length */
	cr_assert(g->elem_decode(&e, b, 49) == PP_ERR_MSG_RANGE);
	b[0] = 0x00;
	cr_assert(g->elem_decode(&e, b, 49) == PP_ERR_MSG_RANGE);
	memset(b, 0xff, 49); /* x >= p */
	b[0] = 0x02;
	cr_assert(g->elem_decode(&e, b, 49) == PP_ERR_MSG_RANGE);
	memset(b, 0, 49);
	cr_assert(g->elem_decode(&e, b, 49) == PP_ERR_MSG_RANGE);
}

/* order - 1, order, order + 1, all ones, zero. */
static void check_scalars(const struct grp_impl *g, const uint8_t *order)
{
	uint8_t b[GRP_MAX_NS + 1];
	struct grp_scalar s;
	size_t lsb = g == &grp_ristretto255 ? 0 : g->ns - 1;

	memcpy(b, order, g->ns);
	cr_assert(g->scalar_decode(&s, b, g->ns) == PP_ERR_MSG_RANGE);
	b[lsb]++;
	cr_assert(g->scalar_decode(&s, b, g->ns) == PP_ERR_MSG_RANGE);
	b[lsb] -= 2;
	cr_assert(g->scalar_decode(&s, b, g->ns) == 0);
	cr_assert(g->scalar_decode(&s, b, g->ns - 1) == PP_ERR_LENGTH);
	cr_assert(g->scalar_decode(&s, b, g->ns + 1) == PP_ERR_LENGTH);
	memset(b, 0xff, g->ns);
	cr_assert(g->scalar_decode(&s, b, g->ns) == PP_ERR_MSG_RANGE);
	memset(b, 0, g->ns);
	cr_assert(g->scalar_decode(&s, b, g->ns) == PP_ERR_MSG_RANGE);
	cr_assert(g->scalar_is_zero(&s));
}

Test(voprf_grp, scalars_must_be_canonical_and_nonzero)
{
	/* L, little-endian; n of P-384, big-endian */
	size_t l_len, n_len;
	uint8_t *l = tu_hex("edd3f55c1a631258d69cf7a2def9de14"
			    "00000000000000000000000000000010", &l_len);
	uint8_t *n = tu_hex("ffffffffffffffffffffffffffffffffffffffffffffffff"
			    "c7634d81f4372ddf581a0db248b0a77aecec196accc52973",
			    &n_len);

	check_scalars(&grp_ristretto255, l);
	check_scalars(&grp_p384, n);
	free(l);
	free(n);
}

Test(voprf_misuse, keys_from_bad_secrets_are_refused)
{
	uint8_t zero[GRP_MAX_NS] = { 0 };
	struct voprf_key *k = (struct voprf_key *)1;
	size_t i;

	for (i = 0; i < 2; i++) {
		const struct grp_impl *g = groups[i];

		cr_assert(voprf_key_new(g, zero, g->ns, &k) ==
			  PP_ERR_MSG_RANGE);
		cr_assert(k == NULL);
		cr_assert(voprf_key_new(g, zero, g->ns - 1, &k) ==
			  PP_ERR_LENGTH);
	}
	voprf_key_free(NULL);
}

/* A key, n blinded inputs, and their evaluation with proof. */
struct fixture {
	struct voprf_key *k;
	uint8_t blinds[4 * GRP_MAX_NS], blinded[4 * GRP_MAX_NE];
	uint8_t ev[4 * GRP_MAX_NE], proof[2 * GRP_MAX_NS];
	const uint8_t *in[4];
	size_t in_len[4];
};

static void fixture_make(const struct grp_impl *g, struct fixture *f)
{
	static const char *inputs[4] = { "a", "bb", "", "dddd" };
	size_t i;

	memset(f, 0, sizeof(*f));
	cr_assert(voprf_key_generate(g, &f->k) == 0);
	for (i = 0; i < 4; i++) {
		f->in[i] = (const uint8_t *)inputs[i];
		f->in_len[i] = strlen(inputs[i]);
		cr_assert(voprf_blind(g, f->in[i], f->in_len[i], NULL,
				      f->blinds + i * g->ns,
				      f->blinded + i * g->ne) == 0);
	}
	cr_assert(voprf_blind_evaluate(f->k, f->blinded, 4, 4, f->ev,
				       sizeof(f->ev), f->proof,
				       sizeof(f->proof)) == 0);
}

static int all_zero(const uint8_t *b, size_t len)
{
	while (len > 0)
		if (b[--len] != 0)
			return 0;
	return 1;
}

Test(voprf_misuse, batch_bounds_and_bad_elements)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		const struct grp_impl *g = groups[i];
		struct fixture f;
		uint8_t ev[4 * GRP_MAX_NE], proof[2 * GRP_MAX_NS];

		fixture_make(g, &f);
		cr_assert(voprf_blind_evaluate(f.k, f.blinded, 0, 4, ev,
					       sizeof(ev), proof,
					       sizeof(proof)) == PP_ERR_ARG);
		cr_assert(voprf_blind_evaluate(f.k, f.blinded, 4, 3, ev,
					       sizeof(ev), proof,
					       sizeof(proof)) == PP_ERR_ARG);
		cr_assert(voprf_blind_evaluate(f.k, f.blinded, 4, 4, ev,
					       3 * g->ne, proof,
					       sizeof(proof)) == PP_ERR_BUFFER);
		/* the third element broken: nothing comes out */
		memset(f.blinded + 2 * g->ne, 0, g->ne);
		cr_assert(voprf_blind_evaluate(f.k, f.blinded, 4, 4, ev,
					       sizeof(ev), proof,
					       sizeof(proof)) ==
			  PP_ERR_MSG_RANGE);
		cr_assert(all_zero(ev, 4 * g->ne) &&
			  all_zero(proof, 2 * g->ns));
		voprf_key_free(f.k);
	}
}

Test(voprf_misuse, tampered_proofs_and_authenticators_fail)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		const struct grp_impl *g = groups[i];
		const uint8_t *pk;
		uint8_t out[4 * GRP_MAX_NH], auth[GRP_MAX_NH], t[GRP_MAX_NE];
		struct fixture f;

		fixture_make(g, &f);
		pk = voprf_key_public(f.k);
		cr_assert(voprf_finalize(g, pk, g->ne, 4, f.in, f.in_len,
					 f.blinds, f.blinded, f.ev, f.proof,
					 2 * g->ns, out, sizeof(out)) == 0);
		cr_assert(voprf_evaluate(f.k, f.in[3], f.in_len[3], auth,
					 sizeof(auth)) == 0);
		cr_assert(memcmp(auth, out + 3 * g->nh, g->nh) == 0);
		cr_assert(voprf_authenticator_check(f.k, f.in[3], f.in_len[3],
						    auth, g->nh - 1) ==
			  PP_ERR_VERIFY);
		/* the proof covers every element: swap two evaluations */
		memcpy(t, f.ev, g->ne);
		memcpy(f.ev, f.ev + g->ne, g->ne);
		memcpy(f.ev + g->ne, t, g->ne);
		cr_assert(voprf_verify_proof(g, pk, g->ne, f.blinded, f.ev, 4,
					     f.proof, 2 * g->ns) ==
			  PP_ERR_VERIFY);
		cr_assert(voprf_finalize(g, pk, g->ne, 4, f.in, f.in_len,
					 f.blinds, f.blinded, f.ev, f.proof,
					 2 * g->ns, out, sizeof(out)) ==
			  PP_ERR_VERIFY);
		cr_assert(all_zero(out, 4 * g->nh));
		memcpy(f.ev + g->ne, f.ev, g->ne);
		memcpy(f.ev, t, g->ne);
		cr_assert(voprf_verify_proof(g, pk, g->ne, f.blinded, f.ev, 4,
					     f.proof, 2 * g->ns) == 0);
		/* a proof for three of the four, and a bent c */
		cr_assert(voprf_verify_proof(g, pk, g->ne, f.blinded, f.ev, 3,
					     f.proof, 2 * g->ns) ==
			  PP_ERR_VERIFY);
		f.proof[g == &grp_p384 ? g->ns - 1 : 0] ^= 1;
		cr_assert(voprf_verify_proof(g, pk, g->ne, f.blinded, f.ev, 4,
					     f.proof, 2 * g->ns) ==
			  PP_ERR_VERIFY);
		cr_assert(voprf_verify_proof(g, pk, g->ne, f.blinded, f.ev, 4,
					     f.proof, 2 * g->ns - 1) ==
			  PP_ERR_LENGTH);
		voprf_key_free(f.k);
	}
}

struct worker {
	struct voprf_key *k;
	int failures;
};

static void *evaluate_many(void *arg)
{
	struct worker *w = arg;
	const struct grp_impl *g = voprf_key_group(w->k);
	uint8_t blind[GRP_MAX_NS], blinded[GRP_MAX_NE], ev[GRP_MAX_NE];
	uint8_t proof[2 * GRP_MAX_NS];
	int i;

	for (i = 0; i < 20; i++) {
		if (voprf_blind(g, (const uint8_t *)"x", 1, NULL, blind,
				blinded) != 0 ||
		    voprf_blind_evaluate(w->k, blinded, 1, 1, ev, sizeof(ev),
					 proof, sizeof(proof)) != 0 ||
		    voprf_verify_proof(g, voprf_key_public(w->k), g->ne,
				       blinded, ev, 1, proof,
				       2 * g->ns) != 0)
			w->failures++;
	}
	return NULL;
}

Test(voprf_misuse, one_key_serves_many_threads)
{
	struct voprf_key *k = NULL;
	struct worker w[4];
	pthread_t th[4];
	size_t i, j;

	for (j = 0; j < 2; j++) {
		cr_assert(voprf_key_generate(groups[j], &k) == 0);
		for (i = 0; i < 4; i++) {
			w[i].k = k;
			w[i].failures = 0;
			cr_assert(pthread_create(&th[i], NULL, evaluate_many,
						 &w[i]) == 0);
		}
		for (i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			cr_assert(w[i].failures == 0);
		}
		voprf_key_free(k);
	}
}

/* ---- wire ---- */

Test(voprf_wire, varint_round_trips_and_minimal_encoding)
{
	static const uint64_t values[] = { 0, 63, 64, 16383, 16384,
					   1073741823, 1073741824, VI_MAX };
	static const size_t lens[] = { 1, 1, 2, 2, 4, 4, 8, 8 };
	uint8_t b[8];
	uint64_t v;
	size_t i, n, used;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		cr_assert(vi_encode(values[i], b, sizeof(b), &n) == 0);
		cr_assert(n == lens[i] && vi_encoded_len(values[i]) == n);
		cr_assert(vi_decode(b, n, 1, &v, &used) == 0);
		cr_assert(v == values[i] && used == n);
		cr_assert(vi_decode(b, n - 1, 1, &v, &used) ==
			  PP_ERR_TRUNCATED);
		cr_assert(v == 0 && used == 0);
	}
	cr_assert(vi_encode(VI_MAX + 1, b, sizeof(b), &n) == PP_ERR_ARG);
	cr_assert(vi_encode(64, b, 1, &n) == PP_ERR_BUFFER);
	/* RFC 9000 A.1's example and a non-minimal 1 */
	b[0] = 0x40;
	b[1] = 0x25;
	cr_assert(vi_decode(b, 2, 1, &v, NULL) == PP_ERR_LENGTH);
	cr_assert(vi_decode(b, 2, 0, &v, NULL) == 0 && v == 37);
	b[0] = 0x80;
	b[1] = 0;
	b[2] = 0;
	b[3] = 0x01;
	cr_assert(vi_decode(b, 4, 1, &v, NULL) == PP_ERR_LENGTH);
	cr_assert(vi_decode(b, 0, 1, &v, NULL) == PP_ERR_TRUNCATED);
}

Test(voprf_wire, single_request_and_response_sizes)
{
	uint8_t b[200];
	struct vtok_request r;
	struct vtok_response resp;

	memset(b, 0x11, sizeof(b));
	b[0] = 0;
	b[1] = 5;
	cr_assert(vtok_request_decode(b, 35, &r) == 0 && r.token_type == 5);
	cr_assert(vtok_request_decode(b, 34, &r) == PP_ERR_LENGTH);
	cr_assert(r.blinded == NULL);
	cr_assert(vtok_request_decode(b, 36, &r) == PP_ERR_LENGTH);
	cr_assert(vtok_request_decode(b, 1, &r) == PP_ERR_TRUNCATED);
	b[1] = 1;
	cr_assert(vtok_request_decode(b, 52, &r) == 0 && r.token_type == 1);
	cr_assert(vtok_request_decode(b, 35, &r) == PP_ERR_LENGTH);
	b[1] = 2;
	cr_assert(vtok_request_decode(b, 35, &r) == PP_ERR_TOKEN_TYPE);
	cr_assert(vtok_response_decode(5, b, 96, &resp) == 0);
	cr_assert(vtok_response_decode(5, b, 97, &resp) == PP_ERR_LENGTH);
	cr_assert(vtok_response_decode(1, b, 145, &resp) == 0);
	cr_assert(vtok_response_decode(2, b, 145, &resp) == PP_ERR_TOKEN_TYPE);
	b[1] = 5;
	cr_assert(vtok_token_decode(b, 162, &(struct vtok_token){ 0 }) == 0);
	cr_assert(vtok_token_decode(b, 161, &(struct vtok_token){ 0 }) ==
		  PP_ERR_LENGTH);
	cr_assert(vtok_group(5) == &grp_ristretto255);
	cr_assert(vtok_group(1) == &grp_p384 && vtok_group(2) == NULL);
}

Test(voprf_wire, batch_request_rules)
{
	uint8_t b[3 + 2 + 4 * 32 + 1];
	struct vtok_batch_request r;
	struct vtok_response resp;

	memset(b, 0x22, sizeof(b));
	b[0] = 0;
	b[1] = 5;
	b[2] = 0xaa;
	b[3] = 0x40; /* varint 128 = 4 * 32, two bytes */
	b[4] = 0x80;
	cr_assert(vtok_batch_request_decode(b, 133, 4, &r) == 0);
	cr_assert(r.count == 4 && r.truncated_key_id == 0xaa &&
		  r.blinded == b + 5);
	cr_assert(vtok_batch_request_decode(b, 133, 3, &r) == PP_ERR_LENGTH);
	cr_assert(r.count == 0 && r.blinded == NULL);
	cr_assert(vtok_batch_request_decode(b, 132, 4, &r) ==
		  PP_ERR_TRUNCATED);
	cr_assert(vtok_batch_request_decode(b, 134, 4, &r) == PP_ERR_TRAILING);
	cr_assert(vtok_batch_request_decode(b, 3, 4, &r) == PP_ERR_TRUNCATED);
	b[4] = 0x81; /* 129: not a whole number of elements */
	cr_assert(vtok_batch_request_decode(b, 134, 8, &r) == PP_ERR_LENGTH);
	b[3] = 0x40; /* 32 in two bytes: not minimal */
	b[4] = 0x20;
	cr_assert(vtok_batch_request_decode(b, 37, 4, &r) == PP_ERR_LENGTH);
	b[3] = 0x20; /* 32 in one byte */
	cr_assert(vtok_batch_request_decode(b + 0, 36, 4, &r) == 0);
	cr_assert(r.count == 1);
	b[3] = 0x00; /* empty batch */
	cr_assert(vtok_batch_request_decode(b, 4, 4, &r) == PP_ERR_LENGTH);
	b[1] = 2;
	cr_assert(vtok_batch_request_decode(b, 4, 4, &r) == PP_ERR_TOKEN_TYPE);
	/* responses: 1 element of 32 and a proof of 64 */
	b[0] = 0x20;
	cr_assert(vtok_batch_response_decode(5, b, 97, 4, &resp) == 0);
	cr_assert(resp.count == 1 && resp.proof == b + 33);
	cr_assert(vtok_batch_response_decode(5, b, 96, 4, &resp) ==
		  PP_ERR_TRUNCATED);
	cr_assert(vtok_batch_response_decode(5, b, 98, 4, &resp) ==
		  PP_ERR_TRAILING);
	cr_assert(vtok_batch_request_len(5, 4) == 133);
	cr_assert(vtok_batch_response_len(1, 3) == 2 + 147 + 96);
	cr_assert(vtok_batch_request_len(5, 0) == 0);
}
