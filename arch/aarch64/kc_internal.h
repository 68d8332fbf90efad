/* kc_internal.h - pieces of the trap layer shared between its source files. */
#ifndef HL_KC_INTERNAL_H
#define HL_KC_INTERNAL_H

#include "kcore.h"

int64_t kc_errno(int st);
/* emulate_mmio: one host access to an SMMU register window, under the smmu lock */
int kc_emulate_mmio(struct kcore *k, unsigned cpu, struct trap_frame *f, uint64_t ipa);
/* the emulated SMMU's reset values, which already satisfy every rule of mmio.c */
void kc_smmu_reset(struct kcore *k, unsigned index);
/* drop the SMMU TLB entries of `bank` (HL_SMMU_ID_OF) at `iova` (HL_SPT_TLBI_ALL: all of the
 * bank's SMMU); called by the engine inside the step that removed the entry (ctx = k) */
void kc_smmu_tlbi(void *ctx, unsigned bank, uint64_t iova);
/* the bank (index, cbndx) changed hands: its CBAR.VMID / CBA2R.VMID16 := the owner's (0 for
 * the host and a free bank), under the smmu lock */
int kc_smmu_bank_owner_sync(struct kcore *k, unsigned cpu, unsigned index, unsigned cbndx);

/* context switch (CtxtSwitch): save/restore the host, restore/save a VM */
void kc_save_host(struct kcore *k, unsigned cpu);
void kc_restore_host(struct kcore *k, unsigned cpu);
void kc_restore_vm_el2(struct kcore *k, unsigned cpu, uint32_t vmid, struct shadow_ctxt *sh);
void kc_save_vm_el1(struct kcore *k, unsigned cpu, struct shadow_ctxt *sh);

#endif
