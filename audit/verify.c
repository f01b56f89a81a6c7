/* verify.c - the streaming verifier (FORMAT.md §3, §5, §6, §7): a
 * directory of segments or an evidence export, line by line, in constant
 * memory; the first failing line is reported with its place and reason. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

struct verifier {
	const struct al_verify_opts *o;
	struct al_verify_summary *sum;

	/* where we are */
	unsigned long segno;     /* current segment number */
	unsigned long first_segno;
	char segname[SEG_NAME_MAX];
	uint64_t line, seg_line;

	/* the chain */
	int have_prev;           /* prev_hash holds the previous line's hash */
	unsigned char prev_hash[AL_SHA256_LEN];
	uint64_t expect_seq;     /* 0 until the first entry */
	int64_t last_ts;
	int have_ts;

	/* a line that failed checks 2-4: a torn line if log.torn_tail follows */
	int pending;
	uint64_t pend_line, pend_seg_line;
	char pend_seg[SEG_NAME_MAX];
	unsigned char pend_hash[AL_SHA256_LEN];
	char pend_why[sizeof ((struct al_err *)0)->msg];

	/* seals */
	int64_t expect_epoch;    /* -1: the first seal decides */
	unsigned char *key;      /* k_{key_epoch}, sodium_malloc'd, when a seal key was given */
	uint64_t key_epoch;
	uint64_t last_seal_seq;

	/* the log's id, from log.open or the first log.segment */
	char log_id[AL_AUDIT_LOG_ID_HEX];

	/* checkpoints to meet on the way: an anchor, an export's own */
	struct al_checkpoint cps[2];
	const char *cp_name[2];
	int ncp, cp_met[2];

	int failed; /* a finding of level error was reported */
	char msg[1536];
};

static void report(struct verifier *v, enum al_finding_level level, uint64_t line,
                   const char *seg, uint64_t seg_line, uint64_t seq, const char *fmt, ...)
	AL_PRINTF(7, 8);

static void report(struct verifier *v, enum al_finding_level level, uint64_t line,
                   const char *seg, uint64_t seg_line, uint64_t seq, const char *fmt, ...)
{
	struct al_finding f = {level, line, seg, seg_line, seq, v->msg};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof v->msg, fmt, ap);
	va_end(ap);
	if (level == AL_FINDING_WARNING)
		v->sum->warnings++;
	if (level == AL_FINDING_ERROR)
		v->failed = 1;
	if (v->o->report != NULL)
		v->o->report(v->o->ctx, &f);
}

/* An error at the current line. */
#define HERE(v, seq) (v)->line, (v)->segname, (v)->seg_line, (seq)

static json_t *parse_full(const char *line, size_t len)
{
	return json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
}

/* The hash of a line and its "\n", which follows it in memory. Kept as
 * bytes: each line's prev is compared with it decoded, and hex is made only
 * for the rare line that needs it (seals, torn tails). */
static void hash_line(const char *line, size_t len, unsigned char h[AL_SHA256_LEN])
{
	al_sha256_buf(line, len + 1, h);
}

