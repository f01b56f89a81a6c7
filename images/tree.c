/* tree.c - the listing of an unpacked image (tree.txt) and its hash:
 * one line per entry, depth first, the names of a directory in byte
 * order, in the style of mtree(5) so that it reads with standard tools:
 *
 *   etc type=dir mode=0755
 *   etc/passwd type=file mode=0644 size=922 sha256=HEX
 *   bin type=link link=usr/bin
 *
 * Names and link targets are escaped as mtree does (\NNN octal for a
 * space, a backslash, and every byte outside printable ASCII). The walk
 * also makes the tree read-only: no write bits, no setuid, setgid or
 * sticky bit. The image's tree_sha256 is the SHA-256 of the listing.
 * The same walk in check mode changes nothing and lists what it finds
 * as it is: a mode with a write, setuid, setgid or sticky bit, and an
 * entry that unpack never makes (a device, a FIFO, a socket), each give
 * another listing, so a tree changed after install hashes differently. */
#include "images/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct seal {
	int out;
	struct al_sha256 h;
	char line[5 * 8192 + 128]; /* a path and a link target, each 4095 bytes, escaped 4x */
	char target[8192], esc[3 * 8192]; /* a link's target: never across a recursion */
	char *buf;       /* what goes to out, written in large pieces */
	size_t len, cap;
	int check;       /* list what is there; change nothing */
	struct al_err *err;
};

static size_t escape(char *out, size_t n, const char *s)
{
	size_t k = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && k + 5 < n; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '\\' || *p == '#')
			k += (size_t)snprintf(out + k, n - k, "\\%03o", *p);
		else
			out[k++] = (char)*p;
	}
	out[k] = '\0';
	return k;
}

