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

static int hex_key(const char *hex, unsigned char out[SEAL_PUB_LEN]);

/* A /1 log's transition seal binds the first public key (FORMAT.md §5):
 * from it on the log is checked as /2. The chain is rooted there when
 * k0 checked the seal (mac_checked), or when the key given is that key. */
static int seal_transition(struct verifier *v, const struct al_line *l, json_int_t epoch,
                           const unsigned char next[SEAL_PUB_LEN], uint64_t every, int mac_checked)
{
	if (v->open_had_pub) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "a transition seal in a log that log.open says was signed from its start");
		return -1;
	}
	if (v->o->seal_pub != NULL && memcmp(next, v->o->seal_pub, SEAL_PUB_LEN) != 0) {
		char given[17], found[17];
		al_seal_pub_id(v->o->seal_pub, given);
		al_seal_pub_id(next, found);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "the transition seal names seal key %s, not the key given (%s)", found, given);
		return -1;
	}
	memcpy(v->pub, next, SEAL_PUB_LEN);
	v->pub_epoch = (uint64_t)epoch + 1;
	v->have_pub = 1;
	/* With k0 the transition is checked, and the chain rooted there.
	 * Without it, anyone can write a transition seal naming the key: the
	 * chain is rooted only once a seal signed with that key verifies. */
	v->rooted = mac_checked;
	v->root_pending = !mac_checked && v->o->seal_pub != NULL;
	v->sum->transition_seq = l->seq;
	v->every = every;
	return 0;
}

/* An airlock.audit/1 seal: epoch, upto and an HMAC checked with k0. */
static int check_seal1(struct verifier *v, const struct al_line *l, json_t *obj, json_int_t epoch,
                       json_int_t upto)
{
	const char *mac = json_string_value(json_object_get(obj, "mac"));
	char want[65], prev_hex[65];

	if (mac == NULL || strlen(mac) != 64) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "seal without a valid mac");
		return -1;
	}
	const char *next_hex = json_string_value(json_object_get(obj, "next_pub"));
	uint64_t every = (uint64_t)json_integer_value(json_object_get(obj, "every"));
	unsigned char next[SEAL_PUB_LEN];

	if (v->format == 2 || v->have_pub) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "an airlock.audit/1 seal after a signed one or a public key (the log's seals were replaced)");
		return -1;
	}
	if (next_hex != NULL && (hex_key(next_hex, next) < 0 ||
	                         !json_is_integer(json_object_get(obj, "every")) ||
	                         json_integer_value(json_object_get(obj, "every")) <= 0)) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "transition seal without a valid next_pub and every");
		return -1;
	}
	if (v->key == NULL) {
		if (!v->v1_unchecked) /* said once */
			vf_report(v, AL_FINDING_INFO, HERE(v, l->seq),
			          "airlock.audit/1 seals (HMAC) are checked only with the log's k0 (--seal-key)");
		v->v1_unchecked = 1;
		v->sum->v1_unchecked = 1;
		return next_hex != NULL ? seal_transition(v, l, epoch, next, every, 0) : 0;
	}
	if ((uint64_t)epoch < v->key_epoch) { /* cannot happen: epochs only go up */
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "seal epoch goes back");
		return -1;
	}
	while (v->key_epoch < (uint64_t)epoch) {
		fss_evolve(v->key);
		v->key_epoch++;
	}
	al_hex(v->prev_hash, AL_SHA256_LEN, prev_hex);
	seal_mac_next(v->key, (uint64_t)epoch, (uint64_t)upto, prev_hex, next_hex, want);
	if (strcmp(want, mac) != 0) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "seal mac is wrong for epoch %lld (the sealed entries were changed, or the seal forged)",
		          (long long)epoch);
		return -1;
	}
	v->sum->seals_checked = 1;
	return next_hex != NULL ? seal_transition(v, l, epoch, next, every, 1) : 0;
}

static int hex_key(const char *hex, unsigned char out[SEAL_PUB_LEN])
{
	return hex != NULL && strlen(hex) == 64 && al_unhex(hex, 64, out, SEAL_PUB_LEN) == 0 ? 0 : -1;
}

/* An airlock.audit/2 seal: signed by the key of its epoch, which the seal
 * before it (or log.open, for epoch 0) announced. */
