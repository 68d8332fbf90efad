/*
 * hl_testkey.h - the fixed test key pair for KCore's image-verification keys (SPEC §11),
 * and how a VM image is signed.
 *
 * KCore's trust anchor is its own: Ed25519 public keys provisioned in the engine
 * configuration (struct hl_engine_cfg.kcore_keys, hosted) or compiled into the EL2 image at
 * build time (arch/aarch64/el2/image/main.c). The host never supplies a key; REGISTER_KVM
 * only names one of KCore's keys by index.
 *
 * This is the one place that defines the test key pair that the CLI, the tests, the hosted
 * host model and the EL2 image's host test kernel sign with: libsodium
 * crypto_sign_seed_keypair over 32 bytes of HL_TESTKEY_SEED_BYTE. Its public half is also
 * spelled out below (HL_TESTKEY_PK_INIT) so that the EL2 image can compile it in without
 * carrying the seed; hl_testkey_check() and tests/test_keys.c check that both agree.
 *
 * Image signature (what KCore verifies):
 *     digest = BLAKE2b-256(image bytes)       libsodium crypto_generichash, 32 bytes, no key
 *     sig    = Ed25519-sign(sk, digest)       crypto_sign_detached over the 32-byte digest
 *
 * No hyplog header is needed here: the EL2 build's native signing tool compiles this alone.
 */
#ifndef HL_TESTKEY_H
#define HL_TESTKEY_H

#include <stddef.h>
#include <stdint.h>

#define HL_TESTKEY_SEED_BYTE 0x42
#define HL_IMAGE_DIGEST_BYTES 32u

/* crypto_sign_seed_keypair(seed = 32 x 0x42): the public key */
#define HL_TESTKEY_PK_INIT                                      \
	{ 0x21, 0x52, 0xf8, 0xd1, 0x9b, 0x79, 0x1d, 0x24,       \
	  0x45, 0x32, 0x42, 0xe1, 0x5f, 0x2e, 0xab, 0x6c,       \
	  0xb7, 0xcf, 0xfa, 0x7b, 0x6a, 0x5e, 0xd3, 0x00,       \
	  0x97, 0x96, 0x0e, 0x06, 0x98, 0x81, 0xdb, 0x12 }

extern const uint8_t hl_testkey_pk[32];

/* the test key pair, derived from the fixed seed; 0, or -1 if libsodium cannot start */
int hl_testkey_keypair(uint8_t pk[32], uint8_t sk[64]);
/* 0 if HL_TESTKEY_PK_INIT is the public half of the seed's key pair, else -1 */
int hl_testkey_check(void);
/* BLAKE2b-256 of an image; 0 or -1 */
int hl_image_digest(uint8_t digest[HL_IMAGE_DIGEST_BYTES], const void *img, size_t n);
/* sig = Ed25519(sk, BLAKE2b-256(img)): with any secret key (tests sign with keys KCore
 * does not hold); 0 or -1 */
int hl_image_sign(uint8_t sig[64], const void *img, size_t n, const uint8_t sk[64]);
/* the same with the test key */
int hl_testkey_sign_image(uint8_t sig[64], const void *img, size_t n);

#endif /* HL_TESTKEY_H */
