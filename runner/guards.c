/* guards.c - the nightly pipeline's safeguards around the run engine
 * (DESIGN.md §8): alerts, circuit breakers per resource, and the secrets
 * pre-flight. The engine gives them what they need (the run, the step);
 * they never call back into the scheduler.
 *
 * Each one changes state only after the audit entry that announces it:
 * breaker.open before a step is refused, secret.checked before the run
 * stops on it, alert before the summary names it. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_TIMEOUT_MS 60000 /* a secret's check command */

/* ------------------------------------------------------------------ */
/* Alerts.                                                             */

void eng_alert(struct run *r, const char *step, const char *kind, const char *message,
               json_t *extra)
{
	json_t *f = json_pack("{s:s}", "run", r->id);
	char text[1024];

	al_snprintf(text, sizeof text, "%s", message != NULL ? message : kind);
	al_utf8_fix(text);
	message = text;

	if (step != NULL)
		json_object_set_new(f, "step", json_string(step));
	json_object_set_new(f, "kind", json_string(kind));
	json_object_set_new(f, "message", json_string(message));
	if (extra != NULL) {
		json_object_update_missing(f, extra);
		json_decref(extra);
	}
	if (eng_audit(r, "alert", f, 0) < 0)
		return;
	eng_alert_noted(r, step, kind, message, al_audit_last_seq(r->log));
}


/* ------------------------------------------------------------------ */
/* Circuit breakers.                                                   */

/* The manifest's breaker of the step's resource, or NULL. */
static json_t *breaker_conf(const struct run *r, const struct step_rt *s)
{
	json_t *res = json_object_get(r->m->root, "resources");

	if (s->def->resource == NULL)
		return NULL;
	return json_object_get(json_object_get(res, s->def->resource), "breaker");
}

static int64_t cooldown_ms(json_t *conf)
{
	int64_t ms = 0;

	(void)al_duration_parse(json_string_value(json_object_get(conf, "cooldown")), &ms, NULL);
	return ms;
}

static int breaker_get(struct run *r, const char *resource, struct al_breaker_row *b)
{
	struct al_err err = {0};

	if (al_state_breaker_get(r->st, resource, b, &err) < 0) {
		eng_state_warn(r, &err);
		return -1;
	}
	return 0;
}

static void breaker_put(struct run *r, struct al_breaker_row *b)
{
	struct al_err err = {0};

	b->updated_us = al_now_us();
	al_snprintf(b->run, sizeof b->run, "%s", r->id);
	eng_tx(r);
	if (al_state_breaker_put(r->st, b, &err) < 0)
		eng_state_warn(r, &err);
}

static json_t *breaker_fields(const struct run *r, const struct step_rt *s,
                              const struct al_breaker_row *b)
{
	return json_pack("{s:s,s:s,s:s,s:I}", "run", r->id, "step", s->def->id, "resource",
	                 b->resource, "failures", (json_int_t)b->failures);
}

int eng_breaker_admit(struct run *r, struct step_rt *s)
{
	json_t *conf = breaker_conf(r, s);
	struct al_breaker_row b;
	int64_t now = al_now_us();

	if (conf == NULL || breaker_get(r, s->def->resource, &b) < 0)
		return 1; /* no breaker; or state.db unreadable: the step itself decides */
	if (strcmp(b.state, "open") == 0) {
		char ts[AL_TS_LEN];
		if (now < b.until_us) {
			al_ts_format(b.until_us, ts);
			al_snprintf(s->reason, sizeof s->reason,
			            "breaker-open: resource %s is open until %s after %lld consecutive "
			            "failures (airlock breaker reset %s to close it)",
			            b.resource, ts, (long long)b.failures, b.resource);
			return -1;
		}
		/* The cooldown has passed: this step is the one probe. */
		al_snprintf(b.state, sizeof b.state, "half_open");
		if (eng_audit(r, "breaker.half_open", breaker_fields(r, s, &b), 0) < 0)
			return 0;
		breaker_put(r, &b);
		al_oplog("info", r->id, s->def->id, 0, NULL,
		         "breaker of %s is half-open: this attempt is its probe", b.resource);
		return 1;
	}
	if (strcmp(b.state, "half_open") == 0) {
		/* Another run's probe decides, unless it is older than a
		 * cooldown (that run died): then this run probes again. */
		if (strcmp(b.run, r->id) != 0 && now - b.updated_us < cooldown_ms(conf) * 1000) {
			al_snprintf(s->reason, sizeof s->reason,
			            "breaker-open: resource %s is half-open and run %s is probing it",
			            b.resource, b.run);
			return -1;
		}
		if (strcmp(b.run, r->id) != 0) {
			if (eng_audit(r, "breaker.half_open", breaker_fields(r, s, &b), 0) < 0)
				return 0;
			breaker_put(r, &b);
			return 1;
		}
		/* One probe at a time: others wait for its verdict. */
		for (size_t i = r->lo; i < r->n; i++) {
			const struct step_rt *o = &r->steps[i];
			if (o != s && o->running && o->def->resource != NULL &&
			    strcmp(o->def->resource, b.resource) == 0)
				return 0;
		}
	}
	return 1;
}

