/* archive.c - reading an image archive (image.h): one pass over the tar
 * that hashes every member, then the layout (OCI image layout or docker
 * save), the image for this host's platform, and every blob it needs
 * checked against its descriptor before anything of it is used.
 *
 * Index, manifest and config are parsed strictly (al_json_parse refuses a
 * key twice: what is hashed is what is parsed), and a member name twice
 * in the archive is refused: two readers must never see two images. */
#include "images/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define KEEP_MAX (1u << 20)      /* members kept in memory: JSON candidates */
#define KEEP_TOTAL (64u << 20)   /* all of them together */

struct member {
	char *name;
	char *link;           /* a symbolic link member's target, resolved; or NULL */
	uint64_t size;
	unsigned char sha256[AL_SHA256_LEN];
	char *data;           /* the bytes, when small enough to be JSON */
};

struct members {
	struct member *v;
	size_t n, cap;
	json_t *index;        /* name -> position */
	uint64_t kept;
};

const char *al_image_host_platform(void)
{
#if defined(__x86_64__)
	return "linux/amd64";
#elif defined(__aarch64__)
	return "linux/arm64";
#else
	return "linux/unknown";
#endif
}

/* s, or d when s is NULL. */
static const char *or_str(const char *s, const char *d)
{
	return s != NULL ? s : d;
}

int al_image_digest_ok(const char *s)
{
	return s != NULL && strncmp(s, "sha256:", 7) == 0 && strlen(s) == 71 &&
	       strspn(s + 7, "0123456789abcdef") == 64;
}

