/* core.h - the public API of airlock's core library: errors, hashing,
 * minisign-compatible keys and signatures, JSON and time helpers, safe file
 * I/O and the system-call table that tests use to inject faults.
 *
 * core depends on no other airlock module. Every function that can fail
 * returns 0 (or a non-NULL pointer) on success and -1 (or NULL) on failure,
 * after filling the caller's struct al_err with a message that names the
 * file, line, field or member at fault. Nothing here prints or exits. */
#ifndef AIRLOCK_CORE_H
#define AIRLOCK_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#define AL_VERSION "0.1.0"

#define AL_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ------------------------------------------------------------------ */
/* Errors and exit codes (DESIGN.md §8, "Exit codes").                 */

enum al_code {
	AL_OK = 0,
	AL_EFAIL = 1,    /* a run or check failed */
	AL_EUSAGE = 2,   /* usage, format or manifest error */
	AL_EVERIFY = 3,  /* signature, hash or tamper check failed */
	AL_EENV = 4,     /* I/O, disk full, permissions */
	AL_EBUSY = 75,   /* locked or busy (EX_TEMPFAIL) */
	AL_EINTR = 130,  /* interrupted */
};

struct al_err {
	int code;       /* an enum al_code: the exit code the top level uses */
	int sys_errno;  /* errno behind the failure, 0 when none */
	char msg[1024]; /* names the file, line, field or member at fault */
};

/* Sets err (when not NULL) and returns -1, so that a helper can say
 * `return al_err_set(err, AL_EUSAGE, "%s: ...", path);`. */
int al_err_set(struct al_err *err, int code, const char *fmt, ...) AL_PRINTF(3, 4);

/* Like al_err_set, and appends ": strerror(errno) (ENAME)". The code is
 * chosen from errno by al_code_for_errno. errno is preserved. */
int al_err_sys(struct al_err *err, const char *fmt, ...) AL_PRINTF(2, 3);

/* Prefixes the message already in err with "<prefix>: ". */
void al_err_prefix(struct al_err *err, const char *fmt, ...) AL_PRINTF(2, 3);

void al_err_clear(struct al_err *err);

/* ENOENT, ENOTDIR, ELOOP, EISDIR, ENAMETOOLONG (a path the user named is
 * wrong) map to AL_EUSAGE; everything else (EACCES, ENOSPC, EIO, EROFS…)
 * to AL_EENV. */
int al_code_for_errno(int e);

/* ------------------------------------------------------------------ */
/* An atomic tar.zst (tarzst.c).                                        */

struct archive;

/* A pax tar with a zstd filter, written to OUT.tmp.PID and renamed over
 * OUT only by al_tarzst_commit: no half-written archive is ever under
 * OUT. The same settings give the same bytes (bundles are reproducible). */
struct al_tarzst {
	struct archive *a;
	int fd;
	const char *out;      /* the caller's string */
	char tmp[4200];       /* "" once renamed or removed */
};

int al_tarzst_open(struct al_tarzst *t, const char *out, int level, struct al_err *err);
/* A regular file of n bytes from memory; from fd (exactly size bytes:
 * fewer is "changed while it was read"). uid and gid are 0. */
int al_tarzst_add(struct al_tarzst *t, const char *name, const void *data, size_t n,
                  unsigned mode, int64_t mtime, struct al_err *err);
int al_tarzst_add_fd(struct al_tarzst *t, const char *name, int fd, uint64_t size, unsigned mode,
                     int64_t mtime, struct al_err *err);
/* The libarchive handle, to copy members of another archive as they are. */
struct archive *al_tarzst_archive(struct al_tarzst *t);
/* Closes, fsyncs, renames into place, fsyncs the directory; then, or on
 * failure, releases everything (the temporary file is removed). */
int al_tarzst_commit(struct al_tarzst *t, struct al_err *err);
/* Releases everything and removes the temporary file; errno is kept. */
void al_tarzst_abort(struct al_tarzst *t);

