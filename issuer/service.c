#include "issuer/service.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/pp_err.h"
#include "issuer/metrics.h"
#include "issuer/service_int.h"
#include "keys/keyset.h"

int svc_new(struct ks_current *keys, struct spent_store *spent,
	    struct svc **out)
{
	struct svc *s;

	*out = NULL;
	if (keys == NULL)
		return PP_ERR_ARG;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PP_ERR_NOMEM;
	s->keys = keys;
	s->spent = spent;
	extp_default(&s->extp);
	*out = s;
	return 0;
}

void svc_free(struct svc *s)
{
	free(s);
}

void svc_set_ext_policy(struct svc *s, const struct ext_policy *p)
{
	s->extp = *p;
}

int svc_redeem_enabled(const struct svc *s)
{
	return s->spent != NULL;
}

char *svc_metrics_render(struct svc *s, size_t *len)
{
	struct ks_keyset *ks = ks_current_get(s->keys);
	char *text = met_render_published(met_render(ks, s->spent, len), len, ks,
					  s->max_published);

	ks_keyset_unref(ks);
	return text;
}

void svc_set_name(struct svc *s, const char *name)
{
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
}

void svc_set_max_published(struct svc *s, unsigned long max)
{
	s->max_published = max;
}

void svc_count_request(struct svc *s, unsigned route, unsigned status)
{
	met_scope_request(&s->scope, (enum met_route)route, status);
}

char *svc_metrics_render_issuers(struct svc *const *v, size_t n,
				 int with_global, size_t *len)
{
	struct met_issuer_view *views;
	char *text = NULL;
	size_t i;

	*len = 0;
	views = calloc(n ? n : 1, sizeof(*views));
	if (!views)
		return NULL;
	for (i = 0; i < n; i++) {
		views[i].name = v[i]->name;
		views[i].ks = ks_current_get(v[i]->keys);
		views[i].spent = v[i]->spent;
		views[i].scope = &v[i]->scope;
		views[i].max_published = v[i]->max_published;
	}
	text = met_render_issuers(views, n, with_global, len);
	for (i = 0; i < n; i++)
		ks_keyset_unref((struct ks_keyset *)(uintptr_t)views[i].ks);
	free(views);
	return text;
}
