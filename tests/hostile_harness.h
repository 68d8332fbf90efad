/*
 * hostile_harness.h - the hostile-host harness shared by test_hostile.c and test_redteam.c:
 * one engine + KCore + hosted platform per test, hypercalls and host memory writes from a
 * chosen CPU, scripted guests, and helpers that drive a VM to the states the attacks need.
 * Included by exactly one translation unit per test program (its state is file-static).
 */
#ifndef HOSTILE_HARNESS_H
#define HOSTILE_HARNESS_H

/* the including file brings the headers (helpers.h has no include guard) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

#define PG              4096ull
#define PMD             0x200000ull
#define KERNEL          0x7FFull                 /* C PAGE_S2_KERNEL */
#define HOST_OFF        1000000000ull            /* SMMU_HOST_OFFSET */
#define INV32           0xFFFFFFFFu
#define REMAP_START     0x2000000ull
#define REMAP_END       0x4000000ull
#define RAM_END         (HL_RAM_BASE + HL_RAM_SIZE)
#define LAST_PFN        (RAM_END / PG - 1)
#define SYSTEM_OFF      0x84000008ull
#define EXIT_TRAP       2u
#define FSC_PENDING     (1ull << 1)
#define SMMU1_BANKS     (HL_SMMU_NUM_CB / 2)     /* SMMU 1 has half of SMMU 0's banks */

#define S2P             HL_S2PAGE_ID
#define SPT             HL_SPT_ID
#define SMMU            HL_SMMU_ID
#define NPT(v)          (HL_NPT_ID + (unsigned)(v))
#define INFO(v)         (HL_INFO_ID + (unsigned)(v))

#define META_PFN        th_pfn(16)     /* signature at +64 */
#define VCPU_PFN        th_pfn(17)     /* struct host_vcpu of vCPU v at +512*v */
#define GPAGE(i)        th_pfn(200 + (i))    /* pages the host gives to guests (i < 100) */
#define BLOCK_PFN       th_pfn(1024)   /* 2 MiB-aligned image block */
#define FREE_BLOCK_PFN  th_pfn(2048)   /* 2 MiB-aligned block the host gives as a level-2 answer */
#define LOAD_ADDR       0x80000000ull
#define BOOT_PC         (LOAD_ADDR + 0x100)
#define IMG_BYTES       8192u
#define GUEST_RAM       0x40000000ull
#define G_PAGE          (GUEST_RAM + 5 * PG)
#define G_BLOCK         (GUEST_RAM + 4 * PMD)   /* a 2 MiB-aligned guest region */

/* ---- fixture ------------------------------------------------------------------------------- */
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

static int64_t hvc(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, uint64_t x4, uint64_t x5)
{
	int64_t r = hp_hvc(P, CPU, x0, x1, x2, x3, x4, x5);
	if (!hl_cpu_halted(E, (int)CPU))
		cr_assert_eq(hl_engine_nheld(E, (int)CPU), 0, "cpu %u returned from a trap holding a lock", CPU);
	return r;
}

