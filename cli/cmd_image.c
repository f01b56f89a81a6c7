/* cmd_image.c - `airlock image ls | inspect | prune`: the image store
 * (images/store.c) as an operator and an examiner see it: each image's
 * digests, layers and size, and which installed pipelines use it; prune
 * removes, audited, the images no installed pipeline names. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "images/image.h"
#include "manifests/manifests.h"

static const struct option json_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The options of ls and inspect: --json and --help. -1 to go on, else
 * the exit code. */
static int json_only(struct al_cli *cli, int argc, char **argv)
{
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", json_opts)) != -1) {
		switch (c) {
		case 'j': cli->json = 1; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	return -1;
}

/* digest -> [{pipeline, version, image}] of every installed pipeline. */
static int used_by_each(void *ctx, const char *name, const struct al_manifest *m,
                        const char *manifest_sha256, json_t *install)
{
	json_t *users = ctx;

	(void)manifest_sha256;
	(void)install;
	for (size_t i = 0; i < m->images_n; i++) {
		json_t *list = json_object_get(users, m->images[i].digest);
		if (list == NULL) {
			list = json_array();
			json_object_set_new(users, m->images[i].digest, list);
		}
		json_array_append_new(list, json_pack("{s:s,s:I,s:s}", "pipeline", name, "version",
		                                      (json_int_t)m->version, "image", m->images[i].name));
	}
	return 0;
}

/* The store's images, each with "used_by". */
static json_t *store_view(const char *home, struct al_err *err)
{
	json_t *users = json_object(), *list, *im;
	size_t i;

	if (al_pipelines_list(home, used_by_each, users, err) < 0 ||
	    (list = al_image_list(home, err)) == NULL) {
		json_decref(users);
		return NULL;
	}
	json_array_foreach(list, i, im) {
		json_t *u = json_object_get(users, json_string_value(json_object_get(im, "config_digest")));
		json_object_set(im, "used_by", u != NULL ? u : json_array());
		if (u == NULL)
			json_decref(json_object_get(im, "used_by"));
	}
	json_decref(users);
	return list;
}

static void size_text(uint64_t n, char *out, size_t len)
{
	if (n >= (1ull << 30))
		snprintf(out, len, "%.1fG", (double)n / (1ull << 30));
	else if (n >= (1ull << 20))
		snprintf(out, len, "%.1fM", (double)n / (1ull << 20));
	else
		snprintf(out, len, "%.1fK", (double)n / 1024);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static int cmd_ls(struct al_cli *cli, int argc, char **argv)
{
	struct al_err err = {0};
	const char *home;
	json_t *list, *im;
	size_t i;
	int c;

	if ((c = json_only(cli, argc, argv)) >= 0)
		return c;
	if (optind != argc)
		return al_cli_usage(cli, "no arguments are taken");
	if ((home = al_cli_home(cli, &err)) == NULL || (list = store_view(home, &err)) == NULL)
		return al_cli_error(cli, &err);
	if (cli->json) {
		al_cli_print_json(list);
		return AL_OK;
	}
	printf("%-19s %-9s %-6s %-20s %s\n", "IMAGE", "SIZE", "LAYERS", "CREATED", "USED BY");
	json_array_foreach(list, i, im) {
		char size[32], users[512] = "";
		json_t *u;
		size_t k, n = 0;
		size_text((uint64_t)json_integer_value(json_object_get(im, "unpacked_bytes")), size, sizeof size);
		json_array_foreach(json_object_get(im, "used_by"), k, u) {
			n += (size_t)snprintf(users + n, n < sizeof users ? sizeof users - n : 0, "%s%s/%s", k ? ", " : "",
			                      jstr(u, "pipeline"), jstr(u, "image"));
			if (n >= sizeof users)
				break;
		}
		printf("%.19s %-9s %-6zu %-20.20s %s\n", jstr(im, "config_digest"), size,
		       json_array_size(json_object_get(im, "layers")), jstr(im, "created"),
		       users[0] ? users : "(none: airlock image prune removes it)");
	}
	json_decref(list);
	return AL_OK;
}

/* An image by "sha256:HEX", a unique prefix of it (12 digits at least),
 * or the name an installed pipeline gives it (PIPELINE/NAME when two
 * pipelines name different images alike). */
static json_t *find(json_t *list, const char *what, struct al_err *err)
{
	json_t *hit = NULL, *im;
	const char *slash = strchr(what, '/');
	size_t i, wl = strlen(what), n = 0;
	int by_digest = strncmp(what, "sha256:", 7) == 0 || (wl >= 12 && strspn(what, "0123456789abcdef") == wl);

	json_array_foreach(list, i, im) {
		const char *d = jstr(im, "config_digest");
		int match = 0;
		json_t *u;
		size_t k;
		if (by_digest)
			match = strncmp(d + (strncmp(what, "sha256:", 7) == 0 ? 0 : 7), what, wl) == 0;
		json_array_foreach(json_object_get(im, "used_by"), k, u) {
			if (slash != NULL)
				match |= strncmp(what, jstr(u, "pipeline"), (size_t)(slash - what)) == 0 &&
				         jstr(u, "pipeline")[slash - what] == '\0' && strcmp(slash + 1, jstr(u, "image")) == 0;
			else
				match |= strcmp(what, jstr(u, "image")) == 0;
		}
		if (match) {
			hit = im;
			n++;
		}
	}
	if (n == 1)
		return json_incref(hit);
	al_err_set(err, AL_EUSAGE, n == 0 ? "no image %s in the store (airlock image ls lists them)"
	                                  : "%s names more than one image: give PIPELINE/NAME or the digest",
	           what);
	return NULL;
}

static int cmd_inspect(struct al_cli *cli, int argc, char **argv)
{
	struct al_err err = {0};
	const char *home;
	json_t *list, *im, *l, *u;
	size_t i;
	int c;

	if ((c = json_only(cli, argc, argv)) >= 0)
		return c;
	if (optind != argc - 1)
		return al_cli_usage(cli, "one image is needed: a name, PIPELINE/NAME or a digest");
	if ((home = al_cli_home(cli, &err)) == NULL || (list = store_view(home, &err)) == NULL)
		return al_cli_error(cli, &err);
	im = find(list, argv[optind], &err);
	json_decref(list);
	if (im == NULL)
		return al_cli_error(cli, &err);
	if (cli->json) {
		al_cli_print_json(im);
		return AL_OK;
	}
	printf("image      %s\n", jstr(im, "config_digest"));
	printf("manifest   %s (%s archive)\n", jstr(im, "manifest_digest"), jstr(im, "format"));
	printf("platform   %s\ncreated    %s\n", jstr(im, "platform"), jstr(im, "created"));
	printf("tree       sha256:%s (%s/images/%s/tree.txt)\n", jstr(im, "tree_sha256"), home,
	       jstr(im, "config_digest") + 7);
	printf("unpacked   %lld bytes, %lld entries\n",
	       (long long)json_integer_value(json_object_get(im, "unpacked_bytes")),
	       (long long)json_integer_value(json_object_get(im, "entries")));
	json_array_foreach(json_object_get(im, "layers"), i, l) {
		printf("layer %-4zu %s %lld bytes%s%s\n", i, jstr(l, "digest"),
		       (long long)json_integer_value(json_object_get(l, "size")),
		       json_object_get(l, "media_type") != NULL ? " " : "", jstr(l, "media_type"));
	}
	json_array_foreach(json_object_get(im, "skipped"), i, l) {
		printf("not made   %s (%s, layer %s)\n", jstr(l, "member"), jstr(l, "what"), jstr(l, "layer"));
	}
	json_array_foreach(json_object_get(im, "used_by"), i, u) {
		printf("used by    %s version %lld, as %s\n", jstr(u, "pipeline"),
		       (long long)json_integer_value(json_object_get(u, "version")), jstr(u, "image"));
	}
	if (json_array_size(json_object_get(im, "used_by")) == 0)
		printf("used by    no installed pipeline\n");
	json_decref(im);
	return AL_OK;
}

static int cmd_prune(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_err err = {0};
	struct al_audit *log = NULL;
	const char *home;
	json_t *list, *im;
	size_t i, removed = 0;
	int c, dry = 0, code = AL_OK, lockfd = -1;

	while ((c = al_cli_getopt(cli, argc, argv, "hn", longopts)) != -1) {
		switch (c) {
		case 'n': dry = 1; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "no arguments are taken");
	if ((home = al_cli_home(cli, &err)) == NULL)
		return al_cli_error(cli, &err);
	/* nobody holds the store: no run uses an image, no install is between
	 * its image and its link (held until the end) */
	if (!dry && (lockfd = al_image_store_lock(home, 1, &err)) < 0)
		return al_cli_error(cli, &err);
	if ((list = store_view(home, &err)) == NULL) {
		if (lockfd >= 0)
			close(lockfd);
		return al_cli_error(cli, &err);
	}
	if (!dry && (log = al_audit_open(home, &err)) == NULL) {
		json_decref(list);
		close(lockfd);
		return al_cli_error(cli, &err);
	}
	json_array_foreach(list, i, im) {
		json_t *f;
		if (json_array_size(json_object_get(im, "used_by")) > 0)
			continue;
		printf("%s %s\n", dry ? "would remove" : "removed", jstr(im, "config_digest"));
		if (dry)
			continue;
		/* the entry first: nothing leaves the store unaudited */
		f = json_pack("{s:s,s:s,s:I}", "config_digest", jstr(im, "config_digest"), "tree_sha256",
		              jstr(im, "tree_sha256"), "unpacked_bytes",
		              json_integer_value(json_object_get(im, "unpacked_bytes")));
		if (al_audit_append(log, "image.pruned", f, AL_AUDIT_SYNC, &err) < 0 ||
		    al_image_remove(home, jstr(im, "config_digest"), &err) < 0) {
			json_decref(f);
			code = al_cli_error(cli, &err);
			break;
		}
		json_decref(f);
		removed++;
	}
	json_decref(list);
	if (log != NULL && al_audit_close(log, &err) < 0 && code == AL_OK)
		code = al_cli_error(cli, &err);
	if (lockfd >= 0)
		close(lockfd);
	if (code == AL_OK && !dry)
		al_cli_info(cli, "%zu image%s removed", removed, removed == 1 ? "" : "s");
	return code;
}

static const struct al_command image_commands[] = {
	{"ls", cmd_ls, "image ls [--json]",
	 "the images in the store: digest, size, layers, created, which pipelines use them", NULL},
	{"inspect", cmd_inspect, "image inspect NAME|PIPELINE/NAME|DIGEST [--json]",
	 "one image: its digests, layers, tree hash, what was not made, who uses it",
	 "tree.txt beside the tree lists every file with its SHA-256 (mtree style);\n"
	 "the tree hash that step.start records is the SHA-256 of that listing.\n"},
	{"prune", cmd_prune, "image prune [--dry-run]",
	 "remove the images no installed pipeline uses (an image.pruned entry each)", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

int al_cmd_image(struct al_cli *cli, int argc, char **argv)
{
	return al_cli_group(cli, image_commands, argc, argv);
}
