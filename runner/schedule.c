/* schedule.c - the run's loop (DESIGN.md §8): one thread, one poll()
 * over a signalfd (SIGCHLD, SIGINT, SIGTERM, SIGHUP) and the running
 * steps' output pipes, with the nearest deadline (a timeout, a kill
 * after the grace period, a retry, the state.db batch) as its timeout.
 * Each turn: finished processes first, then every step whose needs are
 * done starts, up to --jobs at once, unless its breaker refuses it. */
#include "engine.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int need_ok(const struct run *r, struct step_rt *s, int *bad)
{
	const struct step_rt *w = &r->steps[s->wait_on];

	*bad = 0;
	/* the need that held the step back last time, first: O(1) while it runs */
	if (s->def->needs_n > 0 &&
	    (w->state == S_PENDING || w->state == S_WAITING || w->state == S_RUNNING))
		return 0;
	for (size_t i = 0; i < s->def->needs_n; i++) {
		const struct step_rt *d = &r->steps[s->def->needs[i]];
		if (d->state == S_PENDING || d->state == S_WAITING || d->state == S_RUNNING) {
			s->wait_on = s->def->needs[i];
			return 0;
		}
		if (d->state != S_OK)
			*bad = 1;
	}
	return 1;
}

static void skip(struct run *r, struct step_rt *s, const char *reason)
{
	s->state = S_SKIPPED;
	al_snprintf(s->skip_reason, sizeof s->skip_reason, "%s", reason);
	(void)eng_audit(r, "step.skipped",
	            json_pack("{s:s,s:s,s:s}", "run", r->id, "step", s->def->id, "reason", reason), 0);
	eng_save_step(r, s, NULL, NULL);
}

/* A step about to start whose resource's breaker is open fails fast:
 * step.blocked, not an attempt. Returns 1 when the step may start. */
static int admit(struct run *r, struct step_rt *s)
{
	int a;

	if (s->def->resource == NULL)
		return 1;
	a = eng_breaker_admit(r, s);
	if (a >= 0)
		return a;
	if (eng_audit(r, "step.blocked",
	          json_pack("{s:s,s:s,s:s,s:s}", "run", r->id, "step", s->def->id, "resource",
	                    s->def->resource, "reason", s->reason),
	          0) < 0)
		return 0;
	al_oplog("error", r->id, s->def->id, 0, NULL, "%s", s->reason);
	eng_fail_final(r, s);
	return 0;
}

static int stopping(const struct run *r)
{
	return r->interrupted || r->audit_failed;
}

static int terminal(const struct step_rt *s)
{
	return s->state == S_OK || s->state == S_FAILED || s->state == S_SKIPPED;
}

/* Steps before lo are done: the loops start there (a 1000-step chain
 * would otherwise cost a scan of every step at each turn). */
static void advance_lo(struct run *r)
{
	while (r->lo < r->n && terminal(&r->steps[r->lo]))
		r->lo++;
}

