/* user.c - an image config's User, resolved as OCI runtimes resolve it:
 * "", "name", "uid", "name:group", "uid:gid" and the mixed forms, against
 * the image's own /etc/passwd and /etc/group, never the host's. The files
 * are opened with openat2(RESOLVE_IN_ROOT): an image's /etc/passwd that is
 * a symlink (to /etc/shadow, to ../../..) resolves inside the image's
 * tree, as it would inside the step. */
#include "images/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define AL_RESOLVE_NO_MAGICLINKS 0x02
#define AL_RESOLVE_IN_ROOT 0x10

struct al_open_how {
	uint64_t flags, mode, resolve;
};

#define USER_FILE_MAX (4u << 20)

/* A decimal id that fits a uid_t, and is not -1 (which means "unchanged"
 * to setresuid); -1 when s is anything else. */
static int64_t id_parse(const char *s)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 10 || strspn(s, "0123456789") != n)
		return -1;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v < 0xffffffffu ? (int64_t)v : -1;
}

/* ROOT/rel, a regular file of at most USER_FILE_MAX bytes read whole
 * beneath the image root (NULL and *missing = 1 when the image has no
 * such file). */
static char *root_read(int rootfd, const char *rel, int *missing, struct al_err *err)
{
	struct al_open_how how = {O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0,
	                          AL_RESOLVE_IN_ROOT | AL_RESOLVE_NO_MAGICLINKS};
	int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
	char *buf = NULL;
	struct stat st;
	size_t len = 0;
	ssize_t n = 0;

	*missing = 0;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			*missing = 1;
			return NULL;
		}
		al_err_sys(err, "cannot open the image's /%s", rel);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)USER_FILE_MAX) {
		al_err_set(err, AL_EUSAGE, "the image's /%s is not a regular file of at most %u bytes",
		           rel, USER_FILE_MAX);
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf != NULL && len < (size_t)st.st_size &&
	       ((n = read(fd, buf + len, (size_t)st.st_size - len)) > 0 || (n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	if (buf == NULL || n < 0) {
		al_err_sys(err, "cannot read the image's /%s", rel);
		free(buf);
		buf = NULL;
	} else {
		buf[len] = '\0';
	}
	close(fd);
	return buf;
}

/* The line of a passwd or group file whose field `key` (0: name, 2: id)
 * is `want`; its id in *id and, for passwd, its primary gid in *gid.
 * 1 when found, 0 when not. */
static int db_find(const char *text, int key, const char *want, int64_t *id, int64_t *gid)
{
	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
		char buf[1024], *f[4] = {NULL, NULL, NULL, NULL}, *p = buf;
		const char *start = line;
		line = end != NULL ? end + 1 : NULL;
		if (n == 0 || n >= sizeof buf)
			continue;
		memcpy(buf, start, n);
		buf[n] = '\0';
		for (int k = 0; k < 4 && p != NULL; k++) {
			f[k] = p;
			p = strchr(p, ':');
			if (p != NULL)
				*p++ = '\0';
		}
		if (f[2] == NULL || strcmp(f[key], want) != 0 || id_parse(f[2]) < 0)
			continue;
		*id = id_parse(f[2]);
		if (gid != NULL)
			*gid = f[3] != NULL ? id_parse(f[3]) : -1;
		return 1;
	}
	return 0;
}

int al_image_user(const char *root, const char *spec, uint32_t *uid, uint32_t *gid,
                  struct al_err *err)
{
	char user[256], *group;
	char *passwd = NULL, *groups = NULL;
	int64_t u, g = -1, pg = -1;
	int rootfd, missing, rc = -1;

	*uid = *gid = 0;
	if (spec == NULL || spec[0] == '\0')
		return 0; /* root, as docker run */
	if (al_snprintf(user, sizeof user, "%s", spec) < 0 || strchr(user, '\n') != NULL)
		return al_err_set(err, AL_EUSAGE, "User \"%.40s...\": not a user name or id", spec);
	group = strchr(user, ':');
	if (group != NULL)
		*group++ = '\0';
	if (user[0] == '\0' || (group != NULL && group[0] == '\0'))
		return al_err_set(err, AL_EUSAGE, "User \"%s\": an empty user or group", spec);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return al_err_sys(err, "cannot open the image root %s", root);
	passwd = root_read(rootfd, "etc/passwd", &missing, err);
	if (passwd == NULL && !missing)
		goto out;
	u = id_parse(user);
	if (u < 0) {
		if (passwd == NULL || !db_find(passwd, 0, user, &u, &pg) || u < 0) {
			al_err_set(err, AL_EUSAGE, "User \"%s\": no user \"%s\" in the image's /etc/passwd",
			           spec, user);
			goto out;
		}
	} else if (passwd != NULL) {
		char num[24];
		int64_t same;
		snprintf(num, sizeof num, "%lld", (long long)u);
		if (!db_find(passwd, 2, num, &same, &pg))
			pg = -1;
	}
	if (group == NULL) {
		g = pg >= 0 ? pg : 0; /* a uid the image does not list: group 0, as runc */
	} else if ((g = id_parse(group)) < 0) {
		groups = root_read(rootfd, "etc/group", &missing, err);
		if (groups == NULL && !missing)
			goto out;
		if (groups == NULL || !db_find(groups, 0, group, &g, NULL) || g < 0) {
			al_err_set(err, AL_EUSAGE, "User \"%s\": no group \"%s\" in the image's /etc/group",
			           spec, group);
			goto out;
		}
	}
	*uid = (uint32_t)u;
	*gid = (uint32_t)g;
	rc = 0;
out:
	free(passwd);
	free(groups);
	close(rootfd);
	return rc;
}
