/* confine.h - starting a step's process confined: its own PID, mount, IPC,
 * UTS (and, for network: none, network) namespaces, a private filesystem
 * view (the in-step view of QUEUE.md), a tini-like init as PID 1, rlimits,
 * no_new_privs, Landlock, a seccomp deny list and a per-step cgroup.
 *
 * Two calls do the work. al_confine_prepare, once per run, probes what the
 * host can give and compiles the seccomp filter; al_confine_spawn, per step,
 * starts the step and returns once it has exec'd (or with the stage that
 * failed: "cannot mount /airlock/bundle (bind of /x): EACCES").
 *
 * The caller waits for the init (waitpid on p->pid), then asks
 * al_confine_status for the step's own wait status and calls
 * al_confine_reap. Nothing here prints, exits or installs signal handlers;
 * al_confine_spawn blocks every signal while it runs.
 *
 * The init shares airlock's memory (CLONE_VM: no page tables are copied,
 * which halved a spawn's cost), on a stack that p owns until
 * al_confine_reap. So: reap only after waitpid; and an unprivileged airlock
 * must stay dumpable (PR_SET_DUMPABLE 1, the default), or its inits cannot
 * write their own uid_map. Spawn and reap of one host from one thread at a
 * time (the stack and cgroup pools). x86_64 only (system-call numbers, the
 * seccomp filter's architecture check, two lines of inline assembly). */
#ifndef AIRLOCK_CONFINE_H
#define AIRLOCK_CONFINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"

#define AL_CONFINE_SETUP_TIMEOUT_MS 60000 /* clone to exec, at most */
#define AL_CONFINE_TMP_DEFAULT (64 * 1024 * 1024) /* /tmp and /dev/shm size= */
#define AL_CONFINE_BINDS_MAX 256
#define AL_CONFINE_PATH_MAX 1024 /* longest host or in-view path accepted */

/* The layers the host probe and a spawn report on. */
enum al_confine_layer {
	AL_CONFINE_USERNS,
	AL_CONFINE_MOUNTNS, /* with the new mount API (open_tree, fsopen) */
	AL_CONFINE_PIDNS,
	AL_CONFINE_IPCNS,
	AL_CONFINE_UTSNS,
	AL_CONFINE_NETNS,
	AL_CONFINE_SECCOMP,
	AL_CONFINE_LANDLOCK,
	AL_CONFINE_CGROUP,
	AL_CONFINE_LAYER_COUNT
};

/* Which limits a cgroup applies (the controllers delegated to us). */
#define AL_CONFINE_LIMIT_MEMORY 1u /* memory.max */
#define AL_CONFINE_LIMIT_PIDS 2u   /* pids.max */
#define AL_CONFINE_LIMIT_CPU 4u    /* cpu.max */

struct al_confine_cache; /* confine_spawn.c: the seccomp BPF, the system part of the view */
struct al_cgroup_pool;   /* confine_cgroup.c: empty step cgroups for reuse */

/* What this host can give, found once per run by al_confine_prepare. */
struct al_confine_host {
	int root;                            /* geteuid() == 0: no user namespace, uid drop */
	int have[AL_CONFINE_LAYER_COUNT];    /* 1 when the layer works here */
	char why[AL_CONFINE_LAYER_COUNT][200]; /* for a missing layer: the call and errno */
	int landlock_abi;                    /* 0 when Landlock is unavailable */
	char cgroup_run[AL_CONFINE_PATH_MAX]; /* the per-run cgroup, "" when none */
	unsigned cgroup_limits;              /* AL_CONFINE_LIMIT_* the step cgroups can apply */
	int cgroup_kill;                     /* cgroup.kill exists (Linux 5.14) */
	char cgroup_own[AL_CONFINE_PATH_MAX]; /* airlock's cgroup when it moved out of it */
	unsigned cgroup_own_enabled;         /* controllers it enabled below that cgroup */
	struct al_confine_cache *cache;      /* owned; freed by al_confine_release */
};

/* A bind of a host path into the view. The host path is followed (the
 * caller vouches for it); the mount point is created without following
 * anything. */
struct al_confine_bind {
	const char *host; /* path on the host */
	const char *at;   /* absolute, under /airlock/, no "." or ".." */
	int rw;           /* 0: read-only; both are nosuid, nodev */
};

/* A file the view holds of its own, written into the step's private
 * root tmpfs (read-only, mode 0444, visible to the step alone): a
 * secret's copy, readable by the step's uid whoever owns the original. */
struct al_confine_file {
	const char *at;   /* absolute, under /airlock/, like a bind target */
	const void *data;
	size_t len;
};

