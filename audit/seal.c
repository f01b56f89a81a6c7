/* seal.c - forward-secure seals (FORMAT.md §5): the stored key and its
 * evolution; airlock.audit/2's epoch key pairs, seal messages and
 * signatures, and the public key file handed to the compliance officer;
 * airlock.audit/1's HMAC and its k0 file, still verified. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define FSS_NAME "fss.key"
#define FSS_PREFIX "airlock.fss/1 "
#define FSS2_PREFIX "airlock.fss/2 "
#define SEAL_PUB_PREFIX "airlock.seal-pub/2 "

/* k_{e+1} = SHA-256(label ‖ k_e): "airlock.fss/1" or "airlock.fss/2". */
static void evolve(const char *label, unsigned char key[AL_SHA256_LEN])
{
	unsigned char buf[16 + AL_SHA256_LEN];
	size_t n = strlen(label);

	for (size_t i = 0; i < n; i++) /* the label's bytes, without its NUL */
		buf[i] = (unsigned char)label[i];
	memcpy(buf + n, key, AL_SHA256_LEN);
	al_sha256_buf(buf, n + AL_SHA256_LEN, key);
	sodium_memzero(buf, sizeof buf);
}

void fss_evolve(unsigned char key[AL_SHA256_LEN])
{
	evolve("airlock.fss/1", key);
}

void fss2_evolve(unsigned char seed[AL_SHA256_LEN])
{
	evolve("airlock.fss/2", seed);
}

int seal2_keypair(const unsigned char seed[AL_SHA256_LEN], unsigned char pk[SEAL_PUB_LEN],
                  unsigned char *sk)
{
	return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -1;
}

int seal2_pub_is(const unsigned char seed[AL_SHA256_LEN], const char pub_hex[65])
{
	unsigned char pk[SEAL_PUB_LEN], *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	char hex[65];
	int ret = -1;

	if (sk != NULL && seal2_keypair(seed, pk, sk) == 0) {
		al_hex(pk, SEAL_PUB_LEN, hex);
		ret = strcmp(hex, pub_hex) == 0;
	}
	if (sk != NULL)
		sodium_free(sk);
	return ret;
}

size_t seal2_message(char *buf, size_t cap, uint64_t epoch, uint64_t upto, const char hu[65],
                     uint64_t every, const char next_pub[65])
{
	int n = snprintf(buf, cap, "airlock.seal/2\n%llu\n%llu\n%.64s\n%llu\n%.64s",
	                 (unsigned long long)epoch, (unsigned long long)upto, hu,
	                 (unsigned long long)every, next_pub);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

void seal2_sign(const unsigned char *sk, const void *msg, size_t n, char sig_hex[SEAL_SIG_HEX])
{
	unsigned char sig[crypto_sign_BYTES];

	crypto_sign_detached(sig, NULL, msg, n, sk);
	al_hex(sig, sizeof sig, sig_hex);
}

int seal2_make(const unsigned char seed[AL_SHA256_LEN], uint64_t epoch, uint64_t upto,
               const char hu[65], uint64_t every, char next_hex[65], char sig[SEAL_SIG_HEX])
{
	unsigned char pk[SEAL_PUB_LEN], cur_pk[SEAL_PUB_LEN];
	unsigned char *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES), *next = sodium_malloc(AL_SHA256_LEN);
	char msg[512];
	size_t n;
	int ret = -1;

	if (sk == NULL || next == NULL)
		goto out;
	memcpy(next, seed, AL_SHA256_LEN);
	fss2_evolve(next);
	/* the next epoch's public key, then this epoch's secret one */
	if (seal2_keypair(next, pk, sk) < 0 || seal2_keypair(seed, cur_pk, sk) < 0)
		goto out;
	al_hex(pk, SEAL_PUB_LEN, next_hex);
	n = seal2_message(msg, sizeof msg, epoch, upto, hu, every, next_hex);
	if (n == 0)
		goto out;
	seal2_sign(sk, msg, n, sig);
	ret = 0;
out:
	if (sk != NULL)
		sodium_free(sk);
	if (next != NULL)
		sodium_free(next);
	return ret;
}

