/* The PKCS#11 backend: the module, the token, the login and the pool of
 * sessions, and how they recover from faults. Key objects and signing are
 * in pkcs11_key.c. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/pp_err.h"
#include "keys/pkcs11_int.h"

#define P11_PIN_MAX 256
#define P11_MAX_SESSIONS 32
#define P11_RETRY_MS 500

/* ---- counters (process-wide, like issuer/metrics.c's) ---- */

const uint64_t p11_lat_le_us[P11_LAT_BUCKETS] = {
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 500000,
};

static struct {
	atomic_ullong ops, errors, recoveries, sum_us, count;
	atomic_ullong bucket[P11_LAT_BUCKETS + 1];
	atomic_int used;
} p11_st;

/* modules initialized by this process, and how many backends use each */
static pthread_mutex_t p11_mod_mu = PTHREAD_MUTEX_INITIALIZER;

void p11_count_sign(uint64_t us, int ok)
{
	size_t i = 0;

	atomic_fetch_add_explicit(&p11_st.ops, 1, memory_order_relaxed);
	if (!ok) {
		atomic_fetch_add_explicit(&p11_st.errors, 1, memory_order_relaxed);
		return;
	}
	while (i < P11_LAT_BUCKETS && us > p11_lat_le_us[i])
		i++;
	atomic_fetch_add_explicit(&p11_st.bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p11_st.sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&p11_st.count, 1, memory_order_relaxed);
}

void p11_stats_get(struct p11_stats *out)
{
	uint64_t acc = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->ops = atomic_load(&p11_st.ops);
	out->errors = atomic_load(&p11_st.errors);
	out->recoveries = atomic_load(&p11_st.recoveries);
	for (i = 0; i <= P11_LAT_BUCKETS; i++) {
		acc += atomic_load(&p11_st.bucket[i]);
		out->lat_bucket[i] = acc;
	}
	out->lat_sum_us = atomic_load(&p11_st.sum_us);
	out->lat_count = atomic_load(&p11_st.count);
}

int p11_in_use(void)
{
	return atomic_load(&p11_st.used);
}

/* ---- return values ---- */

const char *p11_rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
	case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
	case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
	case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
	case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
	case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
	case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_USER_PIN_NOT_INITIALIZED: return "CKR_USER_PIN_NOT_INITIALIZED";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
	case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_DATA_LEN_RANGE: return "CKR_DATA_LEN_RANGE";
	case CKR_DATA_INVALID: return "CKR_DATA_INVALID";
	default: return "a PKCS#11 error";
	}
}

