/* audit.h - the public API of the audit log (audit/FORMAT.md): the
 * writer (append with the hash chain, torn-tail repair, rotation, seals),
 * checkpoints, the streaming verifier, the sqlite index and export.
 *
 * audit depends on core only. Paths are those of DESIGN.md §3: a log lives
 * in HOME/audit/, signed by HOME/host.key. Functions return 0 (or a
 * pointer) on success, -1 (or NULL) with err filled otherwise. */
#ifndef AIRLOCK_AUDIT_H
#define AIRLOCK_AUDIT_H

#include <stdint.h>

#include "core/core.h"

#define AL_AUDIT_FORMAT "airlock.audit/2"
#define AL_AUDIT_FORMAT_1 "airlock.audit/1" /* HMAC seals: still verified */
#define SEAL_PUB_LEN 32                     /* an epoch's Ed25519 public key */
#define SEAL_SIG_HEX 129                    /* a seal's signature, hex, with NUL */
#define AL_AUDIT_LINE_MAX (4u << 20)       /* a line, with its "\n" */
#define AL_AUDIT_SEGMENT_SIZE (64ull << 20) /* default --segment-size */
#define AL_AUDIT_SEAL_EVERY 1000           /* default --seal-every */
#define AL_AUDIT_LOG_ID_HEX 33

struct al_audit_config {
	uint64_t segment_size; /* close a segment once it holds this many bytes */
	uint64_t seal_every;   /* seal after this many entries without one */
	int compress;          /* compress closed segments (.jsonl.zst) */
	/* alert audit-space-low under this much free space: bytes, or a
	 * percentage of the file system when min_free_pct is set */
	uint64_t min_free;
	int min_free_pct;
};

#define AL_AUDIT_MIN_FREE (1ull << 30) /* default --audit-min-free: 1 GiB... */
#define AL_AUDIT_MIN_FREE_PCT 5        /* ...or 5%, whichever is smaller */

/* ---- writer ---- */

struct al_audit;

/* Creates HOME/audit/ with its settings, the host key pair (unless
 * HOME/host.key exists), the seal key k0 — written once to seal_key_out,
 * which must not exist — and the first entries: log.open and a seal of
 * epoch 0. Refuses a HOME whose log already exists. */
int al_audit_init(const char *home, const char *seal_key_out, const struct al_audit_config *cfg,
                  struct al_err *err);

/* Opens the log of HOME for appending: repairs a torn tail or a key that
 * a crash left unevolved, then appends log.resume. The log stays usable by
 * other processes: every append takes the lock for its own duration. */
struct al_audit *al_audit_open(const char *home, struct al_err *err);

enum {
	AL_AUDIT_SYNC = 1, /* fdatasync before returning: the entry precedes an effect */
};

/* Appends one entry: seq, ts, prev, event, then fields' members in their
 * order (fields may be NULL; it is not consumed). Member names seq, ts,
 * prev and event are refused, as are reserved events appended by hand.
 * After a write failure the log refuses every later append (fail-closed);
 * err->code is then AL_EENV. Seals when seal_every entries went unsealed. */
int al_audit_append(struct al_audit *log, const char *event, const json_t *fields,
                    unsigned flags, struct al_err *err);

/* 1, once, after the writer appended an alert audit-space-low (NIST
 * AU-5(1)) in this process: what it said and the entry's seq, for the
 * caller to pass on where people look (a run's summary, the metrics,
 * stderr); 0 otherwise. */
int al_audit_take_space_alert(struct al_audit *log, uint64_t *free_bytes, uint64_t *threshold,
                              uint64_t *seq);

/* fdatasync of whatever was appended without AL_AUDIT_SYNC. */
int al_audit_sync(struct al_audit *log, struct al_err *err);

/* Moves a live airlock.audit/1 log (HMAC seals, k0) to public-key seals:
 * a transition seal, the last HMAC one, binds the first /2 public key,
 * which is written to pub_out (a file that must not exist) and pub_hex;
 * later seals are signed (FORMAT.md §5). */
int al_audit_upgrade(const char *home, const char *pub_out, char pub_hex[65], struct al_err *err);

