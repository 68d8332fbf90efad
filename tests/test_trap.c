/*
 * test_trap.c - the aarch64 trap layer (SPEC §7-8, REFERENCE §5) driven like the real
 * host drives it: hypercalls and data aborts on a hosted CPU (hp_hvc, hp_host_load/store,
 * or hand-built trap frames into kcore_host_trap), and VM exits from a scripted guest
 * installed with hosted_set_guest_runner, so every exit is exactly the one a test wants.
 *
 * Every trap is followed by the check that the CPU holds no engine lock. Bad arguments
 * are checked to change nothing: the digest of every object and the record count of
 * every log are compared before and after. Expected descriptor values are the literal
 * C/Coq constants of REFERENCE §2.3, not the engine's macros.
 *
 * Engines have 2 CPUs: CPU 0 does the work; CPU 1 takes what the spec makes halt.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "hl_access.h"
#include "hl_pgtable.h"
#include "hl_step.h"
#include "hl_testkey.h"
#include "hosted.h"
#include "kcore.h"
#include "platform.h"
#include "sysreg.h"

/* ---- literal constants (REFERENCE §2.3) --------------------------------------------------- */
#define PG              4096ull
#define PMD             0x200000ull
#define KERNEL          0x7FFull                         /* C PAGE_S2_KERNEL */
#define KERNEL_BLOCK    0x7FDull                         /* PAGE_S2_KERNEL & NOT_PMD_TABLE_BIT */
#define DEVICE_RW       (0x40000000000747ull | 0xC0ull)  /* PAGE_S2_DEVICE | S2_RDWR */
#define HYP             0x40000000000753ull              /* PAGE_HYP */
#define GUEST           (1ull << 57)                     /* PAGE_GUEST */
#define HOST_OFF        1000000000ull                    /* SMMU_HOST_OFFSET */
#define INV32           0xFFFFFFFFu
#define INV64           0xFFFFFFFFFFFFFFFFull
#define REMAP_START     0x2000000ull
#define REMAP_END       0x4000000ull
#define RAM_END         (HL_RAM_BASE + HL_RAM_SIZE)
#define DIRTY_PC        (1ull << 32)
#define FSC_PENDING     (1ull << 1)
#define SYSTEM_OFF      0x84000008ull
#define SET_DESC        0x81000ull
#define UNSET_DESC      0x82000ull
#define EXIT_TRAP       2u
#define EXIT_IRQ        0u

#define S2P             HL_S2PAGE_ID
#define CORE            HL_CORE_ID
#define SPT             HL_SPT_ID
#define SMMU            HL_SMMU_ID
#define NPT(v)          (HL_NPT_ID + (unsigned)(v))
#define INFO(v)         (HL_INFO_ID + (unsigned)(v))

/* ---- memory layout of the tests (CPU 0's RAM slice) ------------------------------------------ */
#define META_PFN        th_pfn(16)     /* key at +0, signature at +64 */
#define VCPU_PFN        th_pfn(17)     /* struct host_vcpu of vCPU v at +512*v */
#define EMPTY_PFN       th_pfn(18)     /* never written: an all-zero signature */
#define META2_PFN       th_pfn(19)
#define VCPU2_PFN       th_pfn(20)
#define HOSTPG(i)       th_pfn(100 + (i))
#define GPAGE(i)        th_pfn(3000 + (i))   /* pages the host gives to guests */
#define BLOCK_PFN       th_pfn(1024)   /* 2 MiB-aligned image block of the first VM */
#define BLOCK2_PFN      th_pfn(1536)
#define LOAD_ADDR       0x80000000ull
#define BOOT_PC         (LOAD_ADDR + 0x100)
#define IMG_BYTES       8192u
#define GUEST_RAM       0x40000000ull        /* guest IPA of its RAM (>= MAX_MMIO_ADDR) */
#define GUEST_MMIO      0x09000000ull        /* below MAX_MMIO_ADDR: the host emulates */

/* ---- fixture -------------------------------------------------------------------------------- */
static struct hl_engine *E;
static struct kcore *K;
static struct hp_platform *P;
static unsigned CPU;

static void setup(void)
{
	cr_assert(sodium_init() >= 0);
	E = th_engine(2);
	cr_assert_not_null(E);
	P = th_platform(E, &K);
	cr_assert_not_null(P);
	CPU = 0;
}

static void teardown(void)
{
	th_platform_free(P, K, E);
}

static void on_cpu(unsigned cpu)
{
	CPU = cpu;
	hp_enter_cpu(P, cpu);
}

/* after every trap: no engine lock held. A CPU the spec halted keeps the locks its halt
 * branch strands (SPEC §8); the halt tests check those by name. */
static void no_lock_held(void)
{
	if (hl_cpu_halted(E, (int)CPU))
		return;
	cr_assert_eq(hl_engine_nheld(E, (int)CPU), 0, "cpu %u returned from a trap holding %u locks", CPU,
		     hl_engine_nheld(E, (int)CPU));
}

/* the halted CPU holds exactly the stranded objects listed */
static void holds_exactly(unsigned cpu, unsigned n, const unsigned *objs)
{
	cr_assert(hl_cpu_halted(E, (int)cpu));
	cr_assert_eq(hl_engine_nheld(E, (int)cpu), n, "cpu %u holds %u locks, want %u", cpu,
		     hl_engine_nheld(E, (int)cpu), n);
	for (unsigned i = 0; i < n; i++)
		cr_assert(hl_engine_held_by(E, (int)cpu, objs[i]), "cpu %u does not hold object %u", cpu, objs[i]);
}
#define HOLDS(cpu, ...)                                                                     \
	do {                                                                                \
		const unsigned _o[] = { __VA_ARGS__ };                                      \
		holds_exactly((cpu), sizeof(_o) / sizeof(_o[0]), _o);                       \
	} while (0)
#define HOLDS_NOTHING(cpu) holds_exactly((cpu), 0, NULL)

static int64_t hvc(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4, uint64_t x5)
{
	int64_t r = hp_hvc(P, CPU, x0, x1, x2, x3, x4, x5);
	no_lock_held();
	return r;
}

static void hstore(uint64_t pa, uint64_t v)
{
	cr_assert(hp_host_store(P, CPU, pa, 8, v), "host store at %#llx failed", (unsigned long long)pa);
	no_lock_held();
}

static uint64_t hload(uint64_t pa)
{
	uint64_t v = 0;
	cr_assert(hp_host_load(P, CPU, pa, 8, &v), "host load at %#llx failed", (unsigned long long)pa);
	no_lock_held();
	return v;
}

static void hwrite(uint64_t pa, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	for (size_t off = 0; off < len; off += 8) {
		uint64_t v = 0;
		memcpy(&v, b + off, len - off < 8 ? len - off : 8);
		hstore(pa + off, v);
	}
}

static enum kc_ret trap(struct trap_frame *f)
{
	enum kc_ret r = kcore_host_trap(K, f);
	no_lock_held();
	return r;
}

/* ---- nothing changed ----------------------------------------------------------------------- */
struct snap {
	uint64_t dig[HL_ID_END];
	uint64_t n[HL_ID_END];
};

static void snap_take(struct snap *s)
{
	for (unsigned o = 0; o < HL_ID_END; o++) {
		s->dig[o] = hl_state_obj_digest(E->st, o);
		s->n[o] = th_nrecs(E, o);
	}
}

static void assert_untouched_(const struct snap *s, const char *what)
{
	for (unsigned o = 0; o < HL_ID_END; o++) {
		cr_assert_eq(hl_state_obj_digest(E->st, o), s->dig[o], "%s: object %u changed", what, o);
		cr_assert_eq(th_nrecs(E, o), s->n[o], "%s: object %u got a record", what, o);
	}
}
#define assert_untouched(s) assert_untouched_((s), __func__)

/* a bad hypercall: the expected error in x0, and nothing changed anywhere */
#define BAD(want, x0, x1, x2, x3, x4, x5)                                                        \
	do {                                                                                     \
		struct snap _s;                                                                  \
		snap_take(&_s);                                                                  \
		int64_t _r = hvc((x0), (x1), (x2), (x3), (x4), (x5));                            \
		cr_assert_eq(_r, (int64_t)(want), "line %d: hvc %llu returned %lld, want %lld",   \
			     __LINE__, (unsigned long long)(x0), (long long)_r, (long long)(want)); \
		assert_untouched_(&_s, #x0);                                                     \
		cr_assert(!hl_cpu_halted(E, (int)CPU));                                         \
	} while (0)

/* ---- state accessors ------------------------------------------------------------------------ */
static struct hl_s2page s2p(uint64_t pfn) { return hl_s2page_get(E->st, pfn); }
static struct hl_vminfo *info(uint32_t vmid) { return E->st->info[vmid]; }

static struct hl_pt_entry walk(unsigned princ, uint64_t addr)
{
	struct hl_pt_entry ent;
	hl_npt_walk(E->st->npt[princ], addr, &ent);
	return ent;
}

static struct hl_pt_entry swalk(unsigned index, unsigned cb, uint64_t iova)
{
	struct hl_pt_entry ent;
	hl_spt_walk(E->st->spt, HL_SMMU_ID_OF(index, cb), iova, &ent);
	return ent;
}

static uint64_t hv_pa(uint64_t vcpu_pfn, unsigned v) { return vcpu_pfn * PG + v * 512ull; }
#define HV_FIELD(vcpu_pfn, v, field) (hv_pa((vcpu_pfn), (v)) + offsetof(struct host_vcpu, field))

/* ---- the scripted guest -------------------------------------------------------------------- */
struct gobs {
	uint64_t pc;
	uint32_t vmid, vcpu;
	uint64_t x[31];
	unsigned nheld;
	uint64_t vttbr, hcr;
	uint64_t aux[4];     /* what the script looked at */
};

struct gscript;
typedef unsigned (*gstep_fn)(struct gscript *g, uint64_t *x, uint64_t pc);
struct gscript {
	unsigned n;          /* guest entries so far */
	gstep_fn fn;
	struct gobs obs[64];
	uint64_t arg[16];
};
static struct gscript G;

static unsigned runner(void *arg, uint64_t *x)
{
	struct gscript *g = arg;
	struct gobs *o = &g->obs[g->n < 64 ? g->n : 63];
	unsigned r;

	memset(o, 0, sizeof(*o));
	o->pc = arch_read_sysreg(SR_ELR_EL2);
	o->vttbr = arch_read_sysreg(SR_VTTBR_EL2);
	o->hcr = arch_read_sysreg(SR_HCR_EL2);
	o->vmid = (uint32_t)(o->vttbr >> VTTBR_VMID_SHIFT);
	o->vcpu = (uint32_t)(arch_read_sysreg(SR_VMPIDR_EL2) & 0xFF);
	o->nheld = hl_engine_nheld(E, (int)arch_cpu_id());
	memcpy(o->x, x, sizeof(o->x));
	r = g->fn(g, x, o->pc);
	g->n++;
	return r;
}

static void script(gstep_fn fn)
{
	memset(&G, 0, sizeof(G));
	G.fn = fn;
	hosted_set_guest_runner(runner, &G);
}

static unsigned gtrap(uint64_t pc, uint64_t esr, uint64_t ipa)
{
	arch_write_sysreg(SR_ELR_EL2, pc);
	arch_write_sysreg(SR_ESR_EL2, esr);
	arch_write_sysreg(SR_FAR_EL2, ipa);
	arch_write_sysreg(SR_HPFAR_EL2, ipa_to_hpfar(ipa));
	return ARCH_EXIT_TRAP;
}

static uint64_t dabt_esr(unsigned rt, bool write)
{
	return esr_make(EC_DABT_LOW, ESR_ISV | (3u << ESR_SAS_SHIFT) | (rt << ESR_SRT_SHIFT) |
					     (write ? ESR_WNR : 0) | (FSC_TRANS_L0 + 3));
}

static unsigned g_irq(uint64_t pc)
{
	arch_write_sysreg(SR_ELR_EL2, pc);
	return ARCH_EXIT_IRQ;
}

/* ---- the boot protocol, through hypercalls ---------------------------------------------------- */
enum sigmode { SIG_GOOD, SIG_BAD, SIG_NONE };

struct vm {
	uint32_t vmid;
	uint64_t meta_pfn, vcpu_pfn, block_pfn;
	uint8_t pk[32], sk[64];
	int64_t verified;
};

static void make_image(uint8_t *img, uint32_t salt)
{
	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 13 + salt * 7 + (i >> 9));
}

/* register_kvm + 2 vCPUs (boot PC in the image): the VM is READY */
static void register_vm(struct vm *vm, uint64_t meta_pfn, uint64_t vcpu_pfn, uint64_t block_pfn, uint64_t boot_pc)
{
	memset(vm, 0, sizeof(*vm));
	vm->meta_pfn = meta_pfn;
	vm->vcpu_pfn = vcpu_pfn;
	vm->block_pfn = block_pfn;
	/* KCore's key 0 (th_engine provisions the test key): the image is signed with it */
	cr_assert_eq(hl_testkey_keypair(vm->pk, vm->sk), 0);
	int64_t vmid = hvc(HVC_REGISTER_KVM, 0, 0xFFFF0000ABCD0000ull, 0, 0, 0);
	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM, "REGISTER_KVM returned %lld", (long long)vmid);
	vm->vmid = (uint32_t)vmid;
	for (unsigned v = 0; v < 2; v++) {
		hstore(HV_FIELD(vcpu_pfn, v, boot_pc), boot_pc);
		cr_assert_eq(hvc(HVC_REGISTER_VCPU, vm->vmid, v, hv_pa(vcpu_pfn, v), 0, 0), 0);
	}
}

/* image, signature, SET_BOOT_INFO, REMAP_VM_IMAGE per page; VERIFY's x0 in vm->verified */
static void load_and_verify(struct vm *vm, enum sigmode mode)
{
	static uint8_t img[IMG_BYTES];
	uint8_t sig[64];
	uint64_t sig_pa = vm->meta_pfn * PG + 64;

	make_image(img, vm->vmid);
	hwrite(vm->block_pfn * PG, img, IMG_BYTES);
	cr_assert_eq(hl_image_sign(sig, img, IMG_BYTES, vm->sk), 0);
	if (mode == SIG_BAD)
		sig[5] ^= 0x40;
	if (mode == SIG_NONE)
		sig_pa = EMPTY_PFN * PG;
	else
		hwrite(sig_pa, sig, 64);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm->vmid, LOAD_ADDR, IMG_BYTES, sig_pa, 0), 0);
	for (unsigned i = 0; i < IMG_BYTES / PG; i++)
		cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vm->vmid, vm->block_pfn + i, 0, 0, 0), 0);
	vm->verified = hvc(HVC_VERIFY_VM_IMAGE, vm->vmid, 0, 0, 0, 0);
}

static void boot_vm(struct vm *vm, uint64_t meta_pfn, uint64_t vcpu_pfn, uint64_t block_pfn)
{
	register_vm(vm, meta_pfn, vcpu_pfn, block_pfn, BOOT_PC);
	load_and_verify(vm, SIG_GOOD);
	cr_assert_eq(vm->verified, 1);
	cr_assert_eq(info(vm->vmid)->state, HL_VM_VERIFIED);
}

