/* view.c - what a confined step is given (QUEUE.md, "The in-step view";
 * runner/README.md, "Confinement"): the host probe once a run, the
 * steps' identity as root, whether a step is confined, its view for one
 * attempt (the bundle, its stage, its inputs, its fan_out items, its
 * declared mounts, its secrets' copies), and the record of its layers
 * that step.start carries. Everything else of the host, and all of the
 * airlock home, stays out of view. */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define SECRET_MAX (64 * 1024) /* a secret's copy in the view */

/* As root, the steps' identity: --step-user NAME or UID[:GID], else the
 * system user airlock-step (the kit and the .deb make it), else nobody.
 * Never root, never the owner of the home (its audit log and keys). */
int eng_step_identity(struct run *r, struct al_err *err)
{
	const char *want = r->o->step_user;
	struct passwd *pw = NULL;
	struct stat st;

	r->step_uid = getuid();
	r->step_gid = getgid();
	if (geteuid() != 0)
		return 0; /* unprivileged: the step is airlock's own uid, in its own user namespace */
	if (want != NULL && want[0] >= '0' && want[0] <= '9') {
		char *end;
		unsigned long u = strtoul(want, &end, 10), g = u;
		if (*end == ':')
			g = strtoul(end + 1, &end, 10);
		if (*end != '\0' || u == 0 || g == 0 || u > 0xfffffffeUL || g > 0xfffffffeUL)
			return al_err_set(err, AL_EUSAGE, "--step-user %s: a user name or UID[:GID], not root",
			                  want);
		r->step_uid = (uid_t)u;
		r->step_gid = (gid_t)g;
	} else {
		pw = getpwnam(want != NULL ? want : "airlock-step");
		if (pw == NULL && want == NULL)
			pw = getpwnam("nobody");
		if (pw == NULL && want != NULL)
			return al_err_set(err, AL_EUSAGE, "--step-user %s: no such user", want);
		r->step_uid = pw != NULL ? pw->pw_uid : 65534;
		r->step_gid = pw != NULL ? pw->pw_gid : 65534;
	}
	if (stat(r->o->home, &st) < 0)
		return al_err_sys(err, "%s", r->o->home);
	if (r->step_uid == 0 || r->step_gid == 0 || r->step_uid == st.st_uid)
		return al_err_set(err, AL_EUSAGE,
		                  "steps would run as uid %u gid %u: never root, never the owner of %s "
		                  "(give --step-user)",
		                  (unsigned)r->step_uid, (unsigned)r->step_gid, r->o->home);
	return 0;
}

/* The host probe, once a run, when a step may be confined. */
int eng_confine_prepare(struct run *r, struct al_err *err)
{
	if (r->host_ready)
		return 0;
	if (al_confine_prepare(&r->host, err) < 0)
		return -1;
	r->host_ready = 1;
	return 0;
}

/* Whether this host can build a step's view at all (the mount and PID
 * namespaces, and unprivileged a user namespace); why not, else. */
static int host_can(const struct al_confine_host *h, char *why, size_t n)
{
	int l = al_confine_missing(h, 0, 0);

	if (l >= 0)
		al_snprintf(why, n, "no %s: %s", al_confine_layer_name((enum al_confine_layer)l),
		            h->why[l]);
	return l < 0;
}

int eng_confine_decide(struct run *r, struct step_rt *s, char *why, size_t n)
{
	why[0] = '\0';
	if (s->kind->flags & AL_KIND_BUILTIN) {
		al_snprintf(why, n, "airlock's own code (the %s kind)", s->kind->name);
		return 0;
	}
	if (r->o->unconfined) {
		al_snprintf(why, n, "--unconfined-for-benchmarks");
		return 0;
	}
	if (!r->host_ready) {
		al_snprintf(why, n, "the host was not probed");
		return 0;
	}
	return host_can(&r->host, why, n);
}

/* What strict demands of this host for a step, or -1 with err naming the
 * layer that is missing and why. */
