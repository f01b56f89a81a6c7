/* state.c - HOME/state.db: the runner's memory across runs (runs, steps,
 * attempts, committed outputs). sqlite in WAL mode; the schema version is
 * sqlite's user_version and each migration moves it by one, in one
 * transaction. The audit log, not this file, is the evidence: state.db
 * can be deleted, at the price of rerunning steps whose commits it
 * remembered. */
#include "runner.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct al_state {
	sqlite3 *db;
	char path[4200];
	/* Prepared statements, kept for the life of the connection: a run
	 * makes a few per step, and parsing SQL each time showed up in
	 * bench/steps. Keyed by the SQL text's address (string literals). */
	struct {
		const char *sql;
		sqlite3_stmt *q;
	} cache[40];
	/* A write failed: every later write is refused (fail-closed, like the
	 * audit log). A failed COMMIT loses its whole batch, and a store that
	 * went on would record the run as ended with its commits missing:
	 * the next run would start committed steps again. Refused, the run
	 * stays "running" here and the next run rebuilds its commits from the
	 * audit log (runner/README.md, Crash safety). */
	int failed;
};

/* ---- the fault VFS (tests only) ----
 * sqlite does its own I/O, not through al_sys. When AIRLOCK_FAULTS is set,
 * state.db is opened through "airlock-faults", a VFS that wraps the
 * default one and asks the fault plan before each xWrite, xSync and
 * xTruncate (AIRLOCK_FAULTS='sqlite_write@3=EIO', 'sqlite_sync@1+=EIO',
 * 'sqlite_truncate@1=ENOSPC'). Without AIRLOCK_FAULTS it is not used. */

struct fault_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation */
};

static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;

#define REAL(f) (((struct fault_file *)(f))->real)

static int fault_rc(int e, int ioerr)
{
	return e == ENOSPC || e == EDQUOT ? SQLITE_FULL : ioerr;
}

static int ff_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods != NULL ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
	return rc;
}

