/* cmd_recreate.c - airlock recreate PATH: the exact bytes of one version
 * of a committed output, from HOME/records, proven against the log
 * (issue 20; SEC 17a-4(f): the original and every interim version of a
 * record can be re-created).
 *
 * The versions of PATH are what the log says of it: each output.committed
 * that put a file there (who, when, which run, its SHA-256), and each
 * output.phantom that found it changed from outside (when it was seen,
 * the file's owner and mtime, the bytes found). The log is verified
 * (its hash chain, and the seals with --seal-pub) before its word is
 * taken; the record is hashed again before a byte of it is written. */
#include "cli/cli.h"
#include "runner/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"

struct versions {
	const char *target; /* the visible path, absolute */
	const char *base;   /* its last name */
	json_t *list;       /* [{seq, ts, event, run, user, uid, sha256, size, ...}] */
};

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Each entry that names the target: a commit of it, or a change of it
 * seen from outside; called by the verifier with each line it accepted
 * (never from index.db, which no chain protects). */
static int version_row(void *ctx, const char *line, size_t len)
{
	struct versions *v = ctx;
	json_t *e, *files, *f;
	const char *event, *dest;
	size_t i;

	/* most lines name no file of that name: no parse for them */
	if (memmem(line, len, v->base, strlen(v->base)) == NULL)
		return 0;
	e = json_loadb(line, len, 0, NULL);
	event = jstr(e, "event");
	dest = jstr(e, "dest");
	files = json_object_get(e, "files");
	json_array_foreach(files, i, f) {
		const char *path = jstr(f, "path"), *sha = NULL;
		char full[PATH_MAX * 2];
		json_t *row;
		if (path == NULL || event == NULL)
			continue;
		if (strcmp(event, "output.committed") == 0 && dest != NULL) {
			al_snprintf(full, sizeof full, "%s/%s", dest, path);
			sha = jstr(f, "sha256");
		} else if (strcmp(event, "output.phantom") == 0) {
			al_snprintf(full, sizeof full, "%s", path);
			sha = jstr(f, "found"); /* null: deleted */
		} else {
			continue;
		}
		if (strcmp(full, v->target) != 0)
			continue;
		row = json_pack("{s:O,s:O,s:s,s:O,s:O,s:O}", "seq", json_object_get(e, "seq"), "ts",
		                json_object_get(e, "ts"), "event", event, "run", json_object_get(e, "run"),
		                "user", json_object_get(e, "user"), "uid", json_object_get(e, "uid"));
		json_object_set_new(row, "sha256", sha != NULL ? json_string(sha) : json_null());
		if (strcmp(event, "output.committed") == 0) {
			json_object_set(row, "size", json_object_get(f, "size"));
		} else {
			static const char *const seen[] = {"owner", "mtime", "size", "kept", "expected"};
			for (size_t k = 0; k < sizeof seen / sizeof *seen; k++)
				if (json_object_get(f, seen[k]) != NULL)
					json_object_set(row, seen[k], json_object_get(f, seen[k]));
			if (json_object_get(f, "uid") != NULL)
				json_object_set(row, "file_uid", json_object_get(f, "uid"));
		}
		json_array_append_new(v->list, row);
	}
	json_decref(e);
	return 0;
}

/* PATH made absolute as the log writes it: its nearest existing
 * directory resolved, the names below it (a step's or a date's directory
 * deleted with the output: the case recreate is for) kept as given, none
 * of them empty, "." or "..". */
