/* Helpers shared by every group of grp.h. */
#include "grp.h"

#include <openssl/crypto.h>

void grp_scalar_wipe(struct grp_scalar *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, sizeof(*s));
}
