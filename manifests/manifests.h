/* manifests.h - the public API of manifests/: the airlock.manifest/1
 * format (manifests/FORMAT.md), the keyring and trust policy, and bundles:
 * pack, sign, and the single streaming pass that verifies and extracts.
 *
 * manifests depends on core only; auditing what happens is the caller's
 * (the command layer's) job, with what these functions report. Functions
 * return 0 (or a pointer) on success, -1 (or NULL) with err filled. */
#ifndef AIRLOCK_MANIFESTS_H
#define AIRLOCK_MANIFESTS_H

#include <stdint.h>

#include "core/core.h"

#define AL_MANIFEST_FORMAT "airlock.manifest/1"
#define AL_MANIFEST_MAX (1u << 20)     /* manifest.json, bytes */
#define AL_BUNDLE_MAX_SIZE (4ull << 30) /* default --max-size: all files together */
#define AL_BUNDLE_MAX_ENTRIES 100000
#define AL_BUNDLE_WINDOW_LOG_MAX 27     /* zstd frames needing more than 128 MiB: refused */
#define AL_STEPS_MAX 10000

/* ---- manifest ---- */

enum al_step_kind { AL_KIND_EXEC, AL_KIND_AWAIT, AL_KIND_VALIDATE, AL_KIND_NOTIFY };
enum al_on_failure { AL_FAIL_ABORT, AL_FAIL_SKIP, AL_FAIL_ALERT };
enum al_when { AL_WHEN_SUCCESS, AL_WHEN_ALWAYS };

enum {
	AL_RETRY_ON_EXIT = 1,    /* "exit:N" (the codes are in exit_codes) */
	AL_RETRY_ON_TIMEOUT = 2, /* "timeout" */
	AL_RETRY_ON_SIGNAL = 4,  /* "signal" */
	AL_RETRY_ON_VERIFY = 8,  /* "verify" */
};

struct al_retries {
	int max;         /* retries after the first attempt */
	int64_t base_ms, cap_ms;
	unsigned on;     /* 0: any failure */
	int exit_codes[16];
	size_t exit_n;
};

struct al_output {
	const char *path;
	int64_t min_bytes, min_rows; /* -1: not set */
};

/* A host path a step declares it needs (FORMAT.md, "Isolation"). */
struct al_mount {
	const char *host;    /* absolute, normalised */
	const char *at;      /* under /airlock/mnt/ */
	int rw;              /* mode "rw" (else "ro") */
};

/* One step; strings point into the manifest's JSON (valid while it lives). */
struct al_step {
	const char *id;
	enum al_step_kind kind;
	const char **run;    /* NULL-terminated argv, or NULL */
	const char **verify; /* NULL-terminated argv, or NULL */
	size_t *needs;       /* indices of earlier steps */
	size_t needs_n;
	enum al_when when;
	int64_t timeout_ms;  /* 0: none */
	struct al_retries retries;
	const char *resource;
	enum al_on_failure on_failure;
	const char **secrets; /* NULL-terminated names */
	int network_host;     /* network: "host" */
	int64_t limit_cpu_s, limit_memory, limit_files, limit_procs; /* -1: not set */
	int64_t limit_cpus_milli; /* "cpus" x 1000 (cgroup cpu.max); -1: not set */
	struct al_output *outputs;
	size_t outputs_n;
	int isolation_strict; /* "isolation": "strict": refuse to run without every layer */
	struct al_mount *mounts;
	size_t mounts_n;
	const char **syscalls; /* NULL-terminated names taken off the deny list, or NULL */
	const char *image;    /* the name of its image (FORMAT.md, "Images"), or NULL: the host's */
	long image_idx;       /* its index in the manifest's images, or -1 */
	json_t *json;         /* the step's object: env and the kind's own fields */
};

/* An image the manifest carries: a file of the bundle (FORMAT.md). */
struct al_image_ref {
	const char *name;
	const char *archive;  /* a path among files */
	const char *digest;   /* "sha256:HEX", the image's config digest; NULL in a source
	                       * manifest that leaves it to pack */
};

struct al_file {
	const char *path;
	unsigned char sha256[AL_SHA256_LEN];
	uint64_t size;
	unsigned mode; /* 0644 or 0755 */
};

struct al_manifest {
	json_t *root;
	const char *pipeline;
	int64_t version;
	int64_t expires_us;
	int64_t created_us; /* 0 in a source airlock.json */
	struct al_step *steps;
	size_t steps_n;
	struct al_file *files;
	size_t files_n;
	uint64_t files_bytes; /* the sum of the files' sizes */
	struct al_image_ref *images;
	size_t images_n;
	json_t *step_ids;     /* id -> index (al_manifest_step) */
};

enum al_manifest_mode {
	AL_MANIFEST_SOURCE, /* airlock.json as the author writes it: no files, no created */
	AL_MANIFEST_BUNDLE, /* manifest.json of a bundle: files and created required */
};

