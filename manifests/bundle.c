/* bundle.c - a bundle's manifest bytes, and adding a signature to a
 * bundle (one per key, sorted; the bundle rewritten atomically). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads manifest.json, which must be the first member. */
static int read_manifest(struct bundle_reader *r, char **bytes, size_t *len, struct al_err *err)
{
	struct archive_entry *e;
	const char *name;
	int n = bundle_next(r, &e, err);

	if (n <= 0)
		return n < 0 ? -1 : al_err_set(err, AL_EVERIFY, "%s: an empty archive", r->name);
	name = archive_entry_pathname(e);
	if (name == NULL || strcmp(name, "manifest.json") != 0 || archive_entry_filetype(e) != AE_IFREG)
		return al_err_set(err, AL_EVERIFY, "%s: the first member is not manifest.json", r->name);
	return bundle_slurp(r, "manifest.json", AL_MANIFEST_MAX, bytes, len, err);
}

int al_bundle_manifest(const char *bundle, char **bytes, size_t *len, struct al_err *err)
{
	struct bundle_reader *r = bundle_open(bundle, err);
	int ret;

	if (r == NULL)
		return -1;
	ret = read_manifest(r, bytes, len, err);
	bundle_close(r);
	return ret;
}

struct sig {
	char name[64];
	char *text;
	size_t len;
};

static int cmp_sig(const void *a, const void *b)
{
	return strcmp(((const struct sig *)a)->name, ((const struct sig *)b)->name);
}

int al_bundle_add_signature(const char *bundle, const char *sig_text, size_t sig_len,
                            const char *sig_name, struct al_err *err)
{
	struct bundle_reader *r = NULL;
	struct al_tarzst t = {.fd = -1};
	struct archive *a;
	struct archive_entry *e;
	struct al_manifest *m = NULL;
	struct al_sig parsed;
	struct sig sigs[SIGS_MAX + 1];
	size_t nsigs = 0, mlen = 0;
	char keyid[AL_KEYID_HEX], *manifest = NULL, *buf = malloc(BUNDLE_CHUNK);
	int64_t mtime;
	int ret = -1, more;

	if (buf == NULL)
		return al_err_sys(err, "cannot allocate memory");
	if (al_sig_parse(sig_text, sig_len, sig_name, &parsed, err) < 0)
		goto out;
	al_keyid_hex(parsed.keyid, keyid);
	r = bundle_open(bundle, err);
	if (r == NULL || read_manifest(r, &manifest, &mlen, err) < 0)
		goto out;
	/* An officer signs a manifest that is one: it must parse and validate. */
	m = al_manifest_parse(manifest, mlen, "manifest.json", AL_MANIFEST_BUNDLE, err);
	if (m == NULL)
		goto out;
	mtime = m->created_us / 1000000;
	sigs[nsigs].text = malloc(sig_len);
	if (sigs[nsigs].text == NULL) {
		al_err_sys(err, "cannot allocate memory");
		goto out;
	}
	memcpy(sigs[nsigs].text, sig_text, sig_len);
	sigs[nsigs].len = sig_len;
	snprintf(sigs[nsigs].name, sizeof sigs[nsigs].name, SIG_DIR "%s" SIG_SUFFIX, keyid);
	nsigs++;
	while ((more = bundle_next(r, &e, err)) == 1) {
		const char *name = archive_entry_pathname(e);
		char kid[AL_KEYID_HEX];
		if (name == NULL || sig_member_keyid(name, kid) < 0)
			break;
		if (strcmp(kid, keyid) == 0)
			continue; /* the same key signs again: replaced, never twice */
		if (nsigs == SIGS_MAX) {
			al_err_set(err, AL_EUSAGE, "%s: more than %d signatures", bundle, SIGS_MAX);
			goto out;
		}
		snprintf(sigs[nsigs].name, sizeof sigs[nsigs].name, "%s", name);
		if (bundle_slurp(r, name, SIG_MAX, &sigs[nsigs].text, &sigs[nsigs].len, err) < 0)
			goto out;
		nsigs++;
	}
	if (more < 0)
		goto out;
	qsort(sigs, nsigs, sizeof *sigs, cmp_sig);

	if (al_tarzst_open(&t, bundle, 9, err) < 0)
		goto out;
	a = al_tarzst_archive(&t);
	if (al_tarzst_add(&t, "manifest.json", manifest, mlen, 0644, mtime, err) < 0)
		goto fail;
	for (size_t i = 0; i < nsigs; i++)
		if (al_tarzst_add(&t, sigs[i].name, sigs[i].text, sigs[i].len, 0644, mtime, err) < 0)
			goto fail;
	/* The files, as they are: copied member by member. */
	while (more == 1) {
		struct archive_entry *copy = archive_entry_clone(e);
		int ok = copy != NULL && archive_write_header(a, copy) == ARCHIVE_OK;
		archive_entry_free(copy);
		while (ok) {
			la_ssize_t n = archive_read_data(r->a, buf, BUNDLE_CHUNK);
			if (n <= 0) {
				ok = n == 0;
				break;
			}
			ok = archive_write_data(a, buf, (size_t)n) == n;
		}
		if (!ok) {
			al_err_set(err, AL_EVERIFY, "%s: %s", archive_entry_pathname(e),
			           archive_error_string(r->a) ? archive_error_string(r->a) : archive_error_string(a));
			goto fail;
		}
		more = bundle_next(r, &e, err);
	}
	if (more < 0)
		goto fail;
	ret = al_tarzst_commit(&t, err);
	goto out;
fail:
	al_tarzst_abort(&t);
out:
	bundle_close(r);
	al_manifest_free(m);
	for (size_t i = 0; i < nsigs; i++)
		free(sigs[i].text);
	free(manifest);
	free(buf);
	return ret;
}

json_t *al_bundle_signers_json(const struct al_bundle_result *res)
{
	json_t *a = json_array();

	for (size_t i = 0; i < res->signers_n; i++)
		json_array_append_new(a, json_string(res->signers[i]));
	return a;
}
