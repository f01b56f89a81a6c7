/* internal.h - what audit's own files share: paths and segment names, the
 * fast line parser, settings, the seal key file, readers of segments. Not
 * part of the API. */
#ifndef AIRLOCK_AUDIT_INTERNAL_H
#define AIRLOCK_AUDIT_INTERNAL_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

#include "audit.h"

#define AUDIT_DIR "audit"
#define SEG_PREFIX "audit-"
#define SEG_SUFFIX ".jsonl"
#define SEG_ZST_SUFFIX ".jsonl.zst"
#define SEG_NAME_MAX 64
#define EVENT_MAX 64

/* The members every line starts with, as the fast parser found them. */
struct al_line {
	uint64_t seq;
	int64_t ts_us;
	char ts[AL_TS_LEN];
	char prev[65];
	unsigned char prev_hash[AL_SHA256_LEN]; /* prev, decoded */
	char event[EVENT_MAX + 1];
};

/* Checks one line (without its "\n") against FORMAT.md §2: strict JSON
 * (RFC 8259, UTF-8, no duplicate top-level names, nesting at most 64
 * deep), an object whose first members are seq, ts, prev, event. Fills
 * out; on failure err says why, naming no file (the caller adds where).
 * Allocation-free: this runs once per line of a verify. */
int al_line_parse(const char *p, size_t n, struct al_line *out, struct al_err *err);

/* Segment file names: "audit-000042.jsonl" (or ".jsonl.zst"). */
void seg_name(unsigned long n, int zst, char out[SEG_NAME_MAX]);
/* Parses a segment name; returns its number (>= 1) and sets *zst, or 0. */
unsigned long seg_parse(const char *name, int *zst);

/* The segments of a directory, sorted; a number present twice (plain and
 * .zst, after a crash during compression) counts once, as the plain
 * file. Returns the count, or -1. *nums and *zsts are malloc'd. */
long seg_list(int dirfd, const char *display, unsigned long **nums, int **zsts, struct al_err *err);

/* HOME/audit/config.json. */
int audit_config_load(int dirfd, struct al_audit_config *cfg, struct al_err *err);
int audit_config_store(int dirfd, const struct al_audit_config *cfg, struct al_err *err);

/* HOME/audit/fss.key: "airlock.fss/V <epoch> <64 hex> <upto>\n", V 1 (an
 * HMAC key) or 2 (the seed of an Ed25519 key pair). The key is held in
 * sodium_malloc memory. */
struct fss_state {
	int version;     /* 1 or 2 */
	int slot;        /* 1 or 2: the slot of the file it was read from; 0: none */
	int stale;       /* the other slot holds an older key (a crash between the two writes) */
	uint64_t epoch;  /* the epoch the stored key is for: the next seal's */
	uint64_t upto;   /* the upto of the last seal made (0: none) */
	unsigned char *key; /* 32 bytes, sodium_malloc'd; NULL when not loaded */
};
int fss_load(int dirfd, struct fss_state *st, int want_key, struct al_err *err);
/* Stores st in the slot it was not read from, then zeroes that one
 * (seal.c); st->slot is then the new one. */
int fss_store(int dirfd, struct fss_state *st, struct al_err *err);
/* The same for another file of HOME/audit: fss.next holds the first /2
 * key of a /1 log's transition until its seal is durable (FORMAT.md §5). */
#define FSS_NEXT_NAME "fss.next"
int fss_load_from(int dirfd, const char *name, struct fss_state *st, int want_key,
                  struct al_err *err);
int fss_store_as(int dirfd, const char *name, struct fss_state *st, struct al_err *err);
/* Overwrites a key file with zeros, syncs, and unlinks it (none: 0). */
int fss_wipe(int dirfd, const char *name, struct al_err *err);
void fss_free(struct fss_state *st);
/* k_{e+1} = SHA-256("airlock.fss/1" ‖ k_e), in place. */
void fss_evolve(unsigned char key[AL_SHA256_LEN]);
/* seed_{e+1} = SHA-256("airlock.fss/2" ‖ seed_e), in place. */
void fss2_evolve(unsigned char seed[AL_SHA256_LEN]);
/* The Ed25519 key pair of an epoch's seed; sk is crypto_sign_SECRETKEYBYTES. */
int seal2_keypair(const unsigned char seed[AL_SHA256_LEN], unsigned char pk[SEAL_PUB_LEN],
                  unsigned char *sk);
