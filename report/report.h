/* report.h - the HTML report of a run (airlock report, DESIGN.md §8). */
#ifndef AIRLOCK_REPORT_H
#define AIRLOCK_REPORT_H

#include <stddef.h>

#include "core/core.h"

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

#endif
