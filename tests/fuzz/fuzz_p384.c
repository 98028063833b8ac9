/* libFuzzer: p384_element_decode accepts or refuses any input without a
 * crash, leak or undefined behaviour, and what it accepts encodes back to
 * the same 49 bytes (one encoding per element). */
#include <stdlib.h>
#include <string.h>

#include "crypto/p384.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct p384_ctx *g;
	EC_POINT *p;
	uint8_t enc[P384_ELEMENT_LEN];

	if (g == NULL && p384_ctx_new(&g) != 0)
		abort();
	if ((p = p384_point_new(g)) == NULL)
		abort();
	if (p384_element_decode(g, data, size, p, NULL) == 0 &&
	    (p384_element_encode(g, p, enc, NULL) != 0 ||
	     memcmp(enc, data, sizeof(enc)) != 0))
		abort();
	p384_point_free(p);
	return 0;
}
