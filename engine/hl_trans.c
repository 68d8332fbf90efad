/*
 * hl_trans.c - every transition of SPEC §6, as the seed's local_* function corrected by
 * SPEC §9, with the halt semantics of SPEC §8.
 *
 * Each tr_*() runs in live mode (locks + logs) and in replay mode (CalStateH). Its table
 * is written above it: pre-state => post-state, and the locks it takes. "halt{X,Y}" means
 * the halt branch; X and Y stay locked forever (the seed clears their hlock).
 *
 * Isolation rules (SPEC §12-§17). "DENIED" means: HL_E_DENIED, nothing changed, no record.
 * Order inside a step: the seed's own checks and halt branches come first, exactly as the
 * seed has them; the isolation refusals come after them and before the first write. So a
 * step the seed halts on still halts, and a step the seed lets through is either done or
 * DENIED, never half done.
 *   §12 s2page[pfn].dma counts the SMMU entries (any bank, free or owned) that map pfn;
 *       a page never changes owner (OCLEAR_VM, OASSIGN_VM, OASSIGN_SMMU) while dma != 0;
 *       OSMMU_FREE clears every entry of the bank; host DMA counts (count of host pages)
 *       stay exact: +1 per host-bank entry, -1 when that entry goes, never for a VM bank.
 *   §13 a VM's stage-2 entry is set once: OMAP_VM never replaces an entry (a page over
 *       a page, a block over a table, a page inside a block); OMAP_IO never replaces the
 *       VM's memory (a RAM page, a block).
 */
#include "hl_trans.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arch.h"   /* arch_tlbi_s2_ipa: one hook per backend */
#include "hl_pgtable.h"
#include "hl_step.h"
#include "hl_fault.h"   /* HL_FI: the mutation suite's engine bugs (no-ops in a normal build) */

#define PG HL_PAGE_SIZE

static inline uint64_t phys_page(uint64_t d) { return d & HL_DESC_ADDR_MASK; }
static inline bool is_vm(uint64_t vmid) { return vmid >= 1 && vmid <= HL_MAX_VM; }

static const unsigned smmu_banks[HL_SMMU_NUM] = { HL_SMMU_NUM_CB, HL_SMMU_NUM_CB / 2 };

unsigned hl_smmu_num_banks(unsigned index)
{
	return index < HL_SMMU_NUM ? smmu_banks[index] : 0;
}

uint8_t *hl_ram_page(struct hl_engine *e, uint64_t pfn)
{
	if (!e->st->ram || !hl_pfn_is_ram(pfn))
		return NULL;
	return e->st->ram + (pfn - HL_RAM_BASE_PFN) * PG;
}

/* ---- small helpers over the state ---------------------------------------------------- */
static struct hl_s2page *s2p_ref(struct hl_step *s, uint64_t pfn)
{
	return &s->st->s2p->page[pfn - HL_RAM_BASE_PFN];
}

/* owner, count, gfn := ...; dma is left as it is (its own writes: s2p_dma) */
static void s2p_store(struct hl_step *s, uint64_t pfn, uint32_t owner, uint32_t count, uint64_t gfn)
{
	struct hl_s2page p = { owner, count, gfn, 0, 0 };
	hl_step_assert_held(s, HL_S2PAGE_ID);
	hl_wr(&s->w, HL_S2PAGE_ID, s2p_ref(s, pfn), &p, offsetof(struct hl_s2page, dma));
}

static void s2p_dma(struct hl_step *s, uint64_t pfn, uint32_t dma)
{
	hl_step_assert_held(s, HL_S2PAGE_ID);
	hl_wr32(&s->w, HL_S2PAGE_ID, &s2p_ref(s, pfn)->dma, dma);
}

static void flatmem_store(struct hl_step *s, uint64_t pfn, uint64_t digest)
{
	hl_wr64(&s->w, HL_S2PAGE_ID, &s->st->s2p->flatmem[pfn - HL_RAM_BASE_PFN], digest);
}

/* data oracle: the content the host left in a page it hands over (live: real bytes) */
static uint64_t dorc_page(struct hl_step *s, uint64_t pfn)
{
	if (s->replay)
		return s->dorc;
	if (!s->st->ram)
		return hl_zero_page_digest();
	return hl_page_digest(s->st->ram + (pfn - HL_RAM_BASE_PFN) * PG);
}

static void zero_page(struct hl_step *s, uint64_t pfn)
{
	if (!s->replay && s->st->ram && !HL_FI(CLEAR_NO_ZERO))
		memset(s->st->ram + (pfn - HL_RAM_BASE_PFN) * PG, 0, PG);
	flatmem_store(s, pfn, hl_zero_page_digest());
}

static struct hl_vminfo *info_of(struct hl_step *s, uint64_t vmid)
{
	return s->st->info[vmid];
}

/* the npt(host) object a step locks for host IPA ipa: its shard (RAM, npt(host) sharded)
 * or npt(HOSTVISOR) (DESIGN2.md "npt(host) shards", engine/hl_pgtable.h) */
static unsigned npt_host_obj(const struct hl_step *s, uint64_t ipa)
{
	return hl_npth_obj(s->st->ref, ipa);
}

/*
 * With npt(host) sharded, a host map at a RAM IPA writes exactly one L3 entry, in the
 * shard of that IPA, under the shard's lock only: the root, L1 and L2 entries covering
 * RAM were written at init and are never written again, so the step reads them without
 * the residual's lock. Checked here: a missing preallocated table is an engine bug when
 * live (abort); in replay only a forged record can have removed it, so the step takes the
 * corrupted-image halt branch, which the record then contradicts.
 */
static bool npt_map(struct hl_step *s, unsigned princ, uint64_t addr, unsigned level, uint64_t pte)
{
	unsigned obj = HL_NPT_OBJ(princ);

	if (princ == HL_HOSTVISOR && (obj = npt_host_obj(s, addr)) != HL_NPT_OBJ(HL_HOSTVISOR) &&
	    (level != 3 || !hl_npth_ready(s->st->npt[HL_HOSTVISOR], addr))) {
		if (s->replay)
			return true;
		fprintf(stderr, "hyplog: %s on cpu %d: the host table's preallocated RAM tables "
			"changed after init (IPA 0x%llx)\n", hl_event_name(s->event), s->cpu,
			(unsigned long long)addr);
		abort();
	}
	hl_step_assert_held(s, obj);
	if (obj != HL_NPT_OBJ(princ)) {
		hl_npth_set_leaf(&s->w, s->st->npt[HL_HOSTVISOR], addr, pte);   /* its shard's L3 entry */
		return false;
	}
	return hl_npt_map(&s->w, HL_NPT_OBJ(princ), s->st->npt[princ], addr, level, pte);
}

/*
 * Unmap a page from the host table the seed's way: if the host maps it, overwrite the
 * entry with PAGE_GUEST (an invalid descriptor carrying the "given to a guest" mark).
 * Returns true on the mmap halt (cannot happen when the entry exists; kept for fidelity).
 */
static bool host_unmap(struct hl_step *s, uint64_t pfn)
{
	struct hl_pt_entry e;

	hl_npt_walk(s->st->npt[HL_HOSTVISOR], pfn * PG, &e);
	if (phys_page(e.pte) == 0 || e.level == 0)
		return false;
	if (npt_map(s, HL_HOSTVISOR, pfn * PG, 3, HL_PAGE_GUEST))
		return true;
	/* SPEC §15: the old translation leaves every CPU's TLB here, inside the step, with its
	 * locks held, before the page changes hands (arch.h; VMID 0 is the host's) */
	if (!s->replay && !HL_FI(TLBI_SKIP))
		arch_tlbi_s2_ipa(hl_pt_root_pa(s->st->npt[HL_HOSTVISOR]), pfn * PG);
	return false;
}

#define LOCK(obj)                                           \
	do {                                                \
		int _rc = hl_step_lock(s, (obj));           \
		if (_rc)                                    \
			return _rc;                         \
	} while (0)

/*
 * s2page with shards (issue 11, engine/hl_state.h): a step locks the shard that owns each
 * page it reads or writes, known from its arguments before it locks (a pfn outside RAM
 * reads a constant entry: the first or last shard stands for it), in ascending order; a
 * step whose pages are known only from state read under a later lock (a bank's entries)
 * locks every shard. Without shards both lock s2page itself, as SPEC.
 */
#define LOCK_S2P(pfn, n)                                    \
	do {                                                \
		int _rc = hl_step_lock_s2p(s, (pfn), (n));  \
		if (_rc)                                    \
			return _rc;                         \
	} while (0)
#define LOCK_S2P_ALL()                                      \
	do {                                                \
		int _rc = hl_step_lock_s2p_all(s);          \
		if (_rc)                                    \
			return _rc;                         \
	} while (0)

/* ===================================================================================== */
/*
 * OMAP_HOST addr                                   locks: s2page[pfn] -> npt(host)
 *   s2page[pfn].owner == INVALID                => host maps pfn, PAGE_S2_DEVICE|S2_RDWR
 *   owner == HOSTVISOR or count > 0            => host maps pfn, PAGE_S2_KERNEL
 *   otherwise                                   => halt{s2page}
 *   table pool exhausted                        => halt{s2page, npt(host)}
 */
