/* cmd_trust.c - airlock keys: the trust policy (manifests/FORMAT.md §4)
 * and its changes under separation of duties (§4.1, issue 20; NIST
 * CM-5): while the policy is open (fewer keys than its threshold) a
 * change is made at once; once in force, a change is a request that the
 * current threshold of the current keys must sign (as TUF rotates its
 * root), applied by `keys apply`. Every change, and every refusal, is
 * audited before it takes effect. */
#include "cli/cli.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "manifests/manifests.h"

static const struct option help_only[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Appends one entry to HOME's log, durably (fail-closed: the change
 * that cannot be audited does not happen). */
static int audit_entry(const struct al_cli *cli, const char *event, json_t *fields,
                       struct al_err *err)
{
	const char *home = al_cli_home(cli, err);
	struct al_audit *log = home != NULL ? al_audit_open(home, err) : NULL;
	int ret;

	if (log == NULL)
		return -1;
	ret = al_audit_append(log, event, fields, AL_AUDIT_SYNC, err);
	if (al_audit_close(log, ret == 0 ? err : NULL) < 0)
		ret = -1;
	return ret;
}

/* A refusal: audited (keys.refused), then said; exit code (3, or 2 for
 * a request that is not one). */
static int refuse(struct al_cli *cli, int code, const char *summary, json_t *extra,
                  const char *fmt, ...) AL_PRINTF(5, 6);
static int refuse(struct al_cli *cli, int code, const char *summary, json_t *extra,
                  const char *fmt, ...)
{
	struct al_err err = {0}, aerr = {0};
	char msg[sizeof err.msg];
	va_list ap;
	json_t *f;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	f = json_pack("{s:s,s:s}", "change", summary, "reason", msg);
	if (extra != NULL)
		json_object_update(f, extra);
	json_decref(extra);
	if (audit_entry(cli, "keys.refused", f, &aerr) < 0)
		fprintf(stderr, "%s: warning: the refusal is not in the log: %s\n", cli->prog, aerr.msg);
	json_decref(f);
	al_err_set(&err, code, "%s", msg);
	return al_cli_error(cli, &err);
}

struct edit {
	const char *dir;
	char sha[AL_SHA256_HEX]; /* of policy.json in force ("" when none) */
	json_t *before, *doc, *pubs;
	char summary[256];
};

static int edit_begin(struct al_cli *cli, struct edit *e, char *buf, size_t n, struct al_err *err)
{
	memset(e, 0, sizeof *e);
	if ((e->dir = al_cli_keys_dir(cli, NULL, buf, n, err)) == NULL ||
	    (e->doc = al_policy_doc(e->dir, e->sha, err)) == NULL)
		return -1;
	e->before = json_deep_copy(e->doc);
	e->pubs = json_object();
	return 0;
}

static void edit_end(struct edit *e)
{
	json_decref(e->before);
	json_decref(e->doc);
	json_decref(e->pubs);
}

/* The edit made: at once while the policy is open (event, with
 * bootstrap: true), else as a request written to out, else refused. */
static int edit_commit(struct al_cli *cli, struct edit *e, const char *event, json_t *fields,
                       const char *out)
{
	struct al_err err = {0};
	int code = AL_OK;

	if (json_equal(e->before, e->doc) && json_object_size(e->pubs) == 0) {
		al_cli_info(cli, "the trust policy is unchanged\n");
		goto done;
	}
	/* every change makes the next version (a replay after the policy
	 * came back to an earlier state is then not for it) */
	json_object_set_new(e->doc, "version",
	                    json_integer(json_integer_value(json_object_get(e->before, "version")) + 1));
	if (out != NULL) {
		char *text = al_policy_change_format(e->sha, e->doc, e->pubs, e->summary, &err);
		if (text == NULL || al_write_file_atomic(out, text, strlen(text), 0644, &err) < 0)
			code = al_cli_error(cli, &err);
		else if (!cli->json)
			printf("change request written to %s (%s)\n"
			       "it needs %lld signatures by keys of the policy in force: each signer runs\n"
			       "  airlock sign-file -s KEY -x %s.KEYID.minisig %s   (or minisign -Sm)\n"
			       "then: airlock keys apply %s --sig SIG...\n",
			       out, e->summary,
			       al_policy_open(e->before)
			           ? 0LL
			           : (long long)json_integer_value(json_object_get(e->before, "threshold")),
			       out, out, out);
		free(text);
		goto done;
	}
	if (!al_policy_open(e->before)) {
		code = refuse(cli, AL_EVERIFY, e->summary, NULL,
		              "%s/policy.json is in force (%zu keys, threshold %lld): a change needs that "
		              "many signatures by its keys; write a request with -o CHANGE, have it signed, "
		              "then airlock keys apply CHANGE --sig SIG...",
		              e->dir, json_object_size(json_object_get(e->before, "keys")),
		              (long long)json_integer_value(json_object_get(e->before, "threshold")));
		goto done;
	}
	json_object_set_new(fields, "bootstrap", json_true());
	if (audit_entry(cli, event, fields, &err) < 0 ||
	    al_policy_doc_store(e->dir, e->doc, e->pubs, &err) < 0)
		code = al_cli_error(cli, &err);
	else if (!cli->json && cli->verbosity >= 0)
		printf("%s (the policy is open until it lists %lld keys; after that every change "
		       "needs their signatures)\n",
		       e->summary, (long long)json_integer_value(json_object_get(e->doc, "threshold")));
done:
	json_decref(fields);
	return code;
}

