/* cmd_query.c - reading the log by question: `airlock audit query` and
 * `audit sql` on the home's index (the read recorded first), and
 * `airlock-verify query` and `sql` on an export or a directory of
 * segments with no home (issue 20): the log verified, the very lines
 * accepted indexed in a throw-away database, the same filters and SQL. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

/* Human form of an entry: "#seq ts event key=value ...". */
void al_cli_print_entry(const struct al_cli *cli, const char *line)
{
	json_t *v;
	const char *key;
	json_t *val;

	if (cli->json) {
		puts(line);
		return;
	}
	v = json_loads(line, 0, NULL);
	if (v == NULL) {
		printf("(not an entry) %s\n", line);
		return;
	}
	printf("#%lld %s %s", (long long)json_integer_value(json_object_get(v, "seq")),
	       json_string_value(json_object_get(v, "ts")), json_string_value(json_object_get(v, "event")));
	json_object_foreach(v, key, val) {
		/* the chain's members, and the writer's stamp (shown last) */
		if (strcmp(key, "seq") == 0 || strcmp(key, "ts") == 0 || strcmp(key, "prev") == 0 ||
		    strcmp(key, "event") == 0 || strcmp(key, "user") == 0 || strcmp(key, "uid") == 0 ||
		    strcmp(key, "host") == 0 || strcmp(key, "pid") == 0)
			continue;
		if (json_is_string(val)) {
			printf(" %s=%s", key, json_string_value(val));
		} else {
			char *s = al_json_dump(val);
			printf(" %s=%s", key, s != NULL ? s : "?");
			free(s);
		}
	}
	if (json_object_get(v, "uid") != NULL) {
		const char *user = json_string_value(json_object_get(v, "user"));
		printf(" [%s%s%lld@%s]", user != NULL ? user : "", user != NULL ? "/" : "uid ",
		       (long long)json_integer_value(json_object_get(v, "uid")),
		       json_string_value(json_object_get(v, "host")) != NULL
		           ? json_string_value(json_object_get(v, "host"))
		           : "?");
	}
	putchar('\n');
	json_decref(v);
}

static void query_row(void *ctx, const char *json)
{
	al_cli_print_entry(ctx, json);
}

int al_cli_ts_opt(struct al_cli *cli, const char *what, const char *s, int64_t *us)
{
	struct al_err err = {0};
	size_t n = strlen(s);

	/* A bare date means its first (since) or last (until) microsecond. */
	if (n == 10) {
		char buf[40];
		snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
		if (al_ts_parse(buf, us, &err) == 0) {
			if (strcmp(what, "--until") == 0)
				*us += 86400000000LL - 1;
			return 0;
		}
	}
	if (al_ts_parse(s, us, &err) < 0)
		return al_cli_usage(cli, "%s %s: %s", what, s, err.msg);
	return 0;
}

/* Offline (airlock-verify): PATH verified, its accepted lines indexed
 * in a throw-away database; the verdict decides whether it is used. */
static struct al_audit_scratch *offline_index(struct al_cli *cli, const char *path,
                                              const char *pub_path, const char *host_pub,
                                              int *code)
{
	unsigned char seal_pub[SEAL_PUB_LEN];
	struct al_verify_opts o = {0};
	struct al_verify_summary sum;
	struct al_audit_scratch *s;
	struct al_err err = {0};
	int verdict;

	*code = AL_OK;
	if (pub_path != NULL && al_seal_pub_load(pub_path, seal_pub, &err) < 0) {
		al_cli_error(cli, &err);
		*code = AL_EUSAGE;
		return NULL;
	}
	if (al_crypto_init(&err) < 0) {
		*code = al_cli_error(cli, &err);
		return NULL;
	}
	o.seal_pub = pub_path != NULL ? seal_pub : NULL;
	o.host_pub = host_pub;
	s = al_audit_scratch_build(path, &o, &sum, &verdict, &err);
	if (s != NULL && sum.unsealed > 0)
		fprintf(stderr,
		        "%s: warning: %s: the last %llu entries are not sealed yet: the answers include "
		        "them\n",
		        cli->prog, path, (unsigned long long)sum.unsealed);
	if (s != NULL)
		return s;
	if (verdict == 1) {
		fprintf(stderr,
		        "%s: %s: the log does not verify (airlock-verify audit %s says where): nothing is "
		        "answered from it\n",
		        cli->prog, path, path);
		*code = AL_EFAIL;
	} else {
		*code = al_cli_error(cli, &err);
		if (err.code == AL_EVERIFY)
			*code = AL_EFAIL;
	}
	return NULL;
}