int eng_strict_check(struct run *r, const struct step_rt *s, struct al_err *err)
{
	const struct al_confine_host *h = &r->host;
	char why[400];
	int l;

	if (!s->def->isolation_strict || (s->kind->flags & AL_KIND_BUILTIN))
		return 0;
	if (r->o->unconfined)
		return al_err_set(err, AL_EUSAGE,
		                  "step %s: isolation strict, and the run is --unconfined-for-benchmarks",
		                  s->def->id);
	if (!host_can(h, why, sizeof why))
		return al_err_set(err, AL_EENV,
		                  "step %s: isolation strict: this host cannot confine it: %s "
		                  "(airlock doctor says what it can give)",
		                  s->def->id, why);
	l = al_confine_missing(h, 1, !s->def->network_host);
	if (l >= 0)
		return al_err_set(err, AL_EENV, "step %s: isolation strict: no %s: %s", s->def->id,
		                  al_confine_layer_name((enum al_confine_layer)l), h->why[l]);
	return 0;
}

/* ---- one attempt's view ---- */

static int view_bind(struct eng_view *v, const char *host, const char *at, int rw,
                     struct al_err *err)
{
	struct al_confine_bind *b;
	char *h = strdup(host), *a = strdup(at);

	if (v->nbinds == ENG_VIEW_BINDS_MAX || h == NULL || a == NULL) {
		free(h);
		free(a);
		return v->nbinds == ENG_VIEW_BINDS_MAX
		           ? al_err_set(err, AL_EUSAGE, "more than %d paths in a step's view",
		                        ENG_VIEW_BINDS_MAX)
		           : al_err_sys(err, "cannot allocate memory");
	}
	/* a path given twice (one input named twice) is bound once */
	for (size_t i = 0; i < v->nbinds; i++)
		if (strcmp(v->binds[i].at, a) == 0) {
			free(h);
			free(a);
			return 0;
		}
	b = &v->binds[v->nbinds++];
	b->host = h;
	b->at = a;
	b->rw = rw;
	return 0;
}

/* The committed files the step reads (STEP:FILE in run and verify), each
 * at /airlock/in/STEP/FILE, read-only. */
static int view_inputs(const struct run *r, const char *const *argv, struct eng_view *v,
                       struct al_err *err)
{
	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
		char host[PATH_MAX * 2], at[PATH_MAX];
		const char *file;
		long k;
		if (!eng_step_ref(r, argv[i], &k, &file))
			continue;
		if (al_snprintf(host, sizeof host, "%s/%s/%s", r->out_dir, r->m->steps[k].id, file) < 0 ||
		    al_snprintf(at, sizeof at, ENG_VIEW_IN "/%s/%s", r->m->steps[k].id, file) < 0)
			return al_err_set(err, AL_EUSAGE, "%s: path too long", argv[i]);
		if (view_bind(v, host, at, 0, err) < 0)
			return -1;
	}
	return 0;
}

/* A secret's bytes (at most SECRET_MAX - 1); -1 with errno set. */
static int read_secret(const char *path, unsigned char *buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), errsv;
	ssize_t got = 1;

	*len = 0;
	if (fd < 0)
		return -1;
	while (*len < SECRET_MAX && got != 0) {
		got = read(fd, buf + *len, SECRET_MAX - *len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		*len += (size_t)got;
	}
	errsv = got < 0 ? errno : EFBIG;
	close(fd);
	if (got < 0 || *len == SECRET_MAX) {
		errno = errsv;
		return -1;
	}
	return 0;
}

/* The secret name's copy at /airlock/secrets/NAME. */
static int view_secret(struct eng_view *v, const char *name, const char *file, struct al_err *err)
{
	struct al_confine_file *f = &v->files[v->nfiles];
	char at[256];
	unsigned char *buf;
	size_t len;

	if (v->nfiles == ENG_VIEW_BINDS_MAX || file == NULL)
		return al_err_set(err, AL_EUSAGE, "secret %s: cannot be given to the step", name);
	al_snprintf(at, sizeof at, ENG_VIEW_SECRETS "/%s", name);
	buf = sodium_malloc(SECRET_MAX);
	if (buf == NULL)
		return al_err_sys(err, "cannot allocate secure memory");
	if (read_secret(file, buf, &len) < 0) {
		sodium_free(buf);
		return al_err_sys(err, "secret %s: %s", name, file);
	}
	f->at = strdup(at);
	f->data = buf;
	f->len = len;
	v->nfiles++;
	if (f->at == NULL)
		return al_err_sys(err, "cannot allocate memory");
	return 0;
}

