/* Integration-test harness: runs the real ppissuer binary on 127.0.0.1 port 0
 * with a temporary data dir, reads the bound port from its log, and speaks
 * real HTTP to it with libcurl. */
#ifndef PP_TH_H
#define PP_TH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct th_server {
	pid_t pid;
	uint16_t port;
	char dir[256];      /* temporary directory (data dir is dir/data) */
	char data_dir[300];
	char log[300];      /* the server's stderr */
};

/* Makes a fresh temporary directory in s->dir (and s->data_dir). */
void th_dir_init(struct th_server *s);
/* Starts `ppissuer serve --listen 127.0.0.1:0 --data-dir <dir>/data <args>`
 * (args NULL-terminated, may be NULL) with extra environment entries env
 * ("NAME=value", NULL-terminated, may be NULL). Fails the test if the server
 * does not report its port within 15 s. th_dir_init must have been called. */
void th_server_start(struct th_server *s, const char *const *args,
		     const char *const *env);
/* Sends SIGTERM and waits; returns the exit status (or -1 if it did not
 * exit normally within 15 s, in which case it is killed). */
int th_server_stop(struct th_server *s);
/* Removes the temporary directory. */
void th_dir_cleanup(struct th_server *s);
/* Runs `ppissuer <args>` to completion; returns its exit status and, when
 * out is not NULL, its stdout+stderr (malloc'd). */
int th_run(const char *const *args, char **out);

struct th_resp {
	long status;
	uint8_t *body;
	size_t len;
	char *headers;   /* raw response header block */
};

/* One HTTP request on a fresh connection. headers: NULL-terminated list of
 * "Name: value" lines, may be NULL. Returns 0 when a response arrived. */
int th_http(const struct th_server *s, const char *method, const char *path,
	    const char *const *headers, const void *body, size_t len,
	    struct th_resp *out);
/* A response header's value (case-insensitive name), copied into buf, or
 * NULL when absent. */
const char *th_header(const struct th_resp *r, const char *name, char *buf,
		      size_t cap);
void th_resp_free(struct th_resp *r);
/* Whether the server's log contains text. */
int th_log_contains(const struct th_server *s, const char *text);

/* Client side: fetches the directory's first token-key and makes a
 * TokenRequest for a fresh token input; keeps what is needed to finalize. */
struct th_client {
	uint8_t spki[1100];
	size_t spki_len;
	uint8_t key_id[32];
	void *pk;          /* EVP_PKEY * */
	uint8_t input[98];
	uint8_t inv[256];
	uint8_t request[259];
};
void th_client_init(struct th_client *c, const struct th_server *s);
void th_client_from_spki(struct th_client *c, const uint8_t *spki, size_t len);
void th_client_request(struct th_client *c);
/* Finalizes a 256-byte response; returns 0 when the token verifies, and
 * writes the 354-byte token to token (may be NULL). */
int th_client_finalize(struct th_client *c, const uint8_t *resp, size_t len,
		       uint8_t *token);
void th_client_free(struct th_client *c);

/* ---- clients, TLS and raw sockets (tests of issue 6) ---- */

/* The port in the last log line containing needle ("...:PORT"), or 0. */
uint16_t th_log_port(const struct th_server *s, const char *needle);
/* Runs sh -c cmd (fixtures such as openssl); returns its exit status and,
 * when out is not NULL, its stdout+stderr (malloc'd). */
int th_sh(const char *cmd, char **out);
/* `ppissuer clients add NAME --role ROLE <extra>` in s's data dir; fails the
 * test unless it succeeds; returns the printed secret (malloc'd). */
char *th_clients_add(const struct th_server *s, const char *name,
		     const char *role, const char *const *extra);
/* `ppissuer clients <args>` in s's data dir; returns the exit status. */
int th_clients(const struct th_server *s, const char *const *args);

struct th_tls {
	const char *ca_file;    /* trusted for the server's certificate */
	const char *cert_file;  /* client certificate, or NULL for none */
	const char *key_file;
};
/* Like th_http, over HTTPS to 127.0.0.1:port with real verification of the
 * server certificate. Returns 0 when a response arrived. */
int th_https(uint16_t port, const struct th_tls *t, const char *method,
	     const char *path, const char *const *headers, const void *body,
	     size_t len, struct th_resp *out);
/* An open TCP connection to 127.0.0.1:port (fails the test otherwise). */
int th_connect(uint16_t port);

/* ---- helpers shared by the suites (one copy each; use these rather than
 * a local version) ---- */

/* Sleeps ms milliseconds. */
void th_sleep_ms(long ms);
/* Monotonic clock in seconds, for measuring how long something took. */
double th_now_s(void);

/* Runs sh -c on a printf-formatted command and fails the test unless it
 * exits 0 (fixtures: openssl, mv, cp of files in a data dir). */
void th_sh_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `ppissuer keys <args> --data-dir <s's data dir>`; fails the test unless it
 * exits 0. args is NULL-terminated. */
void th_keys_cmd(const struct th_server *s, const char *const *args);
/* The same, returning its exit status and its output in *out (free()). */
int th_keys_run(const struct th_server *s, const char *const *args, char **out);

/* Issues one token: a fresh TokenRequest from c to s's /token-request (no
 * Authorization), which must answer 200 with a signature that verifies;
 * writes the token as padded base64url to b64 (cap bytes). */
void th_issue(const struct th_server *s, struct th_client *c, char *b64, size_t cap);
/* POST /redeem with the JSON body json; returns the status. When out is not
 * NULL, the answer must be JSON and *out gets it (caller json_decref()s). */
long th_redeem_json(const struct th_server *s, const char *json, json_t **out);
/* th_redeem_json with {"token":"<b64>"}. */
long th_redeem_token(const struct th_server *s, const char *b64, json_t **out);
/* POST /redeem {"token":"<b64>"}; returns the status and, when body is not
 * NULL, the answer's text (truncated to cap). */
long th_redeem(const struct th_server *s, const char *b64, char *body, size_t cap);
/* POST /redeem {"token":"<b64>","spend":false} (verify only); the status. */
long th_redeem_check(const struct th_server *s, const char *b64);

/* GET path; returns the status and the body in *body (malloc'd,
 * NUL-terminated). */
long th_get(const struct th_server *s, const char *path, char **body);
/* GET /metrics (with Authorization: Bearer secret unless secret is NULL),
 * which must answer 200; the text, malloc'd. */
char *th_metrics_text(const struct th_server *s, const char *secret);
/* The metrics text once it contains want (up to 1 s; a request is counted
 * just after its response is sent, so the next request may overtake that);
 * the last text read otherwise. malloc'd. */
char *th_metrics_wait(const struct th_server *s, const char *want);
/* Whether GET /metrics contains line (any status). */
int th_metrics_has(const struct th_server *s, const char *line);
/* The number after the first metric line that starts with name (labels
 * included, e.g. "x_total{a=\"b\"} "), or -1 when absent. */
double th_metric_value(const struct th_server *s, const char *name);
/* Waits up to ms milliseconds for the server's log to contain text, checking
 * every 100 ms; returns whether it did. */
int th_log_wait(const struct th_server *s, const char *text, long ms);

/* A TCP connection to 127.0.0.1:port from the local address src (e.g.
 * "127.0.0.2"), or the test fails. */
int th_connect_from(const char *src, uint16_t port);
/* Reads one response on fd until deadline (th_now_s() clock) and returns its
 * status code, or 0 when none came in time. One recv: for small answers. */
int th_read_status(int fd, double deadline);

#endif
