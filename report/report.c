/* report.c - the HTML report of a run: one self-contained page built from
 * the audit log's entries of the run alone, each fact naming its seq. */
#include "report/report.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/* ------------------------------------------------------------------ */
/* The page under construction.                                        */

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

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed || n == 0)
		return;
	if (n >= b->cap - b->len) {
		size_t cap = b->cap != 0 ? b->cap : 16384;
		char *p;
		while (cap - b->len <= n) {
			if (cap > SIZE_MAX / 2) {
				b->failed = 1;
				return;
			}
			cap *= 2;
		}
		if ((p = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Markup of our own: never text from the log (that goes through esc). */
static void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) AL_PRINTF(2, 3);
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n < sizeof small) {
		buf_add(b, small, (size_t)n);
		return;
	}
	/* longer than the small buffer: format again into one that fits */
	if ((big = malloc((size_t)n + 1)) == NULL) {
		b->failed = 1;
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_add(b, big, (size_t)n);
	free(big);
}

/* The length of the valid UTF-8 sequence at p and its code point, or 0
 * when p does not start one (overlong forms and surrogates included). */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xE0) == 0xC0) {
		n = 2, c = p[0] & 0x1Fu, min = 0x80;
	} else if ((p[0] & 0xF0) == 0xE0) {
		n = 3, c = p[0] & 0x0Fu, min = 0x800;
	} else if ((p[0] & 0xF8) == 0xF0) {
		n = 4, c = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) /* the terminating NUL stops here too */
			return 0;
		c = (c << 6) | (p[i] & 0x3Fu);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* Characters that show nothing or reorder what follows: controls, the
 * soft hyphen, the Arabic letter mark, the Mongolian vowel separator,
 * zero-width characters, line separators, bidirectional embeddings,
 * overrides and isolates, the byte-order mark, the interlinear
 * annotation marks and the tag characters (invisible, they can spell
 * out hidden text). */
static int cp_hidden(uint32_t c)
{
	return (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7F && c <= 0x9F) || c == 0xAD ||
	       c == 0x061C || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
	       (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2069) || c == 0xFEFF ||
	       (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE0000 && c <= 0xE007F);
}

/* Writes s as HTML text, fit for an element or a quoted attribute. Every
 * string of the log goes through here: reasons, paths and argv are a
 * step's (or an intruder's) words, and must not become markup (stored
 * XSS). Hidden characters and bytes that are not UTF-8 become visible
 * escapes (\u202E, \xFF), so that a path cannot hide or reorder what the
 * page shows (Trojan Source); the evidence appendix keeps the exact
 * JSON. */
static void buf_esc(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, from = 0;

	while (p[i] != '\0') {
		const char *rep = NULL;
		uint32_t cp = 0;
		size_t n = utf8_seq(p + i, &cp);
		switch (p[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: break;
		}
		if (rep == NULL && n != 0 && !cp_hidden(cp)) {
			i += n;
			continue;
		}
		buf_add(b, s + from, i - from);
		if (rep != NULL)
			buf_puts(b, rep);
		else if (n == 0)
			buf_printf(b, "\\x%02X", p[i]);
		else
			buf_printf(b, "\\u%04X", (unsigned)cp);
		i += n != 0 ? n : 1;
		from = i;
	}
	buf_add(b, s + from, i - from);
}

/* ------------------------------------------------------------------ */
/* The run's entries, and what the report makes of them.               */

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

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The integer member k of o, or def. */
static long long jint(const json_t *o, const char *k, long long def)
{
	const json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

/* al_audit_query's row callback: keeps each line and its parse. */
static void load_row(void *ctx, const char *line)
{
	struct entries *es = ctx;
	struct entry *e;
	const char *ts;

	if (es->failed)
		return;
	if (es->n == es->cap) {
		size_t cap = es->cap != 0 ? es->cap * 2 : 64;
		struct entry *ne = realloc(es->e, cap * sizeof *ne);
		if (ne == NULL) {
			es->failed = 1;
			return;
		}
		es->e = ne;
		es->cap = cap;
	}
	e = &es->e[es->n];
	memset(e, 0, sizeof *e);
	if ((e->line = strdup(line)) == NULL) {
		es->failed = 1;
		return;
	}
	e->v = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(e->v)) {
		/* shown in the appendix as it is; nothing else is made of it */
		json_decref(e->v);
		e->v = json_object();
	}
	e->seq = (uint64_t)jint(e->v, "seq", 0);
	e->event = jstr(e->v, "event") != NULL ? jstr(e->v, "event") : "";
	if ((ts = jstr(e->v, "ts")) == NULL || al_ts_parse(ts, &e->ts_us, NULL) < 0)
		e->ts_us = 0;
	es->n++;
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->e[i].line);
		json_decref(es->e[i].v);
	}
	free(es->e);
}

static struct step *step_get(struct report *r, const char *id)
{
	json_t *ix = json_object_get(r->step_index, id);
	struct step *ns;

	if (ix != NULL)
		return &r->steps[json_integer_value(ix)];
	if ((ns = realloc(r->steps, (r->nsteps + 1) * sizeof *ns)) == NULL)
		return NULL;
	r->steps = ns;
	memset(&ns[r->nsteps], 0, sizeof *ns);
	ns[r->nsteps].id = id;
	if (json_object_set_new(r->step_index, id, json_integer((json_int_t)r->nsteps)) < 0)
		return NULL;
	return &ns[r->nsteps++];
}

static struct attempt *attempt_get(struct step *s, long n)
{
	struct attempt *na;

	for (size_t i = 0; i < s->natt; i++)
		if (s->att[i].n == n)
			return &s->att[i];
	if ((na = realloc(s->att, (s->natt + 1) * sizeof *na)) == NULL)
		return NULL;
	s->att = na;
	memset(&na[s->natt], 0, sizeof *na);
	na[s->natt].n = n;
	return &na[s->natt++];
}

/* Takes a step.* entry into its step; a second entry for the same fact
 * is left unused, and so listed with the others rather than hidden. */