static void schedule(struct run *r, int64_t now)
{
	advance_lo(r);
	for (size_t i = r->lo; i < r->n && !stopping(r); i++) {
		struct step_rt *s = &r->steps[i];
		int bad;
		if (s->state == S_WAITING) {
			if (r->aborting) {
				al_snprintf(s->reason, sizeof s->reason, "retry cancelled: the run was aborted");
				s->state = S_FAILED;
				eng_save_step(r, s, NULL, NULL);
				continue;
			}
			if (now >= s->ready_at_us && r->running_n < r->jobs && admit(r, s))
				eng_start_attempt(r, s);
			continue;
		}
		if (s->state != S_PENDING || !need_ok(r, s, &bad))
			continue;
		if (r->preflight_failed && !(s->kind->flags & AL_KIND_EACH_RUN)) {
			skip(r, s, "preflight-failed");
			continue;
		}
		if (r->aborting && s->def->when != AL_WHEN_ALWAYS) {
			skip(r, s, "run-aborted");
			continue;
		}
		/* after a failed pre-flight, a step that reports each run reports
		 * it, whatever its needs */
		if (r->preflight_failed && (s->kind->flags & AL_KIND_EACH_RUN))
			bad = 0;
		if (bad && s->def->when != AL_WHEN_ALWAYS) {
			for (size_t k = 0; k < s->def->needs_n; k++) {
				const struct step_rt *d = &r->steps[s->def->needs[k]];
				if (s->selected && d->state == S_SKIPPED &&
				    strcmp(d->skip_reason, "not-selected") == 0) {
					/* --only S with a need that has no intact commit */
					al_oplog("error", r->id, s->def->id, 0, NULL,
					         "needs %s, which is not selected (--only) and has no intact "
					         "commit for %s",
					         d->def->id, r->date);
					r->failed = 1;
				}
			}
			skip(r, s, "upstream-failed");
			continue;
		}
		if (!s->prepared) {
			int p = eng_prepare(r, s);
			if (stopping(r))
				return;
			if (p == 1) {
				s->state = S_OK;
				al_snprintf(s->skip_reason, sizeof s->skip_reason, "already-committed");
				eng_save_step(r, s, "ok", NULL);
				continue;
			}
			if (p < 0) {
				(void)eng_audit(r, "step.end",
				            json_pack("{s:s,s:s,s:i,s:n,s:n,s:s,s:i,s:s}", "run", r->id, "step",
				                      s->def->id, "attempt", 0, "exit", "signal", "status",
				                      "failed", "duration_ms", 0, "reason", s->reason),
				            0);
				eng_fail_final(r, s);
				continue;
			}
			if (!s->selected) {
				skip(r, s, "not-selected");
				continue;
			}
		}
		if (r->running_n >= r->jobs || !admit(r, s))
			continue;
		eng_start_attempt(r, s);
	}
}

static struct step_rt *by_pid(struct run *r, pid_t pid)
{
	for (size_t i = r->lo; i < r->n; i++)
		if (r->steps[i].running && r->steps[i].proc.pid == pid)
			return &r->steps[i];
	return NULL;
}

static void signal_all(struct run *r, int sig)
{
	int64_t now = al_now_us();

	for (size_t i = r->lo; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		if (!s->running || s->proc.exited)
			continue;
		al_proc_signal(&s->proc, sig);
		if (sig == SIGTERM && !s->term_sent) {
			s->term_sent = 1;
			s->kill_at_us = now + r->grace_ms * 1000;
		}
	}
}

static void on_signal(struct run *r, const struct signalfd_siginfo *si)
{
	if (si->ssi_signo == SIGCHLD) {
		int ws;
		pid_t pid;
		while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
			struct step_rt *s = by_pid(r, pid);
			if (s != NULL)
				al_proc_exited(&s->proc, ws);
		}
		return;
	}
	if (r->interrupted) {
		al_oplog("warn", r->id, NULL, 0, NULL, "second signal: killing the running steps");
		signal_all(r, SIGKILL);
		return;
	}
	r->interrupted = 1;
	al_oplog("warn", r->id, NULL, 0, NULL,
	         "signal %d: stopping; running steps get SIGTERM, then SIGKILL after %lld ms",
	         (int)si->ssi_signo, (long long)r->grace_ms);
	signal_all(r, SIGTERM);
}

static void check_timers(struct run *r, int64_t now)
{
	for (size_t i = r->lo; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		if (!s->running || s->proc.exited)
			continue;
		if (s->note_at_us && now >= s->note_at_us)
			eng_note_running(r, s);
		if (s->deadline_us && now >= s->deadline_us && !s->timed_out) {
			s->timed_out = 1;
			al_proc_signal(&s->proc, SIGTERM);
			s->term_sent = 1;
			s->kill_at_us = now + r->grace_ms * 1000;
			al_oplog("warn", r->id, s->def->id, s->attempt, NULL,
			         "timeout after %lld ms: SIGTERM to its process group",
			         (long long)s->def->timeout_ms);
		}
		if (s->kill_at_us && now >= s->kill_at_us && !s->kill_sent) {
			s->kill_sent = 1;
			al_proc_signal(&s->proc, SIGKILL);
		}
	}
}

