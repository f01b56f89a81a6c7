/* verify.c - the single streaming pass over a bundle (FORMAT.md §6):
 * nothing is trusted before it is checked, and nothing is written outside
 * a private temporary directory before the manifest carries enough valid
 * signatures. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

struct sig_member {
	char keyid[AL_KEYID_HEX];
	char *text;
	size_t len;
};

struct pass {
	struct al_bundle_opts *o;
	struct al_bundle_result *res;
	struct al_err *err;
	struct bundle_reader *r;
	char *manifest;
	size_t manifest_len;
	struct al_manifest *m;
	struct sig_member sigs[SIGS_MAX];
	size_t nsigs;
	int tmpfd;           /* the private directory, when extracting */
	int dirfd;           /* the last parent directory opened in it */
	char dirpath[PATH_MAX];
	char *buf;
};

static int reject(struct pass *p, const char *member, const char *fmt, ...) AL_PRINTF(3, 4);

/* A rejection: the bundle is not to be trusted (AL_EVERIFY). */
static int reject(struct pass *p, const char *member, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->res->reason, sizeof p->res->reason, fmt, ap);
	va_end(ap);
	snprintf(p->res->member, sizeof p->res->member, "%s", member != NULL ? member : "");
	if (member != NULL)
		return al_err_set(p->err, AL_EVERIFY, "%s: %s", member, p->res->reason);
	return al_err_set(p->err, AL_EVERIFY, "%s", p->res->reason);
}

/* A rejection whose reason is already in err (from a reader). */
static int reject_err(struct pass *p, const char *member)
{
	snprintf(p->res->reason, sizeof p->res->reason, "%s", p->err->msg);
	snprintf(p->res->member, sizeof p->res->member, "%s", member != NULL ? member : "");
	if (p->err->code != AL_EENV)
		p->err->code = AL_EVERIFY;
	return -1;
}

static const char *type_name(struct archive_entry *e)
{
	if (archive_entry_hardlink(e) != NULL)
		return "a hard link";
	switch (archive_entry_filetype(e)) {
	case AE_IFLNK: return "a symbolic link";
	case AE_IFDIR: return "a directory";
	case AE_IFCHR: return "a character device";
	case AE_IFBLK: return "a block device";
	case AE_IFIFO: return "a FIFO";
	case AE_IFSOCK: return "a socket";
	case AE_IFREG: return NULL;
	default: return "not a regular file";
	}
}

