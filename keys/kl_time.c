/* Durations ("7d", "1d12h", "3600") and instants ("now", "+1d", unix
 * seconds, RFC 3339) as operators type them, and back. Civil-date
 * arithmetic is done here rather than with timegm() so that parsing never
 * depends on the process's time zone. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/pp_err.h"
#include "keys/lifecycle.h"

#define DURATION_MAX (100LL * 365 * KL_DAY)
#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int64_t unit_secs(char u)
{
	switch (u) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return KL_DAY;
	case 'w': return 7 * KL_DAY;
	}
	return 0;
}

int kl_duration_parse(const char *s, int64_t *out)
{
	int64_t total = 0;

	*out = 0;
	if (s == NULL || !is_digit(*s))
		return PP_ERR_ARG;
	while (*s) {
		int64_t num = 0, mul;

		if (!is_digit(*s))
			return PP_ERR_ARG;
		while (is_digit(*s)) {
			num = num * 10 + (*s++ - '0');
			if (num > DURATION_MAX)
				return PP_ERR_ARG;
		}
		if (*s == '\0' && total == 0) {
			mul = 1; /* plain seconds */
		} else {
			mul = unit_secs(*s);
			if (mul == 0)
				return PP_ERR_ARG;
			s++;
		}
		if (num > (DURATION_MAX - total) / mul)
			return PP_ERR_ARG;
		total += num * mul;
	}
	*out = total;
	return 0;
}

void kl_duration_format(int64_t secs, char *buf, size_t cap)
{
	static const struct { char u; int64_t s; } units[] = {
		{ 'd', KL_DAY }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	size_t i, off = 0;
	int shown = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, cap, "0s");
		return;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]) && shown < 2; i++) {
		int64_t q = secs / units[i].s;
		int w;

		if (q == 0)
			continue;
		w = snprintf(buf + off, cap - off, "%lld%c", (long long)q,
			     units[i].u);
		if (w < 0 || (size_t)w >= cap - off)
			return;
		off += (size_t)w;
		secs -= q * units[i].s;
		shown++;
	}
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int64_t mo, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= mo <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int64_t mo)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return mo == 2 && leap ? 29 : dm[mo - 1];
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int64_t *out)
{
	int64_t v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int expect(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return -1;
	(*p)++;
	return 0;
}

static int rfc3339_parse(const char *s, int64_t *out)
{
	int64_t y, mo, d, h, mi, sec, oh = 0, om = 0, t;
	int sign = 0;

	if (digits(&s, 4, &y) || expect(&s, "-") || digits(&s, 2, &mo) ||
	    expect(&s, "-") || digits(&s, 2, &d) || expect(&s, "Tt ") ||
	    digits(&s, 2, &h) || expect(&s, ":") || digits(&s, 2, &mi) ||
	    expect(&s, ":") || digits(&s, 2, &sec))
		return PP_ERR_ARG;
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return PP_ERR_ARG;
		while (is_digit(*s))
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (digits(&s, 2, &oh) || expect(&s, ":") || digits(&s, 2, &om) ||
		    oh > 23 || om > 59)
			return PP_ERR_ARG;
	} else {
		return PP_ERR_ARG; /* a time without zone is ambiguous */
	}
	if (*s != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return PP_ERR_ARG;
	t = days_from_civil(y, mo, d) * KL_DAY + h * 3600 + mi * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	if (t < 0 || t > TIME_MAX)
		return PP_ERR_ARG;
	*out = t;
	return 0;
}

int kl_time_parse(const char *s, int64_t now, int64_t *out)
{
	int64_t v = 0;
	const char *p;

	*out = 0;
	if (s == NULL || *s == '\0')
		return PP_ERR_ARG;
	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (*s == '+') {
		if (kl_duration_parse(s + 1, &v) != 0 || now > TIME_MAX - v)
			return PP_ERR_ARG;
		*out = now + v;
		return 0;
	}
	for (p = s; is_digit(*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > TIME_MAX)
			return PP_ERR_ARG;
	}
	if (*p == '\0') {
		*out = v;
		return 0;
	}
	return rfc3339_parse(s, out);
}

void kl_time_format(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (cap == 0)
		return;
	buf[0] = '\0';
	if (t == 0) {
		snprintf(buf, cap, "-");
		return;
	}
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
}
