/* init.c - a new audit log (FORMAT.md §1, §5): its directory and
 * settings, the host key pair (kept when one exists), the epoch-0 seal
 * key (its public half written once, to a file that must not exist: it is
 * handed to the compliance officer), and the first entries, log.open and
 * a seal of epoch 0. Nothing half-made is left when any of it fails.
 * (An airlock.audit/1 log, sealed with HMAC and k0, is made only for
 * tests of what older hosts wrote.) */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static int host_key_ensure(const char *home, char keyid[AL_KEYID_HEX], struct al_err *err)
{
	char sec_path[PATH_MAX], pub_path[PATH_MAX], *sec_text = NULL, *pub_text = NULL;
	struct al_seckey *sec = NULL;
	struct al_pubkey pub;
	int ret = -1;

	if (al_snprintf(sec_path, sizeof sec_path, "%s/host.key", home) < 0 ||
	    al_snprintf(pub_path, sizeof pub_path, "%s/host.pub", home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (access(sec_path, F_OK) == 0) {
		if (al_pubkey_load(pub_path, &pub, err) < 0)
			return -1;
		al_keyid_hex(pub.keyid, keyid);
		return 0;
	}
	if (al_keypair_generate(&pub, &sec, err) < 0)
		return -1;
	/* The host key signs checkpoints unattended: it cannot ask for a
	 * passphrase. Its protection is the file mode and the host. */
	sec_text = al_seckey_format(sec, NULL, "airlock host key", err);
	pub_text = al_pubkey_format(&pub, NULL);
	if (sec_text == NULL || pub_text == NULL)
		goto out;
	/* The public half first: a host.key is only ever there with its
	 * host.pub, and a host.pub alone is replaced on the next try. */
	if (al_write_file_atomic(pub_path, pub_text, strlen(pub_text), 0644, err) < 0 ||
	    al_write_file_atomic(sec_path, sec_text, strlen(sec_text), 0600, err) < 0)
		goto out;
	al_keyid_hex(pub.keyid, keyid);
	ret = 0;
out:
	al_secret_free(sec_text);
	free(pub_text);
	al_seckey_free(sec);
	return ret;
}

int al_audit_init(const char *home, const char *seal_pub_out, const struct al_audit_config *cfg,
                  struct al_err *err)
{
	return audit_init(home, seal_pub_out, 2, cfg, err);
}

int audit_init(const char *home, const char *seal_key_out, int version,
               const struct al_audit_config *cfg, struct al_err *err)
{
	char path[PATH_MAX], keyid[AL_KEYID_HEX], name[SEG_NAME_MAX];
	unsigned char id[16], *k0 = NULL;
	struct fss_state st = {0};
	struct al_audit *log = NULL;
	json_t *f = NULL;
	int dirfd = -1, fd, ret = -1, k0_written = 0;
	struct stat sb;

	if (al_snprintf(path, sizeof path, "%s/" AUDIT_DIR, home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (al_crypto_init(err) < 0)
		return -1;
	seg_name(1, 0, name);
	if (al_mkdirs(home, 0700, err) < 0)
		return -1;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return al_err_sys(err, "%s", path);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return al_err_sys(err, "%s", path);
	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(dirfd, "fss.key", &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		al_err_set(err, AL_EUSAGE, "%s: an audit log exists already", path);
		goto out;
	}
	k0 = sodium_malloc(AL_SHA256_LEN);
	if (k0 == NULL) {
		al_err_sys(err, "cannot allocate secure memory");
		goto out;
	}
	randombytes_buf(k0, AL_SHA256_LEN);
	if (audit_key_out_write(seal_key_out, k0, version, err) < 0)
		goto out;
	k0_written = 1;
	if (host_key_ensure(home, keyid, err) < 0 || audit_config_store(dirfd, cfg, err) < 0)
		goto out;
	st.key = k0;
	st.version = version;
	if (fss_store(dirfd, &st, err) < 0)
		goto out;
	fd = al_openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0600);
	if (fd < 0) {
		al_err_sys(err, "%s/%s", path, name);
		goto out;
	}
	close(fd);
	if (al_fsync_dir(dirfd, path, err) < 0)
		goto out;

	/* The first entries, written like any others. */
	log = writer_alloc(home, err);
	if (log == NULL || writer_lock(log, err) < 0)
		goto out;
	log->segno = 1;
	log->segfd = al_openat(dirfd, name, O_RDWR | O_APPEND, 0600);
	if (log->segfd < 0) {
		al_err_sys(err, "%s/%s", path, name);
		goto out;
	}
	randombytes_buf(id, sizeof id);
	al_hex(id, sizeof id, log->log_id);
	/* host, like user, uid and pid, is stamped by append_entry */
	f = json_pack("{s:s,s:s,s:s,s:i}", "log_id", log->log_id, "host_key", keyid, "airlock",
	              AL_VERSION, "fss_epoch", 0);
	if (f != NULL && version == 2) {
		/* What the log says of its own seals; a verifier trusts the key
		 * it was handed, and only compares this one with it. */
		unsigned char pk[SEAL_PUB_LEN], *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
		char hex[65];
		if (sk == NULL || seal2_keypair(k0, pk, sk) < 0) {
			if (sk != NULL)
				sodium_free(sk);
			al_err_sys(err, "cannot make the seal key pair");
			goto out;
		}
		sodium_free(sk);
		al_hex(pk, SEAL_PUB_LEN, hex);
		json_object_set_new(f, "format", json_string(AL_AUDIT_FORMAT));
		json_object_set_new(f, "seal_pub", json_string(hex));
		json_object_set_new(f, "seal_every", json_integer((json_int_t)log->cfg.seal_every));
	}
	if (writer_append(log, "log.open", f, 1, 0, err) < 0 || writer_seal(log, err) < 0)
		goto out;
	ret = 0;
out:
	json_decref(f);
	if (log != NULL)
		writer_free(log);
	if (ret < 0 && k0_written) {
		/* Nothing half-made: without a log, the k0 file is of no use. */
		(void)unlink(seal_key_out);
		(void)unlinkat(dirfd, name, 0);
		(void)unlinkat(dirfd, "fss.key", 0);
	}
	if (k0 != NULL)
		sodium_free(k0);
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}
