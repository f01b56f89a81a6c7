/* exec.c - starting a step's process (DESIGN.md §8, "Executing a step"):
 * its own session and process group, PR_SET_PDEATHSIG, no new
 * privileges, rlimits, a clean environment, stdin from /dev/null, stdout
 * and stderr through pipes into capped, hashed log files, every other fd
 * closed, and a new network namespace for network: none.
 *
 * The child reports a failed setup step (the stage that failed and
 * errno) in the memory it shares with airlock until exec, so that
 * "cannot enter a network namespace" reaches the operator as such rather
 * than as exit 127. */
#include "runner/exec.h"
#include "runner/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DRAIN_MS 2000 /* after the process exits, how long its pipes may stay open */

enum setup_stage {
	STAGE_SESSION = 1,
	STAGE_PDEATHSIG,
	STAGE_NETNS,
	STAGE_USERNS_MAP,
	STAGE_RLIMIT,
	STAGE_NO_NEW_PRIVS,
	STAGE_STDIO,
	STAGE_CHDIR,
	STAGE_EXEC,
};

static const char *stage_name(int stage)
{
	switch (stage) {
	case STAGE_SESSION: return "cannot start a new session";
	case STAGE_PDEATHSIG: return "cannot set the parent-death signal";
	case STAGE_NETNS: return "cannot enter a new network namespace (network: none)";
	case STAGE_USERNS_MAP: return "cannot map the user in its user namespace (network: none)";
	case STAGE_RLIMIT: return "cannot set a resource limit (limits)";
	case STAGE_NO_NEW_PRIVS: return "cannot set no_new_privs";
	case STAGE_STDIO: return "cannot set up stdin, stdout and stderr";
	case STAGE_CHDIR: return "cannot enter the stage directory";
	case STAGE_EXEC: return "cannot execute";
	default: return "cannot start";
	}
}