/* VCPU_RUN; returns x0 and checks the vCPU is READY again and nothing is held */
static int64_t run(struct vm *vm, unsigned v)
{
	int64_t r = hvc(HVC_VCPU_RUN, vm->vmid, v, 0, 0, 0);
	if (!hl_cpu_halted(E, (int)CPU))
		cr_assert_eq(info(vm->vmid)->vcpu_state[v], HL_VCPU_READY);
	return r;
}

struct exitinfo {
	uint64_t code, esr, far, hpfar, dirty, value, flags;
};

static struct exitinfo exit_of(struct vm *vm, unsigned v)
{
	struct exitinfo x;
	x.code = hload(HV_FIELD(vm->vcpu_pfn, v, exit_code));
	x.esr = hload(HV_FIELD(vm->vcpu_pfn, v, exit_esr));
	x.far = hload(HV_FIELD(vm->vcpu_pfn, v, exit_far));
	x.hpfar = hload(HV_FIELD(vm->vcpu_pfn, v, exit_hpfar));
	x.dirty = hload(HV_FIELD(vm->vcpu_pfn, v, exit_dirty));
	x.value = hload(HV_FIELD(vm->vcpu_pfn, v, exit_value));
	x.flags = hload(HV_FIELD(vm->vcpu_pfn, v, exit_flags));
	return x;
}

/* the guest powers itself off on its next run (vCPU v) */
static unsigned s_poweroff(struct gscript *g, uint64_t *x, uint64_t pc)
{
	x[0] = SYSTEM_OFF;
	return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
}

static void poweroff(struct vm *vm)
{
	script(s_poweroff);
	cr_assert_eq(run(vm, 0), EXIT_TRAP);
	cr_assert_eq(info(vm->vmid)->state, HL_VM_POWEROFF);
}

/* ============================================================================================ */
/* host hypercalls (SPEC §7)                                                                     */
/* ============================================================================================ */
TestSuite(trap, .init = setup, .fini = teardown, .timeout = 60);

Test(trap, hvc_enable_s2_trans_and_timer_cntvoff_are_noops)
{
	struct snap s;

	snap_take(&s);
	cr_assert_eq(hvc(HVC_ENABLE_S2_TRANS, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_ENABLE_S2_TRANS, INV64, 1, 2, 3, 4), 0);
	cr_assert_eq(hvc(HVC_TIMER_SET_CNTVOFF, 0x1234, 0x5678, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_TIMER_SET_CNTVOFF, INV64, INV64, INV64, INV64, INV64), 0);
	assert_untouched(&s);
	cr_assert_eq(K->cpu[0].traps[KC_T_HVC], 4);
	cr_assert_eq(K->cpu[0].hvc_errors, 0);
}

Test(trap, hvc_unknown_numbers_return_enosys)
{
	static const uint64_t nums[] = { 0, 1, 2, 3, 4, 5, 15, 16, 17, 18, 19, 30, 31, 99, 0x81000, INV64 };
	for (unsigned i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		BAD(KC_ENOSYS, nums[i], 1, 2, 3, 4, 5);
	cr_assert_eq(K->cpu[0].hvc_errors, sizeof(nums) / sizeof(nums[0]));
}

Test(trap, hvc_encryption_calls_are_not_supported)
{
	struct vm vm;
	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	static const uint64_t nums[] = { HVC_ENCRYPT_BUF, HVC_DECRYPT_BUF, HVC_SAVE_CRYPT_VCPU, HVC_LOAD_CRYPT_VCPU };
	for (unsigned i = 0; i < 4; i++) {
		/* plausible arguments (a VM page, a host page) and garbage alike */
		BAD(KC_ENOTSUP, nums[i], vm.vmid, BLOCK_PFN * PG, HOSTPG(0) * PG, 0, 0);
		BAD(KC_ENOTSUP, nums[i], 0, 0, 0, 0, 0);
		BAD(KC_ENOTSUP, nums[i], INV64, INV64, INV64, INV64, INV64);
	}
}

Test(trap, hvc_register_kvm)
{
	struct snap s;

	/* bad: x1 names no key KCore holds (SPEC §11: it holds key 0 only; the host never
	 * supplies key bytes, so an address there is just a bad index). Nothing changes, no
	 * vmid is used up. */
	BAD(KC_EINVAL, HVC_REGISTER_KVM, 1, 7, 0, 0, 0);                       /* next index */
	BAD(KC_EINVAL, HVC_REGISTER_KVM, HL_MAX_KEYS, 7, 0, 0, 0);             /* past the table */
	BAD(KC_EINVAL, HVC_REGISTER_KVM, META_PFN * PG, 7, 0, 0, 0);           /* a key's address */
	BAD(KC_EINVAL, HVC_REGISTER_KVM, 1ull << 32, 7, 0, 0, 0);              /* 0 in the low half */
	BAD(KC_EINVAL, HVC_REGISTER_KVM, INV64, 7, 0, 0, 0);

	/* good */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_REGISTER_KVM, 0, 0xFFFF000012340000ull, 0, 0, 0), 1);
	cr_assert_eq(E->st->core->next_vmid, 2);
	cr_assert_eq(info(1)->state, HL_VM_READY);
	cr_assert_eq(info(1)->kvm, 0xFFFF000012340000ull);
	cr_assert_eq(info(1)->inc_exe, 0);
	cr_assert_eq(info(1)->key_idx, 0);
	cr_assert_eq(th_nrecs(E, CORE), s.n[CORE] + 1);
	cr_assert_eq(th_nrecs(E, INFO(1)), s.n[INFO(1)] + 1);
	for (unsigned o = 0; o < HL_ID_END; o++)
		if (o != CORE && o != INFO(1))
			cr_assert_eq(th_nrecs(E, o), s.n[o], "object %u got a record", o);
	/* the second VM gets the next vmid */
	cr_assert_eq(hvc(HVC_REGISTER_KVM, 0, 5, 0, 0, 0), 2);
	cr_assert_eq(info(2)->kvm, 5);
	cr_assert_eq(info(2)->key_idx, 0);

	/* still refused with VMs around */
	struct vm vm;
	boot_vm(&vm, META2_PFN, VCPU2_PFN, BLOCK_PFN);
	BAD(KC_EINVAL, HVC_REGISTER_KVM, 1, 7, 0, 0, 0);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_register_vcpu)
{
	uint64_t hv0 = hv_pa(VCPU_PFN, 0), hv1 = hv_pa(VCPU_PFN, 1);
	struct snap s;

	cr_assert_eq(hvc(HVC_REGISTER_KVM, 0, 0, 0, 0, 0), 1);
	hstore(hv0, 0);   /* the host's vcpu struct page exists */

	BAD(KC_EINVAL, HVC_REGISTER_VCPU, 0, 0, hv0, 0, 0);                      /* vmid 0 */
	BAD(KC_EINVAL, HVC_REGISTER_VCPU, HL_MAX_VM + 1, 0, hv0, 0, 0);          /* COREVISOR */
	BAD(KC_EINVAL, HVC_REGISTER_VCPU, (1ull << 32) + 1, 0, hv0, 0, 0);       /* truncates to 1 */
	BAD(KC_EINVAL, HVC_REGISTER_VCPU, 1, HL_VCPU_PER_VM, hv0, 0, 0);
	BAD(KC_EINVAL, HVC_REGISTER_VCPU, 1, (1ull << 32), hv0, 0, 0);
	BAD(KC_EINVAL, HVC_REGISTER_VCPU, 1, 0, 0x1000, 0, 0);                   /* MMIO */
	BAD(KC_EINVAL, HVC_REGISTER_VCPU, 1, 0, RAM_END, 0, 0);
	BAD(KC_EINVAL, HVC_REGISTER_VCPU, 1, 0, RAM_END - 100, 0, 0);            /* struct straddles RAM end */

	snap_take(&s);
	cr_assert_eq(hvc(HVC_REGISTER_VCPU, 1, 0, hv0, 0, 0), 0);
	cr_assert_eq(info(1)->vcpu[0], hv0);
	cr_assert_eq(info(1)->vcpu_state[0], HL_VCPU_READY);
	cr_assert_eq(info(1)->vcpu_state[1], HL_VCPU_UNUSED);
	cr_assert_eq(K->shadow[1][0].dirty, INV64, "the shadow context starts 'not run yet'");
	cr_assert_eq(th_nrecs(E, INFO(1)), s.n[INFO(1)] + 1);
	cr_assert_eq(hvc(HVC_REGISTER_VCPU, 1, HL_VCPU_PER_VM - 1, hv1, 0, 0), 0);
	cr_assert_eq(info(1)->vcpu[HL_VCPU_PER_VM - 1], hv1);

	/* registering a vCPU twice is a state-machine violation: the calling CPU halts */
	on_cpu(1);
	cr_assert_eq(hvc(HVC_REGISTER_VCPU, 1, 0, hv0, 0, 0), KC_EBUSY);
	HOLDS_NOTHING(1);
	cr_assert_eq(info(1)->vcpu[0], hv0);
	on_cpu(0);
	cr_assert_eq(hvc(HVC_REGISTER_VCPU, 1, 1, hv1, 0, 0), 0);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_set_boot_info)
{
	struct vm vm;
	uint8_t sig[64];
	struct snap s;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	for (unsigned i = 0; i < 64; i++)
		sig[i] = (uint8_t)(0x40 + i);
	hwrite(META_PFN * PG + 64, sig, 64);
	uint64_t sp = META_PFN * PG + 64;

	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, vm.vmid, LOAD_ADDR, IMG_BYTES, 0x2000, 0);          /* sig MMIO */
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, vm.vmid, LOAD_ADDR, IMG_BYTES, RAM_END - 32, 0);    /* straddles */
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, vm.vmid, LOAD_ADDR, IMG_BYTES, RAM_END, 0);
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, 0, LOAD_ADDR, IMG_BYTES, sp, 0);
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, HL_MAX_VM + 1, LOAD_ADDR, IMG_BYTES, sp, 0);
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, (1ull << 32) + vm.vmid, LOAD_ADDR, IMG_BYTES, sp, 0);
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, vm.vmid, LOAD_ADDR + PG, IMG_BYTES, sp, 0);         /* unaligned */
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, vm.vmid, 1ull << 48, IMG_BYTES, sp, 0);
	BAD(KC_EINVAL, HVC_SET_BOOT_INFO, vm.vmid, LOAD_ADDR, REMAP_END, sp, 0);

	snap_take(&s);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm.vmid, LOAD_ADDR, IMG_BYTES, sp, 0), 0);
	struct hl_load_info *li = &info(vm.vmid)->load[0];
	cr_assert_eq(info(vm.vmid)->next_load_info, 1);
	cr_assert_eq(li->load_addr, LOAD_ADDR);
	cr_assert_eq(li->size, IMG_BYTES);
	cr_assert_eq(li->remap_addr, REMAP_START);
	cr_assert_eq(li->mapped_pages, 0);
	cr_assert_arr_eq(li->signature, sig, 64);
	cr_assert_eq(E->st->core->next_remap_ptr, REMAP_START + IMG_BYTES);
	cr_assert_eq(th_nrecs(E, CORE), s.n[CORE] + 1);
	cr_assert_eq(th_nrecs(E, INFO(vm.vmid)), s.n[INFO(vm.vmid)] + 1);

	/* the next images get the next indices and remap windows; a size rounds up to pages */
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm.vmid, 2 * LOAD_ADDR, 5000, sp, 0), 1);
	cr_assert_eq(info(vm.vmid)->load[1].remap_addr, REMAP_START + IMG_BYTES);
	cr_assert_eq(E->st->core->next_remap_ptr, REMAP_START + IMG_BYTES + 2 * PG);
	for (unsigned i = 2; i < 5; i++)
		cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm.vmid, (i + 2) * LOAD_ADDR, PG, sp, 0), (int64_t)i);
	/* a sixth image: the spec's silent no-op, x0 = the index it would have had */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm.vmid, 8 * LOAD_ADDR, PG, sp, 0), 5);
	assert_untouched(&s);

	/* a VM that was never registered is not READY: the spec halts the calling CPU */
	on_cpu(1);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, HL_MAX_VM, LOAD_ADDR, PG, sp, 0), KC_EBUSY);
	HOLDS_NOTHING(1);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_remap_vm_image)
{
	struct vm vm;
	struct snap s;
	uint8_t sig[64] = { 0 };

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	hwrite(META_PFN * PG + 64, sig, 64);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vm.vmid, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64, 0), 0);

	BAD(KC_EINVAL, HVC_REMAP_VM_IMAGE, vm.vmid, 5, 0, 0, 0);                       /* MMIO pfn */
	BAD(KC_EINVAL, HVC_REMAP_VM_IMAGE, vm.vmid, RAM_END / PG, 0, 0, 0);            /* beyond RAM */
	BAD(KC_EINVAL, HVC_REMAP_VM_IMAGE, vm.vmid, BLOCK_PFN, 5, 0, 0);               /* load_idx */
	BAD(KC_EINVAL, HVC_REMAP_VM_IMAGE, vm.vmid, BLOCK_PFN, (1ull << 32), 0, 0);    /* truncates to 0 */
	BAD(KC_EINVAL, HVC_REMAP_VM_IMAGE, 0, BLOCK_PFN, 0, 0, 0);
	BAD(KC_EINVAL, HVC_REMAP_VM_IMAGE, HL_MAX_VM + 1, BLOCK_PFN, 0, 0, 0);
	BAD(KC_EINVAL, HVC_REMAP_VM_IMAGE, (1ull << 32) + vm.vmid, BLOCK_PFN, 0, 0, 0);
	/* an index with no image yet: the spec's no-op */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vm.vmid, BLOCK_PFN, 1, 0, 0), 0);
	assert_untouched(&s);

	snap_take(&s);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vm.vmid, BLOCK_PFN, 0, 0, 0), 0);
	cr_assert_eq(info(vm.vmid)->load[0].mapped_pages, 1);
	struct hl_pt_entry ent = walk(HL_COREVISOR, REMAP_START);
	cr_assert_eq(ent.level, 3);
	cr_assert_eq(ent.pfn, BLOCK_PFN);
	cr_assert_eq(ent.pte, BLOCK_PFN * PG | HYP);
	cr_assert_eq(th_nrecs(E, NPT(HL_COREVISOR)), s.n[NPT(HL_COREVISOR)] + 1);
	cr_assert_eq(th_nrecs(E, INFO(vm.vmid)), s.n[INFO(vm.vmid)] + 1);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vm.vmid, BLOCK_PFN + 1, 0, 0, 0), 0);
	cr_assert_eq(walk(HL_COREVISOR, REMAP_START + PG).pte, (BLOCK_PFN + 1) * PG | HYP);
	/* every page of the image is mapped: more remaps are the spec's no-op */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vm.vmid, BLOCK_PFN + 2, 0, 0, 0), 0);
	assert_untouched(&s);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_verify_good_signature)
{
	struct vm vm;
	struct snap s;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	/* the host mapped the image pages when it wrote them */
	BAD(KC_EINVAL, HVC_VERIFY_VM_IMAGE, 0, 0, 0, 0, 0);
	BAD(KC_EINVAL, HVC_VERIFY_VM_IMAGE, HL_MAX_VM + 1, 0, 0, 0, 0);
	BAD(KC_EINVAL, HVC_VERIFY_VM_IMAGE, (1ull << 32) + vm.vmid, 0, 0, 0, 0);
	snap_take(&s);
	load_and_verify(&vm, SIG_GOOD);
	cr_assert_eq(vm.verified, 1);
	cr_assert_eq(info(vm.vmid)->state, HL_VM_VERIFIED);
	/* the 2 MiB chunk is the VM's, mapped as one block at the load address */
	struct hl_pt_entry ent = walk(vm.vmid, LOAD_ADDR + PG);
	cr_assert_eq(ent.level, 2);
	cr_assert_eq(ent.pfn, BLOCK_PFN + 1);
	cr_assert_eq(ent.pte, BLOCK_PFN * PG | KERNEL_BLOCK);
	for (unsigned i = 0; i < 512; i++) {
		struct hl_s2page pg = s2p(BLOCK_PFN + i);
		cr_assert_eq(pg.owner, vm.vmid);
		cr_assert_eq(pg.count, 0);
		cr_assert_eq(pg.gfn, LOAD_ADDR / PG + i);
	}
	/* the host's own mappings of the image pages are gone */
	cr_assert_eq(walk(HL_HOSTVISOR, BLOCK_PFN * PG).pte, GUEST);
	cr_assert_eq(walk(HL_HOSTVISOR, (BLOCK_PFN + 1) * PG).pte, GUEST);
	/* verifying again: not READY any more, the spec halts the calling CPU */
	on_cpu(1);
	cr_assert_eq(hvc(HVC_VERIFY_VM_IMAGE, vm.vmid, 0, 0, 0, 0), KC_EBUSY);
	HOLDS(1, INFO(vm.vmid));   /* tr_verify_final strands vminfo */
	cr_assert_eq(info(vm.vmid)->state, HL_VM_VERIFIED);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_verify_bad_signature_stays_ready)
{
	struct vm vm;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	load_and_verify(&vm, SIG_BAD);
	cr_assert_eq(vm.verified, 0);
	cr_assert_eq(info(vm.vmid)->state, HL_VM_READY);
	/* and again: still READY, still 0 */
	cr_assert_eq(hvc(HVC_VERIFY_VM_IMAGE, vm.vmid, 0, 0, 0, 0), 0);
	cr_assert_eq(info(vm.vmid)->state, HL_VM_READY);
	/* a READY VM cannot run: set_vcpu_active halts */
	on_cpu(1);
	script(s_poweroff);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vm.vmid, 0, 0, 0, 0), KC_EBUSY);
	HOLDS_NOTHING(1);
	cr_assert_eq(G.n, 0, "the guest of an unverified VM ran");
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_verify_missing_signature_stays_ready)
{
	struct vm vm;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	load_and_verify(&vm, SIG_NONE);   /* the signature PA is a host page never written: zeros */
	cr_assert_eq(vm.verified, 0);
	cr_assert_eq(info(vm.vmid)->state, HL_VM_READY);
	uint8_t zero[64] = { 0 };
	cr_assert_arr_eq(info(vm.vmid)->load[0].signature, zero, 64);

	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_verify_wrong_key_stays_ready)
{
	struct vm vm;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	uint8_t other[32], sk[64], seed[32] = { 9 };
	crypto_sign_seed_keypair(other, sk, seed);
	memcpy(vm.sk, sk, 64);   /* the image is signed with a key KCore does not hold */
	load_and_verify(&vm, SIG_GOOD);
	cr_assert_eq(vm.verified, 0);
	cr_assert_eq(info(vm.vmid)->state, HL_VM_READY);
}

