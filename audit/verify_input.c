/* verify_input.c - what a verifier reads (al_audit_verify): a
 * directory of segments, with its anchor and the host key found beside
 * it; or an evidence export (FORMAT.md §7) as it is, without unpacking
 * it: its members read in one pass from the tar.zst (zstd with a
 * bounded window), the small ones (host.pub, the checkpoint and its
 * signature) first, then every segment, in order. Either goes through
 * the same line verifier (verify.c). */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

la_ssize_t archive_read_cb(struct archive *a, void *data, const void **out)
{
	struct archive_ctx *c = data;
	size_t got;

	(void)a;
	if (c->outer->read(c->outer, c->buf, sizeof c->buf, &got, c->err) < 0) {
		c->failed = 1;
		return -1;
	}
	*out = c->buf;
	return (la_ssize_t)got;
}

struct entry_impl {
	struct archive *a;
};

static int entry_read(struct al_stream *src, void *buf, size_t n, size_t *got,
                      struct al_err *err)
{
	struct entry_impl *e = src->impl;
	la_ssize_t r = archive_read_data(e->a, buf, n);

	if (r < 0)
		return al_err_set(err, AL_EVERIFY, "%s: %s", src->name, archive_error_string(e->a));
	*got = (size_t)r;
	return 0;
}

static void entry_close(struct al_stream *src)
{
	free(src);
}

/* The current archive member as a stream (name is kept, not copied). */
static struct al_stream *entry_stream(struct archive *a, const char *name, struct al_err *err)
{
	struct al_stream *src = calloc(1, sizeof *src + sizeof(struct entry_impl));

	if (src == NULL) {
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	src->impl = src + 1;
	((struct entry_impl *)src->impl)->a = a;
	src->read = entry_read;
	src->close = entry_close;
	src->name = name;
	return src;
}

/* Reads a small archive member whole. */
static int entry_slurp(struct archive *a, const char *name, char **text, size_t *len,
                       struct al_err *err)
{
	size_t cap = 65536, used = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (;;) {
		la_ssize_t r = archive_read_data(a, buf + used, cap - used);
		if (r < 0) {
			free(buf);
			return al_err_set(err, AL_EVERIFY, "%s: %s", name, archive_error_string(a));
		}
		if (r == 0)
			break;
		used += (size_t)r;
		if (used == cap) {
			free(buf);
			return al_err_set(err, AL_EVERIFY, "%s: larger than %zu bytes", name, cap);
		}
	}
	buf[used] = '\0';
	*text = buf;
	*len = used;
	return 0;
}

/* The members of an export for people (VERIFY.txt, FORMAT.md,
 * report.html), each hashed as it is read: members.txt, signed by the
 * host key, must name each with its hash (FORMAT.md §7). */
#define PEOPLE_MAX 8
struct people {
	char name[PEOPLE_MAX][64];
	char hex[PEOPLE_MAX][AL_SHA256_HEX];
	int n;
};

static int people_hash(struct people *p, struct archive *a, const char *name, const char *path,
                       struct al_err *err)
{
	struct al_stream *src;
	struct al_sha256 h;
	unsigned char sum[AL_SHA256_LEN], buf[16384];
	size_t got = 0;
	int ret = 0;

	if (p->n == PEOPLE_MAX || strlen(name) >= sizeof p->name[0])
		return al_err_set(err, AL_EVERIFY, "%s: member %s: more members than an export holds",
		                  path, name);
	if ((src = entry_stream(a, name, err)) == NULL)
		return -1;
	if (al_sha256_init(&h) < 0) {
		src->close(src);
		return al_err_set(err, AL_EENV, "cannot hash");
	}
	while ((ret = src->read(src, buf, sizeof buf, &got, err)) == 0 && got > 0)
		al_sha256_update(&h, buf, got);
	al_sha256_final(&h, sum);
	src->close(src);
	if (ret < 0)
		return -1;
	memcpy(p->name[p->n], name, strlen(name) + 1);
	al_hex(sum, sizeof sum, p->hex[p->n]);
	p->n++;
	return 0;
}

/* A member read whole, listed too when members.txt is there (the
 * checkpoint and the range the list was made with); absent: nothing. */
static int people_add(struct people *p, const char *name, const char *text, size_t len,
                      struct al_err *err)
{
	unsigned char sum[AL_SHA256_LEN];