/* ------------------------------------------------------------------ */
/* Identity.                                                           */

/* The name of the real uid's passwd entry, or NULL when it has none (a
 * step's dynamic uid). Looked up once per uid; static storage. */
const char *al_user_name(void);
/* gethostname(), or "unknown"; static storage. */
const char *al_host_name(void);
/* The systemd unit this process runs in (airlock@nightly.service), or
 * NULL when it was not started by systemd. */
const char *al_systemd_unit(void);

/* ------------------------------------------------------------------ */
/* System-call table (STYLE.md item 7).                                */

/* Every system call whose failure the audit writer, the state store and
 * the executor must survive goes through this table, so that tests can
 * make it fail without a full disk. Entries point at the libc calls by
 * default; a test may replace any of them. */
struct al_sys {
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*fsync)(int fd);
	int (*fdatasync)(int fd);
	int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
	int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
	int (*mkdirat)(int dirfd, const char *path, mode_t mode);
	int (*ftruncate)(int fd, off_t len);
	pid_t (*fork)(void);
	int (*syncfs)(int fd);
	/* The clock, so that a unit test can move it back (clock.backwards);
	 * no environment variable reaches it: timestamps are evidence. */
	int (*clock_gettime)(clockid_t clock, struct timespec *ts);
};
extern struct al_sys al_sys;

enum al_sys_call {
	AL_SYS_WRITE,
	AL_SYS_FSYNC,
	AL_SYS_FDATASYNC,
	AL_SYS_RENAME,
	AL_SYS_OPEN,
	AL_SYS_MKDIR,
	AL_SYS_FTRUNCATE,
	AL_SYS_FORK,
	AL_SYS_SYNCFS,
	/* not system calls of airlock's own: the state store's sqlite I/O,
	 * through a VFS that asks al_sys_fault (runner/state.c) */
	AL_SYS_SQLITE_WRITE,
	AL_SYS_SQLITE_SYNC,
	AL_SYS_SQLITE_TRUNCATE,
	AL_SYS__COUNT
};

/* Wrappers used by airlock code: they count calls, apply the fault plan,
 * retry on EINTR, and call through al_sys. al_sys_write writes at most n
 * bytes once (it may be short); al_write_all loops. */
ssize_t al_sys_write(int fd, const void *buf, size_t n);
int al_sys_fsync(int fd);
int al_sys_fdatasync(int fd);
int al_sys_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int al_sys_openat(int dirfd, const char *path, int flags, mode_t mode);
int al_sys_mkdirat(int dirfd, const char *path, mode_t mode);
int al_sys_ftruncate(int fd, off_t len);
pid_t al_sys_fork(void);
/* Starts fn(arg) in a child that shares the parent's memory until it
 * calls execve or _exit (clone with CLONE_VM | CLONE_VFORK): no copy of
 * the page tables, so a spawn costs the same however large the parent.
 * fn may only make system calls. Counts as a fork for the fault plan. */
pid_t al_sys_spawn(int (*fn)(void *arg), void *arg);
int al_sys_syncfs(int fd);

/* Fault plan: the nth call (1-based, counted from now) of `call` fails
 * with errno `error`; with `sticky`, every later call fails too (a disk
 * that stays full). error == 0 asks for a short write (write only): half
 * the bytes, at least one fewer than asked. Returns -1 when the plan is
 * full (16 faults). */
int al_sys_fault_add(enum al_sys_call call, unsigned long nth, int error, int sticky);
void al_sys_fault_reset(void);
unsigned long al_sys_calls(enum al_sys_call call);

/* Parses a fault plan such as "write@3=ENOSPC,fsync@1+=EIO,write@2=short"
 * (the AIRLOCK_FAULTS environment variable, for CLI tests). Faults only
 * make calls fail; they can never make a check pass. */
int al_sys_faults_parse(const char *spec, struct al_err *err);

