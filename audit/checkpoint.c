/* checkpoint.c - signed heads of the log (FORMAT.md §6): checkpoint.txt
 * and its minisign signature by the host key; parsing for anchors. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

char *al_checkpoint_format(const struct al_checkpoint *cp)
{
	char hex[AL_SHA256_HEX], *out = malloc(256);

	if (out == NULL)
		return NULL;
	al_hex(cp->hash, AL_SHA256_LEN, hex);
	snprintf(out, 256, AL_AUDIT_FORMAT " %s\n%llu\n%s\n%s\n", cp->log_id,
	         (unsigned long long)cp->size, hex, cp->ts);
	return out;
}

static int is_hex_lower(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

int al_checkpoint_parse(const char *text, size_t len, const char *name, struct al_checkpoint *cp,
                        struct al_err *err)
{
	const char *line[4], *p = text, *end = text + len;
	size_t llen[4];
	int64_t us;
	char *num_end;
	char num[24];

	memset(cp, 0, sizeof *cp);
	for (int i = 0; i < 4; i++) {
		const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (nl == NULL)
			return al_err_set(err, AL_EUSAGE, "%s: not a checkpoint (4 lines ending in newlines)",
			                  name);
		line[i] = p;
		llen[i] = (size_t)(nl - p);
		p = nl + 1;
	}
	if (p != end)
		return al_err_set(err, AL_EUSAGE, "%s: data after the checkpoint's 4 lines", name);
	if (llen[0] != strlen(AL_AUDIT_FORMAT) + 1 + 32 ||
	    memcmp(line[0], AL_AUDIT_FORMAT " ", strlen(AL_AUDIT_FORMAT) + 1) != 0 ||
	    !is_hex_lower(line[0] + strlen(AL_AUDIT_FORMAT) + 1, 32))
		return al_err_set(err, AL_EUSAGE, "%s: line 1 is not \"" AL_AUDIT_FORMAT " <log_id>\"",
		                  name);
	memcpy(cp->log_id, line[0] + strlen(AL_AUDIT_FORMAT) + 1, 32);
	cp->log_id[32] = '\0';
	/* Digits only: strtoull alone would take a NUL (size 0), leading
	 * blanks, a sign, and "-1" as 2^64-1, none of which formats back. */
	if (llen[1] == 0 || llen[1] > 19 || line[1][0] == '0' ||
	    strspn(line[1], "0123456789") < llen[1])
		return al_err_set(err, AL_EUSAGE, "%s: line 2 is not a size", name);
	memcpy(num, line[1], llen[1]);
	num[llen[1]] = '\0';
	errno = 0;
	cp->size = strtoull(num, &num_end, 10);
	if (errno != 0 || *num_end != '\0')
		return al_err_set(err, AL_EUSAGE, "%s: line 2 is not a size", name);
	if (llen[2] != 64 || !is_hex_lower(line[2], 64) ||
	    al_unhex(line[2], 64, cp->hash, AL_SHA256_LEN) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: line 3 is not a SHA-256", name);
	if (llen[3] != AL_TS_LEN - 1)
		return al_err_set(err, AL_EUSAGE, "%s: line 4 is not a timestamp", name);
	memcpy(cp->ts, line[3], AL_TS_LEN - 1);
	cp->ts[AL_TS_LEN - 1] = '\0';
	/* A NUL inside would let al_ts_parse see a shorter timestamp than
	 * the line holds (and the bytes after it go unchecked). */
	if (strlen(cp->ts) != AL_TS_LEN - 1 || al_ts_parse(cp->ts, &us, NULL) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: line 4 is not a timestamp", name);
	return 0;
}

/* The last complete line of the log as it is now: its seq, hash and the
 * log id. Taken under the writers' lock, so that no line is half
 * written while we read. */
static int log_head(const char *home, struct al_checkpoint *cp, struct al_err *err)
{
	unsigned long *nums = NULL;
	int *zsts = NULL, dirfd, lockfd = -1, ret = -1;
	long count;

	dirfd = audit_dir_open(home, err);
	if (dirfd < 0)
		return -1;
	/* A reader's lock: no line is half written while we look. */
	lockfd = openat(dirfd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if ((lockfd < 0 && errno != ENOENT) || (lockfd >= 0 && flock(lockfd, LOCK_SH) < 0)) {
		al_err_sys(err, "%s/audit/lock", home);
		goto out;
	}
	count = seg_list(dirfd, "audit", &nums, &zsts, err);
	if (count <= 0) {
		if (count == 0)
			al_err_set(err, AL_EUSAGE, "%s/audit: no segments", home);
		goto out;
	}
	for (long i = count - 1; i >= 0; i--) {
		struct seg_tail t;
		struct al_line l;

		if (zsts[i]) {
			al_err_set(err, AL_EVERIFY, "%s/audit: a compressed segment holds the head", home);
			goto out;
		}
		if (seg_tail_of(dirfd, nums[i], &t, err) < 0)
			goto out;
		if (t.line == NULL) {
			seg_tail_free(&t);
			continue;
		}
		if (al_line_parse(t.line, t.line_len, &l, err) < 0) {
			al_err_prefix(err, "%s/audit: the last line", home);
			seg_tail_free(&t);
			goto out;
		}
		cp->size = l.seq;
		line_hash(t.line, t.line_len, cp->hash);
		seg_tail_free(&t);
		ret = seg_log_id(dirfd, nums[i], 0, cp->log_id, NULL, err);
		goto out;
	}
	al_err_set(err, AL_EVERIFY, "%s/audit: no complete entry", home);
out:
	if (lockfd >= 0)
		close(lockfd);
	close(dirfd);
	free(nums);
	free(zsts);
	return ret;
}

int al_audit_checkpoint(const char *home, const char *outdir, struct al_checkpoint *cp,
                        struct al_err *err)
{
	char path[PATH_MAX], comment[128], *text = NULL, *sig = NULL;
	struct al_seckey *sec = NULL;
	int ret = -1;

	if (log_head(home, cp, err) < 0)
		return -1;
	al_ts_format(al_now_us(), cp->ts);
	text = al_checkpoint_format(cp);
	if (text == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (al_snprintf(path, sizeof path, "%s/host.key", home) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", home);
		goto out;
	}
	sec = al_seckey_load(path, NULL, NULL, err);
	if (sec == NULL)
		goto out;
	snprintf(comment, sizeof comment, "airlock checkpoint %s %llu", cp->log_id,
	         (unsigned long long)cp->size);
	sig = al_sign_buf(sec, text, strlen(text), comment, "airlock audit checkpoint", err);
	if (sig == NULL || al_mkdirs(outdir, 0700, err) < 0)
		goto out;
	if (al_snprintf(path, sizeof path, "%s/checkpoint.txt", outdir) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", outdir);
		goto out;
	}
	/* The signature first: a checkpoint.txt never stands without it. */
	{
		char sig_path[PATH_MAX + 8];
		snprintf(sig_path, sizeof sig_path, "%s.minisig", path);
		if (al_write_file_atomic(sig_path, sig, strlen(sig), 0644, err) < 0 ||
		    al_write_file_atomic(path, text, strlen(text), 0644, err) < 0)
			goto out;
	}
	/* The host's public key beside them: what verifies them (minisign -Vm
	 * checkpoint.txt -p host.pub), and what airlock audit shards reads.
	 * Whether it is the right key is for the reader to compare with the
	 * key id recorded when the host was installed. */
	{
		char pub_path[PATH_MAX], *pub = NULL;
		size_t len;
		if (al_snprintf(pub_path, sizeof pub_path, "%s/host.pub", home) < 0 ||
		    al_read_file(AT_FDCWD, pub_path, 4096, &pub, &len, err) < 0)
			goto out;
		al_snprintf(pub_path, sizeof pub_path, "%s/host.pub", outdir);
		if (al_write_file_atomic(pub_path, pub, len, 0644, err) < 0) {
			free(pub);
			goto out;
		}
		free(pub);
	}
	ret = 0;
out:
	al_seckey_free(sec);
	free(text);
	free(sig);
	return ret;
}
