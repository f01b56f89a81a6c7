/* cmd_audit.c - `airlock audit …` and `airlock-verify audit|checkpoint`:
 * the command side of the audit log (DESIGN.md §7, audit/FORMAT.md). */
#include "cli/cli.h"
#include "report/report.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"

static const struct option help_only[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* ---- audit init, audit upgrade ---- */

/* What init and upgrade say of the public key written to pub_out: with
 * its id for the officer's paper, and advice (a format with one %s, the
 * file) on stderr. */
static int seal_pub_said(struct al_cli *cli, const char *home, const char *pub_out,
                         const char *headline, const char *advice)
{
	unsigned char pk[SEAL_PUB_LEN];
	char hex[65], id[17];
	struct al_err err = {0};

	if (al_seal_pub_load(pub_out, pk, &err) < 0)
		return al_cli_error(cli, &err);
	al_hex(pk, SEAL_PUB_LEN, hex);
	al_seal_pub_id(pk, id);
	if (cli->json) {
		al_cli_print_json(json_pack("{s:s,s:s,s:s,s:s}", "home", home, "seal_pub_file", pub_out,
		                            "seal_pub", hex, "seal_pub_id", id));
	} else if (cli->verbosity >= 0) {
		printf("%s\nseal public key: %s (id %s)\n", headline, hex, id);
		fprintf(stderr, advice, pub_out);
	}
	return AL_OK;
}

static int cmd_init(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"seal-pub-out", required_argument, NULL, 'p'},
		{"seal-key-out", required_argument, NULL, 'k'},
		{"segment-size", required_argument, NULL, 's'},
		{"seal-every", required_argument, NULL, 'e'},
		{"compress", no_argument, NULL, 'c'},
		{"audit-min-free", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_audit_config cfg = {AL_AUDIT_SEGMENT_SIZE, AL_AUDIT_SEAL_EVERY, 0, AL_AUDIT_MIN_FREE,
	                              AL_AUDIT_MIN_FREE_PCT};
	const char *pub_out = NULL, *home;
	char headline[4200];
	struct al_err err = {0};
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'p': pub_out = optarg; break;
		case 'k':
			return al_cli_usage(cli, "--seal-key-out: logs are no longer sealed with a secret k0 "
			                         "(airlock.audit/1); use --seal-pub-out FILE, which receives the "
			                         "public key that checks the seals");
		case 's':
			if (al_size_parse(optarg, &cfg.segment_size) < 0 || cfg.segment_size < 4096)
				return al_cli_usage(cli, "--segment-size %s: a size of at least 4096 (64M, 1G)", optarg);
			break;
		case 'e':
			if (al_size_parse(optarg, &cfg.seal_every) < 0 || cfg.seal_every == 0)
				return al_cli_usage(cli, "--seal-every %s: a positive number of entries", optarg);
			break;
		case 'c': cfg.compress = 1; break;
		case 'm': {
			size_t n = strlen(optarg);
			uint64_t v;
			if (n > 1 && optarg[n - 1] == '%') {
				char *end;
				long pct = strtol(optarg, &end, 10);
				if (end != optarg + n - 1 || pct < 0 || pct > 100)
					return al_cli_usage(cli, "--audit-min-free %s: a size or a percentage", optarg);
				cfg.min_free_pct = (int)pct;
				cfg.min_free = UINT64_MAX >> 1;
			} else if (al_size_parse(optarg, &v) == 0 && v > 0) {
				cfg.min_free = v;
				cfg.min_free_pct = 0;
			} else {
				return al_cli_usage(cli, "--audit-min-free %s: a size (1G) or a percentage (5%%)", optarg);
			}
			break;
		}
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (pub_out == NULL)
		return al_cli_usage(cli, "--seal-pub-out FILE is needed: the seal public key is written there once");
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    al_audit_init(home, pub_out, &cfg, &err) < 0)
		return al_cli_error(cli, &err);
	al_snprintf(headline, sizeof headline, "audit log created in %s/audit", home);
	return seal_pub_said(cli, home, pub_out, headline,
	                     "\nThe seal public key is in %s. Give it to the compliance officer and have\n"
	                     "them write down its id. It is public: with it anyone can check every seal\n"
	                     "of this log (airlock-verify audit --seal-pub FILE), and nobody can make\n"
	                     "one. Nothing secret needs to leave this host: each seal's key is wiped once\n"
	                     "used, so whoever takes this host later cannot re-seal what is written.\n");
}