Test(trap, hvc_vcpu_run_bad_arguments)
{
	struct vm vm;
	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_poweroff);
	BAD(KC_EINVAL, HVC_VCPU_RUN, 0, 0, 0, 0, 0);
	BAD(KC_EINVAL, HVC_VCPU_RUN, HL_MAX_VM + 1, 0, 0, 0, 0);
	BAD(KC_EINVAL, HVC_VCPU_RUN, (1ull << 32) + vm.vmid, 0, 0, 0, 0);
	BAD(KC_EINVAL, HVC_VCPU_RUN, vm.vmid, HL_VCPU_PER_VM, 0, 0, 0);
	BAD(KC_EINVAL, HVC_VCPU_RUN, vm.vmid, (1ull << 32), 0, 0, 0);
	cr_assert_eq(G.n, 0);
	/* a vCPU that was never registered: set_vcpu_active halts */
	on_cpu(1);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vm.vmid, 5, 0, 0, 0), KC_EBUSY);
	HOLDS_NOTHING(1);
	cr_assert_eq(G.n, 0);
	on_cpu(0);
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.n, 1);
}

Test(trap, hvc_clear_vm_s2_range)
{
	struct vm vm;
	struct snap s;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	BAD(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, 0, LOAD_ADDR, PMD, 0, 0);
	BAD(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, HL_MAX_VM + 1, LOAD_ADDR, PMD, 0, 0);
	BAD(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vm.vmid, LOAD_ADDR + 8, PMD, 0, 0);      /* unaligned */
	BAD(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vm.vmid, 1ull << 48, PG, 0, 0);
	BAD(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vm.vmid, (1ull << 48) - PG, 2 * PG, 0, 0);
	BAD(KC_EINVAL, HVC_CLEAR_VM_S2_RANGE, vm.vmid, LOAD_ADDR, (1ull << 30) + PG, 0, 0);
	/* a VM that is still VERIFIED keeps its pages */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vm.vmid, LOAD_ADDR, PMD, 0, 0), 0);
	assert_untouched(&s);

	poweroff(&vm);
	/* the host wants its pages back: owner HOSTVISOR, count 0, gfn = pfn + offset, zeroed */
	cr_assert_neq(hl_ram_page(E, BLOCK_PFN)[0] | hl_ram_page(E, BLOCK_PFN)[1], 0);
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vm.vmid, LOAD_ADDR, PMD, 0, 0), 0);
	for (unsigned i = 0; i < 512; i++) {
		struct hl_s2page pg = s2p(BLOCK_PFN + i);
		cr_assert_eq(pg.owner, HL_HOSTVISOR);
		cr_assert_eq(pg.count, 0);
		cr_assert_eq(pg.gfn, BLOCK_PFN + i + HOST_OFF);
		cr_assert_eq(E->st->s2p->flatmem[BLOCK_PFN + i - HL_RAM_BASE_PFN], hl_zero_page_digest());
	}
	uint8_t zero[PG];
	memset(zero, 0, sizeof(zero));
	cr_assert_arr_eq(hl_ram_page(E, BLOCK_PFN), zero, PG, "the VM's data survived the clear");
	/* the host can use them again */
	hstore(BLOCK_PFN * PG, 0x5151);
	cr_assert_eq(hload(BLOCK_PFN * PG), 0x5151);
	cr_assert_eq(walk(HL_HOSTVISOR, BLOCK_PFN * PG).pte, BLOCK_PFN * PG | KERNEL);
	/* clearing again: nothing of the VM's left there */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vm.vmid, LOAD_ADDR, 4 * PG, 0, 0), 0);
	assert_untouched(&s);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_phys_addr_ioremap)
{
	struct vm vm;
	struct snap s;
	const uint64_t gpa = 0x0C000000, pa = 0x0A000000;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, 0, gpa, pa, PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, HL_MAX_VM + 1, gpa, pa, PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, (1ull << 32) + vm.vmid, gpa, pa, PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa + 4, pa, PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa, pa + 4, PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa, pa, 0, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa, pa, (64ull << 20) + PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, 1ull << 48, pa, PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa, RAM_END, PG, 0);
	/* the range runs out of the address space / past RAM after its first page: the whole
	 * call is refused, the first page included */
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, (1ull << 48) - PG, pa, 2 * PG, 0);
	BAD(KC_EINVAL, HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa, RAM_END - PG, 2 * PG, 0);

	/* a RAM page: the spec's no-op */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa, HOSTPG(0) * PG, PG, 0), 0);
	assert_untouched(&s);

	snap_take(&s);
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa, pa, 3 * PG, 0), 0);
	for (unsigned i = 0; i < 3; i++) {
		struct hl_pt_entry ent = walk(vm.vmid, gpa + i * PG);
		cr_assert_eq(ent.level, 3);
		cr_assert_eq(ent.pte, (pa + i * PG) | DEVICE_RW);
	}
	cr_assert_eq(walk(vm.vmid, gpa + 3 * PG).level, 0);
	cr_assert_eq(th_nrecs(E, NPT(vm.vmid)), s.n[NPT(vm.vmid)] + 3);
	cr_assert_eq(th_nrecs(E, S2P), s.n[S2P]);

	/* once the VM is VERIFIED, map_io's state check halts the calling CPU (§9.7) */
	load_and_verify(&vm, SIG_GOOD);
	cr_assert_eq(vm.verified, 1);
	on_cpu(1);
	cr_assert_eq(hvc(HVC_PHYS_ADDR_IOREMAP, vm.vmid, gpa + 8 * PG, pa, PG, 0), KC_EBUSY);
	HOLDS(1, INFO(vm.vmid));   /* tr_map_io strands vminfo */
	cr_assert_eq(walk(vm.vmid, gpa + 8 * PG).level, 0);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* ---- SMMU hypercalls ------------------------------------------------------------------------- */
Test(trap, hvc_smmu_alloc_pgd)
{
	struct vm vm;
	struct snap s;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, HL_SMMU_NUM_CB, vm.vmid, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 0, vm.vmid, HL_SMMU_NUM, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 0, HL_MAX_VM + 1, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, (1ull << 32), vm.vmid, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 0, (1ull << 32) + vm.vmid, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 0, vm.vmid, (1ull << 32), 0, 0);

	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 2, vm.vmid, 1, 0, 0), 0);   /* (cbndx 2, index 1) */
	cr_assert_eq(E->st->smmu->owner[HL_SMMU_ID_OF(1, 2)], vm.vmid);
	cr_assert_eq(th_nrecs(E, SMMU), s.n[SMMU] + 1);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 0, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert_eq(E->st->smmu->owner[HL_SMMU_ID_OF(0, 0)], HL_HOSTVISOR);
	/* an owned bank stays with its owner */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 2, HL_HOSTVISOR, 1, 0, 0), 0);
	assert_untouched(&s);
	/* SMMU 1 has 4 context banks: cbndx 4 is out of range there, -EINVAL and nothing
	 * changed (SPEC §17, issue 9.8; the seed's halt branch) */
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, 4, vm.vmid, 1, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_ALLOC_PGD, HL_SMMU_NUM_CB - 1, HL_HOSTVISOR, 1, 0, 0);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_smmu_map_translate_clear_host_bank)
{
	const uint64_t pa = HOSTPG(3) * PG;
	struct snap s;

	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, HL_HOSTVISOR, 0, 0, 0), 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, pa, 4, 1, 0);                  /* prot */
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, pa + 8, 3, 1, 0);              /* unaligned paddr */
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, 0x1000, 3, 1, 0);              /* MMIO paddr */
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, RAM_END, 3, 1, 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, pa, 3, HL_SMMU_NUM_CB, 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, pa, 3, 1, HL_SMMU_NUM);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, pa, 3, (1ull << 32) + 1, 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa, pa, 3, 1, (1ull << 32));
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, pa + 8, pa, 3, 1, 0);              /* unaligned iova */
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, 1ull << 40, pa, 3, 1, 0);          /* iova beyond 40 bits */

	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, pa, pa, 3, 1, 0), 0);
	struct hl_pt_entry ent = swalk(0, 1, pa);
	cr_assert_eq(ent.pte, pa | KERNEL, "SMMU pte %#llx", (unsigned long long)ent.pte);
	cr_assert_eq(s2p(pa / PG).count, 1);
	cr_assert_eq(s2p(pa / PG).owner, HL_HOSTVISOR);
	cr_assert_eq(th_nrecs(E, SPT), s.n[SPT] + 1);
	cr_assert_eq(th_nrecs(E, S2P), s.n[S2P] + 1);
	/* read-only mapping: S2AP read-only */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, pa + PG, pa + PG, 1, 1, 0), 0);
	cr_assert_eq(swalk(0, 1, pa + PG).pte, (pa + PG) | 0x77F);

	/* translate */
	BAD(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, pa, HL_SMMU_NUM_CB, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, pa, 1, HL_SMMU_NUM, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, 1ull << 40, 1, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_IOVA_TO_PHYS, pa, (1ull << 32) + 1, 0, 0, 0);
	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa + 0x18, 1, 0, 0, 0), (int64_t)(pa + 0x18));
	cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa + 5 * PG + 0x18, 1, 0, 0, 0), 0x18);   /* unmapped */
	cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa + 0x18, 2, 0, 0, 0), 0x18);            /* other bank */
	assert_untouched(&s);

	/* clear */
	BAD(KC_EINVAL, HVC_SMMU_CLEAR, pa, HL_SMMU_NUM_CB, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_CLEAR, pa, 1, HL_SMMU_NUM, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_CLEAR, 1ull << 40, 1, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_CLEAR, pa, 1, (1ull << 32), 0, 0);
	cr_assert_eq(hvc(HVC_SMMU_CLEAR, pa, 1, 0, 0, 0), 0);
	cr_assert_eq(swalk(0, 1, pa).pte, 0);
	cr_assert_eq(s2p(pa / PG).count, 0);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, pa, 1, 0, 0, 0), 0);
	/* clearing an unmapped iova changes nothing */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_CLEAR, pa, 1, 0, 0, 0), 0);
	assert_untouched(&s);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, hvc_smmu_vm_bank_and_free)
{
	struct vm vm;
	struct snap s;
	const uint64_t dma = GPAGE(7), iova = GUEST_RAM;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 3, vm.vmid, 0, 0, 0), 0);
	hstore(dma * PG, 0xD1A);   /* the host had it mapped */

	/* bad iova on a VM bank: refused before smmu_assign_page moves the page */
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, 1ull << 40, dma * PG, 3, 3, 0);
	BAD(KC_EINVAL, HVC_SMMU_LPAE_MAP, iova + 0x10, dma * PG, 3, 3, 0);
	cr_assert_eq(s2p(dma).owner, HL_HOSTVISOR);

	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_MAP, iova, dma * PG, 3, 3, 0), 0);
	cr_assert_eq(s2p(dma).owner, vm.vmid);
	cr_assert_eq(s2p(dma).gfn, iova / PG);
	cr_assert_eq(s2p(dma).count, INV32);
	cr_assert_eq(walk(HL_HOSTVISOR, dma * PG).pte, GUEST);
	cr_assert_eq(swalk(0, 3, iova).pte, dma * PG | KERNEL);
	cr_assert_eq(hvc(HVC_SMMU_LPAE_IOVA_TO_PHYS, iova + 4, 3, 0, 0, 0), (int64_t)(dma * PG + 4));

	/* free: a bank whose VM is not powered off cannot be freed (halt, CPU 1) */
	BAD(KC_EINVAL, HVC_SMMU_FREE_PGD, HL_SMMU_NUM_CB, 0, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_FREE_PGD, 3, HL_SMMU_NUM, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_FREE_PGD, (1ull << 32) + 3, 0, 0, 0, 0);
	BAD(KC_EINVAL, HVC_SMMU_FREE_PGD, 3, (1ull << 32), 0, 0, 0);
	/* a free bank: no-op */
	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_FREE_PGD, 5, 0, 0, 0, 0), 0);
	assert_untouched(&s);

	load_and_verify(&vm, SIG_GOOD);
	cr_assert_eq(vm.verified, 1);
	poweroff(&vm);
	snap_take(&s);
	cr_assert_eq(hvc(HVC_SMMU_FREE_PGD, 3, 0, 0, 0, 0), 0);
	cr_assert_eq(E->st->smmu->owner[HL_SMMU_ID_OF(0, 3)], INV32);
	cr_assert_eq(th_nrecs(E, SMMU), s.n[SMMU] + 1);

	/* the host's own bank: its owner is not a powered-off VM, the spec halts */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 4, HL_HOSTVISOR, 0, 0, 0), 0);
	on_cpu(1);
	cr_assert_eq(hvc(HVC_SMMU_FREE_PGD, 4, 0, 0, 0, 0), KC_EBUSY);
	HOLDS(1, SMMU);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* ============================================================================================ */
