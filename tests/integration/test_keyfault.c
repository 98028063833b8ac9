/* Faults of key files never make a redeemed token valid again: a key whose
 * metadata is briefly unreadable (mode 0644, a symlink, truncated) keeps its
 * entry; one that was never loaded answers 503; a key retired before stays
 * out even when an old copy of its files comes back. Real binary, real files,
 * the LMDB store. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/tu.h"
#include "th.h"

#define NTOK 3

TestSuite(keyfault, .timeout = 120, .fini = tu_leak_check);

/* The metadata file of the client's key. */
static void meta_path(const struct th_server *s, const struct th_client *c, char *out,
		      size_t cap)
{
	static const char hx[] = "0123456789abcdef";
	char id[65];
	int i;

	for (i = 0; i < 32; i++) {
		id[2 * i] = hx[c->key_id[i] >> 4];
		id[2 * i + 1] = hx[c->key_id[i] & 15];
	}
	id[64] = '\0';
	snprintf(out, cap, "%s/keys/%s.json", s->data_dir, id);
}

/* Every token answers `want`; reloads run every second, so wait for three. */
static void expect_all(const struct th_server *s, char tok[][600], long want,
		       const char *when)
{
	char body[512];
	int i;

	for (i = 0; i < NTOK; i++) {
		long st = th_redeem(s, tok[i], body, sizeof(body));

		cr_assert_eq(st, want, "%s: token %d answered %ld (%s), want %ld", when, i,
			     st, body, want);
	}
}

/* Three tokens of the first key redeemed, then a rotation so the first key
 * only verifies (it is retiring, as in the reported fault). */
static void setup(struct th_server *s, struct th_client *c, char tok[][600])
{
	int i;

	th_dir_init(s);
	th_server_start(s, (const char *[]){ "--reload-interval", "1", NULL }, NULL);
	th_client_init(c, s);
	for (i = 0; i < NTOK; i++)
		th_issue(s, c, tok[i], 600);
	expect_all(s, tok, 200, "first redemption");
	th_keys_cmd(s, (const char *[]){ "rotate", "--lead", "1s", "--overlap", "1h", "--max-age", "1",
				         NULL });
	sleep(3);
	expect_all(s, tok, 409, "after the rotation");
}

Test(keyfault, transient_metadata_faults_keep_tokens_spent)
{
	struct th_server s;
	struct th_client c;
	char tok[NTOK][600], meta[512];

	setup(&s, &c, tok);
	meta_path(&s, &c, meta, sizeof(meta));

	th_sh_ok("mv '%s' '%s.bak' && ln -s '%s.bak' '%s'", meta, meta, meta, meta);
	sleep(3);
	expect_all(&s, tok, 409, "metadata replaced by a symlink");
	th_sh_ok("rm '%s' && mv '%s.bak' '%s'", meta, meta, meta);
	sleep(3);
	expect_all(&s, tok, 409, "after the symlink is gone");

	th_sh_ok("cp -p '%s' '%s.bak' && : > '%s'", meta, meta, meta);
	sleep(3);
	expect_all(&s, tok, 409, "metadata truncated");
	cr_assert(th_metrics_has(&s, "ppissuer_keys_unreadable{kind=\"kept\"} 1"));
	th_sh_ok("cat '%s.bak' > '%s' && rm '%s.bak'", meta, meta, meta);
	sleep(3);
	expect_all(&s, tok, 409, "after the metadata is restored");
	cr_assert(th_metrics_has(&s, "ppissuer_keys_unreadable{kind=\"kept\"} 0"));

	cr_assert(th_log_contains(&s, "keeping the entry loaded before"));

	cr_assert(!th_log_contains(&s, "spent records dropped"),
		  "a key-file fault dropped spent records");
	cr_assert_eq(th_server_stop(&s), 0);
	th_client_free(&c);
	th_dir_cleanup(&s);
}

