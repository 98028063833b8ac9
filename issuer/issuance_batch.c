/* Batched issuance: generic and amortized batches (issuance_batch.h). */
#include "issuer/issuance_batch.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/batch.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "crypto/varint.h"
#include "issuer/issuance_int.h"
#include "issuer/metrics.h"
#include "issuer/service_int.h"
#include "keys/keyset.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void batch_reset(struct iss_batch *out)
{
	memset(out, 0, sizeof(*out));
}

void iss_batch_clear(struct iss_batch *b)
{
	if (b == NULL)
		return;
	if (b->response != NULL) {
		OPENSSL_cleanse(b->response, b->response_len);
		free(b->response);
	}
	free(b->items);
	batch_reset(b);
}

static enum issb_verdict batch_parse_verdict(int rc)
{
	return rc == PP_ERR_TOKEN_TYPE ? ISSB_UNSUPPORTED_TYPE : ISSB_MALFORMED;
}

static int batch_admitted(const struct iss_admit *admit, size_t n)
{
	return admit == NULL || admit->fn == NULL || admit->fn(admit->ctx, n) == 0;
}

void iss_batch_generic(struct svc *s, const uint8_t *req, size_t len,
		       unsigned max_n, const struct iss_admit *admit,
		       struct iss_batch *out)
{
	struct gbatch_reader rd;
	struct gbatch_writer w;
	struct iss_result res;
	struct ks_keyset *ks = NULL;
	const uint8_t *item;
	size_t count, i, item_len, cap = GBATCH_PREFIX_MAX;
	int rc, errors = 0;

	batch_reset(out);
	rc = gbatch_request_open(req, len, &rd, &count);
	if (rc != 0) {
		out->verdict = batch_parse_verdict(rc);
		return;
	}
	out->count = count;
	if (count > max_n || count > ISSB_MAX_ITEMS) {
		out->verdict = ISSB_TOO_MANY;
		return;
	}
	if (!batch_admitted(admit, count)) {
		out->verdict = ISSB_LIMITED;
		return;
	}
	/* The response's size is known before anything is signed: every
	 * item of its type's TokenResponse, plus presence and type. */
	for (i = 0; i < count; i++) {
		const struct tt_ops *tt;

		if (gbatch_request_next(&rd, &item, &item_len) != 0)
			abort();   /* open walked these items */
		tt = tt_find((uint16_t)(item[0] << 8 | item[1]));
		cap += tt != NULL ? 3 + tt->response_len : 1;
	}
	rc = gbatch_request_open(req, len, &rd, &count);
	if (rc != 0)
		abort();
	out->items = calloc(count, sizeof(*out->items));
	out->response = malloc(cap);
	if (out->items == NULL || out->response == NULL) {
		out->verdict = ISSB_ERROR;
		goto cleanup;
	}
	gbatch_response_begin(&w, out->response, cap);
	ks = ks_current_get(s->keys);
	for (i = 0; i < count; i++) {
		(void)gbatch_request_next(&rd, &item, &item_len);
		/* the single path, against the batch's snapshot */
		iss_issue_in(s, ks, item, item_len, &res);
		out->items[i] = res.verdict;
		if (res.verdict == ISS_OK) {
			if (out->key_id[0] == '\0')
				memcpy(out->key_id, res.key_id,
				       sizeof(out->key_id));
			gbatch_response_add(&w, res.token_type, res.response,
					    res.response_len);
			out->issued++;
		} else {
			gbatch_response_add(&w, 0, NULL, 0);
			errors += out->items[i] == ISS_ERROR;
		}
	}
	OPENSSL_cleanse(res.response, sizeof(res.response));
	if (gbatch_response_end(&w, &out->response_len) != 0) {
		out->verdict = ISSB_ERROR;
		goto cleanup;
	}
	out->verdict = out->issued == count ? ISSB_ALL :
		       out->issued > 0 ? ISSB_SOME :
		       errors > 0 ? ISSB_ERROR : ISSB_NONE_ISSUED;
cleanup:
	ks_keyset_unref(ks);
	if (out->verdict != ISSB_ALL && out->verdict != ISSB_SOME &&
	    out->response != NULL) {
		OPENSSL_cleanse(out->response, cap);
		free(out->response);
		out->response = NULL;
		out->response_len = 0;
	}
}

/* Elements in an amortized request of a type whose single TokenRequest is
 * type || key id || one element: the length prefix over the element size.
 * 0 when the prefix does not read (the type's issue_batch says why). */
