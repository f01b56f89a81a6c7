/* test_audit_writer.c - the audit writer through its API: faults at every
 * write, fdatasync and rename, torn tails, the clock going back, segment
 * rotation and compression, a seal key left unevolved by a crash; each
 * time the verifier must find the log intact. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/internal.h"

struct fx {
	char *home;
	char k0_path[4200]; /* the seal public key handed over */
	unsigned char pub[SEAL_PUB_LEN];
	char seg1[4200];
};

struct counts {
	int errors, warnings, torn;
	char last[1536];
};

static void count(void *ctx, const struct al_finding *f)
{
	struct counts *c = ctx;

	if (f->level == AL_FINDING_ERROR)
		c->errors++;
	if (f->level == AL_FINDING_WARNING)
		c->warnings++;
	if (strstr(f->msg, "torn") != NULL)
		c->torn++;
	snprintf(c->last, sizeof c->last, "%s", f->msg);
}

static int init_with(void **state, uint64_t segment_size, int compress)
{
	struct fx *f = calloc(1, sizeof *f);
	struct al_audit_config cfg = {segment_size, 1000, compress, AL_AUDIT_MIN_FREE,
	                              AL_AUDIT_MIN_FREE_PCT};
	struct al_err err = {0};

	al_sys_fault_reset();
	assert_int_equal(al_crypto_init(&err), 0);
	f->home = unit_mkdtemp();
	snprintf(f->k0_path, sizeof f->k0_path, "%s/seal.pub", f->home);
	snprintf(f->seg1, sizeof f->seg1, "%s/audit/audit-000001.jsonl", f->home);
	if (al_audit_init(f->home, f->k0_path, &cfg, &err) < 0)
		fail_msg("init: %s", err.msg);
	assert_int_equal(al_seal_pub_load(f->k0_path, f->pub, &err), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return init_with(state, AL_AUDIT_SEGMENT_SIZE, 0);
}

static int setup_small(void **state)
{
	return init_with(state, 4096, 0);
}

static int setup_small_compressed(void **state)
{
	return init_with(state, 4096, 1);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	al_sys_fault_reset();
	al_sys.clock_gettime = clock_gettime;
	unit_rmtree(f->home);
	free(f);
	return 0;
}

/* Verifies HOME/audit with the seal public key; returns the verifier's result. */
static int verify(struct fx *f, struct counts *c, struct al_verify_summary *sum)
{
	char dir[4200];
	struct al_verify_opts o = {.seal_pub = f->pub, .on_finding = count, .ctx = c};
	struct al_err err = {0};
	int r;

	memset(c, 0, sizeof *c);
	snprintf(dir, sizeof dir, "%s/audit", f->home);
	r = al_audit_verify(dir, &o, sum, &err);
	if (r < 0)
		fail_msg("verify could not run: %s", err.msg);
	return r;
}

static int note(struct al_audit *log, int i, struct al_err *err)
{
	json_t *fields = json_pack("{s:i}", "i", i);
	int r = al_audit_append(log, "test.note", fields, AL_AUDIT_SYNC, err);

	json_decref(fields);
	return r;
}

static long count_events(struct fx *f, const char *event)
{
	char cmd[4400], buf[64];
	FILE *p;
	long n = -1;

	snprintf(cmd, sizeof cmd, "cat %s/audit/audit-*.jsonl 2>/dev/null | grep -c '\"event\":\"%s\"'",
	         f->home, event);
	p = popen(cmd, "r");
	if (p != NULL && fgets(buf, sizeof buf, p) != NULL)
		n = strtol(buf, NULL, 10);
	if (p != NULL)
		pclose(p);
	return n;
}

static void test_writer_chain_verifies(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_verify_summary sum;
	struct counts c;
	struct al_audit *log = al_audit_open(f->home, &err);

	assert_non_null(log);
	for (int i = 0; i < 20; i++)
		assert_int_equal(note(log, i, &err), 0);
	assert_int_equal(al_audit_seal(log, &err), 0);
	assert_int_equal(al_audit_close(log, &err), 0);
	assert_int_equal(verify(f, &c, &sum), 0);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.warnings, 0);
	assert_int_equal(sum.entries, 2 + 1 + 20 + 1);
	assert_int_equal(sum.seals, 2);
	assert_true(sum.seals_checked);
}

