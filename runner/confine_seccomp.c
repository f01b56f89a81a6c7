/* confine_seccomp.c - the seccomp deny list of a confined step, compiled
 * once per run with libseccomp into classic BPF that each step only loads.
 *
 * Default ALLOW (for the calls this table knows: newer ones get ENOSYS,
 * see newer_prefix), and EPERM for what a batch step never needs and an
 * attacker inside one would want: the table below, one group per
 * systemd set (@mount, @module, @raw-io, @reboot, @swap, @clock, @debug,
 * @obsolete, and the parts of @privileged a step can reach). Most of these
 * already fail for lack of capabilities; the filter is what still holds
 * when a kernel bug hands a step a capability or a namespace, and it shrinks
 * the kernel surface reachable from the step. A call of another
 * architecture (i386 through int 0x80, x32) kills the process: the table is
 * written for x86_64 numbers, and a foreign ABI would walk around it. */
#include "runner/confine_internal.h"

#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NS_CLONE_FLAGS                                                                   \
	(0x00020000ull /* NEWNS */ | 0x02000000ull /* NEWCGROUP */ |                    \
	 0x04000000ull /* NEWUTS */ | 0x08000000ull /* NEWIPC */ |                      \
	 0x10000000ull /* NEWUSER */ | 0x20000000ull /* NEWPID */ |                     \
	 0x40000000ull /* NEWNET */)

enum deny_kind {
	DENY,          /* EPERM, whatever the arguments */
	DENY_NS_CLONE, /* EPERM when a namespace flag is asked for */
	DENY_PERSONA,  /* EPERM unless PER_LINUX */
	DENY_NOSYS,    /* ENOSYS: libc falls back to a call we can filter */
};

static const struct deny_rule {
	const char *name;
	enum deny_kind kind;
} deny_table[] = {
	/* @mount, and pivot_root/chroot: a step that could mount could shadow
	 * /airlock/bundle with its own files, or remount a read-only bind
	 * writable. The new mount API too (open_tree clones any mount it can
	 * see, fsopen/fspick reconfigure a superblock). */
	{"mount", DENY}, {"umount2", DENY}, {"pivot_root", DENY}, {"chroot", DENY},
	{"move_mount", DENY}, {"open_tree", DENY}, {"fsopen", DENY}, {"fsmount", DENY},
	{"fsconfig", DENY}, {"fspick", DENY}, {"mount_setattr", DENY},
	/* Namespaces: a new user namespace hands the step every capability in
	 * it (and with them the kernel code paths behind CAP_SYS_ADMIN, where
	 * most namespace escapes were found); setns would join another one.
	 * clone is filtered on its flags; clone3 passes its flags in memory,
	 * which BPF cannot read, so it gets ENOSYS and libc falls back to
	 * clone (what systemd and Docker do). */
	{"unshare", DENY}, {"setns", DENY}, {"clone", DENY_NS_CLONE}, {"clone3", DENY_NOSYS},
	/* @debug: reading or writing another process's memory (the init holds
	 * a copy of airlock's memory), or the kernel's through perf. */
	{"ptrace", DENY}, {"process_vm_readv", DENY}, {"process_vm_writev", DENY},
	{"perf_event_open", DENY}, {"lookup_dcookie", DENY}, {"pidfd_getfd", DENY},
	/* bpf: verifier bugs are a steady source of local root exploits. */
	{"bpf", DENY},
	/* @module and @reboot: loading kernel code, replacing the kernel. */
	{"init_module", DENY}, {"finit_module", DENY}, {"delete_module", DENY},
	{"kexec_load", DENY}, {"kexec_file_load", DENY}, {"reboot", DENY},
	/* @swap. */
	{"swapon", DENY}, {"swapoff", DENY},
	/* @clock: moving the host clock would falsify the audit log's
	 * timestamps. adjtimex stays allowed: its modes are in a struct the
	 * filter cannot read, and a step that has no CAP_SYS_TIME (none has)
	 * gets EPERM from the kernel for any mode that writes. */
	{"clock_settime", DENY}, {"clock_adjtime", DENY}, {"settimeofday", DENY},
	/* Keyrings: the kernel keyring is shared by every process of a uid;
	 * a step must not read or plant keys. */
	{"keyctl", DENY}, {"add_key", DENY}, {"request_key", DENY},
	/* @raw-io and @cpu-emulation: port I/O, the LDT. */
	{"iopl", DENY}, {"ioperm", DENY}, {"modify_ldt", DENY},
	/* open_by_handle_at opens a file by inode handle, past every mount
	 * (the "shocker" container escape); name_to_handle_at is its probe. */
	{"name_to_handle_at", DENY}, {"open_by_handle_at", DENY},
	/* userfaultfd stretches kernel race windows at will (an exploit
	 * primitive); io_uring runs file and socket operations that seccomp
	 * never sees and has been a leading source of kernel exploits. */
	{"userfaultfd", DENY}, {"io_uring_setup", DENY}, {"io_uring_enter", DENY},
	{"io_uring_register", DENY},
	/* @privileged odds and ends: process accounting, quotas, the kernel
	 * log, hanging up the terminal, the host name of another namespace. */
	{"acct", DENY}, {"quotactl", DENY}, {"quotactl_fd", DENY}, {"syslog", DENY},
	{"vhangup", DENY}, {"sethostname", DENY}, {"setdomainname", DENY},
	/* personality: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE and the old ABIs
	 * weaken the exploit mitigations of the step's own children. Only
	 * PER_LINUX is allowed (as systemd's LockPersonality). */
	{"personality", DENY_PERSONA},
	/* @obsolete (those x86_64 still numbers): dead code paths. */
	{"_sysctl", DENY}, {"uselib", DENY}, {"ustat", DENY}, {"sysfs", DENY},
	{"create_module", DENY}, {"get_kernel_syms", DENY}, {"query_module", DENY},
	{"nfsservctl", DENY}, {"afs_syscall", DENY}, {"tuxcall", DENY}, {"security", DENY},
	{"vserver", DENY}, {"getpmsg", DENY}, {"putpmsg", DENY},
};