static void hstore(uint64_t pa, uint64_t v)
{
	cr_assert(hp_host_store(P, CPU, pa, 8, v), "host store at %#llx failed", (unsigned long long)pa);
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

static struct hl_s2page s2p(uint64_t pfn) { return hl_s2page_get(E->st, pfn); }

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

/* ---- "nothing changed" ------------------------------------------------------------------------ */
/* a hypercall the host should not get through: the error in x0, nothing changed anywhere,
 * no CPU halted */
#define REFUSED(want, x0, x1, x2, x3, x4, x5)                                                      \
	do {                                                                                       \
		struct th_snap _s;                                                                 \
		th_snap_take(E, K, &_s);                                                           \
		int64_t _r = hvc((x0), (x1), (x2), (x3), (x4), (x5));                              \
		cr_assert_eq(_r, (int64_t)(want), "line %d: hvc %llu returned %lld, want %lld",     \
			     __LINE__, (unsigned long long)(x0), (long long)_r, (long long)(want));   \
		cr_assert_eq(th_snap_diff(E, K, &_s), 0, "line %d: hvc %llu changed state", __LINE__, \
			     (unsigned long long)(x0));                                            \
		th_snap_free(&_s);                                                                 \
	} while (0)

/* ---- the scripted guest ------------------------------------------------------------------------ */
static unsigned G_N;
static uint64_t G_FAULT_IPA;

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

/* every entry: a stage-2 translation fault at G_FAULT_IPA (the host must map something) */
static unsigned g_fault(void *arg, uint64_t *x)
{
	(void)arg;
	(void)x;
	G_N++;
	return gtrap(arch_read_sysreg(SR_ELR_EL2), dabt_esr(2, false), G_FAULT_IPA);
}

static unsigned g_poweroff(void *arg, uint64_t *x)
{
	(void)arg;
	G_N++;
	x[0] = SYSTEM_OFF;
	return gtrap(arch_read_sysreg(SR_ELR_EL2) + 4, esr_make(EC_HVC64, 0), 0);
}

/* ---- the boot protocol, through hypercalls --------------------------------------------------------- */
static uint64_t hv_pa(unsigned v) { return VCPU_PFN * PG + v * 512ull; }
#define HV_FIELD(v, field) (hv_pa(v) + offsetof(struct host_vcpu, field))

/* REGISTER_KVM (KCore key 0) + 2 vCPUs: the VM is READY */
static uint32_t register_vm(void)
{
	int64_t vmid = hvc(HVC_REGISTER_KVM, 0, 0xFFFF0000ABCD0000ull, 0, 0, 0);
	cr_assert(vmid >= 1 && vmid <= HL_MAX_VM, "REGISTER_KVM returned %lld", (long long)vmid);
	for (unsigned v = 0; v < 2; v++) {
		hstore(HV_FIELD(v, boot_pc), BOOT_PC);
		cr_assert_eq(hvc(HVC_REGISTER_VCPU, (uint64_t)vmid, v, hv_pa(v), 0, 0), 0);
	}
	return (uint32_t)vmid;
}

/* a signed image, SET_BOOT_INFO, REMAP_VM_IMAGE, VERIFY: the VM is VERIFIED */
static void verify_vm(uint32_t vmid)
{
	static uint8_t img[IMG_BYTES];
	uint8_t sig[64];

	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 13 + vmid * 7);
	hwrite(BLOCK_PFN * PG, img, IMG_BYTES);
	cr_assert_eq(hl_testkey_sign_image(sig, img, IMG_BYTES), 0);
	hwrite(META_PFN * PG + 64, sig, 64);
	cr_assert_eq(hvc(HVC_SET_BOOT_INFO, vmid, LOAD_ADDR, IMG_BYTES, META_PFN * PG + 64, 0), 0);
	for (unsigned i = 0; i < IMG_BYTES / PG; i++)
		cr_assert_eq(hvc(HVC_REMAP_VM_IMAGE, vmid, BLOCK_PFN + i, 0, 0, 0), 0);
	cr_assert_eq(hvc(HVC_VERIFY_VM_IMAGE, vmid, 0, 0, 0, 0), 1);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_VERIFIED);
}

static uint32_t boot_vm(void)
{
	uint32_t vmid = register_vm();
	verify_vm(vmid);
	return vmid;
}

/* VCPU_RUN of vCPU v; the guest faults at `ipa` */
static void run_faulting(uint32_t vmid, unsigned v, uint64_t ipa)
{
	G_FAULT_IPA = ipa;
	hosted_set_guest_runner(g_fault, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, v, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(K->shadow[vmid][v].flags & FSC_PENDING, FSC_PENDING);
}

/* the host's answer to vCPU v's pending fault, applied by the next VCPU_RUN */
static void answer(unsigned v, uint64_t addr, uint64_t pte, uint64_t level)
{
	hstore(HV_FIELD(v, fault_addr), addr);
	hstore(HV_FIELD(v, fault_pte), pte);
	hstore(HV_FIELD(v, fault_level), level);
}

/* the answer is refused: VCPU_RUN changes nothing but its own vminfo records and the exit
 * information in the host's vcpu struct; the guest faults again; no CPU halts */
static void answer_refused(uint32_t vmid, unsigned v, uint64_t addr, uint64_t pte, uint64_t level)
{
	struct th_snap s;
	const unsigned objs[] = { INFO(vmid) };
	const uint64_t pfns[] = { VCPU_PFN };
	unsigned n = G_N;

	answer(v, addr, pte, level);
	th_snap_take(E, K, &s);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, v, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(G_N, n + 1, "the guest did not run");
	cr_assert_eq(th_snap_diff_except(E, K, &s, objs, 1, pfns, 1), 0, "a refused fault answer changed state");
	cr_assert_eq(th_nrecs(E, INFO(vmid)), s.nrec[INFO(vmid)] + 2, "only OVM_ACTIVE and OVM_INACTIVE");
	cr_assert_eq(hl_state_obj_digest(E->st, INFO(vmid)), s.dig[INFO(vmid)]);
	th_snap_free(&s);
}

static void answer_applied(uint32_t vmid, unsigned v, uint64_t addr, uint64_t pte, uint64_t level)
{
	answer(v, addr, pte, level);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, v, 0, 0, 0), EXIT_TRAP);
	cr_assert(!hl_cpu_halted(E, (int)CPU));
}

static void poweroff(uint32_t vmid)
{
	hosted_set_guest_runner(g_poweroff, NULL);
	cr_assert_eq(hvc(HVC_VCPU_RUN, vmid, 0, 0, 0, 0), EXIT_TRAP);
	cr_assert_eq(E->st->info[vmid]->state, HL_VM_POWEROFF);

#pragma GCC diagnostic pop
#endif /* HOSTILE_HARNESS_H */
