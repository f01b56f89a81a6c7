/* images.c - the images a manifest names (FORMAT.md, "Images"), into the
 * store and back: each archive read and checked against the digest the
 * signed manifest names, unpacked once into HOME/images/ (image.unpacked
 * in the audit log), and, for a run, each step's image found in the
 * store with the facts its step.start records. */
#include "runner/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images/image.h"

int al_images_install(struct al_audit *log, const char *home, const struct al_manifest *m,
                      const char *dir, uint64_t max_size, struct al_progress *pr, json_t **facts,
                      struct al_err *err)
{
	uint64_t budget = max_size > 0 ? max_size : AL_BUNDLE_MAX_SIZE;

	*facts = json_array();
	if (*facts == NULL)
		return al_err_sys(err, "cannot allocate memory");
	budget = budget > m->files_bytes ? budget - m->files_bytes : 1;
	for (size_t i = 0; i < m->images_n; i++) {
		const struct al_image_ref *ref = &m->images[i];
		struct al_image img;
		char path[PATH_MAX * 2];
		int already = 0, r = 0;
		if (al_snprintf(path, sizeof path, "%s/%s", dir, ref->archive) < 0) {
			al_err_set(err, AL_EUSAGE, "%s: path too long", dir);
			goto fail;
		}
		if (pr != NULL)
			(void)al_snprintf(pr->subject, sizeof pr->subject, "image %s", ref->name);
		if (al_image_install(home, path, ref->digest, budget, &img, &already, pr, err) < 0) {
			al_err_prefix(err, "image %s", ref->name);
			goto fail;
		}
		budget = budget > img.unpacked_bytes ? budget - img.unpacked_bytes : 1;
		if (!already && log != NULL) {
			json_t *f = al_image_json(&img);
			json_object_del(f, "config");
			json_object_set_new(f, "image", json_string(ref->name));
			json_object_set_new(f, "archive", json_string(ref->archive));
			r = al_audit_append(log, "image.unpacked", f, AL_AUDIT_SYNC, err);
			json_decref(f);
		}
		if (r == 0)
			json_array_append_new(*facts, json_pack("{s:s,s:s,s:s,s:s}", "name", ref->name,
			                                        "config_digest", img.config_digest,
			                                        "manifest_digest", img.manifest_digest,
			                                        "tree_sha256", img.tree_sha256));
		al_image_free(&img);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	json_decref(*facts);
	*facts = NULL;
	return -1;
}

/* A step with an image and no run runs the image's Entrypoint followed
 * by its Cmd, as `docker run IMAGE` would; the strings are the run's
 * images' (r->images), the array the manifest's to free. */
static int image_argv(struct al_step *st, json_t *meta, struct al_err *err)
{
	json_t *cfg = json_object_get(meta, "config"), *v;
	json_t *parts[2] = {json_object_get(cfg, "Entrypoint"), json_object_get(cfg, "Cmd")};
	size_t n = json_array_size(parts[0]) + json_array_size(parts[1]), k = 0, i;
	const char **argv;

	if (n == 0)
		return al_err_set(err, AL_EUSAGE,
		                  "step %s has no run, and image %s has neither Entrypoint nor Cmd",
		                  st->id, st->image);
	argv = calloc(n + 1, sizeof *argv);
	if (argv == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (int p = 0; p < 2; p++)
		json_array_foreach(parts[p], i, v) {
			if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
				free(argv);
				return al_err_set(err, AL_EUSAGE, "image %s: Entrypoint and Cmd must be strings",
				                  st->image);
			}
			argv[k++] = json_string_value(v);
		}
	if (argv[0][0] == '\0') {
		free(argv);
		return al_err_set(err, AL_EUSAGE, "image %s: an empty program name", st->image);
	}
	st->run = argv;
	return 0;
}

/* The store's tree of an image, hashed again as it is now, against the
 * hash its install recorded: a tree changed since (a byte, a mode, an
 * entry added or removed) refuses the run before run.start, with an
 * image.refused entry saying both hashes. */
static int tree_recheck(struct run *r, const struct al_image_ref *ref, const char *root,
                        json_t *meta, struct al_err *err)
{
	const char *want = json_string_value(json_object_get(meta, "tree_sha256"));
	char now[AL_SHA256_HEX];

	if (al_image_tree_check(root, now, err) < 0)
		return -1;
	if (want != NULL && strcmp(now, want) == 0)
		return 0;
	if (r->log != NULL &&
	    eng_audit(r, "image.refused",
	              json_pack("{s:s,s:s,s:s,s:s,s:s}", "image", ref->name, "config_digest",
	                        ref->digest, "tree_sha256", now, "installed_tree_sha256",
	                        want != NULL ? want : "", "reason",
	                        "the tree in the store is not the one installed"),
	              AL_AUDIT_SYNC) < 0)
		return -1;
	return al_err_set(err, AL_EVERIFY,
	                  "the tree in the store is not the one installed: %s lists as sha256 %s, its "
	                  "install recorded %s (changed since; airlock image prune, then install again)",
	                  root, now, want != NULL ? want : "nothing");
}

/* The default PATH of an image without one (as OCI runtimes set it). */
#define IMAGE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int eng_images_load(struct run *r, struct al_err *err)
{
	json_t *facts = NULL;

	r->images = json_array();
	if (r->images == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (r->m->images_n == 0)
		return 0;
	/* the store stays as it is until the run ends: prune waits */
	if ((r->images_lockfd = al_image_store_lock(r->o->home, 0, err)) < 0)
		return -1;
	/* An unsigned directory's images enter the store now, audited; a
	 * bundle's did when it was verified. */
	if (strcmp(r->source, "dir") == 0) {
		if (al_images_install(r->log, r->o->home, r->m, r->bundle_dir, 0, r->o->progress, &facts,
		                      err) < 0)
			return -1;
		json_decref(facts);
	}
	for (size_t i = 0; i < r->m->images_n; i++) {
		const struct al_image_ref *ref = &r->m->images[i];
		char root[PATH_MAX];
		json_t *meta = al_image_load(r->o->home, ref->digest, root, sizeof root, err);
		json_t *cfg, *env, *v;
		size_t k;
		const char *path = IMAGE_PATH, *user;
		uint32_t uid, gid;
		if (meta == NULL || tree_recheck(r, ref, root, meta, err) < 0) {
			json_decref(meta);
			al_err_prefix(err, "image %s", ref->name);
			return -1;
		}
		cfg = json_object_get(meta, "config");
		env = json_object();
		json_array_foreach(json_object_get(cfg, "Env"), k, v) {
			const char *s = json_string_value(v), *eq = s != NULL ? strchr(s, '=') : NULL;
			char name[256];
			if (eq == NULL || eq == s || (size_t)(eq - s) >= sizeof name)
				continue;
			memcpy(name, s, (size_t)(eq - s));
			name[eq - s] = '\0';
			if (strcmp(name, "PATH") == 0)
				path = eq + 1;
			else
				json_object_set_new(env, name, json_string(eq + 1));
		}
		user = json_string_value(json_object_get(cfg, "User"));
		if (al_image_user(root, user, &uid, &gid, err) < 0) {
			al_err_prefix(err, "image %s", ref->name);
			json_decref(env);
			json_decref(meta);
			return -1;
		}
		json_array_append_new(r->images,
		                      json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:O,s:{s:s,s:I,s:I}}", "name",
		                                ref->name, "digest", ref->digest, "tree_sha256",
		                                json_string_value(json_object_get(meta, "tree_sha256")),
		                                "root", root, "env", env, "path", path, "config",
		                                cfg != NULL ? cfg : json_null(), "user", "config",
		                                user != NULL ? user : "", "uid", (json_int_t)uid, "gid",
		                                (json_int_t)gid));
		json_decref(meta);
	}
	for (size_t i = 0; i < r->m->steps_n; i++) {
		struct al_step *st = &r->m->steps[i];
		if (st->image_idx >= 0 && st->run == NULL &&
		    image_argv(st, json_array_get(r->images, (size_t)st->image_idx), err) < 0)
			return -1;
	}
	return 0;
}

json_t *eng_image_of(const struct run *r, const struct step_rt *s)
{
	if (s->def->image_idx < 0 || r->images == NULL)
		return NULL;
	return json_array_get(r->images, (size_t)s->def->image_idx);
}
