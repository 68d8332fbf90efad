/*
 * test_keys.c - KCore's own image-verification keys (SPEC §11, issue 9 hole 7) and a verdict
 * an independent model can recompute (issue 10 deliverable 3).
 *
 * The trust anchor is KCore's: Ed25519 public keys provisioned in the engine configuration
 * (th_engine provisions the test key of shared/hl_testkey.h as key 0). The host names a key
 * by index in REGISTER_KVM x1 and never supplies key bytes. Images are signed over their
 * BLAKE2b-256 digest, and OVERIFY's record carries the digests it verified.
 *
 * On the old code (REGISTER_KVM x1 = PA of a host-chosen public key) the hostile host of
 * host_own_key_* got its own image verified, a bad "index" was taken as a key address,
 * and OVERIFY carried no digests: each test below fails there.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "helpers.h"
#include "hl_file.h"
#include "hl_testkey.h"
#include "kcore.h"
#include "platform.h"

#define PG              4096ull
#define INFO(v)         (HL_INFO_ID + (unsigned)(v))
#define META_PFN        th_pfn(16)     /* the host's scratch: key at +0, signature at +64 */
#define VCPU_PFN        th_pfn(17)
#define BLOCK_PFN       th_pfn(1024)   /* 2 MiB-aligned image block */
#define LOAD_ADDR       0x80000000ull
#define IMG_BYTES       8192u

/* ---- nothing changed: every object digest and every record count ---------------------- */
struct ksnap {
	uint64_t dig[HL_ID_END];
	uint64_t n[HL_ID_END];
};

static void ksnap_take(struct hl_engine *e, struct ksnap *s)
{
	for (unsigned o = 0; o < HL_ID_END; o++) {
		s->dig[o] = hl_state_obj_digest(e->st, o);
		s->n[o] = th_nrecs(e, o);
	}
}

static void ksnap_same(struct hl_engine *e, const struct ksnap *s, const char *what)
{
	for (unsigned o = 0; o < HL_ID_END; o++) {
		cr_assert_eq(hl_state_obj_digest(e->st, o), s->dig[o], "%s: object %u changed", what, o);
		cr_assert_eq(th_nrecs(e, o), s->n[o], "%s: object %u got a record", what, o);
	}
}

/* ---- the test key itself ---------------------------------------------------------------- */
Test(keys, test_key_is_the_seed_pair)
{
	uint8_t pk[32], sk[64], sig[64], d[32];
	const uint8_t img[] = "an image";
	static const uint8_t init[32] = HL_TESTKEY_PK_INIT;

	cr_assert_eq(hl_testkey_check(), 0);
	cr_assert_eq(hl_testkey_keypair(pk, sk), 0);
	cr_assert_arr_eq(pk, hl_testkey_pk, 32);
	cr_assert_arr_eq(init, hl_testkey_pk, 32);
	/* sig = Ed25519(sk, BLAKE2b-256(img)) */
	cr_assert_eq(hl_testkey_sign_image(sig, img, sizeof(img)), 0);
	cr_assert_eq(crypto_generichash(d, 32, img, sizeof(img), NULL, 0), 0);
	cr_assert_eq(crypto_sign_verify_detached(sig, d, 32, hl_testkey_pk), 0);
	cr_assert_neq(crypto_sign_verify_detached(sig, img, sizeof(img), hl_testkey_pk), 0,
		      "the signature is over the digest, not the raw bytes");
}

/* ---- engine level --------------------------------------------------------------------- */
Test(keys, no_key_provisioned_refuses_every_vm)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	struct ksnap s;
	uint32_t vmid = 77;

	hl_engine_cfg_default(&cfg);
	cr_assert_eq(cfg.nkeys, 0, "the default holds no key: fail closed");
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	ksnap_take(e, &s);
	cr_assert_eq(hl_register_kvm(e, 0, 0x1000, 0, &vmid), HL_E_INVAL);
	cr_assert_eq(vmid, 77);
	ksnap_same(e, &s, "register_kvm without keys");
	hl_engine_free(e);
}

Test(keys, cfg_holds_at_most_max_keys)
{
	struct hl_engine_cfg cfg;
	uint8_t k[32] = { 1 };

	hl_engine_cfg_default(&cfg);
	for (unsigned i = 0; i < HL_MAX_KEYS; i++)
		cr_assert_eq(hl_engine_cfg_add_key(&cfg, k), (int)i);
	cr_assert_eq(hl_engine_cfg_add_key(&cfg, k), -1);
	cr_assert_eq(cfg.nkeys, HL_MAX_KEYS);
	cfg.nkeys = HL_MAX_KEYS + 1;
	cr_assert_null(hl_engine_new(&cfg), "a configuration with too many keys is refused");
}