static int ff_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int ff_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	int e = al_sys_fault(AL_SYS_SQLITE_WRITE);
	return e != 0 ? fault_rc(e, SQLITE_IOERR_WRITE) : REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int e = al_sys_fault(AL_SYS_SQLITE_TRUNCATE);
	return e != 0 ? fault_rc(e, SQLITE_IOERR_TRUNCATE) : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int ff_sync(sqlite3_file *f, int flags)
{
	int e = al_sys_fault(AL_SYS_SQLITE_SYNC);
	return e != 0 ? fault_rc(e, SQLITE_IOERR_FSYNC) : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int ff_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int ff_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int ff_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int ff_check_lock(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int ff_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int ff_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int ff_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int ff_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int ff_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void ff_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int ff_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int ff_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int ff_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static int ff_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	sqlite3_vfs *real = vfs->pAppData;
	struct fault_file *ff = (struct fault_file *)f;
	int rc;

	ff->real = (sqlite3_file *)(ff + 1);
	ff->base.pMethods = NULL;
	rc = real->xOpen(real, name, ff->real, flags, out_flags);
	if (rc == SQLITE_OK && ff->real->pMethods != NULL) {
		fault_io = *ff->real->pMethods; /* the version and any method not wrapped */
		fault_io.xClose = ff_close;
		fault_io.xRead = ff_read;
		fault_io.xWrite = ff_write;
		fault_io.xTruncate = ff_truncate;
		fault_io.xSync = ff_sync;
		fault_io.xFileSize = ff_size;
		fault_io.xLock = ff_lock;
		fault_io.xUnlock = ff_unlock;
		fault_io.xCheckReservedLock = ff_check_lock;
		fault_io.xFileControl = ff_fcntl;
		fault_io.xSectorSize = ff_sector;
		fault_io.xDeviceCharacteristics = ff_devchar;
		if (fault_io.iVersion >= 2) {
			fault_io.xShmMap = ff_shm_map;
			fault_io.xShmLock = ff_shm_lock;
			fault_io.xShmBarrier = ff_shm_barrier;
			fault_io.xShmUnmap = ff_shm_unmap;
		}
		if (fault_io.iVersion >= 3) {
			fault_io.xFetch = ff_fetch;
			fault_io.xUnfetch = ff_unfetch;
		}
		ff->base.pMethods = &fault_io;
	} else if (ff->real->pMethods != NULL) {
		/* sqlite calls xClose even after a failed open when pMethods is set */
		ff->real->pMethods->xClose(ff->real);
		ff->real->pMethods = NULL;
	}
	return rc;
}

/* The VFS name to open state.db with: NULL (the default) unless a fault
 * plan is set. */
static const char *state_vfs(void)
{
	static int done;
	sqlite3_vfs *real;

	if (getenv("AIRLOCK_FAULTS") == NULL)
		return NULL;
	if (!done) {
		real = sqlite3_vfs_find(NULL);
		if (real == NULL)
			return NULL;
		fault_vfs = *real;
		fault_vfs.zName = "airlock-faults";
		fault_vfs.szOsFile = (int)sizeof(struct fault_file) + real->szOsFile;
		fault_vfs.pAppData = real;
		fault_vfs.xOpen = ff_open;
		fault_vfs.pNext = NULL;
		if (sqlite3_vfs_register(&fault_vfs, 0) != SQLITE_OK)
			return NULL;
		done = 1;
	}
	return fault_vfs.zName;
}

/* Migrations: migrations[i] moves the schema from version i to i + 1.
 * The keyed tables are WITHOUT ROWID: one b-tree each, so a step's rows
 * cost half the WAL pages (bench/steps). */
static const char *const migrations[] = {
	"CREATE TABLE runs ("
	"  id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, version INTEGER NOT NULL,"
	"  manifest_sha256 TEXT NOT NULL, date TEXT NOT NULL, source TEXT NOT NULL,"
	"  source_path TEXT NOT NULL, bundle_dir TEXT NOT NULL, status TEXT NOT NULL,"
	"  resume_of TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL,"
	"  start_us INTEGER NOT NULL, end_us INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX runs_pipeline ON runs(pipeline, status);"
	"CREATE TABLE steps ("
	"  run TEXT NOT NULL REFERENCES runs(id), step TEXT NOT NULL, idx INTEGER NOT NULL,"
	"  state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	"  start_us INTEGER NOT NULL DEFAULT 0, end_us INTEGER NOT NULL DEFAULT 0,"
	"  exit INTEGER NOT NULL DEFAULT -1, signal INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',"
	"  staged TEXT, needs TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (run, step)) WITHOUT ROWID;"
	"CREATE TABLE attempts ("
	"  run TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL,"
	"  start_us INTEGER NOT NULL, end_us INTEGER NOT NULL DEFAULT 0,"
	"  exit INTEGER NOT NULL DEFAULT -1, signal INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT NOT NULL DEFAULT 'running', pid INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (run, step, attempt)) WITHOUT ROWID;"
	"CREATE TABLE commits ("
	"  pipeline TEXT NOT NULL, date TEXT NOT NULL, step TEXT NOT NULL,"
	"  manifest_sha256 TEXT NOT NULL, inputs_sha256 TEXT NOT NULL, run TEXT NOT NULL,"
	"  files TEXT NOT NULL, committed_us INTEGER NOT NULL,"
	"  PRIMARY KEY (pipeline, date, step)) WITHOUT ROWID;",
	/* 2: circuit breakers (per resource, across runs and pipelines), and
	 * the running totals behind metrics/airlock.prom. */
	"CREATE TABLE breakers ("
	"  resource TEXT PRIMARY KEY, state TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,"
	"  opened_us INTEGER NOT NULL DEFAULT 0, until_us INTEGER NOT NULL DEFAULT 0,"
	"  updated_us INTEGER NOT NULL DEFAULT 0, run TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
	"CREATE TABLE step_totals ("
	"  pipeline TEXT NOT NULL, step TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0, last_duration_us INTEGER NOT NULL DEFAULT 0,"
	"  last_end_us INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (pipeline, step)) WITHOUT ROWID;"
	"CREATE TABLE alert_totals ("
	"  pipeline TEXT NOT NULL, kind TEXT NOT NULL, total INTEGER NOT NULL DEFAULT 0,"
	"  last_us INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (pipeline, kind)) WITHOUT ROWID;"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

int al_state_schema_version(void)
{
	return SCHEMA_VERSION;
}

static int db_err(struct al_state *st, struct al_err *err, const char *what)
{
	int rc = sqlite3_errcode(st->db);
	/* A damaged or unreadable state.db is the environment's fault, not
	 * the command line's: the operator must look at the file. */
	int code = (rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN ||
	            rc == SQLITE_READONLY || rc == SQLITE_PERM || rc == SQLITE_BUSY ||
	            rc == SQLITE_LOCKED || rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
	               ? AL_EENV
	               : AL_EUSAGE;
	return al_err_set(err, code, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static int exec_sql(struct al_state *st, const char *sql, struct al_err *err)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(st, err, "cannot update the state");
	return 0;
}

struct al_state *al_state_open(const char *home, struct al_err *err)
{
	struct al_state *st = calloc(1, sizeof *st);
	sqlite3_stmt *q = NULL;
	int version;

	if (st == NULL) {
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	if (al_snprintf(st->path, sizeof st->path, "%s/state.db", home) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", home);
		free(st);
		return NULL;
	}
	if (sqlite3_open_v2(st->path, &st->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
	                    state_vfs()) != SQLITE_OK) {
		db_err(st, err, "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	/* WAL: readers (airlock status) never block the run. NORMAL is
	 * durable against a killed process (see al_state_commit_put). */
	if (exec_sql(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                 "PRAGMA foreign_keys=ON;",
	             err) < 0)
		goto fail;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW) {
		db_err(st, err, "cannot read the schema version");
		goto fail;
	}
	version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (version > SCHEMA_VERSION) {
		al_err_set(err, AL_EENV,
		           "%s: schema version %d is newer than this airlock's (%d): use a newer airlock",
		           st->path, version, SCHEMA_VERSION);
		goto fail;
	}
	while (version < SCHEMA_VERSION) {
		char sql[64];
		if (exec_sql(st, "BEGIN IMMEDIATE", err) < 0)
			goto fail;
		snprintf(sql, sizeof sql, "PRAGMA user_version=%d", version + 1);
		if (exec_sql(st, migrations[version], err) < 0 || exec_sql(st, sql, err) < 0 ||
		    exec_sql(st, "COMMIT", err) < 0) {
			al_err_prefix(err, "migration to schema %d", version + 1);
			(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
		version++;
	}
	return st;
fail:
	sqlite3_finalize(q);
	sqlite3_close(st->db);
	free(st);
	return NULL;
}

void al_state_close(struct al_state *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < sizeof st->cache / sizeof st->cache[0]; i++)
		sqlite3_finalize(st->cache[i].q);
	sqlite3_close(st->db);
	free(st);
}

/* Prepares sql and binds "t" text, "i" int64 from the varargs. */
static sqlite3_stmt *prep(struct al_state *st, struct al_err *err, const char *sql,
                          const char *types, ...)
{
	sqlite3_stmt *q = NULL;
	size_t i, n = sizeof st->cache / sizeof st->cache[0];
	va_list ap;

	for (i = 0; i < n && st->cache[i].sql != NULL; i++) {
		if (st->cache[i].sql == sql) {
			q = st->cache[i].q;
			break;
		}
	}
	if (q == NULL) {
		if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) != SQLITE_OK) {
			db_err(st, err, "cannot prepare a statement");
			return NULL;
		}
		if (i < n) {
			st->cache[i].sql = sql;
			st->cache[i].q = q;
		}
	}
	va_start(ap, types);
	for (int k = 0; types[k] != '\0'; k++) {
		if (types[k] == 't') {
			const char *s = va_arg(ap, const char *);
			if (s == NULL)
				sqlite3_bind_null(q, k + 1);
			else
				sqlite3_bind_text(q, k + 1, s, -1, SQLITE_TRANSIENT);
		} else {
			sqlite3_bind_int64(q, k + 1, va_arg(ap, int64_t));
		}
	}
	va_end(ap);
	return q;
}

/* Done with a statement from prep: reset when cached, else finalized. */
static void release(struct al_state *st, sqlite3_stmt *q)
{
	for (size_t i = 0; i < sizeof st->cache / sizeof st->cache[0]; i++) {
		if (st->cache[i].q == q) {
			sqlite3_reset(q);
			sqlite3_clear_bindings(q);
			return;
		}
	}
	sqlite3_finalize(q);
}

static int refused(struct al_state *st, struct al_err *err)
{
	return al_err_set(err, AL_EENV, "%s: an earlier write failed: no more changes until the next run",
	                  st->path);
}

static int run_done(struct al_state *st, sqlite3_stmt *q, struct al_err *err)
{
	int rc;

	if (st->failed) {
		release(st, q);
		return refused(st, err);
	}
	rc = sqlite3_step(q);
	release(st, q);
	if (rc != SQLITE_DONE) {
		st->failed = 1;
		return db_err(st, err, "cannot update the state");
	}
	return 0;
}

static void col_text(sqlite3_stmt *q, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	snprintf(out, n, "%s", t != NULL ? (const char *)t : "");
}

int al_state_begin(struct al_state *st, struct al_err *err)
{
	if (st->failed)
		return refused(st, err);
	return exec_sql(st, "BEGIN IMMEDIATE", err);
}

int al_state_commit_tx(struct al_state *st, struct al_err *err)
{
	if (st->failed) {
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return refused(st, err);
	}
	if (exec_sql(st, "COMMIT", err) < 0) {
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		st->failed = 1;
		return -1;
	}
	return 0;
}

int al_state_run_insert(struct al_state *st, const struct al_run_row *r, struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "INSERT INTO runs(id, pipeline, version, manifest_sha256, date, source,"
	                       " source_path, bundle_dir, status, resume_of, pid, start_us)"
	                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
	                       "ttitttttttii", r->id, r->pipeline, r->version, r->manifest_sha256,
	                       r->date, r->source, r->source_path, r->bundle_dir, r->status,
	                       r->resume_of, r->pid, r->start_us);
	return q == NULL ? -1 : run_done(st, q, err);
}

int al_state_run_end(struct al_state *st, const char *run, const char *status, int64_t end_us,
                     struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err, "UPDATE runs SET status = ?, end_us = ? WHERE id = ?", "tit",
	                       status, end_us, run);
	return q == NULL ? -1 : run_done(st, q, err);
}

#define RUN_COLS                                                                          \
	"id, pipeline, version, manifest_sha256, date, source, source_path, bundle_dir, status," \
	" resume_of, pid, start_us, end_us"

static void run_row(sqlite3_stmt *q, struct al_run_row *r)
{
	memset(r, 0, sizeof *r);
	col_text(q, 0, r->id, sizeof r->id);
	col_text(q, 1, r->pipeline, sizeof r->pipeline);
	r->version = sqlite3_column_int64(q, 2);
	col_text(q, 3, r->manifest_sha256, sizeof r->manifest_sha256);
	col_text(q, 4, r->date, sizeof r->date);
	col_text(q, 5, r->source, sizeof r->source);
	col_text(q, 6, r->source_path, sizeof r->source_path);
	col_text(q, 7, r->bundle_dir, sizeof r->bundle_dir);
	col_text(q, 8, r->status, sizeof r->status);
	col_text(q, 9, r->resume_of, sizeof r->resume_of);
	r->pid = sqlite3_column_int64(q, 10);
	r->start_us = sqlite3_column_int64(q, 11);
	r->end_us = sqlite3_column_int64(q, 12);
}

int al_state_run_get(struct al_state *st, const char *id, struct al_run_row *r, struct al_err *err)
{
	sqlite3_stmt *q = id != NULL
	                      ? prep(st, err, "SELECT " RUN_COLS " FROM runs WHERE id = ?", "t", id)
	                      : prep(st, err, "SELECT " RUN_COLS " FROM runs ORDER BY start_us DESC, id DESC LIMIT 1",
	                             "");
	int rc;

	if (q == NULL)
		return -1;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		run_row(q, r);
	release(st, q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(st, err, "cannot read the runs");
	return rc == SQLITE_ROW;
}

int al_state_runs(struct al_state *st, const char *pipeline, const char *status, int limit,
                  int (*each)(void *ctx, const struct al_run_row *r), void *ctx,
                  struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "SELECT " RUN_COLS " FROM runs WHERE (?1 IS NULL OR pipeline = ?1)"
	                       " AND (?2 IS NULL OR status = ?2) ORDER BY start_us DESC, id DESC"
	                       " LIMIT CASE WHEN ?3 > 0 THEN ?3 ELSE -1 END",
	                       "tti", pipeline, status, (int64_t)limit);
	struct al_run_row r;
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		run_row(q, &r);
		if (each(ctx, &r) != 0)
			break;
	}
	release(st, q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(st, err, "cannot read the runs");
	return 0;
}

int al_state_step_put(struct al_state *st, const char *run, const struct al_step_row *s,
                      struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "INSERT OR REPLACE INTO steps(run, step, idx, state, attempts, start_us,"
	                       " end_us, exit, signal, status, reason, staged, needs)"
	                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
	                       "ttitiiiiitttt", run, s->step, (int64_t)s->idx, s->state,
	                       (int64_t)s->attempts, s->start_us, s->end_us, (int64_t)s->exit_code,
	                       (int64_t)s->signal, s->status, s->reason, s->staged, s->needs);
	return q == NULL ? -1 : run_done(st, q, err);
}

int al_state_steps(struct al_state *st, const char *run,
                   int (*each)(void *ctx, const struct al_step_row *s), void *ctx,
                   struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "SELECT step, idx, state, attempts, start_us, end_us, exit, signal,"
	                       " status, reason, staged, needs FROM steps WHERE run = ? ORDER BY idx",
	                       "t", run);
	struct al_step_row s;
	int rc;

	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *staged = sqlite3_column_text(q, 10);
		memset(&s, 0, sizeof s);
		col_text(q, 0, s.step, sizeof s.step);
		s.idx = sqlite3_column_int(q, 1);
		col_text(q, 2, s.state, sizeof s.state);
		s.attempts = sqlite3_column_int(q, 3);
		s.start_us = sqlite3_column_int64(q, 4);
		s.end_us = sqlite3_column_int64(q, 5);
		s.exit_code = sqlite3_column_int(q, 6);
		s.signal = sqlite3_column_int(q, 7);
		col_text(q, 8, s.status, sizeof s.status);
		col_text(q, 9, s.reason, sizeof s.reason);
		s.staged = staged != NULL ? strdup((const char *)staged) : NULL;
		col_text(q, 11, s.needs, sizeof s.needs);
		rc = each(ctx, &s);
		free(s.staged);
		if (rc != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc > 0) {
		release(st, q);
		return db_err(st, err, "cannot read the steps");
	}
	release(st, q);
	return 0;
}

int al_state_attempt_put(struct al_state *st, const char *run, const struct al_attempt_row *a,
                         struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "INSERT OR REPLACE INTO attempts(run, step, attempt, start_us, end_us,"
	                       " exit, signal, status, pid) VALUES (?,?,?,?,?,?,?,?,?)",
	                       "ttiiiiiti", run, a->step, (int64_t)a->attempt, a->start_us, a->end_us,
	                       (int64_t)a->exit_code, (int64_t)a->signal, a->status, a->pid);
	return q == NULL ? -1 : run_done(st, q, err);
}

