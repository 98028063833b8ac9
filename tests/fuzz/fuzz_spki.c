/* libFuzzer: spki_decode must refuse or accept any input without a crash,
 * leak or undefined behaviour. */
#include "crypto/spki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *pk = NULL;

	if (spki_decode(data, size, &pk) == 0)
		EVP_PKEY_free(pk);
	return 0;
}
