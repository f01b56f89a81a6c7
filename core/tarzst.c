/* tarzst.c - a pax tar compressed with zstd, written atomically (DESIGN.md
 * §3, §6): to OUT.tmp.PID beside the destination, through the system-call
 * table (a full disk is testable without one), then fsync, rename and an
 * fsync of the directory, so that no half-written archive is ever found
 * under its name. The one writer of bundles (pack, sign) and evidence
 * exports; entries are regular files owned by uid and gid 0. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define CHUNK (1u << 20)

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
	int fd = *(int *)ctx;

	if (al_write_all(fd, buf, n) < 0) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	return (la_ssize_t)n;
}

int al_tarzst_open(struct al_tarzst *t, const char *out, int level, struct al_err *err)
{
	char lv[8];

	memset(t, 0, sizeof *t);
	t->fd = -1;
	t->out = out;
	if (al_snprintf(t->tmp, sizeof t->tmp, "%s.tmp.%ld", out, (long)getpid()) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", out);
	t->fd = al_openat(AT_FDCWD, t->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (t->fd < 0)
		return al_err_sys(err, "%s", t->tmp);
	snprintf(lv, sizeof lv, "%d", level);
	t->a = archive_write_new();
	if (t->a == NULL || archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_add_filter_zstd(t->a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(t->a, "zstd", "compression-level", lv) != ARCHIVE_OK ||
	    /* no zeros after the zstd frame: stock zstd would call them garbage */
	    archive_write_set_bytes_in_last_block(t->a, 1) != ARCHIVE_OK ||
	    archive_write_open2(t->a, &t->fd, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
		al_err_set(err, AL_EENV, "%s: libarchive: %s", out,
		           t->a != NULL ? archive_error_string(t->a) : "no memory");
		al_tarzst_abort(t);
		return -1;
	}
	return 0;
}

struct archive *al_tarzst_archive(struct al_tarzst *t)
{
	return t->a;
}

static struct archive_entry *tar_entry(const char *name, uint64_t size, unsigned mode,
                                       int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();

	if (e == NULL)
		return NULL;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	return e;
}

int al_tarzst_add(struct al_tarzst *t, const char *name, const void *data, size_t n,
                  unsigned mode, int64_t mtime, struct al_err *err)
{
	struct archive_entry *e = tar_entry(name, n, mode, mtime);
	int ok = e != NULL && archive_write_header(t->a, e) == ARCHIVE_OK &&
	         (n == 0 || archive_write_data(t->a, data, n) == (la_ssize_t)n);

	archive_entry_free(e);
	if (!ok)
		return al_err_set(err, AL_EENV, "%s: %s: %s", t->out, name, archive_error_string(t->a));
	return 0;
}

int al_tarzst_add_fd(struct al_tarzst *t, const char *name, int fd, uint64_t size, unsigned mode,
                     int64_t mtime, struct al_err *err)
{
	struct archive_entry *e = tar_entry(name, size, mode, mtime);
	char *buf = malloc(CHUNK);
	int ret = -1;

	if (e == NULL || buf == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	if (archive_write_header(t->a, e) != ARCHIVE_OK) {
		al_err_set(err, AL_EENV, "%s: %s: %s", t->out, name, archive_error_string(t->a));
		goto out;
	}
	while (size > 0) {
		ssize_t r = read(fd, buf, size < CHUNK ? (size_t)size : CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* shorter than said: the file changed while it was read */
			if (r == 0)
				al_err_set(err, AL_EENV, "%s: changed while it was read", name);
			else
				al_err_sys(err, "%s: read", name);
			goto out;
		}
		if (archive_write_data(t->a, buf, (size_t)r) != r) {
			al_err_set(err, AL_EENV, "%s: %s: %s", t->out, name, archive_error_string(t->a));
			goto out;
		}
		size -= (uint64_t)r;
	}
	ret = 0;
out:
	free(buf);
	archive_entry_free(e);
	return ret;
}

int al_tarzst_commit(struct al_tarzst *t, struct al_err *err)
{
	int ret = -1;

	if (archive_write_close(t->a) != ARCHIVE_OK)
		al_err_set(err, AL_EENV, "%s: %s", t->out, archive_error_string(t->a));
	else if (al_sys_fsync(t->fd) < 0)
		al_err_sys(err, "%s: fsync", t->out);
	else if (al_sys_renameat(AT_FDCWD, t->tmp, AT_FDCWD, t->out) < 0)
		al_err_sys(err, "%s: rename", t->out);
	else
		ret = al_fsync_parent(t->out, err);
	if (ret == 0)
		t->tmp[0] = '\0'; /* renamed: nothing to remove */
	al_tarzst_abort(t);
	return ret;
}

void al_tarzst_abort(struct al_tarzst *t)
{
	int errsv = errno;

	if (t->a != NULL)
		archive_write_free(t->a);
	t->a = NULL;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->tmp[0] != '\0')
		(void)unlink(t->tmp);
	t->tmp[0] = '\0';
	errno = errsv;
}