static int check_seal(struct verifier *v, const struct al_line *l, const char *line, size_t len)
{
	json_t *obj = parse_full(line, len);
	json_t *je = json_object_get(obj, "epoch"), *ju = json_object_get(obj, "upto"),
	       *jm = json_object_get(obj, "mac");
	const char *mac = json_string_value(jm);
	json_int_t epoch, upto;

	if (!json_is_integer(je) || !json_is_integer(ju) || mac == NULL || strlen(mac) != 64 ||
	    json_integer_value(je) < 0) {
		json_decref(obj);
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "seal without a valid epoch, upto and mac");
		return -1;
	}
	epoch = json_integer_value(je);
	upto = json_integer_value(ju);
	if ((uint64_t)upto != l->seq - 1) {
		json_decref(obj);
		report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "seal upto %lld is not the entry before it (%llu)", (long long)upto,
		       (unsigned long long)(l->seq - 1));
		return -1;
	}
	if (v->expect_epoch < 0 && v->first_segno == 1 && epoch != 0) {
		json_decref(obj);
		report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "the log's first seal has epoch %lld, not 0 (history re-sealed with a later key?)",
		       (long long)epoch);
		return -1;
	}
	if (v->expect_epoch >= 0 && epoch != v->expect_epoch) {
		json_decref(obj);
		report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "seal epoch %lld where %lld was due (a seal removed, or history re-sealed with a later key)",
		       (long long)epoch, (long long)v->expect_epoch);
		return -1;
	}
	if (v->key != NULL) {
		char want[65], prev_hex[65];
		if ((uint64_t)epoch < v->key_epoch) { /* cannot happen: epochs only go up */
			json_decref(obj);
			report(v, AL_FINDING_ERROR, HERE(v, l->seq), "seal epoch goes back");
			return -1;
		}
		while (v->key_epoch < (uint64_t)epoch) {
			fss_evolve(v->key);
			v->key_epoch++;
		}
		al_hex(v->prev_hash, AL_SHA256_LEN, prev_hex);
		seal_mac(v->key, (uint64_t)epoch, (uint64_t)upto, prev_hex, want);
		if (strcmp(want, mac) != 0) {
			json_decref(obj);
			report(v, AL_FINDING_ERROR, HERE(v, l->seq),
			       "seal mac is wrong for epoch %lld (the sealed entries were changed, or the seal forged)",
			       (long long)epoch);
			return -1;
		}
		v->sum->seals_checked = 1;
	}
	json_decref(obj);
	if (v->sum->first_epoch < 0)
		v->sum->first_epoch = epoch;
	v->sum->last_epoch = epoch;
	v->expect_epoch = epoch + 1;
	v->last_seal_seq = l->seq;
	v->sum->seals++;
	return 0;
}

/* log.open, log.segment: where they may stand and what they say. */
static int check_structure(struct verifier *v, const struct al_line *l, const char *line,
                           size_t len)
{
	int is_open = strcmp(l->event, "log.open") == 0;
	int is_segment = strcmp(l->event, "log.segment") == 0;
	int first_of_log = v->line == 1, first_of_segment = v->seg_line == 1;
	json_t *obj;
	const char *id;

	if (first_of_log && v->first_segno == 1 && !is_open) {
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "the log does not start with log.open");
		return -1;
	}
	if (first_of_segment && !first_of_log && !is_segment) {
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "segment %lu does not start with log.segment",
		       v->segno);
		return -1;
	}
	if (first_of_log && v->first_segno > 1 && !is_segment) {
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "segment %lu does not start with log.segment",
		       v->segno);
		return -1;
	}
	if (is_open && !(first_of_log && v->first_segno == 1)) {
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "log.open after the first line");
		return -1;
	}
	if (is_segment && !first_of_segment) {
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "log.segment inside a segment");
		return -1;
	}
	if (!is_open && !is_segment)
		return 0;
	obj = parse_full(line, len);
	id = json_string_value(json_object_get(obj, "log_id"));
	if (id == NULL || strlen(id) != 32) {
		json_decref(obj);
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "%s without a log_id", l->event);
		return -1;
	}
	if (is_segment && json_integer_value(json_object_get(obj, "segment")) != (json_int_t)v->segno) {
		json_decref(obj);
		report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "log.segment says segment %lld, but it opens segment %lu",
		       (long long)json_integer_value(json_object_get(obj, "segment")), v->segno);
		return -1;
	}
	if (v->log_id[0] != '\0' && strcmp(v->log_id, id) != 0) {
		json_decref(obj);
		report(v, AL_FINDING_ERROR, HERE(v, l->seq), "log_id %s is not the log's (%s)", id,
		       v->log_id);
		return -1;
	}
	memcpy(v->log_id, id, 33);
	memcpy(v->sum->log_id, id, 33);
	json_decref(obj);
	return 0;
}

