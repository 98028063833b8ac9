/* `ppissuer gate` configuration: one table of settings (name, type,
 * default, bounds) in the manner of program/config.c, read from a JSON file
 * (--config or PPISSUER_GATE_CONFIG), then PPISSUER_GATE_<NAME> environment
 * variables, then flags; each later source overrides the earlier one. The
 * gate's environment prefix differs from the issuer's so that one
 * environment (a compose file, a systemd unit) can configure both. */
#ifndef PP_GATE_CONFIG_H
#define PP_GATE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

struct gcfg {
	char *config_file;
	char *listen;
	char *issuer;              /* the issuer's base URL */
	char *data_dir;            /* gate.secret and spent/ */
	char *origin_info;         /* origin names bound into challenges */
	char *token_types;         /* NULL: what the directory lists */
	long challenge_window;     /* seconds */
	char *redeem_secret_file;  /* origin's bearer secret for /redeem */
	long session_ttl;          /* seconds; 0 = off */
	int cookie_secure;
	long issuer_timeout_ms;
	long threads;
	long max_connections;
	long connection_timeout;
	long request_timeout;
	long shutdown_timeout;
	int log_requests;
	char *spent_backend;
	char *redis_host;
	long redis_port;
	char *redis_password;
	long redis_db;
	char *redis_prefix;
	long redis_timeout_ms;
	int redis_allow_volatile;
	long lmdb_map_mb;
	long lmdb_map_max_mb;
};

void gcfg_init(struct gcfg *c);
void gcfg_free(struct gcfg *c);
/* Returns 0, 1 when --help was printed, or PP_ERR_CONFIG with err filled. */
int gcfg_load(struct gcfg *c, int argc, char **argv, char *err, size_t errlen);
void gcfg_usage(FILE *f);

#endif
