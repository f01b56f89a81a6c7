/* verify.c - the streaming verifier (FORMAT.md §3, §5, §6, §7): a
 * directory of segments or an evidence export, line by line, in constant
 * memory; the first failing line is reported with its place and reason. */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

void vf_report(struct verifier *v, enum al_finding_level level, uint64_t line,
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
	if (v->o->on_finding != NULL)
		v->o->on_finding(v->o->ctx, &f);
}

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
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "seal without a valid epoch, upto and mac");
		return -1;
	}
	epoch = json_integer_value(je);
	upto = json_integer_value(ju);
	if ((uint64_t)upto != l->seq - 1) {
		json_decref(obj);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "seal upto %lld is not the entry before it (%llu)", (long long)upto,
		       (unsigned long long)(l->seq - 1));
		return -1;
	}
	if (v->expect_epoch < 0 && v->first_segno == 1 && epoch != 0) {
		json_decref(obj);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "the log's first seal has epoch %lld, not 0 (history re-sealed with a later key?)",
		       (long long)epoch);
		return -1;
	}
	if (v->expect_epoch >= 0 && epoch != v->expect_epoch) {
		json_decref(obj);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "seal epoch %lld where %lld was due (a seal removed, or history re-sealed with a later key)",
		       (long long)epoch, (long long)v->expect_epoch);
		return -1;
	}
	if (v->key != NULL) {
		char want[65], prev_hex[65];
		if ((uint64_t)epoch < v->key_epoch) { /* cannot happen: epochs only go up */
			json_decref(obj);
			vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "seal epoch goes back");
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
			vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
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
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "the log does not start with log.open");
		return -1;
	}
	if (first_of_segment && !first_of_log && !is_segment) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "segment %lu does not start with log.segment",
		       v->segno);
		return -1;
	}
	if (first_of_log && v->first_segno > 1 && !is_segment) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "segment %lu does not start with log.segment",
		       v->segno);
		return -1;
	}
	if (is_open && !(first_of_log && v->first_segno == 1)) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "log.open after the first line");
		return -1;
	}
	if (is_segment && !first_of_segment) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "log.segment inside a segment");
		return -1;
	}
	if (!is_open && !is_segment)
		return 0;
	obj = parse_full(line, len);
	id = json_string_value(json_object_get(obj, "log_id"));
	if (id == NULL || strlen(id) != 32) {
		json_decref(obj);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "%s without a log_id", l->event);
		return -1;
	}
	if (is_segment && json_integer_value(json_object_get(obj, "segment")) != (json_int_t)v->segno) {
		json_decref(obj);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "log.segment says segment %lld, but it opens segment %lu",
		       (long long)json_integer_value(json_object_get(obj, "segment")), v->segno);
		return -1;
	}
	if (v->log_id[0] != '\0' && strcmp(v->log_id, id) != 0) {
		json_decref(obj);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "log_id %s is not the log's (%s)", id,
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
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		       "log.torn_tail that does not follow a torn line as FORMAT.md §5 says");
		return -1;
	}
	vf_report(v, AL_FINDING_WARNING, v->pend_line, v->pend_seg, v->pend_seg_line, 0,
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
			vf_report(v, AL_FINDING_ERROR, HERE(v, seq),
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
		vf_report(v, AL_FINDING_ERROR, HERE(v, 0), "line longer than %u bytes", AL_AUDIT_LINE_MAX);
		return -1;
	}
	if (!has_nl) {
		vf_report(v, AL_FINDING_WARNING, HERE(v, 0),
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
			vf_report(v, AL_FINDING_ERROR, v->pend_line, v->pend_seg, v->pend_seg_line, 0, "%s",
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
				vf_report(v, AL_FINDING_ERROR, v->pend_line, v->pend_seg, v->pend_seg_line, 0,
				       "%s", v->pend_why);
			return -1;
		}
	} else if (strcmp(l.event, "log.torn_tail") == 0) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l.seq), "log.torn_tail without a torn line before it");
		return -1;
	}
	if (v->expect_seq == 0) {
		if (v->first_segno == 1 && l.seq != 1) {
			vf_report(v, AL_FINDING_ERROR, HERE(v, l.seq), "the first entry has seq %llu, not 1",
			       (unsigned long long)l.seq);
			return -1;
		}
		if (v->first_segno == 1 && strcmp(l.prev, "0000000000000000000000000000000000000000000000000000000000000000") != 0) {
			vf_report(v, AL_FINDING_ERROR, HERE(v, l.seq), "the first entry's prev is not 64 zeros");
			return -1;
		}
		if (v->first_segno > 1)
			vf_report(v, AL_FINDING_INFO, HERE(v, l.seq),
			       "starts at segment %lu (seq %llu): the entry its prev names is not here",
			       v->segno, (unsigned long long)l.seq);
		v->sum->first_seq = l.seq;
	}
	if (check_structure(v, &l, line, len) < 0)
		return -1;
	if (v->have_ts && l.ts_us < v->last_ts && strcmp(l.event, "clock.backwards") != 0)
		vf_report(v, AL_FINDING_WARNING, HERE(v, l.seq), "ts %s is earlier than the entry before",
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
int vf_verify_source(struct verifier *v, struct al_stream *src, int last, struct al_err *err)
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
			vf_report(v, AL_FINDING_ERROR, HERE(v, 0), "a closed segment does not end with a newline");
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
			vf_report(v, AL_FINDING_ERROR, HERE(v, 0), "line longer than %u bytes", AL_AUDIT_LINE_MAX);
			ret = 1;
		} else {
			ret = -1;
		}
	}
	line_reader_free(&r);
	return ret;
}