int img_refuse(struct al_err *err, const char *archive, const char *layer, const char *member,
               const char *fmt, ...)
{
	char why[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (layer != NULL && member != NULL)
		return al_err_set(err, AL_EVERIFY, "%s: layer %s: %s: %s", archive, layer, member, why);
	if (member != NULL)
		return al_err_set(err, AL_EVERIFY, "%s: %s: %s", archive, member, why);
	return al_err_set(err, AL_EVERIFY, "%s: %s", archive, why);
}

/* A member's name without a leading "./"; NULL when it is not a plain
 * relative path (absolute, "..", empty). */
static const char *member_name(const char *raw)
{
	while (strncmp(raw, "./", 2) == 0)
		raw += 2;
	if (raw[0] == '\0' || raw[0] == '/' || strcmp(raw, "..") == 0 || strncmp(raw, "../", 3) == 0 ||
	    strstr(raw, "/../") != NULL ||
	    (strlen(raw) >= 3 && strcmp(raw + strlen(raw) - 3, "/..") == 0))
		return NULL;
	return raw;
}

static int keep_json(const char *name, uint64_t size)
{
	size_t n = strlen(name);

	if (size > KEEP_MAX)
		return 0;
	return strchr(name, '/') == NULL || strncmp(name, "blobs/", 6) == 0 ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static void members_free(struct members *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		free(ms->v[i].name);
		free(ms->v[i].link);
		free(ms->v[i].data);
	}
	free(ms->v);
	json_decref(ms->index);
	memset(ms, 0, sizeof *ms);
}

static struct member *member_get(const struct members *ms, const char *name)
{
	json_t *k = json_object_get(ms->index, name);
	const struct member *m;

	if (k == NULL || ms->v == NULL)
		return NULL;
	m = &ms->v[json_integer_value(k)];
	if (m->link != NULL) {
		/* resolved once, to a regular member (never a chain) */
		k = json_object_get(ms->index, m->link);
		if (k == NULL || ms->v[json_integer_value(k)].link != NULL)
			return NULL;
		m = &ms->v[json_integer_value(k)];
	}
	return (struct member *)m;
}

/* A symbolic link member (docker save links a layer that another image
 * of the archive holds already): its target relative to its directory. */
static char *link_target(const char *name, const char *target)
{
	const char *slash = strrchr(name, '/');
	char *out = NULL;
	const char *t;

	if (target == NULL || target[0] == '/')
		return NULL;
	while (strncmp(target, "../", 3) == 0 && slash != NULL) {
		const char *prev = slash;
		target += 3;
		while (prev > name && prev[-1] != '/')
			prev--;
		slash = prev > name ? prev - 1 : NULL;
	}
	if (asprintf(&out, "%.*s%s%s", slash != NULL ? (int)(slash - name) : 0, name,
	             slash != NULL ? "/" : "", target) < 0)
		return NULL;
	t = member_name(out);
	if (t == NULL || strstr(t, "../") != NULL) {
		free(out);
		return NULL;
	}
	return out;
}

static int members_read(const char *archive, struct members *ms, struct al_err *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char buf[1 << 16];
	int r, ret = -1;

	ms->index = json_object();
	if (a == NULL || ms->index == NULL) {
		archive_read_free(a);
		return al_err_sys(err, "cannot allocate memory");
	}
	archive_read_support_format_tar(a);
	archive_read_support_filter_none(a);
	if (archive_read_open_filename(a, archive, 1 << 16) != ARCHIVE_OK) {
		if (archive_errno(a) == ENOENT || archive_errno(a) == EACCES || archive_errno(a) == EIO)
			ret = al_err_set(err, AL_EENV, "%s: %s", archive, archive_error_string(a));
		else
			ret = img_refuse(err, archive, NULL, NULL, "not an uncompressed tar: %s",
			                 archive_error_string(a));
		archive_read_free(a);
		return ret;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *raw = archive_entry_pathname(e), *name;
		struct member *m;
		struct al_sha256 h;
		unsigned type = archive_entry_filetype(e);
		ssize_t got;
		char *trimmed = NULL;

		if (raw == NULL || (name = member_name(raw)) == NULL) {
			img_refuse(err, archive, NULL, raw != NULL ? raw : "(no name)",
			           "not a relative path inside the archive");
			goto out;
		}
		if (type == AE_IFDIR)
			continue;
		if (type != AE_IFREG && type != AE_IFLNK) {
			img_refuse(err, archive, NULL, name, "neither a file nor a symbolic link");
			goto out;
		}
		/* "blobs/" and "blobs" name the same thing: trailing slashes off */
		trimmed = strdup(name);
		if (trimmed == NULL) {
			al_err_sys(err, "cannot allocate memory");
			goto out;
		}
		while (strlen(trimmed) > 1 && trimmed[strlen(trimmed) - 1] == '/')
			trimmed[strlen(trimmed) - 1] = '\0';
		if (json_object_get(ms->index, trimmed) != NULL) {
			img_refuse(err, archive, NULL, trimmed,
			           "the archive holds this member twice: refused (which one is the image?)");
			free(trimmed);
			goto out;
		}
		if (ms->n == AL_IMAGE_MEMBERS_MAX) {
			img_refuse(err, archive, NULL, trimmed, "more than %d members", AL_IMAGE_MEMBERS_MAX);
			free(trimmed);
			goto out;
		}
		if (ms->n == ms->cap) {
			size_t cap = ms->cap ? ms->cap * 2 : 64;
			struct member *v = realloc(ms->v, cap * sizeof *v);
			if (v == NULL) {
				free(trimmed);
				al_err_sys(err, "cannot allocate memory");
				goto out;
			}
			ms->v = v;
			ms->cap = cap;
		}
		m = &ms->v[ms->n];
		memset(m, 0, sizeof *m);
		m->name = trimmed;
		json_object_set_new(ms->index, trimmed, json_integer((json_int_t)ms->n));
		ms->n++;
		if (type == AE_IFLNK) {
			m->link = link_target(trimmed, archive_entry_symlink(e));
			if (m->link == NULL) {
				img_refuse(err, archive, NULL, trimmed,
				           "a symbolic link that leaves the archive");
				goto out;
			}
			continue;
		}
		if (keep_json(trimmed, (uint64_t)archive_entry_size(e)) &&
		    ms->kept + (uint64_t)archive_entry_size(e) <= KEEP_TOTAL) {
			m->data = malloc((size_t)archive_entry_size(e) + 1);
			if (m->data == NULL) {
				al_err_sys(err, "cannot allocate memory");
				goto out;
			}
			ms->kept += (uint64_t)archive_entry_size(e);
		}
		if (al_sha256_init(&h) < 0) {
			al_err_set(err, AL_EENV, "SHA-256 unavailable");
			goto out;
		}
		while ((got = archive_read_data(a, buf, sizeof buf)) > 0) {
			al_sha256_update(&h, buf, (size_t)got);
			if (m->data != NULL && m->size + (uint64_t)got <= (uint64_t)archive_entry_size(e))
				memcpy(m->data + m->size, buf, (size_t)got);
			m->size += (uint64_t)got;
		}
		al_sha256_final(&h, m->sha256);
		if (got < 0) {
			img_refuse(err, archive, NULL, trimmed, "%s", archive_error_string(a));
			goto out;
		}
		if (m->data != NULL) {
			if (m->size != (uint64_t)archive_entry_size(e)) {
				img_refuse(err, archive, NULL, trimmed, "shorter than its header says");
				goto out;
			}
			m->data[m->size] = '\0';
		}
	}
	if (r != ARCHIVE_EOF) {
		img_refuse(err, archive, NULL, NULL, "not a readable tar: %s", archive_error_string(a));
		goto out;
	}
	ret = 0;
out:
	archive_read_free(a);
	return ret;
}

/* ---- descriptors ---- */

static json_t *member_json(const char *archive, const struct members *ms, const char *name,
                           struct al_err *err)
{
	const struct member *m = member_get(ms, name);

	if (m == NULL) {
		img_refuse(err, archive, NULL, name, "missing from the archive");
		return NULL;
	}
	if (m->data == NULL) {
		img_refuse(err, archive, NULL, name, "too large for JSON (over %u bytes)", KEEP_MAX);
		return NULL;
	}
	{
		char label[1200];
		json_t *v;
		snprintf(label, sizeof label, "%s: %s", archive, name);
		v = al_json_parse(m->data, (size_t)m->size, label, err);
		if (v == NULL)
			err->code = AL_EVERIFY;
		return v;
	}
}

/* A descriptor {mediaType, digest, size}: its blob is in the archive,
 * and its bytes are the digest and the size it says. */
static const struct member *blob_check(const char *archive, const struct members *ms,
                                       json_t *desc, const char *what, struct al_err *err)
{
	const char *digest = json_string_value(json_object_get(desc, "digest"));
	json_t *size = json_object_get(desc, "size");
	const struct member *m;
	unsigned char want[AL_SHA256_LEN];
	char name[128];

	if (!json_is_object(desc) || !al_image_digest_ok(digest) || !json_is_integer(size) ||
	    json_integer_value(size) < 0) {
		img_refuse(err, archive, NULL, what,
		           "not a descriptor with a sha256 digest and a size");
		return NULL;
	}
	snprintf(name, sizeof name, "blobs/sha256/%s", digest + 7);
	m = member_get(ms, name);
	if (m == NULL) {
		img_refuse(err, archive, NULL, name, "the %s's blob is missing from the archive", what);
		return NULL;
	}
	al_unhex(digest + 7, 64, want, sizeof want);
	if (memcmp(want, m->sha256, sizeof want) != 0) {
		img_refuse(err, archive, NULL, name, "its bytes are not its digest (%s): tampered",
		           what);
		return NULL;
	}
	if (m->size != (uint64_t)json_integer_value(size)) {
		img_refuse(err, archive, NULL, name, "%llu bytes, its descriptor says %lld",
		           (unsigned long long)m->size, (long long)json_integer_value(size));
		return NULL;
	}
	return m;
}

static void digest_of(const struct member *m, char out[AL_IMAGE_DIGEST_LEN])
{
	char hex[AL_SHA256_HEX];

	al_hex(m->sha256, AL_SHA256_LEN, hex);
	snprintf(out, AL_IMAGE_DIGEST_LEN, "sha256:%s", hex);
}

/* The config: Linux on this host's architecture, one diff_id a layer. */
static int config_check(const char *archive, const char *member, json_t *config,
                        struct al_image *img, struct al_err *err)
{
	const char *os = json_string_value(json_object_get(config, "os"));
	const char *arch = json_string_value(json_object_get(config, "architecture"));
	const char *created = json_string_value(json_object_get(config, "created"));
	json_t *rootfs = json_object_get(config, "rootfs"), *ids, *c;
	size_t i;

	snprintf(img->platform, sizeof img->platform, "%s/%s", os != NULL ? os : "?",
	         arch != NULL ? arch : "?");
	if (strcmp(img->platform, al_image_host_platform()) != 0)
		return img_refuse(err, archive, NULL, member,
		                  "an image for %s; this host runs %s images only", img->platform,
		                  al_image_host_platform());
	snprintf(img->created, sizeof img->created, "%s", created != NULL ? created : "");
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_object(rootfs) ||
	    strcmp(or_str(json_string_value(json_object_get(rootfs, "type")), ""), "layers") != 0 ||
	    !json_is_array(ids))
		return img_refuse(err, archive, NULL, member, "rootfs: not {\"type\": \"layers\", \"diff_ids\": [...]}");
	if (json_array_size(ids) != img->layers_n)
		return img_refuse(err, archive, NULL, member, "%zu diff_ids for %zu layers",
		                  json_array_size(ids), img->layers_n);
	json_array_foreach(ids, i, c) {
		if (!al_image_digest_ok(json_string_value(c)))
			return img_refuse(err, archive, NULL, member, "rootfs.diff_ids[%zu]: not sha256:HEX", i);
		snprintf(img->layers[i].diff_id, sizeof img->layers[i].diff_id, "%s", json_string_value(c));
	}
	c = json_object_get(config, "config");
	img->config = json_is_object(c) ? json_incref(c) : NULL;
	return 0;
}

