/* run.c - a run from start to end (DESIGN.md §8): the pipeline loaded and
 * checked (plan.c), the audit log opened before anything happens, the
 * pipeline locked, what a crash left recovered (recover.c), run.start
 * made durable, the secrets pre-flight (guards.c), the loop
 * (schedule.c), then run.end and a seal.
 *
 * Every state change is written to the audit log first; when the log
 * cannot be written, no new step starts, running ones are left to
 * finish, and the run exits 4. runner/README.md describes the rules in
 * full. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <unistd.h>

static void today_utc(char out[11])
{
	time_t t = (time_t)(al_now_us() / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static int date_valid(const char *d)
{
	int64_t us;
	char ts[40];

	if (strlen(d) != 10)
		return 0;
	al_snprintf(ts, sizeof ts, "%sT00:00:00Z", d);
	return al_ts_parse(ts, &us, NULL) == 0;
}

static void make_id(struct run *r)
{
	time_t t = (time_t)(r->start_us / 1000000);
	unsigned char rnd[2];
	struct tm tm;
	char ts[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
		rnd[0] = (unsigned char)getpid();
		rnd[1] = (unsigned char)(r->start_us & 0xff);
	}
	if (fd >= 0)
		close(fd);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
	al_snprintf(r->id, sizeof r->id, "%s-%02x%02x", ts, rnd[0], rnd[1]);
}

/* The kernel's view of the clock; both null when it cannot be asked (a
 * seccomp filter refusing adjtimex): unknown is not "unsynchronised". */
static json_t *clock_json(void)
{
	struct timex tx = {0};
	int state = adjtimex(&tx);

	if (state < 0)
		return json_pack("{s:n,s:n}", "synced", "maxerror_us");
	return json_pack("{s:b,s:I}", "synced", state != TIME_ERROR && !(tx.status & STA_UNSYNC),
	                 "maxerror_us", (json_int_t)tx.maxerror);
}

/* The job that "succeeds" with nothing in it: when every declared
 * output this run committed is empty (0 bytes), counting the outputs
 * kinds report themselves (a validate step that accepted no record), an
 * alert zero-output says so. */
static void zero_output(struct run *r)
{
	size_t declared = 0, empty = 0;
	char msg[600] = "";

	if (r->audit_failed)
		return;
	for (size_t i = 0; i < r->n; i++) {
		const struct step_rt *s = &r->steps[i];
		if (s->state != S_OK || s->attempt == 0)
			continue; /* not run (or not committed) by this run */
		if (s->own_output) { /* its kind's own output (validate's records) */
			declared++;
			empty += s->own_empty[0] != '\0';
			if (s->own_empty[0] != '\0' && msg[0] == '\0')
				al_snprintf(msg, sizeof msg, "%s %s", s->def->id, s->own_empty);
		}
		for (size_t k = 0; k < s->def->outputs_n; k++) {
			size_t j;
			json_t *f;
			declared++;
			json_array_foreach(s->committed, j, f) {
				if (strcmp(json_string_value(json_object_get(f, "path")),
				           s->def->outputs[k].path) == 0 &&
				    json_integer_value(json_object_get(f, "size")) == 0) {
					empty++;
					if (msg[0] == '\0')
						al_snprintf(msg, sizeof msg, "%s/%s is empty", s->def->id,
						            s->def->outputs[k].path);
				}
			}
		}
	}
	if (declared > 0 && empty == declared) {
		char text[800];
		al_snprintf(text, sizeof text, "every declared output of this run is empty (%s)", msg);
		eng_alert(r, NULL, "zero-output", text, NULL);
	}
}

