/* install.c - installing verified bundles (DESIGN.md §3, §5, §6):
 * HOME/bundles/<manifest-sha256>/ (read-only), HOME/pipelines/<name> a
 * symbolic link to it, swapped atomically; rollback and freeze refused. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static int home_dir(const char *home, const char *sub, struct al_err *err)
{
	char path[PATH_MAX];
	int fd;

	if (al_snprintf(path, sizeof path, "%s/%s", home, sub) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (al_mkdirs(path, 0700, err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "%s", path);
	return fd;
}

struct al_manifest *al_pipeline_load(const char *home, const char *name, char **text,
                                     size_t *len, struct al_err *err)
{
	char link[PATH_MAX], target[PATH_MAX], path[PATH_MAX], want[AL_SHA256_HEX];
	unsigned char sum[AL_SHA256_LEN];
	struct al_manifest *m;
	ssize_t n;

	*text = NULL;
	if (al_snprintf(link, sizeof link, "%s/pipelines/%s", home, name) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", home);
		return NULL;
	}
	n = readlink(link, target, sizeof target - 1);
	if (n < 0) {
		if (errno == ENOENT)
			al_err_set(err, AL_EUSAGE, "pipeline %s is not installed (%s)", name, link);
		else
			al_err_sys(err, "%s", link);
		return NULL;
	}
	target[n] = '\0';
	/* The link must name a verified bundle, and the manifest there must
	 * be the one its name says: content addressing, checked. */
	if (strncmp(target, "../bundles/", 11) != 0 || strlen(target) != 11 + 64 ||
	    strspn(target + 11, "0123456789abcdef") != 64) {
		al_err_set(err, AL_EVERIFY, "%s: points to %s, not to a verified bundle", link, target);
		return NULL;
	}
	al_snprintf(path, sizeof path, "%s/bundles/%s/manifest.json", home, target + 11);
	if (al_read_file(AT_FDCWD, path, AL_MANIFEST_MAX, text, len, err) < 0)
		return NULL;
	al_sha256_buf(*text, *len, sum);
	al_hex(sum, sizeof sum, want);
	if (strcmp(want, target + 11) != 0) {
		al_err_set(err, AL_EVERIFY, "%s: its SHA-256 is not the bundle's name: changed after install",
		           path);
		goto fail;
	}
	m = al_manifest_parse(*text, *len, path, AL_MANIFEST_BUNDLE, err);
	if (m != NULL)
		return m;
fail:
	free(*text);
	*text = NULL;
	return NULL;
}

struct accept_ctx {
	const char *home;
	int allow_downgrade;
	struct al_install *inst;
};

/* Rollback and freeze protection, before any file is written. */
static int accept_install(void *ctx, const struct al_manifest *m, const char *text, size_t len,
                          struct al_err *err)
{
	struct accept_ctx *c = ctx;
	struct al_manifest *old;
	struct al_err lerr = {0};
	unsigned char sum[AL_SHA256_LEN], new_sum[AL_SHA256_LEN];
	char *old_text;
	size_t old_len;
	int ret = 0;

	old = al_pipeline_load(c->home, m->pipeline, &old_text, &old_len, &lerr);
	if (old == NULL) {
		if (lerr.code == AL_EUSAGE && strstr(lerr.msg, "is not installed") != NULL)
			return 0; /* the first install */
		*err = lerr;  /* a damaged installation is not silently replaced */
		return -1;
	}
	al_sha256_buf(old_text, old_len, sum);
	al_sha256_buf(text, len, new_sum);
	al_hex(sum, sizeof sum, c->inst->previous_sha256);
	c->inst->previous_version = old->version;
	if (sodium_memcmp(sum, new_sum, sizeof sum) == 0)
		c->inst->already = 1;
	else if (m->version < old->version && !c->allow_downgrade)
		ret = al_err_set(err, AL_EVERIFY,
		                 "version %lld is older than the installed version %lld (a rollback): refused; --allow-downgrade installs it anyway, audited",
		                 (long long)m->version, (long long)old->version);
	else if (m->version == old->version && !c->allow_downgrade)
		ret = al_err_set(err, AL_EVERIFY,
		                 "version %lld is installed with another manifest (%s): a version is never reused; --allow-downgrade installs it anyway, audited",
		                 (long long)m->version, c->inst->previous_sha256);
	al_manifest_free(old);
	free(old_text);
	return ret;
}

int al_bundle_install_prepare(const char *home, const char *bundle,
                              const struct al_install_opts *io, struct al_bundle_result *res,
                              struct al_install *inst, struct al_err *err)
{
	struct accept_ctx ctx = {home, io->allow_downgrade, inst};
	struct al_bundle_opts o = {0};
	char name[AL_SHA256_HEX], old[80];
	int bfd, pfd, ret = -1;
	struct stat st;

