/* manifest.c - parsing and validating airlock.manifest/1 (FORMAT.md):
 * every field, by allow-list; every error names the field by its JSON
 * path. Typos must not silently disable a safety feature, so nothing
 * unknown is ignored. */
#include "manifests.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_BYTES 4096
#define COMPONENT_MAX 255
#define FILES_MAX AL_BUNDLE_MAX_ENTRIES

struct vctx {
	const char *name;   /* the manifest's file name, for messages */
	struct al_err *err;
	int failed;
};

static void bad_report(struct vctx *v, const char *path, const char *fmt, ...) AL_PRINTF(3, 4);

/* Records the first error: "<name>: <path>: <message>". */
static void bad_report(struct vctx *v, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (v->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	v->failed = 1;
	if (path[0] != '\0')
		al_err_set(v->err, AL_EUSAGE, "%s: %s: %s", v->name, path, msg);
	else
		al_err_set(v->err, AL_EUSAGE, "%s: %s", v->name, msg);
}

/* bad(v, path, fmt, ...) reports and is -1, visibly so to the compiler
 * and the analyzer: `return bad(...)` after a check. */
#define bad(...) (bad_report(__VA_ARGS__), -1)

/* The JSON path of a member or an element (cut short if it must be: it
 * only names a place in a message). */
static void child(char *out, size_t n, const char *path, const char *key)
{
	(void)al_snprintf(out, n, "%s%s%s", path, path[0] ? "." : "", key);
}

static void elem(char *out, size_t n, const char *path, size_t i)
{
	(void)al_snprintf(out, n, "%s[%zu]", path, i);
}

/* Every member of obj must be in allowed (NULL-terminated). */
static int only(struct vctx *v, json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t *val;

	if (!json_is_object(obj))
		return bad(v, path, "not an object");
	json_object_foreach(obj, key, val) {
		int ok = 0;
		char p[512];
		(void)val;
		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			child(p, sizeof p, path, key);
			return bad(v, p, "unknown field (a typo? nothing unknown is ignored)");
		}
	}
	return 0;
}

static int want_string(struct vctx *v, json_t *obj, const char *key, const char *path,
                       int required, const char **out)
{
	json_t *val = json_object_get(obj, key);
	const char *str = json_string_value(val);
	char p[512];

	*out = NULL;
	child(p, sizeof p, path, key);
	if (val == NULL)
		return required ? bad(v, p, "missing") : 0;
	if (str == NULL || json_string_length(val) == 0)
		return bad(v, p, "must be a non-empty string");
	if (strlen(str) != json_string_length(val))
		return bad(v, p, "contains a NUL character");
	*out = str;
	return 0;
}

static int want_int(struct vctx *v, json_t *obj, const char *key, const char *path, int required,
                    int64_t min, int64_t max, int64_t *out)
{
	json_t *val = json_object_get(obj, key);
	char p[512];

	child(p, sizeof p, path, key);
	if (val == NULL)
		return required ? bad(v, p, "missing") : 0;
	if (!json_is_integer(val) || json_integer_value(val) < min || json_integer_value(val) > max)
		return bad(v, p, "must be an integer from %lld to %lld", (long long)min, (long long)max);
	*out = json_integer_value(val);
	return 0;
}

static int want_duration(struct vctx *v, json_t *obj, const char *key, const char *path,
                         int required, int64_t *ms)
{
	const char *s;
	char p[512];

	child(p, sizeof p, path, key);
	if (want_string(v, obj, key, path, required, &s) < 0)
		return -1;
	if (s != NULL && al_duration_parse(s, ms, NULL) < 0)
		return bad(v, p, "\"%s\": not a duration (500ms, 30s, 5m, 23h, 2d)", s);
	return 0;
}