/* Counts one call of `call` and returns the errno the fault plan makes it
 * fail with, or 0: for I/O that does not go through the wrappers above
 * (sqlite's, through the VFS of runner/state.c). */
int al_sys_fault(enum al_sys_call call);

/* A labelled crash point for the torture tests: SIGKILLs the process the
 * Nth time it passes LABEL when AIRLOCK_TORTURE_KILL_AT=LABEL:N; does
 * nothing otherwise (labels: seal-evolve, segment-rotate, promote,
 * install-rename). */
void al_kill_point(const char *label);

/* ------------------------------------------------------------------ */
/* Hex and SHA-256 / HMAC-SHA256 (OpenSSL libcrypto EVP).              */

#define AL_SHA256_LEN 32
#define AL_SHA256_HEX (2 * AL_SHA256_LEN + 1)

/* Writes 2n lowercase hex digits and a NUL into out. */
void al_hex(const unsigned char *in, size_t n, char *out);
/* Decodes exactly 2n hex digits (either case) followed by NUL or the end
 * of hex; returns -1 on any other input. */
int al_unhex(const char *hex, size_t hexlen, unsigned char *out, size_t n);

struct al_sha256 {
	void *ctx; /* EVP_MD_CTX */
};

/* Incremental hashing. init returns -1 only when libcrypto cannot
 * allocate; final releases the context, so every init needs one final
 * (or al_sha256_abort). */
int al_sha256_init(struct al_sha256 *h);
void al_sha256_update(struct al_sha256 *h, const void *data, size_t n);
void al_sha256_final(struct al_sha256 *h, unsigned char out[AL_SHA256_LEN]);
void al_sha256_abort(struct al_sha256 *h);

/* One-shot hash of a buffer. Cannot fail short of memory exhaustion,
 * which aborts. */
void al_sha256_buf(const void *data, size_t n, unsigned char out[AL_SHA256_LEN]);

/* Hashes an open file from its current offset to EOF in constant memory
 * (128 KiB reads). `name` is used in error messages. size, when not NULL,
 * receives the byte count. */
int al_sha256_fd(int fd, const char *name, unsigned char out[AL_SHA256_LEN], uint64_t *size,
                 struct al_err *err);
int al_sha256_file(const char *path, unsigned char out[AL_SHA256_LEN], uint64_t *size,
                   struct al_err *err);

void al_hmac_sha256(const unsigned char *key, size_t keylen, const void *msg, size_t n,
                    unsigned char out[AL_SHA256_LEN]);

/* ------------------------------------------------------------------ */
/* Byte streams.                                                       */

/* The largest zstd window airlock decompresses by default: 16 MiB keeps a
 * verifier's memory bounded whatever a crafted .zst asks for. */
#define AL_ZSTD_WINDOW_LOG_MAX 24

struct al_stream {
	/* Reads up to n bytes; *got = 0 at the end. -1 with err on failure. */
	int (*read)(struct al_stream *s, void *buf, size_t n, size_t *got, struct al_err *err);
	void (*close)(struct al_stream *s);
	void *impl;
	const char *name; /* for messages; not owned */
};

/* A stream over an open fd (taken: closed by close), decompressing zstd
 * (with AL_ZSTD_WINDOW_LOG_MAX) when zst. */
struct al_stream *al_stream_fd(int fd, int zst, const char *name, struct al_err *err);
/* A zstd-decompressing stream over another (taken). A frame that needs a
 * window over 2^window_log_max bytes fails (AL_EVERIFY), as do corrupt
 * or truncated input and bytes after the last frame that are no frame. */
struct al_stream *al_stream_zstd(struct al_stream *inner, int window_log_max, struct al_err *err);
/* Hashes every byte read through a stream made by al_stream_fd(fd, 0, ...)
 * into h (started and finished by the caller); no effect on others. */
void al_stream_hash(struct al_stream *s, struct al_sha256 *h);

/* ------------------------------------------------------------------ */
/* Keys and signatures, minisign-compatible (DESIGN.md §4).            */