static int cmd_upgrade(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"seal-pub-out", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *pub_out = NULL, *home;
	char hex[65], headline[4200];
	struct al_err err = {0};
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'p': pub_out = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (pub_out == NULL)
		return al_cli_usage(cli, "--seal-pub-out FILE is needed: the seal public key is written there once");
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    al_audit_upgrade(home, pub_out, hex, &err) < 0)
		return al_cli_error(cli, &err);
	al_snprintf(headline, sizeof headline, "audit log of %s now sealed with public keys (%s)", home,
	            AL_AUDIT_FORMAT);
	return seal_pub_said(cli, home, pub_out, headline,
	                     "\nThe transition seal, the log's last HMAC seal, binds this key: give %s to the\n"
	                     "compliance officer, who writes down its id. Seals from now on are checked\n"
	                     "with it (airlock-verify audit --seal-pub); the seals before still need k0\n"
	                     "(--seal-key), which keeps its custody.\n");
}

/* ---- audit append ---- */

static int field_name_valid(const char *k, size_t n)
{
	if (n == 0 || n > 64 || !(k[0] >= 'a' && k[0] <= 'z'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	return 1;
}

static int cmd_append(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"event", required_argument, NULL, 'e'},
		{"field", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/* the writer's own members (seq ts prev event user uid host pid), and manual */
	static const char *const reserved[] = {"seq",  "ts",   "prev", "event", "manual",
	                                       "user", "uid",  "host", "pid",   NULL};
	const char *event = NULL, *home;
	struct al_err err = {0};
	struct al_audit *log = NULL;
	json_t *fields = json_object();
	int c, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		const char *eq;
		char key[65];
		json_t *val;
		switch (c) {
		case 'e': event = optarg; break;
		case 'f':
			eq = strchr(optarg, '=');
			if (eq == NULL || !field_name_valid(optarg, (size_t)(eq - optarg))) {
				json_decref(fields);
				return al_cli_usage(cli, "--field %s: expected KEY=VALUE, KEY in [a-z][a-z0-9_]*", optarg);
			}
			memcpy(key, optarg, (size_t)(eq - optarg));
			key[eq - optarg] = '\0';
			for (int i = 0; reserved[i] != NULL; i++)
				if (strcmp(key, reserved[i]) == 0) {
					json_decref(fields);
					return al_cli_usage(cli, "--field %s: '%s' is set by airlock", optarg, key);
				}
			if (json_object_get(fields, key) != NULL) {
				json_decref(fields);
				return al_cli_usage(cli, "--field %s given twice", key);
			}
			val = json_string(eq + 1);
			if (val == NULL) {
				json_decref(fields);
				return al_cli_usage(cli, "--field %s: the value is not valid UTF-8", key);
			}
			json_object_set_new(fields, key, val);
			break;
		case 'h': json_decref(fields); return AL_OK;
		default: json_decref(fields); return AL_EUSAGE;
		}
	}
	if (optind != argc || event == NULL) {
		json_decref(fields);
		return al_cli_usage(cli, optind != argc ? "unexpected argument" : "--event NAME is needed");
	}
	if (!al_audit_event_valid(event) || al_audit_event_reserved(event)) {
		json_decref(fields);
		return al_cli_usage(cli, "--event %s: %s", event,
		                    al_audit_event_valid(event) ? "only airlock itself writes this event"
		                                                : "not an event name ([a-z][a-z0-9_]*, dot-separated)");
	}
	/* a manual entry says so; who made it is stamped by the writer */
	json_object_set_new(fields, "manual", json_true());
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    (log = al_audit_open(home, &err)) == NULL ||
	    al_audit_append(log, event, fields, AL_AUDIT_SYNC, &err) < 0) {
		code = al_cli_error(cli, &err);
		al_audit_close(log, NULL);
		json_decref(fields);
		return code;
	}
	if (cli->json)
		al_cli_print_json(json_pack("{s:I}", "seq", (json_int_t)al_audit_last_seq(log)));
	else if (cli->verbosity > 0)
		fprintf(stderr, "appended %s as entry %llu\n", event,
		        (unsigned long long)al_audit_last_seq(log));
	if (al_audit_close(log, &err) < 0)
		code = al_cli_error(cli, &err);
	json_decref(fields);
	return code;
}

