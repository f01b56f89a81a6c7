/* cmd_verify_audit.c - `airlock audit verify` and `airlock-verify audit`,
 * `airlock-verify checkpoint`: the verifier's command side, linked into
 * both binaries (and nothing that writes a log). */
#include "cli.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

static const struct option help_only[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct verify_out {
	const struct al_cli *cli;
	const char *path;
};

static void verify_report(void *ctx, const struct al_finding *f)
{
	struct verify_out *o = ctx;
	static const char *const levels[] = {"info", "warning", "error"};
	char where[512] = "";

	if (o->cli->json) {
		json_t *v = json_pack("{s:s,s:s}", "path", o->path, "level", levels[f->level]);
		if (f->line)
			json_object_set_new(v, "line", json_integer((json_int_t)f->line));
		if (f->segment != NULL) {
			json_object_set_new(v, "segment", json_string(f->segment));
			json_object_set_new(v, "segment_line", json_integer((json_int_t)f->segment_line));
		}
		if (f->seq)
			json_object_set_new(v, "seq", json_integer((json_int_t)f->seq));
		json_object_set_new(v, "message", json_string(f->msg));
		al_cli_print_json(v);
		return;
	}
	if (f->level == AL_FINDING_INFO && o->cli->verbosity < 0)
		return;
	if (f->line && f->segment != NULL && f->seq)
		snprintf(where, sizeof where, "line %llu (%s:%llu, seq %llu): ",
		         (unsigned long long)f->line, f->segment, (unsigned long long)f->segment_line,
		         (unsigned long long)f->seq);
	else if (f->line && f->segment != NULL)
		snprintf(where, sizeof where, "line %llu (%s:%llu): ", (unsigned long long)f->line,
		         f->segment, (unsigned long long)f->segment_line);
	else if (f->line)
		snprintf(where, sizeof where, "line %llu: ", (unsigned long long)f->line);
	printf("%s: %s%s\n", levels[f->level], where, f->msg);
}

static int verify_one(struct al_cli *cli, const char *path, const struct al_verify_opts *opts)
{
	struct verify_out out = {cli, path};
	struct al_verify_opts o = *opts;
	struct al_verify_summary sum;
	struct al_err err = {0};
	int r;

	o.report = verify_report;
	o.ctx = &out;
	r = al_audit_verify(path, &o, &sum, &err);
	if (r < 0) {
		al_cli_error(cli, &err);
		/* Bytes that cannot be read as a log (a corrupt compressed stream
		 * or archive) are a failed verification; a missing file or an I/O
		 * error is "could not verify" (DESIGN.md §7). */
		if (err.code == AL_EVERIFY) {
			if (!cli->json)
				printf("FAILED: %s: %s\n", path, err.msg);
			return 1;
		}
		return 2;
	}
	if (cli->json) {
		json_t *v = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:b}", "path", path,
		                      "result", r == 0 ? "intact" : "tampered", "log_id", sum.log_id,
		                      "entries", (json_int_t)sum.entries, "segments",
		                      (json_int_t)sum.segments, "seals", (json_int_t)sum.seals,
		                      "unsealed", (json_int_t)sum.unsealed, "warnings",
		                      (json_int_t)sum.warnings, "seals_checked", sum.seals_checked,
		                      "anchor_checked", sum.anchor_checked, "checkpoint_checked",
		                      sum.checkpoint_checked);
		al_cli_print_json(v);
	} else if (r == 0) {
		char seals[160];
		if (sum.seals > 0)
			snprintf(seals, sizeof seals, "%llu seals (epochs %lld to %lld%s)",
			         (unsigned long long)sum.seals, (long long)sum.first_epoch,
			         (long long)sum.last_epoch, sum.seals_checked ? ", macs checked" : ", macs not checked: no --seal-key");
		else
			snprintf(seals, sizeof seals, "no seals");
		printf("intact: %s: %llu entries (%llu to %llu) in %llu segment%s, %s%s%s%s\n", path,
		       (unsigned long long)sum.entries, (unsigned long long)sum.first_seq,
		       (unsigned long long)sum.last_seq, (unsigned long long)sum.segments,
		       sum.segments == 1 ? "" : "s", seals,
		       sum.anchor_checked ? ", anchor holds" : "",
		       sum.checkpoint_checked ? ", checkpoint signature valid" : "",
		       sum.warnings ? " (with warnings)" : "");
	} else {
		printf("FAILED: %s: the first failure is reported above\n", path);
	}
	return r;
}

