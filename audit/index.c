/* index.c - audit/index.db: a sqlite cache of the log for queries
 * (FORMAT.md §8), brought up to date incrementally; `audit query` and the
 * read-only `audit sql`. Never read by the verifier. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#define INDEX_NAME "index.db"
#define INDEX_VERSION "1"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS entries(seq INTEGER PRIMARY KEY, ts TEXT NOT NULL,"
	" event TEXT NOT NULL, run TEXT, step TEXT, attempt INTEGER, exit INTEGER, json TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS files(seq INTEGER NOT NULL, path TEXT NOT NULL, sha256 TEXT,"
	" size INTEGER);"
	"CREATE TABLE IF NOT EXISTS runs(run TEXT PRIMARY KEY, pipeline TEXT, version INTEGER,"
	" date TEXT, status TEXT, start_ts TEXT, end_ts TEXT);"
	"CREATE TABLE IF NOT EXISTS segments(segment INTEGER PRIMARY KEY, first_seq INTEGER);"
	"CREATE INDEX IF NOT EXISTS entries_event ON entries(event);"
	"CREATE INDEX IF NOT EXISTS entries_run ON entries(run, step);"
	"CREATE INDEX IF NOT EXISTS entries_ts ON entries(ts);"
	"CREATE INDEX IF NOT EXISTS files_path ON files(path);"
	"CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);";

static const char drop[] =
	"DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS files;"
	"DROP TABLE IF EXISTS runs; DROP TABLE IF EXISTS segments;";

struct indexer {
	sqlite3 *db;
	sqlite3_stmt *ins_entry, *ins_file, *ins_run, *end_run, *ins_seg;
	const char *home;
	unsigned long segno;  /* segment being read */
	uint64_t offset;      /* of the next line in it */
	uint64_t last_seq;
	char last_hex[65];
	char log_id[AL_AUDIT_LOG_ID_HEX];
	uint64_t added;
};

static int db_fail(sqlite3 *db, const char *what, struct al_err *err)
{
	return al_err_set(err, AL_EENV, "audit/" INDEX_NAME ": %s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, struct al_err *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "sql", err);
	return 0;
}

static int index_path(const char *home, char out[PATH_MAX], struct al_err *err)
{
	if (al_snprintf(out, PATH_MAX, "%s/" AUDIT_DIR "/" INDEX_NAME, home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	return 0;
}

static const char *meta_get(sqlite3 *db, const char *key, char *buf, size_t n)
{
	sqlite3_stmt *st;
	const char *ret = NULL;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
		snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
		ret = buf;
	}
	sqlite3_finalize(st);
	return ret;
}

static int meta_set(sqlite3 *db, const char *key, const char *value, struct al_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", -1, &st,
	                       NULL) != SQLITE_OK)
		return db_fail(db, "meta", err);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "meta", err);
}