/* Reading the log is itself logged (PCI DSS 10.2.1.3): query, sql,
 * export, tail, verify, report, logs and recreate append audit.accessed
 * first, with the arguments they were given (each at most 4 KiB), and
 * refuse when they cannot. */
int al_cli_audit_accessed(const struct al_cli *cli, const char *home, const char *command,
                          struct al_err *err)
{
	struct al_audit *log = al_audit_open(home, err);
	json_t *f;
	int ret;

	if (log == NULL) {
		al_err_prefix(err, "reading the audit log is itself audited, and cannot be");
		return -1;
	}
	f = json_pack("{s:s,s:[]}", "command", command, "args"); /* user and uid are stamped */
	for (int i = 0; cli->argv != NULL && i < cli->argc; i++) {
		char arg[4096 + 8];
		al_snprintf(arg, sizeof arg, "%.4096s%s", cli->argv[i],
		            strlen(cli->argv[i]) > 4096 ? "…" : "");
		al_utf8_fix(arg);
		json_array_append_new(json_object_get(f, "args"), json_string(arg));
	}
	ret = al_audit_append(log, "audit.accessed", f, AL_AUDIT_SYNC, err);
	json_decref(f);
	if (al_audit_close(log, ret == 0 ? err : NULL) < 0)
		ret = -1;
	return ret;
}

/* `audit verify` is recorded after it checked, not before: appending
 * first could repair a torn tail, or chain onto a tampered line, before
 * the check saw them. A home without a log (verifying an export on
 * another machine) records nothing; a record that cannot be appended is
 * a warning, never a change of the verdict. */
static int cmd_verify(struct al_cli *cli, int argc, char **argv)
{
	int code = al_cmd_verify_audit(cli, argc, argv);
	struct al_err err = {0};
	const char *home = NULL;
	char dir[PATH_MAX];

	if (code == AL_EUSAGE || cli->argv == NULL)
		goto done;
	for (int i = 0; i < cli->argc; i++)
		if (strcmp(cli->argv[i], "--help") == 0 || strcmp(cli->argv[i], "-h") == 0)
			goto done;
	if ((home = al_cli_home(cli, &err)) == NULL)
		goto done;
	al_snprintf(dir, sizeof dir, "%s/audit", home);
	if (access(dir, F_OK) != 0)
		goto done;
	if (al_cli_audit_accessed(cli, home, "verify", &err) < 0)
		fprintf(stderr, "%s: warning: the verification is not recorded in the log: %s\n",
		        cli->prog, err.msg);
done:
	return code;
}

/* ---- audit seal, checkpoint, reindex ---- */

static int cmd_seal(struct al_cli *cli, int argc, char **argv)
{
	struct al_err err = {0};
	struct al_audit *log;
	const char *home;
	int c, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1)
		return c == 'h' ? AL_OK : AL_EUSAGE;
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    (log = al_audit_open(home, &err)) == NULL)
		return al_cli_error(cli, &err);
	if (al_audit_seal(log, &err) < 0)
		code = al_cli_error(cli, &err);
	else if (cli->json)
		al_cli_print_json(json_pack("{s:I}", "upto", (json_int_t)(al_audit_last_seq(log) - 1)));
	else if (cli->verbosity >= 0)
		printf("sealed entries up to %llu\n", (unsigned long long)(al_audit_last_seq(log) - 1));
	if (al_audit_close(log, &err) < 0 && code == AL_OK)
		code = al_cli_error(cli, &err);
	return code;
}

