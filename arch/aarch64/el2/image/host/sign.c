/* sign.c - build tool (runs on the build machine): Ed25519-sign the guest image with a
 * fixed test key. usage: sign IMAGE SIG_OUT PK_OUT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static unsigned char *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	unsigned char *b = malloc(1 << 20);
	if (!f || !b)
		return NULL;
	*n = fread(b, 1, 1 << 20, f);
	fclose(f);
	return b;
}

static int spit(const char *p, const unsigned char *b, size_t n)
{
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(b, 1, n, f) != n)
		return -1;
	return fclose(f);
}

int main(int argc, char **argv)
{
	unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	unsigned char sig[crypto_sign_BYTES];
	unsigned char *img;
	size_t n;

	if (argc != 4 || sodium_init() < 0) {
		fprintf(stderr, "usage: sign IMAGE SIG_OUT PK_OUT\n");
		return 2;
	}
	memset(seed, 0x42, sizeof(seed));   /* the test key: fixed, so builds are reproducible */
	crypto_sign_seed_keypair(pk, sk, seed);
	if (!(img = slurp(argv[1], &n)) || n == 0) {
		fprintf(stderr, "sign: cannot read %s\n", argv[1]);
		return 1;
	}
	crypto_sign_detached(sig, NULL, img, n, sk);
	if (spit(argv[2], sig, sizeof(sig)) || spit(argv[3], pk, sizeof(pk))) {
		fprintf(stderr, "sign: cannot write\n");
		return 1;
	}
	return 0;
}
