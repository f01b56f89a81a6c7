/* test_runner_state.c - state.db (migrations, a newer schema refused, a
 * damaged file, commits joining a transaction, the totals behind the
 * metrics) and the retry delay. */
#include "tests/unit/unit.h"

#include <fcntl.h>
#include <sqlite3.h>

#include "runner/runner.h"

static void test_open_creates_and_reopens(void **state)
{
	char *dir = unit_mkdtemp();
	struct al_err err = {0};
	struct al_state *st = al_state_open(dir, &err);
	struct al_run_row r = {0}, got;

	(void)state;
	assert_non_null(st);
	snprintf(r.id, sizeof r.id, "20261125T030001Z-3f9a");
	snprintf(r.pipeline, sizeof r.pipeline, "p");
	r.version = 3;
	snprintf(r.status, sizeof r.status, "running");
	snprintf(r.date, sizeof r.date, "2026-11-25");
	r.start_us = 42;
	assert_int_equal(al_state_run_insert(st, &r, &err), 0);
	al_state_close(st);
	/* a second open migrates nothing and sees the run */
	st = al_state_open(dir, &err);
	assert_non_null(st);
	assert_int_equal(al_state_run_get(st, r.id, &got, &err), 1);
	assert_string_equal(got.pipeline, "p");
	assert_int_equal(got.version, 3);
	assert_string_equal(got.resume_of, "");
	assert_int_equal(al_state_run_end(st, r.id, "ok", 99, &err), 0);
	assert_int_equal(al_state_run_get(st, NULL, &got, &err), 1);
	assert_string_equal(got.status, "ok");
	assert_int_equal(al_state_run_get(st, "nosuch", &got, &err), 0);
	al_state_close(st);
	unit_rmtree(dir);
}