int seal2_check(const unsigned char pk[SEAL_PUB_LEN], const void *msg, size_t n,
                const char *sig_hex)
{
	unsigned char sig[crypto_sign_BYTES];

	if (sig_hex == NULL || strlen(sig_hex) != 2 * crypto_sign_BYTES ||
	    al_unhex(sig_hex, 2 * crypto_sign_BYTES, sig, sizeof sig) < 0)
		return -1;
	return crypto_sign_verify_detached(sig, msg, n, pk) == 0 ? 0 : -1;
}

void seal_pub_id(const unsigned char pk[SEAL_PUB_LEN], char id[17])
{
	static const char digits[] = "0123456789ABCDEF";
	unsigned char h[AL_SHA256_LEN];

	al_sha256_buf(pk, SEAL_PUB_LEN, h);
	for (int i = 0; i < 8; i++) {
		id[2 * i] = digits[h[i] >> 4];
		id[2 * i + 1] = digits[h[i] & 15];
	}
	id[16] = '\0';
}

void al_seal_pub_id(const unsigned char pk[SEAL_PUB_LEN], char id[17])
{
	seal_pub_id(pk, id);
}

char *al_seal_pub_format(const unsigned char pk[SEAL_PUB_LEN])
{
	char hex[65], *out = malloc(sizeof SEAL_PUB_PREFIX + 65);

	if (out == NULL)
		return NULL;
	al_hex(pk, SEAL_PUB_LEN, hex);
	snprintf(out, sizeof SEAL_PUB_PREFIX + 65, SEAL_PUB_PREFIX "%s\n", hex);
	return out;
}

/* A key file handed over or typed back: its text without line ends. */
static int key_text(const char *path, char **text, size_t *len, struct al_err *err)
{
	if (al_read_file(AT_FDCWD, path, 256, text, len, err) < 0)
		return -1;
	while (*len > 0 && ((*text)[*len - 1] == '\n' || (*text)[*len - 1] == '\r'))
		(*len)--;
	return 0;
}

int al_seal_pub_load(const char *path, unsigned char pk[SEAL_PUB_LEN], struct al_err *err)
{
	char *text;
	const char *p;
	size_t len;
	int ret = 0;

	if (key_text(path, &text, &len, err) < 0)
		return -1;
	p = text;
	/* The file init wrote, or the 64 digits as written down on paper. */
	if (len >= strlen(SEAL_PUB_PREFIX) && strncmp(p, SEAL_PUB_PREFIX, strlen(SEAL_PUB_PREFIX)) == 0) {
		p += strlen(SEAL_PUB_PREFIX);
		len -= strlen(SEAL_PUB_PREFIX);
	}
	if (len != 64 || al_unhex(p, 64, pk, SEAL_PUB_LEN) < 0)
		ret = al_err_set(err, AL_EUSAGE,
		                 "%s: not a seal public key (\"" SEAL_PUB_PREFIX "\" and 64 hex digits)",
		                 path);
	free(text);
	return ret;
}

void seal_mac(const unsigned char key[AL_SHA256_LEN], uint64_t epoch, uint64_t upto,
              const char upto_hash_hex[65], char mac_hex[65])
{
	seal_mac_next(key, epoch, upto, upto_hash_hex, NULL, mac_hex);
}

void seal_mac_next(const unsigned char key[AL_SHA256_LEN], uint64_t epoch, uint64_t upto,
                   const char upto_hash_hex[65], const char *next_pub, char mac_hex[65])
{
	char msg[240];
	unsigned char mac[AL_SHA256_LEN];
	int n;

	/* the transition seal (FORMAT.md §5) also binds the first public key */
	n = snprintf(msg, sizeof msg, "airlock.seal/1\n%llu\n%llu\n%.64s%s%.64s",
	             (unsigned long long)epoch, (unsigned long long)upto, upto_hash_hex,
	             next_pub != NULL ? "\n" : "", next_pub != NULL ? next_pub : "");
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
	return fss_load_from(dirfd, FSS_NAME, st, want_key, err);
}

/* fss.key holds two slots of FSS_SLOT bytes, at offsets 0 and
 * FSS_SLOT_OFF (separate blocks): the current key in one, zeros in the
 * other. A new key is written into the free slot and made durable, then
 * the old one is overwritten with zeros in place and made durable: at
 * every moment one whole key is on disk, and an old key does not survive
 * on disk (FORMAT.md §5). A file of one record (written before slots) is
 * slot 1. */
