/* test_keys.c - minisign-compatible keys and signatures: known vectors made
 * by minisign 0.11, round trips, and every malformed input we can name. */
#include "tests/unit/unit.h"

#include <sodium.h>

/* Made with `minisign -GW` and `minisign -S [-l] -t ...` over "hello\n". */
static const char vec_pub[] =
	"untrusted comment: minisign public key CCEDFB4EC07F35A9\n"
	"RWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3\n";
static const char vec_sig[] =
	"untrusted comment: signature from minisign secret key\n"
	"RUSpNX/ATvvtzMFUo+NXEuLnfnzms5U+PmWUmyB0qiLwpJfm5yT55cm8EUh627YwIHq4LdoyqUNdQvYt7qqcsMW1/7o8Z0UTnww=\n"
	"trusted comment: vector trusted comment\n"
	"KRb7557RkYgjwJRPWckkP3KCqNo4989BQxdTKOXw7R7yDjpW2Z0qSWnIWU6XBaIHZwLg0a9hZe8cqxoDCleRBA==\n";
static const char vec_legacy_sig[] =
	"untrusted comment: signature from minisign secret key\n"
	"RWSpNX/ATvvtzM8BKY8/Px+8HIb8nC3LP9AewViJribxBH2lvNyjtVMvBaU/EKwiuoInIoKCc2yVikJDtEIBdFsk9QLtNgEDSgA=\n"
	"trusted comment: legacy vector\n"
	"8izKElLSeNCYSrnKMrWD8ZUw+qzGdjehsPoUPg/Gevb1pqfe0F/i/DJoly+l9qQIdPNXUeK266dEd/SvVs3yAA==\n";
static const char vec_msg[] = "hello\n";

static int setup(void **state)
{
	(void)state;
	return al_crypto_init(NULL);
}

static void test_keyid_hex_is_little_endian_upper(void **state)
{
	struct al_pubkey pub;
	struct al_err err = {0};
	char hex[AL_KEYID_HEX];
	unsigned char back[AL_KEYID_LEN];
	(void)state;

	assert_int_equal(al_pubkey_parse(vec_pub, strlen(vec_pub), "vec.pub", &pub, &err), 0);
	al_keyid_hex(pub.keyid, hex);
	assert_string_equal(hex, "CCEDFB4EC07F35A9"); /* what minisign printed */
	assert_int_equal(al_keyid_parse(hex, back), 0);
	assert_memory_equal(back, pub.keyid, AL_KEYID_LEN);
	assert_int_equal(al_keyid_parse("CCEDFB4EC07F35A", back), -1);
	assert_int_equal(al_keyid_parse("CCEDFB4EC07F35AZ", back), -1);
}

static void test_sig_verify_minisign_vectors(void **state)
{
	struct al_pubkey pub;
	struct al_sig sig;
	struct al_err err = {0};
	(void)state;

	assert_int_equal(al_pubkey_parse(vec_pub, strlen(vec_pub), "vec.pub", &pub, &err), 0);
	assert_int_equal(al_sig_parse(vec_sig, strlen(vec_sig), "vec.sig", &sig, &err), 0);
	assert_int_equal(sig.alg, AL_SIG_PREHASHED);
	assert_string_equal(sig.trusted_comment, "vector trusted comment");
	assert_int_equal(al_sig_verify_buf(&pub, &sig, vec_msg, 6, "vec.sig", &err), 0);

	assert_int_equal(al_sig_parse(vec_legacy_sig, strlen(vec_legacy_sig), "l.sig", &sig, &err), 0);
	assert_int_equal(sig.alg, AL_SIG_LEGACY);
	assert_int_equal(al_sig_verify_buf(&pub, &sig, vec_msg, 6, "l.sig", &err), 0);
	/* The same signature over another message fails, naming the file. */
	assert_int_equal(al_sig_verify_buf(&pub, &sig, "hellO\n", 6, "l.sig", &err), -1);
	assert_int_equal(err.code, AL_EVERIFY);
	assert_string_equal(err.msg, "l.sig: signature verification failed");
}

