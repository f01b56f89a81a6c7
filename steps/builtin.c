/* builtin.c - both sides of the built-in step kinds (await, validate):
 *
 *     airlock __builtin await|validate SPEC RESULT
 *
 * Their kind starts this as the step's process (same timeout and
 * captured output as an exec step). SPEC is the step's parameters as one
 * JSON object, already resolved by the kind (the date substituted,
 * step:file references made absolute paths); RESULT is a path where the
 * outcome is written, atomically, as a JSON object that the kind audits
 * once the process has ended (await.ready, validate.result). Exit
 * status: 0 done, 1 refused (a stale input, too many rejects, a wrong
 * header: retrying cannot help, the result says "retryable": false), 2 a
 * bad SPEC or schema, 4 an error of the environment (retryable; the
 * result holds the message). */
#include "steps/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int builtin_finish(const char *result, json_t *res, int code)
{
	struct al_err err = {0};
	char *text = al_json_dump(res);
	int ret = code;

	json_decref(res);
	if (text == NULL || al_write_file_atomic(result, text, strlen(text), 0600, &err) < 0) {
		fprintf(stderr, "airlock: %s\n", text == NULL ? "cannot allocate memory" : err.msg);
		ret = 4;
	}
	free(text);
	return ret;
}

/* An error: of the environment (a full disk: a retry may succeed), or
 * of the data or the parameters (a wrong header, a bad schema: final). */
int builtin_failed(const char *result, const struct al_err *err)
{
	int env = err->code == AL_EENV;

	fprintf(stderr, "airlock: %s\n", err->msg);
	return builtin_finish(result, json_pack("{s:s,s:b}", "error", err->msg, "retryable", env),
	              env ? 4 : err->code == AL_EUSAGE ? 2 : 1);
}

/* ---- the engine's side ---- */

char **builtin_argv(struct al_step_ctx *c, const char *name, json_t *spec, struct al_err *err)
{
	char **argv = calloc(6, sizeof *argv), result[PATH_MAX + 16];

	al_snprintf(result, sizeof result, "%s.result.json", c->logs);
	if (argv == NULL || spec == NULL || (argv[0] = strdup("/proc/self/exe")) == NULL ||
	    (argv[1] = strdup("__builtin")) == NULL || (argv[2] = strdup(name)) == NULL ||
	    (argv[3] = al_json_dump(spec)) == NULL || (argv[4] = strdup(result)) == NULL) {
		json_decref(spec);
		al_step_argv_free(argv);
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	json_decref(spec);
	return argv;
}

json_t *builtin_result(struct al_step_ctx *c)
{
	char path[PATH_MAX + 16];
	struct al_err err = {0};
	json_t *res;

	al_snprintf(path, sizeof path, "%s.result.json", c->logs);
	res = al_json_load_file(path, 1 << 20, &err);
	if (res != NULL && json_is_false(json_object_get(res, "retryable")))
		al_step_no_retry(c);
	return res;
}

int builtin_reason(struct al_step_ctx *c, json_t *res, json_t *end, int exit_code)
{
	const char *reason = json_string_value(json_object_get(res, "reason"));

	if (reason == NULL)
		reason = json_string_value(json_object_get(res, "error"));
	if (reason == NULL || exit_code == 0)
		return 0;
	al_step_reason(c, reason);
	json_object_set_new(end, "reason", json_string(reason));
	return 1;
}
