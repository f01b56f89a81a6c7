/* restore.c - a log rebuilt from what left the host (FORMAT.md §13): a
 * replica directory, a collector's file of raw entries (the MSG of each
 * message, one a line), or its file of whole RFC 5424 lines, in any mix.
 * Each entry is kept once by seq (a copy that differs is named), parts
 * of a split entry are put back together, the chain is checked across
 * what was found, every gap is named, and the entries are written as
 * segments (a new one at each log.open or log.segment), which
 * airlock-verify then checks against the public seal key like the
 * original. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PART_TAG "#airlock-part "
#define FRAG_TAG "#airlock-fragment "

enum { K_ENTRY, K_PART, K_FRAGMENT };

struct piece {
	uint64_t seq;     /* the entry's; a fragment's: the entry it follows */
	int kind;
	unsigned part;    /* K_PART: from 1 */
	int end;          /* K_PART: the last */
	char *text;
	size_t len;
	const char *src;  /* the --from it came from */
};

struct pile {
	struct piece *v;
	size_t n, cap;
	struct al_restore_report *rep;
};

static int pile_add(struct pile *p, const struct piece *x, const char *text, size_t len,
                    struct al_err *err)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		struct piece *v = realloc(p->v, cap * sizeof *v);
		if (v == NULL)
			return al_err_sys(err, "cannot allocate memory");
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n] = *x;
	p->v[p->n].text = malloc(len + 1);
	if (p->v[p->n].text == NULL)
		return al_err_sys(err, "cannot allocate memory");
	memcpy(p->v[p->n].text, text, len);
	p->v[p->n].text[len] = '\0';
	p->v[p->n].len = len;
	p->n++;
	return 0;
}

/* "KEY=N" among the words after a tag: the number (at most 2^53, which
 * no seq reaches), or -1 for anything else, a number that does not fit
 * included: never a value wrapped into a valid one. */
static int64_t tag_num(const char *s, size_t n, const char *key)
{
	size_t k = strlen(key);

	for (size_t i = 0; i + k < n; i++)
		if ((i == 0 || s[i - 1] == ' ') && memcmp(s + i, key, k) == 0 && s[i + k] == '=') {
			uint64_t v = 0;
			size_t j = i + k + 1;
			if (j >= n || s[j] < '0' || s[j] > '9')
				return -1;
			for (; j < n && s[j] >= '0' && s[j] <= '9'; j++) {
				v = v * 10 + (uint64_t)(s[j] - '0');
				if (v > (1ull << 53))
					return -1;
			}
			if (j < n && s[j] != ' ')
				return -1;
			return (int64_t)v;
		}
	return -1;
}

/* One MSG: an entry's line, a part ("#airlock-part seq=N part=I end=E
 * BYTES") or a fragment ("#airlock-fragment after=N BYTES"). prev_seq
 * places a bare fragment of a replica (the line before it). */
static int add_msg(struct pile *p, const char *m, size_t n, const char *src, uint64_t *prev_seq,
                   struct al_err *err)
{
	struct piece x = {0};
	struct al_line l;
	struct al_err perr = {0};
	size_t tag = strlen(PART_TAG), ftag = strlen(FRAG_TAG);

