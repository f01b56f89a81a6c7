/* cmd_audit_sink.c - `airlock audit sink add|list|remove` and `airlock
 * audit anchor`: the sinks anchors go to (audit/sink.c), and sending the
 * log's signed checkpoint to each of them, with an audit entry, a metric
 * and an alert for every sink that did not get it. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"

static const struct option help_only[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Appends one entry, durable. */
static int audit_note(const char *home, const char *event, json_t *f, struct al_err *err)
{
	struct al_audit *log = al_audit_open(home, err);
	int r = log == NULL ? -1 : al_audit_append(log, event, f, AL_AUDIT_SYNC, err);

	json_decref(f);
	if (al_audit_close(log, r == 0 ? err : NULL) < 0)
		r = -1;
	return r;
}

/* ---- sink add | list | remove ---- */

static int cmd_sink_add(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"syslog", required_argument, NULL, 's'},
		{"ca", required_argument, NULL, 'c'},
		{"cert", required_argument, NULL, 'C'},
		{"key", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *url = NULL, *home, *files[3] = {NULL, NULL, NULL};
	char abs[3][PATH_MAX];
	struct al_sinks sinks;
	struct al_sink s, *grown;
	struct al_err err = {0};
	int c, code;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's': url = optarg; break;
		case 'c': files[0] = optarg; break;
		case 'C': files[1] = optarg; break;
		case 'k': files[2] = optarg; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc - 1)
		return al_cli_usage(cli, "NAME and one of --dir PATH or --syslog URL are needed");
	if (al_sink_make(argv[optind], dir, url, &s, &err) < 0)
		return al_cli_usage(cli, "%s", err.msg);
	/* the TLS files by absolute path, each one there and readable now */
	for (int k = 0; k < 3; k++) {
		if (files[k] == NULL)
			continue;
		if (realpath(files[k], abs[k]) == NULL || access(abs[k], R_OK) < 0) {
			al_err_sys(&err, "%s", files[k]);
			return al_cli_error(cli, &err);
		}
		files[k] = abs[k];
	}
	if (al_sink_tls(&s, files[0], files[1], files[2], &err) < 0)
		return al_cli_usage(cli, "%s", err.msg);
	if ((home = al_cli_home(cli, &err)) == NULL || al_sinks_load(home, &sinks, &err) < 0)
		return al_cli_error(cli, &err);
	for (size_t i = 0; i < sinks.n; i++)
		if (strcmp(sinks.s[i].name, s.name) == 0) {
			al_sinks_free(&sinks);
			return al_cli_usage(cli, "sink %s exists already (airlock audit sink remove %s first)",
			                    s.name, s.name);
		}
	grown = realloc(sinks.s, (sinks.n + 1) * sizeof *sinks.s);
	if (grown == NULL) {
		al_sinks_free(&sinks);
		al_err_sys(&err, "cannot allocate memory");
		return al_cli_error(cli, &err);
	}
	sinks.s = grown;
	sinks.s[sinks.n++] = s;
	/* The entry first: no change of where the evidence goes unaudited. */
	code = audit_note(home, "sink.added",
	                  s.tls ? json_pack("{s:s,s:s,s:s,s:s,s:s?}", "sink", s.name, "kind",
	                                    al_sink_kind_name(&s), "target", s.target, "ca", s.ca,
	                                    "cert", s.cert[0] ? s.cert : NULL)
	                        : json_pack("{s:s,s:s,s:s}", "sink", s.name, "kind",
	                                    al_sink_kind_name(&s), "target", s.target),
	                  &err) < 0 || al_sinks_store(home, &sinks, &err) < 0
	           ? al_cli_error(cli, &err)
	           : AL_OK;
	al_sinks_free(&sinks);
	if (code == AL_OK && cli->verbosity >= 0 && !cli->json)
		printf("sink %s added: %s %s\n", s.name, al_sink_kind_name(&s), s.target);
	return code;
}

