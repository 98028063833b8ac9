/* The gate's decision for one request (see gate.h): a session cookie, or a
 * token made for one of the two current challenges, verified and spent
 * exactly once. */
#include "issuer/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/authhdr.h"
#include "crypto/b64.h"
#include "crypto/ext.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "issuer/gate_dir.h"
#include "issuer/gate_remote.h"
#include "issuer/spent.h"

#define GATE_TOKEN_MAX 2048          /* decoded token bytes */
#define GATE_CH_MAX 1024             /* an encoded TokenChallenge */
#define GATE_EXT_MAX 4096            /* decoded Extensions, as at /redeem */

struct gate {
	struct gate_cfg cfg;
	char *issuer_name;
	char *origin_info;
	uint16_t types[GATE_TYPES_MAX];
	size_t n_types;
};

/* A decision waiting for the spent store or the issuer. */
struct gate_job {
	struct gate *g;
	void (*done)(void *arg, const struct gate_result *res);
	void *arg;
	struct gate_result res;
	char token[];                /* base64url, for the remote redeemer */
};

static const char *const gate_reasons[GATE_REASON_COUNT] = {
	[GATE_R_NONE] = "none",
	[GATE_R_NO_TOKEN] = "no_token",
	[GATE_R_MALFORMED] = "malformed",
	[GATE_R_TOKEN_TYPE] = "unsupported_token_type",
	[GATE_R_CHALLENGE] = "challenge_mismatch",
	[GATE_R_UNKNOWN_KEY] = "unknown_key",
	[GATE_R_BAD_SIGNATURE] = "bad_signature",
	[GATE_R_SPENT] = "spent",
	[GATE_R_SESSION] = "invalid_session",
	[GATE_R_NO_DIRECTORY] = "no_directory",
	[GATE_R_STORE] = "store_unavailable",
	[GATE_R_ISSUER] = "issuer_unavailable",
	[GATE_R_INTERNAL] = "internal",
	[GATE_R_MISSING_EXT] = "missing_extensions",
	[GATE_R_UNEXPECTED_EXT] = "unexpected_extensions",
	[GATE_R_EXPIRED] = "expired",
};

const char *gate_reason_name(enum gate_reason r)
{
	return (unsigned)r < GATE_REASON_COUNT && gate_reasons[r] ? gate_reasons[r] :
								     "internal";
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

int gate_new(const struct gate_cfg *cfg, struct gate **out)
{
	struct gate *g;

	*out = NULL;
	if (!cfg || !cfg->issuer_name || !cfg->origin_info || !cfg->secret ||
	    !cfg->dir || !cfg->spent || cfg->window_s == 0 ||
	    cfg->n_types > GATE_TYPES_MAX)
		return PP_ERR_ARG;
	g = calloc(1, sizeof(*g));
	if (!g)
		return PP_ERR_NOMEM;
	g->cfg = *cfg;
	g->issuer_name = strdup(cfg->issuer_name);
	g->origin_info = strdup(cfg->origin_info);
	if (!g->issuer_name || !g->origin_info) {
		gate_free(g);
		return PP_ERR_NOMEM;
	}
	if (cfg->types)
		memcpy(g->types, cfg->types, cfg->n_types * sizeof(g->types[0]));
	g->n_types = cfg->types ? cfg->n_types : 0;
	g->cfg.types = NULL;
	*out = g;
	return 0;
}

void gate_free(struct gate *g)
{
	if (!g)
		return;
	free(g->issuer_name);
	free(g->origin_info);
	free(g);
}

/* The types the gate challenges for and accepts now. */
static size_t gate_types(struct gate *g, uint16_t *types, size_t cap)
{
	uint16_t listed[GATE_TYPES_MAX];
	size_t n = 0, i, out = 0;

	if (g->n_types) {
		memcpy(types, g->types, g->n_types * sizeof(types[0]));
		return g->n_types;
	}
	if (gate_dir_types(g->cfg.dir, listed, GATE_TYPES_MAX, &n) != 0)
		return 0;
	for (i = 0; i < n && out < cap; i++) {
		const struct tt_ops *tt = tt_find(listed[i]);

		if (tt && (!tt->private_verify || g->cfg.remote))
			types[out++] = listed[i];
	}
	return out;
}

static void finish(struct gate_job *j)
{
	j->done(j->arg, &j->res);
	free(j);
}

static void allow(struct gate *g, struct gate_result *res, uint16_t type,
		  const uint8_t key_id[32])
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	res->verdict = GATE_ALLOW;
	res->reason = GATE_R_NONE;
	res->token_type = type;
	for (i = 0; i < 32; i++) {
		res->key_id[2 * i] = d[key_id[i] >> 4];
		res->key_id[2 * i + 1] = d[key_id[i] & 15];
	}
	res->key_id[64] = '\0';
	if (g->cfg.session_ttl &&
	    gate_cookie_make(g->cfg.secret, g->origin_info,
			     now_s() + (int64_t)g->cfg.session_ttl, res->cookie,
			     sizeof(res->cookie)) == 0)
		res->cookie_max_age = (long)g->cfg.session_ttl;
}

