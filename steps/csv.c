/* csv.c - the validate built-in's CSV records: libcsv (strict) fed
 * block by block, one record held at a time, a record longer than
 * RECORD_MAX rejected and skipped to the next line end; the header
 * checked against the schema's columns; accepted records written back
 * quoted as needed. */
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
	if ((dst = val_bufw_room(&x->out, room, x->err)) == NULL)
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
		val_show(shown, s, len);
		val_fit(out + o, outlen - o, "%s%s", i > 0 ? "," : "", shown);
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
		val_fit(x->why, WHY_LEN, "%zu fields, expected %zu", x->nfields, sc->ncols);
		return -1;
	}
	for (size_t i = 0; i < sc->ncols; i++) {
		const char *s = x->rec + x->foff[i];
		if (x->flen[i] == 0 ? val_missing_check(&sc->cols[i], x->why) < 0
		                    : val_text_check(&sc->cols[i], s, x->flen[i], x->why) < 0)
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
		val_fit(x->why, WHY_LEN, "record longer than %d bytes", RECORD_MAX);
		return val_reject_csv(x, x->start_line, x->why);
	}
	if (csv_check_record(x) < 0)
		return val_reject_csv(x, x->start_line, x->why);
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

int val_csv_start(struct vctx *x)
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
	ret = val_reject_csv(x, x->start_line, reason);
	record_clear(x);
	csv_free(&x->csv);
	x->csv_live = 0;
	x->skipping = !at_eol;
	return ret < 0 ? -1 : val_csv_start(x);
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
		val_fit(x->why, WHY_LEN, "malformed CSV (a quote inside an unquoted field, or text "
		                     "after a closing quote)");
		return csv_resync(x, x->why, at_eol);
	}
	if (x->rec_open)
		x->rec_bytes += n;
	/* Whatever the count above says, the field libcsv holds is bounded
	 * too: a runaway quoted field must not buffer the rest of the file. */
	if ((x->rec_open && (x->rec_bytes > RECORD_MAX || x->rec_too_long)) ||
	    x->csv.entry_pos > RECORD_MAX) {
		val_fit(x->why, WHY_LEN, "record longer than %d bytes", RECORD_MAX);
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
int val_csv_block(struct vctx *x, const char *buf, size_t n)
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

int val_csv_end(struct vctx *x)
{
	if (x->skipping)
		return 0;
	if (csv_fini(&x->csv, csv_on_field, csv_on_record, x) != 0 && !x->failed) {
		val_fit(x->why, WHY_LEN, "unterminated quoted field");
		return csv_resync(x, x->why, 1);
	}
	return x->failed ? -1 : 0;
}
