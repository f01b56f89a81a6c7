/* validate.h - what the files of the validate built-in share, and
 * nothing else sees. From the bottom up: schema.c (the schema, the
 * checks of a value, how bytes are shown), records.c (writers, rejects),
 * csv.c (CSV records), validate.c (the stream, JSONL, al_validate). */
#ifndef AIRLOCK_STEPS_VALIDATE_H
#define AIRLOCK_STEPS_VALIDATE_H

#include <csv.h>
#include <regex.h>

#include "steps/steps.h"

#define SCHEMA_MAX (1 << 20)
/* A record (CSV, quoted newlines included) or line (JSONL) longer than
 * this is rejected: a missing closing quote must not make us buffer the
 * rest of a 10 GB file. */
#define RECORD_MAX (1 << 20)
#define READ_BUF (1 << 18)
#define WRITE_BUF (1 << 20)
#define COLUMNS_MAX 4096
#define NAME_MAX_LEN 128
#define VALUES_MAX 65536
/* Bytes of an offending value quoted in a reason. */
#define SHOW_MAX 64
#define WHY_LEN 1024

enum col_type { COL_STRING, COL_INT, COL_DECIMAL, COL_DATE, COL_TIMESTAMP, COL_ENUM, COL_REGEX };

struct column {
	const char *name;     /* borrowed from schema->json */
	enum col_type type;
	int required;         /* an empty or missing value is a reject */
	int has_min, has_max;
	int64_t imin, imax;   /* int bounds */
	double dmin, dmax;    /* decimal bounds */
	int64_t max_length;   /* string/regex, in characters; -1: none */
	const char **values;  /* enum values, sorted for bsearch (borrowed) */
	size_t nvalues;
	regex_t re;
	int has_re;           /* re was compiled and must be freed */
};

struct schema {
	json_t *json;         /* owns every string the columns point into */
	int jsonl;            /* type "jsonl" (else "csv") */
	int header;           /* CSV: the first record names the columns */
	unsigned char delimiter;
	struct column *cols;
	size_t ncols;
};

/* A buffered writer over an fd. Writes go through al_write_all, i.e. the
 * system-call table, so that tests can fill the disk. */
struct bufw {
	int fd;
	const char *display;  /* the path, for messages */
	char *buf;
	size_t len, cap;
	uint64_t size;        /* bytes handed to write(2) so far */
	struct al_sha256 *hash; /* hashes every byte written, or NULL */
};

/* max_reject, parsed by al_max_reject_parse. */
struct limit {
	int percent;
	uint64_t value;       /* the count, or millionths of a percent */
};

struct vctx {
	const struct schema *sc;
	const char *input;    /* for messages */
	struct al_validate_res *res;
	struct al_err *err;
	struct bufw out, quar;
	int failed;           /* err is set: stop (set inside libcsv callbacks) */
	int64_t line;         /* physical line being read (1-based, counts LF) */
	/* The CSV record being assembled: fields NUL-terminated in rec. */
	struct csv_parser csv;
	int csv_live;         /* csv was initialised and needs csv_free */
	char *rec;
	size_t rec_len;
	size_t *foff, *flen;
	size_t nfields, fcap;
	int rec_open;         /* a record has begun and not ended */
	int rec_too_long;
	int64_t start_line;   /* where the record being read began */
	uint64_t rec_bytes;   /* input bytes seen since it began */
	int skipping;         /* after a bad record: drop bytes up to the next line end */
	int header_pending;
	char why[WHY_LEN];
};

/* schema.c: display of untrusted bytes in reasons. val_show writes at
 * most SHOW_MAX bytes of s, escaped: out must hold SHOW_LEN bytes. */
#define SHOW_LEN (4 * SHOW_MAX + 16)
size_t val_utf8_seq(const unsigned char *s, size_t n);
size_t val_escape(char *out, const char *s, size_t n, size_t max);
void val_show(char *out, const char *s, size_t n);
void val_fit(char *out, size_t outlen, const char *fmt, ...) AL_PRINTF(3, 4);
/* schema.c: the schema and the checks of one value */
int val_schema_load(const char *path, struct schema *sc, struct al_err *err);
void val_schema_free(struct schema *sc);
int val_bounds_double(const struct column *c, const char *s, size_t n, double v, char *why);
int val_bounds_int(const struct column *c, const char *s, size_t n, int64_t v, char *why);
int val_text_check(const struct column *c, const char *s, size_t n, char *why);
int val_missing_check(const struct column *c, char *why);
/* records.c: the writers and the rejects */
int val_bufw_open(struct bufw *w, int fd, const char *display, struct al_sha256 *hash,
                  struct al_err *err);
int val_bufw_flush(struct bufw *w, struct al_err *err);
char *val_bufw_room(struct bufw *w, size_t n, struct al_err *err);
int val_bufw_put(struct bufw *w, const void *p, size_t n, struct al_err *err);
int val_reject_csv(struct vctx *x, int64_t line, const char *reason);
int val_reject_line(struct vctx *x, int64_t line, const char *reason, const char *s,
                    size_t n);
/* csv.c: CSV records, through libcsv */
int val_csv_start(struct vctx *x);
int val_csv_block(struct vctx *x, const char *buf, size_t n);
int val_csv_end(struct vctx *x);

#endif
