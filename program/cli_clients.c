#include "program/cli_clients.h"
#include "program/cli_issuers.h"

#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/clients.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ppissuer clients <command> [options]\n"
		"\n"
		"commands:\n"
		"  add NAME --role attester|origin|monitor [limits] [cert]\n"
		"                 register a client; prints its secret once on stdout\n"
		"  list [--json]  show registered clients (never their secrets)\n"
		"  set NAME [limits] [cert] [--no-cert] [--new-secret]\n"
		"                 change a client; --new-secret replaces its secret\n"
		"                 (printed once) and lifts a revocation\n"
		"  revoke NAME    refuse the client's secret and certificate from now on\n"
		"\n"
		"limits:\n"
		"  --rate N[/s|/m|/h]   sustained requests per second (0 = unlimited)\n"
		"  --burst N            requests allowed at once (default: the rate, >= 1)\n"
		"  --quota N[/day]      requests per UTC day (0 = unlimited)\n"
		"cert (mutual TLS):\n"
		"  --cert-subject DN    client-certificate subject, RFC 4514 form, as\n"
		"                       printed by: openssl x509 -noout -subject -nameopt RFC2253\n"
		"  --cert-spki-sha256 H SHA-256 (hex) of the certificate's public key (SPKI DER)\n"
		"\n"
		"  --data-dir DIR       where clients.json lives (default ./data;\n"
		"                       PPISSUER_DATA_DIR)\n"
		"  --issuer NAME        the clients of issuer NAME of the issuers section\n"
		"                       (DIR/issuers/NAME/clients.json)\n"
		"\n"
		"A running server applies changes within its reload interval, or at once\n"
		"on SIGHUP.\n");
}

struct cli_args {
	const char *data_dir;
	const char *issuer;
	const char *role;
	const char *rate, *burst, *quota;
	const char *subject, *spki;
	int no_cert, new_secret, json;
	char *pos[4];
	int npos;
};

enum { O_ROLE = 1000, O_RATE, O_BURST, O_QUOTA, O_SUBJECT, O_SPKI, O_NO_CERT,
       O_NEW_SECRET, O_JSON, O_DATA_DIR, O_HELP, O_ISSUER };

static int parse_args(int argc, char **argv, struct cli_args *a)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, O_ROLE },
		{ "rate", required_argument, NULL, O_RATE },
		{ "burst", required_argument, NULL, O_BURST },
		{ "quota", required_argument, NULL, O_QUOTA },
		{ "cert-subject", required_argument, NULL, O_SUBJECT },
		{ "cert-spki-sha256", required_argument, NULL, O_SPKI },
		{ "no-cert", no_argument, NULL, O_NO_CERT },
		{ "new-secret", no_argument, NULL, O_NEW_SECRET },
		{ "json", no_argument, NULL, O_JSON },
		{ "data-dir", required_argument, NULL, O_DATA_DIR },
		{ "issuer", required_argument, NULL, O_ISSUER },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(a, 0, sizeof(*a));
	a->data_dir = getenv("PPISSUER_DATA_DIR");
	if (!a->data_dir || !a->data_dir[0])
		a->data_dir = "./data";
	optind = 0; /* glibc: restart the scan */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (ch) {
		case O_ROLE: a->role = optarg; break;
		case O_RATE: a->rate = optarg; break;
		case O_BURST: a->burst = optarg; break;
		case O_QUOTA: a->quota = optarg; break;
		case O_SUBJECT: a->subject = optarg; break;
		case O_SPKI: a->spki = optarg; break;
		case O_NO_CERT: a->no_cert = 1; break;
		case O_NEW_SECRET: a->new_secret = 1; break;
		case O_JSON: a->json = 1; break;
		case O_DATA_DIR: a->data_dir = optarg; break;
		case O_ISSUER: a->issuer = optarg; break;
		case O_HELP: usage(stdout); return 1;
		default:
			fprintf(stderr, "ppissuer clients: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return 2;
		}
	}
	for (; optind < argc; optind++) {
		if (a->npos >= (int)(sizeof(a->pos) / sizeof(a->pos[0]))) {
			fprintf(stderr, "ppissuer clients: too many arguments\n");
			return 2;
		}
		a->pos[a->npos++] = argv[optind];
	}
	return 0;
}

