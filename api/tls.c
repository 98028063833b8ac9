#include "api/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "base/pp_err.h"

#define TLS_FILE_CAP (1u << 20)

/* TLS 1.2 and 1.3 only, GnuTLS's default suites otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct api_tls {
	char *cert;
	char *key;        /* sodium_malloc'd: the server's private key */
	size_t key_cap;
	char *ca;
	struct MHD_OptionItem opts[5];
};

/* Reads a whole PEM file into a NUL-terminated buffer; a private file must
 * not be accessible to group or others and goes into guarded memory. */
static int read_pem(const char *path, int private_file, char **out,
		    size_t *cap_out, char *err, size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0, cap;
	int fd, rc = PP_ERR_IO;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return PP_ERR_IO;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		goto cleanup;
	}
	if (private_file && (sb.st_mode & 077)) {
		snprintf(err, errlen, "%s is mode %04o; run chmod 600 %s", path,
			 (unsigned)(sb.st_mode & 07777), path);
		rc = PP_ERR_PERM;
		goto cleanup;
	}
	if (sb.st_size <= 0 || (unsigned long long)sb.st_size > TLS_FILE_CAP) {
		snprintf(err, errlen, "%s is empty or larger than %u bytes", path,
			 TLS_FILE_CAP);
		goto cleanup;
	}
	cap = (size_t)sb.st_size + 1;
	buf = private_file ? sodium_malloc(cap) : malloc(cap);
	if (!buf) {
		rc = PP_ERR_NOMEM;
		goto cleanup;
	}
	while (got < cap - 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != cap - 1) {
		snprintf(err, errlen, "cannot read %s", path);
		goto cleanup;
	}
	buf[got] = '\0';
	*out = buf;
	if (cap_out)
		*cap_out = cap;
	buf = NULL;
	rc = 0;
cleanup:
	if (buf) {
		if (private_file) {
			sodium_free(buf);
		} else {
			free(buf);
		}
	}
	close(fd);
	return rc;
}

int api_tls_load(const struct api_opts *o, struct api_tls **out, char *err,
		 size_t errlen)
{
	struct api_tls *t;
	size_t i = 0;
	int rc;

	*out = NULL;
	if (!o->tls_cert_file || !o->tls_key_file) {
		snprintf(err, errlen, "the TLS listener needs tls-cert and tls-key");
		return PP_ERR_CONFIG;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return PP_ERR_NOMEM;
	rc = read_pem(o->tls_cert_file, 0, &t->cert, NULL, err, errlen);
	if (!rc)
		rc = read_pem(o->tls_key_file, 1, &t->key, &t->key_cap, err, errlen);
	if (!rc && o->tls_client_ca_file)
		rc = read_pem(o->tls_client_ca_file, 0, &t->ca, NULL, err, errlen);
	if (rc) {
		api_tls_free(t);
		return rc;
	}
	t->opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert };
	t->opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, t->key };
	t->opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						(void *)(uintptr_t)TLS_PRIORITIES };
	/* A trust list makes libmicrohttpd ask every client for a certificate
	 * (GNUTLS_CERT_REQUEST: optional, so bearer clients still connect);
	 * verification and mapping happen per request in api_tls_peer_get. */
	if (t->ca)
		t->opts[i++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, t->ca };
	t->opts[i] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	*out = t;
	return 0;
}

void api_tls_free(struct api_tls *t)
{
	if (!t)
		return;
	free(t->cert);
	sodium_free(t->key); /* wipes before freeing */
	free(t->ca);
	free(t);
}

const struct MHD_OptionItem *api_tls_options(const struct api_tls *t)
{
	return t->opts;
}

static int peer_fill(gnutls_x509_crt_t crt, struct api_tls_peer *out)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = { NULL, 0 }, dn = { NULL, 0 };
	int rc = PP_ERR_AUTH;

	if (gnutls_pubkey_init(&pub) < 0)
		return PP_ERR_NOMEM;
	if (gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0 ||
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, out->spki_sha256) < 0)
		goto cleanup;
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0 && dn.size <= CL_SUBJECT_MAX) {
		memcpy(out->subject, dn.data, dn.size);
		out->subject[dn.size] = '\0';
	}
	out->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
	rc = 0;
cleanup:
	gnutls_free(der.data);
	gnutls_free(dn.data);
	gnutls_pubkey_deinit(pub);
	return rc;
}

int api_tls_peer_get(struct MHD_Connection *conn, struct api_tls_peer *out)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t sess;
	gnutls_typed_vdata_st purpose;
	const gnutls_datum_t *chain;
	gnutls_x509_crt_t crt = NULL;
	unsigned int n = 0, status = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return PP_ERR_NOT_FOUND;
	sess = (gnutls_session_t)ci->tls_session;
	if (gnutls_certificate_type_get(sess) != GNUTLS_CRT_X509)
		return PP_ERR_AUTH;
	chain = gnutls_certificate_get_peers(sess, &n);
	if (!chain || n == 0)
		return PP_ERR_NOT_FOUND;
	/* Chain to the client CA, validity period, and (if the certificate
	 * names purposes) TLS client authentication. */
	memset(&purpose, 0, sizeof(purpose));
	purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
	purpose.data = (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT;
	if (gnutls_certificate_verify_peers(sess, &purpose, 1, &status) < 0 || status != 0)
		return PP_ERR_AUTH;
	if (gnutls_x509_crt_init(&crt) < 0)
		return PP_ERR_NOMEM;
	rc = gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) < 0 ?
	     PP_ERR_AUTH : peer_fill(crt, out);
	gnutls_x509_crt_deinit(crt);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}
