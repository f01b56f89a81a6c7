/* file.c - safe file I/O: bounded reads, atomic replacement (temporary
 * file, fsync, rename, directory fsync), directory creation. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int al_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return al_sys_openat(dirfd, path, flags | O_CLOEXEC | O_NOFOLLOW, mode);
}

int al_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = al_sys_write(fd, p, n);
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO; /* a write that makes no progress would loop forever */
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int al_read_file(int dirfd, const char *path, size_t max, char **out, size_t *len,
                 struct al_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t used = 0, cap;
	int fd, ret = -1;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return al_err_sys(err, "%s", path);
	if (fstat(fd, &st) < 0) {
		al_err_sys(err, "%s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		al_err_set(err, AL_EUSAGE, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		al_err_set(err, AL_EUSAGE, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	/* The size may change while we read: read until EOF, never past max. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		al_err_sys(err, "%s", path);
		goto out;
	}
	for (;;) {
		ssize_t r;
		if (used == cap) {
			char *nbuf;
			if (cap > max) {
				al_err_set(err, AL_EUSAGE, "%s: larger than %zu bytes", path, max);
				goto out;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nbuf = realloc(buf, cap + 1);
			if (nbuf == NULL) {
				al_err_sys(err, "%s", path);
				goto out;
			}
			buf = nbuf;
		}
		r = read(fd, buf + used, cap - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			al_err_sys(err, "%s: read", path);
			goto out;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	if (used > max) {
		al_err_set(err, AL_EUSAGE, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

int al_fsync_dir(int dirfd, const char *display, struct al_err *err)
{
	if (al_sys_fsync(dirfd) < 0)
		return al_err_sys(err, "%s: fsync of directory", display);
	return 0;
}

/* Splits path into a directory fd and the last component. */
static int open_parent(const char *path, char *dir, size_t dirlen, const char **base,
                       struct al_err *err)
{
	const char *slash = strrchr(path, '/');
	int fd;

	*base = path;
	if (slash == NULL) {
		al_snprintf(dir, dirlen, ".");
		*base = path;
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= dirlen)
			return al_err_set(err, AL_EUSAGE, "%s: path too long", path);
		memcpy(dir, path, n);
		dir[n] = '\0';
		*base = slash + 1;
	}
	if (**base == '\0')
		return al_err_set(err, AL_EUSAGE, "%s: not a file name", path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return al_err_sys(err, "%s", dir);
	return fd;
}

int al_fsync_parent(const char *path, struct al_err *err)
{
	char dir[PATH_MAX];
	const char *base;
	int fd, ret;

	fd = open_parent(path, dir, sizeof dir, &base, err);
	if (fd < 0)
		return -1;
	ret = al_fsync_dir(fd, dir, err);
	close(fd);
	return ret;
}

int al_write_atomic(int dirfd, const char *name, const void *data, size_t n, mode_t mode,
                    const char *display, struct al_err *err)
{
	static unsigned long counter;
	char tmp[NAME_MAX + 1];
	int fd = -1, errsv;

	if (display == NULL)
		display = name;
	if (strchr(name, '/') != NULL || strlen(name) > NAME_MAX - 40)
		return al_err_set(err, AL_EUSAGE, "%s: not a plain file name", display);
	/* O_EXCL|O_NOFOLLOW on a fresh name: a planted symlink or file at the
	 * temporary name makes the open fail instead of writing through it. */
	for (int tries = 0; fd < 0; tries++) {
		al_snprintf(tmp, sizeof tmp, ".%s.%ld.%lu.tmp", name, (long)getpid(), counter++);
		fd = al_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, mode & 07777);
		if (fd < 0 && (errno != EEXIST || tries == 100))
			return al_err_sys(err, "%s: cannot create temporary file", display);
	}
	if (fchmod(fd, mode & 07777) < 0) {
		al_err_sys(err, "%s: chmod", display);
		goto fail;
	}
	if (al_write_all(fd, data, n) < 0) {
		al_err_sys(err, "%s: write", display);
		goto fail;
	}
	if (al_sys_fsync(fd) < 0) {
		al_err_sys(err, "%s: fsync", display);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		al_err_sys(err, "%s: close", display);
		goto fail;
	}
	fd = -1;
	if (al_sys_renameat(dirfd, tmp, dirfd, name) < 0) {
		al_err_sys(err, "%s: rename", display);
		goto fail;
	}
	/* The new file is in place; without the directory fsync a power cut
	 * could still bring the old one back, so a failure here is reported. */
	return al_fsync_dir(dirfd, display, err);
fail:
	errsv = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	errno = errsv;
	return -1;
}

int al_write_file_atomic(const char *path, const void *data, size_t n, mode_t mode,
                         struct al_err *err)
{
	char dir[PATH_MAX];
	const char *base;
	int fd, ret;

	fd = open_parent(path, dir, sizeof dir, &base, err);
	if (fd < 0)
		return -1;
	ret = al_write_atomic(fd, base, data, n, mode, path, err);
	close(fd);
	return ret;
}

int al_mkdirs(const char *path, mode_t mode, struct al_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof buf)
		return al_err_set(err, AL_EUSAGE, "%s: bad directory path", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		struct stat st;
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (al_sys_mkdirat(AT_FDCWD, buf, mode) < 0) {
			if (errno != EEXIST)
				return al_err_sys(err, "%s: mkdir", buf);
			if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
				return al_err_set(err, AL_EUSAGE, "%s: exists and is not a directory", buf);
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

int al_rm_tree(int parent, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	/* read-only directories (an installed bundle's) become writable first */
	if (fchmod(fd, 0700) < 0 || (d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (al_rm_tree(dirfd(d), de->d_name) < 0)
			ret = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0)
		ret = -1;
	return ret;
}
