/* html.c - the report page's pieces: a buffer that cannot fail
 * visibly, escaping of everything that comes from the log (a hostile
 * value cannot break out of its element or reorder what a reader sees),
 * and the common elements: durations, times, seq links, statuses, a
 * value or an entry's fields, the style sheet and the header's facts. */
#include "report/internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/* ------------------------------------------------------------------ */
/* The page under construction.                                        */

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
void rp_buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void rp_buf_printf(struct buf *b, const char *fmt, ...) AL_PRINTF(2, 3);
void rp_buf_printf(struct buf *b, const char *fmt, ...)
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
void rp_buf_esc(struct buf *b, const char *s)
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
			rp_buf_puts(b, rep);
		else if (n == 0)
			rp_buf_printf(b, "\\x%02X", p[i]);
		else
			rp_buf_printf(b, "\\u%04X", (unsigned)cp);
		i += n != 0 ? n : 1;
		from = i;
	}
	buf_add(b, s + from, i - from);
}

/* ------------------------------------------------------------------ */
/* Small pieces of the page.                                           */

/* whole.milli with a unit, the fraction's trailing zeros cut: 1.5 ms. */
static void put_decimal(struct buf *b, const char *sign, uint64_t whole, uint64_t milli,
                        const char *unit)
{
	rp_buf_printf(b, "%s%llu", sign, (unsigned long long)whole);
	if (milli != 0) {
		int digits = 3;
		for (; milli % 10 == 0; milli /= 10)
			digits--;
		rp_buf_printf(b, ".%0*llu", digits, (unsigned long long)milli);
	}
	rp_buf_printf(b, " %s", unit);
}

/* A duration: 0, 750 µs, 1.5 ms, 2.25 s, 3 min 5 s, 2 h 10 min. */
void rp_put_dur(struct buf *b, int64_t us)
{
	const char *sign = us < 0 ? "-" : "";
	uint64_t u = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;

	if (u == 0) {
		rp_buf_puts(b, "0");
		return;
	}
	if (u < 1000) {
		rp_buf_printf(b, "%s%llu µs", sign, (unsigned long long)u);
		return;
	}
	if (u >= 60000000) {
		uint64_t s = u / 1000000, h = s / 3600, m = s / 60 % 60;
		if (h != 0)
			rp_buf_printf(b, "%s%llu h", sign, (unsigned long long)h);
		else
			rp_buf_printf(b, "%s%llu min", sign, (unsigned long long)m);
		if (h != 0 && m != 0)
			rp_buf_printf(b, " %llu min", (unsigned long long)m);
		else if (h == 0 && s % 60 != 0)
			rp_buf_printf(b, " %llu s", (unsigned long long)(s % 60));
		return;
	}
	if (u < 1000000)
		put_decimal(b, sign, u / 1000, u % 1000, "ms");
	else
		put_decimal(b, sign, u / 1000000, u % 1000000 / 1000, "s");
}

/* A duration the log gives in milliseconds: as put_dur when within
 * [0, 100 years], else as the log has it ("-5 ms"), never scaled. */
void rp_put_dur_ms(struct buf *b, long long ms)
{
	if (ms >= 0 && ms <= MS_MAX)
		rp_put_dur(b, rp_ms_to_us(ms));
	else
		rp_buf_printf(b, "%lld ms", ms);
}

void rp_put_seq_text(struct buf *b, const struct entry *a, const struct entry *z)
{
	rp_buf_printf(b, "seq %llu", (unsigned long long)a->seq);
	if (z->seq != a->seq)
		rp_buf_printf(b, "–%llu", (unsigned long long)z->seq);
}

/* "seq A" or "seq A–B", a link to the entries in the appendix. */
void rp_put_seq(struct buf *b, const struct entry *a, const struct entry *z)
{
	if (a == NULL)
		a = z;
	if (z == NULL)
		z = a;
	if (a == NULL) {
		rp_buf_puts(b, "—");
		return;
	}
	rp_buf_printf(b, "<a class=\"seq\" href=\"#seq-%llu\">", (unsigned long long)a->seq);
	rp_put_seq_text(b, a, z);
	rp_buf_puts(b, "</a>");
}

