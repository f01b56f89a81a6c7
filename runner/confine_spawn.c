/* confine_spawn.c - starting a step's process confined (see confine.h): the
 * parent's side. The host probe, the checks of a spec, the clone of the
 * init, and what the caller does after the step exits. The plan of the
 * step's filesystem view is confine_view.c; the child's side
 * confine_child.c; the seccomp deny list confine_seccomp.c; cgroups
 * confine_cgroup.c. */
#include "runner/confine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_POOL 16

struct al_confine_cache {
	struct al_sock_fprog bpf; /* the default seccomp filter */
	struct al_plan sys;       /* the host's /usr, /bin, ..., /etc: the view without an image */
	struct al_plan net;       /* /etc/hosts and /etc/resolv.conf, for network: host */
	/* init stacks of finished steps, reused: a fresh mapping costs an
	 * mmap, page faults and, at munmap, TLB shootdowns in airlock */
	void *stacks[STACK_POOL];
	size_t nstacks;
	struct al_cgroup_pool cgroups;
};

static const char *const layer_names[AL_CONFINE_LAYER_COUNT] = {
	"userns", "mountns", "pidns", "ipcns", "utsns", "netns", "seccomp", "landlock", "cgroup",
};

const char *al_confine_layer_name(enum al_confine_layer l)
{
	return (unsigned)l < AL_CONFINE_LAYER_COUNT ? layer_names[l] : "?";
}

/* ------------------------------------------------------------------ */
/* The spec.                                                           */

/* An in-view bind target: absolute, under /airlock/, no empty, "." or
 * ".." component (a "../etc" would put a host directory over the view's
 * /etc, or a step's writable directory over /airlock/bundle). */
static int at_check(const char *at, struct al_err *err)
{
	const char *p;

	if (at == NULL || strncmp(at, "/airlock/", 9) != 0 || at[9] == '\0')
		return al_err_set(err, AL_EUSAGE, "confine: bind target %s is not a path under /airlock/",
		                  at != NULL ? at : "(null)");
	if (strlen(at) >= AL_CONFINE_PATH_MAX)
		return al_err_set(err, AL_EUSAGE, "confine: bind target %.64s... is too long", at);
	for (p = at + 1; *p != '\0';) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return al_err_set(err, AL_EUSAGE,
			                  "confine: bind target %s has an empty, \".\" or \"..\" component", at);
		p += n;
		if (*p == '/')
			p++;
		if (*p == '\0' && p[-1] == '/')
			return al_err_set(err, AL_EUSAGE, "confine: bind target %s ends with \"/\"", at);
	}
	return 0;
}

/* b lies inside (or on) a: the second bind would be created through the
 * first, i.e. in a host directory. */
