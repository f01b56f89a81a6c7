/* confine_view.c - the plan of a confined step's filesystem view: the list
 * of operations (directories, symlinks, files, binds, tmpfs, proc) the
 * init runs in order in its new mount namespace (confine_child.c).
 *
 * The host's system part (/usr, the merged-/usr links, the chosen /etc
 * entries) is planned once per run; per step come passwd and group,
 * /etc/hosts and resolv.conf with network: host, /dev, /proc, /tmp and
 * the spec's binds under /airlock/. With an image, its top-level entries
 * replace the host's system part. */
#include "runner/confine_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RO_ATTR (AL_MOUNT_ATTR_RDONLY | AL_MOUNT_ATTR_NOSUID | AL_MOUNT_ATTR_NODEV)

/* Appends an operation; returns its index, or -1 when out of memory. */
static int plan_push(struct al_plan *pl, enum al_op_kind kind, const char *at, const char *src,
                     unsigned flags, uint64_t attr)
{
	struct al_op *op;

	if (pl->n == pl->cap) {
		size_t cap = pl->cap != 0 ? pl->cap * 2 : 32;
		struct al_op *v = realloc(pl->ops, cap * sizeof *v);
		if (v == NULL)
			return -1;
		pl->ops = v;
		pl->cap = cap;
	}
	op = &pl->ops[pl->n];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	op->at = at;
	op->src = src;
	op->flags = flags;
	op->attr = attr;
	op->bind = -1;
	op->fd = -1;
	return (int)pl->n++;
}

/* The plan owns s from now on (freed by plan_free); NULL stays NULL. */
static char *plan_own(struct al_plan *pl, char *s)
{
	char **v;

	if (s == NULL)
		return NULL;
	v = realloc(pl->owned, (pl->nowned + 1) * sizeof *v);
	if (v == NULL) {
		free(s);
		return NULL;
	}
	pl->owned = v;
	pl->owned[pl->nowned++] = s;
	return s;
}

/* Appends the operations of a cached plan (their strings stay the
 * cache's). */
static int plan_append(struct al_plan *pl, const struct al_plan *from)
{
	for (size_t i = 0; i < from->n; i++) {
		int k = plan_push(pl, AL_OP_DIR, NULL, NULL, 0, 0);
		if (k < 0)
			return -1;
		pl->ops[k] = from->ops[i];
	}
	return 0;
}

void al_confine_plan_free(struct al_plan *pl)
{
	for (size_t i = 0; i < pl->nowned; i++)
		free(pl->owned[i]);
	free(pl->owned);
	free(pl->ops);
	memset(pl, 0, sizeof *pl);
}

/* A read-only bind of the host's /PATH at PATH (path without the "/"),
 * when it exists on this host. */
static int sys_bind(struct al_plan *pl, const char *path)
{
	char *src = NULL;
	struct stat st;

	if (asprintf(&src, "/%s", path) < 0)
		return -1;
	if (plan_own(pl, src) == NULL)
		return -1;
	if (stat(src, &st) < 0)
		return 0;
	return plan_push(pl, AL_OP_BIND, src + 1, src, AL_OPF_RECURSIVE | AL_OPF_OPTIONAL, RO_ATTR) < 0 ? -1 : 0;
}

/* The whole of a small regular file, in memory the plan owns; NULL for
 * anything else (a symlink, a large file: bound instead). */
static char *file_slurp(struct al_plan *pl, const char *path, size_t max, size_t *len)
{
	struct al_err err = {0};
	char *buf = NULL;

	if (al_read_file(AT_FDCWD, path, max, &buf, len, &err) < 0)
		return NULL;
	return plan_own(pl, buf);
}

/* An entry of /etc: a symlink into /usr stays one (localtime: programs
 * read the zone's name from the link); a small file is copied into the
 * view once per run (a bind costs a mount, and ~25 us a step); anything
 * else is bound. */
static int etc_entry(struct al_plan *pl, const char *path)
{
	char target[AL_CONFINE_PATH_MAX], src[AL_CONFINE_PATH_MAX];
	const char *data;
	struct stat st;
	size_t len;
	ssize_t n;
	int i;

	snprintf(src, sizeof src, "/%s", path);
	if (lstat(src, &st) < 0)
		return 0;
	n = S_ISLNK(st.st_mode) ? readlink(src, target, sizeof target - 1) : -1;
	if (n > 0) {
		target[n] = '\0';
		if (strncmp(target, "/usr/", 5) == 0) {
			const char *at = plan_own(pl, strdup(path));
			const char *to = plan_own(pl, strdup(target));
			return at == NULL || to == NULL || plan_push(pl, AL_OP_SYMLINK, at, to, 0, 0) < 0 ? -1 : 0;
		}
	}
	data = file_slurp(pl, src, 256 * 1024, &len);
	if (data == NULL)
		return sys_bind(pl, path);
	i = plan_push(pl, AL_OP_FILE, plan_own(pl, strdup(path)), NULL, 0, 0);
	if (i < 0 || pl->ops[i].at == NULL)
		return -1;
	pl->ops[i].data = data;
	pl->ops[i].len = len;
	return 0;
}

