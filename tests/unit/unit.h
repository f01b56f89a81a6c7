/* unit.h - what every cmocka test file includes: cmocka in the order it
 * needs, airlock's core API, and scratch-directory helpers. */
#ifndef AIRLOCK_UNIT_H
#define AIRLOCK_UNIT_H

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

/* A fresh directory under $TMPDIR (or /tmp), removed by unit_rmtree. */
static inline char *unit_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path = malloc(4096);

	assert_non_null(path);
	snprintf(path, 4096, "%s/airlock-unit-XXXXXX", tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(path));
	return path;
}

static inline void unit_rmtree(char *path)
{
	char cmd[4200];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
	free(path);
}

static inline void unit_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A whole file (at most 64 MiB), malloc'd; NULL when it cannot be read. */
static inline char *unit_slurp(const char *path)
{
	struct al_err err = {0};
	char *buf;
	size_t len;

	if (al_read_file(AT_FDCWD, path, 64 << 20, &buf, &len, &err) < 0)
		return NULL;
	return buf;
}

/* How many entries a directory has, "." and ".." aside. */
static inline int unit_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

#endif