static int tr_map_host(struct hl_step *s)
{
	uint64_t addr = s->arg[0], pfn = addr / PG;
	struct hl_s2page p;
	uint64_t pte;

	LOCK_S2P(pfn, 1);
	LOCK(npt_host_obj(s, addr));
	p = hl_s2page_get(s->st, pfn);
	if (!(p.owner == HL_INVALID || p.owner == HL_HOSTVISOR || (p.count > 0 && p.count != HL_INVALID)) &&
	    !HL_FI(HOST_MAPS_VM))
		return hl_step_halt(s, 1, HL_S2PAGE_ID);
	if (p.owner == HL_INVALID)
		pte = (pfn * PG) | HL_PAGE_S2_DEVICE | HL_PTE_S2_RDWR;
	else
		pte = (pfn * PG) | HL_PAGE_S2_KERNEL;
	if (npt_map(s, HL_HOSTVISOR, addr, 3, pte))
		return hl_step_halt(s, 2, HL_S2PAGE_ID, HL_NPT_OBJ(HL_HOSTVISOR));
	return HL_OK;
}

/*
 * OCLEAR_VM vmid pfn            locks: vminfo(vmid) (read) -> s2page[pfn] -> npt(host)
 *   s2page[pfn].owner == vmid, dma != 0 => DENIED (§12: an SMMU bank, even a freed one,
 *                                 still maps the page; it never goes back while mapped)
 *   s2page[pfn].owner == vmid, vminfo(vmid).state == POWEROFF, some vcpu_state == ACTIVE
 *                              => DENIED (§12, §17, H13: a vCPU that was in the guest when
 *                                 another vCPU powered the VM off still runs on the VM's
 *                                 stage 2 until its OVM_INACTIVE; the page never goes back
 *                                 under it. Read under vminfo's lock, so the read is in the
 *                                 record and the oracles order the step against the vCPU's
 *                                 OVM_INACTIVE. A VM not POWEROFF keeps the seed/C rule: the
 *                                 trap layer clears only POWEROFF VMs; engine-level callers
 *                                 hand back pages a live VM has not mapped)
 *   s2page[pfn].owner == vmid  => s2page[pfn] := {HOSTVISOR, 0, pfn + SMMU_HOST_OFFSET, dma 0},
 *                                 flatmem[pfn] := 0, host entry (if any) := PAGE_GUEST (§9.7)
 *   otherwise                  => no change
 */
static bool vm_off_but_running(const struct hl_vminfo *vi)
{
	if (vi->state != HL_VM_POWEROFF)
		return false;
	for (unsigned v = 0; v < HL_VCPU_PER_VM; v++)
		if (vi->vcpu_state[v] == HL_VCPU_ACTIVE)
			return true;
	return false;
}

static int tr_clear_vm(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], pfn = s->arg[1];
	struct hl_s2page p;

	LOCK(HL_INFO_OBJ(vmid));
	LOCK_S2P(pfn, 1);
	LOCK(npt_host_obj(s, pfn * PG));
	p = hl_s2page_get(s->st, pfn);
	if (p.owner != vmid || !hl_pfn_is_ram(pfn))
		return HL_OK;
	if (p.dma != 0 && !HL_FI(CLEAR_WHILE_DMA))
		return HL_E_DENIED;
	if (vm_off_but_running(info_of(s, vmid)) && !HL_FI(CLEAR_WHILE_RUNNING))
		return HL_E_DENIED;
	if (!HL_FI(CLEAR_NO_UNMAP) && host_unmap(s, pfn))
		return hl_step_halt(s, 2, HL_S2PAGE_ID, HL_NPT_OBJ(HL_HOSTVISOR));
	s2p_store(s, pfn, HL_HOSTVISOR, 0, pfn + HL_SMMU_HOST_OFFSET);
	zero_page(s, pfn);
	return HL_OK;
}

/*
 * OASSIGN_VM vmid gfn pfn (dorc = content digest)  locks: s2page[pfn] -> npt(host)
 *   owner HOSTVISOR, count 0 => s2page[pfn] := {vmid, 0, gfn}, flatmem[pfn] := dorc,
 *                               host entry := PAGE_GUEST; no halt (§9.4)
 *       host unmap exhausts the pool => halt{s2page, npt(host)} (s2page stored, as the seed)
 *   owner HOSTVISOR, count != 0 => halt{s2page}
 *   owner HOSTVISOR, count 0, dma != 0 => DENIED (§12; unreachable while counts are exact,
 *       as a host page's dma equals its count, kept so the rule holds on its own)
 *   owner vmid, gfn matches or unset => count INVALID -> 0, gfn := gfn (§9.5)
 *   otherwise => halt{s2page}
 */
static int tr_assign_vm(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], gfn = s->arg[1], pfn = s->arg[2];
	struct hl_s2page p;

	LOCK_S2P(pfn, 1);
	LOCK(npt_host_obj(s, pfn * PG));
	p = hl_s2page_get(s->st, pfn);
	if (p.owner == HL_HOSTVISOR) {
		if (p.count != 0)
			return hl_step_halt(s, 1, HL_S2PAGE_ID);
		if (p.dma != 0)
			return HL_E_DENIED;
		s2p_store(s, pfn, (uint32_t)vmid + HL_FI(ASSIGN_WRONG_VMID), 0, gfn);
		if (!HL_FI(ASSIGN_NO_UNMAP) && host_unmap(s, pfn)) {
			s->dorc = dorc_page(s, pfn);
			return hl_step_halt(s, 2, HL_S2PAGE_ID, HL_NPT_OBJ(HL_HOSTVISOR));
		}
		/* SPEC §15: the content is read once no host CPU can write it any more (host_unmap
		 * invalidated every TLB), so the digest is what the VM gets */
		s->dorc = dorc_page(s, pfn);
		flatmem_store(s, pfn, s->dorc);
		if (HL_FI(ASSIGN_HALTS))   /* fault: the seed's success path halts (REFERENCE 7.4) */
			return hl_step_halt(s, 2, HL_S2PAGE_ID, HL_NPT_OBJ(HL_HOSTVISOR));
		return HL_OK;
	}
	if (p.owner == vmid && (p.gfn == gfn || p.gfn == HL_INVALID64)) {
		uint32_t count = p.count == HL_INVALID ? 0 : p.count;
		if ((count != p.count || gfn != p.gfn) && !HL_FI(ASSIGN_NO_FIXUP))
			s2p_store(s, pfn, p.owner, count, gfn);
		return HL_OK;
	}
	if (is_vm(p.owner) && HL_FI(DOUBLE_ASSIGN))   /* fault: another VM's page changes hands */
		return s2p_store(s, pfn, (uint32_t)vmid, 0, gfn), HL_OK;
	return hl_step_halt(s, 1, HL_S2PAGE_ID);
}

/*
 * OMAP_VM vmid addr pte level                      locks: npt(vmid)
 *   the entry is set already (§13): level 3 over a valid page or inside a 2 MiB block,
 *       level 2 over a block or over a level-3 table => DENIED (C: "set existing npt"
 *       panics; the value is host-chosen, so refused instead, SPEC §17)
 *   otherwise map addr at level (2 or 3) with phys_page(pte) | PAGE_S2_KERNEL (2: block)
 *   pool exhausted => halt{npt(vmid)}
 */
static int tr_map_vm(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], addr = s->arg[1], pte = s->arg[2], level = s->arg[3];
	uint64_t pte2 = phys_page(pte) | HL_PAGE_S2_KERNEL;

	LOCK(HL_NPT_OBJ(vmid));
	if (!hl_npt_slot_free(s->st->npt[vmid], addr, level == 2 ? 2 : 3) && !HL_FI(VM_MAP_OVER))
		return HL_E_DENIED;
	if (level == 2)
		pte2 &= HL_NOT_PMD_TABLE_BIT;
	if (npt_map(s, (unsigned)vmid, addr, level == 2 && !HL_FI(MAP_VM_LEVEL) ? 2 : 3, pte2))
		return hl_step_halt(s, 1, HL_NPT_OBJ(vmid));
	return HL_OK;
}

/* OMAP_IO's part of §13: no block over gpa, and no RAM page at gpa */
static bool io_slot_ok(const uint8_t *npt, uint64_t gpa)
{
	struct hl_pt_entry ent;

	hl_npt_walk(npt, gpa, &ent);
	if (ent.level == 2)
		return false;
	return ent.level == 0 || !hl_pfn_is_ram(phys_page(ent.pte) / PG);
}

/*
 * OMAP_IO vmid gpa pa                   locks: vminfo(vmid) -> s2page[pa/4K] -> npt(vmid)
 *   VM not READY => halt{vminfo(vmid)} (§9.7, as C map_io)
 *   s2page[pa].owner == INVALID:
 *       gpa inside a 2 MiB block, or over a level-3 entry that maps RAM => DENIED (§13:
 *           the VM's memory is set once; the seed halts inside a block and overwrites a
 *           page, on host-chosen input, §17)
 *       otherwise (nothing there, or a device page: the seed's overwrite stays) => VM
 *           maps gpa -> pa, PAGE_S2_DEVICE|S2_RDWR
 *       pool exhausted => halt{s2page, npt(vmid)}
 *   otherwise (RAM) => no change
 */