int al_cmd_verify_audit(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"seal-key", required_argument, NULL, 'k'},
		{"anchor", required_argument, NULL, 'a'},
		{"strict", no_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_verify_opts o = {0};
	unsigned char key[AL_SHA256_LEN];
	struct al_err err = {0};
	const char *key_path = NULL, *home;
	char dir[4200];
	int c, worst = 0;

	while ((c = al_cli_getopt(cli, argc, argv, "p:h", longopts)) != -1) {
		switch (c) {
		case 'k': key_path = optarg; break;
		case 'a': o.anchor = optarg; break;
		case 's': o.strict = 1; break;
		case 'j': cli->json = 1; break;
		case 'p': o.host_pub = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (al_crypto_init(&err) < 0)
		return al_cli_error(cli, &err);
	if (key_path != NULL) {
		if (al_seal_key_load(key_path, key, &err) < 0)
			return al_cli_error(cli, &err), AL_EUSAGE;
		o.seal_key = key;
	}
	if (optind == argc) {
		/* `airlock audit verify`: this host's log */
		if (strcmp(cli->prog, "airlock") != 0)
			return al_cli_usage(cli, "PATH is needed: a log directory or an export (.tar.zst)");
		if ((home = al_cli_home(cli, &err)) == NULL)
			return al_cli_error(cli, &err);
		snprintf(dir, sizeof dir, "%s/audit", home);
		worst = verify_one(cli, dir, &o);
	}
	for (int i = optind; i < argc; i++) {
		int r = verify_one(cli, argv[i], &o);
		if (r > worst)
			worst = r;
	}
	memset(key, 0, sizeof key);
	return worst;
}

int al_cmd_verify_checkpoint(struct al_cli *cli, int argc, char **argv)
{
	struct al_checkpoint cp;
	struct al_pubkey pub;
	struct al_sig sig;
	struct al_err err = {0};
	const char *pub_path = NULL;
	char sig_path[4200], *text;
	size_t len;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "p:h", help_only)) != -1) {
		switch (c) {
		case 'p': pub_path = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 1 || pub_path == NULL)
		return al_cli_usage(cli, "CHECKPOINT and -p HOST_PUB are needed");
	snprintf(sig_path, sizeof sig_path, "%s.minisig", argv[optind]);
	if (al_crypto_init(&err) < 0 || al_pubkey_load(pub_path, &pub, &err) < 0 ||
	    al_read_file(AT_FDCWD, argv[optind], 4096, &text, &len, &err) < 0)
		return al_cli_error(cli, &err);
	if (al_checkpoint_parse(text, len, argv[optind], &cp, &err) < 0 ||
	    al_sig_load(sig_path, &sig, &err) < 0 ||
	    al_sig_verify_buf(&pub, &sig, text, len, sig_path, &err) < 0) {
		free(text);
		return al_cli_error(cli, &err);
	}
	free(text);
	if (cli->json)
		al_cli_print_json(json_pack("{s:b,s:s,s:I,s:s}", "verified", 1, "log_id", cp.log_id,
		                            "size", (json_int_t)cp.size, "ts", cp.ts));
	else if (cli->verbosity >= 0)
		printf("checkpoint verified: log %s, %llu entries, made %s\n", cp.log_id,
		       (unsigned long long)cp.size, cp.ts);
	return AL_OK;
}