/* A segment begins: numbers must be consecutive. */
int vf_segment_begin(struct verifier *v, unsigned long n, int zst)
{
	if (v->sum->segments > 0 && n != v->segno + 1) {
		vf_report(v, AL_FINDING_ERROR, v->line + 1, NULL, 0, 0,
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
int vf_finish(struct verifier *v)
{
	if (v->pending) {
		vf_report(v, AL_FINDING_ERROR, v->pend_line, v->pend_seg, v->pend_seg_line, 0, "%s",
		       v->pend_why);
		return 1;
	}
	for (int i = 0; i < v->ncp; i++) {
		if (v->cp_met[i])
			continue;
		if (v->cps[i].size > v->sum->last_seq)
			vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
			       "%s covers %llu entries but the log ends at %llu: the log was truncated",
			       v->cp_name[i], (unsigned long long)v->cps[i].size,
			       (unsigned long long)v->sum->last_seq);
		else
			vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
			       "%s names entry %llu, which is not in this log (it starts at %llu)",
			       v->cp_name[i], (unsigned long long)v->cps[i].size,
			       (unsigned long long)v->sum->first_seq);
		return 1;
	}
	if (v->ncp > 0 && strcmp(v->cps[0].log_id, v->log_id) != 0) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "%s is for log %s, this log is %s",
		       v->cp_name[0], v->cps[0].log_id, v->log_id);
		return 1;
	}
	if (v->sum->entries == 0) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "the log has no entries");
		return 1;
	}
	v->sum->unsealed = v->sum->last_seq - (v->last_seal_seq ? v->last_seal_seq : v->sum->first_seq - 1);
	if (v->o->seal_key != NULL && v->sum->seals == 0) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		       "the log has %llu entries and no seal at all",
		       (unsigned long long)v->sum->entries);
		return 1;
	}
	if (v->sum->unsealed > 0) {
		vf_report(v, v->o->strict ? AL_FINDING_ERROR : AL_FINDING_WARNING, 0, NULL, 0, 0,
		       "unsealed tail: %llu entries after the last seal",
		       (unsigned long long)v->sum->unsealed);
		if (v->o->strict)
			return 1;
	}
	memcpy(v->sum->log_id, v->log_id, sizeof v->log_id);
	return 0;
}

/* Loads and checks a checkpoint (text + .minisig) against a host key. */
int vf_checkpoint_add(struct verifier *v, const char *text, size_t len, const char *sig_text,
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
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "%s", verr.msg);
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

int vf_anchor_add(struct verifier *v, const struct al_pubkey *pub, int have_pub,
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
	ret = vf_checkpoint_add(v, text, len, sig, sig_len, have_pub ? pub : NULL, v->o->anchor, err);
	if (ret == 0)
		v->sum->anchor_checked = 1;
	free(text);
	free(sig);
	return ret;
}
