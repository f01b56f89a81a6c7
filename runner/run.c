/* run.c - the run engine (DESIGN.md §8): a pipeline's steps in DAG
 * order, up to --jobs at once, each attempt audited before it starts;
 * retries with seeded full jitter; on_failure; outputs staged, checked,
 * hashed and promoted; idempotent reruns; recovery of runs that a crash
 * interrupted.
 *
 * One thread, one poll() loop over a signalfd (SIGCHLD, SIGINT, SIGTERM)
 * and the running steps' output pipes, with the nearest deadline (a
 * timeout, a kill after the grace period, a retry) as its timeout. Every
 * state change is written to the audit log first; when the log cannot be
 * written, no new step starts, running ones are left to finish, and the
 * run exits 4. runner/README.md describes the rules in full. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1) /* linux/fs.h; musl's headers lack it */
#endif

#include "steps/builtin.h"
#include "engine.h"

static const char *const st_names[] = {"pending", "retrying", "running", "ok", "failed", "skipped"};

/* ------------------------------------------------------------------ */
/* Operator log.                                                       */

void al_oplog(const char *level, const char *run, const char *step, int attempt, json_t *fields,
              const char *fmt, ...)
{
	char msg[2048], ts[AL_TS_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (isatty(2)) {
		fprintf(stderr, "airlock: %s%s%s%s%s\n", strcmp(level, "info") == 0 ? "" : level,
		        strcmp(level, "info") == 0 ? "" : ": ", step != NULL ? step : "",
		        step != NULL ? ": " : "", msg);
		json_decref(fields);
		return;
	}
	{
		json_t *o = json_object();
		char *line;
		al_ts_format(al_now_us(), ts);
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(level));
		if (run != NULL && run[0] != '\0')
			json_object_set_new(o, "run", json_string(run));
		if (step != NULL)
			json_object_set_new(o, "step", json_string(step));
		if (attempt > 0)
			json_object_set_new(o, "attempt", json_integer(attempt));
		json_object_set_new(o, "msg", json_string(msg));
		if (fields != NULL)
			json_object_update_missing(o, fields);
		json_decref(fields);
		line = al_json_dump(o);
		if (line != NULL)
			fprintf(stderr, "%s\n", line);
		free(line);
		json_decref(o);
	}
}

/* ------------------------------------------------------------------ */
/* Small helpers.                                                      */

static void today_utc(char out[11])
{
	time_t t = (time_t)(al_now_us() / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static int date_valid(const char *d)
{
	int64_t us;
	char ts[40];

	if (strlen(d) != 10)
		return 0;
	al_snprintf(ts, sizeof ts, "%sT00:00:00Z", d);
	return al_ts_parse(ts, &us, NULL) == 0;
}

/* The audit entry of a state change; fields are consumed. After the
 * first failure every later call fails at once (fail-closed). */
static int audit(struct run *r, const char *event, json_t *fields, unsigned flags)
{
	int ret;

	if (r->audit_failed) {
		json_decref(fields);
		return -1;
	}
	ret = al_audit_append(r->log, event, fields, flags, &r->audit_err);
	json_decref(fields);
	if (ret < 0) {
		r->audit_failed = 1;
		al_oplog("error", r->id, NULL, 0, NULL,
		         "the audit log cannot be written: no new step will start: %s",
		         r->audit_err.msg);
	}
	return ret;
}

static void state_warn(struct run *r, const struct al_err *err)
{
	al_oplog("warn", r->id, NULL, 0, NULL, "state.db: %s", err->msg);
}

int eng_audit(struct run *r, const char *event, json_t *fields, unsigned flags)
{
	return audit(r, event, fields, flags);
}

void eng_state_warn(struct run *r, const struct al_err *err)
{
	state_warn(r, err);
}

/* state.db changes are batched: one transaction gathers them and is
 * committed TX_BATCH_US after it began (and at the run's end, and before
 * a promotion). A killed airlock loses at most that much of state.db;
 * recovery rebuilds commits from the audit log's output.committed
 * entries (runner/README.md, "Crash safety"). */
#define TX_BATCH_US 100000

void eng_tx(struct run *r)
{
	struct al_err err = {0};

	if (r->tx)
		return;
	if (al_state_begin(r->st, &err) < 0) {
		state_warn(r, &err);
		return;
	}
	r->tx = 1;
	r->tx_us = al_now_us();
}

static void tx_flush(struct run *r)
{
	struct al_err err = {0};

	if (!r->tx)
		return;
	r->tx = 0;
	if (al_state_commit_tx(r->st, &err) < 0)
		state_warn(r, &err);
}

static json_t *cap_json(const struct al_capture *c)
{
	char hex[AL_SHA256_HEX];

	al_hex(c->sum, sizeof c->sum, hex);
	return json_pack("{s:s,s:I,s:b,s:I}", "sha256", hex, "size", (json_int_t)c->stored,
	                 "truncated", c->truncated, "written", (json_int_t)c->written);
}

/* hex SHA-256 of pipeline "\n" manifest_sha256 "\n" date "\n" step. */
static void idempotency_key(const struct run *r, const char *step, char out[AL_SHA256_HEX])
{
	unsigned char sum[AL_SHA256_LEN];
	struct al_sha256 h;

	if (al_sha256_init(&h) < 0)
		abort();
	al_sha256_update(&h, r->m->pipeline, strlen(r->m->pipeline));
	al_sha256_update(&h, "\n", 1);
	al_sha256_update(&h, r->msha, strlen(r->msha));
	al_sha256_update(&h, "\n", 1);
	al_sha256_update(&h, r->date, strlen(r->date));
	al_sha256_update(&h, "\n", 1);
	al_sha256_update(&h, step, strlen(step));
	/* A fan_out step's shards do different work: each its own key (and
	 * retry jitter), "\nI/N" added; every other key is unchanged. */
	if (r->o->shard_n > 0) {
		long k = al_manifest_step(r->m, step);
		if (k >= 0 && json_object_get(r->m->steps[k].json, "fan_out") != NULL) {
			char shard[32];
			int n = snprintf(shard, sizeof shard, "\n%d/%d", r->o->shard_i, r->o->shard_n);
			al_sha256_update(&h, shard, (size_t)n);
		}
	}
	al_sha256_final(&h, sum);
	al_hex(sum, sizeof sum, out);
}

/* The retry delay of DESIGN.md §8 after failed attempt n (1-based):
 * uniform in [0, min(cap, base * 2^(n-1))] ms, drawn as the first 8
 * bytes (big-endian) of SHA-256(key ‖ decimal n) modulo (bound + 1). */
int64_t al_retry_delay_ms(const char *key, int n, int64_t base_ms, int64_t cap_ms)
{
	unsigned char sum[AL_SHA256_LEN];
	char buf[128];
	uint64_t x = 0, bound = (uint64_t)base_ms;
	int len;

	for (int i = 1; i < n && bound < (uint64_t)cap_ms; i++)
		bound *= 2;
	if (bound > (uint64_t)cap_ms)
		bound = (uint64_t)cap_ms;
	len = snprintf(buf, sizeof buf, "%s%d", key, n);
	al_sha256_buf(buf, (size_t)len, sum);
	for (int i = 0; i < 8; i++)
		x = (x << 8) | sum[i];
	return (int64_t)(x % (bound + 1));
}

static int is_step_ref(const struct run *r, const char *arg, long *step, const char **file)
{
	const char *colon = strchr(arg, ':');
	char id[65];
	size_t n;
	long k;

	if (colon == NULL || colon == arg || (n = (size_t)(colon - arg)) >= sizeof id)
		return 0;
	memcpy(id, arg, n);
	id[n] = '\0';
	k = al_manifest_step(r->m, id);
	if (k < 0)
		return 0;
	*step = k;
	*file = colon + 1;
	return 1;
}

static int bundle_file(const struct run *r, const char *arg)
{
	for (size_t i = 0; i < r->m->files_n; i++)
		if (strcmp(r->m->files[i].path, arg) == 0)
			return 1;
	return 0;
}

/* argv with programs, files of the bundle and step:file references
 * resolved to absolute paths. */
char **eng_resolve_argv(const struct run *r, const char **argv, struct al_err *err)
{
	size_t n = 0;
	char **out;

	while (argv[n] != NULL)
		n++;
	out = calloc(n + 1, sizeof *out);
	if (out == NULL) {
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char buf[PATH_MAX * 2];
		const char *file;
		long k;
		if (is_step_ref(r, argv[i], &k, &file)) {
			al_snprintf(buf, sizeof buf, "%s/%s/%s", r->out_dir, r->m->steps[k].id, file);
		} else if ((i == 0 && argv[0][0] != '/' && strchr(argv[0], '/') != NULL) ||
		           (i > 0 && bundle_file(r, argv[i]))) {
			/* the program, or an argument naming a file of the bundle */
			al_snprintf(buf, sizeof buf, "%s/%s", r->bundle_dir, argv[i]);
		} else if (i == 0 && argv[0][0] != '/') {
			const char *dirs[3] = {NULL, "/usr/bin", "/bin"};
			char bin[PATH_MAX + 8];
			al_snprintf(bin, sizeof bin, "%s/bin", r->bundle_dir);
			dirs[0] = bin;
			al_snprintf(buf, sizeof buf, "%s", argv[0]);
			for (int d = 0; d < 3; d++) {
				char cand[PATH_MAX * 2];
				al_snprintf(cand, sizeof cand, "%s/%s", dirs[d], argv[0]);
				if (access(cand, X_OK) == 0) {
					al_snprintf(buf, sizeof buf, "%s", cand);
					break;
				}
			}
		} else {
			al_snprintf(buf, sizeof buf, "%s", argv[i]);
		}
		out[i] = strdup(buf);
		if (out[i] == NULL) {
			for (size_t j = 0; j < i; j++)
				free(out[j]);
			free(out);
			al_err_sys(err, "cannot allocate memory");
			return NULL;
		}
	}
	return out;
}

void eng_free_argv(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

static json_t *argv_json(const char **argv)
{
	json_t *a = json_array();

	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

/* ------------------------------------------------------------------ */
/* State rows.                                                         */

static void step_row(const struct run *r, const struct step_rt *s, struct al_step_row *row,
                     const char *state)
{
	memset(row, 0, sizeof *row);
	al_snprintf(row->step, sizeof row->step, "%s", s->def->id);
	row->idx = (int)s->idx;
	al_snprintf(row->state, sizeof row->state, "%s", state != NULL ? state : st_names[s->state]);
	row->attempts = s->attempt;
	row->start_us = s->start_us;
	row->end_us = s->end_us;
	row->exit_code = s->exit_code;
	row->signal = s->sig;
	al_snprintf(row->status, sizeof row->status, "%s", s->status);
	al_snprintf(row->reason, sizeof row->reason, "%s",
	            s->state == S_SKIPPED || (s->state == S_OK && s->attempt == 0) ? s->skip_reason
	                                                                          : s->reason);
	for (size_t i = 0; i < s->def->needs_n; i++) {
		size_t len = strlen(row->needs);
		al_snprintf(row->needs + len, sizeof row->needs - len, "%s%s", i ? "," : "",
		         r->m->steps[s->def->needs[i]].id);
	}
}

static void save_step(struct run *r, struct step_rt *s, const char *state, const char *staged)
{
	struct al_step_row row;
	struct al_err err = {0};

	step_row(r, s, &row, state);
	row.staged = (char *)staged;
	eng_tx(r);
	if (al_state_step_put(r->st, r->id, &row, &err) < 0)
		state_warn(r, &err);
}

/* ------------------------------------------------------------------ */
/* Files: hashing a stage, comparing with a commit.                    */

struct walk {
	json_t *files;      /* [{path, sha256, size}] */
	char reason[512];
	int64_t bytes;
};

static int count_rows(int fd, int64_t *rows)
{
	char buf[1 << 16];
	int64_t n = 0;
	ssize_t got;
	char last = '\n';

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	while ((got = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
		last = buf[got - 1];
	}
	if (got < 0)
		return -1;
	*rows = n + (last != '\n');
	return 0;
}

/* Every regular file under dirfd (recursively), hashed and fsynced;
 * anything else (a symbolic link, a FIFO...) is refused. */
static int walk_stage(int dirfd, const char *prefix, struct walk *w)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(dirfd), ret = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		al_snprintf(w->reason, sizeof w->reason, "%s: cannot read the stage: %s",
		         prefix[0] ? prefix : ".", strerror(errno));
		return -1;
	}
	rewinddir(d);
	while (ret == 0 && (de = readdir(d)) != NULL) {
		char rel[PATH_MAX];
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		al_snprintf(rel, sizeof rel, "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			al_snprintf(w->reason, sizeof w->reason, "output %s: %s", rel, strerror(errno));
			ret = -1;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				al_snprintf(w->reason, sizeof w->reason, "output %s: %s", rel, strerror(errno));
				ret = -1;
			} else {
				ret = walk_stage(sub, rel, w);
				if (ret == 0 && al_sys_fsync(sub) < 0) {
					al_snprintf(w->reason, sizeof w->reason, "output %s: fsync: %s", rel,
					         strerror(errno));
					ret = -1;
				}
				close(sub);
			}
		} else if (!S_ISREG(st.st_mode)) {
			al_snprintf(w->reason, sizeof w->reason,
			         "output %s: not a regular file (only regular files are promoted)", rel);
			ret = -1;
		} else {
			unsigned char sum[AL_SHA256_LEN];
			char hex[AL_SHA256_HEX];
			uint64_t size;
			struct al_err err = {0};
			int f = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (f < 0 || al_sha256_fd(f, rel, sum, &size, &err) < 0 || al_sys_fsync(f) < 0) {
				al_snprintf(w->reason, sizeof w->reason, "output %s: %s", rel,
				         err.msg[0] ? err.msg : strerror(errno));
				ret = -1;
			} else {
				al_hex(sum, sizeof sum, hex);
				json_array_append_new(w->files, json_pack("{s:s,s:s,s:I}", "path", rel, "sha256",
				                                          hex, "size", (json_int_t)size));
				w->bytes += (int64_t)size;
			}
			if (f >= 0)
				close(f);
		}
	}
	closedir(d);
	return ret;
}

static json_t *files_find(json_t *files, const char *path)
{
	size_t i;
	json_t *f;

	json_array_foreach(files, i, f)
		if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0)
			return f;
	return NULL;
}

/* The declared outputs' rules over what the stage holds. */
static int check_outputs(const struct step_rt *s, int stagefd, json_t *files, char *reason,
                         size_t rlen)
{
	for (size_t i = 0; i < s->def->outputs_n; i++) {
		const struct al_output *o = &s->def->outputs[i];
		json_t *f = files_find(files, o->path);
		int64_t size;
		if (f == NULL) {
			al_snprintf(reason, rlen, "output %s: missing (declared in outputs)", o->path);
			return -1;
		}
		size = json_integer_value(json_object_get(f, "size"));
		if (o->min_bytes >= 0 && size < o->min_bytes) {
			al_snprintf(reason, rlen, "output %s: %lld bytes, fewer than min_bytes %lld", o->path,
			         (long long)size, (long long)o->min_bytes);
			return -1;
		}
		if (o->min_rows >= 0) {
			int64_t rows = 0;
			int fd = openat(stagefd, o->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || count_rows(fd, &rows) < 0) {
				al_snprintf(reason, rlen, "output %s: cannot count rows: %s", o->path,
				         strerror(errno));
				if (fd >= 0)
					close(fd);
				return -1;
			}
			close(fd);
			if (rows < o->min_rows) {
				al_snprintf(reason, rlen, "output %s: %lld rows, fewer than min_rows %lld", o->path,
				         (long long)rows, (long long)o->min_rows);
				return -1;
			}
		}
	}
	return 0;
}

/* Whether every file of a commit is in dir with its hash; the first
 * difference is described in why (and appended to phantoms). */
static int commit_intact(const char *dir, json_t *files, json_t *phantoms, char *why, size_t wlen)
{
	size_t i;
	json_t *f;
	int ok = 1;

	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *want = json_string_value(json_object_get(f, "sha256"));
		char full[PATH_MAX * 2], hex[AL_SHA256_HEX];
		unsigned char sum[AL_SHA256_LEN];
		struct al_err err = {0};
		if (path == NULL || want == NULL)
			return 0;
		al_snprintf(full, sizeof full, "%s/%s", dir, path);
		if (al_sha256_file(full, sum, NULL, &err) < 0) {
			if (ok)
				al_snprintf(why, wlen, "%s: %s", full, errno == ENOENT ? "deleted" : err.msg);
			if (phantoms != NULL)
				json_array_append_new(phantoms,
				                      json_pack("{s:s,s:s,s:n}", "path", full, "expected", want,
				                                "found"));
			ok = 0;
			continue;
		}
		al_hex(sum, sizeof sum, hex);
		if (strcmp(hex, want) != 0) {
			if (ok)
				al_snprintf(why, wlen, "%s: changed since it was committed (sha256 %s, committed %s)",
				         full, hex, want);
			if (phantoms != NULL)
				json_array_append_new(phantoms, json_pack("{s:s,s:s,s:s}", "path", full,
				                                          "expected", want, "found", hex));
			ok = 0;
		}
	}
	return ok;
}