static int model_step_entry(struct report *r, struct entry *e, const char *id)
{
	struct step *s = step_get(r, id);
	const struct entry **slot;
	struct attempt *a;
	long n = (long)jint(e->v, "attempt", 1);

	if (s == NULL)
		return -1;
	if (strcmp(e->event, "step.skipped") == 0) {
		slot = &s->skipped;
	} else {
		/* step.retry {attempt: n + 1} follows the failure of attempt n */
		if (strcmp(e->event, "step.retry") == 0 && n > 1)
			n--;
		if ((a = attempt_get(s, n)) == NULL)
			return -1;
		slot = strcmp(e->event, "step.start") == 0 ? &a->start
		       : strcmp(e->event, "step.end") == 0 ? &a->end
		                                           : &a->retry;
	}
	if (*slot == NULL) {
		*slot = e;
		e->used = 1;
	}
	return 0;
}

static int is_step_event(const char *ev)
{
	return strcmp(ev, "step.start") == 0 || strcmp(ev, "step.end") == 0 ||
	       strcmp(ev, "step.retry") == 0 || strcmp(ev, "step.skipped") == 0;
}

/* Milliseconds from the log (a delay, a duration) in microseconds, for
 * arithmetic: clamped to [0, 100 years] first. The report reads the
 * index without checking the chain, so a forged index.db or segment can
 * hold any integer, and 1000 × it would overflow; 100 years is the
 * longest duration airlock itself accepts (al_duration_parse). With
 * timestamps in years 0000-9999 (al_ts_parse), every sum and difference
 * of them and such spans stays far inside int64_t. */
#define MS_MAX ((int64_t)100 * 366 * 86400 * 1000)

static int64_t ms_to_us(long long ms)
{
	return (ms < 0 ? 0 : ms > MS_MAX ? MS_MAX : (int64_t)ms) * 1000;
}

/* The end of what an entry shows on the timeline: a retry's wait too. */
static int64_t entry_reach(const struct entry *e)
{
	if (strcmp(e->event, "step.retry") == 0 && e->ts_us != 0)
		return e->ts_us + ms_to_us(jint(e->v, "delay_ms", 0));
	return e->ts_us;
}

static int model_build(struct report *r)
{
	r->t0 = INT64_MAX;
	r->t1 = INT64_MIN;
	for (size_t i = 0; i < r->all.n; i++) {
		struct entry *e = &r->all.e[i];
		const char *step = jstr(e->v, "step");
		if (e->ts_us != 0) {
			r->t0 = e->ts_us < r->t0 ? e->ts_us : r->t0;
			r->t1 = entry_reach(e) > r->t1 ? entry_reach(e) : r->t1;
		}
		if (strcmp(e->event, "run.start") == 0 && r->start == NULL) {
			r->start = e;
			e->used = 1;
		} else if (strcmp(e->event, "run.end") == 0 && r->end == NULL) {
			r->end = e;
			e->used = 1;
		} else if (step != NULL && is_step_event(e->event) &&
		           model_step_entry(r, e, step) < 0) {
			return -1;
		}
	}
	if (r->t0 > r->t1) /* no timestamp at all */
		r->t0 = r->t1 = 0;
	return 0;
}

static void report_free(struct report *r)
{
	for (size_t i = 0; i < r->nsteps; i++)
		free(r->steps[i].att);
	free(r->steps);
	json_decref(r->step_index);
	entries_free(&r->all);
	entries_free(&r->log);
}

/* ------------------------------------------------------------------ */
/* Small pieces of the page.                                           */

/* whole.milli with a unit, the fraction's trailing zeros cut: 1.5 ms. */
static void put_decimal(struct buf *b, const char *sign, uint64_t whole, uint64_t milli,
                        const char *unit)
{
	buf_printf(b, "%s%llu", sign, (unsigned long long)whole);
	if (milli != 0) {
		int digits = 3;
		for (; milli % 10 == 0; milli /= 10)
			digits--;
		buf_printf(b, ".%0*llu", digits, (unsigned long long)milli);
	}
	buf_printf(b, " %s", unit);
}

/* A duration: 0, 750 µs, 1.5 ms, 2.25 s, 3 min 5 s, 2 h 10 min. */
static void put_dur(struct buf *b, int64_t us)
{
	const char *sign = us < 0 ? "-" : "";
	uint64_t u = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;

	if (u == 0) {
		buf_puts(b, "0");
		return;
	}
	if (u < 1000) {
		buf_printf(b, "%s%llu µs", sign, (unsigned long long)u);
		return;
	}
	if (u >= 60000000) {
		uint64_t s = u / 1000000, h = s / 3600, m = s / 60 % 60;
		if (h != 0)
			buf_printf(b, "%s%llu h", sign, (unsigned long long)h);
		else
			buf_printf(b, "%s%llu min", sign, (unsigned long long)m);
		if (h != 0 && m != 0)
			buf_printf(b, " %llu min", (unsigned long long)m);
		else if (h == 0 && s % 60 != 0)
			buf_printf(b, " %llu s", (unsigned long long)(s % 60));
		return;
	}
	if (u < 1000000)
		put_decimal(b, sign, u / 1000, u % 1000, "ms");
	else
		put_decimal(b, sign, u / 1000000, u % 1000000 / 1000, "s");
}

/* A duration the log gives in milliseconds: as put_dur when within
 * [0, 100 years], else as the log has it ("-5 ms"), never scaled. */
static void put_dur_ms(struct buf *b, long long ms)
{
	if (ms >= 0 && ms <= MS_MAX)
		put_dur(b, ms_to_us(ms));
	else
		buf_printf(b, "%lld ms", ms);
}

static void put_seq_text(struct buf *b, const struct entry *a, const struct entry *z)
{
	buf_printf(b, "seq %llu", (unsigned long long)a->seq);
	if (z->seq != a->seq)
		buf_printf(b, "–%llu", (unsigned long long)z->seq);
}

/* "seq A" or "seq A–B", a link to the entries in the appendix. */
static void put_seq(struct buf *b, const struct entry *a, const struct entry *z)
{
	if (a == NULL)
		a = z;
	if (z == NULL)
		z = a;
	if (a == NULL) {
		buf_puts(b, "—");
		return;
	}
	buf_printf(b, "<a class=\"seq\" href=\"#seq-%llu\">", (unsigned long long)a->seq);
	put_seq_text(b, a, z);
	buf_puts(b, "</a>");
}

