/* fuzz_manifest.c - libFuzzer target: the manifest parser and validator
 * (al_manifest_parse), in both modes: an author's airlock.json and a
 * bundle's manifest.json. */
#include <stddef.h>
#include <stdint.h>

#include "manifests/manifests.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum al_manifest_mode modes[] = {AL_MANIFEST_SOURCE, AL_MANIFEST_BUNDLE};

	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		struct al_err err = {0};
		struct al_manifest *m;

		m = al_manifest_parse((const char *)data, size, "manifest.json", modes[i], &err);
		if (m != NULL) {
			/* Exercise the lookup on what was parsed. */
			(void)al_manifest_step(m, "build");
			al_manifest_free(m);
		}
	}
	return 0;
}