static int target_path(const char *path, char *out, size_t n, struct al_err *err)
{
	char full[PATH_MAX * 2], head[PATH_MAX * 2], dir[PATH_MAX];
	const char *tail, *p;

	if (path[0] == '/') {
		al_snprintf(full, sizeof full, "%s", path);
	} else {
		if (getcwd(dir, sizeof dir) == NULL)
			return al_err_sys(err, "the current directory");
		al_snprintf(full, sizeof full, "%s/%s", dir, path);
	}
	memcpy(head, full, sizeof head);
	for (;;) {
		char *cut = strrchr(head, '/');
		if (cut == NULL)
			return al_err_set(err, AL_EUSAGE, "%s: not a file's path", path);
		*cut = '\0';
		if (realpath(head[0] != '\0' ? head : "/", dir) != NULL)
			break;
		if (errno != ENOENT && errno != ENOTDIR)
			return al_err_sys(err, "%s", head);
	}
	tail = full + strlen(head); /* "/name[/name...]" */
	for (p = tail; *p != '\0';) {
		const char *q = strchr(p + 1, '/');
		size_t len = q != NULL ? (size_t)(q - p - 1) : strlen(p + 1);
		if (len == 0 || (len == 1 && p[1] == '.') || (len == 2 && p[1] == '.' && p[2] == '.'))
			return al_err_set(err, AL_EUSAGE, "%s: not a file's path (no \".\", \"..\" or empty "
			                                  "names below what exists)",
			                  path);
		p = q != NULL ? q : p + 1 + len;
	}
	if (al_snprintf(out, n, "%s%s", strcmp(dir, "/") == 0 ? "" : dir, tail) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", path);
	return 0;
}

/* The record's bytes to out ("-": stdout; else written beside it under
 * a temporary name, fsynced, renamed over it). */
static int write_version(int fd, const char *out, struct al_err *err)
{
	static char buf[1 << 17];
	char tmp[PATH_MAX + 32];
	int dst;
	ssize_t got;

	if (strcmp(out, "-") == 0) {
		dst = STDOUT_FILENO;
		fflush(stdout);
	} else {
		al_snprintf(tmp, sizeof tmp, "%s.recreate.%ld", out, (long)getpid());
		dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (dst < 0)
			return al_err_sys(err, "%s", tmp);
	}
	while ((got = read(fd, buf, sizeof buf)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 || al_write_all(dst, buf, (size_t)got) < 0) {
			al_err_sys(err, "%s", got < 0 ? "the record" : out);
			goto fail;
		}
	}
	if (dst == STDOUT_FILENO)
		return 0;
	if (fsync(dst) < 0) {
		al_err_sys(err, "%s", out);
		goto fail;
	}
	if (close(dst) < 0) {
		dst = -1;
		al_err_sys(err, "%s", out);
		goto fail;
	}
	dst = -1;
	if (rename(tmp, out) < 0) {
		al_err_sys(err, "%s", out);
		goto fail;
	}
	return al_fsync_parent(out, err);
fail:
	if (dst >= 0 && dst != STDOUT_FILENO)
		close(dst);
	if (dst != STDOUT_FILENO)
		(void)unlink(tmp);
	return -1;
}

static void list_print(const struct al_cli *cli, const struct versions *v)
{
	size_t i;
	json_t *r;

	if (cli->json) {
		al_cli_print_json(json_pack("{s:s,s:O}", "path", v->target, "versions", v->list));
		return;
	}
	printf("%-8s %-27s %-16s %-18s %-12s %s\n", "SEQ", "TS", "EVENT", "RUN", "BY", "SHA256");
	json_array_foreach(v->list, i, r) {
		const char *sha = jstr(r, "sha256");
		printf("%-8lld %-27s %-16s %-18s %-12s %s", (long long)json_integer_value(json_object_get(r, "seq")),
		       jstr(r, "ts"), jstr(r, "event"), jstr(r, "run") ? jstr(r, "run") : "-",
		       jstr(r, "user") ? jstr(r, "user") : "-", sha != NULL ? sha : "(deleted)");
		if (strcmp(jstr(r, "event"), "output.phantom") == 0)
			printf("  changed outside airlock: owner %s (uid %lld), mtime %s",
			       jstr(r, "owner") ? jstr(r, "owner") : "?",
			       (long long)json_integer_value(json_object_get(r, "file_uid")),
			       jstr(r, "mtime") ? jstr(r, "mtime") : "?");
		printf("\n");
	}
}

int al_cmd_recreate(struct al_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"as-of", required_argument, NULL, 'a'},
		{"run", required_argument, NULL, 'r'},
		{"seq", required_argument, NULL, 'n'},
		{"list", no_argument, NULL, 'l'},
		{"output", required_argument, NULL, 'o'},
		{"seal-pub", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_err err = {0};
	struct versions v = {NULL, NULL, NULL};
	struct al_verify_opts vo = {0};
	struct al_verify_summary sum;
	unsigned char seal_pub[SEAL_PUB_LEN];
	const char *home, *as_of = NULL, *run = NULL, *seq = NULL, *out = NULL, *pub = NULL;
	char target[PATH_MAX * 2], dir[PATH_MAX + 8], home_abs[PATH_MAX];
	int64_t as_of_us = 0;
	json_t *pick = NULL, *r;
	int c, list = 0, fd, code = AL_OK;
	size_t i;

	while ((c = al_cli_getopt(cli, argc, argv, "o:h", opts)) != -1) {
		switch (c) {
		case 'a': as_of = optarg; break;
		case 'r': run = optarg; break;
		case 'n': seq = optarg; break;
		case 'l': list = 1; break;
		case 'o': out = optarg; break;
		case 'P': pub = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 1)
		return al_cli_usage(cli, "give one output's path");
	if ((as_of != NULL) + (run != NULL) + (seq != NULL) > 1)
		return al_cli_usage(cli, "--as-of, --run and --seq: give one");
	if (as_of != NULL && al_ts_parse(as_of, &as_of_us, &err) < 0)
		return al_cli_usage(cli, "--as-of %s: %s", as_of, err.msg);
	if (!list && out == NULL && isatty(STDOUT_FILENO))
		return al_cli_usage(cli, "-o FILE (or -o - for stdout): the bytes are not written to a "
		                         "terminal");
	if (pub != NULL && al_seal_pub_load(pub, seal_pub, &err) < 0)
		return al_cli_error(cli, &err), AL_EUSAGE;
	if ((home = al_cli_home(cli, &err)) == NULL || realpath(home, home_abs) == NULL) {
		if (home != NULL)
			al_err_sys(&err, "%s: no airlock home here", home);
		return al_cli_error(cli, &err);
	}
	if (target_path(argv[optind], target, sizeof target, &err) < 0)
		return al_cli_error(cli, &err);
	if (out != NULL && strcmp(out, "-") != 0) {
		char od[PATH_MAX * 2];
		/* never into the home: a visible output is changed by airlock's
		 * commits only, and records are never rewritten */
		if (target_path(out, od, sizeof od, &err) < 0)
			return al_cli_error(cli, &err);
		if (strncmp(od, home_abs, strlen(home_abs)) == 0 && od[strlen(home_abs)] == '/') {
			al_err_set(&err, AL_EUSAGE, "-o %s: inside the airlock home; write the version elsewhere",
			           out);
			return al_cli_error(cli, &err);
		}
	}
	if (al_crypto_init(&err) < 0 || al_cli_audit_accessed(cli, home_abs, "recreate", &err) < 0)
		return al_cli_error(cli, &err);
	/* The versions are read from the very lines the verifier accepts,
	 * and taken only once the whole log verified. */
	al_snprintf(dir, sizeof dir, "%s/audit", home_abs);
	v.target = target;
	v.base = strrchr(target, '/') + 1;
	v.list = json_array();
	vo.seal_pub = pub != NULL ? seal_pub : NULL;
	vo.on_entry = version_row;
	vo.entry_ctx = &v;
	if (al_audit_verify(dir, &vo, &sum, &err) != 0) {
		json_decref(v.list);
		if (err.msg[0] == '\0')
			al_err_set(&err, AL_EFAIL,
			           "%s: the audit log does not verify (airlock audit verify says where): "
			           "no version is taken from it",
			           dir);
		return al_cli_error(cli, &err);
	}
	if (json_array_size(v.list) == 0) {
		json_decref(v.list);
		al_err_set(&err, AL_EUSAGE, "%s: the audit log names no committed output at this path",
		           target);
		return al_cli_error(cli, &err);
	}
	if (list) {
		list_print(cli, &v);
		json_decref(v.list);
		return AL_OK;
	}
	json_array_foreach(v.list, i, r) {
		int64_t ts = 0;
		struct al_err e2 = {0};
		if (seq != NULL) {
			/* any version by its entry: a commit, or a change seen from
			 * outside (its bytes were kept when it was seen) */
			char s[32];
			al_snprintf(s, sizeof s, "%lld", (long long)json_integer_value(json_object_get(r, "seq")));
			if (strcmp(s, seq) == 0 && jstr(r, "sha256") != NULL)
				pick = r;
			continue;
		}
		if (strcmp(jstr(r, "event"), "output.committed") != 0)
			continue;
		if (run != NULL && (jstr(r, "run") == NULL || strcmp(jstr(r, "run"), run) != 0))
			continue;
		if (as_of != NULL && (al_ts_parse(jstr(r, "ts"), &ts, &e2) < 0 || ts > as_of_us))
			continue;
		pick = r; /* the last that qualifies: entries come in seq order */
	}
	if (pick == NULL) {
		al_err_set(&err, AL_EUSAGE, "%s: no version %s%s", target,
		           seq != NULL     ? "of a kept file at entry "
		           : run != NULL   ? "committed by run "
		           : as_of != NULL ? "committed at or before "
		                           : "committed",
		           seq != NULL ? seq : run != NULL ? run : as_of != NULL ? as_of : "");
		json_decref(v.list);
		return al_cli_error(cli, &err);
	}
	fd = al_records_open(home_abs, jstr(pick, "sha256"), &err);
	if (fd < 0 || write_version(fd, out != NULL ? out : "-", &err) < 0) {
		code = al_cli_error(cli, &err);
	} else if (cli->json && out != NULL && strcmp(out, "-") != 0) {
		json_t *proof = json_pack("{s:s,s:s,s:O,s:b,s:I}", "path", target, "output", out,
		                          "version", pick, "log_verified", 1, "sealed_upto",
		                          (json_int_t)sum.sealed_upto);
		json_object_set_new(proof, "seals_checked", json_boolean(sum.seals_checked));
		al_cli_print_json(proof);
	} else {
		json_int_t eseq = json_integer_value(json_object_get(pick, "seq"));
		al_cli_info(cli,
		            "%s: the version %s %s at %s (entry %lld, by %s), sha256 %s: "
		            "the record's bytes match; the log verifies%s\n",
		            target,
		            strcmp(jstr(pick, "event"), "output.committed") == 0
		                ? "committed by run"
		                : "changed outside airlock, seen by run",
		            jstr(pick, "run"), jstr(pick, "ts"), (long long)eseq,
		            jstr(pick, "user") ? jstr(pick, "user") : "?", jstr(pick, "sha256"),
		            (uint64_t)eseq <= sum.sealed_upto
		                ? (sum.seals_checked ? ", and a seal checked with --seal-pub covers the entry"
		                                     : ", and a seal covers the entry (its signature "
		                                       "checked with --seal-pub only)")
		                : " (the entry is not sealed yet)");
	}
	if (fd >= 0)
		close(fd);
	json_decref(v.list);
	return code;
}
