/* The issuer directory as served: the body, ETag and Last-Modified of the
 * current key set, held by reference so a response can point into it while
 * a reload swaps in a new key set. */
#ifndef PP_PUBLISH_H
#define PP_PUBLISH_H

#include <stddef.h>
#include <time.h>

struct svc;
struct pub_doc;

/* A reference to the current directory (never NULL); drop it with
 * pub_put once nothing points into it. */
struct pub_doc *pub_get(struct svc *s);
void pub_put(struct pub_doc *d);

const char *pub_body(const struct pub_doc *d, size_t *len);
const char *pub_etag(const struct pub_doc *d);     /* quoted, strong */
time_t pub_last_modified(const struct pub_doc *d);

#endif