/* /bin, /sbin, /lib...: on a merged-/usr system symlinks into usr/,
 * recreated as such (a bind would follow them to the same tree twice). */
static int sys_dir(struct al_plan *pl, const char *name)
{
	char path[64], target[AL_CONFINE_PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof path, "/%s", name);
	if (lstat(path, &st) < 0 || !(S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)))
		return 0;
	if (S_ISDIR(st.st_mode))
		return sys_bind(pl, name);
	n = readlink(path, target, sizeof target - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return plan_push(pl, AL_OP_SYMLINK, name, plan_own(pl, strdup(target)), 0, 0) < 0 ? -1 : 0;
}

/* The system part of the host view, built once per run. /etc holds only
 * what dynamic linking, name lookup, time zones and TLS need: never
 * shadow, ssh keys, /etc/ssl/private (TLS private keys) or the airlock
 * configuration. passwd and group are generated per step. */
static int sys_build(struct al_plan *pl, struct al_err *err)
{
	static const char *const dirs[] = {"bin", "sbin", "lib", "lib64", "lib32", "libx32"};
	static const char *const etc[] = {
		"etc/alternatives", "etc/ld.so.cache", "etc/ld.so.conf", "etc/ld.so.conf.d",
		"etc/nsswitch.conf", "etc/localtime", "etc/ssl/certs", "etc/ssl/openssl.cnf",
		"etc/protocols", "etc/services",
	};
	int r = sys_bind(pl, "usr");
	DIR *d;
	struct dirent *e;

	for (size_t i = 0; r == 0 && i < sizeof dirs / sizeof dirs[0]; i++)
		r = sys_dir(pl, dirs[i]);
	if (r == 0)
		r = plan_push(pl, AL_OP_DIR, "etc", NULL, 0, 0) < 0 ? -1 : 0;
	for (size_t i = 0; r == 0 && i < sizeof etc / sizeof etc[0]; i++)
		r = etc_entry(pl, etc[i]);
	d = r == 0 ? opendir("/etc") : NULL;
	while (d != NULL && r == 0 && (e = readdir(d)) != NULL) {
		char name[300];
		if (strncmp(e->d_name, "ca-certificates", 15) != 0)
			continue;
		snprintf(name, sizeof name, "etc/%s", e->d_name);
		r = etc_entry(pl, name);
	}
	if (d != NULL)
		closedir(d);
	if (r < 0)
		return al_err_set(err, AL_EENV, "confine: cannot allocate the system view");
	return 0;
}

int al_confine_plan_system(struct al_plan *sys, struct al_plan *net, struct al_err *err)
{
	if (sys_build(sys, err) < 0)
		return -1;
	/* name resolution, only for a step that has the network */
	if (etc_entry(net, "etc/hosts") < 0 || etc_entry(net, "etc/resolv.conf") < 0)
		return al_err_set(err, AL_EENV, "confine: cannot allocate the network view");
	return 0;
}

/* The entries of the image's directory DIR ("" for its root, else
 * "etc"): each bound read-only (symlinks recreated), except the names in
 * skip. Entries are cloned without following a symlink: an image whose
 * directory is swapped for a link to a host path between our lstat and
 * the clone shows the link itself, which resolves inside the view, not the
 * host path. */
