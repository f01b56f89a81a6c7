/* cmd_verify_audit.c - `airlock audit verify` and `airlock-verify audit`,
 * `airlock-verify checkpoint`: the verifier's command side, linked into
 * both binaries (and nothing that writes a log). */
#include "cli/cli.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	else if (f->segment != NULL && f->segment[0] != '\0' && f->segment_line)
		snprintf(where, sizeof where, "%s:%llu: ", f->segment, (unsigned long long)f->segment_line);
	printf("%s: %s%s\n", levels[f->level], where, f->msg);
}

static int verify_one(struct al_cli *cli, const char *path, const struct al_verify_opts *opts)
{
	struct verify_out out = {cli, path};
	struct al_verify_opts o = *opts;
	struct al_verify_summary sum;
	struct al_err err = {0};
	int r;

	o.on_finding = verify_report;
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
		json_object_set_new(v, "format", json_integer(sum.format));
		json_object_set_new(v, "sealed_upto", json_integer((json_int_t)sum.sealed_upto));
		json_object_set_new(v, "anchored_upto", json_integer((json_int_t)sum.anchored_upto));
		json_object_set_new(v, "checkpoint_epoch_signed", json_boolean(sum.checkpoint_epoch_signed));
		al_cli_print_json(v);
	} else if (r == 0) {
		char seals[320], reach[200] = "";
		if (sum.seals > 0)
			snprintf(seals, sizeof seals, "%llu seals (epochs %lld to %lld%s)",
			         (unsigned long long)sum.seals, (long long)sum.first_epoch,
			         (long long)sum.last_epoch,
			         sum.seals_checked ? (sum.format == 2 ? ", signatures checked with the key given"
			                                              : ", macs checked")
			         : sum.format == 2 ? ", signatures not checked against a key: no --seal-pub"
			                           : ", macs not checked: no --seal-key");
		else
			snprintf(seals, sizeof seals, "no seals");
		if (sum.transition_seq > 0 && sum.v1_unchecked)
			snprintf(seals + strlen(seals), sizeof seals - strlen(seals),
			         "; the HMAC seals before #%llu not checked: no --seal-key",
			         (unsigned long long)sum.transition_seq);
		/* How far the evidence reaches, said the same way every time. */
		if (sum.seals > 0)
			snprintf(reach, sizeof reach, "; sealed up to #%llu (%s)",
			         (unsigned long long)sum.sealed_upto, sum.sealed_ts);
		if (sum.anchored_upto > 0)
			snprintf(reach + strlen(reach), sizeof reach - strlen(reach),
			         "; anchored off-host up to #%llu", (unsigned long long)sum.anchored_upto);
		printf("intact: %s: %llu entries (%llu to %llu) in %llu segment%s, %s%s%s%s%s\n", path,
		       (unsigned long long)sum.entries, (unsigned long long)sum.first_seq,
		       (unsigned long long)sum.last_seq, (unsigned long long)sum.segments,
		       sum.segments == 1 ? "" : "s", seals,
		       sum.anchor_checked ? ", anchor holds" : "",
		       sum.checkpoint_checked ? ", checkpoint signature valid" : "",
		       sum.warnings ? " (with warnings)" : "", reach);
	} else {
		printf("FAILED: %s: the first failure is reported above\n", path);
	}
	return r;
}

/* ---- several logs of a sharded run (audit/shards.c reads the summary) ---- */

struct shard {
	char log_id[AL_AUDIT_LOG_ID_HEX];
	char checkpoint[512]; /* the shard's final checkpoint, as checkpoint.txt */
	char keyid[40];
	const char *path;     /* the log given for it, or NULL */
	int result;           /* verify_one's */
	uint64_t size;        /* the checkpoint's last seq */
	/* the last sharded run in the log's checkpointed prefix */
	char run[48], pipeline[80], date[16], manifest[AL_SHA256_HEX];
	long index, of;
	int ended, found;
};

struct shards {
	char name[80];
	char dir[4096];       /* where shards.txt is: shard-I/ beside it */
	int n;
	struct shard *s;
};

/* Loads FILE, checks FILE.minisig with the coordinator's key, then
 * parses the signed bytes (audit/shards.c: strictly). */
static int shards_load(const char *file, const char *pub_path, struct shards *sh,
                       struct al_err *err)
{
	char sig_path[4200], *text = NULL;
	struct al_shards parsed;
	struct al_pubkey pub;
	struct al_sig sig;
	size_t len;
	int ret = -1;

