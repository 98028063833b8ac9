/* Token decoder: a decoded token re-encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "crypto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tok_token t;
	uint8_t input[TOK_INPUT_LEN], out[TOK_TOKEN_LEN];

	if (tok_token_decode(data, size, &t) != 0)
		return 0;
	tok_token_input(t.token_type, t.nonce, t.challenge_digest,
			t.token_key_id, input);
	tok_token_encode(input, t.authenticator, out);
	if (size != TOK_TOKEN_LEN || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
