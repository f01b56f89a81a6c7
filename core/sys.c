/* sys.c - the system-call table and its fault plan, so that tests can make
 * write, fsync, rename, open, mkdir, ftruncate and fork fail on demand. */
#include "core.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int real_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return openat(dirfd, path, flags, mode);
}

struct al_sys al_sys = {
	.write = write,
	.fsync = fsync,
	.fdatasync = fdatasync,
	.renameat = renameat,
	.openat = real_openat,
	.mkdirat = mkdirat,
	.ftruncate = ftruncate,
	.fork = fork,
	.syncfs = syncfs,
	.clock_gettime = clock_gettime,
};

#define FAULT_MAX 16

struct fault {
	enum al_sys_call call;
	unsigned long nth;  /* fails when the call count reaches this */
	int error;          /* errno to fail with; 0 = short write */
	int sticky;         /* and every call after it */
};

static struct fault faults[FAULT_MAX];
static size_t nfaults;
static unsigned long counts[AL_SYS__COUNT];

int al_sys_fault_add(enum al_sys_call call, unsigned long nth, int error, int sticky)
{
	if (nfaults == FAULT_MAX || call >= AL_SYS__COUNT || nth == 0)
		return -1;
	faults[nfaults].call = call;
	faults[nfaults].nth = counts[call] + nth;
	faults[nfaults].error = error;
	faults[nfaults].sticky = sticky;
	nfaults++;
	return 0;
}

void al_sys_fault_reset(void)
{
	nfaults = 0;
	memset(counts, 0, sizeof counts);
}

unsigned long al_sys_calls(enum al_sys_call call)
{
	return call < AL_SYS__COUNT ? counts[call] : 0;
}

static void fault_trace(enum al_sys_call call, unsigned long n, int fd);

/* Counts one call and returns the fault that applies to it, if any. */
static const struct fault *fault_check(enum al_sys_call call, int fd)
{
	unsigned long n = ++counts[call];

	fault_trace(call, n, fd);

	for (size_t i = 0; i < nfaults; i++) {
		const struct fault *f = &faults[i];
		if (f->call == call && (n == f->nth || (f->sticky && n > f->nth)))
			return f;
	}
	return NULL;
}

/* Counts one call; when the plan says it fails, sets errno and returns -1
 * (a short write returns 1 and leaves errno alone). */
static int fault_hit(enum al_sys_call call, int fd, int default_errno)
{
	const struct fault *f = fault_check(call, fd);

	if (f == NULL)
		return 0;
	if (f->error == 0 && call == AL_SYS_WRITE)
		return 1;
	errno = f->error != 0 ? f->error : default_errno;
	return -1;
}