/* An entry's ts as the log has it, and its offset into the run. */
static void put_ts(struct buf *b, const struct report *r, const struct entry *e)
{
	const char *ts = e != NULL ? jstr(e->v, "ts") : NULL;

	if (ts == NULL) {
		buf_puts(b, "—");
		return;
	}
	buf_puts(b, "<span class=\"ts\">");
	buf_esc(b, ts);
	buf_puts(b, "</span>");
	if (e->ts_us != 0) {
		buf_puts(b, " <span class=\"rel\">+");
		put_dur(b, e->ts_us - r->t0);
		buf_puts(b, "</span>");
	}
}

/* A class name for a status: only names of ours reach an attribute. */
static const char *status_class(const char *s)
{
	static const char *const known[] = {"ok", "failed", "timeout", "killed", "skipped", NULL};

	for (size_t i = 0; s != NULL && known[i] != NULL; i++)
		if (strcmp(s, known[i]) == 0)
			return known[i];
	if (s != NULL && strcmp(s, "aborted") == 0)
		return "failed";
	if (s != NULL && strcmp(s, "interrupted") == 0)
		return "killed";
	return "other";
}

static void put_status(struct buf *b, const char *s)
{
	buf_printf(b, "<span class=\"st st-%s\">", status_class(s));
	buf_esc(b, s != NULL ? s : "unknown");
	buf_puts(b, "</span>");
}

static int is_sha256(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 64 && s[n] == '\0';
}

static void put_value(struct buf *b, const json_t *v, int depth);

static void put_object(struct buf *b, const json_t *v, int depth)
{
	const char *k, *sep = "";
	const json_t *m;

	if (json_object_size(v) == 0)
		buf_puts(b, "{}");
	json_object_foreach((json_t *)v, k, m) {
		buf_puts(b, sep);
		buf_puts(b, "<span class=\"k\">");
		buf_esc(b, k);
		buf_puts(b, "</span> ");
		put_value(b, m, depth + 1);
		sep = "; ";
	}
}

/* A value of the log as text: strings escaped (hashes in monospace),
 * numbers as they are, objects as "key value; …", arrays one item a
 * line. Deeper than a few levels, compact JSON. */
static void put_value(struct buf *b, const json_t *v, int depth)
{
	char *s;
	size_t i;
	const json_t *m;

	if (json_is_string(v) && is_sha256(json_string_value(v))) {
		buf_puts(b, "<code class=\"h\">");
		buf_esc(b, json_string_value(v));
		buf_puts(b, "</code>");
	} else if (json_is_string(v)) {
		buf_esc(b, json_string_value(v));
	} else if (json_is_object(v) && depth < 4) {
		put_object(b, v, depth);
	} else if (json_is_array(v) && json_array_size(v) > 0 && depth < 4) {
		buf_puts(b, "<ul class=\"v\">");
		json_array_foreach(v, i, m) {
			buf_puts(b, "<li>");
			put_value(b, m, depth + 1);
			buf_puts(b, "</li>");
		}
		buf_puts(b, "</ul>");
	} else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12))) !=
	           NULL) {
		buf_esc(b, s);
		free(s);
	} else {
		b->failed = 1;
	}
}

static int in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* Members every entry has, or that a row already shows elsewhere. */
static const char *const common_fields[] = {"seq", "ts", "prev", "event", "run", "step", NULL};

static size_t count_fields(const json_t *o, const char *const *shown)
{
	const char *k;
	const json_t *m;
	size_t n = 0;

	json_object_foreach((json_t *)o, k, m)
		n += !in_list(k, common_fields) && !in_list(k, shown);
	return n;
}

/* The members of an entry that are neither common nor in shown: nothing
 * of an entry is hidden, even what this report does not know. */
static void put_fields(struct buf *b, const json_t *o, const char *const *shown)
{
	const char *k;
	const json_t *m;

	json_object_foreach((json_t *)o, k, m) {
		if (in_list(k, common_fields) || in_list(k, shown))
			continue;
		buf_puts(b, "<div><span class=\"k\">");
		buf_esc(b, k);
		buf_puts(b, "</span> ");
		put_value(b, m, 1);
		buf_puts(b, "</div>");
	}
}

/* ------------------------------------------------------------------ */
/* The page: head and header.                                          */

static const char css[] =
	"body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1b1b;background:#fff}"
	"h1{font-size:21px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;"
	"border-bottom:1px solid #ddd;padding-bottom:3px}"
	"table{border-collapse:collapse;margin:6px 0}"
	"th,td{border:1px solid #d8d8d8;padding:3px 7px;text-align:left;vertical-align:top}"
	"th{background:#f2f4f7;font-weight:600}"
	"code,.h,.ts{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
	".h{word-break:break-all}.rel{color:#666;font-size:12px}.ts{white-space:nowrap}"
	"td .rel{display:block}"
	".k{color:#555;font-style:italic}.none{color:#666}"
	"ul.v{margin:0;padding-left:16px}"
	"a.seq{color:#1a56a8;white-space:nowrap;font-size:12px}"
	".st{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px}"
	".st-ok{background:#2e7d32}.st-failed{background:#c62828}.st-timeout{background:#e65100}"
	".st-killed{background:#6a1b9a}.st-skipped{background:#9e9e9e}.st-other{background:#546e7a}"
	".b-ok{fill:#2e7d32}.b-failed{fill:#c62828}.b-timeout{fill:#e65100}"
	".b-killed{fill:#6a1b9a}.b-other{fill:#546e7a}"
	".skip{fill:#fff;stroke:#757575;stroke-width:1.5}"
	".wait{stroke:#424242;stroke-width:1.5;stroke-dasharray:4 3}"
	".grid{stroke:#e3e3e3}.band{fill:#f7f8fa}"
	"svg text{font-family:system-ui,sans-serif;fill:#333}"
	".tl{width:100%;max-width:1200px;height:auto;border:1px solid #e3e3e3}"
	".legend span{display:inline-block;margin-right:14px;font-size:12px}"
	".sw{display:inline-block;width:12px;height:12px;vertical-align:-1px;margin-right:4px}"
	".ev div{font-family:ui-monospace,monospace;font-size:11px;white-space:pre-wrap;"
	"word-break:break-all;border-bottom:1px solid #f0f0f0;padding:1px 0}"
	".ev div:target{background:#fff3c4}"
	"details summary{cursor:pointer}";

