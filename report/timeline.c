/* timeline.c - the report's timeline of a run (inline SVG: each
 * attempt a bar, retries' waits and skips marked, an axis of nice
 * ticks) and its table of steps and attempts. Every loop is bounded by
 * what is drawn, never by what was appended. */
#include "report/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/* ------------------------------------------------------------------ */
/* The timeline (inline SVG).                                          */

#define TL_WIDTH 1200
#define TL_LABEL 212 /* right edge of the step names */
#define TL_X0 222    /* the plot's left edge */
#define TL_X1 1178   /* and its right edge */
#define TL_AXIS 30   /* height of the axis labels above the rows */
#define TL_NAME 28   /* longest step name drawn whole (bytes) */

struct tl {
	const struct report *r;
	int row_h, bar_h;
};

/* The timeline's span in µs, t1 - t0 (t1 >= t0: model_build), computed
 * unsigned so that even bounds it did not make could not overflow. */
static uint64_t tl_span(const struct report *r)
{
	return (uint64_t)r->t1 - (uint64_t)r->t0;
}

static double tl_x(const struct tl *t, int64_t us)
{
	const struct report *r = t->r;
	double span = r->t1 > r->t0 ? (double)tl_span(r) : 1.0;

	if (us < r->t0)
		us = r->t0;
	if (us > r->t1)
		us = r->t1;
	return TL_X0 + ((double)us - (double)r->t0) * (TL_X1 - TL_X0) / span;
}

/* At most this many ticks, whatever the span: the loop that draws them
 * cannot run away (tl_tick gives 9 at most). */
#define TL_TICKS_MAX 64

/* A tick spacing that gives 3 to 9 ticks: 1-2-5 steps under a minute,
 * then steps a clock face has. */
static uint64_t tl_tick(uint64_t span)
{
	static const uint64_t nice[] = {
		1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000,
		100000, 200000, 500000, 1000000, 2000000, 5000000, 10000000, 15000000, 30000000,
		60000000, 120000000, 300000000, 600000000, 900000000, 1800000000, 3600000000,
		7200000000, 10800000000, 21600000000, 43200000000, 86400000000,
	};
	uint64_t want = span / 8 > 0 ? span / 8 : 1;

	for (size_t i = 0; i < sizeof nice / sizeof nice[0]; i++)
		if (nice[i] >= want)
			return nice[i];
	return (want / 86400000000 + 1) * 86400000000;
}

static void tl_axis(struct buf *b, const struct tl *t, int height)
{
	uint64_t span = tl_span(t->r), tick = tl_tick(span);

	/* at passes span by k = 9 at the latest (tick >= span / 8 and tick
	 * >= 1); TL_TICKS_MAX bounds k whatever tl_tick returns, and the
	 * arithmetic is unsigned: no overflow, no endless loop */
	for (uint64_t k = 0, at = 0; k <= TL_TICKS_MAX && at <= span && !b->failed;
	     k++, at = k * tick) {
		double x = tl_x(t, (int64_t)((uint64_t)t->r->t0 + at));
		rp_buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x,
		           TL_AXIS - 6, x, height);
		rp_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"%s\">", x,
		           TL_AXIS - 10, at == 0 ? "start" : "middle");
		if (at != 0)
			rp_buf_puts(b, "+");
		rp_put_dur(b, (int64_t)at);
		rp_buf_puts(b, "</text>");
	}
}

/* The step's name, cut to TL_NAME bytes on a character boundary; the
 * whole name is in the tooltip. */
static void tl_name(struct buf *b, const char *id, double y)
{
	size_t n = strlen(id), cut = n;
	char *s;

	rp_buf_printf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\"><title>", TL_LABEL,
	           y);
	rp_buf_esc(b, id);
	rp_buf_puts(b, "</title>");
	if (n > TL_NAME) {
		cut = TL_NAME - 1;
		while (cut > 0 && ((unsigned char)id[cut] & 0xC0) == 0x80)
			cut--;
	}
	if ((s = strndup(id, cut)) == NULL) {
		b->failed = 1;
		return;
	}
	rp_buf_esc(b, s);
	free(s);
	rp_buf_puts(b, cut < n ? "…</text>" : "</text>");
}