	if (text == NULL)
		return 0;
	if (p->n == PEOPLE_MAX)
		return al_err_set(err, AL_EVERIFY, "%s: more members than an export holds", name);
	al_sha256_buf(text, len, sum);
	memcpy(p->name[p->n], name, strlen(name) + 1);
	al_hex(sum, sizeof sum, p->hex[p->n]);
	p->n++;
	return 0;
}

/* members.txt checked: its signature by the host key, then every member
 * for people against it, and it against them. An export without it (one
 * made before issue 20) gets a warning, unless it holds report.html. */
static int people_check(struct verifier *v, const struct people *p, const char *text, size_t len,
                        const char *sig_text, size_t sig_len, const struct al_pubkey *pub)
{
	struct al_sig sig;
	struct al_err e = {0};
	const char *line = text;
	int listed[PEOPLE_MAX] = {0};

	if (text == NULL && sig_text == NULL) {
		for (int i = 0; i < p->n; i++)
			if (strcmp(p->name[i], "report.html") == 0) {
				vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
				          "report.html without members.txt: the page is covered by no signature");
				return -1;
			}
		if (p->n > 0)
			vf_report(v, AL_FINDING_WARNING, 0, NULL, 0, 0,
			          "no members.txt: VERIFY.txt and FORMAT.md are covered by no signature "
			          "(an export made before airlock kept it)");
		return 0;
	}
	if (text == NULL || sig_text == NULL || pub == NULL ||
	    al_sig_parse(sig_text, sig_len, "members.txt.minisig", &sig, &e) < 0 ||
	    al_sig_verify_buf(pub, &sig, text, len, "members.txt.minisig", &e) < 0) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "members.txt: %s",
		          text == NULL       ? "a signature without the list"
		          : sig_text == NULL ? "the list without its signature by the host key"
		          : pub == NULL      ? "no host key to check its signature with"
		                             : e.msg);
		return -1;
	}
	while (line < text + len) {
		const char *nl = memchr(line, '\n', (size_t)(text + len - line));
		size_t n = nl != NULL ? (size_t)(nl - line) : (size_t)(text + len - line);
		int found = 0;
		for (int i = 0; i < p->n; i++) {
			size_t k = strlen(p->name[i]);
			if (n == AL_SHA256_HEX - 1 + 2 + k && memcmp(line + AL_SHA256_HEX + 1, p->name[i], k) == 0 &&
			    line[AL_SHA256_HEX - 1] == ' ' && line[AL_SHA256_HEX] == ' ') {
				found = 1;
				listed[i] = 1;
				if (memcmp(line, p->hex[i], AL_SHA256_HEX - 1) != 0) {
					vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
					          "%s: changed since the export was made (its hash is not the one "
					          "members.txt gives)",
					          p->name[i]);
					return -1;
				}
			}
		}
		if (!found && ((n == AL_SHA256_HEX - 1 + 2 + 14 && memcmp(line + AL_SHA256_HEX + 1, "checkpoint.txt", 14) == 0) ||
		               (n == AL_SHA256_HEX - 1 + 2 + 10 && memcmp(line + AL_SHA256_HEX + 1, "export.txt", 10) == 0)))
			found = 1; /* missing: its own check says so (no checkpoint, no range) */
		if (!found) {
			vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
			          "members.txt names a member the export does not hold: %.*s", (int)n, line);
			return -1;
		}
		line += n + 1;
	}
	for (int i = 0; i < p->n; i++)
		if (!listed[i]) {
			vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
			          "%s: a member members.txt does not name (added after the export was made)",
			          p->name[i]);
			return -1;
		}
	return 0;
}

