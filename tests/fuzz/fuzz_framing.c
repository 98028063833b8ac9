/* Framing check: any header block gives a known verdict, never a crash, and
 * a folded field is never accepted. Input: one flags byte (bit 0: HTTP/1.0,
 * bits 1-7: fields 0-6 folded), then "Name: value" lines split on LF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_framing_field f[64];
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	enum api_framing_verdict v;
	size_t n = 0, i;

	if (size < 1)
		return 0;
	while (p < end && n < 64) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon;

		eol = eol ? eol : end;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon) {
			const char *val = colon + 1;

			while (val < eol && (*val == ' ' || *val == '\t'))
				val++;   /* as libmicrohttpd strips it */
			f[n] = (struct api_framing_field){ p, (size_t)(colon - p), val,
							    (size_t)(eol - val),
							    n < 7 && ((data[0] >> (n + 1)) & 1) };
			n++;
		}
		p = eol + 1;
	}
	v = api_framing_check(f, n, (data[0] & 1) ? "HTTP/1.0" : "HTTP/1.1");
	if (v < API_FRAMING_VERDICT_MIN || v > API_FRAMING_OK ||
	    !strcmp(api_framing_verdict_str(v), "unknown verdict"))
		abort();
	for (i = 0; v == API_FRAMING_OK && i < n; i++)
		if (f[i].folded || !f[i].name_len)
			abort();
	return 0;
}