/* A log.torn_tail must follow a pending (torn) line exactly. */
static int check_torn_tail(struct verifier *v, const struct al_line *l, const char *line,
                           size_t len)
{
	char prev_hex[65];
	json_t *obj;
	int ok;

	if (strcmp(l->event, "log.torn_tail") != 0)
		return 0;
	al_hex(v->prev_hash, AL_SHA256_LEN, prev_hex);
	obj = parse_full(line, len);
	ok = v->pending && memcmp(l->prev_hash, v->pend_hash, AL_SHA256_LEN) == 0 && v->have_prev &&
	     json_integer_value(json_object_get(obj, "resume_seq")) == (json_int_t)(v->expect_seq - 1) &&
	     json_is_string(json_object_get(obj, "resume_hash")) &&
	     strcmp(json_string_value(json_object_get(obj, "resume_hash")), prev_hex) == 0 &&
	     l->seq == v->expect_seq;
	json_decref(obj);
	if (!ok) {
		report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "log.torn_tail that does not follow a torn line as FORMAT.md §5 says");
		return -1;
	}
	report(v, AL_FINDING_WARNING, v->pend_line, v->pend_seg, v->pend_seg_line, 0,
	       "torn line (a write cut short by a crash: %s), repaired by log.torn_tail at line %llu",
	       v->pend_why, (unsigned long long)v->line);
	v->pending = 0;
	return 1;
}

static void meet_checkpoints(struct verifier *v, uint64_t seq, const unsigned char *hash)
{
	for (int i = 0; i < v->ncp; i++) {
		if (v->cps[i].size != seq)
			continue;
		if (memcmp(v->cps[i].hash, hash, AL_SHA256_LEN) != 0) {
			report(v, AL_FINDING_ERROR, HERE(v, seq),
			       "entry %llu differs from %s (history before it was rewritten)",
			       (unsigned long long)seq, v->cp_name[i]);
			return;
		}
		v->cp_met[i] = 1;
	}
}

/* One line of len bytes; has_nl tells whether it had a "\n", which is
 * then at line[len]. */