static int cmd_checkpoint(struct al_cli *cli, int argc, char **argv)
{
	struct al_checkpoint cp;
	struct al_err err = {0};
	const char *home, *out = NULL;
	char hex[AL_SHA256_HEX];
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "o:h", help_only)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc || out == NULL)
		return al_cli_usage(cli, "-o DIR is needed");
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    al_audit_checkpoint(home, out, &cp, &err) < 0)
		return al_cli_error(cli, &err);
	al_hex(cp.hash, AL_SHA256_LEN, hex);
	{
		/* The log says a checkpoint was taken, and of what. */
		char file[4200];
		struct al_audit *log = al_audit_open(home, &err);
		json_t *f;
		int r;
		snprintf(file, sizeof file, "%s/checkpoint.txt", out);
		f = json_pack("{s:I,s:s,s:s}", "size", (json_int_t)cp.size, "head", hex, "file", file);
		r = log == NULL ? -1 : al_audit_append(log, "checkpoint", f, AL_AUDIT_SYNC, &err);
		json_decref(f);
		if (al_audit_close(log, r == 0 ? &err : NULL) < 0 || r < 0)
			return al_cli_error(cli, &err);
	}
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:I,s:s,s:s}", "log_id", cp.log_id, "size",
		                            (json_int_t)cp.size, "sha256", hex, "ts", cp.ts));
	else if (cli->verbosity >= 0)
		printf("%s/checkpoint.txt: entry %llu of log %s (and checkpoint.txt.minisig)\n", out,
		       (unsigned long long)cp.size, cp.log_id);
	return AL_OK;
}

static int cmd_reindex(struct al_cli *cli, int argc, char **argv)
{
	struct al_err err = {0};
	const char *home;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1)
		return c == 'h' ? AL_OK : AL_EUSAGE;
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((home = al_cli_home(cli, &err)) == NULL || al_audit_index_update(home, 1, &err) < 0)
		return al_cli_error(cli, &err);
	al_cli_info(cli, "%s/audit/index.db rebuilt\n", home);
	return AL_OK;
}

/* ---- query and sql (cmd_query.c), the read recorded first ---- */

static int cmd_query(struct al_cli *cli, int argc, char **argv)
{
	return al_cli_query(cli, argc, argv, al_cli_audit_accessed);
}

static int cmd_sql(struct al_cli *cli, int argc, char **argv)
{
	return al_cli_sql(cli, argc, argv, al_cli_audit_accessed);
}

/* ---- audit tail ---- */

/* The newest segment's path. */
static int newest_segment(const char *home, char *out, size_t n, unsigned long *num)
{
	char dir[4096];
	DIR *d;
	struct dirent *e;
	unsigned long best = 0;

	snprintf(dir, sizeof dir, "%s/audit", home);
	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end;
		unsigned long v;
		if (strncmp(e->d_name, "audit-", 6) != 0)
			continue;
		v = strtoul(e->d_name + 6, &end, 10);
		if (strcmp(end, ".jsonl") == 0 && v > best)
			best = v;
	}
	closedir(d);
	if (best == 0)
		return -1;
	*num = best;
	snprintf(out, n, "%s/audit-%06lu.jsonl", dir, best);
	return 0;
}

