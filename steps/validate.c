/* validate.c - the validate built-in (DESIGN.md §8): streams a CSV or
 * JSONL input through an airlock.schema/1 file (manifests/FORMAT.md,
 * "Schema files"), writes the records that pass to the output and the
 * others, with their line and the reason, to the quarantine.
 *
 * Memory is bounded whatever the input: it is read in READ_BUF blocks,
 * one record is held at a time, and a record longer than RECORD_MAX is
 * rejected and skipped rather than buffered. Untrusted bytes that reach a
 * reason (and so the audit log) are shown escaped and cut short. */
#include "steps/steps.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHEMA_MAX (1 << 20)
/* A record (CSV, quoted newlines included) or line (JSONL) longer than
 * this is rejected: a missing closing quote must not make us buffer the
 * rest of a 10 GB file. */
#define RECORD_MAX (1 << 20)
#define READ_BUF (1 << 18)
#define WRITE_BUF (1 << 20)
#define COLUMNS_MAX 4096
#define NAME_MAX_LEN 128
#define VALUES_MAX 65536
/* Bytes of an offending value quoted in a reason. */
#define SHOW_MAX 64
#define WHY_LEN 1024

enum col_type { COL_STRING, COL_INT, COL_DECIMAL, COL_DATE, COL_TIMESTAMP, COL_ENUM, COL_REGEX };

static const char *const type_names[] = {"string", "int",  "decimal", "date",
                                         "timestamp", "enum", "regex",   NULL};

struct column {
	const char *name;     /* borrowed from schema->json */
	enum col_type type;
	int required;         /* an empty or missing value is a reject */
	int has_min, has_max;
	int64_t imin, imax;   /* int bounds */
	double dmin, dmax;    /* decimal bounds */
	int64_t max_length;   /* string/regex, in characters; -1: none */
	const char **values;  /* enum values, sorted for bsearch (borrowed) */
	size_t nvalues;
	regex_t re;
	int has_re;           /* re was compiled and must be freed */
};

struct schema {
	json_t *json;         /* owns every string the columns point into */
	int jsonl;            /* type "jsonl" (else "csv") */
	int header;           /* CSV: the first record names the columns */
	unsigned char delimiter;
	struct column *cols;
	size_t ncols;
};

/* A buffered writer over an fd. Writes go through al_write_all, i.e. the
 * system-call table, so that tests can fill the disk. */
struct bufw {
	int fd;
	const char *display;  /* the path, for messages */
	char *buf;
	size_t len, cap;
	uint64_t size;        /* bytes handed to write(2) so far */
	struct al_sha256 *hash; /* hashes every byte written, or NULL */
};

/* max_reject, parsed by al_max_reject_parse. */
struct limit {
	int percent;
	uint64_t value;       /* the count, or millionths of a percent */
};

struct vctx {
	const struct schema *sc;
	const char *input;    /* for messages */
	struct al_validate_res *res;
	struct al_err *err;
	struct bufw out, quar;
	int failed;           /* err is set: stop (set inside libcsv callbacks) */
	int64_t line;         /* physical line being read (1-based, counts LF) */
	/* The CSV record being assembled: fields NUL-terminated in rec. */
	struct csv_parser csv;
	int csv_live;         /* csv was initialised and needs csv_free */
	char *rec;
	size_t rec_len;
	size_t *foff, *flen;
	size_t nfields, fcap;
	int rec_open;         /* a record has begun and not ended */
	int rec_too_long;
	int64_t start_line;   /* where the record being read began */
	uint64_t rec_bytes;   /* input bytes seen since it began */
	int skipping;         /* after a bad record: drop bytes up to the next line end */
	int header_pending;
	char why[WHY_LEN];
};

/* ---------------------------------------------------------------- */
/* UTF-8 and display.                                                 */

/* Length (1-4) of the valid UTF-8 sequence at s, or 0 when it is not
 * one (overlong forms, surrogates and code points past U+10FFFF are
 * refused, as RFC 3629 says). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Counts the characters of s; -1 when it is not valid UTF-8, -2 when it
 * holds a NUL. */
static int64_t utf8_count(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	int64_t chars = 0;

	for (size_t i = 0; i < n; chars++) {
		size_t k = p[i] < 0x80 ? 1 : utf8_seq(p + i, n - i);
		if (k == 0)
			return -1;
		if (p[i] == 0)
			return -2;
		i += k;
	}
	return chars;
}

/* The code point of the valid k-byte UTF-8 sequence at p. */
static uint32_t utf8_point(const unsigned char *p, size_t k)
{
	uint32_t c = k == 1 ? p[0] : p[0] & (0x7f >> k);

	for (size_t i = 1; i < k; i++)
		c = c << 6 | (p[i] & 0x3f);
	return c;
}

/* Characters that change how the text around them is shown: C1 controls
 * (U+009B is a terminal's CSI) and the bidirectional marks, overrides and
 * isolates ("Trojan Source": U+202E makes "gpj.exe" read "exe.jpg"). */
static int invisible(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x61c || c == 0x200e || c == 0x200f ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* Escapes at most max bytes of s into out, and "..." when s is longer:
 * quotes and backslashes get a backslash, control bytes and invalid UTF-8
 * become \xNN, invisible() characters \uNNNN; so a hostile value cannot
 * forge a line of a message, reorder what a reader sees, nor break the
 * JSON a reason ends up in. Returns the length written; out must hold
 * 4 * max + 10 bytes (no input byte takes more than 4, and the last
 * character, started before max, at most 6). */
static size_t escape(char *out, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	while (i < n && i < max) {
		size_t k = utf8_seq(p + i, n - i);
		uint32_t c = k > 0 ? utf8_point(p + i, k) : 0;
		if (p[i] == '"' || p[i] == '\\') {
			out[o++] = '\\';
			out[o++] = (char)p[i++];
		} else if (k == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[p[i] >> 4];
			out[o++] = hex[p[i++] & 15];
		} else if (invisible(c)) {
			o += (size_t)snprintf(out + o, 7, "\\u%04" PRIx32, c);
			i += k;
		} else {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		}
	}
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}

/* Writes s into out as a double-quoted, escaped excerpt of at most
 * SHOW_MAX bytes. out must hold SHOW_LEN bytes. */
#define SHOW_LEN (4 * SHOW_MAX + 16)
static void show(char *out, const char *s, size_t n)
{
	size_t o = 1;

	out[0] = '"';
	o += escape(out + 1, s, n, SHOW_MAX);
	out[o++] = '"';
	out[o] = '\0';
}

/* snprintf into a fixed field of res, cut at a character boundary. */
static void fit(char *out, size_t outlen, const char *fmt, ...) AL_PRINTF(3, 4);
static void fit(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= outlen) {
		/* vsnprintf cut at a byte: drop the character it cut in two. */
		size_t end = strlen(out), i = end;
		while (i > 0 && end - i < 3 && ((unsigned char)out[i - 1] & 0xc0) == 0x80)
			i--;
		if (i > 0 && (unsigned char)out[i - 1] >= 0xc0 &&
		    utf8_seq((const unsigned char *)out + i - 1, end - i + 1) != end - i + 1)
			out[i - 1] = '\0';
	}
}