/* ------------------------------------------------------------------ */
/* Preparing a step: inputs, the idempotency check.                    */

static int add_inputs(const struct run *r, const char **argv, json_t *inputs, char *reason,
                      size_t rlen)
{
	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
		const char *file;
		long k;
		char full[PATH_MAX * 2], hex[AL_SHA256_HEX];
		unsigned char sum[AL_SHA256_LEN];
		uint64_t size;
		struct al_err err = {0};
		if (!is_step_ref(r, argv[i], &k, &file))
			continue;
		al_snprintf(full, sizeof full, "%s/%s/%s", r->out_dir, r->m->steps[k].id, file);
		if (al_sha256_file(full, sum, &size, &err) < 0) {
			al_snprintf(reason, rlen, "input %s: %s", argv[i], err.msg);
			return -1;
		}
		al_hex(sum, sizeof sum, hex);
		json_array_append_new(inputs, json_pack("{s:s,s:s,s:I}", "path", full, "sha256", hex,
		                                        "size", (json_int_t)size));
	}
	return 0;
}

/* A fan_out step's items for this shard (--shard I/N; without it, 0/1):
 * the items file lists one item a line (blank lines aside); item k, from
 * 0, belongs to shard k mod N. This shard's are written to
 * runs/<run>/items/<step>.txt (AIRLOCK_ITEMS); the source's hash, the
 * shard and the list's hash join the step's inputs, so that a commit of
 * another split is not taken for this one. */
static int shard_items(struct run *r, struct step_rt *s)
{
	const char *ref = json_string_value(
	    json_object_get(json_object_get(s->def->json, "fan_out"), "items"));
	int n = r->o->shard_n > 0 ? r->o->shard_n : 1, i = r->o->shard_n > 0 ? r->o->shard_i : 0;
	char src[PATH_MAX * 2], dir[PATH_MAX + 16], out[PATH_MAX * 2], hex[AL_SHA256_HEX];
	char shard[32], *line = NULL;
	unsigned char sum[AL_SHA256_LEN];
	struct al_sha256 h, whole;
	struct al_err err = {0};
	uint64_t size = 0;
	size_t cap = 0;
	ssize_t len;
	long k = 0, line_no = 0;
	const char *file;
	FILE *in = NULL, *o = NULL;
	int ret = -1, hashing = 0;

	if (is_step_ref(r, ref, &k, &file))
		al_snprintf(src, sizeof src, "%s/%s/%s", r->out_dir, r->m->steps[k].id, file);
	else
		al_snprintf(src, sizeof src, "%s/%s", r->bundle_dir, ref);
	al_snprintf(dir, sizeof dir, "%s/items", r->run_dir);
	al_snprintf(out, sizeof out, "%s/%s.txt", dir, s->def->id);
	if (al_mkdirs(dir, 0700, &err) < 0) {
		al_snprintf(s->reason, sizeof s->reason, "fan_out items %s: %s", ref, err.msg);
		return -1;
	}
	in = fopen(src, "re");
	o = fopen(out, "we");
	if (in == NULL || o == NULL) {
		al_snprintf(s->reason, sizeof s->reason, "fan_out items %s: %s", in == NULL ? src : out,
		            strerror(errno));
		goto done;
	}
	/* The file's hash from the very bytes split: a change while it is
	 * read cannot be recorded as another version. */
	if (al_sha256_init(&h) < 0) {
		al_snprintf(s->reason, sizeof s->reason, "fan_out items: cannot hash");
		goto done;
	}
	if (al_sha256_init(&whole) < 0) {
		al_sha256_abort(&h);
		al_snprintf(s->reason, sizeof s->reason, "fan_out items: cannot hash");
		goto done;
	}
	hashing = 1;
	s->items_n = 0;
	for (k = 0; (len = getline(&line, &cap, in)) >= 0;) {
		line_no++;
		al_sha256_update(&whole, line, (size_t)len);
		size += (uint64_t)len;
		if (len > AL_ITEM_MAX) {
			al_snprintf(s->reason, sizeof s->reason, "fan_out items %s: line %ld is over %d bytes",
			            ref, line_no, AL_ITEM_MAX);
			goto done;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (k++ % n != i)
			continue;
		line[len] = '\n';
		al_sha256_update(&h, line, (size_t)len + 1);
		if (fwrite(line, 1, (size_t)len + 1, o) != (size_t)len + 1)
			break;
		s->items_n++;
	}
	if (ferror(in) || fflush(o) != 0 || ferror(o)) {
		al_snprintf(s->reason, sizeof s->reason, "fan_out items %s: cannot write %s", ref, out);
		goto done;
	}
	al_sha256_final(&whole, sum);
	al_hex(sum, sizeof sum, hex);
	al_sha256_final(&h, sum);
	hashing = 0;
	{
		char lhex[AL_SHA256_HEX];
		al_hex(sum, sizeof sum, lhex);
		al_snprintf(shard, sizeof shard, "%d/%d", i, n);
		json_array_append_new(s->inputs,
		                      json_pack("{s:s,s:s,s:I,s:s,s:I,s:I,s:s}", "path", src, "sha256", hex,
		                                "size", (json_int_t)size, "shard", shard, "items",
		                                (json_int_t)s->items_n, "of", (json_int_t)k,
		                                "items_sha256", lhex));
	}
	free(s->items_path);
	s->items_path = strdup(out);
	ret = s->items_path != NULL ? 0 : -1;
done:
	if (hashing) {
		al_sha256_abort(&h);
		al_sha256_abort(&whole);
	}
	free(line);
	if (in != NULL)
		fclose(in);
	if (o != NULL && fclose(o) != 0 && ret == 0) {
		al_snprintf(s->reason, sizeof s->reason, "fan_out items: cannot write %s", out);
		ret = -1;
	}
	return ret;
}

/* Returns 1 when the step's committed outputs make running it again
 * needless, 0 when it must run (rerun_reason says why, when it ran
 * before), -1 when it cannot run (s->reason). */
static int prepare(struct run *r, struct step_rt *s)
{
	struct al_commit_row c;
	struct al_err err = {0};
	char dir[PATH_MAX * 2], why[1024] = "";
	unsigned char sum[AL_SHA256_LEN];
	char *dump;
	json_t *files, *phantoms;
	int found, intact;

	s->prepared = 1;
	idempotency_key(r, s->def->id, s->key);
	s->inputs = json_array();
	if (s->def->kind == AL_KIND_VALIDATE) {
		const char *in[2] = {json_string_value(json_object_get(s->def->json, "input")), NULL};
		if (add_inputs(r, in, s->inputs, s->reason, sizeof s->reason) < 0)
			return -1;
	}
	if (add_inputs(r, s->def->run, s->inputs, s->reason, sizeof s->reason) < 0 ||
	    add_inputs(r, s->def->verify, s->inputs, s->reason, sizeof s->reason) < 0)
		return -1;
	if (json_object_get(s->def->json, "fan_out") != NULL && shard_items(r, s) < 0)
		return -1;
	dump = al_json_dump(s->inputs);
	al_sha256_buf(dump, strlen(dump), sum);
	free(dump);
	al_hex(sum, sizeof sum, s->inputs_sha);
	/* A notify step reports each run: it is never skipped as committed. */
	if (s->def->kind == AL_KIND_NOTIFY)
		return 0;
	found = r->no_commits ? 0
	                      : al_state_commit_get(r->st, r->m->pipeline, r->date, s->def->id, &c, &err);
	if (found < 0) {
		state_warn(r, &err);
		return 0;
	}
	if (found == 0)
		return 0;
	if (s->forced) {
		al_snprintf(s->rerun_reason, sizeof s->rerun_reason, "forced (--force or --from)");
		free(c.files);
		return 0;
	}
	if (strcmp(c.manifest_sha256, r->msha) != 0) {
		al_snprintf(s->rerun_reason, sizeof s->rerun_reason,
		         "committed by another manifest (%.16s…)", c.manifest_sha256);
		free(c.files);
		return 0;
	}
	if (strcmp(c.inputs_sha256, s->inputs_sha) != 0) {
		al_snprintf(s->rerun_reason, sizeof s->rerun_reason, "its inputs changed since run %s",
		         c.run);
		free(c.files);
		return 0;
	}
	files = json_loads(c.files, 0, NULL);
	free(c.files);
	if (files == NULL)
		return 0;
	al_snprintf(dir, sizeof dir, "%s/%s", r->out_dir, s->def->id);
	phantoms = json_array();
	intact = commit_intact(dir, files, phantoms, why, sizeof why);
	if (intact) {
		json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:O}", "run", r->id, "step", s->def->id, "reason",
		                      "already-committed", "committed_by", c.run, "files", files);
		s->committed = files;
		json_decref(phantoms);
		if (audit(r, "step.skipped", f, 0) < 0)
			return 0; /* not started anyway: the run stops */
		return 1;
	}
	/* Phantom state: what was committed is no longer there as it was. */
	al_snprintf(s->rerun_reason, sizeof s->rerun_reason, "phantom: %s", why);
	(void)audit(r, "output.phantom",
	            json_pack("{s:s,s:s,s:s,s:o}", "run", r->id, "step", s->def->id, "committed_by",
	                      c.run, "files", phantoms),
	            0);
	json_decref(files);
	al_oplog("warn", r->id, s->def->id, 0, NULL, "committed outputs changed: running again: %s",
	         why);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Starting an attempt.                                                */

static void env_add(json_t *env, const char *name, const char *value)
{
	json_object_set_new(env, name, json_string(value));
}

