/* internal.h - what the files of images/ share, and nothing else uses. */
#ifndef AIRLOCK_IMAGES_INTERNAL_H
#define AIRLOCK_IMAGES_INTERNAL_H

#include "images/image.h"

/* An image refused (AL_EVERIFY): "ARCHIVE: layer DIGEST: MEMBER: why",
 * the layer and the member when known (NULL otherwise). Always -1. */
int img_refuse(struct al_err *err, const char *archive, const char *layer, const char *member,
               const char *fmt, ...) AL_PRINTF(5, 6);

/* Names in an image are UTF-8 (pax records, as Go writes every non-ASCII
 * name): libarchive converts them through the locale's LC_CTYPE, which
 * in airlock is "C". img_utf8_begin switches this thread to C.UTF-8 for
 * the readers (its result to img_utf8_end): without it a real image's
 * ca-certificates names refuse it; lossy conversion is never accepted. */
void *img_utf8_begin(void);
void img_utf8_end(void *state);

/* Walks the finished tree beneath dirfd in name order: writes tree.txt's
 * lines to out (may be -1), hashes them into tree_sha256, and makes every
 * file and directory read-only (no write bits, no setuid, setgid or
 * sticky bit). */
int img_tree_seal(int dirfd, int out, char tree_sha256[AL_SHA256_HEX], struct al_err *err);

#endif
