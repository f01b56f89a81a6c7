/* recover.c - a pipeline's lock, and what a crash left (DESIGN.md §8,
 * "Crash safety"): runs of this pipeline still marked running whose
 * airlock died are recorded interrupted (run.end, unless the log has
 * it), their leftover processes killed, the commits state.db lost
 * rebuilt from the audit log's output.committed entries, and a commit
 * caught between output.staged and its rename finished or discarded;
 * the newest such run of the same manifest and date is the one this
 * run resumes. */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int eng_lock_pipeline(struct run *r, struct al_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 100], holder[512] = "";
	ssize_t n;

	al_snprintf(dir, sizeof dir, "%s/locks", r->o->home);
	if (al_mkdirs(dir, 0700, err) < 0)
		return -1;
	al_snprintf(path, sizeof path, "%s/%s.lock", dir, r->m->pipeline);
	r->lockfd = al_openat(AT_FDCWD, path, O_RDWR | O_CREAT, 0600);
	if (r->lockfd < 0)
		return al_err_sys(err, "%s", path);
	if (flock(r->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return al_err_sys(err, "%s: flock", path);
	n = pread(r->lockfd, holder, sizeof holder - 1, 0);
	holder[n > 0 ? n : 0] = '\0';
	holder[strcspn(holder, "\n")] = '\0';
	return al_err_set(err, AL_EBUSY, "pipeline %s is running already: %s (lock %s)",
	                  r->m->pipeline, holder[0] ? holder : "holder unknown", path);
}

void eng_lock_note(struct run *r)
{
	char buf[256], ts[AL_TS_LEN];
	int len;

	al_ts_format(r->start_us, ts);
	len = snprintf(buf, sizeof buf, "pid %d, run %s, since %s\n", (int)getpid(), r->id, ts);
	if (ftruncate(r->lockfd, 0) == 0)
		(void)!pwrite(r->lockfd, buf, (size_t)len, 0);
}

struct found {
	int n;
	json_t *runs;
};

static int collect_run(void *ctx, const struct al_run_row *row)
{
	struct found *f = ctx;
	json_array_append_new(f->runs, json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "id", row->id,
	                                         "manifest_sha256", row->manifest_sha256, "date",
	                                         row->date, "start_us", (json_int_t)row->start_us,
	                                         "pipeline", row->pipeline, "source", row->source));
	f->n++;
	return 0;
}

struct audit_hit {
	int n;
	char last[4096];
};

static void hit_row(void *ctx, const char *json)
{
	struct audit_hit *h = ctx;

	h->n++;
	al_snprintf(h->last, sizeof h->last, "%s", json);
}

static int audited(struct run *r, const char *run, const char *step, const char *event,
                   struct audit_hit *h)
{
	struct al_audit_query q = {.run = run, .step = step, .event = event};
	struct al_err err = {0};

	memset(h, 0, sizeof *h);
	if (al_audit_sync(r->log, &err) < 0 ||
	    al_audit_query(r->o->home, &q, hit_row, h, &err) < 0) {
		al_oplog("warn", r->id, NULL, 0, NULL, "audit index: %s", err.msg);
		return -1;
	}
	return h->n > 0;
}

/* Records in state.db a commit of run old that the audit log holds (or
 * is about to): step done, files in place. row: the step's row (state
 * set to ok here). */
static void record_commit(struct run *r, const char *key, const char *date, const char *old,
                          struct al_step_row *row, const char *msha, const char *isha,
                          json_t *files)
{
	struct al_commit_row c = {0};
	struct al_err err = {0};
	char *text = al_json_dump(files);

	al_snprintf(c.manifest_sha256, sizeof c.manifest_sha256, "%s", msha != NULL ? msha : "");
	al_snprintf(c.inputs_sha256, sizeof c.inputs_sha256, "%s", isha != NULL ? isha : "");
	al_snprintf(c.run, sizeof c.run, "%s", old);
	c.files = text;
	c.committed_us = al_now_us();
	al_snprintf(row->state, sizeof row->state, "ok");
	row->staged = NULL;
	if (text == NULL ||
	    al_state_commit_put(r->st, key, date, row->step, &c, old, row, &err) < 0)
		eng_state_warn(r, &err);
	free(text);
}

static void collect_line(void *ctx, const char *json)
{
	json_t *e = json_loads(json, 0, NULL);

	if (e != NULL)
		json_array_append_new(ctx, e);
}

