/* The single issuance path against a snapshot the caller holds, for the
 * issuance services of issuer/ (issuance_batch.c takes one reference for a
 * whole batch). */
#ifndef PP_ISSUANCE_INT_H
#define PP_ISSUANCE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "issuer/issuance.h"

struct ks_keyset;
struct svc;

/* iss_issue against ks (borrowed: the caller holds its reference). */
void iss_issue_in(struct svc *s, struct ks_keyset *ks, const uint8_t *req,
		  size_t len, struct iss_result *out);

#endif
