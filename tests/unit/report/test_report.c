/* test_report.c - what report/ renders from the engine's state and view:
 * the metrics file from state.db, the run summary from a run view. */
#include "tests/unit/unit.h"

#include "report/report.h"

static void test_metrics_from_state(void **state)
{
	char *dir = unit_mkdtemp(), path[4300], *text;
	struct al_err err = {0};
	struct al_state *st = al_state_open(dir, &err);
	struct al_breaker_row b;
	struct al_run_row r = {0};

	(void)state;
	assert_non_null(st);
	assert_int_equal(al_state_step_total(st, "p", "s", 1, 2500000, 10, &err), 0);
	assert_int_equal(al_state_step_total(st, "p", "s", 0, 1500000, 20, &err), 0);
	assert_int_equal(al_state_alert_count(st, "p", "zero-output", 5, &err), 0);
	assert_int_equal(al_state_alert_count(st, "p", "zero-output", 6, &err), 0);
	/* a label value with a quote, a backslash and a newline is escaped */
	assert_int_equal(al_state_breaker_get(st, "we\"ird\\\n", &b, &err), 0);
	snprintf(b.state, sizeof b.state, "half_open");
	assert_int_equal(al_state_breaker_put(st, &b, &err), 0);
	snprintf(r.id, sizeof r.id, "r1");
	snprintf(r.pipeline, sizeof r.pipeline, "p");
	snprintf(r.status, sizeof r.status, "running");
	r.start_us = 1;
	assert_int_equal(al_state_run_insert(st, &r, &err), 0);
	assert_int_equal(al_state_run_end(st, "r1", "failed", 3000000, &err), 0);
	assert_int_equal(al_metrics_write(dir, st, 42, &err), 0);
	snprintf(path, sizeof path, "%s/metrics/airlock.prom", dir);
	text = unit_slurp(path);
	assert_non_null(text);
	assert_non_null(strstr(text, "airlock_step_attempts_total{pipeline=\"p\",step=\"s\"} 2\n"));
	assert_non_null(strstr(text, "airlock_step_failures_total{pipeline=\"p\",step=\"s\"} 1\n"));
	assert_non_null(strstr(text, "airlock_step_duration_seconds{pipeline=\"p\",step=\"s\"} 1.500000\n"));
	assert_non_null(strstr(text, "airlock_alerts_total{pipeline=\"p\",kind=\"zero-output\"} 2\n"));
	assert_non_null(strstr(text, "airlock_run_last_status{pipeline=\"p\"} 1\n"));
	assert_null(strstr(text, "airlock_run_last_success_timestamp_seconds{"));
	assert_non_null(strstr(text, "airlock_breaker_open{resource=\"we\\\"ird\\\\\\n\"} 1\n"));
	assert_non_null(strstr(text, "# TYPE airlock_audit_entries_total counter\nairlock_audit_entries_total 42\n"));
	free(text);
	al_state_close(st);
	unit_rmtree(dir);
}

/* The summary says what the view says, in airlock.summary/1's shape:
 * no exit is null, no duration is left out, a skip's reason is kept. */
static void test_summary_from_view(void **state)
{
	json_t *outputs = json_pack("[{s:s,s:s,s:i}]", "path", "a.csv", "sha256", "ab", "size", 3);
	json_t *alerts = json_pack("[{s:s,s:s,s:s,s:i}]", "kind", "step-failed", "step", "b",
	                           "message", "m", "seq", 9);
	struct al_step_view steps[2] = {
	    {"a", "exec", "ok", "ok", "", 1, 0, 12, outputs},
	    {"b", "validate", "skipped", "", "upstream-failed", 0, -1, -1, NULL},
	};
	struct al_run_view v = {.home = "/h", .run = "R", .pipeline = "p", .date = "2026-01-02",
	                        .version = 3, .resume_of = "", .cause = "step b: x", .failed = 1,
	                        .log_id = "L", .first_seq = 5, .last_seq = 11, .alerts = alerts,
	                        .steps_n = 2, .steps = steps};
	json_t *sum = al_summary_json(&v), *b;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(sum, "format")), "airlock.summary/1");
	assert_string_equal(json_string_value(json_object_get(sum, "status")), "failed");
	assert_true(json_is_null(json_object_get(sum, "resume_of")));
	assert_string_equal(json_string_value(json_object_get(sum, "cause")), "step b: x");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sum, "audit"), "last_seq")), 11);
	assert_int_equal(json_array_size(json_object_get(sum, "alerts")), 1);
	b = json_array_get(json_object_get(sum, "steps"), 1);
	assert_true(json_is_null(json_object_get(b, "exit")));
	assert_null(json_object_get(b, "duration_ms"));
	assert_null(json_object_get(b, "status"));
	assert_string_equal(json_string_value(json_object_get(b, "reason")), "upstream-failed");
	assert_int_equal(json_array_size(json_object_get(b, "outputs")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(sum, "steps"), 0),
	                                                    "duration_ms")),
	                 12);
	json_decref(sum);
	json_decref(outputs);
	json_decref(alerts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_from_state),
		cmocka_unit_test(test_summary_from_view),
	};
	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
