/* airlock_verify.c - main() of airlock-verify, the regulator's verifier:
 * it checks signatures (and, as they land, bundles and audit logs) and
 * writes nothing but its output. */
#include "cli/cli.h"

static int verify_query(struct al_cli *cli, int argc, char **argv)
{
	return al_cli_query(cli, argc, argv, NULL);
}

static int verify_sql(struct al_cli *cli, int argc, char **argv)
{
	return al_cli_sql(cli, argc, argv, NULL);
}

static const struct al_command commands[] = {
	{"sig", al_cmd_verify_file, "sig -p PUB | -P PUBKEY [-x SIG] FILE",
	 "verify a minisign signature over a file",
	 "  -p PUB         public key file\n"
	 "  -P PUBKEY      public key given as its base64 line\n"
	 "  -x SIG         signature file (default FILE.minisig)\n"
	 "Exit status: 0 verified, 2 unreadable or malformed input, 3 verification failed.\n"},
	{"audit", al_cmd_verify_audit,
	 "audit PATH... [--seal-pub FILE | --seal-key FILE] [--anchor CHECKPOINT] [-p HOST_PUB]\n"
	 "             [--strict] [--json] | audit --shards SHARDS.TXT --shards-key PUB LOG...",
	 "verify audit logs (directories of segments or exports .tar.zst)",
	 "  --seal-pub FILE     the log's seal public key (airlock audit init --seal-pub-out):\n"
	 "                      check every seal's signature and the key chain from epoch 0;\n"
	 "                      a span of entries longer than the seal interval fails\n"
	 "  --seal-key FILE     an airlock.audit/1 log's seal key k0: check every seal's mac\n"
	 "  --anchor FILE       a checkpoint.txt kept earlier (with FILE.minisig): the log\n"
	 "                      must still hold that exact prefix\n"
	 "  -p HOST_PUB         the host public key for checkpoint signatures (default:\n"
	 "                      host.pub beside the log or in the export)\n"
	 "  --strict            entries after the last seal are a failure (reads excepted);\n"
	 "                      always so for an export, where a torn tail fails too\n"
	 "  --json              one JSON object a finding, then a summary per PATH\n"
	 "  --shards FILE       the signed summary of a sharded run (airlock audit shards):\n"
	 "                      every LOG is one shard's; each must hold its shard's signed\n"
	 "                      checkpoint; a missing or failing shard is named\n"
	 "  --shards-key PUB    the coordinator's public key that signed FILE\n"
	 "Exit status: 0 intact, 1 tampered (the first bad line is named), 2 could not verify.\n"},
	{"bundle", al_cmd_verify_bundle_only, "bundle BUNDLE --keys DIR [--max-size SIZE]",
	 "verify a bundle against a trust policy, without installing it",
	 "DIR holds policy.json and the <KEYID>.pub files it lists.\n"
	 "Exit status: 0 verified, 2 usage, 3 rejected.\n"},
	{"query", verify_query,
	 "query LOG [--seal-pub FILE] [-p HOST_PUB] [--run R] [--step S] [--event E] [--path P]\n"
	 "             [--sha256 H] [--since T] [--until T] [--json]",
	 "find entries in an export or a log directory, verified first (no home needed)",
	 "LOG is verified as `airlock-verify audit` does (an export strictly); the lines it\n"
	 "accepted, and only those, are indexed in a throw-away database that the command\n"
	 "removes, then the filters of `airlock audit query` run on it. A log that does\n"
	 "not verify answers nothing.\n"
	 "  --seal-pub FILE  check the seals' signatures with the log's seal public key\n"
	 "  -p HOST_PUB      the host key for checkpoint signatures (default: in the export)\n"
	 "Exit status: 0 answered, 1 the log does not verify, 2 usage or unreadable input.\n"},
	{"sql", verify_sql, "sql LOG \"SELECT ...\" [--seal-pub FILE] [-p HOST_PUB] [--json]",
	 "read-only SQL on an export or a log directory, verified first",
	 "The tables of `airlock audit sql`: entries(seq, ts, event, run, step, attempt,\n"
	 "exit, json), files(seq, path, sha256, size), runs(run, pipeline, version, date,\n"
	 "status, start_ts, end_ts), built from the lines the verification accepted.\n"
	 "Writes, ATTACH, pragmas that write and extensions are refused (exit 2).\n"
	 "Exit status: 0 answered, 1 the log does not verify, 2 usage or a refused statement.\n"},
	{"checkpoint", al_cmd_verify_checkpoint, "checkpoint CHECKPOINT -p HOST_PUB",
	 "verify a checkpoint's signature", NULL},
	{"version", al_cmd_version, "version [--verbose]", "print the version", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	return al_cli_main("airlock-verify", commands, argc, argv);
}
