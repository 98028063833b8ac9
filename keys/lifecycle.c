/* Effective key states, publication and rotation timing; see lifecycle.h
 * for the rules and the reasoning behind the default schedule. Key counts
 * are small (a handful per type), so the quadratic scans stay cheap and
 * easy to follow. */
#include <string.h>

#include "base/pp_err.h"
#include "keys/lifecycle.h"
#include "keys/store_int.h"

void kl_schedule_default(struct kl_schedule *s)
{
	s->lifetime = KL_DEFAULT_LIFETIME;
	s->lead = KL_DEFAULT_LEAD;
	s->overlap = KL_DEFAULT_OVERLAP;
}

int kl_schedule_check(const struct kl_schedule *s, int64_t max_age,
		      char *err, size_t errlen)
{
	char a[32], b[32];

	if (err && errlen)
		err[0] = '\0';
	kl_duration_format(max_age, b, sizeof(b));
	if (s->lifetime <= 0) {
		pp_errf(err, errlen, "the key lifetime must be positive");
		return PP_ERR_CONFIG;
	}
	if (s->lead < max_age) {
		kl_duration_format(s->lead, a, sizeof(a));
		pp_errf(err, errlen, "the rotation lead (%s) is shorter than the "
			"directory max-age (%s): clients with a cached directory "
			"would not know a new key when it starts signing; set "
			"the lead to at least %s", a, b, b);
		return PP_ERR_CONFIG;
	}
	if (s->overlap < max_age) {
		kl_duration_format(s->overlap, a, sizeof(a));
		pp_errf(err, errlen, "the rotation overlap (%s) is shorter than "
			"the directory max-age (%s); set it to at least the key "
			"lifetime plus %s", a, b, b);
		return PP_ERR_CONFIG;
	}
	return 0;
}

/* Total order of keys by not-before, then creation time, then id. */
static int key_before(const struct ks_meta *a, const struct ks_meta *b)
{
	if (a->not_before != b->not_before)
		return a->not_before < b->not_before;
	if (a->created != b->created)
		return a->created < b->created;
	return strcmp(a->id_hex, b->id_hex) < 0;
}

static int stored_live(const struct ks_meta *k)
{
	return k->state == KS_PENDING || k->state == KS_ACTIVE;
}

/* A live key that has reached its not-before may sign or has signed. */
static int started(const struct ks_meta *k, int64_t now)
{
	return stored_live(k) && k->not_before <= now;
}

static void evaluate_started(const struct ks_meta *m, size_t n, int64_t now,
			     int64_t overlap, struct kl_view *v)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		long succ = -1;

		if (!started(&m[i], now))
			continue;
		/* the next started key of the same type took over from i */
		for (j = 0; j < n; j++) {
			if (j == i || m[j].token_type != m[i].token_type ||
			    !started(&m[j], now) || !key_before(&m[i], &m[j]))
				continue;
			if (succ < 0 || key_before(&m[j], &m[succ]))
				succ = (long)j;
		}
		if (succ < 0) {
			v[i].state = KS_ACTIVE;
			v[i].retire_after = m[i].retire_after;
			continue;
		}
		v[i].superseded = 1;
		v[i].retire_after = m[i].retire_after ? m[i].retire_after
				    : m[succ].not_before + overlap;
		v[i].state = now >= v[i].retire_after ? KS_RETIRED : KS_RETIRING;
	}
}

/* Publication rank: active, then pending soonest first, then retiring
 * newest first. Returns whether a outranks b (same type). */
static int publish_before(const struct ks_meta *m, const struct kl_view *v,
			  size_t a, size_t b)
{
	static const int rank[] = {
		[KS_ACTIVE] = 0, [KS_PENDING] = 1, [KS_RETIRING] = 2,
		[KS_RETIRED] = 3,
	};

	if (rank[v[a].state] != rank[v[b].state])
		return rank[v[a].state] < rank[v[b].state];
	if (v[a].state == KS_PENDING)
		return key_before(&m[a], &m[b]);
	return key_before(&m[b], &m[a]);
}

void kl_evaluate(const struct ks_meta *m, size_t n, int64_t now,
		 int64_t overlap, unsigned max_published, struct kl_view *v)
{
	size_t i, j;

	if (max_published == 0)
		max_published = KL_DEFAULT_MAX_PUBLISHED;
	for (i = 0; i < n; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].retire_after = m[i].retire_after;
		if (m[i].state == KS_RETIRED)
			v[i].state = KS_RETIRED;
		else if (m[i].state == KS_RETIRING)
			v[i].state = m[i].retire_after != 0 &&
				     m[i].retire_after <= now ? KS_RETIRED
							      : KS_RETIRING;
		else if (m[i].not_before > now)
			v[i].state = KS_PENDING;
	}
	evaluate_started(m, n, now, overlap, v);
	for (i = 0; i < n; i++) {
		unsigned ahead = 0;

		if (v[i].state == KS_RETIRED)
			continue;
		for (j = 0; j < n; j++) {
			if (j != i && m[j].token_type == m[i].token_type &&
			    v[j].state != KS_RETIRED &&
			    publish_before(m, v, j, i))
				ahead++;
		}
		v[i].published = ahead < max_published;
	}
}

long kl_active(const struct ks_meta *m, const struct kl_view *v, size_t n,
	       uint16_t token_type)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (m[i].token_type == token_type && v[i].state == KS_ACTIVE)
			return (long)i;
	}
	return -1;
}

/* Preference: published first, then newest not-before first. */
static int prefer(const struct ks_meta *m, const struct kl_view *v,
		  size_t a, size_t b)
{
	if (v[a].published != v[b].published)
		return v[a].published;
	return key_before(&m[b], &m[a]);
}

size_t kl_order(const struct ks_meta *m, const struct kl_view *v, size_t n,
		size_t *idx)
{
	size_t i, j, cnt = 0;

	for (i = 0; i < n; i++) {
		if (v[i].state == KS_RETIRED ||
		    (v[i].state == KS_PENDING && !v[i].published))
			continue;
		/* insertion sort: n is tiny */
		for (j = cnt; j > 0 && prefer(m, v, i, idx[j - 1]); j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
		cnt++;
	}
	return cnt;
}

int64_t kl_next_change(const struct ks_meta *m, const struct kl_view *v,
		       size_t n, int64_t now)
{
	int64_t next = 0, t;
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i].state == KS_PENDING)
			t = m[i].not_before;
		else if (v[i].state == KS_RETIRING)
			t = v[i].retire_after;
		else
			continue;
		if (t > now && (next == 0 || t < next))
			next = t;
	}
	return next;
}

int kl_rotation_due(const struct ks_meta *m, const struct kl_view *v,
		    size_t n, int64_t now, const struct kl_schedule *s,
		    uint16_t token_type, int64_t *due_at)
{
	long active = kl_active(m, v, n, token_type), pending = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		if (m[i].token_type == token_type && v[i].state == KS_PENDING &&
		    (pending < 0 || key_before(&m[pending], &m[i])))
			pending = (long)i;
	}
	if (pending >= 0) {
		/* a successor already waits: the next rotation follows it */
		*due_at = m[pending].not_before + s->lifetime - s->lead;
		if (*due_at <= m[pending].not_before)
			*due_at = m[pending].not_before + 1;
		return 0;
	}
	if (active < 0) {
		*due_at = now;
		return 1;
	}
	*due_at = m[active].not_before + s->lifetime - s->lead;
	return *due_at <= now;
}
