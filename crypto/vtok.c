/* Privacy Pass wire structures of the VOPRF token types 0x0001 and 0x0005. */
#include "vtok.h"

#include <string.h>

#include "grp.h"
#include "base/pp_err.h"
#include "varint.h"

static const struct vtok_sizes vtok_table[] = {
	{ VTOK_TYPE_VOPRF_P384, 49, 48, 48 },
	{ VTOK_TYPE_VOPRF_R255, 32, 32, 64 },
};

const struct vtok_sizes *vtok_sizes(uint16_t token_type)
{
	size_t i;

	for (i = 0; i < sizeof(vtok_table) / sizeof(vtok_table[0]); i++)
		if (vtok_table[i].token_type == token_type)
			return &vtok_table[i];
	return NULL;
}

const struct grp_impl *vtok_group(uint16_t token_type)
{
	switch (token_type) {
	case VTOK_TYPE_VOPRF_P384:
		return &grp_p384;
	case VTOK_TYPE_VOPRF_R255:
		return &grp_ristretto255;
	default:
		return NULL;
	}
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The type of a structure starting with one: TRUNCATED or TOKEN_TYPE. */
static int read_type(const uint8_t *in, size_t len,
		     const struct vtok_sizes **sz)
{
	*sz = NULL;
	if (in == NULL || len < 2)
		return PP_ERR_TRUNCATED;
	if ((*sz = vtok_sizes(get_u16(in))) == NULL)
		return PP_ERR_TOKEN_TYPE;
	return 0;
}

int vtok_request_decode(const uint8_t *in, size_t len,
			struct vtok_request *out)
{
	const struct vtok_sizes *sz;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_type(in, len, &sz)) != 0)
		return rc;
	if (len != 3 + sz->ne)
		return PP_ERR_LENGTH;
	out->token_type = sz->token_type;
	out->truncated_key_id = in[2];
	out->blinded = in + 3;
	return 0;
}

int vtok_request_encode(uint16_t token_type, uint8_t truncated_key_id,
			const uint8_t *blinded, uint8_t *out, size_t out_cap,
			size_t *out_len)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);

	if (out_len != NULL)
		*out_len = 0;
	if (sz == NULL)
		return PP_ERR_TOKEN_TYPE;
	if (blinded == NULL)
		return PP_ERR_ARG;
	if (out == NULL || out_cap < 3 + sz->ne)
		return PP_ERR_BUFFER;
	put_u16(out, token_type);
	out[2] = truncated_key_id;
	memcpy(out + 3, blinded, sz->ne);
	if (out_len != NULL)
		*out_len = 3 + sz->ne;
	return 0;
}

int vtok_response_decode(uint16_t token_type, const uint8_t *in, size_t len,
			 struct vtok_response *out)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);

	memset(out, 0, sizeof(*out));
	if (sz == NULL)
		return PP_ERR_TOKEN_TYPE;
	if (in == NULL || len != sz->ne + 2 * sz->ns)
		return PP_ERR_LENGTH;
	out->evaluated = in;
	out->count = 1;
	out->proof = in + sz->ne;
	return 0;
}

int vtok_response_encode(uint16_t token_type, const uint8_t *evaluated,
			 const uint8_t *proof, uint8_t *out, size_t out_cap,
			 size_t *out_len)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);

	if (out_len != NULL)
		*out_len = 0;
	if (sz == NULL)
		return PP_ERR_TOKEN_TYPE;
	if (evaluated == NULL || proof == NULL)
		return PP_ERR_ARG;
	if (out == NULL || out_cap < sz->ne + 2 * sz->ns)
		return PP_ERR_BUFFER;
	memcpy(out, evaluated, sz->ne);
	memcpy(out + sz->ne, proof, 2 * sz->ns);
	if (out_len != NULL)
		*out_len = sz->ne + 2 * sz->ns;
	return 0;
}

/* Reads varint(n * ne) || n * ne bytes at in[0..len): the element count,
 * the elements and the bytes used. */
static int read_elems(const uint8_t *in, size_t len, size_t ne,
		      size_t max_count, const uint8_t **elems, size_t *count,
		      size_t *used)
{
	uint64_t vlen;
	size_t vi;
	int rc;

	if ((rc = vi_decode(in, len, 1, &vlen, &vi)) != 0)
		return rc;
	if (vlen == 0 || vlen % ne != 0 || vlen / ne > max_count)
		return PP_ERR_LENGTH;
	if (vlen > len - vi)
		return PP_ERR_TRUNCATED;
	*elems = in + vi;
	*count = (size_t)(vlen / ne);
	*used = vi + (size_t)vlen;
	return 0;
}

