/* Building key-set snapshots: list the store, apply the lifecycle at one
 * instant, prepare signing and verification contexts, serialize the
 * directory. A snapshot never changes after it is built; requests share it
 * through a reference count. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>

#include "crypto/token_types.h"
#include "base/pp_err.h"
#include "keys/directory.h"
#include "keys/keyset.h"
#include "keys/lifecycle.h"
#include "keys/pkcs11.h"
#include "keys/store_int.h"

#define DEFAULT_URI "/token-request"

struct build {
	struct ks_meta *all;   /* every listed key, then those kept from prev */
	size_t n_all;
	const struct ks_entry **kept; /* per all[]: its entry in prev, or NULL */
	char *noverify;        /* per all[]: whether it was retired before is
				* unknown now; it must not verify */
	const struct ks_entry **keep; /* per all[]: prev's entry whose prepared
				       * keys stand in for a key that cannot
				       * be loaded now */
	struct kl_view *v0;    /* per all[]: the view with no key excluded */
	struct ks_failed_id *unavail; /* keys that cannot be judged */
	size_t n_unavail;
	char *excluded;        /* per all[]: left out because it failed */
	size_t *orig;          /* per w[]: index into all[] */
	struct ks_meta *w;     /* keys still considered */
	struct kl_view *v;
	size_t nw;
	struct tt_secret **pk; /* per w[]: private keys that are needed */
	struct p11 *p11;       /* for keys in a token */
	size_t *idx;           /* preference order (indices into w) */
};

static void pk_free_all(struct build *b)
{
	size_t i;

	for (i = 0; i < b->n_all; i++) {
		tt_secret_free(b->pk[i]);
		b->pk[i] = NULL;
	}
}

static void build_free(struct build *b)
{
	if (b->pk)
		pk_free_all(b);
	free(b->all);
	free(b->kept);
	free(b->noverify);
	free(b->keep);
	free(b->v0);
	free(b->unavail);
	free(b->excluded);
	free(b->orig);
	free(b->w);
	free(b->v);
	free(b->pk);
	free(b->idx);
}

static int build_alloc(struct build *b)
{
	size_t n = b->n_all;

	b->excluded = calloc(n, 1);
	b->keep = calloc(n, sizeof(*b->keep));
	b->v0 = calloc(n, sizeof(*b->v0));
	b->orig = calloc(n, sizeof(*b->orig));
	b->w = calloc(n, sizeof(*b->w));
	b->v = calloc(n, sizeof(*b->v));
	b->pk = calloc(n, sizeof(*b->pk));
	b->idx = calloc(n, sizeof(*b->idx));
	if (!b->excluded || !b->keep || !b->v0 || !b->orig || !b->w ||
	    !b->v || !b->pk || !b->idx)
		return PP_ERR_NOMEM;
	return 0;
}

/* The not-before of the key of this type that signs at the build instant,
 * or 0. */
static int64_t active_since(const struct ks_meta *w, const struct kl_view *v,
			    size_t n, uint16_t type)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].state == KS_ACTIVE && w[i].token_type == type)
			return w[i].not_before;
	return 0;
}

/* Until when a superseded key keeps signing (see KS_HANDOVER_GRACE), or 0
 * when it no longer does at now. */
static int64_t handover_end(const struct ks_meta *w, const struct kl_view *v,
			    size_t n, size_t i, int64_t now)
{
	int64_t since;

	if (v[i].state != KS_RETIRING || !v[i].superseded)
		return 0;
	since = active_since(w, v, n, w[i].token_type);
	if (since == 0 || since < w[i].not_before || now >= since + KS_HANDOVER_GRACE)
		return 0;
	return since + KS_HANDOVER_GRACE;
}

/* Keys that sign need their private key; so do keys whose tokens only the
 * private key can verify. */
static int needs_private(const struct build *b, size_t i, int64_t now)
{
	const struct kl_view *v = &b->v[i];
	const struct tt_ops *tt = tt_find(b->w[i].token_type);

	return v->state == KS_ACTIVE ||
	       (v->state == KS_PENDING && v->published) ||
	       handover_end(b->w, b->v, b->nw, i, now) != 0 ||
	       (tt && tt->private_verify && v->state == KS_RETIRING);
}