/* host stage-2 faults                                                                          */
/* ============================================================================================ */
static void dabt_frame(struct trap_frame *f, uint64_t pa, unsigned size, bool write, unsigned rt, uint64_t wval)
{
	unsigned sas = size == 8 ? 3 : size == 4 ? 2 : size == 2 ? 1 : 0;
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < 31; i++)
		f->x[i] = 0xEEEE000000000000ull | i;
	if (write && rt < 31)
		f->x[rt] = wval;
	f->esr = esr_make(EC_DABT_LOW, ESR_ISV | (sas << ESR_SAS_SHIFT) | (rt << ESR_SRT_SHIFT) |
					      (write ? ESR_WNR : 0) | (FSC_TRANS_L0 + 3));
	f->far = pa;
	f->hpfar = ipa_to_hpfar(pa);
	f->elr = 0xFFFF000010001000ull;
}

Test(trap, host_s2_fault_ram_maps_identity_kernel)
{
	struct trap_frame f;
	struct snap s;
	const uint64_t pfn = HOSTPG(9);

	snap_take(&s);
	dabt_frame(&f, pfn * PG + 0x123, 8, false, 3, 0);
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(f.elr, 0xFFFF000010001000ull, "a mapped fault is retried, not skipped");
	struct hl_pt_entry ent = walk(HL_HOSTVISOR, pfn * PG);
	cr_assert_eq(ent.level, 3);
	cr_assert_eq(ent.pfn, pfn);
	cr_assert_eq(ent.pte, pfn * PG | KERNEL);
	cr_assert_eq(th_nrecs(E, NPT(0)), s.n[NPT(0)] + 1);
	cr_assert_eq(th_nrecs(E, S2P), s.n[S2P]);
	cr_assert_eq(s2p(pfn).owner, HL_HOSTVISOR);
	cr_assert_eq(K->cpu[0].traps[KC_T_HOST_S2], 1);
	/* an instruction abort takes the same path */
	f.esr = esr_make(EC_IABT_LOW, FSC_TRANS_L0 + 3);
	f.far = (pfn + 1) * PG;
	f.hpfar = ipa_to_hpfar((pfn + 1) * PG);
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(walk(HL_HOSTVISOR, (pfn + 1) * PG).pte, (pfn + 1) * PG | KERNEL);
	/* through the software MMU: the first access faults, then the data is there */
	hstore((pfn + 2) * PG + 8, 0x1234567890ull);
	cr_assert_eq(hload((pfn + 2) * PG + 8), 0x1234567890ull);
	cr_assert_eq(walk(HL_HOSTVISOR, (pfn + 2) * PG).pte, (pfn + 2) * PG | KERNEL);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, host_s2_fault_mmio_maps_device)
{
	struct trap_frame f;
	const uint64_t pa = 0x0B000000;   /* MMIO, outside the SMMU windows */

	dabt_frame(&f, pa + 0x40, 4, true, 2, 7);
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	struct hl_pt_entry ent = walk(HL_HOSTVISOR, pa);
	cr_assert_eq(ent.level, 3);
	cr_assert_eq(ent.pte, pa | DEVICE_RW);
	cr_assert_eq(f.elr, 0xFFFF000010001000ull);
	cr_assert_eq(K->cpu[0].mmio_rejected, 0);
	/* just below and just above the SMMU windows: ordinary device pages */
	dabt_frame(&f, KC_SMMU_BASE - PG, 4, false, 2, 0);
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(walk(HL_HOSTVISOR, KC_SMMU_BASE - PG).pte, (KC_SMMU_BASE - PG) | DEVICE_RW);
	dabt_frame(&f, KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE, 4, false, 2, 0);
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(walk(HL_HOSTVISOR, KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE).pte,
		     (KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE) | DEVICE_RW);
	/* the SMMU windows themselves are never mapped */
	dabt_frame(&f, KC_SMMU_BASE, 4, false, 2, 0);
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(walk(HL_HOSTVISOR, KC_SMMU_BASE).level, 0);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, host_s2_fault_beyond_ram_refused)
{
	struct trap_frame f;
	struct snap s;
	static const uint64_t pas[] = { RAM_END, RAM_END + 0x123, HL_PHYS_SIZE - PG, 1ull << 47 };

	for (unsigned i = 0; i < 4; i++) {
		uint64_t before = K->cpu[0].hvc_errors;
		snap_take(&s);
		dabt_frame(&f, pas[i], 8, i & 1, 4, 0);
		cr_assert_eq(trap(&f), KC_RET_RESUME);
		assert_untouched(&s);
		cr_assert_eq(f.elr, 0xFFFF000010001004ull, "a refused fault moves the host on");
		cr_assert_eq(K->cpu[0].hvc_errors, before + 1);
		cr_assert(!hl_cpu_halted(E, 0));
	}
	/* through the software MMU: the access is skipped, nothing gets mapped */
	uint64_t v = 0x5A5A;
	snap_take(&s);
	(void)hp_host_load(P, 0, RAM_END, 8, &v);
	no_lock_held();
	assert_untouched(&s);
	cr_assert_eq(walk(HL_HOSTVISOR, RAM_END).level, 0);
	cr_assert(!hl_cpu_halted(E, 0));
}

Test(trap, host_s2_fault_on_vm_page_halts)
{
	struct vm vm;
	struct trap_frame f;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	on_cpu(1);
	dabt_frame(&f, BLOCK_PFN * PG, 8, false, 1, 0);
	cr_assert_eq(kcore_host_trap(K, &f), KC_RET_HALTED);
	HOLDS(1, S2P);
	cr_assert_eq(walk(HL_HOSTVISOR, BLOCK_PFN * PG).pte, GUEST, "the host got at a VM page");
	on_cpu(0);
	cr_assert_eq(th_replay_matches(E), 0);
}

Test(trap, host_other_exceptions_are_skipped)
{
	struct trap_frame f;
	struct snap s;

	snap_take(&s);
	memset(&f, 0, sizeof(f));
	f.esr = esr_make(EC_SYS64, 0);
	f.elr = 0x4000;
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(f.elr, 0x4004);
	f.esr = esr_make(EC_UNKNOWN, 0);
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(f.elr, 0x4008);
	assert_untouched(&s);
}

/* ---- SMMU register emulation (mmio.c) ------------------------------------------------------------- */
static uint64_t smmu_reg(unsigned index, uint32_t off)
{
	const struct kc_smmu_dev *d = &K->smmu_dev[index];
	if (off < KC_SMMU_GLOBAL_BASE)
		return d->global[off / 8];
	off -= KC_SMMU_GLOBAL_BASE;
	return d->cb[off / KC_SMMU_CB_SIZE][(off % KC_SMMU_CB_SIZE) / 8];
}

/* a host access to SMMU `index` register `off` by hand; returns the frame after the trap */
static struct trap_frame mmio(unsigned index, uint32_t off, unsigned size, bool write, unsigned rt, uint64_t val)
{
	struct trap_frame f;
	struct snap s;
	uint64_t elr;

	snap_take(&s);
	dabt_frame(&f, KC_SMMU_BASE + index * KC_SMMU_SIZE + off, size, write, rt, val);
	elr = f.elr;
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	cr_assert_eq(f.elr, elr + 4, "an emulated access advances the host's PC");
	assert_untouched(&s);   /* the emulated registers are not engine state */
	cr_assert(!hl_cpu_halted(E, (int)CPU));
	return f;
}

#define REJ() (K->cpu[0].mmio_rejected)

/* write; expect accepted or refused; a refused write leaves the register as it was */
static void mwrite(unsigned index, uint32_t off, unsigned size, uint64_t val, bool accepted)
{
	uint64_t before = REJ(), reg = smmu_reg(index, off & ~7u);
	mmio(index, off, size, true, 9, val);
	if (accepted) {
		cr_assert_eq(REJ(), before, "write of %#llx at %#x refused", (unsigned long long)val, off);
	} else {
		cr_assert_eq(REJ(), before + 1, "write of %#llx at %#x accepted", (unsigned long long)val, off);
		cr_assert_eq(smmu_reg(index, off & ~7u), reg, "a refused write changed register %#x", off);
	}
}

static uint64_t mread(unsigned index, uint32_t off, unsigned size)
{
	uint64_t before = REJ();
	struct trap_frame f = mmio(index, off, size, false, 11, 0);
	cr_assert_eq(REJ(), before);
	return f.x[11];
}

Test(trap, smmu_mmio_reads)
{
	K->smmu_dev[0].cb[2][0x10 / 8] = 0x1111222233334444ull;
	cr_assert_eq(mread(0, KC_SMMU_GLOBAL_BASE + 2 * KC_SMMU_CB_SIZE + 0x10, 8), 0x1111222233334444ull);
	cr_assert_eq(mread(0, KC_SMMU_GLOBAL_BASE + 2 * KC_SMMU_CB_SIZE + 0x10, 4), 0x33334444ull);
	cr_assert_eq(mread(0, KC_SMMU_GLOBAL_BASE + 2 * KC_SMMU_CB_SIZE + 0x14, 4), 0x11112222ull);
	/* the reset value of sCR0 on both SMMUs (mmio.c: no bypass from the start) */
	cr_assert_eq(mread(0, SMMU_GR0_sCR0, 4), SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG);
	cr_assert_eq(mread(1, SMMU_GR0_sCR0, 4), SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG);
	/* only Rt is written */
	struct trap_frame f = mmio(0, SMMU_GR0_sCR0, 4, false, 30, 0);
	cr_assert_eq(f.x[30], SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG);
	for (unsigned i = 0; i < 30; i++)
		cr_assert_eq(f.x[i], 0xEEEE000000000000ull | i);
	/* xzr as the target: discarded */
	f = mmio(0, SMMU_GR0_sCR0, 4, false, 31, 0);
	for (unsigned i = 0; i < 31; i++)
		cr_assert_eq(f.x[i], 0xEEEE000000000000ull | i);
	/* through the software MMU: the same value, and the window never gets a host mapping */
	uint64_t v = 0;
	cr_assert(hp_host_load(P, 0, KC_SMMU_BASE + KC_SMMU_SIZE + SMMU_GR0_sCR0, 4, &v));
	no_lock_held();
	cr_assert_eq(v, SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG);
	cr_assert_eq(walk(HL_HOSTVISOR, KC_SMMU_BASE + KC_SMMU_SIZE).level, 0);
	cr_assert_eq(K->cpu[0].traps[KC_T_HOST_MMIO], 8);
	cr_assert_eq(REJ(), 0);
}

Test(trap, smmu_mmio_bad_widths_refused)
{
	const uint32_t cbreg = KC_SMMU_GLOBAL_BASE + KC_SMMU_CB_SIZE + 0x10;
	struct trap_frame f;

	K->smmu_dev[0].cb[1][0x10 / 8] = 0xABCDull;
	mwrite(0, cbreg, 1, 0x55, false);
	mwrite(0, cbreg, 2, 0x55, false);
	mwrite(0, cbreg + 4, 8, 0x55, false);   /* misaligned 8-byte access */
	mwrite(0, cbreg + 2, 4, 0x55, false);   /* misaligned 4-byte access */
	/* reads of a bad width are refused too, and leave Rt alone */
	for (unsigned size = 1; size <= 2; size++) {
		uint64_t before = REJ();
		f = mmio(0, cbreg, size, false, 6, 0);
		cr_assert_eq(REJ(), before + 1);
		cr_assert_eq(f.x[6], 0xEEEE000000000006ull);
	}
	/* no valid syndrome (ISV clear): the access cannot be decoded */
	uint64_t before = REJ();
	struct snap s;
	snap_take(&s);
	dabt_frame(&f, KC_SMMU_BASE + cbreg, 4, true, 9, 0x55);
	f.esr &= ~(uint64_t)ESR_ISV;
	cr_assert_eq(trap(&f), KC_RET_RESUME);
	assert_untouched(&s);
	cr_assert_eq(REJ(), before + 1);
	cr_assert_eq(smmu_reg(0, cbreg), 0xABCDull);
}

Test(trap, smmu_mmio_scr0_scr2)
{
	/* sCR0: a write clearing SMCFCFG is refused; one keeping it is written */
	mwrite(0, SMMU_GR0_sCR0, 4, 0, false);
	mwrite(0, SMMU_GR0_sCR0, 4, 0xFFFFFFFFu & ~SMMU_sCR0_SMCFCFG, false);
	mwrite(0, SMMU_GR0_sCR0, 8, 0x1, false);
	cr_assert_eq(smmu_reg(0, SMMU_GR0_sCR0), SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG);
	/* fault-reporting bits (GFRE, GFIE) with SMCFCFG and USFCFG kept: written (the other
	 * sCR0 fields: tests/test_hostile_trap.c) */
	mwrite(0, SMMU_GR0_sCR0, 4, SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG | 0x6, true);
	cr_assert_eq(smmu_reg(0, SMMU_GR0_sCR0), SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG | 0x6);
	mwrite(1, SMMU_GR0_sCR0, 4, SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG | 0x10, true);
	cr_assert_eq(smmu_reg(1, SMMU_GR0_sCR0), SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG | 0x10);
	/* sCR2: only with the low byte 0 */
	mwrite(0, SMMU_GR0_sCR2, 4, 0x1, false);
	mwrite(0, SMMU_GR0_sCR2, 4, 0xFF, false);
	mwrite(0, SMMU_GR0_sCR2, 8, 0x100000001ull, false);
	cr_assert_eq(smmu_reg(0, SMMU_GR0_sCR2), 0);
	mwrite(0, SMMU_GR0_sCR2, 4, 0x300, true);
	cr_assert_eq(smmu_reg(0, SMMU_GR0_sCR2), 0x300);
	/* another global register: written */
	mwrite(0, 0x10, 4, 0x77, true);
	cr_assert_eq(smmu_reg(0, 0x10), 0x77);
	cr_assert_eq(REJ(), 6);
	/* through the software MMU, as the platform's host does it */
	uint64_t v = 0;
	cr_assert(hp_host_store(P, 0, KC_SMMU_BASE + SMMU_GR0_sCR0, 4, 0));
	no_lock_held();
	cr_assert_eq(REJ(), 7);
	cr_assert(hp_host_load(P, 0, KC_SMMU_BASE + SMMU_GR0_sCR0, 4, &v));
	cr_assert_eq(v, SMMU_sCR0_SMCFCFG | SMMU_sCR0_USFCFG | 0x6);
}