/* The tooltip of an attempt's bar. */
static void tl_bar_title(struct buf *b, const struct step *s, const struct attempt *a)
{
	const json_t *end = a->end != NULL ? a->end->v : NULL;

	rp_buf_puts(b, "<title>");
	rp_buf_esc(b, s->id);
	rp_buf_printf(b, " attempt %ld: ", a->n);
	rp_buf_esc(b, end != NULL && rp_jstr(end, "status") != NULL ? rp_jstr(end, "status") : "no step.end");
	if (json_is_integer(json_object_get(end, "exit")))
		rp_buf_printf(b, ", exit %lld", rp_jint(end, "exit", 0));
	if (json_is_integer(json_object_get(end, "duration_ms"))) {
		rp_buf_puts(b, ", ");
		rp_put_dur_ms(b, rp_jint(end, "duration_ms", 0));
	}
	rp_buf_puts(b, " (");
	if (a->start != NULL || a->end != NULL)
		rp_put_seq_text(b, a->start != NULL ? a->start : a->end,
		             a->end != NULL ? a->end : a->start);
	rp_buf_puts(b, ")</title>");
}

/* An attempt's bar, from step.start to step.end; without a step.end, to
 * the end of the run's entries, grey. */
static void tl_bar(struct buf *b, const struct tl *t, const struct step *s, const struct attempt *a,
                   double y)
{
	int64_t from = a->start != NULL ? a->start->ts_us : 0;
	int64_t to = a->end != NULL ? a->end->ts_us : t->r->t1;
	double x0, x1;

	if (from == 0 && a->end != NULL) /* no step.start: back from its duration */
		from = to - rp_ms_to_us(rp_jint(a->end->v, "duration_ms", 0));
	if (from == 0 || to == 0)
		return;
	x0 = tl_x(t, from);
	x1 = tl_x(t, to);
	/* a 1 ms attempt of an hour's run is still seen */
	if (x1 - x0 < 2.0)
		x1 = x0 + 2.0;
	rp_buf_printf(b, "<rect class=\"b-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" rx=\"2\">",
	           a->end != NULL ? rp_status_class(rp_jstr(a->end->v, "status")) : "other", x0, y, x1 - x0,
	           t->bar_h);
	tl_bar_title(b, s, a);
	rp_buf_puts(b, "</rect>");
}

/* The wait after a failed attempt: a dashed line to the next start (or
 * as long as delay_ms said, when no attempt followed). */
static void tl_wait(struct buf *b, const struct tl *t, const struct step *s, size_t i, double y)
{
	const struct attempt *a = &s->att[i];
	const struct entry *next = i + 1 < s->natt ? s->att[i + 1].start : NULL;
	int64_t from = a->end != NULL ? a->end->ts_us : a->retry->ts_us;
	int64_t to = next != NULL ? next->ts_us : rp_entry_reach(a->retry);

	if (from == 0 || to == 0)
		return;
	rp_buf_printf(b, "<line class=\"wait\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"><title>",
	           tl_x(t, from), y, tl_x(t, to) > tl_x(t, from) + 1 ? tl_x(t, to) : tl_x(t, from) + 1,
	           y);
	rp_buf_esc(b, s->id);
	rp_buf_printf(b, ": retry after attempt %ld, waiting %lld ms (", a->n,
	           rp_jint(a->retry->v, "delay_ms", -1));
	rp_buf_esc(b, rp_jstr(a->retry->v, "reason") != NULL ? rp_jstr(a->retry->v, "reason") : "no reason");
	rp_buf_printf(b, "), seq %llu</title></line>", (unsigned long long)a->retry->seq);
}

static void tl_skip(struct buf *b, const struct tl *t, const struct step *s, double ymid)
{
	double x = tl_x(t, s->skipped->ts_us != 0 ? s->skipped->ts_us : t->r->t0);
	double h = t->bar_h / 2.0;
	const char *reason = rp_jstr(s->skipped->v, "reason");

	rp_buf_printf(b, "<path class=\"skip\" d=\"M%.1f %.1fl%.1f %.1fl%.1f %.1fl%.1f %.1fz\"><title>",
	           x, ymid - h, h, h, -h, h, -h, -h);
	rp_buf_esc(b, s->id);
	rp_buf_puts(b, " skipped: ");
	rp_buf_esc(b, reason != NULL ? reason : "no reason");
	rp_buf_printf(b, " (seq %llu)</title></path>", (unsigned long long)s->skipped->seq);
	/* the reason, written beside the mark where there is room */
	rp_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" fill=\"#666\" text-anchor=\"%s\">"
	              "skipped: ",
	           x < TL_X1 - 160 ? x + h + 4 : x - h - 4, ymid + 4, t->row_h > 14 ? 11 : 9,
	           x < TL_X1 - 160 ? "start" : "end");
	rp_buf_esc(b, reason != NULL ? reason : "?");
	rp_buf_puts(b, "</text>");
}