Test(keys, bad_index_changes_nothing)
{
	struct hl_engine *e = th_engine(2);
	struct ksnap s;
	uint32_t vmid = 77;

	cr_assert_eq(e->cfg.nkeys, 1);
	ksnap_take(e, &s);
	cr_assert_eq(hl_register_kvm(e, 0, 0x1000, 1, &vmid), HL_E_INVAL);
	cr_assert_eq(hl_register_kvm(e, 1, 0x1000, HL_MAX_KEYS, &vmid), HL_E_INVAL);
	cr_assert_eq(hl_register_kvm(e, 0, 0x1000, UINT32_MAX, &vmid), HL_E_INVAL);
	cr_assert_eq(vmid, 77);
	ksnap_same(e, &s, "register_kvm with a bad key index");
	/* no vmid was used up */
	cr_assert_eq(hl_register_kvm(e, 0, 0x1000, 0, &vmid), HL_OK);
	cr_assert_eq(vmid, 1);
	cr_assert_eq(e->st->info[1]->key_idx, 0);
	hl_engine_free(e);
}

/* n images, image i in the 2 MiB block at th_pfn(512 * (i + 1)), signed with sk */
struct imgs {
	unsigned n;
	uint32_t vm;
	uint8_t bytes[HL_MAX_LOAD_INFO][3 * 4096];
	uint64_t size[HL_MAX_LOAD_INFO];
};

static void load_images(struct hl_engine *e, struct imgs *im, unsigned n, uint32_t key_idx, const uint8_t sk[64],
			int flip_image)
{
	uint8_t sig[64];
	uint32_t idx;

	im->n = n;
	cr_assert_eq(hl_register_kvm(e, 1, 0xABC, key_idx, &im->vm), HL_OK);
	cr_assert_eq(hl_register_vcpu(e, 1, im->vm, 0, 0x1), HL_OK);
	for (unsigned i = 0; i < n; i++) {
		uint64_t pfn0 = th_pfn(512 * (i + 1));
		im->size[i] = 2 * PG + 100 * (i + 1);   /* not a page multiple */
		for (uint64_t b = 0; b < im->size[i]; b++)
			im->bytes[i][b] = (uint8_t)(b * 29 + i * 7 + (b >> 9));
		cr_assert_eq(hl_image_sign(sig, im->bytes[i], im->size[i], sk), 0);
		if ((int)i == flip_image)
			im->bytes[i][4097] ^= 0x01;   /* tampered after signing: one bit of one byte */
		memcpy(hl_ram_page(e, pfn0), im->bytes[i], im->size[i]);
		cr_assert_eq(hl_set_boot_info(e, 1, im->vm, hl_ipa(LOAD_ADDR + i * 0x200000ull), im->size[i], sig,
					      &idx), HL_OK);
		cr_assert_eq(idx, i);
		for (uint64_t p = 0; p * PG < im->size[i]; p++)
			cr_assert_eq(hl_remap_vm_image(e, 1, im->vm, pfn0 + p, i), HL_OK);
	}
}

Test(keys, kcore_key_verifies_and_record_carries_digests)
{
	struct hl_engine *e = th_engine(2);
	static struct imgs im;
	uint8_t pk[32], sk[64], buf[HL_REC_MAX];
	const struct hl_rec *r;
	const struct hl_vminfo *vi;
	int ok = -1;

	cr_assert_eq(hl_testkey_keypair(pk, sk), 0);
	load_images(e, &im, 3, 0, sk, -1);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 1);
	vi = e->st->info[im.vm];
	cr_assert_eq(vi->state, HL_VM_VERIFIED);
	/* the OVERIFY record: digests of the images as KCore read them from RAM */
	r = th_last_rec(e, INFO(im.vm), buf, sizeof(buf));
	cr_assert_not_null(r);
	cr_assert_eq(r->event, HL_EV_VERIFY);
	cr_assert_eq(r->dorc, 1);
	cr_assert_eq(r->blob_len, 32 * im.n);
	for (unsigned i = 0; i < im.n; i++) {
		uint8_t d[32];
		cr_assert_eq(crypto_generichash(d, 32, im.bytes[i], im.size[i], NULL, 0), 0);
		cr_assert_arr_eq(hl_rec_blob(r) + 32 * i, d, 32, "digest %u is BLAKE2b-256 of image %u", i, i);
		/* what an independent model does: verdict from the log and KCore's key alone */
		cr_assert_eq(crypto_sign_verify_detached(vi->load[i].signature, hl_rec_blob(r) + 32 * i, 32,
							 e->cfg.kcore_keys[vi->key_idx]), 0);
	}
	cr_assert_eq(th_replay_matches(e), 0);
	hl_engine_free(e);
}

