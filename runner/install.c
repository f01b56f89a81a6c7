/* install.c - a bundle into the home, audited (DESIGN.md §6): verified
 * against the trust policy and extracted in one pass, with its outcome
 * recorded durably (bundle.verified, or bundle.rejected naming the
 * member at fault); for `airlock install`, then pipeline.installed
 * before the pipeline's link moves (pipeline.install_failed when it
 * cannot). `airlock run BUNDLE` takes the same path without the link:
 * nothing of a bundle runs unverified or unaudited. */
#include "runner.h"

#include "images/image.h"

#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int al_audit_bundle(struct al_audit *log, const char *bundle, int ok,
                    const struct al_bundle_result *res, struct al_err *err)
{
	return al_audit_bundle_images(log, bundle, ok, res, NULL, err);
}

/* The images of a bundle just prepared (extracted under bundles/), into
 * the store. One refused refuses the bundle: its directory goes (unless
 * this very manifest was installed already), and the result says why,
 * naming the archive as the member at fault. */
static int install_images(struct al_audit *log, const struct al_bundle_install *q,
                          struct al_bundle_installed *out, json_t **images, int *lockfd,
                          struct al_err *err)
{
	char mpath[PATH_MAX + 32], *text = NULL;
	struct al_manifest *m;
	size_t len;
	int r;

	al_snprintf(mpath, sizeof mpath, "%s/manifest.json", out->dir);
	if (al_read_file(AT_FDCWD, mpath, AL_MANIFEST_MAX, &text, &len, err) < 0)
		return -1;
	m = al_manifest_parse(text, len, mpath, AL_MANIFEST_BUNDLE, err);
	if (m == NULL) {
		free(text);
		return -1;
	}
	/* the store stays as it is (prune waits) until the pipeline is linked */
	if (m->images_n > 0 && (*lockfd = al_image_store_lock(q->home, 0, err)) < 0)
		r = -1;
	else
		r = m->images_n == 0 ? 0
		                     : al_images_install(log, q->home, m, out->dir, q->max_size,
		                                         q->progress, images, err);
	if (r < 0) {
		if (err->code == AL_EVERIFY) {
			const char *name = "";
			for (size_t i = 0; i < m->images_n; i++)
				if (strstr(err->msg, m->images[i].archive) != NULL)
					name = m->images[i].archive;
			al_snprintf(out->res.reason, sizeof out->res.reason, "%s", err->msg);
			al_snprintf(out->res.member, sizeof out->res.member, "%s", name);
		}
		if (!out->inst.already) {
			(void)al_rm_tree(AT_FDCWD, out->dir);
			(void)al_fsync_parent(out->dir, NULL);
		}
	}
	al_manifest_free(m);
	free(text);
	return r;
}

int al_audit_bundle_images(struct al_audit *log, const char *bundle, int ok,
                           const struct al_bundle_result *res, json_t *images, struct al_err *err)
{
	char bhex[AL_SHA256_HEX], mhex[AL_SHA256_HEX];
	json_t *f;
	int ret;

	if (log == NULL)
		return 0;
	if (!ok) {
		/* The pass stopped early: the file's hash is taken anew. */
		unsigned char sum[AL_SHA256_LEN];
		if (al_sha256_file(bundle, sum, NULL, NULL) == 0)
			al_hex(sum, sizeof sum, bhex);
		else
			snprintf(bhex, sizeof bhex, "unreadable");
		f = json_pack("{s:s,s:s,s:s,s:s}", "bundle", bundle, "bundle_sha256", bhex, "reason",
		              res->reason, "member", res->member);
		ret = al_audit_append(log, "bundle.rejected", f, AL_AUDIT_SYNC, err);
		json_decref(f);
		return ret;
	}
	al_hex(res->bundle_sha256, AL_SHA256_LEN, bhex);
	al_hex(res->manifest_sha256, AL_SHA256_LEN, mhex);
	f = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:I}", "bundle", bundle, "bundle_sha256", bhex,
	              "manifest_sha256", mhex, "pipeline", res->pipeline, "version",
	              (json_int_t)res->version, "signers", al_bundle_signers_json(res), "files",
	              (json_int_t)res->files);
	if (res->ignored[0] != '\0')
		json_object_set_new(f, "ignored", json_string(res->ignored));
	if (json_array_size(images) > 0)
		json_object_set(f, "images", images);
	ret = al_audit_append(log, "bundle.verified", f, AL_AUDIT_SYNC, err);
	json_decref(f);
	return ret;
}

/* pipeline.installed, durable, then the link; pipeline.install_failed
 * when the link cannot move. */
static int install_link(struct al_audit *log, const struct al_bundle_install *q,
                        struct al_bundle_installed *out, json_t *images, struct al_err *err)
{
	const struct al_bundle_result *res = &out->res;
	json_t *f;
	int r;

	f = json_pack("{s:s,s:I,s:s,s:s,s:I}", "pipeline", res->pipeline, "version",
	              (json_int_t)res->version, "manifest_sha256", out->manifest_sha256, "previous",
	              out->inst.previous_sha256, "previous_version",
	              (json_int_t)out->inst.previous_version);
	if (q->allow_downgrade)
		json_object_set_new(f, "allow_downgrade", json_true());
	if (json_array_size(images) > 0)
		json_object_set(f, "images", images);
	r = al_audit_append(log, "pipeline.installed", f, AL_AUDIT_SYNC, err);
	json_decref(f);
	if (r < 0)
		return -1;
	if (al_bundle_install_commit(q->home, res, err) < 0) {
		f = json_pack("{s:s,s:s,s:s}", "pipeline", res->pipeline, "manifest_sha256",
		              out->manifest_sha256, "reason", err->msg);
		(void)al_audit_append(log, "pipeline.install_failed", f, AL_AUDIT_SYNC, NULL);
		json_decref(f);
		return -1;
	}
	return 0;
}

int al_install_bundle(const struct al_bundle_install *q, struct al_bundle_installed *out,
                      struct al_err *err)
{
	struct al_install_opts io = {0};
	struct al_policy pol = {0};
	struct al_audit *log = NULL;
	struct al_err aerr = {0};
	json_t *images = NULL;
	int r, ret = -1, lockfd = -1;

	memset(out, 0, sizeof *out);
	/* The audit log first: nothing is installed unaudited. */
	if (al_crypto_init(err) < 0 || (log = al_audit_open(q->home, err)) == NULL ||
	    al_policy_load(q->keys_dir, &pol, err) < 0)
		goto out;
	io.policy = &pol;
	io.max_size = q->max_size;
	io.allow_downgrade = q->allow_downgrade;
	r = al_bundle_install_prepare(q->home, q->bundle, &io, &out->res, &out->inst, err);
	if (r == 0) {
		al_hex(out->res.manifest_sha256, AL_SHA256_LEN, out->manifest_sha256);
		al_snprintf(out->dir, sizeof out->dir, "%s/bundles/%s", q->home, out->manifest_sha256);
		r = install_images(log, q, out, &images, &lockfd, err);
	}
	if ((r == 0 || err->code == AL_EVERIFY) &&
	    al_audit_bundle_images(log, q->bundle, r == 0, &out->res, images, &aerr) < 0) {
		*err = aerr;
		goto out;
	}
	if (r < 0)
		goto out;
	if (q->link && !out->inst.already && install_link(log, q, out, images, err) < 0)
		goto out;
	ret = 0;
out:
	if (al_audit_close(log, &aerr) < 0 && ret == 0) {
		*err = aerr;
		ret = -1;
	}
	al_policy_free(&pol);
	json_decref(images);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}
