/* internal.h - what the files of steps/ share and no one else sees: the
 * two sides of a built-in kind (builtin.c) and each kind's descriptor. */
#ifndef AIRLOCK_STEPS_INTERNAL_H
#define AIRLOCK_STEPS_INTERNAL_H

#include "steps/steps.h"

/* ---- the engine's side of a built-in kind ---- */

/* argv of `airlock __builtin NAME SPEC RESULT`: airlock itself, as the
 * step's process; RESULT is <logs>.result.json. spec is consumed. */
char **builtin_argv(struct al_step_ctx *c, const char *name, json_t *spec, struct al_err *err);
/* What the attempt's process wrote to its result file, or NULL when it
 * was killed before it could say (a timeout). "retryable": false makes
 * the failure final. */
json_t *builtin_result(struct al_step_ctx *c);
/* The failure's reason from the result ("reason", else "error"), into
 * the step and end when the process failed; 1 when it gave one. */
int builtin_reason(struct al_step_ctx *c, json_t *res, json_t *end, int exit_code);

/* ---- the child's side ---- */

/* Writes the result file and returns code (4 when it cannot). */
int builtin_finish(const char *result, json_t *res, int code);
/* An error: of the environment (retryable, 4), or of the data or the
 * parameters (final: 1, or 2 for a bad SPEC or schema). */
int builtin_failed(const char *result, const struct al_err *err);

extern const struct al_kind al_kind_exec, al_kind_notify, al_kind_await, al_kind_validate;

#endif
