/* keyring.c - the trust policy (FORMAT.md §4): HOME/keys/<KEYID>.pub and
 * keys/policy.json, {"threshold": M, "keys": {"<KEYID>": {"name", "expires"}}}. */
#include "manifests.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLICY "policy.json"

static int keyid_ok(const char *s)
{
	unsigned char id[AL_KEYID_LEN];

	return strlen(s) == 16 && strspn(s, "0123456789ABCDEF") == 16 && al_keyid_parse(s, id) == 0;
}

/* Reads policy.json as JSON (a new, empty policy when missing and
 * allow_missing). */
static json_t *policy_json(const char *dir, int allow_missing, struct al_err *err)
{
	char path[PATH_MAX];
	json_t *v;

	if (al_snprintf(path, sizeof path, "%s/" POLICY, dir) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", dir);
		return NULL;
	}
	if (allow_missing && access(path, F_OK) != 0 && errno == ENOENT)
		return json_pack("{s:i,s:{}}", "threshold", 2, "keys");
	v = al_json_load_file(path, 1 << 20, err);
	if (v == NULL && err != NULL && err->sys_errno == ENOENT)
		al_err_set(err, AL_EUSAGE, "%s: no trust policy (add release keys with airlock keys add)", path);
	return v;
}

/* A policy document checked (FORMAT.md §4) into p; each key's public key
 * from pubs {KEYID: key file text} when it names it, else from
 * DIR/<KEYID>.pub. name: the document's, in messages. */
static int policy_parse(const char *name, json_t *root, const char *dir, const json_t *pubs,
                        struct al_policy *p, struct al_err *err)
{
	char pub_path[PATH_MAX];
	json_t *keys, *k, *thr, *fv;
	const char *id, *field;

	memset(p, 0, sizeof *p);
	if (!json_is_object(root)) {
		al_err_set(err, AL_EUSAGE, "%s: not a JSON object", name);
		return -1;
	}
	thr = json_object_get(root, "threshold");
	keys = json_object_get(root, "keys");
	json_object_foreach(root, field, fv) {
		(void)fv;
		if (strcmp(field, "threshold") != 0 && strcmp(field, "keys") != 0 &&
		    strcmp(field, "version") != 0) {
			al_err_set(err, AL_EUSAGE, "%s: %s: unknown field", name, field);
			goto fail;
		}
	}
	if (json_object_get(root, "version") != NULL &&
	    (!json_is_integer(json_object_get(root, "version")) ||
	     json_integer_value(json_object_get(root, "version")) < 0)) {
		al_err_set(err, AL_EUSAGE, "%s: version: must be an integer from 0", name);
		goto fail;
	}
	if (!json_is_integer(thr) || json_integer_value(thr) < 1 || json_integer_value(thr) > 16) {
		al_err_set(err, AL_EUSAGE, "%s: threshold: must be an integer from 1 to 16", name);
		goto fail;
	}
	if (!json_is_object(keys)) {
		al_err_set(err, AL_EUSAGE, "%s: keys: must be an object of key ids", name);
		goto fail;
	}
	p->threshold = (int)json_integer_value(thr);
	p->keys = calloc(json_object_size(keys) + 1, sizeof *p->keys);
	if (p->keys == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto fail;
	}
	json_object_foreach(keys, id, k) {
		struct al_policy_key *pk = &p->keys[p->keys_n];
		const char *kname = json_string_value(json_object_get(k, "name"));
		const char *expires = json_string_value(json_object_get(k, "expires"));
		const char *text = json_string_value(json_object_get(pubs, id));
		char got[AL_KEYID_HEX];
		if (!json_is_object(k)) {
			al_err_set(err, AL_EUSAGE, "%s: keys.%s: must be an object", name, id);
			goto fail;
		}
		json_object_foreach(k, field, fv) {
			if ((strcmp(field, "name") != 0 && strcmp(field, "expires") != 0) ||
			    !json_is_string(fv)) {
				al_err_set(err, AL_EUSAGE, "%s: keys.%s.%s: unknown field, or not a string", name,
				           id, field);
				goto fail;
			}
		}
		if (!keyid_ok(id)) {
			al_err_set(err, AL_EUSAGE, "%s: keys.%s: not a key id (16 upper-case hex digits)", name, id);
			goto fail;
		}
		if (expires != NULL && al_ts_parse(expires, &pk->expires_us, NULL) < 0) {
			al_err_set(err, AL_EUSAGE, "%s: keys.%s.expires: \"%s\": not an RFC 3339 time", name,
			           id, expires);
			goto fail;
		}
		al_snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir != NULL ? dir : ".", id);
		if (text != NULL ? al_pubkey_parse(text, strlen(text), id, &pk->pub, err) < 0
		    : dir == NULL   ? al_err_set(err, AL_EUSAGE, "%s: key %s: its public key is missing",
		                                 name, id) < 0
		                    : al_pubkey_load(pub_path, &pk->pub, err) < 0)
			goto fail;
		al_keyid_hex(pk->pub.keyid, got);
		if (strcmp(got, id) != 0) {
			al_err_set(err, AL_EUSAGE, "%s: holds key %s, not %s", text != NULL ? name : pub_path,
			           got, id);
			goto fail;
		}
		memcpy(pk->keyid, pk->pub.keyid, AL_KEYID_LEN);
		/* a key id is a label, not the key: one key under two ids would
		 * count twice towards the threshold */
		for (size_t j = 0; j < p->keys_n; j++)
			if (memcmp(p->keys[j].pub.pk, pk->pub.pk, sizeof pk->pub.pk) == 0) {
				al_err_set(err, AL_EUSAGE, "%s: keys.%s: the same public key as another key of the "
				                           "policy, under another id",
				           name, id);
				goto fail;
			}
		snprintf(pk->name, sizeof pk->name, "%s", kname != NULL ? kname : "");
		p->keys_n++;
	}
	return 0;
