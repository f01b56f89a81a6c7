/* keys.c - minisign-compatible public and secret keys (DESIGN.md §4):
 * parsing with exact lengths and an allow-list of algorithms, generation,
 * scrypt encryption, and the text file formats. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define SIGALG "Ed"
#define KDFALG "Sc"
#define KDFNONE "\0\0"
#define CHKALG "B2"

/* The decoded public key: "Ed" ‖ keyid ‖ pk. */
struct pubkey_bin {
	unsigned char sig_alg[2];
	unsigned char keyid[AL_KEYID_LEN];
	unsigned char pk[AL_PK_LEN];
};

/* The decoded secret key; keyid, sk and chk are encrypted together. */
struct seckey_bin {
	unsigned char sig_alg[2];
	unsigned char kdf_alg[2];
	unsigned char chk_alg[2];
	unsigned char kdf_salt[crypto_pwhash_scryptsalsa208sha256_SALTBYTES];
	unsigned char kdf_opslimit_le[8];
	unsigned char kdf_memlimit_le[8];
	unsigned char keyid[AL_KEYID_LEN];
	unsigned char sk[AL_SK_LEN];
	unsigned char chk[crypto_generichash_BYTES];
};

_Static_assert(sizeof(struct pubkey_bin) == 42, "minisign public key is 42 bytes");
_Static_assert(sizeof(struct seckey_bin) == 158, "minisign secret key is 158 bytes");

/* The encrypted part of struct seckey_bin: keyid ‖ sk ‖ chk. */
#define SECKEY_CIPHER_LEN (AL_KEYID_LEN + AL_SK_LEN + crypto_generichash_BYTES)

/* Refuse key files whose scrypt cost would take the host down: minisign
 * writes 1 GiB; 4 GiB leaves room and bounds what a crafted file asks. */
#define KDF_MEMLIMIT_MAX (4ULL << 30)
#define KDF_OPSLIMIT_MAX (1ULL << 32)

#define KEYFILE_MAX 4096

int al_crypto_init(struct al_err *err)
{
	if (sodium_init() < 0)
		return al_err_set(err, AL_EENV, "cannot initialise libsodium");
	return 0;
}

void al_keyid_hex(const unsigned char keyid[AL_KEYID_LEN], char out[AL_KEYID_HEX])
{
	static const char digits[] = "0123456789ABCDEF";

	/* minisign prints the key id as a little-endian uint64 in %016PRIX64:
	 * the last byte first. */
	for (int i = 0; i < AL_KEYID_LEN; i++) {
		unsigned char b = keyid[AL_KEYID_LEN - 1 - i];
		out[2 * i] = digits[b >> 4];
		out[2 * i + 1] = digits[b & 15];
	}
	out[2 * AL_KEYID_LEN] = '\0';
}

int al_keyid_parse(const char *hex, unsigned char keyid[AL_KEYID_LEN])
{
	unsigned char be[AL_KEYID_LEN];

	if (strlen(hex) != 2 * AL_KEYID_LEN || al_unhex(hex, strlen(hex), be, sizeof be) < 0)
		return -1;
	for (int i = 0; i < AL_KEYID_LEN; i++)
		keyid[i] = be[AL_KEYID_LEN - 1 - i];
	return 0;
}

/* ---- shared line parsing ---- */

int al_lines_split(const char *text, size_t len, size_t max_lines, const char *name,
                   struct al_lines *out, struct al_err *err)
{
	size_t pos = 0;

	memset(out, 0, sizeof *out);
	if (memchr(text, '\0', len) != NULL)
		return al_err_set(err, AL_EUSAGE, "%s: contains a NUL byte", name);
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t l = nl != NULL ? (size_t)(nl - start) : len - pos;

		pos += l + (nl != NULL);
		if (l > 0 && start[l - 1] == '\r')
			l--;
		if (l == 0) {
			/* Empty lines may only trail the content. */
			for (size_t i = pos; i < len; i++)
				if (text[i] != '\n' && text[i] != '\r')
					return al_err_set(err, AL_EUSAGE, "%s: unexpected empty line %zu",
					                  name, out->count + 1);
			break;
		}
		if (out->count == max_lines)
			return al_err_set(err, AL_EUSAGE, "%s: trailing data after line %zu", name,
			                  max_lines);
		out->line[out->count] = start;
		out->len[out->count] = l;
		out->count++;
	}
	if (out->count < max_lines)
		return al_err_set(err, AL_EUSAGE, "%s: truncated: %zu of %zu lines", name, out->count,
		                  max_lines);
	return 0;
}

