/* The issuers section of the config file: several issuers in one server,
 * each with a name, the host names it answers for, and any of the
 * per-issuer settings on top of the server's own:
 *
 *   {"issuers": [{"name": "a", "hosts": ["a.example"]},
 *                {"name": "b", "hosts": ["b.example"], "token-types": "2,5"}]}
 *
 * Everything an issuer keeps lives under <data-dir>/issuers/<name>/ (keys,
 * clients.json, the LMDB spent store), so nothing on disk is shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "issuer/tenant.h"
#include "program/cfgtab.h"
#include "program/config_int.h"

char *cfg_issuer_dir(const char *data_dir, const char *name)
{
	size_t n = strlen(data_dir) + strlen("/issuers/") + strlen(name) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/issuers/%s", data_dir, name);
	return p;
}

void cfg_issuers_free(struct cfg_issuer *v, size_t n)
{
	size_t i, j;

	if (!v)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].name);
		for (j = 0; j < v[i].n_hosts; j++)
			free(v[i].hosts[j]);
		free(v[i].hosts);
		cfg_free(&v[i].cfg);
		free(v[i].canon);
	}
	free(v);
}

/* hosts: 1..TN_HOSTS_MAX names, no port, none taken by an earlier entry. */
static int parse_hosts(struct cfg_issuer *is, json_t *hosts,
		       const struct cfg_issuer *prev, size_t n_prev,
		       const char *where, char *err, size_t errlen)
{
	char norm[TN_HOST_MAX + 1];
	size_t i, j, k;
	json_t *h;
	int rc;

	if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
	    json_array_size(hosts) > TN_HOSTS_MAX) {
		pp_errf(err, errlen, "%s: 'hosts' must be a list of 1 to %d host "
			"names, e.g. [\"issuer.example.net\"]", where, TN_HOSTS_MAX);
		return PP_ERR_CONFIG;
	}
	is->hosts = calloc(json_array_size(hosts), sizeof(*is->hosts));
	if (!is->hosts)
		return PP_ERR_NOMEM;
	json_array_foreach(hosts, i, h) {
		const char *v = json_string_value(h);

		rc = v ? tn_host_normalize(v, norm) : PP_ERR_ARG;
		if (rc < 0) {
			pp_errf(err, errlen, "%s: host '%s' is not a host name, an "
				"IPv4 address or a [IPv6] address", where,
				v ? v : "(not a string)");
			return PP_ERR_CONFIG;
		}
		if (rc == 1) {
			pp_errf(err, errlen, "%s: host '%s' has a port; routing "
				"ignores ports, give the name alone", where, v);
			return PP_ERR_CONFIG;
		}
		for (j = 0; j < is->n_hosts; j++)
			if (!strcmp(is->hosts[j], norm)) {
				pp_errf(err, errlen, "%s: host '%s' is listed twice",
					where, norm);
				return PP_ERR_CONFIG;
			}
		for (j = 0; j < n_prev; j++)
			for (k = 0; k < prev[j].n_hosts; k++)
				if (!strcmp(prev[j].hosts[k], norm)) {
					pp_errf(err, errlen, "%s: host '%s' is "
						"already issuer '%s''s; a host "
						"belongs to one issuer", where,
						norm, prev[j].name);
					return PP_ERR_CONFIG;
				}
		is->hosts[is->n_hosts] = strdup(norm);
		if (!is->hosts[is->n_hosts])
			return PP_ERR_NOMEM;
		is->n_hosts++;
	}
	return 0;
}

