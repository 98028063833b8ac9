/* Key lifecycle: pure functions over key metadata and an injected clock.
 * Nothing here reads files or the system clock, so every transition can be
 * tested at any instant.
 *
 * Effective state of a key at time now:
 *  - stored "retired", or "retiring" whose retire-after has passed: retired.
 *  - stored "retiring": retiring (an operator stopped it signing).
 *  - otherwise (stored "pending" or "active"), per token type:
 *    not-before in the future: pending; the newest not-before <= now:
 *    active (the one signing key); any older one was superseded: retiring
 *    until its retire-after, or, when none was recorded, until its
 *    successor's not-before + overlap; after that, retired.
 *  A retire-after recorded on a key that still signs applies only once a
 *  successor takes over: the last signing key never retires by the clock.
 *
 * Directory (RFC 9578 section 4): clients use the first listed key whose
 * not-before has passed, so keys are listed newest not-before first. A
 * pending key listed ahead of the active one is skipped by clients until
 * its not-before, then taken up by every client at once, with no request
 * for the old key after it stops signing. Which keys are listed, at most
 * max_published per type: the active key, then pending ones (soonest
 * first), then retiring ones (newest first).
 *
 * Rotation schedule and its defaults. Let A be the directory's max-age
 * (default 3600 s), the longest a client keeps a directory.
 *  - lead (default 1 day) is how long a new key is published before it
 *    signs. A client's cached directory is at most A old, so with
 *    lead >= A every client has seen the new key before it activates.
 *    1 day leaves room for a larger max-age and for late cron runs (a late
 *    run lengthens the old key's lifetime; it never shortens the lead).
 *  - lifetime (default 7 days) is how long a key signs; a rotation is due
 *    at not-before + lifetime - lead, so the successor activates at
 *    not-before + lifetime.
 *  - overlap (default 8 days) is how long a key still verifies after it
 *    stops signing, which bounds the redemption window of its tokens: one
 *    minted in the key's first second has lifetime + overlap, one minted
 *    in its last second only overlap. overlap >= lifetime + A gives every
 *    token at least a full key lifetime, with A to spare for clients whose
 *    clocks or cached directories lag. 8 days >= 7 days + 1 hour.
 *  With these defaults at most three keys verify at once and two are
 *  published (the default max_published), which limits how far clients
 *  can be told apart by the key they use. */
#ifndef PP_KS_LIFECYCLE_H
#define PP_KS_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "keys/store.h"

#define KL_DAY 86400
#define KL_DEFAULT_MAX_AGE 3600
#define KL_DEFAULT_LIFETIME (7 * KL_DAY)
#define KL_DEFAULT_LEAD KL_DAY
#define KL_DEFAULT_OVERLAP (8 * KL_DAY)
#define KL_DEFAULT_MAX_PUBLISHED 2

struct kl_schedule {
	int64_t lifetime;  /* seconds a key signs */
	int64_t lead;      /* seconds a key is published before it signs */
	int64_t overlap;   /* seconds a key verifies after it stops signing */
};

/* The defaults above. */
void kl_schedule_default(struct kl_schedule *s);
/* Checks a schedule against the directory's max-age: lifetime > 0,
 * lead >= max_age, overlap >= max_age. PP_ERR_CONFIG with a message. */
int kl_schedule_check(const struct kl_schedule *s, int64_t max_age,
		      char *err, size_t errlen);

/* A key's situation at one instant. */
struct kl_view {
	enum ks_state state;   /* effective state */
	int64_t retire_after;  /* when it stops verifying (0: not scheduled) */
	int published;         /* listed in the directory */
	int superseded;        /* retiring because a newer key took over */
};

/* Computes the view of each m[i] at now into v[i] (n entries).
 * overlap applies to superseded keys without a recorded retire-after;
 * max_published 0 means the default. */
void kl_evaluate(const struct ks_meta *m, size_t n, int64_t now,
		 int64_t overlap, unsigned max_published, struct kl_view *v);

/* Index of the active key of token_type, or -1. */
long kl_active(const struct ks_meta *m, const struct kl_view *v, size_t n,
	       uint16_t token_type);

/* Writes into idx the indices of the keys that matter to a key set, in
 * preference order: published keys newest not-before first, then keys
 * that only verify (retiring, unpublished), newest first. Returns how many
 * (at most n). Pending unpublished and retired keys are left out. */
size_t kl_order(const struct ks_meta *m, const struct kl_view *v, size_t n,
		size_t *idx);

/* The first instant after now when some key's effective state changes
 * (a pending key activates, a retiring key retires), or 0 when none will
 * without a change to the store. */
int64_t kl_next_change(const struct ks_meta *m, const struct kl_view *v,
		       size_t n, int64_t now);

/* When the next rotation of token_type is due under s: the active key's
 * not-before + lifetime - lead; now when no key is active or pending;
 * the pending key's not-before + lifetime - lead when one waits (a new
 * rotation is due only after it activates). *due_at gets that time; the
 * return value is 1 when due (due_at <= now), else 0. */
int kl_rotation_due(const struct ks_meta *m, const struct kl_view *v,
		    size_t n, int64_t now, const struct kl_schedule *s,
		    uint16_t token_type, int64_t *due_at);

/* ---- durations and times (kl_time.c) ---- */

/* "90s", "15m", "12h", "7d", "2w", plain seconds "3600", or a sum such as
 * "1d12h". Must be >= 0 and at most 100 years. Returns 0 or PP_ERR_ARG. */
int kl_duration_parse(const char *s, int64_t *out);
/* Formats seconds in its two largest units, rounded down ("8d", "1d12h",
 * "1m30s"): for people, not for parsing back exactly. */
void kl_duration_format(int64_t secs, char *buf, size_t cap);
/* "now", "+DURATION" (from now), unix seconds, or RFC 3339 in UTC
 * ("2024-05-01T12:00:00Z", fractional seconds ignored; an offset such as
 * "+02:00" is applied). Returns 0 or PP_ERR_ARG. */
int kl_time_parse(const char *s, int64_t now, int64_t *out);
/* RFC 3339 UTC ("2024-05-01T12:00:00Z"); "-" for 0. cap >= 21. */
void kl_time_format(int64_t t, char *buf, size_t cap);

#endif