/* 1 when seed's public key is pub_hex, 0 when not, -1 out of memory. */
int seal2_pub_is(const unsigned char seed[AL_SHA256_LEN], const char pub_hex[65]);
/* What a /2 seal signs (FORMAT.md §5); its length, 0 when cap is short. */
size_t seal2_message(char *buf, size_t cap, uint64_t epoch, uint64_t upto, const char hu[65],
                     uint64_t every, const char next_pub[65]);
void seal2_sign(const unsigned char *sk, const void *msg, size_t n, char sig_hex[SEAL_SIG_HEX]);
/* A /2 seal of epoch `epoch` by the key of seed: the next epoch's public
 * key and the signature, in hex. */
int seal2_make(const unsigned char seed[AL_SHA256_LEN], uint64_t epoch, uint64_t upto,
               const char hu[65], uint64_t every, char next_hex[65], char sig[SEAL_SIG_HEX]);
/* 0 when sig_hex (128 hex digits) is pk's signature of msg. */
int seal2_check(const unsigned char pk[SEAL_PUB_LEN], const void *msg, size_t n,
                const char *sig_hex);
void seal_pub_id(const unsigned char pk[SEAL_PUB_LEN], char id[17]);
/* The mac of a /1 seal (FORMAT.md §5), as 64 hex digits; with next_pub
 * (64 hex digits), of the transition seal that binds the first /2 key. */
void seal_mac(const unsigned char key[AL_SHA256_LEN], uint64_t epoch, uint64_t upto,
              const char upto_hash_hex[65], char mac_hex[65]);
void seal_mac_next(const unsigned char key[AL_SHA256_LEN], uint64_t epoch, uint64_t upto,
                   const char upto_hash_hex[65], const char *next_pub, char mac_hex[65]);

/* checkpoint.txt.sig (FORMAT.md §6): the checkpoint's signature by the
 * epoch key in force at its last entry. */
struct checkpoint_sig2 {
	uint64_t epoch;
	unsigned char pub[SEAL_PUB_LEN];
	char sig[SEAL_SIG_HEX];
};
/* The seal key in force after line (the log's head), read under the
 * log's lock; and checkpoint.txt.sig for text signed by it ("" for a /1
 * log; -1 out of memory). */
int checkpoint_head_key(int dirfd, const char *line, size_t len, struct fss_state *st,
                        struct al_err *err);
int checkpoint_sig2_make(const struct fss_state *st, const char *text, char *out, size_t cap);
int checkpoint_sig2_parse(const char *text, size_t len, const char *name,
                          struct checkpoint_sig2 *s, struct al_err *err);

/* Lines from a byte source, each at most AL_AUDIT_LINE_MAX bytes with its
 * "\n": one read buffer, and a second one only for a line that spans two
 * reads. Memory does not grow with the source. */
struct line_reader {
	struct al_stream *src;
	char *buf;
	size_t pos, got;
	char *carry;
	size_t carry_len, carry_cap;
	int eof;
	uint64_t next_offset; /* where the line after the last one returned starts */
};

void line_reader_init(struct line_reader *r, struct al_stream *src);
void line_reader_free(struct line_reader *r);
/* 1 and a line (without its "\n", which is at line[len] when *has_nl), 0 at
 * the end, -1 on a read error or a line too long (AL_EVERIFY, "too long"). */
int line_next(struct line_reader *r, const char **line, size_t *len, int *has_nl,
              struct al_err *err);

/* Reads HOME/host.pub. */
int host_pub_load(const char *home, struct al_pubkey *pub, struct al_err *err);

/* Opens HOME/audit as a directory fd (O_DIRECTORY|O_CLOEXEC). */
int audit_dir_open(const char *home, struct al_err *err);

/* The last line of a segment: its bytes (without "\n"), whether the file
 * ends in a fragment, and the fragment's bytes. *line and *frag are
 * malloc'd (NULL when none). */
struct seg_tail {
	char *line;
	size_t line_len;
	char *frag;
	size_t frag_len;
	uint64_t size; /* file size */
};
int seg_read_tail(int fd, const char *name, struct seg_tail *t, struct al_err *err);
void seg_tail_free(struct seg_tail *t);

/* Reads the first line of a segment (plain or .zst). */
int seg_read_first(int dirfd, unsigned long n, int zst, char **line, size_t *len,
                   struct al_err *err);

/* The log id (and seq) of the first line of segment n: log.open or
 * log.segment. first_seq may be NULL. */