static void put_head(struct buf *b, const struct report *r)
{
	buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
	/* Defence in depth beside the escaping: should markup ever slip
	 * through, the page still runs no script and loads nothing. */
	buf_puts(b, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	            "style-src 'unsafe-inline'; img-src data:\">\n");
	buf_puts(b, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
	buf_puts(b, "<title>airlock report: run ");
	buf_esc(b, r->run);
	buf_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
}

/* One row of the header: label, then the caller's cell, then evidence. */
static void fact_open(struct buf *b, const char *label)
{
	buf_printf(b, "<tr><th>%s</th><td>", label);
}

static void fact_close(struct buf *b, const struct entry *e)
{
	buf_puts(b, "</td><td>");
	put_seq(b, e, NULL);
	buf_puts(b, "</td></tr>\n");
}

/* A header row showing member k of e (— when e lacks it). */
static void fact(struct buf *b, const char *label, const struct entry *e, const char *k)
{
	const json_t *v = e != NULL ? json_object_get(e->v, k) : NULL;

	fact_open(b, label);
	if (v != NULL && !json_is_null(v))
		put_value(b, v, 1);
	else
		buf_puts(b, "—");
	fact_close(b, v != NULL ? e : NULL);
}

/* A header row showing member k of e as compact JSON: an argv is read
 * best exactly, quotes and all. */
static void fact_json(struct buf *b, const char *label, const struct entry *e, const char *k)
{
	const json_t *v = e != NULL ? json_object_get(e->v, k) : NULL;
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	fact_open(b, label);
	if (s != NULL) {
		buf_puts(b, "<code>");
		buf_esc(b, s);
		buf_puts(b, "</code>");
	} else {
		buf_puts(b, "—");
	}
	free(s);
	fact_close(b, s != NULL ? e : NULL);
}

static void put_duration_fact(struct buf *b, const struct report *r)
{
	const json_t *d = r->end != NULL ? json_object_get(r->end->v, "duration_ms") : NULL;

	fact_open(b, "Duration");
	if (json_is_integer(d)) {
		put_dur_ms(b, (long long)json_integer_value(d));
		/* the exact ms, unless put_dur_ms has just shown them */
		if (json_integer_value(d) >= 1000 && json_integer_value(d) <= MS_MAX)
			buf_printf(b, " <span class=\"rel\">(%lld ms)</span>",
			           (long long)json_integer_value(d));
	} else if (r->start != NULL && r->end != NULL && r->start->ts_us && r->end->ts_us) {
		put_dur(b, r->end->ts_us - r->start->ts_us);
		buf_puts(b, " <span class=\"rel\">(from the timestamps)</span>");
	} else {
		buf_puts(b, "—");
	}
	fact_close(b, r->end);
}

static void put_status_fact(struct buf *b, const struct report *r)
{
	fact_open(b, "Status");
	if (r->end != NULL)
		put_status(b, jstr(r->end->v, "status"));
	else
		buf_puts(b, "<span class=\"st st-other\">unfinished</span> no run.end in the log: the "
		            "run is still running, or its end was never recorded");
	fact_close(b, r->end);
}

static const char *const start_shown[] = {"pipeline", "version", "manifest_sha256", "date",
                                          "resume_of", "user", "uid", "host", "argv",
                                          "airlock", NULL};
static const char *const end_shown[] = {"status", "duration_ms", "steps", NULL};

static void put_user_fact(struct buf *b, const struct report *r)
{
	const json_t *v = r->start != NULL ? r->start->v : NULL;

	fact_open(b, "User and host");
	buf_esc(b, jstr(v, "user") != NULL ? jstr(v, "user") : "?");
	buf_printf(b, " (uid %lld) on ", jint(v, "uid", -1));
	buf_esc(b, jstr(v, "host") != NULL ? jstr(v, "host") : "?");
	fact_close(b, r->start);
}

static void put_log_fact(struct buf *b, const struct report *r)
{
	const struct entry *lo = r->log.n > 0 ? &r->log.e[0] : NULL;

	fact_open(b, "Audit log");
	if (lo != NULL && jstr(lo->v, "log_id") != NULL) {
		buf_puts(b, "log_id <code>");
		buf_esc(b, jstr(lo->v, "log_id"));
		buf_puts(b, "</code>");
		if (jstr(lo->v, "airlock") != NULL) {
			buf_puts(b, ", opened by airlock ");
			buf_esc(b, jstr(lo->v, "airlock"));
		}
	} else {
		buf_puts(b, "—");
		lo = NULL;
	}
	/* the appendix holds only the run's entries: this one is not linked */
	buf_puts(b, "</td><td>");
	if (lo != NULL)
		buf_printf(b, "log.open seq %llu", (unsigned long long)lo->seq);
	buf_puts(b, "</td></tr>\n");
}

static void put_header(struct buf *b, const struct report *r)
{
	const struct entries *a = &r->all;
	char now[AL_TS_LEN];

	buf_puts(b, "<h1>airlock run ");
	buf_esc(b, r->run);
	buf_puts(b, "</h1>\n<table class=\"facts\">\n<tr><th>Fact</th><th>Value</th><th>Evidence</th></tr>\n");
	fact(b, "Run", r->start, "run");
	fact(b, "Pipeline", r->start, "pipeline");
	fact(b, "Version", r->start, "version");
	fact(b, "Manifest sha256", r->start, "manifest_sha256");
	fact(b, "Logical date", r->start, "date");
	fact(b, "Resume of", r->start, "resume_of");
	put_user_fact(b, r);
	fact_open(b, "Started");
	put_ts(b, r, r->start);
	fact_close(b, r->start);
	fact_open(b, "Ended");
	put_ts(b, r, r->end);
	fact_close(b, r->end);
	put_duration_fact(b, r);
	put_status_fact(b, r);
	fact(b, "Steps", r->end, "steps");
	fact_json(b, "Run argv", r->start, "argv");
	if (r->start != NULL && json_object_get(r->start->v, "airlock") != NULL)
		fact(b, "airlock version", r->start, "airlock");
	put_log_fact(b, r);
	if (r->start != NULL && count_fields(r->start->v, start_shown) != 0) {
		fact_open(b, "More of run.start");
		put_fields(b, r->start->v, start_shown);
		fact_close(b, r->start);
	}
	if (r->end != NULL && count_fields(r->end->v, end_shown) != 0) {
		fact_open(b, "More of run.end");
		put_fields(b, r->end->v, end_shown);
		fact_close(b, r->end);
	}
	buf_printf(b, "<tr><th>Entries</th><td>%zu entries of this run in the log, ", a->n);
	put_seq_text(b, &a->e[0], &a->e[a->n - 1]);
	buf_puts(b, "</td><td>");
	put_seq(b, &a->e[0], &a->e[a->n - 1]);
	buf_puts(b, "</td></tr>\n");
	al_ts_format(al_now_us(), now);
	buf_printf(b, "<tr><th>Report</th><td>made by airlock %s at <span class=\"ts\">%s</span> "
	              "from the audit log alone</td><td></td></tr>\n</table>\n",
	           AL_VERSION, now);
}

/* ------------------------------------------------------------------ */
/* The timeline (inline SVG).                                          */

#define TL_WIDTH 1200
#define TL_LABEL 212 /* right edge of the step names */
#define TL_X0 222    /* the plot's left edge */
#define TL_X1 1178   /* and its right edge */
#define TL_AXIS 30   /* height of the axis labels above the rows */
#define TL_NAME 28   /* longest step name drawn whole (bytes) */

struct tl {
	const struct report *r;
	int row_h, bar_h;
};

/* The timeline's span in µs, t1 - t0 (t1 >= t0: model_build), computed
 * unsigned so that even bounds it did not make could not overflow. */
static uint64_t tl_span(const struct report *r)
{
	return (uint64_t)r->t1 - (uint64_t)r->t0;
}

static double tl_x(const struct tl *t, int64_t us)
{
	const struct report *r = t->r;
	double span = r->t1 > r->t0 ? (double)tl_span(r) : 1.0;

	if (us < r->t0)
		us = r->t0;
	if (us > r->t1)
		us = r->t1;
	return TL_X0 + ((double)us - (double)r->t0) * (TL_X1 - TL_X0) / span;
}

/* At most this many ticks, whatever the span: the loop that draws them
 * cannot run away (tl_tick gives 9 at most). */
#define TL_TICKS_MAX 64

/* A tick spacing that gives 3 to 9 ticks: 1-2-5 steps under a minute,
 * then steps a clock face has. */
static uint64_t tl_tick(uint64_t span)
{
	static const uint64_t nice[] = {
		1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000,
		100000, 200000, 500000, 1000000, 2000000, 5000000, 10000000, 15000000, 30000000,
		60000000, 120000000, 300000000, 600000000, 900000000, 1800000000, 3600000000,
		7200000000, 10800000000, 21600000000, 43200000000, 86400000000,
	};
	uint64_t want = span / 8 > 0 ? span / 8 : 1;

	for (size_t i = 0; i < sizeof nice / sizeof nice[0]; i++)
		if (nice[i] >= want)
			return nice[i];
	return (want / 86400000000 + 1) * 86400000000;
}

static void tl_axis(struct buf *b, const struct tl *t, int height)
{
	uint64_t span = tl_span(t->r), tick = tl_tick(span);

	/* at passes span by k = 9 at the latest (tick >= span / 8 and tick
	 * >= 1); TL_TICKS_MAX bounds k whatever tl_tick returns, and the
	 * arithmetic is unsigned: no overflow, no endless loop */
	for (uint64_t k = 0, at = 0; k <= TL_TICKS_MAX && at <= span && !b->failed;
	     k++, at = k * tick) {
		double x = tl_x(t, (int64_t)((uint64_t)t->r->t0 + at));
		buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x,
		           TL_AXIS - 6, x, height);
		buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"%s\">", x,
		           TL_AXIS - 10, at == 0 ? "start" : "middle");
		if (at != 0)
			buf_puts(b, "+");
		put_dur(b, (int64_t)at);
		buf_puts(b, "</text>");
	}
}