/* ---------------------------------------------------------------- */
/* The schema file.                                                   */

/* err for a schema problem: "<file>: <where>: <what>". */
static int bad(struct al_err *err, const char *path, const char *fmt, ...) AL_PRINTF(3, 4);
static int bad(struct al_err *err, const char *path, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return al_err_set(err, AL_EUSAGE, "%s: %s", path, what);
}

/* Unknown members are errors: a misspelt "requried" must not quietly
 * turn a check off. */
static int fields_check(json_t *obj, const char *const *allowed, const char *path,
                        const char *where, struct al_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i = 0;
		(void)v;
		while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL)
			return bad(err, path, "%sunknown field \"%s\"", where, key);
	}
	return 0;
}

static int value_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int column_values(struct column *c, json_t *vals, const char *path, const char *where,
                         struct al_err *err)
{
	size_t i;
	json_t *v;

	if (!json_is_array(vals) || json_array_size(vals) == 0 ||
	    json_array_size(vals) > VALUES_MAX)
		return bad(err, path, "%s\"values\" must be a non-empty array of strings", where);
	c->values = calloc(json_array_size(vals), sizeof *c->values);
	if (c->values == NULL)
		return al_err_sys(err, "%s", path);
	json_array_foreach(vals, i, v) {
		if (!json_is_string(v))
			return bad(err, path, "%s\"values\"[%zu] is not a string", where, i);
		c->values[i] = json_string_value(v);
	}
	c->nvalues = json_array_size(vals);
	qsort(c->values, c->nvalues, sizeof *c->values, value_cmp);
	for (i = 1; i < c->nvalues; i++)
		if (strcmp(c->values[i - 1], c->values[i]) == 0)
			return bad(err, path, "%s\"values\" has \"%s\" twice", where, c->values[i]);
	return 0;
}

static int column_regex(struct column *c, json_t *pat, const char *path, const char *where,
                        struct al_err *err)
{
	char msg[256];
	int rc;

	if (!json_is_string(pat) || json_string_length(pat) == 0)
		return bad(err, path, "%s\"pattern\" must be a non-empty string", where);
	/* REG_NOSUB: we only ask whether it matches, which is faster. */
	rc = regcomp(&c->re, json_string_value(pat), REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &c->re, msg, sizeof msg);
		return bad(err, path, "%s\"pattern\": %s", where, msg);
	}
	c->has_re = 1;
	return 0;
}

/* min and max: JSON integers for int, any JSON number for decimal. */
static int column_bound(struct column *c, json_t *v, int is_max, const char *path,
                        const char *where, struct al_err *err)
{
	const char *name = is_max ? "max" : "min";

	if (c->type == COL_INT) {
		if (!json_is_integer(v))
			return bad(err, path, "%s\"%s\" must be an integer", where, name);
		*(is_max ? &c->imax : &c->imin) = json_integer_value(v);
	} else {
		if (!json_is_number(v))
			return bad(err, path, "%s\"%s\" must be a number", where, name);
		*(is_max ? &c->dmax : &c->dmin) = json_number_value(v);
	}
	*(is_max ? &c->has_max : &c->has_min) = 1;
	return 0;
}

/* The members each type allows, beyond name, type and required. */
static int column_extras(struct column *c, json_t *obj, const char *path, const char *where,
                         struct al_err *err)
{
	static const char *const base[] = {"name", "type", "required", NULL};
	static const char *const numeric[] = {"name", "type", "required", "min", "max", NULL};
	static const char *const string[] = {"name", "type", "required", "max_length", NULL};
	static const char *const enums[] = {"name", "type", "required", "values", NULL};
	static const char *const regex[] = {"name", "type", "required", "pattern", "max_length",
	                                    NULL};
	const char *const *allowed = base;
	json_t *v;

	if (c->type == COL_INT || c->type == COL_DECIMAL)
		allowed = numeric;
	else if (c->type == COL_STRING)
		allowed = string;
	else if (c->type == COL_ENUM)
		allowed = enums;
	else if (c->type == COL_REGEX)
		allowed = regex;
	if (fields_check(obj, allowed, path, where, err) < 0)
		return -1;
	if ((v = json_object_get(obj, "min")) != NULL && column_bound(c, v, 0, path, where, err) < 0)
		return -1;
	if ((v = json_object_get(obj, "max")) != NULL && column_bound(c, v, 1, path, where, err) < 0)
		return -1;
	if (c->has_min && c->has_max &&
	    (c->type == COL_INT ? c->imin > c->imax : c->dmin > c->dmax))
		return bad(err, path, "%s\"min\" is greater than \"max\"", where);
	if ((v = json_object_get(obj, "max_length")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return bad(err, path, "%s\"max_length\" must be a positive integer", where);
		c->max_length = json_integer_value(v);
	}
	if (c->type == COL_ENUM)
		return column_values(c, json_object_get(obj, "values"), path, where, err);
	if (c->type == COL_REGEX)
		return column_regex(c, json_object_get(obj, "pattern"), path, where, err);
	return 0;
}

static int column_parse(struct schema *sc, size_t idx, json_t *obj, const char *path,
                        struct al_err *err)
{
	struct column *c = &sc->cols[idx];
	json_t *name = json_object_get(obj, "name"), *type = json_object_get(obj, "type");
	json_t *req = json_object_get(obj, "required");
	char where[NAME_MAX_LEN + 64];
	size_t t;

