/* sig.c - minisign-compatible signatures (DESIGN.md §4): prehashed "ED"
 * signing, verification of "ED" and legacy "Ed", in minisign's order. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* The decoded signature line: algorithm ‖ keyid ‖ signature. */
struct sig_bin {
	unsigned char sig_alg[2];
	unsigned char keyid[AL_KEYID_LEN];
	unsigned char sig[AL_SIG_LEN];
};
_Static_assert(sizeof(struct sig_bin) == 74, "minisign signature is 74 bytes");

#define SIGFILE_MAX (AL_COMMENT_LINE_MAX + AL_TRUSTED_LINE_MAX + 256)
/* A legacy "Ed" signature signs the raw message, so the whole file must be
 * in memory to verify it; minisign does the same. Larger files need the
 * prehashed form. */
#define LEGACY_MSG_MAX (1UL << 30)
#define READ_CHUNK (1 << 20)

int al_comment_check(const char *text, int trusted, struct al_err *err)
{
	size_t max = trusted ? AL_TRUSTED_TEXT_MAX : AL_UNTRUSTED_TEXT_MAX;
	const char *what = trusted ? "trusted comment" : "comment";

	if (strpbrk(text, "\r\n") != NULL)
		return al_err_set(err, AL_EUSAGE, "%s must be a single line", what);
	if (strlen(text) > max)
		return al_err_set(err, AL_EUSAGE, "%s is longer than %zu bytes", what, max);
	return 0;
}

/* BLAKE2b-512 of a file, streamed. */
static int blake2b_file(const char *path, unsigned char out[crypto_generichash_BYTES_MAX],
                        struct al_err *err)
{
	crypto_generichash_state st;
	unsigned char *buf = NULL;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return al_err_sys(err, "%s", path);
	buf = malloc(READ_CHUNK);
	if (buf == NULL) {
		al_err_sys(err, "%s", path);
		goto out;
	}
	crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES_MAX);
	for (;;) {
		ssize_t r = read(fd, buf, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			al_err_sys(err, "%s: read", path);
			goto out;
		}
		if (r == 0)
			break;
		crypto_generichash_update(&st, buf, (size_t)r);
	}
	crypto_generichash_final(&st, out, crypto_generichash_BYTES_MAX);
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

/* Signs a BLAKE2b-512 digest and the trusted comment; formats the file. */
static char *sign_digest(const struct al_seckey *sec, const unsigned char *digest,
                         const char *trusted_comment, const char *untrusted_comment,
                         struct al_err *err)
{
	struct sig_bin bin;
	unsigned char global_sig[AL_SIG_LEN];
	unsigned char *sig_and_comment = NULL;
	size_t tclen, outlen;
	char *line = NULL, *global = NULL, *out = NULL;

	if (al_comment_check(trusted_comment, 1, err) < 0 ||
	    al_comment_check(untrusted_comment, 0, err) < 0)
		return NULL;
	memcpy(bin.sig_alg, "ED", 2);
	memcpy(bin.keyid, sec->keyid, sizeof bin.keyid);
	crypto_sign_detached(bin.sig, NULL, digest, crypto_generichash_BYTES_MAX, sec->sk);