static int keys_add(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"name", required_argument, NULL, 'n'},
		{"expires", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct edit e;
	struct al_err err = {0};
	const char *name = NULL, *out = NULL;
	char buf[4200], keyid[AL_KEYID_HEX];
	int64_t expires = 0;
	int c, code;

	while ((c = al_cli_getopt(cli, argc, argv, "o:h", longopts)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'o': out = optarg; break;
		case 'e':
			if (al_ts_parse(optarg, &expires, &err) < 0)
				return al_cli_usage(cli, "--expires %s: %s", optarg, err.msg);
			break;
		case 'h': return AL_OK;
		default: return AL_EUSAGE;
		}
	}
	if (argc - optind != 1)
		return al_cli_usage(cli, "one PUB key file");
	if (edit_begin(cli, &e, buf, sizeof buf, &err) < 0 ||
	    al_policy_doc_add(e.doc, e.pubs, argv[optind], name, expires, keyid, &err) < 0) {
		edit_end(&e);
		return al_cli_error(cli, &err);
	}
	if (json_equal(e.before, e.doc))
		json_object_clear(e.pubs); /* the same key, as trusted already */
	al_snprintf(e.summary, sizeof e.summary, "add key %s (%.100s)", keyid, name ? name : "");
	code = edit_commit(cli, &e, "keys.added",
	                   json_pack("{s:s,s:s}", "keyid", keyid, "name", name ? name : ""), out);
	edit_end(&e);
	return code;
}

static int keys_remove(struct al_cli *cli, int argc, char **argv)
{
	unsigned char id[AL_KEYID_LEN];
	struct edit e;
	struct al_err err = {0};
	const char *out = NULL;
	char buf[4200];
	int c, code;

	while ((c = al_cli_getopt(cli, argc, argv, "o:h", help_only)) != -1) {
		if (c == 'o')
			out = optarg;
		else
			return c == 'h' ? AL_OK : AL_EUSAGE;
	}
	if (argc - optind != 1 || al_keyid_parse(argv[optind], id) < 0)
		return al_cli_usage(cli, "one KEYID (16 upper-case hex digits)");
	if (edit_begin(cli, &e, buf, sizeof buf, &err) < 0 ||
	    al_policy_doc_remove(e.doc, argv[optind], &err) < 0) {
		edit_end(&e);
		return al_cli_error(cli, &err);
	}
	al_snprintf(e.summary, sizeof e.summary, "remove key %s", argv[optind]);
	code = edit_commit(cli, &e, "keys.removed", json_pack("{s:s}", "keyid", argv[optind]), out);
	edit_end(&e);
	return code;
}

static int keys_threshold(struct al_cli *cli, int argc, char **argv)
{
	struct edit e;
	struct al_err err = {0};
	const char *out = NULL;
	char buf[4200], *end;
	long n;
	int c, code;

	while ((c = al_cli_getopt(cli, argc, argv, "o:h", help_only)) != -1) {
		if (c == 'o')
			out = optarg;
		else
			return c == 'h' ? AL_OK : AL_EUSAGE;
	}
	if (argc - optind != 1)
		return al_cli_usage(cli, "one number N");
	n = strtol(argv[optind], &end, 10);
	if (*end != '\0' || n < 1 || n > 16)
		return al_cli_usage(cli, "%s: a threshold from 1 to 16", argv[optind]);
	if (edit_begin(cli, &e, buf, sizeof buf, &err) < 0 ||
	    al_policy_doc_threshold(e.doc, (int)n, &err) < 0) {
		edit_end(&e);
		return al_cli_error(cli, &err);
	}
	al_snprintf(e.summary, sizeof e.summary, "threshold %ld", n);
	code = edit_commit(cli, &e, "keys.threshold", json_pack("{s:i}", "threshold", (int)n), out);
	edit_end(&e);
	return code;
}