static int cmd_tail(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"lines", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_err err = {0};
	const char *home;
	char path[4200], **ring = NULL, *line = NULL;
	size_t cap = 0;
	long want = 10, have = 0;
	unsigned long num;
	int c, follow = 0, code = AL_OK;
	FILE *f;

	while ((c = al_cli_getopt(cli, argc, argv, "fn:h", longopts)) != -1) {
		switch (c) {
		case 'f': follow = 1; break;
		case 'n':
			want = strtol(optarg, NULL, 10);
			if (want < 1 || want > 100000)
				return al_cli_usage(cli, "-n %s: a number of entries from 1 to 100000", optarg);
			break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((home = al_cli_home(cli, &err)) == NULL || al_cli_audit_accessed(cli, home, "tail", &err) < 0)
		return al_cli_error(cli, &err);
	if (newest_segment(home, path, sizeof path, &num) < 0) {
		al_err_set(&err, AL_EUSAGE, "%s/audit: no audit log here (run airlock audit init)", home);
		return al_cli_error(cli, &err);
	}
	f = fopen(path, "re");
	ring = calloc((size_t)want, sizeof *ring);
	if (f == NULL || ring == NULL) {
		al_err_sys(&err, "%s", path);
		free(ring);
		if (f != NULL)
			fclose(f);
		return al_cli_error(cli, &err);
	}
	/* The last N complete lines of the newest segment. */
	for (;;) {
		ssize_t n = getline(&line, &cap, f);
		if (n <= 0 || line[n - 1] != '\n')
			break;
		line[n - 1] = '\0';
		free(ring[have % want]);
		ring[have % want] = strdup(line);
		have++;
	}
	for (long i = have > want ? have - want : 0; i < have; i++)
		al_cli_print_entry(cli, ring[i % want]);
	fflush(stdout);
	while (follow) {
		/* Poll: new lines, or the next segment once this one is closed. */
		struct timespec pause = {0, 200000000};
		char next[4200];
		ssize_t n;
		clearerr(f);
		while ((n = getline(&line, &cap, f)) > 0) {
			if (line[n - 1] != '\n') {
				fseeko(f, -(off_t)n, SEEK_CUR); /* half a line: later */
				break;
			}
			line[n - 1] = '\0';
			al_cli_print_entry(cli, line);
		}
		if (fflush(stdout) != 0)
			break;
		snprintf(next, sizeof next, "%s/audit/audit-%06lu.jsonl", home, num + 1);
		if (access(next, F_OK) == 0) {
			FILE *nf = fopen(next, "re");
			if (nf != NULL) {
				/* drain what is left of the old one first */
				while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
					line[n - 1] = '\0';
					al_cli_print_entry(cli, line);
				}
				fclose(f);
				f = nf;
				num++;
				continue;
			}
		}
		nanosleep(&pause, NULL);
	}
	for (long i = 0; i < want; i++)
		free(ring[i]);
	free(ring);
	free(line);
	fclose(f);
	return code;
}

/* ---- audit export ---- */

static int cmd_export(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"since", required_argument, NULL, 'S'}, {"until", required_argument, NULL, 'U'},
		{"run", required_argument, NULL, 'r'},   {"format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct al_audit_range r = {0};
	struct al_err err = {0};
	const char *home, *out = NULL, *format = "tar";
	char part[PATH_MAX + 32], *html = NULL;
	size_t hlen = 0;
	int c, verdict = -1, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "o:h", longopts)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'F': format = optarg; break;
		case 'S': if (al_cli_ts_opt(cli, "--since", optarg, &r.since_us) != 0) return AL_EUSAGE; break;
		case 'U': if (al_cli_ts_opt(cli, "--until", optarg, &r.until_us) != 0) return AL_EUSAGE; break;
		case 'r': r.run = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (strcmp(format, "tar") != 0 && strcmp(format, "html") != 0)
		return al_cli_usage(cli, "--format %s: tar or html", format);
	if (optind != argc || out == NULL)
		return al_cli_usage(cli, "-o FILE.tar.zst (or FILE.html with --format html) is needed");
	if (strcmp(format, "tar") == 0 &&
	    (strlen(out) < 9 || strcmp(out + strlen(out) - 8, ".tar.zst") != 0))
		return al_cli_usage(cli, "-o %s: the export's name must end in .tar.zst", out);
	if (strcmp(format, "html") == 0 &&
	    (strlen(out) < 6 || strcmp(out + strlen(out) - 5, ".html") != 0))
		return al_cli_usage(cli, "-o %s: the page's name must end in .html", out);
	if (strlen(out) > PATH_MAX)
		return al_cli_usage(cli, "-o: path too long");
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    al_cli_audit_accessed(cli, home, "export", &err) < 0)
		return al_cli_error(cli, &err);
	{
		/* Seal first, so that the export ends sealed; an auditor's account
		 * that may read the log but not write it exports without. */
		struct al_err serr = {0};
		struct al_audit *log = al_audit_open(home, &serr);
		if (log == NULL || al_audit_seal(log, &serr) < 0)
			fprintf(stderr, "%s: warning: cannot seal before exporting: %s\n", cli->prog, serr.msg);
		if (al_audit_close(log, &serr) < 0)
			fprintf(stderr, "%s: warning: %s\n", cli->prog, serr.msg);
	}
	/* The export, then the page made from its own bytes (verified as a
	 * reader will), then the export again with the page inside, or the
	 * page alone. */
	al_snprintf(part, sizeof part, "%s.part-%ld.tar.zst", out, (long)getpid());
	if (al_audit_export(home, &r, part, &err) < 0)
		return al_cli_error(cli, &err);
	html = al_report_export_html(part, strcmp(format, "html") == 0 ? home : out, NULL, &hlen,
	                             &verdict, &err);
	if (html == NULL || (strcmp(format, "html") == 0
	                         ? al_write_file_atomic(out, html, hlen, 0644, &err)
	                         : al_audit_export_insert(home, part, out, "report.html", html, hlen,
	                                                    &err)) < 0)
		code = al_cli_error(cli, &err);
	(void)unlink(part);
	free(html);
	if (code != AL_OK)
		return code;
	if (verdict != 0)
		fprintf(stderr, "%s: warning: the exported log does not verify (the page says where): "
		                "airlock audit verify\n",
		        cli->prog);
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:s,s:b}", strcmp(format, "html") == 0 ? "page" : "export",
		                            out, "format", format, "intact", verdict == 0));
	else if (cli->verbosity >= 0 && strcmp(format, "html") == 0)
		printf("%s written: the export rendered for people (the evidence is the .tar.zst export)\n",
		       out);
	else if (cli->verbosity >= 0)
		printf("%s written (report.html inside, for people); verify it with: airlock-verify audit "
		       "%s\n",
		       out, out);
	return AL_OK;
}

