/* summary.c - what a run's readers are given as it goes (runner.h,
 * "observers"): the run summary (airlock.summary/1, runner/README.md)
 * that notify steps read on stdin, and the metrics file rewritten when
 * the engine says steps ended. The engine calls these through the
 * observer that al_report_observer() fills; it never calls report/. */
#include "report/report.h"

#include "audit/audit.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

json_t *al_summary_json(const struct al_run_view *v)
{
	json_t *steps = json_array(), *sum;

	for (size_t i = 0; i < v->steps_n; i++) {
		const struct al_step_view *s = &v->steps[i];
		json_t *o = json_pack("{s:s,s:s,s:i}", "id", s->id, "state", s->state, "attempts",
		                      s->attempts);
		json_object_set_new(o, "kind", json_string(s->kind));
		json_object_set_new(o, "exit", s->exit_code >= 0 ? json_integer(s->exit_code) : json_null());
		if (s->status[0] != '\0')
			json_object_set_new(o, "status", json_string(s->status));
		if (s->reason[0] != '\0')
			json_object_set_new(o, "reason", json_string(s->reason));
		if (s->duration_ms >= 0)
			json_object_set_new(o, "duration_ms", json_integer(s->duration_ms));
		json_object_set_new(o, "outputs",
		                    s->outputs != NULL ? json_copy((json_t *)s->outputs) : json_array());
		json_array_append_new(steps, o);
	}
	sum = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:o,s:o,s:o,s:O}", "format", "airlock.summary/1",
	                "run", v->run, "pipeline", v->pipeline, "version", (json_int_t)v->version,
	                "date", v->date, "status", v->halted ? "halted" : v->failed ? "failed" : "ok",
	                "resume_of",
	                v->resume_of[0] ? json_string(v->resume_of) : json_null(), "cause",
	                v->cause[0] ? json_string(v->cause) : json_null(), "steps", steps, "alerts",
	                v->alerts);
	json_object_set_new(sum, "unsigned", json_boolean(v->unsigned_run));
	json_object_set_new(sum, "audit",
	                    json_pack("{s:s,s:I,s:I,s:o}", "log_id", v->log_id, "first_seq",
	                              (json_int_t)v->first_seq, "last_seq", (json_int_t)v->last_seq,
	                              "sinks", al_ship_lags_json(v->home)));
	return sum;
}

static void changed(void *ctx, const struct al_run_view *v, int final)
{
	struct al_err err = {0};

	(void)ctx;
	if (al_metrics_write(v->home, v->st, (int64_t)v->last_seq, &err) < 0)
		al_oplog("warn", v->run, NULL, 0, NULL, "metrics: %s", err.msg);
	if (final) {
		/* The summary as the run ended, beside its logs: for whoever
		 * looks after it (airlock-alert@.service, an operator), also
		 * when the audit log could not say how it ended. */
		char path[PATH_MAX], *text;
		json_t *sum = al_summary_json(v);
		text = json_dumps(sum, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(sum);
		if (al_snprintf(path, sizeof path, "%s/runs/%s/summary.json", v->home, v->run) < 0 ||
		    text == NULL ||
		    al_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
			al_oplog("warn", v->run, NULL, 0, NULL, "summary: %s",
			         text == NULL ? "cannot allocate memory" : err.msg);
		free(text);
	}
}

static json_t *summary(void *ctx, const struct al_run_view *v)
{
	(void)ctx;
	return al_summary_json(v);
}

void al_report_observer(struct al_run_observer *obs)
{
	obs->ctx = NULL;
	obs->changed = changed;
	obs->summary = summary;
}