static int64_t next_wake(const struct run *r, int64_t now)
{
	int64_t t = now + 1000 * 1000;

	if (r->tx && r->tx_us + ENG_TX_BATCH_US < t)
		t = r->tx_us + ENG_TX_BATCH_US;

	for (size_t i = r->lo; i < r->n; i++) {
		const struct step_rt *s = &r->steps[i];
		if (s->state == S_WAITING && !stopping(r) && s->ready_at_us < t)
			t = s->ready_at_us;
		if (!s->running)
			continue;
		if (s->proc.exited && s->proc.drain_until_us < t)
			t = s->proc.drain_until_us;
		if (!s->proc.exited && s->deadline_us && !s->timed_out && s->deadline_us < t)
			t = s->deadline_us;
		if (!s->proc.exited && s->note_at_us && s->note_at_us < t)
			t = s->note_at_us;
		if (!s->proc.exited && s->kill_at_us && !s->kill_sent && s->kill_at_us < t)
			t = s->kill_at_us;
	}
	return t;
}

static int work_left(const struct run *r)
{
	if (r->running_n > 0)
		return 1;
	if (stopping(r))
		return 0;
	for (size_t i = r->lo; i < r->n; i++)
		if (r->steps[i].state == S_PENDING || r->steps[i].state == S_WAITING)
			return 1;
	return 0;
}

void eng_loop(struct run *r)
{
	size_t cap = 1 + 2 * r->n;
	struct pollfd *pf = calloc(cap, sizeof *pf);
	struct al_capture **caps = calloc(cap, sizeof(struct al_capture *));
	struct step_rt **owners = calloc(cap, sizeof(struct step_rt *));

	if (pf == NULL || caps == NULL || owners == NULL) {
		al_oplog("error", r->id, NULL, 0, NULL, "cannot allocate memory");
		r->failed = 1;
		goto out;
	}
	for (;;) {
		int64_t now = al_now_us(), wake;
		size_t n = 1;
		int timeout;
		/* Finished processes: their results, then new starts. */
		for (size_t i = r->lo; i < r->n; i++)
			if (r->steps[i].running && al_proc_done(&r->steps[i].proc, now))
				eng_proc_ended(r, &r->steps[i]);
		schedule(r, now);
		if (r->metrics_dirty && now - r->metrics_us >= AL_METRICS_EVERY_US) {
			eng_observe(r, 0);
			r->metrics_dirty = 0;
		}
		if (r->sinks.n > 0 && now - r->shipped_us >= AL_SHIP_EVERY_US)
			eng_ship(r, 0);
		if (!work_left(r))
			break;
		pf[0].fd = r->sfd;
		pf[0].events = POLLIN;
		for (size_t i = r->lo; i < r->n; i++) {
			struct step_rt *s = &r->steps[i];
			struct al_capture *cs[2] = {&s->proc.out, &s->proc.err};
			if (!s->running)
				continue;
			for (int k = 0; k < 2; k++) {
				if (cs[k]->pipe < 0)
					continue;
				pf[n].fd = cs[k]->pipe;
				pf[n].events = POLLIN;
				caps[n] = cs[k];
				owners[n] = s;
				n++;
			}
		}
		wake = next_wake(r, now);
		timeout = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
		if (poll(pf, n, timeout) < 0 && errno != EINTR) {
			al_oplog("error", r->id, NULL, 0, NULL, "poll: %s", strerror(errno));
			r->interrupted = 1;
			signal_all(r, SIGTERM);
		}
		for (size_t i = 1; i < n; i++)
			if (pf[i].revents != 0)
				al_proc_read(&owners[i]->proc, caps[i]);
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(r->sfd, &si, sizeof si) == (ssize_t)sizeof si)
				on_signal(r, &si);
		}
		check_timers(r, al_now_us());
		if (r->tx && al_now_us() - r->tx_us >= ENG_TX_BATCH_US)
			eng_tx_flush(r);
	}
	eng_tx_flush(r);
out:
	free(pf);
	free(caps);
	free(owners);
}
