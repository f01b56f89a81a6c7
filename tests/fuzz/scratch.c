/* scratch.c - the fuzz targets' scratch directory (scratch.h). */
#include "tests/fuzz/scratch.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

static char scratch_path[256];
static int scratch_dirfd = -1;
static pid_t scratch_owner;

_Noreturn static void fail(const char *what)
{
	perror(what);
	abort();
}

void fuzz_scratch_clean(void)
{
	DIR *d;
	struct dirent *e;
	int fd;

	if (scratch_dirfd < 0)
		return;
	fd = dup(scratch_dirfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL)
		fail("scratch: opendir");
	/* the dup shares the directory's offset: at its end after a first pass */
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (al_rm_tree(scratch_dirfd, e->d_name) < 0)
			fail(e->d_name);
	}
	closedir(d);
}

static void scratch_remove(void)
{
	/* libFuzzer's -fork and -jobs children share the parent's atexit. */
	if (scratch_dirfd < 0 || getpid() != scratch_owner)
		return;
	fuzz_scratch_clean();
	close(scratch_dirfd);
	scratch_dirfd = -1;
	rmdir(scratch_path);
}

/* libFuzzer ends with _Exit more often than not, so atexit cannot be
 * relied on: remove the directories of this target that processes no
 * longer running left in base. */
static void scratch_remove_stale(const char *base, const char *tag)
{
	char prefix[64];
	struct dirent *e;
	DIR *d = opendir(base);
	int basefd;

	if (d == NULL)
		return;
	basefd = dirfd(d);
	snprintf(prefix, sizeof prefix, "airlock-fuzz-%s-", tag);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(prefix);
		char *end;
		long pid;

		if (strncmp(e->d_name, prefix, n) != 0)
			continue;
		pid = strtol(e->d_name + n, &end, 10);
		if (*end != '\0' || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		(void)al_rm_tree(basefd, e->d_name);
	}
	closedir(d);
}

const char *fuzz_scratch(const char *tag)
{
	const char *base = getenv("AIRLOCK_FUZZ_SCRATCH");

	if (scratch_dirfd >= 0)
		return scratch_path;
	if (base == NULL)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	scratch_remove_stale(base, tag);
	if (snprintf(scratch_path, sizeof scratch_path, "%s/airlock-fuzz-%s-%ld", base, tag,
	             (long)getpid()) >= (int)sizeof scratch_path)
		fail("scratch: path too long");
	if (mkdir(scratch_path, 0700) < 0)
		fail(scratch_path);
	scratch_dirfd = open(scratch_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (scratch_dirfd < 0)
		fail(scratch_path);
	scratch_owner = getpid();
	atexit(scratch_remove);
	return scratch_path;
}

int fuzz_scratch_fd(void)
{
	return scratch_dirfd;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
	static char path[512];
	int fd;

	if (snprintf(path, sizeof path, "%s/%s", scratch_path, name) >= (int)sizeof path)
		fail("scratch: path too long");
	fd = openat(scratch_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	            0600);
	if (fd < 0 || al_write_all(fd, data, size) < 0)
		fail(path);
	close(fd);
	return path;
}

const char *fuzz_self_dir(const char *argv0)
{
	static char dir[512];
	const char *slash = strrchr(argv0, '/');

	if (slash == NULL)
		return ".";
	if ((size_t)(slash - argv0) >= sizeof dir)
		fail("argv[0] too long");
	memcpy(dir, argv0, (size_t)(slash - argv0));
	dir[slash - argv0] = '\0';
	return dir;
}