static int cmd_sink_remove(struct al_cli *cli, int argc, char **argv)
{
	struct al_sinks sinks;
	struct al_err err = {0};
	const char *home;
	size_t i;
	int c, code;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1) {
		if (c == 'h')
			return AL_OK;
		return AL_EUSAGE;
	}
	if (optind != argc - 1)
		return al_cli_usage(cli, "NAME is needed");
	if ((home = al_cli_home(cli, &err)) == NULL || al_sinks_load(home, &sinks, &err) < 0)
		return al_cli_error(cli, &err);
	for (i = 0; i < sinks.n && strcmp(sinks.s[i].name, argv[optind]) != 0; i++)
		;
	if (i == sinks.n) {
		al_sinks_free(&sinks);
		return al_cli_usage(cli, "no sink %s (airlock audit sink list)", argv[optind]);
	}
	code = audit_note(home, "sink.removed",
	                  json_pack("{s:s,s:s,s:s}", "sink", sinks.s[i].name, "kind",
	                            al_sink_kind_name(&sinks.s[i]), "target", sinks.s[i].target),
	                  &err);
	memmove(&sinks.s[i], &sinks.s[i + 1], (sinks.n - i - 1) * sizeof *sinks.s);
	sinks.n--;
	code = code < 0 || al_sinks_store(home, &sinks, &err) < 0 ? al_cli_error(cli, &err) : AL_OK;
	/* a sink added again under this name is another place: it starts from
	 * the first entry */
	if (code == AL_OK && al_ship_cursor_remove(home, argv[optind]) < 0)
		fprintf(stderr, "%s: warning: %s/audit/cursors/%s: %s\n", cli->prog, home, argv[optind],
		        strerror(errno));
	al_sinks_free(&sinks);
	if (code == AL_OK && cli->verbosity >= 0 && !cli->json)
		printf("sink %s removed\n", argv[optind]);
	return code;
}

static int cmd_sink_list(struct al_cli *cli, int argc, char **argv)
{
	struct al_sinks sinks;
	struct al_err err = {0};
	const char *home;
	json_t *arr;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1) {
		if (c == 'h')
			return AL_OK;
		return AL_EUSAGE;
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((home = al_cli_home(cli, &err)) == NULL || al_sinks_load(home, &sinks, &err) < 0)
		return al_cli_error(cli, &err);
	arr = json_array();
	for (size_t i = 0; i < sinks.n; i++) {
		if (cli->json)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "name", sinks.s[i].name, "kind",
			                                     al_sink_kind_name(&sinks.s[i]), "target",
			                                     sinks.s[i].target));
		else
			printf("%-16s %-7s %s%s%s\n", sinks.s[i].name, al_sink_kind_name(&sinks.s[i]),
			       sinks.s[i].target, sinks.s[i].tls ? "  ca " : "",
			       sinks.s[i].tls ? sinks.s[i].ca : "");
	}
	if (cli->json)
		al_cli_print_json(arr);
	else
		json_decref(arr);
	if (sinks.n == 0 && !cli->json && cli->verbosity >= 0)
		fprintf(stderr, "no sinks: anchors stay on this host (airlock audit sink add)\n");
	al_sinks_free(&sinks);
	return AL_OK;
}