	tclen = strlen(trusted_comment);
	sig_and_comment = malloc(sizeof bin.sig + tclen);
	if (sig_and_comment == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	memcpy(sig_and_comment, bin.sig, sizeof bin.sig);
	memcpy(sig_and_comment + sizeof bin.sig, trusted_comment, tclen);
	crypto_sign_detached(global_sig, NULL, sig_and_comment, sizeof bin.sig + tclen, sec->sk);

	line = al_base64((const unsigned char *)&bin, sizeof bin);
	global = al_base64(global_sig, sizeof global_sig);
	if (line == NULL || global == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	outlen = strlen(untrusted_comment) + tclen + strlen(line) + strlen(global) + 64;
	out = malloc(outlen);
	if (out == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	snprintf(out, outlen, "%s%s\n%s\n%s%s\n%s\n", AL_UNTRUSTED_PREFIX, untrusted_comment, line,
	         AL_TRUSTED_PREFIX, trusted_comment, global);
out:
	free(sig_and_comment);
	free(line);
	free(global);
	return out;
}

char *al_sign_buf(const struct al_seckey *sec, const void *msg, size_t n,
                  const char *trusted_comment, const char *untrusted_comment, struct al_err *err)
{
	unsigned char digest[crypto_generichash_BYTES_MAX];

	crypto_generichash(digest, sizeof digest, msg, n, NULL, 0);
	return sign_digest(sec, digest, trusted_comment, untrusted_comment, err);
}

char *al_sign_file(const struct al_seckey *sec, const char *path, const char *trusted_comment,
                   const char *untrusted_comment, struct al_err *err)
{
	unsigned char digest[crypto_generichash_BYTES_MAX];

	if (blake2b_file(path, digest, err) < 0)
		return NULL;
	return sign_digest(sec, digest, trusted_comment, untrusted_comment, err);
}

int al_sig_parse(const char *text, size_t len, const char *name, struct al_sig *sig,
                 struct al_err *err)
{
	struct al_lines lines;
	struct sig_bin bin;
	const char *comment, *tc;
	size_t comment_len, tclen;

	if (al_lines_split(text, len, 4, name, &lines, err) < 0 ||
	    al_line_comment(lines.line[0], lines.len[0], AL_UNTRUSTED_PREFIX, AL_UNTRUSTED_TEXT_MAX,
	                    name, "untrusted comment", &comment, &comment_len, err) < 0 ||
	    al_line_base64(lines.line[1], lines.len[1], (unsigned char *)&bin, sizeof bin, name,
	                   "signature", err) < 0 ||
	    al_line_comment(lines.line[2], lines.len[2], AL_TRUSTED_PREFIX, AL_TRUSTED_TEXT_MAX,
	                    name, "trusted comment", &tc, &tclen, err) < 0 ||
	    al_line_base64(lines.line[3], lines.len[3], sig->global_sig, sizeof sig->global_sig, name,
	                   "comment signature", err) < 0)
		return -1;
	if (memcmp(bin.sig_alg, "ED", 2) == 0)
		sig->alg = AL_SIG_PREHASHED;
	else if (memcmp(bin.sig_alg, "Ed", 2) == 0)
		sig->alg = AL_SIG_LEGACY;
	else
		return al_err_set(err, AL_EUSAGE, "%s: unsupported signature algorithm", name);
	memcpy(sig->keyid, bin.keyid, sizeof sig->keyid);
	memcpy(sig->sig, bin.sig, sizeof sig->sig);
	memcpy(sig->trusted_comment, tc, tclen);
	sig->trusted_comment[tclen] = '\0';
	return 0;
}

int al_sig_load(const char *path, struct al_sig *sig, struct al_err *err)
{
	char *text;
	size_t len;
	int ret;

	if (al_read_file(AT_FDCWD, path, SIGFILE_MAX, &text, &len, err) < 0)
		return -1;
	ret = al_sig_parse(text, len, path, sig, err);
	free(text);
	return ret;
}

/* The steps after the message signature: key id first, then the comment
 * signature. Split so that the buffer and file paths share them. */
static int check_keyid(const struct al_pubkey *pub, const struct al_sig *sig,
                       const char *sig_name, struct al_err *err)
{
	char want[AL_KEYID_HEX], got[AL_KEYID_HEX];

	if (memcmp(pub->keyid, sig->keyid, AL_KEYID_LEN) == 0)
		return 0;
	al_keyid_hex(sig->keyid, got);
	al_keyid_hex(pub->keyid, want);
	return al_err_set(err, AL_EVERIFY, "%s: signature key id %s does not match the public key id %s",
	                  sig_name, got, want);
}

static int check_global(const struct al_pubkey *pub, const struct al_sig *sig,
                        const char *sig_name, struct al_err *err)
{
	size_t tclen = strlen(sig->trusted_comment);
	unsigned char *buf = malloc(AL_SIG_LEN + tclen);
	int ok;

	if (buf == NULL)
		return al_err_sys(err, "cannot allocate memory");
	memcpy(buf, sig->sig, AL_SIG_LEN);
	memcpy(buf + AL_SIG_LEN, sig->trusted_comment, tclen);
	ok = crypto_sign_verify_detached(sig->global_sig, buf, AL_SIG_LEN + tclen, pub->pk) == 0;
	free(buf);
	if (!ok)
		return al_err_set(err, AL_EVERIFY, "%s: comment signature verification failed (trusted comment altered?)",
		                  sig_name);
	return 0;
}

static int sig_failed(const char *sig_name, struct al_err *err)
{
	return al_err_set(err, AL_EVERIFY, "%s: signature verification failed", sig_name);
}

int al_sig_verify_buf(const struct al_pubkey *pub, const struct al_sig *sig, const void *msg,
                      size_t n, const char *sig_name, struct al_err *err)
{
	unsigned char digest[crypto_generichash_BYTES_MAX];
	int bad;

	if (check_keyid(pub, sig, sig_name, err) < 0)
		return -1;
	if (sig->alg == AL_SIG_PREHASHED) {
		crypto_generichash(digest, sizeof digest, msg, n, NULL, 0);
		bad = crypto_sign_verify_detached(sig->sig, digest, sizeof digest, pub->pk);
	} else {
		bad = crypto_sign_verify_detached(sig->sig, msg, n, pub->pk);
	}
	if (bad != 0)
		return sig_failed(sig_name, err);
	return check_global(pub, sig, sig_name, err);
}

int al_sig_verify_file(const struct al_pubkey *pub, const struct al_sig *sig, const char *path,
                       const char *sig_name, struct al_err *err)
{
	unsigned char digest[crypto_generichash_BYTES_MAX];
	char *msg;
	size_t len;
	int ret;

	if (check_keyid(pub, sig, sig_name, err) < 0)
		return -1;
	if (sig->alg == AL_SIG_PREHASHED) {
		if (blake2b_file(path, digest, err) < 0)
			return -1;
		if (crypto_sign_verify_detached(sig->sig, digest, sizeof digest, pub->pk) != 0)
			return sig_failed(sig_name, err);
		return check_global(pub, sig, sig_name, err);
	}
	if (al_read_file(AT_FDCWD, path, LEGACY_MSG_MAX, &msg, &len, err) < 0) {
		al_err_prefix(err, "legacy (Ed) signature needs the whole file in memory");
		return -1;
	}
	ret = al_sig_verify_buf(pub, sig, msg, len, sig_name, err);
	free(msg);
	return ret;
}
