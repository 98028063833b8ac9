/* TokenRequest and TokenResponse decoders: decoded requests re-encode. */
#include <stdlib.h>
#include <string.h>

#include "crypto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tok_request r;
	uint8_t out[TOK_REQUEST_LEN];
	const uint8_t *sig;

	if (tok_response_decode(data, size, &sig) == 0 && sig != data)
		abort();
	if (tok_request_decode(data, size, &r) != 0)
		return 0;
	tok_request_encode(r.truncated_key_id, r.blinded_msg, out);
	if (size != TOK_REQUEST_LEN || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