#define DENY_COUNT (sizeof deny_table / sizeof deny_table[0])

/* What no manifest can give back: the walls of the view itself (mounts,
 * namespaces, handles past every mount) and the kernel's own code. */
static const char *const never_allowed[] = {
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
	"fsmount", "fsconfig", "fspick", "mount_setattr", "unshare", "setns", "clone", "clone3",
	"open_by_handle_at", "name_to_handle_at", "init_module", "finit_module", "delete_module",
	"kexec_load", "kexec_file_load", "reboot", "bpf",
};

/* Marks the allowed names in keep[] (0: taken off the list). An unknown
 * name, one the table does not deny, or one never allowed is an error
 * naming it: a typo in a manifest must not pass silently. */
static int allow_apply(const char *const *allow, unsigned char *keep, struct al_err *err)
{
	for (size_t i = 0; allow != NULL && allow[i] != NULL; i++) {
		size_t j;
		for (j = 0; j < sizeof never_allowed / sizeof never_allowed[0]; j++)
			if (strcmp(allow[i], never_allowed[j]) == 0)
				return al_err_set(err, AL_EUSAGE,
				                  "seccomp allow: \"%s\" is never allowed to a step (the walls of "
				                  "its view, new namespaces, kernel code)",
				                  allow[i]);
		for (j = 0; j < DENY_COUNT; j++)
			if (strcmp(allow[i], deny_table[j].name) == 0)
				break;
		if (j == DENY_COUNT) {
			if (seccomp_syscall_resolve_name(allow[i]) == __NR_SCMP_ERROR)
				return al_err_set(err, AL_EUSAGE, "seccomp allow: \"%s\" is not a system call",
				                  allow[i]);
			return al_err_set(err, AL_EUSAGE,
			                  "seccomp allow: \"%s\" is not on airlock's deny list", allow[i]);
		}
		keep[j] = 0;
	}
	return 0;
}

int al_confine_allow_check(const char *const *allow, struct al_err *err)
{
	unsigned char keep[DENY_COUNT];

	return allow_apply(allow, keep, err);
}

static int rule_add(scmp_filter_ctx ctx, const struct deny_rule *r)
{
	int nr = seccomp_syscall_resolve_name(r->name);
	int rc = 0;

	if (nr == __NR_SCMP_ERROR)
		return -ENOENT;
	switch (r->kind) {
	case DENY:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	case DENY_NOSYS:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
	case DENY_PERSONA:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, SCMP_A0(SCMP_CMP_NE, 0));
	case DENY_NS_CLONE:
		/* one rule per flag: libseccomp has no "masked not equal" */
		for (int bit = 0; bit < 64 && rc == 0; bit++) {
			uint64_t f = 1ull << bit;
			if (NS_CLONE_FLAGS & f)
				rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
				                      SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		}
		return rc;
	}
	return -EINVAL;
}

/* Default allow must not mean "allow what the table has never heard of":
 * a kernel newer than this table brings calls it cannot name (Linux 6.15's
 * open_tree_attr clones a mount like open_tree). Every x86_64 call number
 * above NEWEST_KNOWN gets ENOSYS, as Docker's profile does: libc treats
 * that as an older kernel and falls back. libseccomp has no rule for a
 * range of numbers, so these classic BPF instructions go in front of its
 * program; a foreign architecture, and x32's numbers (bit 30), fall
 * through to its architecture check, which kills. */