Test(keys, tampered_image_is_not_verified)
{
	struct hl_engine *e = th_engine(2);
	static struct imgs im;
	uint8_t pk[32], sk[64];
	struct ksnap s;
	int ok = -1;

	cr_assert_eq(hl_testkey_keypair(pk, sk), 0);
	load_images(e, &im, 2, 0, sk, 1);   /* image 1 changed after it was signed */
	ksnap_take(e, &s);
	cr_assert_eq(hl_verify_vm_image(e, 0, im.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0);
	cr_assert_eq(e->st->info[im.vm]->state, HL_VM_READY);
	cr_assert_eq(th_nrecs(e, INFO(im.vm)), s.n[INFO(im.vm)], "a refused verification appends no OVERIFY");
	/* and its vCPU cannot run: set_vcpu_active of a READY VM halts the CPU (SPEC §9) */
	cr_assert_eq(hl_set_vcpu_active(e, 1, im.vm, 0), HL_HALT);
	cr_assert_neq(e->st->info[im.vm]->vcpu_state[0], HL_VCPU_ACTIVE);
	hl_engine_free(e);
}

Test(keys, the_index_selects_the_key)
{
	struct hl_engine_cfg cfg;
	struct hl_engine *e;
	static struct imgs a, b;
	uint8_t opk[32], osk[64], pk[32], sk[64];
	int ok = -1;

	/* KCore holds another key at 0 and the test key at 1 */
	crypto_sign_keypair(opk, osk);
	cr_assert_eq(hl_testkey_keypair(pk, sk), 0);
	hl_engine_cfg_default(&cfg);
	cfg.ncpus = 2;
	cr_assert_eq(hl_engine_cfg_add_key(&cfg, opk), 0);
	cr_assert_eq(hl_engine_cfg_add_key(&cfg, pk), 1);
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	load_images(e, &a, 1, 0, sk, -1);   /* signed with the test key, names key 0 */
	cr_assert_eq(hl_verify_vm_image(e, 0, a.vm, &ok), HL_OK);
	cr_assert_eq(ok, 0, "an image is verified against the key its VM names, not any key KCore holds");
	cr_assert_eq(e->st->info[a.vm]->state, HL_VM_READY);
	/* the same image naming key 1 (a fresh engine: the load gave a's blocks to a's VM) */
	hl_engine_free(e);
	e = hl_engine_new(&cfg);
	cr_assert_not_null(e);
	load_images(e, &b, 1, 1, sk, -1);
	cr_assert_eq(hl_verify_vm_image(e, 0, b.vm, &ok), HL_OK);
	cr_assert_eq(ok, 1);
	cr_assert_eq(e->st->info[b.vm]->key_idx, 1);
	hl_engine_free(e);
}

/* ---- the log file's header carries the keys ------------------------------------------- */
static void tmpname(char *p, size_t n, const char *tag)
{
	snprintf(p, n, "/tmp/hyplog-test-keys-%s-%d.hlog", tag, (int)getpid());
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long sz;

	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)sz);
	cr_assert_not_null(b);
	cr_assert_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, n, f), n);
	fclose(f);
}

/* header layout (engine/hl_file.c struct fhdr): ..., nobj at 64, nkeys at 68, keys at 72,
 * pad, crc32 of everything before it in the last 4 bytes */
#define FH_NKEYS 68u
#define FH_KEYS  72u
#define FH_LEN   (80u + HL_MAX_KEYS * 32u)

static void fix_hdr_crc(uint8_t *b)
{
	uint32_t c = (uint32_t)crc32(0L, b, FH_LEN - 4);
	memcpy(b + FH_LEN - 4, &c, 4);
}