/* Appends a seal now (unless the last entry is one) and evolves the key. */
int al_audit_seal(struct al_audit *log, struct al_err *err);

/* Syncs and releases the log; returns the sync's result. NULL is fine. */
int al_audit_close(struct al_audit *log, struct al_err *err);

/* The seq of the last entry, and the log's id. */
uint64_t al_audit_last_seq(const struct al_audit *log);
const char *al_audit_log_id(const struct al_audit *log);

/* True when event names an entry that only the writer itself may make
 * (log.*, seal, clock.backwards). */
int al_audit_event_reserved(const char *event);
/* True when event is a well-formed event name. */
int al_audit_event_valid(const char *event);

/* ---- checkpoints ---- */

struct al_checkpoint {
	int version; /* of the log: 1 or 2 (line 1 says "airlock.audit/V") */
	char log_id[AL_AUDIT_LOG_ID_HEX];
	uint64_t size;
	unsigned char hash[AL_SHA256_LEN];
	char ts[AL_TS_LEN];
};

/* Writes OUTDIR/checkpoint.txt, its minisign signature by the host key
 * and (airlock.audit/2) checkpoint.txt.sig, its signature by the epoch key
 * in force, for the log of HOME as it is now. */
int al_audit_checkpoint(const char *home, const char *outdir, struct al_checkpoint *cp,
                        struct al_err *err);
/* Parses checkpoint text (name is used in messages). */
int al_checkpoint_parse(const char *text, size_t len, const char *name, struct al_checkpoint *cp,
                        struct al_err *err);
/* Formats the four lines of checkpoint.txt; malloc'd. */
char *al_checkpoint_format(const struct al_checkpoint *cp);

/* ---- a sharded run's summary (shards.c, FORMAT.md §11) ---- */

#define AL_SHARDS_FORMAT "airlock.shards/1"
#define AL_SHARDS_MAX 100000
#define AL_SHARDS_NAME_MAX 64

struct al_shard {
	struct al_checkpoint cp;   /* the shard's final checkpoint */
	char keyid[AL_KEYID_HEX];  /* of the host key that signed it */
};

struct al_shards {
	char name[AL_SHARDS_NAME_MAX + 1];
	int n;
	struct al_shard *s;        /* n of them, malloc'd */
};

/* A summary's name: letters, digits, '.', '_' and '-', 64 at most. */
int al_shards_name_ok(const char *name);
/* The summary's text (malloc'd, *len bytes); NULL when out of memory. */
char *al_shards_format(const struct al_shards *sh, size_t *len);
/* Parses a summary strictly (the writer's exact form, nothing else):
 * AL_EVERIFY naming the line at fault otherwise. name is for messages. */
int al_shards_parse(const char *text, size_t len, const char *name, struct al_shards *sh,
                    struct al_err *err);
void al_shards_free(struct al_shards *sh);

/* ---- verifier ---- */

enum al_finding_level { AL_FINDING_INFO, AL_FINDING_WARNING, AL_FINDING_ERROR };

struct al_finding {
	enum al_finding_level level;
	uint64_t line;         /* line number in the log, from 1; 0 when none */
	const char *segment;   /* segment file name, or NULL */
	uint64_t segment_line; /* line within the segment */
	uint64_t seq;          /* the entry's seq, 0 when unknown */
	const char *msg;
};

struct al_verify_opts {
	const unsigned char *seal_pub; /* the epoch-0 seal public key (32 bytes), or NULL */
	const unsigned char *seal_key; /* a /1 log's k0 (32 bytes), or NULL */
	const char *anchor;            /* checkpoint.txt of an anchor, or NULL */
	const char *host_pub;          /* key for checkpoint signatures, or NULL */
	int strict;                    /* an unsealed tail fails (always so for an export) */
	void (*on_finding)(void *ctx, const struct al_finding *f);
	void *ctx;
	/* Each entry the verifier accepted, in order, as it read it (the
	 * bytes of the line without its "\n"): what it gives is exactly what
	 * it checked. Non-zero stops the verification (an error). */
	int (*on_entry)(void *ctx, const char *line, size_t len);
	void *entry_ctx;
};

