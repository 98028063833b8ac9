#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/req.h"
#include "issuer/publish.h"

static void http_date(time_t t, char *out, size_t cap)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* If-None-Match: a list of entity tags or "*"; weak comparison (RFC 9110
 * 13.1.2), so W/"x" matches "x". */
static int etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;

	while (*p) {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		start = p;
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			start = p += 2;
		if (*p == '"') {
			end = strchr(p + 1, '"');
			if (!end)
				return 0;
			end++;
		} else {
			end = p + strcspn(p, ", \t");
		}
		if ((size_t)(end - start) == elen && !memcmp(start, etag, elen))
			return 1;
		p = end;
	}
	return 0;
}

static int not_modified(struct api_req *r, const struct pub_doc *d)
{
	const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *ims;
	struct tm tm;

	if (inm)
		return etag_matches(inm, pub_etag(d));
	ims = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					  MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
	if (!ims)
		return 0;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm);

	if (!end || *end)
		return 0; /* an unparseable date is ignored (RFC 9110 13.1.3) */
	return pub_last_modified(d) <= timegm(&tm);
}

/* GET/HEAD /.well-known/private-token-issuer-directory. The body was built
 * with the key set; the response points into it and the request holds a
 * reference until the response is sent. */
enum MHD_Result api_directory(struct api_req *r)
{
	struct pub_doc *d = pub_get(r->svc);
	struct MHD_Response *resp;
	char cache[64], date[64];
	unsigned status = 200;
	const char *body;
	size_t len;

	r->doc = d;
	if (not_modified(r, d)) {
		status = 304;
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		body = pub_body(d, &len);
		resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
						       MHD_RESPMEM_PERSISTENT);
		if (resp)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
						"application/private-token-issuer-directory");
	}
	if (!resp)
		return MHD_NO;
	snprintf(cache, sizeof(cache), "public, max-age=%ld", r->srv->o.directory_max_age);
	http_date(pub_last_modified(d), date, sizeof(date));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, pub_etag(d));
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date);
	return api_queue(r, status, resp);
}
