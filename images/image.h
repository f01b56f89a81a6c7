/* image.h - the public API of images/: container images carried inside a
 * signed bundle (manifests/FORMAT.md, "Images"). An image is one archive
 * in either layout that `docker save`, `podman save` and `skopeo copy`
 * write: the OCI image layout as a tar (oci-layout, index.json,
 * blobs/sha256/...) or the legacy docker save layout (manifest.json,
 * <config>.json, <id>/layer.tar); its layers plain, gzip or zstd.
 *
 * Reading an archive checks every byte against its descriptor before any
 * of it is used; unpacking applies the layers in order with OCI semantics
 * beneath a held directory, never through a symbolic link; the store keeps
 * one read-only tree per config digest under HOME/images/.
 *
 * images depends on core only. Functions return 0 on success, -1 with err
 * filled: AL_EVERIFY for an image refused (err->msg names the archive, the
 * layer's digest and the member at fault), other codes for usage or I/O. */
#ifndef AIRLOCK_IMAGE_H
#define AIRLOCK_IMAGE_H

#include <stdint.h>

#include "core/core.h"

#define AL_IMAGE_DIGEST_LEN 72          /* "sha256:" + 64 hex + NUL, rounded */
#define AL_IMAGE_LAYERS_MAX 256
#define AL_IMAGE_MEMBERS_MAX 100000     /* members of the archive itself */
#define AL_IMAGE_ENTRIES_MAX 500000     /* entries, the directories they imply too */
#define AL_IMAGE_JSON_MAX (4u << 20)    /* an index, manifest or config blob */

struct al_image_layer {
	char digest[AL_IMAGE_DIGEST_LEN];  /* of the blob as the archive holds it */
	char diff_id[AL_IMAGE_DIGEST_LEN]; /* of its uncompressed tar (the config's) */
	char member[512];                  /* the archive member holding it */
	char media[128];                   /* its media type ("" in a docker save archive) */
	uint64_t size;                     /* bytes in the archive */
	int compression;                   /* AL_IMAGE_PLAIN, _GZIP, _ZSTD; -1: any */
};

enum { AL_IMAGE_PLAIN = 0, AL_IMAGE_GZIP = 1, AL_IMAGE_ZSTD = 2 };

struct al_image {
	char format[8];                             /* "oci" or "docker" */
	char config_digest[AL_IMAGE_DIGEST_LEN];    /* the image ID */
	char manifest_digest[AL_IMAGE_DIGEST_LEN];  /* docker: of manifest.json */
	char platform[64];                          /* "linux/amd64" */
	char created[64];                           /* the config's, "" when none */
	struct al_image_layer *layers;
	size_t layers_n;
	json_t *config;   /* the config's "config" object (Env, User, ...), or NULL */
	/* filled by al_image_unpack */
	uint64_t unpacked_bytes, entries;
	char tree_sha256[AL_SHA256_HEX];  /* of tree.txt (al_image_tree) */
	json_t *skipped;  /* [{layer, member, type}]: devices, FIFOs, sockets not created */
};

/* The host's platform as OCI names it ("linux/amd64"). */
const char *al_image_host_platform(void);

/* Reads ARCHIVE (an uncompressed tar) once: every member hashed, the
 * layout found, the image for this host's platform chosen, and every blob
 * it needs checked against its descriptor (SHA-256 and size); index,
 * manifest and config parsed strictly (a member or a JSON key twice is an
 * error). Nothing is written. pr (may be NULL): the phase "checking
 * every blob", in bytes of the archive. */
int al_image_read(const char *archive, struct al_image *img, struct al_progress *pr,
                  struct al_err *err);

/* Applies the layers of an image read by al_image_read, in order, into
 * the empty directory dirfd, checking each layer's uncompressed SHA-256
 * against its diff_id; then makes the tree read-only, writes its listing
 * (tree.txt, FORMAT.md) to tree_fd (-1: none) and fills tree_sha256 with
 * the listing's SHA-256. max_bytes (0: no limit) bounds the bytes written. On
 * failure the directory's contents are unspecified: the caller removes
 * it. pr (may be NULL): the phase "unpacking", in bytes of the layers. */
int al_image_unpack(const char *archive, struct al_image *img, int dirfd, int tree_fd,
                    uint64_t max_bytes, struct al_progress *pr, struct al_err *err);

void al_image_free(struct al_image *img);

/* What the store records of an image (image.json). */
json_t *al_image_json(const struct al_image *img);

/* ---- the store: HOME/images/<config hex>/{rootfs/,image.json,tree.txt} ---- */

/* Reads ARCHIVE, checks that its image is want_digest ("sha256:HEX"), and
 * unpacks it into the store unless a tree of that digest is there already
 * (*already = 1). The store's entry appears whole or not at all. pr (may
 * be NULL) shows both phases. */
int al_image_install(const char *home, const char *archive, const char *want_digest,
                     uint64_t max_bytes, struct al_image *img, int *already,
                     struct al_progress *pr, struct al_err *err);

/* The store's record of an image (image.json, parsed) and its root's path;
 * AL_EUSAGE when the store has no such image. */
json_t *al_image_load(const char *home, const char *digest, char *root, size_t n,
                      struct al_err *err);

/* The SHA-256 of the listing (tree.txt) of the tree at root as it is now,
 * changing nothing: the tree_sha256 of its install unless something was
 * changed since (a file's bytes or mode, an entry added, removed or made
 * a device). */
int al_image_tree_check(const char *root, char tree_sha256[AL_SHA256_HEX], struct al_err *err);

/* The store's lock (HOME/images/.lock, flock): shared, waited for, by
 * whoever needs images to stay (an install until its pipeline is linked,
 * a run until it ends); exclusive, never waited for, by prune (AL_EBUSY
 * while anyone holds it shared). The descriptor, to close to release. */
int al_image_store_lock(const char *home, int exclusive, struct al_err *err);

/* Every image of the store: [image.json...] with "bytes" on disk. */
json_t *al_image_list(const char *home, struct al_err *err);

/* Removes an image's tree from the store (its directory renamed away
 * first, so a half-removed tree is never taken for an image). */
int al_image_remove(const char *home, const char *digest, struct al_err *err);

/* The ids an image config's User names, inside the image: "" is root;
 * "name", "uid", "name:group", "uid:gid" and the mixed forms are looked up
 * in the image's own /etc/passwd and /etc/group beneath root (its symlinks
 * resolved inside the image); without a group, the user's primary group
 * (0 for a uid the image does not list). AL_EUSAGE names the User when a
 * name is not found. */
int al_image_user(const char *root, const char *user, uint32_t *uid, uint32_t *gid,
                  struct al_err *err);

/* "sha256:" and 64 lowercase hex digits. */
int al_image_digest_ok(const char *s);

#endif
