/* Metadata files: one small JSON object per key, next to its key file.
 * The public key is kept here too, so listing, exporting and publishing
 * never need to open (or unseal) a private key. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/b64.h"
#include "base/pp_err.h"
#include "crypto/token_types.h"
#include "keys/store_int.h"

#define META_FORMAT 1
/* Format 2 adds "pkcs11" (the key's private half is in a token); it is
 * written only for such keys, so file keys stay readable by older
 * versions, and older versions refuse keys they could not sign with. */
#define META_FORMAT_P11 2
#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

_Static_assert(KS_PUB_MAX == TT_PUB_MAX, "KS_PUB_MAX must match TT_PUB_MAX");

static const char *const state_names[] = {
	[KS_PENDING] = "pending",
	[KS_ACTIVE] = "active",
	[KS_RETIRING] = "retiring",
	[KS_RETIRED] = "retired",
};

const char *ks_state_name(enum ks_state s)
{
	if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[s];
	return "unknown";
}

int ks_state_parse(const char *name, enum ks_state *out)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum ks_state)i;
			return 0;
		}
	}
	return PP_ERR_ARG;
}

void ks_meta_name(const char *id_hex, char *out, size_t cap)
{
	snprintf(out, cap, "%s.json", id_hex);
}

void ks_key_name(const char *id_hex, char *out, size_t cap)
{
	snprintf(out, cap, "%s.key", id_hex);
}