Test(keys, file_header_carries_the_keys)
{
	struct hl_engine *e = th_engine(2), *l;
	struct hl_file_info info;
	struct hl_file_err err;
	char p[256];
	uint8_t *b;
	size_t n;
	uint32_t v, one = 1;

	cr_assert_neq(th_boot_vm(e, 0, th_pfn(512), 0x80000000ull), 0);
	tmpname(p, sizeof(p), "hdr");
	cr_assert_eq(hl_file_write(e, p, &err), 0, "%s", err.msg);
	l = hl_file_read(p, &info, &err);
	cr_assert_not_null(l, "%s", err.msg);
	cr_assert_eq(info.keys.nkeys, 1);
	cr_assert_arr_eq(info.keys.key[0], hl_testkey_pk, 32);
	cr_assert_eq(l->cfg.nkeys, 1);
	cr_assert_arr_eq(l->cfg.kcore_keys[0], hl_testkey_pk, 32);
	hl_engine_free(l);

	b = slurp(p, &n);
	cr_assert_gt(n, FH_LEN);
	memcpy(&v, b + FH_NKEYS, 4);
	cr_assert_eq(v, 1);
	cr_assert_arr_eq(b + FH_KEYS, hl_testkey_pk, 32);
	/* nkeys > HL_MAX_KEYS: rejected with a clear error */
	v = HL_MAX_KEYS + 1;
	memcpy(b + FH_NKEYS, &v, 4);
	fix_hdr_crc(b);
	spit(p, b, n);
	cr_assert_null(hl_file_read(p, &info, &err));
	cr_assert(strstr(err.msg, "KCore keys"), "error: %s", err.msg);
	cr_assert_eq(err.offset, FH_NKEYS);
	/* a key in an unused slot */
	memcpy(b + FH_NKEYS, &one, 4);
	b[FH_KEYS + 32 + 5] = 1;
	fix_hdr_crc(b);
	spit(p, b, n);
	cr_assert_null(hl_file_read(p, &info, &err));
	cr_assert(strstr(err.msg, "unused KCore key slot 1"), "error: %s", err.msg);
	free(b);
	unlink(p);
	hl_engine_free(e);
}

/* ---- through the host's real interface: hypercalls on the hosted platform --------------- */
static struct hl_engine *E;
static struct kcore *K;
static struct hp_platform *P;

static void setup(void)
{
	cr_assert(sodium_init() >= 0);
	E = th_engine(2);
	cr_assert_not_null(E);
	P = th_platform(E, &K);
	cr_assert_not_null(P);
}

static void teardown(void)
{
	th_platform_free(P, K, E);
}

static int64_t hvc(unsigned cpu, uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4)
{
	int64_t r = hp_hvc(P, cpu, x0, x1, x2, x3, x4, 0);
	if (!hl_cpu_halted(E, (int)cpu))
		cr_assert_eq(hl_engine_nheld(E, (int)cpu), 0);
	return r;
}

static void hwrite(uint64_t pa, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	for (size_t off = 0; off < len; off += 8) {
		uint64_t v = 0;
		memcpy(&v, b + off, len - off < 8 ? len - off : 8);
		cr_assert(hp_host_store(P, 0, pa + off, 8, v), "host store at %#llx", (unsigned long long)(pa + off));
	}
}

/* the host's image in BLOCK_PFN, its signature at META_PFN + 64, then boot info, remap, verify */
static int64_t host_load(int64_t vmid, const uint8_t sk[64], bool flip)
{
	static uint8_t img[IMG_BYTES];
	uint8_t sig[64];

	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 13 + 5);
	cr_assert_eq(hl_image_sign(sig, img, IMG_BYTES, sk), 0);
	if (flip)
		img[100] ^= 0x80;
	hwrite(BLOCK_PFN * PG, img, IMG_BYTES);
	hwrite(META_PFN * PG + 64, sig, 64);
	hwrite(VCPU_PFN * PG, (uint8_t[512]){ 0 }, 512);   /* the host's vcpu struct */
	cr_assert_eq(hvc(0, HVC_REGISTER_VCPU, (uint64_t)vmid, 0, VCPU_PFN * PG, 0), 0);
	cr_assert_eq(hvc(0, HVC_SET_BOOT_INFO, (uint64_t)vmid, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64), 0);
	for (unsigned i = 0; i < IMG_BYTES / PG; i++)
		cr_assert_eq(hvc(0, HVC_REMAP_VM_IMAGE, (uint64_t)vmid, BLOCK_PFN + i, 0, 0), 0);
	return hvc(0, HVC_VERIFY_VM_IMAGE, (uint64_t)vmid, 0, 0, 0);
}

/* VCPU_RUN of a VM that is not VERIFIED: refused (set_vcpu_active halts CPU 1, SPEC §9),
 * the vCPU never becomes ACTIVE */
static void run_refused(int64_t vmid)
{
	hp_enter_cpu(P, 1);
	cr_assert_lt(hvc(1, HVC_VCPU_RUN, (uint64_t)vmid, 0, 0, 0), 0);
	cr_assert(hl_cpu_halted(E, 1));
	cr_assert_neq(E->st->info[vmid]->vcpu_state[0], HL_VCPU_ACTIVE);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_READY);
	hp_enter_cpu(P, 0);
}