static int verify_line(struct verifier *v, const char *line, size_t len, int has_nl)
{
	struct al_err perr = {0};
	struct al_line l;
	unsigned char hash[AL_SHA256_LEN];
	int torn_ok = 0;

	v->line++;
	v->seg_line++;
	v->sum->lines++;
	if (len + 1 > AL_AUDIT_LINE_MAX) {
		report(v, AL_FINDING_ERROR, HERE(v, 0), "line longer than %u bytes", AL_AUDIT_LINE_MAX);
		return -1;
	}
	if (!has_nl) {
		report(v, AL_FINDING_WARNING, HERE(v, 0),
		       "torn tail: the last line lacks its newline (a write cut short; the next append repairs it)");
		return 0;
	}
	hash_line(line, len, hash);
	if (al_line_parse(line, len, &l, &perr) == 0) {
		if (v->expect_seq != 0 && l.seq != v->expect_seq)
			snprintf(perr.msg, sizeof perr.msg, "seq %llu where %llu was due",
			         (unsigned long long)l.seq, (unsigned long long)v->expect_seq);
		else if (v->have_prev && memcmp(l.prev_hash, v->prev_hash, AL_SHA256_LEN) != 0 &&
		         !v->pending)
			snprintf(perr.msg, sizeof perr.msg, "prev is not the SHA-256 of line %llu",
			         (unsigned long long)(v->line - 1));
		else
			perr.msg[0] = '\0';
	}
	if (perr.msg[0] != '\0') {
		if (v->pending) {
			report(v, AL_FINDING_ERROR, v->pend_line, v->pend_seg, v->pend_seg_line, 0, "%s",
			       v->pend_why);
			return -1;
		}
		/* Checks 2-4 failed: tampering, unless log.torn_tail follows. */
		v->pending = 1;
		v->pend_line = v->line;
		v->pend_seg_line = v->seg_line;
		memcpy(v->pend_seg, v->segname, sizeof v->pend_seg);
		memcpy(v->pend_hash, hash, sizeof hash);
		snprintf(v->pend_why, sizeof v->pend_why, "%s", perr.msg);
		return 0;
	}
	if (v->pending) {
		torn_ok = check_torn_tail(v, &l, line, len);
		if (torn_ok <= 0) {
			if (torn_ok == 0)
				report(v, AL_FINDING_ERROR, v->pend_line, v->pend_seg, v->pend_seg_line, 0,
				       "%s", v->pend_why);
			return -1;
		}
	} else if (strcmp(l.event, "log.torn_tail") == 0) {
		report(v, AL_FINDING_ERROR, HERE(v, l.seq), "log.torn_tail without a torn line before it");
		return -1;
	}
	if (v->expect_seq == 0) {
		if (v->first_segno == 1 && l.seq != 1) {
			report(v, AL_FINDING_ERROR, HERE(v, l.seq), "the first entry has seq %llu, not 1",
			       (unsigned long long)l.seq);
			return -1;
		}
		if (v->first_segno == 1 && strcmp(l.prev, "0000000000000000000000000000000000000000000000000000000000000000") != 0) {
			report(v, AL_FINDING_ERROR, HERE(v, l.seq), "the first entry's prev is not 64 zeros");
			return -1;
		}
		if (v->first_segno > 1)
			report(v, AL_FINDING_INFO, HERE(v, l.seq),
			       "starts at segment %lu (seq %llu): the entry its prev names is not here",
			       v->segno, (unsigned long long)l.seq);
		v->sum->first_seq = l.seq;
	}
	if (check_structure(v, &l, line, len) < 0)
		return -1;
	if (v->have_ts && l.ts_us < v->last_ts && strcmp(l.event, "clock.backwards") != 0)
		report(v, AL_FINDING_WARNING, HERE(v, l.seq), "ts %s is earlier than the entry before",
		       l.ts);
	if (strcmp(l.event, "seal") == 0 && check_seal(v, &l, line, len) < 0)
		return -1;
	v->expect_seq = l.seq + 1;
	v->last_ts = l.ts_us;
	v->have_ts = 1;
	memcpy(v->prev_hash, hash, sizeof hash);
	v->have_prev = 1;
	v->sum->entries++;
	v->sum->last_seq = l.seq;
	meet_checkpoints(v, l.seq, hash);
	return v->failed ? -1 : 0;
}

/* Verifies each line of a source; last tells whether this is the log's
 * last segment (where a line without "\n" may end it). */
static int verify_source(struct verifier *v, struct al_stream *src, int last, struct al_err *err)
{
	struct line_reader r;
	const char *line;
	size_t len;
	int nl = 0, got, ret = 0;

	line_reader_init(&r, src);
	while ((got = line_next(&r, &line, &len, &nl, err)) == 1) {
		if (!nl && !last) {
			v->line++;
			v->seg_line++;
			report(v, AL_FINDING_ERROR, HERE(v, 0), "a closed segment does not end with a newline");
			ret = 1;
			break;
		}
		if (verify_line(v, line, len, nl) < 0) {
			ret = 1;
			break;
		}
	}
	if (got < 0) {
		if (err->code == AL_EVERIFY && strstr(err->msg, "too long") != NULL) {
			v->line++;
			v->seg_line++;
			report(v, AL_FINDING_ERROR, HERE(v, 0), "line longer than %u bytes", AL_AUDIT_LINE_MAX);
			ret = 1;
		} else {
			ret = -1;
		}
	}
	line_reader_free(&r);
	return ret;
}

/* A segment begins: numbers must be consecutive. */
static int segment_begin(struct verifier *v, unsigned long n, int zst)
{
	if (v->sum->segments > 0 && n != v->segno + 1) {
		report(v, AL_FINDING_ERROR, v->line + 1, NULL, 0, 0,
		       "segment %06lu follows segment %06lu: a segment is missing", n, v->segno);
		return -1;
	}
	if (v->sum->segments == 0)
		v->first_segno = n;
	v->segno = n;
	seg_name(n, zst, v->segname);
	v->seg_line = 0;
	v->sum->segments++;
	return 0;
}