static void bind_str(sqlite3_stmt *st, int i, json_t *v)
{
	if (json_is_string(v))
		sqlite3_bind_text(st, i, json_string_value(v), -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_int(sqlite3_stmt *st, int i, json_t *v)
{
	if (json_is_integer(v))
		sqlite3_bind_int64(st, i, json_integer_value(v));
	else
		sqlite3_bind_null(st, i);
}

static int step_reset(sqlite3 *db, sqlite3_stmt *st, struct al_err *err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "insert", err);
}

static int add_file(struct indexer *ix, json_int_t seq, json_t *obj, struct al_err *err)
{
	json_t *path = json_object_get(obj, "path");

	if (!json_is_string(path))
		return 0;
	sqlite3_bind_int64(ix->ins_file, 1, seq);
	bind_str(ix->ins_file, 2, path);
	bind_str(ix->ins_file, 3, json_object_get(obj, "sha256"));
	bind_int(ix->ins_file, 4, json_object_get(obj, "size"));
	return step_reset(ix->db, ix->ins_file, err);
}

/* One complete, valid line into the tables. */
static int add_entry(struct indexer *ix, const char *line, size_t len, const struct al_line *l,
                     struct al_err *err)
{
	json_t *v = json_loadb(line, len, 0, NULL), *files, *f;
	json_int_t seq = (json_int_t)l->seq;
	size_t i;
	int ret = -1;

	if (v == NULL)
		return 0; /* the fast parser accepted what jansson will not: leave it out */
	sqlite3_bind_int64(ix->ins_entry, 1, seq);
	sqlite3_bind_text(ix->ins_entry, 2, l->ts, -1, SQLITE_STATIC);
	sqlite3_bind_text(ix->ins_entry, 3, l->event, -1, SQLITE_STATIC);
	bind_str(ix->ins_entry, 4, json_object_get(v, "run"));
	bind_str(ix->ins_entry, 5, json_object_get(v, "step"));
	bind_int(ix->ins_entry, 6, json_object_get(v, "attempt"));
	bind_int(ix->ins_entry, 7, json_object_get(v, "exit"));
	sqlite3_bind_text(ix->ins_entry, 8, line, (int)len, SQLITE_STATIC);
	if (step_reset(ix->db, ix->ins_entry, err) < 0 || add_file(ix, seq, v, err) < 0)
		goto out;
	files = json_object_get(v, "files");
	json_array_foreach(files, i, f)
		if (add_file(ix, seq, f, err) < 0)
			goto out;
	if (strcmp(l->event, "run.start") == 0) {
		bind_str(ix->ins_run, 1, json_object_get(v, "run"));
		bind_str(ix->ins_run, 2, json_object_get(v, "pipeline"));
		bind_int(ix->ins_run, 3, json_object_get(v, "version"));
		bind_str(ix->ins_run, 4, json_object_get(v, "date"));
		sqlite3_bind_text(ix->ins_run, 5, l->ts, -1, SQLITE_STATIC);
		if (json_is_string(json_object_get(v, "run")) && step_reset(ix->db, ix->ins_run, err) < 0)
			goto out;
		sqlite3_reset(ix->ins_run);
		sqlite3_clear_bindings(ix->ins_run);
	} else if (strcmp(l->event, "run.end") == 0) {
		bind_str(ix->end_run, 1, json_object_get(v, "status"));
		sqlite3_bind_text(ix->end_run, 2, l->ts, -1, SQLITE_STATIC);
		bind_str(ix->end_run, 3, json_object_get(v, "run"));
		if (step_reset(ix->db, ix->end_run, err) < 0)
			goto out;
	} else if (strcmp(l->event, "log.open") == 0 || strcmp(l->event, "log.segment") == 0) {
		sqlite3_bind_int64(ix->ins_seg, 1, (sqlite3_int64)ix->segno);
		sqlite3_bind_int64(ix->ins_seg, 2, seq);
		if (step_reset(ix->db, ix->ins_seg, err) < 0)
			goto out;
	}
	ix->added++;
	ret = 0;
out:
	json_decref(v);
	return ret;
}

/* Reads segment ix->segno from ix->offset to its last complete line.
 * Returns 0, 1 when the log does not continue the index (rebuild), -1. */
static int index_segment(struct indexer *ix, int dirfd, int zst, struct al_err *err)
{
	char name[SEG_NAME_MAX];
	struct al_stream *src;
	struct line_reader r;
	const char *line;
	size_t len;
	int fd, nl = 0, got, ret = -1;

	seg_name(ix->segno, zst, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "audit/%s", name);
	src = al_stream_fd(fd, zst, name, err);
	if (src == NULL)
		return -1;
	line_reader_init(&r, src);
	if (!zst && ix->offset > 0 && lseek(fd, (off_t)ix->offset, SEEK_SET) >= 0)
		r.next_offset = ix->offset;
	while ((got = line_next(&r, &line, &len, &nl, err)) == 1) {
		struct al_line l;
		unsigned char h[AL_SHA256_LEN];
		uint64_t start = r.next_offset - len - 1;
		if (!nl)
			break; /* a torn tail: not yet an entry */
		if (start < ix->offset)
			continue; /* a compressed segment is read from its start */
		if (al_line_parse(line, len, &l, NULL) == 0) {
			/* a torn line is not an entry; log.torn_tail's prev names it */
			int torn = strcmp(l.event, "log.torn_tail") == 0;
			if (ix->last_seq != 0 && !torn &&
			    (l.seq != ix->last_seq + 1 || strcmp(l.prev, ix->last_hex) != 0)) {
				ret = 1;
				goto out;
			}
			if (add_entry(ix, line, len, &l, err) < 0)
				goto out;
			ix->last_seq = l.seq;
		}
		line_hash(line, len, h);
		al_hex(h, sizeof h, ix->last_hex);
		ix->offset = r.next_offset;
	}
	ret = got < 0 ? -1 : 0;
out:
	line_reader_free(&r);
	src->close(src);
	return ret;
}

static int prepare(struct indexer *ix, struct al_err *err)
{
	if (sqlite3_prepare_v2(ix->db,
	                       "INSERT OR REPLACE INTO entries(seq, ts, event, run, step, attempt, exit, json)"
	                       " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	                       -1, &ix->ins_entry, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db, "INSERT INTO files(seq, path, sha256, size) VALUES(?, ?, ?, ?)",
	                       -1, &ix->ins_file, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db,
	                       "INSERT OR REPLACE INTO runs(run, pipeline, version, date, start_ts)"
	                       " VALUES(?, ?, ?, ?, ?)",
	                       -1, &ix->ins_run, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db, "UPDATE runs SET status = ?, end_ts = ? WHERE run = ?", -1,
	                       &ix->end_run, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ix->db,
	                       "INSERT OR REPLACE INTO segments(segment, first_seq) VALUES(?, ?)", -1,
	                       &ix->ins_seg, NULL) != SQLITE_OK)
		return db_fail(ix->db, "prepare", err);
	return 0;
}

static void finalize(struct indexer *ix)
{
	sqlite3_finalize(ix->ins_entry);
	sqlite3_finalize(ix->ins_file);
	sqlite3_finalize(ix->ins_run);
	sqlite3_finalize(ix->end_run);
	sqlite3_finalize(ix->ins_seg);
	ix->ins_entry = ix->ins_file = ix->ins_run = ix->end_run = ix->ins_seg = NULL;
}

/* Reads from where the index stopped to the end of the log, in one
 * transaction. Returns 1 when the index must be rebuilt. */
static int catch_up(struct indexer *ix, int dirfd, struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, ret = -1;
	unsigned long start_segno = ix->segno;
	uint64_t start_offset = ix->offset;
	char buf[64];
	long count;

	count = seg_list(dirfd, "audit", &nums, &zsts, err);
	if (count < 0)
		return -1;
	if (exec(ix->db, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (prepare(ix, err) < 0)
		goto rollback;
	for (long i = 0; i < count; i++) {
		int r;
		if (nums[i] < ix->segno)
			continue;
		if (nums[i] > ix->segno) {
			if (nums[i] != ix->segno + 1 && ix->segno != 0) {
				ret = 1;
				goto rollback;
			}
			ix->segno = nums[i];
			ix->offset = 0;
		}
		r = index_segment(ix, dirfd, zsts[i], err);
		if (r != 0) {
			ret = r;
			goto rollback;
		}
	}
	finalize(ix);
	if (ix->segno == start_segno && ix->offset == start_offset) {
		/* Nothing new: leave the file as it is (not even its counter). */
		(void)sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
		ret = 0;
		goto out;
	}
	snprintf(buf, sizeof buf, "%lu", ix->segno);
	if (meta_set(ix->db, "segment", buf, err) < 0)
		goto rollback;
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)ix->offset);
	if (meta_set(ix->db, "offset", buf, err) < 0)
		goto rollback;
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)ix->last_seq);
	if (meta_set(ix->db, "last_seq", buf, err) < 0 ||
	    meta_set(ix->db, "last_hash", ix->last_hex, err) < 0 ||
	    exec(ix->db, "COMMIT", err) < 0)
		goto rollback;
	ret = 0;
	goto out;
