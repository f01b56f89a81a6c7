/* shards.c - a sharded run's summary, airlock.shards/1 (FORMAT.md §11):
 * its one writer and its one parser. The parser is strict, because the
 * text is signed and what is verified must be what is read: every line
 * ends with "\n", fields are separated by exactly one space, numbers
 * have no sign, blank or leading zero, there is no empty line, no line
 * more or less than N + 2, no shard twice. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > AL_SHARDS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

int al_shards_name_ok(const char *name)
{
	return name_ok(name, strlen(name));
}

char *al_shards_format(const struct al_shards *sh, size_t *len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	if (f == NULL)
		return NULL;
	fprintf(f, AL_SHARDS_FORMAT " %s\n%d\n", sh->name, sh->n);
	for (int i = 0; i < sh->n; i++) {
		const struct al_checkpoint *cp = &sh->s[i].cp;
		char head[AL_SHA256_HEX];
		al_hex(cp->hash, AL_SHA256_LEN, head);
		fprintf(f, "%d %s %llu %s %s %s\n", i, cp->log_id, (unsigned long long)cp->size, head,
		        cp->ts, sh->s[i].keyid);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	*len = n;
	return text;
}

/* A decimal number as the writer prints it: digits only, no leading
 * zero, at most max. */
static int number(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int keyid_ok(const char *s, size_t n)
{
	if (n != AL_KEYID_HEX - 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* Line I of the shards: "I LOG_ID SIZE HEAD TS KEYID", each field
 * checked as checkpoint.txt's (al_checkpoint_parse) and the key id as
 * minisign shows it. */
static int shard_line(const char *p, size_t n, int i, const char *name, int line_no,
                      struct al_shard *d, struct al_err *err)
{
	const char *f[6], *end = p + n;
	size_t fl[6];
	char cp_text[256];
	uint64_t idx;

	for (int k = 0; k < 6; k++) {
		const char *sp = k < 5 ? memchr(p, ' ', (size_t)(end - p)) : end;
		if (sp == NULL)
			return al_err_set(err, AL_EVERIFY, "%s: line %d: not 6 fields", name, line_no);
		f[k] = p;
		fl[k] = (size_t)(sp - p);
		p = sp + 1;
	}
	if (memchr(f[5], ' ', fl[5]) != NULL)
		return al_err_set(err, AL_EVERIFY, "%s: line %d: more than 6 fields", name, line_no);
	if (number(f[0], fl[0], (uint64_t)AL_SHARDS_MAX, &idx) < 0 || idx != (uint64_t)i)
		return al_err_set(err, AL_EVERIFY, "%s: line %d: shard %d expected, not \"%.*s\"", name,
		                  line_no, i, (int)(fl[0] < 16 ? fl[0] : 16), f[0]);
	if (!keyid_ok(f[5], fl[5]))
		return al_err_set(err, AL_EVERIFY, "%s: line %d: not a key id (16 upper-case hex digits)",
		                  name, line_no);
	/* The middle four fields are a checkpoint's four lines. */
	if (fl[1] + fl[2] + fl[3] + fl[4] > 200)
		return al_err_set(err, AL_EVERIFY, "%s: line %d: fields too long", name, line_no);
	snprintf(cp_text, sizeof cp_text, AL_AUDIT_FORMAT " %.*s\n%.*s\n%.*s\n%.*s\n", (int)fl[1], f[1],
	         (int)fl[2], f[2], (int)fl[3], f[3], (int)fl[4], f[4]);
	if (al_checkpoint_parse(cp_text, strlen(cp_text), name, &d->cp, err) < 0) {
		if (err != NULL) {
			err->code = AL_EVERIFY;
			al_err_prefix(err, "line %d", line_no);
		}
		return -1;
	}
	memcpy(d->keyid, f[5], AL_KEYID_HEX - 1);
	d->keyid[AL_KEYID_HEX - 1] = '\0';
	return 0;
}

int al_shards_parse(const char *text, size_t len, const char *name, struct al_shards *sh,
                    struct al_err *err)
{
	const char *p = text, *end = text + len;
	size_t prefix = strlen(AL_SHARDS_FORMAT) + 1;
	uint64_t n;
	int line_no = 0;

	memset(sh, 0, sizeof *sh);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll;
		line_no++;
		if (nl == NULL) {
			al_err_set(err, AL_EVERIFY, "%s: line %d does not end with a newline", name,
			           line_no);
			goto fail;
		}
		ll = (size_t)(nl - p);
		if (ll == 0 || memchr(p, '\r', ll) != NULL || memchr(p, '\0', ll) != NULL) {
			al_err_set(err, AL_EVERIFY, "%s: line %d is empty or holds a CR or NUL", name,
			           line_no);
			goto fail;
		}
		if (line_no == 1) {
			if (ll <= prefix || memcmp(p, AL_SHARDS_FORMAT " ", prefix) != 0 ||
			    !name_ok(p + prefix, ll - prefix)) {
				al_err_set(err, AL_EVERIFY, "%s: line 1 is not \"" AL_SHARDS_FORMAT " NAME\"",
				           name);
				goto fail;
			}
			memcpy(sh->name, p + prefix, ll - prefix);
			sh->name[ll - prefix] = '\0';
		} else if (line_no == 2) {
			if (number(p, ll, AL_SHARDS_MAX, &n) < 0 || n == 0) {
				al_err_set(err, AL_EVERIFY, "%s: line 2 is not a count of shards (1 to %d)",
				           name, AL_SHARDS_MAX);
				goto fail;
			}
			sh->s = calloc((size_t)n, sizeof *sh->s);
			if (sh->s == NULL) {
				al_err_sys(err, "cannot allocate memory");
				goto fail;
			}
			sh->n = (int)n;
		} else {
			int i = line_no - 3;
			if (i >= sh->n) {
				al_err_set(err, AL_EVERIFY, "%s: line %d: more shards than the %d it names", name,
				           line_no, sh->n);
				goto fail;
			}
			if (shard_line(p, ll, i, name, line_no, &sh->s[i], err) < 0)
				goto fail;
			for (int k = 0; k < i; k++)
				if (strcmp(sh->s[k].cp.log_id, sh->s[i].cp.log_id) == 0) {
					al_err_set(err, AL_EVERIFY, "%s: line %d: log %s is shard %d already", name,
					           line_no, sh->s[i].cp.log_id, k);
					goto fail;
				}
		}
		p = nl + 1;
	}
	if (line_no < 2 || line_no - 2 != sh->n) {
		al_err_set(err, AL_EVERIFY, "%s: %d shard line%s, but it names %d", name,
		           line_no > 2 ? line_no - 2 : 0, line_no - 2 == 1 ? "" : "s", sh->n);
		goto fail;
	}
	return 0;
fail:
	al_shards_free(sh);
	return -1;
}

void al_shards_free(struct al_shards *sh)
{
	free(sh->s);
	sh->s = NULL;
	sh->n = 0;
}