static int tr_map_io(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], gpa = s->arg[1], pa = s->arg[2];
	uint64_t pte = phys_page(pa) | HL_PAGE_S2_DEVICE | HL_PTE_S2_RDWR;

	LOCK(HL_INFO_OBJ(vmid));
	LOCK_S2P(pa / PG, 1);
	LOCK(HL_NPT_OBJ(vmid));
	if (info_of(s, vmid)->state != HL_VM_READY && !HL_FI(IO_ANY_STATE))
		return hl_step_halt(s, 1, HL_INFO_OBJ(vmid));
	if (hl_s2page_get(s->st, pa / PG).owner != HL_INVALID)
		return HL_OK;
	if (!io_slot_ok(s->st->npt[vmid], gpa))
		return HL_E_DENIED;
	if (npt_map(s, (unsigned)vmid, gpa, 3, pte))
		return hl_step_halt(s, 2, HL_S2PAGE_ID, HL_NPT_OBJ(vmid));
	return HL_OK;
}

/*
 * OGRANT vmid pfn                                  locks: s2page[pfn]
 *   owner == vmid and count < MAX_SHARE_COUNT => count + 1
 *   otherwise => no change
 */
static int tr_grant(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], pfn = s->arg[1];
	struct hl_s2page p;

	LOCK_S2P(pfn, 1);
	if (HL_FI(GRANT_LOGS_CLEAR))   /* fault: the seed's placeholder event (REFERENCE 7.2) */
		s->event = HL_EV_CLEAR_VM;
	p = hl_s2page_get(s->st, pfn);
	if (hl_pfn_is_ram(pfn) && p.owner == vmid && (p.count < HL_MAX_SHARE_COUNT || HL_FI(GRANT_PAST_MAX)))
		s2p_store(s, pfn, p.owner, p.count + 1, p.gfn);
	return HL_OK;
}

/*
 * OREVOKE vmid pfn (dorc = content digest)         locks: s2page[pfn] -> npt(host)
 *   owner == vmid and 0 < count: count - 1; when it drops 1 -> 0: host entry :=
 *       PAGE_GUEST, flatmem[pfn] := dorc; no halt on success (§9.4)
 *       host unmap exhausts the pool => halt{s2page, npt(host)}
 *   otherwise => no change
 */
static int tr_revoke(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], pfn = s->arg[1];
	struct hl_s2page p;

	LOCK_S2P(pfn, 1);
	LOCK(npt_host_obj(s, pfn * PG));
	p = hl_s2page_get(s->st, pfn);
	if (!hl_pfn_is_ram(pfn) || p.owner != vmid || (p.count == 0 && !HL_FI(REVOKE_AT_ZERO)) ||
	    p.count == HL_INVALID)
		return HL_OK;
	if (!HL_FI(REVOKE_NO_DEC))
		s2p_store(s, pfn, p.owner, p.count - 1, p.gfn);
	if (p.count == 1 && !HL_FI(REVOKE_NO_UNMAP)) {
		if (host_unmap(s, pfn)) {
			s->dorc = dorc_page(s, pfn);
			return hl_step_halt(s, 2, HL_S2PAGE_ID, HL_NPT_OBJ(HL_HOSTVISOR));
		}
		s->dorc = dorc_page(s, pfn);   /* after the TLBs dropped the host's mapping (§15) */
		flatmem_store(s, pfn, s->dorc);
	}
	return HL_OK;
}

/*
 * OGEN_VMID                                        locks: core
 *   next_vmid < COREVISOR => ret := next_vmid, next_vmid + 1
 *   otherwise => halt (§9.6: gen_vmid never passes COREVISOR)
 */
static int tr_gen_vmid(struct hl_step *s)
{
	struct hl_core_data *core = s->st->core;

	LOCK(HL_CORE_ID);
	if (core->next_vmid >= HL_COREVISOR && !(core->next_vmid == HL_COREVISOR && HL_FI(VMID_NO_BOUND)))
		return hl_step_halt(s, 0);
	s->ret = core->next_vmid;
	hl_wr64(&s->w, HL_CORE_ID, &core->next_vmid, core->next_vmid + 1);
	return HL_OK;
}

/*
 * OREG_KVM vmid kvm key_idx                        locks: vminfo(vmid)
 *   state UNUSED => state READY, kvm := handle, inc_exe 0, key_idx stored
 *   otherwise => halt
 * key_idx names one of KCore's provisioned keys (SPEC §11, hyplog: the C hard-codes one
 * key); hl_register_kvm refused key_idx >= nkeys before this step, so the stored index
 * always names a key KCore holds. The host never supplies key bytes.
 */
static int tr_reg_kvm(struct hl_step *s)
{
	uint64_t vmid = s->arg[0];
	struct hl_vminfo *vi;

	LOCK(HL_INFO_OBJ(vmid));
	vi = info_of(s, vmid);
	s->ret = vmid;
	if (vi->state != HL_VM_UNUSED)
		return hl_step_halt(s, 0);
	hl_wr64(&s->w, HL_INFO_OBJ(vmid), &vi->kvm, s->arg[1]);
	hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->state, HL_VM_READY);
	hl_wr64(&s->w, HL_INFO_OBJ(vmid), &vi->inc_exe, 0);
	hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->key_idx, (uint32_t)s->arg[2]);
	return HL_OK;
}

/*
 * OREG_VCPU vmid vcpuid vcpu                       locks: vminfo(vmid)
 *   VM READY and vcpu UNUSED => vcpu handle stored, vcpu READY
 *   otherwise => halt
 */
static int tr_reg_vcpu(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], vcpuid = s->arg[1];
	struct hl_vminfo *vi;

	LOCK(HL_INFO_OBJ(vmid));
	vi = info_of(s, vmid);
	if ((vi->state != HL_VM_READY && !HL_FI(REG_VCPU_ANY_STATE)) || vi->vcpu_state[vcpuid] != HL_VCPU_UNUSED)
		return hl_step_halt(s, 0);
	hl_wr64(&s->w, HL_INFO_OBJ(vmid), &vi->vcpu[vcpuid], s->arg[2]);
	hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->vcpu_state[vcpuid], HL_VCPU_READY);
	return HL_OK;
}

/*
 * OVM_ACTIVE vmid vcpuid                           locks: vminfo(vmid)
 *   VM VERIFIED and vcpu READY => vcpu ACTIVE;   otherwise => halt
 * OVM_INACTIVE vmid vcpuid (§9.1)                  locks: vminfo(vmid)
 *   vcpu ACTIVE => vcpu READY;                   otherwise => halt
 */
static int tr_vm_active(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], vcpuid = s->arg[1];
	struct hl_vminfo *vi;

	LOCK(HL_INFO_OBJ(vmid));
	vi = info_of(s, vmid);
	if ((vi->state != HL_VM_VERIFIED && !(vi->state == HL_VM_READY && HL_FI(RUN_UNVERIFIED))) ||
	    (vi->vcpu_state[vcpuid] != HL_VCPU_READY && !HL_FI(ACTIVE_TWICE)))
		return hl_step_halt(s, 0);
	hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->vcpu_state[vcpuid], HL_VCPU_ACTIVE);
	return HL_OK;
}

static int tr_vm_inactive(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], vcpuid = s->arg[1];
	struct hl_vminfo *vi;

	LOCK(HL_INFO_OBJ(vmid));
	vi = info_of(s, vmid);
	if (vi->vcpu_state[vcpuid] != HL_VCPU_ACTIVE)
		return hl_step_halt(s, 0);
	if (HL_FI(INACTIVE_STAYS))   /* fault: the seed runs local_set_vcpu_active (REFERENCE 7.1) */
		return HL_OK;
	hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->vcpu_state[vcpuid], HL_VCPU_READY);
	return HL_OK;
}

/*
 * OVM_POWEROFF vmid                                locks: vminfo(vmid)
 *   any state => POWEROFF
 */
static int tr_vm_poweroff(struct hl_step *s)
{
	uint64_t vmid = s->arg[0];
	struct hl_vminfo *vi;

	LOCK(HL_INFO_OBJ(vmid));
	vi = info_of(s, vmid);
	if (vi->state != HL_VM_POWEROFF)
		hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->state, HL_VM_POWEROFF);
	return HL_OK;
}

/*
 * OBOOT_INFO vmid load_addr size (blob = signature)  locks: vminfo(vmid) -> core
 *   VM not READY => halt
 *   load_idx = next_load_info >= MAX_LOAD_INFO => no change, ret := load_idx
 *   pgnum = ceil(size / 4K); remap + pgnum*4K >= REMAP_END => halt
 *   otherwise => next_remap_ptr += pgnum*4K; load[idx] := {addr, size, remap, 0, sig};
 *                next_load_info + 1; ret := idx
 */
static int tr_boot_info(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], load_addr = s->arg[1], size = s->arg[2];
	struct hl_vminfo *vi;
	struct hl_core_data *core;
	uint64_t idx, pgnum, remap;
	struct hl_load_info li;

	LOCK(HL_INFO_OBJ(vmid));
	LOCK(HL_CORE_ID);
	vi = info_of(s, vmid);
	core = s->st->core;
	if (vi->state != HL_VM_READY && !HL_FI(BOOT_INFO_ANY_STATE))
		return hl_step_halt(s, 0);
	idx = vi->next_load_info;
	s->ret = idx;
	if (idx >= HL_MAX_LOAD_INFO)
		return HL_OK;
	pgnum = (size + 4095) / PG;
	remap = core->next_remap_ptr;
	if (remap + pgnum * PG >= HL_REMAP_END && !HL_FI(REMAP_WINDOW_FULL))
		return hl_step_halt(s, 0);
	hl_wr64(&s->w, HL_CORE_ID, &core->next_remap_ptr, remap + pgnum * PG);
	memset(&li, 0, sizeof(li));
	li.load_addr = load_addr;
	li.size = size;
	li.remap_addr = remap;
	li.mapped_pages = 0;
	memcpy(li.signature, s->blob, s->blob_len < 64 ? s->blob_len : 64);
	hl_wr(&s->w, HL_INFO_OBJ(vmid), &vi->load[idx], &li, sizeof(li));
	hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->next_load_info, (uint32_t)idx + 1);
	return HL_OK;
}