rollback:
	finalize(ix);
	(void)sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
out:
	free(nums);
	free(zsts);
	return ret;
}

static int first_log_id(int dirfd, char id[AL_AUDIT_LOG_ID_HEX], struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, ret = -1;
	long count = seg_list(dirfd, "audit", &nums, &zsts, err);

	if (count == 0)
		al_err_set(err, AL_EUSAGE, "audit: no segments");
	if (count > 0)
		ret = seg_log_id(dirfd, nums[0], zsts[0], id, NULL, err);
	free(nums);
	free(zsts);
	return ret;
}

int al_audit_index_update(const char *home, int rebuild, struct al_err *err)
{
	struct indexer ix = {.home = home};
	char path[PATH_MAX], buf[128];
	int dirfd, ret = -1, r;

	if (index_path(home, path, err) < 0)
		return -1;
	dirfd = audit_dir_open(home, err);
	if (dirfd < 0)
		return -1;
	if (first_log_id(dirfd, ix.log_id, err) < 0)
		goto out;
	if (sqlite3_open_v2(path, &ix.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
	                    NULL) != SQLITE_OK) {
		db_fail(ix.db, "open", err);
		goto out;
	}
	sqlite3_busy_timeout(ix.db, 10000);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (exec(ix.db, schema, err) < 0)
			goto out;
		if (!rebuild && meta_get(ix.db, "version", buf, sizeof buf) != NULL &&
		    strcmp(buf, INDEX_VERSION) == 0 && meta_get(ix.db, "log_id", buf, sizeof buf) != NULL &&
		    strcmp(buf, ix.log_id) == 0) {
			ix.segno = meta_get(ix.db, "segment", buf, sizeof buf) ? strtoul(buf, NULL, 10) : 0;
			ix.offset = meta_get(ix.db, "offset", buf, sizeof buf) ? strtoull(buf, NULL, 10) : 0;
			ix.last_seq = meta_get(ix.db, "last_seq", buf, sizeof buf) ? strtoull(buf, NULL, 10) : 0;
			if (meta_get(ix.db, "last_hash", buf, sizeof buf) != NULL && strlen(buf) == 64)
				memcpy(ix.last_hex, buf, 65);
		} else {
			/* From scratch: the index is a cache of the log, nothing more. */
			if (exec(ix.db, drop, err) < 0 || exec(ix.db, schema, err) < 0 ||
			    meta_set(ix.db, "version", INDEX_VERSION, err) < 0 ||
			    meta_set(ix.db, "log_id", ix.log_id, err) < 0)
				goto out;
			ix.segno = 0;
			ix.offset = 0;
			ix.last_seq = 0;
		}
		r = catch_up(&ix, dirfd, err);
		if (r <= 0) {
			ret = r;
			goto out;
		}
		rebuild = 1; /* the log does not continue the index: start over */
	}
	al_err_set(err, AL_EVERIFY, "audit/" INDEX_NAME ": the log changed under the index twice");