static int layers_alloc(struct al_image *img, size_t n, const char *archive, const char *member,
                        struct al_err *err)
{
	if (n == 0 || n > AL_IMAGE_LAYERS_MAX)
		return img_refuse(err, archive, NULL, member, "%zu layers (1 to %d)", n, AL_IMAGE_LAYERS_MAX);
	img->layers = calloc(n, sizeof *img->layers);
	if (img->layers == NULL)
		return al_err_sys(err, "cannot allocate memory");
	img->layers_n = n;
	return 0;
}

static int media_compression(const char *media)
{
	static const struct {
		const char *type;
		int c;
	} known[] = {
		{"application/vnd.oci.image.layer.v1.tar", AL_IMAGE_PLAIN},
		{"application/vnd.oci.image.layer.v1.tar+gzip", AL_IMAGE_GZIP},
		{"application/vnd.oci.image.layer.v1.tar+zstd", AL_IMAGE_ZSTD},
		{"application/vnd.docker.image.rootfs.diff.tar", AL_IMAGE_PLAIN},
		{"application/vnd.docker.image.rootfs.diff.tar.gzip", AL_IMAGE_GZIP},
		{"application/vnd.docker.image.rootfs.diff.tar.zstd", AL_IMAGE_ZSTD},
	};

	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (media != NULL && strcmp(media, known[i].type) == 0)
			return known[i].c;
	return -2;
}

