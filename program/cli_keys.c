/* `ppissuer keys`: option parsing, help and dispatch. Every subcommand
 * shares one option table; each says which options apply to it. Defaults
 * come from the same PPISSUER_* environment variables the server reads. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "crypto/token.h"
#include "crypto/token_types.h"
#include "keys/pkcs11.h"
#include "program/cli_keys.h"
#include "program/cli_issuers.h"
#include "program/cli_keys_int.h"

enum {
	O_DATA_DIR = 256, O_SECRET_FILE, O_NOW, O_NOT_BEFORE, O_JSON, O_LEAD,
	O_OVERLAP, O_LIFETIME, O_IF_DUE, O_IMMEDIATELY, O_FORMAT, O_MAX_AGE,
	O_MAX_PUBLISHED, O_TYPE, O_HELP, O_PKCS11, O_P11_MODULE, O_P11_TOKEN,
	O_P11_PIN_FILE, O_ISSUER,
};

#define BIT(o) (1u << ((o) - O_DATA_DIR))
#define COMMON (BIT(O_DATA_DIR) | BIT(O_SECRET_FILE) | BIT(O_NOW) | BIT(O_HELP) | \
		BIT(O_ISSUER))
#define P11 (BIT(O_PKCS11) | BIT(O_P11_MODULE) | BIT(O_P11_TOKEN) | \
	     BIT(O_P11_PIN_FILE))

struct cmd {
	const char *name;
	int (*fn)(struct cli_keys *k);
	unsigned opts;
	const char *arg;      /* positional argument name, or NULL */
	const char *summary;
	int opens_store;      /* 0: the command opens the store itself */
};

static const struct cmd cmds[] = {
	{ "generate", cli_keys_generate, COMMON | BIT(O_NOT_BEFORE) |
	  BIT(O_LEAD) | BIT(O_TYPE) | P11, NULL, "add a new key", 1 },
	{ "list", cli_keys_list, COMMON | BIT(O_JSON) | BIT(O_OVERLAP) |
	  BIT(O_MAX_PUBLISHED), NULL, "show every key and its state", 1 },
	{ "rotate", cli_keys_rotate, COMMON | BIT(O_LEAD) | BIT(O_OVERLAP) |
	  BIT(O_LIFETIME) | BIT(O_IF_DUE) | BIT(O_MAX_AGE) | BIT(O_TYPE) | P11,
	  NULL,
	  "add the next key; the current one retires after it takes over", 1 },
	{ "retire", cli_keys_retire, COMMON | BIT(O_OVERLAP) |
	  BIT(O_IMMEDIATELY), "ID", "stop a key signing", 1 },
	{ "prune", cli_keys_prune, COMMON | BIT(O_OVERLAP) | P11, NULL,
	  "delete retired keys (and, with --pkcs11, their token objects)", 1 },
	{ "export", cli_keys_export, COMMON | BIT(O_FORMAT), "ID",
	  "print a key's public part", 1 },
	{ "import", cli_keys_import, COMMON | BIT(O_NOT_BEFORE) | BIT(O_LEAD) |
	  BIT(O_TYPE) | P11, "FILE", "add an existing private key", 1 },
	{ "seal", cli_keys_seal, COMMON, NULL,
	  "encrypt the stored private keys with the key secret", 0 },
};

static const struct option long_opts[] = {
	{ "data-dir", required_argument, NULL, O_DATA_DIR },
	{ "key-secret-file", required_argument, NULL, O_SECRET_FILE },
	{ "now", required_argument, NULL, O_NOW },
	{ "not-before", required_argument, NULL, O_NOT_BEFORE },
	{ "json", no_argument, NULL, O_JSON },
	{ "lead", required_argument, NULL, O_LEAD },
	{ "overlap", required_argument, NULL, O_OVERLAP },
	{ "lifetime", required_argument, NULL, O_LIFETIME },
	{ "if-due", no_argument, NULL, O_IF_DUE },
	{ "immediately", no_argument, NULL, O_IMMEDIATELY },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "max-age", required_argument, NULL, O_MAX_AGE },
	{ "max-published", required_argument, NULL, O_MAX_PUBLISHED },
	{ "type", required_argument, NULL, O_TYPE },
	{ "help", no_argument, NULL, O_HELP },
	{ "pkcs11", no_argument, NULL, O_PKCS11 },
	{ "pkcs11-module", required_argument, NULL, O_P11_MODULE },
	{ "pkcs11-token", required_argument, NULL, O_P11_TOKEN },
	{ "pkcs11-pin-file", required_argument, NULL, O_P11_PIN_FILE },
	{ "issuer", required_argument, NULL, O_ISSUER },
	{ NULL, 0, NULL, 0 },
};

