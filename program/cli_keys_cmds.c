/* The `ppissuer keys` subcommands. Each prints what it did (or why it did
 * nothing) and leaves the decisions to keys/: this file only formats. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "program/cli_keys_int.h"
#include "keys/lifecycle.h"
#include "keys/maintain.h"


struct view {
	struct ks_meta *m;
	struct kl_view *v;
	size_t n;
};

static void view_free(struct view *w)
{
	free(w->m);
	free(w->v);
}

static int view_load(struct cli_keys *k, struct view *w)
{
	int rc;

	memset(w, 0, sizeof(*w));
	rc = ks_store_list(k->st, &w->m, &w->n, NULL, 0);
	if (rc != 0)
		return cli_keys_fail(k, "cannot list keys", rc);
	w->v = calloc(w->n ? w->n : 1, sizeof(*w->v));
	if (w->v == NULL) {
		view_free(w);
		return cli_keys_fail(k, "listing keys", PP_ERR_NOMEM);
	}
	kl_evaluate(w->m, w->n, k->now, k->sched.overlap, k->max_published,
		    w->v);
	return 0;
}

static long view_pending(const struct view *w, uint16_t type)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		if (w->m[i].token_type == type && w->v[i].state == KS_PENDING)
			return (long)i;
	}
	return -1;
}

/* "now", "2024-05-01T12:00:00Z (in 1d)" or "2024-... (2h ago)". */
static void when(int64_t t, int64_t now, char *buf, size_t cap)
{
	char ts[32], d[32];

	if (t == now) {
		snprintf(buf, cap, "now");
		return;
	}
	kl_time_format(t, ts, sizeof(ts));
	kl_duration_format(t > now ? t - now : now - t, d, sizeof(d));
	if (t > now)
		snprintf(buf, cap, "%s (in %s)", ts, d);
	else
		snprintf(buf, cap, "%s (%s ago)", ts, d);
}

static void print_added(const struct cli_keys *k, const char *verb,
			const struct ks_meta *m)
{
	char w[80];

	when(m->not_before, k->now, w, sizeof(w));
	printf("%s key %s (truncated id 0x%02x)\n", verb, m->id_hex,
	       m->truncated_id);
	if (m->external)
		printf("  in PKCS#11 token '%s' as %s\n", m->p11.token,
		       m->p11.label);
	if (m->not_before > k->now)
		printf("  pending: published now, signs from %s\n", w);
	else
		printf("  active: signs from %s\n", w);
}

/* The not-before of a key being added, and the checks that go with it:
 * one pending key at a time, and a warning when a key would take over at
 * once from one that clients know. */
static int added_not_before(struct cli_keys *k, int64_t *nb)
{
	struct view w;
	long active, pending;
	int rc;

	rc = view_load(k, &w);
	if (rc != 0)
		return rc;
	active = kl_active(w.m, w.v, w.n, k->tt->type);
	pending = view_pending(&w, k->tt->type);
	rc = 0;
	if (pending >= 0) {
		char t[80];

		when(w.m[pending].not_before, k->now, t, sizeof(t));
		fprintf(stderr, "ppissuer keys: key %.16s is already pending "
			"(signs from %s); wait for it, or retire it with "
			"ppissuer keys retire %.16s\n", w.m[pending].id_hex, t,
			w.m[pending].id_hex);
		rc = 1;
	} else if (k->not_before) {
		if (kl_time_parse(k->not_before, k->now, nb) != 0) {
			fprintf(stderr, "ppissuer keys: --not-before '%s' is not "
				"a time (now, +1d, unix seconds or RFC 3339)\n",
				k->not_before);
			rc = 2;
		} else if (active >= 0 && *nb < k->now + k->max_age) {
			fprintf(stderr, "ppissuer keys: warning: the new key "
				"signs before every cached directory lists it; "
				"clients may fail for up to %llds (use "
				"--not-before +1d to avoid this)\n",
				(long long)k->max_age);
		}
	} else {
		*nb = active >= 0 ? k->now + k->sched.lead : k->now;
	}
	view_free(&w);
	return rc;
}

int cli_keys_generate(struct cli_keys *k)
{
	struct ks_meta m;
	int64_t nb = 0;
	int rc;

	/* hold the lock so the pending check still holds when we add */
	rc = ks_store_lock(k->st, k->err, sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "lock", rc);
	rc = added_not_before(k, &nb);
	if (rc == 0) {
		rc = ks_store_generate(k->st, k->tt->type, k->now, nb, &m, k->err,
				       sizeof(k->err));
		if (rc == 0)
			print_added(k, "generated", &m);
		else
			rc = cli_keys_fail(k, "cannot generate a key", rc);
	}
	ks_store_unlock(k->st);
	return rc;
}

