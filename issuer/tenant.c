/* The issuer table: Host -> issuer. See tenant.h. */
#include "issuer/tenant.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"

struct tn_issuer {
	struct tn_parts parts;
	char name[TN_NAME_MAX + 1];
	char *hosts[TN_HOSTS_MAX];
	size_t n_hosts;
	atomic_long tables;     /* tables that hold it */
};

struct tn_table {
	atomic_ulong refs;
	struct tn_issuer **issuers;
	size_t n;
};

struct tn_current {
	pthread_mutex_t mu;
	struct tn_table *t;
};

int tn_name_valid(const char *name)
{
	size_t i, n;

	if (name == NULL)
		return 0;
	n = strlen(name);
	if (n == 0 || n > TN_NAME_MAX || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return 0;
	return 1;
}

/* ":PORT" at p (p points at the colon): 1..5 digits, at most 65535. */
static int port_valid(const char *p)
{
	unsigned long v = 0;
	size_t i;

	if (*p != ':')
		return 0;
	for (i = 1; p[i]; i++) {
		if (p[i] < '0' || p[i] > '9' || i > 5)
			return 0;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return i > 1 && v <= 65535;
}

int tn_host_normalize(const char *in, char out[TN_HOST_MAX + 1])
{
	size_t n = 0, i;
	const char *end;
	int port = 0;

	out[0] = '\0';
	if (in == NULL)
		return PP_ERR_ARG;
	if (in[0] == '[') {
		/* an IPv6 literal: hex digits, colons and dots in brackets */
		end = strchr(in, ']');
		if (end == NULL || end == in + 1 || (size_t)(end - in) + 1 > TN_HOST_MAX)
			return PP_ERR_ARG;
		for (i = 1; in + i < end; i++)
			if (!isxdigit((unsigned char)in[i]) && in[i] != ':' && in[i] != '.')
				return PP_ERR_ARG;
		end++;
		if (*end) {
			if (!port_valid(end))
				return PP_ERR_ARG;
			port = 1;
		}
		for (i = 0; in + i < end; i++)
			out[i] = (char)tolower((unsigned char)in[i]);
		out[i] = '\0';
		return port;
	}
	end = strchr(in, ':');
	if (end) {
		if (!port_valid(end))
			return PP_ERR_ARG;
		port = 1;
	} else {
		end = in + strlen(in);
	}
	n = (size_t)(end - in);
	if (n > 0 && in[n - 1] == '.')
		n--;   /* "a.example." names the same host */
	if (n == 0 || n > TN_HOST_MAX || in[n - 1] == '.')
		return PP_ERR_ARG;   /* "a.." ends in an empty label */
	for (i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)in[i]);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return PP_ERR_ARG;
		if (c == '.' && (i == 0 || in[i - 1] == '.'))
			return PP_ERR_ARG;   /* empty label */
		out[i] = c;
	}
	out[n] = '\0';
	return port;
}

int tn_issuer_new(const struct tn_parts *p, const char *const *hosts,
		  size_t n_hosts, struct tn_issuer **out)
{
	struct tn_issuer *t = NULL;
	char norm[TN_HOST_MAX + 1];
	size_t i;
	int rc = PP_ERR_ARG;

	*out = NULL;
	if (!p || !p->svc || !tn_name_valid(p->name) || n_hosts == 0 ||
	    n_hosts > TN_HOSTS_MAX)
		return PP_ERR_ARG;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return PP_ERR_NOMEM;
	t->parts = *p;
	strcpy(t->name, p->name);
	t->parts.name = t->name;
	for (i = 0; i < n_hosts; i++) {
		/* only routing forms: what a request's Host is compared with */
		if (tn_host_normalize(hosts[i], norm) != 0 || strcmp(norm, hosts[i]))
			goto cleanup;
		t->hosts[i] = strdup(hosts[i]);
		if (t->hosts[i] == NULL) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
		t->n_hosts = i + 1;
	}
	atomic_init(&t->tables, 0);
	*out = t;
	t = NULL;
	rc = 0;
cleanup:
	tn_issuer_free(t);
	return rc;
}