static int verify_export(struct verifier *v, const char *path, struct al_err *err)
{
	struct archive_ctx *ctx = calloc(1, sizeof *ctx);
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *pub_text = NULL, *cp_text = NULL, *cp_sig = NULL, *cp_sig2 = NULL;
	char *range_text = NULL, *range_sig = NULL, *mem_text = NULL, *mem_sig = NULL;
	size_t pub_len = 0, cp_len = 0, cp_sig_len = 0, cp_sig2_len = 0, range_len = 0, range_sig_len = 0;
	size_t mem_len = 0, mem_sig_len = 0;
	struct people people = {0};
	struct al_pubkey pub;
	int have_pub = 0, ret = -1, fd, segments_started = 0, cp_added = 0;

	if (ctx == NULL || a == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	ctx->err = err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		al_err_sys(err, "%s", path);
		goto out;
	}
	/* Our zstd reader, bounded window, under libarchive's tar reader. */
	ctx->outer = al_stream_fd(fd, 1, path, err);
	if (ctx->outer == NULL)
		goto out;
	archive_read_support_format_tar(a);
	if (archive_read_open(a, ctx, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
		if (!ctx->failed)
			al_err_set(err, AL_EVERIFY, "%s: %s", path, archive_error_string(a));
		goto out;
	}
	if (v->o->host_pub != NULL) {
		if (al_pubkey_load(v->o->host_pub, &pub, err) < 0)
			goto out;
		have_pub = 1;
	}
	for (;;) {
		int r = archive_read_next_header(a, &e), zst;
		const char *name;
		unsigned long n;

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			if (!ctx->failed)
				al_err_set(err, AL_EVERIFY, "%s: %s", path, archive_error_string(a));
			goto out;
		}
		name = archive_entry_pathname(e);
		if (name == NULL || archive_entry_filetype(e) != AE_IFREG || strchr(name, '/') != NULL) {
			al_err_set(err, AL_EVERIFY, "%s: member %s is not a plain file of an export", path,
			           name != NULL ? name : "(no name)");
			goto out;
		}
		n = seg_parse(name, &zst);
		if (n == 0) {
			char **dst = NULL;
			size_t *dlen = NULL;
			if (segments_started) {
				al_err_set(err, AL_EVERIFY, "%s: member %s after the segments", path, name);
				goto out;
			}
			if (strcmp(name, "seals.jsonl") == 0) {
				/* before the segments: the keys of their seals */
				struct al_stream *src = entry_stream(a, "seals.jsonl", err);
				int rr = src != NULL ? vf_seal_chain(v, src, err) : -1;
				if (src != NULL)
					src->close(src);
				if (rr != 0) {
					ret = rr;
					goto out;
				}
				continue;
			}
			if (strcmp(name, "host.pub") == 0)
				dst = &pub_text, dlen = &pub_len;
			else if (strcmp(name, "checkpoint.txt") == 0)
				dst = &cp_text, dlen = &cp_len;
			else if (strcmp(name, "checkpoint.txt.minisig") == 0)
				dst = &cp_sig, dlen = &cp_sig_len;
			else if (strcmp(name, "checkpoint.txt.sig") == 0)
				dst = &cp_sig2, dlen = &cp_sig2_len;
			else if (strcmp(name, "export.txt") == 0)
				dst = &range_text, dlen = &range_len;
			else if (strcmp(name, "export.txt.sig") == 0)
				dst = &range_sig, dlen = &range_sig_len;
			else if (strcmp(name, "members.txt") == 0)
				dst = &mem_text, dlen = &mem_len;
			else if (strcmp(name, "members.txt.minisig") == 0)
				dst = &mem_sig, dlen = &mem_sig_len;
			if (dst == NULL) {
				/* VERIFY.txt, FORMAT.md, report.html: for people, hashed
				 * for members.txt */
				if (people_hash(&people, a, name, path, err) < 0)
					goto out;
				continue;
			}
			if (*dst != NULL) {
				/* tar -x keeps the last of two, this reader the first:
				 * what is verified must be what a reader unpacks */
				al_err_set(err, AL_EVERIFY, "%s: member %s twice", path, name);
				goto out;
			}
			if (entry_slurp(a, name, dst, dlen, err) < 0)
				goto out;
			continue;
		}
		if (!segments_started) {
			/* Everything the segments are checked against is in hand. */
			segments_started = 1;
			if (!have_pub && pub_text != NULL) {
				if (al_pubkey_parse(pub_text, pub_len, "host.pub", &pub, err) < 0)
					goto out;
				have_pub = 1;
			}
			if (mem_text != NULL &&
			    (people_add(&people, "checkpoint.txt", cp_text, cp_len, err) < 0 ||
			     people_add(&people, "export.txt", range_text, range_len, err) < 0))
				goto out;
			if (people_check(v, &people, mem_text, mem_len, mem_sig, mem_sig_len,
			                 have_pub ? &pub : NULL) < 0) {
				ret = 1;
				goto out;
			}
			if (v->o->anchor != NULL) {
				ret = vf_anchor_add(v, &pub, have_pub, err);
				if (ret != 0)
					goto out;
				ret = -1;
			}
			if (cp_text != NULL) {
				ret = vf_checkpoint_add(v, cp_text, cp_len, cp_sig, cp_sig_len, cp_sig2,
				                        cp_sig2_len, have_pub ? &pub : NULL,
				                        "the export's checkpoint.txt", err);
				if (ret != 0)
					goto out;
				ret = -1;
				cp_added = 1;
				v->export_cp = v->ncp - 1;
				v->sum->checkpoint_checked = 1;
				if (range_text != NULL &&
				    vf_range_add(v, range_text, range_len, range_sig, range_sig_len, err) < 0)
					goto out;
			}
		}
		if (vf_segment_begin(v, n, zst) < 0) {
			ret = 1;
			goto out;
		}
		{
			struct al_stream *src = entry_stream(a, v->segname, err);
			int rr;
			if (src == NULL)
				goto out;
			if (zst && (src = al_stream_zstd(src, AL_ZSTD_WINDOW_LOG_MAX, err)) == NULL)
				goto out;
			/* Whether this is the last segment is not known while
			 * streaming; a missing final newline in a closed segment is
			 * still caught: the next segment's first line would fail. */
			rr = vf_verify_source(v, src, 1, err);
			src->close(src);
			if (rr != 0) {
				ret = rr;
				goto out;
			}
		}
	}
	if (!segments_started) {
		al_err_set(err, AL_EUSAGE, "%s: no audit segments in this export", path);
		goto out;
	}
	if (!cp_added) {
		/* An export ends at a signed checkpoint (FORMAT.md §7): without
		 * it, entries cut off its end could not be told. */
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		          "the export holds no checkpoint: its end cannot be checked");
		ret = 1;
		goto out;
	}
	ret = vf_finish(v);