static size_t amortized_count(const struct tt_ops *tt, const uint8_t *req,
			      size_t len)
{
	uint64_t v;
	size_t ne = tt->request_len - 3;

	if (len < 3 || ne == 0 || vi_decode(req + 3, len - 3, 1, &v, NULL) != 0)
		return 0;
	return v % ne == 0 ? (size_t)(v / ne) : 0;
}

void iss_batch_amortized(struct svc *s, const uint8_t *req, size_t len,
			 unsigned max_n, const struct iss_admit *admit,
			 struct iss_batch *out)
{
	const struct tt_ops *tt;
	const struct ks_entry *e;
	struct ks_keyset *ks = NULL;
	size_t n, i, cap = 0;
	uint64_t t0;
	int rc;

	batch_reset(out);
	if (len < 3) {
		out->verdict = ISSB_MALFORMED;
		return;
	}
	out->token_type = (uint16_t)(req[0] << 8 | req[1]);
	tt = tt_find(out->token_type);
	if (tt == NULL || tt->issue_batch == NULL || tt->request_variable ||
	    tt->request_len <= 3) {
		out->verdict = ISSB_UNSUPPORTED_TYPE;
		return;
	}
	n = amortized_count(tt, req, len);
	out->count = n;
	if (n > max_n || n > ISSB_MAX_ITEMS) {
		out->verdict = ISSB_TOO_MANY;
		return;
	}
	if (n == 0) {
		out->verdict = ISSB_MALFORMED;
		return;
	}
	if (!batch_admitted(admit, n)) {
		out->verdict = ISSB_LIMITED;
		return;
	}
	ks = ks_current_get(s->keys);
	e = ks_keyset_signer(ks, tt->type, req[2]);
	if (e == NULL) {
		out->verdict = ISSB_UNKNOWN_KEY;
		goto cleanup;
	}
	/* varint(n * Ne) || n * Ne || proof: at most a prefix and n single
	 * responses (each one element and a proof) */
	cap = VI_MAX_LEN + n * tt->response_len;
	out->response = malloc(cap);
	if (out->response == NULL) {
		out->verdict = ISSB_ERROR;
		goto cleanup;
	}
	t0 = now_us();
	rc = tt_issue_batch(e->signer, req, len, max_n, out->response, cap,
			    &out->response_len);
	if (rc != 0) {
		ERR_clear_error();
		out->verdict = rc == PP_ERR_MSG_RANGE ? ISSB_BAD_ELEMENT :
			       rc == PP_ERR_UNKNOWN_KEY ? ISSB_UNKNOWN_KEY :
			       rc == PP_ERR_TOKEN_TYPE ? ISSB_UNSUPPORTED_TYPE :
			       rc == PP_ERR_LENGTH || rc == PP_ERR_TRUNCATED ||
			       rc == PP_ERR_TRAILING ? ISSB_MALFORMED : ISSB_ERROR;
		goto cleanup;
	}
	met_sign_latency(now_us() - t0);
	for (i = 0; i < n; i++)
		met_token_issued(e->meta.key_id);
	met_scope_issued(&s->scope, n);
	memcpy(out->key_id, e->meta.id_hex, sizeof(out->key_id));
	out->issued = n;
	out->verdict = ISSB_ALL;
cleanup:
	ks_keyset_unref(ks);
	if (out->verdict != ISSB_ALL && out->response != NULL) {
		OPENSSL_cleanse(out->response, cap);
		free(out->response);
		out->response = NULL;
		out->response_len = 0;
	}
}

/* The largest fixed-size TokenRequest a generic batch can carry. */
static size_t generic_item_max(void)
{
	const struct tt_ops *const *all;
	size_t n, i, m = gbatch_item_len(0x0001);

	if (gbatch_item_len(0x0005) > m)
		m = gbatch_item_len(0x0005);
	all = tt_all(&n);
	for (i = 0; i < n; i++)
		if (!all[i]->request_variable && all[i]->request_len > m)
			m = all[i]->request_len;
	return m;
}

static size_t vector_cap(size_t body)
{
	size_t p = vi_encoded_len(body);

	return p == 0 ? 0 : p + body;
}

size_t iss_batch_generic_body_cap(unsigned max_n)
{
	return vector_cap((size_t)max_n * generic_item_max());
}

size_t iss_batch_amortized_body_cap(unsigned max_n)
{
	const struct tt_ops *const *all;
	size_t n, i, ne = 0;

	all = tt_all(&n);
	for (i = 0; i < n; i++)
		if (all[i]->issue_batch != NULL && !all[i]->request_variable &&
		    all[i]->request_len - 3 > ne)
			ne = all[i]->request_len - 3;
	if (ne == 0)
		return 0;
	return 3 + vector_cap((size_t)max_n * ne);
}
