/* cmd_report.c - airlock report RUN -o FILE.html: the command side of the
 * run report (report.c); reading the log for it is audited. */
#include "cli/cli.h"
#include "report/report.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"

/* The report is made for whoever runs the command; it shows paths and
 * argv, so only they may read it. */
#define REPORT_MODE 0600

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
	    al_cli_audit_accessed(cli, home, "report", &err) < 0 ||
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
