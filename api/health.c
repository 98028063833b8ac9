#include <stdlib.h>

#include "api/req.h"
#include "keys/keyset.h"

enum MHD_Result api_healthz(struct api_req *r)
{
	static const char body[] = "{\"status\":\"ok\"}";

	return api_respond(r, 200, "application/json", body, sizeof(body) - 1,
			   "no-store");
}

/* Ready when the current key set has a key that can sign. */
enum MHD_Result api_readyz(struct api_req *r)
{
	static const char ok[] = "{\"status\":\"ready\"}";
	struct ks_keyset *ks = ks_current_get(r->srv->o.keys);
	int ready = 0;
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (ks->entries[i].signer && ks->entries[i].state == KS_ACTIVE)
			ready = 1;
	ks_keyset_unref(ks);
	if (!ready)
		return api_respond_error(r, API_ERR_NOT_READY);
	return api_respond(r, 200, "application/json", ok, sizeof(ok) - 1, "no-store");
}

enum MHD_Result api_metrics(struct api_req *r)
{
	struct ks_keyset *ks = ks_current_get(r->srv->o.keys);
	struct MHD_Response *resp;
	size_t len;
	char *text = met_render(ks, &len);

	ks_keyset_unref(ks);
	if (!text)
		return api_respond_error(r, API_ERR_INTERNAL);
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return api_queue(r, 200, resp);
}
