/* The real server with its signing key in a SoftHSM2 token: tokens issued
 * through the token verify; a wrong PIN refuses to start; a token fault
 * (tests/data/p11shim) answers 503 on /readyz and issuance and recovers;
 * two servers share one token and key; a rotation with --pkcs11 while
 * requests run fails none; keys prune destroys a retired key's token
 * objects (and keeps the key when it has no token to destroy them in). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "th.h"
#include "../unit/tu_p11.h"
#include "../unit/tu.h"

static struct tu_p11 tok;
static int have_hsm;

static void setup(void)
{
	have_hsm = tu_p11_init(&tok) == 0;
}

static void teardown(void)
{
	tu_p11_cleanup(&tok);
	tu_leak_check();
}

TestSuite(pkcs11_http, .init = setup, .fini = teardown, .timeout = 120);

#define NEED_HSM() do { if (!have_hsm) \
	cr_skip_test("softhsm2 is not installed (apt-get install softhsm2)"); \
	} while (0)

static void start(struct th_server *s, const char *module)
{
	const char *args[] = { "--pkcs11-module", module, "--pkcs11-token",
			       TU_P11_TOKEN, "--pkcs11-pin-file", tok.pin_file,
			       NULL };

	th_server_start(s, args, NULL);
}

static void issue_ok(struct th_server *s, int n)
{
	struct th_client c;
	char b64[600];
	int i;

	th_client_init(&c, s);
	for (i = 0; i < n; i++)
		th_issue(s, &c, b64, sizeof(b64));   /* finalizes and verifies */
	th_client_free(&c);
}

Test(pkcs11_http, token_key_issues_tokens_that_verify)
{
	struct th_server s;
	char *body = NULL, name[400];

	NEED_HSM();
	th_dir_init(&s);
	start(&s, tok.module);
	cr_assert(th_log_contains(&s, "generated key"), "no first key made");
	issue_ok(&s, 20);
	cr_assert_eq(th_get(&s, "/readyz", &body), 200, "%s", body);
	free(body);
	cr_assert_gt(th_metric_value(&s, "ppissuer_hsm_operations_total{backend=\"pkcs11\",result=\"ok\"}"), 19);
	cr_assert_eq(th_server_stop(&s), 0);
	/* no private key file: the store holds only metadata */
	snprintf(name, sizeof(name), "ls %s/keys/*.key 2>/dev/null | wc -l | grep -qx 0",
		 s.data_dir);
	cr_assert_eq(th_sh(name, NULL), 0, "a private key file was written");
	th_dir_cleanup(&s);
}

Test(pkcs11_http, wrong_pin_refuses_to_start)
{
	struct th_server s;
	char cmd[2000], *out = NULL;
	int rc;

	NEED_HSM();
	th_dir_init(&s);
	snprintf(cmd, sizeof(cmd), "printf 0000 > %s/bad && chmod 600 %s/bad && "
		 "timeout 20 %s serve --listen 127.0.0.1:0 --data-dir %s "
		 "--pkcs11-module %s --pkcs11-token %s --pkcs11-pin-file %s/bad",
		 s.dir, s.dir, getenv("PP_BIN"), s.data_dir, tok.module,
		 TU_P11_TOKEN, s.dir);
	rc = th_sh(cmd, &out);
	cr_assert_eq(rc, 2, "exit %d: %s", rc, out);
	cr_assert(strstr(out, "CKR_PIN_INCORRECT") && strstr(out, "--pkcs11-pin-file"),
		  "%s", out);
	cr_assert_null(strstr(out, "0000"), "the PIN was logged");
	free(out);
	th_dir_cleanup(&s);
}

