/* records.c - HOME/records: the bytes of every committed output and of
 * every change to one seen from outside, kept by SHA-256 (issue 20,
 * SEC 17a-4(f): the original and every interim version can be
 * re-created).
 *
 * A record is HOME/records/sha256/XX/HEX, read-only, never rewritten:
 * a second commit of the same bytes finds it there. It never shares an
 * inode with the visible file (an edit of that file through any link
 * would change the record): it is a reflink (FICLONE) where the
 * filesystem has them, else a copy hashed as it is written. Either way
 * it is complete before its name appears (written under a temporary
 * name, hashed from the bytes written, fsynced, renamed into place, the
 * directory fsynced); a record of the wrong size under that name is made
 * again. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int) /* linux/fs.h */
#endif

static int hex_ok(const char *hex)
{
	size_t i;

	for (i = 0; hex[i] != '\0'; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return 0;
	return i == AL_SHA256_HEX - 1;
}

int al_records_path(const char *home, const char *sha256, char *out, size_t n, struct al_err *err)
{
	if (!hex_ok(sha256))
		return al_err_set(err, AL_EUSAGE, "%.80s: not a SHA-256 in hex", sha256);
	if (al_snprintf(out, n, "%s/records/sha256/%.2s/%s", home, sha256, sha256) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	return 0;
}

/* The copy of src into dst, hashed from the bytes written. */
static int copy_hashed(int src, int dst, const char *name, unsigned char sum[AL_SHA256_LEN],
                       struct al_err *err)
{
	static char buf[1 << 17];
	struct al_sha256 h;
	ssize_t got;

	if (al_sha256_init(&h) < 0)
		return al_err_set(err, AL_EENV, "%s: cannot hash", name);
	while ((got = read(src, buf, sizeof buf)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			al_sha256_abort(&h);
			return al_err_sys(err, "%s: read", name);
		}
		al_sha256_update(&h, buf, (size_t)got);
		if (al_write_all(dst, buf, (size_t)got) < 0) {
			al_sha256_abort(&h);
			return al_err_sys(err, "%s: cannot keep its record", name);
		}
	}
	al_sha256_final(&h, sum);
	return 0;
}

int al_records_put(const char *home, int srcfd, const char *name, const char *sha256,
                   struct al_err *err)
{
	char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 32], hex[AL_SHA256_HEX];
	unsigned char sum[AL_SHA256_LEN];
	struct stat st;
	int dst = -1, dfd = -1, ret = -1;

	if (al_records_path(home, sha256, path, sizeof path, err) < 0)
		return -1;
	{
		/* the same bytes kept already: the same size at least (a record
		 * of another size is not that record: it is made again) */
		struct stat src;
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && fstat(srcfd, &src) == 0 &&
		    st.st_size == src.st_size)
			return 0;
	}
	al_snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
	if (access(dir, F_OK) != 0) {
		/* a new bucket: made, and its name made durable in records/sha256 */
		if (al_mkdirs(dir, 0700, err) < 0 || al_fsync_parent(dir, err) < 0)
			return -1;
	}
	{
		unsigned char rnd[6];
		char rhex[13];
		randombytes_buf(rnd, sizeof rnd);
		al_hex(rnd, sizeof rnd, rhex);
		al_snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%s", dir, sha256, (long)getpid(), rhex);
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dst = al_sys_openat(AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dfd < 0 || dst < 0) {
		al_err_sys(err, "%s", dfd < 0 ? dir : tmp);
		goto out;
	}
	if (lseek(srcfd, 0, SEEK_SET) < 0) {
		al_err_sys(err, "%s", name);
		goto out;
	}
	if (ioctl(dst, FICLONE, srcfd) == 0) {
		/* the clone's bytes hashed: the source may have changed since it
		 * was hashed (a file changed from outside, seen by a rerun) */
		if (lseek(dst, 0, SEEK_SET) < 0 || al_sha256_fd(dst, tmp, sum, NULL, err) < 0) {
			if (err->msg[0] == '\0')
				al_err_sys(err, "%s", tmp);
			goto out;
		}
	} else if (copy_hashed(srcfd, dst, name, sum, err) < 0) {
		goto out;
	}
	al_hex(sum, sizeof sum, hex);
	if (strcmp(hex, sha256) != 0) {
		al_err_set(err, AL_EENV, "%s: changed while its record was kept (hashed %s, sha256 %s "
		                         "expected)",
		           name, hex, sha256);
		goto out;
	}
	if (fchmod(dst, 0444) < 0 || al_sys_fsync(dst) < 0) {
		al_err_sys(err, "%s: cannot keep its record", name);
		goto out;
	}
	if (al_sys_renameat(AT_FDCWD, tmp, AT_FDCWD, path) < 0) {
		al_err_sys(err, "%s: cannot keep its record", name);
		goto out;
	}
	tmp[0] = '\0';
	ret = al_fsync_dir(dfd, dir, err);
out:
	if (dst >= 0)
		close(dst);
	if (dfd >= 0)
		close(dfd);
	if (tmp[0] != '\0')
		(void)unlink(tmp);
	return ret;
}

int al_records_open(const char *home, const char *sha256, struct al_err *err)
{
	char path[PATH_MAX];
	unsigned char sum[AL_SHA256_LEN];
	char hex[AL_SHA256_HEX];
	int fd;

	if (al_records_path(home, sha256, path, sizeof path, err) < 0)
		return -1;
	fd = al_openat(AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return al_err_set(err, AL_EENV, "%s: no record of sha256 %s is kept", path, sha256);
		return al_err_sys(err, "%s", path);
	}
	{
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return al_err_set(err, AL_EVERIFY, "%s: not a regular file: not a record", path);
		}
	}
	if (al_sha256_fd(fd, path, sum, NULL, err) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		if (err->msg[0] == '\0')
			al_err_sys(err, "%s", path);
		close(fd);
		return -1;
	}
	al_hex(sum, sizeof sum, hex);
	if (strcmp(hex, sha256) != 0) {
		close(fd);
		return al_err_set(err, AL_EVERIFY,
		                  "%s: the record was changed (sha256 %s): it is not the version the log "
		                  "names",
		                  path, hex);
	}
	return fd;
}
