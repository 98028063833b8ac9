/* The gate: a forward-auth service for an origin (`ppissuer gate`). It
 * challenges clients with RFC 9577 PrivateToken challenges, checks the
 * tokens they bring and spends each once, and optionally lets a client
 * through on an HMAC-signed session cookie afterwards.
 *
 * Challenges are stateless: the redemption context of window w (w = now /
 * window seconds) is HMAC-SHA256(secret, "ppgate challenge v1" || w), so the
 * gate stores nothing per challenge and accepts a token whose challenge
 * digest matches window w or w - 1 (gate_window.c). Publicly verifiable
 * tokens are checked with the issuer's directory (gate_dir.c) and spent in
 * the gate's own spent store; privately verifiable ones go to the issuer's
 * POST /redeem (gate_remote.c). When a store, the directory or the issuer
 * cannot answer, the verdict is GATE_UNAVAILABLE: never an allow.
 *
 * This file: the decision (gate.c). */
#ifndef PP_GATE_H
#define PP_GATE_H

#include <stddef.h>
#include <stdint.h>

#define GATE_SECRET_LEN 32
#define GATE_CONTEXT_LEN 32
#define GATE_COOKIE_NAME "ppgate_session"
#define GATE_COOKIE_MAX 128          /* the value, base64url */
#define GATE_CHALLENGE_MAX 4096      /* a whole WWW-Authenticate value */
#define GATE_TYPES_MAX 8

/* ---- challenge windows and session cookies (gate_window.c) ---- */

/* The window number of unix time now. window_s >= 1. */
uint64_t gate_window_of(int64_t now, unsigned window_s);
/* The redemption context of window w under secret. */
void gate_window_context(const uint8_t secret[GATE_SECRET_LEN], uint64_t w,
			 uint8_t out[GATE_CONTEXT_LEN]);
/* Encodes the TokenChallenge of window w: token_type, issuer_name, the
 * window's redemption context, origin_info. PP_ERR_BUFFER / PP_ERR_ARG. */
int gate_challenge_encode(const uint8_t secret[GATE_SECRET_LEN], uint64_t w,
			  uint16_t token_type, const char *issuer_name,
			  const char *origin_info, uint8_t *out, size_t cap,
			  size_t *out_len);

/* A session cookie value (base64url of expiry || HMAC over the origin and
 * the expiry), NUL-terminated. PP_ERR_BUFFER when cap is short. */
int gate_cookie_make(const uint8_t secret[GATE_SECRET_LEN],
		     const char *origin_info, int64_t expires_at, char *out,
		     size_t cap);
/* Checks a cookie value: 0 when it was made by this secret for this origin
 * and has not expired at now; PP_ERR_VERIFY otherwise (any damage, another
 * origin, another secret, expired). */
int gate_cookie_check(const uint8_t secret[GATE_SECRET_LEN],
		      const char *origin_info, const char *value, size_t len,
		      int64_t now);
/* Finds GATE_COOKIE_NAME in a Cookie header value; a view into it (NULL
 * when absent). */
const char *gate_cookie_find(const char *header, size_t *len);

/* ---- the gate's secret (gate_secret.c) ---- */

/* Loads <data_dir>/gate.secret (32 bytes, mode 0600), creating it (0700
 * directory, O_EXCL, fsync, rename) when missing. The buffer is
 * sodium_malloc'd: free with gate_secret_free. Refuses a file that group or
 * others can read, with the chmod to run in err. */
int gate_secret_load(const char *data_dir, uint8_t **out, char *err,
		     size_t errlen);
void gate_secret_free(uint8_t *secret);

/* ---- the decision (gate.c) ---- */

struct spent_store;
struct gate_dir;
struct gate_remote;

struct gate_cfg {
	const char *issuer_name;      /* host of the issuer URL */
	const char *origin_info;      /* origin names, comma-separated */
	unsigned window_s;            /* challenge window, seconds */
	unsigned session_ttl;         /* seconds; 0 = no sessions */
	int cookie_secure;            /* Set-Cookie carries Secure */
	const uint16_t *types;        /* types to challenge for; NULL = every
				       * type the directory lists that the gate
				       * can check */
	size_t n_types;
	const uint8_t *secret;        /* GATE_SECRET_LEN; borrowed */
	struct gate_dir *dir;         /* borrowed */
	struct spent_store *spent;    /* borrowed */
	struct gate_remote *remote;   /* borrowed; NULL: no private types */
};

enum gate_verdict {
	GATE_NONE = 0,
	GATE_ALLOW,          /* 200 */
	GATE_DENY,           /* 401 with a fresh challenge */
	GATE_UNAVAILABLE,    /* 503: cannot decide now; never allow */
	GATE_VERDICT_COUNT
};

enum gate_reason {
	GATE_R_NONE = 0,
	GATE_R_NO_TOKEN,        /* no credentials */
	GATE_R_MALFORMED,       /* Authorization or token malformed */
	GATE_R_TOKEN_TYPE,      /* a type the gate does not accept */
	GATE_R_CHALLENGE,       /* not made for a current challenge */
	GATE_R_UNKNOWN_KEY,     /* key id not in the directory */
	GATE_R_BAD_SIGNATURE,   /* does not verify */
	GATE_R_SPENT,           /* already redeemed */
	GATE_R_SESSION,         /* a session cookie that is not valid */
	GATE_R_NO_DIRECTORY,    /* no directory from the issuer yet */
	GATE_R_STORE,           /* spent store cannot answer */
	GATE_R_ISSUER,          /* the issuer's /redeem cannot answer */
	GATE_R_INTERNAL,
	GATE_R_MISSING_EXT,     /* a 0xDA7A token without its extensions= */
	GATE_R_UNEXPECTED_EXT,  /* extensions= with a type that binds none */
	GATE_R_EXPIRED,         /* its Extensions' expiration has passed */
	GATE_REASON_COUNT
};

struct gate_result {
	enum gate_verdict verdict;
	enum gate_reason reason;
	int session;                 /* allowed on a session cookie */
	uint16_t token_type;         /* of the accepted token */
	char key_id[65];             /* hex, of the accepted token; "" */
	char cookie[GATE_COOKIE_MAX];/* a new session cookie value, or "" */
	long cookie_max_age;
};

struct gate;

int gate_new(const struct gate_cfg *cfg, struct gate **out);
void gate_free(struct gate *g);

/* Decides one request from its Authorization and Cookie header values
 * (either may be NULL). done(arg, res) runs exactly once: before this
 * returns, or on the spent store's or the remote redeemer's thread. done
 * must be quick; res lives only during the call. Returns 0 (done will be or
 * was called) or PP_ERR_ARG / PP_ERR_NOMEM (done is not called). */
int gate_decide(struct gate *g, const char *authorization,
		const char *cookie, void (*done)(void *arg,
						 const struct gate_result *res),
		void *arg);

/* The WWW-Authenticate value for now: one challenge per accepted type
 * whose key the directory lists. PP_ERR_UNAVAILABLE when there is none
 * (no directory yet). */
int gate_challenge_header(struct gate *g, char *out, size_t cap);

/* Stable short names of reasons (headers, logs). */
const char *gate_reason_name(enum gate_reason r);

#endif