fail:
	al_policy_free(p);
	return -1;
}

int al_policy_load(const char *dir, struct al_policy *p, struct al_err *err)
{
	char path[PATH_MAX];
	json_t *root;
	int ret;

	memset(p, 0, sizeof *p);
	al_snprintf(path, sizeof path, "%s/" POLICY, dir);
	root = policy_json(dir, 0, err);
	if (root == NULL)
		return -1;
	ret = policy_parse(path, root, dir, NULL, p, err);
	json_decref(root);
	return ret;
}

void al_policy_free(struct al_policy *p)
{
	free(p->keys);
	p->keys = NULL;
	p->keys_n = 0;
}

char *al_policy_doc_text(const json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS), *t;
	size_t n;

	if (text == NULL)
		return NULL;
	n = strlen(text);
	if ((t = realloc(text, n + 2)) == NULL) {
		free(text);
		return NULL;
	}
	memcpy(t + n, "\n", 2);
	return t;
}

static int policy_store(const char *dir, json_t *root, struct al_err *err)
{
	char path[PATH_MAX], *text = al_policy_doc_text(root);
	int ret;

	if (text == NULL)
		return al_err_set(err, AL_EENV, "%s: cannot format the policy", dir);
	al_snprintf(path, sizeof path, "%s/" POLICY, dir);
	ret = al_write_file_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return ret;
}

json_t *al_policy_doc(const char *dir, char sha256[AL_SHA256_HEX], struct al_err *err)
{
	char path[PATH_MAX], *text = NULL;
	unsigned char sum[AL_SHA256_LEN];
	size_t len;
	json_t *doc;
	struct al_policy p;

	sha256[0] = '\0';
	if (al_snprintf(path, sizeof path, "%s/" POLICY, dir) < 0) {
		al_err_set(err, AL_EUSAGE, "%s: path too long", dir);
		return NULL;
	}
	if (al_read_file(AT_FDCWD, path, 1 << 20, &text, &len, err) < 0) {
		if (err->sys_errno != ENOENT)
			return NULL;
		memset(err, 0, sizeof *err);
		return json_pack("{s:i,s:{}}", "threshold", 2, "keys");
	}
	al_sha256_buf(text, len, sum);
	al_hex(sum, sizeof sum, sha256);
	doc = al_json_parse(text, len, path, err);
	free(text);
	/* the policy in force must be one airlock can load */
	if (doc == NULL || policy_parse(path, doc, dir, NULL, &p, err) < 0) {
		json_decref(doc);
		return NULL;
	}
	al_policy_free(&p);
	return doc;
}

int al_policy_open(const json_t *doc)
{
	return (json_int_t)json_object_size(json_object_get(doc, "keys")) <
	       json_integer_value(json_object_get(doc, "threshold"));
}

int al_policy_doc_add(json_t *doc, json_t *pubs, const char *pub_path, const char *name,
                      int64_t expires_us, char keyid_out[AL_KEYID_HEX], struct al_err *err)
{
	struct al_pubkey pub;
	char *text;
	json_t *entry;

	if (al_pubkey_load(pub_path, &pub, err) < 0)
		return -1;
	al_keyid_hex(pub.keyid, keyid_out);
	entry = json_object();
	if (name != NULL)
		json_object_set_new(entry, "name", json_string(name));
	if (expires_us != 0) {
		char ts[AL_TS_LEN];
		al_ts_format(expires_us, ts);
		json_object_set_new(entry, "expires", json_string(ts));
	}
	json_object_set_new(json_object_get(doc, "keys"), keyid_out, entry);
	/* The key file as the keyring stores it: its comment names it. */
	if ((text = al_pubkey_format(&pub, NULL)) == NULL)
		return al_err_sys(err, "cannot allocate memory");
	json_object_set_new(pubs, keyid_out, json_string(text));
	free(text);
	return 0;
}