void eng_breaker_result(struct run *r, struct step_rt *s, int ok)
{
	json_t *conf = breaker_conf(r, s);
	struct al_breaker_row b;
	int64_t limit;

	if (conf == NULL || breaker_get(r, s->def->resource, &b) < 0)
		return;
	limit = (int64_t)json_integer_value(json_object_get(conf, "failures"));
	if (ok) {
		if (strcmp(b.state, "closed") != 0) {
			json_t *f = breaker_fields(r, s, &b);
			al_snprintf(b.state, sizeof b.state, "closed");
			b.failures = 0;
			if (eng_audit(r, "breaker.closed", f, 0) < 0)
				return;
			al_oplog("info", r->id, s->def->id, s->attempt, NULL, "breaker of %s closed",
			         b.resource);
		} else if (b.failures == 0) {
			return; /* nothing changes: no write */
		}
		b.failures = 0;
		breaker_put(r, &b);
		return;
	}
	b.failures++;
	if (strcmp(b.state, "half_open") == 0 || (strcmp(b.state, "closed") == 0 && b.failures >= limit)) {
		char ts[AL_TS_LEN], msg[600];
		json_t *f = breaker_fields(r, s, &b);
		b.opened_us = al_now_us();
		b.until_us = b.opened_us + cooldown_ms(conf) * 1000;
		al_ts_format(b.until_us, ts);
		json_object_set_new(f, "until", json_string(ts));
		al_snprintf(b.state, sizeof b.state, "open");
		if (eng_audit(r, "breaker.open", f, 0) < 0)
			return;
		breaker_put(r, &b);
		al_snprintf(msg, sizeof msg,
		            "resource %s failed %lld times in a row: its breaker is open until %s; "
		            "steps needing it fail fast",
		            b.resource, (long long)b.failures, ts);
		eng_alert(r, s->def->id, "breaker-open", msg,
		          json_pack("{s:s,s:I}", "resource", b.resource, "failures",
		                    (json_int_t)b.failures));
		return;
	}
	breaker_put(r, &b);
}

/* ------------------------------------------------------------------ */
/* Secrets pre-flight.                                                 */

