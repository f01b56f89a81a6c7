/* test_await.c - the await built-in: a drop is taken once its marker is
 * there and it has stopped changing, copied and hashed; a stale file, a
 * link or a special file is refused; an unusable stage is an error. */
#include "tests/unit/unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "steps/steps.h"

struct fixture {
	char *base;
	char drop[4200];
	char out[4200];
	struct al_await_opts o;
	struct al_await_res res;
	struct al_err err;
	int fds;             /* open at the start: al_await must leave as many */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	f->base = unit_mkdtemp();
	snprintf(f->drop, sizeof f->drop, "%s/drop", f->base);
	snprintf(f->out, sizeof f->out, "%s/out", f->base);
	assert_int_equal(mkdir(f->out, 0700), 0);
	f->o.dir = f->drop;
	f->o.marker = "_SUCCESS";
	f->o.every_ms = 20;
	f->o.out_dir = f->out;
	al_sys_fault_reset();
	f->fds = unit_entries("/proc/self/fd");
	alarm(30); /* al_await never gives up by itself: a hang fails the test */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	alarm(0);
	assert_int_equal(unit_entries("/proc/self/fd"), f->fds);
	al_sys_fault_reset();
	json_decref(f->res.files);
	unit_rmtree(f->base);
	free(f);
	return 0;
}

static void path_of(char *out, size_t n, const char *dir, const char *rel)
{
	snprintf(out, n, "%s/%s", dir, rel);
}

/* al_await with its stderr (the step's log) in base/log, appended to. */
static int run(struct fixture *f)
{
	char path[4400];
	int saved = dup(2), fd, ret;

	path_of(path, sizeof path, f->base, "log");
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	ret = al_await(&f->o, &f->res, &f->err);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	return ret;
}

static int log_lines(struct fixture *f)
{
	char path[4400], *text, *p;
	struct al_err err = {0};
	size_t len;
	int n = 0;

	path_of(path, sizeof path, f->base, "log");
	assert_int_equal(al_read_file(AT_FDCWD, path, 1 << 20, &text, &len, &err), 0);
	for (p = text; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	free(text);
	return n;
}

/* Writes drop/rel (creating the drop and rel's directory). */
static void put(struct fixture *f, const char *rel, const char *text)
{
	char path[4400];
	char *slash;

	(void)mkdir(f->drop, 0700);
	snprintf(path, sizeof path, "%s/%s", f->drop, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	(void)mkdir(path, 0700);
	*slash = '/';
	unit_write(path, text);
}

/* The entry of res->files for path, checked against the source file's
 * hash and size. */
static void check_taken(struct fixture *f, size_t i, const char *rel)
{
	json_t *e = json_array_get(f->res.files, i);
	unsigned char sum[AL_SHA256_LEN];
	char hex[AL_SHA256_HEX], path[4400];
	uint64_t size;
	struct al_err err = {0};

	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "path")), rel);
	path_of(path, sizeof path, f->drop, rel);
	assert_int_equal(al_sha256_file(path, sum, &size, &err), 0);
	al_hex(sum, sizeof sum, hex);
	assert_string_equal(json_string_value(json_object_get(e, "sha256")), hex);
	assert_int_equal(json_integer_value(json_object_get(e, "size")), (json_int_t)size);
}

