/*
 * kcore.c - trap entry and dispatch: host hypercalls, host stage-2 faults, VM exits
 * (SPEC §7, REFERENCE §5). Portable C over arch.h and the engine.
 */
#include "kcore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hl_access.h"
#include "hl_pgtable.h"
#include "hl_trans.h"
#include "kc_internal.h"
#include "sysreg.h"
#include "hl_fault.h"   /* HL_FI: mutation-suite switches (no-ops in a normal build) */

static const char *const trap_names[KC_T__COUNT] = {
	[KC_T_HVC] = "hvc",        [KC_T_HOST_S2] = "host_s2", [KC_T_HOST_MMIO] = "host_mmio",
	[KC_T_VCPU_RUN] = "vcpu_run", [KC_T_VM_EXIT] = "vm_exit", [KC_T_PV] = "pv",
	[KC_T_SYS64] = "sys64",    [KC_T_GUEST_S2] = "guest_s2", [KC_T_WFX] = "wfx",
	[KC_T_IRQ] = "irq",        [KC_T_POWEROFF] = "poweroff",
};

const char *kc_trap_kind_name(unsigned k)
{
	return k < KC_T__COUNT ? trap_names[k] : "?";
}

struct kcore *kcore_new(struct hl_engine *e)
{
	/* aligned_alloc wants a size that is a multiple of the alignment (C11 7.22.3.1) */
	struct kcore *k = aligned_alloc(64, (sizeof(*k) + 63) & ~(size_t)63);

	if (!k)
		return NULL;
	memset(k, 0, sizeof(*k));
	k->e = e;
	k->ncpus = e->cfg.ncpus;
	/* the host uses its PAuth keys without a trap, as KVM's nVHE host (HCR_API | HCR_APK):
	 * they are switched with every guest's (vcpu.c's table) */
	k->host_hcr = HCR_HOST_NVHE_FLAGS | (arch_has_pauth() ? HCR_API | HCR_APK : 0);
	k->cpu = aligned_alloc(64, sizeof(struct kcore_cpu) * (k->ncpus + 1));
	if (!k->cpu) {
		free(k);
		return NULL;
	}
	memset(k->cpu, 0, sizeof(struct kcore_cpu) * (k->ncpus + 1));
	for (unsigned c = 0; c <= k->ncpus; c++) {
		k->cpu[c].cur_vmid = HL_HOSTVISOR;
		k->cpu[c].cur_vcpuid = c;
	}
	/* every shadow context starts "not run yet" (dirty = INVALID64: the first run resets the
	 * vCPU and checks its boot PC against the verified images). Set here, before any vCPU
	 * can become READY, not after REGISTER_VCPU's step (H10): a CPU descheduled between that
	 * step and the reset left a READY vCPU whose zero shadow (dirty 0) ran from PC 0. A vCPU
	 * is registered once (UNUSED -> READY; vmids are never reused), so nothing resets it later. */
	for (unsigned v = 0; v < HL_NR_PRINC; v++)
		for (unsigned c = 0; c < HL_VCPU_PER_VM; c++)
			k->shadow[v][c].dirty = HL_INVALID64;
	for (unsigned i = 0; i < HL_SMMU_NUM; i++)
		kc_smmu_reset(k, i);
	(void)kcore_own_range(k, KC_SMMU_BASE, HL_SMMU_NUM * KC_SMMU_SIZE);
	/* SPEC §15: a removed SMMU entry leaves the SMMU's TLB inside its step (hl_pgtable.h) */
	if (!hl_spt_tlbi_register(e->st->spt, kc_smmu_tlbi, k)) {
		fprintf(stderr, "hyplog: kcore_new: more than %u KCores at once (SMMU TLB hooks)\n",
			HL_SPT_TLBI_MAX);
		free(k->cpu);
		free(k);
		return NULL;
	}
	k->smmu_tlbi_img = e->st->spt;
	return k;
}

bool kcore_own_range(struct kcore *k, uint64_t base, uint64_t size)
{
	if (k->nowned >= KC_MAX_OWNED || size == 0 || base + size < base)
		return false;
	k->owned[k->nowned].base = base;
	k->owned[k->nowned].size = size;
	k->nowned++;
	return true;
}