/* Applies the limit and certificate options to c. */
static int apply_opts(const struct cli_args *a, struct cl_client *c)
{
	if (a->rate && cl_rate_parse(a->rate, &c->rate) != 0) {
		fprintf(stderr, "ppissuer clients: --rate wants N, N/s, N/m or N/h (got '%s')\n",
			a->rate);
		return 2;
	}
	if (a->burst) {
		unsigned long b;

		if (cl_quota_parse(a->burst, &b) != 0 || strchr(a->burst, '/') ||
		    b > 1000000000ul) {
			fprintf(stderr, "ppissuer clients: --burst wants a whole number (got '%s')\n",
				a->burst);
			return 2;
		}
		c->burst = b;
	}
	if (a->quota && cl_quota_parse(a->quota, &c->quota) != 0) {
		fprintf(stderr, "ppissuer clients: --quota wants N or N/day (got '%s')\n",
			a->quota);
		return 2;
	}
	if ((a->subject || a->spki) && a->no_cert) {
		fprintf(stderr, "ppissuer clients: --no-cert cannot be combined with a certificate\n");
		return 2;
	}
	if (a->no_cert) {
		cl_client_set_subject(c, NULL);
		c->has_cert_spki = 0;
		memset(c->cert_spki, 0, sizeof(c->cert_spki));
	}
	if (a->subject && cl_client_set_subject(c, a->subject) != 0) {
		fprintf(stderr, "ppissuer clients: --cert-subject must be 1..%d characters\n",
			CL_SUBJECT_MAX);
		return 2;
	}
	if (a->spki) {
		if (cl_hex32_parse(a->spki, c->cert_spki) != 0) {
			fprintf(stderr, "ppissuer clients: --cert-spki-sha256 wants 64 hex digits\n");
			return 2;
		}
		c->has_cert_spki = 1;
	}
	return 0;
}

static void print_secret(const char *name, const char *secret)
{
	fprintf(stderr, "Secret for client '%s' (shown once; it is not stored, only a hash of it):\n",
		name);
	printf("%s\n", secret);
	fflush(stdout);
}

static int cmd_add(const struct cli_args *a, struct cl_registry *reg,
		   char secret[CL_SECRET_TEXT_LEN + 1])
{
	struct cl_client c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (a->npos != 2 || !cl_name_valid(a->pos[1])) {
		fprintf(stderr, "ppissuer clients add: want one NAME of letters, digits, '.', '_' "
				"or '-' (at most %d, starting with a letter or digit)\n", CL_NAME_MAX);
		return 2;
	}
	if (!a->role || cl_role_parse(a->role, &c.role) != 0) {
		fprintf(stderr, "ppissuer clients add: --role attester, origin or monitor is required\n");
		return 2;
	}
	if (a->new_secret || a->no_cert) {
		fprintf(stderr, "ppissuer clients add: --new-secret and --no-cert belong to 'set'\n");
		return 2;
	}
	if (cl_registry_find(reg, a->pos[1])) {
		fprintf(stderr, "ppissuer clients add: a client named '%s' exists; use 'ppissuer "
				"clients set %s --new-secret' to give it a new secret\n",
			a->pos[1], a->pos[1]);
		return 1;
	}
	memcpy(c.name, a->pos[1], strlen(a->pos[1]) + 1);
	c.created = (int64_t)time(NULL);
	rc = apply_opts(a, &c);
	if (rc == 0 && cl_secret_new(secret, c.secret_hash) != 0)
		rc = 1;
	if (rc == 0 && cl_registry_add(reg, &c) != 0) {
		fprintf(stderr, "ppissuer clients add: cannot add '%s' (at most %d clients)\n",
			c.name, CL_MAX_CLIENTS);
		rc = 1;
	}
	free(c.cert_subject);
	if (rc)
		return rc;
	return -1; /* save, then print the secret */
}

static int cmd_set(const struct cli_args *a, struct cl_registry *reg,
		   char secret[CL_SECRET_TEXT_LEN + 1])
{
	struct cl_client *c;
	int rc;

	if (a->npos != 2) {
		fprintf(stderr, "ppissuer clients set: want one NAME\n");
		return 2;
	}
	if (a->role) {
		fprintf(stderr, "ppissuer clients set: a role cannot change; add a new client\n");
		return 2;
	}
	c = cl_registry_find_mut(reg, a->pos[1]);
	if (!c) {
		fprintf(stderr, "ppissuer clients set: no client named '%s'\n", a->pos[1]);
		return 1;
	}
	rc = apply_opts(a, c);
	if (rc)
		return rc;
	if (a->new_secret) {
		if (cl_secret_new(secret, c->secret_hash) != 0)
			return 1;
		c->revoked = 0;
	}
	return -1;
}

static int cmd_revoke(const struct cli_args *a, struct cl_registry *reg)
{
	struct cl_client *c;

	if (a->npos != 2) {
		fprintf(stderr, "ppissuer clients revoke: want one NAME\n");
		return 2;
	}
	c = cl_registry_find_mut(reg, a->pos[1]);
	if (!c) {
		fprintf(stderr, "ppissuer clients revoke: no client named '%s'\n", a->pos[1]);
		return 1;
	}
	if (c->revoked) {
		fprintf(stderr, "client '%s' is already revoked\n", c->name);
		return 0;
	}
	c->revoked = (int64_t)time(NULL);
	if (c->revoked == 0)
		c->revoked = 1;
	return -1;
}

static json_t *client_json(const struct cl_client *c)
{
	char hex[65];
	json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:I, s:I, s:I}",
			      "name", c->name, "role", cl_role_name(c->role),
			      "state", c->revoked ? "revoked" : "active",
			      "rate", c->rate, "burst", (json_int_t)c->burst,
			      "quota", (json_int_t)c->quota, "created", (json_int_t)c->created);

	if (!o)
		return NULL;
	if (c->revoked)
		json_object_set_new(o, "revoked", json_integer(c->revoked));
	if (c->cert_subject)
		json_object_set_new(o, "cert_subject", json_string(c->cert_subject));
	if (c->has_cert_spki) {
		sodium_bin2hex(hex, sizeof(hex), c->cert_spki, sizeof(c->cert_spki));
		json_object_set_new(o, "cert_spki_sha256", json_string(hex));
	}
	return o;
}

