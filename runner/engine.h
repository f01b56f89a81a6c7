/* engine.h - the run engine's own state, shared by its files and by no
 * one else (runner/README.md, "Files"). Not a public header.
 *
 * One run is a struct run; each of its steps a struct step_rt. From the
 * bottom up (a file calls only files above it in this list, never one
 * below: runner/README.md draws it):
 *
 *   state.c exec.c oplog.c   state.db, a process, the operator log
 *   images.c                 the steps' images: into the store, found there
 *   record.c                 the audit entry of a state change, state.db's batch
 *   resolve.c                a step's names: key, references, argv, env
 *   guards.c                 breakers, the secrets pre-flight, alerts
 *   commit.c                 inputs and the idempotency check, staging, promotion
 *   kind.c                   the step-kind and observer interfaces
 *   plan.c recover.c         the pipeline and the checks before a run; a crash's leftovers
 *   attempt.c                an attempt's life: start, end, retry, on_failure
 *   schedule.c               the loop
 *   run.c                    a run from start to end */
#ifndef AIRLOCK_ENGINE_H
#define AIRLOCK_ENGINE_H

#include <limits.h>
#include <string.h>

#include "runner.h"
#include "runner/exec.h"

enum st { S_PENDING, S_WAITING, S_RUNNING, S_OK, S_FAILED, S_SKIPPED };

/* The in-step view (QUEUE.md): where a confined step finds what it is
 * given, the same on every host. */
#define ENG_VIEW_BUNDLE "/airlock/bundle"   /* read-only */
#define ENG_VIEW_OUT "/airlock/out"         /* its outputs: AIRLOCK_OUT, HOME */
#define ENG_VIEW_IN "/airlock/in"           /* STEP/FILE: committed inputs, read-only */
#define ENG_VIEW_SECRETS "/airlock/secrets" /* NAME: its own copy, read-only */
#define ENG_VIEW_ITEMS "/airlock/items"     /* fan_out: this shard's items, read-only */

/* One attempt's view (view.c): the spec al_confine_spawn takes, and the
 * binds and files it points at (the secrets' bytes wiped by
 * eng_view_free). */
#define ENG_VIEW_BINDS_MAX 256
struct eng_view {
	struct al_confine_spec spec;
	struct al_confine_bind binds[ENG_VIEW_BINDS_MAX];
	size_t nbinds;
	struct al_confine_file files[ENG_VIEW_BINDS_MAX];
	size_t nfiles;
};

struct step_rt {
	const struct al_step *def;
	const struct al_kind *kind;
	int confined;            /* this attempt runs in its own view (view.c) */
	struct al_step_ctx ctx;  /* what the kind's hooks see */
	size_t idx;
	enum st state;
	int attempt;
	int phase;               /* 0: the step's command, 1: its verify command */
	int prepared;            /* inputs hashed, idempotency checked */
	size_t wait_on;          /* a need found unfinished at the last look */
	int forced, selected;
	int64_t ready_at_us;     /* a retry's time */
	struct al_proc proc;
	int running;
	int timed_out, term_sent, kill_sent;
	int64_t deadline_us, kill_at_us;
	int64_t note_at_us;      /* when to record the running step in state.db */
	char key[AL_SHA256_HEX];
	char inputs_sha[AL_SHA256_HEX];
	json_t *inputs;
	char rerun_reason[512];
	json_t *main_end;        /* the command's result while verify runs */
	int64_t start_us, end_us;
	int exit_code, sig;
	char status[16];
	char reason[512];
	char skip_reason[32];
	int no_retry;            /* the last failure is final (its kind said so) */
	json_t *committed;       /* the files the step committed, or its intact commit's */
	int own_output;          /* its kind reported an output of its own... */
	char own_empty[64];      /* ...empty, and why ("accepted no record"), or "" */
	char *items_path;        /* fan_out: this shard's items (malloc'd), or NULL */
	long items_n;
};

/* Where a run's outputs go, by its source (issue 20, separation of
 * duties): a signed bundle's into HOME/outputs/<pipeline>/<date>, kept
 * in state.db under the pipeline's name; an unsigned directory's
 * (--unsigned) into HOME/scratch/outputs/<pipeline>/<date>, under
 * "scratch:<pipeline>" (no pipeline name has a colon), so that nothing
 * of an unsigned run replaces or stands for a production output. */
static inline void eng_area(const char *home, const char *pipeline, const char *date,
                            const char *source, char *dir, size_t dn, char *key, size_t kn)
{
	int scratch = source != NULL && strcmp(source, "dir") == 0;

	al_snprintf(dir, dn, "%s/%soutputs/%s/%s", home, scratch ? "scratch/" : "", pipeline, date);
	al_snprintf(key, kn, "%s%s", scratch ? "scratch:" : "", pipeline);
}

