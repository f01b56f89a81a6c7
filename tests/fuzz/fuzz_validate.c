/* fuzz_validate.c - libFuzzer target: the validate builtin (al_validate):
 * the schema loader and checker and the CSV (libcsv) and JSONL record
 * parsers. The input is a schema, a line "----", then the data:
 *
 *   {"format": "airlock.schema/1", "type": "csv", "columns": [...]}
 *   ----
 *   id,name
 *   1,a
 *
 * (no separator: all of it is the schema, and the data is empty). The
 * files are written to a scratch directory and removed after each input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps/steps.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)fuzz_scratch("validate");
	return 0;
}

/* SCRATCH/name, malloc'd. */
static char *path_of(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", fuzz_scratch("validate"), name) < 0)
		abort();
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n----\n";
	const uint8_t *cut = memmem(data, size, sep, strlen(sep));
	size_t schema_len = cut != NULL ? (size_t)(cut - data) + 1 : size;
	size_t data_off = cut != NULL ? schema_len + strlen(sep) - 1 : size;
	struct al_validate_opts o = {.max_reject = "10%"};
	struct al_validate_res res;
	struct al_err err = {0};
	char *schema, *input, *output, *quarantine;

	(void)fuzz_write("schema.json", data, schema_len);
	(void)fuzz_write("input", data + data_off, size - data_off);
	schema = path_of("schema.json");
	input = path_of("input");
	output = path_of("output");
	quarantine = path_of("quarantine.jsonl");
	(void)al_schema_check(schema, &err);
	al_err_clear(&err);
	o.schema = schema;
	o.input = input;
	o.output = output;
	o.quarantine = quarantine;
	(void)al_validate(&o, &res, &err);
	free(schema);
	free(input);
	free(output);
	free(quarantine);
	fuzz_scratch_clean();
	return 0;
}