struct al_verify_summary {
	uint64_t entries, lines, segments, seals, first_seq, last_seq;
	uint64_t warnings, unsealed;
	int64_t first_epoch, last_epoch; /* -1 when no seal */
	int seals_checked;               /* every seal checked: macs with k0, signatures
	                                    with the public key given */
	int format;                      /* 1 or 2: of the log's last seal (0: none) */
	uint64_t sealed_upto;            /* the last entry a seal covers (0: none) */
	char sealed_ts[AL_TS_LEN];       /* the ts of that seal */
	uint64_t anchored_upto;          /* the last entry an anchor covers (0: none) */
	uint64_t transition_seq;         /* a /1 log's transition seal (0: none) */
	int v1_unchecked;                /* /1 seals were not checked (no k0) */
	int anchor_checked, checkpoint_checked;
	int checkpoint_epoch_signed;     /* the export's checkpoint or the anchor is
	                                    signed by the epoch key then in force */
	char log_id[AL_AUDIT_LOG_ID_HEX];
};

/* Verifies a log: PATH is a directory of segments or an evidence export
 * (.tar.zst). Streams: memory does not grow with the log. Every finding
 * goes to opts->on_finding. Returns 0 intact, 1 tampered (the first failing
 * line was reported), -1 when it could not verify (err says why). */
int al_audit_verify(const char *path, const struct al_verify_opts *opts,
                    struct al_verify_summary *sum, struct al_err *err);

/* Calls each() with every line of the log in DIR (a directory of
 * segments), in order, without its "\n", up to line upto (0: all);
 * each() returning non-zero stops. Framing only: verify the log first. */
int al_audit_scan(const char *dir, uint64_t upto,
                  int (*each)(void *ctx, const char *text, size_t len), void *ctx,
                  struct al_err *err);

/* Reads an airlock.audit/1 seal key file (64 hex digits and a newline)
 * into key[32]. */
int al_seal_key_load(const char *path, unsigned char key[AL_SHA256_LEN], struct al_err *err);
/* Reads a seal public key file ("airlock.seal-pub/2 <64 hex>\n", or the 64
 * digits alone) into pk; formats one (malloc'd); its id (16 hex digits). */
int al_seal_pub_load(const char *path, unsigned char pk[SEAL_PUB_LEN], struct al_err *err);
char *al_seal_pub_format(const unsigned char pk[SEAL_PUB_LEN]);
void al_seal_pub_id(const unsigned char pk[SEAL_PUB_LEN], char id[17]);

/* ---- sinks: where anchors go (sink.c, FORMAT.md §12) ---- */

#define AL_SINK_NAME_MAX 32

enum al_sink_kind { AL_SINK_DIR, AL_SINK_SYSLOG };

struct al_sink {
	char name[AL_SINK_NAME_MAX + 1];
	enum al_sink_kind kind;
	char target[1024];   /* the directory, or the syslog URL */
	int udp;             /* syslog: udp:// rather than tcp:// */
	int tls;             /* syslog: tls:// (RFC 5425) */
	char host[256], port[8];
	size_t max_message;  /* syslog: the largest message sent (0: the default) */
	char ca[1024];       /* tls: the CA file the collector's certificate must chain to */
	char cert[1024], key[1024]; /* tls: our certificate and key, or "" */
};

struct al_sinks {
	struct al_sink *s;
	size_t n;
	/* the home's policy past a lag limit (FORMAT.md §13): 0 no limit */
	int64_t lag_limit_ms;
	int halt;            /* 1: refuse runs past it; 0: continue, with an alert */
};

/* A sink name: [a-z0-9][a-z0-9_-]*, 32 at most. */
int al_sink_name_ok(const char *name);
/* A sink from its name and one of dir (an absolute path) or syslog_url
 * (tcp://HOST:PORT, udp://HOST:PORT, tls://HOST:PORT); AL_EUSAGE naming
 * what is wrong. */
int al_sink_make(const char *name, const char *dir, const char *syslog_url, struct al_sink *s,
                 struct al_err *err);
/* A tls:// sink's files, absolute paths: ca (needed), cert and key (both
 * or neither); refused for any other sink. */
int al_sink_tls(struct al_sink *s, const char *ca, const char *cert, const char *key,
                struct al_err *err);
