/*
 * hl_access.h - read-only critical sections for the trap layer: the software MMU walks,
 * KCore's access to host memory, the SMMU register emulation under the smmu lock.
 *
 * Each takes its lock as a step (so the order check, the stranded check and the
 * held-by-me witness apply) and appends nothing: it changes no engine object.
 */
#ifndef HL_ACCESS_H
#define HL_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "hl_engine.h"
#include "hl_types.h"

/* walk principal `princ`'s stage-2 table at `ipa` under its lock */
int hl_translate(struct hl_engine *e, int cpu, unsigned princ, hl_ipa_t ipa, struct hl_pt_entry *out);

/* walk SMMU bank `bank` (HL_SMMU_ID_OF(index, cbndx)) at `iova` under the spt lock: what the
 * SMMU's table walker reads (kcore_smmu_dma) */
int hl_spt_translate(struct hl_engine *e, int cpu, unsigned bank, uint64_t iova, struct hl_pt_entry *out);

/* copy to/from host memory at `pa`: every page must be host-owned RAM (under s2page) */
int hl_host_mem_read(struct hl_engine *e, int cpu, hl_pa_t pa, void *buf, uint32_t len);
int hl_host_mem_write(struct hl_engine *e, int cpu, hl_pa_t pa, const void *buf, uint32_t len);

/* a VM's access to its own memory after translation: the page must be owned by vmid */
int hl_vm_mem_access(struct hl_engine *e, int cpu, uint32_t vmid, hl_pa_t pa, void *buf, uint32_t len,
		     bool write);

/* run fn under the smmu lock with the bank owners (smmu_vmid) */
typedef int (*hl_smmu_locked_fn)(void *arg, const uint32_t *owners);
int hl_with_smmu_locked(struct hl_engine *e, int cpu, hl_smmu_locked_fn fn, void *arg);

/* VM state and inc_exe (OVM_GET-style read) */
int hl_vm_state(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t *state, uint64_t *inc_exe);

/* VM state and how many of its vCPUs are ACTIVE (running on some CPU), read under vminfo */
int hl_vm_active_vcpus(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t *state, unsigned *nactive);

/* the vCPU handle the host registered (its struct's PA) */
int hl_vcpu_handle(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid, uint64_t *handle);

/* PA of principal `princ`'s stage-2 root: fixed at boot, so no lock */
uint64_t hl_pt_root_pa_of(const struct hl_engine *e, unsigned princ);

/* A KCore check outside any transition failed (e.g. a boot PC outside every image): the
 * CPU halts holding nothing (SPEC §8). */
void hl_cpu_halt(struct hl_engine *e, int cpu);

#endif
