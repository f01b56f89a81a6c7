/* ship.c - a run hands its entries to the sinks as it goes (audit/FORMAT.md
 * §13): every AL_SHIP_EVERY_US at most while steps run, and once more
 * after run.end and its seal. Each attempt is short and bounded (a slow
 * or dead sink never stalls a run): what does not go now waits in the log
 * for the next attempt, or for airlock-anchor.timer's `airlock audit
 * ship`, which records the failure (sink.failed) and its metrics. Here a
 * failure is said once a run in the operator log. */
#include "runner/engine.h"

#include <string.h>

/* The sinks, and the home's policy past a lag limit: a sink whose oldest
 * missing entry has waited longer refuses the run (halt: exit 4, before
 * run.start) or is an alert sink-lagging of the run (continue). Both are
 * an alert entry naming the sink, what it lacks and since when. */
int eng_ship_check(struct run *r, struct al_err *err)
{
	struct al_err lerr = {0};

	memset(&r->sinks, 0, sizeof r->sinks);
	r->shipped_us = al_now_us();
	if (al_sinks_load(r->o->home, &r->sinks, &lerr) < 0) {
		al_oplog("warn", r->id, NULL, 0, NULL,
		         "the sinks cannot be read, nothing is shipped during this run: %s", lerr.msg);
		return 0;
	}
	r->lagging_n = 0;
	for (size_t i = 0; r->sinks.lag_limit_ms > 0 && i < r->sinks.n; i++) {
		const struct al_sink *s = &r->sinks.s[i];
		struct al_ship_lag lag;
		char since[AL_TS_LEN], msg[600];
		int64_t age;
		if (al_ship_lag(r->o->home, s->name, &lag, &lerr) < 0 || lag.oldest_pending_us == 0)
			continue;
		age = (al_now_us() - lag.oldest_pending_us) / 1000;
		if (age <= r->sinks.lag_limit_ms)
			continue;
		al_ts_format(lag.oldest_pending_us, since);
		al_snprintf(msg, sizeof msg,
		            "sink %s lacks %llu entries, the oldest written %s (%llds ago, past the lag "
		            "limit of %llds)",
		            s->name, (unsigned long long)(lag.last_seq - lag.delivered), since,
		            (long long)(age / 1000), (long long)(r->sinks.lag_limit_ms / 1000));
		eng_alert(r, NULL, "sink-lagging", msg,
		          json_pack("{s:s,s:I,s:s,s:s}", "sink", s->name, "behind",
		                    (json_int_t)(lag.last_seq - lag.delivered), "oldest_undelivered", since,
		                    "action", r->sinks.halt ? "halt" : "continue"));
		if (r->sinks.halt)
			return al_err_set(err, AL_EENV,
			                  "audit halt: %s; the home's policy is halt (airlock audit ship, "
			                  "airlock audit sink policy)",
			                  msg);
		r->lagging_n++;
	}
	return 0;
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