#define AL_KEYID_LEN 8
#define AL_KEYID_HEX 17
#define AL_PK_LEN 32
#define AL_SK_LEN 64
#define AL_SIG_LEN 64
#define AL_COMMENT_MAX 1024          /* an untrusted comment line */
#define AL_TRUSTED_COMMENT_MAX 8192  /* a trusted comment line */

struct al_pubkey {
	unsigned char keyid[AL_KEYID_LEN];
	unsigned char pk[AL_PK_LEN];
};

/* Secret keys live in sodium_malloc memory (guard pages, mlock) and are
 * wiped by al_seckey_free. */
struct al_seckey {
	unsigned char keyid[AL_KEYID_LEN];
	unsigned char sk[AL_SK_LEN];
};

enum al_sig_alg {
	AL_SIG_LEGACY,   /* "Ed": signs the raw message */
	AL_SIG_PREHASHED /* "ED": signs BLAKE2b-512(message) */
};

struct al_sig {
	enum al_sig_alg alg;
	unsigned char keyid[AL_KEYID_LEN];
	unsigned char sig[AL_SIG_LEN];
	unsigned char global_sig[AL_SIG_LEN];
	char trusted_comment[AL_TRUSTED_COMMENT_MAX]; /* the text after "trusted comment: " */
};

/* Must be called once before any key or signature function; returns -1
 * when libsodium cannot start. */
int al_crypto_init(struct al_err *err);

/* Key id as minisign shows it: the 8 bytes read as a little-endian
 * integer, 16 upper-case hex digits. */
void al_keyid_hex(const unsigned char keyid[AL_KEYID_LEN], char out[AL_KEYID_HEX]);
int al_keyid_parse(const char *hex, unsigned char keyid[AL_KEYID_LEN]);

/* Generates a new key pair. *sec is sodium_malloc'd; free it with
 * al_seckey_free. */
int al_keypair_generate(struct al_pubkey *pub, struct al_seckey **sec, struct al_err *err);
void al_seckey_free(struct al_seckey *sec);

/* Parses a public key file's text (name is used in messages). The text
 * must be exactly an "untrusted comment: " line and one base64 line that
 * decodes to "Ed" ‖ keyid ‖ pk. */
int al_pubkey_parse(const char *text, size_t len, const char *name, struct al_pubkey *pub,
                    struct al_err *err);
int al_pubkey_load(const char *path, struct al_pubkey *pub, struct al_err *err);
/* Also accepts a bare base64 key (minisign -P). */
int al_pubkey_from_base64(const char *b64, struct al_pubkey *pub, struct al_err *err);
/* Formats a public key file; returns a malloc'd string. comment NULL gives
 * minisign's "minisign public key <KEYID>". */
char *al_pubkey_format(const struct al_pubkey *pub, const char *comment);

/* Loads a secret key. When the file is encrypted, get_pass is called to
 * obtain the passphrase (sodium_malloc'd, freed by the callee); a wrong
 * passphrase is detected by the checksum and reported as AL_EVERIFY. */
typedef char *(*al_pass_fn)(void *ctx, struct al_err *err);
struct al_seckey *al_seckey_load(const char *path, al_pass_fn get_pass, void *ctx,
                                 struct al_err *err);
struct al_seckey *al_seckey_parse(const char *text, size_t len, const char *name,
                                  al_pass_fn get_pass, void *ctx, struct al_err *err);
/* Formats a secret key file, encrypted with scrypt (minisign's
 * "sensitive" limits) when passphrase is not NULL, unencrypted (as
 * minisign -W) otherwise. Returns sodium_malloc'd text: free with
 * al_secret_free. */
char *al_seckey_format(const struct al_seckey *sec, const char *passphrase, const char *comment,
                       struct al_err *err);

/* Reads a passphrase: from the file `passfile` when not NULL (first line,
 * without its newline), else from the controlling terminal with echo off
 * (asked twice when confirm). Returns sodium_malloc'd memory. */