	memset(inst, 0, sizeof *inst);
	bfd = home_dir(home, "bundles", err);
	if (bfd < 0)
		return -1;
	pfd = home_dir(home, "pipelines", err);
	if (pfd < 0) {
		close(bfd);
		return -1;
	}
	o.policy = io->policy;
	o.max_size = io->max_size;
	o.extract_dirfd = bfd;
	o.accept = accept_install;
	o.ctx = &ctx;
	if (al_bundle_verify(bundle, &o, res, err) < 0)
		goto out;
	al_hex(res->manifest_sha256, AL_SHA256_LEN, name);
	/* The name is the manifest's hash: a bundle there already holds these
	 * very files. It is replaced by the copy just verified, which is known
	 * good, in case the old one was touched. */
	if (fstatat(bfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		snprintf(old, sizeof old, ".old-%s", o.tmp_name + 5);
		if (al_sys_renameat(bfd, name, bfd, old) < 0) {
			al_err_sys(err, "%s/bundles/%s: rename", home, name);
			goto fail;
		}
		if (al_sys_renameat(bfd, o.tmp_name, bfd, name) < 0) {
			al_err_sys(err, "%s/bundles/%s: rename", home, name);
			(void)al_sys_renameat(bfd, old, bfd, name);
			goto fail;
		}
		(void)al_rm_tree(bfd, old);
	} else if (al_sys_renameat(bfd, o.tmp_name, bfd, name) < 0) {
		al_err_sys(err, "%s/bundles/%s: rename", home, name);
		goto fail;
	}
	if (al_fsync_dir(bfd, "bundles", err) < 0)
		goto out;
	ret = 0;
	goto out;
fail:
	(void)al_rm_tree(bfd, o.tmp_name);
out:
	close(bfd);
	close(pfd);
	return ret;
}

int al_bundle_install_commit(const char *home, const struct al_bundle_result *res,
                             struct al_err *err)
{
	char target[128], tmp[128], hex[AL_SHA256_HEX];
	int pfd = home_dir(home, "pipelines", err), ret = -1;

	if (pfd < 0)
		return -1;
	al_hex(res->manifest_sha256, AL_SHA256_LEN, hex);
	snprintf(target, sizeof target, "../bundles/%s", hex);
	snprintf(tmp, sizeof tmp, ".tmp-%s", res->pipeline);
	(void)unlinkat(pfd, tmp, 0);
	/* A new link beside the old one, renamed over it: at every moment
	 * the pipeline is the old version or the new one, never neither. */
	if (symlinkat(target, pfd, tmp) < 0) {
		al_err_sys(err, "%s/pipelines/%s: symlink", home, tmp);
		goto out;
	}
	al_kill_point("install-rename");
	if (al_sys_renameat(pfd, tmp, pfd, res->pipeline) < 0) {
		al_err_sys(err, "%s/pipelines/%s: rename", home, res->pipeline);
		(void)unlinkat(pfd, tmp, 0);
		goto out;
	}
	ret = al_fsync_dir(pfd, "pipelines", err);
out:
	close(pfd);
	return ret;
}

int al_pipelines_list(const char *home, int (*each)(void *ctx, const char *name,
                                                    const struct al_manifest *m,
                                                    const char *manifest_sha256, json_t *install),
                      void *ctx, struct al_err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (al_snprintf(path, sizeof path, "%s/pipelines", home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	d = opendir(path);
	if (d == NULL)
		return errno == ENOENT ? 0 : al_err_sys(err, "%s", path);
	while ((de = readdir(d)) != NULL && ret == 0) {
		struct al_manifest *m;
		struct al_err lerr = {0};
		char *text, ipath[PATH_MAX + 128], hex[AL_SHA256_HEX];
		unsigned char sum[AL_SHA256_LEN];
		size_t len;
		json_t *install;

		if (de->d_name[0] == '.')
			continue;
		m = al_pipeline_load(home, de->d_name, &text, &len, &lerr);
		if (m == NULL) {
			*err = lerr;
			ret = -1;
			break;
		}
		al_sha256_buf(text, len, sum);
		al_hex(sum, sizeof sum, hex);
		snprintf(ipath, sizeof ipath, "%s/bundles/%s/.install.json", home, hex);
		install = json_load_file(ipath, 0, NULL);
		ret = each(ctx, de->d_name, m, hex, install);
		json_decref(install);
		al_manifest_free(m);
		free(text);
	}
	closedir(d);
	return ret;
}
