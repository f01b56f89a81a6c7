/* scratch.h - what the fuzz targets share: a per-process scratch
 * directory (on /dev/shm when there is one) for the parsers that read
 * files, emptied after each input and removed at exit. */
#ifndef AL_FUZZ_SCRATCH_H
#define AL_FUZZ_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

/* Creates the directory once (tag names the target) in
 * $AIRLOCK_FUZZ_SCRATCH, else /dev/shm or /tmp, first removing those that
 * dead processes left there; returns its path, or aborts: a target that
 * cannot set up must not report coverage. */
const char *fuzz_scratch(const char *tag);
/* A directory fd of the scratch directory (O_DIRECTORY, O_CLOEXEC). */
int fuzz_scratch_fd(void);
/* Writes data to SCRATCH/name (mode 0600), replacing it; aborts on
 * failure. Returns the full path in a static buffer. */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
/* Removes everything in the scratch directory. */
void fuzz_scratch_clean(void);
/* The directory that holds the running binary (from argv[0]). */
const char *fuzz_self_dir(const char *argv0);

#endif
