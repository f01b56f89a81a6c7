/* record.c - what every part of the engine writes, and how: the audit
 * entry of a state change (fail-closed: after the first failure no
 * entry is written, and no new step starts), and state.db's rows of a
 * run's steps, batched in one transaction. It calls nothing of the
 * engine above it. */
#include "engine.h"

#include <stdio.h>
#include <string.h>

const char *const eng_state_names[] = {"pending", "retrying", "running", "ok", "failed", "skipped"};

/* The audit entry of a state change; fields are consumed. After the
 * first failure every later call fails at once (fail-closed). */
/* An alert whose entry is in the log already (or could not be): the
 * summary, the metrics' totals, the operator log. */
void eng_alert_noted(struct run *r, const char *step, const char *kind, const char *message,
                     uint64_t seq)
{
	struct al_err err = {0};

	json_array_append_new(r->alerts,
	                      json_pack("{s:s,s:s?,s:s,s:o}", "kind", kind, "step", step, "message",
	                                message, "seq",
	                                seq > 0 ? json_integer((json_int_t)seq) : json_null()));
	if (r->st != NULL && r->m != NULL) {
		eng_tx(r);
		if (al_state_alert_count(r->st, r->m->pipeline, kind, al_now_us(), &err) < 0)
			eng_state_warn(r, &err);
	}
	al_oplog("warn", r->id, step, 0, json_pack("{s:s}", "alert", kind), "alert %s: %s", kind,
	         message);
}

int eng_audit(struct run *r, const char *event, json_t *fields, unsigned flags)
{
	int ret;

	if (r->audit_failed) {
		json_decref(fields);
		return -1;
	}
	ret = al_audit_append(r->log, event, fields, flags, &r->audit_err);
	json_decref(fields);
	if (ret < 0) {
		r->audit_failed = 1;
		al_oplog("error", r->id, NULL, 0, NULL,
		         "the audit log cannot be written: no new step will start: %s",
		         r->audit_err.msg);
	} else {
		/* the writer's own alert (NIST AU-5(1)), in the log already: also
		 * in the run's summary, the metrics and the operator log */
		uint64_t free_bytes, threshold, seq;
		if (r->alerts != NULL && al_audit_take_space_alert(r->log, &free_bytes, &threshold, &seq)) {
			char msg[256];
			al_snprintf(msg, sizeof msg,
			            "the audit log's file system has %llu MiB free, under %llu MiB: when it "
			            "is full, airlock stops starting work",
			            (unsigned long long)(free_bytes >> 20),
			            (unsigned long long)(threshold >> 20));
			eng_alert_noted(r, NULL, "audit-space-low", msg, seq);
		}
	}
	return ret;
}

void eng_state_warn(struct run *r, const struct al_err *err)
{
	al_oplog("warn", r->id, NULL, 0, NULL, "state.db: %s", err->msg);
}

/* state.db changes are batched: one transaction gathers them and is
 * committed ENG_TX_BATCH_US after it began (and at the run's end, and
 * before a promotion). A killed airlock loses at most that much of
 * state.db; recovery rebuilds commits from the audit log's
 * output.committed entries (runner/README.md, "Crash safety"). */
void eng_tx(struct run *r)
{
	struct al_err err = {0};

	if (r->tx)
		return;
	if (al_state_begin(r->st, &err) < 0) {
		eng_state_warn(r, &err);
		return;
	}
	r->tx = 1;
	r->tx_us = al_now_us();
}

void eng_tx_flush(struct run *r)
{
	struct al_err err = {0};

	if (!r->tx)
		return;
	r->tx = 0;
	if (al_state_commit_tx(r->st, &err) < 0)
		eng_state_warn(r, &err);
}

void eng_step_row(const struct run *r, const struct step_rt *s, struct al_step_row *row,
                  const char *state)
{
	memset(row, 0, sizeof *row);
	al_snprintf(row->step, sizeof row->step, "%s", s->def->id);
	row->idx = (int)s->idx;
	al_snprintf(row->state, sizeof row->state, "%s", state != NULL ? state : eng_state_names[s->state]);
	row->attempts = s->attempt;
	row->start_us = s->start_us;
	row->end_us = s->end_us;
	row->exit_code = s->exit_code;
	row->signal = s->sig;
	al_snprintf(row->status, sizeof row->status, "%s", s->status);
	al_snprintf(row->reason, sizeof row->reason, "%s",
	            s->state == S_SKIPPED || (s->state == S_OK && s->attempt == 0) ? s->skip_reason
	                                                                          : s->reason);
	for (size_t i = 0; i < s->def->needs_n; i++) {
		size_t len = strlen(row->needs);
		al_snprintf(row->needs + len, sizeof row->needs - len, "%s%s", i ? "," : "",
		         r->m->steps[s->def->needs[i]].id);
	}
}

void eng_save_step(struct run *r, struct step_rt *s, const char *state, const char *staged)
{
	struct al_step_row row;
	struct al_err err = {0};

	eng_step_row(r, s, &row, state);
	row.staged = (char *)staged;
	eng_tx(r);
	if (al_state_step_put(r->st, r->id, &row, &err) < 0)
		eng_state_warn(r, &err);
}

/* ------------------------------------------------------------------ */