	c->max_length = -1;
	c->required = 1;
	if (!json_is_object(obj))
		return bad(err, path, "columns[%zu]: not an object", idx);
	if (!json_is_string(name) || json_string_length(name) == 0 ||
	    json_string_length(name) > NAME_MAX_LEN)
		return bad(err, path, "columns[%zu]: \"name\" must be a string of 1-%d bytes", idx,
		           NAME_MAX_LEN);
	c->name = json_string_value(name);
	snprintf(where, sizeof where, "columns[%zu] (%s): ", idx, c->name);
	for (size_t i = 0; i < idx; i++)
		if (sc->cols[i].name != NULL && strcmp(sc->cols[i].name, c->name) == 0)
			return bad(err, path, "%sduplicate column name", where);
	if (!json_is_string(type))
		return bad(err, path, "%s\"type\" is missing", where);
	for (t = 0; type_names[t] != NULL; t++)
		if (strcmp(type_names[t], json_string_value(type)) == 0)
			break;
	if (type_names[t] == NULL)
		return bad(err, path,
		           "%sunknown type \"%s\" (string, int, decimal, date, timestamp, enum, regex)",
		           where, json_string_value(type));
	c->type = (enum col_type)t;
	if (req != NULL) {
		if (!json_is_boolean(req))
			return bad(err, path, "%s\"required\" must be true or false", where);
		c->required = json_is_true(req);
	}
	return column_extras(c, obj, path, where, err);
}

static int schema_top(struct schema *sc, const char *path, struct al_err *err)
{
	static const char *const top[] = {"format", "type", "header", "delimiter", "columns", NULL};
	json_t *j = sc->json, *v;

	if (!json_is_object(j))
		return bad(err, path, "not a JSON object");
	if (fields_check(j, top, path, "", err) < 0)
		return -1;
	v = json_object_get(j, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), "airlock.schema/1") != 0)
		return bad(err, path, "\"format\" must be \"airlock.schema/1\"");
	v = json_object_get(j, "type");
	if (!json_is_string(v) || (strcmp(json_string_value(v), "csv") != 0 &&
	                           strcmp(json_string_value(v), "jsonl") != 0))
		return bad(err, path, "\"type\" must be \"csv\" or \"jsonl\"");
	sc->jsonl = strcmp(json_string_value(v), "jsonl") == 0;
	sc->header = !sc->jsonl;
	sc->delimiter = ',';
	if ((v = json_object_get(j, "header")) != NULL) {
		if (sc->jsonl || !json_is_boolean(v))
			return bad(err, path, "\"header\" must be true or false, and only for csv");
		sc->header = json_is_true(v);
	}
	if ((v = json_object_get(j, "delimiter")) != NULL) {
		const char *d = json_string_value(v);
		/* One ASCII byte that cannot be mistaken for a quote or a line end. */
		if (sc->jsonl || d == NULL || strlen(d) != 1 || (unsigned char)d[0] >= 0x80 ||
		    strchr("\"\r\n", d[0]) != NULL)
			return bad(err, path, "\"delimiter\" must be one ASCII character other than "
			                      "a quote or a line end, and only for csv");
		sc->delimiter = (unsigned char)d[0];
	}
	v = json_object_get(j, "columns");
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > COLUMNS_MAX)
		return bad(err, path, "\"columns\" must be an array of 1-%d columns", COLUMNS_MAX);
	return 0;
}

static void schema_free(struct schema *sc)
{
	for (size_t i = 0; sc->cols != NULL && i < sc->ncols; i++) {
		if (sc->cols[i].has_re)
			regfree(&sc->cols[i].re);
		free(sc->cols[i].values);
	}
	free(sc->cols);
	json_decref(sc->json);
	memset(sc, 0, sizeof *sc);
}

static int schema_load(const char *path, struct schema *sc, struct al_err *err)
{
	json_t *cols;

	memset(sc, 0, sizeof *sc);
	sc->json = al_json_load_file(path, SCHEMA_MAX, err);
	if (sc->json == NULL)
		return -1;
	if (schema_top(sc, path, err) < 0)
		goto fail;
	cols = json_object_get(sc->json, "columns");
	sc->cols = calloc(json_array_size(cols), sizeof *sc->cols);
	if (sc->cols == NULL) {
		al_err_sys(err, "%s", path);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(cols); i++) {
		sc->ncols = i + 1; /* so that schema_free frees what column_parse made */
		if (column_parse(sc, i, json_array_get(cols, i), path, err) < 0)
			goto fail;
	}
	return 0;
fail:
	schema_free(sc);
	return -1;
}

int al_schema_check(const char *path, struct al_err *err)
{
	struct schema sc;

	if (schema_load(path, &sc, err) < 0)
		return -1;
	schema_free(&sc);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Checking one value.                                                */

/* A reject reason about column c and value s: always returns -1. */
static int why_value(char *why, const struct column *c, const char *s, size_t n,
                     const char *what)
{
	char shown[SHOW_LEN];

	show(shown, s, n);
	fit(why, WHY_LEN, "column %s: %s %s", c->name, shown, what);
	return -1;
}

/* [+-]?[0-9]+ within int64. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0, lim;

	if (n > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i == n)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9 || v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* -?[0-9]+(\.[0-9]+)?: no exponent, no grouping, so that what passes is
 * read the same way by every consumer. */
static int decimal_syntax(const char *s, size_t n)
{
	size_t i = s[0] == '-', digits = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (digits == 0)
		return -1;
	if (i == n)
		return 0;
	if (s[i++] != '.' || i == n)
		return -1;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i == n ? 0 : -1;
}

static int two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* YYYY-MM-DD, a day that exists in the proleptic Gregorian calendar. */
static int date_check(const char *s, size_t n)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, leap;

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (size_t i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = two(s) * 100 + two(s + 2);
	m = two(s + 5);
	d = two(s + 8);
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m < 1 || m > 12 || d < 1)
		return -1;
	return d <= mdays[m - 1] + (m == 2 && leap) ? 0 : -1;
}

static int enum_find(const struct column *c, const char *s)
{
	return bsearch(&s, c->values, c->nvalues, sizeof *c->values, value_cmp) != NULL ? 0 : -1;
}

static int bounds_double(const struct column *c, const char *s, size_t n, double v, char *why)
{
	char lim[64];

	if (c->has_min && v < c->dmin) {
		snprintf(lim, sizeof lim, "is below the minimum %.17g", c->dmin);
		return why_value(why, c, s, n, lim);
	}
	if (c->has_max && v > c->dmax) {
		snprintf(lim, sizeof lim, "is above the maximum %.17g", c->dmax);
		return why_value(why, c, s, n, lim);
	}
	return 0;
}

static int bounds_int(const struct column *c, const char *s, size_t n, int64_t v, char *why)
{
	char lim[64];

	if (c->has_min && v < c->imin) {
		snprintf(lim, sizeof lim, "is below the minimum %" PRId64, c->imin);
		return why_value(why, c, s, n, lim);
	}
	if (c->has_max && v > c->imax) {
		snprintf(lim, sizeof lim, "is above the maximum %" PRId64, c->imax);
		return why_value(why, c, s, n, lim);
	}
	return 0;
}

