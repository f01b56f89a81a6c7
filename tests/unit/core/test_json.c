/* test_json.c - JSON helpers and error messages. */
#include "tests/unit/unit.h"

#include <errno.h>

static void test_json_parse_names_position(void **state)
{
	struct al_err err = {0};
	const char *text = "{\n  \"a\": 1,\n  \"b\": tru\n}";
	(void)state;

	assert_null(al_json_parse(text, strlen(text), "m.json", &err));
	assert_int_equal(err.code, AL_EUSAGE);
	assert_non_null(strstr(err.msg, "m.json:3:"));
}

static void test_json_parse_rejects_duplicate_keys(void **state)
{
	struct al_err err = {0};
	const char *text = "{\"threshold\": 2, \"threshold\": 1}";
	(void)state;

	assert_null(al_json_parse(text, strlen(text), "policy.json", &err));
	assert_non_null(strstr(err.msg, "duplicate"));
}

static void test_json_parse_rejects_nul_and_trailing(void **state)
{
	struct al_err err = {0};
	static const char nul[] = "{\"a\": \"x\\u0000y\"}";
	(void)state;

	assert_null(al_json_parse(nul, strlen(nul), "n.json", &err));
	assert_null(al_json_parse("{} {}", 5, "t.json", &err));
}

static void test_json_dump_compact_keeps_order(void **state)
{
	json_t *v = json_pack("{s:i,s:s,s:s}", "seq", 1, "ts", "x", "event", "é");
	char *s = al_json_dump(v);
	(void)state;

	assert_string_equal(s, "{\"seq\":1,\"ts\":\"x\",\"event\":\"é\"}");
	free(s);
	json_decref(v);
}

static void test_err_prefix_and_errno(void **state)
{
	struct al_err err = {0};
	(void)state;

	al_err_set(&err, AL_EVERIFY, "bad %s", "thing");
	al_err_prefix(&err, "file %d", 7);
	assert_string_equal(err.msg, "file 7: bad thing");
	assert_int_equal(err.code, AL_EVERIFY);
	errno = ENOSPC;
	al_err_sys(&err, "audit.jsonl: write");
	assert_string_equal(err.msg, "audit.jsonl: write: No space left on device (ENOSPC)");
	assert_int_equal(err.code, AL_EENV);
	assert_int_equal(err.sys_errno, ENOSPC);
	assert_int_equal(al_code_for_errno(ENOENT), AL_EUSAGE);
	assert_int_equal(al_code_for_errno(EACCES), AL_EENV);
}

static void test_utf8_fix(void **state)
{
	char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", cut[] = "ab\xe2\x82";
	char bad[] = "\xff\xc0\xafx\xed\xa0\x80";

	(void)state;
	al_utf8_fix(ok);
	assert_string_equal(ok, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92");
	al_utf8_fix(cut); /* a sequence cut short by a truncation */
	assert_string_equal(cut, "ab??");
	al_utf8_fix(bad); /* a stray byte, an overlong, a surrogate */
	assert_string_equal(bad, "???x???");
	{
		json_t *j = json_string(cut); /* jansson takes the result */
		assert_non_null(j);
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_parse_names_position),
		cmocka_unit_test(test_json_parse_rejects_duplicate_keys),
		cmocka_unit_test(test_json_parse_rejects_nul_and_trailing),
		cmocka_unit_test(test_json_dump_compact_keeps_order),
		cmocka_unit_test(test_err_prefix_and_errno),
		cmocka_unit_test(test_utf8_fix),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
