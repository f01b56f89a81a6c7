/* cli.h - the command layer shared by airlock and airlock-verify: global
 * options, subcommand dispatch, help, and the one place that prints
 * errors and chooses exit codes. */
#ifndef AIRLOCK_CLI_H
#define AIRLOCK_CLI_H

#include <stdio.h>

#include "core/core.h"

struct al_cli {
	const char *prog;  /* "airlock" or "airlock-verify" */
	const char *home;  /* --home or AIRLOCK_HOME; NULL: the default */
	int json;          /* --json: machine output on stdout */
	int verbosity;     /* -q: -1, default 0, -v: 1 */
	const struct al_command *cmd; /* the command being run */
	int argc;          /* the command's arguments as given (after its name), */
	char **argv;       /* copied before getopt reorders them: audit.accessed's args */
};

struct al_command {
	const char *name;
	int (*run)(struct al_cli *cli, int argc, char **argv);
	const char *synopsis; /* usage line(s), after the program name */
	const char *summary;  /* one line for the command list */
	const char *help;     /* the rest of --help */
};

/* Runs the program: parses global options, dispatches to the command and
 * returns the exit code. */
int al_cli_main(const char *prog, const struct al_command *cmds, int argc, char **argv);

/* Prints "prog: message" on stderr and returns err's exit code. */
int al_cli_error(const struct al_cli *cli, const struct al_err *err);
/* Prints a usage error about the current command and returns 2. */
int al_cli_usage(const struct al_cli *cli, const char *fmt, ...) AL_PRINTF(2, 3);
/* Prints the current command's help on stdout and returns 0. */
int al_cli_help(const struct al_cli *cli);
/* An informational line on stderr unless -q. */
void al_cli_info(const struct al_cli *cli, const char *fmt, ...) AL_PRINTF(2, 3);
/* The progress line of a long operation (DESIGN.md §8): p is made to
 * draw on stderr when it is a terminal, unless -q or AIRLOCK_PROGRESS=0;
 * else p draws nothing, and logs and --json output stay clean. */
void al_cli_progress(const struct al_cli *cli, struct al_progress *p);
/* Prints a JSON value on stdout, one line, and releases it. */
void al_cli_print_json(json_t *v);

/* Parses the options of the current command with getopt_long; "help" is
 * handled here. Returns the option character, -1 at the end, '?' after
 * printing a usage error. */
struct option;
int al_cli_getopt(struct al_cli *cli, int argc, char **argv, const char *optstring,
                  const struct option *longopts);

/* The passphrase file: --passfile or AIRLOCK_PASSFILE, or NULL. */
const char *al_cli_passfile(const char *opt);
/* The passphrase callback of al_seckey_load: ctx is the passphrase file
 * (al_cli_passfile's), or NULL for the terminal. */
char *al_cli_pass(void *ctx, struct al_err *err);

/* AIRLOCK_HOME (DESIGN.md §3): --home or AIRLOCK_HOME, else
 * /var/lib/airlock for root, else $XDG_STATE_HOME/airlock (default
 * ~/.local/state/airlock). Returns NULL with err set when none can be
 * found. The string is static or the caller's. */
const char *al_cli_home(const struct al_cli *cli, struct al_err *err);

/* Runs a second-level command ("airlock audit verify"): argv[0] is the
 * group's name, argv[1] the subcommand. */
int al_cli_group(struct al_cli *cli, const struct al_command *cmds, int argc, char **argv);

