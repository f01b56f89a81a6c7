/* test_time.c - RFC 3339 timestamps and durations. */
#include "tests/unit/unit.h"

static void test_ts_format_known_instants(void **state)
{
	char ts[AL_TS_LEN];
	(void)state;

	al_ts_format(0, ts);
	assert_string_equal(ts, "1970-01-01T00:00:00.000000Z");
	al_ts_format(1795564801123456LL, ts);
	assert_string_equal(ts, "2026-11-25T00:00:01.123456Z");
	al_ts_format(951782400000000LL, ts); /* a leap day of a century year */
	assert_string_equal(ts, "2000-02-29T00:00:00.000000Z");
	al_ts_format(-1, ts);
	assert_string_equal(ts, "1969-12-31T23:59:59.999999Z");
	al_ts_format(253402300799999999LL, ts);
	assert_string_equal(ts, "9999-12-31T23:59:59.999999Z");
}

static void test_ts_parse_forms(void **state)
{
	struct al_err err = {0};
	int64_t us;
	(void)state;

	assert_int_equal(al_ts_parse("2026-11-25T00:00:01.123456Z", &us, &err), 0);
	assert_int_equal(us, 1795564801123456LL);
	assert_int_equal(al_ts_parse("2026-11-25T00:00:01Z", &us, &err), 0);
	assert_int_equal(us, 1795564801000000LL);
	assert_int_equal(al_ts_parse("2026-11-25T01:00:01.5+01:00", &us, &err), 0);
	assert_int_equal(us, 1795564801500000LL);
	assert_int_equal(al_ts_parse("2026-11-24T23:00:01.123456789-01:00", &us, &err), 0);
	assert_int_equal(us, 1795564801123456LL);
}

static void test_ts_round_trip(void **state)
{
	char ts[AL_TS_LEN];
	int64_t us, back;
	struct al_err err = {0};
	(void)state;

	for (us = -86400000000LL * 800; us < 86400000000LL * 40000; us += 86400000000LL * 37 + 1234567) {
		al_ts_format(us, ts);
		assert_int_equal(al_ts_parse(ts, &back, &err), 0);
		assert_int_equal(back, us);
	}
}

static void test_ts_parse_rejects_bad(void **state)
{
	static const char *bad[] = {
		"", "2026-11-25", "2026-11-25T00:00:01", "2026-11-25 00:00:01Z",
		"2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z",
		"2026-11-25T24:00:00Z", "2026-11-25T00:60:00Z", "2026-11-25T00:00:60Z",
		"2026-11-25T00:00:00.Z", "2026-11-25T00:00:00.1234567890Z", "2026-11-25T00:00:00Zjunk",
		"2026-11-25T00:00:00+0100", "+2026-11-25T00:00:00Z", "2026-1-25T00:00:00Z",
	};
	struct al_err err = {0};
	int64_t us;
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (al_ts_parse(bad[i], &us, &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(err.code, AL_EUSAGE);
		assert_non_null(strstr(err.msg, "not an RFC 3339 timestamp"));
	}
}

static void test_duration_parse(void **state)
{
	struct al_err err = {0};
	int64_t ms;
	(void)state;

	assert_int_equal(al_duration_parse("500ms", &ms, &err), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(al_duration_parse("30s", &ms, &err), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(al_duration_parse("5m", &ms, &err), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(al_duration_parse("23h", &ms, &err), 0);
	assert_int_equal(ms, 82800000);
	assert_int_equal(al_duration_parse("2d", &ms, &err), 0);
	assert_int_equal(ms, 172800000);
	assert_int_equal(al_duration_parse("0s", &ms, &err), 0);
	assert_int_equal(ms, 0);
}

static void test_duration_parse_rejects_bad(void **state)
{
	static const char *bad[] = {
		"", "s", "32x", "-1s", "+1s", "1.5s", "1 s", "1S", "5", "1h30m",
		"99999999999999999999d", "40000d", "1sm", " 1s",
	};
	struct al_err err = {0};
	int64_t ms;
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (al_duration_parse(bad[i], &ms, &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err.msg, "not a duration"));
	}
	al_duration_parse("32x", &ms, &err);
	assert_string_equal(err.msg, "\"32x\": not a duration (500ms, 30s, 5m, 23h, 2d)");
}

static void test_duration_format(void **state)
{
	char buf[32];
	(void)state;

	al_duration_format(1500, buf, sizeof buf);
	assert_string_equal(buf, "1500ms");
	al_duration_format(90000, buf, sizeof buf);
	assert_string_equal(buf, "90s");
	al_duration_format(172800000, buf, sizeof buf);
	assert_string_equal(buf, "2d");
	al_duration_format(0, buf, sizeof buf);
	assert_string_equal(buf, "0ms");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ts_format_known_instants),
		cmocka_unit_test(test_ts_parse_forms),
		cmocka_unit_test(test_ts_round_trip),
		cmocka_unit_test(test_ts_parse_rejects_bad),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_parse_rejects_bad),
		cmocka_unit_test(test_duration_format),
	};
	return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}