static int check_seal2(struct verifier *v, const struct al_line *l, json_t *obj, json_int_t epoch,
                       json_int_t upto)
{
	json_t *jv = json_object_get(obj, "every");
	const char *next_hex = json_string_value(json_object_get(obj, "next_pub"));
	const char *sig = json_string_value(json_object_get(obj, "sig"));
	unsigned char next[SEAL_PUB_LEN];
	char prev_hex[65], msg[512];
	size_t n;

	if (!json_is_integer(jv) || json_integer_value(jv) <= 0 || hex_key(next_hex, next) < 0 ||
	    sig == NULL || strlen(sig) != 128) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "seal without a valid every, next_pub and sig");
		return -1;
	}
	if (v->format == 1 && !v->have_pub) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "a signed seal after airlock.audit/1 ones that announced no key");
		return -1;
	}
	if (v->have_pub && v->pub_epoch != (uint64_t)epoch) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "seal epoch %lld, but the key known is epoch %llu's", (long long)epoch,
		          (unsigned long long)v->pub_epoch);
		return -1;
	}
	if (!v->have_pub) {
		if (v->o->seal_pub != NULL) {
			vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
			          "the key of seal epoch %lld is not known: the seals before it are not here",
			          (long long)epoch);
			return -1;
		}
		vf_report(v, AL_FINDING_INFO, HERE(v, l->seq),
		          "seal signatures from epoch %lld on are checked against keys the log announces "
		          "itself, not against a key given", (long long)epoch);
	} else {
		al_hex(v->prev_hash, AL_SHA256_LEN, prev_hex);
		n = seal2_message(msg, sizeof msg, (uint64_t)epoch, (uint64_t)upto, prev_hex,
		                  (uint64_t)json_integer_value(jv), next_hex);
		if (n == 0 || seal2_check(v->pub, msg, n, sig) < 0) {
			vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
			          "seal signature does not verify with epoch %lld's key (the entries it seals "
			          "were changed, or the seal forged)",
			          (long long)epoch);
			return -1;
		}
		if (v->root_pending) { /* the first seal signed with the key given */
			v->rooted = 1;
			v->root_pending = 0;
		}
		if (v->rooted)
			v->sum->seals_checked = 1;
	}
	memcpy(v->pub, next, sizeof next);
	v->pub_epoch = (uint64_t)epoch + 1;
	v->have_pub = 1;
	v->every = (uint64_t)json_integer_value(jv);
	return 0;
}

static int check_seal(struct verifier *v, const struct al_line *l, const char *line, size_t len)
{
	json_t *obj = parse_full(line, len);
	json_t *je = json_object_get(obj, "epoch"), *ju = json_object_get(obj, "upto");
	int signed_seal = json_object_get(obj, "sig") != NULL;
	json_int_t epoch, upto;
	int ret = -1;

	if (!json_is_integer(je) || !json_is_integer(ju) || json_integer_value(je) < 0 ||
	    json_integer_value(je) > ((json_int_t)1 << 62)) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq), "seal without a valid epoch and upto");
		goto out;
	}
	epoch = json_integer_value(je);
	upto = json_integer_value(ju);
	if ((uint64_t)upto != l->seq - 1) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "seal upto %lld is not the entry before it (%llu)", (long long)upto,
		          (unsigned long long)(l->seq - 1));
		goto out;
	}
	if (v->expect_epoch < 0 && v->first_segno == 1 && epoch != 0) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "the log's first seal has epoch %lld, not 0 (history re-sealed with a later key?)",
		          (long long)epoch);
		goto out;
	}
	if (v->expect_epoch >= 0 && epoch != v->expect_epoch) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "seal epoch %lld where %lld was due (a seal removed, or history re-sealed with a later key)",
		          (long long)epoch, (long long)v->expect_epoch);
		goto out;
	}
	if ((signed_seal ? check_seal2(v, l, obj, epoch, upto) : check_seal1(v, l, obj, epoch, upto)) < 0)
		goto out;
	v->format = signed_seal ? 2 : 1;
	v->sum->format = v->format;
	if (v->sum->first_epoch < 0)
		v->sum->first_epoch = epoch;
	v->sum->last_epoch = epoch;
	v->expect_epoch = epoch + 1;
	v->last_seal_seq = l->seq;
	v->last_seal_line = v->line;
	v->unsealed_writes = 0;
	v->sum->sealed_upto = (uint64_t)upto;
	memcpy(v->sum->sealed_ts, l->ts, AL_TS_LEN);
	v->sum->seals++;
	ret = 0;
