/* schema.c - the validate built-in's schema (airlock.schema/1,
 * manifests/FORMAT.md "Schema files"): parsed strictly, and the checks
 * of one value against its column (types, bounds, lengths, enums,
 * regular expressions); and how untrusted bytes are shown in a reason:
 * escaped and cut short, since a reason reaches the audit log. */
#include "steps/validate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const type_names[] = {"string", "int",  "decimal", "date",
                                         "timestamp", "enum", "regex",   NULL};

/* ---------------------------------------------------------------- */
/* UTF-8 and display.                                                 */

/* Length (1-4) of the valid UTF-8 sequence at s, or 0 when it is not
 * one (overlong forms, surrogates and code points past U+10FFFF are
 * refused, as RFC 3629 says). */
size_t val_utf8_seq(const unsigned char *s, size_t n)
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
		size_t k = p[i] < 0x80 ? 1 : val_utf8_seq(p + i, n - i);
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
size_t val_escape(char *out, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	while (i < n && i < max) {
		size_t k = val_utf8_seq(p + i, n - i);
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
void val_show(char *out, const char *s, size_t n)
{
	size_t o = 1;

	out[0] = '"';
	o += val_escape(out + 1, s, n, SHOW_MAX);
	out[o++] = '"';
	out[o] = '\0';
}

/* snprintf into a fixed field of res, cut at a character boundary. */
void val_fit(char *out, size_t outlen, const char *fmt, ...) AL_PRINTF(3, 4);

void val_fit(char *out, size_t outlen, const char *fmt, ...)
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
		    val_utf8_seq((const unsigned char *)out + i - 1, end - i + 1) != end - i + 1)
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

void val_schema_free(struct schema *sc)
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

int val_schema_load(const char *path, struct schema *sc, struct al_err *err)
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
	val_schema_free(sc);
	return -1;
}

int al_schema_check(const char *path, struct al_err *err)
{
	struct schema sc;

	if (val_schema_load(path, &sc, err) < 0)
		return -1;
	val_schema_free(&sc);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Checking one value.                                                */

/* A reject reason about column c and value s: always returns -1. */
static int why_value(char *why, const struct column *c, const char *s, size_t n,
                     const char *what)
{
	char shown[SHOW_LEN];

	val_show(shown, s, n);
	val_fit(why, WHY_LEN, "column %s: %s %s", c->name, shown, what);
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

int val_bounds_double(const struct column *c, const char *s, size_t n, double v, char *why)
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

int val_bounds_int(const struct column *c, const char *s, size_t n, int64_t v, char *why)
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
int val_text_check(const struct column *c, const char *s, size_t n, char *why)
{
	struct al_err scratch;
	int64_t i;

	switch (c->type) {
	case COL_STRING:
		return length_check(c, s, n, why);
	case COL_INT:
		if (parse_int(s, n, &i) < 0)
			return why_value(why, c, s, n, "is not an int");
		return val_bounds_int(c, s, n, i, why);
	case COL_DECIMAL:
		if (decimal_syntax(s, n) < 0)
			return why_value(why, c, s, n, "is not a decimal");
		return c->has_min || c->has_max ? val_bounds_double(c, s, n, strtod(s, NULL), why) : 0;
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

int val_missing_check(const struct column *c, char *why)
{
	if (!c->required)
		return 0;
	val_fit(why, WHY_LEN, "column %s: missing (required)", c->name);
	return -1;
}