/* Parses and validates a manifest completely (FORMAT.md): every field,
 * durations, references, the DAG rules, the skip rule; unknown fields are
 * errors. Messages name the field by its JSON path, after `name`:
 * `manifest.json: steps[2].retries.cap: "32x": not a duration`. */
struct al_manifest *al_manifest_parse(const char *buf, size_t len, const char *name,
                                      enum al_manifest_mode mode, struct al_err *err);
void al_manifest_free(struct al_manifest *m);

/* The manifest's name of a step kind ("exec", "await", ...). */
const char *al_step_kind_name(enum al_step_kind kind);

/* The index of a step by id, or -1. */
long al_manifest_step(const struct al_manifest *m, const char *id);

/* The index of an image by name, or -1. */
long al_manifest_image(const struct al_manifest *m, const char *name);


/* ---- keyring and trust policy ---- */

struct al_policy_key {
	unsigned char keyid[AL_KEYID_LEN];
	struct al_pubkey pub;
	char name[128];
	int64_t expires_us; /* 0: does not expire */
};

struct al_policy {
	int threshold;
	struct al_policy_key *keys;
	size_t keys_n;
};

/* Loads DIR/policy.json and the DIR/<KEYID>.pub files it lists. A listed
 * key without its .pub file, or a .pub whose id differs, is an error. */
int al_policy_load(const char *dir, struct al_policy *p, struct al_err *err);
void al_policy_free(struct al_policy *p);

/* Changes to the trust policy (FORMAT.md §4.1). A policy is *open*
 * while it lists fewer keys than its threshold (no bundle can be trusted
 * by it yet): changes need no signatures. Once in force, a change is a
 * document (airlock.policy-change/1) naming the policy it replaces by
 * its hash and the whole new policy, which the current threshold of the
 * current keys must sign.
 *
 * al_policy_doc: DIR/policy.json as JSON, checked (a new policy of
 * threshold 2 when missing), and its bytes' SHA-256 ("" when missing). */
json_t *al_policy_doc(const char *dir, char sha256[AL_SHA256_HEX], struct al_err *err);
int al_policy_open(const json_t *doc);
/* Edits of a document; add puts the key file's text in pubs {KEYID: text}. */
int al_policy_doc_add(json_t *doc, json_t *pubs, const char *pub_path, const char *name,
                      int64_t expires_us, char keyid_out[AL_KEYID_HEX], struct al_err *err);
int al_policy_doc_remove(json_t *doc, const char *keyid_hex, struct al_err *err);
int al_policy_doc_threshold(json_t *doc, int threshold, struct al_err *err);
/* The bytes policy.json holds for doc (malloc'd; NULL: out of memory). */
char *al_policy_doc_text(const json_t *doc);
/* Writes the keys of pubs as DIR/<KEYID>.pub, doc as DIR/policy.json
 * (atomically; DIR created 0700), and removes the .pub files of the keys
 * doc no longer lists. */
int al_policy_doc_store(const char *dir, json_t *doc, const json_t *pubs, struct al_err *err);

/* A change request's text (malloc'd): the previous policy's hash, the
 * new policy, the public keys it adds, a one-line summary. */
char *al_policy_change_format(const char *previous_sha256, const json_t *doc, const json_t *pubs,
                              const char *summary, struct al_err *err);

struct al_policy_change {
	json_t *doc, *pubs;         /* the new policy.json, and {KEYID: key file text} */
	struct al_policy next;      /* doc loaded: every key with its public key */
	char previous_sha256[AL_SHA256_HEX];
	char summary[256];
};

/* Parses a change request and checks the policy it proposes (as
 * al_policy_load would, keys from pubs or DIR): unknown fields, a key
 * without its public key, a trusted key id with another key, and a
 * policy with fewer keys than its threshold are refused (AL_EUSAGE). */
int al_policy_change_parse(const char *text, size_t len, const char *name, const char *dir,
                           struct al_policy_change *c, struct al_err *err);
void al_policy_change_free(struct al_policy_change *c);
/* Counts the distinct keys of cur, unexpired at now_us, whose signature
 * files (sigs) verify over text; their ids are appended to signers, and
 * why each other file did not count to problems. */
int al_policy_change_signers(const struct al_policy *cur, const char *text, size_t len,
                             const char *const *sigs, size_t n, int64_t now_us, json_t *signers,
                             json_t *problems);

/* ---- bundles ---- */

/* Builds a deterministic bundle of pipeline directory DIR (FORMAT.md):
 * DIR/airlock.json becomes manifest.json with files and created filled
 * in; created and every mtime come from SOURCE_DATE_EPOCH when set.
 * Symlinks, devices, FIFOs, sockets and unreadable files are refused,
 * named. out is written atomically. manifest_sha256 (may be NULL)
 * receives the manifest's hash. */