/* Each secret the step declares: read here, as the owner the pre-flight
 * checked, and given to the step as its own copy in its view (a file of
 * its private root tmpfs), readable by the step's uid whoever owns the
 * original. The bytes are wiped when the attempt has started. */
static int view_secrets(const struct run *r, const struct step_rt *s, struct eng_view *v,
                        struct al_err *err)
{
	json_t *conf = json_object_get(r->m->root, "secrets");

	for (size_t i = 0; s->def->secrets != NULL && s->def->secrets[i] != NULL; i++) {
		const char *name = s->def->secrets[i];
		const char *file = json_string_value(json_object_get(json_object_get(conf, name), "file"));
		if (view_secret(v, name, file, err) < 0)
			return -1;
	}
	return 0;
}

/* The spec's ids and host, shared by a step's view and a check's. */
static void view_spec(struct run *r, struct eng_view *v)
{
	struct al_confine_spec *c = &v->spec;

	c->host = &r->host;
	c->binds = v->binds;
	c->nbinds = v->nbinds;
	c->files = v->files;
	c->nfiles = v->nfiles;
	c->uid = r->step_uid;
	c->gid = r->step_gid;
	c->home_uid = r->home_uid;
	c->limit_cpus_milli = -1;
}

int eng_home_relation(const struct run *r, const char *path)
{
	char *home = realpath(r->o->home, NULL), *p = realpath(path, NULL);
	int rel = 0;

	if (home != NULL && p != NULL) {
		size_t hl = strlen(home), pl = strlen(p);
		if (strncmp(p, home, hl) == 0 && (p[hl] == '\0' || p[hl] == '/'))
			rel = 1;
		else if (strncmp(home, p, pl) == 0 && (home[pl] == '/' || strcmp(p, "/") == 0))
			rel = 2;
	}
	free(home);
	free(p);
	return rel;
}

int eng_mounts_check(const struct run *r, const struct step_rt *s, struct al_err *err)
{
	for (size_t i = 0; i < s->def->mounts_n; i++) {
		const char *host = s->def->mounts[i].host;
		int rel = eng_home_relation(r, host);
		if (rel != 0)
			return al_err_set(err, AL_EUSAGE,
			                  "step %s: mounts[%zu].host: \"%s\" %s the airlock home (%s): its "
			                  "log, keys and state are never in a step's view",
			                  s->def->id, i, host, rel == 1 ? "is inside" : "holds",
			                  r->o->home);
	}
	return 0;
}

int eng_view_build(struct run *r, struct step_rt *s, struct eng_view *v, struct al_err *err)
{
	struct al_confine_spec *c = &v->spec;

	memset(v, 0, sizeof *v);
	/* again at each step: a host path may have changed since the run began */
	if (eng_mounts_check(r, s, err) < 0 ||
	    view_bind(v, r->bundle_dir, ENG_VIEW_BUNDLE, 0, err) < 0 ||
	    view_bind(v, s->ctx.stage, ENG_VIEW_OUT, 1, err) < 0 ||
	    view_inputs(r, s->def->run, v, err) < 0 || view_inputs(r, s->def->verify, v, err) < 0 ||
	    (s->items_path != NULL && view_bind(v, s->items_path, ENG_VIEW_ITEMS, 0, err) < 0))
		return -1;
	for (size_t i = 0; i < s->def->mounts_n; i++)
		if (view_bind(v, s->def->mounts[i].host, s->def->mounts[i].at, s->def->mounts[i].rw,
		              err) < 0)
			return -1;
	if (view_secrets(r, s, v, err) < 0)
		return -1;
	view_spec(r, v);
	if (eng_image_of(r, s) != NULL) {
		json_t *im = eng_image_of(r, s);
		const char *wd = json_string_value(json_object_get(json_object_get(im, "config"), "WorkingDir"));
		json_t *user = json_object_get(im, "user");
		c->root = json_string_value(json_object_get(im, "root"));
		c->in_user = 1;
		c->in_uid = (uint32_t)json_integer_value(json_object_get(user, "uid"));
		c->in_gid = (uint32_t)json_integer_value(json_object_get(user, "gid"));
		/* the image's WorkingDir, when it names one (as docker run) */
		c->cwd = wd != NULL && wd[0] == '/' ? wd : NULL;
	}
	c->allow = s->def->syscalls;
	c->strict = s->def->isolation_strict;
	c->limit_cpus_milli = s->def->limit_cpus_milli;
	return 0;
}

