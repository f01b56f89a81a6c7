/* test_validate.c - the validate built-in: schema files, every column
 * type accepted and rejected, CSV quoting and line numbers, JSONL,
 * max_reject at and past its limit, and the quarantine's bytes and hash. */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "steps/steps.h"

struct fixture {
	char *dir;
	char input[4200], schema[4200], output[4200], quarantine[4200];
	struct al_validate_res res;
	struct al_err err;
};

static const char *const TRADES =
	"{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"header\": true, \"delimiter\": \",\",\n"
	" \"columns\": [\n"
	"  {\"name\": \"account\", \"type\": \"regex\", \"pattern\": \"^ACC[0-9]{6}$\"},\n"
	"  {\"name\": \"isin\", \"type\": \"string\", \"required\": true, \"max_length\": 12},\n"
	"  {\"name\": \"qty\", \"type\": \"int\", \"min\": 0, \"max\": 1000000},\n"
	"  {\"name\": \"price\", \"type\": \"decimal\", \"min\": 0.01},\n"
	"  {\"name\": \"side\", \"type\": \"enum\", \"values\": [\"BUY\", \"SELL\"]},\n"
	"  {\"name\": \"trade_date\", \"type\": \"date\"},\n"
	"  {\"name\": \"as_of\", \"type\": \"timestamp\", \"required\": false}\n"
	" ]}\n";

#define HEADER "account,isin,qty,price,side,trade_date,as_of\n"
#define GOOD "ACC000001,US0378331005,10,101.25,BUY,2026-11-25,2026-11-25T03:00:01Z\n"

static const char *const EVENTS =
	"{\"format\": \"airlock.schema/1\", \"type\": \"jsonl\", \"columns\": [\n"
	"  {\"name\": \"id\", \"type\": \"int\"},\n"
	"  {\"name\": \"amount\", \"type\": \"decimal\", \"max\": 1000},\n"
	"  {\"name\": \"kind\", \"type\": \"enum\", \"values\": [\"a\", \"b\"]},\n"
	"  {\"name\": \"at\", \"type\": \"timestamp\"},\n"
	"  {\"name\": \"note\", \"type\": \"string\", \"required\": false}\n"
	"]}\n";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	f->dir = unit_mkdtemp();
	snprintf(f->input, sizeof f->input, "%s/input", f->dir);
	snprintf(f->schema, sizeof f->schema, "%s/schema.json", f->dir);
	snprintf(f->output, sizeof f->output, "%s/output", f->dir);
	snprintf(f->quarantine, sizeof f->quarantine, "%s/quarantine.jsonl", f->dir);
	al_sys_fault_reset();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	al_sys_fault_reset();
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

/* Writes schema and input, runs al_validate; returns its result. */
static int run(struct fixture *f, const char *schema, const char *input, const char *max_reject)
{
	struct al_validate_opts o = {f->input, f->schema, f->output, f->quarantine, max_reject};

	unit_write(f->schema, schema);
	if (input != NULL)
		unit_write(f->input, input);
	memset(&f->err, 0, sizeof f->err);
	return al_validate(&o, &f->res, &f->err);
}

static void assert_file(const char *path, const char *want)
{
	char *got = unit_slurp(path);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* One CSV data row against TRADES: the reason of its reject, or "". */
static void check_row(struct fixture *f, const char *row, const char *reason)
{
	char input[2048];

	snprintf(input, sizeof input, HEADER "%s\n", row);
	assert_int_equal(run(f, TRADES, input, "100%"), 0);
	assert_int_equal(f->res.records, 1);
	if (reason[0] == '\0') {
		if (f->res.accepted != 1)
			fail_msg("%s: rejected: %s", row, f->res.first_reject);
		return;
	}
	if (f->res.rejected != 1)
		fail_msg("%s: accepted, expected \"%s\"", row, reason);
	if (strncmp(f->res.first_reject, "line 2: ", 8) != 0 ||
	    strcmp(f->res.first_reject + 8, reason) != 0)
		fail_msg("%s: reason \"%s\", expected \"%s\"", row, f->res.first_reject, reason);
}

static void test_validate_csv_accepts_every_type(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, TRADES, HEADER GOOD "ACC999999,X,0,0.01,SELL,2024-02-29,\n", NULL),
	                 0);
	assert_int_equal(f->res.records, 2);
	assert_int_equal(f->res.accepted, 2);
	assert_int_equal(f->res.rejected, 0);
	assert_int_equal(f->res.over_limit, 0);
	assert_string_equal(f->res.limit, "0");
	assert_string_equal(f->res.first_reject, "");
	assert_file(f->output, HEADER GOOD "ACC999999,X,0,0.01,SELL,2024-02-29,\n");
	assert_file(f->quarantine, "");
}

