/* airlock_verify.c - main() of airlock-verify, the regulator's verifier:
 * it checks signatures (and, as they land, bundles and audit logs) and
 * writes nothing but its output. */
#include "cli.h"

static const struct al_command commands[] = {
	{"sig", al_cmd_verify_file, "sig -p PUB | -P PUBKEY [-x SIG] FILE",
	 "verify a minisign signature over a file",
	 "  -p PUB         public key file\n"
	 "  -P PUBKEY      public key given as its base64 line\n"
	 "  -x SIG         signature file (default FILE.minisig)\n"
	 "Exit status: 0 verified, 2 unreadable or malformed input, 3 verification failed.\n"},
	{"version", al_cmd_version, "version [--verbose]", "print the version", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	return al_cli_main("airlock-verify", commands, argc, argv);
}
