/* Token decoder: a decoded token of any served type re-encodes to the same
 * bytes (its input, then its type's authenticator). */
#include <stdlib.h>
#include <string.h>

#include "crypto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tok_token t;
	uint8_t out[TOK_INPUT_LEN + 1024];

	if (tok_token_decode(data, size, &t) != 0)
		return 0;
	if (t.authenticator_len > sizeof(out) - TOK_INPUT_LEN)
		abort();
	tok_token_input(t.token_type, t.nonce, t.challenge_digest,
			t.token_key_id, out);
	memcpy(out + TOK_INPUT_LEN, t.authenticator, t.authenticator_len);
	if (size != TOK_INPUT_LEN + t.authenticator_len ||
	    memcmp(out, data, size) != 0)
		abort();
	return 0;
}
