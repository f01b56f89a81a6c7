/* kinds.c - every kind of step airlock runs: the table `airlock run`
 * gives the engine, which finds a step's kind in it by name, and
 * `airlock __builtin NAME SPEC RESULT`, the process of a built-in kind,
 * dispatched by the same table. A new kind is a file of steps/ and a
 * line here. */
#include "steps/internal.h"

#include <stdio.h>
#include <string.h>

const struct al_kind *const al_step_kinds[] = {
	&al_kind_exec,
	&al_kind_notify,
	&al_kind_await,
	&al_kind_validate,
	NULL,
};

int al_builtin_main(int argc, char **argv)
{
	struct al_err err = {0};
	const struct al_kind *kind = NULL;
	json_t *spec;
	int code;

	if (argc != 4) {
		fprintf(stderr, "airlock __builtin: usage: KIND SPEC RESULT (started by airlock run)\n");
		return 2;
	}
	spec = al_json_parse(argv[2], strlen(argv[2]), "__builtin SPEC", &err);
	if (spec == NULL || !json_is_object(spec)) {
		if (spec != NULL)
			al_err_set(&err, AL_EUSAGE, "__builtin SPEC: not an object");
		json_decref(spec);
		return builtin_failed(argv[3], &err);
	}
	for (size_t i = 0; al_step_kinds[i] != NULL; i++)
		if (al_step_kinds[i]->builtin_main != NULL && strcmp(argv[1], al_step_kinds[i]->name) == 0)
			kind = al_step_kinds[i];
	if (kind != NULL) {
		code = kind->builtin_main(spec, argv[3]);
	} else {
		al_err_set(&err, AL_EUSAGE, "__builtin %s: no such kind", argv[1]);
		code = builtin_failed(argv[3], &err);
	}
	json_decref(spec);
	return code;
}