int al_state_commit_get(struct al_state *st, const char *pipeline, const char *date,
                        const char *step, struct al_commit_row *c, struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "SELECT manifest_sha256, inputs_sha256, run, files, committed_us"
	                       " FROM commits WHERE pipeline = ? AND date = ? AND step = ?",
	                       "ttt", pipeline, date, step);
	int rc;

	memset(c, 0, sizeof *c);
	if (q == NULL)
		return -1;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		col_text(q, 0, c->manifest_sha256, sizeof c->manifest_sha256);
		col_text(q, 1, c->inputs_sha256, sizeof c->inputs_sha256);
		col_text(q, 2, c->run, sizeof c->run);
		c->files = strdup((const char *)sqlite3_column_text(q, 3));
		c->committed_us = sqlite3_column_int64(q, 4);
	}
	release(st, q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(st, err, "cannot read the commits");
	return rc == SQLITE_ROW;
}

int al_state_commits_count(struct al_state *st, const char *pipeline, const char *date,
                           struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err, "SELECT count(*) FROM commits WHERE pipeline = ? AND date = ?",
	                       "tt", pipeline, date);
	int rc, n = 0;

	if (q == NULL)
		return -1;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int(q, 0);
	release(st, q);
	if (rc != SQLITE_ROW)
		return db_err(st, err, "cannot read the commits");
	return n;
}

