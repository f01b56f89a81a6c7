/* internal.h - helpers shared by core's own files; not part of the API. */
#ifndef AIRLOCK_CORE_INTERNAL_H
#define AIRLOCK_CORE_INTERNAL_H

#include "core.h"

#define AL_UNTRUSTED_PREFIX "untrusted comment: "
#define AL_TRUSTED_PREFIX "trusted comment: "

/* minisign reads each line into a fixed buffer of this many bytes
 * (prefix, text, newline and NUL): lines longer than that would not
 * interoperate, so they are refused here too. */
#define AL_COMMENT_LINE_MAX 1024
#define AL_TRUSTED_LINE_MAX 8192
#define AL_TRUSTED_TEXT_MAX (AL_TRUSTED_LINE_MAX - (sizeof AL_TRUSTED_PREFIX - 1) - 2)
#define AL_UNTRUSTED_TEXT_MAX (AL_COMMENT_LINE_MAX - (sizeof AL_UNTRUSTED_PREFIX - 1) - 2)

/* A key or signature file split into lines: each line without its "\n"
 * (and without a "\r" before it). The text must hold no NUL byte and at
 * most `max_lines` non-empty lines; trailing empty lines are ignored. */
struct al_lines {
	const char *line[4];
	size_t len[4];
	size_t count;
};

int al_lines_split(const char *text, size_t len, size_t max_lines, const char *name,
                   struct al_lines *out, struct al_err *err);

/* Checks that `line` starts with `prefix` and that its text fits in max
 * bytes; returns a pointer to the text and its length. */
int al_line_comment(const char *line, size_t len, const char *prefix, size_t max,
                    const char *name, const char *what, const char **text, size_t *text_len,
                    struct al_err *err);

/* Decodes one base64 line into exactly `expected` bytes. */
int al_line_base64(const char *line, size_t len, unsigned char *out, size_t expected,
                   const char *name, const char *what, struct al_err *err);

/* Encodes bytes as one base64 line (no newline) into a malloc'd string. */
char *al_base64(const unsigned char *in, size_t n);

#endif
