/* The issuer directory as the gate sees it (see gate_dir.h). */
#include "issuer/gate_dir.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/b64.h"
#include "crypto/token_types.h"
#include "issuer/log.h"

#define GATE_DIR_KEYS_MAX 64

struct gd_key {
	const struct tt_ops *tt;
	uint8_t id[32];
	uint8_t pub[TT_PUB_MAX];
	size_t pub_len;
	int64_t not_before;
	struct tt_key *v;            /* NULL for privately verifiable types */
};

struct gd_set {
	size_t n;
	struct gd_key keys[GATE_DIR_KEYS_MAX];
};

struct gate_dir {
	char *url;
	unsigned timeout_ms;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cond;         /* CLOCK_MONOTONIC */
	int stop;
	int kicked;
	int fetched;                 /* a fetch attempt finished */
	struct gd_set *set;          /* NULL until the first good fetch */
	char etag[256];
	double next_fetch;           /* monotonic seconds */
	double last_kick_fetch;
};

struct gd_buf {
	char *p;
	size_t len;
	int over;
	char etag[256];
	long max_age;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_free(struct gd_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		tt_key_free(s->keys[i].v);
	free(s);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gd_buf *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > GATE_DIR_BODY_MAX) {
		b->over = 1;
		return 0;
	}
	p = realloc(b->p, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, data, n);
	b->p = p;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gd_buf *b = arg;
	size_t n = size * nmemb, vl;
	const char *v;

	if (n > 5 && !strncasecmp(data, "ETag:", 5)) {
		v = data + 5;
		vl = n - 5;
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(b->etag)) {
			memcpy(b->etag, v, vl);
			b->etag[vl] = '\0';
		}
	} else if (n > 14 && !strncasecmp(data, "Cache-Control:", 14)) {
		char line[512];
		const char *m;

		vl = n - 14 < sizeof(line) - 1 ? n - 14 : sizeof(line) - 1;
		memcpy(line, data + 14, vl);
		line[vl] = '\0';
		m = strcasestr(line, "max-age=");
		if (m)
			b->max_age = strtol(m + 8, NULL, 10);
		if (strcasestr(line, "no-store") || strcasestr(line, "no-cache"))
			b->max_age = 0;
	}
	return n;
}

/* Parses a directory body into a new set. */
static int set_parse(const char *body, size_t len, struct gd_set **out,
		     char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr), *keys, *k;
	struct gd_set *s = NULL;
	size_t i;
	int rc = PP_ERR_CORRUPT;

	*out = NULL;
	keys = root ? json_object_get(root, "token-keys") : NULL;
	if (!json_is_array(keys)) {
		pp_errf(why, whylen, "not a directory (no token-keys array)");
		goto cleanup;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	json_array_foreach(keys, i, k) {
		json_t *jt = json_object_get(k, "token-type");
		json_t *jk = json_object_get(k, "token-key");
		json_t *jn = json_object_get(k, "not-before");
		struct gd_key *e;
		const struct tt_ops *tt;

		if (s->n == GATE_DIR_KEYS_MAX)
			break;
		if (!json_is_integer(jt) || !json_is_string(jk))
			continue;
		tt = json_integer_value(jt) > 0 && json_integer_value(jt) <= 0xffff ?
			     tt_find((uint16_t)json_integer_value(jt)) : NULL;
		if (!tt)
			continue;  /* a type this build cannot check */
		e = &s->keys[s->n];
		memset(e, 0, sizeof(*e));
		e->tt = tt;
		if (b64_decode(json_string_value(jk), json_string_length(jk), e->pub,
			       sizeof(e->pub), &e->pub_len) != 0 ||
		    tt->public_check(e->pub, e->pub_len) != 0) {
			log_warn("gate: directory key of type 0x%04x is malformed; skipped",
				 tt->type);
			continue;
		}
		tt_key_id(e->pub, e->pub_len, e->id);
		e->not_before = json_is_integer(jn) ? (int64_t)json_integer_value(jn) : 0;
		if (!tt->private_verify &&
		    tt_verifier_new(tt, e->pub, e->pub_len, NULL, &e->v) != 0) {
			log_warn("gate: directory key of type 0x%04x cannot be prepared; skipped",
				 tt->type);
			continue;
		}
		s->n++;
	}
	*out = s;
	s = NULL;
	rc = 0;
cleanup:
	set_free(s);
	json_decref(root);
	return rc;
}

