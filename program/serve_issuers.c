/* Several issuers in one server: opening them with their table, rereading
 * the issuers section on SIGHUP, and closing the issuers a reload removed
 * once no request holds them. A reload builds every new or changed issuer
 * off the request path and then swaps one table pointer: requests of the
 * issuers that stay never see a gap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "issuer/log.h"
#include "issuer/tenant.h"
#include "keys/keyset.h"
#include "program/serve_int.h"
#include "program/serve_issuer.h"

/* Its entry in the table api/ routes with. */
static int unit_tn(struct srv_issuer *u)
{
	struct tn_parts p;

	if (u->tn)
		return 0;
	memset(&p, 0, sizeof(p));
	p.name = u->name;
	p.svc = u->svc;
	p.clients = u->clients.current;
	p.limits = u->clients.limits;
	p.require_auth = u->cfg.require_auth;
	return tn_issuer_new(&p, (const char *const *)u->hosts, u->n_hosts,
			     &u->tn);
}

/* An issuer's keys are its own: a key in two issuers' stores (a file
 * copied, a key imported twice) would make one issuer's tokens good at the
 * other, each with its own spent records. Refused, naming both. */
static int keys_disjoint(struct srv_issuer **units, size_t n, char *err,
			 size_t errlen)
{
	struct ks_keyset **ks = calloc(n ? n : 1, sizeof(*ks));
	size_t i, j, a, b;
	int rc = 0;

	if (!ks)
		return PP_ERR_NOMEM;
	for (i = 0; i < n; i++)
		ks[i] = ks_current_get(units[i]->current);
	for (i = 0; i < n && rc == 0; i++)
		for (j = i + 1; j < n && rc == 0; j++)
			for (a = 0; a < ks[i]->n && rc == 0; a++)
				for (b = 0; b < ks[j]->n && rc == 0; b++)
					if (!memcmp(ks[i]->entries[a].meta.key_id,
						    ks[j]->entries[b].meta.key_id, 32)) {
						snprintf(err, errlen, "issuers '%s' and "
							 "'%s' both hold key %s; an "
							 "issuer's keys must be its own "
							 "(retire or delete it at one)",
							 units[i]->name, units[j]->name,
							 ks[i]->entries[a].meta.id_hex);
						rc = PP_ERR_CONFIG;
					}
	for (i = 0; i < n; i++)
		ks_keyset_unref(ks[i]);
	free(ks);
	return rc;
}

static int table_of(struct srv_issuer **units, size_t n, struct tn_table **out)
{
	struct tn_issuer **v = calloc(n ? n : 1, sizeof(*v));
	size_t i;
	int rc;

	if (!v)
		return PP_ERR_NOMEM;
	for (i = 0; i < n; i++)
		v[i] = units[i]->tn;
	rc = tn_table_new(v, n, out);
	free(v);
	return rc;
}

static int unit_open(struct srv *s, const struct cfg_issuer *is,
		     struct srv_issuer *inherit, struct srv_issuer **out,
		     char *err, size_t errlen)
{
	char lerr[512] = "";
	int rc;

	rc = srv_issuer_open(&is->cfg, is->name, (const char *const *)is->hosts,
			     is->n_hosts, is->canon, s->p11, inherit, out, lerr,
			     sizeof(lerr));
	if (rc == 0) {
		rc = unit_tn(*out);
		if (rc) {
			snprintf(lerr, sizeof(lerr), "%s", pp_err_str(rc));
			if ((*out)->pred)
				srv_issuer_give_back(*out);
			srv_issuer_close(*out);
			*out = NULL;
		}
	}
	if (rc)
		snprintf(err, errlen, "issuer '%s': %s", is->name, lerr);
	return rc;
}

int srv_issuers_open(struct srv *s, char *err, size_t errlen)
{
	struct tn_table *t = NULL;
	size_t i;
	int rc;

	s->units = calloc(s->cfg.n_issuers, sizeof(*s->units));
	if (!s->units)
		return PP_ERR_NOMEM;
	for (i = 0; i < s->cfg.n_issuers; i++) {
		rc = unit_open(s, &s->cfg.issuers[i], NULL, &s->units[i], err,
			       errlen);
		if (rc)
			return rc;
		s->n_units = i + 1;
	}
	rc = keys_disjoint(s->units, s->n_units, err, errlen);
	if (rc)
		return rc;
	rc = table_of(s->units, s->n_units, &t);
	if (rc == 0)
		rc = tn_current_new(t, &s->table);
	if (rc) {
		tn_table_unref(t);
		snprintf(err, errlen, "cannot build the issuer table: %s",
			 pp_err_str(rc));
	}
	return rc;
}

static struct srv_issuer *unit_named(struct srv *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n_units; i++)
		if (!strcmp(s->units[i]->name, name))
			return s->units[i];
	return NULL;
}

