/* steps.c - a manifest's steps (FORMAT.md, "Steps"): each step's
 * fields by allow-list, its kind's own members, limits, outputs, env and
 * retries, the defaults they start from, and the rules over them all:
 * every need and STEP:FILE an earlier step, an acyclic DAG, no skip that
 * three steps depend on. Errors name the field by its JSON path. */
#include "manifests/parse.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- steps ---- */

static const char *const kinds[] = {"exec", "await", "validate", "notify", NULL};

const char *al_step_kind_name(enum al_step_kind kind)
{
	return (size_t)kind < sizeof kinds / sizeof kinds[0] - 1 ? kinds[kind] : "?";
}
static const char *const failures[] = {"abort", "skip", "alert", NULL};
static const char *const whens[] = {"success", "always", NULL};

static int parse_retries(struct vctx *v, json_t *obj, const char *path, struct al_retries *r)
{
	static const char *const allowed[] = {"max", "base", "cap", "on", NULL};
	json_t *on, *c;
	char p[512], ep[520];
	int64_t max = r->max;
	size_t i;

	if (obj == NULL)
		return 0;
	if (mf_only(v, obj, path, allowed) < 0 || mf_want_int(v, obj, "max", path, 0, 0, 100, &max) < 0 ||
	    mf_want_duration(v, obj, "base", path, 0, &r->base_ms) < 0 ||
	    mf_want_duration(v, obj, "cap", path, 0, &r->cap_ms) < 0)
		return -1;
	r->max = (int)max;
	if (r->cap_ms < r->base_ms) {
		mf_child(p, sizeof p, path, "cap");
		return bad(v, p, "smaller than base");
	}
	on = json_object_get(obj, "on");
	if (on == NULL)
		return 0;
	mf_child(p, sizeof p, path, "on");
	if (!json_is_array(on) || json_array_size(on) == 0)
		return bad(v, p, "must be a non-empty array (exit:N, timeout, signal, verify)");
	r->on = 0;
	r->exit_n = 0;
	json_array_foreach(on, i, c) {
		const char *s = json_string_value(c);
		char *end;
		long code;
		mf_elem(ep, sizeof ep, p, i);
		if (s == NULL)
			return bad(v, ep, "must be a string");
		if (strcmp(s, "timeout") == 0)
			r->on |= AL_RETRY_ON_TIMEOUT;
		else if (strcmp(s, "signal") == 0)
			r->on |= AL_RETRY_ON_SIGNAL;
		else if (strcmp(s, "verify") == 0)
			r->on |= AL_RETRY_ON_VERIFY;
		else if (strncmp(s, "exit:", 5) == 0 && s[5] >= '0' && s[5] <= '9' &&
		         (code = strtol(s + 5, &end, 10)) >= 1 && code <= 255 && *end == '\0' &&
		         r->exit_n < sizeof r->exit_codes / sizeof r->exit_codes[0]) {
			r->on |= AL_RETRY_ON_EXIT;
			r->exit_codes[r->exit_n++] = (int)code;
		} else {
			return bad(v, ep, "\"%s\": not a retry condition (exit:N with N 1-255, timeout, signal, verify)", s);
		}
	}
	return 0;
}