int eng_view_check(struct run *r, const char *name, const char *file, struct eng_view *v,
                   struct al_err *err)
{
	memset(v, 0, sizeof *v);
	if (view_bind(v, r->bundle_dir, ENG_VIEW_BUNDLE, 0, err) < 0 ||
	    view_secret(v, name, file, err) < 0)
		return -1;
	view_spec(r, v);
	return 0;
}

int eng_confine_any(struct run *r, char *why, size_t n)
{
	why[0] = '\0';
	if (r->o->unconfined) {
		al_snprintf(why, n, "--unconfined-for-benchmarks");
		return 0;
	}
	return r->host_ready && host_can(&r->host, why, n);
}

void eng_view_free(struct eng_view *v)
{
	for (size_t i = 0; i < v->nbinds; i++) {
		free((char *)v->binds[i].host);
		free((char *)v->binds[i].at);
	}
	for (size_t i = 0; i < v->nfiles; i++) {
		free((char *)v->files[i].at);
		sodium_free((void *)v->files[i].data); /* wiped */
	}
	v->nbinds = v->nfiles = 0;
}

/* ---- the record ---- */

static json_t *limits_json(unsigned limits)
{
	json_t *a = json_array();

	if (limits & AL_CONFINE_LIMIT_MEMORY)
		json_array_append_new(a, json_string("memory"));
	if (limits & AL_CONFINE_LIMIT_PIDS)
		json_array_append_new(a, json_string("pids"));
	if (limits & AL_CONFINE_LIMIT_CPU)
		json_array_append_new(a, json_string("cpu"));
	return a;
}

static json_t *mounts_json(const struct al_step *def)
{
	json_t *a = json_array();

	for (size_t i = 0; i < def->mounts_n; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "host", def->mounts[i].host, "at",
		                                   def->mounts[i].at, "mode",
		                                   def->mounts[i].rw ? "rw" : "ro"));
	return a;
}

json_t *eng_isolation_json(const struct run *r, const struct step_rt *s, const char *why)
{
	const struct al_confine_host *h = &r->host;
	int net_none = !s->def->network_host && !r->o->allow_network;
	json_t *o;

	if (!s->confined)
		return json_pack("{s:b,s:s,s:b,s:b,s:I}", "confined", 0, "why", why, "strict",
		                 s->def->isolation_strict, "netns", net_none, "uid",
		                 (json_int_t)getuid());
	o = json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:i}", "confined", 1, "strict",
	              s->def->isolation_strict, "userns", !h->root, "mountns", 1, "pidns", 1, "ipcns",
	              h->have[AL_CONFINE_IPCNS], "utsns", h->have[AL_CONFINE_UTSNS], "netns",
	              net_none && h->have[AL_CONFINE_NETNS], "seccomp", h->have[AL_CONFINE_SECCOMP],
	              "landlock", h->have[AL_CONFINE_LANDLOCK] ? h->landlock_abi : 0);
	json_object_set_new(o, "cgroup", json_boolean(h->have[AL_CONFINE_CGROUP]));
	json_object_set_new(o, "cgroup_limits", limits_json(h->have[AL_CONFINE_CGROUP]
	                                                        ? h->cgroup_limits
	                                                        : 0));
	if (h->why[AL_CONFINE_CGROUP][0] != '\0') /* none delegated, or no limits: say so */
		json_object_set_new(o, "cgroup_why", json_string(h->why[AL_CONFINE_CGROUP]));
	json_object_set_new(o, "uid", json_integer((json_int_t)r->step_uid));
	json_object_set_new(o, "gid", json_integer((json_int_t)r->step_gid));
	if (s->def->mounts_n > 0)
		json_object_set_new(o, "mounts", mounts_json(s->def));
	if (s->def->syscalls != NULL)
		json_object_set_new(o, "syscalls", eng_argv_json(s->def->syscalls));
	return o;
}