int al_line_comment(const char *line, size_t len, const char *prefix, size_t max,
                    const char *name, const char *what, const char **text, size_t *text_len,
                    struct al_err *err)
{
	size_t plen = strlen(prefix);

	if (len < plen || memcmp(line, prefix, plen) != 0)
		return al_err_set(err, AL_EUSAGE, "%s: %s line does not start with \"%s\"", name, what,
		                  prefix);
	if (len - plen > max)
		return al_err_set(err, AL_EUSAGE, "%s: %s is longer than %zu bytes", name, what, max);
	*text = line + plen;
	*text_len = len - plen;
	return 0;
}

int al_line_base64(const char *line, size_t len, unsigned char *out, size_t expected,
                   const char *name, const char *what, struct al_err *err)
{
	unsigned char buf[256];
	size_t binlen = 0;
	const char *end = NULL;

	if (expected >= sizeof buf)
		return al_err_set(err, AL_EUSAGE, "%s: %s: internal size limit", name, what);
	/* A buffer one byte larger than expected: an overlong line fails to
	 * fit or decodes to too many bytes. */
	if (sodium_base642bin(buf, expected + 1, line, len, NULL, &binlen, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != line + len) {
		sodium_memzero(buf, sizeof buf);
		return al_err_set(err, AL_EUSAGE, "%s: %s: invalid base64 encoding", name, what);
	}
	if (binlen != expected) {
		sodium_memzero(buf, sizeof buf);
		return al_err_set(err, AL_EUSAGE, "%s: %s: %zu bytes where %zu are expected", name,
		                  what, binlen, expected);
	}
	memcpy(out, buf, expected);
	sodium_memzero(buf, sizeof buf);
	return 0;
}

char *al_base64(const unsigned char *in, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(len);

	if (out != NULL)
		sodium_bin2base64(out, len, in, n, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

/* ---- public keys ---- */

int al_pubkey_from_base64(const char *b64, struct al_pubkey *pub, struct al_err *err)
{
	struct pubkey_bin bin;

	if (al_line_base64(b64, strlen(b64), (unsigned char *)&bin, sizeof bin, "public key",
	                   "key", err) < 0)
		return -1;
	if (memcmp(bin.sig_alg, SIGALG, 2) != 0)
		return al_err_set(err, AL_EUSAGE, "public key: unsupported signature algorithm");
	memcpy(pub->keyid, bin.keyid, sizeof pub->keyid);
	memcpy(pub->pk, bin.pk, sizeof pub->pk);
	return 0;
}

int al_pubkey_parse(const char *text, size_t len, const char *name, struct al_pubkey *pub,
                    struct al_err *err)
{
	struct al_lines lines;
	struct pubkey_bin bin;
	const char *comment;
	size_t comment_len;

	if (al_lines_split(text, len, 2, name, &lines, err) < 0 ||
	    al_line_comment(lines.line[0], lines.len[0], AL_UNTRUSTED_PREFIX, AL_UNTRUSTED_TEXT_MAX,
	                    name, "untrusted comment", &comment, &comment_len, err) < 0 ||
	    al_line_base64(lines.line[1], lines.len[1], (unsigned char *)&bin, sizeof bin, name,
	                   "public key", err) < 0)
		return -1;
	if (memcmp(bin.sig_alg, SIGALG, 2) != 0)
		return al_err_set(err, AL_EUSAGE, "%s: unsupported signature algorithm", name);
	memcpy(pub->keyid, bin.keyid, sizeof pub->keyid);
	memcpy(pub->pk, bin.pk, sizeof pub->pk);
	return 0;
}

int al_pubkey_load(const char *path, struct al_pubkey *pub, struct al_err *err)
{
	char *text;
	size_t len;
	int ret;

	if (al_read_file(AT_FDCWD, path, KEYFILE_MAX, &text, &len, err) < 0)
		return -1;
	ret = al_pubkey_parse(text, len, path, pub, err);
	free(text);
	return ret;
}

char *al_pubkey_format(const struct al_pubkey *pub, const char *comment)
{
	struct pubkey_bin bin;
	char keyid[AL_KEYID_HEX], *b64, *out = NULL;
	size_t outlen;

	memcpy(bin.sig_alg, SIGALG, 2);
	memcpy(bin.keyid, pub->keyid, sizeof bin.keyid);
	memcpy(bin.pk, pub->pk, sizeof bin.pk);
	al_keyid_hex(pub->keyid, keyid);
	b64 = al_base64((const unsigned char *)&bin, sizeof bin);
	if (b64 == NULL)
		return NULL;
	outlen = strlen(AL_UNTRUSTED_PREFIX) + AL_COMMENT_LINE_MAX + strlen(b64) + 64;
	out = malloc(outlen);
	if (out != NULL) {
		if (comment != NULL)
			snprintf(out, outlen, "%s%s\n%s\n", AL_UNTRUSTED_PREFIX, comment, b64);
		else
			snprintf(out, outlen, "%sminisign public key %s\n%s\n", AL_UNTRUSTED_PREFIX,
			         keyid, b64);
	}
	free(b64);
	return out;
}

/* ---- secret keys ---- */

int al_keypair_generate(struct al_pubkey *pub, struct al_seckey **sec, struct al_err *err)
{
	struct al_seckey *s = sodium_malloc(sizeof *s);

	if (s == NULL)
		return al_err_sys(err, "cannot allocate secure memory for the secret key");
	randombytes_buf(s->keyid, sizeof s->keyid);
	if (crypto_sign_keypair(pub->pk, s->sk) != 0) {
		sodium_free(s);
		return al_err_set(err, AL_EENV, "cannot generate an Ed25519 key pair");
	}
	memcpy(pub->keyid, s->keyid, sizeof pub->keyid);
	*sec = s;
	return 0;
}

void al_seckey_free(struct al_seckey *sec)
{
	if (sec != NULL)
		sodium_free(sec); /* wipes before unmapping */
}

void al_secret_free(char *s)
{
	if (s != NULL)
		sodium_free(s);
}

static void le64_store(unsigned char out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le64_load(const unsigned char in[8])
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | in[i];
	return v;
}

/* BLAKE2b-256("Ed" ‖ keyid ‖ sk): how a wrong passphrase is noticed. */
static void seckey_checksum(const struct seckey_bin *bin, unsigned char chk[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, bin->sig_alg, sizeof bin->sig_alg);
	crypto_generichash_update(&st, bin->keyid, sizeof bin->keyid);
	crypto_generichash_update(&st, bin->sk, sizeof bin->sk);
	crypto_generichash_final(&st, chk, 32);
	sodium_memzero(&st, sizeof st);
}

/* XORs keyid ‖ sk ‖ chk with the scrypt stream of the passphrase. */
static int seckey_crypt(struct seckey_bin *bin, const char *passphrase, struct al_err *err)
{
	unsigned char *stream = sodium_malloc(SECKEY_CIPHER_LEN);
	unsigned char *p = bin->keyid;
	uint64_t ops = le64_load(bin->kdf_opslimit_le), mem = le64_load(bin->kdf_memlimit_le);

	if (stream == NULL)
		return al_err_sys(err, "cannot allocate secure memory");
	if (crypto_pwhash_scryptsalsa208sha256(stream, SECKEY_CIPHER_LEN, passphrase,
	                                       strlen(passphrase), bin->kdf_salt, ops,
	                                       (size_t)mem) != 0) {
		sodium_free(stream);
		return al_err_set(err, AL_EENV, "scrypt failed (out of memory?)");
	}
	for (size_t i = 0; i < SECKEY_CIPHER_LEN; i++)
		p[i] ^= stream[i];
	sodium_free(stream);
	return 0;
}

struct al_seckey *al_seckey_parse(const char *text, size_t len, const char *name,
                                  al_pass_fn get_pass, void *ctx, struct al_err *err)
{
	struct seckey_bin *bin = NULL;
	struct al_seckey *sec = NULL;
	struct al_lines lines;
	const char *comment;
	size_t comment_len;
	unsigned char chk[32];
	char *pass = NULL;
	int encrypted;

	if (al_lines_split(text, len, 2, name, &lines, err) < 0 ||
	    al_line_comment(lines.line[0], lines.len[0], AL_UNTRUSTED_PREFIX, AL_UNTRUSTED_TEXT_MAX,
	                    name, "untrusted comment", &comment, &comment_len, err) < 0)
		return NULL;
	bin = sodium_malloc(sizeof *bin);
	if (bin == NULL) {
		al_err_sys(err, "%s: cannot allocate secure memory", name);
		return NULL;
	}
	if (al_line_base64(lines.line[1], lines.len[1], (unsigned char *)bin, sizeof *bin, name,
	                   "secret key", err) < 0)
		goto out;
	if (memcmp(bin->sig_alg, SIGALG, 2) != 0 || memcmp(bin->chk_alg, CHKALG, 2) != 0) {
		al_err_set(err, AL_EUSAGE, "%s: unsupported signature or checksum algorithm", name);
		goto out;
	}
	if (memcmp(bin->kdf_alg, KDFALG, 2) == 0)
		encrypted = 1;
	else if (memcmp(bin->kdf_alg, KDFNONE, 2) == 0)
		encrypted = 0;
	else {
		al_err_set(err, AL_EUSAGE, "%s: unsupported key derivation function", name);
		goto out;
	}
	if (encrypted) {
		if (le64_load(bin->kdf_memlimit_le) > KDF_MEMLIMIT_MAX ||
		    le64_load(bin->kdf_opslimit_le) > KDF_OPSLIMIT_MAX) {
			al_err_set(err, AL_EUSAGE, "%s: scrypt limits out of range", name);
			goto out;
		}
		if (get_pass == NULL || (pass = get_pass(ctx, err)) == NULL) {
			if (get_pass == NULL)
				al_err_set(err, AL_EUSAGE, "%s: key is encrypted; a passphrase is needed",
				           name);
			goto out;
		}
		if (seckey_crypt(bin, pass, err) < 0)
			goto out;
		seckey_checksum(bin, chk);
		/* Only an encrypted key carries a checksum: minisign -W leaves
		 * zeros there and does not check it. */
		if (sodium_memcmp(chk, bin->chk, sizeof chk) != 0) {
			al_err_set(err, AL_EVERIFY, "%s: wrong passphrase (or corrupted key: checksum mismatch)",
			           name);
			goto out;
		}
	}
	sec = sodium_malloc(sizeof *sec);
	if (sec == NULL) {
		al_err_sys(err, "%s: cannot allocate secure memory", name);
		goto out;
	}
	memcpy(sec->keyid, bin->keyid, sizeof sec->keyid);
	memcpy(sec->sk, bin->sk, sizeof sec->sk);
out:
	sodium_memzero(chk, sizeof chk);
	al_secret_free(pass);
	sodium_free(bin);
	return sec;
}

struct al_seckey *al_seckey_load(const char *path, al_pass_fn get_pass, void *ctx,
                                 struct al_err *err)
{
	struct al_seckey *sec;
	char *text;
	size_t len;

	if (al_read_file(AT_FDCWD, path, KEYFILE_MAX, &text, &len, err) < 0)
		return NULL;
	sec = al_seckey_parse(text, len, path, get_pass, ctx, err);
	sodium_memzero(text, len); /* an unencrypted key's file text is the key */
	free(text);
	return sec;
}

char *al_seckey_format(const struct al_seckey *sec, const char *passphrase, const char *comment,
                       struct al_err *err)
{
	struct seckey_bin *bin = sodium_malloc(sizeof *bin);
	size_t b64len = sodium_base64_ENCODED_LEN(sizeof *bin, sodium_base64_VARIANT_ORIGINAL);
	size_t outlen;
	char *out = NULL;
	int n;

	if (bin == NULL) {
		al_err_sys(err, "cannot allocate secure memory");
		return NULL;
	}
	memset(bin, 0, sizeof *bin);
	memcpy(bin->sig_alg, SIGALG, 2);
	memcpy(bin->chk_alg, CHKALG, 2);
	memcpy(bin->keyid, sec->keyid, sizeof bin->keyid);
	memcpy(bin->sk, sec->sk, sizeof bin->sk);
	if (passphrase != NULL) {
		memcpy(bin->kdf_alg, KDFALG, 2);
		randombytes_buf(bin->kdf_salt, sizeof bin->kdf_salt);
		le64_store(bin->kdf_opslimit_le, crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE);
		le64_store(bin->kdf_memlimit_le, crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE);
		seckey_checksum(bin, bin->chk);
		if (seckey_crypt(bin, passphrase, err) < 0)
			goto out;
	} else {
		memcpy(bin->kdf_alg, KDFNONE, 2); /* salt, limits and checksum stay zero */
	}
	if (comment == NULL)
		comment = passphrase != NULL ? "minisign encrypted secret key"
		                             : "minisign unencrypted secret key";
	outlen = strlen(AL_UNTRUSTED_PREFIX) + strlen(comment) + 1 + b64len + 1;
	out = sodium_malloc(outlen);
	if (out == NULL) {
		al_err_sys(err, "cannot allocate secure memory");
		goto out;
	}
	n = snprintf(out, outlen, "%s%s\n", AL_UNTRUSTED_PREFIX, comment);
	sodium_bin2base64(out + n, outlen - (size_t)n, (const unsigned char *)bin, sizeof *bin,
	                  sodium_base64_VARIANT_ORIGINAL);
	strcat(out + n, "\n");
out:
	sodium_free(bin);
	return out;
}