int al_state_commit_put(struct al_state *st, const char *pipeline, const char *date,
                        const char *step, const struct al_commit_row *c, const char *run,
                        const struct al_step_row *s, struct al_err *err)
{
	sqlite3_stmt *q;

	/* WAL at synchronous=NORMAL: durable against a killed process; a
	 * power loss may take the last commits, and the audit log's
	 * output.committed (synced by the next step.start) is then the
	 * record (runner/README.md, "Crash safety"). */
	int own = sqlite3_get_autocommit(st->db);

	if (own && al_state_begin(st, err) < 0)
		return -1;
	q = prep(st, err,
	         "INSERT OR REPLACE INTO commits(pipeline, date, step, manifest_sha256,"
	         " inputs_sha256, run, files, committed_us) VALUES (?,?,?,?,?,?,?,?)",
	         "ttttttti", pipeline, date, step, c->manifest_sha256, c->inputs_sha256, run,
	         c->files, c->committed_us);
	if (q == NULL || run_done(st, q, err) < 0 || al_state_step_put(st, run, s, err) < 0) {
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return own ? al_state_commit_tx(st, err) : 0;
}

/* ---- breakers ---- */

static void breaker_row(sqlite3_stmt *q, struct al_breaker_row *b)
{
	col_text(q, 0, b->resource, sizeof b->resource);
	col_text(q, 1, b->state, sizeof b->state);
	b->failures = sqlite3_column_int64(q, 2);
	b->opened_us = sqlite3_column_int64(q, 3);
	b->until_us = sqlite3_column_int64(q, 4);
	b->updated_us = sqlite3_column_int64(q, 5);
	col_text(q, 6, b->run, sizeof b->run);
}

#define BREAKER_COLS "resource, state, failures, opened_us, until_us, updated_us, run"

int al_state_breaker_get(struct al_state *st, const char *resource, struct al_breaker_row *b,
                         struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err, "SELECT " BREAKER_COLS " FROM breakers WHERE resource = ?",
	                       "t", resource);
	int rc;

	memset(b, 0, sizeof *b);
	snprintf(b->resource, sizeof b->resource, "%s", resource);
	snprintf(b->state, sizeof b->state, "closed");
	if (q == NULL)
		return -1;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		breaker_row(q, b);
	release(st, q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_err(st, err, "cannot read breakers");
	return rc == SQLITE_ROW;
}

int al_state_breaker_put(struct al_state *st, const struct al_breaker_row *b, struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "INSERT OR REPLACE INTO breakers(" BREAKER_COLS ") VALUES (?,?,?,?,?,?,?)",
	                       "ttiiiit", b->resource, b->state, b->failures, b->opened_us,
	                       b->until_us, b->updated_us, b->run);
	return q == NULL ? -1 : run_done(st, q, err);
}