/* The step's name, cut to TL_NAME bytes on a character boundary; the
 * whole name is in the tooltip. */
static void tl_name(struct buf *b, const char *id, double y)
{
	size_t n = strlen(id), cut = n;
	char *s;

	buf_printf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\"><title>", TL_LABEL,
	           y);
	buf_esc(b, id);
	buf_puts(b, "</title>");
	if (n > TL_NAME) {
		cut = TL_NAME - 1;
		while (cut > 0 && ((unsigned char)id[cut] & 0xC0) == 0x80)
			cut--;
	}
	if ((s = strndup(id, cut)) == NULL) {
		b->failed = 1;
		return;
	}
	buf_esc(b, s);
	free(s);
	buf_puts(b, cut < n ? "…</text>" : "</text>");
}

/* The tooltip of an attempt's bar. */
static void tl_bar_title(struct buf *b, const struct step *s, const struct attempt *a)
{
	const json_t *end = a->end != NULL ? a->end->v : NULL;

	buf_puts(b, "<title>");
	buf_esc(b, s->id);
	buf_printf(b, " attempt %ld: ", a->n);
	buf_esc(b, end != NULL && jstr(end, "status") != NULL ? jstr(end, "status") : "no step.end");
	if (json_is_integer(json_object_get(end, "exit")))
		buf_printf(b, ", exit %lld", jint(end, "exit", 0));
	if (json_is_integer(json_object_get(end, "duration_ms"))) {
		buf_puts(b, ", ");
		put_dur_ms(b, jint(end, "duration_ms", 0));
	}
	buf_puts(b, " (");
	if (a->start != NULL || a->end != NULL)
		put_seq_text(b, a->start != NULL ? a->start : a->end,
		             a->end != NULL ? a->end : a->start);
	buf_puts(b, ")</title>");
}

/* An attempt's bar, from step.start to step.end; without a step.end, to
 * the end of the run's entries, grey. */
static void tl_bar(struct buf *b, const struct tl *t, const struct step *s, const struct attempt *a,
                   double y)
{
	int64_t from = a->start != NULL ? a->start->ts_us : 0;
	int64_t to = a->end != NULL ? a->end->ts_us : t->r->t1;
	double x0, x1;

	if (from == 0 && a->end != NULL) /* no step.start: back from its duration */
		from = to - ms_to_us(jint(a->end->v, "duration_ms", 0));
	if (from == 0 || to == 0)
		return;
	x0 = tl_x(t, from);
	x1 = tl_x(t, to);
	/* a 1 ms attempt of an hour's run is still seen */
	if (x1 - x0 < 2.0)
		x1 = x0 + 2.0;
	buf_printf(b, "<rect class=\"b-%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" rx=\"2\">",
	           a->end != NULL ? status_class(jstr(a->end->v, "status")) : "other", x0, y, x1 - x0,
	           t->bar_h);
	tl_bar_title(b, s, a);
	buf_puts(b, "</rect>");
}