/* An entry's ts as the log has it, and its offset into the run. */
void rp_put_ts(struct buf *b, const struct report *r, const struct entry *e)
{
	const char *ts = e != NULL ? rp_jstr(e->v, "ts") : NULL;

	if (ts == NULL) {
		rp_buf_puts(b, "—");
		return;
	}
	rp_buf_puts(b, "<span class=\"ts\">");
	rp_buf_esc(b, ts);
	rp_buf_puts(b, "</span>");
	if (e->ts_us != 0) {
		rp_buf_puts(b, " <span class=\"rel\">+");
		rp_put_dur(b, e->ts_us - r->t0);
		rp_buf_puts(b, "</span>");
	}
}

/* A class name for a status: only names of ours reach an attribute. */
const char *rp_status_class(const char *s)
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

void rp_put_status(struct buf *b, const char *s)
{
	rp_buf_printf(b, "<span class=\"st st-%s\">", rp_status_class(s));
	rp_buf_esc(b, s != NULL ? s : "unknown");
	rp_buf_puts(b, "</span>");
}

static int is_sha256(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 64 && s[n] == '\0';
}

void rp_put_value(struct buf *b, const json_t *v, int depth);

static void put_object(struct buf *b, const json_t *v, int depth)
{
	const char *k, *sep = "";
	const json_t *m;

	if (json_object_size(v) == 0)
		rp_buf_puts(b, "{}");
	json_object_foreach((json_t *)v, k, m) {
		rp_buf_puts(b, sep);
		rp_buf_puts(b, "<span class=\"k\">");
		rp_buf_esc(b, k);
		rp_buf_puts(b, "</span> ");
		rp_put_value(b, m, depth + 1);
		sep = "; ";
	}
}

/* A value of the log as text: strings escaped (hashes in monospace),
 * numbers as they are, objects as "key value; …", arrays one item a
 * line. Deeper than a few levels, compact JSON. */
void rp_put_value(struct buf *b, const json_t *v, int depth)
{
	char *s;
	size_t i;
	const json_t *m;

	if (json_is_string(v) && is_sha256(json_string_value(v))) {
		rp_buf_puts(b, "<code class=\"h\">");
		rp_buf_esc(b, json_string_value(v));
		rp_buf_puts(b, "</code>");
	} else if (json_is_string(v)) {
		rp_buf_esc(b, json_string_value(v));
	} else if (json_is_object(v) && depth < 4) {
		put_object(b, v, depth);
	} else if (json_is_array(v) && json_array_size(v) > 0 && depth < 4) {
		rp_buf_puts(b, "<ul class=\"v\">");
		json_array_foreach(v, i, m) {
			rp_buf_puts(b, "<li>");
			rp_put_value(b, m, depth + 1);
			rp_buf_puts(b, "</li>");
		}
		rp_buf_puts(b, "</ul>");
	} else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12))) !=
	           NULL) {
		rp_buf_esc(b, s);
		free(s);
	} else {
		b->failed = 1;
	}
}

int rp_in_list(const char *s, const char *const *list)
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
		n += !rp_in_list(k, common_fields) && !rp_in_list(k, shown);
	return n;
}

/* The members of an entry that are neither common nor in shown: nothing
 * of an entry is hidden, even what this report does not know. */
