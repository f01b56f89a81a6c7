/* airlock.c - main() of the airlock command: the command table. */
#include "cli.h"

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
	{"audit", al_cmd_audit, "audit COMMAND [ARGS]",
	 "the audit log: init, append, seal, checkpoint, verify, query, sql, reindex, tail, export",
	 NULL},
	{"sha256", al_cmd_sha256, "sha256 [FILE...]",
	 "print SHA-256 checksums, as sha256sum does", "With no FILE, or '-', read standard input.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	return al_cli_main("airlock", commands, argc, argv);
}
