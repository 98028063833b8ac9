/* Authorization parser: the token and extensions views stay inside the
 * input; a token that decodes formats back into a header that parses to
 * the same text. */
#include <stdlib.h>
#include <string.h>

#include "crypto/authhdr.h"
#include "crypto/b64.h"
#include "crypto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *tok, *tok2, *ext;
	uint8_t raw[TOK_TOKEN_LEN];
	char hdr[600];
	size_t tl, tl2, n, hl, el;
	struct tok_token t;

	if (ah_parse_authorization_ext(s, size, &tok, &tl, &ext, &el) != 0)
		return 0;
	if (tok < s || tok + tl > s + size)
		abort();
	if (ext && (ext < s || ext + el > s + size || el == 0))
		abort();
	if (b64_decode(tok, tl, raw, sizeof(raw), &n) != 0 || n == 0)
		return 0;
	(void)tok_token_decode(raw, n, &t);
	if (ah_format_authorization(raw, n, hdr, sizeof(hdr), &hl) != 0 ||
	    ah_parse_authorization(hdr, hl, &tok2, &tl2) != 0 ||
	    b64_decode(tok2, tl2, raw, sizeof(raw), &n) != 0)
		abort();
	return 0;
}