bool kcore_owns(const struct kcore *k, uint64_t pa, uint64_t size)
{
	for (unsigned i = 0; i < k->nowned; i++)
		if (pa < k->owned[i].base + k->owned[i].size && k->owned[i].base < pa + size)
			return true;
	return false;
}

void kcore_free(struct kcore *k)
{
	if (!k)
		return;
	hl_spt_tlbi_unregister(k->smmu_tlbi_img);   /* no engine access: it may be gone */
	free(k->cpu);
	free(k);
}

/* the engine's status as a hypercall result */
int64_t kc_errno(int st)
{
	switch (st) {
	case HL_OK: return 0;
	case HL_E_INVAL: return KC_EINVAL;
	case HL_E_STRANDED: return KC_EBUSY;
	case HL_E_NOLOG: return KC_ENOMEM;
	case HL_E_NOTSUP: return KC_ENOTSUP;
	case HL_E_DENIED: return KC_EPERM;   /* an isolation rule refused it; nothing changed */
	default: return KC_EINVAL;
	}
}

int kcore_host_read(struct kcore *k, unsigned cpu, uint64_t pa, void *buf, uint32_t len)
{
	return hl_host_mem_read(k->e, (int)cpu, hl_pa(pa), buf, len);
}

int kcore_host_write(struct kcore *k, unsigned cpu, uint64_t pa, const void *buf, uint32_t len)
{
	return hl_host_mem_write(k->e, (int)cpu, hl_pa(pa), buf, len);
}

uint64_t kcore_smmu_pte(uint64_t paddr, uint64_t prot)
{
	uint64_t pte = (paddr & HL_DESC_ADDR_MASK) | HL_DESC_TYPE_TABLE | HL_PTE_AF | HL_PTE_SH_INNER |
		       HL_PTE_MEMATTR_NORMAL;
	if (prot & 2)
		pte |= HL_PTE_S2_RDWR;
	else if (prot & 1)
		pte |= HL_PTE_S2_RDONLY;
	return pte;
}

/* ---- host hypercalls ------------------------------------------------------------------- */

/* a step that halted the CPU ends the trap: the CPU never returns to the host */
#define HALTED(rc) ((rc) == HL_HALT || (rc) == HL_E_CPU_HALTED)

static enum kc_ret set_x0(struct trap_frame *f, int64_t v)
{
	f->x[0] = (uint64_t)v;
	return KC_RET_RESUME;
}

static enum kc_ret ret_status(struct kcore_cpu *kc, struct trap_frame *f, int rc)
{
	if (HALTED(rc))
		return KC_RET_HALTED;
	if (rc < 0)
		kc->hvc_errors++;
	return set_x0(f, kc_errno(rc));
}