/* The commands, by file. */
int al_cmd_version(struct al_cli *cli, int argc, char **argv);
int al_cmd_sha256(struct al_cli *cli, int argc, char **argv);
int al_cmd_keygen(struct al_cli *cli, int argc, char **argv);
int al_cmd_sign_file(struct al_cli *cli, int argc, char **argv);
int al_cmd_verify_file(struct al_cli *cli, int argc, char **argv);
int al_cmd_audit(struct al_cli *cli, int argc, char **argv);
int al_cmd_audit_ship(struct al_cli *cli, int argc, char **argv);
int al_cmd_audit_restore(struct al_cli *cli, int argc, char **argv);
int al_cmd_pack(struct al_cli *cli, int argc, char **argv);
int al_cmd_sign(struct al_cli *cli, int argc, char **argv);
int al_cmd_manifest(struct al_cli *cli, int argc, char **argv);
int al_cmd_verify_bundle(struct al_cli *cli, int argc, char **argv);
int al_cmd_verify_bundle_only(struct al_cli *cli, int argc, char **argv);
int al_cmd_install(struct al_cli *cli, int argc, char **argv);
int al_cmd_pipelines(struct al_cli *cli, int argc, char **argv);
int al_cmd_keys(struct al_cli *cli, int argc, char **argv);
int al_cmd_run(struct al_cli *cli, int argc, char **argv);
int al_cmd_resume(struct al_cli *cli, int argc, char **argv);
int al_cmd_status(struct al_cli *cli, int argc, char **argv);
int al_cmd_runs(struct al_cli *cli, int argc, char **argv);
int al_cmd_logs(struct al_cli *cli, int argc, char **argv);
int al_cmd_report(struct al_cli *cli, int argc, char **argv);
int al_cmd_recreate(struct al_cli *cli, int argc, char **argv);
int al_cmd_breaker(struct al_cli *cli, int argc, char **argv);
int al_cmd_doctor(struct al_cli *cli, int argc, char **argv);

/* Reading the log by question (cmd_query.c): with a hook (airlock), the
 * home's index after the hook recorded the read; without (airlock-verify),
 * PATH verified and indexed for the command alone. */
typedef int (*al_cli_read_hook)(const struct al_cli *cli, const char *home, const char *command,
                                struct al_err *err);
int al_cli_query(struct al_cli *cli, int argc, char **argv, al_cli_read_hook before);
int al_cli_sql(struct al_cli *cli, int argc, char **argv, al_cli_read_hook before);
/* An entry for people ("#seq ts event key=value ... [user/uid@host]"), or
 * its line with --json. */
void al_cli_print_entry(const struct al_cli *cli, const char *line);
/* --since/--until: an RFC 3339 time, or a date (its first or last
 * microsecond); 0, or the usage error's exit code. */
int al_cli_ts_opt(struct al_cli *cli, const char *what, const char *s, int64_t *us);

/* Reading the audit log is itself logged (PCI DSS 10.2.1.3): appends
 * audit.accessed {user, uid, command} durably, or fails (cmd_audit.c). */
int al_cli_audit_accessed(const struct al_cli *cli, const char *home, const char *command,
                          struct al_err *err);

/* Shared by the bundle commands (cmd_verify_bundle.c). */
struct al_bundle_result;
const char *al_cli_keys_dir(const struct al_cli *cli, const char *opt, char *buf, size_t n,
                            struct al_err *err);
int al_verify_opts(struct al_cli *cli, int argc, char **argv, const char **keys,
                   uint64_t *max_size, int *allow_downgrade);
int al_verify_bundle_run(struct al_cli *cli, int argc, char **argv,
                         int (*audit)(void *ctx, const char *bundle, int ok,
                                      const struct al_bundle_result *res, struct al_err *err),
                         void *ctx);
int al_cmd_verify_audit(struct al_cli *cli, int argc, char **argv);
int al_cmd_audit_shards(struct al_cli *cli, int argc, char **argv);
int al_cmd_audit_sink(struct al_cli *cli, int argc, char **argv);
int al_cmd_image(struct al_cli *cli, int argc, char **argv);
int al_cmd_audit_anchor(struct al_cli *cli, int argc, char **argv);
int al_cmd_alert(struct al_cli *cli, int argc, char **argv);
int al_cmd_verify_checkpoint(struct al_cli *cli, int argc, char **argv);

#endif