Test(trap, smmu_mmio_cbar)
{
	struct vm vm;
	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, HL_HOSTVISOR, 0, 0, 0), 0);   /* bank 1: host */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 2, vm.vmid, 0, 0, 0), 0);        /* bank 2: the VM */
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 1, vm.vmid, 1, 0, 0), 0);        /* SMMU 1 bank 1: the VM */
	const uint32_t cbar1 = SMMU_GR1_BASE + 4, cbar2 = SMMU_GR1_BASE + 8, cbar3 = SMMU_GR1_BASE + 12;

	/* a host-owned bank: stage 2 only, with the host's VMID 0 (mmio.c, SPEC §16) */
	mwrite(0, cbar1, 4, (2u << SMMU_CBAR_TYPE_SHIFT) | 0x33, false);
	mwrite(0, cbar1, 4, 0x33, false);
	mwrite(0, cbar1, 4, 0x5u << 24, true);
	cr_assert_eq(smmu_reg(0, cbar1) >> 32, 0x5u << 24);
	/* a VM-owned bank: only S2_TRANS with the owner's VMID */
	mwrite(0, cbar2, 4, vm.vmid + 1, false);
	mwrite(0, cbar2, 4, (1u << SMMU_CBAR_TYPE_SHIFT) | vm.vmid, false);
	mwrite(0, cbar2, 4, (3u << SMMU_CBAR_TYPE_SHIFT) | vm.vmid, false);
	mwrite(0, cbar2, 4, 0, false);
	mwrite(0, cbar2, 4, (SMMU_CBAR_TYPE_S2_TRANS << SMMU_CBAR_TYPE_SHIFT) | vm.vmid | 0xF000, true);
	cr_assert_eq(smmu_reg(0, cbar2) & 0xFFFFFFFFu, vm.vmid | 0xF000);
	/* the same rule on the second SMMU */
	mwrite(1, SMMU_GR1_BASE + 4, 4, 0x10000 | vm.vmid, false);
	mwrite(1, SMMU_GR1_BASE + 4, 4, vm.vmid, true);
	/* a free bank belongs to nobody: refused */
	mwrite(0, cbar3, 4, 0, false);
	mwrite(0, cbar3, 4, vm.vmid, false);
	/* CBAR of a bank that does not exist */
	mwrite(0, SMMU_GR1_BASE + 4 * HL_SMMU_NUM_CB, 4, 0, false);
	/* an 8-byte access covers two CBARs: each must be allowed. Bank 1 (host) + bank 2 (VM)
	 * with a bad value for bank 2, and bank 0 (free) + bank 1 */
	mwrite(0, SMMU_GR1_BASE + 0, 8, 0, false);
	uint64_t v = ((uint64_t)(vm.vmid + 1) << 32) | 0x5;
	mwrite(0, cbar2, 8, v, false);   /* cbar2 low, cbar3 (free) high */
	cr_assert_eq(smmu_reg(0, cbar2) & 0xFFFFFFFFu, vm.vmid | 0xF000);
	cr_assert_eq(REJ(), 12);
}

Test(trap, smmu_mmio_cbar_8byte_cannot_reach_vm_bank)
{
	/* banks 2 (host) and 3 (the VM) share one 8-byte slot: a 64-bit write that the host may
	 * do to its bank 2 must not rewrite bank 3's CBAR */
	struct vm vm;
	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, BOOT_PC);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 2, HL_HOSTVISOR, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_SMMU_ALLOC_PGD, 3, vm.vmid, 0, 0, 0), 0);
	mwrite(0, SMMU_GR1_BASE + 12, 4, vm.vmid, true);
	mwrite(0, SMMU_GR1_BASE + 8, 8, (0x30000ull << 32) | 0x5, false);
	cr_assert_eq(smmu_reg(0, SMMU_GR1_BASE + 8) >> 32, vm.vmid, "bank 3's CBAR was rewritten");
	/* both halves allowed: written */
	mwrite(0, SMMU_GR1_BASE + 8, 8, ((uint64_t)vm.vmid << 32) | (0x7u << 24), true);
	cr_assert_eq(smmu_reg(0, SMMU_GR1_BASE + 8), ((uint64_t)vm.vmid << 32) | (0x7u << 24));
}

Test(trap, smmu_mmio_ttbr0_gets_kcores_root)
{
	const uint32_t t0 = KC_SMMU_GLOBAL_BASE + 3 * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0;
	const uint64_t root03 = hl_spt_root_pa(E->st->spt, HL_SMMU_ID_OF(0, 3));
	const uint64_t root12 = hl_spt_root_pa(E->st->spt, HL_SMMU_ID_OF(1, 2));

	cr_assert_neq(root03, root12);
	mwrite(0, t0, 8, 0x123456789000ull, true);
	cr_assert_eq(smmu_reg(0, t0), root03);
	cr_assert_eq(mread(0, t0, 8), root03);
	mwrite(1, KC_SMMU_GLOBAL_BASE + 2 * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0, 8, 0, true);
	cr_assert_eq(smmu_reg(1, KC_SMMU_GLOBAL_BASE + 2 * KC_SMMU_CB_SIZE + SMMU_CB_TTBR0), root12);
	/* a 32-bit write of either half: the register still holds exactly KCore's root */
	mwrite(0, t0, 4, 0x9000, true);
	cr_assert_eq(smmu_reg(0, t0), root03);
	mwrite(0, t0 + 4, 4, 0xDEAD, true);
	cr_assert_eq(smmu_reg(0, t0), root03, "the host set TTBR0's high half to %#llx",
		     (unsigned long long)smmu_reg(0, t0));
	/* another context-bank register: written as is */
	mwrite(0, KC_SMMU_GLOBAL_BASE + 3 * KC_SMMU_CB_SIZE + 0x28, 8, 0xAB, true);
	cr_assert_eq(smmu_reg(0, KC_SMMU_GLOBAL_BASE + 3 * KC_SMMU_CB_SIZE + 0x28), 0xAB);
	/* through the software MMU as the platform's host does it */
	uint64_t v = 0;
	cr_assert(hp_host_store(P, 0, KC_SMMU_BASE + t0, 8, 0x123456789000ull));
	cr_assert(hp_host_load(P, 0, KC_SMMU_BASE + t0, 8, &v));
	no_lock_held();
	cr_assert_eq(v, root03);
	cr_assert_eq(REJ(), 0);
}

Test(trap, smmu_mmio_contextidr_refused)
{
	const uint32_t cb = KC_SMMU_GLOBAL_BASE + 5 * KC_SMMU_CB_SIZE;

	mwrite(0, cb + SMMU_CB_CONTEXTIDR, 4, 7, false);
	mwrite(1, cb + SMMU_CB_CONTEXTIDR, 4, 0, false);
	/* an 8-byte write covering CONTEXTIDR (0x30..0x37) is refused as well */
	mwrite(0, cb + 0x30, 8, 0x700000000ull | KC_SMMU_S2_TCR, false);
	cr_assert_eq(smmu_reg(0, cb + 0x30), KC_SMMU_S2_TCR);
	/* the register next to it (TCR) alone, with KCore's geometry: written */
	mwrite(0, cb + 0x30, 4, KC_SMMU_S2_TCR & ~0xF00u, true);
	cr_assert_eq(smmu_reg(0, cb + 0x30), KC_SMMU_S2_TCR & ~0xF00u);
	cr_assert_eq(REJ(), 3);
	uint64_t before = REJ();
	cr_assert(hp_host_store(P, 0, KC_SMMU_BASE + cb + SMMU_CB_CONTEXTIDR, 4, 9));
	no_lock_held();
	cr_assert_eq(REJ(), before + 1);
}

/* ============================================================================================ */
/* vCPU run / VM exits                                                                          */
/* ============================================================================================ */
#define G_PAGE   (GUEST_RAM + 5 * PG)
#define G_MMIO_R (GUEST_MMIO + 0x10)
#define G_MMIO_W (GUEST_MMIO + 0x20)

static unsigned s_cycle(struct gscript *g, uint64_t *x, uint64_t pc)
{
	struct hl_pt_entry ent;
	uint64_t v = 0;

	switch (g->n) {
	case 0: /* first run: store to a page it does not have yet */
		x[3] = 0x77;
		return gtrap(pc, dabt_esr(3, true), G_PAGE);
	case 1: /* retried after the host's mapping: it is there, with the host's content */
		hl_translate(E, (int)arch_cpu_id(), g->obs[1].vmid, hl_ipa(G_PAGE), &ent);
		g->obs[1].aux[0] = ent.pfn;
		g->obs[1].aux[1] = ent.level;
		g->obs[1].aux[2] = (uint64_t)hl_vm_mem_access(E, (int)arch_cpu_id(), g->obs[1].vmid,
							      hl_pa(ent.pfn * PG + 8), &v, 8, false);
		g->obs[1].aux[3] = v;
		return gtrap(pc, dabt_esr(7, false), G_MMIO_R);   /* ldr x7, [mmio] */
	case 2: /* x7 came from the host, PC moved past the load */
		return gtrap(pc, esr_make(EC_SYS64, 0x1234), 0);
	case 3: /* SYS64 was handled inside KCore */
		return gtrap(pc, esr_make(EC_WFX, 0), 0);
	case 4:
		return g_irq(pc);
	case 5: /* an unknown PV call */
		x[0] = 0x99000;
		x[1] = 0xAB;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
	case 6: /* str x4, [mmio] */
		x[4] = 0xCAFEF00DBEEF;
		return gtrap(pc, dabt_esr(4, true), G_MMIO_W);
	case 7:
		x[0] = SYSTEM_OFF;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
	default:
		return g_irq(pc);
	}
}

/* restore_host gives the host back the HCR_EL2 of its platform (kc->host_hcr: the EL2 Linux
 * image keeps HCR_TSC there, or Linux's PSCI SMCs would bypass KCore after the first guest
 * run) and its own VMPIDR_EL2 (Linux reads it as MPIDR_EL1), not the vCPU's (issue 12) */
Test(trap, host_hcr_and_vmpidr_restored_after_a_guest_run)
{
	struct vm vm;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_cycle);
	K->host_hcr = HCR_HOST_NVHE_FLAGS | HCR_TSC;
	arch_write_sysreg(SR_HCR_EL2, K->host_hcr);
	arch_write_sysreg(SR_VMPIDR_EL2, 0x80000002ull);   /* the host CPU's MPIDR */
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.n, 1);
	cr_assert_eq(G.obs[0].vcpu, 0, "the guest saw its own MPIDR (vcpu 0)");
	cr_assert_eq(G.obs[0].hcr & HCR_HYPSEC_VM_FLAGS, HCR_HYPSEC_VM_FLAGS);
	cr_assert_eq(arch_read_sysreg(SR_HCR_EL2), HCR_HOST_NVHE_FLAGS | HCR_TSC, "the host's HCR_EL2.TSC lost");
	cr_assert_eq(arch_read_sysreg(SR_VMPIDR_EL2), 0x80000002ull, "the host reads the vCPU's MPIDR");
}

/* ---- FP/SIMD switching (REFERENCE 5.4: save_host / restore_host / save_vm / restore_vm) ----- */
/* distinct values per writer and per entry, so a leak names who wrote it */
static void fp_fill(struct arch_fpsimd *f, uint64_t tag)
{
	for (unsigned i = 0; i < 32; i++) {
		f->q[i][0] = tag | (uint64_t)i << 8;
		f->q[i][1] = ~(tag | (uint64_t)i << 8);
	}
	f->fpsr = 0x08000000ull | (tag & 0xFF);   /* QC + a per-writer byte */
	f->fpcr = 0x03C00000ull | (tag & 0xFF) << 8;
}
#define FP_GUEST(n) (0x5EC2E7000000000ull + ((uint64_t)(n) << 16) + 0x11)   /* the guest's secret */
#define FP_HOST(k)  (0x4057000000000000ull + ((uint64_t)(k) << 16) + 0x22)  /* the host's values */

static bool fp_eq(const struct arch_fpsimd *a, const struct arch_fpsimd *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* what the guest found in the FP/SIMD registers at each entry */
static struct arch_fpsimd fp_seen[16];

/* every entry: record the FP/SIMD registers, write this entry's secret, exit by a different
 * route: MMIO read (to the host), SYS64 (handled inside KCore: the guest runs again in the
 * same VCPU_RUN), WFx, IRQ, unknown PV HVC, MMIO write (each to the host) */
static unsigned s_fp(struct gscript *g, uint64_t *x, uint64_t pc)
{
	if (g->n < 16)
		fp_seen[g->n] = *hosted_fpsimd();
	fp_fill(hosted_fpsimd(), FP_GUEST(g->n));
	switch (g->n) {
	case 0: return gtrap(pc, dabt_esr(7, false), G_MMIO_R);
	case 1: return gtrap(pc, esr_make(EC_SYS64, 0x1234), 0);
	case 2: return gtrap(pc, esr_make(EC_WFX, 0), 0);
	case 3: return g_irq(pc);
	case 4:
		x[0] = 0x99000;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);
	case 5: return gtrap(pc, dabt_esr(4, true), G_MMIO_W);
	default: return g_irq(pc);
	}
}
#define FP_RUNS 5   /* VCPU_RUN calls: entries 0, 1+2 (SYS64 resumes), 3, 4, 5 */

/* after every kind of guest exit the host finds its own FP/SIMD registers, never the
 * guest's: save_vm keeps the guest's in KCore's shadow context, restore_host loads the
 * host's back (before the fix the host read the guest's q0-q31/FPSR/FPCR) */
Test(trap, host_never_sees_a_guests_fpsimd_registers)
{
	struct vm vm;
	struct arch_fpsimd mine, secret;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_fp);
	for (unsigned k = 0; k < FP_RUNS; k++) {
		fp_fill(&mine, FP_HOST(k));
		*hosted_fpsimd() = mine;
		int64_t r = run(&vm, 0);
		cr_assert(r == EXIT_TRAP || r == EXIT_IRQ, "run %u: %lld", k, (long long)r);
		unsigned last = G.n - 1;   /* the guest's last entry of this run */
		fp_fill(&secret, FP_GUEST(last));
		const struct arch_fpsimd *now = hosted_fpsimd();
		for (unsigned i = 0; i < 32; i++)
			cr_assert(now->q[i][0] != secret.q[i][0] && now->q[i][1] != secret.q[i][1],
				  "run %u: the host reads the guest's q%u", k, i);
		cr_assert(now->fpsr != secret.fpsr && now->fpcr != secret.fpcr,
			  "run %u: the host reads the guest's FPSR/FPCR", k);
		cr_assert(fp_eq(now, &mine), "run %u: the host's FP/SIMD registers were not restored", k);
		/* the guest's values are in KCore's memory (the vCPU context), not lost */
		cr_assert(fp_eq(&K->shadow[vm.vmid][0].fp, &secret), "run %u: save_vm lost the guest's FP/SIMD", k);
	}
	cr_assert_eq(G.n, FP_RUNS + 1, "SYS64 should have resumed the guest inside one run");
}

