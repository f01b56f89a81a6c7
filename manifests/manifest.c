/* manifest.c - parsing and validating airlock.manifest/1 (FORMAT.md):
 * every field, by allow-list; every error names the field by its JSON
 * path. Typos must not silently disable a safety feature, so nothing
 * unknown is ignored. */
#include "manifests/parse.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names a bundle reserves for itself. */
static int path_reserved(const char *p)
{
	return strcmp(p, "manifest.json") == 0 || strcmp(p, "airlock.json") == 0 ||
	       strcmp(p, ".install.json") == 0 || strcmp(p, "signatures") == 0 ||
	       strncmp(p, "signatures/", 11) == 0;
}

/* ---- files ---- */

static int parse_files(struct vctx *v, struct al_manifest *m, json_t *arr)
{
	static const char *const allowed[] = {"path", "sha256", "size", "mode", NULL};
	json_t *f;
	char ep[64], p[128];
	size_t i;

	if (!json_is_array(arr))
		return bad(v, "files", "must be an array");
	if (json_array_size(arr) > FILES_MAX)
		return bad(v, "files", "more than %d files", FILES_MAX);
	m->files = calloc(json_array_size(arr) + 1, sizeof *m->files);
	if (m->files == NULL)
		return al_err_sys(v->err, "cannot allocate memory");
	json_array_foreach(arr, i, f) {
		struct al_file *file = &m->files[i];
		const char *sha, *mode, *why;
		int64_t size = 0;
		mf_elem(ep, sizeof ep, "files", i);
		if (mf_only(v, f, ep, allowed) < 0 || mf_want_string(v, f, "path", ep, 1, &file->path) < 0 ||
		    mf_want_string(v, f, "sha256", ep, 1, &sha) < 0 ||
		    mf_want_int(v, f, "size", ep, 1, 0, INT64_MAX, &size) < 0 ||
		    mf_want_string(v, f, "mode", ep, 1, &mode) < 0)
			return -1;
		mf_child(p, sizeof p, ep, "path");
		if ((why = mf_path_problem(file->path)) != NULL)
			return bad(v, p, "\"%s\": %s", file->path, why);
		if (path_reserved(file->path))
			return bad(v, p, "\"%s\": a name the bundle reserves", file->path);
		if (i > 0) {
			const char *prev = m->files[i - 1].path;
			size_t pl = strlen(prev);
			if (strcmp(prev, file->path) >= 0)
				return bad(v, p, "\"%s\": files must be sorted by path, each once", file->path);
			if (strncmp(file->path, prev, pl) == 0 && file->path[pl] == '/')
				return bad(v, p, "\"%s\": %s is a file, not a directory", file->path, prev);
		}
		mf_child(p, sizeof p, ep, "sha256");
		if (strlen(sha) != 64 || al_unhex(sha, 64, file->sha256, AL_SHA256_LEN) < 0 ||
		    strspn(sha, "0123456789abcdef") != 64)
			return bad(v, p, "not 64 lowercase hex digits");
		mf_child(p, sizeof p, ep, "mode");
		if (strcmp(mode, "0644") == 0)
			file->mode = 0644;
		else if (strcmp(mode, "0755") == 0)
			file->mode = 0755;
		else
			return bad(v, p, "\"%s\": must be 0644 or 0755 (no setuid, setgid or sticky bits)", mode);
		file->size = (uint64_t)size;
		m->files_bytes += file->size;
		m->files_n++;
	}
	/* "a" and "a/b" do not sort next to each other when "a-x" comes
	 * between: look for a file that is a prefix directory of another. */
	for (i = 0; i < m->files_n; i++) {
		char dir[PATH_MAX_BYTES + 1];
		const char *slash;
		snprintf(dir, sizeof dir, "%s", m->files[i].path);
		while ((slash = strrchr(dir, '/')) != NULL) {
			dir[slash - dir] = '\0';
			if (mf_file_find(m, dir) != NULL) {
				mf_elem(ep, sizeof ep, "files", i);
				mf_child(p, sizeof p, ep, "path");
				return bad(v, p, "\"%s\": %s is a file, not a directory", m->files[i].path, dir);
			}
		}
	}
	return 0;
}

/* ---- the whole ---- */

