/* resolve.c - the names a step is known by and the world it is given:
 * its idempotency key (DESIGN.md §8), STEP:FILE references, its argv with
 * programs and files of the bundle resolved, and its environment. Pure
 * functions of the run's plan; it calls nothing of the engine. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* hex SHA-256 of pipeline "\n" manifest_sha256 "\n" date "\n" step. */
void eng_idempotency_key(const struct run *r, const char *step, char out[AL_SHA256_HEX])
{
	unsigned char sum[AL_SHA256_LEN];
	struct al_sha256 h;

	if (al_sha256_init(&h) < 0)
		abort();
	al_sha256_update(&h, r->m->pipeline, strlen(r->m->pipeline));
	al_sha256_update(&h, "\n", 1);
	al_sha256_update(&h, r->msha, strlen(r->msha));
	al_sha256_update(&h, "\n", 1);
	al_sha256_update(&h, r->date, strlen(r->date));
	al_sha256_update(&h, "\n", 1);
	al_sha256_update(&h, step, strlen(step));
	/* A fan_out step's shards do different work: each its own key (and
	 * retry jitter), "\nI/N" added; every other key is unchanged. */
	if (r->o->shard_n > 0) {
		long k = al_manifest_step(r->m, step);
		if (k >= 0 && json_object_get(r->m->steps[k].json, "fan_out") != NULL) {
			char shard[32];
			int n = snprintf(shard, sizeof shard, "\n%d/%d", r->o->shard_i, r->o->shard_n);
			al_sha256_update(&h, shard, (size_t)n);
		}
	}
	al_sha256_final(&h, sum);
	al_hex(sum, sizeof sum, out);
}

/* Whether arg is STEP:FILE naming a step of the manifest (its index and
 * the file's name). */
int eng_step_ref(const struct run *r, const char *arg, long *step, const char **file)
{
	const char *colon = strchr(arg, ':');
	char id[65];
	size_t n;
	long k;

	if (colon == NULL || colon == arg || (n = (size_t)(colon - arg)) >= sizeof id)
		return 0;
	memcpy(id, arg, n);
	id[n] = '\0';
	k = al_manifest_step(r->m, id);
	if (k < 0)
		return 0;
	*step = k;
	*file = colon + 1;
	return 1;
}

static int bundle_file(const struct run *r, const char *arg)
{
	for (size_t i = 0; i < r->m->files_n; i++)
		if (strcmp(r->m->files[i].path, arg) == 0)
			return 1;
	return 0;
}

/* argv with programs, files of the bundle and step:file references
 * resolved to absolute paths: on the host, or in a confined step's view
 * (QUEUE.md, "The in-step view": the bundle at /airlock/bundle, a
 * STEP:FILE at /airlock/in/STEP/FILE; the host's /usr and /bin are the
 * view's too). */
char **eng_resolve_argv(const struct run *r, const char *const *argv, int view,
                        struct al_err *err)
{
	const char *bundle = view ? ENG_VIEW_BUNDLE : r->bundle_dir;
	size_t n = 0;
	char **out;

	while (argv[n] != NULL)
		n++;
	out = calloc(n + 1, sizeof *out);
	if (out == NULL) {
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char buf[PATH_MAX * 2];
		const char *file;
		long k;
		if (eng_step_ref(r, argv[i], &k, &file)) {
			al_snprintf(buf, sizeof buf, "%s/%s/%s", view ? ENG_VIEW_IN : r->out_dir,
			            r->m->steps[k].id, file);
		} else if ((i == 0 && argv[0][0] != '/' && strchr(argv[0], '/') != NULL) ||
		           (i > 0 && bundle_file(r, argv[i]))) {
			/* the program, or an argument naming a file of the bundle */
			al_snprintf(buf, sizeof buf, "%s/%s", bundle, argv[i]);
		} else if (i == 0 && argv[0][0] != '/') {
			const char *dirs[3] = {NULL, "/usr/bin", "/bin"};
			char bin[PATH_MAX + 8];
			al_snprintf(bin, sizeof bin, "%s/bin", r->bundle_dir);
			dirs[0] = bin;
			al_snprintf(buf, sizeof buf, "%s", argv[0]);
			/* looked for on the host, named as the step sees it */
			for (int d = 0; d < 3; d++) {
				char cand[PATH_MAX * 2];
				al_snprintf(cand, sizeof cand, "%s/%s", dirs[d], argv[0]);
				if (access(cand, X_OK) == 0) {
					al_snprintf(buf, sizeof buf, "%s/%s", d == 0 ? bundle : dirs[d], argv[0]);
					break;
				}
			}
		} else {
			al_snprintf(buf, sizeof buf, "%s", argv[i]);
		}
		out[i] = strdup(buf);
		if (out[i] == NULL) {
			for (size_t j = 0; j < i; j++)
				free(out[j]);
			free(out);
			al_err_sys(err, "cannot allocate memory");
			return NULL;
		}
	}
	return out;
}