static void tl_row(struct buf *b, const struct tl *t, const struct step *s, size_t row)
{
	double top = TL_AXIS + (double)row * t->row_h;
	double y = top + (t->row_h - t->bar_h) / 2.0, ymid = top + t->row_h / 2.0;

	if (row % 2 == 1)
		rp_buf_printf(b, "<rect class=\"band\" x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%d\"/>", top,
		           TL_WIDTH, t->row_h);
	tl_name(b, s->id, ymid + 4);
	for (size_t i = 0; i < s->natt; i++) {
		if (s->att[i].retry != NULL)
			tl_wait(b, t, s, i, ymid);
		tl_bar(b, t, s, &s->att[i], y);
	}
	if (s->skipped != NULL)
		tl_skip(b, t, s, ymid);
}

static void put_legend(struct buf *b)
{
	static const char *const names[] = {"ok", "failed", "timeout", "killed", "other", NULL};
	static const char *const colours[] = {"#2e7d32", "#c62828", "#e65100", "#6a1b9a", "#546e7a"};

	rp_buf_puts(b, "<p class=\"legend\">");
	for (size_t i = 0; names[i] != NULL; i++)
		rp_buf_printf(b, "<span><span class=\"sw\" style=\"background:%s\"></span>%s</span>",
		           colours[i], strcmp(names[i], "other") == 0 ? "unfinished or other" : names[i]);
	rp_buf_puts(b, "<span>◇ skipped</span><span>- - - retry wait</span></p>\n");
}

void rp_put_timeline(struct buf *b, const struct report *r)
{
	struct tl t = {r, 22, 14};
	int height;

	rp_buf_puts(b, "<h2>Timeline</h2>\n");
	if (r->nsteps == 0) {
		rp_buf_puts(b, "<p class=\"none\">No step started or was skipped in this run.</p>\n");
		return;
	}
	/* rows shrink as steps multiply, so 200 steps stay on a few screens */
	if (r->nsteps > 100)
		t.row_h = 12, t.bar_h = 8;
	else if (r->nsteps > 40)
		t.row_h = 16, t.bar_h = 10;
	height = TL_AXIS + (int)r->nsteps * t.row_h + 8;
	put_legend(b);
	rp_buf_printf(b, "<svg class=\"tl\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
	              "aria-label=\"timeline of the run's steps\">",
	           TL_WIDTH, height, TL_WIDTH, height);
	tl_axis(b, &t, height);
	for (size_t i = 0; i < r->nsteps; i++)
		tl_row(b, &t, &r->steps[i], i);
	rp_buf_puts(b, "</svg>\n<p class=\"rel\">Time since the run's first entry; each bar spans an "
	            "attempt's step.start to its step.end.</p>\n");
}

/* ------------------------------------------------------------------ */
/* Steps and attempts.                                                 */

static const char *const start_cols[] = {"attempt", NULL};
static const char *const end_cols[] = {"attempt", "exit", "signal", "status", "duration_ms",
                                       "stdout", "stderr", NULL};
static const char *const retry_cols[] = {"attempt", "delay_ms", "reason", NULL};
static const char *const skip_cols[] = {"reason", NULL};

/* stdout or stderr of step.end: size, hash, truncation. */
static void put_stream(struct buf *b, const json_t *end, const char *k)
{
	const json_t *o = json_object_get(end, k);
	static const char *const shown[] = {"size", "sha256", "truncated", "written", NULL};
	long long size = rp_jint(o, "size", -1), written = rp_jint(o, "written", size);

	if (!json_is_object(o)) {
		rp_buf_puts(b, "<td>—</td>");
		return;
	}
	rp_buf_printf(b, "<td>%lld B", size);
	if (json_is_true(json_object_get(o, "truncated")))
		rp_buf_puts(b, " (truncated)");
	if (written != size)
		rp_buf_printf(b, " of %lld B written", written);
	/* the hash of nothing is no evidence worth the room */
	if (rp_jstr(o, "sha256") != NULL && size != 0) {
		rp_buf_puts(b, "<br><code class=\"h\">");
		rp_buf_esc(b, rp_jstr(o, "sha256"));
		rp_buf_puts(b, "</code>");
	}
	rp_put_fields(b, o, shown);
	rp_buf_puts(b, "</td>");
}

static void put_int_cell(struct buf *b, const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_integer(v))
		rp_buf_printf(b, "<td>%lld</td>", (long long)json_integer_value(v));
	else if (v == NULL || json_is_null(v))
		rp_buf_puts(b, "<td>—</td>");
	else {
		rp_buf_puts(b, "<td>");
		rp_put_value(b, v, 1);
		rp_buf_puts(b, "</td>");
	}
}

static void put_step_cell(struct buf *b, const struct step *s, size_t rows)
{
	rp_buf_printf(b, "<td rowspan=\"%zu\"><code>", rows);
	rp_buf_esc(b, s->id);
	rp_buf_puts(b, "</code></td>");
}