static int parse_limits(struct vctx *v, json_t *obj, const char *path, struct al_step *st)
{
	static const char *const allowed[] = {"cpu", "cpus", "memory", "files", "procs", NULL};
	const char *mem;
	char p[512];
	uint64_t bytes;
	json_t *cpus;

	if (obj == NULL)
		return 0;
	if (mf_only(v, obj, path, allowed) < 0)
		return -1;
	if ((cpus = json_object_get(obj, "cpus")) != NULL) {
		/* a share of the machine (cgroup cpu.max), not a total like "cpu" */
		double n = json_is_number(cpus) ? json_number_value(cpus) : -1;
		mf_child(p, sizeof p, path, "cpus");
		if (!(n >= 0.01 && n <= 1024))
			return bad(v, p, "not a number of CPUs from 0.01 to 1024 (0.5, 2)");
		st->limit_cpus_milli = (int64_t)(n * 1000 + 0.5);
	}
	if (json_object_get(obj, "cpu") != NULL) {
		int64_t ms = 0;
		if (mf_want_duration(v, obj, "cpu", path, 1, &ms) < 0)
			return -1;
		st->limit_cpu_s = (ms + 999) / 1000;
	}
	if (mf_want_string(v, obj, "memory", path, 0, &mem) < 0 ||
	    mf_want_int(v, obj, "files", path, 0, 16, 1 << 20, &st->limit_files) < 0 ||
	    mf_want_int(v, obj, "procs", path, 0, 1, 1 << 20, &st->limit_procs) < 0)
		return -1;
	if (mem != NULL) {
		mf_child(p, sizeof p, path, "memory");
		if (al_size_parse(mem, &bytes) < 0 || bytes < (1 << 20))
			return bad(v, p, "\"%s\": not a size of at least 1M (512M, 2G)", mem);
		st->limit_memory = (int64_t)bytes;
	}
	return 0;
}

static int parse_outputs(struct vctx *v, json_t *arr, const char *path, struct al_step *st)
{
	static const char *const allowed[] = {"path", "min_bytes", "min_rows", NULL};
	json_t *o;
	char ep[520], p[600];
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > 10000)
		return bad(v, path, "must be an array of outputs");
	st->outputs = calloc(json_array_size(arr) + 1, sizeof *st->outputs);
	if (st->outputs == NULL)
		return al_err_sys(v->err, "cannot allocate memory");
	json_array_foreach(arr, i, o) {
		struct al_output *out = &st->outputs[i];
		const char *why;
		mf_elem(ep, sizeof ep, path, i);
		out->min_bytes = out->min_rows = -1;
		if (mf_only(v, o, ep, allowed) < 0 || mf_want_string(v, o, "path", ep, 1, &out->path) < 0 ||
		    mf_want_int(v, o, "min_bytes", ep, 0, 0, INT64_MAX, &out->min_bytes) < 0 ||
		    mf_want_int(v, o, "min_rows", ep, 0, 0, INT64_MAX, &out->min_rows) < 0)
			return -1;
		if ((why = mf_path_problem(out->path)) != NULL) {
			mf_child(p, sizeof p, ep, "path");
			return bad(v, p, "\"%s\": %s", out->path, why);
		}
		st->outputs_n++;
	}
	return 0;
}

static const char *const isolations[] = {"default", "strict", NULL};

/* "mounts": [{"host", "at", "mode"}]: host paths a step needs, each
 * where the step sees it (under /airlock/mnt/) and whether it may write
 * there. Normalised, no "..", no two at one place or one inside
 * another: the view is built without following a link, and a nested
 * mount would be made through the outer one, in a host directory. */
static int parse_mounts(struct vctx *v, json_t *arr, const char *path, struct al_step *st)
{
	static const char *const fields[] = {"host", "at", "mode", NULL};
	static const char *const modes[] = {"ro", "rw", NULL};
	static const char prefix[] = "/airlock/mnt/";
	char ep[600], p[640];
	json_t *o;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 64)
		return bad(v, path, "must be an array of 1 to 64 {host, at, mode}");
	st->mounts = calloc(json_array_size(arr), sizeof *st->mounts);
	if (st->mounts == NULL)
		return al_err_sys(v->err, "cannot allocate memory");
	json_array_foreach(arr, i, o) {
		struct al_mount *mt = &st->mounts[i];
		int mode = 0;
		mf_elem(ep, sizeof ep, path, i);
		if (!json_is_object(o))
			return bad(v, ep, "must be {\"host\": PATH, \"at\": PATH, \"mode\": \"ro\" or \"rw\"}");
		if (mf_only(v, o, ep, fields) < 0 || mf_want_string(v, o, "host", ep, 1, &mt->host) < 0 ||
		    mf_want_string(v, o, "at", ep, 1, &mt->at) < 0 ||
		    mf_want_enum(v, o, "mode", ep, modes, &mode) < 0)
			return -1;
		mt->rw = mode == 1;
		mf_child(p, sizeof p, ep, "host");
		if (mt->host[0] != '/' || (mt->host[1] != '\0' && mf_path_problem(mt->host + 1) != NULL))
			return bad(v, p, "\"%s\": an absolute, normalised path without \"..\"", mt->host);
		mf_child(p, sizeof p, ep, "at");
		if (strncmp(mt->at, prefix, sizeof prefix - 1) != 0 ||
		    mf_path_problem(mt->at + sizeof prefix - 1) != NULL)
			return bad(v, p, "\"%s\": a normalised path under %s, without \"..\"", mt->at,
			           prefix);
		for (size_t k = 0; k < i; k++) {
			size_t a = strlen(st->mounts[k].at), b = strlen(mt->at);
			size_t n = a < b ? a : b;
			if (strncmp(st->mounts[k].at, mt->at, n) == 0 &&
			    (a == b || (a < b ? mt->at[n] : st->mounts[k].at[n]) == '/'))
				return bad(v, p, "\"%s\": at or inside mounts[%zu]'s %s", mt->at, k,
				           st->mounts[k].at);
		}
		st->mounts_n++;
	}
	return 0;
}

