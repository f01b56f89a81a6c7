/* fuzz_audit_verify.c - libFuzzer target: the whole-log verifier
 * (al_audit_verify). The input is one segment, audit-000001.jsonl, in a
 * scratch directory; an input that starts with zstd's magic number is an
 * evidence export (.tar.zst) instead. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct al_err err = {0};

	(void)argc;
	(void)argv;
	if (al_crypto_init(&err) < 0)
		abort();
	(void)fuzz_scratch("audit_verify");
	return 0;
}

static void report_none(void *ctx, const struct al_finding *f)
{
	(void)ctx;
	(void)f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
	struct al_verify_opts o = {.on_finding = report_none};
	struct al_verify_summary sum;
	struct al_err err = {0};
	const char *path;

	if (size >= sizeof zstd_magic && memcmp(data, zstd_magic, sizeof zstd_magic) == 0) {
		path = fuzz_write("evidence.tar.zst", data, size);
	} else {
		(void)fuzz_write("audit-000001.jsonl", data, size);
		path = fuzz_scratch("audit_verify");
	}
	(void)al_audit_verify(path, &o, &sum, &err);
	fuzz_scratch_clean();
	return 0;
}