static int want_enum(struct vctx *v, json_t *obj, const char *key, const char *path,
                     const char *const *options, int *out)
{
	const char *s;
	char p[512], list[256] = "";

	if (want_string(v, obj, key, path, 0, &s) < 0 || s == NULL)
		return v->failed ? -1 : 0;
	for (int i = 0; options[i] != NULL; i++) {
		if (strcmp(s, options[i]) == 0) {
			*out = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
		         options[i]);
	}
	child(p, sizeof p, path, key);
	return bad(v, p, "\"%s\": must be one of %s", s, list);
}

/* A NULL-terminated argv from an array of non-empty strings. */
static int want_argv(struct vctx *v, json_t *obj, const char *key, const char *path,
                     int required, const char ***out)
{
	json_t *arr = json_object_get(obj, key), *s;
	char p[512], ep[520];
	size_t i;

	*out = NULL;
	child(p, sizeof p, path, key);
	if (arr == NULL)
		return required ? bad(v, p, "missing") : 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 4096)
		return bad(v, p, "must be a non-empty array of strings (argv)");
	*out = calloc(json_array_size(arr) + 1, sizeof **out);
	if (*out == NULL)
		return al_err_sys(v->err, "cannot allocate memory");
	json_array_foreach(arr, i, s) {
		elem(ep, sizeof ep, p, i);
		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s))
			return bad(v, ep, "must be a string without NUL");
		if (i == 0 && json_string_length(s) == 0)
			return bad(v, ep, "the program must not be empty");
		(*out)[i] = json_string_value(s);
	}
	return 0;
}

static int name_ok(const char *s, size_t max, int dashes)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      (dashes && s[i] == '-')))
			return 0;
	return 1;
}

/* ---- paths ---- */

/* FORMAT.md: relative, normalised, no "..", no "/" at either end, no
 * control characters, components of at most 255 bytes, at most 4096
 * bytes. A path that climbs out ("../", "a/../../") is the oldest archive
 * attack there is. */
static const char *path_problem(const char *p)
{
	size_t n = strlen(p), comp = 0;

	if (n == 0)
		return "empty";
	if (n > PATH_MAX_BYTES)
		return "longer than 4096 bytes";
	if (p[0] == '/')
		return "absolute";
	if (p[n - 1] == '/')
		return "ends with '/'";
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '/' || c == '\0') {
			const char *start = p + i - comp;
			if (comp == 0)
				return "has an empty component ('//')";
			if ((comp == 1 && start[0] == '.') || (comp == 2 && start[0] == '.' && start[1] == '.'))
				return "has a '.' or '..' component";
			comp = 0;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return "has a control character";
		if (++comp > COMPONENT_MAX)
			return "has a component longer than 255 bytes";
	}
	return NULL;
}