	if (al_snprintf(sig_path, sizeof sig_path, "%s.minisig", file) < 0 ||
	    al_snprintf(sh->dir, sizeof sh->dir, "%s", file) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", file);
	if (strrchr(sh->dir, '/') != NULL)
		*strrchr(sh->dir, '/') = '\0';
	else
		snprintf(sh->dir, sizeof sh->dir, ".");
	if (al_pubkey_load(pub_path, &pub, err) < 0 ||
	    al_read_file(AT_FDCWD, file, 16u << 20, &text, &len, err) < 0 ||
	    al_sig_load(sig_path, &sig, err) < 0)
		goto out;
	if (al_sig_verify_buf(&pub, &sig, text, len, sig_path, err) < 0) {
		err->code = AL_EVERIFY;
		goto out;
	}
	if (al_shards_parse(text, len, file, &parsed, err) < 0)
		goto out;
	snprintf(sh->name, sizeof sh->name, "%s", parsed.name);
	sh->n = parsed.n;
	sh->s = calloc((size_t)parsed.n, sizeof *sh->s);
	if (sh->s == NULL) {
		al_err_sys(err, "cannot allocate memory");
		al_shards_free(&parsed);
		goto out;
	}
	for (int i = 0; i < parsed.n; i++) {
		struct shard *d = &sh->s[i];
		char *cp = al_checkpoint_format(&parsed.s[i].cp);
		if (cp == NULL || al_snprintf(d->checkpoint, sizeof d->checkpoint, "%s", cp) < 0) {
			free(cp);
			al_shards_free(&parsed);
			al_err_sys(err, "cannot allocate memory");
			goto out;
		}
		free(cp);
		snprintf(d->log_id, sizeof d->log_id, "%s", parsed.s[i].cp.log_id);
		snprintf(d->keyid, sizeof d->keyid, "%s", parsed.s[i].keyid);
		d->size = parsed.s[i].cp.size;
	}
	al_shards_free(&parsed);
	ret = 0;
out:
	free(text);
	return ret;
}

static void quiet_report(void *ctx, const struct al_finding *f)
{
	(void)ctx;
	(void)f;
}

/* The signed checkpoint of shard I (beside shards.txt) must be the one
 * the summary lists, by the host key it names: the summary's signature
 * then vouches for both. */
static int shard_files(const struct shards *sh, int i, char *anchor, char *pub_path, size_t n,
                       struct al_err *err)
{
	struct al_pubkey pub;
	char kid[AL_KEYID_HEX], *text = NULL;
	size_t len;
	int same;