/* The child's side: report and exit. Only async-signal-safe calls. */
_Noreturn static void child_fail(int pipe_fd, int stage)
{
	int msg[2] = {stage, errno};

	(void)!write(pipe_fd, msg, sizeof msg);
	_exit(127);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* A new network namespace: directly when privileged, else inside a new
 * user namespace that maps only ourselves. Runs in a child. */
static int enter_netns(uid_t uid, gid_t gid, int *stage)
{
	char map[64];

	*stage = STAGE_NETNS;
	if (unshare(CLONE_NEWNET) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return -1;
	*stage = STAGE_USERNS_MAP;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_str("/proc/self/uid_map", map) < 0)
		return -1;
	if (write_str("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
		return -1;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	return write_str("/proc/self/gid_map", map);
}

#if !defined(SYS_close_range) && defined(__NR_close_range)
#define SYS_close_range __NR_close_range
#endif

static void close_from(int lowfd)
{
	struct rlimit rl;
	int max = 65536;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
		return;
#endif
	/* a kernel before 5.9: every possible fd */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576)
		max = (int)rl.rlim_cur;
	for (int fd = lowfd; fd < max; fd++)
		(void)close(fd);
}

/* A spawned child shares airlock's memory until it execs (al_sys_spawn):
 * it reports a failed setup step by writing the stage and errno here,
 * and airlock reads them once al_sys_spawn has returned. */
struct child_args {
	const struct al_proc_spec *s;
	pid_t parent;
	int outw, errw;
	volatile int fail_stage, fail_errno;
};

_Noreturn static void spawn_fail(struct child_args *a, int stage)
{
	a->fail_errno = errno;
	a->fail_stage = stage;
	_exit(127);
}

static void set_limit(int res, int64_t v, struct child_args *a)
{
	struct rlimit rl = {(rlim_t)v, (rlim_t)v};

	if (v >= 0 && setrlimit(res, &rl) < 0)
		spawn_fail(a, STAGE_RLIMIT);
}

/* The signals airlock found ignored (SIG_IGN survives exec; handlers do
 * not, and airlock installs none): the child resets just these. The raw
 * system call, because libc refuses to touch the signals it reserves
 * (32 and 33 under glibc), which a parent such as make may leave
 * ignored. */
struct k_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

static unsigned long long ignored; /* bit sig - 1 */
static int ignored_known;

static void find_ignored(void)
{
	for (int sig = 1; sig <= 64; sig++) {
		struct k_sigaction old;
		if (sig != SIGKILL && sig != SIGSTOP &&
		    syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof old.mask) == 0 &&
		    old.handler == SIG_IGN)
			ignored |= 1ull << (sig - 1);
	}
	ignored_known = 1;
}

/* Runs in a vfork-like child (al_sys_spawn): system calls only. */
_Noreturn static void child(struct child_args *a)
{
	const struct al_proc_spec *s = a->s;
	sigset_t none;
	int stage, devnull;

	/* Signals as a fresh process has them (airlock blocks some for its
	 * signalfd, and may have inherited some ignored). */
	sigemptyset(&none);
	for (int sig = 1; sig <= 64; sig++) {
		if (ignored & (1ull << (sig - 1))) {
			struct k_sigaction dfl = {SIG_DFL, 0, NULL, 0};
			(void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
		}
	}
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		spawn_fail(a, STAGE_SESSION);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		spawn_fail(a, STAGE_PDEATHSIG);
	if (getppid() != a->parent) /* airlock died before the prctl */
		_exit(127);
	if (s->net_none && enter_netns(getuid(), getgid(), &stage) < 0)
		spawn_fail(a, stage);
	set_limit(RLIMIT_CPU, s->limit_cpu_s, a);
	set_limit(RLIMIT_AS, s->limit_memory, a);
	set_limit(RLIMIT_NOFILE, s->limit_files, a);
	set_limit(RLIMIT_NPROC, s->limit_procs, a);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		spawn_fail(a, STAGE_NO_NEW_PRIVS);
	devnull = open(s->stdin_path != NULL ? s->stdin_path : "/dev/null",
	               O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(a->outw, 1) < 0 || dup2(a->errw, 2) < 0)
		spawn_fail(a, STAGE_STDIO);
	close_from(3);
	umask(077);
	if (chdir(s->cwd) < 0)
		spawn_fail(a, STAGE_CHDIR);
	execve(s->argv[0], (char *const *)s->argv, (char *const *)s->envp);
	spawn_fail(a, STAGE_EXEC);
}

static int child_main(void *arg)
{
	child(arg);
}

static void capture_init(struct al_capture *c)
{
	memset(c, 0, sizeof *c);
	c->pipe = -1;
	c->fd = -1;
}

/* Log files are created at the first byte: a quiet step costs no file
 * creation (half a millisecond each on ext4 here; bench/steps). */
static int open_log(struct al_capture *c)
{
	c->fd = al_openat(AT_FDCWD, c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	return c->fd;
}

static void proc_close_all(struct al_proc *p)
{
	struct al_capture *cs[2] = {&p->out, &p->err};

	for (int i = 0; i < 2; i++) {
		free(cs[i]->path);
		cs[i]->path = NULL;
		if (cs[i]->pipe >= 0)
			close(cs[i]->pipe);
		if (cs[i]->fd >= 0)
			close(cs[i]->fd);
		cs[i]->pipe = cs[i]->fd = -1;
	}
}

/* A confined step (confine.h): its own namespaces and view, its init as
 * PID 1, its stdio the same pipes (and stdin) as an unconfined one's.
 * Returns the init's pid, or -1 with err. */
/* A confined step's stdin: /dev/null, or a sealed copy of stdin_path (a
 * notify step's summary). Never the file itself: a step of airlock's own
 * uid (unprivileged, where Landlock is missing) could reopen
 * /proc/self/fd/0 for writing and change what the logs keep. */
static int stdin_open(const char *path, struct al_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int fd;

	if (path == NULL) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd >= 0 ? fd : al_err_sys(err, "/dev/null");
	}
	if (al_read_file(AT_FDCWD, path, 16 * 1024 * 1024, &data, &len, err) < 0)
		return -1;
	fd = memfd_create("airlock-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || al_write_all(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		al_err_sys(err, "%s: cannot make the step's copy", path);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(data);
	return fd;
}

static pid_t spawn_confined(struct al_proc *p, const struct al_proc_spec *s, int outw, int errw,
                            struct al_err *err)
{
	struct al_confine_spec *c = s->confine;
	int in = stdin_open(s->stdin_path, err);
	int r;

	if (in < 0)
		return -1;
	c->argv = s->argv;
	c->envp = s->envp;
	c->stdin_fd = in;
	c->out_fd = outw;
	c->err_fd = errw;
	c->net_none = s->net_none;
	c->limit_cpu_s = s->limit_cpu_s;
	c->limit_memory = s->limit_memory;
	c->limit_files = s->limit_files;
	c->limit_procs = s->limit_procs;
	r = al_confine_spawn(c, &p->cp, err);
	close(in);
	if (r < 0)
		return -1;
	p->confined = 1;
	return p->cp.pid;
}

int al_proc_spawn(struct al_proc *p, const struct al_proc_spec *s, struct al_err *err)
{
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	struct child_args ca = {s, getpid(), -1, -1, 0, 0};
	pid_t pid;

	memset(p, 0, sizeof *p);
	p->pid = -1;
	p->cap = s->cap;
	capture_init(&p->out);
	capture_init(&p->err);
	if ((p->out.path = strdup(s->out_path)) == NULL || (p->err.path = strdup(s->err_path)) == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto fail;
	}
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		al_err_sys(err, "cannot create a pipe");
		goto fail;
	}
	p->out.pipe = outp[0];
	p->err.pipe = errp[0];
	outp[0] = errp[0] = -1;
	if (al_sha256_init(&p->out.hash) < 0)
		goto fail_nomem;
	if (al_sha256_init(&p->err.hash) < 0) {
		al_sha256_abort(&p->out.hash);
		goto fail_nomem;
	}
	if (!ignored_known)
		find_ignored();
	p->start_us = al_now_us();
	ca.outw = outp[1];
	ca.errw = errp[1];
	/* Returns once the child has exec'd (or died trying). */
	if (s->confine != NULL) {
		pid = spawn_confined(p, s, outp[1], errp[1], err);
		if (pid < 0)
			goto fail_hash;
	} else if ((pid = al_sys_spawn(child_main, &ca)) < 0) {
		al_err_sys(err, "cannot start a process");
		goto fail_hash;
	}
	p->pid = pid;
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	(void)fcntl(p->out.pipe, F_SETFL, O_NONBLOCK);
	(void)fcntl(p->err.pipe, F_SETFL, O_NONBLOCK);
	/* By exec, setsid() had made the child the leader of its own process
	 * group, so kill(-pid) reaches it. */
	if (ca.fail_stage != 0) {
		int status;
		errno = ca.fail_errno;
		al_err_sys(err, "%s: %s", s->argv[0], stage_name(ca.fail_stage));
		if (ca.fail_stage == STAGE_EXEC)
			err->code = AL_EFAIL; /* a step that cannot start is a failed step */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		p->pid = -1;
		goto fail_hash;
	}
	return 0;
fail_nomem:
	al_err_set(err, AL_EENV, "cannot start a hash");
	goto fail;
fail_hash:
	al_sha256_abort(&p->out.hash);
	al_sha256_abort(&p->err.hash);
fail:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	proc_close_all(p);
	return -1;
}

void al_proc_read(struct al_proc *p, struct al_capture *c)
{
	static char buf[1 << 16];

	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t n = read(c->pipe, buf, sizeof buf);
		uint64_t keep;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) { /* EOF, or an error that ends the capture */
			close(c->pipe);
			c->pipe = -1;
			return;
		}
		c->written += (uint64_t)n;
		keep = (uint64_t)n;
		if (c->stored + keep > p->cap) {
			keep = p->cap - c->stored;
			c->truncated = 1;
		}
		if (keep == 0 || c->failed)
			continue;
		if (c->fd < 0 && open_log(c) < 0) {
			c->failed = 1;
			c->truncated = 1;
			continue;
		}
		if (al_write_all(c->fd, buf, (size_t)keep) < 0) {
			/* A log that cannot be written is cut short, and says so. */
			close(c->fd);
			c->fd = -1;
			c->failed = 1;
			c->truncated = 1;
			continue;
		}
		al_sha256_update(&c->hash, buf, (size_t)keep);
		c->stored += keep;
	}
}