/* One fetch; applies the answer. Called on the directory's thread without
 * the lock. */
static void dir_fetch(struct gate_dir *d)
{
	struct gd_buf b;
	struct curl_slist *hdrs = NULL;
	struct gd_set *set = NULL, *old = NULL;
	char inm[300], why[256] = "";
	CURL *c = curl_easy_init();
	CURLcode cc;
	long status = 0;
	double next;
	int ok = 0;

	memset(&b, 0, sizeof(b));
	b.max_age = -1;
	if (!c)
		goto done;
	pthread_mutex_lock(&d->mu);
	if (d->set && d->etag[0]) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", d->etag);
		hdrs = curl_slist_append(hdrs, inm);
	}
	pthread_mutex_unlock(&d->mu);
	curl_easy_setopt(c, CURLOPT_URL, d->url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)d->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &b);
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		pp_errf(why, sizeof(why), "%s", b.over ? "directory too large" :
			curl_easy_strerror(cc));
	} else if (status == 200) {
		if (set_parse(b.p ? b.p : "", b.len, &set, why, sizeof(why)) == 0)
			ok = 1;
	} else if (status == 304) {
		ok = 1;
	} else {
		pp_errf(why, sizeof(why), "HTTP status %ld", status);
	}
done:
	pthread_mutex_lock(&d->mu);
	if (ok && set) {
		int first = d->set == NULL;
		int changed = strcmp(b.etag, d->etag) != 0;

		old = d->set;
		d->set = set;
		set = NULL;
		snprintf(d->etag, sizeof(d->etag), "%s", b.etag);
		if (first)
			log_info("gate: directory of %s read: %zu keys", d->url, d->set->n);
		else if (changed)
			log_info("gate: directory changed: %zu keys", d->set->n);
	} else if (!ok) {
		log_warn("gate: cannot read the issuer directory %s: %s%s", d->url, why,
			 d->set ? " (keeping the copy read before)" : "");
	}
	if (ok) {
		long age = b.max_age < 0 ? 60 : b.max_age;

		if (age < GATE_DIR_MAX_AGE_MIN)
			age = GATE_DIR_MAX_AGE_MIN;
		if (age > GATE_DIR_MAX_AGE_MAX)
			age = GATE_DIR_MAX_AGE_MAX;
		next = mono_s() + (double)age;
	} else {
		next = mono_s() + GATE_DIR_RETRY_S;
	}
	d->next_fetch = next;
	d->fetched = 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mu);
	set_free(old);
	set_free(set);
	free(b.p);
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
}

static void abs_time(double at, struct timespec *ts)
{
	ts->tv_sec = (time_t)at;
	ts->tv_nsec = (long)((at - (double)ts->tv_sec) * 1e9);
	if (ts->tv_nsec >= 1000000000L || ts->tv_nsec < 0)
		ts->tv_nsec = 0;
}

static void *dir_thread(void *arg)
{
	struct gate_dir *d = arg;

	(void)pthread_setname_np(pthread_self(), "pp-gate-dir");
	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		double now = mono_s(), due = d->next_fetch;
		struct timespec ts;

		if (d->kicked && now >= d->last_kick_fetch + GATE_DIR_KICK_MIN_S)
			due = now;
		if (now < due) {
			abs_time(d->kicked ? (due < d->last_kick_fetch + GATE_DIR_KICK_MIN_S ?
					      due : d->last_kick_fetch + GATE_DIR_KICK_MIN_S) :
					     due, &ts);
			pthread_cond_timedwait(&d->cond, &d->mu, &ts);
			continue;
		}
		if (d->kicked) {
			d->kicked = 0;
			d->last_kick_fetch = now;
		}
		pthread_mutex_unlock(&d->mu);
		dir_fetch(d);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int gate_dir_open(const char *issuer_url, unsigned timeout_ms,
		  struct gate_dir **out, char *err, size_t errlen)
{
	static const char path[] = "/.well-known/private-token-issuer-directory";
	struct gate_dir *d;
	pthread_condattr_t ca;
	size_t n;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return PP_ERR_NOMEM;
	n = strlen(issuer_url);
	while (n && issuer_url[n - 1] == '/')
		n--;
	d->url = malloc(n + sizeof(path));
	if (!d->url) {
		free(d);
		return PP_ERR_NOMEM;
	}
	memcpy(d->url, issuer_url, n);
	memcpy(d->url + n, path, sizeof(path));
	d->timeout_ms = timeout_ms ? timeout_ms : 3000;
	d->last_kick_fetch = -1e9;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&d->thread, NULL, dir_thread, d) != 0) {
		pp_errf(err, errlen, "cannot start the directory thread");
		gate_dir_close(d);
		return PP_ERR_INTERNAL;
	}
	d->started = 1;
	*out = d;
	return 0;
}