Test(keyfault, key_never_loaded_answers_unavailable)
{
	struct th_server s;
	struct th_client c;
	char tok[NTOK][600], meta[512], body[512];

	setup(&s, &c, tok);
	meta_path(&s, &c, meta, sizeof(meta));
	cr_assert_eq(th_server_stop(&s), 0);

	/* the server starts while the key's metadata cannot be read */
	th_sh_ok("cp -p '%s' '%s.bak' && : > '%s'", meta, meta, meta);
	th_server_start(&s, (const char *[]){ "--reload-interval", "1", NULL }, NULL);
	cr_assert_eq(th_redeem(&s, tok[0], body, sizeof(body)), 503, "%s", body);
	cr_assert(strstr(body, "\"result\":\"unavailable\""), "%s", body);
	cr_assert(strstr(body, "key cannot be read"), "%s", body);
	cr_assert(th_metrics_has(&s, "ppissuer_keys_unreadable{kind=\"unavailable\"} 1"));
	th_sh_ok("cat '%s.bak' > '%s'", meta, meta);
	sleep(3);
	expect_all(&s, tok, 409, "once the key can be read");
	cr_assert(!th_log_contains(&s, "spent records dropped"));
	cr_assert_eq(th_server_stop(&s), 0);
	th_client_free(&c);
	th_dir_cleanup(&s);
}

Test(keyfault, retired_key_restored_from_backup_stays_refused)
{
	struct th_server s;
	struct th_client c;
	char tok[NTOK][600], meta[512], body[512], id[65];

	setup(&s, &c, tok);
	meta_path(&s, &c, meta, sizeof(meta));
	/* a backup of the key as it was while it verified */
	th_sh_ok("mkdir -p '%s/backup' && cp -p '%s' '%s/backup/' && cp -p '%.*s.key' '%s/backup/'",
		 s.dir, meta, s.dir, (int)(strlen(meta) - 5), meta, s.dir);
	memcpy(id, strrchr(meta, '/') + 1, 64);
	id[64] = '\0';
	th_keys_cmd(&s, (const char *[]){ "retire", id, "--immediately", NULL });
	sleep(3);
	cr_assert(th_log_contains(&s, "spent records dropped"));
	cr_assert_eq(th_redeem(&s, tok[0], body, sizeof(body)), 403, "%s", body);

	/* the old copy comes back: its tokens stay refused */
	th_sh_ok("cp -p '%s/backup/'* '%s/keys/'", s.dir, s.data_dir);
	sleep(3);
	expect_all(&s, tok, 403, "after the retired key's files were restored");
	cr_assert(th_log_contains(&s, "was retired before"));
	cr_assert_eq(th_server_stop(&s), 0);

	/* and after a restart */
	th_server_start(&s, (const char *[]){ "--reload-interval", "1", NULL }, NULL);
	expect_all(&s, tok, 403, "after a restart");
	cr_assert_eq(th_server_stop(&s), 0);
	th_client_free(&c);
	th_dir_cleanup(&s);
}

Test(keyfault, signing_key_file_fault_keeps_key)
{
	struct th_server s;
	struct th_client c, c2;
	char tok[NTOK][600], tok2[NTOK][600], fresh[600], meta[512], keyf[512];
	struct th_resp r;
	int i;

	setup(&s, &c, tok);
	/* the key that signs now */
	th_client_init(&c2, &s);
	cr_assert(memcmp(c.key_id, c2.key_id, 32) != 0, "the rotation did not take");
	for (i = 0; i < NTOK; i++)
		th_issue(&s, &c2, tok2[i], 600);
	expect_all(&s, tok2, 200, "tokens of the new key");
	meta_path(&s, &c2, meta, sizeof(meta));
	snprintf(keyf, sizeof(keyf), "%.*s.key", (int)(strlen(meta) - 5), meta);

	th_sh_ok("chmod 644 '%s'", keyf);
	sleep(3);
	expect_all(&s, tok2, 409, "private key mode 0644");
	expect_all(&s, tok, 409, "the older key meanwhile");
	th_issue(&s, &c2, fresh, sizeof(fresh));   /* it still signs */
	cr_assert_eq(th_redeem(&s, fresh, NULL, 0), 200);
	cr_assert(th_log_contains(&s, "keeping the copy loaded before"));
	cr_assert_eq(th_http(&s, "GET", "/.well-known/private-token-issuer-directory", NULL,
			     NULL, 0, &r), 0);
	cr_assert_eq(r.status, 200);
	th_resp_free(&r);
	th_sh_ok("chmod 600 '%s'", keyf);
	sleep(3);
	expect_all(&s, tok2, 409, "after chmod 600");
	cr_assert(!th_log_contains(&s, "spent records dropped"));
	cr_assert_eq(th_server_stop(&s), 0);
	th_client_free(&c);
	th_client_free(&c2);
	th_dir_cleanup(&s);
}
