/* cmd_run.c - airlock run, resume, status, runs and logs: the command
 * layer over the run engine (runner/) and the state store (runner/state.c). */
#include "cli/cli.h"
#include "audit/audit.h"
#include "report/report.h"
#include "runner/runner.h"
#include "steps/steps.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* HOME as an absolute path: steps run in other directories. */
static const char *abs_home(struct al_cli *cli, char *buf, struct al_err *err)
{
	const char *home = al_cli_home(cli, err);

	if (home == NULL)
		return NULL;
	if (realpath(home, buf) == NULL) {
		al_err_sys(err, "%s: no airlock home here (create it with airlock audit init)", home);
		return NULL;
	}
	return buf;
}

/* A decimal integer in [min, max], or -1. */
static int int_arg(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Appends the comma-separated names of arg to a NULL-terminated list. */
static int add_names(const char ***list, size_t *n, char *arg)
{
	for (char *save = NULL, *t = strtok_r(arg, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		const char **nl = realloc((void *)*list, (*n + 2) * sizeof **list);
		if (nl == NULL)
			return -1;
		*list = nl;
		nl[(*n)++] = t;
		nl[*n] = NULL;
	}
	return 0;
}

/* A bundle given to run: verified and extracted exactly as install does
 * (audited), without moving pipelines/. */
static int verify_bundle_target(struct al_cli *cli, const char *home, const char *bundle,
                                const char *keys, uint64_t max_size, char *dir, size_t dirlen,
                                struct al_err *err)
{
	struct al_bundle_install q = {.home = home, .bundle = bundle, .max_size = max_size};
	struct al_bundle_installed *out = malloc(sizeof *out);
	struct al_progress pr;
	char kbuf[4200];
	int ret = -1;

	al_cli_progress(cli, &pr);
	q.progress = &pr;
	if (out == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if ((q.keys_dir = al_cli_keys_dir(cli, keys, kbuf, sizeof kbuf, err)) != NULL &&
	    al_install_bundle(&q, out, err) == 0)
		ret = al_snprintf(dir, dirlen, "%s", out->dir);
	free(out);
	return ret;
}

/* The engine, with the kinds of steps/ and the readers of report/. */
static int run_engine(struct al_run_opts *o)
{
	struct al_run_observer obs;
	int code;

	al_report_observer(&obs);
	o->kinds = al_step_kinds;
	o->observer = &obs;
	code = al_run(o);
	o->observer = NULL; /* obs ends here */
	return code;
}

enum {
	OPT_UNSIGNED = 256,
	OPT_DATE,
	OPT_ONLY,
	OPT_FROM,
	OPT_FORCE,
	OPT_DRY,
	OPT_ALLOW_NET,
	OPT_GRACE,
	OPT_LOG_CAP,
	OPT_KEYS,
	OPT_MAX_SIZE,
	OPT_SHARD,
	OPT_STEP_USER,
	OPT_UNCONFINED,
};

static const struct option run_opts[] = {
	{"unsigned", no_argument, NULL, OPT_UNSIGNED},
	{"date", required_argument, NULL, OPT_DATE},
	{"jobs", required_argument, NULL, 'j'},
	{"only", required_argument, NULL, OPT_ONLY},
	{"from", required_argument, NULL, OPT_FROM},
	{"force", required_argument, NULL, OPT_FORCE},
	{"dry-run", no_argument, NULL, OPT_DRY},
	{"allow-network", no_argument, NULL, OPT_ALLOW_NET},
	{"kill-grace", required_argument, NULL, OPT_GRACE},
	{"log-cap", required_argument, NULL, OPT_LOG_CAP},
	{"keys", required_argument, NULL, OPT_KEYS},
	{"max-size", required_argument, NULL, OPT_MAX_SIZE},
	{"shard", required_argument, NULL, OPT_SHARD},
	{"step-user", required_argument, NULL, OPT_STEP_USER},
	/* for benchmarks and tests only (recorded in every step.start) */
	{"unconfined-for-benchmarks", no_argument, NULL, OPT_UNCONFINED},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* --shard I/N: shard I (from 0) of N. */
static int shard_arg(const char *s, int *i, int *n)
{
	char a[16], b[16];
	const char *slash = strchr(s, '/');

	if (slash == NULL || slash == s || (size_t)(slash - s) >= sizeof a || strlen(slash + 1) >= sizeof b)
		return -1;
	snprintf(a, sizeof a, "%.*s", (int)(slash - s), s);
	snprintf(b, sizeof b, "%s", slash + 1);
	if (int_arg(b, 1, 100000, n) < 0 || int_arg(a, 0, *n - 1, i) < 0)
		return -1;
	return 0;
}

int al_cmd_run(struct al_cli *cli, int argc, char **argv)
{
	struct al_run_opts o = {0};
	struct al_progress pr;
	struct al_err err = {0};
	char home[PATH_MAX], bdir[PATH_MAX + 100];
	const char *keys = NULL;
	size_t only_n = 0, force_n = 0;
	uint64_t max_size = 0;
	struct stat st;
	int c, code;

	o.argc = argc;
	o.argv = argv;
	o.jobs = 1;
	while ((c = al_cli_getopt(cli, argc, argv, "j:", run_opts)) != -1) {
		switch (c) {
		case OPT_UNSIGNED: o.unsigned_ok = 1; break;
		case OPT_DATE: o.date = optarg; break;
		case 'j':
			if (int_arg(optarg, 1, 1024, &o.jobs) < 0) {
				code = al_cli_usage(cli, "--jobs %s: a number from 1 to 1024", optarg);
				goto out;
			}
			break;
		case OPT_ONLY:
			if (add_names(&o.only, &only_n, optarg) < 0) {
				code = al_cli_usage(cli, "out of memory");
				goto out;
			}
			break;
		case OPT_FORCE:
			if (add_names(&o.force, &force_n, optarg) < 0) {
				code = al_cli_usage(cli, "out of memory");
				goto out;
			}
			break;
		case OPT_FROM: o.from = optarg; break;
		case OPT_DRY: o.dry_run = 1; break;
		case OPT_ALLOW_NET: o.allow_network = 1; break;
		case OPT_GRACE:
			if (al_duration_parse(optarg, &o.kill_grace_ms, &err) < 0) {
				code = al_cli_usage(cli, "--kill-grace %s: not a duration (500ms, 10s...)", optarg);
				goto out;
			}
			break;
		case OPT_LOG_CAP:
			if (al_size_parse(optarg, &o.log_cap) < 0 || o.log_cap == 0) {
				code = al_cli_usage(cli, "--log-cap %s: not a size (16M, 64K...)", optarg);
				goto out;
			}
			break;
		case OPT_KEYS: keys = optarg; break;
		case OPT_MAX_SIZE:
			if (al_size_parse(optarg, &max_size) < 0) {
				code = al_cli_usage(cli, "--max-size %s: not a size", optarg);
				goto out;
			}
			break;
		case OPT_STEP_USER: o.step_user = optarg; break;
		case OPT_UNCONFINED: o.unconfined = 1; break;
		case OPT_SHARD:
			if (shard_arg(optarg, &o.shard_i, &o.shard_n) < 0) {
				code = al_cli_usage(cli, "--shard %s: I/N, shard I (0 to N-1) of N (1 to 100000)",
				                    optarg);
				goto out;
			}
			break;
		case 'h':
			code = AL_OK; /* al_cli_getopt printed it */
			goto out;
		default:
			code = AL_EUSAGE;
			goto out;
		}
	}
	if (optind + 1 != argc) {
		code = al_cli_usage(cli, "give one pipeline, bundle or directory");
		goto out;
	}
	o.target = argv[optind];
	o.json = cli->json;
	o.quiet = cli->verbosity < 0;
	al_cli_progress(cli, &pr);
	o.progress = &pr;
	if ((o.home = abs_home(cli, home, &err)) == NULL) {
		code = al_cli_error(cli, &err);
		goto out;
	}
	if (stat(o.target, &st) == 0 && S_ISREG(st.st_mode)) {
		if (o.dry_run) {
			code = al_cli_usage(cli, "--dry-run: give an installed pipeline or a directory");
			goto out;
		}
		if (verify_bundle_target(cli, home, o.target, keys, max_size, bdir, sizeof bdir, &err) < 0) {
			code = al_cli_error(cli, &err);
			goto out;
		}
		o.bundle_dir = bdir;
	} else if (stat(o.target, &st) < 0 && strchr(o.target, '/') != NULL) {
		al_err_sys(&err, "%s", o.target);
		code = al_cli_error(cli, &err);
		goto out;
	}
	code = run_engine(&o);
out:
	free((void *)o.only);
	free((void *)o.force);
	return code;
}

int al_cmd_resume(struct al_cli *cli, int argc, char **argv)
{
	struct al_run_opts o = {0};
	struct al_run_row row;
	struct al_state *st;
	struct al_err err = {0};
	char home[PATH_MAX];
	int c, found;

	while ((c = al_cli_getopt(cli, argc, argv, "j:", run_opts)) != -1) {
		switch (c) {
		case 'j':
			if (int_arg(optarg, 1, 1024, &o.jobs) < 0)
				return al_cli_usage(cli, "--jobs %s: a number from 1 to 1024", optarg);
			break;
		case OPT_ALLOW_NET: o.allow_network = 1; break;
		case OPT_STEP_USER: o.step_user = optarg; break;
		case OPT_GRACE:
			if (al_duration_parse(optarg, &o.kill_grace_ms, &err) < 0)
				return al_cli_usage(cli, "--kill-grace %s: not a duration", optarg);
			break;
		case 'h': return AL_OK; /* al_cli_getopt printed it */
		default:
			return al_cli_usage(cli, "resume takes a run id, --jobs, --allow-network, "
			                         "--step-user and --kill-grace");
		}
	}
	if (optind + 1 != argc)
		return al_cli_usage(cli, "give the run to resume (airlock runs lists them)");
	if ((o.home = abs_home(cli, home, &err)) == NULL || (st = al_state_open(home, &err)) == NULL)
		return al_cli_error(cli, &err);
	found = al_state_run_get(st, argv[optind], &row, &err);
	al_state_close(st);
	if (found < 0)
		return al_cli_error(cli, &err);
	if (found == 0) {
		al_err_set(&err, AL_EUSAGE, "%s: no such run (airlock runs lists them)", argv[optind]);
		return al_cli_error(cli, &err);
	}
	if (strcmp(row.status, "ok") == 0) {
		al_err_set(&err, AL_EUSAGE, "run %s ended ok: nothing to resume", row.id);
		return al_cli_error(cli, &err);
	}
	/* The same manifest and date: the bundle directory it ran from. */
	o.date = row.date;
	o.resume = row.id;
	o.argc = argc;
	o.argv = argv;
	o.json = cli->json;
	o.quiet = cli->verbosity < 0;
	if (strcmp(row.source, "dir") == 0) {
		o.target = row.bundle_dir;
		o.unsigned_ok = 1;
	} else {
		o.target = row.pipeline;
		o.bundle_dir = row.bundle_dir;
	}
	return run_engine(&o);
}

/* ---- status, runs, logs ---- */

static const char *run_status(const char *home, const struct al_run_row *r, char *buf, size_t n)
{
	char path[PATH_MAX + 200];
	int fd;

	if (strcmp(r->status, "running") != 0)
		return r->status;
	/* running in state.db, but nobody holds the lock: airlock died. */
	al_snprintf(path, sizeof path, "%s/locks/%s.lock", home, r->pipeline);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		close(fd);
		al_snprintf(buf, n, "interrupted (not yet recorded)");
		return buf;
	}
	if (fd >= 0)
		close(fd);
	return r->status;
}

static void fmt_ms(int64_t ms, char *out, size_t n)
{
	if (ms < 0)
		al_snprintf(out, n, "-");
	else if (ms < 10000)
		al_snprintf(out, n, "%.2fs", (double)ms / 1000);
	else
		al_snprintf(out, n, "%llds", (long long)(ms / 1000));
}

struct steps_ctx {
	json_t *steps;
};

static int collect_step(void *ctx, const struct al_step_row *s)
{
	struct steps_ctx *c = ctx;
	json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s}", "step", s->step, "state", s->state,
	                      "attempts", s->attempts, "status", s->status, "reason", s->reason,
	                      "needs", s->needs);
	json_object_set_new(o, "exit", s->exit_code >= 0 ? json_integer(s->exit_code) : json_null());
	json_object_set_new(o, "signal", s->signal ? json_integer(s->signal) : json_null());
	json_object_set_new(o, "duration_ms", s->start_us && s->end_us >= s->start_us
	                                          ? json_integer((s->end_us - s->start_us) / 1000)
	                                          : json_null());
	json_array_append_new(c->steps, o);
	return 0;
}

/* "  sinks: siem  12 entries behind, the oldest for 3m20s" */
static void sinks_print(const char *home)
{
	json_t *all = al_ship_lags_json(home), *s;
	size_t i;

	json_array_foreach(all, i, s) {
		json_int_t behind = json_integer_value(json_object_get(s, "behind"));
		const char *oldest = json_string_value(json_object_get(s, "oldest_undelivered"));
		if (i == 0)
			printf("  %-20s %-7s %s\n", "SINK", "KIND", "DELIVERED");
		printf("  %-20s %-7s up to entry %lld", json_string_value(json_object_get(s, "sink")),
		       json_string_value(json_object_get(s, "kind")),
		       (long long)json_integer_value(json_object_get(s, "delivered")));
		if (behind > 0) {
			int64_t us = 0;
			char d[32];
			struct al_err e = {0};
			(void)al_ts_parse(oldest != NULL ? oldest : "", &us, &e);
			fmt_ms(us > 0 ? (al_now_us() - us) / 1000 : -1, d, sizeof d);
			printf(", %lld behind, the oldest for %s (airlock audit ship)", (long long)behind, d);
		}
		printf("\n");
	}
	json_decref(all);
}

int al_cmd_status(struct al_cli *cli, int argc, char **argv)
{
	static const struct option help_only[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_state *st = NULL;
	struct al_run_row r;
	struct al_err err = {0};
	struct steps_ctx sc = {NULL};
	char home[PATH_MAX], sbuf[64], ts[AL_TS_LEN];
	const char *status;
	int found, c;
	size_t i;
	json_t *s;

	while ((c = al_cli_getopt(cli, argc, argv, "", help_only)) != -1)
		return c == 'h' ? AL_OK : AL_EUSAGE;
	if (argc - optind > 1)
		return al_cli_usage(cli, "give at most one run");
	if (abs_home(cli, home, &err) == NULL || (st = al_state_open(home, &err)) == NULL)
		return al_cli_error(cli, &err);
	found = al_state_run_get(st, optind < argc ? argv[optind] : NULL, &r, &err);
	if (found <= 0) {
		al_state_close(st);
		if (found == 0)
			al_err_set(&err, AL_EUSAGE, "%s", optind < argc ? "no such run" : "no run yet");
		return al_cli_error(cli, &err);
	}
	sc.steps = json_array();
	if (al_state_steps(st, r.id, collect_step, &sc, &err) < 0) {
		json_decref(sc.steps);
		al_state_close(st);
		return al_cli_error(cli, &err);
	}
	al_state_close(st);
	status = run_status(home, &r, sbuf, sizeof sbuf);
	if (cli->json) {
		json_t *out = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o}", "run", r.id,
		                            "pipeline", r.pipeline, "version", (json_int_t)r.version,
		                            "manifest_sha256", r.manifest_sha256, "date", r.date,
		                            "status", status, "resume_of", r.resume_of, "start_us",
		                            (json_int_t)r.start_us, "end_us",
		                            r.end_us ? json_integer(r.end_us) : json_null(), "steps",
		                            sc.steps, "sinks", al_ship_lags_json(home));
		json_object_set_new(out, "unsigned", json_boolean(strcmp(r.source, "dir") == 0));
		al_cli_print_json(out);
		return AL_OK;
	}
	al_ts_format(r.start_us, ts);
	printf("run %s  %s version %lld  date %s  %s", r.id, r.pipeline, (long long)r.version, r.date,
	       status);
	if (r.end_us) {
		char d[32];
		fmt_ms((r.end_us - r.start_us) / 1000, d, sizeof d);
		printf("  %s", d);
	}
	printf("\n  started %s%s%s\n", ts, r.resume_of[0] ? ", resuming " : "", r.resume_of);
	if (strcmp(r.source, "dir") == 0)
		printf("  UNSIGNED: run from the directory %s; its outputs are in %s/scratch/outputs, "
		       "never in outputs/\n",
		       r.source_path, home);
	printf("  %-20s %-12s %8s %9s %5s  %s\n", "STEP", "STATE", "ATTEMPTS", "DURATION", "EXIT",
	       "NEEDS / REASON");
	json_array_foreach(sc.steps, i, s) {
		char d[32], ex[16];
		json_t *dur = json_object_get(s, "duration_ms"), *e = json_object_get(s, "exit");
		const char *reason = json_string_value(json_object_get(s, "reason"));
		const char *needs = json_string_value(json_object_get(s, "needs"));
		fmt_ms(json_is_integer(dur) ? json_integer_value(dur) : -1, d, sizeof d);
		al_snprintf(ex, sizeof ex, "%s", "-");
		if (json_is_integer(e))
			al_snprintf(ex, sizeof ex, "%lld", (long long)json_integer_value(e));
		printf("  %-20s %-12s %8lld %9s %5s  %s%s%s%s",
		       json_string_value(json_object_get(s, "step")),
		       json_string_value(json_object_get(s, "state")),
		       (long long)json_integer_value(json_object_get(s, "attempts")), d, ex,
		       needs[0] ? "<- " : "", needs, reason[0] && needs[0] ? "; " : "", reason);
		printf("\n");
	}
	json_decref(sc.steps);
	sinks_print(home);
	return AL_OK;
}

