/* The current key-set snapshot shared by all request threads. A mutex
 * guards only the pointer read and the reference increment, so a request
 * never waits on a reload (which builds its snapshot before taking the
 * lock) and a swap never frees a snapshot a request still holds. */
#include <pthread.h>
#include <stdlib.h>

#include "base/pp_err.h"
#include "keys/keyset.h"

struct ks_current {
	pthread_mutex_t mu;
	struct ks_keyset *ks;
};

int ks_current_new(struct ks_keyset *initial, struct ks_current **out)
{
	struct ks_current *c;

	*out = NULL;
	if (initial == NULL)
		return PP_ERR_ARG;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return PP_ERR_NOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return PP_ERR_INTERNAL;
	}
	c->ks = initial;
	*out = c;
	return 0;
}

void ks_current_free(struct ks_current *c)
{
	if (c == NULL)
		return;
	ks_keyset_unref(c->ks);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

struct ks_keyset *ks_current_get(struct ks_current *c)
{
	struct ks_keyset *ks;

	pthread_mutex_lock(&c->mu);
	ks = ks_keyset_ref(c->ks);
	pthread_mutex_unlock(&c->mu);
	return ks;
}

void ks_current_swap(struct ks_current *c, struct ks_keyset *ks)
{
	struct ks_keyset *old;

	if (ks == NULL)
		abort(); /* a swap to nothing would break ks_current_get */
	pthread_mutex_lock(&c->mu);
	old = c->ks;
	c->ks = ks;
	pthread_mutex_unlock(&c->mu);
	ks_keyset_unref(old);
}
