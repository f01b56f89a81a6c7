/* kind_exec.c - the exec kind, every step's default (DESIGN.md §5, §8):
 * the manifest's `run`, with programs and files of the bundle and
 * STEP:FILE references resolved, is the step's process. */
#include "steps/internal.h"

static int exec_launch(struct al_step_ctx *c, struct al_step_launch *l, struct al_err *err)
{
	l->argv = al_step_argv(c, c->def->run, err);
	return l->argv != NULL ? 0 : -1;
}

const struct al_kind al_kind_exec = {
	.name = "exec",
	.launch = exec_launch,
};
