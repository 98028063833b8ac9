/* Host header routing form: never reads past the value, and what it
 * accepts is a fixed point (the form of a form is itself, with no port). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "issuer/tenant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[600], out[TN_HOST_MAX + 1], again[TN_HOST_MAX + 1];
	size_t i;
	int rc;

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	rc = tn_host_normalize(in, out);
	if (rc < 0)
		return 0;
	if (strlen(out) == 0 || strlen(out) > TN_HOST_MAX)
		abort();
	for (i = 0; out[i]; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			abort();
	if (tn_host_normalize(out, again) != 0 || strcmp(out, again) != 0)
		abort();
	return 0;
}
