/* cmd_bundle.c - bundles and the keyring on the command line: pack, sign,
 * manifest, verify, install, pipelines, keys; and airlock-verify bundle.
 * Every outcome of verify and install, and every keyring change, is an
 * audit entry. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "manifests/manifests.h"
#include "runner/runner.h"

static const struct option help_only[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The audit log of HOME when there is one (required: fail-closed), or
 * NULL with *absent set when there is none and it is not required. */
static struct al_audit *audit_for(const struct al_cli *cli, int required, int *absent,
                                  struct al_err *err)
{
	const char *home = al_cli_home(cli, err);
	char path[4200];

	*absent = 0;
	if (home == NULL)
		return NULL;
	snprintf(path, sizeof path, "%s/audit", home);
	if (!required && access(path, F_OK) != 0) {
		*absent = 1;
		return NULL;
	}
	return al_audit_open(home, err);
}

/* ---- pack, manifest, sign ---- */

int al_cmd_pack(struct al_cli *cli, int argc, char **argv)
{
	unsigned char sum[AL_SHA256_LEN];
	char hex[AL_SHA256_HEX];
	struct al_err err = {0};
	const char *out = NULL;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "o:h", help_only)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 1 || out == NULL)
		return al_cli_usage(cli, "DIR and -o BUNDLE are needed");
	if (al_bundle_pack(argv[optind], out, sum, &err) < 0)
		return al_cli_error(cli, &err);
	al_hex(sum, sizeof sum, hex);
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:s}", "bundle", out, "manifest_sha256", hex));
	else if (cli->verbosity >= 0)
		printf("%s: manifest %s (unsigned: sign it with airlock sign)\n", out, hex);
	return AL_OK;
}

int al_cmd_manifest(struct al_cli *cli, int argc, char **argv)
{
	struct al_err err = {0};
	char *bytes;
	size_t len;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1)
		return c == 'h' ? AL_OK : AL_EUSAGE;
	if (argc - optind != 1)
		return al_cli_usage(cli, "one BUNDLE");
	if (al_bundle_manifest(argv[optind], &bytes, &len, &err) < 0)
		return al_cli_error(cli, &err);
	/* The bytes exactly: what the officers sign. */
	fwrite(bytes, 1, len, stdout);
	free(bytes);
	return AL_OK;
}

int al_cmd_sign(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"passfile", required_argument, NULL, 'P'},
		{"add", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sec_path = NULL, *trusted = NULL, *passfile = NULL, *add = NULL, *bundle;
	struct al_err err = {0};
	struct al_seckey *sec = NULL;
	struct al_manifest *m = NULL;
	char *manifest = NULL, *sig = NULL, comment[256], hex[AL_SHA256_HEX], keyid[AL_KEYID_HEX];
	unsigned char sum[AL_SHA256_LEN];
	size_t mlen, slen;
	int c, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "s:t:h", longopts)) != -1) {
		switch (c) {
		case 's': sec_path = optarg; break;
		case 't': trusted = optarg; break;
		case 'P': passfile = optarg; break;
		case 'a': add = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 1 || (sec_path == NULL) == (add == NULL))
		return al_cli_usage(cli, "BUNDLE and one of -s SEC or --add SIGFILE are needed");
	bundle = argv[optind];
	if ((trusted != NULL && al_comment_check(trusted, 1, &err) < 0) || al_crypto_init(&err) < 0)
		return al_cli_error(cli, &err);
	if (add != NULL) {
		if (al_read_file(AT_FDCWD, add, 65536, &sig, &slen, &err) < 0 ||
		    al_bundle_add_signature(bundle, sig, slen, add, &err) < 0)
			code = al_cli_error(cli, &err);
		else if (cli->verbosity >= 0 && !cli->json)
			printf("%s: signature %s added\n", bundle, add);
		free(sig);
		return code;
	}
	if (al_bundle_manifest(bundle, &manifest, &mlen, &err) < 0 ||
	    (m = al_manifest_parse(manifest, mlen, "manifest.json", AL_MANIFEST_BUNDLE, &err)) == NULL)
		goto fail;
	sec = al_seckey_load(sec_path, al_cli_pass, (void *)al_cli_passfile(passfile), &err);
	if (sec == NULL)
		goto fail;
	al_sha256_buf(manifest, mlen, sum);
	al_hex(sum, sizeof sum, hex);
	/* What the officer approves, in words that the signature covers. */
	snprintf(comment, sizeof comment, "airlock bundle %s version %lld manifest %s", m->pipeline,
	         (long long)m->version, hex);
	sig = al_sign_buf(sec, manifest, mlen, trusted != NULL ? trusted : comment,
	                  "signature from airlock secret key", &err);
	if (sig == NULL || al_bundle_add_signature(bundle, sig, strlen(sig), "signature", &err) < 0)
		goto fail;
	al_keyid_hex(sec->keyid, keyid);
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:s,s:s}", "bundle", bundle, "keyid", keyid,
		                            "manifest_sha256", hex));
	else if (cli->verbosity >= 0)
		printf("%s: signed by %s (manifest %s)\n", bundle, keyid, hex);
	goto out;
