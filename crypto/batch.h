/* Generic batches (draft-ietf-privacypass-batched-tokens-07 section 5, the
 * revision whose vectors are in tests/vectors/): many TokenRequests of any
 * types in one request, one optional TokenResponse per request back.
 *
 *   GenericBatchTokenRequest:  varint(L) || L bytes of TokenRequests back to
 *                              back, each starting with its token_type (the
 *                              type is not repeated before it)
 *   GenericBatchTokenResponse: varint(L) || L bytes of OptionalTokenResponse:
 *                              0x00 (not issued), or
 *                              0x01 || token_type(2) || TokenResponse
 *
 * varint is a QUIC variable-length integer (crypto/varint.h), minimal
 * encoding required. Requests carry no per-item length, so an item is
 * delimited by the size of its type's TokenRequest: a type whose size is not
 * known here (not registered, or of variable size such as 0xDA7A) makes the
 * rest of the batch unreadable and the whole batch is refused.
 *
 * Pure byte parsing: nothing is allocated, items are views into the input. */
#ifndef PP_BATCH_H
#define PP_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the length prefix the writer reserves; bodies are kept below
 * 2^30 bytes so that 4 always suffice. */
#define GBATCH_PREFIX_MAX 4
#define GBATCH_BODY_MAX ((size_t)1 << 30)

/* Size of a single TokenRequest of this type as it sits in a generic batch:
 * the token-type table's size for a type it holds with a fixed size, the
 * registered size of the VOPRF types 0x0001 and 0x0005 otherwise (they can
 * be skipped, and refused, when the issuer does not serve them); 0 when
 * the size is not known. */
size_t gbatch_item_len(uint16_t token_type);

/* A walk over the items of a request that gbatch_request_open accepted. */
struct gbatch_reader {
	const uint8_t *p;
	const uint8_t *end;
};

/* Checks a whole GenericBatchTokenRequest before anything is issued and
 * counts its items. PP_ERR_TRUNCATED (the prefix or an item runs past the
 * input: a length past the body, an inner request shorter than its type's
 * size), PP_ERR_LENGTH (non-minimal prefix, or an empty batch),
 * PP_ERR_TRAILING (bytes after the vector), PP_ERR_TOKEN_TYPE (an item of a
 * type whose size is not known). *count and *rd are cleared on error. */
int gbatch_request_open(const uint8_t *in, size_t len, struct gbatch_reader *rd,
			size_t *count);
/* The next item (a whole TokenRequest); 0, or PP_ERR_TRUNCATED at the end. */
int gbatch_request_next(struct gbatch_reader *rd, const uint8_t **req,
			size_t *len);

/* Builds a request from complete TokenRequests (tests and clients).
 * PP_ERR_ARG for count 0 or an item whose size is not its type's,
 * PP_ERR_BUFFER when cap is short. */
int gbatch_request_encode(const uint8_t *const *reqs, const size_t *lens,
			  size_t count, uint8_t *out, size_t cap,
			  size_t *out_len);

/* Writes a GenericBatchTokenResponse into a buffer of cap bytes: items are
 * added in request order, then gbatch_response_end writes the prefix. */
struct gbatch_writer {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	int failed;     /* an add did not fit: end fails */
};

void gbatch_response_begin(struct gbatch_writer *w, uint8_t *buf, size_t cap);
/* One OptionalTokenResponse: resp NULL (or len 0) writes 0x00. */
void gbatch_response_add(struct gbatch_writer *w, uint16_t token_type,
			 const uint8_t *resp, size_t len);
/* Finishes: the response is buf[0..*out_len). PP_ERR_BUFFER when an add
 * did not fit (the buffer is wiped). */
int gbatch_response_end(struct gbatch_writer *w, size_t *out_len);
/* Bytes a response needs at most for count items of at most item_max
 * bytes of TokenResponse each; 0 past GBATCH_BODY_MAX. */
size_t gbatch_response_cap(size_t count, size_t item_max);

/* One decoded OptionalTokenResponse (clients, tests). */
struct gbatch_response_item {
	int present;
	uint16_t token_type;        /* when present */
	const uint8_t *response;    /* the TokenResponse, when present */
	size_t response_len;
};

/* Decodes the i-th item of a response, given the count the request had.
 * Sizes of TokenResponses come from the token-type table (or the VOPRF
 * sizes for 0x0001/0x0005). 0, or PP_ERR_TRUNCATED, PP_ERR_LENGTH
 * (non-minimal prefix, presence byte not 0 or 1, fewer or more items),
 * PP_ERR_TRAILING, PP_ERR_TOKEN_TYPE. items gets count entries. */
int gbatch_response_decode(const uint8_t *in, size_t len,
			   struct gbatch_response_item *items, size_t count);

#endif
