/* test_image_user.c - an image config's User, resolved in the image's own
 * /etc/passwd and /etc/group (images/user.c): every form the OCI spec
 * names, the defaults, names the image does not list, and files that are
 * links out of the image, loops, directories or absent. */
#include "tests/unit/unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "images/image.h"

struct fixture {
	char *root;
	char path[4200];
	struct al_err err;
	uint32_t uid, gid;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	f->root = unit_mkdtemp();
	snprintf(f->path, sizeof f->path, "%s/etc", f->root);
	assert_int_equal(mkdir(f->path, 0755), 0);
	snprintf(f->path, sizeof f->path, "%s/etc/passwd", f->root);
	unit_write(f->path, "root:x:0:0:root:/root:/bin/sh\n"
	                    "# a comment\n"
	                    "short:x\n"
	                    "user:x:1000:1001:user:/w:/bin/sh\n"
	                    "app:x:4242:77::/:/bin/false\n"
	                    "bad:x:12x:0::/:/bin/false\n");
	snprintf(f->path, sizeof f->path, "%s/etc/group", f->root);
	unit_write(f->path, "root:x:0:\nstaff:x:50:user\nusers:x:100:\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unit_rmtree(f->root);
	free(f);
	return 0;
}

static int user(struct fixture *f, const char *spec)
{
	memset(&f->err, 0, sizeof f->err);
	f->uid = f->gid = 99;
	return al_image_user(f->root, spec, &f->uid, &f->gid, &f->err);
}

static void replace(struct fixture *f, const char *rel, const char *link)
{
	snprintf(f->path, sizeof f->path, "%s/%s", f->root, rel);
	assert_int_equal(unlink(f->path), 0);
	if (link != NULL)
		assert_int_equal(symlink(link, f->path), 0);
}

static void test_forms(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *spec;
		uint32_t uid, gid;
	} ok[] = {
		{"", 0, 0},               /* unset: root, as docker run */
		{"user", 1000, 1001},     /* a name: its primary group */
		{"1000", 1000, 1001},     /* a listed uid: its primary group */
		{"4242", 4242, 77},
		{"5000", 5000, 0},        /* an unlisted uid: group 0, as runc */
		{"user:staff", 1000, 50}, /* a group by name */
		{"user:7", 1000, 7},
		{"5000:6000", 5000, 6000},
		{"0:users", 0, 100},
		{"007", 7, 0},
		{"4294967294", 4294967294u, 0},
	};

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		if (user(f, ok[i].spec) != 0)
			fail_msg("%s: %s", ok[i].spec, f->err.msg);
		assert_int_equal(f->uid, ok[i].uid);
		assert_int_equal(f->gid, ok[i].gid);
	}
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{"ghost", "no user \"ghost\" in the image's /etc/passwd"},
		{"bad", "no user \"bad\""},                   /* its uid is not a number */
		{"short", "no user \"short\""},               /* too few fields */
		{"user:wheel", "no group \"wheel\" in the image's /etc/group"},
		{"1000:", "an empty user or group"},
		{":0", "an empty user or group"},
		{"4294967295", "no user \"4294967295\""},     /* -1 is not a uid */
		{"99999999999", "no user"},
		{"-1", "no user"},
		{"a\nb", "not a user name or id"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(user(f, bad[i].spec), -1);
		assert_int_equal(f->err.code, AL_EUSAGE);
		if (strstr(f->err.msg, bad[i].msg) == NULL)
			fail_msg("%s: %s", bad[i].spec, f->err.msg);
	}
}

/* A link out of the image resolves inside it: /etc/shadow is the image's
 * own, never this host's. */
static void test_links_stay_inside(void **state)
{
	struct fixture *f = *state;

	snprintf(f->path, sizeof f->path, "%s/etc/shadow", f->root);
	unit_write(f->path, "inside:x:7:8::/:/bin/sh\n");
	replace(f, "etc/passwd", "../../../../../../../../etc/shadow");
	assert_int_equal(user(f, "inside"), 0);
	assert_int_equal(f->uid, 7);
	assert_int_equal(f->gid, 8);
	assert_int_equal(user(f, "root"), -1); /* the host's root is not read */
	replace(f, "etc/passwd", "/etc/shadow");
	assert_int_equal(user(f, "inside"), 0);
	/* a loop is an error, not a fall-back */
	replace(f, "etc/passwd", "../../etc/passwd");
	assert_int_equal(user(f, "root"), -1);
	assert_non_null(strstr(f->err.msg, "cannot open the image's /etc/passwd"));
	/* a directory is refused */
	replace(f, "etc/passwd", NULL);
	snprintf(f->path, sizeof f->path, "%s/etc/passwd", f->root);
	assert_int_equal(mkdir(f->path, 0755), 0);
	assert_int_equal(user(f, "1000"), -1);
	assert_non_null(strstr(f->err.msg, "not a regular file"));
}

/* Without /etc/passwd or /etc/group: ids still work, names do not. */
static void test_absent(void **state)
{
	struct fixture *f = *state;

	replace(f, "etc/passwd", NULL);
	replace(f, "etc/group", NULL);
	assert_int_equal(user(f, "1000:1000"), 0);
	assert_int_equal(f->uid, 1000);
	assert_int_equal(f->gid, 1000);
	assert_int_equal(user(f, "1000"), 0);
	assert_int_equal(f->gid, 0);
	assert_int_equal(user(f, "user"), -1);
	assert_int_equal(user(f, "0:staff"), -1);
	assert_non_null(strstr(f->err.msg, "no group \"staff\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_stay_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