#define FSS_SLOT 256
#define FSS_SLOT_OFF 4096

/* One slot's record: "airlock.fss/V <epoch> <64 hex> <upto>\n", then zeros.
 * 1 parsed, 0 empty (all zeros, or nothing there), -1 not a record. */
static int fss_parse(const char *buf, size_t len, struct fss_state *st)
{
	const char *nl = memchr(buf, '\n', len), *p, *hex;
	unsigned long long epoch, upto;
	size_t n;

	size_t z = 0;

	while (z < len && buf[z] == '\0')
		z++;
	if (z == len)
		return 0;
	if (nl == NULL)
		return -1;
	n = (size_t)(nl - buf) + 1;
	for (size_t k = n; k < len; k++)
		if (buf[k] != '\0')
			return -1;
	st->version = strncmp(buf, FSS2_PREFIX, strlen(FSS2_PREFIX)) == 0 ? 2
	              : strncmp(buf, FSS_PREFIX, strlen(FSS_PREFIX)) == 0 ? 1
	                                                                  : 0;
	p = buf + strlen(FSS_PREFIX);
	if (st->version == 0 || n < strlen(FSS_PREFIX) + 64 || fss_number(&p, ' ', &epoch) < 0 ||
	    (size_t)(p - buf) + 65 > n || (hex = p, p += 64, *p++ != ' ') ||
	    fss_number(&p, '\n', &upto) < 0 || (size_t)(p - buf) != n)
		return -1;
	st->epoch = epoch;
	st->upto = upto;
	if (al_unhex(hex, 64, st->key, AL_SHA256_LEN) < 0)
		return -1;
	return 1;
}

int fss_load_from(int dirfd, const char *name, struct fss_state *st, int want_key,
                  struct al_err *err)
{
	char buf[2][FSS_SLOT];
	struct fss_state got[2];
	int fd, r[2], pick = -1, ret = -1;

	memset(st, 0, sizeof *st);
	memset(got, 0, sizeof got);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return al_err_sys(err, "audit seal key: audit/%s", name);
	memset(buf, 0, sizeof buf);
	for (int k = 0; k < 2; k++) {
		ssize_t n = pread(fd, buf[k], FSS_SLOT, k == 0 ? 0 : FSS_SLOT_OFF);
		got[k].key = sodium_malloc(AL_SHA256_LEN);
		if (n < 0 || got[k].key == NULL) {
			al_err_sys(err, "audit seal key: audit/%s", name);
			goto out;
		}
		r[k] = fss_parse(buf[k], (size_t)n, &got[k]);
	}
	/* both whole: a crash between writing the new key and wiping the old
	 * one; the new one has the higher epoch */
	if (r[0] == 1 && (r[1] != 1 || got[0].epoch > got[1].epoch))
		pick = 0;
	else if (r[1] == 1 && (r[0] != 1 || got[1].epoch > got[0].epoch))
		pick = 1;
	if (pick < 0) {
		al_err_set(err, AL_EUSAGE, "audit/%s: malformed", name);
		goto out;
	}
	*st = got[pick];
	got[pick].key = NULL;
	st->slot = pick + 1;
	st->stale = r[1 - pick] == 1; /* both whole: the older one waits to be wiped */
	if (!want_key)
		fss_free(st);
	ret = 0;
out:
	fss_free(&got[0]);
	fss_free(&got[1]);
	sodium_memzero(buf, sizeof buf);
	close(fd);
	return ret;
}

int fss_store(int dirfd, struct fss_state *st, struct al_err *err)
{
	return fss_store_as(dirfd, FSS_NAME, st, err);
}