static void test_sig_trusted_comment_tamper_detected(void **state)
{
	struct al_pubkey pub;
	struct al_sig sig;
	struct al_err err = {0};
	(void)state;

	assert_int_equal(al_pubkey_parse(vec_pub, strlen(vec_pub), "vec.pub", &pub, &err), 0);
	assert_int_equal(al_sig_parse(vec_sig, strlen(vec_sig), "vec.sig", &sig, &err), 0);
	sig.trusted_comment[0] = 'V';
	assert_int_equal(al_sig_verify_buf(&pub, &sig, vec_msg, 6, "vec.sig", &err), -1);
	assert_int_equal(err.code, AL_EVERIFY);
	assert_non_null(strstr(err.msg, "comment signature verification failed"));
}

static void test_sign_verify_round_trip(void **state)
{
	struct al_pubkey pub, other_pub;
	struct al_seckey *sec, *other;
	struct al_sig sig;
	struct al_err err = {0};
	char *text;
	(void)state;

	assert_int_equal(al_keypair_generate(&pub, &sec, &err), 0);
	assert_int_equal(al_keypair_generate(&other_pub, &other, &err), 0);
	text = al_sign_buf(sec, "message", 7, "tc: with\ttab", "uc", &err);
	assert_non_null(text);
	assert_int_equal(al_sig_parse(text, strlen(text), "m.sig", &sig, &err), 0);
	assert_string_equal(sig.trusted_comment, "tc: with\ttab");
	assert_int_equal(al_sig_verify_buf(&pub, &sig, "message", 7, "m.sig", &err), 0);
	assert_int_equal(al_sig_verify_buf(&pub, &sig, "messagE", 7, "m.sig", &err), -1);
	/* A different key is told apart by its id before any signature math. */
	assert_int_equal(al_sig_verify_buf(&other_pub, &sig, "message", 7, "m.sig", &err), -1);
	assert_int_equal(err.code, AL_EVERIFY);
	assert_non_null(strstr(err.msg, "does not match the public key id"));
	/* Same id, different key: the signature itself fails. */
	memcpy(other_pub.keyid, pub.keyid, AL_KEYID_LEN);
	assert_int_equal(al_sig_verify_buf(&other_pub, &sig, "message", 7, "m.sig", &err), -1);
	assert_string_equal(err.msg, "m.sig: signature verification failed");
	free(text);
	al_seckey_free(sec);
	al_seckey_free(other);
}

static void test_sign_refuses_multiline_comment(void **state)
{
	struct al_pubkey pub;
	struct al_seckey *sec;
	struct al_err err = {0};
	char big[AL_TRUSTED_COMMENT_MAX + 10];
	(void)state;

	assert_int_equal(al_keypair_generate(&pub, &sec, &err), 0);
	assert_null(al_sign_buf(sec, "m", 1, "a\nb", "uc", &err));
	assert_int_equal(err.code, AL_EUSAGE);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_null(al_sign_buf(sec, "m", 1, big, "uc", &err));
	al_seckey_free(sec);
}

static char *pass_fixed(void *ctx, struct al_err *err)
{
	char *p = sodium_malloc(64);
	(void)err;
	snprintf(p, 64, "%s", (const char *)ctx);
	return p;
}

static void test_seckey_unencrypted_round_trip(void **state)
{
	struct al_pubkey pub;
	struct al_seckey *sec, *back;
	struct al_err err = {0};
	char *text;
	(void)state;

	assert_int_equal(al_keypair_generate(&pub, &sec, &err), 0);
	text = al_seckey_format(sec, NULL, NULL, &err);
	assert_non_null(text);
	back = al_seckey_parse(text, strlen(text), "k.key", NULL, NULL, &err);
	assert_non_null(back);
	assert_memory_equal(back->sk, sec->sk, AL_SK_LEN);
	assert_memory_equal(back->keyid, sec->keyid, AL_KEYID_LEN);
	al_secret_free(text);
	al_seckey_free(sec);
	al_seckey_free(back);
}

