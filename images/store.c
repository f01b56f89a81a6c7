/* store.c - the image store (image.h): HOME/images/<config hex>/ holds
 * rootfs/ (the unpacked tree, read-only), tree.txt (its listing) and
 * image.json (what al_image_json says), one per image whatever bundles
 * carry it. An entry is built in HOME/images/.tmp-PID-HEX/ and renamed
 * into place once complete and synced: it is there whole or not at all.
 * A .tmp- directory whose process is gone is a killed install's, and is
 * removed by the next. */
#include "images/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int store_dir(const char *home, int create, struct al_err *err)
{
	char path[PATH_MAX];
	int fd;

	if (al_snprintf(path, sizeof path, "%s/images", home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (create && al_mkdirs(path, 0700, err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT && !create ? -2 : al_err_sys(err, "%s", path);
	return fd;
}

int al_image_store_lock(const char *home, int exclusive, struct al_err *err)
{
	int sfd = store_dir(home, 1, err), fd;

	if (sfd < 0)
		return -1;
	fd = al_openat(sfd, ".lock", O_RDWR | O_CREAT, 0600);
	close(sfd);
	if (fd < 0)
		return al_err_sys(err, "%s/images/.lock", home);
	while (flock(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) < 0) {
		if (errno == EINTR)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return al_err_set(err, AL_EBUSY,
			                  "the image store is in use (a run or an install holds it): "
			                  "try again once they end");
		return al_err_sys(err, "%s/images/.lock", home);
	}
	return fd;
}

/* Leftovers of installs that were killed. */
static void sweep(int sfd)
{
	int fd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		long pid;
		if (strncmp(de->d_name, ".tmp-", 5) != 0 && strncmp(de->d_name, ".rm-", 4) != 0)
			continue;
		pid = strtol(de->d_name + (de->d_name[1] == 't' ? 5 : 4), NULL, 10);
		if (pid > 0 && (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		(void)al_rm_tree(sfd, de->d_name);
	}
	closedir(d);
}

json_t *al_image_load(const char *home, const char *digest, char *root, size_t n,
                      struct al_err *err)
{
	char path[PATH_MAX];
	json_t *meta;

	if (!al_image_digest_ok(digest)) {
		al_err_set(err, AL_EUSAGE, "%s: not sha256:HEX", digest);
		return NULL;
	}
	if (al_snprintf(path, sizeof path, "%s/images/%s/image.json", home, digest + 7) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", home);
		return NULL;
	}
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		al_err_set(err, AL_EUSAGE, "image %s is not in the store (%s/images): install the bundle "
		           "that carries it", digest, home);
		return NULL;
	}
	meta = al_json_load_file(path, AL_IMAGE_JSON_MAX, err);
	if (meta == NULL)
		return NULL;
	if (strcmp(json_string_value(json_object_get(meta, "config_digest")) != NULL
	               ? json_string_value(json_object_get(meta, "config_digest"))
	               : "",
	           digest) != 0) {
		json_decref(meta);
		al_err_set(err, AL_EVERIFY, "%s: names another image than its directory", path);
		return NULL;
	}
	if (root != NULL && al_snprintf(root, n, "%s/images/%s/rootfs", home, digest + 7) < 0) {
		json_decref(meta);
		al_err_set(err, AL_EUSAGE, "%s: path too long", home);
		return NULL;
	}
	return meta;
}

/* Facts of a stored image back into img (when it was unpacked before). */
static void from_meta(struct al_image *img, json_t *meta)
{
	const char *tree = json_string_value(json_object_get(meta, "tree_sha256"));

	img->unpacked_bytes = (uint64_t)json_integer_value(json_object_get(meta, "unpacked_bytes"));
	img->entries = (uint64_t)json_integer_value(json_object_get(meta, "entries"));
	snprintf(img->tree_sha256, sizeof img->tree_sha256, "%s", tree != NULL ? tree : "");
}

static int unpack_new(const char *home, int sfd, const char *archive, struct al_image *img,
                      struct al_progress *pr, uint64_t max_bytes, struct al_err *err)
{
	char tmp[128], path[PATH_MAX];
	json_t *meta = NULL;
	char *text = NULL;
	int dfd = -1, rootfd = -1, tree = -1, ret = -1;

	snprintf(tmp, sizeof tmp, ".tmp-%ld-%s", (long)getpid(), img->config_digest + 7);
	(void)al_rm_tree(sfd, tmp);
	if (mkdirat(sfd, tmp, 0700) < 0 ||
	    (dfd = openat(sfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    mkdirat(dfd, "rootfs", 0755) < 0 ||
	    (rootfd = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (tree = openat(dfd, "tree.txt", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444)) < 0) {
		al_err_sys(err, "%s/images/%s", home, tmp);
		goto out;
	}
	if (al_image_unpack(archive, img, rootfd, tree, max_bytes, pr, err) < 0)
		goto out;
	meta = al_image_json(img);
	text = meta != NULL ? json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	if (text == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	/* the tree, its listing and its record on disk before the rename */
	if (al_write_atomic(dfd, "image.json", text, strlen(text), 0444, NULL, err) < 0)
		goto out;
	if (al_sys_syncfs(dfd) < 0) {
		al_snprintf(path, sizeof path, "%s/images/%s", home, tmp);
		al_err_sys(err, "%s: syncfs", path);
		goto out;
	}
	if (al_sys_renameat(sfd, tmp, sfd, img->config_digest + 7) < 0) {
		struct al_err lerr = {0};
		json_t *there = (errno == ENOTEMPTY || errno == EEXIST)
		                    ? al_image_load(home, img->config_digest, NULL, 0, &lerr)
		                    : NULL;
		/* another install of the same image got there first: the same tree */
		if (there != NULL) {
			json_decref(there);
			ret = 0;
			goto out_rm;
		}
		al_err_sys(err, "%s/images/%s: rename", home, img->config_digest + 7);
		goto out;
	}
	ret = al_fsync_dir(sfd, "images", err);
out:
	if (tree >= 0)
		close(tree);
	if (rootfd >= 0)
		close(rootfd);
	if (dfd >= 0)
		close(dfd);
	if (ret < 0)
out_rm:
		(void)al_rm_tree(sfd, tmp);
	free(text);
	json_decref(meta);
	return ret;
}

int al_image_install(const char *home, const char *archive, const char *want_digest,
                     uint64_t max_bytes, struct al_image *img, int *already,
                     struct al_progress *pr, struct al_err *err)
{
	struct al_err lerr = {0};
	json_t *meta;
	int sfd, ret;

	*already = 0;
	if (al_image_read(archive, img, pr, err) < 0)
		return -1;
	if (want_digest != NULL && strcmp(want_digest, img->config_digest) != 0) {
		img_refuse(err, archive, NULL, NULL,
		           "its image is %s; the manifest names %s (another image)", img->config_digest,
		           want_digest);
		al_image_free(img);
		return -1;
	}
	sfd = store_dir(home, 1, err);
	if (sfd < 0) {
		al_image_free(img);
		return -1;
	}
	sweep(sfd);
	meta = al_image_load(home, img->config_digest, NULL, 0, &lerr);
	if (meta != NULL) {
		from_meta(img, meta);
		json_decref(meta);
		close(sfd);
		/* the same limit whether or not an earlier install paid for it */
		if (max_bytes > 0 && img->unpacked_bytes > max_bytes) {
			img_refuse(err, archive, NULL, NULL,
			           "the image unpacks to %llu bytes, more than %llu (--max-size, with the "
			           "bundle's files)",
			           (unsigned long long)img->unpacked_bytes, (unsigned long long)max_bytes);
			al_image_free(img);
			return -1;
		}
		*already = 1;
		return 0;
	}
	ret = unpack_new(home, sfd, archive, img, pr, max_bytes, err);
	close(sfd);
	if (ret < 0)
		al_image_free(img);
	return ret;
}

json_t *al_image_list(const char *home, struct al_err *err)
{
	json_t *out = json_array();
	int sfd = store_dir(home, 0, err);
	DIR *d;
	struct dirent *de;

	if (sfd == -2)
		return out;
	if (sfd < 0 || out == NULL || (d = fdopendir(sfd)) == NULL) {
		if (sfd >= 0)
			close(sfd);
		json_decref(out);
		if (sfd >= 0)
			al_err_sys(err, "%s/images", home);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		char digest[AL_IMAGE_DIGEST_LEN];
		struct al_err lerr = {0};
		json_t *meta;
		if (de->d_name[0] == '.')
			continue;
		snprintf(digest, sizeof digest, "sha256:%.64s", de->d_name);
		meta = al_image_load(home, digest, NULL, 0, &lerr);
		if (meta == NULL)
			meta = json_pack("{s:s,s:s}", "config_digest", digest, "error", lerr.msg);
		json_array_append_new(out, meta);
	}
	closedir(d);
	return out;
}

int al_image_remove(const char *home, const char *digest, struct al_err *err)
{
	char gone[128];
	int sfd;

	if (!al_image_digest_ok(digest))
		return al_err_set(err, AL_EUSAGE, "%s: not sha256:HEX", digest);
	sfd = store_dir(home, 0, err);
	if (sfd == -2)
		return al_err_set(err, AL_EUSAGE, "image %s is not in the store", digest);
	if (sfd < 0)
		return -1;
	snprintf(gone, sizeof gone, ".rm-%ld-%s", (long)getpid(), digest + 7);
	if (al_sys_renameat(sfd, digest + 7, sfd, gone) < 0) {
		int e = errno;
		close(sfd);
		if (e == ENOENT)
			return al_err_set(err, AL_EUSAGE, "image %s is not in the store", digest);
		errno = e;
		return al_err_sys(err, "%s/images/%s: rename", home, digest + 7);
	}
	if (al_fsync_dir(sfd, "images", err) < 0) {
		close(sfd);
		return -1;
	}
	if (al_rm_tree(sfd, gone) < 0) {
		close(sfd);
		return al_err_sys(err, "%s/images/%s: cannot remove", home, gone);
	}
	close(sfd);
	return 0;
}