/* Help line per option, in table order. */
static const char *const opt_help[] = {
	"--data-dir DIR          data directory (PPISSUER_DATA_DIR; ./data)",
	"--key-secret-file FILE  key-encryption secret (PPISSUER_KEY_SECRET_FILE;\n"
	"                          or PPISSUER_KEY_SECRET, PPISSUER_KEY_PASSPHRASE)",
	"--now TIME              act as if it were TIME (tests; changes are\n"
	"                          still written)",
	"--not-before TIME       when the key starts signing: now, +DURATION,\n"
	"                          unix seconds or RFC 3339 (default: now when no\n"
	"                          key signs, else now + lead)",
	"--json                  machine-readable output",
	"--lead DURATION         publish a new key this long before it signs\n"
	"                          (PPISSUER_ROTATE_LEAD; 1d)",
	"--overlap DURATION      keep a key verifying this long after it stops\n"
	"                          signing (PPISSUER_ROTATE_OVERLAP; 8d)",
	"--lifetime DURATION     how long a key signs (PPISSUER_ROTATE_LIFETIME; 7d)",
	"--if-due                rotate only when the schedule says so (cron)",
	"--immediately           retire at once: its tokens stop verifying now",
	"--format F              spki-b64url (default) or pem",
	"--max-age SECONDS       directory max-age the schedule must respect\n"
	"                          (PPISSUER_DIRECTORY_MAX_AGE; 3600)",
	"--max-published N       keys per type in the directory\n"
	"                          (PPISSUER_MAX_PUBLISHED; 2)",
	"--type T                token type, as a number (2, 0x0002) or a name\n"
	"                          (blind-rsa-2048); default 2",
	"--help                  this text",
	"--pkcs11                make the key in the PKCS#11 token (generate,\n"
	"                          rotate: RSA-2048 made there, never extractable;\n"
	"                          import: FILE written into the token); the\n"
	"                          store keeps only its public key and reference",
	"--pkcs11-module PATH    PKCS#11 module (PPISSUER_PKCS11_MODULE)",
	"--pkcs11-token LABEL    token label (PPISSUER_PKCS11_TOKEN)",
	"--pkcs11-pin-file FILE  the user PIN, mode 0600 (PPISSUER_PKCS11_PIN_FILE,\n"
	"                          or the PIN in PPISSUER_PKCS11_PIN)",
	"--issuer NAME           the keys of issuer NAME of the issuers section\n"
	"                          (DIR/issuers/NAME)",
};

static const char *opt_name(int val)
{
	size_t i;

	for (i = 0; long_opts[i].name; i++) {
		if (long_opts[i].val == val)
			return long_opts[i].name;
	}
	return "?";
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: ppissuer keys <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\nRun 'ppissuer keys <command> --help' for its options.\n");
}

static void cmd_usage(FILE *f, const struct cmd *c)
{
	size_t i;

	fprintf(f, "usage: ppissuer keys %s%s%s [options]\n%s\n\noptions:\n",
		c->name, c->arg ? " " : "", c->arg ? c->arg : "", c->summary);
	for (i = 0; i < sizeof(opt_help) / sizeof(opt_help[0]); i++) {
		if (c->opts & (1u << i))
			fprintf(f, "  %s\n", opt_help[i]);
	}
}

int cli_keys_fail(const struct cli_keys *k, const char *what, int rc)
{
	if (k->err[0])
		fprintf(stderr, "ppissuer keys: %s\n", k->err);
	else
		fprintf(stderr, "ppissuer keys: %s: %s\n", what, pp_err_str(rc));
	return 1;
}