/* keys apply CHANGE --sig SIG...: the request checked against the policy
 * in force (its hash, then the signatures), audited, applied. */
static int keys_apply(struct al_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"sig", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct al_policy_change ch;
	struct al_policy cur = {0};
	struct al_err err = {0};
	const char **sigs = calloc((size_t)argc + 1, sizeof *sigs), *dir;
	char buf[4200], sha[AL_SHA256_HEX], req[AL_SHA256_HEX], next_sha[AL_SHA256_HEX];
	char *text = NULL, *stored = NULL;
	unsigned char sum[AL_SHA256_LEN];
	size_t len, nsigs = 0;
	json_t *doc = NULL, *signers = json_array(), *problems = json_array(), *f;
	int c, code = AL_OK, count = 0, open;

	memset(&ch, 0, sizeof ch);
	if (sigs == NULL)
		return AL_EENV;
	while ((c = al_cli_getopt(cli, argc, argv, "h", longopts)) != -1) {
		if (c == 's') {
			sigs[nsigs++] = optarg;
		} else {
			code = c == 'h' ? AL_OK : AL_EUSAGE;
			goto out;
		}
	}
	if (argc - optind != 1) {
		code = al_cli_usage(cli, "one CHANGE request (airlock keys add|remove|threshold ... -o CHANGE)");
		goto out;
	}
	if ((dir = al_cli_keys_dir(cli, NULL, buf, sizeof buf, &err)) == NULL ||
	    (doc = al_policy_doc(dir, sha, &err)) == NULL ||
	    al_crypto_init(&err) < 0 ||
	    al_read_file(AT_FDCWD, argv[optind], 1 << 20, &text, &len, &err) < 0) {
		code = al_cli_error(cli, &err);
		goto out;
	}
	al_sha256_buf(text, len, sum);
	al_hex(sum, sizeof sum, req);
	if (al_policy_change_parse(text, len, argv[optind], dir, &ch, &err) < 0) {
		code = refuse(cli, err.code == AL_EUSAGE ? AL_EUSAGE : AL_EVERIFY, "?", json_pack("{s:s}", "request_sha256", req), "%s", err.msg);
		goto out;
	}
	/* written for the policy in force, not an earlier one (a replay) */
	if (strcmp(ch.previous_sha256, sha) != 0) {
		code = refuse(cli, AL_EVERIFY, ch.summary, json_pack("{s:s}", "request_sha256", req),
		              "%s: written for the policy of sha256 %s, but the policy in force is %s: "
		              "make the request again",
		              argv[optind], ch.previous_sha256[0] ? ch.previous_sha256 : "(none)",
		              sha[0] ? sha : "(none)");
		goto out;
	}
	/* each change makes the next version: a request for a policy that
	 * came back to an earlier state (the same hash again) is not for it */
	if (json_integer_value(json_object_get(ch.doc, "version")) !=
	    json_integer_value(json_object_get(doc, "version")) + 1) {
		code = refuse(cli, AL_EVERIFY, ch.summary, json_pack("{s:s}", "request_sha256", req),
		              "%s: a request for version %lld of the policy, which is at version %lld: "
		              "make the request again",
		              argv[optind], (long long)json_integer_value(json_object_get(ch.doc, "version")),
		              (long long)json_integer_value(json_object_get(doc, "version")));
		goto out;
	}
	open = al_policy_open(doc);
	if (!open) {
		if (al_policy_load(dir, &cur, &err) < 0) {
			code = al_cli_error(cli, &err);
			goto out;
		}
		count = al_policy_change_signers(&cur, text, len, sigs, nsigs, al_now_us(), signers,
		                                 problems);
		for (size_t i = 0; i < json_array_size(problems); i++)
			fprintf(stderr, "%s: %s\n", cli->prog, json_string_value(json_array_get(problems, i)));
		if (count < cur.threshold) {
			code = refuse(cli, AL_EVERIFY, ch.summary,
			              json_pack("{s:s,s:O,s:i,s:O}", "request_sha256", req, "signers", signers,
			                        "needed", cur.threshold, "problems", problems),
			              "%s: %d valid signature%s by keys of the policy in force, %d needed: "
			              "not applied",
			              argv[optind], count, count == 1 ? "" : "s", cur.threshold);
			goto out;
		}
	}
	/* the policy as it will be stored, hashed for the entry */
	if ((stored = al_policy_doc_text(ch.doc)) == NULL) {
		code = al_cli_error(cli, (al_err_sys(&err, "cannot allocate memory"), &err));
		goto out;
	}
	al_sha256_buf(stored, strlen(stored), sum);
	al_hex(sum, sizeof sum, next_sha);
	f = json_pack("{s:s,s:s,s:s,s:s,s:O,s:i,s:b,s:I}", "change", ch.summary, "request_sha256", req,
	              "previous_sha256", sha, "policy_sha256", next_sha, "signers", signers,
	              "threshold", ch.next.threshold, "bootstrap", open, "version",
	              json_integer_value(json_object_get(ch.doc, "version")));
	json_object_set_new(f, "keys", json_array());
	for (size_t i = 0; i < ch.next.keys_n; i++) {
		char hex[AL_KEYID_HEX];
		al_keyid_hex(ch.next.keys[i].keyid, hex);
		json_array_append_new(json_object_get(f, "keys"), json_string(hex));
	}
	if (audit_entry(cli, "keys.changed", f, &err) < 0 ||
	    al_policy_doc_store(dir, ch.doc, ch.pubs, &err) < 0)
		code = al_cli_error(cli, &err);
	else if (!cli->json && cli->verbosity >= 0)
		printf("trust policy changed: %s (signed by %d of the keys in force)\n", ch.summary,
		       count);
	json_decref(f);
out:
	free(sigs);
	free(text);
	free(stored);
	json_decref(doc);
	json_decref(signers);
	json_decref(problems);
	al_policy_free(&cur);
	al_policy_change_free(&ch);
	return code;
}

