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

int al_policy_load(const char *dir, struct al_policy *p, struct al_err *err)
{
	char path[PATH_MAX], pub_path[PATH_MAX];
	json_t *root, *keys, *k, *thr;
	const char *id, *field;
	json_t *fv;
	int ret = -1;

	memset(p, 0, sizeof *p);
	al_snprintf(path, sizeof path, "%s/" POLICY, dir);
	root = policy_json(dir, 0, err);
	if (root == NULL)
		return -1;
	thr = json_object_get(root, "threshold");
	keys = json_object_get(root, "keys");
	json_object_foreach(root, field, fv) {
		(void)fv;
		if (strcmp(field, "threshold") != 0 && strcmp(field, "keys") != 0) {
			al_err_set(err, AL_EUSAGE, "%s: %s: unknown field", path, field);
			goto out;
		}
	}
	if (!json_is_integer(thr) || json_integer_value(thr) < 1 || json_integer_value(thr) > 16) {
		al_err_set(err, AL_EUSAGE, "%s: threshold: must be an integer from 1 to 16", path);
		goto out;
	}
	if (!json_is_object(keys)) {
		al_err_set(err, AL_EUSAGE, "%s: keys: must be an object of key ids", path);
		goto out;
	}
	p->threshold = (int)json_integer_value(thr);
	p->keys = calloc(json_object_size(keys) + 1, sizeof *p->keys);
	if (p->keys == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	json_object_foreach(keys, id, k) {
		struct al_policy_key *pk = &p->keys[p->keys_n];
		const char *name = json_string_value(json_object_get(k, "name"));
		const char *expires = json_string_value(json_object_get(k, "expires"));
		char got[AL_KEYID_HEX];
		json_object_foreach(k, field, fv) {
			(void)fv;
			if (strcmp(field, "name") != 0 && strcmp(field, "expires") != 0) {
				al_err_set(err, AL_EUSAGE, "%s: keys.%s.%s: unknown field", path, id, field);
				goto out;
			}
		}
		if (!keyid_ok(id)) {
			al_err_set(err, AL_EUSAGE, "%s: keys.%s: not a key id (16 upper-case hex digits)", path, id);
			goto out;
		}
		if (expires != NULL && al_ts_parse(expires, &pk->expires_us, NULL) < 0) {
			al_err_set(err, AL_EUSAGE, "%s: keys.%s.expires: \"%s\": not an RFC 3339 time", path,
			           id, expires);
			goto out;
		}
		al_snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, id);
		if (al_pubkey_load(pub_path, &pk->pub, err) < 0)
			goto out;
		al_keyid_hex(pk->pub.keyid, got);
		if (strcmp(got, id) != 0) {
			al_err_set(err, AL_EUSAGE, "%s: holds key %s, not %s", pub_path, got, id);
			goto out;
		}
		memcpy(pk->keyid, pk->pub.keyid, AL_KEYID_LEN);
		snprintf(pk->name, sizeof pk->name, "%s", name != NULL ? name : "");
		p->keys_n++;
	}
	ret = 0;
out:
	json_decref(root);
	if (ret < 0)
		al_policy_free(p);
	return ret;
}

void al_policy_free(struct al_policy *p)
{
	free(p->keys);
	p->keys = NULL;
	p->keys_n = 0;
}

static int policy_store(const char *dir, json_t *root, struct al_err *err)
{
	char path[PATH_MAX], *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	int ret;

	if (text == NULL)
		return al_err_set(err, AL_EENV, "%s: cannot format the policy", dir);
	al_snprintf(path, sizeof path, "%s/" POLICY, dir);
	{
		size_t n = strlen(text);
		char *t = realloc(text, n + 2);
		if (t == NULL) {
			free(text);
			return al_err_sys(err, "cannot allocate memory");
		}
		text = t;
		memcpy(text + n, "\n", 2);
	}
	ret = al_write_file_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return ret;
}

int al_keys_add(const char *dir, const char *pub_path, const char *name, int64_t expires_us,
                char keyid_out[AL_KEYID_HEX], struct al_err *err)
{
	struct al_pubkey pub;
	char path[PATH_MAX], *text;
	json_t *root = NULL, *entry;
	int ret = -1;

	if (al_pubkey_load(pub_path, &pub, err) < 0 || al_mkdirs(dir, 0700, err) < 0)
		return -1;
	al_keyid_hex(pub.keyid, keyid_out);
	root = policy_json(dir, 1, err);
	if (root == NULL)
		return -1;
	entry = json_object();
	if (name != NULL)
		json_object_set_new(entry, "name", json_string(name));
	if (expires_us != 0) {
		char ts[AL_TS_LEN];
		al_ts_format(expires_us, ts);
		json_object_set_new(entry, "expires", json_string(ts));
	}
	json_object_set_new(json_object_get(root, "keys"), keyid_out, entry);
	/* The key file as the keyring stores it: its comment names it. */
	text = al_pubkey_format(&pub, NULL);
	al_snprintf(path, sizeof path, "%s/%s.pub", dir, keyid_out);
	if (text == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	if (al_write_file_atomic(path, text, strlen(text), 0644, err) < 0 ||
	    policy_store(dir, root, err) < 0)
		goto out;
	ret = 0;
out:
	free(text);
	json_decref(root);
	return ret;
}

int al_keys_remove(const char *dir, const char *keyid_hex, struct al_err *err)
{
	char path[PATH_MAX];
	json_t *root = policy_json(dir, 0, err);
	int ret = -1;

	if (root == NULL)
		return -1;
	if (json_object_get(json_object_get(root, "keys"), keyid_hex) == NULL) {
		al_err_set(err, AL_EUSAGE, "%s: key %s is not in the trust policy", dir, keyid_hex);
		goto out;
	}
	json_object_del(json_object_get(root, "keys"), keyid_hex);
	if (policy_store(dir, root, err) < 0)
		goto out;
	/* The policy no longer trusts it; its file goes too. */
	al_snprintf(path, sizeof path, "%s/%s.pub", dir, keyid_hex);
	if (unlink(path) < 0 && errno != ENOENT) {
		al_err_sys(err, "%s", path);
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int al_keys_threshold(const char *dir, int threshold, struct al_err *err)
{
	json_t *root;
	int ret;

	if (threshold < 1 || threshold > 16)
		return al_err_set(err, AL_EUSAGE, "threshold %d: must be from 1 to 16", threshold);
	if (al_mkdirs(dir, 0700, err) < 0 || (root = policy_json(dir, 1, err)) == NULL)
		return -1;
	json_object_set_new(root, "threshold", json_integer(threshold));
	ret = policy_store(dir, root, err);
	json_decref(root);
	return ret;
}
