/* oplog.c - the operator log (DESIGN.md §8): what a run tells the person
 * or the journal watching it, on stderr: human text on a terminal, JSON
 * lines otherwise. Never evidence: the audit log is. */
#include "runner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


void al_oplog(const char *level, const char *run, const char *step, int attempt, json_t *fields,
              const char *fmt, ...)
{
	char msg[2048], ts[AL_TS_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (isatty(2)) {
		fprintf(stderr, "airlock: %s%s%s%s%s\n", strcmp(level, "info") == 0 ? "" : level,
		        strcmp(level, "info") == 0 ? "" : ": ", step != NULL ? step : "",
		        step != NULL ? ": " : "", msg);
		json_decref(fields);
		return;
	}
	{
		json_t *o = json_object();
		char *line;
		al_ts_format(al_now_us(), ts);
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(level));
		if (run != NULL && run[0] != '\0')
			json_object_set_new(o, "run", json_string(run));
		if (step != NULL)
			json_object_set_new(o, "step", json_string(step));
		if (attempt > 0)
			json_object_set_new(o, "attempt", json_integer(attempt));
		json_object_set_new(o, "msg", json_string(msg));
		if (fields != NULL)
			json_object_update_missing(o, fields);
		json_decref(fields);
		line = al_json_dump(o);
		if (line != NULL)
			fprintf(stderr, "%s\n", line);
		free(line);
		json_decref(o);
	}
}