/* "syscalls": system calls a step may make although airlock's filter
 * refuses them, by name only (the engine refuses a name its filter does
 * not know). */
static int parse_syscalls(struct vctx *v, json_t *obj, const char *path, struct al_step *st)
{
	char sp[600], p[640];
	size_t i;
	json_t *n;

	if (mf_want_argv(v, obj, "syscalls", path, 0, &st->syscalls) < 0)
		return -1;
	mf_child(sp, sizeof sp, path, "syscalls");
	json_array_foreach(json_object_get(obj, "syscalls"), i, n) {
		const char *s = json_string_value(n);
		mf_elem(p, sizeof p, sp, i);
		if (!mf_name_ok(s, 64, 0))
			return bad(v, p, "\"%s\": not a system call's name", s);
	}
	return 0;
}

/* Allowed members by kind, beyond the ones every step has. */
static const char *const common_fields[] = {"id", "kind", "needs", "when", "timeout", "retries",
                                            "on_failure", NULL};
static const char *const exec_fields[] = {"run", "resource", "env", "secrets", "network", "limits",
                                          "verify", "outputs", "fan_out", "isolation", "mounts",
                                          "syscalls", "image", NULL};
static const char *const notify_fields[] = {"run", "resource", "env", "secrets", "network",
                                            "limits", "verify", "isolation", "mounts",
                                            "syscalls", "image", NULL};
static const char *const await_fields[] = {"path", "marker", "max_age", "poll", NULL};
static const char *const validate_fields[] = {"input", "schema", "max_reject", "output", NULL};

static int step_fields(struct vctx *v, json_t *obj, const char *path, enum al_step_kind kind)
{
	const char *const *extra = kind == AL_KIND_EXEC     ? exec_fields
	                           : kind == AL_KIND_NOTIFY ? notify_fields
	                           : kind == AL_KIND_AWAIT  ? await_fields
	                                                    : validate_fields;
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		int ok = 0;
		char p[512];
		(void)val;
		for (size_t i = 0; common_fields[i] != NULL && !ok; i++)
			ok = strcmp(key, common_fields[i]) == 0;
		for (size_t i = 0; extra[i] != NULL && !ok; i++)
			ok = strcmp(key, extra[i]) == 0;
		if (!ok) {
			mf_child(p, sizeof p, path, key);
			return bad(v, p, "unknown field for a step of kind %s (a typo? nothing unknown is ignored)",
			           kinds[kind]);
		}
	}
	return 0;
}

/* Environment names the step may set: not airlock's own, not PATH, HOME,
 * TZ, LC_ALL, and nothing the dynamic loader reads. */
