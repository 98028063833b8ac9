/* Extensions decoder: a decoded list re-encodes to the same bytes, under
 * both order rules; the 0xDA7A request decoder agrees with it. */
#include <stdlib.h>
#include <string.h>

#include "crypto/ext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[EXT_MAX_LEN];
	struct ext_token_request tr;
	struct ext_expiration x;
	const struct ext_entry *e;
	struct ext_list l;
	unsigned flags;
	size_t len;

	for (flags = 0; flags <= EXT_ALLOW_REPEATS; flags++) {
		if (ext_decode(data, size, flags, &l) != 0)
			continue;
		if (ext_encode(l.entries, l.count, flags, out, sizeof(out),
			       &len) != 0 ||
		    len != size || memcmp(out, data, size) != 0)
			abort();
		if (ext_find(&l, EXT_TYPE_EXPIRATION, &e) == 0)
			(void)ext_expiration_decode(e->data, e->len, &x);
	}
	if (ext_token_request_decode(data, size, 0, &tr) == 0 &&
	    (tr.extensions_len != size - EXT_REQUEST_LEN ||
	     ext_decode(tr.extensions, tr.extensions_len, 0, &l) != 0))
		abort();
	return 0;
}
