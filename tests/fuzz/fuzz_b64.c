/* base64url: decode, encode, decode gives the same bytes, and the text
 * differs from the input at most by its padding (one text per value). */
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t bin[3072], back[3072];
	char text[4100];
	size_t n = 0, tl = 0, n2 = 0, in_len = size;

	if (size > 4096 || b64_decode((const char *)data, size, bin,
				      sizeof(bin), &n) != 0)
		return 0;
	if (b64_encode(bin, n, text, sizeof(text), &tl) != 0 ||
	    b64_decode(text, tl, back, sizeof(back), &n2) != 0 || n2 != n ||
	    memcmp(bin, back, n) != 0)
		abort();
	while (in_len > 0 && data[in_len - 1] == '=')
		in_len--;
	while (tl > 0 && text[tl - 1] == '=')
		tl--;
	if (in_len != tl || memcmp(text, data, tl) != 0)
		abort();
	return 0;
}
