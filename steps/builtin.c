/* builtin.c - the child side of the built-in step kinds:
 *
 *     airlock __builtin await|validate SPEC RESULT
 *
 * The run engine starts this as the step's process (same sandbox,
 * timeout and captured output as an exec step). SPEC is the step's
 * parameters as one JSON object, already resolved by the engine (the
 * date substituted, step:file references made absolute paths); RESULT is
 * a path where the outcome is written, atomically, as a JSON object that
 * the engine audits (await.ready, validate.result). Exit status: 0 done,
 * 1 refused (a stale input, too many rejects, a wrong header: retrying
 * cannot help, the result says "retryable": false), 2 a bad SPEC or
 * schema, 4 an error of the environment (retryable; the result holds the
 * message). */
#include "builtin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

static int64_t ms(json_t *spec, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(spec, key));
}

static int finish(const char *result, json_t *res, int code)
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
static int failed(const char *result, const struct al_err *err)
{
	int env = err->code == AL_EENV;

	fprintf(stderr, "airlock: %s\n", err->msg);
	return finish(result, json_pack("{s:s,s:b}", "error", err->msg, "retryable", env),
	              env ? 4 : err->code == AL_EUSAGE ? 2 : 1);
}

static int await_main(json_t *spec, const char *result)
{
	struct al_await_opts o = {
	    .dir = str(spec, "dir"),
	    .marker = str(spec, "marker"),
	    .max_age_ms = ms(spec, "max_age_ms"),
	    .every_ms = ms(spec, "every_ms"),
	    .then_ms = ms(spec, "then_ms"),
	    .after_ms = ms(spec, "after_ms"),
	    .out_dir = str(spec, "out_dir"),
	};
	struct al_await_res res = {0};
	struct al_err err = {0};
	int rc;

	if (o.dir == NULL || o.marker == NULL || o.out_dir == NULL || o.every_ms <= 0) {
		al_err_set(&err, AL_EUSAGE, "await: incomplete parameters");
		return failed(result, &err);
	}
	rc = al_await(&o, &res, &err);
	if (rc < 0) {
		json_decref(res.files);
		return failed(result, &err);
	}
	if (rc == 1) {
		fprintf(stderr, "airlock: await refused: %s\n", res.reason);
		json_decref(res.files);
		return finish(result,
		              json_pack("{s:s,s:b,s:I,s:i}", "reason", res.reason, "retryable", 0,
		                        "waited_ms", (json_int_t)res.waited_ms, "polls", res.polls),
		              1);
	}
	return finish(result,
	              json_pack("{s:s,s:o,s:I,s:i}", "dir", o.dir, "files",
	                        res.files != NULL ? res.files : json_array(), "waited_ms",
	                        (json_int_t)res.waited_ms, "polls", res.polls),
	              0);
}

static int validate_main(json_t *spec, const char *result)
{
	struct al_validate_opts o = {
	    .input = str(spec, "input"),
	    .schema = str(spec, "schema"),
	    .output = str(spec, "output"),
	    .quarantine = str(spec, "quarantine"),
	    .max_reject = str(spec, "max_reject"),
	};
	struct al_validate_res res = {0};
	struct al_err err = {0};
	char hex[AL_SHA256_HEX];
	json_t *out;

	if (o.input == NULL || o.schema == NULL || o.output == NULL || o.quarantine == NULL) {
		al_err_set(&err, AL_EUSAGE, "validate: incomplete parameters");
		return failed(result, &err);
	}
	if (al_validate(&o, &res, &err) < 0)
		return failed(result, &err);
	al_hex(res.quarantine_sha256, sizeof res.quarantine_sha256, hex);
	out = json_pack("{s:I,s:I,s:I,s:f,s:s,s:{s:s,s:s,s:I}}", "records", (json_int_t)res.records,
	                "accepted", (json_int_t)res.accepted, "rejected", (json_int_t)res.rejected,
	                "reject_ratio", res.reject_ratio, "limit", res.limit, "quarantine", "path",
	                o.quarantine, "sha256", hex, "size", (json_int_t)res.quarantine_size);
	if (res.first_reject[0] != '\0')
		json_object_set_new(out, "first_reject", json_string(res.first_reject));
	fprintf(stderr, "validate: %lld records, %lld accepted, %lld rejected (limit %s)\n",
	        (long long)res.records, (long long)res.accepted, (long long)res.rejected, res.limit);
	if (res.over_limit) {
		char reason[512];
		al_snprintf(reason, sizeof reason,
		            "%lld of %lld records rejected (%.2f%%), over max_reject %s; first: %s",
		            (long long)res.rejected, (long long)res.records, res.reject_ratio * 100,
		            res.limit, res.first_reject);
		fprintf(stderr, "airlock: %s\n", reason);
		json_object_set_new(out, "reason", json_string(reason));
		json_object_set_new(out, "retryable", json_false());
		return finish(result, out, 1);
	}
	return finish(result, out, 0);
}

int al_builtin_main(int argc, char **argv)
{
	struct al_err err = {0};
	json_t *spec;
	int code;

	if (argc != 4) {
		fprintf(stderr, "airlock __builtin: usage: KIND SPEC RESULT (started by airlock run)\n");
		return 2;
	}
	spec = al_json_parse(argv[2], strlen(argv[2]), "__builtin SPEC", &err);
	if (spec == NULL || !json_is_object(spec)) {
		if (spec != NULL)
			al_err_set(&err, AL_EUSAGE, "__builtin SPEC: not an object");
		json_decref(spec);
		return failed(argv[3], &err);
	}
	if (strcmp(argv[1], "await") == 0) {
		code = await_main(spec, argv[3]);
	} else if (strcmp(argv[1], "validate") == 0) {
		code = validate_main(spec, argv[3]);
	} else {
		al_err_set(&err, AL_EUSAGE, "__builtin %s: no such kind", argv[1]);
		code = failed(argv[3], &err);
	}
	json_decref(spec);
	return code;
}
