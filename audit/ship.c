/* ship.c - every entry of the log to every sink (FORMAT.md §13): each sink
 * has a durable cursor (HOME/audit/cursors/NAME: the seq and line hash of
 * the last entry it has), and a ship sends it what follows, in order,
 * then moves the cursor. The log itself is the queue: while a sink is
 * down nothing is lost, and a duplicate after a failure is harmless
 * (restore keeps one copy of each seq).
 *
 * To a syslog collector, each entry is one RFC 5424 message whose MSG is
 * the entry's exact line; an entry over the sink's message size is sent
 * in parts that restore puts back together. To a directory (a replica),
 * the segments are copied append-only, whole lines, synced before the
 * cursor moves: DIR/<log_id>/audit-NNNNNN.jsonl, beside the anchors'
 * checkpoint-* directories, a log that airlock-verify reads as it is. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CURSOR_DIR "cursors"
#define CURSOR_FORMAT "airlock.cursor/1"
#define SHIP_TIMEOUT_MS 5000
#define SHIP_BATCH_BYTES (8u << 20) /* one connection, then the cursor moves */
#define SD_ID "airlock@32473"

/* ---- cursors ---- */

int al_ship_cursor_load(const char *home, const char *sink, struct al_ship_cursor *c,
                        struct al_err *err)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	json_t *v;
	const char *h, *id;

	memset(c, 0, sizeof *c);
	if (al_snprintf(path, sizeof path, "%s/" AUDIT_DIR "/" CURSOR_DIR "/%s", home, sink) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0; /* nothing delivered yet */
	if (al_read_file(AT_FDCWD, path, 4096, &text, &len, err) < 0)
		return -1;
	v = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	h = json_string_value(json_object_get(v, "hash"));
	id = json_string_value(json_object_get(v, "log_id"));
	if (!json_is_object(v) ||
	    strcmp(json_string_value(json_object_get(v, "format")) ? json_string_value(json_object_get(v, "format")) : "", CURSOR_FORMAT) != 0 ||
	    !json_is_integer(json_object_get(v, "seq")) || json_integer_value(json_object_get(v, "seq")) < 0 ||
	    h == NULL || strlen(h) != 64 || id == NULL || strlen(id) != AL_AUDIT_LOG_ID_HEX - 1) {
		json_decref(v);
		return al_err_set(err, AL_EVERIFY, "%s: not an " CURSOR_FORMAT " cursor", path);
	}
	c->seq = (uint64_t)json_integer_value(json_object_get(v, "seq"));
	memcpy(c->hash, h, 65);
	memcpy(c->log_id, id, AL_AUDIT_LOG_ID_HEX);
	c->delivered_us = json_integer_value(json_object_get(v, "delivered_us"));
	json_decref(v);
	return 0;
}

static int cursor_store(const char *home, const char *sink, const struct al_ship_cursor *c,
                        struct al_err *err)
{
	char dir[PATH_MAX], *text;
	int dfd, ret;

