/* confine_cgroup.c - the cgroups of confined steps (cgroup v2): finding a
 * delegated one, a per-run cgroup under it, one cgroup per step with the
 * memory, pids and cpu limits the delegated controllers allow, and
 * cgroup.kill at the end. */
#include "runner/confine_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Says why there is no cgroup (or no limits): the message, and strerror(e)
 * when e is not 0. */
static void why_set(struct al_confine_host *h, int e, const char *fmt, ...) AL_PRINTF(3, 4);
static void why_set(struct al_confine_host *h, int e, const char *fmt, ...)
{
	char *w = h->why[AL_CONFINE_CGROUP];
	size_t size = sizeof h->why[0], used;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w, size, fmt, ap);
	va_end(ap);
	used = strlen(w);
	if (e != 0 && used < size)
		snprintf(w + used, size - used, ": %s", strerror(e));
}

/* Reads a small file (a cgroup interface file) into buf, NUL-terminated,
 * without its trailing newline. */
static int small_read(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;
	int errsv;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	errsv = errno;
	close(fd);
	errno = errsv;
	if (n < 0)
		return -1;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return 0;
}

static int small_write(int dirfd, const char *name, const char *s)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;
	int errsv;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	errsv = errno;
	close(fd);
	errno = errsv;
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Our cgroup v2 path, from the "0::/path" line of /proc/self/cgroup. */
static int own_path(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;

	if (f == NULL)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		size_t n = strcspn(line, "\n");
		line[n] = '\0';
		if (strncmp(line, "0::/", 4) == 0 && n - 3 < size) {
			memcpy(out, line + 3, n - 2);
			rc = 0;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r != '\0'; w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w = *r++;
		}
	}
	*w = '\0';
}

/* The cgroup2 mount: its root within the hierarchy and its mount point,
 * fields 4 and 5 of the /proc/self/mountinfo line whose type is cgroup2. */