static void put_retry_note(struct buf *b, const struct attempt *a)
{
	const json_t *rv = a->retry->v;

	rp_buf_printf(b, "<div>retried as attempt %lld after %lld ms: ", rp_jint(rv, "attempt", a->n + 1),
	           rp_jint(rv, "delay_ms", -1));
	rp_buf_esc(b, rp_jstr(rv, "reason") != NULL ? rp_jstr(rv, "reason") : "no reason given");
	rp_buf_puts(b, " ");
	rp_put_seq(b, a->retry, NULL);
	rp_put_fields(b, rv, retry_cols);
	rp_buf_puts(b, "</div>");
}

static void put_notes(struct buf *b, const struct attempt *a)
{
	rp_buf_puts(b, "<td>");
	if (a->end != NULL)
		rp_put_fields(b, a->end->v, end_cols);
	if (a->retry != NULL)
		put_retry_note(b, a);
	if (a->start != NULL) {
		rp_buf_puts(b, "<details><summary>step.start</summary>");
		rp_put_fields(b, a->start->v, start_cols);
		rp_buf_puts(b, "</details>");
	}
	rp_buf_puts(b, "</td>");
}

static void put_attempt_row(struct buf *b, const struct report *r, const struct step *s,
                            const struct attempt *a, size_t rows)
{
	const json_t *end = a->end != NULL ? a->end->v : NULL;

	rp_buf_puts(b, "<tr>");
	if (rows != 0)
		put_step_cell(b, s, rows);
	rp_buf_printf(b, "<td>%ld</td><td>", a->n);
	rp_put_ts(b, r, a->start);
	rp_buf_puts(b, "</td><td>");
	if (json_is_integer(json_object_get(end, "duration_ms")))
		rp_put_dur_ms(b, rp_jint(end, "duration_ms", 0));
	else
		rp_buf_puts(b, "—");
	rp_buf_puts(b, "</td>");
	put_int_cell(b, end, "exit");
	put_int_cell(b, end, "signal");
	rp_buf_puts(b, "<td>");
	if (end != NULL)
		rp_put_status(b, rp_jstr(end, "status"));
	else
		rp_buf_puts(b, "<span class=\"st st-other\">no step.end</span>");
	rp_buf_puts(b, "</td>");
	put_stream(b, end, "stdout");
	put_stream(b, end, "stderr");
	put_notes(b, a);
	rp_buf_puts(b, "<td>");
	rp_put_seq(b, a->start, a->end);
	rp_buf_puts(b, "</td></tr>\n");
}

static void put_skip_row(struct buf *b, const struct report *r, const struct step *s, size_t rows)
{
	const json_t *v = s->skipped->v;

	rp_buf_puts(b, "<tr>");
	if (rows != 0)
		put_step_cell(b, s, rows);
	rp_buf_puts(b, "<td>—</td><td>");
	rp_put_ts(b, r, s->skipped);
	rp_buf_puts(b, "</td><td>—</td><td>—</td><td>—</td><td>");
	rp_put_status(b, "skipped");
	rp_buf_puts(b, "</td><td>—</td><td>—</td><td><span class=\"k\">reason</span> ");
	rp_buf_esc(b, rp_jstr(v, "reason") != NULL ? rp_jstr(v, "reason") : "—");
	rp_put_fields(b, v, skip_cols);
	rp_buf_puts(b, "</td><td>");
	rp_put_seq(b, s->skipped, NULL);
	rp_buf_puts(b, "</td></tr>\n");
}

void rp_put_steps(struct buf *b, const struct report *r)
{
	rp_buf_puts(b, "<h2>Steps and attempts</h2>\n");
	if (r->nsteps == 0) {
		rp_buf_puts(b, "<p class=\"none\">None.</p>\n");
		return;
	}
	rp_buf_puts(b, "<table class=\"steps\">\n<tr><th>Step</th><th>Attempt</th><th>Started</th>"
	            "<th>Duration</th><th>Exit</th><th>Signal</th><th>Status</th><th>stdout</th>"
	            "<th>stderr</th><th>Notes</th><th>Evidence</th></tr>\n");
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct step *s = &r->steps[i];
		size_t rows = s->natt + (s->skipped != NULL);
		for (size_t j = 0; j < s->natt; j++)
			put_attempt_row(b, r, s, &s->att[j], j == 0 ? rows : 0);
		if (s->skipped != NULL)
			put_skip_row(b, r, s, s->natt == 0 ? rows : 0);
	}
	rp_buf_puts(b, "</table>\n");
}