/* what the host leaves in the FP/SIMD registers before VCPU_RUN never reaches the guest:
 * every entry finds the values the guest itself left at its previous exit (zero at the
 * first), also after an exit KCore handled without the host (SYS64) (before the fix the
 * guest computed with the host's values) */
Test(trap, host_cannot_set_a_guests_fpsimd_registers)
{
	struct vm vm;
	struct arch_fpsimd want, h;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_fp);
	memset(fp_seen, 0, sizeof(fp_seen));
	for (unsigned k = 0; k < FP_RUNS; k++) {
		fp_fill(&h, FP_HOST(k));
		*hosted_fpsimd() = h;   /* the host's chosen values */
		int64_t r = run(&vm, 0);
		cr_assert(r == EXIT_TRAP || r == EXIT_IRQ, "run %u: %lld", k, (long long)r);
	}
	cr_assert_eq(G.n, FP_RUNS + 1);
	for (unsigned n = 0; n < G.n; n++) {
		if (n == 0)
			memset(&want, 0, sizeof(want));   /* reset state of a new vCPU */
		else
			fp_fill(&want, FP_GUEST(n - 1));
		cr_assert(fp_eq(&fp_seen[n], &want),
			  "entry %u: the guest found q0 = %#llx:%#llx, FPCR %#llx, not its own", n,
			  (unsigned long long)fp_seen[n].q[0][1], (unsigned long long)fp_seen[n].q[0][0],
			  (unsigned long long)fp_seen[n].fpcr);
	}
}

/* ---- system-register switching (REFERENCE 5.4, the table at the top of vcpu.c) ------------ */
/* the EL1 registers save_host/restore_vm switch (incl. the virtual timer) and the EL2 trap
 * registers KCore sets for a guest: distinct values per writer and per entry */
#define SYS_GUEST(n, i) (0x5EC2000000000000ull | (uint64_t)(n) << 24 | (uint64_t)(i) << 8 | 0x33)
#define SYS_HOST(k, i)  (0x4057000000000000ull | (uint64_t)(k) << 24 | (uint64_t)(i) << 8 | 0x44)
#define HOST_MDCR    0x4E6ull                  /* HPMN 6, TPMCR, TPM (no debug traps) */
#define HOST_CNTHCTL 0x3ull                    /* EL1PCTEN | EL1PCEN (start.S) */
#define HOST_PMCR    0x41002001ull             /* E set: the host's counters run */
#define SYS_ENTRIES 16
/* every EL1 register the switch must cover, named here rather than through SR_EL1_LAST so a
 * register left out of the switch range fails these tests: SCTLR_EL1 .. MDSCR_EL1, the
 * guest's DISR_EL1 (VDISR_EL2), TPIDR2_EL0 (FEAT_SME: no EL2 trap covers it without FEAT_FGT)
 * and the virtual timer CNTV_CVAL_EL0, CNTV_CTL_EL0 */
#define SYS_N (SR_CNTV_CTL_EL0 - SR_SCTLR_EL1 + 1)
_Static_assert(SR_VDISR_EL2 > SR_SCTLR_EL1 && SR_TPIDR2_EL0 > SR_SCTLR_EL1 && SR_TPIDR2_EL0 < SR_CNTV_CTL_EL0 &&
	       SR_VDISR_EL2 < SR_CNTV_CTL_EL0 && SR_APIAKEYLO_EL1 > SR_SCTLR_EL1 && SR_APGAKEYHI_EL1 < SR_CNTV_CTL_EL0 &&
	       SR_APGAKEYHI_EL1 - SR_APIAKEYLO_EL1 == 9, "the registers a guest writes without a trap are in the tested range");

struct sys_seen {
	uint64_t el1[SYS_N];
	uint64_t mdcr, cnthctl, cntvoff, pmcr;
};
static struct sys_seen sys_seen[SYS_ENTRIES];

static void sys_host_set(unsigned k)
{
	for (unsigned i = 0; i < SYS_N; i++)
		arch_write_sysreg((enum arch_sysreg)(SR_SCTLR_EL1 + i), SYS_HOST(k, i));
	arch_write_sysreg(SR_MDCR_EL2, HOST_MDCR);
	arch_write_sysreg(SR_CNTHCTL_EL2, HOST_CNTHCTL);
	arch_write_sysreg(SR_PMCR_EL0, HOST_PMCR);
	/* an offset the guest must never run with (EL2-only: a stale value, not the host's) */
	arch_write_sysreg(SR_CNTVOFF_EL2, 0xDEAD0000ull);
}

/* every entry: record the registers, write this entry's secret into every switched one, exit
 * by the routes of s_fp (MMIO read, SYS64 resumed inside KCore, WFx, IRQ, PV HVC, MMIO write) */
static unsigned s_sys(struct gscript *g, uint64_t *x, uint64_t pc)
{
	if (g->n < SYS_ENTRIES) {
		struct sys_seen *s = &sys_seen[g->n];
		for (unsigned i = 0; i < SYS_N; i++)
			s->el1[i] = arch_read_sysreg((enum arch_sysreg)(SR_SCTLR_EL1 + i));
		s->mdcr = arch_read_sysreg(SR_MDCR_EL2);
		s->cnthctl = arch_read_sysreg(SR_CNTHCTL_EL2);
		s->cntvoff = arch_read_sysreg(SR_CNTVOFF_EL2);
		s->pmcr = arch_read_sysreg(SR_PMCR_EL0);
	}
	for (unsigned i = 0; i < SYS_N; i++)
		arch_write_sysreg((enum arch_sysreg)(SR_SCTLR_EL1 + i), SYS_GUEST(g->n, i));
	return s_fp(g, x, pc);
}

/* after every kind of guest exit the host finds its own EL1 registers (the virtual timer's
 * CNTV_CTL/CNTV_CVAL included), its MDCR_EL2/CNTHCTL_EL2 and its PMU enable, never the
 * guest's values or KCore's guest traps; the guest's are in its shadow context. Before the
 * fix the host read the guest's timer (CNTV_* were not switched) and ran with the guest's
 * traps and its PMU counters stopped (nothing restored them) */
Test(trap, host_never_sees_a_guests_system_registers)
{
	struct vm vm;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_sys);
	for (unsigned k = 0; k < FP_RUNS; k++) {
		sys_host_set(k);
		int64_t r = run(&vm, 0);
		cr_assert(r == EXIT_TRAP || r == EXIT_IRQ, "run %u: %lld", k, (long long)r);
		unsigned last = G.n - 1;   /* the guest's last entry of this run */
		for (unsigned i = 0; i < SYS_N; i++) {
			enum arch_sysreg sr = (enum arch_sysreg)(SR_SCTLR_EL1 + i);
			cr_assert_neq(arch_read_sysreg(sr), SYS_GUEST(last, i), "run %u: the host reads the guest's %s",
				      k, arch_sysreg_name(sr));
			cr_assert_eq(arch_read_sysreg(sr), SYS_HOST(k, i), "run %u: the host's %s was not restored",
				     k, arch_sysreg_name(sr));
			cr_assert(i < SR_EL1_COUNT && K->shadow[vm.vmid][0].sys[i] == SYS_GUEST(last, i),
				  "run %u: save_vm lost the guest's %s", k, arch_sysreg_name(sr));
		}
		cr_assert_eq(arch_read_sysreg(SR_MDCR_EL2), HOST_MDCR, "run %u: the host runs with MDCR_EL2 %#llx", k,
			     (unsigned long long)arch_read_sysreg(SR_MDCR_EL2));
		cr_assert_eq(arch_read_sysreg(SR_CNTHCTL_EL2), HOST_CNTHCTL, "run %u: CNTHCTL_EL2", k);
		cr_assert_eq(arch_read_sysreg(SR_PMCR_EL0), HOST_PMCR, "run %u: the host's PMCR_EL0", k);
	}
	cr_assert_eq(G.n, FP_RUNS + 1, "SYS64 should have resumed the guest inside one run");
}

/* what the host leaves in the switched registers never reaches the guest: every entry finds
 * the values the guest itself left at its previous exit (the reset values at the first:
 * SCTLR_EL1's, 0 elsewhere, the timer off), and it runs with KCore's traps: debug and PMU
 * registers trapped (MDCR_EL2, the host's HPMN kept), the physical timer trapped (CNTHCTL_EL2
 * EL1PCEN clear), CNTVOFF_EL2 0, the host's PMU counters stopped (PMCR_EL0.E clear). Before
 * the fix the guest read the host's timer and ran with the host's MDCR/CNTHCTL/PMCR */
Test(trap, host_cannot_set_a_guests_system_registers)
{
	struct vm vm;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_sys);
	memset(sys_seen, 0, sizeof(sys_seen));
	for (unsigned k = 0; k < FP_RUNS; k++) {
		sys_host_set(k);
		int64_t r = run(&vm, 0);
		cr_assert(r == EXIT_TRAP || r == EXIT_IRQ, "run %u: %lld", k, (long long)r);
	}
	cr_assert_eq(G.n, FP_RUNS + 1);
	for (unsigned n = 0; n < G.n; n++) {
		const struct sys_seen *s = &sys_seen[n];
		for (unsigned i = 0; i < SYS_N; i++) {
			enum arch_sysreg sr = (enum arch_sysreg)(SR_SCTLR_EL1 + i);
			uint64_t want = n > 0 ? SYS_GUEST(n - 1, i) : sr == SR_SCTLR_EL1 ? 0x00C50078ull : 0;
			cr_assert_eq(s->el1[i], want, "entry %u: the guest found %s = %#llx, not its own %#llx", n,
				     arch_sysreg_name(sr), (unsigned long long)s->el1[i], (unsigned long long)want);
		}
		cr_assert_eq(s->mdcr, (HOST_MDCR & MDCR_HPMN_MASK) | MDCR_TDA | MDCR_TDOSA | MDCR_TDRA | MDCR_TPM | MDCR_TPMCR,
			     "entry %u: the guest ran with MDCR_EL2 %#llx", n, (unsigned long long)s->mdcr);
		cr_assert_eq(s->cnthctl, CNTHCTL_EL1PCTEN, "entry %u: the guest ran with CNTHCTL_EL2 %#llx", n,
			     (unsigned long long)s->cnthctl);
		cr_assert_eq(s->cntvoff, 0, "entry %u: CNTVOFF_EL2 %#llx", n, (unsigned long long)s->cntvoff);
		cr_assert_eq(s->pmcr, HOST_PMCR & ~PMCR_E, "entry %u: the host's PMU counted the guest (PMCR_EL0 %#llx)",
			     n, (unsigned long long)s->pmcr);
	}
}

/* a VM's values never reach the next VM run on the same CPU: VM 1 writes its secret into
 * every switched register and exits to the host, then VM 2's first entry finds the reset
 * values, whatever VM 1 left (before the fix VDISR_EL2, the guest's DISR_EL1 under
 * HCR_EL2.AMO, carried VM 1's value into VM 2: one register per CPU, switched by no one) */
static unsigned s_sys_vm2vm(struct gscript *g, uint64_t *x, uint64_t pc)
{
	(void)x;
	if (g->n < SYS_ENTRIES)
		for (unsigned i = 0; i < SYS_N; i++)
			sys_seen[g->n].el1[i] = arch_read_sysreg((enum arch_sysreg)(SR_SCTLR_EL1 + i));
	if (g->n == 0)
		for (unsigned i = 0; i < SYS_N; i++)
			arch_write_sysreg((enum arch_sysreg)(SR_SCTLR_EL1 + i), SYS_GUEST(7, i));
	return g_irq(pc);
}

Test(trap, a_vms_system_registers_never_reach_the_next_vm)
{
	struct vm a, b;

	boot_vm(&a, META_PFN, VCPU_PFN, BLOCK_PFN);
	boot_vm(&b, META2_PFN, VCPU2_PFN, BLOCK2_PFN);
	script(s_sys_vm2vm);
	memset(sys_seen, 0, sizeof(sys_seen));
	cr_assert_eq(run(&a, 0), EXIT_IRQ);
	cr_assert_eq(run(&b, 0), EXIT_IRQ);
	cr_assert_eq(G.n, 2);
	for (unsigned i = 0; i < SYS_N; i++) {
		enum arch_sysreg sr = (enum arch_sysreg)(SR_SCTLR_EL1 + i);
		uint64_t want = sr == SR_SCTLR_EL1 ? 0x00C50078ull : 0;
		cr_assert_eq(sys_seen[1].el1[i], want, "VM %u found %s = %#llx (VM %u's value %#llx)", b.vmid,
			     arch_sysreg_name(sr), (unsigned long long)sys_seen[1].el1[i], a.vmid,
			     (unsigned long long)SYS_GUEST(7, i));
	}
}

/* the exit syndrome the host gets: at an interrupt exit nothing (ESR/FAR/HPFAR_EL2 still
 * held the last synchronous exception's: here VM 1's PV call that KCore handled without the
 * host, then VM 1's MMIO abort's guest VA), and at an abort only FAR_EL2's page offset, never
 * the guest's virtual address. Before the fix VM 2's IRQ exit carried VM 1's ESR/FAR/HPFAR
 * and an abort the whole guest VA */
#define SECRET_VA (0xFFFF800012345000ull | (G_MMIO_R & 0xFFF))   /* the guest's VA of its MMIO access */
static unsigned s_syndrome(struct gscript *g, uint64_t *x, uint64_t pc)
{
	switch (g->n) {
	case 0:   /* VM 1: a PV call KCore handles (unmapped page: nothing shared) */
		x[0] = SET_DESC;
		x[1] = GUEST_RAM + 77 * PG;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0x77), 0);
	case 1:   /* VM 1: an MMIO read at a secret VA, to the host */
		gtrap(pc, dabt_esr(7, false), G_MMIO_R);
		arch_write_sysreg(SR_FAR_EL2, SECRET_VA);
		return ARCH_EXIT_TRAP;
	case 2:   /* VM 1 again: a PV call (inside KCore), then an IRQ */
		x[0] = SET_DESC;
		x[1] = GUEST_RAM + 77 * PG;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0x55), 0);
	default:  /* an interrupt: ESR/FAR/HPFAR_EL2 untouched */
		return g_irq(pc);
	}
}

Test(trap, exit_syndrome_carries_nothing_stale_nor_the_guest_va)
{
	struct vm a, b;
	struct exitinfo xi;

	boot_vm(&a, META_PFN, VCPU_PFN, BLOCK_PFN);
	boot_vm(&b, META2_PFN, VCPU2_PFN, BLOCK2_PFN);
	script(s_syndrome);
	cr_assert_eq(run(&a, 0), EXIT_TRAP);   /* PV call inside KCore, then the MMIO read */
	xi = exit_of(&a, 0);
	cr_assert_eq(esr_ec(xi.esr), EC_DABT_LOW);
	cr_assert_eq(hpfar_to_ipa(xi.hpfar, xi.far), G_MMIO_R, "the host still gets the IPA");
	cr_assert_eq(xi.far, SECRET_VA & 0xFFF, "the host got FAR %#llx: the guest's VA", (unsigned long long)xi.far);
	cr_assert_eq(run(&a, 0), EXIT_IRQ);    /* PV call inside KCore, then an IRQ */
	xi = exit_of(&a, 0);
	cr_assert(xi.esr == 0 && xi.far == 0 && xi.hpfar == 0,
		  "an IRQ exit carried ESR %#llx FAR %#llx HPFAR %#llx (the PV call's, handled inside KCore)",
		  (unsigned long long)xi.esr, (unsigned long long)xi.far, (unsigned long long)xi.hpfar);
	cr_assert_eq(run(&b, 0), EXIT_IRQ);    /* VM 2: an IRQ at once */
	xi = exit_of(&b, 0);
	cr_assert(xi.esr == 0 && xi.far == 0 && xi.hpfar == 0, "VM 2's IRQ exit carried VM 1's ESR %#llx FAR %#llx",
		  (unsigned long long)xi.esr, (unsigned long long)xi.far);
}

