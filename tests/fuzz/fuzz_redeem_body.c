/* POST /redeem body parser: any bytes give either an error message or a
 * result within its bounds, never a crash or a leak. */
#include <stdlib.h>

#include "issuer/redeem_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rdm_input in;
	const char *err = rdm_body_parse(data, size, &in);

	if (err && (in.token_len || in.challenge_len || in.extensions_len ||
		    in.has_extensions))
		abort(); /* a failure must not look like a result */
	if (!err && (in.token_len > REDEEM_MAX_TOKEN ||
		     in.challenge_len > REDEEM_MAX_CHALLENGE ||
		     in.extensions_len > REDEEM_MAX_EXTENSIONS ||
		     (in.extensions_len && !in.has_extensions) ||
		     (in.has_extensions != 0 && in.has_extensions != 1) ||
		     (in.spend != 0 && in.spend != 1)))
		abort();
	return 0;
}
