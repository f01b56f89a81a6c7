/* runner.h - the engine behind the `airlock run` family of commands
 * (DESIGN.md §8, runner/README.md): the state store (state.db), the
 * executor (fork, sandbox, capped output, timeouts), the run engine
 * (planning, scheduling, attempts and retries, commits, guards, crash
 * recovery), and the two interfaces through which the folders above it
 * plug in without the engine calling them by name: step kinds (steps/)
 * and run observers (report/).
 *
 * The run engine writes every state change to the audit log before the
 * effect it announces; the state store is the runner's own memory across
 * runs (what is committed, what was running when airlock died) and is
 * never evidence. */
#ifndef AIRLOCK_RUNNER_H
#define AIRLOCK_RUNNER_H

#include <limits.h>
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
#define AL_SHIP_EVERY_US 60000000   /* entries to the sinks: at most this often during a run */
#define AL_SHIP_STEP_US 250000      /* ...each attempt bounded by this */
#define AL_SHIP_FINAL_US 3000000    /* and after run.end, by this */

/* ---- HOME/records: every version of every output (records.c) ---- */

/* HOME/records/sha256/XX/HEX. */
int al_records_path(const char *home, const char *sha256, char *out, size_t n,
                    struct al_err *err);
/* Keeps the bytes of srcfd (read from its start; name in messages),
 * whose SHA-256 is sha256, as their record: a reflink or a copy, never a
 * link to it, read-only, durable when this returns 0. Bytes kept already
 * are not kept again. */
int al_records_put(const char *home, int srcfd, const char *name, const char *sha256,
                   struct al_err *err);
/* The record of sha256 opened and hashed again, at offset 0: an fd, or -1
 * (AL_EVERIFY when the record's bytes are not those any more). */
int al_records_open(const char *home, const char *sha256, struct al_err *err);

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

int al_state_commit_tx(struct al_state *st, struct al_err *err);

/* ---- confinement (view.c) ---- */

/* What this host can give a step, for airlock doctor: {root, confined
 * (steps can run in their own view here), why (when not), strict (every
 * layer "isolation": "strict" demands), layers: {NAME: {available, why,
 * hint, abi, limits}}}. NULL with err when the host cannot be probed. */
json_t *al_isolation_report(struct al_err *err);

/* ---- installing a bundle (install.c) ---- */

struct al_bundle_install {
	const char *home, *bundle;
	const char *keys_dir;     /* the trust policy: keys/ of the home, or --keys */
	uint64_t max_size;        /* 0: the default */
	int allow_downgrade;      /* audited in pipeline.installed */
	int link;                 /* move pipelines/<name> to it (airlock install) */
	struct al_progress *progress; /* images checked and unpacked; NULL: none shown */
};

struct al_bundle_installed {
	struct al_bundle_result res;
	struct al_install inst;
	char manifest_sha256[AL_SHA256_HEX];
	char dir[PATH_MAX];       /* HOME/bundles/<manifest-sha256> */
};

/* Verifies and extracts a bundle into HOME/bundles/ in one pass, with
 * bundle.verified or bundle.rejected made durable first (a log that
 * cannot be written refuses the install); with link, pipeline.installed
 * and the link swap (unless this manifest is installed already). On a
 * refused bundle err->code is AL_EVERIFY. */
int al_install_bundle(const struct al_bundle_install *q, struct al_bundle_installed *out,
                      struct al_err *err);
/* Reads, checks and unpacks into the image store every image manifest m
 * names, from the directory dir that holds its files; image.unpacked in
 * log (may be NULL) for each one new to the store. max_size bounds the
 * bundle's files and the unpacked images together (0: the default).
 * facts: [{name, config_digest, manifest_digest, tree_sha256}]. An image
 * refused: err->code AL_EVERIFY, err->msg naming the layer and member.
 * pr (may be NULL) is shown each image's phases, its subject the image. */
int al_images_install(struct al_audit *log, const char *home, const struct al_manifest *m,
                      const char *dir, uint64_t max_size, struct al_progress *pr,
                      json_t **facts, struct al_err *err);
/* bundle.verified or bundle.rejected of a verification pass, durable
 * (nothing when log is NULL). */
int al_audit_bundle(struct al_audit *log, const char *bundle, int ok,
                    const struct al_bundle_result *res, struct al_err *err);
/* The same, with the images it carries (al_images_install's facts) in
 * bundle.verified. */
int al_audit_bundle_images(struct al_audit *log, const char *bundle, int ok,
                           const struct al_bundle_result *res, json_t *images,
                           struct al_err *err);

/* ---- step kinds ----
 *
 * What a kind of step does at run time. steps/ implements exec, notify,
 * await and validate behind this interface; the engine finds a step's
 * kind by the manifest's name for it in the table the caller gives
 * (al_run_opts.kinds) and knows none by name. The members of each kind
 * in a manifest are checked by manifests/ (airlock-verify links it and
 * must not link the engine). */

/* One step of a run as a kind's hooks see it: read-only for the kind,
 * except through the al_step_* calls below. */
struct al_step_ctx {
	const struct al_step *def;     /* the step, as the manifest says it */
	const struct al_manifest *m;
	const char *home, *run, *date;
	const char *bundle_dir;        /* the bundle's files */
	const char *out_dir;           /* HOME/outputs/<pipeline>/<date>: committed outputs */
	int attempt;                   /* from 1; 0 before the first */
	const char *reason;            /* a failure's reason, so far */
	char stage[PATH_MAX];          /* this attempt's stage directory: what it commits */
	char quarantine[PATH_MAX];     /* HOME/quarantine/<pipeline>/<date>/<step> */
	char logs[PATH_MAX];           /* HOME/runs/<run>/logs/<step>.<attempt>: a prefix */
	void *engine;                  /* the engine's own (struct run, struct step_rt) */
	void *step;
};