/* Commits the audit log records for run old that state.db lost (it
 * batches its writes): recorded again when the files are still there. */
static void rebuild_commits(struct run *r, const char *old, const char *date, const char *outs,
                            const char *key)
{
	struct al_audit_query q = {.run = old, .event = "output.committed"};
	struct al_err err = {0};
	json_t *entries = json_array(), *e;
	size_t i;

	if (al_audit_sync(r->log, &err) < 0 ||
	    al_audit_query(r->o->home, &q, collect_line, entries, &err) < 0) {
		al_oplog("warn", r->id, NULL, 0, NULL, "audit index: %s", err.msg);
		json_decref(entries);
		return;
	}
	json_array_foreach(entries, i, e) {
		const char *step = json_string_value(json_object_get(e, "step"));
		const char *msha = json_string_value(json_object_get(e, "manifest_sha256"));
		const char *isha = json_string_value(json_object_get(e, "inputs_sha256"));
		json_t *files = json_object_get(e, "files");
		struct al_commit_row have;
		struct al_step_row row = {0};
		char dest[PATH_MAX * 2], why[1024];
		int found;
		if (step == NULL || msha == NULL || isha == NULL || !json_is_array(files))
			continue;
		found = al_state_commit_get(r->st, key, date, step, &have, &err);
		if (found == 1) {
			int same = strcmp(have.run, old) == 0;
			free(have.files);
			if (same)
				continue;
		}
		al_snprintf(dest, sizeof dest, "%s/%s", outs, step);
		if (!eng_commit_intact(NULL, dest, files, NULL, why, sizeof why))
			continue;
		al_snprintf(row.step, sizeof row.step, "%s", step);
		row.idx = (int)al_manifest_step(r->m, step);
		row.exit_code = 0;
		record_commit(r, key, date, old, &row, msha, isha, files);
	}
	json_decref(entries);
}

struct recover_ctx {
	struct run *r;
	const char *old;
	const char *pipeline, *date;
	int ok, failed, skipped;
	char outs[PATH_MAX], key[96]; /* eng_area of the old run */
};

static int recover_step(void *ctx, const struct al_step_row *s)
{
	struct recover_ctx *rc = ctx;
	struct run *r = rc->r;
	char dest[PATH_MAX * 2], why[1024] = "";
	json_t *staged, *files;

	if (strcmp(s->state, "ok") == 0)
		rc->ok++;
	else if (strcmp(s->state, "failed") == 0)
		rc->failed++;
	else if (strcmp(s->state, "skipped") == 0)
		rc->skipped++;
	if (strcmp(s->state, "staged") != 0 || s->staged == NULL)
		return 0;
	al_snprintf(dest, sizeof dest, "%s/%s", rc->outs, s->step);
	staged = json_loads(s->staged, 0, NULL);
	files = json_object_get(staged, "files");
	if (files != NULL && eng_commit_intact(NULL, dest, files, NULL, why, sizeof why)) {
		/* The rename happened: the commit is completed, and audited once. */
		struct audit_hit h;
		struct al_step_row row = *s;
		const char *msha = json_string_value(json_object_get(staged, "manifest_sha256"));
		const char *isha = json_string_value(json_object_get(staged, "inputs_sha256"));
		if (audited(r, rc->old, s->step, "output.committed", &h) == 0)
			(void)eng_audit(r, "output.committed",
			            json_pack("{s:s,s:s,s:O,s:s,s:s?,s:s?,s:b}", "run", rc->old, "step",
			                      s->step, "files", files, "dest", dest, "manifest_sha256",
			                      msha, "inputs_sha256", isha, "recovered", 1),
			            AL_AUDIT_SYNC);
		record_commit(r, rc->key, rc->date, rc->old, &row, msha, isha, files);
		rc->ok++;
		al_oplog("info", r->id, s->step, 0, NULL,
		         "run %s had promoted this step's outputs when it was interrupted: recorded as committed",
		         rc->old);
	} else {
		(void)eng_audit(r, "output.discarded",
		            json_pack("{s:s,s:s,s:s}", "run", rc->old, "step", s->step, "reason",
		                      "staged but not promoted when the run was interrupted"),
		            0);
	}
	json_decref(staged);
	return 0;
}

