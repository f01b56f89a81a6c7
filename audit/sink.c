/* sink.c - where anchors go (FORMAT.md §12): the sinks of HOME/audit/
 * sinks.json, a directory writer (a WORM share, a second host's mount)
 * and an RFC 5424 syslog client over TCP (RFC 6587 octet counting) or
 * UDP, for the bank's SIEM. One anchor is one checkpoint's files; a sink
 * gets all of them or, as far as it can tell, none. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SINKS_NAME "sinks.json"
#define SINKS_FORMAT "airlock.sinks/1"
#define SINKS_MAX 32
/* RFC 5424 §7.2.2: a private enterprise number for our SD-ID; 32473 is
 * the one RFC 5612 reserves for documentation and examples. */
#define SD_ID "airlock@32473"

int al_sink_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > AL_SINK_NAME_MAX || !((name[0] >= 'a' && name[0] <= 'z') ||
	                                        (name[0] >= '0' && name[0] <= '9')))
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* tcp://HOST:PORT, udp://HOST:PORT; HOST a name, an IPv4 address or
 * [an IPv6 address]. */
static int url_parse(const char *url, struct al_sink *s, struct al_err *err)
{
	const char *p, *host, *colon;
	size_t hlen;
	char *end;
	long port;

	if (strncmp(url, "tcp://", 6) == 0)
		s->udp = 0;
	else if (strncmp(url, "udp://", 6) == 0)
		s->udp = 1;
	else if (strncmp(url, "tls://", 6) == 0)
		s->tls = 1;
	else
		return al_err_set(err, AL_EUSAGE,
		                  "--syslog %s: tcp://HOST:PORT, tls://HOST:PORT or udp://HOST:PORT", url);
	p = url + 6;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL || close[1] != ':')
			return al_err_set(err, AL_EUSAGE, "--syslog %s: an IPv6 address goes in [ ]", url);
		host = p + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL)
			return al_err_set(err, AL_EUSAGE, "--syslog %s: no :PORT", url);
		host = p;
		hlen = (size_t)(colon - p);
	}
	if (hlen == 0 || hlen >= sizeof s->host || memchr(host, '/', hlen) != NULL ||
	    memchr(host, ' ', hlen) != NULL)
		return al_err_set(err, AL_EUSAGE, "--syslog %s: no host", url);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || port < 1 || port > 65535)
		return al_err_set(err, AL_EUSAGE, "--syslog %s: the port is a number from 1 to 65535",
		                  url);
	memcpy(s->host, host, hlen);
	s->host[hlen] = '\0';
	snprintf(s->port, sizeof s->port, "%ld", port);
	return 0;
}

int al_sink_make(const char *name, const char *dir, const char *syslog_url, struct al_sink *s,
                 struct al_err *err)
{
	memset(s, 0, sizeof *s);
	if (!al_sink_name_ok(name))
		return al_err_set(err, AL_EUSAGE,
		                  "sink name '%s': lower-case letters, digits, '_' and '-', %d at most",
		                  name, AL_SINK_NAME_MAX);
	memcpy(s->name, name, strlen(name) + 1);
	if ((dir == NULL) == (syslog_url == NULL))
		return al_err_set(err, AL_EUSAGE, "a sink is one of --dir PATH or --syslog URL");
	if (dir != NULL) {
		if (dir[0] != '/' || strlen(dir) >= sizeof s->target)
			return al_err_set(err, AL_EUSAGE, "--dir %s: an absolute path", dir);
		s->kind = AL_SINK_DIR;
		memcpy(s->target, dir, strlen(dir) + 1);
		return 0;
	}
	if (strlen(syslog_url) >= sizeof s->target)
		return al_err_set(err, AL_EUSAGE, "--syslog %s: too long", syslog_url);
	s->kind = AL_SINK_SYSLOG;
	memcpy(s->target, syslog_url, strlen(syslog_url) + 1);
	return url_parse(syslog_url, s, err);
}

int al_sink_tls(struct al_sink *s, const char *ca, const char *cert, const char *key,
                struct al_err *err)
{
	const char *files[3] = {ca, cert, key};
	char *dst[3] = {s->ca, s->cert, s->key};

	if (!s->tls) {
		if (ca != NULL || cert != NULL || key != NULL)
			return al_err_set(err, AL_EUSAGE, "--ca, --cert and --key are for a tls:// sink");
		return 0;
	}
	if (ca == NULL)
		return al_err_set(err, AL_EUSAGE,
		                  "%s: --ca FILE is needed: the CA the collector's certificate chains to",
		                  s->target);
	if ((cert == NULL) != (key == NULL))
		return al_err_set(err, AL_EUSAGE, "--cert and --key go together");
	for (int i = 0; i < 3; i++) {
		if (files[i] == NULL)
			continue;
		if (files[i][0] != '/' || strlen(files[i]) >= sizeof s->ca)
			return al_err_set(err, AL_EUSAGE, "%s: an absolute path", files[i]);
		memcpy(dst[i], files[i], strlen(files[i]) + 1);
	}
	return 0;
}

