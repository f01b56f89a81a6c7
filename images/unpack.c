/* unpack.c - applying an image's layers (image.h), in order, with the
 * OCI layer semantics: a later layer replaces what an earlier one wrote,
 * `.wh.NAME` removes NAME of the layers below, `.wh..wh..opq` hides a
 * directory's lower contents, hard links stay within the image.
 *
 * Everything is created relative to a held directory fd, one component
 * at a time with O_NOFOLLOW: a symbolic link of the image is stored,
 * never followed, so no member can reach outside the tree (the class of
 * CVE-2021-29136). A member path that is absolute or climbs with ".." is
 * refused, as is a whiteout of "..". Device nodes, FIFOs and sockets are
 * not created (recorded in the image's "skipped"); setuid, setgid and
 * sticky bits are dropped; nothing takes the archive's owners.
 *
 * Each layer is read straight from the archive through two readers: a
 * raw one that decompresses (gzip, zstd or none) and whose bytes are
 * hashed for the diff_id, and a tar reader on top. Nothing is trusted
 * before the hash is compared: a layer whose diff_id differs fails the
 * whole unpack, and the caller removes the tree. */
#include "images/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define PATH_BYTES 4095
#define NAME_BYTES 255
/* Levels of directories: real images have a few dozen; the walks that
 * recurse (the tree's listing, removing a tree, an opaque directory) are
 * bounded by it. */
#define COMPS_MAX 128

struct unpack {
	const char *archive;
	struct al_image *img;
	const struct al_image_layer *layer;
	int rootfd;
	uint64_t max_bytes;
	struct archive *outer, *raw, *tar;
	struct al_sha256 diff;   /* the layer's uncompressed bytes */
	int diff_on;
	json_t *made;            /* paths this layer wrote, and their directories */
	uint64_t raw_bytes;      /* the layer's uncompressed bytes so far */
	size_t last_len;         /* of the last chunk given to the tar reader (in rbuf) */
	uint64_t raw_cap;        /* beyond them the layer is a bomb */
	int bomb;
	char cache_path[PATH_BYTES + 1]; /* the last parent walked, and its fd */
	int cache_fd;
	struct al_progress *pr;  /* archive bytes: the layers before, then this one's */
	uint64_t pr_done;
	char obuf[1 << 16], rbuf[1 << 16], data[1 << 16];
};

/* A member path, split: comps point into buf. */
struct mpath {
	char buf[PATH_BYTES + 1];
	char *comps[COMPS_MAX];
	size_t n;
	char key[PATH_BYTES + 1]; /* the components joined by "/" */
};

/* ---- the readers ---- */

static la_ssize_t outer_read(struct archive *a, void *ctx, const void **buf)
{
	struct unpack *u = ctx;
	la_ssize_t got = archive_read_data(u->outer, u->obuf, sizeof u->obuf);

	(void)a;
	*buf = u->obuf;
	if (got > 0)
		al_progress_at(u->pr, u->pr_done += (uint64_t)got);
	if (got < 0)
		archive_set_error(a, EIO, "%s", archive_error_string(u->outer));
	return got;
}

static la_ssize_t raw_read(struct archive *a, void *ctx, const void **buf)
{
	struct unpack *u = ctx;
	la_ssize_t got = archive_read_data(u->raw, u->rbuf, sizeof u->rbuf);

	*buf = u->rbuf;
	if (got > 0 && (u->raw_bytes += (uint64_t)got) > u->raw_cap) {
		u->bomb = 1;
		archive_set_error(a, EFBIG, "decompresses to more than %llu bytes",
		                  (unsigned long long)u->raw_cap);
		return -1;
	}
	if (got > 0 && u->diff_on)
		al_sha256_update(&u->diff, u->rbuf, (size_t)got);
	if (got > 0)
		u->last_len = (size_t)got;
	if (got < 0)
		archive_set_error(a, EIO, "%s", archive_error_string(u->raw));
	return got;
}

/* ---- paths ---- */