const char *al_sink_kind_name(const struct al_sink *s);
/* HOME/audit/sinks.json (none when it does not exist); written atomically. */
int al_sinks_load(const char *home, struct al_sinks *sinks, struct al_err *err);
int al_sinks_store(const char *home, const struct al_sinks *sinks, struct al_err *err);
void al_sinks_free(struct al_sinks *sinks);

/* An anchor: a checkpoint of the log as it is now, its files' text. */
struct al_anchor {
	struct al_checkpoint cp;
	char *text, *minisig, *sig2, *host_pub; /* sig2 is "" for a /1 log */
	uint64_t epoch;                          /* of the key that made sig2 */
	char seal_pub[65], sig2_hex[SEAL_SIG_HEX]; /* "" for a /1 log */
	char host_keyid[AL_KEYID_HEX];
};
int al_anchor_make(const char *home, struct al_anchor *a, struct al_err *err);
void al_anchor_free(struct al_anchor *a);
/* Sends an anchor to a sink: a directory gets DIR/<log_id>/checkpoint-
 * <size>/ whole or not at all; a syslog collector one RFC 5424 message.
 * AL_EENV (or the I/O error) on failure. */
int al_sink_send(const struct al_sink *s, const struct al_anchor *a, struct al_err *err);
/* The RFC 5424 message of an anchor (malloc'd, *len bytes). */
char *al_anchor_syslog_message(const struct al_anchor *a, size_t *len);

/* ---- shipping: every entry to every sink (ship.c, FORMAT.md §13) ---- */

#define AL_SINK_MAX_MESSAGE 8192   /* TCP: rsyslog's default $MaxMessageSize */
#define AL_SINK_MAX_DATAGRAM 2048  /* UDP: what RFC 5426 says a receiver SHOULD take */

/* HOME/audit/cursors/NAME: the last entry a sink has. seq 0: none. */
struct al_ship_cursor {
	uint64_t seq;
	char hash[65];                     /* the SHA-256 of that entry's line */
	char log_id[AL_AUDIT_LOG_ID_HEX];
	int64_t delivered_us;              /* when the cursor last moved */
};
int al_ship_cursor_load(const char *home, const char *sink, struct al_ship_cursor *c,
                        struct al_err *err);
int al_ship_cursor_remove(const char *home, const char *sink);

struct al_ship_result {
	uint64_t from;      /* the cursor before */
	uint64_t first;     /* the first entry sent (0: none) */
	uint64_t sent;      /* entries sent */
	uint64_t delivered; /* the cursor after */
	uint64_t last_seq;  /* the log's last entry, as read */
	int64_t oldest_pending_us; /* the ts of the oldest entry not delivered (0: none) */
};

/* Sends sink everything after its cursor, in order, moving the cursor as
 * batches are confirmed (TCP: the collector's orderly close; a directory:
 * fdatasync). Stops with AL_EENV at the first failure, or once
 * deadline_us (al_now_us; 0: none) has passed; what was confirmed stays
 * delivered. res is filled either way. */
int al_ship(const char *home, const struct al_sink *sink, int64_t deadline_us,
            struct al_ship_result *res, struct al_err *err);

/* How far behind a sink is: its cursor against the log. */
struct al_ship_lag {
	uint64_t delivered, last_seq;
	int64_t delivered_us;      /* when its cursor last moved (0: never) */
	int64_t oldest_pending_us; /* the ts of the oldest entry it lacks (0: none) */
};
int al_ship_lag(const char *home, const char *sink, struct al_ship_lag *lag, struct al_err *err);
/* Every sink's lag, for status and the run summary: [{sink, kind, target,
 * delivered, behind, oldest_undelivered, delivered_at}] (times RFC 3339 or
 * null); a sink that cannot be read is left out. */
json_t *al_ship_lags_json(const char *home);

/* What a restore found (restore.c). */
struct al_restore_report {
	uint64_t entries, first, last; /* written, and their seqs */
	uint64_t problems;             /* gaps, differing copies, broken chain, parts missing */
	uint64_t gaps;
	uint64_t unreadable;           /* lines that are neither an entry nor a part */
	void (*on_problem)(void *ctx, const char *msg); /* each problem, named */
	void *ctx;
	char **srcs;                   /* the sources, for messages (al_restore_report_free) */
	size_t nsrcs;
};

