/* cmd_doctor.c - `airlock doctor`: what this host can give a step
 * (runner/README.md, "Confinement"), layer by layer, and why not where
 * it cannot (the call that failed; the sysctl or AppArmor setting behind
 * a refused user namespace). */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>

#include "runner/runner.h"

static const struct option help_only[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

int al_cmd_doctor(struct al_cli *cli, int argc, char **argv)
{
	struct al_err err = {0};
	const char *name;
	json_t *rep, *l;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1)
		return c == 'h' ? AL_OK : AL_EUSAGE;
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((rep = al_isolation_report(&err)) == NULL)
		return al_cli_error(cli, &err);
	if (cli->json) {
		al_cli_print_json(rep);
		return AL_OK;
	}
	printf("steps here: %s%s%s\n",
	       json_is_true(json_object_get(rep, "confined")) ? "confined" : "NOT confined",
	       json_object_get(rep, "why") != NULL ? ": " : "",
	       json_object_get(rep, "why") != NULL ? json_string_value(json_object_get(rep, "why"))
	                                           : "");
	printf("isolation \"strict\": %s\n",
	       json_is_true(json_object_get(rep, "strict")) ? "can be given" : "cannot be given");
	printf("as: %s\n", json_is_true(json_object_get(rep, "root"))
	                       ? "root (steps run as another uid: --step-user)"
	                       : "an unprivileged user (steps in a user namespace)");
	json_object_foreach(json_object_get(rep, "layers"), name, l) {
		const char *why = json_string_value(json_object_get(l, "why"));
		const char *hint = json_string_value(json_object_get(l, "hint"));
		printf("  %-9s %s", name, json_is_true(json_object_get(l, "available")) ? "yes" : "no ");
		if (json_object_get(l, "abi") != NULL && json_integer_value(json_object_get(l, "abi")) > 0)
			printf("  ABI %lld", (long long)json_integer_value(json_object_get(l, "abi")));
		if (json_is_array(json_object_get(l, "limits"))) {
			json_t *lim = json_object_get(l, "limits"), *v;
			size_t i;
			if (json_array_size(lim) == 0)
				printf("  cgroup.kill only: no memory, pids or cpu controller is delegated, so a "
				       "step's limits are rlimits");
			else
				printf("  limits:");
			for (i = 0; (v = json_array_get(lim, i)) != NULL; i++)
				printf(" %s", json_string_value(v));
		}
		if (why != NULL)
			printf("  %s", why);
		if (hint != NULL)
			printf(" (%s)", hint);
		putchar('\n');
	}
	json_decref(rep);
	return AL_OK;
}
