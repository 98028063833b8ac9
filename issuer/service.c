#include "issuer/service.h"

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
	char *text = met_render(ks, s->spent, len);

	ks_keyset_unref(ks);
	return text;
}