static void env_var_name(const char *name, char *out, size_t n)
{
	size_t p = (size_t)snprintf(out, n, "AIRLOCK_SECRET_");

	for (const char *c = name; *c != '\0' && p + 1 < n; c++)
		out[p++] = (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : (*c == '-' ? '_' : *c);
	out[p] = '\0';
}

/* Waits for a check command, killing its group at the deadline or when
 * airlock is told to stop (SIGINT, SIGTERM, SIGHUP through the run's
 * signalfd: the run is then interrupted). */
static int wait_check(struct run *r, struct al_proc *p, int64_t deadline_us)
{
	while (!al_proc_done(p, al_now_us())) {
		struct pollfd fds[3] = {
		    {p->out.pipe, POLLIN, 0}, {p->err.pipe, POLLIN, 0}, {r->sfd, POLLIN, 0}};
		struct signalfd_siginfo si;
		int ws;
		(void)poll(fds, 3, 50);
		if (fds[0].revents != 0)
			al_proc_read(p, &p->out);
		if (fds[1].revents != 0)
			al_proc_read(p, &p->err);
		while ((fds[2].revents & POLLIN) && read(r->sfd, &si, sizeof si) == (ssize_t)sizeof si)
			if (si.ssi_signo != SIGCHLD)
				r->interrupted = 1;
		if (!p->exited && waitpid(p->pid, &ws, WNOHANG) == p->pid)
			al_proc_exited(p, ws);
		if (!p->exited && (r->interrupted || al_now_us() > deadline_us)) {
			pid_t w;
			al_proc_signal(p, SIGKILL);
			while ((w = waitpid(p->pid, &ws, 0)) < 0 && errno == EINTR)
				;
			if (w == p->pid)
				al_proc_exited(p, ws);
			return -1;
		}
	}
	return 0;
}

/* The first line of what a check command wrote on stderr (or stdout),
 * for the operator's terminal only: a check may print the credential it
 * rejects, and the audit log and the summary must never hold one. */
static void first_line(const char *path, char *out, size_t n)
{
	char buf[400] = "";
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	out[0] = '\0';
	if (fd < 0)
		return;
	got = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (got <= 0)
		return;
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	al_snprintf(out, n, "%s", buf);
	al_utf8_fix(out);
}

static int env_set(char **slot, const char *fmt, const char *a, const char *b)
{
	if (asprintf(slot, fmt, a, b) < 0) {
		*slot = NULL;
		return -1;
	}
	return 0;
}

/* Runs a secret's check command; 0 passed, -1 failed (why). */
static int run_check(struct run *r, const char *name, const char *file, json_t *check, int net,
                     char *why, size_t wlen)
{
	const char **argv = calloc(json_array_size(check) + 1, sizeof *argv);
	char **rargv = NULL, *envp[8] = {0}, var[128], outp[PATH_MAX], errp[PATH_MAX], msg[300];
	char where[300];
	struct al_proc_spec spec = {0};
	struct al_proc p;
	struct al_err err = {0};
	struct eng_view *view = NULL;
	size_t i;
	json_t *a;
	int ret = -1, code, confined = eng_confine_any(r, where, sizeof where);

	if (argv == NULL) {
		al_snprintf(why, wlen, "cannot allocate memory");
		return -1;
	}
	json_array_foreach(check, i, a) {
		argv[i] = json_string_value(a);
	}
	/* A check is the bundle's code, confined like a step: it sees the
	 * bundle and its secret's copy, nothing of the home. */
	if (confined && ((view = malloc(sizeof *view)) == NULL ||
	                 eng_view_check(r, name, file, view, &err) < 0)) {
		al_snprintf(why, wlen, "check: %s", err.msg[0] ? err.msg : "cannot allocate memory");
		goto out;
	}
	if (confined) {
		snprintf(where, sizeof where, ENG_VIEW_SECRETS "/%s", name);
		file = where;
		spec.confine = &view->spec;
	}
	rargv = eng_resolve_argv(r, argv, confined, &err);
	env_var_name(name, var, sizeof var);
	if (env_set(&envp[0], "PATH=%s%s/bin:/usr/bin:/bin", "",
	            confined ? ENG_VIEW_BUNDLE : r->bundle_dir) < 0 ||
	    env_set(&envp[1], "HOME=%s%s", confined ? ENG_VIEW_OUT : r->run_dir, "") < 0 ||
	    env_set(&envp[2], "%s%s", "TZ=UTC", "") < 0 || env_set(&envp[3], "%s%s", "LC_ALL=C", "") < 0 ||
	    env_set(&envp[4], "AIRLOCK_RUN_ID=%s%s", r->id, "") < 0 ||
	    env_set(&envp[5], "AIRLOCK_DATE=%s%s", r->date, "") < 0 ||
	    env_set(&envp[6], "%s=%s", var, file) < 0 || rargv == NULL) {
		al_snprintf(why, wlen, "check: %s", err.msg[0] ? err.msg : "cannot allocate memory");
		goto out;
	}
	al_snprintf(outp, sizeof outp, "%s/logs/secret.%s.check.out", r->run_dir, name);
	al_snprintf(errp, sizeof errp, "%s/logs/secret.%s.check.err", r->run_dir, name);
	spec.argv = (const char *const *)rargv;
	spec.envp = (const char *const *)envp;
	spec.cwd = r->run_dir;
	spec.net_none = !net && !r->o->allow_network;
	spec.limit_cpu_s = spec.limit_memory = spec.limit_files = spec.limit_procs = -1;
	spec.out_path = outp;
	spec.err_path = errp;
	spec.cap = 1 << 20;
	if (al_proc_spawn(&p, &spec, &err) < 0) {
		al_snprintf(why, wlen, "check %s: %s", argv[0], err.msg);
		goto out;
	}
	if (wait_check(r, &p, al_now_us() + (int64_t)CHECK_TIMEOUT_MS * 1000) < 0) {
		al_proc_finish(&p);
		if (r->interrupted)
			al_snprintf(why, wlen, "check %s: interrupted (killed)", argv[0]);
		else
			al_snprintf(why, wlen, "check %s: no answer within %d s (killed)", argv[0],
			            CHECK_TIMEOUT_MS / 1000);
		goto out;
	}
	al_proc_finish(&p);
	code = WIFEXITED(p.wstatus) ? WEXITSTATUS(p.wstatus) : 128 + WTERMSIG(p.wstatus);
	if (code == 0) {
		ret = 0;
		goto out;
	}
	first_line(errp, msg, sizeof msg);
	if (msg[0] == '\0')
		first_line(outp, msg, sizeof msg);
	if (msg[0] != '\0')
		al_oplog("error", r->id, NULL, 0, json_pack("{s:s}", "secret", name),
		         "secret %s: %s says: %s", name, argv[0], msg);
	al_snprintf(why, wlen, "check %s failed (exit %d); its output: runs/%s/logs/secret.%s.check.err",
	            argv[0], code, r->id, name);
out:
	if (view != NULL) {
		eng_view_free(view); /* the secret's bytes are wiped */
		free(view);
	}
	for (i = 0; i < sizeof envp / sizeof envp[0]; i++)
		free(envp[i]);
	eng_free_argv(rargv);
	free((void *)argv);
	return ret;
}

/* One secret's checks, in the order of DESIGN.md §8; -1 with why. */
static int check_secret(struct run *r, const char *name, json_t *conf, int net, int64_t *age_s,
                        char *why, size_t wlen)
{
	const char *file = json_string_value(json_object_get(conf, "file"));
	const char *max_age = json_string_value(json_object_get(conf, "max_age"));
	json_t *check = json_object_get(conf, "check");
	struct stat st;
	int64_t max_ms = 0;
	unsigned mode;

	*age_s = -1;
	if (lstat(file, &st) < 0) {
		al_snprintf(why, wlen, "%s: %s", file,
		            errno == ENOENT ? "does not exist" : strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		al_snprintf(why, wlen, "%s: is a symbolic link (refused: the file itself is checked)",
		            file);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		al_snprintf(why, wlen, "%s: not a regular file", file);
		return -1;
	}
	/* host.key and fss.key pass every check below: owned by airlock, 0600 */
	if (eng_home_relation(r, file) != 0) {
		al_snprintf(why, wlen,
		            "%s: inside the airlock home (airlock's own keys and log are never a "
		            "step's secret)",
		            file);
		return -1;
	}
	*age_s = (al_now_us() / 1000000) - (int64_t)st.st_mtime;
	if (st.st_uid != geteuid()) {
		al_snprintf(why, wlen, "%s: owned by uid %u, not by the user running airlock (uid %u)",
		            file, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	mode = (unsigned)st.st_mode & 07777;
	if (mode != 0600 && mode != 0400) {
		al_snprintf(why, wlen, "%s: mode %04o, must be 0600 or 0400", file, mode);
		return -1;
	}
	if (max_age != NULL && al_duration_parse(max_age, &max_ms, NULL) == 0 &&
	    *age_s * 1000 > max_ms) {
		char age[32];
		al_duration_format(*age_s * 1000, age, sizeof age);
		al_snprintf(why, wlen, "%s: last changed %s ago, max_age %s: expired", file, age,
		            max_age);
		return -1;
	}
	if (check != NULL && json_array_size(check) > 0)
		return run_check(r, name, file, check, net, why, wlen);
	return 0;
}

int eng_secrets_check(struct run *r)
{
	json_t *secrets = json_object_get(r->m->root, "secrets"), *used = json_object();
	const char *name;
	json_t *net;
	int bad = 0;

	/* The secrets of the steps this run may start; network: host for a
	 * secret's check when a step that uses it has the host's network. */
	for (size_t i = 0; i < r->n; i++) {
		const struct al_step *d = r->steps[i].def;
		if (!r->steps[i].selected)
			continue;
		for (size_t k = 0; d->secrets != NULL && d->secrets[k] != NULL; k++) {
			json_t *had = json_object_get(used, d->secrets[k]);
			json_object_set_new(used, d->secrets[k],
			                    json_boolean(d->network_host || json_is_true(had)));
		}
	}
	json_object_foreach(used, name, net) {
		char why[700] = "";
		int64_t age = -1;
		int ok = check_secret(r, name, json_object_get(secrets, name), json_is_true(net), &age,
		                      why, sizeof why) == 0;
		al_utf8_fix(why);
		json_t *f = json_pack("{s:s,s:s,s:o,s:b}", "run", r->id, "name", name, "age_s",
		                      age >= 0 ? json_integer(age) : json_null(), "ok", ok);
		if (!ok)
			json_object_set_new(f, "reason", json_string(why));
		if (eng_audit(r, "secret.checked", f, 0) < 0) {
			bad = 1;
			break;
		}
		if (r->interrupted) {
			bad = 1;
			break;
		}
		if (!ok) {
			al_oplog("error", r->id, NULL, 0, json_pack("{s:s}", "secret", name),
			         "secret %s: %s: the run stops before any step", name, why);
			if (r->cause[0] == '\0')
				al_snprintf(r->cause, sizeof r->cause, "secret %s: %s", name, why);
			bad = 1;
		}
	}
	json_decref(used);
	return bad ? -1 : 0;
}