int ks_meta_name_parse(const char *name, char id_hex[65])
{
	size_t i;

	if (strlen(name) != 64 + 5 || strcmp(name + 64, ".json") != 0)
		return 0;
	for (i = 0; i < 64; i++) {
		char c = name[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	memcpy(id_hex, name, 64);
	id_hex[64] = '\0';
	return 1;
}

void ks_meta_set_ids(struct ks_meta *m)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	tt_key_id(m->pub, m->pub_len, m->key_id);
	for (i = 0; i < 32; i++) {
		m->id_hex[2 * i] = hex[m->key_id[i] >> 4];
		m->id_hex[2 * i + 1] = hex[m->key_id[i] & 15];
	}
	m->id_hex[64] = '\0';
	m->truncated_id = tt_truncated_id(m->key_id);
}

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The "pkcs11" object of format 2. */
static json_t *p11_encode(const struct ks_p11_ref *r)
{
	char id[2 * KS_P11_ID_MAX + 1];

	hex_encode(r->id, r->id_len, id);
	return json_pack("{s:s, s:s, s:s}", "token", r->token, "id", id,
			 "label", r->label);
}

static int p11_decode(json_t *o, struct ks_p11_ref *r)
{
	const char *tok = json_string_value(json_object_get(o, "token"));
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *label = json_string_value(json_object_get(o, "label"));
	size_t i, n;

	if (!json_is_object(o) || tok == NULL || id == NULL || label == NULL ||
	    strlen(tok) == 0 || strlen(tok) >= sizeof(r->token) ||
	    strlen(label) >= sizeof(r->label))
		return PP_ERR_CORRUPT;
	n = strlen(id);
	if (n == 0 || n % 2 || n / 2 > sizeof(r->id))
		return PP_ERR_CORRUPT;
	for (i = 0; i < n / 2; i++) {
		int hi = hex_nibble(id[2 * i]), lo = hex_nibble(id[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return PP_ERR_CORRUPT;
		r->id[i] = (uint8_t)(hi << 4 | lo);
	}
	r->id_len = n / 2;
	strcpy(r->token, tok);
	strcpy(r->label, label);
	return 0;
}

int ks_meta_encode(const struct ks_meta *m, char **out, size_t *len)
{
	char pk[2 * KS_PUB_MAX];
	json_t *o = NULL, *p = NULL;
	char *s = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	rc = b64_encode(m->pub, m->pub_len, pk, sizeof(pk), NULL);
	if (rc != 0)
		return rc;
	o = json_pack("{s:i, s:s, s:i, s:I, s:I, s:I, s:s, s:s}",
		      "format", m->external ? META_FORMAT_P11 : META_FORMAT,
		      "key-id", m->id_hex,
		      "token-type", (int)m->token_type,
		      "created", (json_int_t)m->created,
		      "not-before", (json_int_t)m->not_before,
		      "retire-after", (json_int_t)m->retire_after,
		      "state", ks_state_name(m->state), "public-key", pk);
	if (o == NULL)
		return PP_ERR_NOMEM;
	if (m->external) {
		p = p11_encode(&m->p11);
		if (p == NULL || json_object_set_new(o, "pkcs11", p) != 0) {
			json_decref(o);
			return PP_ERR_NOMEM;
		}
	}
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return PP_ERR_NOMEM;
	*len = strlen(s);
	*out = s;
	return 0;
}

static int get_time(json_t *o, const char *field, int64_t *out)
{
	json_t *v = json_object_get(o, field);
	json_int_t t;

	if (!json_is_integer(v))
		return PP_ERR_CORRUPT;
	t = json_integer_value(v);
	if (t < 0 || t > TIME_MAX)
		return PP_ERR_CORRUPT;
	*out = (int64_t)t;
	return 0;
}

int ks_meta_decode(const uint8_t *buf, size_t len, const char *expect_id,
		   struct ks_meta *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o, *v;
	const char *what = NULL, *s;
	const struct tt_ops *tt;
	json_int_t type, format;

	memset(out, 0, sizeof(*out));
	o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		pp_errf(err, errlen, "metadata of key %.16s is not valid JSON "
			"(line %d: %s)", expect_id, jerr.line, jerr.text);
		return PP_ERR_CORRUPT;
	}
	v = json_object_get(o, "format");
	format = json_is_integer(v) ? json_integer_value(v) : -1;
	if (format != META_FORMAT && format != META_FORMAT_P11) {
		what = "an unknown format";
		goto bad;
	}
	v = json_object_get(o, "pkcs11");
	if ((format == META_FORMAT_P11) != (v != NULL) ||
	    (v && p11_decode(v, &out->p11) != 0)) {
		what = "an invalid PKCS#11 reference";
		goto bad;
	}
	out->external = v != NULL;
	v = json_object_get(o, "token-type");
	type = json_is_integer(v) ? json_integer_value(v) : -1;
	tt = type >= 0 && type <= 0xffff ? tt_find((uint16_t)type) : NULL;
	if (tt == NULL) {
		what = "a token type this issuer does not serve";
		goto bad;
	}
	out->token_type = tt->type;
	if (get_time(o, "created", &out->created) != 0 ||
	    get_time(o, "not-before", &out->not_before) != 0 ||
	    get_time(o, "retire-after", &out->retire_after) != 0) {
		what = "a missing or invalid time";
		goto bad;
	}
	s = json_string_value(json_object_get(o, "state"));
	if (s == NULL || ks_state_parse(s, &out->state) != 0) {
		what = "an invalid state";
		goto bad;
	}
	s = json_string_value(json_object_get(o, "public-key"));
	if (s == NULL || b64_decode(s, strlen(s), out->pub, sizeof(out->pub),
				    &out->pub_len) != 0 ||
	    out->pub_len == 0 || tt->public_check(out->pub, out->pub_len) != 0) {
		what = "an invalid public key";
		goto bad;
	}
	ks_meta_set_ids(out);
	s = json_string_value(json_object_get(o, "key-id"));
	if (s == NULL || strcmp(s, out->id_hex) != 0 ||
	    strcmp(expect_id, out->id_hex) != 0) {
		what = "a key id that does not match its public key";
		goto bad;
	}
	json_decref(o);
	return 0;
bad:
	pp_errf(err, errlen, "metadata of key %.16s has %s", expect_id, what);
	json_decref(o);
	memset(out, 0, sizeof(*out));
	return PP_ERR_CORRUPT;
}

int ks_meta_write(struct ks_store *st, const struct ks_meta *m, int replace,
		  char *err, size_t errlen)
{
	char name[80], *json = NULL;
	size_t len = 0;
	int rc;

	rc = ks_meta_encode(m, &json, &len);
	if (rc != 0)
		return rc;
	ks_meta_name(m->id_hex, name, sizeof(name));
	rc = ks_file_write(st, name, (const uint8_t *)json, len, replace, err,
			   errlen);
	free(json);
	return rc;
}

int ks_meta_read(struct ks_store *st, const char *id_hex, struct ks_meta *out,
		 char *err, size_t errlen)
{
	struct ks_buf b;
	char name[80];
	int rc;

	memset(out, 0, sizeof(*out));
	ks_meta_name(id_hex, name, sizeof(name));
	rc = ks_file_read(st, name, KS_META_CAP, 0, &b, NULL, err, errlen);
	if (rc != 0)
		return rc;
	rc = ks_meta_decode(b.p, b.len, id_hex, out, err, errlen);
	ks_buf_free(&b);
	return rc;
}