static int env_name_ok(const char *k)
{
	static const char *const denied[] = {"PATH", "HOME", "TZ", "LC_ALL", NULL};

	if (k[0] == '\0' || !((k[0] >= 'A' && k[0] <= 'Z') || k[0] == '_'))
		return 0;
	for (const char *p = k; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	for (int i = 0; denied[i] != NULL; i++)
		if (strcmp(k, denied[i]) == 0)
			return 0;
	return strncmp(k, "AIRLOCK_", 8) != 0 && strncmp(k, "LD_", 3) != 0;
}

static int parse_env(struct vctx *v, json_t *env, const char *path)
{
	const char *k;
	json_t *val;
	char p[512];

	if (env == NULL)
		return 0;
	if (!json_is_object(env))
		return bad(v, path, "must be an object of strings");
	json_object_foreach(env, k, val) {
		mf_child(p, sizeof p, path, k);
		if (!env_name_ok(k))
			return bad(v, p, "not a name a step may set ([A-Z_][A-Z0-9_]*; not PATH, HOME, TZ, LC_ALL, LD_*, AIRLOCK_*)");
		if (!json_is_string(val) || strlen(json_string_value(val)) != json_string_length(val))
			return bad(v, p, "must be a string without NUL");
	}
	return 0;
}

static int parse_kind_fields(struct vctx *v, json_t *obj, const char *path, struct al_step *st)
{
	const char *s;
	char p[512];
	int64_t ms;

	if (st->kind == AL_KIND_AWAIT) {
		static const char *const poll_fields[] = {"every", "then", "after", NULL};
		json_t *poll = json_object_get(obj, "poll");
		if (mf_want_string(v, obj, "path", path, 1, &s) < 0)
			return -1;
		if (s[0] != '/' || strstr(s, "/../") != NULL ||
		    (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "/..") == 0)) {
			mf_child(p, sizeof p, path, "path");
			return bad(v, p, "\"%s\": an absolute path without \"..\"", s);
		}
		if (mf_want_string(v, obj, "marker", path, 0, &s) < 0 ||
		    mf_want_duration(v, obj, "max_age", path, 0, &ms) < 0)
			return -1;
		if (s != NULL && (strchr(s, '/') != NULL || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)) {
			mf_child(p, sizeof p, path, "marker");
			return bad(v, p, "\"%s\": a file name, without '/'", s);
		}
		if (poll != NULL) {
			mf_child(p, sizeof p, path, "poll");
			if (mf_only(v, poll, p, poll_fields) < 0 || mf_want_duration(v, poll, "every", p, 1, &ms) < 0 ||
			    mf_want_duration(v, poll, "then", p, 0, &ms) < 0 ||
			    mf_want_duration(v, poll, "after", p, 0, &ms) < 0)
				return -1;
		}
		return 0;
	}
	if (st->kind == AL_KIND_VALIDATE) {
		const char *max;
		if (mf_want_string(v, obj, "input", path, 1, &s) < 0 ||
		    mf_want_string(v, obj, "schema", path, 1, &s) < 0 ||
		    mf_want_string(v, obj, "output", path, 1, &s) < 0 ||
		    mf_want_string(v, obj, "max_reject", path, 0, &max) < 0)
			return -1;
		if (strchr(s, '/') != NULL || mf_path_problem(s) != NULL) {
			mf_child(p, sizeof p, path, "output");
			return bad(v, p, "\"%s\": a file name, without '/'", s);
		}
		if (max != NULL) {
			/* The step's own parser: what installs must also run. */
			uint64_t value;
			int percent;
			mf_child(p, sizeof p, path, "max_reject");
			if (al_max_reject_parse(max, &percent, &value, NULL) < 0)
				return bad(v, p, "\"%s\": a count (10) or a percentage (5%%)", max);
		}
		return 0;
	}
	/* with an image, no run: its Entrypoint and Cmd (checked at run time) */
	if (mf_want_argv(v, obj, "run", path, st->image == NULL, &st->run) < 0)
		return -1;
	if (json_object_get(obj, "fan_out") != NULL) {
		static const char *const fan_fields[] = {"items", NULL};
		json_t *fan = json_object_get(obj, "fan_out");
		mf_child(p, sizeof p, path, "fan_out");
		if (!json_is_object(fan))
			return bad(v, p, "must be an object: {\"items\": \"step:file\" or a bundle file}");
		if (mf_only(v, fan, p, fan_fields) < 0 || mf_want_string(v, fan, "items", p, 1, &s) < 0)
			return -1;
	}
	return 0;
}