/* prev's entry for key_id, or NULL. */
static const struct ks_entry *prev_entry(const struct ks_keyset *prev,
					 const uint8_t key_id[32])
{
	size_t i;

	for (i = 0; prev && i < prev->n; i++)
		if (memcmp(prev->entries[i].meta.key_id, key_id, 32) == 0)
			return &prev->entries[i];
	return NULL;
}

/* Gets what w[i] needs: its private key from the store or, when that fails
 * or its metadata could not be read, the keys prev had prepared. Returns 0
 * or the reason it cannot be prepared. */
static int settle_private(struct ks_store *st, struct build *b,
			  const struct ks_keyset *prev, size_t i, char *err,
			  size_t errlen)
{
	size_t k = b->orig[i];
	const struct ks_entry *pe = prev_entry(prev, b->w[i].key_id);
	char why[400] = "";
	int rc;

	if (b->kept[k] == NULL && b->w[i].external) {
		/* a token key: no private key here, only whether it is there */
		if (b->p11 == NULL) {
			rc = PP_ERR_CONFIG;
			snprintf(why, sizeof(why), "it is in PKCS#11 token '%s'; "
				 "give --pkcs11-module, --pkcs11-token and "
				 "--pkcs11-pin-file", b->w[i].p11.token);
		} else {
			rc = p11_key_check(b->p11, &b->w[i], why, sizeof(why));
		}
		if (rc == 0)
			return 0;
	} else if (b->kept[k] == NULL) {
		rc = ks_store_key_load(st, &b->w[i], &b->pk[i], why, sizeof(why));
		if (rc == 0)
			return 0;
	} else {
		rc = PP_ERR_IO;
		snprintf(why, sizeof(why), "its metadata cannot be read");
	}
	if (pe && (pe->signer || pe->verifier)) {
		ks_report(st, err, errlen, "key %.16s cannot be loaded now (%s); "
			  "keeping the copy loaded before", b->w[i].id_hex, why);
		b->keep[k] = pe;
		return 0;
	}
	ks_report(st, err, errlen, "key %.16s cannot sign: %s", b->w[i].id_hex,
		  why);
	return rc;
}

/* Evaluates the lifecycle over the keys not excluded and gets what the
 * signing keys need; a key that cannot sign is excluded and the evaluation
 * redone (it still verifies: see verify_only). */
static void build_settle(struct ks_store *st, struct build *b,
			 const struct ks_keyset *prev, int64_t now,
			 int64_t overlap, unsigned max_published, char *err,
			 size_t errlen)
{
	size_t i;
	int first = 1;

	for (;;) {
		long bad = -1;

		b->nw = 0;
		for (i = 0; i < b->n_all; i++) {
			if (b->excluded[i])
				continue;
			b->orig[b->nw] = i;
			b->w[b->nw++] = b->all[i];
		}
		kl_evaluate(b->w, b->nw, now, overlap, max_published, b->v);
		if (first) {
			/* nothing excluded yet: orig[i] == i */
			memcpy(b->v0, b->v, b->nw * sizeof(*b->v));
			first = 0;
		}
		for (i = 0; i < b->nw && bad < 0; i++) {
			if (!needs_private(b, i, now) || b->excluded[b->orig[i]])
				continue;
			if (settle_private(st, b, prev, i, err, errlen) != 0)
				bad = (long)i;
		}
		if (bad < 0)
			return;
		pk_free_all(b);
		memset(b->keep, 0, b->n_all * sizeof(*b->keep));
		b->excluded[b->orig[bad]] = 1;
	}
}

static void entry_clear(struct ks_entry *e)
{
	tt_key_free(e->signer);
	tt_key_free(e->verifier);
	memset(e, 0, sizeof(*e));
}