/* The wait after a failed attempt: a dashed line to the next start (or
 * as long as delay_ms said, when no attempt followed). */
static void tl_wait(struct buf *b, const struct tl *t, const struct step *s, size_t i, double y)
{
	const struct attempt *a = &s->att[i];
	const struct entry *next = i + 1 < s->natt ? s->att[i + 1].start : NULL;
	int64_t from = a->end != NULL ? a->end->ts_us : a->retry->ts_us;
	int64_t to = next != NULL ? next->ts_us : entry_reach(a->retry);

	if (from == 0 || to == 0)
		return;
	buf_printf(b, "<line class=\"wait\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"><title>",
	           tl_x(t, from), y, tl_x(t, to) > tl_x(t, from) + 1 ? tl_x(t, to) : tl_x(t, from) + 1,
	           y);
	buf_esc(b, s->id);
	buf_printf(b, ": retry after attempt %ld, waiting %lld ms (", a->n,
	           jint(a->retry->v, "delay_ms", -1));
	buf_esc(b, jstr(a->retry->v, "reason") != NULL ? jstr(a->retry->v, "reason") : "no reason");
	buf_printf(b, "), seq %llu</title></line>", (unsigned long long)a->retry->seq);
}

static void tl_skip(struct buf *b, const struct tl *t, const struct step *s, double ymid)
{
	double x = tl_x(t, s->skipped->ts_us != 0 ? s->skipped->ts_us : t->r->t0);
	double h = t->bar_h / 2.0;
	const char *reason = jstr(s->skipped->v, "reason");

	buf_printf(b, "<path class=\"skip\" d=\"M%.1f %.1fl%.1f %.1fl%.1f %.1fl%.1f %.1fz\"><title>",
	           x, ymid - h, h, h, -h, h, -h, -h);
	buf_esc(b, s->id);
	buf_puts(b, " skipped: ");
	buf_esc(b, reason != NULL ? reason : "no reason");
	buf_printf(b, " (seq %llu)</title></path>", (unsigned long long)s->skipped->seq);
	/* the reason, written beside the mark where there is room */
	buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" fill=\"#666\" text-anchor=\"%s\">"
	              "skipped: ",
	           x < TL_X1 - 160 ? x + h + 4 : x - h - 4, ymid + 4, t->row_h > 14 ? 11 : 9,
	           x < TL_X1 - 160 ? "start" : "end");
	buf_esc(b, reason != NULL ? reason : "?");
	buf_puts(b, "</text>");
}

static void tl_row(struct buf *b, const struct tl *t, const struct step *s, size_t row)
{
	double top = TL_AXIS + (double)row * t->row_h;
	double y = top + (t->row_h - t->bar_h) / 2.0, ymid = top + t->row_h / 2.0;

	if (row % 2 == 1)
		buf_printf(b, "<rect class=\"band\" x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%d\"/>", top,
		           TL_WIDTH, t->row_h);
	tl_name(b, s->id, ymid + 4);
	for (size_t i = 0; i < s->natt; i++) {
		if (s->att[i].retry != NULL)
			tl_wait(b, t, s, i, ymid);
		tl_bar(b, t, s, &s->att[i], y);
	}
	if (s->skipped != NULL)
		tl_skip(b, t, s, ymid);
}

static void put_legend(struct buf *b)
{
	static const char *const names[] = {"ok", "failed", "timeout", "killed", "other", NULL};
	static const char *const colours[] = {"#2e7d32", "#c62828", "#e65100", "#6a1b9a", "#546e7a"};

	buf_puts(b, "<p class=\"legend\">");
	for (size_t i = 0; names[i] != NULL; i++)
		buf_printf(b, "<span><span class=\"sw\" style=\"background:%s\"></span>%s</span>",
		           colours[i], strcmp(names[i], "other") == 0 ? "unfinished or other" : names[i]);
	buf_puts(b, "<span>◇ skipped</span><span>- - - retry wait</span></p>\n");
}

static void put_timeline(struct buf *b, const struct report *r)
{
	struct tl t = {r, 22, 14};
	int height;

	buf_puts(b, "<h2>Timeline</h2>\n");
	if (r->nsteps == 0) {
		buf_puts(b, "<p class=\"none\">No step started or was skipped in this run.</p>\n");
		return;
	}
	/* rows shrink as steps multiply, so 200 steps stay on a few screens */
	if (r->nsteps > 100)
		t.row_h = 12, t.bar_h = 8;
	else if (r->nsteps > 40)
		t.row_h = 16, t.bar_h = 10;
	height = TL_AXIS + (int)r->nsteps * t.row_h + 8;
	put_legend(b);
	buf_printf(b, "<svg class=\"tl\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
	              "aria-label=\"timeline of the run's steps\">",
	           TL_WIDTH, height, TL_WIDTH, height);
	tl_axis(b, &t, height);
	for (size_t i = 0; i < r->nsteps; i++)
		tl_row(b, &t, &r->steps[i], i);
	buf_puts(b, "</svg>\n<p class=\"rel\">Time since the run's first entry; each bar spans an "
	            "attempt's step.start to its step.end.</p>\n");
}

/* ------------------------------------------------------------------ */
/* Steps and attempts.                                                 */

static const char *const start_cols[] = {"attempt", NULL};
static const char *const end_cols[] = {"attempt", "exit", "signal", "status", "duration_ms",
                                       "stdout", "stderr", NULL};
static const char *const retry_cols[] = {"attempt", "delay_ms", "reason", NULL};
static const char *const skip_cols[] = {"reason", NULL};