/* Rebuilds a log into the new directory out from the paths in from: a
 * replica directory (segments, or DIR/<log_id>/ of a sink), a file of raw
 * entries (a collector's MSG, one a line) or a file of RFC 5424 lines, in
 * any mix. One copy of each seq; parts joined; the chain checked; a new
 * segment at each log.open and log.segment. 0: whole; 1: written, with
 * problems (each given to on_problem); -1: err (nothing usable). */
int al_audit_restore(const char *const *from, size_t nfrom, const char *out,
                     struct al_restore_report *rep, struct al_err *err);
void al_restore_report_free(struct al_restore_report *rep);

/* ---- index and queries (airlock-verify links only the scratch index) ---- */

/* Brings HOME/audit/index.db up to date with the log (from scratch when
 * rebuild, when missing, or when it does not match the log). */
int al_audit_index_update(const char *home, int rebuild, struct al_err *err);

struct al_audit_query {
	const char *run, *step, *event, *path, *sha256;
	int64_t since_us, until_us; /* 0: unbounded */
};

/* Calls row() with each matching entry's line (without "\n") in seq
 * order; the index is brought up to date first. */
int al_audit_query(const char *home, const struct al_audit_query *q,
                   void (*row)(void *ctx, const char *json), void *ctx, struct al_err *err);

/* Runs one read-only SQL statement on the index; an authorizer refuses
 * writes, ATTACH, pragmas that write and extension loading (AL_EUSAGE).
 * header() is called once with the column names, row() for each row with
 * each value as text (NULL for SQL NULL) and its kind: 'i' integer, 'r'
 * real, 't' text or blob, 'n' null. */
int al_audit_sql(const char *home, const char *sql,
                 void (*header)(void *ctx, int ncol, const char *const *names),
                 void (*row)(void *ctx, int ncol, const char *const *values, const char *kinds),
                 void *ctx, struct al_err *err);

/* A throw-away index of the log at path (a directory of segments or an
 * export), built from the very lines al_audit_verify accepted while it
 * verified them with opts: for `airlock-verify query|sql`, where there
 * is no home. *verdict is al_audit_verify's (0 intact, 1 not, -1 could
 * not); the index is given only when 0. */
struct al_audit_scratch;
struct al_audit_scratch *al_audit_scratch_build(const char *path, const struct al_verify_opts *opts,
                                                struct al_verify_summary *sum, int *verdict,
                                                struct al_err *err);
int al_audit_scratch_query(struct al_audit_scratch *s, const struct al_audit_query *q,
                           void (*row)(void *ctx, const char *json), void *ctx, struct al_err *err);
int al_audit_scratch_sql(struct al_audit_scratch *s, const char *sql,
                         void (*header)(void *ctx, int ncol, const char *const *names),
                         void (*row)(void *ctx, int ncol, const char *const *values,
                                     const char *kinds),
                         void *ctx, struct al_err *err);
void al_audit_scratch_close(struct al_audit_scratch *s);

/* ---- export ---- */

struct al_audit_range {
	int64_t since_us, until_us; /* 0: unbounded */
	const char *run;            /* or NULL */
};

/* Writes an evidence export (FORMAT.md §7) of the segments the range
 * touches, with a fresh checkpoint, to out (atomically). */
int al_audit_export(const char *home, const struct al_audit_range *range, const char *out,
                    struct al_err *err);

/* Copies the export in to out (atomically) with the page for people
 * (name, data: report.html) and members.txt, the SHA-256 of every member
 * for people (VERIFY.txt, FORMAT.md, the page) as sha256sum prints them,
 * with members.txt.minisig, its signature by HOME's host key; all before
 * the segments. A verifier checks them (FORMAT.md §7). */
int al_audit_export_insert(const char *home, const char *in, const char *out, const char *name,
                           const void *data, size_t len, struct al_err *err);

/* The text of audit/FORMAT.md, built into the binary; NUL-terminated. */
extern const char al_audit_format_md[];

#endif