out:
	sqlite3_close(ix.db);
	close(dirfd);
	return ret;
}

/* ---- queries ---- */

static void bind_named(sqlite3_stmt *st, const char *name, const char *value)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i > 0 && value != NULL)
		sqlite3_bind_text(st, i, value, -1, SQLITE_TRANSIENT);
}

/* The filters of `audit query` over an index. */
static int query_db(sqlite3 *db, const struct al_audit_query *q,
                    void (*row)(void *ctx, const char *json), void *ctx, struct al_err *err)
{
	char sql[1024], since[AL_TS_LEN], until[AL_TS_LEN];
	sqlite3_stmt *st = NULL;
	int ret = -1, rc;

	/* A path matches itself or any path that ends in "/" and it, so that
	 * "results.csv" finds "outputs/nightly/2026-11-25/publish/results.csv". */
	snprintf(sql, sizeof sql, "SELECT json FROM entries WHERE 1 = 1%s%s%s%s%s%s%s ORDER BY seq",
	         q->run ? " AND run = :run" : "", q->step ? " AND step = :step" : "",
	         q->event ? " AND event = :event" : "",
	         q->path ? " AND seq IN (SELECT seq FROM files WHERE path = :path OR"
	                   " substr(path, -length(:path) - 1) = '/' || :path)" : "",
	         q->sha256 ? " AND seq IN (SELECT seq FROM files WHERE sha256 = :sha256)" : "",
	         q->since_us ? " AND ts >= :since" : "", q->until_us ? " AND ts <= :until" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(db, "query", err);
		goto out;
	}
	bind_named(st, ":run", q->run);
	bind_named(st, ":step", q->step);
	bind_named(st, ":event", q->event);
	bind_named(st, ":path", q->path);
	bind_named(st, ":sha256", q->sha256);
	if (q->since_us) {
		al_ts_format(q->since_us, since);
		bind_named(st, ":since", since);
	}
	if (q->until_us) {
		al_ts_format(q->until_us, until);
		bind_named(st, ":until", until);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		row(ctx, (const char *)sqlite3_column_text(st, 0));
	if (rc != SQLITE_DONE) {
		db_fail(db, "query", err);
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	return ret;
}

int al_audit_query(const char *home, const struct al_audit_query *q,
                   void (*row)(void *ctx, const char *json), void *ctx, struct al_err *err)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	int ret = -1;

	if (al_audit_index_update(home, 0, err) < 0 || index_path(home, path, err) < 0)
		return -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK)
		db_fail(db, "open", err);
	else {
		sqlite3_busy_timeout(db, 10000);
		ret = query_db(db, q, row, ctx, err);
	}
	sqlite3_close(db);
	return ret;
}

