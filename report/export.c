/* export.c - an evidence export rendered for a human reader (issue 20;
 * SEC 17a-4(f): copies producible in a human-readable form): one
 * self-contained page made from the export's own bytes as the verifier
 * reads them, never from the home: the verdict and how to reach it
 * again, the runs, the events, the anchors sent off the host, and the
 * entries (the first and the last SHOW_EDGE of a long export; the rest
 * are a query away). Lines the verifier did not accept are not shown. */
#include "report/internal.h"
#include "report/report.h"

#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

#define SHOW_EDGE 2000    /* entries shown at each end */
#define FINDINGS_MAX 100  /* findings listed */
#define RUNS_MAX 10000    /* runs listed */

struct collect {
	json_t *runs;      /* run id -> {pipeline, version, date, start, end, status, unsigned} */
	json_t *events;    /* event -> count */
	json_t *anchors;   /* [anchor.sent entries] */
	json_t *head;      /* the first SHOW_EDGE lines */
	json_t *tail;      /* a ring of the last SHOW_EDGE lines */
	size_t tail_at;
	uint64_t n;
	json_t *findings;  /* [{level, where, msg}] */
};

static int collect_entry(void *ctx, const char *line, size_t len)
{
	struct collect *c = ctx;
	json_t *v = json_loadb(line, len, 0, NULL), *text;
	const char *event = json_string_value(json_object_get(v, "event"));
	const char *run = json_string_value(json_object_get(v, "run"));

	if (v == NULL)
		return 0;
	c->n++;
	json_object_set_new(c->events, event != NULL ? event : "?",
	                    json_integer(json_integer_value(json_object_get(c->events, event ? event : "?")) + 1));
	if (event != NULL && run != NULL && (strcmp(event, "run.start") == 0 || strcmp(event, "run.end") == 0)) {
		json_t *r = json_object_get(c->runs, run);
		if (r == NULL && json_object_size(c->runs) < RUNS_MAX) {
			r = json_object();
			json_object_set_new(c->runs, run, r);
		}
		if (r != NULL && strcmp(event, "run.start") == 0) {
			static const char *const keep[] = {"pipeline", "version", "date", "unsigned", "user"};
			json_object_set(r, "start", json_object_get(v, "ts"));
			json_object_set(r, "start_seq", json_object_get(v, "seq"));
			for (size_t k = 0; k < sizeof keep / sizeof *keep; k++)
				if (json_object_get(v, keep[k]) != NULL)
					json_object_set(r, keep[k], json_object_get(v, keep[k]));
		} else if (r != NULL) {
			json_object_set(r, "end", json_object_get(v, "ts"));
			json_object_set(r, "status", json_object_get(v, "status"));
		}
	}
	if (event != NULL && strcmp(event, "anchor.sent") == 0 && json_array_size(c->anchors) < RUNS_MAX)
		json_array_append(c->anchors, v);
	text = json_stringn(line, len);
	if (text == NULL)
		text = json_string("(not UTF-8)");
	if (json_array_size(c->head) < SHOW_EDGE) {
		json_array_append_new(c->head, text);
	} else if (json_array_size(c->tail) < SHOW_EDGE) {
		json_array_append_new(c->tail, text);
	} else {
		json_array_set_new(c->tail, c->tail_at, text);
		c->tail_at = (c->tail_at + 1) % SHOW_EDGE;
	}
	json_decref(v);
	return 0;
}

static void collect_finding(void *ctx, const struct al_finding *f)
{
	struct collect *c = ctx;
	static const char *const levels[] = {"info", "warning", "error"};
	char where[160] = "";

	if (json_array_size(c->findings) >= FINDINGS_MAX)
		return;
	/* the page is made before members.txt is added (it lists the page):
	 * that the export being rendered has none yet is no finding */
	if (f->msg != NULL && strncmp(f->msg, "no members.txt:", 15) == 0)
		return;
	if (f->segment != NULL && f->segment_line)
		al_snprintf(where, sizeof where, "%s:%llu", f->segment,
		            (unsigned long long)f->segment_line);
	json_array_append_new(c->findings,
	                      json_pack("{s:s,s:s,s:s,s:I}", "level",
	                                (unsigned)f->level < 3 ? levels[f->level] : "?", "where", where,
	                                "msg", f->msg != NULL ? f->msg : "", "seq",
	                                (json_int_t)f->seq));
}

static void put_cell(struct buf *b, const json_t *v)
{
	rp_buf_puts(b, "<td>");
	if (v == NULL || json_is_null(v))
		rp_buf_puts(b, "—");
	else if (json_is_string(v))
		rp_buf_esc(b, json_string_value(v));
	else
		rp_put_value(b, v, 1);
	rp_buf_puts(b, "</td>");
}

