/* records.c - where the validate built-in's records go: buffered
 * writers (through the system-call table, so that tests can fill the
 * disk) for the accepted records and the quarantine, and the rejects,
 * each a JSONL line {line, reason, record} with the record's bytes
 * shown escaped. */
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
/* Buffered output.                                                   */

int val_bufw_open(struct bufw *w, int fd, const char *display, struct al_sha256 *hash,
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

int val_bufw_flush(struct bufw *w, struct al_err *err)
{
	int ret = w->len > 0 ? bufw_write(w, w->buf, w->len, err) : 0;

	w->len = 0;
	return ret;
}

/* Room for n more bytes at w->buf + w->len; NULL (err set) on failure.
 * The buffer only grows for a single item larger than WRITE_BUF, which
 * RECORD_MAX bounds. */
char *val_bufw_room(struct bufw *w, size_t n, struct al_err *err)
{
	if (w->cap - w->len >= n)
		return w->buf + w->len;
	if (val_bufw_flush(w, err) < 0)
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

int val_bufw_put(struct bufw *w, const void *p, size_t n, struct al_err *err)
{
	char *dst;

	if (n >= WRITE_BUF / 2) /* large: straight through, no copy */
		return val_bufw_flush(w, err) < 0 ? -1 : bufw_write(w, p, n, err);
	if ((dst = val_bufw_room(w, n, err)) == NULL)
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

	if (val_bufw_put(w, "\"", 1, err) < 0)
		return -1;
	while (i < n) {
		char esc[8];
		size_t k = val_utf8_seq(p + i, n - i), elen;
		if (k > 1 || (k == 1 && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\')) {
			i += k;
			continue;
		}
		if (val_bufw_put(w, s + run, i - run, err) < 0)
			return -1;
		if (k == 0)
			elen = (size_t)snprintf(esc, sizeof esc, "\\ufffd");
		else if (p[i] == '"' || p[i] == '\\')
			elen = (size_t)snprintf(esc, sizeof esc, "\\%c", p[i]);
		else if (p[i] == '\n')
			elen = (size_t)snprintf(esc, sizeof esc, "\\n");
		else
			elen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", p[i]);
		if (val_bufw_put(w, esc, elen, err) < 0)
			return -1;
		run = ++i;
	}
	if (val_bufw_put(w, s + run, n - run, err) < 0)
		return -1;
	return val_bufw_put(w, "\"", 1, err);
}

/* ---------------------------------------------------------------- */
/* Rejects.                                                           */

static void reject_count(struct vctx *x, int64_t line, const char *reason)
{
	x->res->rejected++;
	if (x->res->first_reject[0] == '\0')
		val_fit(x->res->first_reject, sizeof x->res->first_reject, "line %" PRId64 ": %s", line,
		    reason);
}

/* {"line":N,"reason":"..." and the comma before "record". */
static int reject_head(struct vctx *x, int64_t line, const char *reason)
{
	char num[48];
	int n = snprintf(num, sizeof num, "{\"line\":%" PRId64 ",\"reason\":", line);

	reject_count(x, line, reason);
	if (val_bufw_put(&x->quar, num, (size_t)n, x->err) < 0 ||
	    bufw_json_str(&x->quar, reason, strlen(reason), x->err) < 0)
		return -1;
	return val_bufw_put(&x->quar, ",\"record\":", 10, x->err);
}

/* A CSV reject: the record is the array of the fields read so far. */
int val_reject_csv(struct vctx *x, int64_t line, const char *reason)
{
	if (reject_head(x, line, reason) < 0 || val_bufw_put(&x->quar, "[", 1, x->err) < 0)
		return -1;
	for (size_t i = 0; i < x->nfields && !x->rec_too_long; i++) {
		if ((i > 0 && val_bufw_put(&x->quar, ",", 1, x->err) < 0) ||
		    bufw_json_str(&x->quar, x->rec + x->foff[i], x->flen[i], x->err) < 0)
			return -1;
	}
	return val_bufw_put(&x->quar, "]}\n", 3, x->err);
}

/* A JSONL reject: the record is the line as read, without its end. */
int val_reject_line(struct vctx *x, int64_t line, const char *reason, const char *s,
                    size_t n)
{
	if (reject_head(x, line, reason) < 0 || bufw_json_str(&x->quar, s, n, x->err) < 0)
		return -1;
	return val_bufw_put(&x->quar, "}\n", 2, x->err);
}

