/* `ppissuer gate`: the composition root of the forward-auth service. Reads
 * the gate's configuration, its secret, opens its spent store, starts the
 * directory cache and the remote redeemer (issuer/), the HTTP listener
 * (api/), then waits for signals; SIGTERM/SIGINT drain and exit 0. */
#include "program/gate.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/gate.h"
#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "issuer/gate.h"
#include "issuer/gate_dir.h"
#include "issuer/gate_remote.h"
#include "issuer/log.h"
#include "issuer/spent.h"
#include "program/config.h"
#include "program/gate_config.h"

#define GATE_PURGE_S 3600

/* The issuer name of challenges: the host of the issuer URL. */
static int issuer_host(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://"), *end, *at;
	size_t n;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return PP_ERR_CONFIG;
		p++;
		n = (size_t)(rb - p);
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));

		n = (size_t)((colon ? colon : end) - p);
	}
	if (n == 0 || n >= cap)
		return PP_ERR_CONFIG;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* The origin's bearer secret: one line, in a file group and others cannot
 * read. */
static int read_secret_file(const char *path, char **out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd, rc = PP_ERR_IO;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		pp_errf(err, errlen, "redeem-secret-file %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (st.st_mode & 077) {
		pp_errf(err, errlen, "%s is mode 0%03o; run chmod 600 %s", path,
			(unsigned)(st.st_mode & 0777), path);
		rc = PP_ERR_PERM;
		goto cleanup;
	}
	buf = sodium_malloc(512);
	if (!buf) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	n = read(fd, buf, 511);
	if (n <= 0) {
		pp_errf(err, errlen, "redeem-secret-file %s is empty", path);
		goto cleanup;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (buf)
		sodium_free(buf);
	return rc;
}

static int parse_types(const char *text, uint16_t *types, size_t *n,
		       char *err, size_t errlen)
{
	char *list = strdup(text), *save = NULL, *tok;
	int rc = 0;

	*n = 0;
	if (!list)
		return PP_ERR_NOMEM;
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		const struct tt_ops *tt = tt_parse(tok);

		if (!tt || *n == GATE_TYPES_MAX) {
			pp_errf(err, errlen, "token-types: '%s' is not a token type the gate can check",
				tok);
			rc = PP_ERR_CONFIG;
			break;
		}
		types[(*n)++] = tt->type;
	}
	free(list);
	return rc;
}

static int open_spent(const struct gcfg *c, struct spent_store **out,
		      char *err, size_t errlen)
{
	struct spent_config sc;

	memset(&sc, 0, sizeof(sc));
	sc.backend = c->spent_backend;
	sc.data_dir = c->data_dir;
	sc.lmdb_map_size = (size_t)c->lmdb_map_mb << 20;
	sc.lmdb_map_max = (size_t)c->lmdb_map_max_mb << 20;
	sc.redis_host = c->redis_host;
	sc.redis_port = (unsigned)c->redis_port;
	sc.redis_password = c->redis_password;
	sc.redis_db = (unsigned)c->redis_db;
	sc.redis_prefix = c->redis_prefix;
	sc.redis_timeout_ms = (unsigned)c->redis_timeout_ms;
	sc.redis_allow_volatile = c->redis_allow_volatile;
	return spent_open(&sc, out, err, errlen);
}

static int wait_signal(struct spent_store *spent)
{
	sigset_t set;
	siginfo_t info;
	struct timespec ts;
	time_t next_purge = time(NULL) + 60;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		/* short waits flush gathered request lines promptly */
		ts.tv_sec = 0;
		ts.tv_nsec = LOG_FLUSH_MS * 1000000L;
		sig = sigtimedwait(&set, &info, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		/* records outlive their challenge window by a minute only */
		if (time(NULL) >= next_purge) {
			uint64_t removed = 0;

			spent_purge_expired(spent, (int64_t)time(NULL), &removed);
			next_purge = time(NULL) + GATE_PURGE_S;
		}
		log_flush();
	}
}

