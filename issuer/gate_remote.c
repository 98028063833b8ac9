/* POST /redeem at the issuer for the gate (see gate_remote.h). */
#include "issuer/gate_remote.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "issuer/log.h"

#define GR_BODY_MAX 2048

struct gr_job {
	struct gr_job *next;
	void (*done)(void *arg, int rc);
	void *arg;
	char body[];                 /* the JSON request */
};

struct gate_remote {
	char *url;
	char *auth;                  /* "Authorization: Bearer ...", guarded */
	unsigned timeout_ms;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct gr_job *head, *tail;
	size_t queued;
	int stop;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	size_t *n = arg;

	(void)data;
	*n += size * nmemb;
	return *n > GR_BODY_MAX ? 0 : size * nmemb;
}

static int remote_post(struct gate_remote *r, CURL *c, const char *body)
{
	struct curl_slist *h = NULL;
	size_t got = 0;
	long status = 0;
	int rc = PP_ERR_UNAVAILABLE;

	h = curl_slist_append(h, "Content-Type: application/json");
	if (r->auth)
		h = curl_slist_append(h, r->auth);
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
	if (curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK) {
		if (status == 200)
			rc = 0;
		else if (status == 409)
			rc = PP_ERR_SPENT;
		else if (status == 403 || status == 400)
			rc = PP_ERR_VERIFY;
		else
			log_warn("gate: the issuer's /redeem answered %ld%s", status,
				 status == 401 ? " (check redeem-secret-file: an origin's secret)" : "");
	} else {
		log_warn("gate: the issuer's /redeem cannot be reached");
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	return rc;
}

static void *remote_thread(void *arg)
{
	struct gate_remote *r = arg;
	CURL *c = curl_easy_init();

	(void)pthread_setname_np(pthread_self(), "pp-gate-remote");
	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct gr_job *j;

		while (!r->head && !r->stop)
			pthread_cond_wait(&r->cond, &r->mu);
		j = r->head;
		if (!j)
			break;
		r->head = j->next;
		if (!r->head)
			r->tail = NULL;
		r->queued--;
		pthread_mutex_unlock(&r->mu);
		j->done(j->arg, r->stop || !c ? PP_ERR_UNAVAILABLE :
						remote_post(r, c, j->body));
		free(j);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	if (c)
		curl_easy_cleanup(c);
	return NULL;
}

int gate_remote_open(const char *issuer_url, const char *bearer,
		     unsigned timeout_ms, struct gate_remote **out)
{
	struct gate_remote *r;
	size_t n;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return PP_ERR_NOMEM;
	n = strlen(issuer_url);
	while (n && issuer_url[n - 1] == '/')
		n--;
	r->url = malloc(n + sizeof("/redeem"));
	if (!r->url)
		goto fail;
	memcpy(r->url, issuer_url, n);
	memcpy(r->url + n, "/redeem", sizeof("/redeem"));
	if (bearer && bearer[0]) {
		size_t len = strlen("Authorization: Bearer ") + strlen(bearer) + 1;

		r->auth = sodium_malloc(len);
		if (!r->auth)
			goto fail;
		snprintf(r->auth, len, "Authorization: Bearer %s", bearer);
	}
	r->timeout_ms = timeout_ms ? timeout_ms : 3000;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pthread_create(&r->thread, NULL, remote_thread, r) != 0) {
		gate_remote_close(r);
		return PP_ERR_INTERNAL;
	}
	r->started = 1;
	*out = r;
	return 0;
fail:
	free(r->url);
	free(r);
	return PP_ERR_NOMEM;
}

void gate_remote_close(struct gate_remote *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mu);
	sodium_free(r->auth);
	free(r->url);
	free(r);
}

int gate_remote_redeem(struct gate_remote *r, const char *token,
		       const char *challenge, void (*done)(void *arg, int rc),
		       void *arg)
{
	struct gr_job *j;
	size_t n;
	int full;

	if (!r || !token || !challenge || !done)
		return PP_ERR_ARG;
	n = strlen(token) + strlen(challenge) + 40;
	j = malloc(sizeof(*j) + n);
	if (!j)
		return PP_ERR_NOMEM;
	j->next = NULL;
	j->done = done;
	j->arg = arg;
	snprintf(j->body, n, "{\"token\":\"%s\",\"challenge\":\"%s\"}", token, challenge);
	pthread_mutex_lock(&r->mu);
	full = r->stop || r->queued >= GATE_REMOTE_QUEUE_MAX;
	if (!full) {
		if (r->tail)
			r->tail->next = j;
		else
			r->head = j;
		r->tail = j;
		r->queued++;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->mu);
	if (full) {
		free(j);
		done(arg, PP_ERR_UNAVAILABLE);
	}
	return 0;
}
