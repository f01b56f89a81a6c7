/* scan.c - reading the lines of a log in order, for a reader who has
 * verified it and wants its content: the shard identity check of
 * airlock-verify audit --shards (cli/cmd_verify_audit.c). Nothing is
 * checked here but the framing; memory is one line at a time. */
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCAN_LINE_MAX (1u << 20) /* the writer's own bound on a line */

struct scan {
	char *line;
	size_t len, cap;
	uint64_t n, upto;
	int (*each)(void *ctx, const char *text, size_t len);
	void *ctx;
	int stop;
};

/* Adds bytes to the line being gathered; a complete line goes to each(). */
static int scan_bytes(struct scan *s, const char *buf, size_t got, const char *name,
                      struct al_err *err)
{
	for (size_t i = 0; i < got && !s->stop; i++) {
		if (buf[i] != '\n') {
			if (s->len + 1 >= SCAN_LINE_MAX)
				return al_err_set(err, AL_EVERIFY, "%s: a line over %u bytes", name,
				                  SCAN_LINE_MAX);
			if (s->len + 1 >= s->cap) {
				size_t cap = s->cap ? s->cap * 2 : 4096;
				char *l = realloc(s->line, cap);
				if (l == NULL)
					return al_err_sys(err, "cannot allocate memory");
				s->line = l;
				s->cap = cap;
			}
			s->line[s->len++] = buf[i];
			continue;
		}
		s->line[s->len] = '\0';
		s->n++;
		if (s->each(s->ctx, s->line, s->len) != 0 || (s->upto > 0 && s->n >= s->upto))
			s->stop = 1;
		s->len = 0;
	}
	return 0;
}

int al_audit_scan(const char *dir, uint64_t upto,
                  int (*each)(void *ctx, const char *text, size_t len), void *ctx,
                  struct al_err *err)
{
	struct scan s = {.upto = upto, .each = each, .ctx = ctx, .line = malloc(4096), .cap = 4096};
	unsigned long *nums = NULL;
	int *zsts = NULL, ret = -1;
	long count;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dirfd < 0 || s.line == NULL) {
		if (dirfd >= 0)
			close(dirfd);
		free(s.line);
		return al_err_sys(err, "%s", dir);
	}
	count = seg_list(dirfd, dir, &nums, &zsts, err);
	for (long i = 0; i < count && !s.stop; i++) {
		char name[SEG_NAME_MAX], buf[65536];
		struct al_stream *st;
		size_t got;
		int fd;
		seg_name(nums[i], zsts[i], name);
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			al_err_sys(err, "%s/%s", dir, name);
			goto out;
		}
		st = al_stream_fd(fd, zsts[i], name, err);
		if (st == NULL)
			goto out;
		for (;;) {
			if (st->read(st, buf, sizeof buf, &got, err) < 0 ||
			    scan_bytes(&s, buf, got, name, err) < 0) {
				st->close(st);
				goto out;
			}
			if (got == 0 || s.stop)
				break;
		}
		st->close(st);
	}
	ret = count < 0 ? -1 : 0;
out:
	free(nums);
	free(zsts);
	free(s.line);
	close(dirfd);
	return ret;
}