static int cgroup2_mount(char *root, char *mnt, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;

	if (f == NULL)
		return -1;
	while (rc < 0 && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - "), *field[5] = {NULL}, *save = NULL;
		if (sep == NULL || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		field[0] = strtok_r(line, " ", &save);
		for (int i = 1; i < 5 && field[i - 1] != NULL; i++)
			field[i] = strtok_r(NULL, " ", &save);
		if (field[0] == NULL || field[4] == NULL || strlen(field[3]) >= size ||
		    strlen(field[4]) >= size)
			continue;
		strcpy(root, field[3]);
		strcpy(mnt, field[4]);
		unescape(root);
		unescape(mnt);
		rc = 0;
	}
	free(line);
	fclose(f);
	return rc;
}

/* Our own cgroup directory: the mount point plus our path below the
 * mount's root. */
static int own_dir(struct al_confine_host *h, char *dir, size_t size)
{
	char path[AL_CONFINE_PATH_MAX], root[AL_CONFINE_PATH_MAX], mnt[AL_CONFINE_PATH_MAX];
	size_t rlen;

	if (own_path(path, sizeof path) < 0) {
		why_set(h, 0, "no cgroup v2 hierarchy (no \"0::\" line in %s)", "/proc/self/cgroup");
		return -1;
	}
	if (cgroup2_mount(root, mnt, sizeof root) < 0) {
		why_set(h, 0, "no cgroup2 mount in %s", "/proc/self/mountinfo");
		return -1;
	}
	rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (rlen > 0 && (strncmp(path, root, rlen) != 0 || (path[rlen] != '/' && path[rlen] != '\0'))) {
		why_set(h, 0, "our cgroup %s is not below the cgroup2 mount's root", path);
		return -1;
	}
	if (al_snprintf(dir, size, "%s%s", mnt, strcmp(path + rlen, "/") == 0 ? "" : path + rlen) < 0) {
		why_set(h, 0, "cgroup path too long: %s", path);
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	unsigned bit;
} wanted[] = {{"memory", AL_CONFINE_LIMIT_MEMORY}, {"pids", AL_CONFINE_LIMIT_PIDS},
              {"cpu", AL_CONFINE_LIMIT_CPU}};
#define WANTED_N (sizeof wanted / sizeof wanted[0])

/* The AL_CONFINE_LIMIT_* bits among the words of a cgroup file
 * (cgroup.controllers, cgroup.subtree_control); 0 when unreadable. */
static unsigned controllers_read(int dirfd, const char *file)
{
	char have[512], padded[520], word[32];
	unsigned bits = 0;

	if (small_read(dirfd, file, have, sizeof have) < 0)
		return 0;
	snprintf(padded, sizeof padded, " %s ", have);
	for (size_t i = 0; i < WANTED_N; i++) {
		snprintf(word, sizeof word, " %s ", wanted[i].name);
		if (strstr(padded, word) != NULL)
			bits |= wanted[i].bit;
	}
	return bits;
}

/* Writes "+name" (on) or "-name" (off) to cgroup.subtree_control for each
 * bit; returns the bits written. */
static unsigned controllers_write(int dirfd, unsigned bits, char sign)
{
	unsigned done = 0;

	for (size_t i = 0; i < WANTED_N; i++) {
		char word[32];
		if (!(bits & wanted[i].bit))
			continue;
		snprintf(word, sizeof word, "%c%s", sign, wanted[i].name);
		if (small_write(dirfd, "cgroup.subtree_control", word) == 0)
			done |= wanted[i].bit;
	}
	return done;
}

/* Whether we are the only process of the cgroup. */
static int alone_in(int dirfd)
{
	char procs[64];
	char *end;

	if (small_read(dirfd, "cgroup.procs", procs, sizeof procs) < 0)
		return 0;
	return strtol(procs, &end, 10) == (long)getpid() && *end == '\0';
}

/* cgroup v2 lets a cgroup other than the root give controllers to its
 * children only while it holds no process itself: a systemd service with
 * Delegate=yes is such a cgroup, with airlock in it. When airlock is alone
 * there it moves into RUN/supervisor (what systemd 254's DelegateSubgroup=
 * does; Debian 12 has 252), then turns the controllers on below its own
 * cgroup; al_confine_cgroup_run_remove undoes both. */
static void own_enable(struct al_confine_host *h, const char *dir, const char *run)
{
	char sup[AL_CONFINE_PATH_MAX + 16];
	int own = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;
	unsigned missing;

	if (own < 0)
		return;
	missing = controllers_read(own, "cgroup.controllers") & ~controllers_read(own, "cgroup.subtree_control");
	if (missing == 0 || controllers_write(own, missing, '+') == missing || !alone_in(own) ||
	    al_snprintf(sup, sizeof sup, "%s/supervisor", run) < 0 || mkdir(sup, 0755) < 0) {
		/* the partial writes stay: harmless, and another airlock may use them */
		close(own);
		return;
	}
	fd = open(sup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || small_write(fd, "cgroup.procs", "0") < 0) {
		(void)rmdir(sup);
	} else {
		strcpy(h->cgroup_own, dir);
		h->cgroup_own_enabled = controllers_write(own, missing, '+');
	}
	if (fd >= 0)
		close(fd);
	close(own);
}

/* Turns on, for the step cgroups, whichever of memory, pids and cpu the
 * run cgroup was given; returns the AL_CONFINE_LIMIT_* bits. */
static unsigned controllers_enable(struct al_confine_host *h, int runfd, const char *dir)
{
	unsigned bits = controllers_write(runfd, controllers_read(runfd, "cgroup.controllers"), '+');

	if (bits == 0) {
		char offers[512], have[512];
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || small_read(fd, "cgroup.controllers", offers, sizeof offers) < 0)
			offers[0] = '\0';
		if (fd >= 0)
			close(fd);
		if (small_read(runfd, "cgroup.controllers", have, sizeof have) < 0)
			have[0] = '\0';
		why_set(h, 0, "no memory, pids or cpu controller for the step cgroups (%.200s has \"%.40s\", "
		        "enables \"%.40s\" below it): cgroup.kill only, no limits", dir, offers, have);
	}
	return bits;
}

/* The run cgroups of airlocks that died without al_confine_release (a
 * SIGKILL, a crash): removed when their pid is gone. rmdir only removes
 * empty cgroups, so nothing still running is touched, and a live pid (a
 * running airlock, or a reused pid) keeps its directory. */
static void stale_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		char run[AL_CONFINE_PATH_MAX + 300], step[AL_CONFINE_PATH_MAX + 600];
		DIR *r;
		struct dirent *s;
		char *end;
		long pid;
		if (strncmp(e->d_name, "airlock-run-", 12) != 0)
			continue;
		pid = strtol(e->d_name + 12, &end, 10);
		if (*end != '\0' || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(run, sizeof run, "%s/%s", dir, e->d_name);
		r = opendir(run);
		while (r != NULL && (s = readdir(r)) != NULL) {
			if (strncmp(s->d_name, "step-", 5) != 0 && strcmp(s->d_name, "supervisor") != 0)
				continue;
			snprintf(step, sizeof step, "%s/%s", run, s->d_name);
			(void)rmdir(step);
		}
		if (r != NULL)
			closedir(r);
		(void)rmdir(run);
	}
	if (d != NULL)
		closedir(d);
}

