/* internal.h - what the files of the HTML report share, and nothing
 * else sees. From the bottom up: model.c, the run's model from the log;
 * html.c, the page buffer, escaping and its common elements; timeline.c,
 * the timeline and the steps table; report.c, the page's sections and
 * al_report_html. */
#ifndef AIRLOCK_REPORT_INTERNAL_H
#define AIRLOCK_REPORT_INTERNAL_H

#include <stdint.h>

#include "core/core.h"

/* Appends cannot fail visibly: the first allocation failure sets failed,
 * later appends do nothing, and the builder checks once at the end (the
 * report then fails with an error). Every loop that appends is bounded
 * (by the entries shown, by TL_TICKS_MAX), none by what it appended: a
 * failed buffer cannot keep one going. */
struct buf {
	char *p;
	size_t len, cap;
	int failed;
};


struct entry {
	char *line;        /* the log's line, exactly: the appendix shows it */
	json_t *v;         /* parsed; an empty object when the line does not parse */
	uint64_t seq;      /* 0 when missing */
	int64_t ts_us;     /* 0 when missing or malformed */
	const char *event; /* "" when missing */
	int used;          /* shown by the header, the timeline or the steps' table */
};


struct entries {
	struct entry *e;
	size_t n, cap;
	int failed;
};


struct attempt {
	long n;
	const struct entry *start, *end; /* step.start, step.end */
	const struct entry *retry;       /* the step.retry that followed this attempt */
};


struct step {
	const char *id; /* the entries' string */
	struct attempt *att;
	size_t natt;
	const struct entry *skipped;
};


struct report {
	const char *run;
	struct entries all;     /* the run's entries, in seq order */
	struct entries log;     /* log.open entries: the log's id */
	struct step *steps;     /* in the order they first appear */
	size_t nsteps;
	json_t *step_index;     /* step id -> index into steps */
	const struct entry *start, *end; /* run.start, run.end */
	int64_t t0, t1;         /* the timeline's bounds (µs) */
};

/* Milliseconds from the log (a delay, a duration) in microseconds, for
 * arithmetic: clamped to [0, 100 years] first. The report reads the
 * index without checking the chain, so a forged index.db or segment can
 * hold any integer, and 1000 × it would overflow; 100 years is the
 * longest duration airlock itself accepts (al_duration_parse). With
 * timestamps in years 0000-9999 (al_ts_parse), every sum and difference
 * of them and such spans stays far inside int64_t. */
#define MS_MAX ((int64_t)100 * 366 * 86400 * 1000)

/* model.c */
int rp_model_load(const char *home, const char *run, struct report *r, struct al_err *err);
const char *rp_jstr(const json_t *o, const char *k);
long long rp_jint(const json_t *o, const char *k, long long def);
int64_t rp_ms_to_us(long long ms);
int64_t rp_entry_reach(const struct entry *e);
int rp_model_build(struct report *r);
void rp_report_free(struct report *r);

/* html.c */
void rp_buf_puts(struct buf *b, const char *s);
void rp_buf_printf(struct buf *b, const char *fmt, ...) AL_PRINTF(2, 3);
void rp_buf_esc(struct buf *b, const char *s);
void rp_put_dur(struct buf *b, int64_t us);
void rp_put_dur_ms(struct buf *b, long long ms);
void rp_put_seq_text(struct buf *b, const struct entry *a, const struct entry *z);
void rp_put_seq(struct buf *b, const struct entry *a, const struct entry *z);
void rp_put_ts(struct buf *b, const struct report *r, const struct entry *e);
const char *rp_status_class(const char *s);
void rp_put_status(struct buf *b, const char *s);
void rp_put_value(struct buf *b, const json_t *v, int depth);
int rp_in_list(const char *s, const char *const *list);
void rp_put_fields(struct buf *b, const json_t *o, const char *const *shown);
void rp_put_head(struct buf *b, const struct report *r);
/* The page's head (CSP, style) with this title, escaped. */
void rp_put_head_titled(struct buf *b, const char *title);
void rp_put_header(struct buf *b, const struct report *r);

/* timeline.c */
void rp_put_timeline(struct buf *b, const struct report *r);
void rp_put_steps(struct buf *b, const struct report *r);

#endif
