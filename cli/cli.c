/* cli.c - global options, dispatch, help and error reporting for both
 * binaries. Only this layer prints errors and chooses exit codes. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static void print_commands(FILE *f, const char *prog, const struct al_command *cmds)
{
	fprintf(f, "usage: %s [--home DIR] [--json] [-q|-v] COMMAND [ARGS]\n\ncommands:\n", prog);
	for (const struct al_command *c = cmds; c->name != NULL; c++)
		fprintf(f, "  %-12s %s\n", c->name, c->summary);
	fprintf(f, "\nRun '%s COMMAND --help' for a command's options.\n", prog);
}

int al_cli_error(const struct al_cli *cli, const struct al_err *err)
{
	fprintf(stderr, "%s: %s\n", cli->prog, err->msg[0] != '\0' ? err->msg : "failed");
	return err->code != AL_OK ? err->code : AL_EFAIL;
}

int al_cli_usage(const struct al_cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", cli->prog, cli->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s %s\n", cli->prog, cli->cmd->synopsis);
	return AL_EUSAGE;
}

int al_cli_help(const struct al_cli *cli)
{
	printf("usage: %s %s\n\n%s\n", cli->prog, cli->cmd->synopsis, cli->cmd->summary);
	if (cli->cmd->help != NULL && cli->cmd->help[0] != '\0')
		printf("\n%s", cli->cmd->help);
	return AL_OK;
}

void al_cli_info(const struct al_cli *cli, const char *fmt, ...)
{
	va_list ap;

	if (cli->verbosity < 0)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void al_cli_print_json(json_t *v)
{
	char *s = al_json_dump(v);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	json_decref(v);
}

/* The name of the option whose value is missing, from optopt: glibc and
 * musl leave optind at different places, so argv cannot tell. */
static void option_name(int opt, const struct option *longopts, char *out, size_t outlen)
{
	for (const struct option *o = longopts; o != NULL && o->name != NULL; o++)
		if (o->val == opt && (opt > 255 || o->has_arg == required_argument)) {
			snprintf(out, outlen, "--%s", o->name);
			return;
		}
	snprintf(out, outlen, "-%c", opt);
}

int al_cli_getopt(struct al_cli *cli, int argc, char **argv, const char *optstring,
                  const struct option *longopts)
{
	char name[64];
	char opts[64];
	int c;

	/* A leading ':' makes getopt tell a missing value (':') from an
	 * unknown option ('?'); its own messages would not name the command,
	 * ours do. */
	if (al_snprintf(opts, sizeof opts, ":%s", optstring) < 0)
		abort();
	opterr = 0;
	c = getopt_long(argc, argv, opts, longopts, NULL);
	switch (c) {
	case 'h':
		al_cli_help(cli);
		break;
	case ':':
		/* A short option that is also a long one (none today) would be
		 * named by its long form. */
		if (strchr(optstring, optopt) != NULL)
			snprintf(name, sizeof name, "-%c", optopt);
		else
			option_name(optopt, longopts, name, sizeof name);
		al_cli_usage(cli, "option %s needs a value", name);
		c = '?';
		break;
	case '?':
		if (optopt != 0)
			al_cli_usage(cli, "unknown option -%c", optopt);
		else if (optind > 0 && optind <= argc)
			al_cli_usage(cli, "unknown option %s", argv[optind - 1]);
		else
			al_cli_usage(cli, "unknown option");
		break;
	}
	return c;
}

const char *al_cli_passfile(const char *opt)
{
	const char *env;

	if (opt != NULL)
		return opt;
	env = getenv("AIRLOCK_PASSFILE");
	return env != NULL && env[0] != '\0' ? env : NULL;
}

char *al_cli_pass(void *ctx, struct al_err *err)
{
	return al_passphrase_read(ctx, 0, err);
}

const char *al_cli_home(const struct al_cli *cli, struct al_err *err)
{
	static char buf[4096];
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (cli->home != NULL)
		return cli->home;
	if (geteuid() == 0)
		return "/var/lib/airlock";
	if (xdg != NULL && xdg[0] == '/') {
		if (al_snprintf(buf, sizeof buf, "%s/airlock", xdg) == 0)
			return buf;
	} else if (home != NULL && home[0] == '/') {
		if (al_snprintf(buf, sizeof buf, "%s/.local/state/airlock", home) == 0)
			return buf;
	}
	al_err_set(err, AL_EUSAGE,
	           "no airlock home: give --home DIR or set AIRLOCK_HOME (HOME and XDG_STATE_HOME are unset)");
	return NULL;
}