/* Names a bundle reserves for itself. */
static int path_reserved(const char *p)
{
	return strcmp(p, "manifest.json") == 0 || strcmp(p, "airlock.json") == 0 ||
	       strcmp(p, ".install.json") == 0 || strcmp(p, "signatures") == 0 ||
	       strncmp(p, "signatures/", 11) == 0;
}

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
	if (only(v, obj, path, allowed) < 0 || want_int(v, obj, "max", path, 0, 0, 100, &max) < 0 ||
	    want_duration(v, obj, "base", path, 0, &r->base_ms) < 0 ||
	    want_duration(v, obj, "cap", path, 0, &r->cap_ms) < 0)
		return -1;
	r->max = (int)max;
	if (r->cap_ms < r->base_ms) {
		child(p, sizeof p, path, "cap");
		return bad(v, p, "smaller than base");
	}
	on = json_object_get(obj, "on");
	if (on == NULL)
		return 0;
	child(p, sizeof p, path, "on");
	if (!json_is_array(on) || json_array_size(on) == 0)
		return bad(v, p, "must be a non-empty array (exit:N, timeout, signal, verify)");
	r->on = 0;
	r->exit_n = 0;
	json_array_foreach(on, i, c) {
		const char *s = json_string_value(c);
		char *end;
		long code;
		elem(ep, sizeof ep, p, i);
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
	static const char *const allowed[] = {"cpu", "memory", "files", "procs", NULL};
	const char *mem;
	char p[512];
	uint64_t bytes;

	if (obj == NULL)
		return 0;
	if (only(v, obj, path, allowed) < 0)
		return -1;
	if (json_object_get(obj, "cpu") != NULL) {
		int64_t ms = 0;
		if (want_duration(v, obj, "cpu", path, 1, &ms) < 0)
			return -1;
		st->limit_cpu_s = (ms + 999) / 1000;
	}
	if (want_string(v, obj, "memory", path, 0, &mem) < 0 ||
	    want_int(v, obj, "files", path, 0, 16, 1 << 20, &st->limit_files) < 0 ||
	    want_int(v, obj, "procs", path, 0, 1, 1 << 20, &st->limit_procs) < 0)
		return -1;
	if (mem != NULL) {
		child(p, sizeof p, path, "memory");
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
		elem(ep, sizeof ep, path, i);
		out->min_bytes = out->min_rows = -1;
		if (only(v, o, ep, allowed) < 0 || want_string(v, o, "path", ep, 1, &out->path) < 0 ||
		    want_int(v, o, "min_bytes", ep, 0, 0, INT64_MAX, &out->min_bytes) < 0 ||
		    want_int(v, o, "min_rows", ep, 0, 0, INT64_MAX, &out->min_rows) < 0)
			return -1;
		if ((why = path_problem(out->path)) != NULL) {
			child(p, sizeof p, ep, "path");
			return bad(v, p, "\"%s\": %s", out->path, why);
		}
		st->outputs_n++;
	}
	return 0;
}

/* Allowed members by kind, beyond the ones every step has. */
static const char *const common_fields[] = {"id", "kind", "needs", "when", "timeout", "retries",
                                            "on_failure", NULL};
static const char *const exec_fields[] = {"run", "resource", "env", "secrets", "network", "limits",
                                          "verify", "outputs", "fan_out", NULL};
static const char *const notify_fields[] = {"run", "resource", "env", "secrets", "network",
                                            "limits", "verify", NULL};
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
			child(p, sizeof p, path, key);
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
		child(p, sizeof p, path, k);
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
		if (want_string(v, obj, "path", path, 1, &s) < 0)
			return -1;
		if (s[0] != '/' || strstr(s, "/../") != NULL ||
		    (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "/..") == 0)) {
			child(p, sizeof p, path, "path");
			return bad(v, p, "\"%s\": an absolute path without \"..\"", s);
		}
		if (want_string(v, obj, "marker", path, 0, &s) < 0 ||
		    want_duration(v, obj, "max_age", path, 0, &ms) < 0)
			return -1;
		if (s != NULL && (strchr(s, '/') != NULL || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)) {
			child(p, sizeof p, path, "marker");
			return bad(v, p, "\"%s\": a file name, without '/'", s);
		}
		if (poll != NULL) {
			child(p, sizeof p, path, "poll");
			if (only(v, poll, p, poll_fields) < 0 || want_duration(v, poll, "every", p, 1, &ms) < 0 ||
			    want_duration(v, poll, "then", p, 0, &ms) < 0 ||
			    want_duration(v, poll, "after", p, 0, &ms) < 0)
				return -1;
		}
		return 0;
	}
	if (st->kind == AL_KIND_VALIDATE) {
		const char *max;
		if (want_string(v, obj, "input", path, 1, &s) < 0 ||
		    want_string(v, obj, "schema", path, 1, &s) < 0 ||
		    want_string(v, obj, "output", path, 1, &s) < 0 ||
		    want_string(v, obj, "max_reject", path, 0, &max) < 0)
			return -1;
		if (strchr(s, '/') != NULL || path_problem(s) != NULL) {
			child(p, sizeof p, path, "output");
			return bad(v, p, "\"%s\": a file name, without '/'", s);
		}
		if (max != NULL) {
			/* The step's own parser: what installs must also run. */
			uint64_t value;
			int percent;
			child(p, sizeof p, path, "max_reject");
			if (al_max_reject_parse(max, &percent, &value, NULL) < 0)
				return bad(v, p, "\"%s\": a count (10) or a percentage (5%%)", max);
		}
		return 0;
	}
	if (want_argv(v, obj, "run", path, 1, &st->run) < 0)
		return -1;
	if (json_object_get(obj, "fan_out") != NULL) {
		static const char *const fan_fields[] = {"items", NULL};
		json_t *fan = json_object_get(obj, "fan_out");
		child(p, sizeof p, path, "fan_out");
		if (!json_is_object(fan))
			return bad(v, p, "must be an object: {\"items\": \"step:file\" or a bundle file}");
		if (only(v, fan, p, fan_fields) < 0 || want_string(v, fan, "items", p, 1, &s) < 0)
			return -1;
	}
	return 0;
}