static int refuse(struct unpack *u, const char *member, struct al_err *err, const char *fmt, ...)
    AL_PRINTF(4, 5);

static int refuse(struct unpack *u, const char *member, struct al_err *err, const char *fmt, ...)
{
	char why[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return img_refuse(err, u->archive, u->layer->digest, member, "%s", why);
}

/* Splits a member's path: "./" and empty components dropped; absolute,
 * "..", too long: refused. n = 0 is the root itself. */
static int split(struct unpack *u, const char *raw, struct mpath *p, struct al_err *err)
{
	char *s, *save = NULL;
	size_t len = strlen(raw), k = 0;

	p->n = 0;
	p->key[0] = '\0';
	if (len > PATH_BYTES)
		return refuse(u, "(a long path)", err, "a path of %zu bytes (at most %d): %.80s...", len,
		              PATH_BYTES, raw);
	if (raw[0] == '/')
		return refuse(u, raw, err, "an absolute path: members are relative to the image's root");
	memcpy(p->buf, raw, len + 1);
	for (s = strtok_r(p->buf, "/", &save); s != NULL; s = strtok_r(NULL, "/", &save)) {
		size_t sl = strlen(s);
		if (strcmp(s, ".") == 0)
			continue;
		if (strcmp(s, "..") == 0)
			return refuse(u, raw, err, "\"..\": a path that leaves the image");
		if (sl > NAME_BYTES)
			return refuse(u, raw, err, "a name of %zu bytes (at most %d)", sl, NAME_BYTES);
		if (p->n == COMPS_MAX)
			return refuse(u, "(a deep path)", err, "more than %d levels of directories: %.80s...",
			              COMPS_MAX, raw);
		p->comps[p->n++] = s;
		if (k > 0)
			p->key[k++] = '/';
		memcpy(p->key + k, s, sl + 1);
		k += sl;
	}
	return 0;
}

/* The made set's key of a path: 32 hex digits of its SHA-256, so that a
 * layer of deep, long paths costs the set a few dozen bytes a path. */
static const char *made_key(const char *path, char out[33])
{
	unsigned char sum[AL_SHA256_LEN];
	char hex[AL_SHA256_HEX];

	al_sha256_buf(path, strlen(path), sum);
	al_hex(sum, sizeof sum, hex);
	memcpy(out, hex, 32);
	out[32] = '\0';
	return out;
}

static int made_has(const struct unpack *u, const char *path)
{
	char k[33];

	return json_object_get(u->made, made_key(path, k)) != NULL;
}

static void cache_drop(struct unpack *u)
{
	if (u->cache_fd >= 0)
		close(u->cache_fd);
	u->cache_fd = -1;
	u->cache_path[0] = '\0';
}

/* The directory of p's first n components, beneath the root, each opened
 * with O_NOFOLLOW: created when missing (create), else -2 when missing.
 * The fd is the cache's: not to be closed. */
static int walk(struct unpack *u, const struct mpath *p, size_t n, int create, const char *member,
                struct al_err *err)
{
	char path[PATH_BYTES + 1];
	size_t k = 0;
	int fd;

	path[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t sl = strlen(p->comps[i]);
		if (i > 0)
			path[k++] = '/';
		memcpy(path + k, p->comps[i], sl + 1);
		k += sl;
	}
	if (u->cache_fd >= 0 && strcmp(path, u->cache_path) == 0)
		return u->cache_fd;
	cache_drop(u);
	fd = fcntl(u->rootfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return al_err_sys(err, "%s: dup", u->archive);
	k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *c = p->comps[i];
		int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		size_t sl = strlen(c);
		/* path[0..k) is now the components up to this one */
		k += (i > 0) + sl;
		if (next < 0 && errno == ENOENT && create) {
			/* a directory the layer implies costs what an entry does */
			if (++u->img->entries > AL_IMAGE_ENTRIES_MAX) {
				close(fd);
				return refuse(u, member, err, "more than %d entries", AL_IMAGE_ENTRIES_MAX);
			}
			if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
				close(fd);
				return al_err_sys(err, "%s: layer %s: %s: mkdir", u->archive, u->layer->digest, member);
			}
			next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;
			close(fd);
			if (e == ENOENT)
				return -2;
			if (e == ELOOP || e == ENOTDIR)
				return refuse(u, member, err,
				              "%.*s is a symbolic link or a file in the image: nothing is "
				              "written through it",
				              (int)k, path);
			errno = e;
			return al_err_sys(err, "%s: layer %s: %s", u->archive, u->layer->digest, member);
		}
		close(fd);
		fd = next;
	}
	snprintf(u->cache_path, sizeof u->cache_path, "%s", path);
	u->cache_fd = fd;
	return fd;
}

