/* TokenChallenge decoder: whatever decodes re-encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "crypto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tok_challenge c;
	uint8_t *out;
	size_t n = 0;

	if (tok_challenge_decode(data, size, &c) != 0)
		return 0;
	if (tok_challenge_encoded_len(&c) != size || (out = malloc(size)) == NULL)
		abort();
	if (tok_challenge_encode(&c, out, size, &n) != 0 || n != size ||
	    memcmp(out, data, size) != 0)
		abort();
	free(out);
	return 0;
}