Test(keys_trap, host_own_key_is_not_a_key, .init = setup, .fini = teardown)
{
	uint8_t hpk[32], hsk[64];
	struct ksnap s;
	int64_t vmid;

	/* the hostile host's own key pair, its public key in its own memory */
	crypto_sign_keypair(hpk, hsk);
	hwrite(META_PFN * PG, hpk, 32);
	/* REGISTER_KVM with the key's address (the old ABI): not one of KCore's key indexes */
	ksnap_take(E, &s);
	cr_assert_eq(hvc(0, HVC_REGISTER_KVM, META_PFN * PG, 0x1234, 0, 0), KC_EINVAL);
	ksnap_same(E, &s, "REGISTER_KVM with a host key address");
	/* it registers with KCore's key 0 but signs with its own key: never verified */
	vmid = hvc(0, HVC_REGISTER_KVM, 0, 0x1234, 0, 0);
	cr_assert_eq(vmid, 1);
	cr_assert_eq(host_load(vmid, hsk, false), 0);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_READY);
	cr_assert_eq(hvc(0, HVC_VERIFY_VM_IMAGE, (uint64_t)vmid, 0, 0, 0), 0, "and never on a retry");
	run_refused(vmid);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(keys_trap, bad_key_index_changes_nothing, .init = setup, .fini = teardown)
{
	const uint64_t bad[] = { 1, HL_MAX_KEYS, HL_MAX_KEYS + 1, 1ull << 32, META_PFN * PG, ~0ull };
	struct ksnap s;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ksnap_take(E, &s);
		cr_assert_eq(hvc(0, HVC_REGISTER_KVM, bad[i], 0x1234, 0, 0), KC_EINVAL, "index %#llx",
			     (unsigned long long)bad[i]);
		ksnap_same(E, &s, "REGISTER_KVM with a bad key index");
		cr_assert_not(hl_cpu_halted(E, 0));
	}
	cr_assert_eq(hvc(0, HVC_REGISTER_KVM, 0, 0x1234, 0, 0), 1, "no vmid was used up");
}

Test(keys_trap, kcore_key_verifies_tampered_does_not, .init = setup, .fini = teardown)
{
	uint8_t pk[32], sk[64], buf[HL_REC_MAX], d[32];
	static uint8_t img[IMG_BYTES];
	const struct hl_rec *r;
	int64_t vmid;

	cr_assert_eq(hl_testkey_keypair(pk, sk), 0);
	vmid = hvc(0, HVC_REGISTER_KVM, 0, 0x1234, 0, 0);
	cr_assert_eq(vmid, 1);
	cr_assert_eq(host_load(vmid, sk, false), 1);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_VERIFIED);
	r = th_last_rec(E, INFO(vmid), buf, sizeof(buf));
	cr_assert_not_null(r);
	cr_assert_eq(r->event, HL_EV_VERIFY);
	cr_assert_eq(r->blob_len, 32);
	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 13 + 5);
	cr_assert_eq(hl_image_digest(d, img, IMG_BYTES), 0);
	cr_assert_arr_eq(hl_rec_blob(r), d, 32);

	/* a second VM: the same image and signature, one byte flipped after signing */
	vmid = hvc(0, HVC_REGISTER_KVM, 0, 0x5678, 0, 0);
	cr_assert_eq(vmid, 2);
	/* the first VM owns BLOCK_PFN now: load the tampered one at BLOCK_PFN + 512 */
	{
		uint8_t sig[64];
		cr_assert_eq(hl_image_sign(sig, img, IMG_BYTES, sk), 0);
		img[100] ^= 0x80;
		hwrite((BLOCK_PFN + 512) * PG, img, IMG_BYTES);
		hwrite(META_PFN * PG + 64, sig, 64);
		hwrite(VCPU_PFN * PG + 512, (uint8_t[512]){ 0 }, 512);
		cr_assert_eq(hvc(0, HVC_REGISTER_VCPU, 2, 0, VCPU_PFN * PG + 512, 0), 0);
		cr_assert_eq(hvc(0, HVC_SET_BOOT_INFO, 2, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64), 0);
		for (unsigned i = 0; i < IMG_BYTES / PG; i++)
			cr_assert_eq(hvc(0, HVC_REMAP_VM_IMAGE, 2, BLOCK_PFN + 512 + i, 0, 0), 0);
		cr_assert_eq(hvc(0, HVC_VERIFY_VM_IMAGE, 2, 0, 0, 0), 0);
	}
	run_refused(2);
	cr_assert_eq(th_replay_matches(E), 0);
}