static int length_check(const struct column *c, const char *s, size_t n, char *why)
{
	int64_t chars = utf8_count(s, n);
	char what[64];

	if (chars == -2)
		return why_value(why, c, s, n, "contains a NUL byte");
	if (chars < 0)
		return why_value(why, c, s, n, "is not valid UTF-8");
	if (c->max_length >= 0 && chars > c->max_length) {
		snprintf(what, sizeof what, "is longer than %" PRId64 " characters", c->max_length);
		return why_value(why, c, s, n, what);
	}
	return 0;
}

/* Checks a non-empty text value, s[n] being a NUL. 0, or -1 with why.
 * A NUL inside would end the string early for regexec, strcmp and
 * al_ts_parse ("BUY\0x" must not pass as BUY): the parsers that take a
 * length refuse it as bad syntax, the others check strlen. */
static int text_check(const struct column *c, const char *s, size_t n, char *why)
{
	struct al_err scratch;
	int64_t i;

	switch (c->type) {
	case COL_STRING:
		return length_check(c, s, n, why);
	case COL_INT:
		if (parse_int(s, n, &i) < 0)
			return why_value(why, c, s, n, "is not an int");
		return bounds_int(c, s, n, i, why);
	case COL_DECIMAL:
		if (decimal_syntax(s, n) < 0)
			return why_value(why, c, s, n, "is not a decimal");
		return c->has_min || c->has_max ? bounds_double(c, s, n, strtod(s, NULL), why) : 0;
	case COL_DATE:
		return date_check(s, n) < 0 ? why_value(why, c, s, n, "is not a date (YYYY-MM-DD)")
		                            : 0;
	case COL_TIMESTAMP:
		return strlen(s) != n || al_ts_parse(s, &i, &scratch) < 0
		               ? why_value(why, c, s, n, "is not a timestamp (RFC 3339)")
		               : 0;
	case COL_ENUM:
		return strlen(s) != n || enum_find(c, s) < 0 ? why_value(why, c, s, n, "is not one of the values") : 0;
	case COL_REGEX:
		if (length_check(c, s, n, why) < 0)
			return -1;
		return regexec(&c->re, s, 0, NULL, 0) != 0
		               ? why_value(why, c, s, n, "does not match the pattern")
		               : 0;
	}
	return -1;
}

static int missing_check(const struct column *c, char *why)
{
	if (!c->required)
		return 0;
	fit(why, WHY_LEN, "column %s: missing (required)", c->name);
	return -1;
}

/* ---------------------------------------------------------------- */
/* Buffered output.                                                   */

static int bufw_open(struct bufw *w, int fd, const char *display, struct al_sha256 *hash,
                     struct al_err *err)
{
	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->display = display;
	w->hash = hash;
	w->cap = WRITE_BUF;
	w->buf = malloc(w->cap);
	if (w->buf == NULL)
		return al_err_sys(err, "%s", display);
	return 0;
}

static int bufw_write(struct bufw *w, const void *p, size_t n, struct al_err *err)
{
	if (al_write_all(w->fd, p, n) < 0)
		return al_err_sys(err, "%s: write", w->display);
	if (w->hash != NULL)
		al_sha256_update(w->hash, p, n);
	w->size += n;
	return 0;
}

static int bufw_flush(struct bufw *w, struct al_err *err)
{
	int ret = w->len > 0 ? bufw_write(w, w->buf, w->len, err) : 0;

	w->len = 0;
	return ret;
}

/* Room for n more bytes at w->buf + w->len; NULL (err set) on failure.
 * The buffer only grows for a single item larger than WRITE_BUF, which
 * RECORD_MAX bounds. */
static char *bufw_room(struct bufw *w, size_t n, struct al_err *err)
{
	if (w->cap - w->len >= n)
		return w->buf + w->len;
	if (bufw_flush(w, err) < 0)
		return NULL;
	if (n > w->cap) {
		char *nbuf = realloc(w->buf, n);
		if (nbuf == NULL) {
			al_err_sys(err, "%s", w->display);
			return NULL;
		}
		w->buf = nbuf;
		w->cap = n;
	}
	return w->buf;
}

static int bufw_put(struct bufw *w, const void *p, size_t n, struct al_err *err)
{
	char *dst;

	if (n >= WRITE_BUF / 2) /* large: straight through, no copy */
		return bufw_flush(w, err) < 0 ? -1 : bufw_write(w, p, n, err);
	if ((dst = bufw_room(w, n, err)) == NULL)
		return -1;
	memcpy(dst, p, n);
	w->len += n;
	return 0;
}

/* Writes s as a JSON string. Invalid UTF-8 becomes U+FFFD: the
 * quarantine must stay valid JSON whatever the input held. */