static int parse_step(struct vctx *v, struct al_manifest *m, json_t *obj, size_t idx,
                      const struct al_step *defaults, json_t *secrets, json_t *resources)
{
	struct al_step *st = &m->steps[idx];
	char path[64], p[512], ep[520];
	const char *net;
	int kind = AL_KIND_EXEC, when = AL_WHEN_SUCCESS, fail = (int)defaults->on_failure;
	json_t *needs, *n, *sec;
	size_t i;

	elem(path, sizeof path, "steps", idx);
	*st = *defaults;
	st->outputs = NULL;
	st->needs = NULL;
	st->json = obj;
	st->limit_cpu_s = st->limit_memory = st->limit_files = st->limit_procs = -1;
	if (!json_is_object(obj))
		return bad(v, path, "not an object");
	if (want_string(v, obj, "id", path, 1, &st->id) < 0 ||
	    want_enum(v, obj, "kind", path, kinds, &kind) < 0)
		return -1;
	st->kind = (enum al_step_kind)kind;
	child(p, sizeof p, path, "id");
	if (!name_ok(st->id, 64, 1))
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
	if (step_fields(v, obj, path, st->kind) < 0 || want_enum(v, obj, "when", path, whens, &when) < 0 ||
	    want_enum(v, obj, "on_failure", path, failures, &fail) < 0 ||
	    want_duration(v, obj, "timeout", path, 0, &st->timeout_ms) < 0 ||
	    parse_kind_fields(v, obj, path, st) < 0)
		return -1;
	st->when = (enum al_when)when;
	st->on_failure = (enum al_on_failure)fail;
	child(p, sizeof p, path, "retries");
	if (parse_retries(v, json_object_get(obj, "retries"), p, &st->retries) < 0)
		return -1;
	child(p, sizeof p, path, "limits");
	if (parse_limits(v, json_object_get(obj, "limits"), p, st) < 0)
		return -1;
	child(p, sizeof p, path, "outputs");
	if (parse_outputs(v, json_object_get(obj, "outputs"), p, st) < 0)
		return -1;
	child(p, sizeof p, path, "env");
	if (parse_env(v, json_object_get(obj, "env"), p) < 0 ||
	    want_argv(v, obj, "verify", path, 0, &st->verify) < 0 ||
	    want_string(v, obj, "network", path, 0, &net) < 0 ||
	    want_string(v, obj, "resource", path, 0, &st->resource) < 0)
		return -1;
	if (net != NULL) {
		child(p, sizeof p, path, "network");
		if (strcmp(net, "none") != 0 && strcmp(net, "host") != 0)
			return bad(v, p, "\"%s\": must be none or host", net);
		st->network_host = strcmp(net, "host") == 0;
	}
	if (st->resource != NULL && json_object_get(resources, st->resource) == NULL) {
		child(p, sizeof p, path, "resource");
		return bad(v, p, "\"%s\" is not declared in resources", st->resource);
	}
	sec = json_object_get(obj, "secrets");
	if (sec != NULL) {
		child(p, sizeof p, path, "secrets");
		if (!json_is_array(sec))
			return bad(v, p, "must be an array of secret names");
		st->secrets = calloc(json_array_size(sec) + 1, sizeof *st->secrets);
		if (st->secrets == NULL)
			return al_err_sys(v->err, "cannot allocate memory");
		json_array_foreach(sec, i, n) {
			elem(ep, sizeof ep, p, i);
			if (!json_is_string(n) || json_object_get(secrets, json_string_value(n)) == NULL)
				return bad(v, ep, "%s%s%s is not declared in secrets",
				           json_is_string(n) ? "\"" : "", json_is_string(n) ? json_string_value(n) : "a non-string",
				           json_is_string(n) ? "\"" : "");
			st->secrets[i] = json_string_value(n);
		}
	}
	needs = json_object_get(obj, "needs");
	if (needs != NULL) {
		child(p, sizeof p, path, "needs");
		if (!json_is_array(needs))
			return bad(v, p, "must be an array of step ids");
		st->needs = calloc(json_array_size(needs) + 1, sizeof *st->needs);
		if (st->needs == NULL)
			return al_err_sys(v->err, "cannot allocate memory");
		json_array_foreach(needs, i, n) {
			long k = -1;
			elem(ep, sizeof ep, p, i);
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

static const struct al_file *file_find(const struct al_manifest *m, const char *path)
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
				if (path_problem(colon + 1) != NULL)
					return bad(v, path, "\"%s\": not a file of step %s (%s)", arg, id,
					           path_problem(colon + 1));
				return 0;
			}
		}
	}
	if (program && m->files_n > 0 && arg[0] != '/' && strchr(arg, '/') != NULL) {
		const struct al_file *f = file_find(m, arg);
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
		elem(ep, sizeof ep, path, i);
		if (check_ref(v, m, d, idx, argv[i], ep, i == 0) < 0)
			return -1;
	}
	return 0;
}