/*
 * OREMAP_IMAGE vmid pfn load_idx                   locks: vminfo(vmid) -> npt(COREVISOR)
 *   VM not READY => halt{vminfo(vmid)}
 *   load_idx < next_load_info and mapped < pgnum => COREVISOR maps
 *       remap + mapped*4K -> pfn*4K | PAGE_HYP; mapped + 1
 *       pool exhausted => halt{vminfo(vmid), npt(COREVISOR)}
 *   otherwise => no change
 */
static int tr_remap_image(struct hl_step *s)
{
	uint64_t vmid = s->arg[0], pfn = s->arg[1], idx = s->arg[2];
	struct hl_vminfo *vi;
	struct hl_load_info *li;
	uint64_t pgnum, target;

	LOCK(HL_INFO_OBJ(vmid));
	LOCK(HL_NPT_OBJ(HL_COREVISOR));
	vi = info_of(s, vmid);
	if (vi->state != HL_VM_READY && !HL_FI(REMAP_ANY_STATE))
		return hl_step_halt(s, 1, HL_INFO_OBJ(vmid));
	if (idx >= vi->next_load_info)
		return HL_OK;
	li = &vi->load[idx];
	pgnum = (li->size + 4095) / PG;
	if (li->mapped_pages >= pgnum && !HL_FI(REMAP_PAST_END))
		return HL_OK;
	target = li->remap_addr + li->mapped_pages * PG;
	if (npt_map(s, HL_COREVISOR, target, 3, (pfn * PG) | HL_PAGE_HYP))
		return hl_step_halt(s, 2, HL_INFO_OBJ(vmid), HL_NPT_OBJ(HL_COREVISOR));
	hl_wr64(&s->w, HL_INFO_OBJ(vmid), &li->mapped_pages, li->mapped_pages + 1);
	return HL_OK;
}

/* OVERIFY's dorc: the images verified / a load step halted the CPU inside the load */
#define VERIFY_OK 1u
#define VERIFY_LOAD_HALTED 2u

/*
 * OVERIFY vmid (dorc = VERIFY_OK if every image signature verified,
 *               VERIFY_LOAD_HALTED if a per-page load step halted)   locks: vminfo(vmid)
 *   (the per-page OASSIGN_VM / OMAP_VM steps run before this, as their own operations)
 *   VM not READY => halt{vminfo(vmid)}
 *   dorc == VERIFY_LOAD_HALTED => halt{vminfo(vmid)} (held for the whole load, as C)
 *   dorc == VERIFY_OK => VERIFIED;  otherwise => stays READY (§9.10)
 */
static int tr_verify_final(struct hl_step *s)
{
	uint64_t vmid = s->arg[0];
	struct hl_vminfo *vi;

	LOCK(HL_INFO_OBJ(vmid));
	vi = info_of(s, vmid);
	if (vi->state != HL_VM_READY)
		return hl_step_halt(s, 1, HL_INFO_OBJ(vmid));
	if (s->dorc == VERIFY_LOAD_HALTED)
		return hl_step_halt(s, 1, HL_INFO_OBJ(vmid));
	if (s->dorc == VERIFY_OK)
		hl_wr32(&s->w, HL_INFO_OBJ(vmid), &vi->state, HL_VM_VERIFIED);
	return HL_OK;
}

/* owner of bank (index, cbndx) or INVALID; caller holds smmu */
static uint32_t bank_owner(struct hl_step *s, uint64_t index, uint64_t cbndx)
{
	return s->st->smmu->owner[HL_SMMU_ID_OF(index, cbndx)];
}

/*
 * OSMMU_ALLOC cbndx vmid index num                 locks: smmu -> vminfo(vmid) -> spt
 *   cbndx >= num (banks of this SMMU) => halt{smmu}: the seed's branch, kept; it cannot be
 *       taken, as hl_trans_valid refuses cbndx >= banks(index) and num != banks(index)
 *       (HL_E_INVAL, SPEC §17: a bank index past SMMU 1's banks is bad input, not a halt)
 *   bank free, VM VERIFIED => halt{smmu, vminfo(vmid)} (§9.7, C alloc_smmu panics)
 *   bank free => owner := vmid; the bank's table root is reset
 *   bank owned => no change
 */
static int tr_smmu_alloc(struct hl_step *s)
{
	uint64_t cbndx = s->arg[0], vmid = s->arg[1], index = s->arg[2], num = s->arg[3];
	unsigned bank = HL_SMMU_ID_OF(index, cbndx);

	LOCK(HL_SMMU_ID);
	LOCK(HL_INFO_OBJ(vmid));
	LOCK(HL_SPT_ID);
	if (cbndx >= num)
		return hl_step_halt(s, 1, HL_SMMU_ID);
	if (bank_owner(s, index, cbndx) != HL_INVALID)
		return HL_OK;
	if (is_vm(vmid) && info_of(s, vmid)->state == HL_VM_VERIFIED && !HL_FI(SMMU_ALLOC_VERIFIED))
		return hl_step_halt(s, 2, HL_SMMU_ID, HL_INFO_OBJ(vmid));
	hl_wr32(&s->w, HL_SMMU_ID, &s->st->smmu->owner[bank], (uint32_t)vmid);
	hl_spt_reset_bank(&s->w, s->st->spt, bank);
	return HL_OK;
}

/*
 * One SMMU entry that mapped pfn, in a bank owned by bank_owner, is gone (§12): dma - 1;
 * a host page's DMA count - 1 only for a host bank's entry (a VM bank never counted it).
 * The guards keep a corrupted (replayed) state from wrapping; live counts are exact.
 */
static void smmu_unref(struct hl_step *s, uint32_t bank_owner, uint64_t pfn)
{
	struct hl_s2page p = hl_s2page_get(s->st, pfn);

	if (!hl_pfn_is_ram(pfn))
		return;
	if (bank_owner == HL_HOSTVISOR && p.owner == HL_HOSTVISOR && p.count > 0 && p.count != HL_INVALID &&
	    !HL_FI(SMMU_CLEAR_NO_COUNT))
		s2p_store(s, pfn, p.owner, p.count - 1, p.gfn);
	if (p.dma > 0 && !HL_FI(DMA_NO_DEC))
		s2p_dma(s, pfn, p.dma - 1);
}

struct bank_clear {
	struct hl_step *s;
	unsigned bank;
	uint32_t owner;
	bool halt;
};

static void bank_clear_leaf(uint64_t gfn, const struct hl_pt_entry *e, void *arg)
{
	struct bank_clear *bc = arg;

	if (bc->halt)
		return;
	/* the tables exist, so clearing allocates nothing and cannot run out of pool */
	if (hl_spt_map(&bc->s->w, bc->s->st->spt, bc->bank, gfn * PG, 0)) {
		bc->halt = true;
		return;
	}
	smmu_unref(bc->s, bc->owner, phys_page(e->pte) / PG);
}

/*
 * OSMMU_FREE cbndx index      locks: smmu -> vminfo(owner) [-> s2page (every shard) -> spt]
 *   bank free => no change
 *   owner not POWEROFF => halt{smmu}
 *   owner POWEROFF => every present entry of the bank := 0, each with OSMMU_CLEAR's
 *       accounting (dma - 1; host page count - 1 for a host bank), then
 *       smmu_vmid[smmu_id(index, cbndx)] := INVALID (§9.3). §12: freeing a bank leaves
 *       nothing mapped through it. (s2page and spt are locked after the state check, in
 *       the global order, so the halt branch touches what the seed's touches.)
 */
static int tr_smmu_free(struct hl_step *s)
{
	uint64_t cbndx = s->arg[0], index = s->arg[1];
	unsigned bank = HL_SMMU_ID_OF(index, cbndx);
	struct bank_clear bc;
	uint32_t owner;

	LOCK(HL_SMMU_ID);
	owner = bank_owner(s, index, cbndx);
	if (owner == HL_INVALID)
		return HL_OK;
	LOCK(HL_INFO_OBJ(owner));
	if (info_of(s, owner)->state != HL_VM_POWEROFF && !HL_FI(SMMU_FREE_LIVE))
		return hl_step_halt(s, 1, HL_SMMU_ID);
	LOCK_S2P_ALL();   /* the bank's pages are known only from spt, locked after s2page */
	LOCK(HL_SPT_ID);
	bc = (struct bank_clear){ s, bank, owner, false };
	if (!HL_FI(SMMU_FREE_KEEP))
		hl_spt_for_each(s->st->spt, bank, bank_clear_leaf, &bc);
	if (bc.halt)
		return hl_step_halt(s, 4, HL_SMMU_ID, HL_INFO_OBJ(owner), HL_S2PAGE_ID, HL_SPT_ID);
	if (HL_FI(SMMU_FREE_VMID))   /* fault: the seed frees smmu_vmid[vmid] (REFERENCE 7.3) */
		bank = owner % HL_SMMU_CFG_SIZE;
	hl_wr32(&s->w, HL_SMMU_ID, &s->st->smmu->owner[bank], HL_INVALID);
	return HL_OK;
}