int al_policy_doc_remove(json_t *doc, const char *keyid_hex, struct al_err *err)
{
	if (json_object_get(json_object_get(doc, "keys"), keyid_hex) == NULL)
		return al_err_set(err, AL_EUSAGE, "key %s is not in the trust policy", keyid_hex);
	json_object_del(json_object_get(doc, "keys"), keyid_hex);
	return 0;
}

int al_policy_doc_threshold(json_t *doc, int threshold, struct al_err *err)
{
	if (threshold < 1 || threshold > 16)
		return al_err_set(err, AL_EUSAGE, "threshold %d: must be from 1 to 16", threshold);
	json_object_set_new(doc, "threshold", json_integer(threshold));
	return 0;
}

int al_policy_doc_store(const char *dir, json_t *doc, const json_t *pubs, struct al_err *err)
{
	char path[PATH_MAX];
	const char *id;
	json_t *v, *old;
	int ret = 0;

	if (al_mkdirs(dir, 0700, err) < 0)
		return -1;
	old = policy_json(dir, 1, err);
	if (old == NULL)
		return -1;
	/* new keys' files first: policy.json never names a key without one */
	json_object_foreach((json_t *)pubs, id, v) {
		const char *text = json_string_value(v);
		if (!keyid_ok(id) || text == NULL) {
			ret = al_err_set(err, AL_EUSAGE, "%s: not a key id with its key", id);
			break;
		}
		al_snprintf(path, sizeof path, "%s/%s.pub", dir, id);
		if ((ret = al_write_file_atomic(path, text, strlen(text), 0644, err)) < 0)
			break;
	}
	if (ret == 0)
		ret = policy_store(dir, doc, err);
	/* then the files of the keys it no longer trusts */
	json_object_foreach(json_object_get(old, "keys"), id, v) {
		if (ret < 0 || json_object_get(json_object_get(doc, "keys"), id) != NULL || !keyid_ok(id))
			continue;
		al_snprintf(path, sizeof path, "%s/%s.pub", dir, id);
		if (unlink(path) < 0 && errno != ENOENT)
			ret = al_err_sys(err, "%s", path);
	}
	json_decref(old);
	return ret;
}

/* ---- signed changes of the policy (airlock.policy-change/1) ---- */

#define CHANGE_FORMAT "airlock.policy-change/1"

char *al_policy_change_format(const char *previous_sha256, const json_t *doc, const json_t *pubs,
                              const char *summary, struct al_err *err)
{
	char now[AL_TS_LEN], *text;
	json_t *c;

	al_ts_format(al_now_us(), now);
	c = json_pack("{s:s,s:s,s:s,s:s,s:O,s:O}", "format", CHANGE_FORMAT, "change", summary,
	              "created", now, "previous_sha256", previous_sha256, "policy", doc, "pubkeys",
	              pubs);
	text = c != NULL ? json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(c);
	if (text == NULL)
		al_err_set(err, AL_EENV, "cannot format the change");
	return text;
}

void al_policy_change_free(struct al_policy_change *c)
{
	json_decref(c->doc);
	json_decref(c->pubs);
	al_policy_free(&c->next);
	memset(c, 0, sizeof *c);
}

int al_policy_change_parse(const char *text, size_t len, const char *name, const char *dir,
                           struct al_policy_change *c, struct al_err *err)
{
	json_t *root = al_json_parse(text, len, name, err), *v;
	const char *field, *prev, *fmt, *sum;
	struct al_policy cur;