int mf_parse_step(struct vctx *v, struct al_manifest *m, json_t *obj, size_t idx,
                  const struct al_step *defaults, json_t *secrets, json_t *resources)
{
	struct al_step *st = &m->steps[idx];
	char path[64], p[512], ep[520];
	const char *net;
	int kind = AL_KIND_EXEC, when = AL_WHEN_SUCCESS, fail = (int)defaults->on_failure;
	json_t *needs, *n, *sec;
	size_t i;

	mf_elem(path, sizeof path, "steps", idx);
	*st = *defaults;
	st->outputs = NULL;
	st->needs = NULL;
	st->json = obj;
	st->limit_cpu_s = st->limit_memory = st->limit_files = st->limit_procs = -1;
	st->limit_cpus_milli = -1;
	if (!json_is_object(obj))
		return bad(v, path, "not an object");
	if (mf_want_string(v, obj, "image", path, 0, &st->image) < 0)
		return -1;
	if (st->image == NULL)
		st->image = defaults->image;
	st->image_idx = al_manifest_image(m, st->image);
	if (mf_want_string(v, obj, "id", path, 1, &st->id) < 0 ||
	    mf_want_enum(v, obj, "kind", path, kinds, &kind) < 0)
		return -1;
	st->kind = (enum al_step_kind)kind;
	mf_child(p, sizeof p, path, "id");
	if (!mf_name_ok(st->id, 64, 1))
		return bad(v, p, "\"%s\": not a step id ([a-z0-9][a-z0-9_-]{0,63})", st->id);
	{
		/* ids are indexed: a 1000-step manifest is looked up a million
		 * times otherwise (bench/steps) */
		json_t *seen = json_object_get(m->step_ids, st->id);
		if (seen != NULL)
			return bad(v, p, "\"%s\": the id of steps[%lld] already", st->id,
			           (long long)json_integer_value(seen));
		if (json_object_set_new(m->step_ids, st->id, json_integer((json_int_t)idx)) < 0)
			return al_err_sys(v->err, "cannot allocate memory");
	}
	if (step_fields(v, obj, path, st->kind) < 0 || mf_want_enum(v, obj, "when", path, whens, &when) < 0 ||
	    mf_want_enum(v, obj, "on_failure", path, failures, &fail) < 0 ||
	    mf_want_duration(v, obj, "timeout", path, 0, &st->timeout_ms) < 0 ||
	    parse_kind_fields(v, obj, path, st) < 0)
		return -1;
	st->when = (enum al_when)when;
	st->on_failure = (enum al_on_failure)fail;
	mf_child(p, sizeof p, path, "retries");
	if (parse_retries(v, json_object_get(obj, "retries"), p, &st->retries) < 0)
		return -1;
	mf_child(p, sizeof p, path, "limits");
	if (parse_limits(v, json_object_get(obj, "limits"), p, st) < 0)
		return -1;
	mf_child(p, sizeof p, path, "outputs");
	if (parse_outputs(v, json_object_get(obj, "outputs"), p, st) < 0)
		return -1;
	mf_child(p, sizeof p, path, "env");
	if (parse_env(v, json_object_get(obj, "env"), p) < 0 ||
	    mf_want_argv(v, obj, "verify", path, 0, &st->verify) < 0 ||
	    mf_want_string(v, obj, "network", path, 0, &net) < 0 ||
	    mf_want_string(v, obj, "resource", path, 0, &st->resource) < 0)
		return -1;
	if (net != NULL) {
		mf_child(p, sizeof p, path, "network");
		if (strcmp(net, "none") != 0 && strcmp(net, "host") != 0)
			return bad(v, p, "\"%s\": must be none or host", net);
		st->network_host = strcmp(net, "host") == 0;
	}
	{
		int iso = st->isolation_strict;
		mf_child(p, sizeof p, path, "mounts");
		if (mf_want_enum(v, obj, "isolation", path, isolations, &iso) < 0 ||
		    parse_mounts(v, json_object_get(obj, "mounts"), p, st) < 0)
			return -1;
		st->isolation_strict = iso;
		if (parse_syscalls(v, obj, path, st) < 0)
			return -1;
	}
	if (st->image != NULL && st->image_idx < 0) {
		mf_child(p, sizeof p, json_object_get(obj, "image") != NULL ? path : "defaults", "image");
		return bad(v, p, "\"%s\" is not declared in images", st->image);
	}
	if (st->kind != AL_KIND_EXEC && st->kind != AL_KIND_NOTIFY) {
		st->image = NULL; /* built-in kinds run inside airlock */
		st->image_idx = -1;
	}
	if (st->resource != NULL && json_object_get(resources, st->resource) == NULL) {
		mf_child(p, sizeof p, path, "resource");
		return bad(v, p, "\"%s\" is not declared in resources", st->resource);
	}
	sec = json_object_get(obj, "secrets");
	if (sec != NULL) {
		mf_child(p, sizeof p, path, "secrets");
		if (!json_is_array(sec))
			return bad(v, p, "must be an array of secret names");
		st->secrets = calloc(json_array_size(sec) + 1, sizeof *st->secrets);
		if (st->secrets == NULL)
			return al_err_sys(v->err, "cannot allocate memory");
		json_array_foreach(sec, i, n) {
			mf_elem(ep, sizeof ep, p, i);
			if (!json_is_string(n) || json_object_get(secrets, json_string_value(n)) == NULL)
				return bad(v, ep, "%s%s%s is not declared in secrets",
				           json_is_string(n) ? "\"" : "", json_is_string(n) ? json_string_value(n) : "a non-string",
				           json_is_string(n) ? "\"" : "");
			st->secrets[i] = json_string_value(n);
		}
	}
	needs = json_object_get(obj, "needs");
	if (needs != NULL) {
		mf_child(p, sizeof p, path, "needs");
		if (!json_is_array(needs))
			return bad(v, p, "must be an array of step ids");
		st->needs = calloc(json_array_size(needs) + 1, sizeof *st->needs);
		if (st->needs == NULL)
			return al_err_sys(v->err, "cannot allocate memory");
		json_array_foreach(needs, i, n) {
			long k = -1;
			mf_elem(ep, sizeof ep, p, i);
			if (!json_is_string(n))
				return bad(v, ep, "must be a step id");
			/* Only earlier steps: the graph is acyclic by construction. */
			k = al_manifest_step(m, json_string_value(n));
			if (k >= (long)idx)
				k = -1;
			if (k < 0)
				return bad(v, ep, "\"%s\" is not a step declared before this one",
				           json_string_value(n));
			for (size_t j = 0; j < st->needs_n; j++)
				if (st->needs[j] == (size_t)k)
					return bad(v, ep, "\"%s\" is listed twice", json_string_value(n));
			st->needs[st->needs_n++] = (size_t)k;
		}
	}
	return 0;
}