/* The copy in out_dir has the source's bytes and mode 0600. */
static void check_copied(struct fixture *f, const char *rel)
{
	unsigned char a[AL_SHA256_LEN], b[AL_SHA256_LEN];
	char src[4400], dst[4400];
	struct al_err err = {0};
	struct stat st;

	path_of(src, sizeof src, f->drop, rel);
	path_of(dst, sizeof dst, f->out, rel);
	assert_int_equal(al_sha256_file(src, a, NULL, &err), 0);
	assert_int_equal(al_sha256_file(dst, b, NULL, &err), 0);
	assert_memory_equal(a, b, sizeof a);
	assert_int_equal(lstat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* Runs fn(f) in a child after delay_ms; the child only makes system
 * calls and exits. */
static pid_t later(struct fixture *f, int delay_ms, void (*fn)(struct fixture *))
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		usleep((useconds_t)delay_ms * 1000);
		fn(f);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void raw_write(const char *dir, const char *rel, const char *text)
{
	char path[4400];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0)
		_exit(1);
}

static void write_marker(struct fixture *f)
{
	raw_write(f->drop, "_SUCCESS", "");
}

static void make_drop(struct fixture *f)
{
	if (mkdir(f->drop, 0700) < 0)
		_exit(1);
	raw_write(f->drop, "a.csv", "id,v\n1,2\n");
	write_marker(f);
}

static void test_await_marker_present_is_ready_at_once(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char path[4400];

	put(f, "a.csv", "id,v\n1,2\n");
	put(f, "sub/b.csv", "id\n7\n");
	put(f, "_SUCCESS", "");
	assert_int_equal(run(f), 0);
	/* seen, then seen again after the settle interval: ready */
	assert_int_equal(f->res.polls, 2);
	assert_true(f->res.waited_ms < 1000);
	/* sorted by path, marker included */
	assert_int_equal(json_array_size(f->res.files), 3);
	check_taken(f, 0, "_SUCCESS");
	check_taken(f, 1, "a.csv");
	check_taken(f, 2, "sub/b.csv");
	assert_string_equal(json_string_value(json_object_get(json_array_get(f->res.files, 0),
	                                                      "sha256")),
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_copied(f, "a.csv");
	check_copied(f, "sub/b.csv");
	/* the marker is hashed, not copied */
	path_of(path, sizeof path, f->out, "_SUCCESS");
	assert_int_equal(lstat(path, &st), -1);
	path_of(path, sizeof path, f->out, "sub");
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(unit_entries(f->out), 2);
}

static void test_await_waits_for_the_marker(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	put(f, "a.csv", "id,v\n1,2\n");
	pid = later(f, 200, write_marker);
	assert_int_equal(run(f), 0);
	reap(pid);
	assert_true(f->res.waited_ms >= 200);
	assert_true(f->res.polls >= 5);
	/* one line per change of situation, not one per poll */
	assert_int_equal(log_lines(f), 3);
	assert_int_equal(json_array_size(f->res.files), 2);
	check_copied(f, "a.csv");
}

static void test_await_waits_for_the_folder(void **state)
{
	struct fixture *f = *state;
	pid_t pid = later(f, 150, make_drop);

	assert_int_equal(run(f), 0);
	reap(pid);
	assert_true(f->res.waited_ms >= 150);
	assert_int_equal(json_array_size(f->res.files), 2);
	check_taken(f, 1, "a.csv");
	check_copied(f, "a.csv");
}

#define GROW_CHUNKS 300
#define GROW_CHUNK "0123456789abcdef0123456789abcdef\n"

/* A producer that wrote its marker first and is still appending: tells
 * the parent once it has started (so that the first polls see it
 * writing), then appends a chunk every 2 ms. */
static void test_await_growing_file_not_taken_until_it_stops(void **state)
{
	struct fixture *f = *state;
	char path[4400];
	int go[2];
	pid_t pid;
	char c;

	put(f, "_SUCCESS", "");
	put(f, "data.csv", "");
	f->o.every_ms = 50;
	path_of(path, sizeof path, f->drop, "data.csv");
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		for (int i = 0; fd >= 0 && i < GROW_CHUNKS; i++) {
			if (write(fd, GROW_CHUNK, strlen(GROW_CHUNK)) < 0)
				_exit(1);
			if (i == 0 && write(go[1], "g", 1) != 1)
				_exit(1);
			usleep(2000);
		}
		_exit(fd >= 0 ? 0 : 1);
	}
	close(go[1]);
	assert_int_equal(read(go[0], &c, 1), 1);
	close(go[0]);
	assert_int_equal(run(f), 0);
	reap(pid);
	/* what was taken is the whole file, not a part of it */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f->res.files, 1), "size")),
	                 GROW_CHUNKS * strlen(GROW_CHUNK));
	check_taken(f, 1, "data.csv");
	check_copied(f, "data.csv");
	assert_true(f->res.waited_ms >= GROW_CHUNKS * 2 - 50);
}

/* A producer that rewrites a file while it is being copied: the first
 * fsync of a copy appends to the source, as if the write had come during
 * the copy. */
static char touch_path[4400];
static int (*real_fsync)(int fd);

static int fsync_then_touch(int fd)
{
	int tfd = open(touch_path, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (tfd >= 0) {
		(void)!write(tfd, "late\n", 5);
		close(tfd);
	}
	al_sys.fsync = real_fsync; /* once */
	return real_fsync(fd);
}

static void test_await_file_changed_during_copy_waits_again(void **state)
{
	struct fixture *f = *state;

	put(f, "_SUCCESS", "");
	put(f, "a.csv", "early\n");
	path_of(touch_path, sizeof touch_path, f->drop, "a.csv");
	real_fsync = al_sys.fsync;
	al_sys.fsync = fsync_then_touch;
	assert_int_equal(run(f), 0);
	al_sys.fsync = real_fsync;
	/* taken at the 4th poll: the copy of the 2nd was dropped, the 3rd
	 * saw the file changed, the 4th saw it stable */
	assert_int_equal(f->res.polls, 4);
	check_taken(f, 1, "a.csv");
	check_copied(f, "a.csv");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f->res.files, 1), "size")),
	                 11);
	assert_int_equal(unit_entries(f->out), 1);
}