/* A fault at the nth write/fdatasync (counted after the log is open):
 * the append reports AL_EENV, every later one is refused, the log still
 * verifies and holds exactly the entries that were reported written. */
static void fault_sweep(struct fx *f, enum al_sys_call call, int error, int max_n)
{
	for (int n = 1; n <= max_n; n++) {
		struct al_err err = {0};
		struct al_verify_summary sum;
		struct counts c;
		struct al_audit *log = al_audit_open(f->home, &err);
		long before = count_events(f, "test.note"), ok = 0;
		int failed_at = -1;

		assert_non_null(log);
		al_sys_fault_reset();
		assert_int_equal(al_sys_fault_add(call, (unsigned long)n, error, 0), 0);
		for (int i = 0; i < 4; i++) {
			if (note(log, i, &err) == 0) {
				assert_int_equal(failed_at, -1); /* nothing after a failure */
				ok++;
			} else {
				if (failed_at < 0) {
					assert_int_equal(err.code, AL_EENV);
					failed_at = i;
				} else {
					assert_non_null(strstr(err.msg, "refuses entries after an earlier write failure"));
				}
			}
		}
		al_audit_close(log, NULL);
		al_sys_fault_reset();
		if (verify(f, &c, &sum) != 0 || c.errors != 0)
			fail_msg("fault %d at call %d: the log does not verify: %s", call, n, c.last);
		assert_int_equal(count_events(f, "test.note"), before + ok);
	}
}

static void test_writer_fails_closed_on_each_write_fault(void **state)
{
	fault_sweep(*state, AL_SYS_WRITE, ENOSPC, 5);
	fault_sweep(*state, AL_SYS_WRITE, EIO, 5);
}

static void test_writer_fails_closed_on_short_writes(void **state)
{
	fault_sweep(*state, AL_SYS_WRITE, 0, 5);
}

static void test_writer_fails_closed_on_fdatasync_faults(void **state)
{
	fault_sweep(*state, AL_SYS_FDATASYNC, EIO, 5);
}

static void append_raw(const char *path, const char *bytes)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	close(fd);
}

static void test_writer_repairs_torn_tail(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_verify_summary sum;
	struct counts c;
	struct al_audit *log;

	append_raw(f->seg1, "{\"seq\":3,\"ts\":\"2026-11-25T03:");
	/* before the repair: a warning, not a failure */
	assert_int_equal(verify(f, &c, &sum), 0);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.torn, 1);
	log = al_audit_open(f->home, &err);
	assert_non_null(log);
	assert_int_equal(note(log, 1, &err), 0);
	assert_int_equal(al_audit_seal(log, &err), 0);
	al_audit_close(log, NULL);
	assert_int_equal(count_events(f, "log.torn_tail"), 1);
	assert_int_equal(verify(f, &c, &sum), 0);
	assert_int_equal(c.errors, 0);
	assert_int_equal(c.warnings, 1);
	assert_non_null(strstr(c.last, "torn line"));
}

/* The last entry lost only its "\n": it is completed, not torn. */
static void test_writer_completes_entry_missing_newline(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_verify_summary sum;
	struct counts c;
	struct al_audit *log = al_audit_open(f->home, &err);
	struct stat st;

	assert_non_null(log);
	assert_int_equal(note(log, 1, &err), 0);
	al_audit_close(log, NULL);
	assert_int_equal(stat(f->seg1, &st), 0);
	assert_int_equal(truncate(f->seg1, st.st_size - 1), 0);
	log = al_audit_open(f->home, &err);
	assert_non_null(log);
	assert_int_equal(al_audit_seal(log, &err), 0);
	al_audit_close(log, NULL);
	assert_int_equal(count_events(f, "log.torn_tail"), 0);
	assert_int_equal(verify(f, &c, &sum), 0);
	assert_int_equal(c.warnings, 0);
	assert_int_equal(c.errors, 0);
}

static time_t clock_offset;