int cli_keys_import(struct cli_keys *k)
{
	struct ks_meta m;
	int64_t nb = 0;
	int rc;

	rc = ks_store_lock(k->st, k->err, sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "lock", rc);
	rc = added_not_before(k, &nb);
	if (rc == 0) {
		rc = ks_store_import_file(k->st, k->arg, k->tt->type, k->now, nb, &m,
					  k->err, sizeof(k->err));
		if (rc == 0)
			print_added(k, "imported", &m);
		else
			rc = cli_keys_fail(k, "cannot import the key", rc);
	}
	ks_store_unlock(k->st);
	return rc;
}

static int list_json(const struct view *w)
{
	json_t *arr = json_array();
	char *s;
	size_t i;

	for (i = 0; arr && i < w->n; i++) {
		const struct ks_meta *m = &w->m[i];
		json_t *o = json_pack(
			"{s:s, s:i, s:i, s:s, s:s, s:b, s:I, s:I, s:I}",
			"id", m->id_hex, "truncated-id", (int)m->truncated_id,
			"token-type", (int)m->token_type,
			"state", ks_state_name(w->v[i].state),
			"stored-state", ks_state_name(m->state),
			"published", w->v[i].published,
			"created", (json_int_t)m->created,
			"not-before", (json_int_t)m->not_before,
			"retire-after", (json_int_t)w->v[i].retire_after);

		/* where the private half is: a file, or a token's objects */
		if (o && m->external)
			json_object_set_new(o, "pkcs11", json_pack(
				"{s:s, s:s}", "token", m->p11.token,
				"label", m->p11.label));

		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	s = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(arr);
	if (s == NULL)
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}

int cli_keys_list(struct cli_keys *k)
{
	struct view w;
	size_t i;
	int rc;

	rc = view_load(k, &w);
	if (rc != 0)
		return rc;
	if (k->json) {
		rc = list_json(&w);
		if (rc != 0)
			cli_keys_fail(k, "listing keys", PP_ERR_NOMEM);
	} else if (w.n == 0) {
		printf("no keys in %s; run ppissuer keys generate\n",
		       ks_store_dir(k->st));
	} else {
		printf("%-64s  %-4s  %-6s  %-8s  %-3s  %-6s  %-20s  %-20s  %s\n",
		       "ID", "TID", "TYPE", "STATE", "PUB", "IN", "CREATED",
		       "NOT-BEFORE", "RETIRE-AFTER");
		for (i = 0; i < w.n; i++) {
			char c[32], nb[32], ra[32];

			kl_time_format(w.m[i].created, c, sizeof(c));
			kl_time_format(w.m[i].not_before, nb, sizeof(nb));
			kl_time_format(w.v[i].retire_after, ra, sizeof(ra));
			printf("%-64s  0x%02x  0x%04X  %-8s  %-3s  %-6s  %-20s  "
			       "%-20s  %s\n", w.m[i].id_hex, w.m[i].truncated_id,
			       (unsigned)w.m[i].token_type,
			       ks_state_name(w.v[i].state),
			       w.v[i].published ? "yes" : "no",
			       w.m[i].external ? "pkcs11" : "file", c, nb, ra);
		}
	}
	/* a health check too: a key file the server would refuse */
	for (i = 0; i < w.n; i++) {
		char why[CLI_ERR_LEN];

		if (w.v[i].state != KS_RETIRED && !w.m[i].external &&
		    ks_store_key_check(k->st, &w.m[i], why, sizeof(why)) != 0)
			fprintf(stderr, "ppissuer keys: warning: %s\n", why);
	}
	view_free(&w);
	return rc;
}

int cli_keys_rotate(struct cli_keys *k)
{
	struct ks_rotation r;
	char a[80], b[80];
	int rc;

	rc = ks_store_rotate(k->st, k->tt->type, k->now, &k->sched, k->if_due, &r, k->err,
			     sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "cannot rotate", rc);
	if (!r.rotated) {
		when(r.due_at, k->now, a, sizeof(a));
		printf("no rotation due; the next is due %s\n", a);
		return 0;
	}
	print_added(k, "rotated: added", &r.added);
	if (r.had_active) {
		when(r.added.not_before, k->now, a, sizeof(a));
		when(r.previous.retire_after, k->now, b, sizeof(b));
		printf("  key %s signs until %s,\n  then verifies until %s\n",
		       r.previous.id_hex, a, b);
	}
	return 0;
}

int cli_keys_retire(struct cli_keys *k)
{
	struct ks_meta m;
	struct view w;
	char t[80];
	int rc;

	rc = ks_store_retire(k->st, k->arg, k->now, k->sched.overlap,
			     k->immediately, &m, k->err, sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "cannot retire the key", rc);
	if (m.state == KS_RETIRED) {
		printf("retired key %s: it no longer signs or verifies; delete "
		       "it with ppissuer keys prune\n", m.id_hex);
	} else {
		when(m.retire_after, k->now, t, sizeof(t));
		printf("retiring key %s: it no longer signs; its tokens verify "
		       "until %s\n", m.id_hex, t);
	}
	if (view_load(k, &w) == 0) {
		if (kl_active(w.m, w.v, w.n, m.token_type) < 0)
			fprintf(stderr, "ppissuer keys: warning: no key signs "
				"now; add one with ppissuer keys rotate\n");
		view_free(&w);
	}
	return 0;
}

int cli_keys_prune(struct cli_keys *k)
{
	struct ks_prune p;
	size_t i;
	int rc;

	rc = ks_store_prune(k->st, k->now, k->sched.overlap, &p, k->err,
			    sizeof(k->err));
	for (i = 0; i < p.n_removed; i++)
		printf("deleted retired key %s%s\n", p.removed[i].id_hex,
		       p.removed[i].external ? " and its token objects" : "");
	for (i = 0; i < p.n_kept; i++)
		fprintf(stderr, "ppissuer keys: kept retired key %s: it is in "
			"PKCS#11 token '%s'; run prune with --pkcs11 (and "
			"--pkcs11-module, --pkcs11-token, --pkcs11-pin-file) to "
			"delete it with its token objects\n", p.kept[i].id_hex,
			p.kept[i].p11.token);
	if (rc == 0 && p.n_removed == 0 && p.n_kept == 0)
		printf("no retired keys to delete\n");
	ks_prune_free(&p);
	if (rc != 0)
		return cli_keys_fail(k, "cannot prune", rc);
	return 0;
}

static int print_pem(const uint8_t *der, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len,
					       sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(cap);
	size_t i, blen;

	if (b == NULL)
		return PP_ERR_NOMEM;
	sodium_bin2base64(b, cap, der, len, sodium_base64_VARIANT_ORIGINAL);
	blen = strlen(b);
	printf("-----BEGIN PUBLIC KEY-----\n");
	for (i = 0; i < blen; i += 64)
		printf("%.*s\n", (int)(blen - i < 64 ? blen - i : 64), b + i);
	printf("-----END PUBLIC KEY-----\n");
	free(b);
	return 0;
}

int cli_keys_export(struct cli_keys *k)
{
	const char *fmt = k->format ? k->format : "spki-b64url";
	char text[2 * KS_PUB_MAX];
	struct ks_meta m;
	int rc;

	if (strcmp(fmt, "spki-b64url") != 0 && strcmp(fmt, "pem") != 0) {
		fprintf(stderr, "ppissuer keys export: --format must be "
			"spki-b64url or pem\n");
		return 2;
	}
	rc = ks_store_find(k->st, k->arg, &m, k->err, sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "cannot export", rc);
	if (strcmp(fmt, "pem") == 0) {
		rc = print_pem(m.pub, m.pub_len);
	} else {
		rc = b64_encode(m.pub, m.pub_len, text, sizeof(text), NULL);
		if (rc == 0)
			printf("%s\n", text);
	}
	if (rc != 0)
		return cli_keys_fail(k, "cannot export", rc);
	return 0;
}

int cli_keys_seal(struct cli_keys *k)
{
	size_t n = 0;
	int rc;

	if (k->secret == NULL) {
		fprintf(stderr, "ppissuer keys seal: give the key-encryption "
			"secret (--key-secret-file, PPISSUER_KEY_SECRET or "
			"PPISSUER_KEY_PASSPHRASE)\n");
		return 1;
	}
	rc = ks_store_seal(k->data_dir, k->secret, &n, k->err, sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "cannot seal the key store", rc);
	printf("the key store is sealed; %zu key%s newly sealed\n", n,
	       n == 1 ? "" : "s");
	return 0;
}