/*
 * OASSIGN_SMMU cbndx index pfn gfn  locks: smmu -> vminfo(owner) -> s2page[pfn] -> npt(host)
 *   bank free, or owned by the host => no change
 *   owner VERIFIED => halt{smmu, vminfo(owner)}
 *   page host's, count 0 => s2page[pfn] := {owner, INVALID, gfn}, host entry := PAGE_GUEST
 *       (the seed computes the new flatmem but never stores it; so do we)
 *       host unmap exhausts the pool => halt{smmu, vminfo, s2page, npt(host)}
 *   page host's, count != 0 => halt{smmu, vminfo, s2page}
 *   page host's, count 0, dma != 0 => DENIED (§12; as in OASSIGN_VM)
 *   page already the owner's => no change
 *   otherwise => halt{smmu, vminfo, s2page}
 */
static int tr_assign_smmu(struct hl_step *s)
{
	uint64_t cbndx = s->arg[0], index = s->arg[1], pfn = s->arg[2], gfn = s->arg[3];
	uint32_t owner;
	struct hl_s2page p;

	LOCK(HL_SMMU_ID);
	owner = bank_owner(s, index, cbndx);
	if (owner == HL_INVALID || !is_vm(owner))
		return HL_OK;
	LOCK(HL_INFO_OBJ(owner));
	LOCK_S2P(pfn, 1);
	LOCK(npt_host_obj(s, pfn * PG));
	if (info_of(s, owner)->state == HL_VM_VERIFIED)
		return hl_step_halt(s, 2, HL_SMMU_ID, HL_INFO_OBJ(owner));
	p = hl_s2page_get(s->st, pfn);
	if (p.owner == HL_HOSTVISOR) {
		if (p.count != 0)
			return hl_step_halt(s, 3, HL_SMMU_ID, HL_INFO_OBJ(owner), HL_S2PAGE_ID);
		if (p.dma != 0)
			return HL_E_DENIED;
		if (!HL_FI(SMMU_NO_UNMAP) && host_unmap(s, pfn))
			return hl_step_halt(s, 4, HL_SMMU_ID, HL_INFO_OBJ(owner), HL_S2PAGE_ID,
					    HL_NPT_OBJ(HL_HOSTVISOR));
		s2p_store(s, pfn, owner, HL_INVALID, gfn);
		return HL_OK;
	}
	if (p.owner == owner)
		return HL_OK;
	return hl_step_halt(s, 3, HL_SMMU_ID, HL_INFO_OBJ(owner), HL_S2PAGE_ID);
}

/*
 * OSMMU_MAP cbndx index iova pte   locks: smmu -> vminfo(owner) -> s2page[pte's pfn] -> spt
 *   bank free => no change
 *   owner a VERIFIED VM => halt{smmu, vminfo}
 *   s2page[pfn].owner != owner or gfn mismatch => halt{smmu, vminfo, s2page}
 *   iova already mapped in this bank => DENIED (§12: the seed overwrites the entry and
 *       leaves the old page's count and dma too high)
 *   host page with count >= EL2_SMMU_CFG_SIZE => DENIED (§12: counts stay exact; C caps
 *       the count silently and maps anyway)
 *   otherwise spt maps iova -> pte; s2page[pfn].dma + 1; host page: count + 1
 *       pool exhausted => halt{smmu, vminfo, s2page, spt}
 * gfn match: iova/4K == s2page gfn for VM banks; for host banks iova/4K + SMMU_HOST_OFFSET
 * == gfn (deviation: the 40-bit SMMU input cannot hold pfn + 10^9; host DMA is identity).
 */
static int tr_smmu_map(struct hl_step *s)
{
	uint64_t cbndx = s->arg[0], index = s->arg[1], iova = s->arg[2], pte = s->arg[3];
	uint64_t pfn = phys_page(pte) / PG, gfn = iova / PG;
	uint32_t owner;
	struct hl_s2page p;
	struct hl_pt_entry e;

	LOCK(HL_SMMU_ID);
	owner = bank_owner(s, index, cbndx);
	if (owner == HL_INVALID)
		return HL_OK;
	LOCK(HL_INFO_OBJ(owner));
	if (HL_FI(SMMU_LOCK_ORDER))
		LOCK(HL_SPT_ID);   /* fault: spt before s2page */
	LOCK_S2P(pfn, 1);
	LOCK(HL_SPT_ID);
	if (is_vm(owner) && info_of(s, owner)->state == HL_VM_VERIFIED)
		return hl_step_halt(s, 2, HL_SMMU_ID, HL_INFO_OBJ(owner));
	p = hl_s2page_get(s->st, pfn);
	if (owner == HL_HOSTVISOR)
		gfn += HL_SMMU_HOST_OFFSET;
	if (!(p.owner == owner && p.gfn == gfn) && !HL_FI(SMMU_MAP_ANY_OWNER))
		return hl_step_halt(s, 3, HL_SMMU_ID, HL_INFO_OBJ(owner), HL_S2PAGE_ID);
	hl_spt_walk(s->st->spt, HL_SMMU_ID_OF(index, cbndx), iova, &e);
	if (e.pte != 0 && !HL_FI(SMMU_MAP_OVER))
		return HL_E_DENIED;
	if (p.owner == HL_HOSTVISOR && p.count >= HL_SMMU_CFG_SIZE)
		return HL_E_DENIED;
	if (hl_spt_map(&s->w, s->st->spt, HL_SMMU_ID_OF(index, cbndx), iova, pte))
		return hl_step_halt(s, 4, HL_SMMU_ID, HL_INFO_OBJ(owner), HL_S2PAGE_ID, HL_SPT_ID);
	if (p.owner == HL_HOSTVISOR && !HL_FI(SMMU_NO_COUNT))
		s2p_store(s, pfn, p.owner, p.count + 1, p.gfn);
	s2p_dma(s, pfn, p.dma + 1);
	return HL_OK;
}

/*
 * OSMMU_CLEAR iova cbndx index   locks: smmu -> vminfo(owner) -> s2page (every shard) -> spt
 *   bank free => no change
 *   owner a VERIFIED VM => halt{smmu, vminfo}
 *   entry absent => no change
 *   entry present => entry := 0; pfn0 = phys_page(pte)/4K: s2page[pfn0].dma - 1; and
 *       count - 1 only when the bank is the host's, the page is the host's and count > 0
 *       (§12: the seed lowers a host page's count for any bank's entry, so a stale VM-bank
 *       entry could lower the count of a page the host's own bank still maps)
 *       (pool exhaustion cannot happen: the tables exist)
 */
static int tr_smmu_clear(struct hl_step *s)
{
	uint64_t iova = s->arg[0], cbndx = s->arg[1], index = s->arg[2];
	unsigned bank = HL_SMMU_ID_OF(index, cbndx);
	uint32_t owner;
	struct hl_pt_entry e;
	uint64_t pfn0;

	LOCK(HL_SMMU_ID);
	owner = bank_owner(s, index, cbndx);
	if (owner == HL_INVALID)
		return HL_OK;
	LOCK(HL_INFO_OBJ(owner));
	LOCK_S2P_ALL();   /* the entry's page is known only from spt, locked after s2page */
	LOCK(HL_SPT_ID);
	if (is_vm(owner) && info_of(s, owner)->state == HL_VM_VERIFIED && !HL_FI(SMMU_CLEAR_VERIFIED))
		return hl_step_halt(s, 2, HL_SMMU_ID, HL_INFO_OBJ(owner));
	hl_spt_walk(s->st->spt, bank, iova, &e);
	if (e.pte == 0)
		return HL_OK;
	if (hl_spt_map(&s->w, s->st->spt, bank, iova, 0))
		return hl_step_halt(s, 4, HL_SMMU_ID, HL_INFO_OBJ(owner), HL_S2PAGE_ID, HL_SPT_ID);
	pfn0 = phys_page(e.pte) / PG;
	smmu_unref(s, owner, pfn0);
	return HL_OK;
}


int hl_trans_exec(struct hl_step *s)
{
	if (!hl_trans_valid(s->event, s->arg))
		return HL_E_INVAL;
	switch (s->event) {
	case HL_EV_MAP_HOST: return tr_map_host(s);
	case HL_EV_CLEAR_VM: return tr_clear_vm(s);
	case HL_EV_ASSIGN_VM: return tr_assign_vm(s);
	case HL_EV_MAP_VM: return tr_map_vm(s);
	case HL_EV_MAP_IO: return tr_map_io(s);
	case HL_EV_GRANT: return tr_grant(s);
	case HL_EV_REVOKE: return tr_revoke(s);
	case HL_EV_GEN_VMID: return tr_gen_vmid(s);
	case HL_EV_REG_KVM: return tr_reg_kvm(s);
	case HL_EV_REG_VCPU: return tr_reg_vcpu(s);
	case HL_EV_VM_ACTIVE: return tr_vm_active(s);
	case HL_EV_VM_INACTIVE: return tr_vm_inactive(s);
	case HL_EV_VM_POWEROFF: return tr_vm_poweroff(s);
	case HL_EV_BOOT_INFO: return tr_boot_info(s);
	case HL_EV_REMAP_IMAGE: return tr_remap_image(s);
	case HL_EV_VERIFY: return tr_verify_final(s);
	case HL_EV_SMMU_ALLOC: return tr_smmu_alloc(s);
	case HL_EV_SMMU_FREE: return tr_smmu_free(s);
	case HL_EV_ASSIGN_SMMU: return tr_assign_smmu(s);
	case HL_EV_SMMU_MAP: return tr_smmu_map(s);
	case HL_EV_SMMU_CLEAR: return tr_smmu_clear(s);
	default: return HL_E_INVAL;
	}
}

