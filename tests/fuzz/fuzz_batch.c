/* Generic batch parsers: accepted requests re-encode to the same bytes,
 * every item is its type's size; responses decode without reading past
 * the input, and what decoded re-encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "crypto/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 16];
	struct gbatch_response_item it[FZ_MAX];
	const uint8_t *reqs[FZ_MAX];
	size_t lens[FZ_MAX], count, i, len;
	struct gbatch_reader rd;
	struct gbatch_writer w;

	if (size == 0)
		return 0;
	/* the first byte: how many items a response should hold */
	count = data[0] % FZ_MAX + 1;
	if (gbatch_response_decode(data + 1, size - 1, it, count) == 0) {
		gbatch_response_begin(&w, out, sizeof(out));
		for (i = 0; i < count; i++)
			gbatch_response_add(&w, it[i].token_type, it[i].response,
					    it[i].present ? it[i].response_len : 0);
		if (gbatch_response_end(&w, &len) != 0 || len != size - 1 ||
		    memcmp(out, data + 1, len) != 0)
			abort();
	}
	if (gbatch_request_open(data, size, &rd, &count) != 0)
		return 0;
	if (count == 0)
		abort();
	for (i = 0; i < count; i++) {
		if (gbatch_request_next(&rd, &reqs[i % FZ_MAX], &lens[i % FZ_MAX]) != 0 ||
		    lens[i % FZ_MAX] != gbatch_item_len((uint16_t)(reqs[i % FZ_MAX][0] << 8 |
								   reqs[i % FZ_MAX][1])))
			abort();
	}
	if (gbatch_request_next(&rd, &reqs[0], &lens[0]) == 0)
		abort();
	if (count <= FZ_MAX) {
		gbatch_request_open(data, size, &rd, &count);
		for (i = 0; i < count; i++)
			gbatch_request_next(&rd, &reqs[i], &lens[i]);
		if (gbatch_request_encode(reqs, lens, count, out, sizeof(out), &len) != 0 ||
		    len != size || memcmp(out, data, size) != 0)
			abort();
	}
	return 0;
}