static int at_inside(const char *b, const char *a)
{
	size_t n = strlen(a);

	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

static int binds_check(const struct al_confine_spec *s, struct al_err *err)
{
	if (s->nbinds > AL_CONFINE_BINDS_MAX || (s->nbinds > 0 && s->binds == NULL))
		return al_err_set(err, AL_EUSAGE, "confine: %zu binds (at most %d)", s->nbinds,
		                  AL_CONFINE_BINDS_MAX);
	for (size_t i = 0; i < s->nbinds; i++) {
		const struct al_confine_bind *b = &s->binds[i];
		if (b->host == NULL || b->host[0] != '/' || strlen(b->host) >= AL_CONFINE_PATH_MAX)
			return al_err_set(err, AL_EUSAGE, "confine: bind source %s is not an absolute path",
			                  b->host != NULL ? b->host : "(null)");
		if (at_check(b->at, err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (at_inside(b->at, s->binds[j].at) || at_inside(s->binds[j].at, b->at))
				return al_err_set(err, AL_EUSAGE, "confine: bind target %s overlaps bind target %s",
				                  b->at, s->binds[j].at);
	}
	if (s->nfiles > AL_CONFINE_BINDS_MAX || (s->nfiles > 0 && s->files == NULL))
		return al_err_set(err, AL_EUSAGE, "confine: %zu files (at most %d)", s->nfiles,
		                  AL_CONFINE_BINDS_MAX);
	for (size_t i = 0; i < s->nfiles; i++) {
		const char *at = s->files[i].at;
		if (at_check(at, err) < 0)
			return -1;
		/* a file inside a bind would be written into a host directory */
		for (size_t j = 0; j < s->nbinds; j++)
			if (at_inside(at, s->binds[j].at) || at_inside(s->binds[j].at, at))
				return al_err_set(err, AL_EUSAGE, "confine: file %s overlaps bind target %s", at,
				                  s->binds[j].at);
		for (size_t j = 0; j < i; j++)
			if (at_inside(at, s->files[j].at) || at_inside(s->files[j].at, at))
				return al_err_set(err, AL_EUSAGE, "confine: file %s overlaps file %s", at,
				                  s->files[j].at);
	}
	return 0;
}

static int layer_refuse(const struct al_confine_host *h, enum al_confine_layer l, const char *why,
                        struct al_err *err)
{
	return al_err_set(err, AL_EENV, "confine: %s: no %s on this host (%s)", why, layer_names[l],
	                  h->why[l][0] != '\0' ? h->why[l] : "not probed");
}

int al_confine_missing(const struct al_confine_host *h, int strict, int net_none)
{
	static const enum al_confine_layer view[] = {AL_CONFINE_USERNS, AL_CONFINE_MOUNTNS,
	                                             AL_CONFINE_PIDNS};
	static const enum al_confine_layer more[] = {AL_CONFINE_NETNS, AL_CONFINE_SECCOMP,
	                                             AL_CONFINE_LANDLOCK};

	for (size_t i = 0; i < sizeof view / sizeof view[0]; i++)
		if (!h->have[view[i]] && !(view[i] == AL_CONFINE_USERNS && h->root))
			return (int)view[i];
	for (size_t i = 0; strict && i < sizeof more / sizeof more[0]; i++)
		if (!h->have[more[i]] && !(more[i] == AL_CONFINE_NETNS && !net_none))
			return (int)more[i];
	return -1;
}

/* The layers the view needs, and under strict the others the spec
 * promises: refused before anything starts. */
static int layers_check(const struct al_confine_spec *s, struct al_err *err)
{
	int l = al_confine_missing(s->host, s->strict, s->net_none);

	if (l < 0 && s->in_user && !s->host->have[AL_CONFINE_USERNS])
		return layer_refuse(s->host, AL_CONFINE_USERNS, "an image's User", err);
	if (l < 0)
		return 0;
	return layer_refuse(s->host, (enum al_confine_layer)l,
	                    l <= AL_CONFINE_PIDNS ? "cannot build the step's view"
	                                          : "strict confinement",
	                    err);
}

/* As root the step runs as s->uid: never root itself (it would own the
 * view and could undo it), never the owner of the airlock home (it could
 * then rewrite the audit log through any path that leaked into view). */
static int ids_check(const struct al_confine_spec *s, struct al_err *err)
{
	if (!s->host->root)
		return 0;
	if (s->uid == 0 || s->gid == 0 || s->uid == (uid_t)-1 || s->gid == (gid_t)-1)
		return al_err_set(err, AL_EUSAGE, "confine: step uid %u gid %u refused: a step never runs as root",
		                  (unsigned)s->uid, (unsigned)s->gid);
	if (s->uid == s->home_uid)
		return al_err_set(err, AL_EUSAGE,
		                  "confine: step uid %u refused: it owns the airlock home", (unsigned)s->uid);
	return 0;
}

/* stdin, stdout and stderr must not be directories: a step could fchdir
 * through one out of its view, to the host directory it names. */
static int stdio_check(const struct al_confine_spec *s, struct al_err *err)
{
	static const char *const name[] = {"stdin", "stdout", "stderr"};
	int fd[3] = {s->stdin_fd, s->out_fd, s->err_fd};
	struct stat st;

	for (int i = 0; i < 3; i++) {
		if (fd[i] < 0 || fstat(fd[i], &st) < 0)
			return al_err_set(err, AL_EUSAGE, "confine: %s: %s (fd %d) is not open", s->argv[0],
			                  name[i], fd[i]);
		if (S_ISDIR(st.st_mode))
			return al_err_set(err, AL_EUSAGE,
			                  "confine: %s: %s (fd %d) is a directory: the step could leave its view "
			                  "through it",
			                  s->argv[0], name[i], fd[i]);
	}
	return 0;
}

static int spec_check(const struct al_confine_spec *s, struct al_err *err)
{
	if (s->host == NULL || s->host->cache == NULL)
		return al_err_set(err, AL_EUSAGE, "confine: no host probe (al_confine_prepare)");
	if (s->argv == NULL || s->argv[0] == NULL || s->argv[0][0] != '/')
		return al_err_set(err, AL_EFAIL,
		                  "confine: cannot execute %s: not a path in the view (a program "
		                  "not found in the bundle's bin/, /usr/bin or /bin)",
		                  s->argv != NULL && s->argv[0] != NULL ? s->argv[0] : "(null)");
	if (s->envp == NULL)
		return al_err_set(err, AL_EUSAGE, "confine: %s: no environment", s->argv[0]);
	if (stdio_check(s, err) < 0)
		return -1;
	if (s->root != NULL && s->root[0] != '/')
		return al_err_set(err, AL_EUSAGE, "confine: image root %s is not an absolute path", s->root);
	if (layers_check(s, err) < 0 || ids_check(s, err) < 0)
		return -1;
	return binds_check(s, err);
}

/* ------------------------------------------------------------------ */
/* The host probe.                                                     */

#define PROBE_MOUNT_API AL_CONFINE_LAYER_COUNT   /* res[] slot: the new mount API */
#define PROBE_PROC (AL_CONFINE_LAYER_COUNT + 1) /* res[] slot: a fresh /proc */
#define PROBE_SLOTS (AL_CONFINE_LAYER_COUNT + 2)

/* In the new PID namespace's first process: whether a /proc of its own
 * can be made (Linux refuses it in a user namespace while parts of the
 * visible /proc are covered, as systemd's ProtectKernelTunables= does).
 * Returns 0 or the errno. */
static int probe_proc(void)
{
	int fs, status = 0, e = 0;
	pid_t pid = fork();

	if (pid == 0) {
		fs = (int)syscall(SYS_fsopen, "proc", AL_FSOPEN_CLOEXEC);
		if (fs < 0 || syscall(SYS_fsconfig, fs, AL_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
		    syscall(SYS_fsmount, fs, AL_FSMOUNT_CLOEXEC, 0) < 0)
			_exit(errno > 0 && errno < 256 ? errno : EINVAL);
		_exit(0);
	}
	if (pid < 0)
		return errno;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	if (!WIFEXITED(status))
		e = EINVAL;
	else
		e = WEXITSTATUS(status);
	return e;
}

/* In a throw-away child: each namespace, the new mount API, a fresh /proc
 * and loading the seccomp filter, in the order a spawn needs them. */
_Noreturn static void probe_child(const struct al_confine_host *h, int fd)
{
	static const int ns[] = {CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET};
	static const int slot[] = {AL_CONFINE_PIDNS, AL_CONFINE_IPCNS, AL_CONFINE_UTSNS, AL_CONFINE_NETNS};
	int res[PROBE_SLOTS] = {0}; /* errno per layer, then the PROBE_* checks */
	int fs;

	if (!h->root && unshare(CLONE_NEWUSER) < 0)
		res[AL_CONFINE_USERNS] = errno;
	if (unshare(CLONE_NEWNS) < 0)
		res[AL_CONFINE_MOUNTNS] = errno;
	else if ((fs = (int)syscall(SYS_fsopen, "tmpfs", AL_FSOPEN_CLOEXEC)) < 0)
		res[PROBE_MOUNT_API] = errno;
	else if (close(fs) == 0 && syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 && errno == ENOSYS)
		res[PROBE_MOUNT_API] = ENOSYS;
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
		if (unshare(ns[i]) < 0)
			res[slot[i]] = errno;
	if (res[AL_CONFINE_MOUNTNS] == 0 && res[PROBE_MOUNT_API] == 0 && res[AL_CONFINE_PIDNS] == 0)
		res[PROBE_PROC] = probe_proc();
	if (h->root && unshare(CLONE_NEWUSER) < 0) /* for the report only */
		res[AL_CONFINE_USERNS] = errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, AL_SECCOMP_MODE_FILTER, &h->cache->bpf, 0, 0) < 0)
		res[AL_CONFINE_SECCOMP] = errno;
	(void)!write(fd, res, sizeof res);
	_exit(0);
}

static void probe_record(struct al_confine_host *h, const int *res)
{
	static const char *const call[AL_CONFINE_LAYER_COUNT] = {
		"unshare(CLONE_NEWUSER)", "unshare(CLONE_NEWNS)", "unshare(CLONE_NEWPID)",
		"unshare(CLONE_NEWIPC)", "unshare(CLONE_NEWUTS)", "unshare(CLONE_NEWNET)",
		"prctl(PR_SET_SECCOMP)", "", "",
	};

	for (int l = 0; l <= AL_CONFINE_SECCOMP; l++) {
		h->have[l] = res[l] == 0;
		if (res[l] != 0)
			snprintf(h->why[l], sizeof h->why[l], "%s: %s", call[l], strerror(res[l]));
	}
	if (res[AL_CONFINE_MOUNTNS] == 0 && res[PROBE_MOUNT_API] != 0) {
		h->have[AL_CONFINE_MOUNTNS] = 0;
		snprintf(h->why[AL_CONFINE_MOUNTNS], sizeof h->why[0],
		         "the new mount API (fsopen, mount_setattr; Linux 5.12): %s",
		         strerror(res[PROBE_MOUNT_API]));
	} else if (res[AL_CONFINE_MOUNTNS] == 0 && res[PROBE_PROC] != 0) {
		h->have[AL_CONFINE_MOUNTNS] = 0;
		snprintf(h->why[AL_CONFINE_MOUNTNS], sizeof h->why[0],
		         "a fresh /proc: %s (is part of the host's /proc covered, as by systemd's "
		         "ProtectKernelTunables=?)",
		         strerror(res[PROBE_PROC]));
	}
}

static int ns_probe(struct al_confine_host *h, struct al_err *err)
{
	int res[PROBE_SLOTS], fds[2], status = 0, rc = -1;
	ssize_t n;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return al_err_sys(err, "confine: cannot create the probe's pipe");
	pid = fork();
	if (pid < 0) {
		al_err_sys(err, "confine: cannot fork the namespace probe");
		goto out;
	}
	if (pid == 0) {
		close(fds[0]);
		probe_child(h, fds[1]);
	}
	close(fds[1]);
	fds[1] = -1;
	do
		n = read(fds[0], res, sizeof res);
	while (n < 0 && errno == EINTR);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof res) {
		al_err_set(err, AL_EENV, "confine: the namespace probe died (wait status %#x)", status);
		goto out;
	}
	probe_record(h, res);
	rc = 0;
out:
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return rc;
}

static void landlock_probe(struct al_confine_host *h)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, AL_LANDLOCK_CREATE_RULESET_VERSION);

	if (abi > 0) {
		h->landlock_abi = (int)abi;
		h->have[AL_CONFINE_LANDLOCK] = 1;
		return;
	}
	snprintf(h->why[AL_CONFINE_LANDLOCK], sizeof h->why[0], "landlock_create_ruleset: %s%s",
	         strerror(errno), errno == EOPNOTSUPP ? " (not enabled at boot: lsm=)" : "");
}