static int bufw_json_str(struct bufw *w, const char *s, size_t n, struct al_err *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	if (bufw_put(w, "\"", 1, err) < 0)
		return -1;
	while (i < n) {
		char esc[8];
		size_t k = utf8_seq(p + i, n - i), elen;
		if (k > 1 || (k == 1 && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\')) {
			i += k;
			continue;
		}
		if (bufw_put(w, s + run, i - run, err) < 0)
			return -1;
		if (k == 0)
			elen = (size_t)snprintf(esc, sizeof esc, "\\ufffd");
		else if (p[i] == '"' || p[i] == '\\')
			elen = (size_t)snprintf(esc, sizeof esc, "\\%c", p[i]);
		else if (p[i] == '\n')
			elen = (size_t)snprintf(esc, sizeof esc, "\\n");
		else
			elen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", p[i]);
		if (bufw_put(w, esc, elen, err) < 0)
			return -1;
		run = ++i;
	}
	if (bufw_put(w, s + run, n - run, err) < 0)
		return -1;
	return bufw_put(w, "\"", 1, err);
}

/* ---------------------------------------------------------------- */
/* Rejects.                                                           */

static void reject_count(struct vctx *x, int64_t line, const char *reason)
{
	x->res->rejected++;
	if (x->res->first_reject[0] == '\0')
		fit(x->res->first_reject, sizeof x->res->first_reject, "line %" PRId64 ": %s", line,
		    reason);
}

/* {"line":N,"reason":"..." and the comma before "record". */
static int reject_head(struct vctx *x, int64_t line, const char *reason)
{
	char num[48];
	int n = snprintf(num, sizeof num, "{\"line\":%" PRId64 ",\"reason\":", line);

	reject_count(x, line, reason);
	if (bufw_put(&x->quar, num, (size_t)n, x->err) < 0 ||
	    bufw_json_str(&x->quar, reason, strlen(reason), x->err) < 0)
		return -1;
	return bufw_put(&x->quar, ",\"record\":", 10, x->err);
}

/* A CSV reject: the record is the array of the fields read so far. */
static int reject_csv(struct vctx *x, int64_t line, const char *reason)
{
	if (reject_head(x, line, reason) < 0 || bufw_put(&x->quar, "[", 1, x->err) < 0)
		return -1;
	for (size_t i = 0; i < x->nfields && !x->rec_too_long; i++) {
		if ((i > 0 && bufw_put(&x->quar, ",", 1, x->err) < 0) ||
		    bufw_json_str(&x->quar, x->rec + x->foff[i], x->flen[i], x->err) < 0)
			return -1;
	}
	return bufw_put(&x->quar, "]}\n", 3, x->err);
}

/* A JSONL reject: the record is the line as read, without its end. */
static int reject_line(struct vctx *x, int64_t line, const char *reason, const char *s,
                       size_t n)
{
	if (reject_head(x, line, reason) < 0 || bufw_json_str(&x->quar, s, n, x->err) < 0)
		return -1;
	return bufw_put(&x->quar, "}\n", 2, x->err);
}

/* ---------------------------------------------------------------- */
/* CSV.                                                               */

/* Fields that another reader could split, or trim, differently are
 * quoted; the rest are written as they are. s has no NUL (text_check
 * refuses them), so strcspn sees all of it. */
static int needs_quotes(const char *s, size_t n, const char *specials)
{
	if (n == 0)
		return 0;
	if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')
		return 1;
	return strcspn(s, specials) < n;
}

/* Writes the record held in x->rec as one CSV line: the header once it
 * has matched, then every accepted record. One reservation per record:
 * a field takes at most 2n + 2 bytes quoted (libcsv's csv_write2
 * quoting: in quotes, quotes doubled), and its delimiter one more. */
static int csv_put_record(struct vctx *x)
{
	char specials[] = {(char)x->sc->delimiter, '"', '\r', '\n', '\0'};
	size_t room = 1;
	char *dst, *p;

	for (size_t i = 0; i < x->nfields; i++)
		room += 2 * x->flen[i] + 3;
	if ((dst = bufw_room(&x->out, room, x->err)) == NULL)
		return -1;
	p = dst;
	/* One empty field would make an empty line, which readers (this one
	 * included) skip as blank: the record would be lost downstream. */
	if (x->nfields == 1 && x->flen[0] == 0) {
		*p++ = '"';
		*p++ = '"';
	}
	for (size_t i = 0; i < x->nfields; i++) {
		const char *s = x->rec + x->foff[i];
		size_t n = x->flen[i];
		if (i > 0)
			*p++ = (char)x->sc->delimiter;
		if (needs_quotes(s, n, specials)) {
			p += csv_write2(p, 2 * n + 2, s, n, '"');
		} else {
			memcpy(p, s, n);
			p += n;
		}
	}
	*p++ = '\n';
	x->out.len += (size_t)(p - dst);
	return 0;
}

/* Joins the header's names (or the schema's) for a message. */
static void names_join(char *out, size_t outlen, const struct vctx *x, int from_input)
{
	size_t n = from_input ? x->nfields : x->sc->ncols, o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		const char *s = from_input ? x->rec + x->foff[i] : x->sc->cols[i].name;
		size_t len = from_input ? x->flen[i] : strlen(s);
		char shown[SHOW_LEN];
		show(shown, s, len);
		fit(out + o, outlen - o, "%s%s", i > 0 ? "," : "", shown);
		o += strlen(out + o);
	}
}

static int csv_header_check(struct vctx *x)
{
	const struct schema *sc = x->sc;
	size_t i = 0;
	char found[400], want[400];

	if (x->nfields == sc->ncols)
		for (i = 0; i < sc->ncols; i++)
			if (x->flen[i] != strlen(sc->cols[i].name) ||
			    memcmp(x->rec + x->foff[i], sc->cols[i].name, x->flen[i]) != 0)
				break;
	if (i == sc->ncols && x->nfields == sc->ncols)
		return csv_put_record(x); /* the header, as the schema names it */
	names_join(found, sizeof found, x, 1);
	names_join(want, sizeof want, x, 0);
	return al_err_set(x->err, AL_EFAIL, "%s:%" PRId64 ": the header is %s, the schema expects %s",
	                  x->input, x->start_line, found, want);
}

static int csv_check_record(struct vctx *x)
{
	const struct schema *sc = x->sc;

	if (x->nfields != sc->ncols) {
		fit(x->why, WHY_LEN, "%zu fields, expected %zu", x->nfields, sc->ncols);
		return -1;
	}
	for (size_t i = 0; i < sc->ncols; i++) {
		const char *s = x->rec + x->foff[i];
		if (x->flen[i] == 0 ? missing_check(&sc->cols[i], x->why) < 0
		                    : text_check(&sc->cols[i], s, x->flen[i], x->why) < 0)
			return -1;
	}
	return 0;
}

static void record_clear(struct vctx *x)
{
	x->nfields = 0;
	x->rec_len = 0;
	x->rec_too_long = 0;
	x->rec_open = 0;
	x->rec_bytes = 0;
}

static int csv_record_done(struct vctx *x)
{
	if (x->header_pending) {
		x->header_pending = 0;
		if (x->rec_too_long)
			return al_err_set(x->err, AL_EFAIL, "%s:%" PRId64 ": the header is longer "
			                  "than %d bytes", x->input, x->start_line, RECORD_MAX);
		return csv_header_check(x);
	}
	x->res->records++;
	if (x->rec_too_long) {
		fit(x->why, WHY_LEN, "record longer than %d bytes", RECORD_MAX);
		return reject_csv(x, x->start_line, x->why);
	}
	if (csv_check_record(x) < 0)
		return reject_csv(x, x->start_line, x->why);
	x->res->accepted++;
	return csv_put_record(x);
}

static int fields_grow(struct vctx *x)
{
	size_t ncap = x->fcap * 2;
	size_t *o = realloc(x->foff, ncap * sizeof *o), *l;

	if (o == NULL)
		return al_err_sys(x->err, "%s", x->input);
	x->foff = o;
	if ((l = realloc(x->flen, ncap * sizeof *l)) == NULL)
		return al_err_sys(x->err, "%s", x->input);
	x->flen = l;
	x->fcap = ncap;
	return 0;
}