struct al_confine_spec {
	const struct al_confine_host *host;
	const char *const *argv;  /* argv[0]: a path inside the view */
	const char *const *envp;
	int stdin_fd, out_fd, err_fd; /* dup2'd to 0, 1, 2; not closed */
	const struct al_confine_bind *binds; /* bundle, out, in/STEP/FILE, mounts */
	size_t nbinds;
	const struct al_confine_file *files; /* secrets */
	size_t nfiles;
	const char *root;         /* NULL: the host's /usr, /bin, ...; else an image's root */
	const char *cwd;          /* the step's working directory in the view; NULL: /airlock/out */
	const char *const *allow; /* NULL-terminated syscall names taken off the deny list */
	int net_none;             /* 1: own network namespace with only lo; 0: the host's */
	int strict;               /* refuse to start without every layer (see al_confine_spawn) */
	uid_t uid;                /* as root: the step's identity (not 0, not home_uid) */
	gid_t gid;
	uid_t home_uid;           /* owner of the airlock home */
	int64_t tmp_bytes;        /* size of /tmp and /dev/shm; 0: AL_CONFINE_TMP_DEFAULT */
	/* 1: the step runs as in_uid:in_gid inside a user namespace of its
	 * own that maps those ids, and only those, to its host ids (uid, or
	 * ours when not root), with no capability: an image's User. */
	int in_user;
	uint32_t in_uid, in_gid;
	/* -1: unset. memory: RLIMIT_AS and memory.max; procs: RLIMIT_NPROC and
	 * pids.max; cpus_milli: cpu.max (1000 = one CPU). */
	int64_t limit_cpu_s, limit_memory, limit_files, limit_procs, limit_cpus_milli;
};

/* What a spawn actually applied, for the audit log's step.start. */
struct al_confine_layers {
	int userns, mountns, pidns, ipcns, utsns, netns, seccomp;
	int landlock_abi;          /* 0: none */
	char cgroup[AL_CONFINE_PATH_MAX]; /* the step's cgroup, "" when none */
	unsigned cgroup_limits;    /* AL_CONFINE_LIMIT_* written */
	char cgroup_why[200];      /* why no cgroup, or no limits; "" otherwise */
	uid_t uid;                 /* the step's ids as the host sees them */
	gid_t gid;
};

struct al_confine_proc {
	pid_t pid;      /* the init: SIGTERM is forwarded to the step's group, SIGKILL ends all */
	int status_fd;  /* readable once the step and all its processes ended (poll it) */
	struct al_confine_layers layers;
	/* the rest is confine's own */
	int cgroup_fd;  /* the step's cgroup directory, -1 when none */
	unsigned long cgroup_seq;          /* its name, step-SEQ */
	int cgroup_killed;                 /* cgroup.kill was written: never reused */
	struct al_cgroup_pool *cgroup_pool; /* where it goes back to */
	void *stack;    /* the init runs on it (CLONE_VM): freed by al_confine_reap */
	struct al_confine_cache *cache; /* where the stack goes back to */
	int step_wstatus; /* the step's status, once read from status_fd */
	int step_wstatus_known;
};

/* Probes the host (user, mount, PID, IPC, UTS and network namespaces in a
 * throw-away child; the Landlock ABI; a delegated cgroup v2, in which it
 * creates the per-run cgroup), and compiles the default seccomp filter
 * once. A missing layer is not an error: h->have[] and h->why[] say what
 * is missing and why. Returns -1 (err set) only when it cannot probe at
 * all (no memory, no pipe, no fork, seccomp compilation failing). */
int al_confine_prepare(struct al_confine_host *h, struct al_err *err);

/* Removes the per-run cgroup and frees the cache. Safe on a zeroed h. */
void al_confine_release(struct al_confine_host *h);

/* The first layer a step would lack on this host, or -1: the mount and
 * PID namespaces, and unprivileged the user namespace, which the view
 * cannot exist without; with strict also the network namespace (when
 * net_none), seccomp and Landlock. IPC, UTS and the cgroup are never in
 * the strict set (a host without them is still a wall around the log). */
int al_confine_missing(const struct al_confine_host *h, int strict, int net_none);

/* Starts the step and returns once it has exec'd: 0, with p filled (the
 * caller owns p->pid and must reap it, then call al_confine_status and
 * al_confine_reap). -1 with err naming the stage, path and errno when the
 * spec is refused or the setup failed; nothing is left running then. A
 * step whose argv[0] cannot be executed is err->code AL_EFAIL.
 *
 * A layer al_confine_missing names is refused before anything starts;
 * the other layers the host lacks are skipped and p->layers says so. */
int al_confine_spawn(const struct al_confine_spec *s, struct al_confine_proc *p,
                     struct al_err *err);

/* The step's own wait status, given the init's: what the init wrote on the
 * status pipe, or init_wstatus itself when the pipe is empty (the init was
 * killed). Reads the pipe once; later calls return the same answer. */
int al_confine_status(struct al_confine_proc *p, int init_wstatus);

/* Kills every process of the step now: cgroup.kill when there is one
 * (that cgroup is then never reused), else SIGKILL to the init (which
 * ends its PID namespace). The caller still reaps p->pid. */
int al_confine_kill(struct al_confine_proc *p, struct al_err *err);

/* After the init was reaped: gives the step cgroup, empty by then, back to
 * the run's pool for the next step (al_confine_release removes them all);
 * one that still holds a process, or was killed, gets cgroup.kill and is
 * removed. Frees the init's stack and closes p's descriptors.
 * Never before the init is reaped (it runs on that stack). Safe to call
 * twice. Spawn and reap of one host are not thread-safe (the pools). */
void al_confine_reap(struct al_confine_proc *p);

/* Whether every name of allow is a system call the default filter
 * refuses (what a step may take off it): -1 with err naming the first
 * that is not. */
int al_confine_allow_check(const char *const *allow, struct al_err *err);

/* The layer's name ("netns", ...), for reports. */
const char *al_confine_layer_name(enum al_confine_layer l);

#endif
