/* kind_validate.c - the validate kind (DESIGN.md §8, runner/README.md
 * "Built-in kinds"): a step that checks a committed CSV or JSONL file
 * against a schema, accepted records to its output, rejected ones to the
 * quarantine. Its schema is checked before the run starts, its input is
 * one of its inputs, the checking is done by `airlock __builtin validate`
 * in the step's process (validate.c), and its result becomes
 * validate.result (and an alert reject-threshold over max_reject). */
#include "steps/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key));
}

static const char *member(const struct al_step_ctx *c, const char *key)
{
	return json_string_value(json_object_get(c->def->json, key));
}

static int validate_check(const struct al_step_ctx *c, struct al_err *err)
{
	char schema[PATH_MAX * 2];

	al_snprintf(schema, sizeof schema, "%s/%s", c->bundle_dir, member(c, "schema"));
	if (al_schema_check(schema, err) < 0) {
		al_err_prefix(err, "schema");
		return -1;
	}
	return 0;
}

static int validate_inputs(struct al_step_ctx *c, struct al_err *err)
{
	return al_step_add_input(c, member(c, "input"), err);
}

static int validate_launch(struct al_step_ctx *c, struct al_step_launch *l, struct al_err *err)
{
	char input[PATH_MAX * 2], schema[PATH_MAX * 2], output[PATH_MAX * 2], q[PATH_MAX * 2];

	if (al_step_ref_path(c, member(c, "input"), input, sizeof input) < 0)
		return al_err_set(err, AL_EUSAGE, "input %s: not a STEP:FILE reference", member(c, "input"));
	al_snprintf(schema, sizeof schema, "%s/%s", c->bundle_dir, member(c, "schema"));
	al_snprintf(output, sizeof output, "%s/%s", c->stage, member(c, "output"));
	al_snprintf(q, sizeof q, "%s/rejected.jsonl", c->quarantine);
	/* The quarantine directory exists before the step runs. */
	if (al_mkdirs(c->quarantine, 0700, err) < 0)
		return -1;
	l->argv = builtin_argv(c, al_kind_validate.name,
	                       json_pack("{s:s,s:s,s:s,s:s,s:s?}", "input", input, "schema", schema,
	                                 "output", output, "quarantine", q, "max_reject",
	                                 member(c, "max_reject")),
	                       err);
	return l->argv != NULL ? 0 : -1;
}

static int validate_ended(struct al_step_ctx *c, json_t *end, int exit_code, int timed_out)
{
	static const char *const keys[] = {"records", "accepted", "rejected", "reject_ratio",
	                                   "limit", "quarantine", "first_reject", NULL};
	json_t *res = builtin_result(c), *f;
	int given;

	(void)timed_out;
	if (res == NULL)
		return 0; /* killed before it could say (a timeout) */
	if (json_object_get(res, "records") != NULL) {
		f = json_object();
		for (int i = 0; keys[i] != NULL; i++)
			if (json_object_get(res, keys[i]) != NULL)
				json_object_set(f, keys[i], json_object_get(res, keys[i]));
		(void)al_step_audit(c, "validate.result", f);
		al_step_output(c, json_integer_value(json_object_get(res, "accepted")) == 0
		                      ? "accepted no record"
		                      : NULL);
		if (exit_code == 1 && json_is_false(json_object_get(res, "retryable")))
			al_step_alert(c, "reject-threshold",
			              json_string_value(json_object_get(res, "reason")),
			              json_pack("{s:O,s:O,s:O}", "rejected", json_object_get(res, "rejected"),
			                        "limit", json_object_get(res, "limit"), "quarantine",
			                        json_object_get(res, "quarantine")));
	}
	given = builtin_reason(c, res, end, exit_code);
	json_decref(res);
	return given;
}

/* ---- the child's side: airlock __builtin validate SPEC RESULT ---- */

static int validate_child(json_t *spec, const char *result)
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
		return builtin_failed(result, &err);
	}
	if (al_validate(&o, &res, &err) < 0)
		return builtin_failed(result, &err);
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
		return builtin_finish(result, out, 1);
	}
	return builtin_finish(result, out, 0);
}

const struct al_kind al_kind_validate = {
	.name = "validate",
	.flags = AL_KIND_BUILTIN,
	.check = validate_check,
	.inputs = validate_inputs,
	.launch = validate_launch,
	.ended = validate_ended,
	.builtin_main = validate_child,
};