/* An OCI image manifest's descriptor: its blob checked, then the
 * manifest, the config and every layer. */
static int oci_image(const char *archive, const struct members *ms, json_t *desc,
                     struct al_image *img, struct al_err *err)
{
	const struct member *mm = blob_check(archive, ms, desc, "image manifest", err), *cm;
	json_t *man = NULL, *cfg = NULL, *layers, *l;
	char name[128];
	size_t i;
	int ret = -1;

	if (mm == NULL)
		return -1;
	digest_of(mm, img->manifest_digest);
	snprintf(name, sizeof name, "blobs/sha256/%s", img->manifest_digest + 7);
	if ((man = member_json(archive, ms, name, err)) == NULL)
		return -1;
	layers = json_object_get(man, "layers");
	if (!json_is_object(man) || json_integer_value(json_object_get(man, "schemaVersion")) != 2 ||
	    !json_is_array(layers)) {
		img_refuse(err, archive, NULL, name, "not an image manifest (schemaVersion 2, config, layers)");
		goto out;
	}
	if ((cm = blob_check(archive, ms, json_object_get(man, "config"), "config", err)) == NULL)
		goto out;
	digest_of(cm, img->config_digest);
	if (layers_alloc(img, json_array_size(layers), archive, name, err) < 0)
		goto out;
	json_array_foreach(layers, i, l) {
		struct al_image_layer *ly = &img->layers[i];
		const struct member *lm;
		const char *media = json_string_value(json_object_get(l, "mediaType"));
		char what[64];
		snprintf(what, sizeof what, "layers[%zu]", i);
		ly->compression = media_compression(media);
		if (ly->compression < -1) {
			img_refuse(err, archive, NULL, name, "%s: media type %s: not a layer airlock unpacks "
			           "(tar, tar+gzip, tar+zstd)", what, media != NULL ? media : "(none)");
			goto out;
		}
		if ((lm = blob_check(archive, ms, l, what, err)) == NULL)
			goto out;
		digest_of(lm, ly->digest);
		snprintf(ly->member, sizeof ly->member, "%s", lm->name);
		snprintf(ly->media, sizeof ly->media, "%s", media);
		ly->size = lm->size;
	}
	snprintf(name, sizeof name, "blobs/sha256/%s", img->config_digest + 7);
	if ((cfg = member_json(archive, ms, name, err)) == NULL ||
	    config_check(archive, name, cfg, img, err) < 0)
		goto out;
	snprintf(img->format, sizeof img->format, "oci");
	ret = 0;
out:
	json_decref(man);
	json_decref(cfg);
	return ret;
}