/* What happens once a sink lags past a limit (FORMAT.md §13). */
static int cmd_sink_policy(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"lag-limit", required_argument, NULL, 'l'},
		{"on-lag", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_sinks sinks;
	struct al_err err = {0};
	const char *home, *on = NULL;
	int64_t limit = -1;
	int c, code;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 'l':
			if (strcmp(optarg, "0") == 0)
				limit = 0;
			else if (al_duration_parse(optarg, &limit, &err) < 0 || limit <= 0)
				return al_cli_usage(cli, "--lag-limit %s: a duration such as 1h, or 0 for none",
				                    optarg);
			break;
		case 'o':
			if (strcmp(optarg, "continue") != 0 && strcmp(optarg, "halt") != 0)
				return al_cli_usage(cli, "--on-lag %s: continue or halt", optarg);
			on = optarg;
			break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind != argc)
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((home = al_cli_home(cli, &err)) == NULL || al_sinks_load(home, &sinks, &err) < 0)
		return al_cli_error(cli, &err);
	if (limit < 0 && on == NULL) {
		if (cli->json)
			al_cli_print_json(json_pack("{s:I,s:s}", "lag_limit_ms", (json_int_t)sinks.lag_limit_ms,
			                            "on_lag", sinks.halt ? "halt" : "continue"));
		else if (sinks.lag_limit_ms == 0)
			printf("no lag limit: runs go on whatever the sinks lack (the alert rule still fires)\n");
		else
			printf("lag limit %llds, then %s\n", (long long)(sinks.lag_limit_ms / 1000),
			       sinks.halt ? "halt: runs are refused (exit 4)" : "continue, with an alert");
		al_sinks_free(&sinks);
		return AL_OK;
	}
	if (limit >= 0)
		sinks.lag_limit_ms = limit;
	if (on != NULL)
		sinks.halt = strcmp(on, "halt") == 0;
	/* the entry first: a change of what protects the evidence is evidence */
	code = audit_note(home, "sink.policy",
	                  json_pack("{s:I,s:s}", "lag_limit_ms", (json_int_t)sinks.lag_limit_ms,
	                            "on_lag", sinks.halt ? "halt" : "continue"),
	                  &err) < 0 || al_sinks_store(home, &sinks, &err) < 0
	           ? al_cli_error(cli, &err)
	           : AL_OK;
	al_sinks_free(&sinks);
	return code;
}