	if (al_snprintf(dir, sizeof dir, "%s/" AUDIT_DIR "/" CURSOR_DIR, home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (al_mkdirs(dir, 0700, err) < 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return al_err_sys(err, "%s", dir);
	if (asprintf(&text,
	             "{\"format\":\"" CURSOR_FORMAT "\",\"sink\":\"%s\",\"log_id\":\"%s\","
	             "\"seq\":%llu,\"hash\":\"%s\",\"delivered_us\":%lld}\n",
	             sink, c->log_id, (unsigned long long)c->seq, c->hash,
	             (long long)c->delivered_us) < 0) {
		close(dfd);
		return al_err_sys(err, "cannot allocate memory");
	}
	ret = al_write_atomic(dfd, sink, text, strlen(text), 0600, NULL, err);
	free(text);
	close(dfd);
	return ret;
}

int al_ship_cursor_remove(const char *home, const char *sink)
{
	char path[PATH_MAX];

	if (al_snprintf(path, sizeof path, "%s/" AUDIT_DIR "/" CURSOR_DIR "/%s", home, sink) < 0)
		return -1;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* ---- the entries after a seq ---- */

/* One line of the log as the reader hands it over: an entry (seq > 0), or
 * the fragment a torn tail left (seq 0: it goes where it is, after the
 * entry before it). */
struct entry {
	unsigned long segno;
	uint64_t seq;      /* 0: a fragment */
	const char *text;
	size_t len;
	const struct al_line *line; /* the reader's parse of it; NULL for a fragment */
};

struct reader {
	uint64_t after, last_seq;
	unsigned long segno;
	char *line;
	size_t len, cap;
	int (*each)(void *ctx, const struct entry *e, struct al_err *err);
	void *ctx;
	int stop;
};

static int reader_line(struct reader *r, struct al_err *err)
{
	struct al_line l;
	struct al_err perr = {0};
	struct entry e = {r->segno, 0, r->line, r->len, NULL};

	if (al_line_parse(r->line, r->len, &l, &perr) == 0) {
		e.seq = l.seq;
		e.line = &l;
	}
	if (e.seq != 0)
		r->last_seq = e.seq;
	if ((e.seq != 0 && e.seq <= r->after) || (e.seq == 0 && r->last_seq <= r->after))
		return 0;
	switch (r->each(r->ctx, &e, err)) {
	case 0: return 0;
	case -2: r->stop = 1; return 0; /* each() has what it wanted */
	default: return -1;
	}
}

static int reader_bytes(struct reader *r, const char *buf, size_t got, struct al_err *err)
{
	for (size_t i = 0; i < got && !r->stop; i++) {
		if (buf[i] != '\n') {
			if (r->len + 1 >= AL_AUDIT_LINE_MAX)
				return al_err_set(err, AL_EVERIFY, "a line of the log is over %u bytes",
				                  AL_AUDIT_LINE_MAX);
			if (r->len + 1 >= r->cap) {
				size_t cap = r->cap ? r->cap * 2 : 4096;
				char *l = realloc(r->line, cap);
				if (l == NULL)
					return al_err_sys(err, "cannot allocate memory");
				r->line = l;
				r->cap = cap;
			}
			r->line[r->len++] = buf[i];
			continue;
		}
		r->line[r->len] = '\0';
		if (reader_line(r, err) < 0)
			return -1;
		r->len = 0;
	}
	return 0;
}

/* The log's id: its first segment's. */
static int log_first_id(const char *home, char id[AL_AUDIT_LOG_ID_HEX], struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, dfd = audit_dir_open(home, err), ret = -1;
	long count;

	if (dfd < 0)
		return -1;
	count = seg_list(dfd, "audit", &nums, &zsts, err);
	if (count == 0)
		al_err_set(err, AL_EUSAGE, "%s/audit: no log here", home);
	else if (count > 0)
		ret = seg_log_id(dfd, nums[0], zsts[0], id, NULL, err);
	free(nums);
	free(zsts);
	close(dfd);
	return ret;
}

/* The seq of the log's last whole entry (its last segment's last line). */
static uint64_t log_last_seq(const char *home)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, dfd;
	struct al_err err = {0};
	struct seg_tail t = {0};
	struct al_line l;
	uint64_t seq = 0;
	long count;

	dfd = audit_dir_open(home, &err);
	if (dfd < 0)
		return 0;
	count = seg_list(dfd, "audit", &nums, &zsts, &err);
	if (count > 0 && !zsts[count - 1] && seg_tail_of(dfd, nums[count - 1], &t, &err) == 0 &&
	    t.line != NULL && al_line_parse(t.line, t.line_len, &l, &err) == 0)
		seq = l.seq;
	seg_tail_free(&t);
	free(nums);
	free(zsts);
	close(dfd);
	return seq;
}

/* Calls each() with every line of HOME's log after entry `after`, in
 * order, from the segment that holds it on (the earlier ones are not
 * read). A line still being written (no "\n" yet) is not handed over.
 * *log_id: the log's. */
static int read_after(const char *home, uint64_t after, char log_id[AL_AUDIT_LOG_ID_HEX],
                      int (*each)(void *ctx, const struct entry *e, struct al_err *err),
                      void *ctx, uint64_t *last_seq, struct al_err *err)
{
	struct reader r = {.after = after, .each = each, .ctx = ctx, .line = malloc(4096), .cap = 4096};
	unsigned long *nums = NULL;
	int *zsts = NULL, dfd, ret = -1;
	long count, start = 0;

	if (r.line == NULL)
		return al_err_sys(err, "cannot allocate memory");
	dfd = audit_dir_open(home, err);
	if (dfd < 0) {
		free(r.line);
		return -1;
	}
	count = seg_list(dfd, "audit", &nums, &zsts, err);
	if (count <= 0) {
		if (count == 0)
			al_err_set(err, AL_EUSAGE, "%s/audit: no log here", home);
		goto out;
	}
	if (seg_log_id(dfd, nums[0], zsts[0], log_id, NULL, err) < 0)
		goto out;
	/* the last segment whose first entry is not after the one we need */
	for (long i = count - 1; i > 0; i--) {
		char id[AL_AUDIT_LOG_ID_HEX];
		uint64_t first = 0;
		if (seg_log_id(dfd, nums[i], zsts[i], id, &first, err) < 0)
			goto out;
		if (first <= after + 1) {
			start = i;
			r.last_seq = first - 1;
			break;
		}
	}
	for (long i = start; i < count && !r.stop; i++) {
		char name[SEG_NAME_MAX], buf[65536];
		struct al_stream *st;
		size_t got;
		int fd;
		seg_name(nums[i], zsts[i], name);
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			al_err_sys(err, "%s/audit/%s", home, name);
			goto out;
		}
		st = al_stream_fd(fd, zsts[i], name, err);
		if (st == NULL)
			goto out;
		r.segno = nums[i];
		r.len = 0;
		for (;;) {
			if (st->read(st, buf, sizeof buf, &got, err) < 0 ||
			    reader_bytes(&r, buf, got, err) < 0) {
				st->close(st);
				goto out;
			}
			if (got == 0 || r.stop)
				break;
		}
		st->close(st);
	}
	*last_seq = r.last_seq;
	ret = 0;
out:
	free(r.line);
	free(nums);
	free(zsts);
	close(dfd);
	return ret;
}

/* ---- syslog ---- */

struct ship {
	const char *home;
	const struct al_sink *sink;
	char log_id[AL_AUDIT_LOG_ID_HEX];
	char host[256];
	int fd;             /* the replica's current segment */
	struct sink_conn conn; /* the collector's connection (conn.fd -1: none) */
	unsigned long segno;
	uint64_t replica_last; /* dir: the last seq the replica holds */
	size_t max_msg;     /* syslog: the largest message we send */
	char *out;          /* what goes out next (syslog: frames) */
	size_t out_len, out_cap;
	uint64_t batch_bytes;
	struct al_ship_cursor cur; /* the last entry handed over in this batch */
	uint64_t sent, first;      /* entries of this ship; the first one's seq */
	int64_t deadline_us;
	int64_t pending_us; /* the ts of the first entry handed over since the cursor */
	int dirty;          /* dir: appended since the last sync */
};

static int out_add(struct ship *s, const char *p, size_t n, struct al_err *err)
{
	if (s->out_len + n > s->out_cap) {
		size_t cap = s->out_cap ? s->out_cap : 65536;
		char *v;
		while (cap < s->out_len + n)
			cap *= 2;
		v = realloc(s->out, cap);
		if (v == NULL)
			return al_err_sys(err, "cannot allocate memory");
		s->out = v;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
	return 0;
}

/* MSGID: the event, 1 to 32 printable characters ("-" when none). */
static void msgid_of(const struct entry *e, char out[33])
{
	size_t n = 0;

	if (e->line != NULL)
		for (const char *p = e->line->event; *p != '\0' && n < 32; p++)
			out[n++] = (*p > 32 && *p < 127) ? *p : '_';
	if (n == 0)
		out[n++] = '-';
	out[n] = '\0';
}

/* One RFC 5424 message (with its RFC 6587 octet count, over TCP) for an
 * entry: "<110>1 TS HOST airlock PID EVENT [airlock@32473 log_id=".."
 * seq=".."] LINE" (facility 13, log audit; severity 6, informational).
 * An entry that does not fit the sink's message size goes in parts whose
 * MSG says what they are, so that a file of MSGs alone can be put back
 * together: "#airlock-part seq=N part=I end=0|1 BYTES", cut where neither
 * side is a space (a collector may trim one). A fragment a torn tail left
 * (not an entry) is "#airlock-fragment after=SEQ BYTES". */
static int syslog_frames(struct ship *s, const struct entry *e, struct al_err *err)
{
	char head[600], msgid[33], ts[AL_TS_LEN], tag[96] = "";
	size_t off = 0, part = 1, room, t = 0;
	int h, whole;

	msgid_of(e, msgid);
	if (e->line != NULL)
		snprintf(ts, sizeof ts, "%s", e->line->ts);
	else
		al_ts_format(al_now_us(), ts);
	h = e->seq != 0 ? snprintf(head, sizeof head,
	                           "<110>1 %s %s airlock %ld %s [" SD_ID " log_id=\"%s\" seq=\"%llu\"] ",
	                           ts, s->host, (long)getpid(), msgid, s->log_id,
	                           (unsigned long long)e->seq)
	                : snprintf(head, sizeof head,
	                           "<110>1 %s %s airlock %ld - [" SD_ID " log_id=\"%s\" fragment_after=\"%llu\"] ",
	                           ts, s->host, (long)getpid(), s->log_id,
	                           (unsigned long long)s->cur.seq);
	whole = e->seq != 0 && (size_t)h + e->len <= s->max_msg;
	room = s->max_msg > (size_t)h + 96 ? s->max_msg - (size_t)h - 96 : 64;
	do {
		size_t n = e->len - off, k;
		char len[24];
		if (!whole) {
			if (n > room) {
				n = room;
				while (n > 1 && (e->text[off + n - 1] == ' ' || e->text[off + n] == ' '))
					n--;
			}
			if (e->seq != 0)
				t = (size_t)snprintf(tag, sizeof tag, "#airlock-part seq=%llu part=%zu end=%d ",
				                     (unsigned long long)e->seq, part, off + n >= e->len);
			else
				t = (size_t)snprintf(tag, sizeof tag, "#airlock-fragment after=%llu ",
				                     (unsigned long long)s->cur.seq);
			if (e->seq == 0)
				n = e->len; /* a fragment is small: the writer's line bound */
		}
		k = (size_t)snprintf(len, sizeof len, "%zu ", (size_t)h + t + n);
		if ((!s->sink->udp && out_add(s, len, k, err) < 0) || out_add(s, head, (size_t)h, err) < 0 ||
		    out_add(s, tag, t, err) < 0 || out_add(s, e->text + off, n, err) < 0)
			return -1;
		if (s->sink->udp) { /* one datagram a message */
			if (conn_send(&s->conn, s->out, s->out_len, s->deadline_us, err) < 0)
				return -1;
			s->out_len = 0;
		}
		off += n;
		part++;
	} while (off < e->len);
	return 0;
}

/* The end of a TCP or TLS batch: everything sent, then the orderly close
 * whose answer lets the cursor move (conn.c). */
static int syslog_finish(struct ship *s, struct al_err *err)
{
	int r = 0;

	if (!s->sink->udp && s->out_len > 0)
		r = conn_send(&s->conn, s->out, s->out_len, s->deadline_us, err);
	s->out_len = 0;
	if (r < 0) {
		conn_close(&s->conn);
		return -1;
	}
	return conn_finish(&s->conn, err);
}

/* ---- a replica directory ---- */

/* DIR/<log_id>/, made if need be. */
static int replica_dir(struct ship *s, struct al_err *err)
{
	char path[PATH_MAX];

	if (al_snprintf(path, sizeof path, "%s/%s", s->sink->target, s->log_id) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", s->sink->target);
	return al_mkdirs(path, 0700, err);
}

static int replica_open_dir(struct ship *s, struct al_err *err)
{
	char path[PATH_MAX];
	int fd;

	al_snprintf(path, sizeof path, "%s/%s", s->sink->target, s->log_id);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "%s", path);
	return fd;
}

/* What the replica holds already: the seq of its last whole line (a
 * fragment after it, left by a copy cut short, is cut off). Whatever the
 * cursor says, nothing is appended twice. */
static int replica_scan(struct ship *s, struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, dfd;
	long count;
	int ret = 0;

	if (replica_dir(s, err) < 0 || (dfd = replica_open_dir(s, err)) < 0)
		return -1;
	count = seg_list(dfd, s->sink->target, &nums, &zsts, err);
	if (count < 0)
		ret = -1;
	for (long i = count - 1; ret == 0 && i >= 0; i--) {
		struct seg_tail t = {0};
		struct al_line l;
		struct al_err perr = {0};
		char name[SEG_NAME_MAX];
		int fd;
		seg_name(nums[i], 0, name);
		fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || seg_read_tail(fd, name, &t, err) < 0) {
			ret = fd < 0 ? al_err_sys(err, "%s/%s/%s", s->sink->target, s->log_id, name) : -1;
			if (fd >= 0)
				close(fd);
			break;
		}
		if (t.frag != NULL && ftruncate(fd, (off_t)(t.size - t.frag_len)) < 0)
			ret = al_err_sys(err, "%s/%s/%s: cannot cut off a line copied in part", s->sink->target,
			                 s->log_id, name);
		if (ret == 0 && t.line != NULL && al_line_parse(t.line, t.line_len, &l, &perr) == 0) {
			s->replica_last = l.seq;
			seg_tail_free(&t);
			close(fd);
			break;
		}
		seg_tail_free(&t);
		close(fd);
	}
	free(nums);
	free(zsts);
	close(dfd);
	return ret;
}

static int replica_sync(struct ship *s, struct al_err *err)
{
	if (s->fd >= 0 && s->dirty && fdatasync(s->fd) < 0)
		return al_err_sys(err, "%s/%s: fdatasync", s->sink->target, s->log_id);
	s->dirty = 0;
	return 0;
}

static int replica_append(struct ship *s, const struct entry *e, struct al_err *err)
{
	if ((e->seq != 0 && e->seq <= s->replica_last) || (e->seq == 0 && s->cur.seq <= s->replica_last))
		return 0; /* there already */
	if (s->fd < 0 || s->segno != e->segno) {
		char name[SEG_NAME_MAX];
		int dfd, created;
		if (replica_sync(s, err) < 0)
			return -1;
		if (s->fd >= 0)
			close(s->fd);
		seg_name(e->segno, 0, name);
		if ((dfd = replica_open_dir(s, err)) < 0)
			return -1;
		created = faccessat(dfd, name, F_OK, 0) < 0;
		s->fd = al_openat(dfd, name, O_WRONLY | O_APPEND | O_CREAT, 0600);
		if (s->fd < 0 || (created && fsync(dfd) < 0)) {
			al_err_sys(err, "%s/%s/%s", s->sink->target, s->log_id, name);
			close(dfd);
			return -1;
		}
		close(dfd);
		s->segno = e->segno;
	}
	if (al_write_all(s->fd, e->text, e->len) < 0 || al_write_all(s->fd, "\n", 1) < 0)
		return al_err_sys(err, "%s/%s: write", s->sink->target, s->log_id);
	s->dirty = 1;
	return 0;
}

/* ---- shipping ---- */

static int batch_end(struct ship *s, struct al_err *err)
{
	int r;

	if (s->sink->kind == AL_SINK_DIR)
		r = replica_sync(s, err);
	else
		r = s->conn.fd >= 0 ? syslog_finish(s, err) : 0;
	if (r < 0)
		return -1;
	s->batch_bytes = 0;
	s->pending_us = 0;
	if (s->cur.seq == 0)
		return 0;
	s->cur.delivered_us = al_now_us();
	return cursor_store(s->home, s->sink->name, &s->cur, err);
}

static int ship_each(void *ctx, const struct entry *e, struct al_err *err)
{
	struct ship *s = ctx;
	unsigned char h[AL_SHA256_LEN];

	if (s->pending_us == 0 && e->line != NULL)
		s->pending_us = e->line->ts_us;
	if (s->sink->kind == AL_SINK_DIR) {
		if (replica_append(s, e, err) < 0)
			return -1;
	} else {
		if (s->conn.fd < 0 && conn_open(&s->conn, s->sink, err) < 0)
			return -1;
		if (syslog_frames(s, e, err) < 0)
			return -1;
		if (!s->sink->udp && s->out_len >= 65536) {
			if (conn_send(&s->conn, s->out, s->out_len, s->deadline_us, err) < 0)
				return -1;
			s->out_len = 0;
		}
	}
	if (e->seq != 0) {
		line_hash(e->text, e->len, h);
		al_hex(h, sizeof h, s->cur.hash);
		s->cur.seq = e->seq;
		if (s->first == 0)
			s->first = e->seq;
		s->sent++;
	}
	s->batch_bytes += e->len + 1;
	if (s->batch_bytes >= SHIP_BATCH_BYTES && batch_end(s, err) < 0)
		return -1;
	if (s->deadline_us > 0 && al_now_us() > s->deadline_us)
		return al_err_set(err, AL_EENV, "%s: out of time (%llu entries sent, the rest wait)",
		                  s->sink->target, (unsigned long long)s->sent);
	return 0;
}

int al_ship(const char *home, const struct al_sink *sink, int64_t deadline_us,
            struct al_ship_result *res, struct al_err *err)
{
	struct ship s = {.home = home, .sink = sink, .fd = -1, .deadline_us = deadline_us};

	s.conn.fd = -1;
	int ret;

	memset(res, 0, sizeof *res);
	s.max_msg = sink->max_message > 0 ? sink->max_message
	            : sink->udp       ? AL_SINK_MAX_DATAGRAM
	                              : AL_SINK_MAX_MESSAGE;
	syslog_host(s.host);
	if (al_ship_cursor_load(home, sink->name, &s.cur, err) < 0)
		return -1;
	/* a cursor of another log (the home's log made anew) starts over */
	if (log_first_id(home, s.log_id, err) < 0)
		return -1;
	if (s.cur.log_id[0] != '\0' && strcmp(s.cur.log_id, s.log_id) != 0)
		memset(&s.cur, 0, sizeof s.cur);
	memcpy(s.cur.log_id, s.log_id, sizeof s.log_id);
	res->from = s.cur.seq;
	if (sink->kind == AL_SINK_DIR && replica_scan(&s, err) < 0)
		return -1;
	ret = read_after(home, s.cur.seq, s.log_id, ship_each, &s, &res->last_seq, err);
	if (ret == 0)
		ret = batch_end(&s, err);
	conn_close(&s.conn);
	if (s.fd >= 0)
		close(s.fd);
	free(s.out);
	/* what the sink has now, whatever happened */
	{
		struct al_ship_cursor now;
		struct al_err lerr = {0};
		if (al_ship_cursor_load(home, sink->name, &now, &lerr) == 0)
			res->delivered = now.seq;
	}
	if (res->last_seq == 0 || ret < 0)
		res->last_seq = log_last_seq(home);
	res->sent = s.sent;
	res->first = s.first;
	res->oldest_pending_us = s.pending_us;
	return ret;
}

/* ---- how far behind each sink is ---- */

struct first_ts {
	int64_t ts_us;
};

static int first_ts_each(void *ctx, const struct entry *e, struct al_err *err)
{
	struct first_ts *f = ctx;

	(void)err;
	if (e->line != NULL) {
		f->ts_us = e->line->ts_us;
		return -2; /* enough: stop reading */
	}
	return 0;
}

int al_ship_lag(const char *home, const char *sink, struct al_ship_lag *lag, struct al_err *err)
{
	struct al_ship_cursor c;
	char id[AL_AUDIT_LOG_ID_HEX];
	struct first_ts f = {0};
	struct al_err rerr = {0};
	uint64_t last = 0;

	memset(lag, 0, sizeof *lag);
	if (al_ship_cursor_load(home, sink, &c, err) < 0 || log_first_id(home, id, err) < 0)
		return -1;
	if (c.log_id[0] != '\0' && strcmp(c.log_id, id) != 0)
		memset(&c, 0, sizeof c); /* another log's: it has none of this one */
	lag->delivered = c.seq;
	lag->delivered_us = c.delivered_us;
	lag->last_seq = log_last_seq(home);
	if (lag->last_seq <= c.seq)
		return 0;
	/* the oldest entry it lacks: the one after its cursor */
	if (read_after(home, c.seq, id, first_ts_each, &f, &last, &rerr) < 0 && f.ts_us == 0)
		return al_err_set(err, rerr.code ? rerr.code : AL_EENV, "%s", rerr.msg);
	lag->oldest_pending_us = f.ts_us;
	return 0;
}

json_t *al_ship_lags_json(const char *home)
{
	struct al_sinks sinks;
	struct al_err err = {0};
	json_t *out = json_array();

	if (out == NULL || al_sinks_load(home, &sinks, &err) < 0)
		return out;
	for (size_t i = 0; i < sinks.n; i++) {
		struct al_ship_lag lag;
		char a[AL_TS_LEN], b[AL_TS_LEN];
		if (al_ship_lag(home, sinks.s[i].name, &lag, &err) < 0)
			continue;
		al_ts_format(lag.oldest_pending_us, a);
		al_ts_format(lag.delivered_us, b);
		json_array_append_new(
		    out, json_pack("{s:s,s:s,s:s,s:I,s:I,s:o,s:o}", "sink", sinks.s[i].name, "kind",
		                   al_sink_kind_name(&sinks.s[i]), "target", sinks.s[i].target,
		                   "delivered", (json_int_t)lag.delivered, "behind",
		                   (json_int_t)(lag.last_seq > lag.delivered ? lag.last_seq - lag.delivered
		                                                             : 0),
		                   "oldest_undelivered", lag.oldest_pending_us ? json_string(a) : json_null(),
		                   "delivered_at", lag.delivered_us ? json_string(b) : json_null()));
	}
	al_sinks_free(&sinks);
	return out;
}
