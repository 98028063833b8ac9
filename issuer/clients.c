/* The client registry in memory: entries, secret checks, certificate
 * mapping and the shared snapshot. File I/O is in clients_file.c. */
#include "issuer/clients.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "issuer/clients_int.h"

/* Secrets are 256 random bits, so a fast hash already makes the stored value
 * useless for finding the secret: there is no dictionary to search and 2^256
 * guesses are out of reach. A password hash (Argon2) would add nothing but
 * milliseconds of CPU on every request, which is a gift to anyone flooding
 * the endpoint. The hash is keyed with a fixed, public context string only
 * for domain separation from other uses of BLAKE2b. */
static const char cl_hash_ctx[] = "ppissuer client secret v1";

int cl_registry_new(struct cl_registry **out)
{
	struct cl_registry *r;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return PP_ERR_NOMEM;
	atomic_init(&r->refs, 1);
	*out = r;
	return 0;
}

struct cl_registry *cl_registry_ref(struct cl_registry *r)
{
	if (r)
		atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}

void cl_registry_unref(struct cl_registry *r)
{
	size_t i;

	if (!r)
		return;
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->clients[i].cert_subject);
		sodium_memzero(&r->clients[i], sizeof(r->clients[i]));
	}
	free(r->clients);
	free(r);
}

size_t cl_registry_count(const struct cl_registry *r)
{
	return r ? r->n : 0;
}

const struct cl_client *cl_registry_at(const struct cl_registry *r, size_t i)
{
	return r && i < r->n ? &r->clients[i] : NULL;
}

const struct cl_client *cl_registry_find(const struct cl_registry *r,
					 const char *name)
{
	size_t i;

	for (i = 0; r && i < r->n; i++)
		if (!strcmp(r->clients[i].name, name))
			return &r->clients[i];
	return NULL;
}

struct cl_client *cl_registry_find_mut(struct cl_registry *r, const char *name)
{
	return (struct cl_client *)(uintptr_t)cl_registry_find(r, name);
}

const char *cl_registry_fingerprint(const struct cl_registry *r)
{
	return r->fingerprint;
}

int cl_client_set_subject(struct cl_client *c, const char *subject)
{
	char *dup = NULL;

	if (subject) {
		size_t len = strlen(subject);

		if (len == 0 || len > CL_SUBJECT_MAX)
			return PP_ERR_ARG;
		dup = strdup(subject);
		if (!dup)
			return PP_ERR_NOMEM;
	}
	free(c->cert_subject);
	c->cert_subject = dup;
	return 0;
}

int cl_client_check(const struct cl_client *c)
{
	if (!cl_name_valid(c->name))
		return PP_ERR_ARG;
	if (c->role != CL_ROLE_ATTESTER && c->role != CL_ROLE_ORIGIN &&
	    c->role != CL_ROLE_MONITOR)
		return PP_ERR_ARG;
	if (!isfinite(c->rate) || c->rate < 0 || c->rate > 1e6)
		return PP_ERR_ARG;
	if (c->burst > 1000000000ul || c->quota > 1000000000000ul)
		return PP_ERR_ARG;
	if (c->cert_subject && (c->cert_subject[0] == '\0' ||
				strlen(c->cert_subject) > CL_SUBJECT_MAX))
		return PP_ERR_ARG;
	return 0;
}

int cl_registry_add(struct cl_registry *r, const struct cl_client *c)
{
	struct cl_client *nc;
	int rc;

	rc = cl_client_check(c);
	if (rc)
		return rc;
	if (cl_registry_find(r, c->name))
		return PP_ERR_EXISTS;
	if (r->n >= CL_MAX_CLIENTS)
		return PP_ERR_ARG;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;

		nc = realloc(r->clients, cap * sizeof(*nc));
		if (!nc)
			return PP_ERR_NOMEM;
		r->clients = nc;
		r->cap = cap;
	}
	nc = &r->clients[r->n];
	*nc = *c;
	nc->cert_subject = NULL;
	rc = cl_client_set_subject(nc, c->cert_subject);
	if (rc) {
		memset(nc, 0, sizeof(*nc));
		return rc;
	}
	r->n++;
	return 0;
}