static const struct al_command sink_commands[] = {
	{"add", cmd_sink_add,
	 "audit sink add NAME --dir PATH | --syslog tcp://HOST:PORT|udp://HOST:PORT\n"
	 "             | --syslog tls://HOST:PORT --ca FILE [--cert FILE --key FILE]",
	 "add a place anchors and entries are sent to",
	 "  --dir PATH       a directory (a WORM share, another host's mount): each anchor\n"
	 "                   goes to PATH/<log id>/checkpoint-<entry>/, the entries to\n"
	 "                   PATH/<log id>/audit-NNNNNN.jsonl\n"
	 "  --syslog URL     a syslog collector (the SIEM): RFC 5424 messages over TCP\n"
	 "                   (RFC 6587 octet counting), TLS (RFC 5425) or UDP\n"
	 "  --ca FILE        tls://: the CA the collector's certificate must chain to\n"
	 "                   (its name or address must be the URL's host)\n"
	 "  --cert FILE --key FILE  tls://: our certificate, for a collector that asks\n"},
	{"list", cmd_sink_list, "audit sink list", "list the sinks", NULL},
	{"policy", cmd_sink_policy, "audit sink policy [--lag-limit DURATION|0] [--on-lag continue|halt]",
	 "what happens once a sink lags past a limit",
	 "  --lag-limit D    how long the oldest entry a sink lacks may wait (0: no limit)\n"
	 "  --on-lag ACTION  continue (the default): runs go on, each with an alert\n"
	 "                   sink-lagging; halt: runs are refused (exit 4) until the sinks\n"
	 "                   catch up, as auditd's network_failure_action\n"},
	{"remove", cmd_sink_remove, "audit sink remove NAME", "remove a sink", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

int al_cmd_audit_sink(struct al_cli *cli, int argc, char **argv)
{
	/* al_cli_group names the subcommand after cli->cmd's name: a copy
	 * of "audit sink", since the group's own storage is reused below */
	static struct al_command self;
	static char name[64];

	self = *cli->cmd;
	snprintf(name, sizeof name, "%s", cli->cmd->name);
	self.name = name;
	cli->cmd = &self;
	return al_cli_group(cli, sink_commands, argc, argv);
}

/* ---- anchor ---- */

/* HOME/audit/NAME-state.json (anchor, ship): per sink, what the metrics
 * file HOME/metrics/airlock-NAME.prom says. Not evidence: the log has
 * every anchor.sent, anchor.failed and sink.failed. */
static json_t *state_load(const char *home, const char *name)
{
	char path[4200], *text = NULL;
	size_t len;
	json_t *v = NULL;

	snprintf(path, sizeof path, "%s/audit/%s-state.json", home, name);
	if (al_read_file(AT_FDCWD, path, 1 << 20, &text, &len, NULL) == 0) {
		v = json_loadb(text, len, 0, NULL);
		free(text);
	}
	if (!json_is_object(v)) {
		json_decref(v);
		v = json_object();
	}
	return v;
}

struct family {
	const char *name, *type, *help, *key;
};

/* HOME/metrics/airlock-NAME.prom: each family, one sample a sink. */
static int prom_write(const char *home, const char *name, const struct family *fam, size_t nfam,
                      json_t *state, const struct al_sinks *sinks, struct al_err *err)
{
	char dir[4200], path[4300], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (f == NULL)
		return al_err_sys(err, "cannot allocate memory");
	for (size_t k = 0; k < nfam; k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam[k].name, fam[k].help, fam[k].name,
		        fam[k].type);
		for (size_t i = 0; i < sinks->n; i++) {
			json_t *s = json_object_get(state, sinks->s[i].name);
			json_t *v = json_object_get(s, fam[k].key);
			/* sink names are [a-z0-9_-]: nothing to escape */
			fprintf(f, "%s{sink=\"%s\"} %.15g\n", fam[k].name, sinks->s[i].name,
			        json_is_number(v) ? json_number_value(v) : 0.0);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return al_err_sys(err, "cannot allocate memory");
	}
	snprintf(dir, sizeof dir, "%s/metrics", home);
	snprintf(path, sizeof path, "%s/airlock-%s.prom", dir, name);
	ret = al_mkdirs(dir, 0755, err) < 0 ? -1 : al_write_file_atomic(path, buf, len, 0644, err);
	free(buf);
	return ret;
}

/* The state beside the metrics, then the metrics; a failure is a warning
 * (they are not evidence). */
static void state_store(const struct al_cli *cli, const char *home, const char *name,
                        const struct family *fam, size_t nfam, json_t *state,
                        const struct al_sinks *sinks)
{
	char path[4200], *text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
	struct al_err merr = {0};

	snprintf(path, sizeof path, "%s/audit/%s-state.json", home, name);
	if (text == NULL || al_write_file_atomic(path, text, strlen(text), 0600, &merr) < 0 ||
	    prom_write(home, name, fam, nfam, state, sinks, &merr) < 0)
		fprintf(stderr, "%s: warning: the %s metrics were not written: %s\n", cli->prog, name,
		        merr.msg[0] ? merr.msg : "cannot allocate memory");
	free(text);
}

static const struct family anchor_fam[] = {
	{"airlock_anchor_last_success_timestamp_seconds", "gauge",
	 "When an anchor last reached the sink (0: never).", "last_success"},
	{"airlock_anchor_last_entry", "gauge",
	 "The log entry (seq) the last anchor that reached the sink covers.", "last_entry"},
	{"airlock_anchor_last_result", "gauge",
	 "1 when the last anchor reached the sink, 0 when it did not.", "last_result"},
	{"airlock_anchor_failures_total", "counter", "Anchors that did not reach the sink.",
	 "failures"},
};

static const struct family ship_fam[] = {
	{"airlock_sink_delivered_entry", "gauge", "The last log entry (seq) the sink has.",
	 "delivered"},
	{"airlock_sink_lag_entries", "gauge", "Entries of the log the sink does not have yet.", "lag"},
	{"airlock_sink_oldest_undelivered_timestamp_seconds", "gauge",
	 "When the oldest entry the sink does not have was written (0: it has them all).",
	 "oldest_undelivered"},
	{"airlock_sink_last_success_timestamp_seconds", "gauge",
	 "When a ship to the sink last succeeded (0: never).", "last_success"},
	{"airlock_sink_last_result", "gauge", "1 when the last ship to the sink succeeded, 0 when not.",
	 "last_result"},
	{"airlock_sink_failures_total", "counter", "Ships to the sink that failed.", "failures"},
};

static int cmd_anchor(struct al_cli *cli, int argc, char **argv)
{
	struct al_sinks sinks;
	struct al_anchor a;
	struct al_err err = {0};
	struct al_audit *log;
	json_t *state, *out = json_array();
	char head[AL_SHA256_HEX];
	const char *home;
	int c, failed = 0, code = AL_OK;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1) {
		json_decref(out);
		if (c == 'h')
			return AL_OK;
		return AL_EUSAGE;
	}
	if (optind != argc) {
		json_decref(out);
		return al_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	}
	if ((home = al_cli_home(cli, &err)) == NULL || al_crypto_init(&err) < 0 ||
	    al_sinks_load(home, &sinks, &err) < 0) {
		json_decref(out);
		return al_cli_error(cli, &err);
	}
	if (sinks.n == 0) {
		json_decref(out);
		return al_cli_usage(cli, "no sinks: add one with airlock audit sink add NAME --dir PATH | "
		                         "--syslog URL (an anchor must leave this host)");
	}
	/* Reads since the last seal are sealed in first (FORMAT.md §5): the
	 * anchor is of a sealed head. */
	log = al_audit_open(home, &err);
	if (log == NULL || al_audit_seal(log, &err) < 0 || al_anchor_make(home, &a, &err) < 0) {
		al_audit_close(log, NULL);
		al_sinks_free(&sinks);
		json_decref(out);
		return al_cli_error(cli, &err);
	}
	al_hex(a.cp.hash, AL_SHA256_LEN, head);
	state = state_load(home, "anchor");
	for (size_t i = 0; i < sinks.n; i++) {
		const struct al_sink *s = &sinks.s[i];
		struct al_err serr = {0};
		json_t *st = json_object_get(state, s->name), *f;
		int ok = al_sink_send(s, &a, &serr) == 0;
		if (st == NULL) {
			st = json_object();
			json_object_set_new(state, s->name, st);
		}
		json_object_set_new(st, "last_result", json_integer(ok));
		if (ok) {
			json_object_set_new(st, "last_success", json_real((double)al_now_us() / 1e6));
			json_object_set_new(st, "last_entry", json_integer((json_int_t)a.cp.size));
			f = json_pack("{s:s,s:s,s:s,s:I,s:s}", "sink", s->name, "kind", al_sink_kind_name(s),
			              "target", s->target, "size", (json_int_t)a.cp.size, "head", head);
			if (a.seal_pub[0] != '\0')
				json_object_set_new(f, "epoch", json_integer((json_int_t)a.epoch));
		} else {
			failed = 1;
			json_object_set_new(st, "failures",
			                    json_integer(json_integer_value(json_object_get(st, "failures")) + 1));
			f = json_pack("{s:s,s:s,s:s,s:I,s:s}", "sink", s->name, "kind", al_sink_kind_name(s),
			              "target", s->target, "size", (json_int_t)a.cp.size, "reason", serr.msg);
			fprintf(stderr, "%s: anchor to sink %s (%s) failed: %s\n", cli->prog, s->name,
			        s->target, serr.msg);
		}
		if (al_audit_append(log, ok ? "anchor.sent" : "anchor.failed", f, AL_AUDIT_SYNC, &err) < 0)
			code = AL_EENV;
		json_decref(f);
		if (!ok) {
			f = json_pack("{s:s,s:s,s:s}", "kind", "anchor-failed", "sink", s->name, "message",
			              serr.msg);
			if (al_audit_append(log, "alert", f, AL_AUDIT_SYNC, &err) < 0)
				code = AL_EENV;
			json_decref(f);
		}
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:b,s:s}", "sink", s->name, "kind",
		                                     al_sink_kind_name(s), "target", s->target, "sent",
		                                     ok, "error", ok ? "" : serr.msg));
		if (!cli->json && cli->verbosity >= 0 && ok)
			printf("anchor of entry %llu sent to %s (%s %s)\n", (unsigned long long)a.cp.size,
			       s->name, al_sink_kind_name(s), s->target);
	}
	/* The anchors' own entries are sealed too: the next anchor covers them. */
	if (al_audit_seal(log, code == AL_OK ? &err : NULL) < 0)
		code = AL_EENV;
	if (al_audit_close(log, code == AL_OK ? &err : NULL) < 0)
		code = AL_EENV;
	state_store(cli, home, "anchor", anchor_fam, sizeof anchor_fam / sizeof anchor_fam[0], state,
	            &sinks);
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:I,s:s,s:o}", "log_id", a.cp.log_id, "size",
		                            (json_int_t)a.cp.size, "head", head, "sinks", out));
	else
		json_decref(out);
	json_decref(state);
	al_anchor_free(&a);
	al_sinks_free(&sinks);
	if (code != AL_OK)
		return al_cli_error(cli, &err);
	return failed ? AL_EENV : AL_OK;
}