static void test_validate_csv_type_rejects(void **state)
{
	static const char *const rows[][2] = {
		{"ACC00001,X,1,1,BUY,2026-01-01,", "column account: \"ACC00001\" does not match the pattern"},
		{"ACC000001,,1,1,BUY,2026-01-01,", "column isin: missing (required)"},
		{"ACC000001,ABCDEFGHIJKLM,1,1,BUY,2026-01-01,",
		 "column isin: \"ABCDEFGHIJKLM\" is longer than 12 characters"},
		{"ACC000001,\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9,1,1,BUY,2026-01-01,", ""},
		{"ACC000001,\xff,1,1,BUY,2026-01-01,", "column isin: \"\\xff\" is not valid UTF-8"},
		{"ACC000001,X,-x,1,BUY,2026-01-01,", "column qty: \"-x\" is not an int"},
		{"ACC000001,X, 1,1,BUY,2026-01-01,", "column qty: \" 1\" is not an int"},
		{"ACC000001,X,1.0,1,BUY,2026-01-01,", "column qty: \"1.0\" is not an int"},
		{"ACC000001,X,+7,1,BUY,2026-01-01,", ""},
		{"ACC000001,X,9223372036854775808,1,BUY,2026-01-01,",
		 "column qty: \"9223372036854775808\" is not an int"},
		{"ACC000001,X,-1,1,BUY,2026-01-01,", "column qty: \"-1\" is below the minimum 0"},
		{"ACC000001,X,1000001,1,BUY,2026-01-01,",
		 "column qty: \"1000001\" is above the maximum 1000000"},
		{"ACC000001,X,1,1e5,BUY,2026-01-01,", "column price: \"1e5\" is not a decimal"},
		{"ACC000001,X,1,\"1,000\",BUY,2026-01-01,", "column price: \"1,000\" is not a decimal"},
		{"ACC000001,X,1,1.,BUY,2026-01-01,", "column price: \"1.\" is not a decimal"},
		{"ACC000001,X,1,.5,BUY,2026-01-01,", "column price: \".5\" is not a decimal"},
		{"ACC000001,X,1,0.001,BUY,2026-01-01,",
		 "column price: \"0.001\" is below the minimum 0.01"},
		{"ACC000001,X,1,1,HOLD,2026-01-01,", "column side: \"HOLD\" is not one of the values"},
		{"ACC000001,X,1,1,buy,2026-01-01,", "column side: \"buy\" is not one of the values"},
		{"ACC000001,X,1,1,BUY,2026-02-29,",
		 "column trade_date: \"2026-02-29\" is not a date (YYYY-MM-DD)"},
		{"ACC000001,X,1,1,BUY,1900-02-29,",
		 "column trade_date: \"1900-02-29\" is not a date (YYYY-MM-DD)"},
		{"ACC000001,X,1,1,BUY,2000-02-29,", ""},
		{"ACC000001,X,1,1,BUY,2026-13-01,",
		 "column trade_date: \"2026-13-01\" is not a date (YYYY-MM-DD)"},
		{"ACC000001,X,1,1,BUY,2026-1-01,",
		 "column trade_date: \"2026-1-01\" is not a date (YYYY-MM-DD)"},
		{"ACC000001,X,1,1,BUY,2026-01-01,2026-01-01",
		 "column as_of: \"2026-01-01\" is not a timestamp (RFC 3339)"},
		{"ACC000001,X,1,1,BUY,2026-01-01,2026-01-01T25:00:00Z",
		 "column as_of: \"2026-01-01T25:00:00Z\" is not a timestamp (RFC 3339)"},
		{"ACC000001,X,1,1,BUY,2026-01-01,2026-01-01T10:00:00.5+01:00", ""},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(*state, rows[i][0], rows[i][1]);
}

/* The regex is anchored as written: without ^ and $ it matches inside. */
static void test_validate_regex_unanchored(void **state)
{
	struct fixture *f = *state;
	const char *schema = "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"header\": false,"
	                     " \"columns\": [{\"name\": \"a\", \"type\": \"regex\", \"pattern\": \"[0-9]+\"}]}";

	assert_int_equal(run(f, schema, "x12y\nxy\n", "100%"), 0);
	assert_int_equal(f->res.accepted, 1);
	assert_string_equal(f->res.first_reject, "line 2: column a: \"xy\" does not match the pattern");
	assert_file(f->output, "x12y\n");
}

static void test_validate_header_mismatch_is_an_error(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, TRADES, "account,isin,qty,price,side,date,as_of\n" GOOD, NULL), -1);
	assert_contains(f->err.msg, "input:1: the header is");
	assert_contains(f->err.msg, "\"date\"");
	assert_contains(f->err.msg, "the schema expects \"account\",\"isin\"");
	assert_contains(f->err.msg, "\"trade_date\"");
	assert_int_equal(run(f, TRADES, "account,isin\n", NULL), -1);
	assert_contains(f->err.msg, "the header is \"account\",\"isin\", the schema expects");
	/* No half-written output, no temporary quarantine. */
	assert_int_equal(access(f->output, F_OK), -1);
	assert_int_equal(access(f->quarantine, F_OK), -1);
}

static void test_validate_wrong_field_count(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, TRADES, HEADER "ACC000001,X,1\n" GOOD "a,b,c,d,e,f,g,h\n", "5"), 0);
	assert_int_equal(f->res.records, 3);
	assert_int_equal(f->res.rejected, 2);
	assert_file(f->quarantine,
	            "{\"line\":2,\"reason\":\"3 fields, expected 7\",\"record\":[\"ACC000001\",\"X\",\"1\"]}\n"
	            "{\"line\":4,\"reason\":\"8 fields, expected 7\",\"record\":[\"a\",\"b\",\"c\",\"d\","
	            "\"e\",\"f\",\"g\",\"h\"]}\n");
}