static void secret_hash(const uint8_t raw[CL_SECRET_BYTES], uint8_t h[CL_HASH_LEN])
{
	crypto_generichash(h, CL_HASH_LEN, raw, CL_SECRET_BYTES,
			   (const unsigned char *)cl_hash_ctx, sizeof(cl_hash_ctx) - 1);
}

int cl_secret_new(char text[CL_SECRET_TEXT_LEN + 1], uint8_t hash[CL_HASH_LEN])
{
	uint8_t raw[CL_SECRET_BYTES];
	size_t plen = sizeof(CL_SECRET_PREFIX) - 1;

	memset(text, 0, CL_SECRET_TEXT_LEN + 1);
	memset(hash, 0, CL_HASH_LEN);
	if (sodium_init() < 0)
		return PP_ERR_INTERNAL;
	randombytes_buf(raw, sizeof(raw));
	memcpy(text, CL_SECRET_PREFIX, plen);
	sodium_bin2base64(text + plen, CL_SECRET_TEXT_LEN + 1 - plen, raw,
			  sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	secret_hash(raw, hash);
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

/* Picks the first entry whose value equals want, comparing every entry in
 * full: the time taken depends on the number of entries, not on how many
 * leading bytes of a guess happen to be right. */
static const struct cl_client *scan(const struct cl_registry *r,
				    const uint8_t *want, int by_spki)
{
	const struct cl_client *hit = NULL;
	size_t i;

	for (i = 0; r && i < r->n; i++) {
		const struct cl_client *c = &r->clients[i];
		const uint8_t *have = by_spki ? c->cert_spki : c->secret_hash;
		int eq = sodium_memcmp(have, want, 32) == 0;

		if (by_spki && !c->has_cert_spki)
			eq = 0;
		if (eq && !hit)
			hit = c;
	}
	return hit;
}

static int verdict(const struct cl_client *c, const struct cl_client **out)
{
	if (!c)
		return PP_ERR_AUTH;
	if (c->revoked)
		return PP_ERR_STATE;
	*out = c;
	return 0;
}

int cl_registry_authenticate(const struct cl_registry *r, const char *secret,
			     size_t len, const struct cl_client **out)
{
	uint8_t raw[CL_SECRET_BYTES], h[CL_HASH_LEN];
	size_t plen = sizeof(CL_SECRET_PREFIX) - 1, rawlen = 0;
	const char *end = NULL;
	int rc = PP_ERR_AUTH;

	*out = NULL;
	if (!secret || len != CL_SECRET_TEXT_LEN ||
	    memcmp(secret, CL_SECRET_PREFIX, plen) != 0)
		return PP_ERR_AUTH;
	if (sodium_base642bin(raw, sizeof(raw), secret + plen, len - plen, NULL,
			      &rawlen, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    rawlen != sizeof(raw) || end != secret + len)
		goto cleanup;
	secret_hash(raw, h);
	rc = verdict(scan(r, h, 0), out);
cleanup:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(h, sizeof(h));
	return rc;
}

int cl_registry_match_cert(const struct cl_registry *r,
			   const uint8_t spki_sha256[32], const char *subject,
			   const struct cl_client **out)
{
	const struct cl_client *c = NULL;
	size_t i;

	*out = NULL;
	if (spki_sha256)
		c = scan(r, spki_sha256, 1);
	for (i = 0; !c && subject && r && i < r->n; i++)
		if (r->clients[i].cert_subject &&
		    !strcmp(r->clients[i].cert_subject, subject))
			c = &r->clients[i];
	return verdict(c, out);
}

int cl_name_valid(const char *name)
{
	size_t i;

	if (!name || !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 0; name[i]; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (i >= CL_NAME_MAX)
			return 0;
		if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
			return 0;
	}
	return 1;
}

static const char *const cl_role_names[] = {
	[CL_ROLE_ATTESTER] = "attester",
	[CL_ROLE_ORIGIN] = "origin",
	[CL_ROLE_MONITOR] = "monitor",
};

const char *cl_role_name(enum cl_role role)
{
	if (role >= CL_ROLE_ATTESTER && role <= CL_ROLE_MONITOR)
		return cl_role_names[role];
	return "unknown";
}

int cl_role_parse(const char *s, enum cl_role *out)
{
	int i;

	*out = 0;
	for (i = CL_ROLE_ATTESTER; s && i <= CL_ROLE_MONITOR; i++)
		if (!strcmp(s, cl_role_names[i])) {
			*out = (enum cl_role)i;
			return 0;
		}
	return PP_ERR_ARG;
}

/* A non-negative decimal number (digits with an optional fraction; no sign,
 * exponent, hex or locale-dependent forms), ending at *end. */
static int decimal_parse(const char *s, double *out, const char **end)
{
	double v = 0, scale = 0.1;
	const char *p = s;
	int digits = 0;

	while (isdigit((unsigned char)*p) && digits < 15) {
		v = v * 10 + (*p++ - '0');
		digits++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p) && digits < 15) {
			v += (*p++ - '0') * scale;
			scale /= 10;
			digits++;
		}
	}
	if (!digits || isdigit((unsigned char)*p))
		return PP_ERR_ARG;
	*out = v;
	*end = p;
	return 0;
}

int cl_rate_parse(const char *s, double *out)
{
	static const struct { const char *unit; double secs; } units[] = {
		{ "", 1 }, { "/s", 1 }, { "/m", 60 }, { "/min", 60 }, { "/h", 3600 },
	};
	const char *end;
	double v;
	size_t i;

	*out = 0;
	if (!s || decimal_parse(s, &v, &end) != 0)
		return PP_ERR_ARG;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit)) {
			v /= units[i].secs;
			if (v > 1e6)
				return PP_ERR_ARG;
			*out = v;
			return 0;
		}
	return PP_ERR_ARG;
}