json_t *eng_isolation_applied(const struct run *r, const struct step_rt *s,
                              const struct al_confine_layers *l)
{
	json_t *o = eng_isolation_json(r, s, "");

	json_object_set_new(o, "userns", json_boolean(l->userns));
	json_object_set_new(o, "mountns", json_boolean(l->mountns));
	json_object_set_new(o, "pidns", json_boolean(l->pidns));
	json_object_set_new(o, "ipcns", json_boolean(l->ipcns));
	json_object_set_new(o, "utsns", json_boolean(l->utsns));
	json_object_set_new(o, "netns", json_boolean(l->netns));
	json_object_set_new(o, "seccomp", json_boolean(l->seccomp));
	json_object_set_new(o, "landlock", json_integer(l->landlock_abi));
	json_object_set_new(o, "cgroup", json_boolean(l->cgroup[0] != '\0'));
	json_object_set_new(o, "cgroup_limits", limits_json(l->cgroup_limits));
	json_object_set_new(o, "uid", json_integer((json_int_t)l->uid));
	json_object_set_new(o, "gid", json_integer((json_int_t)l->gid));
	return o;
}

/* ---- what this host can give (airlock doctor) ---- */

/* A sysctl's value as text ("" when it cannot be read). */
static void sysctl_read(const char *path, char *out, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, out, n - 1) : -1;

	out[got > 0 ? got : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Why user namespaces may be refused here, when the probe says they are:
 * the sysctls that decide it. */
static void userns_hint(char *out, size_t n)
{
	char v[32];

	out[0] = '\0';
	sysctl_read("/proc/sys/kernel/unprivileged_userns_clone", v, sizeof v);
	if (strcmp(v, "0") == 0) {
		al_snprintf(out, n, "kernel.unprivileged_userns_clone is 0");
		return;
	}
	sysctl_read("/proc/sys/user/max_user_namespaces", v, sizeof v);
	if (strcmp(v, "0") == 0) {
		al_snprintf(out, n, "user.max_user_namespaces is 0");
		return;
	}
	sysctl_read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", v, sizeof v);
	if (strcmp(v, "1") == 0)
		al_snprintf(out, n, "AppArmor restricts unprivileged user namespaces "
		                    "(kernel.apparmor_restrict_unprivileged_userns is 1)");
}

json_t *al_isolation_report(struct al_err *err)
{
	struct al_confine_host h;
	json_t *layers = json_object(), *o;
	char hint[200], why[400];
	int can = 1;

	memset(&h, 0, sizeof h);
	if (al_confine_prepare(&h, err) < 0) {
		json_decref(layers);
		return NULL;
	}
	for (int l = 0; l < AL_CONFINE_LAYER_COUNT; l++) {
		json_t *e = json_pack("{s:b}", "available", h.have[l]);
		if (!h.have[l])
			json_object_set_new(e, "why", json_string(h.why[l]));
		if (l == AL_CONFINE_USERNS && !h.have[l]) {
			userns_hint(hint, sizeof hint);
			if (hint[0] != '\0')
				json_object_set_new(e, "hint", json_string(hint));
		}
		if (l == AL_CONFINE_LANDLOCK)
			json_object_set_new(e, "abi", json_integer(h.landlock_abi));
		if (l == AL_CONFINE_CGROUP && h.have[l])
			json_object_set_new(e, "limits", limits_json(h.cgroup_limits));
		json_object_set_new(layers, al_confine_layer_name((enum al_confine_layer)l), e);
	}
	can = host_can(&h, why, sizeof why);
	o = json_pack("{s:b,s:b,s:o}", "root", h.root, "confined", can, "layers", layers);
	if (!can)
		json_object_set_new(o, "why", json_string(why));
	json_object_set_new(o, "strict", json_boolean(al_confine_missing(&h, 1, 1) < 0));
	al_confine_release(&h);
	return o;
}
