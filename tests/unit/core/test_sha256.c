/* test_sha256.c - SHA-256 and HMAC-SHA256 against published vectors. */
#include "tests/unit/unit.h"

#include <fcntl.h>
#include <unistd.h>

static void check_hex(const unsigned char *sum, const char *want)
{
	char hex[AL_SHA256_HEX];

	al_hex(sum, AL_SHA256_LEN, hex);
	assert_string_equal(hex, want);
}

/* FIPS 180-2 appendix B vectors. */
static void test_sha256_buf_known_vectors(void **state)
{
	unsigned char sum[AL_SHA256_LEN];
	(void)state;

	al_sha256_buf("", 0, sum);
	check_hex(sum, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	al_sha256_buf("abc", 3, sum);
	check_hex(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	al_sha256_buf("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, sum);
	check_hex(sum, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_incremental_million_a(void **state)
{
	struct al_sha256 h;
	unsigned char sum[AL_SHA256_LEN];
	char chunk[1000];
	(void)state;

	memset(chunk, 'a', sizeof chunk);
	assert_int_equal(al_sha256_init(&h), 0);
	for (int i = 0; i < 1000; i++)
		al_sha256_update(&h, chunk, sizeof chunk);
	al_sha256_final(&h, sum);
	check_hex(sum, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_file_matches_buf(void **state)
{
	char *dir = unit_mkdtemp(), path[4200];
	unsigned char a[AL_SHA256_LEN], b[AL_SHA256_LEN];
	struct al_err err = {0};
	uint64_t size = 0;
	size_t n = 3 * (1 << 20) + 17; /* crosses the 1 MiB read size */
	unsigned char *data = malloc(n);
	int fd;
	(void)state;

	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 31 + 7);
	snprintf(path, sizeof path, "%s/data", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	al_sha256_buf(data, n, a);
	assert_int_equal(al_sha256_file(path, b, &size, &err), 0);
	assert_memory_equal(a, b, sizeof a);
	assert_int_equal(size, n);
	free(data);
	unit_rmtree(dir);
}

static void test_sha256_file_missing_names_path(void **state)
{
	unsigned char sum[AL_SHA256_LEN];
	struct al_err err = {0};
	(void)state;

	assert_int_equal(al_sha256_file("/nonexistent/x", sum, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/x"));
	assert_int_equal(err.code, AL_EUSAGE);
}

/* RFC 4231 test cases 1 and 2. */
static void test_hmac_sha256_rfc4231(void **state)
{
	unsigned char key[20], sum[AL_SHA256_LEN];
	(void)state;

	memset(key, 0x0b, sizeof key);
	al_hmac_sha256(key, sizeof key, "Hi There", 8, sum);
	check_hex(sum, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	al_hmac_sha256((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", 28, sum);
	check_hex(sum, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_unhex_rejects_bad_input(void **state)
{
	unsigned char out[2];
	(void)state;

	assert_int_equal(al_unhex("aBcD", 4, out, 2), 0);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
	assert_int_equal(al_unhex("abc", 3, out, 2), -1);
	assert_int_equal(al_unhex("abcg", 4, out, 2), -1);
	assert_int_equal(al_unhex("abcdef", 6, out, 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_buf_known_vectors),
		cmocka_unit_test(test_sha256_incremental_million_a),
		cmocka_unit_test(test_sha256_file_matches_buf),
		cmocka_unit_test(test_sha256_file_missing_names_path),
		cmocka_unit_test(test_hmac_sha256_rfc4231),
		cmocka_unit_test(test_unhex_rejects_bad_input),
	};
	return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}
