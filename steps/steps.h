/* steps.h - the kinds of step (DESIGN.md §8, runner/README.md "Built-in
 * kinds"): exec, notify, await and validate, each a file (kind_*.c)
 * behind the engine's step-kind interface (runner.h, struct al_kind),
 * and the library code of the two built-in ones (await.c, validate.c,
 * schema.c). await and validate run as code of airlock itself, started
 * as the step's own process ("airlock __builtin KIND SPEC RESULT") with
 * the same timeout and captured output as an exec step; the result comes
 * back as a JSON file that their kind audits (await.ready,
 * validate.result). notify is an exec step with the run summary on its
 * stdin. */
#ifndef AIRLOCK_STEPS_H
#define AIRLOCK_STEPS_H

#include <stdint.h>

#include "core/core.h"
#include "runner/runner.h"

/* Every kind airlock runs, NULL-terminated: what `airlock run` gives the
 * engine (al_run_opts.kinds). */
extern const struct al_kind *const al_step_kinds[];

/* ---- await (await.c) ---- */

struct al_await_opts {
	const char *dir;        /* the drop folder, {date} already substituted */
	const char *marker;     /* the marker's name (never NULL) */
	int64_t max_age_ms;     /* 0: no freshness limit */
	int64_t every_ms;       /* poll interval... */
	int64_t then_ms;        /* ...this one once after_ms have passed (0: every_ms) */
	int64_t after_ms;
	const char *out_dir;    /* what is taken is copied here (the stage dir) */
};

struct al_await_res {
	json_t *files;          /* [{path, sha256, size}] of what was taken, marker included */
	int64_t waited_ms;
	int polls;
	char reason[512];       /* why it was refused (return 1) */
};

/* Polls until the marker is there and the folder is stable and fresh,
 * then copies its regular files (the marker excepted) into out_dir,
 * hashing them. Returns 0 when ready, 1 when refused (res->reason: a
 * stale file, a symlink...), -1 on an error (err). Never returns while
 * waiting: the engine's timeout ends it. */
int al_await(const struct al_await_opts *o, struct al_await_res *res, struct al_err *err);

/* ---- validate (validate.c) ---- */

struct al_validate_opts {
	const char *input;      /* CSV or JSONL, as the schema says */
	const char *schema;     /* an airlock.schema/1 file */
	const char *output;     /* accepted records, same format as the input */
	const char *quarantine; /* rejected records (JSONL), written atomically */
	const char *max_reject; /* "5%" or a count ("10"); NULL: "0" */
};

struct al_validate_res {
	int64_t records, accepted, rejected;
	double reject_ratio;    /* rejected / records; 0 when there are none */
	char limit[32];         /* max_reject as given ("0" when none) */
	int over_limit;         /* the rejects exceed max_reject */
	unsigned char quarantine_sha256[AL_SHA256_LEN];
	uint64_t quarantine_size;
	char first_reject[256]; /* "line N: reason" of the first reject, or "" */
};

/* Checks that a schema file is valid (err names the file and field). */
int al_schema_check(const char *path, struct al_err *err);
/* Streams input through the schema in constant memory. Returns 0 when
 * every record was read (res->over_limit says whether the step fails),
 * -1 on an error (err): the schema, the input, a write. */
int al_validate(const struct al_validate_opts *o, struct al_validate_res *res,
                struct al_err *err);

/* `airlock __builtin KIND SPEC RESULT`: the child side of a built-in
 * kind (builtin.c); returns the process's exit status. */
int al_builtin_main(int argc, char **argv);

#endif