int al_bundle_pack(const char *dir, const char *out, unsigned char manifest_sha256[AL_SHA256_LEN],
                   struct al_err *err);

/* What pack would make the manifest of DIR, with created fixed at the
 * epoch (1970-01-01T00:00:00Z) so that the text, and its hash, depend
 * only on the directory's contents: the identity of an unsigned run
 * (airlock run --unsigned DIR). text is malloc'd; m parsed from it. */
int al_pipeline_dir_manifest(const char *dir, char **text, size_t *len, struct al_manifest **m,
                             struct al_err *err);
/* The manifest bytes of a bundle, exactly (for stock minisign). malloc'd. */
int al_bundle_manifest(const char *bundle, char **bytes, size_t *len, struct al_err *err);

/* Adds a signature (the text of a .minisig over the manifest bytes) to a
 * bundle, replacing one by the same key; the bundle is rewritten
 * atomically. */
int al_bundle_add_signature(const char *bundle, const char *sig_text, size_t sig_len,
                            const char *sig_name, struct al_err *err);

/* What a verification found, for the caller to report and audit. */
struct al_bundle_result {
	unsigned char bundle_sha256[AL_SHA256_LEN];   /* of the whole file */
	unsigned char manifest_sha256[AL_SHA256_LEN];
	char pipeline[80];
	int64_t version;
	int64_t expires_us;
	size_t files;
	char signers[16][AL_KEYID_HEX]; /* policy keys whose signatures count */
	size_t signers_n;
	char ignored[512];  /* signatures not counted, and why */
	char member[512];   /* the member at fault when rejected */
	char reason[1024];  /* why it was rejected */
};

struct al_bundle_opts {
	const struct al_policy *policy;
	uint64_t max_size;  /* 0: AL_BUNDLE_MAX_SIZE */
	int64_t now_us;     /* for expiry; 0: the clock */
	int allow_expired;  /* verify only: report but do not refuse */
	/* Extract into a new private directory under this directory fd (-1:
	 * verify only, nothing written). On success *tmp_name names it. */
	int extract_dirfd;
	char tmp_name[64];
	/* Called once the manifest is trusted and valid, before any file is
	 * written: returning -1 (with err set) rejects the bundle (rollback
	 * checks of install). */
	int (*accept)(void *ctx, const struct al_manifest *m, const char *manifest_text,
	              size_t manifest_len, struct al_err *err);
	void *ctx;
};

/* The single streaming pass of FORMAT.md: manifest first and signatures
 * checked against the policy before anything else is trusted, then every
 * file hashed (and written, when extracting) and compared. Returns 0
 * (trusted, complete), or -1: err->code AL_EVERIFY for a rejected bundle
 * (res->reason, res->member), other codes for usage or I/O. On failure the
 * private directory is removed. */
int al_bundle_verify(const char *bundle, struct al_bundle_opts *o, struct al_bundle_result *res,
                     struct al_err *err);

/* ---- install ---- */

struct al_install_opts {
	const struct al_policy *policy;
	uint64_t max_size;   /* 0: AL_BUNDLE_MAX_SIZE */
	int allow_downgrade; /* install an older version, or a version again */
};

struct al_install {
	char previous_sha256[AL_SHA256_HEX]; /* "" when none */
	int64_t previous_version;            /* 0 when none */
	int already;                         /* this very manifest is installed */
};

/* Verifies and extracts BUNDLE into HOME/bundles/<manifest-sha256>/
 * (read-only: 0500/0400), refusing an expired bundle, a version older
 * than the installed one (rollback) and the same version with another
 * manifest (freeze), unless allow_downgrade. Nothing is installed yet. */
int al_bundle_install_prepare(const char *home, const char *bundle,
                              const struct al_install_opts *io, struct al_bundle_result *res,
                              struct al_install *inst, struct al_err *err);
/* The signers of a verified bundle, as key ids (a JSON array). */
json_t *al_bundle_signers_json(const struct al_bundle_result *res);

/* Points HOME/pipelines/<pipeline> at the prepared bundle: a new symbolic
 * link renamed over the old one, so the pipeline is always one version. */
int al_bundle_install_commit(const char *home, const struct al_bundle_result *res,
                             struct al_err *err);

/* Calls each() for every installed pipeline (install: the bundle's
 * .install.json, or NULL). Stops at the first non-zero return. */
int al_pipelines_list(const char *home, int (*each)(void *ctx, const char *name,
                                                    const struct al_manifest *m,
                                                    const char *manifest_sha256, json_t *install),
                      void *ctx, struct al_err *err);

/* The installed manifest of a pipeline (HOME/pipelines/NAME), or NULL
 * with err (AL_EUSAGE when not installed). */
struct al_manifest *al_pipeline_load(const char *home, const char *name, char **text,
                                     size_t *len, struct al_err *err);

#endif
