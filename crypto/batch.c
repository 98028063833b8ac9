/* Generic batch requests and responses (see batch.h). */
#include "crypto/batch.h"

#include <openssl/crypto.h>
#include <string.h>

#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "crypto/varint.h"
#include "crypto/vtok.h"

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

size_t gbatch_item_len(uint16_t token_type)
{
	const struct tt_ops *tt = tt_find(token_type);
	const struct vtok_sizes *vs;

	if (tt != NULL)
		return tt->request_variable ? 0 : tt->request_len;
	vs = vtok_sizes(token_type);
	return vs != NULL ? 3 + vs->ne : 0;
}

static size_t gbatch_response_item_len(uint16_t token_type)
{
	const struct tt_ops *tt = tt_find(token_type);
	const struct vtok_sizes *vs;

	if (tt != NULL)
		return tt->response_len;
	vs = vtok_sizes(token_type);
	return vs != NULL ? vs->ne + 2 * vs->ns : 0;
}

/* The vector behind the prefix: *body and *body_len, exactly to the end. */
static int gbatch_vector(const uint8_t *in, size_t len, const uint8_t **body,
			 size_t *body_len)
{
	uint64_t v;
	size_t used;
	int rc;

	rc = vi_decode(in, len, 1, &v, &used);
	if (rc != 0)
		return rc;
	if (v > len - used)
		return PP_ERR_TRUNCATED;
	if (v < len - used)
		return PP_ERR_TRAILING;
	*body = in + used;
	*body_len = (size_t)v;
	return 0;
}

int gbatch_request_open(const uint8_t *in, size_t len, struct gbatch_reader *rd,
			size_t *count)
{
	const uint8_t *body = NULL, *p, *end;
	size_t body_len = 0, n = 0, item;
	int rc;

	rd->p = rd->end = NULL;
	*count = 0;
	rc = gbatch_vector(in, len, &body, &body_len);
	if (rc != 0)
		return rc;
	if (body_len == 0)
		return PP_ERR_LENGTH;
	p = body;
	end = body + body_len;
	while (p < end) {
		if (end - p < 2)
			return PP_ERR_TRUNCATED;
		item = gbatch_item_len(get_u16(p));
		if (item == 0)
			return PP_ERR_TOKEN_TYPE;
		if ((size_t)(end - p) < item)
			return PP_ERR_TRUNCATED;
		p += item;
		n++;
	}
	rd->p = body;
	rd->end = end;
	*count = n;
	return 0;
}

int gbatch_request_next(struct gbatch_reader *rd, const uint8_t **req,
			size_t *len)
{
	size_t item;

	*req = NULL;
	*len = 0;
	if (rd->p == NULL || rd->end - rd->p < 2)
		return PP_ERR_TRUNCATED;
	item = gbatch_item_len(get_u16(rd->p));
	if (item == 0 || (size_t)(rd->end - rd->p) < item)
		return PP_ERR_TRUNCATED;   /* open checked this: not reached */
	*req = rd->p;
	*len = item;
	rd->p += item;
	return 0;
}

int gbatch_request_encode(const uint8_t *const *reqs, const size_t *lens,
			  size_t count, uint8_t *out, size_t cap,
			  size_t *out_len)
{
	size_t i, total = 0, used = 0;
	int rc;

	*out_len = 0;
	if (count == 0)
		return PP_ERR_ARG;
	for (i = 0; i < count; i++) {
		if (lens[i] < 2 || gbatch_item_len(get_u16(reqs[i])) != lens[i])
			return PP_ERR_ARG;
		total += lens[i];
	}
	if (total >= GBATCH_BODY_MAX)
		return PP_ERR_ARG;
	rc = vi_encode(total, out, cap, &used);
	if (rc != 0)
		return rc;
	if (cap - used < total)
		return PP_ERR_BUFFER;
	for (i = 0; i < count; i++) {
		memcpy(out + used, reqs[i], lens[i]);
		used += lens[i];
	}
	*out_len = used;
	return 0;
}

void gbatch_response_begin(struct gbatch_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->pos = GBATCH_PREFIX_MAX;
	w->failed = cap < GBATCH_PREFIX_MAX;
}

void gbatch_response_add(struct gbatch_writer *w, uint16_t token_type,
			 const uint8_t *resp, size_t len)
{
	size_t need = resp != NULL && len > 0 ? 3 + len : 1;

	if (w->failed || w->cap - w->pos < need) {
		w->failed = 1;
		return;
	}
	if (need == 1) {
		w->buf[w->pos++] = 0x00;
		return;
	}
	w->buf[w->pos] = 0x01;
	w->buf[w->pos + 1] = (uint8_t)(token_type >> 8);
	w->buf[w->pos + 2] = (uint8_t)token_type;
	memcpy(w->buf + w->pos + 3, resp, len);
	w->pos += need;
}

int gbatch_response_end(struct gbatch_writer *w, size_t *out_len)
{
	uint8_t prefix[VI_MAX_LEN];
	size_t body, used = 0;

	*out_len = 0;
	body = w->failed ? 0 : w->pos - GBATCH_PREFIX_MAX;
	if (w->failed || body >= GBATCH_BODY_MAX ||
	    vi_encode(body, prefix, sizeof(prefix), &used) != 0) {
		if (w->buf != NULL)
			OPENSSL_cleanse(w->buf, w->cap);
		return PP_ERR_BUFFER;
	}
	memmove(w->buf + used, w->buf + GBATCH_PREFIX_MAX, body);
	memcpy(w->buf, prefix, used);
	*out_len = used + body;
	return 0;
}

size_t gbatch_response_cap(size_t count, size_t item_max)
{
	if (count == 0)
		return GBATCH_PREFIX_MAX;
	if (count > GBATCH_BODY_MAX / 4 || item_max > GBATCH_BODY_MAX / count - 3)
		return 0;
	return GBATCH_PREFIX_MAX + count * (3 + item_max);
}

static int gbatch_response_walk(const uint8_t *in, size_t len,
				struct gbatch_response_item *items, size_t count)
{
	const uint8_t *body = NULL, *p, *end;
	size_t body_len = 0, i, item;
	int rc;

	memset(items, 0, count * sizeof(*items));
	rc = gbatch_vector(in, len, &body, &body_len);
	if (rc != 0)
		return rc;
	p = body;
	end = body + body_len;
	for (i = 0; i < count; i++) {
		if (p == end)
			return PP_ERR_LENGTH;  /* fewer items than requests */
		if (*p == 0x00) {
			p++;
			continue;
		}
		if (*p != 0x01)
			return PP_ERR_LENGTH;
		if (end - p < 3)
			return PP_ERR_TRUNCATED;
		items[i].token_type = get_u16(p + 1);
		item = gbatch_response_item_len(items[i].token_type);
		if (item == 0)
			return PP_ERR_TOKEN_TYPE;
		if ((size_t)(end - p) - 3 < item)
			return PP_ERR_TRUNCATED;
		items[i].present = 1;
		items[i].response = p + 3;
		items[i].response_len = item;
		p += 3 + item;
	}
	if (p != end)
		return PP_ERR_LENGTH;      /* more items than requests */
	return 0;
}

int gbatch_response_decode(const uint8_t *in, size_t len,
			   struct gbatch_response_item *items, size_t count)
{
	int rc = gbatch_response_walk(in, len, items, count);

	if (rc != 0)
		memset(items, 0, count * sizeof(*items));
	return rc;
}
