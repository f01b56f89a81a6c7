/* cmd_report.c - airlock report RUN -o FILE.html: the command side of the
 * run report (report.c); reading the log for it is audited. */
#include "cli.h"
#include "report.h"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"

/* The report is made for whoever runs the command; it shows paths and
 * argv, so only they may read it. */
#define REPORT_MODE 0600

/* Reading the log is itself logged (PCI DSS 10.2.1.3), as audit query
 * does: audit.accessed {user, uid, command} goes first, and no report is
 * made when it cannot be written. */
static int report_accessed(const char *home, struct al_err *err)
{
	struct passwd *pw = getpwuid(getuid());
	struct al_audit *log = al_audit_open(home, err);
	json_t *f;
	int ret;

	if (log == NULL) {
		al_err_prefix(err, "reading the audit log is itself audited, and cannot be");
		return -1;
	}
	f = json_pack("{s:s,s:I,s:s}", "user", pw != NULL && pw->pw_name != NULL ? pw->pw_name : "",
	              "uid", (json_int_t)getuid(), "command", "report");
	ret = f != NULL ? al_audit_append(log, "audit.accessed", f, AL_AUDIT_SYNC, err)
	                : al_err_set(err, AL_EENV, "audit.accessed: out of memory");
	json_decref(f);
	if (al_audit_close(log, ret == 0 ? err : NULL) < 0)
		ret = -1;
	return ret;
}

/* "-" is stdout; anything else is replaced atomically. */
static int report_write(const char *out, const char *html, size_t len, struct al_err *err)
{
	if (strcmp(out, "-") != 0)
		return al_write_file_atomic(out, html, len, REPORT_MODE, err);
	fflush(stdout);
	if (al_write_all(STDOUT_FILENO, html, len) < 0)
		return al_err_sys(err, "writing the report to stdout");
	return 0;
}

int al_cmd_report(struct al_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_err err = {0};
	const char *home, *out = NULL, *run;
	size_t len = 0, entries = 0;
	char *html;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "o:", opts)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 1)
		return al_cli_usage(cli, "give one run");
	run = argv[optind];
	if (out == NULL || out[0] == '\0')
		return al_cli_usage(cli, "-o FILE.html is needed (- for stdout)");
	if (cli->json && strcmp(out, "-") == 0)
		return al_cli_usage(cli, "--json and -o -: both would go to stdout");
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    report_accessed(home, &err) < 0 ||
	    (html = al_report_html(home, run, &len, &entries, &err)) == NULL)
		return al_cli_error(cli, &err);
	if (report_write(out, html, len, &err) < 0) {
		free(html);
		return al_cli_error(cli, &err);
	}
	free(html);
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:I}", "report", out, "entries", (json_int_t)entries));
	else if (strcmp(out, "-") != 0)
		al_cli_info(cli, "report of run %s (%zu entries) written to %s\n", run, entries, out);
	return AL_OK;
}