/* The run: its options, its date, its pipeline and steps, state.db. */
static int run_init(struct run *r, const struct al_run_opts *o, struct al_err *err)
{
	memset(r, 0, sizeof *r);
	r->o = o;
	r->alerts = json_array();
	r->sfd = r->lockfd = r->images_lockfd = -1;
	r->jobs = o->jobs > 0 ? o->jobs : 1;
	r->grace_ms = o->kill_grace_ms > 0 ? o->kill_grace_ms : AL_KILL_GRACE_MS;
	/* Every path of a run is built under HOME: a short HOME keeps them
	 * all far below PATH_MAX. */
	if (strlen(o->home) > 1024)
		return al_err_set(err, AL_EUSAGE, "%.64s...: the airlock home's path is over 1024 bytes",
		                  o->home);
	if (o->date != NULL) {
		if (!date_valid(o->date))
			return al_err_set(err, AL_EUSAGE, "--date %s: not a date (YYYY-MM-DD)", o->date);
		al_snprintf(r->date, sizeof r->date, "%s", o->date);
	} else {
		today_utc(r->date);
	}
	if (eng_load_target(r, err) < 0)
		return -1;
	eng_area(o->home, r->m->pipeline, r->date, r->source, r->out_dir, sizeof r->out_dir,
	         r->commit_key, sizeof r->commit_key);
	r->n = r->m->steps_n;
	r->steps = calloc(r->n ? r->n : 1, sizeof *r->steps);
	if (r->steps == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (size_t i = 0; i < r->n; i++) {
		r->steps[i].def = &r->m->steps[i];
		r->steps[i].idx = i;
		r->steps[i].exit_code = -1;
		r->steps[i].wait_on = r->m->steps[i].needs_n > 0 ? r->m->steps[i].needs[0] : 0;
	}
	if (eng_kinds(r, err) < 0 || eng_select_steps(r, err) < 0)
		return -1;
	return (r->st = al_state_open(o->home, err)) == NULL ? -1 : 0;
}

/* A run id unique against state.db (16 random bits a second: several
 * runs can start within one second). */
static int run_id(struct run *r, struct al_err *err)
{
	for (int tries = 0;; tries++) {
		struct al_run_row other;
		int taken;
		make_id(r);
		taken = al_state_run_get(r->st, r->id, &other, err);
		if (taken < 0)
			return -1;
		if (taken == 0)
			break;
		if (tries == 100)
			return al_err_set(err, AL_EENV, "cannot make a unique run id");
	}
	return 0;
}

/* runs/<run>/logs and runs/<run>/stage. */
static int run_dirs(struct run *r, struct al_err *err)
{
	char dir[PATH_MAX + 8];

	al_snprintf(r->run_dir, sizeof r->run_dir, "%s/runs/%s", r->o->home, r->id);
	al_snprintf(dir, sizeof dir, "%s/logs", r->run_dir);
	if (al_mkdirs(dir, 0700, err) < 0)
		return -1;
	al_snprintf(dir, sizeof dir, "%s/stage", r->run_dir);
	return al_mkdirs(dir, 0700, err);
}

/* signalfd: SIGCHLD, SIGINT, SIGTERM and SIGHUP come through the loop.
 * Orphans of a step (a grandchild whose parent died) become airlock's
 * children, not init's: they are reaped here, and never outlive a run
 * unseen. */
static int run_signals(struct run *r, sigset_t *oldmask, struct al_err *err)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, oldmask) < 0)
		return al_err_sys(err, "signalfd");
	if ((r->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		al_err_sys(err, "signalfd");
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		return -1;
	}
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	return 0;
}

/* Who signed the bundle this run runs, from its .install.json (written
 * when its signatures were verified): [{keyid, name}], so that a run's
 * export says it without the install's entries. A bundle installed
 * before names were kept gives its key ids with name null. */
static json_t *run_signers(const struct run *r)
{
	char path[PATH_MAX + 32], *text = NULL;
	json_t *info, *keys, *out = json_array(), *v;
	size_t len, i;

	al_snprintf(path, sizeof path, "%s/.install.json", r->bundle_dir);
	if (al_read_file(AT_FDCWD, path, 1 << 20, &text, &len, NULL) < 0)
		return out;
	info = json_loadb(text, len, 0, NULL);
	free(text);
	keys = json_object_get(info, "signer_keys");
	if (json_is_array(keys)) {
		json_array_foreach(keys, i, v) {
			json_array_append(out, v);
		}
	} else {
		json_t *ids = json_object_get(info, "signers");
		json_array_foreach(ids, i, v) {
			json_array_append_new(out, json_pack("{s:O,s:n}", "keyid", v, "name"));
		}
	}
	json_decref(info);
	return out;
}

/* The images the run's steps may run in: [{name, digest, tree_sha256}]. */
static json_t *run_images(const struct run *r)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(r->images, i, v) {
		json_array_append_new(out, json_pack("{s:O,s:O,s:O}", "name", json_object_get(v, "name"),
		                                     "digest", json_object_get(v, "digest"), "tree_sha256",
		                                     json_object_get(v, "tree_sha256")));
	}
	return out;
}

