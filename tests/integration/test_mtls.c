/* The mutual-TLS listener over real TLS, with certificates the test makes
 * with the openssl command: a client certificate from the configured CA
 * identifies its client (by SPKI hash or by subject); one from another CA,
 * none at all, or a revoked client's is refused; bearer secrets work over
 * TLS too; the certificate's expiry shows in /metrics. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "crypto/token.h"
#include "th.h"

#define CT_REQ "Content-Type: application/private-token-request"

TestSuite(mtls, .timeout = 120, .fini = tu_leak_check);

struct pki {
	char dir[300];
	char ca[400], server_cert[400], server_key[400];
	char att_cert[400], att_key[400];        /* from the CA, mapped by SPKI */
	char org_cert[400], org_key[400];        /* from the CA, mapped by subject */
	char rogue_cert[400], rogue_key[400];    /* same subject as att, other CA */
	char att_spki[65];
	char org_subject[256];
};

/* Makes a CA key and certificate named base in p->dir. */
static void make_ca(const struct pki *p, const char *base, const char *cn)
{
	th_sh_ok("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout %s.key -out %s.pem -days 3 -subj '/CN=%s' "
		 "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign",
		 p->dir, base, base, cn);
}

/* Makes a client key and certificate named base, signed by the CA ca. */
static void make_client(const struct pki *p, const char *base, const char *subj,
			const char *ca)
{
	th_sh_ok("cd '%s' && printf 'extendedKeyUsage=clientAuth\\n' > %s.ext && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout %s.key -out %s.csr -subj '%s' && "
		 "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
		 "-out %s.pem -days 2 -extfile %s.ext",
		 p->dir, base, base, base, subj, base, ca, ca, base, base);
}

static void make_pki(struct pki *p, const char *dir)
{
	char cmd[1200], *out = NULL;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s/pki", dir);
	cr_assert_eq(mkdir(p->dir, 0700), 0);
	make_ca(p, "ca", "Test Client CA");
	make_ca(p, "rogue-ca", "Rogue CA");
	th_sh_ok("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout server.key -out server.pem -days 3 -subj '/CN=localhost' "
		 "-addext subjectAltName=IP:127.0.0.1,DNS:localhost && chmod 600 server.key",
		 p->dir);
	make_client(p, "att", "/O=Example Attester/CN=att-cert", "ca");
	make_client(p, "org", "/O=Example Origin/CN=org-cert", "ca");
	make_client(p, "rogue", "/O=Example Attester/CN=att-cert", "rogue-ca");
#define PKI_PATH(field, name) snprintf(p->field, sizeof(p->field), "%s/%s", p->dir, name)
	PKI_PATH(ca, "ca.pem");
	PKI_PATH(server_cert, "server.pem");
	PKI_PATH(server_key, "server.key");
	PKI_PATH(att_cert, "att.pem");
	PKI_PATH(att_key, "att.key");
	PKI_PATH(org_cert, "org.pem");
	PKI_PATH(org_key, "org.key");
	PKI_PATH(rogue_cert, "rogue.pem");
	PKI_PATH(rogue_key, "rogue.key");
#undef PKI_PATH
	/* What an operator would run to register the certificates. */
	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in '%s' -noout -pubkey | openssl pkey -pubin -outform DER "
		 "| openssl dgst -sha256 -r", p->att_cert);
	cr_assert_eq(th_sh(cmd, &out), 0);
	cr_assert(strlen(out) >= 64);
	memcpy(p->att_spki, out, 64);
	free(out);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -subject -nameopt RFC2253",
		 p->org_cert);
	cr_assert_eq(th_sh(cmd, &out), 0);
	cr_assert_eq(strncmp(out, "subject=", 8), 0, "%s", out);
	snprintf(p->org_subject, sizeof(p->org_subject), "%.*s",
		 (int)strcspn(out + 8, "\r\n"), out + 8);
	free(out);
}

static void start_tls(struct th_server *s, const struct pki *p, uint16_t *tls_port)
{
	th_server_start(s, (const char *[]){ "--reload-interval", "1",
					     "--tls-listen", "127.0.0.1:0",
					     "--tls-cert", p->server_cert,
					     "--tls-key", p->server_key,
					     "--tls-client-ca", p->ca, NULL }, NULL);
	*tls_port = th_log_port(s, "tls: accepting HTTPS");
	cr_assert_neq(*tls_port, 0, "no TLS port in the log");
	cr_assert_neq(*tls_port, s->port);
}

static long tls_token_request(uint16_t port, const struct th_tls *t,
			      struct th_client *c, const char *secret,
			      struct th_resp *r)
{
	char authz[200];
	const char *hdrs[3] = { CT_REQ, NULL, NULL };

	if (secret) {
		snprintf(authz, sizeof(authz), "Authorization: Bearer %s", secret);
		hdrs[1] = authz;
	}
	th_client_request(c);
	if (th_https(port, t, "POST", "/token-request", hdrs, c->request,
		     sizeof(c->request), r) != 0)
		return -1;
	return r->status;
}

static const char *err_code(const struct th_resp *r, char *buf, size_t cap)
{
	json_error_t e;
	json_t *j = json_loadb((const char *)r->body, r->len, 0, &e);

	cr_assert(j, "not JSON: %.*s", (int)r->len, r->body);
	snprintf(buf, cap, "%s", json_string_value(json_object_get(j, "error")));
	json_decref(j);
	return buf;
}