static int entry_fill(struct ks_store *st, struct p11 *p11,
		      struct ks_entry *e, const struct ks_meta *m,
		      const struct kl_view *v, const struct tt_secret *priv,
		      const struct ks_entry *keep, int64_t sign_until,
		      unsigned slots, char *err, size_t errlen)
{
	char why[300] = "";
	const struct tt_ops *tt = tt_find(m->token_type);
	int pending = v->state == KS_PENDING && v->published;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	e->meta = *m;
	e->meta.retire_after = v->retire_after;
	e->state = v->state;
	e->published = v->published;
	e->pub = e->meta.pub;
	e->pub_len = e->meta.pub_len;
	if (pending)
		e->usable_from = m->not_before;
	e->tt = tt;
	e->sign_until = sign_until;
	if (tt == NULL)
		rc = PP_ERR_TOKEN_TYPE;
	if (rc == 0 && (v->state == KS_ACTIVE || pending || sign_until)) {
		if (keep && keep->signer)
			e->signer = tt_key_ref(keep->signer);
		else if (m->external && p11)
			rc = p11_signer_new(p11, m, slots, &e->signer, why,
					    sizeof(why));
		else if (priv)
			rc = tt_signer_new(tt, priv, slots, &e->signer);
	}
	if (rc == 0 && (v->state == KS_ACTIVE || v->state == KS_RETIRING || pending)) {
		if (tt->private_verify && keep && keep->verifier)
			e->verifier = tt_key_ref(keep->verifier);
		else if (!tt->private_verify || priv)
			rc = tt_verifier_new(tt, e->pub, e->pub_len, priv,
					     &e->verifier);
	}
	ERR_clear_error();
	if (rc != 0) {
		ks_report(st, err, errlen, "key %.16s left out: cannot prepare "
			  "it (%s)", m->id_hex, why[0] ? why : pp_err_str(rc));
		entry_clear(e);
	}
	return rc;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int excluded_any(const struct build *b)
{
	size_t i;

	for (i = 0; i < b->n_all; i++)
		if (b->excluded[i])
			return 1;
	return 0;
}

/* What an entry keeps of the build's findings about its key. */
static void entry_settle(const struct build *b, size_t a, struct ks_entry *e,
			 struct ks_keyset *ks)
{
	if (b->noverify[a]) {
		tt_key_free(e->verifier);
		e->verifier = NULL;
	}
	if (b->kept[a] || b->keep[a])
		ks->n_kept++;
}

/* The newest event that may have changed the directory, up to now. */
static int64_t last_event(const struct build *b, int64_t now)
{
	int64_t t = 0;
	size_t i;

	for (i = 0; i < b->nw; i++) {
		const struct ks_meta *m = &b->w[i];
		const struct kl_view *v = &b->v[i];

		if (m->created <= now)
			t = max64(t, m->created);
		if (m->not_before <= now && v->state != KS_PENDING)
			t = max64(t, m->not_before);
		if ((v->state == KS_RETIRING || v->state == KS_RETIRED) &&
		    v->retire_after != 0 && v->retire_after <= now)
			t = max64(t, v->retire_after);
	}
	return t;
}

/* Lists the store. Keys whose metadata cannot be read keep prev's entry
 * (appended to all[] and marked in kept[]); without one they cannot be
 * judged and go to unavail[]. Keys retired before are dropped here. */
static int build_gather(struct ks_store *st, const struct ks_keyset_opts *o,
			struct build *b, char *err, size_t errlen)
{
	const struct ks_keyset *prev = o ? o->prev : NULL;
	struct ks_failed_id *failed = NULL;
	size_t i, j, n_failed = 0;
	char lerr[400] = "";
	int rc;

	rc = ks_store_list_all(st, &b->all, &b->n_all, &failed, &n_failed,
			       lerr, sizeof(lerr));
	if (rc != 0 || lerr[0])
		pp_errf(err, errlen, "%s", lerr[0] ? lerr : pp_err_str(rc));
	if (rc != 0)
		goto cleanup;
	if (n_failed > 0) {
		struct ks_meta *na = realloc(b->all, (b->n_all + n_failed) *
					     sizeof(*na));

		if (na == NULL) {
			rc = PP_ERR_NOMEM;
			goto cleanup;
		}
		b->all = na;
	}
	b->kept = calloc(b->n_all + n_failed + 1, sizeof(*b->kept));
	b->noverify = calloc(b->n_all + n_failed + 1, 1);
	/* a key may be both unjudgeable and unloadable: room for both */
	b->unavail = calloc(2 * (b->n_all + n_failed) + 1, sizeof(*b->unavail));
	if (b->kept == NULL || b->noverify == NULL || b->unavail == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < n_failed; i++) {
		const struct ks_entry *pe = prev_entry(prev, failed[i].key_id);

		if (pe) {
			ks_report(st, err, errlen, "key %.16s: keeping the entry "
				  "loaded before until its files can be read",
				  failed[i].id_hex);
			b->kept[b->n_all] = pe;
			b->all[b->n_all++] = pe->meta;
		} else {
			ks_report(st, err, errlen, "key %.16s cannot be read and "
				  "was not loaded before: its tokens are "
				  "answered as unavailable until it can be read",
				  failed[i].id_hex);
			b->unavail[b->n_unavail++] = failed[i];
		}
	}
	/* keys retired before stay out, whatever their files say now */
	for (i = j = 0; o && o->retired_before && i < b->n_all; i++) {
		int r = o->retired_before(o->retired_ctx, b->all[i].key_id);

		if (r == 1) {
			ks_report(st, err, errlen, "key %.16s was retired before and "
				  "its spent records dropped: it stays out (was "
				  "the key store restored from an old backup?)",
				  b->all[i].id_hex);
			continue;
		}
		if (r < 0) {
			/* it may sign; its tokens wait until the store answers */
			memcpy(b->unavail[b->n_unavail].id_hex,
			       b->all[i].id_hex, 65);
			memcpy(b->unavail[b->n_unavail].key_id,
			       b->all[i].key_id, 32);
			b->n_unavail++;
			b->noverify[j] = 1;
		}
		b->kept[j] = b->kept[i];
		b->all[j++] = b->all[i];
	}
	if (o && o->retired_before)
		b->n_all = j;
cleanup:
	free(failed);
	return rc;
}

int ks_keyset_build(struct ks_store *st, const struct ks_keyset_opts *o,
		    int64_t now, struct ks_keyset **out, char *err,
		    size_t errlen)
{
	const char *uri = o && o->issuer_request_uri ? o->issuer_request_uri
						     : DEFAULT_URI;
	int64_t overlap = o && o->overlap > 0 ? o->overlap : KL_DEFAULT_OVERLAP;
	struct build b;
	struct ks_keyset *ks;
	size_t i, cnt;
	int64_t next_handover = 0;
	int rc, signers = 0;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	memset(&b, 0, sizeof(b));
	b.p11 = o ? o->p11 : NULL;
	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return PP_ERR_NOMEM;
	ks->p11 = b.p11;
	ks->refs_ = 1;
	rc = ks_store_fingerprint(st, ks->fingerprint);
	if (rc == 0)
		rc = build_gather(st, o, &b, err, errlen);
	if (rc != 0)
		goto cleanup;
	if (b.n_all == 0 && b.n_unavail == 0) {
		pp_errf(err, errlen, "no keys in %s; run ppissuer keys generate",
			ks_store_dir(st));
		rc = PP_ERR_NOT_FOUND;
		goto cleanup;
	}
	rc = build_alloc(&b);
	if (rc != 0)
		goto cleanup;
	build_settle(st, &b, o ? o->prev : NULL, now, overlap,
		     o ? o->max_published : 0, err, errlen);
	cnt = kl_order(b.w, b.v, b.nw, b.idx);
	/* room for the keys that cannot sign but still verify */
	ks->entries = calloc(b.n_all + 1, sizeof(*ks->entries));
	if (ks->entries == NULL) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < cnt; i++) {
		size_t k = b.idx[i], a = b.orig[k];
		int64_t until = handover_end(b.w, b.v, b.nw, k, now);
		struct ks_entry *e = &ks->entries[ks->n];

		if (entry_fill(st, b.p11, e, &b.w[k], &b.v[k], b.pk[k],
			       b.keep[a], until,
			       o ? o->signer_slots : 0, err, errlen) != 0)
			continue;
		entry_settle(&b, a, e, ks);
		signers += e->signer != NULL && e->state == KS_ACTIVE;
		ks->n_token_signers += e->signer != NULL &&
				       e->state == KS_ACTIVE && e->meta.external;
		if (until && (next_handover == 0 || until < next_handover))
			next_handover = until;
		ks->n++;
	}
	for (i = 0; i < b.n_all; i++) {
		const struct tt_ops *tt = tt_find(b.all[i].token_type);
		struct kl_view v = b.v0[i];

		if (!b.excluded[i] ||
		    (v.state != KS_ACTIVE && v.state != KS_RETIRING))
			continue;
		if (tt == NULL || tt->private_verify) {
			/* its tokens cannot be judged without the key */
			memcpy(&b.unavail[b.n_unavail].key_id, b.all[i].key_id, 32);
			memcpy(b.unavail[b.n_unavail].id_hex, b.all[i].id_hex, 65);
			b.n_unavail++;
			continue;
		}
		/* could not sign: it still verifies from its metadata */
		v.published = 0;
		if (entry_fill(st, NULL, &ks->entries[ks->n], &b.all[i], &v, NULL,
			       NULL, 0, 0, err, errlen) != 0)
			continue;
		entry_settle(&b, i, &ks->entries[ks->n], ks);
		ks->n++;
	}
	if (b.n_unavail > 0) {
		ks->unavailable = b.unavail;
		ks->n_unavailable = b.n_unavail;
		b.unavail = NULL;
	}
	if (ks->n == 0) {
		pp_errf(err, errlen, "no usable key in %s; run ppissuer keys "
			"generate", ks_store_dir(st));
		rc = PP_ERR_NOT_FOUND;
		goto cleanup;
	}
	if (signers == 0 && excluded_any(&b)) {
		/* a reload keeps the previous key set, a start says why */
		pp_errf(err, errlen, "no key in %s can sign", ks_store_dir(st));
		rc = PP_ERR_NOT_FOUND;
		goto cleanup;
	}
	if (signers == 0)
		pp_errf(err, errlen, "no key in %s can sign now; run ppissuer "
			"keys rotate", ks_store_dir(st));
	rc = ks_directory_build(uri, ks->entries, ks->n, &ks->directory,
				&ks->directory_len, ks->etag);
	if (rc != 0)
		goto cleanup;
	ks->last_modified = (time_t)last_event(&b, now);
	ks->next_change = kl_next_change(b.w, b.v, b.nw, now);
	if (next_handover && (ks->next_change == 0 || next_handover < ks->next_change))
		ks->next_change = next_handover;
	*out = ks;
	ks = NULL;
cleanup:
	build_free(&b);
	ks_keyset_unref(ks);
	return rc;
}

