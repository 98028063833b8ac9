#include "issuer/ready.h"

#include <stdio.h>
#include <string.h>

#include "issuer/service_int.h"
#include "keys/keyset.h"
#include "keys/pkcs11.h"

void rdy_check(struct svc *s, struct rdy_state *out)
{
	struct ks_keyset *ks = ks_current_get(s->keys);
	char hsm[300] = "";
	size_t i, n;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ks->n; i++)
		if (ks->entries[i].signer && ks->entries[i].state == KS_ACTIVE)
			out->keys_ok = 1;
	/* a key in a PKCS#11 token signs only while the token answers */
	if (out->keys_ok && ks->p11 && ks->n_token_signers > 0 &&
	    p11_health(ks->p11, hsm, sizeof(hsm)) != 0)
		out->keys_ok = 0;
	ks_keyset_unref(ks);
	out->has_store = s->spent != NULL;
	if (out->has_store)
		spent_health_get(s->spent, &out->store);
	if (!out->keys_ok)
		snprintf(out->message, sizeof(out->message), "%s",
			 hsm[0] ? hsm : "no usable signing key");
	if (out->has_store && !out->store.healthy) {
		n = strlen(out->message);
		snprintf(out->message + n, sizeof(out->message) - n,
			 "%sspent store cannot record: %s",
			 out->keys_ok ? "" : "; ", out->store.message);
	}
	out->ready = out->keys_ok && (!out->has_store || out->store.healthy);
}
