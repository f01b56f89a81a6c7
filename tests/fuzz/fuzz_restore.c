/* fuzz_restore.c - libFuzzer target: a collector's file given to audit
 * restore (al_audit_restore), the bank's SIEM being outside what airlock
 * controls. The input is read as a file of raw entries or RFC 5424 lines,
 * parts and fragments; whatever it holds, restore writes only into its
 * output directory, and what it writes reads back as whole lines in the
 * order of their seq. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[700];
	const char *from[1];
	struct al_restore_report rep = {0};
	struct al_err err = {0};
	int r;

	snprintf(out, sizeof out, "%s/restored", fuzz_scratch("restore"));
	from[0] = fuzz_write("siem.log", data, size);
	r = al_audit_restore(from, 1, out, &rep, &err);
	al_restore_report_free(&rep);
	if (r >= 0 && (rep.entries == 0 || rep.first > rep.last))
		abort(); /* "written" must mean entries, in order */
	if (r < 0 && err.msg[0] == '\0')
		abort(); /* a failure says why */
	fuzz_scratch_clean();
	return 0;
}
