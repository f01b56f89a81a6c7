/* attempt.c - an attempt's life (DESIGN.md §8, "Executing a step",
 * "Retries and failure"): step.start made durable, then the process
 * started as its kind says; when it ends, its kind's result, the verify
 * command, the outputs checked and committed, or the failure's
 * condition: a retry after the seeded full-jitter delay (paused by a
 * retry storm), or the step's on_failure. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOTE_RUNNING_US 50000

static void finish_attempt(struct run *r, struct step_rt *s, const char *status, int exit_code,
                           int sig, const char *cond, json_t *end);

static json_t *cap_json(const struct al_capture *c)
{
	char hex[AL_SHA256_HEX];

	al_hex(c->sum, sizeof c->sum, hex);
	return json_pack("{s:s,s:I,s:b,s:I}", "sha256", hex, "size", (json_int_t)c->stored,
	                 "truncated", c->truncated, "written", (json_int_t)c->written);
}

/* The retry delay of DESIGN.md §8 after failed attempt n (1-based):
 * uniform in [0, min(cap, base * 2^(n-1))] ms, drawn as the first 8
 * bytes (big-endian) of SHA-256(key ‖ decimal n) modulo (bound + 1). */
int64_t al_retry_delay_ms(const char *key, int n, int64_t base_ms, int64_t cap_ms)
{
	unsigned char sum[AL_SHA256_LEN];
	char buf[128];
	uint64_t x = 0, bound = (uint64_t)base_ms;
	int len;

	for (int i = 1; i < n && bound < (uint64_t)cap_ms; i++)
		bound *= 2;
	if (bound > (uint64_t)cap_ms)
		bound = (uint64_t)cap_ms;
	len = snprintf(buf, sizeof buf, "%s%d", key, n);
	al_sha256_buf(buf, (size_t)len, sum);
	for (int i = 0; i < 8; i++)
		x = (x << 8) | sum[i];
	return (int64_t)(x % (bound + 1));
}

/* step.start said which layers the step would get (from the host
 * probe); should the spawn have applied others, the evidence says so. */
static void isolation_applied(struct run *r, struct step_rt *s)
{
	json_t *planned = eng_isolation_json(r, s, "");
	json_t *applied = eng_isolation_applied(r, s, &s->proc.cp.layers);

	if (!json_equal(planned, applied))
		(void)eng_audit(r, "step.isolation",
		                json_pack("{s:s,s:s,s:i,s:O}", "run", r->id, "step", s->def->id, "attempt",
		                          s->attempt, "isolation", applied),
		                0);
	json_decref(planned);
	json_decref(applied);
}

/* Starts the process of the attempt's phase: its kind's command, or the
 * step's verify command. */
