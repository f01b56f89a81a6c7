/* confine_internal.h - what confine_spawn.c (the parent's side), confine_child.c
 * (the init and the step) and confine_seccomp.c share; not part of the API.
 *
 * System-call numbers and constants are defined here rather than taken
 * from <linux/...> headers: musl ships none, and glibc's <sys/mount.h>
 * clashes with <linux/mount.h>. Values are the kernel's (x86_64). */
#ifndef AIRLOCK_CONFINE_INTERNAL_H
#define AIRLOCK_CONFINE_INTERNAL_H

#include "runner/confine.h"

#include <stdint.h>
#include <sys/syscall.h>

#if !defined(__x86_64__)
#error "confine: x86_64 only (system-call numbers and the seccomp architecture check)"
#endif

/* ---- system calls newer than the headers we may build with ---- */
#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

/* ---- the new mount API (Linux 5.2; mount_setattr 5.12) ---- */
#define AL_OPEN_TREE_CLONE 1u
#define AL_AT_RECURSIVE 0x8000
#define AL_MOVE_MOUNT_F_EMPTY_PATH 0x4u
#define AL_MOVE_MOUNT_T_EMPTY_PATH 0x40u
#define AL_FSOPEN_CLOEXEC 1u
#define AL_FSMOUNT_CLOEXEC 1u
#define AL_FSCONFIG_SET_STRING 1u
#define AL_FSCONFIG_CMD_CREATE 6u
#define AL_MOUNT_ATTR_RDONLY 0x1u
#define AL_MOUNT_ATTR_NOSUID 0x2u
#define AL_MOUNT_ATTR_NODEV 0x4u
#define AL_MOUNT_ATTR_NOEXEC 0x8u
#define AL_MS_PRIVATE (1u << 18)