int cl_quota_parse(const char *s, unsigned long *out)
{
	char *end;
	unsigned long long v;

	*out = 0;
	if (!s || !isdigit((unsigned char)s[0]))
		return PP_ERR_ARG;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > 1000000000000ull)
		return PP_ERR_ARG;
	if (*end && strcmp(end, "/day") && strcmp(end, "/d"))
		return PP_ERR_ARG;
	*out = (unsigned long)v;
	return 0;
}

int cl_hex32_parse(const char *s, uint8_t out[32])
{
	size_t len = 0;
	const char *end = NULL;

	memset(out, 0, 32);
	if (!s || strlen(s) != 64 ||
	    sodium_hex2bin(out, 32, s, 64, NULL, &len, &end) != 0 || len != 32) {
		memset(out, 0, 32);
		return PP_ERR_ARG;
	}
	return 0;
}

/* ---- the shared snapshot ---- */

struct cl_current {
	pthread_mutex_t mu;
	struct cl_registry *reg;
};

int cl_current_new(struct cl_registry *initial, struct cl_current **out)
{
	struct cl_current *c;

	*out = NULL;
	if (!initial)
		return PP_ERR_ARG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return PP_ERR_NOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return PP_ERR_INTERNAL;
	}
	c->reg = initial;
	*out = c;
	return 0;
}

void cl_current_free(struct cl_current *c)
{
	if (!c)
		return;
	cl_registry_unref(c->reg);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The lock covers only a pointer load and a reference increment, so that a
 * swap can never free a registry between a reader's load and its ref. */
struct cl_registry *cl_current_get(struct cl_current *c)
{
	struct cl_registry *r;

	pthread_mutex_lock(&c->mu);
	r = cl_registry_ref(c->reg);
	pthread_mutex_unlock(&c->mu);
	return r;
}

void cl_current_swap(struct cl_current *c, struct cl_registry *r)
{
	struct cl_registry *old;

	if (!r)
		abort(); /* cl_current_get promises a registry */
	pthread_mutex_lock(&c->mu);
	old = c->reg;
	c->reg = r;
	pthread_mutex_unlock(&c->mu);
	cl_registry_unref(old);
}
