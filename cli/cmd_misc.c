/* cmd_misc.c - `airlock version` and `airlock sha256`. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <csv.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <sqlite3.h>
#include <zstd.h>

#ifndef AL_BUILD_INFO
#define AL_BUILD_INFO "unknown"
#endif
#ifndef AL_BUILD_FLAGS
#define AL_BUILD_FLAGS "unknown"
#endif

int al_cmd_version(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int verbose = cli->verbosity > 0, c;
	char csv[32];

	while ((c = al_cli_getopt(cli, argc, argv, "vh", longopts)) != -1) {
		switch (c) {
		case 'v': verbose = 1; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	snprintf(csv, sizeof csv, "%d.%d.%d", CSV_MAJOR, CSV_MINOR, CSV_RELEASE);
	if (cli->json) {
		json_t *v = json_pack("{s:s,s:s}", "program", cli->prog, "version", AL_VERSION);
		if (verbose) {
			json_object_set_new(v, "build", json_string(AL_BUILD_INFO));
			json_object_set_new(v, "build_flags", json_string(AL_BUILD_FLAGS));
			json_object_set_new(
				v, "libraries",
				json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "libsodium",
			                  sodium_version_string(), "libcrypto",
			                  OpenSSL_version(OPENSSL_VERSION), "jansson", jansson_version_str(),
			                  "sqlite", sqlite3_libversion(), "libarchive",
			                  archive_version_string(), "zstd", ZSTD_versionString(), "libcsv",
			                  csv));
		}
		al_cli_print_json(v);
		return AL_OK;
	}
	printf("%s %s\n", cli->prog, AL_VERSION);
	if (verbose)
		printf("build: %s\nbuild flags: %s\n"
		       "libsodium %s\n%s\njansson %s\nsqlite %s\n%s\nzstd %s\nlibcsv %s\n",
		       AL_BUILD_INFO, AL_BUILD_FLAGS, sodium_version_string(),
		       OpenSSL_version(OPENSSL_VERSION), jansson_version_str(), sqlite3_libversion(),
		       archive_version_string(), ZSTD_versionString(), csv);
	return AL_OK;
}

/* Prints a line as sha256sum does: a name with a backslash, newline or
 * carriage return is escaped and the line starts with a backslash. */
static void print_sum(const unsigned char sum[AL_SHA256_LEN], const char *name)
{
	char hex[AL_SHA256_HEX];
	int escape = strpbrk(name, "\\\n\r") != NULL;

	al_hex(sum, AL_SHA256_LEN, hex);
	if (escape)
		putchar('\\');
	printf("%s  ", hex);
	for (const char *p = name; *p != '\0'; p++) {
		if (escape && *p == '\\')
			fputs("\\\\", stdout);
		else if (escape && *p == '\n')
			fputs("\\n", stdout);
		else if (escape && *p == '\r')
			fputs("\\r", stdout);
		else
			putchar(*p);
	}
	putchar('\n');
}

int al_cmd_sha256(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static char *stdin_only[] = {"-", NULL};
	unsigned char sum[AL_SHA256_LEN];
	struct al_err err = {0};
	char **files;
	int c, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	files = optind < argc ? argv + optind : stdin_only;
	for (; *files != NULL; files++) {
		int rc;
		if (strcmp(*files, "-") == 0)
			rc = al_sha256_fd(STDIN_FILENO, "-", sum, NULL, &err);
		else
			rc = al_sha256_file(*files, sum, NULL, &err);
		if (rc < 0) {
			int e = al_cli_error(cli, &err);
			if (e > code)
				code = e;
			continue;
		}
		print_sum(sum, *files);
	}
	return code;
}