void rp_put_fields(struct buf *b, const json_t *o, const char *const *shown)
{
	const char *k;
	const json_t *m;

	json_object_foreach((json_t *)o, k, m) {
		if (rp_in_list(k, common_fields) || rp_in_list(k, shown))
			continue;
		rp_buf_puts(b, "<div><span class=\"k\">");
		rp_buf_esc(b, k);
		rp_buf_puts(b, "</span> ");
		rp_put_value(b, m, 1);
		rp_buf_puts(b, "</div>");
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

void rp_put_head(struct buf *b, const struct report *r)
{
	char title[160];

	al_snprintf(title, sizeof title, "airlock report: run %.100s", r->run);
	rp_put_head_titled(b, title);
}

void rp_put_head_titled(struct buf *b, const char *title)
{
	rp_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
	/* Defence in depth beside the escaping: should markup ever slip
	 * through, the page still runs no script and loads nothing. */
	rp_buf_puts(b, "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	            "style-src 'unsafe-inline'; img-src data:\">\n");
	rp_buf_puts(b, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
	rp_buf_puts(b, "<title>");
	rp_buf_esc(b, title);
	rp_buf_printf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n", css);
}

/* One row of the header: label, then the caller's cell, then evidence. */
static void fact_open(struct buf *b, const char *label)
{
	rp_buf_printf(b, "<tr><th>%s</th><td>", label);
}

static void fact_close(struct buf *b, const struct entry *e)
{
	rp_buf_puts(b, "</td><td>");
	rp_put_seq(b, e, NULL);
	rp_buf_puts(b, "</td></tr>\n");
}

/* A header row showing member k of e (— when e lacks it). */
static void fact(struct buf *b, const char *label, const struct entry *e, const char *k)
{
	const json_t *v = e != NULL ? json_object_get(e->v, k) : NULL;

	fact_open(b, label);
	if (v != NULL && !json_is_null(v))
		rp_put_value(b, v, 1);
	else
		rp_buf_puts(b, "—");
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
		rp_buf_puts(b, "<code>");
		rp_buf_esc(b, s);
		rp_buf_puts(b, "</code>");
	} else {
		rp_buf_puts(b, "—");
	}
	free(s);
	fact_close(b, s != NULL ? e : NULL);
}

static void put_duration_fact(struct buf *b, const struct report *r)
{
	const json_t *d = r->end != NULL ? json_object_get(r->end->v, "duration_ms") : NULL;

	fact_open(b, "Duration");
	if (json_is_integer(d)) {
		rp_put_dur_ms(b, (long long)json_integer_value(d));
		/* the exact ms, unless put_dur_ms has just shown them */
		if (json_integer_value(d) >= 1000 && json_integer_value(d) <= MS_MAX)
			rp_buf_printf(b, " <span class=\"rel\">(%lld ms)</span>",
			           (long long)json_integer_value(d));
	} else if (r->start != NULL && r->end != NULL && r->start->ts_us && r->end->ts_us) {
		rp_put_dur(b, r->end->ts_us - r->start->ts_us);
		rp_buf_puts(b, " <span class=\"rel\">(from the timestamps)</span>");
	} else {
		rp_buf_puts(b, "—");
	}
	fact_close(b, r->end);
}

static void put_status_fact(struct buf *b, const struct report *r)
{
	fact_open(b, "Status");
	if (r->end != NULL)
		rp_put_status(b, rp_jstr(r->end->v, "status"));
	else
		rp_buf_puts(b, "<span class=\"st st-other\">unfinished</span> no run.end in the log: the "
		            "run is still running, or its end was never recorded");
	fact_close(b, r->end);
}

static const char *const start_shown[] = {"pipeline", "version", "manifest_sha256", "date",
                                          "resume_of", "user", "uid", "host", "argv",
                                          "airlock", "unsigned", "signers", NULL};
static const char *const end_shown[] = {"status", "duration_ms", "steps", NULL};

static void put_user_fact(struct buf *b, const struct report *r)
{
	const json_t *v = r->start != NULL ? r->start->v : NULL;

	fact_open(b, "User and host");
	rp_buf_esc(b, rp_jstr(v, "user") != NULL ? rp_jstr(v, "user") : "?");
	rp_buf_printf(b, " (uid %lld) on ", rp_jint(v, "uid", -1));
	rp_buf_esc(b, rp_jstr(v, "host") != NULL ? rp_jstr(v, "host") : "?");
	fact_close(b, r->start);
}

static void put_log_fact(struct buf *b, const struct report *r)
{
	const struct entry *lo = r->log.n > 0 ? &r->log.e[0] : NULL;

	fact_open(b, "Audit log");
	if (lo != NULL && rp_jstr(lo->v, "log_id") != NULL) {
		rp_buf_puts(b, "log_id <code>");
		rp_buf_esc(b, rp_jstr(lo->v, "log_id"));
		rp_buf_puts(b, "</code>");
		if (rp_jstr(lo->v, "airlock") != NULL) {
			rp_buf_puts(b, ", opened by airlock ");
			rp_buf_esc(b, rp_jstr(lo->v, "airlock"));
		}
	} else {
		rp_buf_puts(b, "—");
		lo = NULL;
	}
	/* the appendix holds only the run's entries: this one is not linked */
	rp_buf_puts(b, "</td><td>");
	if (lo != NULL)
		rp_buf_printf(b, "log.open seq %llu", (unsigned long long)lo->seq);
	rp_buf_puts(b, "</td></tr>\n");
}

/* Who signed what ran; an unsigned run (a directory, --unsigned) is
 * said in words that cannot be missed: its outputs are scratch. */
static void put_signers_fact(struct buf *b, const struct report *r)
{
	const json_t *v = r->start != NULL ? r->start->v : NULL;
	const json_t *signers = json_object_get(v, "signers"), *s;
	size_t i;

	fact_open(b, "Signed by");
	if (json_is_true(json_object_get(v, "unsigned"))) {
		rp_buf_puts(b, "<span class=\"st st-failed\">UNSIGNED</span> run from the directory ");
		rp_buf_esc(b, rp_jstr(v, "source_path") != NULL ? rp_jstr(v, "source_path") : "?");
		rp_buf_puts(b, ": its outputs went to the scratch area, not to production outputs");
	} else if (json_array_size(signers) == 0) {
		rp_buf_puts(b, "—");
	} else {
		json_array_foreach(signers, i, s) {
			rp_buf_puts(b, i ? ", " : "");
			rp_buf_esc(b, rp_jstr(s, "name") != NULL ? rp_jstr(s, "name") : "(unnamed)");
			rp_buf_puts(b, " <code>");
			rp_buf_esc(b, rp_jstr(s, "keyid") != NULL ? rp_jstr(s, "keyid") : "?");
			rp_buf_puts(b, "</code>");
		}
	}
	fact_close(b, r->start);
}

void rp_put_header(struct buf *b, const struct report *r)
{
	const struct entries *a = &r->all;
	char now[AL_TS_LEN];

	rp_buf_puts(b, "<h1>airlock run ");
	rp_buf_esc(b, r->run);
	rp_buf_puts(b, "</h1>\n<table class=\"facts\">\n<tr><th>Fact</th><th>Value</th><th>Evidence</th></tr>\n");
	fact(b, "Run", r->start, "run");
	fact(b, "Pipeline", r->start, "pipeline");
	fact(b, "Version", r->start, "version");
	fact(b, "Manifest sha256", r->start, "manifest_sha256");
	fact(b, "Logical date", r->start, "date");
	fact(b, "Resume of", r->start, "resume_of");
	put_signers_fact(b, r);
	put_user_fact(b, r);
	fact_open(b, "Started");
	rp_put_ts(b, r, r->start);
	fact_close(b, r->start);
	fact_open(b, "Ended");
	rp_put_ts(b, r, r->end);
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
		rp_put_fields(b, r->start->v, start_shown);
		fact_close(b, r->start);
	}
	if (r->end != NULL && count_fields(r->end->v, end_shown) != 0) {
		fact_open(b, "More of run.end");
		rp_put_fields(b, r->end->v, end_shown);
		fact_close(b, r->end);
	}
	rp_buf_printf(b, "<tr><th>Entries</th><td>%zu entries of this run in the log, ", a->n);
	rp_put_seq_text(b, &a->e[0], &a->e[a->n - 1]);
	rp_buf_puts(b, "</td><td>");
	rp_put_seq(b, &a->e[0], &a->e[a->n - 1]);
	rp_buf_puts(b, "</td></tr>\n");
	al_ts_format(al_now_us(), now);
	rp_buf_printf(b, "<tr><th>Report</th><td>made by airlock %s at <span class=\"ts\">%s</span> "
	              "from the audit log alone</td><td></td></tr>\n</table>\n",
	           AL_VERSION, now);
}