Test(pkcs11_http, token_fault_gives_503_and_recovers)
{
	struct th_server s;
	struct th_client c;
	struct th_resp r;
	char cmd[1200], shim[400], fault[400], env1[500], env2[500], b64[600];
	char *body = NULL;
	const char *hdr[] = { "Content-Type: application/private-token-request", NULL };
	int i, code = 0;

	NEED_HSM();
	th_dir_init(&s);
	snprintf(shim, sizeof(shim), "%s/p11shim.so", s.dir);
	snprintf(fault, sizeof(fault), "%s/fault", s.dir);
	snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -o %s %s/tests/data/p11shim/p11shim.c "
		 "$(pkg-config --cflags p11-kit-1)", shim, getenv("PP_SRC"));
	cr_assert_eq(th_sh(cmd, NULL), 0, "cannot build the fault shim");
	snprintf(env1, sizeof(env1), "PP_P11SHIM_REAL=%s", tok.module);
	snprintf(env2, sizeof(env2), "PP_P11SHIM_FAULT=%s", fault);
	{
		const char *args[] = { "--pkcs11-module", shim, "--pkcs11-token",
				       TU_P11_TOKEN, "--pkcs11-pin-file",
				       tok.pin_file, NULL };
		const char *env[] = { env1, env2, NULL };

		th_server_start(&s, args, env);
	}
	issue_ok(&s, 3);
	th_client_init(&c, &s);
	th_sh_ok("touch %s", fault);                  /* the token goes away */
	th_client_request(&c);
	cr_assert_eq(th_http(&s, "POST", "/token-request", hdr, c.request,
			     sizeof(c.request), &r), 0);
	code = (int)r.status;
	th_resp_free(&r);
	cr_assert_eq(code, 503, "issuance answered %d", code);
	cr_assert_eq(th_get(&s, "/readyz", &body), 503, "%s", body);
	cr_assert(strstr(body, "PKCS#11"), "%s", body);
	free(body);
	th_sh_ok("rm -f %s", fault);                  /* and comes back */
	for (i = 0; i < 50; i++) {
		body = NULL;
		code = (int)th_get(&s, "/readyz", &body);
		free(body);
		if (code == 200)
			break;
		th_sleep_ms(100);
	}
	cr_assert_eq(code, 200, "/readyz did not recover");
	th_issue(&s, &c, b64, sizeof(b64));
	th_client_free(&c);
	cr_assert_gt(th_metric_value(&s, "ppissuer_hsm_recoveries_total{backend=\"pkcs11\"}"), 0);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

Test(pkcs11_http, two_servers_share_one_token_key)
{
	struct th_server a, b;
	char *da = NULL, *db = NULL;

	NEED_HSM();
	th_dir_init(&a);
	start(&a, tok.module);
	/* b: its own dir, the same key store (metadata) and token */
	th_dir_init(&b);
	th_sh_ok("rmdir %s 2>/dev/null; cp -a %s %s", b.data_dir, a.data_dir,
		 b.data_dir);
	th_sh_ok("rm -rf %s/spent", b.data_dir);
	start(&b, tok.module);
	cr_assert_eq(th_get(&a, "/.well-known/private-token-issuer-directory", &da), 200);
	cr_assert_eq(th_get(&b, "/.well-known/private-token-issuer-directory", &db), 200);
	cr_assert_str_eq(da, db, "the two servers publish different keys");
	issue_ok(&a, 5);
	issue_ok(&b, 5);
	free(da);
	free(db);
	cr_assert_eq(th_server_stop(&a), 0);
	cr_assert_eq(th_server_stop(&b), 0);
	th_dir_cleanup(&a);
	th_dir_cleanup(&b);
}

Test(pkcs11_http, rotation_with_pkcs11_under_load_fails_no_request)
{
	struct th_server s;
	const char *rot[] = { "rotate", "--pkcs11", "--pkcs11-module", NULL,
			      "--pkcs11-token", TU_P11_TOKEN, "--pkcs11-pin-file",
			      NULL, "--lead", "2s", "--max-age", "1",
			      "--lifetime", "10s", "--overlap", "20s", NULL };
	struct th_client c;
	char *body = NULL, b64[600];
	pid_t pid;
	int i, st = 0;

	NEED_HSM();
	rot[3] = tok.module;
	rot[7] = tok.pin_file;
	th_dir_init(&s);
	{
		const char *args[] = { "--pkcs11-module", tok.module,
				       "--pkcs11-token", TU_P11_TOKEN,
				       "--pkcs11-pin-file", tok.pin_file,
				       "--reload-interval", "1", NULL };

		th_server_start(&s, args, NULL);
	}
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		th_sleep_ms(300);
		th_keys_cmd(&s, rot);
		_exit(0);
	}
	/* a client that chose the key before the rotation keeps going across
	 * the hand-over (th_issue fails the test on any answer but 200 with a
	 * token that verifies); then the new key, once it signs */
	th_client_init(&c, &s);
	for (i = 0; i < 40; i++) {
		th_issue(&s, &c, b64, sizeof(b64));
		th_sleep_ms(100);
	}
	th_client_free(&c);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "keys rotate failed");
	free(th_metrics_wait(&s, "ppissuer_key_not_before_seconds"));
	issue_ok(&s, 5);
	cr_assert_eq(th_get(&s, "/.well-known/private-token-issuer-directory", &body), 200);
	cr_assert(strstr(body, "token-keys"));
	free(body);
	cr_assert_eq(th_server_stop(&s), 0);
	th_dir_cleanup(&s);
}

/* Objects in the test token whose label is label (pkcs11-tool, an
 * independent reader of the token). */
static int token_objects(const char *label)
{
	char cmd[800], line[256];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "pkcs11-tool --module %s --token-label %s "
		 "--login --pin %s --list-objects 2>/dev/null", tok.module,
		 TU_P11_TOKEN, TU_P11_PIN);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "label:") && strstr(line, label))
			n++;
	cr_assert_eq(pclose(p), 0, "pkcs11-tool failed");
	return n;
}

