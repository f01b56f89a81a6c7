/* await.c - the await built-in (DESIGN.md §8): polls a drop folder until
 * its marker is there and its contents have stopped changing, refuses a
 * stale or suspicious drop, and copies what it takes into the stage
 * directory, hashing every byte it copies.
 *
 * A poll takes a snapshot of the folder: every entry's path, type, size,
 * mtime and ctime (with nanoseconds) and inode, found without following
 * any symbolic link, the folder itself included. The folder is ready
 * when the marker is there and two consecutive snapshots are identical.
 * Each file is checked once more against the snapshot after it has been
 * copied, and the whole folder once more after the last copy: a file
 * written during the take sends us back to waiting rather than into the
 * stage, so that what is taken is a set of files that were all in the
 * folder together. */
#include "steps/steps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* While the marker is there but the folder is not yet known stable, the
 * next poll comes after min(interval, SETTLE_MS), the interval being
 * every_ms (then_ms once after_ms have passed): a producer writes the
 * marker last, so the folder is probably complete, and a drop should not
 * sit there for a whole `every` (often minutes) just to be seen twice.
 * A file is thus taken once it has kept its size and mtime for one
 * settle interval. */
#define SETTLE_MS 1000
/* A waiting line is repeated at most this often when nothing changes. */
#define SAY_AGAIN_MS 60000
#define COPY_BUF (1 << 20)
/* Bounds on what a producer can make us hold: a drop deeper or larger
 * than this is refused rather than walked (stack, fds, memory). A
 * snapshot holds an entry (80 bytes) and a path name (up to PATH_MAX)
 * for each file and directory; at most two snapshots are held at a time
 * (the last poll's and this one's; the check after a take replaces the
 * older), so memory stays under some 2 × (16 MiB of names + 10 MB of
 * entries) however long the names are, where 100,000 names of 4 KiB
 * would have taken 800 MB. The bytes copied are not capped here: the
 * stage's file system (its size, its quota) is the limit, and a full
 * disk fails the take naming the file (ENOSPC), its copies removed. */
#define MAX_DEPTH 32
#define MAX_ENTRIES 100000
#define MAX_PATH_BYTES ((size_t)16 << 20)
/* What a poll or a take returns besides 0 (ready), 1 (refused) and -1
 * (error): the folder is not ready yet, keep waiting. */
#define AGAIN 2

struct entry {
	char *path;          /* relative to the folder: "sub/x.csv" */
	mode_t type;         /* S_IFREG or S_IFDIR; nothing else is kept */
	off_t size;
	struct timespec mtime;
	/* The producer can put the mtime back (touch -r, utimensat) after a
	 * rewrite of the same size; the ctime only the kernel sets. */
	struct timespec ctime;
	dev_t dev;
	ino_t ino;
	int created;         /* made by us in out_dir (to undo a failed take) */
};

struct snap {
	struct entry *v;
	size_t n, cap;
	size_t path_bytes;   /* of the paths in v, NULs included (MAX_PATH_BYTES) */
	int exists;          /* the folder is there: fd is open */
	int fd;              /* the folder, as walked: a take copies from it */
	dev_t dev;           /* the folder's own, so that a folder swapped */
	ino_t ino;           /* for another between polls is not stable */
	int has_marker;      /* a regular file named marker at the top level */
	int racy;            /* something changed under the walk: never stable */
};

struct await {
	const struct al_await_opts *o;
	struct al_await_res *res;
	struct al_err *err;
	int outfd;
};

enum wait_state { W_NONE, W_NO_DIR, W_NO_MARKER, W_SETTLING, W_CHANGED };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].path);
	free(s->v);
	if (s->exists)
		close(s->fd);
	memset(s, 0, sizeof *s);
}

/* Records a refusal. Callers show a path as %.200s, so that a very long
 * one cannot push out of the reason what was refused; the reason is then
 * made valid UTF-8 again, since a cut (there or at the buffer's end) can
 * split a character and jansson would refuse the whole reason, losing
 * it from the audit log. Returns 1. */