out:
	json_decref(obj);
	return ret;
}

/* log.open names the epoch-0 seal key of an airlock.audit/2 log: the key
 * given must be that one (a rewritten log.open, or another log's key,
 * fails here, at line 1); without a key given, the seals are checked
 * against it, which proves only that the log agrees with itself. */
static int open_seal_key(struct verifier *v, const struct al_line *l, json_t *obj)
{
	json_t *jp = json_object_get(obj, "seal_pub"), *je = json_object_get(obj, "seal_every");
	unsigned char pk[SEAL_PUB_LEN];

	if (jp == NULL) /* airlock.audit/1: k0 checks its seals */
		return 0;
	if (hex_key(json_string_value(jp), pk) < 0 || !json_is_integer(je) ||
	    json_integer_value(je) <= 0) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "log.open without a valid seal_pub and seal_every");
		return -1;
	}
	if (v->o->seal_pub != NULL && memcmp(pk, v->o->seal_pub, SEAL_PUB_LEN) != 0) {
		char given[17], found[17];
		al_seal_pub_id(v->o->seal_pub, given);
		al_seal_pub_id(pk, found);
		vf_report(v, AL_FINDING_ERROR, HERE(v, l->seq),
		          "log.open names seal key %s, not the key given (%s): another log, or a rewritten one",
		          found, given);
		return -1;
	}
	memcpy(v->pub, pk, SEAL_PUB_LEN);
	v->pub_epoch = 0;
	v->have_pub = 1;
	v->open_had_pub = 1;
	v->rooted = v->o->seal_pub != NULL;
	v->every = (uint64_t)json_integer_value(je);
	return 0;
}

/* seals.jsonl of an export that starts after segment 1 (FORMAT.md §7):
 * log.open, then every seal before the export, each checked as the log's
 * own seals are (epochs, formats, transitions, signatures; a seal's prev
 * is the hash it seals), the epoch-0 seal right after log.open and bound
 * to it by its prev. What it yields is the key of the export's first
 * seal. Findings name seals.jsonl and its line. */