int gate_main(int argc, char **argv)
{
	struct gcfg c;
	struct gate_cfg gc;
	struct api_gate_opts ao;
	struct api_gate *api = NULL;
	struct gate *g = NULL;
	struct gate_dir *dir = NULL;
	struct gate_remote *remote = NULL;
	struct spent_store *spent = NULL;
	uint8_t *secret = NULL;
	char *bearer = NULL;
	uint16_t types[GATE_TYPES_MAX];
	size_t n_types = 0;
	char err[512] = "", host[256], iname[256];
	uint16_t port;
	sigset_t set;
	int rc, ret = 1, sig;

	gcfg_init(&c);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = gcfg_load(&c, argc, argv, err, sizeof(err));
	if (rc == 1) {
		ret = 0;
		goto cleanup;
	}
	if (rc == 0 && cfg_addr_parse(c.listen, host, sizeof(host), &port) != 0)
		pp_errf(err, sizeof(err), "listen must be ADDR:PORT, e.g. 127.0.0.1:8090");
	if (rc == 0 && !err[0] && issuer_host(c.issuer, iname, sizeof(iname)) != 0)
		pp_errf(err, sizeof(err), "issuer: '%s' has no host", c.issuer);
	if (rc == 0 && !err[0] && c.token_types)
		parse_types(c.token_types, types, &n_types, err, sizeof(err));
	if (rc != 0 || err[0]) {
		fprintf(stderr, "ppissuer gate: %s\n", err);
		ret = 2;
		goto cleanup;
	}
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("gate: libsodium or libcurl failed to initialise");
		goto cleanup;
	}
	if (gate_secret_load(c.data_dir, &secret, err, sizeof(err)) != 0) {
		log_error("gate: %s", err);
		goto cleanup;
	}
	if (c.redeem_secret_file &&
	    read_secret_file(c.redeem_secret_file, &bearer, err, sizeof(err)) != 0) {
		log_error("gate: %s", err);
		goto cleanup;
	}
	if (open_spent(&c, &spent, err, sizeof(err)) != 0) {
		log_error("gate: cannot open the spent-token store: %s", err);
		goto cleanup;
	}
	if (gate_dir_open(c.issuer, (unsigned)c.issuer_timeout_ms, &dir, err,
			  sizeof(err)) != 0 ||
	    gate_remote_open(c.issuer, bearer, (unsigned)c.issuer_timeout_ms,
			     &remote) != 0) {
		log_error("gate: %s", err[0] ? err : "cannot start");
		goto cleanup;
	}
	if (!gate_dir_wait(dir, (unsigned)c.issuer_timeout_ms + 500))
		log_warn("gate: no directory from %s yet: every request answers 503 "
			 "until one is read (retrying every %d s)", c.issuer,
			 GATE_DIR_RETRY_S);
	memset(&gc, 0, sizeof(gc));
	gc.issuer_name = iname;
	gc.origin_info = c.origin_info;
	gc.window_s = (unsigned)c.challenge_window;
	gc.session_ttl = (unsigned)c.session_ttl;
	gc.cookie_secure = c.cookie_secure;
	gc.types = n_types ? types : NULL;
	gc.n_types = n_types;
	gc.secret = secret;
	gc.dir = dir;
	gc.spent = spent;
	gc.remote = remote;
	if (gate_new(&gc, &g) != 0)
		goto cleanup;
	memset(&ao, 0, sizeof(ao));
	ao.host = host;
	ao.port = port;
	ao.threads = (unsigned)c.threads;
	ao.max_connections = (unsigned)c.max_connections;
	ao.connection_timeout = (unsigned)c.connection_timeout;
	ao.request_timeout = (unsigned)c.request_timeout;
	ao.log_requests = c.log_requests;
	ao.cookie_secure = c.cookie_secure;
	ao.gate = g;
	ao.dir = dir;
	if (api_gate_start(&ao, &api, err, sizeof(err)) != 0) {
		log_error("gate: %s", err);
		goto cleanup;
	}
	log_info("gate for %s, issuer %s (name %s), window %ld s, sessions %s",
		 c.origin_info, c.issuer, iname, c.challenge_window,
		 c.session_ttl ? "on" : "off");
	log_info("listening on %s:%u", host, api_gate_port(api));
	sig = wait_signal(spent);
	log_info("%s received, draining in-flight requests",
		 sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "error");
	api_gate_drain(api, (unsigned)c.shutdown_timeout);
	spent_shutdown(spent);
	gate_remote_close(remote);
	remote = NULL;
	api_gate_stop(api);
	api = NULL;
	log_info("stopped");
	ret = sig < 0 ? 1 : 0;
cleanup:
	if (api) {
		spent_shutdown(spent);
		gate_remote_close(remote);
		remote = NULL;
		api_gate_stop(api);
	}
	gate_free(g);
	gate_remote_close(remote);
	gate_dir_close(dir);
	spent_close(spent);
	gate_secret_free(secret);
	if (bearer)
		sodium_free(bearer);
	gcfg_free(&c);
	curl_global_cleanup();
	log_flush();
	return ret;
}