/* run.start, durable, then the run's rows in state.db. */
static int run_start(struct run *r, struct al_err *err)
{
	const struct al_run_opts *o = r->o;
	struct al_run_row row = {0};
	json_t *f;

	f = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:o,s:o,s:s,s:i}", "run", r->id, "pipeline",
	              r->m->pipeline, "version", (json_int_t)r->m->version, "manifest_sha256", r->msha,
	              "date", r->date, "resume_of", r->resume_of, "argv", json_array(), "clock",
	              clock_json(), "source", r->source, "jobs", r->jobs);
	json_object_set_new(f, "airlock", json_string(AL_VERSION));
	if (o->shard_n > 0)
		json_object_set_new(f, "shard", json_pack("{s:i,s:i}", "index", o->shard_i, "of", o->shard_n));
	if (r->resume_of[0] == '\0')
		json_object_set_new(f, "resume_of", json_null());
	for (int i = 0; i < o->argc; i++)
		json_array_append_new(json_object_get(f, "argv"), json_string(o->argv[i]));
	if (strcmp(r->source, "dir") == 0) {
		json_object_set_new(f, "unsigned", json_true());
		json_object_set_new(f, "source_path", json_string(r->bundle_dir));
	}
	if (o->allow_network)
		json_object_set_new(f, "allow_network", json_true());
	if (strcmp(r->source, "dir") != 0)
		json_object_set_new(f, "signers", run_signers(r));
	if (json_array_size(r->images) > 0)
		json_object_set_new(f, "images", run_images(r));
	if (eng_audit(r, "run.start", f, AL_AUDIT_SYNC) < 0) {
		*err = r->audit_err;
		return -1;
	}
	r->first_seq = al_audit_last_seq(r->log);
	al_snprintf(row.id, sizeof row.id, "%s", r->id);
	al_snprintf(row.pipeline, sizeof row.pipeline, "%s", r->m->pipeline);
	row.version = r->m->version;
	al_snprintf(row.manifest_sha256, sizeof row.manifest_sha256, "%s", r->msha);
	al_snprintf(row.date, sizeof row.date, "%s", r->date);
	al_snprintf(row.source, sizeof row.source, "%s", r->source);
	al_snprintf(row.source_path, sizeof row.source_path, "%s", o->target);
	al_snprintf(row.bundle_dir, sizeof row.bundle_dir, "%s", r->bundle_dir);
	al_snprintf(row.status, sizeof row.status, "running");
	al_snprintf(row.resume_of, sizeof row.resume_of, "%s", r->resume_of);
	row.pid = getpid();
	row.start_us = r->start_us;
	if (al_state_run_insert(r->st, &row, err) < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		eng_save_step(r, &r->steps[i], "pending", NULL);
	eng_tx_flush(r);
	/* A first run of a date has nothing to look up for each step. */
	r->no_commits = al_state_commits_count(r->st, r->commit_key, r->date, err) == 0;
	if (!o->quiet)
		al_oplog("info", r->id, NULL, 0, NULL, "run of %s version %lld for %s%s%s",
		         r->m->pipeline, (long long)r->m->version, r->date,
		         r->resume_of[0] ? ", resuming " : "", r->resume_of);
	return 0;
}

/* After the loop: run.end and a seal, state.db, the observers, the
 * stage removed; returns the exit code. */
static int run_finish(struct run *r)
{
	const char *status;
	struct al_err err = {0};
	int ok = 0, failed = 0, skipped = 0, code;
	json_t *f;

	for (size_t i = 0; i < r->n; i++) {
		switch (r->steps[i].state) {
		case S_OK: ok++; break;
		case S_FAILED: failed++; break;
		case S_SKIPPED: skipped++; break;
		default: break;
		}
	}
	status = r->interrupted ? "interrupted" : r->failed ? "failed" : "ok";
	if (r->audit_failed) {
		/* Nothing more can be audited: the next run records this one as
		 * interrupted once the log can be written again. */
		char msg[1200];
		al_oplog("error", r->id, NULL, 0, NULL,
		         "run stopped: the audit log cannot be written (%s)", r->audit_err.msg);
		/* Said where people look, since the log cannot say it: the
		 * summary (runs/RUN/summary.json), the metrics (alerts_total
		 * {kind="audit-halt"}) and the operator log. */
		al_snprintf(msg, sizeof msg, "the audit log cannot be written: the run stopped (%s)",
		            r->audit_err.msg);
		eng_alert_noted(r, NULL, "audit-halt", msg, 0);
		/* state.db keeps the run "running": the next run that can write
		 * the log records it as interrupted (runner/README.md) */
		eng_tx_flush(r);
		eng_observe(r, 1);
		return AL_EENV;
	}
	f = json_pack("{s:s,s:s,s:I,s:{s:i,s:i,s:i}}", "run", r->id, "status", status, "duration_ms",
	              (json_int_t)((al_now_us() - r->start_us) / 1000), "steps", "ok", ok, "failed",
	              failed, "skipped", skipped);
	if (r->cause[0] != '\0')
		json_object_set_new(f, "cause", json_string(r->cause));
	if (eng_audit(r, "run.end", f, AL_AUDIT_SYNC) < 0 || al_audit_seal(r->log, &r->audit_err) < 0) {
		al_oplog("error", r->id, NULL, 0, NULL, "the audit log cannot be written: %s",
		         r->audit_err.msg);
		return AL_EENV;
	}
	if (al_state_run_end(r->st, r->id, status, al_now_us(), &err) < 0 ||
	    al_state_meta_set(r->st, "last_seal_us", al_now_us(), &err) < 0)
		eng_state_warn(r, &err);
	eng_tx_flush(r);
	eng_observe(r, 1);
	/* what this run wrote, sealed, off the host now rather than at the
	 * next timer */
	eng_ship(r, 1);
	{
		char stage[PATH_MAX + 8];
		al_snprintf(stage, sizeof stage, "%s/stage", r->run_dir);
		(void)al_rm_tree(AT_FDCWD, stage);
	}
	code = r->interrupted ? AL_EINTR : r->failed ? AL_EFAIL : AL_OK;
	if (r->o->json) {
		json_t *sum = json_pack("{s:s,s:s,s:s,s:I,s:{s:i,s:i,s:i}}", "run", r->id, "pipeline",
		                        r->m->pipeline, "status", status, "duration_ms",
		                        (json_int_t)((al_now_us() - r->start_us) / 1000), "steps", "ok",
		                        ok, "failed", failed, "skipped", skipped);
		char *t = al_json_dump(sum);
		printf("%s\n", t);
		free(t);
		json_decref(sum);
	}
	if (!r->o->quiet || code != AL_OK)
		al_oplog(code == AL_OK ? "info" : "error", r->id, NULL, 0, NULL,
		         "run %s: %s (%d ok, %d failed, %d skipped)", r->id, status, ok, failed, skipped);
	return code;
}

