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
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#define KEEP_MAX AL_IMAGE_JSON_MAX /* members kept in memory: JSON candidates */
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

/* A member's name in canonical form: "" and "." components dropped
 * ("./a//b/" is "a/b"), malloc'd; NULL when it is absolute, climbs with
 * "..", is empty or longer than 4095 bytes. Two spellings of one name are
 * one member: the archive holding both is refused. */
static char *member_name(const char *raw)
{
	size_t len = strlen(raw), k = 0;
	char *out;
	const char *p = raw;

	if (len == 0 || len > 4095 || raw[0] == '/' || (out = malloc(len + 1)) == NULL)
		return NULL;
	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return NULL;
		}
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (k > 0)
				out[k++] = '/';
			memcpy(out + k, p, n);
			k += n;
		}
		p += n + (end != NULL);
	}
	out[k] = '\0';
	if (k == 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* A member small enough to be an index, a manifest or a config, whose
 * first byte says JSON (a layer is a tar, gzip or zstd: never '{'). */
static int keep_json(uint64_t size, const char *first, size_t n)
{
	return size <= KEEP_MAX && n > 0 && (first[0] == '{' || first[0] == '[');
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
	char *canon = name != NULL ? member_name(name) : NULL;
	json_t *k = canon != NULL ? json_object_get(ms->index, canon) : NULL;
	const struct member *m;

	free(canon);
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
	char *out = NULL, *t;

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
	free(out);
	return t;
}

static int members_read(const char *archive, struct members *ms, struct al_progress *pr,
                        struct al_err *err)
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
		const char *raw = archive_entry_pathname(e);
		struct member *m;
		struct al_sha256 h;
		unsigned type = archive_entry_filetype(e);
		uint64_t want = archive_entry_size(e) > 0 ? (uint64_t)archive_entry_size(e) : 0;
		ssize_t got;
		char *name;

		if (raw == NULL || (name = member_name(raw)) == NULL) {
			img_refuse(err, archive, NULL, raw != NULL ? "(a member)" : "(no name)",
			           "not a relative path of at most 4095 bytes inside the archive: %.80s",
			           raw != NULL ? raw : "");
			goto out;
		}
		if (type == AE_IFDIR) {
			free(name);
			continue;
		}
		if ((type != AE_IFREG && type != AE_IFLNK) || archive_entry_sparse_count(e) > 0 ||
		    archive_entry_hardlink(e) != NULL) {
			img_refuse(err, archive, NULL, name,
			           "neither a plain file nor a symbolic link (a sparse file, a hard link?)");
			free(name);
			goto out;
		}
		if (json_object_get(ms->index, name) != NULL) {
			img_refuse(err, archive, NULL, name,
			           "the archive holds this member twice: refused (which one is the image?)");
			free(name);
			goto out;
		}
		if (ms->n == AL_IMAGE_MEMBERS_MAX) {
			img_refuse(err, archive, NULL, name, "more than %d members", AL_IMAGE_MEMBERS_MAX);
			free(name);
			goto out;
		}
		if (ms->n == ms->cap) {
			size_t cap = ms->cap ? ms->cap * 2 : 64;
			struct member *v = realloc(ms->v, cap * sizeof *v);
			if (v == NULL) {
				free(name);
				al_err_sys(err, "cannot allocate memory");
				goto out;
			}
			ms->v = v;
			ms->cap = cap;
		}
		m = &ms->v[ms->n];
		memset(m, 0, sizeof *m);
		m->name = name;
		json_object_set_new(ms->index, name, json_integer((json_int_t)ms->n));
		ms->n++;
		if (type == AE_IFLNK) {
			m->link = link_target(name, archive_entry_symlink(e));
			if (m->link == NULL) {
				img_refuse(err, archive, NULL, name,
				           "a symbolic link that leaves the archive");
				goto out;
			}
			continue;
		}
		if (al_sha256_init(&h) < 0) {
			al_err_set(err, AL_EENV, "SHA-256 unavailable");
			goto out;
		}
		while ((got = archive_read_data(a, buf, sizeof buf)) > 0) {
			if (m->size == 0 && keep_json(want, buf, (size_t)got) && ms->kept + want <= KEEP_TOTAL) {
				m->data = malloc((size_t)want + 1);
				if (m->data == NULL) {
					al_sha256_abort(&h);
					al_err_sys(err, "cannot allocate memory");
					goto out;
				}
				ms->kept += want;
			}
			al_sha256_update(&h, buf, (size_t)got);
			al_progress_at(pr, (uint64_t)archive_filter_bytes(a, -1));
			/* an uncompressed tar: a member is never more than its header says */
			if (m->size + (uint64_t)got > want) {
				al_sha256_abort(&h);
				img_refuse(err, archive, NULL, name, "longer than its header says");
				goto out;
			}
			if (m->data != NULL)
				memcpy(m->data + m->size, buf, (size_t)got);
			m->size += (uint64_t)got;
		}
		al_sha256_final(&h, m->sha256);
		if (got < 0) {
			img_refuse(err, archive, NULL, name, "%s", archive_error_string(a));
			goto out;
		}
		if (m->size != want) {
			img_refuse(err, archive, NULL, name, "shorter than its header says");
			goto out;
		}
		if (m->data != NULL)
			m->data[m->size] = '\0';
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

/* ---- JSON ---- */

static int by_casefold(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key of some object of v that another key of the same object equals
 * but for case ("layers" and "Layers"): Go's encoding/json, which Docker
 * and containerd read images with, takes either for the other, so the
 * image they run could differ from the one checked here. NULL if none. */
static const char *casefold_twice(json_t *v)
{
	const char *found = NULL, *k;
	json_t *x;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if ((found = casefold_twice(x)) != NULL)
				return found;
		}
		return NULL;
	}
	if (!json_is_object(v) || json_object_size(v) == 0)
		return NULL;
	{
		const char **keys = calloc(json_object_size(v), sizeof *keys);
		size_t n = 0;
		if (keys == NULL)
			return "(out of memory)";
		json_object_foreach(v, k, x) {
			keys[n++] = k;
		}
		qsort(keys, n, sizeof *keys, by_casefold);
		for (i = 1; i < n && found == NULL; i++)
			if (strcasecmp(keys[i - 1], keys[i]) == 0)
				found = keys[i];
		free(keys);
	}
	json_object_foreach(v, k, x) {
		if (found == NULL)
			found = casefold_twice(x);
	}
	return found;
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
		const char *twice;
		v = al_json_parse(m->data, (size_t)m->size, label, err);
		if (v == NULL) {
			err->code = AL_EVERIFY;
			return NULL;
		}
		if ((twice = casefold_twice(v)) != NULL) {
			img_refuse(err, archive, NULL, name,
			           "the key \"%s\" twice but for case: which one a reader takes differs", twice);
			json_decref(v);
			return NULL;
		}
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

/* The config member, parsed and checked; the layout's name into img. */
static int config_read(const char *archive, const struct members *ms, const char *name,
                       const char *format, struct al_image *img, struct al_err *err)
{
	json_t *cfg = member_json(archive, ms, name, err);
	int r = cfg == NULL ? -1 : config_check(archive, name, cfg, img, err);

	json_decref(cfg);
	if (r == 0)
		snprintf(img->format, sizeof img->format, "%s", format);
	return r;
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
	json_t *man = NULL, *layers, *l;
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
	ret = config_read(archive, ms, name, "oci", img, err);
out:
	json_decref(man);
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
 * "blobs/sha256/HEX"), as manifest.json gives it (a symbolic link member
 * is checked by the name that leads to it): the bytes must be it. */
static int name_digest_check(const char *archive, const char *ref, const struct member *m,
                             struct al_err *err)
{
	const char *base = strrchr(ref, '/') != NULL ? strrchr(ref, '/') + 1 : ref;
	char hex[AL_SHA256_HEX];

	if (strspn(base, "0123456789abcdef") != 64 || (base[64] != '\0' && strcmp(base + 64, ".json") != 0))
		return 0;
	al_hex(m->sha256, AL_SHA256_LEN, hex);
	if (strncmp(base, hex, 64) != 0)
		return img_refuse(err, archive, NULL, ref,
		                  "its bytes are not the digest its name says: tampered");
	return 0;
}

static int docker_read(const char *archive, const struct members *ms, struct al_image *img,
                       struct al_err *err)
{
	const struct member *mf = member_get(ms, "manifest.json"), *cm;
	json_t *man = member_json(archive, ms, "manifest.json", err), *one, *layers, *l;
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
	if (name_digest_check(archive, config, cm, err) < 0)
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
		if (name_digest_check(archive, json_string_value(l), lm, err) < 0)
			goto out;
		digest_of(lm, ly->digest);
		snprintf(ly->member, sizeof ly->member, "%s", lm->name);
		ly->compression = -1; /* docker save: plain, but read whatever it is */
		ly->size = lm->size;
	}
	ret = config_read(archive, ms, cm->name, "docker", img, err);
out:
	json_decref(man);
	return ret;
}