	if (al_snprintf(anchor, n, "%s/shard-%d/checkpoint.txt", sh->dir, i) < 0 ||
	    al_snprintf(pub_path, n, "%s/shard-%d/host.pub", sh->dir, i) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", sh->dir);
	if (al_pubkey_load(pub_path, &pub, err) < 0 || al_read_file(AT_FDCWD, anchor, 4096, &text, &len, err) < 0)
		return -1;
	al_keyid_hex(pub.keyid, kid);
	/* The summary's line holds every field but line 1's format tag
	 * (airlock.audit/1 or /2, FORMAT.md §11): compared from the log id on. */
	{
		const char *a = memchr(text, ' ', len), *b = strchr(sh->s[i].checkpoint, ' ');
		size_t alen = a != NULL ? len - (size_t)(a - text) : 0;
		same = a != NULL && b != NULL && alen == strlen(b) && memcmp(a, b, alen) == 0 &&
		       (strncmp(text, AL_AUDIT_FORMAT " ", strlen(AL_AUDIT_FORMAT) + 1) == 0 ||
		        strncmp(text, AL_AUDIT_FORMAT_1 " ", strlen(AL_AUDIT_FORMAT_1) + 1) == 0);
	}
	free(text);
	if (strcmp(kid, sh->s[i].keyid) != 0)
		return al_err_set(err, AL_EVERIFY, "%s: key %s, but the summary names %s", pub_path, kid,
		                  sh->s[i].keyid);
	if (!same)
		return al_err_set(err, AL_EVERIFY, "%s: not the checkpoint the summary lists", anchor);
	return 0;
}

/* One line of a verified log: the sharded run.start and run.end entries
 * within the checkpoint's prefix. */
static int identity_line(void *ctx, const char *text, size_t len)
{
	struct shard *d = ctx;
	json_t *e, *sh;
	const char *ev;
	static const char needle[] = "\"event\":\"run.";

	if (memmem(text, len, needle, sizeof needle - 1) == NULL)
		return 0;
	e = json_loadb(text, len, 0, NULL);
	if (e == NULL)
		return 0;
	if ((uint64_t)json_integer_value(json_object_get(e, "seq")) > d->size) {
		json_decref(e);
		return 1; /* past the checkpoint: not vouched for */
	}
	ev = json_string_value(json_object_get(e, "event"));
	sh = json_object_get(e, "shard");
	if (ev != NULL && strcmp(ev, "run.start") == 0 && json_is_object(sh)) {
		d->found = 1;
		d->ended = 0;
		d->index = (long)json_integer_value(json_object_get(sh, "index"));
		d->of = (long)json_integer_value(json_object_get(sh, "of"));
		snprintf(d->run, sizeof d->run, "%s", json_string_value(json_object_get(e, "run")));
		snprintf(d->pipeline, sizeof d->pipeline, "%s",
		         json_string_value(json_object_get(e, "pipeline")));
		snprintf(d->date, sizeof d->date, "%s", json_string_value(json_object_get(e, "date")));
		snprintf(d->manifest, sizeof d->manifest, "%s",
		         json_string_value(json_object_get(e, "manifest_sha256")));
	} else if (ev != NULL && strcmp(ev, "run.end") == 0 && d->found) {
		const char *run = json_string_value(json_object_get(e, "run"));
		if (run != NULL && strcmp(run, d->run) == 0)
			d->ended = 1;
	}
	json_decref(e);
	return 0;
}

/* That the log of shard I ran --shard I/N, to its end, within what its
 * checkpoint vouches for; 0, or 1 with why. */
static int shard_identity(const char *path, struct shard *d, int i, int n, char *why,
                          size_t wlen)
{
	struct al_err err = {0};
	size_t pl = strlen(path);

	if (pl > 8 && strcmp(path + pl - 8, ".tar.zst") == 0) {
		al_snprintf(why, wlen, "an export: which shard its run was is not read from it "
		                       "(give the log directory)");
		return 1;
	}
	if (al_audit_scan(path, 0, identity_line, d, &err) < 0) {
		al_snprintf(why, wlen, "%s", err.msg);
		return 1;
	}
	if (!d->found) {
		al_snprintf(why, wlen, "no run with --shard before its checkpoint");
		return 1;
	}
	if (d->index != i || d->of != n) {
		al_snprintf(why, wlen, "its run %s was shard %ld/%ld, not %d/%d", d->run, d->index, d->of,
		            i, n);
		return 1;
	}
	if (!d->ended) {
		al_snprintf(why, wlen, "its run %s had not ended at its checkpoint", d->run);
		return 1;
	}
	return 0;
}

/* Verifies one log of the set: first, quietly, to learn its log_id; then
 * again, reporting, with its shard's signed checkpoint as the anchor. */
static int verify_shard_log(struct al_cli *cli, const char *path, const struct al_verify_opts *opts,
                            struct shards *sh)
{
	struct al_verify_opts o = *opts;
	struct al_verify_summary sum = {0};
	struct al_err err = {0};
	char anchor[4200], pub[4200];
	int r, i, k = -1;

