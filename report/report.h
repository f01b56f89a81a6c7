/* report.h - what airlock renders of a run for people and for
 * monitoring (DESIGN.md §8): the HTML report, the metrics file, the run
 * summary. report/ reads the engine (state.db, its run view) and the
 * audit log; the engine never calls it, but through the observer below. */
#ifndef AIRLOCK_REPORT_H
#define AIRLOCK_REPORT_H

#include <stddef.h>

#include "core/core.h"
#include "runner/runner.h"

/* Builds the report of run `run` from the audit log of HOME, from that
 * run's entries alone (and the log's log.open for its id): one
 * self-contained HTML page — inline CSS and SVG, no script, no reference
 * outside the page — where every string from the log is escaped and every
 * fact names the entry (seq) that backs it. Returns the page, malloc'd and
 * NUL-terminated, its length in *len and the number of the run's entries
 * in *entries. Returns NULL with err set otherwise: AL_EUSAGE "no entries
 * for run RUN in the audit log" when the log has none; the index's errors
 * as al_audit_query reports them. */
char *al_report_html(const char *home, const char *run, size_t *len, size_t *entries,
                     struct al_err *err);

/* Rewrites HOME/metrics/airlock.prom atomically from state.db (metrics.c):
 * the series of DESIGN.md §8 for every pipeline. audit_entries: the audit
 * log's last seq (-1: not known, the series is left out). */
/* An evidence export (or a directory of segments) as one self-contained
 * HTML page for people, made from its own bytes as al_audit_verify reads
 * them (seal_pub: the 32-byte epoch-0 key to check the seals with, or
 * NULL): the verdict, the runs, the events, the anchors, the entries.
 * display: the export's name on the page (NULL: path).
 * *verdict is al_audit_verify's (0 intact, 1 not, -1 could not); the page
 * says it too. NULL only when memory ran out. */
char *al_report_export_html(const char *path, const char *display, const unsigned char *seal_pub,
                            size_t *len, int *verdict, struct al_err *err);

int al_metrics_write(const char *home, struct al_state *st, int64_t audit_entries,
                     struct al_err *err);

/* The run summary (airlock.summary/1) of a run as the view shows it. */
json_t *al_summary_json(const struct al_run_view *v);

/* The observer `airlock run` gives the engine: the metrics file when
 * steps end and at the run's end, the summary for notify steps. */
void al_report_observer(struct al_run_observer *obs);

#endif
