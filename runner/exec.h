/* exec.h - the executor (exec.c): a step's process started, its output
 * captured, capped and hashed, its end seen; confined (confine.h: its own
 * namespaces, view, init, filters, identity) or, for airlock's own
 * built-in code, as before. Private to the engine. */
#ifndef AIRLOCK_EXEC_H
#define AIRLOCK_EXEC_H

#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"
#include "runner/confine.h"

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

/* A process to start. With confine set, argv[0] and every path in argv
 * and envp are the view's; cwd is then ignored (the step starts in
 * /airlock/out). */
struct al_proc_spec {
	const char *const *argv; /* argv[0] resolved to a path */
	const char *const *envp;
	const char *cwd;
	int net_none;            /* new network namespace */
	int64_t limit_cpu_s, limit_memory, limit_files, limit_procs; /* -1: not set */
	const char *out_path, *err_path;
	const char *stdin_path;  /* NULL: /dev/null (notify: the run summary) */
	uint64_t cap;
	/* NULL: unconfined (airlock's own code). Else its binds, files, ids
	 * and limits; argv, envp, stdio and net_none are filled from the
	 * fields above. */
	struct al_confine_spec *confine;
};

struct al_proc {
	pid_t pid;               /* the process group, or the confined step's init */
	uint64_t cap;            /* bytes kept of stdout, and of stderr */
	struct al_capture out, err;
	int64_t start_us, end_us;
	int exited, wstatus;     /* the step's own wait status (a confined step's, from its init) */
	int64_t drain_until_us;  /* after exit: stop waiting for the pipes' EOF */
	int confined;
	struct al_confine_proc cp; /* confined: the init, its status and layers */
};

/* Starts a process as DESIGN.md §8 describes. The child's setup failing
 * (chdir, exec, the namespace, the view) is reported here, with what
 * failed; a program that cannot be executed is err->code AL_EFAIL. */
int al_proc_spawn(struct al_proc *p, const struct al_proc_spec *s, struct al_err *err);
/* Reads what is available on one of the process's pipes into its log. */
void al_proc_read(struct al_proc *p, struct al_capture *c);
/* Sends sig to the process and what it started: its group, or for a
 * confined step its init (which forwards SIGTERM, SIGINT, SIGHUP and
 * SIGQUIT to the step's group; SIGKILL ends the whole namespace). */
void al_proc_signal(struct al_proc *p, int sig);
/* The process (pid, as waitpid gave it) exited with wstatus: for a
 * confined step the step's own status is read from its init; whatever
 * is left of the step is killed. */
void al_proc_exited(struct al_proc *p, int wstatus);
/* True once exited and both pipes are closed (or the drain time passed). */
int al_proc_done(struct al_proc *p, int64_t now_us);
/* Closes the logs and hashes; the capture sums are final. Releases a
 * confined step's init (its cgroup back to the pool). */
void al_proc_finish(struct al_proc *p);
/* Whether a new network namespace can be made here (a child tries). */
int al_netns_probe(struct al_err *err);

#endif
