#include "program/serve_clients.h"

#include <stdio.h>
#include <string.h>

#include "base/pp_err.h"
#include "program/config.h"
#include "issuer/log.h"
#include "issuer/ratelimit.h"

static void warn_if_open(const struct cl_registry *r, int require_auth,
			 const char *label)
{
	if (cl_registry_count(r) == 0 && !require_auth)
		log_warn("%sOPEN MODE: no attester or origin is registered, so /token-request "
			 "and /redeem accept anyone. Fine for local development only; run "
			 "'ppissuer clients add NAME --role attester' (and start with "
			 "--require-auth) before exposing this server", label);
}

int srv_clients_open(struct srv_clients *sc, const struct cfg *c,
		     const char *label, char *err, size_t errlen)
{
	struct cl_registry *reg = NULL;
	struct rl_opts ro;
	char lerr[512] = "";
	int rc;

	memset(sc, 0, sizeof(*sc));
	sc->data_dir = c->data_dir;
	snprintf(sc->label, sizeof(sc->label), "%s", label ? label : "");
	rc = cl_registry_load(c->data_dir, &reg, lerr, sizeof(lerr));
	if (rc) {
		snprintf(err, errlen, "cannot load the client registry: %s", lerr);
		return rc;
	}
	if (cl_registry_count(reg) == 0 && c->require_auth) {
		snprintf(err, errlen, "require-auth is set but no client is registered in "
			 "%s/%s; run 'ppissuer clients add NAME --role attester --data-dir %s' "
			 "first", c->data_dir, CL_FILE, c->data_dir);
		cl_registry_unref(reg);
		return PP_ERR_CONFIG;
	}
	warn_if_open(reg, c->require_auth, sc->label);
	snprintf(sc->fingerprint, sizeof(sc->fingerprint), "%s", cl_registry_fingerprint(reg));
	log_info("%sclients loaded: %zu registered", sc->label, cl_registry_count(reg));
	rc = cl_current_new(reg, &sc->current);
	if (rc) {
		cl_registry_unref(reg);
		return rc;
	}
	memset(&ro, 0, sizeof(ro));
	ro.global.rate = (double)c->global_rate;
	ro.global.burst = (unsigned long)c->global_burst;
	return rl_new(&ro, &sc->limits);
}

void srv_clients_reload(struct srv_clients *sc, const char *why)
{
	struct cl_registry *reg = NULL;
	char err[512] = "";
	int rc;

	if (!sc->current)
		return;
	rc = cl_registry_load(sc->data_dir, &reg, err, sizeof(err));
	if (rc) {
		log_error("%sclient reload (%s) failed, still using the previous "
			  "clients: %s", sc->label, why, err[0] ? err : pp_err_str(rc));
		return;
	}
	snprintf(sc->fingerprint, sizeof(sc->fingerprint), "%s", cl_registry_fingerprint(reg));
	log_info("%sclients loaded (%s): %zu registered", sc->label, why,
		 cl_registry_count(reg));
	cl_current_swap(sc->current, reg);
}

void srv_clients_tick(struct srv_clients *sc)
{
	char fp[CL_FP_LEN];

	if (!sc->current || cl_file_fingerprint(sc->data_dir, fp) != 0)
		return;
	if (strcmp(fp, sc->fingerprint) != 0)
		srv_clients_reload(sc, "clients file changed");
}

void srv_clients_close(struct srv_clients *sc)
{
	cl_current_free(sc->current);
	rl_free(sc->limits);
	memset(sc, 0, sizeof(*sc));
}
