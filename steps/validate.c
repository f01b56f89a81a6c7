/* validate.c - the validate built-in (DESIGN.md §8): streams a CSV or
 * JSONL input through an airlock.schema/1 file (manifests/FORMAT.md,
 * "Schema files"), writes the records that pass to the output and the
 * others, with their line and the reason, to the quarantine.
 *
 * Memory is bounded whatever the input: it is read in READ_BUF blocks,
 * one record is held at a time, and a record longer than RECORD_MAX is
 * rejected and skipped rather than buffered. Untrusted bytes that reach a
 * reason (and so the audit log) are shown escaped and cut short. */
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
		return val_missing_check(c, why);
	if (c->type == COL_INT) {
		char num[32];
		if (json_is_integer(v)) {
			snprintf(num, sizeof num, "%" PRId64, (int64_t)json_integer_value(v));
			return val_bounds_int(c, num, strlen(num), json_integer_value(v), why);
		}
		want = "an integer";
	} else if (c->type == COL_DECIMAL && json_is_number(v)) {
		char num[40];
		snprintf(num, sizeof num, "%.17g", json_number_value(v));
		return val_bounds_double(c, num, strlen(num), json_number_value(v), why);
	} else if (c->type == COL_DECIMAL) {
		want = "a number or a decimal string";
	}
	if (json_is_string(v) && c->type != COL_INT)
		return val_text_check(c, json_string_value(v), json_string_length(v), why);
	val_fit(why, WHY_LEN, "column %s: expected %s, found %s", c->name, want, json_kind(v));
	return -1;
}

static int json_record_check(struct vctx *x, json_t *obj)
{
	const struct schema *sc = x->sc;
	const char *key;
	json_t *v;

	if (!json_is_object(obj)) {
		val_fit(x->why, WHY_LEN, "not a JSON object (%s)", json_kind(obj));
		return -1;
	}
	json_object_foreach(obj, key, v) {
		size_t i = 0;
		while (i < sc->ncols && strcmp(sc->cols[i].name, key) != 0)
			i++;
		if (i == sc->ncols) {
			char shown[SHOW_LEN];
			val_show(shown, key, strlen(key));
			val_fit(x->why, WHY_LEN, "unknown key %s", shown);
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
		val_fit(x->why, WHY_LEN, "record longer than %d bytes", RECORD_MAX);
		return val_reject_line(x, x->line, x->why, "", 0);
	}
	obj = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		/* jansson quotes the input ("near '...'"): escape it like a value. */
		char text[4 * JSON_ERROR_TEXT_LENGTH + 16];
		val_escape(text, jerr.text, strlen(jerr.text), JSON_ERROR_TEXT_LENGTH);
		val_fit(x->why, WHY_LEN, "invalid JSON: %s (column %d)", text, jerr.column);
		return val_reject_line(x, x->line, x->why, s, len);
	}
	ok = json_record_check(x, obj) == 0;
	json_decref(obj);
	if (!ok)
		return val_reject_line(x, x->line, x->why, s, len);
	x->res->accepted++;
	return val_bufw_put(&x->out, s, n, x->err); /* byte for byte, as read */
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
	if (val_csv_start(x) < 0)
		return -1;
	x->header_pending = x->sc->header;
	while ((r = input_read(x, fd, buf)) > 0) {
		size_t skip = 0;
		/* A UTF-8 byte order mark (spreadsheets write one) is no data. */
		if (first && r >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
			skip = 3;
		first = 0;
		if (val_csv_block(x, buf + skip, (size_t)r - skip) < 0)
			return -1;
	}
	if (r < 0 || val_csv_end(x) < 0)
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

	if (val_bufw_flush(&x->quar, x->err) < 0)
		return -1;
	if (al_sys_fsync(x->quar.fd) < 0)
		return al_err_sys(x->err, "%s: fsync", path);
	if (al_sys_renameat(dirfd, tmp, dirfd, slash != NULL ? slash + 1 : path) < 0)
		return al_err_sys(x->err, "%s: rename", path);
	return al_fsync_dir(dirfd, path, x->err);
}

static int output_commit(struct vctx *x, const char *path)
{
	if (val_bufw_flush(&x->out, x->err) < 0)
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
	if (val_bufw_open(&x->out, out_fd, o->output, NULL, x->err) < 0 ||
	    val_bufw_open(&x->quar, q_fd, o->quarantine, qhash, x->err) < 0)
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
	val_fit(res->limit, sizeof res->limit, "%s", max_reject);
	if (val_schema_load(o->schema, &sc, err) < 0)
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
	val_schema_free(&sc);
	return ret;
}
