/* plan.c - what a run is made of, before anything runs: the pipeline
 * (an installed one, a bundle or a directory), the steps selected by
 * --only/--from/--force and their kinds, the checks that must hold
 * before the first step (expiry, the bundle's files, the network
 * namespace, each kind's own), a dry run's plan, and the names a step
 * is known by (its idempotency key, its fan_out items, its argv
 * resolved). */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int eng_load_target(struct run *r, struct al_err *err)
{
	const struct al_run_opts *o = r->o;
	struct stat st;
	unsigned char sum[AL_SHA256_LEN];
	char path[PATH_MAX];

	if (stat(o->target, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!o->unsigned_ok)
			return al_err_set(err, AL_EUSAGE,
			                  "%s: a pipeline directory is unsigned: give --unsigned to run it "
			                  "(the audit marks the run \"unsigned\"), or pack, sign and "
			                  "install it",
			                  o->target);
		if (realpath(o->target, r->bundle_dir) == NULL)
			return al_err_sys(err, "%s", o->target);
		if (al_pipeline_dir_manifest(r->bundle_dir, &r->mtext, &r->mlen, &r->m, err) < 0)
			return -1;
		al_snprintf(r->source, sizeof r->source, "dir");
	} else if (o->bundle_dir != NULL) {
		/* A bundle the command layer verified and extracted just now. */
		char mpath[PATH_MAX + 16];
		al_snprintf(r->bundle_dir, sizeof r->bundle_dir, "%s", o->bundle_dir);
		al_snprintf(mpath, sizeof mpath, "%s/manifest.json", o->bundle_dir);
		if (al_read_file(AT_FDCWD, mpath, AL_MANIFEST_MAX, &r->mtext, &r->mlen, err) < 0)
			return -1;
		r->m = al_manifest_parse(r->mtext, r->mlen, mpath, AL_MANIFEST_BUNDLE, err);
		if (r->m == NULL)
			return -1;
		al_snprintf(r->source, sizeof r->source, "bundle");
	} else {
		r->m = al_pipeline_load(o->home, o->target, &r->mtext, &r->mlen, err);
		if (r->m == NULL)
			return -1;
		al_snprintf(path, sizeof path, "%s/pipelines/%s", o->home, o->target);
		if (realpath(path, r->bundle_dir) == NULL)
			return al_err_sys(err, "%s", path);
		al_snprintf(r->source, sizeof r->source, "installed");
	}
	al_sha256_buf(r->mtext, r->mlen, sum);
	al_hex(sum, sizeof sum, r->msha);
	return 0;
}

/* An installed bundle's files are checked again before each run: a file
 * changed on the host since install is refused, named. */
static int check_files(struct run *r, struct al_err *err)
{
	for (size_t i = 0; i < r->m->files_n; i++) {
		const struct al_file *f = &r->m->files[i];
		char full[PATH_MAX * 2];
		unsigned char sum[AL_SHA256_LEN];
		uint64_t size;
		al_snprintf(full, sizeof full, "%s/%s", r->bundle_dir, f->path);
		if (al_sha256_file(full, sum, &size, err) < 0) {
			err->code = AL_EVERIFY;
			return -1;
		}
		if (size != f->size || memcmp(sum, f->sha256, sizeof sum) != 0)
			return al_err_set(err, AL_EVERIFY,
			                  "%s: differs from the manifest (sha256 or size): the installed "
			                  "pipeline was changed on this host; reinstall its bundle",
			                  full);
	}
	return 0;
}

static int in_list(const char **list, const char *id)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], id) == 0)
			return 1;
	return 0;
}

int eng_select_steps(struct run *r, struct al_err *err)
{
	const struct al_run_opts *o = r->o;
	long from = -1;

	for (size_t i = 0; o->only != NULL && o->only[i] != NULL; i++)
		if (al_manifest_step(r->m, o->only[i]) < 0)
			return al_err_set(err, AL_EUSAGE, "--only %s: no such step in %s", o->only[i],
			                  r->m->pipeline);
	for (size_t i = 0; o->force != NULL && o->force[i] != NULL; i++)
		if (al_manifest_step(r->m, o->force[i]) < 0)
			return al_err_set(err, AL_EUSAGE, "--force %s: no such step in %s", o->force[i],
			                  r->m->pipeline);
	if (o->from != NULL && (from = al_manifest_step(r->m, o->from)) < 0)
		return al_err_set(err, AL_EUSAGE, "--from %s: no such step in %s", o->from,
		                  r->m->pipeline);
	for (size_t i = 0; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		s->selected = o->only == NULL || in_list(o->only, s->def->id);
		s->forced = in_list(o->force, s->def->id) || (long)i == from;
		/* --from: the step and everything that depends on it run again. */
		for (size_t k = 0; from >= 0 && !s->forced && k < s->def->needs_n; k++)
			if (r->steps[s->def->needs[k]].forced)
				s->forced = 1;
	}
	return 0;
}

/* What the steps' confinement needs before a run starts: the host probe
 * (when a step may be confined), the steps' identity, every strict step
 * able to get all its layers, every widened system call known. */
