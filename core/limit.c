/* limit.c - limits as people write them: sizes ("64M") and a validate
 * step's max_reject (a count or an exact percentage). */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Digits before the point, leading zeros included: at most 18, so v * 10
 * + d cannot wrap a uint64_t and the text fits validate.result's limit. */
#define DIGITS_MAX 18
/* A percentage in millionths of a percent: 100% is 10^8. */
#define PERCENT_DECIMALS 6
#define PERCENT_FULL 100000000ULL

int al_max_reject_parse(const char *s, int *percent, uint64_t *value, struct al_err *err)
{
	size_t n = strlen(s), i = 0, digits = 0;
	int pct = n > 0 && s[n - 1] == '%';
	uint64_t v = 0;

	if (pct)
		n--;
	/* Each step keeps v within its bound (a count below 10^18, a whole
	 * percentage at most 100), so no later multiplication can wrap:
	 * "18446744073759.551616%" must not come out as 50%. */
	for (; i < n && s[i] >= '0' && s[i] <= '9' && digits < DIGITS_MAX; i++, digits++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (pct && v > 100)
			goto bad;
	}
	if (digits == 0)
		goto bad;
	if (!pct) {
		if (i != n)
			goto bad;
		*percent = 0;
		*value = v;
		return 0;
	}
	digits = 0;
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9' && digits < PERCENT_DECIMALS;
		     i++, digits++)
			v = v * 10 + (uint64_t)(s[i] - '0');
		if (digits == 0)
			goto bad;
	}
	if (i != n)
		goto bad;
	for (; digits < PERCENT_DECIMALS; digits++)
		v *= 10;
	if (v > PERCENT_FULL)
		goto bad;
	*percent = 1;
	*value = v;
	return 0;
bad:
	return al_err_set(err, AL_EUSAGE, "max_reject \"%s\": not a count (\"10\") or a percentage "
	                  "of at most 100 with up to 6 decimals (\"0.5%%\")", s);
}

int al_size_parse(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'K': if (v > (1ULL << 53)) return -1; v <<= 10; end++; break;
	case 'M': if (v > (1ULL << 43)) return -1; v <<= 20; end++; break;
	case 'G': if (v > (1ULL << 33)) return -1; v <<= 30; end++; break;
	default: return -1;
	}
	if (*end != '\0')
		return -1;
	*bytes = v;
	return 0;
}