static void put_verdict(struct buf *b, const char *path, int r, const struct al_verify_summary *s,
                        const struct al_err *err, int keyed, const struct collect *c)
{
	size_t i;
	json_t *f;

	rp_buf_puts(b, "<h2>Verdict</h2>\n<table class=\"facts\">\n<tr><th>Export</th><td><code>");
	rp_buf_esc(b, path);
	rp_buf_puts(b, "</code></td></tr>\n<tr><th>Result</th><td>");
	if (r == 0)
		rp_buf_puts(b, "<span class=\"st st-ok\">intact</span> every line chained, every seal in "
		               "order, the checkpoint signed");
	else if (r == 1)
		rp_buf_puts(b, "<span class=\"st st-failed\">NOT INTACT</span> the findings below say where; "
		               "nothing on this page is evidence");
	else {
		rp_buf_puts(b, "<span class=\"st st-other\">could not verify</span> ");
		rp_buf_esc(b, err->msg);
	}
	rp_buf_printf(b, "</td></tr>\n<tr><th>Entries</th><td>%llu (seq %llu to %llu) in %llu "
	                 "segment%s</td></tr>\n",
	              (unsigned long long)s->entries, (unsigned long long)s->first_seq,
	              (unsigned long long)s->last_seq, (unsigned long long)s->segments,
	              s->segments == 1 ? "" : "s");
	rp_buf_printf(b, "<tr><th>Seals</th><td>%llu (epochs %lld to %lld); signatures %s</td></tr>\n",
	              (unsigned long long)s->seals, (long long)s->first_epoch, (long long)s->last_epoch,
	              keyed && s->seals_checked ? "checked against the seal public key given"
	                                        : "not checked against a key given here: verify with "
	                                          "--seal-pub and the key handed over at installation");
	rp_buf_printf(b, "<tr><th>Sealed up to</th><td>entry %llu", (unsigned long long)s->sealed_upto);
	if (s->sealed_ts[0] != '\0') {
		rp_buf_puts(b, " (<span class=\"ts\">");
		rp_buf_esc(b, s->sealed_ts);
		rp_buf_puts(b, "</span>)");
	}
	rp_buf_printf(b, "</td></tr>\n<tr><th>Checkpoint</th><td>%s</td></tr>\n",
	              s->checkpoint_checked ? "signature valid (host key in the export)"
	                                    : "not checked");
	rp_buf_puts(b, "<tr><th>Log id</th><td><code>");
	rp_buf_esc(b, s->log_id);
	rp_buf_puts(b, "</code></td></tr>\n<tr><th>Check it yourself</th><td><code>airlock-verify "
	               "audit EXPORT --seal-pub seal.pub</code>; with standard tools, FORMAT.md §9 "
	               "(inside the export)</td></tr>\n</table>\n");
	if (json_array_size(c->findings) == 0)
		return;
	rp_buf_puts(b, "<h2>Findings</h2>\n<table>\n<tr><th>Level</th><th>Where</th><th>Seq</th>"
	               "<th>Finding</th></tr>\n");
	json_array_foreach(c->findings, i, f) {
		rp_buf_puts(b, "<tr>");
		put_cell(b, json_object_get(f, "level"));
		put_cell(b, json_object_get(f, "where"));
		put_cell(b, json_object_get(f, "seq"));
		put_cell(b, json_object_get(f, "msg"));
		rp_buf_puts(b, "</tr>\n");
	}
	rp_buf_puts(b, "</table>\n");
}

static void put_runs(struct buf *b, const struct collect *c)
{
	const char *id;
	json_t *r;

	rp_buf_printf(b, "<h2>Runs</h2>\n<p>%zu run%s started in this export.</p>\n<table>\n"
	                 "<tr><th>Run</th><th>Pipeline</th><th>Version</th><th>Date</th><th>Started</th>"
	                 "<th>Ended</th><th>Status</th><th>By</th><th>Start seq</th></tr>\n",
	              json_object_size(c->runs), json_object_size(c->runs) == 1 ? "" : "s");
	json_object_foreach(c->runs, id, r) {
		rp_buf_puts(b, "<tr><td><code>");
		rp_buf_esc(b, id);
		rp_buf_puts(b, "</code>");
		if (json_is_true(json_object_get(r, "unsigned")))
			rp_buf_puts(b, " <span class=\"st st-failed\">UNSIGNED</span>");
		rp_buf_puts(b, "</td>");
		put_cell(b, json_object_get(r, "pipeline"));
		put_cell(b, json_object_get(r, "version"));
		put_cell(b, json_object_get(r, "date"));
		put_cell(b, json_object_get(r, "start"));
		put_cell(b, json_object_get(r, "end"));
		put_cell(b, json_object_get(r, "status"));
		put_cell(b, json_object_get(r, "user"));
		put_cell(b, json_object_get(r, "start_seq"));
		rp_buf_puts(b, "</tr>\n");
	}
	rp_buf_puts(b, "</table>\n");
}

