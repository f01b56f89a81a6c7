/* writer.c - appends to the audit log (FORMAT.md §2, §5, §10): the hash
 * chain, one write() a line under an flock, fail-closed on any write
 * error, torn-tail repair, log.resume, clock.backwards, segment rotation
 * and compression, seals with key evolution. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#define LOCK_WAIT_MS 120000

static const char zero_hex[65] =
	"0000000000000000000000000000000000000000000000000000000000000000";

int al_audit_event_reserved(const char *event)
{
	return strncmp(event, "log.", 4) == 0 || strcmp(event, "seal") == 0 ||
	       strcmp(event, "clock.backwards") == 0;
}

uint64_t al_audit_last_seq(const struct al_audit *log)
{
	return log->seq;
}

const char *al_audit_log_id(const struct al_audit *log)
{
	return log->log_id;
}

/* ---- locking ---- */

int writer_lock(struct al_audit *log, struct al_err *err)
{
	struct timespec pause = {0, 2000000};

	for (long waited = 0;; waited += 2) {
		if (flock(log->lockfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return al_err_sys(err, "%s/audit/" LOCK_NAME ": flock", log->home);
		if (waited >= LOCK_WAIT_MS)
			return al_err_set(err, AL_EBUSY,
			                  "%s/audit: another airlock process has held the audit log's lock for %d s",
			                  log->home, LOCK_WAIT_MS / 1000);
		nanosleep(&pause, NULL);
	}
}

static void lock_release(struct al_audit *log)
{
	(void)flock(log->lockfd, LOCK_UN);
}

/* ---- state from the file ---- */

static void state_from_line(struct al_audit *log, const char *line, size_t len,
                            const struct al_line *l)
{
	line_hash(line, len, log->last_hash);
	al_hex(log->last_hash, AL_SHA256_LEN, log->last_hex);
	log->seq = l->seq;
	log->last_ts = l->ts_us;
	log->last_is_seal = strcmp(l->event, "seal") == 0;
}

/* Takes state from a segment's last complete line. */
static int state_from_tail(struct al_audit *log, const struct seg_tail *t, const char *name,
                           struct al_err *err)
{
	struct al_line l;

	if (al_line_parse(t->line, t->line_len, &l, err) < 0) {
		al_err_prefix(err, "audit/%s: last line", name);
		err->code = AL_EVERIFY;
		return -1;
	}
	state_from_line(log, t->line, t->line_len, &l);
	return 0;
}

static int write_line(struct al_audit *log, const char *line, size_t len, int sync,
                      const char *what, struct al_err *err);

/* A fragment after the last line (a write cut by a power loss): a complete
 * entry that lacks only its "\n" gets it (returns 1); anything else becomes
 * a line of its own followed by log.torn_tail (FORMAT.md §5; returns 0). */
static int repair_torn_tail(struct al_audit *log, const struct seg_tail *t, int have_last,
                            const char *name, struct al_err *err)
{
	struct al_line l;
	json_t *fields;
	int ret;

	if (al_line_parse(t->frag, t->frag_len, &l, NULL) == 0 && have_last && l.seq == log->seq + 1 &&
	    strcmp(l.prev, log->last_hex) == 0) {
		if (write_line(log, "\n", 1, 1, "torn tail repair", err) < 0)
			return -1;
		state_from_line(log, t->frag, t->frag_len, &l);
		return 1;
	}
	if (!have_last)
		return al_err_set(err, AL_EVERIFY,
		                  "audit/%s: the log's first line is torn (a crash during init): remove %s/audit and run airlock audit init again",
		                  name, log->home);
	fields = json_pack("{s:I,s:I,s:s}", "fragment_bytes", (json_int_t)t->frag_len, "resume_seq",
	                   (json_int_t)log->seq, "resume_hash", log->last_hex);
	/* The torn_tail entry's prev is the fragment line's hash; its seq
	 * continues from the last complete entry. */
	line_hash(t->frag, t->frag_len, log->last_hash);
	al_hex(log->last_hash, AL_SHA256_LEN, log->last_hex);
	ret = writer_append(log, "log.torn_tail", fields, 1, 1, err);
	json_decref(fields);
	return ret;
}

/* The first /2 key of a transition (fss.next, FORMAT.md §5) moves into
 * fss.key, once its public key is the one the transition seal bound. */
static int install_next(struct al_audit *log, const char *next_pub, struct al_err *err)
{
	struct fss_state nx, cur;
	int ret;

	if (fss_load(log->dirfd, &cur, 0, err) < 0 ||
	    fss_load_from(log->dirfd, FSS_NEXT_NAME, &nx, 1, err) < 0)
		return -1;
	nx.slot = cur.slot; /* it goes into fss.key's free slot, the /1 key is wiped */
	if (nx.version != 2 || seal2_pub_is(nx.key, next_pub) != 1) {
		fss_free(&nx);
		return al_err_set(err, AL_EVERIFY,
		                  "%s/audit/" FSS_NEXT_NAME " does not hold the key the transition seal announced",
		                  log->home);
	}
	ret = fss_store(log->dirfd, &nx, err);
	fss_free(&nx);
	if (ret == 0)
		ret = fss_wipe(log->dirfd, FSS_NEXT_NAME, err);
	return ret;
}

/* A seal written just before a crash, before its key was evolved: evolve
 * it now, or the next seal would reuse the epoch. A transition seal's
 * key comes from fss.next; an fss.next whose seal never became durable
 * is removed. */
static int repair_seal_key(struct al_audit *log, const char *last_line, size_t len,
                           struct al_err *err)
{
	struct fss_state st;
	json_t *v;
	json_int_t epoch;
	char next_pub[65] = "";
	int ret = 0;

	if (fss_load(log->dirfd, &st, 1, err) < 0)
		return -1;
	log->seal_upto = st.upto;
	epoch = -1;
	if (last_line != NULL && log->last_is_seal) {
		v = json_loadb(last_line, len, 0, NULL);
		epoch = json_integer_value(json_object_get(v, "epoch"));
		if (json_is_string(json_object_get(v, "next_pub")) &&
		    strlen(json_string_value(json_object_get(v, "next_pub"))) == 64)
			memcpy(next_pub, json_string_value(json_object_get(v, "next_pub")), 65);
		json_decref(v);
	}
	if (epoch < 0 || (uint64_t)epoch != st.epoch) {
		/* a transition whose seal never became durable: its key goes */
		ret = fss_wipe(log->dirfd, FSS_NEXT_NAME, err);
		if (ret == 0 && st.stale)
			ret = fss_store(log->dirfd, &st, err); /* a crash left the old slot whole */
		goto out;
	}
	if (st.version == 1 && next_pub[0] != '\0') {
		ret = install_next(log, next_pub, err);
		if (ret < 0)
			log->failed = 1;
		else
			log->seal_upto = log->seq - 1;
		goto out;
	}
	if (st.version == 2)
		fss2_evolve(st.key);
	else
		fss_evolve(st.key);
	if (st.version == 2 && seal2_pub_is(st.key, next_pub) != 1) {
		/* The key stored is not the one the seal announced: the log could
		 * never be sealed again. Said, never papered over. */
		ret = al_err_set(err, AL_EVERIFY,
		                 "%s/audit/fss.key does not hold the key the last seal announced",
		                 log->home);
		log->failed = 1;
		goto out;
	}
	st.epoch++;
	st.upto = log->seq - 1;
	log->seal_upto = st.upto;
	ret = fss_store(log->dirfd, &st, err);
	if (ret < 0)
		log->failed = 1;
out:
	fss_free(&st);
	return ret;
}

/* Reads the newest segment and takes the log's state from it, repairing
 * what a crash left. Called under the lock. */
static int reload(struct al_audit *log, struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, fd = -1, ret = -1, have_last = 0;
	struct seg_tail t = {0}, prev_t = {0}, *last;
	char name[SEG_NAME_MAX], display[PATH_MAX];
	struct stat st;
	long count;

	al_snprintf(display, sizeof display, "%s/audit", log->home);
	count = seg_list(log->dirfd, display, &nums, &zsts, err);
	if (count < 0)
		return -1;
	if (count == 0) {
		al_err_set(err, AL_EUSAGE, "%s: no audit log segments (run airlock audit init)", display);
		goto out;
	}
	log->segno = nums[count - 1];
	seg_name(log->segno, 0, name);
	if (zsts[count - 1]) {
		al_err_set(err, AL_EVERIFY, "%s: the newest segment is compressed; it should be open for writing",
		           display);
		goto out;
	}
	fd = al_openat(log->dirfd, name, O_RDWR | O_APPEND, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		al_err_sys(err, "%s/%s", display, name);
		goto out;
	}
	if (log->segfd >= 0)
		close(log->segfd);
	log->segfd = fd;
	fd = -1;
	if (seg_read_tail(log->segfd, name, &t, err) < 0)
		goto out;
	log->seg_size = t.size;
	log->segment_line_due = 0;
	if (t.line != NULL) {
		if (state_from_tail(log, &t, name, err) < 0 ||
		    seg_log_id(log->dirfd, log->segno, 0, log->log_id, NULL, err) < 0)
			goto out;
		have_last = 1;
	} else if (log->segno > 1) {
		/* Nothing complete here yet: the state is the previous segment's
		 * last line, and this segment still needs its first line. */
		char pname[SEG_NAME_MAX];
		int pzst = count > 1 && nums[count - 2] == log->segno - 1 ? zsts[count - 2] : 0;
		int pfd;
		seg_name(log->segno - 1, pzst, pname);
		if (pzst) {
			al_err_set(err, AL_EVERIFY,
			           "%s: segment %lu has no complete line and the one before is compressed",
			           display, log->segno);
			goto out;
		}
		pfd = openat(log->dirfd, pname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (pfd < 0) {
			al_err_sys(err, "%s/%s", display, pname);
			goto out;
		}
		ret = seg_read_tail(pfd, pname, &prev_t, err);
		close(pfd);
		if (ret < 0 || prev_t.line == NULL || prev_t.frag != NULL) {
			if (ret == 0)
				al_err_set(err, AL_EVERIFY, "%s/%s: does not end with a complete line", display,
				           pname);
			ret = -1;
			goto out;
		}
		ret = -1;
		if (state_from_tail(log, &prev_t, pname, err) < 0 ||
		    seg_log_id(log->dirfd, log->segno - 1, 0, log->log_id, NULL, err) < 0)
			goto out;
		have_last = 1;
		log->segment_line_due = t.frag == NULL;
	}
	last = t.line != NULL ? &t : prev_t.line != NULL ? &prev_t : NULL;
	if (t.frag != NULL) {
		int complete = repair_torn_tail(log, &t, have_last, name, err);
		if (complete < 0)
			goto out;
		if (t.line == NULL && log->segno > 1)
			log->segment_line_due = 0; /* the torn line was this segment's first */
		last = NULL;
		if (complete) {
			free(t.line);
			t.line = t.frag; /* the fragment is now the last line */
			t.line_len = t.frag_len;
			t.frag = NULL;
			last = &t;
		}
	} else if (!have_last) {
		al_err_set(err, AL_EVERIFY, "%s/%s: empty: the log was never initialised", display, name);
		goto out;
	}
	if (repair_seal_key(log, last != NULL ? last->line : NULL, last != NULL ? last->line_len : 0,
	                    err) < 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	seg_tail_free(&t);
	seg_tail_free(&prev_t);
	free(nums);
	free(zsts);
	return ret;
}

/* Under the lock: catches up with what other writers did since our last
 * append (new lines, a new segment, a tail torn by a crashed writer). */
static int refresh(struct al_audit *log, struct al_err *err)
{
	char next[SEG_NAME_MAX], nextz[SEG_NAME_MAX];
	struct stat st;

	if (fstat(log->segfd, &st) < 0)
		return al_err_sys(err, "%s/audit: current segment", log->home);
	if ((uint64_t)st.st_size != log->seg_size)
		return reload(log, err);
	/* Another writer starts a new segment only once this one is full,
	 * and filling it changes its size: below the limit, with the size we
	 * know, nothing can have moved on. */
	if (log->seg_size < log->cfg.segment_size)
		return 0;
	seg_name(log->segno + 1, 0, next);
	seg_name(log->segno + 1, 1, nextz);
	if (fstatat(log->dirfd, next, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(log->dirfd, nextz, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return reload(log, err);
	return 0;
}

/* ---- writing ---- */

/* One write() of a whole line. A short or failed write is cut back off
 * the file and the log refuses all further appends: no entry after the
 * failure, and nothing half-written left looking like an entry. */
static int write_line(struct al_audit *log, const char *line, size_t len, int sync,
                      const char *what, struct al_err *err)
{
	uint64_t off = log->seg_size;
	ssize_t w;

	w = al_sys_write(log->segfd, line, len);
	if (w != (ssize_t)len) {
		int errsv = w < 0 ? errno : ENOSPC;
		if (w > 0)
			(void)al_sys_ftruncate(log->segfd, (off_t)off);
		log->failed = 1;
		errno = errsv;
		if (w >= 0)
			return al_err_set(err, AL_EENV,
			                  "%s/audit: %s: short write (%zd of %zu bytes; disk full?): the audit log refuses further entries",
			                  log->home, what, w, len);
		return al_err_sys(err, "%s/audit: %s: write (the audit log refuses further entries)",
		                  log->home, what);
	}
	log->seg_size += len;
	log->unsynced++;
	if (sync && al_sys_fdatasync(log->segfd) < 0) {
		int errsv = errno;
		/* Not durable: take it back, as far as the kernel lets us. */
		if (al_sys_ftruncate(log->segfd, (off_t)off) == 0)
			log->seg_size = off;
		log->failed = 1;
		errno = errsv;
		return al_err_sys(err, "%s/audit: %s: fdatasync (the audit log refuses further entries)",
		                  log->home, what);
	}
	if (sync)
		log->unsynced = 0;
	return 0;
}

/* The members the writer sets itself: the chain's, then who wrote the
 * entry (FORMAT.md §2). A caller cannot set them, so no entry can claim
 * another user, host or process than the one that wrote it. */
static const char *const writer_members[] = {"seq", "ts", "prev", "event", "user",
                                             "uid", "host", "pid", "unit", NULL};

static int fields_check(const json_t *fields, struct al_err *err)
{
	const char *key;
	json_t *v;

	if (fields == NULL)
		return 0;
	if (!json_is_object(fields))
		return al_err_set(err, AL_EUSAGE, "audit entry fields must be an object");
	json_object_foreach((json_t *)fields, key, v) {
		(void)v;
		for (int i = 0; writer_members[i] != NULL; i++)
			if (strcmp(key, writer_members[i]) == 0)
				return al_err_set(err, AL_EUSAGE,
				                  "audit entry field '%s' is set by the writer", key);
	}
	return 0;
}

/* seq ts prev event, then the writer's identity stamp: user (null when
 * the uid has no name), uid, host, pid, and unit when systemd started us. */
static json_t *entry_head(const struct al_audit *log, const char *event, const char *ts)
{
	const char *user = al_user_name(), *unit = al_systemd_unit();
	json_t *head = json_pack("{s:I,s:s,s:s,s:s,s:o,s:I,s:s,s:I}", "seq", (json_int_t)log->seq + 1,
	                         "ts", ts, "prev", log->last_hex, "event", event, "user",
	                         user != NULL ? json_string(user) : json_null(), "uid",
	                         (json_int_t)getuid(), "host", al_host_name(), "pid",
	                         (json_int_t)getpid());

	if (head != NULL && unit != NULL)
		json_object_set_new(head, "unit", json_string(unit));
	return head;
}

/* Builds and writes one entry. lead_nl puts a "\n" before it in the same
 * write(): the torn-tail repair ends the fragment and adds its
 * log.torn_tail at once, so no crash can leave one without the other. */
int writer_append(struct al_audit *log, const char *event, const json_t *fields, int sync,
                  int lead_nl, struct al_err *err)
{
	char ts[AL_TS_LEN], *text;
	int64_t now = al_now_us();
	json_t *obj;
	size_t len;
	int ret;

	if (log->failed)
		return al_err_set(err, AL_EENV,
		                  "%s/audit: the audit log refuses entries after an earlier write failure",
		                  log->home);
	if (!al_audit_event_valid(event))
		return al_err_set(err, AL_EUSAGE, "'%s' is not a valid event name", event);
	if (fields_check(fields, err) < 0)
		return -1;
	if (now < log->last_ts && !lead_nl && strcmp(event, "clock.backwards") != 0) {
		char last[AL_TS_LEN];
		json_t *f;
		al_ts_format(log->last_ts, last);
		f = json_pack("{s:s}", "last_ts", last);
		ret = writer_append(log, "clock.backwards", f, 0, 0, err);
		json_decref(f);
		if (ret < 0)
			return -1;
		now = al_now_us(); /* after the clock.backwards entry's own time */
	}
	al_ts_format(now, ts);
	obj = entry_head(log, event, ts);
	if (obj == NULL || (fields != NULL && json_object_update(obj, (json_t *)fields) < 0)) {
		json_decref(obj);
		return al_err_set(err, AL_EUSAGE, "%s: cannot build the audit entry (invalid UTF-8?)",
		                  event);
	}
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (text == NULL)
		return al_err_set(err, AL_EUSAGE, "%s: cannot format the audit entry", event);
	len = strlen(text);
	if (len + 1 > AL_AUDIT_LINE_MAX) {
		free(text);
		return al_err_set(err, AL_EUSAGE, "%s: audit entry larger than %u bytes", event,
		                  AL_AUDIT_LINE_MAX);
	}
	text[len++] = '\n'; /* json_dumps left room: it wrote a NUL there */
	if (lead_nl) {
		char *with = malloc(len + 1);
		if (with == NULL) {
			free(text);
			return al_err_sys(err, "cannot allocate memory");
		}
		with[0] = '\n';
		memcpy(with + 1, text, len);
		ret = write_line(log, with, len + 1, sync, event, err);
		free(with);
	} else {
		ret = write_line(log, text, len, sync, event, err);
	}
	if (ret == 0) {
		al_sha256_buf(text, len, log->last_hash);
		al_hex(log->last_hash, AL_SHA256_LEN, log->last_hex);
		log->seq++;
		log->last_ts = now;
		log->last_is_seal = strcmp(event, "seal") == 0;
	}
	free(text);
	return ret;
}

/* ---- seals ---- */

/* The members of a /2 seal (FORMAT.md §5). */
static json_t *seal2_fields(const struct al_audit *log, const struct fss_state *st, uint64_t upto,
                            struct al_err *err)
{
	char next_hex[65], sig[SEAL_SIG_HEX];
	json_t *fields;

	if (seal2_make(st->key, st->epoch, upto, log->last_hex, log->cfg.seal_every, next_hex, sig) < 0) {
		al_err_sys(err, "audit: cannot make the seal's signature");
		return NULL;
	}
	fields = json_pack("{s:I,s:I,s:I,s:s,s:s}", "epoch", (json_int_t)st->epoch, "upto",
	                   (json_int_t)upto, "every", (json_int_t)log->cfg.seal_every, "next_pub",
	                   next_hex, "sig", sig);
	if (fields == NULL)
		al_err_sys(err, "cannot allocate memory");
	return fields;
}

int writer_seal(struct al_audit *log, struct al_err *err)
{
	struct fss_state st;
	json_t *fields;
	uint64_t upto = log->seq;
	int ret = -1;

	if (fss_load(log->dirfd, &st, 1, err) < 0)
		return -1;
	if (st.version == 2) {
		fields = seal2_fields(log, &st, upto, err);
	} else {
		char mac[65];
		seal_mac(st.key, st.epoch, upto, log->last_hex, mac);
		fields = json_pack("{s:I,s:I,s:s}", "epoch", (json_int_t)st.epoch, "upto",
		                   (json_int_t)upto, "mac", mac);
	}
	if (fields == NULL || writer_append(log, "seal", fields, 1, 0, err) < 0)
		goto out;
	al_kill_point("seal-evolve");
	/* The seal is durable; now the key moves on and the old one is gone.
	 * A crash in between is repaired by the next opener (repair_seal_key). */
	if (st.version == 2)
		fss2_evolve(st.key);
	else
		fss_evolve(st.key);
	st.epoch++;
	st.upto = upto;
	if (fss_store(log->dirfd, &st, err) < 0) {
		log->failed = 1;
		goto out;
	}
	log->seal_upto = upto;
	ret = 0;
out:
	json_decref(fields);
	fss_free(&st);
	return ret;
}

/* ---- rotation and compression ---- */

/* Compresses closed segment n into audit-n.jsonl.zst (temporary name,
 * fsync, rename), then removes the plain file. Best effort: on failure the
 * plain segment stays, which is as good for the evidence. */
static int compress_segment(struct al_audit *log, unsigned long n, struct al_err *err)
{
	char name[SEG_NAME_MAX], zname[SEG_NAME_MAX], tmp[SEG_NAME_MAX + 16];
	unsigned char *in = NULL, *out = NULL;
	size_t outcap = ZSTD_CStreamOutSize();
	ZSTD_CCtx *cctx = NULL;
	int ifd, ofd = -1, ret = -1, done = 0;

	seg_name(n, 0, name);
	seg_name(n, 1, zname);
	al_snprintf(tmp, sizeof tmp, ".%s.tmp", zname);
	ifd = openat(log->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (ifd < 0)
		return al_err_sys(err, "audit/%s", name);
	(void)unlinkat(log->dirfd, tmp, 0);
	ofd = al_openat(log->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	in = malloc(ZSTD_CStreamInSize());
	out = malloc(outcap);
	cctx = ZSTD_createCCtx();
	if (ofd < 0 || in == NULL || out == NULL || cctx == NULL) {
		al_err_sys(err, "audit/%s", zname);
		goto out;
	}
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 20);
	while (!done) {
		ssize_t r = read(ifd, in, ZSTD_CStreamInSize());
		ZSTD_inBuffer ib;
		if (r < 0) {
			al_err_sys(err, "audit/%s: read", name);
			goto out;
		}
		ib = (ZSTD_inBuffer){in, (size_t)r, 0};
		for (;;) {
			ZSTD_outBuffer ob = {out, outcap, 0};
			size_t left = ZSTD_compressStream2(cctx, &ob, &ib, r == 0 ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				al_err_set(err, AL_EENV, "audit/%s: zstd: %s", zname, ZSTD_getErrorName(left));
				goto out;
			}
			if (al_write_all(ofd, out, ob.pos) < 0) {
				al_err_sys(err, "audit/%s: write", zname);
				goto out;
			}
			if (r == 0 ? left == 0 : ib.pos == ib.size) {
				done = r == 0;
				break;
			}
		}
	}
	if (al_sys_fsync(ofd) < 0) {
		al_err_sys(err, "audit/%s: fsync", zname);
		goto out;
	}
	if (al_sys_renameat(log->dirfd, tmp, log->dirfd, zname) < 0) {
		al_err_sys(err, "audit/%s: rename", zname);
		goto out;
	}
	if (al_fsync_dir(log->dirfd, "audit", err) < 0)
		goto out;
	/* Both files exist for a moment; readers then take the plain one. */
	if (unlinkat(log->dirfd, name, 0) < 0) {
		al_err_sys(err, "audit/%s: unlink", name);
		goto out;
	}
	ret = al_fsync_dir(log->dirfd, "audit", err);
out:
	if (ret < 0 && ofd >= 0)
		(void)unlinkat(log->dirfd, tmp, 0);
	if (ofd >= 0)
		close(ofd);
	close(ifd);
	ZSTD_freeCCtx(cctx);
	free(in);
	free(out);
	return ret;
}

static int rotate(struct al_audit *log, struct al_err *err)
{
	char name[SEG_NAME_MAX];
	unsigned long n = log->segno + 1;
	int fd;

	seg_name(n, 0, name);
	fd = al_openat(log->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_APPEND, 0600);
	if (fd < 0) {
		log->failed = 1;
		return al_err_sys(err, "%s/audit/%s: cannot create the next segment", log->home, name);
	}
	if (al_fsync_dir(log->dirfd, "audit", err) < 0) {
		close(fd);
		log->failed = 1;
		return -1;
	}
	al_kill_point("segment-rotate");
	close(log->segfd);
	log->segfd = fd;
	log->segno = n;
	log->seg_size = 0;
	log->segment_line_due = 1;
	return 0;
}

static int segment_line(struct al_audit *log, struct al_err *err)
{
	json_t *f = json_pack("{s:I,s:s}", "segment", (json_int_t)log->segno, "log_id", log->log_id);
	int ret = writer_append(log, "log.segment", f, 1, 0, err);

	json_decref(f);
	if (ret == 0) {
		log->segment_line_due = 0;
		if (log->cfg.compress && log->segno > 1) {
			struct al_err cerr = {0};
			(void)compress_segment(log, log->segno - 1, &cerr);
		}
	}
	return ret;
}

/* Free space on the log's file system under the threshold (NIST AU-5(1)):
 * an alert entry, once per process, while there is still room to say so.
 * The threshold is min_free bytes or min_free_pct of the file system,
 * whichever is smaller. */
static int space_check(struct al_audit *log, struct al_err *err)
{
	struct statvfs sv;
	uint64_t free_bytes, size, threshold;
	json_t *f;
	int ret;

	log->since_space = 0;
	if (log->space_alerted || fstatvfs(log->segfd, &sv) < 0)
		return 0;
	free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	size = (uint64_t)sv.f_blocks * sv.f_frsize;
	threshold = log->cfg.min_free;
	if (log->cfg.min_free_pct > 0 && size / 100 * (uint64_t)log->cfg.min_free_pct < threshold)
		threshold = size / 100 * (uint64_t)log->cfg.min_free_pct;
	if (free_bytes >= threshold)
		return 0;
	log->space_alerted = 1;
	f = json_pack("{s:s,s:I,s:I,s:s}", "kind", "audit-space-low", "free_bytes",
	              (json_int_t)free_bytes, "threshold", (json_int_t)threshold, "message",
	              "the audit log's file system is nearly full: when it is full, airlock stops starting work");
	ret = writer_append(log, "alert", f, 1, 0, err);
	json_decref(f);
	if (ret == 0) {
		/* for the caller to pass on (the run summary, the metrics) */
		log->space_alert_seq = log->seq;
		log->space_free = free_bytes;
		log->space_threshold = threshold;
	}
	return ret;
}

/* ---- the API ---- */

int al_audit_take_space_alert(struct al_audit *log, uint64_t *free_bytes, uint64_t *threshold,
                              uint64_t *seq)
{
	if (log == NULL || log->space_alert_seq == 0)
		return 0;
	*free_bytes = log->space_free;
	*threshold = log->space_threshold;
	*seq = log->space_alert_seq;
	log->space_alert_seq = 0;
	return 1;
}

static int append_locked(struct al_audit *log, const char *event, const json_t *fields,
                         unsigned flags, struct al_err *err)
{
	if (refresh(log, err) < 0)
		return -1;
	if (log->segment_line_due && segment_line(log, err) < 0)
		return -1;
	if (log->seg_size >= log->cfg.segment_size && (rotate(log, err) < 0 || segment_line(log, err) < 0))
		return -1;
	if (++log->since_space >= 256 && space_check(log, err) < 0)
		return -1;
	if (writer_append(log, event, fields, (flags & AL_AUDIT_SYNC) != 0, 0, err) < 0)
		return -1;
	if (log->seq - log->seal_upto >= log->cfg.seal_every + 1)
		return writer_seal(log, err);
	return 0;
}

int al_audit_append(struct al_audit *log, const char *event, const json_t *fields,
                    unsigned flags, struct al_err *err)
{
	int ret;

	if (log->failed)
		return al_err_set(err, AL_EENV,
		                  "%s/audit: the audit log refuses entries after an earlier write failure",
		                  log->home);
	if (writer_lock(log, err) < 0)
		return -1;
	ret = append_locked(log, event, fields, flags, err);
	lock_release(log);
	return ret;
}

int al_audit_seal(struct al_audit *log, struct al_err *err)
{
	int ret = 0;

	if (log->failed)
		return al_err_set(err, AL_EENV,
		                  "%s/audit: the audit log refuses entries after an earlier write failure",
		                  log->home);
	if (writer_lock(log, err) < 0)
		return -1;
	if (refresh(log, err) < 0 || (log->segment_line_due && segment_line(log, err) < 0))
		ret = -1;
	else if (!log->last_is_seal)
		ret = writer_seal(log, err);
	lock_release(log);
	return ret;
}

/* Under the lock: the transition seal of a /1 log (FORMAT.md §5). */
static int upgrade_locked(struct al_audit *log, const char *pub_out, char pub_hex[65],
                          struct al_err *err)
{
	struct fss_state st = {0}, nx = {0};
	unsigned char pk[SEAL_PUB_LEN], *sk = NULL;
	char mac[65];
	json_t *fields = NULL;
	int ret = -1, pub_written = 0;

	if (refresh(log, err) < 0 || (log->segment_line_due && segment_line(log, err) < 0) ||
	    fss_load(log->dirfd, &st, 1, err) < 0)
		return -1;
	if (st.version != 1) {
		al_err_set(err, AL_EUSAGE, "%s/audit: the log is sealed with public keys already (%s)",
		           log->home, AL_AUDIT_FORMAT);
		goto out;
	}
	nx.version = 2;
	nx.epoch = st.epoch + 1;
	nx.upto = log->seq;
	nx.key = sodium_malloc(AL_SHA256_LEN);
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (nx.key == NULL || sk == NULL) {
		al_err_sys(err, "cannot allocate secure memory");
		goto out;
	}
	randombytes_buf(nx.key, AL_SHA256_LEN);
	if (seal2_keypair(nx.key, pk, sk) < 0) {
		al_err_set(err, AL_EENV, "cannot derive the seal key pair");
		goto out;
	}
	al_hex(pk, SEAL_PUB_LEN, pub_hex);
	/* The public key handed over, then the new key durable beside the old
	 * one, then the seal that binds it: a crash at any point leaves a log
	 * that goes on, with the old key or with the new one. */
	if (audit_key_out_write(pub_out, nx.key, 2, err) < 0)
		goto out;
	pub_written = 1;
	if (fss_store_as(log->dirfd, FSS_NEXT_NAME, &nx, err) < 0)
		goto out;
	seal_mac_next(st.key, st.epoch, log->seq, log->last_hex, pub_hex, mac);
	fields = json_pack("{s:I,s:I,s:I,s:s,s:s}", "epoch", (json_int_t)st.epoch, "upto",
	                   (json_int_t)log->seq, "every", (json_int_t)log->cfg.seal_every,
	                   "next_pub", pub_hex, "mac", mac);
	if (fields == NULL || writer_append(log, "seal", fields, 1, 0, err) < 0) {
		(void)fss_wipe(log->dirfd, FSS_NEXT_NAME, NULL);
		goto out;
	}
	pub_written = 0; /* the log names it now: it stays */
	al_kill_point("seal-transition");
	if (install_next(log, pub_hex, err) < 0) {
		log->failed = 1;
		goto out;
	}
	log->seal_upto = log->seq - 1;
	/* and at once a seal signed with it: a verifier holding only the
	 * public key roots the chain at the first seal that key verifies */
	ret = writer_seal(log, err);
out:
	if (pub_written)
		(void)unlink(pub_out);
	json_decref(fields);
	if (sk != NULL)
		sodium_free(sk);
	fss_free(&nx);
	fss_free(&st);
	return ret;
}

int al_audit_upgrade(const char *home, const char *pub_out, char pub_hex[65], struct al_err *err)
{
	struct al_audit *log = al_audit_open(home, err);
	int ret;

	if (log == NULL)
		return -1;
	if (writer_lock(log, err) < 0) {
		writer_free(log);
		return -1;
	}
	ret = upgrade_locked(log, pub_out, pub_hex, err);
	lock_release(log);
	if (al_audit_close(log, ret == 0 ? err : NULL) < 0)
		ret = -1;
	return ret;
}

int al_audit_sync(struct al_audit *log, struct al_err *err)
{
	if (log->unsynced == 0)
		return 0;
	if (al_sys_fdatasync(log->segfd) < 0) {
		log->failed = 1;
		return al_err_sys(err, "%s/audit: fdatasync (the audit log refuses further entries)",
		                  log->home);
	}
	log->unsynced = 0;
	return 0;
}

void writer_free(struct al_audit *log)
{
	if (log->segfd >= 0)
		close(log->segfd);
	if (log->lockfd >= 0)
		close(log->lockfd);
	if (log->dirfd >= 0)
		close(log->dirfd);
	free(log->home);
	free(log);
}

int al_audit_close(struct al_audit *log, struct al_err *err)
{
	int ret = 0;

	if (log == NULL)
		return 0;
	if (!log->failed)
		ret = al_audit_sync(log, err);
	writer_free(log);
	return ret;
}

struct al_audit *writer_alloc(const char *home, struct al_err *err)
{
	struct al_audit *log;

	/* the seal key lives in sodium_malloc memory */
	if (al_crypto_init(err) < 0)
		return NULL;
	log = calloc(1, sizeof *log);

	if (log == NULL || (log->home = strdup(home)) == NULL) {
		free(log);
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	log->segfd = log->lockfd = -1;
	memcpy(log->last_hex, zero_hex, sizeof zero_hex);
	log->dirfd = audit_dir_open(home, err);
	if (log->dirfd < 0 || audit_config_load(log->dirfd, &log->cfg, err) < 0)
		goto fail;
	log->lockfd = al_openat(log->dirfd, LOCK_NAME, O_RDWR | O_CREAT, 0600);
	if (log->lockfd < 0) {
		al_err_sys(err, "%s/audit/" LOCK_NAME, home);
		goto fail;
	}
	return log;
fail:
	writer_free(log);
	return NULL;
}

struct al_audit *al_audit_open(const char *home, struct al_err *err)
{
	struct al_audit *log = writer_alloc(home, err);
	int ret;

	if (log == NULL)
		return NULL;
	if (writer_lock(log, err) < 0)
		goto fail;
	ret = reload(log, err);
	if (ret == 0 && log->segment_line_due)
		ret = segment_line(log, err);
	if (ret == 0)
		ret = writer_append(log, "log.resume", NULL, 1, 0, err); /* its pid is stamped */
	if (ret == 0)
		ret = space_check(log, err);
	/* an opener's own lines (log.resume, a repair, an alert) are sealed
	 * like any others: the span after a seal never exceeds the interval */
	if (ret == 0 && log->seq - log->seal_upto >= log->cfg.seal_every + 1)
		ret = writer_seal(log, err);
	lock_release(log);
	if (ret < 0)
		goto fail;
	return log;
fail:
	writer_free(log);
	return NULL;
}