/* "generated key <id> ..." and "in PKCS#11 token '...' as <label>" */
static void generated(const char *out, char id[65], char label[64])
{
	const char *p = strstr(out, "generated key ");
	const char *q = strstr(out, "' as ppissuer-");

	cr_assert(p && q, "%s", out);
	memcpy(id, p + 14, 64);
	id[64] = '\0';
	cr_assert_eq(sscanf(q + 5, "%63s", label), 1);
}

/* ppissuer keys ARGS --data-dir D [--pkcs11 ...]; its exit status, and
 * its output in *out (replacing what was there). */
static int keys_run(const struct th_server *s, const char *const *args,
		    int with_p11, char **out)
{
	const char *argv[24];
	size_t n = 0, i;

	for (i = 0; args[i] && n < 12; i++)
		argv[n++] = args[i];
	if (with_p11) {
		argv[n++] = "--pkcs11";
		argv[n++] = "--pkcs11-module";
		argv[n++] = tok.module;
		argv[n++] = "--pkcs11-token";
		argv[n++] = TU_P11_TOKEN;
		argv[n++] = "--pkcs11-pin-file";
		argv[n++] = tok.pin_file;
	}
	argv[n] = NULL;
	free(*out);
	*out = NULL;
	return th_keys_run(s, argv, out);
}

Test(pkcs11_http, prune_destroys_a_retired_keys_token_objects)
{
	struct th_server s;
	char ida[65], idb[65], la[64], lb[64], *out = NULL;

	NEED_HSM();
	if (system("command -v pkcs11-tool >/dev/null") != 0)
		cr_skip_test("pkcs11-tool is not installed (apt-get install opensc)");
	th_dir_init(&s);
	cr_assert_eq(keys_run(&s, (const char *[]){ "generate", NULL }, 1, &out), 0,
		     "%s", out);
	generated(out, ida, la);
	cr_assert_eq(keys_run(&s, (const char *[]){ "generate", NULL }, 1, &out), 0,
		     "%s", out);
	generated(out, idb, lb);
	/* a private and a public object for each; A signs, B is pending and
	 * retires at once */
	cr_assert_eq(token_objects(la), 2);
	cr_assert_eq(token_objects(lb), 2);
	cr_assert_eq(keys_run(&s, (const char *[]){ "retire", idb, NULL }, 0, &out), 0,
		     "%s", out);

	/* without the token: the key stays, with what to do */
	cr_assert_eq(keys_run(&s, (const char *[]){ "prune", NULL }, 0, &out), 0,
		     "%s", out);
	cr_assert(strstr(out, "kept retired key") && strstr(out, idb) &&
		  strstr(out, "--pkcs11"), "%s", out);
	cr_assert_null(strstr(out, "deleted retired key"), "%s", out);
	cr_assert_eq(keys_run(&s, (const char *[]){ "list", NULL }, 0, &out), 0);
	cr_assert(strstr(out, idb), "the key's metadata went: %s", out);
	cr_assert_eq(token_objects(lb), 2);

	/* with the token: the objects go first, then the metadata */
	cr_assert_eq(keys_run(&s, (const char *[]){ "prune", NULL }, 1, &out), 0,
		     "%s", out);
	cr_assert(strstr(out, "deleted retired key") && strstr(out, idb) &&
		  strstr(out, "and its token objects"), "%s", out);
	cr_assert_eq(token_objects(lb), 0, "the retired key's objects remain");
	cr_assert_eq(token_objects(la), 2, "the other key's objects went");
	cr_assert_eq(keys_run(&s, (const char *[]){ "list", NULL }, 0, &out), 0);
	cr_assert_null(strstr(out, idb), "%s", out);
	cr_assert(strstr(out, ida), "%s", out);
	cr_assert(strstr(strstr(out, ida), "  pkcs11  "), "list does not say where: %s", out);
	cr_assert_eq(keys_run(&s, (const char *[]){ "list", "--json", NULL }, 0, &out), 0);
	{
		json_t *l = json_loads(out, 0, NULL);
		json_t *p = json_object_get(json_array_get(l, 0), "pkcs11");

		cr_assert_eq(json_array_size(l), 1, "%s", out);
		cr_assert_str_eq(json_string_value(json_object_get(p, "token")), TU_P11_TOKEN);
		cr_assert_str_eq(json_string_value(json_object_get(p, "label")), la);
		json_decref(l);
	}

	/* the remaining key still signs through the token */
	start(&s, tok.module);
	issue_ok(&s, 2);
	cr_assert_eq(th_server_stop(&s), 0);
	cr_assert_eq(keys_run(&s, (const char *[]){ "prune", NULL }, 1, &out), 0,
		     "%s", out);
	cr_assert(strstr(out, "no retired keys to delete"), "%s", out);
	free(out);
	th_dir_cleanup(&s);
}