/* Releases what run_init and the run took; reaps what the steps' groups
 * left (killed orphans), briefly, while SIGCHLD is still blocked. */
static void run_free(struct run *r, int masked, const sigset_t *oldmask)
{
	for (size_t i = 0; r->steps != NULL && i < r->n; i++) {
		json_decref(r->steps[i].inputs);
		json_decref(r->steps[i].main_end);
		json_decref(r->steps[i].committed);
		free(r->steps[i].items_path);
	}
	json_decref(r->alerts);
	json_decref(r->images);
	free(r->steps);
	if (masked) {
		for (int i = 0; i < 100; i++) {
			int ws;
			pid_t p = waitpid(-1, &ws, WNOHANG);
			if (p < 0)
				break;
			if (p == 0)
				usleep(1000);
		}
	}
	if (r->sfd >= 0)
		close(r->sfd);
	if (masked)
		sigprocmask(SIG_SETMASK, oldmask, NULL);
	if (r->lockfd >= 0)
		close(r->lockfd);
	if (r->images_lockfd >= 0)
		close(r->images_lockfd);
	eng_ship_end(r);
	if (r->st != NULL)
		eng_tx_flush(r);
	if (r->host_ready)
		al_confine_release(&r->host);
	al_state_close(r->st);
	al_manifest_free(r->m);
	free(r->mtext);
}

int al_run(const struct al_run_opts *o)
{
	struct run rr, *r = &rr;
	struct al_err err = {0};
	sigset_t oldmask;
	int code = AL_OK, masked = 0;

	if (run_init(r, o, &err) < 0)
		goto fail;
	if (o->dry_run) {
		code = eng_print_plan(r);
		goto out;
	}
	if (eng_preflight(r, &err) < 0)
		goto fail;
	/* The audit log before anything happens: no log, no run. */
	if ((r->log = al_audit_open(o->home, &err)) == NULL || eng_lock_pipeline(r, &err) < 0)
		goto fail;
	r->start_us = al_now_us();
	if (run_id(r, &err) < 0)
		goto fail;
	eng_lock_note(r);
	if (o->resume != NULL)
		al_snprintf(r->resume_of, sizeof r->resume_of, "%s", o->resume);
	if (eng_recover(r, &err) < 0) {
		if (r->audit_failed)
			err = r->audit_err;
		goto fail;
	}
	if (run_dirs(r, &err) < 0 || eng_images_load(r, &err) < 0 || eng_ship_check(r, &err) < 0 ||
	    run_signals(r, &oldmask, &err) < 0)
		goto fail;
	masked = 1;
	if (run_start(r, &err) < 0)
		goto fail;
	/* Secrets before the first step: a failure stops every step but
	 * those that report each run, which report it. */
	if (eng_secrets_check(r) < 0) {
		r->preflight_failed = 1;
		r->failed = 1;
	}
	eng_loop(r);
	zero_output(r);
	eng_tx_flush(r);
	code = run_finish(r);
	goto out;
fail:
	code = err.code ? err.code : AL_EFAIL;
	al_oplog("error", r->id, NULL, 0, NULL, "%s", err.msg);
out:
	if (r->log != NULL && al_audit_close(r->log, &err) < 0 && code == AL_OK) {
		al_oplog("error", r->id, NULL, 0, NULL, "%s", err.msg);
		code = AL_EENV;
	}
	run_free(r, masked, &oldmask);
	return code;
}
