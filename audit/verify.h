/* verify.h - what the verifier's two files share, and nothing else
 * sees: verify.c checks lines, segments, seals and checkpoints as they
 * come; verify_input.c (al_audit_verify) feeds it a directory or an
 * evidence export. */
#ifndef AIRLOCK_AUDIT_VERIFY_H
#define AIRLOCK_AUDIT_VERIFY_H

#include "internal.h"

struct verifier {
	const struct al_verify_opts *o;
	struct al_verify_summary *sum;

	/* where we are */
	unsigned long segno;     /* current segment number */
	unsigned long first_segno;
	char segname[SEG_NAME_MAX];
	uint64_t line, seg_line;

	/* the chain */
	int have_prev;           /* prev_hash holds the previous line's hash */
	unsigned char prev_hash[AL_SHA256_LEN];
	uint64_t expect_seq;     /* 0 until the first entry */
	int64_t last_ts;
	int have_ts;

	/* a line that failed checks 2-4: a torn line if log.torn_tail follows */
	int pending;
	uint64_t pend_line, pend_seg_line;
	char pend_seg[SEG_NAME_MAX];
	unsigned char pend_hash[AL_SHA256_LEN];
	char pend_why[sizeof ((struct al_err *)0)->msg];

	/* seals */
	int is_export;           /* strict, and a torn tail fails */
	int64_t expect_epoch;    /* -1: the first seal decides */
	unsigned char *key;      /* k_{key_epoch}, sodium_malloc'd, when a seal key was given */
	uint64_t key_epoch;
	uint64_t last_seal_seq, last_seal_line;
	int format;              /* of the seals met so far: 0 none, 1 HMAC, 2 signatures */
	unsigned char pub[SEAL_PUB_LEN]; /* /2: the key of epoch pub_epoch, when have_pub */
	uint64_t pub_epoch;
	int have_pub, rooted;    /* rooted: pub descends from the key given (or from k0) */
	int v1_unchecked;        /* /1 seals met without k0 (said once) */
	int chain_seen;          /* seals.jsonl was read */
	int open_had_pub;        /* log.open named the epoch-0 key: no transition may follow */
	int root_pending;        /* a transition named the key given: rooted at its first signed seal */
	uint64_t every;          /* the seal interval the log states (0: unknown) */
	uint64_t unsealed_writes; /* entries after the last seal other than reads */

	/* the log's id, from log.open or the first log.segment */
	char log_id[AL_AUDIT_LOG_ID_HEX];

	/* checkpoints to meet on the way: an anchor, an export's own; and
	 * each one's signature by the epoch key (checkpoint.txt.sig), checked
	 * when the entry it names is met and that epoch's key is known */
	struct al_checkpoint cps[2];
	const char *cp_name[2];
	int ncp, cp_met[2];
	char cp_text[2][256];
	size_t cp_len[2];
	int cp_has_sig2[2];
	struct checkpoint_sig2 cp_sig2[2];
	int export_cp;           /* which of cps is the export's own (-1: none) */
	int have_range;          /* export.txt: what the export says it holds */
	char range_log_id[AL_AUDIT_LOG_ID_HEX];
	uint64_t range_first, range_last;
	unsigned long range_segno;
	struct checkpoint_sig2 range_sig;

	int failed; /* a finding of level error was reported */
	char msg[1536];
};

/* An error at the current line. */
#define HERE(v, seq) (v)->line, (v)->segname, (v)->seg_line, (seq)

/* verify.c */
void vf_report(struct verifier *v, enum al_finding_level level, uint64_t line,
               const char *seg, uint64_t seg_line, uint64_t seq, const char *fmt, ...)
	AL_PRINTF(7, 8);
int vf_verify_source(struct verifier *v, struct al_stream *src, int last, struct al_err *err);
int vf_seal_chain(struct verifier *v, struct al_stream *src, struct al_err *err);
int vf_segment_begin(struct verifier *v, unsigned long n, int zst);
int vf_finish(struct verifier *v);
int vf_checkpoint_add(struct verifier *v, const char *text, size_t len, const char *sig_text,
                      size_t sig_len, const char *sig2_text, size_t sig2_len,
                      const struct al_pubkey *pub, const char *name, struct al_err *err);
int vf_range_add(struct verifier *v, const char *text, size_t len, const char *sig,
                 size_t sig_len, struct al_err *err);
int vf_anchor_add(struct verifier *v, const struct al_pubkey *pub, int have_pub,
                  struct al_err *err);

#endif