#define NEWEST_KNOWN 450 /* set_mempolicy_home_node, Linux 5.17 */
#define AUDIT_ARCH_X86_64_ 0xc000003eu
#define BPF_LD_W_ABS 0x20   /* BPF_LD | BPF_W | BPF_ABS */
#define BPF_JEQ_K 0x15      /* BPF_JMP | BPF_JEQ | BPF_K */
#define BPF_JGE_K 0x35
#define BPF_JGT_K 0x25
#define BPF_RET_K 0x06
#define SECCOMP_RET_ERRNO_ 0x00050000u
static const struct al_sock_filter newer_prefix[] = {
	{BPF_LD_W_ABS, 0, 0, 4},                           /* seccomp_data.arch */
	{BPF_JEQ_K, 0, 4, AUDIT_ARCH_X86_64_},             /* else: libseccomp's check */
	{BPF_LD_W_ABS, 0, 0, 0},                           /* seccomp_data.nr */
	{BPF_JGE_K, 2, 0, 0x40000000u},                    /* x32: libseccomp's check */
	{BPF_JGT_K, 0, 1, NEWEST_KNOWN},
	{BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO_ | ENOSYS},
};
#define PREFIX_LEN (sizeof newer_prefix / sizeof newer_prefix[0])

/* Reads the exported program back from the memfd into malloc'd memory,
 * after newer_prefix. */
static int bpf_read(int fd, struct al_sock_fprog *prog, struct al_err *err)
{
	off_t size = lseek(fd, 0, SEEK_END);
	struct al_sock_filter *f;
	size_t n;

	if (size <= 0 || size % (off_t)sizeof *f != 0 ||
	    size / (off_t)sizeof *f > 0xffff - (off_t)PREFIX_LEN)
		return al_err_set(err, AL_EENV, "seccomp: exported filter has a bad size (%lld)",
		                  (long long)size);
	n = (size_t)size / sizeof *f;
	f = calloc(n + PREFIX_LEN, sizeof *f);
	if (f == NULL)
		return al_err_sys(err, "seccomp: cannot allocate the filter");
	memcpy(f, newer_prefix, sizeof newer_prefix);
	if (pread(fd, f + PREFIX_LEN, (size_t)size, 0) != size) {
		free(f);
		return al_err_sys(err, "seccomp: cannot read the exported filter");
	}
	prog->filter = f;
	prog->len = (unsigned short)(n + PREFIX_LEN);
	return 0;
}

int al_confine_seccomp_compile(const char *const *allow, struct al_sock_fprog *prog,
                               struct al_err *err)
{
	unsigned char keep[DENY_COUNT];
	scmp_filter_ctx ctx = NULL;
	int fd = -1, rc = -1, r;

	memset(keep, 1, sizeof keep);
	prog->filter = NULL;
	prog->len = 0;
	if (allow_apply(allow, keep, err) < 0)
		goto out;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL) {
		al_err_set(err, AL_EENV, "seccomp: cannot start a filter (seccomp_init)");
		goto out;
	}
	/* a foreign ABI (i386 int 0x80, x32) would number calls differently */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* the step sets it itself */
	/* a binary search over the call numbers: the kernel emulates the
	 * filter for every number when it is loaded (its allow-cache), which
	 * made loading cost 0.16 ms a step; 0.11 ms so */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0) {
		errno = -r;
		al_err_sys(err, "seccomp: cannot configure the filter");
		goto out;
	}
	for (size_t i = 0; i < DENY_COUNT; i++) {
		if (!keep[i])
			continue;
		r = rule_add(ctx, &deny_table[i]);
		if (r == -ENOENT) { /* fail closed: a libseccomp older than the table */
			al_err_set(err, AL_EENV,
			           "seccomp: this libseccomp does not know %s, which steps must "
			           "not call (libseccomp 2.5.4 or newer is needed)",
			           deny_table[i].name);
			goto out;
		}
		if (r < 0) {
			errno = -r;
			al_err_sys(err, "seccomp: cannot add the rule for %s", deny_table[i].name);
			goto out;
		}
	}
	fd = memfd_create("airlock-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		al_err_sys(err, "seccomp: cannot create a memfd for the filter");
		goto out;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0) {
		errno = -r;
		al_err_sys(err, "seccomp: cannot export the filter");
		goto out;
	}
	rc = bpf_read(fd, prog, err);
out:
	if (fd >= 0)
		close(fd);
	if (ctx != NULL)
		seccomp_release(ctx);
	return rc;
}
