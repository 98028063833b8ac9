/* `ppissuer issuers list`: each issuer of the configuration with its hosts,
 * its token types and how many keys its directory publishes now (from the
 * key store's metadata: what a server starting now would publish). Every
 * published key splits the clients into smaller anonymity sets. */
#include "program/cli_issuers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/pp_err.h"
#include "issuer/tenant.h"
#include "keys/lifecycle.h"
#include "keys/store.h"
#include "program/config.h"

int cli_issuer_dir(const char *data_dir, const char *name, char **out,
		   char *err, size_t errlen)
{
	struct stat st;
	char *dir;

	*out = NULL;
	if (!tn_name_valid(name)) {
		snprintf(err, errlen, "--issuer: '%s' is not an issuer name "
			 "(1 to %d of a-z, 0-9 and '-')", name, TN_NAME_MAX);
		return PP_ERR_CONFIG;
	}
	dir = cfg_issuer_dir(data_dir, name);
	if (!dir)
		return PP_ERR_NOMEM;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "no issuer '%s' in %s/issuers; add it to the "
			 "issuers section and start (or SIGHUP) the server, which "
			 "makes its directory, or run: mkdir -m 700 -p %s", name,
			 data_dir, dir);
		free(dir);
		return PP_ERR_CONFIG;
	}
	*out = dir;
	return 0;
}

/* Keys published now, by the lifecycle rules the server applies. */
static int published_keys(const struct cfg *c, size_t *out, char *err,
			  size_t errlen)
{
	struct ks_store *st = NULL;
	struct ks_meta *m = NULL;
	struct kl_view *v = NULL;
	struct kl_schedule sched;
	char keys[4096], lerr[512] = "";
	struct stat sb;
	size_t n = 0, i;
	int rc;

	*out = 0;
	snprintf(keys, sizeof(keys), "%s/keys", c->data_dir);
	if (stat(keys, &sb) != 0)
		return 0;   /* never started: no key yet */
	rc = ks_store_open(c->data_dir, NULL, &st, lerr, sizeof(lerr));
	if (rc == 0)
		rc = ks_store_list(st, &m, &n, lerr, sizeof(lerr));
	if (rc == 0 && n > 0 && !(v = calloc(n, sizeof(*v))))
		rc = PP_ERR_NOMEM;
	if (rc == 0 && n > 0) {
		kl_schedule_default(&sched);
		if (kl_duration_parse(c->rotate_overlap, &sched.overlap) != 0)
			sched.overlap = KL_DEFAULT_OVERLAP;
		kl_evaluate(m, n, (int64_t)time(NULL), sched.overlap,
			    (unsigned)c->max_published, v);
		for (i = 0; i < n; i++)
			*out += v[i].published ? 1 : 0;
	}
	if (rc)
		snprintf(err, errlen, "%.200s: %.500s", keys,
			 lerr[0] ? lerr : pp_err_str(rc));
	free(v);
	free(m);
	ks_store_close(st);
	return rc;
}

static void print_row(const char *name, const char *hosts, const struct cfg *c,
		      size_t published, int over)
{
	printf("%-20s %-36s %-14s %zu%s\n", name, hosts,
	       c->token_types ? c->token_types : "2", published,
	       over ? "  (over max-published-keys)" : "");
}

int cli_issuers_main(int argc, char **argv)
{
	struct cfg c;
	char err[768] = "", hosts[1024];
	size_t i, j, published;
	int rc, ret = 1;

	if (argc < 2 || strcmp(argv[1], "list") != 0) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: ppissuer issuers list [--config FILE] [--data-dir DIR]\n"
			"\n"
			"Shows each issuer of the configuration (the issuers section of\n"
			"the config file, or the one issuer without it): its host names,\n"
			"token types and how many keys its directory publishes now.\n"
			"Takes the server's options (ppissuer serve --help).\n");
		return argc < 2 || strcmp(argv[1], "--help") ? 2 : 0;
	}
	cfg_init(&c);
	rc = cfg_load(&c, argc - 1, argv + 1, err, sizeof(err));
	if (rc == 1) {
		ret = 0;
		goto cleanup;
	}
	if (rc) {
		fprintf(stderr, "ppissuer issuers: %s\n", err);
		ret = 2;
		goto cleanup;
	}
	printf("%-20s %-36s %-14s %s\n", "NAME", "HOSTS", "TOKEN TYPES",
	       "KEYS PUBLISHED");
	if (c.n_issuers == 0) {
		if (published_keys(&c, &published, err, sizeof(err)) != 0)
			goto fail;
		print_row("(single issuer)", "*", &c, published,
			  c.max_published_keys > 0 &&
			  published > (size_t)c.max_published_keys);
	}
	for (i = 0; i < c.n_issuers; i++) {
		const struct cfg_issuer *is = &c.issuers[i];
		size_t off = 0;

		hosts[0] = '\0';
		for (j = 0; j < is->n_hosts && off < sizeof(hosts); j++)
			off += (size_t)snprintf(hosts + off, sizeof(hosts) - off,
						"%s%s", j ? "," : "", is->hosts[j]);
		if (published_keys(&is->cfg, &published, err, sizeof(err)) != 0)
			goto fail;
		print_row(is->name, hosts, &is->cfg, published,
			  is->cfg.max_published_keys > 0 &&
			  published > (size_t)is->cfg.max_published_keys);
	}
	ret = 0;
	goto cleanup;
fail:
	fprintf(stderr, "ppissuer issuers: %s\n", err);
cleanup:
	cfg_free(&c);
	return ret;
}