/* stdout or stderr of step.end: size, hash, truncation. */
static void put_stream(struct buf *b, const json_t *end, const char *k)
{
	const json_t *o = json_object_get(end, k);
	static const char *const shown[] = {"size", "sha256", "truncated", "written", NULL};
	long long size = jint(o, "size", -1), written = jint(o, "written", size);

	if (!json_is_object(o)) {
		buf_puts(b, "<td>—</td>");
		return;
	}
	buf_printf(b, "<td>%lld B", size);
	if (json_is_true(json_object_get(o, "truncated")))
		buf_puts(b, " (truncated)");
	if (written != size)
		buf_printf(b, " of %lld B written", written);
	/* the hash of nothing is no evidence worth the room */
	if (jstr(o, "sha256") != NULL && size != 0) {
		buf_puts(b, "<br><code class=\"h\">");
		buf_esc(b, jstr(o, "sha256"));
		buf_puts(b, "</code>");
	}
	put_fields(b, o, shown);
	buf_puts(b, "</td>");
}

static void put_int_cell(struct buf *b, const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_integer(v))
		buf_printf(b, "<td>%lld</td>", (long long)json_integer_value(v));
	else if (v == NULL || json_is_null(v))
		buf_puts(b, "<td>—</td>");
	else {
		buf_puts(b, "<td>");
		put_value(b, v, 1);
		buf_puts(b, "</td>");
	}
}

static void put_step_cell(struct buf *b, const struct step *s, size_t rows)
{
	buf_printf(b, "<td rowspan=\"%zu\"><code>", rows);
	buf_esc(b, s->id);
	buf_puts(b, "</code></td>");
}

static void put_retry_note(struct buf *b, const struct attempt *a)
{
	const json_t *rv = a->retry->v;

	buf_printf(b, "<div>retried as attempt %lld after %lld ms: ", jint(rv, "attempt", a->n + 1),
	           jint(rv, "delay_ms", -1));
	buf_esc(b, jstr(rv, "reason") != NULL ? jstr(rv, "reason") : "no reason given");
	buf_puts(b, " ");
	put_seq(b, a->retry, NULL);
	put_fields(b, rv, retry_cols);
	buf_puts(b, "</div>");
}

static void put_notes(struct buf *b, const struct attempt *a)
{
	buf_puts(b, "<td>");
	if (a->end != NULL)
		put_fields(b, a->end->v, end_cols);
	if (a->retry != NULL)
		put_retry_note(b, a);
	if (a->start != NULL) {
		buf_puts(b, "<details><summary>step.start</summary>");
		put_fields(b, a->start->v, start_cols);
		buf_puts(b, "</details>");
	}
	buf_puts(b, "</td>");
}

static void put_attempt_row(struct buf *b, const struct report *r, const struct step *s,
                            const struct attempt *a, size_t rows)
{
	const json_t *end = a->end != NULL ? a->end->v : NULL;

	buf_puts(b, "<tr>");
	if (rows != 0)
		put_step_cell(b, s, rows);
	buf_printf(b, "<td>%ld</td><td>", a->n);
	put_ts(b, r, a->start);
	buf_puts(b, "</td><td>");
	if (json_is_integer(json_object_get(end, "duration_ms")))
		put_dur_ms(b, jint(end, "duration_ms", 0));
	else
		buf_puts(b, "—");
	buf_puts(b, "</td>");
	put_int_cell(b, end, "exit");
	put_int_cell(b, end, "signal");
	buf_puts(b, "<td>");
	if (end != NULL)
		put_status(b, jstr(end, "status"));
	else
		buf_puts(b, "<span class=\"st st-other\">no step.end</span>");
	buf_puts(b, "</td>");
	put_stream(b, end, "stdout");
	put_stream(b, end, "stderr");
	put_notes(b, a);
	buf_puts(b, "<td>");
	put_seq(b, a->start, a->end);
	buf_puts(b, "</td></tr>\n");
}

static void put_skip_row(struct buf *b, const struct report *r, const struct step *s, size_t rows)
{
	const json_t *v = s->skipped->v;

	buf_puts(b, "<tr>");
	if (rows != 0)
		put_step_cell(b, s, rows);
	buf_puts(b, "<td>—</td><td>");
	put_ts(b, r, s->skipped);
	buf_puts(b, "</td><td>—</td><td>—</td><td>—</td><td>");
	put_status(b, "skipped");
	buf_puts(b, "</td><td>—</td><td>—</td><td><span class=\"k\">reason</span> ");
	buf_esc(b, jstr(v, "reason") != NULL ? jstr(v, "reason") : "—");
	put_fields(b, v, skip_cols);
	buf_puts(b, "</td><td>");
	put_seq(b, s->skipped, NULL);
	buf_puts(b, "</td></tr>\n");
}

static void put_steps(struct buf *b, const struct report *r)
{
	buf_puts(b, "<h2>Steps and attempts</h2>\n");
	if (r->nsteps == 0) {
		buf_puts(b, "<p class=\"none\">None.</p>\n");
		return;
	}
	buf_puts(b, "<table class=\"steps\">\n<tr><th>Step</th><th>Attempt</th><th>Started</th>"
	            "<th>Duration</th><th>Exit</th><th>Signal</th><th>Status</th><th>stdout</th>"
	            "<th>stderr</th><th>Notes</th><th>Evidence</th></tr>\n");
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct step *s = &r->steps[i];
		size_t rows = s->natt + (s->skipped != NULL);
		for (size_t j = 0; j < s->natt; j++)
			put_attempt_row(b, r, s, &s->att[j], j == 0 ? rows : 0);
		if (s->skipped != NULL)
			put_skip_row(b, r, s, s->natt == 0 ? rows : 0);
	}
	buf_puts(b, "</table>\n");
}

/* ------------------------------------------------------------------ */
/* Sections of other events, and the rest.                             */

struct section {
	const char *title;
	const char *const *events; /* the events it lists */
	const char *const *cols;   /* members shown as columns; the rest go to "More" */
};

static const char *const ev_alert[] = {"alert", NULL};
static const char *const col_alert[] = {"kind", "message", NULL};
static const char *const ev_breaker[] = {"breaker.open", "breaker.half_open", "breaker.closed", NULL};
static const char *const col_breaker[] = {"resource", "failures", NULL};
static const char *const ev_secret[] = {"secret.checked", NULL};
static const char *const col_secret[] = {"name", "age_s", "ok", "reason", NULL};
static const char *const ev_await[] = {"await.ready", NULL};
static const char *const col_await[] = {"files", "waited_ms", "polls", NULL};
static const char *const ev_validate[] = {"validate.result", NULL};
static const char *const col_validate[] = {"records", "accepted", "rejected", "reject_ratio",
                                           "limit", "quarantine", NULL};