char *al_passphrase_read(const char *passfile, int confirm, struct al_err *err);
void al_secret_free(char *s);

/* Signs a message held in memory or read from a file (prehashed "ED").
 * trusted_comment is signed too; it may not contain a newline. Returns
 * the malloc'd signature file text. */
char *al_sign_buf(const struct al_seckey *sec, const void *msg, size_t n,
                  const char *trusted_comment, const char *untrusted_comment, struct al_err *err);
char *al_sign_file(const struct al_seckey *sec, const char *path, const char *trusted_comment,
                   const char *untrusted_comment, struct al_err *err);

/* Checks that a comment is one line of acceptable length (what minisign
 * can read back). */
int al_comment_check(const char *text, int trusted, struct al_err *err);

int al_sig_parse(const char *text, size_t len, const char *name, struct al_sig *sig,
                 struct al_err *err);
int al_sig_load(const char *path, struct al_sig *sig, struct al_err *err);

/* Verifies sig over a message with pub, in minisign's order: key id, then
 * the signature, then the global signature over the trusted comment.
 * Failures are AL_EVERIFY, with sig_name/msg_name in the message. */
int al_sig_verify_buf(const struct al_pubkey *pub, const struct al_sig *sig, const void *msg,
                      size_t n, const char *sig_name, struct al_err *err);
int al_sig_verify_file(const struct al_pubkey *pub, const struct al_sig *sig, const char *path,
                       const char *sig_name, struct al_err *err);

/* ------------------------------------------------------------------ */
/* JSON helpers over jansson.                                          */

/* Parses a JSON document; duplicate keys are rejected. Errors name the
 * source and its line and column. */
json_t *al_json_parse(const char *buf, size_t len, const char *name, struct al_err *err);
/* Reads and parses a file of at most max bytes. */
json_t *al_json_load_file(const char *path, size_t max, struct al_err *err);
/* Compact, key order kept, UTF-8 (not \u-escaped). malloc'd. */
char *al_json_dump(const json_t *v);
/* Makes s valid UTF-8 in place, so that jansson takes it: a sequence
 * that is invalid, or cut short by a truncation, becomes '?'. Text that
 * messages are built from (a step's stderr, a path) may be anything. */
void al_utf8_fix(char *s);

/* ------------------------------------------------------------------ */
/* Progress of a long operation (progress.c, DESIGN.md §8).            */

/* The counter the working code moves; whoever watches sets draw (the
 * command layer, on a terminal), which is called at most ten times a
 * second from 250 ms into a phase, and once with final at the end of a
 * phase it was called for. Every function takes NULL, and
 * does nothing without draw. subject names the thing ("image score"),
 * what the phase ("checking", "unpacking"). */
struct al_progress {
	void (*draw)(const struct al_progress *p, int final, void *ctx);
	void *ctx;
	char subject[96];
	char what[64];
	uint64_t total; /* bytes; 0: unknown */
	uint64_t done;
	int64_t t0_us, drawn_us; /* al_progress_now_us; t0 0: no phase */
};

/* Starts a phase: done back to 0, the clock (for the rate) restarted. */
void al_progress_phase(struct al_progress *p, const char *what, uint64_t total);
/* done bytes so far; drawn when 100 ms have passed since the last draw. */
void al_progress_at(struct al_progress *p, uint64_t done);
/* The phase is over: draw(final = 1) once. */
void al_progress_end(struct al_progress *p);
/* The line: "SUBJECT: WHAT  DONE of TOTAL  PCT%  RATE/s  ETA left" (or,
 * without a total, "SUBJECT: WHAT  DONE  RATE/s"), in at most n - 1
 * bytes; its length. */
size_t al_progress_line(const struct al_progress *p, int64_t now_us, char *buf, size_t n);
/* CLOCK_MONOTONIC, in microseconds. */
int64_t al_progress_now_us(void);