static int leaving_add(struct srv *s, struct srv_issuer *u)
{
	struct srv_issuer **v = realloc(s->leaving,
					(s->n_leaving + 1) * sizeof(*v));

	if (!v)
		return PP_ERR_NOMEM;
	s->leaving = v;
	s->leaving[s->n_leaving++] = u;
	return 0;
}

void srv_issuers_reload(struct srv *s, const char *why)
{
	struct cfg_issuer *v = NULL;
	struct srv_issuer **nu = NULL;
	unsigned char *opened = NULL;
	struct tn_table *t = NULL;
	size_t n = 0, i, j, added = 0, changed = 0, removed = 0;
	char err[768] = "";
	int rc;

	rc = cfg_issuers_reload(&s->cfg, &v, &n, err, sizeof(err));
	if (rc == 0 && n == 0) {
		snprintf(err, sizeof(err), "the issuers section is gone; going "
			 "back to one issuer needs a restart");
		rc = PP_ERR_CONFIG;
	}
	if (rc)
		goto fail;
	nu = calloc(n, sizeof(*nu));
	opened = calloc(n, 1);
	if (!nu || !opened) {
		rc = PP_ERR_NOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct srv_issuer *old = unit_named(s, v[i].name);

		if (old && old->canon && !strcmp(old->canon, v[i].canon)) {
			nu[i] = old;
			continue;
		}
		rc = unit_open(s, &v[i], old, &nu[i], err, sizeof(err));
		if (rc)
			goto fail;
		opened[i] = 1;
		if (old)
			changed++;
		else
			added++;
	}
	rc = keys_disjoint(nu, n, err, sizeof(err));
	if (rc)
		goto fail;
	rc = table_of(nu, n, &t);
	if (rc) {
		snprintf(err, sizeof(err), "cannot build the issuer table: %s",
			 pp_err_str(rc));
		goto fail;
	}
	/* everything is built: one swap, then the old issuers drain */
	tn_current_swap(s->table, t);
	for (i = 0; i < s->n_units; i++) {
		for (j = 0; j < n && nu[j] != s->units[i]; j++)
			;
		if (j < n)
			continue;
		if (!s->units[i]->handed_over)
			removed++;
		if (leaving_add(s, s->units[i]) != 0)
			/* cannot wait for it: leak it rather than free it in use */
			log_error("issuer '%s': out of memory; it stays open",
				  s->units[i]->name);
	}
	free(s->units);
	s->units = nu;
	s->n_units = n;
	nu = NULL;
	log_info("issuers reloaded (%s): %zu serving, %zu added, %zu changed, "
		 "%zu removed", why, n, added, changed, removed);
	srv_issuers_reap(s);
	goto cleanup;
fail:
	log_error("issuers reload (%s) failed, still serving the previous "
		  "issuers: %s", why, err[0] ? err : pp_err_str(rc));
	for (i = 0; nu && i < n; i++)
		if (opened && opened[i]) {
			if (nu[i]->pred)
				srv_issuer_give_back(nu[i]);
			srv_issuer_close(nu[i]);
		}
cleanup:
	free(nu);
	free(opened);
	cfg_issuers_free(v, n);
}

void srv_issuers_check(struct srv *s)
{
	char err[512] = "";

	if (keys_disjoint(s->units, s->n_units, err, sizeof(err)) == 0) {
		s->shared_key_logged = 0;
		return;
	}
	/* a key imported into a second issuer while running: loud, once */
	if (!s->shared_key_logged)
		log_error("%s", err);
	s->shared_key_logged = 1;
}

void srv_issuers_reap(struct srv *s)
{
	size_t i, k;
	int progress = 1;

	while (progress) {
		progress = 0;
		for (i = 0; i < s->n_leaving; i++) {
			struct srv_issuer *x = s->leaving[i];

			if (x->pred || tn_issuer_in_use(x->tn) != 0)
				continue;
			for (k = 0; k < s->n_units; k++)
				if (s->units[k]->pred == x)
					s->units[k]->pred = NULL;
			for (k = 0; k < s->n_leaving; k++)
				if (s->leaving[k]->pred == x)
					s->leaving[k]->pred = NULL;
			log_info("%s%s", x->label, x->handed_over ?
				 "previous settings released" : "removed and closed");
			srv_issuer_close(x);
			s->leaving[i] = s->leaving[--s->n_leaving];
			progress = 1;
			break;
		}
	}
}

void srv_issuers_close(struct srv *s)
{
	size_t i;

	tn_current_free(s->table);   /* drops the tables' hold on the issuers */
	s->table = NULL;
	for (i = 0; i < s->n_leaving; i++)
		srv_issuer_close(s->leaving[i]);
	free(s->leaving);
	s->leaving = NULL;
	s->n_leaving = 0;
	for (i = 0; i < s->n_units; i++)
		srv_issuer_close(s->units[i]);
	free(s->units);
	s->units = NULL;
	s->n_units = 0;
}
