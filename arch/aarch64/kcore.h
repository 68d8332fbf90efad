/*
 * kcore.h - KCore's trap layer over the engine (SPEC §7): trap frames, shadow vCPU
 * contexts, the host hypercall ABI, stage-2 faults, VM exits and the context switch.
 *
 * Portable C: it reaches hardware only through arch.h. Each physical CPU enters through
 * kcore_trap() with its own trap frame; no engine lock is held when a trap returns.
 */
#ifndef HL_KCORE_H
#define HL_KCORE_H

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "hl_engine.h"

/* ---- host hypercall numbers (SeKVM virt.h, Linux 4.18) ----------------------------- */
enum {
	HVC_ENABLE_S2_TRANS = 6,
	HVC_TIMER_SET_CNTVOFF = 7,
	HVC_VCPU_RUN = 8,
	HVC_CLEAR_VM_S2_RANGE = 9,
	HVC_SET_BOOT_INFO = 10,
	HVC_REMAP_VM_IMAGE = 11,
	HVC_VERIFY_VM_IMAGE = 12,
	HVC_REGISTER_KVM = 13,
	HVC_REGISTER_VCPU = 14,
	HVC_ENCRYPT_BUF = 20,
	HVC_DECRYPT_BUF = 21,
	HVC_SAVE_CRYPT_VCPU = 22,
	HVC_SMMU_FREE_PGD = 23,
	HVC_SMMU_ALLOC_PGD = 24,
	HVC_SMMU_LPAE_MAP = 25,
	HVC_SMMU_LPAE_IOVA_TO_PHYS = 26,
	HVC_SMMU_CLEAR = 27,
	HVC_PHYS_ADDR_IOREMAP = 28,
	HVC_LOAD_CRYPT_VCPU = 29,
};

/* hypercall results in x0 (as int64): >= 0 success/value, negative errors */
#define KC_EINVAL (-22)      /* malformed argument: nothing changed */
#define KC_EPERM (-1)        /* refused by an isolation rule (HL_E_DENIED): nothing changed */
#define KC_ENOSYS (-38)      /* unknown call number */
#define KC_ENOTSUP (-95)     /* encryption calls: outside the first version */
#define KC_EBUSY (-16)       /* an object it needs was left locked by a halted CPU */
#define KC_ENOMEM (-12)      /* log memory cap reached: refused before any change */

/* guest paravirtual calls (include/kvm/pvops.h) */
#define KVM_SET_DESC_PFN 0x81000u
#define KVM_UNSET_DESC_PFN 0x82000u

/* shadow context flags (kvm_host.h) */
#define DIRTY_PC_FLAG (1ull << 32)
#define PENDING_DABT_INJECT (1ull << 33)
#define PENDING_IABT_INJECT (1ull << 34)
#define PENDING_UNDEF_INJECT (1ull << 35)
#define PENDING_EXCEPT_INJECT_FLAG (7ull << 33)
#define PENDING_FSC_FAULT (1ull << 1)

/* one exception's register file, saved by the vectors (hosted: by the platform) */
struct trap_frame {
	uint64_t x[31];
	uint64_t elr, spsr, esr, far, hpfar;
};

/* the VM vCPU state KCore keeps private (REFERENCE 5.4) */
struct shadow_ctxt {
	uint64_t regs[31];
	uint64_t pc, pstate;
	uint64_t sys[SR_EL1_COUNT];
	uint64_t esr, far, hpfar, hcr, ec;
	uint64_t dirty;           /* INVALID64 until the first run; then the host's dirty set */
	uint64_t flags;           /* PENDING_FSC_FAULT, injection flags */
	uint64_t vmpidr;
	uint32_t last_exit;       /* ARCH_EXIT_* of the last exit */
	uint32_t pad;
	struct arch_fpsimd fp;    /* the vCPU's FP/SIMD registers (save_vm / restore_vm) */
} __attribute__((aligned(64)));   /* a line of its own at both ends: CPUs running
                                     neighbouring vCPUs must not share one (issue 11) */

/*
 * The host's per-vCPU structure ("struct kvm_vcpu" shared with KCore), in host memory.
 * KCore reads it only through the data oracle (values the host may choose) and writes
 * the exit information back.
 */
struct host_vcpu {
	uint64_t regs[31];        /* values for the registers KCore marked dirty */
	uint64_t boot_pc;         /* first run: must lie inside a registered image */
	uint64_t fault_addr;      /* pending stage-2 mapping the host chose */
	uint64_t fault_pte;
	uint64_t fault_level;
	uint64_t irq;             /* HCR VI/VF request */
	/* written by KCore at each exit */
	uint64_t exit_code;
	uint64_t exit_esr, exit_far, exit_hpfar;
	uint64_t exit_dirty;      /* registers the host must supply (MMIO reads) */
	uint64_t exit_value;      /* Rt of an MMIO write, x0 of an unknown PV call */
	uint64_t exit_flags;
};