const char *al_sink_kind_name(const struct al_sink *s)
{
	return s->kind == AL_SINK_DIR ? "dir" : "syslog";
}

void al_sinks_free(struct al_sinks *sinks)
{
	free(sinks->s);
	sinks->s = NULL;
	sinks->n = 0;
}

int al_sinks_load(const char *home, struct al_sinks *sinks, struct al_err *err)
{
	char path[PATH_MAX], *text = NULL;
	json_error_t je;
	json_t *root, *arr, *v;
	size_t len, i;
	int ret = -1;

	memset(sinks, 0, sizeof *sinks);
	if (al_snprintf(path, sizeof path, "%s/" AUDIT_DIR "/" SINKS_NAME, home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0; /* no sink yet */
	if (al_read_file(AT_FDCWD, path, 1 << 20, &text, &len, err) < 0)
		return -1;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (root == NULL)
		return al_err_set(err, AL_EUSAGE, "%s:%d: %s", path, je.line, je.text);
	arr = json_object_get(root, "sinks");
	if (!json_is_string(json_object_get(root, "format")) ||
	    strcmp(json_string_value(json_object_get(root, "format")), SINKS_FORMAT) != 0 ||
	    !json_is_array(arr) || json_array_size(arr) > SINKS_MAX) {
		al_err_set(err, AL_EUSAGE, "%s: not {\"format\": \"" SINKS_FORMAT "\", \"sinks\": [...]}",
		           path);
		goto out;
	}
	{
		json_t *lim = json_object_get(root, "lag_limit_ms");
		const char *on = json_string_value(json_object_get(root, "on_lag"));
		if ((lim != NULL && (!json_is_integer(lim) || json_integer_value(lim) < 0)) ||
		    (on != NULL && strcmp(on, "continue") != 0 && strcmp(on, "halt") != 0)) {
			al_err_set(err, AL_EUSAGE,
			           "%s: lag_limit_ms is a number of milliseconds, on_lag continue or halt",
			           path);
			goto out;
		}
		sinks->lag_limit_ms = json_integer_value(lim);
		sinks->halt = on != NULL && strcmp(on, "halt") == 0;
	}
	sinks->s = calloc(json_array_size(arr) + 1, sizeof *sinks->s);
	if (sinks->s == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	json_array_foreach(arr, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		if (name == NULL ||
		    al_sink_make(name, json_string_value(json_object_get(v, "dir")),
		                 json_string_value(json_object_get(v, "syslog")), &sinks->s[i], err) < 0 ||
		    al_sink_tls(&sinks->s[i], json_string_value(json_object_get(v, "ca")),
		                json_string_value(json_object_get(v, "cert")),
		                json_string_value(json_object_get(v, "key")), err) < 0) {
			if (name == NULL)
				al_err_set(err, AL_EUSAGE, "%s: sink %zu has no name", path, i + 1);
			else
				al_err_prefix(err, "%s: sink %s", path, name);
			al_sinks_free(sinks);
			goto out;
		}
		sinks->n++;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int al_sinks_store(const char *home, const struct al_sinks *sinks, struct al_err *err)
{
	char path[PATH_MAX], *text;
	json_t *root = json_pack("{s:s,s:[]}", "format", SINKS_FORMAT, "sinks");
	int ret;

	if (sinks->lag_limit_ms > 0) {
		json_object_set_new(root, "lag_limit_ms", json_integer(sinks->lag_limit_ms));
		json_object_set_new(root, "on_lag", json_string(sinks->halt ? "halt" : "continue"));
	}
	for (size_t i = 0; i < sinks->n; i++) {
		const struct al_sink *s = &sinks->s[i];
		json_t *o = json_pack("{s:s,s:s}", "name", s->name,
		                      s->kind == AL_SINK_DIR ? "dir" : "syslog", s->target);
		if (s->tls)
			json_object_set_new(o, "ca", json_string(s->ca));
		if (s->cert[0] != '\0') {
			json_object_set_new(o, "cert", json_string(s->cert));
			json_object_set_new(o, "key", json_string(s->key));
		}
		json_array_append_new(json_object_get(root, "sinks"), o);
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (al_snprintf(path, sizeof path, "%s/" AUDIT_DIR "/" SINKS_NAME, home) < 0) {
		free(text);
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	}
	ret = al_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return ret;
}

/* ---- a directory ---- */

static int write_whole(int dirfd, const char *name, const char *data, size_t n, struct al_err *err)
{
	int fd = al_sys_openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int ret = 0;

	if (fd < 0)
		return al_err_sys(err, "%s", name);
	if (al_write_all(fd, data, n) < 0 || al_sys_fsync(fd) < 0)
		ret = al_err_sys(err, "%s", name);
	if (close(fd) < 0 && ret == 0)
		ret = al_err_sys(err, "%s", name);
	return ret;
}

/* DIR/<log_id>/checkpoint-<size>/: the files written in a directory whose
 * name starts with a dot, then renamed: a reader of the share never sees
 * a checkpoint without its signatures. */
static int send_dir(const struct al_sink *s, const struct al_anchor *a, struct al_err *err)
{
	char logdir[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX];
	static const char *const names[] = {"checkpoint.txt", "checkpoint.txt.minisig",
	                                     "checkpoint.txt.sig", "host.pub"};
	const char *data[4] = {a->text, a->minisig, a->sig2, a->host_pub};
	int dfd = -1, ldfd = -1, ret = -1;

	if (al_snprintf(logdir, sizeof logdir, "%s/%s", s->target, a->cp.log_id) < 0 ||
	    al_snprintf(final, sizeof final, "%s/checkpoint-%012llu", logdir,
	                (unsigned long long)a->cp.size) < 0 ||
	    al_snprintf(tmp, sizeof tmp, "%s/.checkpoint-%012llu.XXXXXX", logdir,
	                (unsigned long long)a->cp.size) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", s->target);
	if (access(logdir, F_OK) < 0) {
		/* a new log's directory: made, and its name durable */
		if (al_mkdirs(logdir, 0755, err) < 0 || al_fsync_parent(logdir, err) < 0)
			return -1;
	}
	if (access(final, F_OK) == 0) {
		/* this entry was anchored there before: the same checkpoint, or
		 * the sink holds another history of this log (said, not hidden) */
		char path[PATH_MAX + 32], *text = NULL;
		size_t len;
		struct al_checkpoint had;
		al_snprintf(path, sizeof path, "%s/checkpoint.txt", final);
		if (al_read_file(AT_FDCWD, path, 4096, &text, &len, err) < 0)
			return -1;
		ret = al_checkpoint_parse(text, len, path, &had, err) < 0 ? -1
		      : memcmp(had.hash, a->cp.hash, AL_SHA256_LEN) != 0 || strcmp(had.log_id, a->cp.log_id) != 0
		          ? al_err_set(err, AL_EVERIFY,
		                       "%s holds another entry %llu of this log than the log now has",
		                       final, (unsigned long long)a->cp.size)
		          : 0;
		free(text);
		return ret;
	}
	if (mkdtemp(tmp) == NULL)
		return al_err_sys(err, "%s", logdir);
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		al_err_sys(err, "%s", tmp);
		(void)rmdir(tmp);
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		if (data[i] == NULL || data[i][0] == '\0')
			continue;
		if (write_whole(dfd, names[i], data[i], strlen(data[i]), err) < 0) {
			al_err_prefix(err, "%s", tmp);
			goto out;
		}
	}
	(void)fchmod(dfd, 0755);
	if (al_sys_fsync(dfd) < 0) {
		al_err_sys(err, "%s", tmp);
		goto out;
	}
	if (al_sys_renameat(AT_FDCWD, tmp, AT_FDCWD, final) < 0) {
		al_err_sys(err, "%s: rename", final);
		goto out;
	}
	tmp[0] = '\0';
	ldfd = open(logdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ldfd < 0 || al_fsync_dir(ldfd, logdir, err) < 0) {
		if (ldfd < 0)
			al_err_sys(err, "%s", logdir);
		goto out;
	}
	ret = 0;
out:
	if (tmp[0] != '\0' && dfd >= 0) {
		/* nothing half-made left: the files, then the directory */
		for (int i = 0; i < 4; i++)
			(void)unlinkat(dfd, names[i], 0);
		(void)rmdir(tmp);
	}
	if (dfd >= 0)
		close(dfd);
	if (ldfd >= 0)
		close(ldfd);
	return ret;
}

/* ---- syslog ---- */

void syslog_host(char out[256])
{
	const char *h = al_host_name();
	size_t n = 0;

	for (; *h != '\0' && n < 255; h++)
		out[n++] = (*h > 32 && *h < 127) ? *h : '-';
	if (n == 0)
		out[n++] = '-';
	out[n] = '\0';
}

char *al_anchor_syslog_message(const struct al_anchor *a, size_t *len)
{
	char host[256], head[AL_SHA256_HEX], now[AL_TS_LEN], *out;
	int n;

	syslog_host(host);
	al_hex(a->cp.hash, AL_SHA256_LEN, head);
	al_ts_format(al_now_us(), now);
	/* <PRI> = facility 13 (log audit) * 8 + severity 5 (notice). Every
	 * value is hex, digits or a timestamp: nothing to escape in the
	 * SD-PARAMs (", \ and ] would need it). */
	n = asprintf(&out,
	             "<109>1 %s %s airlock %ld anchor [" SD_ID " log_id=\"%s\" size=\"%llu\" "
	             "head=\"%s\" checkpoint_ts=\"%s\" format=\"%s\" epoch=\"%llu\" seal_pub=\"%s\" "
	             "sig=\"%s\" host_key=\"%s\"] airlock checkpoint of log %s at entry %llu",
	             now, host, (long)getpid(), a->cp.log_id, (unsigned long long)a->cp.size, head,
	             a->cp.ts, a->cp.version == 1 ? AL_AUDIT_FORMAT_1 : AL_AUDIT_FORMAT,
	             (unsigned long long)a->epoch, a->seal_pub[0] ? a->seal_pub : "-",
	             a->sig2_hex[0] ? a->sig2_hex : "-", a->host_keyid, a->cp.log_id,
	             (unsigned long long)a->cp.size);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

static int send_syslog(const struct al_sink *s, const struct al_anchor *a, struct al_err *err)
{
	struct sink_conn c;
	char *msg, *frame = NULL;
	size_t len;
	int ret;

	msg = al_anchor_syslog_message(a, &len);
	if (msg == NULL)
		return al_err_sys(err, "cannot allocate memory");
	/* TCP and TLS: RFC 6587 octet counting, "LEN SP MSG"; UDP: the message alone */
	if (!s->udp && asprintf(&frame, "%zu %s", len, msg) < 0) {
		free(msg);
		return al_err_sys(err, "cannot allocate memory");
	}
	ret = conn_open(&c, s, err);
	if (ret == 0) {
		ret = conn_send(&c, s->udp ? msg : frame, strlen(s->udp ? msg : frame), 0, err);
		/* an orderly close: the collector has what was sent when it
		 * answers ours, and a reset now (a collector gone) is an error */
		if (ret == 0)
			ret = conn_finish(&c, err);
		else
			conn_close(&c);
	}
	free(msg);
	free(frame);
	return ret;
}

int al_sink_send(const struct al_sink *s, const struct al_anchor *a, struct al_err *err)
{
	return s->kind == AL_SINK_DIR ? send_dir(s, a, err) : send_syslog(s, a, err);
}

/* ---- an anchor: a checkpoint made to be sent ---- */

void al_anchor_free(struct al_anchor *a)
{
	free(a->text);
	free(a->minisig);
	free(a->sig2);
	free(a->host_pub);
	memset(a, 0, sizeof *a);
}

int al_anchor_make(const char *home, struct al_anchor *a, struct al_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	static const char *const names[] = {"checkpoint.txt", "checkpoint.txt.minisig",
	                                    "checkpoint.txt.sig", "host.pub"};
	char **dst[4];
	struct al_pubkey pub;
	size_t len;
	int ret = -1;

	memset(a, 0, sizeof *a);
	dst[0] = &a->text;
	dst[1] = &a->minisig;
	dst[2] = &a->sig2;
	dst[3] = &a->host_pub;
	if (al_snprintf(dir, sizeof dir, "%s/" AUDIT_DIR "/anchor.XXXXXX", home) < 0)
		return al_err_set(err, AL_EUSAGE, "%s: path too long", home);
	if (mkdtemp(dir) == NULL)
		return al_err_sys(err, "%s", dir);
	if (al_audit_checkpoint(home, dir, &a->cp, err) < 0)
		goto out;
	for (int i = 0; i < 4; i++) {
		al_snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (i == 2 && access(path, F_OK) < 0) {
			a->sig2 = strdup(""); /* a /1 log: no epoch key */
			if (a->sig2 == NULL)
				goto nomem;
			continue;
		}
		if (al_read_file(AT_FDCWD, path, 65536, dst[i], &len, err) < 0)
			goto out;
	}
	if (a->sig2[0] != '\0') {
		struct checkpoint_sig2 s2;
		if (checkpoint_sig2_parse(a->sig2, strlen(a->sig2), "checkpoint.txt.sig", &s2, err) < 0)
			goto out;
		a->epoch = s2.epoch;
		al_hex(s2.pub, SEAL_PUB_LEN, a->seal_pub);
		memcpy(a->sig2_hex, s2.sig, sizeof a->sig2_hex);
	}
	if (al_pubkey_parse(a->host_pub, strlen(a->host_pub), "host.pub", &pub, err) < 0)
		goto out;
	al_keyid_hex(pub.keyid, a->host_keyid);
	ret = 0;
	goto out;
nomem:
	al_err_sys(err, "cannot allocate memory");
out:
	for (int i = 0; i < 4; i++) {
		al_snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
	if (ret < 0)
		al_anchor_free(a);
	return ret;
}