int al_confine_prepare(struct al_confine_host *h, struct al_err *err)
{
	memset(h, 0, sizeof *h);
	h->root = geteuid() == 0;
	h->cache = calloc(1, sizeof *h->cache);
	if (h->cache == NULL)
		return al_err_sys(err, "confine: cannot allocate the host cache");
	if (al_confine_seccomp_compile(NULL, &h->cache->bpf, err) < 0 ||
	    al_confine_plan_system(&h->cache->sys, &h->cache->net, err) < 0 || ns_probe(h, err) < 0)
		goto fail;
	landlock_probe(h);
	al_confine_cgroup_probe(h);
	return 0;
fail:
	al_confine_release(h);
	return -1;
}

void al_confine_release(struct al_confine_host *h)
{
	al_confine_cgroup_run_remove(h, h->cache != NULL ? &h->cache->cgroups : NULL);
	if (h->cache != NULL) {
		free(h->cache->bpf.filter);
		al_confine_plan_free(&h->cache->sys);
		al_confine_plan_free(&h->cache->net);
		for (size_t i = 0; i < h->cache->nstacks; i++)
			munmap((char *)h->cache->stacks[i] - 4096, AL_INIT_STACK + 4096);
		free(h->cache);
		h->cache = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* Spawning.                                                           */

/* The namespaces of the init, and what the layers report says of them. */
static uint64_t clone_flags(const struct al_confine_spec *s, struct al_confine_layers *L)
{
	const struct al_confine_host *h = s->host;
	uint64_t f = CLONE_NEWNS | CLONE_NEWPID;

	L->mountns = L->pidns = 1;
	if (!h->root) {
		f |= CLONE_NEWUSER;
		L->userns = 1;
	}
	if (h->have[AL_CONFINE_IPCNS]) {
		f |= CLONE_NEWIPC; /* SysV IPC and POSIX queues of the host */
		L->ipcns = 1;
	}
	if (h->have[AL_CONFINE_UTSNS]) {
		f |= CLONE_NEWUTS;
		L->utsns = 1;
	}
	if (s->net_none && h->have[AL_CONFINE_NETNS]) {
		f |= CLONE_NEWNET;
		L->netns = 1;
	}
	return f;
}

/* clone3 running fn(arg) on the stack in a->stack: the child returns from
 * the system call onto that empty stack, so it cannot return into C; it
 * calls fn and exits (x86_64). */
static pid_t clone3_run(struct al_clone_args *a, int (*fn)(void *), void *arg)
{
	register long r12 __asm__("r12") = (long)fn;
	register long r13 __asm__("r13") = (long)arg;
	long ret;

	__asm__ volatile("syscall\n\t"
	                 "test %%rax, %%rax\n\t"
	                 "jnz 1f\n\t"
	                 "xor %%ebp, %%ebp\n\t"
	                 "mov %%r13, %%rdi\n\t"
	                 "call *%%r12\n\t"
	                 "mov %%eax, %%edi\n\t"
	                 "mov $231, %%eax\n\t" /* exit_group */
	                 "syscall\n\t"
	                 "hlt\n\t"
	                 "1:\n\t"
	                 : "=a"(ret)
	                 : "0"((long)SYS_clone3), "D"(a), "S"(sizeof *a), "r"(r12), "r"(r13)
	                 : "rcx", "r11", "memory", "cc");
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return (pid_t)ret;
}

/* The init: a CLONE_VM child (no copy of airlock's page tables) in the new
 * namespaces, on its own stack. clone3 places it in its cgroup
 * atomically; where clone3 is missing (or a container's seccomp profile
 * answers ENOSYS), clone, and the parent moves it (*placed = 0). */
static pid_t clone_init(uint64_t flags, int cgroup_fd, void *stack, struct al_child *c, int *placed)
{
	*placed = 0;
	if (cgroup_fd >= 0) {
		struct al_clone_args a;
		pid_t pid;
		memset(&a, 0, sizeof a);
		a.flags = flags | CLONE_VM | AL_CLONE_INTO_CGROUP;
		a.exit_signal = SIGCHLD;
		a.stack = (uint64_t)(uintptr_t)stack;
		a.stack_size = AL_INIT_STACK;
		a.cgroup = (uint64_t)cgroup_fd;
		pid = clone3_run(&a, al_confine_child, c);
		if (pid >= 0) {
			*placed = 1;
			return pid;
		}
		if (errno != ENOSYS && errno != E2BIG)
			return -1;
		c->need_sync = 1;
	}
	return (pid_t)clone(al_confine_child, (char *)stack + AL_INIT_STACK,
	                    (int)flags | CLONE_VM | SIGCHLD, c);
}

/* The init's stack, with a guard page below it: from the pool, or new. */
static void *stack_new(struct al_confine_cache *cache)
{
	void *m;

	if (cache->nstacks > 0)
		return cache->stacks[--cache->nstacks];
	m = mmap(NULL, AL_INIT_STACK + 4096, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	(void)mprotect(m, 4096, PROT_NONE);
	return (char *)m + 4096;
}

static void stack_free(struct al_confine_cache *cache, void *stack)
{
	if (stack == NULL)
		return;
	if (cache != NULL && cache->nstacks < STACK_POOL)
		cache->stacks[cache->nstacks++] = stack;
	else
		munmap((char *)stack - 4096, AL_INIT_STACK + 4096);
}

static const char *stage_text(const struct al_report *r, const struct al_plan *pl,
                              const struct al_child *c, char *buf, size_t size)
{
	static const char *const std[] = {"stdin", "stdout", "stderr"};
	static const char *const map[] = {"/proc/self/uid_map", "/proc/self/setgroups", "/proc/self/gid_map"};
	const struct al_op *op = r->op >= 0 && (size_t)r->op < pl->n ? &pl->ops[r->op] : NULL;
	const char *at = op != NULL && op->at != NULL ? op->at : "?";
	const char *src = op != NULL && op->src != NULL ? op->src : "?";

	switch (r->stage) {
	case AL_STAGE_USERNS_MAP: snprintf(buf, size, "cannot write %s", map[r->op >= 0 && r->op < 3 ? r->op : 0]); break;
	case AL_STAGE_PRIVATE: snprintf(buf, size, "cannot make the mounts private"); break;
	case AL_STAGE_CLONE_TREE: snprintf(buf, size, "cannot open %s for /%s (open_tree)", src, at); break;
	case AL_STAGE_MOUNT_ATTR: snprintf(buf, size, "cannot make the bind of %s at /%s read-only, nosuid, nodev", src, at); break;
	case AL_STAGE_ROOT_TMPFS: snprintf(buf, size, "cannot mount the new root (tmpfs)"); break;
	case AL_STAGE_MOUNTPOINT: snprintf(buf, size, "cannot create the mount point /%s", at); break;
	case AL_STAGE_ATTACH: snprintf(buf, size, "cannot mount /%s (bind of %s)", at, src); break;
	case AL_STAGE_SYMLINK: snprintf(buf, size, "cannot create the symlink /%s -> %s", at, src); break;
	case AL_STAGE_FILE: snprintf(buf, size, "cannot write /%s", at); break;
	case AL_STAGE_TMPFS: snprintf(buf, size, "cannot mount a tmpfs at /%s", at); break;
	case AL_STAGE_PROC: snprintf(buf, size, "cannot mount proc at /%s", at); break;
	case AL_STAGE_ROOT_READONLY: snprintf(buf, size, "cannot make the new root read-only"); break;
	case AL_STAGE_PIVOT: snprintf(buf, size, "cannot pivot_root into the new root"); break;
	case AL_STAGE_HOSTNAME: snprintf(buf, size, "cannot set the host name"); break;
	case AL_STAGE_LOOPBACK: snprintf(buf, size, "cannot bring up the loopback interface"); break;
	case AL_STAGE_CGROUP_SYNC: snprintf(buf, size, "lost the parent before entering the cgroup"); break;
	case AL_STAGE_FORK: snprintf(buf, size, "cannot fork the step process"); break;
	case AL_STAGE_SESSION: snprintf(buf, size, "cannot start a new session"); break;
	case AL_STAGE_IDS: snprintf(buf, size, "cannot drop to uid %u gid %u", (unsigned)c->uid, (unsigned)c->gid); break;
	case AL_STAGE_CAPS: snprintf(buf, size, "still holds capabilities as uid %u (airlock was started with securebits or ambient capabilities that keep them)", (unsigned)c->uid); break;
	case AL_STAGE_IN_USER: snprintf(buf, size, "cannot become the image's user %u:%u in its own user namespace (%s)", (unsigned)c->s->in_uid, (unsigned)c->s->in_gid, r->op == 0 ? "writing its maps" : r->op == 1 ? "setresuid" : "dropping capabilities"); break;
	case AL_STAGE_PDEATHSIG: snprintf(buf, size, "cannot set the parent-death signal"); break;
	case AL_STAGE_RLIMIT: snprintf(buf, size, "cannot set a resource limit"); break;
	case AL_STAGE_NO_NEW_PRIVS: snprintf(buf, size, "cannot set no_new_privs"); break;
	case AL_STAGE_STDIO: snprintf(buf, size, "cannot set up %s", std[r->op >= 0 && r->op < 3 ? r->op : 0]); break;
	case AL_STAGE_CHDIR: snprintf(buf, size, "cannot enter its working directory (/airlock/out, or the image's WorkingDir)"); break;
	case AL_STAGE_LANDLOCK: snprintf(buf, size, "cannot apply the Landlock ruleset (ABI %d)", c->landlock_abi); break;
	case AL_STAGE_SECCOMP: snprintf(buf, size, "cannot load the seccomp filter"); break;
	case AL_STAGE_EXEC: snprintf(buf, size, "cannot execute %s", c->s->argv[0]); break;
	default: snprintf(buf, size, "setup failed at stage %d", r->stage); break;
	}
	return buf;
}

/* The setup's outcome: a record AL_STAGE_OK just before the exec, then
 * EOF (the exec closed the pipe): 0. A record naming the stage that
 * failed, or EOF without the OK record (the init or the step died before
 * the exec): -1 with err; *died says which. */
static int report_read(int fd, const struct al_plan *pl, const struct al_child *c, int *died,
                       struct al_err *err)
{
	struct al_report r;
	char text[AL_CONFINE_PATH_MAX * 2 + 100];
	int ok = 0;
	ssize_t n;

	*died = 0;
	for (;;) {
		/* a setup stuck (a declared mount on a hung NFS server, say) must
		 * not hold the run, whose signals are blocked meanwhile, forever */
		struct pollfd pfd = {fd, POLLIN, 0};
		int pr;
		do
			pr = poll(&pfd, 1, AL_CONFINE_SETUP_TIMEOUT_MS);
		while (pr < 0 && errno == EINTR);
		if (pr == 0)
			return al_err_set(err, AL_EENV,
			                  "confine: %s: the step's setup (its mounts, then exec) did not "
			                  "finish in %d s: killed (a declared mount on a hung file server?)",
			                  c->s->argv[0], AL_CONFINE_SETUP_TIMEOUT_MS / 1000);
		do
			n = read(fd, &r, sizeof r);
		while (n < 0 && errno == EINTR);
		if (n == 0 && ok)
			return 0;
		if (n == 0) {
			*died = 1;
			return -1;
		}
		if (n != (ssize_t)sizeof r)
			return al_err_sys(err, "confine: %s: lost the setup report", c->s->argv[0]);
		if (r.stage != AL_STAGE_OK)
			break;
		ok = 1;
	}
	errno = r.err;
	al_err_sys(err, "confine: %s", stage_text(&r, pl, c, text, sizeof text));
	if (r.stage == AL_STAGE_EXEC)
		err->code = AL_EFAIL; /* a step that cannot start is a failed step */
	return -1;
}

static int reap(pid_t pid)
{
	int status = 0;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

/* The init died before the step's exec, with no report: killed (by the
 * OOM killer, a signal to it, a cgroup being killed). */
static void died_say(struct al_err *err, const char *argv0, int status)
{
	if (WIFSIGNALED(status))
		al_err_set(err, AL_EENV, "confine: %s: the step's init was killed by signal %d during setup",
		           argv0, WTERMSIG(status));
	else
		al_err_set(err, AL_EENV, "confine: %s: the step's init died during setup (wait status %#x)",
		           argv0, (unsigned)status);
}

static int cgroup_place(const struct al_confine_proc *p, pid_t pid, struct al_err *err)
{
	char path[AL_CONFINE_PATH_MAX + 16], v[24];
	int fd, n;

	snprintf(path, sizeof path, "%s/cgroup.procs", p->layers.cgroup);
	snprintf(v, sizeof v, "%ld", (long)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	n = fd >= 0 ? (int)write(fd, v, strlen(v)) : -1;
	if (n < 0)
		al_err_sys(err, "confine: cannot move the step's init into %s", path);
	if (fd >= 0)
		close(fd);
	return n < 0 ? -1 : 0;
}

/* Clones the init and waits for the step's exec (or its failure). All
 * signals stay blocked until then: the child must never run one of the
 * parent's handlers (the init wants them blocked anyway), and no EINTR
 * makes this thread read errno while the child, which shares its TLS,
 * may be writing it. */
static int start(struct al_child *c, uint64_t flags, struct al_confine_proc *p,
                 const struct al_plan *pl, struct al_err *err)
{
	int rep[2] = {-1, -1}, st[2] = {-1, -1}, life[2] = {-1, -1}, placed, died, rc = -1;
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (pipe2(rep, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(life, O_CLOEXEC) < 0) {
		al_err_sys(err, "confine: %s: cannot create a pipe", c->s->argv[0]);
		goto out; /* closes the ones made */
	}
	c->report_w = rep[1];
	c->status_w = st[1];
	c->life_r = life[0];
	pid = clone_init(flags, p->cgroup_fd, p->stack, c, &placed);
	if (pid < 0) {
		al_err_sys(err, "confine: %s: cannot start the step's init (clone)", c->s->argv[0]);
		goto out;
	}
	if (!placed && p->cgroup_fd >= 0 &&
	    (cgroup_place(p, pid, err) < 0 || write(life[1], "", 1) != 1)) {
		kill(pid, SIGKILL);
		reap(pid);
		goto out;
	}
	/* our copies of the child's ends, or EOF never comes */
	close(rep[1]);
	close(st[1]);
	rep[1] = st[1] = -1;
	if (report_read(rep[0], pl, c, &died, err) < 0) {
		int status;
		kill(pid, SIGKILL); /* not reaped yet: still ours; a stuck setup ends here */
		status = reap(pid);
		if (died)
			died_say(err, c->s->argv[0], status);
		goto out;
	}
	p->pid = pid;
	p->status_fd = st[0];
	st[0] = -1;
	rc = 0;
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < 2; i++) {
		if (rep[i] >= 0)
			close(rep[i]);
		if (st[i] >= 0)
			close(st[i]);
		if (life[i] >= 0)
			close(life[i]);
	}
	return rc;
}

static void proc_init(struct al_confine_proc *p)
{
	memset(p, 0, sizeof *p);
	p->pid = -1;
	p->status_fd = -1;
	p->cgroup_fd = -1;
}

/* The child's context, and the layers the spawn will apply. */
static int child_build(const struct al_confine_spec *s, struct al_plan *pl,
                       struct al_sock_fprog *own, struct al_child *c, struct al_confine_layers *L,
                       struct al_err *err)
{
	const struct al_confine_host *h = s->host;

	memset(c, 0, sizeof *c);
	c->s = s;
	c->plan = pl;
	c->root_mode = h->root;
	c->uid = h->root ? s->uid : geteuid(); /* a user namespace maps our effective ids */
	c->gid = h->root ? s->gid : getegid();
	c->landlock_abi = h->landlock_abi;
	c->userns = L->userns;
	c->utsns = L->utsns;
	c->netns = L->netns;
	snprintf(c->uid_map, sizeof c->uid_map, "%u %u 1\n", (unsigned)c->uid, (unsigned)c->uid);
	snprintf(c->gid_map, sizeof c->gid_map, "%u %u 1\n", (unsigned)c->gid, (unsigned)c->gid);
	c->in_user = s->in_user;
	c->go_r = -1;
	snprintf(c->in_uid_map, sizeof c->in_uid_map, "%u %u 1\n", (unsigned)s->in_uid, (unsigned)c->uid);
	snprintf(c->in_gid_map, sizeof c->in_gid_map, "%u %u 1\n", (unsigned)s->in_gid, (unsigned)c->gid);
	if (h->have[AL_CONFINE_SECCOMP]) {
		c->bpf = &h->cache->bpf;
		/* a widened filter is compiled here, in the parent, per step */
		if (s->allow != NULL && s->allow[0] != NULL) {
			if (al_confine_seccomp_compile(s->allow, own, err) < 0)
				return -1;
			c->bpf = own;
		}
	} else if (s->allow != NULL && s->allow[0] != NULL &&
	           al_confine_seccomp_compile(s->allow, own, err) < 0) {
		return -1; /* still refuse an unknown name */
	}
	L->seccomp = c->bpf != NULL;
	if (!h->have[AL_CONFINE_CGROUP] || h->cgroup_limits == 0)
		snprintf(L->cgroup_why, sizeof L->cgroup_why, "%s", h->why[AL_CONFINE_CGROUP]);
	L->landlock_abi = c->landlock_abi;
	L->uid = c->uid;
	L->gid = c->gid;
	return al_confine_plan_build(s, &h->cache->sys, &h->cache->net, c->uid, c->gid, pl, err);
}

int al_confine_spawn(const struct al_confine_spec *s, struct al_confine_proc *p,
                     struct al_err *err)
{
	struct al_sock_fprog own = {0, NULL};
	struct al_plan plan;
	struct al_child c;
	uint64_t flags;
	int rc = -1;

	proc_init(p);
	memset(&plan, 0, sizeof plan);
	if (spec_check(s, err) < 0)
		goto out;
	flags = clone_flags(s, &p->layers);
	if (child_build(s, &plan, &own, &c, &p->layers, err) < 0)
		goto out;
	if (s->host->have[AL_CONFINE_CGROUP] &&
	    al_confine_cgroup_step_make(s, &s->host->cache->cgroups, p, err) < 0)
		goto out;
	p->cache = s->host->cache;
	p->stack = stack_new(p->cache);
	if (p->stack == NULL) {
		al_err_sys(err, "confine: %s: cannot allocate the init's stack", s->argv[0]);
		goto out;
	}
	rc = start(&c, flags, p, &plan, err);
out:
	if (rc < 0) {
		al_confine_cgroup_step_remove(p);
		p->layers.cgroup[0] = '\0';
		stack_free(p->cache, p->stack);
		p->stack = NULL;
	}
	free(own.filter);
	al_confine_plan_free(&plan);
	return rc;
}

/* ------------------------------------------------------------------ */
/* After the step.                                                     */

int al_confine_status(struct al_confine_proc *p, int init_wstatus)
{
	int v;
	ssize_t n;

	if (p->status_fd >= 0) {
		do
			n = read(p->status_fd, &v, sizeof v);
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)sizeof v) {
			p->step_wstatus = v;
			p->step_wstatus_known = 1;
		}
		close(p->status_fd);
		p->status_fd = -1;
	}
	return p->step_wstatus_known ? p->step_wstatus : init_wstatus;
}

int al_confine_kill(struct al_confine_proc *p, struct al_err *err)
{
	if (al_confine_cgroup_kill(p) == 0)
		return 0;
	if (p->pid > 0 && kill(p->pid, SIGKILL) < 0 && errno != ESRCH)
		return al_err_sys(err, "confine: cannot kill the step's init (pid %ld)", (long)p->pid);
	return 0;
}

void al_confine_reap(struct al_confine_proc *p)
{
	al_confine_cgroup_step_remove(p);
	stack_free(p->cache, p->stack); /* the init is gone: nothing runs on it */
	p->stack = NULL;
	if (p->status_fd >= 0) {
		close(p->status_fd);
		p->status_fd = -1;
	}
	p->pid = -1;
}
