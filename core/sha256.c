/* sha256.c - SHA-256 and HMAC-SHA256 through OpenSSL libcrypto's EVP API,
 * which uses the CPU's SHA extensions; hex encoding. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Fetched once: an implicit fetch on every EVP_DigestInit costs more than
 * hashing a short audit line. */
static EVP_MD *sha256_md(void)
{
	static EVP_MD *md;

	if (md == NULL) {
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
		if (md == NULL)
			abort(); /* libcrypto without SHA-256 cannot run airlock */
	}
	return md;
}

void al_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int al_unhex(const char *hex, size_t hexlen, unsigned char *out, size_t n)
{
	if (hexlen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value((unsigned char)hex[2 * i]);
		int lo = hex_value((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int al_sha256_init(struct al_sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	h->ctx = ctx;
	if (ctx == NULL)
		return -1;
	if (EVP_DigestInit_ex2(ctx, sha256_md(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		h->ctx = NULL;
		return -1;
	}
	return 0;
}

void al_sha256_update(struct al_sha256 *h, const void *data, size_t n)
{
	/* EVP_DigestUpdate fails only on a context that was never set up,
	 * which init already ruled out. */
	(void)EVP_DigestUpdate(h->ctx, data, n);
}

void al_sha256_final(struct al_sha256 *h, unsigned char out[AL_SHA256_LEN])
{
	unsigned int len = AL_SHA256_LEN;

	(void)EVP_DigestFinal_ex(h->ctx, out, &len);
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void al_sha256_abort(struct al_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void al_sha256_buf(const void *data, size_t n, unsigned char out[AL_SHA256_LEN])
{
	/* One context reused for every short hash: airlock is single-threaded
	 * and this runs once per audit line. */
	static EVP_MD_CTX *ctx;
	unsigned int len = AL_SHA256_LEN;

	if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
		abort();
	if (EVP_DigestInit_ex2(ctx, sha256_md(), NULL) != 1 || EVP_DigestUpdate(ctx, data, n) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &len) != 1)
		abort();
}

#define HASH_CHUNK (128 << 10) /* fits in L2: the data is hashed while still in cache */

int al_sha256_fd(int fd, const char *name, unsigned char out[AL_SHA256_LEN], uint64_t *size,
                 struct al_err *err)
{
	struct al_sha256 h;
	unsigned char *buf;
	uint64_t total = 0;
	int ret = -1;

	buf = malloc(HASH_CHUNK);
	if (buf == NULL)
		return al_err_sys(err, "%s", name);
	if (al_sha256_init(&h) < 0) {
		al_err_set(err, AL_EENV, "%s: cannot start SHA-256", name);
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t r = read(fd, buf, HASH_CHUNK);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			al_err_sys(err, "%s: read", name);
			al_sha256_abort(&h);
			goto out;
		}
		if (r == 0)
			break;
		al_sha256_update(&h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	al_sha256_final(&h, out);
	if (size != NULL)
		*size = total;
	ret = 0;
out:
	free(buf);
	return ret;
}

int al_sha256_file(const char *path, unsigned char out[AL_SHA256_LEN], uint64_t *size,
                   struct al_err *err)
{
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return al_err_sys(err, "%s", path);
	ret = al_sha256_fd(fd, path, out, size, err);
	close(fd);
	return ret;
}

void al_hmac_sha256(const unsigned char *key, size_t keylen, const void *msg, size_t n,
                    unsigned char out[AL_SHA256_LEN])
{
	size_t outlen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, msg, n, out,
	              AL_SHA256_LEN, &outlen) == NULL ||
	    outlen != AL_SHA256_LEN)
		abort();
}