/* One scrypt round trip (about two seconds with minisign's limits), and
 * the wrong passphrase is caught by the checksum. */
static void test_seckey_encrypted_round_trip_and_wrong_passphrase(void **state)
{
	struct al_pubkey pub;
	struct al_seckey *sec, *back;
	struct al_err err = {0};
	char *text;
	(void)state;

	assert_int_equal(al_keypair_generate(&pub, &sec, &err), 0);
	text = al_seckey_format(sec, "correct horse", NULL, &err);
	assert_non_null(text);
	back = al_seckey_parse(text, strlen(text), "k.key", pass_fixed, "correct horse", &err);
	assert_non_null(back);
	assert_memory_equal(back->sk, sec->sk, AL_SK_LEN);
	al_seckey_free(back);
	assert_null(al_seckey_parse(text, strlen(text), "k.key", pass_fixed, "wrong", &err));
	assert_int_equal(err.code, AL_EVERIFY);
	assert_non_null(strstr(err.msg, "k.key: wrong passphrase"));
	assert_null(al_seckey_parse(text, strlen(text), "k.key", NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "passphrase is needed"));
	al_secret_free(text);
	al_seckey_free(sec);
}

static void test_pubkey_format_parse_round_trip(void **state)
{
	struct al_pubkey pub, back;
	struct al_seckey *sec;
	struct al_err err = {0};
	char *text, hex[AL_KEYID_HEX], want[64];
	(void)state;

	assert_int_equal(al_keypair_generate(&pub, &sec, &err), 0);
	text = al_pubkey_format(&pub, NULL);
	al_keyid_hex(pub.keyid, hex);
	snprintf(want, sizeof want, "untrusted comment: minisign public key %s\n", hex);
	assert_memory_equal(text, want, strlen(want));
	assert_int_equal(al_pubkey_parse(text, strlen(text), "p", &back, &err), 0);
	assert_memory_equal(&back, &pub, sizeof pub);
	free(text);
	al_seckey_free(sec);
}