static void deny(struct gate_result *res, enum gate_verdict v, enum gate_reason r)
{
	res->verdict = v;
	res->reason = r;
}

struct gate_spend {
	struct gate_job *job;
	uint16_t type;
	uint8_t key_id[32];
};

static void on_spent(void *arg, int rc)
{
	struct gate_spend *sp = arg;
	struct gate_job *j = sp->job;

	if (rc == 0)
		allow(j->g, &j->res, sp->type, sp->key_id);
	else if (rc == PP_ERR_SPENT)
		deny(&j->res, GATE_DENY, GATE_R_SPENT);
	else
		deny(&j->res, GATE_UNAVAILABLE, GATE_R_STORE);
	free(sp);
	finish(j);
}

static void on_remote(void *arg, int rc)
{
	struct gate_spend *sp = arg;
	struct gate_job *j = sp->job;

	if (rc == 0)
		allow(j->g, &j->res, sp->type, sp->key_id);
	else if (rc == PP_ERR_SPENT)
		deny(&j->res, GATE_DENY, GATE_R_SPENT);
	else if (rc == PP_ERR_VERIFY)
		deny(&j->res, GATE_DENY, GATE_R_BAD_SIGNATURE);
	else
		deny(&j->res, GATE_UNAVAILABLE, GATE_R_ISSUER);
	free(sp);
	finish(j);
}

/* The token path; ext (may be NULL) is the extensions= text. Returns with
 * j finished or handed to a store. */
static void decide_token(struct gate_job *j, const char *b64, size_t b64_len,
			 const char *ext, size_t ext_len)
{
	struct gate *g = j->g;
	uint8_t raw[GATE_TOKEN_MAX], ch[GATE_CH_MAX], info[GATE_EXT_MAX];
	size_t info_len = 0;
	uint16_t types[GATE_TYPES_MAX];
	struct tok_token t;
	const struct tt_ops *tt;
	struct tt_key *v = NULL;
	struct gate_spend *sp = NULL;
	size_t raw_len = 0, ch_len = 0, n, i;
	uint64_t w;
	int64_t now = now_s();
	int rc, matched = 0;

	if (b64_decode(b64, b64_len, raw, sizeof(raw), &raw_len) != 0) {
		deny(&j->res, GATE_DENY, GATE_R_MALFORMED);
		goto finish;
	}
	rc = tok_token_decode(raw, raw_len, &t);
	if (rc != 0) {
		deny(&j->res, GATE_DENY, rc == PP_ERR_TOKEN_TYPE ? GATE_R_TOKEN_TYPE :
								  GATE_R_MALFORMED);
		goto finish;
	}
	n = gate_types(g, types, GATE_TYPES_MAX);
	for (i = 0; i < n && types[i] != t.token_type; i++)
		;
	tt = tt_find(t.token_type);
	if (i == n || !tt || (tt->private_verify && !g->cfg.remote)) {
		deny(&j->res, GATE_DENY, GATE_R_TOKEN_TYPE);
		goto finish;
	}
	w = gate_window_of(now, g->cfg.window_s);
	for (i = 0; i < 2 && !matched && w >= i; i++) {
		if (gate_challenge_encode(g->cfg.secret, w - i, t.token_type,
					  g->issuer_name, g->origin_info, ch,
					  sizeof(ch), &ch_len) != 0)
			continue;
		matched = tok_challenge_matches(&t, ch, ch_len) == 0;
	}
	if (!matched) {
		deny(&j->res, GATE_DENY, GATE_R_CHALLENGE);
		goto finish;
	}
	/* types whose requests carry Extensions bind the token to them */
	if (tt->request_variable != (ext != NULL)) {
		deny(&j->res, GATE_DENY, ext ? GATE_R_UNEXPECTED_EXT :
					       GATE_R_MISSING_EXT);
		goto finish;
	}
	if (ext && b64_decode(ext, ext_len, info, sizeof(info), &info_len) != 0) {
		deny(&j->res, GATE_DENY, GATE_R_MALFORMED);
		goto finish;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		deny(&j->res, GATE_UNAVAILABLE, GATE_R_INTERNAL);
		goto finish;
	}
	sp->job = j;
	sp->type = t.token_type;
	memcpy(sp->key_id, t.token_key_id, 32);
	if (tt->private_verify) {
		char chb64[GATE_CH_MAX * 2];

		memcpy(j->token, b64, b64_len);
		j->token[b64_len] = '\0';
		if (b64_encode(ch, ch_len, chb64, sizeof(chb64), NULL) != 0 ||
		    gate_remote_redeem(g->cfg.remote, j->token, chb64, on_remote, sp) != 0) {
			deny(&j->res, GATE_UNAVAILABLE, GATE_R_INTERNAL);
			goto finish;
		}
		return;
	}
	rc = gate_dir_verifier(g->cfg.dir, t.token_key_id, &v);
	if (rc != 0) {
		if (rc == PP_ERR_UNAVAILABLE)
			deny(&j->res, GATE_UNAVAILABLE, GATE_R_NO_DIRECTORY);
		else
			deny(&j->res, GATE_DENY, GATE_R_UNKNOWN_KEY);
		goto finish;
	}
	if (tt_verify(v, t.input, TOK_INPUT_LEN, t.authenticator,
		      t.authenticator_len, ext ? info : NULL, info_len) != 0) {
		deny(&j->res, GATE_DENY, GATE_R_BAD_SIGNATURE);
		goto finish;
	}
	/* genuine Extensions: an expired token is refused, and not spent */
	if (ext && (rc = ext_check_expiry(info, info_len, now)) != 0) {
		deny(&j->res, GATE_DENY, rc == PP_ERR_STATE ? GATE_R_EXPIRED :
							      GATE_R_MALFORMED);
		goto finish;
	}
	/* A record is needed only while its challenge is accepted: to the end
	 * of the window after the one it was made in, plus a margin. */
	if (spent_submit(g->cfg.spent, t.token_key_id, t.nonce,
			 (int64_t)(w + 2) * g->cfg.window_s + 60, on_spent, sp) != 0) {
		deny(&j->res, GATE_UNAVAILABLE, GATE_R_STORE);
		goto finish;
	}
	tt_key_free(v);
	return;
finish:
	tt_key_free(v);
	free(sp);
	finish(j);
}