int al_state_breakers(struct al_state *st, int (*each)(void *ctx, const struct al_breaker_row *b),
                      void *ctx, struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err, "SELECT " BREAKER_COLS " FROM breakers ORDER BY resource", "");
	int rc, stop = 0;

	if (q == NULL)
		return -1;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct al_breaker_row b;
		breaker_row(q, &b);
		stop = each(ctx, &b);
	}
	release(st, q);
	if (!stop && rc != SQLITE_DONE)
		return db_err(st, err, "cannot read breakers");
	return 0;
}

/* ---- totals for the metrics ---- */

int al_state_step_total(struct al_state *st, const char *pipeline, const char *step, int failed,
                        int64_t duration_us, int64_t end_us, struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "INSERT INTO step_totals(pipeline, step, attempts, failures,"
	                       " last_duration_us, last_end_us) VALUES (?,?,1,?,?,?)"
	                       " ON CONFLICT(pipeline, step) DO UPDATE SET attempts = attempts + 1,"
	                       " failures = failures + excluded.failures,"
	                       " last_duration_us = excluded.last_duration_us,"
	                       " last_end_us = excluded.last_end_us",
	                       "ttiii", pipeline, step, (int64_t)(failed != 0), duration_us, end_us);
	return q == NULL ? -1 : run_done(st, q, err);
}

