#include "tu_spent.h"

#include <criterion/criterion.h>
#include <pthread.h>

/* One answer to wait for, on the waiting thread's stack. */
struct tu_spent_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int rc;
};

static void tu_spent_done(void *arg, int rc)
{
	struct tu_spent_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->rc = rc;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Submits with w as done's argument (record: expires_at > 0; lookup:
 * expires_at 0) and waits for the answer. */
static int tu_spent_call(struct spent_store *s, const uint8_t *key_id,
			 const uint8_t *nonce, int64_t expires_at, int record)
{
	struct tu_spent_wait w;
	int rc;

	w.done = 0;
	w.rc = 0;
	cr_assert_eq(pthread_mutex_init(&w.mu, NULL), 0);
	cr_assert_eq(pthread_cond_init(&w.cv, NULL), 0);
	if (record)
		rc = spent_submit(s, key_id, nonce, expires_at, tu_spent_done, &w);
	else
		rc = spent_contains_submit(s, key_id, nonce, tu_spent_done, &w);
	if (rc == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		rc = w.rc;
		pthread_mutex_unlock(&w.mu);
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}

int tu_spent_record(struct spent_store *s,
		    const uint8_t key_id[SPENT_KEY_ID_LEN],
		    const uint8_t nonce[SPENT_NONCE_LEN], int64_t expires_at)
{
	return tu_spent_call(s, key_id, nonce, expires_at, 1);
}

int tu_spent_contains(struct spent_store *s,
		      const uint8_t key_id[SPENT_KEY_ID_LEN],
		      const uint8_t nonce[SPENT_NONCE_LEN])
{
	return tu_spent_call(s, key_id, nonce, 0, 0);
}