static int emit(struct seal *s, const char *line, size_t n)
{
	if (n >= sizeof s->line) /* never: the line has room for the longest */
		n = sizeof s->line - 1;
	al_sha256_update(&s->h, line, n);
	if (s->out < 0)
		return 0;
	if (s->len + n > s->cap) {
		if (al_write_all(s->out, s->buf, s->len) < 0)
			return al_err_sys(s->err, "tree.txt: write");
		s->len = 0;
	}
	memcpy(s->buf + s->len, line, n);
	s->len += n;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory fd, sorted; NULL-terminated, malloc'd. */
static char **names(int fd, struct al_err *err)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL) {
		if (dup_fd >= 0)
			close(dup_fd);
		al_err_sys(err, "image tree: opendir");
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n + 1 >= cap) {
			char **w;
			cap = cap ? cap * 2 : 16;
			w = realloc(v, cap * sizeof *w);
			if (w == NULL)
				break;
			v = w;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	if (de != NULL || (v == NULL && (v = calloc(1, sizeof *v)) == NULL)) {
		for (size_t i = 0; v != NULL && i < n; i++)
			free(v[i]);
		free(v);
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	v[n] = NULL;
	qsort(v, n, sizeof *v, by_name);
	return v;
}

static int walk(struct seal *s, int dfd, char *path, size_t plen)
{
	char **v = names(dfd, s->err);
	int ret = 0;

	if (v == NULL)
		return -1;
	for (size_t i = 0; v[i] != NULL && ret == 0; i++) {
		char *target = s->target, *esc = s->esc;
		struct stat st;
		size_t k = plen, n;
		unsigned char sum[AL_SHA256_LEN];
		char hex[AL_SHA256_HEX];
		int fd;

		if (plen > 0)
			path[k++] = '/';
		k += escape(path + k, 3 * 8192 - k, v[i]);
		if (fstatat(dfd, v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = al_err_sys(s->err, "image tree: %s", v[i]);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t t = readlinkat(dfd, v[i], target, sizeof s->target - 1);
			if (t < 0) {
				ret = al_err_sys(s->err, "image tree: %s", v[i]);
				break;
			}
			target[t] = '\0';
			escape(esc, sizeof s->esc, target);
			n = (size_t)snprintf(s->line, sizeof s->line, "%.*s type=link link=%s\n", (int)k, path, esc);
			ret = emit(s, s->line, n);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dfd, v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				ret = al_err_sys(s->err, "image tree: %s", v[i]);
				break;
			}
			n = (size_t)snprintf(s->line, sizeof s->line, "%.*s type=dir mode=%04o\n", (int)k, path,
			                     (unsigned)(st.st_mode & (s->check ? 07777 : 0555)));
			if (emit(s, s->line, n) < 0 || walk(s, fd, path, k) < 0 ||
			    (!s->check && fchmod(fd, st.st_mode & 0555) < 0))
				ret = s->err->msg[0] ? -1 : al_err_sys(s->err, "image tree: %s: chmod", v[i]);
			close(fd);
			continue;
		}
		if (!S_ISREG(st.st_mode)) { /* never made by unpack */
			if (!s->check)
				continue;
			n = (size_t)snprintf(s->line, sizeof s->line, "%.*s type=other mode=%07o\n", (int)k,
			                     path, (unsigned)st.st_mode);
			ret = emit(s, s->line, n);
			continue;
		}
		/* O_NONBLOCK: a FIFO swapped in after the fstatat does not hang us */
		fd = openat(dfd, v[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || al_sha256_fd(fd, v[i], sum, NULL, s->err) < 0 ||
		    (!s->check && fchmod(fd, st.st_mode & 0555) < 0)) {
			if (fd >= 0)
				close(fd);
			ret = s->err->msg[0] ? -1 : al_err_sys(s->err, "image tree: %s", v[i]);
			break;
		}
		close(fd);
		al_hex(sum, sizeof sum, hex);
		n = (size_t)snprintf(s->line, sizeof s->line, "%.*s type=file mode=%04o size=%llu sha256=%s\n",
		                     (int)k, path, (unsigned)(st.st_mode & (s->check ? 07777 : 0555)),
		                     (unsigned long long)st.st_size, hex);
		ret = emit(s, s->line, n);
	}
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
	return ret;
}

static int tree_walk(int dirfd, int out, int check, char tree_sha256[AL_SHA256_HEX],
                     struct al_err *err)
{
	struct seal *s = calloc(1, sizeof *s);
	char *path = malloc(3 * 8192 + 8);
	unsigned char sum[AL_SHA256_LEN];
	int ret = -1;

	if (s == NULL || path == NULL || (s->buf = malloc(1 << 16)) == NULL) {
		free(path);
		free(s);
		return al_err_sys(err, "cannot allocate memory");
	}
	s->cap = 1 << 16;
	s->out = out;
	s->check = check;
	s->err = err;
	if (al_sha256_init(&s->h) < 0) {
		al_err_set(err, AL_EENV, "SHA-256 unavailable");
		goto out;
	}
	if (walk(s, dirfd, path, 0) < 0) {
		al_sha256_abort(&s->h);
		goto out;
	}
	if (out >= 0 && s->len > 0 && al_write_all(out, s->buf, s->len) < 0) {
		al_err_sys(err, "tree.txt: write");
		al_sha256_abort(&s->h);
		goto out;
	}
	al_sha256_final(&s->h, sum);
	al_hex(sum, sizeof sum, tree_sha256);
	/* the root last: its contents are done */
	ret = !check && fchmod(dirfd, 0555) < 0 ? al_err_sys(err, "image tree: chmod") : 0;
out:
	free(s->buf);
	free(s);
	free(path);
	return ret;
}

int img_tree_seal(int dirfd, int out, char tree_sha256[AL_SHA256_HEX], struct al_err *err)
{
	return tree_walk(dirfd, out, 0, tree_sha256, err);
}

int al_image_tree_check(const char *root, char tree_sha256[AL_SHA256_HEX], struct al_err *err)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret;

	if (fd < 0)
		return al_err_sys(err, "cannot open the image root %s", root);
	ret = tree_walk(fd, -1, 1, tree_sha256, err);
	close(fd);
	return ret;
}

struct utf8_state {
	locale_t loc, old;
};

void *img_utf8_begin(void)
{
	struct utf8_state *st = calloc(1, sizeof *st);

	if (st == NULL)
		return NULL;
	st->loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (st->loc != (locale_t)0)
		st->old = uselocale(st->loc);
	return st;
}

void img_utf8_end(void *state)
{
	struct utf8_state *st = state;

	if (st == NULL)
		return;
	if (st->loc != (locale_t)0) {
		uselocale(st->old);
		freelocale(st->loc);
	}
	free(st);
}