/* trap kinds counted per CPU */
enum kc_trap_kind {
	KC_T_HVC, KC_T_HOST_S2, KC_T_HOST_MMIO, KC_T_VCPU_RUN, KC_T_VM_EXIT, KC_T_PV, KC_T_SYS64,
	KC_T_GUEST_S2, KC_T_WFX, KC_T_IRQ, KC_T_POWEROFF, KC_T__COUNT
};
const char *kc_trap_kind_name(unsigned k);

/* SMMU register windows (host PA) and the emulated register file behind them */
#define KC_SMMU_BASE HL_SMMU_MMIO_BASE
#define KC_SMMU_SIZE HL_SMMU_MMIO_SIZE
#define KC_SMMU_GLOBAL_BASE 0x8000u
#define KC_SMMU_CB_SIZE 0x1000u
/* SMMUv2 registers and fields (Arm IHI 0062; Linux arm-smmu.h): the rules are in mmio.c */
#define SMMU_GR0_sCR0 0x0u
#define SMMU_GR0_sCR2 0x8u
#define SMMU_sCR0_CLIENTPD (1u << 0)
#define SMMU_sCR0_EXIDENABLE (1u << 3)
#define SMMU_sCR0_USFCFG (1u << 10)
#define SMMU_sCR0_SMCFCFG (1u << 21)
#define SMMU_sCR0_VMID16EN (1u << 31)
#define SMMU_GR0_SMR_BASE 0x800u
#define SMMU_GR0_S2CR_BASE 0xC00u
#define SMMU_S2CR_TYPE_SHIFT 16
#define SMMU_S2CR_TYPE_TRANS 0u
#define SMMU_S2CR_TYPE_BYPASS 1u
#define SMMU_S2CR_TYPE_FAULT 2u
#define SMMU_S2CR_EXIDVALID (1u << 10)
#define SMMU_GR1_BASE 0x1000u
#define SMMU_GR1_CBA2R 0x1800u
#define SMMU_CBA2R_VA64 (1u << 0)
#define SMMU_CBAR_TYPE_SHIFT 16
#define SMMU_CBAR_TYPE_S2_TRANS 0u
#define SMMU_CBAR_VMID_MASK 0xFFu
#define SMMU_CB_SCTLR 0x0u
#define SMMU_SCTLR_M (1u << 0)
#define SMMU_SCTLR_E (1u << 4)
#define SMMU_CB_TTBR0 0x20u
#define SMMU_CB_TCR 0x30u
#define SMMU_CB_CONTEXTIDR 0x34u
/* KCore's SMMU stage-2 geometry (hl_pgtable.c): T0SZ 24 (40-bit input), SL0 1 (start at
 * level 1, two concatenated roots), IRGN0/ORGN0 write-back, SH0 inner, TG0 4 KiB, PS 40-bit */
#define KC_SMMU_S2_TCR (24u | (1u << 6) | (1u << 8) | (1u << 10) | (3u << 12) | (0u << 14) | (2u << 16))
#define KC_SMMU_TCR_GEOMETRY (0x3Fu | (3u << 6) | (3u << 14) | (7u << 16))   /* T0SZ SL0 TG0 PS */

#define KC_MAX_OWNED 8   /* device ranges KCore owns (struct kcore.owned) */

struct kc_smmu_dev {
	uint64_t global[KC_SMMU_GLOBAL_BASE / 8];
	uint64_t cb[HL_SMMU_NUM_CB][KC_SMMU_CB_SIZE / 8];
};

/*
 * The SMMU's TLB (H-redteam3, SPEC §15): translations its table walker cached, tagged with
 * the bank's CBAR.VMID as SMMUv2 tags them. Filled only by device accesses
 * (kcore_smmu_dma); KCore drops the entries of an iova inside the step that removes its SMMU
 * entry (kc_smmu_tlbi, registered with hl_spt_tlbi_register: on hardware TLBIALLNSNH +
 * sTLBGSYNC), so a page never changes hands while a device can still reach it. Protected by
 * the engine's smmu lock. Not an emulated register: th_snap does not digest it.
 */
#define KC_SMMU_TLB_ENTRIES 32u
struct kc_smmu_tlbe {
	uint64_t iova_pg, pa_pg;
	uint32_t vmid;
	bool valid, writable;
};
struct kc_smmu_tlb {
	struct kc_smmu_tlbe e[KC_SMMU_TLB_ENTRIES];
	uint64_t fills, hits, invals;
};

