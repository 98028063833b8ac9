/* Per-address connection counts shared by a listener's loop threads. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "api/iplimit.h"
#include "tu.h"

TestSuite(iplimit, .fini = tu_leak_check);

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6 v6(const char *a)
{
	struct sockaddr_in6 s;

	memset(&s, 0, sizeof(s));
	s.sin6_family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return s;
}

#define SA(x) ((const struct sockaddr *)&(x)), sizeof(x)

Test(iplimit, refuses_past_the_limit_and_admits_again_after_a_give)
{
	struct api_iplimit *t;
	struct api_ipcount *h[3], *x;
	struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
	int i;

	cr_assert_eq(api_iplimit_new(3, &t), 0);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(api_iplimit_take(t, SA(a), &h[i]), 1);
		cr_assert_not_null(h[i]);
	}
	cr_assert_eq(api_iplimit_take(t, SA(a), &x), 0, "a 4th connection was admitted");
	cr_assert_null(x);
	/* another address has its own count */
	cr_assert_eq(api_iplimit_take(t, SA(b), &x), 1);
	api_iplimit_give(t, x);
	api_iplimit_give(t, h[1]);
	cr_assert_eq(api_iplimit_take(t, SA(a), &h[1]), 1, "not admitted after one closed");
	for (i = 0; i < 3; i++)
		api_iplimit_give(t, h[i]);
	/* every count was given back: the address starts from zero */
	for (i = 0; i < 3; i++)
		cr_assert_eq(api_iplimit_take(t, SA(a), &h[i]), 1);
	for (i = 0; i < 3; i++)
		api_iplimit_give(t, h[i]);
	api_iplimit_free(t);
}

Test(iplimit, ipv4_and_its_mapped_ipv6_form_share_one_count)
{
	struct api_iplimit *t;
	struct api_ipcount *h, *x;
	struct sockaddr_in a = v4("198.51.100.7");
	struct sockaddr_in6 m = v6("::ffff:198.51.100.7"), o = v6("2001:db8::7");

	cr_assert_eq(api_iplimit_new(1, &t), 0);
	cr_assert_eq(api_iplimit_take(t, SA(a), &h), 1);
	cr_assert_eq(api_iplimit_take(t, SA(m), &x), 0);
	cr_assert_eq(api_iplimit_take(t, SA(o), &x), 1);
	api_iplimit_give(t, x);
	api_iplimit_give(t, h);
	api_iplimit_free(t);
}

Test(iplimit, no_limit_or_non_ip_address_counts_nothing)
{
	struct api_iplimit *t;
	struct api_ipcount *h;
	struct sockaddr_in a = v4("192.0.2.1");
	struct sockaddr_un u;
	int i;

	cr_assert_eq(api_iplimit_new(0, &t), 0);
	for (i = 0; i < 1000; i++) {
		cr_assert_eq(api_iplimit_take(t, SA(a), &h), 1);
		cr_assert_null(h);
	}
	api_iplimit_free(t);
	memset(&u, 0, sizeof(u));
	u.sun_family = AF_UNIX;
	cr_assert_eq(api_iplimit_new(1, &t), 0);
	cr_assert_eq(api_iplimit_take(t, SA(u), &h), 1);
	cr_assert_null(h);
	api_iplimit_give(t, NULL);
	api_iplimit_free(t);
}
