/*
 * hl_trans.h - the atomic events of SPEC §6 as engine entry points.
 *
 * Every entry point: validates its arguments (bad input -> HL_E_INVAL, nothing changed,
 * nothing appended), takes the objects of the SPEC §6 table in the global lock order,
 * checks, applies, appends one record per object it changed, releases. Results:
 * HL_OK, HL_HALT (the spec's halt branch ran; the CPU is halted from now on) or a
 * negative hl_status. `cpu` is the calling physical CPU.
 */
#ifndef HL_TRANS_H
#define HL_TRANS_H

#include <stdint.h>

#include "hl_engine.h"
#include "hl_types.h"

/* SMMU context banks per SMMU device (SMMUConf.smmu_dev_context_banks): a cbndx at or
 * above this count is out of range for every SMMU call (HL_E_INVAL, SPEC §17). */
unsigned hl_smmu_num_banks(unsigned index);
/* argument checks of an event (also applied to every replayed record) */
bool hl_trans_valid(unsigned ev, const uint64_t *args);

int hl_map_host(struct hl_engine *e, int cpu, hl_pa_t addr);
int hl_clear_vm_page(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn);
int hl_assign_pfn_to_vm(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t gfn, uint64_t pfn);
int hl_map_pfn_vm(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t addr, uint64_t pte,
		  unsigned level);
int hl_map_vm_io(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t gpa, hl_pa_t pa);
int hl_grant_vm_page(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn);
int hl_revoke_vm_page(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn);

/* register_kvm = OGEN_VMID then OREG_KVM; *vmid_out gets the new vmid. The VM's images
 * will be verified against KCore's key kcore_keys[key_idx] (SPEC §11); key_idx >= nkeys is
 * refused (HL_E_INVAL) before any step: no vmid used, nothing changed, nothing logged. */
int hl_register_kvm(struct hl_engine *e, int cpu, uint64_t kvm, uint32_t key_idx,
		    uint32_t *vmid_out);
int hl_register_vcpu(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid, uint64_t vcpu);
int hl_set_vcpu_active(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid);
int hl_set_vcpu_inactive(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid);
int hl_set_vm_poweroff(struct hl_engine *e, int cpu, uint32_t vmid);
int hl_set_boot_info(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t load_addr, uint64_t size,
		     const uint8_t sig[64], uint32_t *load_idx_out);
int hl_remap_vm_image(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn, uint32_t load_idx);
/* verify_and_load_images: *verified_out = 1 if READY -> VERIFIED happened */
int hl_verify_vm_image(struct hl_engine *e, int cpu, uint32_t vmid, int *verified_out);

int hl_smmu_alloc_pgd(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t vmid, uint32_t index);
int hl_smmu_free_pgd(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t index);
int hl_smmu_assign_page(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t index, uint64_t pfn,
			uint64_t gfn);
int hl_smmu_map_page(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t index, hl_iova_t iova,
		     uint64_t pte);
int hl_smmu_clear(struct hl_engine *e, int cpu, hl_iova_t iova, uint32_t cbndx, uint32_t index);
/* read-only: OSMMU_GET (no record); *pa_out = phys_page(pte) + (iova & 0xFFF) */
int hl_smmu_iova_to_phys(struct hl_engine *e, int cpu, hl_iova_t iova, uint32_t cbndx,
			 uint32_t index, uint64_t *pa_out);
/* read-only: OVM_GET / search_load_info (no record); *remap_out = 0 if not found */
int hl_search_load_info(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t addr,
			uint64_t *remap_out);

/* read-only: s2page[pfn] under the s2page lock (no record); pfn < 2^28 else HL_E_INVAL */
int hl_page_get(struct hl_engine *e, int cpu, uint64_t pfn, struct hl_s2page *out);

/*
 * prot_and_map_vm_s2pt: the host's answer (addr, pte, level) to a guest stage-2 fault of
 * VM vmid (SPEC §13, §14). Prepare, then commit:
 *   prepare (nothing changes, no record): addr < 2^48; the frame is RAM; level 2 (a 2 MiB
 *     block): frame 2 MiB aligned and all 512 pages RAM (else HL_E_INVAL); then, under the
 *     VM's vminfo lock and a read-only step on s2page -> npt(vmid): the npt slot is free
 *     (no page, no block over it; for level 2 no block and no level-3 table) and every
 *     page is one OASSIGN_VM takes without halting or refusing (the host's with count 0
 *     and dma 0, or already vmid's for that gfn or unbound) (else HL_E_DENIED);
 *   commit: OASSIGN_VM for each page, then OMAP_VM (each its own operation, as the seed).
 * Any level but 2 is a level-3 page (C). The whole answer holds vminfo(vmid) (an outer
 * step that changes and appends nothing), so the answers of two vCPUs of one VM are
 * serialized: the later one sees the earlier one's mapping in its prepare and is refused
 * before it moves a page. No other step changes a VM's table once it runs (OMAP_IO needs
 * READY and takes vminfo too), so a committed answer is never refused halfway. A page of
 * the answer that the host hands elsewhere at the same moment (another VM's answer, its
 * SMMU) makes the seed's OASSIGN_VM halt branch fire: that CPU halts (SPEC §8).
 */
int hl_vm_fault_answer(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t addr, uint64_t pte,
		       uint64_t level);

/* hosted page memory access for tests and the host model (not engine state) */
uint8_t *hl_ram_page(struct hl_engine *e, uint64_t pfn);

#endif
