/* commit.c - a step's outputs (DESIGN.md §8, "Outputs" and
 * "Idempotency"): its inputs hashed and the idempotency check before it
 * runs (an intact commit makes it needless; a changed one is phantom
 * state, audited), then after a success its stage hashed, checked
 * against the declared outputs, announced (output.staged), promoted by
 * one rename and fsync, and recorded (output.committed, state.db). */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1) /* linux/fs.h; musl's headers lack it */
#endif

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

/* Every regular file under dirfd (recursively), made read-only (0444,
 * or 0555 with an execute bit; directories 0755) so that later steps, of
 * another uid as root, read what they are given of it and no one writes
 * it again through the mode, hashed and fsynced;
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
			} else if (fchmod(sub, 0755) < 0) {
				al_snprintf(w->reason, sizeof w->reason, "output %s: chmod: %s", rel,
				            strerror(errno));
				ret = -1;
				close(sub);
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
			if (f < 0 || fchmod(f, (st.st_mode & 0111) ? 0555 : 0444) < 0 ||
			    al_sha256_fd(f, rel, sum, &size, &err) < 0 || al_sys_fsync(f) < 0) {
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

/* What is known of a visible file changed from outside: its owner (uid,
 * and name where the host's passwd has one), its mtime and size, when it
 * was seen (the entry's ts); its bytes are kept as a record when home
 * is given, so that the changed version can be re-created too. */
static void phantom_seen(const char *home, int fd, const char *full, const char *hex,
                         json_t *entry)
{
	struct stat st;
	struct passwd *pw;
	char when[AL_TS_LEN];
	struct al_err err = {0};
	json_t *owner;

	if (fstat(fd, &st) < 0)
		return;
	al_ts_format((int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000, when);
	json_object_set_new(entry, "uid", json_integer((json_int_t)st.st_uid));
	pw = getpwuid(st.st_uid);
	owner = pw != NULL && pw->pw_name != NULL ? json_string(pw->pw_name) : NULL;
	json_object_set_new(entry, "owner", owner != NULL ? owner : json_null());
	json_object_set_new(entry, "mtime", json_string(when));
	json_object_set_new(entry, "size", json_integer((json_int_t)st.st_size));
	if (home == NULL)
		return;
	if (al_records_put(home, fd, full, hex, &err) == 0)
		json_object_set_new(entry, "kept", json_true());
	else
		json_object_set_new(entry, "kept", json_string(err.msg));
}

/* Whether every file of a commit is in dir with its hash; the first
 * difference is described in why and, when phantoms is not NULL, each
 * one appended to it with the changed file's owner, mtime and size (and
 * its bytes kept under home, when home is not NULL). */
int eng_commit_intact(const char *home, const char *dir, json_t *files, json_t *phantoms,
                      char *why, size_t wlen)
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
		int fd;
		if (path == NULL || want == NULL)
			return 0;
		al_snprintf(full, sizeof full, "%s/%s", dir, path);
		fd = al_openat(AT_FDCWD, full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0 || al_sha256_fd(fd, full, sum, NULL, &err) < 0) {
			int gone = fd < 0 && errno == ENOENT;
			if (fd < 0)
				al_err_sys(&err, "%s", full);
			if (ok)
				al_snprintf(why, wlen, "%s: %s", full, gone ? "deleted" : err.msg);
			if (phantoms != NULL)
				json_array_append_new(phantoms,
				                      json_pack("{s:s,s:s,s:n}", "path", full, "expected", want,
				                                "found"));
			if (fd >= 0)
				close(fd);
			ok = 0;
			continue;
		}
		al_hex(sum, sizeof sum, hex);
		if (strcmp(hex, want) != 0) {
			if (ok)
				al_snprintf(why, wlen, "%s: changed since it was committed (sha256 %s, committed %s)",
				         full, hex, want);
			if (phantoms != NULL) {
				json_t *p = json_pack("{s:s,s:s,s:s}", "path", full, "expected", want, "found", hex);
				phantom_seen(home, fd, full, hex, p);
				json_array_append_new(phantoms, p);
			}
			ok = 0;
		}
		close(fd);
	}
	return ok;
}