Test(mtls, client_certificates_identify_clients)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	struct pki p;
	uint16_t port;
	char *bearer, code[64];
	uint8_t token[TOK_TOKEN_LEN];
	struct th_tls att = { NULL, NULL, NULL }, org, rogue, none;

	th_dir_init(&s);
	make_pki(&p, s.dir);
	free(th_clients_add(&s, "att-cert", "attester",
			    (const char *[]){ "--cert-spki-sha256", p.att_spki, NULL }));
	free(th_clients_add(&s, "org-cert", "origin",
			    (const char *[]){ "--cert-subject", p.org_subject, NULL }));
	bearer = th_clients_add(&s, "att-bearer", "attester", NULL);
	start_tls(&s, &p, &port);
	th_client_init(&c, &s);
	att = (struct th_tls){ p.server_cert, p.att_cert, p.att_key };
	org = (struct th_tls){ p.server_cert, p.org_cert, p.org_key };
	rogue = (struct th_tls){ p.server_cert, p.rogue_cert, p.rogue_key };
	none = (struct th_tls){ p.server_cert, NULL, NULL };

	/* A trusted certificate mapped by SPKI hash: a token that verifies. */
	cr_assert_eq(tls_token_request(port, &att, &c, NULL, &r), 200, "%.*s",
		     (int)r.len, r.body);
	cr_assert_eq(th_client_finalize(&c, r.body, r.len, token), 0);
	th_resp_free(&r);
	/* The same subject from an untrusted CA. */
	cr_assert_eq(tls_token_request(port, &rogue, &c, NULL, &r), 401);
	cr_assert_str_eq(err_code(&r, code, sizeof(code)), "unauthorized");
	th_resp_free(&r);
	/* No certificate and no secret. */
	cr_assert_eq(tls_token_request(port, &none, &c, NULL, &r), 401);
	th_resp_free(&r);
	/* A bearer secret over TLS, without a certificate. */
	cr_assert_eq(tls_token_request(port, &none, &c, bearer, &r), 200);
	th_resp_free(&r);
	/* A trusted certificate mapped by subject, but an origin. */
	cr_assert_eq(tls_token_request(port, &org, &c, NULL, &r), 403);
	cr_assert_str_eq(err_code(&r, code, sizeof(code)), "forbidden");
	th_resp_free(&r);
	/* The plain listener knows nothing of certificates. */
	th_client_request(&c);
	cr_assert_eq(th_http(&s, "POST", "/token-request", (const char *[]){ CT_REQ, NULL },
			     c.request, sizeof(c.request), &r), 0);
	cr_assert_eq(r.status, 401);
	th_resp_free(&r);

	/* Expiry of the presented certificates, as a gauge. */
	cr_assert_eq(th_https(port, &none, "GET", "/metrics", NULL, NULL, 0, &r), 0);
	{
		char *m = strndup((const char *)r.body, r.len);
		const char *g = strstr(m, "ppissuer_client_cert_not_after_seconds{client=\"att-cert\"} ");
		long long t;

		cr_assert(g, "%s", m);
		t = strtoll(strchr(g, '}') + 2, NULL, 10);
		/* -days 2 from now */
		cr_assert(t > (long long)time(NULL) + 86400 &&
			  t <= (long long)time(NULL) + 2 * 86400 + 60, "notAfter %lld", t);
		cr_assert(strstr(m, "ppissuer_client_cert_not_after_seconds{client=\"org-cert\"} "), "%s", m);
		cr_assert(strstr(m, "ppissuer_client_tokens_issued_total{client=\"att-cert\"} 1\n"), "%s", m);
		cr_assert(strstr(m, "ppissuer_auth_failures_total{reason=\"certificate\"} 1\n"), "%s", m);
		free(m);
	}
	th_resp_free(&r);
	cr_assert(th_log_wait(&s, "\"client\":\"att-cert\"", 2000));

	/* Revoking the certificate's client: refused within seconds. */
	cr_assert_eq(th_clients(&s, (const char *[]){ "revoke", "att-cert", NULL }), 0);
	{
		long status = 200;
		int i;

		for (i = 0; i < 50 && status != 401; i++) {
			status = tls_token_request(port, &att, &c, NULL, &r);
			if (status != 401) {
				th_resp_free(&r);
				usleep(100000);
			}
		}
		cr_assert_eq(status, 401, "revoked certificate still accepted after 5 s");
		cr_assert_str_eq(err_code(&r, code, sizeof(code)), "credentials_revoked");
		th_resp_free(&r);
	}
	free(bearer);
	th_client_free(&c);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(mtls, unsafe_or_missing_tls_files_stop_the_server)
{
	struct th_server s;
	struct pki p;
	char *out = NULL;
	int rc;

	th_dir_init(&s);
	make_pki(&p, s.dir);
	cr_assert_eq(chmod(p.server_key, 0644), 0);
	rc = th_run((const char *[]){ "serve", "--listen", "127.0.0.1:0", "--data-dir",
				      s.data_dir, "--tls-listen", "127.0.0.1:0", "--tls-cert",
				      p.server_cert, "--tls-key", p.server_key, NULL }, &out);
	cr_assert_neq(rc, 0);
	cr_assert(strstr(out, "chmod 600"), "%s", out);
	free(out);
	rc = th_run((const char *[]){ "serve", "--listen", "127.0.0.1:0", "--data-dir",
				      s.data_dir, "--tls-listen", "127.0.0.1:0", NULL }, &out);
	cr_assert_eq(rc, 2);
	cr_assert(strstr(out, "tls-cert"), "%s", out);
	free(out);
	th_dir_cleanup(&s);
}
