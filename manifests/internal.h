/* internal.h - what manifests' own files share: reading a bundle's tar
 * stream through our zstd reader, and a few file helpers. Not API. */
#ifndef AIRLOCK_MANIFESTS_INTERNAL_H
#define AIRLOCK_MANIFESTS_INTERNAL_H

#include <archive.h>
#include <archive_entry.h>

#include "manifests.h"

#define SIG_DIR "signatures/"
#define SIG_SUFFIX ".minisig"
#define SIG_MAX 65536
#define SIGS_MAX 64
#define BUNDLE_CHUNK (128 << 10)
/* Zero padding allowed after the tar's end: libarchive pads to 10240-byte
 * records; more than this is data hiding after the archive. */
#define TRAILER_MAX (1 << 20)

/* A bundle opened for reading: the file (hashed as it is read), our zstd
 * reader with a bounded window, and libarchive's tar reader over it. */
struct bundle_reader {
	struct al_stream *raw, *z;
	struct archive *a;
	struct al_sha256 hash;
	int hashing;
	char buf[BUNDLE_CHUNK];
	size_t last_len;   /* bytes of buf handed to libarchive last */
	uint64_t supplied; /* decompressed bytes handed to libarchive */
	struct al_err *err;
	int failed;        /* a read error happened under libarchive: err holds it */
	const char *name;
};

/* Opens a bundle; returns NULL with err set. */
struct bundle_reader *bundle_open(const char *path, struct al_err *err);
/* Next member: 1 and the entry, 0 at the end, -1 on error (err set, the
 * bundle is corrupt: AL_EVERIFY). */
int bundle_next(struct bundle_reader *r, struct archive_entry **e, struct al_err *err);
/* Reads a whole member of at most max bytes; malloc'd with a NUL after. */
int bundle_slurp(struct bundle_reader *r, const char *member, size_t max, char **out, size_t *len,
                 struct al_err *err);
/* After the end: only zero padding may follow, and the zstd stream must
 * end there (no garbage after the archive). Finishes the file's hash. */
int bundle_finish(struct bundle_reader *r, unsigned char sha256[AL_SHA256_LEN], struct al_err *err);
void bundle_close(struct bundle_reader *r);

/* "signatures/<KEYID>.minisig" -> the key id; NULL when not of that form. */
int sig_member_keyid(const char *member, char keyid[AL_KEYID_HEX]);

#endif
