/* seal.c - forward-secure seals (FORMAT.md §5): the stored key and its
 * evolution, the mac, and the k0 file handed to the compliance officer. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define FSS_NAME "fss.key"
#define FSS_PREFIX "airlock.fss/1 "
#define FSS_EVOLVE_LABEL "airlock.fss/1"

void fss_evolve(unsigned char key[AL_SHA256_LEN])
{
	unsigned char buf[sizeof FSS_EVOLVE_LABEL - 1 + AL_SHA256_LEN];

	memcpy(buf, FSS_EVOLVE_LABEL, sizeof FSS_EVOLVE_LABEL - 1);
	memcpy(buf + sizeof FSS_EVOLVE_LABEL - 1, key, AL_SHA256_LEN);
	al_sha256_buf(buf, sizeof buf, key);
	sodium_memzero(buf, sizeof buf);
}

void seal_mac(const unsigned char key[AL_SHA256_LEN], uint64_t epoch, uint64_t upto,
              const char upto_hash_hex[65], char mac_hex[65])
{
	char msg[160];
	unsigned char mac[AL_SHA256_LEN];
	int n;

	n = snprintf(msg, sizeof msg, "airlock.seal/1\n%llu\n%llu\n%.64s", (unsigned long long)epoch,
	             (unsigned long long)upto, upto_hash_hex);
	al_hmac_sha256(key, AL_SHA256_LEN, msg, (size_t)n, mac);
	al_hex(mac, sizeof mac, mac_hex);
}

void fss_free(struct fss_state *st)
{
	if (st->key != NULL)
		sodium_free(st->key); /* wipes */
	st->key = NULL;
}

/* One decimal number followed by `after`; advances *p. */
static int fss_number(const char **p, char after, unsigned long long *v)
{
	char *end;

	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno != 0 || *end != after)
		return -1;
	*p = end + 1;
	return 0;
}

int fss_load(int dirfd, struct fss_state *st, int want_key, struct al_err *err)
{
	char *text = NULL;
	const char *p, *hex;
	unsigned long long epoch, upto;
	size_t len;
	int ret = -1;

	memset(st, 0, sizeof *st);
	if (al_read_file(dirfd, FSS_NAME, 256, &text, &len, err) < 0) {
		al_err_prefix(err, "audit seal key");
		return -1;
	}
	p = text + strlen(FSS_PREFIX);
	if (len < strlen(FSS_PREFIX) + 64 || strncmp(text, FSS_PREFIX, strlen(FSS_PREFIX)) != 0 ||
	    fss_number(&p, ' ', &epoch) < 0 || (size_t)(p - text) + 65 > len ||
	    (hex = p, p += 64, *p++ != ' ') || fss_number(&p, '\n', &upto) < 0 ||
	    (size_t)(p - text) != len) {
		al_err_set(err, AL_EUSAGE, "audit/" FSS_NAME ": malformed");
		goto out;
	}
	st->epoch = epoch;
	st->upto = upto;
	st->key = sodium_malloc(AL_SHA256_LEN);
	if (st->key == NULL) {
		al_err_sys(err, "cannot allocate secure memory");
		goto out;
	}
	if (al_unhex(hex, 64, st->key, AL_SHA256_LEN) < 0) {
		al_err_set(err, AL_EUSAGE, "audit/" FSS_NAME ": malformed");
		fss_free(st);
		goto out;
	}
	if (!want_key)
		fss_free(st);
	ret = 0;
out:
	sodium_memzero(text, len);
	free(text);
	return ret;
}

int fss_store(int dirfd, const struct fss_state *st, struct al_err *err)
{
	char text[200], hex[65];
	int n, ret;

	al_hex(st->key, AL_SHA256_LEN, hex);
	n = snprintf(text, sizeof text, FSS_PREFIX "%llu %s %llu\n", (unsigned long long)st->epoch,
	             hex, (unsigned long long)st->upto);
	/* Written to a new file and renamed over the old one: a crash leaves
	 * one key or the other, never half of each. */
	ret = al_write_atomic(dirfd, FSS_NAME, text, (size_t)n, 0600, "audit/" FSS_NAME, err);
	sodium_memzero(text, sizeof text);
	sodium_memzero(hex, sizeof hex);
	return ret;
}

int al_seal_key_load(const char *path, unsigned char key[AL_SHA256_LEN], struct al_err *err)
{
	char *text;
	size_t len;
	int ret = 0;

	if (al_read_file(AT_FDCWD, path, 256, &text, &len, err) < 0)
		return -1;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (al_unhex(text, len, key, AL_SHA256_LEN) < 0)
		ret = al_err_set(err, AL_EUSAGE, "%s: not a seal key (64 hex digits)", path);
	sodium_memzero(text, len);
	free(text);
	return ret;
}