/* CLEAR_VM_S2_RANGE: a powered-off VM's pages in [start, start+size) go back to the host */
static int clear_vm_range(struct kcore *k, unsigned cpu, uint64_t vmid, uint64_t start, uint64_t size)
{
	uint32_t state = 0;
	unsigned nactive = 0;
	int rc;

	if (vmid < 1 || vmid > HL_MAX_VM || (start & (HL_PAGE_SIZE - 1)) || start >= HL_ADDR_SPACE ||
	    size > HL_ADDR_SPACE - start || size > (1ull << 30))
		return HL_E_INVAL;   /* bound the work of one trap: 1 GiB per call */
	rc = hl_vm_active_vcpus(k->e, (int)cpu, (uint32_t)vmid, &state, &nactive);
	if (rc)
		return rc;
	if (state != HL_VM_POWEROFF)
		return HL_OK;        /* C: only a powered-off VM is cleared */
	/* H10 (SPEC §12, §17): a vCPU that was running when another vCPU powered the VM off is
	 * still ACTIVE on its CPU, in the guest, through the VM's stage-2 table; a page cleared
	 * now would be the host's (then another VM's) while that guest still reads and writes
	 * it. Refused, nothing changed, until every vCPU has exited. The check holds for the
	 * whole call: POWEROFF is final and a vCPU becomes ACTIVE only in a VERIFIED VM.
	 * OCLEAR_VM refuses such a page itself (H13: its vminfo read is logged, so the oracles
	 * judge it); this pass keeps the call all-or-nothing (no page of the range moves). */
	if (nactive != 0)
		return HL_E_DENIED;
	/* prepare (SPEC §12, §14): no page of the range may still be mapped by an SMMU bank
	 * (OCLEAR_VM would refuse it), checked for the whole range before any page moves, so a
	 * refused call changes nothing. A bank mapping one of these pages between this pass
	 * and its OCLEAR_VM (the host racing its own call: a powered-off VM's bank can still
	 * map the VM's pages) makes that OCLEAR_VM refuse: the pages before it are back with
	 * the host, legitimately, and the call returns the refusal. */
	for (uint64_t a = start; a < start + size; a += HL_PAGE_SIZE) {
		struct hl_pt_entry ent;
		struct hl_s2page pg;
		rc = hl_translate(k->e, (int)cpu, (unsigned)vmid, hl_ipa(a), &ent);
		if (rc == 0 && ent.level != 0 && (ent.pte & HL_DESC_ADDR_MASK) != 0)
			rc = hl_page_get(k->e, (int)cpu, ent.pfn, &pg);
		else
			continue;
		if (rc)
			return rc;
		if (pg.owner == vmid && pg.dma != 0 && !HL_FI(CLEAR_WHILE_DMA))
			return HL_E_DENIED;
	}
	for (uint64_t a = start; a < start + size; a += HL_PAGE_SIZE) {
		struct hl_pt_entry ent;
		rc = hl_translate(k->e, (int)cpu, (unsigned)vmid, hl_ipa(a), &ent);
		if (rc)
			return rc;
		if (ent.level == 0 || (ent.pte & HL_DESC_ADDR_MASK) == 0)
			continue;
		rc = hl_clear_vm_page(k->e, (int)cpu, (uint32_t)vmid, ent.pfn);
		if (rc)
			return rc;
	}
	return HL_OK;
}

/* PHYS_ADDR_IOREMAP: device pages, one OMAP_IO step per page */
static int ioremap(struct kcore *k, unsigned cpu, uint64_t vmid, uint64_t gpa, uint64_t pa, uint64_t size)
{
	/* the whole range is checked up front: a page refused halfway would leave the pages
	 * before it mapped, and bad input must change nothing (SPEC §7, §8) */
	if ((gpa | pa) & (HL_PAGE_SIZE - 1) || size == 0 || size > (64ull << 20) || gpa >= HL_ADDR_SPACE ||
	    size > HL_ADDR_SPACE - gpa || pa >= HL_RAM_BASE + HL_RAM_SIZE || size > HL_RAM_BASE + HL_RAM_SIZE - pa)
		return HL_E_INVAL;
	/* SPEC §16: a range KCore emulates or owns (the SMMU register windows, the platform's
	 * console) never goes to a VM: it would program the SMMU behind KCore's back. The whole
	 * range is refused if any page of it overlaps; nothing is mapped. */
	if (kcore_owns(k, pa, size))
		return HL_E_DENIED;
	/* prepare (SPEC §13, §14; H10): OMAP_IO refuses a device page over the VM's memory (a
	 * 2 MiB block, a RAM page); checked for every page before the first is mapped, so a
	 * refused range maps nothing (it used to map the pages before the refused one). The
	 * host changing the VM's table from another CPU in between races itself: the step
	 * still refuses that page. */
	/* With s2page in shards each OMAP_IO locks its own page's shard: a shard a halted CPU
	 * left locked (stranded) fails that step only, after the steps before it mapped their
	 * pages. So every page's shard is locked here first (hl_page_get: EBUSY on a stranded
	 * one), before the first page is mapped: a refused range maps nothing (H-redteam2,
	 * test_redteam_shards ioremap_into_a_stranded_shard_changes_nothing). */
	for (uint64_t off = 0; off < size; off += HL_PAGE_SIZE) {
		struct hl_pt_entry ent;
		struct hl_s2page pg;
		int rc = hl_page_get(k->e, (int)cpu, (pa + off) / HL_PAGE_SIZE, &pg);
		if (rc)
			return rc;
		if (hl_pfn_is_ram((pa + off) / HL_PAGE_SIZE))
			continue;   /* OMAP_IO leaves a RAM pa alone */
		rc = hl_translate(k->e, (int)cpu, (unsigned)vmid, hl_ipa(gpa + off), &ent);
		if (rc)
			return rc;
		if (ent.level == 2 ||
		    (ent.level == 3 && hl_pfn_is_ram((ent.pte & HL_DESC_ADDR_MASK) / HL_PAGE_SIZE)))
			return HL_E_DENIED;
	}
	for (uint64_t off = 0; off < size; off += HL_PAGE_SIZE) {
		int rc = hl_map_vm_io(k->e, (int)cpu, (uint32_t)vmid, hl_ipa(gpa + off), hl_pa(pa + off));
		if (rc)
			return rc;
	}
	return HL_OK;
}