	memset(c, 0, sizeof *c);
	if (root == NULL)
		return -1;
	json_object_foreach(root, field, v) {
		static const char *const known[] = {"format", "change", "created", "previous_sha256",
		                                    "policy", "pubkeys"};
		size_t k;
		for (k = 0; k < sizeof known / sizeof *known && strcmp(known[k], field) != 0; k++)
			;
		if (k == sizeof known / sizeof *known) {
			al_err_set(err, AL_EUSAGE, "%s: %s: unknown field", name, field);
			goto fail;
		}
	}
	fmt = json_string_value(json_object_get(root, "format"));
	prev = json_string_value(json_object_get(root, "previous_sha256"));
	sum = json_string_value(json_object_get(root, "change"));
	if (fmt == NULL || strcmp(fmt, CHANGE_FORMAT) != 0) {
		al_err_set(err, AL_EUSAGE, "%s: format: not " CHANGE_FORMAT, name);
		goto fail;
	}
	if (prev == NULL || (strlen(prev) != AL_SHA256_HEX - 1 && prev[0] != '\0') ||
	    strspn(prev, "0123456789abcdef") != strlen(prev)) {
		al_err_set(err, AL_EUSAGE, "%s: previous_sha256: not a SHA-256 in lower-case hex", name);
		goto fail;
	}
	if (sum == NULL || strlen(sum) >= sizeof c->summary) {
		al_err_set(err, AL_EUSAGE, "%s: change: a string of at most %zu bytes is needed", name,
		           sizeof c->summary - 1);
		goto fail;
	}
	if (!json_is_object(json_object_get(root, "pubkeys"))) {
		al_err_set(err, AL_EUSAGE, "%s: pubkeys: must be an object of key ids", name);
		goto fail;
	}
	c->doc = json_incref(json_object_get(root, "policy"));
	c->pubs = json_incref(json_object_get(root, "pubkeys"));
	memcpy(c->previous_sha256, prev, strlen(prev) + 1);
	memcpy(c->summary, sum, strlen(sum) + 1);
	json_decref(root);
	root = NULL;
	/* the new policy whole: each key from the change's own pubkeys, or
	 * the one the current policy holds */
	if (policy_parse(name, c->doc, dir, c->pubs, &c->next, err) < 0)
		goto fail;
	json_object_foreach(c->pubs, field, v) {
		if (!json_is_string(v)) {
			al_err_set(err, AL_EUSAGE, "%s: pubkeys.%s: not a key file's text", name, field);
			goto fail;
		}
		if (json_object_get(json_object_get(c->doc, "keys"), field) == NULL) {
			al_err_set(err, AL_EUSAGE, "%s: pubkeys.%s: a key the policy does not list", name,
			           field);
			goto fail;
		}
	}
	/* a policy that no set of its keys could meet locks every bundle out */
	if (c->next.keys_n < (size_t)c->next.threshold) {
		al_err_set(err, AL_EUSAGE,
		           "%s: the new policy needs %d signatures but lists %zu keys: it could never be met",
		           name, c->next.threshold, c->next.keys_n);
		goto fail;
	}
	/* a key already trusted must keep its public key */
	if (dir != NULL && al_policy_load(dir, &cur, NULL) == 0) {
		int bad = 0;
		for (size_t i = 0; i < c->next.keys_n && !bad; i++)
			for (size_t j = 0; j < cur.keys_n; j++)
				if (memcmp(c->next.keys[i].keyid, cur.keys[j].keyid, AL_KEYID_LEN) == 0 &&
				    memcmp(&c->next.keys[i].pub, &cur.keys[j].pub, sizeof cur.keys[j].pub) != 0)
					bad = 1;
		al_policy_free(&cur);
		if (bad) {
			al_err_set(err, AL_EUSAGE, "%s: a key id already trusted comes with another public key",
			           name);
			goto fail;
		}
	}
	return 0;
fail:
	json_decref(root);
	al_policy_change_free(c);
	return -1;
}

int al_policy_change_signers(const struct al_policy *cur, const char *text, size_t len,
                             const char *const *sigs, size_t n, int64_t now_us, json_t *signers,
                             json_t *problems)
{
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		struct al_sig sig;
		struct al_err e = {0};
		const struct al_policy_key *k = NULL;
		char hex[AL_KEYID_HEX], msg[600];
		int dup = 0;
		size_t j;
		if (al_sig_load(sigs[i], &sig, &e) < 0) {
			json_array_append_new(problems, json_string(e.msg));
			continue;
		}
		al_keyid_hex(sig.keyid, hex);
		for (j = 0; j < cur->keys_n; j++)
			if (memcmp(cur->keys[j].keyid, sig.keyid, AL_KEYID_LEN) == 0)
				k = &cur->keys[j];
		for (j = 0; j < json_array_size(signers); j++)
			dup |= strcmp(json_string_value(json_array_get(signers, j)), hex) == 0;
		if (k == NULL)
			al_snprintf(msg, sizeof msg, "%s: key %s is not in the trust policy in force: not counted",
			            sigs[i], hex);
		else if (k->expires_us != 0 && k->expires_us < now_us)
			al_snprintf(msg, sizeof msg, "%s: key %s expired: not counted", sigs[i], hex);
		else if (dup)
			al_snprintf(msg, sizeof msg, "%s: key %s signed already: counted once", sigs[i], hex);
		else if (al_sig_verify_buf(&k->pub, &sig, text, len, sigs[i], &e) < 0)
			al_snprintf(msg, sizeof msg, "%s", e.msg);
		else {
			json_array_append_new(signers, json_string(hex));
			count++;
			continue;
		}
		json_array_append_new(problems, json_string(msg));
	}
	return count;
}