static int parse_secrets(struct vctx *v, json_t *secrets)
{
	static const char *const allowed[] = {"file", "max_age", "check", NULL};
	const char *k, *file;
	const char **check = NULL;
	json_t *s;
	char p[512];
	int64_t ms;

	if (secrets == NULL)
		return 0;
	if (!json_is_object(secrets))
		return bad(v, "secrets", "must be an object");
	json_object_foreach(secrets, k, s) {
		mf_child(p, sizeof p, "secrets", k);
		if (!mf_name_ok(k, 64, 0) || k[0] < 'a')
			return bad(v, p, "not a secret name ([a-z][a-z0-9_]{0,63})");
		if (mf_only(v, s, p, allowed) < 0 || mf_want_string(v, s, "file", p, 1, &file) < 0 ||
		    mf_want_duration(v, s, "max_age", p, 0, &ms) < 0 || mf_want_argv(v, s, "check", p, 0, &check) < 0) {
			free(check);
			return -1;
		}
		free(check);
		check = NULL;
		if (file[0] != '/') {
			char fp[600];
			mf_child(fp, sizeof fp, p, "file");
			return bad(v, fp, "\"%s\": must be an absolute path", file);
		}
	}
	return 0;
}

/* "images": {NAME: {"archive", "digest"}}: each archive a file of the
 * bundle, each digest the image's config digest (pack fills it in). */
static int parse_images(struct vctx *v, struct al_manifest *m, json_t *images, int bundle)
{
	static const char *const allowed[] = {"archive", "digest", NULL};
	const char *k, *why;
	json_t *im;
	char p[512], fp[600];

	if (images == NULL)
		return 0;
	if (!json_is_object(images))
		return bad(v, "images", "must be an object: {NAME: {\"archive\": PATH, \"digest\": \"sha256:HEX\"}}");
	if (json_object_size(images) > 64)
		return bad(v, "images", "more than 64 images");
	m->images = calloc(json_object_size(images) + 1, sizeof *m->images);
	if (m->images == NULL)
		return al_err_sys(v->err, "cannot allocate memory");
	json_object_foreach(images, k, im) {
		struct al_image_ref *r = &m->images[m->images_n];
		mf_child(p, sizeof p, "images", k);
		if (!mf_name_ok(k, 64, 1))
			return bad(v, p, "not an image name ([a-z0-9][a-z0-9_-]{0,63})");
		if (mf_only(v, im, p, allowed) < 0 || mf_want_string(v, im, "archive", p, 1, &r->archive) < 0 ||
		    mf_want_string(v, im, "digest", p, bundle, &r->digest) < 0)
			return -1;
		r->name = k;
		m->images_n++;
		mf_child(fp, sizeof fp, p, "archive");
		if ((why = mf_path_problem(r->archive)) != NULL)
			return bad(v, fp, "\"%s\": %s", r->archive, why);
		if (bundle && mf_file_find(m, r->archive) == NULL)
			return bad(v, fp, "\"%s\" is not a file of the bundle", r->archive);
		mf_child(fp, sizeof fp, p, "digest");
		if (r->digest != NULL && (strncmp(r->digest, "sha256:", 7) != 0 || strlen(r->digest) != 71 ||
		                          strspn(r->digest + 7, "0123456789abcdef") != 64))
			return bad(v, fp, "\"%s\": not sha256: and 64 lowercase hex digits (the image ID)",
			           r->digest);
	}
	return 0;
}

static int parse_resources(struct vctx *v, json_t *res)
{
	static const char *const allowed[] = {"breaker", NULL};
	static const char *const breaker_fields[] = {"failures", "cooldown", NULL};
	const char *k;
	json_t *r, *b;
	char p[512], bp[600];
	int64_t n, ms;

	if (res == NULL)
		return 0;
	if (!json_is_object(res))
		return bad(v, "resources", "must be an object");
	json_object_foreach(res, k, r) {
		mf_child(p, sizeof p, "resources", k);
		if (!mf_name_ok(k, 64, 1))
			return bad(v, p, "not a resource name ([a-z0-9][a-z0-9_-]{0,63})");
		if (mf_only(v, r, p, allowed) < 0)
			return -1;
		b = json_object_get(r, "breaker");
		if (b == NULL)
			continue;
		mf_child(bp, sizeof bp, p, "breaker");
		if (mf_only(v, b, bp, breaker_fields) < 0 ||
		    mf_want_int(v, b, "failures", bp, 1, 1, 1000, &n) < 0 ||
		    mf_want_duration(v, b, "cooldown", bp, 1, &ms) < 0)
			return -1;
	}
	return 0;
}

struct al_manifest *al_manifest_parse(const char *buf, size_t len, const char *name,
                                      enum al_manifest_mode mode, struct al_err *err)
{
	static const char *const allowed[] = {"format", "pipeline", "version", "expires", "created",
	                                      "defaults", "secrets", "resources", "images", "steps",
	                                      "files", NULL};
	struct vctx v = {name, err, 0};
	struct al_manifest *m = calloc(1, sizeof *m);
	struct al_step defaults;
	const char *format, *expires, *created;
	json_t *steps, *step;
	size_t i;