static int image_dir(struct al_plan *pl, const char *root, const char *dir,
                     const char *const *skip, size_t nskip, struct al_err *err)
{
	char path[AL_CONFINE_PATH_MAX];
	DIR *d;
	struct dirent *e;
	int r = 0;

	snprintf(path, sizeof path, "%s%s%s", root, dir[0] != '\0' ? "/" : "", dir);
	d = opendir(path);
	if (d == NULL)
		return al_err_sys(err, "confine: cannot read the image's directory %s", path);
	while (r == 0 && (e = readdir(d)) != NULL) {
		char target[AL_CONFINE_PATH_MAX], *src = NULL, *at = NULL;
		struct stat st;
		size_t k;
		ssize_t n;
		for (k = 0; k < nskip && strcmp(e->d_name, skip[k]) != 0; k++)
			;
		if (k < nskip || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (asprintf(&at, "%s%s%s", dir, dir[0] != '\0' ? "/" : "", e->d_name) < 0)
			at = NULL;
		at = plan_own(pl, at);
		if (S_ISLNK(st.st_mode) &&
		    (n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1)) >= 0) {
			target[n] = '\0';
			r = plan_push(pl, AL_OP_SYMLINK, at, plan_own(pl, strdup(target)), 0, 0);
		} else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
			if (asprintf(&src, "%s/%s", path, e->d_name) < 0)
				src = NULL;
			r = plan_push(pl, AL_OP_BIND, at, plan_own(pl, src),
			              AL_OPF_RECURSIVE | AL_OPF_NOFOLLOW, RO_ATTR);
		}
		r = (r < 0 || at == NULL) ? -1 : 0;
	}
	closedir(d);
	if (r < 0)
		return al_err_set(err, AL_EENV, "confine: cannot allocate the view of image %s", root);
	return 0;
}

/* An image's root. With the network, its /etc is built entry by entry
 * (a directory of the view's own), so that the host's hosts and
 * resolv.conf (the net plan) take the place of the image's: the image was
 * built elsewhere, and name resolution is this host's. Without, the
 * image's /etc is bound whole like any top-level entry; so is an /etc
 * that is a symlink (then the image's own files resolve). */
static int image_build(struct al_plan *pl, const char *root, const struct al_plan *net,
                       struct al_err *err)
{
	static const char *const top[] = {"dev", "proc", "sys", "tmp", "airlock", "etc"};
	static const char *const etc[] = {"hosts", "resolv.conf"};
	char path[AL_CONFINE_PATH_MAX];
	struct stat st;
	int has_etc, own_etc;

	snprintf(path, sizeof path, "%s/etc", root);
	has_etc = lstat(path, &st) == 0;
	own_etc = net != NULL && (!has_etc || S_ISDIR(st.st_mode));
	/* "etc" is skipped (the last of top) only when we build it */
	if (image_dir(pl, root, "", top, sizeof top / sizeof top[0] - (own_etc ? 0 : 1), err) < 0)
		return -1;
	if (!own_etc)
		return 0;
	if (plan_push(pl, AL_OP_DIR, "etc", NULL, 0, 0) < 0 ||
	    (has_etc && image_dir(pl, root, "etc", etc, sizeof etc / sizeof etc[0], err) < 0) ||
	    plan_append(pl, net) < 0)
		return al_err_set(err, AL_EENV, "confine: cannot allocate the view of image %s", root);
	return 0;
}

/* passwd and group naming only root, the step's user and nobody: the
 * host's accounts are none of the step's business. */
static int identity_build(struct al_plan *pl, uid_t uid, gid_t gid)
{
	int n = snprintf(pl->passwd, sizeof pl->passwd,
	                 "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	                 "airlock-step:x:%u:%u:airlock step:/airlock/out:/usr/sbin/nologin\n%s",
	                 (unsigned)uid, (unsigned)gid,
	                 uid == 65534 ? "" : "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	int m = snprintf(pl->group, sizeof pl->group, "root:x:0:\nairlock-step:x:%u:\n%s",
	                 (unsigned)gid, gid == 65534 ? "" : "nogroup:x:65534:\n");
	int i = plan_push(pl, AL_OP_FILE, "etc/passwd", NULL, 0, 0);
	int j = plan_push(pl, AL_OP_FILE, "etc/group", NULL, 0, 0);

	if (i < 0 || j < 0)
		return -1;
	pl->ops[i].data = pl->passwd;
	pl->ops[i].len = (size_t)n;
	pl->ops[j].data = pl->group;
	pl->ops[j].len = (size_t)m;
	return 0;
}

