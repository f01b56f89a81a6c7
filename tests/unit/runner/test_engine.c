/* test_engine.c - the engine through its two interfaces, with kinds and
 * an observer of the test's own: the engine knows no kind by name, calls
 * each hook in its order, records a built-in kind's argv as such, and
 * refuses a manifest whose kind it was not given. */
#include "tests/unit/unit.h"

#include <sys/stat.h>

#include "runner/runner.h"

struct calls {
	char log[1024]; /* "launch:a ended:a done:a+ ..." */
	int changed, finals, summaries;
};

static struct calls calls;

static void note(const char *what, const struct al_step_ctx *c, const char *extra)
{
	size_t n = strlen(calls.log);

	snprintf(calls.log + n, sizeof calls.log - n, "%s%s:%s%s", n ? " " : "", what, c->def->id,
	         extra);
}

static int fake_launch(struct al_step_ctx *c, struct al_step_launch *l, struct al_err *err)
{
	static const char *const argv[] = {"/bin/true", NULL};

	note("launch", c, "");
	l->argv = al_step_argv(c, argv, err);
	return l->argv != NULL ? 0 : -1;
}

static int fake_ended(struct al_step_ctx *c, json_t *end, int exit_code, int timed_out)
{
	(void)end;
	(void)timed_out;
	note("ended", c, exit_code == 0 ? "" : "!");
	(void)al_step_audit(c, "fake.result", json_pack("{s:i}", "exit", exit_code));
	return 0;
}

static void fake_done(struct al_step_ctx *c, int ok)
{
	note("done", c, ok ? "+" : "-");
}

/* A reporter: asks for the summary, as notify does. */
static int fake_report_launch(struct al_step_ctx *c, struct al_step_launch *l, struct al_err *err)
{
	json_t *sum = al_step_summary(c);

	assert_non_null(sum);
	json_decref(sum);
	return fake_launch(c, l, err);
}

static const struct al_kind fake_exec = {
	.name = "exec", .flags = AL_KIND_BUILTIN, .launch = fake_launch, .ended = fake_ended,
	.done = fake_done};
static const struct al_kind fake_notify = {
	.name = "notify", .flags = AL_KIND_EACH_RUN, .launch = fake_report_launch,
	.done = fake_done};

static void observed(void *ctx, const struct al_run_view *v, int final)
{
	(void)ctx;
	assert_string_equal(v->pipeline, "t");
	calls.changed++;
	calls.finals += final;
}

static json_t *summarised(void *ctx, const struct al_run_view *v)
{
	(void)ctx;
	calls.summaries++;
	assert_int_equal(v->steps_n, 2);
	assert_string_equal(v->steps[0].state, "ok");
	return json_pack("{s:s}", "run", v->run);
}

static const struct al_run_observer observer = {NULL, observed, summarised};

struct fx {
	char *dir;
	char home[4200], pipe[4200];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct al_audit_config cfg = {AL_AUDIT_SEGMENT_SIZE, 1000, 0, AL_AUDIT_MIN_FREE,
	                              AL_AUDIT_MIN_FREE_PCT};
	struct al_err err = {0};
	char path[4300];

	f->dir = unit_mkdtemp();
	snprintf(f->home, sizeof f->home, "%s/home", f->dir);
	snprintf(f->pipe, sizeof f->pipe, "%s/pipe", f->dir);
	snprintf(path, sizeof path, "%s/seal.pub", f->dir);
	assert_int_equal(al_audit_init(f->home, path, &cfg, &err), 0);
	assert_int_equal(mkdir(f->pipe, 0700), 0);
	snprintf(path, sizeof path, "%s/airlock.json", f->pipe);
	unit_write(path, "{\"format\": \"airlock.manifest/1\", \"pipeline\": \"t\", \"version\": 1,"
	                 " \"expires\": \"2099-01-01T00:00:00Z\", \"steps\": ["
	                 "{\"id\": \"a\", \"run\": [\"x\"]},"
	                 "{\"id\": \"b\", \"kind\": \"notify\", \"needs\": [\"a\"], \"run\": [\"y\"]}]}");
	memset(&calls, 0, sizeof calls);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static int run_with(struct fx *f, const struct al_kind *const *kinds)
{
	struct al_run_opts o = {0};

	o.home = f->home;
	o.target = f->pipe;
	o.unsigned_ok = 1;
	o.date = "2026-01-02";
	o.jobs = 1;
	o.quiet = 1;
	o.allow_network = 1;
	o.kinds = kinds;
	o.observer = &observer;
	return al_run(&o);
}

static void test_engine_calls_each_hook_in_order(void **state)
{
	static const struct al_kind *const kinds[] = {&fake_notify, &fake_exec, NULL};
	struct fx *f = *state;
	char path[4300], *log;

	assert_int_equal(run_with(f, kinds), AL_OK);
	assert_string_equal(calls.log, "launch:a ended:a done:a+ launch:b done:b+");
	assert_int_equal(calls.summaries, 1);
	assert_true(calls.finals == 1 && calls.changed >= 1);
	snprintf(path, sizeof path, "%s/audit/audit-000001.jsonl", f->home);
	log = unit_slurp(path);
	assert_non_null(log);
	/* a built-in kind's process is airlock itself, and step.start says so */
	assert_non_null(strstr(log, "\"step\":\"a\",\"attempt\":1,\"argv\":[\"airlock\",\"__builtin\",\"exec\"]"));
	assert_non_null(strstr(log, "\"step\":\"b\",\"attempt\":1,\"argv\":[\"y\"]"));
	/* a kind's own entry: run, step and attempt first */
	assert_non_null(strstr(log, "\"event\":\"fake.result\""));
	assert_non_null(strstr(log, ",\"run\":\""));
	free(log);
}

static void test_engine_refuses_a_kind_it_was_not_given(void **state)
{
	static const struct al_kind *const kinds[] = {&fake_exec, NULL};
	struct fx *f = *state;

	assert_int_equal(run_with(f, kinds), AL_EUSAGE);
	assert_string_equal(calls.log, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_engine_calls_each_hook_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_refuses_a_kind_it_was_not_given, setup,
		                                teardown),
	};
	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
