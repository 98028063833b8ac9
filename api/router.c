#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/req.h"

#define DIRECTORY_PATH "/.well-known/private-token-issuer-directory"

/* Batches at the issuer request URI (draft-ietf-privacypass-batched-
 * tokens): their caps follow from max-batch and max-amortized-batch. */
static const struct api_media api_token_request_media[] = {
	{ "application/private-token-generic-batch-request",
	  api_generic_batch_cap, api_token_request_generic_batch },
	{ "application/private-token-amortized-batch-request",
	  api_amortized_batch_cap, api_token_request_amortized_batch },
};

/* Body caps: a TokenRequest is 259 bytes and a redemption a few hundred;
 * anything much larger is refused before it is read. */
static const struct api_route api_routes[] = {
	{ DIRECTORY_PATH, "GET, HEAD", API_M_GET | API_M_HEAD, 0, NULL,
	  MET_ROUTE_DIRECTORY, api_directory, API_ROLE_NONE, NULL, 0 },
	{ "/token-request", "POST", API_M_POST, 4096,
	  "application/private-token-request", MET_ROUTE_TOKEN_REQUEST,
	  api_token_request, API_ROLE_ATTESTER, api_token_request_media,
	  sizeof(api_token_request_media) / sizeof(api_token_request_media[0]) },
	{ "/redeem", "POST", API_M_POST, 8192, "application/json",
	  MET_ROUTE_REDEEM, api_redeem, API_ROLE_ORIGIN, NULL, 0 },
	{ "/healthz", "GET, HEAD", API_M_GET | API_M_HEAD, 0, NULL,
	  MET_ROUTE_HEALTHZ, api_healthz, API_ROLE_NONE, NULL, 0 },
	{ "/readyz", "GET, HEAD", API_M_GET | API_M_HEAD, 0, NULL,
	  MET_ROUTE_READYZ, api_readyz, API_ROLE_NONE, NULL, 0 },
	{ "/metrics", "GET", API_M_GET, 0, NULL, MET_ROUTE_METRICS, api_metrics,
	  API_ROLE_METRICS, NULL, 0 },
};

const struct api_route *api_route_find(const char *path, int redeem_enabled)
{
	size_t i;

	for (i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		if (strcmp(api_routes[i].path, path) != 0)
			continue;
		if (api_routes[i].handler == api_redeem && !redeem_enabled)
			return NULL;
		return &api_routes[i];
	}
	return NULL;
}

int api_media_type_is(const char *value, const char *want)
{
	size_t n = strlen(want);

	if (!value)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, want, n) != 0)
		return 0;
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\0' || *value == ';';
}

uint64_t api_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