static int clock_behind(clockid_t id, struct timespec *ts)
{
	int r = clock_gettime(id, ts);

	ts->tv_sec -= clock_offset;
	return r;
}

static void test_writer_records_clock_going_back(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_verify_summary sum;
	struct counts c;
	struct al_audit *log = al_audit_open(f->home, &err);

	assert_non_null(log);
	assert_int_equal(note(log, 1, &err), 0);
	clock_offset = 3600;
	al_sys.clock_gettime = clock_behind;
	assert_int_equal(note(log, 2, &err), 0);
	assert_int_equal(note(log, 3, &err), 0);
	assert_int_equal(al_audit_seal(log, &err), 0);
	al_audit_close(log, NULL);
	al_sys.clock_gettime = clock_gettime;
	assert_int_equal(count_events(f, "clock.backwards"), 1);
	/* explained by the entry: no warning */
	assert_int_equal(verify(f, &c, &sum), 0);
	if (c.warnings != 0)
		fail_msg("warning: %s", c.last);
}

static void test_writer_rotates_segments(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_verify_summary sum;
	struct counts c;
	struct al_audit *log = al_audit_open(f->home, &err);

	assert_non_null(log);
	for (int i = 0; i < 200; i++)
		assert_int_equal(note(log, i, &err), 0);
	assert_int_equal(al_audit_seal(log, &err), 0);
	al_audit_close(log, NULL);
	assert_int_equal(verify(f, &c, &sum), 0);
	assert_int_equal(c.errors, 0);
	assert_true(sum.segments >= 5);
	assert_int_equal(count_events(f, "log.segment"), (long)sum.segments - 1);
}

static void test_writer_compresses_closed_segments(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_verify_summary sum;
	struct counts c;
	char path[4300];
	struct stat st;
	struct al_audit *log = al_audit_open(f->home, &err);

	assert_non_null(log);
	for (int i = 0; i < 200; i++)
		assert_int_equal(note(log, i, &err), 0);
	assert_int_equal(al_audit_seal(log, &err), 0);
	al_audit_close(log, NULL);
	snprintf(path, sizeof path, "%s/audit/audit-000001.jsonl.zst", f->home);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(stat(f->seg1, &st), -1);
	assert_int_equal(verify(f, &c, &sum), 0);
	assert_int_equal(c.errors, 0);
	assert_true(sum.segments >= 5);
	assert_int_equal(sum.entries, 2 + 1 + 200 + sum.segments - 1 + 1);
}

/* An entry and a seal, with fss.key's bytes as they were before the seal
 * kept in *saved (malloc'd): what a crash between the two would leave. */
static void seal_keeping_old_key(struct fx *f, char *key_path, size_t cap, char **saved,
                                 size_t *saved_len)
{
	struct al_err err = {0};
	struct al_audit *log = al_audit_open(f->home, &err);

	snprintf(key_path, cap, "%s/audit/fss.key", f->home);
	assert_non_null(log);
	assert_int_equal(note(log, 1, &err), 0);
	assert_int_equal(al_read_file(AT_FDCWD, key_path, 8192, saved, saved_len, &err), 0);
	assert_int_equal(al_audit_seal(log, &err), 0);
	al_audit_close(log, NULL);
}

/* A crash between a seal and its key's evolution: the next opener evolves
 * the key, so the next seal does not reuse the epoch. */
static void test_writer_evolves_key_left_by_crash(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_verify_summary sum;
	struct counts c;
	char key_path[4300], *saved;
	size_t saved_len;
	struct al_audit *log;

	seal_keeping_old_key(f, key_path, sizeof key_path, &saved, &saved_len);
	/* put the unevolved key back, as if the process died after the seal */
	assert_int_equal(al_write_file_atomic(key_path, saved, saved_len, 0600, &err), 0);
	free(saved);
	log = al_audit_open(f->home, &err);
	assert_non_null(log);
	assert_int_equal(note(log, 2, &err), 0);
	assert_int_equal(al_audit_seal(log, &err), 0);
	al_audit_close(log, NULL);
	assert_int_equal(verify(f, &c, &sum), 0);
	assert_int_equal(c.errors, 0);
	assert_int_equal(sum.seals, 3);
	assert_int_equal(sum.last_epoch, 2);
}

