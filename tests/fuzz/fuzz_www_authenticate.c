/* WWW-Authenticate parser: views stay inside the input and decode. */
#include <stdlib.h>

#include "crypto/authhdr.h"
#include "crypto/b64.h"
#include "crypto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct ah_challenge ch[4];
	struct tok_challenge tc;
	uint8_t raw[4096];
	size_t count = 0, n;

	if (ah_parse_www_authenticate(s, size, ch, 4, &count) != 0)
		return 0;
	for (size_t i = 0; i < count; i++) {
		if (ch[i].challenge < s || ch[i].token_key < s ||
		    ch[i].challenge + ch[i].challenge_len > s + size ||
		    ch[i].token_key + ch[i].token_key_len > s + size)
			abort();
		if (b64_decode(ch[i].challenge, ch[i].challenge_len, raw,
			       sizeof(raw), &n) == 0)
			(void)tok_challenge_decode(raw, n, &tc);
	}
	return 0;
}