	if (m == NULL || (m->step_ids = json_object()) == NULL) {
		free(m);
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	if (len > AL_MANIFEST_MAX) {
		mf_bad_report(&v, "", "larger than %u bytes", AL_MANIFEST_MAX);
		goto fail;
	}
	m->root = al_json_parse(buf, len, name, err);
	if (m->root == NULL)
		goto fail;
	if (!json_is_object(m->root)) {
		mf_bad_report(&v, "", "not a JSON object");
		goto fail;
	}
	if (mf_only(&v, m->root, "", allowed) < 0 ||
	    mf_want_string(&v, m->root, "format", "", 1, &format) < 0)
		goto fail;
	if (strcmp(format, AL_MANIFEST_FORMAT) != 0) {
		mf_bad_report(&v, "format", "\"%s\": this airlock reads " AL_MANIFEST_FORMAT, format);
		goto fail;
	}
	if (mf_want_string(&v, m->root, "pipeline", "", 1, &m->pipeline) < 0 ||
	    mf_want_int(&v, m->root, "version", "", 1, 1, INT64_MAX, &m->version) < 0 ||
	    mf_want_string(&v, m->root, "expires", "", 1, &expires) < 0 ||
	    mf_want_string(&v, m->root, "created", "", mode == AL_MANIFEST_BUNDLE, &created) < 0)
		goto fail;
	if (!mf_name_ok(m->pipeline, 64, 1)) {
		mf_bad_report(&v, "pipeline", "\"%s\": not a pipeline name ([a-z0-9][a-z0-9_-]{0,63})", m->pipeline);
		goto fail;
	}
	if (al_ts_parse(expires, &m->expires_us, NULL) < 0) {
		mf_bad_report(&v, "expires", "\"%s\": not an RFC 3339 time (2027-03-01T00:00:00Z)", expires);
		goto fail;
	}
	if (created != NULL) {
		if (mode == AL_MANIFEST_SOURCE) {
			mf_bad_report(&v, "created", "set by airlock pack, not by the author");
			goto fail;
		}
		if (al_ts_parse(created, &m->created_us, NULL) < 0) {
			mf_bad_report(&v, "created", "\"%s\": not an RFC 3339 time", created);
			goto fail;
		}
	}
	if (mode == AL_MANIFEST_SOURCE && json_object_get(m->root, "files") != NULL) {
		mf_bad_report(&v, "files", "filled by airlock pack, not by the author");
		goto fail;
	}
	if (mode == AL_MANIFEST_BUNDLE) {
		if (json_object_get(m->root, "files") == NULL) {
			mf_bad_report(&v, "files", "missing");
			goto fail;
		}
		if (parse_files(&v, m, json_object_get(m->root, "files")) < 0)
			goto fail;
	}
	if (parse_images(&v, m, json_object_get(m->root, "images"), mode == AL_MANIFEST_BUNDLE) < 0 ||
	    mf_parse_defaults(&v, json_object_get(m->root, "defaults"), &defaults) < 0 ||
	    parse_secrets(&v, json_object_get(m->root, "secrets")) < 0 ||
	    parse_resources(&v, json_object_get(m->root, "resources")) < 0)
		goto fail;
	steps = json_object_get(m->root, "steps");
	if (!json_is_array(steps) || json_array_size(steps) == 0 ||
	    json_array_size(steps) > AL_STEPS_MAX) {
		mf_bad_report(&v, "steps", steps == NULL ? "missing" : "must be an array of 1 to 10000 steps");
		goto fail;
	}
	m->steps = calloc(json_array_size(steps), sizeof *m->steps);
	if (m->steps == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto fail;
	}
	json_array_foreach(steps, i, step) {
		m->steps_n = i + 1;
		if (mf_parse_step(&v, m, step, i, &defaults, json_object_get(m->root, "secrets"),
		               json_object_get(m->root, "resources")) < 0)
			goto fail;
	}
	if (mf_check_steps(&v, m, mode == AL_MANIFEST_BUNDLE) < 0)
		goto fail;
	return m;
fail:
	if (!v.failed && err != NULL && err->msg[0] == '\0')
		al_err_set(err, AL_EUSAGE, "%s: invalid manifest", name);
	al_manifest_free(m);
	return NULL;
}

void al_manifest_free(struct al_manifest *m)
{
	if (m == NULL)
		return;
	json_decref(m->step_ids);
	for (size_t i = 0; i < m->steps_n; i++) {
		free(m->steps[i].run);
		free(m->steps[i].verify);
		free(m->steps[i].needs);
		free(m->steps[i].secrets);
		free(m->steps[i].outputs);
		free(m->steps[i].mounts);
		free(m->steps[i].syscalls);
	}
	free(m->steps);
	free(m->files);
	free(m->images);
	json_decref(m->root);
	free(m);
}