/* The manifests an index lists (one level of nested index, as Docker
 * writes), for this host's platform. */
static int oci_pick(const char *archive, const struct members *ms, json_t *index, const char *where,
                    int depth, json_t *found, json_t *others, struct al_err *err)
{
	json_t *mans = json_object_get(index, "manifests"), *d;
	size_t i;

	if (!json_is_object(index) || !json_is_array(mans))
		return img_refuse(err, archive, NULL, where, "not an image index (manifests: [...])");
	json_array_foreach(mans, i, d) {
		const char *media = json_string_value(json_object_get(d, "mediaType"));
		json_t *plat = json_object_get(d, "platform");
		if (media != NULL && (strcmp(media, "application/vnd.oci.image.index.v1+json") == 0 ||
		                      strcmp(media, "application/vnd.docker.distribution.manifest.list.v2+json") == 0)) {
			const struct member *im;
			json_t *sub;
			char name[128];
			int r;
			if (depth > 0)
				return img_refuse(err, archive, NULL, where, "an index nested more than once");
			if ((im = blob_check(archive, ms, d, "image index", err)) == NULL)
				return -1;
			snprintf(name, sizeof name, "%s", im->name);
			if ((sub = member_json(archive, ms, name, err)) == NULL)
				return -1;
			r = oci_pick(archive, ms, sub, name, depth + 1, found, others, err);
			json_decref(sub);
			if (r < 0)
				return -1;
			continue;
		}
		if (json_is_object(plat)) {
			char p[64];
			snprintf(p, sizeof p, "%s/%s", or_str(json_string_value(json_object_get(plat, "os")), "?"),
			         or_str(json_string_value(json_object_get(plat, "architecture")), "?"));
			if (strcmp(p, "unknown/unknown") == 0) /* attestations, as buildx writes them */
				continue;
			if (strcmp(p, al_image_host_platform()) != 0) {
				json_array_append_new(others, json_string(p));
				continue;
			}
		}
		json_array_append(found, d);
	}
	return 0;
}

