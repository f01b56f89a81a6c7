/* reader.c - reading and writing bundle archives: libarchive's tar reader
 * over our zstd stream (window bounded, trailing data refused), its pax
 * writer through the system-call table, and removing a tree. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static la_ssize_t read_cb(struct archive *a, void *data, const void **out)
{
	struct bundle_reader *r = data;
	size_t got = 0;

	(void)a;
	if (r->z->read(r->z, r->buf, sizeof r->buf, &got, r->err) < 0) {
		r->failed = 1;
		return -1;
	}
	r->last_len = got;
	r->supplied += got;
	*out = r->buf;
	return (la_ssize_t)got;
}

struct bundle_reader *bundle_open(const char *path, struct al_err *err)
{
	struct bundle_reader *r = calloc(1, sizeof *r);
	int fd;

	if (r == NULL) {
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	r->err = err;
	r->name = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		al_err_sys(err, "%s", path);
		free(r);
		return NULL;
	}
	r->raw = al_stream_fd(fd, 0, path, err);
	if (r->raw == NULL || al_sha256_init(&r->hash) < 0) {
		if (r->raw != NULL)
			r->raw->close(r->raw);
		free(r);
		return NULL;
	}
	r->hashing = 1;
	al_stream_hash(r->raw, &r->hash);
	/* A frame that asks for a window over 128 MiB is refused by zstd here,
	 * before it can allocate it (FORMAT.md). */
	r->z = al_stream_zstd(r->raw, AL_BUNDLE_WINDOW_LOG_MAX, err);
	r->raw = NULL; /* owned by z now */
	r->a = archive_read_new();
	if (r->z == NULL || r->a == NULL) {
		bundle_close(r);
		return NULL;
	}
	archive_read_support_format_tar(r->a);
	if (archive_read_open(r->a, r, NULL, read_cb, NULL) != ARCHIVE_OK) {
		if (!r->failed)
			al_err_set(err, AL_EVERIFY, "%s: not a bundle (%s)", path, archive_error_string(r->a));
		err->code = AL_EVERIFY;
		bundle_close(r);
		return NULL;
	}
	return r;
}

int bundle_next(struct bundle_reader *r, struct archive_entry **e, struct al_err *err)
{
	int rc = archive_read_next_header(r->a, e);

	if (rc == ARCHIVE_EOF)
		return 0;
	if (rc == ARCHIVE_OK)
		return 1;
	if (!r->failed)
		al_err_set(err, AL_EVERIFY, "%s: %s", r->name, archive_error_string(r->a));
	err->code = AL_EVERIFY;
	return -1;
}

int bundle_slurp(struct bundle_reader *r, const char *member, size_t max, char **out, size_t *len,
                 struct al_err *err)
{
	size_t used = 0;
	char *buf = malloc(max + 1);

	if (buf == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (;;) {
		la_ssize_t n = archive_read_data(r->a, buf + used, max + 1 - used);
		if (n < 0) {
			free(buf);
			if (!r->failed)
				al_err_set(err, AL_EVERIFY, "%s: %s", member, archive_error_string(r->a));
			err->code = AL_EVERIFY;
			return -1;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max) {
			free(buf);
			return al_err_set(err, AL_EVERIFY, "%s: larger than %zu bytes", member, max);
		}
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
}

int bundle_finish(struct bundle_reader *r, unsigned char sha256[AL_SHA256_LEN], struct al_err *err)
{
	uint64_t consumed = (uint64_t)archive_filter_bytes(r->a, 0), extra = 0;
	size_t unread, got;

	/* What libarchive fetched but did not need after the end marker... */
	unread = r->supplied > consumed ? (size_t)(r->supplied - consumed) : 0;
	if (unread > r->last_len)
		unread = r->last_len; /* never more than its last chunk */
	for (size_t i = r->last_len - unread; i < r->last_len; i++)
		if (r->buf[i] != 0)
			return al_err_set(err, AL_EVERIFY, "%s: data after the end of the archive", r->name);
	/* ...and whatever the zstd stream still holds: zero padding only. */
	for (;;) {
		if (r->z->read(r->z, r->buf, sizeof r->buf, &got, err) < 0) {
			err->code = AL_EVERIFY;
			return -1;
		}
		if (got == 0)
			break;
		extra += got;
		if (extra > TRAILER_MAX)
			return al_err_set(err, AL_EVERIFY, "%s: data after the end of the archive", r->name);
		for (size_t i = 0; i < got; i++)
			if (r->buf[i] != 0)
				return al_err_set(err, AL_EVERIFY, "%s: data after the end of the archive",
				                  r->name);
	}
	al_sha256_final(&r->hash, sha256);
	r->hashing = 0;
	return 0;
}

void bundle_close(struct bundle_reader *r)
{
	if (r == NULL)
		return;
	if (r->a != NULL)
		archive_read_free(r->a);
	if (r->z != NULL)
		r->z->close(r->z);
	if (r->raw != NULL)
		r->raw->close(r->raw);
	if (r->hashing)
		al_sha256_abort(&r->hash);
	free(r);
}

int sig_member_keyid(const char *member, char keyid[AL_KEYID_HEX])
{
	size_t n = strlen(member), pl = strlen(SIG_DIR), sl = strlen(SIG_SUFFIX);

	if (n != pl + 16 + sl || strncmp(member, SIG_DIR, pl) != 0 ||
	    strcmp(member + pl + 16, SIG_SUFFIX) != 0 ||
	    strspn(member + pl, "0123456789ABCDEF") < 16)
		return -1;
	memcpy(keyid, member + pl, 16);
	keyid[16] = '\0';
	return 0;
}

