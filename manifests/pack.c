/* pack.c - `airlock pack`: a pipeline directory into a deterministic
 * bundle (FORMAT.md §5): the same directory and SOURCE_DATE_EPOCH give the
 * same bytes, on any machine. */
#include "internal.h"
#include "images/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_LEVEL 9

struct walk {
	char **paths;
	size_t n, cap;
	const char *root;
	struct al_err *err;
};

static int add_path(struct walk *w, const char *path)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		char **np = realloc(w->paths, cap * sizeof *np);
		if (np == NULL)
			return al_err_sys(w->err, "cannot allocate memory");
		w->paths = np;
		w->cap = cap;
	}
	if (w->n >= AL_BUNDLE_MAX_ENTRIES)
		return al_err_set(w->err, AL_EUSAGE, "%s: more than %d files", w->root, AL_BUNDLE_MAX_ENTRIES);
	w->paths[w->n] = strdup(path);
	if (w->paths[w->n] == NULL)
		return al_err_sys(w->err, "cannot allocate memory");
	w->n++;
	return 0;
}

/* Every regular file under dirfd (prefix: its path so far). Symlinks,
 * devices, FIFOs and sockets are refused rather than skipped: a bundle
 * must hold what its author sees, nothing less. */
static int walk_dir(struct walk *w, int parent, const char *prefix)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(parent), ret = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return al_err_sys(w->err, "%s/%s", w->root, prefix);
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (al_snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name) < 0) {
			ret = al_err_set(w->err, AL_EUSAGE, "%s/%s: path too long", w->root, prefix);
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = al_err_sys(w->err, "%s/%s", w->root, path);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				ret = al_err_sys(w->err, "%s/%s", w->root, path);
				break;
			}
			ret = walk_dir(w, sub, path);
			close(sub);
		} else if (S_ISREG(st.st_mode)) {
			if (prefix[0] == '\0' && strcmp(de->d_name, "airlock.json") == 0)
				continue; /* it becomes manifest.json */
			ret = add_path(w, path);
		} else {
			ret = al_err_set(w->err, AL_EUSAGE, "%s/%s: %s: a bundle holds regular files only", w->root,
			                 path,
			                 S_ISLNK(st.st_mode) ? "a symbolic link"
			                 : S_ISFIFO(st.st_mode) ? "a FIFO"
			                 : S_ISSOCK(st.st_mode) ? "a socket"
			                                        : "a device");
		}
	}
	closedir(d);
	return ret;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SOURCE_DATE_EPOCH, or now: the manifest's created and every mtime. */
static int created_time(int64_t *secs, struct al_err *err)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;

	if (sde == NULL || sde[0] == '\0') {
		*secs = al_now_us() / 1000000;
		return 0;
	}
	errno = 0;
	*secs = strtoll(sde, &end, 10);
	if (errno != 0 || *end != '\0' || *secs < 0 || *secs > 253402300799LL)
		return al_err_set(err, AL_EUSAGE, "SOURCE_DATE_EPOCH=%s: not a time in seconds", sde);
	return 0;
}