/* A ".." component anywhere: "../x", "a/../../x", "a/..". */
static int climbs(const char *name)
{
	for (const char *c = name; c != NULL; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
		if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
			return 1;
	return 0;
}

/* Checks what every member must be: a plain regular file, no special
 * bits, an absolute or climbing name refused even before it is compared
 * with the manifest (a name is never used to open anything). */
static int member_plain(struct pass *p, struct archive_entry *e, const char *name)
{
	const char *type = type_name(e);
	mode_t mode = archive_entry_perm(e);

	if (type != NULL)
		return reject(p, name, "%s: only regular files may be in a bundle", type);
	if (mode & (S_ISUID | S_ISGID | S_ISVTX))
		return reject(p, name, "a setuid, setgid or sticky bit (mode %04o)", (unsigned)mode);
	if (name[0] == '/' || climbs(name))
		return reject(p, name, "an absolute or climbing path");
	return 0;
}

/* ---- the trust policy ---- */

static const struct al_policy_key *policy_key(const struct al_policy *pol, const char *keyid)
{
	for (size_t i = 0; pol != NULL && i < pol->keys_n; i++) {
		char hex[AL_KEYID_HEX];
		al_keyid_hex(pol->keys[i].keyid, hex);
		if (strcmp(hex, keyid) == 0)
			return &pol->keys[i];
	}
	return NULL;
}

static void note_ignored(struct pass *p, const char *fmt, const char *keyid)
{
	size_t n = strlen(p->res->ignored);

	snprintf(p->res->ignored + n, sizeof p->res->ignored - n, "%s", n ? "; " : "");
	n = strlen(p->res->ignored);
	snprintf(p->res->ignored + n, sizeof p->res->ignored - n, fmt, keyid);
}

/* At least threshold distinct policy keys, unexpired, with valid
 * signatures over the manifest's exact bytes. Others are reported, never
 * counted; a key cannot count twice (one member per key id). */
static int check_trust(struct pass *p, int64_t now)
{
	const struct al_policy *pol = p->o->policy;
	int threshold = pol != NULL ? pol->threshold : 1;

	for (size_t i = 0; i < p->nsigs; i++) {
		const struct al_policy_key *k = policy_key(pol, p->sigs[i].keyid);
		struct al_sig sig;
		struct al_err serr = {0};
		char name[64];

		snprintf(name, sizeof name, SIG_DIR "%s" SIG_SUFFIX, p->sigs[i].keyid);
		if (al_sig_parse(p->sigs[i].text, p->sigs[i].len, name, &sig, &serr) < 0)
			return reject(p, name, "%s", serr.msg);
		{
			char inside[AL_KEYID_HEX];
			al_keyid_hex(sig.keyid, inside);
			if (strcmp(inside, p->sigs[i].keyid) != 0)
				return reject(p, name, "holds a signature by key %s", inside);
		}
		if (k == NULL) {
			note_ignored(p, "%s: not in the trust policy", p->sigs[i].keyid);
			continue;
		}
		if (k->expires_us != 0 && k->expires_us < now) {
			note_ignored(p, "%s: the key has expired in the trust policy", p->sigs[i].keyid);
			continue;
		}
		if (al_sig_verify_buf(&k->pub, &sig, p->manifest, p->manifest_len, name, &serr) < 0) {
			note_ignored(p, "%s: the signature does not verify over this manifest", p->sigs[i].keyid);
			continue;
		}
		memcpy(p->res->signers[p->res->signers_n++], p->sigs[i].keyid, AL_KEYID_HEX);
	}
	if ((int)p->res->signers_n < threshold)
		return reject(p, "manifest.json",
		              "%zu of %d required signatures by keys of the trust policy%s%s%s",
		              p->res->signers_n, threshold, p->res->ignored[0] ? " (" : "",
		              p->res->ignored, p->res->ignored[0] ? ")" : "");
	return 0;
}

/* ---- extraction ---- */

/* Opens (creating) the directory that holds path, relative to the private
 * directory, one component at a time with O_NOFOLLOW: nothing in it can
 * be a symlink, since we made everything in it, but we check anyway. */
static int parent_dir(struct pass *p, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash != NULL ? (size_t)(slash - path) : 0;
	char comp[256];
	int fd, next;

	*base = slash != NULL ? slash + 1 : path;
	if (p->dirfd >= 0 && strlen(p->dirpath) == dlen && strncmp(p->dirpath, path, dlen) == 0)
		return p->dirfd;
	if (p->dirfd >= 0 && p->dirfd != p->tmpfd)
		close(p->dirfd);
	p->dirfd = -1;
	fd = p->tmpfd;
	for (const char *c = path; c < path + dlen;) {
		const char *end = memchr(c, '/', (size_t)(path + dlen - c));
		size_t n = end != NULL ? (size_t)(end - c) : (size_t)(path + dlen - c);
		memcpy(comp, c, n);
		comp[n] = '\0';
		if (al_sys_mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) {
			al_err_sys(p->err, "%s: mkdir", path);
			goto fail;
		}
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != p->tmpfd)
			close(fd);
		if (next < 0) {
			al_err_sys(p->err, "%s: open directory", path);
			return -1;
		}
		fd = next;
		c += n + 1;
	}
	memcpy(p->dirpath, path, dlen);
	p->dirpath[dlen] = '\0';
	p->dirfd = fd;
	return fd;
fail:
	if (fd != p->tmpfd)
		close(fd);
	return -1;
}

/* Streams one member's data: hashed, counted, and written when
 * extracting. */