void tn_issuer_free(struct tn_issuer *t)
{
	size_t i;

	if (t == NULL)
		return;
	if (atomic_load(&t->tables) != 0)
		abort();   /* a table, and so maybe a request, still uses it */
	for (i = 0; i < t->n_hosts; i++)
		free(t->hosts[i]);
	free(t);
}

long tn_issuer_in_use(const struct tn_issuer *t)
{
	return atomic_load(&t->tables);
}

const struct tn_parts *tn_issuer_parts(const struct tn_issuer *t)
{
	return &t->parts;
}

size_t tn_issuer_hosts(const struct tn_issuer *t, const char *const **hosts)
{
	*hosts = (const char *const *)t->hosts;
	return t->n_hosts;
}

int tn_table_new(struct tn_issuer *const *issuers, size_t n,
		 struct tn_table **out)
{
	struct tn_table *t;
	size_t i, j, a, b;

	*out = NULL;
	if (n == 0 || n > TN_ISSUERS_MAX)
		return PP_ERR_ARG;
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++) {
			if (issuers[i] == issuers[j] ||
			    !strcmp(issuers[i]->name, issuers[j]->name))
				return PP_ERR_ARG;
			for (a = 0; a < issuers[i]->n_hosts; a++)
				for (b = 0; b < issuers[j]->n_hosts; b++)
					if (!strcmp(issuers[i]->hosts[a],
						    issuers[j]->hosts[b]))
						return PP_ERR_ARG;
		}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return PP_ERR_NOMEM;
	t->issuers = calloc(n, sizeof(*t->issuers));
	if (t->issuers == NULL) {
		free(t);
		return PP_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		t->issuers[i] = issuers[i];
		atomic_fetch_add(&issuers[i]->tables, 1);
	}
	t->n = n;
	atomic_init(&t->refs, 1);
	*out = t;
	return 0;
}

struct tn_table *tn_table_ref(struct tn_table *t)
{
	if (t)
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void tn_table_unref(struct tn_table *t)
{
	size_t i;

	if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1,
						   memory_order_acq_rel) != 1)
		return;
	/* the program closes an issuer once no table holds it */
	for (i = 0; i < t->n; i++)
		atomic_fetch_sub(&t->issuers[i]->tables, 1);
	free(t->issuers);
	free(t);
}

size_t tn_table_count(const struct tn_table *t)
{
	return t ? t->n : 0;
}

const struct tn_parts *tn_table_at(const struct tn_table *t, size_t i)
{
	return i < t->n ? &t->issuers[i]->parts : NULL;
}

/* A few issuers with a few names each: a linear scan beats a hash here. */
const struct tn_parts *tn_table_find(const struct tn_table *t, const char *host)
{
	size_t i, j;

	if (t == NULL || host == NULL)
		return NULL;
	for (i = 0; i < t->n; i++)
		for (j = 0; j < t->issuers[i]->n_hosts; j++)
			if (!strcmp(t->issuers[i]->hosts[j], host))
				return &t->issuers[i]->parts;
	return NULL;
}

int tn_current_new(struct tn_table *initial, struct tn_current **out)
{
	struct tn_current *c;

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
	c->t = initial;
	*out = c;
	return 0;
}

void tn_current_free(struct tn_current *c)
{
	if (c == NULL)
		return;
	tn_table_unref(c->t);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The lock covers a pointer load and a reference increment only. */
struct tn_table *tn_current_get(struct tn_current *c)
{
	struct tn_table *t;

	pthread_mutex_lock(&c->mu);
	t = tn_table_ref(c->t);
	pthread_mutex_unlock(&c->mu);
	return t;
}

void tn_current_swap(struct tn_current *c, struct tn_table *t)
{
	struct tn_table *old;

	if (t == NULL)
		abort();   /* tn_current_get promises a table */
	pthread_mutex_lock(&c->mu);
	old = c->t;
	c->t = t;
	pthread_mutex_unlock(&c->mu);
	tn_table_unref(old);
}
