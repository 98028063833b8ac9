/* Two real servers sharing keys and a six-node Redis Cluster
 * (--redis-cluster, redis-min-replicas 1 by default): tokens redeemed on
 * one are refused by the other, /readyz reports the store, /metrics the
 * cluster's masters, MOVED/ASK, WAITs; a master killed with kill -9 is
 * replaced by its replica and redemptions go on. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "th.h"
#include "../unit/tu_rcluster.h"
#include "../unit/tu.h"

TestSuite(rcluster, .fini = tu_leak_check, .timeout = 90);

#define RC_TOKENS 40

Test(rcluster, fleet_refuses_every_redeemed_token_from_any_instance)
{
	struct tu_rcluster rc;
	struct th_server a, b;
	struct th_client c;
	static char tok[RC_TOKENS][600];
	char *body = NULL, *text;
	const char *args[] = { "--spent-backend", "redis", "--redis-cluster", NULL,
			       "--redis-timeout-ms", "1000", NULL };
	long st;
	int i, victim, tries;

	tu_rcluster_start(&rc);
	args[3] = rc.seeds;
	th_dir_init(&a);
	th_server_start(&a, args, NULL);
	th_dir_init(&b);
	strcpy(b.data_dir, a.data_dir);   /* shared keys */
	th_server_start(&b, args, NULL);
	th_client_init(&c, &a);

	for (i = 0; i < RC_TOKENS; i++) {
		th_issue(&a, &c, tok[i], sizeof(tok[i]));
		cr_assert_eq(th_redeem(&a, tok[i], NULL, 0), 200, "token %d", i);
	}
	for (i = 0; i < RC_TOKENS; i++) {
		cr_expect_eq(th_redeem(&b, tok[i], NULL, 0), 409, "token %d on b", i);
		cr_expect_eq(th_redeem(&a, tok[i], NULL, 0), 409, "token %d on a", i);
	}
	st = th_get(&b, "/readyz", &body);
	cr_expect_eq(st, 200, "%s", body);
	cr_expect(strstr(body, "\"backend\":\"redis\"") != NULL, "%s", body);
	free(body);
	text = th_metrics_text(&a, NULL);
	cr_expect(strstr(text, "ppissuer_spent_redis_node_commands_total{node=\"127.0.0.1:") != NULL,
		  "%.2000s", text);
	cr_expect(strstr(text, "ppissuer_spent_redis_waits_total{result=\"too_few_replicas\"} 0") != NULL);
	free(text);
	cr_expect_gt(th_metric_value(&a, "ppissuer_spent_redis_waits_total{result=\"ok\"} "), 0);

	/* a master dies: its replica takes over (node timeout 1 s); the dead
	 * node comes back as that replica's replica, so WAIT 1 succeeds
	 * again; until then its slots answer 503, never 200 without a
	 * replica's copy */
	victim = tu_rcluster_master_of(&rc, 0);
	cr_assert_geq(victim, 0);
	tu_redis_signal(&rc.node[victim], SIGKILL);
	th_sleep_ms(2500);
	tu_redis_start(&rc.node[victim]);
	cr_assert(tu_rcluster_wait_ok(&rc, 20.0));
	for (i = 0; i < RC_TOKENS; i++) {
		for (tries = 0; tries < 50; tries++) {
			st = th_redeem(&b, tok[i], NULL, 0);
			if (st != 503)
				break;
			th_sleep_ms(100);
		}
		cr_expect_eq(st, 409, "token %d after the failover", i);
	}
	for (i = 0; i < 10; i++) {
		char fresh[600];

		th_issue(&a, &c, fresh, sizeof(fresh));
		for (tries = 0; tries < 50; tries++) {
			st = th_redeem(&b, fresh, NULL, 0);
			if (st != 503)
				break;
			th_sleep_ms(100);
		}
		cr_expect_eq(st, 200, "fresh token %d after the failover", i);
		cr_expect_eq(th_redeem(&a, fresh, NULL, 0), 409);
	}

	th_client_free(&c);
	cr_expect_eq(th_server_stop(&a), 0);
	cr_expect_eq(th_server_stop(&b), 0);
	th_dir_cleanup(&b);
	th_dir_cleanup(&a);
	tu_rcluster_free(&rc);
}