/* ===================================================================================== */
/* argument validation, shared by the live entry points and replay (a log file is input) */

#define PFN_SPACE (HL_PHYS_SIZE / PG)
#define GFN_SPACE (HL_ADDR_SPACE / PG)
#define RAM_END (HL_RAM_BASE + HL_RAM_SIZE)

/* SPEC §8/§17: a bank index past that SMMU's own banks (SMMU 1 has HL_SMMU_NUM_CB / 2) is
 * out of range for every SMMU call, refused like any other bad index */
static bool bank_ok(uint64_t cbndx, uint64_t index)
{
	return index < HL_SMMU_NUM && cbndx < hl_smmu_num_banks((unsigned)index);
}

static bool vcpu_ok(uint64_t vmid, uint64_t vcpuid)
{
	return is_vm(vmid) && vcpuid < HL_VCPU_PER_VM;
}

bool hl_trans_valid(unsigned ev, const uint64_t *a)
{
	switch (ev) {
	case HL_EV_MAP_HOST:
		/* Deviation (README, issue 12): the seed maps every non-RAM PA for the host as a
		 * device page; here only a PA below RAM's base is the host's MMIO. From RAM's end
		 * up there is no memory to map (on the EL2 Linux image s2page is all of QEMU's
		 * RAM), so such a PA is malformed: refused, nothing changed (test_kcore_mem) */
		return a[0] < RAM_END || (a[0] < RAM_END + PG && HL_FI(MAP_HOST_END));
	case HL_EV_CLEAR_VM:
	case HL_EV_GRANT:
	case HL_EV_REVOKE:
		return is_vm(a[0]) && a[1] < PFN_SPACE;
	case HL_EV_ASSIGN_VM:
		return is_vm(a[0]) && a[1] < GFN_SPACE && hl_pfn_is_ram(a[2]);
	case HL_EV_MAP_VM:
		/* a block descriptor holds OA[47:21]: an unaligned block address is malformed */
		return (is_vm(a[0]) || (a[0] == HL_COREVISOR && HL_FI(VMID_END))) && a[1] < HL_ADDR_SPACE &&
		       (a[3] == 2 || a[3] == 3) &&
		       phys_page(a[2]) < HL_PHYS_SIZE &&
		       (a[3] != 2 || (phys_page(a[2]) & (HL_PMD_SIZE - 1)) == 0);
	case HL_EV_MAP_IO:
		/* SPEC §16: KCore's emulated SMMU windows never go to a VM */
		return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && a[2] < RAM_END &&
		       !(a[2] >= HL_SMMU_MMIO_BASE && a[2] < HL_SMMU_MMIO_BASE + HL_SMMU_NUM * HL_SMMU_MMIO_SIZE);
	case HL_EV_GEN_VMID:
		return true;
	case HL_EV_REG_KVM:
		return is_vm(a[0]) && a[2] < HL_MAX_KEYS;
	case HL_EV_VM_POWEROFF:
	case HL_EV_VERIFY:
	case HL_EV_VM_GET:
		return is_vm(a[0]);
	case HL_EV_REG_VCPU:
	case HL_EV_VM_ACTIVE:
	case HL_EV_VM_INACTIVE:
		return vcpu_ok(a[0], a[1]);
	case HL_EV_BOOT_INFO:
		/* images load as 2 MiB blocks: an unaligned load address is malformed */
		/* SPEC §17: an image whose pages could never fit in the whole remap window is
		 * bad input (HL_E_INVAL), not the seed's "window full" halt, which stays for a
		 * window that the images before it filled */
		/* SPEC §17 (H10): size 0 is bad input (the seed halts on pgnum == 0), and so is
		 * an image running past the 2^48 IPA space (VERIFY would load the chunks below
		 * 2^48 and then fail: a refused call that changed state, SPEC §14) */
		return is_vm(a[0]) && a[1] < HL_ADDR_SPACE && (a[1] & (HL_PMD_SIZE - 1)) == 0 &&
		       a[2] != 0 && a[2] <= HL_ADDR_SPACE - a[1] &&
		       a[2] < HL_REMAP_END - HL_REMAP_START &&
		       (a[2] + PG - 1) / PG * PG < HL_REMAP_END - HL_REMAP_START;
	case HL_EV_REMAP_IMAGE:
		return is_vm(a[0]) && hl_pfn_is_ram(a[1]) && a[2] < HL_MAX_LOAD_INFO;
	case HL_EV_SMMU_ALLOC:
		/* num (a[3]) is the engine's own bank count of that SMMU: any other value is a
		 * forged record */
		return bank_ok(a[0], a[2]) && a[1] <= HL_MAX_VM && a[3] == hl_smmu_num_banks((unsigned)a[2]);
	case HL_EV_SMMU_FREE:
		return bank_ok(a[0], a[1]);
	case HL_EV_ASSIGN_SMMU:
		return bank_ok(a[0], a[1]) && hl_pfn_is_ram(a[2]) && a[3] < GFN_SPACE;
	case HL_EV_SMMU_MAP:
		return bank_ok(a[0], a[1]) && a[2] < HL_SMMU_IPA_SIZE && (a[2] & (PG - 1)) == 0 &&
		       phys_page(a[3]) < HL_PHYS_SIZE;
	case HL_EV_SMMU_CLEAR:
	case HL_EV_SMMU_GET:
		return bank_ok(a[1], a[2]) && a[0] < HL_SMMU_IPA_SIZE;
	default:
		return false;
	}
}

/* ===================================================================================== */
/* live entry points: validate, then run the transition as one step                        */

static int run(struct hl_engine *e, int cpu, unsigned ev, uint64_t a0, uint64_t a1, uint64_t a2,
	       uint64_t a3, int (*tr)(struct hl_step *), uint64_t *ret)
{
	const uint64_t a[4] = { a0, a1, a2, a3 };
	struct hl_step s;
	int rc;

	if (!hl_trans_valid(ev, a))
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, ev);
	if (rc)
		return rc;
	memcpy(s.arg, a, sizeof(a));
	rc = tr(&s);
	if (ret)
		*ret = s.ret;
	return hl_step_end(&s, rc);
}

int hl_map_host(struct hl_engine *e, int cpu, hl_pa_t addr)
{
	return run(e, cpu, HL_EV_MAP_HOST, addr.v, 0, 0, 0, tr_map_host, NULL);
}

int hl_clear_vm_page(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn)
{
	return run(e, cpu, HL_EV_CLEAR_VM, vmid, pfn, 0, 0, tr_clear_vm, NULL);
}

int hl_assign_pfn_to_vm(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t gfn, uint64_t pfn)
{
	return run(e, cpu, HL_EV_ASSIGN_VM, vmid, gfn, pfn, 0, tr_assign_vm, NULL);
}

int hl_map_pfn_vm(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t addr, uint64_t pte,
		  unsigned level)
{
	return run(e, cpu, HL_EV_MAP_VM, vmid, addr.v, pte, level, tr_map_vm, NULL);
}

int hl_map_vm_io(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t gpa, hl_pa_t pa)
{
	return run(e, cpu, HL_EV_MAP_IO, vmid, gpa.v, pa.v, 0, tr_map_io, NULL);
}

int hl_grant_vm_page(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn)
{
	return run(e, cpu, HL_EV_GRANT, vmid, pfn, 0, 0, tr_grant, NULL);
}

int hl_revoke_vm_page(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn)
{
	return run(e, cpu, HL_EV_REVOKE, vmid, pfn, 0, 0, tr_revoke, NULL);
}

int hl_register_kvm(struct hl_engine *e, int cpu, uint64_t kvm, uint32_t key_idx,
		    uint32_t *vmid_out)
{
	struct hl_step s;
	uint64_t vmid;
	int rc;

	/* host input: a key KCore does not hold is refused before OGEN_VMID (nothing changes) */
	if (key_idx >= e->cfg.nkeys)
		return HL_E_INVAL;
	rc = run(e, cpu, HL_EV_GEN_VMID, 0, 0, 0, 0, tr_gen_vmid, &vmid);
	if (rc != HL_OK)
		return rc;
	/* §9.6: the second step runs on the state after gen_vmid */
	rc = hl_step_begin(&s, e, cpu, HL_EV_REG_KVM);
	if (rc)
		return rc;
	s.arg[0] = vmid;
	s.arg[1] = kvm;
	s.arg[2] = key_idx;
	s.ret = vmid;
	rc = hl_step_end(&s, tr_reg_kvm(&s));
	if (vmid_out)
		*vmid_out = (uint32_t)vmid;
	return rc;
}

int hl_register_vcpu(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid, uint64_t vcpu)
{
	return run(e, cpu, HL_EV_REG_VCPU, vmid, vcpuid, vcpu, 0, tr_reg_vcpu, NULL);
}

int hl_set_vcpu_active(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid)
{
	return run(e, cpu, HL_EV_VM_ACTIVE, vmid, vcpuid, 0, 0, tr_vm_active, NULL);
}