static void report(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ppissuer keys: warning: %s\n", msg);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Slow key generation (0xDA7A's safe primes) is alive: a line saying what
 * it does, then a dot on stderr at most every 250 ms; the dispatcher ends
 * the line. */
static void progress(void *ctx)
{
	struct cli_keys *k = ctx;
	int64_t now = mono_ms();

	if (k->progress_calls++ == 0) {
		fprintf(stderr, "ppissuer keys: generating a %s key: searching "
			"for safe primes, this takes seconds to minutes ",
			k->tt ? k->tt->name : "new");
		k->progress_dots = 1;
		k->progress_last_ms = now;
	}
	if (now - k->progress_last_ms >= 250) {
		fputc('.', stderr);
		fflush(stderr);
		k->progress_last_ms = now;
	}
}

/* --pkcs11: the token the new key goes into. */
static int cli_keys_p11(struct cli_keys *k)
{
	struct p11_config pc = { k->p11_module, k->p11_token, k->p11_pin_file,
				 2 };
	int rc;

	if (k->p11_module == NULL || k->p11_token == NULL) {
		fprintf(stderr, "ppissuer keys: --pkcs11 needs --pkcs11-module "
			"PATH and --pkcs11-token LABEL (or PPISSUER_PKCS11_MODULE "
			"and PPISSUER_PKCS11_TOKEN)\n");
		return 2;
	}
	if (k->tt->signer_new_ext == NULL) {
		fprintf(stderr, "ppissuer keys: %s keys cannot sign in a PKCS#11 "
			"token\n", k->tt->name);
		return 2;
	}
	rc = p11_open(&pc, &k->p11, k->err, sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "PKCS#11", rc);
	p11_store_attach(k->p11, k->st);
	return 0;
}

int cli_keys_open(struct cli_keys *k, int open_store)
{
	const char *file = k->secret_file;
	int rc;

	if (file == NULL || file[0] == '\0')
		file = getenv("PPISSUER_KEY_SECRET_FILE");
	if (file && file[0]) {
		if ((getenv("PPISSUER_KEY_SECRET") &&
		     getenv("PPISSUER_KEY_SECRET")[0]) ||
		    (getenv("PPISSUER_KEY_PASSPHRASE") &&
		     getenv("PPISSUER_KEY_PASSPHRASE")[0])) {
			fprintf(stderr, "ppissuer keys: a key secret file and "
				"PPISSUER_KEY_SECRET/PASSPHRASE are both given; "
				"use one\n");
			return 1;
		}
		rc = ks_secret_from_file(file, &k->secret, k->err,
					 sizeof(k->err));
	} else {
		rc = ks_secret_from_env(&k->secret, k->err, sizeof(k->err));
	}
	if (rc != 0)
		return cli_keys_fail(k, "key secret", rc);
	if (!open_store)
		return 0;
	rc = ks_store_open(k->data_dir, k->secret, &k->st, k->err,
			   sizeof(k->err));
	if (rc != 0)
		return cli_keys_fail(k, "cannot open the key store", rc);
	ks_store_set_reporter(k->st, report, NULL);
	ks_store_set_progress(k->st, progress, k);
	return 0;
}

static int bad_value(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "ppissuer keys: --%s '%s' is not %s\n", opt, val, want);
	return 2;
}

static int set_duration(int64_t *dst, const char *opt, const char *val)
{
	if (kl_duration_parse(val, dst) != 0)
		return bad_value(opt, val, "a duration (e.g. 90s, 15m, 12h, 7d)");
	return 0;
}

static int set_ulong(int64_t *dst, const char *opt, const char *val,
		     long max)
{
	char *end;
	long v;

	v = strtol(val, &end, 10);
	if (*val == '\0' || *end != '\0' || v < 0 || v > max)
		return bad_value(opt, val, "a number in range");
	*dst = v;
	return 0;
}

/* Defaults, then the environment; flags override both later. */
static int load_env(struct cli_keys *k)
{
	static const struct { const char *env, *opt; int which; } durs[] = {
		{ "PPISSUER_ROTATE_LIFETIME", "lifetime", 0 },
		{ "PPISSUER_ROTATE_LEAD", "lead", 1 },
		{ "PPISSUER_ROTATE_OVERLAP", "overlap", 2 },
	};
	int64_t *dst[] = { &k->sched.lifetime, &k->sched.lead,
			   &k->sched.overlap };
	int64_t v;
	const char *s;
	size_t i;
	int rc;

	memset(k, 0, sizeof(*k));
	k->data_dir = getenv("PPISSUER_DATA_DIR");
	if (k->data_dir == NULL || k->data_dir[0] == '\0')
		k->data_dir = "./data";
	k->now = (int64_t)time(NULL);
	k->tt = tt_find(TOK_TYPE_BLIND_RSA);
	s = getenv("PPISSUER_PKCS11_MODULE");
	k->p11_module = s && *s ? s : NULL;
	s = getenv("PPISSUER_PKCS11_TOKEN");
	k->p11_token = s && *s ? s : NULL;
	s = getenv("PPISSUER_PKCS11_PIN_FILE");
	k->p11_pin_file = s && *s ? s : NULL;
	k->max_age = KL_DEFAULT_MAX_AGE;
	k->max_published = KL_DEFAULT_MAX_PUBLISHED;
	kl_schedule_default(&k->sched);
	for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		s = getenv(durs[i].env);
		if (s && *s && (rc = set_duration(dst[durs[i].which],
						  durs[i].opt, s)) != 0)
			return rc;
	}
	s = getenv("PPISSUER_DIRECTORY_MAX_AGE");
	if (s && *s && (rc = set_ulong(&k->max_age, "max-age", s, 604800)))
		return rc;
	s = getenv("PPISSUER_MAX_PUBLISHED");
	if (s && *s) {
		if ((rc = set_ulong(&v, "max-published", s, 16)) != 0)
			return rc;
		k->max_published = v > 0 ? (unsigned)v : 1;
	}
	return 0;
}

