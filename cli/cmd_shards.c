/* cmd_shards.c - `airlock audit shards`: the signed cross-shard summary
 * (DESIGN.md §11, packaging/SHARDING.md). A run split with --shard I/N
 * leaves N audit logs, one per shard's home, each with its own log_id and
 * host key. Each shard ends with `airlock audit checkpoint -o DIR`; the
 * coordinator gathers those directories and signs one file that binds
 * them together, airlock.shards/1 (audit/shards.c writes it; FORMAT.md
 * §11), and beside it, for each shard, shard-I/ with the shard's checkpoint.txt,
 * its signature and host.pub. `airlock-verify audit --shards shards.txt
 * --shards-key PUB LOG...` then checks every log, that each holds its
 * shard's signed checkpoint, that the host key is the one the summary
 * names, and that no shard is missing (cmd_verify_audit.c). */
#include "cli/cli.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/* Copies DIR/NAME to OUT/shard-I/NAME. */
static int copy_in(const char *dir, const char *name, const char *outdir, int i, struct al_err *err)
{
	char from[4200], to[4200], *text = NULL;
	size_t len;
	int ret;

	if (al_snprintf(from, sizeof from, "%s/%s", dir, name) < 0 ||
	    al_snprintf(to, sizeof to, "%s/shard-%d", outdir, i) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", dir);
	if (al_mkdirs(to, 0755, err) < 0 || al_read_file(AT_FDCWD, from, 65536, &text, &len, err) < 0)
		return -1;
	al_snprintf(to, sizeof to, "%s/shard-%d/%s", outdir, i, name);
	ret = al_write_file_atomic(to, text, len, 0644, err);
	free(text);
	return ret;
}

/* One shard, from DIR/checkpoint.txt, checked against its signature by
 * DIR/host.pub. */
static int shard_load(const char *dir, struct al_shard *d, struct al_err *err)
{
	char path[4200], sig_path[4300], pub_path[4200];
	struct al_pubkey pub;
	struct al_sig sig;
	char *text = NULL;
	size_t len;
	int ret = -1;

	if (al_snprintf(path, sizeof path, "%s/checkpoint.txt", dir) < 0 ||
	    al_snprintf(pub_path, sizeof pub_path, "%s/host.pub", dir) < 0 ||
	    al_snprintf(sig_path, sizeof sig_path, "%s.minisig", path) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", dir);
	if (al_read_file(AT_FDCWD, path, 4096, &text, &len, err) < 0 ||
	    al_checkpoint_parse(text, len, path, &d->cp, err) < 0 || al_pubkey_load(pub_path, &pub, err) < 0 ||
	    al_sig_load(sig_path, &sig, err) < 0 || al_sig_verify_buf(&pub, &sig, text, len, sig_path, err) < 0)
		goto out;
	al_keyid_hex(pub.keyid, d->keyid);
	ret = 0;
out:
	free(text);
	return ret;
}

int al_cmd_audit_shards(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"passfile", required_argument, NULL, 'P'},
		{"name", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *outdir = NULL, *sec_path = NULL, *passfile = NULL, *name = "shards";
	char path[4200], tc[AL_TRUSTED_COMMENT_MAX], *body = NULL, *sig = NULL;
	struct al_shards sh = {0};
	struct al_seckey *sec = NULL;
	struct al_err err = {0};
	size_t blen = 0;
	int c, n, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "o:s:h", longopts)) != -1) {
		switch (c) {
		case 'o': outdir = optarg; break;
		case 's': sec_path = optarg; break;
		case 'P': passfile = optarg; break;
		case 'n': name = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	n = argc - optind;
	if (outdir == NULL || sec_path == NULL || n < 1)
		return al_cli_usage(cli, "-o DIR, -s KEY and one checkpoint directory per shard are needed");
	if (!al_shards_name_ok(name))
		return al_cli_usage(cli, "--name %s: letters, digits, '.', '_' and '-', 64 at most", name);
	if (al_crypto_init(&err) < 0)
		return al_cli_error(cli, &err);
	al_snprintf(sh.name, sizeof sh.name, "%s", name);
	sh.n = n;
	sh.s = calloc((size_t)n, sizeof *sh.s);
	if (sh.s == NULL) {
		al_err_sys(&err, "cannot allocate memory");
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		const char *dir = argv[optind + i];
		if (shard_load(dir, &sh.s[i], &err) < 0) {
			al_err_prefix(&err, "shard %d", i);
			goto fail;
		}
		for (int k = 0; k < i; k++)
			if (strcmp(sh.s[k].cp.log_id, sh.s[i].cp.log_id) == 0) {
				al_err_set(&err, AL_EUSAGE, "shard %d: %s: log %s is shard %d already", i, dir,
				           sh.s[i].cp.log_id, k);
				goto fail;
			}
		if (copy_in(dir, "checkpoint.txt", outdir, i, &err) < 0 ||
		    copy_in(dir, "checkpoint.txt.minisig", outdir, i, &err) < 0 ||
		    copy_in(dir, "host.pub", outdir, i, &err) < 0) {
			al_err_prefix(&err, "shard %d", i);
			goto fail;
		}
	}
	if ((body = al_shards_format(&sh, &blen)) == NULL) {
		al_err_sys(&err, "cannot allocate memory");
		goto fail;
	}
	sec = al_seckey_load(sec_path, al_cli_pass, (void *)al_cli_passfile(passfile), &err);
	snprintf(tc, sizeof tc, AL_SHARDS_FORMAT " %s: %d shards", name, n);
	if (sec == NULL ||
	    (sig = al_sign_buf(sec, body, blen, tc, "airlock audit shards", &err)) == NULL ||
	    al_mkdirs(outdir, 0755, &err) < 0 ||
	    al_snprintf(path, sizeof path, "%s/shards.txt.minisig", outdir) < 0 ||
	    al_write_file_atomic(path, sig, strlen(sig), 0644, &err) < 0 ||
	    al_snprintf(path, sizeof path, "%s/shards.txt", outdir) < 0 ||
	    al_write_file_atomic(path, body, blen, 0644, &err) < 0)
		goto fail;
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:s,s:i}", "shards", path, "name", name, "count", n));
	else
		al_cli_info(cli, "%s: %d shard%s of %s, signed (and %s.minisig)", path, n,
		            n == 1 ? "" : "s", name, path);
	goto out;
fail:
	code = al_cli_error(cli, &err);
out:
	al_shards_free(&sh);
	al_seckey_free(sec);
	free(body);
	free(sig);
	return code;
}