/* A producer that rewrites a.csv once it has been copied, while b.csv is
 * being copied: each file was itself unchanged during its own copy, but
 * the stage would hold the old a.csv beside the new b.csv. The folder is
 * snapshotted again after the take: the take is undone and waited on. */
static int fsync_calls;

static int fsync_second_then_touch(int fd)
{
	if (++fsync_calls == 2) { /* the fsync of b.csv's copy */
		int tfd = open(touch_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (tfd >= 0) {
			(void)!write(tfd, "late\n", 5);
			close(tfd);
		}
		al_sys.fsync = real_fsync; /* once */
	}
	return real_fsync(fd);
}

static void test_await_file_changed_after_its_copy_waits_again(void **state)
{
	struct fixture *f = *state;

	put(f, "_SUCCESS", "");
	put(f, "a.csv", "early\n");
	put(f, "b.csv", "bbb\n");
	path_of(touch_path, sizeof touch_path, f->drop, "a.csv");
	fsync_calls = 0;
	real_fsync = al_sys.fsync;
	al_sys.fsync = fsync_second_then_touch;
	assert_int_equal(run(f), 0);
	al_sys.fsync = real_fsync;
	/* the take of the 2nd poll was undone, the 3rd saw the change, the
	 * 4th saw the folder stable */
	assert_int_equal(f->res.polls, 4);
	check_taken(f, 1, "a.csv");
	check_copied(f, "a.csv");
	check_copied(f, "b.csv");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(f->res.files, 1), "size")),
	                 11);
	assert_int_equal(unit_entries(f->out), 2);
}

/* Rewrites path with text of the same size and puts its mtime back, as
 * `touch -r` or utimensat can: only the ctime, which nobody but the
 * kernel sets, tells. Sleeps first so that the ctime moves on by more
 * than the file system's clock tick. Returns 0 or -1. */
static int rewrite_keep_mtime(const char *path, const char *text)
{
	struct timespec ts[2];
	struct stat st;
	int fd;

	usleep(30000);
	if (stat(path, &st) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return -1;
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	return utimensat(AT_FDCWD, path, ts, 0);
}

static int rewritten = -1; /* what the hook's rewrite returned */

static int fsync_then_rewrite_keep_mtime(int fd)
{
	rewritten = rewrite_keep_mtime(touch_path, "LATE!\n");
	al_sys.fsync = real_fsync; /* once */
	return real_fsync(fd);
}

static void test_await_same_size_rewrite_during_copy_waits_again(void **state)
{
	struct fixture *f = *state;

	put(f, "_SUCCESS", "");
	put(f, "a.csv", "early\n");
	path_of(touch_path, sizeof touch_path, f->drop, "a.csv");
	real_fsync = al_sys.fsync;
	rewritten = -1;
	al_sys.fsync = fsync_then_rewrite_keep_mtime;
	assert_int_equal(run(f), 0);
	al_sys.fsync = real_fsync;
	assert_int_equal(rewritten, 0);
	assert_int_equal(f->res.polls, 4);
	check_taken(f, 1, "a.csv");
	check_copied(f, "a.csv");
	assert_int_equal(unit_entries(f->out), 1);
}

static void rewrite_a_keep_mtime(struct fixture *f)
{
	char path[4400];

	path_of(path, sizeof path, f->drop, "a.csv");
	if (rewrite_keep_mtime(path, "LATE!\n") < 0)
		_exit(1); /* reap() fails the test */
}

/* Polls 1 s apart (SETTLE_MS); the rewrite comes between the first two:
 * they differ (ctime), so the folder is taken at the third poll. */
static void test_await_same_size_rewrite_between_polls_noticed(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	put(f, "_SUCCESS", "");
	put(f, "a.csv", "early\n");
	f->o.every_ms = 1000;
	pid = later(f, 300, rewrite_a_keep_mtime);
	assert_int_equal(run(f), 0);
	reap(pid);
	assert_int_equal(f->res.polls, 3);
	check_copied(f, "a.csv");
}

/* The {date} folder is the producer's: one made a symbolic link to some
 * other directory the runner can read must not have that copied. */
static void test_await_drop_folder_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char other[1024], path[1200], want[4600];

	path_of(other, sizeof other, f->base, "elsewhere");
	assert_int_equal(mkdir(other, 0700), 0);
	path_of(path, sizeof path, other, "_SUCCESS");
	unit_write(path, "");
	path_of(path, sizeof path, other, "secret.csv");
	unit_write(path, "s3cr3t\n");
	assert_int_equal(symlink(other, f->drop), 0);
	assert_int_equal(run(f), 1);
	snprintf(want, sizeof want, "%s: the drop folder is a symbolic link (refused, never followed)",
	         f->drop);
	assert_string_equal(f->res.reason, want);
	assert_null(f->res.files);
	assert_int_equal(unit_entries(f->out), 0);
}

