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

#define COPY_CHUNK (256 << 10)

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

/* libarchive writes through the system-call table, like every file
 * airlock writes: a full disk is testable without one. */
static la_ssize_t archive_write_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
	int fd = *(int *)ctx;

	if (al_write_all(fd, buf, n) < 0) {
		archive_set_error(a, errno, "%s", strerror(errno));
		return -1;
	}
	return (la_ssize_t)n;
}

static int add_memory(struct archive *a, const char *name, const void *data, size_t n,
                      time_t mtime, struct al_err *err)
{
	struct archive_entry *e = archive_entry_new();
	int ok;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	archive_entry_set_mtime(e, mtime, 0);
	ok = archive_write_header(a, e) == ARCHIVE_OK &&
	     (n == 0 || archive_write_data(a, data, n) == (la_ssize_t)n);
	archive_entry_free(e);
	if (!ok)
		return al_err_set(err, AL_EENV, "export: %s: %s", name, archive_error_string(a));
	return 0;
}

static int add_segment(struct archive *a, int dirfd, const struct seg_out *s, time_t mtime,
                       struct al_err *err)
{
	char name[SEG_NAME_MAX], *buf = malloc(COPY_CHUNK);
	struct archive_entry *e = archive_entry_new();
	uint64_t left = s->size;
	int fd, ret = -1;

