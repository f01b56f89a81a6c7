/* checkpoint.c - signed heads of the log (FORMAT.md §6): checkpoint.txt
 * and its minisign signature by the host key; parsing for anchors. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sodium.h>

char *al_checkpoint_format(const struct al_checkpoint *cp)
{
	char hex[AL_SHA256_HEX], *out = malloc(256);

	if (out == NULL)
		return NULL;
	al_hex(cp->hash, AL_SHA256_LEN, hex);
	snprintf(out, 256, "%s %s\n%llu\n%s\n%s\n", cp->version == 1 ? AL_AUDIT_FORMAT_1 : AL_AUDIT_FORMAT,
	         cp->log_id, (unsigned long long)cp->size, hex, cp->ts);
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
	if (llen[0] == strlen(AL_AUDIT_FORMAT) + 1 + 32 &&
	    memcmp(line[0], AL_AUDIT_FORMAT " ", strlen(AL_AUDIT_FORMAT) + 1) == 0)
		cp->version = 2;
	else if (llen[0] == strlen(AL_AUDIT_FORMAT_1) + 1 + 32 &&
	         memcmp(line[0], AL_AUDIT_FORMAT_1 " ", strlen(AL_AUDIT_FORMAT_1) + 1) == 0)
		cp->version = 1;
	if (cp->version == 0 || !is_hex_lower(line[0] + strlen(AL_AUDIT_FORMAT) + 1, 32))
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

#define SIG2_PREFIX "airlock.checkpoint-sig/2 "

int checkpoint_sig2_parse(const char *text, size_t len, const char *name,
                          struct checkpoint_sig2 *s, struct al_err *err)
{
	const char *p = text, *end = text + len, *sp;
	char num[24];
	size_t n;

	memset(s, 0, sizeof *s);
	if (len < strlen(SIG2_PREFIX) || memcmp(p, SIG2_PREFIX, strlen(SIG2_PREFIX)) != 0)
		goto bad;
	p += strlen(SIG2_PREFIX);
	sp = memchr(p, ' ', (size_t)(end - p));
	n = sp != NULL ? (size_t)(sp - p) : 0;
	if (n == 0 || n > 19 || (p[0] == '0' && n > 1) || strspn(p, "0123456789") < n)
		goto bad;
	memcpy(num, p, n);
	num[n] = '\0';
	s->epoch = strtoull(num, NULL, 10);
	p = sp + 1;
	if (end - p != 64 + 1 + 128 + 1 || p[64] != '\n' || p[64 + 1 + 128] != '\n' ||
	    !is_hex_lower(p, 64) || !is_hex_lower(p + 65, 128) ||
	    al_unhex(p, 64, s->pub, SEAL_PUB_LEN) < 0)
		goto bad;
	memcpy(s->sig, p + 65, 128);
	s->sig[128] = '\0';
	return 0;
bad:
	return al_err_set(err, AL_EUSAGE,
	                  "%s: not \"" SIG2_PREFIX "<epoch> <64 hex>\" and a line of 128 hex digits",
	                  name);
}

/* The seal key in force after the head line (FORMAT.md §6): the stored
 * one, or its successor when the head is a seal that a crash kept from
 * evolving it (the next writer repairs the file; this one only reads). */
int checkpoint_head_key(int dirfd, const char *line, size_t len, struct fss_state *st,
                        struct al_err *err)
{
	json_t *v;

	if (fss_load(dirfd, st, 1, err) < 0)
		return -1;
	v = json_loadb(line, len, 0, NULL);
	if (json_is_string(json_object_get(v, "event")) &&
	    strcmp(json_string_value(json_object_get(v, "event")), "seal") == 0 &&
	    json_integer_value(json_object_get(v, "epoch")) == (json_int_t)st->epoch) {
		if (st->version == 2)
			fss2_evolve(st->key);
		else
			fss_evolve(st->key);
		st->epoch++;
	}
	json_decref(v);
	return 0;
}

int checkpoint_sig2_make(const struct fss_state *st, const char *text, char *out, size_t cap)
{
	unsigned char pk[SEAL_PUB_LEN], *sk;
	char pk_hex[65], sig_hex[SEAL_SIG_HEX];

	out[0] = '\0';
	if (st->version != 2)
		return 0;
	/* Signed by the epoch key too: whoever holds only the public key of
	 * epoch 0 can tie this checkpoint to the log. */
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (sk == NULL || seal2_keypair(st->key, pk, sk) < 0) {
		if (sk != NULL)
			sodium_free(sk);
		return -1;
	}
	seal2_sign(sk, text, strlen(text), sig_hex);
	sodium_free(sk);
	al_hex(pk, SEAL_PUB_LEN, pk_hex);
	snprintf(out, cap, SIG2_PREFIX "%llu %s\n%s\n", (unsigned long long)st->epoch, pk_hex, sig_hex);
	return 0;
}

/* The last complete line of the log as it is now: its seq, hash and the
 * log id, and the seal key in force. Taken under the writers' lock, so
 * that no line is half written and no seal made while we read. */
static int log_head(const char *home, struct al_checkpoint *cp, struct fss_state *st,
                    struct al_err *err)
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
		ret = checkpoint_head_key(dirfd, t.line, t.line_len, st, err);
		seg_tail_free(&t);
		if (ret == 0)
			ret = seg_log_id(dirfd, nums[i], 0, cp->log_id, NULL, err);
		cp->version = st->version;
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
	char path[PATH_MAX], comment[128], *text = NULL, *sig = NULL, sig2[512];
	struct al_seckey *sec = NULL;
	struct fss_state st = {0};
	int ret = -1;

	if (log_head(home, cp, &st, err) < 0) {
		fss_free(&st);
		return -1;
	}
	al_ts_format(al_now_us(), cp->ts);
	text = al_checkpoint_format(cp);
	if (text == NULL) {
		fss_free(&st);
		return al_err_sys(err, "cannot allocate memory");
	}
	if (checkpoint_sig2_make(&st, text, sig2, sizeof sig2) < 0) {
		al_err_sys(err, "cannot derive the seal key pair");
		goto out;
	}
	fss_free(&st); /* the epoch key is wiped as soon as it has signed */
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
		if (al_write_file_atomic(sig_path, sig, strlen(sig), 0644, err) < 0)
			goto out;
		snprintf(sig_path, sizeof sig_path, "%s.sig", path);
		if (sig2[0] != '\0' ? al_write_file_atomic(sig_path, sig2, strlen(sig2), 0644, err) < 0
		                     : unlink(sig_path) < 0 && errno != ENOENT) {
			if (sig2[0] == '\0')
				al_err_sys(err, "%s", sig_path);
			goto out;
		}
		if (al_write_file_atomic(path, text, strlen(text), 0644, err) < 0)
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
	fss_free(&st);
	al_seckey_free(sec);
	free(text);
	free(sig);
	return ret;
}