void eng_free_argv(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

json_t *eng_argv_json(const char *const *argv)
{
	json_t *a = json_array();

	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

static void env_add(json_t *env, const char *name, const char *value)
{
	json_object_set_new(env, name, json_string(value));
}

/* The environment of a step's process (DESIGN.md §8): the manifest's
 * env, then airlock's variables, every path in them the host's or, for a
 * confined step, the view's (no quarantine there: only validate writes
 * one, and it is not confined). */
char **eng_make_env(const struct run *r, const struct step_rt *s, const char *stage,
                    const char *quarantine, int view)
{
	json_t *env = json_object(), *v, *sec = json_object_get(r->m->root, "secrets");
	json_t *step_env = json_object_get(s->def->json, "env");
	const char *k;
	char buf[PATH_MAX * 2], **envp;
	size_t n = 0, i = 0;

	json_t *image = eng_image_of(r, s);

	/* the image's Env beneath the step's, and both beneath airlock's */
	json_object_foreach(json_object_get(image, "env"), k, v) {
		env_add(env, k, json_string_value(v));
	}
	json_object_foreach(step_env, k, v) {
		env_add(env, k, json_string_value(v));
	}
	if (view)
		stage = ENG_VIEW_OUT;
	if (image != NULL)
		al_snprintf(buf, sizeof buf, ENG_VIEW_BUNDLE "/bin:%s",
		            json_string_value(json_object_get(image, "path")));
	else
		al_snprintf(buf, sizeof buf, "%s/bin:/usr/bin:/bin", view ? ENG_VIEW_BUNDLE : r->bundle_dir);
	env_add(env, "PATH", buf);
	env_add(env, "HOME", stage);
	env_add(env, "TZ", "UTC");
	env_add(env, "LC_ALL", "C");
	env_add(env, "AIRLOCK_RUN_ID", r->id);
	env_add(env, "AIRLOCK_STEP", s->def->id);
	al_snprintf(buf, sizeof buf, "%d", s->attempt);
	env_add(env, "AIRLOCK_ATTEMPT", buf);
	env_add(env, "AIRLOCK_IDEMPOTENCY_KEY", s->key);
	env_add(env, "AIRLOCK_DATE", r->date);
	env_add(env, "AIRLOCK_OUT", stage);
	if (!view)
		env_add(env, "AIRLOCK_QUARANTINE", quarantine);
	if (s->items_path != NULL) {
		al_snprintf(buf, sizeof buf, "%ld", s->items_n);
		env_add(env, "AIRLOCK_ITEMS", view ? ENG_VIEW_ITEMS : s->items_path);
		env_add(env, "AIRLOCK_ITEMS_COUNT", buf);
		al_snprintf(buf, sizeof buf, "%d/%d", r->o->shard_n > 0 ? r->o->shard_i : 0,
		            r->o->shard_n > 0 ? r->o->shard_n : 1);
		env_add(env, "AIRLOCK_SHARD", buf);
	}
	for (size_t j = 0; s->def->secrets != NULL && s->def->secrets[j] != NULL; j++) {
		const char *name = s->def->secrets[j];
		const char *file =
		    json_string_value(json_object_get(json_object_get(sec, name), "file"));
		char var[128];
		size_t p = strlen("AIRLOCK_SECRET_");
		memcpy(var, "AIRLOCK_SECRET_", p + 1);
		for (const char *c = name; *c != '\0' && p + 1 < sizeof var; c++)
			var[p++] = (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : (*c == '-' ? '_' : *c);
		var[p] = '\0';
		if (view) {
			al_snprintf(buf, sizeof buf, ENG_VIEW_SECRETS "/%s", name);
			file = buf;
		}
		env_add(env, var, file != NULL ? file : "");
	}
	n = json_object_size(env);
	envp = calloc(n + 1, sizeof *envp);
	if (envp != NULL) {
		json_object_foreach(env, k, v) {
			size_t len = strlen(k) + strlen(json_string_value(v)) + 2;
			envp[i] = malloc(len);
			if (envp[i] == NULL)
				break;
			al_snprintf(envp[i], len, "%s=%s", k, json_string_value(v));
			i++;
		}
	}
	json_decref(env);
	return envp;
}