struct runs_ctx {
	struct al_cli *cli;
	const char *home;
	json_t *all;
};

static int list_run(void *ctx, const struct al_run_row *r)
{
	struct runs_ctx *c = ctx;
	char sbuf[64], ts[AL_TS_LEN], d[32];
	const char *status = run_status(c->home, r, sbuf, sizeof sbuf);

	if (c->cli->json) {
		json_array_append_new(c->all, json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:I}", "run", r->id,
		                                        "pipeline", r->pipeline, "version",
		                                        (json_int_t)r->version, "date", r->date, "status",
		                                        status, "resume_of", r->resume_of, "start_us",
		                                        (json_int_t)r->start_us, "end_us",
		                                        (json_int_t)r->end_us));
		return 0;
	}
	al_ts_format(r->start_us, ts);
	fmt_ms(r->end_us ? (r->end_us - r->start_us) / 1000 : -1, d, sizeof d);
	printf("%-24s %-20s %4lld  %s  %-12s %8s  %s\n", r->id, r->pipeline, (long long)r->version,
	       r->date, status, d, r->resume_of[0] ? r->resume_of : "");
	return 0;
}

int al_cmd_runs(struct al_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"pipeline", required_argument, NULL, 'p'},
		{"limit", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct runs_ctx rc = {cli, NULL, NULL};
	struct al_state *st;
	struct al_err err = {0};
	const char *pipeline = NULL;
	char home[PATH_MAX];
	int c, limit = 20;

	while ((c = al_cli_getopt(cli, argc, argv, "p:n:", opts)) != -1) {
		switch (c) {
		case 'p': pipeline = optarg; break;
		case 'n':
			if (int_arg(optarg, 1, 1000000, &limit) < 0)
				return al_cli_usage(cli, "--limit %s: a positive number", optarg);
			break;
		case 'h': return AL_OK; /* al_cli_getopt printed it */
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument %s", argv[optind]);
	if (abs_home(cli, home, &err) == NULL || (st = al_state_open(home, &err)) == NULL)
		return al_cli_error(cli, &err);
	rc.home = home;
	rc.all = json_array();
	if (al_state_runs(st, pipeline, NULL, limit, list_run, &rc, &err) < 0) {
		json_decref(rc.all);
		al_state_close(st);
		return al_cli_error(cli, &err);
	}
	al_state_close(st);
	if (cli->json)
		al_cli_print_json(rc.all);
	else
		json_decref(rc.all);
	return AL_OK;
}

struct logs_ctx {
	const char *step;
	int found, attempts;
};

static int logs_step(void *ctx, const struct al_step_row *s)
{
	struct logs_ctx *lc = ctx;

	if (strcmp(s->step, lc->step) == 0) {
		lc->found = 1;
		lc->attempts = s->attempts;
	}
	return 0;
}

/* A log file that is absent was never written: the step was quiet. */
static int cat(const char *path, int out, struct al_err *err)
{
	char buf[1 << 16];
	int fd = al_openat(AT_FDCWD, path, O_RDONLY, 0);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return al_err_sys(err, "%s", path);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (al_write_all(out, buf, (size_t)n) < 0)
			break;
	close(fd);
	return 0;
}

int al_cmd_logs(struct al_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"attempt", required_argument, NULL, 'a'},
		{"verify", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_err err = {0};
	char home[PATH_MAX], out[PATH_MAX * 2], errp[PATH_MAX * 2];
	const char *run, *step;
	int c, attempt = 0, verify = 0;

	while ((c = al_cli_getopt(cli, argc, argv, "a:", opts)) != -1) {
		switch (c) {
		case 'a':
			if (int_arg(optarg, 1, 1000, &attempt) < 0)
				return al_cli_usage(cli, "--attempt %s: a positive number", optarg);
			break;
		case 'V': verify = 1; break;
		case 'h': return AL_OK; /* al_cli_getopt printed it */
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 2)
		return al_cli_usage(cli, "give a run and a step");
	run = argv[optind];
	step = argv[optind + 1];
	if (strchr(run, '/') != NULL || strchr(step, '/') != NULL || run[0] == '.' || step[0] == '.')
		return al_cli_usage(cli, "%s %s: not a run and a step", run, step);
	if (abs_home(cli, home, &err) == NULL || al_cli_audit_accessed(cli, home, "logs", &err) < 0)
		return al_cli_error(cli, &err);
	if (attempt <= 0) {
		/* the step's last attempt, from state.db */
		struct al_state *st = al_state_open(home, &err);
		struct logs_ctx lc = {step, 0, 0};
		if (st == NULL)
			return al_cli_error(cli, &err);
		if (al_state_steps(st, run, logs_step, &lc, &err) < 0) {
			al_state_close(st);
			return al_cli_error(cli, &err);
		}
		al_state_close(st);
		if (!lc.found || lc.attempts == 0) {
			al_err_set(&err, AL_EUSAGE, "run %s, step %s: no logs (did it run?)", run, step);
			return al_cli_error(cli, &err);
		}
		attempt = lc.attempts;
	}
	al_snprintf(out, sizeof out, "%s/runs/%s/logs/%s.%d%s.out", home, run, step, attempt,
	         verify ? ".verify" : "");
	al_snprintf(errp, sizeof errp, "%s/runs/%s/logs/%s.%d%s.err", home, run, step, attempt,
	         verify ? ".verify" : "");
	fflush(stdout);
	if (cat(out, 1, &err) < 0 || cat(errp, 2, &err) < 0)
		return al_cli_error(cli, &err);
	return AL_OK;
}

/* ---- airlock breaker list | reset RESOURCE ---- */

static int breaker_print(void *ctx, const struct al_breaker_row *b)
{
	struct al_cli *cli = ctx;
	char opened[AL_TS_LEN] = "-", until[AL_TS_LEN] = "-";

	if (b->opened_us > 0)
		al_ts_format(b->opened_us, opened);
	if (strcmp(b->state, "open") == 0)
		al_ts_format(b->until_us, until);
	if (cli->json) {
		al_cli_print_json(json_pack("{s:s,s:s,s:I,s:o,s:o,s:s}", "resource", b->resource,
		                            "state", b->state, "failures", (json_int_t)b->failures,
		                            "opened", b->opened_us > 0 ? json_string(opened) : json_null(),
		                            "until",
		                            strcmp(b->state, "open") == 0 ? json_string(until) : json_null(),
		                            "run", b->run));
		return 0;
	}
	printf("%-24s %-10s %8lld  %-28s %s\n", b->resource, b->state, (long long)b->failures,
	       opened, until);
	return 0;
}

static int breaker_list(struct al_cli *cli, struct al_state *st, struct al_err *err)
{
	if (!cli->json)
		printf("%-24s %-10s %8s  %-28s %s\n", "RESOURCE", "STATE", "FAILURES", "OPENED",
		       "OPEN UNTIL");
	return al_state_breakers(st, breaker_print, cli, err);
}

/* Closes a breaker by hand: audited first, with who did it. */
static int breaker_reset(struct al_cli *cli, const char *home, struct al_state *st,
                         const char *resource, struct al_err *err)
{
	struct al_breaker_row b;
	struct al_audit *log;
	json_t *f;
	int found, ret;

	if ((found = al_state_breaker_get(st, resource, &b, err)) < 0)
		return -1;
	if (found == 0)
		return al_err_set(err, AL_EUSAGE, "no breaker named %s in %s/state.db", resource, home);
	if ((log = al_audit_open(home, err)) == NULL)
		return -1;
	f = json_pack("{s:s,s:I,s:s,s:s}", "resource", resource, "failures",
	              (json_int_t)b.failures, "was", b.state, "reason", "reset"); /* user: stamped */
	ret = al_audit_append(log, "breaker.closed", f, AL_AUDIT_SYNC, err);
	json_decref(f);
	if (al_audit_close(log, ret == 0 ? err : NULL) < 0 || ret < 0)
		return -1;
	al_cli_info(cli, "breaker of %s closed (was %s, %lld failures)", resource, b.state,
	            (long long)b.failures);
	al_snprintf(b.state, sizeof b.state, "closed");
	b.failures = 0;
	b.until_us = 0;
	b.updated_us = al_now_us();
	al_snprintf(b.run, sizeof b.run, "manual");
	if (al_state_breaker_put(st, &b, err) < 0)
		return -1;
	return 0;
}

int al_cmd_breaker(struct al_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	char home[PATH_MAX];
	struct al_err err = {0};
	struct al_state *st;
	int c, ret;

	while ((c = al_cli_getopt(cli, argc, argv, "h", opts)) != -1)
		return c == 'h' ? AL_OK : AL_EUSAGE;
	if (optind >= argc)
		return al_cli_usage(cli, "list or reset RESOURCE?");
	if (strcmp(argv[optind], "list") == 0) {
		if (optind + 1 != argc)
			return al_cli_usage(cli, "unexpected argument '%s'", argv[optind + 1]);
	} else if (strcmp(argv[optind], "reset") == 0) {
		if (optind + 2 != argc)
			return al_cli_usage(cli, "reset RESOURCE: one resource");
	} else {
		return al_cli_usage(cli, "unknown breaker command '%s' (list, reset)", argv[optind]);
	}
	if (abs_home(cli, home, &err) == NULL || (st = al_state_open(home, &err)) == NULL)
		return al_cli_error(cli, &err);
	ret = strcmp(argv[optind], "list") == 0
	          ? breaker_list(cli, st, &err)
	          : breaker_reset(cli, home, st, argv[optind + 1], &err);
	al_state_close(st);
	return ret < 0 ? al_cli_error(cli, &err) : AL_OK;
}