char **eng_make_env(const struct run *r, const struct step_rt *s, const char *stage,
                       const char *quarantine)
{
	json_t *env = json_object(), *v, *sec = json_object_get(r->m->root, "secrets");
	json_t *step_env = json_object_get(s->def->json, "env");
	const char *k;
	char buf[PATH_MAX * 2], **envp;
	size_t n = 0, i = 0;

	json_object_foreach(step_env, k, v) {
		env_add(env, k, json_string_value(v));
	}
	al_snprintf(buf, sizeof buf, "%s/bin:/usr/bin:/bin", r->bundle_dir);
	env_add(env, "PATH", buf);
	env_add(env, "HOME", stage);
	env_add(env, "TZ", "UTC");
	env_add(env, "LC_ALL", "C");
	env_add(env, "AIRLOCK_RUN_ID", r->id);
	env_add(env, "AIRLOCK_STEP", s->def->id);
	al_snprintf(buf, sizeof buf, "%d", s->attempt);
	env_add(env, "AIRLOCK_ATTEMPT", buf);
	env_add(env, "AIRLOCK_IDEMPOTENCY_KEY", s->key);
	env_add(env, "AIRLOCK_DATE", r->date);
	env_add(env, "AIRLOCK_OUT", stage);
	env_add(env, "AIRLOCK_QUARANTINE", quarantine);
	if (s->items_path != NULL) {
		al_snprintf(buf, sizeof buf, "%ld", s->items_n);
		env_add(env, "AIRLOCK_ITEMS", s->items_path);
		env_add(env, "AIRLOCK_ITEMS_COUNT", buf);
		al_snprintf(buf, sizeof buf, "%d/%d", r->o->shard_n > 0 ? r->o->shard_i : 0,
		            r->o->shard_n > 0 ? r->o->shard_n : 1);
		env_add(env, "AIRLOCK_SHARD", buf);
	}
	for (size_t j = 0; s->def->secrets != NULL && s->def->secrets[j] != NULL; j++) {
		const char *name = s->def->secrets[j];
		const char *file =
		    json_string_value(json_object_get(json_object_get(sec, name), "file"));
		char var[128];
		size_t p = strlen("AIRLOCK_SECRET_");
		memcpy(var, "AIRLOCK_SECRET_", p + 1);
		for (const char *c = name; *c != '\0' && p + 1 < sizeof var; c++)
			var[p++] = (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : (*c == '-' ? '_' : *c);
		var[p] = '\0';
		env_add(env, var, file != NULL ? file : "");
	}
	n = json_object_size(env);
	envp = calloc(n + 1, sizeof *envp);
	if (envp != NULL) {
		json_object_foreach(env, k, v) {
			size_t len = strlen(k) + strlen(json_string_value(v)) + 2;
			envp[i] = malloc(len);
			if (envp[i] == NULL)
				break;
			al_snprintf(envp[i], len, "%s=%s", k, json_string_value(v));
			i++;
		}
	}
	json_decref(env);
	return envp;
}

static void stage_path(const struct run *r, const struct step_rt *s, char *out, size_t n)
{
	al_snprintf(out, n, "%s/stage/%s", r->run_dir, s->def->id);
}

static void spare_path(const struct run *r, char *out, size_t n)
{
	al_snprintf(out, n, "%s/stage/.spare", r->run_dir);
}

/* An empty stage directory: the spare one a quiet step left, renamed
 * (microseconds), or a new one (half a millisecond on ext4 here). */
static int new_stage(struct run *r, const char *stage, struct al_err *err)
{
	char spare[PATH_MAX];

	if (r->spare) {
		spare_path(r, spare, sizeof spare);
		r->spare = 0;
		if (rename(spare, stage) == 0)
			return 0;
	}
	if (mkdir(stage, 0700) < 0)
		return al_err_sys(err, "%s", stage);
	return 0;
}

/* A stage left empty after a commit becomes the next one's. */
static void keep_spare(struct run *r, const char *stage)
{
	char spare[PATH_MAX];

	spare_path(r, spare, sizeof spare);
	if (!r->spare && rename(stage, spare) == 0)
		r->spare = 1;
}

static int is_builtin(const struct step_rt *s)
{
	return s->def->kind == AL_KIND_AWAIT || s->def->kind == AL_KIND_VALIDATE;
}

static void result_path(const struct run *r, const struct step_rt *s, char *out, size_t n)
{
	al_snprintf(out, n, "%s/logs/%s.%d.result.json", r->run_dir, s->def->id, s->attempt);
}

/* "{date}" in an await path is the run's logical date. */
static void expand_date(const struct run *r, const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (; *in != '\0' && o + 11 < n; in++) {
		if (strncmp(in, "{date}", 6) == 0) {
			memcpy(out + o, r->date, 10);
			o += 10;
			in += 5;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static int64_t field_ms(const json_t *obj, const char *key)
{
	int64_t ms = 0;

	(void)al_duration_parse(json_string_value(json_object_get(obj, key)), &ms, NULL);
	return ms;
}

/* The parameters of a built-in kind (builtin.c), resolved here. */
static json_t *builtin_spec(const struct run *r, const struct step_rt *s, const char *stage,
                            const char *quarantine)
{
	json_t *j = s->def->json;

	if (s->def->kind == AL_KIND_AWAIT) {
		json_t *poll = json_object_get(j, "poll");
		const char *marker = json_string_value(json_object_get(j, "marker"));
		char dir[PATH_MAX];
		int64_t every = poll != NULL ? field_ms(poll, "every") : 0;
		expand_date(r, json_string_value(json_object_get(j, "path")), dir, sizeof dir);
		return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "dir", dir, "marker",
		                 marker != NULL ? marker : "_SUCCESS", "max_age_ms",
		                 (json_int_t)field_ms(j, "max_age"), "every_ms",
		                 (json_int_t)(every > 0 ? every : AL_AWAIT_EVERY_MS), "then_ms",
		                 (json_int_t)(poll != NULL ? field_ms(poll, "then") : 0), "after_ms",
		                 (json_int_t)(poll != NULL ? field_ms(poll, "after") : 0), "out_dir",
		                 stage);
	} else {
		const char *in = json_string_value(json_object_get(j, "input"));
		const char *file = strchr(in, ':') + 1;
		char input[PATH_MAX * 2], schema[PATH_MAX * 2], output[PATH_MAX * 2], q[PATH_MAX * 3];
		al_snprintf(input, sizeof input, "%s/%.*s/%s", r->out_dir, (int)(file - 1 - in), in, file);
		al_snprintf(schema, sizeof schema, "%s/%s", r->bundle_dir,
		            json_string_value(json_object_get(j, "schema")));
		al_snprintf(output, sizeof output, "%s/%s", stage,
		            json_string_value(json_object_get(j, "output")));
		al_snprintf(q, sizeof q, "%s/rejected.jsonl", quarantine);
		return json_pack("{s:s,s:s,s:s,s:s,s:s?}", "input", input, "schema", schema, "output",
		                 output, "quarantine", q, "max_reject",
		                 json_string_value(json_object_get(j, "max_reject")));
	}
}

/* argv of a built-in kind: airlock itself, as the step's process. */
static char **builtin_argv(struct run *r, struct step_rt *s, const char *stage,
                           const char *quarantine, struct al_err *err)
{
	char **argv = calloc(6, sizeof *argv), result[PATH_MAX];
	json_t *spec = builtin_spec(r, s, stage, quarantine);

	result_path(r, s, result, sizeof result);
	if (argv == NULL || spec == NULL || (argv[0] = strdup("/proc/self/exe")) == NULL ||
	    (argv[1] = strdup("__builtin")) == NULL ||
	    (argv[2] = strdup(s->def->kind == AL_KIND_AWAIT ? "await" : "validate")) == NULL ||
	    (argv[3] = al_json_dump(spec)) == NULL || (argv[4] = strdup(result)) == NULL) {
		json_decref(spec);
		eng_free_argv(argv);
		al_err_sys(err, "cannot allocate memory");
		return NULL;
	}
	json_decref(spec);
	/* The validate step's quarantine directory exists before it runs. */
	if (s->def->kind == AL_KIND_VALIDATE && al_mkdirs(quarantine, 0700, err) < 0) {
		eng_free_argv(argv);
		return NULL;
	}
	return argv;
}

/* A notify step's stdin: the run summary, written for this attempt. */
static int write_summary(struct run *r, struct step_rt *s, char *path, size_t n,
                         struct al_err *err)
{
	json_t *sum = eng_summary(r);
	char *text = al_json_dump(sum);
	int ret;

	json_decref(sum);
	al_snprintf(path, n, "%s/logs/%s.%d.summary.json", r->run_dir, s->def->id, s->attempt);
	if (text == NULL)
		return al_err_sys(err, "cannot allocate memory");
	ret = al_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return ret;
}

static int spawn_phase(struct run *r, struct step_rt *s, struct al_err *err)
{
	const char **argv = s->phase == 0 ? s->def->run : s->def->verify;
	char stage[PATH_MAX], quarantine[PATH_MAX * 2], outp[PATH_MAX], errp[PATH_MAX];
	char summary[PATH_MAX];
	char **rargv = NULL, **envp = NULL;
	struct al_proc_spec spec = {0};
	int ret = -1;

	stage_path(r, s, stage, sizeof stage);
	al_snprintf(quarantine, sizeof quarantine, "%s/quarantine/%s/%s/%s", r->o->home, r->m->pipeline,
	         r->date, s->def->id);
	al_snprintf(outp, sizeof outp, "%s/logs/%s.%d%s.out", r->run_dir, s->def->id, s->attempt,
	         s->phase ? ".verify" : "");
	al_snprintf(errp, sizeof errp, "%s/logs/%s.%d%s.err", r->run_dir, s->def->id, s->attempt,
	         s->phase ? ".verify" : "");
	if (s->phase == 0 && is_builtin(s))
		rargv = builtin_argv(r, s, stage, quarantine, err);
	else
		rargv = eng_resolve_argv(r, argv, err);
	if (rargv == NULL)
		goto out;
	if (s->phase == 0 && s->def->kind == AL_KIND_NOTIFY) {
		if (write_summary(r, s, summary, sizeof summary, err) < 0)
			goto out;
		spec.stdin_path = summary;
	}
	envp = eng_make_env(r, s, stage, quarantine);
	if (rargv == NULL || envp == NULL) {
		if (envp == NULL)
			al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	spec.argv = (const char *const *)rargv;
	spec.envp = (const char *const *)envp;
	spec.cwd = stage;
	spec.net_none = !s->def->network_host && !r->o->allow_network;
	spec.limit_cpu_s = s->def->limit_cpu_s;
	spec.limit_memory = s->def->limit_memory;
	spec.limit_files = s->def->limit_files;
	spec.limit_procs = s->def->limit_procs;
	spec.out_path = outp;
	spec.err_path = errp;
	spec.cap = r->o->log_cap ? r->o->log_cap : AL_LOG_CAP;
	if (al_proc_spawn(&s->proc, &spec, err) < 0)
		goto out;
	s->running = 1;
	s->timed_out = s->term_sent = s->kill_sent = 0;
	s->deadline_us = s->def->timeout_ms > 0 ? s->proc.start_us + s->def->timeout_ms * 1000 : 0;
	s->kill_at_us = 0;
	ret = 0;
out:
	eng_free_argv(rargv);
	eng_free_argv(envp);
	return ret;
}

static void finish_attempt(struct run *r, struct step_rt *s, const char *status, int exit_code,
                           int sig, const char *cond, json_t *end);

#define NOTE_RUNNING_US 50000

/* The running step's rows in state.db (for airlock status). */
static void note_running(struct run *r, struct step_rt *s)
{
	struct al_attempt_row a = {0};
	struct al_err err = {0};

	s->note_at_us = 0;
	save_step(r, s, "running", NULL);
	al_snprintf(a.step, sizeof a.step, "%s", s->def->id);
	a.attempt = s->attempt;
	a.start_us = s->proc.start_us;
	a.exit_code = -1;
	al_snprintf(a.status, sizeof a.status, "running");
	a.pid = s->proc.pid;
	if (al_state_attempt_put(r->st, r->id, &a, &err) < 0)
		state_warn(r, &err);
}

static void start_attempt(struct run *r, struct step_rt *s)
{
	char stage[PATH_MAX];
	struct al_err err = {0};
	json_t *f;

	s->attempt++;
	s->phase = 0;
	s->no_retry = 0;
	s->empty_output = 0;
	stage_path(r, s, stage, sizeof stage);
	/* Each attempt starts from an empty stage: nothing of a failed one leaks. */
	if (al_rm_tree(AT_FDCWD, stage) < 0 || new_stage(r, stage, &err) < 0) {
		if (err.msg[0] == '\0')
			al_err_sys(&err, "%s: cannot empty the stage", stage);
		al_oplog("error", r->id, s->def->id, s->attempt, NULL, "%s", err.msg);
		s->attempt--;
		r->failed = 1;
		r->aborting = 1;
		s->state = S_FAILED;
		al_snprintf(s->reason, sizeof s->reason, "%s", err.msg);
		return;
	}
	f = json_pack("{s:s,s:s,s:i,s:o,s:s,s:O}", "run", r->id, "step", s->def->id, "attempt",
	              s->attempt, "argv",
	              is_builtin(s) ? json_pack("[s,s,s]", "airlock", "__builtin",
	                                        s->def->kind == AL_KIND_AWAIT ? "await" : "validate")
	                            : argv_json(s->def->run),
	              "idempotency_key", s->key, "inputs", s->inputs);
	if (s->rerun_reason[0] != '\0')
		json_object_set_new(f, "rerun_reason", json_string(s->rerun_reason));
	/* Durable before the process exists: no step runs unaudited. */
	if (audit(r, "step.start", f, AL_AUDIT_SYNC) < 0) {
		s->attempt--;
		return;
	}
	if (s->attempt == 1)
		s->start_us = al_now_us();
	s->state = S_RUNNING;
	if (spawn_phase(r, s, &err) < 0) {
		al_oplog("error", r->id, s->def->id, s->attempt, NULL, "%s", err.msg);
		al_snprintf(s->reason, sizeof s->reason, "%s", err.msg);
		finish_attempt(r, s, "failed", 127, 0, "exit:127",
		               json_pack("{s:s}", "error", err.msg));
		return;
	}
	r->running_n++;
	/* state.db hears of a running step only if it runs for a while: a
	 * quick one is recorded once, at its end (the audit log has both). */
	s->note_at_us = s->proc.start_us + NOTE_RUNNING_US;
	if (r->o->quiet == 0)
		al_oplog("info", r->id, s->def->id, s->attempt, NULL, "started (pid %d)",
		         (int)s->proc.pid);
}

/* ------------------------------------------------------------------ */
/* Ending an attempt: outputs, retries, on_failure.                    */

static int promote(struct run *r, struct step_rt *s, json_t *files)
{
	char stage[PATH_MAX], dest[PATH_MAX * 2], old[PATH_MAX * 2];
	struct al_err err = {0};
	struct stat st;
	int dfd = -1, ret = -1;

	stage_path(r, s, stage, sizeof stage);
	al_snprintf(dest, sizeof dest, "%s/%s", r->out_dir, s->def->id);
	if (json_array_size(files) == 0 && lstat(dest, &st) < 0 && errno == ENOENT) {
		keep_spare(r, stage); /* nothing to promote, no earlier commit to replace */
		return 0;
	}
	if (al_mkdirs(r->out_dir, 0700, &err) < 0)
		goto fail;
	dfd = open(r->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		al_err_sys(&err, "%s", r->out_dir);
		goto fail;
	}
	if (lstat(dest, &st) == 0) {
		/* One rename swaps the old commit out and the new one in. */
		if (syscall(SYS_renameat2, AT_FDCWD, stage, AT_FDCWD, dest, RENAME_EXCHANGE) < 0) {
			al_err_sys(&err, "%s: cannot promote into %s", stage, dest);
			goto fail;
		}
		al_snprintf(old, sizeof old, "%s", stage);
		(void)al_rm_tree(AT_FDCWD, old);
	} else if (al_sys_renameat(AT_FDCWD, stage, AT_FDCWD, dest) < 0) {
		al_err_sys(&err, "%s: cannot promote into %s", stage, dest);
		goto fail;
	}
	al_kill_point("promote");
	if (al_sys_fsync(dfd) < 0) {
		al_err_sys(&err, "%s: fsync", r->out_dir);
		goto fail;
	}
	ret = 0;
fail:
	if (ret < 0) {
		al_snprintf(s->reason, sizeof s->reason, "%s", err.msg);
		al_oplog("error", r->id, s->def->id, s->attempt, NULL, "%s", err.msg);
	}
	if (dfd >= 0)
		close(dfd);
	return ret;
}

static int commit(struct run *r, struct step_rt *s, json_t *files,
                  const struct al_attempt_row *a)
{
	char dest[PATH_MAX * 2], *text;
	struct al_commit_row c = {0};
	struct al_step_row row;
	struct al_err err = {0};

	al_snprintf(dest, sizeof dest, "%s/%s", r->out_dir, s->def->id);
	/* output.staged precedes the promotion: durable first, when there is
	 * anything to promote. output.committed is made durable by the next
	 * synced entry (a step.start, run.end): recovery completes a commit
	 * whose entry a power loss took (FORMAT.md, runner/README.md). */
	if (json_array_size(files) > 0 &&
	    audit(r, "output.staged",
	          json_pack("{s:s,s:s,s:i,s:O}", "run", r->id, "step", s->def->id, "attempt",
	                    s->attempt, "files", files),
	          AL_AUDIT_SYNC) < 0)
		return -1;
	{
		/* What recovery needs to finish the commit if airlock dies now. */
		json_t *sj = json_pack("{s:O,s:s,s:s}", "files", files, "inputs_sha256", s->inputs_sha,
		                       "manifest_sha256", r->msha);
		char *st = al_json_dump(sj);
		json_decref(sj);
		if (json_array_size(files) > 0) {
			/* in state.db before the rename, for recovery to finish */
			save_step(r, s, "staged", st);
			tx_flush(r);
		}
		free(st);
	}
	text = al_json_dump(files);
	if (promote(r, s, files) < 0) {
		free(text);
		return -1;
	}
	if (audit(r, "output.committed",
	          json_pack("{s:s,s:s,s:O,s:s,s:s,s:s}", "run", r->id, "step", s->def->id, "files",
	                    files, "dest", dest, "manifest_sha256", r->msha, "inputs_sha256",
	                    s->inputs_sha),
	          0) < 0) {
		free(text);
		return -1;
	}
	al_snprintf(c.manifest_sha256, sizeof c.manifest_sha256, "%s", r->msha);
	al_snprintf(c.inputs_sha256, sizeof c.inputs_sha256, "%s", s->inputs_sha);
	al_snprintf(c.run, sizeof c.run, "%s", r->id);
	c.files = text;
	c.committed_us = al_now_us();
	s->state = S_OK;
	step_row(r, s, &row, "ok");
	eng_tx(r);
	if (al_state_attempt_put(r->st, r->id, a, &err) < 0 ||
	    al_state_commit_put(r->st, r->m->pipeline, r->date, s->def->id, &c, r->id, &row, &err) < 0)
		state_warn(r, &err);
	free(text);
	return 0;
}

static int cond_listed(const struct al_retries *rt, const char *cond)
{
	if (rt->on == 0)
		return 1;
	if (strcmp(cond, "timeout") == 0)
		return (rt->on & AL_RETRY_ON_TIMEOUT) != 0;
	if (strcmp(cond, "signal") == 0)
		return (rt->on & AL_RETRY_ON_SIGNAL) != 0;
	if (strcmp(cond, "verify") == 0)
		return (rt->on & AL_RETRY_ON_VERIFY) != 0;
	if (strncmp(cond, "exit:", 5) == 0 && (rt->on & AL_RETRY_ON_EXIT)) {
		int code = (int)strtol(cond + 5, NULL, 10); /* made by proc_ended: "exit:N" */
		for (size_t i = 0; i < rt->exit_n; i++)
			if (rt->exit_codes[i] == code)
				return 1;
	}
	return 0;
}

static void schedule_retry(struct run *r, struct step_rt *s, const char *cond)
{
	const struct al_retries *rt = &s->def->retries;
	int64_t now = al_now_us(), delay = al_retry_delay_ms(s->key, s->attempt, rt->base_ms, rt->cap_ms);
	int64_t pause = 0;
	size_t in_window = 0;
	json_t *f;

	/* The retry-storm rule: more than AL_STORM_RETRIES retries within
	 * the window raise an alert and pause retries until it has passed. */
	for (size_t i = 0; i < r->retries_n; i++)
		if (r->retries[i] > now - AL_STORM_WINDOW_MS * 1000)
			in_window++;
	if (in_window >= AL_STORM_RETRIES) {
		int64_t oldest = now;
		for (size_t i = 0; i < r->retries_n; i++)
			if (r->retries[i] > now - AL_STORM_WINDOW_MS * 1000 && r->retries[i] < oldest)
				oldest = r->retries[i];
		if (r->storm_until_us <= now) {
			r->storm_until_us = oldest + AL_STORM_WINDOW_MS * 1000;
			eng_alert(r, NULL, "retry-storm",
			          "more than 5 retries within 60 s: retries pause until the window has "
			          "passed",
			          json_pack("{s:i,s:I}", "retries", (int)in_window + 1, "window_ms",
			                    (json_int_t)AL_STORM_WINDOW_MS));
			al_oplog("warn", r->id, s->def->id, s->attempt, NULL,
			         "retry storm: retries pause for %lld ms",
			         (long long)((r->storm_until_us - now) / 1000));
		}
	}
	if (r->storm_until_us > now)
		pause = (r->storm_until_us - now) / 1000;
	/* Keep the newest AL_STORM_RETRIES + 1 retry times. */
	if (r->retries_n == sizeof r->retries / sizeof r->retries[0]) {
		memmove(r->retries, r->retries + 1, (r->retries_n - 1) * sizeof r->retries[0]);
		r->retries_n--;
	}
	r->retries[r->retries_n++] = now + (delay > pause ? delay : pause) * 1000;
	f = json_pack("{s:s,s:s,s:i,s:I,s:s}", "run", r->id, "step", s->def->id, "attempt",
	              s->attempt + 1, "delay_ms", (json_int_t)delay, "reason", cond);
	if (pause > 0)
		json_object_set_new(f, "paused_ms", json_integer(pause));
	if (audit(r, "step.retry", f, 0) < 0)
		return;
	s->state = S_WAITING;
	s->ready_at_us = now + (delay > pause ? delay : pause) * 1000;
	save_step(r, s, "retrying", NULL);
	if (r->o->quiet == 0)
		al_oplog("warn", r->id, s->def->id, s->attempt, NULL, "failed (%s): retry in %lld ms",
		         cond, (long long)(delay > pause ? delay : pause));
}

static void fail_final(struct run *r, struct step_rt *s)
{
	s->state = S_FAILED;
	s->end_us = al_now_us();
	save_step(r, s, NULL, NULL);
	r->metrics_dirty = 1;
	al_utf8_fix(s->reason);
	if (r->cause[0] == '\0') {
		al_snprintf(r->cause, sizeof r->cause, "step %s: %s", s->def->id, s->reason);
		al_utf8_fix(r->cause);
	}
	if (s->def->kind == AL_KIND_NOTIFY)
		(void)audit(r, "notify.failed",
		            json_pack("{s:s,s:s,s:i,s:s}", "run", r->id, "step", s->def->id, "attempt",
		                      s->attempt, "reason", s->reason),
		            0);
	switch (s->def->on_failure) {
	case AL_FAIL_ABORT: {
		char msg[800];
		r->failed = 1;
		al_snprintf(msg, sizeof msg, "step %s failed after %d attempt%s: %s; the run stops",
		            s->def->id, s->attempt, s->attempt == 1 ? "" : "s", s->reason);
		if (!r->aborting)
			eng_alert(r, s->def->id, "step-failed", msg, NULL);
		r->aborting = 1;
		break;
	}
	case AL_FAIL_SKIP:
		(void)audit(r, "step.skipped",
		            json_pack("{s:s,s:s,s:s}", "run", r->id, "step", s->def->id, "reason",
		                      "on-failure-skip"),
		            0);
		al_oplog("warn", r->id, s->def->id, s->attempt, NULL,
		         "failed: %s: its dependants are skipped (on_failure: skip)", s->reason);
		break;
	case AL_FAIL_ALERT: {
		char msg[800];
		al_snprintf(msg, sizeof msg, "step %s failed after %d attempt%s: %s", s->def->id,
		         s->attempt, s->attempt == 1 ? "" : "s", s->reason);
		eng_alert(r, s->def->id, "step-failed", msg, NULL);
		r->failed = 1;
		break;
	}
	}
}

/* The end of an attempt: end is the step.end fields so far (consumed). */
static void finish_attempt(struct run *r, struct step_rt *s, const char *status, int exit_code,
                           int sig, const char *cond, json_t *end)
{
	struct al_attempt_row a = {0};
	struct al_err err = {0};
	json_t *files = NULL;
	int ok = strcmp(status, "ok") == 0;

	s->end_us = al_now_us();
	s->exit_code = exit_code;
	s->sig = sig;
	r->metrics_dirty = 1;
	al_snprintf(s->status, sizeof s->status, "%s", status);
	if (ok) {
		char stage[PATH_MAX];
		struct walk w = {.files = json_array()};
		int fd;
		stage_path(r, s, stage, sizeof stage);
		fd = open(stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			al_snprintf(w.reason, sizeof w.reason, "%s: %s", stage, strerror(errno));
		} else if (walk_stage(fd, "", &w) == 0 &&
		           check_outputs(s, fd, w.files, w.reason, sizeof w.reason) == 0) {
			w.reason[0] = '\0';
		} else if (w.reason[0] == '\0') {
			al_snprintf(w.reason, sizeof w.reason, "outputs: cannot check");
		}
		if (fd >= 0)
			close(fd);
		if (w.reason[0] != '\0') {
			ok = 0;
			status = "failed";
			al_snprintf(s->status, sizeof s->status, "failed");
			cond = "verify";
			al_utf8_fix(w.reason); /* it may name a file the step made */
			al_snprintf(s->reason, sizeof s->reason, "%s", w.reason);
			json_object_set_new(end, "reason", json_string(w.reason));
			json_decref(w.files);
		} else {
			files = w.files;
		}
	} else if (s->reason[0] == '\0' || json_object_get(end, "reason") == NULL) {
		al_snprintf(s->reason, sizeof s->reason, "%s", cond);
	}
	json_object_set_new(end, "status", json_string(status));
	{
		int64_t began = s->proc.start_us ? s->proc.start_us : s->end_us;
		json_object_set_new(end, "duration_ms", json_integer((s->end_us - began) / 1000));
		eng_tx(r);
		if (al_state_step_total(r->st, r->m->pipeline, s->def->id, !ok, s->end_us - began,
		                        s->end_us, &err) < 0)
			state_warn(r, &err);
	}
	{
		/* Keys in the documented order: run step attempt exit signal status... */
		json_t *f = json_pack("{s:s,s:s,s:i,s:i,s:o}", "run", r->id, "step", s->def->id,
		                      "attempt", s->attempt, "exit", exit_code, "signal",
		                      sig ? json_integer(sig) : json_null());
		json_object_update(f, end);
		json_decref(end);
		(void)audit(r, "step.end", f, 0);
	}
	/* A failed interruption is airlock's doing, not the resource's. */
	if (s->def->resource != NULL && !(r->interrupted && !ok))
		eng_breaker_result(r, s, ok);
	al_snprintf(a.step, sizeof a.step, "%s", s->def->id);
	a.attempt = s->attempt;
	a.start_us = s->proc.start_us;
	a.end_us = s->end_us;
	a.exit_code = exit_code;
	a.signal = sig;
	al_snprintf(a.status, sizeof a.status, "%s", status);
	a.pid = s->proc.pid;
	/* A success's attempt row goes in the commit's transaction. */
	if (!ok)
		eng_tx(r);
	if (!ok && al_state_attempt_put(r->st, r->id, &a, &err) < 0)
		state_warn(r, &err);
	if (ok) {
		if (r->audit_failed || commit(r, s, files, &a) < 0) {
			json_decref(files);
			/* The outputs could not be promoted: a failure of the environment. */
			al_snprintf(s->reason, sizeof s->reason, "%s",
			         r->audit_failed ? "the audit log cannot be written" : s->reason);
			s->state = S_FAILED;
			r->failed = 1;
			r->aborting = 1;
			save_step(r, s, NULL, NULL);
			return;
		}
		json_decref(s->committed);
		s->committed = files;
		if (s->def->kind == AL_KIND_NOTIFY)
			(void)audit(r, "notify.sent",
			            json_pack("{s:s,s:s,s:i}", "run", r->id, "step", s->def->id, "attempt",
			                      s->attempt),
			            0);
		if (r->o->quiet == 0)
			al_oplog("info", r->id, s->def->id, s->attempt, NULL, "ok (%lld ms)",
			         (long long)((s->end_us - s->start_us) / 1000));
		return;
	}
	if (!r->interrupted && !r->audit_failed && !r->aborting && !s->no_retry &&
	    s->attempt <= s->def->retries.max && cond_listed(&s->def->retries, cond)) {
		schedule_retry(r, s, cond);
		if (s->state == S_WAITING)
			return;
	}
	if (r->interrupted) {
		s->state = S_FAILED;
		save_step(r, s, "interrupted", NULL);
		return;
	}
	fail_final(r, s);
}

/* What a built-in kind reported (builtin.c): await.ready or
 * validate.result, before the step.end; returns 1 when it gave the
 * failure's reason (now in s->reason and end). */
static int builtin_result(struct run *r, struct step_rt *s, json_t *end, int exit_code)
{
	char path[PATH_MAX];
	struct al_err err = {0};
	const char *reason;
	json_t *res;
	int given = 0;

	result_path(r, s, path, sizeof path);
	res = al_json_load_file(path, 1 << 20, &err);
	if (res == NULL)
		return 0; /* killed before it could say (a timeout) */
	if (json_is_false(json_object_get(res, "retryable")))
		s->no_retry = 1;
	if (s->def->kind == AL_KIND_AWAIT && exit_code == 0) {
		(void)audit(r, "await.ready",
		            json_pack("{s:s,s:s,s:i,s:O,s:O,s:O,s:O}", "run", r->id, "step", s->def->id,
		                      "attempt", s->attempt, "dir", json_object_get(res, "dir"), "files",
		                      json_object_get(res, "files"), "waited_ms",
		                      json_object_get(res, "waited_ms"), "polls",
		                      json_object_get(res, "polls")),
		            0);
	} else if (s->def->kind == AL_KIND_VALIDATE && json_object_get(res, "records") != NULL) {
		json_t *f = json_pack("{s:s,s:s,s:i}", "run", r->id, "step", s->def->id, "attempt",
		                      s->attempt);
		static const char *const keys[] = {"records", "accepted", "rejected", "reject_ratio",
		                                   "limit", "quarantine", "first_reject", NULL};
		for (int i = 0; keys[i] != NULL; i++)
			if (json_object_get(res, keys[i]) != NULL)
				json_object_set(f, keys[i], json_object_get(res, keys[i]));
		(void)audit(r, "validate.result", f, 0);
		if (json_integer_value(json_object_get(res, "accepted")) == 0)
			s->empty_output = 1;
		if (exit_code == 1 && s->no_retry)
			eng_alert(r, s->def->id, "reject-threshold",
			          json_string_value(json_object_get(res, "reason")),
			          json_pack("{s:O,s:O,s:O}", "rejected", json_object_get(res, "rejected"),
			                    "limit", json_object_get(res, "limit"), "quarantine",
			                    json_object_get(res, "quarantine")));
	}
	reason = json_string_value(json_object_get(res, "reason"));
	if (reason == NULL)
		reason = json_string_value(json_object_get(res, "error"));
	if (reason != NULL && exit_code != 0) {
		al_snprintf(s->reason, sizeof s->reason, "%s", reason);
		json_object_set_new(end, "reason", json_string(reason));
		given = 1;
	}
	json_decref(res);
	return given;
}

/* A process of a running step has ended and its pipes are drained. */
static void proc_ended(struct run *r, struct step_rt *s)
{
	int ws = s->proc.wstatus, exit_code, sig = 0;
	const char *status, *cond;
	char condbuf[16];
	json_t *res;
	int given;

	al_proc_finish(&s->proc);
	s->running = 0;
	s->note_at_us = 0;
	r->running_n--;
	if (WIFEXITED(ws)) {
		exit_code = WEXITSTATUS(ws);
		status = exit_code == 0 ? "ok" : "failed";
		al_snprintf(condbuf, sizeof condbuf, "exit:%d", exit_code);
		cond = condbuf;
	} else {
		sig = WTERMSIG(ws);
		exit_code = 128 + sig;
		status = "killed";
		cond = "signal";
	}
	if (s->timed_out) {
		status = "timeout";
		cond = "timeout";
	}
	if (s->phase == 0) {
		res = json_pack("{s:o,s:o}", "stdout", cap_json(&s->proc.out), "stderr",
		                cap_json(&s->proc.err));
		if (s->timed_out)
			json_object_set_new(res, "reason", json_string("timeout"));
		given = is_builtin(s) && builtin_result(r, s, res, exit_code);
		/* An await that timed out is final: its on_failure decides. */
		if (s->def->kind == AL_KIND_AWAIT && s->timed_out) {
			s->no_retry = 1;
			al_snprintf(s->reason, sizeof s->reason, "timeout: %s",
			            "the awaited input was not ready in time");
			json_object_set_new(res, "reason", json_string(s->reason));
			given = 1;
		}
		if (strcmp(status, "ok") == 0 && s->def->verify != NULL && !r->interrupted) {
			struct al_err err = {0};
			s->main_end = res;
			s->phase = 1;
			if (spawn_phase(r, s, &err) == 0) {
				r->running_n++;
				return;
			}
			json_object_set_new(s->main_end, "verify",
			                    json_pack("{s:s}", "error", err.msg));
			al_snprintf(s->reason, sizeof s->reason, "verify: %s", err.msg);
			json_object_set_new(s->main_end, "reason", json_string(s->reason));
			res = s->main_end;
			s->main_end = NULL;
			finish_attempt(r, s, "failed", 0, 0, "verify", res);
			return;
		}
		if (strcmp(status, "ok") != 0 && !given)
			al_snprintf(s->reason, sizeof s->reason, "%s",
			         s->timed_out ? "timeout" : sig ? "killed by a signal" : condbuf);
		finish_attempt(r, s, status, exit_code, sig, cond, res);
		return;
	}
	/* The verify command's verdict decides the attempt. */
	res = s->main_end;
	s->main_end = NULL;
	json_object_set_new(res, "verify",
	                    json_pack("{s:i,s:o,s:s,s:o,s:o}", "exit", exit_code, "signal",
	                              sig ? json_integer(sig) : json_null(), "status", status,
	                              "stdout", cap_json(&s->proc.out), "stderr",
	                              cap_json(&s->proc.err)));
	if (strcmp(status, "ok") == 0) {
		finish_attempt(r, s, "ok", 0, 0, "", res);
		return;
	}
	al_snprintf(s->reason, sizeof s->reason, "verify %s (exit %d)", status, exit_code);
	json_object_set_new(res, "reason", json_string(s->reason));
	finish_attempt(r, s, "failed", 0, 0, s->timed_out ? "timeout" : "verify", res);
}

/* ------------------------------------------------------------------ */
/* Scheduling.                                                         */

static int need_ok(const struct run *r, struct step_rt *s, int *bad)
{
	const struct step_rt *w = &r->steps[s->wait_on];

	*bad = 0;
	/* the need that held the step back last time, first: O(1) while it runs */
	if (s->def->needs_n > 0 &&
	    (w->state == S_PENDING || w->state == S_WAITING || w->state == S_RUNNING))
		return 0;
	for (size_t i = 0; i < s->def->needs_n; i++) {
		const struct step_rt *d = &r->steps[s->def->needs[i]];
		if (d->state == S_PENDING || d->state == S_WAITING || d->state == S_RUNNING) {
			s->wait_on = s->def->needs[i];
			return 0;
		}
		if (d->state != S_OK)
			*bad = 1;
	}
	return 1;
}

static void skip(struct run *r, struct step_rt *s, const char *reason)
{
	s->state = S_SKIPPED;
	al_snprintf(s->skip_reason, sizeof s->skip_reason, "%s", reason);
	(void)audit(r, "step.skipped",
	            json_pack("{s:s,s:s,s:s}", "run", r->id, "step", s->def->id, "reason", reason), 0);
	save_step(r, s, NULL, NULL);
}

/* metrics/airlock.prom after a step: at most once a second (a scrape
 * every 15 s or more sees no difference; a chain of quick steps would
 * pay a file creation each), and always at the run's end. */
static void metrics(struct run *r, int force)
{
	struct al_err err = {0};
	int64_t now = al_now_us();

	if (!force && now - r->metrics_us < AL_METRICS_EVERY_US)
		return;
	r->metrics_us = now;
	if (al_metrics_write(r->o->home, r->st, r->log != NULL ? (int64_t)al_audit_last_seq(r->log) : -1,
	                     &err) < 0)
		al_oplog("warn", r->id, NULL, 0, NULL, "metrics: %s", err.msg);
}

/* A step about to start whose resource's breaker is open fails fast:
 * step.blocked, not an attempt. Returns 1 when the step may start. */
static int admit(struct run *r, struct step_rt *s)
{
	int a;

	if (s->def->resource == NULL)
		return 1;
	a = eng_breaker_admit(r, s);
	if (a >= 0)
		return a;
	if (audit(r, "step.blocked",
	          json_pack("{s:s,s:s,s:s,s:s}", "run", r->id, "step", s->def->id, "resource",
	                    s->def->resource, "reason", s->reason),
	          0) < 0)
		return 0;
	al_oplog("error", r->id, s->def->id, 0, NULL, "%s", s->reason);
	fail_final(r, s);
	return 0;
}

static int stopping(const struct run *r)
{
	return r->interrupted || r->audit_failed;
}

static int terminal(const struct step_rt *s)
{
	return s->state == S_OK || s->state == S_FAILED || s->state == S_SKIPPED;
}

/* Steps before lo are done: the loops start there (a 1000-step chain
 * would otherwise cost a scan of every step at each turn). */
static void advance_lo(struct run *r)
{
	while (r->lo < r->n && terminal(&r->steps[r->lo]))
		r->lo++;
}

static void schedule(struct run *r, int64_t now)
{
	advance_lo(r);
	for (size_t i = r->lo; i < r->n && !stopping(r); i++) {
		struct step_rt *s = &r->steps[i];
		int bad;
		if (s->state == S_WAITING) {
			if (r->aborting) {
				al_snprintf(s->reason, sizeof s->reason, "retry cancelled: the run was aborted");
				s->state = S_FAILED;
				save_step(r, s, NULL, NULL);
				continue;
			}
			if (now >= s->ready_at_us && r->running_n < r->jobs && admit(r, s))
				start_attempt(r, s);
			continue;
		}
		if (s->state != S_PENDING || !need_ok(r, s, &bad))
			continue;
		if (r->preflight_failed && s->def->kind != AL_KIND_NOTIFY) {
			skip(r, s, "preflight-failed");
			continue;
		}
		if (r->aborting && s->def->when != AL_WHEN_ALWAYS) {
			skip(r, s, "run-aborted");
			continue;
		}
		/* after a failed pre-flight, a notify step reports it, whatever its needs */
		if (r->preflight_failed && s->def->kind == AL_KIND_NOTIFY)
			bad = 0;
		if (bad && s->def->when != AL_WHEN_ALWAYS) {
			for (size_t k = 0; k < s->def->needs_n; k++) {
				const struct step_rt *d = &r->steps[s->def->needs[k]];
				if (s->selected && d->state == S_SKIPPED &&
				    strcmp(d->skip_reason, "not-selected") == 0) {
					/* --only S with a need that has no intact commit */
					al_oplog("error", r->id, s->def->id, 0, NULL,
					         "needs %s, which is not selected (--only) and has no intact "
					         "commit for %s",
					         d->def->id, r->date);
					r->failed = 1;
				}
			}
			skip(r, s, "upstream-failed");
			continue;
		}
		if (!s->prepared) {
			int p = prepare(r, s);
			if (stopping(r))
				return;
			if (p == 1) {
				s->state = S_OK;
				al_snprintf(s->skip_reason, sizeof s->skip_reason, "already-committed");
				save_step(r, s, "ok", NULL);
				continue;
			}
			if (p < 0) {
				(void)audit(r, "step.end",
				            json_pack("{s:s,s:s,s:i,s:n,s:n,s:s,s:i,s:s}", "run", r->id, "step",
				                      s->def->id, "attempt", 0, "exit", "signal", "status",
				                      "failed", "duration_ms", 0, "reason", s->reason),
				            0);
				fail_final(r, s);
				continue;
			}
			if (!s->selected) {
				skip(r, s, "not-selected");
				continue;
			}
		}
		if (r->running_n >= r->jobs || !admit(r, s))
			continue;
		start_attempt(r, s);
	}
}

/* ------------------------------------------------------------------ */
/* The loop.                                                           */

static struct step_rt *by_pid(struct run *r, pid_t pid)
{
	for (size_t i = r->lo; i < r->n; i++)
		if (r->steps[i].running && r->steps[i].proc.pid == pid)
			return &r->steps[i];
	return NULL;
}

static void signal_all(struct run *r, int sig)
{
	int64_t now = al_now_us();

	for (size_t i = r->lo; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		if (!s->running || s->proc.exited)
			continue;
		(void)kill(-s->proc.pid, sig);
		if (sig == SIGTERM && !s->term_sent) {
			s->term_sent = 1;
			s->kill_at_us = now + r->grace_ms * 1000;
		}
	}
}

static void on_signal(struct run *r, const struct signalfd_siginfo *si)
{
	if (si->ssi_signo == SIGCHLD) {
		int ws;
		pid_t pid;
		while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
			struct step_rt *s = by_pid(r, pid);
			if (s != NULL)
				al_proc_exited(&s->proc, ws);
		}
		return;
	}
	if (r->interrupted) {
		al_oplog("warn", r->id, NULL, 0, NULL, "second signal: killing the running steps");
		signal_all(r, SIGKILL);
		return;
	}
	r->interrupted = 1;
	al_oplog("warn", r->id, NULL, 0, NULL,
	         "signal %d: stopping; running steps get SIGTERM, then SIGKILL after %lld ms",
	         (int)si->ssi_signo, (long long)r->grace_ms);
	signal_all(r, SIGTERM);
}

static void check_timers(struct run *r, int64_t now)
{
	for (size_t i = r->lo; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		if (!s->running || s->proc.exited)
			continue;
		if (s->note_at_us && now >= s->note_at_us)
			note_running(r, s);
		if (s->deadline_us && now >= s->deadline_us && !s->timed_out) {
			s->timed_out = 1;
			(void)kill(-s->proc.pid, SIGTERM);
			s->term_sent = 1;
			s->kill_at_us = now + r->grace_ms * 1000;
			al_oplog("warn", r->id, s->def->id, s->attempt, NULL,
			         "timeout after %lld ms: SIGTERM to its process group",
			         (long long)s->def->timeout_ms);
		}
		if (s->kill_at_us && now >= s->kill_at_us && !s->kill_sent) {
			s->kill_sent = 1;
			(void)kill(-s->proc.pid, SIGKILL);
		}
	}
}

static int64_t next_wake(const struct run *r, int64_t now)
{
	int64_t t = now + 1000 * 1000;

	if (r->tx && r->tx_us + TX_BATCH_US < t)
		t = r->tx_us + TX_BATCH_US;

	for (size_t i = r->lo; i < r->n; i++) {
		const struct step_rt *s = &r->steps[i];
		if (s->state == S_WAITING && !stopping(r) && s->ready_at_us < t)
			t = s->ready_at_us;
		if (!s->running)
			continue;
		if (s->proc.exited && s->proc.drain_until_us < t)
			t = s->proc.drain_until_us;
		if (!s->proc.exited && s->deadline_us && !s->timed_out && s->deadline_us < t)
			t = s->deadline_us;
		if (!s->proc.exited && s->note_at_us && s->note_at_us < t)
			t = s->note_at_us;
		if (!s->proc.exited && s->kill_at_us && !s->kill_sent && s->kill_at_us < t)
			t = s->kill_at_us;
	}
	return t;
}

static int work_left(const struct run *r)
{
	if (r->running_n > 0)
		return 1;
	if (stopping(r))
		return 0;
	for (size_t i = r->lo; i < r->n; i++)
		if (r->steps[i].state == S_PENDING || r->steps[i].state == S_WAITING)
			return 1;
	return 0;
}

static void loop(struct run *r)
{
	size_t cap = 1 + 2 * r->n;
	struct pollfd *pf = calloc(cap, sizeof *pf);
	struct al_capture **caps = calloc(cap, sizeof(struct al_capture *));
	struct step_rt **owners = calloc(cap, sizeof(struct step_rt *));

	if (pf == NULL || caps == NULL || owners == NULL) {
		al_oplog("error", r->id, NULL, 0, NULL, "cannot allocate memory");
		r->failed = 1;
		goto out;
	}
	for (;;) {
		int64_t now = al_now_us(), wake;
		size_t n = 1;
		int timeout;
		/* Finished processes: their results, then new starts. */
		for (size_t i = r->lo; i < r->n; i++)
			if (r->steps[i].running && al_proc_done(&r->steps[i].proc, now))
				proc_ended(r, &r->steps[i]);
		schedule(r, now);
		if (r->metrics_dirty && now - r->metrics_us >= AL_METRICS_EVERY_US) {
			metrics(r, 0);
			r->metrics_dirty = 0;
		}
		if (!work_left(r))
			break;
		pf[0].fd = r->sfd;
		pf[0].events = POLLIN;
		for (size_t i = r->lo; i < r->n; i++) {
			struct step_rt *s = &r->steps[i];
			struct al_capture *cs[2] = {&s->proc.out, &s->proc.err};
			if (!s->running)
				continue;
			for (int k = 0; k < 2; k++) {
				if (cs[k]->pipe < 0)
					continue;
				pf[n].fd = cs[k]->pipe;
				pf[n].events = POLLIN;
				caps[n] = cs[k];
				owners[n] = s;
				n++;
			}
		}
		wake = next_wake(r, now);
		timeout = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
		if (poll(pf, n, timeout) < 0 && errno != EINTR) {
			al_oplog("error", r->id, NULL, 0, NULL, "poll: %s", strerror(errno));
			r->interrupted = 1;
			signal_all(r, SIGTERM);
		}
		for (size_t i = 1; i < n; i++)
			if (pf[i].revents != 0)
				al_proc_read(&owners[i]->proc, caps[i]);
		if (pf[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(r->sfd, &si, sizeof si) == (ssize_t)sizeof si)
				on_signal(r, &si);
		}
		check_timers(r, al_now_us());
		if (r->tx && al_now_us() - r->tx_us >= TX_BATCH_US)
			tx_flush(r);
	}
	tx_flush(r);
out:
	free(pf);
	free(caps);
	free(owners);
}

/* ------------------------------------------------------------------ */
/* The pipeline: an installed one, a bundle or a directory.            */

static int load_target(struct run *r, struct al_err *err)
{
	const struct al_run_opts *o = r->o;
	struct stat st;
	unsigned char sum[AL_SHA256_LEN];
	char path[PATH_MAX];

	if (stat(o->target, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!o->unsigned_ok)
			return al_err_set(err, AL_EUSAGE,
			                  "%s: a pipeline directory is unsigned: give --unsigned to run it "
			                  "(the audit marks the run \"unsigned\"), or pack, sign and "
			                  "install it",
			                  o->target);
		if (realpath(o->target, r->bundle_dir) == NULL)
			return al_err_sys(err, "%s", o->target);
		if (al_pipeline_dir_manifest(r->bundle_dir, &r->mtext, &r->mlen, &r->m, err) < 0)
			return -1;
		al_snprintf(r->source, sizeof r->source, "dir");
	} else if (o->bundle_dir != NULL) {
		/* A bundle the command layer verified and extracted just now. */
		char mpath[PATH_MAX + 16];
		al_snprintf(r->bundle_dir, sizeof r->bundle_dir, "%s", o->bundle_dir);
		al_snprintf(mpath, sizeof mpath, "%s/manifest.json", o->bundle_dir);
		if (al_read_file(AT_FDCWD, mpath, AL_MANIFEST_MAX, &r->mtext, &r->mlen, err) < 0)
			return -1;
		r->m = al_manifest_parse(r->mtext, r->mlen, mpath, AL_MANIFEST_BUNDLE, err);
		if (r->m == NULL)
			return -1;
		al_snprintf(r->source, sizeof r->source, "bundle");
	} else {
		r->m = al_pipeline_load(o->home, o->target, &r->mtext, &r->mlen, err);
		if (r->m == NULL)
			return -1;
		al_snprintf(path, sizeof path, "%s/pipelines/%s", o->home, o->target);
		if (realpath(path, r->bundle_dir) == NULL)
			return al_err_sys(err, "%s", path);
		al_snprintf(r->source, sizeof r->source, "installed");
	}
	al_sha256_buf(r->mtext, r->mlen, sum);
	al_hex(sum, sizeof sum, r->msha);
	return 0;
}

/* An installed bundle's files are checked again before each run: a file
 * changed on the host since install is refused, named. */
static int check_files(struct run *r, struct al_err *err)
{
	for (size_t i = 0; i < r->m->files_n; i++) {
		const struct al_file *f = &r->m->files[i];
		char full[PATH_MAX * 2];
		unsigned char sum[AL_SHA256_LEN];
		uint64_t size;
		al_snprintf(full, sizeof full, "%s/%s", r->bundle_dir, f->path);
		if (al_sha256_file(full, sum, &size, err) < 0) {
			err->code = AL_EVERIFY;
			return -1;
		}
		if (size != f->size || memcmp(sum, f->sha256, sizeof sum) != 0)
			return al_err_set(err, AL_EVERIFY,
			                  "%s: differs from the manifest (sha256 or size): the installed "
			                  "pipeline was changed on this host; reinstall its bundle",
			                  full);
	}
	return 0;
}

static int lock_pipeline(struct run *r, struct al_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 100], holder[512] = "";
	ssize_t n;

	al_snprintf(dir, sizeof dir, "%s/locks", r->o->home);
	if (al_mkdirs(dir, 0700, err) < 0)
		return -1;
	al_snprintf(path, sizeof path, "%s/%s.lock", dir, r->m->pipeline);
	r->lockfd = al_openat(AT_FDCWD, path, O_RDWR | O_CREAT, 0600);
	if (r->lockfd < 0)
		return al_err_sys(err, "%s", path);
	if (flock(r->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return al_err_sys(err, "%s: flock", path);
	n = pread(r->lockfd, holder, sizeof holder - 1, 0);
	holder[n > 0 ? n : 0] = '\0';
	holder[strcspn(holder, "\n")] = '\0';
	return al_err_set(err, AL_EBUSY, "pipeline %s is running already: %s (lock %s)",
	                  r->m->pipeline, holder[0] ? holder : "holder unknown", path);
}

static void lock_note(struct run *r)
{
	char buf[256], ts[AL_TS_LEN];
	int len;

	al_ts_format(r->start_us, ts);
	len = snprintf(buf, sizeof buf, "pid %d, run %s, since %s\n", (int)getpid(), r->id, ts);
	if (ftruncate(r->lockfd, 0) == 0)
		(void)!pwrite(r->lockfd, buf, (size_t)len, 0);
}

/* ------------------------------------------------------------------ */
/* Recovery of runs that a crash interrupted.                          */

struct found {
	int n;
	json_t *runs;
};

static int collect_run(void *ctx, const struct al_run_row *row)
{
	struct found *f = ctx;
	json_array_append_new(f->runs, json_pack("{s:s,s:s,s:s,s:I,s:s}", "id", row->id,
	                                         "manifest_sha256", row->manifest_sha256, "date",
	                                         row->date, "start_us", (json_int_t)row->start_us,
	                                         "pipeline", row->pipeline));
	f->n++;
	return 0;
}

struct audit_hit {
	int n;
	char last[4096];
};

static void hit_row(void *ctx, const char *json)
{
	struct audit_hit *h = ctx;

	h->n++;
	al_snprintf(h->last, sizeof h->last, "%s", json);
}

static int audited(struct run *r, const char *run, const char *step, const char *event,
                   struct audit_hit *h)
{
	struct al_audit_query q = {.run = run, .step = step, .event = event};
	struct al_err err = {0};

	memset(h, 0, sizeof *h);
	if (al_audit_sync(r->log, &err) < 0 ||
	    al_audit_query(r->o->home, &q, hit_row, h, &err) < 0) {
		al_oplog("warn", r->id, NULL, 0, NULL, "audit index: %s", err.msg);
		return -1;
	}
	return h->n > 0;
}

/* Records in state.db a commit of run old that the audit log holds (or
 * is about to): step done, files in place. row: the step's row (state
 * set to ok here). */
static void record_commit(struct run *r, const char *date, const char *old,
                          struct al_step_row *row, const char *msha, const char *isha,
                          json_t *files)
{
	struct al_commit_row c = {0};
	struct al_err err = {0};
	char *text = al_json_dump(files);

	al_snprintf(c.manifest_sha256, sizeof c.manifest_sha256, "%s", msha != NULL ? msha : "");
	al_snprintf(c.inputs_sha256, sizeof c.inputs_sha256, "%s", isha != NULL ? isha : "");
	al_snprintf(c.run, sizeof c.run, "%s", old);
	c.files = text;
	c.committed_us = al_now_us();
	al_snprintf(row->state, sizeof row->state, "ok");
	row->staged = NULL;
	if (text == NULL ||
	    al_state_commit_put(r->st, r->m->pipeline, date, row->step, &c, old, row, &err) < 0)
		state_warn(r, &err);
	free(text);
}

static void collect_line(void *ctx, const char *json)
{
	json_t *e = json_loads(json, 0, NULL);

	if (e != NULL)
		json_array_append_new(ctx, e);
}

/* Commits the audit log records for run old that state.db lost (it
 * batches its writes): recorded again when the files are still there. */
static void rebuild_commits(struct run *r, const char *old, const char *date)
{
	struct al_audit_query q = {.run = old, .event = "output.committed"};
	struct al_err err = {0};
	json_t *entries = json_array(), *e;
	size_t i;

	if (al_audit_sync(r->log, &err) < 0 ||
	    al_audit_query(r->o->home, &q, collect_line, entries, &err) < 0) {
		al_oplog("warn", r->id, NULL, 0, NULL, "audit index: %s", err.msg);
		json_decref(entries);
		return;
	}
	json_array_foreach(entries, i, e) {
		const char *step = json_string_value(json_object_get(e, "step"));
		const char *msha = json_string_value(json_object_get(e, "manifest_sha256"));
		const char *isha = json_string_value(json_object_get(e, "inputs_sha256"));
		json_t *files = json_object_get(e, "files");
		struct al_commit_row have;
		struct al_step_row row = {0};
		char dest[PATH_MAX * 2], why[1024];
		int found;
		if (step == NULL || msha == NULL || isha == NULL || !json_is_array(files))
			continue;
		found = al_state_commit_get(r->st, r->m->pipeline, date, step, &have, &err);
		if (found == 1) {
			int same = strcmp(have.run, old) == 0;
			free(have.files);
			if (same)
				continue;
		}
		al_snprintf(dest, sizeof dest, "%s/outputs/%s/%s/%s", r->o->home, r->m->pipeline, date,
		            step);
		if (!commit_intact(dest, files, NULL, why, sizeof why))
			continue;
		al_snprintf(row.step, sizeof row.step, "%s", step);
		row.idx = (int)al_manifest_step(r->m, step);
		row.exit_code = 0;
		record_commit(r, date, old, &row, msha, isha, files);
	}
	json_decref(entries);
}

struct recover_ctx {
	struct run *r;
	const char *old;
	const char *pipeline, *date;
	int ok, failed, skipped;
};

static int recover_step(void *ctx, const struct al_step_row *s)
{
	struct recover_ctx *rc = ctx;
	struct run *r = rc->r;
	char dest[PATH_MAX * 2], why[1024] = "";
	json_t *staged, *files;

	if (strcmp(s->state, "ok") == 0)
		rc->ok++;
	else if (strcmp(s->state, "failed") == 0)
		rc->failed++;
	else if (strcmp(s->state, "skipped") == 0)
		rc->skipped++;
	if (strcmp(s->state, "staged") != 0 || s->staged == NULL)
		return 0;
	al_snprintf(dest, sizeof dest, "%s/outputs/%s/%s/%s", r->o->home, rc->pipeline, rc->date,
	         s->step);
	staged = json_loads(s->staged, 0, NULL);
	files = json_object_get(staged, "files");
	if (files != NULL && commit_intact(dest, files, NULL, why, sizeof why)) {
		/* The rename happened: the commit is completed, and audited once. */
		struct audit_hit h;
		struct al_step_row row = *s;
		const char *msha = json_string_value(json_object_get(staged, "manifest_sha256"));
		const char *isha = json_string_value(json_object_get(staged, "inputs_sha256"));
		if (audited(r, rc->old, s->step, "output.committed", &h) == 0)
			(void)audit(r, "output.committed",
			            json_pack("{s:s,s:s,s:O,s:s,s:s?,s:s?,s:b}", "run", rc->old, "step",
			                      s->step, "files", files, "dest", dest, "manifest_sha256",
			                      msha, "inputs_sha256", isha, "recovered", 1),
			            AL_AUDIT_SYNC);
		record_commit(r, rc->date, rc->old, &row, msha, isha, files);
		rc->ok++;
		al_oplog("info", r->id, s->step, 0, NULL,
		         "run %s had promoted this step's outputs when it was interrupted: recorded as committed",
		         rc->old);
	} else {
		(void)audit(r, "output.discarded",
		            json_pack("{s:s,s:s,s:s}", "run", rc->old, "step", s->step, "reason",
		                      "staged but not promoted when the run was interrupted"),
		            0);
	}
	json_decref(staged);
	return 0;
}

/* Processes a dead run's steps left behind (PR_SET_PDEATHSIG reaches
 * only a step's own process, not its children): found by the
 * AIRLOCK_RUN_ID in their environment, and killed. Returns how many. */
static int kill_leftovers(const char *run)
{
	char needle[96], path[64], *buf = malloc(1 << 16);
	size_t nlen;
	struct dirent *de;
	DIR *d = opendir("/proc");
	int killed = 0;

	if (d == NULL || buf == NULL) {
		if (d != NULL)
			closedir(d);
		free(buf);
		return 0;
	}
	al_snprintf(needle, sizeof needle, "AIRLOCK_RUN_ID=%s", run);
	nlen = strlen(needle) + 1; /* with its NUL */
	while ((de = readdir(d)) != NULL) {
		ssize_t n;
		int fd;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		al_snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, (1 << 16) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (ssize_t i = 0; i + (ssize_t)nlen <= n + 1; i++) {
			if ((i == 0 || buf[i - 1] == '\0') && memcmp(buf + i, needle, nlen) == 0) {
				if (kill((pid_t)strtol(de->d_name, NULL, 10), SIGKILL) == 0)
					killed++;
				break;
			}
		}
	}
	closedir(d);
	free(buf);
	return killed;
}

/* Runs of this pipeline still marked running: their airlock is dead
 * (the lock is ours). Each is recorded interrupted; the newest of the
 * same manifest and date is the one this run resumes. */
static int recover(struct run *r, struct al_err *err)
{
	struct found f = {0, json_array()};
	size_t i;
	json_t *o;

	if (al_state_runs(r->st, r->m->pipeline, "running", 0, collect_run, &f, err) < 0) {
		json_decref(f.runs);
		return -1;
	}
	json_array_foreach(f.runs, i, o) {
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *date = json_string_value(json_object_get(o, "date"));
		struct recover_ctx rc = {r, id, r->m->pipeline, date, 0, 0, 0};
		struct audit_hit h;
		int64_t start = json_integer_value(json_object_get(o, "start_us"));
		char stage[PATH_MAX * 2];
		int leftovers = kill_leftovers(id);
		if (leftovers > 0)
			al_oplog("warn", r->id, NULL, 0, NULL,
			         "killed %d process%s left running by interrupted run %s", leftovers,
			         leftovers == 1 ? "" : "es", id);
		rebuild_commits(r, id, date);
		if (al_state_steps(r->st, id, recover_step, &rc, err) < 0)
			break;
		if (audited(r, id, NULL, "run.end", &h) == 1) {
			/* It ended, and said so; only state.db missed it. */
			json_t *e = json_loads(h.last, 0, NULL);
			const char *status = json_string_value(json_object_get(e, "status"));
			(void)al_state_run_end(r->st, id, status != NULL ? status : "interrupted",
			                       al_now_us(), err);
			json_decref(e);
		} else {
			if (audit(r, "run.end",
			          json_pack("{s:s,s:s,s:I,s:{s:i,s:i,s:i},s:s,s:i}", "run", id, "status",
			                    "interrupted", "duration_ms",
			                    (json_int_t)((al_now_us() - start) / 1000), "steps", "ok", rc.ok,
			                    "failed", rc.failed, "skipped", rc.skipped, "recorded_by", r->id,
			                    "killed_leftovers", leftovers),
			          AL_AUDIT_SYNC) < 0)
				break;
			if (al_state_run_end(r->st, id, "interrupted", al_now_us(), err) < 0)
				state_warn(r, err);
			al_oplog("warn", r->id, NULL, 0, NULL, "run %s was interrupted (airlock died): recorded",
			         id);
		}
		al_snprintf(stage, sizeof stage, "%s/runs/%s/stage", r->o->home, id);
		(void)al_rm_tree(AT_FDCWD, stage);
		if (r->resume_of[0] == '\0' &&
		    strcmp(json_string_value(json_object_get(o, "manifest_sha256")), r->msha) == 0 &&
		    strcmp(date, r->date) == 0)
			al_snprintf(r->resume_of, sizeof r->resume_of, "%s", id);
	}
	json_decref(f.runs);
	return r->audit_failed ? -1 : 0;
}

/* ------------------------------------------------------------------ */

static void make_id(struct run *r)
{
	time_t t = (time_t)(r->start_us / 1000000);
	unsigned char rnd[2];
	struct tm tm;
	char ts[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
		rnd[0] = (unsigned char)getpid();
		rnd[1] = (unsigned char)(r->start_us & 0xff);
	}
	if (fd >= 0)
		close(fd);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
	al_snprintf(r->id, sizeof r->id, "%s-%02x%02x", ts, rnd[0], rnd[1]);
}

/* The kernel's view of the clock; both null when it cannot be asked (a
 * seccomp filter refusing adjtimex): unknown is not "unsynchronised". */
static json_t *clock_json(void)
{
	struct timex tx = {0};
	int state = adjtimex(&tx);

	if (state < 0)
		return json_pack("{s:n,s:n}", "synced", "maxerror_us");
	return json_pack("{s:b,s:I}", "synced", state != TIME_ERROR && !(tx.status & STA_UNSYNC),
	                 "maxerror_us", (json_int_t)tx.maxerror);
}

static int in_list(const char **list, const char *id)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(list[i], id) == 0)
			return 1;
	return 0;
}

static int select_steps(struct run *r, struct al_err *err)
{
	const struct al_run_opts *o = r->o;
	long from = -1;

	for (size_t i = 0; o->only != NULL && o->only[i] != NULL; i++)
		if (al_manifest_step(r->m, o->only[i]) < 0)
			return al_err_set(err, AL_EUSAGE, "--only %s: no such step in %s", o->only[i],
			                  r->m->pipeline);
	for (size_t i = 0; o->force != NULL && o->force[i] != NULL; i++)
		if (al_manifest_step(r->m, o->force[i]) < 0)
			return al_err_set(err, AL_EUSAGE, "--force %s: no such step in %s", o->force[i],
			                  r->m->pipeline);
	if (o->from != NULL && (from = al_manifest_step(r->m, o->from)) < 0)
		return al_err_set(err, AL_EUSAGE, "--from %s: no such step in %s", o->from,
		                  r->m->pipeline);
	for (size_t i = 0; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		s->selected = o->only == NULL || in_list(o->only, s->def->id);
		s->forced = in_list(o->force, s->def->id) || (long)i == from;
		/* --from: the step and everything that depends on it run again. */
		for (size_t k = 0; from >= 0 && !s->forced && k < s->def->needs_n; k++)
			if (r->steps[s->def->needs[k]].forced)
				s->forced = 1;
	}
	return 0;
}

/* Problems that must stop a run before it starts. */
static int preflight(struct run *r, struct al_err *err)
{
	int need_netns = 0, fans = 0;

	for (size_t i = 0; i < r->m->steps_n; i++) {
		const struct al_step *s = &r->m->steps[i];
		if (s->kind == AL_KIND_VALIDATE) {
			char schema[PATH_MAX * 2];
			al_snprintf(schema, sizeof schema, "%s/%s", r->bundle_dir,
			            json_string_value(json_object_get(s->json, "schema")));
			if (al_schema_check(schema, err) < 0) {
				al_err_prefix(err, "step %s: schema", s->id);
				return -1;
			}
		}
		if (!s->network_host)
			need_netns = 1;
		fans += json_object_get(s->json, "fan_out") != NULL;
	}
	if (r->o->shard_n > 0 && fans == 0)
		return al_err_set(err, AL_EUSAGE, "--shard %d/%d: no step of %s fans out (fan_out)",
		                  r->o->shard_i, r->o->shard_n, r->m->pipeline);
	if (need_netns && !r->o->allow_network && al_netns_probe(err) < 0) {
		al_err_prefix(err, "steps with network: none need a new network namespace, and this "
		                   "host refuses one (give --allow-network to run them with the host's "
		                   "network, audited)");
		return -1;
	}
	if (r->m->expires_us != 0 && r->m->expires_us <= al_now_us()) {
		char ts[AL_TS_LEN];
		al_ts_format(r->m->expires_us, ts);
		return al_err_set(err, AL_EVERIFY, "pipeline %s version %lld expired at %s: refused",
		                  r->m->pipeline, (long long)r->m->version, ts);
	}
	if (strcmp(r->source, "dir") != 0 && check_files(r, err) < 0)
		return -1;
	return 0;
}

static int print_plan(struct run *r)
{
	json_t *plan = json_array();

	for (size_t i = 0; i < r->n; i++) {
		struct step_rt *s = &r->steps[i];
		struct al_commit_row c;
		struct al_err err = {0};
		const char *what = "run", *why = "";
		char buf[1200] = "";
		int up = 0;
		for (size_t k = 0; k < s->def->needs_n; k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(plan, s->def->needs[k]),
			                                             "action")),
			           "skip") != 0)
				up = 1;
		if (!s->selected) {
			what = "skip";
			why = "not selected (--only)";
		} else if (s->forced) {
			why = "forced";
		} else if (up) {
			why = "an upstream step runs";
		} else if (al_state_commit_get(r->st, r->m->pipeline, r->date, s->def->id, &c, &err) == 1) {
			json_t *files = json_loads(c.files, 0, NULL);
			char dir[PATH_MAX * 2];
			al_snprintf(dir, sizeof dir, "%s/%s", r->out_dir, s->def->id);
			if (strcmp(c.manifest_sha256, r->msha) != 0) {
				why = "committed by another manifest";
			} else if (files != NULL && commit_intact(dir, files, NULL, buf, sizeof buf)) {
				what = "skip";
				why = "already committed";
			} else {
				why = buf;
			}
			json_decref(files);
			free(c.files);
		} else {
			why = "not committed for this date";
		}
		json_array_append_new(plan, json_pack("{s:s,s:s,s:s}", "step", s->def->id, "action", what,
		                                      "why", why));
	}
	if (r->o->json) {
		char *t = al_json_dump(plan);
		printf("%s\n", t);
		free(t);
	} else {
		size_t i;
		json_t *p;
		printf("dry run of %s version %lld for %s (nothing is run or recorded):\n",
		       r->m->pipeline, (long long)r->m->version, r->date);
		json_array_foreach(plan, i, p) {
			printf("  %-24s %-5s %s\n", json_string_value(json_object_get(p, "step")),
			       json_string_value(json_object_get(p, "action")),
			       json_string_value(json_object_get(p, "why")));
		}
	}
	json_decref(plan);
	return AL_OK;
}