static int parse_entry(const struct cfg *base, json_t *e, size_t idx,
		       struct cfg_issuer *is, const struct cfg_issuer *prev,
		       char *err, size_t errlen)
{
	const char *name = NULL, *key;
	char where[96], source[192];
	json_t *val;
	size_t j;
	int rc;

	snprintf(where, sizeof(where), "issuers[%zu]", idx);
	if (!json_is_object(e)) {
		pp_errf(err, errlen, "%s: must be an object with \"name\" and "
			"\"hosts\"", where);
		return PP_ERR_CONFIG;
	}
	name = json_string_value(json_object_get(e, "name"));
	if (!name || !tn_name_valid(name)) {
		pp_errf(err, errlen, "%s: 'name' must be 1 to %d of a-z, 0-9 and "
			"'-' (not first), got '%s'", where, TN_NAME_MAX,
			name ? name : "(none)");
		return PP_ERR_CONFIG;
	}
	for (j = 0; j < idx; j++)
		if (!strcmp(prev[j].name, name)) {
			pp_errf(err, errlen, "%s: issuer name '%s' is used twice",
				where, name);
			return PP_ERR_CONFIG;
		}
	snprintf(where, sizeof(where), "issuers[%zu] ('%s')", idx, name);
	is->name = strdup(name);
	if (!is->name)
		return PP_ERR_NOMEM;
	rc = parse_hosts(is, json_object_get(e, "hosts"), prev, idx, where, err,
			 errlen);
	if (rc)
		return rc;
	rc = cfg_copy(&is->cfg, base);
	if (rc)
		return rc;
	json_object_foreach(e, key, val) {
		const struct ct_item *it;

		if (!strcmp(key, "name") || !strcmp(key, "hosts"))
			continue;
		it = cfg_item_find(key);
		if (!it) {
			pp_errf(err, errlen, "%s: unknown setting '%s'", where, key);
			return PP_ERR_CONFIG;
		}
		if (!it->per_issuer) {
			pp_errf(err, errlen, "%s: '%s' is a server-wide setting; "
				"set it at the top level of the file", where, key);
			return PP_ERR_CONFIG;
		}
		snprintf(source, sizeof(source), "%s setting '%s'", where, key);
		rc = ct_set_json(&is->cfg, it, val, source, err, errlen);
		if (rc)
			return rc;
	}
	if (is->cfg.public_url && strncmp(is->cfg.public_url, "https://", 8) &&
	    strncmp(is->cfg.public_url, "http://", 7)) {
		pp_errf(err, errlen, "%s: public-url must start with https:// or "
			"http://", where);
		return PP_ERR_CONFIG;
	}
	free(is->cfg.data_dir);
	is->cfg.data_dir = cfg_issuer_dir(base->data_dir, name);
	is->canon = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	if (!is->cfg.data_dir || !is->canon)
		return PP_ERR_NOMEM;
	return 0;
}

int cfg_issuers_parse(const struct cfg *base, json_t *section,
		      struct cfg_issuer **out, size_t *n, char *err,
		      size_t errlen)
{
	struct cfg_issuer *v = NULL;
	size_t i, cnt = 0;
	json_t *e;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!json_is_array(section) || json_array_size(section) == 0 ||
	    json_array_size(section) > TN_ISSUERS_MAX) {
		pp_errf(err, errlen, "issuers: must be a list of 1 to %d issuers "
			"(leave the section out for one issuer)", TN_ISSUERS_MAX);
		return PP_ERR_CONFIG;
	}
	v = calloc(json_array_size(section), sizeof(*v));
	if (!v)
		return PP_ERR_NOMEM;
	json_array_foreach(section, i, e) {
		cnt = i + 1;
		rc = parse_entry(base, e, i, &v[i], v, err, errlen);
		if (rc)
			break;
	}
	if (rc) {
		cfg_issuers_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cfg_issuers_reload(const struct cfg *base, struct cfg_issuer **out,
		       size_t *n, char *err, size_t errlen)
{
	json_t *root = NULL;
	json_t *section;
	int rc;

	*out = NULL;
	*n = 0;
	if (!base->config_file)
		return 0;
	rc = ct_file_read(base->config_file, &root, err, errlen);
	if (rc)
		return rc;
	section = json_object_get(root, CFG_ISSUERS_KEY);
	if (section)
		rc = cfg_issuers_parse(base, section, out, n, err, errlen);
	ct_json_wipe(root);
	json_decref(root);
	return rc;
}