static int cmd_list(const struct cli_args *a, const struct cl_registry *reg)
{
	size_t i, n = cl_registry_count(reg);

	if (a->npos != 1) {
		fprintf(stderr, "ppissuer clients list: takes no arguments\n");
		return 2;
	}
	if (a->json) {
		json_t *arr = json_array();
		char *text;

		for (i = 0; arr && i < n; i++)
			json_array_append_new(arr, client_json(cl_registry_at(reg, i)));
		text = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(arr);
		if (!text)
			return 1;
		printf("%s\n", text);
		free(text);
		return 0;
	}
	if (!n) {
		printf("no clients registered (the server runs open unless --require-auth)\n");
		return 0;
	}
	printf("%-24s %-9s %-8s %10s %7s %10s  %s\n", "NAME", "ROLE", "STATE",
	       "RATE/s", "BURST", "QUOTA/day", "CERT");
	for (i = 0; i < n; i++) {
		const struct cl_client *c = cl_registry_at(reg, i);
		char rate[32], quota[32], burst[32];

		if (c->rate > 0)
			snprintf(rate, sizeof(rate), "%g", c->rate);
		else
			snprintf(rate, sizeof(rate), "-");
		if (c->rate > 0)
			snprintf(burst, sizeof(burst), "%lu", c->burst ? c->burst :
				 c->rate < 1 ? 1ul : (unsigned long)(c->rate + 0.999999));
		else
			snprintf(burst, sizeof(burst), "-");
		if (c->quota)
			snprintf(quota, sizeof(quota), "%lu", c->quota);
		else
			snprintf(quota, sizeof(quota), "-");
		printf("%-24s %-9s %-8s %10s %7s %10s  %s\n", c->name,
		       cl_role_name(c->role), c->revoked ? "revoked" : "active", rate,
		       burst, quota,
		       c->has_cert_spki ? "spki" : c->cert_subject ? c->cert_subject : "-");
	}
	return 0;
}

int cli_clients_main(int argc, char **argv)
{
	struct cl_registry *reg = NULL;
	struct cli_args a;
	char err[1024] = "", secret[CL_SECRET_TEXT_LEN + 1] = "";
	char *issuer_dir = NULL;
	const char *cmd;
	int rc, lock_fd = -1, writes;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	if (strcmp(cmd, "add") && strcmp(cmd, "list") && strcmp(cmd, "set") &&
	    strcmp(cmd, "revoke")) {
		fprintf(stderr, "ppissuer clients: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	rc = parse_args(argc, argv, &a);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (sodium_init() < 0)
		return 1;
	if (a.issuer) {
		if (cli_issuer_dir(a.data_dir, a.issuer, &issuer_dir, err,
				   sizeof(err)) != 0) {
			fprintf(stderr, "ppissuer clients: %s\n", err);
			return 1;
		}
		a.data_dir = issuer_dir;
	}
	writes = strcmp(cmd, "list") != 0;
	/* Read-modify-write under a lock so two concurrent edits cannot lose
	 * one another's change. */
	if (writes && cl_lock(a.data_dir, &lock_fd, err, sizeof(err)) != 0) {
		fprintf(stderr, "ppissuer clients: %s\n", err);
		return 1;
	}
	if (cl_registry_load(a.data_dir, &reg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ppissuer clients: %s\n", err);
		rc = 1;
		goto cleanup;
	}
	if (!strcmp(cmd, "list"))
		rc = cmd_list(&a, reg);
	else if (!strcmp(cmd, "add"))
		rc = cmd_add(&a, reg, secret);
	else if (!strcmp(cmd, "set"))
		rc = cmd_set(&a, reg, secret);
	else
		rc = cmd_revoke(&a, reg);
	if (rc != -1)
		goto cleanup;
	if (cl_registry_save(a.data_dir, reg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ppissuer clients: %s\n", err);
		rc = 1;
		goto cleanup;
	}
	rc = 0;
	if (!strcmp(cmd, "add")) {
		const struct cl_client *c = cl_registry_find(reg, a.pos[1]);

		fprintf(stderr, "client '%s' added (role %s)\n", c->name, cl_role_name(c->role));
	} else if (!strcmp(cmd, "revoke")) {
		fprintf(stderr, "client '%s' revoked\n", a.pos[1]);
	} else {
		fprintf(stderr, "client '%s' updated\n", a.pos[1]);
	}
	/* Printed only once the registry holding its hash is on disk. */
	if (secret[0])
		print_secret(a.pos[1], secret);
cleanup:
	cl_registry_unref(reg);
	cl_unlock(lock_fd);
	sodium_memzero(secret, sizeof(secret));
	free(issuer_dir);
	return rc;
}