/*
 * host_hvc_dispatcher: x0 = call number, x1..x5 = arguments, result in x0.
 * REGISTER_KVM x1 = index of one of KCore's own image-verification keys (SPEC §11: the
 * keys are provisioned to KCore in its configuration / compiled into the EL2 image; the
 * C hard-codes one; the host never supplies key bytes), x2 = the host's kvm handle; an
 * index >= the number of provisioned keys is -EINVAL with nothing changed.
 * SET_BOOT_INFO x4 = PA of the 64-byte signature (Ed25519 over the image's BLAKE2b-256
 * digest, hl_testkey.h); REGISTER_VCPU x3 = PA of the host's struct host_vcpu.
 */
enum kc_ret host_hvc_handler(struct kcore *k, struct trap_frame *f)
{
	unsigned cpu = arch_cpu_id();
	struct kcore_cpu *kc = &k->cpu[cpu];
	struct hl_engine *e = k->e;
	uint64_t *x = f->x;
	int rc;

	kc->traps[KC_T_HVC]++;
	switch (x[0]) {
	case HVC_ENABLE_S2_TRANS:
	case HVC_TIMER_SET_CNTVOFF:
		/* stage 2 is on from boot; the virtual counter offset is not engine state */
		return set_x0(f, 0);
	case HVC_VCPU_RUN:
		if (x[1] < 1 || x[1] > HL_MAX_VM || x[2] >= HL_VCPU_PER_VM) {
			kc->hvc_errors++;
			return set_x0(f, KC_EINVAL);
		}
		return host_vcpu_run_handler(k, f, (uint32_t)x[1], (uint32_t)x[2]);
	case HVC_CLEAR_VM_S2_RANGE:
		return ret_status(kc, f, clear_vm_range(k, cpu, x[1], x[2], x[3]));
	case HVC_SET_BOOT_INFO: {
		uint8_t sig[64];
		uint32_t idx = 0;
		if (kcore_host_read(k, cpu, x[4], sig, sizeof(sig)) != HL_OK)
			return ret_status(kc, f, HL_E_INVAL);
		if (x[1] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		rc = hl_set_boot_info(e, (int)cpu, (uint32_t)x[1], hl_ipa(x[2]), x[3], sig, &idx);
		return rc == HL_OK ? set_x0(f, idx) : ret_status(kc, f, rc);
	}
	case HVC_REMAP_VM_IMAGE:
		if (x[1] > UINT32_MAX || x[3] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		return ret_status(kc, f, hl_remap_vm_image(e, (int)cpu, (uint32_t)x[1], x[2], (uint32_t)x[3]));
	case HVC_VERIFY_VM_IMAGE: {
		int verified = 0;
		if (x[1] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		rc = hl_verify_vm_image(e, (int)cpu, (uint32_t)x[1], &verified);
		return rc == HL_OK ? set_x0(f, verified) : ret_status(kc, f, rc);
	}
	case HVC_REGISTER_KVM: {
		uint32_t vmid = 0;
		/* x1 = KCore key index: hl_register_kvm refuses one >= nkeys before any change */
		if (x[1] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		rc = hl_register_kvm(e, (int)cpu, x[2], (uint32_t)x[1], &vmid);
		return rc == HL_OK ? set_x0(f, vmid) : ret_status(kc, f, rc);
	}
	case HVC_REGISTER_VCPU: {
		struct host_vcpu hv;
		if (x[1] < 1 || x[1] > HL_MAX_VM || x[2] >= HL_VCPU_PER_VM ||
		    kcore_host_read(k, cpu, x[3], &hv, sizeof(hv)) != HL_OK)
			return ret_status(kc, f, HL_E_INVAL);
		/* the shadow context is "not run yet" from kcore_new on (dirty = INVALID64) */
		rc = hl_register_vcpu(e, (int)cpu, (uint32_t)x[1], (uint32_t)x[2], x[3]);
		return ret_status(kc, f, rc);
	}
	case HVC_ENCRYPT_BUF:
	case HVC_DECRYPT_BUF:
	case HVC_SAVE_CRYPT_VCPU:
	case HVC_LOAD_CRYPT_VCPU:
		kc->hvc_errors++;
		return set_x0(f, KC_ENOTSUP);
	case HVC_SMMU_FREE_PGD:
		if (x[1] > UINT32_MAX || x[2] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		rc = hl_smmu_free_pgd(e, (int)cpu, (uint32_t)x[1], (uint32_t)x[2]);
		/* the bank's VMID registers follow its owner (mmio.c kc_smmu_bank_owner_sync) */
		if (rc == HL_OK)
			rc = kc_smmu_bank_owner_sync(k, cpu, (unsigned)x[2], (unsigned)x[1]);
		return ret_status(kc, f, rc);
	case HVC_SMMU_ALLOC_PGD:
		if (x[1] > UINT32_MAX || x[2] > UINT32_MAX || x[3] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		rc = hl_smmu_alloc_pgd(e, (int)cpu, (uint32_t)x[1], (uint32_t)x[2], (uint32_t)x[3]);
		if (rc == HL_OK)
			rc = kc_smmu_bank_owner_sync(k, cpu, (unsigned)x[3], (unsigned)x[1]);
		return ret_status(kc, f, rc);
	case HVC_SMMU_LPAE_MAP: {
		/* smmu_assign_page then smmu_map_page, as __el2_arm_lpae_map */
		uint64_t iova = x[1], paddr = x[2], prot = x[3];
		/* iova is checked here too: smmu_map_page refusing it after smmu_assign_page has
		 * moved the page would change state on bad input */
		if (x[4] > UINT32_MAX || x[5] > UINT32_MAX || prot > 3 || (paddr & (HL_PAGE_SIZE - 1)) ||
		    !hl_pfn_is_ram(paddr / HL_PAGE_SIZE) || iova >= HL_SMMU_IPA_SIZE || (iova & (HL_PAGE_SIZE - 1)))
			return ret_status(kc, f, HL_E_INVAL);
		/* prepare (SPEC §12, §14): OSMMU_MAP refuses an iova the bank maps already; check
		 * it before smmu_assign_page moves the page, so the refusal changes nothing. (The
		 * host mapping that iova from another CPU in between is the host racing itself:
		 * the page is then the bank owner's, unmapped, as after a bare OASSIGN_SMMU.) */
		{
			uint64_t old = 0;
			rc = hl_smmu_iova_to_phys(e, (int)cpu, hl_iova(iova), (uint32_t)x[4], (uint32_t)x[5], &old);
			if (rc == HL_OK && old != 0 && !HL_FI(SMMU_MAP_OVER))
				rc = HL_E_DENIED;
			if (rc != HL_OK)
				return ret_status(kc, f, rc);
		}
		rc = hl_smmu_assign_page(e, (int)cpu, (uint32_t)x[4], (uint32_t)x[5], paddr / HL_PAGE_SIZE,
					 iova / HL_PAGE_SIZE);
		if (rc == HL_OK)
			rc = hl_smmu_map_page(e, (int)cpu, (uint32_t)x[4], (uint32_t)x[5], hl_iova(iova),
					      kcore_smmu_pte(paddr, prot));
		return ret_status(kc, f, rc);
	}
	case HVC_SMMU_LPAE_IOVA_TO_PHYS: {
		uint64_t pa = 0;
		if (x[2] > UINT32_MAX || x[3] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		rc = hl_smmu_iova_to_phys(e, (int)cpu, hl_iova(x[1]), (uint32_t)x[2], (uint32_t)x[3], &pa);
		return rc == HL_OK ? set_x0(f, (int64_t)pa) : ret_status(kc, f, rc);
	}
	case HVC_SMMU_CLEAR:
		if (x[2] > UINT32_MAX || x[3] > UINT32_MAX)
			return ret_status(kc, f, HL_E_INVAL);
		return ret_status(kc, f, hl_smmu_clear(e, (int)cpu, hl_iova(x[1]), (uint32_t)x[2], (uint32_t)x[3]));
	case HVC_PHYS_ADDR_IOREMAP:
		if (x[1] < 1 || x[1] > HL_MAX_VM)
			return ret_status(kc, f, HL_E_INVAL);
		return ret_status(kc, f, ioremap(k, cpu, x[1], x[2], x[3], x[4]));
	default:
		kc->hvc_errors++;
		return set_x0(f, KC_ENOSYS);
	}
}

/* ---- host stage-2 faults ----------------------------------------------------------------- */

/*
 * handle_host_stage2_fault: IPA from HPFAR_EL2 (+ FAR_EL2[11:0]). Inside an SMMU register
 * window the access is emulated (and the host's PC advances); otherwise the page is
 * mapped for the host and the access retried.
 */
enum kc_ret host_npt_handler(struct kcore *k, struct trap_frame *f)
{
	unsigned cpu = arch_cpu_id();
	struct kcore_cpu *kc = &k->cpu[cpu];
	uint64_t ipa = hpfar_to_ipa(f->hpfar, f->far);
	int rc;

	if (ipa >= KC_SMMU_BASE && ipa < KC_SMMU_BASE + HL_SMMU_NUM * KC_SMMU_SIZE) {
		kc->traps[KC_T_HOST_MMIO]++;
		rc = kc_emulate_mmio(k, cpu, f, ipa);
		if (HALTED(rc))
			return KC_RET_HALTED;
		f->elr += 4;
		return KC_RET_RESUME;
	}
	kc->traps[KC_T_HOST_S2]++;
	if (kcore_owns(k, ipa & ~(HL_PAGE_SIZE - 1), HL_PAGE_SIZE)) {
		/* another range KCore owns (kcore_own_range): never the host's; skipped */
		kc->hvc_errors++;
		f->elr += 4;
		return KC_RET_RESUME;
	}
	rc = hl_map_host(k->e, (int)cpu, hl_pa(ipa & ~(HL_PAGE_SIZE - 1)));
	if (HALTED(rc))
		return KC_RET_HALTED;
	if (rc < 0) {
		/* no memory there (or refused): the access cannot be retried forever, so it is
		 * skipped (the host's PC moves past it) and counted as an error */
		kc->hvc_errors++;
		f->elr += 4;
	}
	return KC_RET_RESUME;
}

/* ---- trap entry ------------------------------------------------------------------------ */
enum kc_ret kcore_host_trap(struct kcore *k, struct trap_frame *f)
{
	unsigned cpu = arch_cpu_id();
	enum kc_ret r;

	if (k->e->cfg.sched_point)
		(void)k->e->cfg.sched_point(k->e->cfg.sched_ctx, (int)cpu, HL_SP_TRAP, 0);
	switch (esr_ec(f->esr)) {
	case EC_HVC64:
		r = host_hvc_handler(k, f);
		break;
	case EC_DABT_LOW:
	case EC_IABT_LOW:
		r = host_npt_handler(k, f);
		break;
	default:
		/* anything else from the host is not KCore's to handle: skip it */
		f->elr += 4;
		r = KC_RET_RESUME;
		break;
	}
	/* no engine lock may be held when a trap returns (a halted CPU keeps its own) */
	if (r == KC_RET_RESUME && hl_engine_nheld(k->e, (int)cpu) != 0) {
		fprintf(stderr, "hyplog: cpu %u returns from a trap holding %u engine locks\n", cpu,
			hl_engine_nheld(k->e, (int)cpu));
		abort();
	}
	return r;
}