/* Quoted commas, quotes and newlines: the line is where a record starts,
 * and the output quotes what needs it. */
static void test_validate_csv_quoting_and_lines(void **state)
{
	struct fixture *f = *state;
	const char *in = HEADER
		"\"ACC000001\",\"a,b\",1,1,BUY,2026-01-01,\n"             /* line 2 */
		"ACC000002,\"say \"\"hi\"\"\",1,1,BUY,2026-01-01,\n"      /* line 3 */
		"ACC000003,\"two\nlines\",1,1,BUY,2026-01-01,\n"          /* lines 4-5 */
		"\n"                                                      /* line 6: blank */
		"ACC000004,\"x\ny\",-1,1,BUY,2026-01-01,\n"               /* lines 7-8 */
		"ACC000005,\" pad \",1,1,BUY,2026-01-01,\r\n"             /* line 9 */
		"ACC000006,\"\",1,1,BUY,2026-01-01,\n";                   /* line 10 */

	assert_int_equal(run(f, TRADES, in, "10"), 0);
	assert_int_equal(f->res.records, 6);
	assert_int_equal(f->res.accepted, 4);
	assert_file(f->output, HEADER
	            "ACC000001,\"a,b\",1,1,BUY,2026-01-01,\n"
	            "ACC000002,\"say \"\"hi\"\"\",1,1,BUY,2026-01-01,\n"
	            "ACC000003,\"two\nlines\",1,1,BUY,2026-01-01,\n"
	            "ACC000005,\" pad \",1,1,BUY,2026-01-01,\n");
	assert_file(f->quarantine,
	            "{\"line\":7,\"reason\":\"column qty: \\\"-1\\\" is below the minimum 0\","
	            "\"record\":[\"ACC000004\",\"x\\ny\",\"-1\",\"1\",\"BUY\",\"2026-01-01\",\"\"]}\n"
	            "{\"line\":10,\"reason\":\"column isin: missing (required)\","
	            "\"record\":[\"ACC000006\",\"\",\"1\",\"1\",\"BUY\",\"2026-01-01\",\"\"]}\n");
}

/* A quote inside an unquoted field, or text after a closing quote, is a
 * reject; parsing resumes on the next line. */
static void test_validate_csv_malformed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, TRADES, HEADER "ACC000001,a\"b,1,1,BUY,2026-01-01,\n"
	                                       "ACC000001,\"ab\"c,1,1,BUY,2026-01-01,\n" GOOD,
	                     "2"), 0);
	assert_int_equal(f->res.records, 3);
	assert_int_equal(f->res.rejected, 2);
	assert_int_equal(f->res.accepted, 1);
	assert_contains(f->res.first_reject, "line 2: malformed CSV");
	assert_file(f->output, HEADER GOOD);
}

static void test_validate_csv_unterminated_quote(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, TRADES, HEADER GOOD "ACC000002,\"open\nstill open\n", "1"), 0);
	assert_int_equal(f->res.records, 2);
	assert_int_equal(f->res.rejected, 1);
	assert_string_equal(f->res.first_reject, "line 3: unterminated quoted field");
}

/* A record past 1 MiB is rejected without being held; the next line is
 * read as usual, with its right number. */
static void test_validate_csv_record_too_long(void **state)
{
	struct fixture *f = *state;
	size_t big = (1 << 20) + 100, n = 0;
	char *in = malloc(big + 1024);

	n += (size_t)sprintf(in + n, HEADER GOOD "ACC000002,");
	memset(in + n, 'x', big);
	n += big;
	n += (size_t)sprintf(in + n, ",1,1,BUY,2026-01-01,\n" GOOD);
	in[n] = '\0';
	assert_int_equal(run(f, TRADES, in, "1"), 0);
	free(in);
	assert_int_equal(f->res.records, 3);
	assert_int_equal(f->res.accepted, 2);
	assert_string_equal(f->res.first_reject, "line 3: record longer than 1048576 bytes");
	assert_file(f->output, HEADER GOOD GOOD);
	assert_file(f->quarantine, "{\"line\":3,\"reason\":\"record longer than 1048576 bytes\","
	                           "\"record\":[]}\n");
}

/* An unclosed quote near the start must not make us read the rest of the
 * file as one field. */