/* The same crash, but the key file holds a seed that is not the one the
 * seal announced (replaced, or restored from another host): the opener
 * refuses to go on rather than seal with a key no verifier would accept. */
static void test_writer_refuses_a_key_the_seal_did_not_announce(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	char key_path[4300], *saved;
	size_t saved_len;
	struct al_audit *log;

	seal_keeping_old_key(f, key_path, sizeof key_path, &saved, &saved_len);
	/* "airlock.fss/2 E <seed> U" in one of the two slots: change one
	 * digit of the seed */
	{
		char *rec = memmem(saved, saved_len, "airlock.fss/2 ", strlen("airlock.fss/2 "));
		char *seed;
		assert_non_null(rec);
		seed = strchr(rec + strlen("airlock.fss/2 "), ' ') + 1;
		seed[0] = seed[0] == 'a' ? 'b' : 'a';
	}
	assert_int_equal(al_write_file_atomic(key_path, saved, saved_len, 0600, &err), 0);
	free(saved);
	log = al_audit_open(f->home, &err);
	assert_null(log);
	assert_non_null(strstr(err.msg, "does not hold the key the last seal announced"));
}

static void test_writer_refuses_reserved_fields_and_bad_events(void **state)
{
	struct fx *f = *state;
	struct al_err err = {0};
	struct al_audit *log = al_audit_open(f->home, &err);
	json_t *bad = json_pack("{s:i}", "seq", 7);

	assert_non_null(log);
	assert_int_equal(al_audit_append(log, "test.x", bad, 0, &err), -1);
	assert_non_null(strstr(err.msg, "'seq' is set by the writer"));
	json_decref(bad);
	/* nor may a caller claim another identity than the writer's */
	static const char *const stamp[] = {"user", "uid", "host", "pid"};
	for (size_t i = 0; i < 4; i++) {
		char want[64];
		bad = json_pack("{s:s}", stamp[i], "someone-else");
		assert_int_equal(al_audit_append(log, "test.x", bad, 0, &err), -1);
		snprintf(want, sizeof want, "'%s' is set by the writer", stamp[i]);
		assert_non_null(strstr(err.msg, want));
		json_decref(bad);
	}
	bad = NULL;
	assert_int_equal(al_audit_append(log, "Bad Event", NULL, 0, &err), -1);
	assert_non_null(strstr(err.msg, "not a valid event name"));
	/* a refused entry is not a write failure: the log goes on */
	assert_int_equal(note(log, 1, &err), 0);
	json_decref(bad);
	al_audit_close(log, NULL);
	assert_int_equal(al_audit_event_reserved("log.open"), 1);
	assert_int_equal(al_audit_event_reserved("seal"), 1);
	assert_int_equal(al_audit_event_reserved("run.start"), 0);
}

static void test_init_refuses_existing_log_and_k0(void **state)
{
	struct fx *f = *state;
	struct al_audit_config cfg = {AL_AUDIT_SEGMENT_SIZE, 1000, 0, AL_AUDIT_MIN_FREE,
	                              AL_AUDIT_MIN_FREE_PCT};
	struct al_err err = {0};
	char other[4300];

	snprintf(other, sizeof other, "%s/k0-again.txt", f->home);
	assert_int_equal(al_audit_init(f->home, other, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "an audit log exists already"));
	assert_int_equal(access(other, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writer_chain_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_fails_closed_on_each_write_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_fails_closed_on_short_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_fails_closed_on_fdatasync_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_repairs_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_completes_entry_missing_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_records_clock_going_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_rotates_segments, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_writer_compresses_closed_segments, setup_small_compressed, teardown),
		cmocka_unit_test_setup_teardown(test_writer_evolves_key_left_by_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_refuses_reserved_fields_and_bad_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_existing_log_and_k0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_refuses_a_key_the_seal_did_not_announce, setup, teardown),
	};
	return cmocka_run_group_tests_name("audit_writer", tests, NULL, NULL);
}