int al_cli_group(struct al_cli *cli, const struct al_command *cmds, int argc, char **argv)
{
	/* static: cli->cmd points at it while the command runs */
	static struct al_command full;
	static char name[128];
	const struct al_command *group = cli->cmd;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		FILE *f = argc < 2 ? stderr : stdout;
		fprintf(f, "usage: %s %s COMMAND [ARGS]\n\ncommands:\n", cli->prog, group->name);
		for (const struct al_command *c = cmds; c->name != NULL; c++)
			fprintf(f, "  %-12s %s\n", c->name, c->summary);
		fprintf(f, "\nRun '%s %s COMMAND --help' for a command's options.\n", cli->prog,
		        group->name);
		return argc < 2 ? AL_EUSAGE : AL_OK;
	}
	for (const struct al_command *c = cmds; c->name != NULL; c++) {
		if (strcmp(c->name, argv[1]) != 0)
			continue;
		/* "audit verify", so that usage lines and errors read right */
		snprintf(name, sizeof name, "%s %s", group->name, c->name);
		full = *c;
		full.name = name;
		cli->cmd = &full;
		optind = 0;
		return c->run(cli, argc - 1, argv + 1);
	}
	fprintf(stderr, "%s: unknown command '%s %s'\n", cli->prog, group->name, argv[1]);
	return AL_EUSAGE;
}

/* Reports a failure to write stdout (a full disk behind a redirection, a
 * closed pipe): output that was lost must not look complete. */
static int finish_stdout(const struct al_cli *cli, int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: error writing standard output\n", cli->prog);
		return code == AL_OK ? AL_EENV : code;
	}
	return code;
}

static const struct option global_options[] = {
	{"home", required_argument, NULL, 'H'},
	{"json", no_argument, NULL, 'j'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

int al_cli_main(const char *prog, const struct al_command *cmds, int argc, char **argv)
{
	struct al_cli cli = {.prog = prog};
	struct al_err err = {0};
	const char *faults, *name;
	int c, code;

	/* Everything airlock creates is private unless it says otherwise. */
	umask(077);
	faults = getenv("AIRLOCK_FAULTS");
	if (faults != NULL && al_sys_faults_parse(faults, &err) < 0)
		return al_cli_error(&cli, &err);
	cli.home = getenv("AIRLOCK_HOME");
	if (cli.home != NULL && cli.home[0] == '\0')
		cli.home = NULL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jqvh", global_options, NULL)) != -1) {
		switch (c) {
		case 'H':
			cli.home = optarg;
			break;
		case 'j':
			cli.json = 1;
			break;
		case 'q':
			cli.verbosity = -1;
			break;
		case 'v':
			cli.verbosity = 1;
			break;
		case 'h':
			print_commands(stdout, prog, cmds);
			return finish_stdout(&cli, AL_OK);
		case 'V':
			printf("%s %s\n", prog, AL_VERSION);
			return finish_stdout(&cli, AL_OK);
		default:
			fprintf(stderr, "%s: unknown global option %s\n", prog, argv[optind - 1]);
			print_commands(stderr, prog, cmds);
			return AL_EUSAGE;
		}
	}
	if (optind >= argc) {
		print_commands(stderr, prog, cmds);
		return AL_EUSAGE;
	}
	name = argv[optind];
	if (strcmp(name, "help") == 0) {
		if (optind + 1 >= argc) {
			print_commands(stdout, prog, cmds);
			return finish_stdout(&cli, AL_OK);
		}
		name = argv[optind + 1];
		for (const struct al_command *cmd = cmds; cmd->name != NULL; cmd++)
			if (strcmp(cmd->name, name) == 0) {
				cli.cmd = cmd;
				return finish_stdout(&cli, al_cli_help(&cli));
			}
	}
	for (const struct al_command *cmd = cmds; cmd->name != NULL; cmd++) {
		if (strcmp(cmd->name, name) != 0)
			continue;
		cli.cmd = cmd;
		argc -= optind;
		argv += optind;
		cli.argc = argc - 1;
		cli.argv = calloc((size_t)argc + 1, sizeof *cli.argv);
		for (int i = 1; i < argc && cli.argv != NULL; i++)
			cli.argv[i - 1] = argv[i];
		optind = 0; /* reinitialise getopt (glibc and musl) for the command */
		code = cmd->run(&cli, argc, argv);
		free(cli.argv);
		return finish_stdout(&cli, code);
	}
	fprintf(stderr, "%s: unknown command '%s'\n", prog, name);
	print_commands(stderr, prog, cmds);
	return AL_EUSAGE;
}

/* ---- the progress line (DESIGN.md §8) ---- */

/* One line on stderr, redrawn in place ("\r", the line, erase to its
 * end), cut to the terminal's width; at the end erased, so that what the
 * command prints next starts on a clean line. */
static void progress_draw(const struct al_progress *p, int final, void *ctx)
{
	char line[512], out[600];
	struct winsize ws;
	size_t n, width = 80;
	int k;

	(void)ctx;
	if (final) {
		(void)!write(STDERR_FILENO, "\r\033[K", 4);
		return;
	}
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		width = ws.ws_col;
	n = al_progress_line(p, al_progress_now_us(), line, sizeof line);
	if (n > width - 1)
		n = width - 1;
	k = snprintf(out, sizeof out, "\r%.*s\033[K", (int)n, line);
	if (k > 0)
		(void)!write(STDERR_FILENO, out, (size_t)k < sizeof out ? (size_t)k : sizeof out - 1);
}

void al_cli_progress(const struct al_cli *cli, struct al_progress *p)
{
	const char *env = getenv("AIRLOCK_PROGRESS");

	memset(p, 0, sizeof *p);
	if (cli->verbosity < 0 || (env != NULL && strcmp(env, "0") == 0) || !isatty(STDERR_FILENO))
		return;
	p->draw = progress_draw;
}