static int keys_list(struct al_cli *cli, int argc, char **argv)
{
	struct al_policy pol;
	struct al_err err = {0};
	const char *dir;
	char buf[4200];
	json_t *all;
	int c;

	while ((c = al_cli_getopt(cli, argc, argv, "h", help_only)) != -1)
		return c == 'h' ? AL_OK : AL_EUSAGE;
	if ((dir = al_cli_keys_dir(cli, NULL, buf, sizeof buf, &err)) == NULL ||
	    al_policy_load(dir, &pol, &err) < 0)
		return al_cli_error(cli, &err);
	all = json_array();
	if (!cli->json)
		printf("threshold %d of %zu keys%s\n", pol.threshold, pol.keys_n,
		       pol.keys_n < (size_t)pol.threshold
		           ? " (open: changes need no signatures until it lists that many keys)"
		           : " (in force: a change needs that many signatures: keys apply)");
	for (size_t i = 0; i < pol.keys_n; i++) {
		char hex[AL_KEYID_HEX], exp[AL_TS_LEN] = "never";
		al_keyid_hex(pol.keys[i].keyid, hex);
		if (pol.keys[i].expires_us)
			al_ts_format(pol.keys[i].expires_us, exp);
		if (cli->json)
			json_array_append_new(all, json_pack("{s:s,s:s,s:s}", "keyid", hex, "name",
			                                     pol.keys[i].name, "expires", exp));
		else
			printf("%s  %-30s expires %s\n", hex, pol.keys[i].name, exp);
	}
	if (cli->json)
		al_cli_print_json(json_pack("{s:i,s:O,s:b}", "threshold", pol.threshold, "keys", all,
		                            "open", pol.keys_n < (size_t)pol.threshold));
	json_decref(all);
	al_policy_free(&pol);
	return AL_OK;
}

static const struct al_command keys_commands[] = {
	{"add", keys_add, "keys add PUB [--name NAME] [--expires T] [-o CHANGE]",
	 "trust a release officer's public key (audited)", NULL},
	{"list", keys_list, "keys list", "the trust policy: threshold and keys", NULL},
	{"remove", keys_remove, "keys remove KEYID [-o CHANGE]", "stop trusting a key (audited)", NULL},
	{"threshold", keys_threshold, "keys threshold N [-o CHANGE]",
	 "how many distinct keys must sign a bundle (audited)", NULL},
	{"apply", keys_apply, "keys apply CHANGE --sig SIG [--sig SIG]...",
	 "apply a change request signed by the threshold of the keys in force (audited)",
	 "While the policy lists fewer keys than its threshold it is open: add, remove\n"
	 "and threshold change it at once. Once in force, they refuse (exit 3, audited\n"
	 "keys.refused) unless -o CHANGE writes the change as a request: the whole new\n"
	 "policy and the hash of the one it replaces. Keys of the policy in force sign\n"
	 "it (airlock sign-file, or minisign -Sm); apply checks the hash, counts the\n"
	 "distinct unexpired keys in force whose signatures verify, and applies it only\n"
	 "with the threshold (keys.changed). A new key's own signature never counts.\n"
	 "Exit status: 0 applied, 2 usage or malformed request, 3 refused, 4 I/O.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};

int al_cmd_keys(struct al_cli *cli, int argc, char **argv)
{
	return al_cli_group(cli, keys_commands, argc, argv);
}