void al_confine_cgroup_probe(struct al_confine_host *h)
{
	char dir[AL_CONFINE_PATH_MAX], run[AL_CONFINE_PATH_MAX];
	int runfd;

	if (own_dir(h, dir, sizeof dir) < 0)
		return;
	/* moving a process between two cgroups needs write access to
	 * cgroup.procs of their common ancestor: ours */
	if (al_snprintf(run, sizeof run, "%s/cgroup.procs", dir) < 0 ||
	    faccessat(AT_FDCWD, run, W_OK, AT_EACCESS) < 0) {
		why_set(h, errno, "cgroup %s is not delegated to us (cgroup.procs not writable)", dir);
		return;
	}
	stale_remove(dir);
	if (al_snprintf(run, sizeof run, "%s/airlock-run-%ld", dir, (long)getpid()) < 0) {
		why_set(h, 0, "cgroup path too long: %s", dir);
		return;
	}
	if (mkdir(run, 0755) < 0 && !(errno == EEXIST && rmdir(run) == 0 && mkdir(run, 0755) == 0)) {
		why_set(h, errno, "cannot create the run cgroup %s", run);
		return;
	}
	runfd = open(run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (runfd < 0) {
		why_set(h, errno, "cannot open %s", run);
		(void)rmdir(run);
		return;
	}
	own_enable(h, dir, run);
	h->cgroup_limits = controllers_enable(h, runfd, dir);
	h->cgroup_kill = faccessat(runfd, "cgroup.kill", F_OK, 0) == 0;
	close(runfd);
	strcpy(h->cgroup_run, run);
	h->have[AL_CONFINE_CGROUP] = 1;
}

static int step_path(char *out, size_t size, const char *run, unsigned long seq)
{
	return al_snprintf(out, size, "%s/step-%lu", run, seq);
}

/* Back into our own cgroup, as own_enable found it: the controllers off
 * below the run cgroup, then below ours (a cgroup with controllers on for
 * its children takes no process), then the move. What fails stays for the
 * next run's stale_remove. */
static void own_restore(struct al_confine_host *h)
{
	char sup[AL_CONFINE_PATH_MAX + 16];
	int run = open(h->cgroup_run, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int own = open(h->cgroup_own, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (run >= 0 && own >= 0) {
		(void)controllers_write(run, controllers_read(run, "cgroup.subtree_control"), '-');
		(void)controllers_write(own, h->cgroup_own_enabled, '-');
		if (small_write(own, "cgroup.procs", "0") == 0 &&
		    al_snprintf(sup, sizeof sup, "%s/supervisor", h->cgroup_run) == 0)
			(void)rmdir(sup);
	}
	if (run >= 0)
		close(run);
	if (own >= 0)
		close(own);
	h->cgroup_own[0] = '\0';
	h->cgroup_own_enabled = 0;
}

void al_confine_cgroup_run_remove(struct al_confine_host *h, struct al_cgroup_pool *pool)
{
	char path[AL_CONFINE_PATH_MAX + 32];

	for (size_t i = 0; pool != NULL && i < pool->n; i++) {
		if (step_path(path, sizeof path, h->cgroup_run, pool->seq[i]) == 0)
			(void)rmdir(path);
		close(pool->fd[i]);
	}
	if (pool != NULL)
		pool->n = 0;
	if (h->cgroup_own[0] != '\0')
		own_restore(h);
	if (h->cgroup_run[0] != '\0')
		(void)rmdir(h->cgroup_run);
	h->cgroup_run[0] = '\0';
}

/* Writes one limit: the spec's value, or "max" (a pooled cgroup may carry
 * the last step's), when the controller is ours. */
static int limit_write(struct al_confine_proc *p, const struct al_confine_host *h, unsigned bit,
                       const char *file, const char *value, struct al_err *err)
{
	if (!(h->cgroup_limits & bit))
		return 0;
	if (small_write(p->cgroup_fd, file, value) < 0)
		return al_err_sys(err, "confine: cannot write %s to %s/%s", value, p->layers.cgroup, file);
	if (strncmp(value, "max", 3) != 0)
		p->layers.cgroup_limits |= bit;
	return 0;
}

static int limits_write(const struct al_confine_spec *s, struct al_confine_proc *p, struct al_err *err)
{
	const struct al_confine_host *h = s->host;
	char v[64];

	if (s->limit_memory >= 0)
		snprintf(v, sizeof v, "%lld", (long long)s->limit_memory);
	else
		strcpy(v, "max");
	if (limit_write(p, h, AL_CONFINE_LIMIT_MEMORY, "memory.max", v, err) < 0)
		return -1;
	if (s->limit_procs >= 0)
		snprintf(v, sizeof v, "%lld", (long long)s->limit_procs);
	else
		strcpy(v, "max");
	if (limit_write(p, h, AL_CONFINE_LIMIT_PIDS, "pids.max", v, err) < 0)
		return -1;
	if (s->limit_cpus_milli > 0)
		snprintf(v, sizeof v, "%lld 100000", (long long)s->limit_cpus_milli * 100);
	else
		strcpy(v, "max 100000");
	return limit_write(p, h, AL_CONFINE_LIMIT_CPU, "cpu.max", v, err);
}

int al_confine_cgroup_step_make(const struct al_confine_spec *s, struct al_cgroup_pool *pool,
                                struct al_confine_proc *p, struct al_err *err)
{
	const char *run = s->host->cgroup_run;

	p->cgroup_pool = pool;
	p->cgroup_killed = 0;
	if (pool->n > 0) {
		pool->n--;
		p->cgroup_fd = pool->fd[pool->n];
		p->cgroup_seq = pool->seq[pool->n];
		(void)step_path(p->layers.cgroup, sizeof p->layers.cgroup, run, p->cgroup_seq); /* fitted before */
	} else {
		p->cgroup_seq = ++pool->next_seq;
		if (step_path(p->layers.cgroup, sizeof p->layers.cgroup, run, p->cgroup_seq) < 0) {
			p->layers.cgroup[0] = '\0';
			return al_err_set(err, AL_EENV, "confine: cgroup path too long under %s", run);
		}
		if (mkdir(p->layers.cgroup, 0755) < 0) {
			al_err_sys(err, "confine: cannot create the step cgroup %s", p->layers.cgroup);
			p->layers.cgroup[0] = '\0';
			return -1;
		}
		p->cgroup_fd = open(p->layers.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (p->cgroup_fd < 0) {
			al_err_sys(err, "confine: cannot open the step cgroup %s", p->layers.cgroup);
			(void)rmdir(p->layers.cgroup);
			p->layers.cgroup[0] = '\0';
			return -1;
		}
	}
	if (limits_write(s, p, err) < 0) {
		al_confine_cgroup_step_remove(p);
		return -1;
	}
	return 0;
}

/* After this, the cgroup is never reused: on Linux 6.18 (at least), every
 * process forked into a cgroup once killed is SIGKILLed at birth, even when
 * the cgroup was empty at the kill (NOTES.md, "cgroup.kill"). */
int al_confine_cgroup_kill(struct al_confine_proc *p)
{
	if (p->cgroup_fd < 0)
		return -1;
	p->cgroup_killed = 1;
	return small_write(p->cgroup_fd, "cgroup.kill", "1");
}

/* Whether the cgroup holds no process (cgroup.events: "populated 0"). */
static int cgroup_empty(int fd)
{
	char ev[256];

	return small_read(fd, "cgroup.events", ev, sizeof ev) == 0 && strstr(ev, "populated 0") != NULL;
}

/* Back to the pool when empty and never killed: the normal case, the init
 * killed and reaped every process of the step before it exited. Else
 * cgroup.kill (a process escaped the PID namespace's end?) and rmdir,
 * retried while an exiting task lingers. */
void al_confine_cgroup_step_remove(struct al_confine_proc *p)
{
	struct al_cgroup_pool *pool = p->cgroup_pool;
	struct timespec ms = {0, 1000000};
	int empty;

	if (p->cgroup_fd < 0)
		return;
	empty = cgroup_empty(p->cgroup_fd);
	if (!empty)
		(void)al_confine_cgroup_kill(p);
	if (empty && !p->cgroup_killed && pool != NULL && pool->n < AL_CGROUP_POOL) {
		pool->fd[pool->n] = p->cgroup_fd;
		pool->seq[pool->n] = p->cgroup_seq;
		pool->n++;
		p->cgroup_fd = -1;
		return;
	}
	for (int i = 0; i < 1000; i++) {
		if (rmdir(p->layers.cgroup) == 0 || errno != EBUSY)
			break;
		nanosleep(&ms, NULL);
	}
	close(p->cgroup_fd);
	p->cgroup_fd = -1;
}
