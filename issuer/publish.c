/* A pub_doc is the key-set snapshot itself, seen only through these
 * accessors: the directory lives in the snapshot and changes with it. */
#include "issuer/publish.h"

#include "issuer/service_int.h"
#include "keys/keyset.h"

struct pub_doc *pub_get(struct svc *s)
{
	return (struct pub_doc *)ks_current_get(s->keys);
}

void pub_put(struct pub_doc *d)
{
	ks_keyset_unref((struct ks_keyset *)d);
}

const char *pub_body(const struct pub_doc *d, size_t *len)
{
	const struct ks_keyset *ks = (const struct ks_keyset *)d;

	*len = ks->directory_len;
	return ks->directory;
}

const char *pub_etag(const struct pub_doc *d)
{
	return ((const struct ks_keyset *)d)->etag;
}

time_t pub_last_modified(const struct pub_doc *d)
{
	return ((const struct ks_keyset *)d)->last_modified;
}
