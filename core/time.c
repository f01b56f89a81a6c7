/* time.c - UTC timestamps (RFC 3339, microseconds, "Z") and durations. */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t al_now_us(void)
{
	struct timespec ts;

	al_sys.clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no timegm, no TZ, same answer under glibc and musl. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y += *m <= 2;
}

/* Writes v as exactly n decimal digits. */
static char *put_digits(char *p, int64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

void al_ts_format(int64_t us, char out[AL_TS_LEN])
{
	int64_t secs = us / 1000000, frac = us % 1000000, days, y;
	int m, d, sod;
	char *p = out;

	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	days = secs / 86400;
	sod = (int)(secs % 86400);
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = m = d = sod = 0, frac = 0; /* outside RFC 3339's four-digit years */
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	*p++ = '.';
	p = put_digits(p, frac, 6);
	*p++ = 'Z';
	*p = '\0';
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return mdays[m - 1];
}

int al_ts_parse(const char *s, int64_t *us, struct al_err *err)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, frac = 0, ndigits = 0, off = 0;

	if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
	    digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't') || (p++, digits(&p, 2, &h)) < 0 ||
	    *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':' || digits(&p, 2, &sec) < 0)
		goto bad;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (ndigits < 6)
				frac = frac * 10 + (*p - '0');
			ndigits++;
			p++;
		}
		if (ndigits == 0 || ndigits > 9)
			goto bad;
		for (int i = ndigits; i < 6; i++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) < 0 || *p++ != ':' || digits(&p, 2, &om) < 0 || oh > 23 ||
		    om > 59)
			goto bad;
		off = sign * (oh * 3600 + om * 60);
	} else {
		goto bad;
	}
	/* Leap seconds (":60") are refused: POSIX time cannot hold them. */
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
	    mi > 59 || sec > 59)
		goto bad;
	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off) * 1000000 +
	      frac;
	return 0;
bad:
	return al_err_set(err, AL_EUSAGE, "\"%s\": not an RFC 3339 timestamp (2026-11-25T03:00:00Z)",
	                  s);
}

static const struct {
	const char *unit;
	int64_t ms;
} units[] = {
	{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

#define DURATION_MAX_MS (100LL * 366 * 86400000)

int al_duration_parse(const char *s, int64_t *ms, struct al_err *err)
{
	const char *p = s;
	int64_t n = 0;

	if (s == NULL)
		return al_err_set(err, AL_EUSAGE, "a duration is missing");
	if (!isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (*p - '0');
		if (n > DURATION_MAX_MS)
			goto bad;
		p++;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(p, units[i].unit) == 0) {
			if (n > DURATION_MAX_MS / units[i].ms)
				goto bad;
			*ms = n * units[i].ms;
			return 0;
		}
	}
bad:
	return al_err_set(err, AL_EUSAGE, "\"%s\": not a duration (500ms, 30s, 5m, 23h, 2d)", s);
}

void al_duration_format(int64_t ms, char *out, size_t outlen)
{
	for (size_t i = sizeof units / sizeof units[0]; i-- > 0;) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(out, outlen, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(out, outlen, "%lldms", (long long)ms);
}
