/* VOPRF wire decoders (types 0x0001, 0x0005; single and amortized batch)
 * and the varint codec: whatever decodes re-encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "crypto/varint.h"
#include "crypto/vtok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vtok_request r;
	struct vtok_batch_request br;
	struct vtok_response resp;
	struct vtok_token t;
	uint16_t type;
	uint64_t v;
	size_t n;

	if (vi_decode(data, size, 1, &v, &n) == 0 &&
	    (vi_encode(v, out, sizeof(out), &n) != 0 || memcmp(out, data, n)))
		abort();
	if (vtok_request_decode(data, size, &r) == 0 &&
	    (vtok_request_encode(r.token_type, r.truncated_key_id, r.blinded,
				 out, sizeof(out), &n) != 0 ||
	     n != size || memcmp(out, data, size) != 0))
		abort();
	if (vtok_batch_request_decode(data, size, 64, &br) == 0 &&
	    (vtok_batch_request_encode(br.token_type, br.truncated_key_id,
				       br.blinded, br.count, out, sizeof(out),
				       &n) != 0 ||
	     n != size || memcmp(out, data, size) != 0))
		abort();
	if (vtok_token_decode(data, size, &t) == 0 && t.input != data)
		abort();
	for (type = 1; type <= 5; type += 4) {
		if (vtok_batch_response_decode(type, data, size, 64, &resp) == 0 &&
		    (vtok_batch_response_encode(type, resp.evaluated,
						resp.count, resp.proof, out,
						sizeof(out), &n) != 0 ||
		     n != size || memcmp(out, data, size) != 0))
			abort();
		if (vtok_response_decode(type, data, size, &resp) == 0 &&
		    resp.evaluated != data)
			abort();
	}
	return 0;
}
