/* cmd_alert.c - `airlock alert --unit UNIT`: what a systemd unit's
 * OnFailure= runs (airlock-alert@.service), so that a failed night is
 * said where someone looks even when airlock itself could not say it: an
 * alert file in HOME/alerts/ (with the last run's summary), an `alert`
 * entry in the audit log when it can still be written, the metrics
 * (airlock_alerts_total{kind="unit-failed"}) and stderr (the journal). */
#include "cli/cli.h"
#include "report/report.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "runner/runner.h"

/* airlock@NAME.service -> NAME; "" for another unit. */
static void unit_pipeline(const char *unit, char *out, size_t cap)
{
	const char *at = strchr(unit, '@'), *dot = strrchr(unit, '.');

	out[0] = '\0';
	if (strncmp(unit, "airlock@", 8) == 0 && at != NULL && dot != NULL && dot > at + 1 &&
	    strcmp(dot, ".service") == 0 && (size_t)(dot - at - 1) < cap) {
		memcpy(out, at + 1, (size_t)(dot - at - 1));
		out[dot - at - 1] = '\0';
	}
}

static int first_run(void *ctx, const struct al_run_row *r)
{
	*(struct al_run_row *)ctx = *r;
	return 1;
}

int al_cmd_alert(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"unit", required_argument, NULL, 'u'},
		{"message", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *unit = NULL, *message = NULL, *home;
	char pipeline[128], path[4300], dir[4200], ts[AL_TS_LEN], stamp[32], text[1024];
	struct al_run_row row = {0};
	struct al_state *st = NULL;
	struct al_audit *log;
	struct al_err err = {0}, lerr = {0};
	json_t *alert, *summary = NULL;
	char *out;
	int c, have_run = 0, logged = 0, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'u': unit = optarg; break;
		case 'm': message = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc || unit == NULL)
		return al_cli_usage(cli, "--unit UNIT is needed (the unit that failed: %%i of "
		                         "airlock-alert@.service)");
	if (strlen(unit) > 256 || strpbrk(unit, "/\n") != NULL)
		return al_cli_usage(cli, "--unit %s: not a unit name", unit);
	if ((home = al_cli_home(cli, &err)) == NULL)
		return al_cli_error(cli, &err);
	unit_pipeline(unit, pipeline, sizeof pipeline);
	al_snprintf(text, sizeof text, "%s failed%s%s", unit, message != NULL ? ": " : "",
	            message != NULL ? message : "");
	al_utf8_fix(text);
	/* The last run of the unit's pipeline, and how it ended as far as
	 * anyone could tell: its summary (written also when the audit log
	 * could not be). */
	st = al_state_open(home, &err);
	if (st != NULL && pipeline[0] != '\0') {
		struct al_err rerr = {0};
		(void)al_state_runs(st, pipeline, NULL, 1, first_run, &row, &rerr);
		have_run = row.id[0] != '\0';
	}
	if (have_run) {
		char *stext = NULL;
		size_t len;
		al_snprintf(path, sizeof path, "%s/runs/%s/summary.json", home, row.id);
		if (al_read_file(AT_FDCWD, path, 1 << 22, &stext, &len, NULL) == 0) {
			summary = json_loadb(stext, len, 0, NULL);
			free(stext);
		}
	}
	/* In the log first, when it can still be written. */
	log = al_audit_open(home, &lerr);
	if (log != NULL) {
		json_t *f = json_pack("{s:s,s:s,s:s}", "kind", "unit-failed", "failed_unit", unit,
		                      "message", text);
		if (pipeline[0] != '\0')
			json_object_set_new(f, "pipeline", json_string(pipeline));
		if (have_run)
			json_object_set_new(f, "run", json_string(row.id));
		logged = al_audit_append(log, "alert", f, AL_AUDIT_SYNC, &lerr) == 0 &&
		         al_audit_seal(log, &lerr) == 0;
		json_decref(f);
	}
	if (al_audit_close(log, logged ? &lerr : NULL) < 0)
		logged = 0;
	al_ts_format(al_now_us(), ts);
	alert = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:s?,s:o,s:b}", "format", "airlock.alert/1",
	                  "kind", "unit-failed", "ts", ts, "host", al_host_name(), "unit", unit,
	                  "pipeline", pipeline[0] ? pipeline : NULL, "run", have_run ? row.id : NULL,
	                  "summary", summary != NULL ? summary : json_null(), "in_audit_log", logged);
	json_object_set_new(alert, "message", json_string(text));
	if (!logged)
		json_object_set_new(alert, "audit_error", json_string(lerr.msg));
	/* HOME/alerts/<time>-<unit>.json: what a notify or a file watcher
	 * picks up; never overwritten */
	al_snprintf(stamp, sizeof stamp, "%.4s%.2s%.2sT%.2s%.2s%.2s%.7sZ", ts, ts + 5, ts + 8, ts + 11,
	            ts + 14, ts + 17, ts + 19);
	al_snprintf(dir, sizeof dir, "%s/alerts", home);
	al_snprintf(path, sizeof path, "%s/%s-%s.json", dir, stamp, unit);
	out = json_dumps(alert, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (out == NULL || al_mkdirs(dir, 0755, &err) < 0 ||
	    al_write_file_atomic(path, out, strlen(out), 0644, &err) < 0) {
		if (out == NULL)
			al_err_sys(&err, "cannot allocate memory");
		code = AL_EENV;
	}
	free(out);
	json_decref(alert);
	/* the metrics: counted with the run's alerts */
	if (st != NULL) {
		struct al_err merr = {0};
		if (al_state_alert_count(st, pipeline[0] ? pipeline : unit, "unit-failed", al_now_us(),
		                         &merr) < 0 ||
		    al_metrics_write(home, st, -1, &merr) < 0)
			fprintf(stderr, "%s: warning: metrics: %s\n", cli->prog, merr.msg);
	}
	al_state_close(st);
	fprintf(stderr, "%s: alert unit-failed: %s%s%s%s\n", cli->prog, text,
	        have_run ? " (last run " : "", have_run ? row.id : "", have_run ? ")" : "");
	if (!logged)
		fprintf(stderr, "%s: the audit log could not record it: %s\n", cli->prog, lerr.msg);
	if (code != AL_OK)
		return al_cli_error(cli, &err);
	if (cli->verbosity >= 0 && !cli->json)
		printf("%s\n", path);
	return AL_OK;
}
