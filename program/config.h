/* Server configuration: one table of settings (name, type, default, bounds),
 * read from a JSON file, then PPISSUER_* environment variables, then flags;
 * each later source overrides the earlier one. */
#ifndef PP_CONFIG_H
#define PP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cfg {
	char *listen;              /* ADDR:PORT */
	char *data_dir;
	char *public_url;          /* NULL: publish the relative /token-request */
	char *config_file;
	long threads;              /* 0 = number of CPUs */
	long max_connections;
	long connection_timeout;   /* seconds an idle or slow connection may hold */
	long request_timeout;      /* seconds a whole request may take to arrive */
	long connection_memory;    /* bytes of per-connection buffer */
	long directory_max_age;    /* Cache-Control max-age of the directory */
	long reload_interval;      /* seconds between key-store change checks */
	long shutdown_timeout;     /* seconds to let in-flight requests finish */
	long max_published;        /* keys per token type in the directory */
	long max_published_keys;   /* keys of all types before a warning; 0 = off */
	long max_batch;            /* requests in a generic batch */
	long max_amortized_batch;  /* elements in an amortized batch */
	char *token_types;         /* the token types served: "2", "2,5", names */
	int log_requests;
	int log_client_address;
	/* spent-token store */
	char *spent_backend;       /* "lmdb" or "redis" */
	char *redis_host;
	long redis_port;
	char *redis_password;
	long redis_db;
	char *redis_prefix;
	long redis_timeout_ms;
	char *redis_cluster;       /* seed nodes; NULL = a single Redis */
	long redis_min_replicas;   /* -1 = the backend's default */
	long lmdb_map_mb;
	long lmdb_map_max_mb;      /* the map never grows past this */
	int redis_allow_volatile;  /* serve on a Redis that may lose records */
	/* key lifecycle */
	char *key_secret_file;
	int auto_rotate;
	char *rotate_lifetime;     /* durations as text: "7d", "12h", "90s" */
	char *rotate_lead;
	char *rotate_overlap;
	/* clients: authentication and limits */
	int require_auth;          /* refuse to run without registered clients */
	int metrics_auth;          /* /metrics needs a client's credentials */
	long global_rate;          /* limited requests per second, all clients; 0 = off */
	long global_burst;         /* 0 = the global rate */
	long max_connections_per_ip; /* 0 = no per-address limit */
	/* mutual-TLS listener (optional) */
	char *tls_listen;          /* ADDR:PORT, or NULL for none */
	char *tls_cert;            /* server certificate chain (PEM file) */
	char *tls_key;             /* its private key (PEM file, mode 0600) */
	char *tls_client_ca;       /* CA that issues client certificates (PEM) */
	/* extension policy of token type 0xDA7A (issuer/ext_policy.h) */
	char *ext_allowed_types;   /* extension types attesters may request */
	char *ext_expiry_precisions; /* expiration precisions, seconds */
	long ext_expiry_max_future; /* seconds an expiry may lie ahead */
	/* signing keys in a PKCS#11 token (keys/pkcs11.h); the PIN comes from
	 * pkcs11_pin_file or PPISSUER_PKCS11_PIN, never from a flag */
	char *pkcs11_module;       /* path of the module, NULL: no token */
	char *pkcs11_token;        /* token label */
	char *pkcs11_pin_file;     /* file holding the user PIN (mode 0600) */
	/* several issuers (the config file's issuers section); none: one
	 * issuer, the server itself, as it always was */
	struct cfg_issuer *issuers;
	size_t n_issuers;
};

/* One entry of the issuers section. */
struct cfg_issuer {
	char *name;                /* [a-z0-9-]{1,32} */
	char **hosts;              /* routing forms (lower case, no port) */
	size_t n_hosts;
	struct cfg cfg;            /* the server's settings with the entry's
				    * own on top; cfg.data_dir is the issuer's
				    * <data-dir>/issuers/<name> */
	char *canon;               /* the entry as canonical JSON: a reload
				    * sees whether it changed */
};

/* Fills c with defaults. */
void cfg_init(struct cfg *c);
void cfg_free(struct cfg *c);

/* Loads the file named by --config/PPISSUER_CONFIG (if any), the environment,
 * then argv (getopt_long; argv[0] is the subcommand). Returns 0, 1 when
 * --help was printed, or PP_ERR_CONFIG with err filled. */
int cfg_load(struct cfg *c, int argc, char **argv, char *err, size_t errlen);

/* A deep copy of src's settings into dst (not its issuers). Free with
 * cfg_free. 0 or PP_ERR_NOMEM. */
int cfg_copy(struct cfg *dst, const struct cfg *src);

/* Rereads the issuers section of base->config_file (for a reload), each
 * entry on top of base's settings. No section: *n = 0. Returns 0 or
 * PP_ERR_CONFIG with err filled; *out is freed with cfg_issuers_free. */
int cfg_issuers_reload(const struct cfg *base, struct cfg_issuer **out,
		       size_t *n, char *err, size_t errlen);
void cfg_issuers_free(struct cfg_issuer *v, size_t n);
/* The data directory of issuer name under data_dir (malloc'd), or NULL. */
char *cfg_issuer_dir(const char *data_dir, const char *name);

/* Prints the option list with defaults and environment names. */
void cfg_usage(FILE *f);

/* Splits "ADDR:PORT" (or "[v6]:PORT") into host and port. */
int cfg_addr_parse(const char *addr, char *host, size_t hostlen, uint16_t *port);

/* Splits c->listen into host and port. */
int cfg_listen_addr(const struct cfg *c, char *host, size_t hostlen,
		    uint16_t *port);

#endif
