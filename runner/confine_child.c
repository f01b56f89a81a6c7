/* confine_child.c - the child's side of a confined spawn: the init, PID 1
 * of the step's PID namespace, which builds the filesystem view, starts the
 * step and reaps like tini; and the step process, which drops what it must
 * and execs.
 *
 * Neither copies airlock's address space (a fork's page-table copy and
 * copy-on-write faults were most of a spawn's cost): the init is a
 * CLONE_VM child on a stack of its own (struct al_confine_proc owns it),
 * and the step a CLONE_VM|CLONE_VFORK child of the init. So this code
 * shares airlock's memory and the TLS of the thread that spawned it: no
 * malloc, no stdio, no glibc set*id wrappers (they signal airlock's
 * threads); errno is only touched while that thread sleeps in spawn
 * (reading the report pipe, signals blocked), and the init's long-lived
 * loop uses raw system calls that never write errno. A failed stage is
 * written to the report pipe as {stage, op, errno} and the child exits
 * 127; the parent turns it into "cannot mount /airlock/bundle (...):
 * EACCES". */
#include "runner/confine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif
#ifndef PR_SET_SECCOMP
#define PR_SET_SECCOMP 22
#endif

/* A system call that returns -errno instead of writing errno (x86_64). */
static long raw_syscall4(long nr, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long ret;

	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
	                 : "rcx", "r11", "memory");
	return ret;
}

_Noreturn static void fail(const struct al_child *c, int stage, int op)
{
	struct al_report r = {stage, op, errno};

	(void)!write(c->report_w, &r, sizeof r);
	_exit(127);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(s);
	ssize_t n;
	int errsv;

	if (fd < 0)
		return -1;
	n = write(fd, s, len);
	errsv = errno;
	close(fd);
	errno = errsv;
	return n == (ssize_t)len ? 0 : -1;
}

/* Every signal back to SIG_DFL (the parent's handlers must never run
 * here, and an inherited SIG_IGN for SIGCHLD would make the kernel reap
 * the step behind our back). The raw call: libc refuses its reserved
 * signals 32 and 33. The mask stays full: the init takes its signals with
 * sigwaitinfo. */
struct k_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

