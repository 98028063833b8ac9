/* The issuer directory JSON and its strong ETag. */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "base/pp_err.h"
#include "keys/directory.h"

#define ETAG_BYTES 16

int ks_directory_build(const char *uri, const struct ks_entry *e, size_t n,
		       char **body, size_t *len, char etag[48])
{
	uint8_t digest[crypto_hash_sha256_BYTES];
	char hex[2 * ETAG_BYTES + 1], key[2 * KS_PUB_MAX];
	json_t *root = NULL, *keys;
	char *text = NULL;
	size_t i;
	int rc = PP_ERR_NOMEM;

	*body = NULL;
	*len = 0;
	etag[0] = '\0';
	root = json_object();
	keys = json_array();
	if (root == NULL || keys == NULL ||
	    json_object_set_new(root, "issuer-request-uri",
				json_string(uri)) != 0 ||
	    json_object_set_new(root, "token-keys", keys) != 0) {
		if (root == NULL)
			json_decref(keys);
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		json_t *k;

		if (!e[i].published)
			continue;
		rc = b64_encode(e[i].pub, e[i].pub_len, key, sizeof(key), NULL);
		if (rc != 0)
			goto cleanup;
		rc = PP_ERR_NOMEM;
		k = json_pack("{s:i, s:s, s:I}", "token-type",
			      (int)e[i].meta.token_type, "token-key", key,
			      "not-before", (json_int_t)e[i].meta.not_before);
		if (k == NULL || json_array_append_new(keys, k) != 0)
			goto cleanup;
	}
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		goto cleanup;
	*len = strlen(text);
	crypto_hash_sha256(digest, (const uint8_t *)text, *len);
	sodium_bin2hex(hex, sizeof(hex), digest, ETAG_BYTES);
	memcpy(etag, "\"", 1);
	memcpy(etag + 1, hex, 2 * ETAG_BYTES);
	memcpy(etag + 1 + 2 * ETAG_BYTES, "\"", 2);
	*body = text;
	text = NULL;
	rc = 0;
cleanup:
	free(text);
	json_decref(root);
	return rc;
}