static int refuse(struct al_await_res *res, const char *fmt, ...) AL_PRINTF(2, 3);
static int refuse(struct al_await_res *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
	al_utf8_fix(res->reason);
	return 1;
}

/* "45s", "12m 5s", "30h 2m", "4d 3h": an age a reader takes in at once. */
static void span_format(int64_t ms, char *out, size_t n)
{
	int64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(out, n, "%lldms", (long long)ms);
	else if (s < 60)
		snprintf(out, n, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, n, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 72 * 3600)
		snprintf(out, n, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(out, n, "%lldd %lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

/* A name is recorded in the audit log (JSON, UTF-8) and printed in the
 * step's log: a control character could forge a log line and invalid
 * UTF-8 cannot be recorded, so either is refused, shown with '?'. */
static int name_check(const char *rel, const char *name, struct al_await_res *res)
{
	char shown[256];
	size_t i = 0;
	int bad = 0;
	json_t *j;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		bad |= *p < 0x20 || *p == 0x7f;
	j = bad ? NULL : json_string(name);
	if (j != NULL) {
		json_decref(j);
		return 0;
	}
	for (const unsigned char *p = (const unsigned char *)rel; *p && i + 1 < sizeof shown; p++)
		shown[i++] = *p < 0x20 || *p >= 0x7f ? '?' : (char)*p;
	shown[i] = '\0';
	return refuse(res, "%.200s: a name with a control character or not UTF-8 (refused)", shown);
}

static const char *kind_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFLNK: return "a symbolic link";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	default: return "not a regular file";
	}
}

static int snap_push(struct snap *s, const char *rel, const struct stat *st)
{
	struct entry *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct entry *v = realloc(s->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	e = &s->v[s->n];
	memset(e, 0, sizeof *e);
	e->path = strdup(rel);
	if (e->path == NULL)
		return -1;
	e->type = st->st_mode & S_IFMT;
	e->size = st->st_size;
	e->mtime = st->st_mtim;
	e->ctime = st->st_ctim;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	s->path_bytes += strlen(rel) + 1;
	s->n++;
	return 0;
}

static int walk(struct await *a, struct snap *s, int dfd, const char *prefix, int depth);

/* Opens a subdirectory that fstatat has just seen and walks it; one
 * replaced in between (by a symbolic link, say) marks the walk racy. */
static int walk_sub(struct await *a, struct snap *s, int dfd, const char *name, const char *rel,
                    const struct stat *st, int depth)
{
	struct stat sub_st;
	int sub;

	if (depth + 1 >= MAX_DEPTH)
		return refuse(a->res, "%.200s: more than %d directories deep (refused)", rel, MAX_DEPTH);
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) {
		s->racy = 1;
		return 0;
	}
	if (sub < 0)
		return al_err_sys(a->err, "%s/%s: open", a->o->dir, rel);
	if (fstat(sub, &sub_st) < 0 || sub_st.st_dev != st->st_dev || sub_st.st_ino != st->st_ino) {
		close(sub);
		s->racy = 1;
		return 0;
	}
	return walk(a, s, sub, rel, depth + 1);
}

/* One directory entry: kept when a regular file or a directory (walked),
 * refused otherwise. Returns 0, 1 (refused) or -1 (err). */
static int walk_entry(struct await *a, struct snap *s, int dfd, const char *name,
                      const char *prefix, int depth)
{
	char rel[PATH_MAX];
	struct stat st;

	if (al_snprintf(rel, sizeof rel, "%s%s%s", prefix, prefix[0] ? "/" : "", name) < 0)
		return refuse(a->res, "%.200s/...: a path longer than %d bytes (refused)", prefix,
		              PATH_MAX);
	if (name_check(rel, name, a->res) != 0)
		return 1;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT) { /* removed since readdir: not stable */
			s->racy = 1;
			return 0;
		}
		return al_err_sys(a->err, "%s/%s: stat", a->o->dir, rel);
	}
	/* A link or a special file could make us copy what the producer
	 * cannot read (a link to a secret) or block forever (a FIFO): the
	 * drop is refused, nothing in it is followed. */
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return refuse(a->res, "%.200s: %s in the drop folder (refused, never followed)", rel,
		              kind_name(st.st_mode));
	if (depth == 0 && strcmp(name, a->o->marker) == 0) {
		if (!S_ISREG(st.st_mode))
			return refuse(a->res, "%.200s: the marker is not a regular file (refused)", rel);
		s->has_marker = 1;
	}
	if (s->n >= MAX_ENTRIES)
		return refuse(a->res, "more than %d entries in the drop folder (refused)", MAX_ENTRIES);
	if (strlen(rel) + 1 > MAX_PATH_BYTES - s->path_bytes)
		return refuse(a->res, "more than %zu MiB of path names in the drop folder (refused)",
		              MAX_PATH_BYTES >> 20);
	if (snap_push(s, rel, &st) < 0)
		return al_err_sys(a->err, "%s: snapshot", a->o->dir);
	return S_ISDIR(st.st_mode) ? walk_sub(a, s, dfd, name, rel, &st, depth) : 0;
}