int ks_keyset_stale(const struct ks_keyset *ks, struct ks_store *st,
		    int64_t now)
{
	char fp[65];

	if (ks->next_change != 0 && now >= ks->next_change)
		return 1;
	/* a key that could not be read or judged: try again at every poll */
	if (ks->n_unavailable > 0 || ks->n_kept > 0)
		return 1;
	if (ks_store_fingerprint(st, fp) != 0)
		return 1;
	return strcmp(fp, ks->fingerprint) != 0;
}

struct ks_keyset *ks_keyset_ref(struct ks_keyset *ks)
{
	if (ks)
		__atomic_fetch_add(&ks->refs_, 1, __ATOMIC_RELAXED);
	return ks;
}

void ks_keyset_unref(struct ks_keyset *ks)
{
	size_t i;

	if (ks == NULL ||
	    __atomic_sub_fetch(&ks->refs_, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < ks->n; i++)
		entry_clear(&ks->entries[i]);
	free(ks->entries);
	free(ks->unavailable);
	free(ks->directory);
	free(ks);
}

const struct ks_entry *ks_keyset_signer(const struct ks_keyset *ks,
					uint16_t token_type,
					uint8_t truncated_id)
{
	return ks_keyset_signer_at(ks, token_type, truncated_id, 0);
}

const struct ks_entry *ks_keyset_signer_at(const struct ks_keyset *ks,
					   uint16_t token_type,
					   uint8_t truncated_id, int64_t now)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		const struct ks_entry *e = &ks->entries[i];

		if (!e->signer || e->meta.token_type != token_type ||
		    e->meta.truncated_id != truncated_id)
			continue;
		if (e->usable_from || e->sign_until) {
			if (!now)
				now = (int64_t)time(NULL);
			if ((e->usable_from && now < e->usable_from) ||
			    (e->sign_until && now >= e->sign_until))
				continue;
		}
		return e;
	}
	return NULL;
}

int ks_keyset_unavailable(const struct ks_keyset *ks, const uint8_t key_id[32])
{
	size_t i;

	for (i = 0; i < ks->n_unavailable; i++)
		if (memcmp(ks->unavailable[i].key_id, key_id, 32) == 0)
			return 1;
	return 0;
}

const struct ks_entry *ks_keyset_verifier(const struct ks_keyset *ks,
					  const uint8_t key_id[32])
{
	return ks_keyset_verifier_at(ks, key_id, 0);
}

const struct ks_entry *ks_keyset_verifier_at(const struct ks_keyset *ks,
					     const uint8_t key_id[32],
					     int64_t now)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		const struct ks_entry *e = &ks->entries[i];

		if (e->verifier &&
		    memcmp(e->meta.key_id, key_id, sizeof(e->meta.key_id)) == 0)
		{
			if (e->usable_from && !now)
				now = (int64_t)time(NULL);
			return e->usable_from && now < e->usable_from ? NULL : e;
		}
	}
	return NULL;
}