static int member_data(struct pass *p, const struct al_file *f, const char *name)
{
	struct al_sha256 h;
	unsigned char sum[AL_SHA256_LEN];
	const char *base;
	uint64_t total = 0;
	int fd = -1, dir;

	if (p->tmpfd >= 0) {
		dir = parent_dir(p, f->path, &base);
		if (dir < 0)
			return -1;
		fd = al_openat(dir, base, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			return al_err_sys(p->err, "%s: create", f->path);
	}
	if (al_sha256_init(&h) < 0) {
		if (fd >= 0)
			close(fd);
		return al_err_set(p->err, AL_EENV, "cannot start SHA-256");
	}
	for (;;) {
		la_ssize_t n = archive_read_data(p->r->a, p->buf, BUNDLE_CHUNK);
		if (n < 0) {
			al_sha256_abort(&h);
			if (fd >= 0)
				close(fd);
			if (!p->r->failed)
				al_err_set(p->err, AL_EVERIFY, "%s", archive_error_string(p->r->a));
			return reject_err(p, name);
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > f->size) {
			al_sha256_abort(&h);
			if (fd >= 0)
				close(fd);
			return reject(p, name, "larger than the %llu bytes the manifest declares",
			              (unsigned long long)f->size);
		}
		al_sha256_update(&h, p->buf, (size_t)n);
		if (fd >= 0 && al_write_all(fd, p->buf, (size_t)n) < 0) {
			al_sha256_abort(&h);
			al_err_sys(p->err, "%s: write", f->path);
			close(fd);
			return -1;
		}
	}
	al_sha256_final(&h, sum);
	if (fd >= 0) {
		/* Start writing it to disk now, while the next files are read and
		 * hashed: the final syncfs then waits for little. */
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		/* read-only once installed, and readable by the steps' own uid
		 * (the home above is 0700: only a step given the bundle as its
		 * /airlock/bundle reaches it): 0555 programs, 0444 data */
		int fail = fchmod(fd, (f->mode & 0100) ? 0555 : 0444) < 0;
		if (close(fd) < 0 || fail)
			return al_err_sys(p->err, "%s: close", f->path);
	}
	if (total != f->size)
		return reject(p, name, "%llu bytes where the manifest declares %llu",
		              (unsigned long long)total, (unsigned long long)f->size);
	if (sodium_memcmp(sum, f->sha256, AL_SHA256_LEN) != 0)
		return reject(p, name, "SHA-256 differs from the manifest's");
	return 0;
}

/* manifest.json, the signatures, and what install needs to know. */
static int write_metadata(struct pass *p)
{
	char path[64], hex[AL_SHA256_HEX], ts[AL_TS_LEN], *text;
	json_t *info, *signers = json_array(), *named = json_array();
	int ret = -1;

	if (al_write_atomic(p->tmpfd, "manifest.json", p->manifest, p->manifest_len, 0400,
	                    "manifest.json", p->err) < 0)
		return -1;
	if (p->nsigs > 0 && al_sys_mkdirat(p->tmpfd, "signatures", 0700) < 0) {
		json_decref(signers);
		json_decref(named);
		return al_err_sys(p->err, "signatures: mkdir");
	}
	for (size_t i = 0; i < p->nsigs; i++) {
		int sfd = openat(p->tmpfd, "signatures", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		snprintf(path, sizeof path, "%s" SIG_SUFFIX, p->sigs[i].keyid);
		if (sfd < 0 || al_write_atomic(sfd, path, p->sigs[i].text, p->sigs[i].len, 0400, path,
		                               p->err) < 0) {
			if (sfd < 0)
				al_err_sys(p->err, "signatures");
			else
				close(sfd);
			json_decref(signers);
			json_decref(named);
			return -1;
		}
		(void)fchmod(sfd, 0500);
		close(sfd);
	}
	for (size_t i = 0; i < p->res->signers_n; i++) {
		const struct al_policy_key *k = policy_key(p->o->policy, p->res->signers[i]);
		json_array_append_new(signers, json_string(p->res->signers[i]));
		/* the names as the trust policy gave them when the bundle was
		 * verified: a run's evidence names who signed what it ran */
		json_array_append_new(named, json_pack("{s:s,s:o}", "keyid", p->res->signers[i], "name",
		                                       k != NULL && k->name[0] != '\0'
		                                           ? json_string(k->name)
		                                           : json_null()));
	}
	al_hex(p->res->manifest_sha256, AL_SHA256_LEN, hex);
	al_ts_format(al_now_us(), ts);
	info = json_pack("{s:s,s:o,s:o,s:s}", "manifest_sha256", hex, "signers", signers,
	                 "signer_keys", named, "verified", ts);
	text = json_dumps(info, JSON_INDENT(2));
	json_decref(info);
	if (text != NULL)
		ret = al_write_atomic(p->tmpfd, ".install.json", text, strlen(text), 0400,
		                      ".install.json", p->err);
	free(text);
	return ret;
}

/* Directories read-only (0555: a confined step, of another uid, walks
 * them), from the bottom up. */
static int seal_dirs(int fd)
{
	DIR *d;
	struct dirent *de;
	int dup_fd = dup(fd), ret = 0;

	if (dup_fd < 0 || (d = fdopendir(dup_fd)) == NULL) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		int sub;
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0 || seal_dirs(sub) < 0)
			ret = -1;
		if (sub >= 0)
			close(sub);
	}
	closedir(d);
	if (fchmod(fd, 0555) < 0)
		ret = -1;
	return ret;
}