/* Removes NAME beneath pfd, whatever it is (never following it). */
static int remove_any(struct unpack *u, int pfd, const char *name, const char *member,
                      struct al_err *err)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : al_err_sys(err, "%s: %s", u->archive, member);
	if (S_ISDIR(st.st_mode)) {
		if (al_rm_tree(pfd, name) < 0)
			return al_err_sys(err, "%s: layer %s: %s: cannot remove", u->archive, u->layer->digest, member);
	} else if (unlinkat(pfd, name, 0) < 0) {
		return al_err_sys(err, "%s: layer %s: %s: cannot remove", u->archive, u->layer->digest, member);
	}
	return 0;
}

/* Hides what the layers below put in the directory dfd (key: its path):
 * every child this layer did not make goes, and the same within the
 * directories it did make. */
static int opaque_clear(struct unpack *u, int dfd, const char *key, const char *member,
                        struct al_err *err)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int ret = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return al_err_sys(err, "%s: %s", u->archive, member);
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		char sub[PATH_BYTES + 1];
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (al_snprintf(sub, sizeof sub, "%s%s%s", key, key[0] ? "/" : "", de->d_name) < 0)
			continue;
		if (!made_has(u, sub)) {
			ret = remove_any(u, dirfd(d), de->d_name, member, err);
		} else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		           S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				ret = al_err_sys(err, "%s: %s", u->archive, sub);
			else {
				ret = opaque_clear(u, cfd, sub, member, err);
				close(cfd);
			}
		}
	}
	closedir(d);
	return ret;
}

static int whiteout(struct unpack *u, const struct mpath *p, const char *member, struct al_err *err)
{
	const char *name = p->comps[p->n - 1] + 4;
	char key[PATH_BYTES + 1];
	int pfd;

	if (strcmp(name, ".wh..opq") == 0) {
		/* the directory itself is this layer's */
		pfd = walk(u, p, p->n - 1, 1, member, err);
		if (pfd < 0)
			return -1;
		if (opaque_clear(u, pfd, u->cache_path, member, err) < 0)
			return -1;
		cache_drop(u);
		return 0;
	}
	if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return refuse(u, member, err, "a whiteout of \"%s\": only a name in its directory can be removed",
		              name);
	pfd = walk(u, p, p->n - 1, 0, member, err);
	if (pfd == -2)
		return 0; /* nothing below to hide */
	if (pfd < 0)
		return -1;
	al_snprintf(key, sizeof key, "%s%s%s", u->cache_path, u->cache_path[0] ? "/" : "", name);
	if (made_has(u, key))
		return 0; /* this layer's own: a whiteout hides the layers below */
	if (remove_any(u, pfd, name, member, err) < 0)
		return -1;
	cache_drop(u);
	return 0;
}

static void skipped(struct unpack *u, const char *member, const char *what)
{
	if (u->img->skipped == NULL)
		u->img->skipped = json_array();
	if (json_array_size(u->img->skipped) < 1000)
		json_array_append_new(u->img->skipped, json_pack("{s:s,s:s,s:s}", "layer",
		                                                 u->layer->digest, "member", member,
		                                                 "what", what));
}

