/* The token-type table and the prepared keys that dispatch through it. */
#include "crypto/token_types.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/pp_err.h"
#include "crypto/spki.h"

extern const struct tt_ops tt_blind_rsa;
extern const struct tt_ops tt_pbrsa;
extern const struct tt_ops tt_voprf_ristretto255, tt_voprf_p384;

/* One line per token type served; see token_types.h for what else a new
 * type brings. */
static const struct tt_ops *const tt_table[] = {
	&tt_blind_rsa,
	&tt_pbrsa,
	&tt_voprf_ristretto255,
	&tt_voprf_p384,
};

#define TT_COUNT (sizeof(tt_table) / sizeof(tt_table[0]))

const struct tt_ops *tt_find(uint16_t type)
{
	size_t i;

	for (i = 0; i < TT_COUNT; i++)
		if (tt_table[i]->type == type)
			return tt_table[i];
	return NULL;
}

const struct tt_ops *const *tt_all(size_t *n)
{
	*n = TT_COUNT;
	return tt_table;
}

const struct tt_ops *tt_parse(const char *text)
{
	unsigned long v;
	char *end;
	size_t i;

	if (text == NULL || *text == '\0')
		return NULL;
	for (i = 0; i < TT_COUNT; i++)
		if (strcasecmp(tt_table[i]->name, text) == 0)
			return tt_table[i];
	v = strtoul(text, &end, 0);
	if (*end != '\0' || v > 0xffff || text[0] == '-' || text[0] == '+')
		return NULL;
	return tt_find((uint16_t)v);
}

void tt_key_id(const uint8_t *pub, size_t len, uint8_t id[32])
{
	spki_key_id(pub, len, id);
}

uint8_t tt_truncated_id(const uint8_t id[32])
{
	return id[31];
}

int tt_secret_new(const uint8_t *data, size_t len, struct tt_secret **out)
{
	struct tt_secret *s;

	*out = NULL;
	if (len == 0 || len > TT_PRIV_MAX)
		return PP_ERR_LENGTH;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PP_ERR_NOMEM;
	s->p = sodium_malloc(len);
	if (s->p == NULL) {
		free(s);
		return PP_ERR_NOMEM;
	}
	if (data)
		memcpy(s->p, data, len);
	else
		memset(s->p, 0, len);
	s->len = len;
	*out = s;
	return 0;
}

void tt_secret_free(struct tt_secret *s)
{
	if (s == NULL)
		return;
	sodium_free(s->p);   /* wipes before it frees */
	free(s);
}

struct tt_key {
	const struct tt_ops *ops;
	int signer;             /* 1: issues; 0: verifies */
	void *impl;
	unsigned long refs;
};

static int key_wrap(const struct tt_ops *ops, int signer, void *impl,
		    struct tt_key **out)
{
	struct tt_key *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		if (signer)
			ops->signer_free(impl);
		else
			ops->verifier_free(impl);
		return PP_ERR_NOMEM;
	}
	k->ops = ops;
	k->signer = signer;
	k->impl = impl;
	k->refs = 1;
	*out = k;
	return 0;
}

int tt_signer_new(const struct tt_ops *ops, const struct tt_secret *priv,
		  unsigned slots, struct tt_key **out)
{
	void *impl = NULL;
	int rc;

	*out = NULL;
	if (ops == NULL || priv == NULL)
		return PP_ERR_ARG;
	rc = ops->signer_new(priv->p, priv->len, slots, &impl);
	if (rc != 0)
		return rc;
	return key_wrap(ops, 1, impl, out);
}

int tt_signer_new_ext(const struct tt_ops *ops, const uint8_t *pub,
		      size_t pub_len, const struct tt_raw_op *raw,
		      unsigned slots, struct tt_key **out)
{
	void *impl = NULL;
	int rc;

	*out = NULL;
	if (raw == NULL || raw->sign == NULL)
		return PP_ERR_ARG;
	if (ops == NULL || pub == NULL || ops->signer_new_ext == NULL) {
		if (raw->release)
			raw->release(raw->ctx);
		return ops == NULL || pub == NULL ? PP_ERR_ARG : PP_ERR_KEY;
	}
	rc = ops->signer_new_ext(pub, pub_len, raw, slots, &impl);
	if (rc != 0)
		return rc;
	return key_wrap(ops, 1, impl, out);
}

int tt_verifier_new(const struct tt_ops *ops, const uint8_t *pub,
		    size_t pub_len, const struct tt_secret *priv,
		    struct tt_key **out)
{
	void *impl = NULL;
	int rc;

	*out = NULL;
	if (ops == NULL || pub == NULL || (ops->private_verify && priv == NULL))
		return PP_ERR_ARG;
	rc = ops->verifier_new(pub, pub_len, priv ? priv->p : NULL,
			       priv ? priv->len : 0, &impl);
	if (rc != 0)
		return rc;
	return key_wrap(ops, 0, impl, out);
}

struct tt_key *tt_key_ref(struct tt_key *k)
{
	if (k)
		__atomic_fetch_add(&k->refs, 1, __ATOMIC_RELAXED);
	return k;
}

void tt_key_free(struct tt_key *k)
{
	if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (k->signer)
		k->ops->signer_free(k->impl);
	else
		k->ops->verifier_free(k->impl);
	free(k);
}

const struct tt_ops *tt_key_ops(const struct tt_key *k)
{
	return k->ops;
}

int tt_issue(struct tt_key *signer, const uint8_t *req, size_t len,
	     uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (signer == NULL || !signer->signer)
		return PP_ERR_ARG;
	return signer->ops->issue(signer->impl, req, len, out, cap, out_len);
}

int tt_verify(struct tt_key *verifier, const uint8_t *input, size_t input_len,
	      const uint8_t *auth, size_t auth_len, const uint8_t *info,
	      size_t info_len)
{
	if (verifier == NULL || verifier->signer)
		return PP_ERR_ARG;
	return verifier->ops->verify(verifier->impl, input, input_len, auth,
				     auth_len, info, info_len);
}

int tt_issue_batch(struct tt_key *signer, const uint8_t *req, size_t len,
		   unsigned max_n, uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (signer == NULL || !signer->signer)
		return PP_ERR_ARG;
	if (signer->ops->issue_batch == NULL)
		return PP_ERR_TOKEN_TYPE;
	return signer->ops->issue_batch(signer->impl, req, len, max_n, out,
					cap, out_len);
}