/* Writes varint(count * ne) || elems; returns the bytes written or 0. */
static size_t write_elems(const uint8_t *elems, size_t count, size_t ne,
			  uint8_t *out, size_t out_cap)
{
	size_t vi = 0;

	if (vi_encode((uint64_t)count * ne, out, out_cap, &vi) != 0 ||
	    out_cap - vi < count * ne)
		return 0;
	memcpy(out + vi, elems, count * ne);
	return vi + count * ne;
}

/* Bound so that count * ne and the totals never overflow. */
#define VTOK_MAX_COUNT ((size_t)1 << 24)

int vtok_batch_request_decode(const uint8_t *in, size_t len, size_t max_count,
			      struct vtok_batch_request *out)
{
	const struct vtok_sizes *sz;
	size_t used;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_type(in, len, &sz)) != 0)
		return rc;
	if (len < 3)
		return PP_ERR_TRUNCATED;
	if ((rc = read_elems(in + 3, len - 3, sz->ne, max_count, &out->blinded,
			     &out->count, &used)) != 0)
		goto cleanup;
	if (used != len - 3) {
		rc = PP_ERR_TRAILING;
		goto cleanup;
	}
	out->token_type = sz->token_type;
	out->truncated_key_id = in[2];
cleanup:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

size_t vtok_batch_request_len(uint16_t token_type, size_t count)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);

	if (sz == NULL || count == 0 || count > VTOK_MAX_COUNT)
		return 0;
	return 3 + vi_encoded_len((uint64_t)count * sz->ne) + count * sz->ne;
}

size_t vtok_batch_response_len(uint16_t token_type, size_t count)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);

	if (sz == NULL || count == 0 || count > VTOK_MAX_COUNT)
		return 0;
	return vi_encoded_len((uint64_t)count * sz->ne) + count * sz->ne +
	       2 * sz->ns;
}

int vtok_batch_request_encode(uint16_t token_type, uint8_t truncated_key_id,
			      const uint8_t *blinded, size_t count,
			      uint8_t *out, size_t out_cap, size_t *out_len)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);
	size_t n;

	if (out_len != NULL)
		*out_len = 0;
	if (sz == NULL)
		return PP_ERR_TOKEN_TYPE;
	if (blinded == NULL || count == 0 || count > VTOK_MAX_COUNT)
		return PP_ERR_ARG;
	if (out == NULL || out_cap < vtok_batch_request_len(token_type, count))
		return PP_ERR_BUFFER;
	put_u16(out, token_type);
	out[2] = truncated_key_id;
	n = write_elems(blinded, count, sz->ne, out + 3, out_cap - 3);
	if (out_len != NULL)
		*out_len = 3 + n;
	return 0;
}

int vtok_batch_response_decode(uint16_t token_type, const uint8_t *in,
			       size_t len, size_t max_count,
			       struct vtok_response *out)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);
	size_t used;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sz == NULL)
		return PP_ERR_TOKEN_TYPE;
	if ((rc = read_elems(in, len, sz->ne, max_count, &out->evaluated,
			     &out->count, &used)) != 0)
		goto cleanup;
	if (len - used < 2 * sz->ns) {
		rc = PP_ERR_TRUNCATED;
		goto cleanup;
	}
	if (len - used > 2 * sz->ns) {
		rc = PP_ERR_TRAILING;
		goto cleanup;
	}
	out->proof = in + used;
cleanup:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int vtok_batch_response_encode(uint16_t token_type, const uint8_t *evaluated,
			       size_t count, const uint8_t *proof,
			       uint8_t *out, size_t out_cap, size_t *out_len)
{
	const struct vtok_sizes *sz = vtok_sizes(token_type);
	size_t n;

	if (out_len != NULL)
		*out_len = 0;
	if (sz == NULL)
		return PP_ERR_TOKEN_TYPE;
	if (evaluated == NULL || proof == NULL || count == 0 ||
	    count > VTOK_MAX_COUNT)
		return PP_ERR_ARG;
	if (out == NULL ||
	    out_cap < vtok_batch_response_len(token_type, count))
		return PP_ERR_BUFFER;
	n = write_elems(evaluated, count, sz->ne, out, out_cap);
	memcpy(out + n, proof, 2 * sz->ns);
	if (out_len != NULL)
		*out_len = n + 2 * sz->ns;
	return 0;
}

int vtok_token_decode(const uint8_t *in, size_t len, struct vtok_token *out)
{
	const struct vtok_sizes *sz;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_type(in, len, &sz)) != 0)
		return rc;
	if (len != VTOK_INPUT_LEN + sz->nk)
		return PP_ERR_LENGTH;
	out->token_type = sz->token_type;
	out->nonce = in + 2;
	out->challenge_digest = in + 2 + VTOK_NONCE_LEN;
	out->token_key_id = in + 2 + VTOK_NONCE_LEN + VTOK_DIGEST_LEN;
	out->authenticator = in + VTOK_INPUT_LEN;
	out->authenticator_len = sz->nk;
	out->input = in;
	return 0;
}