int p11_rv_fatal(CK_RV rv)
{
	switch (rv) {
	case CKR_GENERAL_ERROR:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_DEVICE_REMOVED:
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return 1;
	default:
		return 0;
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the PIN ---- */

/* Reads the PIN into a sodium_malloc'd buffer (the caller wipes and frees
 * it with sodium_free). */
static int pin_read(const struct p11 *b, uint8_t **out, size_t *len,
		    char *err, size_t errlen)
{
	uint8_t *pin = sodium_malloc(P11_PIN_MAX + 1);
	const char *env;
	struct stat sb;
	ssize_t got = 0;
	size_t n = 0;
	int fd = -1, rc = 0;

	*out = NULL;
	*len = 0;
	if (pin == NULL)
		return PP_ERR_NOMEM;
	if (b->pin_file) {
		fd = open(b->pin_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			pp_errf(err, errlen, "cannot read the PKCS#11 PIN file "
				"%s: %s", b->pin_file,
				fd < 0 ? strerror(errno) : "not a regular file");
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		if ((sb.st_mode & 077) != 0) {
			pp_errf(err, errlen, "the PKCS#11 PIN file %s is mode "
				"%04o; run chmod 600 %s", b->pin_file,
				(unsigned)(sb.st_mode & 07777), b->pin_file);
			rc = PP_ERR_PERM;
			goto cleanup;
		}
		while (n <= P11_PIN_MAX) {
			got = read(fd, pin + n, P11_PIN_MAX + 1 - n);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			n += (size_t)got;
		}
		if (got < 0 || n > P11_PIN_MAX) {
			pp_errf(err, errlen, "cannot read the PKCS#11 PIN file "
				"%s: %s", b->pin_file, got < 0 ? strerror(errno)
				: "longer than a PIN");
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
	} else {
		env = getenv("PPISSUER_PKCS11_PIN");
		if (env == NULL || env[0] == '\0') {
			pp_errf(err, errlen, "no PIN for PKCS#11 token '%s': "
				"give --pkcs11-pin-file FILE (mode 0600) or set "
				"PPISSUER_PKCS11_PIN", b->token);
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		n = strlen(env);
		if (n > P11_PIN_MAX) {
			pp_errf(err, errlen, "PPISSUER_PKCS11_PIN is longer "
				"than a PIN");
			rc = PP_ERR_CONFIG;
			goto cleanup;
		}
		memcpy(pin, env, n);
	}
	while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
		n--;
	if (n == 0) {
		pp_errf(err, errlen, "the PKCS#11 PIN is empty");
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	*out = pin;
	*len = n;
	pin = NULL;
cleanup:
	if (fd >= 0)
		close(fd);
	sodium_free(pin);   /* wipes */
	return rc;
}

/* ---- connecting ---- */

static int token_find(struct p11 *b, char *err, size_t errlen)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i;
	CK_TOKEN_INFO ti;
	char label[33], seen[300] = "";
	size_t len, sl;
	CK_RV rv;
	int rc = PP_ERR_NOT_FOUND;

	rv = b->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		slots = calloc(n, sizeof(*slots));
		if (slots == NULL)
			return PP_ERR_NOMEM;
		rv = b->f->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK) {
		pp_errf(err, errlen, "PKCS#11 module %s cannot list its slots "
			"(%s)", b->module, p11_rv_name(rv));
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (b->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(label, ti.label, 32);
		len = 32;
		while (len > 0 && label[len - 1] == ' ')
			len--;
		label[len] = '\0';
		if (strcmp(label, b->token) == 0) {
			b->slot = slots[i];
			rc = 0;
			goto cleanup;
		}
		sl = strlen(seen);
		snprintf(seen + sl, sizeof(seen) - sl, "%s'%s'", sl ? ", " : "",
			 label);
	}
	pp_errf(err, errlen, "no PKCS#11 token labelled '%s' in %s (tokens "
		"present: %s); check --pkcs11-token", b->token, b->module,
		seen[0] ? seen : "none");
cleanup:
	free(slots);
	return rc;
}

static void sessions_close(struct p11 *b)
{
	unsigned i;

	for (i = 0; i < b->n; i++) {
		if (b->s[i].open)
			b->f->C_CloseSession(b->s[i].h);
		b->s[i].open = 0;
	}
}

/* Opens the pool and logs in. The caller holds b->mu and every session's
 * lock (or is the only user). */
static int connect_all(struct p11 *b, char *err, size_t errlen)
{
	uint8_t *pin = NULL;
	size_t pin_len = 0;
	unsigned i;
	CK_RV rv;
	int rc;

	sessions_close(b);
	rc = token_find(b, err, errlen);
	if (rc != 0)
		return rc;
	for (i = 0; i < b->n; i++) {
		rv = b->f->C_OpenSession(b->slot, CKF_SERIAL_SESSION |
					 CKF_RW_SESSION, NULL, NULL,
					 &b->s[i].h);
		if (rv != CKR_OK) {
			pp_errf(err, errlen, "cannot open a session with "
				"PKCS#11 token '%s' (%s)", b->token,
				p11_rv_name(rv));
			rc = p11_rv_fatal(rv) ? PP_ERR_UNAVAILABLE
					      : PP_ERR_INTERNAL;
			goto cleanup;
		}
		b->s[i].open = 1;
	}
	rc = pin_read(b, &pin, &pin_len, err, errlen);
	if (rc != 0)
		goto cleanup;
	rv = b->f->C_Login(b->s[0].h, CKU_USER, pin, (CK_ULONG)pin_len);
	if (rv == CKR_PIN_INCORRECT) {
		pp_errf(err, errlen, "the PIN for PKCS#11 token '%s' is wrong "
			"(CKR_PIN_INCORRECT); put the token's user PIN in the "
			"file named by --pkcs11-pin-file (or in "
			"PPISSUER_PKCS11_PIN) and start again; more wrong PINs "
			"may lock the token", b->token);
		rc = PP_ERR_AUTH;
	} else if (rv == CKR_PIN_LOCKED) {
		pp_errf(err, errlen, "the user PIN of PKCS#11 token '%s' is "
			"locked; unlock it with the token's SO PIN (e.g. "
			"pkcs11-tool --init-pin --login --login-type so)",
			b->token);
		rc = PP_ERR_AUTH;
	} else if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		pp_errf(err, errlen, "cannot log in to PKCS#11 token '%s' (%s)",
			b->token, p11_rv_name(rv));
		rc = p11_rv_fatal(rv) ? PP_ERR_UNAVAILABLE : PP_ERR_AUTH;
	}
cleanup:
	sodium_free(pin);
	if (rc != 0)
		sessions_close(b);
	return rc;
}

/* Reconnects a broken backend; at most every P11_RETRY_MS. */
static int recover(struct p11 *b)
{
	char why[256] = "";
	unsigned i;
	int rc;

	if (atomic_load(&b->healthy))
		return 0;
	if (mono_ms() - atomic_load(&b->last_try_ms) < P11_RETRY_MS)
		return PP_ERR_UNAVAILABLE;
	pthread_mutex_lock(&b->mu);
	if (atomic_load(&b->healthy)) {
		pthread_mutex_unlock(&b->mu);
		return 0;
	}
	atomic_store(&b->last_try_ms, mono_ms());
	for (i = 0; i < b->n; i++)
		pthread_mutex_lock(&b->s[i].mu);
	rc = connect_all(b, why, sizeof(why));
	if (rc == 0) {
		atomic_fetch_add(&b->gen, 1);
		atomic_store(&b->healthy, 1);
		atomic_fetch_add_explicit(&p11_st.recoveries, 1,
					  memory_order_relaxed);
		b->why[0] = '\0';
	} else {
		snprintf(b->why, sizeof(b->why), "%s", why);
	}
	for (i = 0; i < b->n; i++)
		pthread_mutex_unlock(&b->s[i].mu);
	pthread_mutex_unlock(&b->mu);
	return rc == 0 ? 0 : PP_ERR_UNAVAILABLE;
}

void p11_fault(struct p11 *b, const char *what, CK_RV rv)
{
	pthread_mutex_lock(&b->mu);
	if (atomic_load(&b->healthy))
		snprintf(b->why, sizeof(b->why), "PKCS#11 token '%s': %s "
			 "failed (%s)", b->token, what, p11_rv_name(rv));
	atomic_store(&b->healthy, 0);
	pthread_mutex_unlock(&b->mu);
}

struct p11_sess *p11_sess_get(struct p11 *b)
{
	unsigned start, i;
	struct p11_sess *s;

	if (!atomic_load(&b->healthy) && recover(b) != 0)
		return NULL;
	start = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
	for (i = 0; i < b->n; i++) {
		s = &b->s[(start + i) % b->n];
		if (pthread_mutex_trylock(&s->mu) == 0)
			goto got;
	}
	s = &b->s[start % b->n];
	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
got:
	if (!s->open) {
		/* a recovery failed in between */
		pthread_mutex_unlock(&s->mu);
		return NULL;
	}
	return s;
}

void p11_sess_put(struct p11_sess *s)
{
	if (pthread_mutex_unlock(&s->mu) != 0)
		abort();
}

int p11_health(struct p11 *b, char *msg, size_t msglen)
{
	CK_SESSION_INFO si;
	unsigned i;
	CK_RV rv = CKR_OK;
	int probed = 0;

	if (atomic_load(&b->healthy)) {
		for (i = 0; i < b->n && !probed; i++) {
			if (pthread_mutex_trylock(&b->s[i].mu) != 0)
				continue;
			probed = 1;
			rv = b->s[i].open ? b->f->C_GetSessionInfo(b->s[i].h, &si)
					  : CKR_SESSION_CLOSED;
			if (rv == CKR_OK && si.state != CKS_RW_USER_FUNCTIONS &&
			    si.state != CKS_RO_USER_FUNCTIONS)
				rv = CKR_USER_NOT_LOGGED_IN;
			pthread_mutex_unlock(&b->s[i].mu);
		}
		if (rv != CKR_OK)
			p11_fault(b, "a session check", rv);
	}
	if (recover(b) == 0)
		return 0;
	pthread_mutex_lock(&b->mu);
	snprintf(msg, msglen, "%s", b->why[0] ? b->why : "PKCS#11 token "
		 "unavailable");
	pthread_mutex_unlock(&b->mu);
	return PP_ERR_UNAVAILABLE;
}

/* ---- open and close ---- */

static unsigned default_sessions(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		cpus = 1;
	if (cpus > P11_MAX_SESSIONS / 2)
		cpus = P11_MAX_SESSIONS / 2;
	return (unsigned)cpus * 2;
}

void p11_close(struct p11 *b)
{
	unsigned i;

	if (b == NULL)
		return;
	if (b->f) {
		if (b->s)
			sessions_close(b);
		if (b->finalize) {
			pthread_mutex_lock(&p11_mod_mu);
			b->f->C_Finalize(NULL);
			pthread_mutex_unlock(&p11_mod_mu);
		}
	}
	for (i = 0; b->s && i < b->n; i++)
		pthread_mutex_destroy(&b->s[i].mu);
	free(b->s);
	/* the module stays mapped: it may have started threads of its own */
	free(b->module);
	free(b->pin_file);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

int p11_open(const struct p11_config *c, struct p11 **out, char *err,
	     size_t errlen)
{
	CK_C_INITIALIZE_ARGS ia;
	CK_C_GetFunctionList gfl;
	struct p11 *b = NULL;
	unsigned i;
	CK_RV rv;
	int rc;

	*out = NULL;
	if (sodium_init() < 0)   /* the PIN lives in sodium_malloc'd memory */
		return PP_ERR_INTERNAL;
	if (c == NULL || c->module == NULL || c->token == NULL ||
	    c->token[0] == '\0' || strlen(c->token) > 32) {
		pp_errf(err, errlen, "PKCS#11 needs --pkcs11-module PATH and "
			"--pkcs11-token LABEL (at most 32 characters)");
		return PP_ERR_CONFIG;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return PP_ERR_NOMEM;
	pthread_mutex_init(&b->mu, NULL);
	b->module = strdup(c->module);
	b->pin_file = c->pin_file ? strdup(c->pin_file) : NULL;
	snprintf(b->token, sizeof(b->token), "%s", c->token);
	b->n = c->sessions ? c->sessions : default_sessions();
	if (b->n < 2)
		b->n = 2;
	if (b->n > P11_MAX_SESSIONS)
		b->n = P11_MAX_SESSIONS;
	b->s = calloc(b->n, sizeof(*b->s));
	if (b->module == NULL || b->s == NULL ||
	    (c->pin_file && b->pin_file == NULL)) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	for (i = 0; i < b->n; i++)
		pthread_mutex_init(&b->s[i].mu, NULL);
	b->dl = dlopen(c->module, RTLD_NOW | RTLD_LOCAL);
	if (b->dl == NULL) {
		pp_errf(err, errlen, "cannot load the PKCS#11 module %s (%s); "
			"check --pkcs11-module", c->module, dlerror());
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	*(void **)&gfl = dlsym(b->dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&b->f) != CKR_OK || b->f == NULL) {
		b->f = NULL;
		pp_errf(err, errlen, "%s is not a PKCS#11 module (no "
			"C_GetFunctionList)", c->module);
		rc = PP_ERR_CONFIG;
		goto cleanup;
	}
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	pthread_mutex_lock(&p11_mod_mu);
	rv = b->f->C_Initialize(&ia);
	pthread_mutex_unlock(&p11_mod_mu);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		pp_errf(err, errlen, "PKCS#11 module %s failed to initialize "
			"(%s)", c->module, p11_rv_name(rv));
		b->f = NULL;
		rc = PP_ERR_UNAVAILABLE;
		goto cleanup;
	}
	b->finalize = rv == CKR_OK;
	rc = connect_all(b, err, errlen);
	if (rc != 0)
		goto cleanup;
	atomic_store(&b->healthy, 1);
	atomic_store(&p11_st.used, 1);
	*out = b;
	b = NULL;
cleanup:
	p11_close(b);
	return rc;
}