void gate_dir_close(struct gate_dir *d)
{
	if (!d)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->mu);
		d->stop = 1;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
	}
	set_free(d->set);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->mu);
	free(d->url);
	free(d);
}

int gate_dir_wait(struct gate_dir *d, unsigned ms)
{
	struct timespec ts;
	int ready;

	abs_time(mono_s() + ms / 1000.0, &ts);
	pthread_mutex_lock(&d->mu);
	while (!d->fetched && !d->stop)
		if (pthread_cond_timedwait(&d->cond, &d->mu, &ts) == ETIMEDOUT)
			break;
	ready = d->set != NULL;
	pthread_mutex_unlock(&d->mu);
	return ready;
}

int gate_dir_ready(struct gate_dir *d)
{
	int ready;

	pthread_mutex_lock(&d->mu);
	ready = d->set != NULL;
	pthread_mutex_unlock(&d->mu);
	return ready;
}

int gate_dir_verifier(struct gate_dir *d, const uint8_t id[32],
		      struct tt_key **out)
{
	size_t i;
	int rc = PP_ERR_UNKNOWN_KEY;

	*out = NULL;
	pthread_mutex_lock(&d->mu);
	if (!d->set) {
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	for (i = 0; i < d->set->n; i++) {
		const struct gd_key *k = &d->set->keys[i];

		if (memcmp(k->id, id, 32))
			continue;
		if (!k->v) {
			rc = PP_ERR_TOKEN_TYPE;
			goto cleanup;
		}
		*out = tt_key_ref(k->v);
		rc = 0;
		goto cleanup;
	}
	d->kicked = 1;
	pthread_cond_broadcast(&d->cond);
cleanup:
	pthread_mutex_unlock(&d->mu);
	return rc;
}

int gate_dir_token_key(struct gate_dir *d, uint16_t type, int64_t now,
		       uint8_t *pub, size_t cap, size_t *len)
{
	const struct gd_key *pick = NULL;
	size_t i;
	int rc = PP_ERR_UNKNOWN_KEY;

	*len = 0;
	pthread_mutex_lock(&d->mu);
	if (!d->set) {
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	for (i = 0; i < d->set->n; i++) {
		const struct gd_key *k = &d->set->keys[i];

		if (k->tt->type != type)
			continue;
		if (k->not_before <= now) {
			pick = k;
			break;
		}
		if (!pick)
			pick = k;
	}
	if (pick) {
		rc = PP_ERR_BUFFER;
		if (pick->pub_len <= cap) {
			memcpy(pub, pick->pub, pick->pub_len);
			*len = pick->pub_len;
			rc = 0;
		}
	}
cleanup:
	pthread_mutex_unlock(&d->mu);
	return rc;
}

int gate_dir_types(struct gate_dir *d, uint16_t *types, size_t cap, size_t *n)
{
	size_t i, j;
	int rc = 0;

	*n = 0;
	pthread_mutex_lock(&d->mu);
	if (!d->set) {
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	for (i = 0; i < d->set->n; i++) {
		uint16_t t = d->set->keys[i].tt->type;

		for (j = 0; j < *n && types[j] != t; j++)
			;
		if (j == *n && *n < cap)
			types[(*n)++] = t;
	}
cleanup:
	pthread_mutex_unlock(&d->mu);
	return rc;
}
