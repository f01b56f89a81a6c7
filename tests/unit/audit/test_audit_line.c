/* test_audit_line.c - the verifier's strict line parser (audit/line.c)
 * against what FORMAT.md §2 allows and refuses. */
#include "tests/unit/unit.h"

#include "audit/internal.h"

#define PREV "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEAD "{\"seq\":42,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"step.end\""

static int parse(const char *text, struct al_line *l, struct al_err *err)
{
	return al_line_parse(text, strlen(text), l, err);
}

static void test_line_parse_picks_first_members(void **state)
{
	struct al_line l;
	struct al_err err = {0};
	(void)state;

	assert_int_equal(parse(HEAD ",\"run\":\"r1\",\"exit\":0,\"files\":[{\"path\":\"a\",\"size\":1.5e3}],\"x\":null}", &l, &err), 0);
	assert_int_equal(l.seq, 42);
	assert_string_equal(l.ts, "2026-11-25T03:00:01.123456Z");
	assert_string_equal(l.prev, PREV);
	assert_string_equal(l.event, "step.end");
	assert_int_equal(parse(HEAD "}", &l, &err), 0);
}

static void test_line_parse_accepts_json_whitespace_and_utf8(void **state)
{
	struct al_line l;
	struct al_err err = {0};
	(void)state;

	assert_int_equal(parse("{ \"seq\" : 1 , \"ts\":\"2026-11-25T03:00:01.000000Z\",\"prev\":\"" PREV
	                       "\",\"event\":\"a\", \"name\":\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x94\x92\","
	                       "\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\udd12\"} ",
	                       &l, &err),
	                 0);
}

static void expect_bad(const char *text, const char *why)
{
	struct al_line l;
	struct al_err err = {0};

	if (al_line_parse(text, strlen(text), &l, &err) == 0)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.code, AL_EVERIFY);
	if (strstr(err.msg, why) == NULL)
		fail_msg("for %s: message \"%s\" lacks \"%s\"", text, err.msg, why);
}