/* ---- references and the dependency rules ---- */

/* deps[i] is the bitset of the steps step i depends on, directly or not. */
struct deps {
	size_t words;
	uint64_t *bits; /* n * words */
};

static int deps_build(struct deps *d, const struct al_manifest *m)
{
	d->words = (m->steps_n + 63) / 64;
	d->bits = calloc(m->steps_n * d->words + 1, sizeof *d->bits);
	if (d->bits == NULL)
		return -1;
	for (size_t i = 0; i < m->steps_n; i++) {
		uint64_t *row = d->bits + i * d->words;
		for (size_t k = 0; k < m->steps[i].needs_n; k++) {
			size_t j = m->steps[i].needs[k];
			const uint64_t *up = d->bits + j * d->words;
			row[j / 64] |= UINT64_C(1) << (j % 64);
			for (size_t w = 0; w < d->words; w++)
				row[w] |= up[w];
		}
	}
	return 0;
}

static int depends(const struct deps *d, size_t i, size_t j)
{
	return (d->bits[i * d->words + j / 64] >> (j % 64)) & 1;
}

const struct al_file *mf_file_find(const struct al_manifest *m, const char *path)
{
	size_t lo = 0, hi = m->files_n;

	while (lo < hi) { /* files are sorted */
		size_t mid = (lo + hi) / 2;
		int c;
		assert(m->files[mid].path != NULL); /* every counted file has its path */
		c = strcmp(m->files[mid].path, path);
		if (c == 0)
			return &m->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* An argument "step:file" names another step's committed output: that
 * step must be one this step depends on. A program "bin/x" (a relative
 * path) must be a file of the bundle, executable. */
static int check_ref(struct vctx *v, const struct al_manifest *m, const struct deps *d,
                     size_t idx, const char *arg, const char *path, int program)
{
	const char *colon = strchr(arg, ':');

	if (colon != NULL && colon > arg) {
		char id[65];
		size_t n = (size_t)(colon - arg);
		long k;
		if (n < sizeof id) {
			memcpy(id, arg, n);
			id[n] = '\0';
			k = al_manifest_step(m, id);
			if (k >= 0) {
				if ((size_t)k == idx || !depends(d, idx, (size_t)k))
					return bad(v, path, "\"%s\": step %s is not among this step's needs", arg, id);
				if (mf_path_problem(colon + 1) != NULL)
					return bad(v, path, "\"%s\": not a file of step %s (%s)", arg, id,
					           mf_path_problem(colon + 1));
				return 0;
			}
		}
	}
	if (program && m->files_n > 0 && arg[0] != '/' && strchr(arg, '/') != NULL) {
		const struct al_file *f = mf_file_find(m, arg);
		if (f == NULL)
			return bad(v, path, "\"%s\": not a file of this bundle", arg);
		if (!(f->mode & 0100))
			return bad(v, path, "\"%s\": the bundle's file is not executable", arg);
	}
	return 0;
}

/* The step a "step:file" reference names, or -1. */
static long ref_step(const struct al_manifest *m, const char *ref)
{
	const char *colon = strchr(ref, ':');
	char id[65];

	if (colon == NULL || colon == ref || (size_t)(colon - ref) >= sizeof id)
		return -1;
	snprintf(id, sizeof id, "%.*s", (int)(colon - ref), ref);
	return al_manifest_step(m, id);
}

static int check_argv_refs(struct vctx *v, const struct al_manifest *m, const struct deps *d,
                           size_t idx, const char **argv, const char *path)
{
	char ep[600];

	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
		mf_elem(ep, sizeof ep, path, i);
		if (check_ref(v, m, d, idx, argv[i], ep, i == 0) < 0)
			return -1;
	}
	return 0;
}

int mf_check_steps(struct vctx *v, struct al_manifest *m, int bundle)
{
	struct deps d;
	char path[64], p[512];
	int ret = -1;

	if (deps_build(&d, m) < 0)
		return al_err_sys(v->err, "cannot allocate memory");
	for (size_t i = 0; i < m->steps_n; i++) {
		const struct al_step *st = &m->steps[i];
		size_t dependants = 0;
		char names[256] = "";

		mf_elem(path, sizeof path, "steps", i);
		mf_child(p, sizeof p, path, "run");
		if (check_argv_refs(v, m, &d, i, st->run, p) < 0)
			goto out;
		mf_child(p, sizeof p, path, "verify");
		if (check_argv_refs(v, m, &d, i, st->verify, p) < 0)
			goto out;
		if (json_object_get(st->json, "fan_out") != NULL) {
			/* the items: another step's committed file, or a file of the bundle */
			const char *items = json_string_value(
			    json_object_get(json_object_get(st->json, "fan_out"), "items"));
			char fp[600];
			mf_child(p, sizeof p, path, "fan_out");
			mf_child(fp, sizeof fp, p, "items");
			if (items == NULL)
				goto out;
			if (check_ref(v, m, &d, i, items, fp, 0) < 0)
				goto out;
			if (ref_step(m, items) < 0) {
				if (mf_path_problem(items) != NULL) {
					mf_bad_report(v, fp, "\"%s\": %s", items, mf_path_problem(items));
					goto out;
				}
				if (bundle && mf_file_find(m, items) == NULL) {
					mf_bad_report(v, fp, "\"%s\": not a file of this bundle", items);
					goto out;
				}
			}
		}
		if (st->kind == AL_KIND_VALIDATE) {
			const char *in = json_string_value(json_object_get(st->json, "input"));
			const char *schema = json_string_value(json_object_get(st->json, "schema"));
			long k;
			if (in == NULL || schema == NULL)
				goto out; /* parse_kind_fields has reported it */
			mf_child(p, sizeof p, path, "input");
			k = -1;
			if (strchr(in, ':') != NULL && (size_t)(strchr(in, ':') - in) < 65) {
				char id[65];
				snprintf(id, sizeof id, "%.*s", (int)(strchr(in, ':') - in), in);
				k = al_manifest_step(m, id);
			}
			if (k < 0) {
				mf_bad_report(v, p, "\"%s\": must name another step's file (step:file)", in);
				goto out;
			}
			if (check_ref(v, m, &d, i, in, p, 0) < 0)
				goto out;
			mf_child(p, sizeof p, path, "schema");
			if (mf_path_problem(schema) != NULL) {
				mf_bad_report(v, p, "\"%s\": %s", schema, mf_path_problem(schema));
				goto out;
			}
			if (bundle && mf_file_find(m, schema) == NULL) {
				mf_bad_report(v, p, "\"%s\": not a file of this bundle", schema);
				goto out;
			}
		}
		/* A skipped step with three or more steps downstream would starve
		 * them silently: a manifest error, not a surprise at 3 AM. */
		if (st->on_failure != AL_FAIL_SKIP)
			continue;
		for (size_t j = i + 1; j < m->steps_n; j++)
			if (depends(&d, j, i)) {
				if (dependants < 4)
					snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
					         dependants ? ", " : "", m->steps[j].id);
				dependants++;
			}
		if (dependants >= 3) {
			mf_child(p, sizeof p, path, "on_failure");
			if (json_object_get(st->json, "on_failure") == NULL)
				snprintf(p, sizeof p, "defaults.on_failure (for %s)", path);
			mf_bad_report(v, p, "\"skip\" but %zu steps depend on %s (%s%s): a silent skip would starve them; use abort or alert",
			    dependants, st->id, names, dependants > 4 ? ", ..." : "");
			goto out;
		}
	}
	ret = 0;
out:
	free(d.bits);
	return ret;
}

