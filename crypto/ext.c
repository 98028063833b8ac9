/* Privacy Pass Extensions, the expiration extension and the 0xDA7A wire
 * structures; see ext.h for the rules and the drafts they come from. */
#include "ext.h"
#include "base/pp_err.h"

#include <string.h>

static uint16_t get16(const uint8_t *in)
{
	return (uint16_t)((uint16_t)in[0] << 8 | in[1]);
}

static void put16(uint8_t *out, uint16_t v)
{
	out[0] = (uint8_t)(v >> 8);
	out[1] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *in)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

static void put64(uint8_t *out, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Whether type may follow prev (the previous entry's type). */
static int in_order(int have_prev, uint16_t prev, uint16_t type,
		    unsigned flags)
{
	if (!have_prev)
		return 1;
	return (flags & EXT_ALLOW_REPEATS) ? type >= prev : type > prev;
}

int ext_decode(const uint8_t *in, size_t len, unsigned flags,
	       struct ext_list *out)
{
	size_t total, off;
	struct ext_entry *en;
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (in == NULL && len != 0)
		return PP_ERR_ARG;
	if (len < 2)
		return PP_ERR_TRUNCATED;
	total = get16(in);
	if (len - 2 < total)
		return PP_ERR_TRUNCATED;
	if (len - 2 > total)
		return PP_ERR_TRAILING;
	in += 2;
	off = 0;
	while (off < total) {
		if (out->count == EXT_MAX_ENTRIES) {
			rc = PP_ERR_LENGTH;
			goto fail;
		}
		en = &out->entries[out->count];
		/* the header and the data must both fit in the list */
		if (total - off < 4) {
			rc = PP_ERR_LENGTH;
			goto fail;
		}
		en->type = get16(in + off);
		en->len = get16(in + off + 2);
		if (total - off - 4 < en->len) {
			rc = PP_ERR_LENGTH;
			goto fail;
		}
		en->data = en->len ? in + off + 4 : NULL;
		if (!in_order(out->count > 0,
			      out->count ? out->entries[out->count - 1].type : 0,
			      en->type, flags)) {
			rc = PP_ERR_CORRUPT;
			goto fail;
		}
		out->count++;
		off += 4 + (size_t)en->len;
	}
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

int ext_encode(const struct ext_entry *entries, size_t count, unsigned flags,
	       uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t i, total = 0, off;

	if (out_len == NULL)
		return PP_ERR_ARG;
	*out_len = 0;
	if ((entries == NULL && count != 0) || out == NULL)
		return PP_ERR_ARG;
	for (i = 0; i < count; i++) {
		if (entries[i].data == NULL && entries[i].len != 0)
			return PP_ERR_ARG;
		if (!in_order(i > 0, i ? entries[i - 1].type : 0,
			      entries[i].type, flags))
			return PP_ERR_ARG;
		total += 4 + (size_t)entries[i].len;
		if (total > 0xffff)
			return PP_ERR_LENGTH;
	}
	if (out_cap < 2 + total)
		return PP_ERR_BUFFER;
	put16(out, (uint16_t)total);
	off = 2;
	for (i = 0; i < count; i++) {
		put16(out + off, entries[i].type);
		put16(out + off + 2, entries[i].len);
		if (entries[i].len)
			memcpy(out + off + 4, entries[i].data, entries[i].len);
		off += 4 + entries[i].len;
	}
	*out_len = off;
	return 0;
}

int ext_find(const struct ext_list *l, uint16_t type,
	     const struct ext_entry **out)
{
	size_t i;

	if (out == NULL)
		return PP_ERR_ARG;
	*out = NULL;
	if (l == NULL)
		return PP_ERR_ARG;
	for (i = 0; i < l->count && i < EXT_MAX_ENTRIES; i++) {
		if (l->entries[i].type == type) {
			*out = &l->entries[i];
			return 0;
		}
	}
	return PP_ERR_NOT_FOUND;
}

static int expiration_ok(const struct ext_expiration *e)
{
	return e->precision != 0 && e->timestamp % e->precision == 0;
}

int ext_expiration_encode(const struct ext_expiration *e,
			  uint8_t out[EXT_EXPIRATION_LEN])
{
	if (e == NULL || out == NULL || !expiration_ok(e))
		return PP_ERR_ARG;
	put64(out, e->precision);
	put64(out + 8, e->timestamp);
	return 0;
}

int ext_expiration_decode(const uint8_t *data, size_t len,
			  struct ext_expiration *out)
{
	struct ext_expiration e;

	if (out == NULL)
		return PP_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (data == NULL && len != 0)
		return PP_ERR_ARG;
	if (len != EXT_EXPIRATION_LEN)
		return PP_ERR_LENGTH;
	e.precision = get64(data);
	e.timestamp = get64(data + 8);
	if (!expiration_ok(&e))
		return PP_ERR_CORRUPT;
	*out = e;
	return 0;
}

int ext_check_expiry(const uint8_t *in, size_t len, int64_t now)
{
	const struct ext_entry *e;
	struct ext_expiration x;
	struct ext_list l;

	if (ext_decode(in, len, 0, &l) != 0)
		return PP_ERR_CORRUPT;
	if (ext_find(&l, EXT_TYPE_EXPIRATION, &e) != 0)
		return 0;   /* no expiration: only the key's life */
	if (ext_expiration_decode(e->data, e->len, &x) != 0)
		return PP_ERR_CORRUPT;
	if (now < 0 || x.timestamp <= (uint64_t)now)
		return PP_ERR_STATE;
	return 0;
}

int ext_token_request_decode(const uint8_t *in, size_t len, unsigned flags,
			     struct ext_token_request *out)
{
	int rc;

	if (out == NULL)
		return PP_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (in == NULL && len != 0)
		return PP_ERR_ARG;
	if (len < 2)
		return PP_ERR_TRUNCATED;
	if (get16(in) != EXT_TOKEN_TYPE_PBRSA)
		return PP_ERR_TOKEN_TYPE;
	/* the Extensions' own length prefix is part of the structure */
	if (len < EXT_REQUEST_LEN + 2)
		return PP_ERR_TRUNCATED;
	rc = ext_decode(in + EXT_REQUEST_LEN, len - EXT_REQUEST_LEN, flags,
			&out->ext);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->token_type = EXT_TOKEN_TYPE_PBRSA;
	out->truncated_key_id = in[2];
	out->blinded_msg = in + 3;
	out->extensions = in + EXT_REQUEST_LEN;
	out->extensions_len = len - EXT_REQUEST_LEN;
	return 0;
}

int ext_token_request_encode(uint8_t truncated_key_id,
			     const uint8_t blinded_msg[EXT_NK],
			     const uint8_t *extensions, size_t extensions_len,
			     uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct ext_list l;

	if (out_len == NULL)
		return PP_ERR_ARG;
	*out_len = 0;
	if (blinded_msg == NULL || out == NULL ||
	    ext_decode(extensions, extensions_len, EXT_ALLOW_REPEATS, &l) != 0)
		return PP_ERR_ARG;
	if (out_cap < EXT_REQUEST_LEN || out_cap - EXT_REQUEST_LEN < extensions_len)
		return PP_ERR_BUFFER;
	put16(out, EXT_TOKEN_TYPE_PBRSA);
	out[2] = truncated_key_id;
	memcpy(out + 3, blinded_msg, EXT_NK);
	memcpy(out + EXT_REQUEST_LEN, extensions, extensions_len);
	*out_len = EXT_REQUEST_LEN + extensions_len;
	return 0;
}

int ext_token_decode(const uint8_t *in, size_t len, struct ext_token *out)
{
	if (out == NULL)
		return PP_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (in == NULL && len != 0)
		return PP_ERR_ARG;
	if (len < 2)
		return PP_ERR_TRUNCATED;
	if (get16(in) != EXT_TOKEN_TYPE_PBRSA)
		return PP_ERR_TOKEN_TYPE;
	if (len != EXT_TOKEN_LEN)
		return PP_ERR_LENGTH;
	out->input = in;
	out->nonce = in + 2;
	out->challenge_digest = in + 34;
	out->token_key_id = in + 66;
	out->authenticator = in + EXT_TOKEN_INPUT_LEN;
	return 0;
}
