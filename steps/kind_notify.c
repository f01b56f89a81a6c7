/* kind_notify.c - the notify kind (DESIGN.md §8, runner/README.md
 * "Built-in kinds"): an exec step whose stdin is the run summary
 * (airlock.summary/1) as the run stands when it starts; it reports each
 * run, so it is never skipped as already committed and runs even after a
 * failed pre-flight. notify.sent or notify.failed records the outcome. */
#include "steps/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The summary, written for this attempt: <logs>.summary.json. */
static int notify_launch(struct al_step_ctx *c, struct al_step_launch *l, struct al_err *err)
{
	json_t *sum = al_step_summary(c);
	char path[PATH_MAX + 16], *text;
	int ret;

	if (sum == NULL)
		return al_err_set(err, AL_EENV, "no run summary to give the notify step");
	text = al_json_dump(sum);
	json_decref(sum);
	if (text == NULL)
		return al_err_sys(err, "cannot allocate memory");
	al_snprintf(path, sizeof path, "%s.summary.json", c->logs);
	ret = al_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	if (ret < 0)
		return -1;
	if ((l->stdin_path = strdup(path)) == NULL)
		return al_err_sys(err, "cannot allocate memory");
	l->argv = al_step_argv(c, c->def->run, err);
	return l->argv != NULL ? 0 : -1; /* the engine frees stdin_path */
}

static void notify_done(struct al_step_ctx *c, int ok)
{
	if (ok)
		(void)al_step_audit(c, "notify.sent", NULL);
	else
		(void)al_step_audit(c, "notify.failed", json_pack("{s:s}", "reason", c->reason));
}

const struct al_kind al_kind_notify = {
	.name = "notify",
	.flags = AL_KIND_EACH_RUN,
	.launch = notify_launch,
	.done = notify_done,
};
