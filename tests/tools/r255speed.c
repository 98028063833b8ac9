/* r255speed: the machine's ristretto255 scalar-multiplication rate with
 * libsodium, on every core at once (the limit bench/voprf.sh sets type-5
 * issuance and redemption beside).
 *
 *   r255speed SECONDS [THREADS]
 *
 * Runs THREADS (default: the online CPUs) threads for SECONDS each of
 * crypto_scalarmult_ristretto255 (variable base) and then of
 * crypto_scalarmult_ristretto255_base, and prints
 *   var=OPS_PER_S base=OPS_PER_S threads=N
 * summed over the threads. Exits 1 with a message on error. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define R255S_MAX_THREADS 256

struct r255s_job {
	double seconds;
	int base;
	unsigned long ops;
	int failed;
};

static double r255s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *r255s_run(void *arg)
{
	struct r255s_job *j = arg;
	unsigned char s[crypto_core_ristretto255_SCALARBYTES];
	unsigned char p[crypto_core_ristretto255_BYTES];
	unsigned char q[crypto_core_ristretto255_BYTES];
	double end = r255s_now() + j->seconds;
	unsigned i;

	crypto_core_ristretto255_random(p);
	crypto_core_ristretto255_scalar_random(s);
	while (r255s_now() < end) {
		for (i = 0; i < 64; i++) {
			/* each result feeds the next: nothing to optimize away */
			if ((j->base ? crypto_scalarmult_ristretto255_base(q, s)
				     : crypto_scalarmult_ristretto255(q, s, p)) != 0) {
				j->failed = 1;
				return NULL;
			}
			if (!j->base)
				memcpy(p, q, sizeof(p));
			s[0] ^= q[1];
		}
		j->ops += 64;
	}
	sodium_memzero(s, sizeof(s));
	return NULL;
}

/* Operations per second over n threads of one kind. */
static double r255s_rate(int base, double seconds, long n)
{
	static struct r255s_job jobs[R255S_MAX_THREADS];
	pthread_t t[R255S_MAX_THREADS];
	unsigned long ops = 0;
	double t0, t1;
	long i;

	t0 = r255s_now();
	for (i = 0; i < n; i++) {
		jobs[i] = (struct r255s_job){ .seconds = seconds, .base = base };
		if (pthread_create(&t[i], NULL, r255s_run, &jobs[i]) != 0) {
			fprintf(stderr, "r255speed: cannot start a thread\n");
			exit(1);
		}
	}
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		if (jobs[i].failed) {
			fprintf(stderr, "r255speed: a scalar multiplication failed\n");
			exit(1);
		}
		ops += jobs[i].ops;
	}
	t1 = r255s_now();
	return (double)ops / (t1 - t0);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0;
	long n = argc > 2 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
	double var, base;

	if (argc < 2 || argc > 3 || seconds <= 0 || seconds > 600 || n < 1 ||
	    n > R255S_MAX_THREADS) {
		fprintf(stderr, "usage: r255speed SECONDS [THREADS]\n");
		return 1;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "r255speed: sodium_init failed\n");
		return 1;
	}
	var = r255s_rate(0, seconds, n);
	base = r255s_rate(1, seconds, n);
	printf("var=%.0f base=%.0f threads=%ld\n", var, base, n);
	return 0;
}
