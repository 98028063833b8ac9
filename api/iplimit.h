/* Open connections per client address, shared by the event-loop threads of
 * one listener (api/listener.c): each thread runs its own libmicrohttpd
 * daemon, whose built-in per-address limit would only count its own. */
#ifndef PP_API_IPLIMIT_H
#define PP_API_IPLIMIT_H

#include <sys/socket.h>

struct api_iplimit;
struct api_ipcount;   /* one address's count; what a connection holds */

/* limit: connections per address (0 = none, every take succeeds and holds
 * nothing). Returns 0, or PP_ERR_NOMEM. Free with api_iplimit_free. */
int api_iplimit_new(unsigned limit, struct api_iplimit **out);
/* Only once no connection holds a count. Accepts NULL. */
void api_iplimit_free(struct api_iplimit *t);

/* Counts a new connection from addr. Returns 1 and sets *held (the count to
 * give back when it closes; NULL when nothing is counted: no limit, or an
 * address that is not IPv4/IPv6), or 0 when addr is at its limit or the
 * count cannot be stored: refuse the connection. Thread-safe. */
int api_iplimit_take(struct api_iplimit *t, const struct sockaddr *addr,
		     socklen_t len, struct api_ipcount **held);
/* Gives back what api_iplimit_take returned. Accepts NULL. Thread-safe. */
void api_iplimit_give(struct api_iplimit *t, struct api_ipcount *held);

#endif
