/* fuzz_image.c - libFuzzer target: images/. Each input is used twice:
 *  - as an image archive, read, checked and unpacked into a scratch
 *    home's store (al_image_install; a 16 MiB limit);
 *  - as one layer (a tar, plain, gzip or zstd), wrapped in an archive of
 *    its own and applied by al_image_unpack: a mutated layer never gets
 *    past its digest in the first use, and the unpacker is what must
 *    hold against any bytes (its diff_id is wrong, so it fails at the
 *    end, after every entry was applied).
 * Seeds: small OCI and docker save archives of each compression
 * (tests/fuzz/seeds.sh, with tests/fixtures/mkimage.py), whose layers the
 * second use finds as members. Whatever the input, nothing may be made
 * outside the scratch directory and nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/image.h"
#include "tests/fuzz/scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char home[600], scratch[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct al_err err = {0};

	(void)argc;
	(void)argv;
	if (al_crypto_init(&err) < 0)
		abort();
	snprintf(scratch, sizeof scratch, "%s", fuzz_scratch("image"));
	snprintf(home, sizeof home, "%s/home", scratch);
	return 0;
}

/* A header field: S and its NUL (each field here has room for both). */
static void put(unsigned char *h, size_t off, const char *s)
{
	memcpy(h + off, s, strlen(s) + 1);
}

/* DATA as the one member "layer" of a ustar archive at PATH. */
static void wrap(const char *path, const uint8_t *data, size_t size)
{
	unsigned char h[512] = {0};
	unsigned sum = 0;
	static const unsigned char zeros[1536]; /* padding to 512, then the end (1024) */
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		abort();
	put(h, 0, "layer");
	put(h, 100, "0000644");
	put(h, 108, "0000000");
	put(h, 116, "0000000");
	snprintf((char *)h + 124, 12, "%011zo", size);
	put(h, 136, "00000000000");
	memset(h + 148, ' ', 8);
	h[156] = '0';
	put(h, 257, "ustar");
	put(h, 263, "00"); /* its NUL is uname's first byte: empty */
	for (size_t i = 0; i < sizeof h; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	if (fwrite(h, 1, sizeof h, f) != sizeof h || fwrite(data, 1, size, f) != size ||
	    fwrite(zeros, 1, (512 - size % 512) % 512 + 1024, f) == 0 || fclose(f) != 0)
		abort();
}

static void as_layer(const uint8_t *data, size_t size)
{
	struct al_image_layer layer = {.compression = -1};
	struct al_image img = {.layers = &layer, .layers_n = 1};
	struct al_err err = {0};
	char path[700];
	int fd;

	snprintf(path, sizeof path, "%s/layer.tar", scratch);
	wrap(path, data, size);
	snprintf(layer.member, sizeof layer.member, "layer");
	snprintf(layer.digest, sizeof layer.digest, "sha256:%064d", 0);
	snprintf(layer.diff_id, sizeof layer.diff_id, "sha256:%064d", 0);
	if (mkdir(home, 0700) < 0 || (fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	(void)al_image_unpack(path, &img, fd, -1, 16u << 20, NULL, &err);
	json_decref(img.skipped);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct al_image img;
	struct al_err err = {0};
	int already = 0;
	const char *path = fuzz_write("image.tar", data, size);

	if (al_image_install(home, path, NULL, 16u << 20, &img, &already, NULL, &err) == 0)
		al_image_free(&img);
	fuzz_scratch_clean();
	as_layer(data, size);
	fuzz_scratch_clean();
	return 0;
}
