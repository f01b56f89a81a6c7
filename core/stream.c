/* stream.c - byte streams read in chunks: a file (optionally hashed as it
 * is read) and a zstd decompressor over another stream, with a bounded
 * window so that a crafted frame cannot make us allocate what it likes. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>


struct fd_impl {
	int fd;
	struct al_sha256 *hash; /* every byte read, when set */
};

static int fd_read(struct al_stream *src, void *buf, size_t n, size_t *got, struct al_err *err)
{
	struct fd_impl *f = src->impl;

	for (;;) {
		ssize_t r = read(f->fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return al_err_sys(err, "%s: read", src->name);
		if (f->hash != NULL && r > 0)
			al_sha256_update(f->hash, buf, (size_t)r);
		*got = (size_t)r;
		return 0;
	}
}

static void fd_close(struct al_stream *src)
{
	struct fd_impl *f = src->impl;

	close(f->fd);
	free(src);
}

struct al_stream *al_stream_fd(int fd, int zst, const char *name, struct al_err *err)
{
	struct al_stream *src = calloc(1, sizeof *src + sizeof(struct fd_impl));

	if (src == NULL) {
		close(fd);
		al_err_sys(err, "%s", name);
		return NULL;
	}
	src->impl = src + 1;
	((struct fd_impl *)src->impl)->fd = fd;
	src->read = fd_read;
	src->close = fd_close;
	src->name = name;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return zst ? al_stream_zstd(src, AL_ZSTD_WINDOW_LOG_MAX, err) : src;
}

/* ---- zstd ---- */

#define ZIN_SIZE (128 << 10)

struct zstd_impl {
	struct al_stream *inner;
	ZSTD_DStream *ds;
	ZSTD_inBuffer in;
	unsigned char inbuf[ZIN_SIZE];
	int inner_done;
	int frame_done; /* the last frame ended where the input did */
};

static int zstd_read(struct al_stream *src, void *buf, size_t n, size_t *got,
                     struct al_err *err)
{
	struct zstd_impl *z = src->impl;
	ZSTD_outBuffer out = {buf, n, 0};

	while (out.pos == 0) {
		size_t r;
		if (z->in.pos == z->in.size && !z->inner_done) {
			size_t g = 0;
			if (z->inner->read(z->inner, z->inbuf, sizeof z->inbuf, &g, err) < 0)
				return -1;
			z->in.src = z->inbuf;
			z->in.size = g;
			z->in.pos = 0;
			if (g == 0)
				z->inner_done = 1;
		}
		if (z->in.pos == z->in.size && z->inner_done) {
			if (!z->frame_done)
				return al_err_set(err, AL_EVERIFY, "%s: truncated zstd stream", src->name);
			break;
		}
		r = ZSTD_decompressStream(z->ds, &out, &z->in);
		if (ZSTD_isError(r))
			return al_err_set(err, AL_EVERIFY, "%s: zstd: %s", src->name,
			                  ZSTD_getErrorName(r));
		z->frame_done = r == 0;
	}
	*got = out.pos;
	return 0;
}

static void zstd_close(struct al_stream *src)
{
	struct zstd_impl *z = src->impl;

	z->inner->close(z->inner);
	ZSTD_freeDStream(z->ds);
	free(src);
}

struct al_stream *al_stream_zstd(struct al_stream *inner, int window_log_max, struct al_err *err)
{
	struct al_stream *src = calloc(1, sizeof *src + sizeof(struct zstd_impl));
	struct zstd_impl *z;

	if (src == NULL) {
		al_err_sys(err, "%s", inner->name);
		inner->close(inner);
		return NULL;
	}
	z = (struct zstd_impl *)(src + 1);
	z->inner = inner;
	z->ds = ZSTD_createDStream();
	if (z->ds == NULL ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(z->ds, ZSTD_d_windowLogMax, window_log_max))) {
		al_err_set(err, AL_EENV, "%s: cannot start zstd", inner->name);
		ZSTD_freeDStream(z->ds);
		inner->close(inner);
		free(src);
		return NULL;
	}
	z->frame_done = 1; /* an empty input is an empty stream */
	src->impl = z;
	src->read = zstd_read;
	src->close = zstd_close;
	src->name = inner->name;
	return src;
}

void al_stream_hash(struct al_stream *s, struct al_sha256 *h)
{
	if (s->read == fd_read)
		((struct fd_impl *)s->impl)->hash = h;
}