int eng_add_inputs(const struct run *r, const char *const *argv, json_t *inputs, char *reason,
                   size_t rlen)
{
	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
		const char *file;
		long k;
		char full[PATH_MAX * 2], hex[AL_SHA256_HEX];
		unsigned char sum[AL_SHA256_LEN];
		uint64_t size;
		struct al_err err = {0};
		if (!eng_step_ref(r, argv[i], &k, &file))
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
int eng_shard_items(struct run *r, struct step_rt *s)
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

	if (eng_step_ref(r, ref, &k, &file))
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
	/* read-only, and readable by a confined step's uid */
	if (ferror(in) || fflush(o) != 0 || ferror(o) || fchmod(fileno(o), 0444) < 0) {
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
int eng_prepare(struct run *r, struct step_rt *s)
{
	struct al_commit_row c;
	struct al_err err = {0};
	char dir[PATH_MAX * 2], why[1024] = "";
	unsigned char sum[AL_SHA256_LEN];
	char *dump;
	json_t *files, *phantoms;
	int found, intact;

	s->prepared = 1;
	eng_idempotency_key(r, s->def->id, s->key);
	s->inputs = json_array();
	if (s->kind->inputs != NULL) {
		struct al_err err2 = {0};
		if (s->kind->inputs(&s->ctx, &err2) < 0) {
			al_snprintf(s->reason, sizeof s->reason, "%s", err2.msg);
			return -1;
		}
	}
	if (eng_add_inputs(r, s->def->run, s->inputs, s->reason, sizeof s->reason) < 0 ||
	    eng_add_inputs(r, s->def->verify, s->inputs, s->reason, sizeof s->reason) < 0)
		return -1;
	if (json_object_get(s->def->json, "fan_out") != NULL && eng_shard_items(r, s) < 0)
		return -1;
	dump = al_json_dump(s->inputs);
	al_sha256_buf(dump, strlen(dump), sum);
	free(dump);
	al_hex(sum, sizeof sum, s->inputs_sha);
	/* A step that reports each run is never skipped as committed. */
	if (s->kind->flags & AL_KIND_EACH_RUN)
		return 0;
	found = r->no_commits ? 0
	                      : al_state_commit_get(r->st, r->commit_key, r->date, s->def->id, &c, &err);
	if (found < 0) {
		eng_state_warn(r, &err);
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
	intact = eng_commit_intact(r->o->home, dir, files, phantoms, why, sizeof why);
	if (intact) {
		json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:O}", "run", r->id, "step", s->def->id, "reason",
		                      "already-committed", "committed_by", c.run, "files", files);
		s->committed = files;
		json_decref(phantoms);
		if (eng_audit(r, "step.skipped", f, 0) < 0)
			return 0; /* not started anyway: the run stops */
		return 1;
	}
	/* Phantom state: what was committed is no longer there as it was. */
	al_snprintf(s->rerun_reason, sizeof s->rerun_reason, "phantom: %s", why);
	(void)eng_audit(r, "output.phantom",
	            json_pack("{s:s,s:s,s:s,s:o}", "run", r->id, "step", s->def->id, "committed_by",
	                      c.run, "files", phantoms),
	            0);
	json_decref(files);
	al_oplog("warn", r->id, s->def->id, 0, NULL, "committed outputs changed: running again: %s",
	         why);
	return 0;
}

void eng_stage_path(const struct run *r, const struct step_rt *s, char *out, size_t n)
{
	al_snprintf(out, n, "%s/stage/%s", r->run_dir, s->def->id);
}

static void spare_path(const struct run *r, char *out, size_t n)
{
	al_snprintf(out, n, "%s/stage/.spare", r->run_dir);
}

/* An empty stage directory: the spare one a quiet step left, renamed
 * (microseconds), or a new one (half a millisecond on ext4 here). */
int eng_new_stage(struct run *r, const char *stage, struct al_err *err)
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

/* After a success: the stage's files hashed and fsynced, and the
 * declared outputs' rules checked. */
int eng_stage_check(struct run *r, struct step_rt *s, json_t **files, char *reason, size_t rlen)
{
	char stage[PATH_MAX];
	struct walk w = {.files = json_array()};
	int fd;

	eng_stage_path(r, s, stage, sizeof stage);
	fd = open(stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0755) < 0) {
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
		al_utf8_fix(w.reason); /* it may name a file the step made */
		al_snprintf(reason, rlen, "%s", w.reason);
		json_decref(w.files);
		return -1;
	}
	*files = w.files;
	return 0;
}

static int promote(struct run *r, struct step_rt *s, json_t *files)
{
	char stage[PATH_MAX], dest[PATH_MAX * 2], old[PATH_MAX * 2];
	struct al_err err = {0};
	struct stat st;
	int dfd = -1, ret = -1;

	eng_stage_path(r, s, stage, sizeof stage);
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

/* Every file of the stage kept in HOME/records before anything
 * announces it: a commit's bytes can always be re-created, whatever
 * later happens to the visible file. */
static int keep_records(struct run *r, struct step_rt *s, json_t *files)
{
	char stage[PATH_MAX], full[PATH_MAX * 2];
	struct al_err err = {0};
	size_t i;
	json_t *f;

	eng_stage_path(r, s, stage, sizeof stage);
	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		int fd, rc;
		al_snprintf(full, sizeof full, "%s/%s", stage, path);
		fd = al_openat(AT_FDCWD, full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
		if (fd < 0) {
			al_err_sys(&err, "%s", full);
			rc = -1;
		} else {
			rc = al_records_put(r->o->home, fd, full,
			                    json_string_value(json_object_get(f, "sha256")), &err);
			close(fd);
		}
		if (rc < 0) {
			al_snprintf(s->reason, sizeof s->reason, "output %s: %s", path, err.msg);
			al_oplog("error", r->id, s->def->id, s->attempt, NULL, "%s", s->reason);
			return -1;
		}
	}
	return 0;
}

int eng_commit(struct run *r, struct step_rt *s, json_t *files,
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
	if (keep_records(r, s, files) < 0)
		return -1;
	if (json_array_size(files) > 0 &&
	    eng_audit(r, "output.staged",
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
			eng_save_step(r, s, "staged", st);
			eng_tx_flush(r);
		}
		free(st);
	}
	text = al_json_dump(files);
	if (promote(r, s, files) < 0) {
		free(text);
		return -1;
	}
	if (eng_audit(r, "output.committed",
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
	eng_step_row(r, s, &row, "ok");
	eng_tx(r);
	if (al_state_attempt_put(r->st, r->id, a, &err) < 0 ||
	    al_state_commit_put(r->st, r->commit_key, r->date, s->def->id, &c, r->id, &row, &err) < 0)
		eng_state_warn(r, &err);
	free(text);
	return 0;
}
