/* A private six-node Redis Cluster (three masters, three replicas) for one
 * test process: six redis-servers from tu_redis (each in its own temp dir,
 * append-only file on, cluster-node-timeout 1000 ms) on free ports at or
 * below 55535 (the cluster bus listens on port + 10000), joined with
 * `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`.
 * Killed with the test like any tu_redis server. */
#ifndef PP_TU_RCLUSTER_H
#define PP_TU_RCLUSTER_H

#include "tu_redis.h"

#define TU_RC_NODES 6

struct tu_rcluster {
	struct tu_redis node[TU_RC_NODES];
	char seeds[128];     /* "127.0.0.1:P1,127.0.0.1:P2" */
};

/* Starts the six servers, creates the cluster and waits (up to 20 s) until
 * every node reports cluster_state:ok and every replica's link is up.
 * Fails the test otherwise. */
void tu_rcluster_start(struct tu_rcluster *c);
/* Waits up to secs until every running node reports cluster_state:ok, three
 * running masters serve all slots, and each master that has a running
 * replica sees it online. Returns 1 when it did. */
int tu_rcluster_wait_ok(struct tu_rcluster *c, double secs);
/* The index of the node that is a master and serves slot, or -1. */
int tu_rcluster_master_of(struct tu_rcluster *c, unsigned slot);
/* Whether node i is running and a master. */
int tu_rcluster_is_master(struct tu_rcluster *c, int i);
/* Keys in node i (DBSIZE), or -1. */
long long tu_rcluster_dbsize(struct tu_rcluster *c, int i);
/* Stops every server and removes their directories. */
void tu_rcluster_free(struct tu_rcluster *c);

/* The Redis Cluster slot of a key (CRC16, hash tags respected). */
unsigned tu_rcluster_slot(const char *key, size_t len);

#endif