static void test_newer_schema_is_refused(void **state)
{
	char *dir = unit_mkdtemp(), path[4200];
	struct al_err err = {0};
	sqlite3 *db;

	(void)state;
	snprintf(path, sizeof path, "%s/state.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(al_state_open(dir, &err));
	assert_int_equal(err.code, AL_EENV);
	assert_non_null(strstr(err.msg, "schema version 999 is newer"));
	unit_rmtree(dir);
}

static void test_damaged_file_is_an_environment_error(void **state)
{
	char *dir = unit_mkdtemp(), path[4200];
	struct al_err err = {0};

	(void)state;
	snprintf(path, sizeof path, "%s/state.db", dir);
	unit_write(path, "this is not an sqlite database, but it is long enough to look like one....");
	assert_null(al_state_open(dir, &err));
	assert_int_equal(err.code, AL_EENV);
	assert_non_null(strstr(err.msg, "state.db"));
	unit_rmtree(dir);
}

static void test_commit_round_trip_and_join(void **state)
{
	char *dir = unit_mkdtemp();
	struct al_err err = {0};
	struct al_state *st = al_state_open(dir, &err);
	struct al_commit_row c = {0}, got;
	struct al_step_row s = {0};
	struct al_run_row r = {0};

	(void)state;
	assert_non_null(st);
	/* a step row needs its run (a foreign key) */
	snprintf(r.id, sizeof r.id, "r1");
	assert_int_equal(al_state_run_insert(st, &r, &err), 0);
	snprintf(c.manifest_sha256, sizeof c.manifest_sha256, "%064d", 1);
	snprintf(c.inputs_sha256, sizeof c.inputs_sha256, "%064d", 2);
	c.files = "[]";
	snprintf(s.step, sizeof s.step, "a");
	snprintf(s.state, sizeof s.state, "ok");
	/* inside an open transaction, the commit joins it; a rollback undoes it */
	assert_int_equal(al_state_begin(st, &err), 0);
	assert_int_equal(al_state_commit_put(st, "p", "2026-11-25", "a", &c, "r1", &s, &err), 0);
	al_state_close(st);
	st = al_state_open(dir, &err);
	assert_int_equal(al_state_commit_get(st, "p", "2026-11-25", "a", &got, &err), 0);
	/* on its own, it is durable at once */
	assert_int_equal(al_state_commit_put(st, "p", "2026-11-25", "a", &c, "r1", &s, &err), 0);
	assert_int_equal(al_state_commit_get(st, "p", "2026-11-25", "a", &got, &err), 1);
	assert_string_equal(got.run, "r1");
	assert_string_equal(got.files, "[]");
	free(got.files);
	al_state_close(st);
	unit_rmtree(dir);
}

static void test_retry_delay_bounds(void **state)
{
	const char *key = "5c2b0c5d4f7e6a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f";

	(void)state;
	for (int n = 1; n <= 12; n++) {
		int64_t bound = 100;
		for (int i = 1; i < n && bound < 3000; i++)
			bound *= 2;
		if (bound > 3000)
			bound = 3000;
		int64_t d = al_retry_delay_ms(key, n, 100, 3000);
		assert_true(d >= 0 && d <= bound);
		/* reproducible */
		assert_int_equal(d, al_retry_delay_ms(key, n, 100, 3000));
	}
	/* a huge attempt number does not overflow: the cap holds */
	assert_true(al_retry_delay_ms(key, 1000, 1000, 32000) <= 32000);
	assert_int_equal(al_retry_delay_ms(key, 3, 0, 0), 0);
}

static void test_breaker_round_trip(void **state)
{
	char *dir = unit_mkdtemp();
	struct al_err err = {0};
	struct al_state *st = al_state_open(dir, &err);
	struct al_breaker_row b;

	(void)state;
	assert_non_null(st);
	/* an unknown resource is a closed breaker */
	assert_int_equal(al_state_breaker_get(st, "ml-api", &b, &err), 0);
	assert_string_equal(b.state, "closed");
	assert_string_equal(b.resource, "ml-api");
	assert_int_equal(b.failures, 0);
	snprintf(b.state, sizeof b.state, "open");
	b.failures = 5;
	b.opened_us = 100;
	b.until_us = 400;
	snprintf(b.run, sizeof b.run, "r1");
	assert_int_equal(al_state_breaker_put(st, &b, &err), 0);
	al_state_close(st);
	/* it survives the process: the next run sees it open */
	st = al_state_open(dir, &err);
	assert_non_null(st);
	memset(&b, 0, sizeof b);
	assert_int_equal(al_state_breaker_get(st, "ml-api", &b, &err), 1);
	assert_string_equal(b.state, "open");
	assert_int_equal(b.failures, 5);
	assert_int_equal(b.until_us, 400);
	assert_string_equal(b.run, "r1");
	al_state_close(st);
	unit_rmtree(dir);
}

struct rows {
	int n;
	char text[512];
};

static int collect(void *ctx, int n, const char *const *v)
{
	struct rows *r = ctx;
	size_t len = strlen(r->text);

	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(r->text + len, sizeof r->text - len, "%s%s", i ? "," : "",
		                        v[i] != NULL ? v[i] : "NULL");
	snprintf(r->text + len, sizeof r->text - len, ";");
	r->n++;
	return 0;
}

static void test_step_totals(void **state)
{
	char *dir = unit_mkdtemp();
	struct al_err err = {0};
	struct al_state *st = al_state_open(dir, &err);
	struct rows rows = {0};

	(void)state;
	assert_non_null(st);
	assert_int_equal(al_state_step_total(st, "p", "s", 1, 2500000, 10, &err), 0);
	assert_int_equal(al_state_step_total(st, "p", "s", 0, 1500000, 20, &err), 0);
	assert_int_equal(al_state_alert_count(st, "p", "zero-output", 5, &err), 0);
	assert_int_equal(al_state_alert_count(st, "p", "zero-output", 6, &err), 0);
	assert_int_equal(al_state_select(st, "SELECT attempts, failures, last_duration_us FROM step_totals",
	                                 collect, &rows, &err),
	                 0);
	assert_string_equal(rows.text, "2,1,1500000;");
	al_state_close(st);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_creates_and_reopens),
		cmocka_unit_test(test_newer_schema_is_refused),
		cmocka_unit_test(test_damaged_file_is_an_environment_error),
		cmocka_unit_test(test_commit_round_trip_and_join),
		cmocka_unit_test(test_retry_delay_bounds),
		cmocka_unit_test(test_breaker_round_trip),
		cmocka_unit_test(test_step_totals),
	};
	return cmocka_run_group_tests_name("runner_state", tests, NULL, NULL);
}