static int preflight_confine(struct run *r, struct al_err *err)
{
	struct stat st;
	int any = 0;

	for (size_t i = 0; i < r->n; i++)
		any |= !(r->steps[i].kind->flags & AL_KIND_BUILTIN);
	if (!any)
		return 0;
	if (stat(r->o->home, &st) < 0)
		return al_err_sys(err, "%s", r->o->home);
	r->home_uid = st.st_uid;
	if (eng_step_identity(r, err) < 0)
		return -1;
	if (!r->o->unconfined && eng_confine_prepare(r, err) < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		const struct step_rt *s = &r->steps[i];
		if (eng_strict_check(r, s, err) < 0 || eng_mounts_check(r, s, err) < 0)
			return -1;
		if (s->def->image != NULL && s->selected) {
			char why[400];
			if (!eng_confine_any(r, why, sizeof why))
				return al_err_set(err, AL_EENV,
				                  "step %s runs in image %s, which only a confined step can: %s "
				                  "(airlock doctor says what this host can give)",
				                  s->def->id, s->def->image, why);
			/* as root the view needs none, but the image's User does */
			if (!r->host.have[AL_CONFINE_USERNS])
				return al_err_set(err, AL_EENV,
				                  "step %s runs in image %s as its User, inside a user "
				                  "namespace, and this host gives none: %s (airlock doctor "
				                  "says what this host can give)",
				                  s->def->id, s->def->image, r->host.why[AL_CONFINE_USERNS]);
		}
		if (s->def->syscalls != NULL && al_confine_allow_check(s->def->syscalls, err) < 0) {
			al_err_prefix(err, "step %s: syscalls", s->def->id);
			return -1;
		}
	}
	return 0;
}

/* Problems that must stop a run before it starts. */
int eng_preflight(struct run *r, struct al_err *err)
{
	int need_netns = 0, fans = 0;

	for (size_t i = 0; i < r->m->steps_n; i++) {
		const struct al_step *s = &r->m->steps[i];
		const struct al_kind *kind = r->steps[i].kind;
		if (kind->check != NULL && kind->check(&r->steps[i].ctx, err) < 0) {
			al_err_prefix(err, "step %s", s->id);
			return -1;
		}
		if (!s->network_host)
			need_netns = 1;
		fans += json_object_get(s->json, "fan_out") != NULL;
	}
	if (r->o->shard_n > 0 && fans == 0)
		return al_err_set(err, AL_EUSAGE, "--shard %d/%d: no step of %s fans out (fan_out)",
		                  r->o->shard_i, r->o->shard_n, r->m->pipeline);
	if (need_netns && !r->o->allow_network && al_netns_probe(err) < 0) {
		al_err_prefix(err, "steps with network: none need a new network namespace, and this "
		                   "host refuses one (give --allow-network to run them with the host's "
		                   "network, audited)");
		return -1;
	}
	if (r->m->expires_us != 0 && r->m->expires_us <= al_now_us()) {
		char ts[AL_TS_LEN];
		al_ts_format(r->m->expires_us, ts);
		return al_err_set(err, AL_EVERIFY, "pipeline %s version %lld expired at %s: refused",
		                  r->m->pipeline, (long long)r->m->version, ts);
	}
	if (strcmp(r->source, "dir") != 0 && check_files(r, err) < 0)
		return -1;
	return preflight_confine(r, err);
}

int eng_print_plan(struct run *r)
{
	json_t *plan = json_array();

	for (size_t i = 0; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		struct al_commit_row c;
		struct al_err err = {0};
		const char *what = "run", *why = "";
		char buf[1200] = "";
		int up = 0;
		for (size_t k = 0; k < s->def->needs_n; k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(plan, s->def->needs[k]),
			                                             "action")),
			           "skip") != 0)
				up = 1;
		if (!s->selected) {
			what = "skip";
			why = "not selected (--only)";
		} else if (s->forced) {
			why = "forced";
		} else if (up) {
			why = "an upstream step runs";
		} else if (al_state_commit_get(r->st, r->commit_key, r->date, s->def->id, &c, &err) == 1) {
			json_t *files = json_loads(c.files, 0, NULL);
			char dir[PATH_MAX * 2];
			al_snprintf(dir, sizeof dir, "%s/%s", r->out_dir, s->def->id);
			if (strcmp(c.manifest_sha256, r->msha) != 0) {
				why = "committed by another manifest";
			} else if (files != NULL && eng_commit_intact(NULL, dir, files, NULL, buf, sizeof buf)) {
				what = "skip";
				why = "already committed";
			} else {
				why = buf;
			}
			json_decref(files);
			free(c.files);
		} else {
			why = "not committed for this date";
		}
		json_array_append_new(plan, json_pack("{s:s,s:s,s:s}", "step", s->def->id, "action", what,
		                                      "why", why));
	}
	if (r->o->json) {
		char *t = al_json_dump(plan);
		printf("%s\n", t);
		free(t);
	} else {
		size_t i;
		json_t *p;
		printf("dry run of %s version %lld for %s (nothing is run or recorded):\n",
		       r->m->pipeline, (long long)r->m->version, r->date);
		json_array_foreach(plan, i, p) {
			printf("  %-24s %-5s %s\n", json_string_value(json_object_get(p, "step")),
			       json_string_value(json_object_get(p, "action")),
			       json_string_value(json_object_get(p, "why")));
		}
	}
	json_decref(plan);
	return AL_OK;
}