/* a guest's trapped access to a register it may not use (debug, PMU, physical timer, PAuth
 * keys) is refused by KCore without a host exit: a read gives 0 (RAZ), a write is dropped
 * (WI), the PC moves on. Other trapped MSR/MRS (here ACTLR_EL1 under TACR) keep the
 * skip-only handling. Before the fix the MRS left the destination register as it was */
static const struct { unsigned op0, op1, crn, crm, op2; bool refused; const char *name; } sys_probe[] = {
	{ 2, 0, 0, 0, 4, true, "DBGBVR0_EL1" },   { 2, 0, 0, 2, 2, true, "MDSCR_EL1" },
	{ 2, 0, 1, 1, 4, true, "OSLSR_EL1" },     { 3, 3, 9, 12, 0, true, "PMCR_EL0" },
	{ 3, 3, 9, 13, 0, true, "PMCCNTR_EL0" },  { 3, 3, 14, 8, 0, true, "PMEVCNTR0_EL0" },
	{ 3, 0, 9, 14, 1, true, "PMINTENSET_EL1" }, { 3, 3, 14, 2, 1, true, "CNTP_CTL_EL0" },
	{ 3, 3, 14, 2, 2, true, "CNTP_CVAL_EL0" }, { 3, 0, 2, 1, 0, true, "APIAKEYLO_EL1" },
	{ 3, 0, 2, 3, 1, true, "APGAKEYHI_EL1" }, { 3, 0, 13, 0, 7, true, "SCXTNUM_EL1" },
	{ 3, 3, 13, 0, 7, true, "SCXTNUM_EL0" },  { 3, 0, 1, 0, 1, false, "ACTLR_EL1" },
	{ 3, 3, 13, 0, 2, false, "TPIDR_EL0" /* not trapped; a stray trap keeps skip-only */ },
};
#define N_PROBE (sizeof(sys_probe) / sizeof(sys_probe[0]))
#define PROBE_RT 9

static unsigned s_probe(struct gscript *g, uint64_t *x, uint64_t pc)
{
	unsigned n = g->n;

	if (n >= 2 * N_PROBE)
		return g_irq(pc);
	/* even entries: MRS into x9 (holding the guest's own value); odd: MSR from x9 */
	x[PROBE_RT] = 0x600D000000000000ull | n;
	return gtrap(pc, esr_make(EC_SYS64, sys64_iss(sys_probe[n / 2].op0, sys_probe[n / 2].op1,
						       sys_probe[n / 2].crn, sys_probe[n / 2].crm,
						       sys_probe[n / 2].op2, PROBE_RT, n % 2 == 0)), 0);
}

Test(trap, guest_refused_registers_read_as_zero_and_ignore_writes)
{
	struct vm vm;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_probe);
	cr_assert_eq(run(&vm, 0), EXIT_IRQ);
	cr_assert_eq(G.n, 2 * N_PROBE + 1, "every trapped access is handled inside KCore");
	for (unsigned n = 1; n <= 2 * N_PROBE; n++) {
		unsigned p = (n - 1) / 2;
		uint64_t before = 0x600D000000000000ull | (n - 1);
		uint64_t want = (n - 1) % 2 == 0 && sys_probe[p].refused ? 0 : before;
		cr_assert_eq(G.obs[n].x[PROBE_RT], want, "%s %s: x9 = %#llx after it, want %#llx",
			     (n - 1) % 2 == 0 ? "mrs" : "msr", sys_probe[p].name,
			     (unsigned long long)G.obs[n].x[PROBE_RT], (unsigned long long)want);
		cr_assert_eq(G.obs[n].pc, G.obs[n - 1].pc + 4, "%s: the PC moves past the access", sys_probe[p].name);
	}
	cr_assert_eq(K->cpu[0].traps[KC_T_SYS64], 2 * N_PROBE);
}

/* PAuth (FEAT_PAuth, the hosted CPU model's default as QEMU's -cpu max): the ID registers
 * advertise it, so a guest runs with HCR_EL2.API = APK = 1 and its own keys: its PAuth
 * instructions execute (the model: a PAuth instruction traps, EC 0x09, only with API clear,
 * as the hardware) and its keys survive its exits, while the host, which set its own keys
 * before VCPU_RUN, finds them again after it. Before the fix the guest ran with API = APK = 0:
 * its first PACIASP was UNDEFINED (a Linux guest died), and the keys were not switched */
#define PAC_VBAR 0x80004000ull
#define PAC_GUEST(i) (0x9AC6000000000000ull | (uint64_t)(i))
#define PAC_HOST(i)  (0x9AC4000000000000ull | (uint64_t)(i))
#define PAC_KEYS 10
static unsigned s_pac(struct gscript *g, uint64_t *x, uint64_t pc)
{
	(void)x;
	if (g->n == 0) {
		arch_write_sysreg(SR_VBAR_EL1, PAC_VBAR);
		for (unsigned i = 0; i < PAC_KEYS; i++)
			arch_write_sysreg((enum arch_sysreg)(SR_APIAKEYLO_EL1 + i), PAC_GUEST(i));
	}
	if (g->n < 4) {
		/* what the guest finds in its keys at this entry */
		for (unsigned i = 0; i < PAC_KEYS; i++)
			if (arch_read_sysreg((enum arch_sysreg)(SR_APIAKEYLO_EL1 + i)) == PAC_GUEST(i))
				g->arg[g->n]++;
		g->arg[4 + g->n] = arch_read_sysreg(SR_HCR_EL2);
	}
	switch (g->n) {
	case 0:
	case 2:
		/* pacia x1, x2 with EnIA set: traps only with HCR_EL2.API = 0 */
		if (!(arch_read_sysreg(SR_HCR_EL2) & HCR_API)) {
			g->arg[8] = pc;
			return gtrap(pc, esr_make(EC_PAC, 0), 0);
		}
		return g_irq(pc + 4);   /* executed: the next instruction, then an interrupt */
	case 1:
	case 3:
		g->arg[9] = arch_read_sysreg(SR_SPSR_EL2);
		g->arg[10] = arch_read_sysreg(SR_ESR_EL1);
		g->arg[11] = arch_read_sysreg(SR_ELR_EL1);
		g->arg[12] = arch_read_sysreg(SR_SPSR_EL1);
		return g_irq(pc);
	default:
		return g_irq(pc);
	}
}

static void pac_host_set(unsigned k)
{
	for (unsigned i = 0; i < PAC_KEYS; i++)
		arch_write_sysreg((enum arch_sysreg)(SR_APIAKEYLO_EL1 + i), PAC_HOST(16 * k + i));
}

static void pac_host_check(unsigned k)
{
	for (unsigned i = 0; i < PAC_KEYS; i++) {
		enum arch_sysreg sr = (enum arch_sysreg)(SR_APIAKEYLO_EL1 + i);
		cr_assert_eq(arch_read_sysreg(sr), PAC_HOST(16 * k + i), "run %u: the host's %s is %#llx", k,
			     arch_sysreg_name(sr), (unsigned long long)arch_read_sysreg(sr));
	}
}

Test(trap, guest_pauth_runs_with_its_own_keys)
{
	struct vm vm;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	cr_assert(K->host_hcr & HCR_API && K->host_hcr & HCR_APK, "the host uses its keys without a trap");
	script(s_pac);
	for (unsigned k = 0; k < 2; k++) {
		pac_host_set(k);
		cr_assert_eq(run(&vm, 0), EXIT_IRQ, "run %u", k);
		pac_host_check(k);   /* the guest's keys never reach the host; its own are back */
	}
	cr_assert_eq(G.n, 2, "no PAC trap: one guest entry per run (entries: %u)", G.n);
	cr_assert_eq(G.obs[1].pc, G.obs[0].pc + 4, "the PAuth instruction executed, no UNDEFINED");
	cr_assert_eq(G.arg[0], PAC_KEYS, "the guest set its keys at its first entry");
	cr_assert_eq(G.arg[1], PAC_KEYS, "the guest's keys survive its exit and the host's run (%llu of 10)",
		     (unsigned long long)G.arg[1]);
	for (unsigned n = 0; n < 2; n++)
		cr_assert_eq(G.arg[4 + n] & (HCR_API | HCR_APK), HCR_API | HCR_APK, "entry %u: HCR_EL2 %#llx", n,
			     (unsigned long long)G.arg[4 + n]);
	for (unsigned i = 0; i < PAC_KEYS; i++)
		cr_assert_eq(K->shadow[vm.vmid][0].sys[SR_APIAKEYLO_EL1 + i - SR_EL1_FIRST], PAC_GUEST(i),
			     "save_vm keeps the guest's key %u", i);
}

/* on a CPU without PAuth (the hosted model with hosted_set_pauth(false)) the guest runs with
 * API = APK = 0, no key is touched, and a trapped PAuth instruction (EC 0x09) is UNDEFINED for
 * the guest: KCore takes the exception to the guest's EL1 (ESR_EL1 EC 0, ELR_EL1 = the
 * instruction, SPSR_EL1 = its PSTATE, PC = VBAR_EL1 + 0x200 from EL1h) without a host exit */
Test(trap, guest_pauth_instruction_is_undefined_without_pauth)
{
	struct vm vm;

	hosted_set_pauth(false);
	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_pac);
	cr_assert_eq(run(&vm, 0), EXIT_IRQ);
	cr_assert_eq(G.n, 2, "the PAC trap is handled inside KCore (entries: %u)", G.n);
	cr_assert_eq(G.arg[4] & (HCR_API | HCR_APK), 0, "no PAuth: API/APK clear");
	cr_assert_eq(G.arg[0], 0, "no PAuth: the key registers read 0");
	cr_assert_eq(G.obs[1].pc, PAC_VBAR + 0x200, "the guest resumes at %#llx, not its sync vector",
		     (unsigned long long)G.obs[1].pc);
	cr_assert_eq(G.arg[9], PSTATE_FAULT_BITS_64, "EL1h, DAIF masked");
	cr_assert_eq(G.arg[10], esr_make(EC_UNKNOWN, 0), "ESR_EL1 %#llx", (unsigned long long)G.arg[10]);
	cr_assert_eq(G.arg[11], G.arg[8], "ELR_EL1: the PAC instruction");
	cr_assert_eq(G.arg[12], PSTATE_FAULT_BITS_64, "SPSR_EL1: the guest's PSTATE at the PAC");
}

