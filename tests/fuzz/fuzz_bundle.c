/* fuzz_bundle.c - libFuzzer target: the bundle reader (al_bundle_verify):
 * the input is a bundle (.tar.zst) read in the one streaming pass and
 * extracted into a scratch directory. The trust policy holds the keys
 * tests/fuzz/seeds.sh made (KEYS/o1.pub and o2.pub, KEYS being
 * $AIRLOCK_FUZZ_KEYS, else corpus/bundle-keys/ next to the binary) with
 * threshold 1, so that the
 * seeds' signatures count and mutations of the members after the
 * manifest reach the extraction; without them, every bundle stops at its
 * signatures. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifests/manifests.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct al_policy_key keys[2];
static struct al_policy policy = {.threshold = 1, .keys = keys};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const names[] = {"o1.pub", "o2.pub"};
	const char *env = getenv("AIRLOCK_FUZZ_KEYS");
	char dir[512];
	struct al_err err = {0};

	(void)argc;
	if (env != NULL)
		snprintf(dir, sizeof dir, "%s", env);
	else
		snprintf(dir, sizeof dir, "%s/corpus/bundle-keys", fuzz_self_dir((*argv)[0]));
	if (al_crypto_init(&err) < 0)
		abort();
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct al_policy_key *k = &keys[policy.keys_n];
		char path[600];

		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (al_pubkey_load(path, &k->pub, &err) < 0)
			continue;
		memcpy(k->keyid, k->pub.keyid, AL_KEYID_LEN);
		snprintf(k->name, sizeof k->name, "officer %zu", i + 1);
		policy.keys_n++;
	}
	if (policy.keys_n == 0)
		fprintf(stderr, "fuzz_bundle: no keys in %s: signatures never count\n",
		        dir);
	(void)fuzz_scratch("bundle");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct al_bundle_opts o = {
		.policy = &policy,
		.max_size = 1u << 20,
		.now_us = 1767225600000000, /* 2026-01-01: the seeds expire in 2030 */
		.extract_dirfd = fuzz_scratch_fd(),
	};
	struct al_bundle_result res;
	struct al_err err = {0};
	const char *path = fuzz_write("bundle.tar.zst", data, size);

	(void)al_bundle_verify(path, &o, &res, &err);
	fuzz_scratch_clean();
	return 0;
}
