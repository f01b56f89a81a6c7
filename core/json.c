/* json.c - JSON helpers over jansson: strict parsing with positions in the
 * messages, compact ordered output. */
#include "core.h"

#include <fcntl.h>
#include <stdlib.h>

json_t *al_json_parse(const char *buf, size_t len, const char *name, struct al_err *err)
{
	json_error_t jerr;
	json_t *v;

	/* Duplicate keys are refused: two "threshold" fields must not let a
	 * reader and a checker see different values. */
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL)
		al_err_set(err, AL_EUSAGE, "%s:%d:%d: %s", name, jerr.line, jerr.column, jerr.text);
	return v;
}

json_t *al_json_load_file(const char *path, size_t max, struct al_err *err)
{
	json_t *v;
	char *buf;
	size_t len;

	if (al_read_file(AT_FDCWD, path, max, &buf, &len, err) < 0)
		return NULL;
	v = al_json_parse(buf, len, path, err);
	free(buf);
	return v;
}

char *al_json_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned min, cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2, cp = s[0] & 0x1F, min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3, cp = s[0] & 0x0F, min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0; /* also the NUL of a sequence cut short */
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

void al_utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		size_t n = utf8_len(p);
		if (n == 0)
			*p++ = '?';
		else
			p += n;
	}
}