struct kcore_cpu {
	uint32_t cur_vmid, cur_vcpuid;     /* HOSTVISOR / cpu id while the host runs */
	bool in_vm;
	uint64_t host_sys[SR_EL1_COUNT];   /* saved by save_host */
	uint64_t host_elr, host_spsr;
	uint64_t host_vmpidr;              /* VMPIDR_EL2 (what the host reads as MPIDR_EL1) */
	uint64_t host_mdcr, host_cnthctl, host_pmcr;   /* the host's traps and PMU enable (vcpu.c) */
	struct arch_fpsimd host_fp;        /* the host's FP/SIMD registers (save_host) */
	struct trap_frame *frame;          /* the host's frame during a vcpu run */
	uint64_t traps[KC_T__COUNT];
	uint64_t mmio_rejected;
	uint64_t hvc_errors;
} __attribute__((aligned(64)));

struct kcore {
	struct hl_engine *e;
	unsigned ncpus;
	struct kcore_cpu *cpu;             /* ncpus + 1 */
	struct shadow_ctxt shadow[HL_NR_PRINC][HL_VCPU_PER_VM];
	struct kc_smmu_dev smmu_dev[HL_SMMU_NUM];   /* protected by the engine's smmu lock */
	struct kc_smmu_tlb smmu_tlb[HL_SMMU_NUM];   /* the same */
	const uint8_t *smmu_tlbi_img;      /* the spt image kc_smmu_tlbi is registered for */
	/* device ranges KCore emulates or owns (host PA): never mapped into a VM, and never
	 * mapped for the host unless emulated (the SMMU windows). Set before the CPUs start. */
	struct { uint64_t base, size; } owned[KC_MAX_OWNED];
	unsigned nowned;
	/* HCR_EL2 while the host runs, restored after every guest run (restore_host): the
	 * platform's host flags, HCR_HOST_NVHE_FLAGS from kcore_new; a platform may add traps
	 * before the CPUs start (the EL2 Linux image adds HCR_TSC: Linux's PSCI SMCs must keep
	 * trapping after the first VCPU_RUN, or CPU_ON and SYSTEM_OFF would bypass KCore) */
	uint64_t host_hcr;
};

struct kcore *kcore_new(struct hl_engine *e);
/* one more range KCore owns (the platform's console, its own memory): before the CPUs
 * start; false if the table is full */
bool kcore_own_range(struct kcore *k, uint64_t base, uint64_t size);
/* true if [pa, pa + size) overlaps a range KCore emulates or owns */
bool kcore_owns(const struct kcore *k, uint64_t pa, uint64_t size);
void kcore_free(struct kcore *k);

/* Result of a trap: the CPU goes back to where it came from, or it halted (SPEC §8). */
enum kc_ret { KC_RET_RESUME = 0, KC_RET_HALTED = 1 };

/* Every exception from the host enters here, on the CPU that took it. */
enum kc_ret kcore_host_trap(struct kcore *k, struct trap_frame *f);

/* the handlers, for tests */
enum kc_ret host_hvc_handler(struct kcore *k, struct trap_frame *f);
enum kc_ret host_npt_handler(struct kcore *k, struct trap_frame *f);
enum kc_ret host_vcpu_run_handler(struct kcore *k, struct trap_frame *f, uint32_t vmid, uint32_t vcpuid);

/* host memory as KCore sees it: only host-owned pages, through the s2page lock */
int kcore_host_read(struct kcore *k, unsigned cpu, uint64_t pa, void *buf, uint32_t len);
int kcore_host_write(struct kcore *k, unsigned cpu, uint64_t pa, const void *buf, uint32_t len);

/* SMMU PTE from the hypercall's (paddr, prot): IOMMU_READ 1, IOMMU_WRITE 2 */
uint64_t kcore_smmu_pte(uint64_t paddr, uint64_t prot);

/*
 * A device behind SMMU `index` with stream ID `sid` reads (write false) or writes `len`
 * bytes at `iova` (inside one page): the SMMUv2 translation path over the emulated
 * registers, as the hardware the rules of mmio.c protect would take it (sCR0, stream
 * match, S2CR, CBAR, SCTLR.M, the TLB, then a walk of the table TTBR0 names), then RAM at
 * the output address; no ownership check, as a bus has none. The hosted model of DMA for
 * the red-team tests; `cpu` is the engine CPU whose steps take the smmu and spt locks.
 * 0: done; KC_DMA_FAULT: the SMMU faulted it (nothing read or written); < 0 otherwise.
 */
#define KC_DMA_FAULT 1
int kcore_smmu_dma(struct kcore *k, unsigned cpu, unsigned index, uint32_t sid, uint64_t iova, void *buf,
		   uint32_t len, bool write);

#endif