int al_cli_query(struct al_cli *cli, int argc, char **argv, al_cli_read_hook before)
{
	static const struct option longopts[] = {
		{"run", required_argument, NULL, 'r'},     {"step", required_argument, NULL, 's'},
		{"event", required_argument, NULL, 'e'},   {"path", required_argument, NULL, 'A'},
		{"sha256", required_argument, NULL, 'H'},  {"since", required_argument, NULL, 'S'},
		{"until", required_argument, NULL, 'U'},   {"seal-pub", required_argument, NULL, 'P'},
		{"host-pub", required_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_audit_query q = {0};
	struct al_err err = {0};
	const char *home, *pub = NULL, *host_pub = NULL;
	int c, offline = before == NULL, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, offline ? "p:h" : "h", longopts)) != -1) {
		switch (c) {
		case 'r': q.run = optarg; break;
		case 's': q.step = optarg; break;
		case 'e': q.event = optarg; break;
		case 'A': q.path = optarg; break;
		case 'p': host_pub = optarg; break;
		case 'H': q.sha256 = optarg; break;
		case 'S': if (al_cli_ts_opt(cli, "--since", optarg, &q.since_us) != 0) return AL_EUSAGE; break;
		case 'U': if (al_cli_ts_opt(cli, "--until", optarg, &q.until_us) != 0) return AL_EUSAGE; break;
		case 'P': if (!offline) return al_cli_usage(cli, "unknown option --seal-pub"); pub = optarg; break;
		case 'k': if (!offline) return al_cli_usage(cli, "unknown option --host-pub"); host_pub = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (offline) {
		struct al_audit_scratch *s;
		if (argc - optind != 1)
			return al_cli_usage(cli, "one log: an export (.tar.zst) or a directory of segments");
		if ((s = offline_index(cli, argv[optind], pub, host_pub, &code)) == NULL)
			return code;
		if (al_audit_scratch_query(s, &q, query_row, cli, &err) < 0)
			code = al_cli_error(cli, &err);
		al_audit_scratch_close(s);
		return code;
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((home = al_cli_home(cli, &err)) == NULL || before(cli, home, "query", &err) < 0 ||
	    al_audit_query(home, &q, query_row, cli, &err) < 0)
		return al_cli_error(cli, &err);
	return AL_OK;
}

struct sql_out {
	const struct al_cli *cli;
	const char *const *names;
	int ncol;
	char **names_copy;
	json_t *rows;
};

static void sql_header(void *ctx, int ncol, const char *const *names)
{
	struct sql_out *o = ctx;

	o->ncol = ncol;
	o->names_copy = calloc((size_t)ncol + 1, sizeof *o->names_copy);
	for (int i = 0; i < ncol && o->names_copy != NULL; i++)
		o->names_copy[i] = strdup(names[i]);
	if (!o->cli->json) {
		for (int i = 0; i < ncol; i++)
			printf("%s%s", i ? "\t" : "", names[i]);
		putchar('\n');
	}
}

static void sql_row(void *ctx, int ncol, const char *const *values, const char *kinds)
{
	struct sql_out *o = ctx;

	if (o->cli->json) {
		json_t *row = json_object();
		for (int i = 0; i < ncol; i++) {
			json_t *v;
			if (kinds[i] == 'n' || values[i] == NULL)
				v = json_null();
			else if (kinds[i] == 'i')
				v = json_integer((json_int_t)strtoll(values[i], NULL, 10));
			else if (kinds[i] == 'r')
				v = json_real(strtod(values[i], NULL));
			else
				v = json_string(values[i]);
			/* text that is not UTF-8 (a blob) comes out as null */
			json_object_set_new(row, o->names_copy[i] != NULL ? o->names_copy[i] : "?",
			                    v != NULL ? v : json_null());
		}
		json_array_append_new(o->rows, row);
		return;
	}
	for (int i = 0; i < ncol; i++)
		printf("%s%s", i ? "\t" : "", values[i] != NULL ? values[i] : "");
	putchar('\n');
}

int al_cli_sql(struct al_cli *cli, int argc, char **argv, al_cli_read_hook before)
{
	static const struct option longopts[] = {
		{"seal-pub", required_argument, NULL, 'P'},
		{"host-pub", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sql_out o = {cli, NULL, 0, NULL, json_array()};
	struct al_err err = {0};
	struct al_audit_scratch *s = NULL;
	const char *home, *pub = NULL, *host_pub = NULL;
	int c, code = AL_OK, offline = before == NULL, r;

	while ((c = al_cli_getopt(cli, argc, argv, offline ? "p:h" : "h", longopts)) != -1) {
		if (offline && (c == 'P' || c == 'p' || c == 'k')) {
			*(c == 'P' ? &pub : &host_pub) = optarg;
		} else {
			json_decref(o.rows);
			return c == 'h'                ? AL_OK
			       : c == 'P' || c == 'k' ? al_cli_usage(cli, "an option of airlock-verify sql")
			                              : AL_EUSAGE;
		}
	}
	if (argc - optind != (offline ? 2 : 1)) {
		json_decref(o.rows);
		return al_cli_usage(cli, offline ? "a log (an export or a directory) and one SQL statement, quoted"
		                                 : "one SQL statement, quoted");
	}
	if (offline) {
		if ((s = offline_index(cli, argv[optind], pub, host_pub, &code)) == NULL) {
			json_decref(o.rows);
			return code;
		}
		r = al_audit_scratch_sql(s, argv[optind + 1], sql_header, sql_row, &o, &err);
		al_audit_scratch_close(s);
	} else {
		r = (home = al_cli_home(cli, &err)) == NULL || before(cli, home, "sql", &err) < 0
		        ? -1
		        : al_audit_sql(home, argv[optind], sql_header, sql_row, &o, &err);
	}
	if (r < 0)
		code = al_cli_error(cli, &err);
	else if (cli->json)
		al_cli_print_json(json_incref(o.rows));
	for (int i = 0; o.names_copy != NULL && i < o.ncol; i++)
		free(o.names_copy[i]);
	free(o.names_copy);
	json_decref(o.rows);
	return code;
}