/* The path above the folder is the operator's: a link there is followed. */
static void test_await_drop_folder_under_linked_parent_taken(void **state)
{
	struct fixture *f = *state;
	char real[1024], link[1024];

	path_of(real, sizeof real, f->base, "real");
	path_of(link, sizeof link, f->base, "link");
	assert_int_equal(mkdir(real, 0700), 0);
	assert_int_equal(symlink(real, link), 0);
	snprintf(f->drop, sizeof f->drop, "%s/drop/", link); /* a trailing slash too */
	put(f, "a.csv", "x\n");
	put(f, "_SUCCESS", "");
	assert_int_equal(run(f), 0);
	assert_int_equal(json_array_size(f->res.files), 2);
	check_copied(f, "a.csv");
}

/* A refusal naming a long path of two-byte characters: the reason is
 * still UTF-8 (or the audit log could not record it) and still says
 * what was refused. */
static void test_await_long_path_reason_is_utf8_and_whole(void **state)
{
	struct fixture *f = *state;
	char name[256] = "", rel[1024], path[5300];
	json_t *j;

	for (int i = 0; i < 120; i++)
		strcat(name, "\xc3\xa9"); /* é */
	snprintf(path, sizeof path, "%s", f->drop);
	assert_int_equal(mkdir(path, 0700), 0);
	for (int i = 0; i < 3; i++) {
		strcat(path, "/");
		strcat(path, name);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	snprintf(rel, sizeof rel, "%s/%s/%s/link", name, name, name);
	path_of(path, sizeof path, f->drop, rel);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(run(f), 1);
	j = json_string(f->res.reason);
	assert_non_null(j);
	json_decref(j);
	assert_non_null(strstr(f->res.reason,
	                       "a symbolic link in the drop folder (refused, never followed)"));
}

/* Path names are what a snapshot holds: past 16 MiB of them the drop is
 * refused rather than held twice in memory. 15 directories of 250-byte
 * names, then 4300 files of 250-byte names: some 17 MB. */
static void test_await_path_names_over_cap_refused(void **state)
{
	struct fixture *f = *state;
	char name[251];
	int dfd;

	put(f, "_SUCCESS", "");
	dfd = open(f->drop, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	memset(name, 'd', 250);
	name[250] = '\0';
	for (int i = 0; i < 15; i++) {
		int sub;
		assert_int_equal(mkdirat(dfd, name, 0700), 0);
		sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(sub >= 0);
		close(dfd);
		dfd = sub;
	}
	memset(name, 'f', 250);
	for (int i = 0; i < 4300; i++) {
		char num[16];
		int fd;
		snprintf(num, sizeof num, "%05d", i);
		memcpy(name + 245, num, 5);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	close(dfd);
	assert_int_equal(run(f), 1);
	assert_string_equal(f->res.reason,
	                    "more than 16 MiB of path names in the drop folder (refused)");
	assert_int_equal(unit_entries(f->out), 0);
}

static void test_await_stale_file_refused(void **state)
{
	struct fixture *f = *state;
	struct timespec ts[2];
	char path[4400];

	put(f, "positions.csv", "id\n1\n");
	put(f, "_SUCCESS", "");
	path_of(path, sizeof path, f->drop, "positions.csv");
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 30 * 3600 + 2 * 60 + 5;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	f->o.max_age_ms = 6 * 3600 * 1000;
	assert_int_equal(run(f), 1);
	assert_string_equal(f->res.reason,
	                    "positions.csv: modified 30h 2m ago, max_age 6h (stale input refused)");
	assert_null(f->res.files);
	assert_int_equal(f->res.polls, 2); /* decided on a stable folder, at once */
	assert_int_equal(unit_entries(f->out), 0);
}

static void test_await_fresh_files_pass_max_age(void **state)
{
	struct fixture *f = *state;

	put(f, "positions.csv", "id\n1\n");
	put(f, "_SUCCESS", "");
	f->o.max_age_ms = 6 * 3600 * 1000;
	assert_int_equal(run(f), 0);
	check_copied(f, "positions.csv");
}

static void test_await_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char path[4400];

	put(f, "a.csv", "x\n");
	put(f, "sub/b.csv", "x\n");
	path_of(path, sizeof path, f->drop, "sub/link");
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(run(f), 1);
	assert_string_equal(f->res.reason,
	                    "sub/link: a symbolic link in the drop folder (refused, never followed)");
	assert_int_equal(unit_entries(f->out), 0);
}

static void test_await_fifo_refused(void **state)
{
	struct fixture *f = *state;
	char path[4400];

	put(f, "_SUCCESS", "");
	path_of(path, sizeof path, f->drop, "pipe");
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(f->res.reason, "pipe: a FIFO"));
}

static void test_await_bad_names_refused(void **state)
{
	struct fixture *f = *state;

	put(f, "bad\nname.csv", "x\n");
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(f->res.reason, "bad?name.csv: a name with a control character"));
}

