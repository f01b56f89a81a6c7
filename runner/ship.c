/* ship.c - a run hands its entries to the sinks as it goes (audit/FORMAT.md
 * §13): every AL_SHIP_EVERY_US at most while steps run, and once more
 * after run.end and its seal. Each attempt is short and bounded (a slow
 * or dead sink never stalls a run): what does not go now waits in the log
 * for the next attempt, or for airlock-anchor.timer's `airlock audit
 * ship`, which records the failure (sink.failed) and its metrics. Here a
 * failure is said once a run in the operator log. */
#include "runner/engine.h"

#include <string.h>

void eng_ship_begin(struct run *r)
{
	struct al_err err = {0};

	memset(&r->sinks, 0, sizeof r->sinks);
	r->shipped_us = al_now_us();
	if (al_sinks_load(r->o->home, &r->sinks, &err) < 0)
		al_oplog("warn", r->id, NULL, 0, NULL,
		         "the sinks cannot be read, nothing is shipped during this run: %s", err.msg);
}

void eng_ship(struct run *r, int final)
{
	int64_t budget = final ? AL_SHIP_FINAL_US : AL_SHIP_STEP_US;

	for (size_t i = 0; i < r->sinks.n; i++) {
		const struct al_sink *s = &r->sinks.s[i];
		struct al_ship_result res;
		struct al_err err = {0};
		if (al_ship(r->o->home, s, al_now_us() + budget, &res, &err) == 0 || i >= 64 ||
		    (r->ship_warned & (1ull << i)))
			continue;
		r->ship_warned |= 1ull << i;
		al_oplog("warn", r->id, NULL, 0, NULL,
		         "sink %s: %s: the entries wait in the log (airlock audit ship sends them)",
		         s->name, err.msg);
	}
	r->shipped_us = al_now_us();
}

void eng_ship_end(struct run *r)
{
	al_sinks_free(&r->sinks);
}
