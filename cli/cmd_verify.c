/* cmd_verify.c - `airlock verify-file` and `airlock-verify sig`: check a
 * minisign signature over a file, as `minisign -V` does. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int al_cmd_verify_file(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *pub_path = NULL, *pub_b64 = NULL, *sig_path = NULL, *file;
	char default_sig[4096], keyid[AL_KEYID_HEX];
	struct al_err err = {0};
	struct al_pubkey pub;
	struct al_sig sig;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "p:P:x:h", longopts)) != -1) {
		switch (c) {
		case 'p': pub_path = optarg; break;
		case 'P': pub_b64 = optarg; break;
		case 'x': sig_path = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if ((pub_path == NULL) == (pub_b64 == NULL))
		return al_cli_usage(cli, "one of -p PUBFILE or -P PUBKEY is needed");
	if (argc - optind != 1)
		return al_cli_usage(cli, "exactly one FILE to verify");
	file = argv[optind];
	if (sig_path == NULL) {
		if (al_snprintf(default_sig, sizeof default_sig, "%s.minisig", file) < 0)
			return al_cli_usage(cli, "%s: path too long", file);
		sig_path = default_sig;
	}
	if (al_crypto_init(&err) < 0 ||
	    (pub_path != NULL ? al_pubkey_load(pub_path, &pub, &err)
	                      : al_pubkey_from_base64(pub_b64, &pub, &err)) < 0 ||
	    al_sig_load(sig_path, &sig, &err) < 0 ||
	    al_sig_verify_file(&pub, &sig, file, sig_path, &err) < 0)
		return al_cli_error(cli, &err);
	al_keyid_hex(pub.keyid, keyid);
	if (cli->json)
		al_cli_print_json(json_pack("{s:b,s:s,s:s,s:s,s:s}", "verified", 1, "file", file,
		                            "keyid", keyid, "algorithm",
		                            sig.alg == AL_SIG_PREHASHED ? "ED" : "Ed",
		                            "trusted_comment", sig.trusted_comment));
	else if (cli->verbosity >= 0)
		printf("Signature and comment signature verified\nTrusted comment: %s\n",
		       sig.trusted_comment);
	return AL_OK;
}