struct run {
	const struct al_run_opts *o;
	struct al_manifest *m;
	char *mtext;
	size_t mlen;
	char msha[AL_SHA256_HEX];
	char source[16];
	char bundle_dir[PATH_MAX];
	char date[11];
	char id[48];
	char resume_of[48];
	char run_dir[PATH_MAX];
	char out_dir[PATH_MAX]; /* outputs/<pipeline>/<date>, or scratch/outputs/... */
	char commit_key[96];    /* the pipeline, or scratch:<pipeline> (eng_area) */
	int spare;              /* run_dir/stage/.spare is an empty directory */
	size_t lo;              /* every step before it is done */
	int no_commits;         /* (pipeline, date) had none when the run began */
	int tx;                 /* a state.db transaction is open... */
	int64_t tx_us;          /* ...since then */
	struct al_audit *log;
	struct al_state *st;
	struct step_rt *steps;
	size_t n;
	int sfd, lockfd;
	int images_lockfd;       /* the image store, held (shared) while the run uses it */
	int jobs, running_n;
	int aborting, interrupted, audit_failed, failed;
	int64_t retries[AL_STORM_RETRIES + 1];
	size_t retries_n;
	int64_t storm_until_us;
	int64_t start_us, grace_ms;
	struct al_err audit_err;
	json_t *alerts;          /* [{kind, step, message, seq}] raised by this run */
	uint64_t first_seq;      /* run.start's seq */
	int64_t metrics_us;      /* when the observer was last told */
	int metrics_dirty;       /* a step ended since */
	char cause[512];         /* the first failure's cause, for the summary */
	int preflight_failed;    /* a secret failed its pre-flight: only notify steps run */
	struct al_confine_host host; /* what this host can give a step (view.c) */
	int host_ready;
	uid_t step_uid, home_uid; /* as root: the steps' identity, and the home's owner */
	gid_t step_gid;
	json_t *images;          /* by manifest index: {name, digest, tree_sha256, root, env, path} */
	struct al_sinks sinks;   /* where the entries go as the run goes (ship.c) */
	int64_t shipped_us;      /* the last attempt */
	uint64_t ship_warned;    /* sinks whose failure this run has said */
	int lagging_n;           /* sinks past the lag limit when the run began */
};

/* ship.c: the sinks, read before run.start, and the home's lag policy
 * (halt: -1, err AL_EENV, an alert entry); an attempt to give each one
 * what it lacks (bounded: AL_SHIP_STEP_US during the run, AL_SHIP_FINAL_US
 * after run.end); released. */
int eng_ship_check(struct run *r, struct al_err *err);
void eng_ship(struct run *r, int final);
void eng_ship_end(struct run *r);

/* record.c: the audit entry of a state change; fields are consumed.
 * After the first failure every later call fails at once (fail-closed). */
int eng_audit(struct run *r, const char *event, json_t *fields, unsigned flags);
void eng_state_warn(struct run *r, const struct al_err *err);
/* state.db changes are batched in one transaction (eng_tx opens it if
 * none is open; eng_tx_flush commits it). */
void eng_tx(struct run *r);
void eng_tx_flush(struct run *r);
#define ENG_TX_BATCH_US 100000
/* A step's row in state.db. */
void eng_save_step(struct run *r, struct step_rt *s, const char *state, const char *staged);
void eng_step_row(const struct run *r, const struct step_rt *s, struct al_step_row *row,
                  const char *state);
extern const char *const eng_state_names[];

/* resolve.c: a step's names and the world it is given. */
void eng_idempotency_key(const struct run *r, const char *step, char out[AL_SHA256_HEX]);
/* Whether arg is STEP:FILE naming a step of the manifest. */
int eng_step_ref(const struct run *r, const char *arg, long *step, const char **file);
char **eng_resolve_argv(const struct run *r, const char *const *argv, int view,
                        struct al_err *err);
json_t *eng_argv_json(const char *const *argv);
void eng_free_argv(char **argv);
/* The environment of a step's process (malloc'd); view: as a confined
 * step sees its paths. */
char **eng_make_env(const struct run *r, const struct step_rt *s, const char *stage,
                    const char *quarantine, int view);

/* view.c: what a confined step is given, and the record of it. */
int eng_step_identity(struct run *r, struct al_err *err);
int eng_confine_prepare(struct run *r, struct al_err *err);
/* 1: the step runs confined; 0: it runs as airlock's own code does, and
 * why says why. */
int eng_confine_decide(struct run *r, struct step_rt *s, char *why, size_t n);
/* A step with "isolation": "strict": -1 (err) when this host cannot give
 * it every layer. */