/* libcsv's end-of-field callback: keeps a copy of the field. */
static void csv_on_field(void *s, size_t n, void *data)
{
	struct vctx *x = data;

	if (x->failed || x->rec_too_long)
		return;
	/* Each field takes at least its NUL: RECORD_MAX bounds their count. */
	if (n >= RECORD_MAX - x->rec_len) {
		x->rec_too_long = 1;
		return;
	}
	if (x->nfields == x->fcap && fields_grow(x) < 0) {
		x->failed = 1;
		return;
	}
	if (n > 0)
		memcpy(x->rec + x->rec_len, s, n);
	x->rec[x->rec_len + n] = '\0';
	x->foff[x->nfields] = x->rec_len;
	x->flen[x->nfields++] = n;
	x->rec_len += n + 1;
}

/* libcsv's end-of-record callback. */
static void csv_on_record(int c, void *data)
{
	struct vctx *x = data;

	(void)c;
	if (x->failed)
		return;
	if (csv_record_done(x) < 0)
		x->failed = 1;
	record_clear(x);
}

static int no_space(unsigned char c)
{
	(void)c;
	return 0;
}

static int csv_start(struct vctx *x)
{
	static const int opts = CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL | CSV_EMPTY_IS_NULL;

	if (csv_init(&x->csv, opts) != 0)
		return al_err_sys(x->err, "%s: csv_init", x->input);
	x->csv_live = 1;
	csv_set_delim(&x->csv, x->sc->delimiter);
	csv_set_quote(&x->csv, '"');
	/* No trimming: " 12" is not an int, and a value is what was sent. */
	csv_set_space_func(&x->csv, no_space);
	csv_set_blk_size(&x->csv, 4096);
	return 0;
}

/* After a record that cannot be parsed on: reject it, start a fresh
 * parser, and resume at the next line end, CR or LF (skipping when the
 * current piece did not reach one). Returns -1 on a write error. */
static int csv_resync(struct vctx *x, const char *reason, int at_eol)
{
	int ret;

	if (x->header_pending)
		return al_err_set(x->err, AL_EFAIL, "%s:%" PRId64 ": header: %s", x->input,
		                  x->start_line, reason);
	x->res->records++;
	ret = reject_csv(x, x->start_line, reason);
	record_clear(x);
	csv_free(&x->csv);
	x->csv_live = 0;
	x->skipping = !at_eol;
	return ret < 0 ? -1 : csv_start(x);
}

static int only_line_ends(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

/* Feeds one piece of input to libcsv: the bytes up to and including the
 * next line end (LF, CR or CRLF), or up to the end of the read. Records
 * end only at a line end, so at most one ends in a piece, at its end: a
 * record that is open when a piece begins is the one that piece adds to,
 * and one that begins in a piece begins at its start (CR-only files
 * included). That keeps rec_bytes exact and the line right. */
static int csv_piece(struct vctx *x, const char *s, size_t n, int at_eol)
{
	size_t fed;

	if (!x->rec_open && !only_line_ends(s, n)) {
		x->rec_open = 1;
		x->start_line = x->line;
	}
	fed = csv_parse(&x->csv, s, n, csv_on_field, csv_on_record, x);
	if (x->failed)
		return -1;
	if (fed < n) {
		if (csv_error(&x->csv) != CSV_EPARSE)
			return al_err_set(x->err, AL_EENV, "%s:%" PRId64 ": %s", x->input, x->line,
			                  csv_strerror(csv_error(&x->csv)));
		fit(x->why, WHY_LEN, "malformed CSV (a quote inside an unquoted field, or text "
		                     "after a closing quote)");
		return csv_resync(x, x->why, at_eol);
	}
	if (x->rec_open)
		x->rec_bytes += n;
	/* Whatever the count above says, the field libcsv holds is bounded
	 * too: a runaway quoted field must not buffer the rest of the file. */
	if ((x->rec_open && (x->rec_bytes > RECORD_MAX || x->rec_too_long)) ||
	    x->csv.entry_pos > RECORD_MAX) {
		fit(x->why, WHY_LEN, "record longer than %d bytes", RECORD_MAX);
		return csv_resync(x, x->why, at_eol);
	}
	return 0;
}

/* Where the first c at or after pos is in buf; n when there is none. */
static size_t find_byte(const char *buf, size_t pos, size_t n, int c)
{
	const char *p = memchr(buf + pos, c, n - pos);

	return p != NULL ? (size_t)(p - buf) : n;
}

/* Cuts a read into pieces for csv_piece. The next LF and the next CR are
 * searched for again only once pos has passed them: a block stays linear
 * when one kind of line end is rare or absent. */
static int csv_block(struct vctx *x, const char *buf, size_t n)
{
	size_t pos = 0, lf = find_byte(buf, 0, n, '\n'), cr = find_byte(buf, 0, n, '\r');

	while (pos < n) {
		size_t e, end;
		int lf_ends = 0;
		if (lf < pos)
			lf = find_byte(buf, pos, n, '\n');
		if (cr < pos)
			cr = find_byte(buf, pos, n, '\r');
		e = lf < cr ? lf : cr;
		if (e == n) {
			end = n;
		} else if (buf[e] == '\r' && e + 1 < n && buf[e + 1] == '\n') {
			end = e + 2; /* CRLF: one line end */
			lf_ends = 1;
		} else {
			end = e + 1;
			lf_ends = buf[e] == '\n';
		}
		if (!x->skipping && csv_piece(x, buf + pos, end - pos, e < n) < 0)
			return -1;
		if (e < n)
			x->skipping = 0;
		if (lf_ends)
			x->line++;
		pos = end;
	}
	return 0;
}

static int csv_end(struct vctx *x)
{
	if (x->skipping)
		return 0;
	if (csv_fini(&x->csv, csv_on_field, csv_on_record, x) != 0 && !x->failed) {
		fit(x->why, WHY_LEN, "unterminated quoted field");
		return csv_resync(x, x->why, 1);
	}
	return x->failed ? -1 : 0;
}

/* ---------------------------------------------------------------- */
/* JSONL.                                                             */

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

static int json_value_check(const struct column *c, json_t *v, char *why)
{
	const char *want = "a string";

	if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
		return missing_check(c, why);
	if (c->type == COL_INT) {
		char num[32];
		if (json_is_integer(v)) {
			snprintf(num, sizeof num, "%" PRId64, (int64_t)json_integer_value(v));
			return bounds_int(c, num, strlen(num), json_integer_value(v), why);
		}
		want = "an integer";
	} else if (c->type == COL_DECIMAL && json_is_number(v)) {
		char num[40];
		snprintf(num, sizeof num, "%.17g", json_number_value(v));
		return bounds_double(c, num, strlen(num), json_number_value(v), why);
	} else if (c->type == COL_DECIMAL) {
		want = "a number or a decimal string";
	}
	if (json_is_string(v) && c->type != COL_INT)
		return text_check(c, json_string_value(v), json_string_length(v), why);
	fit(why, WHY_LEN, "column %s: expected %s, found %s", c->name, want, json_kind(v));
	return -1;
}

static int json_record_check(struct vctx *x, json_t *obj)
{
	const struct schema *sc = x->sc;
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		fit(x->why, WHY_LEN, "not a JSON object (%s)", json_kind(obj));
		return -1;
	}
	json_object_foreach(obj, key, v) {
		size_t i = 0;
		while (i < sc->ncols && strcmp(sc->cols[i].name, key) != 0)
			i++;
		if (i == sc->ncols) {
			char shown[SHOW_LEN];
			show(shown, key, strlen(key));
			fit(x->why, WHY_LEN, "unknown key %s", shown);
			return -1;
		}
	}
	for (size_t i = 0; i < sc->ncols; i++)
		if (json_value_check(&sc->cols[i], json_object_get(obj, sc->cols[i].name), x->why) < 0)
			return -1;
	return 0;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* One line, its LF included when it has one. */
static int jsonl_line(struct vctx *x, const char *s, size_t n, int too_long)
{
	size_t len = n;
	json_error_t jerr;
	json_t *obj;
	int ok;

	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (!too_long && blank(s, len))
		return 0; /* a blank line is no record */
	x->res->records++;
	if (too_long) {
		fit(x->why, WHY_LEN, "record longer than %d bytes", RECORD_MAX);
		return reject_line(x, x->line, x->why, "", 0);
	}
	obj = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		/* jansson quotes the input ("near '...'"): escape it like a value. */
		char text[4 * JSON_ERROR_TEXT_LENGTH + 16];
		escape(text, jerr.text, strlen(jerr.text), JSON_ERROR_TEXT_LENGTH);
		fit(x->why, WHY_LEN, "invalid JSON: %s (column %d)", text, jerr.column);
		return reject_line(x, x->line, x->why, s, len);
	}
	ok = json_record_check(x, obj) == 0;
	json_decref(obj);
	if (!ok)
		return reject_line(x, x->line, x->why, s, len);
	x->res->accepted++;
	return bufw_put(&x->out, s, n, x->err); /* byte for byte, as read */
}

