/* segment.c - segment files (names, listing, first and last lines), the
 * line reader over byte streams, the log's settings and the host public
 * key. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


void seg_name(unsigned long n, int zst, char out[SEG_NAME_MAX])
{
	snprintf(out, SEG_NAME_MAX, SEG_PREFIX "%06lu%s", n, zst ? SEG_ZST_SUFFIX : SEG_SUFFIX);
}

unsigned long seg_parse(const char *name, int *zst)
{
	const char *p = name + strlen(SEG_PREFIX), *end;
	unsigned long n = 0;
	size_t digits = 0;

	if (strncmp(name, SEG_PREFIX, strlen(SEG_PREFIX)) != 0)
		return 0;
	for (end = p; *end >= '0' && *end <= '9'; end++, digits++) {
		if (n > 100000000UL)
			return 0;
		n = n * 10 + (unsigned long)(*end - '0');
	}
	if (digits < 6 || n == 0)
		return 0;
	/* the canonical name only: "audit-0000042.jsonl" is not segment 42 */
	if (digits > 6 && *p == '0')
		return 0;
	if (strcmp(end, SEG_SUFFIX) == 0)
		*zst = 0;
	else if (strcmp(end, SEG_ZST_SUFFIX) == 0)
		*zst = 1;
	else
		return 0;
	return n;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

long seg_list(int dirfd, const char *display, unsigned long **nums, int **zsts,
              struct al_err *err)
{
	DIR *d;
	struct dirent *e;
	unsigned long *n = NULL, *tmp;
	int *z = NULL;
	size_t count = 0, cap = 0, out = 0;
	int fd = dup(dirfd);

	*nums = NULL;
	*zsts = NULL;
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return al_err_sys(err, "%s", display);
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		int zst;
		unsigned long num = seg_parse(e->d_name, &zst);
		if (num == 0)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(n, cap * sizeof *n);
			if (tmp == NULL)
				goto nomem;
			n = tmp;
		}
		/* the low bit says .zst; sorted, plain comes before .zst */
		n[count++] = num << 1 | (unsigned long)zst;
	}
	closedir(d);
	if (count > 0)
		qsort(n, count, sizeof *n, cmp_ulong);
	z = malloc((count ? count : 1) * sizeof *z);
	if (z == NULL)
		goto nomem_closed;
	for (size_t i = 0; i < count; i++) {
		if (out > 0 && n[out - 1] == n[i] >> 1)
			continue; /* a .zst beside its plain file: the plain one counts */
		z[out] = (int)(n[i] & 1);
		n[out++] = n[i] >> 1;
	}
	*nums = n;
	*zsts = z;
	return (long)out;
nomem:
	closedir(d);
nomem_closed:
	free(n);
	free(z);
	return al_err_sys(err, "%s", display);
}