static const char *const ev_notify[] = {"notify.sent", "notify.failed", NULL};
static const char *const ev_output[] = {"output.staged", "output.committed", "output.phantom",
                                        "output.discarded", NULL};
static const char *const col_output[] = {"attempt", "files", "dest", NULL};
static const char *const no_cols[] = {NULL};

static const struct section sections[] = {
	{"Alerts", ev_alert, col_alert},
	{"Circuit breakers", ev_breaker, col_breaker},
	{"Secrets checked", ev_secret, col_secret},
	{"Awaited inputs", ev_await, col_await},
	{"Validation", ev_validate, col_validate},
	{"Notifications", ev_notify, no_cols},
	{"Outputs", ev_output, col_output},
};

static int in_section(const char *event)
{
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		if (in_list(event, sections[i].events))
			return 1;
	return 0;
}

static void put_entry_row(struct buf *b, const struct report *r, const struct entry *e,
                          const char *const *cols)
{
	const char *step = jstr(e->v, "step");

	buf_puts(b, "<tr><td><code>");
	buf_esc(b, e->event[0] != '\0' ? e->event : "(unreadable line)");
	buf_puts(b, "</code></td><td>");
	put_ts(b, r, e);
	buf_puts(b, "</td><td>");
	buf_esc(b, step != NULL ? step : "—");
	buf_puts(b, "</td>");
	for (size_t k = 0; cols[k] != NULL; k++) {
		const json_t *v = json_object_get(e->v, cols[k]);
		buf_puts(b, "<td>");
		if (v != NULL)
			put_value(b, v, 1);
		else
			buf_puts(b, "—");
		buf_puts(b, "</td>");
	}
	buf_puts(b, "<td>");
	put_fields(b, e->v, cols);
	buf_puts(b, "</td><td>");
	put_seq(b, e, NULL);
	buf_puts(b, "</td></tr>\n");
}

static void put_table_head(struct buf *b, const char *const *cols)
{
	buf_puts(b, "<table>\n<tr><th>Event</th><th>Time</th><th>Step</th>");
	for (size_t k = 0; cols[k] != NULL; k++) {
		buf_puts(b, "<th>");
		buf_esc(b, cols[k]);
		buf_puts(b, "</th>");
	}
	buf_puts(b, "<th>More</th><th>Evidence</th></tr>\n");
}

static void put_section(struct buf *b, const struct report *r, const struct section *sec)
{
	size_t n = 0;

	buf_printf(b, "<h2>%s</h2>\n", sec->title);
	for (size_t i = 0; i < r->all.n; i++) {
		const struct entry *e = &r->all.e[i];
		if (!in_list(e->event, sec->events))
			continue;
		if (n++ == 0)
			put_table_head(b, sec->cols);
		put_entry_row(b, r, e, sec->cols);
	}
	buf_puts(b, n != 0 ? "</table>\n" : "<p class=\"none\">None recorded.</p>\n");
}

/* Whatever no part above showed: events this report does not know, and
 * duplicates of facts it shows once. */
static void put_others(struct buf *b, const struct report *r)
{
	size_t n = 0;

	buf_puts(b, "<h2>Other entries</h2>\n");
	for (size_t i = 0; i < r->all.n; i++) {
		const struct entry *e = &r->all.e[i];
		if (e->used || in_section(e->event))
			continue;
		if (n++ == 0)
			put_table_head(b, no_cols);
		put_entry_row(b, r, e, no_cols);
	}
	buf_puts(b, n != 0 ? "</table>\n" : "<p class=\"none\">None.</p>\n");
}

/* The evidence: every entry of the run, verbatim, each the target of the
 * "seq" links above. */
static void put_evidence(struct buf *b, const struct report *r)
{
	buf_printf(b, "<h2>Evidence</h2>\n<details open><summary>The run's %zu audit entries, "
	              "verbatim (check them against the log: each line's prev is the SHA-256 of "
	              "the line before it in the log)</summary>\n<div class=\"ev\">\n",
	           r->all.n);
	for (size_t i = 0; i < r->all.n; i++) {
		const struct entry *e = &r->all.e[i];
		if (e->seq != 0)
			buf_printf(b, "<div id=\"seq-%llu\">", (unsigned long long)e->seq);
		else
			buf_puts(b, "<div>");
		buf_esc(b, e->line);
		buf_puts(b, "</div>\n");
	}
	buf_puts(b, "</div>\n</details>\n");
}

static char *render(const struct report *r, size_t *len, struct al_err *err)
{
	struct buf b = {NULL, 0, 0, 0};

	put_head(&b, r);
	put_header(&b, r);
	put_timeline(&b, r);
	put_steps(&b, r);
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
		put_section(&b, r, &sections[i]);
	put_others(&b, r);
	put_evidence(&b, r);
	buf_puts(&b, "</body>\n</html>\n");
	if (b.failed) {
		free(b.p);
		al_err_set(err, AL_EENV, "report of run %s: out of memory", r->run);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

char *al_report_html(const char *home, const char *run, size_t *len, size_t *entries,
                     struct al_err *err)
{
	struct al_audit_query q = {0}, lq = {0};
	struct report r;
	char *html = NULL;

	memset(&r, 0, sizeof r);
	r.run = run;
	q.run = run;
	lq.event = "log.open";
	if ((r.step_index = json_object()) == NULL ||
	    al_audit_query(home, &q, load_row, &r.all, err) < 0 ||
	    al_audit_query(home, &lq, load_row, &r.log, err) < 0)
		goto out;
	if (r.all.failed || r.log.failed) {
		al_err_set(err, AL_EENV, "report of run %s: out of memory", run);
		goto out;
	}
	if (r.all.n == 0) {
		al_err_set(err, AL_EUSAGE, "no entries for run %s in the audit log", run);
		goto out;
	}
	if (model_build(&r) < 0) {
		al_err_set(err, AL_EENV, "report of run %s: out of memory", run);
		goto out;
	}
	if ((html = render(&r, len, err)) != NULL)
		*entries = r.all.n;
out:
	report_free(&r);
	return html;
}
