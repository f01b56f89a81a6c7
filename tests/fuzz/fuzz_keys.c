/* fuzz_keys.c - libFuzzer target: the minisign text formats: a public
 * key file, a bare base64 public key, a secret key file (unencrypted; an
 * encrypted one stops before scrypt, no passphrase is given) and a
 * signature file; when the input is both a key and a signature (it
 * cannot be), the signature is verified too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct al_err err = {0};

	(void)argc;
	(void)argv;
	if (al_crypto_init(&err) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct al_err err = {0};
	struct al_pubkey pub;
	struct al_seckey *sec;
	struct al_sig sig;
	char *b64;
	int have_pub, have_sig;

	have_pub = al_pubkey_parse(text, size, "k.pub", &pub, &err) == 0;
	al_err_clear(&err);
	sec = al_seckey_parse(text, size, "k.key", NULL, NULL, &err);
	al_seckey_free(sec);
	al_err_clear(&err);
	have_sig = al_sig_parse(text, size, "f.minisig", &sig, &err) == 0;
	al_err_clear(&err);
	if (have_pub && have_sig)
		(void)al_sig_verify_buf(&pub, &sig, data, size, "f.minisig", &err);
	al_err_clear(&err);
	/* The bare form (minisign -P) takes a C string. */
	b64 = malloc(size + 1);
	if (b64 == NULL)
		return 0;
	memcpy(b64, data, size);
	b64[size] = '\0';
	(void)al_pubkey_from_base64(b64, &pub, &err);
	free(b64);
	return 0;
}