/* What every view has, image or not. */
static int base_build(struct al_plan *pl, const struct al_confine_spec *s)
{
	static const struct {
		const char *at, *src;
		uint64_t attr;
		enum al_op_kind kind;
		unsigned flags;
	} base[] = {
		{"dev", NULL, 0, AL_OP_DIR, AL_OPF_DEVICES},
		/* the host's nodes themselves (a tmpfs of our own is nodev); no
		 * flags to set: nosuid and noexec mean nothing to a device */
		{"dev/null", "/dev/null", 0, AL_OP_BIND, 0},
		{"dev/zero", "/dev/zero", 0, AL_OP_BIND, 0},
		{"dev/full", "/dev/full", 0, AL_OP_BIND, 0},
		{"dev/random", "/dev/random", 0, AL_OP_BIND, 0},
		{"dev/urandom", "/dev/urandom", 0, AL_OP_BIND, 0},
		{"dev/tty", "/dev/tty", 0, AL_OP_BIND, AL_OPF_OPTIONAL},
		{"dev/fd", "/proc/self/fd", 0, AL_OP_SYMLINK, 0},
		{"dev/stdin", "/proc/self/fd/0", 0, AL_OP_SYMLINK, 0},
		{"dev/stdout", "/proc/self/fd/1", 0, AL_OP_SYMLINK, 0},
		{"dev/stderr", "/proc/self/fd/2", 0, AL_OP_SYMLINK, 0},
		{"dev/shm", NULL, AL_MOUNT_ATTR_NOSUID | AL_MOUNT_ATTR_NODEV | AL_MOUNT_ATTR_NOEXEC,
		 AL_OP_TMPFS, AL_OPF_WRITABLE},
		{"proc", NULL, AL_MOUNT_ATTR_NOSUID | AL_MOUNT_ATTR_NODEV | AL_MOUNT_ATTR_NOEXEC,
		 AL_OP_PROC, 0},
		{"tmp", NULL, AL_MOUNT_ATTR_NOSUID | AL_MOUNT_ATTR_NODEV, AL_OP_TMPFS,
		 AL_OPF_WRITABLE},
		{"airlock/out", NULL, 0, AL_OP_DIR, 0},
	};
	int64_t size = s->tmp_bytes > 0 ? s->tmp_bytes : AL_CONFINE_TMP_DEFAULT;

	/* nr_inodes: empty files cost kernel memory that size= does not count */
	snprintf(pl->tmp_size, sizeof pl->tmp_size, "%lld", (long long)size);
	snprintf(pl->tmp_inodes, sizeof pl->tmp_inodes, "%lld", (long long)size / 1024 + 64);
	pl->tmp_kv[0] = "size";
	pl->tmp_kv[1] = pl->tmp_size;
	pl->tmp_kv[2] = "nr_inodes";
	pl->tmp_kv[3] = pl->tmp_inodes;
	pl->tmp_kv[4] = "mode";
	pl->tmp_kv[5] = "1777";
	pl->tmp_kv[6] = NULL;
	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
		if (plan_push(pl, base[i].kind, base[i].at, base[i].src, base[i].flags, base[i].attr) < 0)
			return -1;
	return 0;
}

static int binds_build(struct al_plan *pl, const struct al_confine_spec *s)
{
	for (size_t i = 0; i < s->nbinds; i++) {
		const struct al_confine_bind *b = &s->binds[i];
		int k = plan_push(pl, AL_OP_BIND, b->at + 1, b->host,
		                  AL_OPF_RECURSIVE | (b->rw ? AL_OPF_WRITABLE : 0),
		                  b->rw ? AL_MOUNT_ATTR_NOSUID | AL_MOUNT_ATTR_NODEV : RO_ATTR);
		if (k < 0)
			return -1;
		pl->ops[k].bind = (int)i;
	}
	return 0;
}

/* The view's own files (secrets' copies), after the binds: written into
 * the root tmpfs, which is made read-only once built. */
static int files_build(struct al_plan *pl, const struct al_confine_spec *s)
{
	for (size_t i = 0; i < s->nfiles; i++) {
		int k = plan_push(pl, AL_OP_FILE, s->files[i].at + 1, NULL, 0, 0);
		if (k < 0)
			return -1;
		pl->ops[k].data = (const char *)s->files[i].data;
		pl->ops[k].len = s->files[i].len;
	}
	return 0;
}

int al_confine_plan_build(const struct al_confine_spec *s, const struct al_plan *sys,
                          const struct al_plan *net, uid_t uid, gid_t gid, struct al_plan *pl,
                          struct al_err *err)
{
	int r = 0;

	if (s->root != NULL) {
		if (image_build(pl, s->root, s->net_none ? NULL : net, err) < 0)
			return -1;
	} else {
		r = plan_append(pl, sys);
		if (r == 0)
			r = identity_build(pl, uid, gid);
		if (r == 0 && !s->net_none)
			r = plan_append(pl, net);
	}
	if (r == 0)
		r = base_build(pl, s);
	if (r == 0)
		r = binds_build(pl, s);
	if (r == 0)
		r = files_build(pl, s);
	if (r < 0)
		return al_err_set(err, AL_EENV, "confine: cannot allocate the step's view");
	return 0;
}