struct linebuf {
	char *buf;            /* RECORD_MAX bytes: a line that spans two reads */
	size_t len;
	int too_long;         /* the line went past RECORD_MAX: only its end is awaited */
};

/* Appends a piece of the current line; past RECORD_MAX only notes it. */
static void line_append(struct linebuf *lb, const char *s, size_t n)
{
	if (lb->too_long || n > RECORD_MAX - lb->len) {
		lb->too_long = 1;
		return;
	}
	memcpy(lb->buf + lb->len, s, n);
	lb->len += n;
}

static int jsonl_block(struct vctx *x, struct linebuf *lb, const char *buf, size_t n)
{
	size_t pos = 0;

	while (pos < n) {
		const char *nl = memchr(buf + pos, '\n', n - pos);
		size_t end = nl != NULL ? (size_t)(nl - buf) + 1 : n;
		int ret = 0;
		if (nl == NULL) {
			line_append(lb, buf + pos, end - pos);
		} else if (lb->len == 0 && !lb->too_long) {
			/* the usual case: the whole line is in buf, no copy */
			ret = end - pos > RECORD_MAX ? jsonl_line(x, "", 0, 1)
			                             : jsonl_line(x, buf + pos, end - pos, 0);
		} else {
			line_append(lb, buf + pos, end - pos);
			ret = jsonl_line(x, lb->buf, lb->len, lb->too_long);
			lb->len = 0;
			lb->too_long = 0;
		}
		if (ret < 0)
			return -1;
		if (nl != NULL)
			x->line++;
		pos = end;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Reading the input.                                                 */

static int input_open(const char *path, struct al_err *err)
{
	struct stat st;
	int fd = al_openat(AT_FDCWD, path, O_RDONLY | O_NOCTTY, 0);

	if (fd < 0)
		return al_err_sys(err, "%s", path);
	if (fstat(fd, &st) < 0) {
		al_err_sys(err, "%s", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		al_err_set(err, AL_EUSAGE, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return fd;
}

static ssize_t input_read(struct vctx *x, int fd, char *buf)
{
	for (;;) {
		ssize_t r = read(fd, buf, READ_BUF);
		if (r >= 0 || errno != EINTR) {
			if (r < 0)
				al_err_sys(x->err, "%s:%" PRId64 ": read", x->input, x->line);
			return r;
		}
	}
}

static int run_csv(struct vctx *x, int fd, char *buf)
{
	int first = 1;
	ssize_t r;

	x->rec = malloc(RECORD_MAX + 1);
	x->fcap = 64;
	x->foff = malloc(x->fcap * sizeof *x->foff);
	x->flen = malloc(x->fcap * sizeof *x->flen);
	if (x->rec == NULL || x->foff == NULL || x->flen == NULL)
		return al_err_sys(x->err, "%s", x->input);
	if (csv_start(x) < 0)
		return -1;
	x->header_pending = x->sc->header;
	while ((r = input_read(x, fd, buf)) > 0) {
		size_t skip = 0;
		/* A UTF-8 byte order mark (spreadsheets write one) is no data. */
		if (first && r >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
			skip = 3;
		first = 0;
		if (csv_block(x, buf + skip, (size_t)r - skip) < 0)
			return -1;
	}
	if (r < 0 || csv_end(x) < 0)
		return -1;
	/* Header only, no data: the output still gets the header. Empty
	 * input: empty output. */
	return 0;
}

static int run_jsonl(struct vctx *x, int fd, char *buf)
{
	struct linebuf lb = {0};
	ssize_t r;
	int ret = -1;

	lb.buf = malloc(RECORD_MAX);
	if (lb.buf == NULL)
		return al_err_sys(x->err, "%s", x->input);
	while ((r = input_read(x, fd, buf)) > 0)
		if (jsonl_block(x, &lb, buf, (size_t)r) < 0)
			goto out;
	if (r < 0)
		goto out;
	/* The last line, when it has no LF. */
	ret = lb.len > 0 || lb.too_long ? jsonl_line(x, lb.buf, lb.len, lb.too_long) : 0;
out:
	free(lb.buf);
	return ret;
}

/* ---------------------------------------------------------------- */
/* max_reject.                                                        */

static int limit_exceeded(const struct limit *lim, int64_t rejected, int64_t records)
{
	unsigned __int128 lhs, rhs;

	if (!lim->percent)
		return (uint64_t)rejected > lim->value;
	/* rejected / records * 100 > value / 10^6, in integers: no float
	 * rounding may put 1 reject in 200 on the wrong side of "0.5%". Both
	 * sides stay below 2^63 * 10^8 < 2^90: no overflow in 128 bits. */
	lhs = (unsigned __int128)(uint64_t)rejected * 100 * 1000000;
	rhs = (unsigned __int128)lim->value * (uint64_t)records;
	return lhs > rhs;
}

/* ---------------------------------------------------------------- */
/* The files.                                                         */

/* The quarantine's directory and a fresh temporary name in it. */
static int quar_open(const char *path, int *dirfd, char *tmp, size_t tmplen, struct al_err *err)
{
	static unsigned long counter;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = slash != NULL ? slash + 1 : path;
	int fd = -1;

	if (slash == NULL)
		al_snprintf(dir, sizeof dir, ".");
	else if (al_snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path),
	                     path) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", path);
	if (*base == '\0' || strlen(base) > NAME_MAX - 40)
		return al_err_set(err, AL_EUSAGE, "%s: not a file name", path);
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return al_err_sys(err, "%s", dir);
	/* O_EXCL on a fresh name: a planted file or symlink at the temporary
	 * name makes the open fail instead of being written through. */
	for (int tries = 0; fd < 0; tries++) {
		al_snprintf(tmp, tmplen, ".%s.%ld.%lu.tmp", base, (long)getpid(), counter++);
		fd = al_openat(*dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 && (errno != EEXIST || tries == 100)) {
			al_err_sys(err, "%s: cannot create temporary file", path);
			close(*dirfd);
			*dirfd = -1;
			return -1;
		}
	}
	return fd;
}

/* Flush, fsync, rename into place, fsync of the directory. */
static int quar_commit(struct vctx *x, const char *path, int dirfd, const char *tmp)
{
	const char *slash = strrchr(path, '/');

	if (bufw_flush(&x->quar, x->err) < 0)
		return -1;
	if (al_sys_fsync(x->quar.fd) < 0)
		return al_err_sys(x->err, "%s: fsync", path);
	if (al_sys_renameat(dirfd, tmp, dirfd, slash != NULL ? slash + 1 : path) < 0)
		return al_err_sys(x->err, "%s: rename", path);
	return al_fsync_dir(dirfd, path, x->err);
}

static int output_commit(struct vctx *x, const char *path)
{
	if (bufw_flush(&x->out, x->err) < 0)
		return -1;
	if (al_sys_fsync(x->out.fd) < 0)
		return al_err_sys(x->err, "%s: fsync", path);
	return 0;
}

static void results(struct al_validate_res *res, const struct limit *lim)
{
	res->reject_ratio = res->records > 0 ? (double)res->rejected / (double)res->records : 0;
	res->over_limit = limit_exceeded(lim, res->rejected, res->records);
}

static int validate_files(struct vctx *x, const struct al_validate_opts *o, int in_fd,
                          struct al_sha256 *qhash)
{
	char tmp[NAME_MAX + 1], *buf = NULL;
	int out_fd, q_fd = -1, dirfd = -1, ret = -1;

	out_fd = al_openat(AT_FDCWD, o->output, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out_fd < 0)
		return al_err_sys(x->err, "%s", o->output);
	q_fd = quar_open(o->quarantine, &dirfd, tmp, sizeof tmp, x->err);
	if (q_fd < 0)
		goto out;
	if (bufw_open(&x->out, out_fd, o->output, NULL, x->err) < 0 ||
	    bufw_open(&x->quar, q_fd, o->quarantine, qhash, x->err) < 0)
		goto out;
	if ((buf = malloc(READ_BUF)) == NULL) {
		al_err_sys(x->err, "%s", o->input);
		goto out;
	}
	if ((x->sc->jsonl ? run_jsonl(x, in_fd, buf) : run_csv(x, in_fd, buf)) < 0 ||
	    output_commit(x, o->output) < 0 || quar_commit(x, o->quarantine, dirfd, tmp) < 0)
		goto out;
	ret = 0;
out:
	free(buf);
	free(x->out.buf);
	free(x->quar.buf);
	if (close(out_fd) < 0 && ret == 0)
		ret = al_err_sys(x->err, "%s: close", o->output);
	if (q_fd >= 0) {
		close(q_fd);
		if (ret < 0)
			unlinkat(dirfd, tmp, 0);
	}
	/* A failed validation leaves no half-written output behind. */
	if (ret < 0)
		unlink(o->output);
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}

int al_validate(const struct al_validate_opts *o, struct al_validate_res *res,
                struct al_err *err)
{
	const char *max_reject = o->max_reject != NULL ? o->max_reject : "0";
	struct al_sha256 qhash;
	struct schema sc;
	struct limit lim;
	struct vctx x;
	int in_fd, ret = -1;

	memset(res, 0, sizeof *res);
	if (al_max_reject_parse(max_reject, &lim.percent, &lim.value, err) < 0)
		return -1;
	fit(res->limit, sizeof res->limit, "%s", max_reject);
	if (schema_load(o->schema, &sc, err) < 0)
		return -1;
	memset(&x, 0, sizeof x);
	x.sc = &sc;
	x.input = o->input;
	x.res = res;
	x.err = err;
	x.line = 1;
	x.start_line = 1;
	if ((in_fd = input_open(o->input, err)) < 0)
		goto out_schema;
	if (al_sha256_init(&qhash) < 0) {
		al_err_set(err, AL_EENV, "%s: cannot start SHA-256", o->quarantine);
		goto out_input;
	}
	ret = validate_files(&x, o, in_fd, &qhash);
	al_sha256_final(&qhash, res->quarantine_sha256);
	res->quarantine_size = x.quar.size;
	results(res, &lim);
out_input:
	close(in_fd);
	if (x.csv_live)
		csv_free(&x.csv);
	free(x.rec);
	free(x.foff);
	free(x.flen);
out_schema:
	schema_free(&sc);
	return ret;
}