int vf_seal_chain(struct verifier *v, struct al_stream *src, struct al_err *err)
{
	static const char zero_prev[] = "0000000000000000000000000000000000000000000000000000000000000000";
	struct line_reader r;
	const char *line;
	size_t len;
	unsigned char open_hash[AL_SHA256_LEN];
	int nl = 0, got, ret = 0;

	if (v->chain_seen) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0, "the export holds seals.jsonl twice");
		return 1;
	}
	v->chain_seen = 1;
	snprintf(v->segname, sizeof v->segname, "seals.jsonl");
	v->seg_line = 0;
	line_reader_init(&r, src);
	while (ret == 0 && (got = line_next(&r, &line, &len, &nl, err)) == 1) {
		struct al_err perr = {0};
		struct al_line l;
		json_t *obj;
		v->seg_line++;
		if (!nl || al_line_parse(line, len, &l, &perr) < 0) {
			vf_report(v, AL_FINDING_ERROR, 0, v->segname, v->seg_line, 0, "not an entry: %s",
			          nl ? perr.msg : "no newline");
			ret = 1;
			break;
		}
		if (v->seg_line == 1) {
			obj = parse_full(line, len);
			if (strcmp(l.event, "log.open") != 0 || l.seq != 1 || strcmp(l.prev, zero_prev) != 0 ||
			    !json_is_string(json_object_get(obj, "log_id")) ||
			    strlen(json_string_value(json_object_get(obj, "log_id"))) != 32) {
				vf_report(v, AL_FINDING_ERROR, 0, v->segname, 1, l.seq,
				          "the first line is not the log's log.open");
				ret = 1;
			} else if (open_seal_key(v, &l, obj) < 0) {
				ret = 1;
			} else {
				memcpy(v->log_id, json_string_value(json_object_get(obj, "log_id")), 33);
				hash_line(line, len, open_hash);
			}
			json_decref(obj);
			continue;
		}
		if (strcmp(l.event, "seal") != 0) {
			vf_report(v, AL_FINDING_ERROR, 0, v->segname, v->seg_line, l.seq, "not a seal");
			ret = 1;
			break;
		}
		/* the epoch-0 seal follows log.open: its prev is log.open's hash */
		if (v->seg_line == 2 && (l.seq != 2 || memcmp(l.prev_hash, open_hash, AL_SHA256_LEN) != 0)) {
			vf_report(v, AL_FINDING_ERROR, 0, v->segname, 2, l.seq,
			          "the first seal does not follow log.open");
			ret = 1;
			break;
		}
		if (v->seg_line == 2)
			v->expect_epoch = 0;
		memcpy(v->prev_hash, l.prev_hash, AL_SHA256_LEN); /* what this seal seals */
		if (check_seal(v, &l, line, len) < 0)
			ret = 1;
	}
	line_reader_free(&r);
	if (ret == 0 && got < 0)
		ret = -1;
	if (ret == 0 && v->seg_line < 2) {
		vf_report(v, AL_FINDING_ERROR, 0, v->segname, v->seg_line, 0,
		          "seals.jsonl holds no seal");
		ret = 1;
	}
	/* The export's own seals are what its summary counts. */
	memset(v->prev_hash, 0, sizeof v->prev_hash);
	v->sum->seals = 0;
	v->sum->first_epoch = v->sum->last_epoch = -1;
	v->sum->sealed_upto = 0;
	v->sum->sealed_ts[0] = '\0';
	v->sum->seals_checked = 0;
	v->last_seal_seq = 0;
	v->segname[0] = '\0';
	v->seg_line = 0;
	return ret;
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
	if (is_open && open_seal_key(v, l, obj) < 0) {
		json_decref(obj);
		return -1;
	}
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
		if (i == 0 && v->o->anchor != NULL)
			v->sum->anchored_upto = seq;
		if (!v->cp_has_sig2[i]) {
			/* host.key signs unattended: against the public key, it
			 * alone does not vouch for a checkpoint of a signed log */
			if (v->o->seal_pub != NULL && v->have_pub)
				vf_report(v, AL_FINDING_ERROR, HERE(v, seq),
				          "%s has no signature by the seal key (%s.sig): the host key alone does "
				          "not vouch for it",
				          v->cp_name[i], v->cp_name[i]);
			continue;
		}
		/* Signed by the epoch key in force at that entry: the one the
		 * last seal before it announced. */
		if (!v->have_pub || v->cp_sig2[i].epoch != v->pub_epoch ||
		    memcmp(v->cp_sig2[i].pub, v->pub, SEAL_PUB_LEN) != 0 ||
		    seal2_check(v->pub, v->cp_text[i], v->cp_len[i], v->cp_sig2[i].sig) < 0) {
			vf_report(v, AL_FINDING_ERROR, HERE(v, seq),
			          "%s.sig is not a signature by the seal key in force at entry %llu (epoch %llu)",
			          v->cp_name[i], (unsigned long long)seq, (unsigned long long)v->pub_epoch);
			return;
		}
		if (v->rooted)
			v->sum->checkpoint_epoch_signed = 1;
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
		/* On a live host, a write cut short that the next append repairs;
		 * in an export, which ends at a sealed head, bytes cut off. */
		if (v->is_export) {
			vf_report(v, AL_FINDING_ERROR, HERE(v, 0),
			          "torn tail in an export: the last line lacks its newline (the export was cut short)");
			return -1;
		}
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
	if (strcmp(l.event, "seal") != 0 && strcmp(l.event, "audit.accessed") != 0 &&
	    strcmp(l.event, "log.resume") != 0)
		v->unsealed_writes++;
	meet_checkpoints(v, l.seq, hash);
	if (!v->failed && v->o->on_entry != NULL && v->o->on_entry(v->o->entry_ctx, line, len) != 0) {
		vf_report(v, AL_FINDING_ERROR, HERE(v, l.seq), "the reader of the entries failed");
		return -1;
	}
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
	if (v->sum->segments == 0 && v->chain_seen && n == 1) {
		vf_report(v, AL_FINDING_ERROR, 1, NULL, 0, 0,
		          "seals.jsonl in an export that starts at segment 1 (it has no seals before it)");
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
	/* An export ends at the entry its checkpoint names: a line after it
	 * was added to the export later, by someone who did not hold the
	 * keys that signed the checkpoint. */
	if (v->export_cp >= 0 && v->cps[v->export_cp].size != v->sum->last_seq) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		          "the export's checkpoint covers entry %llu but the export goes on to %llu: "
		          "entries were added after it was made",
		          (unsigned long long)v->cps[v->export_cp].size,
		          (unsigned long long)v->sum->last_seq);
		return 1;
	}
	/* What the export says it holds, signed by the key that signed its
	 * checkpoint: a start cut off, or a range made to look shorter, fails. */
	if (v->export_cp >= 0 && v->cp_has_sig2[v->export_cp] && !v->have_range &&
	    v->o->seal_pub != NULL) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		          "the export holds no export.txt: where it starts cannot be checked");
		return 1;
	}
	if (v->have_range &&
	    (strcmp(v->range_log_id, v->log_id) != 0 || v->range_first != v->sum->first_seq ||
	     v->range_last != v->sum->last_seq || v->range_segno != v->first_segno ||
	     v->export_cp < 0 || !v->cp_has_sig2[v->export_cp] ||
	     v->range_sig.epoch != v->cp_sig2[v->export_cp].epoch ||
	     memcmp(v->range_sig.pub, v->cp_sig2[v->export_cp].pub, SEAL_PUB_LEN) != 0)) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		          "export.txt says entries %llu to %llu from segment %lu, the export holds %llu to "
		          "%llu from segment %lu (or it is signed by another key than the checkpoint)",
		          (unsigned long long)v->range_first, (unsigned long long)v->range_last,
		          v->range_segno, (unsigned long long)v->sum->first_seq,
		          (unsigned long long)v->sum->last_seq, v->first_segno);
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
	if ((v->o->seal_key != NULL || v->o->seal_pub != NULL) && v->sum->seals == 0) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		       "the log has %llu entries and no seal at all",
		       (unsigned long long)v->sum->entries);
		return 1;
	}
	if (v->o->seal_pub != NULL && !v->rooted) {
		vf_report(v, AL_FINDING_ERROR, 0, NULL, 0, 0,
		          "the public key given checks no seal of this log: its seals are airlock.audit/1 "
		          "HMAC seals (verify them with --seal-key k0), and no transition seal names it");
		return 1;
	}
	/* The writer seals once `every` entries follow a seal; one more may
	 * stand when a crash fell between an entry and its seal and the next
	 * opener repaired a torn line first. A longer span was cut and
	 * extended, or its seals removed. */
	if (v->o->seal_pub != NULL && v->every > 0 && v->sum->unsealed > v->every + 1) {
		vf_report(v, AL_FINDING_ERROR, v->last_seal_line + 1, NULL, 0, v->sum->last_seq - v->sum->unsealed + 1,
		          "%llu entries after the last seal, more than the log's seal interval (%llu): "
		          "its seals were removed, or the log was cut and extended",
		          (unsigned long long)v->sum->unsealed, (unsigned long long)v->every);
		return 1;
	}
	if (v->sum->unsealed > 0) {
		/* Reads (audit.accessed, log.resume) are sealed in by the next
		 * write or the anchor timer: never a failure by themselves. */
		int fails = (v->o->strict || v->is_export) && v->unsealed_writes > 0;
		vf_report(v, fails ? AL_FINDING_ERROR : AL_FINDING_WARNING, 0, NULL, 0, 0,
		       "unsealed tail: %llu entries after the last seal%s",
		       (unsigned long long)v->sum->unsealed,
		       v->unsealed_writes == 0 ? " (reads only)" : "");
		if (fails)
			return 1;
	}
	memcpy(v->sum->log_id, v->log_id, sizeof v->log_id);
	return 0;
}