out:
	archive_read_free(a);
	if (ctx != NULL && ctx->outer != NULL)
		ctx->outer->close(ctx->outer);
	free(ctx);
	free(pub_text);
	free(cp_text);
	free(cp_sig);
	free(cp_sig2);
	free(range_text);
	free(range_sig);
	free(mem_text);
	free(mem_sig);
	return ret;
}

/* The host public key: the one given, or host.pub beside the log. */
static int pub_find(const char *given, const char *dir, struct al_pubkey *pub, int *have,
                    struct al_err *err)
{
	char path[PATH_MAX];

	*have = 0;
	if (given != NULL) {
		if (al_pubkey_load(given, pub, err) < 0)
			return -1;
		*have = 1;
		return 0;
	}
	for (int up = 0; up < 2; up++) {
		al_snprintf(path, sizeof path, up ? "%s/../host.pub" : "%s/host.pub", dir);
		if (access(path, F_OK) == 0) {
			if (al_pubkey_load(path, pub, err) < 0)
				return -1;
			*have = 1;
			return 0;
		}
	}
	return 0;
}

static int verify_dir(struct verifier *v, const char *dir, struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, dirfd, ret = -1, have_pub;
	struct al_pubkey pub;
	long count;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return al_err_sys(err, "%s", dir);
	if (v->o->anchor != NULL) {
		if (pub_find(v->o->host_pub, dir, &pub, &have_pub, err) < 0)
			goto out;
		ret = vf_anchor_add(v, &pub, have_pub, err);
		if (ret != 0)
			goto out;
		ret = -1;
	}
	count = seg_list(dirfd, dir, &nums, &zsts, err);
	if (count < 0)
		goto out;
	if (count == 0) {
		al_err_set(err, AL_EUSAGE, "%s: no audit segments (audit-NNNNNN.jsonl) here", dir);
		goto out;
	}
	for (long i = 0; i < count; i++) {
		struct al_stream *src;
		char name[SEG_NAME_MAX];
		int fd, r;

		if (vf_segment_begin(v, nums[i], zsts[i]) < 0) {
			ret = 1;
			goto out;
		}
		seg_name(nums[i], zsts[i], name);
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			al_err_sys(err, "%s/%s", dir, name);
			goto out;
		}
		/* Read once, front to back: a larger readahead for a log not in
		 * the page cache. Advice only; its failure changes nothing. */
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		src = al_stream_fd(fd, zsts[i], v->segname, err);
		if (src == NULL)
			goto out;
		r = vf_verify_source(v, src, i == count - 1, err);
		src->close(src);
		if (r != 0) {
			ret = r;
			goto out;
		}
	}
	ret = vf_finish(v);
out:
	free(nums);
	free(zsts);
	close(dirfd);
	return ret;
}

int al_audit_verify(const char *path, const struct al_verify_opts *opts,
                    struct al_verify_summary *sum, struct al_err *err)
{
	struct verifier *v = calloc(1, sizeof *v);
	struct al_verify_opts none = {0};
	int ret;

	if (v == NULL)
		return al_err_sys(err, "cannot allocate memory");
	memset(sum, 0, sizeof *sum);
	sum->first_epoch = sum->last_epoch = -1;
	v->o = opts != NULL ? opts : &none;
	v->sum = sum;
	v->expect_epoch = -1;
	v->export_cp = -1;
	if (v->o->seal_key != NULL) {
		v->key = sodium_malloc(AL_SHA256_LEN);
		if (v->key == NULL) {
			free(v);
			return al_err_sys(err, "cannot allocate secure memory");
		}
		memcpy(v->key, v->o->seal_key, AL_SHA256_LEN);
	}
	{
		size_t n = strlen(path);
		int is_export = n > 8 && strcmp(path + n - 8, ".tar.zst") == 0;
		v->is_export = is_export;
		ret = is_export ? verify_export(v, path, err) : verify_dir(v, path, err);
	}
	if (ret == 0 && v->failed)
		ret = 1;
	if (v->key != NULL)
		sodium_free(v->key);
	free(v);
	return ret;
}