static int oci_read(const char *archive, const struct members *ms, struct al_image *img,
                    struct al_err *err)
{
	json_t *layout = member_json(archive, ms, "oci-layout", err), *index = NULL;
	json_t *found = json_array(), *others = json_array();
	int ret = -1;

	if (layout == NULL)
		goto out;
	if (strcmp(or_str(json_string_value(json_object_get(layout, "imageLayoutVersion")), ""), "1.0.0") != 0) {
		img_refuse(err, archive, NULL, "oci-layout", "imageLayoutVersion is not 1.0.0");
		goto out;
	}
	if ((index = member_json(archive, ms, "index.json", err)) == NULL ||
	    oci_pick(archive, ms, index, "index.json", 0, found, others, err) < 0)
		goto out;
	if (json_array_size(found) == 0 && json_array_size(others) > 0) {
		char *list = al_json_dump(others);
		img_refuse(err, archive, NULL, "index.json", "no image for %s, only for %s",
		           al_image_host_platform(), list != NULL ? list : "other platforms");
		free(list);
		goto out;
	}
	if (json_array_size(found) != 1) {
		img_refuse(err, archive, NULL, "index.json",
		           "%zu images for %s: an archive carries one", json_array_size(found),
		           al_image_host_platform());
		goto out;
	}
	ret = oci_image(archive, ms, json_array_get(found, 0), img, err);
out:
	json_decref(layout);
	json_decref(index);
	json_decref(found);
	json_decref(others);
	return ret;
}

/* A docker save path that names its own digest ("HEX.json",
 * "blobs/sha256/HEX"): the name must be the bytes' digest. */
static int name_digest_check(const char *archive, const struct member *m, struct al_err *err)
{
	const char *base = strrchr(m->name, '/') != NULL ? strrchr(m->name, '/') + 1 : m->name;
	char hex[AL_SHA256_HEX];

	if (strspn(base, "0123456789abcdef") != 64 || (base[64] != '\0' && strcmp(base + 64, ".json") != 0))
		return 0;
	al_hex(m->sha256, AL_SHA256_LEN, hex);
	if (strncmp(base, hex, 64) != 0)
		return img_refuse(err, archive, NULL, m->name,
		                  "its bytes are not the digest its name says: tampered");
	return 0;
}

static int docker_read(const char *archive, const struct members *ms, struct al_image *img,
                       struct al_err *err)
{
	const struct member *mf = member_get(ms, "manifest.json"), *cm;
	json_t *man = member_json(archive, ms, "manifest.json", err), *one, *layers, *l, *cfg = NULL;
	const char *config;
	size_t i;
	int ret = -1;

