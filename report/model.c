/* model.c - the report's model of a run: its entries from the audit
 * log's index (read only, never trusted: every number is clamped before
 * arithmetic), the steps and attempts they describe, and the timeline's
 * bounds. */
#include "report/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/* ------------------------------------------------------------------ */
/* The run's entries, and what the report makes of them.               */

const char *rp_jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The integer member k of o, or def. */
long long rp_jint(const json_t *o, const char *k, long long def)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

/* al_audit_query's row callback: keeps each line and its parse. */
static void load_row(void *ctx, const char *line)
{
	struct entries *es = ctx;
	struct entry *e;
	const char *ts;

	if (es->failed)
		return;
	if (es->n == es->cap) {
		size_t cap = es->cap != 0 ? es->cap * 2 : 64;
		struct entry *ne = realloc(es->e, cap * sizeof *ne);
		if (ne == NULL) {
			es->failed = 1;
			return;
		}
		es->e = ne;
		es->cap = cap;
	}
	e = &es->e[es->n];
	memset(e, 0, sizeof *e);
	if ((e->line = strdup(line)) == NULL) {
		es->failed = 1;
		return;
	}
	e->v = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(e->v)) {
		/* shown in the appendix as it is; nothing else is made of it */
		json_decref(e->v);
		e->v = json_object();
	}
	e->seq = (uint64_t)rp_jint(e->v, "seq", 0);
	e->event = rp_jstr(e->v, "event") != NULL ? rp_jstr(e->v, "event") : "";
	if ((ts = rp_jstr(e->v, "ts")) == NULL || al_ts_parse(ts, &e->ts_us, NULL) < 0)
		e->ts_us = 0;
	es->n++;
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->e[i].line);
		json_decref(es->e[i].v);
	}
	free(es->e);
}

static struct step *step_get(struct report *r, const char *id)
{
	json_t *ix = json_object_get(r->step_index, id);
	struct step *ns;

	if (ix != NULL)
		return &r->steps[json_integer_value(ix)];
	if ((ns = realloc(r->steps, (r->nsteps + 1) * sizeof *ns)) == NULL)
		return NULL;
	r->steps = ns;
	memset(&ns[r->nsteps], 0, sizeof *ns);
	ns[r->nsteps].id = id;
	if (json_object_set_new(r->step_index, id, json_integer((json_int_t)r->nsteps)) < 0)
		return NULL;
	return &ns[r->nsteps++];
}

static struct attempt *attempt_get(struct step *s, long n)
{
	struct attempt *na;

	for (size_t i = 0; i < s->natt; i++)
		if (s->att[i].n == n)
			return &s->att[i];
	if ((na = realloc(s->att, (s->natt + 1) * sizeof *na)) == NULL)
		return NULL;
	s->att = na;
	memset(&na[s->natt], 0, sizeof *na);
	na[s->natt].n = n;
	return &na[s->natt++];
}

/* Takes a step.* entry into its step; a second entry for the same fact
 * is left unused, and so listed with the others rather than hidden. */
static int model_step_entry(struct report *r, struct entry *e, const char *id)
{
	struct step *s = step_get(r, id);
	const struct entry **slot;
	struct attempt *a;
	long n = (long)rp_jint(e->v, "attempt", 1);

	if (s == NULL)
		return -1;
	if (strcmp(e->event, "step.skipped") == 0) {
		slot = &s->skipped;
	} else {
		/* step.retry {attempt: n + 1} follows the failure of attempt n */
		if (strcmp(e->event, "step.retry") == 0 && n > 1)
			n--;
		if ((a = attempt_get(s, n)) == NULL)
			return -1;
		slot = strcmp(e->event, "step.start") == 0 ? &a->start
		       : strcmp(e->event, "step.end") == 0 ? &a->end
		                                           : &a->retry;
	}
	if (*slot == NULL) {
		*slot = e;
		e->used = 1;
	}
	return 0;
}

static int is_step_event(const char *ev)
{
	return strcmp(ev, "step.start") == 0 || strcmp(ev, "step.end") == 0 ||
	       strcmp(ev, "step.retry") == 0 || strcmp(ev, "step.skipped") == 0;
}

/* Milliseconds from the log in microseconds, clamped (MS_MAX: internal.h). */
int64_t rp_ms_to_us(long long ms)
{
	return (ms < 0 ? 0 : ms > MS_MAX ? MS_MAX : (int64_t)ms) * 1000;
}

/* The end of what an entry shows on the timeline: a retry's wait too. */
int64_t rp_entry_reach(const struct entry *e)
{
	if (strcmp(e->event, "step.retry") == 0 && e->ts_us != 0)
		return e->ts_us + rp_ms_to_us(rp_jint(e->v, "delay_ms", 0));
	return e->ts_us;
}

int rp_model_build(struct report *r)
{
	r->t0 = INT64_MAX;
	r->t1 = INT64_MIN;
	for (size_t i = 0; i < r->all.n; i++) {
		struct entry *e = &r->all.e[i];
		const char *step = rp_jstr(e->v, "step");
		if (e->ts_us != 0) {
			r->t0 = e->ts_us < r->t0 ? e->ts_us : r->t0;
			r->t1 = rp_entry_reach(e) > r->t1 ? rp_entry_reach(e) : r->t1;
		}
		if (strcmp(e->event, "run.start") == 0 && r->start == NULL) {
			r->start = e;
			e->used = 1;
		} else if (strcmp(e->event, "run.end") == 0 && r->end == NULL) {
			r->end = e;
			e->used = 1;
		} else if (step != NULL && is_step_event(e->event) &&
		           model_step_entry(r, e, step) < 0) {
			return -1;
		}
	}
	if (r->t0 > r->t1) /* no timestamp at all */
		r->t0 = r->t1 = 0;
	return 0;
}

void rp_report_free(struct report *r)
{
	for (size_t i = 0; i < r->nsteps; i++)
		free(r->steps[i].att);
	free(r->steps);
	json_decref(r->step_index);
	entries_free(&r->all);
	entries_free(&r->log);
}

/* The run's entries (and the log's log.open) from the index, and the
 * model built from them. On failure err says why; r is freed by
 * rp_report_free in any case. */
int rp_model_load(const char *home, const char *run, struct report *r, struct al_err *err)
{
	struct al_audit_query q = {0}, lq = {0};

	memset(r, 0, sizeof *r);
	r->run = run;
	q.run = run;
	lq.event = "log.open";
	if ((r->step_index = json_object()) == NULL ||
	    al_audit_query(home, &q, load_row, &r->all, err) < 0 ||
	    al_audit_query(home, &lq, load_row, &r->log, err) < 0)
		return -1;
	if (r->all.failed || r->log.failed)
		return al_err_set(err, AL_EENV, "report of run %s: out of memory", run);
	if (r->all.n == 0)
		return al_err_set(err, AL_EUSAGE, "no entries for run %s in the audit log", run);
	if (rp_model_build(r) < 0)
		return al_err_set(err, AL_EENV, "report of run %s: out of memory", run);
	return 0;
}