/* How an attempt starts, filled by a kind's launch hook (called once
 * its step.start is durable). */
struct al_step_launch {
	char **argv;        /* malloc'd (al_step_argv_free), argv[0] a path */
	char *stdin_path;   /* malloc'd, or NULL for /dev/null */
};

enum {
	/* Reports each run: never skipped as already committed, and runs
	 * after a failed pre-flight so that the failure reaches someone. */
	AL_KIND_EACH_RUN = 1,
	/* airlock's own code is the step's process (`airlock __builtin
	 * NAME ...`): step.start's argv says so, and it runs with the host
	 * paths it was given (QUEUE.md: built-in kinds are not confined). */
	AL_KIND_BUILTIN = 2,
};

struct al_kind {
	const char *name;      /* as in the manifest's "kind" */
	unsigned flags;        /* AL_KIND_* */
	/* Before the run starts, what the manifest cannot say (validate: its
	 * schema file parses). NULL: nothing. */
	int (*check)(const struct al_step_ctx *c, struct al_err *err);
	/* The step's inputs beyond the STEP:FILE arguments of run and verify,
	 * added with al_step_add_input (validate: its input). NULL: none. */
	int (*inputs)(struct al_step_ctx *c, struct al_err *err);
	/* Starts an attempt: fills l. */
	int (*launch)(struct al_step_ctx *c, struct al_step_launch *l, struct al_err *err);
	/* The attempt's process has ended (exit as shells report it). The
	 * kind may audit what it did and explain a failure with
	 * al_step_reason; returns 1 when it did, 0 otherwise. end: the
	 * step.end fields so far. NULL: nothing to add. */
	int (*ended)(struct al_step_ctx *c, json_t *end, int exit_code, int timed_out);
	/* The step's final outcome: committed (ok), or failed for good. */
	void (*done)(struct al_step_ctx *c, int ok);
	/* AL_KIND_BUILTIN: the step's process, `airlock __builtin NAME SPEC
	 * RESULT` (the engine never calls it; steps/ dispatches to it). */
	int (*builtin_main)(json_t *spec, const char *result);
};

/* Appends an entry {run, step, attempt, fields...}; fields are consumed.
 * Fail-closed like every entry of a run: -1 once the log cannot be written. */
int al_step_audit(struct al_step_ctx *c, const char *event, json_t *fields);
/* An alert (audited, in the summary, counted in the metrics). */
void al_step_alert(struct al_step_ctx *c, const char *kind, const char *message, json_t *extra);
/* argv with bundle programs, files of the bundle and STEP:FILE
 * references resolved to absolute paths (malloc'd). */
char **al_step_argv(const struct al_step_ctx *c, const char *const *argv, struct al_err *err);
void al_step_argv_free(char **argv);
/* A STEP:FILE reference as a committed file's path, and as an input of
 * the step (hashed into step.start's inputs and the idempotency check). */
int al_step_add_input(struct al_step_ctx *c, const char *ref, struct al_err *err);
int al_step_ref_path(const struct al_step_ctx *c, const char *ref, char *out, size_t n);
/* The run summary as it stands (from the run's observer; NULL without one). */
json_t *al_step_summary(struct al_step_ctx *c);
/* The failure's reason (in step.end and the summary). */
void al_step_reason(struct al_step_ctx *c, const char *reason);
/* The failure is final: retrying cannot change it (on_failure decides). */
void al_step_no_retry(struct al_step_ctx *c);
/* The kind committed an output of its own that the zero-output alert
 * counts (validate's accepted records); empty: why it holds nothing
 * ("accepted no record"), or NULL. */
void al_step_output(struct al_step_ctx *c, const char *empty);

/* ---- observers ----
 *
 * A run's readers (report/: the metrics file, the run summary) see it
 * through a view the engine fills, when the engine says: after steps
 * end (at most once a second) and at the run's end. */

struct al_step_view {
	const char *id, *kind;
	const char *state;     /* pending, retrying, running, ok, failed, skipped */
	const char *status;    /* the last attempt's, or "" */
	const char *reason;    /* skipped or ok-as-committed: why; failed: the cause; or "" */
	int attempts;
	int exit_code;         /* -1: none */
	int64_t duration_ms;   /* -1: not ended */
	const json_t *outputs; /* [{path, sha256, size}] committed, or NULL */
};

struct al_run_view {
	const char *home, *run, *pipeline, *date;
	int64_t version;
	const char *resume_of; /* "" when none */
	const char *cause;     /* the first failure, or "" */
	int failed;            /* so far, as run.end will say */
	int halted;            /* the audit log could not be written: the run stopped */
	int unsigned_run;      /* from a directory (--unsigned): its outputs are scratch */
	struct al_state *st;
	const char *log_id;
	uint64_t first_seq, last_seq; /* the run's audit range so far */
	const json_t *alerts;  /* [{kind, step, message, seq}] */
	size_t steps_n;
	const struct al_step_view *steps;
};

struct al_run_observer {
	void *ctx;
	/* Steps ended (final: the run did). */
	void (*changed)(void *ctx, const struct al_run_view *v, int final);
	/* The run summary as it stands (airlock.summary/1), for notify steps. */
	json_t *(*summary)(void *ctx, const struct al_run_view *v);
};

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
	const char *step_user;    /* as root: the steps' user (NULL: airlock-step, else nobody) */
	int unconfined;           /* --unconfined-for-benchmarks: no step is confined (recorded) */
	const struct al_kind *const *kinds;   /* NULL-terminated: the step kinds */
	const struct al_run_observer *observer; /* or NULL */
	struct al_progress *progress; /* an unsigned directory's images unpacked; or NULL */
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
