/* The issuer as the HTTP layer sees it: one handle that the program builds
 * (serve.c) and api/ passes to the services (issuance.h, redemption.h,
 * publish.h, ready.h). Behind it are the current key-set snapshot and the
 * spent-token store; api/ never touches either, nor any key or crypto. */
#ifndef PP_SERVICE_H
#define PP_SERVICE_H

#include <stddef.h>

struct ks_current;
struct spent_store;
struct svc;

/* keys and spent are borrowed and must outlive the handle; spent NULL
 * turns redemption off. */
int svc_new(struct ks_current *keys, struct spent_store *spent,
	    struct svc **out);
void svc_free(struct svc *s);

struct ext_policy;
/* The extension policy issuance applies to requests that carry Extensions
 * (token type 0xDA7A); copied. Until set: extp_default. Set it before the
 * handle serves requests. */
void svc_set_ext_policy(struct svc *s, const struct ext_policy *p);

/* Whether /redeem is served (a spent store is configured). */
int svc_redeem_enabled(const struct svc *s);

/* Prometheus text of every metric (malloc'd; free()), or NULL. */
char *svc_metrics_render(struct svc *s, size_t *len);

/* ---- several issuers (issuer/tenant.h) ---- */
/* The issuer's name, a metric label (copied; at most 32 bytes). */
void svc_set_name(struct svc *s, const char *name);
/* max-published-keys, for the metrics (0 = no check). */
void svc_set_max_published(struct svc *s, unsigned long max);
/* Counts a complete request of this issuer (api/, once per request). */
void svc_count_request(struct svc *s, unsigned route, unsigned status);
/* The issuer families of v[0..n) (named with svc_set_name), after the
 * process-wide ones when with_global (malloc'd; free()), or NULL. */
char *svc_metrics_render_issuers(struct svc *const *v, size_t n,
				 int with_global, size_t *len);

#endif