/* Processes a dead run's steps left behind (PR_SET_PDEATHSIG reaches
 * only a step's own process, not its children): found by the
 * AIRLOCK_RUN_ID in their environment, and killed. Returns how many. */
static int kill_leftovers(const char *run)
{
	char needle[96], path[64], *buf = malloc(1 << 16);
	size_t nlen;
	struct dirent *de;
	DIR *d = opendir("/proc");
	int killed = 0;

	if (d == NULL || buf == NULL) {
		if (d != NULL)
			closedir(d);
		free(buf);
		return 0;
	}
	al_snprintf(needle, sizeof needle, "AIRLOCK_RUN_ID=%s", run);
	nlen = strlen(needle) + 1; /* with its NUL */
	while ((de = readdir(d)) != NULL) {
		ssize_t n;
		int fd;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		al_snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, (1 << 16) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (ssize_t i = 0; i + (ssize_t)nlen <= n + 1; i++) {
			if ((i == 0 || buf[i - 1] == '\0') && memcmp(buf + i, needle, nlen) == 0) {
				if (kill((pid_t)strtol(de->d_name, NULL, 10), SIGKILL) == 0)
					killed++;
				break;
			}
		}
	}
	closedir(d);
	free(buf);
	return killed;
}

/* Runs of this pipeline still marked running: their airlock is dead
 * (the lock is ours). Each is recorded interrupted; the newest of the
 * same manifest and date is the one this run resumes. */
int eng_recover(struct run *r, struct al_err *err)
{
	struct found f = {0, json_array()};
	size_t i;
	json_t *o;

	if (al_state_runs(r->st, r->m->pipeline, "running", 0, collect_run, &f, err) < 0) {
		json_decref(f.runs);
		return -1;
	}
	json_array_foreach(f.runs, i, o) {
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *date = json_string_value(json_object_get(o, "date"));
		struct recover_ctx rc = {r, id, r->m->pipeline, date, 0, 0, 0, "", ""};
		struct audit_hit h;
		int64_t start = json_integer_value(json_object_get(o, "start_us"));
		char stage[PATH_MAX * 2];
		int leftovers = kill_leftovers(id);
		if (leftovers > 0)
			al_oplog("warn", r->id, NULL, 0, NULL,
			         "killed %d process%s left running by interrupted run %s", leftovers,
			         leftovers == 1 ? "" : "es", id);
		eng_area(r->o->home, r->m->pipeline, date,
		         json_string_value(json_object_get(o, "source")), rc.outs, sizeof rc.outs, rc.key,
		         sizeof rc.key);
		rebuild_commits(r, id, date, rc.outs, rc.key);
		if (al_state_steps(r->st, id, recover_step, &rc, err) < 0)
			break;
		if (audited(r, id, NULL, "run.end", &h) == 1) {
			/* It ended, and said so; only state.db missed it. */
			json_t *e = json_loads(h.last, 0, NULL);
			const char *status = json_string_value(json_object_get(e, "status"));
			(void)al_state_run_end(r->st, id, status != NULL ? status : "interrupted",
			                       al_now_us(), err);
			json_decref(e);
		} else {
			if (eng_audit(r, "run.end",
			          json_pack("{s:s,s:s,s:I,s:{s:i,s:i,s:i},s:s,s:i}", "run", id, "status",
			                    "interrupted", "duration_ms",
			                    (json_int_t)((al_now_us() - start) / 1000), "steps", "ok", rc.ok,
			                    "failed", rc.failed, "skipped", rc.skipped, "recorded_by", r->id,
			                    "killed_leftovers", leftovers),
			          AL_AUDIT_SYNC) < 0)
				break;
			if (al_state_run_end(r->st, id, "interrupted", al_now_us(), err) < 0)
				eng_state_warn(r, err);
			al_oplog("warn", r->id, NULL, 0, NULL, "run %s was interrupted (airlock died): recorded",
			         id);
		}
		al_snprintf(stage, sizeof stage, "%s/runs/%s/stage", r->o->home, id);
		(void)al_rm_tree(AT_FDCWD, stage);
		if (r->resume_of[0] == '\0' &&
		    strcmp(json_string_value(json_object_get(o, "manifest_sha256")), r->msha) == 0 &&
		    strcmp(date, r->date) == 0)
			al_snprintf(r->resume_of, sizeof r->resume_of, "%s", id);
	}
	json_decref(f.runs);
	return r->audit_failed ? -1 : 0;
}
