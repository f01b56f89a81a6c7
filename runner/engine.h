/* engine.h - the run engine's internal state, shared by run.c (the
 * scheduler and executor's bookkeeping) and guards.c (breakers, secrets
 * pre-flight, alerts, the run summary). Not a public header. */
#ifndef AIRLOCK_ENGINE_H
#define AIRLOCK_ENGINE_H

#include <limits.h>

#include "runner.h"

enum st { S_PENDING, S_WAITING, S_RUNNING, S_OK, S_FAILED, S_SKIPPED };


struct step_rt {
	const struct al_step *def;
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
	int no_retry;            /* the last failure is final (a built-in kind said so) */
	json_t *committed;       /* the files the step committed, or its intact commit's */
	int empty_output;        /* a validate step accepted no record */
	char *items_path;        /* fan_out: this shard's items (malloc'd), or NULL */
	long items_n;
};

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
	char out_dir[PATH_MAX]; /* outputs/<pipeline>/<date> */
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
	int jobs, running_n;
	int aborting, interrupted, audit_failed, failed;
	int64_t retries[AL_STORM_RETRIES + 1];
	size_t retries_n;
	int64_t storm_until_us;
	int64_t start_us, grace_ms;
	struct al_err audit_err;
	json_t *alerts;          /* [{kind, step, message, seq}] raised by this run */
	uint64_t first_seq;      /* run.start's seq */
	int64_t metrics_us;      /* when metrics/airlock.prom was last written */
	int metrics_dirty;       /* a step ended since */
	char cause[512];         /* the first failure's cause, for the summary */
	int preflight_failed;    /* a secret failed its pre-flight: only notify steps run */
};

/* run.c */
/* The audit entry of a state change; fields are consumed (fail-closed). */
int eng_audit(struct run *r, const char *event, json_t *fields, unsigned flags);
void eng_state_warn(struct run *r, const struct al_err *err);
/* Opens the batched state.db transaction if none is open. */
void eng_tx(struct run *r);
/* argv with bundle programs and step:file references resolved (malloc'd). */
char **eng_resolve_argv(const struct run *r, const char **argv, struct al_err *err);
void eng_free_argv(char **argv);
/* The environment of a step's process (malloc'd). */
char **eng_make_env(const struct run *r, const struct step_rt *s, const char *stage,
                    const char *quarantine);

/* guards.c */
/* An alert: audited, kept for the summary, counted for the metrics. */
void eng_alert(struct run *r, const char *step, const char *kind, const char *message,
               json_t *extra);
/* Whether a step of a resource may start now: 1 yes, 0 not yet (a probe
 * of the half-open breaker is running), -1 no: the breaker is open
 * (s->reason says until when). */
int eng_breaker_admit(struct run *r, struct step_rt *s);
/* An attempt of a step with a resource ended (ok or not). */
void eng_breaker_result(struct run *r, struct step_rt *s, int ok);
/* Secrets pre-flight (DESIGN.md §8): 0 all good, -1 one failed (r->cause). */
int eng_secrets_check(struct run *r);
/* The run summary (airlock.summary/1) given to notify steps. */
json_t *eng_summary(struct run *r);

#endif