int al_state_alert_count(struct al_state *st, const char *pipeline, const char *kind,
                         int64_t now_us, struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err,
	                       "INSERT INTO alert_totals(pipeline, kind, total, last_us) VALUES (?,?,1,?)"
	                       " ON CONFLICT(pipeline, kind) DO UPDATE SET total = total + 1,"
	                       " last_us = excluded.last_us",
	                       "tti", pipeline, kind, now_us);
	return q == NULL ? -1 : run_done(st, q, err);
}

int al_state_meta_set(struct al_state *st, const char *key, int64_t value, struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err, "INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)", "ti",
	                       key, value);
	return q == NULL ? -1 : run_done(st, q, err);
}

int al_state_select(struct al_state *st, const char *sql,
                    int (*row)(void *ctx, int n, const char *const *values), void *ctx,
                    struct al_err *err)
{
	sqlite3_stmt *q = prep(st, err, sql, "");
	const char *vals[16];
	int rc, stop = 0;

	if (q == NULL)
		return -1;
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		int n = sqlite3_column_count(q);
		if (n > 16)
			n = 16;
		for (int i = 0; i < n; i++)
			vals[i] = (const char *)sqlite3_column_text(q, i);
		stop = row(ctx, n, vals);
	}
	release(st, q);
	if (!stop && rc != SQLITE_DONE)
		return db_err(st, err, "cannot read the state");
	return 0;
}
