/* kind_await.c - the await kind (DESIGN.md §8, runner/README.md
 * "Built-in kinds"): a step that waits for a drop folder's marker, then
 * takes its files as its outputs. Its parameters are resolved here (the
 * logical date put into the path), the waiting itself is done by
 * `airlock __builtin await` in the step's process (await.c), and its
 * result becomes await.ready. Its timeout is final: retrying a wait
 * that ran out of time only waits again past the deadline. */
#include "steps/internal.h"

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

/* "{date}" in an await path is the run's logical date. */
static void expand_date(const char *date, const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (; *in != '\0' && o + 11 < n; in++) {
		if (strncmp(in, "{date}", 6) == 0) {
			memcpy(out + o, date, 10);
			o += 10;
			in += 5;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* A duration member in ms; 0 when absent (poll.then and poll.after are
 * optional: a poll of "every" alone crashed on a NULL here before). */
static int64_t field_ms(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	int64_t v = 0;

	if (s != NULL)
		(void)al_duration_parse(s, &v, NULL);
	return v;
}

static int await_launch(struct al_step_ctx *c, struct al_step_launch *l, struct al_err *err)
{
	json_t *j = c->def->json, *poll = json_object_get(j, "poll");
	const char *marker = json_string_value(json_object_get(j, "marker"));
	char dir[PATH_MAX];
	int64_t every = poll != NULL ? field_ms(poll, "every") : 0;

	expand_date(c->date, json_string_value(json_object_get(j, "path")), dir, sizeof dir);
	l->argv = builtin_argv(
	    c, al_kind_await.name,
	    json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "dir", dir, "marker",
	              marker != NULL ? marker : "_SUCCESS", "max_age_ms",
	              (json_int_t)field_ms(j, "max_age"), "every_ms",
	              (json_int_t)(every > 0 ? every : AL_AWAIT_EVERY_MS), "then_ms",
	              (json_int_t)(poll != NULL ? field_ms(poll, "then") : 0), "after_ms",
	              (json_int_t)(poll != NULL ? field_ms(poll, "after") : 0), "out_dir", c->stage),
	    err);
	return l->argv != NULL ? 0 : -1;
}

static int await_ended(struct al_step_ctx *c, json_t *end, int exit_code, int timed_out)
{
	json_t *res = builtin_result(c);
	int given = 0;

	if (res != NULL) {
		if (exit_code == 0)
			(void)al_step_audit(c, "await.ready",
			                    json_pack("{s:O,s:O,s:O,s:O}", "dir", json_object_get(res, "dir"),
			                              "files", json_object_get(res, "files"), "waited_ms",
			                              json_object_get(res, "waited_ms"), "polls",
			                              json_object_get(res, "polls")));
		given = builtin_reason(c, res, end, exit_code);
		json_decref(res);
	}
	/* An await that timed out is final: its on_failure decides. */
	if (timed_out) {
		const char *why = "timeout: the awaited input was not ready in time";
		al_step_no_retry(c);
		al_step_reason(c, why);
		json_object_set_new(end, "reason", json_string(why));
		given = 1;
	}
	return given;
}

/* ---- the child's side: airlock __builtin await SPEC RESULT ---- */

static int await_child(json_t *spec, const char *result)
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
		return builtin_failed(result, &err);
	}
	rc = al_await(&o, &res, &err);
	if (rc < 0) {
		json_decref(res.files);
		return builtin_failed(result, &err);
	}
	if (rc == 1) {
		fprintf(stderr, "airlock: await refused: %s\n", res.reason);
		json_decref(res.files);
		return builtin_finish(result,
		              json_pack("{s:s,s:b,s:I,s:i}", "reason", res.reason, "retryable", 0,
		                        "waited_ms", (json_int_t)res.waited_ms, "polls", res.polls),
		              1);
	}
	return builtin_finish(result,
	              json_pack("{s:s,s:o,s:I,s:i}", "dir", o.dir, "files",
	                        res.files != NULL ? res.files : json_array(), "waited_ms",
	                        (json_int_t)res.waited_ms, "polls", res.polls),
	              0);
}

const struct al_kind al_kind_await = {
	.name = "await",
	.flags = AL_KIND_BUILTIN,
	.launch = await_launch,
	.ended = await_ended,
	.builtin_main = await_child,
};