	o.on_finding = quiet_report;
	o.anchor = NULL;
	(void)al_audit_verify(path, &o, &sum, &err);
	for (i = 0; i < sh->n && sum.log_id[0] != '\0'; i++)
		if (strcmp(sh->s[i].log_id, sum.log_id) == 0)
			k = i;
	if (k < 0) {
		r = verify_one(cli, path, opts);
		if (!cli->json)
			printf("FAILED: %s: log %s is not a shard of %s\n", path,
			       sum.log_id[0] ? sum.log_id : "(unreadable)", sh->name);
		return r > 1 ? r : 1;
	}
	if (sh->s[k].path != NULL) {
		if (!cli->json)
			printf("FAILED: %s: log %s was given already (%s)\n", path, sh->s[k].log_id,
			       sh->s[k].path);
		return 1;
	}
	sh->s[k].path = path;
	memset(&err, 0, sizeof err);
	if (shard_files(sh, k, anchor, pub, sizeof anchor, &err) < 0) {
		al_cli_error(cli, &err);
		return sh->s[k].result = err.code == AL_EVERIFY ? 1 : 2;
	}
	o = *opts;
	o.anchor = anchor;
	o.host_pub = pub;
	r = verify_one(cli, path, &o);
	if (r == 0) {
		char why[600];
		if (shard_identity(path, &sh->s[k], k, sh->n, why, sizeof why) != 0) {
			if (!cli->json)
				printf("FAILED: %s: shard %d: %s\n", path, k, why);
			r = 1;
		}
	}
	return sh->s[k].result = r;
}

static int verify_shards(struct al_cli *cli, int argc, char **argv, const struct al_verify_opts *o,
                         const char *file, const char *pub)
{
	struct shards sh = {0};
	struct al_err err = {0};
	int worst = 0, good = 0;
	char bad[1024] = "";

	if (shards_load(file, pub, &sh, &err) < 0) {
		al_cli_error(cli, &err);
		free(sh.s);
		return err.code == AL_EVERIFY ? 1 : 2;
	}
	for (int i = optind; i < argc; i++) {
		int r = verify_shard_log(cli, argv[i], o, &sh);
		if (r > worst)
			worst = r;
	}
	/* one run split N ways: the same pipeline, manifest and date */
	for (int i = 0, first = -1; i < sh.n; i++) {
		struct shard *d = &sh.s[i];
		if (d->path == NULL || d->result != 0)
			continue;
		if (first < 0) {
			first = i;
			continue;
		}
		if (strcmp(d->pipeline, sh.s[first].pipeline) != 0 || strcmp(d->date, sh.s[first].date) != 0 ||
		    strcmp(d->manifest, sh.s[first].manifest) != 0) {
			if (!cli->json)
				printf("FAILED: %s: shard %d ran %s %s (manifest %.16s), shard %d %s %s (manifest %.16s)\n",
				       d->path, i, d->pipeline, d->date, d->manifest, first, sh.s[first].pipeline,
				       sh.s[first].date, sh.s[first].manifest);
			d->result = 1;
			worst = worst > 1 ? worst : 1;
		}
	}
	for (int i = 0; i < sh.n; i++) {
		struct shard *d = &sh.s[i];
		const char *what = d->path == NULL ? "no log given"
		                   : d->result == 0 ? "intact"
		                   : d->result == 1 ? "FAILED (tampered, or not the log it was)"
		                                    : "could not be verified";
		if (d->path != NULL && d->result == 0)
			good++;
		else
			snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "%s%d", bad[0] ? ", " : "", i);
		if (cli->json)
			al_cli_print_json(json_pack("{s:s,s:i,s:s,s:s,s:s?,s:s}", "shards", sh.name, "shard", i,
			                            "log_id", d->log_id, "host_key", d->keyid, "path", d->path,
			                            "result", d->path == NULL ? "missing"
			                                      : d->result == 0 ? "intact"
			                                      : d->result == 1 ? "tampered"
			                                                       : "error"));
		else
			printf("shard %d of %s (log %s, host key %s): %s%s%s\n", i, sh.name, d->log_id, d->keyid,
			       what, d->path ? ": " : "", d->path ? d->path : "");
		if (d->path == NULL && worst < 1)
			worst = 1;
	}
	if (!cli->json) {
		if (good == sh.n && worst == 0)
			printf("intact: all %d shards of %s, signed summary checked\n", sh.n, sh.name);
		else
			printf("FAILED: %d of %d shards of %s intact; not intact: shard%s %s\n", good, sh.n,
			       sh.name, strchr(bad, ',') ? "s" : "", bad);
	}
	free(sh.s);
	return worst;
}

int al_cmd_verify_audit(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"seal-pub", required_argument, NULL, 'P'},
		{"seal-key", required_argument, NULL, 'k'},
		{"anchor", required_argument, NULL, 'a'},
		{"strict", no_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"shards", required_argument, NULL, 'S'},
		{"shards-key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_verify_opts o = {0};
	const char *shards = NULL, *shards_key = NULL;
	unsigned char key[AL_SHA256_LEN], seal_pub[SEAL_PUB_LEN];
	struct al_err err = {0};
	const char *key_path = NULL, *pub_path = NULL, *home;
	char dir[4200];
	int c, worst = 0;

	while ((c = al_cli_getopt(cli, argc, argv, "p:h", longopts)) != -1) {
		switch (c) {
		case 'k': key_path = optarg; break;
		case 'P': pub_path = optarg; break;
		case 'a': o.anchor = optarg; break;
		case 's': o.strict = 1; break;
		case 'j': cli->json = 1; break;
		case 'p': o.host_pub = optarg; break;
		case 'S': shards = optarg; break;
		case 'K': shards_key = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if ((shards == NULL) != (shards_key == NULL))
		return al_cli_usage(cli, "--shards FILE and --shards-key PUB go together");
	if (shards != NULL && (optind == argc || o.anchor != NULL || key_path != NULL || pub_path != NULL))
		return al_cli_usage(cli, "with --shards: one log per shard, and neither --anchor nor "
		                         "--seal-pub nor --seal-key (each shard has its own)");
	if (al_crypto_init(&err) < 0)
		return al_cli_error(cli, &err);
	if (shards != NULL)
		return verify_shards(cli, argc, argv, &o, shards, shards_key);
	if (key_path != NULL) {
		if (al_seal_key_load(key_path, key, &err) < 0)
			return al_cli_error(cli, &err), AL_EUSAGE;
		o.seal_key = key;
	}
	if (pub_path != NULL) {
		if (al_seal_pub_load(pub_path, seal_pub, &err) < 0)
			return al_cli_error(cli, &err), AL_EUSAGE;
		o.seal_pub = seal_pub;
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