static void test_validate_csv_runaway_quote(void **state)
{
	struct fixture *f = *state;
	FILE *fp;

	unit_write(f->schema, TRADES);
	fp = fopen(f->input, "w");
	assert_non_null(fp);
	fputs(HEADER "ACC000001,\"runaway,1,1,BUY,2026-01-01,\n", fp);
	for (int i = 0; i < 40000; i++)
		fputs(GOOD, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(run(f, TRADES, NULL, "100%"), 0);
	assert_string_equal(f->res.first_reject, "line 2: record longer than 1048576 bytes");
	/* What follows the cut is read again, line by line. */
	assert_true(f->res.accepted > 20000);
}

/* A two-column CSV schema without a header, for the line-end tests. */
static const char *const PAIRS =
	"{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"header\": false,"
	" \"columns\": [{\"name\": \"s\", \"type\": \"string\"}, {\"name\": \"n\", \"type\": \"string\"}]}";

/* Every record read is accepted or rejected, and there are as many as
 * the input has lines: nothing is dropped on the way. */
static void assert_all_counted(const struct fixture *f, int64_t lines)
{
	if (f->res.records != f->res.accepted + f->res.rejected || f->res.records != lines)
		fail_msg("records %" PRId64 ", accepted %" PRId64 ", rejected %" PRId64
		         ", expected %" PRId64 " records",
		         f->res.records, f->res.accepted, f->res.rejected, lines);
}

/* A record that ends at a CR, then a quote opening in the same read: the
 * line ends that follow are part of the quoted field and are counted, so
 * the field is cut at 1 MiB instead of being buffered to the end. */
static void test_validate_csv_cr_then_quote_is_bounded(void **state)
{
	struct fixture *f = *state;
	size_t prefix = strlen(HEADER) - 1, lfs = 4 << 20;
	char *in = malloc(prefix + 2 + lfs + 1);

	memcpy(in, HEADER, prefix);
	memcpy(in + prefix, "\r\"", 2);
	memset(in + prefix + 2, '\n', lfs);
	in[prefix + 2 + lfs] = '\0';
	assert_int_equal(run(f, TRADES, in, "1"), 0);
	free(in);
	assert_int_equal(f->res.records, 1);
	assert_int_equal(f->res.rejected, 1);
	assert_string_equal(f->res.first_reject, "line 1: record longer than 1048576 bytes");
	assert_file(f->output, HEADER);
}

/* CR-only line ends: after a malformed or over-long record, reading
 * resumes at the next CR, not at an LF that never comes. */
static void test_validate_csv_cr_only_resync(void **state)
{
	struct fixture *f = *state;
	size_t big = (1 << 20) + 10, n = 0;
	char *in;

	assert_int_equal(run(f, PAIRS, "a,b\rc\"d,e\rf,g\rh,i\r", "5"), 0);
	assert_all_counted(f, 4);
	assert_int_equal(f->res.rejected, 1);
	assert_string_equal(f->res.first_reject, "line 1: malformed CSV (a quote inside an unquoted "
	                                         "field, or text after a closing quote)");
	assert_file(f->output, "a,b\nf,g\nh,i\n");
	/* The same with CRLF, LF and CR mixed, and no line end at the end. */
	assert_int_equal(run(f, PAIRS, "a,b\r\nc\"d,e\r\nf,g\rh,\"i\"x\rj,k", "5"), 0);
	assert_all_counted(f, 5);
	assert_int_equal(f->res.rejected, 2);
	assert_file(f->output, "a,b\nf,g\nj,k\n");
	/* An over-long record. */
	in = malloc(big + 64);
	n += (size_t)sprintf(in + n, "a,b\r");
	memset(in + n, 'x', big);
	n += big;
	n += (size_t)sprintf(in + n, ",y\rf,g\rh,i\r");
	in[n] = '\0';
	assert_int_equal(run(f, PAIRS, in, "5"), 0);
	free(in);
	assert_all_counted(f, 4);
	assert_int_equal(f->res.rejected, 1);
	assert_string_equal(f->res.first_reject, "line 1: record longer than 1048576 bytes");
	assert_file(f->output, "a,b\nf,g\nh,i\n");
	/* A quote left open, then CR-only lines: cut at 1 MiB, then read on. */
	in = malloc(2 * big);
	n = (size_t)sprintf(in, "a,\"b\r");
	while (n < big + big / 2)
		n += (size_t)sprintf(in + n, "c,d\r");
	in[n] = '\0';
	assert_int_equal(run(f, PAIRS, in, "5"), 0);
	free(in);
	assert_int_equal(f->res.records, f->res.accepted + f->res.rejected);
	assert_int_equal(f->res.rejected, 1);
	assert_true(f->res.accepted > 1000);
}

/* A record that begins after a CR is where it begins (lines count LFs),
 * and its length is its own, not that of the read it began in. */
static void test_validate_csv_cr_line_and_length(void **state)
{
	struct fixture *f = *state;
	const char *schema = "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"header\": false,"
	                     " \"columns\": [{\"name\": \"s\", \"type\": \"string\"},"
	                     " {\"name\": \"n\", \"type\": \"int\"}]}";
	size_t big = 900 << 10, n = 0;
	char *in;

	assert_int_equal(run(f, schema, "\"x\ny\",1\rbad,row\n", "1"), 0);
	assert_all_counted(f, 2);
	assert_string_equal(f->res.first_reject, "line 2: column n: \"row\" is not an int");
	/* A 900 KiB record (a quoted field of many LF lines) that begins
	 * after 240 000 bytes of CR-terminated records. */
	in = malloc(big + (256 << 10));
	while (n < 240000)
		n += (size_t)sprintf(in + n, "p,q\r");
	n += (size_t)sprintf(in + n, "b,\"");
	for (size_t end = n + big; n < end;)
		n += (size_t)sprintf(in + n, "xxxxxxxxxxxxxxx\n");
	n += (size_t)sprintf(in + n, "\"\rc,d\r");
	in[n] = '\0';
	assert_int_equal(run(f, PAIRS, in, "0"), 0);
	free(in);
	assert_all_counted(f, 60002);
	assert_string_equal(f->res.first_reject, "");
}

/* Is s valid UTF-8? al_utf8_fix changes nothing then. */
static int utf8_valid(const char *s)
{
	char *copy = strdup(s);
	int same;

	al_utf8_fix(copy);
	same = strcmp(copy, s) == 0;
	free(copy);
	return same;
}

/* A reason cut to fit first_reject is cut between characters. */
static void test_validate_reason_cut_at_a_character(void **state)
{
	struct fixture *f = *state;
	char schema[1024], in[256];
	size_t n = 0;

	n += (size_t)snprintf(schema + n, sizeof schema - n, "{\"format\": \"airlock.schema/1\", "
	                      "\"type\": \"csv\", \"header\": false, \"columns\": [{\"name\": \"");
	memset(schema + n, 'n', 100);
	n += 100;
	snprintf(schema + n, sizeof schema - n, "\", \"type\": \"string\", \"max_length\": 1}]}");
	for (int shift = 0; shift < 4; shift++) {
		n = 0;
		for (int i = 0; i < 30 + shift; i++)
			in[n++] = '\x01';
		for (int i = 0; i < 10; i++) {
			memcpy(in + n, "\xc3\xa9", 2);
			n += 2;
		}
		memcpy(in + n, "\n", 2);
		assert_int_equal(run(f, schema, in, "1"), 0);
		assert_int_equal(f->res.rejected, 1);
		assert_true(strlen(f->res.first_reject) > 240);
		if (!utf8_valid(f->res.first_reject))
			fail_msg("shift %d: first_reject is not valid UTF-8: %s", shift, f->res.first_reject);
	}
}

/* jansson's message quotes the input: its bytes are escaped like values,
 * and so are bidirectional overrides (U+202E) and C1 controls. */
static void test_validate_reason_escapes_input(void **state)
{
	struct fixture *f = *state;
	char *q;

	assert_int_equal(run(f, EVENTS, "{\"id\": \x1b[31m}\n", "5"), 0);
	assert_int_equal(f->res.rejected, 1);
	assert_null(strchr(f->res.first_reject, '\x1b'));
	assert_contains(f->res.first_reject, "\\x1b");
	assert_int_equal(run(f, EVENTS, "{\"id\": \xe2\x80\xae" "1}\n", "5"), 0);
	assert_int_equal(f->res.rejected, 1);
	assert_null(strstr(f->res.first_reject, "\xe2\x80\xae"));
	assert_contains(f->res.first_reject, "\\u202e");
	assert_int_equal(run(f, EVENTS, "{\"id\": 1, \"amount\": 1, \"kind\": \"\xe2\x80\xae"
	                                "a\xc2\x9b\", \"at\": \"2026-01-01T00:00:00Z\"}\n", "5"), 0);
	assert_string_equal(f->res.first_reject,
	                    "line 1: column kind: \"\\u202ea\\u009b\" is not one of the values");
	/* The reason in the quarantine too; the record is kept as read. */
	q = unit_slurp(f->quarantine);
	assert_non_null(q);
	assert_contains(q, "{\"line\":1,\"reason\":\"column kind: \\\"\\\\u202ea\\\\u009b\\\" is "
	                   "not one of the values\",\"record\":");
	free(q);
}

/* A record of one empty field is written "" rather than as an empty
 * line, which the next reader would drop as blank. */
static void test_validate_csv_one_empty_field(void **state)
{
	struct fixture *f = *state;
	const char *schema = "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"header\": false,"
	                     " \"columns\": [{\"name\": \"s\", \"type\": \"string\", \"required\": false}]}";
	char *out;

	assert_int_equal(run(f, schema, "a\n\"\"\nb\n", NULL), 0);
	assert_int_equal(f->res.records, 3);
	assert_int_equal(f->res.accepted, 3);
	assert_file(f->output, "a\n\"\"\nb\n");
	/* What was written reads back as the same three records. */
	out = unit_slurp(f->output);
	assert_non_null(out);
	unit_write(f->input, out);
	free(out);
	assert_int_equal(run(f, schema, NULL, NULL), 0);
	assert_int_equal(f->res.accepted, 3);
}

static void test_validate_max_reject_count(void **state)
{
	struct fixture *f = *state;
	const char *in = HEADER GOOD "bad\n" GOOD "bad\n";

	assert_int_equal(run(f, TRADES, in, "2"), 0);
	assert_int_equal(f->res.rejected, 2);
	assert_int_equal(f->res.over_limit, 0);
	assert_string_equal(f->res.limit, "2");
	assert_int_equal(run(f, TRADES, in, "1"), 0);
	assert_int_equal(f->res.over_limit, 1);
	assert_int_equal(run(f, TRADES, in, NULL), 0);
	assert_int_equal(f->res.over_limit, 1);
	assert_string_equal(f->res.limit, "0");
	assert_int_equal(run(f, TRADES, HEADER GOOD, NULL), 0);
	assert_int_equal(f->res.over_limit, 0);
}

static void test_validate_max_reject_percent(void **state)
{
	struct fixture *f = *state;
	char *in = malloc(200 * sizeof GOOD + 64);
	size_t n = 0;

	n += (size_t)sprintf(in + n, HEADER "bad\n");
	for (int i = 0; i < 199; i++)
		n += (size_t)sprintf(in + n, GOOD);
	/* 1 reject in 200 is exactly 0.5%: at the limit, not over it. */
	assert_int_equal(run(f, TRADES, in, "0.5%"), 0);
	assert_int_equal(f->res.records, 200);
	assert_true(f->res.reject_ratio > 0.00499 && f->res.reject_ratio < 0.00501);
	assert_int_equal(f->res.over_limit, 0);
	assert_string_equal(f->res.limit, "0.5%");
	assert_int_equal(run(f, TRADES, in, "0.49%"), 0);
	assert_int_equal(f->res.over_limit, 1);
	free(in);
	in = HEADER GOOD "bad\n" GOOD;
	assert_int_equal(run(f, TRADES, in, "33.333333%"), 0);
	assert_int_equal(f->res.over_limit, 1);
	assert_int_equal(run(f, TRADES, in, "33.4%"), 0);
	assert_int_equal(f->res.over_limit, 0);
	assert_int_equal(run(f, TRADES, in, "100%"), 0);
	assert_int_equal(f->res.over_limit, 0);
	assert_int_equal(run(f, TRADES, in, "100.000000%"), 0);
	assert_int_equal(f->res.over_limit, 0);
	assert_int_equal(run(f, TRADES, in, "0%"), 0);
	assert_int_equal(f->res.over_limit, 1);
	assert_int_equal(run(f, TRADES, in, "000.000000%"), 0);
	assert_int_equal(f->res.over_limit, 1);
	assert_int_equal(run(f, TRADES, in, "999999999999999999"), 0);
	assert_int_equal(f->res.over_limit, 0);
}

static void test_validate_max_reject_invalid(void **state)
{
	static const char *const bad[] = {
		"", "%", "-1", "5 %", "101%", "1.5", "0.1234567%", "x", "10%%", "1e3", "0x10", "inf",
		"nan", " 5", "5 ", "+5", "1e1%", ".5%", "5.%", "5.1234567%", "100.000001%",
		"1000000000000000000", "0000000000000000005", "0000000000000000005%",
		/* 2^64 + 50 000 000 millionths: must not wrap round to 50% */
		"18446744073759.551616%",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fixture *f = *state;
		if (run(f, TRADES, HEADER GOOD, bad[i]) != -1)
			fail_msg("max_reject \"%s\" was taken", bad[i]);
		assert_contains(f->err.msg, "max_reject");
		assert_int_equal(f->err.code, AL_EUSAGE);
	}
}

static void test_validate_empty_inputs(void **state)
{
	struct fixture *f = *state;
	unsigned char empty[AL_SHA256_LEN];

	al_sha256_buf("", 0, empty);
	assert_int_equal(run(f, TRADES, HEADER, NULL), 0);
	assert_int_equal(f->res.records, 0);
	assert_int_equal(f->res.over_limit, 0);
	assert_true(f->res.reject_ratio == 0);
	assert_file(f->output, HEADER);
	assert_file(f->quarantine, "");
	assert_int_equal(f->res.quarantine_size, 0);
	assert_memory_equal(f->res.quarantine_sha256, empty, AL_SHA256_LEN);
	assert_int_equal(run(f, TRADES, "", NULL), 0);
	assert_int_equal(f->res.records, 0);
	assert_file(f->output, "");
	/* The header without its line end, and a byte order mark. */
	assert_int_equal(run(f, TRADES, "\xef\xbb\xbf" "account,isin,qty,price,side,trade_date,as_of",
	                     NULL), 0);
	assert_file(f->output, HEADER);
}

static void test_validate_csv_no_header_and_delimiter(void **state)
{
	struct fixture *f = *state;
	const char *schema = "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"header\": false,"
	                     " \"delimiter\": \";\", \"columns\": [{\"name\": \"n\", \"type\": \"int\"},"
	                     " {\"name\": \"s\", \"type\": \"string\", \"required\": false}]}";

	assert_int_equal(run(f, schema, "1;a,b\nx;y\n3;\n4;\"q;\"\n", "1"), 0);
	assert_int_equal(f->res.records, 4);
	assert_int_equal(f->res.accepted, 3);
	assert_string_equal(f->res.first_reject, "line 2: column n: \"x\" is not an int");
	assert_file(f->output, "1;a,b\n3;\n4;\"q;\"\n");
}

static void test_validate_jsonl_accepts_bytes_as_read(void **state)
{
	struct fixture *f = *state;
	const char *in =
		"{\"id\": 1, \"amount\": 12.5, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}\n"
		"\n"
		"{\"at\":\"2026-01-01T00:00:00Z\",\"kind\":\"b\",\"amount\":\"999.99\",\"id\":-2,\"note\":null}\r\n"
		"{\"id\": 3, \"amount\": 7, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\", \"note\": \"\xc3\xa9\"}";

	assert_int_equal(run(f, EVENTS, in, NULL), 0);
	assert_int_equal(f->res.records, 3);
	assert_int_equal(f->res.accepted, 3);
	assert_file(f->output,
	            "{\"id\": 1, \"amount\": 12.5, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}\n"
	            "{\"at\":\"2026-01-01T00:00:00Z\",\"kind\":\"b\",\"amount\":\"999.99\",\"id\":-2,\"note\":null}\r\n"
	            "{\"id\": 3, \"amount\": 7, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\", \"note\": \"\xc3\xa9\"}");
}

static void test_validate_jsonl_rejects(void **state)
{
	static const char *const rows[][2] = {
		{"{\"id\": 1, \"amount\": 1, \"kind\": \"a\"", "invalid JSON: "},
		{"[1, 2]", "not a JSON object (an array)"},
		{"{\"id\": 1, \"amount\": 1, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\", \"x\": 1}",
		 "unknown key \"x\""},
		{"{\"id\": 1, \"amount\": 1, \"kind\": \"a\"}", "column at: missing (required)"},
		{"{\"id\": null, \"amount\": 1, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column id: missing (required)"},
		{"{\"id\": \"1\", \"amount\": 1, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column id: expected an integer, found a string"},
		{"{\"id\": 1.5, \"amount\": 1, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column id: expected an integer, found a real number"},
		{"{\"id\": 1, \"amount\": true, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column amount: expected a number or a decimal string, found a boolean"},
		{"{\"id\": 1, \"amount\": \"1e3\", \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column amount: \"1e3\" is not a decimal"},
		{"{\"id\": 1, \"amount\": 1000.5, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column amount: \"1000.5\" is above the maximum 1000"},
		{"{\"id\": 1, \"amount\": 1, \"kind\": 1, \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column kind: expected a string, found an integer"},
		{"{\"id\": 1, \"amount\": 1, \"kind\": \"c\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "column kind: \"c\" is not one of the values"},
		{"{\"id\": 1, \"amount\": 1, \"kind\": \"a\", \"at\": \"yesterday\"}",
		 "column at: \"yesterday\" is not a timestamp (RFC 3339)"},
		{"{\"id\": 1, \"id\": 2, \"amount\": 1, \"kind\": \"a\", \"at\": \"2026-01-01T00:00:00Z\"}",
		 "invalid JSON: duplicate object key"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char in[512];
		snprintf(in, sizeof in, "%s\n", rows[i][0]);
		assert_int_equal(run(f, EVENTS, in, "1"), 0);
		if (f->res.rejected != 1 || strncmp(f->res.first_reject, "line 1: ", 8) != 0 ||
		    strncmp(f->res.first_reject + 8, rows[i][1], strlen(rows[i][1])) != 0)
			fail_msg("%s: got \"%s\", expected \"%s\"", rows[i][0], f->res.first_reject,
			         rows[i][1]);
	}
}

/* The quarantine holds the raw line as a string, and stays valid JSON
 * whatever bytes the line had. */
static void test_validate_jsonl_quarantine(void **state)
{
	struct fixture *f = *state;
	char *q;
	json_t *j;

	assert_int_equal(run(f, EVENTS, "{\"id\": 1}\r\nnot json \xff\n", "2"), 0);
	q = unit_slurp(f->quarantine);
	assert_non_null(q);
	assert_string_equal(q, "{\"line\":1,\"reason\":\"column amount: missing (required)\","
	                       "\"record\":\"{\\\"id\\\": 1}\"}\n"
	                       "{\"line\":2,\"reason\":\"invalid JSON: '[' or '{' expected near "
	                       "'not' (column 3)\",\"record\":\"not json \\ufffd\"}\n");
	j = json_loads(strchr(q, '\n') + 1, 0, NULL);
	assert_non_null(j);
	json_decref(j);
	free(q);
}

static void test_validate_quarantine_hash_and_mode(void **state)
{
	struct fixture *f = *state;
	unsigned char want[AL_SHA256_LEN];
	struct stat st;
	char *q;

	assert_int_equal(run(f, TRADES, HEADER "bad\n" GOOD "bad,\"x\"\n", "5"), 0);
	q = unit_slurp(f->quarantine);
	assert_non_null(q);
	assert_string_equal(q, "{\"line\":2,\"reason\":\"1 fields, expected 7\",\"record\":[\"bad\"]}\n"
	                       "{\"line\":4,\"reason\":\"2 fields, expected 7\",\"record\":[\"bad\",\"x\"]}\n");
	al_sha256_buf(q, strlen(q), want);
	assert_memory_equal(f->res.quarantine_sha256, want, AL_SHA256_LEN);
	assert_int_equal(f->res.quarantine_size, strlen(q));
	free(q);
	assert_int_equal(stat(f->quarantine, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(f->output, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_validate_missing_input(void **state)
{
	struct fixture *f = *state;
	struct al_validate_opts o = {f->input, f->schema, f->output, f->quarantine, NULL};

	unit_write(f->schema, TRADES);
	assert_int_equal(al_validate(&o, &f->res, &f->err), -1);
	assert_contains(f->err.msg, f->input);
	assert_contains(f->err.msg, "ENOENT");
	o.input = f->dir;
	assert_int_equal(al_validate(&o, &f->res, &f->err), -1);
	assert_contains(f->err.msg, "not a regular file");
}

/* A full disk is an error that names the file, and leaves neither the
 * output nor a temporary quarantine behind. */
static void test_validate_write_failure(void **state)
{
	struct fixture *f = *state;

	for (unsigned long nth = 1; nth <= 2; nth++) {
		unit_write(f->schema, TRADES);
		unit_write(f->input, HEADER GOOD "bad\n");
		al_sys_fault_reset();
		assert_int_equal(al_sys_fault_add(AL_SYS_WRITE, nth, ENOSPC, 1), 0);
		assert_int_equal(run(f, TRADES, NULL, "1"), -1);
		al_sys_fault_reset();
		assert_contains(f->err.msg, "write");
		assert_contains(f->err.msg, "ENOSPC");
		assert_int_equal(f->err.code, AL_EENV);
		assert_int_equal(unit_entries(f->dir), 2); /* schema and input */
	}
	assert_int_equal(al_sys_fault_add(AL_SYS_FSYNC, 1, EIO, 0), 0);
	assert_int_equal(run(f, TRADES, NULL, "1"), -1);
	assert_contains(f->err.msg, "fsync");
	assert_int_equal(al_sys_fault_add(AL_SYS_RENAME, 1, EIO, 0), 0);
	assert_int_equal(run(f, TRADES, NULL, "1"), -1);
	assert_contains(f->err.msg, "quarantine.jsonl: rename");
	assert_int_equal(unit_entries(f->dir), 2);
}

static void check_schema_error(struct fixture *f, const char *schema, const char *fragment)
{
	unit_write(f->schema, schema);
	memset(&f->err, 0, sizeof f->err);
	assert_int_equal(al_schema_check(f->schema, &f->err), -1);
	assert_contains(f->err.msg, f->schema);
	assert_contains(f->err.msg, fragment);
	assert_int_equal(run(f, schema, HEADER, NULL), -1);
	assert_contains(f->err.msg, fragment);
}

#define S(cols) "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"columns\": [" cols "]}"

static void test_validate_schema_errors(void **state)
{
	struct fixture *f = *state;

	unit_write(f->schema, TRADES);
	assert_int_equal(al_schema_check(f->schema, &f->err), 0);
	unit_write(f->schema, EVENTS);
	assert_int_equal(al_schema_check(f->schema, &f->err), 0);
	check_schema_error(f, "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"colums\": []}",
	                   "unknown field \"colums\"");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"int\", \"requried\": false}"),
	                   "columns[0] (a): unknown field \"requried\"");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"string\"}, {\"name\": \"b\", \"type\":"
	                        " \"regex\", \"pattern\": \"([a-z\"}"),
	                   "columns[1] (b): \"pattern\": ");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"enum\"}"),
	                   "columns[0] (a): \"values\" must be a non-empty array of strings");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"enum\", \"values\": []}"),
	                   "\"values\" must be a non-empty array");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"enum\", \"values\": [\"x\", \"x\"]}"),
	                   "\"values\" has \"x\" twice");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"float\"}"),
	                   "columns[0] (a): unknown type \"float\"");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"int\", \"min\": 1.5}"),
	                   "\"min\" must be an integer");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"int\", \"min\": 5, \"max\": 1}"),
	                   "\"min\" is greater than \"max\"");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"date\", \"max_length\": 3}"),
	                   "unknown field \"max_length\"");
	check_schema_error(f, S("{\"name\": \"a\", \"type\": \"int\"}, {\"name\": \"a\", \"type\": \"int\"}"),
	                   "columns[1] (a): duplicate column name");
	check_schema_error(f, S("{\"type\": \"int\"}"), "columns[0]: \"name\" must be a string");
	check_schema_error(f, S(""), "\"columns\" must be an array of 1-4096 columns");
	check_schema_error(f, "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"columns\": [",
	                   "schema.json:1:");
	check_schema_error(f, "{\"format\": \"airlock.schema/2\", \"type\": \"csv\", \"columns\": []}",
	                   "\"format\" must be \"airlock.schema/1\"");
	check_schema_error(f, "{\"format\": \"airlock.schema/1\", \"type\": \"xml\", \"columns\": []}",
	                   "\"type\" must be \"csv\" or \"jsonl\"");
	check_schema_error(f, "{\"format\": \"airlock.schema/1\", \"type\": \"jsonl\", \"header\": true,"
	                      " \"columns\": [{\"name\": \"a\", \"type\": \"int\"}]}",
	                   "\"header\"");
	check_schema_error(f, "{\"format\": \"airlock.schema/1\", \"type\": \"csv\", \"delimiter\": \"\\\"\","
	                      " \"columns\": [{\"name\": \"a\", \"type\": \"int\"}]}",
	                   "\"delimiter\"");
	check_schema_error(f, "[]", "not a JSON object");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_validate_csv_accepts_every_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_type_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_regex_unanchored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_header_mismatch_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_wrong_field_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_quoting_and_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_unterminated_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_record_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_runaway_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_cr_then_quote_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_cr_only_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_cr_line_and_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_reason_cut_at_a_character, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_reason_escapes_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_one_empty_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_max_reject_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_max_reject_percent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_max_reject_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_empty_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_csv_no_header_and_delimiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_jsonl_accepts_bytes_as_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_jsonl_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_jsonl_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_quarantine_hash_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_missing_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_write_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_schema_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