int eng_strict_check(struct run *r, const struct step_rt *s, struct al_err *err);
/* Where PATH (resolved) stands to the airlock home: 1 the home or inside
 * it, 2 above it (it holds the home), 0 apart or not there. */
int eng_home_relation(const struct run *r, const char *path);
/* -1 (err) when a step's declared mount is, holds or is inside the home. */
int eng_mounts_check(const struct run *r, const struct step_rt *s, struct al_err *err);
int eng_view_build(struct run *r, struct step_rt *s, struct eng_view *v, struct al_err *err);
/* A secret's check command's view: the bundle, the secret's copy. */
int eng_view_check(struct run *r, const char *name, const char *file, struct eng_view *v,
                   struct al_err *err);
/* Whether this run confines what runs bundle code (steps, checks). */
int eng_confine_any(struct run *r, char *why, size_t n);
void eng_view_free(struct eng_view *v);
/* step.start's isolation: the layers planned (what the probe found);
 * eng_isolation_applied: those a spawn applied. */
json_t *eng_isolation_json(const struct run *r, const struct step_rt *s, const char *why);
json_t *eng_isolation_applied(const struct run *r, const struct step_rt *s,
                              const struct al_confine_layers *l);

/* images.c: the manifest's images, found in the store (an unsigned
 * directory's unpacked there first, audited); a step's image, or NULL. */
int eng_images_load(struct run *r, struct al_err *err);
json_t *eng_image_of(const struct run *r, const struct step_rt *s);

/* plan.c: the pipeline, the steps selected, what must hold before a run. */
int eng_load_target(struct run *r, struct al_err *err);
int eng_select_steps(struct run *r, struct al_err *err);
int eng_preflight(struct run *r, struct al_err *err);
int eng_print_plan(struct run *r);

/* commit.c: inputs and the idempotency check; staging and promotion. */
int eng_prepare(struct run *r, struct step_rt *s);
int eng_shard_items(struct run *r, struct step_rt *s);
int eng_add_inputs(const struct run *r, const char *const *argv, json_t *inputs, char *reason,
                   size_t rlen);
/* The stage's files hashed and checked against the step's outputs:
 * 0 with *files, or -1 with reason. */
int eng_stage_check(struct run *r, struct step_rt *s, json_t **files, char *reason, size_t rlen);
int eng_commit(struct run *r, struct step_rt *s, json_t *files, const struct al_attempt_row *a);
int eng_commit_intact(const char *home, const char *dir, json_t *files, json_t *phantoms, char *why, size_t wlen);
void eng_stage_path(const struct run *r, const struct step_rt *s, char *out, size_t n);
int eng_new_stage(struct run *r, const char *stage, struct al_err *err);

/* attempt.c: an attempt's life. */
void eng_start_attempt(struct run *r, struct step_rt *s);
/* The running step's rows in state.db (for airlock status). */
void eng_note_running(struct run *r, struct step_rt *s);
void eng_proc_ended(struct run *r, struct step_rt *s);
void eng_fail_final(struct run *r, struct step_rt *s);

/* schedule.c: the loop. */
void eng_loop(struct run *r);

/* recover.c: the pipeline's lock, and runs a crash interrupted. */
int eng_lock_pipeline(struct run *r, struct al_err *err);
void eng_lock_note(struct run *r);
int eng_recover(struct run *r, struct al_err *err);

/* kind.c: the step-kind and observer interfaces. */
/* Each step's kind, from the caller's table (a kind not there: refused). */
int eng_kinds(struct run *r, struct al_err *err);
void eng_ctx_init(struct run *r, struct step_rt *s);
void eng_ctx_attempt(struct run *r, struct step_rt *s);
/* The observers' cue: a step ended (final: the run did). */
void eng_observe(struct run *r, int final);

/* guards.c */
/* An alert: audited, kept for the summary, counted for the metrics. */
void eng_alert(struct run *r, const char *step, const char *kind, const char *message,
               json_t *extra);
/* An alert whose entry is already in the log (seq; 0: none could be
 * written): kept for the summary, counted for the metrics, said on the
 * operator log. */
void eng_alert_noted(struct run *r, const char *step, const char *kind, const char *message,
                     uint64_t seq);
/* Whether a step of a resource may start now: 1 yes, 0 not yet (a probe
 * of the half-open breaker is running), -1 no: the breaker is open
 * (s->reason says until when). */
int eng_breaker_admit(struct run *r, struct step_rt *s);
/* An attempt of a step with a resource ended (ok or not). */
void eng_breaker_result(struct run *r, struct step_rt *s, int ok);
/* Secrets pre-flight (DESIGN.md §8): 0 all good, -1 one failed (r->cause). */
int eng_secrets_check(struct run *r);

#endif