/* Loads and checks a checkpoint (text + .minisig) against a host key;
 * its .sig by the epoch key, when there is one, is checked when the
 * entry it names is met. */
int vf_checkpoint_add(struct verifier *v, const char *text, size_t len, const char *sig_text,
                      size_t sig_len, const char *sig2_text, size_t sig2_len,
                      const struct al_pubkey *pub, const char *name, struct al_err *err)
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
	snprintf(sig_name, sizeof sig_name, "%s.sig", name);
	v->cp_has_sig2[i] = sig2_text != NULL;
	if (sig2_text != NULL && checkpoint_sig2_parse(sig2_text, sig2_len, sig_name, &v->cp_sig2[i], err) < 0)
		return -1;
	memcpy(v->cp_text[i], text, len); /* 4 short lines: parsed above */
	v->cp_len[i] = len;
	v->cp_name[i] = name;
	v->ncp++;
	return 0;
}

/* export.txt (FORMAT.md §7): "airlock.export/1 <log_id>\n<first> <last>\n
 * <first segment>\n", and its signature by the seal key in force at the
 * export's last entry, the key that signed its checkpoint. */
int vf_range_add(struct verifier *v, const char *text, size_t len, const char *sig,
                 size_t sig_len, struct al_err *err)
{
	static const char prefix[] = "airlock.export/1 ";
	char id[33], buf[256], *p, *end;
	unsigned long long first = 0, last = 0, segno = 0;
	int ok;

	ok = len < sizeof buf && len > sizeof prefix + 32 && memcmp(text, prefix, sizeof prefix - 1) == 0;
	if (ok) {
		memcpy(buf, text, len);
		buf[len] = '\0';
		p = buf + sizeof prefix - 1;
		memcpy(id, p, 32);
		id[32] = '\0';
		p += 32;
		ok = strspn(id, "0123456789abcdef") == 32 && *p++ == '\n';
		/* three numbers: digits only (the form is checked again below) */
		for (int k = 0; ok && k < 3; k++) {
			unsigned long long *dst = k == 0 ? &first : k == 1 ? &last : &segno;
			if (*p < '0' || *p > '9') {
				ok = 0;
				break;
			}
			errno = 0;
			*dst = strtoull(p, &end, 10);
			ok = errno == 0 && *end == (k == 0 ? ' ' : '\n');
			p = end + 1;
		}
		ok = ok && (size_t)(p - buf) == len;
	}
	if (!ok)
		return al_err_set(err, AL_EVERIFY, "export.txt: not \"airlock.export/1 <log_id>\", "
		                                   "\"<first> <last>\", \"<first segment>\"");
	if (sig == NULL)
		return al_err_set(err, AL_EVERIFY, "export.txt.sig: missing beside export.txt");
	if (checkpoint_sig2_parse(sig, sig_len, "export.txt.sig", &v->range_sig, err) < 0)
		return -1;
	{
		/* the exact text must format back: what is verified is what is read */
		char again[256];
		snprintf(again, sizeof again, "airlock.export/1 %s\n%llu %llu\n%llu\n", id, first, last,
		         segno);
		if (strlen(again) != len || memcmp(again, text, len) != 0)
			return al_err_set(err, AL_EVERIFY, "export.txt: not in its one written form");
		if (seal2_check(v->range_sig.pub, text, len, v->range_sig.sig) < 0)
			return al_err_set(err, AL_EVERIFY, "export.txt.sig: not a signature of export.txt");
	}
	memcpy(v->range_log_id, id, 33);
	v->range_first = first;
	v->range_last = last;
	v->range_segno = (unsigned long)segno;
	v->have_range = 1;
	return 0;
}