static void test_await_marker_directory_refused(void **state)
{
	struct fixture *f = *state;

	put(f, "_SUCCESS/x", "");
	assert_int_equal(run(f), 1);
	assert_non_null(strstr(f->res.reason, "_SUCCESS: the marker is not a regular file"));
}

/* every 20ms for the first 100ms, then every 200ms: the marker written
 * at 700ms is seen within about ten polls (some 36 at 20ms). */
static void test_await_then_schedule(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	put(f, "a.csv", "x\n");
	f->o.after_ms = 100;
	f->o.then_ms = 200;
	pid = later(f, 700, write_marker);
	assert_int_equal(run(f), 0);
	reap(pid);
	assert_true(f->res.waited_ms >= 700);
	assert_true(f->res.polls >= 8);
	assert_true(f->res.polls <= 13);
}

static void test_await_out_dir_unusable(void **state)
{
	struct fixture *f = *state;
	char path[4400];

	put(f, "_SUCCESS", "");
	/* out_dir is a file */
	path_of(path, sizeof path, f->base, "file");
	unit_write(path, "x");
	f->o.out_dir = path;
	assert_int_equal(run(f), -1);
	assert_non_null(strstr(f->err.msg, path));
	assert_int_equal(f->res.polls, 0); /* before any wait */
	/* out_dir under a file */
	path_of(path, sizeof path, f->base, "file/out");
	assert_int_equal(run(f), -1);
	assert_non_null(strstr(f->err.msg, path));
	assert_non_null(strstr(f->err.msg, "ENOTDIR"));
}

static void test_await_out_file_exists_is_an_error(void **state)
{
	struct fixture *f = *state;
	char path[4400];

	put(f, "a.csv", "x\n");
	put(f, "_SUCCESS", "");
	path_of(path, sizeof path, f->out, "a.csv");
	unit_write(path, "old");
	assert_int_equal(run(f), -1);
	assert_non_null(strstr(f->err.msg, "a.csv: create"));
}

static void test_await_disk_full_names_the_file(void **state)
{
	struct fixture *f = *state;

	put(f, "a.csv", "x\n");
	put(f, "sub/b.csv", "y\n");
	put(f, "_SUCCESS", "");
	assert_int_equal(al_sys_fault_add(AL_SYS_WRITE, 2, ENOSPC, 1), 0);
	assert_int_equal(run(f), -1);
	assert_int_equal(f->err.code, AL_EENV);
	assert_non_null(strstr(f->err.msg, "sub/b.csv: write"));
	assert_non_null(strstr(f->err.msg, "ENOSPC"));
	/* the partial copies are removed */
	assert_int_equal(unit_entries(f->out), 0);
	assert_null(f->res.files);
}

static void test_await_options_checked(void **state)
{
	struct fixture *f = *state;

	f->o.dir = "relative/drop";
	assert_int_equal(run(f), -1);
	assert_int_equal(f->err.code, AL_EUSAGE);
	f->o.dir = f->drop;
	f->o.marker = "sub/_SUCCESS";
	assert_int_equal(run(f), -1);
	f->o.marker = "_SUCCESS";
	f->o.every_ms = 0;
	assert_int_equal(run(f), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_await_marker_present_is_ready_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_waits_for_the_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_waits_for_the_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_growing_file_not_taken_until_it_stops, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_await_file_changed_during_copy_waits_again, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_await_file_changed_after_its_copy_waits_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_same_size_rewrite_during_copy_waits_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_same_size_rewrite_between_polls_noticed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_drop_folder_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_drop_folder_under_linked_parent_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_long_path_reason_is_utf8_and_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_path_names_over_cap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_stale_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_fresh_files_pass_max_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_fifo_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_bad_names_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_marker_directory_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_then_schedule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_out_dir_unusable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_out_file_exists_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_disk_full_names_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_await_options_checked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