static int write_file(struct unpack *u, int pfd, const char *name, struct archive_entry *e,
                      const char *member, struct al_err *err)
{
	mode_t mode = archive_entry_perm(e);
	struct timespec ts[2];
	la_ssize_t got;
	int fd;

	if (mode & 07000)
		skipped(u, member, (mode & 06000) ? "setuid or setgid bit dropped" : "sticky bit dropped");
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return al_err_sys(err, "%s: layer %s: %s", u->archive, u->layer->digest, member);
	while ((got = archive_read_data(u->tar, u->data, sizeof u->data)) > 0) {
		u->img->unpacked_bytes += (uint64_t)got;
		if (u->max_bytes > 0 && u->img->unpacked_bytes > u->max_bytes) {
			close(fd);
			return refuse(u, member, err,
			              "the image unpacks to more than %llu bytes (--max-size, with the bundle's files)",
			              (unsigned long long)u->max_bytes);
		}
		if (al_write_all(fd, u->data, (size_t)got) < 0) {
			int e2 = errno;
			close(fd);
			errno = e2;
			return al_err_sys(err, "%s: layer %s: %s: write", u->archive, u->layer->digest, member);
		}
	}
	if (got < 0) {
		close(fd);
		return refuse(u, member, err, "%s", archive_error_string(u->tar));
	}
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (fchmod(fd, mode & 0777) < 0 || futimens(fd, ts) < 0) {
		close(fd);
		return al_err_sys(err, "%s: layer %s: %s", u->archive, u->layer->digest, member);
	}
	return close(fd) < 0 ? al_err_sys(err, "%s: %s: close", u->archive, member) : 0;
}

static int hard_link(struct unpack *u, int pfd, const char *name, const char *target,
                     const char *member, struct al_err *err)
{
	struct mpath *t = malloc(sizeof *t);
	struct stat st, old;
	int tfd, ret = -1;
	char tname[NAME_BYTES + 1];

	if (t == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (split(u, target, t, err) < 0)
		goto out;
	if (t->n == 0) {
		refuse(u, member, err, "a hard link to the image's root");
		goto out;
	}
	/* pfd is the cache's: the target's walk may replace it */
	pfd = fcntl(pfd, F_DUPFD_CLOEXEC, 3);
	if (pfd < 0) {
		al_err_sys(err, "dup");
		goto out;
	}
	snprintf(tname, sizeof tname, "%s", t->comps[t->n - 1]);
	tfd = walk(u, t, t->n - 1, 0, member, err);
	if (tfd == -2 || (tfd >= 0 && fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)) {
		refuse(u, member, err, "a hard link to %s, which the image does not hold", t->key);
		goto close;
	}
	if (tfd < 0)
		goto close;
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		refuse(u, member, err, "a hard link to %s, which is not a file", t->key);
		goto close;
	}
	if (fstatat(pfd, name, &old, AT_SYMLINK_NOFOLLOW) == 0) {
		if (old.st_ino == st.st_ino && old.st_dev == st.st_dev) {
			ret = 0;
			goto close;
		}
		if (remove_any(u, pfd, name, member, err) < 0)
			goto close;
	}
	if (linkat(tfd, tname, pfd, name, 0) < 0) {
		al_err_sys(err, "%s: layer %s: %s: link to %s", u->archive, u->layer->digest, member, t->key);
		goto close;
	}
	ret = 0;
close:
	close(pfd);
out:
	free(t);
	return ret;
}

/* Marks p's first n components, and every directory above them, as this
 * layer's: an opaque marker hides what the layers below put in a
 * directory, never what this one did. At most MADE_MAX paths a layer. */
#define MADE_MAX (2 * AL_IMAGE_ENTRIES_MAX)
static int mark_made(struct unpack *u, const struct mpath *p, size_t n, const char *member,
                     struct al_err *err)
{
	char sub[PATH_BYTES + 1];
	size_t ends[COMPS_MAX] = {0}, k = 0;