struct al_mount_attr { /* struct mount_attr, MOUNT_ATTR_SIZE_VER0 */
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

/* ---- clone3 (Linux 5.3; CLONE_INTO_CGROUP 5.7) ---- */
#define AL_CLONE_INTO_CGROUP 0x200000000ull
struct al_clone_args { /* struct clone_args, CLONE_ARGS_SIZE_VER2 */
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

#define AL_CLOSE_RANGE_CLOEXEC (1u << 2)

/* ---- Landlock ---- */
#define AL_LANDLOCK_CREATE_RULESET_VERSION 1u
#define AL_LANDLOCK_RULE_PATH_BENEATH 1
#define AL_LL_EXECUTE (1ull << 0)
#define AL_LL_WRITE_FILE (1ull << 1)
#define AL_LL_READ_FILE (1ull << 2)
#define AL_LL_READ_DIR (1ull << 3)
#define AL_LL_REMOVE_DIR (1ull << 4)
#define AL_LL_REMOVE_FILE (1ull << 5)
#define AL_LL_MAKE_CHAR (1ull << 6)
#define AL_LL_MAKE_DIR (1ull << 7)
#define AL_LL_MAKE_REG (1ull << 8)
#define AL_LL_MAKE_SOCK (1ull << 9)
#define AL_LL_MAKE_FIFO (1ull << 10)
#define AL_LL_MAKE_BLOCK (1ull << 11)
#define AL_LL_MAKE_SYM (1ull << 12)
#define AL_LL_REFER (1ull << 13)     /* ABI 2 */
#define AL_LL_TRUNCATE (1ull << 14)  /* ABI 3 */
#define AL_LL_IOCTL_DEV (1ull << 15) /* ABI 5 */
#define AL_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0) /* ABI 6 */
#define AL_LL_SCOPE_SIGNAL (1ull << 1)               /* ABI 6 */

struct al_landlock_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

struct __attribute__((packed)) al_landlock_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
};

/* ---- seccomp (struct sock_filter / sock_fprog of <linux/filter.h>) ---- */
struct al_sock_filter {
	uint16_t code;
	uint8_t jt;
	uint8_t jf;
	uint32_t k;
};
struct al_sock_fprog {
	unsigned short len;
	struct al_sock_filter *filter;
};
#define AL_SECCOMP_MODE_FILTER 2

/* Compiles the deny list minus `allow` (NULL-terminated names, may be
 * NULL) into classic BPF: *prog->filter is malloc'd. An unknown name in
 * allow is an error naming it. confine_seccomp.c. */
int al_confine_seccomp_compile(const char *const *allow, struct al_sock_fprog *prog,
                               struct al_err *err);

/* ---- the filesystem view, as a list of operations ---- */

enum al_op_kind {
	AL_OP_DIR,     /* mkdir at */
	AL_OP_SYMLINK, /* symlink src -> at */
	AL_OP_FILE,    /* a file at with data (passwd, group) */
	AL_OP_BIND,    /* bind the host's src at */
	AL_OP_TMPFS,   /* a fresh tmpfs at, options in data ("size", "nr_inodes", "mode") */
	AL_OP_PROC,    /* a fresh proc at */
};

#define AL_OPF_OPTIONAL 1u  /* BIND: a missing source is skipped */
#define AL_OPF_RECURSIVE 2u /* BIND: with the source's submounts */
#define AL_OPF_WRITABLE 4u  /* Landlock: writable beneath at */
#define AL_OPF_DEVICES 8u   /* Landlock: device nodes beneath at (write, ioctl) */
#define AL_OPF_NOFOLLOW 16u /* BIND: never follow a symlink at src (an image's entries) */

struct al_op {
	enum al_op_kind kind;
	unsigned flags;
	uint64_t attr;     /* MOUNT_ATTR_* set on the mount */
	const char *at;    /* in the view, without the leading "/" */
	const char *src;   /* BIND: the host path; SYMLINK: the target */
	const char *data;  /* FILE: the bytes; TMPFS: size, nr_inodes, mode strings */
	size_t len;        /* FILE: the length */
	int bind;          /* the index in spec->binds, -1 for the view's own */
	int fd;            /* child only: the cloned tree, -1 until then */
};

struct al_plan {
	struct al_op *ops;
	size_t n, cap;
	char passwd[512];
	char group[256];
	char tmp_size[24];    /* size= of /tmp and /dev/shm */
	char tmp_inodes[24];  /* nr_inodes= of both */
	const char *tmp_kv[7]; /* "size", tmp_size, "nr_inodes", ..., "mode", "1777", NULL */
	char **owned;         /* strings the plan allocated (image entries) */
	size_t nowned;
};

/* Plans, confine_view.c. plan_system plans the host's system part and,
 * for network: host, its name resolution files (once per run); plan_build
 * plans one step's whole view into pl, with sys and net (their strings
 * stay theirs); plan_free frees what a plan owns. -1 with err when out of
 * memory, or the image root cannot be read. */
int al_confine_plan_system(struct al_plan *sys, struct al_plan *net, struct al_err *err);
int al_confine_plan_build(const struct al_confine_spec *s, const struct al_plan *sys,
                          const struct al_plan *net, uid_t uid, gid_t gid, struct al_plan *pl,
                          struct al_err *err);
void al_confine_plan_free(struct al_plan *pl);

/* How a failed setup stage reaches the parent (the report pipe). */
struct al_report {
	int stage; /* enum al_stage */
	int op;    /* index in plan->ops, -1 when none */
	int err;   /* errno */
};

enum al_stage {
	AL_STAGE_OK = 0,
	AL_STAGE_PARENT_DIED,
	AL_STAGE_USERNS_MAP,
	AL_STAGE_PRIVATE,
	AL_STAGE_CLONE_TREE,
	AL_STAGE_MOUNT_ATTR,
	AL_STAGE_ROOT_TMPFS,
	AL_STAGE_MOUNTPOINT,
	AL_STAGE_ATTACH,
	AL_STAGE_SYMLINK,
	AL_STAGE_FILE,
	AL_STAGE_TMPFS,
	AL_STAGE_PROC,
	AL_STAGE_ROOT_READONLY,
	AL_STAGE_PIVOT,
	AL_STAGE_HOSTNAME,
	AL_STAGE_LOOPBACK,
	AL_STAGE_CGROUP_SYNC,
	AL_STAGE_FORK,
	AL_STAGE_SESSION,
	AL_STAGE_IDS,
	AL_STAGE_CAPS,
	AL_STAGE_IN_USER,
	AL_STAGE_PDEATHSIG,
	AL_STAGE_RLIMIT,
	AL_STAGE_NO_NEW_PRIVS,
	AL_STAGE_STDIO,
	AL_STAGE_CHDIR,
	AL_STAGE_LANDLOCK,
	AL_STAGE_SECCOMP,
	AL_STAGE_EXEC,
};

/* Everything the clone child needs, built by the parent before clone: the
 * child runs with no malloc and no stdio (the parent may have threads
 * holding their locks), only system calls over this memory. */
struct al_child {
	const struct al_confine_spec *s;
	struct al_plan *plan;
	const struct al_sock_fprog *bpf; /* NULL: no seccomp layer */
	int userns;       /* a user namespace was asked for: write the maps */
	int root_mode;    /* drop to uid/gid in the step */
	uid_t uid;        /* the step's ids (host view) */
	gid_t gid;
	int landlock_abi;
	int report_w;     /* setup failures, then EOF at exec */
	int status_w;     /* the step's wait status */
	int life_r;       /* HUP when the parent died; one byte once we are in the cgroup */
	int need_sync;    /* set in the child when clone3 could not place it */
	int utsns;        /* set the host name */
	int netns;        /* bring lo up */
	char uid_map[40];
	char gid_map[40];
	/* an image's User: the step's own user namespace, its maps written by
	 * the init (which holds CAP_SETUID over it) before it goes on */
	int in_user;
	int go_r;         /* the step waits here for its maps */
	char in_uid_map[40];
	char in_gid_map[40];
};

/* Empty step cgroups kept for reuse: creating and removing one per step
 * cost ~0.2 ms here (and kernel work in the background to free it). */
#define AL_CGROUP_POOL 16
struct al_cgroup_pool {
	int fd[AL_CGROUP_POOL];
	unsigned long seq[AL_CGROUP_POOL]; /* names step-SEQ */
	size_t n;
	unsigned long next_seq;
};

/* The cgroups, confine_cgroup.c. probe fills h's cgroup fields (a missing
 * cgroup is not an error: h->why says why); step_make gives the step a
 * cgroup with its limits (p->cgroup_fd, p->layers.cgroup*), from the
 * pool or new; step_remove kills what is left in it and puts it back in
 * the pool (or removes it); run_remove removes the pool and the run's
 * cgroup. */
void al_confine_cgroup_probe(struct al_confine_host *h);
void al_confine_cgroup_run_remove(struct al_confine_host *h, struct al_cgroup_pool *pool);
int al_confine_cgroup_step_make(const struct al_confine_spec *s, struct al_cgroup_pool *pool,
                                struct al_confine_proc *p, struct al_err *err);
int al_confine_cgroup_kill(struct al_confine_proc *p);
void al_confine_cgroup_step_remove(struct al_confine_proc *p);

/* The init's entry (arg: a struct al_child), on its own stack: never
 * returns. confine_child.c. */
int al_confine_child(void *arg);

/* The init's stack: the step's (32 KiB, while it shares it) and the
 * init's own frames. */
#define AL_INIT_STACK (128 * 1024)

#endif