int al_cmd_audit_anchor(struct al_cli *cli, int argc, char **argv)
{
	return cmd_anchor(cli, argc, argv);
}

/* ---- ship: every entry to every sink ---- */

int al_cmd_audit_ship(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"timeout", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_sinks sinks;
	struct al_err err = {0};
	const char *home, *only = NULL;
	int64_t timeout_ms = 0;
	json_t *out, *state;
	int c, code = AL_OK, found = 0;

	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		switch (c) {
		case 't':
			if (al_duration_parse(optarg, &timeout_ms, &err) < 0 || timeout_ms <= 0)
				return al_cli_usage(cli, "--timeout %s: a duration such as 30s", optarg);
			break;
		case 'j': cli->json = 1; break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (optind < argc - 1)
		return al_cli_usage(cli, "at most one sink NAME");
	if (optind == argc - 1)
		only = argv[optind];
	if ((home = al_cli_home(cli, &err)) == NULL || al_sinks_load(home, &sinks, &err) < 0)
		return al_cli_error(cli, &err);
	out = json_array();
	state = state_load(home, "ship");
	for (size_t i = 0; i < sinks.n; i++) {
		const struct al_sink *s = &sinks.s[i];
		struct al_ship_result res;
		struct al_err serr = {0};
		json_t *st;
		int r;
		if (only != NULL && strcmp(only, s->name) != 0)
			continue;
		found = 1;
		r = al_ship(home, s, timeout_ms > 0 ? al_now_us() + timeout_ms * 1000 : 0, &res, &serr);
		st = json_object_get(state, s->name);
		if (!json_is_object(st)) {
			st = json_object();
			json_object_set_new(state, s->name, st);
		}
		json_object_set_new(st, "delivered", json_integer((json_int_t)res.delivered));
		json_object_set_new(st, "lag", json_integer((json_int_t)(res.last_seq > res.delivered
		                                                              ? res.last_seq - res.delivered
		                                                              : 0)));
		json_object_set_new(st, "oldest_undelivered",
		                    json_real((double)res.oldest_pending_us / 1e6));
		json_object_set_new(st, "last_result", json_integer(r == 0));
		if (r == 0)
			json_object_set_new(st, "last_success", json_real((double)al_now_us() / 1e6));
		else
			json_object_set_new(st, "failures",
			                    json_integer(json_integer_value(json_object_get(st, "failures")) + 1));
		if (r < 0) {
			/* the failure is evidence too; it waits in the log like the rest */
			struct al_err aerr = {0};
			(void)audit_note(home, "sink.failed",
			                 json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "sink", s->name, "kind",
			                           al_sink_kind_name(s), "target", s->target, "delivered",
			                           (json_int_t)res.delivered, "pending",
			                           (json_int_t)(res.last_seq > res.delivered
			                                            ? res.last_seq - res.delivered
			                                            : 0),
			                           "reason", serr.msg),
			                 &aerr);
			if (!cli->json)
				fprintf(stderr, "%s: sink %s: %s (delivered up to entry %llu; the rest waits in the log)\n",
				        cli->prog, s->name, serr.msg, (unsigned long long)res.delivered);
			code = AL_EENV;
		} else if (!cli->json && cli->verbosity >= 0) {
			printf("%-16s %-7s delivered up to entry %llu (%llu sent now), %llu behind\n",
			       s->name, al_sink_kind_name(s), (unsigned long long)res.delivered,
			       (unsigned long long)res.sent,
			       (unsigned long long)(res.last_seq > res.delivered ? res.last_seq - res.delivered : 0));
		}
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:s?}", "sink", s->name,
		                                     "kind", al_sink_kind_name(s), "target", s->target,
		                                     "ok", r == 0, "delivered", (json_int_t)res.delivered,
		                                     "sent", (json_int_t)res.sent, "last_seq",
		                                     (json_int_t)res.last_seq, "error",
		                                     r < 0 ? serr.msg : NULL));
	}
	state_store(cli, home, "ship", ship_fam, sizeof ship_fam / sizeof ship_fam[0], state, &sinks);
	json_decref(state);
	al_sinks_free(&sinks);
	if (cli->json)
		al_cli_print_json(out);
	else
		json_decref(out);
	if (only != NULL && !found)
		return al_cli_usage(cli, "no sink %s (airlock audit sink list)", only);
	return code;
}