Test(trap, vcpu_run_exit_cycle)
{
	struct vm vm;
	struct exitinfo xi;
	const uint64_t pfn = GPAGE(0);
	const uint64_t hv = VCPU_PFN;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_cycle);
	hstore(pfn * PG + 8, 0x600DDA7A);   /* the host fills the page it will give */
	cr_assert_eq(walk(HL_HOSTVISOR, pfn * PG).pte, pfn * PG | KERNEL);

	/* run 1: the first run resets the vCPU at the boot PC; a stage-2 fault exits */
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.n, 1);
	cr_assert_eq(G.obs[0].pc, BOOT_PC);
	cr_assert_eq(G.obs[0].vmid, vm.vmid);
	cr_assert_eq(G.obs[0].vcpu, 0);
	cr_assert_eq(G.obs[0].vttbr, hl_pt_root_pa_of(E, vm.vmid) | ((uint64_t)vm.vmid << 48));
	cr_assert_eq(G.obs[0].hcr & HCR_HYPSEC_VM_FLAGS, HCR_HYPSEC_VM_FLAGS);
	cr_assert_eq(G.obs[0].nheld, 0, "the guest ran while KCore held a lock");
	for (unsigned i = 0; i < 31; i++)
		cr_assert_eq(G.obs[0].x[i], 0, "x%u not reset on the first run", i);
	xi = exit_of(&vm, 0);
	cr_assert_eq(xi.code, EXIT_TRAP);
	cr_assert_eq(esr_ec(xi.esr), EC_DABT_LOW);
	cr_assert_eq(hpfar_to_ipa(xi.hpfar, xi.far), G_PAGE);
	cr_assert_eq(xi.flags & FSC_PENDING, FSC_PENDING);
	cr_assert_eq(xi.dirty, 0);
	cr_assert_eq(K->shadow[vm.vmid][0].flags & FSC_PENDING, FSC_PENDING);
	cr_assert_eq(arch_read_sysreg(SR_VTTBR_EL2), hl_pt_root_pa_of(E, HL_HOSTVISOR), "host VTTBR not restored");
	cr_assert_eq(arch_read_sysreg(SR_HCR_EL2), HCR_HOST_NVHE_FLAGS | HCR_API | HCR_APK);   /* the host keeps its PAuth keys usable */
	cr_assert_eq(arch_read_sysreg(SR_TPIDR_EL2), 0);
	cr_assert_eq(K->cpu[0].cur_vmid, HL_HOSTVISOR);
	cr_assert_eq(s2p(pfn).owner, HL_HOSTVISOR, "mapped before the host answered");

	/* the host answers the fault with one of its pages */
	hstore(HV_FIELD(hv, 0, fault_addr), G_PAGE);
	hstore(HV_FIELD(hv, 0, fault_pte), pfn * PG | KERNEL);
	hstore(HV_FIELD(hv, 0, fault_level), 3);

	/* run 2: restore_vm maps it; the faulting instruction is retried; MMIO read exit */
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.n, 2);
	cr_assert_eq(G.obs[1].pc, BOOT_PC, "PC moved over a stage-2 fault");
	cr_assert_eq(G.obs[1].x[3], 0x77);
	cr_assert_eq(G.obs[1].aux[0], pfn);
	cr_assert_eq(G.obs[1].aux[1], 3);
	cr_assert_eq(G.obs[1].aux[2], HL_OK);
	cr_assert_eq(G.obs[1].aux[3], 0x600DDA7A, "the page's content did not go with it");
	struct hl_pt_entry ent = walk(vm.vmid, G_PAGE);
	cr_assert_eq(ent.level, 3);
	cr_assert_eq(ent.pfn, pfn);
	cr_assert_eq(ent.pte, pfn * PG | KERNEL);
	cr_assert_eq(s2p(pfn).owner, vm.vmid);
	cr_assert_eq(s2p(pfn).count, 0);
	cr_assert_eq(s2p(pfn).gfn, G_PAGE / PG);
	cr_assert_eq(walk(HL_HOSTVISOR, pfn * PG).pte, GUEST, "the host kept its mapping of a VM page");
	cr_assert_eq(K->shadow[vm.vmid][0].flags & FSC_PENDING, 0);
	xi = exit_of(&vm, 0);
	cr_assert_eq(xi.code, EXIT_TRAP);
	cr_assert_eq(esr_ec(xi.esr), EC_DABT_LOW);
	cr_assert_eq(hpfar_to_ipa(xi.hpfar, xi.far), G_MMIO_R);
	cr_assert_eq(xi.dirty, (1ull << 7) | DIRTY_PC, "dirty %#llx", (unsigned long long)xi.dirty);
	cr_assert_eq(xi.flags & FSC_PENDING, 0, "an MMIO fault is not a pending stage-2 fault");
	/* the host emulates the read */
	hstore(HV_FIELD(hv, 0, regs) + 7 * 8, 0x1122334455667788ull);
	hstore(HV_FIELD(hv, 0, regs) + 8 * 8, 0xBAD);   /* not dirty: must not be taken */

	/* run 3: x7 = the host's value, PC + 4; SYS64 handled inside KCore; WFx exits */
	uint64_t sys64 = K->cpu[0].traps[KC_T_SYS64];
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.n, 4);
	cr_assert_eq(G.obs[2].pc, BOOT_PC + 4);
	cr_assert_eq(G.obs[2].x[7], 0x1122334455667788ull);
	cr_assert_eq(G.obs[2].x[8], 0);
	cr_assert_eq(G.obs[3].pc, BOOT_PC + 8, "SYS64 did not skip the instruction");
	cr_assert_eq(K->cpu[0].traps[KC_T_SYS64], sys64 + 1);
	xi = exit_of(&vm, 0);
	cr_assert_eq(esr_ec(xi.esr), EC_WFX, "SYS64 exited to the host");
	cr_assert_eq(xi.dirty, DIRTY_PC);

	/* run 4: WFx's PC + 4; an IRQ exits with code IRQ and no dirty state */
	cr_assert_eq(run(&vm, 0), EXIT_IRQ);
	cr_assert_eq(G.n, 5);
	cr_assert_eq(G.obs[4].pc, BOOT_PC + 12);
	xi = exit_of(&vm, 0);
	cr_assert_eq(xi.code, EXIT_IRQ);
	cr_assert_eq(xi.dirty, 0);

	/* run 5: PC where the interrupt left it; an unknown PV call goes to the host */
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.obs[5].pc, BOOT_PC + 12);
	xi = exit_of(&vm, 0);
	cr_assert_eq(esr_ec(xi.esr), EC_HVC64);
	cr_assert_eq(xi.value, 0x99000);
	cr_assert_eq(xi.dirty, 0, "ELR is past the HVC already: no PC skip (issue 9.8)");

	/* run 6: past the hvc; an MMIO write carries Rt's value to the host */
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.obs[6].pc, BOOT_PC + 16);
	cr_assert_eq(G.obs[6].x[0], 0x99000, "x0 of an unknown PV call was changed");
	xi = exit_of(&vm, 0);
	cr_assert_eq(xi.value, 0xCAFEF00DBEEFull);
	cr_assert_eq(xi.dirty, DIRTY_PC);
	cr_assert_eq(hpfar_to_ipa(xi.hpfar, xi.far), G_MMIO_W);

	/* run 7: PSCI SYSTEM_OFF powers the VM off */
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(G.obs[7].pc, BOOT_PC + 20);
	cr_assert_eq(info(vm.vmid)->state, HL_VM_POWEROFF);
	cr_assert_eq(info(vm.vmid)->vcpu_state[0], HL_VCPU_READY);
	xi = exit_of(&vm, 0);
	cr_assert_eq(xi.value, SYSTEM_OFF);
	cr_assert_eq(K->cpu[0].traps[KC_T_POWEROFF], 1);
	cr_assert_eq(K->cpu[0].traps[KC_T_VCPU_RUN], 7);
	cr_assert_eq(K->cpu[0].traps[KC_T_WFX], 1);
	cr_assert_eq(K->cpu[0].traps[KC_T_IRQ], 1);
	cr_assert_eq(K->cpu[0].traps[KC_T_GUEST_S2], 3);
	cr_assert_eq(th_replay_matches(E), 0);

	/* a powered-off VM never runs again: set_vcpu_active halts the CPU that asks */
	unsigned n = G.n;
	cr_assert_eq(hvc(HVC_VCPU_RUN, vm.vmid, 1, 0, 0, 0), KC_EBUSY);
	cr_assert(hl_cpu_halted(E, 0));
	cr_assert_eq(G.n, n, "the guest of a powered-off VM ran");
	cr_assert_eq(info(vm.vmid)->vcpu_state[1], HL_VCPU_READY);

	/* CPU 1 goes on: the host takes the VM's pages back */
	on_cpu(1);
	cr_assert_eq(hvc(HVC_CLEAR_VM_S2_RANGE, vm.vmid, GUEST_RAM, 16 * PG, 0, 0), 0);
	cr_assert_eq(s2p(pfn).owner, HL_HOSTVISOR);
	cr_assert_eq(s2p(pfn).gfn, pfn + HOST_OFF);
	cr_assert_eq(hload(pfn * PG + 8), 0, "the VM's data leaked back to the host");
	cr_assert_eq(walk(HL_HOSTVISOR, pfn * PG).pte, pfn * PG | KERNEL);
	cr_assert_eq(th_replay_matches(E), 0);
}

/* a malformed or out-of-range answer to a stage-2 fault changes nothing; the guest faults again */
static unsigned s_refault(struct gscript *g, uint64_t *x, uint64_t pc)
{
	return gtrap(pc, dabt_esr(2, false), G_PAGE);
}

Test(trap, vcpu_run_bad_fault_answer_changes_nothing)
{
	struct vm vm;
	struct snap s;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_refault);
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	/* fault_addr below PAGE_SIZE: not applied (post_handle_shadow_s2pt_fault) */
	hstore(HV_FIELD(VCPU_PFN, 0, fault_addr), 0x800);
	hstore(HV_FIELD(VCPU_PFN, 0, fault_pte), GPAGE(1) * PG | KERNEL);
	hstore(HV_FIELD(VCPU_PFN, 0, fault_level), 3);
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(s2p(GPAGE(1)).owner, HL_HOSTVISOR);
	cr_assert_eq(G.obs[1].pc, BOOT_PC);
	cr_assert_eq(K->shadow[vm.vmid][0].flags & FSC_PENDING, FSC_PENDING);
	/* fault_addr beyond 2^48 */
	hstore(HV_FIELD(VCPU_PFN, 0, fault_addr), 1ull << 48);
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(s2p(GPAGE(1)).owner, HL_HOSTVISOR);
	/* a pte naming a page that is not RAM: assign refuses, nothing moves */
	hstore(HV_FIELD(VCPU_PFN, 0, fault_addr), G_PAGE);
	hstore(HV_FIELD(VCPU_PFN, 0, fault_pte), 0x5000 | KERNEL);
	snap_take(&s);
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(walk(vm.vmid, G_PAGE).level, 0);
	for (unsigned o = 0; o < HL_ID_END; o++)
		if (o != INFO(vm.vmid))   /* the run's own OVM_ACTIVE / OVM_INACTIVE */
			cr_assert_eq(th_nrecs(E, o), s.n[o], "object %u got a record", o);
	cr_assert_eq(G.n, 4);
	cr_assert(!hl_cpu_halted(E, 0));
	cr_assert_eq(th_replay_matches(E), 0);
}

/* a second vCPU has its own shadow context and its own reset */
static unsigned s_two_vcpus(struct gscript *g, uint64_t *x, uint64_t pc)
{
	x[9] = 0x900 + g->n;
	return gtrap(pc, esr_make(EC_WFX, 0), 0);
}

Test(trap, vcpu_run_two_vcpus_are_separate)
{
	struct vm vm;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_two_vcpus);
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	cr_assert_eq(run(&vm, 1), EXIT_TRAP);
	cr_assert_eq(run(&vm, 1), EXIT_TRAP);
	cr_assert_eq(G.obs[0].pc, BOOT_PC);
	cr_assert_eq(G.obs[1].pc, BOOT_PC + 4);
	cr_assert_eq(G.obs[1].x[9], 0x900);
	cr_assert_eq(G.obs[2].vcpu, 1);
	cr_assert_eq(G.obs[2].pc, BOOT_PC, "vCPU 1 did not start at its boot PC");
	cr_assert_eq(G.obs[2].x[9], 0, "vCPU 1 saw vCPU 0's registers");
	cr_assert_eq(G.obs[3].pc, BOOT_PC + 4);
	cr_assert_eq(G.obs[3].x[9], 0x902);
	cr_assert_eq(K->shadow[vm.vmid][1].vmpidr, (1ull << 31) | 1);
}

Test(trap, vcpu_run_boot_pc_outside_image_halts)
{
	struct vm vm;

	register_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN, LOAD_ADDR + PMD + 0x100);
	load_and_verify(&vm, SIG_GOOD);
	cr_assert_eq(vm.verified, 1);
	script(s_two_vcpus);
	on_cpu(1);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vm.vmid, 0, 0, 0, 0), KC_EBUSY);
	HOLDS_NOTHING(1);   /* hl_cpu_halt: holding nothing */
	cr_assert_eq(G.n, 0, "a guest ran outside its image");
}

/* ---- PV grant / revoke through the VM exit path ------------------------------------------------ */
static unsigned s_share(struct gscript *g, uint64_t *x, uint64_t pc)
{
	const uint64_t pfn = g->arg[0];
	struct hl_s2page p = hl_s2page_get(E->st, pfn);

	g->obs[g->n].aux[0] = p.count;
	switch (g->n) {
	case 0:
		return gtrap(pc, dabt_esr(1, false), G_PAGE);
	case 1: case 2: /* grant G_PAGE twice */
		x[0] = SET_DESC;
		x[1] = G_PAGE + 0x10;   /* any address inside the page */
		x[2] = 8;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
	case 3: /* grant a page it has not got: nothing; a huge size: refused */
		x[0] = SET_DESC;
		x[1] = GUEST_RAM + 100 * PG;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
	case 4:
		x[0] = SET_DESC;
		x[1] = G_PAGE;
		x[2] = 1ull << 40;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
	case 5:
		return g_irq(pc);
	case 6: case 7: /* revoke twice */
		x[0] = UNSET_DESC;
		x[1] = G_PAGE;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
	case 8: /* revoke below 0: nothing */
		x[0] = UNSET_DESC;
		x[1] = G_PAGE;
		x[2] = PG;
		return gtrap(pc + 4, esr_make(EC_HVC64, 0), 0);   /* ELR: past the HVC */
	default:
		return g_irq(pc);
	}
}

Test(trap, pv_grant_and_revoke)
{
	struct vm vm;
	const uint64_t pfn = GPAGE(2);
	struct snap s;

	boot_vm(&vm, META_PFN, VCPU_PFN, BLOCK_PFN);
	script(s_share);
	G.arg[0] = pfn;
	hstore(pfn * PG, 0x5EED);   /* the host had the page mapped before it gave it away */
	cr_assert_eq(run(&vm, 0), EXIT_TRAP);
	hstore(HV_FIELD(VCPU_PFN, 0, fault_addr), G_PAGE);
	hstore(HV_FIELD(VCPU_PFN, 0, fault_pte), pfn * PG | KERNEL);
	hstore(HV_FIELD(VCPU_PFN, 0, fault_level), 3);
	uint64_t pv = K->cpu[0].traps[KC_T_PV];

	/* run 2: the fault is answered; two grants, a grant of nothing, a refused one, IRQ */
	cr_assert_eq(run(&vm, 0), EXIT_IRQ);
	cr_assert_eq(G.n, 6);
	cr_assert_eq(G.obs[1].aux[0], 0);
	cr_assert_eq(G.obs[2].aux[0], 1);
	cr_assert_eq(G.obs[2].x[0], 0, "grant's result in x0");
	cr_assert_eq(G.obs[2].pc, G.obs[1].pc + 4);
	cr_assert_eq(G.obs[3].aux[0], 2);
	cr_assert_eq(G.obs[4].aux[0], 2);
	cr_assert_eq(G.obs[4].x[0], 0);
	cr_assert_eq(G.obs[5].x[0], (uint64_t)KC_EINVAL, "a grant of 2^40 bytes was not refused");
	cr_assert_eq(G.obs[5].aux[0], 2);
	cr_assert_eq(K->cpu[0].traps[KC_T_PV], pv + 4, "PV calls exited to the host");
	cr_assert_eq(s2p(pfn).count, 2);
	cr_assert_eq(s2p(pfn).owner, vm.vmid);

	/* the host may now map the shared page (count > 0) and read it */
	cr_assert_eq(walk(HL_HOSTVISOR, pfn * PG).pte, GUEST);
	hload(pfn * PG);
	cr_assert_eq(walk(HL_HOSTVISOR, pfn * PG).pte, pfn * PG | KERNEL);

	/* run 3: revoke to 1 (host keeps it), revoke to 0 (host entry -> PAGE_GUEST), one more: nothing */
	cr_assert_eq(run(&vm, 0), EXIT_IRQ);
	cr_assert_eq(G.obs[7].aux[0], 1);
	cr_assert_eq(G.obs[8].aux[0], 0);
	cr_assert_eq(G.obs[9].aux[0], 0);
	cr_assert_eq(s2p(pfn).count, 0);
	cr_assert_eq(s2p(pfn).owner, vm.vmid);
	cr_assert_eq(walk(HL_HOSTVISOR, pfn * PG).pte, GUEST, "the host kept a revoked page");
	cr_assert_eq(walk(vm.vmid, G_PAGE).pfn, pfn, "the VM lost its page");
	snap_take(&s);
	(void)s;
	cr_assert_eq(th_replay_matches(E), 0);

	/* the host touching it now is a forbidden access: halt (CPU 1) */
	on_cpu(1);
	uint64_t v;
	cr_assert(!hp_host_load(P, 1, pfn * PG, 8, &v));
	HOLDS(1, S2P);   /* tr_map_host's halt branch strands s2page */
}

/* ============================================================================================ */
/* no lock held at trap exit                                                                    */
/* ============================================================================================ */
static int child_status(bool hold)
{
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct hl_step st;
		struct trap_frame f;

		hp_enter_cpu(P, 0);
		if (hold) {
			/* a step that takes the core lock and is never ended */
			if (hl_step_begin(&st, E, 0, HL_EV_NONE) != 0 || hl_step_lock(&st, HL_CORE_ID) != 0)
				_exit(3);
			if (!hl_engine_held_by(E, 0, HL_CORE_ID) || hl_engine_nheld(E, 0) != 1)
				_exit(4);
		}
		memset(&f, 0, sizeof(f));
		f.x[0] = 99;   /* unknown call: handled without touching the engine */
		f.esr = esr_make(EC_HVC64, 0);
		(void)kcore_host_trap(K, &f);
		_exit(f.x[0] == (uint64_t)KC_ENOSYS ? 0 : 5);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

Test(trap, trap_exit_with_a_lock_held_aborts)
{
	int st = child_status(true);
	cr_assert(WIFSIGNALED(st), "the child exited (status %d) instead of aborting",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	cr_assert_eq(WTERMSIG(st), SIGABRT);
	/* the control: the same trap without the lock returns normally */
	st = child_status(false);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 0);
}