/* Hashes every file and fills the manifest's files array. */
static int files_json(int dirfd, const char *root, struct walk *w, json_t *files, struct al_err *err)
{
	for (size_t i = 0; i < w->n; i++) {
		unsigned char sum[AL_SHA256_LEN];
		char hex[AL_SHA256_HEX], display[PATH_MAX + 256];
		struct stat st;
		uint64_t size;
		int fd;

		snprintf(display, sizeof display, "%s/%s", root, w->paths[i]);
		fd = openat(dirfd, w->paths[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return al_err_sys(err, "%s: cannot read", display);
		if (fstat(fd, &st) < 0 || al_sha256_fd(fd, display, sum, &size, err) < 0) {
			if (err->msg[0] == '\0')
				al_err_sys(err, "%s", display);
			close(fd);
			return -1;
		}
		close(fd);
		al_hex(sum, sizeof sum, hex);
		json_array_append_new(files, json_pack("{s:s,s:s,s:I,s:s}", "path", w->paths[i], "sha256",
		                                       hex, "size", (json_int_t)size, "mode",
		                                       (st.st_mode & 0111) ? "0755" : "0644"));
	}
	return 0;
}

static int write_bundle(int dirfd, const char *out, const char *manifest, size_t mlen,
                        const struct al_manifest *m, int64_t mtime, struct al_err *err)
{
	struct al_tarzst t;

	if (al_tarzst_open(&t, out, PACK_LEVEL, err) < 0)
		return -1;
	if (al_tarzst_add(&t, "manifest.json", manifest, mlen, 0644, mtime, err) < 0)
		goto fail;
	for (size_t i = 0; i < m->files_n; i++) {
		const struct al_file *f = &m->files[i];
		int fd = openat(dirfd, f->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		int r;
		if (fd < 0) {
			al_err_sys(err, "%s", f->path);
			goto fail;
		}
		/* The file changed while we packed it, or the disk is full. */
		r = al_tarzst_add_fd(&t, f->path, fd, f->size, f->mode, mtime, err);
		close(fd);
		if (r < 0)
			goto fail;
	}
	return al_tarzst_commit(&t, err);
fail:
	al_tarzst_abort(&t);
	return -1;
}

/* Each image's archive read and checked (images/); its digest filled in
 * when the author left it out, compared when not. */
static int images_fill(const char *dir, struct al_manifest *src, struct al_err *err)
{
	json_t *images = json_object_get(src->root, "images");

	for (size_t i = 0; i < src->images_n; i++) {
		const struct al_image_ref *r = &src->images[i];
		struct al_image img;
		char path[PATH_MAX];
		if (al_snprintf(path, sizeof path, "%s/%s", dir, r->archive) < 0)
			return al_err_set(err, AL_EUSAGE, "%s: path too long", dir);
		if (al_image_read(path, &img, NULL, err) < 0) {
			al_err_prefix(err, "images.%s", r->name);
			return -1;
		}
		if (r->digest != NULL && strcmp(r->digest, img.config_digest) != 0) {
			al_err_set(err, AL_EVERIFY, "images.%s.digest: %s, but %s holds the image %s", r->name,
			           r->digest, path, img.config_digest);
			al_image_free(&img);
			return -1;
		}
		json_object_set_new(json_object_get(images, r->name), "digest",
		                    json_string(img.config_digest));
		al_image_free(&img);
	}
	return 0;
}

/* The manifest of pipeline directory dir: airlock.json with created and
 * files filled in, checked as a bundle's. created_secs < 0: from
 * SOURCE_DATE_EPOCH or the clock. */
static int dir_manifest(const char *dir, int dirfd, int64_t created, char **out, size_t *outlen,
                        struct al_manifest **mout, struct al_err *err)
{
	struct walk w = {.root = dir, .err = err};
	struct al_manifest *src = NULL, *m = NULL;
	char path[PATH_MAX], ts[AL_TS_LEN], *text = NULL, *manifest = NULL;
	size_t len;
	int ret = -1;
	json_t *files = json_array();

	if (al_snprintf(path, sizeof path, "%s/airlock.json", dir) < 0) {
		json_decref(files);
		return al_err_set(err, AL_EUSAGE, "%s: path too long", dir);
	}
	if (al_read_file(dirfd, "airlock.json", AL_MANIFEST_MAX, &text, &len, err) < 0)
		goto out;
	src = al_manifest_parse(text, len, path, AL_MANIFEST_SOURCE, err);
	if (src == NULL || images_fill(dir, src, err) < 0 || walk_dir(&w, dirfd, "") < 0)
		goto out;
	if (w.n > 1)
		qsort(w.paths, w.n, sizeof *w.paths, cmp_path);
	if (files_json(dirfd, dir, &w, files, err) < 0)
		goto out;
	/* The author's manifest, in the author's order, then created and files. */
	al_ts_format(created * 1000000, ts);
	ts[19] = 'Z';
	ts[20] = '\0'; /* whole seconds: "2026-11-25T03:00:00Z" */
	json_object_set_new(src->root, "created", json_string(ts));
	json_object_set(src->root, "files", files);
	manifest = json_dumps(src->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (manifest == NULL) {
		al_err_set(err, AL_EENV, "cannot format the manifest");
		goto out;
	}
	len = strlen(manifest);
	{
		char *withnl = realloc(manifest, len + 2);
		if (withnl == NULL) {
			al_err_sys(err, "cannot allocate memory");
			goto out;
		}
		manifest = withnl;
		memcpy(manifest + len, "\n", 2);
		len++;
	}
	/* The result is checked as any bundle's manifest will be. */
	m = al_manifest_parse(manifest, len, path, AL_MANIFEST_BUNDLE, err);
	if (m == NULL)
		goto out;
	*out = manifest;
	*outlen = len;
	*mout = m;
	manifest = NULL;
	m = NULL;
	ret = 0;
out:
	for (size_t i = 0; i < w.n; i++)
		free(w.paths[i]);
	free(w.paths);
	json_decref(files);
	al_manifest_free(src);
	al_manifest_free(m);
	free(text);
	free(manifest);
	return ret;
}

int al_pipeline_dir_manifest(const char *dir, char **text, size_t *len, struct al_manifest **m,
                             struct al_err *err)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (dirfd < 0)
		return al_err_sys(err, "%s", dir);
	ret = dir_manifest(dir, dirfd, 0, text, len, m, err);
	close(dirfd);
	return ret;
}

int al_bundle_pack(const char *dir, const char *out, unsigned char manifest_sha256[AL_SHA256_LEN],
                   struct al_err *err)
{
	struct al_manifest *m = NULL;
	char *manifest = NULL;
	size_t len;
	int64_t created;
	int dirfd, ret = -1;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return al_err_sys(err, "%s", dir);
	if (created_time(&created, err) < 0 ||
	    dir_manifest(dir, dirfd, created, &manifest, &len, &m, err) < 0)
		goto out;
	if (write_bundle(dirfd, out, manifest, len, m, created, err) < 0)
		goto out;
	if (manifest_sha256 != NULL)
		al_sha256_buf(manifest, len, manifest_sha256);
	ret = 0;
out:
	al_manifest_free(m);
	free(manifest);
	close(dirfd);
	return ret;
}
