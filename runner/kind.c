/* kind.c - the engine's side of its two interfaces (runner.h): what a
 * step kind's hooks may ask of the run (an audit entry, an alert, an
 * argv resolved, an input, the summary, a reason), and the view of the
 * run its observers (the metrics file, the run summary) are given. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct run *run_of(const struct al_step_ctx *c)
{
	return c->engine;
}

static struct step_rt *step_of(const struct al_step_ctx *c)
{
	return c->step;
}

/* Each step's kind, from the table the caller gave: a manifest naming
 * a kind this airlock does not have is refused before anything runs. */
int eng_kinds(struct run *r, struct al_err *err)
{
	for (size_t i = 0; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		const char *name = al_step_kind_name(s->def->kind);
		for (size_t k = 0; r->o->kinds != NULL && r->o->kinds[k] != NULL; k++)
			if (strcmp(r->o->kinds[k]->name, name) == 0)
				s->kind = r->o->kinds[k];
		if (s->kind == NULL)
			return al_err_set(err, AL_EUSAGE, "step %s: kind %s is not one this airlock runs",
			                  s->def->id, name);
		eng_ctx_init(r, s);
	}
	return 0;
}

/* What stays the same for every attempt of the step. */
void eng_ctx_init(struct run *r, struct step_rt *s)
{
	struct al_step_ctx *c = &s->ctx;

	memset(c, 0, sizeof *c);
	c->def = s->def;
	c->m = r->m;
	c->home = r->o->home;
	c->run = r->id;
	c->date = r->date;
	c->bundle_dir = r->bundle_dir;
	c->out_dir = r->out_dir;
	c->reason = s->reason;
	c->engine = r;
	c->step = s;
	al_snprintf(c->quarantine, sizeof c->quarantine, "%s/quarantine/%s/%s/%s", r->o->home,
	            r->m->pipeline, r->date, s->def->id);
}

/* An attempt's own paths; the run's id is known by now. */
void eng_ctx_attempt(struct run *r, struct step_rt *s)
{
	struct al_step_ctx *c = &s->ctx;

	c->run = r->id;
	c->attempt = s->attempt;
	eng_stage_path(r, s, c->stage, sizeof c->stage);
	al_snprintf(c->logs, sizeof c->logs, "%s/logs/%s.%d", r->run_dir, s->def->id, s->attempt);
}

int al_step_audit(struct al_step_ctx *c, const char *event, json_t *fields)
{
	struct run *r = run_of(c);
	struct step_rt *s = step_of(c);
	json_t *f = json_pack("{s:s,s:s,s:i}", "run", r->id, "step", s->def->id, "attempt",
	                      s->attempt);

	if (fields != NULL) {
		json_object_update(f, fields);
		json_decref(fields);
	}
	return eng_audit(r, event, f, 0);
}

void al_step_alert(struct al_step_ctx *c, const char *kind, const char *message, json_t *extra)
{
	eng_alert(run_of(c), step_of(c)->def->id, kind, message, extra);
}

char **al_step_argv(const struct al_step_ctx *c, const char *const *argv, struct al_err *err)
{
	return eng_resolve_argv(run_of(c), argv, step_of(c)->confined, err);
}

void al_step_argv_free(char **argv)
{
	eng_free_argv(argv);
}

int al_step_ref_path(const struct al_step_ctx *c, const char *ref, char *out, size_t n)
{
	const struct run *r = run_of(c);
	const char *file;
	long k;

	if (ref == NULL || !eng_step_ref(r, ref, &k, &file))
		return -1;
	return al_snprintf(out, n, "%s/%s/%s", r->out_dir, r->m->steps[k].id, file);
}

int al_step_add_input(struct al_step_ctx *c, const char *ref, struct al_err *err)
{
	struct step_rt *s = step_of(c);
	const char *argv[2] = {ref, NULL};
	char reason[512];

	if (eng_add_inputs(run_of(c), argv, s->inputs, reason, sizeof reason) < 0)
		return al_err_set(err, AL_EENV, "%s", reason);
	return 0;
}

void al_step_reason(struct al_step_ctx *c, const char *reason)
{
	struct step_rt *s = step_of(c);

	al_snprintf(s->reason, sizeof s->reason, "%s", reason);
}

void al_step_no_retry(struct al_step_ctx *c)
{
	step_of(c)->no_retry = 1;
}

void al_step_output(struct al_step_ctx *c, const char *empty)
{
	struct step_rt *s = step_of(c);

	s->own_output = 1;
	al_snprintf(s->own_empty, sizeof s->own_empty, "%s", empty != NULL ? empty : "");
}

/* ---- observers ---- */

/* The view of the run as it stands (malloc'd, with its steps: view_free),
 * or NULL when out of memory. */
static struct al_run_view *view(struct run *r)
{
	struct al_step_view *sv = calloc(r->n ? r->n : 1, sizeof *sv);
	struct al_run_view *v = malloc(sizeof *v);

	if (sv == NULL || v == NULL) {
		free(sv);
		free(v);
		return NULL;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct step_rt *s = &r->steps[i];
		struct al_step_view *o = &sv[i];
		o->id = s->def->id;
		o->kind = s->kind != NULL ? s->kind->name : al_step_kind_name(s->def->kind);
		o->state = eng_state_names[s->state];
		o->status = s->status;
		/* skipped (or ok as already committed): why; failed: the cause */
		o->reason = (s->state == S_SKIPPED || s->state == S_OK) ? s->skip_reason
		            : s->state == S_FAILED                      ? s->reason
		                                                        : "";
		o->attempts = s->attempt;
		o->exit_code = s->exit_code;
		o->duration_ms = s->end_us > s->start_us && s->start_us > 0
		                     ? (s->end_us - s->start_us) / 1000
		                     : -1;
		o->outputs = s->committed;
	}
	memset(v, 0, sizeof *v);
	v->home = r->o->home;
	v->run = r->id;
	v->pipeline = r->m->pipeline;
	v->unsigned_run = strcmp(r->source, "dir") == 0;
	v->date = r->date;
	v->version = r->m->version;
	v->resume_of = r->resume_of;
	v->cause = r->cause;
	v->failed = r->failed; /* the rule of run.end: a skipped failure is not one */
	v->halted = r->audit_failed;
	v->st = r->st;
	v->log_id = r->log != NULL ? al_audit_log_id(r->log) : "";
	v->first_seq = r->first_seq;
	v->last_seq = r->log != NULL ? al_audit_last_seq(r->log) : 0;
	v->alerts = r->alerts;
	v->steps_n = r->n;
	v->steps = sv;
	return v;
}

static void view_free(struct al_run_view *v)
{
	if (v != NULL)
		free((void *)v->steps);
	free(v);
}

void eng_observe(struct run *r, int final)
{
	const struct al_run_observer *obs = r->o->observer;
	struct al_run_view *v;

	r->metrics_us = al_now_us();
	if (obs == NULL || obs->changed == NULL || (v = view(r)) == NULL)
		return;
	obs->changed(obs->ctx, v, final);
	view_free(v);
}

json_t *al_step_summary(struct al_step_ctx *c)
{
	struct run *r = run_of(c);
	const struct al_run_observer *obs = r->o->observer;
	struct al_run_view *v;
	json_t *sum;

	if (obs == NULL || obs->summary == NULL || (v = view(r)) == NULL)
		return NULL;
	sum = obs->summary(obs->ctx, v);
	view_free(v);
	return sum;
}