static int pwrite_all(int fd, const char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int fss_store_as(int dirfd, const char *name, struct fss_state *st, struct al_err *err)
{
	static const char zeros[FSS_SLOT];
	char rec[FSS_SLOT], hex[65];
	int fd, ret = 0, target = st->slot == 1 ? 2 : 1, fresh = st->slot == 0;

	memset(rec, 0, sizeof rec);
	al_hex(st->key, AL_SHA256_LEN, hex);
	snprintf(rec, sizeof rec, "%s%llu %s %llu\n", st->version == 2 ? FSS2_PREFIX : FSS_PREFIX,
	         (unsigned long long)st->epoch, hex, (unsigned long long)st->upto);
	sodium_memzero(hex, sizeof hex);
	fd = al_sys_openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (fresh ? O_TRUNC : 0),
	                   0600);
	if (fd < 0) {
		sodium_memzero(rec, sizeof rec);
		return al_err_sys(err, "audit/%s", name);
	}
	/* the new key in the free slot, durable; then the old one zeroed in
	 * place, durable. A disk that cannot do either fails the seal like
	 * any other write of the log. */
	if (pwrite_all(fd, rec, sizeof rec, target == 1 ? 0 : FSS_SLOT_OFF) < 0 ||
	    al_sys_fdatasync(fd) < 0)
		ret = al_err_sys(err, "audit/%s", name);
	else if (!fresh && (pwrite_all(fd, zeros, sizeof zeros, target == 1 ? FSS_SLOT_OFF : 0) < 0 ||
	                    al_sys_fdatasync(fd) < 0))
		ret = al_err_sys(err, "audit/%s: overwriting the previous epoch's key", name);
	sodium_memzero(rec, sizeof rec);
	if (close(fd) < 0 && ret == 0)
		ret = al_err_sys(err, "audit/%s", name);
	if (ret == 0 && fresh)
		ret = al_fsync_dir(dirfd, name, err); /* a new file: its name durable too */
	if (ret == 0)
		st->slot = target;
	return ret;
}

int al_seal_key_load(const char *path, unsigned char key[AL_SHA256_LEN], struct al_err *err)
{
	char *text;
	size_t len;
	int ret = 0;

	if (key_text(path, &text, &len, err) < 0)
		return -1;
	if (al_unhex(text, len, key, AL_SHA256_LEN) < 0)
		ret = al_err_set(err, AL_EUSAGE, "%s: not a seal key (64 hex digits)", path);
	sodium_memzero(text, len);
	free(text);
	return ret;
}

/* Writes the key handed over (the public key, or a /1 log's k0) to a
 * file that must not exist: another log's key is never overwritten. */
int audit_key_out_write(const char *path, const unsigned char *k0, int version,
                        struct al_err *err)
{
	char text[128], *pub = NULL;
	size_t n;
	int fd, ret = 0;

	if (version == 2) {
		unsigned char pk[SEAL_PUB_LEN], *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
		if (sk == NULL || seal2_keypair(k0, pk, sk) < 0 || (pub = al_seal_pub_format(pk)) == NULL) {
			if (sk != NULL)
				sodium_free(sk);
			return al_err_sys(err, "cannot make the seal key pair");
		}
		sodium_free(sk);
		n = strlen(pub);
		memcpy(text, pub, n + 1);
		free(pub);
	} else {
		al_hex(k0, AL_SHA256_LEN, text);
		text[64] = '\n';
		text[65] = '\0';
		n = 65;
	}
	fd = al_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, version == 2 ? 0644 : 0600);
	if (fd < 0) {
		sodium_memzero(text, sizeof text);
		if (errno == EEXIST)
			return al_err_set(err, AL_EUSAGE, "%s already exists: the seal key is written once, to a new file",
			                  path);
		return al_err_sys(err, "%s", path);
	}
	/* public: readable by whoever checks the log, whatever the umask */
	if ((version == 2 && fchmod(fd, 0644) < 0) || al_write_all(fd, text, n) < 0 ||
	    al_sys_fsync(fd) < 0)
		ret = al_err_sys(err, "%s: write", path);
	sodium_memzero(text, sizeof text);
	if (close(fd) < 0 && ret == 0)
		ret = al_err_sys(err, "%s: close", path);
	if (ret == 0)
		ret = al_fsync_parent(path, err);
	if (ret < 0)
		unlink(path);
	return ret;
}

int fss_wipe(int dirfd, const char *name, struct al_err *err)
{
	static const char zeros[FSS_SLOT_OFF + FSS_SLOT];
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW), ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : al_err_sys(err, "audit/%s", name);
	/* both slots overwritten and synced before the name goes */
	if (pwrite_all(fd, zeros, sizeof zeros, 0) < 0 || al_sys_fdatasync(fd) < 0)
		ret = al_err_sys(err, "audit/%s: wiping", name);
	close(fd);
	if (ret == 0 && unlinkat(dirfd, name, 0) < 0)
		ret = al_err_sys(err, "audit/%s", name);
	return ret;
}
