/* export.c - evidence exports (FORMAT.md §7): the segments a range
 * touches, a fresh checkpoint over the last exported entry signed by the
 * host key, host.pub, FORMAT.md and VERIFY.txt, in one tar.zst. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sqlite3.h>

struct seg_out {
	unsigned long n;
	int zst;
	uint64_t size; /* bytes to copy (a live segment: up to its last complete line) */
};

/* The segments whose entries the range touches, from the index. */
static int range_segments(const char *home, const struct al_audit_range *r, unsigned long **out,
                          long *count, struct al_err *err)
{
	char path[PATH_MAX], sql[512], since[AL_TS_LEN], until[AL_TS_LEN];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 lo, hi;
	unsigned long *segs = NULL, prev_seg = 0;
	sqlite3_int64 prev_first = 0;
	long n = 0, cap = 0;
	int ret = -1, have_prev = 0;

	*out = NULL;
	*count = 0;
	if (al_audit_index_update(home, 0, err) < 0)
		return -1;
	al_snprintf(path, sizeof path, "%s/" AUDIT_DIR "/index.db", home);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		al_err_set(err, AL_EENV, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	snprintf(sql, sizeof sql, "SELECT min(seq), max(seq) FROM entries WHERE 1 = 1%s%s%s",
	         r->since_us ? " AND ts >= :since" : "", r->until_us ? " AND ts <= :until" : "",
	         r->run ? " AND run = :run" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		al_err_set(err, AL_EENV, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	if (r->since_us) {
		al_ts_format(r->since_us, since);
		sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":since"), since, -1, SQLITE_STATIC);
	}
	if (r->until_us) {
		al_ts_format(r->until_us, until);
		sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":until"), until, -1, SQLITE_STATIC);
	}
	if (r->run)
		sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":run"), r->run, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL) {
		al_err_set(err, AL_EUSAGE, "no audit entries in the requested range");
		goto out;
	}
	lo = sqlite3_column_int64(st, 0);
	hi = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT segment, first_seq FROM segments ORDER BY segment", -1, &st,
	                       NULL) != SQLITE_OK) {
		al_err_set(err, AL_EENV, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	/* Segment k holds [first_k, first_{k+1} - 1]; keep those meeting [lo, hi]. */
	for (int more = 1; more;) {
		unsigned long seg = 0;
		sqlite3_int64 first = 0;
		more = sqlite3_step(st) == SQLITE_ROW;
		if (more) {
			seg = (unsigned long)sqlite3_column_int64(st, 0);
			first = sqlite3_column_int64(st, 1);
		}
		if (have_prev && prev_first <= hi && (!more || first - 1 >= lo)) {
			if (n == cap) {
				unsigned long *ns;
				cap = cap ? cap * 2 : 16;
				ns = realloc(segs, (size_t)cap * sizeof *segs);
				if (ns == NULL) {
					al_err_sys(err, "cannot allocate memory");
					goto out;
				}
				segs = ns;
			}
			segs[n++] = prev_seg;
		}
		prev_seg = seg;
		prev_first = first;
		have_prev = 1;
	}
	*out = segs;
	*count = n;
	segs = NULL;
	ret = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(segs);
	return ret;
}

/* The last complete line of a segment read to its end (for .zst). */
static int last_line_streamed(int dirfd, unsigned long n, int zst, char **out, size_t *out_len,
                              struct al_err *err)
{
	char name[SEG_NAME_MAX];
	struct al_stream *src;
	struct line_reader r;
	const char *line;
	size_t len;
	int fd, nl = 0, got, ret = -1;

	*out = NULL;
	seg_name(n, zst, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "audit/%s", name);
	src = al_stream_fd(fd, zst, name, err);
	if (src == NULL)
		return -1;
	line_reader_init(&r, src);
	while ((got = line_next(&r, &line, &len, &nl, err)) == 1) {
		char *copy;
		if (!nl)
			break;
		copy = realloc(*out, len + 1);
		if (copy == NULL) {
			al_err_sys(err, "cannot allocate memory");
			got = -1;
			break;
		}
		memcpy(copy, line, len);
		*out = copy;
		*out_len = len;
	}
	if (got >= 0 && *out == NULL)
		al_err_set(err, AL_EVERIFY, "audit/%s: no complete line", name);
	else if (got >= 0)
		ret = 0;
	if (ret < 0) {
		free(*out);
		*out = NULL;
	}
	line_reader_free(&r);
	src->close(src);
	return ret;
}

/* The log.open line and every seal line of segments 1 .. before-1: what
 * ties the seal key of the export's first seal to the epoch-0 key
 * (FORMAT.md §7, seals.jsonl). Appended to *buf. */
static int seal_chain(int dirfd, unsigned long before, const int *zst, char **buf, size_t *used,
                      struct al_err *err)
{
	size_t cap = 4096;

	*used = 0;
	*buf = malloc(cap);
	if (*buf == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (unsigned long n = 1; n < before; n++) {
		char name[SEG_NAME_MAX];
		struct al_stream *src;
		struct line_reader r;
		const char *line;
		size_t len;
		int fd, nl = 0, got;

		seg_name(n, zst[n - 1], name);
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return al_err_sys(err, "audit/%s", name);
		src = al_stream_fd(fd, zst[n - 1], name, err);
		if (src == NULL)
			return -1;
		line_reader_init(&r, src);
		while ((got = line_next(&r, &line, &len, &nl, err)) == 1) {
			struct al_line l;
			if (!nl || al_line_parse(line, len, &l, NULL) < 0 ||
			    (strcmp(l.event, "seal") != 0 && strcmp(l.event, "log.open") != 0))
				continue;
			if (*used + len + 1 > cap) {
				char *more;
				cap = (*used + len + 1) * 2;
				more = realloc(*buf, cap);
				if (more == NULL) {
					got = al_err_sys(err, "cannot allocate memory");
					break;
				}
				*buf = more;
			}
			memcpy(*buf + *used, line, len + 1); /* with its "\n" */
			*used += len + 1;
		}
		line_reader_free(&r);
		src->close(src);
		if (got < 0)
			return -1;
	}
	return 0;
}

/* One segment, up to its size at the time the export looked (a live
 * segment: its last complete line). */
static int add_segment(struct al_tarzst *t, int dirfd, const struct seg_out *s, int64_t mtime,
                       struct al_err *err)
{
	char name[SEG_NAME_MAX];
	int fd, ret;

	seg_name(s->n, s->zst, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "audit/%s", name);
	ret = al_tarzst_add_fd(t, name, fd, s->size, 0644, mtime, err);
	close(fd);
	return ret;
}

static char *verify_txt(const struct al_checkpoint *cp, const char *keyid,
                        const struct seg_out *segs, long n, const struct al_audit_range *r,
                        uint64_t first_seq)
{
	char first[SEG_NAME_MAX], last[SEG_NAME_MAX], since[AL_TS_LEN] = "-", until[AL_TS_LEN] = "-";
	char *out = malloc(4096);

	if (out == NULL)
		return NULL;
	seg_name(segs[0].n, segs[0].zst, first);
	seg_name(segs[n - 1].n, segs[n - 1].zst, last);
	if (r->since_us)
		al_ts_format(r->since_us, since);
	if (r->until_us)
		al_ts_format(r->until_us, until);
	snprintf(out, 4096,
	         "airlock audit evidence export (format " AL_AUDIT_FORMAT ")\n"
	         "\n"
	         "log id:      %s\n"
	         "host key:    %s (host.pub; compare it with the key id recorded when the host was installed)\n"
	         "segments:    %s to %s (%ld), entries %llu to %llu\n"
	         "range:       since %s, until %s, run %s\n"
	         "checkpoint:  entry %llu, signed %s\n"
	         "\n"
	         "To verify with airlock-verify (nothing else needed):\n"
	         "\n"
	         "    airlock-verify audit evidence.tar.zst\n"
	         "    airlock-verify audit evidence.tar.zst --seal-pub seal.pub   # the log's seal public key\n"
	         "    airlock-verify audit evidence.tar.zst --anchor checkpoint-you-kept.txt\n"
	         "\n"
	         "Exit status 0: intact; 1: tampered (the first bad line is named); 2: could not verify.\n"
	         "\n"
	         "To verify with standard tools (FORMAT.md, section 9):\n"
	         "\n"
	         "    mkdir evidence && tar --zstd -xf evidence.tar.zst -C evidence && cd evidence\n"
	         "    minisign -Vm checkpoint.txt -p host.pub\n"
	         "    # then the jq and sha256sum commands of FORMAT.md section 9\n",
	         cp->log_id, keyid, first, last, n, (unsigned long long)first_seq,
	         (unsigned long long)cp->size, since, until, r->run ? r->run : "-",
	         (unsigned long long)cp->size, cp->ts);
	return out;
}

/* An export being made: what the phases below hand on. */
struct export {
	const char *home;
	int dirfd;
	struct seg_out *segs;
	long nsegs;
	char *line;           /* the last exported line, and its length */
	size_t len;
	uint64_t first_seq;
	struct al_checkpoint cp;
	char *cp_text, *sig;  /* the checkpoint and its signature by the host key */
	struct fss_state key; /* the seal key in force at the last line */
	char sig2[512];       /* checkpoint.txt.sig: the checkpoint signed by it */
	char range[256];      /* export.txt: what the export holds, from where */
	char range_sig[512];  /* export.txt.sig, by the same key */
	char *chain;          /* seals.jsonl (NULL when the export starts at 1) */
	size_t chain_len;
	char *pub_text;       /* host.pub */
	size_t pub_len;
	char keyid[AL_KEYID_HEX];
};

/* The segments to export: from the first one the range touches (every
 * one without a range) to the end of the log, each with its size now. */
static int export_segments(struct export *x, const unsigned long *want, long nwant,
                           struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, ret = -1;
	long count = seg_list(x->dirfd, "audit", &nums, &zsts, err);

	if (count <= 0) {
		if (count == 0)
			al_err_set(err, AL_EUSAGE, "%s/audit: no segments", x->home);
		goto out;
	}
	x->segs = calloc((size_t)count, sizeof *x->segs);
	if (x->segs == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	/* From the first segment the range touches to the end of the log: the
	 * export then ends at the log's sealed head, which its checkpoint
	 * covers; nothing before the range is included. */
	for (long i = 0; i < count; i++) {
		struct stat st;
		char name[SEG_NAME_MAX];
		int keep = want == NULL || (x->nsegs > 0);
		for (long j = 0; j < nwant && !keep; j++)
			keep = want[j] == nums[i];
		if (!keep)
			continue;
		seg_name(nums[i], zsts[i], name);
		if (fstatat(x->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			al_err_sys(err, "%s/audit/%s", x->home, name);
			goto out;
		}
		x->segs[x->nsegs].n = nums[i];
		x->segs[x->nsegs].zst = zsts[i];
		x->segs[x->nsegs].size = (uint64_t)st.st_size;
		x->nsegs++;
	}
	if (x->nsegs == 0) {
		al_err_set(err, AL_EUSAGE, "no audit segments in the requested range");
		goto out;
	}
	/* Numbers are consecutive from 1 (a verifier fails a gap). */
	if (x->segs[0].n > 1) {
		if ((unsigned long)count < x->segs[0].n || nums[x->segs[0].n - 1] != x->segs[0].n) {
			al_err_set(err, AL_EVERIFY, "%s/audit: the segments are not numbered from 1", x->home);
			goto out;
		}
		if (seal_chain(x->dirfd, x->segs[0].n, zsts, &x->chain, &x->chain_len, err) < 0)
			goto out;
	}
	ret = 0;
out:
	free(nums);
	free(zsts);
	return ret;
}

/* The last complete line of the last segment; a live segment's size is
 * cut to it (a torn fragment stays behind). */
static int export_last_line(struct export *x, struct al_err *err)
{
	struct seg_out *last = &x->segs[x->nsegs - 1];
	struct seg_tail t;

	if (last->zst)
		return last_line_streamed(x->dirfd, last->n, 1, &x->line, &x->len, err);
	if (seg_tail_of(x->dirfd, last->n, &t, err) < 0)
		return -1;
	if (t.line == NULL) {
		seg_tail_free(&t);
		return al_err_set(err, AL_EVERIFY, "%s/audit: the newest segment has no complete line",
		                  x->home);
	}
	last->size = t.size - t.frag_len;
	x->line = t.line;
	x->len = t.line_len;
	t.line = NULL;
	seg_tail_free(&t);
	return 0;
}

/* What the export ends at, under a reader's lock of the log (no line is
 * half written while we look): its segments and its last line. */
static int export_snapshot(struct export *x, const struct al_audit_range *range,
                           struct al_err *err)
{
	unsigned long *want = NULL;
	long nwant = 0;
	int lockfd = -1, ret = -1;

	if ((range->since_us || range->until_us || range->run) &&
	    range_segments(x->home, range, &want, &nwant, err) < 0)
		return -1;
	lockfd = openat(x->dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if ((lockfd < 0 && errno != ENOENT) || (lockfd >= 0 && flock(lockfd, LOCK_SH) < 0)) {
		al_err_sys(err, "%s/audit/lock", x->home);
		goto out;
	}
	if (export_segments(x, want, nwant, err) == 0 && export_last_line(x, err) == 0)
		ret = 0;
	/* the seal key in force at that line, read under the same lock */
	if (ret == 0) {
		struct fss_state key;
		ret = checkpoint_head_key(x->dirfd, x->line, x->len, &key, err);
		x->key = key;
	}
out:
	if (lockfd >= 0)
		close(lockfd);
	free(want);
	return ret;
}

/* A fresh checkpoint of the last exported entry, signed by the host key,
 * and host.pub. */
static int export_checkpoint(struct export *x, struct al_err *err)
{
	struct al_seckey *sec = NULL;
	struct al_pubkey pub;
	struct al_line l;
	char path[PATH_MAX], comment[128], log_id[AL_AUDIT_LOG_ID_HEX];
	unsigned char head[AL_SHA256_LEN];
	uint64_t first_seq;
	int ret = -1;

	if (al_line_parse(x->line, x->len, &l, err) < 0) {
		al_err_prefix(err, "the last exported line");
		return -1;
	}
	/* into locals: a pointer into x given away would make x's other
	 * members unknown to the static analyzer */
	line_hash(x->line, x->len, head);
	if (seg_log_id(x->dirfd, x->segs[0].n, x->segs[0].zst, log_id, &first_seq, err) < 0)
		return -1;
	x->cp.size = l.seq;
	memcpy(x->cp.hash, head, sizeof head);
	memcpy(x->cp.log_id, log_id, sizeof log_id);
	x->first_seq = first_seq;
	x->cp.version = x->key.version;
	al_ts_format(al_now_us(), x->cp.ts);
	x->cp_text = al_checkpoint_format(&x->cp);
	/* export.txt: the log, the first and last entry and the first
	 * segment. Signed by the seal key, it tells a cut-off start from a
	 * range that began there (FORMAT.md §7). */
	snprintf(x->range, sizeof x->range, "airlock.export/1 %s\n%llu %llu\n%lu\n", log_id,
	         (unsigned long long)first_seq, (unsigned long long)l.seq, x->segs[0].n);
	if (x->cp_text != NULL &&
	    (checkpoint_sig2_make(&x->key, x->cp_text, x->sig2, sizeof x->sig2) < 0 ||
	     checkpoint_sig2_make(&x->key, x->range, x->range_sig, sizeof x->range_sig) < 0)) {
		al_err_sys(err, "cannot derive the seal key pair");
		goto out;
	}
	al_snprintf(path, sizeof path, "%s/host.key", x->home);
	sec = al_seckey_load(path, NULL, NULL, err);
	if (x->cp_text == NULL || sec == NULL)
		goto out;
	snprintf(comment, sizeof comment, "airlock checkpoint %s %llu", x->cp.log_id,
	         (unsigned long long)x->cp.size);
	x->sig = al_sign_buf(sec, x->cp_text, strlen(x->cp_text), comment, "airlock audit export", err);
	al_snprintf(path, sizeof path, "%s/host.pub", x->home);
	if (x->sig == NULL || al_read_file(AT_FDCWD, path, 4096, &x->pub_text, &x->pub_len, err) < 0 ||
	    al_pubkey_parse(x->pub_text, x->pub_len, path, &pub, err) < 0)
		goto out;
	al_keyid_hex(pub.keyid, x->keyid);
	ret = 0;
out:
	al_seckey_free(sec);
	return ret;
}

/* The archive, written beside out and renamed into place when whole. */
static int export_write(struct export *x, const struct al_audit_range *range, const char *out,
                        struct al_err *err)
{
	int64_t now = al_now_us() / 1000000;
	char *vtxt = verify_txt(&x->cp, x->keyid, x->segs, x->nsegs, range, x->first_seq);
	struct al_tarzst t;
	int ret = -1;

	if (vtxt == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (al_tarzst_open(&t, out, 3, err) < 0)
		goto out;
	if (al_tarzst_add(&t, "VERIFY.txt", vtxt, strlen(vtxt), 0644, now, err) < 0 ||
	    al_tarzst_add(&t, "FORMAT.md", al_audit_format_md, strlen(al_audit_format_md), 0644, now,
	                  err) < 0 ||
	    al_tarzst_add(&t, "host.pub", x->pub_text, x->pub_len, 0644, now, err) < 0 ||
	    al_tarzst_add(&t, "checkpoint.txt", x->cp_text, strlen(x->cp_text), 0644, now, err) < 0 ||
	    al_tarzst_add(&t, "checkpoint.txt.minisig", x->sig, strlen(x->sig), 0644, now, err) < 0 ||
	    (x->sig2[0] != '\0' &&
	     (al_tarzst_add(&t, "checkpoint.txt.sig", x->sig2, strlen(x->sig2), 0644, now, err) < 0 ||
	      al_tarzst_add(&t, "export.txt", x->range, strlen(x->range), 0644, now, err) < 0 ||
	      al_tarzst_add(&t, "export.txt.sig", x->range_sig, strlen(x->range_sig), 0644, now, err) < 0)))
		goto fail;
	if (x->chain != NULL &&
	    al_tarzst_add(&t, "seals.jsonl", x->chain, x->chain_len, 0644, now, err) < 0)
		goto fail;
	for (long i = 0; i < x->nsegs; i++)
		if (add_segment(&t, x->dirfd, &x->segs[i], now, err) < 0)
			goto fail;
	ret = al_tarzst_commit(&t, err);
	goto out;
fail:
	al_tarzst_abort(&t);
out:
	free(vtxt);
	return ret;
}

int al_audit_export(const char *home, const struct al_audit_range *range, const char *out,
                    struct al_err *err)
{
	struct export x = {.home = home};
	int ret = -1;

	x.dirfd = audit_dir_open(home, err);
	if (x.dirfd < 0)
		return -1;
	if (export_snapshot(&x, range, err) == 0 && export_checkpoint(&x, err) == 0 &&
	    export_write(&x, range, out, err) == 0)
		ret = 0;
	close(x.dirfd);
	free(x.segs);
	free(x.chain);
	fss_free(&x.key);
	free(x.line);
	free(x.pub_text);
	free(x.cp_text);
	free(x.sig);
	return ret;
}

/* ---- a member for people added to an export (report.html) ---- */

/* The for-people members seen so far and their hashes, as sha256sum
 * prints them (members.txt). */
static int members_line(char **list, size_t *len, const unsigned char sum[AL_SHA256_LEN],
                        const char *name)
{
	char hex[AL_SHA256_HEX], *grown;
	size_t n = strlen(name) + (AL_SHA256_HEX - 1) + 3; /* "HEX  NAME\n" */

	al_hex(sum, AL_SHA256_LEN, hex);
	grown = realloc(*list, *len + n + 1);
	if (grown == NULL)
		return -1;
	*list = grown;
	snprintf(*list + *len, n + 1, "%s  %s\n", hex, name);
	*len += n;
	return 0;
}

int al_audit_export_insert(const char *home, const char *in, const char *out, const char *name,
                           const void *data, size_t len, struct al_err *err)
{
	struct archive_ctx *c = calloc(1, sizeof *c);
	struct archive *r = archive_read_new();
	struct archive_entry *e;
	struct al_tarzst t;
	struct al_seckey *sec = NULL;
	char *buf = malloc(64 << 10), *list = NULL, *sig = NULL, path[PATH_MAX];
	size_t list_len = 0;
	unsigned char sum[AL_SHA256_LEN];
	int fd = -1, ret = -1, opened = 0, added = 0, rc;

	if (c == NULL || r == NULL || buf == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	al_snprintf(path, sizeof path, "%s/host.key", home);
	if ((sec = al_seckey_load(path, NULL, NULL, err)) == NULL)
		goto out;
	c->err = err;
	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (c->outer = al_stream_fd(fd, 1, in, err)) == NULL) {
		if (fd < 0)
			al_err_sys(err, "%s", in);
		goto out;
	}
	fd = -1; /* the stream's */
	archive_read_support_format_tar(r);
	if (archive_read_open(r, c, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
		if (!c->failed)
			al_err_set(err, AL_EVERIFY, "%s: %s", in, archive_error_string(r));
		goto out;
	}
	if (al_tarzst_open(&t, out, 3, err) < 0)
		goto out;
	opened = 1;
	while ((rc = archive_read_next_header(r, &e)) == ARCHIVE_OK) {
		const char *m = archive_entry_pathname(e);
		struct archive_entry *copy;
		struct al_sha256 h;
		/* listed: the members for people, and the checkpoint and range
		 * they were made with (so a list cannot move to another export) */
		int ok, people = m != NULL && (strcmp(m, "VERIFY.txt") == 0 || strcmp(m, "FORMAT.md") == 0 ||
		                               strcmp(m, "checkpoint.txt") == 0 ||
		                               strcmp(m, "export.txt") == 0);
		/* before the segments: the page, then members.txt and its
		 * signature, which cover the page and every member for people */
		if (!added && m != NULL && strncmp(m, "audit-", 6) == 0) {
			al_sha256_buf(data, len, sum);
			if (members_line(&list, &list_len, sum, name) < 0 ||
			    (sig = al_sign_buf(sec, list, list_len, "airlock export members",
			                       "airlock audit export", err)) == NULL) {
				if (err->msg[0] == '\0')
					al_err_sys(err, "cannot allocate memory");
				goto out;
			}
			if (al_tarzst_add(&t, name, data, len, 0644, archive_entry_mtime(e), err) < 0 ||
			    al_tarzst_add(&t, "members.txt", list, list_len, 0644, archive_entry_mtime(e),
			                  err) < 0 ||
			    al_tarzst_add(&t, "members.txt.minisig", sig, strlen(sig), 0644,
			                  archive_entry_mtime(e), err) < 0)
				goto out;
			added = 1;
		}
		copy = archive_entry_clone(e);
		ok = copy != NULL && archive_write_header(al_tarzst_archive(&t), copy) == ARCHIVE_OK;
		archive_entry_free(copy);
		if (ok && people && al_sha256_init(&h) < 0)
			ok = 0, people = 0;
		while (ok) {
			la_ssize_t got = archive_read_data(r, buf, 64 << 10);
			if (got <= 0) {
				ok = got == 0;
				break;
			}
			if (people)
				al_sha256_update(&h, buf, (size_t)got);
			ok = archive_write_data(al_tarzst_archive(&t), buf, (size_t)got) == got;
		}
		if (people) {
			al_sha256_final(&h, sum);
			if (ok && members_line(&list, &list_len, sum, m) < 0) {
				al_err_sys(err, "cannot allocate memory");
				goto out;
			}
		}
		if (!ok) {
			if (!c->failed)
				al_err_set(err, AL_EENV, "%s: %s", m != NULL ? m : in, archive_error_string(r));
			goto out;
		}
	}
	if (rc != ARCHIVE_EOF || !added) {
		if (!c->failed)
			al_err_set(err, AL_EVERIFY, "%s: %s", in,
			           rc != ARCHIVE_EOF ? archive_error_string(r) : "no segments");
		goto out;
	}
	opened = 0;
	ret = al_tarzst_commit(&t, err);
out:
	if (opened)
		al_tarzst_abort(&t);
	if (r != NULL)
		archive_read_free(r);
	if (c != NULL && c->outer != NULL)
		c->outer->close(c->outer);
	if (fd >= 0)
		close(fd);
	al_seckey_free(sec);
	free(c);
	free(buf);
	free(list);
	free(sig);
	return ret;
}