/* Each malformed file is refused as a format error naming the file. */
static void expect_pub_error(const char *text, const char *fragment)
{
	struct al_pubkey pub;
	struct al_err err = {0};

	assert_int_equal(al_pubkey_parse(text, strlen(text), "bad.pub", &pub, &err), -1);
	assert_int_equal(err.code, AL_EUSAGE);
	assert_non_null(strstr(err.msg, "bad.pub"));
	if (strstr(err.msg, fragment) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
}

static void test_pubkey_parse_rejects_malformed(void **state)
{
	(void)state;
	expect_pub_error("", "truncated");
	expect_pub_error("untrusted comment: x\n", "truncated");
	expect_pub_error("comment: x\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3\n",
	                 "does not start with");
	/* truncated base64 (one character short) */
	expect_pub_error("untrusted comment: x\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ\n",
	                 "invalid base64");
	/* overlong: four more characters */
	expect_pub_error("untrusted comment: x\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3AAAA\n",
	                 "base64");
	/* valid base64 of the wrong length */
	expect_pub_error("untrusted comment: x\nRWSp\n", "bytes where 42 are expected");
	expect_pub_error("untrusted comment: x\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxk!3\n",
	                 "invalid base64");
	/* "Ex" instead of "Ed": an algorithm we do not know */
	expect_pub_error("untrusted comment: x\nRXipNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3\n",
	                 "unsupported signature algorithm");
	expect_pub_error("untrusted comment: x\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3\nextra\n",
	                 "trailing data");
	expect_pub_error("untrusted comment: x\n\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3\n",
	                 "empty line");
}

static void test_pubkey_parse_rejects_nul(void **state)
{
	static const char text[] = "untrusted comment: x\0y\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3\n";
	struct al_pubkey pub;
	struct al_err err = {0};
	(void)state;

	assert_int_equal(al_pubkey_parse(text, sizeof text - 1, "nul.pub", &pub, &err), -1);
	assert_string_equal(err.msg, "nul.pub: contains a NUL byte");
}

static void test_pubkey_accepts_crlf(void **state)
{
	static const char text[] = "untrusted comment: x\r\nRWSpNX/ATvvtzNatgAE+/N2bX6uZA5vjIm2KToEhZDWXWbAJu27nxkQ3\r\n\r\n";
	struct al_pubkey pub;
	struct al_err err = {0};
	(void)state;

	assert_int_equal(al_pubkey_parse(text, strlen(text), "crlf.pub", &pub, &err), 0);
}

static void expect_sig_error(const char *text, const char *fragment)
{
	struct al_sig sig;
	struct al_err err = {0};

	assert_int_equal(al_sig_parse(text, strlen(text), "bad.sig", &sig, &err), -1);
	assert_int_equal(err.code, AL_EUSAGE);
	if (strstr(err.msg, fragment) == NULL || strstr(err.msg, "bad.sig") == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, fragment);
}

static void test_sig_parse_rejects_malformed(void **state)
{
	char buf[1024];
	(void)state;

	/* missing global signature line */
	snprintf(buf, sizeof buf, "%.*s", (int)(strstr(vec_sig, "KRb7") - vec_sig), vec_sig);
	expect_sig_error(buf, "truncated");
	/* unknown algorithm: "EE" */
	snprintf(buf, sizeof buf, "%s", vec_sig);
	memcpy(strstr(buf, "RUSp"), "RUWp", 4);
	expect_sig_error(buf, "unsupported signature algorithm");
	/* trusted comment line without its prefix */
	snprintf(buf, sizeof buf, "%s", vec_sig);
	memcpy(strstr(buf, "trusted comment: vector"), "trusted_comment:", 16);
	expect_sig_error(buf, "trusted comment line does not start");
	/* global signature of the wrong length */
	snprintf(buf, sizeof buf, "%.*sAAAA\n", (int)(strstr(vec_sig, "KRb7") - vec_sig), vec_sig);
	expect_sig_error(buf, "comment signature: 3 bytes where 64 are expected");
}

static void test_sig_rejects_overlong_trusted_comment(void **state)
{
	size_t n = 9000;
	char *buf = malloc(n + 512);
	int len;
	(void)state;

	len = snprintf(buf, 512, "untrusted comment: x\n%.*strusted comment: ", 101,
	               strchr(vec_sig, '\n') + 1);
	memset(buf + len, 'c', n);
	snprintf(buf + len + n, 512, "\n%s", strstr(vec_sig, "KRb7"));
	expect_sig_error(buf, "trusted comment is longer than");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyid_hex_is_little_endian_upper),
		cmocka_unit_test(test_sig_verify_minisign_vectors),
		cmocka_unit_test(test_sig_trusted_comment_tamper_detected),
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_sign_refuses_multiline_comment),
		cmocka_unit_test(test_seckey_unencrypted_round_trip),
		cmocka_unit_test(test_seckey_encrypted_round_trip_and_wrong_passphrase),
		cmocka_unit_test(test_pubkey_format_parse_round_trip),
		cmocka_unit_test(test_pubkey_parse_rejects_malformed),
		cmocka_unit_test(test_pubkey_parse_rejects_nul),
		cmocka_unit_test(test_pubkey_accepts_crlf),
		cmocka_unit_test(test_sig_parse_rejects_malformed),
		cmocka_unit_test(test_sig_rejects_overlong_trusted_comment),
	};
	return cmocka_run_group_tests_name("keys", tests, setup, NULL);
}
