/* metrics.c - HOME/metrics/airlock.prom (DESIGN.md §8): the Prometheus
 * text format that node_exporter's textfile collector reads, rebuilt
 * from state.db's totals and rewritten atomically, so that a scrape never
 * sees half a file. It passes `promtool check metrics`.
 *
 * Every series comes from state.db, not from the run in progress: one
 * file serves every pipeline of the host, and two runs rewriting it at
 * once each write a complete, consistent file. */
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct text {
	char *buf;
	size_t len;
	FILE *f;
};

/* A label value as the text format wants it: \\, \" and \n escaped. */
static void label(FILE *f, const char *name, const char *v)
{
	fprintf(f, "%s=\"", name);
	for (; v != NULL && *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static double num(const char *v)
{
	return v != NULL ? strtod(v, NULL) : 0;
}

struct series {
	FILE *f;
	const char *name;
	int col;        /* the value's column */
	double scale;   /* multiplies the value */
	const char *l1, *l2; /* label names of columns 0 and 1 (NULL: none) */
};

static int series_row(void *ctx, int n, const char *const *v)
{
	struct series *s = ctx;

	if (n <= s->col)
		return 0;
	fputs(s->name, s->f);
	if (s->l1 != NULL) {
		fputc('{', s->f);
		label(s->f, s->l1, v[0]);
		if (s->l2 != NULL) {
			fputc(',', s->f);
			label(s->f, s->l2, v[1]);
		}
		fputc('}', s->f);
	}
	{
		double x = num(v[s->col]) * s->scale;
		/* counts as integers; seconds with microseconds */
		if (s->scale == 1)
			fprintf(s->f, " %.0f\n", x);
		else
			fprintf(s->f, " %.6f\n", x);
	}
	return 0;
}

static int emit(struct al_state *st, FILE *f, const char *sql, const char *name, const char *type,
                const char *help, const char *l1, const char *l2, int col, double scale,
                struct al_err *err)
{
	struct series s = {f, name, col, scale, l1, l2};

	family(f, name, type, help);
	return al_state_select(st, sql, series_row, &s, err);
}

int al_metrics_write(const char *home, struct al_state *st, int64_t audit_entries,
                     struct al_err *err)
{
	char dir[4200], path[4300];
	struct text t = {0};
	int ret = -1;

	if (al_snprintf(dir, sizeof dir, "%s/metrics", home) < 0 ||
	    al_snprintf(path, sizeof path, "%s/airlock.prom", dir) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	t.f = open_memstream(&t.buf, &t.len);
	if (t.f == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (emit(st, t.f, "SELECT pipeline, step, last_duration_us FROM step_totals ORDER BY 1, 2",
	         "airlock_step_duration_seconds", "gauge",
	         "Duration of the last attempt of a step.", "pipeline", "step", 2, 1e-6, err) < 0 ||
	    emit(st, t.f, "SELECT pipeline, step, attempts FROM step_totals ORDER BY 1, 2",
	         "airlock_step_attempts_total", "counter", "Attempts of a step, every run.",
	         "pipeline", "step", 2, 1, err) < 0 ||
	    emit(st, t.f, "SELECT pipeline, step, failures FROM step_totals ORDER BY 1, 2",
	         "airlock_step_failures_total", "counter", "Failed attempts of a step, every run.",
	         "pipeline", "step", 2, 1, err) < 0 ||
	    emit(st, t.f,
	         "SELECT pipeline, max(end_us) FROM runs WHERE status = 'ok' GROUP BY pipeline"
	         " ORDER BY 1",
	         "airlock_run_last_success_timestamp_seconds", "gauge",
	         "When the last successful run of a pipeline ended (Unix time).", "pipeline", NULL,
	         1, 1e-6, err) < 0 ||
	    emit(st, t.f,
	         "SELECT pipeline, CASE status WHEN 'ok' THEN 0 WHEN 'failed' THEN 1"
	         " WHEN 'aborted' THEN 2 ELSE 3 END FROM runs r"
	         " WHERE status != 'running' AND start_us = (SELECT max(start_us) FROM runs"
	         " WHERE pipeline = r.pipeline AND status != 'running') GROUP BY pipeline ORDER BY 1",
	         "airlock_run_last_status", "gauge",
	         "Status of the last ended run: 0 ok, 1 failed, 2 aborted, 3 interrupted.",
	         "pipeline", NULL, 1, 1, err) < 0 ||
	    emit(st, t.f,
	         "SELECT resource, state != 'closed' FROM breakers ORDER BY 1",
	         "airlock_breaker_open", "gauge",
	         "1 while a resource's circuit breaker is open or half-open, else 0.", "resource",
	         NULL, 1, 1, err) < 0 ||
	    emit(st, t.f, "SELECT pipeline, kind, total FROM alert_totals ORDER BY 1, 2",
	         "airlock_alerts_total", "counter", "Alerts raised, by kind.", "pipeline", "kind", 2,
	         1, err) < 0 ||
	    emit(st, t.f, "SELECT value FROM meta WHERE key = 'last_seal_us'",
	         "airlock_audit_last_seal_timestamp_seconds", "gauge",
	         "When a run last sealed the audit log (Unix time).", NULL, NULL, 0, 1e-6, err) < 0)
		goto out;
	if (audit_entries >= 0) {
		family(t.f, "airlock_audit_entries_total", "counter", "Entries in the audit log.");
		fprintf(t.f, "airlock_audit_entries_total %lld\n", (long long)audit_entries);
	}
	if (fclose(t.f) != 0) {
		t.f = NULL;
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	t.f = NULL;
	/* 0644: the textfile collector runs as another user. */
	if (al_mkdirs(dir, 0755, err) < 0 || al_write_file_atomic(path, t.buf, t.len, 0644, err) < 0)
		goto out;
	ret = 0;
out:
	if (t.f != NULL)
		fclose(t.f);
	free(t.buf);
	return ret;
}
