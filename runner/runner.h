/* runner.h - the runner's modules behind the `airlock run` family of
 * commands (DESIGN.md §8, runner/README.md): the state store (state.db),
 * the step executor (fork, sandbox, capped output, timeouts) and the run
 * engine (scheduling, retries, outputs, idempotency, crash recovery).
 *
 * The run engine writes every state change to the audit log before the
 * effect it announces; the state store is the runner's own memory across
 * runs (what is committed, what was running when airlock died) and is
 * never evidence. */
#ifndef AIRLOCK_RUNNER_H
#define AIRLOCK_RUNNER_H

#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "core/core.h"
#include "manifests/manifests.h"

#define AL_LOG_CAP (16ull << 20)   /* default cap of a step's stdout and of its stderr */
#define AL_KILL_GRACE_MS 10000     /* SIGTERM, then SIGKILL this much later */
#define AL_STORM_RETRIES 5         /* more retries than this... */
#define AL_STORM_WINDOW_MS 60000   /* ...within this window: alert retry-storm */
#define AL_ITEM_MAX 65536          /* a fan_out item's line, bytes */
#define AL_AWAIT_EVERY_MS 30000    /* an await step's poll interval when poll.every is absent */
#define AL_METRICS_EVERY_US 1000000 /* metrics/airlock.prom: at most this often during a run */

/* ---- state.db ---- */

struct al_state;

/* Opens (creating, migrating) HOME/state.db: sqlite in WAL mode. A
 * database of a newer schema than this airlock knows is refused. */
struct al_state *al_state_open(const char *home, struct al_err *err);
void al_state_close(struct al_state *st);
/* The schema version this airlock writes. */
int al_state_schema_version(void);

struct al_run_row {
	char id[48];
	char pipeline[80];
	int64_t version;
	char manifest_sha256[AL_SHA256_HEX];
	char date[11];
	char source[16];     /* "installed", "bundle" or "dir" */
	char source_path[4096];
	char bundle_dir[4096];
	char status[16];     /* running, ok, failed, aborted, interrupted */
	char resume_of[48];
	int64_t pid;
	int64_t start_us, end_us;
};

int al_state_run_insert(struct al_state *st, const struct al_run_row *r, struct al_err *err);
int al_state_run_end(struct al_state *st, const char *run, const char *status, int64_t end_us,
                     struct al_err *err);
/* One run by id (1 found, 0 not found, -1 error); the newest when id is NULL. */
int al_state_run_get(struct al_state *st, const char *id, struct al_run_row *r, struct al_err *err);
/* Calls each() for the runs of pipeline (NULL: all) with status, newest
 * first, at most limit (0: all). */
int al_state_runs(struct al_state *st, const char *pipeline, const char *status, int limit,
                  int (*each)(void *ctx, const struct al_run_row *r), void *ctx,
                  struct al_err *err);

struct al_step_row {
	char step[65];
	int idx;
	char state[16];  /* pending, running, retrying, staged, ok, failed, skipped */
	int attempts;
	int64_t start_us, end_us;
	int exit_code;   /* -1: none */
	int signal;      /* 0: none */
	char status[16]; /* the last attempt's: ok, failed, timeout, killed */
	char reason[256];
	char *staged;    /* JSON array of files while staged (malloc'd, or NULL) */
	char needs[512]; /* comma-separated step ids */
};

int al_state_step_put(struct al_state *st, const char *run, const struct al_step_row *s,
                      struct al_err *err);
int al_state_steps(struct al_state *st, const char *run,
                   int (*each)(void *ctx, const struct al_step_row *s), void *ctx,
                   struct al_err *err);

struct al_attempt_row {
	char step[65];
	int attempt;
	int64_t start_us, end_us;
	int exit_code, signal;
	char status[16];
	int64_t pid;
};
int al_state_attempt_put(struct al_state *st, const char *run, const struct al_attempt_row *a,
                         struct al_err *err);

/* What a step committed for (pipeline, date): its manifest, the hash of
 * its inputs, the run and the files ([{path, sha256, size}]). */
struct al_commit_row {
	char manifest_sha256[AL_SHA256_HEX];
	char inputs_sha256[AL_SHA256_HEX];
	char run[48];
	char *files; /* JSON text, malloc'd */
	int64_t committed_us;
};
int al_state_commit_get(struct al_state *st, const char *pipeline, const char *date,
                        const char *step, struct al_commit_row *c, struct al_err *err);
/* How many commits (pipeline, date) has. */
int al_state_commits_count(struct al_state *st, const char *pipeline, const char *date,
                           struct al_err *err);
/* Records a commit and the step's final state in one durable transaction. */
int al_state_commit_put(struct al_state *st, const char *pipeline, const char *date,
                        const char *step, const struct al_commit_row *c, const char *run,
                        const struct al_step_row *s, struct al_err *err);
int al_state_begin(struct al_state *st, struct al_err *err);

/* A circuit breaker (DESIGN.md §8): state closed, open or half_open;
 * consecutive failures; while open, until_us ends the cooldown. Keyed by
 * resource name across pipelines: one service, one breaker. */