static void test_line_parse_rejects_wrong_first_members(void **state)
{
	(void)state;
	expect_bad("[]", "not a JSON object");
	expect_bad("{}", "empty");
	expect_bad("{\"ts\":\"2026-11-25T03:00:01.123456Z\",\"seq\":1,\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "first members are not seq, ts, prev, event");
	expect_bad("{\"seq\":1,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\"}",
	           "first members");
	expect_bad("{\"se\\u0071\":1,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "first members");
	expect_bad("{\"seq\":0,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "seq is not a positive integer");
	expect_bad("{\"seq\":-1,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "seq is not a positive integer");
	expect_bad("{\"seq\":1.0,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "seq is not a positive integer");
	expect_bad("{\"seq\":\"1\",\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "seq is not a positive integer");
	expect_bad("{\"seq\":99999999999999999999,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "seq is not a positive integer");
	expect_bad("{\"seq\":1,\"ts\":\"2026-11-25T03:00:01Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "ts is not a timestamp");
	expect_bad("{\"seq\":1,\"ts\":\"2026-11-25T03:00:01.123456+00:00\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "ts is not a timestamp");
	expect_bad("{\"seq\":1,\"ts\":\"2026-13-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a\"}",
	           "ts is not a timestamp");
	expect_bad("{\"seq\":1,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"E3b0\",\"event\":\"a\"}",
	           "prev is not 64 lowercase hex digits");
	expect_bad("{\"seq\":1,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"Bad\"}",
	           "event is not a valid event name");
	expect_bad("{\"seq\":1,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a..b\"}",
	           "event is not a valid event name");
	expect_bad("{\"seq\":1,\"ts\":\"2026-11-25T03:00:01.123456Z\",\"prev\":\"" PREV "\",\"event\":\"a.\"}",
	           "event is not a valid event name");
}

static void test_line_parse_rejects_bad_json(void **state)
{
	(void)state;
	expect_bad(HEAD, "expected ',' or '}'");
	expect_bad(HEAD ",}", "expected a string");
	expect_bad(HEAD ",\"a\":}", "invalid number");
	expect_bad(HEAD ",\"a\":01}", "expected ',' or '}'");
	expect_bad(HEAD ",\"a\":1.}", "invalid number");
	expect_bad(HEAD ",\"a\":tru}", "invalid literal");
	expect_bad(HEAD ",\"a\":\"x}", "unterminated string");
	expect_bad(HEAD ",\"a\":\"\x01\"}", "control character");
	expect_bad(HEAD ",\"a\":\"\\x\"}", "invalid escape");
	expect_bad(HEAD ",\"a\":\"\\ud800\"}", "lone surrogate");
	expect_bad(HEAD ",\"a\":\"\\udc00\"}", "lone surrogate");
	expect_bad(HEAD ",\"a\":\"\xc0\xaf\"}", "invalid UTF-8");       /* overlong '/' */
	expect_bad(HEAD ",\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8");   /* encoded surrogate */
	expect_bad(HEAD ",\"a\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8"); /* > U+10FFFF */
	expect_bad(HEAD ",\"a\":\"\xe2\x82\"}", "invalid UTF-8");
	expect_bad(HEAD ",\"a\":[1,]}", "invalid number");
	expect_bad(HEAD "} x", "data after the JSON object");
	expect_bad(HEAD "}}", "data after the JSON object");
	expect_bad(HEAD ",\"a\":1,\"a\":2}", "duplicate member name");
	expect_bad(HEAD ",\"seq\":2}", "duplicate member name");
	/* "\u0065vent" is "event" to jq: a duplicate the raw bytes hide */
	expect_bad(HEAD ",\"\\u0065vent\":\"seal\"}", "a member name with an escape");
}

static void test_line_parse_limits_nesting(void **state)
{
	char buf[1024];
	int n;
	(void)state;

	n = snprintf(buf, sizeof buf, "%s,\"a\":", HEAD);
	for (int i = 0; i < 70; i++)
		buf[n++] = '[';
	for (int i = 0; i < 70; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	expect_bad(buf, "nested more than 64 deep");
}

/* Every prefix of a valid line is refused, and never crashes: a torn
 * write can cut a line anywhere. */
static void test_line_parse_refuses_every_prefix(void **state)
{
	const char *full = HEAD ",\"files\":[{\"path\":\"\xc3\xa9\",\"n\":-1.5e+3}],\"ok\":true}";
	struct al_line l;
	(void)state;

	for (size_t n = 0; n < strlen(full); n++)
		if (al_line_parse(full, n, &l, NULL) == 0)
			fail_msg("accepted a prefix of %zu bytes", n);
	assert_int_equal(al_line_parse(full, strlen(full), &l, NULL), 0);
}

/* Found by tests/fuzz/fuzz_checkpoint: strtoull took a NUL (size 0), a
 * sign ("-1" became 2^64-1) and leading blanks in line 2. */
static void test_checkpoint_parse_size_is_digits_only(void **state)
{
	static const char *const sizes[] = {"\0:", "-1", "+12", " 12", "12 ", "1\t"};
	static const char rest[] =
		"\n" PREV "\n2026-11-25T03:00:01.123456Z\n";
	static const char head[] = "airlock.audit/1 4f42673097b50b19ecbf846ece0f527a\n";
	struct al_checkpoint cp;
	struct al_err err = {0};
	char text[256];
	size_t n;
	(void)state;

	n = (size_t)snprintf(text, sizeof text, "%s12%s", head, rest);
	assert_int_equal(al_checkpoint_parse(text, n, "cp", &cp, &err), 0);
	assert_int_equal(cp.size, 12);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t k = strlen(head), len = i == 0 ? 2 : strlen(sizes[i]);
		memcpy(text, head, k);
		memcpy(text + k, sizes[i], len);
		memcpy(text + k + len, rest, sizeof rest - 1);
		al_err_clear(&err);
		assert_int_equal(al_checkpoint_parse(text, k + len + sizeof rest - 1, "cp", &cp, &err), -1);
		assert_non_null(strstr(err.msg, "line 2 is not a size"));
	}
}

/* Found by tests/fuzz/fuzz_checkpoint: a NUL in line 4 made the
 * timestamp before it the one checked and kept. */
static void test_checkpoint_parse_refuses_nul_in_timestamp(void **state)
{
	static const char text[] = "airlock.audit/1 502e3fd8dc977bd5eb7574f690d67e68\n45\n" PREV
	                           "\n2026-12-02T03:08:57Z\0\0\0@91Z\n";
	struct al_checkpoint cp;
	struct al_err err = {0};
	(void)state;

	assert_int_equal(al_checkpoint_parse(text, sizeof text - 1, "cp", &cp, &err), -1);
	assert_non_null(strstr(err.msg, "line 4 is not a timestamp"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_parse_picks_first_members),
		cmocka_unit_test(test_line_parse_accepts_json_whitespace_and_utf8),
		cmocka_unit_test(test_line_parse_rejects_wrong_first_members),
		cmocka_unit_test(test_line_parse_rejects_bad_json),
		cmocka_unit_test(test_line_parse_limits_nesting),
		cmocka_unit_test(test_line_parse_refuses_every_prefix),
		cmocka_unit_test(test_checkpoint_parse_size_is_digits_only),
		cmocka_unit_test(test_checkpoint_parse_refuses_nul_in_timestamp),
	};
	return cmocka_run_group_tests_name("audit_line", tests, NULL, NULL);
}
