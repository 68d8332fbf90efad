/* sign.c - build tool (runs on the build machine): sign the guest image with the fixed test
 * key (shared/hl_testkey.h: Ed25519 over the image's BLAKE2b-256 digest), the key the EL2
 * image compiles in as KCore's key 0. usage: sign IMAGE SIG_OUT PK_OUT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl_testkey.h"

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
	uint8_t sig[64];
	unsigned char *img;
	size_t n;

	if (argc != 4) {
		fprintf(stderr, "usage: sign IMAGE SIG_OUT PK_OUT\n");
		return 2;
	}
	/* the public key compiled into the EL2 image must be the seed's: else nothing verifies */
	if (hl_testkey_check() != 0) {
		fprintf(stderr, "sign: HL_TESTKEY_PK_INIT is not the test seed's public key\n");
		return 1;
	}
	if (!(img = slurp(argv[1], &n)) || n == 0) {
		fprintf(stderr, "sign: cannot read %s\n", argv[1]);
		return 1;
	}
	if (hl_testkey_sign_image(sig, img, n) != 0) {
		fprintf(stderr, "sign: signing failed\n");
		return 1;
	}
	if (spit(argv[2], sig, sizeof(sig)) || spit(argv[3], hl_testkey_pk, 32)) {
		fprintf(stderr, "sign: cannot write\n");
		return 1;
	}
	return 0;
}
