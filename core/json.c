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
