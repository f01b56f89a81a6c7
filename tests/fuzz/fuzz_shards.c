/* fuzz_shards.c - libFuzzer target: a sharded run's signed summary
 * (al_shards_parse). The parser takes only the writer's exact form, so
 * whatever parses must format back to the very same bytes: two signed
 * texts never read as one summary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct al_err err = {0};
	struct al_shards sh;
	size_t len;
	char *text;

	if (al_shards_parse((const char *)data, size, "shards.txt", &sh, &err) < 0)
		return 0;
	text = al_shards_format(&sh, &len);
	if (text == NULL || len != size || memcmp(text, data, size) != 0)
		abort(); /* a form the writer does not write was taken */
	free(text);
	al_shards_free(&sh);
	return 0;
}