int hl_set_vcpu_inactive(struct hl_engine *e, int cpu, uint32_t vmid, uint32_t vcpuid)
{
	return run(e, cpu, HL_EV_VM_INACTIVE, vmid, vcpuid, 0, 0, tr_vm_inactive, NULL);
}

int hl_set_vm_poweroff(struct hl_engine *e, int cpu, uint32_t vmid)
{
	return run(e, cpu, HL_EV_VM_POWEROFF, vmid, 0, 0, 0, tr_vm_poweroff, NULL);
}

int hl_set_boot_info(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t load_addr, uint64_t size,
		     const uint8_t sig[64], uint32_t *load_idx_out)
{
	const uint64_t a[4] = { vmid, load_addr.v, size, 0 };
	struct hl_step s;
	int rc;

	if (!sig || !hl_trans_valid(HL_EV_BOOT_INFO, a))
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_BOOT_INFO);
	if (rc)
		return rc;
	memcpy(s.arg, a, sizeof(a));
	memcpy(s.blob, sig, 64);
	s.blob_len = 64;
	rc = tr_boot_info(&s);
	if (load_idx_out)
		*load_idx_out = (uint32_t)s.ret;
	return hl_step_end(&s, rc);
}

int hl_remap_vm_image(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t pfn, uint32_t load_idx)
{
	return run(e, cpu, HL_EV_REMAP_IMAGE, vmid, pfn, load_idx, 0, tr_remap_image, NULL);
}

/* ---- verify_and_load_images ----------------------------------------------------------- */

/* the host frame the COREVISOR table maps at `va`, or 0; takes npt(COREVISOR) briefly */
static int core_walk(struct hl_step *parent, uint64_t va, uint64_t *pfn)
{
	struct hl_engine *e = parent->e;
	struct hl_step s;
	struct hl_pt_entry ent;
	int rc = hl_step_begin(&s, e, parent->cpu, HL_EV_NONE);

	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_NPT_OBJ(HL_COREVISOR));
	if (rc == 0) {
		hl_npt_walk(e->st->npt[HL_COREVISOR], va, &ent);
		*pfn = ent.level == 3 ? ent.pfn : 0;
	}
	return hl_step_end(&s, rc);
}

/*
 * Every 2 MiB chunk of every image must start at a remapped, 2 MiB-aligned RAM frame, and
 * every further page of the chunk must be remapped from the frame that follows in order:
 * the chunk is loaded as frames pfn .. pfn + 511, so the bytes the signature check reads
 * through the remap window must be the bytes of exactly those frames.
 */
/*
 * SPEC §13/§14 for verify's loads: where chunk `addr` goes in the VM's table. *same = the
 * VM has exactly this block there already (a VERIFY retried after a failed signature:
 * nothing to map again); *ok = false if anything else is there (OMAP_VM would refuse the
 * block after its 512 pages moved). Takes npt(vmid) briefly, inside vminfo(vmid).
 */
static int vm_chunk_slot(struct hl_step *parent, uint32_t vmid, uint64_t addr, uint64_t pfn, bool *same,
			 bool *ok)
{
	struct hl_engine *e = parent->e;
	struct hl_step s;
	struct hl_pt_entry ent;
	int rc = hl_step_begin(&s, e, parent->cpu, HL_EV_NONE);

	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_NPT_OBJ(vmid));
	if (rc == 0) {
		hl_npt_walk(e->st->npt[vmid], addr, &ent);
		*same = ent.level == 2 && phys_page(ent.pte) == pfn * PG;
		if (!*same && !hl_npt_slot_free(e->st->npt[vmid], addr, 2))
			*ok = false;
	}
	return hl_step_end(&s, rc);
}

static bool assignable(const struct hl_s2page *p, uint32_t vmid, uint64_t gfn);

/*
 * SPEC §14 for verify's loads (H10): every page of chunk `pfn` .. pfn + 511 must be one
 * OASSIGN_VM(vmid, gfn + i, pfn + i) takes without halting or refusing (a host page with
 * count 0 and dma 0, or the VM's own with that gfn or none), checked before any page of
 * any chunk moves. The seed moved the chunks before it, then halted on such a page (a
 * frame another VM owns, one the host's SMMU bank maps) holding s2page. Read-only step
 * under s2page, inside vminfo(vmid); the host changing a page from another CPU in between
 * races itself (the per-page step still refuses or halts as the seed does).
 */
static int chunk_assignable(struct hl_step *parent, uint32_t vmid, uint64_t gfn, uint64_t pfn, bool *ok)
{
	struct hl_engine *e = parent->e;
	struct hl_step s;
	int rc = hl_step_begin(&s, e, parent->cpu, HL_EV_NONE);

	if (rc)
		return rc;
	rc = hl_step_lock_s2p(&s, pfn, 512);   /* the chunk's shards, ascending */
	for (unsigned i = 0; rc == 0 && i < 512 && *ok; i++) {
		struct hl_s2page p = hl_s2page_get(e->st, pfn + i);
		if (!assignable(&p, vmid, gfn + i))
			*ok = false;
	}
	return hl_step_end(&s, rc);
}

static int images_loadable(struct hl_step *s, struct hl_vminfo *vi, bool *ok)
{
	/* every chunk's frame (H10): one frame loaded at two guest addresses would give one
	 * page two gfns, and OASSIGN_VM halts on the second after the first moved */
	uint64_t frames[(HL_REMAP_END - HL_REMAP_START) / HL_PMD_SIZE + HL_MAX_LOAD_INFO];
	unsigned nframes = 0;

	*ok = true;
	for (uint32_t i = 0; i < vi->next_load_info && *ok; i++) {
		struct hl_load_info *li = &vi->load[i];
		uint64_t base = 0;
		for (uint64_t off = 0; off < li->size && *ok; off += PG) {
			uint64_t pfn = 0;
			int rc = core_walk(s, li->remap_addr + off, &pfn);
			if (rc)
				return rc;
			if (off % HL_PMD_SIZE == 0) {
				bool same = false;
				base = pfn;
				if (!pfn || (pfn & 511) || !hl_pfn_is_ram(pfn) || !hl_pfn_is_ram(pfn + 511))
					*ok = false;
				for (unsigned f = 0; f < nframes && *ok; f++)
					if (frames[f] == pfn)
						*ok = false;
				if (*ok && nframes < sizeof(frames) / sizeof(frames[0]))
					frames[nframes++] = pfn;
				else
					*ok = false;
				if (*ok && (rc = chunk_assignable(s, (uint32_t)s->arg[0], (li->load_addr + off) / PG,
								  pfn, ok)) != 0)
					return rc;
				/* §13: two chunks never share a 2 MiB region, and the region is free
				 * (or holds this very block) in the VM's table */
				for (uint32_t j = 0; j < i && *ok; j++)
					if (li->load_addr + off >= vi->load[j].load_addr &&
					    li->load_addr + off < vi->load[j].load_addr + vi->load[j].size)
						*ok = false;
				if (*ok && (rc = vm_chunk_slot(s, (uint32_t)s->arg[0], li->load_addr + off, pfn,
							       &same, ok)) != 0)
					return rc;
			} else if (pfn != base + (off % HL_PMD_SIZE) / PG) {
				*ok = false;
			}
		}
	}
	return 0;
}

/*
 * Image verification (SPEC §11): for each image i, digest_i = BLAKE2b-256 of its bytes, read
 * live from RAM through KCore's remap window (libsodium crypto_generichash, no key), then
 * Ed25519-verify load[i].signature over digest_i with KCore's own key kcore_keys[key_idx]
 * (never a host-supplied key). The digests go into OVERIFY's record (blob = digest_0 ..
 * digest_{n-1}, 32 bytes each) so that an independent model recomputes the verdict from
 * the log and the file header's keys instead of trusting dorc. *ok is the verdict.
 */
static int images_verify(struct hl_step *s, struct hl_vminfo *vi, bool *ok)
{
	const uint8_t *key;
	bool all = true;

	static_assert(HL_MAX_LOAD_INFO * 32u <= HL_BLOB_MAX, "OVERIFY's blob holds every image digest");
	*ok = false;
	if (sodium_init() < 0 || vi->next_load_info > HL_MAX_LOAD_INFO)
		return 0;
	if (vi->key_idx >= s->e->cfg.nkeys)
		abort();   /* invariant: hl_register_kvm stores only indexes < nkeys (immutable) */
	key = s->e->cfg.kcore_keys[vi->key_idx];
	for (uint32_t i = 0; i < vi->next_load_info; i++) {
		struct hl_load_info *li = &vi->load[i];
		uint8_t *digest = s->blob + 32u * i;
		crypto_generichash_state h;

		crypto_generichash_init(&h, NULL, 0, 32);
		for (uint64_t off = 0; off < li->size; off += PG) {
			uint64_t pfn = 0;
			int rc = core_walk(s, li->remap_addr + off, &pfn);
			if (rc)
				return rc;
			uint8_t *page = hl_ram_page(s->e, pfn);
			uint64_t n = li->size - off < PG ? li->size - off : PG;
			if (!page)
				return 0;   /* no page memory behind the frame: not verified */
			crypto_generichash_update(&h, page, n);
		}
		crypto_generichash_final(&h, digest, 32);
		s->blob_len = 32u * (i + 1);
		if (crypto_sign_verify_detached(li->signature, digest, 32, key) != 0 && !HL_FI(VERIFY_NO_SIG))
			all = false;
	}
	*ok = all;
	return 0;
}