/* Walks the directory open on dfd (taken: closed here). */
static int walk(struct await *a, struct snap *s, int dfd, const char *prefix, int depth)
{
	struct dirent *de;
	DIR *d = fdopendir(dfd);
	int ret = 0;

	if (d == NULL) {
		ret = al_err_sys(a->err, "%s/%s: read", a->o->dir, prefix);
		close(dfd);
		return ret;
	}
	while (ret == 0) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				ret = al_err_sys(a->err, "%s/%s: read", a->o->dir, prefix);
			break;
		}
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			ret = walk_entry(a, s, dirfd(d), de->d_name, prefix, depth);
	}
	closedir(d);
	return ret;
}

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct entry *)x)->path, ((const struct entry *)y)->path);
}

/* Opens the folder into s->fd (s->exists). The path up to its last
 * component is the operator's and is followed as it is; the folder itself
 * is usually made by the producer (/drop/{date}), who could make it a
 * symbolic link to any directory the runner can read that holds a file
 * named like the marker, and have that copied and audited as the drop:
 * it is opened with O_NOFOLLOW, and a link there is refused. Returns 0
 * (not there yet: s->exists is 0), 1 (refused) or -1 (err). */
static int folder_open(struct await *a, struct snap *s)
{
	char path[PATH_MAX], *slash;
	const char *parent = "/", *name;
	size_t len = strlen(a->o->dir); /* < PATH_MAX: opts_check */
	struct stat st;
	int pfd, fd, errsv, ret = 0;

	memcpy(path, a->o->dir, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	slash = strrchr(path, '/'); /* there is one: the path is absolute */
	name = slash[1] != '\0' ? slash + 1 : "."; /* "." when the folder is / */
	if (slash != path) {
		*slash = '\0';
		parent = path;
	}
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0 && errno == ENOENT)
		return 0;
	if (pfd < 0 && errno == ENOTDIR)
		return refuse(a->res, "%.200s: not a directory (refused)", a->o->dir);
	if (pfd < 0)
		return al_err_sys(a->err, "%s: open", a->o->dir);
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		errsv = errno;
		/* a link fails with ENOTDIR (O_DIRECTORY) or ELOOP: lstat tells */
		if ((errsv == ENOTDIR || errsv == ELOOP) &&
		    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			ret = refuse(a->res, "%.200s: the drop folder is a symbolic link (refused, "
			                     "never followed)", a->o->dir);
		else if (errsv == ENOTDIR)
			ret = refuse(a->res, "%.200s: not a directory (refused)", a->o->dir);
		else if (errsv != ENOENT) { /* ENOENT: not there yet */
			errno = errsv; /* fstatat's may be in it */
			ret = al_err_sys(a->err, "%s: open", a->o->dir);
		}
	} else if (fstat(fd, &st) < 0) {
		ret = al_err_sys(a->err, "%s: stat", a->o->dir);
		close(fd);
	} else {
		s->fd = fd;
		s->exists = 1;
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	close(pfd);
	return ret;
}

/* Takes a snapshot of the folder into s (emptied first), sorted by path,
 * so that a directory comes before what it holds. s keeps the folder
 * open: a take copies from the very directory walked, not from whatever
 * the path leads to by then. Returns 0, 1 (refused) or -1 (err). */
static int snapshot(struct await *a, struct snap *s)
{
	int fd, ret;

	snap_free(s);
	ret = folder_open(a, s);
	if (ret != 0 || !s->exists)
		return ret;
	/* the walk reads its own description of the folder: s->fd's stays
	 * untouched by readdir and is closed by snap_free */
	fd = openat(s->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return al_err_sys(a->err, "%s: open", a->o->dir);
	ret = walk(a, s, fd, "", 0);
	if (ret == 0 && s->n > 1)
		qsort(s->v, s->n, sizeof *s->v, entry_cmp);
	return ret;
}

static int ts_same(const struct timespec *x, const struct timespec *y)
{
	return x->tv_sec == y->tv_sec && x->tv_nsec == y->tv_nsec;
}

static int entry_same(const struct entry *x, const struct entry *y)
{
	return strcmp(x->path, y->path) == 0 && x->type == y->type && x->size == y->size &&
	       ts_same(&x->mtime, &y->mtime) && ts_same(&x->ctime, &y->ctime) && x->dev == y->dev &&
	       x->ino == y->ino;
}

static int snap_same(const struct snap *x, const struct snap *y)
{
	if (!x->exists || !y->exists || x->racy || y->racy || x->n != y->n || x->dev != y->dev ||
	    x->ino != y->ino)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (!entry_same(&x->v[i], &y->v[i]))
			return 0;
	return 1;
}

/* Every file taken must be younger than max_age. Checked once, on a
 * stable folder: a stale drop will not freshen by itself, so it is
 * refused at once rather than waited on until the timeout. */
static int fresh_check(struct await *a, const struct snap *s)
{
	int64_t now_us = al_now_us();
	int64_t limit_us = a->o->max_age_ms * 1000;

	if (a->o->max_age_ms <= 0)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = &s->v[i];
		int64_t age_us = now_us - ((int64_t)e->mtime.tv_sec * 1000000 + e->mtime.tv_nsec / 1000);
		char age[48], max[48];
		if (e->type != S_IFREG || age_us <= limit_us)
			continue;
		span_format(age_us / 1000, age, sizeof age);
		al_duration_format(a->o->max_age_ms, max, sizeof max);
		return refuse(a->res, "%.200s: modified %s ago, max_age %s (stale input refused)",
		              e->path, age, max);
	}
	return 0;
}

/* Opens a file of the folder one component at a time, never following a
 * link: a directory swapped for a link since the snapshot fails here
 * (ELOOP, ENOTDIR) instead of leading out of the folder. O_NONBLOCK: a
 * FIFO swapped in cannot block the open. -1 with errno set. */
static int open_source(int rootfd, const char *rel)
{
	char part[PATH_MAX];
	const char *p = rel, *slash;
	int dfd = rootfd, fd, errsv;

	while ((slash = strchr(p, '/')) != NULL) {
		size_t len = (size_t)(slash - p);
		memcpy(part, p, len);
		part[len] = '\0';
		fd = openat(dfd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		errsv = errno;
		if (dfd != rootfd)
			close(dfd);
		if (fd < 0) {
			errno = errsv;
			return -1;
		}
		dfd = fd;
		p = slash + 1;
	}
	fd = openat(dfd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (dfd != rootfd) {
		errsv = errno;
		close(dfd);
		errno = errsv;
	}
	return fd;
}

/* Reads src to its end, hashing, and writes it to dst (when >= 0).
 * Returns 0 or -1 (err names the file). */
static int copy_bytes(struct await *a, const struct entry *e, int src, int dst, char *buf,
                      unsigned char sum[AL_SHA256_LEN], uint64_t *copied)
{
	struct al_sha256 h;

	if (al_sha256_init(&h) < 0)
		return al_err_set(a->err, AL_EENV, "%s: cannot start a hash", e->path);
	*copied = 0;
	for (;;) {
		ssize_t got = read(src, buf, COPY_BUF);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			al_sha256_abort(&h);
			return al_err_sys(a->err, "%s/%s: read", a->o->dir, e->path);
		}
		if (got == 0)
			break;
		al_sha256_update(&h, buf, (size_t)got);
		if (dst >= 0 && al_write_all(dst, buf, (size_t)got) < 0) {
			al_sha256_abort(&h);
			return al_err_sys(a->err, "%s/%s: write", a->o->out_dir, e->path);
		}
		*copied += (uint64_t)got;
	}
	al_sha256_final(&h, sum);
	return 0;
}

/* Whether src is still the file of the snapshot: the same inode and,
 * when check_size, the same size, mtime and ctime. */
static int source_same(int src, const struct entry *e, int check_size)
{
	struct stat st;

	if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != e->dev || st.st_ino != e->ino)
		return 0;
	return !check_size || (st.st_size == e->size && ts_same(&st.st_mtim, &e->mtime) &&
	                       ts_same(&st.st_ctim, &e->ctime));
}

static int files_add(struct await *a, json_t *files, const struct entry *e,
                     const unsigned char sum[AL_SHA256_LEN])
{
	char hex[AL_SHA256_HEX];

	al_hex(sum, AL_SHA256_LEN, hex);
	if (json_array_append_new(files, json_pack("{s:s,s:s,s:I}", "path", e->path, "sha256", hex,
	                                           "size", (json_int_t)e->size)) < 0)
		return al_err_set(a->err, AL_EENV, "%s: cannot record (out of memory)", e->path);
	return 0;
}

/* Copies one file into out_dir (the marker is only hashed) and records
 * it in files. Returns 0, AGAIN (it changed since the snapshot) or -1
 * (err). */
static int take_file(struct await *a, int rootfd, struct entry *e, char *buf, json_t *files)
{
	unsigned char sum[AL_SHA256_LEN];
	int is_marker = strcmp(e->path, a->o->marker) == 0;
	int src, dst = -1, ret;
	uint64_t copied = 0;

	src = open_source(rootfd, e->path);
	if (src < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP
		               ? AGAIN
		               : al_err_sys(a->err, "%s/%s: open", a->o->dir, e->path);
	/* replaced since the snapshot (by a FIFO, say): not read at all */
	if (!source_same(src, e, 0)) {
		ret = AGAIN;
		goto out;
	}
	if (!is_marker) {
		dst = al_openat(a->outfd, e->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (dst < 0) {
			ret = al_err_sys(a->err, "%s/%s: create", a->o->out_dir, e->path);
			goto out;
		}
		e->created = 1;
	}
	ret = copy_bytes(a, e, src, dst, buf, sum, &copied);
	if (ret == 0 && dst >= 0 && al_sys_fsync(dst) < 0)
		ret = al_err_sys(a->err, "%s/%s: fsync", a->o->out_dir, e->path);
	if (ret == 0 && (copied != (uint64_t)e->size || !source_same(src, e, 1)))
		ret = AGAIN;
	if (ret == 0)
		ret = files_add(a, files, e, sum);
out:
	if (dst >= 0)
		close(dst);
	close(src);
	return ret;
}

/* A directory of the folder, made in out_dir (0700). One that is already
 * there (a stage left by an earlier attempt) is used as it is. */
static int take_dir(struct await *a, struct entry *e)
{
	struct stat st;

	if (al_sys_mkdirat(a->outfd, e->path, 0700) == 0) {
		e->created = 1;
		return 0;
	}
	if (errno == EEXIST && fstatat(a->outfd, e->path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode))
		return 0;
	return al_err_sys(a->err, "%s/%s: mkdir", a->o->out_dir, e->path);
}

/* fsync of every directory written into, the deepest first, then
 * out_dir: the copies' names are durable once al_await returns 0. */
static int sync_dirs(struct await *a, const struct snap *s)
{
	for (size_t i = s->n; i-- > 0;) {
		int fd, ret;
		if (s->v[i].type != S_IFDIR)
			continue;
		fd = al_openat(a->outfd, s->v[i].path, O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0)
			return al_err_sys(a->err, "%s/%s: open", a->o->out_dir, s->v[i].path);
		ret = al_fsync_dir(fd, s->v[i].path, a->err);
		close(fd);
		if (ret < 0)
			return -1;
	}
	return al_fsync_dir(a->outfd, a->o->out_dir, a->err);
}

/* Removes what a failed take created, contents before their directory
 * (the snapshot is sorted by path). */
static void take_undo(struct await *a, struct snap *s)
{
	for (size_t i = s->n; i-- > 0;) {
		if (s->v[i].created)
			(void)unlinkat(a->outfd, s->v[i].path, s->v[i].type == S_IFDIR ? AT_REMOVEDIR : 0);
		s->v[i].created = 0;
	}
}

/* The folder once more, after the last copy: every entry must be as the
 * snapshot s had it before the first. Each file was checked right after
 * its own copy, but one rewritten after that, while the others were
 * being copied, would leave the stage with an old file beside new ones:
 * a set that was never in the folder together. The ctime in the
 * comparison catches a rewrite whose mtime was put back. Returns 0,
 * AGAIN, 1 (refused: the folder now holds what is refused) or -1. */
static int take_recheck(struct await *a, const struct snap *s)
{
	struct snap now = {0};
	int ret = snapshot(a, &now);

	if (ret == 0 && !snap_same(s, &now))
		ret = AGAIN;
	snap_free(&now);
	return ret;
}

/* Copies a stable folder into out_dir, from the folder s holds open.
 * Returns 0 (res->files set), AGAIN (something changed: the copies are
 * removed), 1 (refused: likewise) or -1. */
static int take(struct await *a, struct snap *s)
{
	json_t *files = json_array();
	char *buf = malloc(COPY_BUF);
	int ret = -1;

	if (files == NULL || buf == NULL) {
		al_err_set(a->err, AL_EENV, "%s: out of memory", a->o->dir);
		goto out;
	}
	ret = 0;
	for (size_t i = 0; i < s->n && ret == 0; i++)
		ret = s->v[i].type == S_IFDIR ? take_dir(a, &s->v[i])
		                              : take_file(a, s->fd, &s->v[i], buf, files);
	if (ret == 0)
		ret = take_recheck(a, s);
	if (ret == 0)
		ret = sync_dirs(a, s);
	if (ret == 0) {
		a->res->files = files;
		files = NULL;
	}
out:
	if (ret != 0)
		take_undo(a, s);
	free(buf);
	json_decref(files);
	return ret;
}

/* One line in the step's log when the situation changes, and at most once
 * a minute while it does not. */
static void say(const struct await *a, enum wait_state st, int64_t next_ms)
{
	const char *dir = a->o->dir, *m = a->o->marker;
	char next[48];
	int polls = a->res->polls;

	al_duration_format(next_ms, next, sizeof next);
	switch (st) {
	case W_NO_DIR:
		fprintf(stderr, "await: %s: not there yet (poll %d, next in %s)\n", dir, polls, next);
		break;
	case W_NO_MARKER:
		fprintf(stderr, "await: %s: no marker %s yet (poll %d, next in %s)\n", dir, m, polls,
		        next);
		break;
	case W_SETTLING:
		fprintf(stderr, "await: %s: marker %s is there, waiting for the folder to settle "
		                "(poll %d, next in %s)\n", dir, m, polls, next);
		break;
	case W_CHANGED:
		fprintf(stderr, "await: %s: changed while being copied, waiting again (poll %d, next in %s)\n",
		        dir, polls, next);
		break;
	case W_NONE:
		break;
	}
}

static void sleep_ms(int64_t ms)
{
	struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L}, rem;

	while (nanosleep(&t, &rem) < 0 && errno == EINTR)
		t = rem;
}

static int opts_check(const struct al_await_opts *o, struct al_err *err)
{
	const char *m = o->marker;

	if (o->dir == NULL || o->dir[0] != '/' || strlen(o->dir) >= PATH_MAX)
		return al_err_set(err, AL_EUSAGE, "await: dir must be an absolute path, shorter than "
		                                  "%d bytes", PATH_MAX);
	if (m == NULL || m[0] == '\0' || strchr(m, '/') != NULL || strcmp(m, ".") == 0 ||
	    strcmp(m, "..") == 0)
		return al_err_set(err, AL_EUSAGE, "await: marker must be a file name");
	if (o->every_ms <= 0 || o->then_ms < 0 || o->after_ms < 0 || o->max_age_ms < 0)
		return al_err_set(err, AL_EUSAGE, "await: every must be positive, then, after and "
		                                  "max_age not negative");
	if (o->out_dir == NULL)
		return al_err_set(err, AL_EUSAGE, "await: no output directory");
	return 0;
}

/* One poll: 0 ready (taken), 1 refused, -1 error, AGAIN with *st saying
 * why. prev holds the last snapshot, cur receives this one. */
static int poll_once(struct await *a, struct snap *prev, struct snap *cur, enum wait_state *st)
{
	int ret = snapshot(a, cur);

	if (ret != 0)
		return ret;
	if (!cur->exists) {
		*st = W_NO_DIR;
		return AGAIN;
	}
	if (!cur->has_marker) {
		*st = W_NO_MARKER;
		return AGAIN;
	}
	if (!snap_same(prev, cur)) {
		*st = W_SETTLING;
		return AGAIN;
	}
	/* prev is not needed any more (the next poll compares with cur):
	 * freed, it leaves room for the take's check (see MAX_PATH_BYTES) */
	snap_free(prev);
	ret = fresh_check(a, cur);
	if (ret == 0)
		ret = take(a, cur);
	*st = W_CHANGED;
	return ret;
}

int al_await(const struct al_await_opts *o, struct al_await_res *res, struct al_err *err)
{
	struct await a = {o, res, err, -1};
	struct snap snaps[2] = {{0}, {0}};
	enum wait_state last = W_NONE;
	int64_t start = mono_ms(), said_at = 0;
	int ret;

	memset(res, 0, sizeof *res);
	if (opts_check(o, err) < 0)
		return -1;
	/* out_dir is checked before the first poll: an unusable stage should
	 * fail now, not after hours of waiting for a drop. */
	a.outfd = al_openat(AT_FDCWD, o->out_dir, O_RDONLY | O_DIRECTORY, 0);
	if (a.outfd < 0)
		return al_err_sys(err, "%s: output directory", o->out_dir);
	for (int i = 0;; i ^= 1) {
		enum wait_state st = W_NONE;
		int64_t now, next;
		res->polls++;
		ret = poll_once(&a, &snaps[i ^ 1], &snaps[i], &st);
		now = mono_ms();
		res->waited_ms = now - start;
		if (ret != AGAIN)
			break;
		next = o->then_ms > 0 && now - start >= o->after_ms ? o->then_ms : o->every_ms;
		if (st == W_SETTLING || st == W_CHANGED) /* see SETTLE_MS */
			next = next < SETTLE_MS ? next : SETTLE_MS;
		if (st != last || now - said_at >= SAY_AGAIN_MS) {
			say(&a, st, next);
			last = st;
			said_at = now;
		}
		sleep_ms(next);
	}
	if (ret == 0) {
		char waited[48];
		span_format(res->waited_ms, waited, sizeof waited);
		fprintf(stderr, "await: %s: ready, %zu files taken, marker included (poll %d, waited %s)\n", o->dir,
		        json_array_size(res->files), res->polls, waited);
	}
	snap_free(&snaps[0]);
	snap_free(&snaps[1]);
	close(a.outfd);
	return ret;
}