static int spawn_phase(struct run *r, struct step_rt *s, struct al_err *err)
{
	struct al_step_launch l = {0};
	char outp[PATH_MAX + 16], errp[PATH_MAX + 16];
	char **envp = NULL;
	struct al_proc_spec spec = {0};
	struct eng_view *view = NULL;
	int ret = -1;

	if (s->confined) {
		view = malloc(sizeof *view);
		if (view == NULL) {
			al_err_sys(err, "cannot allocate memory");
			return -1;
		}
		if (eng_view_build(r, s, view, err) < 0)
			goto out;
		spec.confine = &view->spec;
	}
	al_snprintf(outp, sizeof outp, "%s%s.out", s->ctx.logs, s->phase ? ".verify" : "");
	al_snprintf(errp, sizeof errp, "%s%s.err", s->ctx.logs, s->phase ? ".verify" : "");
	if (s->phase == 0) {
		if (s->kind->launch(&s->ctx, &l, err) < 0)
			goto out;
	} else if ((l.argv = eng_resolve_argv(r, s->def->verify, s->confined, err)) == NULL) {
		goto out;
	}
	envp = eng_make_env(r, s, s->ctx.stage, s->ctx.quarantine, s->confined);
	if (envp == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	spec.stdin_path = l.stdin_path;
	spec.argv = (const char *const *)l.argv;
	spec.envp = (const char *const *)envp;
	spec.cwd = s->ctx.stage;
	spec.net_none = !s->def->network_host && !r->o->allow_network;
	spec.limit_cpu_s = s->def->limit_cpu_s;
	spec.limit_memory = s->def->limit_memory;
	spec.limit_files = s->def->limit_files;
	spec.limit_procs = s->def->limit_procs;
	spec.out_path = outp;
	spec.err_path = errp;
	spec.cap = r->o->log_cap ? r->o->log_cap : AL_LOG_CAP;
	if (al_proc_spawn(&s->proc, &spec, err) < 0)
		goto out;
	if (s->confined && s->phase == 0)
		isolation_applied(r, s);
	s->running = 1;
	s->timed_out = s->term_sent = s->kill_sent = 0;
	s->deadline_us = s->def->timeout_ms > 0 ? s->proc.start_us + s->def->timeout_ms * 1000 : 0;
	s->kill_at_us = 0;
	ret = 0;
out:
	if (view != NULL) {
		eng_view_free(view); /* the secrets' bytes are wiped */
		free(view);
	}
	eng_free_argv(l.argv);
	free(l.stdin_path);
	eng_free_argv(envp);
	return ret;
}

/* The running step's rows in state.db (for airlock status). */
void eng_note_running(struct run *r, struct step_rt *s)
{
	struct al_attempt_row a = {0};
	struct al_err err = {0};

	s->note_at_us = 0;
	eng_save_step(r, s, "running", NULL);
	al_snprintf(a.step, sizeof a.step, "%s", s->def->id);
	a.attempt = s->attempt;
	a.start_us = s->proc.start_us;
	a.exit_code = -1;
	al_snprintf(a.status, sizeof a.status, "running");
	a.pid = s->proc.pid;
	if (al_state_attempt_put(r->st, r->id, &a, &err) < 0)
		eng_state_warn(r, &err);
}

/* The attempt could not even be prepared (its stage): the run stops, and
 * the attempt is not counted. */
static void stage_failed(struct run *r, struct step_rt *s, const struct al_err *err)
{
	al_oplog("error", r->id, s->def->id, s->attempt, NULL, "%s", err->msg);
	s->attempt--;
	r->failed = 1;
	r->aborting = 1;
	s->state = S_FAILED;
	al_snprintf(s->reason, sizeof s->reason, "%s", err->msg);
}

void eng_start_attempt(struct run *r, struct step_rt *s)
{
	char stage[PATH_MAX], why[400];
	struct al_err err = {0};
	json_t *f;

	s->attempt++;
	s->phase = 0;
	s->no_retry = 0;
	s->own_output = 0;
	s->own_empty[0] = '\0';
	eng_ctx_attempt(r, s);
	eng_stage_path(r, s, stage, sizeof stage);
	/* Each attempt starts from an empty stage: nothing of a failed one leaks. */
	if (al_rm_tree(AT_FDCWD, stage) < 0 || eng_new_stage(r, stage, &err) < 0) {
		if (err.msg[0] == '\0')
			al_err_sys(&err, "%s: cannot empty the stage", stage);
		stage_failed(r, s, &err);
		return;
	}
	s->confined = eng_confine_decide(r, s, why, sizeof why);
	/* the pre-flight refused this already; never run an image's step on the host */
	if (!s->confined && eng_image_of(r, s) != NULL) {
		al_err_set(&err, AL_EENV, "step %s runs in image %s, which only a confined step can: %s",
		           s->def->id, s->def->image, why);
		stage_failed(r, s, &err);
		return;
	}
	/* Its own stage: as root a confined step writes as its own uid. */
	if (s->confined && r->host.root && chown(stage, r->step_uid, r->step_gid) < 0) {
		al_err_sys(&err, "%s: cannot give the stage to the step's uid %u", stage,
		           (unsigned)r->step_uid);
		stage_failed(r, s, &err);
		return;
	}
	f = json_pack("{s:s,s:s,s:i,s:o,s:s,s:O,s:o}", "run", r->id, "step", s->def->id, "attempt",
	              s->attempt, "argv",
	              (s->kind->flags & AL_KIND_BUILTIN)
	                  ? json_pack("[s,s,s]", "airlock", "__builtin", s->kind->name)
	                  : eng_argv_json(s->def->run),
	              "idempotency_key", s->key, "inputs", s->inputs, "isolation",
	              eng_isolation_json(r, s, why));
	if (s->rerun_reason[0] != '\0')
		json_object_set_new(f, "rerun_reason", json_string(s->rerun_reason));
	if (eng_image_of(r, s) != NULL) {
		json_t *im = eng_image_of(r, s);
		json_object_set_new(f, "image", json_pack("{s:O,s:O,s:O,s:O}", "name", json_object_get(im, "name"),
		                                          "digest", json_object_get(im, "digest"),
		                                          "tree_sha256", json_object_get(im, "tree_sha256"),
		                                          "user", json_object_get(im, "user")));
	}
	/* Durable before the process exists: no step runs unaudited. */
	if (eng_audit(r, "step.start", f, AL_AUDIT_SYNC) < 0) {
		s->attempt--;
		return;
	}
	if (s->attempt == 1)
		s->start_us = al_now_us();
	s->state = S_RUNNING;
	if (spawn_phase(r, s, &err) < 0) {
		al_oplog("error", r->id, s->def->id, s->attempt, NULL, "%s", err.msg);
		al_snprintf(s->reason, sizeof s->reason, "%s", err.msg);
		finish_attempt(r, s, "failed", 127, 0, "exit:127",
		               json_pack("{s:s}", "error", err.msg));
		return;
	}
	r->running_n++;
	/* state.db hears of a running step only if it runs for a while: a
	 * quick one is recorded once, at its end (the audit log has both). */
	s->note_at_us = s->proc.start_us + NOTE_RUNNING_US;
	if (r->o->quiet == 0)
		al_oplog("info", r->id, s->def->id, s->attempt, NULL, "started (pid %d)",
		         (int)s->proc.pid);
}

static int cond_listed(const struct al_retries *rt, const char *cond)
{
	if (rt->on == 0)
		return 1;
	if (strcmp(cond, "timeout") == 0)
		return (rt->on & AL_RETRY_ON_TIMEOUT) != 0;
	if (strcmp(cond, "signal") == 0)
		return (rt->on & AL_RETRY_ON_SIGNAL) != 0;
	if (strcmp(cond, "verify") == 0)
		return (rt->on & AL_RETRY_ON_VERIFY) != 0;
	if (strncmp(cond, "exit:", 5) == 0 && (rt->on & AL_RETRY_ON_EXIT)) {
		int code = (int)strtol(cond + 5, NULL, 10); /* made by proc_ended: "exit:N" */
		for (size_t i = 0; i < rt->exit_n; i++)
			if (rt->exit_codes[i] == code)
				return 1;
	}
	return 0;
}

static void schedule_retry(struct run *r, struct step_rt *s, const char *cond)
{
	const struct al_retries *rt = &s->def->retries;
	int64_t now = al_now_us(), delay = al_retry_delay_ms(s->key, s->attempt, rt->base_ms, rt->cap_ms);
	int64_t pause = 0;
	size_t in_window = 0;
	json_t *f;

	/* The retry-storm rule: more than AL_STORM_RETRIES retries within
	 * the window raise an alert and pause retries until it has passed. */
	for (size_t i = 0; i < r->retries_n; i++)
		if (r->retries[i] > now - AL_STORM_WINDOW_MS * 1000)
			in_window++;
	if (in_window >= AL_STORM_RETRIES) {
		int64_t oldest = now;
		for (size_t i = 0; i < r->retries_n; i++)
			if (r->retries[i] > now - AL_STORM_WINDOW_MS * 1000 && r->retries[i] < oldest)
				oldest = r->retries[i];
		if (r->storm_until_us <= now) {
			r->storm_until_us = oldest + AL_STORM_WINDOW_MS * 1000;
			eng_alert(r, NULL, "retry-storm",
			          "more than 5 retries within 60 s: retries pause until the window has "
			          "passed",
			          json_pack("{s:i,s:I}", "retries", (int)in_window + 1, "window_ms",
			                    (json_int_t)AL_STORM_WINDOW_MS));
			al_oplog("warn", r->id, s->def->id, s->attempt, NULL,
			         "retry storm: retries pause for %lld ms",
			         (long long)((r->storm_until_us - now) / 1000));
		}
	}
	if (r->storm_until_us > now)
		pause = (r->storm_until_us - now) / 1000;
	/* Keep the newest AL_STORM_RETRIES + 1 retry times. */
	if (r->retries_n == sizeof r->retries / sizeof r->retries[0]) {
		memmove(r->retries, r->retries + 1, (r->retries_n - 1) * sizeof r->retries[0]);
		r->retries_n--;
	}
	r->retries[r->retries_n++] = now + (delay > pause ? delay : pause) * 1000;
	f = json_pack("{s:s,s:s,s:i,s:I,s:s}", "run", r->id, "step", s->def->id, "attempt",
	              s->attempt + 1, "delay_ms", (json_int_t)delay, "reason", cond);
	if (pause > 0)
		json_object_set_new(f, "paused_ms", json_integer(pause));
	if (eng_audit(r, "step.retry", f, 0) < 0)
		return;
	s->state = S_WAITING;
	s->ready_at_us = now + (delay > pause ? delay : pause) * 1000;
	eng_save_step(r, s, "retrying", NULL);
	if (r->o->quiet == 0)
		al_oplog("warn", r->id, s->def->id, s->attempt, NULL, "failed (%s): retry in %lld ms",
		         cond, (long long)(delay > pause ? delay : pause));
}

void eng_fail_final(struct run *r, struct step_rt *s)
{
	s->state = S_FAILED;
	s->end_us = al_now_us();
	eng_save_step(r, s, NULL, NULL);
	r->metrics_dirty = 1;
	al_utf8_fix(s->reason);
	if (r->cause[0] == '\0') {
		al_snprintf(r->cause, sizeof r->cause, "step %s: %s", s->def->id, s->reason);
		al_utf8_fix(r->cause);
	}
	if (s->kind->done != NULL)
		s->kind->done(&s->ctx, 0);
	switch (s->def->on_failure) {
	case AL_FAIL_ABORT: {
		char msg[800];
		r->failed = 1;
		al_snprintf(msg, sizeof msg, "step %s failed after %d attempt%s: %s; the run stops",
		            s->def->id, s->attempt, s->attempt == 1 ? "" : "s", s->reason);
		if (!r->aborting)
			eng_alert(r, s->def->id, "step-failed", msg, NULL);
		r->aborting = 1;
		break;
	}
	case AL_FAIL_SKIP:
		(void)eng_audit(r, "step.skipped",
		            json_pack("{s:s,s:s,s:s}", "run", r->id, "step", s->def->id, "reason",
		                      "on-failure-skip"),
		            0);
		al_oplog("warn", r->id, s->def->id, s->attempt, NULL,
		         "failed: %s: its dependants are skipped (on_failure: skip)", s->reason);
		break;
	case AL_FAIL_ALERT: {
		char msg[800];
		al_snprintf(msg, sizeof msg, "step %s failed after %d attempt%s: %s", s->def->id,
		         s->attempt, s->attempt == 1 ? "" : "s", s->reason);
		eng_alert(r, s->def->id, "step-failed", msg, NULL);
		r->failed = 1;
		break;
	}
	}
}

/* The end of an attempt: end is the step.end fields so far (consumed). */
static void finish_attempt(struct run *r, struct step_rt *s, const char *status, int exit_code,
                           int sig, const char *cond, json_t *end)
{
	struct al_attempt_row a = {0};
	struct al_err err = {0};
	json_t *files = NULL;
	int ok = strcmp(status, "ok") == 0;

	s->end_us = al_now_us();
	s->exit_code = exit_code;
	s->sig = sig;
	r->metrics_dirty = 1;
	al_snprintf(s->status, sizeof s->status, "%s", status);
	if (ok && eng_stage_check(r, s, &files, s->reason, sizeof s->reason) < 0) {
		ok = 0;
		status = "failed";
		al_snprintf(s->status, sizeof s->status, "failed");
		cond = "verify";
		json_object_set_new(end, "reason", json_string(s->reason));
	} else if (!ok && (s->reason[0] == '\0' || json_object_get(end, "reason") == NULL)) {
		al_snprintf(s->reason, sizeof s->reason, "%s", cond);
	}
	json_object_set_new(end, "status", json_string(status));
	{
		int64_t began = s->proc.start_us ? s->proc.start_us : s->end_us;
		json_object_set_new(end, "duration_ms", json_integer((s->end_us - began) / 1000));
		eng_tx(r);
		if (al_state_step_total(r->st, r->m->pipeline, s->def->id, !ok, s->end_us - began,
		                        s->end_us, &err) < 0)
			eng_state_warn(r, &err);
	}
	{
		/* Keys in the documented order: run step attempt exit signal status... */
		json_t *f = json_pack("{s:s,s:s,s:i,s:i,s:o}", "run", r->id, "step", s->def->id,
		                      "attempt", s->attempt, "exit", exit_code, "signal",
		                      sig ? json_integer(sig) : json_null());
		json_object_update(f, end);
		json_decref(end);
		(void)eng_audit(r, "step.end", f, 0);
	}
	/* A failed interruption is airlock's doing, not the resource's. */
	if (s->def->resource != NULL && !(r->interrupted && !ok))
		eng_breaker_result(r, s, ok);
	al_snprintf(a.step, sizeof a.step, "%s", s->def->id);
	a.attempt = s->attempt;
	a.start_us = s->proc.start_us;
	a.end_us = s->end_us;
	a.exit_code = exit_code;
	a.signal = sig;
	al_snprintf(a.status, sizeof a.status, "%s", status);
	a.pid = s->proc.pid;
	/* A success's attempt row goes in the commit's transaction. */
	if (!ok)
		eng_tx(r);
	if (!ok && al_state_attempt_put(r->st, r->id, &a, &err) < 0)
		eng_state_warn(r, &err);
	if (ok) {
		if (r->audit_failed || eng_commit(r, s, files, &a) < 0) {
			json_decref(files);
			/* The outputs could not be promoted: a failure of the environment. */
			al_snprintf(s->reason, sizeof s->reason, "%s",
			         r->audit_failed ? "the audit log cannot be written" : s->reason);
			s->state = S_FAILED;
			r->failed = 1;
			r->aborting = 1;
			eng_save_step(r, s, NULL, NULL);
			return;
		}
		json_decref(s->committed);
		s->committed = files;
		if (s->kind->done != NULL)
			s->kind->done(&s->ctx, 1);
		if (r->o->quiet == 0)
			al_oplog("info", r->id, s->def->id, s->attempt, NULL, "ok (%lld ms)",
			         (long long)((s->end_us - s->start_us) / 1000));
		return;
	}
	if (!r->interrupted && !r->audit_failed && !r->aborting && !s->no_retry &&
	    s->attempt <= s->def->retries.max && cond_listed(&s->def->retries, cond)) {
		schedule_retry(r, s, cond);
		if (s->state == S_WAITING)
			return;
	}
	if (r->interrupted) {
		s->state = S_FAILED;
		eng_save_step(r, s, "interrupted", NULL);
		return;
	}
	eng_fail_final(r, s);
}

/* A process of a running step has ended and its pipes are drained. */
void eng_proc_ended(struct run *r, struct step_rt *s)
{
	int ws = s->proc.wstatus, exit_code, sig = 0;
	const char *status, *cond;
	char condbuf[16];
	json_t *res;
	int given;

	al_proc_finish(&s->proc);
	s->running = 0;
	s->note_at_us = 0;
	r->running_n--;
	if (WIFEXITED(ws)) {
		exit_code = WEXITSTATUS(ws);
		status = exit_code == 0 ? "ok" : "failed";
		al_snprintf(condbuf, sizeof condbuf, "exit:%d", exit_code);
		cond = condbuf;
	} else {
		sig = WTERMSIG(ws);
		exit_code = 128 + sig;
		status = "killed";
		cond = "signal";
	}
	if (s->timed_out) {
		status = "timeout";
		cond = "timeout";
	}
	if (s->phase == 0) {
		res = json_pack("{s:o,s:o}", "stdout", cap_json(&s->proc.out), "stderr",
		                cap_json(&s->proc.err));
		if (s->timed_out)
			json_object_set_new(res, "reason", json_string("timeout"));
		/* What the kind has to say of it (await.ready, validate.result) */
		given = s->kind->ended != NULL && s->kind->ended(&s->ctx, res, exit_code, s->timed_out);
		if (strcmp(status, "ok") == 0 && s->def->verify != NULL && !r->interrupted) {
			struct al_err err = {0};
			s->main_end = res;
			s->phase = 1;
			if (spawn_phase(r, s, &err) == 0) {
				r->running_n++;
				return;
			}
			json_object_set_new(s->main_end, "verify",
			                    json_pack("{s:s}", "error", err.msg));
			al_snprintf(s->reason, sizeof s->reason, "verify: %s", err.msg);
			json_object_set_new(s->main_end, "reason", json_string(s->reason));
			res = s->main_end;
			s->main_end = NULL;
			finish_attempt(r, s, "failed", 0, 0, "verify", res);
			return;
		}
		if (strcmp(status, "ok") != 0 && !given)
			al_snprintf(s->reason, sizeof s->reason, "%s",
			         s->timed_out ? "timeout" : sig ? "killed by a signal" : condbuf);
		finish_attempt(r, s, status, exit_code, sig, cond, res);
		return;
	}
	/* The verify command's verdict decides the attempt. */
	res = s->main_end;
	s->main_end = NULL;
	json_object_set_new(res, "verify",
	                    json_pack("{s:i,s:o,s:s,s:o,s:o}", "exit", exit_code, "signal",
	                              sig ? json_integer(sig) : json_null(), "status", status,
	                              "stdout", cap_json(&s->proc.out), "stderr",
	                              cap_json(&s->proc.err)));
	if (strcmp(status, "ok") == 0) {
		finish_attempt(r, s, "ok", 0, 0, "", res);
		return;
	}
	al_snprintf(s->reason, sizeof s->reason, "verify %s (exit %d)", status, exit_code);
	json_object_set_new(res, "reason", json_string(s->reason));
	finish_attempt(r, s, "failed", 0, 0, s->timed_out ? "timeout" : "verify", res);
}
