/* cmd_verify_bundle.c - verifying a bundle on the command line, shared by
 * `airlock verify` (which audits the outcome) and `airlock-verify bundle`
 * (which writes nothing). */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "manifests/manifests.h"

/* The keyring: --keys DIR, else HOME/keys. */
const char *al_cli_keys_dir(const struct al_cli *cli, const char *opt, char *buf, size_t n,
                            struct al_err *err)
{
	const char *home;

	if (opt != NULL)
		return opt;
	home = al_cli_home(cli, err);
	if (home == NULL)
		return NULL;
	if (al_snprintf(buf, n, "%s/keys", home) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", home);
		return NULL;
	}
	return buf;
}

static void print_result(const struct al_cli *cli, const char *bundle,
                         const struct al_bundle_result *res, int threshold)
{
	char mhex[AL_SHA256_HEX], bhex[AL_SHA256_HEX], exp[AL_TS_LEN];

	al_hex(res->manifest_sha256, AL_SHA256_LEN, mhex);
	al_hex(res->bundle_sha256, AL_SHA256_LEN, bhex);
	al_ts_format(res->expires_us, exp);
	if (cli->json) {
		al_cli_print_json(json_pack("{s:b,s:s,s:s,s:I,s:s,s:s,s:o,s:I,s:s,s:b}", "verified", 1,
		                            "bundle", bundle, "pipeline", res->pipeline, "version",
		                            (json_int_t)res->version, "manifest_sha256", mhex,
		                            "bundle_sha256", bhex, "signers", al_bundle_signers_json(res), "files",
		                            (json_int_t)res->files, "expires", exp, "expired",
		                            res->expires_us < al_now_us()));
		return;
	}
	if (cli->verbosity < 0)
		return;
	printf("verified: %s: pipeline %s version %lld, %zu files, manifest %s\n", bundle,
	       res->pipeline, (long long)res->version, res->files, mhex);
	printf("signed by:");
	for (size_t i = 0; i < res->signers_n; i++)
		printf(" %s", res->signers[i]);
	printf(" (%zu of %d required)\n", res->signers_n, threshold);
	if (res->ignored[0] != '\0')
		printf("not counted: %s\n", res->ignored);
	if (res->expires_us < al_now_us())
		printf("warning: expired on %s: install and run refuse it\n", exp);
}

int al_verify_opts(struct al_cli *cli, int argc, char **argv, const char **keys,
                       uint64_t *max_size, int *allow_downgrade)
{
	static const struct option longopts[] = {
		{"keys", required_argument, NULL, 'k'},
		{"max-size", required_argument, NULL, 'm'},
		{"allow-downgrade", no_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'k': *keys = optarg; break;
		case 'm':
			if (al_size_parse(optarg, max_size) < 0 || *max_size == 0)
				return al_cli_usage(cli, "--max-size %s: a size (4G, 512M)", optarg);
			break;
		case 'd':
			if (allow_downgrade == NULL)
				return al_cli_usage(cli, "unknown option --allow-downgrade");
			*allow_downgrade = 1;
			break;
		case 'h': return -1;
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 1)
		return al_cli_usage(cli, "one BUNDLE");
	return 0;
}

int al_verify_bundle_run(struct al_cli *cli, int argc, char **argv,
                         int (*audit)(void *ctx, const char *bundle, int ok,
                                      const struct al_bundle_result *res, struct al_err *err),
                         void *ctx)
{
	struct al_bundle_opts o = {.extract_dirfd = -1, .allow_expired = 1};
	struct al_bundle_result res;
	struct al_policy pol = {0};
	struct al_err err = {0}, aerr = {0};
	const char *keys = NULL, *dir, *bundle;
	char buf[4200];
	int code, r;

	r = al_verify_opts(cli, argc, argv, &keys, &o.max_size, NULL);
	if (r != 0)
		return r < 0 ? AL_OK : r;
	bundle = argv[optind];
	if (strcmp(cli->prog, "airlock-verify") == 0 && keys == NULL)
		return al_cli_usage(cli, "--keys DIR is needed: the release keys and policy.json");
	if (al_crypto_init(&err) < 0 ||
	    (dir = al_cli_keys_dir(cli, keys, buf, sizeof buf, &err)) == NULL ||
	    al_policy_load(dir, &pol, &err) < 0)
		return al_cli_error(cli, &err);
	o.policy = &pol;
	r = al_bundle_verify(bundle, &o, &res, &err);
	if (audit != NULL && (r == 0 || err.code == AL_EVERIFY) &&
	    audit(ctx, bundle, r == 0, &res, &aerr) < 0) {
		code = al_cli_error(cli, &aerr);
		goto out;
	}
	if (r < 0) {
		code = al_cli_error(cli, &err);
		if (res.ignored[0] != '\0' && strstr(err.msg, res.ignored) == NULL)
			fprintf(stderr, "%s: not counted: %s\n", cli->prog, res.ignored);
		goto out;
	}
	print_result(cli, bundle, &res, pol.threshold);
	code = AL_OK;
out:
	al_policy_free(&pol);
	return code;
}

int al_cmd_verify_bundle_only(struct al_cli *cli, int argc, char **argv)
{
	return al_verify_bundle_run(cli, argc, argv, NULL, NULL);
}
