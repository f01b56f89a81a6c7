/* report.c - the HTML report of a run (DESIGN.md §8): one
 * self-contained page built from the audit log's entries of the run
 * alone, each fact naming its seq: the page's sections put together
 * over the run's model (model.c), with the pieces html.c and
 * timeline.c draw. */
#include "report/internal.h"
#include "report/report.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/* ------------------------------------------------------------------ */
/* Sections of other events, and the rest.                             */

struct section {
	const char *title;
	const char *const *events; /* the events it lists */
	const char *const *cols;   /* members shown as columns; the rest go to "More" */
};

static const char *const ev_alert[] = {"alert", NULL};
static const char *const col_alert[] = {"kind", "message", NULL};
static const char *const ev_breaker[] = {"breaker.open", "breaker.half_open", "breaker.closed", NULL};
static const char *const col_breaker[] = {"resource", "failures", NULL};
static const char *const ev_secret[] = {"secret.checked", NULL};
static const char *const col_secret[] = {"name", "age_s", "ok", "reason", NULL};
static const char *const ev_await[] = {"await.ready", NULL};
static const char *const col_await[] = {"files", "waited_ms", "polls", NULL};
static const char *const ev_validate[] = {"validate.result", NULL};
static const char *const col_validate[] = {"records", "accepted", "rejected", "reject_ratio",
                                           "limit", "quarantine", NULL};
static const char *const ev_notify[] = {"notify.sent", "notify.failed", NULL};
static const char *const ev_output[] = {"output.staged", "output.committed", "output.phantom",
                                        "output.discarded", NULL};
static const char *const col_output[] = {"attempt", "files", "dest", NULL};
static const char *const no_cols[] = {NULL};

static const struct section sections[] = {
	{"Alerts", ev_alert, col_alert},
	{"Circuit breakers", ev_breaker, col_breaker},
	{"Secrets checked", ev_secret, col_secret},
	{"Awaited inputs", ev_await, col_await},
	{"Validation", ev_validate, col_validate},
	{"Notifications", ev_notify, no_cols},
	{"Outputs", ev_output, col_output},
};

static int in_section(const char *event)
{
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (rp_in_list(event, sections[i].events))
			return 1;
	return 0;
}

static void put_entry_row(struct buf *b, const struct report *r, const struct entry *e,
                          const char *const *cols)
{
	const char *step = rp_jstr(e->v, "step");

	rp_buf_puts(b, "<tr><td><code>");
	rp_buf_esc(b, e->event[0] != '\0' ? e->event : "(unreadable line)");
	rp_buf_puts(b, "</code></td><td>");
	rp_put_ts(b, r, e);
	rp_buf_puts(b, "</td><td>");
	rp_buf_esc(b, step != NULL ? step : "—");
	rp_buf_puts(b, "</td>");
	for (size_t k = 0; cols[k] != NULL; k++) {
		const json_t *v = json_object_get(e->v, cols[k]);
		rp_buf_puts(b, "<td>");
		if (v != NULL)
			rp_put_value(b, v, 1);
		else
			rp_buf_puts(b, "—");
		rp_buf_puts(b, "</td>");
	}
	rp_buf_puts(b, "<td>");
	rp_put_fields(b, e->v, cols);
	rp_buf_puts(b, "</td><td>");
	rp_put_seq(b, e, NULL);
	rp_buf_puts(b, "</td></tr>\n");
}

static void put_table_head(struct buf *b, const char *const *cols)
{
	rp_buf_puts(b, "<table>\n<tr><th>Event</th><th>Time</th><th>Step</th>");
	for (size_t k = 0; cols[k] != NULL; k++) {
		rp_buf_puts(b, "<th>");
		rp_buf_esc(b, cols[k]);
		rp_buf_puts(b, "</th>");
	}
	rp_buf_puts(b, "<th>More</th><th>Evidence</th></tr>\n");
}

static void put_section(struct buf *b, const struct report *r, const struct section *sec)
{
	size_t n = 0;

	rp_buf_printf(b, "<h2>%s</h2>\n", sec->title);
	for (size_t i = 0; i < r->all.n; i++) {
		const struct entry *e = &r->all.e[i];
		if (!rp_in_list(e->event, sec->events))
			continue;
		if (n++ == 0)
			put_table_head(b, sec->cols);
		put_entry_row(b, r, e, sec->cols);
	}
	rp_buf_puts(b, n != 0 ? "</table>\n" : "<p class=\"none\">None recorded.</p>\n");
}

/* Whatever no part above showed: events this report does not know, and
 * duplicates of facts it shows once. */
static void put_others(struct buf *b, const struct report *r)
{
	size_t n = 0;

	rp_buf_puts(b, "<h2>Other entries</h2>\n");
	for (size_t i = 0; i < r->all.n; i++) {
		const struct entry *e = &r->all.e[i];
		if (e->used || in_section(e->event))
			continue;
		if (n++ == 0)
			put_table_head(b, no_cols);
		put_entry_row(b, r, e, no_cols);
	}
	rp_buf_puts(b, n != 0 ? "</table>\n" : "<p class=\"none\">None.</p>\n");
}

/* The evidence: every entry of the run, verbatim, each the target of the
 * "seq" links above. */
static void put_evidence(struct buf *b, const struct report *r)
{
	rp_buf_printf(b, "<h2>Evidence</h2>\n<details open><summary>The run's %zu audit entries, "
	              "verbatim (check them against the log: each line's prev is the SHA-256 of "
	              "the line before it in the log)</summary>\n<div class=\"ev\">\n",
	           r->all.n);
	for (size_t i = 0; i < r->all.n; i++) {
		const struct entry *e = &r->all.e[i];
		if (e->seq != 0)
			rp_buf_printf(b, "<div id=\"seq-%llu\">", (unsigned long long)e->seq);
		else
			rp_buf_puts(b, "<div>");
		rp_buf_esc(b, e->line);
		rp_buf_puts(b, "</div>\n");
	}
	rp_buf_puts(b, "</div>\n</details>\n");
}

static char *render(const struct report *r, size_t *len, struct al_err *err)
{
	struct buf b = {NULL, 0, 0, 0};

	rp_put_head(&b, r);
	rp_put_header(&b, r);
	rp_put_timeline(&b, r);
	rp_put_steps(&b, r);
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		put_section(&b, r, &sections[i]);
	put_others(&b, r);
	put_evidence(&b, r);
	rp_buf_puts(&b, "</body>\n</html>\n");
	if (b.failed) {
		free(b.p);
		al_err_set(err, AL_EENV, "report of run %s: out of memory", r->run);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

char *al_report_html(const char *home, const char *run, size_t *len, size_t *entries,
                     struct al_err *err)
{
	struct report r;
	char *html = NULL;

	if (rp_model_load(home, run, &r, err) == 0 && (html = render(&r, len, err)) != NULL)
		*entries = r.all.n;
	rp_report_free(&r);
	return html;
}