static void signals_reset(void)
{
	struct k_sigaction dfl = {SIG_DFL, 0, NULL, 0};

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

/* Our own uid and gid, and nothing else, in the new user namespace; the
 * child may write these maps for itself. setgroups is denied first (the
 * kernel requires it for an unprivileged gid_map): otherwise the step could
 * drop a supplementary group that a host file's mode denies access to. */
static void userns_map(const struct al_child *c)
{
	if (write_file("/proc/self/uid_map", c->uid_map) < 0)
		fail(c, AL_STAGE_USERNS_MAP, 0);
	if (write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
		fail(c, AL_STAGE_USERNS_MAP, 1);
	if (write_file("/proc/self/gid_map", c->gid_map) < 0)
		fail(c, AL_STAGE_USERNS_MAP, 2);
}

/* ---- creating mount points beneath the new root ---- */

/* Creates the directory `name` in dfd (it may exist) and opens it, never
 * following a symlink: a link planted where a mount point goes would
 * otherwise carry the mount outside the view. */
static int dir_open(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	return openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* While the view is built: the new root, and the directory the last
 * operation created into (consecutive operations share it: etc/..., dev/...,
 * which saves two system calls per path component). */
struct view {
	int rootfd;
	int dfd;     /* -1, or the open directory dpath */
	size_t dlen;
	char dpath[AL_CONFINE_PATH_MAX];
};

/* Opens, creating as needed, the directory made of the first len bytes
 * of at, one component at a time. */
static int dir_walk(int rootfd, const char *at, size_t len)
{
	char buf[AL_CONFINE_PATH_MAX];
	int dfd = rootfd;
	char *comp = buf;

	memcpy(buf, at, len);
	buf[len] = '\0';
	for (;;) {
		char *slash = strchr(comp, '/');
		int next, errsv;
		if (slash != NULL)
			*slash = '\0';
		next = dir_open(dfd, comp);
		errsv = errno;
		if (dfd != rootfd)
			close(dfd);
		if (next < 0) {
			errno = errsv;
			return -1;
		}
		if (slash == NULL)
			return next;
		dfd = next;
		comp = slash + 1;
	}
}

/* The parent directory of `at` (created as needed; borrowed: the caller
 * does not close it), and *name pointing at the last component. */
static int parent_open(struct view *v, const char *at, const char **name)
{
	const char *slash = strrchr(at, '/');
	size_t len;
	int fd;

	if (slash == NULL) {
		*name = at;
		return v->rootfd;
	}
	len = (size_t)(slash - at);
	*name = slash + 1;
	if (len >= sizeof v->dpath) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (v->dfd >= 0 && len == v->dlen && memcmp(at, v->dpath, len) == 0)
		return v->dfd;
	if ((fd = dir_walk(v->rootfd, at, len)) < 0)
		return -1;
	if (v->dfd >= 0)
		close(v->dfd);
	v->dfd = fd;
	v->dlen = len;
	memcpy(v->dpath, at, len);
	return fd;
}

/* A mount at `at` covers the cached directory when at is it or one of its
 * ancestors: forget it, later paths must go through the mount. */
static void view_mounted(struct view *v, const char *at)
{
	size_t n = strlen(at);

	if (v->dfd >= 0 && n <= v->dlen && memcmp(v->dpath, at, n) == 0 &&
	    (n == v->dlen || v->dpath[n] == '/')) {
		close(v->dfd);
		v->dfd = -1;
	}
}

/* Opens (creating) the mount point `at`: a directory, or an empty file for
 * a file bind. */
static int mountpoint_open(struct view *v, const char *at, int is_dir)
{
	const char *name;
	int dfd = parent_open(v, at, &name);

	if (dfd < 0)
		return -1;
	if (is_dir)
		return dir_open(dfd, name);
	return openat(dfd, name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);
}

/* ---- the operations of the plan ---- */

/* Clones the source of a bind while the host's tree is still visible, and
 * sets its flags on the detached copy: read-only binds are read-only
 * before they are ever attached, and nosuid/nodev are only ever added
 * (mount_setattr keeps flags the kernel locked in a user namespace, where
 * a remount that does not repeat them fails with EPERM). */
static void tree_clone(const struct al_child *c, size_t i)
{
	struct al_op *op = &c->plan->ops[i];
	unsigned rec = (op->flags & AL_OPF_RECURSIVE) ? AL_AT_RECURSIVE : 0;
	unsigned follow = (op->flags & AL_OPF_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;
	struct al_mount_attr ma = {op->attr, 0, 0, 0};

	op->fd = (int)syscall(SYS_open_tree, AT_FDCWD, op->src,
	                      AL_OPEN_TREE_CLONE | O_CLOEXEC | rec | follow);
	if (op->fd < 0) {
		if (errno == ENOENT && (op->flags & AL_OPF_OPTIONAL))
			return;
		fail(c, AL_STAGE_CLONE_TREE, (int)i);
	}
	if (op->attr != 0 &&
	    syscall(SYS_mount_setattr, op->fd, "", AT_EMPTY_PATH | rec, &ma, sizeof ma) < 0)
		fail(c, AL_STAGE_MOUNT_ATTR, (int)i);
}

static void attach(const struct al_child *c, struct view *v, int mnt, size_t i, int is_dir, int stage)
{
	const char *at = c->plan->ops[i].at;
	int target = mountpoint_open(v, at, is_dir);

	if (target < 0)
		fail(c, AL_STAGE_MOUNTPOINT, (int)i);
	if (syscall(SYS_move_mount, mnt, "", target, "",
	            AL_MOVE_MOUNT_F_EMPTY_PATH | AL_MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(c, stage, (int)i);
	close(target);
	close(mnt);
	view_mounted(v, at);
}

static void bind_attach(const struct al_child *c, struct view *v, size_t i)
{
	struct al_op *op = &c->plan->ops[i];
	struct stat st;

	if (op->fd < 0) /* optional, and absent on this host */
		return;
	if (fstat(op->fd, &st) < 0)
		fail(c, AL_STAGE_CLONE_TREE, (int)i);
	attach(c, v, op->fd, i, S_ISDIR(st.st_mode), AL_STAGE_ATTACH);
	op->fd = -1;
}

/* A new, detached filesystem (tmpfs or proc) with options key=value
 * (opts: pairs, NULL-terminated), mounted with attr. */
static int fs_new(const char *type, const char *const *opts, uint64_t attr)
{
	int fs = (int)syscall(SYS_fsopen, type, AL_FSOPEN_CLOEXEC);
	int mnt = -1, errsv;

	if (fs < 0)
		return -1;
	for (size_t i = 0; opts[i] != NULL; i += 2)
		if (syscall(SYS_fsconfig, fs, AL_FSCONFIG_SET_STRING, opts[i], opts[i + 1], 0) < 0)
			goto out;
	if (syscall(SYS_fsconfig, fs, AL_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto out;
	mnt = (int)syscall(SYS_fsmount, fs, AL_FSMOUNT_CLOEXEC, attr);
out:
	errsv = errno;
	close(fs);
	errno = errsv;
	return mnt;
}

static void symlink_make(const struct al_child *c, struct view *v, size_t i)
{
	const char *name;
	int dfd = parent_open(v, c->plan->ops[i].at, &name);

	if (dfd < 0 || symlinkat(c->plan->ops[i].src, dfd, name) < 0)
		fail(c, AL_STAGE_SYMLINK, (int)i);
}

static void file_make(const struct al_child *c, struct view *v, size_t i)
{
	const struct al_op *op = &c->plan->ops[i];
	const char *name;
	int dfd = parent_open(v, op->at, &name);
	int fd = -1;

	if (dfd >= 0)
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0 || write(fd, op->data, op->len) != (ssize_t)op->len)
		fail(c, AL_STAGE_FILE, (int)i);
	close(fd);
}

static void op_run(const struct al_child *c, struct view *v, size_t i)
{
	const struct al_op *op = &c->plan->ops[i];
	const char *const *tmp = (const char *const *)c->plan->tmp_kv;
	static const char *const proc_opts[] = {"hidepid", "invisible", NULL};
	int mnt, fd;

	switch (op->kind) {
	case AL_OP_DIR:
		if ((fd = mountpoint_open(v, op->at, 1)) < 0)
			fail(c, AL_STAGE_MOUNTPOINT, (int)i);
		close(fd);
		break;
	case AL_OP_SYMLINK:
		symlink_make(c, v, i);
		break;
	case AL_OP_FILE:
		file_make(c, v, i);
		break;
	case AL_OP_BIND:
		bind_attach(c, v, i);
		break;
	case AL_OP_TMPFS:
		if ((mnt = fs_new("tmpfs", tmp, op->attr)) < 0)
			fail(c, AL_STAGE_TMPFS, (int)i);
		attach(c, v, mnt, i, 1, AL_STAGE_TMPFS);
		break;
	case AL_OP_PROC:
		/* hidepid=invisible: a step sees no process of another uid */
		if ((mnt = fs_new("proc", proc_opts, op->attr)) < 0)
			fail(c, AL_STAGE_PROC, (int)i);
		attach(c, v, mnt, i, 1, AL_STAGE_PROC);
		break;
	}
}

/* The new root: a small tmpfs, attached on top of the old "/" (the
 * sources were all cloned before, so covering the host tree hides
 * nothing we still need). */
static int root_make(const struct al_child *c)
{
	static const char *const opts[] = {"size", "8m", "nr_inodes", "4096", "mode", "0755", NULL};
	int mnt = fs_new("tmpfs", opts, AL_MOUNT_ATTR_NOSUID | AL_MOUNT_ATTR_NODEV);

	if (mnt < 0 || syscall(SYS_move_mount, mnt, "", AT_FDCWD, "/", AL_MOVE_MOUNT_F_EMPTY_PATH) < 0)
		fail(c, AL_STAGE_ROOT_TMPFS, -1);
	return mnt;
}

/* Builds the view and enters it. Every mount is made private first, so
 * nothing we mount or unmount propagates to the host's namespace (and
 * pivot_root refuses shared mounts). The root tmpfs is made read-only once
 * built: in a user namespace the step owns its files (we created them as
 * its uid), and could otherwise rewrite /etc/passwd or plant files in /. */
static void view_enter(const struct al_child *c)
{
	struct al_mount_attr ro = {AL_MOUNT_ATTR_RDONLY, 0, 0, 0};
	struct view v;
	int rootfd;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail(c, AL_STAGE_PRIVATE, -1);
	for (size_t i = 0; i < c->plan->n; i++)
		if (c->plan->ops[i].kind == AL_OP_BIND)
			tree_clone(c, i);
	rootfd = root_make(c);
	/* proc is mounted before the old root goes: in a user namespace the
	 * kernel only allows a new proc while a full one is visible */
	v.rootfd = rootfd;
	v.dfd = -1;
	v.dlen = 0;
	for (size_t i = 0; i < c->plan->n; i++)
		op_run(c, &v, i);
	if (v.dfd >= 0)
		close(v.dfd);
	if (syscall(SYS_mount_setattr, rootfd, "", AT_EMPTY_PATH, &ro, sizeof ro) < 0)
		fail(c, AL_STAGE_ROOT_READONLY, -1);
	if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		fail(c, AL_STAGE_PIVOT, -1);
	close(rootfd);
}

/* network: none still has a loopback, up: a step's own test server on
 * 127.0.0.1 works, and nothing leaves. */
static void loopback_up(const struct al_child *c)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		fail(c, AL_STAGE_LOOPBACK, -1);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		fail(c, AL_STAGE_LOOPBACK, -1);
	close(fd);
}

/* ---- the step process ---- */

static int set_limit(int res, int64_t v)
{
	struct rlimit rl = {(rlim_t)v, (rlim_t)v};

	return v >= 0 ? setrlimit(res, &rl) : 0;
}

/* The step holds no capability, checked (in whichever user namespace it
 * is: ours as root, the init's or its own). */
static void caps_none(const struct al_child *c, int stage)
{
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522u /* _LINUX_CAPABILITY_VERSION_3 */, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} caps[2] = {{1, 1, 1}, {1, 1, 1}};

	if (syscall(SYS_capget, &hdr, caps) < 0)
		fail(c, stage, 2);
	if ((caps[0].effective | caps[0].permitted | caps[1].effective | caps[1].permitted) != 0) {
		errno = EPERM;
		fail(c, stage, 2);
	}
}

/* An image's User. We were cloned into a user namespace of our own; once
 * the init has written its maps (in_uid and in_gid to the step's host ids,
 * nothing else) we take those ids and give up, for good, the capabilities
 * a new namespace hands its first process: the bounding set emptied,
 * SECBIT_NOROOT locked (a uid 0 inside gains nothing at exec), nothing
 * ambient, none left. Root inside is then a name, not a power; and our
 * namespace owns none of the view's mount, PID or network namespaces,
 * which belong to the init's. Raw calls, see the top of the file. */
static void in_user_enter(const struct al_child *c)
{
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522u, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} none[2] = {{0, 0, 0}, {0, 0, 0}};
	char b;

	if (read(c->go_r, &b, 1) != 1) {
		errno = EPIPE;
		fail(c, AL_STAGE_IN_USER, 0);
	}
	close(c->go_r);
	if (prctl(PR_SET_SECUREBITS, (1 << 0) | (1 << 1) /* NOROOT, locked */ |
	                                 (1 << 6) | (1 << 7) /* NO_CAP_AMBIENT_RAISE, locked */,
	          0, 0, 0) < 0)
		fail(c, AL_STAGE_IN_USER, 2);
	for (int cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			fail(c, AL_STAGE_IN_USER, 2);
	/* as root, airlock's supplementary groups; unprivileged, the init's
	 * namespace denied setgroups already (and the groups are unmapped) */
	if ((c->root_mode && syscall(SYS_setgroups, 0, NULL) < 0) ||
	    syscall(SYS_setresgid, c->s->in_gid, c->s->in_gid, c->s->in_gid) < 0 ||
	    syscall(SYS_setresuid, c->s->in_uid, c->s->in_uid, c->s->in_uid) < 0)
		fail(c, AL_STAGE_IN_USER, 1);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &hdr, none) < 0)
		fail(c, AL_STAGE_IN_USER, 2);
	caps_none(c, AL_STAGE_IN_USER);
}

/* As root: the step's own unprivileged identity, no supplementary groups.
 * Raw calls, see the top of the file. */
static void ids_drop(const struct al_child *c)
{
	if (syscall(SYS_setgroups, 0, NULL) < 0 ||
	    syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0 ||
	    syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
		fail(c, AL_STAGE_IDS, -1);
	/* Leaving uid 0 clears the capabilities, unless airlock was started
	 * with securebits (KEEP_CAPS, NO_SETUID_FIXUP) or ambient ones that
	 * keep them: then the step would hold them in the host's namespace.
	 * Checked, not assumed. */
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	caps_none(c, AL_STAGE_CAPS);
}

/* stdin, stdout and stderr from the spec. Each is first copied above 2,
 * so that an out_fd of 0 (say) is not overwritten before it is used. */
static void stdio_set(const struct al_child *c)
{
	int src[3] = {c->s->stdin_fd, c->s->out_fd, c->s->err_fd};
	int tmp[3];

	for (int i = 0; i < 3; i++)
		if ((tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			fail(c, AL_STAGE_STDIO, i);
	for (int i = 0; i < 3; i++)
		if (dup2(tmp[i], i) < 0)
			fail(c, AL_STAGE_STDIO, i);
}

/* Every descriptor above 2 closes at exec (the report pipe must stay open
 * until then): nothing of airlock's (the audit log, state.db, keys) leaks
 * into the step. */
static void fds_close(void)
{
	struct rlimit rl;

	if (syscall(SYS_close_range, 3u, ~0u, AL_CLOSE_RANGE_CLOEXEC) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 1048576)
		rl.rlim_cur = 1048576;
	for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* The init keeps only the descriptors it and the step use: its copy of
 * airlock's table holds the log, state.db, locks, other steps' pipes and,
 * above all, the write end of the life pipe (which would hide the
 * parent's death from parent_watch). */
static void fds_keep(const struct al_child *c)
{
	int keep[6] = {c->report_w, c->status_w, c->life_r, c->s->stdin_fd, c->s->out_fd,
	               c->s->err_fd};
	unsigned lo = 3;

	for (size_t i = 1; i < 6; i++) /* insertion sort: six numbers */
		for (size_t k = i; k > 0 && keep[k] < keep[k - 1]; k--) {
			int t = keep[k];
			keep[k] = keep[k - 1];
			keep[k - 1] = t;
		}
	for (size_t i = 0; i <= 6; i++) {
		unsigned hi = i < 6 ? (unsigned)keep[i] : ~0u;
		if (i < 6 && (keep[i] < 3 || (unsigned)keep[i] < lo))
			continue;
		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0u) < 0)
			for (unsigned fd = lo; fd < hi && fd < 65536; fd++)
				(void)close((int)fd);
		if (i < 6)
			lo = (unsigned)keep[i] + 1;
	}
}

/* The filesystem rights Landlock handles at each ABI version. */
static uint64_t landlock_fs_rights(int abi)
{
	uint64_t r = (AL_LL_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */

	if (abi >= 2)
		r |= AL_LL_REFER;
	if (abi >= 3)
		r |= AL_LL_TRUNCATE;
	if (abi >= 5)
		r |= AL_LL_IOCTL_DEV;
	return r;
}

static int landlock_rule(int rs, int rootfd, const char *at, uint64_t access)
{
	struct al_landlock_path_beneath pb;
	struct stat st;
	int fd = openat(rootfd, at[0] != '\0' ? at : ".", O_PATH | O_CLOEXEC);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto out;
	if (!S_ISDIR(st.st_mode)) /* a file accepts only the rights of a file */
		access &= AL_LL_EXECUTE | AL_LL_WRITE_FILE | AL_LL_READ_FILE | AL_LL_TRUNCATE |
		          AL_LL_IOCTL_DEV;
	pb.allowed_access = access;
	pb.parent_fd = fd;
	rc = (int)syscall(SYS_landlock_add_rule, rs, AL_LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
out:
	close(fd);
	return rc;
}

/* Read and execute beneath /, write only beneath the writable places
 * (/airlock/out, /tmp, /dev/shm, rw binds) and to the device nodes of
 * /dev. What mounts already forbid, Landlock forbids again, so a mistake
 * in the view (a bind left writable) is not an escape. From ABI 6 the
 * step also may not connect to abstract unix sockets made outside it
 * (with network: host those are the host's, e.g. a desktop's D-Bus) nor
 * signal processes outside it. */
static int landlock_apply(const struct al_child *c)
{
	uint64_t fs = landlock_fs_rights(c->landlock_abi);
	uint64_t rw = fs & ~(AL_LL_MAKE_CHAR | AL_LL_MAKE_BLOCK);
	uint64_t dev = fs & (AL_LL_READ_FILE | AL_LL_WRITE_FILE | AL_LL_TRUNCATE | AL_LL_IOCTL_DEV);
	struct al_landlock_ruleset_attr attr = {fs, 0, 0};
	size_t size = 8;
	int rs, rootfd = -1, rc = -1;

	if (c->landlock_abi >= 6) {
		attr.scoped = AL_LL_SCOPE_ABSTRACT_UNIX_SOCKET | AL_LL_SCOPE_SIGNAL;
		size = sizeof attr;
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rs < 0)
		return -1;
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || landlock_rule(rs, rootfd, "", AL_LL_READ_FILE | AL_LL_READ_DIR | AL_LL_EXECUTE) < 0)
		goto out;
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct al_op *op = &c->plan->ops[i];
		if ((op->flags & AL_OPF_WRITABLE) && landlock_rule(rs, rootfd, op->at, rw) < 0)
			goto out;
		if ((op->flags & AL_OPF_DEVICES) && landlock_rule(rs, rootfd, op->at, dev) < 0)
			goto out;
	}
	rc = (int)syscall(SYS_landlock_restrict_self, rs, 0);
out:
	if (rootfd >= 0)
		close(rootfd);
	close(rs);
	return rc;
}

static int step_main(void *arg)
{
	const struct al_child *c = arg;
	const struct al_confine_spec *s = c->s;
	struct al_report ok = {AL_STAGE_OK, -1, 0};
	sigset_t none;

	close(c->status_w);
	close(c->life_r);
	if (setsid() < 0)
		fail(c, AL_STAGE_SESSION, -1);
	if (c->in_user)
		in_user_enter(c);
	else if (c->root_mode)
		ids_drop(c);
	/* after the id change, which clears it; getppid: the init died first */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		fail(c, AL_STAGE_PDEATHSIG, -1);
	if (getppid() != 1)
		_exit(127);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(c, AL_STAGE_NO_NEW_PRIVS, -1);
	stdio_set(c);
	fds_close();
	umask(077);
	if (chdir(s->cwd != NULL ? s->cwd : "/airlock/out") < 0)
		fail(c, AL_STAGE_CHDIR, -1);
	if (c->landlock_abi > 0 && landlock_apply(c) < 0)
		fail(c, AL_STAGE_LANDLOCK, -1);
	/* rlimits after Landlock, which opens descriptors (RLIMIT_NOFILE) */
	if (set_limit(RLIMIT_CPU, s->limit_cpu_s) < 0 || set_limit(RLIMIT_AS, s->limit_memory) < 0 ||
	    set_limit(RLIMIT_NOFILE, s->limit_files) < 0 || set_limit(RLIMIT_NPROC, s->limit_procs) < 0)
		fail(c, AL_STAGE_RLIMIT, -1);
	/* last: the filter forbids what the setup above needed */
	if (c->bpf != NULL && prctl(PR_SET_SECCOMP, AL_SECCOMP_MODE_FILTER, c->bpf, 0, 0) < 0)
		fail(c, AL_STAGE_SECCOMP, -1);
	/* "setup done": without it, EOF on the report pipe would not tell an
	 * exec from a death before it */
	(void)!write(c->report_w, &ok, sizeof ok);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(s->argv[0], (char *const *)s->argv, (char *const *)s->envp);
	fail(c, AL_STAGE_EXEC, -1);
}

/* ---- the init ---- */

/* The step is done. Everything else in the namespace (a `sleep 1000 &`, a
 * double-forked daemon that called setsid) is killed and reaped before
 * the status goes to the parent: a status on the pipe means no process of
 * the step is left to write into /airlock/out while airlock hashes it,
 * and airlock need not wait for our exit (the kernel's teardown of the
 * namespaces, ~0.3 ms here) to go on. Our exit would kill them too: that
 * covers a parent that kills us first. The exit code mirrors the step's
 * as a shell reports it, for a parent that only sees ours. */
_Noreturn static void init_finish(int status_w, int wstatus)
{
	int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
	                              : 128 + (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
	int st;

	(void)raw_syscall4(SYS_kill, -1, SIGKILL, 0, 0);
	while (raw_syscall4(SYS_wait4, -1, (long)&st, __WALL, 0) != -ECHILD)
		;
	(void)raw_syscall4(SYS_write, status_w, (long)&wstatus, sizeof wstatus, 0);
	for (;;)
		(void)raw_syscall4(SYS_exit_group, code, 0, 0, 0);
}

/* tini's loop: signals arrive through sigtimedwait (all blocked, no
 * handlers); termination signals go to the step's process group; every
 * child, ours or orphaned into the namespace, is reaped. Raw calls only:
 * airlock's thread runs on with this TLS. */
_Noreturn static void init_loop(int status_w, pid_t step)
{
	unsigned long set = (1ul << (SIGCHLD - 1)) | (1ul << (SIGTERM - 1)) | (1ul << (SIGINT - 1)) |
	                    (1ul << (SIGHUP - 1)) | (1ul << (SIGQUIT - 1));

	for (;;) {
		siginfo_t si;
		long sig = raw_syscall4(SYS_rt_sigtimedwait, (long)&set, (long)&si, 0, sizeof set);
		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			if (raw_syscall4(SYS_kill, -step, sig, 0, 0) < 0) /* before the step's setsid */
				(void)raw_syscall4(SYS_kill, step, sig, 0, 0);
			continue;
		}
		for (;;) {
			int st = 0;
			long pid = raw_syscall4(SYS_wait4, -1, (long)&st, WNOHANG | __WALL, 0);
			if (pid <= 0)
				break;
			if (pid == step)
				init_finish(status_w, st);
		}
	}
}

/* Exits when the parent is gone: PR_SET_PDEATHSIG covers its death from
 * now on, the pipe the parent holds open covers the time before (getppid
 * says 0 in a new PID namespace, so it cannot tell). */
static void parent_watch(const struct al_child *c)
{
	struct pollfd pfd = {c->life_r, 0, 0};

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		fail(c, AL_STAGE_PDEATHSIG, -1);
	if (poll(&pfd, 1, 0) != 0)
		_exit(127);
}

/* Writes /proc/PID/NAME (a map of the step's user namespace): raw calls,
 * -errno on failure. */
static long map_write(long pid, const char *name, const char *map)
{
	char path[64] = "/proc/", digits[24];
	size_t n = 6, k = 0, len = strlen(map);
	long fd, w;

	do
		digits[k++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0);
	while (k > 0)
		path[n++] = digits[--k];
	path[n++] = '/';
	for (size_t i = 0; name[i] != '\0'; i++)
		path[n++] = name[i];
	path[n] = '\0';
	fd = raw_syscall4(SYS_openat, AT_FDCWD, (long)path, O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	w = raw_syscall4(SYS_write, fd, (long)map, (long)len, 0);
	(void)raw_syscall4(SYS_close, fd, 0, 0, 0);
	return w < 0 ? w : w == (long)len ? 0 : -EIO;
}

/* Starts the step sharing our memory until it execs, on a stack of its
 * own below ours. Without an image's User, CLONE_VFORK: we sleep until
 * the exec. With one, the step is cloned into a user namespace of its own
 * whose maps only we can write (we hold CAP_SETUID over it; it does not
 * over its parent namespace): we write them, let it go on, and wait for
 * the exec or its death (the pipe it holds closes) before leaving this
 * frame, where its stack is. It runs beside us meanwhile on our memory,
 * errno included: raw calls only, until then. */
static pid_t step_start(struct al_child *c)
{
	static const size_t size = 32 * 1024;
	char stack[32 * 1024] __attribute__((aligned(16)));
	int go[2], ex[2];
	long pid, rc;
	char b;

	if (!c->in_user)
		return (pid_t)clone(step_main, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0)
		fail(c, AL_STAGE_FORK, -1);
	c->go_r = go[0];
	pid = clone(step_main, stack + size, CLONE_VM | CLONE_NEWUSER | SIGCHLD, c);
	if (pid < 0)
		fail(c, AL_STAGE_FORK, -1);
	(void)raw_syscall4(SYS_close, go[0], 0, 0, 0);
	(void)raw_syscall4(SYS_close, ex[1], 0, 0, 0);
	rc = map_write(pid, "uid_map", c->in_uid_map);
	if (rc == 0)
		rc = map_write(pid, "gid_map", c->in_gid_map);
	if (rc < 0) {
		int st;
		(void)raw_syscall4(SYS_kill, pid, SIGKILL, 0, 0);
		(void)raw_syscall4(SYS_wait4, pid, (long)&st, __WALL, 0);
		errno = (int)-rc;
		fail(c, AL_STAGE_IN_USER, 0);
	}
	(void)raw_syscall4(SYS_write, go[1], (long)"g", 1, 0);
	(void)raw_syscall4(SYS_close, go[1], 0, 0, 0);
	while (raw_syscall4(SYS_read, ex[0], (long)&b, 1, 0) == -EINTR)
		;
	(void)raw_syscall4(SYS_close, ex[0], 0, 0, 0);
	return (pid_t)pid;
}

int al_confine_child(void *arg)
{
	struct al_child *c = arg;
	int status_w;
	pid_t step;
	char b;

	signals_reset();
	fds_keep(c);
	parent_watch(c);
	/* without clone3, the parent moves us into the cgroup first; we wait
	 * doing nothing, so that it alone uses errno meanwhile */
	if (c->need_sync && read(c->life_r, &b, 1) != 1)
		fail(c, AL_STAGE_CGROUP_SYNC, -1);
	if (c->userns)
		userns_map(c);
	/* the view's directories and files get the modes asked for, whatever
	 * umask airlock runs with (077: /airlock would be closed to a step
	 * of another uid) */
	umask(022);
	view_enter(c);
	if (c->utsns && sethostname("airlock", 7) < 0)
		fail(c, AL_STAGE_HOSTNAME, -1);
	if (c->netns)
		loopback_up(c);
	/* The init holds airlock's memory (keys included) and, in a user
	 * namespace, runs as the step's uid. The step still cannot ptrace it
	 * nor open its /proc/1/mem or environ (hidepid even hides /proc/1):
	 * the init has capabilities in the namespace that the step lacks, and
	 * ptrace_may_access refuses that (as root, the uids differ). Not
	 * PR_SET_DUMPABLE 0: the flag belongs to the memory, which is
	 * airlock's, and a non-dumpable airlock makes /proc/self/uid_map of
	 * the next init root's, so the next unprivileged spawn fails. */
	step = step_start(c);
	if (step < 0)
		fail(c, AL_STAGE_FORK, -1);
	/* The step exec'd (or failed). Keep what the loop needs: once the
	 * report pipe closes, airlock's spawn returns and c goes with it. */
	status_w = c->status_w;
	close(c->life_r);
	close(c->report_w);
	init_loop(status_w, step);
}
