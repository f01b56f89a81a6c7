/* test_shards.c - airlock.shards/1 (audit/shards.c): what the writer
 * writes, the parser reads back; anything else of a signed summary is
 * refused, naming the line: the old parser (strtok_r) dropped empty
 * lines and sscanf took trailing junk, so two different signed texts
 * read as one summary. */
#include "tests/unit/unit.h"

#include "audit/audit.h"

static const char good[] =
    "airlock.shards/1 nightly\n"
    "2\n"
    "0 0123456789abcdef0123456789abcdef 42 "
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
    "2026-12-01T03:00:00.000001Z 07443427227916FB\n"
    "1 fedcba9876543210fedcba9876543210 7 "
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb "
    "2026-12-01T03:00:01.000000Z 0000000000000001\n";

static void test_shards_round_trip(void **state)
{
	struct al_shards sh;
	struct al_err err = {0};
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(al_shards_parse(good, strlen(good), "shards.txt", &sh, &err), 0);
	assert_string_equal(sh.name, "nightly");
	assert_int_equal(sh.n, 2);
	assert_int_equal(sh.s[0].cp.size, 42);
	assert_string_equal(sh.s[1].keyid, "0000000000000001");
	assert_string_equal(sh.s[1].cp.ts, "2026-12-01T03:00:01.000000Z");
	text = al_shards_format(&sh, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(good));
	assert_memory_equal(text, good, len);
	free(text);
	al_shards_free(&sh);
}

/* good with the bytes at [at, at + cut) replaced by with. */
static int parse_edited(size_t at, size_t cut, const char *with, size_t with_len, char *msg,
                        size_t mlen)
{
	char buf[2048];
	size_t n = strlen(good);
	struct al_shards sh;
	struct al_err err = {0};
	int r;

	assert_true(at + cut <= n && n - cut + with_len < sizeof buf);
	memcpy(buf, good, at);
	memcpy(buf + at, with, with_len);
	memcpy(buf + at + with_len, good + at + cut, n - at - cut);
	r = al_shards_parse(buf, n - cut + with_len, "shards.txt", &sh, &err);
	if (r == 0)
		al_shards_free(&sh);
	else
		assert_int_equal(err.code, AL_EVERIFY);
	snprintf(msg, mlen, "%s", err.msg);
	return r;
}

static size_t at(const char *needle)
{
	const char *p = strstr(good, needle);

	assert_non_null(p);
	return (size_t)(p - good);
}

#define REFUSED(at_, cut_, with_, says)                                                          \
	do {                                                                                        \
		char m_[1024];                                                                          \
		assert_int_equal(parse_edited(at_, cut_, with_, sizeof with_ - 1, m_, sizeof m_), -1); \
		if (strstr(m_, says) == NULL)                                                           \
			fail_msg("expected \"%s\" in \"%s\"", says, m_);                                    \
	} while (0)

static void test_shards_refuses_every_other_form(void **state)
{
	size_t end = strlen(good);

	(void)state;
	REFUSED(at("2\n0 "), 0, "\n", "line 2 is empty");              /* an empty line */
	REFUSED(end, 0, "\n", "line 5 is empty");                      /* one at the end */
	REFUSED(at("\n2\n"), 0, "\r", "line 1 is empty or holds a CR"); /* CRLF */
	REFUSED(end - 1, 1, "", "line 4 does not end with a newline");
	REFUSED(at("0 0123"), 2, "0  ", "line 3");                     /* two spaces */
	REFUSED(at("0 0123"), 1, "00", "shard 0 expected");            /* a leading zero */
	REFUSED(at("1 fedc"), 1, "0", "shard 1 expected");             /* out of order */
	REFUSED(at("2\n0 "), 1, "3", "2 shard lines, but it names 3"); /* a line missing */
	REFUSED(at("2\n0 "), 1, "1", "more shards than the 1");        /* a line more */
	REFUSED(at("2\n0 "), 1, "0", "line 2 is not a count");
	REFUSED(at("2\n0 "), 1, "02", "line 2 is not a count");
	REFUSED(at("2\n0 "), 1, "+2", "line 2 is not a count");
	REFUSED(at("2\n0 "), 1, "100001", "line 2 is not a count");
	REFUSED(at("nightly"), 7, "night ly", "line 1 is not");
	REFUSED(at("nightly"), 0, "x/", "line 1 is not");
	REFUSED(at("07443427"), 1, "a", "not a key id");                /* lower case */
	REFUSED(at(" 0000000000000001"), 17, " 0000000000000001 x", "more than 6 fields");
	REFUSED(at("fedcba98"), 32, "0123456789abcdef0123456789abcdef", "is shard 0 already");
	REFUSED(at(" 42 "), 4, " 042 ", "line 3: shards.txt: line 2 is not a size");
	REFUSED(at(" 42 "), 4, " -1 ", "line 2 is not a size");
	REFUSED(at("2026-12-01T03:00:00"), 1, "x", "not a timestamp");
	REFUSED(at("nightly"), 0, "\0", "line 1 is empty or holds a CR or NUL");
}

static void test_shards_refuses_a_name_over_64(void **state)
{
	char buf[4096];
	struct al_shards sh;
	struct al_err err = {0};

	(void)state;
	memset(buf, 'a', 65);
	buf[65] = '\0';
	assert_int_equal(al_shards_name_ok(buf), 0);
	buf[64] = '\0';
	assert_int_equal(al_shards_name_ok(buf), 1);
	snprintf(buf, sizeof buf, "airlock.shards/1 %065d\n1\n", 0);
	assert_int_equal(al_shards_parse(buf, strlen(buf), "s", &sh, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shards_round_trip),
		cmocka_unit_test(test_shards_refuses_every_other_form),
		cmocka_unit_test(test_shards_refuses_a_name_over_64),
	};
	return cmocka_run_group_tests_name("shards", tests, NULL, NULL);
}