	seg_name(s->n, s->zst, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || buf == NULL || e == NULL) {
		al_err_sys(err, "audit/%s", name);
		goto out;
	}
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)s->size);
	archive_entry_set_mtime(e, mtime, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		al_err_set(err, AL_EENV, "export: %s: %s", name, archive_error_string(a));
		goto out;
	}
	while (left > 0) {
		ssize_t r = read(fd, buf, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			al_err_sys(err, "audit/%s: read", name);
			goto out;
		}
		if (archive_write_data(a, buf, (size_t)r) != r) {
			al_err_set(err, AL_EENV, "export: %s: %s", name, archive_error_string(a));
			goto out;
		}
		left -= (uint64_t)r;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	archive_entry_free(e);
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
	         "    airlock-verify audit evidence.tar.zst --seal-key k0.txt   # with the seal key you hold\n"
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

int al_audit_export(const char *home, const struct al_audit_range *range, const char *out,
                    struct al_err *err)
{
	unsigned long *nums = NULL, *want = NULL;
	int *zsts = NULL, dirfd, lockfd = -1, ofd = -1, ret = -1;
	struct seg_out *segs = NULL;
	struct al_checkpoint cp = {0};
	struct archive *a = NULL;
	struct al_seckey *sec = NULL;
	struct al_pubkey pub;
	char path[PATH_MAX], tmp[PATH_MAX + 32], keyid[AL_KEYID_HEX], comment[128];
	char *line = NULL, *pub_text = NULL, *cp_text = NULL, *sig = NULL, *vtxt = NULL;
	size_t len = 0, pub_len = 0;
	long count, nwant = 0, nsegs = 0;
	uint64_t first_seq = 0;
	time_t now = (time_t)(al_now_us() / 1000000);
	struct al_line l;

	dirfd = audit_dir_open(home, err);
	if (dirfd < 0)
		return -1;
	if ((range->since_us || range->until_us || range->run) &&
	    range_segments(home, range, &want, &nwant, err) < 0)
		goto out;
	/* The live segment's extent is taken under the lock: no half line. */
	/* A reader's lock: no line is half written while we look. */
	lockfd = openat(dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if ((lockfd < 0 && errno != ENOENT) || (lockfd >= 0 && flock(lockfd, LOCK_SH) < 0)) {
		al_err_sys(err, "%s/audit/lock", home);
		goto out;
	}
	count = seg_list(dirfd, "audit", &nums, &zsts, err);
	if (count <= 0) {
		if (count == 0)
			al_err_set(err, AL_EUSAGE, "%s/audit: no segments", home);
		goto out;
	}
	segs = calloc((size_t)count, sizeof *segs);
	if (segs == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	/* From the first segment the range touches to the end of the log: the
	 * export then ends at the log's sealed head, which its checkpoint
	 * covers; nothing before the range is included. */
	for (long i = 0; i < count; i++) {
		struct stat st;
		char name[SEG_NAME_MAX];
		int keep = want == NULL || (nsegs > 0);
		for (long j = 0; j < nwant && !keep; j++)
			keep = want[j] == nums[i];
		if (!keep)
			continue;
		seg_name(nums[i], zsts[i], name);
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			al_err_sys(err, "%s/audit/%s", home, name);
			goto out;
		}
		segs[nsegs].n = nums[i];
		segs[nsegs].zst = zsts[i];
		segs[nsegs].size = (uint64_t)st.st_size;
		nsegs++;
	}
	if (nsegs == 0) {
		al_err_set(err, AL_EUSAGE, "no audit segments in the requested range");
		goto out;
	}
	{
		struct seg_out *last = &segs[nsegs - 1];
		if (last->zst) {
			if (last_line_streamed(dirfd, last->n, 1, &line, &len, err) < 0)
				goto out;
		} else {
			struct seg_tail t;
			if (seg_tail_of(dirfd, last->n, &t, err) < 0)
				goto out;
			if (t.line == NULL) {
				seg_tail_free(&t);
				al_err_set(err, AL_EVERIFY, "%s/audit: the newest segment has no complete line",
				           home);
				goto out;
			}
			last->size = t.size - t.frag_len; /* a torn fragment stays behind */
			line = t.line;
			len = t.line_len;
			t.line = NULL;
			seg_tail_free(&t);
		}
	}
	close(lockfd);
	lockfd = -1;
	if (al_line_parse(line, len, &l, err) < 0) {
		al_err_prefix(err, "the last exported line");
		goto out;
	}
	cp.size = l.seq;
	line_hash(line, len, cp.hash);
	if (seg_log_id(dirfd, segs[0].n, segs[0].zst, cp.log_id, &first_seq, err) < 0)
		goto out;
	al_ts_format(al_now_us(), cp.ts);
	cp_text = al_checkpoint_format(&cp);
	al_snprintf(path, sizeof path, "%s/host.key", home);
	sec = al_seckey_load(path, NULL, NULL, err);
	if (cp_text == NULL || sec == NULL)
		goto out;
	snprintf(comment, sizeof comment, "airlock checkpoint %s %llu", cp.log_id,
	         (unsigned long long)cp.size);
	sig = al_sign_buf(sec, cp_text, strlen(cp_text), comment, "airlock audit export", err);
	al_snprintf(path, sizeof path, "%s/host.pub", home);
	if (sig == NULL || al_read_file(AT_FDCWD, path, 4096, &pub_text, &pub_len, err) < 0 ||
	    al_pubkey_parse(pub_text, pub_len, path, &pub, err) < 0)
		goto out;
	al_keyid_hex(pub.keyid, keyid);
	vtxt = verify_txt(&cp, keyid, segs, nsegs, range, first_seq);
	if (vtxt == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}

	/* Written beside the destination and renamed into place when whole. */
	if (al_snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid()) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", out);
		goto out;
	}
	ofd = al_openat(AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (ofd < 0) {
		al_err_sys(err, "%s", tmp);
		goto out;
	}
	a = archive_write_new();
	if (a == NULL || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "zstd", "compression-level", "3") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open2(a, &ofd, NULL, archive_write_cb, NULL, NULL) != ARCHIVE_OK) {
		al_err_set(err, AL_EENV, "%s: %s", out, a ? archive_error_string(a) : "libarchive");
		goto fail;
	}
	if (add_memory(a, "VERIFY.txt", vtxt, strlen(vtxt), now, err) < 0 ||
	    add_memory(a, "FORMAT.md", al_audit_format_md, strlen(al_audit_format_md), now, err) < 0 ||
	    add_memory(a, "host.pub", pub_text, pub_len, now, err) < 0 ||
	    add_memory(a, "checkpoint.txt", cp_text, strlen(cp_text), now, err) < 0 ||
	    add_memory(a, "checkpoint.txt.minisig", sig, strlen(sig), now, err) < 0)
		goto fail;
	for (long i = 0; i < nsegs; i++)
		if (add_segment(a, dirfd, &segs[i], now, err) < 0)
			goto fail;
	if (archive_write_close(a) != ARCHIVE_OK) {
		al_err_set(err, AL_EENV, "%s: %s", out, archive_error_string(a));
		goto fail;
	}
	if (al_sys_fsync(ofd) < 0) {
		al_err_sys(err, "%s: fsync", out);
		goto fail;
	}
	if (al_sys_renameat(AT_FDCWD, tmp, AT_FDCWD, out) < 0) {
		al_err_sys(err, "%s: rename", out);
		goto fail;
	}
	ret = al_fsync_parent(out, err);
	goto out;
fail:
	unlink(tmp);
out:
	if (a != NULL)
		archive_write_free(a);
	if (ofd >= 0)
		close(ofd);
	if (lockfd >= 0)
		close(lockfd);
	close(dirfd);
	al_seckey_free(sec);
	free(nums);
	free(zsts);
	free(want);
	free(segs);
	free(line);
	free(pub_text);
	free(cp_text);
	free(sig);
	free(vtxt);
	return ret;
}