/* Docker 25 writes both layouts: its manifest.json must name the image
 * index.json names (docker load reads manifest.json), member for member. */
static int both_layouts(const char *archive, const struct members *ms, const struct al_image *img,
                        struct al_err *err)
{
	json_t *man = member_json(archive, ms, "manifest.json", err), *one, *layers;
	const struct member *cm;
	int ok;

	if (man == NULL)
		return -1;
	one = json_array_get(man, 0);
	layers = json_object_get(one, "Layers");
	cm = member_get(ms, json_string_value(json_object_get(one, "Config")));
	ok = json_is_array(man) && json_array_size(man) == 1 && cm != NULL &&
	     json_array_size(layers) == img->layers_n;
	if (ok) {
		char hex[AL_SHA256_HEX];
		al_hex(cm->sha256, AL_SHA256_LEN, hex);
		ok = strcmp(hex, img->config_digest + 7) == 0;
	}
	for (size_t i = 0; ok && i < img->layers_n; i++) {
		const struct member *lm = member_get(ms, json_string_value(json_array_get(layers, i)));
		ok = lm != NULL && strcmp(lm->name, img->layers[i].member) == 0;
	}
	json_decref(man);
	if (!ok)
		return img_refuse(err, archive, NULL, "manifest.json",
		                  "names another image than index.json (docker load would take it)");
	return 0;
}

int al_image_read(const char *archive, struct al_image *img, struct al_progress *pr,
                  struct al_err *err)
{
	struct members ms = {0};
	struct stat st;
	int ret;

	void *utf8;

	memset(img, 0, sizeof *img);
	al_progress_phase(pr, "checking every blob", stat(archive, &st) == 0 ? (uint64_t)st.st_size : 0);
	utf8 = img_utf8_begin();
	ret = members_read(archive, &ms, pr, err);
	img_utf8_end(utf8);
	al_progress_end(pr);
	if (ret < 0) {
		members_free(&ms);
		return -1;
	}
	/* Docker 25 writes both layouts: the OCI one, which has digests
	 * for everything, is read. */
	if (member_get(&ms, "oci-layout") != NULL || member_get(&ms, "index.json") != NULL) {
		ret = oci_read(archive, &ms, img, err);
		if (ret == 0 && member_get(&ms, "manifest.json") != NULL)
			ret = both_layouts(archive, &ms, img, err);
	}
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