/* ---- restore: a log from what left the host ---- */

static void restore_problem(void *ctx, const char *msg)
{
	const struct al_cli *cli = ctx;

	fprintf(stderr, "%s: audit restore: %s\n", cli->prog, msg);
}

int al_cmd_audit_restore(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"output", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char **from = NULL, *outdir = NULL;
	struct al_restore_report rep = {0};
	struct al_err err = {0};
	size_t n = 0;
	int c, r;

	while ((c = al_cli_getopt(cli, argc, argv, "ho:", longopts)) != -1) {
		switch (c) {
		case 'f': {
			const char **v = realloc(from, (n + 1) * sizeof *v);
			if (v == NULL) {
				free(from);
				al_err_sys(&err, "cannot allocate memory");
				return al_cli_error(cli, &err);
			}
			from = v;
			from[n++] = optarg;
			break;
		}
		case 'o': outdir = optarg; break;
		case 'j': cli->json = 1; break;
		case 'h': free(from); return AL_OK;
		default: free(from); return AL_EUSAGE;
		}
	}
	if (n == 0 || outdir == NULL || optind != argc) {
		free(from);
		return al_cli_usage(cli, "--from PATH (one or more) and -o DIR are needed");
	}
	rep.on_problem = restore_problem;
	rep.ctx = cli;
	r = al_audit_restore(from, n, outdir, &rep, &err);
	free(from);
	al_restore_report_free(&rep);
	if (r < 0)
		return al_cli_error(cli, &err);
	if (cli->json)
		al_cli_print_json(json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:b}", "output", outdir, "entries",
		                            (json_int_t)rep.entries, "first", (json_int_t)rep.first, "last",
		                            (json_int_t)rep.last, "gaps", (json_int_t)rep.gaps, "problems",
		                            (json_int_t)rep.problems, "unreadable",
		                            (json_int_t)rep.unreadable, "whole", r == 0));
	else if (cli->verbosity >= 0)
		printf("%s: entries %llu to %llu (%llu written)%s; check it with airlock-verify audit %s "
		       "--seal-pub FILE\n",
		       outdir, (unsigned long long)rep.first, (unsigned long long)rep.last,
		       (unsigned long long)rep.entries,
		       r == 0 ? "" : ", with the problems above", outdir);
	return r == 0 ? AL_OK : AL_EFAIL;
}