int mf_parse_defaults(struct vctx *v, json_t *def, struct al_step *d)
{
	static const char *const allowed[] = {"timeout", "retries", "on_failure", "isolation", "image",
	                                      NULL};
	int fail = AL_FAIL_ABORT, iso = 0;

	memset(d, 0, sizeof *d);
	d->retries.max = 0;
	d->retries.base_ms = 1000;
	d->retries.cap_ms = 32000;
	d->on_failure = AL_FAIL_ABORT;
	if (def == NULL)
		return 0;
	if (mf_only(v, def, "defaults", allowed) < 0 ||
	    mf_want_duration(v, def, "timeout", "defaults", 0, &d->timeout_ms) < 0 ||
	    mf_want_enum(v, def, "on_failure", "defaults", failures, &fail) < 0 ||
	    mf_want_enum(v, def, "isolation", "defaults", isolations, &iso) < 0 ||
	    mf_want_string(v, def, "image", "defaults", 0, &d->image) < 0 ||
	    parse_retries(v, json_object_get(def, "retries"), "defaults.retries", &d->retries) < 0)
		return -1;
	d->on_failure = (enum al_on_failure)fail;
	d->isolation_strict = iso;
	return 0;
}

long al_manifest_step(const struct al_manifest *m, const char *id)
{
	if (m->step_ids != NULL) {
		json_t *k = json_object_get(m->step_ids, id);
		return k != NULL ? (long)json_integer_value(k) : -1;
	}
	for (size_t i = 0; i < m->steps_n; i++)
		if (m->steps[i].id != NULL && strcmp(m->steps[i].id, id) == 0)
			return (long)i;
	return -1;
}

long al_manifest_image(const struct al_manifest *m, const char *name)
{
	for (size_t i = 0; name != NULL && i < m->images_n; i++)
		if (strcmp(m->images[i].name, name) == 0)
			return (long)i;
	return -1;
}