	x.src = src;
	if (n >= tag && memcmp(m, PART_TAG, tag) == 0) {
		const char *sp = m + tag;
		int spaces = 0;
		int64_t seq, part, end;
		/* the bytes start after the third word */
		while (sp < m + n && spaces < 3)
			if (*sp++ == ' ')
				spaces++;
		seq = tag_num(m + tag, (size_t)(sp - m - tag), "seq");
		part = tag_num(m + tag, (size_t)(sp - m - tag), "part");
		end = tag_num(m + tag, (size_t)(sp - m - tag), "end");
		/* an entry is at most AL_AUDIT_LINE_MAX bytes: no more parts than that */
		if (seq <= 0 || part <= 0 || part > (int64_t)AL_AUDIT_LINE_MAX || end < 0 || end > 1 ||
		    spaces < 3) {
			p->rep->unreadable++;
			return 0;
		}
		x.kind = K_PART;
		x.seq = (uint64_t)seq;
		x.part = (unsigned)part;
		x.end = (int)end;
		return pile_add(p, &x, sp, (size_t)(m + n - sp), err);
	}
	if (n >= ftag && memcmp(m, FRAG_TAG, ftag) == 0) {
		const char *sp = memchr(m + ftag, ' ', n - ftag);
		int64_t after = sp != NULL ? tag_num(m + ftag, (size_t)(sp - m - ftag) + 1, "after") : -1;
		if (sp == NULL || after < 0) {
			p->rep->unreadable++;
			return 0;
		}
		x.kind = K_FRAGMENT;
		x.seq = (uint64_t)after;
		return pile_add(p, &x, sp + 1, (size_t)(m + n - sp - 1), err);
	}
	if (al_line_parse(m, n, &l, &perr) == 0) {
		x.kind = K_ENTRY;
		x.seq = l.seq;
		*prev_seq = l.seq;
		return pile_add(p, &x, m, n, err);
	}
	if (prev_seq != NULL && *prev_seq > 0 && src[0] == 'D') { /* a replica's own fragment */
		x.kind = K_FRAGMENT;
		x.seq = *prev_seq;
		return pile_add(p, &x, m, n, err);
	}
	p->rep->unreadable++;
	return 0;
}

/* The MSG of an RFC 5424 line: after PRI+VERSION, TIMESTAMP, HOSTNAME,
 * APP-NAME, PROCID, MSGID and the STRUCTURED-DATA ("-" or [..] groups,
 * with \" \\ \] escapes in values), and the space after it; a BOM is
 * skipped. NULL when the line is not one. */
static const char *rfc5424_msg(const char *s, size_t n, size_t *mlen)
{
	size_t i = 0;
	int words = 0;

	if (n < 2 || s[0] != '<')
		return NULL;
	while (i < n && words < 6) {
		if (s[i] == ' ')
			words++;
		i++;
	}
	if (words < 6 || i >= n)
		return NULL;
	if (s[i] == '-') {
		i++;
	} else {
		while (i < n && s[i] == '[') {
			int quoted = 0;
			for (i++; i < n; i++) {
				if (quoted && s[i] == '\\') {
					i++;
					continue;
				}
				if (s[i] == '"')
					quoted = !quoted;
				else if (!quoted && s[i] == ']')
					break;
			}
			if (i >= n)
				return NULL;
			i++;
		}
	}
	if (i < n && s[i] == ' ')
		i++;
	if (n - i >= 3 && memcmp(s + i, "\xef\xbb\xbf", 3) == 0)
		i += 3;
	*mlen = n - i;
	return s + i;
}

/* A line of a collector's file: a whole RFC 5424 line, or a MSG alone
 * (some templates keep the space before it). */
static int add_line(struct pile *p, const char *s, size_t n, const char *src, uint64_t *prev,
                    int replica, struct al_err *err)
{
	size_t mlen;
	const char *m;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	if (!replica && s[0] == '<' && (m = rfc5424_msg(s, n, &mlen)) != NULL)
		return add_msg(p, m, mlen, src, prev, err);
	if (!replica && s[0] == ' ' && n > 1 && (s[1] == '{' || s[1] == '#'))
		return add_msg(p, s + 1, n - 1, src, prev, err);
	return add_msg(p, s, n, src, prev, err);
}

static int read_stream(struct pile *p, struct al_stream *st, const char *src, int replica,
                       struct al_err *err)
{
	char buf[65536], *line = malloc(4096);
	size_t got, len = 0, cap = 4096;
	uint64_t prev = 0;
	int ret = 0, over = 0; /* over: the line is past any entry's size: skipped */