	if (man == NULL)
		return -1;
	digest_of(mf, img->manifest_digest);
	if (!json_is_array(man) || json_array_size(man) != 1) {
		img_refuse(err, archive, NULL, "manifest.json", "%zu images: an archive carries one",
		           json_is_array(man) ? json_array_size(man) : 0);
		goto out;
	}
	one = json_array_get(man, 0);
	config = json_string_value(json_object_get(one, "Config"));
	layers = json_object_get(one, "Layers");
	if (config == NULL || !json_is_array(layers)) {
		img_refuse(err, archive, NULL, "manifest.json", "not [{\"Config\": ..., \"Layers\": [...]}]");
		goto out;
	}
	if (json_object_get(one, "LayerSources") != NULL) {
		img_refuse(err, archive, NULL, "manifest.json", "LayerSources: foreign layers are not carried");
		goto out;
	}
	if ((cm = member_get(ms, config)) == NULL) {
		img_refuse(err, archive, NULL, config, "the config is missing from the archive");
		goto out;
	}
	if (name_digest_check(archive, cm, err) < 0)
		goto out;
	digest_of(cm, img->config_digest);
	if (layers_alloc(img, json_array_size(layers), archive, "manifest.json", err) < 0)
		goto out;
	json_array_foreach(layers, i, l) {
		struct al_image_layer *ly = &img->layers[i];
		const struct member *lm = json_is_string(l) ? member_get(ms, json_string_value(l)) : NULL;
		if (lm == NULL) {
			img_refuse(err, archive, NULL, json_is_string(l) ? json_string_value(l) : "manifest.json",
			           "layer %zu is missing from the archive", i);
			goto out;
		}
		if (name_digest_check(archive, lm, err) < 0)
			goto out;
		digest_of(lm, ly->digest);
		snprintf(ly->member, sizeof ly->member, "%s", lm->name);
		ly->compression = -1; /* docker save: plain, but read whatever it is */
		ly->size = lm->size;
	}
	if ((cfg = member_json(archive, ms, cm->name, err)) == NULL ||
	    config_check(archive, cm->name, cfg, img, err) < 0)
		goto out;
	snprintf(img->format, sizeof img->format, "docker");
	ret = 0;
out:
	json_decref(man);
	json_decref(cfg);
	return ret;
}

int al_image_read(const char *archive, struct al_image *img, struct al_err *err)
{
	struct members ms = {0};
	int ret;

	memset(img, 0, sizeof *img);
	if (members_read(archive, &ms, err) < 0) {
		members_free(&ms);
		return -1;
	}
	/* Docker 25 writes both layouts: the OCI one, which has digests
	 * for everything, is read. */
	if (member_get(&ms, "oci-layout") != NULL || member_get(&ms, "index.json") != NULL)
		ret = oci_read(archive, &ms, img, err);
	else if (member_get(&ms, "manifest.json") != NULL)
		ret = docker_read(archive, &ms, img, err);
	else
		ret = img_refuse(err, archive, NULL, NULL,
		                 "neither an OCI image layout (oci-layout, index.json) nor a docker save "
		                 "archive (manifest.json)");
	members_free(&ms);
	if (ret < 0)
		al_image_free(img);
	return ret;
}

void al_image_free(struct al_image *img)
{
	free(img->layers);
	json_decref(img->config);
	json_decref(img->skipped);
	img->layers = NULL;
	img->layers_n = 0;
	img->config = img->skipped = NULL;
}

json_t *al_image_json(const struct al_image *img)
{
	json_t *layers = json_array();
	json_t *o;

	for (size_t i = 0; i < img->layers_n; i++) {
		const struct al_image_layer *l = &img->layers[i];
		json_t *e = json_pack("{s:s,s:s,s:I}", "digest", l->digest, "diff_id", l->diff_id, "size",
		                      (json_int_t)l->size);
		if (l->media[0] != '\0')
			json_object_set_new(e, "media_type", json_string(l->media));
		json_array_append_new(layers, e);
	}
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:s}", "format", img->format, "config_digest",
	              img->config_digest, "manifest_digest", img->manifest_digest, "platform",
	              img->platform, "created", img->created, "layers", layers, "unpacked_bytes",
	              (json_int_t)img->unpacked_bytes, "entries", (json_int_t)img->entries,
	              "tree_sha256", img->tree_sha256);
	if (img->config != NULL)
		json_object_set(o, "config", img->config);
	if (img->skipped != NULL && json_array_size(img->skipped) > 0)
		json_object_set(o, "skipped", img->skipped);
	return o;
}