/* The job that "succeeds" with nothing in it: when every declared
 * output this run committed is empty (0 bytes), or a validate step
 * accepted no record, an alert zero-output says so. */
static void zero_output(struct run *r)
{
	size_t declared = 0, empty = 0;
	char msg[600] = "";

	if (r->audit_failed)
		return;
	for (size_t i = 0; i < r->n; i++) {
		const struct step_rt *s = &r->steps[i];
		if (s->state != S_OK || s->attempt == 0)
			continue; /* not run (or not committed) by this run */
		if (s->def->kind == AL_KIND_VALIDATE) {
			declared++;
			empty += s->empty_output != 0;
			if (s->empty_output && msg[0] == '\0')
				al_snprintf(msg, sizeof msg, "%s accepted no record", s->def->id);
		}
		for (size_t k = 0; k < s->def->outputs_n; k++) {
			size_t j;
			json_t *f;
			declared++;
			json_array_foreach(s->committed, j, f) {
				if (strcmp(json_string_value(json_object_get(f, "path")),
				           s->def->outputs[k].path) == 0 &&
				    json_integer_value(json_object_get(f, "size")) == 0) {
					empty++;
					if (msg[0] == '\0')
						al_snprintf(msg, sizeof msg, "%s/%s is empty", s->def->id,
						            s->def->outputs[k].path);
				}
			}
		}
	}
	if (declared > 0 && empty == declared) {
		char text[800];
		al_snprintf(text, sizeof text, "every declared output of this run is empty (%s)", msg);
		eng_alert(r, NULL, "zero-output", text, NULL);
	}
}