	if (line == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (;;) {
		if (st->read(st, buf, sizeof buf, &got, err) < 0) {
			ret = -1;
			break;
		}
		if (got == 0)
			break;
		for (size_t i = 0; i < got && ret == 0; i++) {
			if (buf[i] == '\n') {
				if (over)
					p->rep->unreadable++;
				else
					ret = add_line(p, line, len, src, &prev, replica, err);
				len = 0;
				over = 0;
				continue;
			}
			if (over)
				continue;
			if (len + 1 >= cap) {
				char *v;
				if (len + 1 >= AL_AUDIT_LINE_MAX * 2) {
					over = 1;
					continue;
				}
				cap = cap ? cap * 2 : 4096;
				v = realloc(line, cap);
				if (v == NULL) {
					ret = al_err_sys(err, "cannot allocate memory");
					break;
				}
				line = v;
			}
			line[len++] = buf[i];
		}
		if (ret < 0)
			break;
	}
	/* a last line without its "\n" is a fragment of the copy: not used */
	if (ret == 0 && len > 0)
		p->rep->unreadable++;
	free(line);
	return ret;
}

/* The segments of a replica directory (or of DIR/<log_id>/ beneath it). */
static int read_dir(struct pile *p, const char *path, const char *src, int depth,
                    struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;
	long count;

	if (dfd < 0)
		return al_err_sys(err, "%s", path);
	count = seg_list(dfd, path, &nums, &zsts, err);
	if (count < 0)
		ret = -1;
	for (long i = 0; ret == 0 && i < count; i++) {
		char name[SEG_NAME_MAX];
		struct al_stream *st;
		int fd;
		seg_name(nums[i], zsts[i], name);
		fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		st = fd >= 0 ? al_stream_fd(fd, zsts[i], name, err) : NULL;
		if (st == NULL) {
			ret = fd < 0 ? al_err_sys(err, "%s/%s", path, name) : -1;
			break;
		}
		ret = read_stream(p, st, src, 1, err);
		st->close(st);
	}
	if (ret == 0 && count == 0 && depth == 0) {
		/* a sink's directory: DIR/<log_id>/ */
		DIR *d = fdopendir(dup(dfd));
		struct dirent *e;
		if (d != NULL)
			rewinddir(d); /* the dup shares the offset seg_list left at the end */
		while (d != NULL && ret == 0 && (e = readdir(d)) != NULL) {
			char sub[PATH_MAX];
			struct stat sb;
			if (strlen(e->d_name) != AL_AUDIT_LOG_ID_HEX - 1 ||
			    strspn(e->d_name, "0123456789abcdef") != AL_AUDIT_LOG_ID_HEX - 1)
				continue;
			al_snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			if (stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
				ret = read_dir(p, sub, src, 1, err);
		}
		if (d != NULL)
			closedir(d);
	}
	free(nums);
	free(zsts);
	close(dfd);
	return ret;
}

/* By seq; for one seq its whole copies, then its parts in order, then
 * the fragments that follow it. */
static int by_seq(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return 0;
}

static void note(struct al_restore_report *rep, const char *fmt, ...) AL_PRINTF(2, 3);
static void note(struct al_restore_report *rep, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (rep->on_problem != NULL)
		rep->on_problem(rep->ctx, msg);
	rep->problems++;
}

/* The entries, one per seq, parts joined: into p->v again, in order. */
static int settle(struct pile *p, struct al_err *err)
{
	size_t w = 0, i = 0;

	if (p->n > 0)
		qsort(p->v, p->n, sizeof *p->v, by_seq);
	while (i < p->n) {
		struct piece *x = &p->v[i];
		size_t j;
		if (x->kind == K_FRAGMENT) {
			/* one copy of each distinct fragment after an entry */
			int seen = 0;
			for (size_t k = 0; k < w; k++)
				if (p->v[k].kind == K_FRAGMENT && p->v[k].seq == x->seq && p->v[k].len == x->len &&
				    memcmp(p->v[k].text, x->text, x->len) == 0)
					seen = 1;
			if (seen)
				free(x->text);
			else
				p->v[w++] = *x;
			i++;
			continue;
		}
		if (x->kind == K_PART) {
			/* parts 1..last of one copy: joined into an entry */
			char *all = NULL;
			size_t len = 0;
			unsigned want = 1;
			int done = 0;
			for (j = i; j < p->n && p->v[j].seq == x->seq && p->v[j].kind == K_PART; j++) {
				if (done || p->v[j].part != want) {
					free(p->v[j].text);
					continue; /* a duplicate part */
				}
				char *v = realloc(all, len + p->v[j].len + 1);
				if (v == NULL) {
					free(all);
					return al_err_sys(err, "cannot allocate memory");
				}
				all = v;
				memcpy(all + len, p->v[j].text, p->v[j].len);
				len += p->v[j].len;
				all[len] = '\0';
				free(p->v[j].text);
				want++;
				done = p->v[j].end;
			}
			if (!done) {
				note(p->rep, "entry %llu: its parts are incomplete (part %u missing)",
				     (unsigned long long)x->seq, want);
				free(all);
				i = j;
				continue;
			}
			/* an entry of this seq whole elsewhere wins (it sorts first) */
			if (w > 0 && p->v[w - 1].kind == K_ENTRY && p->v[w - 1].seq == x->seq) {
				if (p->v[w - 1].len != len || memcmp(p->v[w - 1].text, all, len) != 0)
					note(p->rep, "entry %llu: its parts differ from its copy in %s",
					     (unsigned long long)x->seq, p->v[w - 1].src + 2);
				free(all);
			} else {
				p->v[w] = *x;
				p->v[w].kind = K_ENTRY;
				p->v[w].text = all;
				p->v[w].len = len;
				w++;
			}
			i = j;
			continue;
		}
		if (w > 0 && p->v[w - 1].kind == K_ENTRY && p->v[w - 1].seq == x->seq) {
			if (p->v[w - 1].len != x->len || memcmp(p->v[w - 1].text, x->text, x->len) != 0)
				note(p->rep, "entry %llu differs between %s and %s (the first is kept)",
				     (unsigned long long)x->seq, p->v[w - 1].src + 2, x->src + 2);
			free(x->text);
		} else {
			p->v[w++] = *x;
		}
		i++;
	}
	p->n = w;
	return 0;
}

static int seg_open(int dfd, unsigned long n, struct al_err *err)
{
	char name[SEG_NAME_MAX];
	int fd;

	seg_name(n, 0, name);
	fd = al_openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	return fd < 0 ? al_err_sys(err, "%s", name) : fd;
}

int al_audit_restore(const char *const *from, size_t nfrom, const char *out,
                     struct al_restore_report *rep, struct al_err *err)
{
	struct pile p = {.rep = rep};
	unsigned char prev[AL_SHA256_LEN];
	uint64_t expect = 0;
	unsigned long segno = 0;
	int have_prev = 0, dfd = -1, fd = -1, ret = -1;

	rep->entries = rep->problems = rep->unreadable = rep->gaps = 0;
	rep->first = rep->last = 0;
	for (size_t i = 0; i < nfrom; i++) {
		struct stat st;
		char *src;
		int r;
		if (stat(from[i], &st) < 0) {
			al_err_sys(err, "--from %s", from[i]);
			goto out;
		}
		/* "D:" a replica directory, "F:" a collector's file */
		if (asprintf(&src, "%c:%s", S_ISDIR(st.st_mode) ? 'D' : 'F', from[i]) < 0) {
			al_err_sys(err, "cannot allocate memory");
			goto out;
		}
		/* kept for messages until the end: freed with the pile's sources */
		rep->srcs = realloc(rep->srcs, (i + 1) * sizeof *rep->srcs);
		if (rep->srcs == NULL) {
			free(src);
			al_err_sys(err, "cannot allocate memory");
			goto out;
		}
		rep->srcs[i] = src;
		rep->nsrcs = i + 1;
		if (S_ISDIR(st.st_mode)) {
			r = read_dir(&p, from[i], src, 0, err);
		} else {
			int f = al_openat(AT_FDCWD, from[i], O_RDONLY, 0);
			struct al_stream *s = f >= 0 ? al_stream_fd(f, 0, from[i], err) : NULL;
			if (s == NULL) {
				if (f < 0)
					al_err_sys(err, "--from %s", from[i]);
				goto out;
			}
			r = read_stream(&p, s, src, 0, err);
			s->close(s);
		}
		if (r < 0) {
			al_err_prefix(err, "--from %s", from[i]);
			goto out;
		}
	}
	if (settle(&p, err) < 0)
		goto out;
	if (p.n == 0) {
		al_err_set(err, AL_EVERIFY, "no entry of an airlock log in what was given");
		goto out;
	}
	if (mkdir(out, 0700) < 0) {
		al_err_sys(err, "%s (it must not exist)", out);
		goto out;
	}
	dfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0) {
		al_err_sys(err, "%s", out);
		goto out;
	}
	for (size_t i = 0; i < p.n; i++) {
		struct piece *x = &p.v[i];
		struct al_line l;
		struct al_err perr = {0};
		int is_entry = x->kind == K_ENTRY && al_line_parse(x->text, x->len, &l, &perr) == 0;
		if (is_entry && l.seq != x->seq) {
			/* parts tagged with one seq that join into an entry of another:
			 * placed by the tag, it would break the order of the log */
			note(rep, "entry %llu: its parts make an entry of seq %llu (not used)",
			     (unsigned long long)x->seq, (unsigned long long)l.seq);
			continue;
		}
		if (is_entry) {
			if (expect != 0 && l.seq != expect) {
				note(rep, "entries %llu to %llu are in none of the sources",
				     (unsigned long long)expect, (unsigned long long)l.seq - 1);
				rep->gaps++;
			} else if (have_prev && memcmp(prev, l.prev_hash, sizeof prev) != 0) {
				note(rep, "entry %llu: its prev is not the hash of the line before it",
				     (unsigned long long)l.seq);
			}
			if (rep->first == 0) {
				rep->first = l.seq;
				if (l.seq != 1)
					note(rep, "entries 1 to %llu are in none of the sources",
					     (unsigned long long)l.seq - 1);
			}
			expect = l.seq + 1;
			rep->last = l.seq;
			rep->entries++;
			/* a new segment at log.open and log.segment, numbered as the log says */
			if (strcmp(l.event, "log.open") == 0 || strcmp(l.event, "log.segment") == 0 || fd < 0) {
				json_t *v = json_loadb(x->text, x->len, 0, NULL);
				json_int_t k = json_integer_value(json_object_get(v, "segment"));
				json_decref(v);
				if (fd >= 0 && (fsync(fd) < 0 || close(fd) < 0)) {
					fd = -1;
					al_err_sys(err, "%s: write", out);
					goto out;
				}
				segno = k > 0 ? (unsigned long)k : segno + 1;
				if ((fd = seg_open(dfd, segno, err)) < 0) {
					al_err_prefix(err, "%s", out);
					goto out;
				}
			}
		} else if (x->kind == K_ENTRY) {
			/* parts joined into what is not an entry */
			note(rep, "entry %llu: its parts do not make an entry (not used)",
			     (unsigned long long)x->seq);
			continue;
		} else if (fd < 0) {
			continue; /* a fragment before any entry: nowhere to go */
		}
		if (al_write_all(fd, x->text, x->len) < 0 || al_write_all(fd, "\n", 1) < 0) {
			al_err_sys(err, "%s: write", out);
			goto out;
		}
		line_hash(x->text, x->len, prev);
		have_prev = 1;
	}
	if (rep->entries == 0) {
		(void)rmdir(out);
		al_err_set(err, AL_EVERIFY, "no entry of an airlock log in what was given");
		goto out;
	}
	if (fd >= 0 && fsync(fd) < 0) {
		al_err_sys(err, "%s: fsync", out);
		goto out;
	}
	if (fsync(dfd) < 0) {
		al_err_sys(err, "%s: fsync", out);
		goto out;
	}
	ret = rep->problems > 0 ? 1 : 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	for (size_t i = 0; i < p.n; i++)
		free(p.v[i].text);
	free(p.v);
	return ret;
}

void al_restore_report_free(struct al_restore_report *rep)
{
	for (size_t i = 0; i < rep->nsrcs; i++)
		free(rep->srcs[i]);
	free(rep->srcs);
	rep->srcs = NULL;
	rep->nsrcs = 0;
}
