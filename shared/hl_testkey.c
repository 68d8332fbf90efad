/* hl_testkey.c - the fixed test key pair and image signing (see hl_testkey.h). */
#include "hl_testkey.h"

#include <string.h>

#include <sodium.h>

const uint8_t hl_testkey_pk[32] = HL_TESTKEY_PK_INIT;

int hl_testkey_keypair(uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	if (sodium_init() < 0)
		return -1;
	memset(seed, HL_TESTKEY_SEED_BYTE, sizeof(seed));
	return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -1;
}

int hl_testkey_check(void)
{
	uint8_t pk[32], sk[64];
	int rc = hl_testkey_keypair(pk, sk);

	sodium_memzero(sk, sizeof(sk));
	return rc == 0 && memcmp(pk, hl_testkey_pk, 32) == 0 ? 0 : -1;
}

int hl_image_digest(uint8_t digest[HL_IMAGE_DIGEST_BYTES], const void *img, size_t n)
{
	if (sodium_init() < 0)
		return -1;
	return crypto_generichash(digest, HL_IMAGE_DIGEST_BYTES, img, n, NULL, 0) == 0 ? 0 : -1;
}

int hl_image_sign(uint8_t sig[64], const void *img, size_t n, const uint8_t sk[64])
{
	uint8_t d[HL_IMAGE_DIGEST_BYTES];

	if (hl_image_digest(d, img, n))
		return -1;
	return crypto_sign_detached(sig, NULL, d, sizeof(d), sk) == 0 ? 0 : -1;
}

int hl_testkey_sign_image(uint8_t sig[64], const void *img, size_t n)
{
	uint8_t pk[32], sk[64];
	int rc = hl_testkey_keypair(pk, sk);

	if (rc == 0)
		rc = hl_image_sign(sig, img, n, sk);
	sodium_memzero(sk, sizeof(sk));
	return rc;
}