/* ---- the group ---- */

static const struct al_command audit_commands[] = {
	{"init", cmd_init,
	 "audit init --seal-pub-out FILE [--segment-size SIZE] [--seal-every N] [--compress] [--audit-min-free SIZE|PCT]",
	 "create the audit log, the host key and the epoch-0 seal key pair",
	 "  --seal-pub-out FILE  where to write the seal public key, once (the file\n"
	 "                       must not exist); give it to the compliance officer\n"
	 "  --segment-size SIZE  close a segment at this size (default 64M)\n"
	 "  --seal-every N       seal after N entries without a seal (default 1000)\n"
	 "  --compress           compress closed segments (.jsonl.zst)\n"
	 "  --audit-min-free X   alert audit-space-low under X free (1G, or 5%;\n"
	 "                       default: 1G or 5%, whichever is smaller)\n"},
	{"upgrade", cmd_upgrade, "audit upgrade --seal-pub-out FILE",
	 "move an airlock.audit/1 log (HMAC seals, k0) to public-key seals",
	 "  --seal-pub-out FILE  where to write the seal public key, once (the file\n"
	 "                       must not exist); give it to the compliance officer\n"
	 "A transition seal, the last HMAC one, binds the key (audit/FORMAT.md §5).\n"},
	{"append", cmd_append, "audit append --event NAME [--field KEY=VALUE]...",
	 "record an operator's action (marked manual, with the user)", NULL},
	{"seal", cmd_seal, "audit seal", "seal the log now", NULL},
	{"checkpoint", cmd_checkpoint, "audit checkpoint -o DIR",
	 "write DIR/checkpoint.txt and its signatures (seal key, host key)",
	 "Copy the checkpoint off the host: it becomes an anchor for\n"
	 "`airlock-verify audit --anchor`. minisign -Vm checkpoint.txt -p host.pub checks\n"
	 "the host key's; checkpoint.txt.sig is the seal key's (audit/FORMAT.md §6).\n"},
	{"anchor", al_cmd_audit_anchor, "audit anchor",
	 "seal, and send a signed checkpoint to every sink",
	 "Each sink that does not get it is an anchor.failed entry, an alert and exit 4;\n"
	 "HOME/metrics/airlock-anchor.prom has each sink's last success. The timer\n"
	 "airlock-anchor.timer runs it (and airlock audit verify) every hour.\n"},
	{"sink", al_cmd_audit_sink, "audit sink add|list|remove ...",
	 "where anchors and entries are sent: directories and syslog collectors", NULL},
	{"ship", al_cmd_audit_ship, "audit ship [NAME] [--timeout DURATION] [--json]",
	 "send every sink the entries it does not have yet",
	 "Each sink has a cursor (HOME/audit/cursors/NAME): the last entry it has. A syslog\n"
	 "collector gets one RFC 5424 message an entry, its MSG the entry's line; a directory\n"
	 "the segments, copied append-only into DIR/<log id>/. A sink that is down keeps its\n"
	 "cursor: the entries wait in the log. A failure is a sink.failed entry and exit 4.\n"
	 "The timer airlock-anchor.timer runs it.\n"},
	{"restore", al_cmd_audit_restore, "audit restore --from PATH [--from PATH]... -o DIR [--json]",
	 "rebuild a log from a replica directory and a collector's files",
	 "PATH: a replica directory (a sink's DIR), a file of raw entries (a collector's\n"
	 "MSG, one a line) or a file of whole RFC 5424 lines, in any mix. One copy of each\n"
	 "entry is kept, split entries are joined, the chain is checked and every gap named.\n"
	 "Exit 0 whole, 1 written with problems. Then: airlock-verify audit DIR --seal-pub FILE.\n"},
	{"verify", cmd_verify,
	 "audit verify [PATH...] [--seal-pub FILE | --seal-key FILE] [--anchor CHECKPOINT] [-p HOST_PUB]\n"
	 "             [--strict] [--json]\n"
	 "             [--shards SHARDS.TXT --shards-key PUB]",
	 "verify the audit log's chain, seals and anchors",
	 "Without PATH, this host's log. With --shards, the logs of a sharded run together\n"
	 "(see airlock-verify audit --help). Exit status: 0 intact, 1 tampered, 2 could not verify.\n"},
	{"query", cmd_query,
	 "audit query [--run R] [--step S] [--event E] [--path P] [--sha256 H] [--since T] [--until T]",
	 "find entries (through audit/index.db)", NULL},
	{"sql", cmd_sql, "audit sql \"SELECT ...\"", "read-only SQL on audit/index.db",
	 "Tables: entries(seq, ts, event, run, step, attempt, exit, json), files(seq, path,\n"
	 "sha256, size), runs(run, pipeline, version, date, status, start_ts, end_ts).\n"
	 "Writes, ATTACH, pragmas that write and extensions are refused (exit 2).\n"},
	{"reindex", cmd_reindex, "audit reindex", "rebuild audit/index.db from the log", NULL},
	{"tail", cmd_tail, "audit tail [-n N] [-f]", "print the last entries (and follow)", NULL},
	{"export", cmd_export,
	 "audit export -o FILE.tar.zst [--since T] [--until T] [--run R] | -o FILE.html --format html",
	 "write an evidence export for a regulator (report.html inside), or its page alone",
	 "The export holds the segments the range touches to the log's end, a fresh signed\n"
	 "checkpoint, host.pub, FORMAT.md, VERIFY.txt and report.html: the export rendered\n"
	 "for people from its own bytes as the verifier reads them (the verdict, the runs,\n"
	 "the events, the anchors, the entries). --format html writes that page alone.\n"
	 "  --format F   tar (default) or html\n"},
	{"shards", al_cmd_audit_shards,
	 "audit shards -o DIR -s KEY [--passfile F] [--name NAME] CHECKPOINT_DIR...",
	 "sign the summary of a sharded run: each shard's final checkpoint",
	 "  -o DIR         where shards.txt and shards.txt.minisig are written\n"
	 "  -s KEY         the coordinator's secret key (minisign format)\n"
	 "  --name NAME    what the set of shards is (default: shards)\n"
	 "Each CHECKPOINT_DIR is a shard's `airlock audit checkpoint -o DIR`, in\n"
	 "shard order (0 first); its signature is checked with its host.pub.\n"
	 "airlock-verify audit --shards DIR/shards.txt --shards-key PUB LOG... checks\n"
	 "the logs together.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};

int al_cmd_audit(struct al_cli *cli, int argc, char **argv)
{
	return al_cli_group(cli, audit_commands, argc, argv);
}