/* ---- the pass ---- */

static int read_head(struct pass *p, struct archive_entry **e, int *more)
{
	const char *name;
	char keyid[AL_KEYID_HEX];
	int r = bundle_next(p->r, e, p->err);

	if (r <= 0)
		return r < 0 ? reject_err(p, NULL) : reject(p, NULL, "an empty archive: no manifest.json");
	name = archive_entry_pathname(*e);
	if (name == NULL || strcmp(name, "manifest.json") != 0)
		return reject(p, name != NULL ? name : "(no name)",
		              "the first member must be manifest.json");
	if (member_plain(p, *e, name) < 0)
		return -1;
	if (archive_entry_size(*e) > AL_MANIFEST_MAX)
		return reject(p, name, "larger than %u bytes", AL_MANIFEST_MAX);
	if (bundle_slurp(p->r, name, AL_MANIFEST_MAX, &p->manifest, &p->manifest_len, p->err) < 0)
		return reject_err(p, name);
	/* Then the signatures, each once, named by their key. */
	for (;;) {
		r = bundle_next(p->r, e, p->err);
		if (r < 0)
			return reject_err(p, NULL);
		if (r == 0) {
			*more = 0;
			return 0;
		}
		name = archive_entry_pathname(*e);
		if (name == NULL || strncmp(name, SIG_DIR, strlen(SIG_DIR)) != 0) {
			*more = 1;
			return 0;
		}
		if (member_plain(p, *e, name) < 0)
			return -1;
		if (sig_member_keyid(name, keyid) < 0)
			return reject(p, name, "not a signature member (signatures/<KEYID>.minisig)");
		for (size_t i = 0; i < p->nsigs; i++)
			if (strcmp(p->sigs[i].keyid, keyid) == 0)
				return reject(p, name, "a duplicate member: one signature per key");
		if (p->nsigs == SIGS_MAX)
			return reject(p, name, "more than %d signatures", SIGS_MAX);
		if (bundle_slurp(p->r, name, SIG_MAX, &p->sigs[p->nsigs].text, &p->sigs[p->nsigs].len,
		                 p->err) < 0)
			return reject_err(p, name);
		memcpy(p->sigs[p->nsigs].keyid, keyid, sizeof keyid);
		p->nsigs++;
	}
}

static int read_files(struct pass *p, struct archive_entry *e, int more)
{
	size_t next = 0;

	while (more) {
		const char *name = archive_entry_pathname(e);
		const struct al_file *f;
		if (name == NULL)
			return reject(p, "(no name)", "a member without a name");
		if (strncmp(name, SIG_DIR, strlen(SIG_DIR)) == 0)
			return reject(p, name, "a signature after the files");
		if (member_plain(p, e, name) < 0)
			return -1;
		if (next == p->m->files_n || strcmp(name, p->m->files[next].path) != 0) {
			for (size_t i = 0; i < p->m->files_n; i++)
				if (strcmp(p->m->files[i].path, name) == 0)
					return reject(p, name, i < next ? "a duplicate member"
					                                : "out of the manifest's order (a file before it is missing)");
			if (strcmp(name, "manifest.json") == 0)
				return reject(p, name, "a duplicate member");
			return reject(p, name, "not in the manifest");
		}
		f = &p->m->files[next];
		if ((archive_entry_perm(e) & 07777) != f->mode)
			return reject(p, name, "mode %04o where the manifest says %04o",
			              (unsigned)(archive_entry_perm(e) & 07777), f->mode);
		if (!archive_entry_size_is_set(e) || (uint64_t)archive_entry_size(e) != f->size)
			return reject(p, name, "%s the %llu bytes the manifest declares",
			              archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > f->size
			                      ? "larger than"
			                      : "not",
			              (unsigned long long)f->size);
		if (member_data(p, f, name) < 0)
			return -1;
		next++;
		more = bundle_next(p->r, &e, p->err);
		if (more < 0)
			return reject_err(p, NULL);
	}
	if (next < p->m->files_n)
		return reject(p, p->m->files[next].path, "missing from the bundle");
	return 0;
}

