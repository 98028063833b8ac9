/* The service handle, for the service files of issuer/ only. */
#ifndef PP_SERVICE_INT_H
#define PP_SERVICE_INT_H

#include "issuer/ext_policy.h"
#include "issuer/metrics.h"
#include "issuer/service.h"

struct svc {
	struct ks_current *keys;    /* borrowed */
	struct spent_store *spent;  /* borrowed; NULL: no redemption */
	struct ext_policy extp;     /* what Extensions issuance signs */
	char name[33];              /* "" with one unnamed issuer */
	unsigned long max_published;
	struct met_scope scope;     /* this issuer's counters */
};

#endif