/*
 * verify_and_load_images: under vminfo(vmid) for the whole load (as C), each 2 MiB chunk
 * becomes 512 OASSIGN_VM steps and one level-2 OMAP_VM step (their own operations), then
 * every image signature is checked, then OVERIFY. A chunk whose frame is missing or not
 * 2 MiB-aligned makes the image unloadable: nothing is loaded and the VM stays READY.
 */
int hl_verify_vm_image(struct hl_engine *e, int cpu, uint32_t vmid, int *verified_out)
{
	struct hl_step s;
	struct hl_vminfo *vi;
	bool ok = false;
	int rc;

	if (verified_out)
		*verified_out = 0;
	if (!is_vm(vmid))
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_VERIFY);
	if (rc)
		return rc;
	s.arg[0] = vmid;
	rc = hl_step_lock(&s, HL_INFO_OBJ(vmid));
	if (rc)
		return hl_step_end(&s, rc);
	vi = e->st->info[vmid];
	if (vi->state == HL_VM_READY) {
		rc = images_loadable(&s, vi, &ok);
		for (uint32_t i = 0; rc == 0 && ok && i < vi->next_load_info; i++) {
			struct hl_load_info *li = &vi->load[i];
			for (uint64_t off = 0; rc == 0 && off < li->size; off += HL_PMD_SIZE) {
				uint64_t pfn = 0, gfn = (li->load_addr + off) / PG;
				bool same = false, free_ok = true;
				rc = core_walk(&s, li->remap_addr + off, &pfn);
				for (unsigned j = 0; rc == 0 && j < 512; j++)
					rc = hl_assign_pfn_to_vm(e, cpu, vmid, gfn + j, pfn + j);
				/* the block is there already (a retried VERIFY): mapped once (§13) */
				if (rc == 0)
					rc = vm_chunk_slot(&s, vmid, li->load_addr + off, pfn, &same, &free_ok);
				if (rc == 0 && !same)
					rc = hl_map_pfn_vm(e, cpu, vmid, hl_ipa(li->load_addr + off),
							   pfn * PG, 2);
			}
		}
		if (rc == HL_HALT) {
			/* a load step halted this CPU inside the VM's critical section; the record
			 * carries that, so CalStateH re-executes the same halt */
			s.dorc = VERIFY_LOAD_HALTED;
			return hl_step_end(&s, tr_verify_final(&s));
		}
		if (rc < 0)
			return hl_step_end(&s, rc);   /* stranded / no log room: nothing more */
		if (ok)
			rc = images_verify(&s, vi, &ok);
		if (rc < 0)
			return hl_step_end(&s, rc);
	}
	s.dorc = ok ? VERIFY_OK : 0;
	rc = tr_verify_final(&s);
	if (verified_out)
		*verified_out = rc == HL_OK && ok;
	return hl_step_end(&s, rc);
}

/* ---- SMMU entry points ------------------------------------------------------------------ */
int hl_smmu_alloc_pgd(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t vmid, uint32_t index)
{
	return run(e, cpu, HL_EV_SMMU_ALLOC, cbndx, vmid, index, hl_smmu_num_banks(index),
		   tr_smmu_alloc, NULL);
}

int hl_smmu_free_pgd(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t index)
{
	return run(e, cpu, HL_EV_SMMU_FREE, cbndx, index, 0, 0, tr_smmu_free, NULL);
}

int hl_smmu_assign_page(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t index, uint64_t pfn,
			uint64_t gfn)
{
	return run(e, cpu, HL_EV_ASSIGN_SMMU, cbndx, index, pfn, gfn, tr_assign_smmu, NULL);
}

int hl_smmu_map_page(struct hl_engine *e, int cpu, uint32_t cbndx, uint32_t index, hl_iova_t iova,
		     uint64_t pte)
{
	return run(e, cpu, HL_EV_SMMU_MAP, cbndx, index, iova.v, pte, tr_smmu_map, NULL);
}

int hl_smmu_clear(struct hl_engine *e, int cpu, hl_iova_t iova, uint32_t cbndx, uint32_t index)
{
	return run(e, cpu, HL_EV_SMMU_CLEAR, iova.v, cbndx, index, 0, tr_smmu_clear, NULL);
}

int hl_smmu_iova_to_phys(struct hl_engine *e, int cpu, hl_iova_t iova, uint32_t cbndx,
			 uint32_t index, uint64_t *pa_out)
{
	struct hl_step s;
	struct hl_pt_entry ent;
	int rc;

	const uint64_t a[4] = { iova.v, cbndx, index, 0 };

	if (!pa_out || !hl_trans_valid(HL_EV_SMMU_GET, a))
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_SMMU_GET);
	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_SPT_ID);
	if (rc == 0) {
		hl_spt_walk(e->st->spt, HL_SMMU_ID_OF(index, cbndx), iova.v, &ent);
		*pa_out = phys_page(ent.pte) + (iova.v & 0xFFF);
	}
	return hl_step_end(&s, rc);
}

int hl_search_load_info(struct hl_engine *e, int cpu, uint32_t vmid, hl_ipa_t addr,
			uint64_t *remap_out)
{
	struct hl_step s;
	struct hl_vminfo *vi;
	int rc;

	if (!is_vm(vmid) || !remap_out)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_VM_GET);
	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_INFO_OBJ(vmid));
	if (rc == 0) {
		/* search_load_info_loop_h: the last matching image wins */
		vi = e->st->info[vmid];
		*remap_out = 0;
		for (uint32_t i = 0; i < vi->next_load_info && i < HL_MAX_LOAD_INFO; i++) {
			struct hl_load_info *li = &vi->load[i];
			if (addr.v >= li->load_addr && addr.v < li->load_addr + li->size)
				*remap_out = addr.v - li->load_addr + li->remap_addr;
		}
	}
	return hl_step_end(&s, rc);
}

/* ---- read-only probes and the guest fault answer (SPEC §12-§14) ------------------------ */

int hl_page_get(struct hl_engine *e, int cpu, uint64_t pfn, struct hl_s2page *out)
{
	struct hl_step s;
	int rc;

	if (!out || pfn >= PFN_SPACE)
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_NONE);
	if (rc)
		return rc;
	rc = hl_step_lock_s2p(&s, pfn, 1);
	if (rc == 0)
		*out = hl_s2page_get(e->st, pfn);
	return hl_step_end(&s, rc);
}

/* would OASSIGN_VM(vmid, gfn, pfn) take a branch that neither halts nor is DENIED? */
static bool assignable(const struct hl_s2page *p, uint32_t vmid, uint64_t gfn)
{
	if (p->owner == HL_HOSTVISOR)
		return p->count == 0 && p->dma == 0;
	return p->owner == vmid && (p->gfn == gfn || p->gfn == HL_INVALID64);
}

/* the prepare half: a read-only step under s2page (the shards of the pages) -> npt(vmid);
 * nothing is appended */
static int fault_answer_check(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t addr, uint64_t pfn,
			      unsigned level)
{
	uint64_t n = level == 2 ? 512 : 1, gfn = addr / PG / n * n;
	struct hl_step s;
	int rc = hl_step_begin(&s, e, cpu, HL_EV_NONE);

	if (rc)
		return rc;
	rc = hl_step_lock_s2p(&s, pfn, n);
	if (rc == 0)
		rc = hl_step_lock(&s, HL_NPT_OBJ(vmid));
	if (rc == 0 && !hl_npt_slot_free(e->st->npt[vmid], addr, level) && !HL_FI(VM_MAP_OVER))
		rc = HL_E_DENIED;
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		struct hl_s2page p = hl_s2page_get(e->st, pfn + i);
		if (!assignable(&p, vmid, gfn + i))
			rc = HL_E_DENIED;
	}
	return hl_step_end(&s, rc);
}

int hl_vm_fault_answer(struct hl_engine *e, int cpu, uint32_t vmid, uint64_t addr, uint64_t pte,
		       uint64_t level)
{
	uint64_t pfn = phys_page(pte) / PG;
	unsigned lvl = level == 2 ? 2 : 3;   /* C: anything but 2 is a page */
	struct hl_step s;
	int rc;

	/* prepare, part 1: the shape of the answer (malformed => HL_E_INVAL) */
	if (!is_vm(vmid) || addr >= HL_ADDR_SPACE || !hl_pfn_is_ram(pfn))
		return HL_E_INVAL;
	if (lvl == 2 && ((pfn & 511) || !hl_pfn_is_ram(pfn + 511)))
		return HL_E_INVAL;
	rc = hl_step_begin(&s, e, cpu, HL_EV_NONE);
	if (rc)
		return rc;
	rc = hl_step_lock(&s, HL_INFO_OBJ(vmid));
	/* prepare, part 2, under the VM's lock: the slot is free, every page can move */
	if (rc == 0)
		rc = fault_answer_check(e, cpu, vmid, addr, pfn, lvl);
	/* commit: the seed's steps, each its own operation */
	if (lvl == 2) {
		uint64_t gfn = addr / PG / 512 * 512;
		for (unsigned i = 0; rc == 0 && i < 512; i++)
			rc = hl_assign_pfn_to_vm(e, cpu, vmid, gfn + i, pfn + i);
	} else if (rc == 0) {
		rc = hl_assign_pfn_to_vm(e, cpu, vmid, addr / PG, pfn);
	}
	if (rc == 0)
		rc = hl_map_pfn_vm(e, cpu, vmid, hl_ipa(addr), pte, lvl);
	return hl_step_end(&s, rc);
}