static int read_small(const char *path, char **text, size_t *len, struct al_err *err)
{
	return al_read_file(AT_FDCWD, path, 65536, text, len, err);
}

int vf_anchor_add(struct verifier *v, const struct al_pubkey *pub, int have_pub,
                  struct al_err *err)
{
	char *text = NULL, *sig = NULL, *sig2 = NULL, sig_path[PATH_MAX + 8];
	size_t len, sig_len = 0, sig2_len = 0;
	int ret;

	if (read_small(v->o->anchor, &text, &len, err) < 0)
		return -1;
	snprintf(sig_path, sizeof sig_path, "%s.minisig", v->o->anchor);
	if (read_small(sig_path, &sig, &sig_len, err) < 0) {
		free(text);
		return -1;
	}
	/* The epoch key's signature is beside it unless the anchor is of an
	 * airlock.audit/1 log (or was made before airlock.audit/2). */
	snprintf(sig_path, sizeof sig_path, "%s.sig", v->o->anchor);
	if (access(sig_path, F_OK) == 0 && read_small(sig_path, &sig2, &sig2_len, err) < 0) {
		free(text);
		free(sig);
		return -1;
	}
	ret = vf_checkpoint_add(v, text, len, sig, sig_len, sig2, sig2_len, have_pub ? pub : NULL,
	                        v->o->anchor, err);
	if (ret == 0)
		v->sum->anchor_checked = 1;
	free(text);
	free(sig);
	free(sig2);
	return ret;
}