static void put_events_anchors(struct buf *b, const struct collect *c)
{
	const char *ev;
	json_t *n, *a;
	size_t i;

	rp_buf_puts(b, "<h2>Events</h2>\n<table>\n<tr><th>Event</th><th>Entries</th></tr>\n");
	json_object_foreach(c->events, ev, n) {
		rp_buf_puts(b, "<tr><td><code>");
		rp_buf_esc(b, ev);
		rp_buf_puts(b, "</code></td>");
		put_cell(b, n);
		rp_buf_puts(b, "</tr>\n");
	}
	rp_buf_puts(b, "</table>\n<h2>Anchors sent off the host</h2>\n");
	if (json_array_size(c->anchors) == 0) {
		rp_buf_puts(b, "<p>None in this export (airlock audit sink add; FORMAT.md §12).</p>\n");
		return;
	}
	rp_buf_puts(b, "<table>\n<tr><th>Seq</th><th>Time</th><th>Sink</th><th>Target</th>"
	               "<th>Covers entry</th><th>Head</th></tr>\n");
	json_array_foreach(c->anchors, i, a) {
		rp_buf_puts(b, "<tr>");
		put_cell(b, json_object_get(a, "seq"));
		put_cell(b, json_object_get(a, "ts"));
		put_cell(b, json_object_get(a, "sink"));
		put_cell(b, json_object_get(a, "target"));
		put_cell(b, json_object_get(a, "size"));
		put_cell(b, json_object_get(a, "head"));
		rp_buf_puts(b, "</tr>\n");
	}
	rp_buf_puts(b, "</table>\n");
}

/* One entry: seq, time, event, run, step, the rest of its members. */
static void put_line(struct buf *b, const char *line)
{
	static const char *const shown[] = {"seq", "ts", "prev", "event", "run", "step", NULL};
	json_t *v = json_loads(line, 0, NULL);

	rp_buf_puts(b, "<tr>");
	put_cell(b, json_object_get(v, "seq"));
	put_cell(b, json_object_get(v, "ts"));
	rp_buf_puts(b, "<td><code>");
	rp_buf_esc(b, json_string_value(json_object_get(v, "event")) ? json_string_value(json_object_get(v, "event")) : "?");
	rp_buf_puts(b, "</code></td>");
	put_cell(b, json_object_get(v, "run"));
	put_cell(b, json_object_get(v, "step"));
	rp_buf_puts(b, "<td>");
	if (v != NULL)
		rp_put_fields(b, v, shown);
	rp_buf_puts(b, "</td></tr>\n");
	json_decref(v);
}

static void put_entries(struct buf *b, const struct collect *c)
{
	size_t i, nt = json_array_size(c->tail);
	json_t *l;

	rp_buf_printf(b, "<h2>Entries</h2>\n<p>%llu entries", (unsigned long long)c->n);
	if (c->n > 2 * SHOW_EDGE)
		rp_buf_printf(b, "; the first and the last %d are shown: <code>airlock-verify query "
		                 "EXPORT</code> (or <code>sql</code>) finds any other",
		              SHOW_EDGE);
	rp_buf_puts(b, ".</p>\n<table>\n<tr><th>Seq</th><th>Time</th><th>Event</th><th>Run</th>"
	               "<th>Step</th><th>Members</th></tr>\n");
	json_array_foreach(c->head, i, l) {
		put_line(b, json_string_value(l));
	}
	if (c->n > 2 * SHOW_EDGE)
		rp_buf_printf(b, "<tr><td colspan=\"6\">… %llu entries not shown …</td></tr>\n",
		              (unsigned long long)(c->n - 2 * SHOW_EDGE));
	for (i = 0; i < nt; i++)
		put_line(b, json_string_value(json_array_get(c->tail, (c->tail_at + i) % nt)));
	rp_buf_puts(b, "</table>\n");
}

char *al_report_export_html(const char *path, const char *display, const unsigned char *seal_pub,
                            size_t *len, int *verdict, struct al_err *err)
{
	struct collect c = {json_object(), json_object(), json_array(), json_array(), json_array(),
	                    0, 0, json_array()};
	struct al_verify_opts o = {0};
	struct al_verify_summary s;
	struct al_err verr = {0};
	struct buf b = {0};
	char now[AL_TS_LEN];
	int r;

	memset(&s, 0, sizeof s);
	o.seal_pub = seal_pub;
	o.on_finding = collect_finding;
	o.ctx = &c;
	o.on_entry = collect_entry;
	o.entry_ctx = &c;
	r = al_audit_verify(path, &o, &s, &verr);
	*verdict = r;
	rp_put_head_titled(&b, "airlock evidence export");
	rp_buf_puts(&b, "<h1>airlock evidence export</h1>\n");
	put_verdict(&b, display != NULL ? display : path, r, &s, &verr, seal_pub != NULL, &c);
	if (r == 0) {
		put_runs(&b, &c);
		put_events_anchors(&b, &c);
		put_entries(&b, &c);
	}
	al_ts_format(al_now_us(), now);
	rp_buf_printf(&b, "<p class=\"foot\">Made by airlock %s at <span class=\"ts\">%s</span> from "
	                  "the export's own bytes, as the verifier read them.</p>\n</body>\n</html>\n",
	              AL_VERSION, now);
	json_decref(c.runs);
	json_decref(c.events);
	json_decref(c.anchors);
	json_decref(c.head);
	json_decref(c.tail);
	json_decref(c.findings);
	if (b.failed) {
		free(b.p);
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	*len = b.len;
	return b.p;
}