int gate_decide(struct gate *g, const char *authorization,
		const char *cookie, void (*done)(void *arg,
						 const struct gate_result *res),
		void *arg)
{
	struct gate_job *j;
	const char *tok = NULL, *ext = NULL, *cv;
	size_t tok_len = 0, ext_len = 0, cv_len = 0;
	int rc = PP_ERR_NO_CHALLENGE;

	if (!g || !done)
		return PP_ERR_ARG;
	if (authorization && authorization[0])
		rc = ah_parse_authorization_ext(authorization, strlen(authorization),
						&tok, &tok_len, &ext, &ext_len);
	j = calloc(1, sizeof(*j) + (rc == 0 ? tok_len + 1 : 1));
	if (!j)
		return PP_ERR_NOMEM;
	j->g = g;
	j->done = done;
	j->arg = arg;
	if (rc == 0) {
		decide_token(j, tok, tok_len, ext, ext_len);
		return 0;
	}
	if (rc != PP_ERR_NO_CHALLENGE) {
		/* a PrivateToken credential that does not parse */
		deny(&j->res, GATE_DENY, GATE_R_MALFORMED);
	} else if (g->cfg.session_ttl && (cv = gate_cookie_find(cookie, &cv_len)) != NULL) {
		if (gate_cookie_check(g->cfg.secret, g->origin_info, cv, cv_len,
				      now_s()) == 0) {
			j->res.verdict = GATE_ALLOW;
			j->res.session = 1;
		} else {
			deny(&j->res, GATE_DENY, GATE_R_SESSION);
		}
	} else {
		deny(&j->res, GATE_DENY, GATE_R_NO_TOKEN);
	}
	/* a denial needs a challenge, which needs the directory */
	if (j->res.verdict == GATE_DENY && !gate_dir_ready(g->cfg.dir))
		deny(&j->res, GATE_UNAVAILABLE, GATE_R_NO_DIRECTORY);
	finish(j);
	return 0;
}

int gate_challenge_header(struct gate *g, char *out, size_t cap)
{
	uint16_t types[GATE_TYPES_MAX];
	uint8_t ch[GATE_CH_MAX], pub[TT_PUB_MAX];
	size_t n, i, len = 0, ch_len, pub_len, one;
	int64_t now = now_s();
	uint64_t w = gate_window_of(now, g->cfg.window_s);
	long max_age = (long)((int64_t)(w + 2) * g->cfg.window_s - now);
	int any = 0;

	if (cap)
		out[0] = '\0';
	if (!gate_dir_ready(g->cfg.dir))
		return PP_ERR_UNAVAILABLE;
	n = gate_types(g, types, GATE_TYPES_MAX);
	for (i = 0; i < n; i++) {
		if (gate_dir_token_key(g->cfg.dir, types[i], now, pub, sizeof(pub),
				       &pub_len) != 0 ||
		    gate_challenge_encode(g->cfg.secret, w, types[i], g->issuer_name,
					  g->origin_info, ch, sizeof(ch), &ch_len) != 0)
			continue;
		if (any) {
			if (len + 2 >= cap)
				return PP_ERR_BUFFER;
			memcpy(out + len, ", ", 3);
			len += 2;
		}
		if (ah_format_challenge(ch, ch_len, pub, pub_len, max_age, out + len,
					cap - len, &one) != 0) {
			out[0] = '\0';
			return PP_ERR_BUFFER;
		}
		len += one;
		any = 1;
	}
	return any ? 0 : PP_ERR_UNAVAILABLE;
}