	for (size_t i = 0; i < n; i++) {
		size_t sl = strlen(p->comps[i]);
		if (i > 0)
			sub[k++] = '/';
		memcpy(sub + k, p->comps[i], sl);
		k += sl;
		ends[i] = k;
	}
	/* deepest first: a marked directory's own directories are marked */
	for (size_t i = n; i-- > 0;) {
		sub[ends[i]] = '\0';
		char key[33];
		if (made_has(u, sub))
			break;
		if (json_object_size(u->made) >= MADE_MAX)
			return refuse(u, member, err, "more than %d paths in one layer", MADE_MAX);
		json_object_set_new(u->made, made_key(sub, key), json_true());
	}
	return 0;
}

static int apply_entry(struct unpack *u, struct archive_entry *e, struct mpath *p,
                       struct al_err *err)
{
	const char *raw = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	const char *name;
	char member[PATH_BYTES + 1];
	struct stat st;
	int pfd;

	if (raw == NULL)
		return refuse(u, "(no name)", err, "a member without a name");
	if (split(u, raw, p, err) < 0)
		return -1;
	snprintf(member, sizeof member, "%s", p->key);
	if (p->n == 0)
		return 0; /* "./": the root is the store's */
	if (++u->img->entries > AL_IMAGE_ENTRIES_MAX)
		return refuse(u, member, err, "more than %d entries", AL_IMAGE_ENTRIES_MAX);
	name = p->comps[p->n - 1];
	if (mark_made(u, p, p->n - 1, member, err) < 0)
		return -1;
	if (strncmp(name, ".wh.", 4) == 0)
		return whiteout(u, p, member, err);
	if (link != NULL && archive_entry_size(e) > 0)
		return refuse(u, member, err,
		              "a hard link that carries data: tar readers disagree on what follows it");
	if (link == NULL && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
		skipped(u, member, type == AE_IFCHR   ? "character device"
		                   : type == AE_IFBLK ? "block device"
		                   : type == AE_IFIFO ? "FIFO"
		                   : type == AE_IFSOCK ? "socket"
		                                       : "unknown type");
		return 0;
	}
	pfd = walk(u, p, p->n - 1, 1, member, err);
	if (pfd < 0 || mark_made(u, p, p->n, member, err) < 0)
		return -1;
	if (link != NULL)
		return hard_link(u, pfd, name, link, member, err);
	if (type == AE_IFDIR) {
		mode_t mode = (archive_entry_perm(e) & 0777) | 0700;
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
		    remove_any(u, pfd, name, member, err) < 0)
			return -1;
		if (mkdirat(pfd, name, mode) < 0 && errno != EEXIST)
			return al_err_sys(err, "%s: layer %s: %s: mkdir", u->archive, u->layer->digest, member);
		if (fchmodat(pfd, name, mode, 0) < 0)
			return al_err_sys(err, "%s: layer %s: %s: chmod", u->archive, u->layer->digest, member);
		return 0;
	}
	/* a later layer replaces whatever an earlier one put there */
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (remove_any(u, pfd, name, member, err) < 0)
			return -1;
		if (S_ISDIR(st.st_mode)) {
			cache_drop(u);
			pfd = walk(u, p, p->n - 1, 1, member, err);
			if (pfd < 0)
				return -1;
		}
	}
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		if (target == NULL || strlen(target) > PATH_BYTES)
			return refuse(u, member, err, "a symbolic link without a usable target");
		if (symlinkat(target, pfd, name) < 0)
			return al_err_sys(err, "%s: layer %s: %s: symlink", u->archive, u->layer->digest, member);
		return 0;
	}
	return write_file(u, pfd, name, e, member, err);
}

/* ---- one layer ---- */

