/* fields.c - reading a manifest's JSON by allow-list: a member of the
 * right type or an error that names it by its JSON path
 * ("steps[2].retries.cap: \"32x\": not a duration"), names and paths
 * checked (no "..", no control characters, bounded). What manifest.c
 * and steps.c are written with. */
#include "manifests/parse.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mf_bad_report(struct vctx *v, const char *path, const char *fmt, ...)
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

/* The JSON path of a member or an element (cut short if it must be: it
 * only names a place in a message). */
void mf_child(char *out, size_t n, const char *path, const char *key)
{
	(void)al_snprintf(out, n, "%s%s%s", path, path[0] ? "." : "", key);
}

void mf_elem(char *out, size_t n, const char *path, size_t i)
{
	(void)al_snprintf(out, n, "%s[%zu]", path, i);
}

/* Every member of obj must be in allowed (NULL-terminated). */
int mf_only(struct vctx *v, json_t *obj, const char *path, const char *const *allowed)
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
			mf_child(p, sizeof p, path, key);
			return bad(v, p, "unknown field (a typo? nothing unknown is ignored)");
		}
	}
	return 0;
}

int mf_want_string(struct vctx *v, json_t *obj, const char *key, const char *path,
                   int required, const char **out)
{
	json_t *val = json_object_get(obj, key);
	const char *str = json_string_value(val);
	char p[512];

	*out = NULL;
	mf_child(p, sizeof p, path, key);
	if (val == NULL)
		return required ? bad(v, p, "missing") : 0;
	if (str == NULL || json_string_length(val) == 0)
		return bad(v, p, "must be a non-empty string");
	if (strlen(str) != json_string_length(val))
		return bad(v, p, "contains a NUL character");
	*out = str;
	return 0;
}

int mf_want_int(struct vctx *v, json_t *obj, const char *key, const char *path, int required,
                int64_t min, int64_t max, int64_t *out)
{
	json_t *val = json_object_get(obj, key);
	char p[512];

	mf_child(p, sizeof p, path, key);
	if (val == NULL)
		return required ? bad(v, p, "missing") : 0;
	if (!json_is_integer(val) || json_integer_value(val) < min || json_integer_value(val) > max)
		return bad(v, p, "must be an integer from %lld to %lld", (long long)min, (long long)max);
	*out = json_integer_value(val);
	return 0;
}

int mf_want_duration(struct vctx *v, json_t *obj, const char *key, const char *path,
                     int required, int64_t *ms)
{
	const char *s;
	char p[512];

	mf_child(p, sizeof p, path, key);
	if (mf_want_string(v, obj, key, path, required, &s) < 0)
		return -1;
	if (s != NULL && al_duration_parse(s, ms, NULL) < 0)
		return bad(v, p, "\"%s\": not a duration (500ms, 30s, 5m, 23h, 2d)", s);
	return 0;
}

int mf_want_enum(struct vctx *v, json_t *obj, const char *key, const char *path,
                 const char *const *options, int *out)
{
	const char *s;
	char p[512], list[256] = "";

	if (mf_want_string(v, obj, key, path, 0, &s) < 0 || s == NULL)
		return v->failed ? -1 : 0;
	for (int i = 0; options[i] != NULL; i++) {
		if (strcmp(s, options[i]) == 0) {
			*out = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
		         options[i]);
	}
	mf_child(p, sizeof p, path, key);
	return bad(v, p, "\"%s\": must be one of %s", s, list);
}

/* A NULL-terminated argv from an array of non-empty strings. */
int mf_want_argv(struct vctx *v, json_t *obj, const char *key, const char *path,
                 int required, const char ***out)
{
	json_t *arr = json_object_get(obj, key), *s;
	char p[512], ep[520];
	size_t i;

	*out = NULL;
	mf_child(p, sizeof p, path, key);
	if (arr == NULL)
		return required ? bad(v, p, "missing") : 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 4096)
		return bad(v, p, "must be a non-empty array of strings (argv)");
	*out = calloc(json_array_size(arr) + 1, sizeof **out);
	if (*out == NULL)
		return al_err_sys(v->err, "cannot allocate memory");
	json_array_foreach(arr, i, s) {
		mf_elem(ep, sizeof ep, p, i);
		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s))
			return bad(v, ep, "must be a string without NUL");
		if (i == 0 && json_string_length(s) == 0)
			return bad(v, ep, "the program must not be empty");
		(*out)[i] = json_string_value(s);
	}
	return 0;
}

int mf_name_ok(const char *s, size_t max, int dashes)
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
const char *mf_path_problem(const char *p)
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

