/* fuzz_checkpoint.c - libFuzzer target: checkpoint text
 * (al_checkpoint_parse). What parses must format back into text that
 * parses to the same checkpoint. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct al_err err = {0};
	struct al_checkpoint cp, again;
	char *text;

	if (al_checkpoint_parse((const char *)data, size, "checkpoint.txt", &cp, &err) < 0)
		return 0;
	text = al_checkpoint_format(&cp);
	if (text == NULL)
		return 0;
	if (al_checkpoint_parse(text, strlen(text), "formatted", &again, &err) < 0 ||
	    strcmp(cp.log_id, again.log_id) != 0 || cp.size != again.size ||
	    memcmp(cp.hash, again.hash, sizeof cp.hash) != 0 || strcmp(cp.ts, again.ts) != 0)
		abort(); /* the formatter and the parser disagree */
	free(text);
	return 0;
}