/* After the last line: what the whole log must satisfy. */
static int finish(struct verifier *v)
{
	if (v->pending) {
		report(v, AL_FINDING_ERROR, v->pend_line, v->pend_seg, v->pend_seg_line, 0, "%s",
		       v->pend_why);
		return 1;
	}
	for (int i = 0; i < v->ncp; i++) {
		if (v->cp_met[i])
			continue;
		if (v->cps[i].size > v->sum->last_seq)
			report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
			       "%s covers %llu entries but the log ends at %llu: the log was truncated",
			       v->cp_name[i], (unsigned long long)v->cps[i].size,
			       (unsigned long long)v->sum->last_seq);
		else
			report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
			       "%s names entry %llu, which is not in this log (it starts at %llu)",
			       v->cp_name[i], (unsigned long long)v->cps[i].size,
			       (unsigned long long)v->sum->first_seq);
		return 1;
	}
	if (v->ncp > 0 && strcmp(v->cps[0].log_id, v->log_id) != 0) {
		report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "%s is for log %s, this log is %s",
		       v->cp_name[0], v->cps[0].log_id, v->log_id);
		return 1;
	}
	if (v->sum->entries == 0) {
		report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "the log has no entries");
		return 1;
	}
	v->sum->unsealed = v->sum->last_seq - (v->last_seal_seq ? v->last_seal_seq : v->sum->first_seq - 1);
	if (v->o->seal_key != NULL && v->sum->seals == 0) {
		report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		       "the log has %llu entries and no seal at all",
		       (unsigned long long)v->sum->entries);
		return 1;
	}
	if (v->sum->unsealed > 0) {
		report(v, v->o->strict ? AL_FINDING_ERROR : AL_FINDING_WARNING, 0, NULL, 0, 0,
		       "unsealed tail: %llu entries after the last seal",
		       (unsigned long long)v->sum->unsealed);
		if (v->o->strict)
			return 1;
	}
	memcpy(v->sum->log_id, v->log_id, sizeof v->log_id);
	return 0;
}

/* Loads and checks a checkpoint (text + .minisig) against a host key. */
static int checkpoint_add(struct verifier *v, const char *text, size_t len, const char *sig_text,
                          size_t sig_len, const struct al_pubkey *pub, const char *name,
                          struct al_err *err)
{
	struct al_sig sig;
	struct al_err verr = {0};
	char sig_name[PATH_MAX + 8];
	int i = v->ncp;

	if (al_checkpoint_parse(text, len, name, &v->cps[i], err) < 0)
		return -1;
	snprintf(sig_name, sizeof sig_name, "%s.minisig", name);
	if (sig_text == NULL)
		return al_err_set(err, AL_EUSAGE, "%s: no signature beside it", sig_name);
	if (pub == NULL)
		return al_err_set(err, AL_EUSAGE, "%s: no host public key to check it with (-p HOST_PUB)",
		                  name);
	if (al_sig_parse(sig_text, sig_len, sig_name, &sig, err) < 0)
		return -1;
	if (al_sig_verify_buf(pub, &sig, text, len, sig_name, &verr) < 0) {
		report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "%s", verr.msg);
		return 1;
	}
	v->cp_name[i] = name;
	v->ncp++;
	return 0;
}