int audit_dir_open(const char *home, struct al_err *err)
{
	char path[PATH_MAX];
	int fd;

	if (al_snprintf(path, sizeof path, "%s/" AUDIT_DIR, home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return al_err_set(err, AL_EUSAGE,
			                  "%s: no audit log here (run airlock audit init)", path);
		return al_err_sys(err, "%s", path);
	}
	return fd;
}

int host_pub_load(const char *home, struct al_pubkey *pub, struct al_err *err)
{
	char path[PATH_MAX];

	if (al_snprintf(path, sizeof path, "%s/host.pub", home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	return al_pubkey_load(path, pub, err);
}

/* ---- settings ---- */

#define CONFIG_NAME "config.json"

int audit_config_load(int dirfd, struct al_audit_config *cfg, struct al_err *err)
{
	json_t *v, *seg, *seal, *comp, *mf, *mfp;
	char *buf;
	size_t len;
	int ret = -1;

	cfg->segment_size = AL_AUDIT_SEGMENT_SIZE;
	cfg->seal_every = AL_AUDIT_SEAL_EVERY;
	cfg->compress = 0;
	cfg->min_free = AL_AUDIT_MIN_FREE;
	cfg->min_free_pct = AL_AUDIT_MIN_FREE_PCT;
	if (al_read_file(dirfd, CONFIG_NAME, 65536, &buf, &len, err) < 0) {
		if (err != NULL && err->sys_errno == ENOENT)
			return 0; /* defaults */
		return -1;
	}
	v = al_json_parse(buf, len, "audit/" CONFIG_NAME, err);
	free(buf);
	if (v == NULL)
		return -1;
	seg = json_object_get(v, "segment_size");
	seal = json_object_get(v, "seal_every");
	comp = json_object_get(v, "compress");
	mf = json_object_get(v, "min_free");
	mfp = json_object_get(v, "min_free_pct");
	if (!json_is_integer(seg) || json_integer_value(seg) < 4096 || !json_is_integer(seal) ||
	    json_integer_value(seal) < 1 || !json_is_boolean(comp) ||
	    (mf != NULL && (!json_is_integer(mf) || json_integer_value(mf) < 0)) ||
	    (mfp != NULL && (!json_is_integer(mfp) || json_integer_value(mfp) < 0 ||
	                     json_integer_value(mfp) > 100))) {
		al_err_set(err, AL_EUSAGE,
		           "audit/" CONFIG_NAME ": needs segment_size (>= 4096), seal_every (>= 1), compress, and min_free, min_free_pct when set");
		goto out;
	}
	cfg->segment_size = (uint64_t)json_integer_value(seg);
	cfg->seal_every = (uint64_t)json_integer_value(seal);
	cfg->compress = json_is_true(comp);
	if (mf != NULL)
		cfg->min_free = (uint64_t)json_integer_value(mf);
	if (mfp != NULL)
		cfg->min_free_pct = (int)json_integer_value(mfp);
	ret = 0;
out:
	json_decref(v);
	return ret;
}

int audit_config_store(int dirfd, const struct al_audit_config *cfg, struct al_err *err)
{
	json_t *v = json_pack("{s:s,s:I,s:I,s:b,s:I,s:i}", "format", AL_AUDIT_FORMAT, "segment_size",
	                      (json_int_t)cfg->segment_size, "seal_every",
	                      (json_int_t)cfg->seal_every, "compress", cfg->compress, "min_free",
	                      (json_int_t)cfg->min_free, "min_free_pct", cfg->min_free_pct);
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int ret;

	json_decref(v);
	if (text == NULL)
		return al_err_set(err, AL_EENV, "cannot format audit/" CONFIG_NAME);
	{
		size_t n = strlen(text);
		char *withnl = realloc(text, n + 2);
		if (withnl == NULL) {
			free(text);
			return al_err_sys(err, "audit/" CONFIG_NAME);
		}
		text = withnl;
		text[n] = '\n';
		text[n + 1] = '\0';
	}
	ret = al_write_atomic(dirfd, CONFIG_NAME, text, strlen(text), 0600, "audit/" CONFIG_NAME,
	                      err);
	free(text);
	return ret;
}

/* ---- first and last lines ---- */

#define TAIL_CHUNK 65536

void seg_tail_free(struct seg_tail *t)
{
	free(t->line);
	free(t->frag);
	memset(t, 0, sizeof *t);
}

/* pread that loops until n bytes or an error. */
static int pread_all(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO; /* the file shrank under us */
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int seg_read_tail(int fd, const char *name, struct seg_tail *t, struct al_err *err)
{
	struct stat st;
	char *buf = NULL;
	uint64_t start, end_of_lines;
	size_t want;

	memset(t, 0, sizeof *t);
	if (fstat(fd, &st) < 0)
		return al_err_sys(err, "%s", name);
	t->size = (uint64_t)st.st_size;
	if (t->size == 0)
		return 0;
	/* Read back far enough to hold the last line and a fragment after it:
	 * each at most a line's length. Grow from 64 KiB. */
	for (want = TAIL_CHUNK;; want *= 2) {
		uint64_t n = want < t->size ? want : t->size;
		char *nl, *prev_nl;

		free(buf);
		buf = malloc(n + 1);
		if (buf == NULL)
			return al_err_sys(err, "%s", name);
		start = t->size - n;
		if (pread_all(fd, buf, n, (off_t)start) < 0) {
			al_err_sys(err, "%s: read", name);
			goto fail;
		}
		nl = memrchr(buf, '\n', n);
		if (nl == NULL) {
			if (start == 0) { /* only a fragment: a file torn before its first "\n" */
				end_of_lines = 0;
				break;
			}
			if (n >= 2ull * AL_AUDIT_LINE_MAX) {
				al_err_set(err, AL_EVERIFY, "%s: last line longer than %u bytes", name,
				           AL_AUDIT_LINE_MAX);
				goto fail;
			}
			continue;
		}
		end_of_lines = start + (uint64_t)(nl - buf) + 1;
		prev_nl = nl > buf ? memrchr(buf, '\n', (size_t)(nl - buf)) : NULL;
		if (prev_nl == NULL && start > 0) {
			if (n >= 2ull * AL_AUDIT_LINE_MAX) {
				al_err_set(err, AL_EVERIFY, "%s: last line longer than %u bytes", name,
				           AL_AUDIT_LINE_MAX);
				goto fail;
			}
			continue;
		}
		{
			size_t ls = prev_nl != NULL ? (size_t)(prev_nl - buf) + 1 : 0;
			t->line_len = (size_t)(nl - buf) - ls;
			t->line = malloc(t->line_len + 1);
			if (t->line == NULL) {
				al_err_sys(err, "%s", name);
				goto fail;
			}
			memcpy(t->line, buf + ls, t->line_len);
			t->line[t->line_len] = '\0';
		}
		break;
	}
	if (end_of_lines < t->size) {
		t->frag_len = (size_t)(t->size - end_of_lines);
		t->frag = malloc(t->frag_len + 1);
		if (t->frag == NULL) {
			al_err_sys(err, "%s", name);
			goto fail;
		}
		memcpy(t->frag, buf + (end_of_lines - start), t->frag_len);
		t->frag[t->frag_len] = '\0';
	}
	free(buf);
	return 0;
fail:
	free(buf);
	seg_tail_free(t);
	return -1;
}

int seg_read_first(int dirfd, unsigned long n, int zst, char **line, size_t *len,
                   struct al_err *err)
{
	char name[SEG_NAME_MAX];
	struct al_stream *src;
	struct line_reader r;
	const char *l;
	int fd, nl = 0, ret = -1;

	seg_name(n, zst, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "%s", name);
	src = al_stream_fd(fd, zst, name, err);
	if (src == NULL)
		return -1;
	line_reader_init(&r, src);
	switch (line_next(&r, &l, len, &nl, err)) {
	case 1:
		if (!nl) {
			al_err_set(err, AL_EVERIFY, "%s: no complete first line", name);
			break;
		}
		*line = malloc(*len + 1);
		if (*line == NULL) {
			al_err_sys(err, "%s", name);
			break;
		}
		memcpy(*line, l, *len);
		(*line)[*len] = '\0';
		ret = 0;
		break;
	case 0:
		al_err_set(err, AL_EVERIFY, "%s: no complete first line", name);
		break;
	}
	line_reader_free(&r);
	src->close(src);
	return ret;
}

int seg_log_id(int dirfd, unsigned long n, int zst, char id[AL_AUDIT_LOG_ID_HEX],
               uint64_t *first_seq, struct al_err *err)
{
	char *line = NULL, name[SEG_NAME_MAX];
	const char *s;
	size_t len = 0;
	json_t *v;
	int ret = 0;

	seg_name(n, zst, name);
	if (seg_read_first(dirfd, n, zst, &line, &len, err) < 0)
		return -1;
	v = json_loadb(line, len, 0, NULL);
	free(line);
	s = json_string_value(json_object_get(v, "log_id"));
	if (s == NULL || strlen(s) != AL_AUDIT_LOG_ID_HEX - 1)
		ret = al_err_set(err, AL_EVERIFY, "audit/%s: the first line has no log_id", name);
	else
		memcpy(id, s, AL_AUDIT_LOG_ID_HEX);
	if (first_seq != NULL)
		*first_seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
	json_decref(v);
	return ret;
}

int seg_tail_of(int dirfd, unsigned long n, struct seg_tail *t, struct al_err *err)
{
	char name[SEG_NAME_MAX];
	int fd, ret;

	seg_name(n, 0, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "audit/%s", name);
	ret = seg_read_tail(fd, name, t, err);
	close(fd);
	return ret;
}

void line_hash(const char *line, size_t len, unsigned char out[AL_SHA256_LEN])
{
	struct al_sha256 h;

	if (al_sha256_init(&h) < 0)
		abort();
	al_sha256_update(&h, line, len);
	al_sha256_update(&h, "\n", 1);
	al_sha256_final(&h, out);
}

/* ---- lines ---- */

#define LINE_CHUNK (1 << 20)

void line_reader_init(struct line_reader *r, struct al_stream *src)
{
	memset(r, 0, sizeof *r);
	r->src = src;
}

void line_reader_free(struct line_reader *r)
{
	free(r->buf);
	free(r->carry);
	r->buf = r->carry = NULL;
}

/* Appends n bytes to the carry buffer (a line that spans reads). */
static int carry_add(struct line_reader *r, const char *p, size_t n, struct al_err *err)
{
	if (r->carry_len + n + 1 > AL_AUDIT_LINE_MAX)
		return al_err_set(err, AL_EVERIFY, "%s: a line is too long (over %u bytes)",
		                  r->src->name, AL_AUDIT_LINE_MAX);
	if (r->carry == NULL || r->carry_len + n + 1 > r->carry_cap) {
		size_t cap = r->carry_len + n + 4096;
		char *nc = realloc(r->carry, cap);
		if (nc == NULL)
			return al_err_sys(err, "cannot allocate memory");
		r->carry = nc;
		r->carry_cap = cap;
	}
	if (n > 0)
		memcpy(r->carry + r->carry_len, p, n);
	r->carry_len += n;
	return 0;
}

int line_next(struct line_reader *r, const char **line, size_t *len, int *has_nl,
              struct al_err *err)
{
	if (r->buf == NULL && (r->buf = malloc(LINE_CHUNK)) == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (r->carry_len > 0 && r->carry != NULL && r->carry[r->carry_len] == '\n')
		r->carry_len = 0; /* the line returned last time */
	for (;;) {
		if (r->pos < r->got) {
			char *start = r->buf + r->pos;
			char *nl = memchr(start, '\n', r->got - r->pos);
			size_t n = nl != NULL ? (size_t)(nl - start) : r->got - r->pos;
			if (nl != NULL && r->carry_len == 0) {
				if (n + 1 > AL_AUDIT_LINE_MAX)
					return al_err_set(err, AL_EVERIFY, "%s: a line is too long (over %u bytes)",
					                  r->src->name, AL_AUDIT_LINE_MAX);
				r->pos += n + 1;
				r->next_offset += n + 1;
				*line = start;
				*len = n;
				*has_nl = 1;
				return 1;
			}
			if (carry_add(r, start, n, err) < 0)
				return -1;
			r->pos += n + (nl != NULL);
			if (nl != NULL) {
				r->carry[r->carry_len] = '\n'; /* marks it returned, see above */
				r->next_offset += r->carry_len + 1;
				*line = r->carry;
				*len = r->carry_len;
				*has_nl = 1;
				return 1;
			}
			continue;
		}
		if (r->eof)
			break;
		r->pos = r->got = 0;
		if (r->src->read(r->src, r->buf, LINE_CHUNK, &r->got, err) < 0)
			return -1;
		if (r->got == 0)
			r->eof = 1;
	}
	if (r->carry_len > 0) {
		/* the last line of the source, without its "\n" */
		r->next_offset += r->carry_len;
		*line = r->carry;
		*len = r->carry_len;
		*has_nl = 0;
		r->carry[r->carry_len] = '\n';
		r->carry_len = 0;
		return 1;
	}
	return 0;
}