struct al_breaker_row {
	char resource[65];
	char state[16];
	int64_t failures, opened_us, until_us, updated_us;
	char run[48];     /* the run that changed it last */
};
/* 1 found, 0 none (b is then a closed breaker), -1 error. */
int al_state_breaker_get(struct al_state *st, const char *resource, struct al_breaker_row *b,
                         struct al_err *err);
int al_state_breaker_put(struct al_state *st, const struct al_breaker_row *b, struct al_err *err);
int al_state_breakers(struct al_state *st, int (*each)(void *ctx, const struct al_breaker_row *b),
                      void *ctx, struct al_err *err);

/* Running totals behind the metrics: one ended attempt of a step; one
 * alert; a named value (last_seal_us). */
int al_state_step_total(struct al_state *st, const char *pipeline, const char *step, int failed,
                        int64_t duration_us, int64_t end_us, struct al_err *err);
int al_state_alert_count(struct al_state *st, const char *pipeline, const char *kind,
                         int64_t now_us, struct al_err *err);
int al_state_meta_set(struct al_state *st, const char *key, int64_t value, struct al_err *err);
/* Runs a read-only statement (a string literal: it is cached by address)
 * and calls row() with each row's values as text (NULL for SQL NULL);
 * row() returning non-zero stops. */
int al_state_select(struct al_state *st, const char *sql,
                    int (*row)(void *ctx, int n, const char *const *values), void *ctx,
                    struct al_err *err);

/* Rewrites HOME/metrics/airlock.prom atomically from state.db (metrics.c):
 * the series of DESIGN.md §8 for every pipeline. audit_entries: the audit
 * log's last seq (-1: not known, the series is left out). */
int al_metrics_write(const char *home, struct al_state *st, int64_t audit_entries,
                     struct al_err *err);
int al_state_commit_tx(struct al_state *st, struct al_err *err);

/* ---- the executor ---- */

struct al_capture {
	int pipe;        /* read end, -1 once closed */
	int fd;          /* the log file, opened at the first byte; -1 before */
	int failed;      /* the log could not be written: the rest is dropped */
	char *path;      /* malloc'd; freed by al_proc_finish */
	uint64_t stored, written;
	int truncated;
	struct al_sha256 hash;
	unsigned char sum[AL_SHA256_LEN];
};

struct al_proc_spec {
	const char *const *argv; /* argv[0] resolved to a path */
	const char *const *envp;
	const char *cwd;
	int net_none;            /* new network namespace */
	int64_t limit_cpu_s, limit_memory, limit_files, limit_procs; /* -1: not set */
	const char *out_path, *err_path;
	const char *stdin_path;  /* NULL: /dev/null (notify: the run summary) */
	uint64_t cap;
};

struct al_proc {
	pid_t pid;               /* also the process group */
	uint64_t cap;            /* bytes kept of stdout, and of stderr */
	struct al_capture out, err;
	int64_t start_us, end_us;
	int exited, wstatus;
	int64_t drain_until_us;  /* after exit: stop waiting for the pipes' EOF */
};

/* Starts a process as DESIGN.md §8 describes. The child's setup failing
 * (chdir, exec, the namespace) is reported here, with what failed. */
int al_proc_spawn(struct al_proc *p, const struct al_proc_spec *s, struct al_err *err);
/* Reads what is available on one of the process's pipes into its log. */
void al_proc_read(struct al_proc *p, struct al_capture *c);
/* Marks the process exited with wstatus; kills what is left of its group. */
void al_proc_exited(struct al_proc *p, int wstatus);
/* True once exited and both pipes are closed (or the drain time passed). */
int al_proc_done(struct al_proc *p, int64_t now_us);
/* Closes the logs and hashes; the capture sums are final. */
void al_proc_finish(struct al_proc *p);
/* Whether a new network namespace can be made here (a child tries). */
int al_netns_probe(struct al_err *err);

/* ---- runs ---- */

struct al_run_opts {
	const char *home;
	const char *target;       /* pipeline name, bundle file or directory */
	int unsigned_ok;          /* --unsigned */
	const char *date;         /* YYYY-MM-DD; NULL: today (UTC) */
	int jobs;
	const char **only, **force; /* NULL-terminated or NULL */
	const char *from;
	int dry_run;
	int allow_network;
	int64_t kill_grace_ms;
	uint64_t log_cap;
	const char *resume;       /* airlock resume RUN */
	const char *bundle_dir;   /* a bundle target, verified and extracted there */
	int argc;
	char **argv;              /* airlock's own, for run.start */
	int json;                 /* --json: the summary on stdout */
	int quiet;
	int shard_i, shard_n;     /* --shard I/N; shard_n 0: not sharded */
};

/* The retry delay after failed attempt n (runner/README.md, "Retries"). */
int64_t al_retry_delay_ms(const char *key, int n, int64_t base_ms, int64_t cap_ms);

/* Runs a pipeline; returns the exit code of DESIGN.md §8 and prints the
 * reason of any failure on stderr (operator log). */
int al_run(const struct al_run_opts *o);

/* Operator log (DESIGN.md §8): human text on a terminal, JSON lines
 * otherwise. level: "info", "warn", "error". fields (extra members of
 * the JSON line) may be NULL; they are consumed. */
void al_oplog(const char *level, const char *run, const char *step, int attempt, json_t *fields,
              const char *fmt, ...) AL_PRINTF(6, 7);

#endif
