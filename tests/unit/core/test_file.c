/* test_file.c - safe file I/O and the fault table: an atomic write that
 * fails at any step leaves the old file or the new one, never a part. */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char *dir;
	char path[4200];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	f->dir = unit_mkdtemp();
	snprintf(f->path, sizeof f->path, "%s/target", f->dir);
	al_sys_fault_reset();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	al_sys_fault_reset();
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static void test_write_atomic_creates_with_mode(void **state)
{
	struct fixture *f = *state;
	struct al_err err = {0};
	struct stat st;
	char *got;

	assert_int_equal(al_write_file_atomic(f->path, "new\n", 4, 0640, &err), 0);
	got = unit_slurp(f->path);
	assert_string_equal(got, "new\n");
	free(got);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(unit_entries(f->dir), 1);
}

/* The heart of the matter: a fault at each step of the write. */
static void check_fault_keeps_old(struct fixture *f, enum al_sys_call call, int error,
                                  const char *fragment)
{
	struct al_err err = {0};
	char big[100000], *got;

	memset(big, 'n', sizeof big);
	unit_write(f->path, "old\n");
	al_sys_fault_reset();
	assert_int_equal(al_sys_fault_add(call, 1, error, 1), 0);
	assert_int_equal(al_write_file_atomic(f->path, big, sizeof big, 0600, &err), -1);
	al_sys_fault_reset();
	assert_int_equal(err.code, AL_EENV);
	assert_non_null(strstr(err.msg, f->path));
	if (strstr(err.msg, fragment) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
	got = unit_slurp(f->path);
	assert_string_equal(got, "old\n");
	free(got);
	assert_int_equal(unit_entries(f->dir), 1); /* the temporary file is gone */
}

static void test_write_atomic_enospc_on_write_keeps_old(void **state)
{
	check_fault_keeps_old(*state, AL_SYS_WRITE, ENOSPC, "write: No space left on device (ENOSPC)");
}

static void test_write_atomic_eio_on_fsync_keeps_old(void **state)
{
	check_fault_keeps_old(*state, AL_SYS_FSYNC, EIO, "fsync: Input/output error (EIO)");
}

static void test_write_atomic_enospc_on_rename_keeps_old(void **state)
{
	check_fault_keeps_old(*state, AL_SYS_RENAME, ENOSPC, "rename: No space left on device (ENOSPC)");
}

static void test_write_atomic_enospc_on_open_keeps_old(void **state)
{
	check_fault_keeps_old(*state, AL_SYS_OPEN, ENOSPC, "cannot create temporary file");
}

/* A fault on a later write, after part of the data went out. */
static void test_write_atomic_fails_midway_keeps_old(void **state)
{
	struct fixture *f = *state;
	struct al_err err = {0};
	char *got;

	unit_write(f->path, "old\n");
	assert_int_equal(al_sys_fault_add(AL_SYS_WRITE, 1, 0, 0), 0);     /* short */
	assert_int_equal(al_sys_fault_add(AL_SYS_WRITE, 2, ENOSPC, 1), 0); /* then full */
	assert_int_equal(al_write_file_atomic(f->path, "0123456789", 10, 0600, &err), -1);
	got = unit_slurp(f->path);
	assert_string_equal(got, "old\n");
	free(got);
	assert_int_equal(unit_entries(f->dir), 1);
}

static void test_write_atomic_survives_short_writes(void **state)
{
	struct fixture *f = *state;
	struct al_err err = {0};
	char *got;

	for (unsigned long i = 1; i <= 3; i++)
		assert_int_equal(al_sys_fault_add(AL_SYS_WRITE, i, 0, 0), 0);
	assert_int_equal(al_write_file_atomic(f->path, "0123456789", 10, 0600, &err), 0);
	assert_true(al_sys_calls(AL_SYS_WRITE) >= 4);
	got = unit_slurp(f->path);
	assert_string_equal(got, "0123456789");
	free(got);
}

/* The rename happened, the directory fsync failed: the new file is there
 * and the failure is still reported, since durability is not promised. */
static void test_write_atomic_dir_fsync_failure_reported(void **state)
{
	struct fixture *f = *state;
	struct al_err err = {0};
	char *got;

	unit_write(f->path, "old\n");
	assert_int_equal(al_sys_fault_add(AL_SYS_FSYNC, 2, EIO, 0), 0);
	assert_int_equal(al_write_file_atomic(f->path, "new\n", 4, 0600, &err), -1);
	assert_non_null(strstr(err.msg, "fsync of directory"));
	got = unit_slurp(f->path);
	assert_string_equal(got, "new\n");
	free(got);
}

static void test_write_atomic_refuses_path_as_name(void **state)
{
	struct fixture *f = *state;
	struct al_err err = {0};
	int dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);

	assert_int_equal(al_write_atomic(dirfd, "a/b", "x", 1, 0600, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not a plain file name"));
	close(dirfd);
}

static void test_read_file_limits(void **state)
{
	struct fixture *f = *state;
	struct al_err err = {0};
	char *buf;
	size_t len;

	unit_write(f->path, "0123456789");
	assert_int_equal(al_read_file(AT_FDCWD, f->path, 10, &buf, &len, &err), 0);
	assert_int_equal(len, 10);
	free(buf);
	assert_int_equal(al_read_file(AT_FDCWD, f->path, 9, &buf, &len, &err), -1);
	assert_non_null(strstr(err.msg, "larger than 9 bytes"));
	assert_int_equal(al_read_file(AT_FDCWD, f->dir, 100, &buf, &len, &err), -1);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_int_equal(al_read_file(AT_FDCWD, "/nonexistent", 100, &buf, &len, &err), -1);
	assert_int_equal(err.code, AL_EUSAGE);
	assert_string_equal(err.msg, "/nonexistent: No such file or directory (ENOENT)");
}

static void test_mkdirs_nested_and_conflict(void **state)
{
	struct fixture *f = *state;
	struct al_err err = {0};
	char path[4300];
	struct stat st;

	snprintf(path, sizeof path, "%s/a/b/c", f->dir);
	assert_int_equal(al_mkdirs(path, 0700, &err), 0);
	assert_int_equal(al_mkdirs(path, 0700, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	unit_write(f->path, "x");
	snprintf(path, sizeof path, "%s/target/sub", f->dir);
	assert_int_equal(al_mkdirs(path, 0700, &err), -1);
	assert_non_null(strstr(err.msg, "target"));
}

static void test_faults_parse(void **state)
{
	struct al_err err = {0};
	int fd;
	(void)state;

	assert_int_equal(al_sys_faults_parse("write@2=ENOSPC,fsync@1+=EIO", &err), 0);
	fd = open("/dev/null", O_WRONLY);
	assert_int_equal(al_sys_write(fd, "a", 1), 1);
	assert_int_equal(al_sys_write(fd, "a", 1), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(al_sys_write(fd, "a", 1), 1);
	assert_int_equal(al_sys_fsync(fd), -1);
	assert_int_equal(al_sys_fsync(fd), -1); /* sticky */
	assert_int_equal(errno, EIO);
	close(fd);

	static const char *bad[] = {"write", "write@0=EIO", "write@1=EWHAT", "nope@1=EIO",
	                            "fsync@1=short", "write@x=EIO", "write@1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (al_sys_faults_parse(bad[i], &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err.msg, "AIRLOCK_FAULTS"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_atomic_creates_with_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_enospc_on_write_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_eio_on_fsync_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_enospc_on_rename_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_enospc_on_open_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_fails_midway_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_survives_short_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_dir_fsync_failure_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_refuses_path_as_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs_nested_and_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_faults_parse, setup, teardown),
	};
	return cmocka_run_group_tests_name("file", tests, NULL, NULL);
}