ssize_t al_sys_write(int fd, const void *buf, size_t n)
{
	ssize_t r;

	switch (fault_hit(AL_SYS_WRITE, fd, EIO)) {
	case -1:
		return -1;
	case 1:
		if (n < 2) {
			errno = EIO;
			return -1;
		}
		n /= 2; /* a short write: the caller must notice and go on */
		break;
	}
	do
		r = al_sys.write(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

int al_sys_fsync(int fd)
{
	int r;

	if (fault_hit(AL_SYS_FSYNC, fd, EIO) < 0)
		return -1;
	do
		r = al_sys.fsync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

int al_sys_fdatasync(int fd)
{
	int r;

	if (fault_hit(AL_SYS_FDATASYNC, fd, EIO) < 0)
		return -1;
	do
		r = al_sys.fdatasync(fd);
	while (r < 0 && errno == EINTR);
	return r;
}

int al_sys_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	if (fault_hit(AL_SYS_RENAME, newdirfd, EIO) < 0)
		return -1;
	return al_sys.renameat(olddirfd, oldpath, newdirfd, newpath);
}

int al_sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd;

	if (fault_hit(AL_SYS_OPEN, dirfd, EIO) < 0)
		return -1;
	do
		fd = al_sys.openat(dirfd, path, flags, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

int al_sys_mkdirat(int dirfd, const char *path, mode_t mode)
{
	if (fault_hit(AL_SYS_MKDIR, dirfd, EIO) < 0)
		return -1;
	return al_sys.mkdirat(dirfd, path, mode);
}

int al_sys_ftruncate(int fd, off_t len)
{
	int r;

	if (fault_hit(AL_SYS_FTRUNCATE, fd, EIO) < 0)
		return -1;
	do
		r = al_sys.ftruncate(fd, len);
	while (r < 0 && errno == EINTR);
	return r;
}

/* The stack of a vfork-like child: the parent is suspended until the
 * child execs or exits, so one stack serves every spawn of a
 * single-threaded process. */
static char spawn_stack[256 * 1024] __attribute__((aligned(16)));

pid_t al_sys_spawn(int (*fn)(void *arg), void *arg)
{
	if (fault_hit(AL_SYS_FORK, -1, EAGAIN) < 0)
		return -1;
	return clone(fn, spawn_stack + sizeof spawn_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
}

pid_t al_sys_fork(void)
{
	if (fault_hit(AL_SYS_FORK, -1, EAGAIN) < 0)
		return -1;
	return al_sys.fork();
}

int al_sys_syncfs(int fd)
{
	if (fault_hit(AL_SYS_SYNCFS, fd, EIO) < 0)
		return -1;
	return al_sys.syncfs(fd);
}

static const char *const call_names[AL_SYS__COUNT] = {
	[AL_SYS_WRITE] = "write",         [AL_SYS_FSYNC] = "fsync",
	[AL_SYS_FDATASYNC] = "fdatasync", [AL_SYS_RENAME] = "rename",
	[AL_SYS_OPEN] = "open",           [AL_SYS_MKDIR] = "mkdir",
	[AL_SYS_FTRUNCATE] = "ftruncate", [AL_SYS_FORK] = "fork",
	[AL_SYS_SYNCFS] = "syncfs",
	[AL_SYS_SQLITE_WRITE] = "sqlite_write", [AL_SYS_SQLITE_SYNC] = "sqlite_sync",
	[AL_SYS_SQLITE_TRUNCATE] = "sqlite_truncate",
};

/* AIRLOCK_FAULTS_TRACE=FILE: one line per counted call, "CALL N PATH"
 * (the file behind fd, or "-"), so that a test can number the calls of a
 * dry run and aim a fault at each. Appended with plain write(2): the
 * trace is not itself counted. */
static void fault_trace(enum al_sys_call call, unsigned long n, int fd)
{
	static int tfd = -2;
	char link[64], path[512] = "-", line[640];
	ssize_t k;
	int len;

	if (tfd == -2) {
		const char *p = getenv("AIRLOCK_FAULTS_TRACE");
		tfd = p != NULL && *p != '\0' ? open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
	}
	if (tfd < 0)
		return;
	if (fd >= 0) {
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		k = readlink(link, path, sizeof path - 1);
		path[k > 0 ? k : 0] = '\0';
		if (k <= 0)
			snprintf(path, sizeof path, "fd%d", fd);
	}
	len = snprintf(line, sizeof line, "%s %lu %s\n", call_names[call], n, path);
	if (len > 0)
		(void)!write(tfd, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

int al_sys_fault(enum al_sys_call call)
{
	const struct fault *f = fault_check(call, -1);

	return f == NULL ? 0 : f->error != 0 ? f->error : EIO;
}

/* AIRLOCK_TORTURE_KILL_AT=LABEL:N - the Nth time this process reaches the
 * kill point LABEL, it sends itself SIGKILL (a crash at a chosen moment,
 * for the torture tests). Inert when the variable is unset; it can only
 * kill airlock itself, which is what a crash does anyway. */
void al_kill_point(const char *label)
{
	static unsigned long seen;
	const char *spec = getenv("AIRLOCK_TORTURE_KILL_AT"), *colon;
	size_t len;

	if (spec == NULL || (colon = strrchr(spec, ':')) == NULL)
		return;
	len = (size_t)(colon - spec);
	if (strlen(label) != len || strncmp(spec, label, len) != 0)
		return;
	if (++seen == strtoul(colon + 1, NULL, 10))
		kill(getpid(), SIGKILL);
}

static const struct {
	const char *name;
	int value;
} errno_names[] = {
	{"ENOSPC", ENOSPC}, {"EIO", EIO},       {"EROFS", EROFS}, {"EACCES", EACCES},
	{"EPERM", EPERM},   {"EDQUOT", EDQUOT}, {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM},
	{"EFBIG", EFBIG},   {"short", 0},
};

/* One item: NAME@N[+]=ERR */
static int fault_parse_one(const char *item, size_t len, struct al_err *err)
{
	char buf[64], *at, *eq, *end;
	unsigned long nth;
	int call = -1, error = -1, sticky = 0;

	if (len >= sizeof buf)
		return al_err_set(err, AL_EUSAGE, "AIRLOCK_FAULTS: item too long");
	memcpy(buf, item, len);
	buf[len] = '\0';
	at = strchr(buf, '@');
	eq = strchr(buf, '=');
	if (at == NULL || eq == NULL || eq < at)
		return al_err_set(err, AL_EUSAGE, "AIRLOCK_FAULTS: '%s': expected CALL@N[+]=ERRNO", buf);
	*at = *eq = '\0';
	for (int i = 0; i < AL_SYS__COUNT; i++)
		if (strcmp(buf, call_names[i]) == 0)
			call = i;
	errno = 0;
	nth = strtoul(at + 1, &end, 10);
	if (*end == '+') {
		sticky = 1;
		end++;
	}
	for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
		if (strcmp(eq + 1, errno_names[i].name) == 0)
			error = errno_names[i].value;
	if (call < 0 || errno != 0 || nth == 0 || *end != '\0' || error < 0 ||
	    (error == 0 && call != AL_SYS_WRITE))
		return al_err_set(err, AL_EUSAGE, "AIRLOCK_FAULTS: '%s@%s=%s': bad call, count or errno",
		                  buf, at + 1, eq + 1);
	if (al_sys_fault_add(call, nth, error, sticky) < 0)
		return al_err_set(err, AL_EUSAGE, "AIRLOCK_FAULTS: more than %d faults", FAULT_MAX);
	return 0;
}

int al_sys_faults_parse(const char *spec, struct al_err *err)
{
	const char *p = spec;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		if (len > 0 && fault_parse_one(p, len, err) < 0)
			return -1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}
