/* cmd_keys.c - `airlock keygen` and `airlock sign-file`: minisign-format
 * keys and signatures (DESIGN.md §4, §12). */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int refuse_existing(const char *path, int force, struct al_err *err)
{
	struct stat st;

	if (!force && lstat(path, &st) == 0)
		return al_err_set(err, AL_EUSAGE, "%s already exists (use -f to overwrite)", path);
	return 0;
}

int al_cmd_keygen(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"passfile", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *pub_path = NULL, *sec_path = NULL, *comment = NULL, *passfile = NULL;
	int unencrypted = 0, force = 0, c, code;
	struct al_err err = {0};
	struct al_pubkey pub;
	struct al_seckey *sec = NULL;
	char keyid[AL_KEYID_HEX], *pass = NULL, *sec_text = NULL, *pub_text = NULL;

	while ((c = al_cli_getopt(cli, argc, argv, "p:s:Wc:fh", longopts)) != -1) {
		switch (c) {
		case 'p': pub_path = optarg; break;
		case 's': sec_path = optarg; break;
		case 'W': unencrypted = 1; break;
		case 'c': comment = optarg; break;
		case 'f': force = 1; break;
		case 'P': passfile = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (pub_path == NULL || sec_path == NULL)
		return al_cli_usage(cli, "both -p PUB and -s SEC are needed");
	if (comment != NULL && al_comment_check(comment, 0, &err) < 0)
		return al_cli_error(cli, &err);
	if (refuse_existing(pub_path, force, &err) < 0 || refuse_existing(sec_path, force, &err) < 0 ||
	    al_crypto_init(&err) < 0)
		return al_cli_error(cli, &err);
	if (!unencrypted) {
		pass = al_passphrase_read(al_cli_passfile(passfile), 1, &err);
		if (pass == NULL)
			return al_cli_error(cli, &err);
		if (pass[0] == '\0') {
			al_secret_free(pass);
			al_err_set(&err, AL_EUSAGE, "empty passphrase (use -W for an unencrypted key)");
			return al_cli_error(cli, &err);
		}
	}
	code = AL_EENV;
	if (al_keypair_generate(&pub, &sec, &err) < 0 ||
	    (sec_text = al_seckey_format(sec, pass, NULL, &err)) == NULL)
		goto out;
	pub_text = al_pubkey_format(&pub, comment);
	if (pub_text == NULL) {
		al_err_sys(&err, "cannot allocate memory");
		goto out;
	}
	if (al_write_file_atomic(sec_path, sec_text, strlen(sec_text), 0600, &err) < 0)
		goto out;
	if (al_write_file_atomic(pub_path, pub_text, strlen(pub_text), 0644, &err) < 0) {
		unlink(sec_path); /* half a key pair is of no use to anyone */
		goto out;
	}
	al_keyid_hex(pub.keyid, keyid);
	if (cli->json) {
		al_cli_print_json(json_pack("{s:s,s:s,s:s,s:b}", "keyid", keyid, "public_key", pub_path,
		                            "secret_key", sec_path, "encrypted", !unencrypted));
	} else if (cli->verbosity >= 0) {
		printf("Key id %s\nThe secret key was saved as %s - keep it secret!\n"
		       "The public key was saved as %s - that one can be public.\n",
		       keyid, sec_path, pub_path);
	}
	code = AL_OK;
out:
	if (code != AL_OK)
		code = al_cli_error(cli, &err);
	al_secret_free(sec_text);
	al_secret_free(pass);
	al_seckey_free(sec);
	free(pub_text);
	return code;
}

/* minisign's default trusted comment, so that signatures look alike. */
static void default_trusted_comment(const char *file, char *out, size_t outlen)
{
	const char *base = strrchr(file, '/');

	base = base != NULL ? base + 1 : file;
	snprintf(out, outlen, "timestamp:%lld\tfile:%s\thashed", (long long)time(NULL), base);
}

int al_cmd_sign_file(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"passfile", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sec_path = NULL, *trusted = NULL, *sig_path = NULL, *passfile = NULL;
	struct al_err err = {0};
	struct al_seckey *sec = NULL;
	json_t *results = NULL;
	char keyid[AL_KEYID_HEX];
	int c, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "s:t:x:h", longopts)) != -1) {
		switch (c) {
		case 's': sec_path = optarg; break;
		case 't': trusted = optarg; break;
		case 'x': sig_path = optarg; break;
		case 'P': passfile = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (sec_path == NULL)
		return al_cli_usage(cli, "-s SEC is needed");
	if (optind == argc)
		return al_cli_usage(cli, "no file to sign");
	if (sig_path != NULL && argc - optind > 1)
		return al_cli_usage(cli, "-x SIG takes a single file");
	if ((trusted != NULL && al_comment_check(trusted, 1, &err) < 0) || al_crypto_init(&err) < 0)
		return al_cli_error(cli, &err);
	passfile = al_cli_passfile(passfile);
	sec = al_seckey_load(sec_path, al_cli_pass, (void *)passfile, &err);
	if (sec == NULL)
		return al_cli_error(cli, &err);
	al_keyid_hex(sec->keyid, keyid);
	results = json_array();
	for (int i = optind; i < argc; i++) {
		char tc[AL_TRUSTED_COMMENT_MAX], out_path[4096], *text;
		const char *file = argv[i];

		if (sig_path != NULL)
			al_snprintf(out_path, sizeof out_path, "%s", sig_path);
		else if (al_snprintf(out_path, sizeof out_path, "%s.minisig", file) < 0) {
			al_err_set(&err, AL_EUSAGE, "%s: path too long", file);
			code = al_cli_error(cli, &err);
			continue;
		}
		if (trusted == NULL)
			default_trusted_comment(file, tc, sizeof tc);
		text = al_sign_file(sec, file, trusted != NULL ? trusted : tc,
		                    "signature from airlock secret key", &err);
		if (text == NULL ||
		    al_write_file_atomic(out_path, text, strlen(text), 0644, &err) < 0) {
			code = al_cli_error(cli, &err);
			free(text);
			continue;
		}
		free(text);
		json_array_append_new(results, json_pack("{s:s,s:s,s:s}", "file", file, "signature",
		                                         out_path, "keyid", keyid));
		if (cli->verbosity > 0)
			fprintf(stderr, "%s: signed by %s into %s\n", file, keyid, out_path);
	}
	if (cli->json)
		al_cli_print_json(results);
	else
		json_decref(results);
	al_seckey_free(sec);
	return code;
}