/* Only reading: every action that would write, attach another database,
 * change a setting or load code is refused (a regulator's question must
 * never change the evidence's index, nor run code). */
static int authorize(void *ctx, int action, const char *a1, const char *a2, const char *db,
                     const char *trigger)
{
	static const char *const read_pragmas[] = {"table_info", "table_xinfo", "index_list",
	                                           "index_info", "index_xinfo", "table_list",
	                                           "foreign_key_list", NULL};

	(void)ctx;
	(void)db;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		/* load_extension is also disabled on the connection */
		return a2 != NULL && strcasecmp(a2, "load_extension") == 0 ? SQLITE_DENY : SQLITE_OK;
	case SQLITE_PRAGMA:
		for (int i = 0; read_pragmas[i] != NULL; i++)
			if (a1 != NULL && strcasecmp(a1, read_pragmas[i]) == 0)
				return SQLITE_OK;
		return SQLITE_DENY;
	default:
		return SQLITE_DENY;
	}
}

/* One read-only statement over an index (its connection made
 * read-only here). */
static int sql_db(sqlite3 *db, const char *sql,
                  void (*header)(void *ctx, int ncol, const char *const *names),
                  void (*row)(void *ctx, int ncol, const char *const *values, const char *kinds),
                  void *ctx, struct al_err *err)
{
	const char *tail, **cols = NULL;
	char *kinds = NULL;
	sqlite3_stmt *st = NULL;
	int ret = -1, rc, n;

	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_set_authorizer(db, authorize, NULL);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
	if (rc == SQLITE_AUTH) {
		al_err_set(err, AL_EUSAGE, "audit sql is read-only: refused (%s)", sqlite3_errmsg(db));
		goto out;
	}
	if (rc != SQLITE_OK || st == NULL) {
		al_err_set(err, AL_EUSAGE, "audit sql: %s", st == NULL && rc == SQLITE_OK ? "no statement" : sqlite3_errmsg(db));
		goto out;
	}
	while (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';')
		tail++;
	if (*tail != '\0') {
		al_err_set(err, AL_EUSAGE, "audit sql takes one statement");
		goto out;
	}
	if (!sqlite3_stmt_readonly(st)) {
		al_err_set(err, AL_EUSAGE, "audit sql is read-only: refused a statement that writes");
		goto out;
	}
	n = sqlite3_column_count(st);
	cols = calloc((size_t)n + 1, sizeof *cols);
	kinds = calloc((size_t)n + 1, 1);
	if (cols == NULL || kinds == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	for (int i = 0; i < n; i++)
		cols[i] = sqlite3_column_name(st, i);
	header(ctx, n, cols);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++) {
			int t = sqlite3_column_type(st, i);
			kinds[i] = t == SQLITE_INTEGER ? 'i' : t == SQLITE_FLOAT ? 'r' : t == SQLITE_NULL ? 'n' : 't';
			cols[i] = (const char *)sqlite3_column_text(st, i);
		}
		row(ctx, n, cols, kinds);
	}
	if (rc != SQLITE_DONE) {
		al_err_set(err, rc == SQLITE_AUTH ? AL_EUSAGE : AL_EENV, "audit sql: %s", sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	free(cols);
	free(kinds);
	sqlite3_finalize(st);
	return ret;
}

int al_audit_sql(const char *home, const char *sql,
                 void (*header)(void *ctx, int ncol, const char *const *names),
                 void (*row)(void *ctx, int ncol, const char *const *values, const char *kinds),
                 void *ctx, struct al_err *err)
{
	char path[PATH_MAX];
	sqlite3 *db = NULL;
	struct al_err uerr = {0};
	int ret = -1;

	if (index_path(home, path, err) < 0)
		return -1;
	/* Best effort: a stale index still answers, a missing one cannot. */
	if (al_audit_index_update(home, 0, &uerr) < 0 && access(path, F_OK) != 0) {
		*err = uerr;
		return -1;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK)
		db_fail(db, "open", err);
	else {
		sqlite3_busy_timeout(db, 10000);
		ret = sql_db(db, sql, header, row, ctx, err);
	}
	sqlite3_close(db);
	return ret;
}

/* ---- a throw-away index of a log read elsewhere (airlock-verify) ---- */

struct al_audit_scratch {
	struct indexer ix;
	int failed;
	struct al_err err;
};

static int scratch_add(void *ctx, const char *line, size_t len)
{
	struct al_audit_scratch *s = ctx;
	struct al_line l;

	if (al_line_parse(line, len, &l, NULL) < 0)
		return 0; /* the verifier accepted it: a torn line it repaired */
	if (add_entry(&s->ix, line, len, &l, &s->err) < 0) {
		s->failed = 1;
		return -1;
	}
	return 0;
}

void al_audit_scratch_close(struct al_audit_scratch *s)
{
	if (s == NULL)
		return;
	finalize(&s->ix);
	sqlite3_close(s->ix.db);
	free(s);
}

struct al_audit_scratch *al_audit_scratch_build(const char *path, const struct al_verify_opts *opts,
                                                struct al_verify_summary *sum, int *verdict,
                                                struct al_err *err)
{
	struct al_audit_scratch *s = calloc(1, sizeof *s);
	struct al_verify_opts o = *opts;
	int r;

	*verdict = -1;
	if (s == NULL) {
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	/* "": a private database on disk (in the temporary directory),
	 * deleted when closed; nothing of it outlives the command */
	if (sqlite3_open_v2("", &s->ix.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	        SQLITE_OK ||
	    exec(s->ix.db, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;", err) < 0 ||
	    exec(s->ix.db, schema, err) < 0 || exec(s->ix.db, "BEGIN", err) < 0 ||
	    prepare(&s->ix, err) < 0) {
		if (err->msg[0] == '\0')
			db_fail(s->ix.db, "open", err);
		al_audit_scratch_close(s);
		return NULL;
	}
	o.on_entry = scratch_add;
	o.entry_ctx = s;
	r = al_audit_verify(path, &o, sum, err);
	if (s->failed) {
		*err = s->err;
		r = -1;
	}
	finalize(&s->ix);
	if (r == 0 && exec(s->ix.db, "COMMIT", err) < 0)
		r = -1;
	*verdict = r;
	if (r != 0) {
		al_audit_scratch_close(s);
		return NULL;
	}
	return s;
}

int al_audit_scratch_query(struct al_audit_scratch *s, const struct al_audit_query *q,
                           void (*row)(void *ctx, const char *json), void *ctx, struct al_err *err)
{
	return query_db(s->ix.db, q, row, ctx, err);
}

int al_audit_scratch_sql(struct al_audit_scratch *s, const char *sql,
                         void (*header)(void *ctx, int ncol, const char *const *names),
                         void (*row)(void *ctx, int ncol, const char *const *values,
                                     const char *kinds),
                         void *ctx, struct al_err *err)
{
	return sql_db(s->ix.db, sql, header, row, ctx, err);
}
