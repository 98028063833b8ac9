/* The worker threads of api/workers.h: one mutex-protected FIFO. */
#include "api/workers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/pp_err.h"

#define WK_NICE 5   /* below the loop threads, which run at the default 0 */

struct api_workers {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct api_dq q;
	int stop;
	unsigned n;
	pthread_t th[];
};

static void *wk_run(void *arg)
{
	struct api_workers *w = arg;
	struct api_deferred *d;

	(void)pthread_setname_np(pthread_self(), "pp-work");
	/* per thread on Linux: only this thread yields to the loop threads */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WK_NICE);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while ((d = api_dq_pop(&w->q)) == NULL && !w->stop)
			pthread_cond_wait(&w->cond, &w->mu);
		if (d == NULL)
			break;   /* stopping, and nothing left */
		pthread_mutex_unlock(&w->mu);
		d->run(d);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int api_workers_start(unsigned n, struct api_workers **out, char *err,
		      size_t errlen)
{
	struct api_workers *w;
	unsigned i;

	*out = NULL;
	if (n == 0)
		n = 1;
	w = calloc(1, sizeof(*w) + n * sizeof(w->th[0]));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory for the worker threads");
		return PP_ERR_NOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	for (i = 0; i < n; i++) {
		if (pthread_create(&w->th[i], NULL, wk_run, w) != 0) {
			w->n = i;
			api_workers_stop(w);
			snprintf(err, errlen, "cannot start the worker threads");
			return PP_ERR_NOMEM;
		}
	}
	w->n = n;
	*out = w;
	return 0;
}

void api_workers_submit(struct api_workers *w, struct api_deferred *d)
{
	pthread_mutex_lock(&w->mu);
	api_dq_push(&w->q, d);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

void api_workers_stop(struct api_workers *w)
{
	unsigned i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->n; i++)
		pthread_join(w->th[i], NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