static int read_small(const char *path, char **text, size_t *len, struct al_err *err)
{
	return al_read_file(AT_FDCWD, path, 65536, text, len, err);
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

static int anchor_add(struct verifier *v, const struct al_pubkey *pub, int have_pub,
                      struct al_err *err)
{
	char *text = NULL, *sig = NULL, sig_path[PATH_MAX + 8];
	size_t len, sig_len = 0;
	int ret;

	if (read_small(v->o->anchor, &text, &len, err) < 0)
		return -1;
	snprintf(sig_path, sizeof sig_path, "%s.minisig", v->o->anchor);
	if (read_small(sig_path, &sig, &sig_len, err) < 0) {
		free(text);
		return -1;
	}
	ret = checkpoint_add(v, text, len, sig, sig_len, have_pub ? pub : NULL, v->o->anchor, err);
	if (ret == 0)
		v->sum->anchor_checked = 1;
	free(text);
	free(sig);
	return ret;
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
		ret = anchor_add(v, &pub, have_pub, err);
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

		if (segment_begin(v, nums[i], zsts[i]) < 0) {
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
		r = verify_source(v, src, i == count - 1, err);
		src->close(src);
		if (r != 0) {
			ret = r;
			goto out;
		}
	}
	ret = finish(v);
out:
	free(nums);
	free(zsts);
	close(dirfd);
	return ret;
}

/* ---- exports ---- */

struct archive_ctx {
	struct al_stream *outer; /* the decompressed .tar.zst */
	char buf[128 << 10];
	struct al_err *err;
	int failed;
};

static la_ssize_t archive_read_cb(struct archive *a, void *data, const void **out)
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

static int verify_export(struct verifier *v, const char *path, struct al_err *err)
{
	struct archive_ctx *ctx = calloc(1, sizeof *ctx);
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *pub_text = NULL, *cp_text = NULL, *cp_sig = NULL;
	size_t pub_len = 0, cp_len = 0, cp_sig_len = 0;
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
			if (strcmp(name, "host.pub") == 0)
				dst = &pub_text, dlen = &pub_len;
			else if (strcmp(name, "checkpoint.txt") == 0)
				dst = &cp_text, dlen = &cp_len;
			else if (strcmp(name, "checkpoint.txt.minisig") == 0)
				dst = &cp_sig, dlen = &cp_sig_len;
			if (dst == NULL || *dst != NULL)
				continue; /* VERIFY.txt, FORMAT.md: for people */
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
			if (v->o->anchor != NULL) {
				ret = anchor_add(v, &pub, have_pub, err);
				if (ret != 0)
					goto out;
				ret = -1;
			}
			if (cp_text != NULL) {
				ret = checkpoint_add(v, cp_text, cp_len, cp_sig, cp_sig_len,
				                     have_pub ? &pub : NULL, "the export's checkpoint.txt", err);
				if (ret != 0)
					goto out;
				ret = -1;
				cp_added = 1;
				v->sum->checkpoint_checked = 1;
			}
		}
		if (segment_begin(v, n, zst) < 0) {
			ret = 1;
			goto out;
		}
		{
			struct al_stream *src = calloc(1, sizeof *src + sizeof(struct entry_impl));
			int rr;
			if (src == NULL) {
				al_err_sys(err, "cannot allocate memory");
				goto out;
			}
			src->impl = src + 1;
			((struct entry_impl *)src->impl)->a = a;
			src->read = entry_read;
			src->close = entry_close;
			src->name = v->segname;
			if (zst && (src = al_stream_zstd(src, AL_ZSTD_WINDOW_LOG_MAX, err)) == NULL)
				goto out;
			/* Whether this is the last segment is not known while
			 * streaming; a missing final newline in a closed segment is
			 * still caught: the next segment's first line would fail. */
			rr = verify_source(v, src, 1, err);
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
	if (!cp_added)
		report(v, AL_FINDING_WARNING, 0, NULL, 0, 0, "the export holds no checkpoint");
	ret = finish(v);
out:
	archive_read_free(a);
	if (ctx != NULL && ctx->outer != NULL)
		ctx->outer->close(ctx->outer);
	free(ctx);
	free(pub_text);
	free(cp_text);
	free(cp_sig);
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
		ret = is_export ? verify_export(v, path, err) : verify_dir(v, path, err);
	}
	if (ret == 0 && v->failed)
		ret = 1;
	if (v->key != NULL)
		sodium_free(v->key);
	free(v);
	return ret;
}