static int open_layer(struct unpack *u, struct al_err *err)
{
	struct archive_entry *e;
	int r, want = u->layer->compression;

	u->outer = archive_read_new();
	if (u->outer == NULL)
		return al_err_sys(err, "cannot allocate memory");
	archive_read_support_format_tar(u->outer);
	archive_read_support_filter_none(u->outer);
	if (archive_read_open_filename(u->outer, u->archive, 1 << 16) != ARCHIVE_OK)
		return al_err_set(err, AL_EENV, "%s: %s", u->archive, archive_error_string(u->outer));
	/* skipping a member seeks past it */
	while ((r = archive_read_next_header(u->outer, &e)) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		while (n != NULL && strncmp(n, "./", 2) == 0)
			n += 2;
		if (n != NULL && strcmp(n, u->layer->member) == 0 && archive_entry_filetype(e) == AE_IFREG)
			break;
	}
	if (r != ARCHIVE_OK)
		return img_refuse(err, u->archive, u->layer->digest, u->layer->member,
		                  "not found again in the archive (changed since it was read?)");
	u->raw = archive_read_new();
	if (u->raw == NULL)
		return al_err_sys(err, "cannot allocate memory");
	archive_read_support_format_raw(u->raw);
	archive_read_support_filter_none(u->raw);
	/* ARCHIVE_WARN: this libarchive would run an external program */
	if (archive_read_support_filter_gzip(u->raw) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(u->raw) != ARCHIVE_OK)
		return al_err_set(err, AL_EENV, "this airlock's libarchive reads gzip or zstd only through "
		                  "an external program: refused");
	if (archive_read_open(u->raw, u, NULL, outer_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(u->raw, &e) != ARCHIVE_OK)
		return img_refuse(err, u->archive, u->layer->digest, u->layer->member, "%s",
		                  archive_error_string(u->raw));
	if (archive_filter_count(u->raw) > 2)
		return img_refuse(err, u->archive, u->layer->digest, u->layer->member,
		                  "compressed more than once (%d filters): a layer is one tar, plain, "
		                  "gzip or zstd", archive_filter_count(u->raw) - 1);
	r = archive_filter_code(u->raw, 0);
	r = r == ARCHIVE_FILTER_GZIP ? AL_IMAGE_GZIP : r == ARCHIVE_FILTER_ZSTD ? AL_IMAGE_ZSTD
	  : r == ARCHIVE_FILTER_NONE ? AL_IMAGE_PLAIN : -2;
	if (r == -2 || (want >= 0 && r != want))
		return img_refuse(err, u->archive, u->layer->digest, u->layer->member,
		                  "its bytes are not what its media type %s says", u->layer->media);
	if (al_sha256_init(&u->diff) < 0)
		return al_err_set(err, AL_EENV, "SHA-256 unavailable");
	u->diff_on = 1;
	u->tar = archive_read_new();
	if (u->tar == NULL)
		return al_err_sys(err, "cannot allocate memory");
	archive_read_support_format_tar(u->tar);
	archive_read_support_filter_none(u->tar);
	if (archive_read_open(u->tar, u, NULL, raw_read, NULL) != ARCHIVE_OK)
		return img_refuse(err, u->archive, u->layer->digest, u->layer->member, "not a tar: %s",
		                  archive_error_string(u->tar));
	return 0;
}

static void close_layer(struct unpack *u)
{
	if (u->diff_on)
		al_sha256_abort(&u->diff);
	u->diff_on = 0;
	archive_read_free(u->tar);
	archive_read_free(u->raw);
	archive_read_free(u->outer);
	u->tar = u->raw = u->outer = NULL;
	cache_drop(u);
	json_decref(u->made);
	u->made = NULL;
}

static int layer_apply(struct unpack *u, struct al_err *err)
{
	struct archive_entry *e;
	struct mpath *p = malloc(sizeof *p);
	unsigned char sum[AL_SHA256_LEN];
	char hex[AL_SHA256_HEX];
	const void *rest;
	int r = ARCHIVE_OK, ret = -1;

	u->made = json_object();
	u->raw_bytes = 0;
	u->bomb = 0;
	/* a tar of the bytes left, its headers and padding; no limit given:
	 * still finite */
	u->raw_cap = u->max_bytes > 0 ? u->max_bytes - u->img->unpacked_bytes + (64u << 20)
	                              : (uint64_t)1 << 40;
	if (p == NULL || u->made == NULL) {
		free(p);
		return al_err_sys(err, "cannot allocate memory");
	}
	if (open_layer(u, err) < 0)
		goto out;
	while ((r = archive_read_next_header(u->tar, &e)) == ARCHIVE_OK)
		if (apply_entry(u, e, p, err) < 0)
			goto out;
	if (r != ARCHIVE_EOF) {
		if (u->bomb)
			img_refuse(err, u->archive, u->layer->digest, u->layer->member,
			           "decompresses to more than %llu bytes (--max-size, with the bundle's files)",
			           (unsigned long long)u->raw_cap);
		else
			img_refuse(err, u->archive, u->layer->digest, u->layer->member, "%s",
			           archive_error_string(u->tar));
		goto out;
	}
	/* the tar's end: the rest of the stream still counts for the diff_id,
	 * and must be zeros, those the tar reader took in but did not use
	 * (in the last chunk it was given) as much as those after them */
	{
		int64_t used = archive_filter_bytes(u->tar, 0);
		uint64_t left = used >= 0 && (uint64_t)used <= u->raw_bytes ? u->raw_bytes - (uint64_t)used
		                                                           : (uint64_t)-1;
		int dirty = left > u->last_len;
		for (size_t i = u->last_len - (dirty ? 0 : (size_t)left); !dirty && i < u->last_len; i++)
			dirty = u->rbuf[i] != 0;
		if (dirty) {
			img_refuse(err, u->archive, u->layer->digest, u->layer->member,
			           "bytes after the tar's end that are not its zero padding");
			goto out;
		}
	}
	{
		/* only zeros, at most 1 MiB of them: nothing hides after the end */
		la_ssize_t got;
		uint64_t tail = 0;
		while ((got = raw_read(u->tar, u, &rest)) > 0) {
			const char *b = rest;
			tail += (uint64_t)got;
			for (la_ssize_t i = 0; i < got && tail <= (1u << 20); i++)
				if (b[i] != 0)
					tail = (1u << 20) + 1;
			if (tail > (1u << 20)) {
				img_refuse(err, u->archive, u->layer->digest, u->layer->member,
				           "bytes after the tar's end that are not its zero padding");
				goto out;
			}
		}
		if (got < 0) {
			img_refuse(err, u->archive, u->layer->digest, u->layer->member, "%s",
			           u->bomb ? "decompresses past the limit" : archive_error_string(u->raw));
			goto out;
		}
	}
	al_sha256_final(&u->diff, sum);
	u->diff_on = 0;
	al_hex(sum, sizeof sum, hex);
	if (strcmp(hex, u->layer->diff_id + 7) != 0) {
		img_refuse(err, u->archive, u->layer->digest, u->layer->member,
		           "its uncompressed bytes are sha256:%s, the config's diff_id says %s: tampered",
		           hex, u->layer->diff_id);
		goto out;
	}
	ret = 0;
out:
	close_layer(u);
	free(p);
	return ret;
}

int al_image_unpack(const char *archive, struct al_image *img, int dirfd, int tree_fd,
                    uint64_t max_bytes, struct al_progress *pr, struct al_err *err)
{
	struct unpack *u = calloc(1, sizeof *u);
	uint64_t total = 0, before = 0;
	int ret = 0;

	if (u == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (size_t i = 0; i < img->layers_n; i++)
		total += img->layers[i].size;
	al_progress_phase(pr, "unpacking", total);
	u->pr = pr;
	u->archive = archive;
	u->img = img;
	u->rootfd = dirfd;
	u->max_bytes = max_bytes;
	u->cache_fd = -1;
	void *utf8 = img_utf8_begin();

	img->unpacked_bytes = img->entries = 0;
	for (size_t i = 0; ret == 0 && i < img->layers_n; i++) {
		u->layer = &img->layers[i];
		ret = layer_apply(u, err);
		u->pr_done = before += u->layer->size;
		al_progress_at(pr, before);
	}
	img_utf8_end(utf8);
	al_progress_end(pr);
	free(u);
	if (ret == 0)
		ret = img_tree_seal(dirfd, tree_fd, img->tree_sha256, err);
	return ret;
}