int seg_log_id(int dirfd, unsigned long n, int zst, char id[AL_AUDIT_LOG_ID_HEX],
               uint64_t *first_seq, struct al_err *err);

/* The tail of plain segment n (see seg_read_tail). */
int seg_tail_of(int dirfd, unsigned long n, struct seg_tail *t, struct al_err *err);

/* SHA-256 of a line's bytes and the "\n" that ends it (the chain's hash),
 * for a line held without its "\n". */
void line_hash(const char *line, size_t len, unsigned char out[AL_SHA256_LEN]);

/* RFC 5424 HOSTNAME (sink.c): this host's name in printable US-ASCII
 * without space, "-" when none. */
void syslog_host(char out[256]);

/* ---- a connection to a syslog collector (conn.c) ---- */

struct ssl_st;
struct ssl_ctx_st;
struct sink_conn {
	int fd;
	struct ssl_st *ssl;      /* tls:// only */
	struct ssl_ctx_st *ctx;
	const struct al_sink *sink;
};
/* Connects (TCP, UDP, or TLS over TCP with the sink's CA), every wait
 * bounded; AL_EENV naming the sink and why. */
int conn_open(struct sink_conn *c, const struct al_sink *s, struct al_err *err);
/* Writes all of p (UDP: one datagram), until deadline_us (0: none). */
int conn_send(struct sink_conn *c, const char *p, size_t n, int64_t deadline_us,
              struct al_err *err);
/* The orderly close the collector must answer (it has read everything);
 * closes the connection either way. */
int conn_finish(struct sink_conn *c, struct al_err *err);
void conn_close(struct sink_conn *c);

/* ---- the writer (writer.c), for init.c ---- */

#define LOCK_NAME "lock"

struct al_audit {
	char *home;
	int dirfd;  /* HOME/audit */
	int lockfd; /* HOME/audit/lock, flock'd for each append */
	int segfd;  /* the current segment, O_APPEND */
	unsigned long segno;
	uint64_t seg_size;      /* bytes of the current segment, as we wrote or read them */
	int segment_line_due;   /* the current segment lacks its log.segment line */
	uint64_t seq;           /* of the last entry; 0 before the first */
	unsigned char last_hash[AL_SHA256_LEN];
	char last_hex[65];
	int64_t last_ts;
	int last_is_seal;
	char log_id[AL_AUDIT_LOG_ID_HEX];
	struct al_audit_config cfg;
	uint64_t seal_upto;     /* upto of the last seal (from fss.key) */
	int failed;             /* a write failed: refuse everything (fail-closed) */
	unsigned unsynced;      /* entries appended since the last fdatasync */
	unsigned since_space;   /* appends since free space was last looked at */
	int space_alerted;      /* audit-space-low said once by this process */
	uint64_t space_alert_seq; /* that alert's seq, until the caller took it */
	uint64_t space_free, space_threshold;
};

/* al_audit_init, for a log of format version 1 (tests of what older hosts
 * wrote: key_out then receives k0) or 2 (the public key). */
int audit_init(const char *home, const char *key_out, int version,
               const struct al_audit_config *cfg, struct al_err *err);

/* Writes the key handed over to a file that must not exist: the public
 * key of seed (version 2), or k0 itself (version 1). */
int audit_key_out_write(const char *path, const unsigned char *seed, int version,
                        struct al_err *err);

struct al_audit *writer_alloc(const char *home, struct al_err *err);
void writer_free(struct al_audit *log);
/* The log's lock, for one append (or init's first entries). */
int writer_lock(struct al_audit *log, struct al_err *err);
/* Builds and writes one entry (FORMAT.md §2); lead_nl puts a "\n" before
 * it in the same write (the torn-tail repair). */
int writer_append(struct al_audit *log, const char *event, const json_t *fields, int sync,
                  int lead_nl, struct al_err *err);
/* Appends a seal of what is unsealed and evolves the key, under the lock. */
int writer_seal(struct al_audit *log, struct al_err *err);

/* A tar.zst read by libarchive through our zstd stream (bounded window):
 * archive_read_open(a, ctx, NULL, archive_read_cb, NULL) with ctx->outer
 * from al_stream_fd(fd, 1, ...) and ctx->err set; failed tells a stream
 * error (err says it) from libarchive's own (verify_input.c). */
struct archive;
struct archive_ctx {
	struct al_stream *outer; /* the decompressed .tar.zst */
	char buf[128 << 10];
	struct al_err *err;
	int failed;
};
ssize_t archive_read_cb(struct archive *a, void *data, const void **out);

#endif