int al_run(const struct al_run_opts *o)
{
	struct run rr, *r = &rr;
	struct al_err err = {0};
	struct al_run_row row = {0};
	sigset_t mask, oldmask;
	int code = AL_OK, ok = 0, failed = 0, skipped = 0, masked = 0;
	const char *status;
	json_t *f;

	memset(r, 0, sizeof *r);
	r->o = o;
	r->alerts = json_array();
	r->sfd = r->lockfd = -1;
	r->jobs = o->jobs > 0 ? o->jobs : 1;
	r->grace_ms = o->kill_grace_ms > 0 ? o->kill_grace_ms : AL_KILL_GRACE_MS;
	/* Every path of a run is built under HOME: a short HOME keeps them
	 * all far below PATH_MAX. */
	if (strlen(o->home) > 1024) {
		al_err_set(&err, AL_EUSAGE, "%.64s...: the airlock home's path is over 1024 bytes",
		           o->home);
		goto fail;
	}
	if (o->date != NULL) {
		if (!date_valid(o->date)) {
			al_err_set(&err, AL_EUSAGE, "--date %s: not a date (YYYY-MM-DD)", o->date);
			goto fail;
		}
		al_snprintf(r->date, sizeof r->date, "%s", o->date);
	} else {
		today_utc(r->date);
	}
	if (load_target(r, &err) < 0)
		goto fail;
	al_snprintf(r->out_dir, sizeof r->out_dir, "%s/outputs/%s/%s", o->home, r->m->pipeline, r->date);
	r->n = r->m->steps_n;
	r->steps = calloc(r->n ? r->n : 1, sizeof *r->steps);
	if (r->steps == NULL) {
		al_err_sys(&err, "cannot allocate memory");
		goto fail;
	}
	for (size_t i = 0; i < r->n; i++) {
		r->steps[i].def = &r->m->steps[i];
		r->steps[i].idx = i;
		r->steps[i].exit_code = -1;
		r->steps[i].wait_on = r->m->steps[i].needs_n > 0 ? r->m->steps[i].needs[0] : 0;
	}
	if (select_steps(r, &err) < 0)
		goto fail;
	if ((r->st = al_state_open(o->home, &err)) == NULL)
		goto fail;
	if (o->dry_run) {
		code = print_plan(r);
		goto out;
	}
	if (preflight(r, &err) < 0)
		goto fail;
	/* The audit log before anything happens: no log, no run. */
	if ((r->log = al_audit_open(o->home, &err)) == NULL)
		goto fail;
	if (lock_pipeline(r, &err) < 0)
		goto fail;
	r->start_us = al_now_us();
	/* 16 random bits a second: made unique against state.db before the
	 * id is used anywhere (several runs can start within one second) */
	for (int tries = 0;; tries++) {
		struct al_run_row other;
		int taken;
		make_id(r);
		taken = al_state_run_get(r->st, r->id, &other, &err);
		if (taken < 0)
			goto fail;
		if (taken == 0)
			break;
		if (tries == 100) {
			al_err_set(&err, AL_EENV, "cannot make a unique run id");
			goto fail;
		}
	}
	lock_note(r);
	if (o->resume != NULL)
		al_snprintf(r->resume_of, sizeof r->resume_of, "%s", o->resume);
	if (recover(r, &err) < 0) {
		if (r->audit_failed)
			err = r->audit_err;
		goto fail;
	}
	al_snprintf(r->run_dir, sizeof r->run_dir, "%s/runs/%s", o->home, r->id);
	{
		char logs[PATH_MAX + 8];
		al_snprintf(logs, sizeof logs, "%s/logs", r->run_dir);
		if (al_mkdirs(logs, 0700, &err) < 0)
			goto fail;
		al_snprintf(logs, sizeof logs, "%s/stage", r->run_dir);
		if (al_mkdirs(logs, 0700, &err) < 0)
			goto fail;
	}
	/* signalfd: SIGCHLD, SIGINT and SIGTERM come through the loop. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask) < 0 ||
	    (r->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		al_err_sys(&err, "signalfd");
		goto fail;
	}
	masked = 1;
	/* Orphans of a step (a grandchild whose parent died) become airlock's
	 * children, not init's: they are reaped here, and never outlive a
	 * run unseen. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	f = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:o,s:o,s:s,s:i}", "run", r->id, "pipeline",
	              r->m->pipeline, "version", (json_int_t)r->m->version, "manifest_sha256", r->msha,
	              "date", r->date, "resume_of", r->resume_of, "argv", json_array(), "clock",
	              clock_json(), "source", r->source, "jobs", r->jobs);
	json_object_set_new(f, "airlock", json_string(AL_VERSION));
	if (o->shard_n > 0)
		json_object_set_new(f, "shard", json_pack("{s:i,s:i}", "index", o->shard_i, "of", o->shard_n));
	{
		if (r->resume_of[0] == '\0')
			json_object_set_new(f, "resume_of", json_null());
		for (int i = 0; i < o->argc; i++)
			json_array_append_new(json_object_get(f, "argv"), json_string(o->argv[i]));
		if (strcmp(r->source, "dir") == 0) {
			json_object_set_new(f, "unsigned", json_true());
			json_object_set_new(f, "source_path", json_string(r->bundle_dir));
		}
		if (o->allow_network)
			json_object_set_new(f, "allow_network", json_true());
	}
	if (audit(r, "run.start", f, AL_AUDIT_SYNC) < 0) {
		err = r->audit_err;
		goto fail;
	}
	r->first_seq = al_audit_last_seq(r->log);
	al_snprintf(row.id, sizeof row.id, "%s", r->id);
	al_snprintf(row.pipeline, sizeof row.pipeline, "%s", r->m->pipeline);
	row.version = r->m->version;
	al_snprintf(row.manifest_sha256, sizeof row.manifest_sha256, "%s", r->msha);
	al_snprintf(row.date, sizeof row.date, "%s", r->date);
	al_snprintf(row.source, sizeof row.source, "%s", r->source);
	al_snprintf(row.source_path, sizeof row.source_path, "%s", o->target);
	al_snprintf(row.bundle_dir, sizeof row.bundle_dir, "%s", r->bundle_dir);
	al_snprintf(row.status, sizeof row.status, "running");
	al_snprintf(row.resume_of, sizeof row.resume_of, "%s", r->resume_of);
	row.pid = getpid();
	row.start_us = r->start_us;
	if (al_state_run_insert(r->st, &row, &err) < 0)
		goto fail;
	for (size_t i = 0; i < r->n; i++)
		save_step(r, &r->steps[i], "pending", NULL);
	tx_flush(r);
	/* A first run of a date has nothing to look up for each step. */
	r->no_commits = al_state_commits_count(r->st, r->m->pipeline, r->date, &err) == 0;
	if (!o->quiet)
		al_oplog("info", r->id, NULL, 0, NULL, "run of %s version %lld for %s%s%s",
		         r->m->pipeline, (long long)r->m->version, r->date,
		         r->resume_of[0] ? ", resuming " : "", r->resume_of);
	/* Secrets before the first step: a failure stops every step but the
	 * notify ones, which report it. */
	if (eng_secrets_check(r) < 0) {
		r->preflight_failed = 1;
		r->failed = 1;
	}

	loop(r);
	zero_output(r);
	tx_flush(r);

	for (size_t i = 0; i < r->n; i++) {
		switch (r->steps[i].state) {
		case S_OK: ok++; break;
		case S_FAILED: failed++; break;
		case S_SKIPPED: skipped++; break;
		default: break;
		}
	}
	status = r->interrupted ? "interrupted" : r->failed ? "failed" : "ok";
	if (r->audit_failed) {
		/* Nothing more can be audited: the next run records this one as
		 * interrupted once the log can be written again. */
		al_oplog("error", r->id, NULL, 0, NULL,
		         "run stopped: the audit log cannot be written (%s)", r->audit_err.msg);
		code = AL_EENV;
		goto out;
	}
	f = json_pack("{s:s,s:s,s:I,s:{s:i,s:i,s:i}}", "run", r->id, "status", status, "duration_ms",
	              (json_int_t)((al_now_us() - r->start_us) / 1000), "steps", "ok", ok, "failed",
	              failed, "skipped", skipped);
	if (r->cause[0] != '\0')
		json_object_set_new(f, "cause", json_string(r->cause));
	if (audit(r, "run.end", f, AL_AUDIT_SYNC) < 0 || al_audit_seal(r->log, &r->audit_err) < 0) {
		al_oplog("error", r->id, NULL, 0, NULL, "the audit log cannot be written: %s",
		         r->audit_err.msg);
		code = AL_EENV;
		goto out;
	}
	if (al_state_run_end(r->st, r->id, status, al_now_us(), &err) < 0 ||
	    al_state_meta_set(r->st, "last_seal_us", al_now_us(), &err) < 0)
		state_warn(r, &err);
	tx_flush(r);
	metrics(r, 1);
	{
		char stage[PATH_MAX + 8];
		al_snprintf(stage, sizeof stage, "%s/stage", r->run_dir);
		(void)al_rm_tree(AT_FDCWD, stage);
	}
	code = r->interrupted ? AL_EINTR : r->failed ? AL_EFAIL : AL_OK;
	if (o->json) {
		json_t *sum = json_pack("{s:s,s:s,s:s,s:I,s:{s:i,s:i,s:i}}", "run", r->id, "pipeline",
		                        r->m->pipeline, "status", status, "duration_ms",
		                        (json_int_t)((al_now_us() - r->start_us) / 1000), "steps", "ok",
		                        ok, "failed", failed, "skipped", skipped);
		char *t = al_json_dump(sum);
		printf("%s\n", t);
		free(t);
		json_decref(sum);
	}
	if (!o->quiet || code != AL_OK)
		al_oplog(code == AL_OK ? "info" : "error", r->id, NULL, 0, NULL,
		         "run %s: %s (%d ok, %d failed, %d skipped)", r->id, status, ok, failed, skipped);
	goto out;
fail:
	code = err.code ? err.code : AL_EFAIL;
	al_oplog("error", r->id, NULL, 0, NULL, "%s", err.msg);
out:
	if (r->log != NULL && al_audit_close(r->log, &err) < 0 && code == AL_OK) {
		al_oplog("error", r->id, NULL, 0, NULL, "%s", err.msg);
		code = AL_EENV;
	}
	for (size_t i = 0; r->steps != NULL && i < r->n; i++) {
		json_decref(r->steps[i].inputs);
		json_decref(r->steps[i].main_end);
		json_decref(r->steps[i].committed);
		free(r->steps[i].items_path);
	}
	json_decref(r->alerts);
	free(r->steps);
	if (masked) {
		/* Reap what the steps' groups left (killed orphans), briefly. */
		for (int i = 0; i < 100; i++) {
			int ws;
			pid_t p = waitpid(-1, &ws, WNOHANG);
			if (p < 0)
				break;
			if (p == 0)
				usleep(1000);
		}
	}
	if (r->sfd >= 0)
		close(r->sfd);
	if (masked)
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	if (r->lockfd >= 0)
		close(r->lockfd);
	if (r->st != NULL)
		tx_flush(r);
	al_state_close(r->st);
	al_manifest_free(r->m);
	free(r->mtext);
	return code;
}
