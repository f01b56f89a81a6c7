/* fuzz_audit_line.c - libFuzzer target: one audit line (al_line_parse,
 * FORMAT.md §2), the check every line of a verify goes through. */
#include <stdint.h>

#include "audit/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct al_err err = {0};
	struct al_line line;

	(void)al_line_parse((const char *)data, size, &line, &err);
	return 0;
}