static int parse_opt(struct cli_keys *k, int o, const char *val)
{
	int64_t v;
	int rc;

	switch (o) {
	case O_DATA_DIR: k->data_dir = val; return 0;
	case O_ISSUER: k->issuer = val; return 0;
	case O_SECRET_FILE: k->secret_file = val; return 0;
	case O_NOT_BEFORE: k->not_before = val; return 0;
	case O_FORMAT: k->format = val; return 0;
	case O_JSON: k->json = 1; return 0;
	case O_IF_DUE: k->if_due = 1; return 0;
	case O_IMMEDIATELY: k->immediately = 1; return 0;
	case O_PKCS11: k->pkcs11 = 1; return 0;
	case O_P11_MODULE: k->p11_module = val; return 0;
	case O_P11_TOKEN: k->p11_token = val; return 0;
	case O_P11_PIN_FILE: k->p11_pin_file = val; return 0;
	case O_LEAD: return set_duration(&k->sched.lead, "lead", val);
	case O_OVERLAP: return set_duration(&k->sched.overlap, "overlap", val);
	case O_LIFETIME: return set_duration(&k->sched.lifetime, "lifetime", val);
	case O_MAX_AGE: return set_ulong(&k->max_age, "max-age", val, 604800);
	case O_TYPE:
		k->tt = tt_parse(val);
		return k->tt ? 0 : bad_value("type", val, "a token type this "
					     "issuer serves");
	case O_NOW:
		if (kl_time_parse(val, k->now, &v) != 0)
			return bad_value("now", val, "a time (now, +1d, unix "
					 "seconds or RFC 3339)");
		k->now = v;
		return 0;
	case O_MAX_PUBLISHED:
		rc = set_ulong(&v, "max-published", val, 16);
		if (rc == 0)
			k->max_published = v > 0 ? (unsigned)v : 1;
		return rc;
	}
	return 2;
}

int cli_keys_main(int argc, char **argv)
{
	const struct cmd *c = NULL;
	char *issuer_dir = NULL;
	struct cli_keys k;
	char **sub_argv;
	size_t i;
	int o, rc, sub_argc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			c = &cmds[i];
	}
	if (c == NULL) {
		fprintf(stderr, "ppissuer keys: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	rc = load_env(&k);
	if (rc != 0)
		return rc;
	/* the subcommand is argv[0] for getopt; glibc restarts at optind 0 */
	sub_argc = argc - 1;
	sub_argv = argv + 1;
	optind = 0;
	opterr = 1;
	while ((o = getopt_long(sub_argc, sub_argv, "h", long_opts, NULL)) != -1) {
		if (o == 'h' || o == O_HELP) {
			cmd_usage(stdout, c);
			return 0;
		}
		if (o == '?' || !(c->opts & BIT(o))) {
			if (o != '?')
				fprintf(stderr, "ppissuer keys %s: --%s does not "
					"apply here\n", c->name, opt_name(o));
			cmd_usage(stderr, c);
			return 2;
		}
		rc = parse_opt(&k, o, optarg);
		if (rc != 0)
			return rc;
	}
	if (sub_argc - optind != (c->arg ? 1 : 0)) {
		fprintf(stderr, "ppissuer keys %s: %s\n", c->name,
			sub_argc - optind < 1 ? "missing argument"
					      : "unexpected argument");
		cmd_usage(stderr, c);
		return 2;
	}
	if (c->arg)
		k.arg = sub_argv[optind];
	if (kl_schedule_check(&k.sched, k.max_age, k.err, sizeof(k.err)) != 0)
		return cli_keys_fail(&k, "schedule", PP_ERR_CONFIG);
	if (k.issuer) {
		if (cli_issuer_dir(k.data_dir, k.issuer, &issuer_dir, k.err,
				   sizeof(k.err)) != 0)
			return cli_keys_fail(&k, "issuer", PP_ERR_CONFIG);
		k.data_dir = issuer_dir;
	}
	rc = cli_keys_open(&k, c->opens_store);
	if (rc == 0 && k.pkcs11)
		rc = cli_keys_p11(&k);
	if (rc == 0)
		rc = c->fn(&k);
	p11_close(k.p11);
	if (k.progress_dots)
		fputs(rc == 0 ? " done\n" : "\n", stderr);
	ks_store_close(k.st);
	ks_secret_free(k.secret);
	free(issuer_dir);
	return rc;
}
