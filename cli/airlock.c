/* airlock.c - main() of the airlock command: the command table. */
#include "cli/cli.h"
#include "steps/steps.h"

#include <string.h>

static const struct al_command commands[] = {
	{"version", al_cmd_version, "version [--verbose]", "print the version (and libraries')", NULL},
	{"keygen", al_cmd_keygen, "keygen -p PUB -s SEC [-W] [-c COMMENT] [--passfile F] [-f]",
	 "generate a minisign-compatible key pair",
	 "  -p PUB         public key file to write\n"
	 "  -s SEC         secret key file to write (mode 0600)\n"
	 "  -W             do not encrypt the secret key (as minisign -W)\n"
	 "  -c COMMENT     untrusted comment of the public key\n"
	 "  --passfile F   read the passphrase from F (also AIRLOCK_PASSFILE);\n"
	 "                 otherwise it is asked twice on the terminal\n"
	 "  -f             overwrite existing key files\n"},
	{"sign-file", al_cmd_sign_file,
	 "sign-file -s SEC [--passfile F] [-t TRUSTED_COMMENT] [-x SIG] FILE...",
	 "sign files (FILE.minisig), verifiable with minisign -V",
	 "  -s SEC         secret key\n"
	 "  --passfile F   passphrase file of an encrypted key (also AIRLOCK_PASSFILE)\n"
	 "  -t COMMENT     trusted comment (default: timestamp, file name, \"hashed\")\n"
	 "  -x SIG         signature file (one FILE only; default FILE.minisig)\n"},
	{"verify-file", al_cmd_verify_file, "verify-file -p PUB | -P PUBKEY [-x SIG] FILE",
	 "verify a minisign signature over a file",
	 "  -p PUB         public key file\n"
	 "  -P PUBKEY      public key given as its base64 line\n"
	 "  -x SIG         signature file (default FILE.minisig)\n"
	 "Exit status: 0 verified, 2 unreadable or malformed input, 3 verification failed.\n"},
	{"pack", al_cmd_pack, "pack DIR -o BUNDLE", "build a deterministic bundle of a pipeline directory",
	 "DIR/airlock.json becomes manifest.json, with every file's SHA-256, size and mode.\n"
	 "SOURCE_DATE_EPOCH sets the time recorded (the same DIR gives the same bytes).\n"},
	{"sign", al_cmd_sign, "sign BUNDLE -s SEC [--passfile F] [-t TRUSTED_COMMENT] | sign BUNDLE --add SIGFILE",
	 "sign a bundle's manifest (one signature per key; the bundle is rewritten)",
	 "  -s SEC          sign with this secret key\n"
	 "  --add SIGFILE   add a signature made elsewhere, e.g. by stock minisign over\n"
	 "                  the output of `airlock manifest BUNDLE`\n"},
	{"manifest", al_cmd_manifest, "manifest BUNDLE", "print a bundle's manifest bytes, exactly", NULL},
	{"verify", al_cmd_verify_bundle, "verify BUNDLE [--keys DIR] [--max-size SIZE]",
	 "verify a bundle: signatures by the trust policy, every file's hash",
	 "Nothing is written; the outcome is audited when this host has an audit log.\n"
	 "Exit status: 0 verified, 2 usage, 3 rejected, 4 I/O.\n"},
	{"install", al_cmd_install, "install BUNDLE [--keys DIR] [--max-size SIZE] [--allow-downgrade]",
	 "verify, extract and install a bundle (audited)",
	 "Refuses an expired bundle, an older version than the installed one and the\n"
	 "same version with another manifest, unless --allow-downgrade (audited).\n"},
	{"pipelines", al_cmd_pipelines, "pipelines", "list the installed pipelines", NULL},
	{"run", al_cmd_run,
	 "run PIPELINE|BUNDLE|DIR [--unsigned] [--date YYYY-MM-DD] [--jobs N] [--only STEP...]\n"
	 "            [--from STEP] [--force STEP...] [--dry-run] [--allow-network]\n"
	 "            [--kill-grace DURATION] [--log-cap SIZE] [--keys DIR] [--max-size SIZE]\n"
	 "            [--shard I/N] [--step-user USER|UID[:GID]]",
	 "run a pipeline: installed, a bundle (verified first) or a directory (--unsigned)",
	 "  --date D         logical date (default: today, UTC): outputs go to\n"
	 "                   outputs/<pipeline>/<date>/<step>/\n"
	 "  -j, --jobs N     steps run at once (default 1)\n"
	 "  --only S[,S]     run only these steps (their needs must be committed)\n"
	 "  --from S         run S and every step that depends on it again, committed or not\n"
	 "  --force S[,S]    run these steps again even if committed (audited)\n"
	 "  --dry-run        print what would run and why; run and record nothing\n"
	 "  --unsigned       allow a pipeline directory (the run is audited unsigned)\n"
	 "  --allow-network  give network: none steps the host's network where this\n"
	 "                   host cannot make a network namespace (audited)\n"
	 "  --kill-grace D   SIGTERM to SIGKILL at a timeout (default 10s)\n"
	 "  --log-cap SIZE   bytes kept of a step's stdout, and of its stderr (16M)\n"
	 "  --keys DIR       the trust policy for a bundle target (default HOME/keys)\n"
	 "  --max-size SIZE  a bundle target's limit on its files together (4G)\n"
	 "  --shard I/N      shard I (0 to N-1) of N: each fan_out step gets the items\n"
	 "                   whose index modulo N is I (AIRLOCK_ITEMS); one home per shard\n"
	 "  --step-user U    as root, the user steps run as (default airlock-step, else\n"
	 "                   nobody; never root, never the home's owner)\n"
	 "Steps run confined (their own namespaces, a view of /airlock/..., a system-call\n"
	 "filter, Landlock, a cgroup where one is delegated): airlock doctor says what\n"
	 "this host can give; step.start records what each step got.\n"
	 "A rerun for the same date skips the steps whose committed outputs are intact.\n"
	 "Exit status: 0 ok, 1 failed, 2 usage or manifest, 3 verification, 4 audit log\n"
	 "or environment, 75 the pipeline is running already, 130 interrupted.\n"},
	{"resume", al_cmd_resume,
	 "resume RUN [--jobs N] [--allow-network] [--step-user USER] [--kill-grace DURATION]",
	 "resume an interrupted or failed run (same manifest and date)", NULL},
	{"status", al_cmd_status, "status [RUN]",
	 "a run's steps: state, attempts, duration, exit (default: the newest run)", NULL},
	{"runs", al_cmd_runs, "runs [--pipeline P] [--limit N]", "list runs, newest first", NULL},
	{"logs", al_cmd_logs, "logs RUN STEP [--attempt N] [--verify]",
	 "a step's captured stdout (on stdout) and stderr (on stderr)", NULL},
	{"report", al_cmd_report, "report RUN -o FILE.html",
	 "a self-contained HTML report of a run: timeline, attempts, alerts, outputs", NULL},
	{"recreate", al_cmd_recreate,
	 "recreate PATH [--as-of TIME | --run RUN | --seq N] [-o FILE] [--seal-pub FILE] | recreate PATH --list",
	 "the exact bytes of a version of a committed output, proven against the log",
	 "PATH is an output's visible path (outputs/PIPELINE/DATE/STEP/FILE). Every\n"
	 "commit keeps its files' bytes in HOME/records by SHA-256; this writes the\n"
	 "version the log names (default the newest commit; --run: that run's;\n"
	 "--as-of: the newest committed at or before TIME) after verifying the log\n"
	 "and hashing the record again. --list shows every version the log knows:\n"
	 "commits (run, user, time) and changes seen from outside airlock (the\n"
	 "file's owner and mtime, when it was seen). Audited (audit.accessed).\n"
	 "  --seq N          the version the entry N names: a commit, or a change seen\n"
	 "                   from outside (its bytes were kept when it was seen)\n"
	 "  -o FILE          where to write (- for stdout; never inside the home)\n"
	 "  --seal-pub FILE  check the seals with this public key too\n"
	 "Exit status: 0 written, 1 the log does not verify, 2 usage or no such version,\n"
	 "3 the record's bytes are not the logged ones, 4 I/O.\n"},
	{"breaker", al_cmd_breaker, "breaker list | reset RESOURCE",
	 "circuit breakers: their state, and a reset (audited)", NULL},
	{"alert", al_cmd_alert, "alert --unit UNIT [--message TEXT]",
	 "say that a unit failed: what OnFailure= runs (airlock-alert@.service)",
	 "Writes HOME/alerts/<time>-<unit>.json (with the last run's summary for\n"
	 "airlock@PIPELINE.service), an alert entry in the audit log when it can still be\n"
	 "written, airlock_alerts_total{kind=\"unit-failed\"} in the metrics, and a line on\n"
	 "stderr. Exit status: 0 written, 4 the alert file could not be written.\n"},
	{"doctor", al_cmd_doctor, "doctor",
	 "what this host can give a confined step, layer by layer, and why not",
	 "Namespaces (user, mount, PID, IPC, UTS, network), the system-call filter,\n"
	 "Landlock and a delegated cgroup v2: each yes or no, with the call that failed.\n"
	 "A step with \"isolation\": \"strict\" needs all but IPC, UTS and cgroup.\n"},
	{"keys", al_cmd_keys, "keys add PUB [--name N] | list | remove KEYID | threshold N",
	 "the trust policy: release officers' keys and how many must sign", NULL},
	{"audit", al_cmd_audit, "audit COMMAND [ARGS]",
	 "the audit log: init, append, seal, checkpoint, verify, query, sql, reindex, tail, export",
	 NULL},
	{"image", al_cmd_image, "image ls | inspect NAME | prune",
	 "the image store: images steps run in, who uses them, and removing the unused", NULL},
	{"sha256", al_cmd_sha256, "sha256 [FILE...]",
	 "print SHA-256 checksums, as sha256sum does", "With no FILE, or '-', read standard input.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	/* A built-in step kind, started by the run engine as a step. */
	if (argc > 1 && strcmp(argv[1], "__builtin") == 0)
		return al_builtin_main(argc - 1, argv + 1);
	return al_cli_main("airlock", commands, argc, argv);
}