static int check_steps(struct vctx *v, struct al_manifest *m, int bundle)
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

		elem(path, sizeof path, "steps", i);
		child(p, sizeof p, path, "run");
		if (check_argv_refs(v, m, &d, i, st->run, p) < 0)
			goto out;
		child(p, sizeof p, path, "verify");
		if (check_argv_refs(v, m, &d, i, st->verify, p) < 0)
			goto out;
		if (json_object_get(st->json, "fan_out") != NULL) {
			/* the items: another step's committed file, or a file of the bundle */
			const char *items = json_string_value(
			    json_object_get(json_object_get(st->json, "fan_out"), "items"));
			char fp[600];
			child(p, sizeof p, path, "fan_out");
			child(fp, sizeof fp, p, "items");
			if (items == NULL)
				goto out;
			if (check_ref(v, m, &d, i, items, fp, 0) < 0)
				goto out;
			if (ref_step(m, items) < 0) {
				if (path_problem(items) != NULL) {
					bad_report(v, fp, "\"%s\": %s", items, path_problem(items));
					goto out;
				}
				if (bundle && file_find(m, items) == NULL) {
					bad_report(v, fp, "\"%s\": not a file of this bundle", items);
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
			child(p, sizeof p, path, "input");
			k = -1;
			if (strchr(in, ':') != NULL && (size_t)(strchr(in, ':') - in) < 65) {
				char id[65];
				snprintf(id, sizeof id, "%.*s", (int)(strchr(in, ':') - in), in);
				k = al_manifest_step(m, id);
			}
			if (k < 0) {
				bad_report(v, p, "\"%s\": must name another step's file (step:file)", in);
				goto out;
			}
			if (check_ref(v, m, &d, i, in, p, 0) < 0)
				goto out;
			child(p, sizeof p, path, "schema");
			if (path_problem(schema) != NULL) {
				bad_report(v, p, "\"%s\": %s", schema, path_problem(schema));
				goto out;
			}
			if (bundle && file_find(m, schema) == NULL) {
				bad_report(v, p, "\"%s\": not a file of this bundle", schema);
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
			child(p, sizeof p, path, "on_failure");
			if (json_object_get(st->json, "on_failure") == NULL)
				snprintf(p, sizeof p, "defaults.on_failure (for %s)", path);
			bad_report(v, p, "\"skip\" but %zu steps depend on %s (%s%s): a silent skip would starve them; use abort or alert",
			    dependants, st->id, names, dependants > 4 ? ", ..." : "");
			goto out;
		}
	}
	ret = 0;
out:
	free(d.bits);
	return ret;
}

/* ---- files ---- */

static int parse_files(struct vctx *v, struct al_manifest *m, json_t *arr)
{
	static const char *const allowed[] = {"path", "sha256", "size", "mode", NULL};
	json_t *f;
	char ep[64], p[128];
	size_t i;

	if (!json_is_array(arr))
		return bad(v, "files", "must be an array");
	if (json_array_size(arr) > FILES_MAX)
		return bad(v, "files", "more than %d files", FILES_MAX);
	m->files = calloc(json_array_size(arr) + 1, sizeof *m->files);
	if (m->files == NULL)
		return al_err_sys(v->err, "cannot allocate memory");
	json_array_foreach(arr, i, f) {
		struct al_file *file = &m->files[i];
		const char *sha, *mode, *why;
		int64_t size = 0;
		elem(ep, sizeof ep, "files", i);
		if (only(v, f, ep, allowed) < 0 || want_string(v, f, "path", ep, 1, &file->path) < 0 ||
		    want_string(v, f, "sha256", ep, 1, &sha) < 0 ||
		    want_int(v, f, "size", ep, 1, 0, INT64_MAX, &size) < 0 ||
		    want_string(v, f, "mode", ep, 1, &mode) < 0)
			return -1;
		child(p, sizeof p, ep, "path");
		if ((why = path_problem(file->path)) != NULL)
			return bad(v, p, "\"%s\": %s", file->path, why);
		if (path_reserved(file->path))
			return bad(v, p, "\"%s\": a name the bundle reserves", file->path);
		if (i > 0) {
			const char *prev = m->files[i - 1].path;
			size_t pl = strlen(prev);
			if (strcmp(prev, file->path) >= 0)
				return bad(v, p, "\"%s\": files must be sorted by path, each once", file->path);
			if (strncmp(file->path, prev, pl) == 0 && file->path[pl] == '/')
				return bad(v, p, "\"%s\": %s is a file, not a directory", file->path, prev);
		}
		child(p, sizeof p, ep, "sha256");
		if (strlen(sha) != 64 || al_unhex(sha, 64, file->sha256, AL_SHA256_LEN) < 0 ||
		    strspn(sha, "0123456789abcdef") != 64)
			return bad(v, p, "not 64 lowercase hex digits");
		child(p, sizeof p, ep, "mode");
		if (strcmp(mode, "0644") == 0)
			file->mode = 0644;
		else if (strcmp(mode, "0755") == 0)
			file->mode = 0755;
		else
			return bad(v, p, "\"%s\": must be 0644 or 0755 (no setuid, setgid or sticky bits)", mode);
		file->size = (uint64_t)size;
		m->files_bytes += file->size;
		m->files_n++;
	}
	/* "a" and "a/b" do not sort next to each other when "a-x" comes
	 * between: look for a file that is a prefix directory of another. */
	for (i = 0; i < m->files_n; i++) {
		char dir[PATH_MAX_BYTES + 1];
		const char *slash;
		snprintf(dir, sizeof dir, "%s", m->files[i].path);
		while ((slash = strrchr(dir, '/')) != NULL) {
			dir[slash - dir] = '\0';
			if (file_find(m, dir) != NULL) {
				elem(ep, sizeof ep, "files", i);
				child(p, sizeof p, ep, "path");
				return bad(v, p, "\"%s\": %s is a file, not a directory", m->files[i].path, dir);
			}
		}
	}
	return 0;
}

/* ---- the whole ---- */

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

static int parse_secrets(struct vctx *v, json_t *secrets)
{
	static const char *const allowed[] = {"file", "max_age", "check", NULL};
	const char *k, *file;
	const char **check = NULL;
	json_t *s;
	char p[512];
	int64_t ms;

	if (secrets == NULL)
		return 0;
	if (!json_is_object(secrets))
		return bad(v, "secrets", "must be an object");
	json_object_foreach(secrets, k, s) {
		child(p, sizeof p, "secrets", k);
		if (!name_ok(k, 64, 0) || k[0] < 'a')
			return bad(v, p, "not a secret name ([a-z][a-z0-9_]{0,63})");
		if (only(v, s, p, allowed) < 0 || want_string(v, s, "file", p, 1, &file) < 0 ||
		    want_duration(v, s, "max_age", p, 0, &ms) < 0 || want_argv(v, s, "check", p, 0, &check) < 0) {
			free(check);
			return -1;
		}
		free(check);
		check = NULL;
		if (file[0] != '/') {
			char fp[600];
			child(fp, sizeof fp, p, "file");
			return bad(v, fp, "\"%s\": must be an absolute path", file);
		}
	}
	return 0;
}

static int parse_resources(struct vctx *v, json_t *res)
{
	static const char *const allowed[] = {"breaker", NULL};
	static const char *const breaker_fields[] = {"failures", "cooldown", NULL};
	const char *k;
	json_t *r, *b;
	char p[512], bp[600];
	int64_t n, ms;

	if (res == NULL)
		return 0;
	if (!json_is_object(res))
		return bad(v, "resources", "must be an object");
	json_object_foreach(res, k, r) {
		child(p, sizeof p, "resources", k);
		if (!name_ok(k, 64, 1))
			return bad(v, p, "not a resource name ([a-z0-9][a-z0-9_-]{0,63})");
		if (only(v, r, p, allowed) < 0)
			return -1;
		b = json_object_get(r, "breaker");
		if (b == NULL)
			continue;
		child(bp, sizeof bp, p, "breaker");
		if (only(v, b, bp, breaker_fields) < 0 ||
		    want_int(v, b, "failures", bp, 1, 1, 1000, &n) < 0 ||
		    want_duration(v, b, "cooldown", bp, 1, &ms) < 0)
			return -1;
	}
	return 0;
}

static int parse_defaults(struct vctx *v, json_t *def, struct al_step *d)
{
	static const char *const allowed[] = {"timeout", "retries", "on_failure", NULL};
	int fail = AL_FAIL_ABORT;

	memset(d, 0, sizeof *d);
	d->retries.max = 0;
	d->retries.base_ms = 1000;
	d->retries.cap_ms = 32000;
	d->on_failure = AL_FAIL_ABORT;
	if (def == NULL)
		return 0;
	if (only(v, def, "defaults", allowed) < 0 ||
	    want_duration(v, def, "timeout", "defaults", 0, &d->timeout_ms) < 0 ||
	    want_enum(v, def, "on_failure", "defaults", failures, &fail) < 0 ||
	    parse_retries(v, json_object_get(def, "retries"), "defaults.retries", &d->retries) < 0)
		return -1;
	d->on_failure = (enum al_on_failure)fail;
	return 0;
}

struct al_manifest *al_manifest_parse(const char *buf, size_t len, const char *name,
                                      enum al_manifest_mode mode, struct al_err *err)
{
	static const char *const allowed[] = {"format", "pipeline", "version", "expires", "created",
	                                      "defaults", "secrets", "resources", "steps", "files",
	                                      NULL};
	struct vctx v = {name, err, 0};
	struct al_manifest *m = calloc(1, sizeof *m);
	struct al_step defaults;
	const char *format, *expires, *created;
	json_t *steps, *step;
	size_t i;

	if (m == NULL || (m->step_ids = json_object()) == NULL) {
		free(m);
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	if (len > AL_MANIFEST_MAX) {
		bad_report(&v, "", "larger than %u bytes", AL_MANIFEST_MAX);
		goto fail;
	}
	m->root = al_json_parse(buf, len, name, err);
	if (m->root == NULL)
		goto fail;
	if (!json_is_object(m->root)) {
		bad_report(&v, "", "not a JSON object");
		goto fail;
	}
	if (only(&v, m->root, "", allowed) < 0 ||
	    want_string(&v, m->root, "format", "", 1, &format) < 0)
		goto fail;
	if (strcmp(format, AL_MANIFEST_FORMAT) != 0) {
		bad_report(&v, "format", "\"%s\": this airlock reads " AL_MANIFEST_FORMAT, format);
		goto fail;
	}
	if (want_string(&v, m->root, "pipeline", "", 1, &m->pipeline) < 0 ||
	    want_int(&v, m->root, "version", "", 1, 1, INT64_MAX, &m->version) < 0 ||
	    want_string(&v, m->root, "expires", "", 1, &expires) < 0 ||
	    want_string(&v, m->root, "created", "", mode == AL_MANIFEST_BUNDLE, &created) < 0)
		goto fail;
	if (!name_ok(m->pipeline, 64, 1)) {
		bad_report(&v, "pipeline", "\"%s\": not a pipeline name ([a-z0-9][a-z0-9_-]{0,63})", m->pipeline);
		goto fail;
	}
	if (al_ts_parse(expires, &m->expires_us, NULL) < 0) {
		bad_report(&v, "expires", "\"%s\": not an RFC 3339 time (2027-03-01T00:00:00Z)", expires);
		goto fail;
	}
	if (created != NULL) {
		if (mode == AL_MANIFEST_SOURCE) {
			bad_report(&v, "created", "set by airlock pack, not by the author");
			goto fail;
		}
		if (al_ts_parse(created, &m->created_us, NULL) < 0) {
			bad_report(&v, "created", "\"%s\": not an RFC 3339 time", created);
			goto fail;
		}
	}
	if (mode == AL_MANIFEST_SOURCE && json_object_get(m->root, "files") != NULL) {
		bad_report(&v, "files", "filled by airlock pack, not by the author");
		goto fail;
	}
	if (mode == AL_MANIFEST_BUNDLE) {
		if (json_object_get(m->root, "files") == NULL) {
			bad_report(&v, "files", "missing");
			goto fail;
		}
		if (parse_files(&v, m, json_object_get(m->root, "files")) < 0)
			goto fail;
	}
	if (parse_defaults(&v, json_object_get(m->root, "defaults"), &defaults) < 0 ||
	    parse_secrets(&v, json_object_get(m->root, "secrets")) < 0 ||
	    parse_resources(&v, json_object_get(m->root, "resources")) < 0)
		goto fail;
	steps = json_object_get(m->root, "steps");
	if (!json_is_array(steps) || json_array_size(steps) == 0 ||
	    json_array_size(steps) > AL_STEPS_MAX) {
		bad_report(&v, "steps", steps == NULL ? "missing" : "must be an array of 1 to 10000 steps");
		goto fail;
	}
	m->steps = calloc(json_array_size(steps), sizeof *m->steps);
	if (m->steps == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto fail;
	}
	json_array_foreach(steps, i, step) {
		m->steps_n = i + 1;
		if (parse_step(&v, m, step, i, &defaults, json_object_get(m->root, "secrets"),
		               json_object_get(m->root, "resources")) < 0)
			goto fail;
	}
	if (check_steps(&v, m, mode == AL_MANIFEST_BUNDLE) < 0)
		goto fail;
	return m;
fail:
	if (!v.failed && err != NULL && err->msg[0] == '\0')
		al_err_set(err, AL_EUSAGE, "%s: invalid manifest", name);
	al_manifest_free(m);
	return NULL;
}

void al_manifest_free(struct al_manifest *m)
{
	if (m == NULL)
		return;
	json_decref(m->step_ids);
	for (size_t i = 0; i < m->steps_n; i++) {
		free(m->steps[i].run);
		free(m->steps[i].verify);
		free(m->steps[i].needs);
		free(m->steps[i].secrets);
		free(m->steps[i].outputs);
	}
	free(m->steps);
	free(m->files);
	json_decref(m->root);
	free(m);
}