/* ------------------------------------------------------------------ */
/* UTC time and durations.                                             */

#define AL_TS_LEN 28 /* "2026-11-25T03:00:01.123456Z" and NUL */

/* Microseconds since the Unix epoch, CLOCK_REALTIME. */
int64_t al_now_us(void);
/* RFC 3339 in UTC with exactly six fractional digits and "Z". */
void al_ts_format(int64_t us, char out[AL_TS_LEN]);
/* Accepts "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)"; digits beyond
 * microseconds are truncated. */
int al_ts_parse(const char *s, int64_t *us, struct al_err *err);
/* Durations "500ms", "30s", "5m", "23h", "2d" into milliseconds: one
 * integer and one unit, no sign, no spaces, at most 100 years. */
int al_duration_parse(const char *s, int64_t *ms, struct al_err *err);
/* The shortest exact form of ms ("90s", "2d", "1500ms"). */
void al_duration_format(int64_t ms, char *out, size_t outlen);
/* Parses a size such as "4G", "512M", "64K" or "1000" into bytes: digits
 * only, then at most one of K, M, G; a value whose bytes overflow 64 bits
 * is refused. */
int al_size_parse(const char *s, uint64_t *bytes);

/* A validate step's max_reject (manifests/FORMAT.md): "N", a count of 1
 * to 18 digits, or "N%" / "N.D%", a percentage of 0 to 100 with up to 6
 * decimals; digits only, no sign, exponent or space. Sets *percent to 1
 * for a percentage, *value then being in millionths of a percent ("0.5%":
 * 500000, "100%": 100000000), else to 0 with *value the count. The one
 * parser for the manifest check and the step: what installs also runs. */
int al_max_reject_parse(const char *s, int *percent, uint64_t *value, struct al_err *err);

/* ------------------------------------------------------------------ */
/* Safe file I/O.                                                      */

/* open(2) with O_CLOEXEC|O_NOFOLLOW added, EINTR retried, through the
 * system-call table. */
int al_openat(int dirfd, const char *path, int flags, mode_t mode);
/* Writes all n bytes, looping over short writes; -1 with errno set. */
int al_write_all(int fd, const void *buf, size_t n);

/* Reads a whole regular file (no symlink at the last component) of at
 * most max bytes. *out is malloc'd with a NUL appended (not counted). */
int al_read_file(int dirfd, const char *path, size_t max, char **out, size_t *len,
                 struct al_err *err);

/* Replaces dirfd/name atomically with data: a temporary file in the same
 * directory (O_EXCL|O_NOFOLLOW, given mode), write, fsync, rename over
 * name, fsync of the directory. On failure the temporary file is removed
 * and the old file, if any, is untouched. `display` names the file in
 * messages (NULL: name). */
int al_write_atomic(int dirfd, const char *name, const void *data, size_t n, mode_t mode,
                    const char *display, struct al_err *err);
/* Same, for a path relative to the current directory or absolute. */
int al_write_file_atomic(const char *path, const void *data, size_t n, mode_t mode,
                         struct al_err *err);

/* fsync of the directory that holds path (or of dirfd itself). */
int al_fsync_dir(int dirfd, const char *display, struct al_err *err);
int al_fsync_parent(const char *path, struct al_err *err);

/* Creates every missing directory of path with mode; existing ones are
 * left as they are. */
int al_mkdirs(const char *path, mode_t mode, struct al_err *err);

/* Removes dirfd/name and, when it is a directory, everything under it,
 * without following symbolic links (read-only directories are made
 * writable first). A missing name is not an error. -1 with errno set
 * when something could not be removed (the rest is still removed). */
int al_rm_tree(int dirfd, const char *name);

/* snprintf that reports truncation: returns 0, or -1 when the output did
 * not fit (out is still NUL-terminated). */
int al_snprintf(char *out, size_t outlen, const char *fmt, ...) AL_PRINTF(3, 4);

#endif