int al_bundle_verify(const char *bundle, struct al_bundle_opts *o, struct al_bundle_result *res,
                     struct al_err *err)
{
	struct pass p = {.o = o, .res = res, .err = err, .tmpfd = -1, .dirfd = -1};
	struct archive_entry *e;
	uint64_t max = o->max_size ? o->max_size : AL_BUNDLE_MAX_SIZE;
	int64_t now = o->now_us ? o->now_us : al_now_us();
	int more = 0, ret = -1;

	memset(res, 0, sizeof *res);
	o->tmp_name[0] = '\0';
	if (al_crypto_init(err) < 0)
		return -1;
	p.buf = malloc(BUNDLE_CHUNK);
	if (p.buf == NULL)
		return al_err_sys(err, "cannot allocate memory");
	p.r = bundle_open(bundle, err);
	if (p.r == NULL) {
		if (err->code == AL_EVERIFY)
			reject_err(&p, NULL);
		goto out;
	}
	/* 1. The manifest and the signatures; the policy over its bytes. */
	if (read_head(&p, &e, &more) < 0)
		goto out;
	al_sha256_buf(p.manifest, p.manifest_len, res->manifest_sha256);
	if (check_trust(&p, now) < 0)
		goto out;
	/* 2. Only now is the manifest read as a manifest. */
	p.m = al_manifest_parse(p.manifest, p.manifest_len, "manifest.json", AL_MANIFEST_BUNDLE, err);
	if (p.m == NULL) {
		reject_err(&p, "manifest.json");
		goto out;
	}
	snprintf(res->pipeline, sizeof res->pipeline, "%s", p.m->pipeline);
	res->version = p.m->version;
	res->expires_us = p.m->expires_us;
	res->files = p.m->files_n;
	if (p.m->files_bytes > max) {
		reject(&p, "manifest.json", "%llu bytes of files, over the limit of %llu (--max-size)",
		       (unsigned long long)p.m->files_bytes, (unsigned long long)max);
		goto out;
	}
	if (p.m->expires_us < now && !o->allow_expired) {
		char ts[AL_TS_LEN];
		al_ts_format(p.m->expires_us, ts);
		reject(&p, "manifest.json", "expired on %s", ts);
		goto out;
	}
	if (o->accept != NULL && o->accept(o->ctx, p.m, p.manifest, p.manifest_len, err) < 0) {
		reject_err(&p, "manifest.json");
		goto out;
	}
	/* 3. The files, into a private directory when extracting. */
	if (o->extract_dirfd >= 0) {
		unsigned char rnd[8];
		char hex[17];
		randombytes_buf(rnd, sizeof rnd);
		al_hex(rnd, sizeof rnd, hex);
		snprintf(o->tmp_name, sizeof o->tmp_name, ".tmp-%s", hex);
		if (al_sys_mkdirat(o->extract_dirfd, o->tmp_name, 0700) < 0) {
			al_err_sys(err, "%s: mkdir", o->tmp_name);
			o->tmp_name[0] = '\0';
			goto out;
		}
		p.tmpfd = openat(o->extract_dirfd, o->tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (p.tmpfd < 0) {
			al_err_sys(err, "%s", o->tmp_name);
			goto out;
		}
	}
	if (read_files(&p, e, more) < 0)
		goto out;
	/* 4. Nothing after the archive; the file's own hash. */
	if (bundle_finish(p.r, res->bundle_sha256, err) < 0) {
		reject_err(&p, NULL);
		goto out;
	}
	if (p.tmpfd >= 0) {
		if (p.dirfd >= 0 && p.dirfd != p.tmpfd)
			close(p.dirfd);
		p.dirfd = -1;
		if (write_metadata(&p) < 0 || seal_dirs(p.tmpfd) < 0 || al_sys_syncfs(p.tmpfd) < 0) {
			if (err->msg[0] == '\0')
				al_err_sys(err, "%s", o->tmp_name);
			goto out;
		}
	}
	ret = 0;
out:
	if (p.dirfd >= 0 && p.dirfd != p.tmpfd)
		close(p.dirfd);
	if (p.tmpfd >= 0)
		close(p.tmpfd);
	if (ret < 0 && o->tmp_name[0] != '\0') {
		/* Nothing of a rejected bundle stays. */
		(void)al_rm_tree(o->extract_dirfd, o->tmp_name);
		o->tmp_name[0] = '\0';
	}
	bundle_close(p.r);
	al_manifest_free(p.m);
	free(p.manifest);
	for (size_t i = 0; i < p.nsigs; i++)
		free(p.sigs[i].text);
	free(p.buf);
	return ret;
}