fail:
	code = al_cli_error(cli, &err);
out:
	al_seckey_free(sec);
	al_manifest_free(m);
	free(manifest);
	free(sig);
	return code;
}

/* ---- verify and install ---- */

/* `airlock verify`: the shared pass, audited when HOME has a log. */
static int audit_hook(void *ctx, const char *bundle, int ok, const struct al_bundle_result *res,
                      struct al_err *err)
{
	return al_audit_bundle(ctx, bundle, ok, res, err);
}

int al_cmd_verify_bundle(struct al_cli *cli, int argc, char **argv)
{
	struct al_audit *log;
	struct al_err err = {0};
	int absent, code;

	log = audit_for(cli, 0, &absent, &err);
	if (log == NULL && !absent)
		return al_cli_error(cli, &err);
	code = al_verify_bundle_run(cli, argc, argv, log != NULL ? audit_hook : NULL, log);
	if (al_audit_close(log, &err) < 0 && code == AL_OK)
		code = al_cli_error(cli, &err);
	return code;
}

int al_cmd_install(struct al_cli *cli, int argc, char **argv)
{
	struct al_bundle_install q = {0};
	struct al_bundle_installed *out = malloc(sizeof *out);
	struct al_install_opts io = {0};
	struct al_progress pr;
	struct al_err err = {0};
	char buf[4200];
	int code = AL_OK, r;

	if (out == NULL) {
		al_err_sys(&err, "cannot allocate memory");
		return al_cli_error(cli, &err);
	}
	r = al_verify_opts(cli, argc, argv, &q.keys_dir, &io.max_size, &io.allow_downgrade);
	if (r != 0) {
		free(out);
		return r < 0 ? AL_OK : r;
	}
	q.bundle = argv[optind];
	q.max_size = io.max_size;
	q.allow_downgrade = io.allow_downgrade;
	q.link = 1;
	al_cli_progress(cli, &pr);
	q.progress = &pr;
	if ((q.home = al_cli_home(cli, &err)) == NULL ||
	    (q.keys_dir = al_cli_keys_dir(cli, q.keys_dir, buf, sizeof buf, &err)) == NULL ||
	    al_install_bundle(&q, out, &err) < 0) {
		code = al_cli_error(cli, &err);
		goto out;
	}
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:I,s:s,s:b,s:I}", "pipeline", out->res.pipeline,
		                            "version", (json_int_t)out->res.version, "manifest_sha256",
		                            out->manifest_sha256, "already", out->inst.already,
		                            "previous_version", (json_int_t)out->inst.previous_version));
	else if (cli->verbosity >= 0 && out->inst.already)
		printf("%s version %lld is installed already (manifest %s)\n", out->res.pipeline,
		       (long long)out->res.version, out->manifest_sha256);
	else if (cli->verbosity >= 0)
		printf("installed %s version %lld (manifest %s)%s\n", out->res.pipeline,
		       (long long)out->res.version, out->manifest_sha256,
		       out->inst.previous_version ? ", replacing an earlier version" : "");
out:
	free(out);
	return code;
}

/* ---- pipelines ---- */

struct list_ctx {
	const struct al_cli *cli;
	json_t *all;
};

static int list_one(void *ctx, const char *name, const struct al_manifest *m, const char *sha,
                    json_t *install)
{
	struct list_ctx *l = ctx;
	json_t *signers = json_object_get(install, "signers");
	char exp[AL_TS_LEN];
	int expired = m->expires_us < al_now_us();

	al_ts_format(m->expires_us, exp);
	if (l->cli->json) {
		json_array_append_new(l->all, json_pack("{s:s,s:I,s:s,s:O,s:s,s:b}", "pipeline", name,
		                                        "version", (json_int_t)m->version,
		                                        "manifest_sha256", sha, "signers",
		                                        signers != NULL ? signers : json_array(),
		                                        "expires", exp, "expired", expired));
		return 0;
	}
	printf("%-24s version %-6lld manifest %.16s  expires %.10s%s  signed by", name,
	       (long long)m->version, sha, exp, expired ? " (EXPIRED)" : "");
	for (size_t i = 0; i < json_array_size(signers); i++)
		printf(" %s", json_string_value(json_array_get(signers, i)));
	putchar('\n');
	return 0;
}

int al_cmd_pipelines(struct al_cli *cli, int argc, char **argv)
{
	struct list_ctx l = {cli, json_array()};
	struct al_err err = {0};
	const char *home;
	int c, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1) {
		json_decref(l.all);
		return c == 'h' ? AL_OK : AL_EUSAGE;
	}
	if ((home = al_cli_home(cli, &err)) == NULL || al_pipelines_list(home, list_one, &l, &err) < 0)
		code = al_cli_error(cli, &err);
	else if (cli->json)
		al_cli_print_json(json_incref(l.all));
	json_decref(l.all);
	return code;
}

