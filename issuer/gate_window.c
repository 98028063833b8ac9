/* The gate's stateless challenges and its session cookies: both are HMACs
 * under the gate's secret, with a label per use. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/pp_err.h"
#include "crypto/b64.h"
#include "crypto/token.h"
#include "issuer/gate.h"

#define GATE_CTX_LABEL "ppgate challenge v1"
#define GATE_COOKIE_LABEL "ppgate session v1"
#define GATE_COOKIE_RAW (8 + crypto_auth_hmacsha256_BYTES)

static void be64(uint64_t v, uint8_t out[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t gate_window_of(int64_t now, unsigned window_s)
{
	if (window_s == 0)
		abort(); /* a configuration the caller must have refused */
	return now < 0 ? 0 : (uint64_t)now / window_s;
}

void gate_window_context(const uint8_t secret[GATE_SECRET_LEN], uint64_t w,
			 uint8_t out[GATE_CONTEXT_LEN])
{
	crypto_auth_hmacsha256_state st;
	uint8_t wb[8];

	be64(w, wb);
	crypto_auth_hmacsha256_init(&st, secret, GATE_SECRET_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)GATE_CTX_LABEL,
				      sizeof(GATE_CTX_LABEL));
	crypto_auth_hmacsha256_update(&st, wb, sizeof(wb));
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int gate_challenge_encode(const uint8_t secret[GATE_SECRET_LEN], uint64_t w,
			  uint16_t token_type, const char *issuer_name,
			  const char *origin_info, uint8_t *out, size_t cap,
			  size_t *out_len)
{
	uint8_t ctx[GATE_CONTEXT_LEN];
	struct tok_challenge c;
	int rc;

	if (out_len)
		*out_len = 0;
	if (!secret || !issuer_name || !origin_info)
		return PP_ERR_ARG;
	gate_window_context(secret, w, ctx);
	memset(&c, 0, sizeof(c));
	c.token_type = token_type;
	c.issuer_name = (const uint8_t *)issuer_name;
	c.issuer_name_len = strlen(issuer_name);
	c.redemption_context = ctx;
	c.redemption_context_len = sizeof(ctx);
	c.origin_info = (const uint8_t *)origin_info;
	c.origin_info_len = strlen(origin_info);
	rc = tok_challenge_encode(&c, out, cap, out_len);
	return rc;
}

static void cookie_mac(const uint8_t secret[GATE_SECRET_LEN],
		       const char *origin_info, const uint8_t exp[8],
		       uint8_t mac[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;
	uint8_t olen[8];
	size_t n = strlen(origin_info);

	be64(n, olen);
	crypto_auth_hmacsha256_init(&st, secret, GATE_SECRET_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)GATE_COOKIE_LABEL,
				      sizeof(GATE_COOKIE_LABEL));
	crypto_auth_hmacsha256_update(&st, olen, sizeof(olen));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)origin_info, n);
	crypto_auth_hmacsha256_update(&st, exp, 8);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

int gate_cookie_make(const uint8_t secret[GATE_SECRET_LEN],
		     const char *origin_info, int64_t expires_at, char *out,
		     size_t cap)
{
	uint8_t raw[GATE_COOKIE_RAW];

	if (cap)
		out[0] = '\0';
	if (!secret || !origin_info || expires_at <= 0)
		return PP_ERR_ARG;
	be64((uint64_t)expires_at, raw);
	cookie_mac(secret, origin_info, raw, raw + 8);
	return b64_encode(raw, sizeof(raw), out, cap, NULL);
}

int gate_cookie_check(const uint8_t secret[GATE_SECRET_LEN],
		      const char *origin_info, const char *value, size_t len,
		      int64_t now)
{
	uint8_t raw[GATE_COOKIE_RAW + 4], mac[crypto_auth_hmacsha256_BYTES];
	uint64_t exp = 0;
	size_t n = 0, i;
	int ok;

	if (!secret || !origin_info || !value ||
	    b64_decode(value, len, raw, sizeof(raw), &n) != 0 ||
	    n != GATE_COOKIE_RAW)
		return PP_ERR_VERIFY;
	cookie_mac(secret, origin_info, raw, mac);
	ok = sodium_memcmp(mac, raw + 8, sizeof(mac)) == 0;
	for (i = 0; i < 8; i++)
		exp = exp << 8 | raw[i];
	if (!ok || now < 0 || exp <= (uint64_t)now || exp > (uint64_t)INT64_MAX)
		return PP_ERR_VERIFY;
	return 0;
}

const char *gate_cookie_find(const char *header, size_t *len)
{
	static const char name[] = GATE_COOKIE_NAME "=";
	const char *p = header;

	*len = 0;
	if (!header)
		return NULL;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (!strncmp(p, name, sizeof(name) - 1)) {
			const char *v = p + sizeof(name) - 1;
			size_t n = strcspn(v, ";");

			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
				v++;
				n -= 2;
			}
			*len = n;
			return v;
		}
		p += strcspn(p, ";");
	}
	return NULL;
}