void al_proc_signal(struct al_proc *p, int sig)
{
	struct al_err err = {0};

	if (!p->confined)
		(void)kill(-p->pid, sig);
	else if (sig == SIGKILL)
		(void)al_confine_kill(&p->cp, &err);
	else
		(void)kill(p->pid, sig);
}

void al_proc_exited(struct al_proc *p, int wstatus)
{
	p->exited = 1;
	p->end_us = al_now_us();
	p->drain_until_us = p->end_us + DRAIN_MS * 1000;
	if (p->confined) {
		/* The init killed and reaped everything of the step before it
		 * wrote the step's status; then it was reaped (by the caller). */
		p->wstatus = al_confine_status(&p->cp, wstatus);
		al_confine_reap(&p->cp);
		return;
	}
	p->wstatus = wstatus;
	/* Whatever the step left behind in its group dies with it. */
	(void)kill(-p->pid, SIGKILL);
}

int al_proc_done(struct al_proc *p, int64_t now_us)
{
	if (!p->exited)
		return 0;
	if (p->out.pipe < 0 && p->err.pipe < 0)
		return 1;
	return now_us >= p->drain_until_us;
}

void al_proc_finish(struct al_proc *p)
{
	struct al_capture *cs[2] = {&p->out, &p->err};

	for (int i = 0; i < 2; i++) {
		if (cs[i]->pipe >= 0) {
			/* Held open by a process that left the group: cut it off. */
			close(cs[i]->pipe);
			cs[i]->pipe = -1;
			cs[i]->truncated = 1;
		}
		al_sha256_final(&cs[i]->hash, cs[i]->sum);
		if (cs[i]->fd >= 0)
			close(cs[i]->fd);
		cs[i]->fd = -1;
		free(cs[i]->path);
		cs[i]->path = NULL;
	}
}

int al_netns_probe(struct al_err *err)
{
	int rep[2], msg[2] = {0, 0}, status;
	pid_t pid;
	ssize_t n;

	if (pipe2(rep, O_CLOEXEC) < 0)
		return al_err_sys(err, "cannot create a pipe");
	pid = fork();
	if (pid < 0) {
		close(rep[0]);
		close(rep[1]);
		return al_err_sys(err, "cannot fork");
	}
	if (pid == 0) {
		int stage;
		close(rep[0]);
		if (enter_netns(getuid(), getgid(), &stage) < 0)
			child_fail(rep[1], stage);
		_exit(0);
	}
	close(rep[1]);
	do
		n = read(rep[0], msg, sizeof msg);
	while (n < 0 && errno == EINTR);
	close(rep[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof msg) {
		errno = msg[1];
		al_err_sys(err, "%s", stage_name(msg[0]));
		err->code = AL_EENV;
		return -1;
	}
	return 0;
}
