/* parse.h - what the files of the manifest parser share, and nothing
 * else sees. From the bottom up: fields.c (members by allow-list, names
 * and paths), steps.c (the steps, their defaults and the dependency
 * rules), manifest.c (the whole: files, secrets, resources). */
#ifndef AIRLOCK_MANIFESTS_PARSE_H
#define AIRLOCK_MANIFESTS_PARSE_H

#include "manifests.h"

#define PATH_MAX_BYTES 4096
#define COMPONENT_MAX 255
#define FILES_MAX AL_BUNDLE_MAX_ENTRIES

struct vctx {
	const char *name;   /* the manifest's file name, for messages */
	struct al_err *err;
	int failed;
};

/* Records the first error: "<name>: <path>: <message>". */
void mf_bad_report(struct vctx *v, const char *path, const char *fmt, ...) AL_PRINTF(3, 4);

/* bad(v, path, fmt, ...) reports and is -1, visibly so to the compiler
 * and the analyzer: `return bad(...)` after a check. */
#define bad(...) (mf_bad_report(__VA_ARGS__), -1)

/* fields.c */
void mf_child(char *out, size_t n, const char *path, const char *key);
void mf_elem(char *out, size_t n, const char *path, size_t i);
int mf_only(struct vctx *v, json_t *obj, const char *path, const char *const *allowed);
int mf_want_string(struct vctx *v, json_t *obj, const char *key, const char *path, int required,
                   const char **out);
int mf_want_int(struct vctx *v, json_t *obj, const char *key, const char *path, int required,
                int64_t min, int64_t max, int64_t *out);
int mf_want_duration(struct vctx *v, json_t *obj, const char *key, const char *path, int required,
                     int64_t *ms);
int mf_want_enum(struct vctx *v, json_t *obj, const char *key, const char *path,
                 const char *const *options, int *out);
int mf_want_argv(struct vctx *v, json_t *obj, const char *key, const char *path, int required,
                 const char ***out);
int mf_name_ok(const char *s, size_t max, int dashes);
const char *mf_path_problem(const char *p);

/* steps.c */
int mf_parse_step(struct vctx *v, struct al_manifest *m, json_t *obj, size_t idx,
                  const struct al_step *defaults, json_t *secrets, json_t *resources);
const struct al_file *mf_file_find(const struct al_manifest *m, const char *path);
int mf_check_steps(struct vctx *v, struct al_manifest *m, int bundle);
int mf_parse_defaults(struct vctx *v, json_t *def, struct al_step *d);

#endif
